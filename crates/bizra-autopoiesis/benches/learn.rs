//! Learning rate with the real model: `Store::learn_embedded` (verify, embed with SmolLM2,
//! insert) per second, beside its two parts measured apart in the same run: the engine's `embed`
//! alone, and `Store::learn` with the same vectors precomputed (verify + insert into a file
//! store, `synchronous=FULL`, one transaction per pattern).
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

fn main() {
    let n: usize = std::env::var("BIZRA_BENCH_PATTERNS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(200);
    println!("machine: {}", common::machine());
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

    let t = Instant::now();
    let vectors: Vec<Vec<f32>> = texts.iter().map(|s| engine.embed(s).unwrap()).collect();
    let embed = t.elapsed();

    let dir = tempfile::tempdir().unwrap();
    let insert = {
        let store = Store::open(dir.path().join("insert.sqlite")).unwrap();
        let t = Instant::now();
        for (e, v) in envelopes.iter().zip(&vectors) {
            store.learn(e, v, &[], &opts).unwrap();
        }
        t.elapsed()
    };
    let learn = {
        let store = Store::open(dir.path().join("learn.sqlite")).unwrap();
        let t = Instant::now();
        for e in &envelopes {
            store.learn_embedded(e, &engine, &[], &opts).unwrap();
        }
        t.elapsed()
    };
    println!("{n} patterns of {} dimensions", vectors[0].len());
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
