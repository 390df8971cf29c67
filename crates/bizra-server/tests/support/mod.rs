//! A server on a loopback port for the suites, and what they share.

#![allow(dead_code)] // Each suite uses its part.

use std::net::SocketAddr;
use std::time::Duration;

use bizra::Identity;
use bizra_server::{AppState, ServerConfig};
use futures_util::StreamExt;
use serde_json::Value;
use tokio::sync::oneshot;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

pub const TOKEN: &str = "test-token-0123456789abcdef";

/// A running server; shut down (and awaited) by [`Server::stop`], or aborted on drop.
pub struct Server {
    pub addr: SocketAddr,
    pub state: AppState,
    /// A [`client`] for the requests of [`Server::get`] and [`Server::post`].
    pub client: reqwest::Client,
    stop: Option<oneshot::Sender<()>>,
    handle: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

impl Server {
    /// Serves `state` on 127.0.0.1:0.
    pub async fn start(state: AppState) -> Server {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        let handle = tokio::spawn(bizra_server::serve(listener, state.clone(), async move {
            let _ = stopped.await;
        }));
        Server {
            addr,
            state,
            client: client(),
            stop: Some(stop),
            handle: Some(handle),
        }
    }

    /// Serves a node with a fresh identity and `config`.
    pub async fn with_config(config: ServerConfig) -> Server {
        Server::start(state(config)).await
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// GET `path`, without a token.
    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client.get(self.url(path)).send().await.unwrap()
    }

    /// A POST to `path` with the test token, not yet sent.
    fn post_authed(&self, path: &str) -> reqwest::RequestBuilder {
        self.client.post(self.url(path)).bearer_auth(TOKEN)
    }

    /// POST `body` as JSON to `path` with the test token.
    pub async fn post(&self, path: &str, body: &impl serde::Serialize) -> reqwest::Response {
        self.post_authed(path).json(body).send().await.unwrap()
    }

    /// POST with no body to `path` with the test token.
    pub async fn post_empty(&self, path: &str) -> reqwest::Response {
        self.post_authed(path).send().await.unwrap()
    }

    /// GET `path` without a token and parse the body as JSON, whatever the status.
    pub async fn get_json(&self, path: &str) -> Value {
        json_of(self.get(path).await).await
    }

    /// POST `body` to `path` with the test token, and assert the error shape with `status` and
    /// `code`; returns the body.
    pub async fn post_err(
        &self,
        path: &str,
        body: &impl serde::Serialize,
        status: u16,
        code: &str,
    ) -> Value {
        expect_error(self.post(path, body).await, status, code).await
    }

    /// [`Server::post_err`] without a token.
    pub async fn post_open_err(
        &self,
        path: &str,
        body: &impl serde::Serialize,
        status: u16,
        code: &str,
    ) -> Value {
        expect_error(self.post_open(path, body).await, status, code).await
    }

    /// POST `body` as JSON to `path` without a token.
    pub async fn post_open(&self, path: &str, body: &impl serde::Serialize) -> reqwest::Response {
        self.client
            .post(self.url(path))
            .json(body)
            .send()
            .await
            .unwrap()
    }

    /// Asks for shutdown and waits for `serve` to return.
    pub async fn stop(mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(h) = self.handle.take() {
            tokio::time::timeout(Duration::from_secs(60), h)
                .await
                .expect("serve returns after shutdown")
                .unwrap()
                .unwrap();
        }
    }

    /// Asks for shutdown without waiting.
    pub fn begin_stop(&mut self) -> tokio::task::JoinHandle<std::io::Result<()>> {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        self.handle.take().unwrap()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(h) = &self.handle {
            h.abort();
        }
    }
}

/// A config with the test token and no rate limit.
pub fn config() -> ServerConfig {
    ServerConfig {
        token: Some(TOKEN.into()),
        rate_limit: None,
        ..ServerConfig::default()
    }
}

/// A node with a fresh identity and `config`, nothing else attached.
pub fn state(config: ServerConfig) -> AppState {
    AppState::builder(Identity::generate())
        .config(config)
        .build()
}

/// The JSON body of a response, whatever its status.
pub async fn json_of(res: reqwest::Response) -> Value {
    res.json().await.unwrap()
}

pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(300))
        .build()
        .unwrap()
}

/// Asserts the error shape and returns the body.
pub async fn expect_error(res: reqwest::Response, status: u16, code: &str) -> Value {
    let got = res.status().as_u16();
    let ct = res
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    let text = res.text().await.unwrap();
    assert_eq!(got, status, "status; body: {text}");
    assert!(
        ct.starts_with("application/json"),
        "content type {ct:?}; body: {text}"
    );
    let body: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
    let err = body
        .get("error")
        .unwrap_or_else(|| panic!("no error member: {text}"));
    assert_eq!(err["code"], code, "{text}");
    assert!(
        err["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{text}"
    );
    body
}

/// Parses Server-Sent Events: (event name, data) pairs.
pub fn sse_events(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for block in text.split("\n\n") {
        let mut event = "message".to_owned();
        let mut data = Vec::new();
        for line in block.lines() {
            if let Some(e) = line.strip_prefix("event:") {
                event = e.trim().to_owned();
            } else if let Some(d) = line.strip_prefix("data:") {
                data.push(d.strip_prefix(' ').unwrap_or(d).to_owned());
            }
        }
        if !data.is_empty() {
            out.push((event, data.join("\n")));
        }
    }
    out
}

pub type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Opens the server's WebSocket, with `token` as a bearer token if given.
pub async fn ws_connect(srv: &Server, token: Option<&str>) -> Ws {
    let mut req = format!("ws://{}/api/v1/ws", srv.addr)
        .into_client_request()
        .unwrap();
    if let Some(t) = token {
        req.headers_mut()
            .insert("authorization", format!("Bearer {t}").parse().unwrap());
    }
    tokio_tungstenite::connect_async(req).await.unwrap().0
}

/// The next text message on `ws` as JSON, within `timeout`.
pub async fn next_json(ws: &mut Ws, timeout: Duration) -> Value {
    loop {
        let msg = tokio::time::timeout(timeout, ws.next())
            .await
            .expect("a message in time")
            .expect("the socket is open")
            .unwrap();
        if let Message::Text(t) = msg {
            return serde_json::from_str(&t).unwrap();
        }
    }
}
