//! `bizra.Constitution` and its compliance report.

use std::path::PathBuf;
use std::sync::Arc;

use pyo3::prelude::*;
use pyo3::types::PyBytes;

use bizra::constitution::Enforcement;
use bizra::{ComplianceInput, Constitution};

use crate::{guard, to_py};

/// Thresholds and rules a node applies, identified by `hash`. Immutable.
#[pyclass(frozen, module = "bizra", name = "Constitution")]
pub(crate) struct PyConstitution {
    pub(crate) inner: Arc<Constitution>,
}

fn enforcement_name(e: Enforcement) -> &'static str {
    match e {
        Enforcement::Strict => "strict",
        Enforcement::Advisory => "advisory",
    }
}

/// One rule of a constitution.
#[pyclass(frozen, get_all, module = "bizra", name = "Rule")]
pub(crate) struct PyRule {
    id: String,
    name: String,
    description: String,
    /// "strict" or "advisory".
    enforcement: &'static str,
    penalty: String,
}

#[pymethods]
impl PyRule {
    fn __repr__(&self) -> String {
        format!("Rule(id={:?}, enforcement={:?})", self.id, self.enforcement)
    }
}

/// The verdict on one rule.
#[pyclass(frozen, get_all, module = "bizra", name = "RuleOutcome")]
pub(crate) struct PyRuleOutcome {
    id: String,
    enforcement: &'static str,
    passed: bool,
    value: Option<f64>,
    threshold: Option<f64>,
    detail: String,
}

#[pymethods]
impl PyRuleOutcome {
    fn __repr__(&self) -> String {
        format!(
            "RuleOutcome(id={:?}, passed={}, detail={:?})",
            self.id,
            if self.passed { "True" } else { "False" },
            self.detail
        )
    }
}

/// The verdict of `Constitution.check`: `compliant` when no strict rule failed. Truthy when
/// compliant.
#[pyclass(frozen, module = "bizra", name = "ComplianceReport")]
pub(crate) struct PyComplianceReport {
    #[pyo3(get)]
    compliant: bool,
    rules: Vec<Py<PyRuleOutcome>>,
}

#[pymethods]
impl PyComplianceReport {
    /// One outcome per rule, in the constitution's order.
    #[getter]
    fn rules(&self, py: Python<'_>) -> Vec<Py<PyRuleOutcome>> {
        self.rules.iter().map(|r| r.clone_ref(py)).collect()
    }
    /// The outcomes that failed.
    #[getter]
    fn failures(&self, py: Python<'_>) -> Vec<Py<PyRuleOutcome>> {
        self.rules
            .iter()
            .filter(|r| !r.get().passed)
            .map(|r| r.clone_ref(py))
            .collect()
    }
    fn __bool__(&self) -> bool {
        self.compliant
    }
    fn __repr__(&self) -> String {
        format!(
            "ComplianceReport(compliant={}, rules={})",
            if self.compliant { "True" } else { "False" },
            self.rules.len()
        )
    }
}

#[pymethods]
impl PyConstitution {
    /// The default constitution (tests/vectors/constitution-v1.json, embedded).
    #[new]
    fn new() -> PyResult<Self> {
        guard(|| {
            Ok(Self {
                inner: Arc::new(Constitution::default()),
            })
        })
    }

    /// The default constitution.
    #[staticmethod]
    fn default() -> PyResult<Self> {
        Self::new()
    }

    /// Reads and validates a constitution file.
    #[staticmethod]
    fn load(py: Python<'_>, path: PathBuf) -> PyResult<Self> {
        guard(|| {
            let c = py.detach(|| Constitution::load(&path)).map_err(to_py)?;
            Ok(Self { inner: Arc::new(c) })
        })
    }

    /// Parses and validates constitution JSON text.
    #[staticmethod]
    fn from_json(py: Python<'_>, text: &str) -> PyResult<Self> {
        guard(|| {
            let c = py.detach(|| Constitution::from_json(text)).map_err(to_py)?;
            Ok(Self { inner: Arc::new(c) })
        })
    }

    /// `H("bizra-constitution-v1:", JCS(constitution))` as 64 lowercase hex: what `policy` holds.
    #[getter]
    fn hash(&self) -> String {
        self.inner.hash_hex()
    }
    /// The hash as 32 bytes.
    #[getter]
    fn hash_bytes<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, self.inner.hash())
    }
    #[getter]
    fn version(&self) -> &str {
        self.inner.version()
    }
    #[getter]
    fn ihsan_minimum(&self) -> f64 {
        self.inner.ihsan_minimum()
    }
    #[getter]
    fn ihsan_target(&self) -> f64 {
        self.inner.ihsan_target()
    }
    #[getter]
    fn snr_threshold(&self) -> f64 {
        self.inner.snr_threshold()
    }
    #[getter]
    fn max_ttl_seconds(&self) -> i64 {
        self.inner.max_ttl_seconds()
    }
    #[getter]
    fn max_clock_skew_seconds(&self) -> i64 {
        self.inner.max_clock_skew_seconds()
    }
    /// The rules, in file order.
    #[getter]
    fn rules(&self) -> Vec<PyRule> {
        self.inner
            .rules()
            .iter()
            .map(|r| PyRule {
                id: r.id.clone(),
                name: r.name.clone(),
                description: r.description.clone(),
                enforcement: enforcement_name(r.enforcement),
                penalty: r.penalty.clone(),
            })
            .collect()
    }

    /// Approvals a federation decision needs among `n` validators: floor(2n/3)+1.
    #[staticmethod]
    fn quorum(n: usize) -> usize {
        Constitution::quorum(n)
    }

    /// Judges one output against every rule. Missing scores fail their rules (fail-closed).
    #[pyo3(signature = (*, snr=None, ihsan=None, has_signature=false, has_provenance=false))]
    fn check(
        &self,
        py: Python<'_>,
        snr: Option<f64>,
        ihsan: Option<f64>,
        has_signature: bool,
        has_provenance: bool,
    ) -> PyResult<PyComplianceReport> {
        guard(|| {
            let input = ComplianceInput {
                snr,
                ihsan,
                has_signature,
                has_provenance,
            };
            report(py, self.inner.check(&input))
        })
    }

    fn __eq__(&self, other: &Bound<'_, PyAny>) -> bool {
        other
            .cast::<PyConstitution>()
            .is_ok_and(|o| o.get().inner.hash() == self.inner.hash())
    }
    fn __hash__(&self) -> u64 {
        let mut h = [0u8; 8];
        h.copy_from_slice(&self.inner.hash()[..8]);
        u64::from_le_bytes(h)
    }
    fn __repr__(&self) -> String {
        format!(
            "Constitution(version={:?}, hash={:?})",
            self.inner.version(),
            self.inner.hash_hex()
        )
    }
}

fn report(py: Python<'_>, r: bizra::ComplianceReport) -> PyResult<PyComplianceReport> {
    let rules = r
        .rules
        .into_iter()
        .map(|o| {
            Py::new(
                py,
                PyRuleOutcome {
                    id: o.id,
                    enforcement: enforcement_name(o.enforcement),
                    passed: o.passed,
                    value: o.value,
                    threshold: o.threshold,
                    detail: o.detail,
                },
            )
        })
        .collect::<PyResult<Vec<_>>>()?;
    Ok(PyComplianceReport {
        compliant: r.compliant,
        rules,
    })
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyConstitution>()?;
    m.add_class::<PyRule>()?;
    m.add_class::<PyRuleOutcome>()?;
    m.add_class::<PyComplianceReport>()?;
    Ok(())
}
