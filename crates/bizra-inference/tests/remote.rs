//! The remote (OpenAI-compatible) backend against a small HTTP/1.1 server of ours, written here
//! by hand on a loopback socket, which answers each endpoint from a script: normal and streamed
//! completions, the parameters passed through, the SNR from returned log-probabilities, and the
//! faults a real pool shows (not listening, dropped, 500, 429, hung, malformed, wrong key), after
//! each of which the same client still works.

use std::collections::{HashMap, VecDeque};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use bizra_inference::{
    CancelToken, FinishReason, GenerateRequest, Health, RemoteClient, RemoteOptions, TokenStats,
    SNR_FORMULA_TOP_LOGPROBS,
};
use bizra_protocol::{Error, GateChain, Identity, VerifyOptions};
use serde_json::{json, Value};

/// What the server answers to one request.
enum Reply {
    /// A whole response.
    Json {
        status: u16,
        headers: Vec<(&'static str, String)>,
        body: String,
    },
    /// An event stream (chunked): these events, then the end of the body, or the connection
    /// dropped without it.
    Sse { events: Vec<String>, drop: bool },
    /// Reads the request and never answers.
    Hang,
    /// Starts an event stream, sends these events, then falls silent without closing it.
    Stall { events: Vec<String> },
    /// Streams a piece every 20 ms until the client goes away, then says so on `closed`.
    Forever,
}

/// A request as the server received it.
#[derive(Clone, Debug)]
struct Received {
    path: String,
    headers: HashMap<String, String>,
    body: Value,
}

struct Server {
    addr: SocketAddr,
    script: Arc<Mutex<HashMap<String, VecDeque<Reply>>>>,
    received: Arc<Mutex<Vec<Received>>>,
    closed: Receiver<()>,
}

impl Server {
    fn start() -> Self {
        Self::on(TcpListener::bind("127.0.0.1:0").unwrap())
    }

    fn on(listener: TcpListener) -> Self {
        let addr = listener.local_addr().unwrap();
        let script: Arc<Mutex<HashMap<String, VecDeque<Reply>>>> = Arc::default();
        let received: Arc<Mutex<Vec<Received>>> = Arc::default();
        let (closed_tx, closed) = mpsc::channel();
        let (s, r) = (script.clone(), received.clone());
        thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(conn) = conn else { continue };
                let (s, r, c) = (s.clone(), r.clone(), closed_tx.clone());
                thread::spawn(move || serve(conn, &s, &r, &c));
            }
        });
        Server {
            addr,
            script,
            received,
            closed,
        }
    }

    fn url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    fn push(&self, path: &str, reply: Reply) -> &Self {
        self.script
            .lock()
            .unwrap()
            .entry(path.to_owned())
            .or_default()
            .push_back(reply);
        self
    }

    fn chat(&self, reply: Reply) -> &Self {
        self.push("/v1/chat/completions", reply)
    }

    fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }
}

fn serve(
    mut conn: TcpStream,
    script: &Mutex<HashMap<String, VecDeque<Reply>>>,
    received: &Mutex<Vec<Received>>,
    closed: &Sender<()>,
) {
    let mut reader = BufReader::new(conn.try_clone().unwrap());
    let mut line = String::new();
    if reader.read_line(&mut line).unwrap_or(0) == 0 {
        return;
    }
    let path = line.split(' ').nth(1).unwrap_or("").to_owned();
    let mut headers = HashMap::new();
    loop {
        line.clear();
        if reader.read_line(&mut line).unwrap_or(0) == 0 || line.trim().is_empty() {
            break;
        }
        if let Some((k, v)) = line.split_once(':') {
            headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_owned());
        }
    }
    let len: usize = headers
        .get("content-length")
        .and_then(|l| l.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0; len];
    reader.read_exact(&mut body).unwrap();
    received.lock().unwrap().push(Received {
        path: path.clone(),
        headers,
        body: serde_json::from_slice(&body).unwrap_or(Value::Null),
    });
    let reply = script
        .lock()
        .unwrap()
        .get_mut(&path)
        .and_then(VecDeque::pop_front);
    let reply = reply.unwrap_or(Reply::Json {
        status: 404,
        headers: vec![],
        body: json!({"error": {"message": "not found"}}).to_string(),
    });
    let sse_head = "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n";
    let chunk = |s: &str| format!("{:x}\r\n{s}\r\n", s.len());
    match reply {
        Reply::Json {
            status,
            headers,
            body,
        } => {
            let mut head = format!(
                "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n",
                body.len()
            );
            for (k, v) in headers {
                head.push_str(&format!("{k}: {v}\r\n"));
            }
            let _ = conn.write_all(format!("{head}\r\n{body}").as_bytes());
        }
        Reply::Sse { events, drop } => {
            let _ = conn.write_all(sse_head.as_bytes());
            for e in events {
                let _ = conn.write_all(chunk(&e).as_bytes());
                let _ = conn.flush();
                thread::sleep(Duration::from_millis(5));
            }
            if !drop {
                let _ = conn.write_all(b"0\r\n\r\n");
            }
        }
        Reply::Hang => thread::sleep(Duration::from_secs(30)),
        Reply::Stall { events } => {
            let _ = conn.write_all(sse_head.as_bytes());
            for e in events {
                let _ = conn.write_all(chunk(&e).as_bytes());
            }
            let _ = conn.flush();
            thread::sleep(Duration::from_secs(30));
        }
        Reply::Forever => {
            let _ = conn.write_all(sse_head.as_bytes());
            let event = sse(&chunk_json("tick ", None, None));
            // Writes fail once the client has closed the connection (a reset, soon after).
            while conn.write_all(chunk(&event).as_bytes()).is_ok() && conn.flush().is_ok() {
                thread::sleep(Duration::from_millis(20));
            }
            let _ = closed.send(());
        }
    }
}

fn sse(data: &Value) -> String {
    format!("data: {data}\n\n")
}

const DONE: &str = "data: [DONE]\n\n";

fn chat_json(text: &str, finish: &str, logprobs: Option<Value>) -> String {
    json!({
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "model": "served-model-v1",
        "choices": [{
            "index": 0,
            "message": {"role": "assistant", "content": text},
            "logprobs": logprobs,
            "finish_reason": finish,
        }],
        "usage": {"prompt_tokens": 12, "completion_tokens": 3, "total_tokens": 15},
    })
    .to_string()
}

fn chunk_json(text: &str, finish: Option<&str>, logprobs: Option<Value>) -> Value {
    json!({
        "id": "chatcmpl-1",
        "object": "chat.completion.chunk",
        "model": "served-model-v1",
        "choices": [{"index": 0, "delta": {"content": text}, "logprobs": logprobs, "finish_reason": finish}],
    })
}

fn ok(text: &str) -> Reply {
    json_reply(200, chat_json(text, "stop", None))
}

fn json_reply(status: u16, body: String) -> Reply {
    Reply::Json {
        status,
        headers: vec![],
        body,
    }
}

/// Log-probabilities of one token: the chosen one first among its alternatives.
fn token_logprobs(token: &str, probs: &[(&str, f64)]) -> Value {
    let top: Vec<Value> = probs
        .iter()
        .map(|(t, p)| json!({"token": t, "logprob": p.ln(), "bytes": null}))
        .collect();
    let chosen = probs.iter().find(|(t, _)| *t == token).unwrap().1;
    json!({"token": token, "logprob": chosen.ln(), "bytes": null, "top_logprobs": top})
}

fn options(server: &Server) -> RemoteOptions {
    let mut o = RemoteOptions::new(server.url())
        .api_key("sk-test-key")
        .model("test-model")
        .vocab_size(1000);
    o.max_retries = 3;
    o.initial_backoff = Duration::from_millis(10);
    o.read_timeout = Duration::from_secs(10);
    o
}

fn client(server: &Server) -> RemoteClient {
    RemoteClient::connect(options(server)).unwrap()
}

/// The client works again after a fault: a normal completion succeeds.
fn still_usable(server: &Server, c: &RemoteClient) {
    server.chat(ok("fine"));
    let done = c.complete(&GenerateRequest::chat("again")).unwrap();
    assert_eq!(done.completion.text, "fine");
}

#[test]
fn a_client_is_shared_across_threads() {
    fn send_sync<T: Send + Sync + Clone>() {}
    send_sync::<RemoteClient>();
}

#[test]
fn a_completion_is_signed_and_records_its_backend() {
    let server = Server::start();
    server.chat(ok("4"));
    let c = client(&server);
    let id = Identity::generate();
    let request = GenerateRequest::chat("What is 2 + 2?")
        .system("Answer with a number.")
        .max_tokens(7)
        .temperature(0.5)
        .seed(42)
        .stop("\n\n")
        .stop("END");
    let env = c.generate(&id, &request).unwrap();
    env.verify(&VerifyOptions::default()).unwrap();
    let p = env.payload();
    assert_eq!(p["output"], "4");
    assert_eq!(p["tier"], "pool");
    assert_eq!(p["backend"]["base_url"], server.url());
    assert_eq!(p["backend"]["model"], "served-model-v1");
    assert_eq!(p["model"]["name"], "served-model-v1");
    assert_eq!(p["finish_reason"], "stop");
    assert_eq!(p["server_finish_reason"], "stop");
    assert_eq!(p["tokens"], json!({"prompt": 12, "completion": 3}));
    assert!(p["timings_ms"]["request"].as_f64().unwrap() > 0.0);
    assert_eq!(p["params"]["seed"], 42);
    assert_eq!(
        p["scores"]["ihsan"]["dimensions"]["anti_centralization"]["value"],
        0.0
    );

    let sent = &server.received()[0];
    assert_eq!(sent.path, "/v1/chat/completions");
    assert_eq!(sent.headers["authorization"], "Bearer sk-test-key");
    let b = &sent.body;
    assert_eq!(b["model"], "test-model");
    assert_eq!(
        b["messages"],
        json!([
            {"role": "system", "content": "Answer with a number."},
            {"role": "user", "content": "What is 2 + 2?"},
        ])
    );
    assert_eq!(b["max_tokens"], 7);
    assert_eq!(b["stop"], json!(["\n\n", "END"]));
    assert_eq!(b["seed"], 42);
    assert_eq!(b["temperature"], 0.5);
    assert_eq!(b["stream"], false);
    assert_eq!(b["logprobs"], true);
    assert_eq!(b["top_logprobs"], 20);
}

#[test]
fn streamed_pieces_concatenate_to_the_signed_output() {
    let server = Server::start();
    let events = |finish: &str| {
        vec![
            sse(
                &json!({"model": "served-model-v1", "choices": [{"index": 0, "delta": {"role": "assistant"}, "finish_reason": null}]}),
            ),
            sse(&chunk_json("Hello", None, None)),
            sse(&chunk_json(", wor", None, None)),
            sse(&chunk_json("ld", None, None)),
            sse(&chunk_json("", Some(finish), None)),
            sse(
                &json!({"model": "served-model-v1", "choices": [], "usage": {"prompt_tokens": 9, "completion_tokens": 4}}),
            ),
            DONE.to_owned(),
        ]
    };
    server.chat(Reply::Sse {
        events: events("length"),
        drop: false,
    });
    let c = client(&server);
    let mut stream = c
        .stream(&GenerateRequest::chat("hi").max_tokens(4))
        .unwrap();
    let pieces: Vec<String> = stream.by_ref().collect();
    let done = stream.finish().unwrap();
    assert_eq!(pieces, ["Hello", ", wor", "ld"]);
    assert_eq!(done.completion.text, pieces.concat());
    assert_eq!(done.completion.finish_reason, FinishReason::Length);
    assert_eq!(done.completion.completion_tokens, 4);
    assert!(done.completion.time_to_first_token_ms.is_some());
    let b = &server.received()[0].body;
    assert_eq!(b["stream"], true);
    assert_eq!(b["max_tokens"], 4);

    server.chat(Reply::Sse {
        events: events("stop"),
        drop: false,
    });
    let got = Arc::new(Mutex::new(String::new()));
    let sink = got.clone();
    let env = c
        .generate_streaming(
            &Identity::generate(),
            &GenerateRequest::chat("hi"),
            &CancelToken::new(),
            Some(Box::new(move |s: &str| sink.lock().unwrap().push_str(s))),
        )
        .unwrap();
    env.verify(&VerifyOptions::default()).unwrap();
    assert_eq!(env.payload()["output"], "Hello, world");
    assert_eq!(*got.lock().unwrap(), "Hello, world");
    assert_eq!(env.payload()["finish_reason"], "eos");

    // A server that reports no usage (llama-cpp-python when streaming): the output's tokens are
    // counted from the pieces, the prompt's are unknown.
    server.chat(Reply::Sse {
        events: events("stop")
            .into_iter()
            .filter(|e| !e.contains("usage"))
            .collect(),
        drop: false,
    });
    let env = c
        .generate_streaming(
            &Identity::generate(),
            &GenerateRequest::chat("hi"),
            &CancelToken::new(),
            Some(Box::new(|_: &str| {})),
        )
        .unwrap();
    assert_eq!(
        env.payload()["tokens"],
        json!({"prompt": null, "completion": 3})
    );
}

#[test]
fn snr_is_measured_from_the_returned_logprobs() {
    let server = Server::start();
    let tokens = [
        token_logprobs("4", &[("4", 0.9), ("5", 0.05), ("four", 0.01)]),
        token_logprobs(".", &[(".", 0.6), ("!", 0.3)]),
    ];
    server.chat(json_reply(
        200,
        chat_json("4.", "stop", Some(json!({"content": tokens}))),
    ));
    let c = client(&server);
    let id = Identity::generate();
    let env = c.generate(&id, &GenerateRequest::chat("2+2?")).unwrap();

    let mut want = TokenStats::default();
    want.observe_top_logprobs(
        0.9f64.ln(),
        &[0.9f64.ln(), 0.05f64.ln(), 0.01f64.ln()],
        1000,
    );
    want.observe_top_logprobs(0.6f64.ln(), &[0.6f64.ln(), 0.3f64.ln()], 1000);
    let snr = env.scores().snr.expect("measured");
    assert!((snr - want.snr().unwrap()).abs() < 1e-12, "{snr}");
    assert!(snr > 0.5 && snr < 1.0, "{snr}");
    let s = &env.payload()["scores"]["snr"];
    assert_eq!(s["formula"], SNR_FORMULA_TOP_LOGPROBS);
    assert_eq!(s["tokens"], 2);
    assert_eq!(env.payload()["vocab_size"], 1000);

    // No probabilities returned: unmeasured, and the gate chain refuses the output.
    server.chat(ok("4"));
    let env = c.generate(&id, &GenerateRequest::chat("2+2?")).unwrap();
    assert_eq!(env.scores().snr, None);
    assert!(env.payload()["scores"]["snr"]["value"].is_null());
    let report = GateChain::default().check(&env);
    assert!(!report.passed);

    // The vocabulary size a server reports in its model list (llama.cpp's `meta.n_vocab`).
    let server = Server::start();
    server.push(
        "/v1/models",
        json_reply(
            200,
            json!({"object": "list", "data": [{"id": "smol", "object": "model", "meta": {"n_vocab": 1000}}]}).to_string(),
        ),
    );
    server.chat(json_reply(
        200,
        chat_json("4.", "stop", Some(json!({"content": tokens}))),
    ));
    let mut o = options(&server);
    o.model = None;
    o.vocab_size = None;
    let c = RemoteClient::connect(o).unwrap();
    let done = c.complete(&GenerateRequest::chat("2+2?")).unwrap();
    assert_eq!(done.vocab_size, Some(1000));
    assert!((done.completion.stats.snr().unwrap() - want.snr().unwrap()).abs() < 1e-12);
    assert_eq!(server.received()[1].body["model"], "smol");
}

#[test]
fn a_server_not_listening_is_a_clear_error_and_retried() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let mut o = RemoteOptions::new(format!("http://{addr}")).model("m");
    o.max_retries = 2;
    o.initial_backoff = Duration::from_millis(5);
    let c = RemoteClient::connect(o).unwrap();
    let e = c
        .complete(&GenerateRequest::chat("hi"))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("cannot connect") && e.contains("after 3 attempts"),
        "{e}"
    );
    assert!(matches!(c.health(), Health::Unavailable(_)));

    // The server comes up: the same client now gets its answer.
    let server = Server::on(TcpListener::bind(addr).unwrap());
    still_usable(&server, &c);
}

#[test]
fn a_connection_dropped_mid_stream_is_a_clear_error() {
    let server = Server::start();
    server.chat(Reply::Sse {
        events: vec![
            sse(&chunk_json("Hel", None, None)),
            sse(&chunk_json("lo", None, None)),
        ],
        drop: true,
    });
    let c = client(&server);
    let stream = c.stream(&GenerateRequest::chat("hi")).unwrap();
    let e = stream.finish().unwrap_err().to_string();
    assert!(e.contains("the stream broke after 2 piece(s)"), "{e}");
    // Not retried: text was already handed out.
    assert_eq!(server.received().len(), 1);
    still_usable(&server, &c);
}

#[test]
fn a_500_is_retried_then_succeeds() {
    let server = Server::start();
    server
        .chat(json_reply(
            500,
            json!({"error": {"message": "boom"}}).to_string(),
        ))
        .chat(json_reply(502, String::new()))
        .chat(ok("recovered"));
    let c = client(&server);
    let done = c.complete(&GenerateRequest::chat("hi")).unwrap();
    assert_eq!(done.completion.text, "recovered");
    assert_eq!(server.received().len(), 3);

    // Past max_retries, the last status and message are the error.
    for _ in 0..4 {
        server.chat(json_reply(
            503,
            json!({"error": {"message": "overloaded"}}).to_string(),
        ));
    }
    let e = c
        .complete(&GenerateRequest::chat("hi"))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("503") && e.contains("overloaded") && e.contains("after 4 attempts"),
        "{e}"
    );
    still_usable(&server, &c);
}

#[test]
fn a_429_waits_for_retry_after() {
    let server = Server::start();
    server
        .chat(Reply::Json {
            status: 429,
            headers: vec![("retry-after", "1".into())],
            body: json!({"error": {"message": "slow down"}}).to_string(),
        })
        .chat(ok("after the wait"));
    let c = client(&server);
    let t = Instant::now();
    let done = c.complete(&GenerateRequest::chat("hi")).unwrap();
    assert!(t.elapsed() >= Duration::from_secs(1), "{:?}", t.elapsed());
    assert_eq!(done.completion.text, "after the wait");
    assert_eq!(server.received().len(), 2);

    // A wait longer than allowed fails at once.
    server.chat(Reply::Json {
        status: 429,
        headers: vec![("retry-after", "3600".into())],
        body: String::new(),
    });
    let e = c
        .complete(&GenerateRequest::chat("hi"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("retry after 3600 s"), "{e}");

    // Without Retry-After, the backoff applies.
    let before = server.received().len();
    server
        .chat(json_reply(429, String::new()))
        .chat(ok("after the backoff"));
    let done = c.complete(&GenerateRequest::chat("hi")).unwrap();
    assert_eq!(done.completion.text, "after the backoff");
    assert_eq!(server.received().len(), before + 2);
    still_usable(&server, &c);
}

#[test]
fn a_hung_server_times_out() {
    let server = Server::start();
    server.chat(Reply::Hang);
    let mut o = options(&server);
    o.read_timeout = Duration::from_millis(300);
    let c = RemoteClient::connect(o).unwrap();
    let t = Instant::now();
    let e = c
        .complete(&GenerateRequest::chat("hi"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("read timeout"), "{e}");
    assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());
    // Not retried: the server may still be generating.
    assert_eq!(server.received().len(), 1);
    still_usable(&server, &c);
}

#[test]
fn a_stream_that_falls_silent_times_out() {
    let server = Server::start();
    server.chat(Reply::Stall {
        events: vec![
            sse(&chunk_json("Hel", None, None)),
            sse(&chunk_json("lo", None, None)),
        ],
    });
    let mut o = options(&server);
    o.read_timeout = Duration::from_millis(300);
    let c = RemoteClient::connect(o).unwrap();
    let t = Instant::now();
    let mut stream = c.stream(&GenerateRequest::chat("hi")).unwrap();
    let pieces: Vec<String> = stream.by_ref().collect();
    assert_eq!(pieces, ["Hel", "lo"]);
    let e = stream.finish().unwrap_err().to_string();
    assert!(
        e.contains("after 2 piece(s)") && e.contains("read timeout"),
        "{e}"
    );
    assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());
    // Not retried: text was already handed out.
    assert_eq!(server.received().len(), 1);
    still_usable(&server, &c);
}

/// Every fault is an [`Error::Remote`] naming the server: refused (the request or its key must
/// change) or unavailable (another attempt or server may serve), with the status where one came.
#[test]
fn each_fault_is_refused_or_unavailable() {
    let server = Server::start();
    let mut o = options(&server);
    o.max_retries = 0;
    o.read_timeout = Duration::from_millis(300);
    let c = RemoteClient::connect(o).unwrap();
    let status = |code: u16| json_reply(code, json!({"error": {"message": "no"}}).to_string());
    let faults = [
        (status(400), true, Some(400)),
        (status(401), true, Some(401)),
        (status(403), true, Some(403)),
        (status(404), true, Some(404)),
        (status(429), false, Some(429)),
        (status(500), false, Some(500)),
        (status(503), false, Some(503)),
        (Reply::Hang, false, None),
        (json_reply(200, "<html>".into()), false, None),
    ];
    for (reply, want_refused, want_status) in faults {
        server.chat(reply);
        let e = c.complete(&GenerateRequest::chat("hi")).unwrap_err();
        match &e {
            Error::Remote {
                endpoint,
                status,
                refused,
                ..
            } => {
                assert_eq!(endpoint, &server.url(), "{e}");
                assert_eq!((*refused, *status), (want_refused, want_status), "{e}");
            }
            other => panic!("{other:?}"),
        }
        let kind = if want_refused {
            "REMOTE_REFUSED"
        } else {
            "REMOTE_UNAVAILABLE"
        };
        assert_eq!(e.kind().name(), kind, "{e}");
    }

    // Not listening at all: unavailable, no status.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let mut o = RemoteOptions::new(format!("http://{addr}")).model("m");
    o.max_retries = 0;
    let e = RemoteClient::connect(o)
        .unwrap()
        .complete(&GenerateRequest::chat("hi"))
        .unwrap_err();
    assert!(
        matches!(
            e,
            Error::Remote {
                refused: false,
                status: None,
                ..
            }
        ),
        "{e:?}"
    );
}

#[test]
fn a_malformed_stream_is_a_clear_error() {
    let server = Server::start();
    server
        .chat(Reply::Sse {
            events: vec![
                sse(&chunk_json("ok", None, None)),
                "data: {not json\n\n".into(),
            ],
            drop: false,
        })
        .chat(Reply::Sse {
            events: vec!["<html>Bad Gateway</html>\n".into()],
            drop: false,
        });
    let c = client(&server);
    let on = || Some(Box::new(|_: &str| {}) as bizra_inference::TokenCallback);
    let req = GenerateRequest::chat("hi");
    let e = c
        .complete_with(&req, &CancelToken::new(), on())
        .unwrap_err()
        .to_string();
    assert!(e.contains("malformed stream event"), "{e}");
    let e = c
        .complete_with(&req, &CancelToken::new(), on())
        .unwrap_err()
        .to_string();
    assert!(e.contains("not an event stream"), "{e}");
    still_usable(&server, &c);
}

#[test]
fn a_wrong_key_is_refused_once_and_never_shown() {
    let server = Server::start();
    let key = "sk-wrong-secret-0123";
    server.chat(json_reply(
        401,
        json!({"error": {"message": format!("Incorrect API key provided: {key}")}}).to_string(),
    ));
    let o = options(&server).api_key(key);
    assert!(!format!("{o:?}").contains(key));
    let c = RemoteClient::connect(o).unwrap();
    assert!(!format!("{c:?}").contains(key));
    let e = c
        .complete(&GenerateRequest::chat("hi"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("401") && e.contains("not retried"), "{e}");
    assert!(!e.contains(key), "{e}");
    assert_eq!(server.received().len(), 1);
    assert_eq!(
        server.received()[0].headers["authorization"],
        format!("Bearer {key}")
    );
    still_usable(&server, &c);
}

#[test]
fn cancelling_mid_stream_closes_the_connection() {
    let server = Server::start();
    server.chat(Reply::Forever);
    let c = client(&server);
    let mut stream = c.stream(&GenerateRequest::chat("hi")).unwrap();
    let first: Vec<String> = stream.by_ref().take(3).collect();
    assert_eq!(first, ["tick "; 3]);
    stream.cancel_token().cancel();
    let done = stream.finish().unwrap();
    assert_eq!(done.completion.finish_reason, FinishReason::Cancelled);
    assert!(done.completion.text.starts_with("tick tick tick "));
    server
        .closed
        .recv_timeout(Duration::from_secs(5))
        .expect("the server saw the connection close");
    still_usable(&server, &c);
}

#[test]
fn health_understands_a_loading_server() {
    let server = Server::start();
    let c = client(&server);
    server.push(
        "/health",
        json_reply(
            503,
            json!({"error": {"code": 503, "message": "Loading model"}}).to_string(),
        ),
    );
    match c.health() {
        Health::Loading(why) => assert!(why.contains("Loading model"), "{why}"),
        other => panic!("{other:?}"),
    }
    server.push(
        "/health",
        json_reply(200, json!({"status": "ok"}).to_string()),
    );
    assert_eq!(c.health(), Health::Ready);
    // No /health (404): the model list answers instead.
    server.push(
        "/v1/models",
        json_reply(200, json!({"data": []}).to_string()),
    );
    assert_eq!(c.health(), Health::Ready);
    server.push("/health", json_reply(401, String::new()));
    assert!(matches!(c.health(), Health::Unavailable(_)));
}

#[test]
fn models_and_embeddings() {
    let server = Server::start();
    server.push(
        "/v1/models",
        json_reply(200, json!({"data": [{"id": "a"}, {"id": "b"}]}).to_string()),
    );
    server.push(
        "/v1/embeddings",
        json_reply(
            200,
            json!({"data": [{"embedding": [3.0, 4.0]}]}).to_string(),
        ),
    );
    let c = client(&server);
    assert_eq!(c.models().unwrap(), ["a", "b"]);
    assert_eq!(c.embed("text").unwrap(), [0.6, 0.8]);
    let sent = &server.received()[1];
    assert_eq!(sent.path, "/v1/embeddings");
    assert_eq!(sent.body, json!({"model": "test-model", "input": "text"}));
}

#[test]
fn bad_requests_and_options_are_refused_before_sending() {
    let server = Server::start();
    let c = client(&server);
    let e = c
        .complete(&GenerateRequest::raw("text"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("chat requests only"), "{e}");
    assert!(c
        .complete(&GenerateRequest::chat("hi").max_tokens(0))
        .is_err());
    assert!(server.received().is_empty());
    assert!(RemoteClient::connect(RemoteOptions::new("ftp://host")).is_err());
    assert!(RemoteClient::connect(RemoteOptions::new("not a url")).is_err());
    let mut o = options(&server);
    o.top_logprobs = 21;
    assert!(RemoteClient::connect(o).is_err());
    // A 400 is the caller's fault: not retried.
    server.chat(json_reply(
        400,
        json!({"error": {"message": "bad max_tokens"}}).to_string(),
    ));
    let e = c
        .complete(&GenerateRequest::chat("hi"))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("400") && e.contains("bad max_tokens") && e.contains("not retried"),
        "{e}"
    );
    assert_eq!(server.received().len(), 1);
}

#[test]
fn cancelling_while_waiting_to_retry_returns_at_once() {
    let server = Server::start();
    server.chat(Reply::Json {
        status: 429,
        headers: vec![("retry-after", "30".into())],
        body: String::new(),
    });
    let c = client(&server);
    let cancel = CancelToken::new();
    let canceller = cancel.clone();
    thread::spawn(move || {
        thread::sleep(Duration::from_millis(100));
        canceller.cancel();
    });
    let t = Instant::now();
    let done = c
        .complete_with(&GenerateRequest::chat("hi"), &cancel, None)
        .unwrap();
    assert_eq!(done.completion.finish_reason, FinishReason::Cancelled);
    assert_eq!(done.completion.text, "");
    assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());
    assert_eq!(server.received().len(), 1);
    still_usable(&server, &c);
}

#[test]
fn one_client_serves_requests_concurrently() {
    let server = Server::start();
    server.chat(Reply::Forever);
    let c = client(&server);
    let mut slow = c.stream(&GenerateRequest::chat("long")).unwrap();
    assert_eq!(slow.next().as_deref(), Some("tick "));
    // While the first still streams, a second request from another thread is answered.
    let other = c.clone();
    server.chat(ok("quick"));
    let quick = thread::spawn(move || other.complete(&GenerateRequest::chat("short")))
        .join()
        .unwrap()
        .unwrap();
    assert_eq!(quick.completion.text, "quick");
    assert_eq!(slow.next().as_deref(), Some("tick "));
    // Dropping the stream cancels it and closes its connection.
    drop(slow);
    server
        .closed
        .recv_timeout(Duration::from_secs(5))
        .expect("the server saw the connection close");
}
