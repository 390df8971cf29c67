//! Commit certificates: the proof that a federation decided a value at a height, checkable by
//! anyone who holds the federation document, with no node running and nothing else trusted.
//!
//! A certificate names the federation, epoch, height, round and value, and carries the
//! precommit signatures of validators holding more than two thirds of the voting power. Each
//! precommit's signed bytes are rebuilt from those fields and the signer's key
//! ([`VoteBody`]), so the certificate holds nothing but signatures.

use std::collections::HashSet;
use std::fmt;

use bizra_protocol::canonical;
use bizra_protocol::hash::{from_hex, to_hex};
use bizra_protocol::identity::SIGNATURE_LEN;
use serde_json::{json, Map, Value};

use crate::batch::{Batch, ValueId};
use crate::document::{FederationDocument, MAX_FEDERATION_LEN, MAX_VALIDATORS};
use crate::vote::{VoteBody, VoteType};

/// One validator's precommit signature.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CommitSignature {
    /// The signer's public key, lowercase hex.
    pub validator: String,
    /// Ed25519 over the precommit's signed bytes.
    pub signature: [u8; SIGNATURE_LEN],
}

/// A commit certificate (`tests/vectors/CONSENSUS-v1.md`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Certificate {
    federation: String,
    epoch: u64,
    height: u64,
    round: u32,
    value: ValueId,
    signatures: Vec<CommitSignature>,
}

/// Why a certificate was refused. The numbers are stable, and each refusal names its code's
/// cause in its detail.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CertificateCode {
    /// Not a certificate: not JSON, a field missing, unknown or of the wrong form.
    Malformed = 1,
    /// Another federation's certificate.
    WrongFederation = 2,
    /// Another epoch's certificate: its validators may not be the document's.
    WrongEpoch = 3,
    /// A signer that is not a validator of the document.
    UnknownSigner = 4,
    /// A validator signed twice (its power would count twice).
    DuplicateSigner = 5,
    /// A signature that is not the named validator's precommit for this value.
    BadSignature = 6,
    /// The signers hold two thirds of the power or less.
    InsufficientPower = 7,
    /// The batch presented with the certificate is not the certified value.
    ValueMismatch = 8,
}

impl CertificateCode {
    /// The stable number.
    pub const fn code(self) -> u32 {
        self as u32
    }

    /// The upper-case name (`"BAD_SIGNATURE"`).
    pub const fn name(self) -> &'static str {
        match self {
            CertificateCode::Malformed => "MALFORMED",
            CertificateCode::WrongFederation => "WRONG_FEDERATION",
            CertificateCode::WrongEpoch => "WRONG_EPOCH",
            CertificateCode::UnknownSigner => "UNKNOWN_SIGNER",
            CertificateCode::DuplicateSigner => "DUPLICATE_SIGNER",
            CertificateCode::BadSignature => "BAD_SIGNATURE",
            CertificateCode::InsufficientPower => "INSUFFICIENT_POWER",
            CertificateCode::ValueMismatch => "VALUE_MISMATCH",
        }
    }

    /// Every code, in number order.
    pub const ALL: [CertificateCode; 8] = [
        CertificateCode::Malformed,
        CertificateCode::WrongFederation,
        CertificateCode::WrongEpoch,
        CertificateCode::UnknownSigner,
        CertificateCode::DuplicateSigner,
        CertificateCode::BadSignature,
        CertificateCode::InsufficientPower,
        CertificateCode::ValueMismatch,
    ];
}

/// A refused certificate: the code and what exactly was wrong.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CertificateError {
    /// Why, as a stable code.
    pub code: CertificateCode,
    /// What exactly, for humans.
    pub detail: String,
}

impl fmt::Display for CertificateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "certificate refused: {} ({})",
            self.code.name(),
            self.detail
        )
    }
}

impl std::error::Error for CertificateError {}

fn refuse(code: CertificateCode, detail: impl Into<String>) -> CertificateError {
    CertificateError {
        code,
        detail: detail.into(),
    }
}

impl Certificate {
    /// A certificate from its parts; the signatures are put in ascending order of key, the
    /// canonical order. Nothing is checked here: see [`Certificate::verify`].
    pub fn new(
        federation: impl Into<String>,
        epoch: u64,
        height: u64,
        round: u32,
        value: ValueId,
        mut signatures: Vec<CommitSignature>,
    ) -> Self {
        signatures.sort_by(|a, b| a.validator.cmp(&b.validator));
        Certificate {
            federation: federation.into(),
            epoch,
            height,
            round,
            value,
            signatures,
        }
    }

    /// Reads a certificate from JSON. Refusals are [`CertificateCode::Malformed`] and name the
    /// field.
    pub fn from_json(text: &str) -> Result<Self, CertificateError> {
        use CertificateCode::Malformed;
        let value =
            canonical::parse(text).map_err(|e| refuse(Malformed, format!("not I-JSON: {e}")))?;
        let obj = value
            .as_object()
            .ok_or_else(|| refuse(Malformed, "a certificate is a JSON object"))?;
        const KEYS: [&str; 6] = [
            "epoch",
            "federation",
            "height",
            "round",
            "signatures",
            "value",
        ];
        if let Some(k) = obj.keys().find(|k| !KEYS.contains(&k.as_str())) {
            return Err(refuse(Malformed, format!("unknown field \"{k}\"")));
        }
        let federation = obj
            .get("federation")
            .and_then(Value::as_str)
            .filter(|f| !f.is_empty() && f.len() <= MAX_FEDERATION_LEN)
            .ok_or_else(|| {
                refuse(
                    Malformed,
                    format!("federation must be a string of 1 to {MAX_FEDERATION_LEN} bytes"),
                )
            })?;
        let epoch = uint(obj, "epoch")?;
        let height = uint(obj, "height")?;
        let round = u32::try_from(uint(obj, "round")?)
            .map_err(|_| refuse(Malformed, "round must fit 32 bits"))?;
        let value = obj
            .get("value")
            .and_then(Value::as_str)
            .and_then(ValueId::from_hex)
            .ok_or_else(|| refuse(Malformed, "value must be 64 lowercase hex digits"))?;
        let list = obj
            .get("signatures")
            .and_then(Value::as_array)
            .ok_or_else(|| refuse(Malformed, "signatures must be an array"))?;
        if list.len() > MAX_VALIDATORS {
            return Err(refuse(
                Malformed,
                format!("{} signatures, at most {MAX_VALIDATORS}", list.len()),
            ));
        }
        let mut signatures = Vec::with_capacity(list.len());
        for (i, s) in list.iter().enumerate() {
            let o = s.as_object().filter(|o| o.len() == 2).ok_or_else(|| {
                refuse(
                    Malformed,
                    format!("signatures[{i}] must be an object of validator and signature"),
                )
            })?;
            let validator = o
                .get("validator")
                .and_then(Value::as_str)
                .filter(|v| from_hex::<32>(v).is_some())
                .ok_or_else(|| {
                    refuse(
                        Malformed,
                        format!("signatures[{i}].validator must be 64 lowercase hex digits"),
                    )
                })?;
            let signature = o
                .get("signature")
                .and_then(Value::as_str)
                .and_then(from_hex::<SIGNATURE_LEN>)
                .ok_or_else(|| {
                    refuse(
                        Malformed,
                        format!("signatures[{i}].signature must be 128 lowercase hex digits"),
                    )
                })?;
            signatures.push(CommitSignature {
                validator: validator.to_string(),
                signature,
            });
        }
        Ok(Certificate {
            federation: federation.to_string(),
            epoch,
            height,
            round,
            value,
            signatures,
        })
    }

    /// The canonical JSON form (RFC 8785).
    pub fn to_json(&self) -> String {
        let signatures: Vec<Value> = self
            .signatures
            .iter()
            .map(|s| json!({"validator": s.validator, "signature": to_hex(&s.signature)}))
            .collect();
        let doc = json!({
            "federation": self.federation,
            "epoch": self.epoch,
            "height": self.height,
            "round": self.round,
            "value": self.value.to_hex(),
            "signatures": signatures,
        });
        // Integers and strings: nothing the writer can refuse.
        canonical::to_string(&doc).unwrap_or_default()
    }

    /// Checks the certificate against the federation document, in this order: federation,
    /// epoch, then each signature (a known validator, once, whose precommit for this value it
    /// is), then the power of the signers (more than two thirds). Pure: no clock, no network.
    pub fn verify(&self, document: &FederationDocument) -> Result<(), CertificateError> {
        use CertificateCode::*;
        if self.federation != document.federation() {
            return Err(refuse(
                WrongFederation,
                format!(
                    "certificate of federation \"{}\", document of \"{}\"",
                    self.federation,
                    document.federation()
                ),
            ));
        }
        if self.epoch != document.epoch() {
            return Err(refuse(
                WrongEpoch,
                format!(
                    "certificate of epoch {}, document of epoch {}",
                    self.epoch,
                    document.epoch()
                ),
            ));
        }
        let mut seen = HashSet::with_capacity(self.signatures.len());
        let mut power: u64 = 0;
        for (i, s) in self.signatures.iter().enumerate() {
            let validator = document.validator(&s.validator).ok_or_else(|| {
                refuse(
                    UnknownSigner,
                    format!("signatures[{i}]: {} is not a validator", s.validator),
                )
            })?;
            if !seen.insert(s.validator.as_str()) {
                return Err(refuse(
                    DuplicateSigner,
                    format!("signatures[{i}]: {} signed twice", s.validator),
                ));
            }
            let body = self.precommit(&s.validator);
            if !body.verify(validator.key(), &s.signature) {
                return Err(refuse(
                    BadSignature,
                    format!(
                        "signatures[{i}]: not {}'s precommit for value {} at height {} round {}",
                        s.validator, self.value, self.height, self.round
                    ),
                ));
            }
            // At most the document's total, which fits 64 bits.
            power += validator.power();
        }
        if !document.is_quorum(power) {
            return Err(refuse(
                InsufficientPower,
                format!(
                    "signers hold {power} of {} votes; more than two thirds are needed",
                    document.total_power()
                ),
            ));
        }
        Ok(())
    }

    /// [`Certificate::verify`], then checks that `batch` is the certified value.
    pub fn verify_batch(
        &self,
        batch: &Batch,
        document: &FederationDocument,
    ) -> Result<(), CertificateError> {
        self.verify(document)?;
        if batch.id() != &self.value {
            return Err(refuse(
                CertificateCode::ValueMismatch,
                format!(
                    "the batch's id is {}, the certified value is {}",
                    batch.id(),
                    self.value
                ),
            ));
        }
        Ok(())
    }

    /// The precommit that `validator`'s signature in this certificate must be.
    pub fn precommit<'a>(&'a self, validator: &'a str) -> VoteBody<'a> {
        VoteBody {
            federation: &self.federation,
            epoch: self.epoch,
            height: self.height,
            round: self.round,
            vote_type: VoteType::Precommit,
            value: Some(&self.value),
            validator,
        }
    }

    /// The federation's name.
    pub fn federation(&self) -> &str {
        &self.federation
    }

    /// The epoch of the document whose validators signed.
    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    /// The decided height.
    pub fn height(&self) -> u64 {
        self.height
    }

    /// The round in which it was decided.
    pub fn round(&self) -> u32 {
        self.round
    }

    /// The decided value's id.
    pub fn value(&self) -> &ValueId {
        &self.value
    }

    /// The precommit signatures, in ascending order of key.
    pub fn signatures(&self) -> &[CommitSignature] {
        &self.signatures
    }
}

fn uint(obj: &Map<String, Value>, name: &str) -> Result<u64, CertificateError> {
    const MAX_SAFE: u64 = (1 << 53) - 1;
    obj.get(name)
        .and_then(Value::as_u64)
        .filter(|&n| n <= MAX_SAFE)
        .ok_or_else(|| {
            refuse(
                CertificateCode::Malformed,
                format!("{name} must be an integer from 0 to 2^53 - 1"),
            )
        })
}

/// A refused certificate as the one error type of bizra (kind `CERTIFICATE_REFUSED`), carrying
/// its code's number and name, so that every binding reports a refusal the same way it reports
/// any other error of the core.
impl From<CertificateError> for bizra_protocol::Error {
    fn from(e: CertificateError) -> Self {
        bizra_protocol::Error::Certificate {
            code: e.code.code(),
            name: e.code.name(),
            detail: e.detail,
        }
    }
}

#[cfg(test)]
mod error_tests {
    use super::*;

    #[test]
    fn a_refusal_becomes_the_core_error_with_its_code() {
        for code in CertificateCode::ALL {
            let e: bizra_protocol::Error = refuse(code, "what was wrong").into();
            assert_eq!(e.kind(), bizra_protocol::ErrorKind::CertificateRefused);
            assert_eq!(e.certificate_code(), Some((code.code(), code.name())));
            assert_eq!(
                e.to_string(),
                format!("certificate refused: {} (what was wrong)", code.name())
            );
        }
    }
}
