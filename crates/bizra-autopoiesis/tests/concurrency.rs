//! Concurrency: readers and a writer sharing one store across threads, two stores on one file in
//! one process, and two processes writing and recalling one file at once. Every committed
//! pattern is recalled by every reader once committed, removals are seen, and the file stays
//! whole.

mod support;

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use bizra_autopoiesis::{IndexOrigin, PatternId, RecallOptions, Store};
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

/// A recall's answer as (id, similarity) pairs.
type Ranked = Vec<(PatternId, f32)>;

/// The recall of `v` through the index, beside the exact scan's.
fn both(store: &Store, v: &[f32], k: usize) -> (Ranked, Ranked) {
    let opts = RecallOptions::top(k).threshold(-1.0);
    let pairs = |r: Vec<bizra_autopoiesis::Recalled>| {
        r.into_iter()
            .map(|r| (r.pattern.id, r.similarity))
            .collect::<Ranked>()
    };
    (
        pairs(store.recall(v, opts).unwrap()),
        pairs(store.recall_exact(v, opts).unwrap()),
    )
}

/// A removal and an addition by another store leave the pattern count unchanged: the index
/// must still drop the one and take the other (counting alone would miss both).
#[test]
fn a_removal_and_an_addition_elsewhere_that_keep_the_count_are_both_seen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("swap.sqlite");
    let a = Store::open(&path).unwrap();
    let b = Store::open(&path).unwrap();
    let id = Identity::generate();
    let mut rng = Rng(12);
    let [x, y, w] = [(); 3].map(|_| support::normalised(&rng.vector(DIM)));
    let px = learn(&a, &id, "x", &x);
    let py = learn(&a, &id, "y", &y);
    assert_eq!(nearest(&a, &y).map(|(p, _)| p), Some(py));

    assert!(b.remove(py).unwrap());
    let pw = learn(&b, &id, "w", &w);
    assert_eq!(a.len().unwrap(), 2);
    for v in [&x, &y, &w] {
        let (indexed, exact) = both(&a, v, 2);
        assert_eq!(indexed.len(), 2, "{indexed:?}");
        assert_eq!(indexed, exact);
    }
    assert_eq!(nearest(&a, &w).map(|(p, _)| p), Some(pw));
    assert_eq!(nearest(&a, &x).map(|(p, _)| p), Some(px));
}

/// Two stores save the index of one file in turn: the last save wins and holds every pattern,
/// the other store's too, so the next open loads it rather than rebuilding.
#[test]
fn the_last_of_two_stores_to_save_the_index_leaves_one_that_loads() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("saves.sqlite");
    let a = Store::open(&path).unwrap();
    let b = Store::open(&path).unwrap();
    let id = Identity::generate();
    let mut rng = Rng(13);
    let [x, y] = [(); 2].map(|_| support::normalised(&rng.vector(DIM)));
    let px = learn(&a, &id, "x", &x);
    let py = learn(&b, &id, "y", &y);
    b.save_index().unwrap();
    a.save_index().unwrap(); // a never recalled: it catches up with y before saving
    drop(a);
    drop(b);
    let c = Store::open(&path).unwrap();
    assert_eq!(c.index_origin(), IndexOrigin::Loaded);
    assert_eq!(nearest(&c, &x).map(|(p, _)| p), Some(px));
    assert_eq!(nearest(&c, &y).map(|(p, _)| p), Some(py));
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn two_stores_on_one_file_see_each_others_writes_and_removals() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("shared.sqlite");
    let a = Store::open(&path).unwrap();
    let b = Store::open(&path).unwrap();
    let id = Identity::generate();
    let mut rng = Rng(11);

    // B opened before any pattern: it learns the dimension from A's first write, in the exact
    // scan as in the index.
    let x = support::normalised(&rng.vector(DIM));
    assert_eq!(b.dimension(), None);
    let px = learn(&a, &id, "x", &x);
    // Asked before anything else: the dimension another connection fixed.
    assert_eq!(b.dimension(), Some(DIM));
    let exact = b.recall_exact(&x, RecallOptions::top(1)).unwrap();
    assert_eq!(exact.first().map(|r| r.pattern.id), Some(px));
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
    // Once the parent says it is done, every one of its patterns is recalled here too.
    let mut line = String::new();
    std::io::stdin().read_line(&mut line).unwrap();
    assert_eq!(line.trim(), "done");
    for i in 0..PER_PROCESS {
        let (pid, similarity) = nearest(&store, &vector(1, i)).expect("an empty recall");
        assert!(similarity > 0.999, "parent pattern {i}: {similarity}");
        assert_eq!(
            store.get(pid).unwrap().unwrap().content,
            format!("parent {i}")
        );
    }
    assert_eq!(store.len().unwrap(), 2 * PER_PROCESS);
    store.integrity_check().unwrap();
    writeln!(out, "saw all").unwrap();
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
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
            .collect::<Vec<String>>()
    });

    // The parent writes too, and recalls each of its own patterns at once.
    let id = Identity::generate();
    for i in 0..PER_PROCESS {
        let v = vector(1, i);
        let pid = learn(&store, &id, &format!("parent {i}"), &v);
        assert_eq!(nearest(&store, &v).map(|(p, _)| p), Some(pid));
    }
    let mut stdin = child.stdin.take().unwrap();
    writeln!(stdin, "done").unwrap();
    drop(stdin);
    assert!(child.wait().unwrap().success(), "the child failed");
    let lines = reader.join().unwrap();
    // The harness may print its "test concurrent_child ... " before a line of ours.
    let child_ids: Vec<PatternId> = lines
        .iter()
        .filter_map(|l| {
            l.split_once("committed ")
                .map(|(_, id)| id.parse().unwrap())
        })
        .collect();
    assert_eq!(child_ids.len(), PER_PROCESS);
    assert!(
        lines.iter().any(|l| l.contains("saw all")),
        "the child did not see every pattern: {lines:?}"
    );

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

    // The child saved its index when it ended, this store saves on drop, after it: the file
    // left is this one's, which holds both processes' patterns.
    drop(store);
    let store = Store::open(&path).unwrap();
    assert_eq!(store.index_origin(), IndexOrigin::Loaded);
    for (who, i) in [(1, 0), (1, PER_PROCESS - 1), (2, 0), (2, PER_PROCESS - 1)] {
        let (indexed, exact) = both(&store, &vector(who, i), 5);
        assert_eq!(indexed, exact);
    }
}
