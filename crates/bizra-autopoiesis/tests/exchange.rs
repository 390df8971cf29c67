//! Export and import as JSON Lines of signed envelopes.

mod support;

use bizra_autopoiesis::{ImportReport, Store};
use bizra_protocol::{Envelope, ErrorKind, Identity, RejectCode, VerifyOptions};
use serde_json::json;
use support::{inference_envelope, pattern_envelope, Rng};

fn source() -> (Store, Identity) {
    let store = Store::in_memory().unwrap();
    let id = Identity::generate();
    let mut rng = Rng(11);
    let opts = VerifyOptions::default();
    for i in 0..5 {
        let env = if i % 2 == 0 {
            pattern_envelope(&id, &format!("pattern {i}"))
        } else {
            inference_envelope(&id, &format!("output {i}"))
        };
        let pid = store
            .learn(&env, &rng.vector(16), &["t"], &opts)
            .unwrap()
            .id();
        for _ in 0..i {
            store.feedback(pid, true).unwrap();
        }
    }
    store.feedback(1, false).unwrap();
    (store, id)
}

fn export(store: &Store, by: &Identity) -> String {
    let mut out = Vec::new();
    let n = store.export_jsonl(&mut out, by).unwrap();
    assert_eq!(n, store.len().unwrap());
    String::from_utf8(out).unwrap()
}

#[test]
fn an_export_is_signed_pattern_envelopes_that_import_elsewhere() {
    let (store, _) = source();
    let exporter = Identity::generate();
    let text = export(&store, &exporter);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 5);
    let originals = store.list().unwrap();
    for (line, p) in lines.iter().zip(&originals) {
        let env = Envelope::open(line, &VerifyOptions::default()).unwrap();
        assert_eq!(env.sender(), exporter.node_id());
        let payload = env.payload();
        assert_eq!(payload["type"], "bizra.pattern");
        assert_eq!(payload["content"], p.content.as_str());
        assert_eq!(payload["confidence"], json!(p.confidence));
        assert_eq!(payload["observations"], json!(p.observations));
        assert_eq!(payload["source_node"], p.source_node.as_str());
        assert_eq!(payload["introduced_by"], p.envelope_id.as_str());
        assert_eq!(payload["embedding"].as_array().unwrap().len(), 16);
    }
    let other = Store::in_memory().unwrap();
    let report = other
        .import_jsonl(text.as_bytes(), &VerifyOptions::default())
        .unwrap();
    assert_eq!(
        report,
        ImportReport {
            lines: 5,
            new: 5,
            observed: 0,
            already_known: 0
        }
    );
    let imported = other.list().unwrap();
    for (a, b) in originals.iter().zip(&imported) {
        assert_eq!(a.content, b.content);
        assert_eq!(a.embedding, b.embedding);
        assert_eq!(a.tags, b.tags);
        assert_eq!(a.confidence, b.confidence);
        assert_eq!(
            (a.observations, a.positive, a.negative),
            (b.observations, b.positive, b.negative)
        );
        assert_eq!(a.source_node, b.source_node);
        // The imported pattern's provenance is the exporter's envelope.
        Envelope::open(&b.envelope, &VerifyOptions::default()).unwrap();
    }
    // Importing the same file again changes nothing.
    let again = other
        .import_jsonl(text.as_bytes(), &VerifyOptions::default())
        .unwrap();
    assert_eq!(again.already_known, 5);
    assert_eq!(other.list().unwrap(), imported);
    // A fresh export of the same content into the source is five observations.
    let back = store
        .import_jsonl(
            export(&other, &exporter).as_bytes(),
            &VerifyOptions::default(),
        )
        .unwrap();
    assert_eq!(back.observed, 5);
    assert!(store.list().unwrap().iter().all(|p| p.observations == 2));
}

/// Every way a line can fail: the whole import is refused with that line's number and code, and
/// nothing is written.
#[test]
fn import_refuses_the_whole_file_at_the_first_line_that_does_not_verify() {
    let (store, _) = source();
    let exporter = Identity::generate();
    let text = export(&store, &exporter);
    let lines: Vec<String> = text.lines().map(str::to_owned).collect();
    let other_payload = Envelope::create(&exporter, json!({"type": "bizra.proposal"}))
        .unwrap()
        .to_json();
    let no_embedding = pattern_envelope(&exporter, "no vector").to_json();
    let cases: Vec<(usize, String, Option<RejectCode>)> = vec![
        // A changed confidence: the content hash no longer matches.
        (
            3,
            lines[2].replacen("\"confidence\":", "\"confidence\":0.99,\"x\":", 1),
            None,
        ),
        (
            4,
            lines[3].replace("pattern", "patterN"),
            Some(RejectCode::HashMismatch),
        ),
        (2, "{not json".into(), Some(RejectCode::Schema)),
        (5, other_payload, Some(RejectCode::GateSchema)),
        (1, no_embedding, Some(RejectCode::GateSchema)),
    ];
    for (at, bad, code) in cases {
        let mut tampered = lines.clone();
        tampered[at - 1] = bad;
        let target = Store::in_memory().unwrap();
        let e = target
            .import_jsonl(tampered.join("\n").as_bytes(), &VerifyOptions::default())
            .unwrap_err();
        assert!(e.to_string().contains(&format!("import line {at}:")), "{e}");
        assert!(e.reject_code().is_some(), "{e}");
        if let Some(code) = code {
            assert_eq!(e.reject_code(), Some(code), "{e}");
        }
        assert!(
            target.is_empty().unwrap(),
            "line {at}: something was written"
        );
        assert_eq!(target.dimension(), None);
    }
    // A signature made by someone else over the same header.
    let forged = {
        let mut v: serde_json::Value = serde_json::from_str(&lines[1]).unwrap();
        let other = pattern_envelope(&exporter, "x");
        let o: serde_json::Value = serde_json::from_str(&other.to_json()).unwrap();
        v["signature"] = o["signature"].clone();
        v.to_string()
    };
    let mut tampered = lines.clone();
    tampered[1] = forged;
    let target = Store::in_memory().unwrap();
    let e = target
        .import_jsonl(tampered.join("\n").as_bytes(), &VerifyOptions::default())
        .unwrap_err();
    assert_eq!(e.reject_code(), Some(RejectCode::Signature), "{e}");
    assert!(e.to_string().contains("import line 2:"), "{e}");
    assert!(target.is_empty().unwrap());
    // An expired file: verified at a later instant.
    let late = VerifyOptions::default().at(bizra_protocol::Timestamp::now().plus_seconds(7200));
    let e = target.import_jsonl(text.as_bytes(), &late).unwrap_err();
    assert_eq!(e.reject_code(), Some(RejectCode::Expired));
    assert!(e.to_string().contains("import line 1:"), "{e}");
}

#[test]
fn an_import_into_a_store_of_another_dimension_is_refused_whole() {
    let (store, _) = source();
    let text = export(&store, &Identity::generate());
    let target = Store::in_memory().unwrap();
    let id = Identity::generate();
    target
        .learn(
            &pattern_envelope(&id, "mine"),
            &[1.0, 0.0, 0.0],
            &[],
            &VerifyOptions::default(),
        )
        .unwrap();
    let e = target
        .import_jsonl(text.as_bytes(), &VerifyOptions::default())
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput);
    assert!(e.to_string().contains("import line 1:"), "{e}");
    assert_eq!(target.len().unwrap(), 1);
}
