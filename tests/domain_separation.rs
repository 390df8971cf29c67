//! Domain separation: a signature made for one purpose never verifies for another.

mod common;
use common::*;

use bizra::hash::{domain_hash, Domain};
use bizra::{verify_message, Envelope, RejectCode, VerifyOptions};
use serde_json::json;

#[test]
fn a_message_signature_over_a_header_is_not_an_envelope_signature() {
    let a = alice();
    let env = good(&a, json!({"x": 1}));
    // Sign the header as a free-form message: same key, same bytes, other tag.
    let msg_sig = a.sign_message(env.header_json().as_bytes());
    let forged_json = env.to_json().replace(
        &bizra::hash::to_hex(env.signature()),
        &bizra::hash::to_hex(&msg_sig),
    );
    let forged = Envelope::parse(&forged_json).unwrap();
    let e = forged
        .verify(&VerifyOptions::default().at(t0()))
        .unwrap_err();
    assert_eq!(e.reject_code(), Some(RejectCode::Signature));
}

#[test]
fn an_envelope_signature_is_not_a_message_signature() {
    let a = alice();
    let env = good(&a, json!({"x": 1}));
    assert!(!verify_message(
        a.public_key(),
        env.header_json().as_bytes(),
        env.signature()
    ));
}

#[test]
fn tags_produce_distinct_digests() {
    let tags = [
        Domain::Pci,
        Domain::Message,
        Domain::Constitution,
        Domain::Gossip,
        Domain::Vote,
        Domain::Batch,
        Domain::Document,
        Domain::Link,
    ];
    for (i, a) in tags.iter().enumerate() {
        for b in &tags[i + 1..] {
            assert_ne!(
                domain_hash(*a, b"same bytes"),
                domain_hash(*b, b"same bytes")
            );
        }
    }
    assert_eq!(Domain::Gossip.tag(), "bizra-gossip-v1:");
}
