//! Real generation through the API: SmolLM2-135M on the embedded llama.cpp, over loopback HTTP
//! and WebSocket, every returned envelope verified.

#[path = "../../bizra-inference/tests/support/pool_server.rs"]
mod pool_server;
mod support;

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use bizra::{Envelope, Gateway, Identity, ModelRegistry, VerifyOptions};
use bizra_server::{AppState, ServerConfig};
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use support::{config, next_json, sse_events, ws_connect, Server, TOKEN};
use tokio_tungstenite::tungstenite::Message;

/// The registry key the test model is registered under.
const KEY: &str = "smollm";

/// One registry and gateway for the whole suite (one engine, loaded once).
fn models() -> &'static (Arc<ModelRegistry>, Gateway, tempfile::TempDir) {
    static MODELS: OnceLock<(Arc<ModelRegistry>, Gateway, tempfile::TempDir)> = OnceLock::new();
    MODELS.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink(pool_server::model(), dir.path().join(format!("{KEY}.gguf")))
            .unwrap();
        let registry = Arc::new(ModelRegistry::open(dir.path()).unwrap());
        let gateway = Gateway::builder()
            .registry(registry.clone())
            .build()
            .unwrap();
        (registry, gateway, dir)
    })
}

fn state(config: ServerConfig) -> AppState {
    let (registry, gateway, _) = models();
    AppState::builder(Identity::generate())
        .config(config)
        .registry(registry.clone())
        .gateway(gateway.clone())
        .build()
}

/// A server with the suite's models and the test config.
async fn server() -> Server {
    Server::start(state(config())).await
}

/// Parses and verifies an envelope signed by `state`'s node now.
fn verified(env: &Value, state: &AppState) -> Envelope {
    let e = Envelope::from_value(env.clone()).unwrap();
    e.verify(&VerifyOptions::default()).unwrap();
    assert_eq!(e.sender(), state.identity().node_id());
    assert_eq!(e.payload()["type"], "bizra.inference");
    e
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn generate_returns_a_signed_envelope() {
    let srv = server().await;
    let res = srv
        .post(
            "/api/v1/inference/generate",
            &json!({"prompt": "What is 2 + 2?", "max_tokens": 12, "temperature": 0}),
        )
        .await;
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    let env = verified(&body["envelope"], &srv.state);
    assert_eq!(env.payload()["output"], body["output"]);
    assert!(!body["output"].as_str().unwrap().is_empty());
    let info = models().0.get(KEY).unwrap().info;
    assert_eq!(env.payload()["model"]["name"], info.name.as_str());
    assert_eq!(
        env.payload()["model"]["file_blake3"],
        info.file_blake3.as_str()
    );
    assert_eq!(env.payload()["route"]["served"], "edge");
    // The server verifies it too (signature, content hash; its scores decide admission).
    let res = srv
        .post_open(
            "/api/v1/gates/check",
            &json!({"envelope": body["envelope"]}),
        )
        .await;
    let report: Value = res.json().await.unwrap();
    // Admitted, or refused for its measured scores only: never for its signature or hash.
    assert!(
        report["passed"] == true
            || ["GATE_SNR", "GATE_IHSAN"].contains(&report["reject_code"].as_str().unwrap()),
        "{report}"
    );

    // Counted.
    let metrics = srv.get("/api/v1/metrics").await.text().await.unwrap();
    let completion = env.payload()["tokens"]["completion"].as_u64().unwrap();
    assert!(
        metrics.contains(&format!(
            "bizra_inference_tokens_total{{kind=\"completion\"}} {completion}"
        )),
        "{metrics}"
    );
    assert!(metrics.contains("bizra_inference_generations_total 1"));

    // A forced tier nobody serves, bad sampling, too many tokens.
    srv.post_err(
        "/api/v1/inference/generate",
        &json!({"prompt": "hi", "tier": "pool", "max_tokens": 4}),
        503,
        "no_remote_pool",
    )
    .await;
    srv.post_err(
        "/api/v1/inference/generate",
        &json!({"prompt": "hi", "temperature": -1}),
        400,
        "invalid_input",
    )
    .await;
    srv.post_err(
        "/api/v1/inference/generate",
        &json!({"prompt": "hi", "max_tokens": 100000}),
        400,
        "invalid_input",
    )
    .await;
    srv.post_err(
        "/api/v1/inference/generate",
        &json!({"max_tokens": 4}),
        400,
        "invalid_input",
    )
    .await;
    srv.post_err(
        "/api/v1/inference/generate",
        &json!({"messages": [{"role": "robot", "content": "hi"}]}),
        400,
        "invalid_input",
    )
    .await;
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn generate_streams_tokens_then_the_envelope() {
    let srv = server().await;
    let res = srv
        .post(
            "/api/v1/inference/generate",
            &json!({
                "messages": [
                    {"role": "system", "content": "You are terse."},
                    {"role": "user", "content": "Name a colour."}
                ],
                "max_tokens": 12, "temperature": 0, "stream": true
            }),
        )
        .await;
    assert_eq!(res.status(), 200);
    assert!(res.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/event-stream"));
    let events = sse_events(&res.text().await.unwrap());
    let (last, rest) = events.split_last().unwrap();
    assert_eq!(last.0, "envelope", "{events:?}");
    assert!(!rest.is_empty());
    let mut text = String::new();
    for (name, data) in rest {
        assert_eq!(name, "token");
        let v: Value = serde_json::from_str(data).unwrap();
        text.push_str(v["text"].as_str().unwrap());
    }
    let end: Value = serde_json::from_str(&last.1).unwrap();
    let env = verified(&end["envelope"], &srv.state);
    assert_eq!(env.payload()["output"], text.as_str());
    assert_eq!(end["output"], text.as_str());
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openai_chat_completions_carry_the_envelope() {
    let srv = server().await;
    for model in ["bizra", KEY, "edge"] {
        let res = srv.post("/v1/chat/completions", &json!({
                "model": model,
                "messages": [{"role": "user", "content": [{"type": "text", "text": "Say hello."}]}],
                "max_tokens": 10, "temperature": 0, "stream": false,
                "presence_penalty": 0, "user": "someone"
            }),
        )
        .await;
        assert_eq!(res.status(), 200);
        let body: Value = res.json().await.unwrap();
        assert_eq!(body["object"], "chat.completion");
        assert_eq!(body["choices"][0]["message"]["role"], "assistant");
        let env = verified(&body["bizra_envelope"], &srv.state);
        assert_eq!(
            env.payload()["output"],
            body["choices"][0]["message"]["content"]
        );
        assert_eq!(body["id"], format!("chatcmpl-{}", env.id()));
        assert_eq!(
            body["usage"]["completion_tokens"],
            env.payload()["tokens"]["completion"]
        );
        assert_eq!(
            body["usage"]["total_tokens"].as_u64().unwrap(),
            body["usage"]["prompt_tokens"].as_u64().unwrap()
                + body["usage"]["completion_tokens"].as_u64().unwrap()
        );
        assert!(["stop", "length"].contains(&body["choices"][0]["finish_reason"].as_str().unwrap()));
    }
    srv.post_err(
        "/v1/chat/completions",
        &json!({"model": "gpt-9", "messages": [{"role": "user", "content": "hi"}]}),
        404,
        "model_not_found",
    )
    .await;
    srv.post_err(
        "/v1/chat/completions",
        &json!({"model": "bizra", "messages": []}),
        400,
        "invalid_input",
    )
    .await;
    srv.post_err(
        "/v1/chat/completions",
        &json!({"model": "bizra"}),
        422,
        "invalid_request",
    )
    .await;

    // The model lists.
    let models: Value = srv.get_json("/v1/models").await;
    let ids: Vec<&str> = models["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["bizra", KEY]);
    let models: Value = srv.get_json("/api/v1/inference/models").await;
    let m = &models["models"][0];
    assert_eq!(m["key"], KEY);
    assert_eq!(m["tier"], "edge");
    assert_eq!(m["quantization"], "Q4_1");
    assert_eq!(m["loaded"], true);
    assert_eq!(m["file_blake3"].as_str().unwrap().len(), 64);
    let status: Value = srv.get_json("/api/v1/status").await;
    assert_eq!(status["inference"], true);
    assert_eq!(status["models_loaded"], json!([KEY]));
    assert_eq!(status["models_registered"], 1);
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openai_streaming_ends_with_the_envelope_and_done() {
    let srv = server().await;
    let res = srv
        .post(
            "/v1/chat/completions",
            &json!({
                "model": "bizra",
                "messages": [{"role": "user", "content": "Count to five."}],
                "max_tokens": 16, "temperature": 0, "stream": true
            }),
        )
        .await;
    assert_eq!(res.status(), 200);
    let events = sse_events(&res.text().await.unwrap());
    assert_eq!(events.last().unwrap().1, "[DONE]");
    let chunks: Vec<Value> = events[..events.len() - 1]
        .iter()
        .map(|(_, d)| serde_json::from_str(d).unwrap())
        .collect();
    assert!(chunks.len() >= 3);
    assert_eq!(chunks[0]["choices"][0]["delta"]["role"], "assistant");
    let id = chunks[0]["id"].as_str().unwrap();
    let mut text = String::new();
    for c in &chunks {
        assert_eq!(c["object"], "chat.completion.chunk");
        assert_eq!(c["id"], id);
        if let Some(t) = c["choices"][0]["delta"]["content"].as_str() {
            text.push_str(t);
        }
    }
    let last = chunks.last().unwrap();
    assert!(last["choices"][0]["finish_reason"].is_string());
    // Only the last chunk carries the envelope.
    assert!(chunks[..chunks.len() - 1]
        .iter()
        .all(|c| c.get("bizra_envelope").is_none()));
    let env = verified(&last["bizra_envelope"], &srv.state);
    assert_eq!(env.payload()["output"], text.as_str());
    assert_eq!(
        last["usage"]["completion_tokens"],
        env.payload()["tokens"]["completion"]
    );
    srv.stop().await;
}

/// How long a WebSocket message may take (a generation in between).
const WS_WAIT: Duration = Duration::from_secs(120);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websocket_subscribers_receive_inference_events() {
    let srv = server().await;
    // Without the token, the inference topic is refused; the open topics are not.
    let mut anon = ws_connect(&srv, None).await;
    anon.send(Message::Text(
        json!({"subscribe": ["inference"]}).to_string().into(),
    ))
    .await
    .unwrap();
    assert_eq!(
        next_json(&mut anon, WS_WAIT).await["error"]["code"],
        "unauthorized"
    );
    anon.send(Message::Text(
        json!({"subscribe": ["peers", "consensus"]})
            .to_string()
            .into(),
    ))
    .await
    .unwrap();
    assert_eq!(
        next_json(&mut anon, WS_WAIT).await,
        json!({"subscribed": ["consensus", "peers"]})
    );
    anon.send(Message::Text(
        json!({"subscribe": ["weather"]}).to_string().into(),
    ))
    .await
    .unwrap();
    assert_eq!(
        next_json(&mut anon, WS_WAIT).await["error"]["code"],
        "unknown_topic"
    );
    anon.send(Message::Text("{".into())).await.unwrap();
    assert_eq!(
        next_json(&mut anon, WS_WAIT).await["error"]["code"],
        "invalid_message"
    );
    // A wrong token in the message, then the right one.
    anon.send(Message::Text(
        json!({"subscribe": ["inference"], "token": "nope"})
            .to_string()
            .into(),
    ))
    .await
    .unwrap();
    assert_eq!(
        next_json(&mut anon, WS_WAIT).await["error"]["code"],
        "unauthorized"
    );
    anon.send(Message::Text(
        json!({"subscribe": ["inference"], "token": TOKEN})
            .to_string()
            .into(),
    ))
    .await
    .unwrap();
    assert_eq!(
        next_json(&mut anon, WS_WAIT).await,
        json!({"subscribed": ["consensus", "inference", "peers"]})
    );

    // With the token in the upgrade request.
    let mut ws = ws_connect(&srv, Some(TOKEN)).await;
    ws.send(Message::Text(
        json!({"subscribe": ["inference"]}).to_string().into(),
    ))
    .await
    .unwrap();
    assert_eq!(
        next_json(&mut ws, WS_WAIT).await,
        json!({"subscribed": ["inference"]})
    );

    let res = srv
        .post(
            "/api/v1/inference/generate",
            &json!({"prompt": "Say yes.", "max_tokens": 8, "temperature": 0}),
        )
        .await;
    let body: Value = res.json().await.unwrap();
    let env = verified(&body["envelope"], &srv.state);

    for socket in [&mut ws, &mut anon] {
        let mut text = String::new();
        let completed = loop {
            let e = next_json(socket, WS_WAIT).await;
            assert_eq!(e["topic"], "inference", "{e}");
            match e["event"].as_str().unwrap() {
                "token" => text.push_str(e["data"]["text"].as_str().unwrap()),
                "completed" => break e,
                other => panic!("{other}: {e}"),
            }
        };
        assert_eq!(completed["data"]["envelope_id"], env.id());
        assert_eq!(completed["data"]["output"], text.as_str());
        assert_eq!(env.payload()["output"], text.as_str());
    }
    // The server closes the sockets when it shuts down.
    srv.stop().await;
    let end = tokio::time::timeout(Duration::from_secs(10), ws.next())
        .await
        .unwrap();
    assert!(
        matches!(end, None | Some(Ok(Message::Close(_))) | Some(Err(_))),
        "{end:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_cancels_generations_after_the_grace_period() {
    let mut srv = Server::start(state(ServerConfig {
        shutdown_grace: Duration::from_millis(300),
        ..config()
    }))
    .await;
    // A long generation, streamed.
    let mut res = srv.post("/api/v1/inference/generate", &json!({"prompt": "1, 2, 3, 4, 5, 6,", "raw": true, "max_tokens": 2000, "temperature": 0, "stream": true}),
    )
    .await;
    assert_eq!(res.status(), 200);
    // Wait for its first token, then ask for shutdown.
    let mut body = String::new();
    while !body.contains("event: token") {
        body.push_str(&String::from_utf8_lossy(
            &res.chunk().await.unwrap().unwrap(),
        ));
    }
    assert_eq!(srv.state.generations_in_flight(), 1);
    let served = srv.begin_stop();
    // New generations are refused while shutting down (the open connection still answers).
    // The stream ends with the envelope of a cancelled generation, still signed.
    while let Some(chunk) = res.chunk().await.unwrap() {
        body.push_str(&String::from_utf8_lossy(&chunk));
    }
    let events = sse_events(&body);
    let (name, data) = events.last().unwrap();
    assert_eq!(name, "envelope", "{events:?}");
    let end: Value = serde_json::from_str(data).unwrap();
    assert_eq!(end["finish_reason"], "cancelled");
    let env = verified(&end["envelope"], &srv.state);
    assert!(env.payload()["tokens"]["completion"].as_u64().unwrap() < 2000);
    tokio::time::timeout(Duration::from_secs(30), served)
        .await
        .expect("serve returns once the stream ended")
        .unwrap()
        .unwrap();
    assert_eq!(srv.state.generations_in_flight(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_that_times_out_answers_408_and_cancels_its_generation() {
    let srv = Server::start(state(ServerConfig {
        request_timeout: Duration::from_millis(500),
        ..config()
    }))
    .await;
    srv.post_err(
        "/api/v1/inference/generate",
        &json!({"prompt": "1, 2, 3, 4, 5, 6,", "raw": true, "max_tokens": 2000, "temperature": 0}),
        408,
        "timeout",
    )
    .await;
    // The abandoned generation stops at its next token (2000 tokens would take many seconds).
    let stopped = tokio::time::timeout(Duration::from_secs(10), async {
        while srv.state.generations_in_flight() > 0 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    assert!(stopped.is_ok(), "the generation still runs");
    // It ended (cancelled, signed, counted) well short of its budget.
    let metrics = srv.get("/api/v1/metrics").await.text().await.unwrap();
    assert!(
        metrics.contains("bizra_inference_generations_total 1"),
        "{metrics}"
    );
    let completion: u64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("bizra_inference_tokens_total{kind=\"completion\"} "))
        .unwrap()
        .parse()
        .unwrap();
    assert!(completion < 2000, "{completion}");
    srv.stop().await;
}
