//! The API without a model or a node: real HTTP over loopback.

mod support;

use std::sync::Arc;
use std::time::Duration;

use bizra::{Envelope, GateChain, Identity, VerifyOptions};
use bizra_server::{AppState, RateLimit, ServerConfig};
use serde_json::{json, Value};
use support::{client, config, expect_error, Server, TOKEN};

fn state(config: ServerConfig) -> AppState {
    AppState::builder(Identity::generate())
        .config(config)
        .build()
}

async fn server() -> Server {
    Server::with_config(config()).await
}

/// Every endpoint that signs with the node's key or spends compute, with a body that passes
/// validation.
fn protected() -> Vec<(&'static str, Value)> {
    vec![
        ("/api/v1/identity/generate", json!({})),
        ("/api/v1/identity/sign", json!({"message": "hello"})),
        ("/api/v1/pci/envelope/create", json!({"payload": {"a": 1}})),
        (
            "/api/v1/inference/generate",
            json!({"prompt": "hi", "max_tokens": 1}),
        ),
        (
            "/api/v1/federation/propose",
            json!({"payload": {"type": "bizra.proposal"}, "snr": 0.9, "ihsan": 0.97}),
        ),
        ("/api/v1/federation/leave", json!({})),
        (
            "/api/v1/inference/models/unload",
            json!({"model": "smollm"}),
        ),
        (
            "/v1/chat/completions",
            json!({"model": "bizra", "messages": [{"role": "user", "content": "hi"}]}),
        ),
    ]
}

/// What an authorised request gets here, where the server has no key file, gateway or node: the
/// request got past authentication (and each of these is tested for real elsewhere).
fn past_auth(path: &str) -> (u16, &'static str) {
    match path {
        "/api/v1/identity/generate" => (503, "key_file_not_configured"),
        "/api/v1/identity/sign" => (200, ""),
        "/api/v1/pci/envelope/create" => (201, ""),
        "/api/v1/inference/generate" | "/v1/chat/completions" => (503, "inference_unavailable"),
        "/api/v1/federation/propose" | "/api/v1/federation/leave" => {
            (503, "federation_not_running")
        }
        "/api/v1/inference/models/unload" => (404, "model_not_found"),
        other => panic!("{other}"),
    }
}

#[tokio::test]
async fn protected_endpoints_refuse_without_the_token_and_fail_closed_without_one() {
    let srv = server().await;
    let c = client();
    for (path, body) in protected() {
        // No token.
        let b = srv.post_open_err(path, &body, 401, "unauthorized").await;
        assert!(!b.to_string().contains("signature"), "{path}: {b}");
        // A wrong one, and the right one with a wrong scheme.
        for auth in [
            "Bearer wrong-token".to_owned(),
            format!("Bearer {TOKEN}x"),
            format!("Basic {TOKEN}"),
            TOKEN.to_owned(),
        ] {
            let res = c
                .post(srv.url(path))
                .header("authorization", auth)
                .json(&body)
                .send()
                .await
                .unwrap();
            expect_error(res, 401, "unauthorized").await;
        }
        // The right one.
        let res = srv.post(path, &body).await;
        let (status, code) = past_auth(path);
        if code.is_empty() {
            assert_eq!(res.status().as_u16(), status, "{path}");
        } else {
            expect_error(res, status, code).await;
        }
    }
    // Nothing was signed for the unauthenticated callers: no generation, no envelope counted.
    let metrics = srv.get("/api/v1/metrics").await.text().await.unwrap();
    assert!(
        metrics.contains("bizra_inference_generations_total 0"),
        "{metrics}"
    );
    srv.stop().await;

    // No token configured: every protected endpoint refuses everyone, even a caller that
    // sends one; the open endpoints still answer.
    for token in [None, Some(String::new())] {
        let srv = Server::start(state(ServerConfig {
            token,
            rate_limit: None,
            ..ServerConfig::default()
        }))
        .await;
        for (path, body) in protected() {
            for auth in [None, Some(TOKEN)] {
                let mut req = c.post(srv.url(path)).json(&body);
                if let Some(t) = auth {
                    req = req.bearer_auth(t);
                }
                expect_error(req.send().await.unwrap(), 503, "auth_not_configured").await;
            }
        }
        let res = srv.get("/api/v1/health").await;
        assert_eq!(res.status(), 200);
        srv.stop().await;
    }
}

#[tokio::test]
async fn open_endpoints_answer_without_a_token() {
    let srv = server().await;
    let health: Value = srv.get_json("/api/v1/health").await;
    assert_eq!(health["status"], "ok");
    assert_eq!(health["version"], bizra::VERSION);

    let status: Value = srv.get_json("/api/v1/status").await;
    let id = srv.state.identity();
    assert_eq!(status["node_id"], id.node_id());
    assert_eq!(status["public_key"], id.public_key_hex());
    assert_eq!(status["inference"], false);
    assert_eq!(status["federation"]["running"], false);
    assert_eq!(status["federation"]["membership_size"], 0);
    assert_eq!(status["federation"]["consensus_height"], Value::Null);
    assert!(status["uptime_seconds"].as_f64().unwrap() >= 0.0);
    assert_eq!(
        status["constitution_hash"],
        bizra::Constitution::default().hash_hex()
    );

    let models: Value = srv.get_json("/api/v1/inference/models").await;
    assert_eq!(models, json!({"models": []}));
    let models: Value = srv.get_json("/v1/models").await;
    assert_eq!(models, json!({"object": "list", "data": []}));

    for path in ["/api/v1/federation/status", "/api/v1/federation/peers"] {
        let res = srv.get(path).await;
        expect_error(res, 503, "federation_not_running").await;
    }
    srv.stop().await;
}

#[tokio::test]
async fn identity_sign_and_verify() {
    let srv = server().await;
    let c = client();
    let signed: Value = srv
        .post("/api/v1/identity/sign", &json!({"message": "hello bizra"}))
        .await
        .json()
        .await
        .unwrap();
    let id = srv.state.identity();
    assert_eq!(signed["public_key"], id.public_key_hex());
    assert_eq!(signed["node_id"], id.node_id());
    let sig = signed["signature"].as_str().unwrap();
    assert_eq!(sig.len(), 128);
    // The library agrees.
    let sig_bytes: Vec<u8> = (0..64)
        .map(|i| u8::from_str_radix(&sig[2 * i..2 * i + 2], 16).unwrap())
        .collect();
    assert!(bizra::verify_message(
        id.public_key(),
        b"hello bizra",
        &sig_bytes
    ));

    let verify = |body: Value| {
        let c = c.clone();
        let url = srv.url("/api/v1/identity/verify");
        async move { c.post(url).json(&body).send().await.unwrap() }
    };
    let ok: Value = verify(json!({"message": "hello bizra", "signature": sig}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(ok["valid"], true);
    assert_eq!(ok["public_key"], id.public_key_hex());
    // Hex bytes of the same message, under an explicit key.
    let hex: String = b"hello bizra".iter().map(|b| format!("{b:02x}")).collect();
    let ok: Value =
        verify(json!({"message_hex": hex, "signature": sig, "public_key": id.public_key_hex()}))
            .await
            .json()
            .await
            .unwrap();
    assert_eq!(ok["valid"], true);
    // Another message, another key.
    let bad: Value = verify(json!({"message": "hello bizrA", "signature": sig}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(bad["valid"], false);
    let other = Identity::generate();
    let bad: Value = verify(
        json!({"message": "hello bizra", "signature": sig, "public_key": other.public_key_hex()}),
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(bad["valid"], false);
    // Bad input.
    expect_error(
        verify(json!({"message": "x", "signature": "zz"})).await,
        400,
        "invalid_input",
    )
    .await;
    expect_error(
        verify(json!({"signature": sig})).await,
        400,
        "invalid_input",
    )
    .await;
    expect_error(
        verify(json!({"message": "x", "message_hex": "00", "signature": sig})).await,
        400,
        "invalid_input",
    )
    .await;
    srv.post_err(
        "/api/v1/identity/sign",
        &json!({"message_hex": "abc"}),
        400,
        "invalid_input",
    )
    .await;
    srv.stop().await;
}

#[tokio::test]
async fn identity_generate_rotates_the_key_file_durably() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("node.key");
    let first = Identity::generate();
    first.save(&key, Some("pass phrase")).unwrap();
    let state = AppState::builder(Identity::load(&key, Some("pass phrase")).unwrap())
        .config(config())
        .key_file(&key, Some("pass phrase".into()))
        .build();
    let srv = Server::start(state).await;
    let c = client();
    let rotate = || async {
        let res = c
            .post(srv.url("/api/v1/identity/generate"))
            .bearer_auth(TOKEN)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        res.json::<Value>().await.unwrap()
    };
    let r1 = rotate().await;
    assert_eq!(r1["previous_node_id"], first.node_id());
    assert_ne!(r1["node_id"], first.node_id());
    // The new key is on disk, encrypted under the passphrase, and in use.
    let on_disk = Identity::load(&key, Some("pass phrase")).unwrap();
    assert_eq!(on_disk.node_id(), r1["node_id"].as_str().unwrap());
    assert!(
        Identity::load(&key, None).is_err(),
        "the new key file is encrypted"
    );
    assert_eq!(srv.state.identity().node_id(), on_disk.node_id());
    let status: Value = srv.get_json("/api/v1/status").await;
    assert_eq!(status["node_id"], on_disk.node_id());
    // The old key is kept beside it.
    let old = dir.path().join(r1["old_key_file"].as_str().unwrap());
    let name = old.file_name().unwrap().to_str().unwrap().to_owned();
    assert!(
        name.starts_with("node.key.") && name.ends_with(".old"),
        "{name}"
    );
    assert_eq!(
        Identity::load(&old, Some("pass phrase")).unwrap().node_id(),
        first.node_id()
    );

    // Signing now uses the new key.
    let signed: Value = srv
        .post("/api/v1/identity/sign", &json!({"message": "m"}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(signed["node_id"], on_disk.node_id());

    // Twice more: no kept key is overwritten.
    let r2 = rotate().await;
    let r3 = rotate().await;
    assert_eq!(r2["previous_node_id"], r1["node_id"]);
    assert_eq!(r3["previous_node_id"], r2["node_id"]);
    let kept: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with(".old"))
        .collect();
    assert_eq!(kept.len(), 3, "{kept:?}");
    let old2 = dir.path().join(r3["old_key_file"].as_str().unwrap());
    assert_eq!(
        Identity::load(&old2, Some("pass phrase"))
            .unwrap()
            .node_id(),
        r2["node_id"].as_str().unwrap()
    );
    srv.stop().await;
}

#[tokio::test]
async fn identity_generate_that_cannot_write_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    // The key file's path is a directory: the old key cannot be kept, nothing is written.
    let key = dir.path().join("node.key");
    std::fs::create_dir(&key).unwrap();
    let id = Identity::generate();
    let node_id = id.node_id().to_owned();
    let state = AppState::builder(id)
        .config(config())
        .key_file(&key, None)
        .build();
    let srv = Server::start(state).await;
    let res = srv.post_empty("/api/v1/identity/generate").await;
    expect_error(res, 500, "io_error").await;
    assert_eq!(srv.state.identity().node_id(), node_id);
    srv.stop().await;
}

async fn create(srv: &Server, body: Value) -> reqwest::Response {
    srv.post("/api/v1/pci/envelope/create", &body).await
}

#[tokio::test]
async fn envelopes_are_created_verified_and_refused_with_their_reject_code() {
    let srv = server().await;
    let c = client();
    let res = create(
        &srv,
        json!({"payload": {"answer": 4}, "snr": 0.93, "ihsan": 0.97, "ttl": 600}),
    )
    .await;
    assert_eq!(res.status(), 201);
    let env = res.json::<Value>().await.unwrap()["envelope"].clone();
    // A real envelope, signed by the node.
    let parsed = Envelope::from_value(env.clone()).unwrap();
    parsed.verify(&VerifyOptions::default()).unwrap();
    assert_eq!(parsed.sender(), srv.state.identity().node_id());
    assert_eq!(parsed.ttl(), 600);
    assert!(GateChain::default().check(&parsed).passed);

    let verify = |body: Value| {
        let c = c.clone();
        let url = srv.url("/api/v1/pci/envelope/verify");
        async move { c.post(url).json(&body).send().await.unwrap() }
    };
    let ok: Value = verify(json!({"envelope": env})).await.json().await.unwrap();
    assert_eq!(ok["valid"], true);
    assert_eq!(ok["id"], parsed.id());
    assert_eq!(ok["report"]["passed"], true);
    // As JSON text too; verification is not admission: the same envelope verifies again.
    let ok: Value = verify(json!({"envelope": parsed.to_json()}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(ok["valid"], true);

    // Scores below the constitution: refused by the SNR gate, 422 with its reject code.
    let low = create(
        &srv,
        json!({"payload": {"answer": 5}, "snr": 0.5, "ihsan": 0.97}),
    )
    .await;
    let low = low.json::<Value>().await.unwrap()["envelope"].clone();
    let body = expect_error(
        verify(json!({"envelope": low})).await,
        422,
        "envelope_rejected",
    )
    .await;
    assert_eq!(body["error"]["reject_code"], "GATE_SNR");
    assert_eq!(body["error"]["reject_number"], 23);
    assert_eq!(body["error"]["details"]["passed"], false);
    // No scores at all: fail-closed.
    let none = create(&srv, json!({"payload": {"x": 1}}))
        .await
        .json::<Value>()
        .await
        .unwrap()["envelope"]
        .clone();
    let body = expect_error(
        verify(json!({"envelope": none})).await,
        422,
        "envelope_rejected",
    )
    .await;
    assert!(
        body["error"]["reject_code"]
            .as_str()
            .unwrap()
            .starts_with("GATE_"),
        "{body}"
    );

    // A payload changed after signing: the content hash no longer holds.
    let mut tampered = env.clone();
    tampered["payload"]["answer"] = json!(5);
    let body = expect_error(
        verify(json!({"envelope": tampered})).await,
        422,
        "envelope_rejected",
    )
    .await;
    assert_eq!(body["error"]["reject_code"], "HASH_MISMATCH");
    // A forged signature.
    let mut forged = env.clone();
    let sig = forged["signature"].as_str().unwrap().to_owned();
    let (first, rest) = sig.split_at(1);
    let flipped = format!("{}{rest}", if first == "0" { "1" } else { "0" });
    forged["signature"] = json!(flipped);
    let body = expect_error(
        verify(json!({"envelope": forged})).await,
        422,
        "envelope_rejected",
    )
    .await;
    assert!(
        ["GATE_SIGNATURE", "SIGNATURE"].contains(&body["error"]["reject_code"].as_str().unwrap()),
        "{body}"
    );
    // Not an envelope: its schema reject code.
    let body = expect_error(
        verify(json!({"envelope": {"id": "x"}})).await,
        422,
        "envelope_rejected",
    )
    .await;
    assert!(body["error"]["reject_code"].is_string(), "{body}");
    let body = expect_error(
        verify(json!({"envelope": "not json"})).await,
        422,
        "envelope_rejected",
    )
    .await;
    assert_eq!(body["error"]["reject_code"], "SCHEMA");

    // Bad creation requests.
    expect_error(
        create(&srv, json!({"payload": {"a": 1}, "snr": 1.5})).await,
        400,
        "invalid_input",
    )
    .await;
    expect_error(
        create(&srv, json!({"payload": {"a": 1}, "ttl": 0})).await,
        400,
        "invalid_input",
    )
    .await;
    expect_error(
        create(&srv, json!({"payload": {"a": 1}, "surprise": 1})).await,
        422,
        "invalid_request",
    )
    .await;

    // The gates' report, admitted or not, and the refusals counted by code.
    let report: Value = srv
        .post_open("/api/v1/gates/check", &json!({"envelope": env}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(report["passed"], true);
    let names: Vec<&str> = report["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert!(
        names.contains(&"signature") && names.contains(&"snr"),
        "{names:?}"
    );
    let res = srv
        .post_open("/api/v1/gates/check", &json!({"envelope": low}))
        .await;
    assert_eq!(res.status(), 200);
    let report: Value = res.json().await.unwrap();
    assert_eq!(report["passed"], false);
    assert_eq!(report["reject_code"], "GATE_SNR");
    srv.post_open_err(
        "/api/v1/gates/check",
        &json!({"envelope": 7}),
        422,
        "envelope_rejected",
    )
    .await;

    let metrics = srv.get("/api/v1/metrics").await.text().await.unwrap();
    assert!(
        metrics.contains("bizra_gate_refusals_total{code=\"GATE_SNR\"} 3"),
        "{metrics}"
    );
    assert!(
        metrics.contains("bizra_gate_refusals_total{code=\"HASH_MISMATCH\"} 1"),
        "{metrics}"
    );
    srv.stop().await;
}

#[tokio::test]
async fn constitution_and_its_check() {
    let srv = server().await;
    let c = client();
    let con: Value = srv.get_json("/api/v1/constitution").await;
    let d = bizra::Constitution::default();
    assert_eq!(con["hash"], d.hash_hex());
    assert_eq!(con["version"], d.version());
    assert_eq!(con["snr_threshold"], d.snr_threshold());
    assert_eq!(con["ihsan_minimum"], d.ihsan_minimum());
    assert_eq!(con["quorum_rule"], "floor(2n/3)+1");
    assert_eq!(con["rules"].as_array().unwrap().len(), d.rules().len());
    assert!(con["gates"]
        .as_array()
        .unwrap()
        .iter()
        .any(|g| g == "signature"));

    let check = |body: Value| {
        let c = c.clone();
        let url = srv.url("/api/v1/constitution/check");
        async move { c.post(url).json(&body).send().await.unwrap() }
    };
    let good: Value = check(json!({"snr": 0.9, "ihsan": 0.96, "has_signature": true}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(good["compliant"], true, "{good}");
    let bad: Value = check(json!({"snr": 0.5, "ihsan": 0.96, "has_signature": true}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(bad["compliant"], false);
    assert!(bad["rules"]
        .as_array()
        .unwrap()
        .iter()
        .any(|r| r["passed"] == false && r["value"] == 0.5));

    // An envelope: its own facts.
    let env = create(
        &srv,
        json!({"payload": {"q": 1}, "snr": 0.9, "ihsan": 0.96}),
    )
    .await
    .json::<Value>()
    .await
    .unwrap()["envelope"]
        .clone();
    let r: Value = check(json!({"envelope": env})).await.json().await.unwrap();
    assert_eq!(r["compliant"], true, "{r}");
    let mut tampered = env.clone();
    tampered["payload"]["q"] = json!(2);
    let r: Value = check(json!({"envelope": tampered}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        r["compliant"], false,
        "a broken signature is not compliant: {r}"
    );
    expect_error(
        check(json!({"envelope": env, "snr": 0.9})).await,
        400,
        "invalid_input",
    )
    .await;
    srv.stop().await;
}

#[tokio::test]
async fn tier_selection() {
    let srv = server().await;
    let c = client();
    let tier = |body: Value| {
        let c = c.clone();
        let url = srv.url("/api/v1/inference/tier");
        async move { c.post(url).json(&body).send().await.unwrap() }
    };
    let t: Value = tier(json!({"prompt": "What is 2 + 2?"}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(t["tier"], "edge");
    assert_eq!(t["complexity"], "simple");
    assert_eq!(t["forced"], false);
    let t: Value = tier(json!({"prompt": "Please explain this code"}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(t["tier"], "local");
    let t: Value = tier(json!({"prompt": "hi", "max_tokens": 4000}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(t["tier"], "pool");
    let t: Value = tier(json!({"prompt": "hi", "tier": "pool"}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(t["tier"], "pool");
    assert_eq!(t["forced"], true);
    expect_error(
        tier(json!({"prompt": "hi", "tier": "huge"})).await,
        400,
        "invalid_input",
    )
    .await;
    srv.stop().await;
}

#[tokio::test]
async fn malformed_requests_get_the_error_shape() {
    let srv = server().await;
    let c = client();
    let url = srv.url("/api/v1/pci/envelope/verify");
    // Malformed JSON.
    let res = c
        .post(&url)
        .header("content-type", "application/json")
        .body("{\"envelope\": ")
        .send()
        .await
        .unwrap();
    expect_error(res, 400, "malformed_json").await;
    // Wrong content type.
    let res = c
        .post(&url)
        .header("content-type", "text/plain")
        .body("{}")
        .send()
        .await
        .unwrap();
    expect_error(res, 415, "unsupported_media_type").await;
    let res = c.post(&url).body("{}").send().await.unwrap();
    expect_error(res, 415, "unsupported_media_type").await;
    // A missing member, a mistyped one, an unknown one.
    let res = c.post(&url).json(&json!({})).send().await.unwrap();
    expect_error(res, 422, "invalid_request").await;
    srv.post_open_err(
        "/api/v1/inference/tier",
        &json!({"prompt": 5}),
        422,
        "invalid_request",
    )
    .await;
    srv.post_open_err(
        "/api/v1/identity/verify",
        &json!({"signature": "00", "extra": 1}),
        422,
        "invalid_request",
    )
    .await;
    // Malformed JSON on a protected endpoint, authorised.
    let res = c
        .post(srv.url("/api/v1/identity/sign"))
        .bearer_auth(TOKEN)
        .header("content-type", "application/json")
        .body("[")
        .send()
        .await
        .unwrap();
    expect_error(res, 400, "malformed_json").await;
    // Unknown path, wrong method.
    expect_error(srv.get("/api/v1/nothing").await, 404, "not_found").await;
    expect_error(srv.get("/nothing").await, 404, "not_found").await;
    // `/` is the status page (GET only).
    expect_error(
        c.post(srv.url("/")).send().await.unwrap(),
        405,
        "method_not_allowed",
    )
    .await;
    expect_error(
        srv.get("/api/v1/identity/sign").await,
        405,
        "method_not_allowed",
    )
    .await;
    expect_error(
        c.post(srv.url("/api/v1/health")).send().await.unwrap(),
        405,
        "method_not_allowed",
    )
    .await;
    // A WebSocket endpoint asked without an upgrade.
    expect_error(
        srv.get("/api/v1/ws").await,
        400,
        "websocket_upgrade_required",
    )
    .await;
    srv.stop().await;
}

#[tokio::test]
async fn bodies_over_the_limit_are_413_in_the_shape() {
    let srv = Server::start(state(ServerConfig {
        body_limit: 1024,
        ..config()
    }))
    .await;
    let c = client();
    let big = json!({"envelope": "x".repeat(4096)});
    // With a Content-Length (refused before the body is read) ...
    srv.post_open_err(
        "/api/v1/pci/envelope/verify",
        &big,
        413,
        "payload_too_large",
    )
    .await;
    // ... and streamed without one (refused while reading).
    let bytes = serde_json::to_vec(&big).unwrap();
    let stream = futures_util::stream::iter(
        bytes
            .chunks(256)
            .map(|c| Ok::<_, std::io::Error>(c.to_vec()))
            .collect::<Vec<_>>(),
    );
    let res = c
        .post(srv.url("/api/v1/pci/envelope/verify"))
        .header("content-type", "application/json")
        .body(reqwest::Body::wrap_stream(stream))
        .send()
        .await
        .unwrap();
    expect_error(res, 413, "payload_too_large").await;
    // Under the limit: fine.
    let res = srv
        .post_open("/api/v1/inference/tier", &json!({"prompt": "hi"}))
        .await;
    assert_eq!(res.status(), 200);
    srv.stop().await;
}

#[tokio::test]
async fn clients_over_their_rate_get_429_with_retry_after() {
    let srv = Server::start(state(ServerConfig {
        rate_limit: Some(RateLimit {
            per_second: 1,
            burst: 3,
        }),
        ..config()
    }))
    .await;
    for _ in 0..3 {
        let res = srv.get("/api/v1/health").await;
        assert_eq!(res.status(), 200);
    }
    let res = srv.get("/api/v1/health").await;
    let retry: u64 = res
        .headers()
        .get("retry-after")
        .expect("Retry-After")
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=2).contains(&retry), "{retry}");
    expect_error(res, 429, "rate_limited").await;
    // Protected endpoints are limited too (before authentication).
    srv.post_open_err(
        "/api/v1/identity/sign",
        &json!({"message": "m"}),
        429,
        "rate_limited",
    )
    .await;
    // After the wait the client is served again.
    tokio::time::sleep(Duration::from_secs(retry)).await;
    let res = srv.get("/api/v1/health").await;
    assert_eq!(res.status(), 200);
    srv.stop().await;
}

#[tokio::test]
async fn metrics_count_requests_by_route() {
    let srv = server().await;
    for _ in 0..3 {
        srv.get("/api/v1/health").await;
    }
    srv.get("/api/v1/nowhere").await;
    let res = srv.get("/api/v1/metrics").await;
    assert!(res.headers()["content-type"]
        .to_str()
        .unwrap()
        .contains("openmetrics-text"));
    let text = res.text().await.unwrap();
    assert!(
        text.contains(
            "bizra_http_requests_total{route=\"/api/v1/health\",method=\"GET\",status=\"200\"} 3"
        ),
        "{text}"
    );
    assert!(
        text.contains("route=\"unmatched\",method=\"GET\",status=\"404\"} 1"),
        "{text}"
    );
    assert!(
        text.contains(
            "bizra_http_request_duration_seconds_count{route=\"/api/v1/health\",method=\"GET\"} 3"
        ),
        "{text}"
    );
    for name in [
        "bizra_inference_tokens_total{kind=\"completion\"} 0",
        "bizra_federation_members 0",
        "bizra_consensus_height 0",
        "bizra_inference_generations_total 0",
    ] {
        assert!(text.contains(name), "{name} missing:\n{text}");
    }
    assert!(text.trim_end().ends_with("# EOF"));
    srv.stop().await;
}

#[tokio::test]
async fn cors_allows_the_configured_origins_only() {
    let srv = Server::start(state(ServerConfig {
        cors_origins: vec!["http://app.example".into()],
        ..config()
    }))
    .await;
    let c = client();
    let res = c
        .request(reqwest::Method::OPTIONS, srv.url("/api/v1/identity/sign"))
        .header("origin", "http://app.example")
        .header("access-control-request-method", "POST")
        .header(
            "access-control-request-headers",
            "authorization,content-type",
        )
        .send()
        .await
        .unwrap();
    assert_eq!(
        res.headers()["access-control-allow-origin"],
        "http://app.example"
    );
    let res = c
        .get(srv.url("/api/v1/health"))
        .header("origin", "http://evil.example")
        .send()
        .await
        .unwrap();
    assert!(res.headers().get("access-control-allow-origin").is_none());
    srv.stop().await;
}

#[tokio::test]
async fn responses_are_compressed_when_asked() {
    let srv = server().await;
    let res = client()
        .get(srv.url("/api/v1/openapi.json"))
        .header("accept-encoding", "gzip")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-encoding"], "gzip");
    srv.stop().await;
}

#[tokio::test]
async fn the_router_mounts_into_another_app() {
    // An application's own routes beside bizra's, served by the application.
    let state = state(config());
    let app = axum::Router::new()
        .route("/mine", axum::routing::get(|| async { "my app" }))
        .merge(bizra_server::router(state));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(async move { axum::serve(listener, app).await });
    let c = client();
    let mine = c
        .get(format!("http://{addr}/mine"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(mine, "my app");
    let h: Value = c
        .get(format!("http://{addr}/api/v1/health"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(h["status"], "ok");
    task.abort();
}

#[tokio::test]
async fn the_gate_chain_given_is_the_one_applied() {
    // A chain under a stricter constitution refuses what the default admits.
    let strict = bizra::Constitution::from_json(
        &std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../tests/vectors/constitution-v1.json"
        ))
        .unwrap()
        .replace("0.85", "0.99"),
    )
    .unwrap();
    let chain = Arc::new(GateChain::from_constitution(Arc::new(strict.clone())));
    let srv = Server::start(
        AppState::builder(Identity::generate())
            .config(config())
            .gates(chain)
            .build(),
    )
    .await;
    let con: Value = srv.get_json("/api/v1/constitution").await;
    assert_eq!(con["hash"], strict.hash_hex());
    assert_eq!(con["snr_threshold"], 0.99);
    let env = create(
        &srv,
        json!({"payload": {"a": 1}, "snr": 0.9, "ihsan": 0.97}),
    )
    .await
    .json::<Value>()
    .await
    .unwrap()["envelope"]
        .clone();
    // Signed under the server's constitution.
    assert_eq!(env["policy"], strict.hash_hex());
    let body = srv
        .post_open_err(
            "/api/v1/pci/envelope/verify",
            &json!({"envelope": env}),
            422,
            "envelope_rejected",
        )
        .await;
    assert_eq!(body["error"]["reject_code"], "GATE_SNR");
    srv.stop().await;
}
