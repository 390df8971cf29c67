//! The store's file: persistence, schema versions, damaged files, crash safety.

mod support;

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};

use bizra_autopoiesis::{RecallOptions, Store, SCHEMA_VERSION};
use bizra_protocol::{ErrorKind, Identity, VerifyOptions};
use support::{pattern_envelope, Rng};

#[test]
fn patterns_and_preferences_survive_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(bizra_autopoiesis::STORE_FILE_NAME);
    let id = Identity::generate();
    let (pid, before) = {
        let store = Store::open(&path).unwrap();
        let pid = store
            .learn(
                &pattern_envelope(&id, "kept"),
                &[1.0, 2.0],
                &["t"],
                &VerifyOptions::default(),
            )
            .unwrap()
            .id();
        store.feedback(pid, true).unwrap();
        store
            .preferences()
            .observe("style", "tone", "concise")
            .unwrap();
        (pid, store.get(pid).unwrap().unwrap())
    };
    let store = Store::open(&path).unwrap();
    assert_eq!(store.get(pid).unwrap().unwrap(), before);
    assert_eq!(store.dimension(), Some(2));
    assert_eq!(store.preferences().all().unwrap().len(), 1);
    let hits = store.recall(&[1.0, 2.0], RecallOptions::default()).unwrap();
    assert_eq!(hits[0].pattern.id, pid);
    store.integrity_check().unwrap();
    let conn = rusqlite::Connection::open(&path).unwrap();
    let mode: String = conn
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
    let v: u32 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(v, SCHEMA_VERSION);
}

#[test]
fn a_store_written_by_a_newer_version_is_refused_and_left_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("newer.sqlite");
    {
        let store = Store::open(&path).unwrap();
        store.preferences().observe("k", "k", "v").unwrap();
    }
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.pragma_update(None, "user_version", SCHEMA_VERSION + 1)
            .unwrap();
        conn.pragma_update(None, "journal_mode", "DELETE").unwrap();
    }
    let bytes = std::fs::read(&path).unwrap();
    let listing = |d: &std::path::Path| {
        let mut v: Vec<_> = std::fs::read_dir(d)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        v.sort();
        v
    };
    let files = listing(dir.path());
    let e = Store::open(&path).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Io);
    let msg = e.to_string();
    assert!(
        msg.contains(&format!("schema version {}", SCHEMA_VERSION + 1)),
        "{msg}"
    );
    assert!(msg.contains(&format!("up to {SCHEMA_VERSION}")), "{msg}");
    assert!(msg.contains("newer.sqlite"), "{msg}");
    assert_eq!(std::fs::read(&path).unwrap(), bytes, "the file changed");
    assert_eq!(listing(dir.path()), files);
}

#[test]
fn a_file_that_is_not_a_database_is_refused_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("junk.sqlite");
    let junk = b"this is not a SQLite database, just some text that is long enough".repeat(100);
    std::fs::write(&path, &junk).unwrap();
    let e = Store::open(&path).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Io);
    assert!(e.to_string().contains("junk.sqlite"), "{e}");
    assert!(e.to_string().contains("not a database"), "{e}");
    assert_eq!(std::fs::read(&path).unwrap(), junk);
}

#[test]
fn a_damaged_database_is_refused_on_open() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("damaged.sqlite");
    {
        let store = Store::open(&path).unwrap();
        let id = Identity::generate();
        let mut rng = Rng(5);
        for i in 0..300 {
            store
                .learn(
                    &pattern_envelope(&id, &format!("pattern number {i}")),
                    &rng.vector(64),
                    &[],
                    &VerifyOptions::default(),
                )
                .unwrap();
        }
    }
    {
        // Checkpoint the log into the file, then go back to a rollback journal so that the
        // damage below is the only copy.
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.pragma_update(None, "journal_mode", "DELETE").unwrap();
    }
    let mut bytes = std::fs::read(&path).unwrap();
    let page = 4096;
    assert!(bytes.len() > 8 * page);
    // Scribble over a b-tree page in the middle of the file (past the header page).
    for b in &mut bytes[3 * page..3 * page + 200] {
        *b = 0x5A;
    }
    std::fs::write(&path, &bytes).unwrap();
    let e = Store::open(&path).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Io, "{e}");
    assert!(e.to_string().contains("damaged.sqlite"), "{e}");
}

#[test]
fn sql_errors_name_the_file_and_the_operation() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("no-such-dir").join("x.sqlite");
    let e = Store::open(&path).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Io);
    let msg = e.to_string();
    assert!(msg.contains("no-such-dir"), "{msg}");
    assert!(msg.contains("opening the database"), "{msg}");
}

const CHILD_ENV: &str = "BIZRA_AUTOPOIESIS_CRASH_CHILD";

/// The child: learns patterns into the store at $CHILD_ENV as fast as it can, printing each id
/// once its transaction has committed, until it is killed.
#[test]
fn crash_child() {
    let Ok(path) = std::env::var(CHILD_ENV) else {
        return; // only runs as the child of the crash test
    };
    let store = Store::open(&path).unwrap();
    let id = Identity::generate();
    let mut rng = Rng(std::process::id().into());
    let mut out = std::io::stdout().lock();
    for i in 0u64.. {
        let env = pattern_envelope(&id, &format!("child pattern {i}"));
        let learned = store
            .learn(&env, &rng.vector(32), &["crash"], &VerifyOptions::default())
            .unwrap();
        if i % 3 == 0 {
            store.feedback(learned.id(), true).unwrap();
        }
        store
            .preferences()
            .observe("crash", "i", &format!("{}", i % 4))
            .unwrap();
        writeln!(out, "committed {}", learned.id()).unwrap();
        out.flush().unwrap();
    }
}

#[test]
fn a_writer_killed_with_sigkill_loses_nothing_it_committed() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("crash.sqlite");
    for round in 0..3 {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "crash_child", "--nocapture", "--test-threads=1"])
            .env(CHILD_ENV, &path)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let mut committed = Vec::new();
        let mut lines = BufReader::new(stdout).lines();
        // Kill it at a different point each round, in the middle of its writes.
        let target = 40 + 37 * round;
        while committed.len() < target {
            let line = lines.next().expect("the child stopped early").unwrap();
            if let Some(id) = line.strip_prefix("committed ") {
                committed.push(id.parse::<i64>().unwrap());
            }
        }
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        // Whatever it printed before dying was committed too.
        for line in lines.map_while(Result::ok) {
            if let Some(id) = line.strip_prefix("committed ") {
                committed.push(id.parse().unwrap());
            }
        }
        let store = Store::open(&path).unwrap();
        store.integrity_check().unwrap();
        for id in &committed {
            let p = store
                .get(*id)
                .unwrap()
                .unwrap_or_else(|| panic!("round {round}: committed pattern {id} lost"));
            assert_eq!(p.tags, ["crash"]);
        }
        let all = store.list().unwrap();
        assert!(all.len() >= committed.len());
        // The index rebuilt on open agrees with the table.
        let q = all[0].embedding.clone();
        let opts = RecallOptions::top(5).threshold(-1.0);
        assert_eq!(
            store.recall(&q, opts).unwrap(),
            store.recall_exact(&q, opts).unwrap()
        );
    }
}
