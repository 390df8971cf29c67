//! Tier selection: `TaskComplexity`, `ModelTier`, `select_tier`, `HardwareProfile`.

use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;

use bizra::{ModelTier, TaskComplexity};

use crate::{guard, invalid};

/// How demanding a task is, estimated from its prompt and output budget.
#[pyclass(
    eq,
    eq_int,
    ord,
    hash,
    frozen,
    module = "bizra",
    name = "TaskComplexity"
)]
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum PyTaskComplexity {
    #[pyo3(name = "SIMPLE")]
    Simple,
    #[pyo3(name = "MEDIUM")]
    Medium,
    #[pyo3(name = "COMPLEX")]
    Complex,
    #[pyo3(name = "EXPERT")]
    Expert,
}

impl From<TaskComplexity> for PyTaskComplexity {
    fn from(c: TaskComplexity) -> Self {
        match c {
            TaskComplexity::Simple => Self::Simple,
            TaskComplexity::Medium => Self::Medium,
            TaskComplexity::Complex => Self::Complex,
            TaskComplexity::Expert => Self::Expert,
        }
    }
}

impl From<PyTaskComplexity> for TaskComplexity {
    fn from(c: PyTaskComplexity) -> Self {
        match c {
            PyTaskComplexity::Simple => Self::Simple,
            PyTaskComplexity::Medium => Self::Medium,
            PyTaskComplexity::Complex => Self::Complex,
            PyTaskComplexity::Expert => Self::Expert,
        }
    }
}

#[pymethods]
impl PyTaskComplexity {
    /// Estimates the complexity of a prompt with an output budget of `max_tokens`.
    #[staticmethod]
    #[pyo3(signature = (prompt, max_tokens=256))]
    fn estimate(prompt: &str, max_tokens: u32) -> PyResult<Self> {
        guard(|| Ok(TaskComplexity::estimate(prompt, max_tokens).into()))
    }
    /// `estimate` with the reason for the verdict.
    #[staticmethod]
    #[pyo3(signature = (prompt, max_tokens=256))]
    fn explain(prompt: &str, max_tokens: u32) -> PyResult<(Self, String)> {
        guard(|| {
            let (c, why) = TaskComplexity::explain(prompt, max_tokens);
            Ok((c.into(), why))
        })
    }
    /// Lower-case name ("simple").
    #[getter]
    fn label(&self) -> &'static str {
        TaskComplexity::from(*self).name()
    }
    fn __str__(&self) -> &'static str {
        TaskComplexity::from(*self).name()
    }
}

/// Where a model of a given size runs.
#[pyclass(eq, eq_int, ord, hash, frozen, module = "bizra", name = "ModelTier")]
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum PyModelTier {
    #[pyo3(name = "EDGE")]
    Edge,
    #[pyo3(name = "LOCAL")]
    Local,
    #[pyo3(name = "POOL")]
    Pool,
}

impl From<ModelTier> for PyModelTier {
    fn from(t: ModelTier) -> Self {
        match t {
            ModelTier::Edge => Self::Edge,
            ModelTier::Local => Self::Local,
            ModelTier::Pool => Self::Pool,
        }
    }
}

impl From<PyModelTier> for ModelTier {
    fn from(t: PyModelTier) -> Self {
        match t {
            PyModelTier::Edge => Self::Edge,
            PyModelTier::Local => Self::Local,
            PyModelTier::Pool => Self::Pool,
        }
    }
}

pub(crate) fn tier_arg(obj: &Bound<'_, PyAny>) -> PyResult<ModelTier> {
    if let Ok(t) = obj.cast::<PyModelTier>() {
        return Ok((*t.get()).into());
    }
    let name: String = obj
        .extract()
        .map_err(|_| PyTypeError::new_err("a tier is a bizra.ModelTier or its name (\"edge\")"))?;
    ModelTier::from_name(&name).ok_or_else(|| {
        invalid(format!(
            "unknown tier {name:?}; the tiers are \"edge\", \"local\" and \"pool\""
        ))
    })
}

#[pymethods]
impl PyModelTier {
    /// The tier for a name, case-insensitive ("edge", "local", "pool").
    #[staticmethod]
    fn from_name(name: &str) -> PyResult<Self> {
        guard(|| {
            ModelTier::from_name(name)
                .map(Into::into)
                .ok_or_else(|| invalid(format!("unknown tier {name:?}")))
        })
    }
    /// The tier a complexity maps to.
    #[staticmethod]
    fn for_complexity(c: PyRef<'_, PyTaskComplexity>) -> Self {
        ModelTier::for_complexity((*c).into()).into()
    }
    /// The nominal parameter range, in billions (the upper bound of POOL is infinity).
    #[getter]
    fn parameter_range_billions(&self) -> (f64, f64) {
        ModelTier::from(*self).parameter_range_billions()
    }
    /// Lower-case name ("edge").
    #[getter]
    fn label(&self) -> &'static str {
        ModelTier::from(*self).name()
    }
    fn __str__(&self) -> &'static str {
        ModelTier::from(*self).name()
    }
}

/// A tier decision and why it was made.
#[pyclass(frozen, get_all, module = "bizra", name = "TierDecision")]
pub(crate) struct PyTierDecision {
    complexity: PyTaskComplexity,
    tier: PyModelTier,
    forced: bool,
    reason: String,
}

impl From<bizra::TierDecision> for PyTierDecision {
    fn from(d: bizra::TierDecision) -> Self {
        PyTierDecision {
            complexity: d.complexity.into(),
            tier: d.tier.into(),
            forced: d.forced,
            reason: d.reason,
        }
    }
}

#[pymethods]
impl PyTierDecision {
    fn __repr__(&self) -> String {
        format!(
            "TierDecision(complexity={}, tier={}, forced={}, reason={:?})",
            TaskComplexity::from(self.complexity).name(),
            ModelTier::from(self.tier).name(),
            if self.forced { "True" } else { "False" },
            self.reason
        )
    }
}

/// Chooses the tier for a task; a forced tier (a ModelTier or its name) overrides the estimate.
#[pyfunction]
#[pyo3(signature = (prompt, max_tokens=256, forced=None))]
fn select_tier(
    prompt: &str,
    max_tokens: u32,
    forced: Option<&Bound<'_, PyAny>>,
) -> PyResult<PyTierDecision> {
    guard(|| {
        let forced = match forced {
            Some(f) if !f.is_none() => Some(tier_arg(f)?),
            _ => None,
        };
        Ok(bizra::select_tier(prompt, max_tokens, forced).into())
    })
}

/// An NVIDIA GPU as nvidia-smi reports it.
#[pyclass(frozen, get_all, module = "bizra", name = "GpuInfo")]
#[derive(Clone)]
pub(crate) struct PyGpuInfo {
    name: String,
    memory_total_bytes: u64,
    memory_free_bytes: u64,
}

#[pymethods]
impl PyGpuInfo {
    fn __repr__(&self) -> String {
        format!(
            "GpuInfo(name={:?}, memory_total_bytes={})",
            self.name, self.memory_total_bytes
        )
    }
}

/// What this machine has, measured by `HardwareProfile.detect()`.
#[pyclass(frozen, module = "bizra", name = "HardwareProfile")]
pub(crate) struct PyHardwareProfile {
    inner: bizra::HardwareProfile,
}

#[pymethods]
impl PyHardwareProfile {
    /// Measures the machine (CPU cores, memory, free disk of the current directory, or of
    /// `path` when given, and NVIDIA GPUs through nvidia-smi where installed).
    #[staticmethod]
    #[pyo3(signature = (path=None))]
    fn detect(py: Python<'_>, path: Option<std::path::PathBuf>) -> PyResult<Self> {
        guard(|| {
            let inner = py.detach(|| match &path {
                Some(p) => bizra::HardwareProfile::detect_for(p),
                None => bizra::HardwareProfile::detect(),
            });
            Ok(Self { inner })
        })
    }
    #[getter]
    fn cpu_cores(&self) -> usize {
        self.inner.cpu_cores
    }
    #[getter]
    fn logical_cpus(&self) -> usize {
        self.inner.logical_cpus
    }
    #[getter]
    fn ram_total_bytes(&self) -> u64 {
        self.inner.ram_total_bytes
    }
    #[getter]
    fn ram_available_bytes(&self) -> u64 {
        self.inner.ram_available_bytes
    }
    #[getter]
    fn disk_free_bytes(&self) -> u64 {
        self.inner.disk_free_bytes
    }
    #[getter]
    fn gpus(&self) -> Vec<PyGpuInfo> {
        self.inner
            .gpus
            .iter()
            .map(|g| PyGpuInfo {
                name: g.name.clone(),
                memory_total_bytes: g.memory_total_bytes,
                memory_free_bytes: g.memory_free_bytes,
            })
            .collect()
    }
    /// The largest tier this machine can serve itself, or None.
    fn max_local_tier(&self) -> Option<PyModelTier> {
        self.inner.max_local_tier().map(Into::into)
    }
    /// Whether this machine can serve `tier` (a ModelTier or its name) itself.
    fn can_serve(&self, tier: &Bound<'_, PyAny>) -> PyResult<bool> {
        guard(|| Ok(self.inner.can_serve(tier_arg(tier)?)))
    }
    fn __repr__(&self) -> String {
        format!(
            "HardwareProfile(cpu_cores={}, logical_cpus={}, ram_total_bytes={}, gpus={})",
            self.inner.cpu_cores,
            self.inner.logical_cpus,
            self.inner.ram_total_bytes,
            self.inner.gpus.len()
        )
    }
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyTaskComplexity>()?;
    m.add_class::<PyModelTier>()?;
    m.add_class::<PyTierDecision>()?;
    m.add_class::<PyGpuInfo>()?;
    m.add_class::<PyHardwareProfile>()?;
    m.add_function(wrap_pyfunction!(select_tier, m)?)?;
    Ok(())
}
