//! The ELEVATION-v1 vectors (`tests/vectors/elevation-v1-vectors.json`, computed by
//! `gen_elevation_vectors.py` with none of bizra's code): every proposal is read as the vector
//! says (accepted with the pattern it states, or refused for the part it names, with the PCI-v1
//! reject code where one applies), and a proposal this crate writes has the layout they use.

use bizra_autopoiesis::{elevation_proposal, read_elevation_proposal, ProposalPart, Store};
use bizra_protocol::{Envelope, Identity, VerifyOptions};
use serde_json::Value;

fn vectors() -> Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/vectors/elevation-v1-vectors.json"
    );
    serde_json::from_str(&std::fs::read_to_string(path).expect("the vectors")).expect("JSON")
}

fn normalised(v: &[f32]) -> Vec<f32> {
    let n = v.iter().map(|&x| f64::from(x).powi(2)).sum::<f64>().sqrt();
    v.iter().map(|&x| (f64::from(x) / n) as f32).collect()
}

#[test]
fn every_vector_is_read_as_it_says() {
    let all = vectors();
    let cases = all["cases"].as_array().unwrap();
    assert!(cases.len() >= 14);
    for case in cases {
        let name = case["name"].as_str().unwrap();
        let expect = &case["expect"];
        let proposal = Envelope::parse(case["proposal"].as_str().unwrap())
            .unwrap_or_else(|e| panic!("{name}: the proposal does not parse: {e}"));
        let read = read_elevation_proposal(&proposal, None);
        if expect["accepted"] == true {
            let p = read.unwrap_or_else(|e| panic!("{name}: refused: {e}"));
            assert_eq!(
                p.pattern.content,
                expect["content"].as_str().unwrap(),
                "{name}"
            );
            let tags: Vec<&str> = expect["tags"]
                .as_array()
                .unwrap()
                .iter()
                .map(|t| t.as_str().unwrap())
                .collect();
            assert_eq!(p.tags, tags, "{name}");
            let stated: Vec<f32> = expect["embedding"]
                .as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_f64().unwrap() as f32)
                .collect();
            assert_eq!(p.embedding, normalised(&stated), "{name}");
            assert_eq!(
                p.origin.id(),
                expect["origin_id"].as_str().unwrap(),
                "{name}"
            );
            assert_eq!(
                proposal.sender(),
                expect["proposer"].as_str().unwrap(),
                "{name}"
            );
            // Byte for byte: the proposal's canonical text is the vector's.
            assert_eq!(
                proposal.to_json(),
                case["proposal"].as_str().unwrap(),
                "{name}"
            );
        } else {
            let refused = match read {
                Ok(_) => panic!("{name}: accepted, the vector refuses it"),
                Err(r) => r,
            };
            assert_eq!(
                refused.part.name(),
                expect["reason"].as_str().unwrap(),
                "{name}: {refused}"
            );
            match (&expect["reject"], refused.error.reject_code()) {
                (Value::Null, None) => {}
                (Value::Null, Some(_)) => {
                    panic!("{name}: a PCI refusal where the vector has none: {refused}")
                }
                (reject, Some(code)) => {
                    assert_eq!(u64::from(code.code()), reject["code"], "{name}");
                    assert_eq!(code.name(), reject["name"].as_str().unwrap(), "{name}");
                }
                (reject, None) => panic!("{name}: expected {reject}, got {refused}"),
            }
        }
    }
}

#[test]
fn a_store_refuses_an_embedding_of_another_dimension() {
    let all = vectors();
    let case = &all["cases"][0];
    let proposal = Envelope::parse(case["proposal"].as_str().unwrap()).unwrap();
    let refused = read_elevation_proposal(&proposal, Some(8)).unwrap_err();
    assert_eq!(refused.part, ProposalPart::Embedding, "{refused}");
}

/// What this crate writes has the vectors' layout: the payload's members, the pattern stated,
/// the origin carried as it is, the scores (the origin's SNR, the confidence as Ihsan).
#[test]
fn a_proposal_written_here_has_the_layout_of_the_vectors() {
    let all = vectors();
    let case = &all["cases"][0];
    let theirs: Value = serde_json::from_str(case["proposal"].as_str().unwrap()).unwrap();
    let origin = Envelope::from_value(theirs["payload"]["origin"].clone()).unwrap();
    let store = Store::in_memory().unwrap();
    let embedding: Vec<f32> = case["expect"]["embedding"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap() as f32)
        .collect();
    let learned = store
        .learn(
            &origin,
            &embedding,
            &["geography", "facts"],
            &VerifyOptions::default().at(origin.timestamp()),
        )
        .unwrap();
    let pattern = store.get(learned.id()).unwrap().unwrap();
    let ours = elevation_proposal(&pattern, &Identity::generate()).unwrap();
    let ours: Value = serde_json::from_str(&ours.to_json()).unwrap();
    let keys = |v: &Value| {
        let mut k: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
        k.sort();
        k
    };
    assert_eq!(keys(&ours["payload"]), keys(&theirs["payload"]));
    assert_eq!(ours["payload"]["type"], theirs["payload"]["type"]);
    assert_eq!(ours["payload"]["action"], theirs["payload"]["action"]);
    assert_eq!(ours["payload"]["origin"], theirs["payload"]["origin"]);
    for member in ["type", "content", "tags", "source_node", "introduced_by"] {
        assert_eq!(
            ours["payload"]["pattern"][member], theirs["payload"]["pattern"][member],
            "pattern.{member}"
        );
    }
    assert!(keys(&ours["payload"]["pattern"])
        .iter()
        .all(|k| theirs["payload"]["pattern"].get(k).is_some()));
    assert_eq!(
        ours["scores"]["snr"],
        theirs["payload"]["origin"]["scores"]["snr"]
    );
    assert_eq!(
        ours["scores"]["ihsan"],
        ours["payload"]["pattern"]["confidence"]
    );
}
