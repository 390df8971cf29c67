//! Consensus: `FederationDocument` and `Certificate` (`tests/vectors/CONSENSUS-v1.md`), commit
//! certificates verified offline against the document of their epoch, with no node running; and
//! consensus on a running `Node` (started with `NodeOptions.document`): `propose`, `decided`,
//! `consensusStatus` and `consensusEvents` (decisions and equivocation evidence, read like the
//! membership events). A refused certificate is `BizraError::CertificateRefused` (Kotlin's
//! `BizraException.CertificateRefused`) and refused evidence `BizraError::EvidenceRefused`
//! (Kotlin's `BizraException.EvidenceRefused`), each mapped from the core's error kind with the
//! code, its name and what was wrong; verification itself is the core's.

use std::sync::Arc;
use std::time::Duration;

use bizra_core::consensus::{self, CertificateCode, EvidenceCode};

use super::envelope::Envelope;
use super::federation::Node;
use super::stream::Stream;
use super::BizraError;

/// One validator of a federation document.
#[derive(Debug, Clone, PartialEq, Eq, ::uniffi::Record)]
pub struct Validator {
    /// Its public key, 64 lowercase hex: how votes and certificates name it.
    pub key: String,
    /// Its voting power.
    pub power: u64,
}

/// A federation document: the validators of one epoch of one federation, their voting powers
/// and the round timeouts. Immutable; equal documents have equal hashes.
#[derive(Debug, ::uniffi::Object)]
#[uniffi::export(Eq)]
pub struct FederationDocument {
    inner: Arc<consensus::FederationDocument>,
}

impl FederationDocument {
    /// The document itself, shared with a node's consensus (`NodeOptions.document`).
    pub(super) fn shared(&self) -> Arc<consensus::FederationDocument> {
        Arc::clone(&self.inner)
    }
}

impl PartialEq for FederationDocument {
    fn eq(&self, other: &Self) -> bool {
        self.inner.hash() == other.inner.hash()
    }
}

impl Eq for FederationDocument {}

#[::uniffi::export]
impl FederationDocument {
    /// Reads a document from its JSON text; `InvalidInput` names the field that is wrong.
    #[uniffi::constructor]
    pub fn from_json(json: String) -> Result<Self, BizraError> {
        Ok(FederationDocument {
            inner: Arc::new(consensus::FederationDocument::from_json(&json)?),
        })
    }

    /// The canonical JSON (RFC 8785), every timeout written out.
    pub fn to_json(&self) -> String {
        self.inner.to_json()
    }

    /// `H("bizra-document-v1:", canonical JSON)`, 64 lowercase hex: the name of a validator set
    /// in logs and APIs.
    pub fn hash_hex(&self) -> String {
        bizra_core::hash::to_hex(self.inner.hash())
    }

    /// The hash as 32 bytes.
    pub fn hash_bytes(&self) -> Vec<u8> {
        self.inner.hash().to_vec()
    }

    /// The federation's name.
    pub fn federation(&self) -> String {
        self.inner.federation().to_owned()
    }

    /// The epoch: a new validator set is a new epoch.
    pub fn epoch(&self) -> u64 {
        self.inner.epoch()
    }

    /// The validators, in the document's order (which fixes proposer rotation).
    pub fn validators(&self) -> Vec<Validator> {
        self.inner
            .validators()
            .iter()
            .map(|v| Validator {
                key: v.key_hex().to_owned(),
                power: v.power(),
            })
            .collect()
    }

    /// The sum of every validator's power; a certificate needs signers holding more than two
    /// thirds of it.
    pub fn total_power(&self) -> u64 {
        self.inner.total_power()
    }
}

/// A commit certificate: a federation's proof that it decided a value at a height. Reading one
/// checks its form only; `verify` checks it against the federation document. Immutable.
#[derive(Debug, ::uniffi::Object)]
#[uniffi::export(Eq)]
pub struct Certificate {
    inner: consensus::Certificate,
}

impl PartialEq for Certificate {
    fn eq(&self, other: &Self) -> bool {
        self.inner == other.inner
    }
}

impl Eq for Certificate {}

#[::uniffi::export]
impl Certificate {
    /// Reads a certificate from its JSON text; `CertificateRefused` with code 1 (`MALFORMED`)
    /// names what is not a certificate.
    #[uniffi::constructor]
    pub fn from_json(json: String) -> Result<Self, BizraError> {
        let inner = consensus::Certificate::from_json(&json).map_err(bizra_core::Error::from)?;
        Ok(Certificate { inner })
    }

    /// Verifies the certificate against the federation document of its epoch, offline: its
    /// federation, its epoch, each signature (a validator of the document, once, whose precommit
    /// for this value it is), then the signers' power (more than two thirds). Throws
    /// `CertificateRefused` with the first failure's code.
    pub fn verify(&self, document: Arc<FederationDocument>) -> Result<(), BizraError> {
        self.inner
            .verify(&document.inner)
            .map_err(bizra_core::Error::from)?;
        Ok(())
    }

    /// `verify`, then checks that the batch (its JSON text: an array of `bizra.proposal`
    /// envelopes in ascending id order) is the certified value: `CertificateRefused` with code 8
    /// (`VALUE_MISMATCH`) when it is another. A batch that cannot be read is `InvalidInput`.
    pub fn verify_batch(
        &self,
        batch_json: String,
        document: Arc<FederationDocument>,
    ) -> Result<(), BizraError> {
        let batch = consensus::Batch::from_json(&batch_json)?;
        self.inner
            .verify_batch(&batch, &document.inner)
            .map_err(bizra_core::Error::from)?;
        Ok(())
    }

    /// The canonical JSON (RFC 8785, signatures in ascending order of key).
    pub fn to_json(&self) -> String {
        self.inner.to_json()
    }

    /// The name of the federation that certified.
    pub fn federation(&self) -> String {
        self.inner.federation().to_owned()
    }

    /// The epoch of the document whose validators signed.
    pub fn epoch(&self) -> u64 {
        self.inner.epoch()
    }

    /// The decided height.
    pub fn height(&self) -> u64 {
        self.inner.height()
    }

    /// The round in which the value was decided.
    pub fn round(&self) -> u32 {
        self.inner.round()
    }

    /// The decided value's id (the batch's hash), 64 lowercase hex.
    pub fn value_hex(&self) -> String {
        self.inner.value().to_hex()
    }

    /// The number of precommit signatures.
    pub fn signature_count(&self) -> u64 {
        // At most `MAX_VALIDATORS` (1,024): a JSON certificate holds no more.
        self.inner.signatures().len() as u64
    }
}

/// The name of a certificate refusal code (`6` → `"BAD_SIGNATURE"`), or null for a number
/// CONSENSUS-v1 does not define.
#[::uniffi::export]
pub fn certificate_code_name(code: u32) -> Option<String> {
    CertificateCode::ALL
        .iter()
        .find(|c| c.code() == code)
        .map(|c| c.name().to_owned())
}

/// A decided height: its commit certificate and the decided batch of proposals.
#[derive(Debug, Clone, ::uniffi::Record)]
pub struct Decision {
    /// The height.
    pub height: u64,
    /// The round in which it was decided.
    pub round: u32,
    /// The federation's proof (`verifyBatch(batchJson, document)` checks both together).
    pub certificate: Arc<Certificate>,
    /// The batch's canonical JSON: the proposals in ascending id order, whose hash the
    /// certificate names.
    pub batch_json: String,
    /// The decided `bizra.proposal` envelopes, in ascending id order.
    pub proposals: Vec<Arc<Envelope>>,
}

impl Decision {
    fn new(certificate: consensus::Certificate, batch: &consensus::Batch) -> Self {
        Decision {
            height: certificate.height(),
            round: certificate.round(),
            batch_json: batch.to_json().to_owned(),
            proposals: batch
                .envelopes()
                .iter()
                .map(|e| Arc::new(Envelope { inner: e.clone() }))
                .collect(),
            certificate: Arc::new(Certificate { inner: certificate }),
        }
    }
}

/// What a node's consensus engine has seen and done.
#[derive(Debug, Clone, PartialEq, Eq, ::uniffi::Record)]
pub struct ConsensusEngineStats {
    /// Messages received from peers.
    pub received: u64,
    /// Of those, refused before the consensus core (malformed, unknown validator, ...).
    pub refused: u64,
    /// Signatures that did not verify.
    pub bad_signatures: u64,
    /// Messages broadcast.
    pub broadcasts: u64,
    /// Write-ahead-log records written.
    pub persisted: u64,
    /// Heights decided (by this node's votes or by catching up).
    pub decided: u64,
    /// Proposals whose batch the gate chain refused (this node prevoted nil on them).
    pub invalid_proposals: u64,
}

/// Where consensus stands on a node.
#[derive(Debug, Clone, PartialEq, Eq, ::uniffi::Record)]
pub struct ConsensusStatus {
    /// The height being decided.
    pub height: u64,
    /// Its round.
    pub round: u32,
    /// The highest height decided (and stored).
    pub decided: u64,
    /// Proposals waiting for a batch.
    pub pending: u64,
    /// Whether this node votes (its key is one of the document's validators).
    pub validator: bool,
    /// Peers (validators and followers) with an authenticated consensus link.
    pub linked: u64,
    /// What the engine has seen and done.
    pub engine: ConsensusEngineStats,
    /// Frames not sent because a link's queue was full.
    pub frames_dropped: u64,
    /// Why consensus stopped on this node (its storage failed), if it did: it no longer votes.
    pub failure: Option<String>,
}

/// A count of the core (`usize`) as the bindings carry it.
fn count(n: usize) -> u64 {
    u64::try_from(n).unwrap_or(u64::MAX)
}

impl From<bizra_core::ConsensusStatus> for ConsensusStatus {
    fn from(s: bizra_core::ConsensusStatus) -> Self {
        let e = s.engine;
        ConsensusStatus {
            height: s.height,
            round: s.round,
            decided: s.decided,
            pending: count(s.pending),
            validator: s.validator,
            linked: count(s.linked),
            engine: ConsensusEngineStats {
                received: e.received,
                refused: e.refused,
                bad_signatures: e.bad_signatures,
                broadcasts: e.broadcasts,
                persisted: e.persisted,
                decided: e.decided,
                invalid_proposals: e.invalid_proposals,
            },
            frames_dropped: s.frames_dropped,
            failure: s.failure,
        }
    }
}

/// The step in which a validator equivocated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, ::uniffi::Enum)]
pub enum EvidenceStep {
    /// Two proposals for one round.
    Proposal,
    /// Two prevotes for one round.
    Prevote,
    /// Two precommits for one round.
    Precommit,
}

impl From<consensus::EquivocationKind> for EvidenceStep {
    fn from(k: consensus::EquivocationKind) -> Self {
        match k {
            consensus::EquivocationKind::Proposal => EvidenceStep::Proposal,
            consensus::EquivocationKind::Prevote => EvidenceStep::Prevote,
            consensus::EquivocationKind::Precommit => EvidenceStep::Precommit,
        }
    }
}

impl From<EvidenceStep> for consensus::EquivocationKind {
    fn from(k: EvidenceStep) -> Self {
        match k {
            EvidenceStep::Proposal => consensus::EquivocationKind::Proposal,
            EvidenceStep::Prevote => consensus::EquivocationKind::Prevote,
            EvidenceStep::Precommit => consensus::EquivocationKind::Precommit,
        }
    }
}

/// Equivocation evidence: a validator signed two conflicting messages (the same height, round
/// and step, different contents). Anyone holding the federation document checks it with
/// `verify`, without trusting the node that reported it.
#[derive(Debug, Clone, PartialEq, Eq, ::uniffi::Record)]
pub struct Evidence {
    /// The validator's key, 64 lowercase hex.
    pub validator: String,
    /// The height.
    pub height: u64,
    /// The round.
    pub round: u32,
    /// The step.
    pub step: EvidenceStep,
    /// The message seen first, in its CONSENSUS-v1 wire encoding.
    pub first: Vec<u8>,
    /// The conflicting message, in its wire encoding.
    pub second: Vec<u8>,
}

impl From<consensus::Equivocation> for Evidence {
    fn from(e: consensus::Equivocation) -> Self {
        Evidence {
            validator: e.validator,
            height: e.height,
            round: e.round,
            step: e.kind.into(),
            first: e.first,
            second: e.second,
        }
    }
}

#[::uniffi::export]
impl Evidence {
    /// Checks the evidence against the federation document, offline: both messages decode, are
    /// of one step, one validator (of the document), one height and round, with different
    /// contents, match the fields above, and both signatures verify. Throws
    /// `BizraException.EvidenceRefused` with the first failure's code.
    pub fn verify(&self, document: Arc<FederationDocument>) -> Result<(), BizraError> {
        let evidence = consensus::Equivocation {
            validator: self.validator.clone(),
            height: self.height,
            round: self.round,
            kind: self.step.into(),
            first: self.first.clone(),
            second: self.second.clone(),
        };
        evidence
            .verify(&document.inner)
            .map_err(|e| bizra_core::Error::from(e).into())
    }
}

/// The name of an evidence refusal code (`8` → `"BAD_SIGNATURE"`), or null for a number
/// CONSENSUS-v1 does not define.
#[::uniffi::export]
pub fn evidence_code_name(code: u32) -> Option<String> {
    EvidenceCode::ALL
        .iter()
        .find(|c| c.code() == code)
        .map(|c| c.name().to_owned())
}

/// What consensus tells a node's subscribers, in order.
#[derive(Debug, Clone, ::uniffi::Enum)]
pub enum ConsensusEvent {
    /// The federation decided a height (this node stored it).
    Decided {
        /// The certificate and the batch.
        decision: Decision,
    },
    /// A validator signed two conflicting messages.
    Evidence {
        /// The evidence, which anyone can check (`verify`).
        evidence: Evidence,
    },
}

impl From<bizra_core::ConsensusEvent> for ConsensusEvent {
    fn from(e: bizra_core::ConsensusEvent) -> Self {
        match e {
            bizra_core::ConsensusEvent::Decided { certificate, batch } => ConsensusEvent::Decided {
                decision: Decision::new(certificate, &batch),
            },
            bizra_core::ConsensusEvent::Evidence(e) => {
                ConsensusEvent::Evidence { evidence: e.into() }
            }
        }
    }
}

/// A subscriber's consensus events, in order, read with `poll(timeout)` (blocking) or `next()`
/// (suspending); each event goes to one reader. The stream ends when the node leaves or stops
/// (at once for a node without consensus). Closing it unsubscribes (its helper thread ends
/// within a tenth of a second). Kotlin's `asFlow()` makes it a `Flow`.
#[derive(::uniffi::Object)]
pub struct ConsensusEvents {
    stream: Stream<ConsensusEvent>,
}

#[::uniffi::export]
impl ConsensusEvents {
    /// The next event, waiting at most `timeout` (blocking the calling thread); null when none
    /// came in time or the stream ended (`isEnded` tells which).
    pub fn poll(&self, timeout: Duration) -> Option<ConsensusEvent> {
        self.stream.poll(timeout)
    }

    /// The next event (a `suspend fun` in Kotlin, `async` in Swift); null once the node left or
    /// stopped and every event was read. Cancelling the waiting coroutine loses no event.
    pub async fn next(&self) -> Option<ConsensusEvent> {
        self.stream.next().await
    }

    /// Whether the stream is over: the node left or stopped and every event was read.
    pub fn is_ended(&self) -> bool {
        self.stream.is_ended()
    }
}

/// Consensus on a running node (started with `NodeOptions.document`). A node without a document
/// refuses `propose` and `decided` with `InvalidInput`; a node that left or stopped refuses every
/// call, as its other calls do.
#[::uniffi::export]
impl Node {
    /// Submits a `bizra.proposal` envelope (its payload's `"type"`) to consensus: pooled here and
    /// forwarded to the other validators, to be decided in a batch (watch `consensusEvents()`).
    /// True when new, false when pooled or decided already. Throws `InvalidInput` for an
    /// envelope that is not a proposal, a full pool or a node without consensus, and `Rejected`
    /// (with its reject code) when the federation's gate chain refuses the envelope now.
    pub fn propose(&self, envelope: Arc<Envelope>) -> Result<bool, BizraError> {
        Ok(self.with(|n| n.propose(envelope.inner.clone()))??)
    }

    /// The decision of `height` from this node's storage; null if it has not decided it.
    pub fn decided(&self, height: u64) -> Result<Option<Decision>, BizraError> {
        let stored = self.with(|n| n.decided(height))??;
        Ok(stored.map(|(certificate, batch)| Decision::new(certificate, &batch)))
    }

    /// Where consensus stands on this node; null for a node without consensus.
    pub fn consensus_status(&self) -> Result<Option<ConsensusStatus>, BizraError> {
        Ok(self
            .with(bizra_core::Node::consensus_status)?
            .map(Into::into))
    }

    /// The consensus events from now on, in order: each decided height (`Decided`) and each
    /// equivocation seen (`Evidence`); past decisions are in `decided(height)`. Any number of
    /// subscribers each get every event. Close the stream when done with it (the `Flow` of
    /// `asFlow()` does).
    pub fn consensus_events(&self) -> Result<Arc<ConsensusEvents>, BizraError> {
        let sub = self.with(bizra_core::Node::consensus_events)?;
        Ok(Arc::new(ConsensusEvents {
            stream: Stream::start(sub, "bizra-consensus-events")?,
        }))
    }
}
