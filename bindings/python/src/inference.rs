//! `bizra.Model` and `bizra.TokenStream`: the core's embedded inference engine.
//!
//! Loading, generation and embedding run with the GIL released; the engine works on its own worker
//! thread, and a stream's pieces arrive through the core's `TokenStream` channel.

use std::path::PathBuf;
use std::sync::Mutex;

use pyo3::prelude::*;

use bizra::inference::{Engine, EngineOptions, GenerateRequest, TokenStream};

use crate::envelope::PyEnvelope;
use crate::identity::PyIdentity;
use crate::tier::PyModelTier;
use crate::{guard, to_py, BizraError};

/// A loaded GGUF model, served by the core's llama.cpp engine on its own worker thread.
/// Safe to share between threads (requests are served in order).
#[pyclass(frozen, module = "bizra", name = "Model")]
pub(crate) struct PyModel {
    engine: Engine,
}

/// The sampling and budget arguments shared by `generate` and `stream`.
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
) -> GenerateRequest {
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
    r
}

#[pymethods]
impl PyModel {
    /// Loads a GGUF model. A missing or non-GGUF file raises `ModelError`; the defaults are the
    /// core's (`n_ctx` 2048 capped at the training context, all available threads).
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
    #[pyo3(signature = (identity, prompt, *, system=None, max_tokens=None, temperature=None, top_p=None, top_k=None, min_p=None, repeat_penalty=None, seed=None, stop=None))]
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
            );
            let id = &identity.get().inner;
            let engine = &self.engine;
            let inner = py.detach(|| engine.generate(id, &req)).map_err(to_py)?;
            Ok(PyEnvelope { inner })
        })
    }

    /// Like `generate`, but returns at once a `TokenStream`: iterate it for the text pieces
    /// (they concatenate to the output), then read its `.envelope`.
    #[pyo3(signature = (identity, prompt, *, system=None, max_tokens=None, temperature=None, top_p=None, top_k=None, min_p=None, repeat_penalty=None, seed=None, stop=None))]
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
            );
            let stream = self.engine.stream(&req).map_err(to_py)?;
            Ok(PyTokenStream {
                engine: self.engine.clone(),
                identity,
                request: req,
                state: Mutex::new(State::Running(stream)),
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
    Done(Box<Result<bizra::Envelope, String>>),
    Taken,
}

/// The pieces of a running generation. Iterating yields `str` pieces; at the end the signed
/// envelope is `.envelope`. Dropping it (or `cancel()`) stops the generation.
#[pyclass(frozen, module = "bizra", name = "TokenStream")]
pub(crate) struct PyTokenStream {
    engine: Engine,
    identity: Py<PyIdentity>,
    request: GenerateRequest,
    state: Mutex<State>,
}

impl PyTokenStream {
    /// Next piece, or None once generation ended (the envelope is then signed and kept).
    /// Runs without the GIL; the lock is taken inside, so no GIL/lock inversion.
    fn advance(&self, drain: bool) -> bizra::Result<Option<String>> {
        let mut state = self
            .state
            .lock()
            .map_err(|_| bizra::Error::Inference("stream lock poisoned".into()))?;
        match std::mem::replace(&mut *state, State::Taken) {
            State::Running(mut stream) => {
                if !drain {
                    if let Some(piece) = stream.next() {
                        *state = State::Running(stream);
                        return Ok(Some(piece));
                    }
                }
                let signed = stream.finish().and_then(|c| {
                    self.engine
                        .sign(&self.identity.get().inner, &self.request, &c)
                });
                match signed {
                    Ok(env) => *state = State::Done(Box::new(Ok(env))),
                    Err(e) => {
                        *state = State::Done(Box::new(Err(e.to_string())));
                        return Err(e);
                    }
                }
                Ok(None)
            }
            other => {
                *state = other;
                Ok(None)
            }
        }
    }
}

#[pymethods]
impl PyTokenStream {
    fn __iter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    fn __next__(&self, py: Python<'_>) -> PyResult<Option<String>> {
        guard(|| py.detach(|| self.advance(false)).map_err(to_py))
    }

    /// The signed output envelope. Waits for the end of generation (pieces not yet read are
    /// skipped; they are all in `payload["output"]`). Raises the generation's error, if any.
    #[getter]
    fn envelope(&self, py: Python<'_>) -> PyResult<PyEnvelope> {
        guard(|| {
            py.detach(|| self.advance(true)).map_err(to_py)?;
            let state = self
                .state
                .lock()
                .map_err(|_| BizraError::new_err("stream lock poisoned"))?;
            match &*state {
                State::Done(done) => match &**done {
                    Ok(env) => Ok(PyEnvelope { inner: env.clone() }),
                    Err(msg) => Err(BizraError::new_err(msg.clone())),
                },
                _ => Err(BizraError::new_err("the stream has no envelope")),
            }
        })
    }

    /// Stops the generation at its next token (the envelope then says "cancelled").
    fn cancel(&self) -> PyResult<()> {
        guard(|| {
            if let Ok(state) = self.state.lock() {
                if let State::Running(s) = &*state {
                    s.cancel_token().cancel();
                }
            }
            Ok(())
        })
    }
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyModel>()?;
    m.add_class::<PyTokenStream>()?;
    Ok(())
}
