//! Gate chain validation: tiers, codes, fail-closed behaviour, report mode, custom gates.

mod common;
use common::*;

use std::sync::Arc;

use bizra::gates::FnGate;
use bizra::{BuiltinKind, Constitution, Envelope, GateChain, GateTier, RejectCode};
use serde_json::json;

#[test]
fn default_chain_admits_a_good_envelope_once() {
    let chain = GateChain::default();
    let env = good(&alice(), json!({"x": 1}));
    // `check` observes: checked twice, still admissible.
    assert!(chain.check_at(&env, t0()).passed);
    assert!(chain.check_at(&env, t0()).passed);
    let report = chain.admit_at(&env, t0());
    assert!(report.passed, "{report:?}");
    assert_eq!(report.results.len(), 7);
    assert!(report.results.iter().all(|r| r.passed && r.code.is_none()));
    // Cheap tiers run before the signature gate.
    let tiers: Vec<_> = report.results.iter().map(|r| r.tier).collect();
    assert!(tiers.windows(2).all(|w| w[0] <= w[1]), "{tiers:?}");
    assert_eq!(report.results.last().unwrap().name, "signature");
    report.into_result().unwrap();
    // Once admitted, checking and admitting again are replays.
    assert_eq!(chain.check_at(&env, t0()).code(), Some(RejectCode::Replay));
    assert_eq!(chain.admit_at(&env, t0()).code(), Some(RejectCode::Replay));
}

#[test]
fn each_builtin_gate_has_its_code() {
    let a = alice();
    let check = |env: &Envelope| GateChain::default().check_at(env, t0()).code();
    let b = || Envelope::builder(json!({"x": 1})).timestamp(t0());
    assert_eq!(
        check(&b().snr(0.9).sign(&a).unwrap()),
        Some(RejectCode::GateIhsan)
    );
    assert_eq!(
        check(&b().ihsan(0.99).sign(&a).unwrap()),
        Some(RejectCode::GateSnr)
    );
    assert_eq!(
        check(&b().snr(0.84).ihsan(0.99).sign(&a).unwrap()),
        Some(RejectCode::GateSnr)
    );
    assert_eq!(
        check(&b().snr(0.9).ihsan(0.949).sign(&a).unwrap()),
        Some(RejectCode::GateIhsan)
    );
    assert_eq!(
        check(&b().snr(0.9).ihsan(0.99).policy([1; 32]).sign(&a).unwrap()),
        Some(RejectCode::PolicyMismatch)
    );
    let old = Envelope::builder(json!(1))
        .timestamp(at(-7200))
        .snr(0.9)
        .ihsan(0.99)
        .sign(&a)
        .unwrap();
    assert_eq!(check(&old), Some(RejectCode::Expired));
    let future = Envelope::builder(json!(1))
        .timestamp(at(600))
        .snr(0.9)
        .ihsan(0.99)
        .sign(&a)
        .unwrap();
    assert_eq!(check(&future), Some(RejectCode::Future));
    let env = good(&a, json!({"x": 1}));
    assert_eq!(
        check(&tamper(&env, "\"x\":1", "\"x\":2").unwrap()),
        Some(RejectCode::HashMismatch)
    );
    assert_eq!(
        check(&tamper(&env, "\"ttl\":3600", "\"ttl\":3599").unwrap()),
        Some(RejectCode::GateSignature)
    );
    assert_eq!(
        check(&tamper(&env, "\"ttl\":3600", "\"ttl\":0").unwrap()),
        Some(RejectCode::TtlRange)
    );
    let mismatched = tamper(
        &env,
        &format!("\"sender\":\"{}\"", a.node_id()),
        "\"sender\":\"00000000000000000000000000000000\"",
    )
    .unwrap();
    assert_eq!(check(&mismatched), Some(RejectCode::SenderMismatch));
}

#[test]
fn report_mode_runs_every_gate() {
    let mut chain = GateChain::default();
    chain.set_report_all(true);
    let env = Envelope::builder(json!(1))
        .timestamp(t0())
        .policy([2; 32])
        .sign(&alice())
        .unwrap();
    let report = chain.check_at(&env, t0());
    assert!(!report.passed);
    assert_eq!(report.results.len(), 7);
    let failed: Vec<_> = report
        .results
        .iter()
        .filter(|r| !r.passed)
        .map(|r| r.code.unwrap())
        .collect();
    assert_eq!(
        failed,
        [
            RejectCode::PolicyMismatch,
            RejectCode::GateSnr,
            RejectCode::GateIhsan
        ]
    );
    assert_eq!(report.code(), Some(RejectCode::PolicyMismatch));
    // Nothing was admitted, so the id is not burnt.
    assert!(chain.replay_cache().is_empty());

    let mut stop = GateChain::default();
    stop.set_report_all(false);
    assert_eq!(stop.check_at(&env, t0()).results.len(), 3);
}

#[test]
fn a_forged_envelope_cannot_burn_a_genuine_id() {
    let chain = GateChain::default();
    let env = good(&alice(), json!({"x": 1}));
    let forged = tamper(&env, "\"x\":1", "\"x\":666").unwrap();
    assert_eq!(
        chain.admit_at(&forged, t0()).code(),
        Some(RejectCode::HashMismatch)
    );
    assert!(chain.admit_at(&env, t0()).passed);
}

#[test]
fn custom_gates_use_code_24_and_their_tier() {
    let mut chain = GateChain::default();
    chain.add_fn("no-secrets", GateTier::Cheap, |ctx| {
        if ctx.envelope.payload().to_string().contains("password") {
            Err("payload mentions a password".into())
        } else {
            Ok(())
        }
    });
    chain.add_gate(Box::new(FnGate::new(
        "slow-review",
        GateTier::Expensive,
        |_| Ok(()),
    )));
    let names = chain.gate_names();
    assert_eq!(names.last().unwrap(), "slow-review");
    // User code runs after every built-in gate, so it only sees authenticated envelopes.
    assert!(
        names.iter().position(|n| n == "no-secrets") > names.iter().position(|n| n == "signature")
    );
    let forged = tamper(
        &good(&alice(), json!({"x": "my password"})),
        "\"x\":\"my password\"",
        "\"x\":\"my passw0rd\"",
    )
    .unwrap();
    let r = chain.check_at(&forged, t0());
    assert_eq!(r.code(), Some(RejectCode::HashMismatch));
    assert!(r.results.iter().all(|g| g.name != "no-secrets"), "{r:?}");

    let ok = chain.check_at(&good(&alice(), json!({"x": 1})), t0());
    assert!(ok.passed, "{ok:?}");
    let bad = chain.check_at(&good(&alice(), json!({"x": "my password"})), t0());
    let f = bad.first_failure().unwrap();
    assert_eq!(
        (f.name.as_str(), f.code),
        ("no-secrets", Some(RejectCode::GateCustom))
    );
    assert_eq!(f.detail.as_deref(), Some("payload mentions a password"));
}

#[test]
fn a_panicking_gate_fails_closed() {
    let mut chain = GateChain::default();
    chain.add_fn("buggy", GateTier::Cheap, |_| panic!("bug in user code"));
    let report = chain.check_at(&good(&alice(), json!(1)), t0());
    assert!(!report.passed);
    assert_eq!(report.code(), Some(RejectCode::GateCustom));
    assert!(report
        .first_failure()
        .unwrap()
        .detail
        .as_deref()
        .unwrap()
        .contains("panicked"));
}

#[test]
#[cfg(feature = "json-schema")]
fn payload_json_schema_is_code_20() {
    let mut chain = GateChain::default();
    chain
        .set_payload_schema(&json!({
            "type": "object",
            "required": ["prompt"],
            "properties": {"prompt": {"type": "string", "maxLength": 20}}
        }))
        .unwrap();
    assert!(
        chain
            .check_at(&good(&alice(), json!({"prompt": "hi"})), t0())
            .passed
    );
    let r = chain.check_at(&good(&alice(), json!({"prompt": 5})), t0());
    assert_eq!(r.code(), Some(RejectCode::GateSchema));
    assert!(r
        .first_failure()
        .unwrap()
        .detail
        .as_deref()
        .unwrap()
        .contains("/prompt"));
    assert!(GateChain::default()
        .set_payload_schema(&json!({"type": 12}))
        .is_err());
}

#[test]
fn an_empty_chain_admits_nothing() {
    let chain = GateChain::empty(Arc::new(Constitution::default()));
    let r = chain.check_at(&good(&alice(), json!(1)), t0());
    assert!(!r.passed);
    assert_eq!(r.code(), Some(RejectCode::Internal));
    let mut one = GateChain::empty(Arc::new(Constitution::default()));
    one.add_builtin(BuiltinKind::Signature)
        .add_builtin(BuiltinKind::Signature);
    assert_eq!(one.gate_names(), ["signature"]);
    assert!(one.check_at(&good(&alice(), json!(1)), t0()).passed);
}

#[test]
fn durations_and_budgets_are_reported() {
    let mut chain = GateChain::default();
    chain.add_fn("sleepy", GateTier::Cheap, |_| {
        std::thread::sleep(std::time::Duration::from_millis(15));
        Ok(())
    });
    let r = chain.check_at(&good(&alice(), json!(1)), t0());
    let sleepy = r.results.iter().find(|g| g.name == "sleepy").unwrap();
    assert!(sleepy.passed && sleepy.over_budget);
    assert!(sleepy.duration >= std::time::Duration::from_millis(15));
    assert!(r
        .results
        .iter()
        .filter(|g| g.name != "sleepy")
        .all(|g| !g.over_budget));
}

#[test]
fn concurrent_admission_from_many_threads() {
    let chain = Arc::new(GateChain::default());
    let envs: Vec<_> = (0..8).map(|i| good(&alice(), json!(i))).collect();
    let admitted: usize = std::thread::scope(|s| {
        let handles: Vec<_> = (0..4)
            .map(|_| {
                let chain = chain.clone();
                let envs = &envs;
                s.spawn(move || {
                    envs.iter()
                        .filter(|e| chain.admit_at(e, t0()).passed)
                        .count()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).sum()
    });
    assert_eq!(
        admitted, 8,
        "each envelope admitted exactly once across threads"
    );
}

#[test]
fn a_custom_gate_named_replay_gets_no_replay_verdict() {
    // The chain finds its replay gate by kind, not by the name "replay".
    let mut chain = GateChain::empty(Arc::new(Constitution::default()));
    chain.add_builtin(BuiltinKind::Signature);
    chain.add_fn("replay", GateTier::Cheap, |_| Ok(()));
    let env = good(&alice(), json!(1));
    for _ in 0..2 {
        let r = chain.admit_at(&env, t0());
        assert!(r.passed, "{r:?}");
        assert!(r.results.iter().all(|g| g.code.is_none()));
    }
    // With the built-in replay gate too, only the built-in one refuses the second admission.
    chain.add_builtin(BuiltinKind::Replay);
    assert!(chain.admit_at(&env, t0()).passed);
    let again = chain.admit_at(&env, t0());
    let refused: Vec<_> = again.results.iter().filter(|g| !g.passed).collect();
    assert_eq!(refused.len(), 1, "{again:?}");
    assert_eq!(refused[0].code, Some(RejectCode::Replay));
    assert_eq!(refused[0].tier, GateTier::Cheap);
    let names = chain.gate_names();
    let builtin_replay = names.iter().position(|n| n == "replay").unwrap();
    assert_eq!(
        again.results.iter().position(|g| !g.passed),
        Some(builtin_replay)
    );
}

#[test]
fn a_recheck_skips_only_the_signature() {
    let chain = GateChain::default();
    let env = good(&alice(), json!({"x": 1}));
    // A bad signature: refused by a check, not by a recheck (the caller vouches for it).
    let sig = bizra::hash::to_hex(env.signature());
    let flipped = format!(
        "{}{}",
        if sig.starts_with('0') { "1" } else { "0" },
        &sig[1..]
    );
    let forged = tamper(&env, &sig, &flipped).unwrap();
    assert_eq!(
        chain.check_at(&forged, t0()).code(),
        Some(RejectCode::GateSignature)
    );
    assert!(chain.recheck_at(&forged, t0()).passed);
    // Everything else is judged again: the content hash, the thresholds, the time.
    let hashed = tamper(&env, "\"x\":1", "\"x\":666").unwrap();
    assert_eq!(
        chain.recheck_at(&hashed, t0()).code(),
        Some(RejectCode::HashMismatch)
    );
    let later = t0().plus_seconds(env.ttl() + 3600);
    assert_eq!(
        chain.recheck_at(&env, later).code(),
        Some(RejectCode::Expired)
    );
    // And nothing is admitted.
    assert!(chain.recheck_at(&env, t0()).passed);
    assert!(chain.admit_at(&env, t0()).passed);
}
