//! `GET /`: the node's status page, one HTML file with its script and styles inline (no build
//! step, nothing fetched from elsewhere). It reads the open endpoints (status, models,
//! federation), follows the `peers` and `consensus` WebSocket topics, and streams a generation
//! with the bearer token the user enters (kept in the tab's `sessionStorage`, never in a URL),
//! then verifies the signed envelope through `/api/v1/pci/envelope/verify`.

use axum::http::header;
use axum::response::{Html, IntoResponse};

/// The page.
pub(crate) const PAGE: &str = include_str!("page.html");

/// Nothing but this origin: inline script and styles (the page's own), fetches and the
/// WebSocket to the node, no frames, no forms posted elsewhere.
const CSP: &str = "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; \
                   connect-src 'self'; img-src data:; base-uri 'none'; form-action 'none'; \
                   frame-ancestors 'none'";

#[utoipa::path(get, path = "/", tag = "system",
    responses((status = 200, description = "The status page (HTML): identity, models, live peers and decisions, a prompt that streams a signed answer and verifies it. Absent when `ServerConfig::status_page` is false", content_type = "text/html", body = String)))]
pub(crate) async fn page() -> impl IntoResponse {
    (
        [
            (header::CONTENT_SECURITY_POLICY, CSP),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (header::REFERRER_POLICY, "no-referrer"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        Html(PAGE),
    )
}
