//! `GET /api/v1/ws`: live events by topic.
//!
//! The client sends `{"subscribe": ["peers", "inference", "consensus", "patterns"]}` (and may
//! later send `{"unsubscribe": [...]}`); the server answers `{"subscribed": [...]}` with the
//! topics now subscribed, then sends each event as `{"topic": ..., "event": ..., "data": ...}`.
//! A client that falls more than 1024 events behind is told `{"lagged": <events missed>}`. The
//! `inference` topic carries other clients' generations: it needs the bearer token, in the
//! upgrade request's `Authorization` header or as `"token"` in the subscribe message (browsers
//! cannot set headers on a WebSocket). Errors come in the error shape.

use std::collections::HashSet;

use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;
use serde_json::json;
use subtle::ConstantTimeEq;
use tokio::sync::broadcast::error::RecvError;

use crate::error::{ApiError, ErrorBody};
use crate::events::Topic;
use crate::guard::Authorized;
use crate::state::AppState;

/// Whether the upgrade request carried the right token (never a refusal: the open topics need
/// none).
pub(crate) struct MaybeAuthorized(bool);

impl FromRequestParts<AppState> for MaybeAuthorized {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        Ok(MaybeAuthorized(
            Authorized::from_request_parts(parts, state).await.is_ok(),
        ))
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ClientMessage {
    #[serde(default)]
    subscribe: Vec<String>,
    #[serde(default)]
    unsubscribe: Vec<String>,
    token: Option<String>,
}

#[utoipa::path(get, path = "/api/v1/ws", tag = "events",
    responses(
        (status = 101, description = "WebSocket: send `{\"subscribe\": [\"peers\", \"inference\", \"consensus\", \"patterns\"]}`, receive `{\"topic\", \"event\", \"data\"}` messages"),
        (status = 400, description = "Not a WebSocket upgrade", body = ErrorBody)))]
pub(crate) async fn ws(
    State(state): State<AppState>,
    MaybeAuthorized(authorized): MaybeAuthorized,
    upgrade: Result<WebSocketUpgrade, axum::extract::ws::rejection::WebSocketUpgradeRejection>,
) -> Result<Response, ApiError> {
    let upgrade = upgrade.map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "websocket_upgrade_required",
            e.to_string(),
        )
    })?;
    Ok(upgrade.on_upgrade(move |socket| session(socket, state, authorized)))
}

fn token_ok(state: &AppState, token: &str) -> bool {
    state
        .config()
        .token
        .as_deref()
        .filter(|t| !t.is_empty())
        .is_some_and(|t| bool::from(t.as_bytes().ct_eq(token.as_bytes())))
}

async fn send_json(socket: &mut WebSocket, v: serde_json::Value) -> bool {
    socket
        .send(Message::Text(v.to_string().into()))
        .await
        .is_ok()
}

async fn session(mut socket: WebSocket, state: AppState, mut authorized: bool) {
    let metrics = state.metrics();
    metrics.ws_clients.inc();
    let mut events = state.subscribe_events();
    let mut shutdown = state.shutdown_signal();
    let mut topics: HashSet<Topic> = HashSet::new();
    loop {
        tokio::select! {
            () = async { let _ = shutdown.wait_for(|s| *s).await; } => break,
            incoming = socket.recv() => {
                let text = match incoming {
                    Some(Ok(Message::Text(t))) => t,
                    Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break,
                    Some(Ok(_)) => continue,
                };
                let reply = handle(&state, &text, &mut topics, &mut authorized);
                if !send_json(&mut socket, reply).await {
                    break;
                }
            }
            event = events.recv() => {
                match event {
                    Ok(e) if topics.contains(&e.topic) => {
                        let v = serde_json::to_value(&e).unwrap_or_default();
                        if !send_json(&mut socket, v).await {
                            break;
                        }
                    }
                    Ok(_) => {}
                    Err(RecvError::Lagged(n)) => {
                        if !send_json(&mut socket, json!({"lagged": n})).await {
                            break;
                        }
                    }
                    Err(RecvError::Closed) => break,
                }
            }
        }
    }
    let _ = socket.send(Message::Close(None)).await;
    state.metrics().ws_clients.dec();
}

/// Applies a client's message; the reply (the topics now subscribed, or an error).
fn handle(
    state: &AppState,
    text: &str,
    topics: &mut HashSet<Topic>,
    authorized: &mut bool,
) -> serde_json::Value {
    let msg: ClientMessage = match serde_json::from_str(text) {
        Ok(m) => m,
        Err(e) => {
            return json!(ApiError::new(
                StatusCode::BAD_REQUEST,
                "invalid_message",
                format!(
                    "expected {{\"subscribe\": [topics]}} or {{\"unsubscribe\": [topics]}}: {e}"
                ),
            )
            .body())
        }
    };
    if let Some(t) = &msg.token {
        if !token_ok(state, t) {
            return json!(
                ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", "wrong token").body()
            );
        }
        *authorized = true;
    }
    let parse = |names: &[String]| -> Result<Vec<Topic>, serde_json::Value> {
        names
            .iter()
            .map(|n| {
                Topic::from_name(n).ok_or_else(|| {
                    json!(ApiError::new(
                        StatusCode::BAD_REQUEST,
                        "unknown_topic",
                        format!(
                            "unknown topic {n:?}: expected peers, inference, consensus or patterns"
                        ),
                    )
                    .body())
                })
            })
            .collect()
    };
    let subscribe = match parse(&msg.subscribe) {
        Ok(t) => t,
        Err(e) => return e,
    };
    let unsubscribe = match parse(&msg.unsubscribe) {
        Ok(t) => t,
        Err(e) => return e,
    };
    if subscribe.contains(&Topic::Inference) && !*authorized {
        let configured = state
            .config()
            .token
            .as_deref()
            .is_some_and(|t| !t.is_empty());
        return json!(if configured {
            ApiError::new(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "the inference topic needs the bearer token (Authorization header, or \"token\")",
            )
        } else {
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "auth_not_configured",
                "the inference topic needs a bearer token, and the server has none configured",
            )
        }
        .body());
    }
    topics.extend(subscribe);
    for t in unsubscribe {
        topics.remove(&t);
    }
    let mut names: Vec<&str> = topics.iter().map(|t| t.name()).collect();
    names.sort_unstable();
    json!({ "subscribed": names })
}
