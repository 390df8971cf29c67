//! Patterns: what a node has learned from signed outputs, with provenance and confidence.
//!
//! Rules, in one place:
//!
//! * A pattern is learned from an envelope that verifies ([`Store::learn`]): its content is the
//!   `output` of a `bizra.inference` payload or the `content` of a `bizra.pattern` payload
//!   ([`crate::payload`]); any other payload is refused by its type. The envelope is kept verbatim
//!   (canonical JSON), so the pattern's provenance can be verified again and exported.
//! * One pattern per content: learning content already held (same BLAKE3 of the text) is an
//!   **observation** of that pattern (`observations` + 1, tags merged), not a duplicate; the same
//!   envelope learned twice counts once.
//! * Confidence starts at [`INITIAL_CONFIDENCE`]; feedback moves it by [`POSITIVE_STEP`] /
//!   [`NEGATIVE_STEP`], clamped to [0, 1], and counts it. Observations do not move it: a model
//!   repeating itself is not evidence that it is right.
//! * Embeddings are f32, L2-normalised when stored (so cosine similarity is a dot product); the
//!   first pattern fixes the store's dimension, and every later vector must have it. NaN,
//!   infinities and the zero vector are refused.

use rusqlite::{params, Connection, OptionalExtension, Row, Transaction, TransactionBehavior};
use serde_json::Value;

use bizra_protocol::{Envelope, Error, Result, VerifyOptions};

use crate::payload::{PatternPayload, INFERENCE_PAYLOAD_TYPE, PATTERN_PAYLOAD_TYPE};
use crate::store::{now_ms, sql_error, store_error, Inner, Store};

/// A pattern's id: its SQLite rowid (also its key in the vector index). Ids are never reused,
/// even after the pattern that held one is removed.
pub type PatternId = i64;

/// The confidence of a newly learned pattern.
pub const INITIAL_CONFIDENCE: f64 = 0.5;
/// What positive feedback adds to confidence (clamped to 1).
pub const POSITIVE_STEP: f64 = 0.05;
/// What negative feedback takes from confidence (clamped to 0).
pub const NEGATIVE_STEP: f64 = 0.03;
/// The largest embedding dimension a store accepts.
pub const MAX_DIMENSION: usize = 65_536;

/// Whether, and how, a pattern has been elevated (proven enough to share as settled).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Elevation {
    /// Not elevated.
    None,
    /// Elevated by this node alone (no federation to certify it).
    Local,
    /// Elevated by the federation: the commit certificate (its JSON) and the height that decided it.
    Certified {
        /// The commit certificate, as JSON text.
        certificate: String,
        /// The consensus height that decided it.
        height: u64,
    },
}

/// A learned pattern, as stored.
#[derive(Clone, Debug, PartialEq)]
pub struct Pattern {
    /// The id (SQLite rowid).
    pub id: PatternId,
    /// The text.
    pub content: String,
    /// BLAKE3 of the text: what makes two learnings the same pattern.
    pub content_hash: [u8; 32],
    /// The embedding, L2-normalised.
    pub embedding: Vec<f32>,
    /// Labels, in the order first given, without repeats.
    pub tags: Vec<String>,
    /// The node the pattern came from.
    pub source_node: String,
    /// The envelope that introduced the pattern, canonical JSON as received.
    pub envelope: String,
    /// That envelope's id.
    pub envelope_id: String,
    /// Confidence in [0, 1].
    pub confidence: f64,
    /// How many distinct envelopes carried this content.
    pub observations: u64,
    /// Positive feedback counted.
    pub positive: u64,
    /// Negative feedback counted.
    pub negative: u64,
    /// When it was first learned (ms since the Unix epoch).
    pub created_ms: i64,
    /// When it last changed (ms since the Unix epoch).
    pub updated_ms: i64,
    /// Whether it has been elevated.
    pub elevation: Elevation,
}

impl Pattern {
    /// The pattern as JSON, for bindings and tools that speak it: `{"id", "content",
    /// "content_blake3", "tags", "source_node", "envelope_id", "confidence", "observations",
    /// "positive", "negative", "created_ms", "updated_ms", "elevation": {"kind": "none" | "local"
    /// | "certified", "height", "certificate"}}`. The embedding and the introducing envelope are
    /// left out (large; [`Pattern::embedding`], [`Pattern::envelope`]).
    pub fn to_json(&self) -> Value {
        let elevation = match &self.elevation {
            Elevation::None => serde_json::json!({"kind": "none"}),
            Elevation::Local => serde_json::json!({"kind": "local"}),
            Elevation::Certified {
                certificate,
                height,
            } => serde_json::json!({
                "kind": "certified",
                "height": height,
                "certificate": serde_json::from_str::<Value>(certificate)
                    .unwrap_or_else(|_| Value::String(certificate.clone())),
            }),
        };
        serde_json::json!({
            "id": self.id,
            "content": self.content,
            "content_blake3": bizra_protocol::hash::to_hex(&self.content_hash),
            "tags": self.tags,
            "source_node": self.source_node,
            "envelope_id": self.envelope_id,
            "confidence": self.confidence,
            "observations": self.observations,
            "positive": self.positive,
            "negative": self.negative,
            "created_ms": self.created_ms,
            "updated_ms": self.updated_ms,
            "elevation": elevation,
        })
    }
}

/// What [`Store::learn`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Learned {
    /// A new pattern.
    New(PatternId),
    /// The content was already held: one more observation of that pattern.
    Observed(PatternId),
    /// This very envelope had already been learned: nothing changed.
    AlreadyKnown(PatternId),
}

impl Learned {
    /// The pattern concerned.
    pub fn id(self) -> PatternId {
        match self {
            Learned::New(id) | Learned::Observed(id) | Learned::AlreadyKnown(id) => id,
        }
    }
}

/// A pattern id and its normalised embedding, waiting to enter the index after a commit.
pub(crate) type Indexed = (PatternId, Vec<f32>);

/// What a write adds to a pattern table, before it knows whether the content is new.
pub(crate) struct Incoming<'a> {
    pub content: &'a str,
    pub embedding: Vec<f32>,
    pub tags: Vec<String>,
    pub source_node: String,
    pub envelope: String,
    pub envelope_id: String,
    pub confidence: f64,
    pub observations: u64,
    pub positive: u64,
    pub negative: u64,
}

pub(crate) const COLUMNS: &str =
    "id, content, content_hash, embedding, tags, source_node, envelope, \
     envelope_id, confidence, observations, positive, negative, created_ms, updated_ms, elevation, \
     certificate, height";

impl Store {
    /// Learns from a signed output: verifies `envelope` with `opts` (a stored envelope is
    /// verified at an instant inside its validity, `VerifyOptions::default().at(t)`), takes its
    /// content (see the module's rules), and stores it with `embedding` (the content's, from the
    /// engine's `embed` or the caller's) and `tags`.
    ///
    /// Errors: the envelope's rejection (with its reject code); `InvalidInput` for a payload that
    /// holds no learnable content, a bad embedding or tag; `Io` for the store.
    pub fn learn(
        &self,
        envelope: &Envelope,
        embedding: &[f32],
        tags: &[&str],
        opts: &VerifyOptions<'_>,
    ) -> Result<Learned> {
        envelope.verify(opts)?;
        let taught = learnable_content(envelope)?;
        self.learn_verified(envelope, taught, embedding, tags)
    }

    /// [`Store::learn`] of an envelope verified already (verifying twice would trip a replay
    /// cache in the options), whose [`learnable_content`] was read already.
    pub(crate) fn learn_verified(
        &self,
        envelope: &Envelope,
        (content, stated): (String, Option<PatternPayload>),
        embedding: &[f32],
        tags: &[&str],
    ) -> Result<Learned> {
        let source_node = stated
            .as_ref()
            .and_then(|p| p.source_node.clone())
            .unwrap_or_else(|| envelope.sender().to_owned());
        let mut all_tags = stated.map(|p| p.tags).unwrap_or_default();
        all_tags.extend(tags.iter().map(|t| (*t).to_owned()));
        let tags = clean_tags(all_tags)?;
        let mut inner = self.lock();
        let embedding = normalise(embedding, inner.dimension)?;
        let incoming = Incoming {
            content: &content,
            embedding,
            tags,
            source_node,
            envelope: envelope.to_json(),
            envelope_id: envelope.id().to_owned(),
            confidence: INITIAL_CONFIDENCE,
            observations: 1,
            positive: 0,
            negative: 0,
        };
        let path = inner.path.clone();
        let mut dimension = inner.dimension;
        let tx = inner
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|e| sql_error(&path, "starting to learn a pattern", e))?;
        let (learned, added) = write_incoming(&tx, &path, &mut dimension, incoming)?;
        tx.commit()
            .map_err(|e| sql_error(&path, "committing a learned pattern", e))?;
        inner.after_commit(dimension, added.into_iter().collect())?;
        Ok(learned)
    }

    /// Records feedback on a pattern: positive adds [`POSITIVE_STEP`] to its confidence, negative
    /// takes [`NEGATIVE_STEP`] away (clamped to [0, 1]); each is counted. Returns the pattern as
    /// updated. An unknown id is `InvalidInput`.
    pub fn feedback(&self, id: PatternId, positive: bool) -> Result<Pattern> {
        let mut inner = self.lock();
        let path = inner.path.clone();
        let tx = inner
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|e| sql_error(&path, "starting feedback", e))?;
        let confidence: Option<f64> = tx
            .query_row("SELECT confidence FROM patterns WHERE id = ?1", [id], |r| {
                r.get(0)
            })
            .optional()
            .map_err(|e| sql_error(&path, "reading a pattern's confidence", e))?;
        let Some(c) = confidence else {
            return Err(Error::InvalidInput(format!("no pattern with id {id}")));
        };
        let (c, column) = if positive {
            ((c + POSITIVE_STEP).min(1.0), "positive")
        } else {
            ((c - NEGATIVE_STEP).max(0.0), "negative")
        };
        tx.execute(
            &format!(
                "UPDATE patterns SET confidence = ?1, {column} = {column} + 1, updated_ms = ?2 \
                 WHERE id = ?3"
            ),
            params![c, now_ms(), id],
        )
        .map_err(|e| sql_error(&path, "recording feedback", e))?;
        tx.commit()
            .map_err(|e| sql_error(&path, "committing feedback", e))?;
        get(&inner.conn, &inner.path, id)?
            .ok_or_else(|| Error::InvalidInput(format!("no pattern with id {id}")))
    }

    /// The pattern with this id, if any.
    pub fn get(&self, id: PatternId) -> Result<Option<Pattern>> {
        let inner = self.lock();
        get(&inner.conn, &inner.path, id)
    }

    /// Every pattern, by id.
    pub fn list(&self) -> Result<Vec<Pattern>> {
        self.select(
            &format!("SELECT {COLUMNS} FROM patterns ORDER BY id"),
            [],
            "listing patterns",
        )
    }

    /// How many patterns the store holds.
    pub fn len(&self) -> Result<usize> {
        let inner = self.lock();
        let n: i64 = inner
            .conn
            .query_row("SELECT count(*) FROM patterns", [], |r| r.get(0))
            .map_err(|e| sql_error(&inner.path, "counting patterns", e))?;
        Ok(usize::try_from(n).unwrap_or(0))
    }

    /// Whether the store holds no pattern.
    pub fn is_empty(&self) -> Result<bool> {
        Ok(self.len()? == 0)
    }

    /// Removes a pattern (and forgets which envelopes carried it, so it can be learned anew).
    /// Returns whether it existed.
    pub fn remove(&self, id: PatternId) -> Result<bool> {
        let mut inner = self.lock();
        let n = inner
            .conn
            .execute("DELETE FROM patterns WHERE id = ?1", [id])
            .map_err(|e| sql_error(&inner.path, "removing a pattern", e))?;
        if n > 0 {
            inner.index_remove(id)?;
        }
        Ok(n > 0)
    }
}

/// The content an envelope teaches, and its pattern payload where it is one.
pub(crate) fn learnable_content(envelope: &Envelope) -> Result<(String, Option<PatternPayload>)> {
    let payload = envelope.payload();
    let kind = payload.get("type").and_then(Value::as_str);
    match kind {
        Some(INFERENCE_PAYLOAD_TYPE) => match payload.get("output") {
            Some(Value::String(s)) if !s.is_empty() => Ok((s.clone(), None)),
            _ => Err(Error::InvalidInput(format!(
                "envelope {}: a {INFERENCE_PAYLOAD_TYPE} payload without a non-empty output",
                envelope.id()
            ))),
        },
        Some(PATTERN_PAYLOAD_TYPE) => {
            let p = PatternPayload::from_value(payload)
                .map_err(|e| Error::InvalidInput(format!("envelope {}: {e}", envelope.id())))?;
            Ok((p.content.clone(), Some(p)))
        }
        Some(other) => Err(Error::InvalidInput(format!(
            "envelope {}: cannot learn from a {other:?} payload, only {INFERENCE_PAYLOAD_TYPE:?} \
             (its output) and {PATTERN_PAYLOAD_TYPE:?} (its content)",
            envelope.id()
        ))),
        None => Err(Error::InvalidInput(format!(
            "envelope {}: cannot learn from a payload without a type, only \
             {INFERENCE_PAYLOAD_TYPE:?} and {PATTERN_PAYLOAD_TYPE:?}",
            envelope.id()
        ))),
    }
}

/// Tags without repeats, in first-seen order; empty tags are refused.
pub(crate) fn clean_tags(tags: Vec<String>) -> Result<Vec<String>> {
    let mut out: Vec<String> = Vec::with_capacity(tags.len());
    for t in tags {
        if t.is_empty() {
            return Err(Error::InvalidInput("a tag must not be empty".into()));
        }
        if !out.contains(&t) {
            out.push(t);
        }
    }
    Ok(out)
}

/// Checks an embedding (dimension, finite values, not zero) and returns it L2-normalised.
pub fn normalise(v: &[f32], dimension: Option<usize>) -> Result<Vec<f32>> {
    if v.is_empty() {
        return Err(Error::InvalidInput("the embedding is empty".into()));
    }
    if v.len() > MAX_DIMENSION {
        return Err(Error::InvalidInput(format!(
            "the embedding has {} dimensions, more than {MAX_DIMENSION}",
            v.len()
        )));
    }
    if let Some(d) = dimension {
        if v.len() != d {
            return Err(Error::InvalidInput(format!(
                "the embedding has {} dimensions, but this store's patterns have {d}",
                v.len()
            )));
        }
    }
    if let Some(i) = v.iter().position(|x| !x.is_finite()) {
        return Err(Error::InvalidInput(format!(
            "the embedding's value {i} is {}, not a finite number",
            v[i]
        )));
    }
    let norm = v
        .iter()
        .map(|&x| f64::from(x) * f64::from(x))
        .sum::<f64>()
        .sqrt();
    if norm == 0.0 || !norm.is_finite() {
        return Err(Error::InvalidInput(
            "the embedding is the zero vector (it has no direction)".into(),
        ));
    }
    Ok(v.iter().map(|&x| (f64::from(x) / norm) as f32).collect())
}

/// Inserts a pattern or observes the existing one, inside `tx`. Returns what happened and, for a
/// new pattern, its id and embedding for the index (added once the transaction commits).
pub(crate) fn write_incoming(
    tx: &Transaction<'_>,
    path: &std::path::Path,
    dimension: &mut Option<usize>,
    incoming: Incoming<'_>,
) -> Result<(Learned, Option<Indexed>)> {
    let now = now_ms();
    let known: Option<PatternId> = tx
        .query_row(
            "SELECT pattern_id FROM pattern_envelopes WHERE envelope_id = ?1",
            [&incoming.envelope_id],
            |r| r.get(0),
        )
        .optional()
        .map_err(|e| sql_error(path, "looking up the envelope", e))?;
    if let Some(id) = known {
        return Ok((Learned::AlreadyKnown(id), None));
    }
    let hash = blake3::hash(incoming.content.as_bytes());
    let existing: Option<(PatternId, String)> = tx
        .query_row(
            "SELECT id, tags FROM patterns WHERE content_hash = ?1",
            [hash.as_bytes().as_slice()],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()
        .map_err(|e| sql_error(path, "looking up the content", e))?;
    let (learned, added) = match existing {
        Some((id, tags)) => {
            let mut merged: Vec<String> = serde_json::from_str(&tags).map_err(|e| {
                store_error(
                    path,
                    format!("pattern {id}: tags are not a JSON array: {e}"),
                )
            })?;
            for t in incoming.tags {
                if !merged.contains(&t) {
                    merged.push(t);
                }
            }
            tx.execute(
                "UPDATE patterns SET observations = observations + 1, tags = ?1, updated_ms = ?2 \
                 WHERE id = ?3",
                params![tags_json(&merged), now, id],
            )
            .map_err(|e| sql_error(path, "recording an observation", e))?;
            (Learned::Observed(id), None)
        }
        None => {
            // Read inside the transaction: another connection may have fixed it meanwhile.
            if dimension.is_none() {
                *dimension = stored_dimension(tx, path)?;
            }
            match *dimension {
                Some(d) if d != incoming.embedding.len() => {
                    return Err(Error::InvalidInput(format!(
                        "the embedding has {} dimensions, the store's patterns {d}",
                        incoming.embedding.len()
                    )));
                }
                Some(_) => {}
                None => {
                    tx.execute(
                        "INSERT INTO meta (key, value) VALUES ('dimension', ?1)",
                        [incoming.embedding.len().to_string()],
                    )
                    .map_err(|e| sql_error(path, "fixing the embedding dimension", e))?;
                    *dimension = Some(incoming.embedding.len());
                }
            }
            let id = next_id(tx, path)?;
            let observations = i64::try_from(incoming.observations).unwrap_or(i64::MAX);
            let positive = i64::try_from(incoming.positive).unwrap_or(i64::MAX);
            let negative = i64::try_from(incoming.negative).unwrap_or(i64::MAX);
            tx.execute(
                "INSERT INTO patterns (content, content_hash, embedding, tags, source_node, \
                 envelope, envelope_id, confidence, observations, positive, negative, created_ms, \
                 updated_ms, id) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?12, \
                 ?13)",
                params![
                    incoming.content,
                    hash.as_bytes().as_slice(),
                    embedding_bytes(&incoming.embedding),
                    tags_json(&incoming.tags),
                    incoming.source_node,
                    incoming.envelope,
                    incoming.envelope_id,
                    incoming.confidence,
                    observations,
                    positive,
                    negative,
                    now,
                    id,
                ],
            )
            .map_err(|e| sql_error(path, "inserting a pattern", e))?;
            (Learned::New(id), Some((id, incoming.embedding)))
        }
    };
    tx.execute(
        "INSERT INTO pattern_envelopes (envelope_id, pattern_id, learned_ms) VALUES (?1, ?2, ?3)",
        params![incoming.envelope_id, learned.id(), now],
    )
    .map_err(|e| sql_error(path, "recording the envelope", e))?;
    Ok((learned, added))
}

/// The id of a new pattern: one more than any id the store ever gave (recorded in `meta` as
/// `last_id`), so that an id names one pattern for good, even after the newest is removed; an
/// index that another connection's writes left behind can then be caught up by ids alone.
fn next_id(tx: &Transaction<'_>, path: &std::path::Path) -> Result<PatternId> {
    tx.query_row(
        "INSERT INTO meta (key, value) \
         VALUES ('last_id', (SELECT coalesce(max(id), 0) + 1 FROM patterns)) \
         ON CONFLICT (key) DO UPDATE SET value = \
           max(CAST(value AS INTEGER), (SELECT coalesce(max(id), 0) FROM patterns)) + 1 \
         RETURNING CAST(value AS INTEGER)",
        [],
        |r| r.get(0),
    )
    .map_err(|e| sql_error(path, "allocating a pattern id", e))
}

/// The dimension recorded in the store, if a pattern has fixed it.
pub(crate) fn stored_dimension(conn: &Connection, path: &std::path::Path) -> Result<Option<usize>> {
    let v: Option<String> = conn
        .query_row("SELECT value FROM meta WHERE key = 'dimension'", [], |r| {
            r.get(0)
        })
        .optional()
        .map_err(|e| sql_error(path, "reading the embedding dimension", e))?;
    match v {
        None => Ok(None),
        Some(s) => match s.parse::<usize>() {
            Ok(d) if (1..=MAX_DIMENSION).contains(&d) => Ok(Some(d)),
            _ => Err(store_error(
                path,
                format!("the recorded embedding dimension {s:?} is not a dimension"),
            )),
        },
    }
}

pub(crate) fn get(
    conn: &Connection,
    path: &std::path::Path,
    id: PatternId,
) -> Result<Option<Pattern>> {
    let mut stmt = conn
        .prepare_cached(&format!("SELECT {COLUMNS} FROM patterns WHERE id = ?1"))
        .map_err(|e| sql_error(path, "reading a pattern", e))?;
    stmt.query_row([id], pattern_from_row)
        .optional()
        .map_err(|e| sql_error(path, "reading a pattern", e))
}

fn conversion(col: usize, msg: String) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(
        col,
        rusqlite::types::Type::Blob,
        Box::new(std::io::Error::new(std::io::ErrorKind::InvalidData, msg)),
    )
}

/// A row of `SELECT {COLUMNS}` as a [`Pattern`]; a malformed column is a conversion error.
pub(crate) fn pattern_from_row(r: &Row<'_>) -> rusqlite::Result<Pattern> {
    let hash: Vec<u8> = r.get(2)?;
    let content_hash: [u8; 32] = hash
        .try_into()
        .map_err(|_| conversion(2, "content_hash is not 32 bytes".into()))?;
    let blob: Vec<u8> = r.get(3)?;
    let embedding = embedding_from_bytes(&blob)
        .ok_or_else(|| conversion(3, "the embedding is not a sequence of f32".into()))?;
    let tags: String = r.get(4)?;
    let tags: Vec<String> = serde_json::from_str(&tags)
        .map_err(|e| conversion(4, format!("tags are not a JSON array of strings: {e}")))?;
    let count = |i: usize| -> rusqlite::Result<u64> {
        let n: i64 = r.get(i)?;
        u64::try_from(n).map_err(|_| conversion(i, format!("negative count {n}")))
    };
    let elevation: String = r.get(14)?;
    let elevation = match elevation.as_str() {
        "none" => Elevation::None,
        "local" => Elevation::Local,
        "certified" => {
            let height: i64 = r.get(16)?;
            Elevation::Certified {
                certificate: r.get(15)?,
                height: u64::try_from(height)
                    .map_err(|_| conversion(16, format!("negative height {height}")))?,
            }
        }
        other => return Err(conversion(14, format!("unknown elevation {other:?}"))),
    };
    Ok(Pattern {
        id: r.get(0)?,
        content: r.get(1)?,
        content_hash,
        embedding,
        tags,
        source_node: r.get(5)?,
        envelope: r.get(6)?,
        envelope_id: r.get(7)?,
        confidence: r.get(8)?,
        observations: count(9)?,
        positive: count(10)?,
        negative: count(11)?,
        created_ms: r.get(12)?,
        updated_ms: r.get(13)?,
        elevation,
    })
}

pub(crate) fn tags_json(tags: &[String]) -> String {
    Value::Array(tags.iter().cloned().map(Value::from).collect()).to_string()
}

/// An embedding as stored: its f32 values, little-endian.
pub(crate) fn embedding_bytes(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

pub(crate) fn embedding_from_bytes(b: &[u8]) -> Option<Vec<f32>> {
    if b.is_empty() || b.len() % 4 != 0 {
        return None;
    }
    Some(
        b.chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect(),
    )
}

impl Inner {
    /// After a commit: records the dimension a first pattern fixed and adds the new embeddings
    /// to the index.
    pub(crate) fn after_commit(
        &mut self,
        dimension: Option<usize>,
        added: Vec<(PatternId, Vec<f32>)>,
    ) -> Result<()> {
        if self.dimension.is_none() && dimension.is_some() {
            self.dimension = dimension;
        }
        match added.len() {
            0 => Ok(()),
            1 => added
                .first()
                .map_or(Ok(()), |(id, v)| self.index_add(*id, v)),
            _ => self.index_add_many(&added),
        }
    }
}
