//! Node binding of bizra: a thin napi-rs v3 layer over the core crate.
//!
//! Type conversion and JavaScript idioms only; every protocol rule lives in the core. Every export
//! runs its body through [`guard`] (`catch_unwind`: a Rust panic becomes a thrown error with code
//! `PANIC`, never a crashed process). Errors leave with a string `code` (the reject name, such as
//! `HASH_MISMATCH`, or `INVALID_INPUT`, `KEY`, `CONSTITUTION`, `IO`, `PANIC`, `TYPE_ERROR`);
//! `index.js` turns them into `BizraError` (with `reject`, the spec's number) or `TypeError`.

#![deny(clippy::unwrap_used, clippy::expect_used)]

mod inference;
mod json;

use std::cell::Cell;
use std::collections::HashMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::ptr;
use std::sync::Arc;
use std::thread::{self, ThreadId};

use bizra::gates::GateContext;
use bizra::hash::from_hex;
use bizra::{BuiltinKind, GateTier, ModelTier, RejectCode, Timestamp};
use napi::bindgen_prelude::*;
use napi::{sys, Env, JsValue, ValueType};
use napi_derive::napi;
use serde_json::Value;

use json::js_string;
// Exports of the addon, like every `#[napi]` function here.
pub use json::{json_tape, set_json_encoder};

type Result<T> = std::result::Result<T, napi::Error<String>>;

// ---------------------------------------------------------------------------------------------
// Errors and the panic guard

fn err(code: &str, msg: impl Into<String>) -> napi::Error<String> {
    napi::Error::new(code.to_owned(), msg.into())
}

fn type_err(msg: impl Into<String>) -> napi::Error<String> {
    err("TYPE_ERROR", msg)
}

/// The `Identity` behind an argument. Not a `&Identity` parameter: napi-rs registers each such
/// argument as a borrow (a global lock and map entry per call) and words its own error; this checks
/// the class the same way without one. `Identity` has no `&mut self` method, so the shared view
/// cannot alias a mutable one.
fn identity_of<'env>(env: &Env, value: Unknown) -> Result<ClassInstance<'env, Identity>> {
    unsafe { ClassInstance::<Identity>::from_napi_value(env.raw(), value.raw()) }
        .map_err(|_| type_err("identity must be an Identity"))
}

/// Separates an error's detail from its message in the reason that crosses to `index.js`, which
/// splits them into `detail` and `message`.
const DETAIL_SEP: char = '\u{1f}';

/// The core's error as it crosses: its `code` is the reject name for a refusal (`HASH_MISMATCH`),
/// else its kind's name from the core's table (`INVALID_INPUT`, `MODEL_NOT_FOUND`, ...), so no
/// kind is named here; `index.js` derives `kind`, `reject` and `retryable` from the same tables.
fn core_err(e: bizra::Error) -> napi::Error<String> {
    let code = e.reject_code().map_or(e.kind().name(), RejectCode::name);
    let message = match &e {
        // The core names Rust's field; a Node caller sets `nCtx`.
        bizra::Error::ContextOverflow {
            prompt_tokens,
            n_ctx,
        } => format!(
            "prompt too long: {prompt_tokens} tokens, but the context holds {n_ctx} (one more is \
             needed to generate); shorten the prompt or load the model with a larger nCtx"
        ),
        _ => e.to_string(),
    };
    match &e {
        bizra::Error::Reject { detail, .. } => err(code, format!("{detail}{DETAIL_SEP}{message}")),
        _ => err(code, message),
    }
}

/// A napi-rs error (argument conversion and the like) keeps napi's own status as its code;
/// `index.js` turns those into `TypeError`.
fn napi_err(e: napi::Error) -> napi::Error<String> {
    napi::Error::new(e.status.as_ref().to_owned(), e.reason.clone())
}

/// Runs an export's body: a panic becomes an error with code `PANIC`.
fn guard<T>(f: impl FnOnce() -> Result<T>) -> Result<T> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(r) => r,
        Err(payload) => Err(panic_err(&payload)),
    }
}

fn panic_err(payload: &Box<dyn std::any::Any + Send>) -> napi::Error<String> {
    err(
        "PANIC",
        format!("internal error (Rust panic): {}", panic_text(payload)),
    )
}

fn panic_text(payload: &Box<dyn std::any::Any + Send>) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "unknown panic".to_owned()
    }
}

/// Test-only (the `test-hooks` feature, which the published addon does not have): panics inside
/// the guard, so the suite can check that a panic is a thrown `BizraError` with code `PANIC` and
/// the process lives on.
#[cfg(feature = "test-hooks")]
#[napi(js_name = "__panicForTest", skip_typescript)]
pub fn panic_for_test() -> Result<()> {
    guard(|| -> Result<()> { panic!("deliberate panic for the test suite") })
}

/// The reject codes of the spec: name → number (`{ HASH_MISMATCH: 15, ... }`).
#[napi(ts_return_type = "Record<string, number>")]
pub fn reject_codes() -> Result<HashMap<String, u32>> {
    guard(|| {
        Ok(RejectCode::ALL
            .iter()
            .map(|c| (c.name().to_owned(), c.code()))
            .collect())
    })
}

/// One reject code of the spec, as `index.js` needs it to make errors of reports.
#[napi(object)]
pub struct RejectInfo {
    pub name: String,
    pub code: u32,
    pub description: String,
    pub retryable: bool,
}

/// Every reject code of the spec with its description and whether it is retryable (for
/// `index.js`).
#[napi(skip_typescript)]
pub fn reject_table() -> Result<Vec<RejectInfo>> {
    guard(|| {
        Ok(RejectCode::ALL
            .iter()
            .map(|c| RejectInfo {
                name: c.name().to_owned(),
                code: c.code(),
                description: c.description().to_owned(),
                retryable: c.is_retryable(),
            })
            .collect())
    })
}

/// One kind of error, from the core's table: a stable number and name.
#[napi(object)]
pub struct ErrorKind {
    pub number: u32,
    pub name: String,
}

/// Every kind of error a `BizraError` can have (`error.kind`), from the core's table
/// (`ERROR_KINDS` in `index.js`).
#[napi(skip_typescript)]
pub fn error_kinds() -> Result<Vec<ErrorKind>> {
    guard(|| {
        Ok(bizra::ErrorKind::ALL
            .iter()
            .map(|k| ErrorKind {
                number: k.number(),
                name: k.name().to_owned(),
            })
            .collect())
    })
}

/// The core library's version.
#[napi]
pub fn version() -> Result<String> {
    guard(|| Ok(bizra::VERSION.to_owned()))
}

// ---------------------------------------------------------------------------------------------
// Small conversions

/// A `Date` out.
pub struct DateOut(f64);

impl TypeName for DateOut {
    fn type_name() -> &'static str {
        "Date"
    }
    fn value_type() -> ValueType {
        ValueType::Object
    }
}

impl ToNapiValue for DateOut {
    unsafe fn to_napi_value(env: sys::napi_env, val: Self) -> napi::Result<sys::napi_value> {
        let mut out = ptr::null_mut();
        let status = unsafe { sys::napi_create_date(env, val.0, &mut out) };
        if status == sys::Status::napi_ok {
            Ok(out)
        } else {
            Err(napi::Error::new(
                napi::Status::GenericFailure,
                "cannot create a Date",
            ))
        }
    }
}

fn date_out(t: Timestamp) -> DateOut {
    DateOut(t.unix_millis() as f64)
}

/// A `Date` (or absent/undefined) in, as a core timestamp.
fn date_in(env: sys::napi_env, raw: sys::napi_value, what: &str) -> Result<Option<Timestamp>> {
    let mut ty = 0;
    if unsafe { sys::napi_typeof(env, raw, &mut ty) } != sys::Status::napi_ok {
        return Err(type_err(format!("{what}: cannot read the value")));
    }
    if ValueType::from(ty) == ValueType::Undefined {
        return Ok(None);
    }
    let mut is_date = false;
    if unsafe { sys::napi_is_date(env, raw, &mut is_date) } != sys::Status::napi_ok || !is_date {
        return Err(type_err(format!("{what} must be a Date")));
    }
    let mut ms = 0f64;
    if unsafe { sys::napi_get_date_value(env, raw, &mut ms) } != sys::Status::napi_ok {
        return Err(type_err(format!("{what}: cannot read the Date")));
    }
    if !ms.is_finite() {
        return Err(type_err(format!("{what} is an invalid Date")));
    }
    Timestamp::from_unix_millis(ms.floor() as i64)
        .map(Some)
        .ok_or_else(|| type_err(format!("{what} lies outside the years 0000–9999")))
}

fn get_field(obj: &Object, name: &str) -> Result<Option<sys::napi_value>> {
    let v: Unknown = obj.get_named_property(name).map_err(napi_err)?;
    if v.get_type().map_err(napi_err)? == ValueType::Undefined {
        Ok(None)
    } else {
        Ok(Some(v.raw()))
    }
}

fn opt_date(env: &Env, obj: Option<&Object>, name: &str) -> Result<Option<Timestamp>> {
    match obj {
        None => Ok(None),
        Some(o) => match get_field(o, name)? {
            None => Ok(None),
            Some(raw) => date_in(env.raw(), raw, &format!("options.{name}")),
        },
    }
}

fn opt_number(env: &Env, obj: &Object, name: &str) -> Result<Option<f64>> {
    get_field(obj, name)?.map_or(Ok(None), |raw| number_in(env, raw, name))
}

fn opt_string(env: &Env, obj: &Object, name: &str) -> Result<Option<String>> {
    get_field(obj, name)?.map_or(Ok(None), |raw| string_in(env, raw, name))
}

/// A number argument; `undefined` is absent.
fn number_in(env: &Env, raw: sys::napi_value, what: &str) -> Result<Option<f64>> {
    match type_of(env, raw) {
        ValueType::Undefined => Ok(None),
        ValueType::Number => Ok(Some(
            unsafe { f64::from_napi_value(env.raw(), raw) }.map_err(napi_err)?,
        )),
        _ => Err(type_err(format!("{what} must be a number"))),
    }
}

/// A string argument (strictly Unicode); `undefined` is absent.
fn string_in(env: &Env, raw: sys::napi_value, what: &str) -> Result<Option<String>> {
    match type_of(env, raw) {
        ValueType::Undefined => Ok(None),
        ValueType::String => js_string(env.raw(), raw)
            .map(Some)
            .map_err(|e| e.into_error(what)),
        _ => Err(type_err(format!("{what} must be a string"))),
    }
}

fn type_of(env: &Env, raw: sys::napi_value) -> ValueType {
    let mut ty = 0;
    if unsafe { sys::napi_typeof(env.raw(), raw, &mut ty) } != sys::Status::napi_ok {
        return ValueType::Unknown;
    }
    ValueType::from(ty)
}

fn hash32(text: &str, what: &str) -> Result<[u8; 32]> {
    from_hex::<32>(text)
        .ok_or_else(|| type_err(format!("{what} must be 64 lowercase hex characters")))
}

fn to_hex(b: &[u8]) -> String {
    bizra::hash::to_hex(b)
}

fn options_object(env: &Env, options: Option<Unknown>) -> Result<Option<Object<'static>>> {
    match options {
        None => Ok(None),
        Some(u) => match u.get_type().map_err(napi_err)? {
            ValueType::Undefined | ValueType::Null => Ok(None),
            ValueType::Object => Ok(Some(Object::from_raw(env.raw(), u.raw()))),
            _ => Err(type_err("options must be an object")),
        },
    }
}

// ---------------------------------------------------------------------------------------------
// Identity

/// An Ed25519 node identity. The secret never leaves except through `toPem`/`save`.
#[napi]
pub struct Identity {
    inner: bizra::Identity,
}

#[napi]
impl Identity {
    /// A fresh identity from the operating system's CSPRNG.
    #[napi(factory)]
    pub fn generate() -> Result<Identity> {
        guard(|| {
            Ok(Identity {
                inner: bizra::Identity::generate(),
            })
        })
    }

    /// The identity of a 32-byte seed.
    #[napi(factory)]
    pub fn from_seed(seed: Uint8Array) -> Result<Identity> {
        guard(|| {
            Ok(Identity {
                inner: bizra::Identity::from_seed(&seed).map_err(core_err)?,
            })
        })
    }

    /// Imports PKCS#8 PEM (plain, or encrypted with `passphrase`) or a bare 64-hex seed.
    #[napi(factory)]
    pub fn from_pem(pem: String, passphrase: Option<String>) -> Result<Identity> {
        guard(|| {
            Ok(Identity {
                inner: bizra::Identity::from_pem(&pem, passphrase.as_deref()).map_err(core_err)?,
            })
        })
    }

    /// Reads a key file written by `save`, `openssl genpkey`, or holding a 64-hex seed.
    #[napi(factory)]
    pub fn load(path: String, passphrase: Option<String>) -> Result<Identity> {
        guard(|| {
            Ok(Identity {
                inner: bizra::Identity::load(&path, passphrase.as_deref()).map_err(core_err)?,
            })
        })
    }

    /// The node id: lowercase hex of the public key's first 16 bytes.
    #[napi(getter)]
    pub fn node_id(&self) -> Result<String> {
        guard(|| Ok(self.inner.node_id().to_owned()))
    }

    /// `node_` and the first 8 characters of the node id.
    #[napi(getter)]
    pub fn display_id(&self) -> Result<String> {
        guard(|| Ok(self.inner.display_id()))
    }

    /// The 32-byte public key.
    #[napi(getter)]
    pub fn public_key(&self) -> Result<Buffer> {
        guard(|| Ok(Buffer::from(self.inner.public_key().to_vec())))
    }

    /// The public key as 64 lowercase hex characters.
    #[napi(getter)]
    pub fn public_key_hex(&self) -> Result<String> {
        guard(|| Ok(self.inner.public_key_hex()))
    }

    /// Signs a free-form message: Ed25519 over `H("bizra-msg-v1:", message)`.
    #[napi]
    pub fn sign(&self, message: Uint8Array) -> Result<Buffer> {
        guard(|| Ok(Buffer::from(self.inner.sign_message(&message).to_vec())))
    }

    /// PKCS#8 PEM; encrypted PKCS#8 (PBES2) with a passphrase.
    #[napi]
    pub fn to_pem(&self, passphrase: Option<String>) -> Result<String> {
        guard(|| {
            Ok(self
                .inner
                .to_pem(passphrase.as_deref())
                .map_err(core_err)?
                .to_string())
        })
    }

    /// Writes the key atomically (mode 0600), encrypted with a passphrase. An existing file is
    /// refused (`IO`; a lost node key cannot be recovered) unless `overwrite` is true.
    #[napi(
        ts_args_type = "path: string, passphrase?: string | null, options?: { overwrite?: boolean }"
    )]
    pub fn save(
        &self,
        env: Env,
        path: String,
        passphrase: Option<String>,
        options: Option<Unknown>,
    ) -> Result<()> {
        guard(|| {
            let o = options_object(&env, options)?;
            let overwrite = match &o {
                Some(o) => match get_field(o, "overwrite")? {
                    None => false,
                    Some(raw) => match type_of(&env, raw) {
                        ValueType::Boolean => {
                            unsafe { bool::from_napi_value(env.raw(), raw) }.map_err(napi_err)?
                        }
                        _ => return Err(type_err("options.overwrite must be a boolean")),
                    },
                },
                None => false,
            };
            let saved = if overwrite {
                self.inner.save_overwriting(&path, passphrase.as_deref())
            } else {
                self.inner.save(&path, passphrase.as_deref())
            };
            saved.map_err(core_err)
        })
    }

    /// `Identity(node_xxxxxxxx)`; never the secret.
    #[napi(js_name = "toString")]
    pub fn to_js_string(&self) -> Result<String> {
        guard(|| Ok(format!("Identity({})", self.inner.display_id())))
    }
}

/// Verifies a message signature made by `Identity.sign` (strict Ed25519). Wrong lengths, a bad
/// key or a non-canonical signature give `false`.
#[napi(ts_args_type = "publicKey: Uint8Array | string, message: Uint8Array, signature: Uint8Array")]
pub fn verify_message(
    public_key: Either<Uint8Array, String>,
    message: Uint8Array,
    signature: Uint8Array,
) -> Result<bool> {
    guard(|| {
        let key: Vec<u8> = match &public_key {
            Either::A(bytes) => bytes.to_vec(),
            Either::B(hex) => match from_hex::<32>(hex) {
                Some(k) => k.to_vec(),
                None => return Ok(false),
            },
        };
        Ok(bizra::verify_message(&key, &message, &signature))
    })
}

// ---------------------------------------------------------------------------------------------
// Envelope

/// A PCI envelope (tests/vectors/PCI-v1.md), immutable.
#[napi]
pub struct Envelope {
    /// Shared, so that a batch verified on worker threads holds the envelopes without copying them.
    inner: Arc<bizra::Envelope>,
}

impl From<bizra::Envelope> for Envelope {
    fn from(e: bizra::Envelope) -> Self {
        Envelope { inner: Arc::new(e) }
    }
}

fn scores_js(s: &bizra::Scores) -> Scores {
    Scores {
        snr: s.snr,
        ihsan: s.ihsan,
    }
}

/// Quality scores, each in [0, 1].
#[napi(object)]
pub struct Scores {
    pub snr: Option<f64>,
    pub ihsan: Option<f64>,
}

// `Envelope.create`, the hot path: a plain N-API callback. napi-rs's generated glue opens a
// native-borrow scope on every call (an `Arc<Mutex<..>>`, a thread-local push, a release) and
// converts each optional argument on its own; this reads its ten arguments in one
// `napi_get_cb_info` and does only what `create` needs (~0.2 µs of ~20, see `make bench-node`).
// `index.js` fetches it once (`__envelopeCreate`), hands the payload over encoded (`text` and
// `tape`, see `json.rs`) and unpacks `options` into the trailing positional arguments: V8 reads
// both there through inline caches, where N-API would pay a property lookup per key. Its types
// are in `dts-header.d.ts` (`Envelope.create`).

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
        return Err(err(
            "INTERNAL",
            format!("napi_create_function failed ({status})"),
        ));
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
            return Err(err(
                "INTERNAL",
                format!("napi_get_cb_info failed ({status})"),
            ));
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

/// An optional argument: `None` for `undefined` and `null`.
fn given(env: &Env, raw: sys::napi_value) -> Option<sys::napi_value> {
    match type_of(env, raw) {
        ValueType::Undefined | ValueType::Null => None,
        _ => Some(raw),
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

fn create_envelope(env: &Env, args: &[sys::napi_value; 10]) -> Result<Envelope> {
    let [identity, text, tape, ttl, provenance, snr, ihsan, policy, timestamp, id] = *args;
    let identity = identity_of(env, unsafe {
        Unknown::from_raw_unchecked(env.raw(), identity)
    })?;
    let value = json::decode(env.raw(), text, tape, "payload")?;
    let mut o = bizra::EnvelopeOptions::default();
    if let Some(ttl) = optional(env, ttl, |raw| number_in(env, raw, "ttl"))? {
        if ttl.fract() != 0.0 || ttl.abs() > 9.0e15 {
            return Err(type_err(format!(
                "ttl must be an integer number of seconds, got {ttl}"
            )));
        }
        o.ttl = Some(ttl as i64);
    }
    if let Some(raw) = given(env, provenance) {
        o.provenance = provenance_in(env, raw)?;
    }
    o.scores.snr = optional(env, snr, |raw| number_in(env, raw, "scores.snr"))?;
    o.scores.ihsan = optional(env, ihsan, |raw| number_in(env, raw, "scores.ihsan"))?;
    if let Some(raw) = given(env, policy) {
        o.policy = Some(policy_in(env, raw, "policy")?);
    }
    o.timestamp = optional(env, timestamp, |raw| date_in(env.raw(), raw, "timestamp"))?;
    o.id = optional(env, id, |raw| string_in(env, raw, "id"))?;
    bizra::Envelope::create_with(&identity.inner, value, o)
        .map(Envelope::from)
        .map_err(core_err)
}

/// A provenance argument: an array of envelope ids or `Envelope`s (which stand for their ids), so
/// a caller can pass the envelopes it answers.
fn provenance_in(env: &Env, raw: sys::napi_value) -> Result<Vec<String>> {
    let mut is_array = false;
    unsafe { sys::napi_is_array(env.raw(), raw, &mut is_array) };
    if !is_array {
        return Err(type_err(
            "provenance must be an array of envelope ids or Envelopes",
        ));
    }
    let array = unsafe { Array::from_napi_value(env.raw(), raw) }.map_err(napi_err)?;
    (0..array.len())
        .map(|i| {
            let item: Unknown = array.get(i).map_err(napi_err)?.ok_or_else(|| {
                type_err(format!(
                    "provenance[{i}] must be an envelope id or an Envelope"
                ))
            })?;
            match item.get_type().map_err(napi_err)? {
                ValueType::String => string_in(env, item.raw(), &format!("provenance[{i}]"))
                    .map(Option::unwrap_or_default),
                ValueType::Object => {
                    unsafe { ClassInstance::<Envelope>::from_napi_value(env.raw(), item.raw()) }
                        .map(|e| e.inner.id().to_owned())
                        .map_err(|_| {
                            type_err(format!(
                                "provenance[{i}] must be an envelope id or an Envelope"
                            ))
                        })
                }
                _ => Err(type_err(format!(
                    "provenance[{i}] must be an envelope id or an Envelope"
                ))),
            }
        })
        .collect()
}

/// A policy argument: a constitution hash (64 lowercase hex) or a `Constitution`, which stands
/// for its hash.
fn policy_in(env: &Env, raw: sys::napi_value, what: &str) -> Result<[u8; 32]> {
    match type_of(env, raw) {
        ValueType::String => hash32(&string_in(env, raw, what)?.unwrap_or_default(), what),
        ValueType::Object => {
            unsafe { ClassInstance::<Constitution>::from_napi_value(env.raw(), raw) }
                .map(|c| *c.inner.hash())
                .map_err(|_| type_err(format!("{what} must be a hash (64 hex) or a Constitution")))
        }
        _ => Err(type_err(format!(
            "{what} must be a hash (64 hex) or a Constitution"
        ))),
    }
}

/// The verification options of `verify`, `verifyBatch` and `Envelope.open`.
struct VerifyArgs {
    now: Option<Timestamp>,
    policy: Option<[u8; 32]>,
    replay: Option<Arc<bizra::ReplayCache>>,
}

impl VerifyArgs {
    fn read(env: &Env, options: Option<Unknown>) -> Result<Self> {
        let o = options_object(env, options)?;
        let Some(o) = o else {
            return Ok(VerifyArgs {
                now: None,
                policy: None,
                replay: None,
            });
        };
        Ok(VerifyArgs {
            now: opt_date(env, Some(&o), "now")?,
            policy: get_field(&o, "policy")?
                .map(|raw| policy_in(env, raw, "options.policy"))
                .transpose()?,
            replay: replay_field(&o)?,
        })
    }

    fn options(&self) -> bizra::VerifyOptions<'_> {
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

    /// The canonical (JCS) JSON text of the envelope.
    #[napi]
    pub fn to_json(&self) -> Result<String> {
        guard(|| Ok(self.inner.to_json()))
    }

    /// `JSON.stringify(envelope)` support: the envelope as a plain object.
    #[napi(js_name = "toJSON", ts_return_type = "Record<string, unknown>")]
    pub fn to_json_value(&self) -> Result<Value> {
        guard(|| {
            bizra::canonical::parse(&self.inner.to_json())
                .map_err(|e| err("INTERNAL", e.to_string()))
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

    /// Parses and verifies envelope text (or UTF-8 bytes) in one call and returns the verified
    /// envelope; the first failing step throws, as `parse` then `verify` would.
    #[napi(
        factory,
        ts_args_type = "text: string | Uint8Array, options?: VerifyOptions"
    )]
    pub fn open(env: Env, text: Unknown, options: Option<Unknown>) -> Result<Envelope> {
        let envelope = Envelope::parse(env, text)?;
        envelope.verify(env, options)?;
        Ok(envelope)
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
        guard(|| Ok(scores_js(self.inner.scores())))
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

fn replay_field(o: &Object) -> Result<Option<Arc<bizra::ReplayCache>>> {
    match get_field(o, "replay")? {
        None => Ok(None),
        Some(raw) => {
            let cache =
                unsafe { ClassInstance::<ReplayCache>::from_napi_value(o.value().env, raw) }
                    .map_err(|_| type_err("options.replay must be a ReplayCache"))?;
            Ok(Some(cache.inner.clone()))
        }
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

// ---------------------------------------------------------------------------------------------
// Batch verification (off the main thread)

pub struct VerifyBatchTask {
    envelopes: Vec<Arc<bizra::Envelope>>,
    args: VerifyArgs,
}

impl Task for VerifyBatchTask {
    type Output = Vec<u32>;
    type JsValue = Vec<u32>;

    fn compute(&mut self) -> napi::Result<Self::Output> {
        let run = || {
            bizra::verify_batch(&self.envelopes, &self.args.options())
                .into_iter()
                .map(|r| match r {
                    Ok(()) => 0,
                    Err(e) => e.reject_code().unwrap_or(RejectCode::Internal).code(),
                })
                .collect()
        };
        catch_unwind(AssertUnwindSafe(run)).map_err(|p| {
            napi::Error::new(
                napi::Status::GenericFailure,
                format!("PANIC: internal error (Rust panic): {}", panic_text(&p)),
            )
        })
    }

    fn resolve(&mut self, _env: Env, output: Self::Output) -> napi::Result<Self::JsValue> {
        Ok(output)
    }
}

/// Verifies many envelopes on worker threads; resolves to one code per envelope (0 = valid, else
/// the spec's reject code), each exactly what `envelope.verify` would give.
#[napi(
    ts_args_type = "envelopes: Envelope[], options?: VerifyOptions",
    ts_return_type = "Promise<number[]>"
)]
pub fn verify_batch(
    env: Env,
    envelopes: Vec<ClassInstance<Envelope>>,
    options: Option<Unknown>,
) -> Result<AsyncTask<VerifyBatchTask>> {
    guard(|| {
        let args = VerifyArgs::read(&env, options)?;
        let envelopes = envelopes.iter().map(|e| e.inner.clone()).collect();
        Ok(AsyncTask::new(VerifyBatchTask { envelopes, args }))
    })
}

// ---------------------------------------------------------------------------------------------
// ReplayCache

/// Remembers admitted envelope ids until their envelopes expire; bounded; thread-safe.
#[napi]
pub struct ReplayCache {
    inner: Arc<bizra::ReplayCache>,
}

#[napi]
impl ReplayCache {
    /// A cache of at most `capacity` live ids (at least 1; default: the core's, 100 000).
    #[napi(constructor)]
    pub fn new(capacity: Option<u32>) -> Result<Self> {
        guard(|| {
            let cache = match capacity {
                None => bizra::ReplayCache::default(),
                Some(c) => bizra::ReplayCache::new(c as usize).map_err(core_err)?,
            };
            Ok(ReplayCache {
                inner: Arc::new(cache),
            })
        })
    }
    #[napi(getter)]
    pub fn capacity(&self) -> Result<u32> {
        guard(|| Ok(u32::try_from(self.inner.capacity()).unwrap_or(u32::MAX)))
    }
    /// Ids held now (expired ones may linger until a later `now` is seen).
    #[napi(getter)]
    pub fn size(&self) -> Result<u32> {
        guard(|| Ok(u32::try_from(self.inner.len()).unwrap_or(u32::MAX)))
    }
    /// Whether `id` was admitted and is still valid at `now` (default: the system clock).
    #[napi(ts_args_type = "id: string, now?: Date")]
    pub fn has(&self, env: Env, id: String, now: Option<Unknown>) -> Result<bool> {
        guard(|| {
            let now = match now {
                Some(u) => date_in(env.raw(), u.raw(), "now")?,
                None => None,
            };
            Ok(self.inner.contains(&id, now.unwrap_or_else(Timestamp::now)))
        })
    }
    /// Records `id` valid until `expiresAt`; throws `REPLAY` (12) if held, `QUOTA` (40) if full.
    #[napi(ts_args_type = "id: string, expiresAt: Date, now?: Date")]
    pub fn admit(
        &self,
        env: Env,
        id: String,
        expires_at: Unknown,
        now: Option<Unknown>,
    ) -> Result<()> {
        guard(|| {
            let exp = date_in(env.raw(), expires_at.raw(), "expiresAt")?
                .ok_or_else(|| type_err("expiresAt must be a Date"))?;
            let now = match now {
                Some(u) => date_in(env.raw(), u.raw(), "now")?,
                None => None,
            };
            self.inner
                .admit(&id, exp, now.unwrap_or_else(Timestamp::now))
                .map_err(core_err)
        })
    }
    /// Drops every id whose envelope has expired at `now`.
    #[napi(ts_args_type = "now?: Date")]
    pub fn purge_expired(&self, env: Env, now: Option<Unknown>) -> Result<()> {
        guard(|| {
            let now = match now {
                Some(u) => date_in(env.raw(), u.raw(), "now")?,
                None => None,
            };
            self.inner.purge_expired(now.unwrap_or_else(Timestamp::now));
            Ok(())
        })
    }
}

// ---------------------------------------------------------------------------------------------
// Constitution

/// A validated constitution: thresholds, rules and its hash (the envelope's `policy`).
#[napi]
pub struct Constitution {
    inner: Arc<bizra::Constitution>,
}

/// One rule of a constitution.
#[napi(object)]
pub struct Rule {
    pub id: String,
    pub name: String,
    pub description: String,
    /// `"strict"` or `"advisory"`.
    pub enforcement: String,
    pub penalty: String,
}

/// What the compliance check judges.
#[napi(object)]
pub struct ComplianceInput {
    pub snr: Option<f64>,
    pub ihsan: Option<f64>,
    pub has_signature: bool,
    pub has_provenance: bool,
}

/// The verdict on one rule.
#[napi(object)]
pub struct RuleOutcome {
    pub id: String,
    pub enforcement: String,
    pub passed: bool,
    pub value: Option<f64>,
    pub threshold: Option<f64>,
    pub detail: String,
}

/// The verdict of `Constitution.check`.
#[napi(object)]
pub struct ComplianceReport {
    pub compliant: bool,
    pub rules: Vec<RuleOutcome>,
}

fn enforcement_name(e: &bizra::constitution::Enforcement) -> String {
    format!("{e:?}").to_lowercase()
}

#[napi]
impl Constitution {
    /// The embedded default constitution (tests/vectors/constitution-v1.json).
    #[napi(factory, js_name = "default")]
    pub fn default_constitution() -> Result<Constitution> {
        guard(|| {
            Ok(Constitution {
                inner: Arc::new(bizra::Constitution::default_ref().clone()),
            })
        })
    }
    /// Parses and validates constitution JSON.
    #[napi(factory)]
    pub fn from_json(text: String) -> Result<Constitution> {
        guard(|| {
            Ok(Constitution {
                inner: Arc::new(bizra::Constitution::from_json(&text).map_err(core_err)?),
            })
        })
    }
    /// Reads and validates a constitution file.
    #[napi(factory)]
    pub fn load(path: String) -> Result<Constitution> {
        guard(|| {
            Ok(Constitution {
                inner: Arc::new(bizra::Constitution::load(&path).map_err(core_err)?),
            })
        })
    }
    /// `H("bizra-constitution-v1:", JCS(constitution))`, 64 lowercase hex.
    #[napi(getter)]
    pub fn hash(&self) -> Result<String> {
        guard(|| Ok(self.inner.hash_hex()))
    }
    #[napi(getter)]
    pub fn version(&self) -> Result<String> {
        guard(|| Ok(self.inner.version().to_owned()))
    }
    #[napi(getter)]
    pub fn ihsan_minimum(&self) -> Result<f64> {
        guard(|| Ok(self.inner.ihsan_minimum()))
    }
    #[napi(getter)]
    pub fn ihsan_target(&self) -> Result<f64> {
        guard(|| Ok(self.inner.ihsan_target()))
    }
    #[napi(getter)]
    pub fn snr_threshold(&self) -> Result<f64> {
        guard(|| Ok(self.inner.snr_threshold()))
    }
    #[napi(getter)]
    pub fn max_ttl_seconds(&self) -> Result<i64> {
        guard(|| Ok(self.inner.max_ttl_seconds()))
    }
    #[napi(getter)]
    pub fn max_clock_skew_seconds(&self) -> Result<i64> {
        guard(|| Ok(self.inner.max_clock_skew_seconds()))
    }
    #[napi(getter)]
    pub fn rules(&self) -> Result<Vec<Rule>> {
        guard(|| {
            Ok(self
                .inner
                .rules()
                .iter()
                .map(|r| Rule {
                    id: r.id.clone(),
                    name: r.name.clone(),
                    description: r.description.clone(),
                    enforcement: enforcement_name(&r.enforcement),
                    penalty: r.penalty.clone(),
                })
                .collect())
        })
    }
    /// Approvals a federation decision needs among `n` validators: floor(2n/3)+1.
    #[napi]
    pub fn quorum(n: u32) -> Result<u32> {
        guard(|| Ok(u32::try_from(bizra::Constitution::quorum(n as usize)).unwrap_or(u32::MAX)))
    }
    /// Judges an output against every rule (missing scores fail: fail-closed).
    #[napi]
    pub fn check(&self, input: ComplianceInput) -> Result<ComplianceReport> {
        guard(|| {
            let r = self.inner.check(&bizra::ComplianceInput {
                snr: input.snr,
                ihsan: input.ihsan,
                has_signature: input.has_signature,
                has_provenance: input.has_provenance,
            });
            Ok(ComplianceReport {
                compliant: r.compliant,
                rules: r
                    .rules
                    .into_iter()
                    .map(|o| RuleOutcome {
                        id: o.id,
                        enforcement: enforcement_name(&o.enforcement),
                        passed: o.passed,
                        value: o.value,
                        threshold: o.threshold,
                        detail: o.detail,
                    })
                    .collect(),
            })
        })
    }
}

// ---------------------------------------------------------------------------------------------
// GateChain with JavaScript gates

thread_local! {
  /// The env of the `GateChain.check` call running on this thread, for JavaScript gates.
  static CURRENT_ENV: Cell<sys::napi_env> = const { Cell::new(ptr::null_mut()) };
}

struct EnvScope(sys::napi_env);

impl EnvScope {
    fn enter(env: sys::napi_env) -> Self {
        Self(CURRENT_ENV.with(|c| c.replace(env)))
    }
}

impl Drop for EnvScope {
    fn drop(&mut self) {
        CURRENT_ENV.with(|c| c.set(self.0));
    }
}

/// A JavaScript function as a core gate. It runs synchronously on the JavaScript thread inside
/// `GateChain.check`/`admit` (which are synchronous); from any other thread it refuses.
struct JsGate {
    name: String,
    tier: GateTier,
    func: FunctionRef<FnArgs<(Envelope, DateOut)>, Unknown<'static>>,
    owner: ThreadId,
}

impl bizra::Gate for JsGate {
    fn name(&self) -> &str {
        &self.name
    }
    fn tier(&self) -> GateTier {
        self.tier
    }
    fn check(&self, ctx: &GateContext<'_>) -> std::result::Result<(), String> {
        if thread::current().id() != self.owner {
            return Err("a JavaScript gate runs only on its JavaScript thread".to_owned());
        }
        let raw_env = CURRENT_ENV.with(|c| c.get());
        if raw_env.is_null() {
            return Err("a JavaScript gate runs only inside GateChain.check or admit".to_owned());
        }
        let env = Env::from_raw(raw_env);
        let f = self.func.borrow_back(&env).map_err(|e| e.reason.clone())?;
        let arg = Envelope::from(ctx.envelope.clone());
        let ret = f.call((arg, date_out(ctx.now)).into()).map_err(|e| {
            if e.reason.is_empty() {
                "the gate threw".to_owned()
            } else {
                format!("the gate threw: {}", e.reason)
            }
        })?;
        match ret.get_type().map_err(|e| e.reason.clone())? {
            // `undefined`: a gate that returns nothing admits, as in every binding.
            ValueType::Undefined => Ok(()),
            ValueType::Boolean => {
                let ok = unsafe { bool::from_napi_value(raw_env, ret.raw()) }
                    .map_err(|e| e.reason.clone())?;
                if ok {
                    Ok(())
                } else {
                    Err("refused".to_owned())
                }
            }
            ValueType::String => Err(unsafe { String::from_napi_value(raw_env, ret.raw()) }
                .map_err(|e| e.reason.clone())?),
            other => Err(format!(
                "a gate returns true or nothing (admit), or false or a reason string (refuse); \
                 it returned {other:?} (fail-closed)"
            )),
        }
    }
}

/// One gate's verdict.
#[napi(object)]
pub struct GateResult {
    pub name: String,
    /// `"cheap"`, `"medium"` or `"expensive"`.
    pub tier: String,
    pub passed: bool,
    /// The reject name when it refused, such as `"GATE_SNR"`.
    pub code: Option<String>,
    /// The spec's reject number when it refused.
    pub reject: Option<u32>,
    pub detail: Option<String>,
    pub duration_ms: f64,
    pub over_budget: bool,
}

/// A chain's verdict: every gate that ran, in order.
#[napi(object)]
pub struct GateReport {
    pub passed: bool,
    /// The first refusal's reject name.
    pub code: Option<String>,
    /// The first refusal's reject number.
    pub reject: Option<u32>,
    pub results: Vec<GateResult>,
}

/// An ordered, tiered, fail-closed set of gates over one constitution.
#[napi]
pub struct GateChain {
    inner: bizra::GateChain,
    constitution: Arc<bizra::Constitution>,
}

fn builtin_kind(name: &str) -> Result<BuiltinKind> {
    BuiltinKind::ALL
        .into_iter()
        .find(|k| k.name() == name)
        .ok_or_else(|| {
            let names: Vec<_> = BuiltinKind::ALL.iter().map(|k| k.name()).collect();
            type_err(format!(
                "unknown built-in gate {name:?}; one of {}",
                names.join(", ")
            ))
        })
}

fn gate_tier(name: &str) -> Result<GateTier> {
    [GateTier::Cheap, GateTier::Medium, GateTier::Expensive]
        .into_iter()
        .find(|t| t.name() == name)
        .ok_or_else(|| {
            type_err(format!(
                "unknown gate tier {name:?}; one of cheap, medium, expensive"
            ))
        })
}

fn constitution_arc(c: Option<&Constitution>) -> Arc<bizra::Constitution> {
    c.map_or_else(
        || Arc::new(bizra::Constitution::default_ref().clone()),
        |c| c.inner.clone(),
    )
}

#[napi]
impl GateChain {
    /// Every built-in gate over `constitution` (default: the embedded one).
    #[napi(constructor)]
    pub fn new(constitution: Option<&Constitution>) -> Result<Self> {
        guard(|| {
            let c = constitution_arc(constitution);
            Ok(GateChain {
                inner: bizra::GateChain::from_constitution(c.clone()),
                constitution: c,
            })
        })
    }
    /// A chain with no gates yet (it admits nothing until gates are added).
    #[napi(factory)]
    pub fn empty(constitution: Option<&Constitution>) -> Result<GateChain> {
        guard(|| {
            let c = constitution_arc(constitution);
            Ok(GateChain {
                inner: bizra::GateChain::empty(c.clone()),
                constitution: c,
            })
        })
    }
    /// Adds a built-in gate: `"schema"`, `"signature"`, `"freshness"`, `"replay"`, `"policy"`,
    /// `"snr"` or `"ihsan"`.
    #[napi]
    pub fn add_builtin(&mut self, kind: String) -> Result<()> {
        guard(|| {
            self.inner.add_builtin(builtin_kind(&kind)?);
            Ok(())
        })
    }
    /// Adds a JavaScript gate `check(envelope, now)`, run synchronously during `check`: it returns
    /// `true` to admit, `false` or a reason string to refuse (code 24, GATE_CUSTOM); a throw or any
    /// other return value refuses too (fail-closed).
    #[napi(
        ts_args_type = "name: string, tier: 'cheap' | 'medium' | 'expensive', check: (envelope: Envelope, now: Date) => boolean | string"
    )]
    pub fn add_gate(
        &mut self,
        env: Env,
        name: String,
        tier: String,
        check: Function<FnArgs<(Envelope, DateOut)>, Unknown<'static>>,
    ) -> Result<()> {
        guard(|| {
            let tier = gate_tier(&tier)?;
            if type_of(&env, check.raw()) != ValueType::Function {
                return Err(type_err(
                    "check must be a function (envelope, now) => boolean | string",
                ));
            }
            let func = check.create_ref().map_err(napi_err)?;
            self.inner.add_gate(Box::new(JsGate {
                name,
                tier,
                func,
                owner: thread::current().id(),
            }));
            Ok(())
        })
    }
    /// Makes the schema gate also validate payloads against a JSON Schema (refusals: code 20).
    #[napi(ts_args_type = "schema: unknown")]
    pub fn set_payload_schema(&mut self, env: Env, schema: Unknown) -> Result<()> {
        guard(|| {
            let v = json::from_js(env.raw(), schema.raw(), "schema")?;
            self.inner.set_payload_schema(&v).map_err(core_err)?;
            Ok(())
        })
    }
    /// Shares a replay cache (with other chains or with `envelope.verify`).
    #[napi]
    pub fn set_replay_cache(&mut self, cache: &ReplayCache) -> Result<()> {
        guard(|| {
            self.inner.set_replay_cache(cache.inner.clone());
            Ok(())
        })
    }
    /// The replay cache the replay gate uses.
    #[napi(getter)]
    pub fn replay_cache(&self) -> Result<ReplayCache> {
        guard(|| {
            Ok(ReplayCache {
                inner: self.inner.replay_cache().clone(),
            })
        })
    }
    /// Report mode: run every gate even after a failure.
    #[napi]
    pub fn set_report_all(&mut self, on: bool) -> Result<()> {
        guard(|| {
            self.inner.set_report_all(on);
            Ok(())
        })
    }
    /// The gates' names in the order they run.
    #[napi(getter)]
    pub fn gate_names(&self) -> Result<Vec<String>> {
        guard(|| Ok(self.inner.gate_names()))
    }
    /// The constitution whose thresholds apply.
    #[napi(getter)]
    pub fn constitution(&self) -> Result<Constitution> {
        guard(|| {
            Ok(Constitution {
                inner: self.constitution.clone(),
            })
        })
    }
    /// Judges an envelope (at `options.now`, default the system clock) without admitting it: the
    /// replay gate refuses ids already admitted but records nothing.
    #[napi(ts_args_type = "envelope: Envelope, options?: { now?: Date }")]
    pub fn check(
        &self,
        env: Env,
        envelope: &Envelope,
        options: Option<Unknown>,
    ) -> Result<GateReport> {
        guard(|| {
            let o = options_object(&env, options)?;
            let now = opt_date(&env, o.as_ref(), "now")?.unwrap_or_else(Timestamp::now);
            let _scope = EnvScope::enter(env.raw());
            Ok(report_js(self.inner.check_at(&envelope.inner, now)))
        })
    }
    /// Judges and admits an envelope: when every gate passes, its id is recorded (atomically: of
    /// two admissions of one envelope exactly one succeeds). Throws the first refusal as a
    /// `BizraError`.
    #[napi(ts_args_type = "envelope: Envelope, options?: { now?: Date }")]
    pub fn admit(&self, env: Env, envelope: &Envelope, options: Option<Unknown>) -> Result<()> {
        guard(|| {
            let o = options_object(&env, options)?;
            let now = opt_date(&env, o.as_ref(), "now")?.unwrap_or_else(Timestamp::now);
            let _scope = EnvScope::enter(env.raw());
            self.inner
                .admit_at(&envelope.inner, now)
                .into_result()
                .map_err(core_err)
        })
    }
}

fn report_js(r: bizra::GateReport) -> GateReport {
    let first = r.code();
    GateReport {
        passed: r.passed,
        code: first.map(|c| c.name().to_owned()),
        reject: first.map(|c| c.code()),
        results: r
            .results
            .into_iter()
            .map(|g| GateResult {
                name: g.name,
                tier: g.tier.name().to_owned(),
                passed: g.passed,
                code: g.code.map(|c| c.name().to_owned()),
                reject: g.code.map(|c| c.code()),
                detail: g.detail,
                duration_ms: g.duration.as_secs_f64() * 1000.0,
                over_budget: g.over_budget,
            })
            .collect(),
    }
}

// ---------------------------------------------------------------------------------------------
// Tiers and hardware

/// A tier decision and why it was made.
#[napi(object)]
pub struct TierDecision {
    /// `"simple"`, `"medium"`, `"complex"` or `"expert"`.
    pub complexity: String,
    /// `"edge"`, `"local"` or `"pool"`.
    pub tier: String,
    pub forced: bool,
    pub reason: String,
}

fn model_tier(name: &str) -> Result<ModelTier> {
    ModelTier::from_name(name).ok_or_else(|| {
        type_err(format!(
            "unknown model tier {name:?}; one of edge, local, pool"
        ))
    })
}

/// Estimates how demanding a task is: `"simple"`, `"medium"`, `"complex"` or `"expert"`.
#[napi]
pub fn estimate_complexity(prompt: String, max_tokens: u32) -> Result<String> {
    guard(|| {
        Ok(bizra::TaskComplexity::estimate(&prompt, max_tokens)
            .name()
            .to_owned())
    })
}

/// Chooses the model tier for a task; a forced tier (`"edge"`, `"local"`, `"pool"`) overrides.
#[napi]
pub fn select_tier(
    prompt: String,
    max_tokens: u32,
    forced: Option<String>,
) -> Result<TierDecision> {
    guard(|| {
        let forced = forced.as_deref().map(model_tier).transpose()?;
        let d = bizra::select_tier(&prompt, max_tokens, forced);
        Ok(TierDecision {
            complexity: d.complexity.name().to_owned(),
            tier: d.tier.name().to_owned(),
            forced: d.forced,
            reason: d.reason,
        })
    })
}

/// An NVIDIA GPU as `nvidia-smi` reports it.
#[napi(object)]
pub struct GpuInfo {
    pub name: String,
    pub memory_total_bytes: f64,
    pub memory_free_bytes: f64,
}

/// What this machine has.
#[napi]
pub struct HardwareProfile {
    inner: bizra::HardwareProfile,
}

#[napi]
impl HardwareProfile {
    /// Measures CPU cores, memory, free disk and NVIDIA GPUs.
    #[napi(factory)]
    pub fn detect() -> Result<HardwareProfile> {
        guard(|| {
            Ok(HardwareProfile {
                inner: bizra::HardwareProfile::detect(),
            })
        })
    }
    #[napi(getter)]
    pub fn cpu_cores(&self) -> Result<u32> {
        guard(|| Ok(u32::try_from(self.inner.cpu_cores).unwrap_or(u32::MAX)))
    }
    #[napi(getter)]
    pub fn logical_cpus(&self) -> Result<u32> {
        guard(|| Ok(u32::try_from(self.inner.logical_cpus).unwrap_or(u32::MAX)))
    }
    #[napi(getter)]
    pub fn ram_total_bytes(&self) -> Result<f64> {
        guard(|| Ok(self.inner.ram_total_bytes as f64))
    }
    #[napi(getter)]
    pub fn ram_available_bytes(&self) -> Result<f64> {
        guard(|| Ok(self.inner.ram_available_bytes as f64))
    }
    #[napi(getter)]
    pub fn disk_free_bytes(&self) -> Result<f64> {
        guard(|| Ok(self.inner.disk_free_bytes as f64))
    }
    #[napi(getter)]
    pub fn gpus(&self) -> Result<Vec<GpuInfo>> {
        guard(|| {
            Ok(self
                .inner
                .gpus
                .iter()
                .map(|g| GpuInfo {
                    name: g.name.clone(),
                    memory_total_bytes: g.memory_total_bytes as f64,
                    memory_free_bytes: g.memory_free_bytes as f64,
                })
                .collect())
        })
    }
    /// The largest tier this machine can serve itself (`null`: none).
    #[napi]
    pub fn max_local_tier(&self) -> Result<Option<String>> {
        guard(|| Ok(self.inner.max_local_tier().map(|t| t.name().to_owned())))
    }
    /// Whether this machine can serve `tier` itself.
    #[napi]
    pub fn can_serve(&self, tier: String) -> Result<bool> {
        guard(|| Ok(self.inner.can_serve(model_tier(&tier)?)))
    }
}

// ---------------------------------------------------------------------------------------------
// The Node-API version

/// Node reads this when it loads the addon. The experimental version opts into finalizers that
/// run during garbage collection, where they may only free native memory and release references
/// (every finalizer here does only that: napi-rs's class finalizer, `FunctionRef`, `JsRef`),
/// instead of waiting in a queue for a later turn of the event loop. With the queue, an
/// envelope's native memory (about 2 KiB) outlived its object until the loop turned: a
/// synchronous loop of `Envelope.create` grew the heap without bound, and each finalizer ran cold
/// (about 1 µs per envelope in `make bench-node`). It also means a reference may be made to any
/// value, so functions and objects are checked by type, never by a failing reference. The suite's
/// `gc.test.mjs` drops every kind of object under forced collections.
#[no_mangle]
pub extern "C" fn node_api_module_get_api_version_v1() -> i32 {
    i32::MAX // NAPI_VERSION_EXPERIMENTAL
}
