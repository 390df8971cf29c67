//! `bizra.Model`, `bizra.TokenStream` and `bizra.CancelToken`: the core's embedded inference
//! engine.
//!
//! Loading, generation and embedding run with the GIL released; the engine works on its own worker
//! thread, and a stream's pieces arrive through the core's `TokenStream` channel. Work that waits
//! for a whole generation (`generate`, `TokenStream.envelope`) waits in short slices, so that a
//! Ctrl-C (any exception a signal handler raises) takes effect between tokens: it cancels the
//! generation and is raised. `Model.astream` wraps a stream for `async for` (bizra/_aio.py).

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Mutex, MutexGuard, RwLock};
use std::time::{Duration, Instant};

use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyString};

use bizra::inference::{
    CancelToken, Dimension, Engine, EngineOptions, Gateway, GenerateRequest, IhsanInputs,
    ModelInfo, Served, TokenStream,
};

use crate::convert::number_arg;
use crate::envelope::{provenance_arg, PyEnvelope, Ttl};
use crate::identity::PyIdentity;
use crate::tier::PyModelTier;
use crate::{guard, internal, invalid, to_py};

/// How long a wait for the engine (or, in `node.rs`, for a membership event) lasts before Python
/// may run its signal handlers: the delay between a Ctrl-C and the cancellation of the generation
/// (or the end of the wait) it interrupts.
pub(crate) const SIGNAL_SLICE: Duration = Duration::from_millis(20);

/// A loaded GGUF model, served by the core's llama.cpp engine on its own worker thread.
/// Safe to share between threads (requests are served in order). `close()` (or the end of a
/// `with` block) releases the model; the metadata stays readable.
#[pyclass(frozen, module = "bizra", name = "Model")]
pub(crate) struct PyModel {
    /// `None` once closed. Each call clones the engine out (an `Arc`) and releases the lock, so a
    /// long generation never holds it.
    engine: RwLock<Option<Engine>>,
    info: ModelInfo,
    n_ctx: u32,
}

impl PyModel {
    /// The engine, or `InvalidInputError` (a `ValueError`, as for a closed file) once closed.
    pub(crate) fn engine(&self) -> PyResult<Engine> {
        self.engine
            .read()
            .map_err(|_| internal("model lock poisoned"))?
            .clone()
            .ok_or_else(|| invalid("the model is closed (Model.close() was called)"))
    }
}

/// Waits for `work`, run on a helper thread, with the GIL released, in slices of
/// [`SIGNAL_SLICE`]. Between slices Python runs its signal handlers: when one raises (Ctrl-C's
/// `KeyboardInterrupt`), `cancel` is cancelled, the work's end is awaited (the engine stops at its
/// next token) and the exception is raised. At `timeout`, `cancel` is cancelled and the work's
/// result (a cancelled generation's partial envelope) is returned.
pub(crate) fn wait_interruptibly<T: Send>(
    py: Python<'_>,
    cancel: &CancelToken,
    timeout: Option<Duration>,
    work: impl FnOnce() -> T + Send,
) -> PyResult<T> {
    std::thread::scope(|scope| {
        let (tx, rx) = mpsc::channel();
        scope.spawn(move || {
            // The send is the helper's last act, so once it is received the scope's join cannot
            // wait on anything that needs the GIL this thread then holds.
            let _ = tx.send(work());
        });
        let mut deadline = timeout.map(|t| Instant::now() + t);
        let mut rx = rx;
        loop {
            let slice = deadline.map_or(SIGNAL_SLICE, |d| {
                d.saturating_duration_since(Instant::now())
                    .min(SIGNAL_SLICE)
            });
            let (got, back) = py.detach(move || (rx.recv_timeout(slice), rx));
            rx = back;
            match got {
                Ok(result) => return Ok(result),
                Err(RecvTimeoutError::Disconnected) => {
                    // The helper panicked; the scope's join re-raises the panic for `guard`.
                    return Err(internal(
                        "the engine's helper thread stopped without a result",
                    ));
                }
                Err(RecvTimeoutError::Timeout) => {}
            }
            if deadline.is_some_and(|d| Instant::now() >= d) {
                cancel.cancel();
                deadline = None;
            }
            if let Err(interrupt) = py.check_signals() {
                cancel.cancel();
                let _ = py.detach(move || rx.recv());
                return Err(interrupt);
            }
        }
    })
}

/// A `timeout` argument: a positive number of seconds.
pub(crate) fn timeout_arg(obj: Option<&Bound<'_, PyAny>>) -> PyResult<Option<Duration>> {
    let Some(obj) = obj.filter(|o| !o.is_none()) else {
        return Ok(None);
    };
    let seconds = number_arg(obj, "timeout")?;
    if seconds.is_nan() || seconds <= 0.0 {
        return Err(invalid(format!(
            "timeout must be a positive number of seconds, got {seconds}"
        )));
    }
    Duration::try_from_secs_f64(seconds)
        .map(Some)
        .map_err(|_| invalid(format!("timeout of {seconds} seconds is too long")))
}

/// Stops a generation from any thread: pass it as `Model.generate(..., cancel=token)` and call
/// `cancel()`; the generation ends at its next token with finish_reason "cancelled", and its
/// partial output is still returned as a signed envelope. A token stays cancelled: use a fresh
/// one per generation.
#[pyclass(frozen, module = "bizra", name = "CancelToken")]
pub(crate) struct PyCancelToken {
    pub(crate) inner: CancelToken,
}

#[pymethods]
impl PyCancelToken {
    /// A token not yet cancelled.
    #[new]
    fn new() -> Self {
        Self {
            inner: CancelToken::new(),
        }
    }

    /// Requests cancellation; harmless when the generation already ended. Callable from any
    /// thread.
    fn cancel(&self) {
        self.inner.cancel();
    }

    /// Whether cancellation was requested.
    fn is_cancelled(&self) -> bool {
        self.inner.is_cancelled()
    }

    fn __repr__(&self) -> String {
        format!(
            "CancelToken(cancelled={})",
            if self.inner.is_cancelled() {
                "True"
            } else {
                "False"
            }
        )
    }
}

/// An `ihsan` argument: a dict (a plain one or `bizra.IhsanInputs(...)`) from the names of the
/// dimensions the caller vouches for to values in [0, 1]; a `None` value leaves the dimension
/// out. Only names are mapped here: the core refuses measured dimensions and values out of
/// range when the request is validated.
fn ihsan_arg(obj: &Bound<'_, PyAny>) -> PyResult<IhsanInputs> {
    let dict = obj.cast::<PyDict>().map_err(|_| {
        PyTypeError::new_err(
            "ihsan must be a dict such as {\"correctness\": 1.0, \"safety\": 1.0} \
             (bizra.IhsanInputs builds one)",
        )
    })?;
    let mut inputs = IhsanInputs::new();
    for (k, v) in dict.iter() {
        let name: String = k
            .extract()
            .map_err(|_| PyTypeError::new_err("ihsan keys must be str dimension names"))?;
        let dimension = Dimension::from_name(&name).ok_or_else(|| {
            let suppliable: Vec<&str> = Dimension::ALL
                .iter()
                .filter(|d| !d.is_measured())
                .map(|d| d.name())
                .collect();
            invalid(format!(
                "ihsan: unknown dimension {name:?}; a caller can vouch for {}",
                suppliable.join(", ")
            ))
        })?;
        if !v.is_none() {
            inputs = inputs.with(dimension, number_arg(&v, &format!("ihsan[{name:?}]"))?);
        }
    }
    Ok(inputs)
}

/// The arguments shared by `generate` and `stream`, as the core's chat request. Converted while
/// the GIL is held; the core validates the request when it is served.
#[allow(clippy::too_many_arguments)]
pub(crate) fn request(
    prompt: &str,
    system: Option<&str>,
    max_tokens: Option<u32>,
    temperature: Option<f32>,
    top_p: Option<f32>,
    top_k: Option<u32>,
    min_p: Option<f32>,
    repeat_penalty: Option<f32>,
    seed: Option<u32>,
    stop: Option<Vec<String>>,
    ihsan: Option<&Bound<'_, PyAny>>,
    provenance: Option<&Bound<'_, PyAny>>,
    ttl: Option<Ttl>,
) -> PyResult<GenerateRequest> {
    let mut r = GenerateRequest::chat(prompt);
    if let Some(s) = system {
        r = r.system(s);
    }
    if let Some(n) = max_tokens {
        r = r.max_tokens(n);
    }
    if let Some(t) = temperature {
        r.sampling.temperature = t;
    }
    if let Some(p) = top_p {
        r.sampling.top_p = p;
    }
    if let Some(k) = top_k {
        r.sampling.top_k = k;
    }
    if let Some(p) = min_p {
        r.sampling.min_p = p;
    }
    if let Some(p) = repeat_penalty {
        r.sampling.repeat_penalty = p;
    }
    r.sampling.seed = seed;
    r.stop = stop.unwrap_or_default();
    if let Some(i) = ihsan.filter(|i| !i.is_none()) {
        r = r.ihsan(ihsan_arg(i)?);
    }
    if let Some(p) = provenance.filter(|p| !p.is_none()) {
        r.provenance = provenance_arg(p)?;
    }
    if let Some(Ttl(seconds)) = ttl {
        r = r.ttl(seconds);
    }
    Ok(r)
}

/// Loads a model with the core's defaults where an option is unset.
#[allow(clippy::too_many_arguments)]
fn load_model(
    py: Python<'_>,
    path: PathBuf,
    n_ctx: Option<u32>,
    threads: Option<u32>,
    n_batch: Option<u32>,
    embedding_n_ctx: Option<u32>,
    n_gpu_layers: Option<u32>,
    max_queued: Option<u32>,
) -> PyResult<PyModel> {
    let mut o = EngineOptions::default();
    if let Some(n) = n_ctx {
        o.n_ctx = n;
    }
    o.n_threads = threads;
    if let Some(n) = n_batch {
        o.n_batch = n;
    }
    if let Some(n) = embedding_n_ctx {
        o.embedding_n_ctx = n;
    }
    if let Some(n) = n_gpu_layers {
        o.n_gpu_layers = n;
    }
    if let Some(n) = max_queued {
        o.max_queued = n;
    }
    let engine = py.detach(|| Engine::load(&path, o)).map_err(to_py)?;
    Ok(PyModel {
        info: engine.info().clone(),
        n_ctx: engine.n_ctx(),
        engine: RwLock::new(Some(engine)),
    })
}

#[pymethods]
impl PyModel {
    /// Loads a GGUF model (the same as `Model.load`), for `with bizra.Model(path) as model:`.
    #[new]
    #[pyo3(signature = (path, *, n_ctx=None, threads=None, n_batch=None, embedding_n_ctx=None, n_gpu_layers=None, max_queued=None))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        path: PathBuf,
        n_ctx: Option<u32>,
        threads: Option<u32>,
        n_batch: Option<u32>,
        embedding_n_ctx: Option<u32>,
        n_gpu_layers: Option<u32>,
        max_queued: Option<u32>,
    ) -> PyResult<Self> {
        guard(|| {
            load_model(
                py,
                path,
                n_ctx,
                threads,
                n_batch,
                embedding_n_ctx,
                n_gpu_layers,
                max_queued,
            )
        })
    }

    /// Loads a GGUF model. A missing or non-GGUF file raises `ModelError`; the defaults are the
    /// core's (`n_ctx` 2048 capped at the training context, one thread per physical core,
    /// `max_queued` 32: the requests that may wait behind the running one before one more
    /// raises `BusyError`, at most 65536; 0 refuses whenever the model is busy).
    #[staticmethod]
    #[pyo3(signature = (path, *, n_ctx=None, threads=None, n_batch=None, embedding_n_ctx=None, n_gpu_layers=None, max_queued=None))]
    #[allow(clippy::too_many_arguments)]
    fn load(
        py: Python<'_>,
        path: PathBuf,
        n_ctx: Option<u32>,
        threads: Option<u32>,
        n_batch: Option<u32>,
        embedding_n_ctx: Option<u32>,
        n_gpu_layers: Option<u32>,
        max_queued: Option<u32>,
    ) -> PyResult<Self> {
        guard(|| {
            load_model(
                py,
                path,
                n_ctx,
                threads,
                n_batch,
                embedding_n_ctx,
                n_gpu_layers,
                max_queued,
            )
        })
    }

    /// Generates an answer to `prompt` (rendered with the model's chat template) and returns it as
    /// an envelope signed by `identity`, with measured `snr` and `ihsan` scores; the text is
    /// `payload["output"]`. Unset sampling arguments take the core's defaults; `temperature=0`
    /// is greedy.
    ///
    /// `ihsan` supplies the Ihsan dimensions the engine cannot measure (correctness, safety,
    /// user_benefit, adl_fairness), as the caller vouches for them: an answer nobody vouched for
    /// cannot reach the Ihsan threshold. `provenance` lists the envelopes (or their ids) the
    /// prompt came from; `ttl` is the envelope's lifetime in seconds (default:
    /// `DEFAULT_TTL_SECONDS`).
    ///
    /// Stopping: `cancel` (a `CancelToken`, cancelled from any thread) and `timeout` (seconds)
    /// end the generation at its next token; either way the partial answer is returned, signed,
    /// with finish_reason "cancelled". Ctrl-C takes effect between tokens: it stops the
    /// generation and raises `KeyboardInterrupt`.
    #[pyo3(signature = (identity, prompt, *, system=None, max_tokens=None, temperature=None, top_p=None, top_k=None, min_p=None, repeat_penalty=None, seed=None, stop=None, ihsan=None, provenance=None, ttl=None, timeout=None, cancel=None))]
    #[allow(clippy::too_many_arguments)]
    fn generate(
        &self,
        py: Python<'_>,
        identity: &Bound<'_, PyIdentity>,
        prompt: &str,
        system: Option<&str>,
        max_tokens: Option<u32>,
        temperature: Option<f32>,
        top_p: Option<f32>,
        top_k: Option<u32>,
        min_p: Option<f32>,
        repeat_penalty: Option<f32>,
        seed: Option<u32>,
        stop: Option<Vec<String>>,
        ihsan: Option<&Bound<'_, PyAny>>,
        provenance: Option<&Bound<'_, PyAny>>,
        ttl: Option<Ttl>,
        timeout: Option<&Bound<'_, PyAny>>,
        cancel: Option<&Bound<'_, PyCancelToken>>,
    ) -> PyResult<PyEnvelope> {
        guard(|| {
            let req = request(
                prompt,
                system,
                max_tokens,
                temperature,
                top_p,
                top_k,
                min_p,
                repeat_penalty,
                seed,
                stop,
                ihsan,
                provenance,
                ttl,
            )?;
            let timeout = timeout_arg(timeout)?;
            let token = cancel.map_or_else(CancelToken::new, |c| c.get().inner.clone());
            let engine = self.engine()?;
            let id = &identity.get().inner;
            let inner = wait_interruptibly(py, &token, timeout, || {
                engine.generate_streaming(id, &req, &token, None)
            })?
            .map_err(to_py)?;
            Ok(PyEnvelope { inner })
        })
    }

    /// Like `generate`, but returns at once a `TokenStream`: iterating it yields the text pieces
    /// (they concatenate to the output) and, last, the signed envelope (also its `.envelope`).
    /// `close()` (or the end of a `with` block) or dropping the stream stops the generation.
    #[pyo3(signature = (identity, prompt, *, system=None, max_tokens=None, temperature=None, top_p=None, top_k=None, min_p=None, repeat_penalty=None, seed=None, stop=None, ihsan=None, provenance=None, ttl=None))]
    #[allow(clippy::too_many_arguments)]
    fn stream(
        &self,
        identity: Py<PyIdentity>,
        prompt: &str,
        system: Option<&str>,
        max_tokens: Option<u32>,
        temperature: Option<f32>,
        top_p: Option<f32>,
        top_k: Option<u32>,
        min_p: Option<f32>,
        repeat_penalty: Option<f32>,
        seed: Option<u32>,
        stop: Option<Vec<String>>,
        ihsan: Option<&Bound<'_, PyAny>>,
        provenance: Option<&Bound<'_, PyAny>>,
        ttl: Option<Ttl>,
    ) -> PyResult<PyTokenStream> {
        guard(|| {
            let req = request(
                prompt,
                system,
                max_tokens,
                temperature,
                top_p,
                top_k,
                min_p,
                repeat_penalty,
                seed,
                stop,
                ihsan,
                provenance,
                ttl,
            )?;
            let engine = self.engine()?;
            let stream = engine.stream(&req).map_err(to_py)?;
            Ok(PyTokenStream::new(
                Running::Engine(engine, stream),
                identity,
                req,
            ))
        })
    }

    /// `stream` for asyncio: an `AsyncTokenStream` to read with `async for` (the pieces, then
    /// the signed envelope), fed by a worker thread so the event loop never waits on the engine.
    #[pyo3(signature = (identity, prompt, *, system=None, max_tokens=None, temperature=None, top_p=None, top_k=None, min_p=None, repeat_penalty=None, seed=None, stop=None, ihsan=None, provenance=None, ttl=None))]
    #[allow(clippy::too_many_arguments)]
    fn astream<'py>(
        &self,
        py: Python<'py>,
        identity: Py<PyIdentity>,
        prompt: &str,
        system: Option<&str>,
        max_tokens: Option<u32>,
        temperature: Option<f32>,
        top_p: Option<f32>,
        top_k: Option<u32>,
        min_p: Option<f32>,
        repeat_penalty: Option<f32>,
        seed: Option<u32>,
        stop: Option<Vec<String>>,
        ihsan: Option<&Bound<'_, PyAny>>,
        provenance: Option<&Bound<'_, PyAny>>,
        ttl: Option<Ttl>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let stream = self.stream(
            identity,
            prompt,
            system,
            max_tokens,
            temperature,
            top_p,
            top_k,
            min_p,
            repeat_penalty,
            seed,
            stop,
            ihsan,
            provenance,
            ttl,
        )?;
        guard(|| {
            py.import("bizra._aio")?
                .getattr("AsyncTokenStream")?
                .call1((stream,))
        })
    }

    /// A sentence embedding of `text`: L2-normalised, so a dot product is the cosine similarity.
    fn embed(&self, py: Python<'_>, text: &str) -> PyResult<Vec<f32>> {
        guard(|| {
            let engine = self.engine()?;
            py.detach(|| engine.embed(text)).map_err(to_py)
        })
    }

    /// Releases the model (its memory is freed once no stream of it is still open and no other
    /// thread's call on it is still running; those finish normally). Later calls that need the
    /// model raise `InvalidInputError` (a `ValueError`); the metadata stays readable. Closing
    /// twice is harmless.
    fn close(&self, py: Python<'_>) -> PyResult<()> {
        guard(|| {
            let engine = self
                .engine
                .write()
                .map_err(|_| internal("model lock poisoned"))?
                .take();
            // Dropping the last handle joins the engine's worker thread: not with the GIL held.
            py.detach(move || drop(engine));
            Ok(())
        })
    }

    /// Whether `close()` was called.
    #[getter]
    fn closed(&self) -> PyResult<bool> {
        Ok(self
            .engine
            .read()
            .map_err(|_| internal("model lock poisoned"))?
            .is_none())
    }

    fn __enter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    /// Closes the model at the end of a `with` block; exceptions propagate.
    #[pyo3(signature = (*_exc))]
    fn __exit__(&self, py: Python<'_>, _exc: &Bound<'_, pyo3::types::PyTuple>) -> PyResult<()> {
        self.close(py)
    }

    /// The model file.
    #[getter]
    fn path(&self) -> String {
        self.info.path.to_string_lossy().into_owned()
    }

    /// `general.name`, or the file stem.
    #[getter]
    fn name(&self) -> &str {
        &self.info.name
    }

    /// `general.architecture` (e.g. "llama").
    #[getter]
    fn architecture(&self) -> &str {
        &self.info.architecture
    }

    /// Number of weights.
    #[getter]
    fn parameters(&self) -> u64 {
        self.info.parameters
    }

    /// Quantisation, e.g. "Q4_1".
    #[getter]
    fn quantization(&self) -> &str {
        &self.info.quantization
    }

    /// The context the model was trained for, when the file says.
    #[getter]
    fn context_length(&self) -> Option<u64> {
        self.info.context_length
    }

    /// The context window in use (prompt + output), in tokens.
    #[getter]
    fn n_ctx(&self) -> u32 {
        self.n_ctx
    }

    /// File size in bytes.
    #[getter]
    fn file_size(&self) -> u64 {
        self.info.file_size
    }

    /// BLAKE3 of the whole file, lowercase hex: the identity of the weights.
    #[getter]
    fn file_blake3(&self) -> &str {
        &self.info.file_blake3
    }

    /// The tier a model of this size serves.
    #[getter]
    fn tier(&self) -> PyModelTier {
        self.info.tier.into()
    }

    /// The model's chat template, when the file carries one.
    #[getter]
    fn chat_template(&self) -> Option<&str> {
        self.info.chat_template.as_deref()
    }

    fn __repr__(&self) -> PyResult<String> {
        let i = &self.info;
        Ok(format!(
            "Model(name={:?}, architecture={:?}, parameters={}, quantization={:?}, n_ctx={}{})",
            i.name,
            i.architecture,
            i.parameters,
            i.quantization,
            self.n_ctx,
            if self.closed()? { ", closed" } else { "" }
        ))
    }
}

/// A running generation and what signs its completion: a model's engine, or a gateway
/// (`Gateway.stream`), whose envelope records the route.
pub(crate) enum Running {
    Engine(Engine, TokenStream),
    Gateway(Gateway, TokenStream<Served>),
}

impl Running {
    fn cancel_token(&self) -> CancelToken {
        match self {
            Running::Engine(_, s) => s.cancel_token(),
            Running::Gateway(_, s) => s.cancel_token(),
        }
    }

    fn next_piece(&mut self) -> Option<String> {
        match self {
            Running::Engine(_, s) => s.next(),
            Running::Gateway(_, s) => s.next(),
        }
    }

    fn finish(
        self,
        identity: &bizra::Identity,
        request: &GenerateRequest,
    ) -> bizra::Result<bizra::Envelope> {
        match self {
            Running::Engine(e, s) => s.finish().and_then(|c| e.sign(identity, request, &c)),
            Running::Gateway(g, s) => s.finish().and_then(|c| g.sign(identity, request, &c)),
        }
    }
}

enum State {
    Running(Running),
    /// The signed envelope, or the generation's error, which every later read raises again
    /// (as the same exception class: a `PromptTooLongError` stays one).
    Done(Box<PyResult<bizra::Envelope>>),
    /// Only while `end` runs (and after a panic in it).
    Taken,
}

/// The pieces of a running generation. Iterating yields `str` pieces, then the signed envelope
/// as the last item (also kept as `.envelope`). `close()` (or the end of a `with` block) stops
/// the generation and the iteration; `.envelope` then returns the partial answer, signed, with
/// finish_reason "cancelled". Dropping the stream or `cancel()` stops the generation too.
#[pyclass(frozen, module = "bizra", name = "TokenStream")]
pub(crate) struct PyTokenStream {
    identity: Py<PyIdentity>,
    request: GenerateRequest,
    /// Held outside `progress`: the iterating thread keeps `progress` locked while it waits for
    /// a piece (or, in `.envelope`, for the whole generation), and a cancel must not wait for it.
    cancel: CancelToken,
    /// Set by `close()`: the iteration ends (the envelope stays available as `.envelope`).
    closed: AtomicBool,
    progress: Mutex<Progress>,
}

struct Progress {
    state: State,
    /// Whether the iteration has yielded the envelope, its last item.
    envelope_yielded: bool,
}

/// What one step of the iteration yields.
enum Item {
    Piece(String),
    Envelope(Box<bizra::Envelope>),
}

/// Locks the progress. Called only with the GIL released (the holder may wait for the engine
/// for a whole generation, and must not stall other Python threads meanwhile).
fn lock(progress: &Mutex<Progress>) -> PyResult<MutexGuard<'_, Progress>> {
    progress
        .lock()
        .map_err(|_| internal("stream lock poisoned"))
}

impl PyTokenStream {
    pub(crate) fn new(
        running: Running,
        identity: Py<PyIdentity>,
        request: GenerateRequest,
    ) -> Self {
        PyTokenStream {
            identity,
            request,
            cancel: running.cancel_token(),
            closed: AtomicBool::new(false),
            progress: Mutex::new(Progress {
                state: State::Running(running),
                envelope_yielded: false,
            }),
        }
    }

    /// The next piece; once the generation has ended, its envelope (once); then None. None at
    /// once after `close()`.
    fn next_item(&self) -> PyResult<Option<Item>> {
        let mut progress = lock(&self.progress)?;
        if self.closed.load(Ordering::Acquire) {
            return Ok(None);
        }
        if let State::Running(stream) = &mut progress.state {
            if let Some(piece) = stream.next_piece() {
                return Ok(Some(Item::Piece(piece)));
            }
        }
        let env = self.end(&mut progress.state)?;
        Ok((!std::mem::replace(&mut progress.envelope_yielded, true))
            .then(|| Item::Envelope(Box::new(env))))
    }

    /// Waits for the end of the generation (skipping unread pieces) and signs its completion,
    /// once; later calls return the same envelope or raise the same error.
    fn end(&self, state: &mut State) -> PyResult<bizra::Envelope> {
        let done = match std::mem::replace(state, State::Taken) {
            State::Running(stream) => stream
                .finish(&self.identity.get().inner, &self.request)
                .map_err(to_py),
            State::Done(done) => *done,
            State::Taken => Err(internal("the stream lost its envelope to an earlier panic")),
        };
        let result = match &done {
            Ok(env) => Ok(env.clone()),
            Err(e) => Err(Python::attach(|py| e.clone_ref(py))),
        };
        *state = State::Done(Box::new(done));
        result
    }
}

#[pymethods]
impl PyTokenStream {
    fn __iter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    fn __next__(&self, py: Python<'_>) -> PyResult<Option<Py<PyAny>>> {
        guard(|| {
            Ok(match py.detach(|| self.next_item())? {
                Some(Item::Piece(piece)) => Some(PyString::new(py, &piece).into_any().unbind()),
                Some(Item::Envelope(inner)) => {
                    Some(Py::new(py, PyEnvelope { inner: *inner })?.into_any())
                }
                None => None,
            })
        })
    }

    /// The signed output envelope. Waits for the end of generation (pieces not yet read are
    /// skipped; they are all in `payload["output"]`); after `close()`, that is at most a token.
    /// Raises the generation's error, if any. Ctrl-C while it waits stops the generation and
    /// raises `KeyboardInterrupt`.
    #[getter]
    fn envelope(&self, py: Python<'_>) -> PyResult<PyEnvelope> {
        guard(|| {
            let inner = wait_interruptibly(py, &self.cancel, None, || {
                self.end(&mut lock(&self.progress)?.state)
            })??;
            Ok(PyEnvelope { inner })
        })
    }

    /// Stops the generation at its next token and ends the iteration (later `next()` raises
    /// `StopIteration`); `.envelope` then returns the partial answer, signed, with finish_reason
    /// "cancelled" (or the full one, when the generation had already ended). Closing twice is
    /// harmless.
    fn close(&self) {
        self.cancel.cancel();
        self.closed.store(true, Ordering::Release);
    }

    fn __enter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    /// Closes the stream at the end of a `with` block; exceptions propagate.
    #[pyo3(signature = (*_exc))]
    fn __exit__(&self, _exc: &Bound<'_, pyo3::types::PyTuple>) {
        self.close();
    }

    /// Stops the generation at its next token (the envelope then says "cancelled"). Callable from
    /// any thread, at once, even while another thread iterates or waits on `.envelope`; pieces
    /// produced before the cancel are still yielded, so they concatenate to the output.
    fn cancel(&self) {
        self.cancel.cancel();
    }
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyModel>()?;
    m.add_class::<PyTokenStream>()?;
    m.add_class::<PyCancelToken>()?;
    Ok(())
}
