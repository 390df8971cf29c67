//! A consensus link from the network (LINK-v1): the handshake as the accepting end, then the
//! frames. Input: a structured session (`arbitrary`), written as bytes the way a peer writes
//! them, mostly well formed so that the frame reader is reached: a hello naming an admitted
//! member, this end itself or a stranger, the vectors' federation or another, an auth that is
//! the member's signature or not, then frames of either kind, raw frame heads and trailing
//! bytes. Nothing may panic, and what the link does is checked against what the session is:
//! this end writes its hello and (only for an acceptable hello) its own auth, authenticates
//! exactly a valid session, and then reads every well-formed frame the peer wrote, each
//! re-framed to the same bytes, stopping at the first malformed one.
#![no_main]

use std::sync::{Arc, OnceLock};

use arbitrary::Arbitrary;
use bizra_consensus::engine::wire::MAX_MESSAGE_BYTES;
use bizra_federation::Admission;
use bizra_protocol::hash::Domain;
use bizra_protocol::Identity;
use bizra_runtime::fuzzing::{self as link, LinkRead};
use libfuzzer_sys::fuzz_target;

const VECTORS: &str = include_str!("../../tests/vectors/link-v1-vectors.json");
/// LINK-v1's largest frame: a consensus message and its kind byte.
const MAX_FRAME: usize = MAX_MESSAGE_BYTES + 1;

struct Fixtures {
    federation: [u8; 32],
    /// The accepting end (the vectors' `b`), with its nonce.
    this: Arc<Identity>,
    nonce: [u8; 32],
    /// An admitted member (the vectors' `a`) and a stranger.
    member: Identity,
    stranger: Identity,
}

fn hex<const N: usize>(v: &serde_json::Value) -> [u8; N] {
    let s = v.as_str().expect("hex");
    let bytes: Vec<u8> = (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex"))
        .collect();
    bytes.try_into().expect("length")
}

fn fixtures() -> &'static Fixtures {
    static F: OnceLock<Fixtures> = OnceLock::new();
    F.get_or_init(|| {
        let v: serde_json::Value = serde_json::from_str(VECTORS).expect("the vectors");
        let end = |n: &str| Identity::from_seed(&hex::<32>(&v["handshake"][n]["seed"])).unwrap();
        Fixtures {
            federation: hex(&v["federation"]["id"]),
            this: Arc::new(end("b")),
            nonce: hex(&v["handshake"]["b"]["nonce"]),
            member: end("a"),
            stranger: Identity::from_seed(&[0x5a; 32]).unwrap(),
        }
    })
}

#[derive(Arbitrary, Debug)]
struct Session {
    /// Who the hello names.
    sender: Sender,
    /// `None`: "BZL1".
    magic: Option<[u8; 4]>,
    /// `None`: the vectors' federation.
    federation: Option<[u8; 32]>,
    nonce: [u8; 32],
    /// Whom this end dialed, if it did: `true` the member, `false` the stranger.
    dialed: Option<bool>,
    /// `None`: the signature the sender's key makes over what LINK-v1 says it signs.
    auth: Option<[u8; 64]>,
    frames: Vec<Frame>,
    trailing: Vec<u8>,
}

#[derive(Arbitrary, Debug)]
enum Sender {
    Member,
    ThisEnd,
    Stranger,
}

#[derive(Arbitrary, Debug)]
enum Frame {
    Message(Vec<u8>),
    Fetch(u64, u32),
    /// A body of any kind byte, with the right length.
    Kind(u8, Vec<u8>),
    /// A head of any length and kind, and a body.
    Raw(u32, u8, Vec<u8>),
}

impl Frame {
    /// The bytes, and whether a link reads them as one frame.
    fn bytes(&self) -> (Vec<u8>, bool) {
        let framed = |kind: u8, body: &[u8]| {
            let mut out = (1 + body.len() as u32).to_be_bytes().to_vec();
            out.push(kind);
            out.extend_from_slice(body);
            out
        };
        match self {
            Frame::Message(body) => (framed(1, body), body.len() < MAX_FRAME),
            Frame::Fetch(from, count) => {
                let body = [&from.to_be_bytes()[..], &count.to_be_bytes()].concat();
                (framed(2, &body), true)
            }
            Frame::Kind(kind, body) => (
                framed(*kind, body),
                matches!(kind, 1 | 2) && body.len() < MAX_FRAME,
            ),
            Frame::Raw(n, kind, body) => {
                let mut out = n.to_be_bytes().to_vec();
                out.push(*kind);
                out.extend_from_slice(body);
                let n = *n as usize;
                (
                    out,
                    matches!(kind, 1 | 2) && (1..=MAX_FRAME).contains(&n) && n - 1 == body.len(),
                )
            }
        }
    }
}

fn auth_bytes(federation: &[u8; 32], signer: &[u8; 32], other: &[u8; 32], nonce: &[u8]) -> Vec<u8> {
    [&federation[..], signer, other, nonce].concat()
}

fn hello(magic: &[u8; 4], federation: &[u8; 32], key: &[u8; 32], nonce: &[u8; 32]) -> Vec<u8> {
    [&magic[..], federation, key, nonce].concat()
}

fuzz_target!(|s: Session| {
    let f = fixtures();
    let own = *f.this.public_key();
    let (member, stranger) = (*f.member.public_key(), *f.stranger.public_key());
    let sender = match s.sender {
        Sender::Member => &f.member,
        Sender::ThisEnd => &*f.this,
        Sender::Stranger => &f.stranger,
    };
    let key = *sender.public_key();
    let magic = s.magic.unwrap_or(*b"BZL1");
    let federation = s.federation.unwrap_or(f.federation);
    let valid_auth = sender.sign_in(Domain::Link, &auth_bytes(&federation, &key, &own, &f.nonce));
    let auth = s.auth.unwrap_or(valid_auth);

    let mut input = hello(&magic, &federation, &key, &s.nonce);
    input.extend_from_slice(&auth);
    let handshake_len = input.len();
    let mut expected_frames = Vec::new();
    let mut well_formed = true;
    for frame in &s.frames {
        let (bytes, ok) = frame.bytes();
        well_formed &= ok;
        if well_formed {
            expected_frames.push(bytes.clone());
        }
        input.extend_from_slice(&bytes);
    }
    input.extend_from_slice(&s.trailing);

    let dialed = s.dialed.map(|m| if m { member } else { stranger });
    let read: LinkRead = link::read_link(
        f.this.clone(),
        f.federation,
        Admission::allow([own, member]),
        dialed,
        f.nonce,
        &input,
    );

    let acceptable = magic == *b"BZL1"
        && federation == f.federation
        && key == member
        && dialed.is_none_or(|d| d == key);
    let mut written = hello(b"BZL1", &f.federation, &own, &f.nonce);
    if acceptable {
        written.extend(f.this.sign_in(
            Domain::Link,
            &auth_bytes(&f.federation, &own, &key, &s.nonce),
        ));
    }
    assert_eq!(read.written, written, "this end wrote other bytes");
    let authenticated = acceptable && auth == valid_auth;
    assert_eq!(read.peer, authenticated.then_some(member));
    if !authenticated {
        assert!(read.frames.is_empty());
        return;
    }
    // Every frame read is framed again to the bytes it came from, in order; the reader takes all
    // the well-formed frames written before the first malformed one (and perhaps a frame that
    // the trailing bytes complete).
    let mut at = handshake_len;
    for (i, (kind, body)) in read.frames.iter().enumerate() {
        let again = link::frame(*kind, body).expect("a frame read is of a known kind");
        assert_eq!(
            again,
            input[at..at + again.len()],
            "frame {i} re-framed to other bytes"
        );
        at += again.len();
        if *kind == 2 {
            if let Some((from, count)) = link::parse_fetch(body) {
                assert_eq!(
                    link::fetch(from, count),
                    again,
                    "fetch {i} written again differs"
                );
            } else {
                assert_ne!(body.len(), 12);
            }
        }
        if let Some(expected) = expected_frames.get(i) {
            assert_eq!(&again, expected, "frame {i} is not the one written");
        }
    }
    assert!(
        read.frames.len() >= expected_frames.len(),
        "a well-formed frame was not read"
    );
});
