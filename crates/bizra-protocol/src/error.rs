//! The one error type of the crate.

use std::path::PathBuf;

use crate::pci::RejectCode;

/// Everything that can go wrong in bizra.
///
/// Rejections carry the spec's [`RejectCode`], so bindings map them to stable numbers; the other
/// variants say what input was wrong. No variant ever contains secret key material.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An envelope (or a gate) refused admission.
    #[error("{code} ({detail})")]
    Reject {
        /// The spec's reject code.
        code: RejectCode,
        /// What exactly failed, for humans.
        detail: String,
    },
    /// A commit certificate was refused (`tests/vectors/CONSENSUS-v1.md`). The code's number and
    /// name are the consensus crate's `CertificateCode`, carried as data because that crate sits
    /// above this one; it converts its `CertificateError` into this variant.
    #[error("certificate refused: {name} ({detail})")]
    Certificate {
        /// The stable refusal code (1 malformed ... 8 value mismatch).
        code: u32,
        /// The code's upper-case name (`"BAD_SIGNATURE"`).
        name: &'static str,
        /// What exactly was wrong, for humans.
        detail: String,
    },
    /// Equivocation evidence was refused (`tests/vectors/CONSENSUS-v1.md`): it does not prove
    /// that a validator signed two conflicting messages. The code's number and name are the
    /// consensus crate's `EvidenceCode`, carried as data as [`Error::Certificate`]'s are; that
    /// crate converts its `EvidenceError` into this variant.
    #[error("equivocation evidence refused: {name} ({detail})")]
    Evidence {
        /// The stable refusal code (1 malformed ... 8 bad signature).
        code: u32,
        /// The code's upper-case name (`"NOT_CONFLICTING"`).
        name: &'static str,
        /// What exactly was wrong, for humans.
        detail: String,
    },
    /// An argument was out of range or of the wrong form.
    #[error("invalid input: {0}")]
    InvalidInput(String),
    /// A key could not be imported or exported (wrong passphrase, corrupt or truncated file).
    #[error("key: {0}")]
    Key(String),
    /// A constitution file is invalid.
    #[error("constitution: {0}")]
    Constitution(String),
    /// A model file is missing, is not a GGUF file, or is damaged (truncated, corrupt).
    #[error("model {}: {reason}", path.display())]
    Model {
        /// The model file concerned.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// No registered model serves the requested tier, or no model has the requested name.
    #[error("model not found: {0}")]
    ModelNotFound(String),
    /// The prompt does not fit the context window (with room for at least one generated token).
    #[error("prompt too long: {prompt_tokens} tokens, but the context holds {n_ctx} (one more is needed to generate); shorten the prompt or raise n_ctx")]
    ContextOverflow {
        /// Tokens in the prompt after the chat template was applied.
        prompt_tokens: usize,
        /// The context size of the engine.
        n_ctx: u32,
    },
    /// The Pool tier was requested but no remote pool is configured.
    #[error("no remote pool configured: the pool tier needs a remote OpenAI-compatible server; give the gateway one (RemoteOptions), or a fallback tier")]
    NoRemotePool,
    /// A remote pool (an OpenAI-compatible server) could not serve a request, or refused it.
    #[error("remote pool: {detail}")]
    Remote {
        /// The server's API root, without credentials (`http://host:8000/v1`).
        endpoint: String,
        /// The HTTP status it answered with, where it answered.
        status: Option<u16>,
        /// Whether the server refused the request itself (a 4xx other than 429: a wrong API
        /// key, an unknown model, a request it does not accept), which neither a retry nor
        /// another server of the same configuration cures. Otherwise it was unavailable:
        /// unreachable, silent past the timeout, overloaded (429), failing (5xx) or answering
        /// outside the protocol.
        refused: bool,
        /// What happened, naming the request (never the API key).
        detail: String,
    },
    /// The inference engine failed (llama.cpp refused a context, a decode failed, the worker
    /// thread stopped).
    #[error("inference: {0}")]
    Inference(String),
    /// A bounded queue was full, so the work was not taken: an engine's request queue (see
    /// `EngineOptions::max_queued`), a consensus node's proposal pool. Nothing was done; the same
    /// call may succeed once the load passes.
    #[error("busy: {queue} is full ({capacity} waiting); retry later")]
    Busy {
        /// Which queue (`"the engine queue of model SmolLM2-135M-Instruct"`).
        queue: String,
        /// How many it holds.
        capacity: usize,
    },
    /// A bound on requests running at once was reached, so the request was not started: a pool
    /// client's requests in flight (see `RemoteOptions::max_in_flight`). Kind `BUSY`, as a full
    /// queue is: nothing was done, and the same call may succeed once one of them has ended.
    #[error("busy: {running} are at their limit ({limit} running); retry later")]
    RunningLimit {
        /// Which requests (`"the requests in flight to pool http://127.0.0.1:8080/v1"`).
        running: String,
        /// How many may run at once.
        limit: usize,
    },
    /// A file system operation failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or directory concerned.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
}

impl Error {
    /// The reject code, where the error is a rejection.
    pub fn reject_code(&self) -> Option<RejectCode> {
        match self {
            Error::Reject { code, .. } => Some(*code),
            _ => None,
        }
    }

    /// The refusal code of a refused commit certificate, as its number and name
    /// (`(6, "BAD_SIGNATURE")`): what bindings expose beside the kind `CERTIFICATE_REFUSED`, as
    /// [`Error::reject_code`] is for envelopes.
    pub fn certificate_code(&self) -> Option<(u32, &'static str)> {
        match self {
            Error::Certificate { code, name, .. } => Some((*code, name)),
            _ => None,
        }
    }

    /// The refusal code of refused equivocation evidence, as its number and name
    /// (`(5, "NOT_CONFLICTING")`): what bindings expose beside the kind `EVIDENCE_REFUSED`, as
    /// [`Error::certificate_code`] is for certificates.
    pub fn evidence_code(&self) -> Option<(u32, &'static str)> {
        match self {
            Error::Evidence { code, name, .. } => Some((*code, name)),
            _ => None,
        }
    }

    /// A rejection with the spec's `code` and what exactly failed.
    pub fn reject(code: RejectCode, detail: impl Into<String>) -> Self {
        Error::Reject {
            code,
            detail: detail.into(),
        }
    }

    /// A file system failure on `path`.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }

    /// Which kind of error this is: the stable number and name that every binding maps from
    /// (see [`ErrorKind`]).
    pub const fn kind(&self) -> ErrorKind {
        match self {
            Error::Reject { .. } => ErrorKind::Rejected,
            Error::Certificate { .. } => ErrorKind::CertificateRefused,
            Error::Evidence { .. } => ErrorKind::EvidenceRefused,
            Error::InvalidInput(_) => ErrorKind::InvalidInput,
            Error::Key(_) => ErrorKind::Key,
            Error::Constitution(_) => ErrorKind::Constitution,
            Error::Model { .. } => ErrorKind::Model,
            Error::ModelNotFound(_) => ErrorKind::ModelNotFound,
            Error::ContextOverflow { .. } => ErrorKind::PromptTooLong,
            Error::NoRemotePool => ErrorKind::NoRemotePool,
            Error::Remote { refused: true, .. } => ErrorKind::RemoteRefused,
            Error::Remote { refused: false, .. } => ErrorKind::RemoteUnavailable,
            Error::Inference(_) => ErrorKind::Inference,
            Error::Busy { .. } | Error::RunningLimit { .. } => ErrorKind::Busy,
            Error::Io { .. } => ErrorKind::Io,
        }
    }
}

/// The kinds of error, one table for the core and every binding.
///
/// Each kind has a stable number (never reused) and an upper-case name. Numbers are grouped by
/// family, as rustls-ffi numbers its results, so that a family can grow without renumbering:
/// 1xx what the caller passed, 2xx verdicts, 3xx keys and policy, 4xx the operating system,
/// 5xx inference, 9xx the library itself. Bindings map by this data (the C status, the Python
/// exception class, the Node `code`, the Kotlin exception) and each walks [`ErrorKind::ALL`] in a
/// test, so that no binding maps a kind differently from another.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum ErrorKind {
    /// An argument was out of range or of the wrong form.
    InvalidInput,
    /// An envelope or a gate refused admission; the error carries the PCI reject code.
    Rejected,
    /// A commit certificate was refused; the error carries the refusal code of
    /// `tests/vectors/CONSENSUS-v1.md` (its number and name).
    CertificateRefused,
    /// Equivocation evidence was refused; the error carries the refusal code of
    /// `tests/vectors/CONSENSUS-v1.md` (its number and name).
    EvidenceRefused,
    /// A key could not be imported or exported (wrong passphrase, corrupt or truncated file).
    Key,
    /// A constitution is invalid.
    Constitution,
    /// A file system operation failed.
    Io,
    /// A model file is missing, is not a GGUF file, or is damaged.
    Model,
    /// No registered model serves the requested tier, or none has the requested name.
    ModelNotFound,
    /// The prompt does not fit the context window.
    PromptTooLong,
    /// The Pool tier was requested but no remote pool is configured.
    NoRemotePool,
    /// The inference engine failed.
    Inference,
    /// A remote pool could not serve: unreachable, timed out, overloaded, failing, or answering
    /// outside the protocol. Another server, or a later attempt, may succeed.
    RemoteUnavailable,
    /// A remote pool refused the request (a wrong API key, an unknown model, a request it does
    /// not accept): the configuration or the request must change.
    RemoteRefused,
    /// A bounded queue was full, or a bound on the requests running at once was reached, and the
    /// work was not taken (an engine's request queue, a proposal pool, a pool client's requests
    /// in flight): a load to shed, not a failure; retry later.
    Busy,
    /// A bug: an invariant of the library did not hold. Raised by bindings' boundaries (an
    /// output that cannot cross, for example), never by the core itself.
    Internal,
    /// A bug: the library panicked and the binding's boundary caught it. Never raised by the
    /// core itself.
    Panic,
}

impl ErrorKind {
    /// Every kind, in number order.
    pub const ALL: [ErrorKind; 17] = [
        ErrorKind::InvalidInput,
        ErrorKind::Rejected,
        ErrorKind::CertificateRefused,
        ErrorKind::EvidenceRefused,
        ErrorKind::Key,
        ErrorKind::Constitution,
        ErrorKind::Io,
        ErrorKind::Model,
        ErrorKind::ModelNotFound,
        ErrorKind::PromptTooLong,
        ErrorKind::NoRemotePool,
        ErrorKind::Inference,
        ErrorKind::RemoteUnavailable,
        ErrorKind::RemoteRefused,
        ErrorKind::Busy,
        ErrorKind::Internal,
        ErrorKind::Panic,
    ];

    /// The stable number.
    pub const fn number(self) -> u32 {
        match self {
            ErrorKind::InvalidInput => 100,
            ErrorKind::Rejected => 200,
            ErrorKind::CertificateRefused => 201,
            ErrorKind::EvidenceRefused => 202,
            ErrorKind::Key => 300,
            ErrorKind::Constitution => 301,
            ErrorKind::Io => 400,
            ErrorKind::Model => 500,
            ErrorKind::ModelNotFound => 501,
            ErrorKind::PromptTooLong => 502,
            ErrorKind::NoRemotePool => 503,
            ErrorKind::Inference => 504,
            ErrorKind::RemoteUnavailable => 505,
            ErrorKind::RemoteRefused => 506,
            ErrorKind::Busy => 507,
            ErrorKind::Internal => 900,
            ErrorKind::Panic => 901,
        }
    }

    /// The stable name, upper case (`"INVALID_INPUT"`): Node's `code`, Python's `.kind`.
    pub const fn name(self) -> &'static str {
        match self {
            ErrorKind::InvalidInput => "INVALID_INPUT",
            ErrorKind::Rejected => "REJECTED",
            ErrorKind::CertificateRefused => "CERTIFICATE_REFUSED",
            ErrorKind::EvidenceRefused => "EVIDENCE_REFUSED",
            ErrorKind::Key => "KEY",
            ErrorKind::Constitution => "CONSTITUTION",
            ErrorKind::Io => "IO",
            ErrorKind::Model => "MODEL",
            ErrorKind::ModelNotFound => "MODEL_NOT_FOUND",
            ErrorKind::PromptTooLong => "PROMPT_TOO_LONG",
            ErrorKind::NoRemotePool => "NO_REMOTE_POOL",
            ErrorKind::Inference => "INFERENCE",
            ErrorKind::RemoteUnavailable => "REMOTE_UNAVAILABLE",
            ErrorKind::RemoteRefused => "REMOTE_REFUSED",
            ErrorKind::Busy => "BUSY",
            ErrorKind::Internal => "INTERNAL",
            ErrorKind::Panic => "PANIC",
        }
    }

    /// The kind with this number.
    pub fn from_number(n: u32) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.number() == n)
    }

    /// The kind with this name.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.name() == name)
    }
}

impl std::fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// `Result` with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_are_numbered_by_family_in_order_and_named_uniquely() {
        let mut seen = std::collections::HashSet::new();
        for pair in ErrorKind::ALL.windows(2) {
            assert!(pair[0].number() < pair[1].number(), "{pair:?}");
        }
        for k in ErrorKind::ALL {
            assert!(seen.insert(k.name()), "{k:?}");
            assert_eq!(ErrorKind::from_number(k.number()), Some(k));
            assert_eq!(ErrorKind::from_name(k.name()), Some(k));
            assert!((100..1000).contains(&k.number()));
        }
        assert_eq!(ErrorKind::from_number(0), None);
        assert_eq!(ErrorKind::from_name("invalid_input"), None);
    }

    #[test]
    fn every_error_has_its_kind() {
        let io = std::io::Error::other("x");
        let cases = [
            (Error::reject(RejectCode::Schema, "x"), ErrorKind::Rejected),
            (
                Error::Certificate {
                    code: 6,
                    name: "BAD_SIGNATURE",
                    detail: "x".into(),
                },
                ErrorKind::CertificateRefused,
            ),
            (
                Error::Evidence {
                    code: 5,
                    name: "NOT_CONFLICTING",
                    detail: "x".into(),
                },
                ErrorKind::EvidenceRefused,
            ),
            (Error::InvalidInput("x".into()), ErrorKind::InvalidInput),
            (Error::Key("x".into()), ErrorKind::Key),
            (Error::Constitution("x".into()), ErrorKind::Constitution),
            (
                Error::Model {
                    path: "m".into(),
                    reason: "x".into(),
                },
                ErrorKind::Model,
            ),
            (Error::ModelNotFound("x".into()), ErrorKind::ModelNotFound),
            (
                Error::ContextOverflow {
                    prompt_tokens: 2,
                    n_ctx: 1,
                },
                ErrorKind::PromptTooLong,
            ),
            (Error::NoRemotePool, ErrorKind::NoRemotePool),
            (Error::Inference("x".into()), ErrorKind::Inference),
            (
                Error::Remote {
                    endpoint: "http://h/v1".into(),
                    status: Some(503),
                    refused: false,
                    detail: "x".into(),
                },
                ErrorKind::RemoteUnavailable,
            ),
            (
                Error::Remote {
                    endpoint: "http://h/v1".into(),
                    status: Some(401),
                    refused: true,
                    detail: "x".into(),
                },
                ErrorKind::RemoteRefused,
            ),
            (
                Error::Busy {
                    queue: "q".into(),
                    capacity: 1,
                },
                ErrorKind::Busy,
            ),
            (
                Error::RunningLimit {
                    running: "r".into(),
                    limit: 1,
                },
                ErrorKind::Busy,
            ),
            (Error::io("f", io), ErrorKind::Io),
        ];
        for (e, k) in cases {
            assert_eq!(e.kind(), k, "{e}");
        }
    }

    #[test]
    fn a_refused_certificate_says_its_code() {
        let e = Error::Certificate {
            code: 6,
            name: "BAD_SIGNATURE",
            detail: "signatures[0]: not the precommit".into(),
        };
        assert_eq!(e.certificate_code(), Some((6, "BAD_SIGNATURE")));
        assert_eq!(e.reject_code(), None);
        assert_eq!(
            e.to_string(),
            "certificate refused: BAD_SIGNATURE (signatures[0]: not the precommit)"
        );
        assert_eq!(Error::InvalidInput("x".into()).certificate_code(), None);
        assert_eq!(ErrorKind::CertificateRefused.number(), 201);
        assert_eq!(ErrorKind::CertificateRefused.name(), "CERTIFICATE_REFUSED");
    }

    #[test]
    fn refused_evidence_says_its_code() {
        let e = Error::Evidence {
            code: 5,
            name: "NOT_CONFLICTING",
            detail: "both messages are the same prevote".into(),
        };
        assert_eq!(e.evidence_code(), Some((5, "NOT_CONFLICTING")));
        assert_eq!(e.certificate_code(), None);
        assert_eq!(e.reject_code(), None);
        assert_eq!(
            e.to_string(),
            "equivocation evidence refused: NOT_CONFLICTING (both messages are the same prevote)"
        );
        assert_eq!(Error::InvalidInput("x".into()).evidence_code(), None);
        let certificate = Error::Certificate {
            code: 6,
            name: "BAD_SIGNATURE",
            detail: "x".into(),
        };
        assert_eq!(certificate.evidence_code(), None);
        assert_eq!(ErrorKind::EvidenceRefused.number(), 202);
        assert_eq!(ErrorKind::EvidenceRefused.name(), "EVIDENCE_REFUSED");
        assert_eq!(
            ErrorKind::from_number(202),
            Some(ErrorKind::EvidenceRefused)
        );
    }
}
