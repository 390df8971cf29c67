//! `make bench-consensus`: consensus between nodes on real loopback sockets, in one process,
//! beside the cost of the signature checks it cannot avoid.
//!
//! - Decision latency, n = 4 and 7 validators: from `propose` at one node (a different one
//!   each time) to the decision at every node, one proposal at a time; p50 and p99. Goal for
//!   n = 4: p50 ≤ 10 ms. Beside it: the signature checks on one node's critical path (the
//!   envelope when pooled, the proposal, a quorum of prevotes and of precommits).
//! - Throughput, n = 4: proposals decided per second when many are submitted at once (they are
//!   batched), beside the physical limit of these cores: every node checks every proposal
//!   (its signature among the gates) when it pools it, so the federation spends n gate-chain
//!   checks per proposal, spread over the machine's CPUs; the batch that holds it is judged
//!   again without the signature. Goal: ≥ 5,000/s.
//!
//! Every node writes its write-ahead log and decided heights to a temporary directory and syncs
//! them as in production.

#[path = "../../../benches/common/mod.rs"]
mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use bizra_consensus::{FederationDocument, Timeouts, Validator};
use bizra_protocol::hash::Domain;
use bizra_protocol::identity::PeerKey;
use bizra_protocol::{Envelope, GateChain, Identity, Timestamp};
use bizra_runtime::{ConsensusConfig, ConsensusEvent, Node, NodeConfig, Subscription, Timings};
use common::machine;
use serde_json::json;

struct Federation {
    nodes: Vec<Node>,
    events: Vec<Subscription<ConsensusEvent>>,
    _dirs: Vec<tempfile::TempDir>,
}

fn federation(n: usize) -> Federation {
    let ids: Vec<Arc<Identity>> = (0..n).map(|_| Arc::new(Identity::generate())).collect();
    let document = Arc::new(
        FederationDocument::new(
            "bench",
            1,
            ids.iter()
                .map(|i| Validator::new(i.public_key(), 1).expect("a validator"))
                .collect(),
            Timeouts {
                propose: Duration::from_millis(500),
                prevote: Duration::from_millis(200),
                precommit: Duration::from_millis(200),
                delta: Duration::from_millis(100),
                rebroadcast: Duration::from_millis(500),
            },
        )
        .expect("a document"),
    );
    let dirs: Vec<_> = (0..n)
        .map(|_| tempfile::tempdir().expect("a temporary directory"))
        .collect();
    let mut nodes: Vec<Node> = Vec::new();
    for (i, id) in ids.iter().enumerate() {
        let seeds = nodes
            .first()
            .map(|s| vec![s.local_addr().to_string()])
            .unwrap_or_default();
        let config = NodeConfig {
            bind: "127.0.0.1:0".parse().expect("an address"),
            seeds,
            federation: "bench".into(),
            data_dir: Some(dirs[i].path().to_path_buf()),
            timings: Timings {
                probe_period: Duration::from_millis(100),
                probe_rtt: Duration::from_millis(40),
                gossip_interval: Duration::from_millis(30),
                ..Timings::default()
            },
            consensus: Some(ConsensusConfig {
                document: document.clone(),
                gates: Arc::new(GateChain::default()),
            }),
            ..NodeConfig::default()
        };
        nodes.push(Node::start(id.clone(), config).expect("a node"));
    }
    let start = Instant::now();
    while nodes
        .iter()
        .any(|node| node.consensus_status().is_none_or(|s| s.linked < n - 1))
    {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "links did not come up"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    let events = nodes.iter().map(Node::consensus_events).collect();
    Federation {
        nodes,
        events,
        _dirs: dirs,
    }
}

fn proposals(count: usize) -> Vec<Envelope> {
    let author = Identity::generate();
    (0..count)
        .map(|n| {
            Envelope::builder(json!({"type": "bizra.proposal", "n": n}))
                .snr(0.9)
                .ihsan(0.97)
                .ttl(600)
                .sign(&author)
                .expect("an envelope")
        })
        .collect()
}

/// Waits for decisions at `events` until `count` proposals are decided; the number of heights
/// that needed more than one round.
fn decided(events: &Subscription<ConsensusEvent>, mut count: usize) -> u64 {
    let mut later_rounds = 0;
    while count > 0 {
        match events.recv_timeout(Duration::from_secs(60)) {
            Some(ConsensusEvent::Decided { certificate, batch }) => {
                count = count.saturating_sub(batch.envelopes().len());
                later_rounds += u64::from(certificate.round() > 0);
            }
            Some(ConsensusEvent::Evidence(_)) => {}
            None => panic!("no decision within a minute"),
        }
    }
    later_rounds
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

/// One gate-chain check of a proposal and one raw `verify_strict`, in microseconds.
fn check_costs() -> (f64, f64) {
    let envelopes = proposals(1000);
    let gates = GateChain::default();
    let now = Timestamp::now();
    let start = Instant::now();
    for e in &envelopes {
        assert!(gates.check_at(e, now).passed);
    }
    let gate = start.elapsed().as_secs_f64() * 1e6 / envelopes.len() as f64;
    let id = Identity::generate();
    let key = PeerKey::from_bytes(id.public_key()).expect("a key");
    let signature = id.sign_in(Domain::Vote, b"a vote's signed bytes");
    let start = Instant::now();
    for _ in 0..1000 {
        assert!(key.verify(Domain::Vote, b"a vote's signed bytes", &signature));
    }
    (gate, start.elapsed().as_secs_f64() * 1e6 / 1000.0)
}

fn latency(n: usize, samples: usize, gate_us: f64, verify_us: f64) {
    let fed = federation(n);
    let envelopes = proposals(samples + 5);
    let mut times = Vec::with_capacity(samples);
    for (i, envelope) in envelopes.into_iter().enumerate() {
        let start = Instant::now();
        fed.nodes[i % n].propose(envelope).expect("proposed");
        for events in &fed.events {
            decided(events, 1);
        }
        // The first few heights warm the links up.
        if i >= 5 {
            times.push(start.elapsed());
        }
    }
    times.sort();
    let quorum = 2 * n / 3 + 1;
    let path_ms = (gate_us + (1 + 2 * quorum) as f64 * verify_us) / 1000.0;
    println!(
        "  n = {n}: p50 {:>6.2} ms   p99 {:>6.2} ms   ({samples} decisions; signature checks on \
         one node's critical path: {path_ms:.2} ms){}",
        percentile(&times, 0.5).as_secs_f64() * 1e3,
        percentile(&times, 0.99).as_secs_f64() * 1e3,
        if n == 4 { "   goal p50 <= 10 ms" } else { "" }
    );
}

fn throughput(n: usize, count: usize, gate_us: f64) {
    let fed = federation(n);
    let envelopes = proposals(count);
    let start = Instant::now();
    let mut later_rounds = 0;
    std::thread::scope(|s| {
        let chunk = count.div_ceil(n);
        for (node, part) in fed.nodes.iter().zip(envelopes.chunks(chunk)) {
            s.spawn(move || {
                for e in part {
                    // Refused only while the pool is full: wait for a batch to be decided.
                    let deadline = Instant::now() + Duration::from_secs(60);
                    while let Err(err) = node.propose(e.clone()) {
                        assert!(Instant::now() < deadline, "{err}");
                        std::thread::sleep(Duration::from_millis(2));
                    }
                }
            });
        }
        later_rounds = decided(&fed.events[0], count);
    });
    let elapsed = start.elapsed().as_secs_f64();
    let heights = fed.nodes[0].consensus_status().map_or(0, |s| s.decided);
    let cpus = std::thread::available_parallelism().map_or(1, |c| c.get()) as f64;
    let limit = cpus * 1e6 / (n as f64 * gate_us);
    println!(
        "  n = {n}: {:>7.0} proposals/s ({count} in {elapsed:.2} s, {heights} heights, \
         {later_rounds} past round 0)   \
         physical limit of the signature checks: {limit:.0}/s   goal >= 5,000/s",
        count as f64 / elapsed
    );
}

fn main() {
    // `cargo bench` passes `--bench`; a filter other than ours skips this bench.
    if std::env::args()
        .skip(1)
        .any(|a| !a.starts_with('-') && !"consensus".contains(a.as_str()))
    {
        return;
    }
    let (gate_us, verify_us) = check_costs();
    println!("consensus on loopback (real TCP links, synced write-ahead logs)");
    println!("  machine: {}", machine());
    println!(
        "  one proposal's gate-chain check: {gate_us:.1} us; one raw verify_strict: \
         {verify_us:.1} us"
    );
    println!("decision latency, propose to decided at every node:");
    latency(4, 300, gate_us, verify_us);
    latency(7, 150, gate_us, verify_us);
    println!("throughput with batching:");
    throughput(4, 20_000, gate_us);
}
