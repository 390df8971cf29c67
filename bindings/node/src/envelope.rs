//! `Envelope` (a PCI envelope: create, parse, open, verify) and `verifyBatch`.

use std::ptr;
use std::sync::Arc;

use bizra::{RejectCode, Timestamp};
use napi::bindgen_prelude::*;
use napi::{sys, Env, ValueType};
use napi_derive::napi;
use serde_json::Value;

use crate::constitution::Constitution;
use crate::convert::{
    array_in, date_in, date_out, given, hash32, number_in, seconds_in, string_in, to_hex, type_of,
    DateOut,
};
use crate::errors::{core_err, guard, internal, napi_err, type_err, Result};
use crate::identity::identity_of;
use crate::json;
use crate::options::Options;
use crate::replay::replay_of;
use crate::tasks::PoolTask;

/// Time to live of an envelope when `ttl` is not given, in seconds (the core's default).
#[napi]
pub const DEFAULT_TTL_SECONDS: i64 = bizra::pci::DEFAULT_TTL_SECONDS;
/// The longest time to live an envelope may have, in seconds.
#[napi]
pub const MAX_TTL_SECONDS: i64 = bizra::pci::MAX_TTL_SECONDS;
/// How far in the future an envelope's timestamp may lie and still verify, in seconds.
#[napi]
pub const MAX_CLOCK_SKEW_SECONDS: i64 = bizra::pci::MAX_CLOCK_SKEW_SECONDS;
/// The most envelope ids a `provenance` may hold.
#[napi]
pub const MAX_PROVENANCE: u32 = bizra::pci::MAX_PROVENANCE as u32;
/// The largest payload an envelope may carry, in bytes of canonical JSON.
#[napi]
pub const MAX_PAYLOAD_BYTES: u32 = bizra::pci::MAX_PAYLOAD_BYTES as u32;

/// A PCI envelope (tests/vectors/PCI-v1.md), immutable.
#[napi]
pub struct Envelope {
    /// Shared, so that a batch verified on worker threads holds the envelopes without copying them.
    pub(crate) inner: Arc<bizra::Envelope>,
}

impl From<bizra::Envelope> for Envelope {
    fn from(e: bizra::Envelope) -> Self {
        Envelope { inner: Arc::new(e) }
    }
}

/// Quality scores, each in [0, 1].
#[napi(object)]
pub struct Scores {
    pub snr: Option<f64>,
    pub ihsan: Option<f64>,
}

// ---------------------------------------------------------------------------------------------
// `Envelope.create`, the hot path: a plain N-API callback. napi-rs's generated glue opens a
// native-borrow scope on every call (an `Arc<Mutex<..>>`, a thread-local push, a release) and
// converts each optional argument on its own; this reads its ten arguments in one
// `napi_get_cb_info` and does only what `create` needs (~0.2 µs of ~20, see `make bench-node`).
// `index.js` fetches it once (`__envelopeCreate`), hands the payload over encoded (`text` and
// `tape`, see `json.rs`) and unpacks `options` into the trailing positional arguments, refusing
// unknown keys as `options.rs` does: V8 reads both there through inline caches, where N-API
// would pay a property lookup per key. Its types are in `dts-header.d.ts` (`Envelope.create`).

/// The addon's `Envelope.create(identity, text, tape, ttl, provenance, snr, ihsan, policy,
/// timestamp, id)`, for `index.js` (hidden from the typings).
#[napi(js_name = "__envelopeCreate", skip_typescript)]
pub fn envelope_create_fn(env: &Env) -> Result<Unknown<'_>> {
    let mut f = ptr::null_mut();
    let name = "create";
    let status = unsafe {
        sys::napi_create_function(
            env.raw(),
            name.as_ptr().cast(),
            name.len() as isize,
            Some(envelope_create),
            ptr::null_mut(),
            &mut f,
        )
    };
    if status != sys::Status::napi_ok {
        return Err(internal(format!("napi_create_function failed ({status})")));
    }
    Ok(unsafe { Unknown::from_raw_unchecked(env.raw(), f) })
}

unsafe extern "C" fn envelope_create(
    raw_env: sys::napi_env,
    info: sys::napi_callback_info,
) -> sys::napi_value {
    let mut args = [ptr::null_mut(); 10];
    let mut argc = args.len();
    // Arguments not given read as `undefined`.
    let status = unsafe {
        sys::napi_get_cb_info(
            raw_env,
            info,
            &mut argc,
            args.as_mut_ptr(),
            ptr::null_mut(),
            ptr::null_mut(),
        )
    };
    let env = Env::from_raw(raw_env);
    let made = guard(|| {
        if status != sys::Status::napi_ok {
            return Err(internal(format!("napi_get_cb_info failed ({status})")));
        }
        let envelope = create_envelope(&env, &args)?;
        Ok(envelope.into_instance(&env).map_err(napi_err)?.value)
    });
    match made {
        Ok(value) => value,
        Err(e) => {
            unsafe { JsError::from(e).throw_into(raw_env) };
            ptr::null_mut()
        }
    }
}

/// An optional argument read by `read` when [`given`].
fn optional<T>(
    env: &Env,
    raw: sys::napi_value,
    read: impl FnOnce(sys::napi_value) -> Result<Option<T>>,
) -> Result<Option<T>> {
    given(env, raw).map_or(Ok(None), read)
}

/// The core's options, filled from the arguments `index.js` unpacked; whatever is absent takes
/// the core's default in `create_with`.
fn create_envelope(env: &Env, args: &[sys::napi_value; 10]) -> Result<Envelope> {
    let [identity, text, tape, ttl, provenance, snr, ihsan, policy, timestamp, id] = *args;
    let identity = identity_of(env, unsafe {
        Unknown::from_raw_unchecked(env.raw(), identity)
    })?;
    let value = json::decode(env.raw(), text, tape, "payload")?;
    let options = bizra::EnvelopeOptions {
        ttl: optional(env, ttl, |raw| seconds_in(env, raw, "ttl"))?,
        provenance: optional(env, provenance, |raw| provenance_in(env, raw).map(Some))?
            .unwrap_or_default(),
        scores: bizra::Scores {
            snr: optional(env, snr, |raw| number_in(env, raw, "scores.snr"))?,
            ihsan: optional(env, ihsan, |raw| number_in(env, raw, "scores.ihsan"))?,
        },
        policy: optional(env, policy, |raw| policy_in(env, raw, "policy").map(Some))?,
        timestamp: optional(env, timestamp, |raw| date_in(env, raw, "timestamp"))?,
        id: optional(env, id, |raw| string_in(env, raw, "id"))?,
    };
    bizra::Envelope::create_with(&identity.inner, value, options)
        .map(Envelope::from)
        .map_err(core_err)
}

/// A provenance argument: an array of envelope ids or `Envelope`s (which stand for their ids), so
/// a caller can pass the envelopes it answers.
pub(crate) fn provenance_in(env: &Env, raw: sys::napi_value) -> Result<Vec<String>> {
    let wrong = |i: u32| {
        type_err(format!(
            "provenance[{i}] must be an envelope id or an Envelope"
        ))
    };
    let expected = "an array of envelope ids or Envelopes";
    array_in(env, raw, "provenance", expected, |i, item| {
        match type_of(env, item) {
            ValueType::String => {
                string_in(env, item, &format!("provenance[{i}]")).map(Option::unwrap_or_default)
            }
            ValueType::Object => {
                unsafe { ClassInstance::<Envelope>::from_napi_value(env.raw(), item) }
                    .map(|e| e.inner.id().to_owned())
                    .map_err(|_| wrong(i))
            }
            _ => Err(wrong(i)),
        }
    })
}

/// A policy argument: a constitution hash (64 lowercase hex) or a `Constitution`, which stands
/// for its hash.
pub(crate) fn policy_in(env: &Env, raw: sys::napi_value, what: &str) -> Result<[u8; 32]> {
    let wrong = || type_err(format!("{what} must be a hash (64 hex) or a Constitution"));
    match type_of(env, raw) {
        ValueType::String => hash32(&string_in(env, raw, what)?.unwrap_or_default(), what),
        ValueType::Object => {
            unsafe { ClassInstance::<Constitution>::from_napi_value(env.raw(), raw) }
                .map(|c| *c.inner.hash())
                .map_err(|_| wrong())
        }
        _ => Err(wrong()),
    }
}

// ---------------------------------------------------------------------------------------------
// Verification

/// The verification options of `verify`, `verifyBatch` and `Envelope.open`.
pub(crate) struct VerifyArgs {
    now: Option<Timestamp>,
    policy: Option<[u8; 32]>,
    replay: Option<Arc<bizra::ReplayCache>>,
}

/// The keys of `VerifyOptions`.
const VERIFY_OPTIONS: &[&str] = &["now", "policy", "replay"];

impl VerifyArgs {
    pub(crate) fn read(env: &Env, options: Option<Unknown>) -> Result<Self> {
        let Some(o) = Options::read(env, options, VERIFY_OPTIONS)? else {
            return Ok(VerifyArgs {
                now: None,
                policy: None,
                replay: None,
            });
        };
        Ok(VerifyArgs {
            now: o.date("now")?,
            policy: o.read_with("policy", |env, raw, what| {
                policy_in(env, raw, what).map(Some)
            })?,
            replay: o.read_with("replay", |env, raw, what| {
                replay_of(env, raw, what).map(Some)
            })?,
        })
    }

    pub(crate) fn options(&self) -> bizra::VerifyOptions<'_> {
        bizra::VerifyOptions {
            now: self.now,
            policy: self.policy,
            replay: self.replay.as_deref(),
        }
    }
}

#[napi]
impl Envelope {
    /// Parses envelope text (or UTF-8 bytes): step 1 of the verification.
    #[napi(factory, ts_args_type = "text: string | Uint8Array")]
    pub fn parse(env: Env, text: Unknown) -> Result<Envelope> {
        guard(|| {
            let raw = text.raw();
            let inner = match text.get_type().map_err(napi_err)? {
                ValueType::String => {
                    let utf16 = unsafe { Utf16String::from_napi_value(env.raw(), raw) }
                        .map_err(napi_err)?;
                    match String::from_utf16(&utf16[..]) {
                        Ok(s) => bizra::Envelope::parse(&s),
                        // A lone surrogate cannot be UTF-8: hand the core bytes it refuses (code 1).
                        Err(_) => bizra::Envelope::parse_bytes(&wtf8(&utf16[..])),
                    }
                }
                ValueType::Object => {
                    let bytes = unsafe { Uint8Array::from_napi_value(env.raw(), raw) }
                        .map_err(|_| type_err("Envelope.parse takes a string or a Uint8Array"))?;
                    bizra::Envelope::parse_bytes(&bytes)
                }
                _ => return Err(type_err("Envelope.parse takes a string or a Uint8Array")),
            };
            Ok(Envelope::from(inner.map_err(core_err)?))
        })
    }

    /// Parses and verifies envelope text (or UTF-8 bytes) in one call and returns the verified
    /// envelope; the first failing step throws, as `parse` then `verify` would.
    #[napi(
        factory,
        ts_args_type = "text: string | Uint8Array, options?: VerifyOptions"
    )]
    pub fn open(env: Env, text: Unknown, options: Option<Unknown>) -> Result<Envelope> {
        guard(|| {
            // The options first: a mistake in them is reported before any verdict on the text.
            let args = VerifyArgs::read(&env, options)?;
            let envelope = Envelope::parse(env, text)?;
            envelope.inner.verify(&args.options()).map_err(core_err)?;
            Ok(envelope)
        })
    }

    /// The canonical (JCS) JSON text of the envelope.
    #[napi]
    pub fn to_json(&self) -> Result<String> {
        guard(|| Ok(self.inner.to_json()))
    }

    /// `JSON.stringify(envelope)` support: the envelope as a plain object.
    #[napi(js_name = "toJSON", ts_return_type = "Record<string, unknown>")]
    pub fn to_json_value(&self) -> Result<Value> {
        guard(|| {
            bizra::canonical::parse(&self.inner.to_json()).map_err(|e| internal(e.to_string()))
        })
    }

    /// The canonical header: what the signature covers (without payload and signature).
    #[napi]
    pub fn header_json(&self) -> Result<String> {
        guard(|| Ok(self.inner.header_json()))
    }

    /// Verifies steps 2–9 of the spec; returns nothing or throws a `BizraError` whose `reject` is
    /// the spec's code.
    #[napi(ts_args_type = "options?: VerifyOptions")]
    pub fn verify(&self, env: Env, options: Option<Unknown>) -> Result<()> {
        guard(|| {
            let args = VerifyArgs::read(&env, options)?;
            self.inner.verify(&args.options()).map_err(core_err)
        })
    }

    #[napi(getter)]
    pub fn version(&self) -> Result<String> {
        guard(|| Ok(self.inner.version().to_owned()))
    }
    #[napi(getter)]
    pub fn id(&self) -> Result<String> {
        guard(|| Ok(self.inner.id().to_owned()))
    }
    #[napi(getter)]
    pub fn sender(&self) -> Result<String> {
        guard(|| Ok(self.inner.sender().to_owned()))
    }
    /// The sender's public key, 64 lowercase hex.
    #[napi(getter)]
    pub fn public_key(&self) -> Result<String> {
        guard(|| Ok(to_hex(self.inner.public_key())))
    }
    /// Creation time.
    #[napi(getter, ts_return_type = "Date")]
    pub fn timestamp(&self) -> Result<DateOut> {
        guard(|| Ok(date_out(self.inner.timestamp())))
    }
    /// Creation time in the wire form `YYYY-MM-DDTHH:MM:SS.mmmZ`.
    #[napi(getter)]
    pub fn timestamp_text(&self) -> Result<String> {
        guard(|| Ok(self.inner.timestamp().to_string()))
    }
    /// Time to live, seconds.
    #[napi(getter)]
    pub fn ttl(&self) -> Result<i64> {
        guard(|| Ok(self.inner.ttl()))
    }
    /// `timestamp + ttl`.
    #[napi(getter, ts_return_type = "Date")]
    pub fn expires_at(&self) -> Result<DateOut> {
        guard(|| Ok(date_out(self.inner.expires_at())))
    }
    /// 64 lowercase hex.
    #[napi(getter)]
    pub fn content_hash(&self) -> Result<String> {
        guard(|| Ok(to_hex(self.inner.content_hash())))
    }
    #[napi(getter)]
    pub fn provenance(&self) -> Result<Vec<String>> {
        guard(|| Ok(self.inner.provenance().to_vec()))
    }
    #[napi(getter)]
    pub fn scores(&self) -> Result<Scores> {
        guard(|| {
            let s = self.inner.scores();
            Ok(Scores {
                snr: s.snr,
                ihsan: s.ihsan,
            })
        })
    }
    /// Hash of the constitution the sender applied, 64 lowercase hex.
    #[napi(getter)]
    pub fn policy(&self) -> Result<String> {
        guard(|| Ok(to_hex(self.inner.policy())))
    }
    /// The payload, as a fresh JavaScript value.
    #[napi(getter, ts_return_type = "unknown")]
    pub fn payload(&self) -> Result<Value> {
        guard(|| Ok(self.inner.payload().clone()))
    }
    /// 128 lowercase hex.
    #[napi(getter)]
    pub fn signature(&self) -> Result<String> {
        guard(|| Ok(to_hex(self.inner.signature())))
    }
}

/// WTF-8: the UTF-8-like bytes of a UTF-16 string with lone surrogates (invalid UTF-8, which the
/// core refuses as code 1).
fn wtf8(units: &[u16]) -> Vec<u8> {
    let mut out = Vec::with_capacity(units.len() * 3);
    for r in char::decode_utf16(units.iter().copied()) {
        match r {
            Ok(c) => {
                let mut buf = [0u8; 4];
                out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
            }
            Err(e) => {
                let u = e.unpaired_surrogate();
                out.extend_from_slice(&[
                    0xE0 | (u >> 12) as u8,
                    0x80 | ((u >> 6) & 0x3F) as u8,
                    0x80 | (u & 0x3F) as u8,
                ]);
            }
        }
    }
    out
}

/// Verifies many envelopes on libuv's pool; resolves to one code per envelope (0 = valid, else
/// the spec's reject code), each exactly what `envelope.verify` would give. The envelopes are
/// shared with the task, not copied.
#[napi(
    ts_args_type = "envelopes: Envelope[], options?: VerifyOptions",
    ts_return_type = "Promise<number[]>"
)]
pub fn verify_batch(
    env: Env,
    envelopes: Vec<ClassInstance<Envelope>>,
    options: Option<Unknown>,
) -> Result<AsyncTask<PoolTask<Vec<u32>>>> {
    guard(|| {
        let args = VerifyArgs::read(&env, options)?;
        let envelopes: Vec<Arc<bizra::Envelope>> =
            envelopes.iter().map(|e| Arc::clone(&e.inner)).collect();
        Ok(PoolTask::new(move || {
            bizra::verify_batch(&envelopes, &args.options())
                .into_iter()
                .map(|r| match r {
                    Ok(()) => 0,
                    Err(e) => e.reject_code().unwrap_or(RejectCode::Internal).code(),
                })
                .collect()
        }))
    })
}
