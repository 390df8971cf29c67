//! Recall by meaning: the patterns whose embeddings lie nearest a query's, by cosine similarity.
//!
//! [`Store::recall`] asks the vector index (usearch, kept in memory, keyed by the patterns'
//! rowids; its shape and the figures behind it are in `index.rs`) for candidates, then reads
//! their embeddings from the table and scores them exactly there. The index only proposes: the
//! table decides what exists and how similar it is. While the store holds at most
//! [`SCAN_LIMIT`] patterns, the candidates come from an exact scan of every (i8-quantised)
//! embedding, so recall is exact but for ties that quantisation reorders below the top k; past
//! it, from HNSW graphs ([`Store::recall_by_graph`] walks them at any size).
//!
//! The index follows every commit: this store's own once they are made, and those of other
//! connections to the same file (another process, or another `Store` in this one) before each
//! recall and before the index is saved. The rule, and why it is cheap:
//!
//! * `PRAGMA data_version` changes exactly when another connection has committed. Each recall
//!   reads it; unchanged, there is nothing to do (a store used alone pays one pragma).
//! * Pattern ids are never reused (a new one is above any ever given, even after removals), so
//!   every row with an id at most the highest id the index has caught up to is already indexed,
//!   or has been removed since. Catching up reads, in one snapshot, the ids above that mark (a
//!   range of the rowid B-tree: as many rows as were written elsewhere), adds those the index
//!   lacks, then counts the rows (through an index, not the wide rows). When the count is the
//!   index's, nothing was removed; otherwise every id is listed and the index takes exactly the
//!   table's set. That also covers the first pattern stored by another connection, which fixes
//!   the dimension here.
//!
//! A file store saves the index beside the database (`<file>.usearch`, [`INDEX_FILE_SUFFIX`])
//! when dropped or on [`Store::save_index`], because rebuilding takes long on large stores
//! (building the graphs: about 20 s at 100K patterns of dimension 576 on 2 cores; loading the
//! saved index takes a second or two). The saved file is never trusted over the table: it is
//! loaded only if its BLAKE3 is the one the table recorded when it was saved and it holds
//! exactly the table's embeddings, quantised (one scan, far cheaper than a rebuild); otherwise
//! the index is rebuilt from the table. A process killed after writing leaves a stale file, and
//! two processes saving at once may leave one's file beside the other's hash (the last rename
//! and the last hash recorded win, each on its own): that check refuses both.
//! [`Store::recall_exact`] scans every embedding in the table, in f32: the reference that the
//! index is tested against.
//!
//! Similarity is the dot product of two L2-normalised vectors (the cosine), in [-1, 1]. Results
//! are ordered by similarity, highest first, ties by id; only those at or above the threshold
//! (default [`DEFAULT_THRESHOLD`]) are returned.

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};

use bizra_protocol::{Error, Result};
use rusqlite::OptionalExtension;

use crate::patterns::{
    embedding_from_bytes, get, normalise, pattern_from_row, Pattern, PatternId, COLUMNS,
};
use crate::store::{sql_error, store_error, Inner, Store};

use crate::index::Search;
pub(crate) use crate::index::VectorIndex;
pub use crate::index::SCAN_LIMIT;

/// The similarity below which nothing is recalled, unless the caller says otherwise.
pub const DEFAULT_THRESHOLD: f32 = 0.5;
/// How many patterns are recalled, unless the caller says otherwise.
pub const DEFAULT_K: usize = 10;

/// Embeddings read from the table per insertion batch when rebuilding (bounds what a rebuild
/// holds in memory beside the index).
const REBUILD_BATCH: usize = 8192;

/// The suffix of the file, beside a store's database, that holds its saved vector index.
pub const INDEX_FILE_SUFFIX: &str = ".usearch";

/// Where a store's vector index came from when it was opened ([`Store::index_origin`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IndexOrigin {
    /// The store had no pattern.
    Empty,
    /// Built from the patterns table (no saved index, or one that did not match the table).
    Rebuilt,
    /// Loaded from the saved index file, which matched the table exactly.
    Loaded,
}

/// What to recall: how many patterns at most, and the lowest similarity.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RecallOptions {
    /// The most patterns returned.
    pub k: usize,
    /// The lowest cosine similarity returned (default [`DEFAULT_THRESHOLD`]).
    pub threshold: f32,
}

impl Default for RecallOptions {
    fn default() -> Self {
        RecallOptions {
            k: DEFAULT_K,
            threshold: DEFAULT_THRESHOLD,
        }
    }
}

impl RecallOptions {
    /// The `k` nearest at or above the default threshold.
    pub fn top(k: usize) -> Self {
        RecallOptions {
            k,
            ..Self::default()
        }
    }

    /// With another threshold.
    pub fn threshold(mut self, threshold: f32) -> Self {
        self.threshold = threshold;
        self
    }
}

/// A recalled pattern and its cosine similarity to the query.
#[derive(Clone, Debug, PartialEq)]
pub struct Recalled {
    /// The pattern.
    pub pattern: Pattern,
    /// Cosine similarity to the query, in [-1, 1].
    pub similarity: f32,
}

impl Recalled {
    /// [`Pattern::to_json`] with `"similarity"`.
    pub fn to_json(&self) -> serde_json::Value {
        let mut v = self.pattern.to_json();
        if let serde_json::Value::Object(m) = &mut v {
            m.insert("similarity".into(), serde_json::json!(self.similarity));
        }
        v
    }
}

/// What [`Inner::sync`] found: the data version it read, the rows to add and the ids to remove,
/// and the highest id it saw.
#[derive(Default)]
struct CatchUp {
    version: i64,
    added: Vec<(PatternId, Vec<f32>)>,
    removed: Vec<PatternId>,
    caught_up: PatternId,
}

impl Inner {
    /// Rebuilds the index from the patterns table (on open).
    pub(crate) fn rebuild_index(&mut self) -> Result<()> {
        self.index = None;
        self.index_origin = IndexOrigin::Empty;
        self.caught_up = 0;
        let Some(dimension) = self.dimension else {
            return Ok(());
        };
        if self.file {
            if let Some(index) = self.load_saved_index(dimension) {
                self.caught_up = index.keys().iter().copied().max().unwrap_or(0);
                self.index = Some(index);
                self.index_origin = IndexOrigin::Loaded;
                return Ok(());
            }
        }
        self.index_origin = IndexOrigin::Rebuilt;
        self.index_dirty = true;
        let path = self.path.clone();
        let mut index = VectorIndex::new(dimension)
            .map_err(|e| store_error(&path, format!("creating the vector index: {e}")))?;
        let count: i64 = self
            .conn
            .query_row("SELECT count(*) FROM patterns", [], |r| r.get(0))
            .map_err(|e| sql_error(&path, "counting patterns", e))?;
        let count = usize::try_from(count).unwrap_or(0);
        if count > 0 {
            index
                .reserve(count)
                .map_err(|e| store_error(&path, format!("sizing the vector index: {e}")))?;
        }
        let mut stmt = self
            .conn
            .prepare("SELECT id, embedding FROM patterns ORDER BY id")
            .map_err(|e| sql_error(&path, "reading embeddings", e))?;
        let mut rows = stmt
            .query([])
            .map_err(|e| sql_error(&path, "reading embeddings", e))?;
        let mut batch: Vec<(PatternId, Vec<f32>)> = Vec::with_capacity(REBUILD_BATCH);
        loop {
            let row = rows
                .next()
                .map_err(|e| sql_error(&path, "reading embeddings", e))?;
            let done = row.is_none();
            if let Some(row) = row {
                let id: PatternId = row
                    .get(0)
                    .map_err(|e| sql_error(&path, "reading embeddings", e))?;
                let blob = row
                    .get_ref(1)
                    .map_err(|e| sql_error(&path, "reading embeddings", e))?;
                let v = stored_vector(&path, id, blob.as_blob().ok(), dimension)?;
                batch.push((id, v));
            }
            if batch.len() == REBUILD_BATCH || (done && !batch.is_empty()) {
                index
                    .add_many(&batch)
                    .map_err(|e| store_error(&path, format!("indexing: {e}")))?;
                batch.clear();
            }
            if done {
                break;
            }
        }
        drop(rows);
        drop(stmt);
        self.caught_up = index.keys().iter().copied().max().unwrap_or(0);
        self.index = Some(index);
        Ok(())
    }

    /// Brings the index up to what the table holds after other connections' commits (another
    /// process, or another `Store` on the same file); the rule is in the module docs. Everything
    /// is read in one snapshot, then applied to the index.
    pub(crate) fn sync(&mut self) -> Result<()> {
        if data_version(&self.conn, &self.path)? == self.data_version {
            return Ok(());
        }
        let path = self.path.clone();
        let plan = {
            let tx = self
                .conn
                .unchecked_transaction()
                .map_err(|e| sql_error(&path, "starting to catch up the index", e))?;
            // Read inside the snapshot, so that any commit after it changes the version again.
            let version = data_version(&tx, &path)?;
            if self.dimension.is_none() {
                self.dimension = crate::patterns::stored_dimension(&tx, &path)?;
            }
            let plan = match self.dimension {
                None => CatchUp::default(),
                Some(dimension) => self.catch_up(&tx, dimension)?,
            };
            tx.finish()
                .map_err(|e| sql_error(&path, "ending the index catch-up", e))?;
            CatchUp { version, ..plan }
        };
        for id in plan.removed {
            self.index_remove(id)?;
        }
        if !plan.added.is_empty() {
            self.index_dirty = true;
            let index = match self.index.take() {
                Some(index) => index,
                None => VectorIndex::new(plan.added[0].1.len())
                    .map_err(|e| store_error(&path, format!("creating the vector index: {e}")))?,
            };
            let index = self.index.insert(index);
            index
                .add_many(&plan.added)
                .map_err(|e| store_error(&path, format!("indexing: {e}")))?;
        }
        self.caught_up = self.caught_up.max(plan.caught_up);
        self.data_version = plan.version;
        Ok(())
    }

    /// What the index lacks and what it holds in excess, as `conn`'s snapshot shows the table:
    /// the rows above [`Inner::caught_up`] that it does not hold, then, only when the count of
    /// rows still differs from the index's, a full comparison of the ids.
    fn catch_up(&self, conn: &rusqlite::Connection, dimension: usize) -> Result<CatchUp> {
        let path = &self.path;
        let empty = HashSet::new();
        let held = self.index.as_ref().map_or(&empty, |i| i.keys());
        let mut plan = CatchUp {
            caught_up: self.caught_up,
            ..CatchUp::default()
        };
        let mut stmt = conn
            .prepare_cached("SELECT id FROM patterns WHERE id > ?1 ORDER BY id")
            .map_err(|e| sql_error(path, "listing new pattern ids", e))?;
        let above: Vec<PatternId> = stmt
            .query_map([self.caught_up], |r| r.get(0))
            .and_then(|rows| rows.collect())
            .map_err(|e| sql_error(path, "listing new pattern ids", e))?;
        plan.caught_up = above.last().copied().unwrap_or(self.caught_up);
        let mut missing: Vec<PatternId> =
            above.into_iter().filter(|id| !held.contains(id)).collect();
        // Counted through an index (SQLite scans the narrowest it has), not the wide rows.
        let count: i64 = conn
            .query_row("SELECT count(*) FROM patterns", [], |r| r.get(0))
            .map_err(|e| sql_error(path, "counting patterns", e))?;
        if usize::try_from(count).ok() != Some(held.len() + missing.len()) {
            let mut stmt = conn
                .prepare_cached("SELECT id FROM patterns")
                .map_err(|e| sql_error(path, "listing pattern ids", e))?;
            let live: HashSet<PatternId> = stmt
                .query_map([], |r| r.get(0))
                .and_then(|rows| rows.collect())
                .map_err(|e| sql_error(path, "listing pattern ids", e))?;
            plan.removed = held.difference(&live).copied().collect();
            missing = live.into_iter().filter(|id| !held.contains(id)).collect();
            missing.sort_unstable();
        }
        let mut stmt = conn
            .prepare_cached("SELECT embedding FROM patterns WHERE id = ?1")
            .map_err(|e| sql_error(path, "reading embeddings", e))?;
        for id in missing {
            let blob: Vec<u8> = stmt
                .query_row([id], |r| r.get(0))
                .map_err(|e| sql_error(path, "reading embeddings", e))?;
            let v = embedding_from_bytes(&blob)
                .filter(|v| v.len() == dimension)
                .ok_or_else(|| {
                    store_error(
                        path,
                        format!("pattern {id}: the stored embedding is not {dimension} f32 values"),
                    )
                })?;
            plan.added.push((id, v));
        }
        Ok(plan)
    }

    /// Reads the dimension from the table while it is unknown here: another connection may have
    /// stored the first pattern.
    pub(crate) fn refresh_dimension(&mut self) -> Result<()> {
        if self.dimension.is_none() {
            self.dimension = crate::patterns::stored_dimension(&self.conn, &self.path)?;
        }
        Ok(())
    }

    fn index_file(&self) -> PathBuf {
        let mut name = self.path.clone().into_os_string();
        name.push(INDEX_FILE_SUFFIX);
        PathBuf::from(name)
    }

    /// The saved index, if there is one that is exactly what the table holds: the file's BLAKE3
    /// is the one recorded in the table when it was saved (so it is a file this store wrote
    /// whole), and it holds every pattern's embedding, bit for bit, and nothing else (so no write
    /// since has been missed). Anything else is None, and the index is rebuilt.
    fn load_saved_index(&self, dimension: usize) -> Option<VectorIndex> {
        let recorded: String = self
            .conn
            .query_row(
                "SELECT value FROM meta WHERE key = 'index_blake3'",
                [],
                |r| r.get(0),
            )
            .ok()?;
        let bytes = std::fs::read(self.index_file()).ok()?;
        if blake3::hash(&bytes).to_hex().as_str() != recorded {
            return None;
        }
        let mut index = VectorIndex::from_bytes(dimension, &bytes).ok()?;
        drop(bytes);
        let count: i64 = self
            .conn
            .query_row("SELECT count(*) FROM patterns", [], |r| r.get(0))
            .ok()?;
        if usize::try_from(count).ok()? != index.stored() {
            return None;
        }
        let mut stmt = self
            .conn
            .prepare("SELECT id, embedding FROM patterns")
            .ok()?;
        let mut rows = stmt.query([]).ok()?;
        while let Some(row) = rows.next().ok()? {
            let id: PatternId = row.get(0).ok()?;
            let blob = row.get_ref(1).ok()?;
            let v = embedding_from_bytes(blob.as_blob().ok()?)?;
            if !index.holds(id, &v) {
                return None;
            }
            index.hold(id);
        }
        Some(index)
    }

    /// Writes the index beside the database (a new file renamed over the old one), then records
    /// its BLAKE3 in the table. A crash between the two leaves a hash that does not match: the
    /// next open rebuilds.
    ///
    /// Another process may save its own index at the same time: each writes its own temporary
    /// file, and the last rename and the last hash recorded win. When they are not the same
    /// process's, the hash does not match the file and the next open rebuilds. The index first
    /// catches up with the table, so that the file saved holds every committed pattern.
    pub(crate) fn save_index(&mut self) -> Result<()> {
        if !self.file {
            return Ok(());
        }
        self.sync()?;
        if !self.index_dirty {
            return Ok(());
        }
        let Some(index) = self.index.as_ref() else {
            return Ok(());
        };
        let target = self.index_file();
        let bytes = index
            .to_bytes()
            .map_err(|e| store_error(&self.path, format!("serialising the vector index: {e}")))?;
        // Named after this process and this save: two savers never write one temporary file.
        static SAVES: AtomicU64 = AtomicU64::new(0);
        let mut tmp = target.clone().into_os_string();
        tmp.push(format!(
            ".{}-{}.tmp",
            std::process::id(),
            SAVES.fetch_add(1, Ordering::Relaxed)
        ));
        let tmp = PathBuf::from(tmp);
        let write = || -> std::io::Result<()> {
            use std::io::Write as _;
            let mut f = std::fs::File::create(&tmp)?;
            f.write_all(&bytes)?;
            f.sync_all()?;
            std::fs::rename(&tmp, &target)
        };
        write().map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            Error::io(&target, e)
        })?;
        let hash = blake3::hash(&bytes).to_hex().to_string();
        self.conn
            .execute(
                "INSERT OR REPLACE INTO meta (key, value) VALUES ('index_blake3', ?1)",
                [hash],
            )
            .map_err(|e| sql_error(&self.path, "recording the saved index", e))?;
        self.index_dirty = false;
        Ok(())
    }

    /// Adds what this connection just committed (one pattern).
    pub(crate) fn index_add(&mut self, id: PatternId, v: &[f32]) -> Result<()> {
        self.index_committed(&[(id, v.to_vec())])
    }

    /// Adds what this connection just committed (several patterns, by id).
    pub(crate) fn index_add_many(&mut self, added: &[(PatternId, Vec<f32>)]) -> Result<()> {
        self.index_committed(added)
    }

    /// Adds this connection's newly committed patterns. When no other connection has committed
    /// since the last catch-up (the data version is the one it read), the index holds every row
    /// and [`Inner::caught_up`] moves past these ids, so that the next catch-up does not list
    /// them again.
    fn index_committed(&mut self, added: &[(PatternId, Vec<f32>)]) -> Result<()> {
        let Some(first) = added.first() else {
            return Ok(());
        };
        self.index_dirty = true;
        let path = self.path.clone();
        let index = match self.index.take() {
            Some(index) => index,
            None => VectorIndex::new(first.1.len())
                .map_err(|e| store_error(&path, format!("creating the vector index: {e}")))?,
        };
        let index = self.index.insert(index);
        match added {
            [(id, v)] => index
                .add(*id, v)
                .map_err(|e| store_error(&path, format!("indexing pattern {id}: {e}")))?,
            _ => index
                .add_many(added)
                .map_err(|e| store_error(&path, format!("indexing: {e}")))?,
        }
        if data_version(&self.conn, &path)? == self.data_version {
            let highest = added.iter().map(|(id, _)| *id).max().unwrap_or(0);
            self.caught_up = self.caught_up.max(highest);
        }
        Ok(())
    }

    pub(crate) fn index_remove(&mut self, id: PatternId) -> Result<()> {
        self.index_dirty = true;
        let path = self.path.clone();
        match self.index.as_mut() {
            Some(index) => index.remove(id).map_err(|e| {
                store_error(&path, format!("removing pattern {id} from the index: {e}"))
            }),
            None => Ok(()),
        }
    }
}

impl Inner {
    /// Candidates from the index (`how`; None when it has no vector), scored exactly against
    /// their stored embeddings; the `opts.k` best at or above the threshold, read whole.
    fn recall_with(
        &self,
        query: &[f32],
        opts: RecallOptions,
        how: Option<Search>,
    ) -> Result<Vec<Recalled>> {
        let Some(q) = prepare_query(query, self.dimension)? else {
            return Ok(Vec::new());
        };
        let (Some(index), Some(how)) = (self.index.as_ref(), how) else {
            return Ok(Vec::new());
        };
        if opts.k == 0 {
            return Ok(Vec::new());
        }
        let path = &self.path;
        let ids = index
            .candidates(&q, candidates(opts.k), how)
            .map_err(|e| store_error(path, format!("searching the vector index: {e}")))?;
        let mut stmt = self
            .conn
            .prepare_cached("SELECT embedding FROM patterns WHERE id = ?1")
            .map_err(|e| sql_error(path, "reading embeddings", e))?;
        let mut best: Vec<(f32, PatternId)> = Vec::with_capacity(ids.len());
        for id in ids {
            // The table decides: a key the table no longer holds is skipped.
            let blob: Option<Vec<u8>> = stmt
                .query_row([id], |r| r.get(0))
                .optional()
                .map_err(|e| sql_error(path, "reading embeddings", e))?;
            let Some(blob) = blob else { continue };
            let v = stored_vector(path, id, Some(&blob), q.len())?;
            let similarity = dot(&q, &v);
            if similarity >= opts.threshold {
                best.push((similarity, id));
            }
        }
        best.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
        best.truncate(opts.k);
        let mut out = Vec::with_capacity(best.len());
        for (similarity, id) in best {
            if let Some(pattern) = get(&self.conn, path, id)? {
                out.push(Recalled {
                    pattern,
                    similarity,
                });
            }
        }
        Ok(out)
    }
}

/// Candidates asked of each shard for a top `k` (each shard may hold the whole top `k`): twice
/// `k`, so that quantisation (which moves a similarity by about 10⁻³) does not cost one of the
/// exact top `k`; at 100K uniformly random vectors, where neighbours are closest together, a
/// single scan's own top 10 already held 99.6% of them.
fn candidates(k: usize) -> usize {
    k.saturating_mul(2).max(16)
}

impl Store {
    /// The patterns nearest `query` (any length-`dimension` vector; it is normalised here)
    /// through the vector index: at most `opts.k`, each at or above `opts.threshold`, highest
    /// similarity first. An empty store recalls nothing.
    pub fn recall(&self, query: &[f32], opts: RecallOptions) -> Result<Vec<Recalled>> {
        let mut inner = self.lock();
        inner.sync()?;
        let how = inner.index.as_ref().map(VectorIndex::search_kind);
        inner.recall_with(query, opts, how)
    }

    /// [`Store::recall`] through the HNSW graphs whatever the store's size (recall walks them
    /// only past [`SCAN_LIMIT`] patterns): what a large store's recall does, on a small one.
    pub fn recall_by_graph(&self, query: &[f32], opts: RecallOptions) -> Result<Vec<Recalled>> {
        let mut inner = self.lock();
        inner.sync()?;
        let how = inner.index.as_ref().map(|_| Search::Graph);
        inner.recall_with(query, opts, how)
    }

    /// The exact answer to [`Store::recall`]: every embedding in the table compared with the
    /// query (brute force, O(n·d)). The reference for the index; slow on large stores.
    pub fn recall_exact(&self, query: &[f32], opts: RecallOptions) -> Result<Vec<Recalled>> {
        let mut inner = self.lock();
        inner.refresh_dimension()?;
        let Some(q) = prepare_query(query, inner.dimension)? else {
            return Ok(Vec::new());
        };
        if opts.k == 0 {
            return Ok(Vec::new());
        }
        let path = &inner.path;
        let mut best: Vec<(f32, PatternId)> = Vec::new();
        {
            let mut stmt = inner
                .conn
                .prepare_cached("SELECT id, embedding FROM patterns")
                .map_err(|e| sql_error(path, "scanning embeddings", e))?;
            let mut rows = stmt
                .query([])
                .map_err(|e| sql_error(path, "scanning embeddings", e))?;
            while let Some(row) = rows
                .next()
                .map_err(|e| sql_error(path, "scanning embeddings", e))?
            {
                let id: PatternId = row
                    .get(0)
                    .map_err(|e| sql_error(path, "scanning embeddings", e))?;
                let blob = row
                    .get_ref(1)
                    .and_then(|v| v.as_blob().map_err(Into::into))
                    .map_err(|e| sql_error(path, "scanning embeddings", e))?;
                let v = embedding_from_bytes(blob)
                    .filter(|v| v.len() == q.len())
                    .ok_or_else(|| {
                        store_error(
                            path,
                            format!("pattern {id}: the stored embedding has the wrong size"),
                        )
                    })?;
                let s = dot(&q, &v);
                if s >= opts.threshold {
                    best.push((s, id));
                }
            }
        }
        best.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
        best.truncate(opts.k);
        let mut stmt = inner
            .conn
            .prepare_cached(&format!("SELECT {COLUMNS} FROM patterns WHERE id = ?1"))
            .map_err(|e| sql_error(path, "reading a pattern", e))?;
        let mut out = Vec::with_capacity(best.len());
        for (similarity, id) in best {
            let pattern = stmt
                .query_row([id], pattern_from_row)
                .map_err(|e| sql_error(path, "reading a pattern", e))?;
            out.push(Recalled {
                pattern,
                similarity,
            });
        }
        Ok(out)
    }
}

/// The normalised query, or None when the store has no pattern yet (nothing to compare with).
fn prepare_query(query: &[f32], dimension: Option<usize>) -> Result<Option<Vec<f32>>> {
    match dimension {
        None => {
            normalise(query, None)?;
            Ok(None)
        }
        Some(d) => normalise(query, Some(d)).map(Some).map_err(|e| match e {
            Error::InvalidInput(m) => Error::InvalidInput(format!("recall query: {m}")),
            other => other,
        }),
    }
}

/// The similarity of two normalised vectors, accumulated in f64 so that the index path and the
/// exact path compute the very same number.
fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter()
        .zip(b)
        .map(|(&x, &y)| f64::from(x) * f64::from(y))
        .sum::<f64>() as f32
}

/// Pattern `id`'s stored embedding, which must be `dimension` f32 values.
fn stored_vector(
    path: &std::path::Path,
    id: PatternId,
    blob: Option<&[u8]>,
    dimension: usize,
) -> Result<Vec<f32>> {
    blob.and_then(embedding_from_bytes)
        .filter(|v| v.len() == dimension)
        .ok_or_else(|| {
            store_error(
                path,
                format!("pattern {id}: the stored embedding is not {dimension} f32 values"),
            )
        })
}

/// SQLite's `PRAGMA data_version`: it changes when another connection commits.
pub(crate) fn data_version(conn: &rusqlite::Connection, path: &std::path::Path) -> Result<i64> {
    conn.pragma_query_value(None, "data_version", |r| r.get(0))
        .map_err(|e| sql_error(path, "reading PRAGMA data_version", e))
}
