//! Every vector of `tests/vectors/GOSSIP-v1.md` (computed by an implementation independent of
//! this crate), byte for byte: datagrams are sealed identically, and every reject vector is
//! dropped with its reason by a real `Membership`.

use std::sync::Arc;

use bizra_federation::datagram::{self, Header, Kind};
use bizra_federation::{DropReason, Membership, MembershipConfig};
use bizra_protocol::hash::{domain_hash, from_hex, to_hex, Domain};
use bizra_protocol::identity::PeerKey;
use bizra_protocol::Identity;
use serde_json::Value;

fn vectors() -> Value {
    serde_json::from_str(include_str!(
        "../../../tests/vectors/gossip-v1-vectors.json"
    ))
    .expect("vectors parse")
}

fn hex(v: &Value, k: &str) -> Vec<u8> {
    let s = v[k].as_str().unwrap_or_else(|| panic!("member {k}"));
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

fn identity(seed_hex: &str) -> Identity {
    Identity::from_seed(&from_hex::<32>(seed_hex).unwrap()).unwrap()
}

#[test]
fn federation_ids_and_keys() {
    let d = vectors();
    for (name, id) in d["federations"].as_object().unwrap() {
        assert_eq!(
            to_hex(&MembershipConfig::federation_id(name)),
            id.as_str().unwrap()
        );
    }
    for i in d["identities"].as_array().unwrap() {
        assert_eq!(
            identity(i["seed"].as_str().unwrap()).public_key_hex(),
            i["public_key"].as_str().unwrap()
        );
    }
}

#[test]
fn datagrams_are_sealed_byte_for_byte() {
    for v in vectors()["datagrams"].as_array().unwrap() {
        let name = v["name"].as_str().unwrap();
        let id = identity(v["seed"].as_str().unwrap());
        let kind = match v["kind"].as_str().unwrap() {
            "swim" => Kind::Swim,
            "hello" => Kind::Hello,
            "welcome" => Kind::Welcome,
            _ => Kind::Leaving,
        };
        let header = Header {
            kind,
            federation: MembershipConfig::federation_id(v["federation"].as_str().unwrap()),
            sender: *id.public_key(),
            generation: v["generation"].as_u64().unwrap(),
            sequence: v["sequence"].as_u64().unwrap(),
            sent_at_ms: v["sent_at_ms"].as_i64().unwrap(),
        };
        let body = hex(v, "body");
        let sealed = datagram::seal(&id, &header, &body).unwrap();
        assert_eq!(to_hex(&sealed), v["datagram"].as_str().unwrap(), "{name}");
        let signed = &sealed[..sealed.len() - 64];
        assert_eq!(
            to_hex(&domain_hash(Domain::Gossip, signed)),
            v["digest"].as_str().unwrap(),
            "{name}: digest"
        );
        let parsed = datagram::parse(&sealed).unwrap();
        assert_eq!(parsed.header, header, "{name}");
        assert_eq!(parsed.body, &body[..], "{name}");
        assert!(parsed.verify(&PeerKey::from_bytes(id.public_key()).unwrap()));
    }
}

#[test]
fn rejects_have_their_reasons() {
    let d = vectors();
    let receiver = Arc::new(identity(d["receiver_seed"].as_str().unwrap()));
    for v in d["rejects"].as_array().unwrap() {
        let name = v["name"].as_str().unwrap();
        let mut m = Membership::new(
            receiver.clone(),
            "127.0.0.1:7946".parse().unwrap(),
            1 << 16,
            MembershipConfig::new(v["federation"].as_str().unwrap()),
            [0; 32],
        );
        let now = v["now_ms"].as_i64().unwrap();
        let from = "127.0.0.1:9".parse().unwrap();
        for b in v["before"].as_array().unwrap() {
            let s = b.as_str().unwrap();
            let bytes: Vec<u8> = (0..s.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
                .collect();
            assert_eq!(
                m.handle_datagram(from, &bytes, now),
                Ok(()),
                "{name}: before"
            );
        }
        let got = m.handle_datagram(from, &hex(v, "datagram"), now);
        let want = v["reason"].as_str().unwrap();
        assert_eq!(got.map_err(DropReason::name), Err(want), "{name}");
        assert_eq!(m.drops().total(), 1, "{name}: counted once");
    }
}

#[test]
fn the_swim_body_is_foca_in_this_codec() {
    use bizra_federation::member::WireCodec;
    use bizra_federation::Admission;
    use foca::{Codec, Message, State};
    let d = vectors();
    let v = d["datagrams"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["name"] == "swim-ping")
        .unwrap();
    let body = hex(v, "body");
    let mut codec = WireCodec::new(Admission::Open);
    let mut buf = &body[..];
    let header = codec.decode_header(&mut buf).unwrap();
    assert_eq!(header.message, Message::Ping(9));
    assert_eq!(header.src_incarnation, 0);
    assert_eq!(header.src.addr.to_string(), "127.0.0.1:7946");
    assert_eq!(header.dst.addr.to_string(), "[::1]:7000");
    let count = u16::from_be_bytes([buf[0], buf[1]]);
    assert_eq!(count, 1);
    let member = codec.decode_member(&buf[2..]).unwrap();
    assert_eq!(member.id(), &header.dst);
    assert_eq!((member.incarnation(), member.state()), (2, State::Alive));
    let mut again = Vec::new();
    codec.encode_header(&header, &mut again).unwrap();
    again.extend_from_slice(&count.to_be_bytes());
    codec.encode_member(&member, &mut again).unwrap();
    assert_eq!(again, body);
}
