//! `bizra.Store`: the core's autopoiesis store (a node's memory of patterns and preferences in
//! one SQLite file), with its records `Pattern`, `Recalled`, `Preference`, `Learned` and
//! `ImportReport`. Learning, recall, feedback, elevation, preferences and exchange are the
//! core's; this file converts types only. Database and embedding work runs with the GIL
//! released, so other Python threads go on while a file opens (which may rebuild the index) or a
//! model embeds.

use std::path::PathBuf;
use std::sync::{Arc, RwLock};

use pyo3::prelude::*;
use pyo3::types::PyTuple;

use bizra::autopoiesis::{
    Elevation, ElevationPolicy, ImportReport, Learned, Pattern, Preference, RecallOptions,
    Recalled, Store,
};

use crate::consensus::{PyCertificate, PyFederationDocument};
use crate::convert::millis_to_py;
use crate::envelope::{options, PyEnvelope, PyReplayCache};
use crate::identity::PyIdentity;
use crate::inference::PyModel;
use crate::{guard, internal, invalid, to_py};

/// A learned pattern, as the store holds it (a snapshot: later feedback does not change it).
#[pyclass(frozen, module = "bizra", name = "Pattern")]
pub(crate) struct PyPattern {
    inner: Pattern,
}

#[pymethods]
impl PyPattern {
    /// Its id in this store.
    #[getter]
    fn id(&self) -> i64 {
        self.inner.id
    }

    /// The text.
    #[getter]
    fn content(&self) -> &str {
        &self.inner.content
    }

    /// BLAKE3 of the text as 64 lowercase hex: what makes two learnings the same pattern.
    #[getter]
    fn content_blake3(&self) -> String {
        bizra::hash::to_hex(&self.inner.content_hash)
    }

    /// The embedding, L2-normalised by the store.
    #[getter]
    fn embedding(&self) -> Vec<f32> {
        self.inner.embedding.clone()
    }

    /// Labels, in the order first given, without repeats.
    #[getter]
    fn tags(&self) -> Vec<String> {
        self.inner.tags.clone()
    }

    /// The node id of the envelope's signer.
    #[getter]
    fn source_node(&self) -> &str {
        &self.inner.source_node
    }

    /// The envelope that introduced the pattern (verified when it was learned).
    #[getter]
    fn envelope(&self) -> PyResult<PyEnvelope> {
        guard(|| {
            let inner = bizra::Envelope::parse(&self.inner.envelope).map_err(to_py)?;
            Ok(PyEnvelope { inner })
        })
    }

    /// That envelope's id.
    #[getter]
    fn envelope_id(&self) -> &str {
        &self.inner.envelope_id
    }

    /// Confidence in [0, 1]: 0.5 when learned, +0.05 per positive and −0.03 per negative
    /// feedback.
    #[getter]
    fn confidence(&self) -> f64 {
        self.inner.confidence
    }

    /// How many distinct envelopes carried this content.
    #[getter]
    fn observations(&self) -> u64 {
        self.inner.observations
    }

    /// Positive feedback counted.
    #[getter]
    fn positive(&self) -> u64 {
        self.inner.positive
    }

    /// Negative feedback counted.
    #[getter]
    fn negative(&self) -> u64 {
        self.inner.negative
    }

    /// When it was first learned (an aware UTC `datetime`).
    #[getter]
    fn created<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        millis_to_py(py, self.inner.created_ms)
    }

    /// When it last changed (an aware UTC `datetime`).
    #[getter]
    fn updated<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        millis_to_py(py, self.inner.updated_ms)
    }

    /// `"none"`, `"local"` (elevated by this node alone) or `"certified"` (by a federation).
    #[getter]
    fn elevation(&self) -> &'static str {
        match self.inner.elevation {
            Elevation::None => "none",
            Elevation::Local => "local",
            Elevation::Certified { .. } => "certified",
        }
    }

    /// The consensus height that certified it, or `None`.
    #[getter]
    fn height(&self) -> Option<u64> {
        match self.inner.elevation {
            Elevation::Certified { height, .. } => Some(height),
            _ => None,
        }
    }

    /// The commit certificate that certified it (verify it with `Certificate.verify`), or
    /// `None`.
    #[getter]
    fn certificate(&self) -> PyResult<Option<PyCertificate>> {
        guard(|| match &self.inner.elevation {
            Elevation::Certified { certificate, .. } => {
                let inner = bizra::consensus::Certificate::from_json(certificate)
                    .map_err(|e| to_py(e.into()))?;
                Ok(Some(PyCertificate { inner }))
            }
            _ => Ok(None),
        })
    }

    fn __repr__(&self) -> String {
        let p = &self.inner;
        format!(
            "Pattern(id={}, content={:?}, confidence={}, observations={}, elevation={:?})",
            p.id,
            p.content,
            p.confidence,
            p.observations,
            self.elevation()
        )
    }
}

/// A pattern found by `Store.recall`, with its cosine similarity to the query.
#[pyclass(frozen, get_all, module = "bizra", name = "Recalled")]
pub(crate) struct PyRecalled {
    pattern: Py<PyPattern>,
    similarity: f32,
}

impl PyRecalled {
    fn new(py: Python<'_>, r: Recalled) -> PyResult<Self> {
        Ok(Self {
            pattern: Py::new(py, PyPattern { inner: r.pattern })?,
            similarity: r.similarity,
        })
    }
}

#[pymethods]
impl PyRecalled {
    fn __repr__(&self) -> String {
        format!(
            "Recalled(similarity={}, pattern={})",
            self.similarity,
            self.pattern.get().__repr__()
        )
    }
}

/// A learned preference: one value of (`kind`, `key`) and the confidence in it.
#[pyclass(frozen, module = "bizra", name = "Preference")]
pub(crate) struct PyPreference {
    inner: Preference,
}

#[pymethods]
impl PyPreference {
    /// What it is about (`"style"`, `"format"`, ...).
    #[getter]
    fn kind(&self) -> &str {
        &self.inner.kind
    }

    /// Which preference of that kind (`"tone"`, ...).
    #[getter]
    fn key(&self) -> &str {
        &self.inner.key
    }

    /// The preferred value.
    #[getter]
    fn value(&self) -> &str {
        &self.inner.value
    }

    /// Confidence in [0, 1]: 0.5 at first, reinforced by each repeat.
    #[getter]
    fn confidence(&self) -> f64 {
        self.inner.confidence
    }

    /// How many times this value was observed.
    #[getter]
    fn observations(&self) -> u64 {
        self.inner.observations
    }

    /// Whether it shapes prompts (confidence at or above the core's threshold, 0.7).
    #[getter]
    fn active(&self) -> bool {
        self.inner.is_active()
    }

    /// When it was first observed (an aware UTC `datetime`).
    #[getter]
    fn created<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        millis_to_py(py, self.inner.created_ms)
    }

    /// When it was last observed (an aware UTC `datetime`).
    #[getter]
    fn updated<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        millis_to_py(py, self.inner.updated_ms)
    }

    fn __repr__(&self) -> String {
        let p = &self.inner;
        format!(
            "Preference(kind={:?}, key={:?}, value={:?}, confidence={}, active={})",
            p.kind,
            p.key,
            p.value,
            p.confidence,
            if p.is_active() { "True" } else { "False" }
        )
    }
}

/// What `Store.learn` did: `outcome` is `"new"` (a pattern added), `"observed"` (the content
/// was held: one more observation) or `"already_known"` (this very envelope was learned before:
/// nothing changed).
#[pyclass(frozen, get_all, eq, module = "bizra", name = "Learned")]
#[derive(PartialEq)]
pub(crate) struct PyLearned {
    id: i64,
    outcome: &'static str,
}

impl From<Learned> for PyLearned {
    fn from(l: Learned) -> Self {
        let outcome = match l {
            Learned::New(_) => "new",
            Learned::Observed(_) => "observed",
            Learned::AlreadyKnown(_) => "already_known",
        };
        Self {
            id: l.id(),
            outcome,
        }
    }
}

#[pymethods]
impl PyLearned {
    fn __repr__(&self) -> String {
        format!("Learned(id={}, outcome={:?})", self.id, self.outcome)
    }
}

/// What `Store.import_jsonl` did: lines read (blank ones not counted), patterns added, lines
/// whose content was held (one more observation each), lines learned before (nothing changed).
#[pyclass(frozen, get_all, eq, module = "bizra", name = "ImportReport")]
#[derive(PartialEq)]
pub(crate) struct PyImportReport {
    lines: usize,
    new: usize,
    observed: usize,
    already_known: usize,
}

impl From<ImportReport> for PyImportReport {
    fn from(r: ImportReport) -> Self {
        Self {
            lines: r.lines,
            new: r.new,
            observed: r.observed,
            already_known: r.already_known,
        }
    }
}

#[pymethods]
impl PyImportReport {
    fn __repr__(&self) -> String {
        format!(
            "ImportReport(lines={}, new={}, observed={}, already_known={})",
            self.lines, self.new, self.observed, self.already_known
        )
    }
}

/// A node's memory: patterns learned from verified envelopes, recalled by meaning, moved by
/// feedback, elevated; and preferences. `Store(path)` or `Store.open(path)` opens (creating it
/// if absent) a SQLite file; `Store.in_memory()` keeps everything in memory. Thread-safe; a
/// context manager (closing saves a file store's vector index, so the next open loads it
/// instead of rebuilding it).
#[pyclass(frozen, module = "bizra", name = "Store")]
pub(crate) struct PyStore {
    /// `None` once closed.
    inner: RwLock<Option<Arc<Store>>>,
}

impl PyStore {
    fn wrap(store: Store) -> Self {
        Self {
            inner: RwLock::new(Some(Arc::new(store))),
        }
    }

    fn open_file(py: Python<'_>, path: PathBuf) -> PyResult<Self> {
        let store = py.detach(|| Store::open(&path)).map_err(to_py)?;
        Ok(Self::wrap(store))
    }

    /// The store, shared so that work with the GIL released keeps it alive through a concurrent
    /// `close`.
    fn store(&self) -> PyResult<Arc<Store>> {
        self.inner
            .read()
            .map_err(|_| internal("store lock poisoned"))?
            .clone()
            .ok_or_else(|| invalid("the store is closed (Store.close() was called)"))
    }
}

fn patterns(py: Python<'_>, all: Vec<Pattern>) -> PyResult<Vec<Py<PyPattern>>> {
    all.into_iter()
        .map(|inner| Py::new(py, PyPattern { inner }))
        .collect()
}

#[pymethods]
impl PyStore {
    /// Opens the store in the SQLite file at `path` (the same as `Store.open`), for
    /// `with bizra.Store(path) as store:`.
    #[new]
    fn new(py: Python<'_>, path: PathBuf) -> PyResult<Self> {
        guard(|| Self::open_file(py, path))
    }

    /// Opens (creating it if absent) the store in the SQLite file at `path`. A file that is not
    /// a store, is damaged, or was written by a newer version raises `FileSystemError` and is
    /// left untouched.
    #[staticmethod]
    fn open(py: Python<'_>, path: PathBuf) -> PyResult<Self> {
        guard(|| Self::open_file(py, path))
    }

    /// A store in memory, gone when closed or collected.
    #[staticmethod]
    fn in_memory() -> PyResult<Self> {
        guard(|| Ok(Self::wrap(Store::in_memory().map_err(to_py)?)))
    }

    /// The database file (`":memory:"` for a store in memory).
    #[getter]
    fn path(&self) -> PyResult<String> {
        guard(|| Ok(self.store()?.path().display().to_string()))
    }

    /// The embedding dimension, fixed by the first pattern (`None` before).
    #[getter]
    fn dimension(&self) -> PyResult<Option<usize>> {
        guard(|| Ok(self.store()?.dimension()))
    }

    fn __len__(&self) -> PyResult<usize> {
        guard(|| self.store()?.len().map_err(to_py))
    }

    /// Learns from a signed output: verifies `envelope` (`now`, `policy`, `replay` as in
    /// `Envelope.verify`), takes its content and stores it with `embedding`, or with `model`'s
    /// embedding of the content (computed only once the envelope has verified).
    #[pyo3(signature = (envelope, embedding=None, *, model=None, tags=Vec::new(), now=None, policy=None, replay=None))]
    #[allow(clippy::too_many_arguments)]
    fn learn(
        &self,
        py: Python<'_>,
        envelope: PyRef<'_, PyEnvelope>,
        embedding: Option<Vec<f32>>,
        model: Option<PyRef<'_, PyModel>>,
        tags: Vec<String>,
        now: Option<&Bound<'_, PyAny>>,
        policy: Option<&Bound<'_, PyAny>>,
        replay: Option<&Bound<'_, PyReplayCache>>,
    ) -> PyResult<PyLearned> {
        guard(|| {
            let store = self.store()?;
            let opts = options(now, policy, replay.map(|r| r.get()))?;
            let tags: Vec<&str> = tags.iter().map(String::as_str).collect();
            let env = &envelope.inner;
            let learned = match (embedding, model) {
                (Some(v), None) => py.detach(|| store.learn(env, &v, &tags, &opts)),
                (None, Some(m)) => {
                    let engine = m.engine()?;
                    py.detach(|| store.learn_embedded(env, &engine, &tags, &opts))
                }
                (None, None) => {
                    return Err(invalid(
                        "give the embedding, or the model that embeds the content",
                    ))
                }
                (Some(_), Some(_)) => {
                    return Err(invalid(
                        "give the embedding or the model that embeds the content, not both",
                    ))
                }
            }
            .map_err(to_py)?;
            Ok(learned.into())
        })
    }

    /// The patterns nearest `query` (a sequence of floats, or a text embedded by `model`): at
    /// most `k`, each at or above `threshold` (cosine similarity), highest first.
    #[pyo3(signature = (query, *, model=None, k=10, threshold=0.5))]
    fn recall(
        &self,
        py: Python<'_>,
        query: &Bound<'_, PyAny>,
        model: Option<PyRef<'_, PyModel>>,
        k: usize,
        threshold: f32,
    ) -> PyResult<Vec<PyRecalled>> {
        guard(|| {
            let store = self.store()?;
            let opts = RecallOptions { k, threshold };
            let hits = if let Ok(text) = query.extract::<String>() {
                let engine = model
                    .ok_or_else(|| invalid("recalling by text needs the model that embeds it"))?
                    .engine()?;
                py.detach(|| store.recall_text(&engine, &text, opts))
            } else {
                if model.is_some() {
                    return Err(invalid(
                        "model embeds a text query; this query is a vector already",
                    ));
                }
                let v: Vec<f32> = query
                    .extract()
                    .map_err(|_| invalid("query must be a text or a sequence of floats"))?;
                py.detach(|| store.recall(&v, opts))
            }
            .map_err(to_py)?;
            hits.into_iter().map(|h| PyRecalled::new(py, h)).collect()
        })
    }

    /// Records feedback on pattern `id` (+0.05 to its confidence if `positive`, −0.03 if not,
    /// clamped to [0, 1]) and returns the pattern as it is now. An unknown id raises
    /// `InvalidInputError`.
    fn feedback(&self, py: Python<'_>, id: i64, positive: bool) -> PyResult<PyPattern> {
        guard(|| {
            let store = self.store()?;
            let inner = py.detach(|| store.feedback(id, positive)).map_err(to_py)?;
            Ok(PyPattern { inner })
        })
    }

    /// Pattern `id`, or `None`.
    fn get(&self, py: Python<'_>, id: i64) -> PyResult<Option<PyPattern>> {
        guard(|| {
            let store = self.store()?;
            let p = py.detach(|| store.get(id)).map_err(to_py)?;
            Ok(p.map(|inner| PyPattern { inner }))
        })
    }

    /// Every pattern, by id.
    fn patterns(&self, py: Python<'_>) -> PyResult<Vec<Py<PyPattern>>> {
        guard(|| {
            let store = self.store()?;
            let all = py.detach(|| store.list()).map_err(to_py)?;
            patterns(py, all)
        })
    }

    /// Removes pattern `id`; whether it was there.
    fn remove(&self, py: Python<'_>, id: i64) -> PyResult<bool> {
        guard(|| {
            let store = self.store()?;
            py.detach(|| store.remove(id)).map_err(to_py)
        })
    }

    /// Every elevated pattern (locally, or certified by a federation), by id.
    fn elevated(&self, py: Python<'_>) -> PyResult<Vec<Py<PyPattern>>> {
        guard(|| {
            let store = self.store()?;
            let all = py.detach(|| store.elevated()).map_err(to_py)?;
            patterns(py, all)
        })
    }

    /// Elevates locally (no federation to certify them) the patterns with at least `threshold`
    /// confidence and `min_observations` observations (the core's defaults: 0.95 and 3); returns
    /// their ids.
    #[pyo3(signature = (*, threshold=None, min_observations=None))]
    fn elevate_local(
        &self,
        py: Python<'_>,
        threshold: Option<f64>,
        min_observations: Option<u64>,
    ) -> PyResult<Vec<i64>> {
        guard(|| {
            let store = self.store()?;
            let mut policy = ElevationPolicy::default();
            if let Some(t) = threshold {
                policy.threshold = t;
            }
            if let Some(n) = min_observations {
                policy.min_observations = n;
            }
            py.detach(|| store.elevate_local(&policy)).map_err(to_py)
        })
    }

    /// Checks again, offline, that pattern `id` was certified by the federation of `document`
    /// (its certificate, and the decided batch that carried it); raises the refusal otherwise.
    fn verify_elevation(
        &self,
        py: Python<'_>,
        id: i64,
        document: &Bound<'_, PyFederationDocument>,
    ) -> PyResult<()> {
        guard(|| {
            let store = self.store()?;
            let doc = &*document.get().inner;
            py.detach(|| store.verify_elevation(id, doc)).map_err(to_py)
        })
    }

    /// Observes that the user prefers `value` for (`kind`, `key`); returns that value's
    /// preference (confidence 0.5 at first, reinforced by each repeat, active from 0.7).
    fn observe_preference(
        &self,
        py: Python<'_>,
        kind: &str,
        key: &str,
        value: &str,
    ) -> PyResult<PyPreference> {
        guard(|| {
            let store = self.store()?;
            let inner = py
                .detach(|| store.preferences().observe(kind, key, value))
                .map_err(to_py)?;
            Ok(PyPreference { inner })
        })
    }

    /// The active value of (`kind`, `key`) (the most confident at or above 0.7), or `None` when
    /// no value is active yet.
    fn preference(&self, py: Python<'_>, kind: &str, key: &str) -> PyResult<Option<PyPreference>> {
        guard(|| {
            let store = self.store()?;
            let p = py
                .detach(|| store.preferences().get(kind, key))
                .map_err(to_py)?;
            Ok(p.map(|inner| PyPreference { inner }))
        })
    }

    /// Every observed value of every preference, active or not, by kind and key, the most
    /// confident first.
    fn preferences(&self, py: Python<'_>) -> PyResult<Vec<PyPreference>> {
        guard(|| {
            let store = self.store()?;
            let all = py.detach(|| store.preferences().all()).map_err(to_py)?;
            Ok(all
                .into_iter()
                .map(|inner| PyPreference { inner })
                .collect())
        })
    }

    /// The active preferences, one per (kind, key).
    fn active_preferences(&self, py: Python<'_>) -> PyResult<Vec<PyPreference>> {
        guard(|| {
            let store = self.store()?;
            let active = py.detach(|| store.preferences().active()).map_err(to_py)?;
            Ok(active
                .into_iter()
                .map(|inner| PyPreference { inner })
                .collect())
        })
    }

    /// `system_prompt` followed by the active preferences, as a gateway shaped by this store
    /// sends it.
    #[pyo3(signature = (system_prompt=None))]
    fn apply_preferences(&self, py: Python<'_>, system_prompt: Option<&str>) -> PyResult<String> {
        guard(|| {
            let store = self.store()?;
            py.detach(|| store.preferences().apply(system_prompt))
                .map_err(to_py)
        })
    }

    /// Every pattern as JSON Lines of `bizra.pattern` envelopes signed by `identity`.
    fn export_jsonl(&self, py: Python<'_>, identity: PyRef<'_, PyIdentity>) -> PyResult<String> {
        guard(|| {
            let store = self.store()?;
            let id = &identity.inner;
            let mut out = Vec::new();
            py.detach(|| store.export_jsonl(&mut out, id))
                .map_err(to_py)?;
            String::from_utf8(out).map_err(|e| internal(format!("export is not UTF-8: {e}")))
        })
    }

    /// Imports JSON Lines (str or bytes, as `export_jsonl` writes them), verifying every line:
    /// all lines or none. A line that does not verify raises its error (a `RejectError` keeps the
    /// reject code), naming the line.
    #[pyo3(signature = (data, *, now=None, policy=None, replay=None))]
    fn import_jsonl(
        &self,
        py: Python<'_>,
        data: &Bound<'_, PyAny>,
        now: Option<&Bound<'_, PyAny>>,
        policy: Option<&Bound<'_, PyAny>>,
        replay: Option<&Bound<'_, PyReplayCache>>,
    ) -> PyResult<PyImportReport> {
        guard(|| {
            let store = self.store()?;
            let bytes: Vec<u8> = match data.extract::<String>() {
                Ok(s) => s.into_bytes(),
                Err(_) => data
                    .extract()
                    .map_err(|_| invalid("data must be str or bytes"))?,
            };
            let opts = options(now, policy, replay.map(|r| r.get()))?;
            let report = py
                .detach(|| store.import_jsonl(bytes.as_slice(), &opts))
                .map_err(to_py)?;
            Ok(report.into())
        })
    }

    /// Closes the store (a file store saves its vector index). Later calls raise
    /// `InvalidInputError`; closing twice is harmless.
    fn close(&self, py: Python<'_>) -> PyResult<()> {
        guard(|| {
            let taken = self
                .inner
                .write()
                .map_err(|_| internal("store lock poisoned"))?
                .take();
            py.detach(|| drop(taken));
            Ok(())
        })
    }

    fn __enter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    #[pyo3(signature = (*_args))]
    fn __exit__(&self, py: Python<'_>, _args: &Bound<'_, PyTuple>) -> PyResult<()> {
        self.close(py)
    }
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyStore>()?;
    m.add_class::<PyPattern>()?;
    m.add_class::<PyRecalled>()?;
    m.add_class::<PyPreference>()?;
    m.add_class::<PyLearned>()?;
    m.add_class::<PyImportReport>()
}
