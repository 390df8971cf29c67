//! Consensus between nodes on real sockets over loopback, in one process: validators decide
//! what is proposed at any of them, every certificate verifies, a follower decides along,
//! a stopped validator restarts from its data directory and catches up, and with more than
//! f validators down nothing is decided until they return.

mod cluster;

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use bizra_consensus::Certificate;
use bizra_protocol::{Envelope, Identity};
use bizra_runtime::{Node, NodeConfig};
use cluster::*;
use serde_json::json;

#[test]
fn four_validators_decide_a_proposal_made_at_any_of_them() {
    let cluster = Cluster::start(4);
    let events: Vec<_> = cluster.running().map(Node::consensus_events).collect();
    // Linked up and idle: nothing to decide, so nothing is (no empty heights).
    assert!(eventually(Duration::from_secs(10), || {
        cluster
            .running()
            .all(|n| n.consensus_status().unwrap().linked == 3)
    }));
    std::thread::sleep(Duration::from_millis(700));
    for node in cluster.running() {
        assert_eq!(node.consensus_status().unwrap().decided, 0);
    }
    let env = proposal(&cluster.ids[2], 1);
    assert!(cluster.node(2).propose(env.clone()).unwrap());
    for (i, e) in events.iter().enumerate() {
        let (certificate, batch) =
            next_decision(e, Duration::from_secs(20)).unwrap_or_else(|| panic!("node {i}"));
        assert_eq!(certificate.height(), 1);
        assert!(batch.envelopes().iter().any(|x| x.id() == env.id()));
        certificate.verify_batch(&batch, &cluster.doc).unwrap();
        let json = certificate.to_json();
        Certificate::from_json(&json)
            .unwrap()
            .verify(&cluster.doc)
            .unwrap();
    }
    // Proposed again: already decided, so never pooled again.
    assert!(!cluster.node(0).propose(env).unwrap_or(false));
    // Idle: no empty heights follow.
    std::thread::sleep(Duration::from_millis(600));
    for node in cluster.running() {
        let status = node.consensus_status().unwrap();
        assert_eq!(status.decided, 1, "{status:?}");
        assert!(status.validator);
        assert_eq!(status.linked, 3, "{status:?}");
    }
    assert_eq!(check_agreement(&cluster), 1);
}

#[test]
fn seven_validators_agree_on_every_height_of_a_stream_of_proposals() {
    let cluster = Cluster::start(7);
    let events = cluster.node(6).consensus_events();
    let mut ids = HashSet::new();
    for n in 0..40u64 {
        let at = (n % 7) as usize;
        let env = proposal(&cluster.ids[at], n);
        ids.insert(env.id().to_string());
        cluster.node(at).propose(env).unwrap();
        if n % 8 == 0 {
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    let mut decided = HashSet::new();
    while decided.len() < ids.len() {
        let Some((_, batch)) = next_decision(&events, Duration::from_secs(20)) else {
            panic!("only {} of {} proposals decided", decided.len(), ids.len());
        };
        decided.extend(batch.envelopes().iter().map(|e| e.id().to_string()));
    }
    assert_eq!(decided, ids);
    assert!(eventually(Duration::from_secs(10), || {
        let d: HashSet<u64> = cluster
            .running()
            .map(|n| n.consensus_status().unwrap().decided)
            .collect();
        d.len() == 1
    }));
    assert!(check_agreement(&cluster) >= 1);
}

#[test]
fn a_follower_decides_along_without_voting() {
    let cluster = Cluster::start(4);
    let dir = tempfile::tempdir().unwrap();
    let follower = Node::start(
        Arc::new(Identity::generate()),
        config(&cluster.doc, dir.path(), &[cluster.seed]),
    )
    .unwrap();
    let events = follower.consensus_events();
    assert!(eventually(Duration::from_secs(10), || {
        follower.consensus_status().unwrap().linked == 4
    }));
    cluster
        .node(1)
        .propose(proposal(&cluster.ids[1], 7))
        .unwrap();
    let (certificate, batch) = next_decision(&events, Duration::from_secs(20)).unwrap();
    certificate.verify_batch(&batch, &cluster.doc).unwrap();
    let status = follower.consensus_status().unwrap();
    assert!(!status.validator);
    assert_eq!(status.decided, 1);
    // A follower does not vote: the certificate holds validators' signatures only.
    for s in certificate.signatures() {
        assert!(cluster.doc.validator(&s.validator).is_some());
    }
}

#[test]
fn a_restarted_validator_resumes_from_its_data_dir_and_catches_up() {
    let mut cluster = Cluster::start(4);
    let events = cluster.node(0).consensus_events();
    cluster
        .node(0)
        .propose(proposal(&cluster.ids[0], 1))
        .unwrap();
    next_decision(&events, Duration::from_secs(20)).unwrap();
    // Validator 3 goes away; the other three (a quorum) go on deciding.
    cluster.nodes[3].take().unwrap().stop();
    for n in 2..5 {
        cluster
            .node(0)
            .propose(proposal(&cluster.ids[0], n))
            .unwrap();
        next_decision(&events, Duration::from_secs(20)).unwrap();
    }
    let top = cluster.node(0).consensus_status().unwrap().decided;
    assert!(top >= 2);
    cluster.restart(3);
    let node = cluster.node(3);
    assert!(
        eventually(Duration::from_secs(20), || {
            node.consensus_status().unwrap().decided >= top
        }),
        "the restarted validator did not catch up: {:?}",
        node.consensus_status()
    );
    assert!(check_agreement(&cluster) >= top);
    // It votes again: with another validator down, its vote is needed for a quorum.
    cluster.nodes[1].take().unwrap().stop();
    cluster
        .node(0)
        .propose(proposal(&cluster.ids[0], 99))
        .unwrap();
    let (certificate, _) = loop {
        let d = next_decision(&events, Duration::from_secs(20)).expect("a decision with 3 of 4");
        if d.0.height() > top {
            break d;
        }
    };
    let key3 = cluster.ids[3].public_key_hex();
    assert!(certificate.signatures().iter().any(|s| s.validator == key3));
}

#[test]
fn with_more_than_f_validators_down_nothing_is_decided_until_they_return() {
    let mut cluster = Cluster::start(4);
    cluster.nodes[2].take().unwrap().stop();
    cluster.nodes[3].take().unwrap().stop();
    let events = cluster.node(1).consensus_events();
    cluster
        .node(0)
        .propose(proposal(&cluster.ids[0], 1))
        .unwrap();
    assert!(next_decision(&events, Duration::from_secs(2)).is_none());
    assert_eq!(cluster.node(0).consensus_status().unwrap().decided, 0);
    // Validator 0 has voted at height 1 by now: stopped and restarted, it resumes that height
    // from its write-ahead log, re-deriving its votes (a different vote would reach validator 1
    // as evidence, which `next_decision` refuses).
    cluster.nodes[0].take().unwrap().stop();
    cluster.restart(0);
    cluster.restart(2);
    // The proposal waits in validator 1's pool (validator 0's was lost with its process, and
    // validator 2 was away when it was forwarded): it is decided once validator 1 proposes,
    // possibly after heights that others proposed empty.
    loop {
        let Some((certificate, batch)) = next_decision(&events, Duration::from_secs(20)) else {
            panic!(
                "nothing decided: {:?}",
                cluster
                    .running()
                    .map(|n| n.consensus_status())
                    .collect::<Vec<_>>()
            );
        };
        certificate.verify_batch(&batch, &cluster.doc).unwrap();
        if batch.envelopes().len() == 1 {
            break;
        }
        assert!(certificate.height() < 8, "the proposal was not decided");
    }
    check_agreement(&cluster);
}

#[test]
fn consensus_settings_are_checked_before_anything_starts() {
    let (doc, ids) = federation(4);
    let dir = tempfile::tempdir().unwrap();
    let mut c = config(&doc, dir.path(), &[]);
    c.federation = "another".into();
    let err = Node::start(ids[0].clone(), c).unwrap_err().to_string();
    assert!(
        err.contains("\"loopback\"") && err.contains("\"another\""),
        "{err}"
    );
    let mut c = config(&doc, dir.path(), &[]);
    c.data_dir = None;
    let err = Node::start(ids[0].clone(), c).unwrap_err().to_string();
    assert!(err.contains("data_dir"), "{err}");
    // A node without consensus says so.
    let plain = Node::start(
        ids[0].clone(),
        NodeConfig {
            bind: "127.0.0.1:0".parse().unwrap(),
            ..NodeConfig::default()
        },
    )
    .unwrap();
    let err = plain.propose(proposal(&ids[0], 1)).unwrap_err().to_string();
    assert!(err.contains("consensus"), "{err}");
    assert!(plain.consensus_status().is_none());
    assert!(plain
        .consensus_events()
        .recv_timeout(Duration::ZERO)
        .is_none());
    // Not a proposal.
    let node = Node::start(ids[0].clone(), config(&doc, dir.path(), &[])).unwrap();
    let other = Envelope::builder(json!({"type": "note"}))
        .snr(0.9)
        .ihsan(0.97)
        .sign(&ids[0])
        .unwrap();
    assert!(node.propose(other).is_err());
}
