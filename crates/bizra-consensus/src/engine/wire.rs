//! The engine's messages and write-ahead-log records, as bytes.
//!
//! A compact binary encoding, version 1, specified for other implementations (with vectors) in
//! `tests/vectors/CONSENSUS-v1.md`, "Messages between validators". Integers are big-endian and
//! of fixed width; every message has exactly one encoding (a decoder refuses anything else:
//! unknown versions and kinds, out-of-range fields, a batch or envelope not in canonical form,
//! a decision's signers out of order, trailing bytes), so equal messages are equal bytes.
//! Federation and epoch are not carried: the signatures cover them (`bizra-vote-v1:` over
//! [`VoteBody`](crate::VoteBody) / [`ProposalBody`](crate::ProposalBody) built with the
//! receiver's document), so a message of another federation or epoch fails verification.
//!
//! ```text
//! message   = version:u8 (= 1) ‖ kind:u8 ‖ body
//!
//! value     = 0x00                       nil
//!           | 0x01 ‖ value_id:32          a batch id
//! vote_type = 0x01 prevote | 0x02 precommit
//!
//! kind 0x01 vote            height:u64 ‖ round:u32 ‖ vote_type ‖ value ‖ validator:32 ‖ signature:64
//! kind 0x02 proposal        height:u64 ‖ round:u32 ‖ pol_round:u32 (0xffffffff: none) ‖
//!                           proposer:32 ‖ signature:64 ‖ batch_len:u32 ‖ batch
//! kind 0x03 polka cert.     height:u64 ‖ round:u32 ‖ value_id:32 ‖ count:u16 ‖
//!                           count × (validator:32 ‖ signature:64)            prevotes for value_id
//! kind 0x04 round cert.     height:u64 ‖ round:u32 ‖ cert_type:u8 (0x01 skip, 0x02 precommit) ‖
//!                           count:u16 ‖ count × (vote_type ‖ value ‖ validator:32 ‖ signature:64)
//! kind 0x05 submission      envelope_len:u32 ‖ envelope (PCI-v1 canonical JSON, payload type
//!                           bizra.proposal)
//! kind 0x06 decision        height:u64 ‖ round:u32 ‖ value_id:32 ‖ count:u16 ‖
//!                           count × (validator:32 ‖ signature:64) ‖ batch_len:u32 ‖ batch
//!                           a commit certificate (CONSENSUS-v1, in the receiver's federation
//!                           and epoch; signers in strictly ascending key order) with the
//!                           decided batch
//!
//! write-ahead-log records only (refused from the network):
//! kind 0x10 proposed value  height:u64 ‖ round:u32 ‖ valid_round:u32 (0xffffffff: none) ‖
//!                           proposer:32 ‖ validity:u8 (0x00 invalid, 0x01 valid) ‖
//!                           origin:u8 (0x01 consensus, 0x02 sync) ‖ batch_len:u32 ‖ batch
//! kind 0x11 timeout         height:u64 ‖ round:u32 ‖ step:u8 (0x01 propose, 0x02 prevote,
//!                           0x03 precommit)
//! ```
//!
//! `validator` and `proposer` are Ed25519 public keys; `signature` is the signer's over the
//! CONSENSUS-v1 bytes of the vote or proposal the fields describe (for a polka certificate,
//! each signer's prevote for `value_id` at `height`/`round`; for a round certificate, each
//! signer's vote as listed). `batch` is the batch's canonical JSON ([`Batch::to_json`]), whose
//! `bizra-batch-v1:` hash is the proposal's value id. Heights run from 1 to 2^53 − 1, rounds
//! from 0 to 2^32 − 2. Sizes are bounded: a batch by [`MAX_BATCH_BYTES`], a certificate by the
//! document's validator count (and [`MAX_VALIDATORS`]), a submission by
//! [`MAX_SUBMISSION_BYTES`]; a message by [`MAX_MESSAGE_BYTES`].

use std::sync::Arc;

use bizra_protocol::Envelope;
use malachitebft_core_consensus::{Input, ProposedValue};
use malachitebft_core_types::{
    NilOrVal, PolkaCertificate, PolkaSignature, Round, RoundCertificate, RoundCertificateType,
    RoundSignature, SignedProposal, SignedVote, Timeout, TimeoutKind, Validity, ValueOrigin,
    VoteType,
};

use crate::batch::{is_proposal, Batch, Known, ValueId, MAX_BATCH_BYTES};
use crate::certificate::{Certificate, CommitSignature};
use crate::context::{
    Address, BizraContext, Height, Proposal, Signature, Value, Vote, MAX_HEIGHT, MAX_ROUND,
};
use crate::document::{FederationDocument, MAX_VALIDATORS};
use bizra_protocol::hash::{from_hex, to_hex};

/// The encoding's version, the first byte of every message and record.
pub const VERSION: u8 = 1;

/// The largest submission (one envelope), in bytes.
pub const MAX_SUBMISSION_BYTES: usize = 2 << 20;

/// The largest message or record, in bytes: a decision with the largest batch and a signature
/// from every validator (a proposal's header beside the batch is smaller), so that any decision
/// the engine sends can be decoded.
pub const MAX_MESSAGE_BYTES: usize = MAX_BATCH_BYTES + 128 + MAX_VALIDATORS * 96;

const VOTE: u8 = 0x01;
const PROPOSAL: u8 = 0x02;
const POLKA: u8 = 0x03;
const ROUND_CERT: u8 = 0x04;
const SUBMISSION: u8 = 0x05;
const DECISION: u8 = 0x06;
const PROPOSED_VALUE: u8 = 0x10;
const TIMEOUT: u8 = 0x11;

const NO_ROUND: u32 = u32::MAX;

/// A message between validators, decoded.
#[derive(Clone, Debug)]
pub(crate) enum Message {
    Vote(SignedVote<BizraContext>),
    Proposal(SignedProposal<BizraContext>),
    Polka(PolkaCertificate<BizraContext>),
    RoundCertificate(RoundCertificate<BizraContext>),
    Submission(Box<Envelope>),
    Decision(Box<Decision>),
}

/// A decided height as a decision message carries it: the certificate's fields (federation and
/// epoch are the receiver's) and the batch.
#[derive(Clone, Debug)]
pub(crate) struct Decision {
    pub height: u64,
    pub round: u32,
    pub value: ValueId,
    pub signatures: Vec<([u8; 32], [u8; 64])>,
    pub batch: Value,
}

impl Decision {
    /// The certificate, in `document`'s federation and epoch.
    pub fn certificate(&self, document: &FederationDocument) -> Certificate {
        let signatures = self
            .signatures
            .iter()
            .map(|(k, s)| CommitSignature {
                validator: to_hex(k),
                signature: *s,
            })
            .collect();
        Certificate::new(
            document.federation(),
            document.epoch(),
            self.height,
            self.round,
            self.value,
            signatures,
        )
    }
}

/// What was wrong with some bytes.
pub(crate) type DecodeError = String;

// ---------------------------------------------------------------------------------------------
// Encoding

fn header(kind: u8, capacity: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(capacity + 2);
    out.push(VERSION);
    out.push(kind);
    out
}

fn put_value(out: &mut Vec<u8>, value: &NilOrVal<ValueId>) {
    match value {
        NilOrVal::Nil => out.push(0),
        NilOrVal::Val(id) => {
            out.push(1);
            out.extend_from_slice(id.as_bytes());
        }
    }
}

fn vote_type_byte(t: VoteType) -> u8 {
    match t {
        VoteType::Prevote => 1,
        VoteType::Precommit => 2,
    }
}

fn put_round(out: &mut Vec<u8>, round: Round) {
    out.extend_from_slice(&round.as_u32().unwrap_or(NO_ROUND).to_be_bytes());
}

fn put_batch(out: &mut Vec<u8>, batch: &Batch) {
    let json = batch.to_json().as_bytes();
    // A batch is at most MAX_BATCH_BYTES (8 MiB): its length fits 32 bits.
    out.extend_from_slice(&(json.len() as u32).to_be_bytes());
    out.extend_from_slice(json);
}

/// A signed vote.
pub(crate) fn encode_vote(vote: &SignedVote<BizraContext>) -> Vec<u8> {
    let v = &vote.message;
    let mut out = header(VOTE, 8 + 4 + 1 + 33 + 32 + 64);
    out.extend_from_slice(&v.height.0.to_be_bytes());
    out.extend_from_slice(&v.round.to_be_bytes());
    out.push(vote_type_byte(v.vote_type));
    put_value(&mut out, &v.value);
    out.extend_from_slice(&v.validator.0);
    out.extend_from_slice(&vote.signature.0);
    out
}

/// A signed proposal, with its whole batch.
pub(crate) fn encode_proposal(proposal: &SignedProposal<BizraContext>) -> Vec<u8> {
    let p = &proposal.message;
    let batch = p.value.batch();
    let mut out = header(PROPOSAL, 8 + 4 + 4 + 32 + 64 + 4 + batch.to_json().len());
    out.extend_from_slice(&p.height.0.to_be_bytes());
    out.extend_from_slice(&p.round.to_be_bytes());
    put_round(&mut out, p.pol_round);
    out.extend_from_slice(&p.proposer.0);
    out.extend_from_slice(&proposal.signature.0);
    put_batch(&mut out, batch);
    out
}

/// A polka certificate.
pub(crate) fn encode_polka(c: &PolkaCertificate<BizraContext>) -> Vec<u8> {
    let mut out = header(POLKA, 8 + 4 + 32 + 2 + c.polka_signatures.len() * 96);
    out.extend_from_slice(&c.height.0.to_be_bytes());
    put_round(&mut out, c.round);
    out.extend_from_slice(c.value_id.as_bytes());
    // The core builds certificates from the votes of the set: at most MAX_VALIDATORS.
    out.extend_from_slice(&(c.polka_signatures.len() as u16).to_be_bytes());
    for s in &c.polka_signatures {
        out.extend_from_slice(&s.address.0);
        out.extend_from_slice(&s.signature.0);
    }
    out
}

/// A round certificate.
pub(crate) fn encode_round_certificate(c: &RoundCertificate<BizraContext>) -> Vec<u8> {
    let mut out = header(ROUND_CERT, 8 + 4 + 1 + 2 + c.round_signatures.len() * 131);
    out.extend_from_slice(&c.height.0.to_be_bytes());
    put_round(&mut out, c.round);
    out.push(match c.cert_type {
        RoundCertificateType::Skip => 1,
        RoundCertificateType::Precommit => 2,
    });
    out.extend_from_slice(&(c.round_signatures.len() as u16).to_be_bytes());
    for s in &c.round_signatures {
        out.push(vote_type_byte(s.vote_type));
        put_value(&mut out, &s.value_id);
        out.extend_from_slice(&s.address.0);
        out.extend_from_slice(&s.signature.0);
    }
    out
}

/// An envelope submitted for the pools of the other validators.
pub(crate) fn encode_submission(envelope: &Envelope) -> Vec<u8> {
    let json = envelope.to_json();
    let mut out = header(SUBMISSION, 4 + json.len());
    // Checked against MAX_SUBMISSION_BYTES before it is pooled.
    out.extend_from_slice(&(json.len() as u32).to_be_bytes());
    out.extend_from_slice(json.as_bytes());
    out
}

/// The height a network message is about (votes, proposals, certificates and decisions carry
/// it right after their kind), read without decoding or verifying anything: a hint for a
/// runtime that waits to start a height until a peer has (the engine checks the message
/// itself). `None` for a submission or bytes that are no message.
pub fn height_of(bytes: &[u8]) -> Option<u64> {
    match bytes {
        [VERSION, VOTE | PROPOSAL | POLKA | ROUND_CERT | DECISION, rest @ ..] => {
            Some(u64::from_be_bytes(rest.get(..8)?.try_into().ok()?))
        }
        _ => None,
    }
}

/// Whether `bytes` claim to be a submission (a proposal forwarded by a validator): read
/// without decoding anything, so that a runtime can judge submissions after the votes and
/// proposals that arrived with them.
pub fn is_submission(bytes: &[u8]) -> bool {
    matches!(bytes, [VERSION, SUBMISSION, ..])
}

/// A decided height: its certificate (signers' keys are 64 hex digits in any certificate that
/// verified) and batch. The signers are written in ascending key order whatever the
/// certificate's order (one read from JSON keeps the order it was given in), since a decoder
/// refuses any other.
pub fn encode_decision(certificate: &Certificate, batch: &Batch) -> Vec<u8> {
    let mut sigs: Vec<([u8; 32], &[u8; 64])> = certificate
        .signatures()
        .iter()
        .map(|s| (from_hex(&s.validator).unwrap_or([0; 32]), &s.signature))
        .collect();
    sigs.sort_unstable_by_key(|&(key, _)| key);
    let json = batch.to_json();
    let mut out = header(DECISION, 8 + 4 + 32 + 2 + sigs.len() * 96 + 4 + json.len());
    out.extend_from_slice(&certificate.height().to_be_bytes());
    out.extend_from_slice(&certificate.round().to_be_bytes());
    out.extend_from_slice(certificate.value().as_bytes());
    // A certificate that verified names at most MAX_VALIDATORS distinct signers.
    out.extend_from_slice(&(sigs.len() as u16).to_be_bytes());
    for (key, signature) in sigs {
        out.extend_from_slice(&key);
        out.extend_from_slice(signature);
    }
    put_batch(&mut out, batch);
    out
}

/// The write-ahead-log record of a core input logged at `height`, or `None` for an input the
/// core never logs.
pub(crate) fn encode_record(height: Height, input: &Input<BizraContext>) -> Option<Vec<u8>> {
    Some(match input {
        Input::Vote(v) => encode_vote(v),
        Input::Proposal(p) => encode_proposal(p),
        Input::PolkaCertificate(c) => encode_polka(c),
        Input::ProposedValue(v, origin) => {
            let batch = v.value.batch();
            let mut out = header(
                PROPOSED_VALUE,
                8 + 4 + 4 + 32 + 2 + 4 + batch.to_json().len(),
            );
            out.extend_from_slice(&v.height.0.to_be_bytes());
            put_round(&mut out, v.round);
            put_round(&mut out, v.valid_round);
            out.extend_from_slice(&v.proposer.0);
            out.push(u8::from(v.validity.is_valid()));
            out.push(match origin {
                ValueOrigin::Consensus => 1,
                ValueOrigin::Sync => 2,
            });
            put_batch(&mut out, batch);
            out
        }
        Input::TimeoutElapsed(t) => {
            let step = match t.kind {
                TimeoutKind::Propose => 1,
                TimeoutKind::Prevote => 2,
                TimeoutKind::Precommit => 3,
                // Never logged by the core: they change no vote.
                TimeoutKind::Rebroadcast | TimeoutKind::FinalizeHeight(_) => return None,
            };
            let mut out = header(TIMEOUT, 8 + 4 + 1);
            out.extend_from_slice(&height.0.to_be_bytes());
            put_round(&mut out, t.round);
            out.push(step);
            out
        }
        Input::StartHeight(..)
        | Input::RoundCertificate(_)
        | Input::Propose(_)
        | Input::SyncValueResponse(_) => return None,
    })
}

// ---------------------------------------------------------------------------------------------
// Decoding

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
    /// The envelopes the reader holds already (see [`Batch::from_json_known`]).
    known: Option<Known<'a>>,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8], DecodeError> {
        let end = self.at.checked_add(n).filter(|&e| e <= self.bytes.len());
        let Some(end) = end else {
            return Err(format!(
                "truncated at byte {}: {what} needs {n} bytes, {} left",
                self.at,
                self.bytes.len() - self.at
            ));
        };
        let out = &self.bytes[self.at..end];
        self.at = end;
        Ok(out)
    }

    fn array<const N: usize>(&mut self, what: &str) -> Result<[u8; N], DecodeError> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.take(N, what)?);
        Ok(a)
    }

    fn u8(&mut self, what: &str) -> Result<u8, DecodeError> {
        Ok(self.array::<1>(what)?[0])
    }

    fn u16(&mut self, what: &str) -> Result<u16, DecodeError> {
        Ok(u16::from_be_bytes(self.array(what)?))
    }

    fn u32(&mut self, what: &str) -> Result<u32, DecodeError> {
        Ok(u32::from_be_bytes(self.array(what)?))
    }

    fn height(&mut self) -> Result<Height, DecodeError> {
        let h = u64::from_be_bytes(self.array("height")?);
        if h == 0 || h > MAX_HEIGHT {
            return Err(format!("height {h} is outside 1 to 2^53 - 1"));
        }
        Ok(Height(h))
    }

    fn round(&mut self) -> Result<u32, DecodeError> {
        let r = self.u32("round")?;
        if r > MAX_ROUND {
            return Err("round 2^32 - 1 is reserved for \"no round\"".into());
        }
        Ok(r)
    }

    fn optional_round(&mut self, what: &str) -> Result<Round, DecodeError> {
        let r = self.u32(what)?;
        Ok(if r == NO_ROUND {
            Round::Nil
        } else {
            Round::new(r)
        })
    }

    fn vote_type(&mut self) -> Result<VoteType, DecodeError> {
        match self.u8("vote type")? {
            1 => Ok(VoteType::Prevote),
            2 => Ok(VoteType::Precommit),
            t => Err(format!(
                "vote type {t} is neither 1 (prevote) nor 2 (precommit)"
            )),
        }
    }

    fn value(&mut self) -> Result<NilOrVal<ValueId>, DecodeError> {
        match self.u8("value tag")? {
            0 => Ok(NilOrVal::Nil),
            1 => Ok(NilOrVal::Val(ValueId::from_bytes(self.array("value id")?))),
            t => Err(format!(
                "value tag {t} is neither 0 (nil) nor 1 (a value id)"
            )),
        }
    }

    fn address(&mut self, what: &str) -> Result<Address, DecodeError> {
        Ok(Address(self.array(what)?))
    }

    fn signature(&mut self) -> Result<Signature, DecodeError> {
        Ok(Signature(self.array("signature")?))
    }

    fn batch(&mut self) -> Result<Value, DecodeError> {
        let len = self.u32("batch length")? as usize;
        if len > MAX_BATCH_BYTES {
            return Err(format!("batch of {len} bytes, at most {MAX_BATCH_BYTES}"));
        }
        let bytes = self.take(len, "batch")?;
        let text = std::str::from_utf8(bytes).map_err(|_| "batch is not UTF-8".to_string())?;
        let batch = match self.known {
            Some(known) => Batch::from_json_known(text, known),
            None => Batch::from_json(text),
        }
        .map_err(|e| e.to_string())?;
        if batch.to_json() != text {
            return Err("batch is not in canonical form (RFC 8785, ids ascending)".into());
        }
        Ok(Value(Arc::new(batch)))
    }

    fn count(&mut self) -> Result<usize, DecodeError> {
        let n = usize::from(self.u16("signature count")?);
        if n > MAX_VALIDATORS {
            return Err(format!("{n} signatures, at most {MAX_VALIDATORS}"));
        }
        Ok(n)
    }

    fn end(&self) -> Result<(), DecodeError> {
        if self.at == self.bytes.len() {
            Ok(())
        } else {
            Err(format!(
                "{} bytes after the end of the message",
                self.bytes.len() - self.at
            ))
        }
    }
}

fn open(bytes: &[u8]) -> Result<(u8, Reader<'_>), DecodeError> {
    if bytes.len() > MAX_MESSAGE_BYTES {
        return Err(format!(
            "{} bytes, at most {MAX_MESSAGE_BYTES}",
            bytes.len()
        ));
    }
    let mut r = Reader {
        bytes,
        at: 0,
        known: None,
    };
    let version = r.u8("version")?;
    if version != VERSION {
        return Err(format!("version {version}, expected {VERSION}"));
    }
    let kind = r.u8("kind")?;
    Ok((kind, r))
}

fn read_vote(r: &mut Reader<'_>) -> Result<SignedVote<BizraContext>, DecodeError> {
    let height = r.height()?;
    let round = r.round()?;
    let vote_type = r.vote_type()?;
    let value = r.value()?;
    let validator = r.address("validator")?;
    let signature = r.signature()?;
    Ok(SignedVote::new(
        Vote {
            height,
            round,
            vote_type,
            value,
            validator,
        },
        signature,
    ))
}

fn read_proposal(r: &mut Reader<'_>) -> Result<SignedProposal<BizraContext>, DecodeError> {
    let height = r.height()?;
    let round = r.round()?;
    let pol_round = r.optional_round("pol_round")?;
    let proposer = r.address("proposer")?;
    let signature = r.signature()?;
    let value = r.batch()?;
    Ok(SignedProposal::new(
        Proposal {
            height,
            round,
            value,
            pol_round,
            proposer,
        },
        signature,
    ))
}

fn read_polka(r: &mut Reader<'_>) -> Result<PolkaCertificate<BizraContext>, DecodeError> {
    let height = r.height()?;
    let round = Round::new(r.round()?);
    let value_id = ValueId::from_bytes(r.array("value id")?);
    let n = r.count()?;
    let mut polka_signatures = Vec::with_capacity(n);
    for _ in 0..n {
        let address = r.address("validator")?;
        let signature = r.signature()?;
        polka_signatures.push(PolkaSignature::new(address, signature));
    }
    Ok(PolkaCertificate {
        height,
        round,
        value_id,
        polka_signatures,
    })
}

fn read_round_certificate(
    r: &mut Reader<'_>,
) -> Result<RoundCertificate<BizraContext>, DecodeError> {
    let height = r.height()?;
    let round = Round::new(r.round()?);
    let cert_type = match r.u8("certificate type")? {
        1 => RoundCertificateType::Skip,
        2 => RoundCertificateType::Precommit,
        t => {
            return Err(format!(
                "certificate type {t} is neither 1 (skip) nor 2 (precommit)"
            ))
        }
    };
    let n = r.count()?;
    let mut round_signatures = Vec::with_capacity(n);
    for _ in 0..n {
        let vote_type = r.vote_type()?;
        let value = r.value()?;
        let address = r.address("validator")?;
        let signature = r.signature()?;
        round_signatures.push(RoundSignature::new(vote_type, value, address, signature));
    }
    Ok(RoundCertificate {
        height,
        round,
        cert_type,
        round_signatures,
    })
}

fn read_submission(r: &mut Reader<'_>) -> Result<Envelope, DecodeError> {
    let len = r.u32("envelope length")? as usize;
    if len > MAX_SUBMISSION_BYTES {
        return Err(format!(
            "envelope of {len} bytes, at most {MAX_SUBMISSION_BYTES}"
        ));
    }
    let bytes = r.take(len, "envelope")?;
    let envelope = Envelope::parse_bytes(bytes).map_err(|e| format!("envelope: {e}"))?;
    if !is_proposal(&envelope) {
        return Err(format!(
            "envelope {} is not a proposal (payload type must be \"bizra.proposal\")",
            envelope.id()
        ));
    }
    if envelope.to_json().as_bytes() != bytes {
        return Err(format!(
            "envelope {} is not in canonical form (RFC 8785)",
            envelope.id()
        ));
    }
    Ok(envelope)
}

fn read_decision(r: &mut Reader<'_>) -> Result<Decision, DecodeError> {
    let height = r.height()?.0;
    let round = r.round()?;
    let value = ValueId::from_bytes(r.array("value id")?);
    let n = r.count()?;
    let mut signatures: Vec<([u8; 32], [u8; 64])> = Vec::with_capacity(n);
    for i in 0..n {
        let key = r.array("validator")?;
        let signature = r.signature()?.0;
        if signatures
            .last()
            .is_some_and(|(previous, _)| *previous >= key)
        {
            return Err(format!(
                "signer {i} is not after signer {} (keys ascend strictly)",
                i - 1
            ));
        }
        signatures.push((key, signature));
    }
    let batch = r.batch()?;
    Ok(Decision {
        height,
        round,
        value,
        signatures,
        batch,
    })
}

/// Decodes a message from a peer (write-ahead-log kinds are refused).
pub(crate) fn decode_message(bytes: &[u8]) -> Result<Message, DecodeError> {
    decode(bytes, None)
}

/// [`decode_message`] by a reader that holds envelopes already: a batch made of them is not
/// parsed again (the same message, decoded faster).
pub(crate) fn decode_message_known<'a>(
    bytes: &'a [u8],
    known: Known<'a>,
) -> Result<Message, DecodeError> {
    decode(bytes, Some(known))
}

fn decode<'a>(bytes: &'a [u8], known: Option<Known<'a>>) -> Result<Message, DecodeError> {
    let (kind, mut r) = open(bytes)?;
    r.known = known;
    let message = match kind {
        VOTE => Message::Vote(read_vote(&mut r)?),
        PROPOSAL => Message::Proposal(read_proposal(&mut r)?),
        POLKA => Message::Polka(read_polka(&mut r)?),
        ROUND_CERT => Message::RoundCertificate(read_round_certificate(&mut r)?),
        SUBMISSION => Message::Submission(Box::new(read_submission(&mut r)?)),
        DECISION => Message::Decision(Box::new(read_decision(&mut r)?)),
        k => return Err(format!("unknown message kind 0x{k:02x}")),
    };
    r.end()?;
    Ok(message)
}

/// Decodes a write-ahead-log record into the core input it logged, with its height.
pub(crate) fn decode_record(bytes: &[u8]) -> Result<(Height, Input<BizraContext>), DecodeError> {
    let (kind, mut r) = open(bytes)?;
    let decoded = match kind {
        VOTE => {
            let v = read_vote(&mut r)?;
            (v.message.height, Input::Vote(v))
        }
        PROPOSAL => {
            let p = read_proposal(&mut r)?;
            (p.message.height, Input::Proposal(p))
        }
        POLKA => {
            let c = read_polka(&mut r)?;
            (c.height, Input::PolkaCertificate(c))
        }
        PROPOSED_VALUE => {
            let height = r.height()?;
            let round = Round::new(r.round()?);
            let valid_round = r.optional_round("valid_round")?;
            let proposer = r.address("proposer")?;
            let validity = match r.u8("validity")? {
                0 => Validity::Invalid,
                1 => Validity::Valid,
                v => return Err(format!("validity {v} is neither 0 nor 1")),
            };
            let origin = match r.u8("origin")? {
                1 => ValueOrigin::Consensus,
                2 => ValueOrigin::Sync,
                o => return Err(format!("origin {o} is neither 1 (consensus) nor 2 (sync)")),
            };
            let value = r.batch()?;
            let v = ProposedValue {
                height,
                round,
                valid_round,
                proposer,
                value,
                validity,
            };
            (height, Input::ProposedValue(v, origin))
        }
        TIMEOUT => {
            let height = r.height()?;
            let round = Round::new(r.round()?);
            let kind = match r.u8("timeout step")? {
                1 => TimeoutKind::Propose,
                2 => TimeoutKind::Prevote,
                3 => TimeoutKind::Precommit,
                s => return Err(format!("timeout step {s} is not 1, 2 or 3")),
            };
            (height, Input::TimeoutElapsed(Timeout::new(round, kind)))
        }
        k => return Err(format!("unknown record kind 0x{k:02x}")),
    };
    r.end()?;
    Ok(decoded)
}

impl Message {
    /// The message encoded again by the encoder of its kind (a decision in `document`'s
    /// federation and epoch, which the bytes do not carry): a decoded message gives back its
    /// bytes, since the encoding is canonical.
    #[cfg(any(test, feature = "fuzzing"))]
    pub(crate) fn encode(&self, document: &FederationDocument) -> Vec<u8> {
        match self {
            Message::Vote(v) => encode_vote(v),
            Message::Proposal(p) => encode_proposal(p),
            Message::Polka(c) => encode_polka(c),
            Message::RoundCertificate(c) => encode_round_certificate(c),
            Message::Submission(e) => encode_submission(e),
            Message::Decision(d) => encode_decision(&d.certificate(document), d.batch.batch()),
        }
    }
}

/// The decoders, for the fuzz targets in `fuzz/` (the `fuzzing` feature, off by default). Not
/// part of the API: hidden from the docs, it may change in any release. The decoded types are
/// Malachite's and private to the crate, so each function decodes as the engine does and gives
/// back what decoded, encoded again by the engine's own encoder: a target checks that the
/// encoding is canonical (the same bytes) without naming those types.
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing {
    use super::*;

    /// [`decode_message`], then [`Message::encode`].
    pub fn message(bytes: &[u8], document: &FederationDocument) -> Result<Vec<u8>, String> {
        decode_message(bytes).map(|m| m.encode(document))
    }

    /// [`decode_message_known`] by a reader that holds `held` (as a validator holds its pool),
    /// then [`Message::encode`].
    pub fn message_known(
        bytes: &[u8],
        held: &[Envelope],
        document: &FederationDocument,
    ) -> Result<Vec<u8>, String> {
        let known = |id: &str| {
            let e = held.iter().find(|e| e.id() == id)?;
            Some((e.clone(), Arc::from(e.to_json())))
        };
        decode_message_known(bytes, &known).map(|m| m.encode(document))
    }

    /// [`decode_record`], then [`encode_record`] of what it gave (`None`: an input the log
    /// never holds).
    pub fn record(bytes: &[u8]) -> Result<Option<Vec<u8>>, String> {
        decode_record(bytes).map(|(height, input)| encode_record(height, &input))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bizra_protocol::Identity;
    use serde_json::json;

    fn batch() -> Value {
        let me = Identity::generate();
        let e = Envelope::builder(json!({"type": "bizra.proposal", "n": 1}))
            .snr(0.9)
            .ihsan(0.96)
            .sign(&me)
            .unwrap();
        Value(Arc::new(Batch::new(vec![e]).unwrap()))
    }

    fn vote() -> SignedVote<BizraContext> {
        SignedVote::new(
            Vote {
                height: Height(7),
                round: 2,
                vote_type: VoteType::Precommit,
                value: NilOrVal::Val(ValueId::from_bytes([9; 32])),
                validator: Address([3; 32]),
            },
            Signature([4; 64]),
        )
    }

    #[test]
    fn every_kind_round_trips_to_the_same_bytes() {
        let v = encode_vote(&vote());
        assert_eq!(v.len(), 2 + 8 + 4 + 1 + 33 + 32 + 64);
        let Message::Vote(back) = decode_message(&v).unwrap() else {
            panic!("not a vote")
        };
        assert_eq!(encode_vote(&back), v);

        let p = SignedProposal::new(
            Proposal {
                height: Height(7),
                round: 1,
                value: batch(),
                pol_round: Round::new(0),
                proposer: Address([5; 32]),
            },
            Signature([6; 64]),
        );
        let bytes = encode_proposal(&p);
        let Message::Proposal(back) = decode_message(&bytes).unwrap() else {
            panic!("not a proposal")
        };
        assert_eq!(back, p);
        assert_eq!(height_of(&bytes), Some(7));
        assert_eq!(height_of(&v), Some(vote().message.height.0));
        assert_eq!(height_of(&bytes[..9]), None);
        let submission = encode_submission(&batch().batch().envelopes()[0]);
        assert_eq!(height_of(&submission), None);
        assert!(is_submission(&submission) && !is_submission(&bytes) && !is_submission(&[]));

        for input in [
            Input::Vote(vote()),
            Input::Proposal(p.clone()),
            Input::TimeoutElapsed(Timeout::prevote(Round::new(3))),
            Input::ProposedValue(
                ProposedValue {
                    height: Height(7),
                    round: Round::new(1),
                    valid_round: Round::Nil,
                    proposer: Address([5; 32]),
                    value: batch(),
                    validity: Validity::Invalid,
                },
                ValueOrigin::Consensus,
            ),
        ] {
            let record = encode_record(Height(7), &input).unwrap();
            let (h, back) = decode_record(&record).unwrap();
            assert_eq!(h, Height(7));
            assert_eq!(back, input);
        }
        // Records of the log only are never messages.
        let t = encode_record(
            Height(7),
            &Input::TimeoutElapsed(Timeout::propose(Round::ZERO)),
        );
        assert!(decode_message(&t.unwrap())
            .unwrap_err()
            .contains("unknown message kind"));
    }

    #[test]
    fn refusals_say_what_is_wrong() {
        let v = encode_vote(&vote());
        let cases: Vec<(Vec<u8>, &str)> = vec![
            (vec![], "truncated at byte 0: version"),
            ([&[2u8][..], &v[1..]].concat(), "version 2"),
            (vec![1, 0x7f], "unknown message kind 0x7f"),
            (v[..v.len() - 1].to_vec(), "truncated"),
            ([&v[..], &[0u8][..]].concat(), "1 bytes after the end"),
            (
                {
                    let mut b = v.clone();
                    b[2..10].copy_from_slice(&0u64.to_be_bytes());
                    b
                },
                "height 0 is outside",
            ),
            (
                {
                    let mut b = v.clone();
                    b[10..14].copy_from_slice(&u32::MAX.to_be_bytes());
                    b
                },
                "reserved",
            ),
            (
                {
                    let mut b = v.clone();
                    b[14] = 3;
                    b
                },
                "vote type 3",
            ),
            (
                {
                    let mut b = v.clone();
                    b[15] = 2;
                    b
                },
                "value tag 2",
            ),
        ];
        for (bytes, words) in cases {
            let e = decode_message(&bytes).unwrap_err();
            assert!(e.contains(words), "{words:?} not in {e:?}");
        }
        // A batch whose envelopes are out of order, or not in canonical form, is refused.
        let me = Identity::generate();
        let envelopes: Vec<Envelope> = (0..2)
            .map(|n| {
                Envelope::builder(json!({"type": "bizra.proposal", "n": n}))
                    .sign(&me)
                    .unwrap()
            })
            .collect();
        let sorted = Batch::new(envelopes).unwrap();
        let e = sorted.envelopes();
        for (json, words) in [
            (
                format!("[{},{}]", e[1].to_json(), e[0].to_json()),
                "out of order",
            ),
            (
                format!("[ {},{}]", e[0].to_json(), e[1].to_json()),
                "canonical",
            ),
        ] {
            let mut b = vec![1, PROPOSAL];
            b.extend_from_slice(&1u64.to_be_bytes());
            b.extend_from_slice(&0u32.to_be_bytes());
            b.extend_from_slice(&u32::MAX.to_be_bytes());
            b.extend_from_slice(&[0; 96]);
            b.extend_from_slice(&(json.len() as u32).to_be_bytes());
            b.extend_from_slice(json.as_bytes());
            let err = decode_message(&b).unwrap_err();
            assert!(err.contains(words), "{words:?} not in {err:?}");
        }
    }

    #[test]
    fn a_decision_lists_its_signers_in_key_order_whatever_the_certificates_order() {
        // A certificate read from JSON keeps the order it was given in.
        let (high, low) = ("bb".repeat(32), "aa".repeat(32));
        let text = json!({
            "epoch": 1,
            "federation": "f",
            "height": 3,
            "round": 0,
            "signatures": [
                {"validator": high, "signature": "01".repeat(64)},
                {"validator": low, "signature": "02".repeat(64)},
            ],
            "value": "09".repeat(32),
        })
        .to_string();
        let certificate = Certificate::from_json(&text).unwrap();
        assert_eq!(certificate.signatures()[0].validator, high);
        let bytes = encode_decision(&certificate, batch().batch());
        let Message::Decision(d) = decode_message(&bytes).unwrap() else {
            panic!("not a decision")
        };
        assert_eq!(d.signatures, [([0xaa; 32], [2; 64]), ([0xbb; 32], [1; 64])]);
    }
}
