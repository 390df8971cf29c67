//! The measured SNR's passes over the vocabulary, per generated token, on each instruction set
//! this CPU has, beside a plain `max` over the same logits (the floor: one read of the row).
//!
//! Why: at GPU speeds a token of a small model takes about a millisecond, and the scoring passes
//! compiled for plain x86-64 (SSE2) were measured at ~95 µs of a 1.26 ms token on an H100 machine
//! (generation at 0.87× llama-bench). `bizra_simd::Kernels` runs them with AVX2 or AVX-512 where
//! the CPU has them; this bench shows the gain on the CPU at hand, and what it would make of that
//! GPU run, before a GPU is at hand to measure it.
//!
//! `make bench-scoring`. The row is SmolLM2's vocabulary (49,152 logits) drawn like a model's:
//! mostly low, a few tokens far above the rest.

use criterion::{black_box, criterion_group, Criterion};

use bizra_inference::TokenStats;
use bizra_simd::Kernels;

#[path = "../../../benches/common/mod.rs"]
mod common;

const VOCAB: usize = 49_152;
const GROUP: &str = "scoring";

/// A reproducible row of logits: uniform noise in [−12, 4], with 20 tokens lifted to [8, 16].
fn logits() -> Vec<f32> {
    let mut x = 0x9e37_79b9u32;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        x as f32 / u32::MAX as f32
    };
    let mut row: Vec<f32> = (0..VOCAB).map(|_| next() * 16.0 - 12.0).collect();
    for _ in 0..20 {
        let i = (next() * (VOCAB - 1) as f32) as usize;
        row[i] = 8.0 + next() * 8.0;
    }
    row
}

fn bench(c: &mut Criterion) {
    let row = logits();
    let mut g = c.benchmark_group(GROUP);
    g.bench_function("plain max", |b| {
        b.iter(|| {
            black_box(&row)
                .iter()
                .copied()
                .fold(f32::NEG_INFINITY, f32::max)
        })
    });
    for kernels in Kernels::available() {
        g.bench_function(kernels.isa().name(), |b| {
            b.iter(|| {
                let top = kernels.top(black_box(&row));
                kernels.exp_sums(black_box(&row), top.max)
            })
        });
    }
    g.bench_function("observe_greedy", |b| {
        let mut stats = TokenStats::default();
        b.iter(|| stats.observe_greedy(black_box(&row)))
    });
    g.finish();
}

/// The figures beside their baselines: each instruction set against SSE2 and the floor, and the
/// projection onto the GPU run that motivated the dispatch.
fn report() {
    let us = |name: &str| common::mean_ns(GROUP, name).map(|ns| ns / 1e3);
    println!();
    println!("scoring passes over a {VOCAB}-logit row, per token");
    println!("  machine: {}", common::machine());
    let (Some(floor), Some(sse2)) = (us("plain max"), us("sse2")) else {
        println!("  (criterion's estimates not found: run the whole bench)");
        return;
    };
    println!(
        "  {:<28} {floor:>8.2} µs  (the floor: one read of the row)",
        "plain max"
    );
    for kernels in Kernels::available() {
        let name = kernels.isa().name();
        if let Some(t) = us(name) {
            println!(
                "  {name:<28} {t:>8.2} µs  {:>5.2}× SSE2's time, {:>5.2}× the floor's",
                t / sse2,
                t / floor
            );
        }
    }
    let best = Kernels::best().isa().name();
    if let (Some(observe), Some(t)) = (us("observe_greedy"), us(best)) {
        println!(
            "  {:<28} {observe:>8.2} µs  (dispatched: {best}; the passes alone {t:.2} µs)",
            "TokenStats::observe_greedy"
        );
        // The H100 run: 1.26 ms a token, of which ~95 µs were these passes in SSE2, at 0.87×
        // llama-bench. Scaling those 95 µs by the ratio measured here is conservative: the SSE2
        // passes themselves got faster since (the exponent no longer goes through a
        // float-to-int conversion), which this ratio does not count.
        let (token, passes, ratio) = (1260.0, 95.0, 0.87);
        let saved = passes * (1.0 - t / sse2);
        println!(
            "  projected onto the H100 run (1.26 ms/token, 95 µs of SSE2 passes, 0.87× llama-bench): \
             {:.0} µs saved a token, {:.3}× llama-bench (needs a GPU to confirm: make check-cuda)",
            saved,
            ratio * token / (token - saved)
        );
    }
}

criterion_group!(benches, bench);

fn main() {
    benches();
    Criterion::default().configure_from_args().final_summary();
    report();
}
