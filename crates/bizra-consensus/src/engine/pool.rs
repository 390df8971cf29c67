//! The pending-proposal pool: `bizra.proposal` envelopes submitted to this validator (or
//! forwarded by another), waiting to be decided.
//!
//! Every validator pools what it hears, so that whichever validator proposes next includes it.
//! An envelope enters only if the gate chain admits it at that moment, and is judged again when
//! a batch is built or proposed (it may have expired since; its signature, verified once, is
//! not verified again); it leaves when a decided batch holds it.
//!
//! The pool also remembers the envelopes decided recently, until they expire: such an envelope
//! is not pooled again (a late forward of it may still arrive), and a batch that holds one is
//! not valid (see `Engine::receive`), so one proposal is decided at most once.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::sync::Arc;

use bizra_protocol::{Envelope, Error, GateChain, Result, Timestamp};

use crate::batch::{is_proposal, Batch, MAX_BATCH_BYTES, MAX_PROPOSALS};

/// The most envelopes a pool holds: four full batches.
pub const MAX_POOLED: usize = 4 * MAX_PROPOSALS;

/// Decided envelopes are remembered until this long after they expire (the gate chain's
/// freshness gate refuses them from then on, allowing for clock skew).
const REMEMBER_AFTER_EXPIRY_MS: i64 = 2 * bizra_protocol::pci::MAX_CLOCK_SKEW_SECONDS * 1000;

#[derive(Debug, Default)]
pub(crate) struct Pool {
    /// The waiting envelopes by id, each with its canonical JSON (which batches are made of).
    entries: BTreeMap<String, (Envelope, Arc<str>)>,
    decided: HashSet<String>,
    /// The decided ids by expiry, to forget them in order.
    expiries: BTreeSet<(i64, String)>,
}

impl Pool {
    /// Pools an envelope; `Ok(false)` if it is pooled already. Refuses an envelope that is not a
    /// proposal, or that the gate chain refuses at `now`; a full pool ([`MAX_POOLED`]) refuses
    /// with [`Error::Busy`] until a decided batch makes room.
    pub fn insert(
        &mut self,
        envelope: Envelope,
        gates: &GateChain,
        now: Timestamp,
    ) -> Result<bool> {
        if !is_proposal(&envelope) {
            return Err(Error::InvalidInput(format!(
                "envelope {} is not a proposal (its payload's \"type\" must be \"bizra.proposal\")",
                envelope.id()
            )));
        }
        if self.entries.contains_key(envelope.id()) || self.decided.contains(envelope.id()) {
            return Ok(false);
        }
        gates.check_at(&envelope, now).into_result()?;
        if self.entries.len() >= MAX_POOLED {
            return Err(Error::Busy {
                queue: "the proposal pool (envelopes waiting to be decided)".into(),
                capacity: MAX_POOLED,
            });
        }
        let json = envelope.to_json().into();
        self.entries
            .insert(envelope.id().to_string(), (envelope, json));
        Ok(true)
    }

    /// How many envelopes wait.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// A batch of the pooled envelopes that still pass the gate chain at `now` (those that no
    /// longer do are dropped), in id order, as many as one batch holds. Possibly empty.
    pub fn build(&mut self, gates: &GateChain, now: Timestamp) -> Result<Batch> {
        // Every pooled envelope passed the chain when it came: its signature is not verified
        // again.
        self.entries
            .retain(|_, (e, _)| gates.recheck_at(e, now).into_result().is_ok());
        let mut chosen = Vec::new();
        // "[" and "]" plus a comma per envelope.
        let mut bytes = 2;
        for (e, json) in self.entries.values() {
            let size = json.len() + 1;
            if chosen.len() == MAX_PROPOSALS || bytes + size > MAX_BATCH_BYTES {
                break;
            }
            bytes += size;
            chosen.push(e.clone());
        }
        // Proposals only, distinct, within both bounds: `Batch::new` does not refuse them.
        Batch::new(chosen)
    }

    /// Judges a proposed batch at `now`: a proposal pooled here (the very same envelope) is
    /// rechecked without verifying its signature again, any other is checked in full. A
    /// validator hears most proposals before the batch that holds them, so most of a batch's
    /// signatures are not verified twice.
    pub fn judge(&self, batch: &Batch, gates: &GateChain, now: Timestamp) -> Result<()> {
        batch.judge(|e, json| match self.entries.get(e.id()) {
            Some((pooled, pooled_json)) if **pooled_json == *json => gates.recheck_at(pooled, now),
            _ => gates.check_at(e, now),
        })
    }

    /// The pooled envelope with this id and its canonical JSON, for reading a proposed batch
    /// without parsing what is pooled already.
    pub fn known(&self, id: &str) -> Option<(Envelope, Arc<str>)> {
        self.entries.get(id).cloned()
    }

    /// Whether `batch` holds an envelope decided at an earlier height.
    pub fn holds_decided(&self, batch: &Batch) -> Option<String> {
        batch
            .envelopes()
            .iter()
            .find(|e| self.decided.contains(e.id()))
            .map(|e| e.id().to_string())
    }

    /// Forgets the envelopes a decided batch holds, and remembers them as decided until they
    /// expire; forgets the decided envelopes that expired before `now`.
    pub fn remove_decided(&mut self, batch: &Batch, now: Timestamp) {
        for e in batch.envelopes() {
            self.entries.remove(e.id());
            if self.decided.insert(e.id().to_string()) {
                let until = e
                    .expires_at()
                    .unix_millis()
                    .saturating_add(REMEMBER_AFTER_EXPIRY_MS);
                self.expiries.insert((until, e.id().to_string()));
            }
        }
        while let Some((until, _)) = self.expiries.first() {
            if *until >= now.unix_millis() {
                break;
            }
            if let Some((_, id)) = self.expiries.pop_first() {
                self.decided.remove(&id);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bizra_protocol::{ErrorKind, Identity};
    use serde_json::json;

    fn proposal(me: &Identity, n: usize) -> Envelope {
        Envelope::builder(json!({"type": crate::batch::PROPOSAL_TYPE, "n": n}))
            .snr(0.9)
            .ihsan(0.96)
            .sign(me)
            .unwrap()
    }

    /// A full pool refuses the next proposal with `Busy` (nothing pooled), and takes proposals
    /// again once a decided batch has left it.
    #[test]
    fn a_full_pool_is_busy_until_a_batch_is_decided() {
        let me = Identity::generate();
        let gates = GateChain::default();
        let now = Timestamp::now();
        let mut pool = Pool::default();
        for n in 0..MAX_POOLED {
            assert_eq!(pool.insert(proposal(&me, n), &gates, now).ok(), Some(true));
        }
        let e = pool
            .insert(proposal(&me, MAX_POOLED), &gates, now)
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Busy);
        assert!(e.to_string().contains("proposal pool"), "{e}");
        assert!(e.to_string().contains(&MAX_POOLED.to_string()), "{e}");
        assert_eq!(pool.len(), MAX_POOLED);

        let batch = pool.build(&gates, now).unwrap();
        assert!(!batch.is_empty());
        pool.remove_decided(&batch, now);
        assert_eq!(pool.len(), MAX_POOLED - batch.envelopes().len());
        assert_eq!(
            pool.insert(proposal(&me, MAX_POOLED), &gates, now).ok(),
            Some(true)
        );
    }
}
