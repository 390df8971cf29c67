//! The gate chain: built-in gates, custom gates as C callbacks, per-gate reports.

use std::ffi::{c_char, CStr, CString};
use std::sync::Arc;

use bizra_core::{BuiltinKind, Constitution, Gate, GateChain, GateContext, GateReport, GateTier};

use crate::*;

/// A gate chain over one constitution. Checking (`bizra_gate_chain_check`) is thread-safe: one
/// configured chain may admit envelopes from many threads at once (its replay cache is atomic).
/// Configuring (`bizra_gate_chain_add_*`, `_set_*`) needs exclusive access: not while any other
/// thread uses the chain.
pub struct bizra_gate_chain {
    _opaque: [u8; 0],
}

/// The verdict of a chain: one result per gate that ran. Immutable: safe to read from many
/// threads.
pub struct bizra_gate_report {
    _opaque: [u8; 0],
}

/// The built-in gates (`uint32_t` arguments take these numbers).
#[repr(u32)]
#[derive(Clone, Copy, Debug)]
pub enum bizra_gate_kind {
    /// ttl in the constitution's range (16), sender matches the key (14), payload JSON Schema (20).
    Schema = 1,
    /// content_hash (15) and strict signature (21).
    Signature = 2,
    /// Not expired (11), not from the future (13).
    Freshness = 3,
    /// Id not admitted before (12); a full cache refuses with 40.
    Replay = 4,
    /// policy equals the chain's constitution hash (17).
    Policy = 5,
    /// scores.snr >= the constitution's threshold (23); missing fails.
    Snr = 6,
    /// scores.ihsan >= the constitution's minimum (25); missing fails.
    Ihsan = 7,
}

/// Gate cost tiers; cheaper tiers run first.
#[repr(u32)]
#[derive(Clone, Copy, Debug)]
pub enum bizra_gate_tier {
    /// Field and score checks (budget 10 ms).
    Cheap = 0,
    /// Hashing and signatures (budget 150 ms).
    Medium = 1,
    /// Anything heavier (budget 2 s).
    Expensive = 2,
}

/// A custom gate. Runs synchronously on the thread that called `bizra_gate_chain_check` (so
/// possibly on several threads at once when the chain is shared). `env` is lent for the call
/// only (use `bizra_envelope_clone` to keep it). Return 0 to admit; anything else refuses with
/// code 24 (GATE_CUSTOM), and a NUL-terminated reason may be written to `reason`
/// (`reason_len` bytes, NUL included).
pub type bizra_gate_fn = Option<
    unsafe extern "C" fn(
        userdata: *mut c_void,
        env: *const bizra_envelope,
        now_unix_ms: i64,
        reason: *mut c_char,
        reason_len: usize,
    ) -> i32,
>;

/// Frees a custom gate's `userdata` when its chain is freed (called once, on the freeing thread).
pub type bizra_userdata_free_fn = Option<unsafe extern "C" fn(userdata: *mut c_void)>;

/// One gate's verdict; its strings are owned by the report and live as long as it.
#[repr(C)]
#[derive(Debug)]
pub struct bizra_gate_result {
    /// The gate's name.
    pub name: *const c_char,
    /// Its tier (`bizra_gate_tier`).
    pub tier: u32,
    /// Whether it admitted the envelope.
    pub passed: bool,
    /// The reject code when it refused (0 when it passed).
    pub code: u32,
    /// Why it refused (NULL when it passed).
    pub detail: *const c_char,
    /// How long it took, in nanoseconds.
    pub duration_ns: u64,
    /// Whether it took longer than its tier's budget.
    pub over_budget: bool,
}

/// A report with C strings kept alive beside it.
struct Report {
    passed: bool,
    code: u32,
    results: Vec<(bizra_core::GateResult, CString, Option<CString>)>,
}

const REASON_LEN: usize = 256;

struct CGate {
    name: String,
    tier: GateTier,
    f: unsafe extern "C" fn(*mut c_void, *const bizra_envelope, i64, *mut c_char, usize) -> i32,
    userdata: Userdata,
    free: bizra_userdata_free_fn,
}

// SAFETY: the header requires a custom gate's callback and userdata to be callable from any
// thread (the chain may be checked from many threads); the library never touches userdata itself.
unsafe impl Send for CGate {}
// SAFETY: as above: concurrent calls are the caller's documented contract.
unsafe impl Sync for CGate {}

impl Gate for CGate {
    fn name(&self) -> &str {
        &self.name
    }
    fn tier(&self) -> GateTier {
        self.tier
    }
    fn check(&self, ctx: &GateContext<'_>) -> Result<(), String> {
        let mut reason = [0u8; REASON_LEN];
        let env = std::ptr::from_ref(ctx.envelope).cast::<bizra_envelope>();
        // SAFETY: the callback was supplied by the caller for this purpose; `env` lives for the
        // call; `reason` is a writable buffer of REASON_LEN bytes.
        let verdict = unsafe {
            (self.f)(
                self.userdata,
                env,
                ctx.now.unix_millis(),
                reason.as_mut_ptr().cast(),
                REASON_LEN,
            )
        };
        if verdict == 0 {
            return Ok(());
        }
        reason[REASON_LEN - 1] = 0;
        let text = CStr::from_bytes_until_nul(&reason)
            .map(|c| c.to_string_lossy().into_owned())
            .unwrap_or_default();
        Err(if text.is_empty() {
            format!("custom gate returned {verdict}")
        } else {
            text
        })
    }
}

impl Drop for CGate {
    fn drop(&mut self) {
        if let Some(free) = self.free {
            // SAFETY: the caller's free function for its own userdata, called exactly once.
            unsafe { free(self.userdata) };
        }
    }
}

fn chain<'a>(p: *const bizra_gate_chain) -> FfiResult<&'a GateChain> {
    arg(p.cast::<GateChain>(), "chain")
}

fn chain_mut<'a>(p: *mut bizra_gate_chain) -> FfiResult<&'a mut GateChain> {
    arg_mut(p.cast::<GateChain>(), "chain")
}

fn report<'a>(p: *const bizra_gate_report) -> FfiResult<&'a Report> {
    arg(p.cast::<Report>(), "report")
}

fn put_chain(out: *mut *mut bizra_gate_chain, c: GateChain) -> FfiResult {
    put(out, Box::into_raw(Box::new(c)).cast());
    Ok(BIZRA_STATUS_OK)
}

fn gate_kind(kind: u32) -> FfiResult<BuiltinKind> {
    Ok(match kind {
        1 => BuiltinKind::Schema,
        2 => BuiltinKind::Signature,
        3 => BuiltinKind::Freshness,
        4 => BuiltinKind::Replay,
        5 => BuiltinKind::Policy,
        6 => BuiltinKind::Snr,
        7 => BuiltinKind::Ihsan,
        _ => return Err(invalid(format!("unknown gate kind {kind}"))),
    })
}

fn gate_tier(tier: u32) -> FfiResult<GateTier> {
    Ok(match tier {
        0 => GateTier::Cheap,
        1 => GateTier::Medium,
        2 => GateTier::Expensive,
        _ => return Err(invalid(format!("unknown gate tier {tier}"))),
    })
}

fn tier_number(t: GateTier) -> u32 {
    match t {
        GateTier::Cheap => 0,
        GateTier::Medium => 1,
        GateTier::Expensive => 2,
    }
}

fn constitution_arc(p: *const bizra_constitution) -> FfiResult<Arc<Constitution>> {
    if p.is_null() {
        Ok(Arc::new(Constitution::default()))
    } else {
        Ok(Arc::new(constitution(p, "constitution")?.clone()))
    }
}

/// Every built-in gate over the default constitution, with its own replay cache (100000 ids).
#[no_mangle]
pub unsafe extern "C" fn bizra_gate_chain_new_default(
    out: *mut *mut bizra_gate_chain,
) -> bizra_status {
    boundary("bizra_gate_chain_new_default", || {
        let out = out_checked(out)?;
        put_chain(out, GateChain::default())
    })
}

/// Every built-in gate over `constitution` (copied; NULL: the default).
#[no_mangle]
pub unsafe extern "C" fn bizra_gate_chain_from_constitution(
    constitution: *const bizra_constitution,
    out: *mut *mut bizra_gate_chain,
) -> bizra_status {
    boundary("bizra_gate_chain_from_constitution", || {
        let out = out_checked(out)?;
        put_chain(
            out,
            GateChain::from_constitution(constitution_arc(constitution)?),
        )
    })
}

/// A chain with no gates over `constitution` (copied; NULL: the default). It admits nothing until
/// gates are added.
#[no_mangle]
pub unsafe extern "C" fn bizra_gate_chain_empty(
    constitution: *const bizra_constitution,
    out: *mut *mut bizra_gate_chain,
) -> bizra_status {
    boundary("bizra_gate_chain_empty", || {
        let out = out_checked(out)?;
        put_chain(out, GateChain::empty(constitution_arc(constitution)?))
    })
}

/// Adds a built-in gate (`bizra_gate_kind`); adding one already present changes nothing.
#[no_mangle]
pub unsafe extern "C" fn bizra_gate_chain_add_builtin(
    chain: *mut bizra_gate_chain,
    kind: u32,
) -> bizra_status {
    boundary("bizra_gate_chain_add_builtin", || {
        let c = chain_mut(chain)?;
        c.add_builtin(gate_kind(kind)?);
        Ok(BIZRA_STATUS_OK)
    })
}

/// Adds a custom gate called `name` in `tier` (`bizra_gate_tier`). `free_userdata` (may be NULL)
/// is called with `userdata` when the chain is freed — also when this call fails after its
/// arguments were checked, never otherwise.
#[no_mangle]
pub unsafe extern "C" fn bizra_gate_chain_add_custom(
    chain: *mut bizra_gate_chain,
    name: *const c_char,
    tier: u32,
    gate: bizra_gate_fn,
    userdata: *mut c_void,
    free_userdata: bizra_userdata_free_fn,
) -> bizra_status {
    boundary("bizra_gate_chain_add_custom", || {
        let c = chain_mut(chain)?;
        let name = text(name, "name")?;
        let tier = gate_tier(tier)?;
        let f = gate.ok_or_else(|| null("gate"))?;
        c.add_gate(Box::new(CGate {
            name: name.to_owned(),
            tier,
            f,
            userdata,
            free: free_userdata,
        }));
        Ok(BIZRA_STATUS_OK)
    })
}

/// Makes the schema gate also validate payloads against a JSON Schema (refusals: code 20); adds
/// the schema gate if absent. An invalid schema is `BIZRA_STATUS_INVALID_ARGUMENT`.
#[no_mangle]
pub unsafe extern "C" fn bizra_gate_chain_set_payload_schema(
    chain: *mut bizra_gate_chain,
    schema_json: *const c_char,
) -> bizra_status {
    boundary("bizra_gate_chain_set_payload_schema", || {
        let c = chain_mut(chain)?;
        let schema = text(schema_json, "schema_json")?;
        let value = bizra_core::canonical::parse(schema)
            .map_err(|e| invalid(format!("schema_json: {e}")))?;
        c.set_payload_schema(&value)?;
        Ok(BIZRA_STATUS_OK)
    })
}

/// Makes the replay gate use `cache` (shared: the chain keeps its own reference).
#[no_mangle]
pub unsafe extern "C" fn bizra_gate_chain_set_replay_cache(
    chain: *mut bizra_gate_chain,
    cache: *const bizra_replay_cache,
) -> bizra_status {
    boundary("bizra_gate_chain_set_replay_cache", || {
        let c = chain_mut(chain)?;
        let cache = replay_cache(cache, "cache")?;
        c.set_replay_cache(Arc::clone(cache));
        Ok(BIZRA_STATUS_OK)
    })
}

/// Report mode: run every gate even after a failure (nothing is admitted either way).
#[no_mangle]
pub unsafe extern "C" fn bizra_gate_chain_set_report_all(
    chain: *mut bizra_gate_chain,
    on: bool,
) -> bizra_status {
    boundary("bizra_gate_chain_set_report_all", || {
        chain_mut(chain)?.set_report_all(on);
        Ok(BIZRA_STATUS_OK)
    })
}

/// The number of gates in the chain.
#[no_mangle]
pub unsafe extern "C" fn bizra_gate_chain_gate_count(
    chain: *const bizra_gate_chain,
    out: *mut usize,
) -> bizra_status {
    boundary("bizra_gate_chain_gate_count", || {
        let out = out_checked(out)?;
        put(out, self::chain(chain)?.gate_names().len());
        Ok(BIZRA_STATUS_OK)
    })
}

/// The name of gate `index` in running order. Free with `bizra_string_free`.
#[no_mangle]
pub unsafe extern "C" fn bizra_gate_chain_gate_name(
    chain: *const bizra_gate_chain,
    index: usize,
    out: *mut *mut c_char,
) -> bizra_status {
    boundary("bizra_gate_chain_gate_name", || {
        let out = out_checked(out)?;
        let names = self::chain(chain)?.gate_names();
        let name = names.get(index).ok_or_else(|| {
            Failure::new(
                BIZRA_STATUS_OUT_OF_RANGE,
                format!("index {index} >= {} gates", names.len()),
            )
        })?;
        put_string(out, name.as_str())
    })
}

/// Judges an envelope at `*now_unix_ms` (NULL: the system clock). `BIZRA_STATUS_OK` when every
/// gate admits it (its id is then recorded by the replay gate); `BIZRA_STATUS_REJECTED` otherwise,
/// with the first refusal's code in `*reject` (may be NULL). In both cases `*out_report` (may be
/// NULL) receives the per-gate report, to free with `bizra_gate_report_free`.
#[no_mangle]
pub unsafe extern "C" fn bizra_gate_chain_check(
    chain: *const bizra_gate_chain,
    env: *const bizra_envelope,
    now_unix_ms: *const i64,
    out_report: *mut *mut bizra_gate_report,
    reject: *mut u32,
) -> bizra_status {
    boundary("bizra_gate_chain_check", || {
        let c = self::chain(chain)?;
        let env = envelope(env, "env")?;
        let now = if now_unix_ms.is_null() {
            bizra_core::Timestamp::now()
        } else {
            timestamp(*arg(now_unix_ms, "now_unix_ms")?, "now_unix_ms")?
        };
        let r: GateReport = c.check_at(env, now);
        let code = if r.passed {
            0
        } else {
            r.code().map_or(bizra_reject::Internal as u32, |c| c.code())
        };
        let detail = r
            .first_failure()
            .map(|f| format!("gate {}: {}", f.name, f.detail.clone().unwrap_or_default()));
        let passed = r.passed;
        if !out_report.is_null() {
            let results = r
                .results
                .into_iter()
                .map(|g| {
                    let name = CString::new(g.name.replace('\0', "?")).unwrap_or_default();
                    let detail = g
                        .detail
                        .as_ref()
                        .map(|d| CString::new(d.replace('\0', "?")).unwrap_or_default());
                    (g, name, detail)
                })
                .collect();
            let rep = Report {
                passed,
                code,
                results,
            };
            put(out_report, Box::into_raw(Box::new(rep)).cast());
        }
        put_reject(reject, code);
        if passed {
            Ok(BIZRA_STATUS_OK)
        } else {
            Err(Failure::new(
                BIZRA_STATUS_REJECTED,
                detail.unwrap_or_else(|| "refused".to_owned()),
            ))
        }
    })
}

/// Frees a gate chain (calling each custom gate's `free_userdata`). NULL is a no-op.
#[no_mangle]
pub unsafe extern "C" fn bizra_gate_chain_free(chain: *mut bizra_gate_chain) {
    boundary("bizra_gate_chain_free", || {
        free_box(chain.cast::<GateChain>())
    })
}

/// Whether the report admits the envelope; `*code` (may be NULL) gets the first refusal's code.
#[no_mangle]
pub unsafe extern "C" fn bizra_gate_report_passed(
    report: *const bizra_gate_report,
    passed: *mut bool,
    code: *mut u32,
) -> bizra_status {
    boundary("bizra_gate_report_passed", || {
        let passed = out(passed, "passed")?;
        let r = self::report(report)?;
        put(passed, r.passed);
        put_opt(code, r.code);
        Ok(BIZRA_STATUS_OK)
    })
}

/// The number of gate results in the report.
#[no_mangle]
pub unsafe extern "C" fn bizra_gate_report_count(
    report: *const bizra_gate_report,
    out: *mut usize,
) -> bizra_status {
    boundary("bizra_gate_report_count", || {
        let out = out_checked(out)?;
        put(out, self::report(report)?.results.len());
        Ok(BIZRA_STATUS_OK)
    })
}

/// Result `index`, in running order; its strings belong to the report.
#[no_mangle]
pub unsafe extern "C" fn bizra_gate_report_result(
    report: *const bizra_gate_report,
    index: usize,
    out: *mut bizra_gate_result,
) -> bizra_status {
    boundary("bizra_gate_report_result", || {
        let out = out_checked(out)?;
        let r = self::report(report)?;
        let (g, name, detail) = r.results.get(index).ok_or_else(|| {
            Failure::new(
                BIZRA_STATUS_OUT_OF_RANGE,
                format!("index {index} >= {} results", r.results.len()),
            )
        })?;
        put(
            out,
            bizra_gate_result {
                name: name.as_ptr(),
                tier: tier_number(g.tier),
                passed: g.passed,
                code: g.code.map_or(0, |c| c.code()),
                detail: detail.as_ref().map_or(std::ptr::null(), |d| d.as_ptr()),
                duration_ns: u64::try_from(g.duration.as_nanos()).unwrap_or(u64::MAX),
                over_budget: g.over_budget,
            },
        );
        Ok(BIZRA_STATUS_OK)
    })
}

/// Frees a report. NULL is a no-op.
#[no_mangle]
pub unsafe extern "C" fn bizra_gate_report_free(report: *mut bizra_gate_report) {
    boundary("bizra_gate_report_free", || {
        free_box(report.cast::<Report>())
    })
}
