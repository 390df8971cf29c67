//! A counted slot in a bound: the engine's requests running or waiting, a pool client's requests
//! in flight. Taken atomically below a limit and given back when dropped, on every path.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// One of the slots counted by `taken`, given back when dropped.
pub(crate) struct Slot(Arc<AtomicUsize>);

impl Slot {
    /// A slot, if fewer than `limit` are taken.
    pub(crate) fn take(taken: &Arc<AtomicUsize>, limit: usize) -> Option<Self> {
        taken
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < limit).then_some(n + 1)
            })
            .ok()
            .map(|_| Slot(Arc::clone(taken)))
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}
