//! Envelope flow: create, serialize, parse, verify; a provenance chain; expiry, policy, replay.

mod common;
use common::*;

use bizra::{verify_batch, Envelope, Error, RejectCode, ReplayCache, VerifyOptions};
use serde_json::json;

fn code(r: Result<(), Error>) -> Option<RejectCode> {
    r.err().map(|e| e.reject_code().expect("a rejection"))
}

#[test]
fn provenance_chain() {
    let a = alice();
    let b = bizra::Identity::generate();
    let question = good(&a, json!({"prompt": "What is 2+2?"}));
    let answer = Envelope::builder(json!({"output": "4"}))
        .timestamp(t0())
        .provenance([question.id()])
        .sign(&b)
        .unwrap();
    let review = Envelope::builder(json!({"verdict": "correct"}))
        .timestamp(at(1))
        .provenance([question.id().to_owned(), answer.id().to_owned()])
        .sign(&a)
        .unwrap();
    let opts = VerifyOptions::default().at(at(2));
    for env in [&question, &answer, &review] {
        let wire = env.to_json();
        let back = Envelope::parse(&wire).unwrap();
        assert_eq!(&back, env);
        back.verify(&opts).unwrap();
    }
    assert_eq!(review.provenance(), [question.id(), answer.id()]);
    assert_eq!(answer.sender(), b.node_id());
    // Provenance is signed: rewriting it breaks the signature.
    let forged = tamper(&review, answer.id(), question.id()).unwrap();
    assert_eq!(code(forged.verify(&opts)), Some(RejectCode::Signature));
}

#[test]
fn defaults_and_builder_checks() {
    let a = alice();
    let env = Envelope::create(&a, json!(null)).unwrap();
    assert_eq!(env.ttl(), 3600);
    assert_eq!(env.version(), "1.0");
    assert!(env.id().starts_with("pci_") && env.id().len() == 36);
    assert_eq!(env.policy(), bizra::Constitution::default().hash());
    env.verify(&VerifyOptions::default()).unwrap();
    assert_ne!(Envelope::create(&a, json!(null)).unwrap().id(), env.id());

    let bad = |b: bizra::pci::EnvelopeBuilder| match b.sign(&a) {
        Err(Error::InvalidInput(m)) => m,
        other => panic!("{other:?}"),
    };
    assert!(bad(Envelope::builder(json!(1)).ttl(0)).contains("ttl"));
    assert!(bad(Envelope::builder(json!(1)).ttl(3601)).contains("ttl"));
    assert!(bad(Envelope::builder(json!(1)).snr(1.5)).contains("snr"));
    assert!(bad(Envelope::builder(json!(1)).ihsan(f64::NAN)).contains("ihsan"));
    assert!(bad(Envelope::builder(json!(1)).provenance(["nope"])).contains("provenance"));
    let many: Vec<String> = (0..65).map(|i| format!("pci_{i:032x}")).collect();
    assert!(bad(Envelope::builder(json!(1)).provenance(many)).contains("at most 64"));
    assert!(bad(Envelope::builder(json!(1)).id("pci_XYZ")).contains("id"));
    assert!(bad(Envelope::builder(json!({"n": 9_007_199_254_740_993u64}))).contains("2^53"));
    let big = "x".repeat(1 << 20);
    assert!(bad(Envelope::builder(json!(big))).contains("exceeds"));
}

#[test]
fn expiry_and_future_with_injected_time() {
    let env = Envelope::builder(json!({"k": 1}))
        .timestamp(t0())
        .ttl(60)
        .sign(&alice())
        .unwrap();
    let v = |s: i64| code(env.verify(&VerifyOptions::default().at(at(s))));
    assert_eq!(v(0), None);
    assert_eq!(v(60), None);
    assert_eq!(v(61), Some(RejectCode::Expired));
    assert_eq!(v(-120), None);
    assert_eq!(v(-121), Some(RejectCode::Future));
}

#[test]
fn policy_and_replay() {
    let a = alice();
    let env = good(&a, json!({"k": 1}));
    let other_policy = [7u8; 32];
    let opts = VerifyOptions::default().at(t0()).policy(other_policy);
    assert_eq!(code(env.verify(&opts)), Some(RejectCode::PolicyMismatch));
    let opts = VerifyOptions::default()
        .at(t0())
        .policy(*bizra::Constitution::default().hash());
    assert_eq!(code(env.verify(&opts)), None);

    let cache = ReplayCache::new(16).unwrap();
    let opts = VerifyOptions::default().at(t0()).replay(&cache);
    assert_eq!(code(env.verify(&opts)), None);
    assert_eq!(code(env.verify(&opts)), Some(RejectCode::Replay));
    // A copy arriving over the wire is the same id.
    let copy = Envelope::parse(&env.to_json()).unwrap();
    assert_eq!(code(copy.verify(&opts)), Some(RejectCode::Replay));
    // After expiry the envelope is refused as expired, not replayed, and the cache forgets it.
    let later = VerifyOptions::default().at(at(3601)).replay(&cache);
    assert_eq!(code(copy.verify(&later)), Some(RejectCode::Expired));
    cache.purge_expired(at(3601));
    assert!(cache.is_empty());
}

#[test]
fn a_full_replay_cache_refuses_with_quota() {
    let a = alice();
    let cache = ReplayCache::new(2).unwrap();
    let opts = VerifyOptions::default().at(t0()).replay(&cache);
    good(&a, json!(1)).verify(&opts).unwrap();
    good(&a, json!(2)).verify(&opts).unwrap();
    let e = good(&a, json!(3)).verify(&opts).unwrap_err();
    assert_eq!(e.reject_code(), Some(RejectCode::Quota));
    assert!(e.reject_code().unwrap().is_retryable());
}

#[test]
fn batch_matches_single_verification_in_order() {
    let a = alice();
    let mut envs: Vec<Envelope> = (0..40).map(|i| good(&a, json!({"i": i}))).collect();
    envs[3] = tamper(&envs[3], "\"i\":3", "\"i\":4").unwrap();
    envs[7] = Envelope::builder(json!(7))
        .timestamp(at(-4000))
        .sign(&a)
        .unwrap();
    envs[9] = envs[8].clone();
    let cache = ReplayCache::new(100).unwrap();
    let batch = verify_batch(&envs, &VerifyOptions::default().at(t0()).replay(&cache));
    let codes: Vec<_> = batch.into_iter().map(code).collect();
    assert_eq!(codes[3], Some(RejectCode::HashMismatch));
    assert_eq!(codes[7], Some(RejectCode::Expired));
    assert_eq!(codes[8], None);
    assert_eq!(codes[9], Some(RejectCode::Replay));
    assert_eq!(codes.iter().filter(|c| c.is_none()).count(), 37);
    assert!(verify_batch::<Envelope>(&[], &VerifyOptions::default()).is_empty());
}

#[test]
fn parse_rejects_garbage_cleanly() {
    let deep = "[".repeat(100_000) + &"]".repeat(100_000);
    for text in [
        "",
        "null",
        "\"x\"",
        &deep,
        "{\"version\":\"1.0\",\"payload\":\"\\ud800\"}",
        "{\"a\":1e999999}",
    ] {
        let e = Envelope::parse(text).unwrap_err();
        assert_eq!(e.reject_code(), Some(RejectCode::Schema), "{text:.40}");
    }
    assert_eq!(
        Envelope::parse_bytes(b"{\"version\":\"1\xff\"}")
            .unwrap_err()
            .reject_code(),
        Some(RejectCode::Schema)
    );
    let e = Envelope::parse("{}").unwrap_err();
    assert_eq!(e.reject_code(), Some(RejectCode::MissingField));
    assert!(e.to_string().contains("PCI-02"), "{e}");
}

#[test]
fn the_payload_reads_back_the_same_from_its_canonical_text() {
    // A signed envelope keeps the payload as canonical text and parses it on first read; a
    // parsed one keeps the value it read. Both read back what a receiver reads: the caller's
    // value as JCS writes it (1.0 and -0.0 are the integer 0 and 1 there).
    let payload = json!({"b": [1.0, -0.0, 1e21, 0.93, "\u{1F600}"], "a": {"z": null, "y": true}});
    let on_the_wire = json!({"a": {"y": true, "z": null}, "b": [1, 0, 1e21, 0.93, "\u{1F600}"]});
    let signed = Envelope::builder(payload)
        .timestamp(t0())
        .sign(&alice())
        .unwrap();
    assert_eq!(
        signed.payload_json(),
        r#"{"a":{"y":true,"z":null},"b":[1,0,1e+21,0.93,"😀"]}"#
    );
    assert_eq!(signed.payload(), &on_the_wire);
    let parsed = Envelope::parse(&signed.to_json()).unwrap();
    assert_eq!(parsed.payload_json(), signed.payload_json());
    assert_eq!(parsed.payload(), &on_the_wire);
    assert_eq!(parsed, signed);
    parsed
        .verify(&bizra::VerifyOptions::default().at(t0()))
        .unwrap();
}

#[test]
fn options_as_data_build_what_the_builder_builds() {
    use bizra::pci::DEFAULT_TTL_SECONDS;
    use bizra::{EnvelopeOptions, Scores};
    let options = EnvelopeOptions {
        ttl: Some(60),
        provenance: vec!["pci_000102030405060708090a0b0c0d0e0f".into()],
        scores: Scores {
            snr: Some(0.9),
            ihsan: None,
        },
        policy: Some([7; 32]),
        timestamp: Some(t0()),
        id: Some("pci_ffffffffffffffffffffffffffffffff".into()),
    };
    let with = Envelope::create_with(&alice(), json!({"n": 1.0}), options).unwrap();
    let built = Envelope::builder(json!({"n": 1}))
        .ttl(60)
        .provenance(["pci_000102030405060708090a0b0c0d0e0f"])
        .snr(0.9)
        .policy([7; 32])
        .timestamp(t0())
        .id("pci_ffffffffffffffffffffffffffffffff")
        .sign(&alice())
        .unwrap();
    assert_eq!(with, built);
    assert_eq!(with.payload(), &json!({"n": 1}), "1.0 reads back as 1");
    let defaults = Envelope::create_with(&alice(), json!(1), EnvelopeOptions::default()).unwrap();
    assert_eq!(defaults.ttl(), DEFAULT_TTL_SECONDS);
    assert!(defaults.scores().snr.is_none() && defaults.provenance().is_empty());
    let bad = EnvelopeOptions {
        ttl: Some(0),
        ..EnvelopeOptions::default()
    };
    let e = Envelope::create_with(&alice(), json!(1), bad).unwrap_err();
    assert!(e.to_string().contains("between 1 and 3600 seconds"), "{e}");
}

#[test]
fn open_parses_and_verifies_in_one_call() {
    let env = Envelope::builder(json!({"a": 1}))
        .timestamp(t0())
        .sign(&alice())
        .unwrap();
    let opened = Envelope::open(&env.to_json(), &VerifyOptions::default().at(t0())).unwrap();
    assert_eq!(opened, env);
    let tampered = env.to_json().replace("\"a\":1", "\"a\":2");
    let e = Envelope::open(&tampered, &VerifyOptions::default().at(t0())).unwrap_err();
    assert_eq!(e.reject_code(), Some(RejectCode::HashMismatch));
    let e = Envelope::open("{", &VerifyOptions::default().at(t0())).unwrap_err();
    assert_eq!(e.reject_code(), Some(RejectCode::Schema));
}
