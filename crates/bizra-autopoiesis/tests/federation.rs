//! Elevation through a real federation: four validators on loopback (three running, the fourth
//! joining late), each with its own store and elevator. A pattern settled on one node is
//! proposed, decided, and held as certified by every node, each proof checking against the
//! federation document; tampered decisions are refused and write nothing.

mod support;

#[path = "../../bizra-runtime/tests/cluster/mod.rs"]
mod cluster;

use std::sync::Arc;
use std::time::Duration;

use bizra_autopoiesis::{Elevation, ElevationPolicy, Elevator, Pattern, Store};
use bizra_consensus::Batch;
use bizra_protocol::{Envelope, ErrorKind, Identity, VerifyOptions};
use bizra_runtime::Node;
use cluster::{config, eventually, federation};
use serde_json::json;

const SETTLED: &str = "Rust's ownership rules prevent data races at compile time.";
const UNMEASURED: &str = "An unmeasured claim, however often repeated.";
const LIMIT: Duration = Duration::from_secs(60);

struct Member {
    node: Arc<Node>,
    store: Arc<Store>,
    elevator: Elevator,
    _dir: tempfile::TempDir,
}

fn member(
    doc: &Arc<bizra_consensus::FederationDocument>,
    id: &Arc<Identity>,
    seeds: &[std::net::SocketAddr],
) -> Member {
    let dir = tempfile::tempdir().unwrap();
    let node = Arc::new(Node::start(id.clone(), config(doc, dir.path(), seeds)).unwrap());
    let store = Arc::new(Store::in_memory().unwrap());
    let elevator = Elevator::start(
        store.clone(),
        node.clone(),
        id.clone(),
        ElevationPolicy::default(),
    )
    .unwrap();
    Member {
        node,
        store,
        elevator,
        _dir: dir,
    }
}

/// Learns `content` from three distinct envelopes (by three authors, SNR stated or not) and
/// gives it ten positive feedbacks: eligible under the default policy.
fn settle(store: &Store, content: &str, snr: Option<f64>) -> i64 {
    let mut pid = 0;
    for _ in 0..3 {
        let author = Identity::generate();
        let mut b = Envelope::builder(json!({"type": "bizra.pattern", "content": content}));
        if let Some(s) = snr {
            b = b.snr(s);
        }
        pid = store
            .learn(
                &b.sign(&author).unwrap(),
                &[0.8, 0.6, 0.0],
                &["rust"],
                &VerifyOptions::default(),
            )
            .unwrap()
            .id();
    }
    for _ in 0..10 {
        store.feedback(pid, true).unwrap();
    }
    pid
}

fn certified(store: &Store, content: &str) -> Option<Pattern> {
    store
        .elevated()
        .unwrap()
        .into_iter()
        .find(|p| p.content == content && matches!(p.elevation, Elevation::Certified { .. }))
}

#[test]
fn a_settled_pattern_is_certified_on_every_node_and_a_late_joiner_gets_it_with_its_proof() {
    let (doc, ids) = federation(4);
    let first = member(&doc, &ids[0], &[]);
    let seed = first.node.local_addr();
    let mut members = vec![first];
    for id in &ids[1..3] {
        members.push(member(&doc, id, &[seed]));
    }

    let pid = settle(&members[0].store, SETTLED, Some(0.9));
    let unmeasured = settle(&members[0].store, UNMEASURED, None);
    let proposer = members[0].store.get(pid).unwrap().unwrap();

    assert!(
        eventually(LIMIT, || members
            .iter()
            .all(|m| certified(&m.store, SETTLED).is_some())),
        "not certified everywhere: {:?}",
        members
            .iter()
            .map(|m| m.elevator.status())
            .collect::<Vec<_>>()
    );
    for m in &members {
        let p = certified(&m.store, SETTLED).unwrap();
        // Learned with the proposer's provenance and standing where the node did not hold it.
        assert_eq!(p.envelope_id, proposer.envelope_id);
        assert_eq!(p.embedding, proposer.embedding);
        assert_eq!(p.tags, ["rust"]);
        m.store.verify_elevation(p.id, &doc).unwrap();
        // The proof is the federation's: another federation's document refuses it.
        let (other, _) = federation(4);
        let e = m.store.verify_elevation(p.id, &other).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::CertificateRefused, "{e}");
    }
    // The proposer's pattern is the one certified (no duplicate), its counts kept.
    let mine = members[0].store.get(pid).unwrap().unwrap();
    assert!(matches!(mine.elevation, Elevation::Certified { .. }));
    assert_eq!(mine.observations, 3);
    assert_eq!(mine.positive, 10);
    for m in &members[1..] {
        let p = certified(&m.store, SETTLED).unwrap();
        assert_eq!(p.confidence, mine.confidence);
        assert_eq!(p.observations, 3);
    }

    // A pattern whose origin states no SNR is never proposed: the gate chain would refuse it.
    let status = members[0].elevator.status();
    assert!(status.proposed >= 1, "{status:?}");
    let why = status.last_error.clone().unwrap_or_default();
    assert!(
        why.contains(&format!("pattern {unmeasured}")) && why.contains("states no SNR"),
        "{status:?}"
    );
    assert!(members
        .iter()
        .all(|m| certified(&m.store, UNMEASURED).is_none()));

    // The fourth validator joins late: it catches up on the decided heights and holds the
    // pattern with the same proof.
    let late = member(&doc, &ids[3], &[seed]);
    assert!(
        eventually(LIMIT, || certified(&late.store, SETTLED).is_some()),
        "the late joiner did not get the pattern: {:?}",
        late.elevator.status()
    );
    let p = certified(&late.store, SETTLED).unwrap();
    late.store.verify_elevation(p.id, &doc).unwrap();
    let Elevation::Certified { height, .. } = p.elevation else {
        unreachable!()
    };
    let Elevation::Certified { height: h0, .. } = mine.elevation else {
        unreachable!()
    };
    assert_eq!(height, h0);
    assert!(late.elevator.status().applied_height >= height);

    // Tampered decisions are refused and write nothing: the certificate of that height over
    // another batch, and over the right batch under another federation's document.
    let (certificate, batch) = members[0].store.decision(height).unwrap().unwrap();
    let fresh = Store::in_memory().unwrap();
    let e = fresh
        .apply_decision(&certificate, &Batch::new(vec![]).unwrap(), &doc)
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::CertificateRefused, "{e}");
    assert!(e.to_string().contains(&format!("height {height}")), "{e}");
    let (other, _) = federation(4);
    let e = fresh
        .apply_decision(&certificate, &batch, &other)
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::CertificateRefused, "{e}");
    assert!(fresh.is_empty().unwrap());
    assert_eq!(fresh.applied_height().unwrap(), 0);

    // The genuine decision applies once; again, it changes nothing.
    let applied = fresh.apply_decision(&certificate, &batch, &doc).unwrap();
    assert_eq!(applied.height, height);
    assert_eq!(applied.elevated.len(), 1);
    assert!(applied.skipped.is_empty(), "{applied:?}");
    let again = fresh.apply_decision(&certificate, &batch, &doc).unwrap();
    assert!(again.elevated.is_empty());
    assert_eq!(fresh.len().unwrap(), 1);

    late.elevator.stop();
    for m in members {
        m.elevator.stop();
    }
}

#[test]
fn an_elevator_needs_a_node_in_consensus_and_its_own_key() {
    let id = Arc::new(Identity::generate());
    let node = Arc::new(
        Node::start(
            id.clone(),
            bizra_runtime::NodeConfig {
                bind: "127.0.0.1:0".parse().unwrap(),
                ..bizra_runtime::NodeConfig::default()
            },
        )
        .unwrap(),
    );
    let store = Arc::new(Store::in_memory().unwrap());
    let e = Elevator::start(store.clone(), node, id, ElevationPolicy::default()).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput);
    assert!(e.to_string().contains("no part in consensus"), "{e}");

    let (doc, ids) = federation(1);
    let dir = tempfile::tempdir().unwrap();
    let node = Arc::new(Node::start(ids[0].clone(), config(&doc, dir.path(), &[])).unwrap());
    let stranger = Arc::new(Identity::generate());
    let e = Elevator::start(store, node, stranger, ElevationPolicy::default()).unwrap_err();
    assert!(e.to_string().contains("is not the node's"), "{e}");
}
