//! What Malachite's Tendermint core leaves to its host: the types of heights, addresses, values,
//! votes and proposals, the validator set, proposer selection and the signing scheme, as a
//! Malachite [`Context`](malachitebft_core_types::Context).
//!
//! Everything here is fixed by the federation document and by CONSENSUS-v1
//! (`tests/vectors/CONSENSUS-v1.md`):
//!
//! - a height is a `u64` (at most 2^53 − 1, so that certificates stay exact in JSON);
//! - an address is a validator's 32-byte Ed25519 key (a node id is too short to name a signer);
//! - a value is a [`Batch`] of `bizra.proposal` envelopes, named by its [`ValueId`];
//! - votes and proposals carry no federation or epoch: the context supplies both from the
//!   document when it builds the signed bytes ([`VoteBody`], [`ProposalBody`]), so a vote of
//!   another federation or epoch simply fails verification;
//! - validators and their voting powers come from the document, in its order, and the proposer
//!   of a round is [`FederationDocument::proposer`];
//! - signatures are Ed25519 under the `bizra-vote-v1:` domain, verified strictly; there are no
//!   vote extensions.
//!
//! Only this module and `engine/` name Malachite's types, so that an upgrade of Malachite
//! touches nothing else.

use std::cmp::Ordering;
use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use bizra_protocol::hash::to_hex;
use bizra_protocol::identity::{Identity, PeerKey, SIGNATURE_LEN};
use malachitebft_core_types as mc;
use mc::{
    CertificateError, NilOrVal, Round, RoundCertificateType, SignedExtension, ThresholdParam,
};

use crate::batch::{Batch, ValueId};
use crate::certificate::{Certificate, CommitSignature};
use crate::document::{FederationDocument, Timeouts};
use crate::vote::{ProposalBody, VoteBody, VoteType};

/// The highest height the engine decides: certificates carry heights as exact JSON integers.
pub const MAX_HEIGHT: u64 = (1 << 53) - 1;

/// The highest round a message may name. `u32::MAX` is reserved (it stands for "no round" on
/// the wire), and the core never gets near either: it accepts rounds at most ten ahead of its
/// own and enters them one at a time.
pub const MAX_ROUND: u32 = u32::MAX - 1;

/// A height of the federation's chain of decisions; the first is 1.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Height(pub u64);

impl fmt::Display for Height {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl mc::Height for Height {
    const ZERO: Self = Height(0);
    const INITIAL: Self = Height(1);

    fn increment_by(&self, n: u64) -> Self {
        Height(self.0.saturating_add(n))
    }

    fn decrement_by(&self, n: u64) -> Option<Self> {
        self.0.checked_sub(n).map(Height)
    }

    fn as_u64(&self) -> u64 {
        self.0
    }
}

/// A validator's address: its Ed25519 public key.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Address(pub [u8; 32]);

impl Address {
    /// The lowercase hex of the key, as votes and certificates name a validator.
    pub fn to_hex(self) -> String {
        to_hex(&self.0)
    }
}

impl fmt::Debug for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Address({})", &self.to_hex()[..16])
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl mc::Address for Address {}

/// The value decided: a batch, shared rather than copied (the core clones values freely, and a
/// batch may be megabytes). Two values are equal, and ordered, by their ids.
#[derive(Clone, Debug)]
pub struct Value(pub Arc<Batch>);

impl Value {
    /// The batch.
    pub fn batch(&self) -> &Batch {
        &self.0
    }
}

impl PartialEq for Value {
    fn eq(&self, other: &Self) -> bool {
        self.0.id() == other.0.id()
    }
}

impl Eq for Value {}

impl PartialOrd for Value {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Value {
    fn cmp(&self, other: &Self) -> Ordering {
        self.0.id().cmp(other.0.id())
    }
}

impl mc::Value for Value {
    type Id = ValueId;

    fn id(&self) -> ValueId {
        *self.0.id()
    }
}

/// A prevote or precommit, without its signature.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Vote {
    /// The height.
    pub height: Height,
    /// The round (never `u32::MAX`: see [`MAX_ROUND`]).
    pub round: u32,
    /// Prevote or precommit.
    pub vote_type: mc::VoteType,
    /// The value voted for, or nil.
    pub value: NilOrVal<ValueId>,
    /// The voter.
    pub validator: Address,
}

impl Vote {
    /// The signed fields of this vote in `document`'s federation and epoch.
    pub fn body<'a>(
        &'a self,
        document: &'a FederationDocument,
        validator_hex: &'a str,
    ) -> VoteBody<'a> {
        VoteBody {
            federation: document.federation(),
            epoch: document.epoch(),
            height: self.height.0,
            round: self.round,
            vote_type: match self.vote_type {
                mc::VoteType::Prevote => VoteType::Prevote,
                mc::VoteType::Precommit => VoteType::Precommit,
            },
            value: match &self.value {
                NilOrVal::Nil => None,
                NilOrVal::Val(v) => Some(v),
            },
            validator: validator_hex,
        }
    }
}

impl mc::Vote<BizraContext> for Vote {
    fn height(&self) -> Height {
        self.height
    }

    fn round(&self) -> Round {
        Round::new(self.round)
    }

    fn value(&self) -> &NilOrVal<ValueId> {
        &self.value
    }

    fn take_value(self) -> NilOrVal<ValueId> {
        self.value
    }

    fn vote_type(&self) -> mc::VoteType {
        self.vote_type
    }

    fn validator_address(&self) -> &Address {
        &self.validator
    }

    // No vote extensions: the policy is always `Disabled`, so the core neither asks for one nor
    // accepts a precommit that carries one.
    fn extension(&self) -> Option<&SignedExtension<BizraContext>> {
        None
    }

    fn take_extension(&mut self) -> Option<SignedExtension<BizraContext>> {
        None
    }

    fn extend(self, _extension: SignedExtension<BizraContext>) -> Self {
        self
    }
}

/// A proposal, without its signature: the round's proposer offers a value, naming the earlier
/// round whose prevotes justify re-proposing it, if any.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Proposal {
    /// The height.
    pub height: Height,
    /// The round.
    pub round: u32,
    /// The value proposed (the whole batch: it travels with the proposal).
    pub value: Value,
    /// The proof-of-lock round, or nil.
    pub pol_round: Round,
    /// The proposer.
    pub proposer: Address,
}

impl Proposal {
    /// The signed fields of this proposal in `document`'s federation and epoch.
    pub fn body<'a>(
        &'a self,
        document: &'a FederationDocument,
        validator_hex: &'a str,
    ) -> ProposalBody<'a> {
        ProposalBody {
            federation: document.federation(),
            epoch: document.epoch(),
            height: self.height.0,
            round: self.round,
            pol_round: self.pol_round.as_u32(),
            value: self.value.0.id(),
            validator: validator_hex,
        }
    }
}

impl mc::Proposal<BizraContext> for Proposal {
    fn height(&self) -> Height {
        self.height
    }

    fn round(&self) -> Round {
        Round::new(self.round)
    }

    fn value(&self) -> &Value {
        &self.value
    }

    fn take_value(self) -> Value {
        self.value
    }

    fn pol_round(&self) -> Round {
        self.pol_round
    }

    fn validator_address(&self) -> &Address {
        &self.proposer
    }
}

/// The part of a proposal that carries its value. The `Context` trait requires a part type, but
/// the engine runs the core in `ProposalAndParts` mode only so that the host (not the core)
/// judges each value's validity; our proposal message already carries the whole batch, so a
/// value is never split and the core never sees a part. The simplest form is therefore one part
/// holding the whole value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProposalPart(pub Value);

impl mc::ProposalPart<BizraContext> for ProposalPart {
    fn is_first(&self) -> bool {
        true
    }

    fn is_last(&self) -> bool {
        true
    }
}

/// A validator as the core sees it: address, key and voting power from the document.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Validator {
    address: Address,
    key: PeerKey,
    key_hex: String,
    power: u64,
}

impl Validator {
    /// The validator's key, lowercase hex.
    pub fn key_hex(&self) -> &str {
        &self.key_hex
    }
}

impl mc::Validator<BizraContext> for Validator {
    fn address(&self) -> &Address {
        &self.address
    }

    fn public_key(&self) -> &PeerKey {
        &self.key
    }

    fn voting_power(&self) -> u64 {
        self.power
    }
}

/// The validators of one federation document, in its order.
#[derive(Clone)]
pub struct ValidatorSet(Arc<Members>);

struct Members {
    document: Arc<FederationDocument>,
    validators: Vec<Validator>,
    index: HashMap<Address, usize>,
}

impl ValidatorSet {
    /// The document's validators.
    pub fn new(document: Arc<FederationDocument>) -> Self {
        let validators: Vec<Validator> = document
            .validators()
            .iter()
            .map(|v| Validator {
                address: Address(*v.key().as_bytes()),
                key: *v.key(),
                key_hex: v.key_hex().to_string(),
                power: v.power(),
            })
            .collect();
        let index = validators
            .iter()
            .enumerate()
            .map(|(i, v)| (v.address, i))
            .collect();
        ValidatorSet(Arc::new(Members {
            document,
            validators,
            index,
        }))
    }

    /// The document the set was built from.
    pub fn document(&self) -> &Arc<FederationDocument> {
        &self.0.document
    }

    /// The validator with this address.
    pub fn get(&self, address: &Address) -> Option<&Validator> {
        self.0
            .index
            .get(address)
            .and_then(|&i| self.0.validators.get(i))
    }

    /// The proposer of `round` at `height`, as [`FederationDocument::proposer`] names it.
    pub fn proposer(&self, height: u64, round: u32) -> &Validator {
        let key = self.0.document.proposer(height, round).key().as_bytes();
        // Built from the same document: the proposer is always in the set, and a document has
        // at least one validator.
        self.get(&Address(*key))
            .unwrap_or_else(|| &self.0.validators[0])
    }
}

impl PartialEq for ValidatorSet {
    fn eq(&self, other: &Self) -> bool {
        self.0.document.hash() == other.0.document.hash()
    }
}

impl Eq for ValidatorSet {}

impl fmt::Debug for ValidatorSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ValidatorSet")
            .field("federation", &self.0.document.federation())
            .field("epoch", &self.0.document.epoch())
            .field("validators", &self.0.validators.len())
            .finish()
    }
}

impl mc::ValidatorSet<BizraContext> for ValidatorSet {
    fn count(&self) -> usize {
        self.0.validators.len()
    }

    fn total_voting_power(&self) -> u64 {
        self.0.document.total_power()
    }

    fn get_by_address(&self, address: &Address) -> Option<&Validator> {
        self.get(address)
    }

    fn get_by_index(&self, index: usize) -> Option<&Validator> {
        self.0.validators.get(index)
    }
}

/// An Ed25519 signature over a vote's or proposal's CONSENSUS-v1 bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Signature(pub [u8; SIGNATURE_LEN]);

/// Ed25519 under the `bizra-vote-v1:` domain, verified strictly. Signing never goes through
/// the core: the engine signs with the node's [`Identity`] when the core asks it to, so the
/// scheme names no private key type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ed25519;

impl mc::SigningScheme for Ed25519 {
    type DecodingError = &'static str;
    type Signature = Signature;
    type PublicKey = PeerKey;
    type PrivateKey = ();

    fn decode_signature(bytes: &[u8]) -> Result<Signature, &'static str> {
        <[u8; SIGNATURE_LEN]>::try_from(bytes)
            .map(Signature)
            .map_err(|_| "an Ed25519 signature is 64 bytes")
    }

    fn encode_signature(signature: &Signature) -> Vec<u8> {
        signature.0.to_vec()
    }

    fn decode_public_key(bytes: &[u8]) -> Result<PeerKey, &'static str> {
        <[u8; 32]>::try_from(bytes)
            .ok()
            .and_then(|b| PeerKey::from_bytes(&b))
            .ok_or("an Ed25519 public key is a 32-byte curve point")
    }

    fn encode_public_key(public_key: &PeerKey) -> Vec<u8> {
        public_key.as_bytes().to_vec()
    }
}

/// A round's timeouts: the document's base for each step, lengthened by `delta` per round; the
/// rebroadcast period stays the document's.
impl mc::Timeouts<BizraContext> for Timeouts {
    fn duration_for(&self, timeout: mc::Timeout) -> Duration {
        let round = timeout.round.as_u32().unwrap_or(0);
        let grow = |base: Duration| base.saturating_add(self.delta.saturating_mul(round));
        match timeout.kind {
            mc::TimeoutKind::Propose => grow(self.propose),
            mc::TimeoutKind::Prevote => grow(self.prevote),
            mc::TimeoutKind::Precommit => grow(self.precommit),
            mc::TimeoutKind::Rebroadcast => self.rebroadcast,
            mc::TimeoutKind::FinalizeHeight(d) => d,
        }
    }
}

/// Our Malachite context: one federation document (federation, epoch, validators, timeouts).
#[derive(Clone, Debug)]
pub struct BizraContext {
    validators: ValidatorSet,
}

// The verifiers answer the core's `CertificateValidity` resumption, whose error type is the
// core's (large) `CertificateError`.
#[allow(clippy::result_large_err)]
impl BizraContext {
    /// The context of `document`.
    pub fn new(document: Arc<FederationDocument>) -> Self {
        BizraContext {
            validators: ValidatorSet::new(document),
        }
    }

    /// The document in force.
    pub fn document(&self) -> &FederationDocument {
        self.validators.document()
    }

    /// The validator set of the document.
    pub fn validators(&self) -> &ValidatorSet {
        &self.validators
    }

    /// `identity`'s signature over the vote (the core asks for it only when `identity` is the
    /// vote's validator).
    pub fn sign_vote(&self, identity: &Identity, vote: &Vote) -> Signature {
        let hex = vote.validator.to_hex();
        Signature(vote.body(self.document(), &hex).sign(identity))
    }

    /// Whether `signature` is `key`'s over the vote.
    pub fn verify_vote(&self, vote: &Vote, key: &PeerKey, signature: &Signature) -> bool {
        let hex = vote.validator.to_hex();
        vote.body(self.document(), &hex).verify(key, &signature.0)
    }

    /// `identity`'s signature over the proposal.
    pub fn sign_proposal(&self, identity: &Identity, proposal: &Proposal) -> Signature {
        let hex = proposal.proposer.to_hex();
        Signature(proposal.body(self.document(), &hex).sign(identity))
    }

    /// Whether `signature` is `key`'s over the proposal.
    pub fn verify_proposal(
        &self,
        proposal: &Proposal,
        key: &PeerKey,
        signature: &Signature,
    ) -> bool {
        let hex = proposal.proposer.to_hex();
        proposal
            .body(self.document(), &hex)
            .verify(key, &signature.0)
    }

    /// The commit certificate of CONSENSUS-v1 for the core's.
    pub fn certificate(&self, commit: &mc::CommitCertificate<BizraContext>) -> Certificate {
        let signatures = commit
            .commit_signatures
            .iter()
            .map(|s| CommitSignature {
                validator: s.address.to_hex(),
                signature: s.signature.0,
            })
            .collect();
        let document = self.document();
        Certificate::new(
            document.federation(),
            document.epoch(),
            commit.height.0,
            commit.round.as_u32().unwrap_or(0),
            commit.value_id,
            signatures,
        )
    }

    /// Verifies a commit certificate exactly as anyone holding the document does
    /// ([`Certificate::verify`]), so the core and an offline verifier can never disagree.
    pub fn verify_commit(
        &self,
        commit: &mc::CommitCertificate<BizraContext>,
    ) -> Result<(), CertificateError<BizraContext>> {
        if commit.round.as_u32().is_none() {
            return Err(CertificateError::VerificationError(None));
        }
        self.certificate(commit)
            .verify(self.document())
            .map_err(|e| CertificateError::VerificationError(Some(mc::BoxError::new(Box::new(e)))))
    }

    /// Checks a commit certificate whose signatures were each verified already (the core's own,
    /// built from precommits it verified on arrival): distinct validators of the set holding
    /// more than two thirds of the power.
    pub fn verify_commit_signers(
        &self,
        commit: &mc::CommitCertificate<BizraContext>,
    ) -> Result<(), CertificateError<BizraContext>> {
        let mut seen = std::collections::HashSet::new();
        let mut power: u64 = 0;
        for s in &commit.commit_signatures {
            if !seen.insert(s.address) {
                return Err(CertificateError::DuplicateVote(s.address));
            }
            let validator = self
                .validators
                .get(&s.address)
                .ok_or(CertificateError::UnknownValidator(s.address))?;
            power += validator.power;
        }
        let total = self.document().total_power();
        if self.document().is_quorum(power) {
            Ok(())
        } else {
            Err(CertificateError::NotEnoughVotingPower {
                signed: power,
                total,
                expected: ThresholdParam::TWO_F_PLUS_ONE.min_expected(total),
            })
        }
    }

    /// Verifies a polka certificate: distinct validators of the set whose prevotes for the
    /// value hold more than two thirds of the power.
    pub fn verify_polka(
        &self,
        polka: &mc::PolkaCertificate<BizraContext>,
    ) -> Result<(), CertificateError<BizraContext>> {
        let round = polka
            .round
            .as_u32()
            .ok_or(CertificateError::VerificationError(None))?;
        let votes = polka.polka_signatures.iter().map(|s| {
            let vote = Vote {
                height: polka.height,
                round,
                vote_type: mc::VoteType::Prevote,
                value: NilOrVal::Val(polka.value_id),
                validator: s.address,
            };
            let bad = CertificateError::InvalidPolkaSignature(s.clone());
            (vote, s.signature, bad)
        });
        self.tally(votes, ThresholdParam::TWO_F_PLUS_ONE)
    }

    /// Verifies a round certificate: for a precommit certificate, precommits (for anything)
    /// holding more than two thirds of the power; for a skip certificate, votes of any kind
    /// holding more than a third, so that at least one honest validator is in that round.
    pub fn verify_round(
        &self,
        certificate: &mc::RoundCertificate<BizraContext>,
    ) -> Result<(), CertificateError<BizraContext>> {
        let round = certificate
            .round
            .as_u32()
            .ok_or(CertificateError::VerificationError(None))?;
        let precommits_only = certificate.cert_type == RoundCertificateType::Precommit;
        let mut votes = Vec::with_capacity(certificate.round_signatures.len());
        for s in &certificate.round_signatures {
            if precommits_only && s.vote_type == mc::VoteType::Prevote {
                return Err(CertificateError::InvalidVoteType(s.address));
            }
            let vote = Vote {
                height: certificate.height,
                round,
                vote_type: s.vote_type,
                value: s.value_id,
                validator: s.address,
            };
            votes.push((
                vote,
                s.signature,
                CertificateError::InvalidRoundSignature(s.clone()),
            ));
        }
        let threshold = if precommits_only {
            ThresholdParam::TWO_F_PLUS_ONE
        } else {
            ThresholdParam::F_PLUS_ONE
        };
        self.tally(votes.into_iter(), threshold)
    }

    fn tally(
        &self,
        votes: impl Iterator<Item = (Vote, Signature, CertificateError<BizraContext>)>,
        threshold: ThresholdParam,
    ) -> Result<(), CertificateError<BizraContext>> {
        let mut seen = std::collections::HashSet::new();
        let mut power: u64 = 0;
        for (vote, signature, bad) in votes {
            if !seen.insert(vote.validator) {
                return Err(CertificateError::DuplicateVote(vote.validator));
            }
            let validator = self
                .validators
                .get(&vote.validator)
                .ok_or(CertificateError::UnknownValidator(vote.validator))?;
            if !vote
                .body(self.document(), validator.key_hex())
                .verify(&validator.key, &signature.0)
            {
                return Err(bad);
            }
            // Distinct validators of the set: at most the document's total, which fits.
            power += validator.power;
        }
        let total = self.document().total_power();
        // The engine refuses documents whose total power times three overflows.
        if threshold.is_met(power, total) {
            Ok(())
        } else {
            Err(CertificateError::NotEnoughVotingPower {
                signed: power,
                total,
                expected: threshold.min_expected(total),
            })
        }
    }
}

impl mc::Context for BizraContext {
    type Address = Address;
    type Height = Height;
    type ProposalPart = ProposalPart;
    type Proposal = Proposal;
    type Validator = Validator;
    type ValidatorSet = ValidatorSet;
    type Timeouts = Timeouts;
    type Value = Value;
    type Vote = Vote;
    type Extension = ();
    type SigningScheme = Ed25519;

    fn select_proposer<'a>(
        &self,
        validator_set: &'a ValidatorSet,
        height: Height,
        round: Round,
    ) -> &'a Validator {
        validator_set.proposer(height.0, round.as_u32().unwrap_or(0))
    }

    fn new_proposal(
        &self,
        height: Height,
        round: Round,
        value: Value,
        pol_round: Round,
        address: Address,
    ) -> Proposal {
        Proposal {
            height,
            round: defined(round),
            value,
            pol_round,
            proposer: address,
        }
    }

    fn new_prevote(
        &self,
        height: Height,
        round: Round,
        value_id: NilOrVal<ValueId>,
        address: Address,
    ) -> Vote {
        Vote {
            height,
            round: defined(round),
            vote_type: mc::VoteType::Prevote,
            value: value_id,
            validator: address,
        }
    }

    fn new_precommit(
        &self,
        height: Height,
        round: Round,
        value_id: NilOrVal<ValueId>,
        address: Address,
    ) -> Vote {
        Vote {
            height,
            round: defined(round),
            vote_type: mc::VoteType::Precommit,
            value: value_id,
            validator: address,
        }
    }
}

/// The core builds votes and proposals only in defined rounds. Were it ever to build one in the
/// nil round, it would get `u32::MAX`, which no message may carry: such a vote could be signed
/// but never sent or counted.
fn defined(round: Round) -> u32 {
    round.as_u32().unwrap_or(u32::MAX)
}
