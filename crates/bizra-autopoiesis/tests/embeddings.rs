//! Recall on real embeddings: SmolLM2 (the GGUF at $BIZRA_TEST_MODEL, else in
//! `$BIZRA_CACHE/models/`, which `make model` fills) embeds sentences, and a paraphrase recalls its
//! original above unrelated sentences.

mod model;
mod support;

use model::engine;

use bizra_autopoiesis::{RecallOptions, Store};
use bizra_protocol::{Identity, VerifyOptions};

#[test]
fn a_paraphrase_recalls_its_original_above_unrelated_sentences() {
    let engine = engine();
    let store = Store::in_memory().unwrap();
    let id = Identity::generate();
    let pairs = [
        (
            "The cat is sleeping on the sofa.",
            "A cat naps on the couch.",
        ),
        (
            "Paris is the capital of France.",
            "France's capital city is Paris.",
        ),
        (
            "I need to buy milk and eggs at the store.",
            "I have to pick up eggs and milk from the shop.",
        ),
        (
            "The stock market fell sharply today.",
            "Share prices dropped steeply today.",
        ),
    ];
    let unrelated = [
        "Quantum computers use qubits.",
        "The recipe needs two cups of flour.",
        "He scored a goal in the final minute.",
        "Volcanoes erupt molten rock.",
    ];
    let mut originals = Vec::new();
    for text in pairs.iter().map(|p| p.0).chain(unrelated) {
        let env = support::inference_envelope(&id, text);
        let learned = store
            .learn_embedded(&env, &engine, &[], &VerifyOptions::default())
            .unwrap();
        // The engine's embedding of the output is what was stored (normalised).
        let stored = store.get(learned.id()).unwrap().unwrap().embedding;
        assert_eq!(stored, support::normalised(&engine.embed(text).unwrap()));
        originals.push((text, learned.id()));
    }
    assert_eq!(store.dimension(), Some(support::DIM));
    for (i, (original, paraphrase)) in pairs.iter().enumerate() {
        let q = engine.embed(paraphrase).unwrap();
        let hits = store
            .recall_text(&engine, paraphrase, RecallOptions::top(3).threshold(-1.0))
            .unwrap();
        let exact = store
            .recall_exact(&q, RecallOptions::top(3).threshold(-1.0))
            .unwrap();
        assert_eq!(hits, exact);
        eprintln!(
            "{paraphrase:?} -> {:?}",
            hits.iter()
                .map(|h| (h.pattern.content.as_str(), h.similarity))
                .collect::<Vec<_>>()
        );
        assert_eq!(
            hits[0].pattern.id, originals[i].1,
            "{paraphrase:?} recalled {:?}",
            hits[0].pattern.content
        );
        assert_eq!(hits[0].pattern.content, *original);
        // Mean-pooled SmolLM2 embeddings put unrelated sentences at 0.75-0.87 (above the default
        // threshold): the paraphrase must still stand clear of the best of them.
        assert!(
            hits[0].similarity > hits[1].similarity + 0.02,
            "{paraphrase:?}: {} vs {}",
            hits[0].similarity,
            hits[1].similarity
        );
    }
}

#[test]
fn learning_with_the_engine_verifies_first_and_counts_a_replay_once() {
    let engine = engine();
    let store = Store::in_memory().unwrap();
    let id = Identity::generate();
    let env = support::inference_envelope(&id, "Water boils at 100 degrees Celsius.");
    // A replay cache in the options: verified once, not refused as a replay of itself.
    let cache = bizra_protocol::ReplayCache::default();
    let opts = VerifyOptions::default().replay(&cache);
    assert!(matches!(
        store.learn_embedded(&env, &engine, &["physics"], &opts),
        Ok(bizra_autopoiesis::Learned::New(_))
    ));
    // The same envelope again is a replay, refused before anything is embedded or written.
    let e = store.learn_embedded(&env, &engine, &[], &opts).unwrap_err();
    assert_eq!(
        e.reject_code(),
        Some(bizra_protocol::RejectCode::Replay),
        "{e}"
    );
    // A payload with nothing to learn is refused by its type.
    let other =
        bizra_protocol::Envelope::create(&id, serde_json::json!({"type": "bizra.note"})).unwrap();
    let e = store
        .learn_embedded(&other, &engine, &[], &VerifyOptions::default())
        .unwrap_err();
    assert!(e.to_string().contains("cannot learn"), "{e}");
    assert_eq!(store.len().unwrap(), 1);
}
