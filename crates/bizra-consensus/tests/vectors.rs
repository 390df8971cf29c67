//! The CONSENSUS-v1 vectors (`tests/vectors/consensus-v1-vectors.json`, computed by
//! `gen_consensus_vectors.py` without bizra's code), reproduced byte for byte: documents and their
//! hashes, vote and proposal signing bytes and signatures, batch ids, and every certificate's
//! verdict. The messages between validators (`wire`) are checked by the unit test
//! `src/engine/wire_vectors.rs`, since the decoder is private to the crate.

use std::collections::HashMap;
use std::time::Duration;

use bizra_consensus::{
    Batch, Certificate, CertificateCode, FederationDocument, ProposalBody, Timeouts, Validator,
    ValueId, VoteBody, VoteType,
};
use bizra_protocol::hash::{from_hex, to_hex};
use bizra_protocol::identity::PeerKey;
use bizra_protocol::{GateChain, Identity, Timestamp};
use serde_json::Value;

fn vectors() -> Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/vectors/consensus-v1-vectors.json"
    );
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn identities(v: &Value) -> Vec<Identity> {
    v["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| {
            let id =
                Identity::from_seed(&from_hex::<32>(k["seed"].as_str().unwrap()).unwrap()).unwrap();
            assert_eq!(id.public_key_hex(), k["public_key"].as_str().unwrap());
            id
        })
        .collect()
}

fn documents(v: &Value) -> HashMap<String, FederationDocument> {
    v["documents"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(name, d)| {
            let doc = FederationDocument::from_json(d["json"].as_str().unwrap()).unwrap();
            (name.clone(), doc)
        })
        .collect()
}

#[test]
fn documents_and_their_hashes() {
    let v = vectors();
    let ids = identities(&v);
    let docs = documents(&v);
    for (name, powers) in [("equal", [1, 1, 1, 1]), ("weighted", [1, 1, 1, 3])] {
        let validators = ids
            .iter()
            .zip(powers)
            .map(|(id, p)| Validator::new(id.public_key(), p).unwrap())
            .collect();
        let timeouts = Timeouts {
            propose: Duration::from_millis(1000),
            prevote: Duration::from_millis(500),
            precommit: Duration::from_millis(500),
            delta: Duration::from_millis(250),
            rebroadcast: Duration::from_millis(1000),
        };
        let built = FederationDocument::new("vectors", 3, validators, timeouts).unwrap();
        let want = &v["documents"][name];
        assert_eq!(built.to_json(), want["json"].as_str().unwrap(), "{name}");
        assert_eq!(
            to_hex(built.hash()),
            want["hash"].as_str().unwrap(),
            "{name}"
        );
        assert_eq!(&built, &docs[name]);
    }
}

fn value_of(v: &Value) -> Option<ValueId> {
    v.as_str().map(|s| ValueId::from_hex(s).unwrap())
}

#[test]
fn votes_and_proposals_sign_the_same_bytes() {
    let v = vectors();
    let ids = identities(&v);
    let signer = |hex: &str| ids.iter().find(|i| i.public_key_hex() == hex).unwrap();
    for vote in v["votes"].as_array().unwrap() {
        let f = &vote["fields"];
        let value = value_of(&f["value"]);
        let body = VoteBody {
            federation: f["federation"].as_str().unwrap(),
            epoch: f["epoch"].as_u64().unwrap(),
            height: f["height"].as_u64().unwrap(),
            round: f["round"].as_u64().unwrap() as u32,
            vote_type: match f["type"].as_str().unwrap() {
                "prevote" => VoteType::Prevote,
                _ => VoteType::Precommit,
            },
            value: value.as_ref(),
            validator: f["validator"].as_str().unwrap(),
        };
        check_signed(
            vote,
            &body.signing_bytes(),
            &body.sign(signer(body.validator)),
        );
        let key = PeerKey::from_bytes(signer(body.validator).public_key()).unwrap();
        assert!(body.verify(&key, &sig(vote)));
    }
    for proposal in v["proposals"].as_array().unwrap() {
        let f = &proposal["fields"];
        let value = value_of(&f["value"]).unwrap();
        let pol = f["pol_round"].as_i64().unwrap();
        let body = ProposalBody {
            federation: f["federation"].as_str().unwrap(),
            epoch: f["epoch"].as_u64().unwrap(),
            height: f["height"].as_u64().unwrap(),
            round: f["round"].as_u64().unwrap() as u32,
            pol_round: u32::try_from(pol).ok(),
            value: &value,
            validator: f["validator"].as_str().unwrap(),
        };
        check_signed(
            proposal,
            &body.signing_bytes(),
            &body.sign(signer(body.validator)),
        );
    }
}

fn sig(vector: &Value) -> [u8; 64] {
    from_hex(vector["signature"].as_str().unwrap()).unwrap()
}

fn check_signed(vector: &Value, bytes: &[u8], signature: &[u8; 64]) {
    let name = vector["name"].as_str().unwrap();
    assert_eq!(
        std::str::from_utf8(bytes).unwrap(),
        vector["signing_bytes"].as_str().unwrap(),
        "{name}"
    );
    assert_eq!(
        to_hex(signature),
        vector["signature"].as_str().unwrap(),
        "{name}"
    );
}

#[test]
fn batches_and_their_ids() {
    let v = vectors();
    let at = Timestamp::parse(v["verify_batches_at"].as_str().unwrap()).unwrap();
    for b in v["batches"].as_array().unwrap() {
        let name = b["name"].as_str().unwrap();
        let batch = Batch::from_json(b["json"].as_str().unwrap()).unwrap();
        assert_eq!(batch.id().to_hex(), b["id"].as_str().unwrap(), "{name}");
        assert_eq!(batch.to_json(), b["json"].as_str().unwrap(), "{name}");
        let mut reversed = batch.envelopes().to_vec();
        reversed.reverse();
        assert_eq!(Batch::new(reversed).unwrap().id(), batch.id(), "{name}");
        batch.check(&GateChain::default(), at).unwrap();
    }
}

#[test]
fn every_certificate_gets_its_verdict() {
    let v = vectors();
    let docs = documents(&v);
    let batches: HashMap<&str, Batch> = v["batches"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| {
            (
                b["name"].as_str().unwrap(),
                Batch::from_json(b["json"].as_str().unwrap()).unwrap(),
            )
        })
        .collect();
    let cases = v["certificates"].as_array().unwrap();
    let mut codes_seen = std::collections::HashSet::new();
    for case in cases {
        let name = case["name"].as_str().unwrap();
        let text = case["json"].as_str().unwrap();
        let expect = case["expect"].as_str().unwrap();
        let doc = &docs[case["document"].as_str().unwrap()];
        let verdict = Certificate::from_json(text).and_then(|c| {
            match case["batch"].as_str() {
                Some(b) => c.verify_batch(&batches[b], doc)?,
                None => c.verify(doc)?,
            }
            Ok(c)
        });
        match verdict {
            Ok(c) => {
                assert_eq!(expect, "ok", "{name}: accepted");
                assert_eq!(c.to_json(), text, "{name}: canonical form");
            }
            Err(e) => {
                assert_eq!(e.code.name(), expect, "{name}: {e}");
                assert!(!e.detail.is_empty());
                codes_seen.insert(e.code);
            }
        }
    }
    // The vectors exercise every refusal.
    for code in CertificateCode::ALL {
        assert!(
            codes_seen.contains(&code),
            "no vector refused with {}",
            code.name()
        );
    }
}
