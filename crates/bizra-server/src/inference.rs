//! Inference: `/api/v1/inference/*` and the OpenAI-compatible `/v1/chat/completions` and
//! `/v1/models`, over the gateway.

use std::convert::Infallible;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use bizra::inference::{Completion, FinishReason, Served};
use bizra::{CancelToken, ChatMessage, Envelope, Gateway, GenerateRequest, ModelTier};
use futures_util::Stream;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use tokio::sync::mpsc;
use utoipa::ToSchema;

use crate::api::{envelope_value, join_error};
use crate::error::{ApiError, ApiJson, ApiResult, ErrorBody};
use crate::events::{ServerEvent, Topic};
use crate::guard::Authorized;
use crate::state::AppState;

/// The extension member of OpenAI-compatible responses that carries the signed envelope (on
/// the final chunk of a stream).
pub const ENVELOPE_FIELD: &str = "bizra_envelope";

/// One Server-Sent Event of a streamed answer (`stream: true`), as the stream carries it: an
/// `event:` line (named streams) and a `data:` line. Documents `text/event-stream`; never built.
#[derive(ToSchema)]
#[allow(dead_code)]
struct SseEvent {
    /// The event's name: `token`, `envelope` or `error` (`/inference/generate`); absent in
    /// OpenAI streams.
    event: Option<String>,
    /// JSON text (`{"text"}`, `{"envelope", ...}`, a `chat.completion.chunk`, the error shape),
    /// or `[DONE]`, the last event of an OpenAI stream.
    data: String,
}

fn gateway(state: &AppState) -> ApiResult<Gateway> {
    state.gateway().cloned().ok_or_else(|| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "inference_unavailable",
            "this server has no model gateway configured",
        )
    })
}

fn parse_tier(name: &str) -> ApiResult<ModelTier> {
    ModelTier::from_name(name).ok_or_else(|| {
        ApiError::bad_request(format!(
            "unknown tier {name:?}: expected edge, local or pool"
        ))
    })
}

/// A chat message.
#[derive(Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MessageJson {
    /// `system`, `user` or `assistant`.
    pub role: String,
    /// What is said.
    pub content: String,
}

/// `POST /inference/generate`.
#[derive(Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GenerateJson {
    /// A user message (rendered with the model's chat template), or raw text with `raw: true`.
    pub prompt: Option<String>,
    /// A conversation, instead of `prompt`.
    pub messages: Option<Vec<MessageJson>>,
    /// A system message.
    pub system: Option<String>,
    /// `prompt` is given to the model as is (no chat template).
    #[serde(default)]
    pub raw: bool,
    /// Most tokens to generate (default: the server's).
    pub max_tokens: Option<u32>,
    /// Temperature (0: greedy).
    pub temperature: Option<f32>,
    /// Nucleus sampling.
    pub top_p: Option<f32>,
    /// Top-k sampling.
    pub top_k: Option<u32>,
    /// RNG seed.
    pub seed: Option<u32>,
    /// Stop strings.
    #[serde(default)]
    pub stop: Vec<String>,
    /// Force a tier (`edge`, `local`, `pool`).
    pub tier: Option<String>,
    /// Ids of the envelopes the request derives from.
    #[serde(default)]
    pub provenance: Vec<String>,
    /// The output envelope's lifetime, seconds.
    pub ttl: Option<i64>,
    /// Stream Server-Sent Events: `token` events (`{"text": ...}`), then one `envelope` event
    /// (`{"envelope": ...}`), or an `error` event in the error shape.
    #[serde(default)]
    pub stream: bool,
}

/// A generation's answer.
#[derive(Serialize, Deserialize, ToSchema)]
pub struct GenerateAnswer {
    /// The signed output (payload type `bizra.inference`).
    #[schema(value_type = Object)]
    pub envelope: Value,
    /// The generated text (the payload's `output`).
    pub output: String,
    /// Why generation ended (`eos`, `stop`, `length`, `cancelled`).
    pub finish_reason: String,
}

impl GenerateJson {
    fn request(&self, state: &AppState) -> ApiResult<GenerateRequest> {
        let mut req = match (&self.prompt, &self.messages) {
            (Some(p), None) if self.raw => GenerateRequest::raw(p.clone()),
            (Some(p), None) => GenerateRequest::chat(p.clone()),
            (None, Some(m)) if !self.raw => GenerateRequest::messages(messages(m)?),
            _ => {
                return Err(ApiError::bad_request(
                    "give prompt (optionally raw) or messages, exactly one",
                ))
            }
        };
        if let Some(s) = &self.system {
            req = req.system(s.clone());
        }
        req.max_tokens = max_tokens(state, self.max_tokens)?;
        if let Some(t) = self.temperature {
            req.sampling.temperature = t;
        }
        if let Some(p) = self.top_p {
            req.sampling.top_p = p;
        }
        if let Some(k) = self.top_k {
            req.sampling.top_k = k;
        }
        req.sampling.seed = self.seed;
        req.stop.clone_from(&self.stop);
        if let Some(t) = &self.tier {
            req.tier = Some(parse_tier(t)?);
        }
        req.provenance.clone_from(&self.provenance);
        req.ttl = self.ttl;
        Ok(req)
    }
}

fn messages(m: &[MessageJson]) -> ApiResult<Vec<ChatMessage>> {
    m.iter()
        .map(|m| ChatMessage::parse(&m.role, m.content.clone()).map_err(ApiError::from))
        .collect()
}

fn max_tokens(state: &AppState, asked: Option<u32>) -> ApiResult<u32> {
    let limit = state.config().max_tokens_limit;
    match asked {
        None => Ok(state.config().default_max_tokens.min(limit)),
        Some(0) => Err(ApiError::bad_request("max_tokens must be ≥ 1")),
        Some(n) if n > limit => Err(ApiError::bad_request(format!(
            "max_tokens {n} is above this server's limit of {limit}"
        ))),
        Some(n) => Ok(n),
    }
}

/// A generation run on a blocking thread: its text pieces, then its signed end.
struct Running {
    tokens: mpsc::UnboundedReceiver<String>,
    done: tokio::task::JoinHandle<bizra::Result<(Served, Envelope)>>,
    /// Stops the generation (its thread holds the registration until it ends).
    cancel: CancelToken,
    /// The generation's number (in events).
    id: u64,
}

/// Starts a generation: served by the gateway on a blocking thread, streamed, signed with the
/// node's current key; its tokens and its end are published on the `inference` topic.
fn start(state: &AppState, gateway: Gateway, request: GenerateRequest) -> ApiResult<Running> {
    if state.is_shutting_down() {
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "shutting_down",
            "the server is shutting down",
        ));
    }
    let guard = state.start_generation();
    let (tx, tokens) = mpsc::unbounded_channel();
    let cancel = guard.cancel.clone();
    let id = guard.id;
    let handle = cancel.clone();
    let publisher = state.clone();
    let st = state.clone();
    let done = tokio::task::spawn_blocking(move || {
        // Registered (shutdown can cancel it) until this thread is done with it.
        let _guard = guard;
        let on_token = Box::new(move |piece: &str| {
            publisher.publish(ServerEvent {
                topic: Topic::Inference,
                event: "token",
                data: json!({"generation": id, "text": piece}),
            });
            let _ = tx.send(piece.to_owned());
        });
        let result = gateway
            .complete_with(&request, &cancel, Some(on_token))
            .and_then(|served| {
                let envelope = gateway.sign(&st.identity(), &request, &served)?;
                Ok((served, envelope))
            });
        match &result {
            Ok((served, envelope)) => {
                let c = served.completion();
                st.metrics().generated(c.prompt_tokens, c.completion_tokens);
                st.publish(ServerEvent {
                    topic: Topic::Inference,
                    event: "completed",
                    data: json!({
                        "generation": id,
                        "envelope_id": envelope.id(),
                        "finish_reason": c.finish_reason.name(),
                        "completion_tokens": c.completion_tokens,
                        "output": c.text,
                    }),
                });
            }
            Err(e) => st.publish(ServerEvent {
                topic: Topic::Inference,
                event: "failed",
                data: json!({"generation": id, "error": e.to_string()}),
            }),
        }
        result
    });
    Ok(Running {
        tokens,
        done,
        cancel: handle,
        id,
    })
}

impl Running {
    /// Waits for the end (the tokens are in the completion).
    async fn finish(self) -> ApiResult<(Served, Envelope)> {
        let Running { done, cancel, .. } = self;
        // A client that goes away cancels its generation.
        let cancel_on_drop = CancelOnDrop(Some(cancel));
        let result = done.await.map_err(join_error)?;
        cancel_on_drop.disarm();
        Ok(result?)
    }
}

/// Cancels a generation when the request handling it is dropped (the client went away).
struct CancelOnDrop(Option<CancelToken>);

impl CancelOnDrop {
    fn disarm(mut self) {
        self.0.take();
    }
}

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        if let Some(c) = &self.0 {
            c.cancel();
        }
    }
}

#[utoipa::path(post, path = "/api/v1/inference/generate", tag = "inference",
    security(("bearer" = [])), request_body = GenerateJson,
    responses(
        (status = 200, description = "The signed output; with `stream: true`, `text/event-stream` of `token` events then one `envelope` event",
            content((GenerateAnswer = "application/json"), (SseEvent = "text/event-stream"))),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub(crate) async fn generate(
    State(state): State<AppState>,
    _auth: Authorized,
    ApiJson(req): ApiJson<GenerateJson>,
) -> ApiResult<Response> {
    let gateway = gateway(&state)?;
    let request = req.request(&state)?;
    let running = start(&state, gateway, request)?;
    if req.stream {
        return Ok(Sse::new(native_stream(running))
            .keep_alive(KeepAlive::default())
            .into_response());
    }
    let (served, envelope) = running.finish().await?;
    Ok(ApiJson(GenerateAnswer {
        envelope: envelope_value(&envelope),
        output: served.completion().text.clone(),
        finish_reason: served.completion().finish_reason.name().to_owned(),
    })
    .into_response())
}

fn native_stream(running: Running) -> impl Stream<Item = Result<Event, Infallible>> {
    async_stream(
        running,
        |piece| {
            Event::default()
                .event("token")
                .json_data(json!({ "text": piece }))
                .unwrap_or_default()
        },
        |result| match result {
            Ok((served, envelope)) => Event::default()
                .event("envelope")
                .json_data(json!({
                    "envelope": envelope_value(&envelope),
                    "output": served.completion().text,
                    "finish_reason": served.completion().finish_reason.name(),
                }))
                .unwrap_or_default(),
            Err(e) => Event::default()
                .event("error")
                .json_data(e.body())
                .unwrap_or_default(),
        },
        None,
    )
}

/// The events of a running generation: one per text piece, then one for its end, then
/// `trailer` if given. Driven by a task of its own; when the client goes away (the stream is
/// dropped), the generation is cancelled.
fn async_stream(
    running: Running,
    token: impl Fn(String) -> Event + Send + 'static,
    end: impl Fn(ApiResult<(Served, Envelope)>) -> Event + Send + 'static,
    trailer: Option<Event>,
) -> impl Stream<Item = Result<Event, Infallible>> {
    let (tx, rx) = mpsc::channel::<Event>(64);
    tokio::spawn(async move {
        let Running {
            mut tokens,
            done,
            cancel,
            ..
        } = running;
        let cancel = CancelOnDrop(Some(cancel));
        while let Some(piece) = tokens.recv().await {
            if tx.send(token(piece)).await.is_err() {
                // The client went away: stop the generation, wait for its thread.
                drop(cancel);
                let _ = done.await;
                return;
            }
        }
        let result = match done.await {
            Ok(r) => r.map_err(ApiError::from),
            Err(e) => Err(join_error(e)),
        };
        cancel.disarm();
        if tx.send(end(result)).await.is_ok() {
            if let Some(t) = trailer {
                let _ = tx.send(t).await;
            }
        }
    });
    use futures_util::StreamExt as _;
    tokio_stream::wrappers::ReceiverStream::new(rx).map(Ok)
}

/// A model of the registry, or one the gateway serves outside it (pinned).
#[derive(Serialize, Deserialize, ToSchema)]
pub struct ModelJson {
    /// Its key (the file name without `.gguf`).
    pub key: String,
    /// `general.name`.
    pub name: String,
    /// Architecture.
    pub architecture: String,
    /// Number of weights.
    pub parameters: u64,
    /// Quantisation.
    pub quantization: String,
    /// Trained context length.
    pub context_length: Option<u64>,
    /// File size, bytes.
    pub file_size: u64,
    /// BLAKE3 of the file, hex.
    pub file_blake3: String,
    /// The tier a model of this size serves.
    pub tier: String,
    /// Whether it is loaded in memory.
    pub loaded: bool,
    /// Whether the gateway holds it for good (the server's configured model): loaded, and not
    /// unloadable.
    pub pinned: bool,
}

/// `GET /inference/models`.
#[derive(Serialize, Deserialize, ToSchema)]
pub struct ModelsJson {
    /// The registry's models and the pinned ones (empty without either).
    pub models: Vec<ModelJson>,
}

fn model_json(key: String, info: bizra::ModelInfo, loaded: bool, pinned: bool) -> ModelJson {
    ModelJson {
        key,
        name: info.name,
        architecture: info.architecture,
        parameters: info.parameters,
        quantization: info.quantization,
        context_length: info.context_length,
        file_size: info.file_size,
        file_blake3: info.file_blake3,
        tier: info.tier.name().to_owned(),
        loaded,
        pinned,
    }
}

/// The key a pinned engine is listed under: its file's name without `.gguf`.
fn pinned_key(info: &bizra::ModelInfo) -> String {
    info.path
        .file_stem()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| info.name.clone())
}

/// The registry's models (a registered model that is pinned, by the same weights, is shown
/// pinned), then the pinned models that are not in the registry.
pub(crate) async fn registry_models(state: &AppState) -> ApiResult<Vec<ModelJson>> {
    let registry = state.registry().cloned();
    let pinned: Vec<bizra::ModelInfo> = state.pinned().iter().map(|e| e.info().clone()).collect();
    tokio::task::spawn_blocking(move || {
        let (entries, loaded) = match registry {
            Some(r) => (r.list()?, r.loaded()?),
            None => (Vec::new(), Vec::new()),
        };
        let is_pinned = |blake3: &str| pinned.iter().any(|p| p.file_blake3 == blake3);
        let mut out: Vec<ModelJson> = entries
            .into_iter()
            .map(|e| {
                let pin = is_pinned(&e.info.file_blake3);
                let loaded = pin || loaded.contains(&e.key);
                model_json(e.key, e.info, loaded, pin)
            })
            .collect();
        for p in pinned {
            if !out.iter().any(|m| m.file_blake3 == p.file_blake3) {
                out.push(model_json(pinned_key(&p), p, true, true));
            }
        }
        Ok::<_, bizra::Error>(out)
    })
    .await
    .map_err(join_error)?
    .map_err(ApiError::from)
}

#[utoipa::path(get, path = "/api/v1/inference/models", tag = "inference",
    responses((status = 200, body = ModelsJson)))]
pub(crate) async fn models(State(state): State<AppState>) -> ApiResult<ApiJson<ModelsJson>> {
    Ok(ApiJson(ModelsJson {
        models: registry_models(&state).await?,
    }))
}

/// A model in memory.
#[derive(Serialize, Deserialize, ToSchema)]
pub struct LoadedModel {
    /// Its key.
    pub key: String,
    /// `general.name`.
    pub name: String,
    /// The tier it serves.
    pub tier: String,
    /// Held by the gateway for good (the configured model): `unload` refuses it.
    pub pinned: bool,
}

/// `GET /inference/models/loaded`.
#[derive(Serialize, Deserialize, ToSchema)]
pub struct LoadedModels {
    /// The models in memory: the registry's loaded ones and the pinned ones.
    pub loaded: Vec<LoadedModel>,
}

#[utoipa::path(get, path = "/api/v1/inference/models/loaded", tag = "inference",
    security(("bearer" = [])),
    responses((status = 200, body = LoadedModels),
              (status = 401, body = ErrorBody),
              (status = 503, description = "`auth_not_configured`", body = ErrorBody)))]
pub(crate) async fn models_loaded(
    State(state): State<AppState>,
    _auth: Authorized,
) -> ApiResult<ApiJson<LoadedModels>> {
    Ok(ApiJson(LoadedModels {
        loaded: registry_models(&state)
            .await?
            .into_iter()
            .filter(|m| m.loaded)
            .map(|m| LoadedModel {
                key: m.key,
                name: m.name,
                tier: m.tier,
                pinned: m.pinned,
            })
            .collect(),
    }))
}

/// `POST /inference/models/unload`.
#[derive(Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UnloadRequest {
    /// The model's key (see `inference/models`).
    pub model: String,
}

/// An unload's outcome.
#[derive(Serialize, Deserialize, ToSchema)]
pub struct Unloaded {
    /// The model's key.
    pub model: String,
    /// True when it was loaded and is now released (its memory is freed once the generations
    /// using it end); false when it was not loaded.
    pub unloaded: bool,
}

#[utoipa::path(post, path = "/api/v1/inference/models/unload", tag = "inference",
    security(("bearer" = [])), request_body = UnloadRequest,
    responses((status = 200, body = Unloaded),
              (status = 401, body = ErrorBody),
              (status = 404, description = "`model_not_found`: neither registered nor loaded", body = ErrorBody),
              (status = 409, description = "`model_pinned`: the gateway holds it (the configured model)", body = ErrorBody),
              (status = 422, body = ErrorBody),
              (status = 503, description = "`auth_not_configured`", body = ErrorBody)))]
pub(crate) async fn models_unload(
    State(state): State<AppState>,
    _auth: Authorized,
    ApiJson(req): ApiJson<UnloadRequest>,
) -> ApiResult<ApiJson<Unloaded>> {
    let model = req.model;
    let Some(m) = registry_models(&state)
        .await?
        .into_iter()
        .find(|m| m.key == model)
    else {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "model_not_found",
            format!("no model {model:?} here (see /api/v1/inference/models)"),
        ));
    };
    if m.pinned {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "model_pinned",
            format!(
                "{model:?} is the server's configured model, held by its gateway; it is \
                 released when the server stops"
            ),
        ));
    }
    let unloaded = match state.registry().cloned() {
        Some(r) => {
            let key = model.clone();
            tokio::task::spawn_blocking(move || r.unload(&key))
                .await
                .map_err(join_error)??
        }
        None => false,
    };
    Ok(ApiJson(Unloaded { model, unloaded }))
}

/// `POST /inference/tier`.
#[derive(Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TierRequest {
    /// The task's prompt.
    pub prompt: String,
    /// The output budget (default 256).
    pub max_tokens: Option<u32>,
    /// A tier to force.
    pub tier: Option<String>,
}

/// A tier decision.
#[derive(Serialize, Deserialize, ToSchema)]
pub struct TierJson {
    /// Estimated complexity (`simple`, `medium`, `complex`, `expert`).
    pub complexity: String,
    /// The tier chosen (`edge`, `local`, `pool`).
    pub tier: String,
    /// Whether it was forced.
    pub forced: bool,
    /// Why.
    pub reason: String,
}

#[utoipa::path(post, path = "/api/v1/inference/tier", tag = "inference", request_body = TierRequest,
    responses((status = 200, body = TierJson), (status = 400, body = ErrorBody)))]
pub(crate) async fn tier(ApiJson(req): ApiJson<TierRequest>) -> ApiResult<ApiJson<TierJson>> {
    let forced = req.tier.as_deref().map(parse_tier).transpose()?;
    let d = bizra::select_tier(&req.prompt, req.max_tokens.unwrap_or(256), forced);
    Ok(ApiJson(TierJson {
        complexity: d.complexity.name().to_owned(),
        tier: d.tier.name().to_owned(),
        forced: d.forced,
        reason: d.reason,
    }))
}

// ---------------------------------------------------------------------------------------------
// OpenAI-compatible

/// A message's content: text, or an array of parts of which the `text` ones are read.
#[derive(Deserialize, ToSchema)]
#[serde(untagged)]
pub enum OpenAiContent {
    /// Text.
    Text(String),
    /// Content parts (`{"type": "text", "text": ...}`).
    Parts(Vec<OpenAiPart>),
}

/// A content part.
#[derive(Deserialize, ToSchema)]
pub struct OpenAiPart {
    /// `text` (other kinds are refused).
    #[serde(rename = "type")]
    pub kind: String,
    /// The text.
    pub text: Option<String>,
}

/// An OpenAI chat message.
#[derive(Deserialize, ToSchema)]
pub struct OpenAiMessage {
    /// `system`, `developer` (read as system), `user` or `assistant`.
    pub role: String,
    /// What is said.
    pub content: OpenAiContent,
}

/// `stop`: one string or several.
#[derive(Deserialize, ToSchema)]
#[serde(untagged)]
pub enum OpenAiStop {
    /// One stop string.
    One(String),
    /// Several.
    Many(Vec<String>),
}

/// `POST /v1/chat/completions` (the members bizra reads; others are accepted and ignored, as
/// OpenAI clients send many).
#[derive(Deserialize, ToSchema)]
pub struct ChatCompletionRequest {
    /// `bizra` or `auto` (the gateway decides the tier), a tier name (`edge`, `local`,
    /// `pool`), or a registry model key (its tier).
    pub model: Option<String>,
    /// The conversation.
    pub messages: Vec<OpenAiMessage>,
    /// Most tokens to generate.
    pub max_tokens: Option<u32>,
    /// Most tokens to generate (the newer name).
    pub max_completion_tokens: Option<u32>,
    /// Temperature (0: greedy).
    pub temperature: Option<f32>,
    /// Nucleus sampling.
    pub top_p: Option<f32>,
    /// RNG seed.
    pub seed: Option<u32>,
    /// Stop strings.
    pub stop: Option<OpenAiStop>,
    /// Stream `chat.completion.chunk`s (Server-Sent Events), ending with `data: [DONE]`.
    #[serde(default)]
    pub stream: bool,
}

/// `usage`.
#[derive(Serialize, Deserialize, ToSchema)]
pub struct Usage {
    /// Prompt tokens.
    pub prompt_tokens: u32,
    /// Generated tokens.
    pub completion_tokens: u32,
    /// Both.
    pub total_tokens: u32,
}

/// The assistant's message.
#[derive(Serialize, Deserialize, ToSchema)]
pub struct AssistantMessage {
    /// `assistant`.
    pub role: String,
    /// The answer.
    pub content: String,
}

/// A choice.
#[derive(Serialize, Deserialize, ToSchema)]
pub struct Choice {
    /// 0.
    pub index: u32,
    /// The answer.
    pub message: AssistantMessage,
    /// `stop` or `length`.
    pub finish_reason: String,
}

/// A `chat.completion`, with the signed envelope in `bizra_envelope`.
#[derive(Serialize, Deserialize, ToSchema)]
pub struct ChatCompletion {
    /// `chatcmpl-<envelope id>`.
    pub id: String,
    /// `chat.completion`.
    pub object: String,
    /// Unix seconds.
    pub created: u64,
    /// The model that served.
    pub model: String,
    /// One choice.
    pub choices: Vec<Choice>,
    /// Token counts.
    pub usage: Usage,
    /// The signed PCI envelope of the output (payload type `bizra.inference`, whose `output`
    /// is the message's content): verify it with `/api/v1/pci/envelope/verify` or any bizra
    /// binding.
    #[schema(value_type = Object)]
    pub bizra_envelope: Value,
}

fn finish_reason(c: &Completion) -> &'static str {
    match c.finish_reason {
        FinishReason::Length => "length",
        FinishReason::Eos | FinishReason::Stop | FinishReason::Cancelled => "stop",
    }
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The model name of a signed output (what served).
fn served_model(envelope: &Envelope) -> String {
    envelope
        .payload()
        .pointer("/model/name")
        .and_then(Value::as_str)
        .unwrap_or("bizra")
        .to_owned()
}

impl ChatCompletionRequest {
    async fn request(&self, state: &AppState) -> ApiResult<GenerateRequest> {
        let mut msgs = Vec::with_capacity(self.messages.len());
        for m in &self.messages {
            let role = if m.role == "developer" {
                "system"
            } else {
                m.role.as_str()
            };
            let content = match &m.content {
                OpenAiContent::Text(t) => t.clone(),
                OpenAiContent::Parts(parts) => {
                    let mut text = String::new();
                    for p in parts {
                        match (p.kind.as_str(), &p.text) {
                            ("text", Some(t)) => text.push_str(t),
                            (kind, _) => {
                                return Err(ApiError::bad_request(format!(
                                    "content parts of type {kind:?} are not supported (text only)"
                                )))
                            }
                        }
                    }
                    text
                }
            };
            msgs.push(ChatMessage::parse(role, content)?);
        }
        if msgs.is_empty() {
            return Err(ApiError::bad_request("messages must not be empty"));
        }
        let mut req = GenerateRequest::messages(msgs);
        req.max_tokens = max_tokens(state, self.max_completion_tokens.or(self.max_tokens))?;
        if let Some(t) = self.temperature {
            req.sampling.temperature = t;
        }
        if let Some(p) = self.top_p {
            req.sampling.top_p = p;
        }
        req.sampling.seed = self.seed;
        req.stop = match &self.stop {
            None => Vec::new(),
            Some(OpenAiStop::One(s)) => vec![s.clone()],
            Some(OpenAiStop::Many(v)) => v.clone(),
        };
        req.tier = self.tier(state).await?;
        Ok(req)
    }

    /// The tier the `model` member asks for.
    async fn tier(&self, state: &AppState) -> ApiResult<Option<ModelTier>> {
        let model = self.model.as_deref().unwrap_or("bizra");
        if model.is_empty() || model == "bizra" || model == "auto" {
            return Ok(None);
        }
        if let Some(t) = ModelTier::from_name(model) {
            return Ok(Some(t));
        }
        let found = registry_models(state)
            .await?
            .into_iter()
            .find(|m| m.key == model);
        match found {
            Some(m) => Ok(ModelTier::from_name(&m.tier)),
            None => Err(ApiError::new(
                StatusCode::NOT_FOUND,
                "model_not_found",
                format!("the model {model:?} does not exist here (see /v1/models)"),
            )),
        }
    }
}

#[utoipa::path(post, path = "/v1/chat/completions", tag = "openai",
    security(("bearer" = [])), request_body = ChatCompletionRequest,
    responses(
        (status = 200, description = "A `chat.completion` with `bizra_envelope`; with `stream: true`, `text/event-stream` of `chat.completion.chunk`s (the last carries `finish_reason` and `bizra_envelope`), then `data: [DONE]`",
            content((ChatCompletion = "application/json"), (SseEvent = "text/event-stream"))),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub(crate) async fn chat_completions(
    State(state): State<AppState>,
    _auth: Authorized,
    ApiJson(req): ApiJson<ChatCompletionRequest>,
) -> ApiResult<Response> {
    let gateway = gateway(&state)?;
    let request = req.request(&state).await?;
    let running = start(&state, gateway, request)?;
    let created = unix_now();
    if req.stream {
        let id = format!("chatcmpl-{}", running.id);
        let model = req.model.clone().unwrap_or_else(|| "bizra".into());
        let first = chunk(
            &id,
            created,
            &model,
            json!({"role": "assistant", "content": ""}),
            None,
        );
        let token_id = id.clone();
        let token_model = model.clone();
        let stream = async_stream(
            running,
            move |piece| {
                Event::default().data(
                    chunk(
                        &token_id,
                        created,
                        &token_model,
                        json!({"content": piece}),
                        None,
                    )
                    .to_string(),
                )
            },
            move |result| match result {
                Ok((served, envelope)) => {
                    let c = served.completion();
                    let mut last = chunk(
                        &id,
                        created,
                        &served_model(&envelope),
                        json!({}),
                        Some(finish_reason(c)),
                    );
                    last["usage"] = json!(usage(c));
                    last[ENVELOPE_FIELD] = envelope_value(&envelope);
                    Event::default().data(last.to_string())
                }
                Err(e) => Event::default().data(json!(e.body()).to_string()),
            },
            Some(Event::default().data("[DONE]")),
        );
        let first = futures_util::stream::once(async move {
            Ok::<_, Infallible>(Event::default().data(first.to_string()))
        });
        use futures_util::StreamExt as _;
        return Ok(Sse::new(first.chain(stream))
            .keep_alive(KeepAlive::default())
            .into_response());
    }
    let (served, envelope) = running.finish().await?;
    let c = served.completion();
    Ok(ApiJson(ChatCompletion {
        id: format!("chatcmpl-{}", envelope.id()),
        object: "chat.completion".into(),
        created,
        model: served_model(&envelope),
        choices: vec![Choice {
            index: 0,
            message: AssistantMessage {
                role: "assistant".into(),
                content: c.text.clone(),
            },
            finish_reason: finish_reason(c).into(),
        }],
        usage: usage(c),
        bizra_envelope: envelope_value(&envelope),
    })
    .into_response())
}

fn usage(c: &Completion) -> Usage {
    Usage {
        prompt_tokens: c.prompt_tokens,
        completion_tokens: c.completion_tokens,
        total_tokens: c.prompt_tokens.saturating_add(c.completion_tokens),
    }
}

fn chunk(id: &str, created: u64, model: &str, delta: Value, finish: Option<&str>) -> Value {
    json!({
        "id": id,
        "object": "chat.completion.chunk",
        "created": created,
        "model": model,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    })
}

/// A model in OpenAI's list.
#[derive(Serialize, Deserialize, ToSchema)]
pub struct OpenAiModel {
    /// The registry key (or `bizra`: the gateway's own choice).
    pub id: String,
    /// `model`.
    pub object: String,
    /// Unix seconds (the server's start).
    pub created: u64,
    /// `bizra`.
    pub owned_by: String,
}

/// `GET /v1/models`.
#[derive(Serialize, Deserialize, ToSchema)]
pub struct OpenAiModels {
    /// `list`.
    pub object: String,
    /// `bizra` (the gateway decides the tier), then the registry's models.
    pub data: Vec<OpenAiModel>,
}

#[utoipa::path(get, path = "/v1/models", tag = "openai",
    responses((status = 200, body = OpenAiModels)))]
pub(crate) async fn openai_models(
    State(state): State<AppState>,
) -> ApiResult<ApiJson<OpenAiModels>> {
    let created = unix_now().saturating_sub(state.uptime().as_secs());
    let model = |id: String| OpenAiModel {
        id,
        object: "model".into(),
        created,
        owned_by: "bizra".into(),
    };
    let mut data = Vec::new();
    if state.gateway().is_some() {
        data.push(model("bizra".into()));
    }
    data.extend(
        registry_models(&state)
            .await?
            .into_iter()
            .map(|m| model(m.key)),
    );
    Ok(ApiJson(OpenAiModels {
        object: "list".into(),
        data,
    }))
}
