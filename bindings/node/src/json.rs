//! JavaScript values → JSON, read from the tape that `index.js` writes.
//!
//! Walking a JavaScript value through N-API costs one call per key, per value and per string, and
//! an array of property names built for every object: for a 1 KiB payload that was about as much
//! as everything else `Envelope.create` does around the signature. So `index.js` walks the value
//! in JavaScript, where V8 reads properties through its inline caches, and hands over two things:
//! every string of the value (keys and string values, in document order) joined into one `text`,
//! and a `Float64Array` *tape* of its structure. This module reads them in two or three N-API
//! calls, applies every rule and writes every message: the JavaScript side only classifies.
//!
//! The tape: `tape[0]` is `text.length` (UTF-16 units); then, in pre-order, each value as its
//! [`tag`] and what follows the tag: NUMBER its value; STRING, and CLASS, the length of its piece
//! of `text` (for CLASS the piece is the class name); ARRAY its length, then its items; OBJECT its
//! member count, then per member the key's length and the member's value. The encoder stops at
//! the first value that is not JSON (UNDEFINED, BIGINT, FUNCTION, SYMBOL, CLASS, TOO_DEEP), so an
//! error tag is the last thing read. The tape is checked as it is read (a hand-made one gets an
//! error, never a panic or an over-read).

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::ptr;

use bizra::canonical::MAX_DEPTH;
use napi::bindgen_prelude::*;
use napi::{sys, Env};
use napi_derive::napi;
use serde_json::Value;

use crate::errors::{guard, type_err, Result};

/// The tape's tags (`jsonTape()` in JavaScript).
mod tag {
    pub const NULL: u8 = 0;
    pub const FALSE: u8 = 1;
    pub const TRUE: u8 = 2;
    pub const NUMBER: u8 = 3;
    pub const STRING: u8 = 4;
    pub const ARRAY: u8 = 5;
    pub const OBJECT: u8 = 6;
    pub const UNDEFINED: u8 = 7;
    pub const BIGINT: u8 = 8;
    pub const FUNCTION: u8 = 9;
    pub const SYMBOL: u8 = 10;
    pub const CLASS: u8 = 11;
    pub const TOO_DEEP: u8 = 12;
    pub const ALL: [(&str, u8); 13] = [
        ("NULL", NULL),
        ("FALSE", FALSE),
        ("TRUE", TRUE),
        ("NUMBER", NUMBER),
        ("STRING", STRING),
        ("ARRAY", ARRAY),
        ("OBJECT", OBJECT),
        ("UNDEFINED", UNDEFINED),
        ("BIGINT", BIGINT),
        ("FUNCTION", FUNCTION),
        ("SYMBOL", SYMBOL),
        ("CLASS", CLASS),
        ("TOO_DEEP", TOO_DEEP),
    ];
}

/// The tape's format for the encoder in `index.js`: every tag by name, and `MAX_DEPTH`.
#[napi(js_name = "jsonTape", skip_typescript)]
pub fn json_tape() -> Result<HashMap<String, u32>> {
    guard(|| {
        Ok(tag::ALL
            .iter()
            .map(|(name, t)| ((*name).to_owned(), u32::from(*t)))
            .chain([("MAX_DEPTH".to_owned(), MAX_DEPTH as u32)])
            .collect())
    })
}

thread_local! {
    /// `index.js`'s encoder, for JSON values the addon meets inside other arguments (options
    /// objects): one per env, kept for the env's life.
    static ENCODER: Cell<(sys::napi_env, sys::napi_ref)> =
        const { Cell::new((ptr::null_mut(), ptr::null_mut())) };
}

/// Registers `index.js`'s `encode(value) → [text, tape]`.
#[napi(js_name = "__setJsonEncoder", skip_typescript)]
pub fn set_json_encoder(env: Env, encoder: Unknown) -> Result<()> {
    guard(|| {
        let mut reference = ptr::null_mut();
        check(unsafe { sys::napi_create_reference(env.raw(), encoder.raw(), 1, &mut reference) })
            .map_err(|e| e.into_error("encoder"))?;
        let old = ENCODER.with(|c| c.replace((env.raw(), reference)));
        if old.0 == env.raw() && !old.1.is_null() {
            unsafe { sys::napi_delete_reference(env.raw(), old.1) };
        }
        Ok(())
    })
}

/// A JSON value given as a JavaScript value (inside an options object and the like): encoded by
/// `index.js`'s encoder, then decoded here.
pub(crate) fn from_js(env: sys::napi_env, raw: sys::napi_value, what: &str) -> Result<Value> {
    let encoded = (|| {
        let (owner, reference) = ENCODER.with(Cell::get);
        if owner != env || reference.is_null() {
            return Err(ConvErr::new(
                "the addon was loaded without its JavaScript layer (require the `bizra` package)",
            ));
        }
        let mut encoder = ptr::null_mut();
        check(unsafe { sys::napi_get_reference_value(env, reference, &mut encoder) })?;
        let mut this = ptr::null_mut();
        check(unsafe { sys::napi_get_undefined(env, &mut this) })?;
        let mut pair = ptr::null_mut();
        check(unsafe { sys::napi_call_function(env, this, encoder, 1, &raw, &mut pair) })?;
        let (mut text, mut tape) = (ptr::null_mut(), ptr::null_mut());
        check(unsafe { sys::napi_get_element(env, pair, 0, &mut text) })?;
        check(unsafe { sys::napi_get_element(env, pair, 1, &mut tape) })?;
        Ok((text, tape))
    })()
    .map_err(|e| e.into_error(what))?;
    decode(env, encoded.0, encoded.1, what)
}

/// The JSON value of an encoded `text` and `tape`; errors name `what` and the path inside it.
pub(crate) fn decode(
    env: sys::napi_env,
    text: sys::napi_value,
    tape: sys::napi_value,
    what: &str,
) -> Result<Value> {
    Decoder::new(env, text, tape)
        .and_then(|mut d| d.value(0))
        .map_err(|e| e.into_error(what))
}

/// The strings of the value: ASCII read as bytes (one N-API call, the common case), anything
/// else as UTF-16 (so that a lone surrogate is caught in the piece that holds it).
enum Text {
    Ascii(String),
    Utf16(Vec<u16>),
}

struct Decoder<'a> {
    tape: &'a [f64],
    at: usize,
    text: Text,
    /// Where the next piece of `text` starts (UTF-16 units).
    offset: usize,
}

const MALFORMED: &str = "malformed JSON tape (the addon is called through the `bizra` package)";

impl Decoder<'_> {
    fn new(
        env: sys::napi_env,
        text: sys::napi_value,
        tape: sys::napi_value,
    ) -> std::result::Result<Self, ConvErr> {
        let mut kind = 0;
        let mut len = 0usize;
        let mut data = ptr::null_mut();
        let mut buffer = ptr::null_mut();
        let mut byte_offset = 0usize;
        let status = unsafe {
            sys::napi_get_typedarray_info(
                env,
                tape,
                &mut kind,
                &mut len,
                &mut data,
                &mut buffer,
                &mut byte_offset,
            )
        };
        if status != sys::Status::napi_ok
            || kind != sys::TypedarrayType::float64_array
            || len == 0
            || data.is_null()
        {
            return Err(ConvErr::new(MALFORMED));
        }
        // SAFETY: V8 keeps the array's buffer alive while the handle `tape` is in scope (this
        // call), and nothing here runs JavaScript that could detach it.
        let tape: &[f64] = unsafe { std::slice::from_raw_parts(data.cast::<f64>(), len) };
        let units = whole(tape[0]).ok_or_else(|| ConvErr::new(MALFORMED))?;
        let text = if let Some(ascii) = ascii(env, text, units)? {
            Text::Ascii(ascii)
        } else {
            let utf16 = unsafe { Utf16String::from_napi_value(env, text) }?;
            if utf16.len() != units {
                return Err(ConvErr::new(MALFORMED));
            }
            Text::Utf16(utf16.to_vec())
        };
        Ok(Decoder {
            tape,
            at: 1,
            text,
            offset: 0,
        })
    }

    fn item(&mut self) -> std::result::Result<f64, ConvErr> {
        let x = *self
            .tape
            .get(self.at)
            .ok_or_else(|| ConvErr::new(MALFORMED))?;
        self.at += 1;
        Ok(x)
    }

    /// A length or count on the tape.
    fn count(&mut self) -> std::result::Result<usize, ConvErr> {
        let x = self.item()?;
        whole(x).ok_or_else(|| ConvErr::new(MALFORMED))
    }

    /// The next piece of `text`, `len` UTF-16 units long.
    fn piece(&mut self) -> std::result::Result<String, ConvErr> {
        let len = self.count()?;
        let end = self
            .offset
            .checked_add(len)
            .ok_or_else(|| ConvErr::new(MALFORMED))?;
        let range = self.offset..end;
        self.offset = end;
        match &self.text {
            Text::Ascii(s) => s
                .get(range)
                .map(str::to_owned)
                .ok_or_else(|| ConvErr::new(MALFORMED)),
            Text::Utf16(units) => {
                strict_utf16(units.get(range).ok_or_else(|| ConvErr::new(MALFORMED))?)
            }
        }
    }

    fn value(&mut self, depth: usize) -> std::result::Result<Value, ConvErr> {
        let t = self.item()?;
        match whole(t).and_then(|t| u8::try_from(t).ok()) {
            Some(tag::NULL) => Ok(Value::Null),
            Some(tag::FALSE) => Ok(Value::Bool(false)),
            Some(tag::TRUE) => Ok(Value::Bool(true)),
            Some(tag::NUMBER) => number(self.item()?),
            Some(tag::STRING) => self.piece().map(Value::String),
            Some(tag::ARRAY) => {
                too_deep(depth)?;
                let len = self.count()?;
                // A count is at most what the rest of the tape can hold.
                let mut out = Vec::with_capacity(len.min(self.tape.len() - self.at));
                for i in 0..len {
                    out.push(self.value(depth + 1).map_err(|e| e.at(format!("[{i}]")))?);
                }
                Ok(Value::Array(out))
            }
            Some(tag::OBJECT) => {
                too_deep(depth)?;
                let len = self.count()?;
                let mut map = serde_json::Map::new();
                for _ in 0..len {
                    let key = self.piece()?;
                    let v = self.value(depth + 1).map_err(|e| e.at(format!(".{key}")))?;
                    map.insert(key, v);
                }
                Ok(Value::Object(map))
            }
            Some(tag::UNDEFINED) => Err(ConvErr::new("undefined is not a JSON value")),
            Some(tag::BIGINT) => Err(ConvErr::new(
                "a BigInt is not a JSON value (convert it to a number within ±(2^53−1), or to a string)",
            )),
            Some(tag::FUNCTION) => Err(ConvErr::new("a function is not a JSON value")),
            Some(tag::SYMBOL) => Err(ConvErr::new("a symbol is not a JSON value")),
            Some(tag::CLASS) => {
                let name = self.piece()?;
                let name = if name.is_empty() { "non-plain object".to_owned() } else { name };
                Err(ConvErr::new(format!(
                    "a {name} is not a JSON value (only plain objects, arrays, strings, finite numbers, booleans and null)"
                )))
            }
            Some(tag::TOO_DEEP) => too_deep(MAX_DEPTH).map(|()| Value::Null),
            _ => Err(ConvErr::new(MALFORMED)),
        }
    }
}

fn too_deep(depth: usize) -> std::result::Result<(), ConvErr> {
    if depth >= MAX_DEPTH {
        return Err(ConvErr::new(format!(
            "nesting deeper than {MAX_DEPTH} levels (or a cyclic structure)"
        )));
    }
    Ok(())
}

/// A tape number that must be a count: whole, non-negative, within `usize`.
fn whole(x: f64) -> Option<usize> {
    (x >= 0.0 && x.fract() == 0.0 && x <= u32::MAX as f64).then_some(x as usize)
}

fn check(status: sys::napi_status) -> std::result::Result<(), ConvErr> {
    if status == sys::Status::napi_ok {
        Ok(())
    } else {
        Err(ConvErr::new(format!(
            "N-API call failed with status {status}"
        )))
    }
}

/// A JS number as JSON: integral values become integers (the core refuses those beyond
/// ±(2^53−1)); NaN and ±Infinity have no JSON form.
fn number(n: f64) -> std::result::Result<Value, ConvErr> {
    if !n.is_finite() {
        return Err(ConvErr::new(format!(
            "{n} is not a JSON number (JSON has no NaN or Infinity)"
        )));
    }
    if n.fract() == 0.0 && n.abs() < 9.2e18 {
        return Ok(Value::from(n as i64));
    }
    serde_json::Number::from_f64(n)
        .map(Value::Number)
        .ok_or_else(|| ConvErr::new(format!("{n} is not a JSON number")))
}

// Strict strings, shared with the addon's string arguments.

pub(crate) struct ConvErr {
    path: Vec<String>,
    msg: String,
}

impl ConvErr {
    fn new(msg: impl Into<String>) -> Self {
        Self {
            path: Vec::new(),
            msg: msg.into(),
        }
    }
    /// Adds a path segment (`[3]`, `.key`) on the way out of a nested value.
    fn at(mut self, segment: String) -> Self {
        self.path.push(segment);
        self
    }
    pub(crate) fn into_error(self, what: &str) -> napi::Error<String> {
        let mut at = what.to_owned();
        for (k, seg) in self.path.iter().rev().enumerate() {
            if k == 12 {
                at.push_str(&format!("…({} more)", self.path.len() - 12));
                break;
            }
            at.push_str(seg);
        }
        type_err(format!("{at}: {}", self.msg))
    }
}

impl From<napi::Error> for ConvErr {
    fn from(e: napi::Error) -> Self {
        ConvErr::new(format!("{}: {}", e.status.as_ref(), e.reason))
    }
}

/// Reads a JS string strictly: a lone surrogate is an error, not a silent U+FFFD.
pub(crate) fn js_string(
    env: sys::napi_env,
    raw: sys::napi_value,
) -> std::result::Result<String, ConvErr> {
    let s = utf8_lossy(env, raw)?;
    if !s.contains('\u{FFFD}') {
        return Ok(s);
    }
    let utf16 = unsafe { Utf16String::from_napi_value(env, raw) }?;
    strict_utf16(&utf16[..])
}

/// UTF-16 as a string; a lone surrogate is an error.
fn strict_utf16(units: &[u16]) -> std::result::Result<String, ConvErr> {
    String::from_utf16(units).map_err(|_| {
        ConvErr::new("a string holds a lone surrogate (not valid Unicode, not I-JSON)")
    })
}

/// Strings up to this many UTF-8 bytes are read with one N-API call into a per-thread scratch
/// buffer; longer ones are measured first (a second pass over the string in V8).
const SCRATCH: usize = 16 * 1024;

thread_local! {
    static STRING_SCRATCH: RefCell<Vec<u8>> = RefCell::new(vec![0; SCRATCH]);
}

/// The string, if it is `units` ASCII characters: read straight into its own buffer (the common
/// case for a JSON text, and one N-API call).
fn ascii(
    env: sys::napi_env,
    raw: sys::napi_value,
    units: usize,
) -> std::result::Result<Option<String>, ConvErr> {
    // Room for one byte more than expected (and V8's NUL): a longer string shows as one.
    let mut buf = Vec::<u8>::with_capacity(units + 2);
    let mut len = 0usize;
    check(unsafe {
        sys::napi_get_value_string_utf8(env, raw, buf.as_mut_ptr().cast(), buf.capacity(), &mut len)
    })?;
    // SAFETY: V8 wrote `len` bytes (at most capacity − 1, before its NUL) at the buffer's start.
    unsafe { buf.set_len(len.min(buf.capacity())) };
    // Fewer bytes, or bytes that are not ASCII, mean characters beyond ASCII (or a string of
    // another length): the caller reads UTF-16 instead.
    if len != units || !buf.is_ascii() {
        return Ok(None);
    }
    Ok(String::from_utf8(buf).ok())
}

/// The string's UTF-8 form as V8 writes it (lone surrogates become U+FFFD).
fn utf8_lossy(env: sys::napi_env, raw: sys::napi_value) -> std::result::Result<String, ConvErr> {
    let short = STRING_SCRATCH.with(|scratch| {
        let mut buf = scratch.borrow_mut();
        let mut len = 0usize;
        check(unsafe {
            sys::napi_get_value_string_utf8(env, raw, buf.as_mut_ptr().cast(), buf.len(), &mut len)
        })?;
        // V8 stops before a character that does not fit, so a result this close to the end may
        // be cut short: measure and read again.
        Ok::<_, ConvErr>((len + 4 < buf.len()).then(|| buf[..len].to_vec()))
    })?;
    let bytes = match short {
        Some(bytes) => bytes,
        None => {
            let mut len = 0usize;
            check(unsafe {
                sys::napi_get_value_string_utf8(env, raw, ptr::null_mut(), 0, &mut len)
            })?;
            let mut buf = vec![0u8; len + 1];
            check(unsafe {
                sys::napi_get_value_string_utf8(
                    env,
                    raw,
                    buf.as_mut_ptr().cast(),
                    buf.len(),
                    &mut len,
                )
            })?;
            buf.truncate(len);
            buf
        }
    };
    String::from_utf8(bytes).map_err(|_| ConvErr::new("V8 returned a string that is not UTF-8"))
}
