//! `Model` and `TokenStream`: the core's embedded llama.cpp engine, for Node.
//!
//! Why threads of our own rather than napi's `AsyncTask`: a request waits in the engine's queue
//! (one worker thread per model, requests served in order) and then generates for seconds. An
//! `AsyncTask` would hold one of libuv's four pool threads all that time, so four pending
//! generations would stall every `fs`, `dns`, `crypto` and `zlib` call of the host process. Each
//! pending load, generation or embedding therefore waits on a thread of its own (the engine
//! computes on its worker thread either way) and comes back to the JavaScript thread through a
//! napi-rs deferred (a thread-safe function underneath, which napi-rs releases safely should the
//! environment tear down first).
//!
//! Streamed pieces go from the engine's worker thread straight to the pending `next()` call.
//! The output is signed on the JavaScript thread once the completion arrives
//! ([`Engine::sign`]), so the identity's key stays inside its JavaScript object and no pointer
//! to it crosses threads; a signature takes microseconds.
//!
//! Errors keep the binding's string codes (`index.js` makes them `BizraError`/`TypeError`),
//! plus the inference ones: `MODEL` (missing, non-GGUF or damaged file), `PROMPT_TOO_LONG`,
//! `INFERENCE`. Aborting through an `AbortSignal` rejects with the signal's `reason`, as
//! `fetch` does.

use std::collections::VecDeque;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::ptr;
use std::sync::mpsc;
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::{self, ThreadId};

use bizra::inference::{
    CancelToken, Completion, Dimension, Engine, EngineOptions, GenerateRequest, IhsanInputs,
    TokenCallback,
};
use napi::bindgen_prelude::*;
use napi::{sys, Env, JsDeferred, JsError, JsValue, ValueType};
use napi_derive::napi;
use serde_json::Value;

use crate::{
    core_err, err, get_field, guard, napi_err, opt_number, opt_string, options_object, panic_err,
    type_err, Envelope, Result,
};

// ---------------------------------------------------------------------------------------------
// Errors

/// Our error as a JavaScript `Error` with its string `code`, made on the JavaScript thread: a
/// napi deferred would otherwise reject with `GenericFailure` as the code.
fn js_error(env: &Env, e: napi::Error<String>) -> napi::Error {
    napi::Error::from(JsError::from(e).into_unknown(*env))
}

/// A failure kept until every waiter has had it (`napi::Error` is not `Clone`).
struct Failure {
    code: String,
    message: String,
}

impl Failure {
    fn of(e: napi::Error<String>) -> Self {
        Failure {
            code: e.status,
            message: e.reason,
        }
    }
    fn error(&self) -> napi::Error<String> {
        err(&self.code, self.message.clone())
    }
}

// ---------------------------------------------------------------------------------------------
// JavaScript values held across threads, and Promises

/// A strong reference to a JavaScript value, made on the JavaScript thread. It may travel inside
/// a job to another thread and back, but is read and released only on the thread that made it;
/// dropped anywhere else (the environment tore down with the job in flight) it is leaked rather
/// than touched from the wrong thread.
struct JsRef {
    env: sys::napi_env,
    raw: sys::napi_ref,
    owner: ThreadId,
}

// SAFETY: the napi handles are used only on `owner`, which `get` and `drop` check.
unsafe impl Send for JsRef {}

impl JsRef {
    fn new(env: &Env, value: sys::napi_value) -> Result<Self> {
        let mut raw = ptr::null_mut();
        let status = unsafe { sys::napi_create_reference(env.raw(), value, 1, &mut raw) };
        if status != sys::Status::napi_ok {
            return Err(err(
                "INTERNAL",
                "cannot keep a reference to a JavaScript value",
            ));
        }
        Ok(JsRef {
            env: env.raw(),
            raw,
            owner: thread::current().id(),
        })
    }

    fn get<'env>(&self, env: &'env Env) -> Result<Unknown<'env>> {
        let mut value = ptr::null_mut();
        if thread::current().id() != self.owner
            || env.raw() != self.env
            || unsafe { sys::napi_get_reference_value(self.env, self.raw, &mut value) }
                != sys::Status::napi_ok
            || value.is_null()
        {
            return Err(err("INTERNAL", "a JavaScript value is out of reach"));
        }
        Ok(unsafe { Unknown::from_raw_unchecked(env.raw(), value) })
    }
}

impl Drop for JsRef {
    fn drop(&mut self) {
        if thread::current().id() == self.owner {
            unsafe { sys::napi_delete_reference(self.env, self.raw) };
        }
    }
}

/// What a napi deferred runs on the JavaScript thread to settle its Promise.
type Settle<V> = Box<dyn FnOnce(Env) -> napi::Result<V>>;
/// A Promise that any thread may settle; it must be settled exactly once (an unsettled one would
/// keep the event loop alive for ever).
type Deferred<V> = JsDeferred<V, Settle<V>>;

fn deferred<V: ToNapiValue>(env: &Env) -> Result<(Deferred<V>, JsObject)> {
    let (d, promise) = env.create_deferred::<V, Settle<V>>().map_err(napi_err)?;
    Ok((d, JsObject(promise.raw())))
}

/// Settles with our error (its code intact), from any thread.
fn fail<V: ToNapiValue + 'static>(d: Deferred<V>, e: napi::Error<String>) {
    d.resolve(Box::new(move |env| Err(js_error(&env, e))));
}

/// An object made here and returned as is (a Promise, a `TokenStream`); every export that
/// returns one states its TypeScript type.
pub struct JsObject(sys::napi_value);

impl TypeName for JsObject {
    fn type_name() -> &'static str {
        "object"
    }
    fn value_type() -> ValueType {
        ValueType::Object
    }
}

impl ToNapiValue for JsObject {
    unsafe fn to_napi_value(_env: sys::napi_env, val: Self) -> napi::Result<sys::napi_value> {
        Ok(val.0)
    }
}

fn resolved<T: ToNapiValue>(env: &Env, value: T) -> Result<JsObject> {
    PromiseRaw::resolve(env, value)
        .map(|p| JsObject(p.raw()))
        .map_err(napi_err)
}

fn rejected(env: &Env, reason: napi::Error) -> Result<JsObject> {
    PromiseRaw::<()>::reject(env, reason)
        .map(|p| JsObject(p.raw()))
        .map_err(napi_err)
}

/// Runs `work` on a thread of its own, then `then` on the JavaScript thread with its outcome
/// (`Err`: `work` panicked, or no thread could be started), and settles `deferred` with what `then` returns. While it runs, the
/// deferred keeps the event loop alive, as a pending `fs` call does.
fn off_thread<T, V, W, F>(env: &Env, deferred: Deferred<V>, work: W, then: F)
where
    T: Send + 'static,
    V: ToNapiValue + 'static,
    W: FnOnce() -> T + Send + 'static,
    F: FnOnce(&Env, std::result::Result<T, napi::Error<String>>) -> napi::Result<V>
        + Send
        + 'static,
{
    // The deferred and `then` reach the thread only once it exists: if it cannot be started,
    // they are still here to settle the Promise.
    let (tx, rx) = mpsc::sync_channel::<(Deferred<V>, F)>(1);
    let spawned = thread::Builder::new()
        .name("bizra-node-job".into())
        .spawn(move || {
            let Ok((deferred, then)) = rx.recv() else {
                return;
            };
            let done = catch_unwind(AssertUnwindSafe(work)).map_err(|p| panic_err(&p));
            deferred.resolve(Box::new(move |env| {
                catch_unwind(AssertUnwindSafe(|| then(&env, done)))
                    .unwrap_or_else(|p| Err(js_error(&env, panic_err(&p))))
            }));
        });
    let failed = match spawned {
        Ok(_) => match tx.send((deferred, then)) {
            Ok(()) => return,
            Err(mpsc::SendError(pair)) => (pair, "the job thread stopped".to_owned()),
        },
        Err(e) => ((deferred, then), format!("cannot start a thread: {e}")),
    };
    let ((deferred, then), why) = failed;
    let settled = then(env, Err(err("INFERENCE", why)));
    deferred.resolve(Box::new(move |_| settled));
}

// ---------------------------------------------------------------------------------------------
// Options

/// A whole number in 0..=4294967295 (counts, sizes, seeds).
fn opt_u32(env: &Env, obj: &Object, name: &str) -> Result<Option<u32>> {
    opt_number(env, obj, name)?
        .map(|n| {
            if n.fract() == 0.0 && (0.0..=f64::from(u32::MAX)).contains(&n) {
                Ok(n as u32)
            } else {
                Err(type_err(format!(
                    "{name} must be a whole number in 0..=4294967295, got {n}"
                )))
            }
        })
        .transpose()
}

/// Sampling values; the core checks their ranges (`INVALID_INPUT`).
fn opt_f32(env: &Env, obj: &Object, name: &str) -> Result<Option<f32>> {
    Ok(opt_number(env, obj, name)?.map(|n| n as f32))
}

/// A string or an array of strings (`stop`, `provenance`).
fn opt_strings(env: &Env, obj: &Object, name: &str) -> Result<Option<Vec<String>>> {
    let Some(raw) = get_field(obj, name)? else {
        return Ok(None);
    };
    let wrong = || type_err(format!("{name} must be a string or an array of strings"));
    match crate::json::from_js(env.raw(), raw, name).map_err(|_| wrong())? {
        Value::String(s) => Ok(Some(vec![s])),
        Value::Array(items) => items
            .into_iter()
            .map(|v| match v {
                Value::String(s) => Ok(s),
                _ => Err(wrong()),
            })
            .collect::<Result<Vec<_>>>()
            .map(Some),
        _ => Err(wrong()),
    }
}

/// `{ correctness?, safety?, userBenefit?, adlFairness? }` (the payload's snake_case names work
/// too): the Ihsan dimensions the engine cannot measure, supplied by the caller.
fn opt_ihsan(env: &Env, obj: &Object) -> Result<Option<IhsanInputs>> {
    let Some(raw) = get_field(obj, "ihsan")? else {
        return Ok(None);
    };
    let Value::Object(map) = crate::json::from_js(env.raw(), raw, "ihsan")? else {
        return Err(type_err(
            "ihsan must be an object { correctness?, safety?, userBenefit?, adlFairness? }",
        ));
    };
    let mut inputs = IhsanInputs::new();
    for (key, value) in map {
        let snake: String = key
            .chars()
            .flat_map(|c| {
                let lower = c.to_ascii_lowercase();
                (c.is_ascii_uppercase().then_some('_').into_iter()).chain([lower])
            })
            .collect();
        let dimension = Dimension::from_name(&snake).ok_or_else(|| {
            type_err(format!(
                "unknown ihsan dimension {key:?}; one of correctness, safety, userBenefit, adlFairness"
            ))
        })?;
        let v = value
            .as_f64()
            .ok_or_else(|| type_err(format!("ihsan.{key} must be a number")))?;
        inputs = inputs.with(dimension, v);
    }
    Ok(Some(inputs))
}

/// An `AbortSignal` (checked with `instanceof`, so a look-alike object is refused).
fn abort_signal(env: &Env, raw: sys::napi_value) -> Result<Object<'static>> {
    let global = env.get_global().map_err(napi_err)?;
    let ctor: Unknown = global.get_named_property("AbortSignal").map_err(napi_err)?;
    let mut is = false;
    let status = unsafe { sys::napi_instanceof(env.raw(), raw, ctor.raw(), &mut is) };
    if status != sys::Status::napi_ok || !is {
        return Err(type_err("signal must be an AbortSignal"));
    }
    Ok(Object::from_raw(env.raw(), raw))
}

/// `generate`/`stream` arguments as the core's request, and the abort signal if any.
fn request(
    env: &Env,
    prompt: String,
    options: Option<Unknown>,
) -> Result<(GenerateRequest, Option<Object<'static>>)> {
    let mut r = GenerateRequest::chat(prompt);
    let Some(o) = options_object(env, options)? else {
        return Ok((r, None));
    };
    if let Some(s) = opt_string(env, &o, "system")? {
        r = r.system(s);
    }
    if let Some(n) = opt_u32(env, &o, "maxTokens")? {
        r = r.max_tokens(n);
    }
    if let Some(t) = opt_f32(env, &o, "temperature")? {
        r.sampling.temperature = t;
    }
    if let Some(p) = opt_f32(env, &o, "topP")? {
        r.sampling.top_p = p;
    }
    if let Some(k) = opt_u32(env, &o, "topK")? {
        r.sampling.top_k = k;
    }
    if let Some(p) = opt_f32(env, &o, "minP")? {
        r.sampling.min_p = p;
    }
    if let Some(p) = opt_f32(env, &o, "repeatPenalty")? {
        r.sampling.repeat_penalty = p;
    }
    r.sampling.seed = opt_u32(env, &o, "seed")?;
    r.stop = opt_strings(env, &o, "stop")?.unwrap_or_default();
    r.provenance = opt_strings(env, &o, "provenance")?.unwrap_or_default();
    if let Some(ttl) = opt_u32(env, &o, "ttl")? {
        r = r.ttl(i64::from(ttl));
    }
    if let Some(inputs) = opt_ihsan(env, &o)? {
        r = r.ihsan(inputs);
    }
    let signal = get_field(&o, "signal")?
        .map(|raw| abort_signal(env, raw))
        .transpose()?;
    Ok((r, signal))
}

fn identity_ref(env: &Env, identity: Unknown) -> Result<JsRef> {
    crate::identity_of(env, identity)?;
    JsRef::new(env, identity.raw())
}

// ---------------------------------------------------------------------------------------------
// A generation's state, shared by the engine's worker thread and the JavaScript thread

/// One step of the async iterator: `{ value, done }`.
enum Step {
    Piece(String),
    /// The last item: the signed envelope.
    Envelope(Box<bizra::Envelope>),
    /// The end: `{ value: undefined, done: true }`.
    Done,
}

impl ToNapiValue for Step {
    unsafe fn to_napi_value(env: sys::napi_env, val: Self) -> napi::Result<sys::napi_value> {
        let mut obj = Object::new(&Env::from_raw(env))?;
        match val {
            Step::Piece(text) => {
                obj.set("value", text)?;
                obj.set("done", false)?;
            }
            Step::Envelope(inner) => {
                obj.set("value", Envelope::from(*inner))?;
                obj.set("done", false)?;
            }
            Step::Done => {
                obj.set("value", ())?;
                obj.set("done", true)?;
            }
        }
        Ok(obj.raw())
    }
}

enum Outcome {
    Signed(Box<bizra::Envelope>),
    Failed(Failure),
    /// The `AbortSignal` fired: waiters reject with its reason.
    Aborted,
}

/// What the JavaScript side of one generation waits on. The engine's worker thread adds pieces;
/// the JavaScript thread does everything else.
#[derive(Default)]
struct Generation {
    /// Pieces no `next()` has taken yet (streams only).
    pieces: VecDeque<String>,
    /// `next()` calls waiting for a piece or the end, oldest first; never non-empty together
    /// with `pieces`.
    next_waiters: VecDeque<Deferred<Step>>,
    /// `envelope()` calls (and `generate`'s Promise) waiting for the end.
    envelope_waiters: Vec<Deferred<Envelope>>,
    outcome: Option<Outcome>,
    /// The iterator has yielded the envelope, its last item.
    envelope_yielded: bool,
    /// The iterator is done: it reported the end or an error, or `return()` was called.
    closed: bool,
}

fn lock(g: &Mutex<Generation>) -> MutexGuard<'_, Generation> {
    // Nothing panics while holding the lock; should it, the state is still usable.
    g.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Generation {
    /// A piece from the engine's worker thread: to the oldest waiting `next()`, else queued.
    /// Dropped once nobody will read it (`return()` was called, or the signal fired).
    fn piece(&mut self, piece: &str) {
        if self.closed || self.outcome.is_some() {
            return;
        }
        match self.next_waiters.pop_front() {
            Some(d) => {
                let piece = piece.to_owned();
                d.resolve(Box::new(move |_| Ok(Step::Piece(piece))));
            }
            None => self.pieces.push_back(piece.to_owned()),
        }
    }

    /// The end of generation: settles every waiter. Ignored after an abort.
    fn finish(&mut self, result: std::result::Result<Box<bizra::Envelope>, Failure>) {
        if self.outcome.is_some() {
            return;
        }
        let mut waiters = std::mem::take(&mut self.next_waiters).into_iter();
        if let Some(first) = waiters.next() {
            match &result {
                Ok(e) => {
                    let e = e.clone();
                    self.envelope_yielded = true;
                    first.resolve(Box::new(move |_| Ok(Step::Envelope(e))));
                }
                Err(f) => {
                    self.closed = true;
                    fail(first, f.error());
                }
            }
        }
        for d in waiters {
            self.closed = true;
            d.resolve(Box::new(|_| Ok(Step::Done)));
        }
        for d in std::mem::take(&mut self.envelope_waiters) {
            match &result {
                Ok(e) => {
                    let inner = (**e).clone();
                    d.resolve(Box::new(move |_| Ok(Envelope::from(inner))));
                }
                Err(f) => fail(d, f.error()),
            }
        }
        self.outcome = Some(match result {
            Ok(e) => Outcome::Signed(e),
            Err(f) => Outcome::Failed(f),
        });
    }

    /// The signal fired (on the JavaScript thread): waiters reject with its reason now, even
    /// when the request still waits in the engine's queue. A stream with no `next()` pending
    /// rejects its next one.
    fn abort(&mut self, reason: Unknown) {
        if self.outcome.is_some() {
            return;
        }
        self.outcome = Some(Outcome::Aborted);
        self.pieces.clear();
        if !self.next_waiters.is_empty() {
            self.closed = true;
        }
        for d in std::mem::take(&mut self.next_waiters) {
            d.reject(napi::Error::from(reason));
        }
        for d in std::mem::take(&mut self.envelope_waiters) {
            d.reject(napi::Error::from(reason));
        }
    }

    /// `return()`: the consumer is gone; pending `next()` calls end.
    fn close(&mut self) {
        self.closed = true;
        self.pieces.clear();
        for d in std::mem::take(&mut self.next_waiters) {
            d.resolve(Box::new(|_| Ok(Step::Done)));
        }
    }
}

/// An `AbortSignal` wired to a generation: its 'abort' listener cancels the engine's work and
/// rejects the waiters.
struct Abort {
    signal: JsRef,
    listener: JsRef,
}

impl Abort {
    fn listen(
        env: &Env,
        signal: &Object,
        cancel: CancelToken,
        generation: Arc<Mutex<Generation>>,
    ) -> Result<Self> {
        let listener = env
            .create_function_from_closure::<(), (), _>("bizraAbort", move |ctx| {
                // A throw from an event listener would be an uncaught exception: swallow all.
                let _ = catch_unwind(AssertUnwindSafe(|| -> napi::Result<()> {
                    let signal: Object = ctx.this()?;
                    if signal.get_named_property::<bool>("aborted")? {
                        cancel.cancel();
                        let reason: Unknown = signal.get_named_property("reason")?;
                        lock(&generation).abort(reason);
                    }
                    Ok(())
                }));
                Ok(())
            })
            .map_err(napi_err)?;
        let add: Function<FnArgs<(&str, Unknown)>, Unknown> = signal
            .get_named_property("addEventListener")
            .map_err(napi_err)?;
        add.apply(signal, ("abort", listener.to_unknown()).into())
            .map_err(napi_err)?;
        Ok(Abort {
            signal: JsRef::new(env, signal.raw())?,
            listener: JsRef::new(env, listener.raw())?,
        })
    }

    /// Removes the listener once the generation is over: a long-lived signal (one per server,
    /// say) would otherwise collect one per request, and Node warns past ten.
    fn release(self, env: &Env) -> Result<()> {
        let signal = Object::from_raw(env.raw(), self.signal.get(env)?.raw());
        let remove: Function<FnArgs<(&str, Unknown)>, Unknown> = signal
            .get_named_property("removeEventListener")
            .map_err(napi_err)?;
        remove
            .apply(signal, ("abort", self.listener.get(env)?).into())
            .map_err(napi_err)?;
        Ok(())
    }
}

fn signal_reason<'env>(env: &'env Env, signal: &JsRef) -> Result<Unknown<'env>> {
    Object::from_raw(env.raw(), signal.get(env)?.raw())
        .get_named_property("reason")
        .map_err(napi_err)
}

/// Starts a generation: the engine works on its thread, a job thread waits for the completion,
/// the JavaScript thread signs it and settles `generation`'s waiters. With `stream`, pieces go
/// to `generation` as they come.
#[allow(clippy::too_many_arguments)]
fn start(
    env: &Env,
    engine: &Engine,
    identity: JsRef,
    request: GenerateRequest,
    signal: Option<&Object>,
    generation: &Arc<Mutex<Generation>>,
    cancel: &CancelToken,
    stream: bool,
) -> Result<()> {
    if let Some(signal) = signal {
        if signal
            .get_named_property::<bool>("aborted")
            .map_err(napi_err)?
        {
            let reason: Unknown = signal.get_named_property("reason").map_err(napi_err)?;
            lock(generation).abort(reason);
            return Ok(());
        }
    }
    let (hop, _promise) = deferred::<()>(env)?;
    let listening = signal
        .map(|s| Abort::listen(env, s, cancel.clone(), Arc::clone(generation)))
        .transpose();
    let abort = match listening {
        Ok(abort) => abort,
        Err(e) => {
            hop.resolve(Box::new(|_| Ok(())));
            return Err(e);
        }
    };
    let on_token: Option<TokenCallback> = if stream {
        let g = Arc::clone(generation);
        Some(Box::new(move |piece: &str| lock(&g).piece(piece)))
    } else {
        None
    };
    let (work_engine, work_request, work_cancel) =
        (engine.clone(), request.clone(), cancel.clone());
    let engine = engine.clone();
    let generation = Arc::clone(generation);
    off_thread(
        env,
        hop,
        move || work_engine.complete_with(&work_request, &work_cancel, on_token),
        move |env, done| {
            // The hop's own Promise has no handler, so it must not reject: a panic here ends the
            // generation with code PANIC instead.
            let signed = catch_unwind(AssertUnwindSafe(|| {
                if let Some(abort) = abort {
                    let _ = abort.release(env);
                }
                if lock(&generation).outcome.is_some() {
                    return None; // aborted: nothing to sign, nobody waits
                }
                Some(
                    done.and_then(|r| r.map_err(core_err))
                        .and_then(|c| sign(env, &identity, &engine, &request, &c)),
                )
            }))
            .unwrap_or_else(|p| Some(Err(panic_err(&p))));
            if let Some(signed) = signed {
                lock(&generation).finish(signed.map(Box::new).map_err(Failure::of));
            }
            Ok(())
        },
    );
    Ok(())
}

fn sign(
    env: &Env,
    identity: &JsRef,
    engine: &Engine,
    request: &GenerateRequest,
    completion: &Completion,
) -> Result<bizra::Envelope> {
    let id = crate::identity_of(env, identity.get(env)?)?;
    engine
        .sign(&id.inner, request, completion)
        .map_err(core_err)
}

// ---------------------------------------------------------------------------------------------
// Model

/// A loaded GGUF model, served by the core's llama.cpp engine on its own worker thread.
/// Requests (from any number of callers) are served in order.
#[napi]
pub struct Model {
    engine: Engine,
}

#[napi]
impl Model {
    /// Loads a GGUF model off the main thread. A missing, non-GGUF or truncated file rejects
    /// with code `MODEL`; unset options take the core's defaults (`nCtx` 2048, capped at the
    /// model's training context; one thread per physical core).
    #[napi(
        ts_args_type = "path: string, options?: LoadOptions",
        ts_return_type = "Promise<Model>"
    )]
    pub fn load(env: Env, path: String, options: Option<Unknown>) -> Result<JsObject> {
        guard(|| {
            let mut o = EngineOptions::default();
            if let Some(obj) = options_object(&env, options)? {
                if let Some(n) = opt_u32(&env, &obj, "nCtx")? {
                    o.n_ctx = n;
                }
                o.n_threads = opt_u32(&env, &obj, "threads")?;
                if let Some(n) = opt_u32(&env, &obj, "nBatch")? {
                    o.n_batch = n;
                }
                if let Some(n) = opt_u32(&env, &obj, "embeddingNCtx")? {
                    o.embedding_n_ctx = n;
                }
                if let Some(n) = opt_u32(&env, &obj, "nGpuLayers")? {
                    o.n_gpu_layers = n;
                }
            }
            let (d, promise) = deferred::<Model>(&env)?;
            off_thread(
                &env,
                d,
                move || Engine::load(&path, o),
                |env, done| match done.and_then(|r| r.map_err(core_err)) {
                    Ok(engine) => Ok(Model { engine }),
                    Err(e) => Err(js_error(env, e)),
                },
            );
            Ok(promise)
        })
    }

    /// Generates an answer to `prompt` (rendered with the model's chat template) off the main
    /// thread and resolves to an envelope signed by `identity`, with measured `snr` and `ihsan`
    /// scores; the text is `payload.output`. `temperature: 0` is greedy. Aborting `signal`
    /// rejects with its reason at once, even while the request waits for the engine.
    #[napi(
        ts_args_type = "identity: Identity, prompt: string, options?: GenerateOptions",
        ts_return_type = "Promise<Envelope>"
    )]
    pub fn generate(
        &self,
        env: Env,
        identity: Unknown,
        prompt: String,
        options: Option<Unknown>,
    ) -> Result<JsObject> {
        guard(|| {
            let identity = identity_ref(&env, identity)?;
            let (request, signal) = request(&env, prompt, options)?;
            let generation = Arc::new(Mutex::new(Generation::default()));
            let (d, promise) = deferred::<Envelope>(&env)?;
            lock(&generation).envelope_waiters.push(d);
            let cancel = CancelToken::new();
            let started = start(
                &env,
                &self.engine,
                identity,
                request,
                signal.as_ref(),
                &generation,
                &cancel,
                false,
            );
            if let Err(e) = started {
                lock(&generation).finish(Err(Failure::of(e)));
            }
            Ok(promise)
        })
    }

    /// Like `generate`, but returns at once a `TokenStream`: `for await (const item of stream)`
    /// gives the text pieces as they are generated and, last, the signed `Envelope` (also
    /// `await stream.envelope()`). Breaking out of the loop stops generation.
    #[napi(
        ts_args_type = "identity: Identity, prompt: string, options?: GenerateOptions",
        ts_return_type = "TokenStream"
    )]
    pub fn stream(
        &self,
        env: Env,
        identity: Unknown,
        prompt: String,
        options: Option<Unknown>,
    ) -> Result<JsObject> {
        guard(|| {
            let identity = identity_ref(&env, identity)?;
            let (request, signal) = request(&env, prompt, options)?;
            let generation = Arc::new(Mutex::new(Generation::default()));
            let cancel = CancelToken::new();
            let signal_ref = signal
                .as_ref()
                .map(|s| JsRef::new(&env, s.raw()))
                .transpose()?;
            let started = start(
                &env,
                &self.engine,
                identity,
                request,
                signal.as_ref(),
                &generation,
                &cancel,
                true,
            );
            if let Err(e) = started {
                lock(&generation).finish(Err(Failure::of(e)));
            }
            let stream = TokenStream {
                generation,
                cancel,
                signal: signal_ref,
            }
            .into_instance(&env)
            .map_err(napi_err)?;
            self_async_iterable(&env, stream.raw())?;
            Ok(JsObject(stream.raw()))
        })
    }

    /// A sentence embedding of `text`, computed off the main thread: L2-normalised, so a dot
    /// product is the cosine similarity.
    #[napi(ts_return_type = "Promise<Float32Array>")]
    pub fn embed(&self, env: Env, text: String) -> Result<JsObject> {
        guard(|| {
            let engine = self.engine.clone();
            let (d, promise) = deferred::<Float32Array>(&env)?;
            off_thread(
                &env,
                d,
                move || engine.embed(&text),
                |env, done| match done.and_then(|r| r.map_err(core_err)) {
                    Ok(v) => Ok(Float32Array::new(v)),
                    Err(e) => Err(js_error(env, e)),
                },
            );
            Ok(promise)
        })
    }

    /// The model file.
    #[napi(getter)]
    pub fn path(&self) -> Result<String> {
        guard(|| Ok(self.engine.info().path.to_string_lossy().into_owned()))
    }
    /// `general.name`, or the file stem.
    #[napi(getter)]
    pub fn name(&self) -> Result<String> {
        guard(|| Ok(self.engine.info().name.clone()))
    }
    /// `general.architecture` (e.g. `"llama"`).
    #[napi(getter)]
    pub fn architecture(&self) -> Result<String> {
        guard(|| Ok(self.engine.info().architecture.clone()))
    }
    /// Number of weights.
    #[napi(getter)]
    pub fn parameters(&self) -> Result<f64> {
        guard(|| Ok(self.engine.info().parameters as f64))
    }
    /// Quantisation, e.g. `"Q4_1"`.
    #[napi(getter)]
    pub fn quantization(&self) -> Result<String> {
        guard(|| Ok(self.engine.info().quantization.clone()))
    }
    /// The context the model was trained for, when the file says.
    #[napi(getter)]
    pub fn context_length(&self) -> Result<Option<f64>> {
        guard(|| Ok(self.engine.info().context_length.map(|n| n as f64)))
    }
    /// The context window in use (prompt + output), in tokens.
    #[napi(getter)]
    pub fn n_ctx(&self) -> Result<u32> {
        guard(|| Ok(self.engine.n_ctx()))
    }
    /// File size in bytes.
    #[napi(getter)]
    pub fn file_size(&self) -> Result<f64> {
        guard(|| Ok(self.engine.info().file_size as f64))
    }
    /// BLAKE3 of the whole file, 64 lowercase hex: the identity of the weights.
    #[napi(getter)]
    pub fn file_blake3(&self) -> Result<String> {
        guard(|| Ok(self.engine.info().file_blake3.clone()))
    }
    /// The tier a model of this size serves.
    #[napi(getter, ts_return_type = "'edge' | 'local' | 'pool'")]
    pub fn tier(&self) -> Result<String> {
        guard(|| Ok(self.engine.info().tier.name().to_owned()))
    }
    /// The model's chat template, when the file carries one.
    #[napi(getter)]
    pub fn chat_template(&self) -> Result<Option<String>> {
        guard(|| Ok(self.engine.info().chat_template.clone()))
    }
    /// `Model(name=…, architecture=…, parameters=…, quantization=…, nCtx=…)`.
    #[napi(js_name = "toString")]
    pub fn to_js_string(&self) -> Result<String> {
        guard(|| {
            let i = self.engine.info();
            Ok(format!(
                "Model(name={:?}, architecture={:?}, parameters={}, quantization={:?}, nCtx={})",
                i.name,
                i.architecture,
                i.parameters,
                i.quantization,
                self.engine.n_ctx()
            ))
        })
    }
}

// ---------------------------------------------------------------------------------------------
// TokenStream

/// A running generation, as an async iterator of its string pieces (they concatenate to the
/// envelope's `payload.output`) ending with the signed envelope. Made by `model.stream`.
///
/// - `for await (const item of stream)`: the pieces, then the `Envelope` as the last item.
/// - `await stream.envelope()`: the same envelope, once generation ends (pieces not yet read
///   stay readable).
/// - `stream.cancel()` stops generation at the next token; the iteration then ends normally and
///   the envelope says `finish_reason: "cancelled"`.
/// - Breaking out of the loop (`return()`) stops generation too; `envelope()` still resolves.
/// - An aborted `signal` rejects the pending (or next) `next()` and `envelope()` with its reason.
///
/// A stream nobody reads or cancels runs to its end (`maxTokens`).
#[napi]
pub struct TokenStream {
    generation: Arc<Mutex<Generation>>,
    cancel: CancelToken,
    signal: Option<JsRef>,
}

#[napi]
impl TokenStream {
    /// The next item: `{ value: piece, done: false }`, then `{ value: envelope, done: false }`,
    /// then `{ value: undefined, done: true }`. Rejects with the generation's error, or the
    /// signal's reason, once.
    #[napi(ts_return_type = "Promise<IteratorResult<string | Envelope, undefined>>")]
    pub fn next(&self, env: Env) -> Result<JsObject> {
        guard(|| {
            let mut g = lock(&self.generation);
            if let Some(piece) = g.pieces.pop_front() {
                return resolved(&env, Step::Piece(piece));
            }
            if g.closed {
                return resolved(&env, Step::Done);
            }
            match &g.outcome {
                None => {
                    let (d, promise) = deferred::<Step>(&env)?;
                    g.next_waiters.push_back(d);
                    Ok(promise)
                }
                Some(Outcome::Signed(_)) if g.envelope_yielded => {
                    g.closed = true;
                    resolved(&env, Step::Done)
                }
                Some(Outcome::Signed(e)) => {
                    let e = e.clone();
                    g.envelope_yielded = true;
                    resolved(&env, Step::Envelope(e))
                }
                Some(Outcome::Failed(f)) => {
                    let e = f.error();
                    g.closed = true;
                    rejected(&env, js_error(&env, e))
                }
                Some(Outcome::Aborted) => {
                    g.closed = true;
                    drop(g);
                    rejected(&env, napi::Error::from(self.abort_reason(&env)?))
                }
            }
        })
    }

    /// Ends the iteration (what `break` in a `for await` loop calls) and stops generation.
    #[napi(
        js_name = "return",
        ts_args_type = "value?: unknown",
        ts_return_type = "Promise<IteratorResult<string | Envelope, undefined>>"
    )]
    pub fn finish(&self, env: Env) -> Result<JsObject> {
        guard(|| {
            self.cancel.cancel();
            lock(&self.generation).close();
            resolved(&env, Step::Done)
        })
    }

    /// Stops generation at its next token; the pieces so far and the envelope (`finish_reason:
    /// "cancelled"`) remain.
    #[napi]
    pub fn cancel(&self) -> Result<()> {
        guard(|| {
            self.cancel.cancel();
            Ok(())
        })
    }

    /// The signed envelope, once generation ends; rejects with the generation's error or the
    /// signal's reason.
    #[napi(ts_return_type = "Promise<Envelope>")]
    pub fn envelope(&self, env: Env) -> Result<JsObject> {
        guard(|| {
            let mut g = lock(&self.generation);
            match &g.outcome {
                None => {
                    let (d, promise) = deferred::<Envelope>(&env)?;
                    g.envelope_waiters.push(d);
                    Ok(promise)
                }
                Some(Outcome::Signed(e)) => resolved(&env, Envelope::from((**e).clone())),
                Some(Outcome::Failed(f)) => {
                    let e = f.error();
                    rejected(&env, js_error(&env, e))
                }
                Some(Outcome::Aborted) => {
                    drop(g);
                    rejected(&env, napi::Error::from(self.abort_reason(&env)?))
                }
            }
        })
    }
}

/// Gives `object` a `[Symbol.asyncIterator]()` that returns the object itself, as a generator
/// does: that is what lets `for await` take the stream (napi-rs classes cannot declare
/// symbol-named methods).
fn self_async_iterable(env: &Env, object: sys::napi_value) -> Result<()> {
    let symbol: Unknown = env
        .get_global()
        .and_then(|g| g.get_named_property::<Unknown>("Symbol"))
        .and_then(|s| Object::from_raw(env.raw(), s.raw()).get_named_property("asyncIterator"))
        .map_err(napi_err)?;
    let itself = env
        .create_function_from_closure::<(), Unknown, _>("[Symbol.asyncIterator]", |ctx| ctx.this())
        .map_err(napi_err)?;
    let property = sys::napi_property_descriptor {
        utf8name: ptr::null(),
        name: symbol.raw(),
        method: None,
        getter: None,
        setter: None,
        value: itself.raw(),
        attributes: sys::PropertyAttributes::default,
        data: ptr::null_mut(),
    };
    let status = unsafe { sys::napi_define_properties(env.raw(), object, 1, &property) };
    if status != sys::Status::napi_ok {
        return Err(err("INTERNAL", "cannot make the stream async-iterable"));
    }
    Ok(())
}

impl TokenStream {
    fn abort_reason<'env>(&self, env: &'env Env) -> Result<Unknown<'env>> {
        match &self.signal {
            Some(s) => signal_reason(env, s),
            None => Err(err("INTERNAL", "aborted without a signal")),
        }
    }
}
