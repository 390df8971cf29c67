//! Prometheus metrics (`prometheus-client`), served as text at `/api/v1/metrics`.

use std::sync::Mutex;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use prometheus_client::encoding::text::encode;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

use crate::state::AppState;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct RequestLabels {
    pub route: String,
    pub method: String,
    pub status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct RouteLabels {
    pub route: String,
    pub method: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct TokenLabels {
    /// `prompt` or `completion`.
    pub kind: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct RejectLabels {
    /// The PCI reject code's name.
    pub code: String,
}

fn latency_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.0005, 2.0, 20))
}

/// The server's metrics and their registry.
pub(crate) struct Metrics {
    registry: Mutex<Registry>,
    pub requests: Family<RequestLabels, Counter>,
    pub latency: Family<RouteLabels, Histogram, fn() -> Histogram>,
    pub tokens: Family<TokenLabels, Counter>,
    pub generations: Counter,
    pub refusals: Family<RejectLabels, Counter>,
    pub members: Gauge,
    pub height: Gauge,
    pub ws_clients: Gauge,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("bizra");
        let requests = Family::<RequestLabels, Counter>::default();
        let latency: Family<RouteLabels, Histogram, fn() -> Histogram> =
            Family::new_with_constructor(latency_histogram);
        let tokens = Family::<TokenLabels, Counter>::default();
        let generations = Counter::default();
        let refusals = Family::<RejectLabels, Counter>::default();
        let members = Gauge::default();
        let height = Gauge::default();
        let ws_clients = Gauge::default();
        registry.register(
            "http_requests",
            "HTTP requests answered, by route, method and status",
            requests.clone(),
        );
        registry.register(
            "http_request_duration_seconds",
            "Time to answer an HTTP request (until its response starts), by route and method",
            latency.clone(),
        );
        registry.register(
            "inference_tokens",
            "Tokens processed by generations served through the API, by kind (prompt, completion)",
            tokens.clone(),
        );
        registry.register(
            "inference_generations",
            "Generations completed and signed through the API",
            generations.clone(),
        );
        registry.register(
            "gate_refusals",
            "Envelopes refused by the gate chain through the API, by PCI reject code",
            refusals.clone(),
        );
        registry.register(
            "federation_members",
            "Members of the federation this node sees alive or suspect, itself included (0 without a node)",
            members.clone(),
        );
        registry.register(
            "consensus_height",
            "The highest height this node decided (0 without consensus)",
            height.clone(),
        );
        registry.register(
            "websocket_clients",
            "WebSocket clients connected to /api/v1/ws",
            ws_clients.clone(),
        );
        for kind in ["prompt", "completion"] {
            tokens
                .get_or_create(&TokenLabels { kind: kind.into() })
                .inc_by(0);
        }
        Self {
            registry: Mutex::new(registry),
            requests,
            latency,
            tokens,
            generations,
            refusals,
            members,
            height,
            ws_clients,
        }
    }

    /// Counts a refusal by the gate chain.
    pub fn refused(&self, code: Option<bizra::RejectCode>) {
        let code = code.map_or("UNKNOWN", |c| c.name()).to_owned();
        self.refusals.get_or_create(&RejectLabels { code }).inc();
    }

    /// Counts the tokens of a completed generation.
    pub fn generated(&self, prompt_tokens: u32, completion_tokens: u32) {
        self.generations.inc();
        self.tokens
            .get_or_create(&TokenLabels {
                kind: "prompt".into(),
            })
            .inc_by(u64::from(prompt_tokens));
        self.tokens
            .get_or_create(&TokenLabels {
                kind: "completion".into(),
            })
            .inc_by(u64::from(completion_tokens));
    }

    /// The text exposition format.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        let registry = self.registry.lock().unwrap_or_else(|p| p.into_inner());
        // Writing to a String cannot fail.
        let _ = encode(&mut out, &registry);
        out
    }
}

/// Middleware: counts every request and its latency under its route's pattern (never the raw
/// path, so ids in paths cannot blow up the label set).
pub(crate) async fn track(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let method = request.method().as_str().to_owned();
    let start = Instant::now();
    let response = next.run(request).await;
    let metrics = state.metrics();
    metrics
        .latency
        .get_or_create(&RouteLabels {
            route: route.clone(),
            method: method.clone(),
        })
        .observe(start.elapsed().as_secs_f64());
    metrics
        .requests
        .get_or_create(&RequestLabels {
            route,
            method,
            status: response.status().as_u16(),
        })
        .inc();
    response
}
