//! The gate chain: tiered, fail-closed admission of envelopes.
//!
//! A chain holds built-in gates (whose reject codes the spec fixes) and user-defined gates (which
//! always reject with [`RejectCode::GateCustom`], so no user code can impersonate a built-in
//! verdict). Built-in gates run first, cheap before medium, then user-defined gates by tier, each
//! tier in insertion order: user code sees only envelopes whose signature has been verified. The
//! chain stops at the first failure, or in report mode runs every gate. It is fail-closed: a
//! missing score fails its gate, a panicking custom gate fails, an empty chain admits nothing.
//!
//! [`GateChain::check`] observes; [`GateChain::admit`] admits. The replay gate only *looks*
//! during the checks, and `admit` *records* the id once every gate passed, atomically, so an
//! envelope refused for its signature cannot burn the id of a genuine one, and a `check` before
//! an `admit` changes nothing.

use std::fmt;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::constitution::Constitution;
use crate::payload_schema::PayloadSchema;
use crate::pci::{check_ttl, Envelope, RejectCode, ReplayCache, Timestamp};
use crate::{Error, Result};

/// How expensive a gate is; cheaper tiers run first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum GateTier {
    /// Field and score checks: budget 10 ms.
    Cheap,
    /// Hashing and signature checks: budget 150 ms.
    Medium,
    /// Anything heavier (a model call, a network lookup): budget 2 s.
    Expensive,
}

impl GateTier {
    /// The time a gate of this tier should stay within; overruns are reported, not enforced.
    pub const fn budget(self) -> Duration {
        match self {
            GateTier::Cheap => Duration::from_millis(10),
            GateTier::Medium => Duration::from_millis(150),
            GateTier::Expensive => Duration::from_secs(2),
        }
    }

    /// Lower-case name.
    pub const fn name(self) -> &'static str {
        match self {
            GateTier::Cheap => "cheap",
            GateTier::Medium => "medium",
            GateTier::Expensive => "expensive",
        }
    }
}

/// What a gate sees.
#[derive(Clone, Copy, Debug)]
pub struct GateContext<'a> {
    /// The envelope under judgement.
    pub envelope: &'a Envelope,
    /// The instant of the check.
    pub now: Timestamp,
    /// The constitution whose thresholds apply.
    pub constitution: &'a Constitution,
}

/// A user-defined gate. A refusal (`Err(reason)`) becomes [`RejectCode::GateCustom`] with the
/// reason as detail; a panic is caught and refuses too.
pub trait Gate: Send + Sync {
    /// A name for reports.
    fn name(&self) -> &str;
    /// Its cost tier.
    fn tier(&self) -> GateTier;
    /// Admits (`Ok`) or refuses with a reason.
    fn check(&self, ctx: &GateContext<'_>) -> std::result::Result<(), String>;
}

/// A closure as a [`Gate`].
pub struct FnGate<F> {
    name: String,
    tier: GateTier,
    f: F,
}

impl<F> FnGate<F>
where
    F: Fn(&GateContext<'_>) -> std::result::Result<(), String> + Send + Sync,
{
    /// Wraps `f` as a gate called `name` in `tier`.
    pub fn new(name: impl Into<String>, tier: GateTier, f: F) -> Self {
        Self {
            name: name.into(),
            tier,
            f,
        }
    }
}

impl<F> Gate for FnGate<F>
where
    F: Fn(&GateContext<'_>) -> std::result::Result<(), String> + Send + Sync,
{
    fn name(&self) -> &str {
        &self.name
    }
    fn tier(&self) -> GateTier {
        self.tier
    }
    fn check(&self, ctx: &GateContext<'_>) -> std::result::Result<(), String> {
        (self.f)(ctx)
    }
}

/// The kinds of built-in gate.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BuiltinKind {
    /// Well-formed: ttl within the constitution's range (16), sender matches the key (14), and
    /// the payload matches a JSON Schema where one is set (20).
    Schema,
    /// `content_hash` matches the payload (15) and the signature verifies strictly (21).
    Signature,
    /// Not expired (11), not beyond the constitution's clock skew in the future (13).
    Freshness,
    /// The id was not admitted before while still valid (12); a full cache refuses with 40.
    Replay,
    /// `policy` equals the chain's constitution hash (17).
    Policy,
    /// `scores.snr` ≥ the constitution's `snr_threshold` (23); missing fails.
    Snr,
    /// `scores.ihsan` ≥ the constitution's `ihsan.minimum` (25); missing fails.
    Ihsan,
}

impl BuiltinKind {
    /// Every built-in kind, in the order [`GateChain::default`] adds them.
    pub const ALL: [BuiltinKind; 7] = [
        BuiltinKind::Schema,
        BuiltinKind::Freshness,
        BuiltinKind::Policy,
        BuiltinKind::Snr,
        BuiltinKind::Ihsan,
        BuiltinKind::Replay,
        BuiltinKind::Signature,
    ];

    /// The built-in kind with this name ([`BuiltinKind::name`]): how a configuration or a
    /// command line names the gates of a chain.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.name() == name)
    }

    /// The reject codes this gate refuses with.
    pub const fn reject_codes(self) -> &'static [RejectCode] {
        match self {
            BuiltinKind::Schema => &[
                RejectCode::TtlRange,
                RejectCode::SenderMismatch,
                RejectCode::GateSchema,
            ],
            BuiltinKind::Signature => &[RejectCode::HashMismatch, RejectCode::GateSignature],
            BuiltinKind::Freshness => &[RejectCode::Expired, RejectCode::Future],
            BuiltinKind::Replay => &[RejectCode::Replay, RejectCode::Quota],
            BuiltinKind::Policy => &[RejectCode::PolicyMismatch],
            BuiltinKind::Snr => &[RejectCode::GateSnr],
            BuiltinKind::Ihsan => &[RejectCode::GateIhsan],
        }
    }

    /// The gate's name in reports.
    pub const fn name(self) -> &'static str {
        match self {
            BuiltinKind::Schema => "schema",
            BuiltinKind::Signature => "signature",
            BuiltinKind::Freshness => "freshness",
            BuiltinKind::Replay => "replay",
            BuiltinKind::Policy => "policy",
            BuiltinKind::Snr => "snr",
            BuiltinKind::Ihsan => "ihsan",
        }
    }
}

enum Entry {
    Builtin(BuiltinKind),
    Custom(Box<dyn Gate>),
}

/// The verdict of one gate.
#[derive(Clone, Debug, PartialEq)]
pub struct GateResult {
    /// The gate's name.
    pub name: String,
    /// Its tier.
    pub tier: GateTier,
    /// Whether it admitted the envelope.
    pub passed: bool,
    /// The reject code when it refused.
    pub code: Option<RejectCode>,
    /// Why it refused.
    pub detail: Option<String>,
    /// How long it took.
    pub duration: Duration,
    /// Whether it took longer than its tier's budget.
    pub over_budget: bool,
}

/// The verdict of a chain: every gate that ran, in the order it ran.
#[derive(Clone, Debug, PartialEq)]
pub struct GateReport {
    /// True when every gate passed (and the envelope was admitted).
    pub passed: bool,
    /// Per-gate results.
    pub results: Vec<GateResult>,
}

impl GateReport {
    /// The first refusal, if any.
    pub fn first_failure(&self) -> Option<&GateResult> {
        self.results.iter().find(|r| !r.passed)
    }

    /// The reject code of the first refusal.
    pub fn code(&self) -> Option<RejectCode> {
        self.first_failure().and_then(|r| r.code)
    }

    /// `Ok` when admitted, else the first refusal as an [`Error::Reject`].
    pub fn into_result(self) -> Result<()> {
        match self.first_failure() {
            None if self.passed => Ok(()),
            None => Err(Error::reject(
                RejectCode::Internal,
                "chain refused without a failing gate",
            )),
            Some(f) => Err(Error::reject(
                f.code.unwrap_or(RejectCode::Internal),
                format!("gate {}: {}", f.name, f.detail.clone().unwrap_or_default()),
            )),
        }
    }
}

/// An ordered, tiered set of gates over one constitution. `Send + Sync`: one chain can admit
/// envelopes from many threads (its replay cache is shared and atomic).
pub struct GateChain {
    constitution: Arc<Constitution>,
    entries: Vec<Entry>,
    payload_schema: Option<Arc<PayloadSchema>>,
    replay: Arc<ReplayCache>,
    report_all: bool,
}

impl Default for GateChain {
    /// Every built-in gate over the default constitution, with a replay cache of
    /// [`ReplayCache::DEFAULT_CAPACITY`] ids.
    fn default() -> Self {
        Self::from_constitution(Arc::new(Constitution::default()))
    }
}

impl fmt::Debug for GateChain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GateChain")
            .field("gates", &self.gate_names())
            .field("constitution", &self.constitution.hash_hex())
            .field("report_all", &self.report_all)
            .finish()
    }
}

impl GateChain {
    /// Every built-in gate over `constitution`.
    pub fn from_constitution(constitution: Arc<Constitution>) -> Self {
        let mut chain = Self::empty(constitution);
        for kind in BuiltinKind::ALL {
            chain.add_builtin(kind);
        }
        chain
    }

    /// A chain with no gates yet (which admits nothing until gates are added).
    pub fn empty(constitution: Arc<Constitution>) -> Self {
        Self {
            constitution,
            entries: Vec::new(),
            payload_schema: None,
            replay: Arc::new(ReplayCache::default()),
            report_all: false,
        }
    }

    /// Adds a built-in gate (once: adding a kind already present changes nothing).
    pub fn add_builtin(&mut self, kind: BuiltinKind) -> &mut Self {
        if !self
            .entries
            .iter()
            .any(|e| matches!(e, Entry::Builtin(k) if *k == kind))
        {
            self.entries.push(Entry::Builtin(kind));
        }
        self
    }

    /// Adds a user-defined gate.
    pub fn add_gate(&mut self, gate: Box<dyn Gate>) -> &mut Self {
        self.entries.push(Entry::Custom(gate));
        self
    }

    /// Adds a closure as a user-defined gate.
    pub fn add_fn<F>(&mut self, name: impl Into<String>, tier: GateTier, f: F) -> &mut Self
    where
        F: Fn(&GateContext<'_>) -> std::result::Result<(), String> + Send + Sync + 'static,
    {
        self.add_gate(Box::new(FnGate::new(name, tier, f)))
    }

    /// Makes the schema gate also validate payloads against a JSON Schema (refusals: code 20).
    /// Adds the schema gate if absent. References to other documents are not fetched.
    #[cfg(feature = "json-schema")]
    pub fn set_payload_schema(&mut self, schema: &serde_json::Value) -> Result<&mut Self> {
        self.payload_schema = Some(Arc::new(PayloadSchema::compile(schema)?));
        Ok(self.add_builtin(BuiltinKind::Schema))
    }

    /// Shares a replay cache (for example between chains, or with direct verification).
    pub fn set_replay_cache(&mut self, cache: Arc<ReplayCache>) -> &mut Self {
        self.replay = cache;
        self
    }

    /// The replay cache the replay gate uses.
    pub fn replay_cache(&self) -> &Arc<ReplayCache> {
        &self.replay
    }

    /// Report mode: run every gate even after a failure (nothing is admitted either way).
    pub fn set_report_all(&mut self, on: bool) -> &mut Self {
        self.report_all = on;
        self
    }

    /// Whether report mode is on.
    pub fn report_all(&self) -> bool {
        self.report_all
    }

    /// The constitution whose thresholds the gates apply.
    pub fn constitution(&self) -> &Constitution {
        &self.constitution
    }

    /// The gates' names, in the order they run.
    pub fn gate_names(&self) -> Vec<String> {
        self.ordered().map(|e| entry_name(e).to_owned()).collect()
    }

    /// The gates' names with their tiers, in the order they run.
    pub fn gates(&self) -> Vec<(String, GateTier)> {
        self.ordered()
            .map(|e| {
                (
                    entry_name(e).to_owned(),
                    entry_tier(e, self.payload_schema.is_some()),
                )
            })
            .collect()
    }

    /// The gates in the order they run: built-in gates by tier, then user-defined gates by tier,
    /// each tier in insertion order. User code therefore only sees envelopes that every built-in
    /// gate (the signature among them) has passed.
    fn ordered(&self) -> impl Iterator<Item = &Entry> {
        let mut v: Vec<&Entry> = self.entries.iter().collect();
        v.sort_by_key(|e| {
            (
                matches!(e, Entry::Custom(_)),
                entry_tier(e, self.payload_schema.is_some()),
            )
        });
        v.into_iter()
    }

    /// Judges an envelope at the system clock's now, without admitting it (see
    /// [`GateChain::check_at`]).
    pub fn check(&self, envelope: &Envelope) -> GateReport {
        self.check_at(envelope, Timestamp::now())
    }

    /// Judges an envelope at `now` and only observes: the replay gate refuses an id already
    /// admitted, but records nothing, so `check` then [`GateChain::admit_at`] on the same envelope
    /// admits it once.
    pub fn check_at(&self, envelope: &Envelope, now: Timestamp) -> GateReport {
        self.judge(envelope, now, Mode::Check)
    }

    /// Judges again, at a later `now`, an envelope that this chain passed before and that the
    /// caller has held since (not one read anew): like [`GateChain::check_at`], except that the
    /// signature is not verified a second time (the content hash still is). A consensus
    /// validator judges each pooled proposal when it arrives and again in every batch that
    /// holds it; the second judgement only needs to see what time may have changed (expiry,
    /// the caller's gates).
    pub fn recheck_at(&self, envelope: &Envelope, now: Timestamp) -> GateReport {
        self.judge(envelope, now, Mode::Recheck)
    }

    /// Judges and, when every gate passes, admits an envelope at the system clock's now (see
    /// [`GateChain::admit_at`]).
    pub fn admit(&self, envelope: &Envelope) -> GateReport {
        self.admit_at(envelope, Timestamp::now())
    }

    /// Judges an envelope at `now`; when every gate passes, admits it: the replay gate (if
    /// present) records its id, atomically, so of two concurrent admissions of one id exactly one
    /// passes and the other is a replay. [`GateReport::into_result`] turns a refusal into an
    /// error.
    pub fn admit_at(&self, envelope: &Envelope, now: Timestamp) -> GateReport {
        self.judge(envelope, now, Mode::Admit)
    }

    fn judge(&self, envelope: &Envelope, now: Timestamp, mode: Mode) -> GateReport {
        let ctx = GateContext {
            envelope,
            now,
            constitution: &self.constitution,
        };
        let mut results = Vec::with_capacity(self.entries.len());
        let mut passed = !self.entries.is_empty();
        let mut replay_result = None;
        for entry in self.ordered() {
            let tier = entry_tier(entry, self.payload_schema.is_some());
            let start = Instant::now();
            let verdict = match entry {
                Entry::Builtin(kind) => self.run_builtin(*kind, &ctx, mode),
                Entry::Custom(gate) => match catch_unwind(AssertUnwindSafe(|| gate.check(&ctx))) {
                    Ok(r) => r.map_err(|m| (RejectCode::GateCustom, m)),
                    Err(_) => Err((RejectCode::GateCustom, "the gate panicked".to_owned())),
                },
            };
            let duration = start.elapsed();
            let ok = verdict.is_ok();
            let (code, detail) = match verdict {
                Ok(()) => (None, None),
                Err((c, d)) => (Some(c), Some(d)),
            };
            if matches!(entry, Entry::Builtin(BuiltinKind::Replay)) {
                replay_result = Some(results.len());
            }
            results.push(GateResult {
                name: entry_name(entry).to_owned(),
                tier,
                passed: ok,
                code,
                detail,
                duration,
                over_budget: duration > tier.budget(),
            });
            if !ok {
                passed = false;
                if !self.report_all {
                    break;
                }
            }
        }
        // The replay gate only looked; the id is recorded once every gate passed, so an envelope
        // refused for its signature cannot burn the id of a genuine one.
        if passed && mode == Mode::Admit {
            if let Some(i) = replay_result {
                if let Err(e) = self.replay.admit(envelope.id(), envelope.expires_at(), now) {
                    passed = false;
                    if let Some(r) = results.get_mut(i) {
                        r.passed = false;
                        r.code = e.reject_code();
                        r.detail = Some(e.to_string());
                    }
                }
            }
        }
        if self.entries.is_empty() {
            results.push(GateResult {
                name: "empty-chain".into(),
                tier: GateTier::Cheap,
                passed: false,
                code: Some(RejectCode::Internal),
                detail: Some("the chain has no gates; it admits nothing".into()),
                duration: Duration::ZERO,
                over_budget: false,
            });
        }
        GateReport { passed, results }
    }

    fn run_builtin(
        &self,
        kind: BuiltinKind,
        ctx: &GateContext<'_>,
        mode: Mode,
    ) -> std::result::Result<(), (RejectCode, String)> {
        let env = ctx.envelope;
        let c = ctx.constitution;
        let from = |e: Error, code: Option<RejectCode>| match e {
            Error::Reject { code: own, detail } => (code.unwrap_or(own), detail),
            other => (RejectCode::Internal, other.to_string()),
        };
        match kind {
            BuiltinKind::Schema => {
                check_ttl(env.ttl(), c.max_ttl_seconds()).map_err(|m| (RejectCode::TtlRange, m))?;
                env.check_sender().map_err(|e| from(e, None))?;
                match &self.payload_schema {
                    Some(schema) => schema
                        .check(env.payload())
                        .map_err(|m| (RejectCode::GateSchema, m)),
                    None => Ok(()),
                }
            }
            BuiltinKind::Signature => {
                env.check_content_hash().map_err(|e| from(e, None))?;
                if mode == Mode::Recheck {
                    return Ok(());
                }
                env.check_signature()
                    .map_err(|e| from(e, Some(RejectCode::GateSignature)))
            }
            BuiltinKind::Freshness => env
                .check_freshness(ctx.now, c.max_clock_skew_seconds())
                .map_err(|e| from(e, None)),
            BuiltinKind::Replay => {
                if self.replay.contains(env.id(), ctx.now) {
                    Err((
                        RejectCode::Replay,
                        self.replay.refusal_detail(RejectCode::Replay, env.id()),
                    ))
                } else {
                    Ok(())
                }
            }
            BuiltinKind::Policy => env.check_policy(c.hash()).map_err(|e| from(e, None)),
            BuiltinKind::Snr => score_gate(
                env.scores().snr,
                c.snr_threshold(),
                "snr",
                RejectCode::GateSnr,
            ),
            BuiltinKind::Ihsan => score_gate(
                env.scores().ihsan,
                c.ihsan_minimum(),
                "ihsan",
                RejectCode::GateIhsan,
            ),
        }
    }
}

/// What a judgement does beyond judging.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Only look.
    Check,
    /// Look; when every gate passes, record the id with the replay gate.
    Admit,
    /// Only look, at an envelope whose signature this chain verified before.
    Recheck,
}

/// A score gate: fail-closed on a missing score.
#[inline]
pub fn score_gate(
    score: Option<f64>,
    threshold: f64,
    what: &str,
    code: RejectCode,
) -> std::result::Result<(), (RejectCode, String)> {
    match score {
        Some(v) if v >= threshold => Ok(()),
        Some(v) => Err((code, format!("{what} {v} is below {threshold}"))),
        None => Err((code, format!("{what} score missing (fail-closed)"))),
    }
}

fn entry_name(e: &Entry) -> &str {
    match e {
        Entry::Builtin(k) => k.name(),
        Entry::Custom(g) => g.name(),
    }
}

fn entry_tier(e: &Entry, has_payload_schema: bool) -> GateTier {
    match e {
        Entry::Builtin(BuiltinKind::Signature) => GateTier::Medium,
        Entry::Builtin(BuiltinKind::Schema) if has_payload_schema => GateTier::Medium,
        Entry::Builtin(_) => GateTier::Cheap,
        Entry::Custom(g) => g.tier(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_kinds_by_name() {
        for kind in BuiltinKind::ALL {
            assert_eq!(BuiltinKind::from_name(kind.name()), Some(kind));
            assert!(!kind.reject_codes().is_empty());
        }
        assert_eq!(BuiltinKind::from_name("Signature"), None);
        assert_eq!(BuiltinKind::from_name(""), None);
    }

    #[test]
    fn gates_are_listed_with_their_tiers_in_running_order() {
        let mut chain = GateChain::empty(Arc::new(Constitution::default()));
        chain
            .add_builtin(BuiltinKind::Signature)
            .add_builtin(BuiltinKind::Ihsan);
        chain.add_fn("mine", GateTier::Cheap, |_| Ok(()));
        assert_eq!(
            chain.gates(),
            vec![
                ("ihsan".to_owned(), GateTier::Cheap),
                ("signature".to_owned(), GateTier::Medium),
                ("mine".to_owned(), GateTier::Cheap),
            ]
        );
        let names: Vec<String> = chain.gates().into_iter().map(|(n, _)| n).collect();
        assert_eq!(names, chain.gate_names());
    }
}
