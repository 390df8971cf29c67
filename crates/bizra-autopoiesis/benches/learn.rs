//! Learning rate with the real model: `Store::learn_embedded` (verify, embed with SmolLM2,
//! insert) per second, beside its two parts measured apart in the same run: the engine's `embed`
//! alone, and `Store::learn` with the vector just computed (verify + insert into a file store,
//! `synchronous=FULL`, one transaction per pattern). The machine's CPU and load are printed.
//!
//! `cargo bench -p bizra-autopoiesis --bench learn` (`make bench-autopoiesis`);
//! `BIZRA_BENCH_PATTERNS=200` (the default).

#[path = "../../../benches/common/mod.rs"]
mod common;
#[path = "../tests/model/mod.rs"]
mod model;
#[path = "../tests/support/mod.rs"]
mod support;

use std::time::{Duration, Instant};

use bizra_autopoiesis::Store;
use bizra_protocol::{Envelope, Identity, VerifyOptions};

const SUBJECTS: [&str; 8] = [
    "the river",
    "a reactor",
    "the committee",
    "my garden",
    "the compiler",
    "a glacier",
    "the orchestra",
    "this protocol",
];
const VERBS: [&str; 6] = [
    "changed",
    "slowed",
    "grew",
    "failed",
    "settled",
    "recovered",
];
const WHEN: [&str; 5] = [
    "after the storm",
    "during the audit",
    "before dawn",
    "in the spring",
    "under load",
];

/// Distinct sentences of realistic length.
fn sentences(n: usize) -> Vec<String> {
    (0..n)
        .map(|i| {
            format!(
                "Observation {i}: {} {} {} and stayed that way for {} days.",
                SUBJECTS[i % SUBJECTS.len()],
                VERBS[(i / SUBJECTS.len()) % VERBS.len()],
                WHEN[(i / 7) % WHEN.len()],
                i % 30 + 1
            )
        })
        .collect()
}

fn rate(n: usize, t: Duration) -> String {
    format!(
        "{:>8.1}/s  {:>8.3} ms each",
        n as f64 / t.as_secs_f64(),
        t.as_secs_f64() * 1e3 / n as f64
    )
}

/// The 1, 5 and 15 minute load averages (a busy machine slows every figure).
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|| "unknown".into())
}

fn main() {
    let n: usize = std::env::var("BIZRA_BENCH_PATTERNS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(200);
    println!("machine: {}", common::machine());
    let load_before = load_average();
    let engine = model::engine();
    let id = Identity::generate();
    let texts = sentences(n);
    let envelopes: Vec<Envelope> = texts
        .iter()
        .map(|t| support::inference_envelope(&id, t))
        .collect();
    let opts = VerifyOptions::default();

    // Warm the engine (first-call allocations) outside the measurements.
    engine.embed("warm up").unwrap();

    // The three measurements interleave, pattern by pattern, so that load from elsewhere on the
    // machine falls on each of them alike (a shared machine's load shifts over minutes).
    let dir = tempfile::tempdir().unwrap();
    let given = Store::open(dir.path().join("given.sqlite")).unwrap();
    let embedded = Store::open(dir.path().join("embedded.sqlite")).unwrap();
    let (mut embed, mut insert, mut learn) = (Duration::ZERO, Duration::ZERO, Duration::ZERO);
    let mut dimension = 0;
    for (text, envelope) in texts.iter().zip(&envelopes) {
        let t = Instant::now();
        let vector = engine.embed(text).unwrap();
        embed += t.elapsed();
        dimension = vector.len();

        let t = Instant::now();
        given.learn(envelope, &vector, &[], &opts).unwrap();
        insert += t.elapsed();

        let t = Instant::now();
        embedded
            .learn_embedded(envelope, &engine, &[], &opts)
            .unwrap();
        learn += t.elapsed();
    }
    println!(
        "load average before: {load_before}, after: {}",
        load_average()
    );
    println!("{n} patterns of {dimension} dimensions");
    println!(
        "  learn_embedded (verify + embed + insert)  {}",
        rate(n, learn)
    );
    println!(
        "  embed alone (baseline)                    {}",
        rate(n, embed)
    );
    println!(
        "  learn with vectors (verify + insert)      {}",
        rate(n, insert)
    );
    println!(
        "  embedding's share of learning: {:.0}%",
        100.0 * embed.as_secs_f64() / learn.as_secs_f64()
    );
}
