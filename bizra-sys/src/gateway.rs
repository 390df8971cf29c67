//! The gateway: remote pools (`bizra_pool`, a client of an OpenAI-compatible server) and the
//! router (`bizra_gateway`) that serves each request from the Edge, Local or Pool tier, takes the
//! configured fallbacks when a tier cannot serve, and signs the route into the output.

use std::ffi::c_char;
use std::time::Duration;

use bizra_core::inference::{ApiKey, Gateway, Health, RemoteClient, RemoteOptions};
use bizra_core::{Error, ModelTier};

use crate::*;

/// A client of one remote OpenAI-compatible server (vLLM, Ollama, llama.cpp's server,
/// llama-cpp-python, a hosted provider): the Pool tier's backend. Thread-safe, so safe to share
/// between threads; it owns one thread of its own, which serves its requests and runs their token
/// callbacks. Freed with `bizra_pool_free`; a gateway given the pool keeps its own reference, so
/// the pool may be freed as soon as `bizra_gateway_new` has returned.
pub struct bizra_pool {
    _opaque: [u8; 0],
}
handle_type!(bizra_pool => RemoteClient, Boxed);

/// Routes requests to Edge, Local and Pool backends and signs each output with its route. Thread-
/// safe, so safe to share between threads: one handle may serve many threads at once (an engine
/// serves its requests one at a time, in order; a pool serves them concurrently). Freed with
/// `bizra_gateway_free`, after every call using it has returned.
pub struct bizra_gateway {
    _opaque: [u8; 0],
}
handle_type!(bizra_gateway => Gateway, Boxed);

/// Options for `bizra_pool_connect`. Zero-initialise, set `struct_size = sizeof(...)`, then set
/// what you need: every zero/NULL/false member means the core's default.
#[repr(C)]
#[derive(Debug)]
pub struct bizra_pool_options {
    /// `sizeof(bizra_pool_options)`.
    pub struct_size: u32,
    /// The bearer token the server wants; NULL: the first non-empty of the environment variables
    /// `BIZRA_POOL_API_KEY` and `OPENAI_API_KEY` when the pool is made, else none. The library
    /// keeps a copy (zeroed when the pool is freed) and never shows it: not in the last error,
    /// not in a payload.
    pub api_key: *const c_char,
    /// The model to ask for; NULL: the first that the server's `GET /v1/models` lists.
    pub model: *const c_char,
    /// Longest wait for a TCP (and TLS) connection, in ms; 0: 10000.
    pub connect_timeout_ms: u32,
    /// Longest silence while waiting for a response or reading it, in ms (it also bounds a
    /// generation without `on_token`, which the server sends whole); 0: 120000.
    pub read_timeout_ms: u32,
    /// Whether `max_retries` is set (default 4).
    pub has_max_retries: bool,
    /// Retries after a failed connection, a 429 or a 5xx (never after another status, nor once a
    /// stream has begun); 0: none.
    pub max_retries: u32,
    /// The first backoff between retries, in ms (doubled at each retry, plus a random jitter);
    /// 0: 250.
    pub initial_backoff_ms: u32,
    /// The largest backoff before jitter, in ms; 0: 8000.
    pub max_backoff_ms: u32,
    /// The longest `Retry-After` honoured, in ms (a server asking for more fails the request at
    /// once); 0: 60000.
    pub max_retry_after_ms: u32,
    /// Whether `top_logprobs` is set (default 20).
    pub has_top_logprobs: bool,
    /// Alternatives requested per token for the SNR, at most 20; 0 asks for no probabilities and
    /// leaves the SNR unmeasured.
    pub top_logprobs: u32,
    /// The model's vocabulary size, which the SNR needs (llama-cpp-python's server does not
    /// report it; llama.cpp's does), at least 2; 0: what the server reports, else the SNR is
    /// unmeasured.
    pub vocab_size: u32,
    /// Requests the pool runs at once, at most (streams until they end, embeddings and health
    /// probes included); one more is refused at once with `BIZRA_STATUS_BUSY` rather than
    /// opening connections without bound; 0: 64. (Added after the members above: a caller built
    /// before it passes the older `struct_size` and gets the default.)
    pub max_in_flight: u32,
}

// SAFETY: integers, `bool`s and raw pointers: all zero is 0/false/NULL, every member's default.
unsafe impl ZeroDefault for bizra_pool_options {
    /// Before the bound on requests in flight: `struct_size` up to `vocab_size`.
    const OLDER_SIZES: &'static [usize] =
        &[std::mem::offset_of!(bizra_pool_options, max_in_flight)];
}

/// What a pool's health probe says (the out-param of `bizra_pool_health`).
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum bizra_health {
    /// It answers and serves its model.
    Ready = 0,
    /// It answers but is still loading its model (HTTP 503): worth waiting for.
    Loading = 1,
    /// It cannot serve: not reachable, refusing the key, or answering with an error.
    Unavailable = 2,
}

/// One fallback rule of a gateway: when the tier `from` cannot serve (it has no backend, or every
/// pool was unavailable: never after a refusal, an invalid or cancelled request, or text already
/// streamed), the tier `to` serves instead, and the payload's `route.fallbacks` records the step
/// with its cause. Both are `bizra_model_tier` numbers (not NONE).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct bizra_fallback {
    /// The tier that cannot serve (a `bizra_model_tier`).
    pub from: u32,
    /// The tier tried next (a `bizra_model_tier`).
    pub to: u32,
}

/// Options for `bizra_gateway_new`: what serves each tier, and the fallbacks. Zero-initialise,
/// set `struct_size = sizeof(...)`, then set what you need. The gateway keeps its own references
/// to the engines and pools given, so the caller may free its handles as soon as
/// `bizra_gateway_new` has returned.
#[repr(C)]
#[derive(Debug)]
pub struct bizra_gateway_options {
    /// `sizeof(bizra_gateway_options)`.
    pub struct_size: u32,
    /// The engine serving the Edge tier, whatever its model's size; NULL: none (the tier cannot
    /// serve: `BIZRA_STATUS_MODEL_NOT_FOUND`, or its fallback).
    pub edge: *const bizra_engine,
    /// The engine serving the Local tier (the same engine as `edge` may serve both); NULL: none.
    pub local: *const bizra_engine,
    /// The pools serving the Pool tier (`pools_len` of them), tried in this order: the first that
    /// serves wins, and each unavailable one before it is recorded in `route.skipped`. None: the
    /// tier cannot serve (`BIZRA_STATUS_NO_REMOTE_POOL`, or its fallback).
    pub pools: *const *const bizra_pool,
    /// The number of `pools` entries.
    pub pools_len: usize,
    /// The fallback rules (`fallbacks_len` of them): at most one per tier, none from a tier to
    /// itself; they chain (Pool → Local → Edge), each tier tried at most once. None: nothing
    /// falls back.
    pub fallbacks: *const bizra_fallback,
    /// The number of `fallbacks` entries.
    pub fallbacks_len: usize,
}

/// A tier given as a number in `what` (1..=3).
fn tier_arg(n: u32, what: &str) -> FfiResult<ModelTier> {
    match n {
        1 => Ok(ModelTier::Edge),
        2 => Ok(ModelTier::Local),
        3 => Ok(ModelTier::Pool),
        _ => Err(invalid(format!(
            "{what}: {n} is not a tier (BIZRA_MODEL_TIER_EDGE, _LOCAL or _POOL)"
        ))),
    }
}

/// A core error as a failure; a remote pool's names its endpoint and HTTP status in the message
/// (C errors carry no fields besides it).
fn failure(e: Error) -> Failure {
    let extra = match &e {
        Error::Remote {
            endpoint, status, ..
        } => Some(match status {
            Some(s) => format!(" (endpoint {endpoint}, HTTP status {s})"),
            None => format!(" (endpoint {endpoint}, no HTTP status)"),
        }),
        _ => None,
    };
    match extra {
        Some(extra) => Failure::new(status_of_kind(e.kind()), format!("{e}{extra}")),
        None => Failure::from(e),
    }
}

fn millis(ms: u32, default: Duration) -> Duration {
    if ms == 0 {
        default
    } else {
        Duration::from_millis(u64::from(ms))
    }
}

/// Makes a client of the OpenAI-compatible server at `base_url` (`http://host:8000` or
/// `http://host:8000/v1`; `/v1` is added when missing; credentials in it are never shown) and
/// starts its thread. Nothing is sent yet: the server need not be up (`bizra_pool_health` probes
/// it). `opts` may be NULL (the defaults). A malformed URL or option is
/// `BIZRA_STATUS_INVALID_ARGUMENT`. `*out`: a new pool, the caller's; free it with
/// `bizra_pool_free`.
#[no_mangle]
pub unsafe extern "C" fn bizra_pool_connect(
    base_url: *const c_char,
    opts: *const bizra_pool_options,
    out: *mut *mut bizra_pool,
) -> bizra_status {
    boundary("bizra_pool_connect", || {
        let out = out_checked(out)?;
        let mut o = RemoteOptions::new(text(base_url, "base_url")?);
        if let Some(c) = options_grown(opts, "opts")? {
            if let Some(key) = opt_text(c.api_key, "opts.api_key")? {
                o.api_key = Some(ApiKey::new(key));
            }
            if let Some(model) = opt_text(c.model, "opts.model")? {
                o.model = Some(model.to_owned());
            }
            o.connect_timeout = millis(c.connect_timeout_ms, o.connect_timeout);
            o.read_timeout = millis(c.read_timeout_ms, o.read_timeout);
            if c.has_max_retries {
                o.max_retries = c.max_retries;
            }
            o.initial_backoff = millis(c.initial_backoff_ms, o.initial_backoff);
            o.max_backoff = millis(c.max_backoff_ms, o.max_backoff);
            o.max_retry_after = millis(c.max_retry_after_ms, o.max_retry_after);
            if c.has_top_logprobs {
                o.top_logprobs = u8::try_from(c.top_logprobs).map_err(|_| {
                    invalid(format!(
                        "opts.top_logprobs: {} is more than 20",
                        c.top_logprobs
                    ))
                })?;
            }
            if c.vocab_size != 0 {
                o.vocab_size = Some(c.vocab_size);
            }
            if c.max_in_flight != 0 {
                o.max_in_flight = c.max_in_flight;
            }
        }
        bizra_pool::put(out, RemoteClient::connect(o).map_err(failure)?)
    })
}

/// Probes the server once, without retrying (`GET /health`, else `GET /v1/models`; bounded by the
/// pool's timeouts) and writes what it says to `*out` (a value: nothing to free). `detail` may be
/// NULL; else it receives NULL when the pool is ready, or why it is not (the caller's string: free
/// it with `bizra_string_free`).
#[no_mangle]
pub unsafe extern "C" fn bizra_pool_health(
    pool: *const bizra_pool,
    out: *mut bizra_health,
    detail: *mut *mut c_char,
) -> bizra_status {
    boundary("bizra_pool_health", || {
        let out = out_checked(out)?;
        let p = bizra_pool::arg(pool, "pool")?;
        let (health, why) = match p.health() {
            Health::Ready => (bizra_health::Ready, None),
            Health::Loading(why) => (bizra_health::Loading, Some(why)),
            Health::Unavailable(why) => (bizra_health::Unavailable, Some(why)),
        };
        let why = match why {
            Some(w) if !detail.is_null() => c_string(w.replace('\0', "?"))?,
            _ => std::ptr::null_mut(),
        };
        put_opt(detail, why);
        put(out, health);
        Ok(BIZRA_STATUS_OK)
    })
}

/// Frees a pool: its thread stops once no gateway holds it any more, abandoning the requests
/// still running. NULL is a no-op.
#[no_mangle]
pub unsafe extern "C" fn bizra_pool_free(pool: *mut bizra_pool) {
    boundary("bizra_pool_free", || bizra_pool::free(pool))
}

/// Makes a gateway from `opts` (NULL: nothing configured, so every tier fails). An invalid
/// configuration (a fallback from a tier to itself, two different fallbacks from one tier, a
/// tier number that is no tier) is `BIZRA_STATUS_INVALID_ARGUMENT`, the last error saying what
/// is wrong. `*out`: a new gateway, the caller's; free it with `bizra_gateway_free`.
#[no_mangle]
pub unsafe extern "C" fn bizra_gateway_new(
    opts: *const bizra_gateway_options,
    out: *mut *mut bizra_gateway,
) -> bizra_status {
    boundary("bizra_gateway_new", || {
        let out = out_checked(out)?;
        let mut b = Gateway::builder();
        if let Some(o) = options(opts, "opts")? {
            if !o.edge.is_null() {
                let m = bizra_engine::arg(o.edge, "opts.edge")?;
                b = b.engine_for(ModelTier::Edge, m.engine.clone());
            }
            if !o.local.is_null() {
                let m = bizra_engine::arg(o.local, "opts.local")?;
                b = b.engine_for(ModelTier::Local, m.engine.clone());
            }
            for (i, &p) in slice(o.pools, o.pools_len, "opts.pools")?
                .iter()
                .enumerate()
            {
                b = b.pool(bizra_pool::arg(p, &format!("opts.pools[{i}]"))?.clone());
            }
            for (i, f) in slice(o.fallbacks, o.fallbacks_len, "opts.fallbacks")?
                .iter()
                .enumerate()
            {
                let from = tier_arg(f.from, &format!("opts.fallbacks[{i}].from"))?;
                let to = tier_arg(f.to, &format!("opts.fallbacks[{i}].to"))?;
                b = b.fallback(from, to);
            }
        }
        bizra_gateway::put(out, b.build().map_err(failure)?)
    })
}

/// The tier the gateway would decide for `prompt` with `opts` (its `max_tokens` and forced
/// `tier`; NULL: the defaults), without serving it. `*out` is the caller's struct; its `reason`
/// is the caller's string: free it with `bizra_string_free`.
#[no_mangle]
pub unsafe extern "C" fn bizra_gateway_decide(
    gateway: *const bizra_gateway,
    prompt: *const c_char,
    opts: *const bizra_generate_options,
    out: *mut bizra_tier_decision,
) -> bizra_status {
    boundary("bizra_gateway_decide", || {
        let out = out_checked(out)?;
        let g = bizra_gateway::arg(gateway, "gateway")?;
        let prompt = text(prompt, "prompt")?;
        let (req, _, _) = request(prompt, options_grown(opts, "opts")?.as_ref())?;
        let d = g.decide(&req);
        let reason = c_string(d.reason.replace('\0', "?"))?;
        put(
            out,
            bizra_tier_decision {
                complexity: complexity_number(d.complexity),
                tier: tier_number(Some(d.tier)),
                forced: d.forced,
                reason,
            },
        );
        Ok(BIZRA_STATUS_OK)
    })
}

/// Answers `prompt` through the gateway and returns the output as a new envelope signed by `id`:
/// the payload of the backend that served it (as `bizra_engine_generate`'s, or a pool's with
/// `backend: {kind, base_url, model}`), whose `tier` is the tier that served, plus `route`:
/// `{"tier", "forced", "complexity", "reason", "served", "backend", "fallbacks": [{"from", "to",
/// "cause", "detail"}], "skipped": [{"backend", "detail"}]}` (the decided tier and why, what
/// served, each fallback taken with the error kind that caused it, each pool skipped). The tier
/// is `opts.tier` when set, else the one decided from the task's complexity
/// (`bizra_gateway_decide`). `opts` may be NULL (no streaming, the defaults).
///
/// Streaming and cancellation are `bizra_engine_generate`'s: `opts.on_token` runs on the thread
/// of the backend serving (the engine's worker thread, or the pool's own thread), never on the
/// calling thread, which waits meanwhile; it must not call into this gateway nor free it. Once it
/// has been called no fallback is taken. A cancelled generation is a success whose finish reason
/// is `CANCELLED`, and is never retried on another tier.
///
/// When no tier can serve: `BIZRA_STATUS_REMOTE_UNAVAILABLE` (every pool unreachable, timed out,
/// overloaded or failing), `BIZRA_STATUS_REMOTE_REFUSED` (a pool refused the request: a wrong
/// key or model; never falls back), `BIZRA_STATUS_NO_REMOTE_POOL` or
/// `BIZRA_STATUS_MODEL_NOT_FOUND` (no backend for the tier), the last error naming the pool's
/// endpoint and HTTP status where there is one; the engine's errors as for
/// `bizra_engine_generate`. `finish_reason` may be NULL, else receives a `bizra_finish_reason`;
/// `served_tier` may be NULL, else receives the `bizra_model_tier` that served (values: nothing
/// to free). `*out`: a new envelope, the caller's; free it with `bizra_envelope_free`.
#[no_mangle]
pub unsafe extern "C" fn bizra_gateway_generate(
    gateway: *const bizra_gateway,
    id: *const bizra_identity,
    prompt: *const c_char,
    opts: *const bizra_generate_options,
    out: *mut *mut bizra_envelope,
    finish_reason: *mut u32,
    served_tier: *mut u32,
) -> bizra_status {
    boundary("bizra_gateway_generate", || {
        let out = out_checked(out)?;
        let g = bizra_gateway::arg(gateway, "gateway")?;
        let id = bizra_identity::arg(id, "id")?;
        let prompt = text(prompt, "prompt")?;
        let (req, cancel, on_token) = request(prompt, options_grown(opts, "opts")?.as_ref())?;
        let served = g.complete_with(&req, &cancel, on_token).map_err(failure)?;
        let env = g.sign(id, &req, &served).map_err(failure)?;
        put_opt(
            finish_reason,
            finish_number(served.completion().finish_reason),
        );
        put_opt(served_tier, tier_number(Some(served.route().served)));
        bizra_envelope::put(out, env)
    })
}

/// Frees a gateway, after every call using it has returned; the engines and pools it holds stop
/// once nothing else holds them. NULL is a no-op.
#[no_mangle]
pub unsafe extern "C" fn bizra_gateway_free(gateway: *mut bizra_gateway) {
    boundary("bizra_gateway_free", || bizra_gateway::free(gateway))
}
