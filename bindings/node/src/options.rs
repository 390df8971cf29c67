//! Options objects, read strictly.
//!
//! A key the reader does not know is refused with a `TypeError` that names it and, where it is a
//! near miss of a known key (the snake_case or another case of it, or a typo of a letter or
//! two), the right name: `{ max_tokens: 3 }` silently generated 256 tokens, and a dropped
//! `scores: { ihsaan }` made the gate refuse later, far from the typo. Keys are the object's
//! enumerable string keys, its prototype's included: those a reader would see (as `for...in`
//! does). Every object argument of the addon is read through [`Options`]; `Envelope.create`,
//! whose options `index.js` unpacks on the hot path, checks its keys there and words its error
//! with [`unknown_option`], so the message is the same.

use std::ptr;

use napi::bindgen_prelude::*;
use napi::{sys, Env, ValueType};
use napi_derive::napi;

use crate::convert::{bool_in, date_in, number_in, signal_in, string_in, type_of, u32_in};
use crate::errors::{internal, napi_err, type_err, Result};

/// An options object whose every key is known; read its values through the typed getters.
pub(crate) struct Options<'a> {
    env: &'a Env,
    object: Object<'a>,
    /// The object, for messages ("options", "ihsan").
    what: &'a str,
    /// Put before a key in messages: `""` for an argument, `"ihsan."` for a nested object.
    prefix: &'a str,
    known: &'a [&'a str],
}

impl<'a> Options<'a> {
    /// An options argument: `None` when absent (`undefined` or `null`); a `TypeError` when it is
    /// not an object or holds a key not in `known`.
    pub(crate) fn read(
        env: &'a Env,
        options: Option<Unknown>,
        known: &'a [&'a str],
    ) -> Result<Option<Self>> {
        match options {
            None => Ok(None),
            Some(o) => Self::of(env, o.raw(), Shape::options(known)),
        }
    }

    /// Any object (an argument, or a value inside one) read strictly as `shape` says.
    pub(crate) fn of(env: &'a Env, raw: sys::napi_value, shape: Shape<'a>) -> Result<Option<Self>> {
        match type_of(env, raw) {
            ValueType::Undefined | ValueType::Null => Ok(None),
            ValueType::Object => {
                let options = Options {
                    env,
                    object: Object::from_raw(env.raw(), raw),
                    what: shape.what,
                    prefix: shape.prefix,
                    known: shape.known,
                };
                options.refuse_unknown(shape.noun)?;
                Ok(Some(options))
            }
            _ => Err(type_err(format!("{} must be an object", shape.what))),
        }
    }

    /// Lists the keys and refuses the first unknown one. Each key is read into a buffer on the
    /// stack and compared as bytes (two N-API calls a key, no allocation: `verify` reads its
    /// options on every call); known keys are far shorter than the buffer, so a key that does not
    /// fit is unknown.
    fn refuse_unknown(&self, noun: &str) -> Result<()> {
        let env = self.env.raw();
        let ok = |status| status == sys::Status::napi_ok;
        let unreadable = || type_err(format!("cannot list the keys of {}", self.what));
        let mut names = ptr::null_mut();
        let mut len = 0u32;
        if !ok(unsafe { sys::napi_get_property_names(env, self.object.raw(), &mut names) })
            || !ok(unsafe { sys::napi_get_array_length(env, names, &mut len) })
        {
            return Err(unreadable());
        }
        for i in 0..len {
            let mut key = ptr::null_mut();
            let mut buf = [0u8; 64];
            let mut n = 0usize;
            if !ok(unsafe { sys::napi_get_element(env, names, i, &mut key) })
                || !ok(unsafe {
                    sys::napi_get_value_string_utf8(
                        env,
                        key,
                        buf.as_mut_ptr().cast(),
                        buf.len(),
                        &mut n,
                    )
                })
            {
                return Err(unreadable());
            }
            let bytes = buf.get(..n).unwrap_or_default();
            if self.known.iter().any(|k| k.as_bytes() == bytes) {
                continue;
            }
            let key = unsafe { String::from_napi_value(env, key) }
                .unwrap_or_else(|_| String::from_utf8_lossy(bytes).into_owned());
            return Err(type_err(unknown_key(noun, self.prefix, &key, self.known)));
        }
        Ok(())
    }

    /// The raw value of a known key; `None` when it is `undefined`.
    pub(crate) fn get(&self, name: &str) -> Result<Option<sys::napi_value>> {
        if !self.known.contains(&name) {
            return Err(internal(format!(
                "the option {name} is read but not among the known ones"
            )));
        }
        let v: Unknown = self.object.get_named_property(name).map_err(napi_err)?;
        Ok(match v.get_type().map_err(napi_err)? {
            ValueType::Undefined => None,
            _ => Some(v.raw()),
        })
    }

    /// The name of `name` in messages (`ihsan.safety`).
    pub(crate) fn label(&self, name: &str) -> String {
        format!("{}{name}", self.prefix)
    }

    pub(crate) fn number(&self, name: &str) -> Result<Option<f64>> {
        self.read_with(name, number_in)
    }

    pub(crate) fn u32(&self, name: &str) -> Result<Option<u32>> {
        self.read_with(name, u32_in)
    }

    pub(crate) fn string(&self, name: &str) -> Result<Option<String>> {
        self.read_with(name, string_in)
    }

    pub(crate) fn boolean(&self, name: &str) -> Result<Option<bool>> {
        self.read_with(name, bool_in)
    }

    pub(crate) fn date(&self, name: &str) -> Result<Option<bizra::Timestamp>> {
        self.read_with(name, date_in)
    }

    pub(crate) fn signal(&self, name: &str) -> Result<Option<Object<'static>>> {
        self.read_with(name, signal_in)
    }

    /// The value of `name` read by `read` (a `convert` reader) under its label.
    pub(crate) fn read_with<T>(
        &self,
        name: &str,
        read: impl FnOnce(&Env, sys::napi_value, &str) -> Result<Option<T>>,
    ) -> Result<Option<T>> {
        match self.get(name)? {
            None => Ok(None),
            Some(raw) => read(self.env, raw, &self.label(name)),
        }
    }
}

/// How an object is read: its known keys and how messages name it.
pub(crate) struct Shape<'a> {
    /// The object itself, for "… must be an object".
    pub(crate) what: &'a str,
    /// What one key is: "option", "ihsan dimension", "field".
    pub(crate) noun: &'a str,
    /// Put before a key in messages.
    pub(crate) prefix: &'a str,
    pub(crate) known: &'a [&'a str],
}

impl<'a> Shape<'a> {
    /// An `options` argument.
    pub(crate) fn options(known: &'a [&'a str]) -> Self {
        Shape {
            what: "options",
            noun: "option",
            prefix: "",
            known,
        }
    }
}

/// `unknown option max_tokens (did you mean maxTokens?)`, or the known keys when none is near.
fn unknown_key(noun: &str, prefix: &str, key: &str, known: &[&str]) -> String {
    match suggestion(key, known) {
        Some(right) => format!("unknown {noun} {prefix}{key} (did you mean {prefix}{right}?)"),
        None => {
            let all: Vec<String> = known.iter().map(|k| format!("{prefix}{k}")).collect();
            format!("unknown {noun} {prefix}{key}; one of {}", all.join(", "))
        }
    }
}

/// The message for an unknown key of `Envelope.create`'s options (checked in `index.js`).
#[napi(js_name = "__unknownOption", skip_typescript)]
pub fn unknown_option(key: String, known: Vec<String>, prefix: String) -> String {
    let known: Vec<&str> = known.iter().map(String::as_str).collect();
    unknown_key("option", &prefix, &key, &known)
}

/// The known key `key` most likely meant: the same letters in another case or without `_`/`-`
/// (`max_tokens`, `MaxTokens` → `maxTokens`), else the nearest by edits (a letter added, dropped,
/// changed or two swapped: `tll` → `ttl`, `ihsaan` → `ihsan`), one edit for keys of up to four
/// letters and two beyond.
fn suggestion<'k>(key: &str, known: &[&'k str]) -> Option<&'k str> {
    let fold = |s: &str| -> Vec<char> {
        s.chars()
            .filter(|c| *c != '_' && *c != '-')
            .flat_map(char::to_lowercase)
            .collect()
    };
    let k = fold(key);
    if let Some(same) = known.iter().find(|n| fold(n) == k) {
        return Some(same);
    }
    let limit = if k.len() <= 4 { 1 } else { 2 };
    known
        .iter()
        .map(|n| (edits(&k, &fold(n)), *n))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, n)| n)
}

/// Edit distance with adjacent swaps (optimal string alignment).
fn edits(a: &[char], b: &[char]) -> usize {
    // rows[i][j]: the distance between a[..i] and b[..j]; the table holds three rows at a time.
    let width = b.len() + 1;
    let mut before: Vec<usize> = vec![0; width];
    let mut prev: Vec<usize> = (0..width).collect();
    let mut row: Vec<usize> = vec![0; width];
    for (i, ca) in a.iter().enumerate() {
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != cb);
            let mut d = (prev[j + 1] + 1).min(row[j] + 1).min(prev[j] + cost);
            if i > 0 && j > 0 && a.get(i - 1) == Some(cb) && b.get(j - 1) == Some(ca) {
                d = d.min(before[j - 1] + 1);
            }
            row[j + 1] = d;
        }
        std::mem::swap(&mut before, &mut prev);
        std::mem::swap(&mut prev, &mut row);
    }
    prev[b.len()]
}
