//! A full engine queue over HTTP: a generation the engine cannot take is answered at once with
//! 503 `busy` and `Retry-After`, not held open; once the load passes the same request is served.
//! Real parts: SmolLM2 on the embedded llama.cpp (`make model`), a loopback HTTP server.

#[path = "../../bizra-inference/tests/support/held.rs"]
mod held;
#[path = "../../bizra-inference/tests/support/pool_server.rs"]
mod pool_server;
mod support;

use bizra::inference::TokenCallback;
use bizra::{CancelToken, Engine, EngineOptions, Gateway, GenerateRequest, Identity};
use serde_json::{json, Value};
use support::{config, Server};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_engine_queue_is_503_busy_then_served() {
    let engine = Engine::load(
        pool_server::model(),
        EngineOptions {
            n_ctx: 512,
            n_threads: Some(1),
            max_queued: 0,
            ..EngineOptions::default()
        },
    )
    .unwrap();
    let gateway = Gateway::builder().engine(engine.clone()).build().unwrap();
    let state = bizra_server::AppState::builder(Identity::generate())
        .config(config())
        .gateway(gateway)
        .build();
    let srv = Server::start(state).await;
    let body = json!({"prompt": "What is 2 + 2?", "max_tokens": 4, "temperature": 0});

    let hold_engine = engine.clone();
    let held = tokio::task::spawn_blocking(move || {
        held::hold(
            &hold_engine,
            &GenerateRequest::raw("The capital of France is").max_tokens(4),
        )
    })
    .await
    .unwrap();
    let res = srv.post("/api/v1/inference/generate", &body).await;
    assert_eq!(res.status(), 503);
    assert_eq!(
        res.headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok()),
        Some("1")
    );
    let err: Value = res.json().await.unwrap();
    assert_eq!(err["error"]["code"], "busy", "{err}");
    assert!(
        err["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("engine queue")),
        "{err}"
    );

    tokio::task::spawn_blocking(move || held.release())
        .await
        .unwrap();
    // The worker waits for work again a moment after it finished.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let res = srv.post("/api/v1/inference/generate", &body).await;
        if res.status() == 200 {
            break;
        }
        assert_eq!(res.status(), 503, "only busy while the worker finishes");
        assert!(std::time::Instant::now() < deadline, "never served again");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}
