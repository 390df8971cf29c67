//! The replay cache: which envelope ids were admitted, for as long as they stay valid.

use std::collections::{BTreeSet, HashMap};
use std::sync::Mutex;

use super::{RejectCode, Timestamp};
use crate::hash::from_hex;
use crate::{Error, Result};

/// Remembers admitted envelope ids until their envelopes expire.
///
/// Thread-safe (`Send + Sync`; share it through an `Arc`). Memory is bounded by `capacity`
/// entries of a few dozen bytes each. Entries whose envelope has expired are dropped as soon as
/// any call sees a later `now`. **When the cache is full of still-valid entries, new ids are
/// refused with [`RejectCode::Quota`] (retryable)**: evicting a live entry would let its envelope
/// be replayed, and admitting an id without recording it would too, so neither ever happens.
#[derive(Debug)]
pub struct ReplayCache {
    capacity: usize,
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    expiry_of: HashMap<[u8; 16], i64>,
    by_expiry: BTreeSet<(i64, [u8; 16])>,
}

impl Inner {
    fn purge(&mut self, now: Timestamp) {
        while let Some(&(exp, id)) = self.by_expiry.first() {
            if exp >= now.unix_millis() {
                break;
            }
            self.by_expiry.pop_first();
            self.expiry_of.remove(&id);
        }
    }
}

impl ReplayCache {
    /// The default capacity used by [`GateChain::default`](crate::GateChain).
    pub const DEFAULT_CAPACITY: usize = 100_000;

    /// A cache holding at most `capacity` live ids. A capacity of 0 is refused, in every binding
    /// alike: a cache that can hold nothing would refuse every envelope (with `QUOTA`).
    pub fn new(capacity: usize) -> Result<Self> {
        if capacity == 0 {
            return Err(Error::InvalidInput(
                "a replay cache needs a capacity of at least 1 id".into(),
            ));
        }
        Ok(Self {
            capacity,
            inner: Mutex::new(Inner::default()),
        })
    }

    /// The most ids held at once.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// How many ids are held now (expired ones may linger until the next call with a later `now`).
    pub fn len(&self) -> usize {
        self.lock().expiry_of.len()
    }

    /// Whether no id is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether `id` was admitted and its envelope is still valid at `now`.
    pub fn contains(&self, id: &str, now: Timestamp) -> bool {
        let Some(key) = key(id) else { return false };
        self.lock()
            .expiry_of
            .get(&key)
            .is_some_and(|&exp| exp >= now.unix_millis())
    }

    /// Records `id`, valid until `expires_at`, unless it is already held (→ [`RejectCode::Replay`])
    /// or the cache is full of live ids (→ [`RejectCode::Quota`]). Atomic: of two threads
    /// admitting the same id, exactly one succeeds.
    pub fn check_and_insert(
        &self,
        id: &str,
        expires_at: Timestamp,
        now: Timestamp,
    ) -> Result<(), RejectCode> {
        let key = key(id).ok_or(RejectCode::Schema)?;
        let mut inner = self.lock();
        inner.purge(now);
        if inner.expiry_of.contains_key(&key) {
            return Err(RejectCode::Replay);
        }
        if expires_at < now {
            // Already expired: it can never be admitted, so there is nothing to remember.
            return Ok(());
        }
        if inner.expiry_of.len() >= self.capacity {
            return Err(RejectCode::Quota);
        }
        inner.expiry_of.insert(key, expires_at.unix_millis());
        inner.by_expiry.insert((expires_at.unix_millis(), key));
        Ok(())
    }

    /// [`ReplayCache::check_and_insert`] with the refusal as an [`Error`] that says why.
    pub fn admit(&self, id: &str, expires_at: Timestamp, now: Timestamp) -> Result<()> {
        self.check_and_insert(id, expires_at, now)
            .map_err(|code| Error::reject(code, self.refusal_detail(code, id)))
    }

    pub(crate) fn refusal_detail(&self, code: RejectCode, id: &str) -> String {
        match code {
            RejectCode::Quota => format!(
                "the replay cache is full ({} live ids); retry later",
                self.capacity
            ),
            RejectCode::Replay => format!("id {id} was already admitted"),
            _ => format!("{id} is not an envelope id"),
        }
    }

    /// Drops every id whose envelope has expired at `now`.
    pub fn purge_expired(&self, now: Timestamp) {
        self.lock().purge(now);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic while holding the lock cannot leave the two indexes inconsistent (each update
        // is a pair of infallible inserts/removes), so a poisoned lock is still usable.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Default for ReplayCache {
    /// A cache of [`ReplayCache::DEFAULT_CAPACITY`] ids.
    fn default() -> Self {
        Self {
            capacity: Self::DEFAULT_CAPACITY,
            inner: Mutex::new(Inner::default()),
        }
    }
}

fn key(id: &str) -> Option<[u8; 16]> {
    id.strip_prefix("pci_").and_then(from_hex::<16>)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(ms: i64) -> Timestamp {
        Timestamp::from_unix_millis(ms).unwrap()
    }

    const A: &str = "pci_000102030405060708090a0b0c0d0e0f";
    const B: &str = "pci_ffffffffffffffffffffffffffffffff";
    const C: &str = "pci_0123456789abcdef0123456789abcdef";

    #[test]
    fn a_capacity_of_zero_is_refused() {
        assert!(ReplayCache::new(0).is_err());
        assert_eq!(ReplayCache::new(1).unwrap().capacity(), 1);
        assert_eq!(
            ReplayCache::default().capacity(),
            ReplayCache::DEFAULT_CAPACITY
        );
    }

    #[test]
    fn replays_are_refused_until_expiry() {
        let c = ReplayCache::new(10).unwrap();
        assert_eq!(c.check_and_insert(A, t(1000), t(0)), Ok(()));
        assert_eq!(
            c.check_and_insert(A, t(1000), t(500)),
            Err(RejectCode::Replay)
        );
        assert!(c.contains(A, t(1000)));
        assert!(!c.contains(A, t(1001)));
        c.purge_expired(t(1001));
        assert!(c.is_empty());
    }

    #[test]
    fn full_cache_refuses_instead_of_evicting_live_ids() {
        let c = ReplayCache::new(2).unwrap();
        c.check_and_insert(A, t(1000), t(0)).unwrap();
        c.check_and_insert(B, t(2000), t(0)).unwrap();
        assert_eq!(c.check_and_insert(C, t(3000), t(0)), Err(RejectCode::Quota));
        // Both live ids are still remembered.
        assert_eq!(
            c.check_and_insert(A, t(1000), t(10)),
            Err(RejectCode::Replay)
        );
        assert_eq!(
            c.check_and_insert(B, t(2000), t(10)),
            Err(RejectCode::Replay)
        );
        // Once A expires, its slot frees up.
        assert_eq!(c.check_and_insert(C, t(3000), t(1500)), Ok(()));
        assert_eq!(c.len(), 2);
    }

    #[test]
    fn concurrent_admission_of_one_id_succeeds_once() {
        let c = std::sync::Arc::new(ReplayCache::new(100).unwrap());
        let wins: usize = (0..8)
            .map(|_| {
                let c = c.clone();
                std::thread::spawn(move || c.check_and_insert(A, t(1000), t(0)).is_ok())
            })
            .collect::<Vec<_>>()
            .into_iter()
            .map(|h| usize::from(h.join().unwrap()))
            .sum();
        assert_eq!(wins, 1);
    }
}
