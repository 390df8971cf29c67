//! The vector index behind [`Store::recall`](crate::Store::recall): usearch, over embeddings
//! quantised to i8, split into shards that are searched side by side.
//!
//! The index only proposes candidates; recall scores them exactly (f32, from the table). Its
//! shape follows what was measured at dimension 576 (SmolLM2's), 100K patterns, on the 2-core
//! machine this project is built on (`benches/tune.rs`, `benches/recall.rs`):
//!
//! * **i8, scaled per vector.** Each vector is divided by its largest magnitude and rounded to
//!   [-127, 127], so every vector uses the whole range (a coordinate is off by at most 1/254 of
//!   the vector's largest). usearch's own cast from f32 divides by the L2 norm instead, which
//!   leaves a unit vector of 576 coordinates about five levels. A quarter of the memory of f32,
//!   and usearch's SIMD kernels (NumKong, dispatched at run time: AVX-512 VNNI, AVX2, ...)
//!   compare i8 vectors several times faster: an exact scan of 100K took 4.3 ms in i8 against
//!   12.7 in f16 and about 22 in f32, and building the graph 40 s against 146.
//! * **An exact scan while the store is small enough** ([`SCAN_LIMIT`]), the graph beyond. An
//!   HNSW graph finds no structure in uniformly random vectors: at 100K it recalled 7% of the
//!   exact top 10 with 64 candidates and 49% with 1024 (4.3 ms), where the i8 scan, re-scored,
//!   recalls all of them. On clustered vectors, as embeddings are, the graph recalls them all
//!   too, in about 1 ms; past the limit it is what keeps recall fast.
//! * **Shards**, one per core (up to [`MAX_SHARDS`]), by id: a query scans or walks each on its
//!   own thread, and a rebuild inserts into each on its own thread. Inserts into one usearch
//!   index are never concurrent: graphs built that way here left vectors that no search reached
//!   (an exact copy of a stored vector did not find it, one run in three with two threads;
//!   `tests/concurrency.rs` caught it).

use std::collections::HashSet;

use usearch::{Index, IndexOptions, MetricKind, ScalarKind};

use crate::patterns::PatternId;

/// Recall scans every quantised embedding (exactly) while the store holds at most this many
/// patterns, and walks the HNSW graphs beyond: 2 shards of 64K, each scanned in about 2.8 ms on
/// the 2-core machine.
pub const SCAN_LIMIT: usize = 131_072;
/// The most shards an index is split into (one per core up to this).
pub const MAX_SHARDS: usize = 4;
/// HNSW graph degree (links per node).
const CONNECTIVITY: usize = 16;
/// Candidates examined while inserting.
const EXPANSION_ADD: usize = 64;
/// Candidates examined per query in a graph, at least.
const EXPANSION_SEARCH: usize = 64;
/// Below this many vectors in all, shards are searched one after the other: a thread costs more
/// than the search.
const PARALLEL_FROM: usize = 16_384;

/// The shards, and the ids they hold (usearch cannot list its keys; catching up with other
/// connections needs them to find removed patterns).
pub(crate) struct VectorIndex {
    dimension: usize,
    shards: Vec<Index>,
    keys: HashSet<PatternId>,
}

/// How a search looks for candidates.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Search {
    /// Every vector compared with the query.
    Scan,
    /// The HNSW graphs walked.
    Graph,
}

impl VectorIndex {
    /// An empty index, one shard per core (at most [`MAX_SHARDS`]).
    pub(crate) fn new(dimension: usize) -> Result<Self, String> {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        Self::with_shards(dimension, cores.clamp(1, MAX_SHARDS))
    }

    fn with_shards(dimension: usize, shards: usize) -> Result<Self, String> {
        let options = IndexOptions {
            dimensions: dimension,
            metric: MetricKind::Cos,
            quantization: ScalarKind::I8,
            connectivity: CONNECTIVITY,
            expansion_add: EXPANSION_ADD,
            expansion_search: EXPANSION_SEARCH,
            multi: false,
        };
        let shards = (0..shards)
            .map(|_| Index::new(&options).map_err(|e| e.to_string()))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(VectorIndex {
            dimension,
            shards,
            keys: HashSet::new(),
        })
    }

    /// The ids held.
    pub(crate) fn keys(&self) -> &HashSet<PatternId> {
        &self.keys
    }

    /// How many vectors are held.
    pub(crate) fn len(&self) -> usize {
        self.keys.len()
    }

    fn shard_of(&self, key: u64) -> usize {
        (key % self.shards.len() as u64) as usize
    }

    /// Makes room for `more` vectors beyond those held, spread as ids spread.
    pub(crate) fn reserve(&self, more: usize) -> Result<(), String> {
        for shard in &self.shards {
            grow(shard, shard.size() + more.div_ceil(self.shards.len()) + 1)?;
        }
        Ok(())
    }

    /// Adds one vector.
    pub(crate) fn add(&mut self, id: PatternId, v: &[f32]) -> Result<(), String> {
        let key = key(id)?;
        let shard = &self.shards[self.shard_of(key)];
        grow(shard, shard.size() + 1)?;
        shard.add(key, &quantise(v)).map_err(|e| e.to_string())?;
        self.keys.insert(id);
        Ok(())
    }

    /// Adds a batch: each shard's share inserted on its own thread, one vector after another.
    pub(crate) fn add_many(&mut self, batch: &[(PatternId, Vec<f32>)]) -> Result<(), String> {
        self.reserve(batch.len())?;
        let mut parts: Vec<Vec<(u64, &[f32])>> = vec![Vec::new(); self.shards.len()];
        for (id, v) in batch {
            let key = key(*id)?;
            parts[self.shard_of(key)].push((key, v));
        }
        let insert = |shard: &Index, part: &[(u64, &[f32])]| -> Result<(), String> {
            for (key, v) in part {
                shard
                    .add(*key, &quantise(v))
                    .map_err(|e| format!("pattern {key}: {e}"))?;
            }
            Ok(())
        };
        if batch.len() < PARALLEL_FROM / 4 {
            for (shard, part) in self.shards.iter().zip(&parts) {
                insert(shard, part)?;
            }
        } else {
            std::thread::scope(|s| {
                let running: Vec<_> = self
                    .shards
                    .iter()
                    .zip(&parts)
                    .map(|(shard, part)| s.spawn(move || insert(shard, part)))
                    .collect();
                running
                    .into_iter()
                    .map(|t| {
                        t.join()
                            .unwrap_or_else(|_| Err("an insert panicked".into()))
                    })
                    .collect::<Result<Vec<()>, String>>()
            })?;
        }
        self.keys.extend(batch.iter().map(|(id, _)| *id));
        Ok(())
    }

    /// Removes one vector (nothing happens for an id not held).
    pub(crate) fn remove(&mut self, id: PatternId) -> Result<(), String> {
        if let Ok(key) = u64::try_from(id) {
            self.shards[self.shard_of(key)]
                .remove(key)
                .map_err(|e| e.to_string())?;
        }
        self.keys.remove(&id);
        Ok(())
    }

    /// How recall searches now: a scan while the index holds at most [`SCAN_LIMIT`] vectors.
    pub(crate) fn search_kind(&self) -> Search {
        if self.len() <= SCAN_LIMIT {
            Search::Scan
        } else {
            Search::Graph
        }
    }

    /// Up to `wanted` candidates from each shard, nearest `q` by the quantised vectors, in no
    /// particular order: the caller scores them.
    pub(crate) fn candidates(
        &self,
        q: &[f32],
        wanted: usize,
        how: Search,
    ) -> Result<Vec<PatternId>, String> {
        let q = quantise(q);
        let one = |shard: &Index| -> Result<Vec<u64>, String> {
            let found = match how {
                Search::Scan => shard.exact_search(&q, wanted),
                Search::Graph => {
                    let expansion = EXPANSION_SEARCH.max(wanted);
                    if shard.expansion_search() != expansion {
                        shard.change_expansion_search(expansion);
                    }
                    shard.search(&q, wanted)
                }
            };
            found.map(|m| m.keys).map_err(|e| e.to_string())
        };
        let found: Vec<Vec<u64>> = if self.len() < PARALLEL_FROM || self.shards.len() == 1 {
            self.shards.iter().map(one).collect::<Result<_, _>>()?
        } else {
            std::thread::scope(|s| {
                let running: Vec<_> = self
                    .shards
                    .iter()
                    .map(|shard| s.spawn(move || one(shard)))
                    .collect();
                running
                    .into_iter()
                    .map(|t| t.join().unwrap_or_else(|_| Err("a search panicked".into())))
                    .collect::<Result<_, _>>()
            })?
        };
        Ok(found
            .into_iter()
            .flatten()
            .filter_map(|k| i64::try_from(k).ok())
            .collect())
    }

    /// Whether the index holds `v`, quantised, under `id` (what loading a saved index checks).
    pub(crate) fn holds(&self, id: PatternId, v: &[f32]) -> bool {
        let Ok(key) = u64::try_from(id) else {
            return false;
        };
        let mut held = vec![0i8; self.dimension];
        matches!(self.shards[self.shard_of(key)].get(key, &mut held), Ok(1)) && held == quantise(v)
    }

    /// The index as bytes: [`MAGIC`], the shard count (u32, little-endian), then each shard as
    /// its length (u64) and usearch's serialisation.
    pub(crate) fn to_bytes(&self) -> Result<Vec<u8>, String> {
        let mut out = Vec::new();
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&(self.shards.len() as u32).to_le_bytes());
        for shard in &self.shards {
            let mut buf = vec![0u8; shard.serialized_length()];
            shard.save_to_buffer(&mut buf).map_err(|e| e.to_string())?;
            out.extend_from_slice(&(buf.len() as u64).to_le_bytes());
            out.extend_from_slice(&buf);
        }
        Ok(out)
    }

    /// An index saved by [`VectorIndex::to_bytes`], without its key set (the caller checks every
    /// vector against the table and records the keys with [`VectorIndex::hold`]).
    pub(crate) fn from_bytes(dimension: usize, bytes: &[u8]) -> Result<Self, String> {
        let rest = bytes
            .strip_prefix(MAGIC.as_slice())
            .ok_or("not a bizra vector index")?;
        let (count, mut rest) = take_u64(rest, 4)?;
        let count = usize::try_from(count).map_err(|_| "bad shard count")?;
        if !(1..=MAX_SHARDS * 4).contains(&count) {
            return Err(format!("{count} shards"));
        }
        let index = Self::with_shards(dimension, count)?;
        for shard in &index.shards {
            let (len, after) = take_u64(rest, 8)?;
            let len = usize::try_from(len).map_err(|_| "bad shard length")?;
            if len > after.len() {
                return Err("a shard is cut short".into());
            }
            shard
                .load_from_buffer(&after[..len])
                .map_err(|e| e.to_string())?;
            if shard.dimensions() != dimension {
                return Err(format!(
                    "the saved index has {} dimensions, the store {dimension}",
                    shard.dimensions()
                ));
            }
            rest = &after[len..];
        }
        if !rest.is_empty() {
            return Err("bytes after the last shard".into());
        }
        Ok(index)
    }

    /// Vectors held by the shards, whatever the key set says.
    pub(crate) fn stored(&self) -> usize {
        self.shards.iter().map(Index::size).sum()
    }

    /// Records `id` as held (after [`VectorIndex::holds`] confirmed it).
    pub(crate) fn hold(&mut self, id: PatternId) {
        self.keys.insert(id);
    }
}

/// The first bytes of a saved index.
const MAGIC: &[u8; 8] = b"bizra-i8";

/// A little-endian integer of `width` bytes (4 or 8) from the front of `bytes`, and the rest.
fn take_u64(bytes: &[u8], width: usize) -> Result<(u64, &[u8]), String> {
    if bytes.len() < width {
        return Err("the saved index is cut short".into());
    }
    let mut b = [0u8; 8];
    b[..width].copy_from_slice(&bytes[..width]);
    Ok((u64::from_le_bytes(b), &bytes[width..]))
}

/// Makes room in `shard` for `needed` vectors, at least doubling its capacity (and never below
/// 1024) so that growth one vector at a time stays amortised.
fn grow(shard: &Index, needed: usize) -> Result<(), String> {
    if needed > shard.capacity() {
        shard
            .reserve(needed.max(shard.capacity() * 2).max(1024))
            .map_err(|e| e.to_string())?;
    }
    Ok(())
}

fn key(id: PatternId) -> Result<u64, String> {
    u64::try_from(id).map_err(|_| format!("id {id} is negative"))
}

/// `v` scaled so that its largest magnitude is 127, rounded (cosine does not see the scale).
fn quantise(v: &[f32]) -> Vec<i8> {
    let largest = v.iter().fold(0f32, |m, x| m.max(x.abs()));
    if largest == 0.0 || !largest.is_finite() {
        return vec![0; v.len()];
    }
    let scale = 127.0 / largest;
    v.iter().map(|x| (x * scale).round() as i8).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantising_uses_the_whole_range_and_keeps_the_direction() {
        let v = [0.02f32, -0.04, 0.01, 0.0];
        assert_eq!(quantise(&v), vec![64, -127, 32, 0]);
        assert_eq!(quantise(&[0.0; 3]), vec![0; 3]);
    }

    /// The repository builds NumKong with only the x86 targets that have the i8 angular kernel
    /// (.cargo/config.toml): had the list lost one, usearch would fall back to its serial loop
    /// without a word, several times slower.
    #[test]
    #[cfg(target_arch = "x86_64")]
    fn i8_angular_distance_runs_on_the_cpus_simd_kernel() {
        let index = VectorIndex::with_shards(576, 1).unwrap();
        let isa = index.shards[0].hardware_acceleration();
        let compiled = usearch::hardware_acceleration_compiled();
        // NumKong's order of preference; Sierra Forest's kernels need gcc 13 or newer.
        let expected = if is_x86_feature_detected!("avx512vnni") {
            "icelake"
        } else if is_x86_feature_detected!("avxvnniint8") && compiled.contains("sierra") {
            "sierra"
        } else if is_x86_feature_detected!("avxvnni") {
            "alder"
        } else if is_x86_feature_detected!("avx2") {
            "haswell"
        } else {
            "serial"
        };
        assert_eq!(isa, expected, "compiled: {compiled}");
    }

    #[test]
    fn a_saved_index_reads_back_and_damage_is_refused() {
        let mut index = VectorIndex::with_shards(4, 2).unwrap();
        index
            .add_many(&[(1, vec![1.0, 0.0, 0.0, 0.0]), (2, vec![0.0, 1.0, 0.0, 0.0])])
            .unwrap();
        let bytes = index.to_bytes().unwrap();
        let back = VectorIndex::from_bytes(4, &bytes).unwrap();
        assert_eq!(back.stored(), 2);
        assert!(back.holds(1, &[2.0, 0.0, 0.0, 0.0]));
        assert!(!back.holds(2, &[1.0, 0.0, 0.0, 0.0]));
        assert!(VectorIndex::from_bytes(4, &bytes[..bytes.len() - 1]).is_err());
        assert!(VectorIndex::from_bytes(4, &bytes[1..]).is_err());
        assert!(VectorIndex::from_bytes(5, &bytes).is_err());
    }
}
