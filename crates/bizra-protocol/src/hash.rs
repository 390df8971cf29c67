//! Domain-separated BLAKE3: `H(tag, bytes) = BLAKE3(tag ‖ bytes)`.
//!
//! Every signature and hash of the protocol goes through one of these tags, so bytes signed for
//! one purpose can never be replayed as another.

/// The ASCII domain tags of `tests/vectors/PCI-v1.md`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Domain {
    /// Envelope headers and payload content hashes: `bizra-pci-v1:`.
    Pci,
    /// Free-form messages signed by an identity: `bizra-msg-v1:`.
    Message,
    /// The constitution hash: `bizra-constitution-v1:`.
    Constitution,
    /// Federation datagrams: `bizra-gossip-v1:`.
    Gossip,
    /// Consensus votes and proposals: `bizra-vote-v1:` (`tests/vectors/CONSENSUS-v1.md`).
    Vote,
    /// The id of a batch of proposals, the value consensus decides: `bizra-batch-v1:`.
    Batch,
    /// The hash of a federation document (validators, powers, timeouts): `bizra-document-v1:`
    /// (`bizra-federation-v1:` is taken: GOSSIP-v1 hashes federation names under it).
    Document,
    /// The handshake of a consensus link (a TCP connection between two nodes of a federation):
    /// `bizra-link-v1:`.
    Link,
}

impl Domain {
    /// The tag's bytes.
    pub const fn tag(self) -> &'static str {
        match self {
            Domain::Pci => "bizra-pci-v1:",
            Domain::Message => "bizra-msg-v1:",
            Domain::Constitution => "bizra-constitution-v1:",
            Domain::Gossip => "bizra-gossip-v1:",
            Domain::Vote => "bizra-vote-v1:",
            Domain::Batch => "bizra-batch-v1:",
            Domain::Document => "bizra-document-v1:",
            Domain::Link => "bizra-link-v1:",
        }
    }
}

/// `H(tag, bytes)`: the 32-byte BLAKE3 digest of the tag followed by the bytes.
pub fn domain_hash(domain: Domain, bytes: &[u8]) -> [u8; 32] {
    let mut h = blake3::Hasher::new();
    h.update(domain.tag().as_bytes());
    h.update(bytes);
    *h.finalize().as_bytes()
}

/// Lowercase hex of bytes.
pub fn to_hex(bytes: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for &b in bytes {
        s.push(HEX[(b >> 4) as usize] as char);
        s.push(HEX[(b & 0xf) as usize] as char);
    }
    s
}

/// Decodes exactly `N` bytes from lowercase hex; `None` for any other length or character
/// (upper-case hex is not the canonical form).
pub fn from_hex<const N: usize>(s: &str) -> Option<[u8; N]> {
    let b = s.as_bytes();
    if b.len() != N * 2 {
        return None;
    }
    let mut out = [0u8; N];
    for (o, pair) in out.iter_mut().zip(b.chunks_exact(2)) {
        *o = (nibble(pair[0])? << 4) | nibble(pair[1])?;
    }
    Some(out)
}

fn nibble(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trip_is_lowercase_only() {
        let b = [0u8, 1, 0xab, 0xff];
        assert_eq!(to_hex(&b), "0001abff");
        assert_eq!(from_hex::<4>("0001abff"), Some(b));
        assert_eq!(from_hex::<4>("0001ABFF"), None);
        assert_eq!(from_hex::<4>("0001abf"), None);
        assert_eq!(from_hex::<4>("0001abfg"), None);
    }

    #[test]
    fn domains_separate() {
        assert_ne!(
            domain_hash(Domain::Pci, b"x"),
            domain_hash(Domain::Message, b"x")
        );
        assert_eq!(
            domain_hash(Domain::Pci, b"x"),
            *blake3::hash(b"bizra-pci-v1:x").as_bytes()
        );
    }
}
