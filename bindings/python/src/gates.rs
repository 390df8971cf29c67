//! `bizra.GateChain` with Python callables as custom gates, and its report.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};

use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyString};

use bizra::{BuiltinKind, GateChain, GateContext, GateTier};

use crate::constitution::PyConstitution;
use crate::convert::{now_from_py, to_value};
use crate::envelope::{PyEnvelope, PyReplayCache};
use crate::{guard, internal, invalid, to_py};

const TIERS: [GateTier; 3] = [GateTier::Cheap, GateTier::Medium, GateTier::Expensive];

/// A tier argument: "cheap", "medium" or "expensive". A callable in its place is named as such:
/// the gate comes after the tier, in this order in every binding (Node's `addGate(name, tier,
/// fn)`).
fn tier_arg(obj: &Bound<'_, PyAny>) -> PyResult<GateTier> {
    let Ok(name) = obj.cast::<PyString>() else {
        let hint = if obj.is_callable() {
            " (the arguments are add_gate(name, tier, gate): the tier comes before the gate)"
        } else {
            ""
        };
        return Err(PyTypeError::new_err(format!(
            "tier must be \"cheap\", \"medium\" or \"expensive\"{hint}"
        )));
    };
    let name = name.to_str()?;
    TIERS.into_iter().find(|t| t.name() == name).ok_or_else(|| {
        invalid(format!(
            "tier must be \"cheap\", \"medium\" or \"expensive\", got {name:?}"
        ))
    })
}

fn builtin_arg(name: &str) -> PyResult<BuiltinKind> {
    BuiltinKind::ALL
        .into_iter()
        .find(|k| k.name() == name)
        .ok_or_else(|| {
            let names: Vec<&str> = BuiltinKind::ALL.iter().map(|k| k.name()).collect();
            invalid(format!(
                "unknown built-in gate {name:?}; the built-in gates are {}",
                names.join(", ")
            ))
        })
}

/// An ordered, tiered, fail-closed set of gates over one constitution. Thread-safe: one chain
/// can check envelopes from many threads (with the GIL released; Python gates take it back while
/// they run). A gate must not modify the chain that runs it.
///
/// The chain is shared (an `Arc`) with the nodes started with it (`Node(gates=...)`), whose
/// consensus judges proposals with it on the node's own thread: while one holds it, it cannot
/// change ([`PyGateChain::write`] refuses), so a node never sees its rules change under it.
#[pyclass(frozen, module = "bizra", name = "GateChain")]
pub(crate) struct PyGateChain {
    chain: RwLock<Chain>,
    report_all: AtomicBool,
}

/// Why a chain refuses to change.
const FROZEN: &str = "this gate chain judges the consensus proposals of a running node \
                      (Node(gates=...)): it cannot change until that node has left or stopped; \
                      build another chain";

/// The core's chain and the names of its Python gates.
struct Chain {
    gates: Arc<GateChain>,
    /// Python gates run only where the GIL can be taken; a node's consensus judges on the
    /// node's thread, which must never wait for the GIL (a node collected by the garbage
    /// collector is stopped with the GIL held), so a chain with any is refused there.
    python_gates: Vec<String>,
}

impl Chain {
    fn new(gates: GateChain) -> Self {
        Chain {
            gates: Arc::new(gates),
            python_gates: Vec::new(),
        }
    }
}

/// The envelope argument of `check` and `admit`.
fn envelope_arg<'a>(obj: &'a Bound<'_, PyAny>) -> PyResult<&'a bizra::Envelope> {
    obj.cast::<PyEnvelope>()
        .map(|e| &e.get().inner)
        .map_err(|_| PyTypeError::new_err("envelope must be a bizra.Envelope"))
}

impl PyGateChain {
    fn of(gates: GateChain) -> Self {
        Self {
            chain: RwLock::new(Chain::new(gates)),
            report_all: AtomicBool::new(false),
        }
    }

    /// Runs `f` on the chain under its read lock, with the GIL released (a Python gate of a
    /// concurrent check may need the GIL to finish and release its lock).
    fn read<R: Send>(&self, py: Python<'_>, f: impl FnOnce(&GateChain) -> R + Send) -> R {
        py.detach(|| f(&self.chain.read().unwrap_or_else(|e| e.into_inner()).gates))
    }

    /// Runs `f` on the chain under its write lock, with the GIL released; refused while a
    /// running node judges consensus proposals with the chain.
    fn write<R: Send>(
        &self,
        py: Python<'_>,
        f: impl FnOnce(&mut GateChain) -> R + Send,
    ) -> PyResult<R> {
        self.write_chain(py, |chain| {
            Arc::get_mut(&mut chain.gates).map(f).ok_or(FROZEN)
        })
        .map_err(invalid)
    }

    fn write_chain<R: Send>(&self, py: Python<'_>, f: impl FnOnce(&mut Chain) -> R + Send) -> R {
        py.detach(|| f(&mut self.chain.write().unwrap_or_else(|e| e.into_inner())))
    }

    /// The chain for a node's consensus (shared: it cannot change while the node holds it). A
    /// chain with Python gates is refused: consensus judges proposals on the node's thread,
    /// which must not wait for the GIL.
    pub(crate) fn for_consensus(&self, py: Python<'_>) -> PyResult<Arc<GateChain>> {
        let (gates, python_gates) = py.detach(|| {
            let chain = self.chain.read().unwrap_or_else(|e| e.into_inner());
            (Arc::clone(&chain.gates), chain.python_gates.clone())
        });
        if python_gates.is_empty() {
            return Ok(gates);
        }
        Err(invalid(format!(
            "gates holds Python gates ({}), which need the GIL; a node's consensus judges \
             proposals on the node's own thread: give it a chain of built-in gates",
            python_gates.join(", ")
        )))
    }
}

fn constitution_arg(c: Option<&Bound<'_, PyConstitution>>) -> Arc<bizra::Constitution> {
    match c {
        Some(c) => c.get().inner.clone(),
        None => Arc::new(bizra::Constitution::default()),
    }
}

/// Calls a Python gate. `None` or `True` admits; `False` refuses; a `str` refuses with that
/// reason; an exception refuses with its text; anything else refuses too (fail-closed), naming
/// what the gate returned.
fn call_gate(func: &Py<PyAny>, ctx: &GateContext<'_>) -> Result<(), String> {
    Python::attach(|py| {
        let env = Py::new(
            py,
            PyEnvelope {
                inner: ctx.envelope.clone(),
            },
        )
        .map_err(|e| format!("could not pass the envelope: {e}"))?;
        match func.bind(py).call1((env,)) {
            Ok(r) if r.is_none() => Ok(()),
            Ok(r) => {
                if let Ok(b) = r.cast::<PyBool>() {
                    return if b.is_true() {
                        Ok(())
                    } else {
                        Err("the gate returned False".to_owned())
                    };
                }
                if let Ok(reason) = r.cast::<PyString>() {
                    let reason = reason.to_string_lossy();
                    return Err(if reason.is_empty() {
                        "the gate refused (with an empty reason)".to_owned()
                    } else {
                        reason.into_owned()
                    });
                }
                Err(format!(
                    "the gate returned {}, not None, a bool or a reason str (fail-closed)",
                    r.get_type()
                        .name()
                        .map(|n| n.to_string())
                        .unwrap_or_else(|_| "an object".into())
                ))
            }
            Err(e) => {
                let kind = e
                    .get_type(py)
                    .name()
                    .map(|n| n.to_string())
                    .unwrap_or_else(|_| "Exception".into());
                Err(format!("the gate raised {kind}: {}", e.value(py)))
            }
        }
    })
}

#[pymethods]
impl PyGateChain {
    /// Every built-in gate over `constitution` (default: the default constitution), with its own
    /// replay cache.
    #[new]
    #[pyo3(signature = (constitution=None))]
    fn new(constitution: Option<&Bound<'_, PyConstitution>>) -> PyResult<Self> {
        guard(|| {
            Ok(Self::of(GateChain::from_constitution(constitution_arg(
                constitution,
            ))))
        })
    }

    /// A chain with no gates yet (it admits nothing until gates are added).
    #[staticmethod]
    #[pyo3(signature = (constitution=None))]
    fn empty(constitution: Option<&Bound<'_, PyConstitution>>) -> PyResult<Self> {
        guard(|| Ok(Self::of(GateChain::empty(constitution_arg(constitution)))))
    }

    /// Adds a built-in gate by name: "schema", "signature", "freshness", "replay", "policy",
    /// "snr" or "ihsan" (adding one already present changes nothing).
    fn add_builtin(&self, py: Python<'_>, name: &str) -> PyResult<()> {
        guard(|| {
            let kind = builtin_arg(name)?;
            self.write(py, |c| {
                c.add_builtin(kind);
            })
        })
    }

    /// Adds a Python callable as a gate of `tier` ("cheap", "medium" or "expensive"; the
    /// arguments in the order of every binding: name, tier, gate). Called with the Envelope, the
    /// gate admits by returning None or True; it refuses with GATE_CUSTOM (24) by returning False,
    /// a str (the reason, in the report's detail), anything else, or by raising (the exception's
    /// text is the reason). User gates run after every built-in gate (the signature among them),
    /// so they only see authenticated envelopes.
    fn add_gate(
        &self,
        py: Python<'_>,
        name: String,
        tier: &Bound<'_, PyAny>,
        gate: &Bound<'_, PyAny>,
    ) -> PyResult<()> {
        guard(|| {
            let tier = tier_arg(tier)?;
            if !gate.is_callable() {
                return Err(PyTypeError::new_err(
                    "gate must be callable: (Envelope) -> None | bool | str",
                ));
            }
            let func: Py<PyAny> = gate.clone().unbind();
            self.write_chain(py, move |chain| {
                let gates = Arc::get_mut(&mut chain.gates)?;
                chain.python_gates.push(name.clone());
                gates.add_fn(name, tier, move |ctx| call_gate(&func, ctx));
                Some(())
            })
            .ok_or_else(|| invalid(FROZEN))
        })
    }

    /// Makes the schema gate also validate payloads against a JSON Schema (refusals: 20).
    fn set_payload_schema(&self, py: Python<'_>, schema: &Bound<'_, PyAny>) -> PyResult<()> {
        guard(|| {
            let schema = to_value(schema, "schema")?;
            self.write(py, |c| c.set_payload_schema(&schema).map(|_| ()))?
                .map_err(to_py)
        })
    }

    /// The replay cache the replay gate uses.
    #[getter]
    fn replay_cache(&self, py: Python<'_>) -> PyReplayCache {
        PyReplayCache {
            inner: self.read(py, |c| c.replay_cache().clone()),
        }
    }

    /// Shares a replay cache (between chains, or with `Envelope.verify(replay=...)`).
    fn set_replay_cache(&self, py: Python<'_>, cache: &Bound<'_, PyReplayCache>) -> PyResult<()> {
        guard(|| {
            let inner = cache.get().inner.clone();
            self.write(py, |c| {
                c.set_replay_cache(inner);
            })
        })
    }

    /// Report mode: run every gate even after a failure (nothing is admitted either way).
    #[getter]
    fn get_report_all(&self) -> bool {
        self.report_all.load(Ordering::Relaxed)
    }
    #[setter]
    fn set_report_all(&self, py: Python<'_>, on: bool) -> PyResult<()> {
        guard(|| {
            self.write(py, |c| {
                c.set_report_all(on);
                self.report_all.store(on, Ordering::Relaxed);
            })
        })
    }

    /// The constitution whose thresholds the gates apply.
    #[getter]
    fn constitution(&self, py: Python<'_>) -> PyConstitution {
        PyConstitution {
            inner: Arc::new(self.read(py, |c| c.constitution().clone())),
        }
    }

    /// The gates' names, in the order they run.
    #[getter]
    fn gate_names(&self, py: Python<'_>) -> Vec<String> {
        self.read(py, |c| c.gate_names())
    }

    /// Judges an envelope at `now` (an aware datetime; default: the clock) and only observes:
    /// nothing is admitted (the replay gate refuses an id already admitted but records none), so
    /// `check()` then `admit()` on the same envelope admits it once.
    #[pyo3(signature = (envelope, *, now=None))]
    fn check(
        &self,
        py: Python<'_>,
        envelope: &Bound<'_, PyAny>,
        now: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<PyGateReport> {
        guard(|| {
            let env = envelope_arg(envelope)?;
            let now = now_from_py(now)?.unwrap_or_else(bizra::Timestamp::now);
            let report = self.read(py, |c| c.check_at(env, now));
            Ok(PyGateReport { inner: report })
        })
    }

    /// Judges an envelope at `now` and admits it when every gate passes (the replay gate records
    /// its id, atomically: of two concurrent admissions of one id, one is a replay). Returns the
    /// report on admission; raises `RejectError` for the first refusal.
    #[pyo3(signature = (envelope, *, now=None))]
    fn admit(
        &self,
        py: Python<'_>,
        envelope: &Bound<'_, PyAny>,
        now: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<PyGateReport> {
        guard(|| {
            let env = envelope_arg(envelope)?;
            let now = now_from_py(now)?.unwrap_or_else(bizra::Timestamp::now);
            let report = self.read(py, |c| c.admit_at(env, now));
            if report.passed {
                Ok(PyGateReport { inner: report })
            } else {
                Err(report
                    .into_result()
                    .map_or_else(to_py, |()| internal("a refused report became a success")))
            }
        })
    }

    fn __repr__(&self, py: Python<'_>) -> String {
        format!("GateChain(gates={:?})", self.read(py, |c| c.gate_names()))
    }
}

/// The verdict of one gate.
#[pyclass(frozen, get_all, module = "bizra", name = "GateResult")]
pub(crate) struct PyGateResult {
    name: String,
    /// "cheap", "medium" or "expensive".
    tier: &'static str,
    passed: bool,
    /// The reject code when it refused.
    code: Option<u32>,
    /// The code's name ("GATE_SNR") when it refused.
    code_name: Option<&'static str>,
    detail: Option<String>,
    /// Seconds the gate took.
    duration: f64,
    over_budget: bool,
}

#[pymethods]
impl PyGateResult {
    fn __repr__(&self) -> String {
        format!(
            "GateResult(name={:?}, passed={}, code={:?})",
            self.name,
            if self.passed { "True" } else { "False" },
            self.code
        )
    }
}

/// The verdict of a chain: every gate that ran, in order. Truthy when admitted.
#[pyclass(frozen, module = "bizra", name = "GateReport")]
pub(crate) struct PyGateReport {
    inner: bizra::GateReport,
}

fn result(r: &bizra::GateResult) -> PyGateResult {
    PyGateResult {
        name: r.name.clone(),
        tier: r.tier.name(),
        passed: r.passed,
        code: r.code.map(|c| c.code()),
        code_name: r.code.map(|c| c.name()),
        detail: r.detail.clone(),
        duration: r.duration.as_secs_f64(),
        over_budget: r.over_budget,
    }
}

#[pymethods]
impl PyGateReport {
    /// True when every gate passed (by `admit`: and the envelope was admitted).
    #[getter]
    fn passed(&self) -> bool {
        self.inner.passed
    }
    /// Per-gate results, in the order the gates ran.
    #[getter]
    fn results(&self) -> Vec<PyGateResult> {
        self.inner.results.iter().map(result).collect()
    }
    /// The first refusal, if any.
    #[getter]
    fn first_failure(&self) -> Option<PyGateResult> {
        self.inner.first_failure().map(result)
    }
    /// The reject code of the first refusal (None when admitted).
    #[getter]
    fn code(&self) -> Option<u32> {
        self.inner.code().map(|c| c.code())
    }
    /// Raises RejectError for the first refusal; returns None when admitted.
    fn raise_for_status(&self) -> PyResult<()> {
        guard(|| self.inner.clone().into_result().map_err(to_py))
    }
    fn __bool__(&self) -> bool {
        self.inner.passed
    }
    fn __repr__(&self) -> String {
        format!(
            "GateReport(passed={}, code={:?}, gates={:?})",
            if self.inner.passed { "True" } else { "False" },
            self.inner.code().map(|c| c.code()),
            self.inner
                .results
                .iter()
                .map(|r| r.name.as_str())
                .collect::<Vec<_>>()
        )
    }
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyGateChain>()?;
    m.add_class::<PyGateReport>()?;
    m.add_class::<PyGateResult>()?;
    Ok(())
}
