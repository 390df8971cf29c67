//! Tuning aid: usearch alone (no store) on random or clustered vectors of dimension 576:
//! `N`, `M` (graph degree), `EFA` (expansion on insert), `CLUSTERS` (0: uniformly random) and
//! `Q` (`i8`, scaled per vector as the store does, `f16` or `f32`). Inserts one at a time, as the
//! store does (see `src/index.rs`).
#[path = "../tests/support/mod.rs"]
mod support;
use std::time::Instant;
use usearch::{Index, IndexOptions, MetricKind, ScalarKind};
fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}
fn main() {
    let quantization = match std::env::var("Q").as_deref() {
        Ok("f32") => ScalarKind::F32,
        Ok("f16") => ScalarKind::F16,
        _ => ScalarKind::I8,
    };
    let (n, m, efa, clusters) = (
        env("N", 20000),
        env("M", 16),
        env("EFA", 64),
        env("CLUSTERS", 0),
    );
    let dim = 576;
    let mut rng = support::Rng(42);
    let centers: Vec<Vec<f32>> = (0..clusters)
        .map(|_| support::normalised(&rng.vector(dim)))
        .collect();
    let draw = |rng: &mut support::Rng| -> Vec<f32> {
        if clusters == 0 {
            return support::normalised(&rng.vector(dim));
        }
        let c = &centers[(rng.next_u64() % clusters as u64) as usize];
        let noise = rng.vector(dim);
        support::normalised(
            &c.iter()
                .zip(&noise)
                .map(|(a, b)| a + 0.031 * b)
                .collect::<Vec<f32>>(),
        )
    };
    let vs: Vec<Vec<f32>> = (0..n).map(|_| draw(&mut rng)).collect();
    let opts = IndexOptions {
        dimensions: dim,
        metric: MetricKind::Cos,
        quantization,
        connectivity: m,
        expansion_add: efa,
        expansion_search: 64,
        multi: false,
    };
    let idx = Index::new(&opts).unwrap();
    idx.reserve(n).unwrap();
    let t = Instant::now();
    for (i, v) in vs.iter().enumerate() {
        match quantization {
            ScalarKind::I8 => idx.add(i as u64, &i8_scaled(v)),
            _ => idx.add(i as u64, v.as_slice()),
        }
        .unwrap();
    }
    println!(
        "n={n} M={m} efa={efa} clusters={clusters} {quantization:?} build {:.1?} ({})",
        t.elapsed(),
        idx.hardware_acceleration()
    );
    let mut rng = support::Rng(99);
    let qs: Vec<Vec<f32>> = (0..100).map(|_| draw(&mut rng)).collect();
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
        let _ = match quantization {
            ScalarKind::I8 => idx.exact_search(&i8_scaled(q), 10),
            _ => idx.exact_search(q.as_slice(), 10),
        }
        .unwrap();
    }
    println!("  usearch exact {:.2?}/q", t.elapsed() / 100);
    for ef in [64, 128, 256, 512] {
        idx.change_expansion_search(ef);
        let t = Instant::now();
        let mut found = 0;
        for (q, tr) in qs.iter().zip(&truth) {
            let m = match quantization {
                ScalarKind::I8 => idx.search(&i8_scaled(q), 10),
                _ => idx.search(q.as_slice(), 10),
            }
            .unwrap();
            found += m.keys.iter().filter(|k| tr.contains(k)).count();
        }
        println!(
            "  ef={ef} recall {:.3} {:.2?}/q",
            found as f64 / 1000.0,
            t.elapsed() / 100
        );
    }
}

/// What the store's index holds for `v`: scaled so that its largest magnitude is 127, rounded.
fn i8_scaled(v: &[f32]) -> Vec<i8> {
    let largest = v.iter().fold(0f32, |m, x| m.max(x.abs()));
    v.iter()
        .map(|x| (x * 127.0 / largest).round() as i8)
        .collect()
}
