//! Embedded inference: llama.cpp, linked statically, behind a thread-safe [`Engine`]; a
//! [`ModelRegistry`] of GGUF files; a [`RemoteClient`] for the Pool tier's OpenAI-compatible
//! servers, with the engine's request/streaming/cancel API; a [`Gateway`] that routes requests
//! to Edge, Local and Pool with explicit fallbacks; and signed outputs whose scores are measured.
//!
//! ```no_run
//! use bizra_inference::{Engine, EngineOptions, GenerateRequest};
//! use bizra_protocol::{GateChain, Identity};
//!
//! let engine = Engine::load("SmolLM2-135M-Instruct.Q4_1.gguf", EngineOptions::default())?;
//! let id = Identity::generate();
//! let envelope = engine.generate(&id, &GenerateRequest::chat("What is 2 + 2?").max_tokens(16))?;
//! println!("{}", envelope.payload()["output"]);
//! let report = GateChain::default().check(&envelope); // admitted or not by its measured scores
//! # Ok::<(), bizra_protocol::Error>(())
//! ```
//!
//! Why a worker thread per model: llama.cpp contexts are not `Send`, so each loaded model lives
//! on its own thread, which serves a queue of requests in order. The [`Engine`] handle is only a
//! sender to that queue, hence `Send + Sync` and cheap to clone.

mod engine;
mod gateway;
pub mod gguf;
mod output;
mod registry;
mod remote;
mod scoring;
mod slot;
mod template;
mod text;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use serde_json::{json, Value};

pub use engine::{
    backend_description, Completion, Engine, EngineOptions, FinishReason, TokenCallback,
    TokenStream, DEFAULT_MAX_QUEUED, MAX_QUEUED_LIMIT,
};
pub use gateway::{
    FallbackTaken, Gateway, GatewayBuilder, Route, Served, ShapedPrompt, SkippedPool,
    SystemPromptShaper,
};
pub use output::INFERENCE_PAYLOAD_TYPE;
pub use registry::{tier_for_parameters, ModelEntry, ModelRegistry};
pub use remote::{
    ApiKey, Health, RemoteClient, RemoteCompletion, RemoteOptions, API_KEY_VARIABLES,
    MAX_TOP_LOGPROBS,
};
pub use scoring::{
    Dimension, DimensionScore, IhsanInputs, IhsanScore, Source, TokenStats, SNR_FORMULA,
    SNR_FORMULA_TOP_LOGPROBS,
};
pub use template::ChatTemplateUse;

use bizra_protocol::pci::{check_provenance, check_ttl, MAX_TTL_SECONDS};
use bizra_protocol::tier::ModelTier;
use bizra_protocol::{Envelope, Error, Result};

/// What a GGUF model file is, read from its header (no model is loaded to get it).
#[derive(Clone, Debug, PartialEq)]
pub struct ModelInfo {
    /// The file.
    pub path: PathBuf,
    /// `general.name`, or the file stem.
    pub name: String,
    /// `general.architecture` (e.g. `llama`).
    pub architecture: String,
    /// Number of weights.
    pub parameters: u64,
    /// Quantisation (`general.file_type`, else the dominant tensor type), e.g. `Q4_1`.
    pub quantization: String,
    /// `<arch>.context_length`: the context the model was trained for.
    pub context_length: Option<u64>,
    /// `tokenizer.chat_template`, when the file carries one.
    pub chat_template: Option<String>,
    /// File size in bytes.
    pub file_size: u64,
    /// BLAKE3 of the whole file, lowercase hex: the identity of the weights.
    pub file_blake3: String,
    /// The tier a model of this size serves ([`tier_for_parameters`]).
    pub tier: ModelTier,
}

impl ModelInfo {
    /// Reads the header of `path` and hashes the file. Fails with [`Error::Model`] for a
    /// missing, non-GGUF or truncated file.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let h = gguf::read_header(path)?;
        let file_blake3 = hash_file(path)?;
        let file_size = std::fs::metadata(path)
            .map_err(|e| Error::io(path, e))?
            .len();
        let architecture = h
            .str("general.architecture")
            .unwrap_or("unknown")
            .to_owned();
        let name = h
            .str("general.name")
            .map(str::to_owned)
            .or_else(|| path.file_stem().map(|s| s.to_string_lossy().into_owned()))
            .unwrap_or_else(|| "model".into());
        let quantization = h
            .int("general.file_type")
            .and_then(gguf::file_type_name)
            .or(h.dominant_tensor_type)
            .unwrap_or("unknown")
            .to_owned();
        let context_length = h
            .int(&format!("{architecture}.context_length"))
            .and_then(|v| u64::try_from(v).ok());
        Ok(ModelInfo {
            path: path.to_path_buf(),
            name,
            architecture,
            parameters: h.parameters,
            quantization,
            context_length,
            chat_template: h.str("tokenizer.chat_template").map(str::to_owned),
            file_size,
            file_blake3,
            tier: tier_for_parameters(h.parameters),
        })
    }

    /// The `model` member of an inference payload.
    pub fn payload_json(&self) -> Value {
        json!({
            "name": self.name,
            "file_blake3": self.file_blake3,
            "quantization": self.quantization,
            "parameters": self.parameters,
        })
    }
}

/// BLAKE3 of a file's bytes, lowercase hex.
pub(crate) fn hash_file(path: &Path) -> Result<String> {
    let mut hasher = blake3::Hasher::new();
    let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    hasher.update_reader(file).map_err(|e| Error::io(path, e))?;
    Ok(hasher.finalize().to_hex().to_string())
}

/// Lets another thread stop a generation: the worker checks it before every token (and between
/// prompt batches) and ends with [`FinishReason::Cancelled`]. Clones share the flag.
#[derive(Clone, Debug, Default)]
pub struct CancelToken(Arc<AtomicBool>);

impl CancelToken {
    /// A token not yet cancelled.
    pub fn new() -> Self {
        Self::default()
    }

    /// Requests cancellation.
    pub fn cancel(&self) {
        self.0.store(true, Ordering::Release);
    }

    /// Whether cancellation was requested.
    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::Acquire)
    }
}

/// Sampling settings. `temperature == 0` selects greedy decoding (deterministic, and then the
/// other settings but `repeat_penalty` have no effect).
#[derive(Clone, Debug, PartialEq)]
pub struct SamplingParams {
    /// Softmax temperature; 0 = greedy.
    pub temperature: f32,
    /// Keep the k most likely tokens; 0 = off.
    pub top_k: u32,
    /// Nucleus sampling; 1 = off.
    pub top_p: f32,
    /// Drop tokens below `min_p` × p(top token); 0 = off.
    pub min_p: f32,
    /// Penalty for repeating recent tokens; 1 = off.
    pub repeat_penalty: f32,
    /// How many recent tokens the repeat penalty looks at.
    pub repeat_last_n: u32,
    /// RNG seed; `None` draws one, which is then recorded in the output so it can be re-run.
    pub seed: Option<u32>,
}

impl Default for SamplingParams {
    /// llama.cpp's defaults: temperature 0.8, top_k 40, top_p 0.95, min_p 0.05, no repeat penalty.
    fn default() -> Self {
        Self {
            temperature: 0.8,
            top_k: 40,
            top_p: 0.95,
            min_p: 0.05,
            repeat_penalty: 1.0,
            repeat_last_n: 64,
            seed: None,
        }
    }
}

impl SamplingParams {
    /// Greedy decoding.
    pub fn greedy() -> Self {
        Self {
            temperature: 0.0,
            ..Self::default()
        }
    }

    fn validate(&self) -> Result<()> {
        let bad = |what: &str| Err(Error::InvalidInput(what.to_owned()));
        if !(self.temperature.is_finite() && self.temperature >= 0.0) {
            return bad("temperature must be a finite number ≥ 0");
        }
        if !(self.top_p > 0.0 && self.top_p <= 1.0) {
            return bad("top_p must be in (0, 1]");
        }
        if !(0.0..=1.0).contains(&self.min_p) {
            return bad("min_p must be in [0, 1]");
        }
        if !(self.repeat_penalty.is_finite() && self.repeat_penalty > 0.0) {
            return bad("repeat_penalty must be a finite number > 0");
        }
        Ok(())
    }

    pub(crate) fn to_json(&self, seed: u32) -> Value {
        json!({
            "temperature": f64::from(self.temperature),
            "top_k": self.top_k,
            "top_p": f64::from(self.top_p),
            "min_p": f64::from(self.min_p),
            "repeat_penalty": f64::from(self.repeat_penalty),
            "repeat_last_n": self.repeat_last_n,
            "seed": seed,
        })
    }
}

/// Who speaks a [`ChatMessage`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ChatRole {
    /// Instructions to the model (`"system"`).
    System,
    /// The user (`"user"`).
    User,
    /// The model's earlier answers (`"assistant"`).
    Assistant,
}

impl ChatRole {
    /// The role's name, as chat templates and the OpenAI API spell it.
    pub const fn as_str(self) -> &'static str {
        match self {
            ChatRole::System => "system",
            ChatRole::User => "user",
            ChatRole::Assistant => "assistant",
        }
    }
}

impl std::str::FromStr for ChatRole {
    type Err = Error;

    /// `system`, `user` or `assistant`; anything else is [`Error::InvalidInput`].
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "system" => Ok(ChatRole::System),
            "user" => Ok(ChatRole::User),
            "assistant" => Ok(ChatRole::Assistant),
            other => Err(Error::InvalidInput(format!(
                "unknown chat role {other:?}: expected system, user or assistant"
            ))),
        }
    }
}

impl std::fmt::Display for ChatRole {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One turn of a conversation ([`Prompt::Messages`]).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ChatMessage {
    /// Who speaks.
    pub role: ChatRole,
    /// What is said.
    pub content: String,
}

impl ChatMessage {
    /// A message.
    pub fn new(role: ChatRole, content: impl Into<String>) -> Self {
        Self {
            role,
            content: content.into(),
        }
    }

    /// A message whose role is given by name (`system`, `user`, `assistant`); another name is
    /// [`Error::InvalidInput`].
    pub fn parse(role: &str, content: impl Into<String>) -> Result<Self> {
        Ok(Self::new(role.parse()?, content))
    }

    /// A system message.
    pub fn system(content: impl Into<String>) -> Self {
        Self::new(ChatRole::System, content)
    }

    /// A user message.
    pub fn user(content: impl Into<String>) -> Self {
        Self::new(ChatRole::User, content)
    }

    /// An assistant message (an earlier answer of the model).
    pub fn assistant(content: impl Into<String>) -> Self {
        Self::new(ChatRole::Assistant, content)
    }
}

/// What the model is asked.
#[derive(Clone, Debug, PartialEq)]
pub enum Prompt {
    /// Messages rendered with the model's own chat template (generation prompt appended).
    Chat {
        /// An optional system message.
        system: Option<String>,
        /// The user's message.
        user: String,
    },
    /// A whole conversation, rendered with the model's own chat template (generation prompt
    /// appended): system, user and assistant turns in order.
    Messages(Vec<ChatMessage>),
    /// Text given to the model as is (special tokens such as `<|im_start|>` are parsed).
    Raw(String),
}

impl Prompt {
    /// The system message: a [`Prompt::Chat`]'s, a conversation's leading one; `None` without
    /// one, and for a raw prompt.
    pub fn system_message(&self) -> Option<&str> {
        match self {
            Prompt::Chat { system, .. } => system.as_deref(),
            Prompt::Messages(m) => m
                .first()
                .filter(|m| m.role == ChatRole::System)
                .map(|m| m.content.as_str()),
            Prompt::Raw(_) => None,
        }
    }

    /// The messages a chat template renders (`None` for a raw prompt): a [`Prompt::Chat`]'s
    /// system message (if any) and user message, or a conversation's turns.
    pub fn chat_messages(&self) -> Option<Vec<ChatMessage>> {
        match self {
            Prompt::Chat { system, user } => Some(
                system
                    .iter()
                    .map(ChatMessage::system)
                    .chain(std::iter::once(ChatMessage::user(user.as_str())))
                    .collect(),
            ),
            Prompt::Messages(m) => Some(m.clone()),
            Prompt::Raw(_) => None,
        }
    }
}

/// A generation request. Built with [`GenerateRequest::chat`], [`GenerateRequest::messages`] or
/// [`GenerateRequest::raw`] and the setters; the defaults are llama.cpp's sampling defaults and 256
/// tokens.
#[derive(Clone, Debug, PartialEq)]
pub struct GenerateRequest {
    /// The prompt.
    pub prompt: Prompt,
    /// Sampling.
    pub sampling: SamplingParams,
    /// At most this many generated tokens (≥ 1).
    pub max_tokens: u32,
    /// Generation stops before the first occurrence of any of these (not included in the output).
    pub stop: Vec<String>,
    /// The tier to serve the request ([`Gateway`]); `None` estimates it from the prompt with
    /// [`bizra_protocol::select_tier`]. An engine or a remote pool called directly serves it
    /// whatever this says.
    pub tier: Option<ModelTier>,
    /// Ids of the envelopes the request came in: the output's provenance.
    pub provenance: Vec<String>,
    /// Caller-supplied Ihsan dimensions (those the engine cannot measure).
    pub ihsan: IhsanInputs,
    /// Lifetime of the output envelope, in seconds (`None`: the envelope default).
    pub ttl: Option<i64>,
}

impl GenerateRequest {
    /// A chat request: `user`, rendered with the model's chat template.
    pub fn chat(user: impl Into<String>) -> Self {
        Self::new(Prompt::Chat {
            system: None,
            user: user.into(),
        })
    }

    /// A conversation (system, user and assistant turns), rendered with the model's chat
    /// template; the model answers the last turn. It must have at least one message.
    pub fn messages(messages: impl IntoIterator<Item = ChatMessage>) -> Self {
        Self::new(Prompt::Messages(messages.into_iter().collect()))
    }

    /// A raw-text request (no chat template).
    pub fn raw(text: impl Into<String>) -> Self {
        Self::new(Prompt::Raw(text.into()))
    }

    fn new(prompt: Prompt) -> Self {
        Self {
            prompt,
            sampling: SamplingParams::default(),
            max_tokens: 256,
            stop: Vec::new(),
            tier: None,
            provenance: Vec::new(),
            ihsan: IhsanInputs::default(),
            ttl: None,
        }
    }

    /// Sets the system message: a conversation's leading system message is replaced (or one is
    /// put first); ignored for raw requests.
    pub fn system(mut self, system: impl Into<String>) -> Self {
        match &mut self.prompt {
            Prompt::Chat { system: s, .. } => *s = Some(system.into()),
            Prompt::Messages(m) => match m.first_mut() {
                Some(first) if first.role == ChatRole::System => first.content = system.into(),
                _ => m.insert(0, ChatMessage::system(system)),
            },
            Prompt::Raw(_) => {}
        }
        self
    }

    /// Sets all sampling parameters.
    pub fn sampling(mut self, sampling: SamplingParams) -> Self {
        self.sampling = sampling;
        self
    }

    /// Greedy decoding (temperature 0).
    pub fn greedy(mut self) -> Self {
        self.sampling.temperature = 0.0;
        self
    }

    /// Sets the temperature (0 = greedy).
    pub fn temperature(mut self, t: f32) -> Self {
        self.sampling.temperature = t;
        self
    }

    /// Sets the seed.
    pub fn seed(mut self, seed: u32) -> Self {
        self.sampling.seed = Some(seed);
        self
    }

    /// Sets the token budget.
    pub fn max_tokens(mut self, n: u32) -> Self {
        self.max_tokens = n;
        self
    }

    /// Adds a stop string.
    pub fn stop(mut self, s: impl Into<String>) -> Self {
        self.stop.push(s.into());
        self
    }

    /// Forces the tier.
    pub fn tier(mut self, tier: ModelTier) -> Self {
        self.tier = Some(tier);
        self
    }

    /// Records the envelopes this request derives from (their ids become the provenance).
    pub fn derived_from<'a>(mut self, envelopes: impl IntoIterator<Item = &'a Envelope>) -> Self {
        self.provenance
            .extend(envelopes.into_iter().map(|e| e.id().to_owned()));
        self
    }

    /// Supplies Ihsan dimensions the engine cannot measure.
    pub fn ihsan(mut self, inputs: IhsanInputs) -> Self {
        self.ihsan = inputs;
        self
    }

    /// Sets the output envelope's lifetime.
    pub fn ttl(mut self, seconds: i64) -> Self {
        self.ttl = Some(seconds);
        self
    }

    /// The text tier selection looks at: the user message (a conversation's last one, or its
    /// last message when no user speaks), or the raw prompt.
    pub fn prompt_text(&self) -> &str {
        match &self.prompt {
            Prompt::Chat { user, .. } => user,
            Prompt::Messages(m) => m
                .iter()
                .rev()
                .find(|m| m.role == ChatRole::User)
                .or(m.last())
                .map_or("", |m| m.content.as_str()),
            Prompt::Raw(t) => t,
        }
    }

    pub(crate) fn validate(&self) -> Result<()> {
        if self.max_tokens == 0 {
            return Err(Error::InvalidInput("max_tokens must be ≥ 1".into()));
        }
        if matches!(&self.prompt, Prompt::Messages(m) if m.is_empty()) {
            return Err(Error::InvalidInput(
                "a conversation needs at least one message".into(),
            ));
        }
        if self.stop.iter().any(String::is_empty) {
            return Err(Error::InvalidInput(
                "a stop string must not be empty".into(),
            ));
        }
        self.sampling.validate()?;
        self.ihsan.validate()?;
        // The envelope is signed only after generation: refuse what signing would refuse now,
        // before the work is done.
        if let Some(ttl) = self.ttl {
            check_ttl(ttl, MAX_TTL_SECONDS).map_err(Error::InvalidInput)?;
        }
        check_provenance(&self.provenance)
    }
}
