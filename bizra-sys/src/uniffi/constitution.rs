//! `Constitution`: thresholds, rules, hash and the compliance check.

use std::sync::Arc;

use super::BizraError;

/// How strictly a rule is enforced.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, ::uniffi::Enum)]
pub enum Enforcement {
    /// A violation makes the output non-compliant.
    Strict,
    /// A violation is reported only.
    Advisory,
}

impl From<bizra_core::constitution::Enforcement> for Enforcement {
    fn from(e: bizra_core::constitution::Enforcement) -> Self {
        match e {
            bizra_core::constitution::Enforcement::Strict => Enforcement::Strict,
            bizra_core::constitution::Enforcement::Advisory => Enforcement::Advisory,
        }
    }
}

/// One rule of the constitution.
#[derive(Debug, Clone, PartialEq, Eq, ::uniffi::Record)]
pub struct Rule {
    /// Stable identifier, such as `IHSAN_001`.
    pub id: String,
    /// Short name.
    pub name: String,
    /// What the rule requires.
    pub description: String,
    /// How strictly it is enforced.
    pub enforcement: Enforcement,
    /// What a violation costs, as the file states it.
    pub penalty: String,
}

/// The facts about one output that the compliance check judges.
#[derive(Debug, Clone, Copy, PartialEq, Default, ::uniffi::Record)]
pub struct ComplianceInput {
    /// Measured SNR (missing fails its rule: fail-closed).
    #[uniffi(default = None)]
    pub snr: Option<f64>,
    /// Measured Ihsan (missing fails its rule: fail-closed).
    #[uniffi(default = None)]
    pub ihsan: Option<f64>,
    /// Whether the output carries a valid signature by its sender.
    #[uniffi(default = false)]
    pub has_signature: bool,
    /// Whether the output names the envelopes it derives from.
    #[uniffi(default = false)]
    pub has_provenance: bool,
}

/// The verdict on one rule.
#[derive(Debug, Clone, PartialEq, ::uniffi::Record)]
pub struct RuleOutcome {
    /// The rule's id.
    pub id: String,
    /// The rule's enforcement.
    pub enforcement: Enforcement,
    /// Whether the rule is satisfied.
    pub passed: bool,
    /// The value judged, where the rule is a threshold.
    pub value: Option<f64>,
    /// The threshold, where the rule is one.
    pub threshold: Option<f64>,
    /// Why, in words.
    pub detail: String,
}

/// The verdict of `Constitution.check`.
#[derive(Debug, Clone, PartialEq, ::uniffi::Record)]
pub struct ComplianceReport {
    /// True when no strict rule failed.
    pub compliant: bool,
    /// One outcome per rule, in the constitution's order.
    pub rules: Vec<RuleOutcome>,
}

/// A validated constitution (`tests/vectors/constitution-v1.json` is the default). Immutable.
#[derive(Debug, ::uniffi::Object)]
#[uniffi::export(Eq)]
pub struct Constitution {
    pub(crate) inner: Arc<bizra_core::Constitution>,
}

impl PartialEq for Constitution {
    fn eq(&self, other: &Self) -> bool {
        self.inner.hash() == other.inner.hash()
    }
}

impl Eq for Constitution {}

#[::uniffi::export]
impl Constitution {
    /// The default constitution (`constitution-v1.json`).
    #[uniffi::constructor]
    pub fn new() -> Self {
        Constitution {
            inner: Arc::new(bizra_core::Constitution::default()),
        }
    }

    /// Reads and validates a constitution file.
    #[uniffi::constructor]
    pub fn load(path: String) -> Result<Self, BizraError> {
        Ok(Constitution {
            inner: Arc::new(bizra_core::Constitution::load(&path)?),
        })
    }

    /// Validates constitution JSON text.
    #[uniffi::constructor]
    pub fn from_json(json: String) -> Result<Self, BizraError> {
        Ok(Constitution {
            inner: Arc::new(bizra_core::Constitution::from_json(&json)?),
        })
    }

    /// `H("bizra-constitution-v1:", JCS(constitution))`, 64 lowercase hex: what envelopes carry
    /// as `policy`.
    pub fn hash_hex(&self) -> String {
        self.inner.hash_hex()
    }

    /// The hash as 32 bytes.
    pub fn hash_bytes(&self) -> Vec<u8> {
        self.inner.hash().to_vec()
    }

    /// The constitution's own version string.
    pub fn version(&self) -> String {
        self.inner.version().to_string()
    }

    /// The Ihsan minimum (the Ihsan gate's threshold).
    pub fn ihsan_minimum(&self) -> f64 {
        self.inner.ihsan_minimum()
    }

    /// The Ihsan target.
    pub fn ihsan_target(&self) -> f64 {
        self.inner.ihsan_target()
    }

    /// The SNR threshold (the SNR gate's).
    pub fn snr_threshold(&self) -> f64 {
        self.inner.snr_threshold()
    }

    /// The largest ttl, seconds.
    pub fn max_ttl_seconds(&self) -> i64 {
        self.inner.max_ttl_seconds()
    }

    /// The allowed clock skew, seconds.
    pub fn max_clock_skew_seconds(&self) -> i64 {
        self.inner.max_clock_skew_seconds()
    }

    /// The rules, in the file's order.
    pub fn rules(&self) -> Vec<Rule> {
        self.inner
            .rules()
            .iter()
            .map(|r| Rule {
                id: r.id.clone(),
                name: r.name.clone(),
                description: r.description.clone(),
                enforcement: r.enforcement.into(),
                penalty: r.penalty.clone(),
            })
            .collect()
    }

    /// Judges one output against every rule.
    pub fn check(&self, input: ComplianceInput) -> ComplianceReport {
        let report = self.inner.check(&bizra_core::ComplianceInput {
            snr: input.snr,
            ihsan: input.ihsan,
            has_signature: input.has_signature,
            has_provenance: input.has_provenance,
        });
        ComplianceReport {
            compliant: report.compliant,
            rules: report
                .rules
                .into_iter()
                .map(|o| RuleOutcome {
                    id: o.id,
                    enforcement: o.enforcement.into(),
                    passed: o.passed,
                    value: o.value,
                    threshold: o.threshold,
                    detail: o.detail,
                })
                .collect(),
        }
    }
}

/// The BFT quorum for `n` validators: floor(2n/3)+1 (`n` at most 2^32 − 1).
#[::uniffi::export]
pub fn quorum(n: u64) -> Result<u64, BizraError> {
    let n = u32::try_from(n).map_err(|_| BizraError::invalid("n must be below 2^32"))?;
    Ok(bizra_core::Constitution::quorum(n as usize) as u64)
}
