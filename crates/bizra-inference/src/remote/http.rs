//! Requests to the server: the API key, timeouts, and retries with exponential backoff and
//! jitter on what a retry can cure (no connection, 429, 5xx), never on a refusal (other 4xx).

use std::future::Future;
use std::time::{Duration, Instant};

use reqwest::header::{HeaderValue, AUTHORIZATION, CONTENT_TYPE, RETRY_AFTER};
use reqwest::{Method, Response, StatusCode, Url};
use serde_json::Value;

use super::wire::error_message;
use super::{ApiKey, RemoteOptions};
use crate::CancelToken;

/// How often a waiting request looks at its [`CancelToken`] (an atomic flag, which cannot wake a
/// task): cancellation is seen within this.
const CANCEL_POLL: Duration = Duration::from_millis(10);

/// Why a request failed, before the client makes it an [`bizra_protocol::Error`].
#[derive(Debug)]
pub(crate) enum Failure {
    /// The caller cancelled.
    Cancelled,
    /// The server did not serve it, in words that name the request (never the API key).
    Failed {
        /// The status it answered with, where it answered.
        status: Option<u16>,
        /// Whether it refused the request itself (a 4xx other than 429), rather than being
        /// unavailable ([`bizra_protocol::ErrorKind::RemoteRefused`]).
        refused: bool,
        detail: String,
    },
}

impl Failure {
    /// The server could not serve: a retry, or another server, may.
    pub(crate) fn unavailable(status: Option<u16>, detail: impl Into<String>) -> Self {
        Failure::Failed {
            status,
            refused: false,
            detail: detail.into(),
        }
    }

    /// The server refused the request itself.
    pub(crate) fn refused(status: u16, detail: impl Into<String>) -> Self {
        Failure::Failed {
            status: Some(status),
            refused: true,
            detail: detail.into(),
        }
    }
}

/// The HTTP side of a client: one connection pool, the server's base URL and the key.
#[derive(Debug)]
pub(crate) struct Transport {
    client: reqwest::Client,
    /// The API root, ending in `/v1/`.
    api: Url,
    /// The base URL without credentials, as errors and payloads show it.
    pub(crate) shown: String,
    auth: Option<HeaderValue>,
    key: Option<ApiKey>,
    max_retries: u32,
    initial_backoff: Duration,
    max_backoff: Duration,
    max_retry_after: Duration,
}

/// The API root of a base URL: `http://host:8080` and `http://host:8080/v1` both give
/// `http://host:8080/v1/`; with the credentials a URL may carry removed for display.
pub(crate) fn api_root(base_url: &str) -> Result<(Url, String), String> {
    let mut url = Url::parse(base_url.trim())
        .map_err(|e| format!("the pool URL {base_url:?} is not a URL: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(format!(
            "the pool URL must be http:// or https:// with a host, got a {} URL",
            url.scheme()
        ));
    }
    url.set_query(None);
    url.set_fragment(None);
    let path = url.path().trim_end_matches('/').to_owned();
    let path = if path.ends_with("/v1") {
        format!("{path}/")
    } else {
        format!("{path}/v1/")
    };
    url.set_path(&path);
    let mut shown = url.clone();
    // Both cannot fail on an http(s) URL with a host.
    let _ = shown.set_username("");
    let _ = shown.set_password(None);
    let shown = shown.as_str().trim_end_matches('/').to_owned();
    Ok((url, shown))
}

impl Transport {
    pub(crate) fn new(options: &RemoteOptions, key: Option<ApiKey>) -> Result<Self, String> {
        let (api, shown) = api_root(&options.base_url)?;
        let auth = match &key {
            Some(k) => {
                let mut v = HeaderValue::from_str(&format!("Bearer {}", k.expose()))
                    .map_err(|_| "the API key holds characters a header cannot carry")?;
                // Kept out of HTTP logging and debug output.
                v.set_sensitive(true);
                Some(v)
            }
            None => None,
        };
        let client = reqwest::Client::builder()
            .connect_timeout(options.connect_timeout)
            .read_timeout(options.read_timeout)
            .user_agent(concat!("bizra/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| format!("cannot build the HTTP client: {e}"))?;
        Ok(Self {
            client,
            api,
            shown,
            auth,
            key,
            max_retries: options.max_retries,
            initial_backoff: options.initial_backoff,
            max_backoff: options.max_backoff,
            max_retry_after: options.max_retry_after,
        })
    }

    /// The URL of an endpoint below the API root (`chat/completions`), or of one at the
    /// server's root (`/health`).
    fn url(&self, endpoint: &str) -> Result<Url, Failure> {
        self.api.join(endpoint).map_err(|e| {
            Failure::unavailable(
                None,
                format!("{}: bad endpoint {endpoint}: {e}", self.shown),
            )
        })
    }

    /// Removes the API key from text that came from the server (a server may echo it).
    pub(crate) fn redact(&self, text: &str) -> String {
        match &self.key {
            Some(k) if !k.expose().is_empty() => text.replace(k.expose(), "[redacted]"),
            _ => text.to_owned(),
        }
    }

    /// A transport error in words: its causes, without the URL it carries (the caller names the
    /// endpoint; a URL may hold credentials) and without the key.
    pub(crate) fn describe(&self, e: reqwest::Error) -> String {
        self.redact(&error_chain(&e.without_url()))
    }

    /// Sends one request, without retries: the response whatever its status.
    pub(crate) async fn send_once(
        &self,
        method: Method,
        endpoint: &str,
        body: Option<&Value>,
    ) -> Result<Result<Response, reqwest::Error>, Failure> {
        let mut req = self.client.request(method, self.url(endpoint)?);
        if let Some(auth) = &self.auth {
            req = req.header(AUTHORIZATION, auth.clone());
        }
        if let Some(b) = body {
            req = req
                .header(CONTENT_TYPE, "application/json")
                .body(b.to_string());
        }
        Ok(req.send().await)
    }

    /// Sends a request and returns a successful response, retrying what a retry can cure: no
    /// connection, 429 (after the server's `Retry-After` when it gives one) and 5xx, at most
    /// `max_retries` times, after `initial_backoff · 2^n` (capped at `max_backoff`) plus a random
    /// jitter of up to as much again, so that clients refused together do not return together.
    /// Any other status fails at once with the server's message. A caller that can be
    /// cancelled runs it under [`until_cancelled`], which stops the backoff sleeps too.
    pub(crate) async fn send(
        &self,
        method: Method,
        endpoint: &str,
        body: Option<&Value>,
    ) -> Result<Response, Failure> {
        let what = format!("{} {}/{endpoint}", method, self.shown);
        let mut attempt = 0u32;
        loop {
            let sent = self.send_once(method.clone(), endpoint, body).await?;
            let (status, problem, wait) = match sent {
                Ok(resp) if resp.status().is_success() => return Ok(resp),
                Ok(resp) => {
                    let status = resp.status();
                    let retry_after = retry_after(&resp);
                    let message = self.body_message(resp).await;
                    let problem = format!("{what}: HTTP {status}{message}");
                    if !retryable(status) {
                        let hint = if status == StatusCode::UNAUTHORIZED
                            || status == StatusCode::FORBIDDEN
                        {
                            " (check the API key: BIZRA_POOL_API_KEY or OPENAI_API_KEY)"
                        } else {
                            ""
                        };
                        return Err(Failure::refused(
                            status.as_u16(),
                            format!("{problem}{hint}; not retried"),
                        ));
                    }
                    if let Some(after) = retry_after.filter(|a| *a > self.max_retry_after) {
                        let (after, allowed) = (after.as_secs(), self.max_retry_after.as_secs());
                        return Err(Failure::unavailable(
                            Some(status.as_u16()),
                            format!(
                                "{problem}; the server asks to retry after {after} s, \
                                 more than the {allowed} s allowed"
                            ),
                        ));
                    }
                    (Some(status.as_u16()), problem, retry_after)
                }
                Err(e) if e.is_connect() => (
                    None,
                    format!("{what}: cannot connect: {}", self.describe(e)),
                    None,
                ),
                Err(e) if e.is_timeout() => {
                    return Err(Failure::unavailable(
                        None,
                        format!(
                            "{what}: no response within the read timeout; \
                             not retried (the server may still be generating)"
                        ),
                    ))
                }
                Err(e) => {
                    return Err(Failure::unavailable(
                        None,
                        format!("{what}: {}", self.describe(e)),
                    ))
                }
            };
            if attempt >= self.max_retries {
                let tries = attempt + 1;
                return Err(Failure::unavailable(
                    status,
                    format!(
                        "{problem} (after {tries} attempt{})",
                        if tries == 1 { "" } else { "s" }
                    ),
                ));
            }
            let delay = wait.unwrap_or_else(|| self.backoff(attempt));
            attempt += 1;
            tokio::time::sleep(delay).await;
        }
    }

    /// `initial · 2^attempt`, capped, plus a jitter drawn uniformly in [0, that].
    fn backoff(&self, attempt: u32) -> Duration {
        let base = self
            .initial_backoff
            .saturating_mul(1u32.checked_shl(attempt.min(16)).unwrap_or(u32::MAX))
            .min(self.max_backoff);
        let jitter = f64::from(crate::engine::rand_seed()) / f64::from(u32::MAX);
        base + base.mul_f64(jitter)
    }

    /// `": message"` from an error response's body, or nothing.
    pub(crate) async fn body_message(&self, resp: Response) -> String {
        let bytes = resp.bytes().await.unwrap_or_default();
        let text = String::from_utf8_lossy(&bytes);
        let message = match serde_json::from_str::<Value>(&text) {
            Ok(v) => v.get("error").map_or_else(|| v.to_string(), error_message),
            Err(_) => text.chars().take(500).collect(),
        };
        let message = self.redact(message.trim());
        if message.is_empty() {
            String::new()
        } else {
            format!(": {message}")
        }
    }
}

/// Whether a status is worth a retry: 429 (rate limited) and the 5xx.
fn retryable(status: StatusCode) -> bool {
    status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error()
}

/// `Retry-After` in seconds (its HTTP-date form is rare from API servers and is treated as
/// absent: the backoff applies).
fn retry_after(resp: &Response) -> Option<Duration> {
    let v = resp.headers().get(RETRY_AFTER)?.to_str().ok()?;
    let secs: f64 = v.trim().parse().ok()?;
    (secs.is_finite() && secs >= 0.0).then(|| Duration::from_secs_f64(secs.min(86_400.0)))
}

/// An error with its causes (reqwest's own text is only the outermost).
fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let part = s.to_string();
        if !text.contains(&part) {
            text.push_str(": ");
            text.push_str(&part);
        }
        source = s.source();
    }
    text
}

/// `work`, unless `cancel` is cancelled first: then `work` is dropped where it stands (closing
/// its connection, leaving a backoff sleep or a wait for a lock) and the result is
/// [`Failure::Cancelled`]. The one place where a request meets its cancel token: every wait of a
/// cancellable request runs under it.
pub(crate) async fn until_cancelled<T>(
    cancel: &CancelToken,
    work: impl Future<Output = T>,
) -> Result<T, Failure> {
    tokio::select! {
        out = work => Ok(out),
        () = cancelled(cancel) => Err(Failure::Cancelled),
    }
}

/// Resolves when `cancel` is cancelled.
async fn cancelled(cancel: &CancelToken) {
    while !cancel.is_cancelled() {
        tokio::time::sleep(CANCEL_POLL).await;
    }
}

/// Milliseconds since `t`.
pub(crate) fn ms(t: Instant) -> f64 {
    t.elapsed().as_secs_f64() * 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_api_root_gets_v1_once_and_shows_no_credentials() {
        for (given, root) in [
            ("http://h:8000", "http://h:8000/v1/"),
            ("http://h:8000/", "http://h:8000/v1/"),
            ("http://h:8000/v1", "http://h:8000/v1/"),
            (
                "https://api.example/openai/v1/",
                "https://api.example/openai/v1/",
            ),
            (
                "http://user:secret@h:1/v1?x=1#f",
                "http://user:secret@h:1/v1/",
            ),
        ] {
            let (url, shown) = api_root(given).unwrap();
            assert_eq!(url.as_str(), root);
            assert!(
                !shown.contains("secret") && !shown.contains("user"),
                "{shown}"
            );
            assert!(shown.ends_with("/v1"), "{shown}");
            assert_eq!(url.join("/health").unwrap().path(), "/health");
        }
        assert!(api_root("unix:/tmp/sock").is_err());
    }

    #[test]
    fn backoff_doubles_up_to_the_cap_with_jitter() {
        let mut o = RemoteOptions::new("http://h");
        o.initial_backoff = Duration::from_millis(100);
        o.max_backoff = Duration::from_millis(400);
        let t = Transport::new(&o, None).unwrap();
        for (attempt, base) in [(0, 100), (1, 200), (2, 400), (3, 400), (40, 400)] {
            let d = t.backoff(attempt).as_millis();
            assert!((base..=2 * base).contains(&d), "attempt {attempt}: {d} ms");
        }
    }
}
