//! `Store`: the core's autopoiesis store (a node's memory of patterns and preferences in one
//! SQLite file), for Node. Learning, recall, feedback, elevation, preferences and exchange are the
//! core's; records come back as the core's JSON shapes (`Pattern::to_json`, ...), the same as
//! every binding's. Work that embeds with a model, or opens a file (which may rebuild the index),
//! runs off the main thread and returns a Promise; the rest is quick and synchronous.

use std::sync::Arc;

use bizra::autopoiesis::{ElevationPolicy, Learned, RecallOptions};
use napi::bindgen_prelude::*;
use napi::Env;
use napi_derive::napi;
use serde_json::Value;

use crate::convert::{floats_in, JsObject};
use crate::envelope::{Envelope, VerifyArgs};
use crate::errors::{core_err, guard, js_error, kind_err, Result};
use crate::identity::identity_of;
use crate::inference::model::Model;
use crate::options::Options;
use crate::tasks::{deferred, off_thread};

/// A node's memory: patterns learned from verified envelopes, recalled by meaning, moved by
/// feedback and elevated; and preferences. `Store.open(path)` opens a SQLite file (created if
/// absent), `Store.memory()` keeps everything in memory. `close()` (or `using`) saves a file
/// store's vector index.
#[napi]
pub struct Store {
    /// `None` once closed.
    inner: Option<Arc<bizra::autopoiesis::Store>>,
}

/// What `learn` did.
#[napi(object)]
pub struct Learning {
    /// The pattern's id.
    pub id: i64,
    /// `"new"`, `"observed"` (the content was held: one more observation) or `"alreadyKnown"`
    /// (this very envelope was learned before: nothing changed).
    #[napi(ts_type = "'new' | 'observed' | 'alreadyKnown'")]
    pub learned: String,
}

/// What `importJsonl` did.
#[napi(object)]
pub struct ImportReport {
    /// Lines read (blank lines not counted).
    pub lines: u32,
    /// Patterns added.
    pub added: u32,
    /// Lines whose content was held (one more observation each).
    pub observed: u32,
    /// Lines whose envelope had been learned before.
    pub already_known: u32,
}

fn learning(l: Learned) -> Learning {
    let learned = match l {
        Learned::New(_) => "new",
        Learned::Observed(_) => "observed",
        Learned::AlreadyKnown(_) => "alreadyKnown",
    };
    Learning {
        id: l.id(),
        learned: learned.to_owned(),
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
    pub fn memory() -> Result<Store> {
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

    /// Learns from a signed output: verifies `envelope` (`options` as `Envelope.verify`'s), takes
    /// its content and stores it with `embedding` and `tags`.
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

    /// The patterns nearest `query`: at most `k` (10), each at or above `threshold` (0.5,
    /// cosine similarity), highest first, with `similarity`.
    #[napi(
        ts_args_type = "query: Float32Array | number[], options?: { k?: number; threshold?: number }",
        ts_return_type = "Record<string, unknown>[]"
    )]
    pub fn recall(&self, env: Env, query: Unknown, options: Option<Unknown>) -> Result<Value> {
        guard(|| {
            let o = recall_options(&env, options)?;
            let q = floats_in(&env, query, "query")?;
            let hits = self.store()?.recall(&q, o).map_err(core_err)?;
            Ok(Value::Array(hits.iter().map(|h| h.to_json()).collect()))
        })
    }

    /// `recall` of `text`, embedded by `model` off the main thread.
    #[napi(
        ts_args_type = "model: Model, text: string, options?: { k?: number; threshold?: number }",
        ts_return_type = "Promise<Record<string, unknown>[]>"
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
            let (d, promise) = deferred::<Value>(&env)?;
            off_thread(
                &env,
                d,
                move || store.recall_text(&engine, &text, o),
                |env, done| match done.and_then(|r| r.map_err(core_err)) {
                    Ok(hits) => Ok(Value::Array(hits.iter().map(|h| h.to_json()).collect())),
                    Err(e) => Err(js_error(env, e)),
                },
            );
            Ok(promise)
        })
    }

    /// Feedback on pattern `id` (+0.05 positive, −0.03 negative, clamped); the confidence now.
    #[napi]
    pub fn feedback(&self, id: i64, positive: bool) -> Result<f64> {
        guard(|| {
            let p = self.store()?.feedback(id, positive).map_err(core_err)?;
            Ok(p.confidence)
        })
    }

    /// Pattern `id`, or `null`.
    #[napi(ts_return_type = "Record<string, unknown> | null")]
    pub fn get(&self, id: i64) -> Result<Option<Value>> {
        guard(|| {
            let p = self.store()?.get(id).map_err(core_err)?;
            Ok(p.map(|p| p.to_json()))
        })
    }

    /// Every pattern, by id.
    #[napi(ts_return_type = "Record<string, unknown>[]")]
    pub fn patterns(&self) -> Result<Value> {
        guard(|| {
            let all = self.store()?.list().map_err(core_err)?;
            Ok(Value::Array(all.iter().map(|p| p.to_json()).collect()))
        })
    }

    /// Every elevated pattern (locally, or certified by a federation), by id.
    #[napi(ts_return_type = "Record<string, unknown>[]")]
    pub fn elevated(&self) -> Result<Value> {
        guard(|| {
            let all = self.store()?.elevated().map_err(core_err)?;
            Ok(Value::Array(all.iter().map(|p| p.to_json()).collect()))
        })
    }

    /// Elevates, locally, the patterns with at least `threshold` confidence (0.95) and
    /// `minObservations` observations (3); their ids.
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

    /// Observes that the user prefers `value` for (`kind`, `key`); this value's confidence
    /// (0.5 at first, reinforced by each repeat; active from 0.7).
    #[napi]
    pub fn observe_preference(&self, kind: String, key: String, value: String) -> Result<f64> {
        guard(|| {
            let p = self
                .store()?
                .preferences()
                .observe(&kind, &key, &value)
                .map_err(core_err)?;
            Ok(p.confidence)
        })
    }

    /// The preferred value of (`kind`, `key`), or `null`.
    #[napi(ts_return_type = "Record<string, unknown> | null")]
    pub fn preference(&self, kind: String, key: String) -> Result<Option<Value>> {
        guard(|| {
            let p = self
                .store()?
                .preferences()
                .get(&kind, &key)
                .map_err(core_err)?;
            Ok(p.map(|p| p.to_json()))
        })
    }

    /// The active preferences, one per (kind, key).
    #[napi(ts_return_type = "Record<string, unknown>[]")]
    pub fn active_preferences(&self) -> Result<Value> {
        guard(|| {
            let active = self.store()?.preferences().active().map_err(core_err)?;
            Ok(Value::Array(active.iter().map(|p| p.to_json()).collect()))
        })
    }

    /// `systemPrompt` followed by the active preferences, as a gateway would send it.
    #[napi]
    pub fn apply_preferences(&self, system_prompt: Option<String>) -> Result<String> {
        guard(|| {
            self.store()?
                .preferences()
                .apply(system_prompt.as_deref())
                .map_err(core_err)
        })
    }

    /// Every pattern as JSON Lines of `bizra.pattern` envelopes signed by `identity`.
    #[napi(ts_args_type = "identity: Identity")]
    pub fn export_jsonl(&self, env: Env, identity: Unknown) -> Result<String> {
        guard(|| {
            let id = identity_of(&env, identity)?;
            let mut out = Vec::new();
            self.store()?
                .export_jsonl(&mut out, &id.inner)
                .map_err(core_err)?;
            String::from_utf8(out).map_err(|e| {
                kind_err(
                    bizra::ErrorKind::Internal,
                    format!("export is not UTF-8: {e}"),
                )
            })
        })
    }

    /// Imports JSON Lines (as `exportJsonl` writes them), verifying every line: all or none. A
    /// line that does not verify throws its error, naming the line.
    #[napi(ts_args_type = "text: string, options?: VerifyOptions")]
    pub fn import_jsonl(
        &self,
        env: Env,
        text: String,
        options: Option<Unknown>,
    ) -> Result<ImportReport> {
        guard(|| {
            let args = VerifyArgs::read(&env, options)?;
            let r = self
                .store()?
                .import_jsonl(text.as_bytes(), &args.options())
                .map_err(core_err)?;
            Ok(ImportReport {
                lines: usize_out(r.lines),
                added: usize_out(r.new),
                observed: usize_out(r.observed),
                already_known: usize_out(r.already_known),
            })
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
