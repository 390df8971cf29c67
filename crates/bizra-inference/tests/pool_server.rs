//! The remote (OpenAI-compatible) backend against a REAL server: llama-cpp-python's, serving the
//! test model (SmolLM2-135M-Instruct) on loopback, started by `scripts/pool_server.py` (see
//! `support/pool_server.rs`). Each test starts its own server: this server ends a running stream
//! when another request arrives, so tests on parallel threads must not share one.
//!
//! What the scripted server of `tests/remote.rs` cannot show: that what we send is understood by
//! a server we did not write, and that what it answers is read right. Each generation is compared
//! with what the same server answers to a plain HTTP request (a raw socket here, no bizra code)
//! with the same parameters.
//!
//! Needs `make pool-server` (BIZRA_POOL_PYTHON) and `make model`: without them the tests fail,
//! saying so.

#[path = "support/pool_server.rs"]
mod pool_server;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use bizra_inference::{
    FinishReason, GenerateRequest, Health, RemoteClient, RemoteOptions, TokenStats,
    SNR_FORMULA_TOP_LOGPROBS,
};
use bizra_protocol::{Error, GateChain, Identity, VerifyOptions};
use pool_server::{PoolServer, VOCAB_SIZE};
use serde_json::{json, Value};

const SEED: u32 = 7;

fn options(server: &PoolServer) -> RemoteOptions {
    let mut o = RemoteOptions::new(server.url()).vocab_size(VOCAB_SIZE);
    o.read_timeout = Duration::from_secs(60);
    o
}

fn client(server: &PoolServer) -> RemoteClient {
    RemoteClient::connect(options(server)).unwrap()
}

fn question() -> GenerateRequest {
    GenerateRequest::chat("Name the three primary colours.")
        .greedy()
        .seed(SEED)
        .max_tokens(24)
}

/// The body our client sends for `question()`-like requests, written out by hand: the same
/// parameters, as any OpenAI client would send them.
fn plain_body(server: &PoolServer, user: &str, max_tokens: u32, stop: &[&str]) -> Value {
    json!({
        "model": server.model_id(),
        "messages": [{"role": "user", "content": user}],
        "temperature": 0.0,
        "top_p": 0.95,
        "seed": SEED,
        "max_tokens": max_tokens,
        "stop": stop,
        "logprobs": true,
        "top_logprobs": 20,
        "stream": false,
    })
}

/// `POST /v1/chat/completions` over a raw socket (HTTP/1.1, `Connection: close`): the status and
/// the JSON body.
fn plain_post(server: &PoolServer, body: &Value, key: Option<&str>) -> (u16, Value) {
    let body = body.to_string();
    let mut conn = TcpStream::connect(server.addr()).unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    let auth = key.map_or(String::new(), |k| format!("authorization: Bearer {k}\r\n"));
    write!(
        conn,
        "POST /v1/chat/completions HTTP/1.1\r\nhost: {}\r\ncontent-type: application/json\r\n\
         content-length: {}\r\n{auth}connection: close\r\n\r\n{body}",
        server.addr(),
        body.len()
    )
    .unwrap();
    let mut reader = BufReader::new(conn);
    let mut line = String::new();
    reader.read_line(&mut line).unwrap();
    let status: u16 = line.split(' ').nth(1).unwrap().parse().unwrap();
    let mut chunked = false;
    let mut length = None;
    loop {
        line.clear();
        reader.read_line(&mut line).unwrap();
        if line.trim().is_empty() {
            break;
        }
        let (k, v) = line.split_once(':').unwrap();
        match k.trim().to_ascii_lowercase().as_str() {
            "transfer-encoding" => chunked = v.trim().eq_ignore_ascii_case("chunked"),
            "content-length" => length = v.trim().parse::<usize>().ok(),
            _ => {}
        }
    }
    let mut bytes = Vec::new();
    if chunked {
        loop {
            line.clear();
            reader.read_line(&mut line).unwrap();
            let size = usize::from_str_radix(line.trim(), 16).unwrap();
            let mut chunk = vec![0; size + 2];
            reader.read_exact(&mut chunk).unwrap();
            if size == 0 {
                break;
            }
            bytes.extend_from_slice(&chunk[..size]);
        }
    } else if let Some(n) = length {
        bytes.resize(n, 0);
        reader.read_exact(&mut bytes).unwrap();
    } else {
        reader.read_to_end(&mut bytes).unwrap();
    }
    (status, serde_json::from_slice(&bytes).unwrap())
}

/// The assistant's text of a whole response.
fn content(v: &Value) -> &str {
    v["choices"][0]["message"]["content"].as_str().unwrap()
}

#[test]
fn greedy_generation_is_signed_and_is_what_a_plain_request_gets() {
    let server = PoolServer::start();
    let c = client(&server);
    let id = Identity::generate();
    let env = c.generate(&id, &question()).unwrap();
    env.verify(&VerifyOptions::default()).unwrap();

    let (status, plain) = plain_post(
        &server,
        &plain_body(&server, "Name the three primary colours.", 24, &[]),
        None,
    );
    assert_eq!(status, 200, "{plain}");
    let p = env.payload();
    let output = p["output"].as_str().unwrap();
    eprintln!("output: {output:?}");
    assert!(!output.is_empty());
    assert_eq!(output, content(&plain));
    assert_eq!(p["tier"], "pool");
    assert_eq!(p["backend"]["base_url"], server.url());
    assert_eq!(p["model"]["name"], server.model_id());
    assert_eq!(
        p["server_finish_reason"],
        plain["choices"][0]["finish_reason"]
    );
    assert_eq!(
        p["tokens"]["completion"],
        plain["usage"]["completion_tokens"]
    );
    assert_eq!(p["tokens"]["prompt"], plain["usage"]["prompt_tokens"]);
    assert_eq!(p["params"]["seed"], SEED);
    assert_eq!(p["params"]["temperature"], 0.0);
    assert_eq!(p["vocab_size"], VOCAB_SIZE);

    // Into the gate chain: the envelope's form, signature, freshness and policy are admitted;
    // only the measured scores can refuse it (a pool scores 0 on anti-centralisation).
    let report = GateChain::default().check(&env);
    let refused: Vec<&str> = report
        .results
        .iter()
        .filter(|r| !r.passed)
        .map(|r| r.name.as_str())
        .collect();
    assert!(
        refused.iter().all(|g| *g == "snr" || *g == "ihsan"),
        "{report:?}"
    );
    let (snr, ihsan) = (env.scores().snr.unwrap(), env.scores().ihsan.unwrap());
    assert_eq!(report.passed, snr >= 0.85 && ihsan >= 0.95, "{report:?}");
}

#[test]
fn snr_is_measured_from_the_servers_logprobs() {
    let server = PoolServer::start();
    let c = client(&server);
    let env = c.generate(&Identity::generate(), &question()).unwrap();
    let s = &env.payload()["scores"]["snr"];
    let snr = s["value"].as_f64().expect("a number");
    assert!(snr > 0.0 && snr <= 1.0, "{s}");
    assert_eq!(s["formula"], SNR_FORMULA_TOP_LOGPROBS);
    assert_eq!(s["tokens"], env.payload()["tokens"]["completion"]);
    assert_eq!(env.scores().snr, Some(snr));

    // The same measure, from the probabilities the server returns to a plain request.
    let (_, plain) = plain_post(
        &server,
        &plain_body(&server, "Name the three primary colours.", 24, &[]),
        None,
    );
    let mut want = TokenStats::default();
    for t in plain["choices"][0]["logprobs"]["content"]
        .as_array()
        .unwrap()
    {
        let known: Vec<f64> = t["top_logprobs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["logprob"].as_f64().unwrap())
            .collect();
        want.observe_top_logprobs(t["logprob"].as_f64().unwrap(), &known, VOCAB_SIZE.into());
    }
    let want = want.snr().unwrap();
    eprintln!("snr {snr:.6}, from the plain response {want:.6}");
    // The prompt may come from the server's cache the second time: equal up to rounding.
    assert!((snr - want).abs() < 1e-3, "{snr} vs {want}");
}

#[test]
fn streamed_pieces_concatenate_to_the_output() {
    let server = PoolServer::start();
    let c = client(&server);
    let whole = c.complete(&question()).unwrap();

    let mut stream = c.stream(&question()).unwrap();
    let pieces: Vec<String> = stream.by_ref().collect();
    let done = stream.finish().unwrap();
    assert!(pieces.len() > 1, "{pieces:?}");
    assert_eq!(done.completion.text, pieces.concat());
    assert_eq!(done.completion.text, whole.completion.text);
    assert_eq!(
        done.completion.finish_reason,
        whole.completion.finish_reason
    );
    // llama-cpp-python streams one token per chunk, with its probabilities, and no usage.
    assert_eq!(
        done.completion.completion_tokens,
        whole.completion.completion_tokens
    );
    assert_eq!(done.completion.stats.snr(), whole.completion.stats.snr());
    assert!(done.completion.time_to_first_token_ms.unwrap() > 0.0);

    // Signed from a stream: the same output.
    let env = c
        .generate_streaming(
            &Identity::generate(),
            &question(),
            &bizra_inference::CancelToken::new(),
            Some(Box::new(|_: &str| {})),
        )
        .unwrap();
    env.verify(&VerifyOptions::default()).unwrap();
    assert_eq!(env.payload()["output"], whole.completion.text.as_str());
}

#[test]
fn max_tokens_and_stop_strings_are_honoured() {
    let server = PoolServer::start();
    let c = client(&server);
    let prompt = "Write one sentence about the sea.";
    let ask = |max: u32| {
        GenerateRequest::chat(prompt)
            .greedy()
            .seed(SEED)
            .max_tokens(max)
    };

    // Cut at max_tokens: exactly that many tokens, whole or streamed.
    let cut = c.complete(&ask(5)).unwrap();
    assert_eq!(cut.completion.finish_reason, FinishReason::Length);
    assert_eq!(cut.server_finish_reason.as_deref(), Some("length"));
    assert_eq!(cut.completion.completion_tokens, 5);
    let mut stream = c.stream(&ask(5)).unwrap();
    let pieces: Vec<String> = stream.by_ref().collect();
    let streamed = stream.finish().unwrap();
    assert_eq!(pieces.len(), 5, "{pieces:?}");
    assert_eq!(streamed.completion.completion_tokens, 5);
    assert_eq!(streamed.completion.finish_reason, FinishReason::Length);
    assert_eq!(streamed.completion.text, cut.completion.text);

    // A stop string taken from the free answer: the output ends before it.
    let free = c.complete(&ask(40)).unwrap().completion.text;
    let words: Vec<&str> = free.split(' ').collect();
    assert!(words.len() > 4, "{free:?}");
    let stop = format!(" {}", words[3]);
    let before = &free[..free.find(&stop).unwrap()];
    let stopped = c.complete(&ask(40).stop(stop.clone())).unwrap();
    eprintln!(
        "free {free:?}; stop {stop:?} gives {:?}",
        stopped.completion.text
    );
    assert_eq!(stopped.completion.text, before);
    assert_eq!(stopped.completion.finish_reason, FinishReason::Stop);
    assert_eq!(stopped.server_finish_reason.as_deref(), Some("stop"));
    let (_, plain) = plain_post(&server, &plain_body(&server, prompt, 40, &[&stop]), None);
    assert_eq!(content(&plain), before);

    let mut stream = c.stream(&ask(40).stop(stop)).unwrap();
    let pieces: Vec<String> = stream.by_ref().collect();
    let streamed = stream.finish().unwrap();
    assert_eq!(pieces.concat(), before);
    assert_eq!(streamed.completion.text, before);
    assert_eq!(streamed.completion.finish_reason, FinishReason::Stop);
}

#[test]
fn the_server_lists_its_model_and_is_ready() {
    let server = PoolServer::start();
    let c = client(&server);
    assert_eq!(c.health(), Health::Ready);
    assert_eq!(c.models().unwrap(), [server.model_id()]);
    // Without a configured model, the client asks for the one listed.
    let done = c.complete(&question().max_tokens(2)).unwrap();
    assert_eq!(done.model, server.model_id());
}

#[test]
fn a_server_killed_mid_stream_is_a_clear_error_and_a_restarted_one_serves() {
    let mut server = PoolServer::start();
    let mut o = options(&server);
    o.max_retries = 2;
    o.initial_backoff = Duration::from_millis(20);
    let c = RemoteClient::connect(o).unwrap();
    let long = GenerateRequest::chat("Tell me a long story about a lighthouse keeper.")
        .greedy()
        .max_tokens(400);
    let mut stream = c.stream(&long).unwrap();
    let first: Vec<String> = stream.by_ref().take(3).collect();
    assert_eq!(first.len(), 3);
    server.kill();
    let e = stream.finish().unwrap_err();
    let text = e.to_string();
    eprintln!("killed mid-stream: {text}");
    assert!(
        matches!(&e, Error::Remote { refused: false, endpoint, .. } if endpoint == server.url()),
        "{e:?}"
    );
    assert_eq!(e.kind().name(), "REMOTE_UNAVAILABLE");
    assert!(
        text.contains("chat/completions") && text.contains("piece(s) of text"),
        "{text}"
    );
    // Gone for good: a clear error, after the retries.
    let e = c.complete(&question()).unwrap_err().to_string();
    assert!(
        e.contains("cannot connect") && e.contains("after 3 attempts"),
        "{e}"
    );
    assert!(matches!(c.health(), Health::Unavailable(_)));

    // A new server at the same address: the same client is served again.
    server.restart();
    let done = c.complete(&question()).unwrap();
    assert!(!done.completion.text.is_empty());
    assert_eq!(c.health(), Health::Ready);
}

#[test]
fn a_wrong_api_key_is_refused_clearly_and_never_shown() {
    let right = "sk-pool-right-4f1d";
    let wrong = "sk-pool-wrong-9c2e";
    let server = PoolServer::start_with(&["--api-key", right]);
    let c = RemoteClient::connect(options(&server).api_key(wrong)).unwrap();
    let e = c.complete(&question()).unwrap_err();
    let text = e.to_string();
    eprintln!("wrong key: {text}");
    assert!(
        matches!(
            e,
            Error::Remote {
                refused: true,
                status: Some(401),
                ..
            }
        ),
        "{e:?}"
    );
    assert_eq!(e.kind().name(), "REMOTE_REFUSED");
    assert!(
        text.contains("401") && text.contains("not retried"),
        "{text}"
    );
    for shown in [text.clone(), format!("{e:?}"), format!("{c:?}")] {
        assert!(!shown.contains(wrong) && !shown.contains(right), "{shown}");
    }
    assert!(matches!(c.health(), Health::Unavailable(_)));
    assert!(c.models().is_err());
    // Without a key at all: refused the same way.
    let (status, _) = plain_post(&server, &plain_body(&server, "hi", 2, &[]), None);
    assert_eq!(status, 401);

    // The right key is served.
    let c = RemoteClient::connect(options(&server).api_key(right)).unwrap();
    assert_eq!(c.health(), Health::Ready);
    let done = c.complete(&question()).unwrap();
    let (_, plain) = plain_post(
        &server,
        &plain_body(&server, "Name the three primary colours.", 24, &[]),
        Some(right),
    );
    assert_eq!(done.completion.text, content(&plain));
}
