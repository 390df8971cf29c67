//! `GateChain` with built-in gates and foreign custom gates (a callback interface).

use std::sync::{Arc, RwLock, RwLockReadGuard};
use std::time::{Duration, SystemTime};

use super::constitution::Constitution;
use super::envelope::{Envelope, ReplayCache};
use super::{from_timestamp, opt_timestamp, BizraError};

/// A gate's cost tier: gates run cheapest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, ::uniffi::Enum)]
pub enum GateTier {
    /// Microseconds: form checks.
    Cheap,
    /// Milliseconds: signatures, schemas.
    Medium,
    /// Anything slower.
    Expensive,
}

impl From<GateTier> for bizra_core::GateTier {
    fn from(t: GateTier) -> Self {
        match t {
            GateTier::Cheap => bizra_core::GateTier::Cheap,
            GateTier::Medium => bizra_core::GateTier::Medium,
            GateTier::Expensive => bizra_core::GateTier::Expensive,
        }
    }
}

impl From<bizra_core::GateTier> for GateTier {
    fn from(t: bizra_core::GateTier) -> Self {
        match t {
            bizra_core::GateTier::Cheap => GateTier::Cheap,
            bizra_core::GateTier::Medium => GateTier::Medium,
            bizra_core::GateTier::Expensive => GateTier::Expensive,
        }
    }
}

/// The built-in gates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, ::uniffi::Enum)]
pub enum BuiltinKind {
    /// Form and ttl; with a payload schema, the payload too (code 20).
    Schema,
    /// Sender, content hash and signature.
    Signature,
    /// Not expired, not from the future.
    Freshness,
    /// Not seen before while valid.
    Replay,
    /// The envelope's policy is the chain's constitution hash.
    Policy,
    /// SNR at least the constitution's threshold (code 23).
    Snr,
    /// Ihsan at least the constitution's minimum (code 25).
    Ihsan,
}

impl From<BuiltinKind> for bizra_core::BuiltinKind {
    fn from(k: BuiltinKind) -> Self {
        match k {
            BuiltinKind::Schema => bizra_core::BuiltinKind::Schema,
            BuiltinKind::Signature => bizra_core::BuiltinKind::Signature,
            BuiltinKind::Freshness => bizra_core::BuiltinKind::Freshness,
            BuiltinKind::Replay => bizra_core::BuiltinKind::Replay,
            BuiltinKind::Policy => bizra_core::BuiltinKind::Policy,
            BuiltinKind::Snr => bizra_core::BuiltinKind::Snr,
            BuiltinKind::Ihsan => bizra_core::BuiltinKind::Ihsan,
        }
    }
}

/// A user-defined gate, implemented in Kotlin or Swift.
///
/// `check` returns null to admit, or a reason to refuse; a refusal is reject code 24
/// (GATE_CUSTOM) with the reason as detail. A gate that throws refuses too (code 24), so a
/// broken gate never admits. It runs after the built-in gates (the signature among them), on any
/// thread that calls `check` or `admit` on the chain; it must not modify the chain it belongs
/// to.
#[::uniffi::export(callback_interface)]
pub trait CustomGate: Send + Sync {
    /// Judges `envelope` at `now`: null admits, a string refuses with that reason.
    fn check(&self, envelope: Arc<Envelope>, now: SystemTime)
        -> Result<Option<String>, BizraError>;
}

struct ForeignGate {
    name: String,
    tier: bizra_core::GateTier,
    gate: Box<dyn CustomGate>,
}

impl bizra_core::Gate for ForeignGate {
    fn name(&self) -> &str {
        &self.name
    }
    fn tier(&self) -> bizra_core::GateTier {
        self.tier
    }
    fn check(&self, ctx: &bizra_core::GateContext<'_>) -> Result<(), String> {
        let envelope = Arc::new(Envelope {
            inner: ctx.envelope.clone(),
        });
        match self.gate.check(envelope, from_timestamp(ctx.now)) {
            Ok(None) => Ok(()),
            Ok(Some(reason)) => Err(reason),
            Err(e) => Err(format!("gate failed: {e}")),
        }
    }
}

/// The verdict of one gate.
#[derive(Debug, Clone, PartialEq, ::uniffi::Record)]
pub struct GateResult {
    /// The gate's name.
    pub name: String,
    /// Its tier.
    pub tier: GateTier,
    /// Whether it admitted the envelope.
    pub passed: bool,
    /// The reject code when it refused.
    pub code: Option<u32>,
    /// The reject code's name when it refused.
    pub code_name: Option<String>,
    /// Why it refused.
    pub detail: Option<String>,
    /// How long it took.
    pub duration: Duration,
    /// Whether it took longer than its tier's budget.
    pub over_budget: bool,
}

/// The verdict of a chain: every gate that ran, in order.
#[derive(Debug, Clone, PartialEq, ::uniffi::Record)]
pub struct GateReport {
    /// True when every gate passed (and, for `admit`, the envelope was admitted).
    pub passed: bool,
    /// The reject code of the first refusal.
    pub code: Option<u32>,
    /// Per-gate results.
    pub results: Vec<GateResult>,
}

impl From<bizra_core::GateResult> for GateResult {
    fn from(g: bizra_core::GateResult) -> Self {
        GateResult {
            name: g.name,
            tier: g.tier.into(),
            passed: g.passed,
            code: g.code.map(bizra_core::RejectCode::code),
            code_name: g.code.map(|c| c.name().to_string()),
            detail: g.detail,
            duration: g.duration,
            over_budget: g.over_budget,
        }
    }
}

impl From<bizra_core::GateReport> for GateReport {
    fn from(r: bizra_core::GateReport) -> Self {
        GateReport {
            passed: r.passed,
            code: r.code().map(bizra_core::RejectCode::code),
            results: r.results.into_iter().map(GateResult::from).collect(),
        }
    }
}

/// The core's report again, so that its methods (not a copy of their rules) answer for the
/// record. A code the spec does not define counts as no code.
impl From<&GateReport> for bizra_core::GateReport {
    fn from(r: &GateReport) -> Self {
        bizra_core::GateReport {
            passed: r.passed,
            results: r
                .results
                .iter()
                .map(|g| bizra_core::GateResult {
                    name: g.name.clone(),
                    tier: g.tier.into(),
                    passed: g.passed,
                    code: g.code.and_then(bizra_core::RejectCode::from_code),
                    detail: g.detail.clone(),
                    duration: g.duration,
                    over_budget: g.over_budget,
                })
                .collect(),
        }
    }
}

#[::uniffi::export]
impl GateReport {
    /// The first refusal, or null when every gate passed.
    pub fn first_failure(&self) -> Option<GateResult> {
        bizra_core::GateReport::from(self)
            .first_failure()
            .cloned()
            .map(GateResult::from)
    }

    /// Nothing when the report admits the envelope; else throws its first refusal as
    /// `BizraException.Rejected` (code, name, `gate NAME: why`), as `GateChain.admit` would.
    pub fn throw_if_refused(&self) -> Result<(), BizraError> {
        Ok(bizra_core::GateReport::from(self).into_result()?)
    }
}

/// An ordered, tiered, fail-closed set of gates over one constitution. Thread-safe: many threads
/// may `check` and `admit` at once; the `add*`/`set*` calls wait for running ones. A node that
/// runs consensus with the chain (`NodeOptions.gates`) holds it, as the core does: until that
/// node stops, the `add*`/`set*` calls throw `InvalidInput` (the chain judging a federation's
/// proposals does not change under it).
#[derive(Debug, ::uniffi::Object)]
pub struct GateChain {
    inner: RwLock<Arc<bizra_core::GateChain>>,
}

impl GateChain {
    fn new_inner(chain: bizra_core::GateChain) -> Self {
        GateChain {
            inner: RwLock::new(Arc::new(chain)),
        }
    }

    fn read(&self) -> RwLockReadGuard<'_, Arc<bizra_core::GateChain>> {
        self.inner.read().unwrap_or_else(|e| e.into_inner())
    }

    /// Changes the chain, unless a running node holds it.
    fn write<T>(
        &self,
        change: impl FnOnce(&mut bizra_core::GateChain) -> T,
    ) -> Result<T, BizraError> {
        let mut guard = self.inner.write().unwrap_or_else(|e| e.into_inner());
        let chain = Arc::get_mut(&mut guard).ok_or_else(|| {
            BizraError::invalid(
                "this gate chain is held by a running node (NodeOptions.gates): it cannot change \
                 until the node stops; configure a chain before starting the node",
            )
        })?;
        Ok(change(chain))
    }

    /// The chain itself, shared with a node's consensus (`NodeOptions.gates`).
    pub(super) fn shared(&self) -> Arc<bizra_core::GateChain> {
        Arc::clone(&self.read())
    }
}

#[::uniffi::export]
impl GateChain {
    /// Every built-in gate over the default constitution, with its own replay cache.
    #[uniffi::constructor]
    pub fn new() -> Self {
        GateChain::new_inner(bizra_core::GateChain::default())
    }

    /// Every built-in gate over `constitution`.
    #[uniffi::constructor]
    pub fn from_constitution(constitution: Arc<Constitution>) -> Self {
        GateChain::new_inner(bizra_core::GateChain::from_constitution(
            constitution.inner.clone(),
        ))
    }

    /// A chain with no gates, which admits nothing until gates are added.
    #[uniffi::constructor]
    pub fn empty(constitution: Arc<Constitution>) -> Self {
        GateChain::new_inner(bizra_core::GateChain::empty(constitution.inner.clone()))
    }

    /// Adds a built-in gate (adding one already present changes nothing).
    pub fn add_builtin(&self, kind: BuiltinKind) -> Result<(), BizraError> {
        self.write(|c| {
            c.add_builtin(kind.into());
        })
    }

    /// Adds a foreign gate: its `name`, its `tier`, its function, as in every binding (refusals:
    /// code 24). It runs after the built-in gates.
    pub fn add_gate(
        &self,
        name: String,
        tier: GateTier,
        gate: Box<dyn CustomGate>,
    ) -> Result<(), BizraError> {
        self.write(|c| {
            c.add_gate(Box::new(ForeignGate {
                name,
                tier: tier.into(),
                gate,
            }));
        })
    }

    /// Validates payloads against a JSON Schema (refusals: code 20); adds the schema gate.
    pub fn set_payload_schema(&self, schema_json: String) -> Result<(), BizraError> {
        let schema = bizra_core::canonical::parse(&schema_json)
            .map_err(|e| BizraError::invalid(format!("schema is not I-JSON: {e}")))?;
        self.write(|c| c.set_payload_schema(&schema).map(|_| ()))??;
        Ok(())
    }

    /// Shares a replay cache with other chains or with `Envelope.verify`.
    pub fn set_replay_cache(&self, cache: Arc<ReplayCache>) -> Result<(), BizraError> {
        self.write(|c| {
            c.set_replay_cache(cache.inner.clone());
        })
    }

    /// The replay cache the replay gate uses.
    pub fn replay_cache(&self) -> Arc<ReplayCache> {
        Arc::new(ReplayCache {
            inner: self.read().replay_cache().clone(),
        })
    }

    /// Report mode: run every gate even after a failure (nothing is admitted either way).
    pub fn set_report_all(&self, on: bool) -> Result<(), BizraError> {
        self.write(|c| {
            c.set_report_all(on);
        })
    }

    /// The constitution whose thresholds the gates apply.
    pub fn constitution(&self) -> Arc<Constitution> {
        Arc::new(Constitution {
            inner: Arc::new(self.read().constitution().clone()),
        })
    }

    /// The gates' names, in the order they run.
    pub fn gate_names(&self) -> Vec<String> {
        self.read().gate_names()
    }

    /// Judges `envelope` at `now` (default: the system clock) without admitting it: nothing is
    /// recorded, so the replay gate refuses only ids admitted before (`admit` admits).
    #[uniffi::method(default(now = None))]
    pub fn check(
        &self,
        envelope: Arc<Envelope>,
        now: Option<SystemTime>,
    ) -> Result<GateReport, BizraError> {
        let now = opt_timestamp(now)?;
        Ok(self.read().check_at(&envelope.inner, now).into())
    }

    /// Judges `envelope` at `now` (default: the system clock) and, when every gate passes, admits
    /// it: the replay gate records its id, atomically (of two admissions of one envelope exactly
    /// one passes). A refusal throws `Rejected` with the first refusal's code.
    #[uniffi::method(default(now = None))]
    pub fn admit(
        &self,
        envelope: Arc<Envelope>,
        now: Option<SystemTime>,
    ) -> Result<(), BizraError> {
        let now = opt_timestamp(now)?;
        Ok(self.read().admit_at(&envelope.inner, now).into_result()?)
    }
}
