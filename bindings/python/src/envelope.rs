//! `bizra.Envelope`, `bizra.ReplayCache` and `bizra.verify_batch`.

use std::sync::Arc;

use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyString, PyTuple};

use bizra::hash::to_hex;
use bizra::pci::MAX_TTL_SECONDS;
use bizra::{Envelope, EnvelopeOptions, Scores, VerifyOptions};

use crate::constitution::PyConstitution;
use crate::convert::{
    bytes_arg, hash_arg, now_from_py, number_arg, timestamp_from_py, timestamp_to_py, to_py_value,
    to_value,
};
use crate::identity::PyIdentity;
use crate::{guard, internal, invalid, to_py};

/// A signed PCI envelope (spec PCI-v1). Immutable; safe to share between threads.
#[pyclass(frozen, module = "bizra", name = "Envelope")]
pub(crate) struct PyEnvelope {
    pub(crate) inner: Envelope,
}

/// A policy argument: a `Constitution`, 64 hex characters, or 32 bytes.
pub(crate) fn policy_arg(obj: Option<&Bound<'_, PyAny>>) -> PyResult<Option<[u8; 32]>> {
    match obj {
        None => Ok(None),
        Some(o) if o.is_none() => Ok(None),
        Some(o) => match o.cast::<PyConstitution>() {
            Ok(c) => Ok(Some(*c.get().inner.hash())),
            Err(_) => hash_arg(o, "policy").map(Some),
        },
    }
}

fn scores_arg(obj: Option<&Bound<'_, PyAny>>) -> PyResult<Scores> {
    let mut scores = Scores::default();
    let Some(obj) = obj.filter(|o| !o.is_none()) else {
        return Ok(scores);
    };
    let dict = obj.cast::<PyDict>().map_err(|_| {
        PyTypeError::new_err("scores must be a dict such as {\"snr\": 0.9, \"ihsan\": 0.97}")
    })?;
    for (k, v) in dict.iter() {
        let key: String = k
            .extract()
            .map_err(|_| PyTypeError::new_err("scores keys must be str"))?;
        let value = if v.is_none() {
            None
        } else {
            Some(number_arg(&v, &format!("scores[{key:?}]"))?)
        };
        match key.as_str() {
            "snr" => scores.snr = value,
            "ihsan" => scores.ihsan = value,
            other => {
                return Err(invalid(format!(
                    "scores: unknown key {other:?} (only \"snr\" and \"ihsan\")"
                )))
            }
        }
    }
    Ok(scores)
}

/// A provenance argument: an iterable of envelope ids (`str`) or `Envelope`s, which stand for
/// their ids (as the core's `derived_from`), so a caller can pass the envelopes it answers.
pub(crate) fn provenance_arg(obj: &Bound<'_, PyAny>) -> PyResult<Vec<String>> {
    if obj.is_instance_of::<PyString>() {
        return Err(PyTypeError::new_err(
            "provenance must be a sequence of envelope ids or Envelopes, not a single str",
        ));
    }
    let mut out = Vec::new();
    for (i, item) in obj
        .try_iter()
        .map_err(|_| {
            PyTypeError::new_err("provenance must be a sequence of envelope ids or Envelopes")
        })?
        .enumerate()
    {
        let item = item?;
        let id = match item.cast::<PyEnvelope>() {
            Ok(env) => env.get().inner.id().to_owned(),
            Err(_) => item.extract::<String>().map_err(|_| {
                PyTypeError::new_err(format!(
                    "provenance[{i}] must be a str envelope id or an Envelope"
                ))
            })?,
        };
        out.push(id);
    }
    Ok(out)
}

/// A ttl argument: an int (not a bool); out-of-range values are the core's to refuse (with its
/// message), values beyond i64 an `InvalidInputError` in the same words rather than an
/// `OverflowError`.
pub(crate) struct Ttl(pub(crate) i64);

impl<'a, 'py> FromPyObject<'a, 'py> for Ttl {
    type Error = PyErr;
    fn extract(obj: Borrowed<'a, 'py, PyAny>) -> PyResult<Self> {
        if obj.is_instance_of::<pyo3::types::PyBool>()
            || !obj.is_instance_of::<pyo3::types::PyInt>()
        {
            return Err(PyTypeError::new_err("ttl must be an int (seconds)"));
        }
        obj.extract::<i64>().map(Ttl).map_err(|_| {
            let value = obj
                .str()
                .map(|s| s.to_string())
                .unwrap_or_else(|_| "an int beyond 64 bits".into());
            invalid(format!(
                "ttl must be between 1 and {MAX_TTL_SECONDS} seconds, got {value}"
            ))
        })
    }
}

/// The verification options of `verify` and `verify_batch` (and `Store.learn`, `Store.import_jsonl`).
pub(crate) fn options<'a>(
    now: Option<&Bound<'_, PyAny>>,
    policy: Option<&Bound<'_, PyAny>>,
    replay: Option<&'a PyReplayCache>,
) -> PyResult<VerifyOptions<'a>> {
    let mut opts = VerifyOptions::default();
    if let Some(t) = now_from_py(now)? {
        opts = opts.at(t);
    }
    if let Some(p) = policy_arg(policy)? {
        opts = opts.policy(p);
    }
    if let Some(r) = replay {
        opts = opts.replay(&r.inner);
    }
    Ok(opts)
}

#[pymethods]
impl PyEnvelope {
    /// Signs `payload` (any JSON-able value) as a new envelope.
    ///
    /// `ttl` is the lifetime in seconds, between 1 and `MAX_TTL_SECONDS` (default:
    /// `DEFAULT_TTL_SECONDS`). `provenance` lists the envelopes this one derives from, as ids or
    /// Envelopes. `scores` is a dict with optional "snr" and "ihsan" in [0, 1]; `policy` a
    /// Constitution, its 64-hex hash or 32 bytes (default: the default constitution's hash). `id`
    /// and `timestamp` (an aware datetime) are for idempotent retries and reproducible vectors;
    /// by default a random id and the current time. Every default is the core's: the arguments
    /// fill a `bizra::EnvelopeOptions` and the core signs with `Envelope::create_with`.
    #[staticmethod]
    #[pyo3(signature = (identity, payload, *, ttl=None, provenance=None, scores=None, policy=None, id=None, timestamp=None))]
    #[allow(clippy::too_many_arguments)]
    fn create(
        py: Python<'_>,
        identity: &Bound<'_, PyAny>,
        payload: &Bound<'_, PyAny>,
        ttl: Option<Ttl>,
        provenance: Option<&Bound<'_, PyAny>>,
        scores: Option<&Bound<'_, PyAny>>,
        policy: Option<&Bound<'_, PyAny>>,
        id: Option<String>,
        timestamp: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Self> {
        guard(|| {
            let identity = identity
                .cast::<PyIdentity>()
                .map_err(|_| PyTypeError::new_err("identity must be a bizra.Identity"))?;
            let value = to_value(payload, "payload")?;
            let options = EnvelopeOptions {
                ttl: ttl.map(|t| t.0),
                provenance: match provenance.filter(|p| !p.is_none()) {
                    Some(p) => provenance_arg(p)?,
                    None => Vec::new(),
                },
                scores: scores_arg(scores)?,
                policy: policy_arg(policy)?,
                timestamp: match timestamp.filter(|t| !t.is_none()) {
                    Some(t) => Some(timestamp_from_py(t, "timestamp")?),
                    None => None,
                },
                id,
            };
            let signer = &identity.get().inner;
            let inner = py
                .detach(|| Envelope::create_with(signer, value, options))
                .map_err(to_py)?;
            Ok(Self { inner })
        })
    }

    /// Parses envelope text (str, or UTF-8 bytes). Malformed input raises `RejectError` with
    /// code 1 (SCHEMA) or 2 (MISSING_FIELD).
    #[staticmethod]
    fn parse(py: Python<'_>, text: &Bound<'_, PyAny>) -> PyResult<Self> {
        guard(|| {
            let inner = with_text(py, text, |t| match t {
                Text::Str(s) => Envelope::parse(s),
                Text::Bytes(b) => Envelope::parse_bytes(b),
            })?;
            Ok(Self { inner })
        })
    }

    /// Parses and verifies envelope text (str, or UTF-8 bytes) in one call and returns the
    /// verified envelope: `Envelope.parse(text)` then `.verify(now=, policy=, replay=)`, the first
    /// failure raising its `RejectError` (as PyNaCl's `verify` returns the message).
    #[staticmethod]
    #[pyo3(signature = (text, *, now=None, policy=None, replay=None))]
    fn open(
        py: Python<'_>,
        text: &Bound<'_, PyAny>,
        now: Option<&Bound<'_, PyAny>>,
        policy: Option<&Bound<'_, PyAny>>,
        replay: Option<&Bound<'_, PyReplayCache>>,
    ) -> PyResult<Self> {
        guard(|| {
            let opts = options(now, policy, replay.map(|r| r.get()))?;
            let inner = with_text(py, text, |t| match t {
                Text::Str(s) => Envelope::open(s, &opts),
                Text::Bytes(b) => Envelope::parse_bytes(b).and_then(|e| {
                    e.verify(&opts)?;
                    Ok(e)
                }),
            })?;
            Ok(Self { inner })
        })
    }

    /// Verifies steps 2–9 of the spec; returns None or raises `RejectError`.
    ///
    /// `now`: an aware datetime (default: the system clock; a naive datetime is a ValueError).
    /// `policy`: the constitution (or its hash) the envelope must name. `replay`: a ReplayCache
    /// that refuses ids already admitted and records this one.
    #[pyo3(signature = (*, now=None, policy=None, replay=None))]
    fn verify(
        &self,
        py: Python<'_>,
        now: Option<&Bound<'_, PyAny>>,
        policy: Option<&Bound<'_, PyAny>>,
        replay: Option<&Bound<'_, PyReplayCache>>,
    ) -> PyResult<()> {
        guard(|| {
            let opts = options(now, policy, replay.map(|r| r.get()))?;
            let inner = &self.inner;
            py.detach(|| inner.verify(&opts)).map_err(to_py)
        })
    }

    /// The envelope as canonical (JCS) JSON text.
    fn to_json(&self, py: Python<'_>) -> PyResult<String> {
        guard(|| {
            let inner = &self.inner;
            Ok(py.detach(|| inner.to_json()))
        })
    }

    /// The canonical header (the envelope without payload and signature): the signed bytes.
    fn header_json(&self) -> PyResult<String> {
        guard(|| Ok(self.inner.header_json()))
    }

    /// The envelope as a dict (a fresh copy).
    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        guard(|| {
            let text = self.inner.to_json();
            let value =
                bizra::canonical::parse(&text).map_err(|e| internal(format!("envelope: {e}")))?;
            to_py_value(py, &value)
        })
    }

    #[getter]
    fn version(&self) -> &'static str {
        self.inner.version()
    }
    #[getter]
    fn id(&self) -> &str {
        self.inner.id()
    }
    #[getter]
    fn sender(&self) -> &str {
        self.inner.sender()
    }
    /// The sender's public key as 64 lowercase hex characters.
    #[getter]
    fn public_key(&self) -> String {
        to_hex(self.inner.public_key())
    }
    /// Creation time, an aware UTC datetime.
    #[getter]
    fn timestamp<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        guard(|| timestamp_to_py(py, self.inner.timestamp()))
    }
    /// `timestamp + ttl`, the last instant the envelope is valid.
    #[getter]
    fn expires_at<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        guard(|| timestamp_to_py(py, self.inner.expires_at()))
    }
    #[getter]
    fn ttl(&self) -> i64 {
        self.inner.ttl()
    }
    #[getter]
    fn content_hash(&self) -> String {
        to_hex(self.inner.content_hash())
    }
    #[getter]
    fn provenance<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        PyList::new(py, self.inner.provenance())
    }
    /// The asserted scores: a dict holding "snr" and/or "ihsan" where present.
    #[getter]
    fn scores<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let d = PyDict::new(py);
        let s = self.inner.scores();
        if let Some(v) = s.snr {
            d.set_item("snr", v)?;
        }
        if let Some(v) = s.ihsan {
            d.set_item("ihsan", v)?;
        }
        Ok(d)
    }
    #[getter]
    fn policy(&self) -> String {
        to_hex(self.inner.policy())
    }
    /// The payload as fresh Python objects.
    #[getter]
    fn payload<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        guard(|| to_py_value(py, self.inner.payload()))
    }
    #[getter]
    fn signature(&self) -> String {
        to_hex(self.inner.signature())
    }

    fn __eq__(&self, other: &Bound<'_, PyAny>) -> bool {
        other
            .cast::<PyEnvelope>()
            .is_ok_and(|o| o.get().inner == self.inner)
    }

    fn __hash__(&self) -> u64 {
        let sig = self.inner.signature();
        let mut h = [0u8; 8];
        h.copy_from_slice(&sig[..8]);
        u64::from_le_bytes(h)
    }

    fn __repr__(&self) -> String {
        format!(
            "Envelope(id={:?}, sender={:?}, timestamp={:?})",
            self.inner.id(),
            self.inner.sender(),
            self.inner.timestamp().to_string()
        )
    }

    fn __str__(&self) -> String {
        self.inner.to_json()
    }

    /// Pickles as its canonical text.
    fn __reduce__<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyTuple>> {
        let py = slf.py();
        let parse = py.get_type::<PyEnvelope>().getattr("parse")?;
        let args = PyTuple::new(py, [slf.get().inner.to_json()])?;
        PyTuple::new(py, [parse, args.into_any()])
    }
}

/// Envelope text as the core takes it.
enum Text<'a> {
    Str(&'a str),
    Bytes(&'a [u8]),
}

/// Runs `f` on envelope text given as a `str` or bytes-like object, with the GIL released. A
/// `str` holding a lone surrogate is malformed text (SCHEMA), as undecodable bytes are.
fn with_text<T: Send>(
    py: Python<'_>,
    text: &Bound<'_, PyAny>,
    f: impl FnOnce(Text<'_>) -> bizra::Result<T> + Send,
) -> PyResult<T> {
    if let Ok(s) = text.cast::<PyString>() {
        let s = s.to_str().map_err(|_| {
            to_py(bizra::Error::reject(
                bizra::RejectCode::Schema,
                "envelope text holds a lone surrogate (not UTF-8)",
            ))
        })?;
        py.detach(|| f(Text::Str(s))).map_err(to_py)
    } else {
        let b = bytes_arg(text, "text")?;
        py.detach(|| f(Text::Bytes(&b))).map_err(to_py)
    }
}

/// Remembers admitted envelope ids until their envelopes expire. Thread-safe. When full of
/// still-valid ids, new ids are refused with QUOTA (40, retryable); live ids are never evicted.
#[pyclass(frozen, module = "bizra", name = "ReplayCache")]
pub(crate) struct PyReplayCache {
    pub(crate) inner: Arc<bizra::ReplayCache>,
}

#[pymethods]
impl PyReplayCache {
    /// A cache of at most `capacity` live ids (default: `DEFAULT_REPLAY_CAPACITY`); a capacity
    /// of 0 is refused (`InvalidInputError`), as in every binding.
    #[new]
    #[pyo3(signature = (capacity=None))]
    fn new(capacity: Option<usize>) -> PyResult<Self> {
        guard(|| {
            let cache = match capacity {
                Some(n) => bizra::ReplayCache::new(n).map_err(to_py)?,
                None => bizra::ReplayCache::default(),
            };
            Ok(Self {
                inner: Arc::new(cache),
            })
        })
    }
    /// The most ids held at once.
    #[getter]
    fn capacity(&self) -> usize {
        self.inner.capacity()
    }
    fn __len__(&self) -> usize {
        self.inner.len()
    }
    /// Whether `id` was admitted and its envelope is still valid at `now` (default: the clock).
    #[pyo3(signature = (id, now=None))]
    fn contains(&self, id: &str, now: Option<&Bound<'_, PyAny>>) -> PyResult<bool> {
        guard(|| {
            let now = now_from_py(now)?.unwrap_or_else(bizra::Timestamp::now);
            Ok(self.inner.contains(id, now))
        })
    }
    fn __contains__(&self, id: &str) -> bool {
        self.inner.contains(id, bizra::Timestamp::now())
    }
    /// Drops the ids whose envelopes have expired at `now` (default: the clock).
    #[pyo3(signature = (now=None))]
    fn purge_expired(&self, now: Option<&Bound<'_, PyAny>>) -> PyResult<()> {
        guard(|| {
            let now = now_from_py(now)?.unwrap_or_else(bizra::Timestamp::now);
            self.inner.purge_expired(now);
            Ok(())
        })
    }
    fn __repr__(&self) -> String {
        format!(
            "ReplayCache(capacity={}, len={})",
            self.inner.capacity(),
            self.inner.len()
        )
    }
}

/// Verifies many envelopes (on all cores, GIL released): one reject code per envelope, in order,
/// 0 for valid, each exactly what `Envelope.verify` gives. With a replay cache, the first of two
/// envelopes sharing an id is admitted and the second is a replay (12).
#[pyfunction]
#[pyo3(signature = (envelopes, now=None, *, policy=None, replay=None))]
fn verify_batch(
    py: Python<'_>,
    envelopes: &Bound<'_, PyAny>,
    now: Option<&Bound<'_, PyAny>>,
    policy: Option<&Bound<'_, PyAny>>,
    replay: Option<&Bound<'_, PyReplayCache>>,
) -> PyResult<Vec<u32>> {
    guard(|| {
        // The Python objects are held here while the core reads their envelopes by reference:
        // nothing is copied.
        let mut held = Vec::new();
        for (i, item) in envelopes
            .try_iter()
            .map_err(|_| PyTypeError::new_err("envelopes must be an iterable of bizra.Envelope"))?
            .enumerate()
        {
            let item = item?;
            let env = item.cast_into::<PyEnvelope>().map_err(|_| {
                PyTypeError::new_err(format!("envelopes[{i}] is not a bizra.Envelope"))
            })?;
            held.push(env);
        }
        let batch: Vec<&Envelope> = held.iter().map(|e| &e.get().inner).collect();
        let opts = options(now, policy, replay.map(|r| r.get()))?;
        let results = py.detach(|| bizra::verify_batch(&batch, &opts));
        Ok(results
            .into_iter()
            .map(|r| match r {
                Ok(()) => 0,
                Err(e) => e
                    .reject_code()
                    .unwrap_or(bizra::RejectCode::Internal)
                    .code(),
            })
            .collect())
    })
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyEnvelope>()?;
    m.add_class::<PyReplayCache>()?;
    m.add_function(wrap_pyfunction!(verify_batch, m)?)?;
    Ok(())
}
