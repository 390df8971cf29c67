//! Consensus (`tests/vectors/CONSENSUS-v1.md`): `bizra.FederationDocument`, `bizra.Validator`
//! and `bizra.Certificate`, commit certificates verified offline against the document of their
//! epoch, with no node running; `bizra.Evidence`, equivocation evidence anyone can check; and
//! what a node's consensus reports (`Node.propose`, `decided`, `consensus_status` and
//! `consensus_events` live in node.rs): `bizra.Decision`, `bizra.ConsensusStatus`,
//! `bizra.ConsensusEngineStats` and `bizra.ConsensusEventStream`.
//!
//! A refused certificate raises `bizra.CertificateError` (kind CERTIFICATE_REFUSED) and refused
//! evidence `bizra.EvidenceError` (kind EVIDENCE_REFUSED): the core's errors, whose classes,
//! `.code` and `.name` come from the one error mapping (`errors.rs`); every verification is the
//! core's, run with the GIL released.

use std::sync::Arc;

use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyTuple};

use bizra::consensus::{
    Batch, Certificate, CertificateCode, Equivocation, EquivocationKind, EvidenceCode,
    FederationDocument,
};
use bizra::hash::to_hex;
use bizra::{ConsensusEvent, ConsensusStatus};

use crate::convert::{bytes_arg, u32_arg, u64_arg};
use crate::envelope::PyEnvelope;
use crate::stream::Stream;
use crate::{guard, invalid, to_py};

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
    /// Shared with the nodes started under it (`Node(document=...)`).
    pub(crate) inner: Arc<FederationDocument>,
}

#[pymethods]
impl PyFederationDocument {
    /// Reads a document from its JSON text; `InvalidInputError` names the field that is wrong.
    #[staticmethod]
    fn from_json(text: &str) -> PyResult<Self> {
        guard(|| {
            let inner = FederationDocument::from_json(text).map_err(to_py)?;
            Ok(Self {
                inner: Arc::new(inner),
            })
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
    pub(crate) inner: Certificate,
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
            let doc = &*document.get().inner;
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
            let doc = &*document.get().inner;
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

/// A height the federation decided: its commit certificate and the batch of proposals, as a
/// node reports it (`Node.consensus_events()`, `Node.decided(height)`). Immutable.
#[pyclass(frozen, module = "bizra", name = "Decision")]
pub(crate) struct PyDecision {
    certificate: Py<PyCertificate>,
    batch_json: String,
    proposals: Vec<Py<PyEnvelope>>,
}

impl PyDecision {
    pub(crate) fn new(py: Python<'_>, certificate: Certificate, batch: &Batch) -> PyResult<Self> {
        Ok(PyDecision {
            batch_json: batch.to_json().to_owned(),
            proposals: batch
                .envelopes()
                .iter()
                .map(|e| Py::new(py, PyEnvelope { inner: e.clone() }))
                .collect::<PyResult<_>>()?,
            certificate: Py::new(py, PyCertificate { inner: certificate })?,
        })
    }

    fn cert(&self) -> &Certificate {
        &self.certificate.get().inner
    }
}

#[pymethods]
impl PyDecision {
    /// The decided height.
    #[getter]
    fn height(&self) -> u64 {
        self.cert().height()
    }

    /// The round in which it was decided.
    #[getter]
    fn round(&self) -> u32 {
        self.cert().round()
    }

    /// More than two thirds of the voting power precommitted the batch: anyone holding the
    /// document checks it offline with `certificate.verify_batch(batch_json, document)`.
    #[getter]
    fn certificate(&self, py: Python<'_>) -> Py<PyCertificate> {
        self.certificate.clone_ref(py)
    }

    /// The batch as it was decided, its JSON text: the certified value is its hash, so these
    /// exact bytes are what `Certificate.verify_batch` takes.
    #[getter]
    fn batch_json(&self) -> &str {
        &self.batch_json
    }

    /// The decided proposals, in the batch's order (ascending id).
    #[getter]
    fn proposals(&self, py: Python<'_>) -> Vec<Py<PyEnvelope>> {
        self.proposals.iter().map(|e| e.clone_ref(py)).collect()
    }

    /// Equal when the certificates and the batches are.
    fn __eq__(&self, other: &Bound<'_, PyAny>) -> bool {
        other.cast::<PyDecision>().is_ok_and(|o| {
            let o = o.get();
            o.cert() == self.cert() && o.batch_json == self.batch_json
        })
    }

    fn __hash__(&self) -> u64 {
        let mut h = [0u8; 8];
        h.copy_from_slice(&self.cert().value().as_bytes()[..8]);
        u64::from_le_bytes(h) ^ self.cert().height()
    }

    fn __repr__(&self) -> String {
        format!(
            "Decision(height={}, round={}, value={:?}, proposals={})",
            self.cert().height(),
            self.cert().round(),
            self.cert().value().to_hex(),
            self.proposals.len()
        )
    }
}

/// Two validly signed, conflicting messages from one validator for the same height, round and
/// step: proof that it equivocated, which anyone holding the federation document can check
/// (`verify`). A node reports it on `consensus_events()`; `Evidence(...)` rebuilds one from its
/// parts (received from elsewhere, say) to check it. Immutable.
#[pyclass(frozen, eq, module = "bizra", name = "Evidence")]
#[derive(PartialEq)]
pub(crate) struct PyEvidence {
    inner: Equivocation,
}

#[pymethods]
impl PyEvidence {
    /// Evidence from its parts, as an `Evidence` has them: `validator` (64 lowercase hex),
    /// `height`, `round`, `step` ("proposal", "prevote" or "precommit") and the two messages
    /// `first` and `second` in their wire encoding. Only the form of each part is checked here;
    /// `verify` judges the evidence.
    #[new]
    #[pyo3(signature = (validator, height, round, step, first, second))]
    fn new(
        validator: String,
        height: &Bound<'_, PyAny>,
        round: &Bound<'_, PyAny>,
        step: &str,
        first: &Bound<'_, PyAny>,
        second: &Bound<'_, PyAny>,
    ) -> PyResult<Self> {
        guard(|| {
            let kind = EquivocationKind::ALL
                .into_iter()
                .find(|k| k.name() == step)
                .ok_or_else(|| {
                    invalid(format!(
                        "step must be \"proposal\", \"prevote\" or \"precommit\", got {step:?}"
                    ))
                })?;
            Ok(PyEvidence {
                inner: Equivocation {
                    validator,
                    height: u64_arg(height, "height")?,
                    round: u32_arg(round, "round")?,
                    kind,
                    first: bytes_arg(first, "first")?,
                    second: bytes_arg(second, "second")?,
                },
            })
        })
    }

    /// The validator's key, 64 lowercase hex.
    #[getter]
    fn validator(&self) -> &str {
        &self.inner.validator
    }

    #[getter]
    fn height(&self) -> u64 {
        self.inner.height
    }

    #[getter]
    fn round(&self) -> u32 {
        self.inner.round
    }

    /// The step in which it equivocated: "proposal", "prevote" or "precommit".
    #[getter]
    fn step(&self) -> &'static str {
        self.inner.kind.name()
    }

    /// The message seen first, in its wire encoding (signed by the validator).
    #[getter]
    fn first<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.inner.first)
    }

    /// The conflicting message, in its wire encoding.
    #[getter]
    fn second<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.inner.second)
    }

    /// Checks the evidence against the federation document, offline (no clock, no network),
    /// with the GIL released: both messages decode, are of one step, one validator, one height
    /// and round, sign different contents, say what the evidence's fields say, and carry the
    /// validator's signatures. Raises `EvidenceError` with the first failure's code
    /// (`EVIDENCE_CODES`); returns None for evidence that proves equivocation.
    fn verify(&self, py: Python<'_>, document: &Bound<'_, PyAny>) -> PyResult<()> {
        guard(|| {
            let document = document
                .cast::<PyFederationDocument>()
                .map_err(|_| PyTypeError::new_err("document must be a bizra.FederationDocument"))?;
            let doc = &*document.get().inner;
            py.detach(|| self.inner.verify(doc))
                .map_err(|e| to_py(e.into()))
        })
    }

    fn __repr__(&self) -> String {
        format!(
            "Evidence(validator={:?}, height={}, round={}, step={:?})",
            self.inner.validator,
            self.inner.height,
            self.inner.round,
            self.inner.kind.name()
        )
    }
}

/// A decision or evidence, as the Python object a stream yields.
fn event_to_py(py: Python<'_>, event: ConsensusEvent) -> PyResult<Bound<'_, PyAny>> {
    match event {
        ConsensusEvent::Decided { certificate, batch } => {
            Ok(Bound::new(py, PyDecision::new(py, certificate, &batch)?)?.into_any())
        }
        ConsensusEvent::Evidence(inner) => Ok(Bound::new(py, PyEvidence { inner })?.into_any()),
    }
}

/// What a node's consensus engine has seen and done.
#[pyclass(frozen, get_all, eq, module = "bizra", name = "ConsensusEngineStats")]
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct PyConsensusEngineStats {
    /// Messages received from peers.
    received: u64,
    /// Of those, refused before the consensus core.
    refused: u64,
    /// Signatures the core asked about that did not verify.
    bad_signatures: u64,
    /// Messages broadcast.
    broadcasts: u64,
    /// Write-ahead-log records written.
    persisted: u64,
    /// Heights decided (by this node's votes or by catching up).
    decided: u64,
    /// Proposed batches the gate chain refused (this node prevoted nil on them).
    invalid_proposals: u64,
}

#[pymethods]
impl PyConsensusEngineStats {
    fn __repr__(&self) -> String {
        format!(
            "ConsensusEngineStats(received={}, refused={}, bad_signatures={}, broadcasts={}, \
             persisted={}, decided={}, invalid_proposals={})",
            self.received,
            self.refused,
            self.bad_signatures,
            self.broadcasts,
            self.persisted,
            self.decided,
            self.invalid_proposals
        )
    }
}

/// Where a node's consensus stands (`Node.consensus_status()`): a snapshot.
#[pyclass(frozen, get_all, module = "bizra", name = "ConsensusStatus")]
pub(crate) struct PyConsensusStatus {
    /// The height being decided.
    height: u64,
    /// Its round.
    round: u32,
    /// The highest height decided (and stored).
    decided: u64,
    /// Submitted proposals waiting for a batch.
    pending: usize,
    /// Whether this node votes (its key is a validator of the document).
    validator: bool,
    /// Peers (validators and followers) with an authenticated link.
    linked: usize,
    /// What the engine has seen and done.
    engine: PyConsensusEngineStats,
    /// Frames not sent because a link's queue was full.
    frames_dropped: u64,
    /// Why consensus stopped on this node (its storage failed), if it did: it no longer votes,
    /// since it could not log first.
    failure: Option<String>,
}

impl From<ConsensusStatus> for PyConsensusStatus {
    fn from(s: ConsensusStatus) -> Self {
        let e = s.engine;
        PyConsensusStatus {
            height: s.height,
            round: s.round,
            decided: s.decided,
            pending: s.pending,
            validator: s.validator,
            linked: s.linked,
            engine: PyConsensusEngineStats {
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

#[pymethods]
impl PyConsensusStatus {
    fn __repr__(&self) -> String {
        format!(
            "ConsensusStatus(height={}, round={}, decided={}, pending={}, validator={}, \
             linked={}, failure={:?})",
            self.height,
            self.round,
            self.decided,
            self.pending,
            if self.validator { "True" } else { "False" },
            self.linked,
            self.failure
        )
    }
}

/// A node's consensus events, in order: a `Decision` for each height it decides (by its votes
/// or by catching up) and `Evidence` of any validator seen signing two conflicting messages.
/// Iterating blocks until the next event (with the GIL released; Ctrl-C interrupts it) and ends
/// when the node stops or the stream is closed; `next(timeout=...)` waits at most that long;
/// `async for` reads it from asyncio.
#[pyclass(frozen, module = "bizra", name = "ConsensusEventStream")]
pub(crate) struct PyConsensusEventStream {
    events: Stream<ConsensusEvent>,
}

impl PyConsensusEventStream {
    pub(crate) fn new(events: bizra::Subscription<ConsensusEvent>) -> Self {
        PyConsensusEventStream {
            events: Stream::new(events),
        }
    }
}

#[pymethods]
impl PyConsensusEventStream {
    fn __iter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    fn __next__<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyAny>>> {
        guard(|| {
            self.events
                .next_event(py)?
                .map(|e| event_to_py(py, e))
                .transpose()
        })
    }

    /// The next event, waiting at most `timeout` seconds (a number or a `timedelta`; None: as
    /// long as it takes; 0: only an event already queued); None when the time passes without
    /// one. Raises `StopIteration` once the stream has ended, as `next(stream)` does.
    #[pyo3(signature = (timeout=None))]
    fn next<'py>(
        &self,
        py: Python<'py>,
        timeout: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Option<Bound<'py, PyAny>>> {
        guard(|| {
            self.events
                .next_within(py, timeout)?
                .map(|e| event_to_py(py, e))
                .transpose()
        })
    }

    /// Ends the stream: the iteration stops (within a moment, in a thread that is waiting) and
    /// the node queues no more events for it. Closing twice is harmless.
    fn close(&self, py: Python<'_>) {
        self.events.close(py);
    }

    /// Whether the stream has ended (the node stopped, or `close()` was called).
    #[getter]
    fn closed(&self, py: Python<'_>) -> bool {
        self.events.closed(py)
    }

    /// The stream for `async for` (an `AsyncConsensusEventStream`, fed by a worker thread).
    fn __aiter__<'py>(slf: Bound<'py, Self>) -> PyResult<Bound<'py, PyAny>> {
        let py = slf.py();
        guard(|| {
            py.import("bizra._aio")?
                .getattr("AsyncConsensusEventStream")?
                .call1((slf,))
        })
    }

    fn __enter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    /// Closes the stream at the end of a `with` block; exceptions propagate.
    #[pyo3(signature = (*_exc))]
    fn __exit__(&self, py: Python<'_>, _exc: &Bound<'_, PyTuple>) {
        self.close(py);
    }
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let codes = PyDict::new(m.py());
    for c in CertificateCode::ALL {
        codes.set_item(c.code(), c.name())?;
    }
    m.add("CERTIFICATE_CODES", codes)?;
    let codes = PyDict::new(m.py());
    for c in EvidenceCode::ALL {
        codes.set_item(c.code(), c.name())?;
    }
    m.add("EVIDENCE_CODES", codes)?;
    m.add_class::<PyValidator>()?;
    m.add_class::<PyFederationDocument>()?;
    m.add_class::<PyCertificate>()?;
    m.add_class::<PyDecision>()?;
    m.add_class::<PyEvidence>()?;
    m.add_class::<PyConsensusEngineStats>()?;
    m.add_class::<PyConsensusStatus>()?;
    m.add_class::<PyConsensusEventStream>()?;
    Ok(())
}
