//! The exceptions: one class per kind of the core's error table (`bizra::ErrorKind`), all under
//! `bizra.BizraError`, and the conversion of a core error into the exception of its kind.
//!
//! The class of an error is chosen by its kind alone, through [`KIND_CLASSES`], a table keyed by
//! kind that the module checks against `ErrorKind::ALL` when it is imported (and that a test walks
//! through `bizra.ERROR_KINDS`), so a kind the core adds cannot fall through to a generic class.
//! Only the data a kind carries (a reject code, a prompt length, an OS error number) is read from
//! the error's fields.

use std::io;
use std::path::Path;

use bizra::ErrorKind;
use pyo3::exceptions::{
    PyException, PyFileExistsError, PyFileNotFoundError, PyOSError, PyPermissionError, PyValueError,
};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyDict, PyTuple, PyType};

pyo3::create_exception!(
    bizra,
    BizraError,
    PyException,
    "Base class of every error bizra raises. `.kind` names the kind of error (\"KEY\", \"REJECTED\", ...; see bizra.ERROR_KINDS) and `.detail` says what exactly failed."
);

/// A Python base class that a kind's class adds to (or has instead of) `BizraError`, so that code
/// written against the standard exceptions (`except ValueError`, `except OSError`) catches it.
#[derive(Clone, Copy)]
enum Base {
    /// `BizraError` alone.
    Bizra,
    /// `BizraError` and `ValueError`.
    Value,
    /// `BizraError` and `OSError`.
    Os,
    /// The class of another kind (built earlier in the table).
    Kind(ErrorKind),
}

/// The Python class of one error kind.
struct KindClass {
    kind: ErrorKind,
    name: &'static str,
    base: Base,
    doc: &'static str,
}

/// The class of every kind, keyed by kind; a class whose base is another kind's comes after it.
const KIND_CLASSES: [KindClass; 17] = [
    KindClass {
        kind: ErrorKind::InvalidInput,
        name: "InvalidInputError",
        base: Base::Value,
        doc: "An argument was out of range or of the wrong form (also a ValueError).",
    },
    KindClass {
        kind: ErrorKind::Rejected,
        name: "RejectError",
        base: Base::Bizra,
        doc: "An envelope or a gate refused admission: `.code` is the spec's number, `.name` its name (\"HASH_MISMATCH\"), `.detail` what exactly failed, `.retryable` whether the same request may succeed later.",
    },
    KindClass {
        kind: ErrorKind::CertificateRefused,
        name: "CertificateError",
        base: Base::Bizra,
        doc: "A commit certificate was refused: `.code` is the refusal code of CONSENSUS-v1 (1 to 8, see bizra.CERTIFICATE_CODES), `.name` its name (\"BAD_SIGNATURE\"), `.detail` what exactly was wrong.",
    },
    KindClass {
        kind: ErrorKind::EvidenceRefused,
        name: "EvidenceError",
        base: Base::Bizra,
        doc: "Equivocation evidence was refused (Evidence.verify): `.code` is the refusal code of CONSENSUS-v1 (1 to 8, see bizra.EVIDENCE_CODES), `.name` its name (\"NOT_CONFLICTING\"), `.detail` what exactly was wrong.",
    },
    KindClass {
        kind: ErrorKind::Key,
        name: "InvalidKeyError",
        base: Base::Bizra,
        doc: "A key could not be imported or exported: a wrong or missing passphrase, a corrupt or truncated key file.",
    },
    KindClass {
        kind: ErrorKind::Constitution,
        name: "ConstitutionError",
        base: Base::Bizra,
        doc: "A constitution document is invalid.",
    },
    KindClass {
        kind: ErrorKind::Io,
        name: "FileSystemError",
        base: Base::Os,
        doc: "An operating system call failed: a file, a socket (also an OSError, with `.errno` and `.filename`); a missing file is a NotFoundError, a refused one a PermissionDeniedError, an existing one an AlreadyExistsError.",
    },
    KindClass {
        kind: ErrorKind::Model,
        name: "ModelError",
        base: Base::Bizra,
        doc: "A model file is missing, is not a GGUF file, or is damaged.",
    },
    KindClass {
        kind: ErrorKind::ModelNotFound,
        name: "ModelNotFoundError",
        base: Base::Kind(ErrorKind::Model),
        doc: "No registered model serves the requested tier, or none has the requested name (also a ModelError).",
    },
    KindClass {
        kind: ErrorKind::PromptTooLong,
        name: "PromptTooLongError",
        base: Base::Bizra,
        doc: "The prompt does not fit the model's context window: shorten it or load the model with a larger n_ctx. `.prompt_tokens` is the prompt's length in tokens, `.n_ctx` the window.",
    },
    KindClass {
        kind: ErrorKind::NoRemotePool,
        name: "NoRemotePoolError",
        base: Base::Bizra,
        doc: "The pool tier was requested but no remote pool is configured.",
    },
    KindClass {
        kind: ErrorKind::RemoteUnavailable,
        name: "RemoteUnavailableError",
        base: Base::Bizra,
        doc: "A remote pool could not serve the request: unreachable, timed out, overloaded (429), a server error (5xx) or a malformed stream; the same request may succeed later. `.endpoint` is the URL tried, `.status` the HTTP status (None when no response came).",
    },
    KindClass {
        kind: ErrorKind::RemoteRefused,
        name: "RemoteRefusedError",
        base: Base::Bizra,
        doc: "A remote pool refused the request (an HTTP 4xx other than 429, e.g. a wrong API key): retrying the same request will not help. `.endpoint` is the URL tried, `.status` the HTTP status.",
    },
    KindClass {
        kind: ErrorKind::Busy,
        name: "BusyError",
        base: Base::Bizra,
        doc: "A bounded queue was full, so the call was not taken (a model's request queue, a consensus node's proposal pool): nothing was done; the same call may succeed once the load passes.",
    },
    KindClass {
        kind: ErrorKind::Inference,
        name: "InferenceError",
        base: Base::Bizra,
        doc: "The inference engine failed (llama.cpp refused a context, a decode failed, the worker stopped).",
    },
    KindClass {
        kind: ErrorKind::Internal,
        name: "InternalError",
        base: Base::Bizra,
        doc: "A bug in bizra: an invariant of the library did not hold. Please report it.",
    },
    KindClass {
        kind: ErrorKind::Panic,
        name: "PanicError",
        base: Base::Bizra,
        doc: "A bug in bizra: the Rust code panicked, and the binding stopped the panic at its boundary. Please report it.",
    },
];

/// The classes of the operating system's errors that Python has a standard class for: each is a
/// `FileSystemError` (kind IO) and the standard class, so `except FileNotFoundError` and
/// `except bizra.BizraError` both catch a missing key file. The `errno` name is the number given
/// to an error the core made itself (with its own words, no OS number).
const OS_CLASSES: [(io::ErrorKind, &str, &str, &str); 3] = [
    (
        io::ErrorKind::NotFound,
        "NotFoundError",
        "ENOENT",
        "A file or directory does not exist (also a FileNotFoundError).",
    ),
    (
        io::ErrorKind::PermissionDenied,
        "PermissionDeniedError",
        "EACCES",
        "The operating system refused access to a file (also a PermissionError).",
    ),
    (
        io::ErrorKind::AlreadyExists,
        "AlreadyExistsError",
        "EEXIST",
        "A file exists where a new one was to be written (also a FileExistsError).",
    ),
];

/// The standard Python class of an OS error kind in [`OS_CLASSES`].
fn os_builtin(py: Python<'_>, kind: io::ErrorKind) -> Bound<'_, PyType> {
    match kind {
        io::ErrorKind::NotFound => py.get_type::<PyFileNotFoundError>(),
        io::ErrorKind::PermissionDenied => py.get_type::<PyPermissionError>(),
        io::ErrorKind::AlreadyExists => py.get_type::<PyFileExistsError>(),
        _ => py.get_type::<PyOSError>(),
    }
}

struct Classes {
    kinds: Vec<(ErrorKind, Py<PyType>)>,
    os: Vec<(io::ErrorKind, Py<PyType>)>,
}

static CLASSES: PyOnceLock<Classes> = PyOnceLock::new();

/// `type(name, bases, {...})` in module `bizra`, with `kind` as a class attribute.
fn new_class<'py>(
    py: Python<'py>,
    name: &str,
    bases: Vec<Bound<'py, PyType>>,
    kind: ErrorKind,
    doc: &str,
) -> PyResult<Py<PyType>> {
    let ns = PyDict::new(py);
    ns.set_item("__module__", "bizra")?;
    ns.set_item("__doc__", doc)?;
    ns.set_item("kind", kind.name())?;
    let class = py
        .get_type::<PyType>()
        .call1((name, PyTuple::new(py, bases)?, ns))?;
    Ok(class.cast_into::<PyType>()?.unbind())
}

fn build(py: Python<'_>) -> PyResult<Classes> {
    let bizra_error = py.get_type::<BizraError>();
    let mut kinds: Vec<(ErrorKind, Py<PyType>)> = Vec::with_capacity(KIND_CLASSES.len());
    for c in &KIND_CLASSES {
        let bases = match c.base {
            Base::Bizra => vec![bizra_error.clone()],
            Base::Value => vec![bizra_error.clone(), py.get_type::<PyValueError>()],
            Base::Os => vec![bizra_error.clone(), py.get_type::<PyOSError>()],
            Base::Kind(k) => {
                let base = kinds.iter().find(|(kind, _)| *kind == k).ok_or_else(|| {
                    internal(format!("the class of {} comes before its base's", c.name))
                })?;
                vec![base.1.bind(py).clone()]
            }
        };
        kinds.push((c.kind, new_class(py, c.name, bases, c.kind, c.doc)?));
    }
    // The table must give every kind of the core a class: a kind the core adds fails the import
    // (and the test suite) instead of reaching users as a generic error.
    if let Some(missing) = ErrorKind::ALL
        .into_iter()
        .find(|k| !kinds.iter().any(|(kind, _)| kind == k))
    {
        return Err(internal(format!(
            "the error kind {} ({}) has no Python class",
            missing.name(),
            missing.number()
        )));
    }
    let io_class = kinds
        .iter()
        .find(|(k, _)| *k == ErrorKind::Io)
        .map(|(_, c)| c.bind(py).clone())
        .ok_or_else(|| internal("the IO kind has no class"))?;
    let mut os = Vec::with_capacity(OS_CLASSES.len());
    for (io_kind, name, _, doc) in OS_CLASSES {
        let bases = vec![io_class.clone(), os_builtin(py, io_kind)];
        os.push((io_kind, new_class(py, name, bases, ErrorKind::Io, doc)?));
    }
    Ok(Classes { kinds, os })
}

fn classes(py: Python<'_>) -> PyResult<&Classes> {
    CLASSES.get_or_try_init(py, || build(py))
}

/// The class of `kind`.
fn class_of(py: Python<'_>, kind: ErrorKind) -> PyResult<Bound<'_, PyType>> {
    classes(py)?
        .kinds
        .iter()
        .find(|(k, _)| *k == kind)
        .map(|(_, c)| c.bind(py).clone())
        .ok_or_else(|| {
            // `build` refuses a table without every kind, so this cannot be reached; the base
            // class with the kind's name is the honest answer if it ever were.
            BizraError::new_err(format!("an error of kind {}", kind.name()))
        })
}

/// An exception of `kind` with `message` as its text and `.detail`.
pub(crate) fn error(kind: ErrorKind, message: impl Into<String>) -> PyErr {
    let message = message.into();
    Python::attach(|py| {
        let made = || -> PyResult<PyErr> {
            let value = class_of(py, kind)?.call1((message.as_str(),))?;
            value.setattr("detail", message.as_str())?;
            Ok(PyErr::from_value(value))
        };
        made().unwrap_or_else(|e| e)
    })
}

/// An `InvalidInputError` (a `ValueError` too) with `msg`.
pub(crate) fn invalid(msg: impl Into<String>) -> PyErr {
    error(ErrorKind::InvalidInput, msg)
}

/// An `InternalError`: an invariant of the binding did not hold.
pub(crate) fn internal(msg: impl Into<String>) -> PyErr {
    error(ErrorKind::Internal, msg)
}

/// The exception of the core's error, by its kind, carrying the kind's data.
pub(crate) fn to_py(e: bizra::Error) -> PyErr {
    Python::attach(|py| exception(py, &e).unwrap_or_else(|failed| failed))
}

fn exception(py: Python<'_>, e: &bizra::Error) -> PyResult<PyErr> {
    let message = e.to_string();
    let value = match e {
        bizra::Error::Io { path, source } => os_exception(py, path, source)?,
        _ => class_of(py, e.kind())?.call1((message.as_str(),))?,
    };
    match e {
        bizra::Error::Reject { code, detail } => {
            value.setattr("detail", detail.as_str())?;
            value.setattr("code", code.code())?;
            value.setattr("name", code.name())?;
            value.setattr("retryable", code.is_retryable())?;
        }
        bizra::Error::Certificate { code, name, detail }
        | bizra::Error::Evidence { code, name, detail } => {
            value.setattr("detail", detail.as_str())?;
            value.setattr("code", *code)?;
            value.setattr("name", *name)?;
        }
        bizra::Error::ContextOverflow {
            prompt_tokens,
            n_ctx,
        } => {
            value.setattr("detail", message.as_str())?;
            value.setattr("prompt_tokens", *prompt_tokens)?;
            value.setattr("n_ctx", *n_ctx)?;
        }
        bizra::Error::Remote {
            endpoint, status, ..
        } => {
            value.setattr("detail", message.as_str())?;
            value.setattr("endpoint", endpoint.as_str())?;
            value.setattr("status", *status)?;
        }
        _ => value.setattr("detail", message.as_str())?,
    }
    Ok(PyErr::from_value(value))
}

/// An OS error as Python raises its own: `cls(errno, strerror, filename)`, so `.errno`,
/// `.strerror`, `.filename` and `str()` ("[Errno 2] No such file or directory: 'x'") are the
/// standard ones; the class is the standard one's bizra twin where Python has one. An error the
/// core made itself (no OS number) keeps its words as `strerror`, with the number of its kind
/// where Python has a class for it, else no number.
fn os_exception<'py>(
    py: Python<'py>,
    path: &Path,
    source: &io::Error,
) -> PyResult<Bound<'py, PyAny>> {
    let all = classes(py)?;
    let twin = OS_CLASSES
        .iter()
        .zip(&all.os)
        .find(|((k, ..), _)| *k == source.kind());
    let class = match twin {
        Some((_, (_, c))) => c.bind(py).clone(),
        None => class_of(py, ErrorKind::Io)?,
    };
    let filename = path.as_os_str();
    if let Some(errno) = source.raw_os_error() {
        let strerror = py.import("os")?.call_method1("strerror", (errno,))?;
        return class.call1((errno, strerror, filename));
    }
    match twin {
        Some(((_, _, errno_name, _), _)) => {
            let errno = py.import("errno")?.getattr(*errno_name)?;
            class.call1((errno, source.to_string(), filename))
        }
        None => {
            let value = class.call1((format!("{}: {source}", path.display()),))?;
            value.setattr("filename", filename)?;
            Ok(value)
        }
    }
}

/// `bizra.ERROR_KINDS`: every kind of the core's table, by number, as `(name, class)`.
pub(crate) fn kinds_table(py: Python<'_>) -> PyResult<Bound<'_, PyDict>> {
    let table = PyDict::new(py);
    for kind in ErrorKind::ALL {
        table.set_item(kind.number(), (kind.name(), class_of(py, kind)?))?;
    }
    Ok(table)
}

/// Adds `BizraError`, every kind's class and the OS classes to the module.
pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add("BizraError", py.get_type::<BizraError>())?;
    let all = classes(py)?;
    for (c, (_, class)) in KIND_CLASSES.iter().zip(&all.kinds) {
        m.add(c.name, class.bind(py))?;
    }
    for ((_, name, _, _), (_, class)) in OS_CLASSES.iter().zip(&all.os) {
        m.add(*name, class.bind(py))?;
    }
    m.add("ERROR_KINDS", kinds_table(py)?)?;
    Ok(())
}
