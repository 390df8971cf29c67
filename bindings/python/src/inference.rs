//! `bizra.Model` and `bizra.TokenStream`: the core's embedded inference engine.
//!
//! Loading, generation and embedding run with the GIL released; the engine works on its own worker
//! thread, and a stream's pieces arrive through the core's `TokenStream` channel.

use std::path::PathBuf;
use std::sync::{Mutex, MutexGuard};

use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyString};

use bizra::inference::{
    CancelToken, Dimension, Engine, EngineOptions, GenerateRequest, IhsanInputs, TokenStream,
};

use crate::convert::number_arg;
use crate::envelope::{provenance_arg, PyEnvelope, Ttl};
use crate::identity::PyIdentity;
use crate::tier::PyModelTier;
use crate::{guard, invalid, to_py, BizraError};

/// A loaded GGUF model, served by the core's llama.cpp engine on its own worker thread.
/// Safe to share between threads (requests are served in order).
#[pyclass(frozen, module = "bizra", name = "Model")]
pub(crate) struct PyModel {
    engine: Engine,
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
fn request(
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

#[pymethods]
impl PyModel {
    /// Loads a GGUF model. A missing or non-GGUF file raises `ModelError`; the defaults are the
    /// core's (`n_ctx` 2048 capped at the training context, one thread per physical core).
    #[staticmethod]
    #[pyo3(signature = (path, *, n_ctx=None, threads=None, n_batch=None, embedding_n_ctx=None, n_gpu_layers=None))]
    fn load(
        py: Python<'_>,
        path: PathBuf,
        n_ctx: Option<u32>,
        threads: Option<u32>,
        n_batch: Option<u32>,
        embedding_n_ctx: Option<u32>,
        n_gpu_layers: Option<u32>,
    ) -> PyResult<Self> {
        guard(|| {
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
            let engine = py.detach(|| Engine::load(&path, o)).map_err(to_py)?;
            Ok(Self { engine })
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
    /// prompt came from; `ttl` is the envelope's lifetime in seconds (default 3600).
    #[pyo3(signature = (identity, prompt, *, system=None, max_tokens=None, temperature=None, top_p=None, top_k=None, min_p=None, repeat_penalty=None, seed=None, stop=None, ihsan=None, provenance=None, ttl=None))]
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
            let id = &identity.get().inner;
            let engine = &self.engine;
            let inner = py.detach(|| engine.generate(id, &req)).map_err(to_py)?;
            Ok(PyEnvelope { inner })
        })
    }

    /// Like `generate`, but returns at once a `TokenStream`: iterating it yields the text pieces
    /// (they concatenate to the output) and, last, the signed envelope (also its `.envelope`).
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
            let stream = self.engine.stream(&req).map_err(to_py)?;
            Ok(PyTokenStream {
                engine: self.engine.clone(),
                identity,
                request: req,
                cancel: stream.cancel_token(),
                progress: Mutex::new(Progress {
                    state: State::Running(stream),
                    envelope_yielded: false,
                }),
            })
        })
    }

    /// A sentence embedding of `text`: L2-normalised, so a dot product is the cosine similarity.
    fn embed(&self, py: Python<'_>, text: &str) -> PyResult<Vec<f32>> {
        guard(|| {
            let engine = &self.engine;
            py.detach(|| engine.embed(text)).map_err(to_py)
        })
    }

    /// The model file.
    #[getter]
    fn path(&self) -> String {
        self.engine.info().path.to_string_lossy().into_owned()
    }

    /// `general.name`, or the file stem.
    #[getter]
    fn name(&self) -> &str {
        &self.engine.info().name
    }

    /// `general.architecture` (e.g. "llama").
    #[getter]
    fn architecture(&self) -> &str {
        &self.engine.info().architecture
    }

    /// Number of weights.
    #[getter]
    fn parameters(&self) -> u64 {
        self.engine.info().parameters
    }

    /// Quantisation, e.g. "Q4_1".
    #[getter]
    fn quantization(&self) -> &str {
        &self.engine.info().quantization
    }

    /// The context the model was trained for, when the file says.
    #[getter]
    fn context_length(&self) -> Option<u64> {
        self.engine.info().context_length
    }

    /// The context window in use (prompt + output), in tokens.
    #[getter]
    fn n_ctx(&self) -> u32 {
        self.engine.n_ctx()
    }

    /// File size in bytes.
    #[getter]
    fn file_size(&self) -> u64 {
        self.engine.info().file_size
    }

    /// BLAKE3 of the whole file, lowercase hex: the identity of the weights.
    #[getter]
    fn file_blake3(&self) -> &str {
        &self.engine.info().file_blake3
    }

    /// The tier a model of this size serves.
    #[getter]
    fn tier(&self) -> PyModelTier {
        self.engine.info().tier.into()
    }

    /// The model's chat template, when the file carries one.
    #[getter]
    fn chat_template(&self) -> Option<&str> {
        self.engine.info().chat_template.as_deref()
    }

    fn __repr__(&self) -> String {
        let i = self.engine.info();
        format!(
            "Model(name={:?}, architecture={:?}, parameters={}, quantization={:?}, n_ctx={})",
            i.name,
            i.architecture,
            i.parameters,
            i.quantization,
            self.engine.n_ctx()
        )
    }
}

enum State {
    Running(TokenStream),
    /// The signed envelope, or the generation's error, which every later read raises again
    /// (as the same exception class: a `PromptTooLongError` stays one).
    Done(Box<PyResult<bizra::Envelope>>),
    /// Only while `end` runs (and after a panic in it).
    Taken,
}

/// The pieces of a running generation. Iterating yields `str` pieces, then the signed envelope
/// as the last item (also kept as `.envelope`). Dropping it (or `cancel()`) stops the generation.
#[pyclass(frozen, module = "bizra", name = "TokenStream")]
pub(crate) struct PyTokenStream {
    engine: Engine,
    identity: Py<PyIdentity>,
    request: GenerateRequest,
    /// Held outside `progress`: the iterating thread keeps `progress` locked while it waits for
    /// a piece (or, in `.envelope`, for the whole generation), and a cancel must not wait for it.
    cancel: CancelToken,
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
        .map_err(|_| BizraError::new_err("stream lock poisoned"))
}

impl PyTokenStream {
    /// The next piece; once the generation has ended, its envelope (once); then None.
    fn next_item(&self) -> PyResult<Option<Item>> {
        let mut progress = lock(&self.progress)?;
        if let State::Running(stream) = &mut progress.state {
            if let Some(piece) = stream.next() {
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
                .finish()
                .and_then(|c| {
                    self.engine
                        .sign(&self.identity.get().inner, &self.request, &c)
                })
                .map_err(to_py),
            State::Done(done) => *done,
            State::Taken => Err(BizraError::new_err("the stream has no envelope")),
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
    /// skipped; they are all in `payload["output"]`). Raises the generation's error, if any.
    #[getter]
    fn envelope(&self, py: Python<'_>) -> PyResult<PyEnvelope> {
        guard(|| {
            let inner = py.detach(|| self.end(&mut lock(&self.progress)?.state))?;
            Ok(PyEnvelope { inner })
        })
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
    Ok(())
}
