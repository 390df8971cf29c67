//! The wire vectors of CONSENSUS-v1 ("Messages between validators"; the `wire` member of
//! `tests/vectors/consensus-v1-vectors.json`, computed by `gen_consensus_vectors.py` from the
//! spec alone): every message decodes to the fields the generator wrote, re-encodes to the same
//! bytes, and carries valid signatures; every refused case is refused. A unit test, because the
//! decoder and the core's message types are private to the crate.

use std::collections::BTreeSet;
use std::sync::Arc;

use bizra_protocol::hash::to_hex;
use bizra_protocol::{GateChain, Timestamp};
use malachitebft_core_types::{NilOrVal, RoundCertificateType, VoteType};
use serde_json::{json, Value as Json};

use super::wire::{self, Message};
use crate::batch::ValueId;
use crate::context::BizraContext;
use crate::document::FederationDocument;

fn vectors() -> Json {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/vectors/consensus-v1-vectors.json"
    );
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn bytes(hex: &Json) -> Vec<u8> {
    let hex = hex.as_str().unwrap();
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
        .collect()
}

fn vote_type(t: VoteType) -> &'static str {
    match t {
        VoteType::Prevote => "prevote",
        VoteType::Precommit => "precommit",
    }
}

fn value(v: &NilOrVal<ValueId>) -> Json {
    match v {
        NilOrVal::Nil => Json::Null,
        NilOrVal::Val(id) => id.to_hex().into(),
    }
}

fn signer(key: &[u8; 32], signature: &[u8; 64]) -> Json {
    json!({"validator": to_hex(key), "signature": to_hex(signature)})
}

/// The kind and fields of a decoded message, in the generator's terms.
fn described(message: &Message) -> (&'static str, Json) {
    match message {
        Message::Vote(v) => {
            let m = &v.message;
            let fields = json!({
                "height": m.height.0,
                "round": m.round,
                "type": vote_type(m.vote_type),
                "value": value(&m.value),
                "validator": m.validator.to_hex(),
                "signature": to_hex(&v.signature.0),
            });
            ("vote", fields)
        }
        Message::Proposal(p) => {
            let m = &p.message;
            let fields = json!({
                "height": m.height.0,
                "round": m.round,
                "pol_round": m.pol_round.as_i64(),
                "proposer": m.proposer.to_hex(),
                "signature": to_hex(&p.signature.0),
                "value": m.value.batch().id().to_hex(),
            });
            ("proposal", fields)
        }
        Message::Polka(c) => {
            let fields = json!({
                "height": c.height.0,
                "round": c.round.as_i64(),
                "value": c.value_id.to_hex(),
                "signatures": c.polka_signatures.iter()
                    .map(|s| signer(&s.address.0, &s.signature.0))
                    .collect::<Vec<_>>(),
            });
            ("polka_certificate", fields)
        }
        Message::RoundCertificate(c) => {
            let votes: Vec<Json> = c
                .round_signatures
                .iter()
                .map(|s| {
                    json!({
                        "type": vote_type(s.vote_type),
                        "value": value(&s.value_id),
                        "validator": s.address.to_hex(),
                        "signature": to_hex(&s.signature.0),
                    })
                })
                .collect();
            let fields = json!({
                "height": c.height.0,
                "round": c.round.as_i64(),
                "certificate": match c.cert_type {
                    RoundCertificateType::Skip => "skip",
                    RoundCertificateType::Precommit => "precommit",
                },
                "votes": votes,
            });
            ("round_certificate", fields)
        }
        Message::Submission(e) => ("submission", json!({"envelope": e.id()})),
        Message::Decision(d) => {
            let fields = json!({
                "height": d.height,
                "round": d.round,
                "value": d.value.to_hex(),
                "signatures": d.signatures.iter().map(|(k, s)| signer(k, s)).collect::<Vec<_>>(),
                "batch": d.batch.batch().id().to_hex(),
            });
            ("decision", fields)
        }
    }
}

/// Whether every signature in the message verifies as the engine verifies it, against the
/// document (and, for a submission, the envelope's own at the vectors' time).
fn signed(message: &Message, ctx: &BizraContext, at: Timestamp) -> bool {
    let document = ctx.document();
    let key = |address: &crate::context::Address| {
        document
            .validator(&address.to_hex())
            .map(|v| *v.key())
            .unwrap()
    };
    match message {
        Message::Vote(v) => ctx.verify_vote(&v.message, &key(&v.message.validator), &v.signature),
        Message::Proposal(p) => {
            ctx.verify_proposal(&p.message, &key(&p.message.proposer), &p.signature)
        }
        Message::Polka(c) => ctx.verify_polka(c).is_ok(),
        Message::RoundCertificate(c) => ctx.verify_round(c).is_ok(),
        Message::Submission(e) => GateChain::default().check_at(e, at).into_result().is_ok(),
        Message::Decision(d) => d
            .certificate(document)
            .verify_batch(d.batch.batch(), document)
            .is_ok(),
    }
}

#[test]
fn every_message_decodes_to_its_fields_and_re_encodes_to_the_same_bytes() {
    let v = vectors();
    let wire_vectors = &v["wire"];
    let name = wire_vectors["document"].as_str().unwrap();
    let document =
        FederationDocument::from_json(v["documents"][name]["json"].as_str().unwrap()).unwrap();
    let ctx = BizraContext::new(Arc::new(document));
    let at = Timestamp::parse(v["verify_batches_at"].as_str().unwrap()).unwrap();
    let mut kinds = BTreeSet::new();
    for vector in wire_vectors["messages"].as_array().unwrap() {
        let name = vector["name"].as_str().unwrap();
        let bytes = bytes(&vector["hex"]);
        let message =
            wire::decode_message(&bytes).unwrap_or_else(|e| panic!("{name}: refused: {e}"));
        let (kind, fields) = described(&message);
        assert_eq!(kind, vector["kind"].as_str().unwrap(), "{name}");
        assert_eq!(fields, vector["fields"], "{name}");
        assert!(
            message.encode(ctx.document()) == bytes,
            "{name}: re-encoded to other bytes"
        );
        assert!(signed(&message, &ctx, at), "{name}: a signature is bad");
        kinds.insert(kind);
    }
    assert_eq!(
        kinds.into_iter().collect::<Vec<_>>(),
        [
            "decision",
            "polka_certificate",
            "proposal",
            "round_certificate",
            "submission",
            "vote"
        ],
        "a message kind without vectors"
    );
}

#[test]
fn every_refused_case_is_refused() {
    let v = vectors();
    let cases = v["wire"]["refused"].as_array().unwrap();
    assert!(!cases.is_empty());
    for case in cases {
        let name = case["name"].as_str().unwrap();
        let why = case["why"].as_str().unwrap();
        if let Ok(m) = wire::decode_message(&bytes(&case["hex"])) {
            panic!("{name} ({why}) was accepted as {:?}", described(&m).0);
        }
    }
}
