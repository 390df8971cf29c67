//! The embedded llama.cpp engine: one worker thread per loaded model, serving a request queue.

use std::num::NonZeroU32;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, Sender, SyncSender, TrySendError};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread::JoinHandle;
use std::time::Instant;

use llama_cpp_2::context::params::{LlamaContextParams, LlamaPoolingType};
use llama_cpp_2::context::LlamaContext;
use llama_cpp_2::llama_backend::LlamaBackend;
use llama_cpp_2::llama_batch::LlamaBatch;
use llama_cpp_2::model::params::LlamaModelParams;
use llama_cpp_2::model::{LlamaChatMessage, LlamaModel};
use llama_cpp_2::sampling::LlamaSampler;
use llama_cpp_2::token::LlamaToken;

use crate::scoring::TokenStats;
use crate::slot::Slot;
use crate::template::{ChatTemplate, ChatTemplateUse, RenderError};
use crate::text::TextAssembler;
use crate::{CancelToken, ChatMessage, GenerateRequest, ModelInfo, Prompt, SamplingParams};
use bizra_protocol::tier::cpu_counts;
use bizra_protocol::{Error, Result};

/// Prompts longer than this many bytes are refused before tokenisation (llama.cpp takes the
/// length as an `i32`).
const MAX_PROMPT_BYTES: usize = 64 << 20;

/// How an engine is set up.
#[derive(Clone, Debug, PartialEq)]
pub struct EngineOptions {
    /// Context window in tokens (prompt + output); capped at the model's training context.
    pub n_ctx: u32,
    /// CPU threads; `None` = the physical cores this process may use.
    pub n_threads: Option<u32>,
    /// Prompt tokens decoded per batch.
    pub n_batch: u32,
    /// Context window of the (lazily created) embedding context.
    pub embedding_n_ctx: u32,
    /// Layers offloaded to a GPU (only with the `cuda` feature; 0 = CPU only).
    pub n_gpu_layers: u32,
    /// Requests (generations and embeddings) that may wait for the worker while it serves
    /// another: a request is taken while fewer than `max_queued + 1` are running or waiting, and
    /// refused at once with [`Error::Busy`] otherwise, instead of queueing without bound (each
    /// waiting caller holds a thread and its prompt). A request counts from when it is taken
    /// until its caller is answered, so a request issued after the previous one returned always
    /// finds its slot free. 0: refused only while another request runs.
    pub max_queued: u32,
}

/// The largest [`EngineOptions::max_queued`] (the queue's slots are allocated when the engine
/// loads).
pub const MAX_QUEUED_LIMIT: u32 = 65_536;

/// [`EngineOptions::max_queued`]'s default: at the test model's ~80 tokens/s on two cores, a
/// full queue of short answers drains in tens of seconds, within a client's usual timeout.
pub const DEFAULT_MAX_QUEUED: u32 = 32;

impl Default for EngineOptions {
    fn default() -> Self {
        Self {
            n_ctx: 2048,
            n_threads: None,
            n_batch: 512,
            embedding_n_ctx: 512,
            n_gpu_layers: if cfg!(feature = "cuda") { u32::MAX } else { 0 },
            max_queued: DEFAULT_MAX_QUEUED,
        }
    }
}

/// Why generation ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FinishReason {
    /// The model ended its answer (an end-of-generation token).
    Eos,
    /// A stop string was produced (it is not part of the output).
    Stop,
    /// `max_tokens` was reached.
    Length,
    /// A [`CancelToken`] was cancelled (or the engine was dropped).
    Cancelled,
}

impl FinishReason {
    /// Lower-case name, as in payloads.
    pub const fn name(self) -> &'static str {
        match self {
            FinishReason::Eos => "eos",
            FinishReason::Stop => "stop",
            FinishReason::Length => "length",
            FinishReason::Cancelled => "cancelled",
        }
    }

    /// Whether the model finished the answer itself.
    pub const fn is_natural(self) -> bool {
        matches!(self, FinishReason::Eos | FinishReason::Stop)
    }
}

/// The unsigned result of a generation.
#[derive(Clone, Debug, PartialEq)]
pub struct Completion {
    /// The generated text (stop string excluded).
    pub text: String,
    /// Why generation ended.
    pub finish_reason: FinishReason,
    /// The prompt exactly as the model saw it (after the chat template); from a remote pool,
    /// which applies the template itself, the messages as sent (JSON).
    pub rendered_prompt: String,
    /// Which chat template made `rendered_prompt`: the model's own, or llama.cpp's matcher and
    /// why. `None` for a raw prompt, and from a remote pool (the server applies its template).
    pub chat_template: Option<ChatTemplateUse>,
    /// Prompt tokens.
    pub prompt_tokens: u32,
    /// Generated tokens.
    pub completion_tokens: u32,
    /// Time to decode the prompt, in milliseconds.
    pub prompt_ms: f64,
    /// Time to generate the output tokens (after the prompt), in milliseconds.
    pub generation_ms: f64,
    /// From when the worker took up the request (time waiting in the queue excluded) until the
    /// first generated token was known, in milliseconds.
    pub time_to_first_token_ms: Option<f64>,
    /// The seed actually used.
    pub seed: u32,
    /// Statistics of the model's token distributions over the output (for the SNR).
    pub stats: TokenStats,
}

/// Receives the generated text piece by piece, on the engine's worker thread (so it must be
/// `Send`, and should be quick: the next token waits for it).
pub type TokenCallback = Box<dyn FnMut(&str) + Send>;

/// A request taken by [`Engine::submit`], with the slot it holds in the engine's bound.
struct Queued {
    job: Job,
    /// One of the `max_queued + 1` requests the engine takes at once (running or waiting),
    /// given back by the worker before it answers, or wherever the request is dropped unanswered.
    slot: Slot,
}

enum Job {
    Generate {
        request: Box<GenerateRequest>,
        on_token: Option<TokenCallback>,
        cancel: CancelToken,
        reply: Sender<Result<Completion>>,
    },
    Embed {
        text: String,
        reply: Sender<Result<Vec<f32>>>,
    },
}

struct Inner {
    /// Room for every request that holds a slot, so that sending a taken one never fails for
    /// want of room.
    jobs: Mutex<Option<SyncSender<Queued>>>,
    /// The requests running or waiting (the slots taken): at most `max_queued + 1`.
    taken: Arc<AtomicUsize>,
    worker: Mutex<Option<JoinHandle<()>>>,
    /// Set when the engine is dropped: the running generation stops at its next token.
    shutdown: Arc<AtomicBool>,
    info: ModelInfo,
    n_ctx: u32,
    max_queued: u32,
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.shutdown.store(true, Ordering::Release);
        if let Ok(mut jobs) = self.jobs.lock() {
            jobs.take();
        }
        if let Ok(mut worker) = self.worker.lock() {
            if let Some(handle) = worker.take() {
                // The last clone may be dropped by a token callback, i.e. on the worker itself:
                // then it cannot wait for itself, and finishes on its own (the queue is closed).
                if handle.thread().id() != std::thread::current().id() {
                    let _ = handle.join();
                }
            }
        }
    }
}

/// A loaded model. `Send + Sync` and cheap to clone: every clone talks to the same worker
/// thread, which owns the llama.cpp model and contexts and serves requests one at a time, in
/// the order they arrive. At most [`EngineOptions::max_queued`] requests wait behind the one
/// being served; another is refused at once with [`Error::Busy`] (kind `BUSY`), and is taken
/// again as soon as a request has been answered. Dropping the last clone stops the worker (a
/// running generation ends at its next token) and frees the model.
#[derive(Clone)]
pub struct Engine {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("model", &self.inner.info.name)
            .field("path", &self.inner.info.path)
            .field("n_ctx", &self.inner.n_ctx)
            .finish()
    }
}

/// The llama.cpp backend, initialised once per process and never freed (llama.cpp's global
/// state outlives every engine).
fn backend() -> Result<&'static LlamaBackend> {
    static BACKEND: OnceLock<std::result::Result<LlamaBackend, String>> = OnceLock::new();
    BACKEND
        .get_or_init(|| {
            // llama.cpp logs to stderr by default; route it to `tracing` instead, where the host
            // application decides (silent unless a subscriber is installed).
            llama_cpp_2::send_logs_to_tracing(llama_cpp_2::LogOptions::default());
            LlamaBackend::init().map_err(|e| e.to_string())
        })
        .as_ref()
        .map_err(|e| Error::Inference(format!("llama.cpp backend: {e}")))
}

/// The compute devices the linked llama.cpp can use (the CPU; GPUs with the `cuda` feature),
/// one `backend: description` per line, e.g. `CPU: Intel(R) Xeon(R) ...`.
pub fn backend_description() -> Result<String> {
    let b = backend()?;
    let mut out = format!("gpu offload: {}", b.supports_gpu_offload());
    for d in llama_cpp_2::list_llama_ggml_backend_devices() {
        out.push_str(&format!("\n{}: {} ({})", d.backend, d.description, d.name));
    }
    Ok(out)
}

fn inference_err(what: &str, e: impl std::fmt::Display) -> Error {
    Error::Inference(format!("{what}: {e}"))
}

impl Engine {
    /// Loads a GGUF model (memory-mapped) and starts its worker thread.
    ///
    /// The file is checked first ([`ModelInfo::from_file`]): a missing, non-GGUF or truncated
    /// file fails with [`Error::Model`] before llama.cpp sees it.
    pub fn load(path: impl AsRef<Path>, options: EngineOptions) -> Result<Self> {
        let info = ModelInfo::from_file(path)?;
        Self::load_info(info, options)
    }

    /// Loads a model whose [`ModelInfo`] is already known (the registry hashed it).
    pub fn load_info(info: ModelInfo, options: EngineOptions) -> Result<Self> {
        if options.n_ctx < 8 || options.n_batch == 0 || options.embedding_n_ctx < 8 {
            return Err(Error::InvalidInput(
                "n_ctx and embedding_n_ctx must be ≥ 8 and n_batch ≥ 1".into(),
            ));
        }
        if options.max_queued > MAX_QUEUED_LIMIT {
            return Err(Error::InvalidInput(format!(
                "max_queued {} is above the limit of {MAX_QUEUED_LIMIT}",
                options.max_queued
            )));
        }
        backend()?;
        let n_ctx = match info.context_length.and_then(|c| u32::try_from(c).ok()) {
            Some(train) if train > 0 => options.n_ctx.min(train),
            _ => options.n_ctx,
        };
        let threads = options
            .n_threads
            .filter(|&t| t > 0)
            .unwrap_or_else(default_threads);
        let shutdown = Arc::new(AtomicBool::new(false));
        // Bounded by the slots rather than by the channel: a rendezvous channel (`max_queued`
        // 0) or one of `max_queued` places would refuse a request in the moment after the
        // worker answered one and before it waits for the next, though nothing runs.
        let (jobs_tx, jobs_rx) = mpsc::sync_channel::<Queued>(options.max_queued as usize + 1);
        let (ready_tx, ready_rx) = mpsc::channel::<Result<()>>();
        let worker_cfg = WorkerConfig {
            path: info.path.clone(),
            n_ctx,
            n_batch: options.n_batch.min(n_ctx),
            embedding_n_ctx: options.embedding_n_ctx.min(n_ctx.max(8)),
            threads: i32::try_from(threads).unwrap_or(1),
            n_gpu_layers: options.n_gpu_layers,
            shutdown: Arc::clone(&shutdown),
        };
        let handle = std::thread::Builder::new()
            .name(format!("bizra-llama-{}", info.name))
            .spawn(move || worker_main(worker_cfg, jobs_rx, ready_tx))
            .map_err(|e| inference_err("cannot start the worker thread", e))?;
        let loaded = ready_rx.recv().unwrap_or_else(|_| {
            Err(Error::Inference(
                "the worker thread died while loading".into(),
            ))
        });
        if let Err(e) = loaded {
            let _ = handle.join();
            return Err(e);
        }
        Ok(Engine {
            inner: Arc::new(Inner {
                jobs: Mutex::new(Some(jobs_tx)),
                taken: Arc::new(AtomicUsize::new(0)),
                worker: Mutex::new(Some(handle)),
                shutdown,
                info,
                n_ctx,
                max_queued: options.max_queued,
            }),
        })
    }

    /// What the model is.
    pub fn info(&self) -> &ModelInfo {
        &self.inner.info
    }

    /// The context window in use.
    pub fn n_ctx(&self) -> u32 {
        self.inner.n_ctx
    }

    fn submit(&self, job: Job) -> Result<()> {
        let jobs = self
            .inner
            .jobs
            .lock()
            .map_err(|_| Error::Inference("engine lock poisoned".into()))?;
        let jobs = jobs
            .as_ref()
            .ok_or_else(|| Error::Inference("engine stopped".into()))?;
        let busy = || Error::Busy {
            queue: format!("the engine queue of model {}", self.inner.info.name),
            capacity: self.inner.max_queued as usize,
        };
        let slot =
            Slot::take(&self.inner.taken, self.inner.max_queued as usize + 1).ok_or_else(busy)?;
        // A refused send drops the request, and its slot with it.
        jobs.try_send(Queued { job, slot }).map_err(|e| match e {
            // Not while every request in the channel holds one of its `max_queued + 1` places.
            TrySendError::Full(_) => busy(),
            TrySendError::Disconnected(_) => {
                Error::Inference("the engine's worker thread has stopped".into())
            }
        })
    }

    /// Generates a completion (unsigned), calling `on_token` with each piece of text as it is
    /// produced, on the engine's worker thread. The pieces concatenate to `Completion::text`.
    /// Blocks the calling thread until generation ends; `cancel` may be triggered from any
    /// thread.
    pub fn complete_with(
        &self,
        request: &GenerateRequest,
        cancel: &CancelToken,
        on_token: Option<TokenCallback>,
    ) -> Result<Completion> {
        request.validate()?;
        let (reply, rx) = mpsc::channel();
        self.submit(Job::Generate {
            request: Box::new(request.clone()),
            on_token,
            cancel: cancel.clone(),
            reply,
        })?;
        rx.recv()
            .unwrap_or_else(|_| Err(Error::Inference("the worker thread stopped".into())))
    }

    /// Generates a completion (unsigned), without streaming.
    pub fn complete(&self, request: &GenerateRequest) -> Result<Completion> {
        self.complete_with(request, &CancelToken::new(), None)
    }

    /// Starts a generation and returns at once: iterate the [`TokenStream`] for the text pieces,
    /// then call [`TokenStream::finish`] for the completion.
    pub fn stream(&self, request: &GenerateRequest) -> Result<TokenStream> {
        request.validate()?;
        let cancel = CancelToken::new();
        let (tok_tx, tok_rx) = mpsc::channel::<String>();
        let (reply, done) = mpsc::channel();
        self.submit(Job::Generate {
            request: Box::new(request.clone()),
            on_token: Some(Box::new(move |s: &str| {
                let _ = tok_tx.send(s.to_owned());
            })),
            cancel: cancel.clone(),
            reply,
        })?;
        Ok(TokenStream::new(tok_rx, done, cancel))
    }

    /// A sentence embedding: the mean of the model's final hidden states over the text's tokens,
    /// L2-normalised (so a dot product is the cosine similarity).
    pub fn embed(&self, text: &str) -> Result<Vec<f32>> {
        let (reply, rx) = mpsc::channel();
        self.submit(Job::Embed {
            text: text.to_owned(),
            reply,
        })?;
        rx.recv()
            .unwrap_or_else(|_| Err(Error::Inference("the worker thread stopped".into())))
    }
}

/// The text pieces of a running generation, in order; ends when generation does.
/// Dropping it before the end cancels the generation.
///
/// `C` is what the generation ends with: a [`Completion`] from the embedded engine, a
/// [`crate::RemoteCompletion`] from a remote pool.
#[derive(Debug)]
pub struct TokenStream<C = Completion> {
    tokens: Receiver<String>,
    done: Receiver<Result<C>>,
    cancel: CancelToken,
}

impl<C> TokenStream<C> {
    /// A stream fed by a generation that sends its pieces to `tokens` and its end to `done`.
    pub(crate) fn new(
        tokens: Receiver<String>,
        done: Receiver<Result<C>>,
        cancel: CancelToken,
    ) -> Self {
        Self {
            tokens,
            done,
            cancel,
        }
    }

    /// A token that cancels this generation.
    pub fn cancel_token(&self) -> CancelToken {
        self.cancel.clone()
    }

    /// Waits for the end of generation and returns the completion (pieces not yet read are
    /// discarded; they are all in the completion's text).
    pub fn finish(self) -> Result<C> {
        self.done
            .recv()
            .unwrap_or_else(|_| Err(Error::Inference("the worker thread stopped".into())))
    }
}

impl<C> Iterator for TokenStream<C> {
    type Item = String;

    fn next(&mut self) -> Option<String> {
        self.tokens.recv().ok()
    }
}

impl<C> Drop for TokenStream<C> {
    fn drop(&mut self) {
        // A finished generation ignores this; an abandoned one stops at its next token.
        self.cancel.cancel();
    }
}

/// The thread count an engine uses when none is given: the physical cores, as llama.cpp itself
/// defaults to, because a second hyperthread on a core adds contention to its matrix kernels rather
/// than throughput; never more than the CPUs this process may run on (affinity, cgroup quota).
fn default_threads() -> u32 {
    let (physical, usable) = cpu_counts();
    u32::try_from(physical.min(usable)).unwrap_or(1)
}

struct WorkerConfig {
    path: std::path::PathBuf,
    n_ctx: u32,
    n_batch: u32,
    embedding_n_ctx: u32,
    threads: i32,
    n_gpu_layers: u32,
    shutdown: Arc<AtomicBool>,
}

fn worker_main(cfg: WorkerConfig, jobs: Receiver<Queued>, ready: Sender<Result<()>>) {
    let backend = match backend() {
        Ok(b) => b,
        Err(e) => {
            let _ = ready.send(Err(e));
            return;
        }
    };
    let params = LlamaModelParams::default()
        .with_use_mmap(true)
        .with_n_gpu_layers(cfg.n_gpu_layers);
    let model = match catch_unwind(AssertUnwindSafe(|| {
        LlamaModel::load_from_file(backend, &cfg.path, &params)
    })) {
        Ok(Ok(m)) => m,
        Ok(Err(e)) => {
            let _ = ready.send(Err(Error::Model {
                path: cfg.path.clone(),
                reason: format!("llama.cpp could not load it: {e}"),
            }));
            return;
        }
        Err(_) => {
            let _ = ready.send(Err(Error::Model {
                path: cfg.path.clone(),
                reason: "llama.cpp panicked while loading it".into(),
            }));
            return;
        }
    };
    let ctx_params = LlamaContextParams::default()
        .with_n_ctx(NonZeroU32::new(cfg.n_ctx))
        .with_n_batch(cfg.n_batch)
        .with_n_threads(cfg.threads)
        .with_n_threads_batch(cfg.threads);
    let mut ctx = match model.new_context(backend, ctx_params) {
        Ok(c) => c,
        Err(e) => {
            let _ = ready.send(Err(inference_err("llama.cpp refused the context", e)));
            return;
        }
    };
    let template = model_template(&model);
    let _ = ready.send(Ok(()));

    let mut embed_ctx: Option<LlamaContext<'_>> = None;
    // Each request's slot is given back before its caller is answered, so that the caller's
    // next request finds it free.
    while let Ok(Queued { job, slot }) = jobs.recv() {
        match job {
            Job::Generate {
                request,
                mut on_token,
                cancel,
                reply,
            } => {
                let started = Instant::now();
                let result = catch_unwind(AssertUnwindSafe(|| {
                    generate(
                        &model,
                        &template,
                        &mut ctx,
                        &cfg,
                        &request,
                        &cancel,
                        &mut on_token,
                        started,
                    )
                }))
                .unwrap_or_else(|_| {
                    Err(Error::Inference(
                        "generation panicked (in llama.cpp or in the token callback)".into(),
                    ))
                });
                // Leave a clean cache for the next request whatever happened.
                ctx.clear_kv_cache();
                drop(on_token);
                drop(slot);
                let _ = reply.send(result);
            }
            Job::Embed { text, reply } => {
                let result = catch_unwind(AssertUnwindSafe(|| {
                    if embed_ctx.is_none() {
                        let p = LlamaContextParams::default()
                            .with_n_ctx(NonZeroU32::new(cfg.embedding_n_ctx))
                            .with_n_batch(cfg.embedding_n_ctx)
                            .with_n_ubatch(cfg.embedding_n_ctx)
                            .with_n_threads(cfg.threads)
                            .with_n_threads_batch(cfg.threads)
                            .with_embeddings(true)
                            .with_pooling_type(LlamaPoolingType::Mean);
                        embed_ctx = Some(
                            model
                                .new_context(backend, p)
                                .map_err(|e| inference_err("embedding context", e))?,
                        );
                    }
                    match embed_ctx.as_mut() {
                        Some(ec) => embed(&model, ec, cfg.embedding_n_ctx, &text),
                        None => Err(Error::Inference("no embedding context".into())),
                    }
                }))
                .unwrap_or_else(|_| {
                    Err(Error::Inference(
                        "llama.cpp panicked during embedding".into(),
                    ))
                });
                if let Some(ec) = embed_ctx.as_mut() {
                    ec.clear_kv_cache();
                }
                drop(slot);
                let _ = reply.send(result);
            }
        }
    }
}

/// The model's own chat template, compiled, or why there is none to use (then chat prompts go
/// through llama.cpp's matcher, with that reason recorded).
fn model_template(model: &LlamaModel) -> std::result::Result<ChatTemplate, String> {
    let source = model
        .chat_template(None)
        .map_err(|e| format!("the model has no chat template ({e})"))?;
    let source = source
        .to_str()
        .map_err(|e| format!("the chat template is not UTF-8 ({e})"))?;
    // As llama-cpp-python passes them: the texts of the vocabulary's BOS and EOS tokens, "" for
    // a vocabulary without one.
    let vocab = model.vocab();
    let text = |t: LlamaToken| {
        if t.0 < 0 || t.0 >= vocab.n_tokens() {
            return String::new();
        }
        vocab
            .text(t)
            .map(|c| c.to_string_lossy().into_owned())
            .unwrap_or_default()
    };
    ChatTemplate::new(source, &text(vocab.bos()), &text(vocab.eos()))
        .map_err(|e| format!("the chat template does not compile: {e}"))
}

/// A prompt ready to tokenise.
struct Rendered {
    text: String,
    /// Whether tokenisation adds the vocabulary's special tokens (BOS): not after the model's
    /// own template, which writes them itself (`bos_token`), as llama-cpp-python and
    /// transformers tokenise a rendered template; yes for raw text and llama.cpp's matcher.
    add_special: bool,
    template: Option<ChatTemplateUse>,
}

/// The prompt as the model sees it: the model's own chat template applied (llama.cpp's matcher
/// when it cannot be rendered), or the raw text.
fn render_prompt(
    model: &LlamaModel,
    template: &std::result::Result<ChatTemplate, String>,
    prompt: &Prompt,
) -> Result<Rendered> {
    let messages = match prompt {
        Prompt::Raw(text) => {
            return Ok(Rendered {
                text: text.clone(),
                add_special: true,
                template: None,
            })
        }
        chat => chat.chat_messages().unwrap_or_default(),
    };
    let reason = match template {
        Ok(t) => match t.render(&messages, true) {
            Ok(text) => {
                return Ok(Rendered {
                    text,
                    add_special: false,
                    template: Some(ChatTemplateUse::Gguf),
                })
            }
            Err(RenderError::Refused(why)) => {
                return Err(Error::InvalidInput(format!(
                    "the model's chat template refuses these messages: {why}"
                )))
            }
            Err(RenderError::Unrenderable(why)) => {
                format!("the chat template cannot be rendered: {why}")
            }
        },
        Err(why) => why.clone(),
    };
    let text = llama_cpp_template(model, &messages)?;
    Ok(Rendered {
        text,
        add_special: true,
        template: Some(ChatTemplateUse::LlamaCpp { reason }),
    })
}

/// `messages` written by llama.cpp's built-in matcher for the model's template.
fn llama_cpp_template(model: &LlamaModel, messages: &[ChatMessage]) -> Result<String> {
    let template = model.chat_template(None).map_err(|e| {
        Error::Inference(format!(
            "the model has no usable chat template ({e}); send a raw prompt instead"
        ))
    })?;
    let nul = |_| Error::InvalidInput("a message contains a NUL byte".into());
    let messages = messages
        .iter()
        .map(|m| LlamaChatMessage::new(m.role.as_str().into(), m.content.clone()).map_err(nul))
        .collect::<Result<Vec<_>>>()?;
    model
        .apply_chat_template(&template, &messages, true)
        .map_err(|e| inference_err("applying the chat template", e))
}

/// `text` as tokens, special tokens such as `<|im_start|>` parsed; `add_special` adds the
/// vocabulary's BOS (where the vocabulary asks for one).
fn tokenize(model: &LlamaModel, text: &str, add_special: bool) -> Result<Vec<LlamaToken>> {
    if text.len() > MAX_PROMPT_BYTES {
        return Err(Error::InvalidInput(format!(
            "prompt of {} bytes exceeds the limit of {MAX_PROMPT_BYTES}",
            text.len()
        )));
    }
    let tokens = model.vocab().tokenize(text.as_bytes(), add_special, true);
    if tokens.is_empty() {
        return Err(Error::InvalidInput("the prompt is empty".into()));
    }
    Ok(tokens)
}

fn sampler_for(model: &LlamaModel, p: &SamplingParams, seed: u32) -> LlamaSampler {
    let mut chain = Vec::new();
    if p.repeat_penalty != 1.0 {
        chain.push(LlamaSampler::penalties(
            model.n_vocab(),
            i32::try_from(p.repeat_last_n).unwrap_or(i32::MAX),
            p.repeat_penalty,
            0.0,
            0.0,
        ));
    }
    if p.temperature <= 0.0 {
        chain.push(LlamaSampler::greedy());
    } else {
        if p.top_k > 0 {
            chain.push(LlamaSampler::top_k(
                i32::try_from(p.top_k).unwrap_or(i32::MAX),
            ));
        }
        if p.top_p < 1.0 {
            chain.push(LlamaSampler::top_p(p.top_p, 1));
        }
        if p.min_p > 0.0 {
            chain.push(LlamaSampler::min_p(p.min_p, 1));
        }
        chain.push(LlamaSampler::temp(p.temperature));
        chain.push(LlamaSampler::dist(seed));
    }
    LlamaSampler::chain_simple(chain)
}

fn ms(since: Instant) -> f64 {
    since.elapsed().as_secs_f64() * 1000.0
}

#[allow(clippy::too_many_arguments)] // The worker's state, passed as is.
fn generate(
    model: &LlamaModel,
    template: &std::result::Result<ChatTemplate, String>,
    ctx: &mut LlamaContext<'_>,
    cfg: &WorkerConfig,
    request: &GenerateRequest,
    cancel: &CancelToken,
    on_token: &mut Option<TokenCallback>,
    started: Instant,
) -> Result<Completion> {
    let stopped = || cancel.is_cancelled() || cfg.shutdown.load(Ordering::Acquire);
    let rendered = render_prompt(model, template, &request.prompt)?;
    let tokens = tokenize(model, &rendered.text, rendered.add_special)?;
    let n_ctx = cfg.n_ctx as usize;
    if tokens.len() >= n_ctx {
        return Err(Error::ContextOverflow {
            prompt_tokens: tokens.len(),
            n_ctx: cfg.n_ctx,
        });
    }
    let seed = request.sampling.seed.unwrap_or_else(rand_seed);
    let mut sampler = sampler_for(model, &request.sampling, seed);
    let prompt_tokens = u32::try_from(tokens.len()).unwrap_or(u32::MAX);
    let mut completion = Completion {
        text: String::new(),
        finish_reason: FinishReason::Length,
        rendered_prompt: rendered.text,
        chat_template: rendered.template,
        prompt_tokens,
        completion_tokens: 0,
        prompt_ms: 0.0,
        generation_ms: 0.0,
        time_to_first_token_ms: None,
        seed,
        stats: TokenStats::default(),
    };

    // Prompt: decode in batches; logits only for the last token.
    ctx.clear_kv_cache();
    let prompt_start = Instant::now();
    let n_batch = cfg.n_batch.max(1) as usize;
    let mut batch = LlamaBatch::new(n_batch, 1);
    let last = tokens.len() - 1;
    for (chunk_no, chunk) in tokens.chunks(n_batch).enumerate() {
        if stopped() {
            completion.finish_reason = FinishReason::Cancelled;
            completion.prompt_ms = ms(prompt_start);
            return Ok(completion);
        }
        batch.clear();
        for (i, &tok) in chunk.iter().enumerate() {
            let pos = chunk_no * n_batch + i;
            batch
                .add(tok, pos_i32(pos)?, &[0], pos == last)
                .map_err(|e| inference_err("building the prompt batch", e))?;
        }
        ctx.decode(&mut batch)
            .map_err(|e| inference_err("decoding the prompt", e))?;
    }
    completion.prompt_ms = ms(prompt_start);

    // Generation.
    let gen_start = Instant::now();
    let vocab = model.vocab();
    let mut text = TextAssembler::new(&request.stop);
    let max_new = (request.max_tokens as usize).min(n_ctx - tokens.len());
    // Running out of budget or of context window both end with `Length`.
    let mut finish = FinishReason::Length;
    let mut piece = Vec::with_capacity(16);
    let plain_greedy =
        request.sampling.temperature <= 0.0 && request.sampling.repeat_penalty == 1.0;
    for pos in tokens.len()..tokens.len() + max_new {
        if stopped() {
            finish = FinishReason::Cancelled;
            break;
        }
        let idx = batch.n_tokens() - 1;
        let token = if plain_greedy {
            // Same choice as llama.cpp's greedy sampler, without copying the vocabulary into
            // its candidate array every token, and found in the scoring's own pass.
            let top = completion
                .stats
                .observe_greedy(ctx.get_logits_ith(idx))
                .and_then(|i| i32::try_from(i).ok())
                .ok_or_else(|| Error::Inference("the model produced no valid logits".into()))?;
            LlamaToken(top)
        } else {
            let token = sampler.sample(ctx, idx);
            let chosen = usize::try_from(token.0).unwrap_or(usize::MAX);
            completion.stats.observe(ctx.get_logits_ith(idx), chosen);
            token
        };
        completion.completion_tokens += 1;
        if vocab.is_eog(token) {
            finish = FinishReason::Eos;
            break;
        }
        piece.clear();
        vocab.token_to_piece_into(token, &mut piece, false, None);
        let (out, hit_stop) = text.push(&piece);
        if completion.time_to_first_token_ms.is_none() {
            completion.time_to_first_token_ms = Some(ms(started));
        }
        if !out.is_empty() {
            if let Some(f) = on_token.as_mut() {
                f(&out);
            }
        }
        if hit_stop {
            finish = FinishReason::Stop;
            break;
        }
        batch.clear();
        batch
            .add(token, pos_i32(pos)?, &[0], true)
            .map_err(|e| inference_err("building the token batch", e))?;
        ctx.decode(&mut batch)
            .map_err(|e| inference_err("decoding a token", e))?;
    }
    let rest = text.finish();
    if !rest.is_empty() {
        if let Some(f) = on_token.as_mut() {
            f(&rest);
        }
    }
    completion.text = text.text().to_owned();
    completion.finish_reason = finish;
    completion.generation_ms = ms(gen_start);
    Ok(completion)
}

fn pos_i32(pos: usize) -> Result<i32> {
    i32::try_from(pos).map_err(|_| Error::Inference("position out of range".into()))
}

/// A random seed from the OS (also the jitter of the remote client's backoff).
pub(crate) fn rand_seed() -> u32 {
    let mut b = [0u8; 4];
    // The OS RNG cannot fail on the platforms we build for; a fixed seed would still be recorded.
    let _ = getrandom_fill(&mut b);
    u32::from_le_bytes(b)
}

fn getrandom_fill(buf: &mut [u8]) -> std::result::Result<(), rand_core::Error> {
    use rand_core::RngCore;
    rand_core::OsRng.try_fill_bytes(buf)
}

fn embed(
    model: &LlamaModel,
    ctx: &mut LlamaContext<'_>,
    n_ctx: u32,
    text: &str,
) -> Result<Vec<f32>> {
    let tokens = tokenize(model, text, true)?;
    if tokens.len() > n_ctx as usize {
        return Err(Error::ContextOverflow {
            prompt_tokens: tokens.len(),
            n_ctx,
        });
    }
    ctx.clear_kv_cache();
    let mut batch = LlamaBatch::new(tokens.len(), 1);
    batch
        .add_sequence(&tokens, 0, false)
        .map_err(|e| inference_err("building the embedding batch", e))?;
    ctx.decode(&mut batch)
        .map_err(|e| inference_err("decoding for embeddings", e))?;
    let v = ctx
        .embeddings_seq_ith(0)
        .map_err(|e| inference_err("reading the embedding", e))?;
    let norm = v.iter().map(|x| f64::from(*x).powi(2)).sum::<f64>().sqrt();
    if !(norm.is_finite() && norm > 0.0) {
        return Err(Error::Inference(
            "the embedding is zero or not finite".into(),
        ));
    }
    Ok(v.iter().map(|x| (f64::from(*x) / norm) as f32).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_threads_stay_within_the_usable_cpus() {
        let usable = std::thread::available_parallelism().map_or(1, |n| n.get());
        let threads = default_threads() as usize;
        assert!((1..=usable).contains(&threads), "{threads} of {usable}");
    }
}
