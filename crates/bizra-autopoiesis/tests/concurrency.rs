//! Concurrency: readers and a writer sharing one store across threads, two stores on one file in
//! one process, and two processes writing and recalling one file at once. Every committed
//! pattern is recalled by every reader once committed, removals are seen, and the file stays
//! whole.

mod support;

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use bizra_autopoiesis::{PatternId, RecallOptions, Store};
use bizra_protocol::{ErrorKind, Identity, VerifyOptions};
use support::{pattern_envelope, Rng};

/// Small enough that the HNSW search is exact at these sizes: a miss is a stale index.
const DIM: usize = 32;

fn learn(store: &Store, id: &Identity, content: &str, v: &[f32]) -> PatternId {
    store
        .learn(
            &pattern_envelope(id, content),
            v,
            &[],
            &VerifyOptions::default(),
        )
        .unwrap()
        .id()
}

/// A pattern the writer committed, and its vector.
type Committed = (PatternId, Vec<f32>);

/// The nearest pattern to `v`, as the index finds it.
fn nearest(store: &Store, v: &[f32]) -> Option<(PatternId, f32)> {
    store
        .recall(v, RecallOptions::top(1).threshold(-1.0))
        .unwrap()
        .first()
        .map(|r| (r.pattern.id, r.similarity))
}

#[test]
fn readers_recall_every_pattern_committed_before_they_ask_while_one_writer_learns() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(Store::open(dir.path().join("threads.sqlite")).unwrap());
    let committed: Arc<Mutex<Vec<Committed>>> = Arc::default();
    let done = Arc::new(AtomicBool::new(false));

    let writer = {
        let (store, committed, done) = (store.clone(), committed.clone(), done.clone());
        std::thread::spawn(move || {
            let id = Identity::generate();
            let mut rng = Rng(7);
            for i in 0..300 {
                let v = support::normalised(&rng.vector(DIM));
                let pid = learn(&store, &id, &format!("pattern {i}"), &v);
                committed.lock().unwrap().push((pid, v));
            }
            done.store(true, Ordering::SeqCst);
        })
    };
    let readers: Vec<_> = (0..3u64)
        .map(|r| {
            let (store, committed, done) = (store.clone(), committed.clone(), done.clone());
            std::thread::spawn(move || {
                let mut rng = Rng(100 + r);
                let mut checked = 0;
                while !done.load(Ordering::SeqCst) || checked < 50 {
                    let pick = {
                        let c = committed.lock().unwrap();
                        if c.is_empty() {
                            continue;
                        }
                        c[(rng.next_u64() % c.len() as u64) as usize].clone()
                    };
                    let (pid, v) = pick;
                    let (found, similarity) = nearest(&store, &v).expect("an empty recall");
                    assert_eq!(
                        found, pid,
                        "reader {r}: committed pattern {pid} not recalled"
                    );
                    assert!(similarity > 0.999, "{similarity}");
                    checked += 1;
                }
                checked
            })
        })
        .collect();
    writer.join().unwrap();
    for r in readers {
        assert!(r.join().unwrap() >= 50);
    }
    assert_eq!(store.len().unwrap(), 300);
    store.integrity_check().unwrap();
}

#[test]
fn two_stores_on_one_file_see_each_others_writes_and_removals() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("shared.sqlite");
    let a = Store::open(&path).unwrap();
    let b = Store::open(&path).unwrap();
    let id = Identity::generate();
    let mut rng = Rng(11);

    // B opened before any pattern: it learns the dimension from A's first write.
    let x = support::normalised(&rng.vector(DIM));
    let px = learn(&a, &id, "x", &x);
    assert_eq!(nearest(&b, &x).map(|(p, _)| p), Some(px));
    assert_eq!(b.dimension(), Some(DIM));
    let e = b
        .learn(
            &pattern_envelope(&id, "short"),
            &[1.0, 2.0],
            &[],
            &VerifyOptions::default(),
        )
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput);
    assert!(e.to_string().contains("2 dimensions"), "{e}");

    // Writes from both sides, recalled on the other.
    let y = support::normalised(&rng.vector(DIM));
    let py = learn(&b, &id, "y", &y);
    assert_eq!(nearest(&a, &y).map(|(p, _)| p), Some(py));

    // A removal on one side is seen on the other; the id is never given again.
    assert!(b.remove(py).unwrap());
    assert_ne!(nearest(&a, &y).map(|(p, _)| p), Some(py));
    let z = support::normalised(&rng.vector(DIM));
    let pz = learn(&a, &id, "z", &z);
    assert!(pz > py, "id {pz} reused after {py} was removed");
    assert_eq!(nearest(&b, &z).map(|(p, _)| p), Some(pz));
    assert_eq!(nearest(&b, &x).map(|(p, _)| p), Some(px));
    assert_eq!(a.len().unwrap(), 2);
    assert_eq!(b.len().unwrap(), 2);

    // Both save their index on drop; whichever file is left, the next open is right.
    drop(a);
    drop(b);
    let c = Store::open(&path).unwrap();
    assert_eq!(nearest(&c, &z).map(|(p, _)| p), Some(pz));
    assert_eq!(nearest(&c, &x).map(|(p, _)| p), Some(px));
    c.integrity_check().unwrap();
}

const CHILD_ENV: &str = "BIZRA_AUTOPOIESIS_CONCURRENT_CHILD";
const PER_PROCESS: usize = 150;

/// The vector of pattern `i` written by process `who` (both processes compute them).
fn vector(who: u64, i: usize) -> Vec<f32> {
    let mut rng = Rng(who * 1_000_003 + i as u64);
    support::normalised(&rng.vector(DIM))
}

/// The child: learns its patterns into the store at $CHILD_ENV, recalling each of its own and
/// the latest of the parent's as it goes, and prints each id once committed.
#[test]
fn concurrent_child() {
    let Ok(path) = std::env::var(CHILD_ENV) else {
        return; // only runs as the child of the two-process test
    };
    let store = Store::open(&path).unwrap();
    let id = Identity::generate();
    let mut out = std::io::stdout().lock();
    for i in 0..PER_PROCESS {
        let v = vector(2, i);
        let pid = learn(&store, &id, &format!("child {i}"), &v);
        assert_eq!(nearest(&store, &v).map(|(p, _)| p), Some(pid));
        writeln!(out, "committed {pid}").unwrap();
        out.flush().unwrap();
    }
}

#[test]
fn two_processes_write_and_recall_one_file_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("processes.sqlite");
    let store = Store::open(&path).unwrap();
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "concurrent_child",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, &path)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
            // The harness may print its "test concurrent_child ... " on the first line.
            .filter_map(|l| {
                l.split_once("committed ")
                    .map(|(_, id)| id.parse().unwrap())
            })
            .collect::<Vec<PatternId>>()
    });

    // The parent writes too, and recalls each of its own patterns at once.
    let id = Identity::generate();
    for i in 0..PER_PROCESS {
        let v = vector(1, i);
        let pid = learn(&store, &id, &format!("parent {i}"), &v);
        assert_eq!(nearest(&store, &v).map(|(p, _)| p), Some(pid));
    }
    assert!(child.wait().unwrap().success(), "the child failed");
    let child_ids = reader.join().unwrap();
    assert_eq!(child_ids.len(), PER_PROCESS);

    // Every pattern the child committed is recalled here, by its vector, through this
    // process's index, which it built without them.
    for (i, pid) in child_ids.iter().enumerate() {
        let found = nearest(&store, &vector(2, i)).map(|(p, _)| p);
        assert_eq!(found, Some(*pid), "child pattern {i} not recalled");
        assert_eq!(
            store.get(*pid).unwrap().unwrap().content,
            format!("child {i}")
        );
    }
    assert_eq!(store.len().unwrap(), 2 * PER_PROCESS);
    store.integrity_check().unwrap();
}
