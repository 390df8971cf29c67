//! Due times of the timers a sans-IO core asked for (the membership's, the consensus engine's).

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::time::Duration;

use tokio::time::Instant;

/// Timers by due time; ties come out in the order they were set.
pub(crate) struct Timers<T> {
    heap: BinaryHeap<Reverse<(Instant, u64)>>,
    items: HashMap<u64, T>,
    order: u64,
}

impl<T> Default for Timers<T> {
    fn default() -> Self {
        Timers {
            heap: BinaryHeap::new(),
            items: HashMap::new(),
            order: 0,
        }
    }
}

impl<T> Timers<T> {
    pub(crate) fn push(&mut self, after: Duration, timer: T) {
        self.order += 1;
        self.items.insert(self.order, timer);
        self.heap
            .push(Reverse((Instant::now() + after, self.order)));
    }

    pub(crate) fn next_due(&self) -> Option<Instant> {
        self.heap.peek().map(|Reverse((at, _))| *at)
    }

    pub(crate) fn pop_due(&mut self, now: Instant) -> Option<T> {
        let Reverse((at, order)) = *self.heap.peek()?;
        if at > now {
            return None;
        }
        self.heap.pop();
        self.items.remove(&order)
    }
}
