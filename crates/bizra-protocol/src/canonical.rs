//! RFC 8785 JSON Canonicalization Scheme (JCS) over I-JSON (RFC 7493).
//!
//! Two halves: a strict parser that accepts only I-JSON (no duplicate keys, no lone surrogates, no
//! integer literal beyond ±(2^53−1), no non-finite number, bounded nesting) and a writer that
//! emits the canonical bytes directly into a buffer: keys in UTF-16 code-unit order, numbers in
//! ECMAScript form, the minimal escapes. Both recurse, but only to a bounded depth, so no input can
//! overflow the stack.
//!
//! Values are `serde_json::Value`, so callers can build payloads with `serde_json::json!`.
//! Floats are held as the exact double the text denotes (Rust's `str::parse::<f64>` is correctly
//! rounded), which JCS requires.

use std::cmp::Ordering;
use std::fmt;
use std::fmt::Write as _;

use serde_json::{Map, Number, Value};

/// Deepest nesting of arrays and objects accepted by [`parse`] and [`to_vec`].
pub const MAX_DEPTH: usize = 128;

/// Largest integer magnitude that I-JSON allows for an integer literal: 2^53 − 1.
pub const MAX_SAFE_INTEGER: i64 = (1 << 53) - 1;

/// Why a text is not I-JSON, or a value cannot be canonicalized.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JcsError {
    /// Byte offset in the input, where the error came from parsing.
    pub offset: Option<usize>,
    /// What was wrong.
    pub message: String,
}

impl JcsError {
    fn at(offset: usize, message: impl Into<String>) -> Self {
        Self {
            offset: Some(offset),
            message: message.into(),
        }
    }

    fn value(message: impl Into<String>) -> Self {
        Self {
            offset: None,
            message: message.into(),
        }
    }
}

impl fmt::Display for JcsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.offset {
            Some(o) => write!(f, "{} at byte {o}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

impl std::error::Error for JcsError {}

/// Parses I-JSON text into a value.
pub fn parse(text: &str) -> Result<Value, JcsError> {
    let mut p = Parser {
        s: text.as_bytes(),
        i: 0,
    };
    p.skip_ws();
    let v = p.value(0)?;
    p.skip_ws();
    if p.i != p.s.len() {
        return Err(JcsError::at(
            p.i,
            "trailing characters after the JSON value",
        ));
    }
    Ok(v)
}

/// Parses I-JSON from bytes, which must be UTF-8.
pub fn parse_bytes(bytes: &[u8]) -> Result<Value, JcsError> {
    match std::str::from_utf8(bytes) {
        Ok(s) => parse(s),
        Err(e) => Err(JcsError::at(e.valid_up_to(), "invalid UTF-8")),
    }
}

/// The canonical (JCS) bytes of a value.
///
/// Fails for an integer beyond ±(2^53−1) (not I-JSON) and for nesting deeper than [`MAX_DEPTH`].
pub fn to_vec(value: &Value) -> Result<Vec<u8>, JcsError> {
    to_string(value).map(String::into_bytes)
}

/// The canonical (JCS) text of a value; fails as [`to_vec`] does.
pub fn to_string(value: &Value) -> Result<String, JcsError> {
    let mut out = String::with_capacity(128);
    write_value(value, &mut out, 0)?;
    Ok(out)
}

/// Canonicalizes I-JSON text.
pub fn canonicalize(text: &str) -> Result<String, JcsError> {
    to_string(&parse(text)?)
}

/// Appends the canonical bytes of `value` to `out`.
fn write_value(value: &Value, out: &mut String, depth: usize) -> Result<(), JcsError> {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(true) => out.push_str("true"),
        Value::Bool(false) => out.push_str("false"),
        Value::Number(n) => write_number(n, out)?,
        Value::String(s) => write_string(s, out),
        Value::Array(items) => {
            if depth >= MAX_DEPTH {
                return Err(too_deep());
            }
            out.push('[');
            for (k, item) in items.iter().enumerate() {
                if k > 0 {
                    out.push(',');
                }
                write_value(item, out, depth + 1)?;
            }
            out.push(']');
        }
        Value::Object(map) => {
            if depth >= MAX_DEPTH {
                return Err(too_deep());
            }
            out.push('{');
            let mut first = true;
            for (k, v) in sorted_entries(map) {
                if !first {
                    out.push(',');
                }
                first = false;
                write_string(k, out);
                out.push(':');
                write_value(v, out, depth + 1)?;
            }
            out.push('}');
        }
    }
    Ok(())
}

fn too_deep() -> JcsError {
    JcsError::value(format!("nesting deeper than {MAX_DEPTH} levels"))
}

/// Object entries in UTF-16 code-unit order of their keys.
///
/// UTF-8 byte order equals code-point order, which differs from UTF-16 order only between a key
/// with a character at or above U+E000 and one with a supplementary character; only then is the
/// slower UTF-16 comparison needed.
fn sorted_entries(map: &Map<String, Value>) -> Vec<(&String, &Value)> {
    let mut entries: Vec<(&String, &Value)> = map.iter().collect();
    let needs_utf16 = entries
        .iter()
        .any(|(k, _)| k.as_bytes().iter().any(|&b| b >= 0xEE));
    if needs_utf16 {
        entries.sort_by(|a, b| utf16_cmp(a.0, b.0));
    } else if !entries.is_sorted_by(|a, b| a.0.as_bytes() <= b.0.as_bytes()) {
        entries.sort_unstable_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    }
    entries
}

fn utf16_cmp(a: &str, b: &str) -> Ordering {
    a.encode_utf16().cmp(b.encode_utf16())
}

/// Writes a string with JCS's minimal escapes. Escapes replace ASCII bytes only, so every run
/// copied between them starts and ends on a character boundary.
fn write_string(s: &str, out: &mut String) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.push('"');
    let mut start = 0;
    for (i, b) in s.bytes().enumerate() {
        let escape = match b {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            b'\n' => "\\n",
            b'\r' => "\\r",
            b'\t' => "\\t",
            0x08 => "\\b",
            0x0c => "\\f",
            0x00..=0x1f => {
                out.push_str(&s[start..i]);
                out.push_str("\\u00");
                out.push(char::from(HEX[usize::from(b >> 4)]));
                out.push(char::from(HEX[usize::from(b & 0xf)]));
                start = i + 1;
                continue;
            }
            _ => continue,
        };
        out.push_str(&s[start..i]);
        out.push_str(escape);
        start = i + 1;
    }
    out.push_str(&s[start..]);
    out.push('"');
}

fn write_number(n: &Number, out: &mut String) -> Result<(), JcsError> {
    if let Some(i) = n.as_i64() {
        if !(-MAX_SAFE_INTEGER..=MAX_SAFE_INTEGER).contains(&i) {
            return Err(JcsError::value(format!(
                "integer {i} is beyond ±(2^53−1), not I-JSON"
            )));
        }
        let _ = write!(out, "{i}");
        return Ok(());
    }
    if let Some(u) = n.as_u64() {
        return Err(JcsError::value(format!(
            "integer {u} is beyond ±(2^53−1), not I-JSON"
        )));
    }
    match n.as_f64() {
        // ECMAScript writes integral doubles below 1e21 without exponent: such a double beyond
        // 2^53−1 would become an integer literal that no I-JSON parser (ours included) accepts.
        Some(f)
            if f.is_finite()
                && f.fract() == 0.0
                && f.abs() > MAX_SAFE_INTEGER as f64
                && f.abs() < 1e21 =>
        {
            Err(JcsError::value(format!(
                "number {f:e} would be written as an integer beyond ±(2^53−1), not I-JSON"
            )))
        }
        Some(f) if f.is_finite() => {
            write_f64(f, out);
            Ok(())
        }
        _ => Err(JcsError::value("number is not a finite double")),
    }
}

/// Writes a finite double the way ECMAScript's `Number::toString` does (RFC 8785 §3.2.2.3).
///
/// That is the shortest digits that round-trip, the even one where two such digit strings are
/// equally close to the double's exact value (13036440536630.3125 → `13036440536630.312`), plain
/// form for 1e-7 ≤ |x| < 1e21 and exponent form outside it, and `0` for -0. Rust's own shortest
/// formatting does not promise that tie rule, so this is ryu-js (Boa's Ryū, made for exactly this
/// output); `tests/ecmascript_numbers.rs` checks it against Node.js on a million doubles a run.
pub(crate) fn write_f64(f: f64, out: &mut String) {
    let mut buf = ryu_js::Buffer::new();
    out.push_str(buf.format_finite(f));
}

/// Turns `value` into what a reader of its canonical text gets back: integral doubles within
/// ±(2^53−1) become integers (JCS writes `1.0` as `1`, and `-0` as `0`). Every other value already
/// reads back as itself.
pub fn normalize(value: &mut Value) {
    match value {
        Value::Number(n) => {
            if let Some(f) = n.as_f64().filter(|_| n.is_f64()) {
                if f.fract() == 0.0 && f.abs() <= MAX_SAFE_INTEGER as f64 {
                    *n = Number::from(f as i64);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(normalize),
        Value::Object(map) => map.values_mut().for_each(normalize),
        Value::Null | Value::Bool(_) | Value::String(_) => {}
    }
}

struct Parser<'a> {
    s: &'a [u8],
    i: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }

    fn skip_ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.peek() {
            self.i += 1;
        }
    }

    fn expect_literal(&mut self, lit: &[u8], v: Value) -> Result<Value, JcsError> {
        if self.s.get(self.i..self.i + lit.len()) == Some(lit) {
            self.i += lit.len();
            Ok(v)
        } else {
            Err(JcsError::at(self.i, "invalid literal"))
        }
    }

    fn value(&mut self, depth: usize) -> Result<Value, JcsError> {
        match self.peek() {
            None => Err(JcsError::at(self.i, "unexpected end of input")),
            Some(b'n') => self.expect_literal(b"null", Value::Null),
            Some(b't') => self.expect_literal(b"true", Value::Bool(true)),
            Some(b'f') => self.expect_literal(b"false", Value::Bool(false)),
            Some(b'"') => self.string().map(Value::String),
            Some(b'-' | b'0'..=b'9') => self.number().map(Value::Number),
            Some(b'[') => {
                if depth >= MAX_DEPTH {
                    return Err(JcsError::at(self.i, too_deep().message));
                }
                self.i += 1;
                let mut items = Vec::new();
                self.skip_ws();
                if self.peek() == Some(b']') {
                    self.i += 1;
                    return Ok(Value::Array(items));
                }
                loop {
                    self.skip_ws();
                    items.push(self.value(depth + 1)?);
                    self.skip_ws();
                    match self.peek() {
                        Some(b',') => self.i += 1,
                        Some(b']') => {
                            self.i += 1;
                            return Ok(Value::Array(items));
                        }
                        _ => return Err(JcsError::at(self.i, "expected ',' or ']' in array")),
                    }
                }
            }
            Some(b'{') => {
                if depth >= MAX_DEPTH {
                    return Err(JcsError::at(self.i, too_deep().message));
                }
                self.i += 1;
                let mut map = Map::new();
                self.skip_ws();
                if self.peek() == Some(b'}') {
                    self.i += 1;
                    return Ok(Value::Object(map));
                }
                loop {
                    self.skip_ws();
                    if self.peek() != Some(b'"') {
                        return Err(JcsError::at(self.i, "expected a string key in object"));
                    }
                    let key_at = self.i;
                    let key = self.string()?;
                    self.skip_ws();
                    if self.peek() != Some(b':') {
                        return Err(JcsError::at(self.i, "expected ':' after object key"));
                    }
                    self.i += 1;
                    self.skip_ws();
                    let v = self.value(depth + 1)?;
                    if map.contains_key(&key) {
                        return Err(JcsError::at(
                            key_at,
                            format!("duplicate key {:?}", truncate(&key)),
                        ));
                    }
                    map.insert(key, v);
                    self.skip_ws();
                    match self.peek() {
                        Some(b',') => self.i += 1,
                        Some(b'}') => {
                            self.i += 1;
                            return Ok(Value::Object(map));
                        }
                        _ => return Err(JcsError::at(self.i, "expected ',' or '}' in object")),
                    }
                }
            }
            Some(_) => Err(JcsError::at(self.i, "unexpected character")),
        }
    }

    fn number(&mut self) -> Result<Number, JcsError> {
        let start = self.i;
        if self.peek() == Some(b'-') {
            self.i += 1;
        }
        match self.peek() {
            Some(b'0') => self.i += 1,
            Some(b'1'..=b'9') => self.digits(),
            _ => return Err(JcsError::at(self.i, "invalid number")),
        }
        let mut integer = true;
        if self.peek() == Some(b'.') {
            integer = false;
            self.i += 1;
            if !matches!(self.peek(), Some(b'0'..=b'9')) {
                return Err(JcsError::at(self.i, "expected a digit after '.'"));
            }
            self.digits();
        }
        if let Some(b'e' | b'E') = self.peek() {
            integer = false;
            self.i += 1;
            if let Some(b'+' | b'-') = self.peek() {
                self.i += 1;
            }
            if !matches!(self.peek(), Some(b'0'..=b'9')) {
                return Err(JcsError::at(self.i, "expected a digit in exponent"));
            }
            self.digits();
        }
        // The slice holds only ASCII digits, signs, '.', 'e' and 'E'.
        let text = std::str::from_utf8(&self.s[start..self.i]).unwrap_or("");
        if integer {
            return match text.parse::<i64>() {
                Ok(v) if (-MAX_SAFE_INTEGER..=MAX_SAFE_INTEGER).contains(&v) => Ok(Number::from(v)),
                _ => Err(JcsError::at(
                    start,
                    format!("integer {} is beyond ±(2^53−1), not I-JSON", truncate(text)),
                )),
            };
        }
        match text.parse::<f64>() {
            Ok(f) => Number::from_f64(f).ok_or_else(|| {
                JcsError::at(
                    start,
                    format!("number {} is not a finite double", truncate(text)),
                )
            }),
            Err(_) => Err(JcsError::at(start, "invalid number")),
        }
    }

    fn digits(&mut self) {
        while let Some(b'0'..=b'9') = self.peek() {
            self.i += 1;
        }
    }

    fn hex4(&mut self) -> Result<u16, JcsError> {
        let at = self.i;
        let h = self
            .s
            .get(self.i..self.i + 4)
            .and_then(|h| std::str::from_utf8(h).ok())
            .filter(|h| h.bytes().all(|b| b.is_ascii_hexdigit()))
            .and_then(|h| u16::from_str_radix(h, 16).ok())
            .ok_or_else(|| JcsError::at(at, "invalid \\u escape"))?;
        self.i += 4;
        Ok(h)
    }

    fn string(&mut self) -> Result<String, JcsError> {
        let open = self.i;
        self.i += 1; // the opening quote
        let mut out = String::new();
        let mut run = self.i;
        loop {
            let Some(b) = self.peek() else {
                return Err(JcsError::at(open, "unterminated string"));
            };
            match b {
                b'"' => {
                    out.push_str(self.run(run));
                    self.i += 1;
                    return Ok(out);
                }
                b'\\' => {
                    out.push_str(self.run(run));
                    let esc_at = self.i;
                    self.i += 1;
                    let Some(e) = self.peek() else {
                        return Err(JcsError::at(open, "unterminated string"));
                    };
                    self.i += 1;
                    match e {
                        b'"' => out.push('"'),
                        b'\\' => out.push('\\'),
                        b'/' => out.push('/'),
                        b'b' => out.push('\u{8}'),
                        b'f' => out.push('\u{c}'),
                        b'n' => out.push('\n'),
                        b'r' => out.push('\r'),
                        b't' => out.push('\t'),
                        b'u' => {
                            let hi = self.hex4()?;
                            let c = match hi {
                                0xD800..=0xDBFF => {
                                    if self.s.get(self.i..self.i + 2) != Some(b"\\u") {
                                        return Err(JcsError::at(esc_at, "lone surrogate"));
                                    }
                                    self.i += 2;
                                    let lo = self.hex4()?;
                                    if !(0xDC00..=0xDFFF).contains(&lo) {
                                        return Err(JcsError::at(esc_at, "lone surrogate"));
                                    }
                                    let cp = 0x10000
                                        + ((u32::from(hi) - 0xD800) << 10)
                                        + (u32::from(lo) - 0xDC00);
                                    char::from_u32(cp)
                                }
                                0xDC00..=0xDFFF => None,
                                _ => char::from_u32(u32::from(hi)),
                            };
                            match c {
                                Some(c) => out.push(c),
                                None => return Err(JcsError::at(esc_at, "lone surrogate")),
                            }
                        }
                        _ => return Err(JcsError::at(esc_at, "invalid escape")),
                    }
                    run = self.i;
                }
                0x00..=0x1f => {
                    return Err(JcsError::at(
                        self.i,
                        "unescaped control character in string",
                    ))
                }
                _ => self.i += 1,
            }
        }
    }

    /// The raw, escape-free run of string bytes from `start` to the cursor.
    ///
    /// Runs end only before an ASCII quote or backslash, so they are whole UTF-8 sequences of an
    /// input that is a `&str`.
    fn run(&self, start: usize) -> &str {
        std::str::from_utf8(&self.s[start..self.i]).unwrap_or("")
    }
}

fn truncate(s: &str) -> String {
    let mut t: String = s.chars().take(40).collect();
    if t.len() < s.len() {
        t.push('…');
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jcs(text: &str) -> String {
        canonicalize(text).unwrap()
    }

    #[test]
    fn numbers_use_ecmascript_form() {
        let cases = [
            ("1.0", "1"),
            ("-0", "0"),
            ("-0.0", "0"),
            ("1e21", "1e+21"),
            ("1e-7", "1e-7"),
            ("0.000001", "0.000001"),
            ("0.1", "0.1"),
            ("123456789012345", "123456789012345"),
            ("5e-324", "5e-324"),
            ("1e300", "1e+300"),
            ("-1.5e-10", "-1.5e-10"),
            ("123.456", "123.456"),
            ("1.7976931348623157e308", "1.7976931348623157e+308"),
            ("9007199254740991", "9007199254740991"),
            ("4.5", "4.5"),
            ("333333333.3333333", "333333333.3333333"),
            // Exact ties between two shortest candidates go to the even one.
            ("13036440536630.3125", "13036440536630.312"),
            ("808945788467373.25", "808945788467373.2"),
            ("4032085.20654296875", "4032085.2065429688"),
            ("-97.760894775390625", "-97.76089477539062"),
        ];
        for (input, want) in cases {
            assert_eq!(jcs(input), want, "{input}");
        }
    }

    #[test]
    fn strings_use_minimal_escapes() {
        assert_eq!(
            jcs(r#""\u0000\u001f\b\f\n\r\t\"\\\/\u007f\u00e9\u2028""#),
            "\"\\u0000\\u001f\\b\\f\\n\\r\\t\\\"\\\\/\u{7f}é\u{2028}\""
        );
        assert_eq!(jcs(r#""\ud83d\ude00""#), "\"😀\"");
    }

    #[test]
    fn keys_sort_by_utf16_code_units() {
        // U+FB33 (BMP, above the surrogates) sorts after U+1F600 in UTF-16, before it in UTF-8.
        assert_eq!(
            jcs(r#"{"\ufb33":1,"😀":2,"a":3,"\r":4}"#),
            "{\"\\r\":4,\"a\":3,\"😀\":2,\"\u{fb33}\":1}"
        );
    }

    #[test]
    fn rejects_what_is_not_i_json() {
        for bad in [
            r#"{"a":1,"a":2}"#,
            r#""\ud800""#,
            r#""\udc00x""#,
            r#""\ud800\u0041""#,
            "9007199254740992",
            "-9007199254740992",
            "100000000000000000000000",
            "1e400",
            "01",
            "1.",
            ".5",
            "+1",
            "[1,]",
            "{\"a\" 1}",
            "\"a\u{1}\"",
            "nul",
            "[1] x",
            "",
            "\"abc",
            "NaN",
        ] {
            assert!(canonicalize(bad).is_err(), "{bad:?} accepted");
        }
        assert!(parse_bytes(b"\"\xff\"").is_err());
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_crash() {
        let deep = "[".repeat(100_000) + &"]".repeat(100_000);
        let e = parse(&deep).unwrap_err();
        assert!(e.message.contains("nesting"), "{e}");
        let ok = "[".repeat(MAX_DEPTH) + &"]".repeat(MAX_DEPTH);
        assert!(parse(&ok).is_ok());
        let mut v = Value::Null;
        for _ in 0..=MAX_DEPTH {
            v = Value::Array(vec![v]);
        }
        assert!(to_vec(&v).is_err());
    }

    #[test]
    fn writer_rejects_unsafe_integers_built_in_code() {
        assert!(to_vec(&serde_json::json!({ "n": 9_007_199_254_740_992u64 })).is_err());
        assert!(to_vec(&serde_json::json!({ "n": u64::MAX })).is_err());
        assert!(to_vec(&serde_json::json!({ "n": -9_007_199_254_740_991i64 })).is_ok());
        // An integral double beyond 2^53 would print as an unparseable integer literal.
        assert!(to_vec(&serde_json::json!(-8.670546680725006e16)).is_err());
        assert!(canonicalize("1e17").is_err());
        assert!(canonicalize("1e20").is_err());
        assert_eq!(canonicalize("1.5e21").unwrap(), "1.5e+21");
        assert_eq!(canonicalize("1e21").unwrap(), "1e+21");
        assert_eq!(
            canonicalize("9007199254740991.0").unwrap(),
            "9007199254740991"
        );
    }
}
