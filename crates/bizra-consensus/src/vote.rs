//! What a validator signs when it votes or proposes (`tests/vectors/CONSENSUS-v1.md`).
//!
//! The signed bytes are the canonical JSON (RFC 8785) of the vote's fields and nothing else: no
//! timestamp, no nonce, no transport detail. A certificate therefore carries only signatures,
//! and anyone can rebuild each precommit from the certificate's fields and check it. The
//! signature is Ed25519 over `H("bizra-vote-v1:", bytes)`, checked with `verify_strict`, so a
//! vote can never pass for an envelope or a datagram, nor they for a vote.

use bizra_protocol::canonical;
use bizra_protocol::hash::{to_hex, Domain};
use bizra_protocol::identity::{Identity, PeerKey, SIGNATURE_LEN};
use serde_json::{json, Value};

use crate::batch::ValueId;

/// The two votes of a Tendermint round.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum VoteType {
    /// The first vote: for the round's proposal if it is valid (and not locked otherwise).
    Prevote,
    /// The second vote: for a value that gathered a quorum of prevotes. A quorum of precommits
    /// decides it, and those precommits are the commit certificate.
    Precommit,
}

impl VoteType {
    /// The name in the signed bytes: `"prevote"` or `"precommit"`.
    pub const fn name(self) -> &'static str {
        match self {
            VoteType::Prevote => "prevote",
            VoteType::Precommit => "precommit",
        }
    }
}

/// The signed fields of a vote.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VoteBody<'a> {
    /// The federation's name.
    pub federation: &'a str,
    /// The epoch of the federation document in force.
    pub epoch: u64,
    /// The height being decided.
    pub height: u64,
    /// The round within the height.
    pub round: u32,
    /// Prevote or precommit.
    pub vote_type: VoteType,
    /// The value voted for; `None` is a vote for nil.
    pub value: Option<&'a ValueId>,
    /// The voter's public key, lowercase hex.
    pub validator: &'a str,
}

impl VoteBody<'_> {
    /// The bytes that are signed: canonical JSON with the keys `epoch`, `federation`, `height`,
    /// `round`, `type`, `validator`, `value` (hex, or `null` for nil).
    pub fn signing_bytes(&self) -> Vec<u8> {
        canonical_bytes(&json!({
            "epoch": self.epoch,
            "federation": self.federation,
            "height": self.height,
            "round": self.round,
            "type": self.vote_type.name(),
            "validator": self.validator,
            "value": self.value.map(|v| to_hex(v.as_bytes())),
        }))
    }

    /// The identity's signature over [`VoteBody::signing_bytes`].
    pub fn sign(&self, identity: &Identity) -> [u8; SIGNATURE_LEN] {
        identity.sign_in(Domain::Vote, &self.signing_bytes())
    }

    /// Whether `signature` is `key`'s over these fields.
    pub fn verify(&self, key: &PeerKey, signature: &[u8; SIGNATURE_LEN]) -> bool {
        key.verify(Domain::Vote, &self.signing_bytes(), signature)
    }
}

/// The signed fields of a proposal: the proposer of a round offers a value, naming the round in
/// which it last saw a quorum of prevotes for it (its proof of lock), if any.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProposalBody<'a> {
    /// The federation's name.
    pub federation: &'a str,
    /// The epoch of the federation document in force.
    pub epoch: u64,
    /// The height being decided.
    pub height: u64,
    /// The round of the proposal.
    pub round: u32,
    /// The earlier round whose prevotes justify re-proposing this value, if any.
    pub pol_round: Option<u32>,
    /// The value proposed.
    pub value: &'a ValueId,
    /// The proposer's public key, lowercase hex.
    pub validator: &'a str,
}

impl ProposalBody<'_> {
    /// The bytes that are signed: canonical JSON with the keys `epoch`, `federation`, `height`,
    /// `pol_round` (−1 for none), `round`, `type` (`"proposal"`), `validator`, `value`.
    pub fn signing_bytes(&self) -> Vec<u8> {
        canonical_bytes(&json!({
            "epoch": self.epoch,
            "federation": self.federation,
            "height": self.height,
            "pol_round": self.pol_round.map_or(-1, i64::from),
            "round": self.round,
            "type": "proposal",
            "validator": self.validator,
            "value": to_hex(self.value.as_bytes()),
        }))
    }

    /// The identity's signature over [`ProposalBody::signing_bytes`].
    pub fn sign(&self, identity: &Identity) -> [u8; SIGNATURE_LEN] {
        identity.sign_in(Domain::Vote, &self.signing_bytes())
    }

    /// Whether `signature` is `key`'s over these fields.
    pub fn verify(&self, key: &PeerKey, signature: &[u8; SIGNATURE_LEN]) -> bool {
        key.verify(Domain::Vote, &self.signing_bytes(), signature)
    }
}

fn canonical_bytes(value: &Value) -> Vec<u8> {
    // Integers, short strings and null: nothing the writer can refuse.
    canonical::to_vec(value).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_vote_verifies_only_with_its_own_fields() {
        let me = Identity::generate();
        let key = PeerKey::from_bytes(me.public_key()).unwrap();
        let value = ValueId::from_bytes([7; 32]);
        let body = VoteBody {
            federation: "f",
            epoch: 1,
            height: 10,
            round: 0,
            vote_type: VoteType::Precommit,
            value: Some(&value),
            validator: &me.public_key_hex(),
        };
        let sig = body.sign(&me);
        assert!(body.verify(&key, &sig));
        for other in [
            VoteBody { epoch: 2, ..body },
            VoteBody { height: 11, ..body },
            VoteBody { round: 1, ..body },
            VoteBody {
                vote_type: VoteType::Prevote,
                ..body
            },
            VoteBody {
                value: None,
                ..body
            },
            VoteBody {
                federation: "g",
                ..body
            },
        ] {
            assert!(!other.verify(&key, &sig), "{other:?}");
        }
        // A proposal's signature is never a vote's.
        let proposal = ProposalBody {
            federation: "f",
            epoch: 1,
            height: 10,
            round: 0,
            pol_round: None,
            value: &value,
            validator: &me.public_key_hex(),
        };
        assert!(!proposal.verify(&key, &sig));
        assert!(proposal.verify(&key, &proposal.sign(&me)));
    }
}
