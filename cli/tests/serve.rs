//! `bizra serve`, `bizra join`, `bizra status` and `bizra federation ...` as subprocesses: a
//! real server on loopback asked by the client commands, and three nodes joining on loopback;
//! `bizra federation leave` and `bizra models loaded|unload` asking a running server.

#[path = "../../crates/bizra-inference/tests/support/pool_server.rs"]
mod pool_server;
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

/// `bizra --data-dir <home> args...` as a child of this test (its stdout lines on a channel), to
/// see it exit on its own.
fn spawn_owned(
    b: &Bizra,
    args: &[&str],
) -> (std::process::Child, std::sync::mpsc::Receiver<String>) {
    use std::io::BufRead;
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_bizra"));
    for (k, _) in std::env::vars() {
        if k.starts_with("BIZRA_") {
            cmd.env_remove(k);
        }
    }
    let mut child = cmd
        .envs(b.env.iter().map(|(k, v)| (k, v)))
        .arg("--data-dir")
        .arg(b.home())
        .args(args)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("running bizra");
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    (child, rx)
}

/// The next JSON line `pred` accepts.
#[track_caller]
fn next_json(
    lines: &std::sync::mpsc::Receiver<String>,
    secs: u64,
    pred: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        let line = lines
            .recv_timeout(left)
            .unwrap_or_else(|_| panic!("no such line within {secs} s"));
        if let Ok(v) = serde_json::from_str::<Value>(&line) {
            if pred(&v) {
                return v;
            }
        }
    }
}

fn node_id(b: &Bizra) -> String {
    b.run(&["--json", "identity", "show"]).json()["node_id"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[test]
fn federation_leave_ends_join_and_leaves_serve_join_serving() {
    let a = Bizra::init();
    let mut b = Bizra::init();
    let (id_a, id_b) = (node_id(&a), node_id(&b));
    let gossip = ["--gossip-bind", "127.0.0.1:0", "--federation", "loopback"];
    let mut args = vec!["--json", "join", "--bind", "127.0.0.1:0"];
    args.extend_from_slice(&gossip);
    let (mut join, lines) = spawn_owned(&a, &args);
    let seed = next_json(&lines, 60, |v| v["event"] == "ready")["addr"]
        .as_str()
        .unwrap()
        .to_owned();
    let url_a = next_json(&lines, 60, |v| v["event"] == "listening")["url"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut serve_args = vec!["serve", "--join", "--seed", seed.as_str()];
    serve_args.extend_from_slice(&gossip);
    let (mut serve, url_b) = start(&b, &serve_args);
    next_json(&lines, 60, |v| {
        v["event"] == "joined" && v["node_id"] == id_b.as_str()
    });

    // B's token is not A's: refused (exit 5), and A is still a member.
    b.run(&["federation", "leave", "--url", &url_a])
        .code(5)
        .one_line_error(&["401"]);
    let peers = b.run(&["--json", "federation", "peers", "--url", &url_b]);
    assert!(
        peers.json()["peers"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["node_id"] == id_a.as_str() && p["state"] == "alive"),
        "{peers:#?}"
    );

    // A leaves with its own token: `join` says so and exits 0 by itself.
    let left = a.run(&["--json", "federation", "leave", "--url", &url_a]);
    left.ok();
    assert_eq!(
        left.json(),
        serde_json::json!({"node_id": id_a, "left": true})
    );
    next_json(&lines, 30, |v| {
        v["event"] == "left" && v["node_id"] == id_a.as_str()
    });
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let code = loop {
        if let Some(status) = join.try_wait().unwrap() {
            break status.code();
        }
        assert!(
            std::time::Instant::now() < deadline,
            "join did not exit after leaving"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    assert_eq!(code, Some(0));
    // Its peer was told (left, not found down by probing).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let peers = b.run(&["--json", "federation", "peers", "--url", &url_b]);
        peers.ok();
        if peers.json()["peers"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["node_id"] == id_a.as_str() && p["state"] == "left")
        {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{peers:#?}");
        std::thread::sleep(std::time::Duration::from_millis(200));
    }

    // `serve --join` leaves and serves on without a federation.
    b.set_env("BIZRA_SERVER_URL", Some(&url_b));
    let human = b.run(&["federation", "leave"]);
    human.ok();
    assert!(
        human
            .stdout
            .contains(&format!("{id_b} left the federation")),
        "{human:#?}"
    );
    let status = b.run(&["--json", "status"]);
    status.ok();
    assert_eq!(status.json()["federation"]["running"], false);
    b.run(&["federation", "status"])
        .code(1)
        .one_line_error(&["federation_not_running"]);
    b.run(&["federation", "leave"])
        .code(1)
        .one_line_error(&["federation_not_running"]);
    assert_eq!(serve.stop(), 0);
}

#[test]
fn models_loaded_and_unload_ask_the_running_server() {
    let model = pool_server::model();
    let key = model.file_stem().unwrap().to_str().unwrap().to_owned();
    let mut b = Bizra::init();
    b.run(&["models", "import", model.to_str().unwrap()]).ok();
    let (mut server, url) = start(&b, &["serve"]);
    b.set_env("BIZRA_SERVER_URL", Some(&url));
    assert_eq!(
        b.run(&["--json", "models", "loaded"]).json(),
        serde_json::json!({"loaded": []})
    );
    let none = b.run(&["models", "loaded"]);
    none.ok();
    assert!(none.stdout.contains("no model loaded"), "{none:#?}");

    // A generation at the edge tier makes the server's registry load the model.
    let token = std::fs::read_to_string(b.home().join("api.token")).unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let status = rt.block_on(async {
        reqwest::Client::new()
            .post(format!("{url}/api/v1/inference/generate"))
            .bearer_auth(token.trim())
            .header("content-type", "application/json")
            .body(r#"{"prompt": "Say hi.", "max_tokens": 4, "tier": "edge"}"#)
            .send()
            .await
            .unwrap()
            .status()
    });
    assert_eq!(status, 200);
    let loaded = b.run(&["--json", "models", "loaded"]);
    loaded.ok();
    let l = loaded.json();
    assert_eq!(l["loaded"][0]["key"], key.as_str(), "{l}");
    assert_eq!(l["loaded"][0]["pinned"], false, "{l}");
    let human = b.run(&["models", "loaded"]);
    assert!(human.stdout.contains(&key), "{human:#?}");

    // A wrong token is refused (exit 5), and the model stays.
    b.set_env("BIZRA_SERVER_TOKEN", Some("not the token"));
    b.run(&["models", "loaded"])
        .code(5)
        .one_line_error(&["401"]);
    b.run(&["models", "unload", &key])
        .code(5)
        .one_line_error(&["401"]);
    b.set_env("BIZRA_SERVER_TOKEN", None);
    let unloaded = b.run(&["--json", "models", "unload", &key]);
    unloaded.ok();
    assert_eq!(
        unloaded.json(),
        serde_json::json!({"model": key, "unloaded": true})
    );
    assert_eq!(
        b.run(&["--json", "models", "loaded"]).json(),
        serde_json::json!({"loaded": []})
    );
    let again = b.run(&["models", "unload", &key]);
    again.ok();
    assert!(again.stdout.contains("was not loaded"), "{again:#?}");
    b.run(&["models", "unload", "no-such-model"])
        .code(1)
        .one_line_error(&["model_not_found"]);
    assert_eq!(server.stop(), 0);

    // The configured model ([inference] model) is held by the server: listed, never unloaded.
    b.set_env("BIZRA_INFERENCE_MODEL", Some(model.to_str().unwrap()));
    let (mut server, url) = start(&b, &["serve"]);
    b.set_env("BIZRA_SERVER_URL", Some(&url));
    let l = b.run(&["--json", "models", "loaded"]).json();
    assert_eq!(l["loaded"][0]["key"], key.as_str(), "{l}");
    assert_eq!(l["loaded"][0]["pinned"], true, "{l}");
    b.run(&["models", "unload", &key])
        .code(1)
        .one_line_error(&["model_pinned"]);
    assert_eq!(server.stop(), 0);
}
