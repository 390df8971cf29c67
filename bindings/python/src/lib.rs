//! Python binding of bizra: a thin pyo3 layer over the core crate.
//!
//! Type conversion and Python idioms only; every rule of the protocol lives in the core. The native
//! module is `bizra._native`; the package `bizra` (python/bizra/__init__.py) re-exports it.
//!
//! Every entry point runs through [`guard`], so a Rust panic surfaces as `bizra.BizraError` and
//! never as pyo3's `PanicException` (a `BaseException`), and slow work (signing, verification,
//! batches, PEM encryption, gate chains) runs with the GIL released.

use std::panic::{catch_unwind, AssertUnwindSafe};

use pyo3::exceptions::{
    PyException, PyFileExistsError, PyFileNotFoundError, PyOSError, PyPermissionError,
};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyDict, PyTuple, PyType};

mod bench;
mod constitution;
mod convert;
mod envelope;
mod gates;
mod identity;
mod inference;
mod tier;

pyo3::create_exception!(
    bizra,
    BizraError,
    PyException,
    "Base class of every error bizra raises (a Rust panic included)."
);
pyo3::create_exception!(
    bizra,
    RejectError,
    BizraError,
    "An envelope or a gate refused admission: `.code` is the spec's number, `.name` its name (\"HASH_MISMATCH\"), `.detail` what exactly failed."
);
pyo3::create_exception!(
    bizra,
    ModelError,
    BizraError,
    "A model file is missing, is not a GGUF file, or is damaged; or no model has the requested name."
);
pyo3::create_exception!(
    bizra,
    PromptTooLongError,
    BizraError,
    "The prompt does not fit the model's context window: shorten it or load the model with a larger n_ctx. `.prompt_tokens` is the prompt's length in tokens, `.n_ctx` the window."
);
pyo3::create_exception!(
    bizra,
    InferenceError,
    BizraError,
    "The inference engine failed (llama.cpp refused a context, a decode failed, the worker stopped)."
);

/// `bizra.InvalidInputError(BizraError, ValueError)`: an argument out of range or of the wrong
/// form. Built at import with `type()`, as pyo3's `create_exception!` takes one base only.
static INVALID_INPUT: PyOnceLock<Py<PyType>> = PyOnceLock::new();

fn invalid_input_type(py: Python<'_>) -> PyResult<&Bound<'_, PyType>> {
    INVALID_INPUT
        .get_or_try_init(py, || {
            let bases = PyTuple::new(
                py,
                [
                    py.get_type::<BizraError>().into_any(),
                    py.get_type::<pyo3::exceptions::PyValueError>().into_any(),
                ],
            )?;
            let ns = PyDict::new(py);
            ns.set_item("__module__", "bizra")?;
            ns.set_item(
                "__doc__",
                "An argument was out of range or of the wrong form (also a ValueError).",
            )?;
            let ty = py
                .get_type::<PyType>()
                .call1(("InvalidInputError", bases, ns))?;
            Ok::<_, PyErr>(ty.cast_into::<PyType>()?.unbind())
        })
        .map(|t| t.bind(py))
}

/// An `InvalidInputError` (a `ValueError` too) with `msg`.
pub(crate) fn invalid(msg: impl Into<String>) -> PyErr {
    let msg = msg.into();
    Python::attach(|py| match invalid_input_type(py) {
        Ok(ty) => PyErr::from_type(ty.clone(), msg),
        Err(e) => e,
    })
}

/// A `RejectError` carrying the spec's code and name.
pub(crate) fn reject_error(code: bizra::RejectCode, detail: &str, message: String) -> PyErr {
    Python::attach(|py| {
        let err = RejectError::new_err(message);
        let value = err.value(py);
        let set = || -> PyResult<()> {
            value.setattr("code", code.code())?;
            value.setattr("name", code.name())?;
            value.setattr("detail", detail)?;
            value.setattr("retryable", code.is_retryable())?;
            Ok(())
        };
        match set() {
            Ok(()) => err,
            Err(e) => e,
        }
    })
}

/// A `PromptTooLongError` carrying `.prompt_tokens` and `.n_ctx`, so a caller can shorten the
/// prompt by the right amount or reload with a larger context without parsing the message.
fn prompt_too_long(prompt_tokens: usize, n_ctx: u32, message: String) -> PyErr {
    Python::attach(|py| {
        let err = PromptTooLongError::new_err(message);
        let value = err.value(py);
        let set = || -> PyResult<()> {
            value.setattr("prompt_tokens", prompt_tokens)?;
            value.setattr("n_ctx", n_ctx)?;
            Ok(())
        };
        match set() {
            Ok(()) => err,
            Err(e) => e,
        }
    })
}

/// Maps the core's error to the Python exception a user expects.
pub(crate) fn to_py(e: bizra::Error) -> PyErr {
    let message = e.to_string();
    match e {
        bizra::Error::Reject { code, detail } => reject_error(code, &detail, message),
        bizra::Error::InvalidInput(_) => invalid(message),
        bizra::Error::Model { .. } | bizra::Error::ModelNotFound(_) => ModelError::new_err(message),
        bizra::Error::ContextOverflow {
            prompt_tokens,
            n_ctx,
        } => prompt_too_long(prompt_tokens, n_ctx, message),
        bizra::Error::Inference(_) => InferenceError::new_err(message),
        bizra::Error::Io { source, .. } => match source.kind() {
            std::io::ErrorKind::NotFound => PyFileNotFoundError::new_err(message),
            std::io::ErrorKind::PermissionDenied => PyPermissionError::new_err(message),
            std::io::ErrorKind::AlreadyExists => PyFileExistsError::new_err(message),
            _ => PyOSError::new_err(message),
        },
        _ => BizraError::new_err(message),
    }
}

/// Runs an entry point, turning a Rust panic into `BizraError`.
pub(crate) fn guard<T>(f: impl FnOnce() -> PyResult<T>) -> PyResult<T> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(r) => r,
        Err(payload) => {
            let what = payload
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".to_owned());
            Err(BizraError::new_err(format!(
                "internal error (a Rust panic in bizra): {what}"
            )))
        }
    }
}

/// Panics inside the boundary; the test suite checks that this arrives as `BizraError`.
#[pyfunction]
fn _panic_for_tests(message: &str) -> PyResult<()> {
    guard(|| panic!("{message}"))
}

/// Name of a reject code (`15` → `"HASH_MISMATCH"`, `0` → `"SUCCESS"`); `ValueError` for
/// numbers the spec does not define.
#[pyfunction]
fn reject_name(code: u32) -> PyResult<&'static str> {
    guard(|| {
        if code == 0 {
            return Ok("SUCCESS");
        }
        bizra::RejectCode::from_code(code)
            .map(|c| c.name())
            .ok_or_else(|| invalid(format!("{code} is not a PCI reject code")))
    })
}

#[pymodule]
#[pyo3(name = "_native")]
fn native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add("__version__", bizra::VERSION)?;
    m.add("BizraError", py.get_type::<BizraError>())?;
    m.add("RejectError", py.get_type::<RejectError>())?;
    m.add("InvalidInputError", invalid_input_type(py)?)?;
    m.add("ModelError", py.get_type::<ModelError>())?;
    m.add("PromptTooLongError", py.get_type::<PromptTooLongError>())?;
    m.add("InferenceError", py.get_type::<InferenceError>())?;
    let codes = PyDict::new(py);
    codes.set_item(0, "SUCCESS")?;
    for c in bizra::RejectCode::ALL {
        codes.set_item(c.code(), c.name())?;
    }
    m.add("REJECT_CODES", codes)?;
    m.add("MAX_DEPTH", bizra::canonical::MAX_DEPTH)?;
    m.add("MAX_TTL_SECONDS", bizra::pci::MAX_TTL_SECONDS)?;
    m.add("MAX_CLOCK_SKEW_SECONDS", bizra::pci::MAX_CLOCK_SKEW_SECONDS)?;
    m.add("MAX_PROVENANCE", bizra::pci::MAX_PROVENANCE)?;
    m.add("MAX_PAYLOAD_BYTES", bizra::pci::MAX_PAYLOAD_BYTES)?;
    m.add_function(wrap_pyfunction!(reject_name, m)?)?;
    m.add_function(wrap_pyfunction!(_panic_for_tests, m)?)?;
    m.add_function(wrap_pyfunction!(convert::canonicalize, m)?)?;
    identity::register(m)?;
    envelope::register(m)?;
    gates::register(m)?;
    constitution::register(m)?;
    tier::register(m)?;
    bench::register(m)?;
    inference::register(m)?;
    Ok(())
}
