//! The UniFFI surface of bizra, for the Kotlin and Swift bindings (`bindings/kotlin`,
//! `bindings/swift`), generated from `libbizra.so` in library mode.
//!
//! Thin like the C ABI: every function converts types and calls `bizra_core::...`; no rule of the
//! spec is repeated here. Payloads cross as JSON text and are read by the core's strict parser.
//! Instants cross as `SystemTime` (`java.time.Instant` in Kotlin, `Date` in Swift) and are
//! truncated to the millisecond, the envelope's precision.
//!
//! No panic crosses: UniFFI's scaffolding runs every export under `catch_unwind` and reports a
//! panic as an internal error (`InternalException` in Kotlin); a foreign custom gate that throws
//! becomes a refusal with code 24 (see [`gates`]).

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bizra_core::{RejectCode, Timestamp};

mod constitution;
mod envelope;
mod gates;
mod identity;
mod inference;
mod tier;

/// Every failure of the bindings. Kotlin sees `BizraException` with one subclass per variant;
/// Swift sees `BizraError`.
#[derive(Debug, Clone, PartialEq, Eq, ::uniffi::Error)]
pub enum BizraError {
    /// A verdict: an envelope, a signature or a gate chain refused. `code` is the spec's reject
    /// code (PCI-v1.md), `name` its name (`"EXPIRED"`), `detail` what exactly failed.
    Rejected {
        /// The spec's reject code.
        code: u32,
        /// The code's name, as the C enum's suffix.
        name: String,
        /// What failed, for humans.
        detail: String,
    },
    /// An argument was out of range or of the wrong form (a payload that is not I-JSON, a seed
    /// of the wrong length, a ttl out of range, ...).
    InvalidInput {
        /// What was wrong.
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
    /// A model file is missing, is not a GGUF file or is damaged (truncated, corrupt), or
    /// llama.cpp could not load it. The detail names the file and what is wrong with it.
    Model {
        /// The file and what is wrong with it.
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
    /// The inference engine failed: llama.cpp refused a context, a decode failed, or the
    /// engine's worker thread stopped.
    Inference {
        /// What failed.
        detail: String,
    },
    /// A file could not be read or written.
    Io {
        /// The path and the operating system's error.
        detail: String,
    },
    /// A bug or a foreign callback that broke its contract.
    Internal {
        /// What happened.
        detail: String,
    },
}

impl BizraError {
    pub(crate) fn rejected(code: RejectCode, detail: impl Into<String>) -> Self {
        BizraError::Rejected {
            code: code.code(),
            name: code.name().to_string(),
            detail: detail.into(),
        }
    }

    pub(crate) fn invalid(detail: impl Into<String>) -> Self {
        BizraError::InvalidInput {
            detail: detail.into(),
        }
    }
}

impl fmt::Display for BizraError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BizraError::Rejected { code, name, detail } => {
                write!(f, "PCI-{code:02} {name}: {detail}")
            }
            BizraError::InvalidInput { detail } => write!(f, "invalid input: {detail}"),
            BizraError::Key { detail } => write!(f, "key: {detail}"),
            BizraError::Constitution { detail } => write!(f, "constitution: {detail}"),
            BizraError::Model { detail }
            | BizraError::PromptTooLong { detail, .. }
            | BizraError::Inference { detail } => f.write_str(detail),
            BizraError::Io { detail } => write!(f, "io: {detail}"),
            BizraError::Internal { detail } => write!(f, "internal: {detail}"),
        }
    }
}

impl std::error::Error for BizraError {}

impl From<bizra_core::Error> for BizraError {
    fn from(e: bizra_core::Error) -> Self {
        let text = e.to_string();
        match e {
            bizra_core::Error::Reject { code, detail } => BizraError::rejected(code, detail),
            bizra_core::Error::InvalidInput(detail) => BizraError::InvalidInput { detail },
            bizra_core::Error::Key(detail) => BizraError::Key { detail },
            bizra_core::Error::Constitution(detail) => BizraError::Constitution { detail },
            bizra_core::Error::Model { .. } | bizra_core::Error::ModelNotFound(_) => {
                BizraError::Model { detail: text }
            }
            bizra_core::Error::ContextOverflow {
                prompt_tokens,
                n_ctx,
            } => BizraError::PromptTooLong {
                prompt_tokens: u64::try_from(prompt_tokens).unwrap_or(u64::MAX),
                n_ctx,
                detail: text,
            },
            bizra_core::Error::Inference(_) | bizra_core::Error::NoRemotePool => {
                BizraError::Inference { detail: text }
            }
            bizra_core::Error::Io { .. } => BizraError::Io { detail: text },
            _ => BizraError::Internal { detail: text },
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
    let ms = t.unix_millis();
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

/// The name of a reject code (`11` → `"EXPIRED"`), or null for a number the spec does not define.
#[::uniffi::export]
pub fn reject_code_name(code: u32) -> Option<String> {
    RejectCode::from_code(code).map(|c| c.name().to_string())
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
