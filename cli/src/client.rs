//! How `bizra status` and `bizra federation ...` reach a running `bizra serve` (or `bizra join`):
//! its HTTP API at `[server] url`, with the bearer token from the configuration for the
//! endpoints that need one. The server's errors keep their meaning: a refusal (4xx with a reject
//! code) exits 1, a missing or wrong token exits 5, an unreachable server exits 7.

use std::time::Duration;

use serde_json::Value;

use crate::context::Context;
use crate::exit::{CliError, CliResult, Exit};

/// A running server's API.
pub struct Api {
    base: String,
    token: Option<String>,
    http: reqwest::Client,
    rt: tokio::runtime::Runtime,
}

impl Api {
    /// The server named by `url`, else by the configuration.
    pub fn new(ctx: &Context, url: Option<&str>) -> CliResult<Self> {
        let base = match url {
            Some(u) => u.trim_end_matches('/').to_owned(),
            None => ctx.config.server_url()?,
        };
        let token = ctx.config.server_token(&ctx.data_dir)?;
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(60))
            .build()
            .map_err(|e| CliError::network(format!("the HTTP client: {e}")))?;
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| {
                CliError::new(Exit::Internal, format!("starting the HTTP runtime: {e}"))
            })?;
        Ok(Api {
            base,
            token,
            http,
            rt,
        })
    }

    /// `GET /api/v1/<path>`.
    pub fn get(&self, path: &str) -> CliResult<Value> {
        self.send(self.http.get(self.url(path)), path)
    }

    /// `GET /api/v1/<path>` with the bearer token (a protected read).
    pub fn get_authorized(&self, path: &str) -> CliResult<Value> {
        let mut req = self.http.get(self.url(path));
        if let Some(t) = &self.token {
            req = req.bearer_auth(t);
        }
        self.send(req, path)
    }

    /// `POST /api/v1/<path>` with a JSON body and the bearer token.
    pub fn post(&self, path: &str, body: &Value) -> CliResult<Value> {
        let mut req = self
            .http
            .post(self.url(path))
            .header("content-type", "application/json")
            .body(body.to_string());
        if let Some(t) = &self.token {
            req = req.bearer_auth(t);
        }
        self.send(req, path)
    }

    fn url(&self, path: &str) -> String {
        format!("{}/api/v1/{path}", self.base)
    }

    fn send(&self, req: reqwest::RequestBuilder, path: &str) -> CliResult<Value> {
        let base = &self.base;
        self.rt.block_on(async {
            let resp = req.send().await.map_err(|e| {
                let why = if e.is_connect() {
                    "nothing answers there (start one with `bizra serve`, or set [server] url)"
                        .to_owned()
                } else {
                    crate::exit::one_line(&e.to_string())
                };
                CliError::network(format!("bizra server at {base}: {why}"))
            })?;
            let status = resp.status();
            let text = resp.text().await.map_err(|e| {
                CliError::network(format!("bizra server at {base}: reading /{path}: {e}"))
            })?;
            let value: Value = serde_json::from_str(&text).map_err(|_| {
                CliError::network(format!(
                    "bizra server at {base}: /{path} answered {status} with no JSON"
                ))
            })?;
            if status.is_success() {
                return Ok(value);
            }
            Err(api_error(status.as_u16(), &value))
        })
    }
}

/// The server's error shape (`{"error": {"code", "message", "reject_code"?}}`) as a CLI error.
fn api_error(status: u16, value: &Value) -> CliError {
    let e = &value["error"];
    let code = e["code"].as_str().unwrap_or("error");
    let message = e["message"].as_str().unwrap_or("");
    let exit = match status {
        401 | 403 => Exit::Key,
        503 if code == "auth_not_configured" => Exit::Config,
        400..=499 | 503 => Exit::Refused,
        _ => Exit::Network,
    };
    let reject = e["reject_code"]
        .as_str()
        .map(|r| format!(" [{r}]"))
        .unwrap_or_default();
    CliError::new(
        exit,
        format!("the server refused ({status} {code}){reject}: {message}"),
    )
}
