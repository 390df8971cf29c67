//! Recall through the index against the exact search over the table.

mod support;

use std::time::{Duration, Instant};

use bizra_autopoiesis::{RecallOptions, Store};
use bizra_protocol::{Identity, VerifyOptions};
use support::{pattern_envelope, Rng, DIM};

/// Fills a store with `n` random patterns of dimension `dim` (one transaction per pattern is
/// slow; the import path is one transaction, so this goes through learn in a loop on an
/// in-memory store, which has no fsync).
fn filled(n: usize, dim: usize, seed: u64) -> (Store, Vec<Vec<f32>>) {
    let store = Store::in_memory().unwrap();
    let id = Identity::generate();
    let mut rng = Rng(seed);
    let opts = VerifyOptions::default();
    let mut vs = Vec::with_capacity(n);
    for i in 0..n {
        let v = rng.vector(dim);
        store
            .learn(
                &pattern_envelope(&id, &format!("pattern {i}")),
                &v,
                &[],
                &opts,
            )
            .unwrap();
        vs.push(v);
    }
    (store, vs)
}

#[test]
fn the_index_gives_the_exact_answer_on_small_sets() {
    let mut rng = Rng(7);
    for (n, dim) in [(1, 3), (5, 8), (50, 16), (300, 64)] {
        let (store, _) = filled(n, dim, n as u64);
        for _ in 0..20 {
            let q = rng.vector(dim);
            for opts in [
                RecallOptions::top(10).threshold(-1.0),
                RecallOptions::top(3).threshold(0.0),
                RecallOptions::top(n + 5).threshold(-1.0),
                RecallOptions::top(10).threshold(0.2),
            ] {
                let by_index = store.recall(&q, opts).unwrap();
                let exact = store.recall_exact(&q, opts).unwrap();
                assert_eq!(by_index, exact, "n={n} dim={dim} {opts:?}");
                assert!(by_index.len() <= opts.k);
                assert!(by_index.iter().all(|r| r.similarity >= opts.threshold));
                assert!(by_index
                    .windows(2)
                    .all(|w| w[0].similarity >= w[1].similarity));
            }
        }
    }
}

#[test]
fn the_default_threshold_is_half() {
    let store = Store::in_memory().unwrap();
    let id = Identity::generate();
    let opts = VerifyOptions::default();
    let near = store
        .learn(&pattern_envelope(&id, "near"), &[1.0, 0.2, 0.0], &[], &opts)
        .unwrap();
    // cos = 0.49 with the query [1, 0, 0]: just below 0.5.
    let below = [0.49f32, (1.0f32 - 0.49 * 0.49).sqrt(), 0.0];
    store
        .learn(&pattern_envelope(&id, "below"), &below, &[], &opts)
        .unwrap();
    let hits = store
        .recall(&[1.0, 0.0, 0.0], RecallOptions::default())
        .unwrap();
    assert_eq!(hits.len(), 1);
    assert_eq!(hits[0].pattern.id, near.id());
    assert_eq!(RecallOptions::default().threshold, 0.5);
    let all = store
        .recall(&[1.0, 0.0, 0.0], RecallOptions::default().threshold(0.4))
        .unwrap();
    assert_eq!(all.len(), 2);
}

#[test]
fn removed_patterns_are_not_recalled_and_the_index_survives_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("r.sqlite");
    let id = Identity::generate();
    let opts = VerifyOptions::default();
    let mut rng = Rng(3);
    let q = rng.vector(32);
    let ids: Vec<_> = {
        let store = Store::open(&path).unwrap();
        let ids = (0..40)
            .map(|i| {
                store
                    .learn(
                        &pattern_envelope(&id, &format!("p{i}")),
                        &rng.vector(32),
                        &[],
                        &opts,
                    )
                    .unwrap()
                    .id()
            })
            .collect();
        let top = store
            .recall(&q, RecallOptions::top(1).threshold(-1.0))
            .unwrap();
        assert!(store.remove(top[0].pattern.id).unwrap());
        assert!(!store.remove(top[0].pattern.id).unwrap());
        let again = store
            .recall(&q, RecallOptions::top(40).threshold(-1.0))
            .unwrap();
        assert_eq!(again.len(), 39);
        assert!(again.iter().all(|r| r.pattern.id != top[0].pattern.id));
        ids
    };
    let store = Store::open(&path).unwrap();
    assert_eq!(store.dimension(), Some(32));
    let a = store
        .recall(&q, RecallOptions::top(10).threshold(-1.0))
        .unwrap();
    let b = store
        .recall_exact(&q, RecallOptions::top(10).threshold(-1.0))
        .unwrap();
    assert_eq!(a, b);
    assert_eq!(store.len().unwrap(), ids.len() - 1);
}

#[test]
fn a_query_of_the_wrong_dimension_or_with_nan_is_refused() {
    let (store, _) = filled(3, 8, 1);
    for q in [vec![1.0f32; 7], vec![f32::NAN; 8], vec![0.0; 8]] {
        let e = store.recall(&q, RecallOptions::default()).unwrap_err();
        assert_eq!(e.kind(), bizra_protocol::ErrorKind::InvalidInput, "{e}");
        let e = store
            .recall_exact(&q, RecallOptions::default())
            .unwrap_err();
        assert_eq!(e.kind(), bizra_protocol::ErrorKind::InvalidInput, "{e}");
    }
    assert!(store
        .recall(&[1.0; 8], RecallOptions::top(0))
        .unwrap()
        .is_empty());
    let empty = Store::in_memory().unwrap();
    assert!(empty
        .recall(&[1.0; 8], RecallOptions::default())
        .unwrap()
        .is_empty());
}

/// The exact top 10 of `q` among `vs` (normalised), as 1-based ids in insertion order.
fn truth(vs: &[Vec<f32>], q: &[f32]) -> Vec<i64> {
    let mut exact: Vec<(f32, usize)> = vs
        .iter()
        .enumerate()
        .map(|(i, v)| (v.iter().zip(q).map(|(a, b)| a * b).sum::<f32>(), i + 1))
        .collect();
    exact.sort_by(|a, b| b.0.total_cmp(&a.0));
    exact[..10].iter().map(|&(_, i)| i as i64).collect()
}

/// How many patterns a recall@10 test holds: `BIZRA_RECALL_N`, else `default`.
fn recall_n(default: usize) -> usize {
    std::env::var("BIZRA_RECALL_N")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

/// recall@10 against brute force over `n` vectors of SmolLM2's embedding size drawn by `draw`
/// (the queries drawn the same way): through `recall` (an exact scan of the quantised vectors at
/// this size) and through the HNSW graphs.
fn recall_at_10(n: usize, mut draw: impl FnMut(&mut Rng) -> Vec<f32>) -> (f64, f64) {
    let mut rng = Rng(42);
    let t = Instant::now();
    let store = Store::in_memory().unwrap();
    let id = Identity::generate();
    let opts = VerifyOptions::default();
    let mut vs = Vec::with_capacity(n);
    for i in 0..n {
        let v = draw(&mut rng);
        store
            .learn(
                &pattern_envelope(&id, &format!("pattern {i}")),
                &v,
                &[],
                &opts,
            )
            .unwrap();
        vs.push(v);
    }
    let fill = t.elapsed();
    let queries = 100;
    let (mut scan, mut graph) = (0usize, 0usize);
    let (mut scan_time, mut graph_time) = (Duration::ZERO, Duration::ZERO);
    let o = RecallOptions::top(10).threshold(-1.0);
    for _ in 0..queries {
        let q = draw(&mut rng);
        let truth = truth(&vs, &q);
        let s = Instant::now();
        let got = store.recall(&q, o).unwrap();
        scan_time += s.elapsed();
        assert_eq!(got.len(), 10);
        scan += got.iter().filter(|r| truth.contains(&r.pattern.id)).count();
        let s = Instant::now();
        let got = store.recall_by_graph(&q, o).unwrap();
        graph_time += s.elapsed();
        graph += got.iter().filter(|r| truth.contains(&r.pattern.id)).count();
    }
    let (scan, graph) = (
        scan as f64 / (queries * 10) as f64,
        graph as f64 / (queries * 10) as f64,
    );
    eprintln!(
        "n={n} dim={DIM}: learned in {fill:.1?}; recall@10 {scan:.3} in {:.2?} (scan), \
         {graph:.3} in {:.2?} (graph)",
        scan_time / queries as u32,
        graph_time / queries as u32,
    );
    (scan, graph)
}

/// Clustered vectors, as embeddings are: the scan and the graphs both recall the exact top 10.
#[test]
fn recall_at_10_on_clustered_vectors_of_dimension_576() {
    let n = recall_n(20_000);
    let mut rng = Rng(42);
    let shape = support::Clustered::new(&mut rng, n / 100, DIM);
    let (scan, graph) = recall_at_10(n, |rng| shape.draw(rng));
    assert!(scan >= 0.99, "recall@10 by scan = {scan}");
    assert!(graph >= 0.95, "recall@10 by graph = {graph}");
}

/// 100K uniformly random vectors (the figure): no structure for a graph to follow (it
/// is measured, not asserted), but recall, which scans at this size, still finds the exact top 10.
#[test]
fn recall_at_10_on_100k_uniformly_random_vectors_of_dimension_576() {
    let (scan, _) = recall_at_10(recall_n(100_000), |rng| {
        support::normalised(&rng.vector(DIM))
    });
    assert!(scan >= 0.99, "recall@10 by scan = {scan}");
}

#[test]
fn the_saved_index_is_loaded_only_when_it_matches_the_table() {
    use bizra_autopoiesis::IndexOrigin;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("saved.sqlite");
    let index_file = dir.path().join("saved.sqlite.usearch");
    let id = Identity::generate();
    let opts = VerifyOptions::default();
    let mut rng = Rng(17);
    let learn = |store: &Store, rng: &mut Rng, i: usize| {
        store
            .learn(
                &pattern_envelope(&id, &format!("s{i}")),
                &rng.vector(24),
                &[],
                &opts,
            )
            .unwrap()
            .id()
    };
    let check = |store: &Store, rng: &mut Rng| {
        for _ in 0..5 {
            let q = rng.vector(24);
            let o = RecallOptions::top(8).threshold(-1.0);
            assert_eq!(
                store.recall(&q, o).unwrap(),
                store.recall_exact(&q, o).unwrap()
            );
        }
    };
    {
        let store = Store::open(&path).unwrap();
        assert_eq!(store.index_origin(), IndexOrigin::Empty);
        for i in 0..60 {
            learn(&store, &mut rng, i);
        }
    } // dropped: the index is saved
    assert!(index_file.is_file());
    {
        let store = Store::open(&path).unwrap();
        assert_eq!(store.index_origin(), IndexOrigin::Loaded);
        check(&store, &mut rng);
        // Killed after a write: the saved file no longer matches the table.
        learn(&store, &mut rng, 60);
        std::mem::forget(store);
    }
    {
        let store = Store::open(&path).unwrap();
        assert_eq!(store.index_origin(), IndexOrigin::Rebuilt);
        assert_eq!(store.len().unwrap(), 61);
        check(&store, &mut rng);
    }
    {
        // Changed behind the store's back: a pattern removed and an embedding altered.
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute("DELETE FROM patterns WHERE id = 5", [])
            .unwrap();
        let v: Vec<u8> = support::normalised(&rng.vector(24))
            .iter()
            .flat_map(|x| x.to_le_bytes())
            .collect();
        conn.execute("UPDATE patterns SET embedding = ?1 WHERE id = 7", [v])
            .unwrap();
    }
    {
        let store = Store::open(&path).unwrap();
        assert_eq!(store.index_origin(), IndexOrigin::Rebuilt);
        check(&store, &mut rng);
    }
    {
        let store = Store::open(&path).unwrap();
        assert_eq!(store.index_origin(), IndexOrigin::Loaded);
    }
    // A damaged index file: its hash no longer matches.
    let mut bytes = std::fs::read(&index_file).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0xFF;
    std::fs::write(&index_file, &bytes).unwrap();
    let store = Store::open(&path).unwrap();
    assert_eq!(store.index_origin(), IndexOrigin::Rebuilt);
    check(&store, &mut rng);
    store.save_index().unwrap();
    drop(store);
    std::fs::remove_file(&index_file).unwrap();
    assert_eq!(
        Store::open(&path).unwrap().index_origin(),
        IndexOrigin::Rebuilt
    );
}
