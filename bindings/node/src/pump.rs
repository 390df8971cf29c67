//! The core's event streams as async iterators: one helper thread per stream, its pump, hands
//! the events of a core `Subscription` straight to the pending `next()` calls, as the engine's
//! thread hands pieces to a `TokenStream`: the event loop never waits on the node. Membership
//! events (`NodeEvents`) and consensus events (`ConsensusEvents`) are the same machinery over
//! the same core type (`bizra::Subscription<T>`); each stream class is a shell over a [`Pump`].
//!
//! - The pump takes at most [`FEED_ROOM`] events ahead of its reader, so an unread stream leaves
//!   its backlog in the core, which bounds it (and counts what it drops).
//! - A stream ends when its node has ended (after the events sent before), or when its reader
//!   closes it: `close()`, `return()` (what `break` calls), an aborted `AbortSignal`, the end of
//!   a `using` block. A stream collected unclosed unsubscribes once no `next()` of it waits.
//! - Events cross to JavaScript on its thread ([`Pumped::js`]): what they hold becomes
//!   JavaScript values (class instances included) only there.

use std::collections::VecDeque;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread;
use std::time::Duration;

use bizra::{ErrorKind, RecvError, Subscription};
use napi::bindgen_prelude::*;
use napi::Env;

use crate::convert::{IterStep, JsObject};
use crate::errors::{kind_err, napi_err, Result};
use crate::tasks::{deferred, resolved, Abort, Deferred};

/// Events the pump may take from the core ahead of its reader. Small: the core's per-subscriber
/// backlog (bounded, its overflow counted) is where an unread stream waits.
const FEED_ROOM: usize = 64;

/// How long the pump waits on the core at a time, before it looks whether its stream was closed
/// or its node has ended.
const TICK: Duration = Duration::from_millis(100);

/// An event of the core, as it crosses to JavaScript.
pub(crate) trait Pumped: Send + 'static {
    /// What a `next()` resolves to (in `{ value, done }`).
    type Js: ToNapiValue + 'static;
    /// Made on the JavaScript thread.
    fn js(self) -> Self::Js;
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Every critical section leaves its state whole, so a lock poisoned by a panic elsewhere
    // still guards a coherent value.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// One step of a stream: `{ value: event, done: false }`, or the end.
type Step<E> = IterStep<<E as Pumped>::Js>;

/// What a pump hands to its readers.
struct Feed<E: Pumped> {
    state: Mutex<FeedState<E>>,
    /// Signalled when the pump may go on: an event was taken (room), or the stream was closed.
    room: Condvar,
}

struct FeedState<E: Pumped> {
    /// Events no `next()` has taken yet; never non-empty together with `waiters`.
    queue: VecDeque<E>,
    /// `next()` calls waiting for an event or the end, oldest first.
    waiters: VecDeque<Deferred<Step<E>>>,
    /// No event will be added: the node has ended (its last events are queued) or the stream
    /// was closed.
    ended: bool,
    /// The reader is gone (`close()`, `return()`, an aborted signal): what is queued is dropped
    /// and the pump stops.
    closed: bool,
    /// The stream object was collected: the pump stops once no `next()` waits.
    orphaned: bool,
    /// The signal's listener, and a deferred that removes it on the JavaScript thread once the
    /// stream is over (only there may it be touched).
    abort: Option<(Deferred<()>, Abort)>,
}

impl<E: Pumped> Default for Feed<E> {
    fn default() -> Self {
        Feed {
            state: Mutex::new(FeedState {
                queue: VecDeque::new(),
                waiters: VecDeque::new(),
                ended: false,
                closed: false,
                orphaned: false,
                abort: None,
            }),
            room: Condvar::new(),
        }
    }
}

impl<E: Pumped> FeedState<E> {
    /// An event from the pump: to the oldest waiting `next()`, else queued.
    fn push(&mut self, e: E) {
        if self.closed {
            return;
        }
        match self.waiters.pop_front() {
            Some(d) => d.resolve(Box::new(move |_| Ok(IterStep::Item(e.js())))),
            None => self.queue.push_back(e),
        }
    }

    /// No more events: every waiting `next()` gets the end (the queue is empty when any waits),
    /// and the signal's listener is removed.
    fn end(&mut self) {
        self.ended = true;
        for d in std::mem::take(&mut self.waiters) {
            d.resolve(Box::new(|_| Ok(IterStep::Done)));
        }
        if let Some((hop, abort)) = self.abort.take() {
            hop.resolve(Box::new(move |env| {
                // The signal may be gone already (its realm torn down): nothing left to remove.
                let _ = abort.release(&env);
                Ok(())
            }));
        }
    }

    fn close(&mut self) {
        self.closed = true;
        self.queue.clear();
        self.end();
    }
}

impl<E: Pumped> Feed<E> {
    /// Ends the stream for its reader; the pump stops within a [`TICK`].
    fn close(&self) {
        lock(&self.state).close();
        self.room.notify_all();
    }
}

/// The pump of one subscription: moves the core's events into the feed until the node has ended
/// (then ends the feed), the reader closes it, or the stream object was collected with no
/// `next()` waiting. Dropping the subscription on the way out unsubscribes it from the core.
fn pump<E: Pumped>(sub: &Subscription<E>, feed: &Feed<E>) {
    loop {
        {
            let mut s = lock(&feed.state);
            loop {
                if s.closed || (s.orphaned && s.waiters.is_empty()) {
                    s.close();
                    return;
                }
                if s.queue.len() < FEED_ROOM {
                    break;
                }
                s = feed
                    .room
                    .wait_timeout(s, TICK)
                    .unwrap_or_else(PoisonError::into_inner)
                    .0;
            }
        }
        match sub.next_timeout(TICK) {
            Ok(e) => lock(&feed.state).push(e),
            Err(RecvError::Timeout) => {}
            Err(RecvError::Ended) => {
                lock(&feed.state).end();
                return;
            }
        }
    }
}

/// A core subscription read by a pump thread, as the stream classes hold it.
pub(crate) struct Pump<E: Pumped> {
    feed: Arc<Feed<E>>,
}

impl<E: Pumped> Pump<E> {
    /// Starts the pump of `sub` on a thread named `name`, wired to `signal` (already aborted:
    /// the stream starts closed).
    pub(crate) fn start(
        env: &Env,
        sub: Subscription<E>,
        signal: Option<&Object>,
        name: &str,
    ) -> Result<Self> {
        let feed = Arc::new(Feed::<E>::default());
        if let Some(signal) = signal {
            let aborted: bool = signal.get_named_property("aborted").map_err(napi_err)?;
            if aborted {
                feed.close();
                return Ok(Pump { feed });
            }
            // Wired before the pump starts, so that the feed cannot end before it holds the
            // listener (whose removal the end schedules).
            let (hop, _promise) = deferred::<()>(env)?;
            let on_abort = {
                let feed = Arc::clone(&feed);
                move || feed.close()
            };
            match Abort::listen(env, signal, on_abort) {
                Ok(abort) => lock(&feed.state).abort = Some((hop, abort)),
                Err(e) => {
                    hop.resolve(Box::new(|_| Ok(())));
                    return Err(e);
                }
            }
        }
        let pumped = Arc::clone(&feed);
        let spawned = thread::Builder::new().name(name.into()).spawn(move || {
            if catch_unwind(AssertUnwindSafe(|| pump(&sub, &pumped))).is_err() {
                // A reader must never wait for events that cannot come.
                lock(&pumped.state).end();
            }
        });
        if let Err(e) = spawned {
            feed.close();
            return Err(kind_err(
                ErrorKind::Io,
                format!("cannot start a thread for the node's events: {e}"),
            ));
        }
        Ok(Pump { feed })
    }

    /// `next()`: the next event, or the end; never rejects.
    pub(crate) fn next(&self, env: &Env) -> Result<JsObject> {
        let mut s = lock(&self.feed.state);
        if let Some(e) = s.queue.pop_front() {
            self.feed.room.notify_all();
            drop(s);
            return resolved(env, IterStep::Item(e.js()));
        }
        if s.ended {
            return resolved(env, Step::<E>::Done);
        }
        let (d, promise) = deferred::<Step<E>>(env)?;
        s.waiters.push_back(d);
        Ok(promise)
    }

    /// `return()`: ends the stream; resolves to the end.
    pub(crate) fn finish(&self, env: &Env) -> Result<JsObject> {
        self.feed.close();
        resolved(env, Step::<E>::Done)
    }

    /// `close()`: ends the stream; closing twice is harmless.
    pub(crate) fn close(&self) {
        self.feed.close();
    }

    /// Whether the stream is over: closed, or its node has ended and every event was read.
    pub(crate) fn closed(&self) -> bool {
        let s = lock(&self.feed.state);
        s.ended && s.queue.is_empty()
    }
}

impl<E: Pumped> Drop for Pump<E> {
    /// A stream collected unclosed unsubscribes, once no `next()` of it waits (a pending
    /// `next()` still gets its event).
    fn drop(&mut self) {
        lock(&self.feed.state).orphaned = true;
        self.feed.room.notify_all();
    }
}
