//! Replay protection: a sliding window of sequence numbers per sender, as IPsec keeps per
//! security association.
//!
//! A sender numbers its datagrams from 1 within each generation (boot). A receiver remembers, per
//! sender key, the newest generation seen, the highest sequence number of it and which of the 64
//! numbers below it were seen. A datagram of an older generation, a number seen already, or one
//! more than 64 below the highest is a replay. The table holds at most `capacity` senders; when a
//! new one arrives and it is full, the sender heard from least recently is forgotten (its old
//! datagrams could then be replayed, but only within the send-time window that every datagram is
//! also held to).

use std::collections::HashMap;

use bizra_protocol::identity::PeerKey;

/// How many sequence numbers below the highest are remembered.
pub const WINDOW: u64 = 64;

#[derive(Clone, Copy, Debug)]
struct Window {
    key: PeerKey,
    generation: u64,
    highest: u64,
    /// Bit i: `highest - i` was seen.
    seen: u64,
    last_heard_ms: i64,
}

/// The windows of every sender heard from, bounded.
#[derive(Debug)]
pub struct ReplayWindows {
    capacity: usize,
    senders: HashMap<[u8; 32], Window>,
}

/// What [`ReplayWindows::check`] found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Not seen before.
    Fresh,
    /// Seen before, or too old.
    Replay,
}

impl ReplayWindows {
    /// A table of at most `capacity` senders (at least 1).
    pub fn new(capacity: usize) -> Self {
        ReplayWindows {
            capacity: capacity.max(1),
            senders: HashMap::new(),
        }
    }

    /// The decompressed key of a sender heard from, so that it is decompressed once.
    pub fn key(&self, sender: &[u8; 32]) -> Option<PeerKey> {
        self.senders.get(sender).map(|w| w.key)
    }

    /// Whether (`generation`, `sequence`) from `sender` is fresh. Looks only: call
    /// [`ReplayWindows::record`] once the datagram is authenticated.
    pub fn check(&self, sender: &[u8; 32], generation: u64, sequence: u64) -> Verdict {
        let Some(w) = self.senders.get(sender) else {
            return Verdict::Fresh;
        };
        if generation != w.generation {
            return if generation > w.generation {
                Verdict::Fresh
            } else {
                Verdict::Replay
            };
        }
        if sequence > w.highest {
            return Verdict::Fresh;
        }
        let below = w.highest - sequence;
        if below >= WINDOW || w.seen & (1 << below) != 0 {
            Verdict::Replay
        } else {
            Verdict::Fresh
        }
    }

    /// Records an authenticated, fresh datagram.
    pub fn record(&mut self, key: PeerKey, generation: u64, sequence: u64, now_ms: i64) {
        let sender = *key.as_bytes();
        if !self.senders.contains_key(&sender) && self.senders.len() >= self.capacity {
            if let Some(oldest) = self
                .senders
                .iter()
                .min_by_key(|(_, w)| w.last_heard_ms)
                .map(|(k, _)| *k)
            {
                self.senders.remove(&oldest);
            }
        }
        let w = self.senders.entry(sender).or_insert(Window {
            key,
            generation,
            highest: sequence,
            seen: 0,
            last_heard_ms: now_ms,
        });
        if generation > w.generation {
            *w = Window {
                key,
                generation,
                highest: sequence,
                seen: 1,
                last_heard_ms: now_ms,
            };
            return;
        }
        w.last_heard_ms = now_ms;
        if sequence > w.highest {
            let shift = sequence - w.highest;
            w.seen = if shift >= WINDOW { 0 } else { w.seen << shift };
            w.seen |= 1;
            w.highest = sequence;
        } else {
            let below = w.highest - sequence;
            if below < WINDOW {
                w.seen |= 1 << below;
            }
        }
    }

    /// When an authenticated datagram of `sender` was last recorded (Unix ms).
    pub fn last_heard(&self, sender: &[u8; 32]) -> Option<i64> {
        self.senders.get(sender).map(|w| w.last_heard_ms)
    }

    /// How many senders are remembered.
    pub fn len(&self) -> usize {
        self.senders.len()
    }

    /// Whether no sender is remembered.
    pub fn is_empty(&self) -> bool {
        self.senders.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bizra_protocol::Identity;

    fn key() -> PeerKey {
        PeerKey::from_bytes(Identity::generate().public_key()).unwrap()
    }

    #[test]
    fn numbers_are_accepted_once_in_any_order_within_the_window() {
        let k = key();
        let s = *k.as_bytes();
        let mut w = ReplayWindows::new(8);
        for seq in [5u64, 3, 9, 4, 70] {
            assert_eq!(w.check(&s, 1, seq), Verdict::Fresh, "{seq}");
            w.record(k, 1, seq, 0);
            assert_eq!(w.check(&s, 1, seq), Verdict::Replay, "{seq} again");
        }
        // 70 moved the window: 6 is now more than 64 below it.
        assert_eq!(w.check(&s, 1, 6), Verdict::Replay);
        assert_eq!(w.check(&s, 1, 7), Verdict::Fresh);
        // An older generation is a replay; a newer one starts over.
        assert_eq!(w.check(&s, 0, 1000), Verdict::Replay);
        assert_eq!(w.check(&s, 2, 1), Verdict::Fresh);
        w.record(k, 2, 1, 0);
        assert_eq!(w.check(&s, 2, 1), Verdict::Replay);
        assert_eq!(w.check(&s, 1, 71), Verdict::Replay);
    }

    #[test]
    fn memory_is_bounded_by_forgetting_the_least_recently_heard() {
        let mut w = ReplayWindows::new(3);
        let keys: Vec<PeerKey> = (0..5).map(|_| key()).collect();
        for (i, k) in keys.iter().enumerate() {
            w.record(*k, 1, 1, i as i64);
        }
        assert_eq!(w.len(), 3);
        assert!(w.key(keys[0].as_bytes()).is_none());
        assert!(w.key(keys[4].as_bytes()).is_some());
    }
}
