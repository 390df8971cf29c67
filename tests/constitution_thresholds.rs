//! Constitution: loading and validation, hashing, thresholds driving the gates, compliance.

mod common;
use common::*;

use std::sync::Arc;

use bizra::constitution::Enforcement;
use bizra::{ComplianceInput, Constitution, Envelope, Error, GateChain, RejectCode};
use serde_json::{json, Value};

fn default_json() -> Value {
    serde_json::from_str(include_str!("vectors/constitution-v1.json")).unwrap()
}

fn err(v: Value) -> String {
    match Constitution::from_json(&v.to_string()) {
        Err(Error::Constitution(m)) => m,
        other => panic!("{other:?}"),
    }
}

#[test]
fn default_values() {
    let c = Constitution::default();
    assert_eq!(c.ihsan_minimum(), 0.95);
    assert_eq!(c.ihsan_target(), 0.99);
    assert_eq!(c.snr_threshold(), 0.85);
    assert_eq!(c.max_ttl_seconds(), 3600);
    assert_eq!(c.max_clock_skew_seconds(), 120);
    assert_eq!(c.rules().len(), 5);
    assert_eq!(Constitution::quorum(4), 3);
    assert_eq!(Constitution::quorum(3), 3);
    assert_eq!(Constitution::quorum(7), 5);
}

#[test]
fn invalid_files_are_refused_with_a_reason() {
    let mut v = default_json();
    v["snr_threshold"] = json!(1.5);
    assert!(err(v).contains("snr_threshold"));
    let mut v = default_json();
    v["ihsan"]["minimum"] = json!(-0.1);
    assert!(err(v).contains("ihsan.minimum"));
    let mut v = default_json();
    v["rules"][1]["id"] = json!("IHSAN_001");
    assert!(err(v).contains("duplicate rule id"));
    let mut v = default_json();
    v["quorum"] = json!("n/2");
    assert!(err(v).contains("quorum"));
    let mut v = default_json();
    v["rules"][0]["enforcement"] = json!("sometimes");
    assert!(err(v).contains("rules[0]"));
    let mut v = default_json();
    v.as_object_mut().unwrap().remove("rules");
    assert!(err(v).contains("rules"));
    assert!(matches!(
        Constitution::from_json("{\"a\":1,\"a\":2}"),
        Err(Error::Constitution(_))
    ));
    let missing = Constitution::load("/nonexistent/constitution.json").unwrap_err();
    assert!(matches!(missing, Error::Io { .. }));
}

#[test]
fn a_loaded_constitution_drives_the_gates_and_the_policy() {
    let dir = tempfile::tempdir().unwrap();
    let mut v = default_json();
    v["snr_threshold"] = json!(0.5);
    v["ihsan"]["minimum"] = json!(0.6);
    v["version"] = json!("1.0.0-lenient");
    let path = dir.path().join("lenient.json");
    std::fs::write(&path, v.to_string()).unwrap();
    let lenient = Arc::new(Constitution::load(&path).unwrap());
    assert_ne!(lenient.hash(), Constitution::default().hash());
    // Its hash is the spec's: H("bizra-constitution-v1:", JCS(file)).
    let jcs = bizra::canonical::canonicalize(&v.to_string()).unwrap();
    assert_eq!(
        lenient.hash(),
        &bizra::hash::domain_hash(bizra::hash::Domain::Constitution, jcs.as_bytes())
    );

    let a = alice();
    let env = Envelope::builder(json!(1))
        .timestamp(t0())
        .snr(0.55)
        .ihsan(0.7)
        .policy(*lenient.hash())
        .sign(&a)
        .unwrap();
    let chain = GateChain::from_constitution(lenient);
    assert!(chain.check_at(&env, t0()).passed);
    // The default constitution refuses the same scores, and the policy too.
    let strict = GateChain::default().check_at(&env, t0());
    assert_eq!(strict.code(), Some(RejectCode::PolicyMismatch));
}

#[test]
fn compliance_check_is_fail_closed() {
    let c = Constitution::default();
    let full = ComplianceInput {
        snr: Some(0.9),
        ihsan: Some(0.96),
        has_signature: true,
        has_provenance: false,
    };
    let r = c.check(&full);
    assert!(r.compliant, "{r:?}");
    let prov = r.rules.iter().find(|o| o.id == "PROV_001").unwrap();
    assert!(!prov.passed && prov.enforcement == Enforcement::Advisory);
    let ihsan = r.rules.iter().find(|o| o.id == "IHSAN_001").unwrap();
    assert_eq!((ihsan.value, ihsan.threshold), (Some(0.96), Some(0.95)));

    let missing = c.check(&ComplianceInput { snr: None, ..full });
    assert!(!missing.compliant);
    let snr = missing.rules.iter().find(|o| o.id == "SNR_001").unwrap();
    assert!(!snr.passed && snr.value.is_none() && snr.detail.contains("fail-closed"));
    assert!(
        !c.check(&ComplianceInput {
            ihsan: Some(0.94),
            ..full
        })
        .compliant
    );
    assert!(
        !c.check(&ComplianceInput {
            has_signature: false,
            ..full
        })
        .compliant
    );
    assert!(
        c.check(&ComplianceInput {
            snr: Some(0.85),
            ihsan: Some(0.95),
            ..full
        })
        .compliant
    );

    // A strict rule this implementation does not know fails closed.
    let mut v = default_json();
    v["rules"].as_array_mut().unwrap().push(json!({
        "id": "CUSTOM_9", "name": "x", "description": "x", "enforcement": "strict", "penalty": "reject"
    }));
    let custom = Constitution::from_json(&v.to_string()).unwrap();
    assert!(!custom.check(&full).compliant);
}
