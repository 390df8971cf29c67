//! Checking equivocation evidence offline.
//!
//! An [`Equivocation`] is only worth reporting, gossiping or acting on (dropping the validator
//! from the next epoch's document) if a third party can confirm it without trusting the node
//! that reported it. [`Equivocation::verify`] is that check: a pure function of the evidence
//! and the federation document, like [`Certificate::verify`](crate::Certificate::verify).

use std::fmt;

use malachitebft_core_types::{SignedProposal, SignedVote, VoteType};

use super::output::{Equivocation, EquivocationKind};
use super::wire::{self, Message};
use crate::context::{Address, BizraContext};
use crate::document::{FederationDocument, Validator};

/// Why equivocation evidence was refused. The numbers are stable; the checks run in this order
/// and the first that fails gives the code.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum EvidenceCode {
    /// A message does not decode (see [`wire`]), or is neither a vote nor a proposal.
    Malformed = 1,
    /// The messages are not of one step: a vote and a proposal, or a prevote and a precommit.
    DifferentStep = 2,
    /// The messages name two validators: each may have signed its own, which proves nothing.
    DifferentValidator = 3,
    /// The messages are of different heights or rounds, where a validator votes anew.
    DifferentRound = 4,
    /// The messages sign the same content (the same vote or proposal twice), which is allowed.
    NotConflicting = 5,
    /// The evidence's `validator`, `height`, `round` or `kind` is not what the messages say.
    FieldsMismatch = 6,
    /// The validator is not in the document, so its signatures bind no one in this federation
    /// and epoch.
    UnknownValidator = 7,
    /// A signature is not the validator's over the message's CONSENSUS-v1 bytes in the
    /// document's federation and epoch: without both signatures the pair could be forged.
    BadSignature = 8,
}

impl EvidenceCode {
    /// The stable number.
    pub const fn code(self) -> u32 {
        self as u32
    }

    /// The upper-case name (`"BAD_SIGNATURE"`).
    pub const fn name(self) -> &'static str {
        match self {
            EvidenceCode::Malformed => "MALFORMED",
            EvidenceCode::DifferentStep => "DIFFERENT_STEP",
            EvidenceCode::DifferentValidator => "DIFFERENT_VALIDATOR",
            EvidenceCode::DifferentRound => "DIFFERENT_ROUND",
            EvidenceCode::NotConflicting => "NOT_CONFLICTING",
            EvidenceCode::FieldsMismatch => "FIELDS_MISMATCH",
            EvidenceCode::UnknownValidator => "UNKNOWN_VALIDATOR",
            EvidenceCode::BadSignature => "BAD_SIGNATURE",
        }
    }

    /// Every code, in number order.
    pub const ALL: [EvidenceCode; 8] = [
        EvidenceCode::Malformed,
        EvidenceCode::DifferentStep,
        EvidenceCode::DifferentValidator,
        EvidenceCode::DifferentRound,
        EvidenceCode::NotConflicting,
        EvidenceCode::FieldsMismatch,
        EvidenceCode::UnknownValidator,
        EvidenceCode::BadSignature,
    ];
}

/// Refused evidence: the code and what exactly was wrong.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EvidenceError {
    /// Why, as a stable code.
    pub code: EvidenceCode,
    /// What exactly, for humans.
    pub detail: String,
}

impl fmt::Display for EvidenceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "equivocation evidence refused: {} ({})",
            self.code.name(),
            self.detail
        )
    }
}

impl std::error::Error for EvidenceError {}

/// Refused evidence as the core's one error type: kind `EVIDENCE_REFUSED`, with the code's
/// number and name as data (the protocol crate sits below this one and cannot name
/// [`EvidenceCode`]), as a refused certificate becomes `Error::Certificate`.
impl From<EvidenceError> for bizra_protocol::Error {
    fn from(e: EvidenceError) -> Self {
        bizra_protocol::Error::Evidence {
            code: e.code.code(),
            name: e.code.name(),
            detail: e.detail,
        }
    }
}

fn refuse(code: EvidenceCode, detail: impl Into<String>) -> EvidenceError {
    EvidenceError {
        code,
        detail: detail.into(),
    }
}

/// One side of the evidence, decoded.
enum Signed {
    Vote(SignedVote<BizraContext>),
    Proposal(SignedProposal<BizraContext>),
}

impl Signed {
    fn decode(bytes: &[u8], which: &str) -> Result<Self, EvidenceError> {
        let malformed = |what: String| refuse(EvidenceCode::Malformed, format!("{which}: {what}"));
        let what = match wire::decode_message(bytes).map_err(malformed)? {
            Message::Vote(v) => return Ok(Signed::Vote(v)),
            Message::Proposal(p) => return Ok(Signed::Proposal(p)),
            Message::Polka(_) => "polka certificate",
            Message::RoundCertificate(_) => "round certificate",
            Message::Submission(_) => "submission",
            Message::Decision(_) => "decision",
        };
        Err(malformed(format!("a {what}, not a vote or a proposal")))
    }

    fn kind(&self) -> EquivocationKind {
        match self {
            Signed::Vote(v) => match v.message.vote_type {
                VoteType::Prevote => EquivocationKind::Prevote,
                VoteType::Precommit => EquivocationKind::Precommit,
            },
            Signed::Proposal(_) => EquivocationKind::Proposal,
        }
    }

    fn validator(&self) -> Address {
        match self {
            Signed::Vote(v) => v.message.validator,
            Signed::Proposal(p) => p.message.proposer,
        }
    }

    fn height_round(&self) -> (u64, u32) {
        match self {
            Signed::Vote(v) => (v.message.height.0, v.message.round),
            Signed::Proposal(p) => (p.message.height.0, p.message.round),
        }
    }

    /// Whether both sign the same fields (signatures aside). A proposal's value is compared by
    /// batch id, which is what its signature covers.
    fn same_content(&self, other: &Signed) -> bool {
        match (self, other) {
            (Signed::Vote(a), Signed::Vote(b)) => a.message == b.message,
            (Signed::Proposal(a), Signed::Proposal(b)) => a.message == b.message,
            _ => false,
        }
    }

    /// Strict Ed25519 over the CONSENSUS-v1 bytes, as the engine checks every message.
    fn verify(&self, document: &FederationDocument, validator: &Validator) -> bool {
        let hex = validator.key_hex();
        match self {
            Signed::Vote(v) => v
                .message
                .body(document, hex)
                .verify(validator.key(), &v.signature.0),
            Signed::Proposal(p) => p
                .message
                .body(document, hex)
                .verify(validator.key(), &p.signature.0),
        }
    }
}

impl Equivocation {
    /// Checks the evidence against the federation document, in the order of [`EvidenceCode`]:
    /// both messages decode as votes or as proposals; they are of one step, one validator, one
    /// height and round, and sign different contents; the evidence's own fields say the same;
    /// the validator is in the document; and both signatures are its own, strictly verified
    /// over the CONSENSUS-v1 bytes in the document's federation and epoch. Pure: no clock, no
    /// network, no engine; either message may be the one seen first.
    pub fn verify(&self, document: &FederationDocument) -> Result<(), EvidenceError> {
        use EvidenceCode::*;
        let first = Signed::decode(&self.first, "first")?;
        let second = Signed::decode(&self.second, "second")?;
        if first.kind() != second.kind() {
            return Err(refuse(
                DifferentStep,
                format!("a {} and a {}", first.kind().name(), second.kind().name()),
            ));
        }
        let validator = first.validator();
        if validator != second.validator() {
            return Err(refuse(
                DifferentValidator,
                format!("signed by {validator} and by {}", second.validator()),
            ));
        }
        let (height, round) = first.height_round();
        let (h2, r2) = second.height_round();
        if (height, round) != (h2, r2) {
            return Err(refuse(
                DifferentRound,
                format!("height {height} round {round}, and height {h2} round {r2}"),
            ));
        }
        if first.same_content(&second) {
            return Err(refuse(
                NotConflicting,
                format!(
                    "both messages are the same {} of height {height} round {round}",
                    first.kind().name()
                ),
            ));
        }
        let key_hex = validator.to_hex();
        let mismatch = |field: &str, claimed: String, actual: String| {
            refuse(
                FieldsMismatch,
                format!("{field} is {claimed}, the messages say {actual}"),
            )
        };
        if self.validator != key_hex {
            return Err(mismatch("validator", self.validator.clone(), key_hex));
        }
        if self.height != height {
            return Err(mismatch(
                "height",
                self.height.to_string(),
                height.to_string(),
            ));
        }
        if self.round != round {
            return Err(mismatch("round", self.round.to_string(), round.to_string()));
        }
        if self.kind != first.kind() {
            return Err(mismatch(
                "kind",
                self.kind.name().into(),
                first.kind().name().into(),
            ));
        }
        let member = document.validator(&key_hex).ok_or_else(|| {
            refuse(
                UnknownValidator,
                format!(
                    "{key_hex} is not a validator of \"{}\" epoch {}",
                    document.federation(),
                    document.epoch()
                ),
            )
        })?;
        for (which, message) in [("first", &first), ("second", &second)] {
            if !message.verify(document, member) {
                return Err(refuse(
                    BadSignature,
                    format!(
                        "the {which} message's signature is not {key_hex}'s {} of height \
                         {height} round {round} in \"{}\" epoch {}",
                        self.kind.name(),
                        document.federation(),
                        document.epoch()
                    ),
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use bizra_protocol::{Envelope, Identity};
    use malachitebft_core_types::{NilOrVal, Round};
    use serde_json::json;

    use super::*;
    use crate::batch::{Batch, ValueId};
    use crate::context::{Height, Proposal, Signature, Value, Vote};
    use crate::document::Timeouts;

    struct Fixture {
        ids: Vec<Identity>,
        document: FederationDocument,
    }

    /// Four validators of power 1 and, last, an outsider.
    fn fixture() -> Fixture {
        let ids: Vec<Identity> = (1..=5u8)
            .map(|i| Identity::from_seed(&[i; 32]).unwrap())
            .collect();
        let validators = ids[..4]
            .iter()
            .map(|id| Validator::new(id.public_key(), 1).unwrap())
            .collect();
        let document =
            FederationDocument::new("evidence", 2, validators, Timeouts::default()).unwrap();
        Fixture { ids, document }
    }

    impl Fixture {
        fn vote(
            &self,
            signer: usize,
            vote_type: VoteType,
            (height, round): (u64, u32),
            value: Option<u8>,
        ) -> Vec<u8> {
            self.vote_in(&self.document, signer, vote_type, (height, round), value)
        }

        fn vote_in(
            &self,
            document: &FederationDocument,
            signer: usize,
            vote_type: VoteType,
            (height, round): (u64, u32),
            value: Option<u8>,
        ) -> Vec<u8> {
            let id = &self.ids[signer];
            let vote = Vote {
                height: Height(height),
                round,
                vote_type,
                value: value.map_or(NilOrVal::Nil, |b| {
                    NilOrVal::Val(ValueId::from_bytes([b; 32]))
                }),
                validator: Address(*id.public_key()),
            };
            let signature = vote.body(document, &id.public_key_hex()).sign(id);
            wire::encode_vote(&SignedVote::new(vote, Signature(signature)))
        }

        fn proposal(&self, signer: usize, n: u32, pol_round: Option<u32>) -> Vec<u8> {
            let id = &self.ids[signer];
            let envelope = Envelope::builder(json!({"type": "bizra.proposal", "n": n}))
                .sign(id)
                .unwrap();
            let proposal = Proposal {
                height: Height(5),
                round: 1,
                value: Value(Arc::new(Batch::new(vec![envelope]).unwrap())),
                pol_round: pol_round.map_or(Round::Nil, Round::new),
                proposer: Address(*id.public_key()),
            };
            let signature = proposal.body(&self.document, &id.public_key_hex()).sign(id);
            wire::encode_proposal(&SignedProposal::new(proposal, Signature(signature)))
        }

        fn evidence(
            &self,
            signer: usize,
            (height, round): (u64, u32),
            kind: EquivocationKind,
            first: Vec<u8>,
            second: Vec<u8>,
        ) -> Equivocation {
            Equivocation {
                validator: self.ids[signer].public_key_hex(),
                height,
                round,
                kind,
                first,
                second,
            }
        }
    }

    const AT: (u64, u32) = (5, 1);

    fn precommits(f: &Fixture) -> Equivocation {
        let first = f.vote(0, VoteType::Precommit, AT, Some(7));
        let second = f.vote(0, VoteType::Precommit, AT, Some(8));
        f.evidence(0, AT, EquivocationKind::Precommit, first, second)
    }

    #[test]
    fn conflicting_votes_and_proposals_verify_in_either_order() {
        let f = fixture();
        let value_and_nil = f.evidence(
            1,
            AT,
            EquivocationKind::Prevote,
            f.vote(1, VoteType::Prevote, AT, Some(7)),
            f.vote(1, VoteType::Prevote, AT, None),
        );
        let batches = f.evidence(
            2,
            AT,
            EquivocationKind::Proposal,
            f.proposal(2, 1, None),
            f.proposal(2, 2, None),
        );
        // The same batch with another proof-of-lock round is another signed proposal.
        let pol_rounds = f.evidence(
            2,
            AT,
            EquivocationKind::Proposal,
            f.proposal(2, 1, None),
            f.proposal(2, 1, Some(0)),
        );
        for mut e in [precommits(&f), value_and_nil, batches, pol_rounds] {
            e.verify(&f.document).unwrap();
            std::mem::swap(&mut e.first, &mut e.second);
            e.verify(&f.document).unwrap();
        }
    }

    #[test]
    fn each_refusal_has_its_code() {
        let f = fixture();
        let good = precommits(&f);
        let with = |change: &dyn Fn(&mut Equivocation)| {
            let mut e = good.clone();
            change(&mut e);
            e
        };
        let mut flipped = good.second.clone();
        let last = flipped.len() - 1;
        flipped[last] ^= 1;
        let elsewhere = FederationDocument::new(
            "elsewhere",
            f.document.epoch(),
            f.document.validators().to_vec(),
            Timeouts::default(),
        )
        .unwrap();
        let submission = wire::encode_submission(
            &Envelope::builder(json!({"type": "bizra.proposal"}))
                .sign(&f.ids[0])
                .unwrap(),
        );
        let cases: Vec<(Equivocation, EvidenceCode, &str)> = vec![
            (
                with(&|e| e.first.truncate(20)),
                EvidenceCode::Malformed,
                "first: truncated",
            ),
            (
                with(&|e| e.second.push(0)),
                EvidenceCode::Malformed,
                "second: 1 bytes after the end",
            ),
            (
                with(&|e| e.second = submission.clone()),
                EvidenceCode::Malformed,
                "a submission, not a vote or a proposal",
            ),
            (
                with(&|e| e.second = f.vote(0, VoteType::Prevote, AT, Some(8))),
                EvidenceCode::DifferentStep,
                "a precommit and a prevote",
            ),
            (
                with(&|e| e.second = f.proposal(0, 1, None)),
                EvidenceCode::DifferentStep,
                "a precommit and a proposal",
            ),
            (
                with(&|e| e.second = f.vote(1, VoteType::Precommit, AT, Some(8))),
                EvidenceCode::DifferentValidator,
                "signed by",
            ),
            (
                with(&|e| e.second = f.vote(0, VoteType::Precommit, (6, 1), Some(8))),
                EvidenceCode::DifferentRound,
                "height 5 round 1, and height 6 round 1",
            ),
            (
                with(&|e| e.second = f.vote(0, VoteType::Precommit, (5, 2), Some(8))),
                EvidenceCode::DifferentRound,
                "height 5 round 1, and height 5 round 2",
            ),
            (
                with(&|e| e.second = e.first.clone()),
                EvidenceCode::NotConflicting,
                "the same precommit",
            ),
            (
                with(&|e| e.validator = f.ids[1].public_key_hex()),
                EvidenceCode::FieldsMismatch,
                "validator is",
            ),
            (
                with(&|e| e.validator = e.validator.to_uppercase()),
                EvidenceCode::FieldsMismatch,
                "validator is",
            ),
            (
                with(&|e| e.height = 4),
                EvidenceCode::FieldsMismatch,
                "height is 4, the messages say 5",
            ),
            (
                with(&|e| e.round = 0),
                EvidenceCode::FieldsMismatch,
                "round is 0, the messages say 1",
            ),
            (
                with(&|e| e.kind = EquivocationKind::Prevote),
                EvidenceCode::FieldsMismatch,
                "kind is prevote, the messages say precommit",
            ),
            (
                f.evidence(
                    4,
                    AT,
                    EquivocationKind::Precommit,
                    f.vote(4, VoteType::Precommit, AT, Some(7)),
                    f.vote(4, VoteType::Precommit, AT, Some(8)),
                ),
                EvidenceCode::UnknownValidator,
                "is not a validator of \"evidence\" epoch 2",
            ),
            (
                with(&|e| e.second = flipped.clone()),
                EvidenceCode::BadSignature,
                "the second message's signature",
            ),
            (
                with(&|e| {
                    e.first = f.vote_in(&elsewhere, 0, VoteType::Precommit, AT, Some(7));
                }),
                EvidenceCode::BadSignature,
                "the first message's signature",
            ),
        ];
        let mut seen = std::collections::HashSet::new();
        for (evidence, code, words) in cases {
            let e = evidence.verify(&f.document).unwrap_err();
            assert_eq!(e.code, code, "{e}");
            assert!(e.detail.contains(words), "{words:?} not in {e}");
            seen.insert(code);
        }
        for code in EvidenceCode::ALL {
            assert!(seen.contains(&code), "no case refused with {}", code.name());
        }
        // Genuine evidence, checked against another federation's document: the signatures
        // bind only in the federation and epoch they were made for.
        let e = good.verify(&elsewhere).unwrap_err();
        assert_eq!(e.code, EvidenceCode::BadSignature);
    }

    #[test]
    fn a_refusal_becomes_the_core_error_with_its_code() {
        for code in EvidenceCode::ALL {
            let refusal = refuse(code, "what was wrong");
            let words = refusal.to_string();
            let e: bizra_protocol::Error = refusal.into();
            assert_eq!(e.kind(), bizra_protocol::ErrorKind::EvidenceRefused);
            assert_eq!(e.evidence_code(), Some((code.code(), code.name())));
            assert_eq!(e.certificate_code(), None);
            assert_eq!(
                e.to_string(),
                format!(
                    "equivocation evidence refused: {} (what was wrong)",
                    code.name()
                )
            );
            // The same words as the consensus crate's own error.
            assert_eq!(e.to_string(), words);
        }
        // A real refusal keeps its detail.
        let f = fixture();
        let mut e = precommits(&f);
        e.second = e.first.clone();
        let core: bizra_protocol::Error = e.verify(&f.document).unwrap_err().into();
        assert_eq!(core.evidence_code(), Some((5, "NOT_CONFLICTING")));
        assert!(core.to_string().contains("the same precommit"), "{core}");
    }

    #[test]
    fn steps_have_their_consensus_v1_names() {
        let names: Vec<&str> = EquivocationKind::ALL.iter().map(|k| k.name()).collect();
        assert_eq!(names, ["proposal", "prevote", "precommit"]);
        assert_eq!(EquivocationKind::Prevote.to_string(), "prevote");
    }
}
