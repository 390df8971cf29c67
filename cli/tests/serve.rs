//! `bizra serve`, `bizra join`, `bizra status` and `bizra federation ...` as subprocesses: a
//! real server on loopback asked by the client commands, and three nodes joining on loopback.

mod support;

use serde_json::Value;
use support::Bizra;

/// Starts `bizra --json <command> --bind 127.0.0.1:0 ...` and returns it with its API's URL.
fn start(b: &Bizra, args: &[&str]) -> (support::Running, String) {
    let mut all = vec!["--json"];
    all.extend_from_slice(args);
    all.extend_from_slice(&["--bind", "127.0.0.1:0"]);
    let mut p = b.spawn(&all);
    let url = p.wait_json(120, |v| v["event"] == "listening")["url"]
        .as_str()
        .unwrap()
        .to_owned();
    (p, url)
}

#[test]
fn serve_is_asked_by_status_and_refuses_what_it_cannot_do() {
    let mut b = Bizra::init();
    let node_id = b.run(&["--json", "identity", "show"]).json()["node_id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(b.home().join("api.token").is_file());
    // Nothing listens yet: a network error.
    b.run(&["status", "--url", "http://127.0.0.1:9"])
        .code(7)
        .one_line_error(&["bizra serve"]);

    let (mut server, url) = start(&b, &["serve"]);
    let status = b.run(&["--json", "status", "--url", &url]);
    status.ok();
    let s = status.json();
    assert_eq!(s["node_id"], Value::from(node_id.clone()));
    assert_eq!(s["federation"]["running"], false);
    let human = b.run(&["status", "--url", &url]);
    human.ok();
    assert!(human.stdout.contains(&node_id), "{human:#?}");
    assert!(human.stdout.contains("not running"), "{human:#?}");

    // [server] url from the environment reaches it too.
    b.set_env("BIZRA_SERVER_URL", Some(&url));
    b.run(&["status"]).ok();

    // No federation node: refused (exit 1), with the server's code.
    b.run(&["federation", "status"])
        .code(1)
        .one_line_error(&["federation_not_running"]);
    // A proposal needs the token: the one `init` wrote is used; a wrong one is refused (5).
    let payload = r#"{"type":"bizra.proposal","action":"test"}"#;
    b.run(&[
        "federation",
        "propose",
        "--payload",
        payload,
        "--snr",
        "0.9",
    ])
    .code(1)
    .one_line_error(&["federation_not_running"]);
    b.set_env("BIZRA_SERVER_TOKEN", Some("not the token"));
    b.run(&["federation", "propose", "--payload", payload])
        .code(5)
        .one_line_error(&["401"]);
    assert_eq!(server.stop(), 0);
}

#[test]
fn serve_without_a_token_refuses_to_sign() {
    let b = Bizra::init();
    std::fs::remove_file(b.home().join("api.token")).unwrap();
    // The configured token file is gone: a clear error, nothing served.
    b.run(&["serve", "--bind", "127.0.0.1:0"])
        .code(4)
        .one_line_error(&["api.token"]);
    let mut b = b;
    support::write(
        &b.home().join("config.toml"),
        std::fs::read_to_string(b.home().join("config.toml"))
            .unwrap()
            .replace("token_file = \"api.token\"", ""),
    );
    let (mut server, url) = start(&b, &["serve"]);
    b.set_env("BIZRA_SERVER_URL", Some(&url));
    b.run(&["federation", "propose", "--payload", "{}"])
        .code(3)
        .one_line_error(&["auth_not_configured"]);
    assert_eq!(server.stop(), 0);
}

#[test]
fn three_nodes_join_on_loopback_and_see_each_other() {
    let nodes: Vec<Bizra> = (0..3).map(|_| Bizra::init()).collect();
    let ids: Vec<String> = nodes
        .iter()
        .map(|b| {
            b.run(&["--json", "identity", "show"]).json()["node_id"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    let gossip = ["--gossip-bind", "127.0.0.1:0", "--federation", "loopback"];
    let mut a_args = vec!["join"];
    a_args.extend_from_slice(&gossip);
    let mut a = nodes[0].spawn(&{
        let mut v = vec!["--json"];
        v.extend_from_slice(&a_args);
        v.extend_from_slice(&["--bind", "127.0.0.1:0"]);
        v
    });
    let ready = a.wait_json(60, |v| v["event"] == "ready");
    assert_eq!(ready["node_id"], Value::from(ids[0].clone()));
    let seed = ready["addr"].as_str().unwrap().to_owned();
    let url = a.wait_json(60, |v| v["event"] == "listening")["url"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut others: Vec<support::Running> = nodes[1..]
        .iter()
        .map(|b| {
            let mut args = vec!["join", seed.as_str()];
            args.extend_from_slice(&gossip);
            start(b, &args).0
        })
        .collect();
    for id in &ids[1..] {
        a.wait_json(60, |v| {
            v["event"] == "joined" && v["node_id"] == id.as_str()
        });
    }
    let peers = nodes[0].run(&["--json", "federation", "peers", "--url", &url]);
    peers.ok();
    let peers = peers.json();
    for id in &ids[1..] {
        assert!(
            peers["peers"]
                .as_array()
                .unwrap()
                .iter()
                .any(|p| p["node_id"] == id.as_str() && p["state"] == "alive"),
            "{id} alive in {peers:#}"
        );
    }
    let status = nodes[0].run(&["--json", "federation", "status", "--url", &url]);
    status.ok();
    assert_eq!(status.json()["membership_size"], 3);
    // The third leaves on SIGTERM: the first sees it go.
    assert_eq!(others[1].stop(), 0);
    a.wait_json(60, |v| {
        v["event"] == "left" && v["node_id"] == ids[2].as_str()
    });
    assert_eq!(others[0].stop(), 0);
    assert_eq!(a.stop(), 0);
}
