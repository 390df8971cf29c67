//! The OpenAPI document: served, 3.1, complete, and the same as the committed
//! `crates/bizra-server/openapi.json` (`BIZRA_UPDATE_OPENAPI=1` rewrites that file).

mod support;

use serde_json::Value;
use support::{config, Server};

const COMMITTED: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/openapi.json");

#[tokio::test]
async fn the_served_document_is_the_committed_one() {
    let srv = Server::with_config(config()).await;
    let res = srv.get("/api/v1/openapi.json").await;
    assert_eq!(res.status(), 200);
    assert!(res.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("application/json"));
    let served = res.text().await.unwrap();
    assert_eq!(served, bizra_server::openapi_json());
    srv.stop().await;

    let doc: Value = serde_json::from_str(&served).unwrap();
    assert_eq!(doc["openapi"], "3.1.0");
    assert_eq!(doc["info"]["version"], bizra::VERSION);
    let paths = doc["paths"].as_object().unwrap();
    for p in [
        "/api/v1/health",
        "/api/v1/status",
        "/api/v1/metrics",
        "/api/v1/identity/generate",
        "/api/v1/identity/sign",
        "/api/v1/identity/verify",
        "/api/v1/pci/envelope/create",
        "/api/v1/pci/envelope/verify",
        "/api/v1/gates/check",
        "/api/v1/inference/generate",
        "/api/v1/inference/models",
        "/api/v1/inference/tier",
        "/api/v1/federation/status",
        "/api/v1/federation/peers",
        "/api/v1/federation/propose",
        "/api/v1/constitution",
        "/api/v1/constitution/check",
        "/api/v1/ws",
        "/v1/chat/completions",
        "/v1/models",
    ] {
        assert!(paths.contains_key(p), "{p} is not documented");
    }
    // The protected endpoints say so.
    for (p, method) in [
        ("/api/v1/identity/generate", "post"),
        ("/api/v1/identity/sign", "post"),
        ("/api/v1/pci/envelope/create", "post"),
        ("/api/v1/inference/generate", "post"),
        ("/api/v1/federation/propose", "post"),
        ("/v1/chat/completions", "post"),
    ] {
        assert_eq!(
            paths[p][method]["security"][0]["bearer"],
            serde_json::json!([]),
            "{p}"
        );
    }
    assert!(doc["components"]["schemas"]["ErrorBody"].is_object());

    if std::env::var_os("BIZRA_UPDATE_OPENAPI").is_some_and(|v| v == "1") {
        std::fs::write(COMMITTED, &served).unwrap();
        return;
    }
    let committed = std::fs::read_to_string(COMMITTED).unwrap_or_default();
    assert!(
        committed == served,
        "crates/bizra-server/openapi.json differs from the served document: review the change, \
         then run `BIZRA_UPDATE_OPENAPI=1 cargo test --release -p bizra-server --test openapi` \
         (or `make openapi`) and commit the file"
    );
}
