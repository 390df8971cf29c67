//! Nodes on real UDP sockets over loopback, in one process: clusters of 3 and 10 converge; a
//! stopped member is detected; a restart with the same key and a new generation is accepted; a
//! graceful leave reaches every subscriber in order, also from a tokio runtime's thread; forged, replayed, truncated and oversized
//! datagrams from a raw socket are dropped and counted; a node outside the allowlist is never
//! admitted.

mod cluster;

use std::net::{SocketAddr, UdpSocket};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bizra_federation::datagram::{self, Header, Kind, MAX_DATAGRAM};
use bizra_federation::member::WireCodec;
use bizra_federation::MembershipConfig;
use bizra_protocol::Identity;
use bizra_runtime::{Admission, DropReason, EventKind, MemberState, Node, NodeConfig, Timings};
use cluster::eventually;

fn fast() -> Timings {
    Timings {
        probe_period: Duration::from_millis(100),
        probe_rtt: Duration::from_millis(40),
        suspect_to_down_after: Duration::from_millis(500),
        remove_down_after: Duration::from_secs(60),
        gossip_interval: Duration::from_millis(30),
        announce_interval: Duration::from_secs(2),
        rejoin_interval: Duration::from_millis(500),
        max_clock_skew: Duration::from_secs(30),
    }
}

fn config(federation: &str, seeds: &[SocketAddr]) -> NodeConfig {
    NodeConfig {
        bind: "127.0.0.1:0".parse().unwrap(),
        seeds: seeds.iter().map(|s| s.to_string()).collect(),
        federation: federation.into(),
        timings: fast(),
        expected_members: 10,
        ..NodeConfig::default()
    }
}

fn start(federation: &str, seeds: &[SocketAddr]) -> Node {
    Node::start(Arc::new(Identity::generate()), config(federation, seeds)).unwrap()
}

fn sees_alive(node: &Node, others: &[&Node]) -> bool {
    let members = node.members();
    others.iter().all(|o| {
        members
            .iter()
            .any(|m| m.node_id == o.node_id() && m.state == MemberState::Alive)
    })
}

fn converged(nodes: &[&Node]) -> bool {
    nodes.iter().enumerate().all(|(i, n)| {
        let others: Vec<&Node> = nodes
            .iter()
            .enumerate()
            .filter(|(j, _)| *j != i)
            .map(|(_, n)| *n)
            .collect();
        sees_alive(n, &others)
    })
}

#[test]
fn three_nodes_join_through_one_seed() {
    let a = start("three", &[]);
    let events = a.subscribe();
    let b = start("three", &[a.local_addr()]);
    let c = start("three", &[a.local_addr()]);
    assert!(eventually(Duration::from_secs(10), || converged(&[
        &a, &b, &c
    ])));
    let joined: Vec<String> =
        std::iter::from_fn(|| events.recv_timeout(Duration::from_millis(100)))
            .filter(|e| e.kind == EventKind::Joined)
            .map(|e| e.member.node_id)
            .collect();
    assert!(joined.contains(&b.node_id().to_owned()), "{joined:?}");
    assert!(joined.contains(&c.node_id().to_owned()), "{joined:?}");
    let m = a
        .members()
        .into_iter()
        .find(|m| m.node_id == b.node_id())
        .unwrap();
    assert_eq!(m.addr, b.local_addr());
    assert_eq!(m.generation, b.generation());
    assert!(m.last_heard_ms.is_some());
}

#[test]
fn ten_nodes_converge_and_a_stopped_one_is_declared_down_by_all() {
    let seed = start("ten", &[]);
    let mut nodes = vec![seed];
    for _ in 0..9 {
        let s = nodes[0].local_addr();
        nodes.push(start("ten", &[s]));
    }
    let refs: Vec<&Node> = nodes.iter().collect();
    assert!(eventually(Duration::from_secs(20), || converged(&refs)));
    let victim = nodes.remove(5);
    let victim_id = victim.node_id().to_owned();
    let bound = fast().detection_bound(10);
    let stopped = Instant::now();
    victim.stop();
    let detected = eventually(bound * 3, || {
        nodes.iter().all(|n| {
            n.members()
                .iter()
                .any(|m| m.node_id == victim_id && m.state == MemberState::Down)
        })
    });
    assert!(detected, "not declared down by all within {:?}", bound * 3);
    println!(
        "detected by all 9 in {:?} (bound {:?})",
        stopped.elapsed(),
        bound
    );
}

#[test]
fn a_restart_with_the_same_key_and_a_new_generation_is_accepted() {
    let dir = tempfile::tempdir().unwrap();
    let a = start("restart", &[]);
    let key = Arc::new(Identity::generate());
    let mut cfg = config("restart", &[a.local_addr()]);
    cfg.data_dir = Some(dir.path().to_owned());
    let b = Node::start(key.clone(), cfg.clone()).unwrap();
    let first = b.generation();
    assert!(eventually(Duration::from_secs(10), || sees_alive(
        &a,
        &[&b]
    )));
    b.stop();
    let b2 = Node::start(key, cfg).unwrap();
    assert!(b2.generation() > first);
    assert!(eventually(Duration::from_secs(10), || {
        a.members().iter().any(|m| {
            m.node_id == b2.node_id()
                && m.generation == b2.generation()
                && m.state == MemberState::Alive
        })
    }));
}

#[test]
fn a_graceful_leave_reaches_every_subscriber_in_order() {
    let a = start("leave", &[]);
    let first = a.subscribe();
    let second = a.subscribe();
    let b = start("leave", &[a.local_addr()]);
    assert!(eventually(Duration::from_secs(10), || sees_alive(
        &a,
        &[&b]
    )));
    let id = b.node_id().to_owned();
    b.leave();
    assert!(eventually(Duration::from_secs(5), || {
        a.members()
            .iter()
            .any(|m| m.node_id == id && m.state == MemberState::Left)
    }));
    let kinds = |s: &bizra_runtime::EventStream| -> Vec<EventKind> {
        std::iter::from_fn(|| s.recv_timeout(Duration::from_millis(200)))
            .filter(|e| e.member.node_id == id)
            .map(|e| e.kind)
            .collect()
    };
    let k1 = kinds(&first);
    assert_eq!(k1.first(), Some(&EventKind::Joined), "{k1:?}");
    assert_eq!(k1.last(), Some(&EventKind::Left), "{k1:?}");
    assert_eq!(kinds(&second), k1);
}

/// An application on tokio (an HTTP server holding the node) may drop or leave it on a runtime
/// thread: the goodbye is still sent, and nothing panics.
#[test]
fn a_node_dropped_on_a_tokio_runtime_thread_still_leaves() {
    let a = start("runtime-drop", &[]);
    let b = start("runtime-drop", &[a.local_addr()]);
    assert!(eventually(Duration::from_secs(10), || sees_alive(
        &a,
        &[&b]
    )));
    let id = b.node_id().to_owned();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async move { drop(b) });
    assert!(eventually(Duration::from_secs(5), || {
        a.members()
            .iter()
            .any(|m| m.node_id == id && m.state == MemberState::Left)
    }));
}

#[test]
fn hostile_datagrams_are_dropped_and_counted() {
    let a = start("hostile", &[]);
    let target = a.local_addr();
    let raw = UdpSocket::bind("127.0.0.1:0").unwrap();
    let me = raw.local_addr().unwrap();
    let attacker = Identity::generate();
    let federation = MembershipConfig::federation_id("hostile");
    let body = |generation| {
        let mut b = Vec::new();
        WireCodec::new(Admission::Open)
            .put_id(
                &bizra_federation::MemberId {
                    key: *attacker.public_key(),
                    generation,
                    addr: me,
                },
                &mut b,
            )
            .unwrap();
        b
    };
    let now = || {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis() as i64
    };
    let hello = |sequence, fed: [u8; 32], sent_at_ms| {
        datagram::seal(
            &attacker,
            &Header {
                kind: Kind::Hello,
                federation: fed,
                sender: *attacker.public_key(),
                generation: 1,
                sequence,
                sent_at_ms,
            },
            &body(1),
        )
        .unwrap()
    };
    let genuine = hello(1, federation, now());
    let mut forged = hello(2, federation, now());
    let last = forged.len() - 70;
    forged[last] ^= 1;
    let sends: Vec<Vec<u8>> = vec![
        genuine.clone(),                         // accepted (answered with a WELCOME)
        genuine.clone(),                         // replay
        forged,                                  // bad signature
        genuine[..50].to_vec(),                  // truncated
        vec![0u8; MAX_DATAGRAM + 50],            // oversize
        b"GET / HTTP/1.1\r\n\r\n".to_vec(),      // not gossip
        hello(3, [9; 32], now()),                // wrong federation
        hello(4, federation, now() - 3_600_000), // an hour old
    ];
    for d in &sends {
        raw.send_to(d, target).unwrap();
    }
    let expect = [
        (DropReason::Replay, 1),
        (DropReason::BadSignature, 1),
        (DropReason::Truncated, 1),
        (DropReason::Oversize, 1),
        (DropReason::NotGossip, 1),
        (DropReason::WrongFederation, 1),
        (DropReason::Stale, 1),
    ];
    assert!(
        eventually(Duration::from_secs(5), || {
            let s = a.stats();
            expect.iter().all(|(r, n)| s.dropped(*r) == *n)
        }),
        "{:?}",
        a.stats()
    );
    // The genuine hello was answered; nothing refused was.
    raw.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    let mut buf = [0u8; 2048];
    let (n, from) = raw.recv_from(&mut buf).unwrap();
    assert_eq!(from, target);
    let welcome = datagram::parse(&buf[..n]).unwrap();
    assert_eq!(welcome.header.kind, Kind::Welcome);
    raw.set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    assert!(
        raw.recv_from(&mut buf).is_err(),
        "a refused datagram was answered"
    );
    assert!(a.is_running());
}

#[test]
fn a_node_outside_the_allowlist_is_never_admitted() {
    let keys: Vec<Arc<Identity>> = (0..3).map(|_| Arc::new(Identity::generate())).collect();
    let allow = Admission::allow(keys.iter().map(|k| *k.public_key()));
    let mut cfg = config("closed", &[]);
    cfg.admission = allow.clone();
    let a = Node::start(keys[0].clone(), cfg).unwrap();
    let mut cfg = config("closed", &[a.local_addr()]);
    cfg.admission = allow;
    let b = Node::start(keys[1].clone(), cfg).unwrap();
    let outsider = start("closed", &[a.local_addr(), b.local_addr()]);
    assert!(eventually(Duration::from_secs(10), || converged(&[&a, &b])));
    std::thread::sleep(Duration::from_secs(2));
    for n in [&a, &b] {
        assert!(n.members().iter().all(|m| m.node_id != outsider.node_id()));
    }
    assert!(a.stats().dropped(DropReason::NotAdmitted) > 0);
    assert!(outsider.members().is_empty(), "{:?}", outsider.members());
}

#[test]
fn bad_configuration_is_a_clear_error() {
    let mut cfg = config("bad", &[]);
    cfg.seeds = vec!["no-port".into()];
    let e = Node::start(Arc::new(Identity::generate()), cfg).unwrap_err();
    assert!(e.to_string().contains("no-port"), "{e}");
    let a = start("bad", &[]);
    let mut cfg = config("bad", &[]);
    cfg.bind = a.local_addr();
    let e = Node::start(Arc::new(Identity::generate()), cfg).unwrap_err();
    assert!(e.to_string().contains(&a.local_addr().to_string()), "{e}");
    let mut cfg = config("bad", &[]);
    cfg.timings.probe_period = Duration::ZERO;
    let e = Node::start(Arc::new(Identity::generate()), cfg).unwrap_err();
    assert!(e.to_string().contains("probe_period"), "{e}");
    let mut cfg = config("bad", &[]);
    cfg.timings.probe_rtt = cfg.timings.probe_period;
    assert!(Node::start(Arc::new(Identity::generate()), cfg).is_err());
}
