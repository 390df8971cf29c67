//! The store: one SQLite database (a file in the node's data directory, or memory), its schema and
//! migrations, and the in-memory vector index rebuilt from it.
//!
//! Why SQLite: a node's memory must survive crashes and power loss without a server, and be
//! readable by other processes (a CLI, a backup) while the node runs. Why these settings:
//!
//! * **WAL** journal: readers never block the writer and a crash leaves either the whole last
//!   transaction or none of it.
//! * **`synchronous = FULL`**: in WAL mode `NORMAL` already survives a crashed or killed process,
//!   but may lose the last transactions on power loss; `FULL` syncs the log at every commit, so a
//!   pattern reported as learned is on disk. Learning runs at the pace of the model's embedding
//!   (milliseconds per call), so one `fsync` per commit costs little; imports are one transaction.
//! * **`PRAGMA quick_check` on open** (not the full `integrity_check`, which also cross-checks
//!   every index entry). Measured by `benches/recall.rs` on 2 cores: 0.13–0.15 s for a 166 MB
//!   store (10K imported patterns of dimension 576), 2.3 s for 1.66 GB (100K), that is about
//!   1.4 ms per MB, against 2.5 s and 75–79 s to rebuild the vector index at those sizes, and
//!   0.2 s and 2.7 s to load a saved one. Opening already reads every embedding (to rebuild the index or
//!   to check a saved one), so the check adds a fraction, and a damaged file is refused at once
//!   with a clear error instead of failing later in the middle of a learn or an import.
//! * **Schema version** in `PRAGMA user_version`, migrated in one transaction; a store written by a
//!   newer version is refused, and left as it was (it is read before anything is written).

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags, TransactionBehavior};

use bizra_protocol::{Error, Result};

use crate::recall::{IndexOrigin, VectorIndex};

/// The schema version this build writes, and the newest it reads.
pub const SCHEMA_VERSION: u32 = 2;

/// The file name of a node's store inside its data directory.
pub const STORE_FILE_NAME: &str = "autopoiesis.sqlite";

/// How long a write waits for another connection's write to finish before failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Migrations, in order: `MIGRATIONS[i]` takes the schema from version `i` to `i + 1`.
const MIGRATIONS: [&str; 2] = [
    r#"
CREATE TABLE meta (
    key   TEXT PRIMARY KEY NOT NULL,
    value TEXT NOT NULL
) STRICT;

CREATE TABLE patterns (
    id            INTEGER PRIMARY KEY,
    content       TEXT NOT NULL,
    content_hash  BLOB NOT NULL UNIQUE CHECK (length(content_hash) = 32),
    embedding     BLOB NOT NULL,
    tags          TEXT NOT NULL,
    source_node   TEXT NOT NULL,
    envelope      TEXT NOT NULL,
    envelope_id   TEXT NOT NULL,
    confidence    REAL NOT NULL CHECK (confidence >= 0.0 AND confidence <= 1.0),
    observations  INTEGER NOT NULL CHECK (observations >= 1),
    positive      INTEGER NOT NULL DEFAULT 0 CHECK (positive >= 0),
    negative      INTEGER NOT NULL DEFAULT 0 CHECK (negative >= 0),
    created_ms    INTEGER NOT NULL,
    updated_ms    INTEGER NOT NULL,
    elevation     TEXT NOT NULL DEFAULT 'none'
                  CHECK (elevation IN ('none', 'local', 'certified')),
    certificate   TEXT,
    height        INTEGER,
    CHECK ((elevation = 'certified') = (certificate IS NOT NULL AND height IS NOT NULL))
) STRICT;

CREATE TABLE pattern_envelopes (
    envelope_id   TEXT PRIMARY KEY NOT NULL,
    pattern_id    INTEGER NOT NULL REFERENCES patterns(id) ON DELETE CASCADE,
    learned_ms    INTEGER NOT NULL
) STRICT;
CREATE INDEX pattern_envelopes_by_pattern ON pattern_envelopes(pattern_id);

CREATE TABLE preferences (
    kind          TEXT NOT NULL,
    key           TEXT NOT NULL,
    value         TEXT NOT NULL,
    confidence    REAL NOT NULL CHECK (confidence >= 0.0 AND confidence <= 1.0),
    observations  INTEGER NOT NULL CHECK (observations >= 1),
    created_ms    INTEGER NOT NULL,
    updated_ms    INTEGER NOT NULL,
    PRIMARY KEY (kind, key, value)
) STRICT;
"#,
    // 2: elevation through the federation. A certified pattern's proof is its height's commit
    // certificate and the whole decided batch (the certificate signs the batch's id, which is a
    // hash of every proposal in it), kept once per height. `proposed_ms` stops a node from
    // proposing the same pattern at every tick while the federation decides.
    r#"
CREATE TABLE decisions (
    height        INTEGER PRIMARY KEY CHECK (height >= 1),
    federation    TEXT NOT NULL,
    certificate   TEXT NOT NULL,
    batch         TEXT NOT NULL,
    stored_ms     INTEGER NOT NULL
) STRICT;

ALTER TABLE patterns ADD COLUMN proposed_ms INTEGER;
CREATE INDEX patterns_by_elevation ON patterns(elevation, confidence);
"#,
];

/// A node's memory: patterns, preferences and the vector index over the patterns' embeddings.
///
/// `Send + Sync`: the connection and the index sit behind one mutex, so a node thread can own the
/// store and other threads can share it (their calls take turns). Every write is one transaction:
/// it happens entirely or not at all, and the index follows only what was committed.
pub struct Store {
    pub(crate) inner: Mutex<Inner>,
}

pub(crate) struct Inner {
    pub(crate) conn: Connection,
    /// The file, or `:memory:`, for error messages.
    pub(crate) path: PathBuf,
    /// The embedding dimension, fixed by the first pattern (None while the store has none).
    pub(crate) dimension: Option<usize>,
    /// The index over the committed embeddings (None until the dimension is known).
    pub(crate) index: Option<VectorIndex>,
    /// Whether the store is a file (whose index is persisted beside it).
    pub(crate) file: bool,
    /// Whether the index changed since it was last saved or loaded.
    pub(crate) index_dirty: bool,
    /// Where the index came from when the store was opened.
    pub(crate) index_origin: IndexOrigin,
    /// `PRAGMA data_version` when the index last caught up with the table ([`Inner::sync`]).
    pub(crate) data_version: i64,
    /// Every pattern in the table with an id at most this one is in the index: ids only grow, so
    /// only rows above it can be missing after another connection's commits.
    pub(crate) caught_up: crate::patterns::PatternId,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let inner = self.lock();
        f.debug_struct("Store")
            .field("path", &inner.path)
            .field("dimension", &inner.dimension)
            .finish_non_exhaustive()
    }
}

impl Store {
    /// Opens (creating it if absent) the store in the SQLite file at `path`: a node keeps it at
    /// `<data_dir>/autopoiesis.sqlite` ([`STORE_FILE_NAME`]).
    ///
    /// Refuses a file that is not a SQLite database, one that fails `PRAGMA quick_check`, and one
    /// written by a newer schema version (naming both versions; the file is left untouched). The
    /// vector index is rebuilt from the patterns table.
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref().to_path_buf();
        let conn = Connection::open_with_flags(
            &path,
            OpenFlags::SQLITE_OPEN_READ_WRITE
                | OpenFlags::SQLITE_OPEN_CREATE
                | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(|e| sql_error(&path, "opening the database", e))?;
        Self::init(conn, path, true)
    }

    /// A store in memory: for tests and short-lived callers; gone when dropped.
    pub fn in_memory() -> Result<Self> {
        let path = PathBuf::from(":memory:");
        let conn =
            Connection::open_in_memory().map_err(|e| sql_error(&path, "opening in memory", e))?;
        Self::init(conn, path, false)
    }

    fn init(mut conn: Connection, path: PathBuf, file: bool) -> Result<Self> {
        conn.busy_timeout(BUSY_TIMEOUT)
            .map_err(|e| sql_error(&path, "setting the busy timeout", e))?;
        // Read before anything is written: a newer store must stay as it is.
        let found = user_version(&conn, &path)?;
        refuse_newer(&path, found)?;
        if file {
            let mode: String = conn
                .pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))
                .map_err(|e| sql_error(&path, "switching to WAL mode", e))?;
            if !mode.eq_ignore_ascii_case("wal") {
                return Err(store_error(
                    &path,
                    format!("switching to WAL mode: SQLite kept journal mode {mode}"),
                ));
            }
        }
        conn.pragma_update(None, "synchronous", "FULL")
            .map_err(|e| sql_error(&path, "setting synchronous = FULL", e))?;
        conn.pragma_update(None, "foreign_keys", "ON")
            .map_err(|e| sql_error(&path, "enabling foreign keys", e))?;
        if file && found > 0 {
            quick_check(&conn, &path)?;
        }
        migrate(&mut conn, &path)?;
        let dimension = crate::patterns::stored_dimension(&conn, &path)?;
        let mut inner = Inner {
            conn,
            path,
            dimension,
            index: None,
            file,
            index_dirty: false,
            index_origin: IndexOrigin::Empty,
            data_version: 0,
            caught_up: 0,
        };
        // Read first: a commit made while the index is rebuilt is caught up at the next recall.
        let version = crate::recall::data_version(&inner.conn, &inner.path)?;
        inner.rebuild_index()?;
        inner.data_version = version;
        Ok(Store {
            inner: Mutex::new(inner),
        })
    }

    /// The store's file (`:memory:` for an in-memory store).
    pub fn path(&self) -> PathBuf {
        self.lock().path.clone()
    }

    /// The embedding dimension of the store's patterns: fixed by the first pattern learned (here
    /// or by another connection to the file), None while there is none, or when the table
    /// cannot be read.
    pub fn dimension(&self) -> Option<usize> {
        let mut inner = self.lock();
        inner.refresh_dimension().ok()?;
        inner.dimension
    }

    /// Where the vector index came from when the store was opened: loaded from the file beside
    /// the database (after checking it against the table), rebuilt from the table, or empty.
    pub fn index_origin(&self) -> IndexOrigin {
        self.lock().index_origin
    }

    /// Saves the vector index beside the database (`<file>.usearch`), if it changed since it was
    /// loaded or saved, so that the next open can load it instead of rebuilding it. Dropping the
    /// store does the same, ignoring errors; an in-memory store has nothing to save. The saved
    /// index is only ever a shortcut: see [`crate::recall`].
    pub fn save_index(&self) -> Result<()> {
        self.lock().save_index()
    }

    /// Runs `PRAGMA integrity_check` (every page, index and constraint): `Ok` when SQLite answers
    /// `ok`, otherwise an error carrying what it found.
    pub fn integrity_check(&self) -> Result<()> {
        let inner = self.lock();
        check(&inner.conn, &inner.path, "integrity_check")
    }

    /// The mutex guard. A panic while it was held leaves SQLite consistent (an unfinished
    /// transaction rolls back when dropped), so a poisoned lock is taken over.
    pub(crate) fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }
}

fn user_version(conn: &Connection, path: &Path) -> Result<u32> {
    let v: i64 = conn
        .pragma_query_value(None, "user_version", |row| row.get(0))
        .map_err(|e| sql_error(path, "reading the schema version", e))?;
    u32::try_from(v).map_err(|_| {
        store_error(
            path,
            format!("reading the schema version: {v} is not a schema version"),
        )
    })
}

fn refuse_newer(path: &Path, found: u32) -> Result<()> {
    if found > SCHEMA_VERSION {
        return Err(store_error(
            path,
            format!(
                "schema version {found} was written by a newer bizra; this build reads versions up \
                 to {SCHEMA_VERSION}. The file was not modified: open it with a newer bizra"
            ),
        ));
    }
    Ok(())
}

fn quick_check(conn: &Connection, path: &Path) -> Result<()> {
    check(conn, path, "quick_check")
}

fn check(conn: &Connection, path: &Path, pragma: &str) -> Result<()> {
    let op = format!("PRAGMA {pragma}");
    let mut stmt = conn
        .prepare(&format!("PRAGMA {pragma}"))
        .map_err(|e| sql_error(path, &op, e))?;
    let lines: Vec<String> = stmt
        .query_map([], |row| row.get::<_, String>(0))
        .and_then(|rows| rows.collect())
        .map_err(|e| sql_error(path, &op, e))?;
    if lines.len() == 1 && lines[0] == "ok" {
        Ok(())
    } else {
        Err(store_error(
            path,
            format!("{op}: the database is damaged: {}", lines.join("; ")),
        ))
    }
}

/// Brings the schema to [`SCHEMA_VERSION`] in one transaction. The version is read again inside
/// the transaction, so two processes opening a new file at once migrate it once.
fn migrate(conn: &mut Connection, path: &Path) -> Result<()> {
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(|e| sql_error(path, "starting the migration", e))?;
    let found = user_version(&tx, path)?;
    refuse_newer(path, found)?;
    if found == SCHEMA_VERSION {
        return Ok(()); // the transaction rolls back: nothing was written
    }
    for (from, sql) in MIGRATIONS.iter().enumerate().skip(found as usize) {
        tx.execute_batch(sql).map_err(|e| {
            sql_error(
                path,
                &format!("migrating the schema from version {from} to {}", from + 1),
                e,
            )
        })?;
    }
    tx.pragma_update(None, "user_version", SCHEMA_VERSION)
        .map_err(|e| sql_error(path, "writing the schema version", e))?;
    tx.commit()
        .map_err(|e| sql_error(path, "committing the migration", e))
}

/// A SQLite failure during `op` on the store at `path`: an [`Error::Io`] naming the file, the
/// operation and SQLite's message.
pub(crate) fn sql_error(path: &Path, op: &str, e: rusqlite::Error) -> Error {
    let kind = match &e {
        rusqlite::Error::SqliteFailure(f, _) => match f.code {
            rusqlite::ErrorCode::NotADatabase | rusqlite::ErrorCode::DatabaseCorrupt => {
                std::io::ErrorKind::InvalidData
            }
            rusqlite::ErrorCode::PermissionDenied | rusqlite::ErrorCode::ReadOnly => {
                std::io::ErrorKind::PermissionDenied
            }
            rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked => {
                std::io::ErrorKind::WouldBlock
            }
            rusqlite::ErrorCode::CannotOpen => std::io::ErrorKind::NotFound,
            _ => std::io::ErrorKind::Other,
        },
        _ => std::io::ErrorKind::Other,
    };
    Error::io(
        path,
        std::io::Error::new(kind, format!("autopoiesis store, {op}: {e}")),
    )
}

/// A store that cannot be used as it is (damaged, too new, inconsistent): an [`Error::Io`] of
/// kind `InvalidData` naming the file.
pub(crate) fn store_error(path: &Path, detail: String) -> Error {
    Error::io(
        path,
        std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("autopoiesis store, {detail}"),
        ),
    )
}

impl Drop for Store {
    fn drop(&mut self) {
        let _ = self.lock().save_index();
    }
}

/// Milliseconds since the Unix epoch, for created/updated stamps.
pub(crate) fn now_ms() -> i64 {
    bizra_protocol::Timestamp::now().unix_millis()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rusqlite::params;

    /// A store of schema version 1 (as this crate's first release wrote it), with one pattern,
    /// opens as version 2 with the pattern intact.
    #[test]
    fn a_version_1_store_is_migrated_and_keeps_its_patterns() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("v1.sqlite");
        {
            let conn = Connection::open(&path).unwrap();
            conn.execute_batch(MIGRATIONS[0]).unwrap();
            conn.execute(
                "INSERT INTO patterns (content, content_hash, embedding, tags, source_node, \
                 envelope, envelope_id, confidence, observations, created_ms, updated_ms) \
                 VALUES ('old', ?1, ?2, '[]', 'n', '{}', 'pci_0', 0.7, 2, 1, 1)",
                params![
                    blake3::hash(b"old").as_bytes().as_slice(),
                    [0u8, 0, 128, 63].as_slice()
                ],
            )
            .unwrap();
            conn.execute(
                "INSERT INTO meta (key, value) VALUES ('dimension', '1')",
                [],
            )
            .unwrap();
            conn.pragma_update(None, "user_version", 1).unwrap();
        }
        let store = Store::open(&path).unwrap();
        let p = store.list().unwrap();
        assert_eq!(p.len(), 1);
        assert_eq!((p[0].content.as_str(), p[0].confidence), ("old", 0.7));
        assert_eq!(p[0].embedding, [1.0]);
        let inner = store.lock();
        assert_eq!(user_version(&inner.conn, &path).unwrap(), SCHEMA_VERSION);
        let proposed: Option<i64> = inner
            .conn
            .query_row("SELECT proposed_ms FROM patterns", [], |r| r.get(0))
            .unwrap();
        assert_eq!(proposed, None);
        let decisions: i64 = inner
            .conn
            .query_row("SELECT count(*) FROM decisions", [], |r| r.get(0))
            .unwrap();
        assert_eq!(decisions, 0);
    }
}
