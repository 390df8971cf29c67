//! Crash and restart from the write-ahead log, in-process: an engine votes, its log is kept,
//! a second engine is rebuilt from the log, and it never signs a vote that conflicts with one
//! the first signed, even when offered exactly what would make a fresh engine do so.

#[path = "sim/mod.rs"]
mod harness;

use std::sync::Arc;

use bizra_consensus::{Batch, Engine, EngineConfig, Output, TimerKind};
use bizra_protocol::{GateChain, Identity, Timestamp};
use harness::wire::{self, ProposalMsg, VoteMsg};
use harness::{lan_timeouts, proposal_envelope, EPOCH_MS};

struct Fixture {
    document: Arc<bizra_consensus::FederationDocument>,
    ids: Vec<Arc<Identity>>,
    gates: Arc<GateChain>,
}

impl Fixture {
    fn new() -> Self {
        let (document, ids) = harness::document(4, lan_timeouts());
        Fixture {
            document,
            ids,
            gates: Arc::new(GateChain::default()),
        }
    }

    fn config(&self, i: usize) -> EngineConfig {
        EngineConfig {
            document: self.document.clone(),
            identity: Some(self.ids[i].clone()),
            gates: self.gates.clone(),
        }
    }

    fn now(&self) -> Timestamp {
        Timestamp::from_unix_millis(EPOCH_MS + 1_000).unwrap()
    }

    /// A batch of one fresh proposal numbered `n`.
    fn batch(&self, n: u64) -> Batch {
        let author = Identity::generate();
        Batch::new(vec![proposal_envelope(&author, n, 0.96, EPOCH_MS)]).unwrap()
    }

    /// Validator `v`'s signed proposal of `batch` at height 1, `round`.
    fn proposal(&self, v: usize, round: u32, batch: &Batch) -> Vec<u8> {
        let mut p = ProposalMsg {
            height: 1,
            round,
            pol_round: None,
            proposer: *self.ids[v].public_key(),
            signature: [0; 64],
            batch: batch.to_json().to_string(),
        };
        let fed = self.document.federation();
        wire::sign_proposal(&mut p, batch.id(), &self.ids[v], fed, self.document.epoch());
        wire::encode_proposal(&p)
    }

    /// Validator `v`'s signed vote at height 1, `round`.
    fn vote(&self, v: usize, round: u32, precommit: bool, batch: Option<&Batch>) -> Vec<u8> {
        let mut m = VoteMsg {
            height: 1,
            round,
            precommit,
            value: batch.map(|b| *b.id().as_bytes()),
            validator: *self.ids[v].public_key(),
            signature: [0; 64],
        };
        let fed = self.document.federation();
        wire::sign_vote(&mut m, &self.ids[v], fed, self.document.epoch());
        wire::encode_vote(&m)
    }
}

/// Everything the engine asked for so far: its log records and its broadcast votes.
fn drain(engine: &mut Engine) -> (Vec<Vec<u8>>, Vec<VoteMsg>, Vec<Output>) {
    let (mut records, mut votes, mut rest) = (Vec::new(), Vec::new(), Vec::new());
    while let Some(o) = engine.poll_output() {
        match o {
            Output::Persist(r) => records.push(r.bytes),
            Output::Broadcast(b) => match wire::parse_vote(&b) {
                Some(v) => votes.push(v),
                None => rest.push(Output::Broadcast(b)),
            },
            other => rest.push(other),
        }
    }
    (records, votes, rest)
}

fn prevotes(votes: &[VoteMsg], round: u32) -> Vec<&VoteMsg> {
    votes
        .iter()
        .filter(|v| !v.precommit && v.round == round)
        .collect()
}

#[test]
fn a_restarted_validator_never_signs_a_conflicting_vote() {
    let f = Fixture::new();
    let now = f.now();
    // The proposer of height 1, round 0 is validator 1 ((1 + 0) mod 4); validator 2 votes.
    let (x, y) = (f.batch(1), f.batch(2));
    let mut a = Engine::new(f.config(2)).unwrap();
    a.start_height(1, now).unwrap();
    a.receive(&f.proposal(1, 0, &x), now).unwrap();
    let (log, votes, _) = drain(&mut a);
    let first = prevotes(&votes, 0);
    assert_eq!(first.len(), 1);
    assert_eq!(first[0].value, Some(*x.id().as_bytes()));
    assert!(
        !log.is_empty(),
        "the prevote must be logged before it is sent"
    );

    // Control: a node that lost its log, offered the proposer's other (equivocating) proposal
    // first, prevotes for it — the double signature the log exists to prevent.
    let mut fresh = Engine::new(f.config(2)).unwrap();
    fresh.start_height(1, now).unwrap();
    fresh.receive(&f.proposal(1, 0, &y), now).unwrap();
    let (_, votes, _) = drain(&mut fresh);
    assert_eq!(prevotes(&votes, 0)[0].value, Some(*y.id().as_bytes()));

    // Rebuilt from the log: it re-sends the very prevote it signed (same bytes), and the
    // conflicting proposal gets no prevote.
    let mut b = Engine::recover(f.config(2), 1, &log, now).unwrap();
    b.receive(&f.proposal(1, 0, &y), now).unwrap();
    let (again, votes, _) = drain(&mut b);
    for v in prevotes(&votes, 0) {
        assert_eq!(v, first[0], "the restarted node signed a different prevote");
    }
    assert!(
        !prevotes(&votes, 0).is_empty(),
        "the restarted node re-sends its recorded prevote"
    );
    // The log already holds what replay re-derived: nothing of it is written twice.
    for r in &again {
        assert!(!log.contains(r), "a replayed record was persisted again");
    }

    // It goes on from where it was: two more prevotes for X make a polka, it precommits X, and
    // two more precommits decide X with a certificate anyone can verify.
    b.receive(&f.vote(0, 0, false, Some(&x)), now).unwrap();
    b.receive(&f.vote(3, 0, false, Some(&x)), now).unwrap();
    let (_, votes, _) = drain(&mut b);
    assert!(votes
        .iter()
        .any(|v| v.precommit && v.value == Some(*x.id().as_bytes())));
    b.receive(&f.vote(0, 0, true, Some(&x)), now).unwrap();
    b.receive(&f.vote(3, 0, true, Some(&x)), now).unwrap();
    let (_, _, rest) = drain(&mut b);
    let decided = rest.iter().find_map(|o| match o {
        Output::Decided { certificate, batch } => Some((certificate, batch)),
        _ => None,
    });
    let (certificate, batch) = decided.expect("the restarted node decides");
    assert_eq!(batch.id(), x.id());
    certificate.verify_batch(batch, &f.document).unwrap();
}

#[test]
fn a_restarted_proposer_never_proposes_anything_else() {
    let f = Fixture::new();
    let now = f.now();
    // Validator 1 proposes at height 1, round 0, from its pool.
    let mut a = Engine::new(f.config(1)).unwrap();
    let author = Identity::generate();
    a.propose(proposal_envelope(&author, 7, 0.96, EPOCH_MS), now)
        .unwrap();
    a.start_height(1, now).unwrap();
    let mut log = Vec::new();
    let mut proposed = Vec::new();
    while let Some(o) = a.poll_output() {
        match o {
            Output::Persist(r) => log.push(r.bytes),
            Output::Broadcast(b) => proposed.extend(wire::parse_proposal(&b)),
            _ => {}
        }
    }
    assert_eq!(proposed.len(), 1);
    // Restarted with a different pool: it must not propose anything else in that round, and
    // the prevote it re-sends is for what it proposed.
    let mut b = Engine::recover(f.config(1), 1, &log, now).unwrap();
    b.propose(proposal_envelope(&author, 8, 0.96, EPOCH_MS), now)
        .unwrap();
    let batch = Batch::from_json(&proposed[0].batch).unwrap();
    let mut prevoted = 0;
    while let Some(o) = b.poll_output() {
        if let Output::Broadcast(bytes) = o {
            if let Some(p) = wire::parse_proposal(&bytes) {
                assert_eq!(p, proposed[0], "the restarted proposer equivocated");
            }
            if let Some(v) = wire::parse_vote(&bytes) {
                assert_eq!(v.value, Some(*batch.id().as_bytes()));
                prevoted += 1;
            }
        }
    }
    assert_eq!(prevoted, 1, "the restarted proposer re-sends its prevote");
    // Control: without its log, the same node proposes the batch its pool now holds.
    let mut fresh = Engine::new(f.config(1)).unwrap();
    fresh
        .propose(proposal_envelope(&author, 8, 0.96, EPOCH_MS), now)
        .unwrap();
    fresh.start_height(1, now).unwrap();
    let mut other = None;
    while let Some(o) = fresh.poll_output() {
        if let Output::Broadcast(bytes) = o {
            other = other.or(wire::parse_proposal(&bytes));
        }
    }
    assert_ne!(other.unwrap().batch, proposed[0].batch);
}

#[test]
fn a_damaged_log_is_refused_naming_the_record() {
    let f = Fixture::new();
    let now = f.now();
    let mut a = Engine::new(f.config(2)).unwrap();
    a.start_height(1, now).unwrap();
    a.receive(&f.proposal(1, 0, &f.batch(1)), now).unwrap();
    let (mut log, _, _) = drain(&mut a);
    let last = log.len() - 1;
    let cut = log[last].len() - 3;
    log[last].truncate(cut);
    let e = Engine::recover(f.config(2), 1, &log, now).unwrap_err();
    assert!(
        e.to_string()
            .contains(&format!("write-ahead log record {last}")),
        "{e}"
    );
}

#[test]
fn timers_of_a_past_round_or_a_cancelled_setting_are_ignored() {
    let f = Fixture::new();
    let now = f.now();
    let mut a = Engine::new(f.config(2)).unwrap();
    a.start_height(1, now).unwrap();
    let mut timers = Vec::new();
    while let Some(o) = a.poll_output() {
        if let Output::Schedule { timer, .. } = o {
            timers.push(timer);
        }
    }
    let propose = *timers
        .iter()
        .find(|t| t.kind() == TimerKind::Propose)
        .unwrap();
    // The propose timeout passes: it prevotes nil, once; the same timer again does nothing.
    a.handle_timer(propose, now).unwrap();
    let (_, votes, _) = drain(&mut a);
    assert_eq!(prevotes(&votes, 0).len(), 1);
    assert_eq!(prevotes(&votes, 0)[0].value, None);
    a.handle_timer(propose, now).unwrap();
    let (_, votes, _) = drain(&mut a);
    assert!(votes.is_empty());
}

#[test]
fn a_document_whose_power_the_core_cannot_count_is_refused() {
    let ids: Vec<Identity> = (0..2).map(|_| Identity::generate()).collect();
    let validators = ids
        .iter()
        .map(|id| bizra_consensus::Validator::new(id.public_key(), u64::MAX / 4).unwrap())
        .collect();
    let document =
        bizra_consensus::FederationDocument::new("f", 1, validators, lan_timeouts()).unwrap();
    let e = Engine::new(EngineConfig {
        document: Arc::new(document),
        identity: None,
        gates: Arc::new(GateChain::default()),
    })
    .unwrap_err();
    assert!(e.to_string().contains("above 2^64 / 3"), "{e}");
}
