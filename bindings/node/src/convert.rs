//! Values in and out: dates, numbers, strings, hashes, node keys, arrays, abort signals, the
//! steps of an async iterator, and objects handed back as they are.
//!
//! Each reader takes the raw value and the name to use in its message (`ttl must be a number`),
//! reads `undefined` as absent and refuses every other wrong type with a `TypeError`. The small
//! ones are `#[inline]`: `Envelope.create`'s hot path calls them from another module, where the
//! compiler did not always inline them (about 1% of a create in `make bench-node`).

use std::ptr;

use bizra::hash::from_hex;
use bizra::Timestamp;
use napi::bindgen_prelude::*;
use napi::{sys, Env, ValueType};

use crate::errors::{napi_err, type_err, Result};
use crate::identity::identity_of;
use crate::json::js_string;

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

pub(crate) fn date_out(t: Timestamp) -> DateOut {
    DateOut(t.unix_millis() as f64)
}

/// A `Date` of Unix milliseconds (the federation's clock counts them).
pub(crate) fn date_ms(ms: i64) -> DateOut {
    DateOut(ms as f64)
}

/// A `Date` (or `undefined`) in, as a core timestamp.
#[inline]
pub(crate) fn date_in(env: &Env, raw: sys::napi_value, what: &str) -> Result<Option<Timestamp>> {
    if type_of(env, raw) == ValueType::Undefined {
        return Ok(None);
    }
    let mut is_date = false;
    if unsafe { sys::napi_is_date(env.raw(), raw, &mut is_date) } != sys::Status::napi_ok
        || !is_date
    {
        return Err(type_err(format!("{what} must be a Date")));
    }
    let mut ms = 0f64;
    if unsafe { sys::napi_get_date_value(env.raw(), raw, &mut ms) } != sys::Status::napi_ok {
        return Err(type_err(format!("{what}: cannot read the Date")));
    }
    if !ms.is_finite() {
        return Err(type_err(format!("{what} is an invalid Date")));
    }
    Timestamp::from_unix_millis(ms.floor() as i64)
        .map(Some)
        .ok_or_else(|| type_err(format!("{what} lies outside the years 0000–9999")))
}

/// An optional `Date` argument (`now`): the system clock when absent.
pub(crate) fn now_in(env: &Env, now: Option<Unknown>, what: &str) -> Result<Timestamp> {
    match now {
        Some(u) => Ok(date_in(env, u.raw(), what)?.unwrap_or_else(Timestamp::now)),
        None => Ok(Timestamp::now()),
    }
}

/// A number; `undefined` is absent.
#[inline]
pub(crate) fn number_in(env: &Env, raw: sys::napi_value, what: &str) -> Result<Option<f64>> {
    match type_of(env, raw) {
        ValueType::Undefined => Ok(None),
        ValueType::Number => Ok(Some(
            unsafe { f64::from_napi_value(env.raw(), raw) }.map_err(napi_err)?,
        )),
        _ => Err(type_err(format!("{what} must be a number"))),
    }
}

/// A whole number of seconds that the core range-checks (`ttl`); `undefined` is absent.
#[inline]
pub(crate) fn seconds_in(env: &Env, raw: sys::napi_value, what: &str) -> Result<Option<i64>> {
    match number_in(env, raw, what)? {
        None => Ok(None),
        Some(n) if n.fract() == 0.0 && n.abs() <= 9.0e15 => Ok(Some(n as i64)),
        Some(n) => Err(type_err(format!(
            "{what} must be a whole number of seconds, got {n}"
        ))),
    }
}

/// A whole number between 0 and 4294967295 (counts, sizes, seeds); `undefined` is absent.
pub(crate) fn u32_in(env: &Env, raw: sys::napi_value, what: &str) -> Result<Option<u32>> {
    match number_in(env, raw, what)? {
        None => Ok(None),
        Some(n) if n.fract() == 0.0 && (0.0..=f64::from(u32::MAX)).contains(&n) => {
            Ok(Some(n as u32))
        }
        Some(n) => Err(type_err(format!(
            "{what} must be a whole number between 0 and {}, got {n}",
            u32::MAX
        ))),
    }
}

/// A string (strictly Unicode); `undefined` is absent.
#[inline]
pub(crate) fn string_in(env: &Env, raw: sys::napi_value, what: &str) -> Result<Option<String>> {
    match type_of(env, raw) {
        ValueType::Undefined => Ok(None),
        ValueType::String => js_string(env.raw(), raw)
            .map(Some)
            .map_err(|e| e.into_error(what)),
        _ => Err(type_err(format!("{what} must be a string"))),
    }
}

/// A boolean; `undefined` is absent.
pub(crate) fn bool_in(env: &Env, raw: sys::napi_value, what: &str) -> Result<Option<bool>> {
    match type_of(env, raw) {
        ValueType::Undefined => Ok(None),
        ValueType::Boolean => Ok(Some(
            unsafe { bool::from_napi_value(env.raw(), raw) }.map_err(napi_err)?,
        )),
        _ => Err(type_err(format!("{what} must be a boolean"))),
    }
}

#[inline]
pub(crate) fn type_of(env: &Env, raw: sys::napi_value) -> ValueType {
    let mut ty = 0;
    if unsafe { sys::napi_typeof(env.raw(), raw, &mut ty) } != sys::Status::napi_ok {
        return ValueType::Unknown;
    }
    ValueType::from(ty)
}

/// An optional argument: `None` for `undefined` and `null`.
#[inline]
pub(crate) fn given(env: &Env, raw: sys::napi_value) -> Option<sys::napi_value> {
    match type_of(env, raw) {
        ValueType::Undefined | ValueType::Null => None,
        _ => Some(raw),
    }
}

/// An array, its items read in order by `item` (with their index); anything else is a
/// `TypeError`: "`what` must be `expected`".
pub(crate) fn array_in<T>(
    env: &Env,
    raw: sys::napi_value,
    what: &str,
    expected: &str,
    mut item: impl FnMut(u32, sys::napi_value) -> Result<T>,
) -> Result<Vec<T>> {
    let mut is_array = false;
    if unsafe { sys::napi_is_array(env.raw(), raw, &mut is_array) } != sys::Status::napi_ok
        || !is_array
    {
        return Err(type_err(format!("{what} must be {expected}")));
    }
    let array = unsafe { Array::from_napi_value(env.raw(), raw) }.map_err(napi_err)?;
    (0..array.len())
        .map(|i| {
            let value: Unknown = array
                .get(i)
                .map_err(napi_err)?
                .ok_or_else(|| type_err(format!("{what}[{i}] is missing")))?;
            item(i, value.raw())
        })
        .collect()
}

/// A vector: a `Float32Array` (as `Model.embed` gives it) or an array of numbers.
pub(crate) fn floats_in(env: &Env, value: Unknown, what: &str) -> Result<Vec<f32>> {
    let raw = value.raw();
    if let Ok(typed) = unsafe { Float32Array::from_napi_value(env.raw(), raw) } {
        return Ok(typed.to_vec());
    }
    array_in(
        env,
        raw,
        what,
        "a Float32Array or an array of numbers",
        |i, item| {
            number_in(env, item, &format!("{what}[{i}]"))?
                .map(|x| x as f32)
                .ok_or_else(|| type_err(format!("{what}[{i}] must be a number")))
        },
    )
}

/// A node's 32-byte public key: an `Identity` (its key), 32 bytes (a `Uint8Array` or `Buffer`,
/// as `identity.publicKey` gives it) or 64 hex characters (`identity.publicKeyHex`).
pub(crate) fn node_key_in(env: &Env, raw: sys::napi_value, what: &str) -> Result<[u8; 32]> {
    let wrong = || {
        type_err(format!(
            "{what} must be a node key: an Identity, 32 bytes or 64 hex characters"
        ))
    };
    match type_of(env, raw) {
        ValueType::String => hash32(&string_in(env, raw, what)?.unwrap_or_default(), what),
        ValueType::Object => {
            if let Ok(id) = identity_of(env, unsafe { Unknown::from_raw_unchecked(env.raw(), raw) })
            {
                return Ok(*id.inner.public_key());
            }
            let bytes =
                unsafe { Uint8Array::from_napi_value(env.raw(), raw) }.map_err(|_| wrong())?;
            <[u8; 32]>::try_from(&bytes[..]).map_err(|_| {
                type_err(format!(
                    "{what} must be 32 bytes (a node key), got {}",
                    bytes.len()
                ))
            })
        }
        _ => Err(wrong()),
    }
}

/// An `AbortSignal` (checked with `instanceof`, so a look-alike object is refused); `undefined`
/// is absent.
pub(crate) fn signal_in(
    env: &Env,
    raw: sys::napi_value,
    what: &str,
) -> Result<Option<Object<'static>>> {
    if type_of(env, raw) == ValueType::Undefined {
        return Ok(None);
    }
    let global = env.get_global().map_err(napi_err)?;
    let ctor: Unknown = global.get_named_property("AbortSignal").map_err(napi_err)?;
    let mut is = false;
    let status = unsafe { sys::napi_instanceof(env.raw(), raw, ctor.raw(), &mut is) };
    if status != sys::Status::napi_ok || !is {
        return Err(type_err(format!("{what} must be an AbortSignal")));
    }
    Ok(Some(Object::from_raw(env.raw(), raw)))
}

/// One step of an async iterator, `{ value, done }`: an item, or the end
/// (`{ value: undefined, done: true }`).
pub(crate) enum IterStep<T> {
    Item(T),
    Done,
}

impl<T: ToNapiValue> ToNapiValue for IterStep<T> {
    unsafe fn to_napi_value(env: sys::napi_env, val: Self) -> napi::Result<sys::napi_value> {
        let mut obj = Object::new(&Env::from_raw(env))?;
        match val {
            IterStep::Item(value) => {
                obj.set("value", value)?;
                obj.set("done", false)?;
            }
            IterStep::Done => {
                obj.set("value", ())?;
                obj.set("done", true)?;
            }
        }
        Ok(obj.raw())
    }
}

pub(crate) fn hash32(text: &str, what: &str) -> Result<[u8; 32]> {
    from_hex::<32>(text)
        .ok_or_else(|| type_err(format!("{what} must be 64 lowercase hex characters")))
}

pub(crate) fn to_hex(b: &[u8]) -> String {
    bizra::hash::to_hex(b)
}

/// An object made here and returned as is (a Promise, a `TokenStream`); every export that
/// returns one states its TypeScript type.
pub struct JsObject(pub(crate) sys::napi_value);

impl TypeName for JsObject {
    fn type_name() -> &'static str {
        "object"
    }
    fn value_type() -> ValueType {
        ValueType::Object
    }
}

impl ToNapiValue for JsObject {
    unsafe fn to_napi_value(_env: sys::napi_env, val: Self) -> napi::Result<sys::napi_value> {
        Ok(val.0)
    }
}
