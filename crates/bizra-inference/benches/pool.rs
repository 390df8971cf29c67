//! The Pool tier's client beside a plain HTTP client, against the same real server in the same
//! run (`make bench-pool`).
//!
//! The server is llama-cpp-python's (`scripts/pool_server.py`, 2 threads), serving the test model
//! (SmolLM2-135M-Instruct Q4_1). Both clients stream the same greedy request, with the same body
//! (the log-probabilities our client asks for included, so that the server does the same work
//! for both):
//!
//! * ours: [`RemoteClient::stream`], its pieces read from the [`bizra_inference::TokenStream`] on
//!   this thread (what a caller of the blocking API sees: the HTTP client runs on the client's own
//!   thread, each piece crosses a channel; the SNR statistics are gathered as tokens arrive);
//! * plain: reqwest on a current-thread tokio runtime on this thread, reading the event stream
//!   and parsing each event's JSON for its text, with no bizra code.
//!
//! 1. Real server, rounds alternating which client goes first: time to first token and
//!    generation speed (tokens/s between the first and the last token), medians, side by side
//!    with the ratio (goal ≥ 0.98×). The outputs must be equal.
//! 2. Client overhead per request, measured by criterion with the model out of the way: a
//!    loopback server replays the real server's recorded response (the same events, one chunk
//!    each) over a kept-alive connection; the difference of the two clients' mean times is what
//!    our client costs per request beyond a plain one (goal < 1 ms).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::{Duration, Instant};

use bizra_inference::{GenerateRequest, RemoteClient, RemoteOptions};
use criterion::Criterion;
use serde_json::{json, Value};

#[path = "../../../benches/common/mod.rs"]
mod common;
#[path = "../tests/support/pool_server.rs"]
mod pool_server;

use pool_server::{PoolServer, VOCAB_SIZE};

const PROMPT: &str = "Write a short poem about the sea.";
const SEED: u32 = 7;
/// Tokens generated per request.
const TG: u32 = 64;
/// Measured rounds on the real server (each: one request per client), after one warm-up each.
const ROUNDS: usize = 10;
const THREADS: &str = "2";

fn request() -> GenerateRequest {
    GenerateRequest::chat(PROMPT)
        .greedy()
        .seed(SEED)
        .max_tokens(TG)
}

/// The body our client sends for [`request`], written out by hand for the plain client.
fn plain_body(model: &str) -> String {
    json!({
        "model": model,
        "messages": [{"role": "user", "content": PROMPT}],
        "temperature": 0.0,
        "top_p": f64::from(0.95f32),
        "seed": SEED,
        "max_tokens": TG,
        "stop": [],
        "logprobs": true,
        "top_logprobs": 20,
        "stream": true,
        "stream_options": {"include_usage": true},
    })
    .to_string()
}

/// One streamed request, timed from outside the client.
#[derive(Clone, Debug, Default)]
struct Run {
    text: String,
    tokens: usize,
    ttft_ms: f64,
    /// Tokens/s from the first token to the last.
    tg: f64,
    total_ms: f64,
}

/// A stream's pieces with their arrival times, summarised.
fn summarize(t0: Instant, pieces: Vec<(Instant, String)>) -> Run {
    let mut run = Run {
        tokens: pieces.len(),
        total_ms: t0.elapsed().as_secs_f64() * 1e3,
        ..Run::default()
    };
    if let (Some((first, _)), Some((last, _))) = (pieces.first(), pieces.last()) {
        run.ttft_ms = (*first - t0).as_secs_f64() * 1e3;
        let gen = (*last - *first).as_secs_f64();
        if pieces.len() > 1 && gen > 0.0 {
            run.tg = (pieces.len() - 1) as f64 / gen;
        }
    }
    run.text = pieces.into_iter().map(|(_, p)| p).collect();
    run
}

fn ours(client: &RemoteClient) -> Run {
    let t0 = Instant::now();
    let mut stream = client.stream(&request()).expect("stream");
    let pieces: Vec<(Instant, String)> = stream.by_ref().map(|p| (Instant::now(), p)).collect();
    let done = stream.finish().expect("our stream");
    let run = summarize(t0, pieces);
    assert_eq!(done.completion.text, run.text);
    run
}

/// The plain client: reqwest, reading `data:` lines and parsing each event's JSON.
struct Plain {
    rt: tokio::runtime::Runtime,
    http: reqwest::Client,
    url: String,
    body: String,
}

impl Plain {
    fn new(base: &str, model: &str) -> Self {
        Self {
            rt: tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("tokio"),
            http: reqwest::Client::new(),
            url: format!("{base}/chat/completions"),
            body: plain_body(model),
        }
    }

    /// The raw body of one streamed response (for the replay server).
    fn record(&self) -> Vec<u8> {
        self.rt.block_on(async {
            let resp = self
                .http
                .post(&self.url)
                .header("content-type", "application/json")
                .body(self.body.clone())
                .send()
                .await
                .expect("send");
            assert!(resp.status().is_success(), "{}", resp.status());
            resp.bytes().await.expect("body").to_vec()
        })
    }

    fn run(&self) -> Run {
        let t0 = Instant::now();
        self.rt.block_on(async {
            let mut resp = self
                .http
                .post(&self.url)
                .header("content-type", "application/json")
                .body(self.body.clone())
                .send()
                .await
                .expect("send");
            assert!(resp.status().is_success(), "{}", resp.status());
            let mut buf: Vec<u8> = Vec::new();
            let mut pieces = Vec::new();
            'read: while let Some(chunk) = resp.chunk().await.expect("chunk") {
                let now = Instant::now();
                buf.extend_from_slice(&chunk);
                while let Some(nl) = buf.iter().position(|b| *b == b'\n') {
                    let line: Vec<u8> = buf.drain(..=nl).collect();
                    let line = std::str::from_utf8(&line).expect("utf-8").trim_end();
                    let Some(data) = line.strip_prefix("data:") else {
                        continue;
                    };
                    let data = data.trim_start();
                    if data == "[DONE]" {
                        break 'read;
                    }
                    let v: Value = serde_json::from_str(data).expect("event JSON");
                    if let Some(s) = v["choices"][0]["delta"]["content"].as_str() {
                        if !s.is_empty() {
                            pieces.push((now, s.to_owned()));
                        }
                    }
                }
            }
            summarize(t0, pieces)
        })
    }
}

fn median(xs: impl Iterator<Item = f64>) -> f64 {
    let mut v: Vec<f64> = xs.collect();
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(0.0)
}

/// A loopback server answering every chat request, on kept-alive connections, with the recorded
/// event stream, one chunk per event as the real server sends them: no model, so what remains is
/// the clients' own cost.
fn replay_server(recorded: &[u8]) -> String {
    let text = String::from_utf8_lossy(recorded);
    let mut response =
        b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n"
            .to_vec();
    let sep = if text.contains("\r\n\r\n") {
        "\r\n\r\n"
    } else {
        "\n\n"
    };
    for event in text.split_inclusive(sep).filter(|e| !e.is_empty()) {
        response.extend_from_slice(format!("{:x}\r\n{event}\r\n", event.len()).as_bytes());
    }
    response.extend_from_slice(b"0\r\n\r\n");
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    std::thread::spawn(move || {
        for conn in listener.incoming().flatten() {
            let response = response.clone();
            std::thread::spawn(move || serve_replay(conn, &response));
        }
    });
    format!("http://{addr}/v1")
}

fn serve_replay(conn: TcpStream, response: &[u8]) {
    let _ = conn.set_nodelay(true);
    let mut writer = conn.try_clone().expect("clone");
    let mut reader = BufReader::new(conn);
    let mut line = String::new();
    loop {
        let mut len = 0usize;
        line.clear();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        loop {
            line.clear();
            if reader.read_line(&mut line).unwrap_or(0) == 0 {
                return;
            }
            if line.trim().is_empty() {
                break;
            }
            if let Some((k, v)) = line.split_once(':') {
                if k.trim().eq_ignore_ascii_case("content-length") {
                    len = v.trim().parse().unwrap_or(0);
                }
            }
        }
        let mut body = vec![0; len];
        if reader.read_exact(&mut body).is_err() || writer.write_all(response).is_err() {
            return;
        }
    }
}

fn main() {
    let server = PoolServer::start_with(&["--n-threads", THREADS]);
    let model = server.model_id();
    let options = |url: &str| {
        let mut o = RemoteOptions::new(url)
            .model(model.clone())
            .vocab_size(VOCAB_SIZE);
        o.read_timeout = Duration::from_secs(120);
        o
    };
    let client = RemoteClient::connect(options(server.url())).expect("client");
    let plain = Plain::new(server.url(), &model);

    // Warm-up (the server caches the prompt; both clients open their connection), and the same
    // output from both.
    let (a, b) = (ours(&client), plain.run());
    assert_eq!(
        a.text, b.text,
        "the two clients got different outputs for the same greedy request"
    );
    assert_eq!(a.tokens, b.tokens);

    let (mut us, mut them) = (Vec::new(), Vec::new());
    for round in 0..ROUNDS {
        if round % 2 == 0 {
            us.push(ours(&client));
            them.push(plain.run());
        } else {
            them.push(plain.run());
            us.push(ours(&client));
        }
    }
    for r in us.iter().chain(&them) {
        assert_eq!(r.text, a.text);
    }
    let ttft = |rs: &[Run]| median(rs.iter().map(|r| r.ttft_ms));
    let tg = |rs: &[Run]| median(rs.iter().map(|r| r.tg));
    let total = |rs: &[Run]| median(rs.iter().map(|r| r.total_ms));

    // Client overhead, with the model out of the way.
    let recorded = plain.record();
    let replay_url = replay_server(&recorded);
    let replay_client = RemoteClient::connect(options(&replay_url)).expect("client");
    let replay_plain = Plain::new(&replay_url, &model);
    assert_eq!(ours(&replay_client).text, a.text);
    assert_eq!(replay_plain.run().text, a.text);
    let mut c = Criterion::default()
        .sample_size(50)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4))
        .configure_from_args();
    {
        let mut g = c.benchmark_group("pool");
        g.bench_function("replay_ours", |bch| bch.iter(|| ours(&replay_client)));
        g.bench_function("replay_plain", |bch| bch.iter(|| replay_plain.run()));
        g.finish();
    }
    c.final_summary();
    let mean_us = |name: &str| common::mean_ns("pool", name).map(|ns| ns / 1e3);

    println!();
    println!(
        "pool client: RemoteClient::stream beside plain reqwest, llama-cpp-python {} threads, \
         {TG} tokens greedy, median of {ROUNDS} alternating rounds",
        THREADS
    );
    println!("  machine: {}", common::machine());
    println!("  model:   {model}");
    println!(
        "  (both ask for the top {} log-probabilities per token, as RemoteClient does by default: \
         llama-cpp-python computes them in Python, which bounds its speed)",
        bizra_inference::MAX_TOP_LOGPROBS
    );
    println!("                                ours        plain    ours/plain");
    println!(
        "  generation, tokens/s     {:9.1}    {:9.1}       {:.3}×  (goal ≥ 0.98×)",
        tg(&us),
        tg(&them),
        tg(&us) / tg(&them)
    );
    println!(
        "  time to first token, ms  {:9.2}    {:9.2}       {:.3}×",
        ttft(&us),
        ttft(&them),
        ttft(&us) / ttft(&them)
    );
    println!(
        "  request, ms              {:9.2}    {:9.2}       {:.3}×",
        total(&us),
        total(&them),
        total(&us) / total(&them)
    );
    match (mean_us("replay_ours"), mean_us("replay_plain")) {
        (Some(o), Some(p)) => {
            let tokens = a.tokens.max(1) as f64;
            println!(
                "  replayed response ({} events, {} KiB), µs/request {:9.1}    {:9.1}",
                a.tokens,
                recorded.len() / 1024,
                o,
                p
            );
            println!(
                "  client overhead per request: {:.1} µs ({:.2} µs per token) beyond a plain \
                 client  (goal < 1000 µs)",
                o - p,
                (o - p) / tokens
            );
        }
        _ => println!(
            "  client overhead: criterion's estimates not found in {}",
            common::criterion_dir().display()
        ),
    }
}
