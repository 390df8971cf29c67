//! Managing a running server over real HTTP: `federation/leave` (a node on loopback leaves, its
//! peer sees it go), `inference/models/loaded` and `inference/models/unload` (the real test model
//! loaded by the registry), each without, with a wrong and with the right token; and the status
//! page at `/`.

#[path = "../../bizra-inference/tests/support/pool_server.rs"]
mod pool_server;
mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use bizra::federation::MemberState;
use bizra::{Engine, EngineOptions, Identity, ModelRegistry, Node, NodeConfig};
use bizra_server::{AppState, ServerConfig};
use futures_util::SinkExt;
use serde_json::{json, Value};
use support::{client, config, expect_error, next_json, ws_connect, Server, TOKEN};
use tokio_tungstenite::tungstenite::Message;

const KEY: &str = "smollm";

fn loopback_node(seeds: Vec<String>) -> (Arc<Identity>, Node) {
    let id = Arc::new(Identity::generate());
    let node = Node::start(
        id.clone(),
        NodeConfig {
            bind: "127.0.0.1:0".parse().unwrap(),
            seeds,
            ..NodeConfig::default()
        },
    )
    .unwrap();
    (id, node)
}

async fn until(timeout: Duration, mut f: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if f() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    f()
}

fn state_of(peer: &Node, id: &str) -> Option<MemberState> {
    peer.members()
        .into_iter()
        .find(|m| m.node_id == id)
        .map(|m| m.state)
}

/// No token, a wrong one, a wrong scheme: 401 `unauthorized`.
async fn refused_without_the_token(req: impl Fn() -> reqwest::RequestBuilder) {
    expect_error(req().send().await.unwrap(), 401, "unauthorized").await;
    for auth in [
        "Bearer wrong-token".to_owned(),
        format!("Bearer {TOKEN}x"),
        format!("Basic {TOKEN}"),
    ] {
        let res = req().header("authorization", auth).send().await.unwrap();
        expect_error(res, 401, "unauthorized").await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leave_makes_the_served_node_leave_and_its_peer_sees_it() {
    let (id_a, node_a) = loopback_node(Vec::new());
    let node_id = id_a.node_id().to_owned();
    let (_id_b, node_b) = loopback_node(vec![node_a.local_addr().to_string()]);
    assert!(
        until(Duration::from_secs(20), || state_of(&node_b, &node_id)
            == Some(MemberState::Alive))
        .await,
        "{:?}",
        node_b.members()
    );
    // The state holds the only handle of the node.
    let state = AppState::builder(id_a)
        .config(config())
        .node(Arc::new(node_a))
        .build();
    let left = state.federation_left();
    let srv = Server::start(state).await;
    let c = client();
    let url = srv.url("/api/v1/federation/leave");

    let mut ws = ws_connect(&srv, None).await;
    ws.send(Message::Text(
        json!({"subscribe": ["peers"]}).to_string().into(),
    ))
    .await
    .unwrap();

    refused_without_the_token(|| c.post(&url)).await;
    // Still a member: the refusals changed nothing.
    assert_eq!(state_of(&node_b, &node_id), Some(MemberState::Alive));
    let st: Value = srv.get_json("/api/v1/status").await;
    assert_eq!(st["federation"]["running"], true);

    let res = c.post(&url).bearer_auth(TOKEN).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body, json!({"node_id": node_id, "left": true}));
    // A graceful leave: the peer is told (left, not down after probing).
    assert!(
        until(Duration::from_secs(10), || state_of(&node_b, &node_id)
            == Some(MemberState::Left))
        .await,
        "{:?}",
        node_b.members()
    );
    tokio::time::timeout(Duration::from_secs(5), left)
        .await
        .expect("federation_left completes");
    // The WebSocket is told, and the API now runs without a federation. The node's membership
    // events come first (a subscriber is told of every member already alive, as it joined).
    let event = loop {
        let v = next_json(&mut ws, Duration::from_secs(10)).await;
        match v.get("event").and_then(Value::as_str) {
            Some("node_left") => break v,
            Some(other) => assert_eq!(v["topic"], "peers", "an event {other} of another topic"),
            None => {}
        }
    };
    assert_eq!(
        event,
        json!({"topic": "peers", "event": "node_left", "data": {"node_id": node_id, "left": true}})
    );
    for path in ["/api/v1/federation/status", "/api/v1/federation/peers"] {
        let res = srv.get(path).await;
        expect_error(res, 503, "federation_not_running").await;
    }
    let st: Value = srv.get_json("/api/v1/status").await;
    assert_eq!(st["federation"]["running"], false);
    assert_eq!(st["federation"]["membership_size"], 0);
    let res = c.post(&url).bearer_auth(TOKEN).send().await.unwrap();
    expect_error(res, 503, "federation_not_running").await;
    srv.stop().await;
    tokio::task::block_in_place(|| node_b.leave());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leave_with_another_handle_detaches_the_node_until_that_handle_goes() {
    let (id, node) = loopback_node(Vec::new());
    let node = Arc::new(node);
    let state = AppState::builder(id)
        .config(config())
        .node(node.clone())
        .build();
    let srv = Server::start(state).await;
    let res = srv.post_empty("/api/v1/federation/leave").await;
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["left"], false, "{body}");
    // Detached from the API; still running under the other handle, until it goes.
    let res = srv.get("/api/v1/federation/status").await;
    expect_error(res, 503, "federation_not_running").await;
    assert!(node.is_running());
    let node = Arc::try_unwrap(node).expect("the API let go of its handle");
    tokio::task::block_in_place(|| node.leave());
    srv.stop().await;
}

#[tokio::test]
async fn leave_without_a_node_or_a_configured_token() {
    let srv = Server::with_config(config()).await;
    let res = srv.post_empty("/api/v1/federation/leave").await;
    expect_error(res, 503, "federation_not_running").await;
    srv.stop().await;

    let srv = Server::with_config(ServerConfig {
        rate_limit: None,
        ..ServerConfig::default()
    })
    .await;
    let c = client();
    for req in [
        c.post(srv.url("/api/v1/federation/leave")),
        c.get(srv.url("/api/v1/inference/models/loaded")),
        c.post(srv.url("/api/v1/inference/models/unload"))
            .json(&json!({"model": KEY})),
    ] {
        let res = req.bearer_auth(TOKEN).send().await.unwrap();
        expect_error(res, 503, "auth_not_configured").await;
    }
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn loaded_and_unload_follow_the_registry_and_keep_the_pinned_model() {
    let dir = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(pool_server::model(), dir.path().join(format!("{KEY}.gguf")))
        .unwrap();
    let registry = Arc::new(ModelRegistry::open(dir.path()).unwrap());
    let state = AppState::builder(Identity::generate())
        .config(config())
        .registry(registry.clone())
        .build();
    let srv = Server::start(state).await;
    let c = client();
    let loaded_url = srv.url("/api/v1/inference/models/loaded");
    let unload_url = srv.url("/api/v1/inference/models/unload");
    refused_without_the_token(|| c.get(&loaded_url)).await;
    refused_without_the_token(|| c.post(&unload_url).json(&json!({"model": KEY}))).await;

    let loaded = || async {
        let res = c.get(&loaded_url).bearer_auth(TOKEN).send().await.unwrap();
        assert_eq!(res.status(), 200);
        res.json::<Value>().await.unwrap()
    };
    let unload = |model: &'static str| {
        c.post(&unload_url)
            .bearer_auth(TOKEN)
            .json(&json!({ "model": model }))
            .send()
    };
    assert_eq!(loaded().await, json!({"loaded": []}));
    // Registered, not loaded: nothing to release.
    let res = unload(KEY).await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(
        res.json::<Value>().await.unwrap(),
        json!({"model": KEY, "unloaded": false})
    );

    // Loaded by the registry (as the gateway does when a request needs it).
    let r = registry.clone();
    let engine = tokio::task::spawn_blocking(move || r.load(KEY))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        loaded().await,
        json!({"loaded": [{"key": KEY, "name": engine.info().name, "tier": "edge", "pinned": false}]})
    );
    let models: Value = srv.get_json("/api/v1/inference/models").await;
    assert_eq!(models["models"][0]["loaded"], true);
    assert_eq!(models["models"][0]["pinned"], false);
    drop(engine);

    let res = unload(KEY).await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(
        res.json::<Value>().await.unwrap(),
        json!({"model": KEY, "unloaded": true})
    );
    assert_eq!(registry.loaded().unwrap(), Vec::<String>::new());
    assert_eq!(loaded().await, json!({"loaded": []}));
    expect_error(
        unload("no-such-model").await.unwrap(),
        404,
        "model_not_found",
    )
    .await;
    let res = c
        .post(&unload_url)
        .bearer_auth(TOKEN)
        .json(&json!({"key": KEY}))
        .send()
        .await
        .unwrap();
    expect_error(res, 422, "invalid_request").await;
    srv.stop().await;

    // A pinned engine (the server's configured model, outside the registry): listed as loaded,
    // never unloaded.
    let path = pool_server::model();
    let engine = tokio::task::spawn_blocking(move || Engine::load(path, EngineOptions::default()))
        .await
        .unwrap()
        .unwrap();
    let pinned_key = pool_server::model()
        .file_stem()
        .unwrap()
        .to_string_lossy()
        .into_owned();
    let state = AppState::builder(Identity::generate())
        .config(config())
        .pinned(engine)
        .build();
    let srv = Server::start(state).await;
    let res = c
        .get(srv.url("/api/v1/inference/models/loaded"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["loaded"][0]["key"], pinned_key.as_str(), "{body}");
    assert_eq!(body["loaded"][0]["pinned"], true, "{body}");
    let models: Value = srv.get_json("/api/v1/inference/models").await;
    assert_eq!(models["models"][0]["pinned"], true, "{models}");
    let st: Value = srv.get_json("/api/v1/status").await;
    assert_eq!(st["models_loaded"], json!([pinned_key]));
    srv.post_err(
        "/api/v1/inference/models/unload",
        &json!({ "model": pinned_key }),
        409,
        "model_pinned",
    )
    .await;
    srv.stop().await;
}

#[tokio::test]
async fn the_status_page_is_served_at_the_root_unless_turned_off() {
    let srv = Server::with_config(config()).await;
    let res = srv.get("/").await;
    assert_eq!(res.status(), 200);
    let h = res.headers().clone();
    assert!(h["content-type"].to_str().unwrap().starts_with("text/html"));
    let csp = h["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("default-src 'none'") && csp.contains("connect-src 'self'"));
    let html = res.text().await.unwrap();
    assert!(html.contains("<title>bizra node</title>"));
    assert!(html.contains("/api/v1/ws") && html.contains("/api/v1/pci/envelope/verify"));
    // Nothing fetched from elsewhere, and the token never goes into a URL.
    assert!(
        !html.contains("http://") && !html.contains("https://"),
        "external URL"
    );
    assert!(html.contains("sessionStorage") && !html.contains("localStorage"));
    srv.stop().await;

    let srv = Server::with_config(ServerConfig {
        status_page: false,
        ..config()
    })
    .await;
    let res = srv.get("/").await;
    expect_error(res, 404, "not_found").await;
    srv.stop().await;
}

#[tokio::test]
async fn a_report_tells_an_authentic_refusal_from_a_forgery() {
    let srv = Server::with_config(config()).await;
    let node = Identity::generate();
    // Genuine, but its SNR is below the threshold: the chain stops before its signature gate.
    let env = bizra::Envelope::builder(json!({"output": "Paris"}))
        .snr(0.5)
        .ihsan(0.99)
        .sign(&node)
        .unwrap();
    let genuine: Value = serde_json::from_str(&env.to_json()).unwrap();
    let mut forged = genuine.clone();
    forged["payload"]["output"] = json!("Lyon");
    for (envelope, authentic) in [(genuine, true), (forged, false)] {
        let body = srv
            .post_open_err(
                "/api/v1/pci/envelope/verify",
                &json!({ "envelope": envelope }),
                422,
                "envelope_rejected",
            )
            .await;
        let details = &body["error"]["details"];
        assert_eq!(details["reject_code"], "GATE_SNR", "{body}");
        assert!(
            !details["results"]
                .as_array()
                .unwrap()
                .iter()
                .any(|g| g["name"] == "signature"),
            "{body}"
        );
        assert_eq!(details["signature_verified"], authentic, "{body}");
        let report: Value = srv
            .post_open("/api/v1/gates/check", &json!({ "envelope": envelope }))
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(report["passed"], false);
        assert_eq!(report["signature_verified"], authentic, "{report}");
    }
    // Admitted: the signature gate ran, and says so.
    let env = bizra::Envelope::builder(json!({"output": "Paris"}))
        .snr(0.9)
        .ihsan(0.99)
        .sign(&node)
        .unwrap();
    let res = srv
        .post_open(
            "/api/v1/pci/envelope/verify",
            &json!({ "envelope": serde_json::from_str::<Value>(&env.to_json()).unwrap() }),
        )
        .await;
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["report"]["signature_verified"], true, "{body}");
    srv.stop().await;
}
