//! Embedded inference: a loaded GGUF model (`bizra_engine`), its metadata, signed generation
//! with streaming and cancellation, and embeddings.

use std::ffi::{c_char, c_void, CString};

use bizra_core::inference::{
    CancelToken, Dimension, Engine, EngineOptions, FinishReason, GenerateRequest, IhsanInputs,
    ModelInfo, TokenCallback,
};
use bizra_core::ModelTier;

use crate::*;

/// A loaded GGUF model, served by llama.cpp on the engine's own worker thread. Thread-safe, so
/// safe to share between threads: one handle may be used from many threads at once; requests
/// queue up and are served one at a time, in the order they arrive (a `bizra_engine_generate` or
/// `bizra_engine_embed` call blocks its thread until its turn has come and gone). The queue is
/// bounded (`bizra_engine_options.max_queued` requests behind the running one, 32 by default): a
/// call that finds it full returns `BIZRA_STATUS_BUSY` at once, having done nothing. Freed with
/// `bizra_engine_free`, after every call using it has returned.
pub struct bizra_engine {
    _opaque: [u8; 0],
}
handle_type!(bizra_engine => Model, Boxed);

/// Lets another thread stop a generation. Thread-safe, so safe to share between threads:
/// `bizra_cancel_token_cancel` may be called from any thread (a token callback included) while a
/// generation uses the token. One-shot: once cancelled it stays cancelled, and every generation
/// given it stops at once. Freed with `bizra_cancel_token_free`, after the generations using it
/// have returned.
pub struct bizra_cancel_token {
    _opaque: [u8; 0],
}
handle_type!(bizra_cancel_token => CancelToken, Boxed);

/// Why a generation ended (`uint32_t` out-params take these numbers; the payload's
/// `finish_reason` member says the same in words).
#[repr(u32)]
#[derive(Clone, Copy, Debug)]
pub enum bizra_finish_reason {
    /// The model ended its answer (`"eos"`).
    Eos = 0,
    /// A stop string was produced; it is not part of the output (`"stop"`).
    Stop = 1,
    /// `max_tokens`, or the end of the context window, was reached (`"length"`).
    Length = 2,
    /// The cancel token was cancelled, or the token callback asked to stop (`"cancelled"`).
    Cancelled = 3,
}

/// Options for `bizra_engine_load`. Zero-initialise, set `struct_size = sizeof(...)`, then set
/// what you need: every zero/false member means the core's default.
#[repr(C)]
#[derive(Debug)]
pub struct bizra_engine_options {
    /// `sizeof(bizra_engine_options)`.
    pub struct_size: u32,
    /// Context window in tokens (prompt + output), at least 8, capped at the model's training
    /// context; 0: 2048.
    pub n_ctx: u32,
    /// CPU threads; 0: the physical cores this process may use.
    pub n_threads: u32,
    /// Prompt tokens decoded per batch; 0: 512.
    pub n_batch: u32,
    /// Context window of the embedding context (made on the first `bizra_engine_embed`), at
    /// least 8; 0: 512.
    pub embedding_n_ctx: u32,
    /// Whether `n_gpu_layers` is set (default: all layers in a CUDA build, none otherwise).
    pub has_n_gpu_layers: bool,
    /// Layers offloaded to a GPU (a build without CUDA ignores it).
    pub n_gpu_layers: u32,
    /// Whether `max_queued` is set (default 32). (Added after the members above: a caller built
    /// before it passes the older `struct_size` and gets the default.)
    pub has_max_queued: bool,
    /// Requests (generations and embeddings) that may wait behind the one running, at most
    /// 65536 (more is `BIZRA_STATUS_INVALID_ARGUMENT`); one more is refused at once with
    /// `BIZRA_STATUS_BUSY` rather than queueing without bound. 0: refused whenever the engine is
    /// busy.
    pub max_queued: u32,
}

// SAFETY: integers and `bool`s: all zero is 0/false, every member's default.
unsafe impl ZeroDefault for bizra_engine_options {
    /// Before the queue bound: `struct_size` up to `n_gpu_layers`.
    const OLDER_SIZES: &'static [usize] =
        &[std::mem::offset_of!(bizra_engine_options, has_max_queued)];
}

/// What a model is, read from its GGUF header when it was loaded. The strings belong to the
/// engine: valid until `bizra_engine_free`, never to be freed by the caller.
#[repr(C)]
#[derive(Debug)]
pub struct bizra_model_info {
    /// The model file, as given to `bizra_engine_load`.
    pub path: *const c_char,
    /// `general.name`, or the file name without its extension.
    pub name: *const c_char,
    /// `general.architecture`, e.g. `"llama"`.
    pub architecture: *const c_char,
    /// Number of weights.
    pub parameters: u64,
    /// Quantisation, e.g. `"Q4_1"`.
    pub quantization: *const c_char,
    /// Whether the file states the context it was trained for.
    pub has_context_length: bool,
    /// That training context, in tokens (0 when absent).
    pub context_length: u64,
    /// The context window in use (prompt + output), in tokens.
    pub n_ctx: u32,
    /// File size in bytes.
    pub file_size: u64,
    /// BLAKE3 of the whole file, 64 lowercase hex: the identity of the weights, as in the
    /// payload's `model.file_blake3`.
    pub file_blake3: *const c_char,
    /// The tier a model of this size serves (`bizra_model_tier`).
    pub tier: u32,
    /// The chat template the prompt is rendered with; NULL when the file has none.
    pub chat_template: *const c_char,
}

/// Receives the generated text piece by piece. Runs on the engine's worker thread (not the
/// thread that called `bizra_engine_generate`, which waits meanwhile), one call at a time, and
/// the next token waits for it, so it should be quick. `piece` holds `len` bytes of UTF-8 and a
/// NUL after them; it is lent for the call only. The pieces concatenate exactly to the payload's
/// `output`. Return 0 to go on; anything else stops the generation before its next token
/// (finish reason `CANCELLED`), though the text already produced may still arrive in one last
/// call. The callback must not call into the same engine (its worker is busy running the
/// callback: that would wait forever) nor free it; other bizra calls are fine, but a failure
/// among them sets the worker thread's last error, not the caller's.
pub type bizra_token_fn =
    Option<unsafe extern "C" fn(userdata: *mut c_void, piece: *const c_char, len: usize) -> i32>;

/// Options for `bizra_engine_generate`. Zero-initialise, set `struct_size = sizeof(...)`, then set
/// what you need: every zero/NULL/false member means the default (the core's: llama.cpp's
/// sampling defaults, 256 tokens).
#[repr(C)]
#[derive(Debug)]
pub struct bizra_generate_options {
    /// `sizeof(bizra_generate_options)`.
    pub struct_size: u32,
    /// A system message, rendered with the model's chat template; NULL: none.
    pub system: *const c_char,
    /// At most this many generated tokens; 0: 256.
    pub max_tokens: u32,
    /// Whether `temperature` is set (default 0.8).
    pub has_temperature: bool,
    /// Softmax temperature, ≥ 0; 0 is greedy decoding (deterministic).
    pub temperature: f32,
    /// Nucleus sampling, in (0, 1]; 1 is off; 0: the default, 0.95.
    pub top_p: f32,
    /// Whether `top_k` is set (default 40).
    pub has_top_k: bool,
    /// Keep the k most likely tokens; 0 is off.
    pub top_k: u32,
    /// Whether `min_p` is set (default 0.05).
    pub has_min_p: bool,
    /// Drop tokens below `min_p` × p(top token), in [0, 1]; 0 is off.
    pub min_p: f32,
    /// Penalty for repeating recent tokens, > 0; 1 is off; 0: the default, 1.
    pub repeat_penalty: f32,
    /// Whether `seed` is set (default: a random seed, recorded in the payload's `params.seed`).
    pub has_seed: bool,
    /// The sampler's seed.
    pub seed: u32,
    /// Stop strings (`stop_len` of them, none empty): generation ends before the first
    /// occurrence of any, which is left out of the output.
    pub stop: *const *const c_char,
    /// The number of `stop` entries.
    pub stop_len: usize,
    /// The ids of the envelopes the request came in (at most 64): the output's provenance.
    pub provenance: *const *const c_char,
    /// The number of `provenance` entries.
    pub provenance_len: usize,
    /// The output envelope's time to live in seconds, at least 1 and at most one hour; 0: the
    /// core's default (`DEFAULT_TTL_SECONDS`, one hour).
    pub ttl_seconds: i64,
    /// Called with each piece of text as it is produced; NULL: no streaming.
    pub on_token: bizra_token_fn,
    /// Passed to `on_token` untouched.
    pub userdata: *mut c_void,
    /// Stops the generation when cancelled from another thread; NULL: none.
    pub cancel: *const bizra_cancel_token,
    /// Values for the Ihsan dimensions the engine cannot measure (`ihsan_len` of them), vouched
    /// for by the caller; an unsupplied dimension counts 0, so an answer nobody vouched for
    /// cannot reach the Ihsan threshold. A measured dimension, a repeated one or a value outside
    /// [0, 1] is `BIZRA_STATUS_INVALID_ARGUMENT`.
    pub ihsan: *const bizra_ihsan_value,
    /// The number of `ihsan` entries.
    pub ihsan_len: usize,
    /// Forces the request's tier (a `bizra_model_tier`) when it goes through a gateway
    /// (`bizra_gateway_generate`, `bizra_gateway_decide`); `BIZRA_MODEL_TIER_NONE` (0): the
    /// gateway decides from the task's complexity. An engine called directly ignores it. An
    /// unknown number is `BIZRA_STATUS_INVALID_ARGUMENT`. (Added after the members above: a
    /// caller built before it passes the older `struct_size` and forces no tier.)
    pub tier: u32,
}

// SAFETY: integers, floats, `bool`s, raw pointers and an `Option` of a function pointer: all zero
// is 0/false/NULL/`None`, every member's default.
unsafe impl ZeroDefault for bizra_generate_options {
    /// Before the forced tier: `struct_size` up to `ihsan_len`.
    const OLDER_SIZES: &'static [usize] = &[std::mem::offset_of!(bizra_generate_options, tier)];
}

/// The eight Ihsan dimensions, heaviest first (weights .22 .22 .14 .12 .12 .08 .06 .04).
/// `EFFICIENCY`, `AUDITABILITY`, `ANTI_CENTRALIZATION` and `ROBUSTNESS` are measured by the engine
/// and cannot be supplied. (`bizra_ihsan_value.dimension` takes these numbers.)
#[repr(u32)]
#[derive(Clone, Copy, Debug)]
pub enum bizra_ihsan_dimension {
    /// Is the answer right?
    Correctness = 0,
    /// Is it free of harm?
    Safety = 1,
    /// Does it serve the user's request?
    UserBenefit = 2,
    /// Measured: the model finished within its budget.
    Efficiency = 3,
    /// Measured: the envelope records what re-runs the output.
    Auditability = 4,
    /// Measured: computed on this node.
    AntiCentralization = 5,
    /// Measured: mean top-1/top-2 probability margin.
    Robustness = 6,
    /// Is it fair (adl)?
    AdlFairness = 7,
}

/// One caller-supplied Ihsan value.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct bizra_ihsan_value {
    /// A `bizra_ihsan_dimension` (taken as a number, so that an out-of-range value from C is an
    /// error rather than undefined behaviour).
    pub dimension: u32,
    /// In [0, 1].
    pub value: f64,
}

/// The core's inputs from a C array of `bizra_ihsan_value`.
fn ihsan_inputs(p: *const bizra_ihsan_value, len: usize) -> FfiResult<IhsanInputs> {
    // Checked before the array is read, so a wild length costs nothing.
    if len > Dimension::ALL.len() {
        return Err(invalid(format!(
            "opts.ihsan: {len} entries, but there are only {} dimensions",
            Dimension::ALL.len()
        )));
    }
    let values = slice(p, len, "opts.ihsan")?;
    let mut inputs = IhsanInputs::new();
    for (i, v) in values.iter().enumerate() {
        let d = usize::try_from(v.dimension)
            .ok()
            .and_then(|k| Dimension::ALL.get(k).copied())
            .ok_or_else(|| {
                invalid(format!(
                    "opts.ihsan[{i}].dimension: {} is not a bizra_ihsan_dimension (0..=7)",
                    v.dimension
                ))
            })?;
        if inputs.get(d).is_some() {
            return Err(invalid(format!("opts.ihsan[{i}]: {d} is given twice")));
        }
        inputs = inputs.with(d, v.value);
    }
    inputs
        .validate()
        .map_err(|e| invalid(format!("opts.ihsan: {e}")))?;
    Ok(inputs)
}

/// The engine handle's content: the engine and its metadata as C strings, made once so that
/// `bizra_engine_info` can lend them.
pub(crate) struct Model {
    pub(crate) engine: Engine,
    path: CString,
    name: CString,
    architecture: CString,
    quantization: CString,
    file_blake3: CString,
    chat_template: Option<CString>,
}

/// A C string of metadata read from a file, where a NUL byte cannot be represented.
fn meta_string(s: &str) -> CString {
    CString::new(s.replace('\0', "?")).unwrap_or_default()
}

impl Model {
    fn new(engine: Engine) -> Self {
        let i: &ModelInfo = engine.info();
        Self {
            path: meta_string(&i.path.to_string_lossy()),
            name: meta_string(&i.name),
            architecture: meta_string(&i.architecture),
            quantization: meta_string(&i.quantization),
            file_blake3: meta_string(&i.file_blake3),
            chat_template: i.chat_template.as_deref().map(meta_string),
            engine,
        }
    }
}

pub(crate) fn finish_number(f: FinishReason) -> u32 {
    (match f {
        FinishReason::Eos => bizra_finish_reason::Eos,
        FinishReason::Stop => bizra_finish_reason::Stop,
        FinishReason::Length => bizra_finish_reason::Length,
        FinishReason::Cancelled => bizra_finish_reason::Cancelled,
    }) as u32
}

/// The C callback, carried to the worker thread. Its piece buffer is reused, so a piece costs
/// no allocation once the longest one has been seen.
struct TokenSink {
    f: unsafe extern "C" fn(*mut c_void, *const c_char, usize) -> i32,
    userdata: Userdata,
    cancel: CancelToken,
    piece: Vec<u8>,
}

// SAFETY: the header says the callback runs on the engine's worker thread; calling it there with
// its userdata is the documented contract. The library never touches userdata itself.
unsafe impl Send for TokenSink {}

impl TokenSink {
    fn deliver(&mut self, text: &str) {
        self.piece.clear();
        self.piece.extend_from_slice(text.as_bytes());
        self.piece.push(0);
        // SAFETY: the caller's callback for this purpose; `piece` holds `text.len()` bytes and a
        // NUL and lives for the call.
        let verdict = unsafe { (self.f)(self.userdata, self.piece.as_ptr().cast(), text.len()) };
        if verdict != 0 {
            // The core checks the token before each next one: this is how a callback stops it.
            self.cancel.cancel();
        }
    }
}

/// The forced tier of `opts.tier` (0: none).
fn forced_tier(n: u32) -> FfiResult<Option<ModelTier>> {
    Ok(match n {
        0 => None,
        1 => Some(ModelTier::Edge),
        2 => Some(ModelTier::Local),
        3 => Some(ModelTier::Pool),
        _ => {
            return Err(invalid(format!(
                "opts.tier: {n} is not a bizra_model_tier (0..=3)"
            )))
        }
    })
}

/// The core request, cancel token and callback of one `bizra_engine_generate` or
/// `bizra_gateway_generate` call (`opts` read by `options_grown`).
pub(crate) fn request(
    prompt: &str,
    opts: Option<&bizra_generate_options>,
) -> FfiResult<(GenerateRequest, CancelToken, Option<TokenCallback>)> {
    let mut r = GenerateRequest::chat(prompt);
    let Some(o) = opts else {
        return Ok((r, CancelToken::new(), None));
    };
    if let Some(s) = opt_text(o.system, "opts.system")? {
        r = r.system(s);
    }
    if o.max_tokens != 0 {
        r = r.max_tokens(o.max_tokens);
    }
    let s = &mut r.sampling;
    if o.has_temperature {
        s.temperature = o.temperature;
    }
    if o.top_p != 0.0 {
        s.top_p = o.top_p;
    }
    if o.has_top_k {
        s.top_k = o.top_k;
    }
    if o.has_min_p {
        s.min_p = o.min_p;
    }
    if o.repeat_penalty != 0.0 {
        s.repeat_penalty = o.repeat_penalty;
    }
    if o.has_seed {
        s.seed = Some(o.seed);
    }
    r.stop = text_list(o.stop, o.stop_len, "opts.stop")?
        .into_iter()
        .map(str::to_owned)
        .collect();
    r.provenance = provenance(o.provenance, o.provenance_len, "opts.provenance")?
        .into_iter()
        .map(str::to_owned)
        .collect();
    if o.ttl_seconds != 0 {
        r = r.ttl(o.ttl_seconds);
    }
    r = r.ihsan(ihsan_inputs(o.ihsan, o.ihsan_len)?);
    r.tier = forced_tier(o.tier)?;
    let cancel = if o.cancel.is_null() {
        CancelToken::new()
    } else {
        bizra_cancel_token::arg(o.cancel, "opts.cancel")?.clone()
    };
    let on_token = o.on_token.map(|f| {
        let mut sink = TokenSink {
            f,
            userdata: o.userdata,
            cancel: cancel.clone(),
            piece: Vec::new(),
        };
        Box::new(move |text: &str| sink.deliver(text)) as TokenCallback
    });
    Ok((r, cancel, on_token))
}

/// Loads a GGUF model (memory-mapped) and starts its worker thread; takes a moment (the whole
/// file is hashed). `opts` may be NULL (the defaults). A missing, non-GGUF or damaged file is
/// `BIZRA_STATUS_MODEL`, with the reason in the last error. `*out`: a new engine, the caller's;
/// free it with `bizra_engine_free`.
#[no_mangle]
pub unsafe extern "C" fn bizra_engine_load(
    path: *const c_char,
    opts: *const bizra_engine_options,
    out: *mut *mut bizra_engine,
) -> bizra_status {
    boundary("bizra_engine_load", || {
        let out = out_checked(out)?;
        let path = text(path, "path")?;
        let mut o = EngineOptions::default();
        if let Some(c) = options_grown(opts, "opts")? {
            if c.n_ctx != 0 {
                o.n_ctx = c.n_ctx;
            }
            if c.n_threads != 0 {
                o.n_threads = Some(c.n_threads);
            }
            if c.n_batch != 0 {
                o.n_batch = c.n_batch;
            }
            if c.embedding_n_ctx != 0 {
                o.embedding_n_ctx = c.embedding_n_ctx;
            }
            if c.has_n_gpu_layers {
                o.n_gpu_layers = c.n_gpu_layers;
            }
            if c.has_max_queued {
                o.max_queued = c.max_queued;
            }
        }
        bizra_engine::put(out, Model::new(Engine::load(path, o)?))
    })
}

/// The model's metadata, written to `*out`: its strings belong to the engine (valid until
/// `bizra_engine_free`, never freed by the caller).
#[no_mangle]
pub unsafe extern "C" fn bizra_engine_info(
    engine: *const bizra_engine,
    out: *mut bizra_model_info,
) -> bizra_status {
    boundary("bizra_engine_info", || {
        let out = out_checked(out)?;
        let m = bizra_engine::arg(engine, "engine")?;
        let i = m.engine.info();
        put(
            out,
            bizra_model_info {
                path: m.path.as_ptr(),
                name: m.name.as_ptr(),
                architecture: m.architecture.as_ptr(),
                parameters: i.parameters,
                quantization: m.quantization.as_ptr(),
                has_context_length: i.context_length.is_some(),
                context_length: i.context_length.unwrap_or(0),
                n_ctx: m.engine.n_ctx(),
                file_size: i.file_size,
                file_blake3: m.file_blake3.as_ptr(),
                tier: tier_number(Some(i.tier)),
                chat_template: m
                    .chat_template
                    .as_ref()
                    .map_or(std::ptr::null(), |t| t.as_ptr()),
            },
        );
        Ok(BIZRA_STATUS_OK)
    })
}

/// Answers `prompt` (rendered with the model's chat template) and returns the output as a new
/// envelope signed by `id`: payload `{"type": "bizra.inference", "output", "model", "tier",
/// "prompt_blake3", "params", "tokens", "timings_ms", "finish_reason", "scores"}` with measured
/// `snr` and `ihsan` scores, ready for `bizra_envelope_verify` and the gate chain. Blocks until
/// generation ends (a cancelled one included: that is a success whose finish reason is
/// `CANCELLED`). `opts` may be NULL (no streaming, the defaults); `finish_reason` may be NULL,
/// else receives a `bizra_finish_reason`. A prompt that does not fit the context window is
/// `BIZRA_STATUS_CONTEXT_OVERFLOW`; bad sampling values, stop strings, provenance ids or ttl are
/// `BIZRA_STATUS_INVALID_ARGUMENT`. The engine stays usable after any failure. `*out`: a new
/// envelope, the caller's; free it with `bizra_envelope_free`.
#[no_mangle]
pub unsafe extern "C" fn bizra_engine_generate(
    engine: *const bizra_engine,
    id: *const bizra_identity,
    prompt: *const c_char,
    opts: *const bizra_generate_options,
    out: *mut *mut bizra_envelope,
    finish_reason: *mut u32,
) -> bizra_status {
    boundary("bizra_engine_generate", || {
        let out = out_checked(out)?;
        let m = bizra_engine::arg(engine, "engine")?;
        let id = bizra_identity::arg(id, "id")?;
        let prompt = text(prompt, "prompt")?;
        let (req, cancel, on_token) = request(prompt, options_grown(opts, "opts")?.as_ref())?;
        // Completion and signature separately (as `Engine::generate_streaming` does inside) so
        // that the finish reason comes back without parsing the payload.
        let completion = m.engine.complete_with(&req, &cancel, on_token)?;
        let env = m.engine.sign(id, &req, &completion)?;
        put_opt(finish_reason, finish_number(completion.finish_reason));
        bizra_envelope::put(out, env)
    })
}

/// A sentence embedding of `text`: the mean of the model's final hidden states over its tokens,
/// L2-normalised (so a dot product is the cosine similarity). A text longer than the embedding
/// context is `BIZRA_STATUS_CONTEXT_OVERFLOW`. `*out`: the caller's floats; free them with
/// `bizra_floats_free`.
#[no_mangle]
pub unsafe extern "C" fn bizra_engine_embed(
    engine: *const bizra_engine,
    text: *const c_char,
    out: *mut bizra_floats,
) -> bizra_status {
    boundary("bizra_engine_embed", || {
        let out = out_checked(out)?;
        let m = bizra_engine::arg(engine, "engine")?;
        let t = self::text(text, "text")?;
        put_floats(out, m.engine.embed(t)?)
    })
}

/// Frees an engine: a generation still running on another thread is a use after free, so free
/// only after every call has returned. Waits for the worker thread to stop. NULL is a no-op.
#[no_mangle]
pub unsafe extern "C" fn bizra_engine_free(engine: *mut bizra_engine) {
    boundary("bizra_engine_free", || bizra_engine::free(engine))
}

/// A cancel token, not yet cancelled. `*out`: a new token, the caller's; free it with
/// `bizra_cancel_token_free`.
#[no_mangle]
pub unsafe extern "C" fn bizra_cancel_token_new(out: *mut *mut bizra_cancel_token) -> bizra_status {
    boundary("bizra_cancel_token_new", || {
        let out = out_checked(out)?;
        bizra_cancel_token::put(out, CancelToken::new())
    })
}

/// Cancels: a generation using the token stops before its next token (or its next prompt
/// batch), and every later one given it stops at once. Any thread; idempotent.
#[no_mangle]
pub unsafe extern "C" fn bizra_cancel_token_cancel(
    token: *const bizra_cancel_token,
) -> bizra_status {
    boundary("bizra_cancel_token_cancel", || {
        bizra_cancel_token::arg(token, "token")?.cancel();
        Ok(BIZRA_STATUS_OK)
    })
}

/// Whether the token was cancelled (by `bizra_cancel_token_cancel`, or by a token callback that
/// asked to stop a generation given this token), written to `*out` (a value: nothing to free).
#[no_mangle]
pub unsafe extern "C" fn bizra_cancel_token_is_cancelled(
    token: *const bizra_cancel_token,
    out: *mut bool,
) -> bizra_status {
    boundary("bizra_cancel_token_is_cancelled", || {
        let out = out_checked(out)?;
        put(out, bizra_cancel_token::arg(token, "token")?.is_cancelled());
        Ok(BIZRA_STATUS_OK)
    })
}

/// Frees a cancel token, after the generations using it have returned. NULL is a no-op.
#[no_mangle]
pub unsafe extern "C" fn bizra_cancel_token_free(token: *mut bizra_cancel_token) {
    boundary("bizra_cancel_token_free", || {
        bizra_cancel_token::free(token)
    })
}
