//! bizra's HTTP/WebSocket API, as a library: what `bizra serve` runs, and what an application
//! mounts into its own axum app.
//!
//! ```no_run
//! use std::sync::Arc;
//! use bizra::{GateChain, Identity};
//! use bizra_server::{AppState, ServerConfig};
//!
//! # async fn run() -> std::io::Result<()> {
//! let config = ServerConfig {
//!     token: Some("a long random secret".into()),
//!     ..ServerConfig::default()
//! };
//! let listener = tokio::net::TcpListener::bind(config.bind).await?;
//! let state = AppState::builder(Identity::generate())
//!     .config(config)
//!     .key_file("/home/me/.bizra/node.key", Some("passphrase".into()))
//!     .gates(Arc::new(GateChain::default()))
//!     // .gateway(gateway).registry(registry).node(node)
//!     .build();
//! bizra_server::serve(listener, state, async {
//!     let _ = tokio::signal::ctrl_c().await;
//! })
//! .await
//! # }
//! ```
//!
//! Or mount [`router`] (its paths: `/api/v1/...`, `/v1/...`, and the status page at `/` unless
//! [`ServerConfig::status_page`] is false) into another app:
//! `app.merge(bizra_server::router(state))`. Rate limits then key on the client's IP only if
//! the app is served with `into_make_service_with_connect_info::<SocketAddr>()`.
//!
//! Every failure answers `{"error": {"code", "message", "reject_code"?, "reject_number"?,
//! "details"?}}` (see `README.md` beside this crate for the codes).

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod api;
mod config;
mod error;
mod events;
mod federation;
mod guard;
mod inference;
mod metrics;
mod openapi;
mod page;
mod state;
mod ws;

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderName, HeaderValue, Method, StatusCode};
use axum::routing::{get, post};
use axum::Router;
use tower_http::compression::CompressionLayer;
use tower_http::cors::{AllowOrigin, Any, CorsLayer};
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

pub use api::{
    ComplianceJson, ComplianceRequest, ConstitutionJson, CreateEnvelope, EnvelopeAnswer,
    EnvelopeRequest, EnvelopeVerified, GateReportJson, GateResultJson, Health, IdentityInfo,
    Rotated, SignRequest, Signed, Status, Verified, VerifyRequest,
};
pub use config::{RateLimit, ServerConfig, DEFAULT_BIND};
pub use error::{ApiError, ErrorBody, ErrorDetail};
pub use events::{ServerEvent, Topic};
pub use inference::ENVELOPE_FIELD;
pub use openapi::openapi_json;
pub use state::{AppState, AppStateBuilder, KeyFile};

/// The API's routes with their layers (CORS, compression, body limit, timeout, rate limit,
/// metrics, tracing, the error shape), over `state`. Paths: `/api/v1/...`, the
/// OpenAI-compatible `/v1/chat/completions` and `/v1/models`, and the status page at `/`
/// (unless [`ServerConfig::status_page`] is false).
pub fn router(state: AppState) -> Router {
    let config = state.config().clone();
    let api = Router::new()
        .route("/health", get(api::health))
        .route("/status", get(api::status))
        .route("/metrics", get(api::metrics))
        .route("/identity/generate", post(api::identity_generate))
        .route("/identity/sign", post(api::identity_sign))
        .route("/identity/verify", post(api::identity_verify))
        .route("/pci/envelope/create", post(api::envelope_create))
        .route("/pci/envelope/verify", post(api::envelope_verify))
        .route("/gates/check", post(api::gates_check))
        .route("/inference/generate", post(inference::generate))
        .route("/inference/models", get(inference::models))
        .route("/inference/models/loaded", get(inference::models_loaded))
        .route("/inference/models/unload", post(inference::models_unload))
        .route("/inference/tier", post(inference::tier))
        .route("/federation/status", get(federation::status))
        .route("/federation/peers", get(federation::peers))
        .route("/federation/propose", post(federation::propose))
        .route("/federation/leave", post(federation::leave))
        .route("/constitution", get(api::constitution))
        .route("/constitution/check", post(api::constitution_check))
        .route("/ws", get(ws::ws))
        .route("/openapi.json", get(openapi::serve_document));
    let openai = Router::new()
        .route("/chat/completions", post(inference::chat_completions))
        .route("/models", get(inference::openai_models));
    let mut app = Router::new();
    if config.status_page {
        app = app.route("/", get(page::page));
    }
    app.nest("/api/v1", api)
        .nest("/v1", openai)
        .fallback(error::not_found)
        .method_not_allowed_fallback(method_not_allowed)
        // Innermost first: metrics see each route's pattern; the limits and the error shape
        // wrap everything (404s and 413s included).
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            metrics::track,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            guard::rate_limit,
        ))
        .layer(DefaultBodyLimit::max(config.body_limit))
        .layer(RequestBodyLimitLayer::new(config.body_limit))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            config.request_timeout,
        ))
        .layer(axum::middleware::from_fn(error::shape_errors))
        .layer(CompressionLayer::new())
        .layer(cors(&config.cors_origins))
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}

async fn method_not_allowed(method: Method, uri: axum::http::Uri) -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        format!("{method} is not allowed on {}", uri.path()),
    )
}

fn cors(origins: &[String]) -> CorsLayer {
    let layer = CorsLayer::new()
        .allow_methods([Method::GET, Method::POST, Method::OPTIONS])
        .allow_headers([
            HeaderName::from_static("authorization"),
            HeaderName::from_static("content-type"),
        ]);
    if origins.iter().any(|o| o == "*") {
        return layer.allow_origin(Any);
    }
    let list: Vec<HeaderValue> = origins
        .iter()
        .filter_map(|o| match HeaderValue::from_str(o) {
            Ok(v) => Some(v),
            Err(_) => {
                tracing::warn!("CORS origin {o:?} is not a valid header value: ignored");
                None
            }
        })
        .collect();
    layer.allow_origin(AllowOrigin::list(list))
}

/// Serves the API on `listener` until `shutdown` completes; then stops accepting connections,
/// lets in-flight requests finish, and cancels the generations still running after the
/// configured grace period (they end as `cancelled`, still signed, so their streams close).
/// WebSocket sessions are closed at once. Returns once every connection has closed.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let grace = state.config().shutdown_grace;
    let app = router(state.clone());
    if let Ok(addr) = listener.local_addr() {
        tracing::info!("bizra API listening on http://{addr}");
    }
    let on_shutdown = state.clone();
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(async move {
        shutdown.await;
        tracing::info!(
            in_flight = on_shutdown.generations_in_flight(),
            "shutting down: finishing in-flight requests"
        );
        on_shutdown.begin_shutdown();
        let cancel = on_shutdown.clone();
        tokio::spawn(async move {
            tokio::time::sleep(grace).await;
            // Repeat: a generation that was queued behind others registers later.
            loop {
                let n = cancel.cancel_generations();
                if n == 0 {
                    break;
                }
                tracing::warn!("grace period over: cancelling {n} generation(s)");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        });
    })
    .await
}
