//! The engine in a deterministic simulated federation: agreement, validity and liveness over
//! many seeds, with delay, loss, reordering, partitions, crashes and Byzantine validators.
//!
//! Each property runs over [`seeds`] seeds: 30 in release builds (`make test` runs
//! `cargo test --release`), 1 in debug builds, where Ed25519 is two orders of magnitude slower;
//! `BIZRA_SIM_SEEDS` overrides both. A failing seed is named in the panic and replays exactly.

#[path = "sim/mod.rs"]
mod harness;

use bizra_consensus::EquivocationKind;
use harness::{Net, Role, Sim};

fn seeds() -> u64 {
    std::env::var("BIZRA_SIM_SEEDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(if cfg!(debug_assertions) { 1 } else { 30 })
}

/// A lossy, jittery network in which one random node is cut off for a while.
fn rough_net(s: &mut harness::Rng, n: usize) -> Net {
    let isolated = s.below(n as u64) as usize;
    let from = s.below(2_000);
    Net {
        delay_ms: (2, 80),
        loss: 0.05,
        partitions: vec![(from, from + 500 + s.below(3_000), vec![isolated])],
    }
}

/// Runs `sim` to `target` heights at every honest node and checks agreement and validity.
fn decide_all(sim: &mut Sim, what: &str) {
    let ok = sim.run_until(300_000, Sim::all_decided);
    sim.check_safety();
    assert!(
        ok,
        "{what}: honest nodes did not all decide {} heights in 300 s of virtual time \
         (decided: {:?})",
        sim.target,
        sim.honest()
            .iter()
            .map(|&i| sim.nodes[i].decided.len())
            .collect::<Vec<_>>()
    );
}

#[test]
fn four_honest_validators_decide_every_submitted_proposal() {
    let mut s = Sim::new(1, &[Role::Honest; 4], Net::default(), 5);
    s.submit_random(10, 100);
    decide_all(&mut s, "seed 1");
    let decided: Vec<String> = s.nodes[0]
        .decided
        .values()
        .flat_map(|(_, b)| b.envelopes().iter().map(|e| e.id().to_string()))
        .collect();
    for id in &s.submitted {
        assert!(decided.contains(id), "proposal {id} was never decided");
    }
}

#[test]
fn honest_federations_agree_and_decide_despite_loss_reordering_and_partitions() {
    for seed in 0..seeds() {
        for n in [4, 7] {
            let mut rng = harness::Rng::new(seed * 31 + n as u64);
            let net = rough_net(&mut rng, n);
            let mut s = Sim::new(seed, &vec![Role::Honest; n], net, 6);
            s.submit_random(12, 1_500);
            decide_all(&mut s, &format!("seed {seed}, n = {n}"));
        }
    }
}

#[test]
fn byzantine_minorities_cannot_break_agreement_or_stop_the_honest() {
    let kinds = [
        Role::Silent,
        Role::WithholdPrecommits,
        Role::Equivocator,
        Role::Garbage,
        Role::Replayer,
        Role::LowIhsanProposer,
        Role::UnsortedProposer,
    ];
    for seed in 0..seeds() {
        // n = 4 tolerates one, n = 7 two: every kind in each place, in turn.
        for (k, &kind) in kinds.iter().enumerate() {
            let mut roles = vec![Role::Honest; 4];
            roles[(seed as usize + k) % 4] = kind;
            let mut s = Sim::new(seed, &roles, Net::default(), 6);
            s.net.loss = 0.02;
            s.submit_random(8, 1_000);
            decide_all(&mut s, &format!("seed {seed}, n = 4, {kind:?}"));
            check_role_effects(&s, kind);
        }
        let mut roles = vec![Role::Honest; 7];
        let a = kinds[seed as usize % kinds.len()];
        let b = kinds[(seed as usize + 3) % kinds.len()];
        roles[seed as usize % 7] = a;
        roles[(seed as usize + 4) % 7] = b;
        let mut s = Sim::new(seed, &roles, Net::default(), 6);
        s.net.loss = 0.02;
        s.submit_random(8, 1_000);
        decide_all(&mut s, &format!("seed {seed}, n = 7, {a:?} and {b:?}"));
    }
}

/// What each adversary must have caused at the honest nodes.
fn check_role_effects(s: &Sim, kind: Role) {
    let honest = s.honest();
    let byzantine = (0..s.nodes.len()).find(|i| !honest.contains(i)).unwrap();
    let key = s.nodes[byzantine].identity.public_key_hex();
    let stats = |f: fn(&bizra_consensus::Stats) -> u64| -> u64 {
        honest
            .iter()
            .map(|&i| f(s.nodes[i].engine.as_ref().unwrap().stats()))
            .sum()
    };
    match kind {
        Role::Equivocator => {
            let evidence: Vec<_> = honest.iter().flat_map(|&i| &s.nodes[i].evidence).collect();
            assert!(!evidence.is_empty(), "no equivocation evidence surfaced");
            for e in evidence {
                assert_eq!(e.validator, key, "evidence against an honest node");
                assert_ne!(e.first, e.second);
                // What a third party holding only the document concludes.
                e.verify(&s.document)
                    .unwrap_or_else(|err| panic!("{:?} evidence: {err}", e.kind));
                if e.kind != EquivocationKind::Proposal {
                    let (a, b) = (
                        harness::wire::parse_vote(&e.first).unwrap(),
                        harness::wire::parse_vote(&e.second).unwrap(),
                    );
                    assert_eq!(
                        (a.height, a.round, a.precommit),
                        (b.height, b.round, b.precommit)
                    );
                    assert_ne!(a.value, b.value);
                }
            }
        }
        Role::Garbage => {
            assert!(stats(|st| st.refused) > 0, "no garbage refused");
            assert!(stats(|st| st.bad_signatures) > 0, "no bad signature caught");
        }
        Role::UnsortedProposer => assert!(stats(|st| st.refused) > 0),
        Role::LowIhsanProposer => {
            // Its turns came (one height in four), and every time the honest judged the batch
            // invalid: the height was decided in a later round, on another proposer's batch.
            assert!(
                stats(|st| st.invalid_proposals) > 0,
                "no invalid batch was judged"
            );
        }
        _ => {}
    }
}

#[test]
fn more_than_f_faulty_decides_nothing() {
    for seed in 0..seeds() {
        for (n, silent) in [(4, 2), (7, 3)] {
            let mut roles = vec![Role::Honest; n];
            for r in roles.iter_mut().take(silent) {
                *r = Role::Silent;
            }
            let mut s = Sim::new(seed, &roles, Net::default(), 3);
            s.submit_random(4, 1_000);
            s.run_until(30_000, |_| false);
            for i in s.honest() {
                assert!(
                    s.nodes[i].decided.is_empty(),
                    "seed {seed}, n = {n}: node {i} decided with {silent} silent validators"
                );
            }
        }
    }
}

#[test]
fn crashed_validators_restart_from_their_log_without_double_signing() {
    for seed in 0..seeds() {
        for n in [4, 7] {
            let mut s = Sim::new(seed, &vec![Role::Honest; n], Net::default(), 8);
            s.net.loss = 0.02;
            s.submit_random(8, 2_000);
            // Crashes at random moments (mid-round included); at most f down at once, since
            // each comes back before the next goes down.
            let mut at = 0;
            for _ in 0..6 {
                at += 50 + s.rng.below(600);
                let node = s.rng.below(n as u64) as usize;
                let down = 1 + s.rng.below(400);
                s.crash_at(node, at, down);
                at += down;
            }
            // Every broadcast of an honest node is checked against what it signed before (the
            // harness panics on a second, different vote or proposal for one height, round
            // and step).
            decide_all(&mut s, &format!("seed {seed}, n = {n}, crashes"));
            assert!(s.signed_votes().count() > 0);
        }
    }
}

#[test]
fn a_partitioned_validator_catches_up_from_certificates() {
    for seed in 0..seeds() {
        let net = Net {
            partitions: vec![(0, 5_000, vec![3])],
            ..Net::default()
        };
        let mut s = Sim::new(seed, &[Role::Honest; 4], net, 12);
        s.submit_random(6, 1_000);
        // The other three go on without it.
        s.run_until(5_000, |_| false);
        let cut_off = s.nodes[3].decided.len();
        let others = s.nodes[0].decided.len();
        assert!(
            others > cut_off + 2,
            "seed {seed}: the others decided {others}, it {cut_off}"
        );
        decide_all(&mut s, &format!("seed {seed}, partition"));
        let stats = s.nodes[3].engine.as_ref().unwrap().stats();
        assert!(stats.decided >= 12);
    }
}

#[test]
fn catching_up_takes_only_verified_certificates_one_height_at_a_time() {
    let mut s = Sim::new(3, &[Role::Honest; 4], Net::default(), 3);
    s.submit_random(4, 100);
    decide_all(&mut s, "seed 3");
    let decided = s.nodes[0].decided.clone();
    let now = s.now();
    let mut late = bizra_consensus::Engine::new(s.config(1)).unwrap();
    late.start_height(1, now).unwrap();
    let (c1, b1) = &decided[&1];
    let (c3, b3) = &decided[&3];
    let e = late.catch_up(c3, b3, now).unwrap_err().to_string();
    assert!(
        e.contains("height 3") && e.contains("decides height 1 next"),
        "{e}"
    );
    let e = late.catch_up(c1, b3, now).unwrap_err().to_string();
    assert!(e.contains("VALUE_MISMATCH"), "{e}");
    let forged = bizra_consensus::Certificate::new(
        c1.federation(),
        c1.epoch(),
        1,
        c1.round(),
        *b3.id(),
        c1.signatures().to_vec(),
    );
    let e = late.catch_up(&forged, b3, now).unwrap_err().to_string();
    assert!(e.contains("BAD_SIGNATURE"), "{e}");
    assert!(late.catch_up(c1, b1, now).unwrap());
    assert!(
        !late.catch_up(c1, b1, now).unwrap(),
        "a decided height again"
    );
    let mut got = None;
    while let Some(o) = late.poll_output() {
        if let bizra_consensus::Output::Decided { certificate, batch } = o {
            got = Some((certificate, batch));
        }
    }
    let (certificate, batch) = got.expect("decided by catching up");
    assert_eq!((&certificate, batch.id()), (c1, b1.id()));
}
