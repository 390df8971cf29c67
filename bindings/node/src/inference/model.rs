//! `Model`: a loaded GGUF model (load, generate, stream, embed, metadata, dispose).

use std::sync::{Arc, Mutex};

use bizra::inference::{Engine, ModelInfo};
use bizra::ErrorKind;
use napi::bindgen_prelude::*;
use napi::Env;
use napi_derive::napi;

use super::generation::{lock, Backend, Generation, Prepared};
use super::options::{engine_options, request};
use super::stream::TokenStream;
use crate::convert::JsObject;
use crate::envelope::Envelope;
use crate::errors::{core_err, guard, js_error, kind_err, Result};
use crate::identity::identity_of;
use crate::tasks::{deferred, off_thread, JsRef};

/// A loaded GGUF model, served by the core's llama.cpp engine on its own worker thread.
/// Requests (from any number of callers) are served in order. `dispose()` (or the end of a
/// `using` block) releases it.
#[napi]
pub struct Model {
    /// `None` once disposed.
    engine: Option<Engine>,
    /// Kept, so that the metadata stays readable after `dispose()`.
    info: ModelInfo,
    n_ctx: u32,
}

impl Model {
    /// The engine, or `INVALID_INPUT` once disposed (as Python's `Model` once closed).
    pub(crate) fn engine(&self) -> Result<&Engine> {
        self.engine.as_ref().ok_or_else(|| {
            kind_err(
                ErrorKind::InvalidInput,
                "the model was disposed (Model.dispose() was called); load it again to use it",
            )
        })
    }

    /// Checks a generation's arguments, before anything starts.
    fn prepare(
        &self,
        env: &Env,
        identity: Unknown,
        prompt: String,
        options: Option<Unknown>,
    ) -> Result<Prepared> {
        let engine = self.engine()?.clone();
        identity_of(env, identity)?;
        let identity = JsRef::new(env, identity.raw())?;
        let (request, signal) = request(env, prompt, options)?;
        Ok(Prepared {
            backend: Backend::Engine(engine),
            identity,
            request,
            signal,
        })
    }
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
            let o = engine_options(&env, options)?;
            let (d, promise) = deferred::<Model>(&env)?;
            off_thread(
                &env,
                d,
                move || Engine::load(&path, o),
                |env, done| match done.and_then(|r| r.map_err(core_err)) {
                    Ok(engine) => Ok(Model {
                        info: engine.info().clone(),
                        n_ctx: engine.n_ctx(),
                        engine: Some(engine),
                    }),
                    Err(e) => Err(js_error(env, e)),
                },
            );
            Ok(promise)
        })
    }

    /// Generates an answer to `prompt` (rendered with the model's chat template) off the main
    /// thread and resolves to an envelope signed by `identity`, with measured `snr` and `ihsan`
    /// scores; the text is `payload.output`. `temperature: 0` is greedy. An aborted `signal`
    /// stops the generation at its next token and the Promise resolves with the answer so far,
    /// signed (`payload.finish_reason === "cancelled"`), as `stream.cancel()` ends a stream.
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
            let prepared = self.prepare(&env, identity, prompt, options)?;
            let generation = Arc::new(Mutex::new(Generation::default()));
            let (d, promise) = deferred::<Envelope>(&env)?;
            lock(&generation).envelope_waiters.push(d);
            prepared.launch(&env, &generation, false);
            Ok(promise)
        })
    }

    /// Like `generate`, but returns at once a `TokenStream`: `for await (const item of stream)`
    /// gives the text pieces as they are generated and, last, the signed `Envelope` (also
    /// `await stream.envelope()`). Breaking out of the loop, `stream.cancel()` and an aborted
    /// `signal` stop the generation; the stream still ends with the envelope of the answer so far.
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
    ) -> Result<TokenStream> {
        guard(|| {
            let prepared = self.prepare(&env, identity, prompt, options)?;
            let generation = Arc::new(Mutex::new(Generation::default()));
            let cancel = prepared.launch(&env, &generation, true);
            Ok(TokenStream { generation, cancel })
        })
    }

    /// A sentence embedding of `text`, computed off the main thread: L2-normalised, so a dot
    /// product is the cosine similarity.
    #[napi(ts_return_type = "Promise<Float32Array>")]
    pub fn embed(&self, env: Env, text: String) -> Result<JsObject> {
        guard(|| {
            let engine = self.engine()?.clone();
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

    /// Releases the model: its memory is freed once the generations and embeddings already
    /// asked of it have ended (they finish normally; abort their signals or cancel their streams
    /// to stop them). Later calls that need the model throw `INVALID_INPUT`; the metadata stays
    /// readable. Disposing twice is harmless. `using model = await Model.load(...)` calls it.
    #[napi]
    pub fn dispose(&mut self) -> Result<()> {
        guard(|| {
            self.engine = None;
            Ok(())
        })
    }

    /// Whether `dispose()` was called.
    #[napi(getter)]
    pub fn disposed(&self) -> Result<bool> {
        guard(|| Ok(self.engine.is_none()))
    }

    /// The model file.
    #[napi(getter)]
    pub fn path(&self) -> Result<String> {
        guard(|| Ok(self.info.path.to_string_lossy().into_owned()))
    }
    /// `general.name`, or the file stem.
    #[napi(getter)]
    pub fn name(&self) -> Result<String> {
        guard(|| Ok(self.info.name.clone()))
    }
    /// `general.architecture` (e.g. `"llama"`).
    #[napi(getter)]
    pub fn architecture(&self) -> Result<String> {
        guard(|| Ok(self.info.architecture.clone()))
    }
    /// Number of weights.
    #[napi(getter)]
    pub fn parameters(&self) -> Result<f64> {
        guard(|| Ok(self.info.parameters as f64))
    }
    /// Quantisation, e.g. `"Q4_1"`.
    #[napi(getter)]
    pub fn quantization(&self) -> Result<String> {
        guard(|| Ok(self.info.quantization.clone()))
    }
    /// The context the model was trained for, when the file says.
    #[napi(getter)]
    pub fn context_length(&self) -> Result<Option<f64>> {
        guard(|| Ok(self.info.context_length.map(|n| n as f64)))
    }
    /// The context window in use (prompt + output), in tokens.
    #[napi(getter)]
    pub fn n_ctx(&self) -> Result<u32> {
        guard(|| Ok(self.n_ctx))
    }
    /// File size in bytes.
    #[napi(getter)]
    pub fn file_size(&self) -> Result<f64> {
        guard(|| Ok(self.info.file_size as f64))
    }
    /// BLAKE3 of the whole file, 64 lowercase hex: the identity of the weights.
    #[napi(getter)]
    pub fn file_blake3(&self) -> Result<String> {
        guard(|| Ok(self.info.file_blake3.clone()))
    }
    /// The tier a model of this size serves.
    #[napi(getter, ts_return_type = "'edge' | 'local' | 'pool'")]
    pub fn tier(&self) -> Result<String> {
        guard(|| Ok(self.info.tier.name().to_owned()))
    }
    /// The model's chat template, when the file carries one.
    #[napi(getter)]
    pub fn chat_template(&self) -> Result<Option<String>> {
        guard(|| Ok(self.info.chat_template.clone()))
    }
    /// `Model(name=…, architecture=…, parameters=…, quantization=…, nCtx=…)`, and `disposed` once
    /// it is.
    #[napi(js_name = "toString")]
    pub fn to_js_string(&self) -> Result<String> {
        guard(|| {
            let i = &self.info;
            Ok(format!(
                "Model(name={:?}, architecture={:?}, parameters={}, quantization={:?}, nCtx={}{})",
                i.name,
                i.architecture,
                i.parameters,
                i.quantization,
                self.n_ctx,
                if self.engine.is_none() {
                    ", disposed"
                } else {
                    ""
                }
            ))
        })
    }
}
