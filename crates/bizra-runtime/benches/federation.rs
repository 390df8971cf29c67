//! `make bench-federation`: the membership on real loopback UDP, in one process, beside its
//! references.
//!
//! - Dissemination: the time for a new member's join to reach all N members (N = 10, 50), with
//!   0% and 1% of the datagrams dropped on purpose (the `fault-injection` feature), beside
//!   scalecube's published SWIM figure (3.48 s for N = 50) and the goal (≤ 2 s).
//! - Failure detection: from a member's stop to "down" at every other (N = 50), beside the
//!   configured bound (`Timings::detection_bound`).
//!
//! LAN timings (a probe a second, gossip every 200 ms). Each figure is the median of 3 runs.

#[path = "../../../benches/common/mod.rs"]
mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use bizra_protocol::Identity;
use bizra_runtime::{MemberState, Node, NodeConfig, Timings};
use common::machine;

fn config(name: &str, seeds: &[String], loss: f64, n: usize) -> NodeConfig {
    NodeConfig {
        bind: "127.0.0.1:0".parse().expect("address"),
        seeds: seeds.to_vec(),
        federation: name.into(),
        expected_members: n as u32,
        outgoing_loss: loss,
        ..NodeConfig::default()
    }
}

fn wait(limit: Duration, mut f: impl FnMut() -> bool) -> Option<Duration> {
    let start = Instant::now();
    while start.elapsed() < limit {
        if f() {
            return Some(start.elapsed());
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    None
}

fn alive_everywhere(nodes: &[Node], id: &str) -> bool {
    nodes.iter().all(|n| {
        n.members()
            .iter()
            .any(|m| m.node_id == id && m.state == MemberState::Alive)
    })
}

fn cluster(name: &str, n: usize, loss: f64) -> Vec<Node> {
    let first = Node::start(Arc::new(Identity::generate()), config(name, &[], loss, n))
        .expect("node starts");
    let seed = vec![first.local_addr().to_string()];
    let mut nodes = vec![first];
    for _ in 1..n {
        nodes.push(
            Node::start(Arc::new(Identity::generate()), config(name, &seed, loss, n))
                .expect("node starts"),
        );
    }
    let ok = wait(Duration::from_secs(60), || {
        nodes.iter().all(|a| {
            a.members()
                .iter()
                .filter(|m| m.state == MemberState::Alive)
                .count()
                == n - 1
        })
    });
    assert!(ok.is_some(), "{n} nodes did not converge within 60 s");
    nodes
}

/// The time for one more member's join to reach the `n - 1` already there.
fn dissemination(n: usize, loss: f64, run: usize) -> Duration {
    let name = format!("bench-join-{n}-{loss}-{run}");
    let nodes = cluster(&name, n - 1, loss);
    let seed = vec![nodes[0].local_addr().to_string()];
    let joiner = Node::start(
        Arc::new(Identity::generate()),
        config(&name, &seed, loss, n),
    )
    .expect("node starts");
    let id = joiner.node_id().to_owned();
    let t = wait(Duration::from_secs(60), || alive_everywhere(&nodes, &id))
        .expect("the join reached everyone within 60 s");
    for node in nodes {
        node.stop();
    }
    joiner.stop();
    t
}

/// The time from a member's stop to "down" at every other member.
fn detection(n: usize, run: usize) -> Duration {
    let mut nodes = cluster(&format!("bench-down-{n}-{run}"), n, 0.0);
    let victim = nodes.remove(n / 2);
    let id = victim.node_id().to_owned();
    let start = Instant::now();
    victim.stop();
    wait(Duration::from_secs(120), || {
        nodes.iter().all(|a| {
            a.members()
                .iter()
                .any(|m| m.node_id == id && m.state == MemberState::Down)
        })
    })
    .expect("declared down within 120 s");
    let t = start.elapsed();
    for node in nodes {
        node.stop();
    }
    t
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn main() {
    // `cargo bench` passes `--bench`; a filter other than ours skips this bench.
    if std::env::args()
        .skip(1)
        .any(|a| !a.starts_with('-') && !"federation".contains(a.as_str()))
    {
        return;
    }
    println!("bench federation: real loopback UDP, one process, LAN timings, median of 3 runs");
    println!("  machine: {}", machine());
    for (n, loss) in [(10, 0.0), (10, 0.01), (50, 0.0), (50, 0.01)] {
        let t = median((0..3).map(|r| dissemination(n, loss, r)).collect());
        println!(
            "  join reaches all {n:>2} members, {:>2.0}% loss: {:>6.2} s   (scalecube SWIM, N = 50: 3.48 s; goal <= 2 s)",
            loss * 100.0,
            t.as_secs_f64()
        );
    }
    let t = median((0..3).map(|r| detection(50, r)).collect());
    let bound = Timings::default().detection_bound(50);
    println!(
        "  stop to down at all 49 others:       {:>6.2} s   (configured bound {:.2} s)",
        t.as_secs_f64(),
        bound.as_secs_f64()
    );
}
