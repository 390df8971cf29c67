//! Conversions between Python objects and the core's types: JSON values and instants.

use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{
    PyBool, PyByteArray, PyBytes, PyDict, PyFloat, PyInt, PyList, PyMemoryView, PyString, PyTuple,
};
use pyo3::IntoPyObjectExt as _;
use pyo3::PyTypeInfo as _;
use serde_json::{Map, Number, Value};

use bizra::canonical::{MAX_DEPTH, MAX_SAFE_INTEGER};
use bizra::Timestamp;

use crate::{guard, invalid};

/// A Python value as JSON: `None`, `bool`, `int` (within ±(2^53−1)), finite `float`, `str`,
/// `list`/`tuple`, `dict` with `str` keys. Nesting is bounded by `MAX_DEPTH` (which also stops
/// self-referencing containers). Errors name the offending place (`payload["a"][3]`); the path is
/// built only on failure.
pub(crate) fn to_value(obj: &Bound<'_, PyAny>, what: &str) -> PyResult<Value> {
    value_at(obj, 0).map_err(|e| e.into_py_err(what))
}

enum Seg {
    Index(usize),
    Key(String),
}

struct ConvError {
    /// Innermost segment first.
    path: Vec<Seg>,
    type_error: bool,
    message: String,
}

impl ConvError {
    fn value(message: String) -> Self {
        Self {
            path: Vec::new(),
            type_error: false,
            message,
        }
    }
    fn type_(message: String) -> Self {
        Self {
            path: Vec::new(),
            type_error: true,
            message,
        }
    }
    fn at(mut self, seg: Seg) -> Self {
        self.path.push(seg);
        self
    }
    fn into_py_err(self, what: &str) -> PyErr {
        let mut place = String::from(what);
        for seg in self.path.iter().rev() {
            match seg {
                Seg::Index(i) => place.push_str(&format!("[{i}]")),
                Seg::Key(k) => place.push_str(&format!("[{k:?}]")),
            }
        }
        let msg = format!("{place}: {}", self.message);
        if self.type_error {
            PyTypeError::new_err(msg)
        } else {
            invalid(msg)
        }
    }
}

type Conv<T> = Result<T, ConvError>;

fn value_at(obj: &Bound<'_, PyAny>, depth: usize) -> Conv<Value> {
    if obj.is_none() {
        return Ok(Value::Null);
    }
    if let Ok(b) = obj.cast::<PyBool>() {
        return Ok(Value::Bool(b.is_true()));
    }
    if let Ok(s) = obj.cast::<PyString>() {
        return Ok(Value::String(py_str(s)?));
    }
    if obj.is_instance_of::<PyInt>() {
        let beyond = || {
            ConvError::value(format!(
                "integer {} lies beyond ±(2^53−1), which I-JSON cannot carry",
                short_repr(obj)
            ))
        };
        let n: i64 = obj.extract().map_err(|_| beyond())?;
        if !(-MAX_SAFE_INTEGER..=MAX_SAFE_INTEGER).contains(&n) {
            return Err(beyond());
        }
        return Ok(Value::Number(n.into()));
    }
    if let Ok(f) = obj.cast::<PyFloat>() {
        let v = f.value();
        return Number::from_f64(v).map(Value::Number).ok_or_else(|| {
            ConvError::value(format!(
                "float {v} is not JSON (NaN and infinities are not)"
            ))
        });
    }
    if let Ok(list) = obj.cast::<PyList>() {
        check_depth(depth)?;
        let mut items = Vec::with_capacity(list.len());
        for (i, item) in list.iter().enumerate() {
            items.push(value_at(&item, depth + 1).map_err(|e| e.at(Seg::Index(i)))?);
        }
        return Ok(Value::Array(items));
    }
    if let Ok(tuple) = obj.cast::<PyTuple>() {
        check_depth(depth)?;
        let mut items = Vec::with_capacity(tuple.len());
        for (i, item) in tuple.iter().enumerate() {
            items.push(value_at(&item, depth + 1).map_err(|e| e.at(Seg::Index(i)))?);
        }
        return Ok(Value::Array(items));
    }
    if let Ok(d) = obj.cast::<PyDict>() {
        check_depth(depth)?;
        let mut map = Map::new();
        for (k, v) in d.iter() {
            let key = match k.cast::<PyString>() {
                Ok(s) => py_str(s)?,
                Err(_) => {
                    return Err(ConvError::type_(format!(
                        "JSON object keys must be str, got {} key {}",
                        type_name(&k),
                        short_repr(&k)
                    )))
                }
            };
            let value = match value_at(&v, depth + 1) {
                Ok(v) => v,
                Err(e) => return Err(e.at(Seg::Key(key))),
            };
            map.insert(key, value);
        }
        return Ok(Value::Object(map));
    }
    Err(ConvError::type_(format!(
        "{} is not JSON-serializable (use None, bool, int, float, str, list, tuple or dict)",
        type_name(obj)
    )))
}

fn check_depth(depth: usize) -> Conv<()> {
    if depth >= MAX_DEPTH {
        Err(ConvError::value(format!(
            "nesting deeper than {MAX_DEPTH} levels (or a container that contains itself)"
        )))
    } else {
        Ok(())
    }
}

fn py_str(s: &Bound<'_, PyString>) -> Conv<String> {
    s.to_str().map(str::to_owned).map_err(|_| {
        ConvError::value(format!(
            "string {} holds a lone surrogate, which is not valid Unicode text (I-JSON)",
            short_repr(s.as_any())
        ))
    })
}

fn type_name(obj: &Bound<'_, PyAny>) -> String {
    obj.get_type()
        .name()
        .map(|n| n.to_string())
        .unwrap_or_else(|_| "object".into())
}

fn short_repr(obj: &Bound<'_, PyAny>) -> String {
    let r = obj
        .repr()
        .map(|r| r.to_string())
        .unwrap_or_else(|_| "<unprintable>".into());
    if r.chars().count() > 60 {
        format!("{}…", r.chars().take(60).collect::<String>())
    } else {
        r
    }
}

/// A JSON value as fresh Python objects (dicts, lists, ints, floats, str, bool, None).
pub(crate) fn to_py_value<'py>(py: Python<'py>, v: &Value) -> PyResult<Bound<'py, PyAny>> {
    match v {
        Value::Null => Ok(py.None().into_bound(py)),
        Value::Bool(b) => b.into_bound_py_any(py),
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                i.into_bound_py_any(py)
            } else if let Some(u) = n.as_u64() {
                u.into_bound_py_any(py)
            } else {
                n.as_f64().unwrap_or(f64::NAN).into_bound_py_any(py)
            }
        }
        Value::String(s) => s.into_bound_py_any(py),
        Value::Array(items) => {
            let list = PyList::empty(py);
            for item in items {
                list.append(to_py_value(py, item)?)?;
            }
            Ok(list.into_any())
        }
        Value::Object(map) => {
            let dict = PyDict::new(py);
            for (k, v) in map {
                dict.set_item(k, to_py_value(py, v)?)?;
            }
            Ok(dict.into_any())
        }
    }
}

static EPOCH: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
static TIMEDELTA: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
static DATETIME: PyOnceLock<Py<PyAny>> = PyOnceLock::new();

fn epoch(py: Python<'_>) -> PyResult<&Bound<'_, PyAny>> {
    EPOCH
        .get_or_try_init(py, || {
            let dt = py.import("datetime")?;
            let utc = dt.getattr("timezone")?.getattr("utc")?;
            let kwargs = PyDict::new(py);
            kwargs.set_item("tzinfo", utc)?;
            Ok::<_, PyErr>(
                dt.getattr("datetime")?
                    .call((1970, 1, 1), Some(&kwargs))?
                    .unbind(),
            )
        })
        .map(|e| e.bind(py))
}

/// A timezone-aware `datetime` as a core instant (truncated to the millisecond). A naive
/// `datetime` (no tzinfo) is refused with `ValueError`: its meaning depends on the local zone.
pub(crate) fn timestamp_from_py(obj: &Bound<'_, PyAny>, what: &str) -> PyResult<Timestamp> {
    let py = obj.py();
    let datetime_type = DATETIME.import(py, "datetime", "datetime")?;
    if !obj.is_instance(datetime_type)? {
        return Err(PyTypeError::new_err(format!(
            "{what} must be a datetime.datetime, got {}",
            type_name(obj)
        )));
    }
    if obj.call_method0("utcoffset")?.is_none() {
        return Err(invalid(format!(
            "{what} is a naive datetime; pass a timezone-aware one, e.g. datetime.now(timezone.utc)"
        )));
    }
    let delta = obj.call_method1("__sub__", (epoch(py)?,))?;
    let days: i64 = delta.getattr("days")?.extract()?;
    let seconds: i64 = delta.getattr("seconds")?.extract()?;
    let micros: i64 = delta.getattr("microseconds")?.extract()?;
    let ms = days * 86_400_000 + seconds * 1000 + micros.div_euclid(1000);
    Timestamp::from_unix_millis(ms)
        .ok_or_else(|| invalid(format!("{what} lies outside the years 0000–9999")))
}

/// An optional `now`: `None` means the system clock.
pub(crate) fn now_from_py(obj: Option<&Bound<'_, PyAny>>) -> PyResult<Option<Timestamp>> {
    match obj {
        Some(o) if !o.is_none() => timestamp_from_py(o, "now").map(Some),
        _ => Ok(None),
    }
}

/// A core instant as an aware UTC `datetime`.
pub(crate) fn timestamp_to_py(py: Python<'_>, t: Timestamp) -> PyResult<Bound<'_, PyAny>> {
    millis_to_py(py, t.unix_millis())
}

/// Unix milliseconds as an aware UTC `datetime` (`OverflowError` outside `datetime`'s years).
pub(crate) fn millis_to_py(py: Python<'_>, ms: i64) -> PyResult<Bound<'_, PyAny>> {
    let kwargs = PyDict::new(py);
    kwargs.set_item("milliseconds", ms)?;
    let delta = TIMEDELTA
        .import(py, "datetime", "timedelta")?
        .call((), Some(&kwargs))?;
    epoch(py)?.call_method1("__add__", (delta,))
}

/// Bytes-like input (`bytes`, `bytearray`, `memoryview`) as a vector.
pub(crate) fn bytes_arg(obj: &Bound<'_, PyAny>, what: &str) -> PyResult<Vec<u8>> {
    if let Ok(b) = obj.cast::<PyBytes>() {
        return Ok(b.as_bytes().to_vec());
    }
    if let Ok(b) = obj.cast::<PyByteArray>() {
        return Ok(b.to_vec());
    }
    if obj.is_instance_of::<PyMemoryView>() {
        let b = PyBytes::type_object(obj.py()).call1((obj,))?;
        return Ok(b.cast::<PyBytes>()?.as_bytes().to_vec());
    }
    let hint = if obj.is_instance_of::<PyString>() {
        " (encode a str first, e.g. s.encode())"
    } else {
        ""
    };
    Err(PyTypeError::new_err(format!(
        "{what} must be bytes-like (bytes, bytearray, memoryview), got {}{hint}",
        type_name(obj)
    )))
}

/// A number argument (`int` or `float`, not `bool`, which Python would otherwise take as 0 or 1);
/// `what` names it in the `TypeError`.
pub(crate) fn number_arg(obj: &Bound<'_, PyAny>, what: &str) -> PyResult<f64> {
    if obj.is_instance_of::<PyBool>() {
        return Err(PyTypeError::new_err(format!(
            "{what} must be a number, not bool"
        )));
    }
    obj.extract::<f64>()
        .map_err(|_| PyTypeError::new_err(format!("{what} must be a number")))
}

/// An unsigned integer argument that must fit a `u64` (a height): an `int`, not a `bool`
/// (`TypeError` otherwise); a negative or too-large value is an `InvalidInputError` naming `what`
/// and the range, as a ttl out of range is, rather than pyo3's `OverflowError`.
pub(crate) fn u64_arg(obj: &Bound<'_, PyAny>, what: &str) -> PyResult<u64> {
    uint_arg(obj, what, u64::MAX)
}

/// An unsigned integer argument that must fit a `u32` (a round), as [`u64_arg`] reads it.
pub(crate) fn u32_arg(obj: &Bound<'_, PyAny>, what: &str) -> PyResult<u32> {
    let n = uint_arg(obj, what, u32::MAX.into())?;
    u32::try_from(n).map_err(|_| invalid(format!("{what} must be between 0 and {}", u32::MAX)))
}

/// An `int` between 0 and `max`.
fn uint_arg(obj: &Bound<'_, PyAny>, what: &str, max: u64) -> PyResult<u64> {
    if obj.is_instance_of::<PyBool>() || !obj.is_instance_of::<PyInt>() {
        return Err(PyTypeError::new_err(format!(
            "{what} must be an int, got {}",
            type_name(obj)
        )));
    }
    match obj.extract::<u64>() {
        Ok(n) if n <= max => Ok(n),
        _ => {
            let value = obj
                .str()
                .map(|s| s.to_string())
                .unwrap_or_else(|_| "an int beyond 64 bits".into());
            Err(invalid(format!(
                "{what} must be between 0 and {max}, got {value}"
            )))
        }
    }
}

/// A 32-byte hash given as 64 hex characters or 32 bytes.
pub(crate) fn hash_arg(obj: &Bound<'_, PyAny>, what: &str) -> PyResult<[u8; 32]> {
    if let Ok(s) = obj.cast::<PyString>() {
        let s = s.to_str()?;
        return bizra::hash::from_hex::<32>(&s.to_ascii_lowercase()).ok_or_else(|| {
            invalid(format!(
                "{what} must be 64 hex characters or 32 bytes, got a str of {} characters",
                s.chars().count()
            ))
        });
    }
    let b = bytes_arg(obj, what)?;
    <[u8; 32]>::try_from(b.as_slice())
        .map_err(|_| invalid(format!("{what} must be 32 bytes, got {} bytes", b.len())))
}

/// `bizra.canonicalize(value) -> str`: the RFC 8785 (JCS) text of a JSON-able Python value.
#[pyfunction]
pub(crate) fn canonicalize(py: Python<'_>, value: &Bound<'_, PyAny>) -> PyResult<String> {
    guard(|| {
        let v = to_value(value, "value")?;
        py.detach(|| bizra::canonical::to_string(&v))
            .map_err(|e| invalid(format!("value: {e}")))
    })
}
