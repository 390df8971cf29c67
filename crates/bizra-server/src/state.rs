//! What the handlers share: the node's identity, gate chain, models, federation node, metrics,
//! events and in-flight generations.

use std::collections::HashMap;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Instant;

use bizra::BuiltinKind;
use bizra::{CancelToken, Engine, GateChain, Gateway, Identity, ModelRegistry, Node};
use governor::clock::DefaultClock;
use governor::state::keyed::DefaultKeyedStateStore;
use governor::{Quota, RateLimiter};
use tokio::sync::{broadcast, watch};
use zeroize::Zeroizing;

use crate::config::ServerConfig;
use crate::events::{self, ServerEvent, EVENT_BACKLOG};
use crate::metrics::Metrics;

pub(crate) type Limiter = RateLimiter<IpAddr, DefaultKeyedStateStore<IpAddr>, DefaultClock>;

/// Where the node's key lives, so that `identity/generate` can rotate it durably.
pub struct KeyFile {
    /// The key file (encrypted PKCS#8 PEM when a passphrase is given).
    pub path: PathBuf,
    /// The passphrase the new key is encrypted under (`None`: a plain PEM file).
    pub passphrase: Option<Zeroizing<String>>,
}

impl std::fmt::Debug for KeyFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyFile")
            .field("path", &self.path)
            .field("encrypted", &self.passphrase.is_some())
            .finish()
    }
}

/// The shared state of the server: cheap to clone (one `Arc`), `Send + Sync`.
///
/// Built with [`AppState::builder`] from the node's [`Identity`]; everything else is optional:
/// without a [`Gateway`] the inference endpoints answer 503 `inference_unavailable`, without a
/// [`Node`] the federation endpoints answer 503 `federation_not_running`, without a
/// [`KeyFile`] `identity/generate` answers 503 `key_file_not_configured`.
#[derive(Clone, Debug)]
pub struct AppState {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    config: ServerConfig,
    identity: RwLock<Arc<Identity>>,
    key_file: Option<KeyFile>,
    rotation: tokio::sync::Mutex<()>,
    gates: Arc<GateChain>,
    signature_gate: GateChain,
    gateway: Option<Gateway>,
    registry: Option<Arc<ModelRegistry>>,
    pinned: Vec<Engine>,
    node: RwLock<Option<Arc<Node>>>,
    left: watch::Sender<bool>,
    started: Instant,
    metrics: Metrics,
    events: broadcast::Sender<ServerEvent>,
    generations: Mutex<HashMap<u64, CancelToken>>,
    next_generation: AtomicU64,
    shutdown: watch::Sender<bool>,
    limiter: Option<Arc<Limiter>>,
    stop_bridges: Arc<AtomicBool>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.stop_bridges.store(true, Ordering::Release);
        // A node dropped for the last time leaves the federation, waiting for its goodbye to be
        // sent; on a thread that drives a tokio runtime that wait would stall the runtime's other
        // tasks: off it then.
        let node = self
            .node
            .get_mut()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        if let Some(node) = node {
            if tokio::runtime::Handle::try_current().is_ok() {
                let _ = std::thread::Builder::new()
                    .name("bizra-server-node-drop".into())
                    .spawn(move || drop(node));
            }
        }
    }
}

/// Builds an [`AppState`].
#[derive(Debug)]
pub struct AppStateBuilder {
    identity: Arc<Identity>,
    config: ServerConfig,
    key_file: Option<KeyFile>,
    gates: Option<Arc<GateChain>>,
    gateway: Option<Gateway>,
    registry: Option<Arc<ModelRegistry>>,
    pinned: Vec<Engine>,
    node: Option<Arc<Node>>,
}

impl AppStateBuilder {
    /// The server's settings (default: [`ServerConfig::default`]).
    pub fn config(mut self, config: ServerConfig) -> Self {
        self.config = config;
        self
    }

    /// The node's key file and its passphrase: `identity/generate` writes the new key there
    /// (atomically, the old one kept beside it as `<name>.<unix-millis>.old`).
    pub fn key_file(mut self, path: impl Into<PathBuf>, passphrase: Option<String>) -> Self {
        self.key_file = Some(KeyFile {
            path: path.into(),
            passphrase: passphrase.map(Zeroizing::new),
        });
        self
    }

    /// The gate chain envelopes are checked with, and whose constitution the server applies
    /// (default: [`GateChain::default`] under the embedded constitution).
    pub fn gates(mut self, gates: Arc<GateChain>) -> Self {
        self.gates = Some(gates);
        self
    }

    /// The gateway that serves generations (native and OpenAI-compatible endpoints).
    pub fn gateway(mut self, gateway: Gateway) -> Self {
        self.gateway = Some(gateway);
        self
    }

    /// The model registry listed by `inference/models` and `/v1/models` (give the gateway the
    /// same one).
    pub fn registry(mut self, registry: Arc<ModelRegistry>) -> Self {
        self.registry = Some(registry);
        self
    }

    /// A model the gateway serves outside the registry (the engine given to
    /// `GatewayBuilder::engine`, a configured model): listed by `inference/models` and
    /// `inference/models/loaded` as loaded and pinned; `inference/models/unload` refuses it
    /// (409 `model_pinned`), since the gateway keeps it. Repeat for several.
    pub fn pinned(mut self, engine: Engine) -> Self {
        self.pinned.push(engine);
        self
    }

    /// The running federation node: its members, consensus and events. Give the state the
    /// only handle (or drop yours) if `federation/leave` is to make it leave: a node leaves
    /// once its last handle is gone.
    pub fn node(mut self, node: Arc<Node>) -> Self {
        self.node = Some(node);
        self
    }

    /// The state; with a node, starts the threads that forward its events to WebSocket
    /// clients (they end with the state, or with the node).
    pub fn build(self) -> AppState {
        let (events, _) = broadcast::channel(EVENT_BACKLOG);
        let stop_bridges = Arc::new(AtomicBool::new(false));
        if let Some(node) = &self.node {
            events::bridge_node(node, &events, &stop_bridges);
        }
        let limiter = self.config.rate_limit.map(|r| {
            let per_second = NonZeroU32::new(r.per_second.max(1)).unwrap_or(NonZeroU32::MIN);
            let burst = NonZeroU32::new(r.burst.max(1)).unwrap_or(NonZeroU32::MIN);
            Arc::new(RateLimiter::keyed(
                Quota::per_second(per_second).allow_burst(burst),
            ))
        });
        let (shutdown, _) = watch::channel(false);
        AppState {
            inner: Arc::new(Inner {
                config: self.config,
                identity: RwLock::new(self.identity),
                key_file: self.key_file,
                rotation: tokio::sync::Mutex::new(()),
                gates: self.gates.unwrap_or_else(|| Arc::new(GateChain::default())),
                signature_gate: {
                    // The signature gate alone (it checks the hash and the signature, nothing
                    // of the constitution's).
                    let mut chain = GateChain::empty(Arc::new(Default::default()));
                    chain.add_builtin(BuiltinKind::Signature);
                    chain
                },
                gateway: self.gateway,
                registry: self.registry,
                pinned: self.pinned,
                node: RwLock::new(self.node),
                left: watch::channel(false).0,
                started: Instant::now(),
                metrics: Metrics::new(),
                events,
                generations: Mutex::new(HashMap::new()),
                next_generation: AtomicU64::new(1),
                shutdown,
                limiter,
                stop_bridges,
            }),
        }
    }
}

/// An in-flight generation, registered so that shutdown can cancel it; unregistered on drop.
pub(crate) struct GenerationGuard {
    state: AppState,
    pub id: u64,
    pub cancel: CancelToken,
}

impl Drop for GenerationGuard {
    fn drop(&mut self) {
        self.state
            .inner
            .generations
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&self.id);
    }
}

impl AppState {
    /// Starts building the state of a node with this identity (an `Identity`, or the
    /// `Arc<Identity>` its federation node was started with).
    pub fn builder(identity: impl Into<Arc<Identity>>) -> AppStateBuilder {
        AppStateBuilder {
            identity: identity.into(),
            config: ServerConfig::default(),
            key_file: None,
            gates: None,
            gateway: None,
            registry: None,
            pinned: Vec::new(),
            node: None,
        }
    }

    /// The settings.
    pub fn config(&self) -> &ServerConfig {
        &self.inner.config
    }

    /// The node's current identity (a rotation swaps it).
    pub fn identity(&self) -> Arc<Identity> {
        self.inner
            .identity
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    pub(crate) fn set_identity(&self, identity: Identity) {
        *self
            .inner
            .identity
            .write()
            .unwrap_or_else(|p| p.into_inner()) = Arc::new(identity);
    }

    pub(crate) fn key_file(&self) -> Option<&KeyFile> {
        self.inner.key_file.as_ref()
    }

    pub(crate) fn rotation_lock(&self) -> &tokio::sync::Mutex<()> {
        &self.inner.rotation
    }

    /// The gate chain.
    pub fn gates(&self) -> &Arc<GateChain> {
        &self.inner.gates
    }

    /// A chain of the signature gate alone, for reports whose chain stopped before it.
    pub(crate) fn signature_gate(&self) -> &GateChain {
        &self.inner.signature_gate
    }

    /// The gateway, if inference is served.
    pub fn gateway(&self) -> Option<&Gateway> {
        self.inner.gateway.as_ref()
    }

    /// The model registry, if one was given.
    pub fn registry(&self) -> Option<&Arc<ModelRegistry>> {
        self.inner.registry.as_ref()
    }

    /// The engines the gateway serves outside the registry ([`AppStateBuilder::pinned`]).
    pub fn pinned(&self) -> &[Engine] {
        &self.inner.pinned
    }

    /// The federation node, if one is attached (`None` after `federation/leave`).
    pub fn node(&self) -> Option<Arc<Node>> {
        self.inner
            .node
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Detaches the federation node from the API and returns its handle: the federation
    /// endpoints answer 503 `federation_not_running` from now on. An application that has
    /// stopped serving takes the node back this way to make it leave where it can wait for the
    /// goodbye (`Node::leave`, off the runtime); otherwise the state's last clone drops it.
    pub fn detach_node(&self) -> Option<Arc<Node>> {
        self.inner
            .node
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .take()
    }

    /// Records that the node left through `federation/leave`, waking [`AppState::federation_left`].
    pub(crate) fn mark_left(&self) {
        self.inner.left.send_replace(true);
    }

    /// Completes once the node has left the federation through `POST /api/v1/federation/leave`
    /// (never, if it does not): an application that should stop then (`bizra join`) waits on it
    /// beside its other shutdown signals.
    pub fn federation_left(&self) -> impl std::future::Future<Output = ()> + Send + 'static {
        let mut left = self.inner.left.subscribe();
        async move {
            // The sender lives as long as the state; if the state goes first, never complete.
            if left.wait_for(|l| *l).await.is_err() {
                std::future::pending::<()>().await;
            }
        }
    }

    /// Time since the state was built.
    pub fn uptime(&self) -> std::time::Duration {
        self.inner.started.elapsed()
    }

    pub(crate) fn metrics(&self) -> &Metrics {
        &self.inner.metrics
    }

    pub(crate) fn limiter(&self) -> Option<&Arc<Limiter>> {
        self.inner.limiter.as_ref()
    }

    /// Publishes an event to WebSocket subscribers.
    pub(crate) fn publish(&self, event: ServerEvent) {
        let _ = self.inner.events.send(event);
    }

    pub(crate) fn subscribe_events(&self) -> broadcast::Receiver<ServerEvent> {
        self.inner.events.subscribe()
    }

    /// A receiver that turns true once shutdown begins.
    pub(crate) fn shutdown_signal(&self) -> watch::Receiver<bool> {
        self.inner.shutdown.subscribe()
    }

    pub(crate) fn is_shutting_down(&self) -> bool {
        *self.inner.shutdown.borrow()
    }

    /// Tells the streams and WebSockets that shutdown has begun.
    pub(crate) fn begin_shutdown(&self) {
        self.inner.shutdown.send_replace(true);
    }

    /// Cancels every in-flight generation (the grace period is over); returns how many.
    pub(crate) fn cancel_generations(&self) -> usize {
        let generations = self
            .inner
            .generations
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        for cancel in generations.values() {
            cancel.cancel();
        }
        generations.len()
    }

    /// In-flight generations.
    pub fn generations_in_flight(&self) -> usize {
        self.inner
            .generations
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .len()
    }

    /// Registers a generation (its cancel token) until the guard is dropped.
    pub(crate) fn start_generation(&self) -> GenerationGuard {
        let id = self.inner.next_generation.fetch_add(1, Ordering::Relaxed);
        let cancel = CancelToken::new();
        self.inner
            .generations
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(id, cancel.clone());
        GenerationGuard {
            state: self.clone(),
            id,
            cancel,
        }
    }

    /// Members alive or suspect, this node included (0 without a node).
    pub(crate) fn membership_size(&self) -> usize {
        self.node().map_or(0, |n| {
            1 + n
                .members()
                .iter()
                .filter(|m| {
                    matches!(
                        m.state,
                        bizra::federation::MemberState::Alive
                            | bizra::federation::MemberState::Suspect
                    )
                })
                .count()
        })
    }
}

/// The file name of a path, for answers that should not reveal the server's directories.
pub(crate) fn file_name(p: &Path) -> String {
    p.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}
