//! `bizra.FederationDocument`, `bizra.Validator` and `bizra.Certificate`
//! (`tests/vectors/CONSENSUS-v1.md`): commit certificates verified offline against the document
//! of their epoch, with no node running. A refusal raises `bizra.CertificateError` (its class,
//! `.code` and `.name` come from the one error mapping, `errors.rs`); verification is the core's.

use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict};

use bizra::consensus::{Batch, Certificate, CertificateCode, FederationDocument};
use bizra::hash::to_hex;

use crate::{guard, to_py};

/// One validator of a federation document: its public key (64 lowercase hex, as votes and
/// certificates name it) and its voting power.
#[pyclass(frozen, get_all, eq, module = "bizra", name = "Validator")]
#[derive(PartialEq, Eq)]
pub(crate) struct PyValidator {
    key: String,
    power: u64,
}

#[pymethods]
impl PyValidator {
    fn __repr__(&self) -> String {
        format!("Validator(key={:?}, power={})", self.key, self.power)
    }
}

/// A federation document: the validators of one epoch of one federation, their voting powers
/// and the round timeouts. Immutable; equal documents have equal hashes.
#[pyclass(frozen, module = "bizra", name = "FederationDocument")]
pub(crate) struct PyFederationDocument {
    inner: FederationDocument,
}

#[pymethods]
impl PyFederationDocument {
    /// Reads a document from its JSON text; `InvalidInputError` names the field that is wrong.
    #[staticmethod]
    fn from_json(text: &str) -> PyResult<Self> {
        guard(|| {
            let inner = FederationDocument::from_json(text).map_err(to_py)?;
            Ok(Self { inner })
        })
    }

    /// The canonical JSON (RFC 8785), every timeout written out.
    fn to_json(&self) -> String {
        self.inner.to_json()
    }

    /// `H("bizra-document-v1:", canonical JSON)` as 64 lowercase hex.
    #[getter]
    fn hash(&self) -> String {
        to_hex(self.inner.hash())
    }

    /// The hash as 32 bytes.
    #[getter]
    fn hash_bytes<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, self.inner.hash())
    }

    #[getter]
    fn federation(&self) -> &str {
        self.inner.federation()
    }

    #[getter]
    fn epoch(&self) -> u64 {
        self.inner.epoch()
    }

    /// The validators, in the document's order (which fixes proposer rotation).
    #[getter]
    fn validators(&self) -> Vec<PyValidator> {
        self.inner
            .validators()
            .iter()
            .map(|v| PyValidator {
                key: v.key_hex().to_owned(),
                power: v.power(),
            })
            .collect()
    }

    #[getter]
    fn total_power(&self) -> u64 {
        self.inner.total_power()
    }

    fn __eq__(&self, other: &Bound<'_, PyAny>) -> bool {
        other
            .cast::<PyFederationDocument>()
            .is_ok_and(|o| o.get().inner.hash() == self.inner.hash())
    }
    fn __hash__(&self) -> u64 {
        let mut h = [0u8; 8];
        h.copy_from_slice(&self.inner.hash()[..8]);
        u64::from_le_bytes(h)
    }
    fn __repr__(&self) -> String {
        format!(
            "FederationDocument(federation={:?}, epoch={}, validators={}, hash={:?})",
            self.inner.federation(),
            self.inner.epoch(),
            self.inner.validators().len(),
            to_hex(self.inner.hash())
        )
    }
}

/// A commit certificate: a federation's proof that it decided a value at a height. Reading one
/// checks its form only; `verify` checks it against the federation document. Immutable.
#[pyclass(frozen, module = "bizra", name = "Certificate")]
pub(crate) struct PyCertificate {
    inner: Certificate,
}

#[pymethods]
impl PyCertificate {
    /// Reads a certificate from its JSON text; `CertificateError` with code 1 (`MALFORMED`)
    /// names what is not a certificate.
    #[staticmethod]
    fn from_json(text: &str) -> PyResult<Self> {
        guard(|| {
            let inner = Certificate::from_json(text).map_err(|e| to_py(e.into()))?;
            Ok(Self { inner })
        })
    }

    /// Verifies against the federation document of the certificate's epoch, offline (no clock,
    /// no network), with the GIL released; raises `CertificateError` with the first failure's
    /// code.
    fn verify(&self, py: Python<'_>, document: &Bound<'_, PyFederationDocument>) -> PyResult<()> {
        guard(|| {
            let doc = &document.get().inner;
            py.detach(|| self.inner.verify(doc))
                .map_err(|e| to_py(e.into()))
        })
    }

    /// `verify`, then checks that the batch (JSON text: an array of `bizra.proposal` envelopes
    /// in ascending id order) is the certified value: `CertificateError` with code 8
    /// (`VALUE_MISMATCH`) when it is another. A batch that cannot be read is an
    /// `InvalidInputError`.
    fn verify_batch(
        &self,
        py: Python<'_>,
        batch_json: &str,
        document: &Bound<'_, PyFederationDocument>,
    ) -> PyResult<()> {
        guard(|| {
            let doc = &document.get().inner;
            py.detach(|| {
                let batch = Batch::from_json(batch_json)?;
                self.inner
                    .verify_batch(&batch, doc)
                    .map_err(bizra::Error::from)
            })
            .map_err(to_py)
        })
    }

    /// The canonical JSON (RFC 8785, signatures in ascending order of key).
    fn to_json(&self) -> String {
        self.inner.to_json()
    }

    #[getter]
    fn federation(&self) -> &str {
        self.inner.federation()
    }

    #[getter]
    fn epoch(&self) -> u64 {
        self.inner.epoch()
    }

    #[getter]
    fn height(&self) -> u64 {
        self.inner.height()
    }

    #[getter]
    fn round(&self) -> u32 {
        self.inner.round()
    }

    /// The decided value's id (the batch's hash), 64 lowercase hex.
    #[getter]
    fn value(&self) -> String {
        self.inner.value().to_hex()
    }

    /// The number of precommit signatures.
    #[getter]
    fn signature_count(&self) -> usize {
        self.inner.signatures().len()
    }

    fn __eq__(&self, other: &Bound<'_, PyAny>) -> bool {
        other
            .cast::<PyCertificate>()
            .is_ok_and(|o| o.get().inner == self.inner)
    }
    fn __hash__(&self) -> u64 {
        let mut h = [0u8; 8];
        h.copy_from_slice(&self.inner.value().as_bytes()[..8]);
        u64::from_le_bytes(h) ^ self.inner.height()
    }
    fn __repr__(&self) -> String {
        format!(
            "Certificate(federation={:?}, epoch={}, height={}, round={}, value={:?}, signatures={})",
            self.inner.federation(),
            self.inner.epoch(),
            self.inner.height(),
            self.inner.round(),
            self.inner.value().to_hex(),
            self.inner.signatures().len()
        )
    }
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let codes = PyDict::new(m.py());
    for c in CertificateCode::ALL {
        codes.set_item(c.code(), c.name())?;
    }
    m.add("CERTIFICATE_CODES", codes)?;
    m.add_class::<PyValidator>()?;
    m.add_class::<PyFederationDocument>()?;
    m.add_class::<PyCertificate>()?;
    Ok(())
}
