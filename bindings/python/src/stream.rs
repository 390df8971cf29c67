//! The waiting machinery shared by a node's event streams (`bizra.EventStream` for membership,
//! `bizra.ConsensusEventStream` for consensus): both read the core's `Subscription<T>`, so the
//! waiting, the timeout, the closing and Ctrl-C are written once here, generic over the event,
//! and each stream class only converts its events.
//!
//! A wait lasts short slices ([`SIGNAL_SLICE`]) with the GIL released, between which Python runs
//! its signal handlers, so that Ctrl-C interrupts it.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use pyo3::exceptions::PyStopIteration;
use pyo3::prelude::*;

use bizra::{RecvError, Subscription};

use crate::inference::SIGNAL_SLICE;
use crate::invalid;
use crate::node::seconds_arg;

/// `next(timeout=...)`: seconds (a number or a `timedelta`), zero or more.
fn timeout_arg(obj: &Bound<'_, PyAny>) -> PyResult<Duration> {
    let seconds = seconds_arg(obj, "timeout")?;
    if seconds.is_nan() || seconds < 0.0 {
        return Err(invalid(format!(
            "timeout must be zero or more seconds, got {seconds}"
        )));
    }
    // A timeout too long for a Duration is as good as none: the wait ends with an event or the
    // stream, and Ctrl-C interrupts it.
    Ok(Duration::try_from_secs_f64(seconds).unwrap_or(Duration::MAX))
}

/// What one slice of waiting found.
enum Poll<T> {
    Event(T),
    Idle,
    End,
}

/// What a wait for an event ended with.
enum Waited<T> {
    Event(T),
    TimedOut,
    Ended,
}

/// A subscription to a node's events, read from Python: blocking waits with the GIL released,
/// a timeout, and a close that any thread may call.
pub(crate) struct Stream<T> {
    /// `None` once the stream ended or was closed. Locked only with the GIL released: the holder
    /// waits a slice for the next event.
    events: Mutex<Option<Subscription<T>>>,
    closed: AtomicBool,
}

impl<T: Send> Stream<T> {
    pub(crate) fn new(events: Subscription<T>) -> Self {
        Stream {
            events: Mutex::new(Some(events)),
            closed: AtomicBool::new(false),
        }
    }

    /// The subscription's slot. It is replaced whole (taken out at once), so a lock poisoned by
    /// a panic elsewhere still guards a coherent value.
    fn lock(&self) -> MutexGuard<'_, Option<Subscription<T>>> {
        self.events.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Waits at most `slice` for the next event.
    fn poll(&self, slice: Duration) -> Poll<T> {
        let mut events = self.lock();
        if self.closed.load(Ordering::Acquire) {
            *events = None;
        }
        let Some(stream) = events.as_ref() else {
            return Poll::End;
        };
        match stream.next_timeout(slice) {
            Ok(e) => Poll::Event(e),
            Err(RecvError::Timeout) => Poll::Idle,
            Err(RecvError::Ended) => {
                *events = None;
                Poll::End
            }
        }
    }

    /// Waits for the next event in slices, running Python's signal handlers between them (an
    /// exception they raise, such as Ctrl-C's `KeyboardInterrupt`, ends the wait).
    fn wait(&self, py: Python<'_>, timeout: Option<Duration>) -> PyResult<Waited<T>> {
        let deadline = timeout.and_then(|t| Instant::now().checked_add(t));
        loop {
            let slice = deadline.map_or(SIGNAL_SLICE, |d| {
                d.saturating_duration_since(Instant::now())
                    .min(SIGNAL_SLICE)
            });
            match py.detach(|| self.poll(slice)) {
                Poll::Event(e) => return Ok(Waited::Event(e)),
                Poll::End => return Ok(Waited::Ended),
                Poll::Idle => {}
            }
            if deadline.is_some_and(|d| Instant::now() >= d) {
                return Ok(Waited::TimedOut);
            }
            py.check_signals()?;
        }
    }

    /// `__next__`: the next event, as long as it takes; `None` (which pyo3 turns into
    /// `StopIteration`) once the stream has ended.
    pub(crate) fn next_event(&self, py: Python<'_>) -> PyResult<Option<T>> {
        match self.wait(py, None)? {
            Waited::Event(e) => Ok(Some(e)),
            Waited::TimedOut | Waited::Ended => Ok(None),
        }
    }

    /// `next(timeout=...)`: the next event, waiting at most `timeout` (None: as long as it
    /// takes); `None` when the time passes without one; `StopIteration` once the stream has
    /// ended.
    pub(crate) fn next_within(
        &self,
        py: Python<'_>,
        timeout: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Option<T>> {
        let timeout = match timeout.filter(|t| !t.is_none()) {
            Some(t) => Some(timeout_arg(t)?),
            None => None,
        };
        match self.wait(py, timeout)? {
            Waited::Event(e) => Ok(Some(e)),
            Waited::TimedOut => Ok(None),
            Waited::Ended => Err(PyStopIteration::new_err(())),
        }
    }

    /// Ends the stream: a thread that waits stops within a slice, and the node queues no more
    /// events for it (its end of the channel is gone).
    pub(crate) fn close(&self, py: Python<'_>) {
        self.closed.store(true, Ordering::Release);
        py.detach(|| {
            *self.lock() = None;
        });
    }

    /// Whether the stream has ended (the node stopped, or `close` was called).
    pub(crate) fn closed(&self, py: Python<'_>) -> bool {
        self.closed.load(Ordering::Acquire) || py.detach(|| self.lock().is_none())
    }
}
