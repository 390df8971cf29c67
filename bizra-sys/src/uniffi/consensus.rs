//! `FederationDocument` and `Certificate` (`tests/vectors/CONSENSUS-v1.md`): commit certificates
//! verified offline against the document of their epoch, with no node running. A refusal is
//! `BizraError::CertificateRefused` (Kotlin's `BizraException.CertificateRefused`) with the
//! code, its name and what was wrong; verification itself is the core's.

use std::sync::Arc;

use bizra_core::consensus::{self, CertificateCode};

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
    inner: consensus::FederationDocument,
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
            inner: consensus::FederationDocument::from_json(&json)?,
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
