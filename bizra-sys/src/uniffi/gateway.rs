//! `Pool` (a client of a remote OpenAI-compatible server: the core's `RemoteClient`) and
//! `Gateway` (the core's router between Edge, Local and Pool backends, with fallbacks), with the
//! same generation API as `Model`: blocking, streaming to a `TokenListener` with a `CancelToken`,
//! suspending (`generateAsync`) and a `TokenStream` read with `next()`.
//!
//! The API key is a constructor argument of `Pool`, not a member of `PoolOptions`, so that no
//! record holding it is ever printed (Kotlin's data classes and Swift's structs show every
//! member); the core keeps it and never shows it.

use std::sync::Arc;
use std::time::Duration;

use bizra_core::inference::{self as core, ApiKey, Health, RemoteClient, RemoteOptions};

use super::envelope::Envelope;
use super::identity::Identity;
use super::inference::{
    generate_off_thread, start_stream, streamed, Backend, CancelToken, GenerateOptions, Model,
    TokenListener, TokenStream,
};
use super::tier::{ModelTier, TierDecision};
use super::BizraError;

/// How to reach a remote pool. A null member takes the core's default: the first model the
/// server lists, a 10 s connection timeout, a 120 s read timeout, 4 retries (after a failed
/// connection, a 429 or a 5xx) with backoffs from 250 ms doubling up to 8 s, a `Retry-After` of
/// at most 60 s honoured, 20 alternatives per token for the SNR, the vocabulary size the server
/// reports, 64 requests in flight.
#[derive(Debug, Clone, PartialEq, Eq, ::uniffi::Record)]
pub struct PoolOptions {
    /// The server's API root (`http://host:8000` or `http://host:8000/v1`; `/v1` is added when
    /// missing; credentials in it are never shown).
    pub base_url: String,
    /// The model to ask for; null: the first that `GET /v1/models` lists.
    #[uniffi(default = None)]
    pub model: Option<String>,
    /// Longest wait for a TCP (and TLS) connection.
    #[uniffi(default = None)]
    pub connect_timeout: Option<Duration>,
    /// Longest silence while waiting for a response or reading it.
    #[uniffi(default = None)]
    pub read_timeout: Option<Duration>,
    /// Retries after a failed connection, a 429 or a 5xx (never once a stream has begun).
    #[uniffi(default = None)]
    pub max_retries: Option<u32>,
    /// The first backoff between retries (doubled at each retry, plus a random jitter).
    #[uniffi(default = None)]
    pub initial_backoff: Option<Duration>,
    /// The largest backoff before jitter.
    #[uniffi(default = None)]
    pub max_backoff: Option<Duration>,
    /// The longest `Retry-After` honoured (a server asking for more fails the request at once).
    #[uniffi(default = None)]
    pub max_retry_after: Option<Duration>,
    /// Alternatives requested per token for the SNR, at most 20; 0 leaves the SNR unmeasured.
    #[uniffi(default = None)]
    pub top_logprobs: Option<u32>,
    /// The model's vocabulary size, which the SNR needs when the server does not report it.
    #[uniffi(default = None)]
    pub vocab_size: Option<u32>,
    /// Requests the pool runs at once, at least 1 (streams until they end, embeddings and health
    /// probes included); one more fails at once with `BizraException.Busy` rather than opening
    /// connections without bound.
    #[uniffi(default = None)]
    pub max_in_flight: Option<u32>,
}

/// What a pool's health probe says.
#[derive(Debug, Clone, PartialEq, Eq, ::uniffi::Enum)]
pub enum PoolHealth {
    /// It answers and serves its model.
    Ready,
    /// It answers but is still loading its model: worth waiting for.
    Loading {
        /// What it said.
        detail: String,
    },
    /// It cannot serve: not reachable, refusing the key, or answering with an error.
    Unavailable {
        /// Why.
        detail: String,
    },
}

/// A client of one remote OpenAI-compatible server (vLLM, Ollama, llama.cpp's server,
/// llama-cpp-python, a hosted provider): the Pool tier's backend for a `Gateway`. Safe to share
/// between threads.
#[derive(::uniffi::Object)]
pub struct Pool {
    client: RemoteClient,
}

#[::uniffi::export]
impl Pool {
    /// A client of the server at `options.baseUrl`. Nothing is sent yet: the server need not be
    /// up (`health()` probes it). `apiKey` is the bearer token the server wants; null: the first
    /// non-empty of the environment variables `BIZRA_POOL_API_KEY` and `OPENAI_API_KEY`, else
    /// none. The key is never shown: not in an error, not in a payload. A malformed URL or
    /// option throws `InvalidInput`.
    #[uniffi::constructor(default(api_key = None))]
    pub fn connect(options: PoolOptions, api_key: Option<String>) -> Result<Self, BizraError> {
        let mut o = RemoteOptions::new(options.base_url);
        o.api_key = api_key.map(ApiKey::new);
        o.model = options.model;
        if let Some(t) = options.connect_timeout {
            o.connect_timeout = t;
        }
        if let Some(t) = options.read_timeout {
            o.read_timeout = t;
        }
        if let Some(n) = options.max_retries {
            o.max_retries = n;
        }
        if let Some(t) = options.initial_backoff {
            o.initial_backoff = t;
        }
        if let Some(t) = options.max_backoff {
            o.max_backoff = t;
        }
        if let Some(t) = options.max_retry_after {
            o.max_retry_after = t;
        }
        if let Some(n) = options.top_logprobs {
            o.top_logprobs = u8::try_from(n)
                .map_err(|_| BizraError::invalid(format!("topLogprobs: {n} is more than 20")))?;
        }
        o.vocab_size = options.vocab_size;
        if let Some(n) = options.max_in_flight {
            o.max_in_flight = n;
        }
        Ok(Pool {
            client: RemoteClient::connect(o)?,
        })
    }

    /// The server's API root, without credentials.
    pub fn base_url(&self) -> String {
        self.client.base_url().to_owned()
    }

    /// Probes the server once, without retrying, bounded by the pool's timeouts.
    pub fn health(&self) -> PoolHealth {
        match self.client.health() {
            Health::Ready => PoolHealth::Ready,
            Health::Loading(detail) => PoolHealth::Loading { detail },
            Health::Unavailable(detail) => PoolHealth::Unavailable { detail },
        }
    }
}

/// One fallback rule of a `Gateway`: when the tier `from` cannot serve (it has no backend, or
/// every pool was unavailable; never after a refusal, an invalid or cancelled request, or text
/// already streamed), the tier `to` serves instead, and the payload's `route.fallbacks` records
/// the step with its cause.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ::uniffi::Record)]
pub struct FallbackRule {
    /// The tier that cannot serve.
    pub from: ModelTier,
    /// The tier tried next.
    pub to: ModelTier,
}

/// Routes each request to the Edge, Local or Pool tier (the request's `tier`, else the one its
/// complexity calls for), takes the configured fallbacks when a tier cannot serve, and signs the
/// route into the output: the payload's `tier` is the tier that served, and its `route` member
/// says `{tier, forced, complexity, reason, served, backend, fallbacks: [{from, to, cause,
/// detail}], skipped: [{backend, detail}]}`. Safe to share between threads.
#[derive(::uniffi::Object)]
pub struct Gateway {
    inner: core::Gateway,
}

impl Backend for core::Gateway {
    fn generate_streaming(
        &self,
        identity: &bizra_core::Identity,
        request: &core::GenerateRequest,
        cancel: &core::CancelToken,
        on_token: Option<core::TokenCallback>,
    ) -> bizra_core::Result<bizra_core::Envelope> {
        core::Gateway::generate_streaming(self, identity, request, cancel, on_token)
    }
}

#[::uniffi::export]
impl Gateway {
    /// A gateway: `edge` and `local` serve those tiers (any loaded model, whatever its size; the
    /// same model may serve both; null: the tier has no backend), `pools` serve the Pool tier in
    /// this order (the first that serves wins; each unavailable one before it is recorded in
    /// `route.skipped`), and `fallbacks` say which tier serves when one cannot (at most one rule
    /// per tier, none from a tier to itself; they chain, each tier tried at most once). An
    /// invalid configuration throws `InvalidInput`, saying what is wrong.
    #[uniffi::constructor(default(edge = None, local = None, pools = [], fallbacks = []))]
    pub fn new(
        edge: Option<Arc<Model>>,
        local: Option<Arc<Model>>,
        pools: Vec<Arc<Pool>>,
        fallbacks: Vec<FallbackRule>,
    ) -> Result<Self, BizraError> {
        let mut b = core::Gateway::builder();
        if let Some(m) = edge {
            b = b.engine_for(bizra_core::ModelTier::Edge, m.engine.clone());
        }
        if let Some(m) = local {
            b = b.engine_for(bizra_core::ModelTier::Local, m.engine.clone());
        }
        for p in pools {
            b = b.pool(p.client.clone());
        }
        for f in fallbacks {
            b = b.fallback(f.from.into(), f.to.into());
        }
        Ok(Gateway { inner: b.build()? })
    }

    /// The pools of the Pool tier, in the order they are tried.
    pub fn pools(&self) -> Vec<Arc<Pool>> {
        self.inner
            .pools()
            .iter()
            .map(|client| {
                Arc::new(Pool {
                    client: client.clone(),
                })
            })
            .collect()
    }

    /// The tier the gateway would decide for `prompt` with `options` (its `maxTokens` and
    /// forced `tier`), without serving it.
    #[uniffi::method(default(options = None))]
    pub fn decide(&self, prompt: String, options: Option<GenerateOptions>) -> TierDecision {
        let d = self
            .inner
            .decide(&options.unwrap_or_default().request(prompt));
        TierDecision {
            complexity: d.complexity.into(),
            tier: d.tier.into(),
            forced: d.forced,
            reason: d.reason,
        }
    }

    /// Answers `prompt` through the tier decided for it and returns the output as an envelope
    /// signed by `identity`: the payload of the backend that served (a `Model`'s, or a pool's
    /// with `backend: {kind, base_url, model}`) with `tier` the tier that served and `route`.
    /// When no tier can serve: `RemoteUnavailable` (every pool unreachable, timed out,
    /// overloaded or failing), `RemoteRefused` (a pool refused the request: a wrong key or
    /// model; never falls back), `NoRemotePool` or `ModelNotFound` (no backend for the tier).
    #[uniffi::method(default(options = None))]
    pub fn generate(
        &self,
        identity: Arc<Identity>,
        prompt: String,
        options: Option<GenerateOptions>,
    ) -> Result<Arc<Envelope>, BizraError> {
        let request = options.unwrap_or_default().request(prompt);
        let inner = self.inner.generate(&identity.inner, &request)?;
        Ok(Arc::new(Envelope { inner }))
    }

    /// `generate`, handing each piece of text to `listener` as it is produced (once a piece has
    /// arrived, no fallback is taken); `cancel`, from any thread, ends the generation early (the
    /// envelope then says "cancelled"; a cancelled request never falls back).
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
        streamed(&self.inner, &identity, &request, &cancel, Some(listener))
    }

    /// `generate` as a suspending call (a `suspend fun` in Kotlin, `async` in Swift): cancelling
    /// the coroutine or task cancels the generation. With a `listener`, the pieces arrive as in
    /// `generateStreaming`.
    #[uniffi::method(default(options = None, listener = None))]
    pub async fn generate_async(
        &self,
        identity: Arc<Identity>,
        prompt: String,
        options: Option<GenerateOptions>,
        listener: Option<Arc<dyn TokenListener>>,
    ) -> Result<Arc<Envelope>, BizraError> {
        let request = options.unwrap_or_default().request(prompt);
        generate_off_thread(self.inner.clone(), identity, request, listener).await
    }

    /// Starts answering `prompt` and returns at once a `TokenStream`: its `next()` yields the
    /// text pieces, then the signed envelope (as `generate`'s), then null. Closing the stream, or
    /// its `cancel()`, stops the generation.
    #[uniffi::method(default(options = None))]
    pub fn stream(
        &self,
        identity: Arc<Identity>,
        prompt: String,
        options: Option<GenerateOptions>,
    ) -> Result<Arc<TokenStream>, BizraError> {
        let request = options.unwrap_or_default().request(prompt);
        start_stream(self.inner.clone(), identity, request)
    }
}
