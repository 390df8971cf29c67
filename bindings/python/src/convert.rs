//! Conversions between Python objects and the core's types: JSON values and instants.

use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyBool, PyDict, PyFloat, PyInt, PyList, PyString, PyTuple};
use pyo3::IntoPyObjectExt as _;
use serde_json::{Map, Number, Value};

use bizra::canonical::{MAX_DEPTH, MAX_SAFE_INTEGER};
use bizra::Timestamp;

use crate::{guard, invalid};

/// A Python value as JSON: `None`, `bool`, `int` (within ±(2^53−1)), finite `float`, `str`,
/// `list`/`tuple`, `dict` with `str` keys. Nesting is bounded by `MAX_DEPTH` (which also stops
/// self-referencing containers). Errors name the offending place (`payload['a'][3]`).
pub(crate) fn to_value(obj: &Bound<'_, PyAny>, what: &str) -> PyResult<Value> {
    let mut path = String::from(what);
    value_at(obj, 0, &mut path)
}

fn value_at(obj: &Bound<'_, PyAny>, depth: usize, path: &mut String) -> PyResult<Value> {
    if obj.is_none() {
        return Ok(Value::Null);
    }
    if let Ok(b) = obj.cast::<PyBool>() {
        return Ok(Value::Bool(b.is_true()));
    }
    if let Ok(s) = obj.cast::<PyString>() {
        return Ok(Value::String(py_str(s, path)?));
    }
    if obj.is_instance_of::<PyInt>() {
        let n: i64 = obj.extract().map_err(|_| {
            PyValueError::new_err(format!(
                "{path}: integer {} lies beyond ±(2^53−1), which I-JSON cannot carry",
                short_repr(obj)
            ))
        })?;
        if !(-MAX_SAFE_INTEGER..=MAX_SAFE_INTEGER).contains(&n) {
            return Err(PyValueError::new_err(format!(
                "{path}: integer {n} lies beyond ±(2^53−1), which I-JSON cannot carry"
            )));
        }
        return Ok(Value::Number(n.into()));
    }
    if let Ok(f) = obj.cast::<PyFloat>() {
        let v = f.value();
        return Number::from_f64(v).map(Value::Number).ok_or_else(|| {
            PyValueError::new_err(format!(
                "{path}: float {v} is not JSON (NaN and infinities are not)"
            ))
        });
    }
    let is_list = obj.is_instance_of::<PyList>();
    if is_list || obj.is_instance_of::<PyTuple>() {
        check_depth(depth, path)?;
        let len = obj.len()?;
        let mut items = Vec::with_capacity(len);
        for (i, item) in obj.try_iter()?.enumerate() {
            let mark = path.len();
            path.push_str(&format!("[{i}]"));
            items.push(value_at(&item?, depth + 1, path)?);
            path.truncate(mark);
        }
        return Ok(Value::Array(items));
    }
    if let Ok(d) = obj.cast::<PyDict>() {
        check_depth(depth, path)?;
        let mut map = Map::new();
        for (k, v) in d.iter() {
            let key = match k.cast::<PyString>() {
                Ok(s) => py_str(s, path)?,
                Err(_) => {
                    return Err(PyTypeError::new_err(format!(
                        "{path}: JSON object keys must be str, got {} key {}",
                        type_name(&k),
                        short_repr(&k)
                    )))
                }
            };
            let mark = path.len();
            path.push_str(&format!("[{key:?}]"));
            let value = value_at(&v, depth + 1, path)?;
            path.truncate(mark);
            map.insert(key, value);
        }
        return Ok(Value::Object(map));
    }
    Err(PyTypeError::new_err(format!(
        "{path}: {} is not JSON-serializable (use None, bool, int, float, str, list, tuple or dict)",
        type_name(obj)
    )))
}

fn check_depth(depth: usize, path: &str) -> PyResult<()> {
    if depth >= MAX_DEPTH {
        Err(PyValueError::new_err(format!(
            "{path}: nesting deeper than {MAX_DEPTH} levels (or a container that contains itself)"
        )))
    } else {
        Ok(())
    }
}

fn py_str(s: &Bound<'_, PyString>, path: &str) -> PyResult<String> {
    s.to_cow().map(|c| c.into_owned()).map_err(|_| {
        PyValueError::new_err(format!(
            "{path}: string {} holds a lone surrogate, which is not valid Unicode text (I-JSON)",
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
        return Err(PyValueError::new_err(format!(
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
    let kwargs = PyDict::new(py);
    kwargs.set_item("milliseconds", t.unix_millis())?;
    let delta = TIMEDELTA
        .import(py, "datetime", "timedelta")?
        .call((), Some(&kwargs))?;
    epoch(py)?.call_method1("__add__", (delta,))
}

/// Bytes-like input (`bytes`, `bytearray`, `memoryview`) as a vector.
pub(crate) fn bytes_arg(obj: &Bound<'_, PyAny>, what: &str) -> PyResult<Vec<u8>> {
    if obj.is_instance_of::<PyString>() {
        return Err(PyTypeError::new_err(format!(
            "{what} must be bytes, not str (encode it first, e.g. s.encode())"
        )));
    }
    obj.extract::<Vec<u8>>().or_else(|_| {
        obj.call_method0("__bytes__")
            .or_else(|_| obj.py().import("builtins")?.getattr("bytes")?.call1((obj,)))
            .and_then(|b| b.extract::<Vec<u8>>())
            .map_err(|_| {
                PyTypeError::new_err(format!(
                    "{what} must be bytes-like (bytes, bytearray, memoryview), got {}",
                    type_name(obj)
                ))
            })
    })
}

/// A 32-byte hash given as 64 hex characters or 32 bytes.
pub(crate) fn hash_arg(obj: &Bound<'_, PyAny>, what: &str) -> PyResult<[u8; 32]> {
    if let Ok(s) = obj.cast::<PyString>() {
        let s = s.to_cow()?;
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
