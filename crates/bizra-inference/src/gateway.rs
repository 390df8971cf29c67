//! The [`Gateway`]: one entry point for inference wherever the model runs. Its rules are on
//! the type (this module is private; the type's docs are the ones users read).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex};

use serde_json::{json, Value};

use crate::engine::{Completion, Engine, TokenCallback, TokenStream};
use crate::output::Routed;
use crate::output::{sign_completion, sign_remote};
use crate::registry::ModelRegistry;
use crate::remote::{RemoteClient, RemoteCompletion};
use crate::{CancelToken, GenerateRequest, ModelInfo, Prompt};
use bizra_protocol::hash::to_hex;
use bizra_protocol::identity::Identity;
use bizra_protocol::tier::{select_tier, ModelTier, TierDecision};
use bizra_protocol::{Envelope, Error, ErrorKind, Result};

/// A step away from a tier that could not serve.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FallbackTaken {
    /// The tier that could not serve.
    pub from: ModelTier,
    /// The tier tried next.
    pub to: ModelTier,
    /// Why `from` could not serve: the error's kind ...
    pub cause: ErrorKind,
    /// ... and its message.
    pub detail: String,
}

/// A pool that was unavailable before another served.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SkippedPool {
    /// Its API root, without credentials.
    pub base_url: String,
    /// Why it could not serve.
    pub detail: String,
}

/// How a request was routed: the decision, and what served it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Route {
    /// The tier decided for the request, and why.
    pub decision: TierDecision,
    /// The tier that served it: the decided one, unless a fallback was taken.
    pub served: ModelTier,
    /// What served it: `embedded` (this node's engine) or a pool's API root.
    pub backend: String,
    /// The fallbacks taken, in order.
    pub fallbacks: Vec<FallbackTaken>,
    /// The pools that were unavailable before the one that served.
    pub skipped: Vec<SkippedPool>,
}

impl Route {
    /// The payload's `route` member.
    pub fn to_json(&self) -> Value {
        json!({
            "tier": self.decision.tier.name(),
            "forced": self.decision.forced,
            "complexity": self.decision.complexity.name(),
            "reason": self.decision.reason,
            "served": self.served.name(),
            "backend": self.backend,
            "fallbacks": self.fallbacks.iter().map(|f| json!({
                "from": f.from.name(),
                "to": f.to.name(),
                "cause": f.cause.name(),
                "detail": f.detail,
            })).collect::<Vec<_>>(),
            "skipped": self.skipped.iter().map(|s| json!({
                "backend": s.base_url,
                "detail": s.detail,
            })).collect::<Vec<_>>(),
        })
    }
}

/// A completion and what produced it, for its signature.
#[derive(Clone, Debug)]
enum Producer {
    Engine {
        info: Box<ModelInfo>,
        completion: Completion,
    },
    Pool {
        base_url: String,
        remote: Box<RemoteCompletion>,
    },
}

/// The unsigned result of a request through the gateway: the completion and its route.
#[derive(Clone, Debug)]
pub struct Served {
    route: Route,
    producer: Producer,
    shaping: Option<Shaping>,
}

impl Served {
    /// How the request was routed.
    pub fn route(&self) -> &Route {
        &self.route
    }

    /// The completion.
    pub fn completion(&self) -> &Completion {
        match &self.producer {
            Producer::Engine { completion, .. } => completion,
            Producer::Pool { remote, .. } => &remote.completion,
        }
    }

    /// What only a remote pool tells (the model it reports, its timings), when a pool served.
    pub fn remote(&self) -> Option<&RemoteCompletion> {
        match &self.producer {
            Producer::Pool { remote, .. } => Some(remote),
            Producer::Engine { .. } => None,
        }
    }
}

/// Shapes the system message of the chat requests a [`Gateway`] serves (see its rules).
pub trait SystemPromptShaper: Send + Sync {
    /// The system message to send instead of `system` (the request's own, if any), with what was
    /// applied; `None` leaves the request as it is. An error fails the request (fail-closed: an
    /// output is never signed as shaped when it was not, nor served unshaped when it should be).
    fn shape(&self, system: Option<&str>) -> Result<Option<ShapedPrompt>>;
}

/// What a [`SystemPromptShaper`] made of a system message.
#[derive(Clone, Debug, PartialEq)]
pub struct ShapedPrompt {
    /// The system message the model receives.
    pub system: String,
    /// What was applied, as signed in the payload (`params.system_prompt.applied`).
    pub applied: Value,
}

/// A request's shaping, as signed.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Shaping {
    /// The request as served (its system message shaped).
    request: GenerateRequest,
    /// `params.system_prompt`.
    pub(crate) signed: Value,
}

/// The shaper a gateway was given (its `Debug` says only that there is one).
#[derive(Clone)]
struct Shaper(Arc<dyn SystemPromptShaper>);

impl std::fmt::Debug for Shaper {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SystemPromptShaper")
    }
}

/// Builds a [`Gateway`].
#[derive(Debug, Default)]
pub struct GatewayBuilder {
    engines: BTreeMap<ModelTier, Engine>,
    registry: Option<Arc<ModelRegistry>>,
    pools: Vec<RemoteClient>,
    fallbacks: BTreeMap<ModelTier, ModelTier>,
    shaper: Option<Shaper>,
    bad: Option<String>,
}

impl GatewayBuilder {
    /// Serves the tier of the engine's model (by its size, [`crate::tier_for_parameters`]) with
    /// it.
    pub fn engine(self, engine: Engine) -> Self {
        let tier = engine.info().tier;
        self.engine_for(tier, engine)
    }

    /// Serves `tier` with `engine`, whatever the model's size (a small model may serve Local on
    /// a machine that has no bigger one). Pool is served by pools only.
    pub fn engine_for(mut self, tier: ModelTier, engine: Engine) -> Self {
        if tier == ModelTier::Pool {
            self.bad.get_or_insert_with(|| {
                "the pool tier is served by remote pools (GatewayBuilder::pool), not an engine"
                    .into()
            });
        } else {
            self.engines.insert(tier, engine);
        }
        self
    }

    /// Serves Edge and Local, where no engine was given for them, from the registry's models
    /// (loaded when first needed). Give an `Arc` to keep managing the registry meanwhile.
    pub fn registry(mut self, registry: impl Into<Arc<ModelRegistry>>) -> Self {
        self.registry = Some(registry.into());
        self
    }

    /// Adds a remote pool to the Pool tier; pools are tried in the order given.
    pub fn pool(mut self, pool: RemoteClient) -> Self {
        self.pools.push(pool);
        self
    }

    /// When `from` cannot serve (see [`Gateway`]'s rules), serves from `to` instead, and records
    /// it. One rule per tier; rules chain (Pool → Local → Edge), each tier tried at most once.
    pub fn fallback(mut self, from: ModelTier, to: ModelTier) -> Self {
        if from == to {
            self.bad.get_or_insert_with(|| {
                format!("a fallback from the {from} tier to itself would never serve")
            });
        } else if let Some(prev) = self.fallbacks.insert(from, to) {
            if prev != to {
                self.bad.get_or_insert_with(|| {
                    format!("two fallbacks from the {from} tier ({prev} and {to}); give one")
                });
            }
        }
        self
    }

    /// Shapes the system message of every chat request (see [`Gateway`]'s rules).
    pub fn system_prompt(mut self, shaper: Arc<dyn SystemPromptShaper>) -> Self {
        self.shaper = Some(Shaper(shaper));
        self
    }

    /// The gateway, or [`Error::InvalidInput`] naming what was wrong with the configuration.
    pub fn build(self) -> Result<Gateway> {
        if let Some(bad) = self.bad {
            return Err(Error::InvalidInput(bad));
        }
        Ok(Gateway {
            inner: Arc::new(Inner {
                engines: self.engines,
                registry: self.registry,
                pools: self.pools,
                fallbacks: self.fallbacks,
                shaper: self.shaper,
            }),
        })
    }
}

#[derive(Debug)]
struct Inner {
    engines: BTreeMap<ModelTier, Engine>,
    registry: Option<Arc<ModelRegistry>>,
    pools: Vec<RemoteClient>,
    fallbacks: BTreeMap<ModelTier, ModelTier>,
    shaper: Option<Shaper>,
}

/// One entry point for inference wherever the model runs: the [`Gateway`] decides a request's
/// tier from its task complexity (or takes the tier the request forces), serves it from a
/// backend of that tier (an embedded [`Engine`] for Edge and Local, remote pools for Pool), takes
/// the fallbacks it was configured with when that tier cannot serve, and signs into the output
/// how the request was routed, so that no downgrade is ever silent.
///
/// ```no_run
/// use bizra_inference::{Engine, EngineOptions, Gateway, GenerateRequest, RemoteClient, RemoteOptions};
/// use bizra_protocol::{Identity, ModelTier};
///
/// let edge = Engine::load("SmolLM2-135M-Instruct.Q4_1.gguf", EngineOptions::default())?;
/// let gateway = Gateway::builder()
///     .engine(edge.clone())
///     .engine_for(ModelTier::Local, edge)
///     .pool(RemoteClient::connect(RemoteOptions::new("http://10.0.0.7:8000/v1"))?)
///     .fallback(ModelTier::Pool, ModelTier::Local) // recorded in the payload when taken
///     .build()?;
/// let id = Identity::generate();
/// let envelope = gateway.generate(&id, &GenerateRequest::chat("What is 2 + 2?"))?;
/// println!("{}", envelope.payload()["route"]);
/// # Ok::<(), bizra_protocol::Error>(())
/// ```
///
/// The rules, which the payload's `route` member records:
/// - The tier is the request's ([`GenerateRequest::tier`]), else [`select_tier`]'s estimate.
/// - Edge and Local are served by the engine given for the tier ([`GatewayBuilder::engine_for`],
///   or [`GatewayBuilder::engine`] at the model's own tier), else by the registry's
///   ([`ModelRegistry::engine_for_tier`]). Pool is served by the pools in the order they were
///   given: the first that serves wins, and each one that was unavailable (or busy: its client
///   runs [`crate::RemoteOptions::max_in_flight`] requests already) before it is recorded under
///   `skipped`.
/// - A tier that cannot serve, because it has no backend ([`ErrorKind::ModelNotFound`],
///   [`ErrorKind::NoRemotePool`]), because every pool was unavailable
///   ([`ErrorKind::RemoteUnavailable`]) or because its engine's queue is full
///   ([`ErrorKind::Busy`], a load to shed as a pool's 429 is), falls back to the tier its rule names, if it has one,
///   and the step is recorded under `fallbacks` with its cause. Nothing falls back by default.
/// - Nothing else falls back: not a refusal by a pool ([`ErrorKind::RemoteRefused`]: a wrong key
///   or model is a configuration to fix, not a load to shed), not an invalid request, not a
///   cancelled one, and not a generation that already streamed text to the caller (its output
///   would be two models' words).
/// - With a [`SystemPromptShaper`] ([`GatewayBuilder::system_prompt`]; the node's active
///   preferences, for one), every chat request's system message is replaced by the shaped one
///   before any tier serves it (a conversation without one gets it first; raw prompts have no
///   system message and are left alone). The signed payload's `params` then carry
///   `system_prompt`: `{"applied": <what the shaper says it applied>, "blake3": <BLAKE3 of the
///   system message the model received>}`, so a verifier sees that the output was shaped, by
///   what, and can check the text it expects. Unshaped requests sign exactly as before.
///
/// `Send + Sync` and cheap to clone; the same request/streaming/cancel API as [`Engine`] and
/// [`RemoteClient`].
#[derive(Clone, Debug)]
pub struct Gateway {
    inner: Arc<Inner>,
}

/// The caller's token callback, shared by the attempts of one request, with whether it was
/// called (after which no fallback may be taken).
struct Tokens {
    callback: Option<Arc<Mutex<TokenCallback>>>,
    delivered: Arc<AtomicBool>,
}

impl Tokens {
    fn new(on_token: Option<TokenCallback>) -> Self {
        Self {
            callback: on_token.map(|c| Arc::new(Mutex::new(c))),
            delivered: Arc::new(AtomicBool::new(false)),
        }
    }

    /// A callback for one attempt, forwarding to the caller's.
    fn attempt(&self) -> Option<TokenCallback> {
        let callback = Arc::clone(self.callback.as_ref()?);
        let delivered = Arc::clone(&self.delivered);
        Some(Box::new(move |piece: &str| {
            delivered.store(true, Ordering::Release);
            if let Ok(mut c) = callback.lock() {
                c(piece);
            }
        }))
    }

    fn delivered(&self) -> bool {
        self.delivered.load(Ordering::Acquire)
    }
}

/// Whether a tier that failed with `e` may fall back.
fn may_fall_back(e: &Error) -> bool {
    matches!(
        e.kind(),
        ErrorKind::ModelNotFound
            | ErrorKind::NoRemotePool
            | ErrorKind::RemoteUnavailable
            | ErrorKind::Busy
    )
}

impl Gateway {
    /// A builder; a gateway with nothing configured serves nothing.
    pub fn builder() -> GatewayBuilder {
        GatewayBuilder::default()
    }

    /// The remote pools, in the order they are tried (to probe their [`RemoteClient::health`]).
    pub fn pools(&self) -> &[RemoteClient] {
        &self.inner.pools
    }

    /// The tier decided for `request`, without serving it.
    pub fn decide(&self, request: &GenerateRequest) -> TierDecision {
        select_tier(request.prompt_text(), request.max_tokens, request.tier)
    }

    /// Serves a request (unsigned): routed, with the fallbacks configured, streamed to
    /// `on_token` when given (on the serving backend's thread). Blocks until the end; `cancel`
    /// may be triggered from any thread.
    pub fn complete_with(
        &self,
        request: &GenerateRequest,
        cancel: &CancelToken,
        on_token: Option<TokenCallback>,
    ) -> Result<Served> {
        request.validate()?;
        let shaping = self.shape(request)?;
        let request = shaping.as_ref().map_or(request, |s| &s.request);
        let decision = self.decide(request);
        let tokens = Tokens::new(on_token);
        let mut fallbacks = Vec::new();
        let mut tier = decision.tier;
        loop {
            let mut skipped = Vec::new();
            let served = self.serve(tier, request, cancel, &tokens, &mut skipped);
            let e = match served {
                Ok(producer) => {
                    let backend = match &producer {
                        Producer::Engine { .. } => "embedded".to_owned(),
                        Producer::Pool { base_url, .. } => base_url.clone(),
                    };
                    let route = Route {
                        decision,
                        served: tier,
                        backend,
                        fallbacks,
                        skipped,
                    };
                    return Ok(Served {
                        route,
                        producer,
                        shaping,
                    });
                }
                Err(e) => e,
            };
            let next = self.inner.fallbacks.get(&tier).copied().filter(|to| {
                to != &decision.tier && !fallbacks.iter().any(|f: &FallbackTaken| f.from == *to)
            });
            match next {
                Some(to) if may_fall_back(&e) && !tokens.delivered() && !cancel.is_cancelled() => {
                    fallbacks.push(FallbackTaken {
                        from: tier,
                        to,
                        cause: e.kind(),
                        detail: e.to_string(),
                    });
                    tier = to;
                }
                _ => return Err(e),
            }
        }
    }

    /// Serves a request (unsigned), without streaming.
    pub fn complete(&self, request: &GenerateRequest) -> Result<Served> {
        self.complete_with(request, &CancelToken::new(), None)
    }

    /// Starts serving a request and returns at once: iterate the [`TokenStream`] for the text
    /// pieces, then call [`TokenStream::finish`] for the [`Served`] completion. Dropping the
    /// stream cancels the generation.
    pub fn stream(&self, request: &GenerateRequest) -> Result<TokenStream<Served>> {
        request.validate()?;
        let cancel = CancelToken::new();
        let (tok_tx, tok_rx) = mpsc::channel::<String>();
        let (done_tx, done) = mpsc::channel();
        let gateway = self.clone();
        let request = request.clone();
        let task_cancel = cancel.clone();
        std::thread::Builder::new()
            .name("bizra-gateway".into())
            .spawn(move || {
                let on_token: TokenCallback = Box::new(move |s: &str| {
                    let _ = tok_tx.send(s.to_owned());
                });
                let _ = done_tx.send(gateway.complete_with(&request, &task_cancel, Some(on_token)));
            })
            .map_err(|e| Error::io("gateway stream thread", e))?;
        Ok(TokenStream::new(tok_rx, done, cancel))
    }

    /// Serves a request and returns the output as an envelope signed by `identity`: the payload
    /// of the backend that served it ([`Engine::generate`], [`RemoteClient::generate`]) with
    /// `tier` the tier that served, and `route` ([`Route::to_json`]): the decided tier, whether
    /// it was forced, the complexity and the reason, the tier and backend that served, the
    /// fallbacks taken with their causes, and the pools skipped.
    pub fn generate(&self, identity: &Identity, request: &GenerateRequest) -> Result<Envelope> {
        self.generate_streaming(identity, request, &CancelToken::new(), None)
    }

    /// [`Gateway::generate`] with streaming and cancellation.
    pub fn generate_streaming(
        &self,
        identity: &Identity,
        request: &GenerateRequest,
        cancel: &CancelToken,
        on_token: Option<TokenCallback>,
    ) -> Result<Envelope> {
        let served = self.complete_with(request, cancel, on_token)?;
        self.sign(identity, request, &served)
    }

    /// Signs a completion this gateway served for `request` (as served: with its system message
    /// shaped, when it was).
    pub fn sign(
        &self,
        identity: &Identity,
        request: &GenerateRequest,
        served: &Served,
    ) -> Result<Envelope> {
        let request = served.shaping.as_ref().map_or(request, |s| &s.request);
        let routed = Some(Routed {
            route: &served.route,
            system_prompt: served.shaping.as_ref().map(|s| &s.signed),
        });
        match &served.producer {
            Producer::Engine { info, completion } => sign_completion(
                identity,
                info,
                served.route.served,
                request,
                completion,
                routed,
            ),
            Producer::Pool { base_url, remote } => {
                sign_remote(identity, base_url, request, remote, routed)
            }
        }
    }

    /// The request with its system message shaped, if there is a shaper and it shapes it.
    fn shape(&self, request: &GenerateRequest) -> Result<Option<Shaping>> {
        let Some(Shaper(shaper)) = &self.inner.shaper else {
            return Ok(None);
        };
        if matches!(request.prompt, Prompt::Raw(_)) {
            return Ok(None);
        }
        let Some(shaped) = shaper.shape(request.prompt.system_message())? else {
            return Ok(None);
        };
        let signed = json!({
            "applied": shaped.applied,
            "blake3": to_hex(blake3::hash(shaped.system.as_bytes()).as_bytes()),
        });
        Ok(Some(Shaping {
            request: request.clone().system(shaped.system),
            signed,
        }))
    }

    /// One tier's attempt.
    fn serve(
        &self,
        tier: ModelTier,
        request: &GenerateRequest,
        cancel: &CancelToken,
        tokens: &Tokens,
        skipped: &mut Vec<SkippedPool>,
    ) -> Result<Producer> {
        if tier == ModelTier::Pool {
            return self.serve_pool(request, cancel, tokens, skipped);
        }
        let engine = match (self.inner.engines.get(&tier), &self.inner.registry) {
            (Some(engine), _) => engine.clone(),
            (None, Some(registry)) => registry.engine_for_tier(tier)?,
            (None, None) => {
                return Err(Error::ModelNotFound(format!(
                    "the gateway has no engine for the {tier} tier (give one, or a registry)"
                )))
            }
        };
        let completion = engine.complete_with(request, cancel, tokens.attempt())?;
        Ok(Producer::Engine {
            info: Box::new(engine.info().clone()),
            completion,
        })
    }

    /// The pools in order: the first that serves; one that is unavailable, or whose client runs
    /// [`crate::RemoteOptions::max_in_flight`] requests already, is skipped while no text has
    /// reached the caller.
    fn serve_pool(
        &self,
        request: &GenerateRequest,
        cancel: &CancelToken,
        tokens: &Tokens,
        skipped: &mut Vec<SkippedPool>,
    ) -> Result<Producer> {
        let mut last = None;
        for pool in &self.inner.pools {
            match pool.complete_with(request, cancel, tokens.attempt()) {
                Ok(remote) => {
                    return Ok(Producer::Pool {
                        base_url: pool.base_url().to_owned(),
                        remote: Box::new(remote),
                    })
                }
                Err(e)
                    if matches!(e.kind(), ErrorKind::RemoteUnavailable | ErrorKind::Busy)
                        && !tokens.delivered()
                        && !cancel.is_cancelled() =>
                {
                    skipped.push(SkippedPool {
                        base_url: pool.base_url().to_owned(),
                        detail: e.to_string(),
                    });
                    last = Some(e);
                }
                Err(e) => return Err(e),
            }
        }
        Err(match (last, skipped.len()) {
            (None, _) => Error::NoRemotePool,
            (Some(e), 1) => e,
            (Some(_), n) => Error::Remote {
                endpoint: pool_list(skipped),
                status: None,
                refused: false,
                detail: format!(
                    "none of the {n} pools could serve: {}",
                    skipped
                        .iter()
                        .map(|s| s.detail.as_str())
                        .collect::<Vec<_>>()
                        .join("; ")
                ),
            },
        })
    }
}

fn pool_list(skipped: &[SkippedPool]) -> String {
    skipped
        .iter()
        .map(|s| s.base_url.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}
