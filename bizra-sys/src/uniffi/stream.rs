//! The machinery behind every event stream of a node (`NodeEvents`, `ConsensusEvents`): one
//! helper thread per subscription moves the core's events (a `bizra_core::Subscription<T>`) into
//! a small feed, from which `poll` (a condition variable) and `next` (a waker, no Rust runtime)
//! read. The foreign executor's threads never block, and an unread subscription costs only the
//! core's bounded backlog (the core drops, and counts, what overflows it). Each exported stream
//! object wraps one [`Stream`] and converts the core's events on the helper thread.

use std::collections::VecDeque;
use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError, Weak};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use bizra_core::{RecvError, Subscription};

use super::BizraError;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Events the helper thread has read from the core and no reader has taken yet. Small: the
/// core's per-subscriber backlog is where an unread stream waits.
const FEED_ROOM: usize = 64;

/// How often the helper thread looks whether its stream was closed.
const TICK: Duration = Duration::from_millis(100);

/// What a subscription's helper thread hands to its readers.
struct Feed<E> {
    state: Mutex<FeedState<E>>,
    /// Signalled at every change: an event or the end arrived (for `poll`), or an event was
    /// taken (room for the helper thread).
    changed: Condvar,
}

struct FeedState<E> {
    queue: VecDeque<E>,
    /// The node stopped and the helper thread has queued its last event.
    ended: bool,
    /// Readers (`next()` futures) waiting for the next event.
    wakers: Vec<Waker>,
}

impl<E> Feed<E> {
    fn new() -> Self {
        Feed {
            state: Mutex::new(FeedState {
                queue: VecDeque::new(),
                ended: false,
                wakers: Vec::new(),
            }),
            changed: Condvar::new(),
        }
    }

    /// Changes the feed and wakes every waiting reader.
    fn update(&self, change: impl FnOnce(&mut FeedState<E>)) {
        let wakers = {
            let mut s = lock(&self.state);
            change(&mut s);
            std::mem::take(&mut s.wakers)
        };
        self.changed.notify_all();
        wakers.into_iter().for_each(Waker::wake);
    }

    /// The next event if one is queued (making room for the helper thread).
    fn take(&self, s: &mut FeedState<E>) -> Option<E> {
        let e = s.queue.pop_front()?;
        self.changed.notify_all();
        Some(e)
    }
}

/// The helper thread of a subscription: moves the core's events into the feed until the node
/// stops (then marks the feed ended) or every [`Stream`] and `next()` holding the feed is gone
/// (then drops the subscription, which the core forgets).
fn pump<T, E: From<T>>(sub: &Subscription<T>, feed: &Weak<Feed<E>>) {
    loop {
        {
            let Some(f) = feed.upgrade() else { return };
            let mut s = lock(&f.state);
            while s.queue.len() >= FEED_ROOM {
                if Arc::strong_count(&f) == 1 {
                    return; // only this thread still holds it
                }
                s = f
                    .changed
                    .wait_timeout(s, TICK)
                    .unwrap_or_else(PoisonError::into_inner)
                    .0;
            }
        }
        let next = sub.next_timeout(TICK);
        let Some(f) = feed.upgrade() else { return };
        match next {
            Err(RecvError::Timeout) => {}
            Ok(e) => f.update(|s| s.queue.push_back(e.into())),
            Err(RecvError::Ended) => {
                f.update(|s| s.ended = true);
                return;
            }
        }
    }
}

/// One subscriber's events, converted to the bindings' type `E`, in order; each event goes to
/// one reader. Dropping it unsubscribes (its helper thread ends within a tenth of a second).
pub(crate) struct Stream<E> {
    feed: Arc<Feed<E>>,
}

impl<E: Send + 'static> Stream<E> {
    /// Starts the helper thread (named `thread`) that reads `sub`.
    pub(crate) fn start<T: Send + 'static>(
        sub: Subscription<T>,
        thread: &str,
    ) -> Result<Self, BizraError>
    where
        E: From<T>,
    {
        let feed = Arc::new(Feed::new());
        let weak = Arc::downgrade(&feed);
        std::thread::Builder::new()
            .name(thread.into())
            .spawn(move || {
                if catch_unwind(AssertUnwindSafe(|| pump(&sub, &weak))).is_err() {
                    // A reader must never wait for events that cannot come.
                    if let Some(f) = weak.upgrade() {
                        f.update(|s| s.ended = true);
                    }
                }
            })
            .map_err(|e| BizraError::Io {
                detail: format!("cannot start a thread for the node's events ({thread}): {e}"),
            })?;
        Ok(Stream { feed })
    }

    /// The next event, waiting at most `timeout` (blocking the calling thread); `None` when none
    /// came in time or the stream ended.
    pub(crate) fn poll(&self, timeout: Duration) -> Option<E> {
        let deadline = Instant::now().checked_add(timeout);
        let mut s = lock(&self.feed.state);
        loop {
            if let Some(e) = self.feed.take(&mut s) {
                return Some(e);
            }
            if s.ended {
                return None;
            }
            // A timeout too large to add to now waits as long as it takes.
            let left = match deadline {
                Some(d) => d.saturating_duration_since(Instant::now()),
                None => TICK,
            };
            if left.is_zero() {
                return None;
            }
            s = self
                .feed
                .changed
                .wait_timeout(s, left)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }

    /// The next event, suspending until one comes; `None` once the stream ended and every event
    /// was read. Cancelling the waiting future loses no event.
    pub(crate) fn next(&self) -> impl Future<Output = Option<E>> + Send + 'static {
        NextEvent {
            feed: Arc::clone(&self.feed),
        }
    }

    /// Whether the stream is over: the node stopped and every event was read.
    pub(crate) fn is_ended(&self) -> bool {
        let s = lock(&self.feed.state);
        s.ended && s.queue.is_empty()
    }
}

/// One `next()`: ready once the feed has an event or has ended.
struct NextEvent<E> {
    feed: Arc<Feed<E>>,
}

impl<E> Future for NextEvent<E> {
    type Output = Option<E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut s = lock(&self.feed.state);
        if let Some(e) = self.feed.take(&mut s) {
            return Poll::Ready(Some(e));
        }
        if s.ended {
            return Poll::Ready(None);
        }
        if !s.wakers.iter().any(|w| w.will_wake(cx.waker())) {
            s.wakers.push(cx.waker().clone());
        }
        Poll::Pending
    }
}
