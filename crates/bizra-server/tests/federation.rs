//! The federation endpoints and events with real nodes on loopback (the runtime's cluster
//! helpers): membership, consensus decisions, pattern elevations.

#[path = "../../bizra-runtime/tests/cluster/mod.rs"]
mod cluster;
mod support;

use std::sync::Arc;
use std::time::Duration;

use bizra::{Identity, Node, NodeConfig};
use bizra_server::AppState;
use cluster::{eventually, Cluster};
use futures_util::SinkExt;
use serde_json::{json, Value};
use support::{config, expect_error, next_json, ws_connect, Server, Ws};
use tokio_tungstenite::tungstenite::Message;

/// Four validators on loopback; the first is served by the API.
async fn served_cluster() -> (Cluster, Arc<Node>, Server) {
    let mut cluster = Cluster::start(4);
    let node = Arc::new(cluster.nodes[0].take().unwrap());
    let all_alive = eventually(Duration::from_secs(20), || {
        node.members()
            .iter()
            .filter(|m| m.state == bizra::federation::MemberState::Alive)
            .count()
            == 3
    });
    assert!(all_alive, "{:?}", node.members());
    let state = AppState::builder(cluster.ids[0].clone())
        .config(config())
        .node(node.clone())
        .build();
    (cluster, node, Server::start(state).await)
}

async fn get(srv: &Server, path: &str) -> Value {
    let res = srv.get(path).await;
    assert_eq!(res.status(), 200, "{path}");
    res.json().await.unwrap()
}

async fn propose(srv: &Server, body: Value) -> reqwest::Response {
    srv.post("/api/v1/federation/propose", &body).await
}

async fn ws(srv: &Server, topics: &[&str]) -> Ws {
    let mut ws = ws_connect(srv, None).await;
    ws.send(Message::Text(
        json!({ "subscribe": topics }).to_string().into(),
    ))
    .await
    .unwrap();
    let ack = next(&mut ws).await;
    assert!(ack["subscribed"].is_array(), "{ack}");
    ws
}

async fn next(ws: &mut Ws) -> Value {
    next_json(ws, Duration::from_secs(30)).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_and_peers_report_the_live_node() {
    let (mut cluster, node, srv) = served_cluster().await;
    let st = get(&srv, "/api/v1/federation/status").await;
    assert_eq!(st["node_id"], node.node_id());
    assert_eq!(st["addr"], node.advertised_addr().to_string());
    assert_eq!(st["running"], true);
    assert_eq!(st["membership_size"], 4);
    assert_eq!(st["members"]["alive"], 3);
    assert_eq!(st["consensus"]["validator"], true);
    assert_eq!(st["consensus"]["validators"], 4);
    assert_eq!(st["consensus"]["epoch"], 1);
    assert!(st["datagrams_received"].as_u64().unwrap() > 0);

    let peers = get(&srv, "/api/v1/federation/peers").await;
    let mut ids: Vec<String> = peers["peers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["node_id"].as_str().unwrap().to_owned())
        .collect();
    ids.sort();
    let mut expected: Vec<String> = cluster.ids[1..]
        .iter()
        .map(|i| i.node_id().to_owned())
        .collect();
    expected.sort();
    assert_eq!(ids, expected);
    let p = &peers["peers"][0];
    assert_eq!(p["state"], "alive");
    assert_eq!(p["public_key"].as_str().unwrap().len(), 64);

    let status = get(&srv, "/api/v1/status").await;
    assert_eq!(status["node_id"], node.node_id());
    assert_eq!(status["federation"]["running"], true);
    assert_eq!(status["federation"]["membership_size"], 4);
    assert!(status["federation"]["consensus_height"].is_u64());

    // A peer that leaves: a `left` event on the peers topic, and the counts follow.
    let mut events = ws(&srv, &["peers"]).await;
    let leaving = cluster.ids[3].node_id().to_owned();
    let node3 = cluster.nodes[3].take().unwrap();
    tokio::task::block_in_place(|| node3.leave());
    let e = loop {
        let e = next(&mut events).await;
        if e["data"]["node_id"] == leaving.as_str() {
            break e;
        }
    };
    assert_eq!(e["topic"], "peers");
    assert_eq!(e["event"], "left", "{e}");
    let st = get(&srv, "/api/v1/federation/status").await;
    assert_eq!(st["membership_size"], 3);
    assert_eq!(st["members"]["left"], 1);
    let metrics = srv.get("/api/v1/metrics").await.text().await.unwrap();
    assert!(metrics.contains("bizra_federation_members 3"), "{metrics}");
    srv.stop().await;
    drop(node);
    tokio::task::block_in_place(|| drop(cluster));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proposals_are_decided_and_reported_on_the_websocket() {
    let (cluster, node, srv) = served_cluster().await;
    let mut events = ws(&srv, &["consensus", "patterns"]).await;

    // A payload signed by the node: an elevation proposal.
    let res = propose(
        &srv,
        json!({
            "payload": {
                "type": "bizra.proposal",
                "action": "bizra.pattern.elevate",
                "pattern": {"type": "bizra.pattern", "content": "water boils at 100 °C"}
            },
            "snr": 0.9, "ihsan": 0.97, "ttl": 600
        }),
    )
    .await;
    assert_eq!(res.status(), 202);
    let proposed: Value = res.json().await.unwrap();
    assert_eq!(proposed["accepted"], true);
    assert_eq!(proposed["envelope"]["sender"], node.node_id());
    let id = proposed["envelope_id"].as_str().unwrap().to_owned();

    // Decided: the consensus event names it, and the pattern event follows.
    let decided = loop {
        let e = next(&mut events).await;
        if e["topic"] == "consensus"
            && e["data"]["proposals"]
                .as_array()
                .unwrap()
                .iter()
                .any(|p| p == id.as_str())
        {
            break e;
        }
    };
    assert_eq!(decided["event"], "decided");
    let height = decided["data"]["height"].as_u64().unwrap();
    assert!(decided["data"]["signatures"].as_u64().unwrap() >= 3);
    let elevated = next(&mut events).await;
    assert_eq!(elevated["topic"], "patterns", "{elevated}");
    assert_eq!(elevated["event"], "elevated");
    assert_eq!(elevated["data"]["proposal_id"], id.as_str());
    assert_eq!(elevated["data"]["height"], height);
    assert_eq!(
        elevated["data"]["pattern"]["content"],
        "water boils at 100 °C"
    );
    // The certificate is the node's, verifiable against the federation document.
    let (certificate, batch) = node.decided(height).unwrap().unwrap();
    certificate.verify_batch(&batch, &cluster.doc).unwrap();
    let st = get(&srv, "/api/v1/federation/status").await;
    assert!(st["consensus"]["decided"].as_u64().unwrap() >= height);

    // An envelope signed elsewhere, submitted as it is; again: already pooled or decided.
    let other = cluster::proposal(&cluster.ids[1], 7);
    let res = propose(&srv, json!({"envelope": other.to_json()})).await;
    assert_eq!(res.status(), 202);
    let first: Value = res.json().await.unwrap();
    assert_eq!(first["envelope_id"], other.id());

    // Refusals.
    let res = propose(&srv, json!({"payload": {"type": "bizra.note"}})).await;
    expect_error(res, 400, "invalid_input").await;
    let res = propose(
        &srv,
        json!({"payload": {"type": "bizra.proposal"}, "envelope": {}}),
    )
    .await;
    expect_error(res, 400, "invalid_input").await;
    // Scores under the federation's constitution: its gates refuse it, with the code.
    let res = propose(
        &srv,
        json!({"payload": {"type": "bizra.proposal", "n": 1}, "snr": 0.2, "ihsan": 0.97}),
    )
    .await;
    let body = expect_error(res, 422, "envelope_rejected").await;
    assert_eq!(body["error"]["reject_code"], "GATE_SNR");
    srv.stop().await;
    drop(node);
    tokio::task::block_in_place(|| drop(cluster));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_without_consensus_reports_membership_only() {
    let id = Arc::new(Identity::generate());
    let node = Arc::new(
        Node::start(
            id.clone(),
            NodeConfig {
                bind: "127.0.0.1:0".parse().unwrap(),
                ..NodeConfig::default()
            },
        )
        .unwrap(),
    );
    let state = AppState::builder(id)
        .config(config())
        .node(node.clone())
        .build();
    let srv = Server::start(state).await;
    let st = get(&srv, "/api/v1/federation/status").await;
    assert_eq!(st["consensus"], Value::Null);
    assert_eq!(st["membership_size"], 1);
    assert_eq!(
        get(&srv, "/api/v1/federation/peers").await,
        json!({"peers": []})
    );
    let res = propose(
        &srv,
        json!({"payload": {"type": "bizra.proposal"}, "snr": 0.9, "ihsan": 0.97}),
    )
    .await;
    expect_error(res, 503, "consensus_not_running").await;
    srv.stop().await;
}
