//! Authentication (bearer token, constant-time, fail-closed) and per-client rate limits.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequestParts, Request, State};
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use governor::clock::{Clock, DefaultClock};
use subtle::ConstantTimeEq;

use crate::error::ApiError;
use crate::state::AppState;

/// Proof that the request carried the configured bearer token. Handlers that sign with the
/// node's key or spend compute take it as an argument, so they cannot run without it.
#[derive(Clone, Copy, Debug)]
pub struct Authorized(());

impl FromRequestParts<AppState> for Authorized {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let Some(expected) = state.config().token.as_deref().filter(|t| !t.is_empty()) else {
            return Err(ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "auth_not_configured",
                "this endpoint needs a bearer token, and the server has none configured: it \
                 refuses every request (set the server's token)",
            ));
        };
        let given = parts
            .headers
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| {
                let (scheme, token) = v.split_once(' ')?;
                scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
            });
        let Some(given) = given else {
            return Err(unauthorized(
                "missing bearer token (Authorization: Bearer <token>)",
            ));
        };
        // Constant time in the content; the length is not secret enough to hide (and ct_eq
        // of unequal lengths is false).
        if bool::from(given.as_bytes().ct_eq(expected.as_bytes())) {
            Ok(Authorized(()))
        } else {
            Err(unauthorized("wrong bearer token"))
        }
    }
}

fn unauthorized(message: &str) -> ApiError {
    ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
}

/// The client's IP: the connection's peer address when the server was started with connect
/// info ([`crate::serve`] does), else one shared key (an application that mounts the router
/// without connect info gets one limit for all its clients).
fn client_ip(request: &Request) -> IpAddr {
    request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |c| c.0.ip())
}

/// Middleware: 429 `rate_limited` with `Retry-After` once a client is over its quota.
pub(crate) async fn rate_limit(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    if let Some(limiter) = state.limiter() {
        let ip = client_ip(&request);
        if let Err(not_until) = limiter.check_key(&ip) {
            let wait = not_until.wait_time_from(DefaultClock::default().now());
            // Round up: a client that waits the whole seconds given is admitted.
            let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
            return ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limited",
                format!("too many requests from {ip}: retry in {seconds} s"),
            )
            .with_retry_after(seconds.max(1))
            .into_response();
        }
        if limiter.len() > 100_000 {
            limiter.retain_recent();
        }
    }
    next.run(request).await
}
