//! The constitution: thresholds and rules a node applies, identified by its hash.
//!
//! The default is `tests/vectors/constitution-v1.json`, embedded. Another can be loaded from a file; its
//! thresholds then drive the gates, and its hash (`H("bizra-constitution-v1:", JCS(file))`) goes
//! into every envelope's `policy`, so a verifier can tell which rules the sender applied.

use std::collections::HashSet;
use std::path::Path;
use std::sync::OnceLock;

use serde_json::Value;

use crate::canonical;
use crate::hash::{domain_hash, to_hex, Domain};
use crate::{Envelope, Error, Result};

// A link in the crate's directory to tests/vectors/constitution-v1.json, so that the packaged crate
// carries the file (cargo packages a link as the file it points to).
const DEFAULT_JSON: &str = include_str!("../constitution-v1.json");

/// The only quorum rule implemented: strictly more than two thirds of the validators.
pub const QUORUM_RULE: &str = "floor(2n/3)+1";

/// How strictly a rule is enforced.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Enforcement {
    /// A violation makes the output non-compliant.
    Strict,
    /// A violation is reported but does not affect compliance.
    Advisory,
}

/// One rule of the constitution.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rule {
    /// Stable identifier, such as `IHSAN_001`.
    pub id: String,
    /// Short name.
    pub name: String,
    /// What the rule requires.
    pub description: String,
    /// How strictly it is enforced.
    pub enforcement: Enforcement,
    /// What a violation costs (`reject`, `none`, ...), as the file states it.
    pub penalty: String,
}

/// A validated constitution. Immutable; `Send + Sync`.
#[derive(Clone, Debug, PartialEq)]
pub struct Constitution {
    version: String,
    ihsan_minimum: f64,
    ihsan_target: f64,
    snr_threshold: f64,
    max_ttl_seconds: i64,
    max_clock_skew_seconds: i64,
    rules: Vec<Rule>,
    hash: [u8; 32],
}

/// The facts about one output that the compliance check judges.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct ComplianceInput {
    /// Measured SNR, if any (a missing score fails its rule: fail-closed).
    pub snr: Option<f64>,
    /// Measured Ihsan, if any (a missing score fails its rule: fail-closed).
    pub ihsan: Option<f64>,
    /// Whether the output carries a valid signature by its sender.
    pub has_signature: bool,
    /// Whether the output names the envelopes it derives from.
    pub has_provenance: bool,
}

impl ComplianceInput {
    /// The facts an envelope states about itself: its asserted scores, whether its content hash
    /// and signature verify (strictly, under its own public key), and whether it names envelopes
    /// it derives from. Time plays no part: an expired envelope was still signed.
    pub fn of_envelope(envelope: &Envelope) -> Self {
        Self {
            snr: envelope.scores().snr,
            ihsan: envelope.scores().ihsan,
            has_signature: envelope.check_content_hash().is_ok()
                && envelope.check_signature().is_ok(),
            has_provenance: !envelope.provenance().is_empty(),
        }
    }
}

/// The verdict on one rule.
#[derive(Clone, Debug, PartialEq)]
pub struct RuleOutcome {
    /// The rule's id.
    pub id: String,
    /// The rule's enforcement.
    pub enforcement: Enforcement,
    /// Whether the rule is satisfied.
    pub passed: bool,
    /// The value judged, where the rule is a threshold (None when it was missing).
    pub value: Option<f64>,
    /// The threshold, where the rule is one.
    pub threshold: Option<f64>,
    /// Why, in words.
    pub detail: String,
}

/// The verdict of [`Constitution::check`].
#[derive(Clone, Debug, PartialEq)]
pub struct ComplianceReport {
    /// True when no strict rule failed.
    pub compliant: bool,
    /// One outcome per rule, in the constitution's order.
    pub rules: Vec<RuleOutcome>,
}

impl Default for Constitution {
    fn default() -> Self {
        Self::default_ref().clone()
    }
}

impl Constitution {
    /// The embedded default constitution, parsed once per process.
    pub fn default_ref() -> &'static Constitution {
        static DEFAULT: OnceLock<Constitution> = OnceLock::new();
        DEFAULT.get_or_init(|| {
            // The embedded file is tested to parse; failing here would be a build defect.
            Self::from_json(DEFAULT_JSON).unwrap_or_else(|e| panic!("embedded constitution: {e}"))
        })
    }

    /// Reads and validates a constitution file.
    pub fn load(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        Self::from_json(&text).map_err(|e| match e {
            Error::Constitution(m) => Error::Constitution(format!("{}: {m}", path.display())),
            other => other,
        })
    }

    /// Parses and validates constitution JSON (I-JSON): thresholds in [0, 1], positive time limits,
    /// the known quorum rule, rule ids present and unique.
    pub fn from_json(text: &str) -> Result<Self> {
        let value = canonical::parse(text).map_err(|e| bad(format!("not I-JSON: {e}")))?;
        let hash = domain_hash(
            Domain::Constitution,
            &canonical::to_vec(&value).map_err(|e| bad(e.to_string()))?,
        );
        let obj = value
            .as_object()
            .ok_or_else(|| bad("must be a JSON object"))?;
        let get = |k: &str| obj.get(k).ok_or_else(|| bad(format!("missing {k:?}")));
        let version = get("version")?
            .as_str()
            .ok_or_else(|| bad("version must be a string"))?
            .to_owned();
        let ihsan = get("ihsan")?;
        let ihsan_minimum = unit(ihsan.get("minimum"), "ihsan.minimum")?;
        let ihsan_target = unit(ihsan.get("target"), "ihsan.target")?;
        if ihsan_target < ihsan_minimum {
            return Err(bad(format!(
                "ihsan.target {ihsan_target} is below ihsan.minimum {ihsan_minimum}"
            )));
        }
        let snr_threshold = unit(obj.get("snr_threshold"), "snr_threshold")?;
        let max_ttl_seconds = positive(obj.get("max_ttl_seconds"), "max_ttl_seconds")?;
        let max_clock_skew_seconds =
            positive(obj.get("max_clock_skew_seconds"), "max_clock_skew_seconds")?;
        match get("quorum")?.as_str() {
            Some(QUORUM_RULE) => {}
            _ => return Err(bad(format!("quorum must be {QUORUM_RULE:?}"))),
        }
        let rules = get("rules")?
            .as_array()
            .ok_or_else(|| bad("rules must be an array"))?
            .iter()
            .enumerate()
            .map(|(i, r)| rule(r).map_err(|m| bad(format!("rules[{i}]: {m}"))))
            .collect::<Result<Vec<_>>>()?;
        let mut seen = HashSet::new();
        if let Some(dup) = rules.iter().find(|r| !seen.insert(r.id.as_str())) {
            return Err(bad(format!("duplicate rule id {:?}", dup.id)));
        }
        Ok(Self {
            version,
            ihsan_minimum,
            ihsan_target,
            snr_threshold,
            max_ttl_seconds,
            max_clock_skew_seconds,
            rules,
            hash,
        })
    }

    /// `H("bizra-constitution-v1:", JCS(constitution))`.
    pub fn hash(&self) -> &[u8; 32] {
        &self.hash
    }
    /// The hash as lowercase hex, as it appears in `policy`.
    pub fn hash_hex(&self) -> String {
        to_hex(&self.hash)
    }
    /// The constitution's own version string.
    pub fn version(&self) -> &str {
        &self.version
    }
    /// Least Ihsan score an accepted output has.
    pub fn ihsan_minimum(&self) -> f64 {
        self.ihsan_minimum
    }
    /// The Ihsan score aimed for.
    pub fn ihsan_target(&self) -> f64 {
        self.ihsan_target
    }
    /// Least SNR score an accepted output has.
    pub fn snr_threshold(&self) -> f64 {
        self.snr_threshold
    }
    /// Longest envelope ttl, in seconds.
    pub fn max_ttl_seconds(&self) -> i64 {
        self.max_ttl_seconds
    }
    /// How far in the future a timestamp may lie, in seconds.
    pub fn max_clock_skew_seconds(&self) -> i64 {
        self.max_clock_skew_seconds
    }
    /// The rules, in file order.
    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    /// Approvals a federation decision needs among `n` validators: floor(2n/3)+1.
    pub fn quorum(n: usize) -> usize {
        2 * n / 3 + 1
    }

    /// Judges an output against every rule. Missing scores fail their rules (fail-closed); a rule
    /// this implementation cannot evaluate fails when strict. `BFT_001` concerns federation
    /// decisions, not single outputs, and passes here as not applicable.
    pub fn check(&self, input: &ComplianceInput) -> ComplianceReport {
        let rules: Vec<RuleOutcome> = self
            .rules
            .iter()
            .map(|r| {
                let threshold_rule = |value: Option<f64>, threshold: f64, what: &str| {
                    let passed = value.is_some_and(|v| v >= threshold);
                    let detail = match value {
                        Some(v) if passed => format!("{what} {v} ≥ {threshold}"),
                        Some(v) => format!("{what} {v} < {threshold}"),
                        None => format!("{what} not measured (fail-closed)"),
                    };
                    (passed, value, Some(threshold), detail)
                };
                let flag = |ok: bool, yes: &str, no: &str| {
                    (ok, None, None, (if ok { yes } else { no }).to_owned())
                };
                let (passed, value, threshold, detail) = match r.id.as_str() {
                    "IHSAN_001" => threshold_rule(input.ihsan, self.ihsan_minimum, "ihsan"),
                    "SNR_001" => threshold_rule(input.snr, self.snr_threshold, "snr"),
                    "CRYPTO_001" => flag(input.has_signature, "signed", "no valid signature"),
                    "PROV_001" => flag(input.has_provenance, "provenance named", "no provenance"),
                    "BFT_001" => flag(true, "not applicable to a single output", ""),
                    _ => flag(
                        r.enforcement == Enforcement::Advisory,
                        "unknown advisory rule, not evaluated",
                        "unknown strict rule, cannot be evaluated (fail-closed)",
                    ),
                };
                RuleOutcome {
                    id: r.id.clone(),
                    enforcement: r.enforcement,
                    passed,
                    value,
                    threshold,
                    detail,
                }
            })
            .collect();
        ComplianceReport {
            compliant: rules
                .iter()
                .all(|o| o.passed || o.enforcement == Enforcement::Advisory),
            rules,
        }
    }
}

fn bad(m: impl Into<String>) -> Error {
    Error::Constitution(m.into())
}

fn unit(v: Option<&Value>, name: &str) -> Result<f64> {
    match v.and_then(Value::as_f64) {
        Some(x) if (0.0..=1.0).contains(&x) => Ok(x),
        Some(x) => Err(bad(format!("{name} must lie in [0, 1], got {x}"))),
        None => Err(bad(format!("{name} must be a number in [0, 1]"))),
    }
}

fn positive(v: Option<&Value>, name: &str) -> Result<i64> {
    match v.and_then(Value::as_i64) {
        Some(x) if x > 0 => Ok(x),
        _ => Err(bad(format!("{name} must be a positive integer"))),
    }
}

fn rule(v: &Value) -> std::result::Result<Rule, String> {
    let s = |k: &str| {
        v.get(k)
            .and_then(Value::as_str)
            .map(str::to_owned)
            .ok_or_else(|| format!("{k} must be a string"))
    };
    let id = s("id")?;
    if id.is_empty() {
        return Err("id is empty".into());
    }
    let enforcement = match s("enforcement")?.as_str() {
        "strict" => Enforcement::Strict,
        "advisory" => Enforcement::Advisory,
        other => {
            return Err(format!(
                "enforcement {other:?} is neither strict nor advisory"
            ))
        }
    };
    Ok(Rule {
        id,
        name: s("name")?,
        description: s("description")?,
        enforcement,
        penalty: s("penalty")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Identity;

    #[test]
    fn an_envelope_states_its_compliance_facts() {
        let id = Identity::from_seed(&[9u8; 32]).unwrap();
        let env = Envelope::builder(serde_json::json!({"a": 1}))
            .snr(0.9)
            .ihsan(0.96)
            .sign(&id)
            .unwrap();
        let input = ComplianceInput::of_envelope(&env);
        assert_eq!(
            input,
            ComplianceInput {
                snr: Some(0.9),
                ihsan: Some(0.96),
                has_signature: true,
                has_provenance: false,
            }
        );
        assert!(Constitution::default().check(&input).compliant);

        let derived = Envelope::builder(serde_json::json!({"b": 2}))
            .provenance([env.id()])
            .sign(&id)
            .unwrap();
        let input = ComplianceInput::of_envelope(&derived);
        assert!(input.has_provenance && input.snr.is_none());
        assert!(!Constitution::default().check(&input).compliant);

        // A payload changed after signing: the content hash no longer holds.
        let mut v: Value = serde_json::from_str(&env.to_json()).unwrap();
        v["payload"]["a"] = serde_json::json!(2);
        let tampered = Envelope::from_value(v).unwrap();
        assert!(!ComplianceInput::of_envelope(&tampered).has_signature);
    }
}
