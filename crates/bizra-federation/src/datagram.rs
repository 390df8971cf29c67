//! GOSSIP-v1 datagrams (`tests/vectors/GOSSIP-v1.md`).
//!
//! ```text
//! offset  size  field
//!  0       4    magic "BZG1" (the last byte is the version)
//!  4       1    kind: 1 SWIM, 2 HELLO, 3 WELCOME, 4 LEAVING
//!  5      32    federation id
//! 37      32    sender's Ed25519 public key (its node key)
//! 69       8    sender's generation (boot counter), big-endian
//! 77       8    sequence number, big-endian, from 1 within a generation
//! 85       8    send time, Unix milliseconds, big-endian (signed)
//! 93       2    body length n, big-endian
//! 95       n    body
//! 95+n    64    Ed25519 signature over BLAKE3("bizra-gossip-v1:" ‖ bytes 0 .. 95+n)
//! ```
//!
//! [`seal`] writes one; [`parse`] reads the structure (nothing is trusted yet) and
//! [`Unverified::verify`] checks the signature. Every refusal has a [`DropReason`], which the
//! membership counts.

use bizra_protocol::hash::Domain;
use bizra_protocol::identity::{PeerKey, SIGNATURE_LEN};
use bizra_protocol::Identity;

/// The first four bytes of every datagram: `BZG` and the version `1`.
pub const MAGIC: [u8; 4] = *b"BZG1";
/// Bytes before the body.
pub const HEADER_LEN: usize = 95;
/// Bytes a datagram adds to its body: the header and the signature.
pub const OVERHEAD: usize = HEADER_LEN + SIGNATURE_LEN;
/// The largest datagram sent or accepted: fits an Ethernet MTU with IPv6 and UDP headers.
pub const MAX_DATAGRAM: usize = 1400;
/// The largest body.
pub const MAX_BODY: usize = MAX_DATAGRAM - OVERHEAD;

/// What a datagram carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kind {
    /// A SWIM message (foca's, in the codec of [`crate::member`]).
    Swim = 1,
    /// "Who are you?": sent to a seed address; the body is the sender's member identity.
    Hello = 2,
    /// The answer to a hello: the body is the sender's member identity.
    Welcome = 3,
    /// The sender is leaving the federation; the body is its member identity.
    Leaving = 4,
}

impl Kind {
    fn from_byte(b: u8) -> Option<Kind> {
        match b {
            1 => Some(Kind::Swim),
            2 => Some(Kind::Hello),
            3 => Some(Kind::Welcome),
            4 => Some(Kind::Leaving),
            _ => None,
        }
    }
}

/// Why a received datagram was dropped. Every reason is counted; none is ever answered.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DropReason {
    /// Longer than [`MAX_DATAGRAM`].
    Oversize,
    /// Shorter than its header, signature and stated body.
    Truncated,
    /// Not a bizra datagram (wrong magic).
    NotGossip,
    /// A bizra datagram of a version this node does not speak.
    UnknownVersion,
    /// A kind this version does not define.
    UnknownKind,
    /// Another federation's.
    WrongFederation,
    /// The sender's key is not admitted to this federation (or names a member that is not).
    NotAdmitted,
    /// The sender's key is not a valid Ed25519 point.
    BadKey,
    /// The signature does not verify (strictly).
    BadSignature,
    /// The send time lies outside the allowed clock skew from the receiver's now.
    Stale,
    /// This sequence number of this generation was seen already, or the generation is older
    /// than one seen.
    Replay,
    /// The sender's identity in the body is not bound to the key that signed.
    SenderMismatch,
    /// The body does not decode, or SWIM refuses it.
    Malformed,
    /// Sent by this node itself.
    FromSelf,
    /// The socket's receive queue in the kernel was full, so the kernel dropped it before the
    /// node read it (a flood, or a node too slow to keep up). Counted by the kernel and reported
    /// by the node's runtime (on Linux), never by the sans-IO `Membership`, which sees only what
    /// was read.
    QueueFull,
}

impl DropReason {
    /// Every reason, for counters.
    pub const ALL: [DropReason; 15] = [
        DropReason::Oversize,
        DropReason::Truncated,
        DropReason::NotGossip,
        DropReason::UnknownVersion,
        DropReason::UnknownKind,
        DropReason::WrongFederation,
        DropReason::NotAdmitted,
        DropReason::BadKey,
        DropReason::BadSignature,
        DropReason::Stale,
        DropReason::Replay,
        DropReason::SenderMismatch,
        DropReason::Malformed,
        DropReason::FromSelf,
        DropReason::QueueFull,
    ];

    /// A stable lower-case name (`"bad_signature"`).
    pub const fn name(self) -> &'static str {
        match self {
            DropReason::Oversize => "oversize",
            DropReason::Truncated => "truncated",
            DropReason::NotGossip => "not_gossip",
            DropReason::UnknownVersion => "unknown_version",
            DropReason::UnknownKind => "unknown_kind",
            DropReason::WrongFederation => "wrong_federation",
            DropReason::NotAdmitted => "not_admitted",
            DropReason::BadKey => "bad_key",
            DropReason::BadSignature => "bad_signature",
            DropReason::Stale => "stale",
            DropReason::Replay => "replay",
            DropReason::SenderMismatch => "sender_mismatch",
            DropReason::Malformed => "malformed",
            DropReason::FromSelf => "from_self",
            DropReason::QueueFull => "queue_full",
        }
    }
}

/// The signed fields of a datagram, besides its body.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    /// What the body is.
    pub kind: Kind,
    /// The federation it belongs to.
    pub federation: [u8; 32],
    /// The sender's node key.
    pub sender: [u8; 32],
    /// The sender's generation.
    pub generation: u64,
    /// The sender's sequence number within its generation.
    pub sequence: u64,
    /// When it was sent, Unix milliseconds.
    pub sent_at_ms: i64,
}

/// Writes and signs a datagram. `None` when the body is longer than [`MAX_BODY`], or when
/// `header.sender` is not `identity`'s key (a datagram can only be signed by its sender).
pub fn seal(identity: &Identity, header: &Header, body: &[u8]) -> Option<Vec<u8>> {
    if body.len() > MAX_BODY || &header.sender != identity.public_key() {
        return None;
    }
    let len = u16::try_from(body.len()).ok()?;
    let mut out = Vec::with_capacity(OVERHEAD + body.len());
    out.extend_from_slice(&MAGIC);
    out.push(header.kind as u8);
    out.extend_from_slice(&header.federation);
    out.extend_from_slice(&header.sender);
    out.extend_from_slice(&header.generation.to_be_bytes());
    out.extend_from_slice(&header.sequence.to_be_bytes());
    out.extend_from_slice(&header.sent_at_ms.to_be_bytes());
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(body);
    let signature = identity.sign_in(Domain::Gossip, &out);
    out.extend_from_slice(&signature);
    Some(out)
}

/// A datagram whose structure is sound but whose signature is not checked yet.
#[derive(Clone, Copy, Debug)]
pub struct Unverified<'a> {
    /// Its header.
    pub header: Header,
    /// Its body.
    pub body: &'a [u8],
    signed: &'a [u8],
    signature: [u8; SIGNATURE_LEN],
}

impl Unverified<'_> {
    /// Whether the signature is `key`'s over the datagram (strict Ed25519). `key` must be the
    /// header's sender; a caller holds it decompressed across datagrams.
    pub fn verify(&self, key: &PeerKey) -> bool {
        key.as_bytes() == &self.header.sender
            && key.verify(Domain::Gossip, self.signed, &self.signature)
    }
}

/// Reads a datagram's structure: size, magic and version, kind, stated length.
pub fn parse(bytes: &[u8]) -> Result<Unverified<'_>, DropReason> {
    if bytes.len() > MAX_DATAGRAM {
        return Err(DropReason::Oversize);
    }
    let magic = bytes.get(..4).ok_or(DropReason::Truncated)?;
    if magic.get(..3) != MAGIC.get(..3) {
        return Err(DropReason::NotGossip);
    }
    if magic != MAGIC {
        return Err(DropReason::UnknownVersion);
    }
    if bytes.len() < OVERHEAD {
        return Err(DropReason::Truncated);
    }
    let array = |at: usize| -> [u8; 8] {
        let mut a = [0u8; 8];
        if let Some(b) = bytes.get(at..at + 8) {
            a.copy_from_slice(b);
        }
        a
    };
    let kind = bytes
        .get(4)
        .copied()
        .and_then(Kind::from_byte)
        .ok_or(DropReason::UnknownKind)?;
    let mut federation = [0u8; 32];
    federation.copy_from_slice(bytes.get(5..37).ok_or(DropReason::Truncated)?);
    let mut sender = [0u8; 32];
    sender.copy_from_slice(bytes.get(37..69).ok_or(DropReason::Truncated)?);
    let len = bytes
        .get(93..95)
        .map(|b| usize::from(u16::from_be_bytes([b[0], b[1]])))
        .ok_or(DropReason::Truncated)?;
    if bytes.len() != OVERHEAD + len {
        return Err(if bytes.len() < OVERHEAD + len {
            DropReason::Truncated
        } else {
            DropReason::Malformed
        });
    }
    let signed = bytes.get(..HEADER_LEN + len).ok_or(DropReason::Truncated)?;
    let body = bytes
        .get(HEADER_LEN..HEADER_LEN + len)
        .ok_or(DropReason::Truncated)?;
    let mut signature = [0u8; SIGNATURE_LEN];
    signature.copy_from_slice(bytes.get(HEADER_LEN + len..).ok_or(DropReason::Truncated)?);
    Ok(Unverified {
        header: Header {
            kind,
            federation,
            sender,
            generation: u64::from_be_bytes(array(69)),
            sequence: u64::from_be_bytes(array(77)),
            sent_at_ms: i64::from_be_bytes(array(85)),
        },
        body,
        signed,
        signature,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(id: &Identity) -> Header {
        Header {
            kind: Kind::Swim,
            federation: [7; 32],
            sender: *id.public_key(),
            generation: 3,
            sequence: 9,
            sent_at_ms: 1_700_000_000_000,
        }
    }

    #[test]
    fn sealed_datagrams_parse_and_verify() {
        let id = Identity::from_seed(&[1; 32]).unwrap();
        let bytes = seal(&id, &header(&id), b"body").unwrap();
        assert_eq!(bytes.len(), OVERHEAD + 4);
        let d = parse(&bytes).unwrap();
        assert_eq!(d.header, header(&id));
        assert_eq!(d.body, b"body");
        let key = PeerKey::from_bytes(id.public_key()).unwrap();
        assert!(d.verify(&key));
        let other = PeerKey::from_bytes(Identity::generate().public_key()).unwrap();
        assert!(!d.verify(&other));
    }

    #[test]
    fn every_bit_flip_is_refused() {
        let id = Identity::from_seed(&[1; 32]).unwrap();
        let key = PeerKey::from_bytes(id.public_key()).unwrap();
        let bytes = seal(&id, &header(&id), b"xy").unwrap();
        for i in 0..bytes.len() * 8 {
            let mut b = bytes.clone();
            b[i / 8] ^= 1 << (i % 8);
            let ok = parse(&b).is_ok_and(|d| d.verify(&key));
            assert!(!ok, "bit {i} flipped and still accepted");
        }
    }

    #[test]
    fn structure_errors_have_their_reason() {
        let id = Identity::from_seed(&[1; 32]).unwrap();
        let bytes = seal(&id, &header(&id), b"xy").unwrap();
        assert_eq!(parse(&bytes[..3]).unwrap_err(), DropReason::Truncated);
        assert_eq!(parse(&bytes[..100]).unwrap_err(), DropReason::Truncated);
        assert_eq!(
            parse(&bytes[..bytes.len() - 1]).unwrap_err(),
            DropReason::Truncated
        );
        let mut longer = bytes.clone();
        longer.push(0);
        assert_eq!(parse(&longer).unwrap_err(), DropReason::Malformed);
        let mut v2 = bytes.clone();
        v2[3] = b'2';
        assert_eq!(parse(&v2).unwrap_err(), DropReason::UnknownVersion);
        let mut other = bytes.clone();
        other[0] = b'X';
        assert_eq!(parse(&other).unwrap_err(), DropReason::NotGossip);
        let mut kind = bytes.clone();
        kind[4] = 9;
        assert_eq!(parse(&kind).unwrap_err(), DropReason::UnknownKind);
        assert_eq!(
            parse(&vec![0u8; MAX_DATAGRAM + 1]).unwrap_err(),
            DropReason::Oversize
        );
        assert!(seal(&id, &header(&id), &vec![0u8; MAX_BODY + 1]).is_none());
        assert!(seal(&Identity::generate(), &header(&id), b"").is_none());
        assert!(seal(&id, &header(&id), &vec![0u8; MAX_BODY]).is_some());
    }
}
