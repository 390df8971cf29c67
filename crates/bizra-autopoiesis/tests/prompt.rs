//! Active preferences shape the system message of a gateway's requests, and the signed payload
//! says so (the real SmolLM2 model, through `bizra_inference::Gateway`).

mod model;

use std::sync::Arc;

use bizra_autopoiesis::{PreferencePrompt, Store};
use bizra_inference::{ChatMessage, Gateway, GenerateRequest};
use bizra_protocol::Identity;
use serde_json::{json, Value};

fn request() -> GenerateRequest {
    GenerateRequest::chat("Say hello.")
        .system("You are helpful.")
        .greedy()
        .max_tokens(4)
}

fn params(envelope: &bizra_protocol::Envelope) -> Value {
    envelope.payload()["params"].clone()
}

#[test]
fn active_preferences_shape_the_system_message_and_are_signed_in_params() {
    let engine = model::engine();
    let store = Arc::new(Store::in_memory().unwrap());
    let gateway = Gateway::builder()
        .engine(engine.clone())
        .system_prompt(Arc::new(PreferencePrompt(store.clone())))
        .build()
        .unwrap();
    let id = Identity::generate();

    // No active preference: the request is served and signed as without a shaper.
    let plain = gateway.generate(&id, &request()).unwrap();
    assert!(
        params(&plain).get("system_prompt").is_none(),
        "{}",
        params(&plain)
    );
    let direct = engine.generate(&id, &request()).unwrap();
    assert_eq!(
        plain.payload()["prompt_blake3"],
        direct.payload()["prompt_blake3"]
    );

    // Observed six times, the preference is active: it shapes the next request.
    for _ in 0..6 {
        store
            .preferences()
            .observe("style", "tone", "concise")
            .unwrap();
    }
    store
        .preferences()
        .observe("style", "tone", "verbose")
        .unwrap(); // not active
    let shaped = gateway.generate(&id, &request()).unwrap();
    let expected = store.preferences().apply(Some("You are helpful.")).unwrap();
    assert!(
        expected.ends_with("User preferences:\n- style.tone: concise"),
        "{expected}"
    );
    let signed = &params(&shaped)["system_prompt"];
    let confidence = store
        .preferences()
        .get("style", "tone")
        .unwrap()
        .unwrap()
        .confidence;
    assert_eq!(
        signed["applied"],
        json!([{"type": "style", "key": "tone", "value": "concise", "confidence": confidence}])
    );
    assert_eq!(
        signed["blake3"],
        blake3::hash(expected.as_bytes()).to_hex().as_str()
    );
    // The model received the shaped message: the rendered prompt is the one of a request that
    // carries it, and not the unshaped one.
    let by_hand = engine
        .generate(&id, &request().system(expected.clone()))
        .unwrap();
    assert_eq!(
        shaped.payload()["prompt_blake3"],
        by_hand.payload()["prompt_blake3"]
    );
    assert_ne!(
        shaped.payload()["prompt_blake3"],
        plain.payload()["prompt_blake3"]
    );

    // A conversation without a system message gets one first; a raw prompt is left alone.
    let conversation = GenerateRequest::messages([ChatMessage::user("Say hello.")])
        .greedy()
        .max_tokens(4);
    let shaped = gateway.generate(&id, &conversation).unwrap();
    let only_preferences = store.preferences().apply(None).unwrap();
    assert_eq!(
        params(&shaped)["system_prompt"]["blake3"],
        blake3::hash(only_preferences.as_bytes()).to_hex().as_str()
    );
    let raw = GenerateRequest::raw("Hello").greedy().max_tokens(4);
    let unshaped = gateway.generate(&id, &raw).unwrap();
    assert!(params(&unshaped).get("system_prompt").is_none());
}
