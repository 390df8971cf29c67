#[path = "../tests/support/mod.rs"]
mod support;
use std::time::Instant;
use usearch::{Index, IndexOptions, MetricKind, ScalarKind};
fn main() {
    let n: usize = std::env::var("N")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20000);
    let m: usize = std::env::var("M")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(16);
    let efa: usize = std::env::var("EFA")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(64);
    let dim = 576;
    let mut rng = support::Rng(42);
    let vs: Vec<Vec<f32>> = (0..n)
        .map(|_| support::normalised(&rng.vector(dim)))
        .collect();
    let idx = Index::new(&IndexOptions {
        dimensions: dim,
        metric: MetricKind::Cos,
        quantization: ScalarKind::F32,
        connectivity: m,
        expansion_add: efa,
        expansion_search: 64,
        multi: false,
    })
    .unwrap();
    idx.reserve(n).unwrap();
    let t = Instant::now();
    for (i, v) in vs.iter().enumerate() {
        idx.add(i as u64, v).unwrap();
    }
    println!(
        "n={n} M={m} efa={efa} build {:.1?} ({:.0?}/add) accel={}",
        t.elapsed(),
        t.elapsed() / n as u32,
        idx.hardware_acceleration()
    );
    let mut rng = support::Rng(99);
    let qs: Vec<Vec<f32>> = (0..100)
        .map(|_| support::normalised(&rng.vector(dim)))
        .collect();
    let truth: Vec<Vec<u64>> = qs
        .iter()
        .map(|q| {
            let mut e: Vec<(f32, u64)> = vs
                .iter()
                .enumerate()
                .map(|(i, v)| (v.iter().zip(q).map(|(a, b)| a * b).sum::<f32>(), i as u64))
                .collect();
            e.sort_by(|a, b| b.0.total_cmp(&a.0));
            e[..10].iter().map(|x| x.1).collect()
        })
        .collect();
    let t = Instant::now();
    for q in &qs {
        let _ = idx.exact_search(q, 10).unwrap();
    }
    println!("  usearch exact {:.2?}/q", t.elapsed() / 100);
    for ef in [64, 128, 256, 512, 1024, 2048] {
        idx.change_expansion_search(ef);
        let t = Instant::now();
        let mut found = 0;
        for (q, tr) in qs.iter().zip(&truth) {
            let m = idx.search(q, 10).unwrap();
            found += m.keys.iter().filter(|k| tr.contains(k)).count();
        }
        println!(
            "  ef={ef} recall {:.3} {:.2?}/q",
            found as f64 / 1000.0,
            t.elapsed() / 100
        );
    }
}
