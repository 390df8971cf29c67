//! The Pool tier's backend: a client for a remote server of the OpenAI-compatible API (vLLM,
//! Ollama, llama.cpp's server, llama-cpp-python, hosted providers), behind the same blocking
//! request/streaming/cancel API as the embedded [`crate::Engine`], so that a caller does not care
//! where the model runs, and with every output signed the same way.
//!
//! ```no_run
//! use bizra_inference::{GenerateRequest, RemoteClient, RemoteOptions};
//! use bizra_protocol::Identity;
//!
//! let pool = RemoteClient::connect(RemoteOptions::new("http://127.0.0.1:8000/v1"))?;
//! let id = Identity::generate();
//! let envelope = pool.generate(&id, &GenerateRequest::chat("What is 2 + 2?").max_tokens(16))?;
//! println!("{}", envelope.payload()["output"]);
//! # Ok::<(), bizra_protocol::Error>(())
//! ```
//!
//! Why a thread of its own: the HTTP client is async (reqwest on tokio), while bizra's API, the
//! C ABI and the bindings are blocking. Each client owns a current-thread tokio runtime on one
//! thread, which serves every request of the client concurrently; the [`RemoteClient`] handle is
//! `Send + Sync` and cheap to clone. Token callbacks run on that thread, as the engine's run on
//! its worker.

mod chat;
mod http;
mod sse;
mod wire;

use std::future::Future;
use std::sync::atomic::AtomicUsize;
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread::{JoinHandle, ThreadId};
use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{json, Value};
use zeroize::Zeroizing;

use self::chat::ChatJob;
use self::http::{until_cancelled, Failure, Transport};
use crate::engine::{Completion, TokenCallback, TokenStream};
use crate::slot::Slot;
use crate::{CancelToken, GenerateRequest};
use bizra_protocol::identity::Identity;
use bizra_protocol::{Envelope, Error, Result};

/// The environment variables an API key is read from, in order, when none is configured.
pub const API_KEY_VARIABLES: [&str; 2] = ["BIZRA_POOL_API_KEY", "OPENAI_API_KEY"];

/// The most alternatives the OpenAI API returns per token (`top_logprobs`).
pub const MAX_TOP_LOGPROBS: u8 = 20;

/// A bearer token for the server. Never shown: `Debug` prints `ApiKey(..)`, errors carry the
/// server's messages with the key removed, and the memory is zeroed on drop.
#[derive(Clone)]
pub struct ApiKey(Zeroizing<String>);

impl ApiKey {
    /// A key.
    pub fn new(key: impl Into<String>) -> Self {
        Self(Zeroizing::new(key.into()))
    }

    /// The first non-empty of [`API_KEY_VARIABLES`].
    pub fn from_env() -> Option<Self> {
        API_KEY_VARIABLES.iter().find_map(|name| {
            std::env::var(name)
                .ok()
                .filter(|v| !v.trim().is_empty())
                .map(|v| Self::new(v.trim()))
        })
    }

    pub(crate) fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ApiKey(..)")
    }
}

/// How a [`RemoteClient`] reaches its server.
#[derive(Clone, Debug)]
pub struct RemoteOptions {
    /// The server: `http://host:8000` or `http://host:8000/v1` (`/v1` is added when missing).
    /// Credentials in the URL are never shown; give the key as `api_key` instead.
    pub base_url: String,
    /// The bearer token; `None` reads [`API_KEY_VARIABLES`] when the client is made, and sends
    /// none if they are unset.
    pub api_key: Option<ApiKey>,
    /// The model to ask for; `None` takes the first that `GET /v1/models` lists.
    pub model: Option<String>,
    /// Longest wait for a TCP (and TLS) connection. Default 10 s.
    pub connect_timeout: Duration,
    /// Longest silence while waiting for a response or reading it. A streamed completion sends
    /// every token, but a whole one sends nothing until it is done, so this also bounds a
    /// non-streamed generation. Default 120 s.
    pub read_timeout: Duration,
    /// Retries after a failed connection, a 429 or a 5xx (never after another status, nor
    /// once a stream has begun). Default 4.
    pub max_retries: u32,
    /// The first backoff; doubled at each retry, plus a random jitter. Default 250 ms.
    pub initial_backoff: Duration,
    /// The largest backoff (before jitter). Default 8 s.
    pub max_backoff: Duration,
    /// The longest `Retry-After` honoured; a server asking for more fails the request at once.
    /// Default 60 s.
    pub max_retry_after: Duration,
    /// Alternatives requested per token for the SNR (0 asks for no probabilities, and leaves
    /// the SNR unmeasured); at most [`MAX_TOP_LOGPROBS`]. Default 20.
    pub top_logprobs: u8,
    /// The model's vocabulary size, needed for the SNR ([`crate::SNR_FORMULA_TOP_LOGPROBS`]);
    /// `None` uses what the server reports (llama.cpp's server does, in `/v1/models`), else the
    /// SNR is unmeasured.
    pub vocab_size: Option<u32>,
    /// Requests this client runs at once, at most (streams until they end, embeddings, health
    /// probes included); one more is refused at once with [`Error::RunningLimit`] (kind `BUSY`)
    /// rather than opening connections and tasks without bound. A request's slot is given back
    /// before its caller is answered. At least 1. Default 64.
    pub max_in_flight: u32,
}

impl RemoteOptions {
    /// The defaults, for the server at `base_url`.
    pub fn new(base_url: impl Into<String>) -> Self {
        Self {
            base_url: base_url.into(),
            api_key: None,
            model: None,
            connect_timeout: Duration::from_secs(10),
            read_timeout: Duration::from_secs(120),
            max_retries: 4,
            initial_backoff: Duration::from_millis(250),
            max_backoff: Duration::from_secs(8),
            max_retry_after: Duration::from_secs(60),
            top_logprobs: MAX_TOP_LOGPROBS,
            vocab_size: None,
            max_in_flight: 64,
        }
    }

    /// Sets the API key.
    pub fn api_key(mut self, key: impl Into<String>) -> Self {
        self.api_key = Some(ApiKey::new(key));
        self
    }

    /// Sets the model.
    pub fn model(mut self, model: impl Into<String>) -> Self {
        self.model = Some(model.into());
        self
    }

    /// Sets the model's vocabulary size.
    pub fn vocab_size(mut self, n: u32) -> Self {
        self.vocab_size = Some(n);
        self
    }

    fn validate(&self) -> Result<()> {
        let bad = |what: String| Err(Error::InvalidInput(what));
        if self.top_logprobs > MAX_TOP_LOGPROBS {
            return bad(format!("top_logprobs must be at most {MAX_TOP_LOGPROBS}"));
        }
        if self.connect_timeout.is_zero() || self.read_timeout.is_zero() {
            return bad("connect_timeout and read_timeout must be more than 0".into());
        }
        if self.vocab_size.is_some_and(|v| v < 2) {
            return bad("vocab_size must be at least 2".into());
        }
        if self.model.as_deref().is_some_and(|m| m.trim().is_empty()) {
            return bad("the model name must not be empty".into());
        }
        if self.max_in_flight == 0 {
            return bad("max_in_flight must be at least 1".into());
        }
        Ok(())
    }
}

/// What the server's health probe says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Health {
    /// It answers and serves its model.
    Ready,
    /// It answers but is still loading its model (503): worth waiting for.
    Loading(String),
    /// It cannot serve: not reachable, refusing the key, or answering with an error.
    Unavailable(String),
}

/// The unsigned result of a remote generation: the same [`Completion`] as the embedded engine's,
/// and what only a remote server tells.
///
/// In `completion`: `rendered_prompt` is the JSON of the messages as sent (the server applies
/// the chat template); `stats` holds the server's token probabilities (see
/// [`crate::SNR_FORMULA_TOP_LOGPROBS`]); `prompt_ms` is the time from sending the request to the
/// first piece of text (queueing, network and the prompt), `generation_ms` the rest, and a whole
/// (non-streamed) response puts all its time in `generation_ms`; token counts are the server's
/// `usage`, or else the tokens and pieces received for the output and 0 (unknown, `null` in the
/// payload) for the prompt.
#[derive(Clone, Debug, PartialEq)]
pub struct RemoteCompletion {
    /// The generation.
    pub completion: Completion,
    /// The model that answered, as the server reports it; for a request cancelled before it
    /// was sent, the configured model (empty when none is, and the client had not yet learnt
    /// the server's).
    pub model: String,
    /// `finish_reason` as the server sent it (`stop`, `length`, ...), where it did.
    pub server_finish_reason: Option<String>,
    /// From sending the request until the end of the response, in milliseconds.
    pub total_ms: f64,
    /// The server's own `timings`, where it reports them (llama.cpp's server does).
    pub server_timings: Option<Value>,
    /// The vocabulary size the SNR was measured with.
    pub vocab_size: Option<u64>,
}

/// What the client learnt of the server's model, once.
#[derive(Clone, Debug)]
struct Resolved {
    model: String,
    vocab: Option<u64>,
}

/// What the client's tasks share.
#[derive(Debug)]
struct Shared {
    transport: Transport,
    options: RemoteOptions,
    resolved: tokio::sync::Mutex<Option<Resolved>>,
}

struct Inner {
    shared: Arc<Shared>,
    /// Requests running now (see [`RemoteOptions::max_in_flight`]).
    in_flight: Arc<AtomicUsize>,
    handle: tokio::runtime::Handle,
    thread_id: ThreadId,
    shutdown: Mutex<Option<tokio::sync::oneshot::Sender<()>>>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        if let Ok(mut s) = self.shutdown.lock() {
            if let Some(tx) = s.take() {
                let _ = tx.send(());
            }
        }
        if let Ok(mut t) = self.thread.lock() {
            if let Some(handle) = t.take() {
                // Dropped from a token callback, on the client's own thread: it cannot wait for
                // itself, and ends on its own.
                if handle.thread().id() != std::thread::current().id() {
                    let _ = handle.join();
                }
            }
        }
    }
}

/// A remote OpenAI-compatible server. `Send + Sync` and cheap to clone: every clone shares one
/// connection pool and one thread. Dropping the last clone stops the thread; requests still
/// running are abandoned and their connections closed.
#[derive(Clone)]
pub struct RemoteClient {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for RemoteClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RemoteClient")
            .field("base_url", &self.inner.shared.transport.shown)
            .field("model", &self.inner.shared.options.model)
            .finish()
    }
}

impl RemoteClient {
    /// A client for the server of `options`, with its thread. Nothing is sent yet: the server
    /// need not be up (see [`RemoteClient::health`]).
    pub fn connect(options: RemoteOptions) -> Result<Self> {
        options.validate()?;
        let key = options.api_key.clone().or_else(ApiKey::from_env);
        let transport = Transport::new(&options, key).map_err(Error::InvalidInput)?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .enable_time()
            .build()
            .map_err(|e| Error::io("tokio runtime", e))?;
        let handle = runtime.handle().clone();
        let (shutdown, stop) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("bizra-remote".into())
            .spawn(move || {
                // Serves every task spawned on the handle until the client is dropped; dropping
                // the runtime then cancels what still runs (closing its connections).
                let _ = runtime.block_on(stop);
            })
            .map_err(|e| Error::io("remote client thread", e))?;
        Ok(Self {
            inner: Arc::new(Inner {
                shared: Arc::new(Shared {
                    transport,
                    options,
                    resolved: tokio::sync::Mutex::new(None),
                }),
                in_flight: Arc::new(AtomicUsize::new(0)),
                handle,
                thread_id: thread.thread().id(),
                shutdown: Mutex::new(Some(shutdown)),
                thread: Mutex::new(Some(thread)),
            }),
        })
    }

    /// The server's API root, without credentials (`http://host:8000/v1`), as payloads record it.
    pub fn base_url(&self) -> &str {
        &self.inner.shared.transport.shown
    }

    /// Runs `task` on the client's thread and waits for it.
    fn run<T: Send + 'static>(
        &self,
        task: impl Future<Output = Result<T>> + Send + 'static,
    ) -> Result<T> {
        let rx = self.spawn(task)?;
        rx.recv().unwrap_or_else(|_| {
            Err(Error::Inference(
                "the remote request stopped (its token callback panicked, or the client was dropped)"
                    .into(),
            ))
        })
    }

    fn spawn<T: Send + 'static>(
        &self,
        task: impl Future<Output = Result<T>> + Send + 'static,
    ) -> Result<mpsc::Receiver<Result<T>>> {
        if std::thread::current().id() == self.inner.thread_id {
            return Err(Error::Inference(
                "a remote client cannot be called from its own thread (from a token callback)"
                    .into(),
            ));
        }
        let slot = Slot::take(
            &self.inner.in_flight,
            self.inner.shared.options.max_in_flight as usize,
        )
        .ok_or_else(|| Error::RunningLimit {
            running: format!("the requests in flight to pool {}", self.base_url()),
            limit: self.inner.shared.options.max_in_flight as usize,
        })?;
        let (tx, rx) = mpsc::channel();
        self.inner.handle.spawn(async move {
            // Held until the task ends or is dropped (the client dropped mid-request), and given
            // back before the caller hears the result, so that its next request finds it free.
            let result = task.await;
            drop(slot);
            let _ = tx.send(result);
        });
        Ok(rx)
    }

    /// Probes the server without retrying: `GET /health` (llama.cpp's and vLLM's servers), else
    /// `GET /v1/models`. A 503 means the server is up but still loading its model.
    pub fn health(&self) -> Health {
        let shared = Arc::clone(&self.inner.shared);
        self.run(async move { Ok(shared.health().await) })
            .unwrap_or_else(|e| Health::Unavailable(e.to_string()))
    }

    /// The ids of the models the server serves (`GET /v1/models`).
    pub fn models(&self) -> Result<Vec<String>> {
        let shared = Arc::clone(&self.inner.shared);
        self.run(async move {
            let entries = shared.model_entries().await.map_err(|f| shared.error(f))?;
            Ok(entries.into_iter().map(|(id, _)| id).collect())
        })
    }

    /// A sentence embedding from the server (`POST /v1/embeddings`), L2-normalised as the
    /// engine's are (so a dot product is the cosine similarity).
    pub fn embed(&self, text: &str) -> Result<Vec<f32>> {
        let shared = Arc::clone(&self.inner.shared);
        let text = text.to_owned();
        self.run(async move { shared.embed(text).await })
    }

    /// Generates a completion (unsigned): streamed, with `on_token` called with each piece of
    /// text as it arrives (on the client's thread; the pieces concatenate to the text), or whole
    /// when `on_token` is `None`. Blocks the calling thread until the end; `cancel` may be
    /// triggered from any thread, and then the connection is closed and the completion ends
    /// with [`crate::FinishReason::Cancelled`].
    pub fn complete_with(
        &self,
        request: &GenerateRequest,
        cancel: &CancelToken,
        on_token: Option<TokenCallback>,
    ) -> Result<RemoteCompletion> {
        let prepared = Prepared::new(request)?;
        let shared = Arc::clone(&self.inner.shared);
        let cancel = cancel.clone();
        self.run(async move { shared.complete(prepared, &cancel, on_token).await })
    }

    /// Generates a completion (unsigned), without streaming.
    pub fn complete(&self, request: &GenerateRequest) -> Result<RemoteCompletion> {
        self.complete_with(request, &CancelToken::new(), None)
    }

    /// Starts a streamed generation and returns at once: iterate the [`TokenStream`] for the
    /// text pieces, then call [`TokenStream::finish`] for the completion. Dropping the stream
    /// cancels the generation.
    pub fn stream(&self, request: &GenerateRequest) -> Result<TokenStream<RemoteCompletion>> {
        let prepared = Prepared::new(request)?;
        let shared = Arc::clone(&self.inner.shared);
        let cancel = CancelToken::new();
        let task_cancel = cancel.clone();
        let (tok_tx, tok_rx) = mpsc::channel::<String>();
        let on_token: TokenCallback = Box::new(move |s: &str| {
            let _ = tok_tx.send(s.to_owned());
        });
        let done = self.spawn(async move {
            shared
                .complete(prepared, &task_cancel, Some(on_token))
                .await
        })?;
        Ok(TokenStream::new(tok_rx, done, cancel))
    }

    /// Generates and returns the output as an envelope signed by `identity`, like
    /// [`crate::Engine::generate`]: payload `{"type": "bizra.inference", "output", "backend",
    /// "model", "tier": "pool", "prompt_blake3", "params", "tokens", "timings_ms",
    /// "finish_reason", "server_finish_reason", "vocab_size", "scores"}`.
    ///
    /// A remote pool serves the Pool tier whatever the request's `tier`; of the sampling
    /// parameters, those of the OpenAI API are sent (temperature, top_p, seed, max_tokens, stop)
    /// and the payload records exactly those; the server's defaults rule the others. A seed is
    /// always sent (drawn when the request has none) so that the payload records it.
    pub fn generate(&self, identity: &Identity, request: &GenerateRequest) -> Result<Envelope> {
        self.generate_streaming(identity, request, &CancelToken::new(), None)
    }

    /// [`RemoteClient::generate`] with streaming (`on_token` runs on the client's thread) and
    /// cancellation.
    pub fn generate_streaming(
        &self,
        identity: &Identity,
        request: &GenerateRequest,
        cancel: &CancelToken,
        on_token: Option<TokenCallback>,
    ) -> Result<Envelope> {
        let completion = self.complete_with(request, cancel, on_token)?;
        self.sign(identity, request, &completion)
    }

    /// Signs a completion this client produced for `request`.
    pub fn sign(
        &self,
        identity: &Identity,
        request: &GenerateRequest,
        completion: &RemoteCompletion,
    ) -> Result<Envelope> {
        crate::output::sign_remote(identity, self.base_url(), request, completion, None)
    }
}

/// The sampling parameters sent for `request` with `seed`, as the payload records them.
pub(crate) fn sent_params(request: &GenerateRequest, seed: u32) -> Value {
    wire::params(request, seed)
}

/// A request checked and turned into what is sent, before anything is.
struct Prepared {
    messages: Value,
    params: Value,
    seed: u32,
    has_stop: bool,
}

impl Prepared {
    fn new(request: &GenerateRequest) -> Result<Self> {
        request.validate()?;
        let messages = wire::messages(request).map_err(Error::InvalidInput)?;
        // A seed is always sent, so that the payload records the one used.
        let seed = request
            .sampling
            .seed
            .unwrap_or_else(crate::engine::rand_seed);
        Ok(Self {
            params: wire::params(request, seed),
            messages,
            seed,
            has_stop: !request.stop.is_empty(),
        })
    }
}

impl Shared {
    /// A failure as the error callers see: [`Error::Remote`] naming this server.
    fn error(&self, f: Failure) -> Error {
        match f {
            Failure::Cancelled => Error::Inference("cancelled".into()),
            Failure::Failed {
                status,
                refused,
                detail,
            } => Error::Remote {
                endpoint: self.transport.shown.clone(),
                status,
                refused,
                detail,
            },
        }
    }

    async fn model_entries(&self) -> std::result::Result<Vec<(String, Value)>, Failure> {
        let resp = self.transport.send(Method::GET, "models", None).await?;
        let what = format!("GET {}/models", self.transport.shown);
        let v = json_body(&self.transport, resp)
            .await
            .map_err(|e| Failure::unavailable(None, format!("{what}: {e}")))?;
        wire::model_entries(&v).map_err(|e| Failure::unavailable(None, format!("{what}: {e}")))
    }

    /// The model to ask for and its vocabulary size: configured, or learnt once from
    /// `GET /v1/models` (a server that cannot list its models still serves a configured one).
    async fn resolve(&self) -> std::result::Result<Resolved, Failure> {
        let mut resolved = self.resolved.lock().await;
        if let Some(r) = resolved.as_ref() {
            return Ok(r.clone());
        }
        let configured_vocab = self.options.vocab_size.map(u64::from);
        let r = match (&self.options.model, configured_vocab) {
            (Some(model), Some(vocab)) => Resolved {
                model: model.clone(),
                vocab: Some(vocab),
            },
            (Some(model), None) => Resolved {
                vocab: self.model_entries().await.ok().and_then(|entries| {
                    entries
                        .iter()
                        .find(|(id, _)| id == model)
                        .and_then(|(_, e)| wire::entry_vocab(e))
                }),
                model: model.clone(),
            },
            (None, _) => {
                let entries = self.model_entries().await?;
                let (model, entry) = entries.into_iter().next().ok_or_else(|| {
                    Failure::unavailable(
                        None,
                        format!(
                            "GET {}/models lists no model; configure one",
                            self.transport.shown
                        ),
                    )
                })?;
                Resolved {
                    model,
                    vocab: configured_vocab.or_else(|| wire::entry_vocab(&entry)),
                }
            }
        };
        *resolved = Some(r.clone());
        Ok(r)
    }

    /// A completion; cancelled at any point, including while the model is being learnt (which
    /// waits for the server, or for another request that asks it), it ends with
    /// [`crate::FinishReason::Cancelled`].
    async fn complete(
        &self,
        prepared: Prepared,
        cancel: &CancelToken,
        on_token: Option<TokenCallback>,
    ) -> Result<RemoteCompletion> {
        let started = Instant::now();
        let top_logprobs = self.options.top_logprobs;
        let job = |model, vocab: Option<u64>| ChatJob {
            model,
            messages: prepared.messages,
            params: prepared.params,
            seed: prepared.seed,
            top_logprobs,
            vocab: vocab.filter(|_| top_logprobs > 0),
            has_stop: prepared.has_stop,
        };
        match until_cancelled(cancel, self.resolve())
            .await
            .and_then(|r| r)
        {
            Ok(resolved) => chat::complete(
                &self.transport,
                job(resolved.model, resolved.vocab),
                cancel,
                on_token,
            )
            .await
            .map_err(|f| self.error(f)),
            Err(Failure::Cancelled) => {
                let model = self.options.model.clone().unwrap_or_default();
                Ok(chat::cancelled_before_sending(job(model, None), started))
            }
            Err(f) => Err(self.error(f)),
        }
    }

    async fn embed(&self, text: String) -> Result<Vec<f32>> {
        let resolved = self.resolve().await.map_err(|f| self.error(f))?;
        let body = json!({"model": resolved.model, "input": text});
        let resp = self
            .transport
            .send(Method::POST, "embeddings", Some(&body))
            .await
            .map_err(|f| self.error(f))?;
        let what = format!("POST {}/embeddings", self.transport.shown);
        let v = json_body(&self.transport, resp)
            .await
            .map_err(|e| self.error(Failure::unavailable(None, format!("{what}: {e}"))))?;
        let mut e = wire::embedding(&v)
            .map_err(|e| self.error(Failure::unavailable(None, format!("{what}: {e}"))))?;
        let norm = e.iter().map(|x| f64::from(*x).powi(2)).sum::<f64>().sqrt();
        if !(norm.is_finite() && norm > 0.0) {
            return Err(self.error(Failure::unavailable(
                None,
                format!("{what}: the embedding is zero or not finite"),
            )));
        }
        for x in &mut e {
            *x = (f64::from(*x) / norm) as f32;
        }
        Ok(e)
    }

    async fn health(&self) -> Health {
        let status = |r: std::result::Result<reqwest::Response, reqwest::Error>| match r {
            Ok(resp) => Ok(resp),
            Err(e) if e.is_connect() => Err(format!(
                "{}: cannot connect: {}",
                self.transport.shown,
                self.transport.describe(e)
            )),
            Err(e) if e.is_timeout() => Err(format!(
                "{}: no answer within the timeout",
                self.transport.shown
            )),
            Err(e) => Err(format!(
                "{}: {}",
                self.transport.shown,
                self.transport.describe(e)
            )),
        };
        let mut last = None;
        for endpoint in ["/health", "models"] {
            let sent = match self.transport.send_once(Method::GET, endpoint, None).await {
                Ok(r) => r,
                Err(Failure::Failed { detail, .. }) => return Health::Unavailable(detail),
                Err(Failure::Cancelled) => return Health::Unavailable("cancelled".into()),
            };
            let resp = match status(sent) {
                Ok(resp) => resp,
                Err(why) => return Health::Unavailable(why),
            };
            let code = resp.status();
            if code.is_success() {
                return Health::Ready;
            }
            if code == reqwest::StatusCode::SERVICE_UNAVAILABLE {
                let message = self.transport.body_message(resp).await;
                return Health::Loading(format!("GET {endpoint}: HTTP {code}{message}"));
            }
            last = Some(format!(
                "{}: GET {endpoint}: HTTP {code}",
                self.transport.shown
            ));
            // Only a server without a /health endpoint is asked for its models.
            if code != reqwest::StatusCode::NOT_FOUND
                && code != reqwest::StatusCode::METHOD_NOT_ALLOWED
            {
                break;
            }
        }
        Health::Unavailable(last.unwrap_or_default())
    }
}

/// A response body read as JSON.
async fn json_body(
    transport: &Transport,
    resp: reqwest::Response,
) -> std::result::Result<Value, String> {
    let bytes = resp.bytes().await.map_err(|e| {
        if e.is_timeout() {
            "no response within the read timeout".to_owned()
        } else {
            transport.describe(e)
        }
    })?;
    serde_json::from_slice(&bytes).map_err(|e| format!("the response is not JSON: {e}"))
}
