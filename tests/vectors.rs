//! Every vector of `tests/vectors/PCI-v1.md`, computed by an independent implementation, byte for byte.

use bizra::hash::{domain_hash, from_hex, to_hex, Domain};
use bizra::{
    canonical, verify_message, Constitution, Envelope, Identity, RejectCode, Timestamp,
    VerifyOptions,
};
use serde_json::Value;

fn vectors() -> Value {
    let text = include_str!("vectors/pci-v1-vectors.json");
    serde_json::from_str(text).expect("vectors parse")
}

fn s<'a>(v: &'a Value, k: &str) -> &'a str {
    v[k].as_str().unwrap_or_else(|| panic!("vector member {k}"))
}

fn seed(v: &Value) -> [u8; 32] {
    from_hex::<32>(s(v, "seed")).unwrap()
}

#[test]
fn constitution_hash_and_jcs() {
    let d = vectors();
    let c = &d["constitution"];
    let text = include_str!("vectors/constitution-v1.json");
    assert_eq!(canonical::canonicalize(text).unwrap(), s(c, "jcs"));
    assert_eq!(Constitution::default().hash_hex(), s(c, "hash"));
    assert_eq!(
        Constitution::from_json(text).unwrap().hash_hex(),
        s(c, "hash")
    );
}

#[test]
fn identities() {
    for v in vectors()["identities"].as_array().unwrap() {
        let id = Identity::from_seed(&seed(v)).unwrap();
        assert_eq!(id.public_key_hex(), s(v, "public_key"));
        assert_eq!(id.node_id(), s(v, "node_id"));
        assert_eq!(id.display_id(), format!("node_{}", &s(v, "node_id")[..8]));
        assert_eq!(id.to_pem(None).unwrap().as_str(), s(v, "pkcs8_pem"));
        let back = Identity::from_pem(s(v, "pkcs8_pem"), None).unwrap();
        assert_eq!(back.public_key(), id.public_key());
        let from_hex_seed = Identity::from_pem(s(v, "seed"), None).unwrap();
        assert_eq!(from_hex_seed.public_key(), id.public_key());
    }
}

#[test]
fn messages() {
    for v in vectors()["messages"].as_array().unwrap() {
        let id = Identity::from_seed(&seed(v)).unwrap();
        let msg = hex_bytes(s(v, "message_hex"));
        assert_eq!(to_hex(&domain_hash(Domain::Message, &msg)), s(v, "digest"));
        let sig = id.sign_message(&msg);
        assert_eq!(to_hex(&sig), s(v, "signature"));
        assert!(verify_message(id.public_key(), &msg, &sig));
    }
}

fn hex_bytes(h: &str) -> Vec<u8> {
    (0..h.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&h[i..i + 2], 16).unwrap())
        .collect()
}

#[test]
fn envelopes_parse_reproduce_and_verify() {
    for v in vectors()["envelopes"].as_array().unwrap() {
        let name = s(v, "name");
        let wire = serde_json::to_string(&v["envelope"]).unwrap();
        let env = Envelope::parse(&wire).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(
            canonical::to_string(env.payload()).unwrap(),
            s(v, "payload_jcs"),
            "{name}: payload JCS"
        );
        assert_eq!(to_hex(env.content_hash()), s(v, "content_hash"), "{name}");
        assert_eq!(env.header_json(), s(v, "header_jcs"), "{name}: header JCS");
        assert_eq!(
            to_hex(&domain_hash(Domain::Pci, env.header_json().as_bytes())),
            s(v, "digest"),
            "{name}: digest"
        );
        let at = Timestamp::parse(s(v, "verify_at")).unwrap();
        env.verify(&VerifyOptions::default().at(at))
            .unwrap_or_else(|e| panic!("{name}: {e}"));

        // Building the same envelope from the seed reproduces the signature byte for byte.
        let id = Identity::from_seed(&seed(v)).unwrap();
        let rebuilt = Envelope::builder(env.payload().clone())
            .id(env.id())
            .timestamp(env.timestamp())
            .ttl(env.ttl())
            .provenance(env.provenance().to_vec())
            .scores(*env.scores())
            .policy(*env.policy())
            .sign(&id)
            .unwrap();
        assert_eq!(
            to_hex(rebuilt.signature()),
            s(v, "signature"),
            "{name}: signature"
        );
        assert_eq!(rebuilt, env, "{name}");
        // The canonical wire form parses back to the same envelope.
        assert_eq!(Envelope::parse(&rebuilt.to_json()).unwrap(), env, "{name}");
    }
}

#[test]
fn rejects_have_the_spec_codes() {
    for v in vectors()["rejects"].as_array().unwrap() {
        let name = s(v, "name");
        let want = v["code"].as_u64().unwrap() as u32;
        let now = Timestamp::parse(s(v, "now")).unwrap();
        let got =
            Envelope::parse(s(v, "text")).and_then(|e| e.verify(&VerifyOptions::default().at(now)));
        let code = match got {
            Ok(()) => 0,
            Err(e) => e.reject_code().map_or(u32::MAX, RejectCode::code),
        };
        assert_eq!(code, want, "{name}");
    }
}
