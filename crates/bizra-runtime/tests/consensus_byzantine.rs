//! Byzantine validators on real sockets: honest nodes beside validators written here as
//! adversaries, f of n (1 of 4, 2 of 7). Each adversary opens consensus links to the honest
//! nodes itself (the handshake and frames written again from their documentation in
//! `consensus/link.rs`, the messages from CONSENSUS-v1 by the simulation's independent encoder)
//! and then equivocates on every step it sees, proposes a batch holding a proposal below the
//! Ihsan threshold whenever its turn comes, replays old messages, and sends garbage and
//! mis-signed votes. The honest nodes decide every good proposal, agree at every height, never
//! decide a bad one, report the equivocations as evidence that verifies (and accuse no honest
//! validator), and count what they refused.

mod cluster;
mod link;
#[path = "../../bizra-consensus/tests/sim/wire.rs"]
#[allow(dead_code)]
mod wire;

use std::collections::HashSet;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bizra_consensus::{Batch, FederationDocument};
use bizra_protocol::{Envelope, Identity};
use bizra_runtime::ConsensusEvent;
use cluster::*;
use link::open_link;
use serde_json::json;
use wire::{ProposalMsg, VoteMsg};

fn write_frame(s: &mut TcpStream, kind: u8, body: &[u8]) {
    let mut frame = (1 + body.len() as u32).to_be_bytes().to_vec();
    frame.push(kind);
    frame.extend_from_slice(body);
    // A node that closed the link (after garbage) is reopened by the caller's next turn.
    let _ = s.write_all(&frame);
}

/// Reads a link's frames into `tx` until it closes.
fn read_frames(mut s: TcpStream, tx: Sender<Vec<u8>>) {
    loop {
        let mut head = [0u8; 5];
        if s.read_exact(&mut head).is_err() {
            return;
        }
        let n = u32::from_be_bytes([head[0], head[1], head[2], head[3]]) as usize;
        let mut body = vec![0u8; n - 1];
        if s.read_exact(&mut body).is_err() || tx.send(body).is_err() {
            return;
        }
    }
}

struct Adversary {
    id: Arc<Identity>,
    key: [u8; 32],
    hex: String,
    doc: Arc<FederationDocument>,
    links: Vec<TcpStream>,
    rx: Receiver<Vec<u8>>,
    seen: Vec<Vec<u8>>,
    equivocated: HashSet<(u64, u32, bool)>,
    proposed: HashSet<(u64, u32)>,
    bad_batch: Batch,
    garbage: u64,
}

impl Adversary {
    fn connect(
        id: Arc<Identity>,
        doc: Arc<FederationDocument>,
        peers: &[(SocketAddr, [u8; 32])],
    ) -> Self {
        let (tx, rx) = mpsc::channel();
        let mut links = Vec::new();
        for (i, (addr, key)) in peers.iter().enumerate() {
            let link = open_link(*addr, &id, key, i as u8 + 1);
            let reader = link.try_clone().unwrap();
            let tx = tx.clone();
            std::thread::spawn(move || read_frames(reader, tx));
            links.push(link);
        }
        let author = Identity::generate();
        let low = Envelope::builder(json!({"type": "bizra.proposal", "bad": true}))
            .snr(0.9)
            .ihsan(0.5)
            .ttl(600)
            .sign(&author)
            .unwrap();
        Adversary {
            key: *id.public_key(),
            hex: id.public_key_hex(),
            id,
            doc,
            links,
            rx,
            seen: Vec::new(),
            equivocated: HashSet::new(),
            proposed: HashSet::new(),
            bad_batch: Batch::new(vec![low]).unwrap(),
            garbage: 0,
        }
    }

    fn broadcast(&mut self, message: &[u8]) {
        for link in &mut self.links {
            write_frame(link, 1, message);
        }
    }

    /// Two validly signed votes for different values at the step of `v`.
    fn equivocate(&mut self, v: &VoteMsg) {
        if !self.equivocated.insert((v.height, v.round, v.precommit)) {
            return;
        }
        for value in [[0xaa; 32], [0xbb; 32]] {
            let mut mine = VoteMsg {
                value: Some(value),
                validator: self.key,
                ..v.clone()
            };
            wire::sign_vote(&mut mine, &self.id, FEDERATION, 1);
            self.broadcast(&wire::encode_vote(&mine));
        }
    }

    /// When its turn comes at `height` (this round or the next), a properly signed proposal of
    /// a batch that the gate chain must refuse.
    fn propose_bad(&mut self, height: u64, round: u32) {
        for r in [round, round + 1] {
            if self.doc.proposer(height, r).key_hex() != self.hex
                || !self.proposed.insert((height, r))
            {
                continue;
            }
            let mut p = ProposalMsg {
                height,
                round: r,
                pol_round: None,
                proposer: self.key,
                signature: [0; 64],
                batch: self.bad_batch.to_json().to_owned(),
            };
            let value = *self.bad_batch.id();
            wire::sign_proposal(&mut p, &value, &self.id, FEDERATION, 1);
            self.broadcast(&wire::encode_proposal(&p));
        }
    }

    /// Junk: random bytes, an honest vote with a flipped signature bit, and one of its own
    /// votes passed off as another validator's.
    fn send_garbage(&mut self) {
        self.garbage += 1;
        let junk: Vec<u8> = (0..64)
            .map(|i| (i as u64 * 31 + self.garbage * 7) as u8)
            .collect();
        self.broadcast(&junk);
        let honest_vote = self.seen.iter().rev().find_map(|m| wire::parse_vote(m));
        if let Some(mut v) = honest_vote {
            v.signature[5] ^= 1;
            self.broadcast(&wire::encode_vote(&v));
            let victim = v.validator;
            wire::sign_vote(&mut v, &self.id, FEDERATION, 1);
            v.validator = victim;
            self.broadcast(&wire::encode_vote(&v));
        }
    }

    fn replay(&mut self) {
        let old: Vec<Vec<u8>> = self.seen.iter().take(50).cloned().collect();
        for m in old {
            self.broadcast(&m);
        }
    }

    /// Misbehaves until `stop`; how many bad proposals and equivocations it sent.
    fn run(mut self, stop: &AtomicBool) -> (usize, usize) {
        let mut last_junk = Instant::now();
        while !stop.load(Ordering::Relaxed) {
            if let Ok(m) = self.rx.recv_timeout(Duration::from_millis(20)) {
                if let Some(v) = wire::parse_vote(&m) {
                    if v.validator != self.key {
                        self.propose_bad(v.height, v.round);
                        self.equivocate(&v);
                    }
                } else if let Some(p) = wire::parse_proposal(&m) {
                    self.propose_bad(p.height, p.round);
                }
                if self.seen.len() < 2_000 {
                    self.seen.push(m);
                }
            }
            if last_junk.elapsed() > Duration::from_millis(200) {
                last_junk = Instant::now();
                self.send_garbage();
                self.replay();
            }
        }
        (self.proposed.len(), self.equivocated.len())
    }
}

/// `n` validators of which the last `f` are adversaries: the honest ones decide a stream of
/// proposals safely beside them.
fn honest_validators_decide_beside(n: usize, f: usize) {
    let honest = n - f;
    let cluster = Cluster::start_first(n, honest);
    let events: Vec<_> = cluster.running().map(|n| n.consensus_events()).collect();
    let peers: Vec<(SocketAddr, [u8; 32])> = (0..honest)
        .map(|i| (cluster.node(i).local_addr(), *cluster.ids[i].public_key()))
        .collect();
    let adversaries: Vec<Adversary> = (honest..n)
        .map(|i| Adversary::connect(cluster.ids[i].clone(), cluster.doc.clone(), &peers))
        .collect();
    let bad_ids: HashSet<String> = adversaries
        .iter()
        .map(|a| a.bad_batch.envelopes()[0].id().to_owned())
        .collect();
    let adversary_keys: HashSet<String> = (honest..n)
        .map(|i| cluster.ids[i].public_key_hex())
        .collect();
    let stop = AtomicBool::new(false);
    std::thread::scope(|s| {
        let stop = &stop;
        let running: Vec<_> = adversaries
            .into_iter()
            .map(|a| s.spawn(move || a.run(stop)))
            .collect();
        assert!(eventually(Duration::from_secs(10), || {
            cluster
                .running()
                .all(|node| node.consensus_status().unwrap().linked == n - 1)
        }));
        let mut submitted = HashSet::new();
        for k in 0..12u64 {
            let at = k as usize % honest;
            let env = proposal(&cluster.ids[at], k);
            submitted.insert(env.id().to_owned());
            cluster.node(at).propose(env).unwrap();
            std::thread::sleep(Duration::from_millis(60));
        }
        let mut evidence = Vec::new();
        for (i, e) in events.iter().enumerate() {
            let mut decided = HashSet::new();
            let start = Instant::now();
            while decided.len() < submitted.len() {
                assert!(
                    start.elapsed() < Duration::from_secs(30),
                    "node {i} decided {} of {} proposals",
                    decided.len(),
                    submitted.len()
                );
                match e.recv_timeout(Duration::from_secs(1)) {
                    Some(ConsensusEvent::Decided { certificate, batch }) => {
                        certificate.verify_batch(&batch, &cluster.doc).unwrap();
                        for p in batch.envelopes() {
                            assert!(
                                !bad_ids.contains(p.id()),
                                "node {i} decided a low-Ihsan proposal"
                            );
                            decided.insert(p.id().to_owned());
                        }
                    }
                    Some(ConsensusEvent::Evidence(ev)) => evidence.push(ev),
                    None => {}
                }
            }
            assert_eq!(decided, submitted, "node {i}");
        }
        stop.store(true, Ordering::Relaxed);
        let (mut bad_proposals, mut equivocations) = (0, 0);
        for r in running {
            let (p, e) = r.join().unwrap();
            bad_proposals += p;
            equivocations += e;
        }
        assert!(bad_proposals > 0, "no adversary had a turn to propose");
        assert!(equivocations > 0);
        check_agreement(&cluster);
        assert!(!evidence.is_empty(), "no evidence of the equivocations");
        for e in &evidence {
            assert!(
                adversary_keys.contains(&e.validator),
                "an honest node was accused: {e:?}"
            );
            e.verify(&cluster.doc).unwrap();
        }
        for (i, node) in cluster.running().enumerate() {
            let status = node.consensus_status().unwrap();
            assert!(
                status.engine.refused > 0,
                "node {i} refused nothing: {status:?}"
            );
            assert!(
                status.engine.invalid_proposals > 0,
                "node {i} judged no bad batch: {status:?}"
            );
        }
    });
}

#[test]
fn three_honest_validators_decide_safely_beside_a_byzantine_one() {
    honest_validators_decide_beside(4, 1);
}

#[test]
fn five_honest_validators_decide_safely_beside_two_byzantine_ones() {
    honest_validators_decide_beside(7, 2);
}
