//! The gate chain: built-in gates, custom gates as C callbacks, per-gate reports.

use std::ffi::{c_char, c_void, CStr, CString};
use std::sync::Arc;

use bizra_core::{BuiltinKind, Constitution, Gate, GateChain, GateContext, GateReport, GateTier};

use crate::*;

/// A gate chain over one constitution. Judging (`bizra_gate_chain_check`, `_admit`) is
/// thread-safe, so a configured chain is safe to share between threads: it may judge envelopes
/// from many threads at once (admission into its replay cache is atomic). Configuring
/// (`bizra_gate_chain_add_*`, `_set_*`) needs exclusive access: not while any other thread uses
/// the chain, and not while a node uses it (`bizra_node_options.gates`: the node shares the chain
/// until it ends, and configuring it meanwhile is `BIZRA_STATUS_INVALID_ARGUMENT`). Freed with
/// `bizra_gate_chain_free`; a node that uses the chain keeps it alive after that.
pub struct bizra_gate_chain {
    _opaque: [u8; 0],
}
// An `Arc` so that a node can share it (`bizra_node_options.gates`); configuring takes it back
// exclusively (`configure`).
handle_type!(bizra_gate_chain => Arc<GateChain>, BoxedMut);

/// The verdict of a chain: one result per gate that ran. Immutable, so safe to share between
/// threads. Freed with `bizra_gate_report_free`.
pub struct bizra_gate_report {
    _opaque: [u8; 0],
}
handle_type!(bizra_gate_report => Report, Boxed);

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

/// A custom gate. Runs synchronously on the thread that called `bizra_gate_chain_check` or
/// `bizra_gate_chain_admit` (so possibly on several threads at once when the chain is shared),
/// or, in a chain a node uses (`bizra_node_options.gates`), on the node's own thread as it judges
/// proposals, after the built-in gates (the signature among them) have passed. `env` is lent for
/// the call only (use `bizra_envelope_clone` to keep it). Return 0 to admit; anything else
/// refuses with code 24 (GATE_CUSTOM), and a NUL-terminated reason may be written to `reason`
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

/// Frees a custom gate's `userdata` when its chain is freed (called once, on the thread that
/// releases the chain's last reference: the one calling `bizra_gate_chain_free`, or, for a chain a
/// node still used then, the node's own thread as the node ends).
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

/// The core's report, with the C strings of its results kept alive beside it.
pub(crate) struct Report {
    report: GateReport,
    /// Each result's name and detail, in the order of `report.results`.
    strings: Vec<(CString, Option<CString>)>,
}

impl Report {
    fn new(report: GateReport) -> Self {
        let c = |s: &str| CString::new(s.replace('\0', "?")).unwrap_or_default();
        let strings = report
            .results
            .iter()
            .map(|g| (c(&g.name), g.detail.as_deref().map(c)))
            .collect();
        Report { report, strings }
    }

    /// Result `index` as C sees it, its strings lent from the report.
    fn result(&self, index: usize) -> Option<bizra_gate_result> {
        let g = self.report.results.get(index)?;
        let (name, detail) = self.strings.get(index)?;
        Some(bizra_gate_result {
            name: name.as_ptr(),
            tier: tier_number(g.tier),
            passed: g.passed,
            code: g.code.map_or(0, |c| c.code()),
            detail: detail.as_ref().map_or(std::ptr::null(), |d| d.as_ptr()),
            duration_ns: u64::try_from(g.duration.as_nanos()).unwrap_or(u64::MAX),
            over_budget: g.over_budget,
        })
    }

    /// The verdict as a status: OK, or REJECTED with the first refusal's code in `reject` and its
    /// words (the core's `GateReport::into_result`) as the last error.
    fn status(&self, reject: *mut u32) -> FfiResult {
        match self.report.clone().into_result() {
            Ok(()) => {
                put_reject(reject, 0);
                Ok(BIZRA_STATUS_OK)
            }
            Err(e) => {
                put_reject(
                    reject,
                    reject_of(&e).unwrap_or(bizra_reject::Internal as u32),
                );
                Err(e.into())
            }
        }
    }
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
        let env = bizra_envelope::lend(ctx.envelope);
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

/// The constitution a chain is made over: the caller's, shared (NULL: the default).
fn constitution_arc(p: *const bizra_constitution) -> FfiResult<Arc<Constitution>> {
    if p.is_null() {
        Ok(Arc::new(Constitution::default()))
    } else {
        bizra_constitution::arc(p, "constitution")
    }
}

/// The chain behind a handle, exclusively for configuring it: refused while a node shares it.
fn configure<'a>(chain: *mut bizra_gate_chain) -> FfiResult<&'a mut GateChain> {
    Arc::get_mut(bizra_gate_chain::arg_mut(chain, "chain")?).ok_or_else(|| {
        invalid(
            "the chain is in use by a node (bizra_node_options.gates): configure it before \
             starting the node, or after freeing it",
        )
    })
}

/// Every built-in gate over the default constitution, with its own replay cache (of the core's
/// default capacity). `*out`: a new chain, the caller's; free it with `bizra_gate_chain_free`.
#[no_mangle]
pub unsafe extern "C" fn bizra_gate_chain_new_default(
    out: *mut *mut bizra_gate_chain,
) -> bizra_status {
    boundary("bizra_gate_chain_new_default", || {
        let out = out_checked(out)?;
        bizra_gate_chain::put(out, Arc::new(GateChain::default()))
    })
}

/// Every built-in gate over `constitution` (shared: the chain keeps its own reference; NULL: the
/// default). `*out`: a new chain, the caller's; free it with `bizra_gate_chain_free`.
#[no_mangle]
pub unsafe extern "C" fn bizra_gate_chain_from_constitution(
    constitution: *const bizra_constitution,
    out: *mut *mut bizra_gate_chain,
) -> bizra_status {
    boundary("bizra_gate_chain_from_constitution", || {
        let out = out_checked(out)?;
        bizra_gate_chain::put(
            out,
            Arc::new(GateChain::from_constitution(constitution_arc(
                constitution,
            )?)),
        )
    })
}

/// A chain with no gates over `constitution` (shared: the chain keeps its own reference; NULL:
/// the default). It admits nothing until gates are added. `*out`: a new chain, the caller's; free
/// it with `bizra_gate_chain_free`.
#[no_mangle]
pub unsafe extern "C" fn bizra_gate_chain_empty(
    constitution: *const bizra_constitution,
    out: *mut *mut bizra_gate_chain,
) -> bizra_status {
    boundary("bizra_gate_chain_empty", || {
        let out = out_checked(out)?;
        bizra_gate_chain::put(
            out,
            Arc::new(GateChain::empty(constitution_arc(constitution)?)),
        )
    })
}

/// Adds a built-in gate (`bizra_gate_kind`); adding one already present changes nothing. Built-in
/// gates run before every custom gate.
#[no_mangle]
pub unsafe extern "C" fn bizra_gate_chain_add_builtin(
    chain: *mut bizra_gate_chain,
    kind: u32,
) -> bizra_status {
    boundary("bizra_gate_chain_add_builtin", || {
        let c = configure(chain)?;
        c.add_builtin(gate_kind(kind)?);
        Ok(BIZRA_STATUS_OK)
    })
}

/// Adds a custom gate: its `name`, its `tier` (`bizra_gate_tier`), its function, as in every
/// binding. It runs after the built-in gates. `name` stays the caller's (it is copied). The
/// chain owns `userdata` from now on: `free_userdata` (may be NULL) is called with it when the
/// chain is freed — also when this call fails after its arguments were checked, never
/// otherwise (a NULL chain or one in use by a node is refused first: `userdata` stays the
/// caller's).
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
        let c = configure(chain)?;
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
        let c = configure(chain)?;
        let schema = text(schema_json, "schema_json")?;
        let value = bizra_core::canonical::parse(schema)
            .map_err(|e| invalid(format!("schema_json: {e}")))?;
        c.set_payload_schema(&value)?;
        Ok(BIZRA_STATUS_OK)
    })
}

/// Makes the replay gate use `cache` (shared: the chain keeps its own reference, so the caller
/// still frees its own with `bizra_replay_cache_free`).
#[no_mangle]
pub unsafe extern "C" fn bizra_gate_chain_set_replay_cache(
    chain: *mut bizra_gate_chain,
    cache: *const bizra_replay_cache,
) -> bizra_status {
    boundary("bizra_gate_chain_set_replay_cache", || {
        let c = configure(chain)?;
        let cache = bizra_replay_cache::arc(cache, "cache")?;
        c.set_replay_cache(cache);
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
        configure(chain)?.set_report_all(on);
        Ok(BIZRA_STATUS_OK)
    })
}

/// The number of gates in the chain, written to `*out` (a value: nothing to free).
#[no_mangle]
pub unsafe extern "C" fn bizra_gate_chain_gate_count(
    chain: *const bizra_gate_chain,
    out: *mut usize,
) -> bizra_status {
    boundary("bizra_gate_chain_gate_count", || {
        let out = out_checked(out)?;
        put(
            out,
            bizra_gate_chain::arg(chain, "chain")?.gate_names().len(),
        );
        Ok(BIZRA_STATUS_OK)
    })
}

/// The name of gate `index` in running order. `*out`: the caller's string; free it with
/// `bizra_string_free`.
#[no_mangle]
pub unsafe extern "C" fn bizra_gate_chain_gate_name(
    chain: *const bizra_gate_chain,
    index: usize,
    out: *mut *mut c_char,
) -> bizra_status {
    boundary("bizra_gate_chain_gate_name", || {
        let out = out_checked(out)?;
        let names = bizra_gate_chain::arg(chain, "chain")?.gate_names();
        let name = names.get(index).ok_or_else(|| {
            Failure::new(
                BIZRA_STATUS_OUT_OF_RANGE,
                format!("index {index} >= {} gates", names.len()),
            )
        })?;
        put_string(out, name.as_str())
    })
}

/// Judges `env` with the chain at `*now_unix_ms` (NULL: the system clock), admitting it (its id
/// recorded by the replay gate) when `admit` is true and every gate passes.
fn judge(
    chain: *const bizra_gate_chain,
    env: *const bizra_envelope,
    now_unix_ms: *const i64,
    out_report: *mut *mut bizra_gate_report,
    reject: *mut u32,
    admit: bool,
) -> FfiResult {
    let c = bizra_gate_chain::arg(chain, "chain")?;
    let env = bizra_envelope::arg(env, "env")?;
    let now = if now_unix_ms.is_null() {
        bizra_core::Timestamp::now()
    } else {
        timestamp(*arg(now_unix_ms, "now_unix_ms")?, "now_unix_ms")?
    };
    let report = Report::new(if admit {
        c.admit_at(env, now)
    } else {
        c.check_at(env, now)
    });
    let verdict = report.status(reject);
    if !out_report.is_null() {
        bizra_gate_report::put(out_report, report)?;
    }
    verdict
}

/// Judges an envelope at `*now_unix_ms` (NULL: the system clock) without admitting it: nothing
/// is recorded, so the replay gate refuses only ids admitted before (`bizra_gate_chain_admit`
/// admits). `BIZRA_STATUS_OK` when every gate passes; `BIZRA_STATUS_REJECTED` otherwise, with the
/// first refusal's code in `*reject` (may be NULL; `bizra_reject`). In both cases `*out_report`
/// (may be NULL) receives the per-gate report: a new report, the caller's; free it with
/// `bizra_gate_report_free`.
#[no_mangle]
pub unsafe extern "C" fn bizra_gate_chain_check(
    chain: *const bizra_gate_chain,
    env: *const bizra_envelope,
    now_unix_ms: *const i64,
    out_report: *mut *mut bizra_gate_report,
    reject: *mut u32,
) -> bizra_status {
    boundary("bizra_gate_chain_check", || {
        judge(chain, env, now_unix_ms, out_report, reject, false)
    })
}

/// Judges an envelope at `*now_unix_ms` (NULL: the system clock) and, when every gate passes,
/// admits it: the replay gate records its id, atomically, so of two admissions of one envelope
/// (from any threads) exactly one passes and the other is a replay (code 12). `BIZRA_STATUS_OK`
/// when admitted; `BIZRA_STATUS_REJECTED` otherwise, with the first refusal's code in `*reject`
/// (may be NULL; `bizra_reject`) and its words as the last error. In both cases `*out_report`
/// (may be NULL) receives the per-gate report: a new report, the caller's; free it with
/// `bizra_gate_report_free`.
#[no_mangle]
pub unsafe extern "C" fn bizra_gate_chain_admit(
    chain: *const bizra_gate_chain,
    env: *const bizra_envelope,
    now_unix_ms: *const i64,
    out_report: *mut *mut bizra_gate_report,
    reject: *mut u32,
) -> bizra_status {
    boundary("bizra_gate_chain_admit", || {
        judge(chain, env, now_unix_ms, out_report, reject, true)
    })
}

/// Frees a gate chain (calling each custom gate's `free_userdata`). NULL is a no-op.
#[no_mangle]
pub unsafe extern "C" fn bizra_gate_chain_free(chain: *mut bizra_gate_chain) {
    boundary("bizra_gate_chain_free", || bizra_gate_chain::free(chain))
}

/// Whether the report admits the envelope, written to `*passed`; `*code` (may be NULL) gets the
/// first refusal's code (0 when it passed). Values: nothing to free.
#[no_mangle]
pub unsafe extern "C" fn bizra_gate_report_passed(
    report: *const bizra_gate_report,
    passed: *mut bool,
    code: *mut u32,
) -> bizra_status {
    boundary("bizra_gate_report_passed", || {
        let passed = out(passed, "passed")?;
        let r = &bizra_gate_report::arg(report, "report")?.report;
        put(passed, r.passed);
        put_opt(code, r.code().map_or(0, |c| c.code()));
        Ok(BIZRA_STATUS_OK)
    })
}

/// The report's first refusal. `*found` is false when no gate refused (then `*out` is left
/// untouched), true otherwise with the refusal written to `*out` (may be NULL when only `found`
/// is wanted): its strings belong to the report (valid until `bizra_gate_report_free`, never freed
/// by the caller).
#[no_mangle]
pub unsafe extern "C" fn bizra_gate_report_first_failure(
    report: *const bizra_gate_report,
    found: *mut bool,
    out: *mut bizra_gate_result,
) -> bizra_status {
    boundary("bizra_gate_report_first_failure", || {
        let found = self::out(found, "found")?;
        let r = bizra_gate_report::arg(report, "report")?;
        // The core's first failure, found again by address to lend its C strings.
        let first = r
            .report
            .first_failure()
            .and_then(|f| r.report.results.iter().position(|g| std::ptr::eq(g, f)));
        let result = first.and_then(|i| r.result(i));
        put(found, result.is_some());
        if let Some(result) = result {
            put_opt(out, result);
        }
        Ok(BIZRA_STATUS_OK)
    })
}

/// The report as a status, as the core's `GateReport::into_result`: `BIZRA_STATUS_OK` when it
/// admits the envelope, else `BIZRA_STATUS_REJECTED` with the first refusal's code in `*reject`
/// (may be NULL; a value: nothing to free) and its words (`gate NAME: why`) as this thread's last
/// error.
#[no_mangle]
pub unsafe extern "C" fn bizra_gate_report_status(
    report: *const bizra_gate_report,
    reject: *mut u32,
) -> bizra_status {
    boundary("bizra_gate_report_status", || {
        bizra_gate_report::arg(report, "report")?.status(reject)
    })
}

/// The number of gate results in the report, written to `*out` (a value: nothing to free).
#[no_mangle]
pub unsafe extern "C" fn bizra_gate_report_count(
    report: *const bizra_gate_report,
    out: *mut usize,
) -> bizra_status {
    boundary("bizra_gate_report_count", || {
        let out = out_checked(out)?;
        put(
            out,
            bizra_gate_report::arg(report, "report")?
                .report
                .results
                .len(),
        );
        Ok(BIZRA_STATUS_OK)
    })
}

/// Result `index`, in running order, written to `*out`: its strings belong to the report (valid
/// until `bizra_gate_report_free`, never freed by the caller).
#[no_mangle]
pub unsafe extern "C" fn bizra_gate_report_result(
    report: *const bizra_gate_report,
    index: usize,
    out: *mut bizra_gate_result,
) -> bizra_status {
    boundary("bizra_gate_report_result", || {
        let out = out_checked(out)?;
        let r = bizra_gate_report::arg(report, "report")?;
        let result = r.result(index).ok_or_else(|| {
            Failure::new(
                BIZRA_STATUS_OUT_OF_RANGE,
                format!("index {index} >= {} results", r.report.results.len()),
            )
        })?;
        put(out, result);
        Ok(BIZRA_STATUS_OK)
    })
}

/// Frees a report. NULL is a no-op.
#[no_mangle]
pub unsafe extern "C" fn bizra_gate_report_free(report: *mut bizra_gate_report) {
    boundary("bizra_gate_report_free", || bizra_gate_report::free(report))
}
