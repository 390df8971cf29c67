//! PCI envelopes: create, parse, verify (single and batch), serialize, accessors; the replay
//! cache; timestamps.

use std::ffi::c_char;

use bizra_core::pci::MAX_PROVENANCE;
use bizra_core::{canonical, Envelope, EnvelopeOptions, ReplayCache, Timestamp, VerifyOptions};

use crate::*;

/// A PCI envelope (`tests/vectors/PCI-v1.md`). Immutable, so safe to share between threads: one
/// handle may be read and verified from many threads at once. Freed with `bizra_envelope_free`.
pub struct bizra_envelope {
    _opaque: [u8; 0],
}
handle_type!(bizra_envelope => Envelope, Boxed);

/// A replay cache: the ids admitted while still valid. Thread-safe, so safe to share between
/// threads: one cache may serve many threads and gate chains at once (admission is atomic).
/// Reference-counted: a gate chain given it keeps its own reference, so
/// `bizra_replay_cache_free` may come before the chain's free.
pub struct bizra_replay_cache {
    _opaque: [u8; 0],
}
handle_type!(bizra_replay_cache => ReplayCache, Shared);

/// Options for `bizra_envelope_create`. Zero-initialise, set `struct_size = sizeof(...)`, then
/// set what you need: every zero/NULL/false member means "the default".
#[repr(C)]
#[derive(Debug)]
pub struct bizra_envelope_options {
    /// `sizeof(bizra_envelope_options)`.
    pub struct_size: u32,
    /// Time to live in seconds, at least 1 and at most the spec's maximum (one hour); 0: the
    /// core's default (`DEFAULT_TTL_SECONDS`, one hour).
    pub ttl_seconds: i64,
    /// Whether `snr` is set.
    pub has_snr: bool,
    /// The SNR score in [0, 1].
    pub snr: f64,
    /// Whether `ihsan` is set.
    pub has_ihsan: bool,
    /// The Ihsan score in [0, 1].
    pub ihsan: f64,
    /// The constitution hash applied, 64 lowercase hex; NULL: the default constitution's.
    pub policy_hex: *const c_char,
    /// Whether `timestamp_unix_ms` is set (default: now).
    pub has_timestamp: bool,
    /// The creation time in milliseconds since the Unix epoch.
    pub timestamp_unix_ms: i64,
    /// A caller-chosen id (`pci_` + 32 lowercase hex); NULL: 16 random bytes.
    pub id: *const c_char,
    /// The ids of the envelopes this one derives from (`provenance_len` of them, at most 64).
    pub provenance: *const *const c_char,
    /// The number of `provenance` entries.
    pub provenance_len: usize,
}

/// Options for `bizra_envelope_verify` and `bizra_envelope_verify_batch`. Zero-initialise and set
/// `struct_size = sizeof(...)`.
#[repr(C)]
#[derive(Debug)]
pub struct bizra_verify_options {
    /// `sizeof(bizra_verify_options)`.
    pub struct_size: u32,
    /// Whether `now_unix_ms` is the verification instant (default: the system clock).
    pub has_now: bool,
    /// The verification instant in milliseconds since the Unix epoch.
    pub now_unix_ms: i64,
    /// The constitution hash the sender must have applied (64 lowercase hex); NULL: no check.
    pub policy_hex: *const c_char,
    /// A replay cache that records admitted ids; NULL: none.
    pub replay: *const bizra_replay_cache,
}

/// Both scores of an envelope.
#[repr(C)]
#[derive(Debug, Default)]
pub struct bizra_scores {
    /// Whether the envelope carries an SNR score.
    pub has_snr: bool,
    /// The SNR score (0 when absent).
    pub snr: f64,
    /// Whether the envelope carries an Ihsan score.
    pub has_ihsan: bool,
    /// The Ihsan score (0 when absent).
    pub ihsan: f64,
}

pub(crate) fn timestamp(ms: i64, what: &str) -> FfiResult<Timestamp> {
    Timestamp::from_unix_millis(ms)
        .ok_or_else(|| invalid(format!("{what} {ms} is outside years 0000-9999")))
}

pub(crate) fn hash_hex(p: *const c_char, what: &str) -> FfiResult<Option<[u8; 32]>> {
    match opt_text(p, what)? {
        None => Ok(None),
        Some(s) => bizra_core::hash::from_hex::<32>(s)
            .map(Some)
            .ok_or_else(|| invalid(format!("{what} is not 64 lowercase hex"))),
    }
}

/// Envelope ids for a provenance list, at most `MAX_PROVENANCE` of them (checked before the
/// array is read, so a wild length costs nothing).
pub(crate) fn provenance<'a>(
    p: *const *const c_char,
    len: usize,
    what: &str,
) -> FfiResult<Vec<&'a str>> {
    if len > MAX_PROVENANCE {
        return Err(invalid(format!(
            "{what}: {len} entries exceed {MAX_PROVENANCE}"
        )));
    }
    text_list(p, len, what)
}

pub(crate) fn verify_options<'a>(p: *const bizra_verify_options) -> FfiResult<VerifyOptions<'a>> {
    let mut v = VerifyOptions::default();
    if let Some(o) = options(p, "opts")? {
        if o.has_now {
            v.now = Some(timestamp(o.now_unix_ms, "opts.now_unix_ms")?);
        }
        v.policy = hash_hex(o.policy_hex, "opts.policy_hex")?;
        if !o.replay.is_null() {
            v.replay = Some(bizra_replay_cache::arg(o.replay, "opts.replay")?);
        }
    }
    Ok(v)
}

/// The core's options from the C struct: each zero/NULL/false member leaves the core's default.
fn envelope_options(o: &bizra_envelope_options) -> FfiResult<EnvelopeOptions> {
    Ok(EnvelopeOptions {
        ttl: (o.ttl_seconds != 0).then_some(o.ttl_seconds),
        provenance: provenance(o.provenance, o.provenance_len, "opts.provenance")?
            .into_iter()
            .map(str::to_owned)
            .collect(),
        scores: bizra_core::Scores {
            snr: o.has_snr.then_some(o.snr),
            ihsan: o.has_ihsan.then_some(o.ihsan),
        },
        policy: hash_hex(o.policy_hex, "opts.policy_hex")?,
        timestamp: if o.has_timestamp {
            Some(timestamp(o.timestamp_unix_ms, "opts.timestamp_unix_ms")?)
        } else {
            None
        },
        id: opt_text(o.id, "opts.id")?.map(str::to_owned),
    })
}

/// Signs `payload_json` (I-JSON text, NUL-terminated) into a new envelope with `id`'s key.
/// `opts` may be NULL: the core's defaults (a one-hour ttl, no scores, no provenance, the
/// default constitution's hash, now, a random id). A payload that is not I-JSON or any bad
/// option is `BIZRA_STATUS_INVALID_ARGUMENT`. `*out`: a new envelope, the caller's; free it with
/// `bizra_envelope_free`.
#[no_mangle]
pub unsafe extern "C" fn bizra_envelope_create(
    id: *const bizra_identity,
    payload_json: *const c_char,
    opts: *const bizra_envelope_options,
    out: *mut *mut bizra_envelope,
) -> bizra_status {
    boundary("bizra_envelope_create", || {
        let out = out_checked(out)?;
        let id = bizra_identity::arg(id, "id")?;
        let payload = text(payload_json, "payload_json")?;
        let options = match options(opts, "opts")? {
            Some(o) => envelope_options(o)?,
            None => EnvelopeOptions::default(),
        };
        let payload =
            canonical::parse(payload).map_err(|e| invalid(format!("payload_json: {e}")))?;
        bizra_envelope::put(out, Envelope::create_with(id, payload, options)?)
    })
}

/// Parses envelope text (`len` bytes, need not be NUL-terminated) — step 1 of the verification;
/// `bizra_envelope_open` also verifies. `BIZRA_STATUS_OK` with `*reject = 0` and `*out` set for a
/// well-formed envelope; otherwise `BIZRA_STATUS_REJECTED` with `*reject` = 1 (malformed: not
/// UTF-8, not I-JSON, bad members) or 2 (a member missing), and `*out` untouched. `reject` may be
/// NULL. `*out`: a new envelope, the caller's; free it with `bizra_envelope_free`.
#[no_mangle]
pub unsafe extern "C" fn bizra_envelope_parse(
    json: *const c_char,
    len: usize,
    out: *mut *mut bizra_envelope,
    reject: *mut u32,
) -> bizra_status {
    boundary("bizra_envelope_parse", || {
        let out = out_checked(out)?;
        let text = bytes(json.cast::<u8>(), len, "json")?;
        match Envelope::parse_bytes(text) {
            Ok(env) => {
                put_reject(reject, 0);
                bizra_envelope::put(out, env)
            }
            Err(e) => {
                put_reject(reject, reject_of(&e).unwrap_or(bizra_reject::Schema as u32));
                Err(e.into())
            }
        }
    })
}

/// Parses and verifies envelope text in one call (`len` bytes, need not be NUL-terminated):
/// steps 1–9 of the spec, the first failure deciding, as the core's `Envelope::open`. `opts` as
/// for `bizra_envelope_verify` (NULL: the system clock, no policy, no replay cache; with a
/// replay cache, a valid envelope's id is recorded). `BIZRA_STATUS_OK` with `*reject = 0` and
/// `*out` set only for a valid envelope; otherwise `BIZRA_STATUS_REJECTED` with the spec's code in
/// `*reject` (1 malformed, 11 expired, 15 hash mismatch, ...) and `*out` untouched. `reject` may
/// be NULL. `*out`: a new, verified envelope, the caller's; free it with `bizra_envelope_free`.
#[no_mangle]
pub unsafe extern "C" fn bizra_envelope_open(
    json: *const c_char,
    len: usize,
    opts: *const bizra_verify_options,
    out: *mut *mut bizra_envelope,
    reject: *mut u32,
) -> bizra_status {
    boundary("bizra_envelope_open", || {
        let out = out_checked(out)?;
        let text = bytes(json.cast::<u8>(), len, "json")?;
        let opts = verify_options(opts)?;
        match Envelope::open_bytes(text, &opts) {
            Ok(env) => {
                put_reject(reject, 0);
                bizra_envelope::put(out, env)
            }
            Err(e) => {
                if let Some(code) = reject_of(&e) {
                    put_reject(reject, code);
                }
                Err(e.into())
            }
        }
    })
}

/// Verifies an envelope (steps 2–9 of the spec; step 1 was its parsing). `opts` may be NULL: the
/// system clock, no policy, no replay cache. `BIZRA_STATUS_OK` (with `*reject = 0`) only for a
/// valid envelope; otherwise `BIZRA_STATUS_REJECTED` with the spec's code in `*reject` (e.g. 11
/// expired, 15 hash mismatch). `reject` may be NULL (a value: nothing to free). With a replay
/// cache, a valid envelope's id is recorded.
#[no_mangle]
pub unsafe extern "C" fn bizra_envelope_verify(
    env: *const bizra_envelope,
    opts: *const bizra_verify_options,
    reject: *mut u32,
) -> bizra_status {
    boundary("bizra_envelope_verify", || {
        let env = bizra_envelope::arg(env, "env")?;
        let opts = verify_options(opts)?;
        match env.verify(&opts) {
            Ok(()) => {
                put_reject(reject, 0);
                Ok(BIZRA_STATUS_OK)
            }
            Err(e) => {
                if let Some(code) = reject_of(&e) {
                    put_reject(reject, code);
                }
                Err(e.into())
            }
        }
    })
}

/// Verifies `n` envelopes at one instant, in parallel where it pays, without copying them;
/// `rejects` (n entries, the caller's array, required when n > 0) receives each one's code,
/// exactly what `bizra_envelope_verify` would give.
/// Returns `BIZRA_STATUS_OK` when every envelope is valid, `BIZRA_STATUS_REJECTED` when at least
/// one is not (the codes are written in both cases). `opts` as for `bizra_envelope_verify`.
#[no_mangle]
pub unsafe extern "C" fn bizra_envelope_verify_batch(
    envs: *const *const bizra_envelope,
    n: usize,
    opts: *const bizra_verify_options,
    rejects: *mut u32,
) -> bizra_status {
    boundary("bizra_envelope_verify_batch", || {
        if n == 0 {
            return Ok(BIZRA_STATUS_OK);
        }
        let rejects = out(rejects, "rejects")?;
        let opts = verify_options(opts)?;
        // References to the handles' envelopes: the core verifies them where they are.
        let list = slice(envs, n, "envs")?
            .iter()
            .enumerate()
            // The entry is named only when it is NULL: a batch formats no names.
            .map(|(i, &p)| bizra_envelope::arg(p, "").map_err(|_| null(&format!("envs[{i}]"))))
            .collect::<FfiResult<Vec<&Envelope>>>()?;
        let results = bizra_core::verify_batch(&list, &opts);
        let mut rejected = 0usize;
        for (i, r) in results.iter().enumerate() {
            let code = match r {
                Ok(()) => 0,
                Err(e) => {
                    rejected += 1;
                    reject_of(e).unwrap_or(bizra_reject::Internal as u32)
                }
            };
            // SAFETY: `rejects` is non-NULL and, by the C contract, holds `n` entries; i < n.
            unsafe { rejects.add(i).write(code) };
        }
        if rejected == 0 {
            Ok(BIZRA_STATUS_OK)
        } else {
            Err(Failure::new(
                BIZRA_STATUS_REJECTED,
                format!("{rejected} of {n} envelopes rejected"),
            ))
        }
    })
}

/// The envelope as canonical (JCS) JSON text. `*out`: the caller's string; free it with
/// `bizra_string_free`.
#[no_mangle]
pub unsafe extern "C" fn bizra_envelope_to_json(
    env: *const bizra_envelope,
    out: *mut *mut c_char,
) -> bizra_status {
    boundary("bizra_envelope_to_json", || {
        let out = out_checked(out)?;
        put_string(out, bizra_envelope::arg(env, "env")?.to_json())
    })
}

/// The canonical header (the envelope without payload and signature: the signed bytes).
/// `*out`: the caller's string; free it with `bizra_string_free`.
#[no_mangle]
pub unsafe extern "C" fn bizra_envelope_header_json(
    env: *const bizra_envelope,
    out: *mut *mut c_char,
) -> bizra_status {
    boundary("bizra_envelope_header_json", || {
        let out = out_checked(out)?;
        put_string(out, bizra_envelope::arg(env, "env")?.header_json())
    })
}

/// `version` (`"1.0"`). `*out`: the caller's string; free it with
/// `bizra_string_free`.
#[no_mangle]
pub unsafe extern "C" fn bizra_envelope_version(
    env: *const bizra_envelope,
    out: *mut *mut c_char,
) -> bizra_status {
    boundary("bizra_envelope_version", || {
        string_member(env, out, |e| Ok(e.version().to_owned()))
    })
}

/// `id` (`pci_` + 32 hex). `*out`: the caller's string; free it with
/// `bizra_string_free`.
#[no_mangle]
pub unsafe extern "C" fn bizra_envelope_id(
    env: *const bizra_envelope,
    out: *mut *mut c_char,
) -> bizra_status {
    boundary("bizra_envelope_id", || {
        string_member(env, out, |e| Ok(e.id().to_owned()))
    })
}

/// `sender` (the node id). `*out`: the caller's string; free it with
/// `bizra_string_free`.
#[no_mangle]
pub unsafe extern "C" fn bizra_envelope_sender(
    env: *const bizra_envelope,
    out: *mut *mut c_char,
) -> bizra_status {
    boundary("bizra_envelope_sender", || {
        string_member(env, out, |e| Ok(e.sender().to_owned()))
    })
}

/// `public_key` as 64 lowercase hex. `*out`: the caller's string; free it with
/// `bizra_string_free`.
#[no_mangle]
pub unsafe extern "C" fn bizra_envelope_public_key_hex(
    env: *const bizra_envelope,
    out: *mut *mut c_char,
) -> bizra_status {
    boundary("bizra_envelope_public_key_hex", || {
        string_member(env, out, |e| Ok(bizra_core::hash::to_hex(e.public_key())))
    })
}

/// `timestamp` in its textual form. `*out`: the caller's string; free it with
/// `bizra_string_free`.
#[no_mangle]
pub unsafe extern "C" fn bizra_envelope_timestamp(
    env: *const bizra_envelope,
    out: *mut *mut c_char,
) -> bizra_status {
    boundary("bizra_envelope_timestamp", || {
        string_member(env, out, |e| Ok(e.timestamp().to_string()))
    })
}

/// `content_hash` as 64 lowercase hex. `*out`: the caller's string; free it with
/// `bizra_string_free`.
#[no_mangle]
pub unsafe extern "C" fn bizra_envelope_content_hash_hex(
    env: *const bizra_envelope,
    out: *mut *mut c_char,
) -> bizra_status {
    boundary("bizra_envelope_content_hash_hex", || {
        string_member(env, out, |e| Ok(bizra_core::hash::to_hex(e.content_hash())))
    })
}

/// `policy` as 64 lowercase hex. `*out`: the caller's string; free it with
/// `bizra_string_free`.
#[no_mangle]
pub unsafe extern "C" fn bizra_envelope_policy_hex(
    env: *const bizra_envelope,
    out: *mut *mut c_char,
) -> bizra_status {
    boundary("bizra_envelope_policy_hex", || {
        string_member(env, out, |e| Ok(bizra_core::hash::to_hex(e.policy())))
    })
}

/// `signature` as 128 lowercase hex. `*out`: the caller's string; free it with
/// `bizra_string_free`.
#[no_mangle]
pub unsafe extern "C" fn bizra_envelope_signature_hex(
    env: *const bizra_envelope,
    out: *mut *mut c_char,
) -> bizra_status {
    boundary("bizra_envelope_signature_hex", || {
        string_member(env, out, |e| Ok(bizra_core::hash::to_hex(e.signature())))
    })
}

/// `payload` as canonical JSON text. `*out`: the caller's string; free it with
/// `bizra_string_free`.
#[no_mangle]
pub unsafe extern "C" fn bizra_envelope_payload_json(
    env: *const bizra_envelope,
    out: *mut *mut c_char,
) -> bizra_status {
    boundary("bizra_envelope_payload_json", || {
        string_member(env, out, |e| Ok(e.payload_json().to_owned()))
    })
}

fn string_member(
    env: *const bizra_envelope,
    out: *mut *mut c_char,
    get: impl FnOnce(&Envelope) -> FfiResult<String>,
) -> FfiResult {
    let out = out_checked(out)?;
    let e = bizra_envelope::arg(env, "env")?;
    put_string(out, get(e)?)
}

fn i64_member(
    env: *const bizra_envelope,
    out: *mut i64,
    get: impl FnOnce(&Envelope) -> i64,
) -> FfiResult {
    let out = out_checked(out)?;
    put(out, get(bizra_envelope::arg(env, "env")?));
    Ok(BIZRA_STATUS_OK)
}

/// `ttl` in seconds, written to `*out` (a value: nothing to free).
#[no_mangle]
pub unsafe extern "C" fn bizra_envelope_ttl(
    env: *const bizra_envelope,
    out: *mut i64,
) -> bizra_status {
    boundary("bizra_envelope_ttl", || i64_member(env, out, |e| e.ttl()))
}

/// `timestamp` in milliseconds since the Unix epoch, written to `*out` (a value: nothing to
/// free).
#[no_mangle]
pub unsafe extern "C" fn bizra_envelope_timestamp_unix_ms(
    env: *const bizra_envelope,
    out: *mut i64,
) -> bizra_status {
    boundary("bizra_envelope_timestamp_unix_ms", || {
        i64_member(env, out, |e| e.timestamp().unix_millis())
    })
}

/// The expiry instant (timestamp + ttl) in milliseconds since the Unix epoch, written to `*out`
/// (a value: nothing to free).
#[no_mangle]
pub unsafe extern "C" fn bizra_envelope_expires_at_unix_ms(
    env: *const bizra_envelope,
    out: *mut i64,
) -> bizra_status {
    boundary("bizra_envelope_expires_at_unix_ms", || {
        i64_member(env, out, |e| e.expires_at().unix_millis())
    })
}

/// The 32-byte public key. `*out`: the caller's bytes; free them with `bizra_bytes_free`.
#[no_mangle]
pub unsafe extern "C" fn bizra_envelope_public_key(
    env: *const bizra_envelope,
    out: *mut bizra_bytes,
) -> bizra_status {
    boundary("bizra_envelope_public_key", || {
        let out = out_checked(out)?;
        put_bytes(out, bizra_envelope::arg(env, "env")?.public_key().to_vec())
    })
}

/// The 64-byte signature. `*out`: the caller's bytes; free them with `bizra_bytes_free`.
#[no_mangle]
pub unsafe extern "C" fn bizra_envelope_signature(
    env: *const bizra_envelope,
    out: *mut bizra_bytes,
) -> bizra_status {
    boundary("bizra_envelope_signature", || {
        let out = out_checked(out)?;
        put_bytes(out, bizra_envelope::arg(env, "env")?.signature().to_vec())
    })
}

/// The scores the envelope carries, written to `*out` (values: nothing to free).
#[no_mangle]
pub unsafe extern "C" fn bizra_envelope_scores(
    env: *const bizra_envelope,
    out: *mut bizra_scores,
) -> bizra_status {
    boundary("bizra_envelope_scores", || {
        let out = out_checked(out)?;
        let s = bizra_envelope::arg(env, "env")?.scores();
        put(
            out,
            bizra_scores {
                has_snr: s.snr.is_some(),
                snr: s.snr.unwrap_or(0.0),
                has_ihsan: s.ihsan.is_some(),
                ihsan: s.ihsan.unwrap_or(0.0),
            },
        );
        Ok(BIZRA_STATUS_OK)
    })
}

/// The number of provenance entries, written to `*out` (a value: nothing to free).
#[no_mangle]
pub unsafe extern "C" fn bizra_envelope_provenance_count(
    env: *const bizra_envelope,
    out: *mut usize,
) -> bizra_status {
    boundary("bizra_envelope_provenance_count", || {
        let out = out_checked(out)?;
        put(out, bizra_envelope::arg(env, "env")?.provenance().len());
        Ok(BIZRA_STATUS_OK)
    })
}

/// Provenance entry `index` (an envelope id); `BIZRA_STATUS_OUT_OF_RANGE` past the end. `*out`:
/// the caller's string; free it with `bizra_string_free`.
#[no_mangle]
pub unsafe extern "C" fn bizra_envelope_provenance_at(
    env: *const bizra_envelope,
    index: usize,
    out: *mut *mut c_char,
) -> bizra_status {
    boundary("bizra_envelope_provenance_at", || {
        let out = out_checked(out)?;
        let p = bizra_envelope::arg(env, "env")?.provenance();
        let item = p.get(index).ok_or_else(|| {
            Failure::new(
                BIZRA_STATUS_OUT_OF_RANGE,
                format!("index {index} >= {} entries", p.len()),
            )
        })?;
        put_string(out, item.as_str())
    })
}

/// A copy of an envelope (for example to keep one a callback only lends). `*out`: a new
/// envelope, the caller's; free it with `bizra_envelope_free`.
#[no_mangle]
pub unsafe extern "C" fn bizra_envelope_clone(
    env: *const bizra_envelope,
    out: *mut *mut bizra_envelope,
) -> bizra_status {
    boundary("bizra_envelope_clone", || {
        let out = out_checked(out)?;
        bizra_envelope::put(out, bizra_envelope::arg(env, "env")?.clone())
    })
}

/// Frees an envelope made by this library (never one a callback lends). NULL is a no-op.
#[no_mangle]
pub unsafe extern "C" fn bizra_envelope_free(env: *mut bizra_envelope) {
    boundary("bizra_envelope_free", || bizra_envelope::free(env))
}

// ------------------------------------------------------------------------------------------------
// Replay cache

/// A replay cache holding at most `capacity` live ids; when full, new ids are refused with code
/// 40 (QUOTA) until old ones expire. A capacity of 0 is refused (`BIZRA_STATUS_INVALID_ARGUMENT`),
/// as in every binding: a cache that holds nothing would refuse every envelope. (A gate chain
/// made by `bizra_gate_chain_new_default` has its own cache of the core's default capacity.)
/// `*out`: a new cache, the caller's; free it with `bizra_replay_cache_free`.
#[no_mangle]
pub unsafe extern "C" fn bizra_replay_cache_new(
    capacity: usize,
    out: *mut *mut bizra_replay_cache,
) -> bizra_status {
    boundary("bizra_replay_cache_new", || {
        let out = out_checked(out)?;
        bizra_replay_cache::put(out, ReplayCache::new(capacity)?)
    })
}

/// The number of ids the cache holds, written to `*out` (a value: nothing to free).
#[no_mangle]
pub unsafe extern "C" fn bizra_replay_cache_len(
    cache: *const bizra_replay_cache,
    out: *mut usize,
) -> bizra_status {
    boundary("bizra_replay_cache_len", || {
        let out = out_checked(out)?;
        put(out, bizra_replay_cache::arg(cache, "cache")?.len());
        Ok(BIZRA_STATUS_OK)
    })
}

/// Whether the cache holds `id` as still valid at `now_unix_ms`, written to `*out` (a value:
/// nothing to free).
#[no_mangle]
pub unsafe extern "C" fn bizra_replay_cache_contains(
    cache: *const bizra_replay_cache,
    id: *const c_char,
    now_unix_ms: i64,
    out: *mut bool,
) -> bizra_status {
    boundary("bizra_replay_cache_contains", || {
        let out = out_checked(out)?;
        let cache = bizra_replay_cache::arg(cache, "cache")?;
        let id = text(id, "id")?;
        let now = timestamp(now_unix_ms, "now_unix_ms")?;
        put(out, cache.contains(id, now));
        Ok(BIZRA_STATUS_OK)
    })
}

/// Frees the caller's reference to a replay cache (gate chains sharing it keep theirs). NULL is a
/// no-op.
#[no_mangle]
pub unsafe extern "C" fn bizra_replay_cache_free(cache: *mut bizra_replay_cache) {
    boundary("bizra_replay_cache_free", || {
        bizra_replay_cache::free(cache)
    })
}

// ------------------------------------------------------------------------------------------------
// Timestamps

/// Parses a timestamp in the envelope's one form, `YYYY-MM-DDTHH:MM:SS.mmmZ`, into milliseconds
/// since the Unix epoch, written to `*out` (a value: nothing to free); any other form is
/// `BIZRA_STATUS_INVALID_ARGUMENT`.
#[no_mangle]
pub unsafe extern "C" fn bizra_timestamp_parse(s: *const c_char, out: *mut i64) -> bizra_status {
    boundary("bizra_timestamp_parse", || {
        let out = out_checked(out)?;
        let s = text(s, "s")?;
        let t = Timestamp::parse(s)
            .ok_or_else(|| invalid(format!("{s:?} is not YYYY-MM-DDTHH:MM:SS.mmmZ")))?;
        put(out, t.unix_millis());
        Ok(BIZRA_STATUS_OK)
    })
}

/// Formats milliseconds since the Unix epoch as `YYYY-MM-DDTHH:MM:SS.mmmZ`. `*out`: the caller's
/// string; free it with `bizra_string_free`.
#[no_mangle]
pub unsafe extern "C" fn bizra_timestamp_format(
    unix_ms: i64,
    out: *mut *mut c_char,
) -> bizra_status {
    boundary("bizra_timestamp_format", || {
        let out = out_checked(out)?;
        put_string(out, timestamp(unix_ms, "unix_ms")?.to_string())
    })
}

/// The system clock in milliseconds since the Unix epoch, written to `*out` (a value: nothing to
/// free).
#[no_mangle]
pub unsafe extern "C" fn bizra_timestamp_now(out: *mut i64) -> bizra_status {
    boundary("bizra_timestamp_now", || {
        let out = out_checked(out)?;
        put(out, Timestamp::now().unix_millis());
        Ok(BIZRA_STATUS_OK)
    })
}
