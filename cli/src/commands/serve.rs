//! `bizra serve`: the HTTP/WebSocket API (`bizra-server`) over this node's key, gate chain,
//! models, and, with `--join` (or from `bizra join`), a federation node.
//!
//! Runs until Ctrl-C or SIGTERM; then stops accepting connections, lets in-flight requests
//! finish (generations get `[server] shutdown_grace_secs`, then are cancelled, still signed), and
//! leaves the federation. `bizra federation leave` (`POST /api/v1/federation/leave`) makes the
//! node leave while the API keeps serving (`serve --join`), or stops the program too (`join`).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use bizra::{
    ConsensusConfig, FederationDocument, Gateway, ModelRegistry, ModelTier, Node, NodeConfig,
};
use bizra_server::{AppState, RateLimit, ServerConfig};
use clap::Args;
use serde_json::json;

use crate::context::Context;
use crate::exit::{CliError, CliResult, Exit};

/// `bizra serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Listen here instead of [server] bind (default 127.0.0.1:3001)
    #[arg(long, value_name = "ADDR")]
    pub bind: Option<SocketAddr>,
    /// Also run a federation node ([federation] settings, or the options below)
    #[arg(long)]
    pub join: bool,
    #[command(flatten)]
    pub node: NodeArgs,
}

/// Where a federation node binds and whom it joins (over `[federation]`).
#[derive(Debug, Args)]
pub struct NodeArgs {
    /// The UDP address of the node's gossip [default: [federation] bind, else 0.0.0.0:7946]
    #[arg(long, value_name = "ADDR")]
    pub gossip_bind: Option<SocketAddr>,
    /// A member to join through, host:port (repeatable; replaces [federation] seeds)
    #[arg(long = "seed", value_name = "HOST:PORT")]
    pub seeds: Vec<String>,
    /// The federation's name [default: [federation] name, else bizra]
    #[arg(long, value_name = "NAME")]
    pub federation: Option<String>,
    /// A federation document (JSON): take part in consensus under it
    #[arg(long, value_name = "FILE")]
    pub document: Option<PathBuf>,
}

/// Runs `bizra serve`.
pub fn run(ctx: &Context, args: ServeArgs) -> CliResult<Exit> {
    let (identity, passphrase) = ctx.unlock()?;
    let identity = Arc::new(identity);
    let node = if args.join {
        Some(Arc::new(start_node(ctx, &args.node, identity.clone())?))
    } else {
        None
    };
    serve(
        ctx,
        args.bind,
        identity,
        passphrase.to_string(),
        node,
        OnLeave::KeepServing,
    )
}

/// What the server does once its node has left the federation through
/// `POST /api/v1/federation/leave` (`bizra federation leave`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OnLeave {
    /// Keep serving the API without a federation (`bizra serve --join`): the federation
    /// endpoints answer 503 `federation_not_running`.
    KeepServing,
    /// Stop gracefully, exit 0 (`bizra join`: the node was the point).
    Stop,
}

/// Serves the API until a shutdown signal, over `node` when there is one.
pub fn serve(
    ctx: &Context,
    bind: Option<SocketAddr>,
    identity: Arc<bizra::Identity>,
    passphrase: String,
    node: Option<Arc<Node>>,
    on_leave: OnLeave,
) -> CliResult<Exit> {
    let config = server_config(ctx, bind)?;
    if config.token.is_none() {
        ctx.out.note(
            "warning: no API token ([server] token_file or BIZRA_SERVER_TOKEN): the endpoints \
             that sign or generate refuse every request",
        );
    }
    let registry = Arc::new(
        ModelRegistry::open(ctx.models_dir())?.with_options(ctx.engine_options(None, None)),
    );
    let mut gateway = Gateway::builder()
        .registry(registry.clone())
        .fallback(ModelTier::Local, ModelTier::Edge);
    let mut pinned = None;
    if let Some(model) = &ctx.config.inference.model {
        let engine = super::inference::load_model(ctx, model, ctx.engine_options(None, None))?;
        tracing::info!(model = %engine.info().name, "model loaded");
        pinned = Some(engine.clone());
        gateway = gateway.engine(engine);
    }
    let mut state = AppState::builder(identity.clone())
        .config(config.clone())
        .key_file(ctx.key_file(), Some(passphrase))
        .gates(Arc::new(ctx.gate_chain()?))
        .gateway(gateway.build()?)
        .registry(registry);
    if let Some(engine) = pinned {
        // Listed as loaded (and not unloadable) by the model endpoints.
        state = state.pinned(engine);
    }
    if let Some(node) = node {
        // The state holds the only handle: `federation/leave` can then make the node leave.
        state = state.node(node);
    }
    let state = state.build();
    let left = state.federation_left();

    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::new(Exit::Internal, format!("starting the runtime: {e}")))?;
    let held = state.clone();
    let served = rt.block_on(async {
        let listener = tokio::net::TcpListener::bind(config.bind)
            .await
            .map_err(|e| CliError::network(format!("listening on {}: {e}", config.bind)))?;
        let addr = listener
            .local_addr()
            .map_err(|e| CliError::network(format!("the listening address: {e}")))?;
        let value = json!({
            "event": "listening",
            "url": format!("http://{addr}"),
            "node_id": identity.node_id(),
        });
        ctx.out
            .line(&value, &format!("bizra API listening on http://{addr}"));
        let out = ctx.out;
        let node_id = identity.node_id().to_owned();
        let shutdown = async move {
            match on_leave {
                OnLeave::Stop => tokio::select! {
                    () = shutdown_signal() => {},
                    () = left => out.line(
                        &json!({"event": "left", "node_id": node_id}),
                        "left the federation (asked through the API): stopping",
                    ),
                },
                OnLeave::KeepServing => shutdown_signal().await,
            }
        };
        bizra_server::serve(listener, state, shutdown)
            .await
            .map_err(|e| CliError::network(format!("serving on {addr}: {e}")))
    });
    // Take the node back from the API and, once the runtime is gone (with the tasks that held
    // the state), leave here: the goodbye is sent before the process ends.
    let node = held.detach_node();
    drop(held);
    drop(rt);
    if let Some(node) = node {
        match Arc::try_unwrap(node) {
            Ok(node) => node.leave(),
            Err(shared) => drop(shared),
        }
    }
    served?;
    ctx.out.note("stopped");
    Ok(Exit::Ok)
}

/// The server's settings: `[server]` over `bizra_server`'s defaults.
fn server_config(ctx: &Context, bind: Option<SocketAddr>) -> CliResult<ServerConfig> {
    let s = &ctx.config.server;
    let defaults = ServerConfig::default();
    let token = ctx.config.server_token(&ctx.data_dir)?;
    let rate_limit = match (s.rate_per_second, s.rate_burst) {
        (Some(0), _) => None,
        (None, None) => defaults.rate_limit,
        (per_second, burst) => {
            let d = RateLimit::default();
            Some(RateLimit {
                per_second: per_second.unwrap_or(d.per_second),
                burst: burst.unwrap_or(d.burst).max(1),
            })
        }
    };
    Ok(ServerConfig {
        bind: match bind {
            Some(b) => b,
            None => ctx.config.server_bind()?,
        },
        token,
        cors_origins: s.cors_origins.clone().unwrap_or_default(),
        body_limit: s.body_limit.map_or(defaults.body_limit, |b| b as usize),
        rate_limit,
        shutdown_grace: s
            .shutdown_grace_secs
            .map_or(defaults.shutdown_grace, |g| Duration::from_secs(g.into())),
        ..defaults
    })
}

/// Starts a federation node: `args` over `[federation]`; the node keeps its boot counter (and,
/// with a document, its consensus log) under `<data dir>/federation`.
pub fn start_node(
    ctx: &Context,
    args: &NodeArgs,
    identity: Arc<bizra::Identity>,
) -> CliResult<Node> {
    let f = &ctx.config.federation;
    let mut config = NodeConfig::default();
    if let Some(b) = args.gossip_bind {
        config.bind = b;
    } else if let Some(b) = &f.bind {
        config.bind = b.parse().map_err(|e| {
            CliError::config(format!("federation.bind {b:?} is not an address ({e})"))
        })?;
    }
    config.seeds = if args.seeds.is_empty() {
        f.seeds.clone().unwrap_or_default()
    } else {
        args.seeds.clone()
    };
    if let Some(name) = args.federation.as_ref().or(f.name.as_ref()) {
        config.federation = name.clone();
    }
    config.data_dir = Some(ctx.data_dir.join("federation"));
    let document = match &args.document {
        Some(d) => Some(d.clone()),
        None => f.document.as_ref().map(|d| ctx.data_dir.join(d)),
    };
    if let Some(path) = document {
        let text = std::fs::read_to_string(&path)
            .map_err(|e| CliError::io(&path, e).context("reading the federation document"))?;
        let document = FederationDocument::from_json(&text).map_err(|e| {
            CliError::config(format!("federation document {}: {e}", path.display()))
        })?;
        if (args.federation.is_some() || f.name.is_some())
            && config.federation != document.federation()
        {
            return Err(CliError::config(format!(
                "the federation is {:?} but the document {} is {:?}",
                config.federation,
                path.display(),
                document.federation()
            )));
        }
        config.federation = document.federation().to_owned();
        config.consensus = Some(ConsensusConfig {
            document: Arc::new(document),
            gates: Arc::new(ctx.gate_chain()?),
        });
    }
    let bind = config.bind;
    Node::start(identity, config)
        .map_err(|e| CliError::network(format!("starting the federation node on {bind}: {e}")))
}

/// Ctrl-C, or SIGTERM on Unix.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
}
