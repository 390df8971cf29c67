//! Full flow: identity → envelope → wire → parse → verify → gate chain, and a tampered copy
//! refused with its code at every stage.

mod common;
use common::*;

use bizra::{Envelope, GateChain, Identity, RejectCode, VerifyOptions};
use serde_json::json;

#[test]
fn envelope_to_gate_flow() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("node.pem");
    Identity::generate().save(&key, Some("pw")).unwrap();
    let node = Identity::load(&key, Some("pw")).unwrap();

    let env = Envelope::builder(json!({"type": "bizra.inference", "output": "4"}))
        .timestamp(t0())
        .snr(0.92)
        .ihsan(0.97)
        .sign(&node)
        .unwrap();
    let wire = env.to_json();

    let received = Envelope::parse(&wire).unwrap();
    received.verify(&VerifyOptions::default().at(t0())).unwrap();
    let chain = GateChain::default();
    let report = chain.admit_at(&received, t0());
    assert!(report.passed, "{report:?}");

    for (from, to, code) in [
        (
            "\"output\":\"4\"",
            "\"output\":\"5\"",
            RejectCode::HashMismatch,
        ),
        ("\"snr\":0.92", "\"snr\":0.99", RejectCode::GateSignature),
        ("\"ttl\":3600", "\"ttl\":7200", RejectCode::TtlRange),
    ] {
        let t = Envelope::parse(&wire.replace(from, to)).unwrap();
        assert_eq!(
            GateChain::default().check_at(&t, t0()).code(),
            Some(code),
            "{from}"
        );
    }
}

#[test]
fn shared_types_are_send_and_sync() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Identity>();
    assert_send_sync::<Envelope>();
    assert_send_sync::<GateChain>();
    assert_send_sync::<bizra::ReplayCache>();
    assert_send_sync::<bizra::Constitution>();
    assert_send_sync::<bizra::Error>();
}
