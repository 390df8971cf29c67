//! Learning, observations, feedback, get/list/remove, and bad input.

mod support;

use bizra_autopoiesis::patterns::{INITIAL_CONFIDENCE, NEGATIVE_STEP, POSITIVE_STEP};
use bizra_autopoiesis::{Elevation, Learned, Store};
use bizra_protocol::{Envelope, ErrorKind, Identity, RejectCode, Timestamp, VerifyOptions};
use serde_json::json;
use support::{inference_envelope, pattern_envelope};

fn opts() -> VerifyOptions<'static> {
    VerifyOptions::default()
}

#[test]
fn a_pattern_is_learned_from_an_inference_output_with_its_provenance() {
    let store = Store::in_memory().unwrap();
    let id = Identity::generate();
    let env = inference_envelope(&id, "Paris is the capital of France.");
    let learned = store
        .learn(&env, &[3.0, 4.0], &["geo", "facts", "geo"], &opts())
        .unwrap();
    let Learned::New(pid) = learned else {
        panic!("{learned:?}")
    };
    let p = store.get(pid).unwrap().unwrap();
    assert_eq!(p.content, "Paris is the capital of France.");
    assert_eq!(
        p.content_hash,
        *blake3::hash(p.content.as_bytes()).as_bytes()
    );
    assert_eq!(p.embedding, vec![0.6, 0.8]); // L2-normalised
    assert_eq!(p.tags, ["geo", "facts"]);
    assert_eq!(p.source_node, id.node_id());
    assert_eq!(p.envelope, env.to_json());
    assert_eq!(p.envelope_id, env.id());
    // The envelope is kept verbatim: it verifies again, and is the one that was learned.
    let again = Envelope::open(&p.envelope, &opts().at(env.timestamp())).unwrap();
    assert_eq!(again, env);
    assert_eq!(p.confidence, INITIAL_CONFIDENCE);
    assert_eq!((p.observations, p.positive, p.negative), (1, 0, 0));
    assert_eq!(p.elevation, Elevation::None);
    assert!(p.created_ms > 0 && p.updated_ms == p.created_ms);
    assert_eq!(store.dimension(), Some(2));
    assert_eq!(store.list().unwrap(), vec![p]);
}

#[test]
fn a_pattern_payload_is_learned_with_its_tags_and_stated_source() {
    let store = Store::in_memory().unwrap();
    let id = Identity::generate();
    let env = Envelope::create(
        &id,
        json!({"type": "bizra.pattern", "content": "c", "tags": ["a"], "source_node": "elsewhere"}),
    )
    .unwrap();
    let pid = store.learn(&env, &[1.0], &["b"], &opts()).unwrap().id();
    let p = store.get(pid).unwrap().unwrap();
    assert_eq!(p.tags, ["a", "b"]);
    assert_eq!(p.source_node, "elsewhere");
}

#[test]
fn other_payloads_are_refused_by_name() {
    let store = Store::in_memory().unwrap();
    let id = Identity::generate();
    for (payload, needle) in [
        (
            json!({"type": "bizra.proposal", "x": 1}),
            "\"bizra.proposal\"",
        ),
        (json!({"answer": 4}), "without a type"),
        (json!({"type": "bizra.inference", "output": ""}), "output"),
        (json!({"type": "bizra.inference"}), "output"),
        (json!({"type": "bizra.pattern"}), "content is missing"),
        (
            json!({"type": "bizra.pattern", "content": "x", "extra": 1}),
            "\"extra\"",
        ),
    ] {
        let env = Envelope::create(&id, payload).unwrap();
        let e = store.learn(&env, &[1.0], &[], &opts()).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidInput, "{e}");
        assert!(e.to_string().contains(needle), "{e}");
    }
    assert!(store.is_empty().unwrap());
}

#[test]
fn an_envelope_that_does_not_verify_is_refused_with_its_code() {
    let store = Store::in_memory().unwrap();
    let id = Identity::generate();
    let env = pattern_envelope(&id, "stale");
    let later = env.timestamp().plus_seconds(3601);
    let e = store
        .learn(&env, &[1.0], &[], &opts().at(later))
        .unwrap_err();
    assert_eq!(e.reject_code(), Some(RejectCode::Expired));
    // A stored envelope verifies at an instant inside its validity.
    store
        .learn(&env, &[1.0], &[], &opts().at(env.timestamp()))
        .unwrap();
    // A tampered one: the payload changed after signing.
    let tampered = env.to_json().replace("stale", "fresh");
    let e = Envelope::parse(&tampered)
        .and_then(|t| store.learn(&t, &[1.0], &[], &opts()).map(|_| ()))
        .unwrap_err();
    assert_eq!(e.reject_code(), Some(RejectCode::HashMismatch));
    assert_eq!(store.len().unwrap(), 1);
}

#[test]
fn the_same_content_again_is_an_observation_and_the_same_envelope_counts_once() {
    let store = Store::in_memory().unwrap();
    let a = Identity::generate();
    let b = Identity::generate();
    let first = pattern_envelope(&a, "same words");
    let pid = store.learn(&first, &[1.0, 0.0], &["x"], &opts()).unwrap();
    assert!(matches!(pid, Learned::New(_)));
    let second = inference_envelope(&b, "same words");
    let again = store
        .learn(&second, &[0.0, 1.0], &["y", "x"], &opts())
        .unwrap();
    assert_eq!(again, Learned::Observed(pid.id()));
    let replay = store.learn(&second, &[0.0, 1.0], &["z"], &opts()).unwrap();
    assert_eq!(replay, Learned::AlreadyKnown(pid.id()));
    let p = store.get(pid.id()).unwrap().unwrap();
    assert_eq!(p.observations, 2);
    assert_eq!(p.tags, ["x", "y"]);
    // The introducing envelope and the first embedding stay.
    assert_eq!(p.envelope_id, first.id());
    assert_eq!(p.embedding, vec![1.0, 0.0]);
    assert_eq!(p.source_node, a.node_id());
    assert_eq!(p.confidence, INITIAL_CONFIDENCE);
    assert_eq!(store.len().unwrap(), 1);
    // Different content is a different pattern.
    let other = store
        .learn(
            &pattern_envelope(&a, "same words."),
            &[1.0, 0.0],
            &[],
            &opts(),
        )
        .unwrap();
    assert!(matches!(other, Learned::New(id) if id != pid.id()));
}

#[test]
fn feedback_moves_confidence_by_the_documented_steps_clamped_and_counted() {
    let store = Store::in_memory().unwrap();
    let id = Identity::generate();
    let pid = store
        .learn(&pattern_envelope(&id, "p"), &[1.0], &[], &opts())
        .unwrap()
        .id();
    let p = store.feedback(pid, true).unwrap();
    assert!((p.confidence - (0.5 + POSITIVE_STEP)).abs() < 1e-12);
    let p = store.feedback(pid, false).unwrap();
    assert!((p.confidence - (0.5 + POSITIVE_STEP - NEGATIVE_STEP)).abs() < 1e-12);
    assert_eq!((p.positive, p.negative), (1, 1));
    assert_eq!((POSITIVE_STEP, NEGATIVE_STEP), (0.05, 0.03));
    for _ in 0..20 {
        store.feedback(pid, true).unwrap();
    }
    let p = store.get(pid).unwrap().unwrap();
    assert_eq!(p.confidence, 1.0);
    assert_eq!(p.positive, 21);
    for _ in 0..40 {
        store.feedback(pid, false).unwrap();
    }
    let p = store.get(pid).unwrap().unwrap();
    assert_eq!(p.confidence, 0.0);
    assert_eq!(p.negative, 41);
    assert!(p.updated_ms >= p.created_ms);
    let e = store.feedback(pid + 1000, true).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput);
}

#[test]
fn remove_forgets_a_pattern_and_its_envelopes() {
    let store = Store::in_memory().unwrap();
    let id = Identity::generate();
    let env = pattern_envelope(&id, "gone");
    let pid = store.learn(&env, &[1.0], &[], &opts()).unwrap().id();
    assert!(store.remove(pid).unwrap());
    assert_eq!(store.get(pid).unwrap(), None);
    assert!(!store.remove(pid).unwrap());
    // Learnable anew from the same envelope.
    assert!(matches!(
        store.learn(&env, &[1.0], &[], &opts()).unwrap(),
        Learned::New(_)
    ));
}

#[test]
fn bad_embeddings_and_tags_are_refused_and_nothing_is_written() {
    let store = Store::in_memory().unwrap();
    let id = Identity::generate();
    let env = || pattern_envelope(&id, "x");
    for (v, needle) in [
        (vec![], "empty"),
        (vec![0.0, 0.0], "zero vector"),
        (vec![1.0, f32::NAN], "not a finite number"),
        (vec![f32::INFINITY, 1.0], "not a finite number"),
    ] {
        let e = store.learn(&env(), &v, &[], &opts()).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidInput);
        assert!(e.to_string().contains(needle), "{e}");
    }
    let e = store.learn(&env(), &[1.0], &[""], &opts()).unwrap_err();
    assert!(e.to_string().contains("tag"), "{e}");
    assert!(store.is_empty().unwrap());
    assert_eq!(store.dimension(), None);
    store.learn(&env(), &[1.0, 2.0, 3.0], &[], &opts()).unwrap();
    let e = store
        .learn(&pattern_envelope(&id, "y"), &[1.0, 2.0], &[], &opts())
        .unwrap_err();
    assert!(
        e.to_string().contains("2 dimensions") && e.to_string().contains("have 3"),
        "{e}"
    );
    assert_eq!(store.len().unwrap(), 1);
}

#[test]
fn stored_envelopes_reverify_at_their_own_time() {
    let store = Store::in_memory().unwrap();
    let id = Identity::generate();
    let at = Timestamp::from_unix_millis(1_700_000_000_000).unwrap();
    let env = Envelope::builder(json!({"type": "bizra.pattern", "content": "old"}))
        .timestamp(at)
        .sign(&id)
        .unwrap();
    store.learn(&env, &[1.0], &[], &opts().at(at)).unwrap();
    let p = &store.list().unwrap()[0];
    Envelope::open(&p.envelope, &opts().at(at)).unwrap();
}

#[test]
fn the_store_is_send_and_sync() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Store>();
}
