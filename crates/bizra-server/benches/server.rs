//! The HTTP API beside the library it serves, in the same run, on the same machine:
//!
//! - **verify**: `POST /api/v1/pci/envelope/verify` (the default gate chain over a signed
//!   envelope) under a load generator on loopback (CONNS keep-alive HTTP/1.1 connections, hyper,
//!   on one thread of its own), beside the same work in process (`Envelope::parse` and
//!   `GateChain::check`) on one thread and on every CPU. The server and the load generator share
//!   the machine's CPUs, so the CPU time per request of each (from `/proc`) is printed too,
//!   beside the CPU time of one verify in process.
//! - **streaming**: a chat completion streamed through `POST /v1/chat/completions` (SSE, read to
//!   `[DONE]`, the last chunk signed), beside the engine's own streamed generation of the same
//!   greedy request in process (`Engine::stream`, the engine the server's gateway runs):
//!   generated tokens per second, request to last token; both texts must be equal.
//!
//! Rounds alternate both sides, so that both see the same machine load; each figure is the best
//! of its rounds (the median beside it: other work on the machine shows as a gap between them).
//! The model comes from `BIZRA_TEST_MODEL` (set by `make bench-server`).
//! `cargo bench -p bizra-server --bench server -- verify` (or `stream`) runs one part.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bizra::inference::{Engine, EngineOptions, GenerateRequest};
use bizra::{Envelope, GateChain, Gateway, Identity};
use bizra_server::{AppState, ServerConfig};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use serde_json::{json, Value};

#[path = "../../../benches/common/mod.rs"]
mod common;

/// Concurrent keep-alive connections of the load generator.
const CONNS: usize = 32;
const ROUNDS: usize = 3;
const VERIFY_SECS: f64 = 3.0;
/// Tokens generated per streamed completion, and completions per round.
const TG: u32 = 128;
const STREAMS: usize = 2;
const THREADS: u32 = 2;
const TOKEN: &str = "bench token";
const PROMPT: &str = "Write a long story about a robot who learns to paint.";

fn median(xs: &[f64]) -> f64 {
    let mut v = xs.to_vec();
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(0.0)
}

/// CPU time (user + system) of a thread from its `/proc/.../stat`, in clock ticks, and its name.
fn stat_ticks(path: &str) -> Option<(String, u64)> {
    let text = std::fs::read_to_string(path).ok()?;
    let (head, rest) = text.rsplit_once(") ")?;
    let name = head.split_once(" (")?.1.to_owned();
    // After the name: state is field 3; utime and stime are fields 14 and 15.
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some((name, utime + stime))
}

/// Microseconds per clock tick (USER_HZ, 100 on Linux).
const TICK_US: f64 = 10_000.0;

/// The CPU time of the calling thread, in ticks.
fn own_ticks() -> u64 {
    stat_ticks("/proc/thread-self/stat").map_or(0, |(_, t)| t)
}

/// The CPU time of this process's threads named `name`, in ticks.
fn named_ticks(name: &str) -> u64 {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return 0;
    };
    tasks
        .flatten()
        .filter_map(|t| stat_ticks(&format!("{}/stat", t.path().display())))
        .filter(|(n, _)| n == name)
        .map(|(_, t)| t)
        .sum()
}

/// The server runtime's worker threads.
const SERVER_THREADS: &str = "bizra-server";

fn cpus() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// Verifies per second in process (parse + the default gate chain) on `threads` threads, and
/// the CPU time of one, in microseconds.
fn in_process_verify(text: &str, threads: usize) -> (f64, f64) {
    let chain = Arc::new(GateChain::default());
    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicU64::new(0));
    let ticks = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let workers: Vec<_> = (0..threads)
        .map(|_| {
            let (chain, stop, done, ticks, text) = (
                chain.clone(),
                stop.clone(),
                done.clone(),
                ticks.clone(),
                text.to_owned(),
            );
            std::thread::spawn(move || {
                let cpu = own_ticks();
                let mut n = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    for _ in 0..64 {
                        let env = Envelope::parse(&text).expect("the envelope parses");
                        let report = chain.check(&env);
                        assert!(report.passed, "the bench envelope is refused");
                        n += 1;
                    }
                }
                done.fetch_add(n, Ordering::Relaxed);
                ticks.fetch_add(own_ticks() - cpu, Ordering::Relaxed);
            })
        })
        .collect();
    std::thread::sleep(Duration::from_secs_f64(VERIFY_SECS));
    stop.store(true, Ordering::Relaxed);
    for w in workers {
        w.join().expect("a verify thread panicked");
    }
    let n = done.load(Ordering::Relaxed) as f64;
    (
        n / start.elapsed().as_secs_f64(),
        ticks.load(Ordering::Relaxed) as f64 * TICK_US / n,
    )
}

/// Requests per second answered 200 by `POST /api/v1/pci/envelope/verify`: CONNS connections on
/// one thread (this one), each sending its next request when the previous answer has been read;
/// and the CPU time per request of the server's threads and of the load generator, microseconds.
fn http_verify(addr: SocketAddr, body: Bytes) -> (f64, f64, f64) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("the load generator's runtime");
    let (server_cpu, client_cpu) = (named_ticks(SERVER_THREADS), own_ticks());
    let (rate, n) = rt.block_on(async move {
        let deadline = Instant::now() + Duration::from_secs_f64(VERIFY_SECS);
        let start = Instant::now();
        let tasks: Vec<_> = (0..CONNS)
            .map(|_| {
                let body = body.clone();
                tokio::spawn(async move {
                    let stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
                    stream.set_nodelay(true).expect("nodelay");
                    let (mut sender, conn) =
                        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
                            .await
                            .expect("handshake");
                    tokio::spawn(conn);
                    let mut n = 0u64;
                    while Instant::now() < deadline {
                        let req = hyper::Request::post("/api/v1/pci/envelope/verify")
                            .header("host", addr.to_string())
                            .header("content-type", "application/json")
                            .body(Full::new(body.clone()))
                            .expect("request");
                        let res = sender.send_request(req).await.expect("response");
                        let status = res.status();
                        let answer = res.into_body().collect().await.expect("body").to_bytes();
                        assert_eq!(status, 200, "{}", String::from_utf8_lossy(&answer));
                        n += 1;
                    }
                    n
                })
            })
            .collect();
        let mut total = 0u64;
        for t in tasks {
            total += t.await.expect("a connection task panicked");
        }
        (total as f64 / start.elapsed().as_secs_f64(), total as f64)
    });
    (
        rate,
        (named_ticks(SERVER_THREADS) - server_cpu) as f64 * TICK_US / n,
        (own_ticks() - client_cpu) as f64 * TICK_US / n,
    )
}

/// Completion tokens per second of one streamed chat completion over HTTP, and its text.
async fn http_stream(client: &reqwest::Client, url: &str) -> (f64, u32, String) {
    use futures_util::StreamExt;
    let start = Instant::now();
    let res = client
        .post(format!("{url}/v1/chat/completions"))
        .bearer_auth(TOKEN)
        .json(&json!({
            "model": "bizra",
            "messages": [{"role": "user", "content": PROMPT}],
            "max_tokens": TG,
            "temperature": 0,
            "stream": true,
        }))
        .send()
        .await
        .expect("chat completion");
    assert_eq!(res.status(), 200);
    let mut body = res.bytes_stream();
    let (mut buf, mut text, mut tokens, mut done) = (String::new(), String::new(), 0, false);
    while let Some(bytes) = body.next().await {
        buf.push_str(&String::from_utf8_lossy(&bytes.expect("stream")));
        while let Some(end) = buf.find("\n\n") {
            let event: String = buf.drain(..end + 2).collect();
            let Some(data) = event.lines().find_map(|l| l.strip_prefix("data: ")) else {
                continue;
            };
            if data == "[DONE]" {
                done = true;
                continue;
            }
            let chunk: Value = serde_json::from_str(data).expect("a JSON chunk");
            if let Some(piece) = chunk
                .pointer("/choices/0/delta/content")
                .and_then(Value::as_str)
            {
                text.push_str(piece);
            }
            if let Some(n) = chunk
                .pointer("/usage/completion_tokens")
                .and_then(Value::as_u64)
            {
                assert!(
                    chunk["bizra_envelope"].is_object(),
                    "the last chunk is not signed"
                );
                tokens = n as u32;
            }
        }
    }
    let secs = start.elapsed().as_secs_f64();
    assert!(done, "the stream did not end with [DONE]");
    (f64::from(tokens) / secs, tokens, text)
}

/// Completion tokens per second of the same generation streamed in process.
fn in_process_stream(engine: &Engine) -> (f64, u32, String) {
    let request = GenerateRequest::chat(PROMPT).greedy().max_tokens(TG);
    let start = Instant::now();
    let mut stream = engine.stream(&request).expect("generation starts");
    let mut text = String::new();
    for piece in stream.by_ref() {
        text.push_str(&piece);
    }
    let completion = stream.finish().expect("generation");
    let secs = start.elapsed().as_secs_f64();
    assert_eq!(completion.text, text);
    (
        f64::from(completion.completion_tokens) / secs,
        completion.completion_tokens,
        text,
    )
}

fn main() {
    // `cargo bench --bench server -- verify` (or `stream`) runs that part alone.
    let filter: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let run = |part: &str| filter.is_empty() || filter.iter().any(|f| part.contains(f.as_str()));
    let model = PathBuf::from(std::env::var_os("BIZRA_TEST_MODEL").unwrap_or_else(|| {
        eprintln!("bench server: set BIZRA_TEST_MODEL (make bench-server does)");
        std::process::exit(1);
    }));
    if !model.is_file() {
        eprintln!(
            "bench server: no model at {}: run `make model`",
            model.display()
        );
        std::process::exit(1);
    }
    let engine = Engine::load(
        &model,
        EngineOptions {
            n_ctx: 1024,
            n_threads: Some(THREADS),
            ..EngineOptions::default()
        },
    )
    .unwrap_or_else(|e| {
        eprintln!("bench server: {e}");
        std::process::exit(1);
    });
    let gateway = Gateway::builder()
        .engine(engine.clone())
        .build()
        .expect("gateway");
    let state = AppState::builder(Identity::generate())
        .config(ServerConfig {
            token: Some(TOKEN.into()),
            rate_limit: None,
            ..ServerConfig::default()
        })
        .gateway(gateway)
        .build();

    // The server: a runtime of its own with a worker per CPU, as `bizra serve` runs.
    let server_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(cpus())
        .thread_name(SERVER_THREADS)
        .enable_all()
        .build()
        .expect("the server's runtime");
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let listener = server_rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .expect("bind");
    let addr = listener.local_addr().expect("address");
    let served = server_rt.spawn(bizra_server::serve(listener, state, async {
        let _ = stop_rx.await;
    }));
    let url = format!("http://{addr}");

    println!("bench server: {}", common::machine());

    if run("verify") {
        bench_verify(addr);
    }
    if run("stream") {
        bench_stream(&engine, &server_rt, &url);
    }
    let _ = stop_tx.send(());
    let _ = server_rt.block_on(served);
}

/// The best and the median of the rounds.
fn best_median(xs: &[f64]) -> (f64, f64) {
    (xs.iter().copied().fold(0.0, f64::max), median(xs))
}

fn bench_verify(addr: SocketAddr) {
    // A signed envelope whose scores the default chain admits.
    let signer = Identity::generate();
    let envelope = Envelope::builder(json!({"type": "note", "text": "a verified claim"}))
        .snr(0.93)
        .ihsan(0.97)
        .sign(&signer)
        .expect("sign");
    let text = envelope.to_json();
    let body = Bytes::from(
        json!({"envelope": serde_json::from_str::<Value>(&text).expect("JSON")}).to_string(),
    );
    let (mut one, mut all, mut http) = (Vec::new(), Vec::new(), Vec::new());
    let (mut cpu_one, mut cpu_server, mut cpu_client) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..ROUNDS {
        let (rate, cpu) = in_process_verify(&text, 1);
        one.push(rate);
        cpu_one.push(cpu);
        all.push(in_process_verify(&text, cpus()).0);
        let (rate, server, client) = http_verify(addr, body.clone());
        http.push(rate);
        cpu_server.push(server);
        cpu_client.push(client);
    }
    let (one, one_m) = best_median(&one);
    let (all, all_m) = best_median(&all);
    let (http, http_m) = best_median(&http);
    let (cpu_one, cpu_server, cpu_client) =
        (median(&cpu_one), median(&cpu_server), median(&cpu_client));
    let n = cpus();
    println!("verify (best of {ROUNDS} rounds of {VERIFY_SECS} s, median in brackets)");
    println!(
        "  in process, 1 thread    {one:>8.0} /s ({one_m:.0})   Envelope::parse + GateChain::check, \
         {cpu_one:.1} us CPU each"
    );
    println!("  in process, {n} threads   {all:>8.0} /s ({all_m:.0})");
    println!(
        "  HTTP, {CONNS} connections   {http:>8.0} /s ({http_m:.0})   {:.2}x of {n} threads, {:.2}x \
         of 1; server and load generator share the {n} CPUs",
        http / all,
        http / one,
    );
    println!(
        "  CPU per request: server {cpu_server:.1} us ({:.2}x the verify alone), load generator \
         {cpu_client:.1} us",
        cpu_server / cpu_one
    );
}

fn bench_stream(engine: &Engine, rt: &tokio::runtime::Runtime, url: &str) {
    let client = reqwest::Client::new();
    let (mut local, mut remote) = (Vec::new(), Vec::new());
    // Warm-up: the first generation pays for the model's first use.
    let _ = in_process_stream(engine);
    let mut tokens = 0;
    for _ in 0..ROUNDS {
        for _ in 0..STREAMS {
            let (rate, n, a) = in_process_stream(engine);
            let (hrate, hn, b) = rt.block_on(http_stream(&client, url));
            assert_eq!(a, b, "greedy: the same text in process and over HTTP");
            assert_eq!(n, hn);
            tokens = n;
            local.push(rate);
            remote.push(hrate);
        }
    }
    let (local, local_m) = best_median(&local);
    let (remote, remote_m) = best_median(&remote);
    println!(
        "streaming (greedy, {tokens} tokens, {THREADS} threads; best of {} generations, median in \
         brackets; request to last token)",
        ROUNDS * STREAMS
    );
    println!("  in process (Engine::stream)    {local:>6.1} tok/s ({local_m:.1})");
    println!(
        "  /v1/chat/completions, SSE      {remote:>6.1} tok/s ({remote_m:.1})   {:.2}x; read to \
         [DONE], the last chunk signed",
        remote / local
    );
}
