//! `Model`: the core's embedded llama.cpp engine (`bizra_core::inference::Engine`), with
//! streaming through a foreign `TokenListener` or a `TokenStream` read with a suspending
//! `next()`, cancellation through a `CancelToken`, and an async `generateAsync` for Kotlin
//! coroutines and Swift tasks.
//!
//! Why these shapes:
//! - the engine already serves requests on its own worker thread, so the blocking calls only wait
//!   for it; nothing here schedules or computes;
//! - the listener is called on that worker thread, piece by piece, and a listener that throws
//!   stops the generation (its exception is what the call throws), so a broken consumer never
//!   leaves a generation running for nobody;
//! - `generateAsync` and `TokenStream.next` need no Rust runtime: a helper thread waits for the
//!   engine and wakes the foreign executor, so no coroutine dispatcher thread is blocked, and
//!   cancelling the `generateAsync` coroutine (which drops the Rust future) cancels the
//!   generation.

use std::collections::VecDeque;
use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Waker};

use bizra_core::inference::{self as core, Dimension, Engine, EngineOptions, GenerateRequest};

use super::envelope::Envelope;
use super::identity::Identity;
use super::tier::ModelTier;
use super::BizraError;

/// How to load a model. A null member takes the core's default: `nCtx` 2048 (capped at the
/// model's training context), one thread per physical core, `nBatch` 512, `embeddingNCtx` 512,
/// no GPU layers unless the library was built with CUDA, `maxQueued` 32.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, ::uniffi::Record)]
pub struct ModelOptions {
    /// Context window in tokens (prompt + output), at least 8.
    #[uniffi(default = None)]
    pub n_ctx: Option<u32>,
    /// CPU threads; null: one per physical core this process may use.
    #[uniffi(default = None)]
    pub threads: Option<u32>,
    /// Prompt tokens decoded per batch, at least 1.
    #[uniffi(default = None)]
    pub n_batch: Option<u32>,
    /// Context window of the embedding context (created at the first `embed`), at least 8.
    #[uniffi(default = None)]
    pub embedding_n_ctx: Option<u32>,
    /// Layers offloaded to a GPU (CUDA builds only).
    #[uniffi(default = None)]
    pub n_gpu_layers: Option<u32>,
    /// Requests (generations and embeddings) that may wait behind the one running, at most
    /// 65536; one more fails at once with `BizraException.Busy` rather than queueing without
    /// bound. 0: refused whenever the model is busy.
    #[uniffi(default = None)]
    pub max_queued: Option<u32>,
}

impl From<ModelOptions> for EngineOptions {
    fn from(o: ModelOptions) -> Self {
        let d = EngineOptions::default();
        EngineOptions {
            n_ctx: o.n_ctx.unwrap_or(d.n_ctx),
            n_threads: o.threads,
            n_batch: o.n_batch.unwrap_or(d.n_batch),
            embedding_n_ctx: o.embedding_n_ctx.unwrap_or(d.embedding_n_ctx),
            n_gpu_layers: o.n_gpu_layers.unwrap_or(d.n_gpu_layers),
            max_queued: o.max_queued.unwrap_or(d.max_queued),
        }
    }
}

/// Values, each in [0, 1], for the Ihsan dimensions the engine cannot measure, vouched for by
/// the caller (a checker, a reference answer, a human). An unsupplied dimension counts 0, so an
/// answer nobody vouched for cannot reach the Ihsan threshold; the measured dimensions
/// (efficiency, auditability, anti-centralization, robustness) cannot be supplied at all.
#[derive(Debug, Clone, Copy, Default, PartialEq, ::uniffi::Record)]
pub struct IhsanInputs {
    /// Is the answer right?
    #[uniffi(default = None)]
    pub correctness: Option<f64>,
    /// Is it free of harm?
    #[uniffi(default = None)]
    pub safety: Option<f64>,
    /// Does it serve the user's request?
    #[uniffi(default = None)]
    pub user_benefit: Option<f64>,
    /// Is it fair (adl)?
    #[uniffi(default = None)]
    pub adl_fairness: Option<f64>,
}

impl From<IhsanInputs> for core::IhsanInputs {
    fn from(i: IhsanInputs) -> Self {
        [
            (Dimension::Correctness, i.correctness),
            (Dimension::Safety, i.safety),
            (Dimension::UserBenefit, i.user_benefit),
            (Dimension::AdlFairness, i.adl_fairness),
        ]
        .into_iter()
        .filter_map(|(d, v)| v.map(|v| (d, v)))
        .fold(core::IhsanInputs::new(), |acc, (d, v)| acc.with(d, v))
    }
}

/// How to answer a prompt. A null member takes the core's default: llama.cpp's sampling
/// (temperature 0.8, topK 40, topP 0.95, minP 0.05, no repeat penalty), 256 tokens, a drawn seed
/// (recorded in the envelope so the output can be re-run). `temperature = 0` is greedy decoding.
#[derive(Debug, Clone, Default, PartialEq, ::uniffi::Record)]
pub struct GenerateOptions {
    /// A system message, rendered with the model's chat template before the prompt.
    #[uniffi(default = None)]
    pub system: Option<String>,
    /// At most this many generated tokens (at least 1).
    #[uniffi(default = None)]
    pub max_tokens: Option<u32>,
    /// Softmax temperature, at least 0; 0 = greedy.
    #[uniffi(default = None)]
    pub temperature: Option<f32>,
    /// Nucleus sampling, in (0, 1]; 1 = off.
    #[uniffi(default = None)]
    pub top_p: Option<f32>,
    /// Keep the k most likely tokens; 0 = off.
    #[uniffi(default = None)]
    pub top_k: Option<u32>,
    /// Drop tokens below minP × p(top token), in [0, 1]; 0 = off.
    #[uniffi(default = None)]
    pub min_p: Option<f32>,
    /// Penalty for repeating recent tokens, above 0; 1 = off.
    #[uniffi(default = None)]
    pub repeat_penalty: Option<f32>,
    /// The sampling seed.
    #[uniffi(default = None)]
    pub seed: Option<u32>,
    /// Generation stops before the first occurrence of any of these (not part of the output).
    #[uniffi(default)]
    pub stop: Vec<String>,
    /// Ihsan dimensions the caller vouches for.
    #[uniffi(default = None)]
    pub ihsan: Option<IhsanInputs>,
    /// Ids of the envelopes the prompt came from: the output envelope's provenance.
    #[uniffi(default)]
    pub provenance: Vec<String>,
    /// Lifetime of the output envelope in seconds (default: the core's, one hour).
    #[uniffi(default = None)]
    pub ttl: Option<i64>,
    /// The tier that must serve the request, overriding the estimate from its complexity: a
    /// `Gateway` honours it; a `Model` called directly serves the request whatever it says.
    #[uniffi(default = None)]
    pub tier: Option<ModelTier>,
}

impl GenerateOptions {
    /// The core's chat request for `prompt`; the core validates it when it is served.
    pub(super) fn request(self, prompt: String) -> GenerateRequest {
        let mut r = GenerateRequest::chat(prompt);
        if let Some(system) = self.system {
            r = r.system(system);
        }
        if let Some(n) = self.max_tokens {
            r.max_tokens = n;
        }
        let s = &mut r.sampling;
        if let Some(t) = self.temperature {
            s.temperature = t;
        }
        if let Some(p) = self.top_p {
            s.top_p = p;
        }
        if let Some(k) = self.top_k {
            s.top_k = k;
        }
        if let Some(p) = self.min_p {
            s.min_p = p;
        }
        if let Some(p) = self.repeat_penalty {
            s.repeat_penalty = p;
        }
        s.seed = self.seed;
        r.stop = self.stop;
        if let Some(i) = self.ihsan {
            r.ihsan = i.into();
        }
        r.provenance = self.provenance;
        r.ttl = self.ttl;
        r.tier = self.tier.map(Into::into);
        r
    }
}

/// What a loaded model is, read from its GGUF header, and the context it runs with.
#[derive(Debug, Clone, PartialEq, Eq, ::uniffi::Record)]
pub struct ModelInfo {
    /// The model file.
    pub path: String,
    /// `general.name`, or the file stem.
    pub name: String,
    /// `general.architecture` (e.g. "llama").
    pub architecture: String,
    /// Number of weights.
    pub parameters: u64,
    /// Quantisation, e.g. "Q4_1".
    pub quantization: String,
    /// The context the model was trained for, when the file says.
    pub context_length: Option<u64>,
    /// The context window in use (prompt + output), in tokens.
    pub n_ctx: u32,
    /// File size in bytes.
    pub file_size: u64,
    /// BLAKE3 of the whole file, lowercase hex: the identity of the weights, as the output
    /// envelopes record it.
    pub file_blake3: String,
    /// The tier a model of this size serves.
    pub tier: ModelTier,
    /// The model's chat template, when the file carries one.
    pub chat_template: Option<String>,
}

/// Receives a generation's text piece by piece; the pieces concatenate to the envelope's
/// `output`. Called on the engine's worker thread, in order, and the next token waits for it:
/// keep it quick (hand the piece to a channel or a UI queue). Throwing stops the generation and
/// the generating call throws that exception (any other than `BizraException` arrives as
/// `BizraException.Internal` with its message).
#[::uniffi::export(foreign)]
pub trait TokenListener: Send + Sync {
    /// One piece of generated text.
    fn on_token(&self, piece: String) -> Result<(), BizraError>;
}

/// Stops a running `generateStreaming` from any thread: the engine checks it before every token
/// and between prompt batches, and the generation ends with `finish_reason` "cancelled" (its
/// signed envelope is still returned). A token stays cancelled: use a fresh one per generation.
#[derive(Debug, Default, ::uniffi::Object)]
pub struct CancelToken {
    pub(super) inner: core::CancelToken,
}

#[::uniffi::export]
impl CancelToken {
    /// A token not yet cancelled.
    #[uniffi::constructor]
    pub fn new() -> Self {
        Self::default()
    }

    /// Requests cancellation; harmless when the generation already ended.
    pub fn cancel(&self) {
        self.inner.cancel();
    }

    /// Whether cancellation was requested.
    pub fn is_cancelled(&self) -> bool {
        self.inner.is_cancelled()
    }
}

/// A loaded GGUF model, served by the core's llama.cpp engine on its own worker thread. Safe to
/// share between threads: requests are served one at a time, in the order they arrive. Closing
/// it stops the worker (a running generation ends at its next token) and frees the model.
#[derive(::uniffi::Object)]
pub struct Model {
    pub(super) engine: Engine,
}

#[::uniffi::export]
impl Model {
    /// Loads a GGUF model (memory-mapped) and hashes the file. A missing, non-GGUF or truncated
    /// file throws `BizraException.Model` before llama.cpp sees it.
    #[uniffi::constructor(default(options = None))]
    pub fn load(path: String, options: Option<ModelOptions>) -> Result<Self, BizraError> {
        let engine = Engine::load(path, options.unwrap_or_default().into())?;
        Ok(Model { engine })
    }

    /// What the model is.
    pub fn info(&self) -> ModelInfo {
        let i = self.engine.info();
        ModelInfo {
            path: i.path.to_string_lossy().into_owned(),
            name: i.name.clone(),
            architecture: i.architecture.clone(),
            parameters: i.parameters,
            quantization: i.quantization.clone(),
            context_length: i.context_length,
            n_ctx: self.engine.n_ctx(),
            file_size: i.file_size,
            file_blake3: i.file_blake3.clone(),
            tier: i.tier.into(),
            chat_template: i.chat_template.clone(),
        }
    }

    /// Answers `prompt` (rendered with the model's chat template) and returns the answer as an
    /// envelope signed by `identity`, with measured `snr` and `ihsan` scores: the text is the
    /// payload's `output`, and the payload records the model, the prompt's hash, every sampling
    /// parameter and the seed. Blocks until the answer is complete.
    #[uniffi::method(default(options = None))]
    pub fn generate(
        &self,
        identity: Arc<Identity>,
        prompt: String,
        options: Option<GenerateOptions>,
    ) -> Result<Arc<Envelope>, BizraError> {
        let request = options.unwrap_or_default().request(prompt);
        let inner = self.engine.generate(&identity.inner, &request)?;
        Ok(Arc::new(Envelope { inner }))
    }

    /// `generate`, handing each piece of text to `listener` as it is produced; `cancel`, from
    /// any thread, ends the generation early (the envelope then says "cancelled").
    #[uniffi::method(default(options = None, cancel = None))]
    pub fn generate_streaming(
        &self,
        identity: Arc<Identity>,
        prompt: String,
        listener: Arc<dyn TokenListener>,
        options: Option<GenerateOptions>,
        cancel: Option<Arc<CancelToken>>,
    ) -> Result<Arc<Envelope>, BizraError> {
        let request = options.unwrap_or_default().request(prompt);
        let cancel = cancel.map_or_else(core::CancelToken::new, |c| c.inner.clone());
        streamed(&self.engine, &identity, &request, &cancel, Some(listener))
    }

    /// `generate` as a suspending call (a `suspend fun` in Kotlin, `async` in Swift): the caller
    /// waits without blocking a thread, and cancelling the coroutine or task cancels the
    /// generation. With a `listener`, the pieces arrive as in `generateStreaming`.
    #[uniffi::method(default(options = None, listener = None))]
    pub async fn generate_async(
        &self,
        identity: Arc<Identity>,
        prompt: String,
        options: Option<GenerateOptions>,
        listener: Option<Arc<dyn TokenListener>>,
    ) -> Result<Arc<Envelope>, BizraError> {
        let request = options.unwrap_or_default().request(prompt);
        generate_off_thread(self.engine.clone(), identity, request, listener).await
    }

    /// Starts answering `prompt` and returns at once a `TokenStream`: its suspending `next()`
    /// yields the text pieces as they are generated, then the signed envelope (as `generate`'s),
    /// then null. Closing the stream, or its `cancel()`, stops the generation.
    #[uniffi::method(default(options = None))]
    pub fn stream(
        &self,
        identity: Arc<Identity>,
        prompt: String,
        options: Option<GenerateOptions>,
    ) -> Result<Arc<TokenStream>, BizraError> {
        let request = options.unwrap_or_default().request(prompt);
        start_stream(self.engine.clone(), identity, request)
    }

    /// A sentence embedding of `text`: the mean of the model's final hidden states, L2-normalised,
    /// so a dot product is the cosine similarity. A text longer than `embeddingNCtx` tokens
    /// throws `PromptTooLong`.
    pub fn embed(&self, text: String) -> Result<Vec<f32>, BizraError> {
        Ok(self.engine.embed(&text)?)
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// What serves a generation: the embedded engine (`Model`) or the gateway (`Gateway`), which
/// share the core's streaming signature.
pub(super) trait Backend: Send + 'static {
    /// The core's `generate_streaming`.
    fn generate_streaming(
        &self,
        identity: &bizra_core::Identity,
        request: &GenerateRequest,
        cancel: &core::CancelToken,
        on_token: Option<core::TokenCallback>,
    ) -> bizra_core::Result<bizra_core::Envelope>;
}

impl Backend for Engine {
    fn generate_streaming(
        &self,
        identity: &bizra_core::Identity,
        request: &GenerateRequest,
        cancel: &core::CancelToken,
        on_token: Option<core::TokenCallback>,
    ) -> bizra_core::Result<bizra_core::Envelope> {
        Engine::generate_streaming(self, identity, request, cancel, on_token)
    }
}

/// `generateAsync`'s work for any backend: the generation on a helper thread, awaited without
/// blocking, cancelled when the future is dropped.
pub(super) async fn generate_off_thread<B: Backend>(
    backend: B,
    identity: Arc<Identity>,
    request: GenerateRequest,
    listener: Option<Arc<dyn TokenListener>>,
) -> Result<Arc<Envelope>, BizraError> {
    let cancel = core::CancelToken::new();
    let token = cancel.clone();
    OffThread::spawn(token, move || {
        streamed(&backend, &identity, &request, &cancel, listener)
    })?
    .await
}

/// `stream`'s work for any backend: the generation on a helper thread, feeding a `TokenStream`.
pub(super) fn start_stream<B: Backend>(
    backend: B,
    identity: Arc<Identity>,
    request: GenerateRequest,
) -> Result<Arc<TokenStream>, BizraError> {
    let feed = Arc::<Mutex<Feed>>::default();
    let cancel = core::CancelToken::new();
    let (pieces, end, token) = (Arc::clone(&feed), Arc::clone(&feed), cancel.clone());
    on_helper_thread(
        move || {
            let on_token: core::TokenCallback = Box::new(move |piece: &str| {
                Feed::update(&pieces, |f| f.pieces.push_back(piece.to_owned()));
            });
            let inner =
                backend.generate_streaming(&identity.inner, &request, &token, Some(on_token))?;
            Ok(Arc::new(Envelope { inner }))
        },
        move |result| Feed::update(&end, |f| f.end = Some(result)),
    )?;
    Ok(Arc::new(TokenStream { feed, cancel }))
}

/// One generation with an optional listener. The first failure of the listener cancels the
/// generation and becomes the result.
pub(super) fn streamed<B: Backend>(
    engine: &B,
    identity: &Identity,
    request: &GenerateRequest,
    cancel: &core::CancelToken,
    listener: Option<Arc<dyn TokenListener>>,
) -> Result<Arc<Envelope>, BizraError> {
    let failure: Arc<Mutex<Option<BizraError>>> = Arc::default();
    let on_token = listener.map(|listener| {
        let (failure, cancel) = (Arc::clone(&failure), cancel.clone());
        Box::new(move |piece: &str| {
            let mut failed = lock(&failure);
            if failed.is_none() {
                if let Err(e) = listener.on_token(piece.to_owned()) {
                    *failed = Some(e);
                    cancel.cancel();
                }
            }
        }) as core::TokenCallback
    });
    let result = engine.generate_streaming(&identity.inner, request, cancel, on_token);
    if let Some(e) = lock(&failure).take() {
        return Err(e);
    }
    Ok(Arc::new(Envelope { inner: result? }))
}

/// What a `TokenStream` yields: the text pieces, then the signed envelope.
#[derive(::uniffi::Enum)]
pub enum StreamItem {
    /// A piece of the output, as generated (the pieces concatenate to the payload's `output`).
    Piece { text: String },
    /// The signed output envelope: the last item.
    Signed { envelope: Arc<Envelope> },
}

/// A running generation, read with `next()`: the text pieces as they are generated, then the
/// signed envelope, then null. One thread generates; any number may read (each item goes to one
/// reader). Closing it stops the generation at its next token.
#[derive(::uniffi::Object)]
pub struct TokenStream {
    feed: Arc<Mutex<Feed>>,
    cancel: core::CancelToken,
}

#[::uniffi::export]
impl TokenStream {
    /// The next item (a `suspend fun` in Kotlin, `async` in Swift): a piece, then the signed
    /// envelope, then null once the stream is over. Where the generation failed, its error is
    /// thrown in place of the envelope. Cancelling the waiting coroutine does not stop the
    /// generation; `cancel()` and closing the stream do.
    pub async fn next(&self) -> Result<Option<StreamItem>, BizraError> {
        NextItem {
            feed: Arc::clone(&self.feed),
        }
        .await
    }

    /// Stops the generation at its next token; the pieces so far and the envelope (its
    /// `finish_reason` "cancelled") still come. Callable from any thread.
    pub fn cancel(&self) {
        self.cancel.cancel();
    }
}

impl Drop for TokenStream {
    fn drop(&mut self) {
        // Nobody can read the rest: stop generating it.
        self.cancel.cancel();
    }
}

/// What the generating thread of a `TokenStream` hands to its readers.
#[derive(Default)]
struct Feed {
    pieces: VecDeque<String>,
    /// The envelope or the error, until a reader takes it.
    end: Option<Result<Arc<Envelope>, BizraError>>,
    /// A reader took the end: every later `next()` is null.
    over: bool,
    /// Readers waiting for the next item.
    wakers: Vec<Waker>,
}

impl Feed {
    /// Changes the feed and wakes the waiting readers.
    fn update(feed: &Mutex<Feed>, change: impl FnOnce(&mut Feed)) {
        let wakers = {
            let mut f = lock(feed);
            change(&mut f);
            std::mem::take(&mut f.wakers)
        };
        wakers.into_iter().for_each(Waker::wake);
    }
}

/// One `next()`: ready once the feed has an item (or is over).
struct NextItem {
    feed: Arc<Mutex<Feed>>,
}

impl Future for NextItem {
    type Output = Result<Option<StreamItem>, BizraError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut f = lock(&self.feed);
        if let Some(text) = f.pieces.pop_front() {
            return Poll::Ready(Ok(Some(StreamItem::Piece { text })));
        }
        if f.over {
            return Poll::Ready(Ok(None));
        }
        if let Some(end) = f.end.take() {
            f.over = true;
            return Poll::Ready(end.map(|envelope| Some(StreamItem::Signed { envelope })));
        }
        if !f.wakers.iter().any(|w| w.will_wake(cx.waker())) {
            f.wakers.push(cx.waker().clone());
        }
        Poll::Pending
    }
}

/// Runs a blocking generation on a helper thread of its own and hands its result (a panic as
/// `BizraError::Panic`) to `deliver`, on that thread.
fn on_helper_thread<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, BizraError> + Send + 'static,
    deliver: impl FnOnce(Result<T, BizraError>) + Send + 'static,
) -> Result<(), BizraError> {
    std::thread::Builder::new()
        .name("bizra-generate".into())
        .spawn(move || {
            deliver(catch_unwind(AssertUnwindSafe(work)).unwrap_or_else(|_| {
                Err(BizraError::Panic {
                    detail: "the generation panicked".into(),
                })
            }))
        })
        .map(drop)
        .map_err(|e| BizraError::Inference {
            detail: format!("cannot start a thread for the generation: {e}"),
        })
}

/// Where the helper thread of an [`OffThread`] leaves its result and finds whom to wake.
struct Slot<T> {
    value: Option<T>,
    waker: Option<Waker>,
}

/// A blocking call made on a helper thread, awaited as a future that needs no Rust runtime: the
/// thread stores the result and wakes the foreign executor that polls the future. Dropping the
/// future (the coroutine was cancelled) cancels `cancel`, which ends the generation at its next
/// token; the helper thread then finishes on its own.
struct OffThread<T> {
    slot: Arc<Mutex<Slot<T>>>,
    cancel: core::CancelToken,
}

impl<T: Send + 'static> OffThread<Result<T, BizraError>> {
    fn spawn(
        cancel: core::CancelToken,
        work: impl FnOnce() -> Result<T, BizraError> + Send + 'static,
    ) -> Result<Self, BizraError> {
        let slot = Arc::new(Mutex::new(Slot {
            value: None,
            waker: None,
        }));
        let done = Arc::clone(&slot);
        on_helper_thread(work, move |value| {
            let waker = {
                let mut s = lock(&done);
                s.value = Some(value);
                s.waker.take()
            };
            if let Some(w) = waker {
                w.wake();
            }
        })?;
        Ok(OffThread { slot, cancel })
    }
}

impl<T> Future for OffThread<T> {
    type Output = T;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T> {
        let mut s = lock(&self.slot);
        match s.value.take() {
            Some(v) => Poll::Ready(v),
            None => {
                s.waker = Some(cx.waker().clone());
                Poll::Pending
            }
        }
    }
}

impl<T> Drop for OffThread<T> {
    fn drop(&mut self) {
        // After completion this changes nothing: the generation is over.
        self.cancel.cancel();
    }
}
