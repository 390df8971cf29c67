//! Errors as they cross to JavaScript, and the guard that keeps panics inside the addon.
//!
//! Every error leaves the addon as a JavaScript `Error` whose string `code` `index.js` reads:
//! - a core error ([`core_err`]): the name of its kind in the core's table (`bizra::ErrorKind`:
//!   `INVALID_INPUT`, `REJECTED`, `MODEL_NOT_FOUND`, `NO_REMOTE_POOL`, ...). The mapping is that
//!   table's data, keyed by `e.kind()`, not a match written here: a kind the core adds reaches
//!   JavaScript under its own name with no change to this file (the core's `ErrorKind` is
//!   non-exhaustive, so a match would need a wildcard arm that could silently lump it with
//!   another). A refusal's reason starts with its reject name and detail, each followed by
//!   [`SEP`] (`HASH_MISMATCH␟what failed␟message`): a reject name may equal a kind's name
//!   (`INTERNAL` is both), so the kind travels on its own. A refused certificate's reason (kind
//!   `CERTIFICATE_REFUSED`) starts with its code's name, number and detail
//!   (`BAD_SIGNATURE␟6␟what failed␟message`), and so does refused equivocation evidence's (kind
//!   `EVIDENCE_REFUSED`: `NOT_CONFLICTING␟5␟what failed␟message`), and a remote pool's error's
//!   (kinds `REMOTE_UNAVAILABLE` and `REMOTE_REFUSED`) with its endpoint and HTTP status, empty
//!   when it never answered (`http://host:8000/v1␟401␟message`);
//! - the binding's own failures, under the core's kinds for them: `INTERNAL` ([`internal`]) and
//!   `PANIC` ([`panic_err`], a caught Rust panic, from any export, batch task or thread);
//! - `TYPE_ERROR` ([`type_err`]): an argument of the wrong type, a `TypeError` in JavaScript
//!   rather than a `BizraError`.
//!
//! `index.js` makes a `BizraError` of it: `kind` the code, `code` the reject name of a refusal
//! or the refusal name of a certificate or of evidence (else the kind), `reject` and `retryable`
//! from the reject table exported here, `certificateCode` or `evidenceCode` the refusal's number,
//! `endpoint` and `status` a remote pool's.

use std::collections::HashMap;
use std::panic::{catch_unwind, AssertUnwindSafe};

use bizra::{ErrorKind, RejectCode};
use napi::{Env, JsError};
use napi_derive::napi;

/// Every export's result: an error with our string code.
pub(crate) type Result<T> = std::result::Result<T, napi::Error<String>>;

/// Separates a refusal's reject name, detail and message in the reason that crosses to
/// `index.js`.
const SEP: char = '\u{1f}';

pub(crate) fn err(code: &str, msg: impl Into<String>) -> napi::Error<String> {
    napi::Error::new(code.to_owned(), msg.into())
}

/// An error of one of the core's kinds, raised by the binding itself.
pub(crate) fn kind_err(kind: ErrorKind, msg: impl Into<String>) -> napi::Error<String> {
    err(kind.name(), msg)
}

/// A bug at the boundary: an invariant of the binding did not hold (kind `INTERNAL`).
pub(crate) fn internal(msg: impl Into<String>) -> napi::Error<String> {
    kind_err(ErrorKind::Internal, msg)
}

/// An argument of the wrong type or shape: a `TypeError` in JavaScript.
pub(crate) fn type_err(msg: impl Into<String>) -> napi::Error<String> {
    err("TYPE_ERROR", msg)
}

/// The core's error as it crosses: its kind's name as the code (see the module's documentation).
pub(crate) fn core_err(e: bizra::Error) -> napi::Error<String> {
    let kind = e.kind().name();
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
        bizra::Error::Reject { code, detail } => {
            err(kind, format!("{}{SEP}{detail}{SEP}{message}", code.name()))
        }
        bizra::Error::Certificate { code, name, detail }
        | bizra::Error::Evidence { code, name, detail } => err(
            kind,
            format!("{name}{SEP}{code}{SEP}{detail}{SEP}{message}"),
        ),
        bizra::Error::Remote {
            endpoint, status, ..
        } => {
            let status = status.map(|s| s.to_string()).unwrap_or_default();
            err(kind, format!("{endpoint}{SEP}{status}{SEP}{message}"))
        }
        _ => err(kind, message),
    }
}

/// A napi-rs error (argument conversion and the like) keeps napi's own status as its code;
/// `index.js` turns those into `TypeError`.
pub(crate) fn napi_err(e: napi::Error) -> napi::Error<String> {
    napi::Error::new(e.status.as_ref().to_owned(), e.reason.clone())
}

/// Our error as a JavaScript `Error` with its string `code`, made on the JavaScript thread: a
/// Promise rejected with a plain `napi::Error` would carry `GenericFailure` as its code.
pub(crate) fn js_error(env: &Env, e: napi::Error<String>) -> napi::Error {
    napi::Error::from(JsError::from(e).into_unknown(*env))
}

/// Runs an export's body: a panic becomes an error with code `PANIC`.
pub(crate) fn guard<T>(f: impl FnOnce() -> Result<T>) -> Result<T> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(r) => r,
        Err(payload) => Err(panic_err(&payload)),
    }
}

/// A caught panic as an error of kind `PANIC`.
pub(crate) fn panic_err(payload: &Box<dyn std::any::Any + Send>) -> napi::Error<String> {
    let text = if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "unknown panic".to_owned()
    };
    kind_err(
        ErrorKind::Panic,
        format!("internal error (Rust panic): {text}"),
    )
}

/// An error kept until every waiter has had it (`napi::Error` is not `Clone`).
pub struct Failure {
    code: String,
    message: String,
}

impl Failure {
    pub(crate) fn of(e: napi::Error<String>) -> Self {
        Failure {
            code: e.status,
            message: e.reason,
        }
    }

    pub(crate) fn error(&self) -> napi::Error<String> {
        err(&self.code, self.message.clone())
    }
}

// ---------------------------------------------------------------------------------------------
// The tables `index.js` builds `BizraError` from

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
#[napi(object, js_name = "ErrorKind")]
pub struct ErrorKindInfo {
    pub number: u32,
    pub name: String,
}

/// Every kind of error a `BizraError` can have (`error.kind`), from the core's table
/// (`ErrorKind::ALL`), in number order.
#[napi(ts_return_type = "ErrorKind[]")]
pub fn error_kinds() -> Result<Vec<ErrorKindInfo>> {
    guard(|| {
        Ok(ErrorKind::ALL
            .iter()
            .map(|k| ErrorKindInfo {
                number: k.number(),
                name: k.name().to_owned(),
            })
            .collect())
    })
}

/// The refusal codes of a commit certificate (tests/vectors/CONSENSUS-v1.md): name → number
/// (`{ MALFORMED: 1, ..., VALUE_MISMATCH: 8 }`), as `BizraError.certificateCode` holds them.
#[napi(js_name = "certificateCodes", skip_typescript)]
pub fn certificate_codes() -> Result<HashMap<String, u32>> {
    guard(|| {
        Ok(bizra::CertificateCode::ALL
            .iter()
            .map(|c| (c.name().to_owned(), c.code()))
            .collect())
    })
}

/// The refusal codes of equivocation evidence (tests/vectors/CONSENSUS-v1.md): name → number,
/// as `BizraError.evidenceCode` holds them.
#[napi(js_name = "evidenceCodes", skip_typescript)]
pub fn evidence_codes() -> Result<HashMap<String, u32>> {
    guard(|| {
        Ok(bizra::consensus::EvidenceCode::ALL
            .iter()
            .map(|c| (c.name().to_owned(), c.code()))
            .collect())
    })
}
