//! `Store`: the core's autopoiesis store (a node's memory of patterns and preferences in one
//! SQLite file), for Node, with its records `Pattern`, `Recalled`, `Preference`, `Learning` and
//! `ImportReport` as plain typed objects. Learning, recall, feedback, elevation, preferences and
//! exchange are the core's; this file converts types only. Work that embeds with a model, opens
//! a file (which may rebuild the index) or verifies and signs a whole file of patterns (import,
//! export) runs off the main thread and returns a Promise; the rest is one quick SQLite call and
//! synchronous.

use std::sync::Arc;

use bizra::autopoiesis::{
    Elevation, ElevationPolicy, Learned, RecallOptions, Recalled as CoreRecalled,
};
use napi::bindgen_prelude::*;
use napi::Env;
use napi_derive::napi;

use crate::consensus::document_of;
use crate::convert::{date_ms, floats_in, DateOut, JsObject};
use crate::envelope::{Envelope, VerifyArgs};
use crate::errors::{core_err, guard, js_error, kind_err, Result};
use crate::identity::identity_of;
use crate::inference::model::Model;
use crate::options::Options;
use crate::tasks::{deferred, off_thread};

/// A node's memory: patterns learned from verified envelopes, recalled by meaning, moved by
/// feedback and elevated; and preferences. `Store.open(path)` opens a SQLite file (created if
/// absent), `Store.inMemory()` keeps everything in memory. `close()` (or `using`) saves a file
/// store's vector index.
#[napi]
pub struct Store {
    /// `None` once closed.
    inner: Option<Arc<bizra::autopoiesis::Store>>,
}

/// A learned pattern, as the store held it when it was read.
#[napi(object, object_from_js = false)]
pub struct Pattern {
    /// Its id in this store.
    pub id: i64,
    /// The text.
    pub content: String,
    /// BLAKE3 of the text as 64 lowercase hex: what makes two learnings the same pattern.
    pub content_blake3: String,
    /// The embedding, L2-normalised by the store.
    pub embedding: Float32Array,
    /// Labels, in the order first given, without repeats.
    pub tags: Vec<String>,
    /// The node id of the envelope's signer.
    pub source_node: String,
    /// The envelope that introduced the pattern, its JSON text (`Envelope.parse` reads it).
    pub envelope: String,
    /// That envelope's id.
    pub envelope_id: String,
    /// Confidence in [0, 1]: 0.5 when learned, +0.05 per positive and −0.03 per negative
    /// feedback.
    pub confidence: f64,
    /// How many distinct envelopes carried this content.
    pub observations: i64,
    /// Positive feedback counted.
    pub positive: i64,
    /// Negative feedback counted.
    pub negative: i64,
    /// When it was first learned.
    #[napi(ts_type = "Date")]
    pub created: DateOut,
    /// When it last changed.
    #[napi(ts_type = "Date")]
    pub updated: DateOut,
    /// `'none'`, `'local'` (elevated by this node alone) or `'certified'` (by a federation).
    #[napi(ts_type = "'none' | 'local' | 'certified'")]
    pub elevation: String,
    /// The consensus height that certified it.
    pub height: Option<i64>,
    /// The commit certificate that certified it, its JSON text (`Certificate.fromJson` reads
    /// it).
    pub certificate: Option<String>,
}

/// Counts beyond 2^53 do not occur (one observation per envelope); saturate rather than wrap.
fn count(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

impl From<bizra::autopoiesis::Pattern> for Pattern {
    fn from(p: bizra::autopoiesis::Pattern) -> Self {
        let (elevation, height, certificate) = match p.elevation {
            Elevation::None => ("none", None, None),
            Elevation::Local => ("local", None, None),
            Elevation::Certified {
                certificate,
                height,
            } => ("certified", Some(count(height)), Some(certificate)),
        };
        Pattern {
            id: p.id,
            content_blake3: bizra::hash::to_hex(&p.content_hash),
            content: p.content,
            embedding: Float32Array::new(p.embedding),
            tags: p.tags,
            source_node: p.source_node,
            envelope: p.envelope,
            envelope_id: p.envelope_id,
            confidence: p.confidence,
            observations: count(p.observations),
            positive: count(p.positive),
            negative: count(p.negative),
            created: date_ms(p.created_ms),
            updated: date_ms(p.updated_ms),
            elevation: elevation.to_owned(),
            height,
            certificate,
        }
    }
}

/// A pattern found by `recall`, with its cosine similarity to the query.
#[napi(object, object_from_js = false)]
pub struct Recalled {
    /// The pattern, as the store held it.
    pub pattern: Pattern,
    /// Cosine similarity in [−1, 1].
    pub similarity: f64,
}

impl From<CoreRecalled> for Recalled {
    fn from(r: CoreRecalled) -> Self {
        Recalled {
            pattern: r.pattern.into(),
            similarity: f64::from(r.similarity),
        }
    }
}

fn recalled(hits: Vec<CoreRecalled>) -> Vec<Recalled> {
    hits.into_iter().map(Recalled::from).collect()
}

fn patterns(all: Vec<bizra::autopoiesis::Pattern>) -> Vec<Pattern> {
    all.into_iter().map(Pattern::from).collect()
}

/// A learned preference: one value of (`kind`, `key`) and the confidence in it.
#[napi(object, object_from_js = false)]
pub struct Preference {
    /// What it is about (`'style'`, `'format'`, ...).
    pub kind: String,
    /// Which preference of that kind (`'tone'`, ...).
    pub key: String,
    /// The preferred value.
    pub value: String,
    /// Confidence in [0, 1]: 0.5 at first, reinforced by each repeat.
    pub confidence: f64,
    /// How many times this value was observed.
    pub observations: i64,
    /// Whether it shapes prompts (confidence at or above the core's threshold, 0.7).
    pub active: bool,
    /// When it was first observed.
    #[napi(ts_type = "Date")]
    pub created: DateOut,
    /// When it was last observed.
    #[napi(ts_type = "Date")]
    pub updated: DateOut,
}

impl From<bizra::autopoiesis::Preference> for Preference {
    fn from(p: bizra::autopoiesis::Preference) -> Self {
        Preference {
            active: p.is_active(),
            kind: p.kind,
            key: p.key,
            value: p.value,
            confidence: p.confidence,
            observations: count(p.observations),
            created: date_ms(p.created_ms),
            updated: date_ms(p.updated_ms),
        }
    }
}

/// What `learn` did.
#[napi(object, object_from_js = false)]
pub struct Learning {
    /// The pattern's id.
    pub id: i64,
    /// `'new'`, `'observed'` (the content was held: one more observation) or `'alreadyKnown'`
    /// (this very envelope was learned before: nothing changed).
    #[napi(ts_type = "'new' | 'observed' | 'alreadyKnown'")]
    pub outcome: String,
}

/// What `importJsonl` did.
#[napi(object, object_from_js = false)]
pub struct ImportReport {
    /// Lines read (blank lines not counted).
    pub lines: u32,
    /// Patterns added.
    pub new: u32,
    /// Lines whose content was held (one more observation each).
    pub observed: u32,
    /// Lines whose envelope had been learned before.
    pub already_known: u32,
}

fn learning(l: Learned) -> Learning {
    let outcome = match l {
        Learned::New(_) => "new",
        Learned::Observed(_) => "observed",
        Learned::AlreadyKnown(_) => "alreadyKnown",
    };
    Learning {
        id: l.id(),
        outcome: outcome.to_owned(),
    }
}

/// The keys of `RecallOptions`.
const RECALL_OPTIONS: &[&str] = &["k", "threshold"];
/// The keys of `ElevationPolicy`.
const ELEVATION_POLICY: &[&str] = &["threshold", "minObservations"];

fn recall_options(env: &Env, options: Option<Unknown>) -> Result<RecallOptions> {
    let mut o = RecallOptions::default();
    if let Some(r) = Options::read(env, options, RECALL_OPTIONS)? {
        if let Some(k) = r.u32("k")? {
            o.k = k as usize;
        }
        if let Some(t) = r.number("threshold")? {
            o.threshold = t as f32;
        }
    }
    Ok(o)
}

fn usize_out(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

impl Store {
    fn store(&self) -> Result<&Arc<bizra::autopoiesis::Store>> {
        self.inner.as_ref().ok_or_else(|| {
            kind_err(
                bizra::ErrorKind::InvalidInput,
                "the store is closed (Store.close() was called)",
            )
        })
    }
}

#[napi]
impl Store {
    /// Opens (creating it if absent) the store in the SQLite file at `path`, off the main
    /// thread. A file that is not a store, is damaged, or is newer rejects with kind `IO` and is
    /// left untouched.
    #[napi(ts_return_type = "Promise<Store>")]
    pub fn open(env: Env, path: String) -> Result<JsObject> {
        guard(|| {
            let (d, promise) = deferred::<Store>(&env)?;
            off_thread(
                &env,
                d,
                move || bizra::autopoiesis::Store::open(&path),
                |env, done| match done.and_then(|r| r.map_err(core_err)) {
                    Ok(s) => Ok(Store {
                        inner: Some(Arc::new(s)),
                    }),
                    Err(e) => Err(js_error(env, e)),
                },
            );
            Ok(promise)
        })
    }

    /// A store in memory, gone when closed or collected.
    #[napi(factory)]
    pub fn in_memory() -> Result<Store> {
        guard(|| {
            Ok(Store {
                inner: Some(Arc::new(
                    bizra::autopoiesis::Store::in_memory().map_err(core_err)?,
                )),
            })
        })
    }

    /// The database file (`":memory:"` in memory).
    #[napi(getter)]
    pub fn path(&self) -> Result<String> {
        guard(|| Ok(self.store()?.path().display().to_string()))
    }

    /// The embedding dimension, fixed by the first pattern (`null` before).
    #[napi(getter)]
    pub fn dimension(&self) -> Result<Option<u32>> {
        guard(|| Ok(self.store()?.dimension().map(usize_out)))
    }

    /// How many patterns it holds.
    #[napi(getter)]
    pub fn size(&self) -> Result<u32> {
        guard(|| Ok(usize_out(self.store()?.len().map_err(core_err)?)))
    }

    /// Learns from a signed output: verifies `envelope` (`options` as `Envelope.verify`'s; a
    /// refusal throws with its reject code), takes its content and stores it with `embedding`
    /// and `tags`. A wrong dimension, a NaN or a zero vector throws `INVALID_INPUT` saying which.
    #[napi(
        ts_args_type = "envelope: Envelope, embedding: Float32Array | number[], tags?: string[], options?: VerifyOptions"
    )]
    pub fn learn(
        &self,
        env: Env,
        envelope: &Envelope,
        embedding: Unknown,
        tags: Option<Vec<String>>,
        options: Option<Unknown>,
    ) -> Result<Learning> {
        guard(|| {
            let args = VerifyArgs::read(&env, options)?;
            let v = floats_in(&env, embedding, "embedding")?;
            let tags = tags.unwrap_or_default();
            let tags: Vec<&str> = tags.iter().map(String::as_str).collect();
            let l = self
                .store()?
                .learn(&envelope.inner, &v, &tags, &args.options())
                .map_err(core_err)?;
            Ok(learning(l))
        })
    }

    /// `learn` with `model`'s embedding of the content, off the main thread (the envelope is
    /// verified first: nothing is embedded for one refused).
    #[napi(
        ts_args_type = "model: Model, envelope: Envelope, tags?: string[], options?: VerifyOptions",
        ts_return_type = "Promise<Learning>"
    )]
    pub fn learn_with(
        &self,
        env: Env,
        model: &Model,
        envelope: &Envelope,
        tags: Option<Vec<String>>,
        options: Option<Unknown>,
    ) -> Result<JsObject> {
        guard(|| {
            let args = VerifyArgs::read(&env, options)?;
            let store = Arc::clone(self.store()?);
            let engine = model.engine()?.clone();
            let env_inner = Arc::clone(&envelope.inner);
            let tags = tags.unwrap_or_default();
            let (d, promise) = deferred::<Learning>(&env)?;
            off_thread(
                &env,
                d,
                move || {
                    let tags: Vec<&str> = tags.iter().map(String::as_str).collect();
                    store.learn_embedded(&env_inner, &engine, &tags, &args.options())
                },
                |env, done| match done.and_then(|r| r.map_err(core_err)) {
                    Ok(l) => Ok(learning(l)),
                    Err(e) => Err(js_error(env, e)),
                },
            );
            Ok(promise)
        })
    }

    /// The patterns nearest the vector `query`: at most `k` (10), each at or above `threshold`
    /// (0.5, cosine similarity), highest first.
    #[napi(
        ts_args_type = "query: Float32Array | number[], options?: { k?: number; threshold?: number }"
    )]
    pub fn recall(
        &self,
        env: Env,
        query: Unknown,
        options: Option<Unknown>,
    ) -> Result<Vec<Recalled>> {
        guard(|| {
            let o = recall_options(&env, options)?;
            let q = floats_in(&env, query, "query")?;
            Ok(recalled(self.store()?.recall(&q, o).map_err(core_err)?))
        })
    }

    /// `recall` of `text`, embedded by `model` off the main thread.
    #[napi(
        ts_args_type = "model: Model, text: string, options?: { k?: number; threshold?: number }",
        ts_return_type = "Promise<Recalled[]>"
    )]
    pub fn recall_text(
        &self,
        env: Env,
        model: &Model,
        text: String,
        options: Option<Unknown>,
    ) -> Result<JsObject> {
        guard(|| {
            let o = recall_options(&env, options)?;
            let store = Arc::clone(self.store()?);
            let engine = model.engine()?.clone();
            let (d, promise) = deferred::<Vec<Recalled>>(&env)?;
            off_thread(
                &env,
                d,
                move || store.recall_text(&engine, &text, o),
                |env, done| match done.and_then(|r| r.map_err(core_err)) {
                    Ok(hits) => Ok(recalled(hits)),
                    Err(e) => Err(js_error(env, e)),
                },
            );
            Ok(promise)
        })
    }

    /// Feedback on pattern `id`: +0.05 to its confidence if `positive`, −0.03 if not, clamped
    /// to [0, 1]; the pattern as it is now. An unknown id throws `INVALID_INPUT`.
    #[napi]
    pub fn feedback(&self, id: i64, positive: bool) -> Result<Pattern> {
        guard(|| {
            let p = self.store()?.feedback(id, positive).map_err(core_err)?;
            Ok(p.into())
        })
    }

    /// Pattern `id`, or `null`.
    #[napi]
    pub fn get(&self, id: i64) -> Result<Option<Pattern>> {
        guard(|| {
            let p = self.store()?.get(id).map_err(core_err)?;
            Ok(p.map(Pattern::from))
        })
    }

    /// Every pattern, by id.
    #[napi]
    pub fn patterns(&self) -> Result<Vec<Pattern>> {
        guard(|| Ok(patterns(self.store()?.list().map_err(core_err)?)))
    }

    /// Removes pattern `id`; whether it was there.
    #[napi]
    pub fn remove(&self, id: i64) -> Result<bool> {
        guard(|| self.store()?.remove(id).map_err(core_err))
    }

    /// Every elevated pattern (locally, or certified by a federation), by id.
    #[napi]
    pub fn elevated(&self) -> Result<Vec<Pattern>> {
        guard(|| Ok(patterns(self.store()?.elevated().map_err(core_err)?)))
    }

    /// Elevates, locally (no federation to certify them), the patterns with at least
    /// `threshold` confidence (0.95) and `minObservations` observations (3); their ids.
    #[napi(ts_args_type = "policy?: { threshold?: number; minObservations?: number }")]
    pub fn elevate_local(&self, env: Env, policy: Option<Unknown>) -> Result<Vec<i64>> {
        guard(|| {
            let mut p = ElevationPolicy::default();
            if let Some(o) = Options::read(&env, policy, ELEVATION_POLICY)? {
                if let Some(t) = o.number("threshold")? {
                    p.threshold = t;
                }
                if let Some(n) = o.u32("minObservations")? {
                    p.min_observations = u64::from(n);
                }
            }
            self.store()?.elevate_local(&p).map_err(core_err)
        })
    }

    /// Checks again, offline, that pattern `id` was certified by the federation of `document`
    /// (its certificate, and the decided batch that carried it); throws the refusal otherwise.
    #[napi(ts_args_type = "id: number, document: FederationDocument")]
    pub fn verify_elevation(&self, env: Env, id: i64, document: Unknown) -> Result<()> {
        guard(|| {
            let doc = document_of(&env, document.raw(), "document")?;
            self.store()?.verify_elevation(id, &doc).map_err(core_err)
        })
    }

    /// Observes that the user prefers `value` for (`kind`, `key`); that value's preference
    /// (confidence 0.5 at first, reinforced by each repeat, active from 0.7).
    #[napi]
    pub fn observe_preference(
        &self,
        kind: String,
        key: String,
        value: String,
    ) -> Result<Preference> {
        guard(|| {
            let p = self
                .store()?
                .preferences()
                .observe(&kind, &key, &value)
                .map_err(core_err)?;
            Ok(p.into())
        })
    }

    /// The active value of (`kind`, `key`) (the most confident at or above 0.7), or `null` when
    /// no value is active yet.
    #[napi]
    pub fn preference(&self, kind: String, key: String) -> Result<Option<Preference>> {
        guard(|| {
            let p = self
                .store()?
                .preferences()
                .get(&kind, &key)
                .map_err(core_err)?;
            Ok(p.map(Preference::from))
        })
    }

    /// Every observed value of every preference, active or not, by kind and key, the most
    /// confident first.
    #[napi]
    pub fn preferences(&self) -> Result<Vec<Preference>> {
        guard(|| {
            let all = self.store()?.preferences().all().map_err(core_err)?;
            Ok(all.into_iter().map(Preference::from).collect())
        })
    }

    /// The active preferences, one per (kind, key).
    #[napi]
    pub fn active_preferences(&self) -> Result<Vec<Preference>> {
        guard(|| {
            let active = self.store()?.preferences().active().map_err(core_err)?;
            Ok(active.into_iter().map(Preference::from).collect())
        })
    }

    /// `systemPrompt` followed by the active preferences, as a gateway shaped by this store
    /// sends it.
    #[napi]
    pub fn apply_preferences(&self, system_prompt: Option<String>) -> Result<String> {
        guard(|| {
            self.store()?
                .preferences()
                .apply(system_prompt.as_deref())
                .map_err(core_err)
        })
    }

    /// Every pattern as JSON Lines of `bizra.pattern` envelopes signed by `identity`, off the
    /// main thread (one signature per pattern).
    #[napi(
        ts_args_type = "identity: Identity",
        ts_return_type = "Promise<string>"
    )]
    pub fn export_jsonl(&self, env: Env, identity: Unknown) -> Result<JsObject> {
        guard(|| {
            let id = Arc::clone(&identity_of(&env, identity)?.inner);
            let store = Arc::clone(self.store()?);
            let (d, promise) = deferred::<String>(&env)?;
            off_thread(
                &env,
                d,
                move || {
                    let mut out = Vec::new();
                    store.export_jsonl(&mut out, &id).map(|_| out)
                },
                |env, done| {
                    let out = done.and_then(|r| r.map_err(core_err)).and_then(|out| {
                        String::from_utf8(out).map_err(|e| {
                            kind_err(
                                bizra::ErrorKind::Internal,
                                format!("export is not UTF-8: {e}"),
                            )
                        })
                    });
                    out.map_err(|e| js_error(env, e))
                },
            );
            Ok(promise)
        })
    }

    /// Imports JSON Lines (as `exportJsonl` writes them) off the main thread, verifying every
    /// line: all or none. A line that does not verify rejects with its error (a refusal keeps
    /// its reject code), naming the line.
    #[napi(
        ts_args_type = "text: string, options?: VerifyOptions",
        ts_return_type = "Promise<ImportReport>"
    )]
    pub fn import_jsonl(
        &self,
        env: Env,
        text: String,
        options: Option<Unknown>,
    ) -> Result<JsObject> {
        guard(|| {
            let args = VerifyArgs::read(&env, options)?;
            let store = Arc::clone(self.store()?);
            let (d, promise) = deferred::<ImportReport>(&env)?;
            off_thread(
                &env,
                d,
                move || store.import_jsonl(text.as_bytes(), &args.options()),
                |env, done| match done.and_then(|r| r.map_err(core_err)) {
                    Ok(r) => Ok(ImportReport {
                        lines: usize_out(r.lines),
                        new: usize_out(r.new),
                        observed: usize_out(r.observed),
                        already_known: usize_out(r.already_known),
                    }),
                    Err(e) => Err(js_error(env, e)),
                },
            );
            Ok(promise)
        })
    }

    /// Closes the store (a file store saves its vector index). Later calls throw
    /// `INVALID_INPUT`; closing twice is harmless. `using store = ...` calls it.
    #[napi]
    pub fn close(&mut self) -> Result<()> {
        guard(|| {
            self.inner = None;
            Ok(())
        })
    }
}
