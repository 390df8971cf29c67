//! `GateChain` (built-in and JavaScript gates; `check` observes, `admit` admits) and its reports.

use std::cell::Cell;
use std::ptr;
use std::sync::Arc;
use std::thread::{self, ThreadId};

use bizra::gates::GateContext;
use bizra::{BuiltinKind, GateTier, Timestamp};
use napi::bindgen_prelude::*;
use napi::{sys, Env, ValueType};
use napi_derive::napi;

use crate::constitution::Constitution;
use crate::convert::{date_out, type_of, DateOut};
use crate::envelope::Envelope;
use crate::errors::{core_err, guard, napi_err, type_err, Result};
use crate::json;
use crate::options::Options;
use crate::replay::ReplayCache;

thread_local! {
  /// The env of the `GateChain.check`/`admit` call running on this thread, for JavaScript gates.
  static CURRENT_ENV: Cell<sys::napi_env> = const { Cell::new(ptr::null_mut()) };
}

struct EnvScope(sys::napi_env);

impl EnvScope {
    fn enter(env: sys::napi_env) -> Self {
        Self(CURRENT_ENV.with(|c| c.replace(env)))
    }
}

impl Drop for EnvScope {
    fn drop(&mut self) {
        CURRENT_ENV.with(|c| c.set(self.0));
    }
}

/// A JavaScript function as a core gate. It runs synchronously on the JavaScript thread inside
/// `GateChain.check`/`admit` (which are synchronous); from any other thread it refuses.
struct JsGate {
    name: String,
    tier: GateTier,
    func: FunctionRef<FnArgs<(Envelope, DateOut)>, Unknown<'static>>,
    owner: ThreadId,
}

impl bizra::Gate for JsGate {
    fn name(&self) -> &str {
        &self.name
    }
    fn tier(&self) -> GateTier {
        self.tier
    }
    fn check(&self, ctx: &GateContext<'_>) -> std::result::Result<(), String> {
        if thread::current().id() != self.owner {
            return Err("a JavaScript gate runs only on its JavaScript thread".to_owned());
        }
        let raw_env = CURRENT_ENV.with(|c| c.get());
        if raw_env.is_null() {
            return Err("a JavaScript gate runs only inside GateChain.check or admit".to_owned());
        }
        let env = Env::from_raw(raw_env);
        let f = self.func.borrow_back(&env).map_err(|e| e.reason.clone())?;
        let arg = Envelope::from(ctx.envelope.clone());
        let ret = f.call((arg, date_out(ctx.now)).into()).map_err(|e| {
            if e.reason.is_empty() {
                "the gate threw".to_owned()
            } else {
                format!("the gate threw: {}", e.reason)
            }
        })?;
        match ret.get_type().map_err(|e| e.reason.clone())? {
            // `undefined`: a gate that returns nothing admits, as in every binding.
            ValueType::Undefined => Ok(()),
            ValueType::Boolean => {
                let ok = unsafe { bool::from_napi_value(raw_env, ret.raw()) }
                    .map_err(|e| e.reason.clone())?;
                if ok {
                    Ok(())
                } else {
                    Err("refused".to_owned())
                }
            }
            ValueType::String => Err(unsafe { String::from_napi_value(raw_env, ret.raw()) }
                .map_err(|e| e.reason.clone())?),
            other => Err(format!(
                "a gate returns true or nothing (admit), or false or a reason string (refuse); \
                 it returned {other:?} (fail-closed)"
            )),
        }
    }
}

/// One gate's verdict.
#[napi(object)]
pub struct GateResult {
    pub name: String,
    /// `"cheap"`, `"medium"` or `"expensive"`.
    pub tier: String,
    pub passed: bool,
    /// The reject name when it refused, such as `"GATE_SNR"`.
    pub code: Option<String>,
    /// The spec's reject number when it refused.
    pub reject: Option<u32>,
    pub detail: Option<String>,
    pub duration_ms: f64,
    pub over_budget: bool,
}

/// A chain's verdict: every gate that ran, in order. (`index.js` gives it the `GateReport` class,
/// with `firstFailure` and `throwIfRefused()`.)
#[napi(object)]
pub struct GateReport {
    pub passed: bool,
    /// The first refusal's reject name.
    pub code: Option<String>,
    /// The first refusal's reject number.
    pub reject: Option<u32>,
    pub results: Vec<GateResult>,
}

fn report_js(r: bizra::GateReport) -> GateReport {
    let first = r.code();
    GateReport {
        passed: r.passed,
        code: first.map(|c| c.name().to_owned()),
        reject: first.map(|c| c.code()),
        results: r
            .results
            .into_iter()
            .map(|g| GateResult {
                name: g.name,
                tier: g.tier.name().to_owned(),
                passed: g.passed,
                code: g.code.map(|c| c.name().to_owned()),
                reject: g.code.map(|c| c.code()),
                detail: g.detail,
                duration_ms: g.duration.as_secs_f64() * 1000.0,
                over_budget: g.over_budget,
            })
            .collect(),
    }
}

/// An ordered, tiered, fail-closed set of gates over one constitution.
#[napi]
pub struct GateChain {
    /// Shared with the nodes started with this chain (`Node.start`'s `gates`): their consensus
    /// judges proposals with it. It changes only while no node holds it ([`GateChain::edit`]).
    inner: Arc<bizra::GateChain>,
    constitution: Arc<bizra::Constitution>,
    /// The names of its JavaScript gates, which run only on the JavaScript thread.
    js_gates: Vec<String>,
}

impl GateChain {
    fn of(inner: bizra::GateChain, constitution: Arc<bizra::Constitution>) -> Self {
        GateChain {
            inner: Arc::new(inner),
            constitution,
            js_gates: Vec::new(),
        }
    }

    /// The chain, to change it: refused while a running node judges consensus proposals with
    /// it (the node would see it change under it).
    fn edit(&mut self) -> Result<&mut bizra::GateChain> {
        Arc::get_mut(&mut self.inner).ok_or_else(|| {
            core_err(bizra::Error::InvalidInput(
                "this gate chain judges the proposals of a running node (Node.start's gates): \
                 it cannot change until that node has ended; build another chain"
                    .into(),
            ))
        })
    }

    /// The chain for a node's consensus, which judges proposals on the node's own thread: a
    /// chain with JavaScript gates is refused (they run only on the JavaScript thread, so every
    /// proposal would fail them).
    pub(crate) fn for_consensus(&self, what: &str) -> Result<Arc<bizra::GateChain>> {
        if !self.js_gates.is_empty() {
            return Err(core_err(bizra::Error::InvalidInput(format!(
                "{what} holds JavaScript gates ({}), which run only on the JavaScript thread; a \
                 node's consensus judges proposals on the node's thread: give it a chain of \
                 built-in gates",
                self.js_gates.join(", ")
            ))));
        }
        Ok(Arc::clone(&self.inner))
    }
}

fn builtin_kind(name: &str) -> Result<BuiltinKind> {
    BuiltinKind::ALL
        .into_iter()
        .find(|k| k.name() == name)
        .ok_or_else(|| {
            let names: Vec<_> = BuiltinKind::ALL.iter().map(|k| k.name()).collect();
            type_err(format!(
                "unknown built-in gate {name:?}; one of {}",
                names.join(", ")
            ))
        })
}

fn gate_tier(name: &str) -> Result<GateTier> {
    [GateTier::Cheap, GateTier::Medium, GateTier::Expensive]
        .into_iter()
        .find(|t| t.name() == name)
        .ok_or_else(|| {
            type_err(format!(
                "unknown gate tier {name:?}; one of cheap, medium, expensive"
            ))
        })
}

fn constitution_arc(c: Option<&Constitution>) -> Arc<bizra::Constitution> {
    c.map_or_else(
        || Arc::new(bizra::Constitution::default_ref().clone()),
        |c| Arc::clone(&c.inner),
    )
}

/// The instant of a `check`/`admit` (`options.now`, default the system clock).
fn judged_at(env: &Env, options: Option<Unknown>) -> Result<Timestamp> {
    Ok(Options::read(env, options, &["now"])?
        .map(|o| o.date("now"))
        .transpose()?
        .flatten()
        .unwrap_or_else(Timestamp::now))
}

#[napi]
impl GateChain {
    /// Every built-in gate over `constitution` (default: the embedded one).
    #[napi(constructor)]
    pub fn new(constitution: Option<&Constitution>) -> Result<Self> {
        guard(|| {
            let c = constitution_arc(constitution);
            Ok(GateChain::of(
                bizra::GateChain::from_constitution(Arc::clone(&c)),
                c,
            ))
        })
    }
    /// A chain with no gates yet (it admits nothing until gates are added).
    #[napi(factory)]
    pub fn empty(constitution: Option<&Constitution>) -> Result<GateChain> {
        guard(|| {
            let c = constitution_arc(constitution);
            Ok(GateChain::of(bizra::GateChain::empty(Arc::clone(&c)), c))
        })
    }
    /// Adds a built-in gate: `"schema"`, `"signature"`, `"freshness"`, `"replay"`, `"policy"`,
    /// `"snr"` or `"ihsan"`.
    #[napi]
    pub fn add_builtin(&mut self, kind: String) -> Result<()> {
        guard(|| {
            let kind = builtin_kind(&kind)?;
            self.edit()?.add_builtin(kind);
            Ok(())
        })
    }
    /// Adds a JavaScript gate `gate(envelope, now)`, run synchronously during `check` and `admit`
    /// after every built-in gate (so it sees only authenticated envelopes). It admits by returning
    /// `true` or nothing; it refuses (code 24, GATE_CUSTOM) by returning `false` or a reason
    /// string, and also by throwing or returning anything else (fail-closed).
    #[napi(
        ts_args_type = "name: string, tier: 'cheap' | 'medium' | 'expensive', gate: (envelope: Envelope, now: Date) => boolean | string | void"
    )]
    pub fn add_gate(
        &mut self,
        env: Env,
        name: String,
        tier: String,
        gate: Function<FnArgs<(Envelope, DateOut)>, Unknown<'static>>,
    ) -> Result<()> {
        guard(|| {
            let tier = gate_tier(&tier)?;
            if type_of(&env, gate.raw()) != ValueType::Function {
                return Err(type_err(
                    "gate must be a function (envelope, now) => true | false | reason string | undefined",
                ));
            }
            let func = gate.create_ref().map_err(napi_err)?;
            self.edit()?.add_gate(Box::new(JsGate {
                name: name.clone(),
                tier,
                func,
                owner: thread::current().id(),
            }));
            self.js_gates.push(name);
            Ok(())
        })
    }
    /// Makes the schema gate also validate payloads against a JSON Schema (refusals: code 20).
    #[napi(ts_args_type = "schema: unknown")]
    pub fn set_payload_schema(&mut self, env: Env, schema: Unknown) -> Result<()> {
        guard(|| {
            let v = json::from_js(env.raw(), schema.raw(), "schema")?;
            self.edit()?.set_payload_schema(&v).map_err(core_err)?;
            Ok(())
        })
    }
    /// Shares a replay cache (with other chains or with `envelope.verify`).
    #[napi]
    pub fn set_replay_cache(&mut self, cache: &ReplayCache) -> Result<()> {
        guard(|| {
            self.edit()?.set_replay_cache(Arc::clone(&cache.inner));
            Ok(())
        })
    }
    /// The replay cache the replay gate uses.
    #[napi(getter)]
    pub fn replay_cache(&self) -> Result<ReplayCache> {
        guard(|| {
            Ok(ReplayCache {
                inner: Arc::clone(self.inner.replay_cache()),
            })
        })
    }
    /// Report mode: run every gate even after a failure.
    #[napi]
    pub fn set_report_all(&mut self, on: bool) -> Result<()> {
        guard(|| {
            self.edit()?.set_report_all(on);
            Ok(())
        })
    }
    /// The gates' names in the order they run.
    #[napi(getter)]
    pub fn gate_names(&self) -> Result<Vec<String>> {
        guard(|| Ok(self.inner.gate_names()))
    }
    /// The constitution whose thresholds apply.
    #[napi(getter)]
    pub fn constitution(&self) -> Result<Constitution> {
        guard(|| {
            Ok(Constitution {
                inner: Arc::clone(&self.constitution),
            })
        })
    }
    /// Judges an envelope (at `options.now`, default the system clock) without admitting it: the
    /// replay gate refuses ids already admitted but records nothing.
    #[napi(ts_args_type = "envelope: Envelope, options?: { now?: Date }")]
    pub fn check(
        &self,
        env: Env,
        envelope: &Envelope,
        options: Option<Unknown>,
    ) -> Result<GateReport> {
        guard(|| {
            let now = judged_at(&env, options)?;
            let _scope = EnvScope::enter(env.raw());
            Ok(report_js(self.inner.check_at(&envelope.inner, now)))
        })
    }
    /// Judges and admits an envelope: when every gate passes, its id is recorded (atomically: of
    /// two admissions of one envelope exactly one succeeds). Throws the first refusal as a
    /// `BizraError`.
    #[napi(ts_args_type = "envelope: Envelope, options?: { now?: Date }")]
    pub fn admit(&self, env: Env, envelope: &Envelope, options: Option<Unknown>) -> Result<()> {
        guard(|| {
            let now = judged_at(&env, options)?;
            let _scope = EnvScope::enter(env.raw());
            self.inner
                .admit_at(&envelope.inner, now)
                .into_result()
                .map_err(core_err)
        })
    }
}
