//! `Constitution`: thresholds, rules and the hash envelopes name as their `policy`.

use std::sync::Arc;

use napi::bindgen_prelude::*;
use napi::Env;
use napi_derive::napi;

use crate::errors::{core_err, guard, type_err, Result};
use crate::options::{Options, Shape};

/// A validated constitution: thresholds, rules and its hash (the envelope's `policy`).
#[napi]
pub struct Constitution {
    pub(crate) inner: Arc<bizra::Constitution>,
}

/// One rule of a constitution.
#[napi(object)]
pub struct Rule {
    pub id: String,
    pub name: String,
    pub description: String,
    /// `"strict"` or `"advisory"`.
    pub enforcement: String,
    pub penalty: String,
}

/// What the compliance check judges (`Constitution.check`'s argument, read strictly).
#[napi(object)]
pub struct ComplianceInput {
    pub snr: Option<f64>,
    pub ihsan: Option<f64>,
    pub has_signature: bool,
    pub has_provenance: bool,
}

/// The keys of `ComplianceInput`.
const COMPLIANCE_INPUT: &[&str] = &["snr", "ihsan", "hasSignature", "hasProvenance"];

impl ComplianceInput {
    fn read(env: &Env, input: Unknown) -> Result<Self> {
        let shape = Shape {
            what: "input",
            noun: "field",
            prefix: "",
            known: COMPLIANCE_INPUT,
        };
        let o = Options::of(env, input.raw(), shape)?.ok_or_else(|| {
            type_err("input must be an object { snr?, ihsan?, hasSignature, hasProvenance }")
        })?;
        let required = |name: &str| {
            o.boolean(name)?
                .ok_or_else(|| type_err(format!("input.{name} is required (a boolean)")))
        };
        Ok(ComplianceInput {
            snr: o.number("snr")?,
            ihsan: o.number("ihsan")?,
            has_signature: required("hasSignature")?,
            has_provenance: required("hasProvenance")?,
        })
    }
}

/// The verdict on one rule.
#[napi(object)]
pub struct RuleOutcome {
    pub id: String,
    pub enforcement: String,
    pub passed: bool,
    pub value: Option<f64>,
    pub threshold: Option<f64>,
    pub detail: String,
}

/// The verdict of `Constitution.check`.
#[napi(object)]
pub struct ComplianceReport {
    pub compliant: bool,
    pub rules: Vec<RuleOutcome>,
}

fn enforcement_name(e: &bizra::constitution::Enforcement) -> String {
    format!("{e:?}").to_lowercase()
}

impl Constitution {
    fn of(c: bizra::Constitution) -> Self {
        Constitution { inner: Arc::new(c) }
    }
}

#[napi]
impl Constitution {
    /// The embedded default constitution (tests/vectors/constitution-v1.json).
    #[napi(factory, js_name = "default")]
    pub fn default_constitution() -> Result<Constitution> {
        guard(|| Ok(Constitution::of(bizra::Constitution::default_ref().clone())))
    }
    /// Parses and validates constitution JSON.
    #[napi(factory)]
    pub fn from_json(text: String) -> Result<Constitution> {
        guard(|| {
            Ok(Constitution::of(
                bizra::Constitution::from_json(&text).map_err(core_err)?,
            ))
        })
    }
    /// Reads and validates a constitution file.
    #[napi(factory)]
    pub fn load(path: String) -> Result<Constitution> {
        guard(|| {
            Ok(Constitution::of(
                bizra::Constitution::load(&path).map_err(core_err)?,
            ))
        })
    }
    /// `H("bizra-constitution-v1:", JCS(constitution))`, 64 lowercase hex.
    #[napi(getter)]
    pub fn hash(&self) -> Result<String> {
        guard(|| Ok(self.inner.hash_hex()))
    }
    #[napi(getter)]
    pub fn version(&self) -> Result<String> {
        guard(|| Ok(self.inner.version().to_owned()))
    }
    #[napi(getter)]
    pub fn ihsan_minimum(&self) -> Result<f64> {
        guard(|| Ok(self.inner.ihsan_minimum()))
    }
    #[napi(getter)]
    pub fn ihsan_target(&self) -> Result<f64> {
        guard(|| Ok(self.inner.ihsan_target()))
    }
    #[napi(getter)]
    pub fn snr_threshold(&self) -> Result<f64> {
        guard(|| Ok(self.inner.snr_threshold()))
    }
    #[napi(getter)]
    pub fn max_ttl_seconds(&self) -> Result<i64> {
        guard(|| Ok(self.inner.max_ttl_seconds()))
    }
    #[napi(getter)]
    pub fn max_clock_skew_seconds(&self) -> Result<i64> {
        guard(|| Ok(self.inner.max_clock_skew_seconds()))
    }
    #[napi(getter)]
    pub fn rules(&self) -> Result<Vec<Rule>> {
        guard(|| {
            Ok(self
                .inner
                .rules()
                .iter()
                .map(|r| Rule {
                    id: r.id.clone(),
                    name: r.name.clone(),
                    description: r.description.clone(),
                    enforcement: enforcement_name(&r.enforcement),
                    penalty: r.penalty.clone(),
                })
                .collect())
        })
    }
    /// Approvals a federation decision needs among `n` validators: floor(2n/3)+1.
    #[napi]
    pub fn quorum(n: u32) -> Result<u32> {
        guard(|| Ok(u32::try_from(bizra::Constitution::quorum(n as usize)).unwrap_or(u32::MAX)))
    }
    /// Judges an output against every rule (missing scores fail: fail-closed).
    #[napi(ts_args_type = "input: ComplianceInput")]
    pub fn check(&self, env: Env, input: Unknown) -> Result<ComplianceReport> {
        guard(|| {
            let input = ComplianceInput::read(&env, input)?;
            let r = self.inner.check(&bizra::ComplianceInput {
                snr: input.snr,
                ihsan: input.ihsan,
                has_signature: input.has_signature,
                has_provenance: input.has_provenance,
            });
            Ok(ComplianceReport {
                compliant: r.compliant,
                rules: r
                    .rules
                    .into_iter()
                    .map(|o| RuleOutcome {
                        id: o.id,
                        enforcement: enforcement_name(&o.enforcement),
                        passed: o.passed,
                        value: o.value,
                        threshold: o.threshold,
                        detail: o.detail,
                    })
                    .collect(),
            })
        })
    }
}
