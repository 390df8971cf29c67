//! A federation of validators on loopback, in one process, for the consensus suites.

#![allow(dead_code)] // Each suite uses its part.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bizra_consensus::{Batch, Certificate, FederationDocument, Timeouts, Validator};
use bizra_protocol::{Envelope, GateChain, Identity};
use bizra_runtime::{ConsensusConfig, ConsensusEvent, Node, NodeConfig, Subscription, Timings};
use serde_json::json;

pub const FEDERATION: &str = "loopback";

pub fn timings() -> Timings {
    Timings {
        probe_period: Duration::from_millis(100),
        probe_rtt: Duration::from_millis(40),
        suspect_to_down_after: Duration::from_millis(500),
        remove_down_after: Duration::from_secs(60),
        gossip_interval: Duration::from_millis(30),
        announce_interval: Duration::from_secs(1),
        rejoin_interval: Duration::from_millis(500),
        max_clock_skew: Duration::from_secs(30),
    }
}

pub fn timeouts() -> Timeouts {
    Timeouts {
        propose: Duration::from_millis(300),
        prevote: Duration::from_millis(150),
        precommit: Duration::from_millis(150),
        delta: Duration::from_millis(50),
        rebroadcast: Duration::from_millis(300),
    }
}

/// A federation of `n` validators (power 1 each), and their identities.
pub fn federation(n: usize) -> (Arc<FederationDocument>, Vec<Arc<Identity>>) {
    let ids: Vec<Arc<Identity>> = (0..n).map(|_| Arc::new(Identity::generate())).collect();
    let validators = ids
        .iter()
        .map(|i| Validator::new(i.public_key(), 1).unwrap())
        .collect();
    let doc = FederationDocument::new(FEDERATION, 1, validators, timeouts()).unwrap();
    (Arc::new(doc), ids)
}

pub fn config(doc: &Arc<FederationDocument>, dir: &Path, seeds: &[SocketAddr]) -> NodeConfig {
    NodeConfig {
        bind: "127.0.0.1:0".parse().unwrap(),
        seeds: seeds.iter().map(|s| s.to_string()).collect(),
        federation: FEDERATION.into(),
        data_dir: Some(dir.to_path_buf()),
        timings: timings(),
        expected_members: 8,
        consensus: Some(ConsensusConfig {
            document: doc.clone(),
            gates: Arc::new(GateChain::default()),
        }),
        ..NodeConfig::default()
    }
}

pub struct Cluster {
    pub doc: Arc<FederationDocument>,
    pub ids: Vec<Arc<Identity>>,
    pub dirs: Vec<tempfile::TempDir>,
    pub nodes: Vec<Option<Node>>,
    pub seed: SocketAddr,
}

impl Cluster {
    /// `n` validators on loopback, all joined through the first.
    pub fn start(n: usize) -> Cluster {
        Cluster::start_first(n, n)
    }

    /// A federation of `n` validators of which the first `running` run as nodes (the others
    /// are left to the test).
    pub fn start_first(n: usize, running: usize) -> Cluster {
        let (doc, ids) = federation(n);
        let dirs: Vec<_> = (0..n).map(|_| tempfile::tempdir().unwrap()).collect();
        let first = Node::start(ids[0].clone(), config(&doc, dirs[0].path(), &[])).unwrap();
        let seed = first.local_addr();
        let mut nodes = vec![Some(first)];
        for i in 1..running {
            nodes.push(Some(
                Node::start(ids[i].clone(), config(&doc, dirs[i].path(), &[seed])).unwrap(),
            ));
        }
        Cluster {
            doc,
            ids,
            dirs,
            nodes,
            seed,
        }
    }

    pub fn node(&self, i: usize) -> &Node {
        self.nodes[i].as_ref().unwrap()
    }

    /// Starts validator `i` again from its data directory, joining through the nodes that run
    /// (the first node's address is gone if it was the one stopped).
    pub fn restart(&mut self, i: usize) {
        let seeds: Vec<SocketAddr> = self.running().map(Node::local_addr).collect();
        let node = Node::start(
            self.ids[i].clone(),
            config(&self.doc, self.dirs[i].path(), &seeds),
        )
        .unwrap();
        self.nodes[i] = Some(node);
    }

    /// The nodes that run.
    pub fn running(&self) -> impl Iterator<Item = &Node> {
        self.nodes.iter().flatten()
    }
}

pub fn proposal(by: &Identity, n: u64) -> Envelope {
    Envelope::builder(json!({"type": "bizra.proposal", "n": n}))
        .snr(0.9)
        .ihsan(0.97)
        .ttl(600)
        .sign(by)
        .unwrap()
}

/// Waits until `f` holds, for at most `limit`.
pub fn eventually(limit: Duration, mut f: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < limit {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    f()
}

/// The next decision on `events`, within `limit`.
pub fn next_decision(
    events: &Subscription<ConsensusEvent>,
    limit: Duration,
) -> Option<(Certificate, Batch)> {
    match events.recv_timeout(limit)? {
        ConsensusEvent::Decided { certificate, batch } => Some((certificate, batch)),
        ConsensusEvent::Evidence(e) => panic!("evidence among honest nodes: {e:?}"),
    }
}

/// Every decided height of every running node: the same batches, each certificate valid.
pub fn check_agreement(cluster: &Cluster) -> u64 {
    let decided: Vec<u64> = cluster
        .running()
        .map(|n| n.consensus_status().unwrap().decided)
        .collect();
    let top = *decided.iter().min().unwrap();
    for h in 1..=top {
        let mut values = HashSet::new();
        for node in cluster.running() {
            let (certificate, batch) = node.decided(h).unwrap().expect("a decided height");
            certificate.verify_batch(&batch, &cluster.doc).unwrap();
            values.insert(batch.id().to_hex());
        }
        assert_eq!(values.len(), 1, "height {h} was decided differently");
    }
    top
}
