//! Recall top-10 over 10K and 100K patterns of dimension 576 (SmolLM2's embedding size), clustered
//! (the shape of real embeddings) and uniformly random: time per query of `recall` (an exact scan
//! of the quantised vectors up to `SCAN_LIMIT` patterns) and of `recall_by_graph` (the HNSW
//! graphs, which `recall` walks past it) beside the exact search over the table (`recall_exact`)
//! and an in-memory f32 brute force, in the same run, with the recall@10 of each. Each way's
//! queries run back to back (the steady state of a recall loop); `cold` is one recall right after
//! the other work (brute force, exact search over the table) has evicted the caches: a scan then
//! costs what memory bandwidth allows for its 576 bytes per pattern. Also the costs of a store that size: importing it
//! (one transaction, the index saved on drop), opening it with the index rebuilt from the table
//! and with the saved index loaded (and checked against the table), `PRAGMA quick_check` apart.
//!
//! `cargo bench -p bizra-autopoiesis --bench recall`; `BIZRA_BENCH_SIZES=10000,100000` (the
//! default) and `BIZRA_BENCH_QUERIES=100`.

#[path = "../../../benches/common/mod.rs"]
mod common;
#[path = "../tests/support/mod.rs"]
mod support;

use std::time::Instant;

use bizra_autopoiesis::{IndexOrigin, PatternPayload, RecallOptions, Store};
use bizra_protocol::{Envelope, Identity, VerifyOptions};
use support::{Clustered, Rng, DIM};

fn sizes() -> Vec<usize> {
    std::env::var("BIZRA_BENCH_SIZES")
        .ok()
        .map(|s| s.split(',').filter_map(|x| x.trim().parse().ok()).collect())
        .unwrap_or_else(|| vec![10_000, 100_000])
}

fn main() {
    let queries: usize = std::env::var("BIZRA_BENCH_QUERIES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(100);
    println!("machine: {}", common::machine());
    println!(
        "{:>7} {:>9} | {:>8} {:>8} {:>8} {:>8} {:>8} | {:>9} {:>6} {:>9} | {:>9} {:>6} | {:>9} {:>9}",
        "n",
        "data",
        "import",
        "rebuild",
        "load",
        "check",
        "file MB",
        "recall",
        "@10",
        "cold",
        "graph",
        "@10",
        "exact",
        "memory",
    );
    for n in sizes() {
        for clustered in [true, false] {
            run(n, clustered, queries);
        }
    }
}

fn run(n: usize, clustered: bool, queries: usize) {
    let mut rng = Rng(42 + n as u64);
    let shape = Clustered::new(&mut rng, (n / 100).max(1), DIM);
    let draw = |rng: &mut Rng| {
        if clustered {
            shape.draw(rng)
        } else {
            support::normalised(&rng.vector(DIM))
        }
    };
    let vs: Vec<Vec<f32>> = (0..n).map(|_| draw(&mut rng)).collect();
    let id = Identity::generate();
    let mut jsonl = String::new();
    for (i, v) in vs.iter().enumerate() {
        let payload = PatternPayload {
            content: format!("pattern {i}"),
            embedding: Some(v.clone()),
            ..PatternPayload::default()
        };
        jsonl.push_str(&Envelope::create(&id, payload.to_value()).unwrap().to_json());
        jsonl.push('\n');
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bench.sqlite");
    let t = Instant::now();
    {
        let store = Store::open(&path).unwrap();
        store
            .import_jsonl(jsonl.as_bytes(), &VerifyOptions::default())
            .unwrap();
    }
    let import = t.elapsed();
    drop(jsonl);
    let t = Instant::now();
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        let ok: String = conn
            .query_row("PRAGMA quick_check", [], |r| r.get(0))
            .unwrap();
        assert_eq!(ok, "ok");
    }
    let check = t.elapsed();
    // The import's drop saved the index: remove it to time a rebuild, then time a load.
    std::fs::remove_file(dir.path().join("bench.sqlite.usearch")).unwrap();
    let t = Instant::now();
    let store = Store::open(&path).unwrap();
    let open = t.elapsed();
    assert_eq!(store.index_origin(), IndexOrigin::Rebuilt);
    drop(store);
    let t = Instant::now();
    let store = Store::open(&path).unwrap();
    let reopen = t.elapsed();
    assert_eq!(store.index_origin(), IndexOrigin::Loaded);
    let mb = std::fs::metadata(&path).unwrap().len() as f64 / 1e6;

    let opts = RecallOptions::top(10).threshold(-1.0);
    let qs: Vec<Vec<f32>> = (0..queries).map(|_| draw(&mut rng)).collect();
    let t = Instant::now();
    let truths: Vec<Vec<i64>> = qs
        .iter()
        .map(|q| {
            let mut all: Vec<(f32, i64)> = vs
                .iter()
                .enumerate()
                .map(|(i, v)| {
                    (
                        v.iter().zip(q).map(|(a, b)| a * b).sum::<f32>(),
                        i as i64 + 1,
                    )
                })
                .collect();
            all.select_nth_unstable_by(9, |a, b| b.0.total_cmp(&a.0));
            all[..10].iter().map(|x| x.1).collect()
        })
        .collect();
    let memory = t.elapsed();
    // Each way's queries back to back (the steady state a recall loop sees), then the first
    // query again right after the others' work has evicted the caches.
    let timed = |how: &dyn Fn(&[f32]) -> Vec<bizra_autopoiesis::Recalled>| {
        let t = Instant::now();
        let found: usize = qs
            .iter()
            .zip(&truths)
            .map(|(q, truth)| {
                how(q)
                    .iter()
                    .filter(|r| truth.contains(&r.pattern.id))
                    .count()
            })
            .sum();
        (
            t.elapsed() / queries as u32,
            found as f64 / (queries * 10) as f64,
        )
    };
    let (index, found) = timed(&|q| store.recall(q, opts).unwrap());
    let (graph, found_by_graph) = timed(&|q| store.recall_by_graph(q, opts).unwrap());
    let exact_queries = queries.min(10);
    let t = Instant::now();
    for q in &qs[..exact_queries] {
        assert_eq!(store.recall_exact(q, opts).unwrap().len(), 10);
    }
    let exact = t.elapsed();
    let t = Instant::now();
    store.recall(&qs[0], opts).unwrap();
    let cold = t.elapsed();
    println!(
        "{n:>7} {:>9} | {:>8.1?} {:>8.1?} {:>8.1?} {:>8.1?} {mb:>8.0} | {:>9.2?} {:>6.3} {:>9.2?} | {:>9.2?} {:>6.3} | {:>9.2?} {:>9.2?}",
        if clustered { "clustered" } else { "uniform" },
        import,
        open,
        reopen,
        check,
        index,
        found,
        cold,
        graph,
        found_by_graph,
        exact / exact_queries as u32,
        memory / queries as u32,
    );
}
