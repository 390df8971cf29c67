//! `Store`: the core's autopoiesis store (a node's memory of patterns and preferences in one
//! SQLite file) for Kotlin and Swift. Every rule is the core's; this file only turns its records
//! into UniFFI records.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bizra_core::autopoiesis::{self as core, ElevationPolicy, Learned, RecallOptions};

use super::envelope::{verify_options, Envelope, ReplayCache};
use super::identity::Identity;
use super::inference::Model;
use super::BizraError;

/// Whether, and how, a pattern was elevated.
#[derive(Debug, Clone, PartialEq, Eq, ::uniffi::Enum)]
pub enum Elevation {
    /// Not elevated.
    None,
    /// Elevated by this node alone (no federation to certify it).
    Local,
    /// Certified by a federation at `height`; `certificate` is the commit certificate's JSON.
    Certified {
        /// The consensus height that decided it.
        height: u64,
        /// The commit certificate (`Certificate.fromJson` reads it).
        certificate: String,
    },
}

/// A learned pattern (its embedding and introducing envelope left out; `Store.get` by id).
#[derive(Debug, Clone, PartialEq, ::uniffi::Record)]
pub struct Pattern {
    /// The id.
    pub id: i64,
    /// The text.
    pub content: String,
    /// Labels, in the order first given.
    pub tags: Vec<String>,
    /// The node it came from.
    pub source_node: String,
    /// The id of the envelope that introduced it.
    pub envelope_id: String,
    /// Confidence in [0, 1].
    pub confidence: f64,
    /// Distinct envelopes that carried the content.
    pub observations: u64,
    /// Positive feedback counted.
    pub positive: u64,
    /// Negative feedback counted.
    pub negative: u64,
    /// When it was first learned.
    pub created: SystemTime,
    /// When it last changed.
    pub updated: SystemTime,
    /// Whether it was elevated.
    pub elevation: Elevation,
}

/// A recalled pattern and its cosine similarity to the query.
#[derive(Debug, Clone, PartialEq, ::uniffi::Record)]
pub struct Recalled {
    /// The pattern.
    pub pattern: Pattern,
    /// Cosine similarity, in [-1, 1].
    pub similarity: f32,
}

/// What `Store.learn` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ::uniffi::Enum)]
pub enum LearnedKind {
    /// A new pattern.
    New,
    /// The content was held: one more observation.
    Observed,
    /// This very envelope was learned before: nothing changed.
    AlreadyKnown,
}

/// The pattern a `Store.learn` concerned, and what it did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ::uniffi::Record)]
pub struct Learning {
    /// The pattern's id.
    pub id: i64,
    /// What happened.
    pub learned: LearnedKind,
}

/// One observed value of a preference.
#[derive(Debug, Clone, PartialEq, ::uniffi::Record)]
pub struct Preference {
    /// What sort (`"style"`).
    pub kind: String,
    /// Which one (`"tone"`).
    pub key: String,
    /// The value (`"concise"`).
    pub value: String,
    /// Confidence in [0, 1].
    pub confidence: f64,
    /// Times observed.
    pub observations: u64,
    /// Whether it is active (confidence ≥ 0.7).
    pub active: bool,
}

/// What `Store.importJsonl` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ::uniffi::Record)]
pub struct ImportReport {
    /// Lines read (blank lines not counted).
    pub lines: u64,
    /// Patterns added.
    pub added: u64,
    /// Lines whose content was held (one more observation each).
    pub observed: u64,
    /// Lines whose envelope was learned before.
    pub already_known: u64,
}

fn instant(ms: i64) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(u64::try_from(ms).unwrap_or(0))
}

fn pattern(p: core::Pattern) -> Pattern {
    Pattern {
        id: p.id,
        content: p.content,
        tags: p.tags,
        source_node: p.source_node,
        envelope_id: p.envelope_id,
        confidence: p.confidence,
        observations: p.observations,
        positive: p.positive,
        negative: p.negative,
        created: instant(p.created_ms),
        updated: instant(p.updated_ms),
        elevation: match p.elevation {
            core::Elevation::None => Elevation::None,
            core::Elevation::Local => Elevation::Local,
            core::Elevation::Certified {
                certificate,
                height,
            } => Elevation::Certified {
                height,
                certificate,
            },
        },
    }
}

fn recalled(hits: Vec<core::Recalled>) -> Vec<Recalled> {
    hits.into_iter()
        .map(|h| Recalled {
            similarity: h.similarity,
            pattern: pattern(h.pattern),
        })
        .collect()
}

fn preference(p: core::Preference) -> Preference {
    Preference {
        active: p.is_active(),
        kind: p.kind,
        key: p.key,
        value: p.value,
        confidence: p.confidence,
        observations: p.observations,
    }
}

fn learning(l: Learned) -> Learning {
    Learning {
        id: l.id(),
        learned: match l {
            Learned::New(_) => LearnedKind::New,
            Learned::Observed(_) => LearnedKind::Observed,
            Learned::AlreadyKnown(_) => LearnedKind::AlreadyKnown,
        },
    }
}

fn recall_options(k: Option<u32>, threshold: Option<f32>) -> RecallOptions {
    let mut o = RecallOptions::default();
    if let Some(k) = k {
        o.k = k as usize;
    }
    if let Some(t) = threshold {
        o.threshold = t;
    }
    o
}

/// A node's memory: patterns learned from verified envelopes, recalled by meaning, moved by
/// feedback and elevated; and preferences. Thread-safe; `close()` (or dropping it) saves a file
/// store's vector index.
#[derive(::uniffi::Object)]
pub struct Store {
    inner: core::Store,
}

#[::uniffi::export]
impl Store {
    /// Opens (creating it if absent) the store in the SQLite file at `path`. A file that is not a
    /// store, is damaged, or is newer throws `Io` and is left untouched.
    #[uniffi::constructor]
    pub fn open(path: String) -> Result<Arc<Self>, BizraError> {
        Ok(Arc::new(Store {
            inner: core::Store::open(path)?,
        }))
    }

    /// A store in memory, gone when released.
    #[uniffi::constructor]
    pub fn in_memory() -> Result<Arc<Self>, BizraError> {
        Ok(Arc::new(Store {
            inner: core::Store::in_memory()?,
        }))
    }

    /// How many patterns it holds.
    pub fn size(&self) -> Result<u64, BizraError> {
        Ok(self.inner.len()? as u64)
    }

    /// The embedding dimension, fixed by the first pattern (null before).
    pub fn dimension(&self) -> Option<u32> {
        self.inner
            .dimension()
            .map(|d| u32::try_from(d).unwrap_or(u32::MAX))
    }

    /// Learns from a signed output: verifies `envelope` (`now`, `policy`, `replay` as in
    /// `Envelope.verify`), takes its content and stores it with `embedding` and `tags`.
    #[uniffi::method(default(tags = [], now = None, policy = None, replay = None))]
    pub fn learn(
        &self,
        envelope: Arc<Envelope>,
        embedding: Vec<f32>,
        tags: Vec<String>,
        now: Option<SystemTime>,
        policy: Option<String>,
        replay: Option<Arc<ReplayCache>>,
    ) -> Result<Learning, BizraError> {
        let opts = verify_options(now, policy.as_deref(), replay.as_deref())?;
        let tags: Vec<&str> = tags.iter().map(String::as_str).collect();
        Ok(learning(self.inner.learn(
            &envelope.inner,
            &embedding,
            &tags,
            &opts,
        )?))
    }

    /// `learn` with `model`'s embedding of the content (the envelope is verified first: nothing
    /// is embedded for one refused).
    #[uniffi::method(default(tags = [], now = None, policy = None, replay = None))]
    pub fn learn_with(
        &self,
        model: Arc<Model>,
        envelope: Arc<Envelope>,
        tags: Vec<String>,
        now: Option<SystemTime>,
        policy: Option<String>,
        replay: Option<Arc<ReplayCache>>,
    ) -> Result<Learning, BizraError> {
        let opts = verify_options(now, policy.as_deref(), replay.as_deref())?;
        let tags: Vec<&str> = tags.iter().map(String::as_str).collect();
        Ok(learning(self.inner.learn_embedded(
            &envelope.inner,
            &model.engine,
            &tags,
            &opts,
        )?))
    }

    /// The patterns nearest `query`: at most `k` (10), each at or above `threshold` (0.5),
    /// highest similarity first.
    #[uniffi::method(default(k = None, threshold = None))]
    pub fn recall(
        &self,
        query: Vec<f32>,
        k: Option<u32>,
        threshold: Option<f32>,
    ) -> Result<Vec<Recalled>, BizraError> {
        Ok(recalled(
            self.inner.recall(&query, recall_options(k, threshold))?,
        ))
    }

    /// `recall` of `text`, embedded by `model`.
    #[uniffi::method(default(k = None, threshold = None))]
    pub fn recall_text(
        &self,
        model: Arc<Model>,
        text: String,
        k: Option<u32>,
        threshold: Option<f32>,
    ) -> Result<Vec<Recalled>, BizraError> {
        Ok(recalled(self.inner.recall_text(
            &model.engine,
            &text,
            recall_options(k, threshold),
        )?))
    }

    /// Feedback on pattern `id` (+0.05 positive, −0.03 negative, clamped); the confidence now.
    pub fn feedback(&self, id: i64, positive: bool) -> Result<f64, BizraError> {
        Ok(self.inner.feedback(id, positive)?.confidence)
    }

    /// Pattern `id`, or null.
    pub fn get(&self, id: i64) -> Result<Option<Pattern>, BizraError> {
        Ok(self.inner.get(id)?.map(pattern))
    }

    /// Every pattern, by id.
    pub fn patterns(&self) -> Result<Vec<Pattern>, BizraError> {
        Ok(self.inner.list()?.into_iter().map(pattern).collect())
    }

    /// Every elevated pattern (locally, or certified by a federation), by id.
    pub fn elevated(&self) -> Result<Vec<Pattern>, BizraError> {
        Ok(self.inner.elevated()?.into_iter().map(pattern).collect())
    }

    /// Elevates, locally, the patterns with at least `threshold` confidence (0.95) and
    /// `minObservations` observations (3); their ids.
    #[uniffi::method(default(threshold = None, min_observations = None))]
    pub fn elevate_local(
        &self,
        threshold: Option<f64>,
        min_observations: Option<u64>,
    ) -> Result<Vec<i64>, BizraError> {
        let mut p = ElevationPolicy::default();
        if let Some(t) = threshold {
            p.threshold = t;
        }
        if let Some(n) = min_observations {
            p.min_observations = n;
        }
        Ok(self.inner.elevate_local(&p)?)
    }

    /// Observes that the user prefers `value` for (`kind`, `key`); this value's confidence.
    pub fn observe_preference(
        &self,
        kind: String,
        key: String,
        value: String,
    ) -> Result<f64, BizraError> {
        Ok(self
            .inner
            .preferences()
            .observe(&kind, &key, &value)?
            .confidence)
    }

    /// The preferred value of (`kind`, `key`), or null.
    pub fn preference(&self, kind: String, key: String) -> Result<Option<Preference>, BizraError> {
        Ok(self.inner.preferences().get(&kind, &key)?.map(preference))
    }

    /// The active preferences, one per (kind, key).
    pub fn active_preferences(&self) -> Result<Vec<Preference>, BizraError> {
        Ok(self
            .inner
            .preferences()
            .active()?
            .into_iter()
            .map(preference)
            .collect())
    }

    /// `systemPrompt` followed by the active preferences, as a gateway would send it.
    #[uniffi::method(default(system_prompt = None))]
    pub fn apply_preferences(&self, system_prompt: Option<String>) -> Result<String, BizraError> {
        Ok(self.inner.preferences().apply(system_prompt.as_deref())?)
    }

    /// Every pattern as JSON Lines of `bizra.pattern` envelopes signed by `identity`.
    pub fn export_jsonl(&self, identity: Arc<Identity>) -> Result<String, BizraError> {
        let mut out = Vec::new();
        self.inner.export_jsonl(&mut out, &identity.inner)?;
        String::from_utf8(out).map_err(|e| BizraError::Internal {
            detail: format!("export is not UTF-8: {e}"),
        })
    }

    /// Imports JSON Lines (as `exportJsonl` writes them), verifying every line: all or none. A
    /// line that does not verify throws its error, naming the line.
    #[uniffi::method(default(now = None, policy = None, replay = None))]
    pub fn import_jsonl(
        &self,
        text: String,
        now: Option<SystemTime>,
        policy: Option<String>,
        replay: Option<Arc<ReplayCache>>,
    ) -> Result<ImportReport, BizraError> {
        let opts = verify_options(now, policy.as_deref(), replay.as_deref())?;
        let r = self.inner.import_jsonl(text.as_bytes(), &opts)?;
        Ok(ImportReport {
            lines: r.lines as u64,
            added: r.new as u64,
            observed: r.observed as u64,
            already_known: r.already_known as u64,
        })
    }
}
