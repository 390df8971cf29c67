//! The membership in a deterministic simulation: seeded loss, delay, reordering and partitions,
//! hundreds of seeds a run. Properties: every live node eventually sees every other; a stopped
//! node is declared down by all within the configured bound; no live node is declared down when
//! the network only loses datagrams (10%); a partition heals; a restarted node (new generation)
//! is accepted; a node outside the allowlist never appears; a graceful leave is seen as such; a
//! federation restored from a member list is converged at once and stays so.

mod sim;

use bizra_federation::{Admission, EventKind, MemberState, MembershipConfig};
use sim::{Sim, T0};

fn config() -> MembershipConfig {
    MembershipConfig::new("simulation")
}

/// `n` nodes; every one joins through node 0 at a random moment of the first second.
fn cluster(seed: u64, n: usize, config: MembershipConfig) -> Sim {
    let mut s = Sim::new(seed, config);
    for _ in 0..n {
        s.add();
    }
    for i in 0..n {
        let at = T0 + (s.rng.next() % 1000) as i64;
        s.run_until(at.max(s.now));
        s.join(i, &[0]);
    }
    s
}

fn seeds() -> impl Iterator<Item = u64> {
    let base = std::env::var("BIZRA_SIM_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1);
    base..base + 200
}

#[test]
fn every_live_node_sees_every_other() {
    for seed in seeds() {
        let n = 3 + (seed % 6) as usize;
        let mut s = cluster(seed, n, config());
        s.loss = 0.05;
        s.delay_ms = (1, 40);
        // A node whose hello was lost asks again after `rejoin_interval`.
        assert!(
            s.run_until_converged(30_000).is_some(),
            "seed {seed}, {n} nodes: not converged"
        );
    }
}

#[test]
fn a_stopped_node_is_declared_down_by_all_within_the_bound() {
    for seed in seeds() {
        let n = 4 + (seed % 5) as usize;
        let cfg = config();
        let bound = cfg.timings.detection_bound(n as u32).as_millis() as i64;
        let mut s = cluster(seed, n, cfg);
        assert!(
            s.run_until_converged(15_000).is_some(),
            "seed {seed}: not converged before the kill"
        );
        let victim = 1 + (seed as usize % (n - 1));
        s.kill(victim);
        let killed_at = s.now;
        let mut detected = false;
        while s.now < killed_at + bound {
            s.run_for_ms(100);
            if s.live()
                .all(|(i, _)| s.state(i, victim) == Some(MemberState::Down))
            {
                detected = true;
                break;
            }
        }
        assert!(
            detected,
            "seed {seed}: node {victim} of {n} not declared down by all within {bound} ms"
        );
        for (i, _) in s.live() {
            assert!(s.events[i]
                .iter()
                .any(|e| e.kind == EventKind::Down && e.member.public_key == s.keys[victim]));
        }
    }
}

#[test]
fn loss_alone_declares_no_live_node_down() {
    for seed in seeds() {
        let n = 5 + (seed % 4) as usize;
        let mut s = cluster(seed, n, config());
        s.loss = 0.10;
        s.delay_ms = (1, 20);
        s.run_for_ms(60_000);
        for (i, _) in s.live() {
            let downs: Vec<_> = s.events[i]
                .iter()
                .filter(|e| e.kind == EventKind::Down)
                .collect();
            assert!(downs.is_empty(), "seed {seed}: node {i} declared {downs:?}");
        }
        assert!(
            s.run_until_converged(20_000).is_some(),
            "seed {seed}: not converged at 10% loss"
        );
    }
}

#[test]
fn a_partition_heals() {
    for seed in seeds().take(50) {
        let n = 6;
        let mut s = cluster(seed, n, config());
        s.run_for_ms(10_000);
        assert!(s.converged(), "seed {seed}");
        s.side = Some((0..n).map(|i| i < n / 2).collect());
        s.run_for_ms(30_000);
        // Each side declared the other down.
        assert_eq!(s.state(0, n - 1), Some(MemberState::Down), "seed {seed}");
        s.side = None;
        assert!(
            s.run_until_converged(40_000).is_some(),
            "seed {seed}: the partition did not heal"
        );
    }
}

#[test]
fn a_restarted_node_is_accepted_with_its_new_generation() {
    for seed in seeds().take(50) {
        let mut s = cluster(seed, 4, config());
        s.run_for_ms(10_000);
        let id = s.nodes[2].as_ref().map(|n| n.identity.clone()).unwrap();
        s.kill(2);
        s.run_for_ms(500);
        s.boot(2, id, 2 << 16);
        s.join(2, &[0]);
        assert!(s.run_until_converged(15_000).is_some(), "seed {seed}");
        let seen = s.nodes[0]
            .as_ref()
            .unwrap()
            .membership
            .members()
            .into_iter()
            .find(|m| m.public_key == s.keys[2])
            .unwrap();
        assert_eq!(seen.generation, 2 << 16, "seed {seed}");
    }
}

#[test]
fn a_node_outside_the_allowlist_never_appears() {
    for seed in seeds().take(50) {
        // Nodes 0–3 admitted; node 4 is not, and joins through node 0 anyway. A simulation
        // draws its keys from its seed, so a first one tells the keys of the second.
        let mut keys = Sim::new(seed, config());
        for _ in 0..5 {
            keys.add();
        }
        let mut cfg = config();
        cfg.admission = Admission::allow(keys.keys[..4].iter().copied());
        let mut s2 = Sim::new(seed, cfg);
        for _ in 0..5 {
            s2.add();
        }
        assert_eq!(s2.keys, keys.keys);
        for i in 0..5 {
            s2.join(i, &[0]);
        }
        s2.run_for_ms(20_000);
        for i in 0..4 {
            assert!(
                s2.state(i, 4).is_none(),
                "seed {seed}: node {i} lists the outsider"
            );
            for j in 0..4 {
                if i != j {
                    assert_eq!(s2.state(i, j), Some(MemberState::Alive), "seed {seed}");
                }
            }
            assert!(
                s2.nodes[i]
                    .as_ref()
                    .unwrap()
                    .membership
                    .drops()
                    .get(bizra_federation::DropReason::NotAdmitted)
                    > 0
                    || i != 0,
                "seed {seed}: the seed counted no refusal"
            );
        }
    }
}

#[test]
fn a_graceful_leave_is_seen_as_left() {
    for seed in seeds().take(50) {
        let mut s = cluster(seed, 5, config());
        s.run_for_ms(10_000);
        s.leave(3);
        s.run_for_ms(5_000);
        for (i, _) in s.live().filter(|(i, _)| *i != 3) {
            assert_eq!(
                s.state(i, 3),
                Some(MemberState::Left),
                "seed {seed}: node {i}"
            );
            assert!(s.events[i]
                .iter()
                .any(|e| e.kind == EventKind::Left && e.member.public_key == s.keys[3]));
        }
    }
}

#[test]
fn a_restored_federation_is_converged_and_stays_so() {
    for seed in seeds().take(10) {
        let n = 20 + (seed % 10) as usize;
        let mut s = Sim::new(seed, config());
        for _ in 0..n {
            s.add();
        }
        s.restore_all();
        assert!(s.converged(), "seed {seed}: not converged at once");
        // Loss makes members suspect for a while, never down.
        s.loss = 0.05;
        s.run_for_ms(20_000);
        for i in 0..n {
            for j in (0..n).filter(|&j| j != i) {
                assert!(
                    matches!(
                        s.state(i, j),
                        Some(MemberState::Alive | MemberState::Suspect)
                    ),
                    "seed {seed}: node {i} sees {j} {:?}",
                    s.state(i, j)
                );
            }
        }
        s.loss = 0.0;
        // A newcomer joins through one member and reaches every other.
        let joiner = s.add();
        s.join(joiner, &[0]);
        assert!(
            s.run_until_converged(30_000).is_some(),
            "seed {seed}: the newcomer was not seen by all"
        );
    }
}

#[test]
fn restore_skips_members_the_admission_refuses() {
    let mut keys = Sim::new(7, config());
    for _ in 0..4 {
        keys.add();
    }
    let mut cfg = config();
    cfg.admission = Admission::allow(keys.keys[..3].iter().copied());
    let mut s = Sim::new(7, cfg);
    for _ in 0..4 {
        s.add();
    }
    s.restore_all();
    for i in 0..3 {
        assert_eq!(s.state(i, 3), None, "node {i} lists the outsider");
        for j in 0..3 {
            if i != j {
                assert_eq!(s.state(i, j), Some(MemberState::Alive));
            }
        }
    }
}
