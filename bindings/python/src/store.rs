//! `bizra.Store`: the core's autopoiesis store (a node's memory of patterns and preferences in
//! one SQLite file). Learning, recall, feedback, elevation, preferences and exchange are the
//! core's; records come back as the core's JSON shapes (`Pattern::to_json`, ...) turned into
//! dicts, the same shapes as the C ABI's. Database work runs with the GIL released.

use std::path::PathBuf;
use std::sync::{Arc, RwLock};

use pyo3::prelude::*;
use pyo3::types::PyList;

use bizra::autopoiesis::{ElevationPolicy, Learned, RecallOptions, Store};

use crate::convert::to_py_value;
use crate::envelope::{options, PyEnvelope, PyReplayCache};
use crate::identity::PyIdentity;
use crate::inference::PyModel;
use crate::{guard, internal, invalid, to_py};

/// A node's memory: patterns learned from verified envelopes, recalled by meaning, moved by
/// feedback, elevated; and preferences. `Store(path)` opens (creating it if absent) a SQLite
/// file; `Store()` keeps everything in memory. Thread-safe; a context manager (closing saves a
/// file store's vector index).
#[pyclass(frozen, module = "bizra", name = "Store")]
pub(crate) struct PyStore {
    /// `None` once closed.
    inner: RwLock<Option<Arc<Store>>>,
}

impl PyStore {
    fn store(&self) -> PyResult<Arc<Store>> {
        self.inner
            .read()
            .map_err(|_| internal("store lock poisoned"))?
            .clone()
            .ok_or_else(|| invalid("the store is closed (Store.close() was called)"))
    }
}

/// A list of the core's JSON records as Python values (dicts).
fn records<'py>(
    py: Python<'py>,
    values: impl IntoIterator<Item = serde_json::Value>,
) -> PyResult<Bound<'py, PyList>> {
    let items = values
        .into_iter()
        .map(|v| to_py_value(py, &v))
        .collect::<PyResult<Vec<_>>>()?;
    PyList::new(py, items)
}

fn learned_name(l: Learned) -> &'static str {
    match l {
        Learned::New(_) => "new",
        Learned::Observed(_) => "observed",
        Learned::AlreadyKnown(_) => "already_known",
    }
}

#[pymethods]
impl PyStore {
    #[new]
    #[pyo3(signature = (path=None))]
    fn new(py: Python<'_>, path: Option<PathBuf>) -> PyResult<Self> {
        guard(|| {
            let store = py
                .detach(|| match &path {
                    Some(p) => Store::open(p),
                    None => Store::in_memory(),
                })
                .map_err(to_py)?;
            Ok(Self {
                inner: RwLock::new(Some(Arc::new(store))),
            })
        })
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
    /// embedding of the content. Returns `(id, "new" | "observed" | "already_known")`.
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
    ) -> PyResult<(i64, &'static str)> {
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
                _ => {
                    return Err(invalid(
                        "give the embedding, or the model that embeds the content (not both)",
                    ))
                }
            }
            .map_err(to_py)?;
            Ok((learned.id(), learned_name(learned)))
        })
    }

    /// The patterns nearest `query` (a vector, or a text embedded by `model`): at most `k`,
    /// each at or above `threshold` (cosine similarity), highest first, as dicts with
    /// `"similarity"`.
    #[pyo3(signature = (query, *, model=None, k=10, threshold=0.5))]
    fn recall<'py>(
        &self,
        py: Python<'py>,
        query: &Bound<'_, PyAny>,
        model: Option<PyRef<'_, PyModel>>,
        k: usize,
        threshold: f32,
    ) -> PyResult<Bound<'py, PyList>> {
        guard(|| {
            let store = self.store()?;
            let opts = RecallOptions { k, threshold };
            let hits = if let Ok(text) = query.extract::<String>() {
                let engine = model
                    .ok_or_else(|| invalid("recalling by text needs the model that embeds it"))?
                    .engine()?;
                py.detach(|| store.recall_text(&engine, &text, opts))
            } else {
                let v: Vec<f32> = query
                    .extract()
                    .map_err(|_| invalid("query must be a text or a sequence of floats"))?;
                py.detach(|| store.recall(&v, opts))
            }
            .map_err(to_py)?;
            records(py, hits.iter().map(|h| h.to_json()))
        })
    }

    /// Records feedback on pattern `id` (+0.05 positive, −0.03 negative, clamped); returns the
    /// confidence now. An unknown id raises `InvalidInputError`.
    fn feedback(&self, py: Python<'_>, id: i64, positive: bool) -> PyResult<f64> {
        guard(|| {
            let store = self.store()?;
            let p = py.detach(|| store.feedback(id, positive)).map_err(to_py)?;
            Ok(p.confidence)
        })
    }

    /// Pattern `id` as a dict, or `None`.
    fn get<'py>(&self, py: Python<'py>, id: i64) -> PyResult<Option<Bound<'py, PyAny>>> {
        guard(|| {
            let p = self.store()?.get(id).map_err(to_py)?;
            p.map(|p| to_py_value(py, &p.to_json())).transpose()
        })
    }

    /// Every pattern, by id.
    fn patterns<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        guard(|| {
            let store = self.store()?;
            let all = py.detach(|| store.list()).map_err(to_py)?;
            records(py, all.iter().map(|p| p.to_json()))
        })
    }

    /// Every elevated pattern (locally or certified by a federation), by id.
    fn elevated<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        guard(|| {
            let store = self.store()?;
            let all = py.detach(|| store.elevated()).map_err(to_py)?;
            records(py, all.iter().map(|p| p.to_json()))
        })
    }

    /// Elevates locally (no federation to certify them) the patterns with at least `threshold`
    /// confidence and `min_observations` observations (default 0.95 and 3); returns their ids.
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

    /// Observes that the user prefers `value` for (`kind`, `key`); returns this value's
    /// confidence (0.5 at first, reinforced by each repeat; active from 0.7).
    fn observe_preference(&self, kind: &str, key: &str, value: &str) -> PyResult<f64> {
        guard(|| {
            let p = self
                .store()?
                .preferences()
                .observe(kind, key, value)
                .map_err(to_py)?;
            Ok(p.confidence)
        })
    }

    /// The preferred value of (`kind`, `key`) as a dict, or `None`.
    fn preference<'py>(
        &self,
        py: Python<'py>,
        kind: &str,
        key: &str,
    ) -> PyResult<Option<Bound<'py, PyAny>>> {
        guard(|| {
            let p = self.store()?.preferences().get(kind, key).map_err(to_py)?;
            p.map(|p| to_py_value(py, &p.to_json())).transpose()
        })
    }

    /// The active preferences, one per (kind, key).
    fn active_preferences<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        guard(|| {
            let active = self.store()?.preferences().active().map_err(to_py)?;
            records(py, active.iter().map(|p| p.to_json()))
        })
    }

    /// `system_prompt` followed by the active preferences, as the gateway would send it.
    #[pyo3(signature = (system_prompt=None))]
    fn apply_preferences(&self, system_prompt: Option<&str>) -> PyResult<String> {
        guard(|| {
            self.store()?
                .preferences()
                .apply(system_prompt)
                .map_err(to_py)
        })
    }

    /// Every pattern as JSON Lines of `bizra.pattern` envelopes signed by `identity`.
    fn export_jsonl(&self, py: Python<'_>, identity: PyRef<'_, PyIdentity>) -> PyResult<String> {
        guard(|| {
            let store = self.store()?;
            let id = identity.inner.clone();
            let mut out = Vec::new();
            py.detach(|| store.export_jsonl(&mut out, &id))
                .map_err(to_py)?;
            String::from_utf8(out).map_err(|e| internal(format!("export is not UTF-8: {e}")))
        })
    }

    /// Imports JSON Lines (str or bytes, as `export_jsonl` writes them), verifying every line:
    /// all lines or none. A line that does not verify raises its error, naming the line.
    /// Returns `{"lines", "new", "observed", "already_known"}`.
    #[pyo3(signature = (data, *, now=None, policy=None, replay=None))]
    fn import_jsonl(
        &self,
        py: Python<'_>,
        data: &Bound<'_, PyAny>,
        now: Option<&Bound<'_, PyAny>>,
        policy: Option<&Bound<'_, PyAny>>,
        replay: Option<&Bound<'_, PyReplayCache>>,
    ) -> PyResult<std::collections::BTreeMap<&'static str, usize>> {
        guard(|| {
            let store = self.store()?;
            let bytes: Vec<u8> = match data.extract::<String>() {
                Ok(s) => s.into_bytes(),
                Err(_) => data
                    .extract()
                    .map_err(|_| invalid("data must be str or bytes"))?,
            };
            let opts = options(now, policy, replay.map(|r| r.get()))?;
            let r = py
                .detach(|| store.import_jsonl(bytes.as_slice(), &opts))
                .map_err(to_py)?;
            Ok([
                ("lines", r.lines),
                ("new", r.new),
                ("observed", r.observed),
                ("already_known", r.already_known),
            ]
            .into_iter()
            .collect())
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
    fn __exit__(&self, py: Python<'_>, _args: &Bound<'_, pyo3::types::PyTuple>) -> PyResult<()> {
        self.close(py)
    }
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyStore>()
}
