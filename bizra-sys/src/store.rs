//! The autopoiesis store (`bizra_store`): a node's memory of patterns and preferences in one
//! SQLite file, recalled by meaning. Patterns, recall hits and preferences come back as JSON
//! (the core's `to_json` shapes, the same in every binding), since they are records with many
//! members that C callers mostly pass on.

use std::ffi::c_char;
use std::io::BufReader;

use bizra_core::autopoiesis::{ElevationPolicy, Learned, RecallOptions, Store};

use crate::*;

/// A node's memory: patterns learned from verified envelopes, recalled by meaning, moved by
/// feedback, elevated; preferences. Thread-safe, so safe to share between threads (calls take
/// turns); another process may use the same file at the same time. Freed with `bizra_store_free`
/// (a file store saves its vector index beside the database then).
pub struct bizra_store {
    _opaque: [u8; 0],
}
handle_type!(bizra_store => Store, Shared);

/// What `bizra_store_learn` did (its `uint32_t` out-param).
#[repr(u32)]
#[derive(Clone, Copy, Debug)]
pub enum bizra_learned {
    /// A new pattern.
    New = 0,
    /// The content was already held: one more observation of that pattern.
    Observed = 1,
    /// This very envelope had already been learned: nothing changed.
    AlreadyKnown = 2,
}

/// Options for `bizra_store_recall` and `bizra_store_recall_text`. Zero-initialise, set
/// `struct_size = sizeof(...)`, then set what you need.
#[repr(C)]
#[derive(Debug)]
pub struct bizra_recall_options {
    /// `sizeof(bizra_recall_options)`.
    pub struct_size: u32,
    /// At most this many patterns; 0: 10.
    pub k: u32,
    /// Whether `threshold` is set (default 0.5).
    pub has_threshold: bool,
    /// The least cosine similarity recalled, in [-1, 1].
    pub threshold: f32,
}

/// When a pattern is elevated (`bizra_store_elevate_local`). Zero-initialise, set `struct_size =
/// sizeof(...)`, then set what you need.
#[repr(C)]
#[derive(Debug)]
pub struct bizra_elevation_policy {
    /// `sizeof(bizra_elevation_policy)`.
    pub struct_size: u32,
    /// Whether `threshold` is set (default 0.95, the constitution's Ihsan minimum).
    pub has_threshold: bool,
    /// The least confidence, in [0, 1].
    pub threshold: f64,
    /// The least number of distinct envelopes that carried the content; 0: 3.
    pub min_observations: u64,
}

/// What an import did (`bizra_store_import`'s out-param).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct bizra_import_report {
    /// Lines read (blank lines not counted).
    pub lines: usize,
    /// Patterns added.
    pub added: usize,
    /// Lines whose content the store already held (one more observation each).
    pub observed: usize,
    /// Lines whose envelope had already been learned or imported (nothing changed).
    pub already_known: usize,
}

fn recall_options(p: *const bizra_recall_options) -> FfiResult<RecallOptions> {
    let mut o = RecallOptions::default();
    if let Some(c) = options(p, "opts")? {
        if c.k != 0 {
            o.k = c.k as usize;
        }
        if c.has_threshold {
            o.threshold = c.threshold;
        }
    }
    Ok(o)
}

fn learned(out_id: *mut i64, out_what: *mut u32, l: Learned) -> FfiResult {
    put_opt(out_id, l.id());
    put_opt(
        out_what,
        match l {
            Learned::New(_) => bizra_learned::New,
            Learned::Observed(_) => bizra_learned::Observed,
            Learned::AlreadyKnown(_) => bizra_learned::AlreadyKnown,
        } as u32,
    );
    Ok(BIZRA_STATUS_OK)
}

fn put_json(out: *mut *mut c_char, v: serde_json::Value) -> FfiResult {
    put_string(out, v.to_string())
}

/// A record, or NULL for none.
fn put_json_opt(out: *mut *mut c_char, v: Option<serde_json::Value>) -> FfiResult {
    match v {
        Some(v) => put_json(out, v),
        None => {
            put(out, std::ptr::null_mut());
            Ok(BIZRA_STATUS_OK)
        }
    }
}

/// Opens (creating it if absent) the store in the SQLite file at `path` (a node keeps it at
/// `<data dir>/autopoiesis.sqlite`). A file that is not a store, is damaged, or was written by a
/// newer bizra is `BIZRA_STATUS_IO` naming it, and is left untouched. `*out`: a new store, the
/// caller's; free it with `bizra_store_free`.
#[no_mangle]
pub unsafe extern "C" fn bizra_store_open(
    path: *const c_char,
    out: *mut *mut bizra_store,
) -> bizra_status {
    boundary("bizra_store_open", || {
        let out = out_checked(out)?;
        bizra_store::put(out, Store::open(text(path, "path")?)?)
    })
}

/// A store in memory, gone when freed: for tests and short-lived callers. `*out`: a new store,
/// the caller's; free it with `bizra_store_free`.
#[no_mangle]
pub unsafe extern "C" fn bizra_store_open_memory(out: *mut *mut bizra_store) -> bizra_status {
    boundary("bizra_store_open_memory", || {
        let out = out_checked(out)?;
        bizra_store::put(out, Store::in_memory()?)
    })
}

/// Frees a store (a file store saves its vector index first). Free it after every call using it
/// has returned. NULL is a no-op.
#[no_mangle]
pub unsafe extern "C" fn bizra_store_free(store: *mut bizra_store) {
    boundary("bizra_store_free", || bizra_store::free(store))
}

/// Learns from a signed output: verifies `envelope` with `opts` (NULL: the defaults), takes its
/// content (a `bizra.inference` payload's `output`, a `bizra.pattern` payload's `content`) and
/// stores it with `embedding` (`embedding_len` floats: the first pattern fixes the store's
/// dimension) and `tags` (`tags_len` strings; NULL when 0). A refused envelope is
/// `BIZRA_STATUS_REJECTED` with its reject code; a bad embedding (wrong dimension, NaN, zero) or
/// payload is `BIZRA_STATUS_INVALID_ARGUMENT`; nothing is written then. `*out_id` (may be NULL):
/// the pattern's id; `*out_what` (may be NULL): a `bizra_learned`; values, nothing to free.
#[no_mangle]
pub unsafe extern "C" fn bizra_store_learn(
    store: *const bizra_store,
    envelope: *const bizra_envelope,
    embedding: *const f32,
    embedding_len: usize,
    tags: *const *const c_char,
    tags_len: usize,
    opts: *const bizra_verify_options,
    out_id: *mut i64,
    out_what: *mut u32,
) -> bizra_status {
    boundary("bizra_store_learn", || {
        let s = bizra_store::arg(store, "store")?;
        let e = bizra_envelope::arg(envelope, "envelope")?;
        let v = slice(embedding, embedding_len, "embedding")?;
        let tags = text_list(tags, tags_len, "tags")?;
        let l = s.learn(e, v, &tags, &verify_options(opts)?)?;
        learned(out_id, out_what, l)
    })
}

/// `bizra_store_learn` with the content's embedding from `engine` (the model that must also
/// embed the queries): the envelope is verified first, nothing is embedded for one refused.
/// `*out_id` and `*out_what` as there: values, nothing to free.
#[no_mangle]
pub unsafe extern "C" fn bizra_store_learn_embedded(
    store: *const bizra_store,
    envelope: *const bizra_envelope,
    engine: *const bizra_engine,
    tags: *const *const c_char,
    tags_len: usize,
    opts: *const bizra_verify_options,
    out_id: *mut i64,
    out_what: *mut u32,
) -> bizra_status {
    boundary("bizra_store_learn_embedded", || {
        let s = bizra_store::arg(store, "store")?;
        let e = bizra_envelope::arg(envelope, "envelope")?;
        let m = bizra_engine::arg(engine, "engine")?;
        let tags = text_list(tags, tags_len, "tags")?;
        let l = s.learn_embedded(e, &m.engine, &tags, &verify_options(opts)?)?;
        learned(out_id, out_what, l)
    })
}

/// The patterns nearest `query` (`query_len` floats, the store's dimension; normalised here):
/// at most `opts.k`, each at or above `opts.threshold`, highest similarity first. `*out`: a JSON
/// array of patterns (`{"id", "content", "content_blake3", "tags", "source_node",
/// "envelope_id", "confidence", "observations", "positive", "negative", "created_ms",
/// "updated_ms", "elevation": {"kind", ...}, "similarity"}`), the caller's; free it with
/// `bizra_string_free`.
#[no_mangle]
pub unsafe extern "C" fn bizra_store_recall(
    store: *const bizra_store,
    query: *const f32,
    query_len: usize,
    opts: *const bizra_recall_options,
    out: *mut *mut c_char,
) -> bizra_status {
    boundary("bizra_store_recall", || {
        let out = out_checked(out)?;
        let s = bizra_store::arg(store, "store")?;
        let q = slice(query, query_len, "query")?;
        let hits = s.recall(q, recall_options(opts)?)?;
        put_json(out, hits.iter().map(|h| h.to_json()).collect())
    })
}

/// `bizra_store_recall` of `text`, embedded by `engine`. `*out`: the caller's JSON array; free
/// it with `bizra_string_free`.
#[no_mangle]
pub unsafe extern "C" fn bizra_store_recall_text(
    store: *const bizra_store,
    engine: *const bizra_engine,
    text: *const c_char,
    opts: *const bizra_recall_options,
    out: *mut *mut c_char,
) -> bizra_status {
    boundary("bizra_store_recall_text", || {
        let out = out_checked(out)?;
        let s = bizra_store::arg(store, "store")?;
        let m = bizra_engine::arg(engine, "engine")?;
        let hits = s.recall_text(&m.engine, self::text(text, "text")?, recall_options(opts)?)?;
        put_json(out, hits.iter().map(|h| h.to_json()).collect())
    })
}

/// Records feedback on pattern `id`: positive adds 0.05 to its confidence, negative takes 0.03
/// away (clamped to [0, 1]). An unknown id is `BIZRA_STATUS_INVALID_ARGUMENT`. `*out_confidence`
/// (may be NULL): the confidence now, a value (nothing to free).
#[no_mangle]
pub unsafe extern "C" fn bizra_store_feedback(
    store: *const bizra_store,
    id: i64,
    positive: bool,
    out_confidence: *mut f64,
) -> bizra_status {
    boundary("bizra_store_feedback", || {
        let p = bizra_store::arg(store, "store")?.feedback(id, positive)?;
        put_opt(out_confidence, p.confidence);
        Ok(BIZRA_STATUS_OK)
    })
}

/// Pattern `id` as JSON (the shape `bizra_store_recall` gives, without `similarity`); `*out` is
/// NULL when the store holds no such pattern. Free it with `bizra_string_free`.
#[no_mangle]
pub unsafe extern "C" fn bizra_store_get(
    store: *const bizra_store,
    id: i64,
    out: *mut *mut c_char,
) -> bizra_status {
    boundary("bizra_store_get", || {
        let out = out_checked(out)?;
        let p = bizra_store::arg(store, "store")?.get(id)?;
        put_json_opt(out, p.map(|p| p.to_json()))
    })
}

/// How many patterns the store holds (`*out`: a value, nothing to free).
#[no_mangle]
pub unsafe extern "C" fn bizra_store_len(
    store: *const bizra_store,
    out: *mut usize,
) -> bizra_status {
    boundary("bizra_store_len", || {
        let out = out_checked(out)?;
        put(out, bizra_store::arg(store, "store")?.len()?);
        Ok(BIZRA_STATUS_OK)
    })
}

/// Every elevated pattern (locally, or certified by a federation), by id, as a JSON array (the
/// `bizra_store_get` shape). Free it with `bizra_string_free`.
#[no_mangle]
pub unsafe extern "C" fn bizra_store_elevated(
    store: *const bizra_store,
    out: *mut *mut c_char,
) -> bizra_status {
    boundary("bizra_store_elevated", || {
        let out = out_checked(out)?;
        let elevated = bizra_store::arg(store, "store")?.elevated()?;
        put_json(out, elevated.iter().map(|p| p.to_json()).collect())
    })
}

/// Elevates, locally (no federation to certify them), every pattern eligible under `policy`
/// (NULL: confidence ≥ 0.95 and at least 3 observations) that is not elevated yet.
/// `*out_count` (may be NULL): how many were, a value (nothing to free).
#[no_mangle]
pub unsafe extern "C" fn bizra_store_elevate_local(
    store: *const bizra_store,
    policy: *const bizra_elevation_policy,
    out_count: *mut usize,
) -> bizra_status {
    boundary("bizra_store_elevate_local", || {
        let s = bizra_store::arg(store, "store")?;
        let mut p = ElevationPolicy::default();
        if let Some(c) = options(policy, "policy")? {
            if c.has_threshold {
                p.threshold = c.threshold;
            }
            if c.min_observations != 0 {
                p.min_observations = c.min_observations;
            }
        }
        put_opt(out_count, s.elevate_local(&p)?.len());
        Ok(BIZRA_STATUS_OK)
    })
}

/// Observes that the user prefers `value` for (`kind`, `key`): the same value reinforces its
/// confidence (c + (1 − c)·0.1), a new value starts its own at 0.5; a value is active from 0.7.
/// `*out_confidence` (may be NULL): this value's confidence now, a value (nothing to free).
#[no_mangle]
pub unsafe extern "C" fn bizra_store_preference_observe(
    store: *const bizra_store,
    kind: *const c_char,
    key: *const c_char,
    value: *const c_char,
    out_confidence: *mut f64,
) -> bizra_status {
    boundary("bizra_store_preference_observe", || {
        let s = bizra_store::arg(store, "store")?;
        let p = s.preferences().observe(
            text(kind, "kind")?,
            text(key, "key")?,
            text(value, "value")?,
        )?;
        put_opt(out_confidence, p.confidence);
        Ok(BIZRA_STATUS_OK)
    })
}

/// The preferred value of (`kind`, `key`) as JSON (`{"type", "key", "value", "confidence",
/// "observations", "active", "created_ms", "updated_ms"}`): the active one, else the most
/// confident; `*out` is NULL when nothing was observed. Free it with `bizra_string_free`.
#[no_mangle]
pub unsafe extern "C" fn bizra_store_preference_get(
    store: *const bizra_store,
    kind: *const c_char,
    key: *const c_char,
    out: *mut *mut c_char,
) -> bizra_status {
    boundary("bizra_store_preference_get", || {
        let out = out_checked(out)?;
        let s = bizra_store::arg(store, "store")?;
        let p = s
            .preferences()
            .get(text(kind, "kind")?, text(key, "key")?)?;
        put_json_opt(out, p.map(|p| p.to_json()))
    })
}

/// The active preferences, one per (kind, key), as a JSON array (the `bizra_store_preference_get`
/// shape). Free it with `bizra_string_free`.
#[no_mangle]
pub unsafe extern "C" fn bizra_store_preferences_active(
    store: *const bizra_store,
    out: *mut *mut c_char,
) -> bizra_status {
    boundary("bizra_store_preferences_active", || {
        let out = out_checked(out)?;
        let active = bizra_store::arg(store, "store")?.preferences().active()?;
        put_json(out, active.iter().map(|p| p.to_json()).collect())
    })
}

/// `system_prompt` (NULL: none) followed by the active preferences ("User preferences:" then one
/// "- kind.key: value" line each); the prompt as given when none is active. `*out`: the caller's
/// string; free it with `bizra_string_free`.
#[no_mangle]
pub unsafe extern "C" fn bizra_store_preferences_apply(
    store: *const bizra_store,
    system_prompt: *const c_char,
    out: *mut *mut c_char,
) -> bizra_status {
    boundary("bizra_store_preferences_apply", || {
        let out = out_checked(out)?;
        let s = bizra_store::arg(store, "store")?;
        let text = s
            .preferences()
            .apply(opt_text(system_prompt, "system_prompt")?)?;
        put_string(out, text)
    })
}

/// Writes every pattern as JSON Lines of `bizra.pattern` envelopes signed by `identity` to the
/// file at `path` (replaced). `*out_count` (may be NULL): the lines written, a value (nothing
/// to free).
#[no_mangle]
pub unsafe extern "C" fn bizra_store_export(
    store: *const bizra_store,
    identity: *const bizra_identity,
    path: *const c_char,
    out_count: *mut usize,
) -> bizra_status {
    boundary("bizra_store_export", || {
        let s = bizra_store::arg(store, "store")?;
        let id = bizra_identity::arg(identity, "identity")?;
        let path = text(path, "path")?;
        let file = std::fs::File::create(path).map_err(|e| bizra_core::Error::io(path, e))?;
        let n = s.export_jsonl(std::io::BufWriter::new(file), id)?;
        put_opt(out_count, n);
        Ok(BIZRA_STATUS_OK)
    })
}

/// Imports JSON Lines of pattern envelopes (`data_len` bytes of UTF-8, as `bizra_store_export`
/// writes them), verifying every line with `opts` (NULL: the defaults), in one transaction: all
/// lines or none. A line that does not verify is `BIZRA_STATUS_REJECTED` (or `_INVALID_ARGUMENT`)
/// and the message names it ("import line N: ..."). `*out` (may be NULL): what was done, counts
/// only (nothing to free).
#[no_mangle]
pub unsafe extern "C" fn bizra_store_import(
    store: *const bizra_store,
    data: *const u8,
    data_len: usize,
    opts: *const bizra_verify_options,
    out: *mut bizra_import_report,
) -> bizra_status {
    boundary("bizra_store_import", || {
        let s = bizra_store::arg(store, "store")?;
        let data = bytes(data, data_len, "data")?;
        let r = s.import_jsonl(data, &verify_options(opts)?)?;
        put_opt(out, report(r));
        Ok(BIZRA_STATUS_OK)
    })
}

/// `bizra_store_import` of the file at `path`; `*out` as there (counts only, nothing to free).
#[no_mangle]
pub unsafe extern "C" fn bizra_store_import_file(
    store: *const bizra_store,
    path: *const c_char,
    opts: *const bizra_verify_options,
    out: *mut bizra_import_report,
) -> bizra_status {
    boundary("bizra_store_import_file", || {
        let s = bizra_store::arg(store, "store")?;
        let path = text(path, "path")?;
        let file = std::fs::File::open(path).map_err(|e| bizra_core::Error::io(path, e))?;
        let r = s.import_jsonl(BufReader::new(file), &verify_options(opts)?)?;
        put_opt(out, report(r));
        Ok(BIZRA_STATUS_OK)
    })
}

fn report(r: bizra_core::autopoiesis::ImportReport) -> bizra_import_report {
    bizra_import_report {
        lines: r.lines,
        added: r.new,
        observed: r.observed,
        already_known: r.already_known,
    }
}
