//! The elevator: elevation through the federation, driven beside a running node.
//!
//! One thread per elevator. At every tick ([`TICK`]) and after every decision it:
//!
//! 1. applies, in height order, every height the node has decided and the store has not applied
//!    yet (from the node's storage, [`Node::decided`]): a node that starts late, or that missed
//!    events, catches up the same way as one that saw them live;
//! 2. proposes every pattern eligible under its [`ElevationPolicy`] that was not proposed within
//!    [`RETRY`] ([`elevation_proposal`], signed with the node's key): a proposal that the
//!    federation did not decide in time (its validators restarted, its ttl ran out) is proposed
//!    again later, and one that it decided is never proposed again, since its pattern is then
//!    certified.
//!
//! Failures (a proposal the gate chain refuses, a decision the store cannot apply) are kept in
//! [`ElevatorStatus::last_error`] and retried; they never stop the thread. The thread ends when
//! the elevator is stopped or dropped, or when the node stops.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Duration;

use bizra_consensus::FederationDocument;
use bizra_protocol::{Error, Identity, Result};
use bizra_runtime::{ConsensusEvent, Node, RecvError};

use crate::federation::elevation_proposal;
use crate::store::now_ms;
use crate::{ElevationPolicy, Store};

/// How often the elevator looks for eligible patterns and undecided heights.
pub const TICK: Duration = Duration::from_millis(250);
/// How long after a proposal the same pattern may be proposed again, if still not certified.
pub const RETRY: Duration = Duration::from_secs(30);

/// What an elevator has done so far.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ElevatorStatus {
    /// Proposals the node accepted into its pool.
    pub proposed: u64,
    /// Patterns certified by the decisions applied.
    pub elevated: u64,
    /// The highest height applied to the store.
    pub applied_height: u64,
    /// The last failure, if any (it is retried).
    pub last_error: Option<String>,
}

/// Elevation through the federation for one store and one node (see the module's docs).
pub struct Elevator {
    stop: Arc<AtomicBool>,
    status: Arc<Mutex<ElevatorStatus>>,
    thread: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for Elevator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Elevator")
            .field("status", &self.status())
            .finish_non_exhaustive()
    }
}

impl Elevator {
    /// Starts elevating `store`'s patterns through `node`'s federation, proposing with
    /// `identity` (the node's own key). The elevator keeps the node alive until it stops.
    ///
    /// Refused (`InvalidInput`): a node that takes no part in consensus (without a federation,
    /// use [`Store::elevate_local`]), an identity that is not the node's.
    pub fn start(
        store: Arc<Store>,
        node: Arc<Node>,
        identity: Arc<Identity>,
        policy: ElevationPolicy,
    ) -> Result<Elevator> {
        let document = node.federation_document().ok_or_else(|| {
            Error::InvalidInput(
                "the node takes no part in consensus: elevation through the federation needs \
                 one (without a federation, elevate locally)"
                    .into(),
            )
        })?;
        if identity.node_id() != node.node_id() {
            return Err(Error::InvalidInput(format!(
                "the proposing identity {} is not the node's ({})",
                identity.node_id(),
                node.node_id()
            )));
        }
        let status = Arc::new(Mutex::new(ElevatorStatus {
            applied_height: store.applied_height()?,
            ..ElevatorStatus::default()
        }));
        let stop = Arc::new(AtomicBool::new(false));
        let worker = Worker {
            store,
            node,
            identity,
            document,
            policy,
            status: status.clone(),
            stop: stop.clone(),
        };
        let thread = std::thread::Builder::new()
            .name("bizra-elevator".into())
            .spawn(move || worker.run())
            .map_err(|e| Error::io("spawning the elevator thread", e))?;
        Ok(Elevator {
            stop,
            status,
            thread: Some(thread),
        })
    }

    /// What the elevator has done so far.
    pub fn status(&self) -> ElevatorStatus {
        lock(&self.status).clone()
    }

    /// Stops the thread and waits for it (at most one tick and the work in hand).
    pub fn stop(mut self) {
        self.halt();
    }

    fn halt(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Elevator {
    fn drop(&mut self) {
        self.halt();
    }
}

fn lock(m: &Mutex<ElevatorStatus>) -> MutexGuard<'_, ElevatorStatus> {
    // Plain counters: still coherent after a panic elsewhere.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

struct Worker {
    store: Arc<Store>,
    node: Arc<Node>,
    identity: Arc<Identity>,
    document: Arc<FederationDocument>,
    policy: ElevationPolicy,
    status: Arc<Mutex<ElevatorStatus>>,
    stop: Arc<AtomicBool>,
}

impl Worker {
    fn run(self) {
        // Subscribed before catching up: a decision made meanwhile is either in storage or on
        // this stream (or both: applying twice changes nothing).
        let events = self.node.consensus_events();
        while !self.stop.load(Ordering::Relaxed) {
            self.catch_up();
            self.propose_due();
            match events.next_timeout(TICK) {
                Ok(ConsensusEvent::Decided { .. }) | Err(RecvError::Timeout) => {}
                Ok(ConsensusEvent::Evidence(_)) => {}
                Err(RecvError::Ended) => break,
            }
        }
    }

    /// Applies the heights the node decided since the last one applied.
    fn catch_up(&self) {
        let Some(decided) = self.node.consensus_status().map(|s| s.decided) else {
            return;
        };
        let mut next = lock(&self.status).applied_height + 1;
        while next <= decided && !self.stop.load(Ordering::Relaxed) {
            let outcome = self.node.decided(next).and_then(|d| match d {
                Some((certificate, batch)) => self
                    .store
                    .apply_decision(&certificate, &batch, &self.document)
                    .map(|a| a.elevated.len()),
                None => Err(Error::InvalidInput(format!(
                    "the node reports height {decided} decided but does not hold height {next}"
                ))),
            });
            match outcome {
                Ok(elevated) => {
                    let mut s = lock(&self.status);
                    s.applied_height = next;
                    s.elevated += elevated as u64;
                }
                Err(e) => {
                    lock(&self.status).last_error = Some(format!("applying height {next}: {e}"));
                    return;
                }
            }
            next += 1;
        }
    }

    /// Proposes the eligible patterns not proposed recently.
    fn propose_due(&self) {
        let retry = i64::try_from(RETRY.as_millis()).unwrap_or(i64::MAX);
        let since = now_ms().saturating_sub(retry);
        let due = match self
            .store
            .candidates_not_proposed_since(&self.policy, since)
        {
            Ok(due) => due,
            Err(e) => {
                lock(&self.status).last_error = Some(format!("listing eligible patterns: {e}"));
                return;
            }
        };
        for pattern in due {
            let outcome = elevation_proposal(&pattern, &self.identity)
                .and_then(|proposal| self.node.propose(proposal));
            // Recorded whatever happened: a refused proposal waits for RETRY like an undecided
            // one, instead of being refused again at every tick.
            let marked = self.store.mark_proposed(pattern.id);
            let mut s = lock(&self.status);
            match (outcome, marked) {
                (Ok(pooled), Ok(())) => s.proposed += u64::from(pooled),
                (Err(e), _) | (_, Err(e)) => {
                    s.last_error = Some(format!("proposing pattern {}: {e}", pattern.id));
                }
            }
        }
    }
}
