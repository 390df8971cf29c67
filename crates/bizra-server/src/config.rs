//! How the server runs: what `bizra serve` reads from its configuration.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

/// The address `bizra serve` binds unless told otherwise (the seed's port, on loopback).
pub const DEFAULT_BIND: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 3001);

/// Per-client rate limit (GCRA through `governor`, keyed by the client's IP address).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RateLimit {
    /// Requests replenished per second, per client.
    pub per_second: u32,
    /// Requests a client may make at once before being limited.
    pub burst: u32,
}

impl Default for RateLimit {
    /// 20 requests a second with bursts of 60.
    fn default() -> Self {
        Self {
            per_second: 20,
            burst: 60,
        }
    }
}

/// The server's settings.
#[derive(Clone)]
pub struct ServerConfig {
    /// Where `bizra serve` binds (default [`DEFAULT_BIND`], 127.0.0.1:3001). [`crate::serve`]
    /// takes a bound listener; this is for the caller that binds it.
    pub bind: SocketAddr,
    /// The bearer token of the protected endpoints (anything that signs with the node's key or
    /// spends compute). `None`: those endpoints refuse every request (fail closed: 503
    /// `auth_not_configured`); the open ones still answer.
    pub token: Option<String>,
    /// Origins allowed by CORS (`*` allows any; empty: no CORS headers, browsers on other
    /// origins are refused).
    pub cors_origins: Vec<String>,
    /// Largest request body, in bytes (413 `payload_too_large` beyond).
    pub body_limit: usize,
    /// Longest time to answer a request (until the response starts; a stream then runs on).
    /// 408 `timeout` beyond.
    pub request_timeout: Duration,
    /// Per-client rate limit; `None`: unlimited.
    pub rate_limit: Option<RateLimit>,
    /// After shutdown is asked for, how long in-flight generations may run before they are
    /// cancelled (they then end with finish reason `cancelled`, still signed).
    pub shutdown_grace: Duration,
    /// `max_tokens` of a generation that does not say.
    pub default_max_tokens: u32,
    /// Largest `max_tokens` a request may ask for.
    pub max_tokens_limit: u32,
    /// Whether [`crate::router`] serves the status page at `GET /` (default true; false for an
    /// app that mounts the router beside its own `/`).
    pub status_page: bool,
}

impl std::fmt::Debug for ServerConfig {
    /// The token is never printed.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerConfig")
            .field("bind", &self.bind)
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("cors_origins", &self.cors_origins)
            .field("body_limit", &self.body_limit)
            .field("request_timeout", &self.request_timeout)
            .field("rate_limit", &self.rate_limit)
            .field("shutdown_grace", &self.shutdown_grace)
            .field("default_max_tokens", &self.default_max_tokens)
            .field("max_tokens_limit", &self.max_tokens_limit)
            .field("status_page", &self.status_page)
            .finish()
    }
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            bind: DEFAULT_BIND,
            token: None,
            cors_origins: Vec::new(),
            body_limit: 2 << 20,
            request_timeout: Duration::from_secs(300),
            rate_limit: Some(RateLimit::default()),
            shutdown_grace: Duration::from_secs(10),
            default_max_tokens: 256,
            max_tokens_limit: 4096,
            status_page: true,
        }
    }
}
