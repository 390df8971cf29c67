//! The UniFFI surface of bizra, for the Kotlin and Swift bindings (`bindings/kotlin`,
//! `bindings/swift`), generated from `libbizra.so` in library mode.
//!
//! Thin like the C ABI: every function converts types and calls `bizra_core::...`; no rule of the
//! spec is repeated here. Payloads cross as JSON text and are read by the core's strict parser.
//! Instants cross as `SystemTime` (`java.time.Instant` in Kotlin, `Date` in Swift) and are
//! truncated to the millisecond, the envelope's precision.
//!
//! No panic crosses: UniFFI's scaffolding runs every export under `catch_unwind` and reports a
//! panic as UniFFI's internal error (`InternalException` in Kotlin); a panic on a thread of ours
//! (a generation's helper thread) is `BizraError::Panic`; a foreign custom gate that throws
//! becomes a refusal with code 24 (see [`gates`]).
//!
//! Errors map by the core's error kinds: one variant of [`BizraError`] per kind, chosen through
//! one table ([`BizraError::from`]), and `BizraError::error_kind` gives any error's kind back from
//! the core's table (Kotlin's `BizraException.kind`, in `bindings/kotlin/.../Errors.kt`).

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bizra_core::{ErrorKind, RejectCode, Timestamp};

mod consensus;
mod constitution;
mod envelope;
mod federation;
mod gates;
mod gateway;
mod identity;
mod inference;
mod store;
mod stream;
mod tier;

/// Every failure of the bindings: one variant per kind of error of the core (`ErrorKind`), each
/// with the words of what failed as `detail`. Kotlin sees `BizraException` with one subclass per
/// variant (and `kind`, `detail` on every one); Swift sees `BizraError`.
#[derive(Debug, Clone, PartialEq, Eq, ::uniffi::Error)]
pub enum BizraError {
    /// An argument was out of range or of the wrong form (a payload that is not I-JSON, a seed
    /// of the wrong length, a ttl out of range, a replay cache of capacity 0, ...).
    InvalidInput {
        /// What was wrong.
        detail: String,
    },
    /// A verdict: an envelope, a signature or a gate chain refused. `code` is the spec's reject
    /// code (PCI-v1.md), `name` its name (`"EXPIRED"`), `retryable` whether the same request may
    /// succeed later (rate, quota, timeout), `detail` what exactly failed.
    Rejected {
        /// The spec's reject code.
        code: u32,
        /// The code's name, as the C enum's suffix.
        name: String,
        /// Whether a retry may succeed (GATE_RATE, QUOTA, TIMEOUT).
        retryable: bool,
        /// What failed, for humans.
        detail: String,
    },
    /// A verdict: a commit certificate was refused. `code` is the refusal code of
    /// CONSENSUS-v1.md (1 malformed ... 8 value mismatch), `name` its name (`"BAD_SIGNATURE"`),
    /// `detail` what exactly was wrong.
    CertificateRefused {
        /// The refusal code.
        code: u32,
        /// The code's name, as the C enum's suffix.
        name: String,
        /// What was wrong, for humans.
        detail: String,
    },
    /// A verdict: equivocation evidence was refused (`Evidence.verify`). `code` is the refusal
    /// code of CONSENSUS-v1.md's evidence checks (1 malformed ... 8 bad signature), `name` its
    /// name (`"NOT_CONFLICTING"`), `detail` what exactly was wrong.
    EvidenceRefused {
        /// The refusal code.
        code: u32,
        /// The code's name, as the C enum's suffix.
        name: String,
        /// What was wrong, for humans.
        detail: String,
    },
    /// A key could not be imported or exported (wrong passphrase, corrupt file).
    Key {
        /// What was wrong.
        detail: String,
    },
    /// A constitution is invalid.
    Constitution {
        /// What was wrong.
        detail: String,
    },
    /// A file could not be read or written (or exists where it must not, as for `Identity.save`
    /// without `overwrite`).
    Io {
        /// The path and the operating system's error.
        detail: String,
    },
    /// A model file is missing, is not a GGUF file or is damaged (truncated, corrupt), or
    /// llama.cpp could not load it. The detail names the file and what is wrong with it.
    Model {
        /// The file and what is wrong with it.
        detail: String,
    },
    /// No registered model serves the requested tier, or none has the requested name.
    ModelNotFound {
        /// What was looked for.
        detail: String,
    },
    /// The prompt does not fit the model's context window (with room for one generated token):
    /// shorten it, or load the model with a larger `nCtx`. The model stays usable.
    PromptTooLong {
        /// Tokens in the prompt, after the chat template was applied.
        prompt_tokens: u64,
        /// The context window of the model, in tokens.
        n_ctx: u32,
        /// The same, for humans.
        detail: String,
    },
    /// The pool tier was requested, but no remote pool is configured.
    NoRemotePool {
        /// What was asked for.
        detail: String,
    },
    /// The inference engine failed: llama.cpp refused a context, a decode failed, or the
    /// engine's worker thread stopped.
    Inference {
        /// What failed.
        detail: String,
    },
    /// A remote pool could not serve: unreachable, silent past its timeout, overloaded (429),
    /// failing (5xx) or answering outside the protocol. Another pool, a fallback tier or a
    /// later attempt may serve.
    RemoteUnavailable {
        /// The pool's API root, without credentials.
        endpoint: String,
        /// The HTTP status it answered with (0: it did not answer).
        status: u16,
        /// What happened.
        detail: String,
    },
    /// A remote pool refused the request itself: a wrong API key, an unknown model, a request
    /// it does not accept. The configuration or the request must change.
    RemoteRefused {
        /// The pool's API root, without credentials.
        endpoint: String,
        /// The HTTP status it answered with.
        status: u16,
        /// What happened.
        detail: String,
    },
    /// A bug or a foreign callback that broke its contract.
    Internal {
        /// What happened.
        detail: String,
    },
    /// A bug: the library panicked on a thread of its own (a generation's helper thread).
    Panic {
        /// What the panic said.
        detail: String,
    },
    /// A bounded queue was full, so the call was not taken: a model's request queue, a
    /// consensus node's proposal pool. Nothing was done; the same call may succeed once the load
    /// passes. (Last, so that the variants before it keep their numbers.)
    Busy {
        /// Which queue, and how many it holds.
        detail: String,
    },
}

/// An error kind of the core's table (`ErrorKind`): its stable number and its name, the same in
/// every binding.
#[derive(Debug, Clone, PartialEq, Eq, ::uniffi::Record)]
pub struct ErrorKindInfo {
    /// The stable number (1xx arguments, 2xx verdicts, 3xx keys and policy, 4xx the operating
    /// system, 5xx inference, 9xx the library itself).
    pub number: u32,
    /// The name, upper case (`"INVALID_INPUT"`, `"REJECTED"`, ...).
    pub name: String,
}

impl From<ErrorKind> for ErrorKindInfo {
    fn from(k: ErrorKind) -> Self {
        ErrorKindInfo {
            number: k.number(),
            name: k.name().to_owned(),
        }
    }
}

/// Every kind of error, in number order: the core's table as the bindings see it.
#[::uniffi::export]
pub fn error_kinds() -> Vec<ErrorKindInfo> {
    ErrorKind::ALL
        .into_iter()
        .map(ErrorKindInfo::from)
        .collect()
}

/// Makes the variant of one kind from a core error of that kind.
type Variant = fn(bizra_core::Error) -> BizraError;

/// The one mapping from the core's error kinds to [`BizraError`]'s variants. Its length is the
/// number of kinds, so a kind added to the core fails the build until it has a row; the tests
/// check that each kind's row makes an error of that kind. (`Internal` and `Panic` are raised by
/// bindings, never by the core: their rows keep the table whole.)
const VARIANTS: [(ErrorKind, Variant); ErrorKind::ALL.len()] = [
    (ErrorKind::InvalidInput, |e| BizraError::InvalidInput {
        detail: detail_of(e),
    }),
    (ErrorKind::Rejected, |e| {
        let code = e.reject_code().unwrap_or(RejectCode::Internal);
        BizraError::rejected(code, detail_of(e))
    }),
    (ErrorKind::CertificateRefused, |e| match e {
        bizra_core::Error::Certificate { code, name, detail } => BizraError::CertificateRefused {
            code,
            name: name.to_owned(),
            detail,
        },
        // Only `Error::Certificate` has this kind.
        other => BizraError::Internal {
            detail: format!("a certificate refusal without its code: {other}"),
        },
    }),
    (ErrorKind::EvidenceRefused, |e| match e {
        bizra_core::Error::Evidence { code, name, detail } => BizraError::EvidenceRefused {
            code,
            name: name.to_owned(),
            detail,
        },
        // Only `Error::Evidence` has this kind.
        other => BizraError::Internal {
            detail: format!("an evidence refusal without its code: {other}"),
        },
    }),
    (ErrorKind::Key, |e| BizraError::Key {
        detail: detail_of(e),
    }),
    (ErrorKind::Constitution, |e| BizraError::Constitution {
        detail: detail_of(e),
    }),
    (ErrorKind::Io, |e| BizraError::Io {
        detail: e.to_string(),
    }),
    (ErrorKind::Model, |e| BizraError::Model {
        detail: e.to_string(),
    }),
    (ErrorKind::ModelNotFound, |e| BizraError::ModelNotFound {
        detail: e.to_string(),
    }),
    (ErrorKind::PromptTooLong, |e| {
        let detail = e.to_string();
        // The only fields the kind's table cannot carry: the numbers of the overflow.
        let (prompt_tokens, n_ctx) = match e {
            bizra_core::Error::ContextOverflow {
                prompt_tokens,
                n_ctx,
            } => (u64::try_from(prompt_tokens).unwrap_or(u64::MAX), n_ctx),
            _ => (0, 0),
        };
        BizraError::PromptTooLong {
            prompt_tokens,
            n_ctx,
            detail,
        }
    }),
    (ErrorKind::NoRemotePool, |e| BizraError::NoRemotePool {
        detail: e.to_string(),
    }),
    (ErrorKind::Inference, |e| BizraError::Inference {
        detail: e.to_string(),
    }),
    (ErrorKind::RemoteUnavailable, |e| remote(e, false)),
    (ErrorKind::RemoteRefused, |e| remote(e, true)),
    (ErrorKind::Busy, |e| BizraError::Busy {
        detail: e.to_string(),
    }),
    (ErrorKind::Internal, |e| BizraError::Internal {
        detail: e.to_string(),
    }),
    (ErrorKind::Panic, |e| BizraError::Panic {
        detail: e.to_string(),
    }),
];

/// A remote pool's failure, with the fields the kind's table cannot carry.
fn remote(e: bizra_core::Error, refused: bool) -> BizraError {
    let detail = e.to_string();
    let (endpoint, status) = match e {
        bizra_core::Error::Remote {
            endpoint, status, ..
        } => (endpoint, status.unwrap_or(0)),
        _ => (String::new(), 0),
    };
    if refused {
        BizraError::RemoteRefused {
            endpoint,
            status,
            detail,
        }
    } else {
        BizraError::RemoteUnavailable {
            endpoint,
            status,
            detail,
        }
    }
}

/// The words of an error without its kind's prefix where the variant already says the kind
/// (`Key { detail: "wrong passphrase" }`, not `"key: wrong passphrase"`).
fn detail_of(e: bizra_core::Error) -> String {
    match e {
        bizra_core::Error::Reject { detail, .. }
        | bizra_core::Error::InvalidInput(detail)
        | bizra_core::Error::Key(detail)
        | bizra_core::Error::Constitution(detail) => detail,
        other => other.to_string(),
    }
}

impl BizraError {
    pub(crate) fn rejected(code: RejectCode, detail: impl Into<String>) -> Self {
        BizraError::Rejected {
            code: code.code(),
            name: code.name().to_string(),
            retryable: code.is_retryable(),
            detail: detail.into(),
        }
    }

    pub(crate) fn invalid(detail: impl Into<String>) -> Self {
        BizraError::InvalidInput {
            detail: detail.into(),
        }
    }

    /// The core's kind of this error (every variant is one kind).
    pub(crate) fn kind(&self) -> ErrorKind {
        match self {
            BizraError::InvalidInput { .. } => ErrorKind::InvalidInput,
            BizraError::Rejected { .. } => ErrorKind::Rejected,
            BizraError::CertificateRefused { .. } => ErrorKind::CertificateRefused,
            BizraError::EvidenceRefused { .. } => ErrorKind::EvidenceRefused,
            BizraError::Key { .. } => ErrorKind::Key,
            BizraError::Constitution { .. } => ErrorKind::Constitution,
            BizraError::Io { .. } => ErrorKind::Io,
            BizraError::Model { .. } => ErrorKind::Model,
            BizraError::ModelNotFound { .. } => ErrorKind::ModelNotFound,
            BizraError::PromptTooLong { .. } => ErrorKind::PromptTooLong,
            BizraError::NoRemotePool { .. } => ErrorKind::NoRemotePool,
            BizraError::Inference { .. } => ErrorKind::Inference,
            BizraError::RemoteUnavailable { .. } => ErrorKind::RemoteUnavailable,
            BizraError::RemoteRefused { .. } => ErrorKind::RemoteRefused,
            BizraError::Busy { .. } => ErrorKind::Busy,
            BizraError::Internal { .. } => ErrorKind::Internal,
            BizraError::Panic { .. } => ErrorKind::Panic,
        }
    }

    fn detail(&self) -> &str {
        match self {
            BizraError::InvalidInput { detail }
            | BizraError::Rejected { detail, .. }
            | BizraError::CertificateRefused { detail, .. }
            | BizraError::EvidenceRefused { detail, .. }
            | BizraError::Key { detail }
            | BizraError::Constitution { detail }
            | BizraError::Io { detail }
            | BizraError::Model { detail }
            | BizraError::ModelNotFound { detail }
            | BizraError::PromptTooLong { detail, .. }
            | BizraError::NoRemotePool { detail }
            | BizraError::Inference { detail }
            | BizraError::RemoteUnavailable { detail, .. }
            | BizraError::RemoteRefused { detail, .. }
            | BizraError::Busy { detail }
            | BizraError::Internal { detail }
            | BizraError::Panic { detail } => detail,
        }
    }
}

#[::uniffi::export]
impl BizraError {
    /// This error's kind, from the core's table (Kotlin reads it as `BizraException.kind`, its
    /// name).
    pub fn error_kind(&self) -> ErrorKindInfo {
        self.kind().into()
    }

    /// What exactly failed (Kotlin reads it as `BizraException.detail`).
    pub fn error_detail(&self) -> String {
        self.detail().to_owned()
    }
}

impl fmt::Display for BizraError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BizraError::Rejected {
                code, name, detail, ..
            } => write!(f, "PCI-{code:02} {name}: {detail}"),
            BizraError::CertificateRefused { name, detail, .. } => {
                write!(f, "certificate refused: {name} ({detail})")
            }
            BizraError::EvidenceRefused { name, detail, .. } => {
                write!(f, "equivocation evidence refused: {name} ({detail})")
            }
            BizraError::InvalidInput { detail } => write!(f, "invalid input: {detail}"),
            BizraError::Key { detail } => write!(f, "key: {detail}"),
            BizraError::Constitution { detail } => write!(f, "constitution: {detail}"),
            BizraError::Io { detail } => write!(f, "io: {detail}"),
            BizraError::Internal { detail } => write!(f, "internal: {detail}"),
            BizraError::Panic { detail } => write!(f, "panic: {detail}"),
            BizraError::Model { detail }
            | BizraError::ModelNotFound { detail }
            | BizraError::PromptTooLong { detail, .. }
            | BizraError::NoRemotePool { detail }
            | BizraError::Inference { detail }
            | BizraError::RemoteUnavailable { detail, .. }
            | BizraError::RemoteRefused { detail, .. }
            | BizraError::Busy { detail } => f.write_str(detail),
        }
    }
}

impl std::error::Error for BizraError {}

/// A core error becomes the variant of its kind, through the one table ([`VARIANTS`]).
impl From<bizra_core::Error> for BizraError {
    fn from(e: bizra_core::Error) -> Self {
        let kind = e.kind();
        match VARIANTS.iter().find(|(k, _)| *k == kind) {
            Some((_, variant)) => variant(e),
            // Impossible while the table has a row per kind (its length and the tests see to it).
            None => BizraError::Internal {
                detail: format!("no mapping for the error kind {kind}: {e}"),
            },
        }
    }
}

/// A foreign callback that threw something other than `BizraError`, or broke the FFI contract.
impl From<::uniffi::UnexpectedUniFFICallbackError> for BizraError {
    fn from(e: ::uniffi::UnexpectedUniFFICallbackError) -> Self {
        BizraError::Internal {
            detail: format!("foreign callback failed: {}", e.reason),
        }
    }
}

/// A refusal, as batch verification and reports return it (no exception per item).
#[derive(Debug, Clone, PartialEq, Eq, ::uniffi::Record)]
pub struct Rejection {
    /// The spec's reject code.
    pub code: u32,
    /// The code's name (`"SIGNATURE"`).
    pub name: String,
    /// What failed.
    pub detail: String,
}

impl From<bizra_core::Error> for Rejection {
    fn from(e: bizra_core::Error) -> Self {
        let code = e.reject_code().unwrap_or(RejectCode::Internal);
        let detail = match e {
            bizra_core::Error::Reject { detail, .. } => detail,
            other => other.to_string(),
        };
        Rejection {
            code: code.code(),
            name: code.name().to_string(),
            detail,
        }
    }
}

/// `SystemTime` → the core's millisecond `Timestamp` (years 0000–9999).
pub(crate) fn to_timestamp(t: SystemTime) -> Result<Timestamp, BizraError> {
    let ms = match t.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_millis()).ok(),
        Err(e) => i64::try_from(e.duration().as_millis()).ok().map(|m| -m),
    };
    ms.and_then(Timestamp::from_unix_millis)
        .ok_or_else(|| BizraError::invalid("instant outside the years 0000-9999"))
}

pub(crate) fn opt_timestamp(t: Option<SystemTime>) -> Result<Timestamp, BizraError> {
    t.map_or_else(|| Ok(Timestamp::now()), to_timestamp)
}

pub(crate) fn from_timestamp(t: Timestamp) -> SystemTime {
    from_unix_millis(t.unix_millis())
}

/// Unix milliseconds → `SystemTime`.
pub(crate) fn from_unix_millis(ms: i64) -> SystemTime {
    let d = Duration::from_millis(ms.unsigned_abs());
    if ms >= 0 {
        UNIX_EPOCH + d
    } else {
        UNIX_EPOCH - d
    }
}

/// The library's version (Cargo.toml).
#[::uniffi::export]
pub fn version() -> String {
    bizra_core::VERSION.to_string()
}

/// RFC 8785 canonical form of I-JSON text (the core's strict parser: no duplicate keys, no lone
/// surrogates, integers within ±(2^53−1), depth at most 128).
#[::uniffi::export]
pub fn canonicalize(json: String) -> Result<String, BizraError> {
    bizra_core::canonical::canonicalize(&json).map_err(|e| BizraError::invalid(e.to_string()))
}

/// The name of a reject code (`11` → `"EXPIRED"`, `0` → `"SUCCESS"`), or null for a number the
/// spec does not define.
#[::uniffi::export]
pub fn reject_code_name(code: u32) -> Option<String> {
    RejectCode::name_of(code).map(str::to_owned)
}

/// The description of a reject code (`11` → `"expired"`), or null.
#[::uniffi::export]
pub fn reject_code_description(code: u32) -> Option<String> {
    RejectCode::from_code(code).map(|c| c.description().to_string())
}

/// Whether a refusal with this code may succeed if retried later (rate, quota, timeout).
#[::uniffi::export]
pub fn reject_code_is_retryable(code: u32) -> bool {
    RejectCode::from_code(code).is_some_and(RejectCode::is_retryable)
}
