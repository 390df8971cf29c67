//! Consensus across OS processes (`bizra-node --document`), over loopback: four validators
//! decide a stream of proposals made at any of them; one is killed with SIGKILL in the middle
//! of it and restarted from its data directory: it never signs twice (no node reports
//! evidence) and catches up; another is frozen (SIGSTOP: cut off from everyone) while the rest
//! decide, and catches up from certificates once it runs again. Every node decides the same
//! value at every height, and a certificate printed by one verifies in this process.

mod cluster;
mod proc;

use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

use bizra_consensus::{Certificate, FederationDocument, Validator};
use bizra_protocol::{Envelope, Identity};
use proc::Proc;
use serde_json::json;

const LIMIT: Duration = Duration::from_secs(30);

struct Federation {
    dir: tempfile::TempDir,
    document: FederationDocument,
}

impl Federation {
    fn new(n: usize) -> Federation {
        let dir = tempfile::tempdir().unwrap();
        let ids: Vec<Identity> = (0..n).map(|_| Identity::generate()).collect();
        for (i, id) in ids.iter().enumerate() {
            id.save(dir.path().join(format!("{i}.pem")), None).unwrap();
        }
        let document = FederationDocument::new(
            "processes-consensus",
            1,
            ids.iter()
                .map(|i| Validator::new(i.public_key(), 1).unwrap())
                .collect(),
            cluster::timeouts(),
        )
        .unwrap();
        std::fs::write(dir.path().join("document.json"), document.to_json()).unwrap();
        Federation { dir, document }
    }

    fn path(&self, name: &str) -> String {
        self.dir.path().join(name).to_str().unwrap().to_owned()
    }

    fn start(&self, i: usize, seed: Option<&str>) -> Proc {
        let (key, data, doc) = (
            self.path(&format!("{i}.pem")),
            self.path(&format!("{i}-data")),
            self.path("document.json"),
        );
        let mut args = vec!["--key", &key, "--data-dir", &data, "--document", &doc];
        if let Some(seed) = seed {
            args.extend(["--seed", seed]);
        }
        Proc::start(&args)
    }
}

fn proposal(by: &Identity, n: u64) -> String {
    Envelope::builder(json!({"type": "bizra.proposal", "n": n}))
        .snr(0.9)
        .ihsan(0.97)
        .ttl(600)
        .sign(by)
        .unwrap()
        .to_json()
}

/// `decided <height> <round> <value id> <proposals>` lines: height → (value id, proposals).
fn decisions(lines: &[String]) -> BTreeMap<u64, (String, usize)> {
    lines
        .iter()
        .filter_map(|l| {
            let f: Vec<&str> = l.strip_prefix("decided ")?.split(' ').collect();
            Some((f[0].parse().ok()?, (f[2].to_owned(), f[3].parse().ok()?)))
        })
        .collect()
}

fn wait_decided(p: &Proc, height: u64) -> bool {
    let prefix = format!("decided {height} ");
    p.wait_line(|l| l.starts_with(&prefix), LIMIT).is_some()
}

fn no_evidence(lines: &[String], who: &str) {
    let evidence: Vec<&String> = lines
        .iter()
        .filter(|l| l.starts_with("evidence "))
        .collect();
    assert!(evidence.is_empty(), "{who} saw equivocation: {evidence:?}");
}

#[test]
fn validators_in_processes_survive_kill_9_and_a_partition() {
    let fed = Federation::new(4);
    let author = Identity::generate();
    let mut nodes: Vec<Proc> = vec![fed.start(0, None)];
    let seed = nodes[0].addr.clone();
    for i in 1..4 {
        nodes.push(fed.start(i, Some(&seed)));
    }
    let mut proposed = 0u64;
    let mut propose = |p: &mut Proc| {
        proposed += 1;
        p.send(&format!("propose {}", proposal(&author, proposed)));
    };

    // A first decision at all four.
    propose(&mut nodes[1]);
    for p in &nodes {
        assert!(wait_decided(p, 1), "{} did not decide height 1", p.node_id);
    }

    // kill -9 of validator 3 while proposals stream in, some of them to it.
    for round in 0..12 {
        propose(&mut nodes[round % 4]);
    }
    std::thread::sleep(Duration::from_millis(30));
    let before_kill = nodes[3].lines_so_far(Duration::ZERO);
    drop(nodes.remove(3));
    for round in 0..6 {
        propose(&mut nodes[round % 3]);
    }
    nodes.push(fed.start(3, Some(&seed)));
    for round in 0..6 {
        propose(&mut nodes[round % 4]);
    }

    // Validator 2 frozen: cut off from everyone while the others decide.
    assert!(wait_decided(&nodes[0], 2));
    nodes[2].signal("STOP");
    let frozen_at = decisions(&nodes[0].lines_so_far(Duration::ZERO))
        .keys()
        .max()
        .copied()
        .unwrap_or(0);
    for _ in 0..4 {
        propose(&mut nodes[0]);
        std::thread::sleep(Duration::from_millis(100));
    }
    let decided_while_frozen = decisions(&nodes[0].lines_so_far(Duration::from_secs(2)))
        .keys()
        .max()
        .copied()
        .unwrap();
    assert!(
        decided_while_frozen > frozen_at,
        "three of four validators decided nothing while one was frozen"
    );
    nodes[2].signal("CONT");

    // Everyone reaches the last height; nobody saw a double signature.
    let mut top = 0;
    for p in &nodes {
        top = top.max(
            decisions(&p.lines_so_far(Duration::from_millis(500)))
                .keys()
                .max()
                .copied()
                .unwrap_or(0),
        );
    }
    for p in &nodes {
        assert!(
            wait_decided(p, top),
            "{} did not reach height {top}",
            p.node_id
        );
    }
    let mut all = Vec::new();
    for p in &nodes {
        let lines = p.lines_so_far(Duration::from_millis(200));
        no_evidence(&lines, &p.node_id);
        all.push(decisions(&lines));
    }
    no_evidence(&before_kill, "validator 3 before its kill");
    all.push(decisions(&before_kill));
    let mut heights: BTreeMap<u64, HashSet<String>> = BTreeMap::new();
    for d in &all {
        for (h, (value, _)) in d {
            heights.entry(*h).or_default().insert(value.clone());
        }
    }
    for (h, values) in &heights {
        assert_eq!(
            values.len(),
            1,
            "height {h} decided differently: {values:?}"
        );
    }
    // Every proposal decided once (node 0 saw every height).
    let total: usize = all[0].values().map(|(_, n)| n).sum();
    assert_eq!(
        total as u64, proposed,
        "decided proposals at node 0: {:?}",
        all[0]
    );

    // A certificate printed by a node verifies here, against the document alone.
    nodes[1].send(&format!("certificate {top}"));
    let line = nodes[1]
        .wait_line(|l| l.starts_with('{'), LIMIT)
        .expect("a certificate");
    let certificate = Certificate::from_json(&line).unwrap();
    certificate.verify(&fed.document).unwrap();
    assert_eq!(
        certificate.value().to_hex(),
        heights[&top].iter().next().unwrap().as_str()
    );
}
