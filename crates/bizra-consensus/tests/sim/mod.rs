//! A deterministic federation for the sans-IO engine: virtual time, a message queue with seeded
//! delay (and so reordering), loss and partitions, crashes and restarts from the write-ahead
//! log, and Byzantine validators written as test nodes. Every node runs a real `Engine` signing
//! and verifying real votes; only the wire, the clock and the disks are simulated.

#![allow(dead_code)]

pub mod wire;

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use bizra_consensus::{
    Batch, Certificate, Engine, EngineConfig, Equivocation, FederationDocument, Output, Timeouts,
    Timer, Validator,
};
use bizra_protocol::{Envelope, GateChain, Identity, Timestamp};
use serde_json::json;

use wire::{ProposalMsg, VoteMsg};

/// Unix time (ms) of the simulation's start: envelopes carry real-looking timestamps.
pub const EPOCH_MS: i64 = 1_750_000_000_000;

/// xorshift64*: the simulation's only randomness, so a seed replays a run exactly.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1)
    }
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            0
        } else {
            self.next() % n
        }
    }
    pub fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
    pub fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }
    pub fn bytes32(&mut self) -> [u8; 32] {
        let mut s = [0u8; 32];
        for c in s.chunks_mut(8) {
            c.copy_from_slice(&self.next().to_le_bytes());
        }
        s
    }
}

/// How a node behaves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    Honest,
    /// Sends nothing (crashed for good, or withholds every vote).
    Silent,
    /// Runs honestly but withholds its precommits.
    WithholdPrecommits,
    /// Signs two conflicting versions of each of its votes and proposals, each to part of the
    /// federation.
    Equivocator,
    /// Sends mangled, random, mis-signed and foreign-signed bytes instead of its messages.
    Garbage,
    /// Runs honestly and also re-sends old messages it received.
    Replayer,
    /// Proposes, when its turn comes, a batch holding a proposal below the Ihsan threshold.
    LowIhsanProposer,
    /// Proposes, when its turn comes, a batch whose envelopes are out of order.
    UnsortedProposer,
}

/// The simulated network.
#[derive(Clone, Debug)]
pub struct Net {
    /// One-way delay, uniform in [min, max] ms.
    pub delay_ms: (u64, u64),
    /// Probability that a message is lost.
    pub loss: f64,
    /// During [from, until) ms, the listed nodes hear no one and no one hears them.
    pub partitions: Vec<(u64, u64, Vec<usize>)>,
}

impl Default for Net {
    fn default() -> Self {
        Net {
            delay_ms: (5, 50),
            loss: 0.0,
            partitions: Vec::new(),
        }
    }
}

pub struct Node {
    pub role: Role,
    pub identity: Arc<Identity>,
    pub engine: Option<Engine>,
    pub boot: u64,
    /// The write-ahead log: what the engine asked to persist, by height.
    pub wal: Vec<(u64, Vec<u8>)>,
    pub decided: BTreeMap<u64, (Certificate, Batch)>,
    pub decided_at: BTreeMap<u64, u64>,
    pub evidence: Vec<Equivocation>,
    pub received: Vec<Arc<Vec<u8>>>,
    pub cancelled: HashSet<Timer>,
    pub catching_up: HashSet<u64>,
    pub height_started_at: u64,
}

enum Item {
    Deliver {
        to: usize,
        bytes: Arc<Vec<u8>>,
    },
    Timer {
        node: usize,
        boot: u64,
        timer: Timer,
    },
    CatchUp {
        node: usize,
        boot: u64,
        height: u64,
    },
    Submit {
        node: usize,
        envelope: Box<Envelope>,
    },
    Crash {
        node: usize,
    },
    Restart {
        node: usize,
    },
}

pub struct Sim {
    pub rng: Rng,
    pub now_ms: u64,
    queue: BinaryHeap<Reverse<(u64, u64)>>,
    items: HashMap<u64, Item>,
    seq: u64,
    pub nodes: Vec<Node>,
    pub document: Arc<FederationDocument>,
    pub gates: Arc<GateChain>,
    pub net: Net,
    /// Heights to decide: nodes stop starting new heights after this one.
    pub target: u64,
    /// Every vote and proposal an honest node signed, by (signer, height, round, step): a second,
    /// different one is a double signature.
    signed: HashMap<([u8; 32], u64, u32, u8), Vec<u8>>,
    /// Messages put on the wire (one per recipient), and bytes.
    pub messages: u64,
    pub bytes: u64,
    /// Envelopes submitted, by id.
    pub submitted: Vec<String>,
}

pub fn document(n: usize, timeouts: Timeouts) -> (Arc<FederationDocument>, Vec<Arc<Identity>>) {
    let ids: Vec<Arc<Identity>> = (0..n)
        .map(|i| {
            let mut seed = [0u8; 32];
            seed[..8].copy_from_slice(&(i as u64 + 1).to_le_bytes());
            Arc::new(Identity::from_seed(&seed).unwrap())
        })
        .collect();
    let validators = ids
        .iter()
        .map(|id| Validator::new(id.public_key(), 1).unwrap())
        .collect();
    let doc = FederationDocument::new("sim", 1, validators, timeouts).unwrap();
    (Arc::new(doc), ids)
}

/// Timeouts for a LAN-like simulated network (the document's defaults are for real networks).
pub fn lan_timeouts() -> Timeouts {
    Timeouts {
        propose: Duration::from_millis(300),
        prevote: Duration::from_millis(150),
        precommit: Duration::from_millis(150),
        delta: Duration::from_millis(100),
        rebroadcast: Duration::from_millis(500),
    }
}

pub fn proposal_envelope(id: &Identity, n: u64, ihsan: f64, at_ms: i64) -> Envelope {
    Envelope::builder(json!({"type": "bizra.proposal", "n": n}))
        .snr(0.9)
        .ihsan(ihsan)
        .ttl(3600)
        .timestamp(Timestamp::from_unix_millis(at_ms).unwrap())
        .sign(id)
        .unwrap()
}

impl Sim {
    pub fn new(seed: u64, roles: &[Role], net: Net, target: u64) -> Self {
        Self::with_timeouts(seed, roles, net, target, lan_timeouts())
    }

    pub fn with_timeouts(
        seed: u64,
        roles: &[Role],
        net: Net,
        target: u64,
        timeouts: Timeouts,
    ) -> Self {
        let (document, ids) = document(roles.len(), timeouts);
        let gates = Arc::new(GateChain::default());
        let nodes = roles
            .iter()
            .zip(ids)
            .map(|(&role, identity)| Node {
                role,
                identity,
                engine: None,
                boot: 0,
                wal: Vec::new(),
                decided: BTreeMap::new(),
                decided_at: BTreeMap::new(),
                evidence: Vec::new(),
                received: Vec::new(),
                cancelled: HashSet::new(),
                catching_up: HashSet::new(),
                height_started_at: 0,
            })
            .collect();
        let mut sim = Sim {
            rng: Rng::new(seed),
            now_ms: 0,
            queue: BinaryHeap::new(),
            items: HashMap::new(),
            seq: 0,
            nodes,
            document,
            gates,
            net,
            target,
            signed: HashMap::new(),
            messages: 0,
            bytes: 0,
            submitted: Vec::new(),
        };
        for i in 0..sim.nodes.len() {
            let engine = Engine::new(sim.config(i)).unwrap();
            sim.nodes[i].engine = Some(engine);
            let now = sim.now();
            sim.nodes[i]
                .engine
                .as_mut()
                .unwrap()
                .start_height(1, now)
                .unwrap();
            sim.drain(i);
        }
        sim
    }

    pub fn config(&self, i: usize) -> EngineConfig {
        EngineConfig {
            document: self.document.clone(),
            identity: Some(self.nodes[i].identity.clone()),
            gates: self.gates.clone(),
        }
    }

    pub fn now(&self) -> Timestamp {
        Timestamp::from_unix_millis(EPOCH_MS + self.now_ms as i64).unwrap()
    }

    pub fn honest(&self) -> Vec<usize> {
        (0..self.nodes.len())
            .filter(|&i| self.nodes[i].role == Role::Honest)
            .collect()
    }

    fn push(&mut self, at: u64, item: Item) {
        self.seq += 1;
        self.items.insert(self.seq, item);
        self.queue.push(Reverse((at, self.seq)));
    }

    /// Submits `count` valid proposals to random honest nodes at random times in [0, within).
    pub fn submit_random(&mut self, count: u64, within_ms: u64) {
        let honest = self.honest();
        for n in 0..count {
            let node = honest[self.rng.below(honest.len() as u64) as usize];
            let at = self.rng.below(within_ms);
            let author = Identity::from_seed(&self.rng.bytes32()).unwrap();
            let envelope = proposal_envelope(&author, n, 0.96, EPOCH_MS + at as i64);
            self.submitted.push(envelope.id().to_string());
            self.push(
                at,
                Item::Submit {
                    node,
                    envelope: Box::new(envelope),
                },
            );
        }
    }

    pub fn crash_at(&mut self, node: usize, at: u64, restart_after: u64) {
        self.push(at, Item::Crash { node });
        self.push(at + restart_after, Item::Restart { node });
    }

    fn partitioned(&self, a: usize, b: usize) -> bool {
        self.net.partitions.iter().any(|(from, until, set)| {
            (*from..*until).contains(&self.now_ms) && (set.contains(&a) != set.contains(&b))
        })
    }

    fn send(&mut self, from: usize, to: usize, bytes: Arc<Vec<u8>>) {
        if from == to || self.partitioned(from, to) || self.rng.chance(self.net.loss) {
            return;
        }
        self.messages += 1;
        self.bytes += bytes.len() as u64;
        let (lo, hi) = self.net.delay_ms;
        let at = self.now_ms + lo + self.rng.below(hi - lo + 1);
        self.push(at, Item::Deliver { to, bytes });
    }

    fn broadcast(&mut self, from: usize, bytes: Arc<Vec<u8>>) {
        for to in 0..self.nodes.len() {
            self.send(from, to, bytes.clone());
        }
    }

    /// Records what an honest node signed; a second, different message for the same signer,
    /// height, round and step is a double signature.
    fn check_signed(&mut self, bytes: &[u8]) {
        let (key, msg) = if let Some(v) = wire::parse_vote(bytes) {
            let step = if v.precommit { 2 } else { 1 };
            ((v.validator, v.height, v.round, step), bytes.to_vec())
        } else if let Some(p) = wire::parse_proposal(bytes) {
            ((p.proposer, p.height, p.round, 0), bytes.to_vec())
        } else {
            return;
        };
        if let Some(previous) = self.signed.get(&key) {
            assert_eq!(
                previous,
                &msg,
                "double signature by {:?} at height {} round {} step {}",
                &key.0[..4],
                key.1,
                key.2,
                key.3
            );
        } else {
            self.signed.insert(key, msg);
        }
    }

    /// Acts on every output of node `i`'s engine, as its runtime would.
    pub fn drain(&mut self, i: usize) {
        loop {
            let Some(engine) = self.nodes[i].engine.as_mut() else {
                return;
            };
            let Some(output) = engine.poll_output() else {
                return;
            };
            match output {
                Output::Persist(record) => self.nodes[i].wal.push((record.height, record.bytes)),
                Output::Broadcast(bytes) => self.outgoing(i, bytes),
                Output::Send { to, bytes } => {
                    let role = self.nodes[i].role;
                    let j = self
                        .nodes
                        .iter()
                        .position(|n| *n.identity.public_key() == to);
                    if let (Some(j), false) = (j, role == Role::Silent || role == Role::Garbage) {
                        self.send(i, j, Arc::new(bytes));
                    }
                }
                Output::Schedule { timer, after } => {
                    let at = self.now_ms + after.as_millis() as u64;
                    let boot = self.nodes[i].boot;
                    self.push(
                        at,
                        Item::Timer {
                            node: i,
                            boot,
                            timer,
                        },
                    );
                }
                Output::Cancel(timer) => {
                    self.nodes[i].cancelled.insert(timer);
                }
                Output::Decided { certificate, batch } => self.decided(i, certificate, batch),
                Output::Evidence(e) => self.nodes[i].evidence.push(e),
                Output::Behind { from, .. } => self.fetch(i, from),
            }
        }
    }

    fn decided(&mut self, i: usize, certificate: Certificate, batch: Batch) {
        let h = certificate.height();
        if self.nodes[i].role == Role::Honest {
            certificate
                .verify_batch(&batch, &self.document)
                .unwrap_or_else(|e| panic!("node {i}: the certificate of height {h}: {e}"));
            assert!(
                !self.nodes[i].decided.contains_key(&h),
                "node {i} decided height {h} twice"
            );
            batch
                .check(&self.gates, self.now())
                .unwrap_or_else(|e| panic!("node {i} decided an invalid batch at height {h}: {e}"));
        }
        self.nodes[i].decided.insert(h, (certificate, batch));
        self.nodes[i].decided_at.insert(h, self.now_ms);
        self.nodes[i].wal.retain(|(rh, _)| *rh > h);
        if h < self.target {
            let now = self.now();
            self.nodes[i].height_started_at = self.now_ms;
            let engine = self.nodes[i].engine.as_mut().unwrap();
            if engine.height() <= h {
                engine.start_height(h + 1, now).unwrap();
            }
        }
    }

    /// A node is behind: its runtime asks a peer for the certificate of `height` (served by the
    /// first honest node that has it), delivered after a round trip.
    fn fetch(&mut self, i: usize, height: u64) {
        if !self.nodes[i].catching_up.insert(height) {
            return;
        }
        let (lo, hi) = self.net.delay_ms;
        let at = self.now_ms + 2 * (lo + self.rng.below(hi - lo + 1));
        let boot = self.nodes[i].boot;
        self.push(
            at,
            Item::CatchUp {
                node: i,
                boot,
                height,
            },
        );
    }

    /// What node `i` puts on the wire for a message its engine broadcast, by its role.
    fn outgoing(&mut self, i: usize, bytes: Vec<u8>) {
        let role = self.nodes[i].role;
        if role == Role::Honest {
            self.check_signed(&bytes);
        }
        let bytes = Arc::new(bytes);
        match role {
            Role::Honest => self.broadcast(i, bytes),
            Role::Silent => {}
            Role::WithholdPrecommits => {
                if !wire::parse_vote(&bytes).is_some_and(|v| v.precommit) {
                    self.broadcast(i, bytes);
                }
            }
            Role::Replayer => {
                self.broadcast(i, bytes);
                for _ in 0..2 {
                    let seen = self.nodes[i].received.len() as u64;
                    if seen > 0 {
                        let old = self.nodes[i].received[self.rng.below(seen) as usize].clone();
                        self.broadcast(i, old);
                    }
                }
            }
            Role::Equivocator => self.equivocate(i, bytes),
            Role::Garbage => self.garbage(i, &bytes),
            Role::LowIhsanProposer | Role::UnsortedProposer => match wire::parse_proposal(&bytes) {
                Some(p) => self.bad_proposal(i, p, role),
                None => self.broadcast(i, bytes),
            },
        }
    }

    fn identity(&self, i: usize) -> Arc<Identity> {
        self.nodes[i].identity.clone()
    }

    /// Sends `bytes` to a random half of the federation and a conflicting version, also
    /// signed, to the other half (and both to one node, so that someone holds the pair).
    fn equivocate(&mut self, i: usize, bytes: Arc<Vec<u8>>) {
        let id = self.identity(i);
        let (fed, epoch) = (
            self.document.federation().to_string(),
            self.document.epoch(),
        );
        let other: Vec<u8> = if let Some(mut v) = wire::parse_vote(&bytes) {
            v.value = match v.value {
                Some(_) => None,
                None => Some(self.rng.bytes32()),
            };
            wire::sign_vote(&mut v, &id, &fed, epoch);
            wire::encode_vote(&v)
        } else if let Some(mut p) = wire::parse_proposal(&bytes) {
            let extra = proposal_envelope(
                &id,
                self.rng.next() >> 12,
                0.96,
                EPOCH_MS + self.now_ms as i64,
            );
            let mut envelopes = Batch::from_json(&p.batch).unwrap().envelopes().to_vec();
            envelopes.push(extra);
            let batch = Batch::new(envelopes).unwrap();
            p.batch = batch.to_json().to_string();
            wire::sign_proposal(&mut p, batch.id(), &id, &fed, epoch);
            wire::encode_proposal(&p)
        } else {
            return self.broadcast(i, bytes);
        };
        let other = Arc::new(other);
        let both = self.rng.below(self.nodes.len() as u64) as usize;
        for to in 0..self.nodes.len() {
            if to == both {
                self.send(i, to, bytes.clone());
                self.send(i, to, other.clone());
            } else if self.rng.chance(0.5) {
                self.send(i, to, bytes.clone());
            } else {
                self.send(i, to, other.clone());
            }
        }
    }

    /// Instead of its message: the message with a flipped signature bit, random bytes, a
    /// truncated copy, and a vote signed by a key that is not a validator.
    fn garbage(&mut self, i: usize, bytes: &[u8]) {
        let mut flipped = bytes.to_vec();
        let last = flipped.len() - 1;
        if let Some(v) = wire::parse_vote(bytes) {
            let mut v2 = v.clone();
            v2.signature[7] ^= 0x20;
            flipped = wire::encode_vote(&v2);
            let stranger = Identity::from_seed(&self.rng.bytes32()).unwrap();
            let mut forged = v.clone();
            forged.validator = *stranger.public_key();
            wire::sign_vote(
                &mut forged,
                &stranger,
                self.document.federation(),
                self.document.epoch(),
            );
            self.broadcast(i, Arc::new(wire::encode_vote(&forged)));
        } else {
            flipped[last] ^= 1;
        }
        self.broadcast(i, Arc::new(flipped));
        let len = 1 + self.rng.below(300) as usize;
        let random: Vec<u8> = (0..len).map(|_| self.rng.next() as u8).collect();
        self.broadcast(i, Arc::new(random));
        let cut = self.rng.below(bytes.len() as u64) as usize;
        self.broadcast(i, Arc::new(bytes[..cut].to_vec()));
    }

    /// Replaces the node's proposal by one of an invalid batch, validly signed.
    fn bad_proposal(&mut self, i: usize, mut p: ProposalMsg, role: Role) {
        let id = self.identity(i);
        let at = EPOCH_MS + self.now_ms as i64;
        let good = proposal_envelope(&id, self.rng.next() >> 12, 0.96, at);
        let fed = self.document.federation().to_string();
        let epoch = self.document.epoch();
        if role == Role::LowIhsanProposer {
            let low = proposal_envelope(&id, self.rng.next() >> 12, 0.5, at);
            let batch = Batch::new(vec![good, low]).unwrap();
            p.batch = batch.to_json().to_string();
            wire::sign_proposal(&mut p, batch.id(), &id, &fed, epoch);
        } else {
            let other = proposal_envelope(&id, self.rng.next() >> 12, 0.96, at);
            let batch = Batch::new(vec![good, other]).unwrap();
            let e = batch.envelopes();
            p.batch = format!("[{},{}]", e[1].to_json(), e[0].to_json());
            wire::sign_proposal(&mut p, batch.id(), &id, &fed, epoch);
        }
        self.broadcast(i, Arc::new(wire::encode_proposal(&p)));
    }

    /// Runs until `done` holds (checked after every event) or `deadline_ms` passes; returns
    /// whether `done` held.
    pub fn run_until(&mut self, deadline_ms: u64, done: impl Fn(&Sim) -> bool) -> bool {
        while let Some(Reverse((at, seq))) = self.queue.pop() {
            if at > deadline_ms {
                self.queue.push(Reverse((at, seq)));
                self.now_ms = deadline_ms;
                return done(self);
            }
            self.now_ms = at;
            let Some(item) = self.items.remove(&seq) else {
                continue;
            };
            self.step(item);
            if done(self) {
                return true;
            }
        }
        done(self)
    }

    fn step(&mut self, item: Item) {
        let now = self.now();
        match item {
            Item::Deliver { to, bytes } => {
                let Some(engine) = self.nodes[to].engine.as_mut() else {
                    return;
                };
                let _ = engine.receive(&bytes, now);
                if self.nodes[to].role == Role::Replayer {
                    self.nodes[to].received.push(bytes);
                }
                self.drain(to);
            }
            Item::Timer { node, boot, timer } => {
                if boot != self.nodes[node].boot || self.nodes[node].cancelled.remove(&timer) {
                    return;
                }
                if let Some(engine) = self.nodes[node].engine.as_mut() {
                    engine.handle_timer(timer, now).unwrap();
                    self.drain(node);
                }
            }
            Item::CatchUp { node, boot, height } => {
                self.nodes[node].catching_up.remove(&height);
                if boot != self.nodes[node].boot {
                    return;
                }
                let source = self
                    .honest()
                    .into_iter()
                    .find_map(|j| self.nodes[j].decided.get(&height).cloned());
                let (Some((certificate, batch)), Some(engine)) =
                    (source, self.nodes[node].engine.as_mut())
                else {
                    return;
                };
                engine.catch_up(&certificate, &batch, now).unwrap();
                self.drain(node);
            }
            Item::Submit { node, envelope } => {
                if let Some(engine) = self.nodes[node].engine.as_mut() {
                    let _ = engine.propose(*envelope, now);
                    self.drain(node);
                }
            }
            Item::Crash { node } => {
                self.nodes[node].engine = None;
                self.nodes[node].boot += 1;
                self.nodes[node].cancelled.clear();
            }
            Item::Restart { node } => self.restart(node),
        }
    }

    /// Rebuilds a crashed node from what it persisted: its decided heights and its log.
    pub fn restart(&mut self, node: usize) {
        let now = self.now();
        let height = self.nodes[node]
            .decided
            .keys()
            .next_back()
            .map_or(1, |h| h + 1);
        let records: Vec<Vec<u8>> = self.nodes[node]
            .wal
            .iter()
            .filter(|(h, _)| *h == height)
            .map(|(_, b)| b.clone())
            .collect();
        let mut engine = Engine::recover(self.config(node), height, &records, now).unwrap();
        for (_, batch) in self.nodes[node].decided.values() {
            engine.remember_decided(batch, now);
        }
        self.nodes[node].engine = Some(engine);
        self.nodes[node].height_started_at = self.now_ms;
        self.drain(node);
    }

    /// Whether every honest node decided every height up to the target.
    pub fn all_decided(&self) -> bool {
        self.honest()
            .iter()
            .all(|&i| self.nodes[i].decided.contains_key(&self.target))
    }

    /// Agreement and validity over everything decided so far: at each height every honest node
    /// decided the same batch, which passes the gate chain and holds no proposal decided at an
    /// earlier height, and whose certificate verifies.
    pub fn check_safety(&self) {
        let mut by_height: BTreeMap<u64, &Batch> = BTreeMap::new();
        for i in self.honest() {
            for (h, (cert, batch)) in &self.nodes[i].decided {
                cert.verify_batch(batch, &self.document).unwrap();
                if let Some(other) = by_height.get(h) {
                    assert_eq!(
                        other.id(),
                        batch.id(),
                        "honest nodes decided different batches at height {h}"
                    );
                } else {
                    by_height.insert(*h, batch);
                }
            }
        }
        let mut seen = HashSet::new();
        for (h, batch) in by_height {
            for e in batch.envelopes() {
                let ihsan = e.scores().ihsan.unwrap_or(0.0);
                assert!(
                    ihsan >= 0.95,
                    "height {h} decided a proposal of Ihsan {ihsan}"
                );
                assert!(
                    seen.insert(e.id().to_string()),
                    "proposal {} decided twice (again at height {h})",
                    e.id()
                );
            }
        }
    }

    /// The votes of `v`'s signer decoded from honest nodes' broadcasts.
    pub fn signed_votes(&self) -> impl Iterator<Item = VoteMsg> + '_ {
        self.signed.values().filter_map(|b| wire::parse_vote(b))
    }
}
