//! Recall by meaning: the patterns whose embeddings lie nearest a query's, by cosine similarity.
//!
//! [`Store::recall`] asks an HNSW index (usearch: cosine metric over f32, kept in memory, keyed by
//! the patterns' rowids) for the nearest candidates, then reads those patterns from the table and
//! scores them exactly there. The index only proposes: the table decides what exists and how
//! similar it is.
//!
//! The index follows every commit. A file store saves it beside the database
//! (`<file>.usearch`, [`INDEX_FILE_SUFFIX`]) when dropped or on [`Store::save_index`], because
//! rebuilding takes long on large stores (one insert at a time: 50 s at 100K clustered patterns
//! of dimension 576, 146 s for uniformly random ones; loading the saved index: 1.3–2.6 s). The
//! saved file is never trusted over the table: it is loaded only if its BLAKE3 is the
//! one the table recorded when it was saved and it holds exactly the table's embeddings, bit for
//! bit (one scan, far cheaper than a rebuild); otherwise the index is rebuilt from the table. A
//! process killed after writing leaves a stale file, which that check refuses. [`Store::recall_exact`] scans every embedding in the
//! table: the reference that the index is tested against.
//!
//! Similarity is the dot product of two L2-normalised vectors (the cosine), in [-1, 1]. Results
//! are ordered by similarity, highest first, ties by id; only those at or above the threshold
//! (default [`DEFAULT_THRESHOLD`]) are returned.

use std::collections::HashSet;
use std::path::PathBuf;

use rusqlite::OptionalExtension;
use usearch::{Index, IndexOptions, MetricKind, ScalarKind};

use bizra_protocol::{Error, Result};

use crate::patterns::{
    embedding_from_bytes, get, normalise, pattern_from_row, Pattern, PatternId, COLUMNS,
};
use crate::store::{sql_error, store_error, Inner, Store};

/// The similarity below which nothing is recalled, unless the caller says otherwise.
pub const DEFAULT_THRESHOLD: f32 = 0.5;
/// How many patterns are recalled, unless the caller says otherwise.
pub const DEFAULT_K: usize = 10;

/// HNSW graph degree (links per node).
///
/// Measured at 20K vectors of dimension 576 (`benches/tune.rs`, 2 cores): on clustered vectors,
/// as embeddings are, M = 16 with 64 candidates recalls 100% of the exact top 10 at 0.7 ms per
/// query (exact search: 3.4 ms); on uniformly random vectors, which have no structure for a graph
/// to follow, recall@10 is 0.20 at 64 candidates and needs about 1024 (9.6 ms) to pass 0.9, where
/// exact search is faster. Larger graphs (M = 32, 128 candidates) tripled the build time without
/// changing that picture.
const CONNECTIVITY: usize = 16;
/// Candidates examined while inserting.
const EXPANSION_ADD: usize = 64;
/// Candidates examined per query, at least (raised to 4·k for large k).
const EXPANSION_SEARCH: usize = 64;
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

/// The in-memory HNSW index over the committed embeddings, and the ids it holds (usearch cannot
/// list its keys; [`Inner::sync`] needs them to find patterns another connection removed).
pub(crate) struct VectorIndex {
    index: Index,
    keys: HashSet<PatternId>,
}

impl VectorIndex {
    fn new(dimension: usize) -> std::result::Result<Self, String> {
        let options = IndexOptions {
            dimensions: dimension,
            metric: MetricKind::Cos,
            quantization: ScalarKind::F32,
            connectivity: CONNECTIVITY,
            expansion_add: EXPANSION_ADD,
            expansion_search: EXPANSION_SEARCH,
            multi: false,
        };
        let index = Index::new(&options).map_err(|e| e.to_string())?;
        Ok(VectorIndex {
            index,
            keys: HashSet::new(),
        })
    }

    fn add(&mut self, id: PatternId, v: &[f32]) -> std::result::Result<(), String> {
        let key = u64::try_from(id).map_err(|_| format!("id {id} is negative"))?;
        let size = self.index.size();
        if size + 1 > self.index.capacity() {
            let target = (size * 2).max(1024);
            self.index.reserve(target).map_err(|e| e.to_string())?;
        }
        self.index.add(key, v).map_err(|e| e.to_string())?;
        self.keys.insert(id);
        Ok(())
    }

    /// Adds a batch, one vector after another. Not from several threads: usearch takes
    /// concurrent inserts, but graphs built that way here left vectors that no search reached
    /// (an exact copy of a stored vector did not find it; `tests/concurrency.rs` caught it, one run
    /// in three with two threads, never with one), which also sank recall on large rebuilt
    /// indexes. Rebuilding is therefore one core's work.
    fn add_many(&mut self, batch: &[(PatternId, Vec<f32>)]) -> std::result::Result<(), String> {
        let needed = self.index.size() + batch.len();
        if needed > self.index.capacity() {
            self.index.reserve(needed).map_err(|e| e.to_string())?;
        }
        for (id, v) in batch {
            self.add(*id, v).map_err(|e| format!("pattern {id}: {e}"))?;
        }
        Ok(())
    }

    fn to_bytes(&self) -> std::result::Result<Vec<u8>, String> {
        let mut buf = vec![0u8; self.index.serialized_length()];
        self.index
            .save_to_buffer(&mut buf)
            .map_err(|e| e.to_string())?;
        Ok(buf)
    }

    fn from_bytes(dimension: usize, bytes: &[u8]) -> std::result::Result<Self, String> {
        let v = VectorIndex::new(dimension)?;
        v.index.load_from_buffer(bytes).map_err(|e| e.to_string())?;
        if v.index.dimensions() != dimension {
            return Err(format!(
                "the saved index has {} dimensions, the store {dimension}",
                v.index.dimensions()
            ));
        }
        Ok(v)
    }

    fn remove(&mut self, id: PatternId) -> std::result::Result<(), String> {
        if let Ok(key) = u64::try_from(id) {
            self.index.remove(key).map_err(|e| e.to_string())?;
        }
        self.keys.remove(&id);
        Ok(())
    }

    fn search(&self, q: &[f32], k: usize) -> std::result::Result<Vec<PatternId>, String> {
        let wanted = EXPANSION_SEARCH.max(k.saturating_mul(4));
        if self.index.expansion_search() != wanted {
            self.index.change_expansion_search(wanted);
        }
        let m = self.index.search(q, k).map_err(|e| e.to_string())?;
        Ok(m.keys
            .into_iter()
            .filter_map(|k| i64::try_from(k).ok())
            .collect())
    }
}

impl Inner {
    /// Rebuilds the index from the patterns table (on open).
    pub(crate) fn rebuild_index(&mut self) -> Result<()> {
        self.index = None;
        self.index_origin = IndexOrigin::Empty;
        let Some(dimension) = self.dimension else {
            return Ok(());
        };
        if self.file {
            if let Some(index) = self.load_saved_index(dimension) {
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
                .index
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
                let v = blob
                    .as_blob()
                    .ok()
                    .and_then(embedding_from_bytes)
                    .filter(|v| v.len() == dimension)
                    .ok_or_else(|| {
                        store_error(
                            &path,
                            format!(
                                "pattern {id}: the stored embedding is not {dimension} f32 values"
                            ),
                        )
                    })?;
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
        self.index = Some(index);
        Ok(())
    }

    /// Brings the index up to what the table holds after other connections' commits (another
    /// process, or another `Store` on the same file): `PRAGMA data_version` changes exactly when
    /// another connection has committed, so a store used alone pays one pragma per recall. When
    /// it changed, the patterns the index lacks are read and added, and those the table no
    /// longer holds are removed (ids are never reused, so an id names one pattern for good).
    pub(crate) fn sync(&mut self) -> Result<()> {
        let version = data_version(&self.conn, &self.path)?;
        if version == self.data_version {
            return Ok(());
        }
        let path = self.path.clone();
        if self.dimension.is_none() {
            self.dimension = crate::patterns::stored_dimension(&self.conn, &path)?;
        }
        let Some(dimension) = self.dimension else {
            self.data_version = version;
            return Ok(());
        };
        let live: HashSet<PatternId> = {
            let mut stmt = self
                .conn
                .prepare_cached("SELECT id FROM patterns")
                .map_err(|e| sql_error(&path, "listing pattern ids", e))?;
            let ids = stmt
                .query_map([], |r| r.get(0))
                .and_then(|rows| rows.collect::<rusqlite::Result<HashSet<PatternId>>>())
                .map_err(|e| sql_error(&path, "listing pattern ids", e))?;
            ids
        };
        let held = self.index.as_ref().map(|i| &i.keys);
        let removed: Vec<PatternId> = held
            .map(|k| k.difference(&live).copied().collect())
            .unwrap_or_default();
        let mut missing: Vec<PatternId> = live
            .iter()
            .filter(|id| !held.is_some_and(|k| k.contains(id)))
            .copied()
            .collect();
        missing.sort_unstable();
        for id in removed {
            self.index_remove(id)?;
        }
        let mut added = Vec::with_capacity(missing.len());
        {
            let mut stmt = self
                .conn
                .prepare_cached("SELECT embedding FROM patterns WHERE id = ?1")
                .map_err(|e| sql_error(&path, "reading embeddings", e))?;
            for id in missing {
                let blob: Option<Vec<u8>> = stmt
                    .query_row([id], |r| r.get(0))
                    .optional()
                    .map_err(|e| sql_error(&path, "reading embeddings", e))?;
                // Gone since the ids were listed: the next sync sees that commit too.
                let Some(blob) = blob else { continue };
                let v = embedding_from_bytes(&blob)
                    .filter(|v| v.len() == dimension)
                    .ok_or_else(|| {
                        store_error(
                            &path,
                            format!(
                                "pattern {id}: the stored embedding is not {dimension} f32 values"
                            ),
                        )
                    })?;
                added.push((id, v));
            }
        }
        self.index_add_many(&added)?;
        self.data_version = version;
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
        if usize::try_from(count).ok()? != index.index.size() {
            return None;
        }
        let mut stmt = self
            .conn
            .prepare("SELECT id, embedding FROM patterns")
            .ok()?;
        let mut rows = stmt.query([]).ok()?;
        let mut held = vec![0f32; dimension];
        while let Some(row) = rows.next().ok()? {
            let id: PatternId = row.get(0).ok()?;
            let blob = row.get_ref(1).ok()?;
            let v = embedding_from_bytes(blob.as_blob().ok()?)?;
            let key = u64::try_from(id).ok()?;
            if index.index.get(key, &mut held).ok()? != 1 || held != v {
                return None;
            }
            index.keys.insert(id);
        }
        Some(index)
    }

    /// Writes the index beside the database (a new file renamed over the old one), then records
    /// its BLAKE3 in the table. A crash between the two leaves a hash that does not match: the
    /// next open rebuilds.
    pub(crate) fn save_index(&mut self) -> Result<()> {
        if !self.file || !self.index_dirty {
            return Ok(());
        }
        let Some(index) = self.index.as_ref() else {
            return Ok(());
        };
        let target = self.index_file();
        let bytes = index
            .to_bytes()
            .map_err(|e| store_error(&self.path, format!("serialising the vector index: {e}")))?;
        let mut tmp = target.clone().into_os_string();
        tmp.push(".tmp");
        let tmp = PathBuf::from(tmp);
        let write = || -> std::io::Result<()> {
            use std::io::Write as _;
            let mut f = std::fs::File::create(&tmp)?;
            f.write_all(&bytes)?;
            f.sync_all()?;
            std::fs::rename(&tmp, &target)
        };
        write().map_err(|e| Error::io(&target, e))?;
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

    pub(crate) fn index_add(&mut self, id: PatternId, v: &[f32]) -> Result<()> {
        self.index_dirty = true;
        let path = self.path.clone();
        if self.index.is_none() {
            let index = VectorIndex::new(v.len())
                .map_err(|e| store_error(&path, format!("creating the vector index: {e}")))?;
            self.index = Some(index);
        }
        match self.index.as_mut() {
            Some(index) => index
                .add(id, v)
                .map_err(|e| store_error(&path, format!("indexing pattern {id}: {e}"))),
            None => Ok(()),
        }
    }

    pub(crate) fn index_add_many(&mut self, added: &[(PatternId, Vec<f32>)]) -> Result<()> {
        self.index_dirty = true;
        let path = self.path.clone();
        let Some(first) = added.first() else {
            return Ok(());
        };
        if self.index.is_none() {
            let index = VectorIndex::new(first.1.len())
                .map_err(|e| store_error(&path, format!("creating the vector index: {e}")))?;
            self.index = Some(index);
        }
        match self.index.as_mut() {
            Some(index) => index
                .add_many(added)
                .map_err(|e| store_error(&path, format!("indexing: {e}"))),
            None => Ok(()),
        }
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

impl Store {
    /// The patterns nearest `query` (any length-`dimension` vector; it is normalised here)
    /// through the vector index: at most `opts.k`, each at or above `opts.threshold`, highest
    /// similarity first. An empty store recalls nothing.
    pub fn recall(&self, query: &[f32], opts: RecallOptions) -> Result<Vec<Recalled>> {
        let mut inner = self.lock();
        inner.sync()?;
        let Some(q) = prepare_query(query, inner.dimension)? else {
            return Ok(Vec::new());
        };
        if opts.k == 0 {
            return Ok(Vec::new());
        }
        let Some(index) = inner.index.as_ref() else {
            return Ok(Vec::new());
        };
        let ids = index
            .search(&q, opts.k)
            .map_err(|e| store_error(&inner.path, format!("searching the vector index: {e}")))?;
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            // The table decides: a key the table no longer holds is skipped.
            if let Some(pattern) = get(&inner.conn, &inner.path, id)? {
                let similarity = dot(&q, &pattern.embedding);
                if similarity >= opts.threshold {
                    out.push(Recalled {
                        pattern,
                        similarity,
                    });
                }
            }
        }
        sort(&mut out);
        Ok(out)
    }

    /// The exact answer to [`Store::recall`]: every embedding in the table compared with the
    /// query (brute force, O(n·d)). The reference for the index; slow on large stores.
    pub fn recall_exact(&self, query: &[f32], opts: RecallOptions) -> Result<Vec<Recalled>> {
        let inner = self.lock();
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

fn sort(v: &mut [Recalled]) {
    v.sort_by(|a, b| {
        b.similarity
            .total_cmp(&a.similarity)
            .then(a.pattern.id.cmp(&b.pattern.id))
    });
}

/// SQLite's `PRAGMA data_version`: it changes when another connection commits.
pub(crate) fn data_version(conn: &rusqlite::Connection, path: &std::path::Path) -> Result<i64> {
    conn.pragma_query_value(None, "data_version", |r| r.get(0))
        .map_err(|e| sql_error(path, "reading PRAGMA data_version", e))
}
