//! Exit codes and the one error type of the program.
//!
//! Every failure becomes a [`CliError`]: an [`Exit`] code and one line that says what was wrong.
//! The codes are documented in `cli/README.md` and in `bizra --help`; scripts rely on them, so a
//! number never changes meaning.

use std::fmt;
use std::process::ExitCode;

use bizra::{ErrorKind, RejectCode};
use serde_json::{json, Value};

/// What the program's exit status says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exit {
    /// 0: done.
    Ok,
    /// 1: refused or invalid: an envelope or a signature that does not verify, a gate that
    /// refuses, a non-compliant output, a download whose hash differs.
    Refused,
    /// 2: usage: an unknown command or option, a missing or malformed argument (clap's code).
    Usage,
    /// 3: configuration: `config.toml` or a `BIZRA_*` override is wrong, the data directory
    /// cannot be found.
    Config,
    /// 4: a file could not be read or written (missing, permissions, already exists).
    Io,
    /// 5: the node key: none yet, a wrong passphrase, no passphrase to be had, a damaged file.
    Key,
    /// 6: a model is missing or damaged, inference failed, or the engine's queue was full (busy:
    /// try again later).
    Model,
    /// 7: the network: a server unreachable, an HTTP error, a transfer cut off.
    Network,
    /// 70: a bug in bizra (an internal error or a panic).
    Internal,
}

impl Exit {
    /// Every code, in number order (for the documentation and its test).
    pub const ALL: [Exit; 9] = [
        Exit::Ok,
        Exit::Refused,
        Exit::Usage,
        Exit::Config,
        Exit::Io,
        Exit::Key,
        Exit::Model,
        Exit::Network,
        Exit::Internal,
    ];

    /// The process exit status.
    pub const fn code(self) -> u8 {
        match self {
            Exit::Ok => 0,
            Exit::Refused => 1,
            Exit::Usage => 2,
            Exit::Config => 3,
            Exit::Io => 4,
            Exit::Key => 5,
            Exit::Model => 6,
            Exit::Network => 7,
            Exit::Internal => 70,
        }
    }

    /// A stable lower-case name, as `--json` errors carry it.
    pub const fn name(self) -> &'static str {
        match self {
            Exit::Ok => "ok",
            Exit::Refused => "refused",
            Exit::Usage => "usage",
            Exit::Config => "config",
            Exit::Io => "io",
            Exit::Key => "key",
            Exit::Model => "model",
            Exit::Network => "network",
            Exit::Internal => "internal",
        }
    }

    /// What the code means, for `--help`.
    pub const fn meaning(self) -> &'static str {
        match self {
            Exit::Ok => "success",
            Exit::Refused => {
                "refused or invalid (verification failed, a gate refused, not compliant, hash mismatch)"
            }
            Exit::Usage => "usage error (unknown command or option, bad argument)",
            Exit::Config => "configuration error (config.toml or a BIZRA_* variable)",
            Exit::Io => "file error (missing, unreadable, already exists)",
            Exit::Key => "key error (no key yet, wrong or missing passphrase)",
            Exit::Model => "model or inference error (busy included)",
            Exit::Network => "network error",
            Exit::Internal => "internal error (a bug in bizra)",
        }
    }

    /// The `after_help` text of `bizra --help`.
    pub fn help_text() -> String {
        let mut s = String::from("Exit status:\n");
        for e in Self::ALL {
            s.push_str(&format!("  {:>3}  {}\n", e.code(), e.meaning()));
        }
        s.push_str(
            "\nEnvironment: BIZRA_HOME (data directory), BIZRA_PASSPHRASE (key passphrase), \
             BIZRA_<SECTION>_<KEY> (overrides a config.toml key, e.g. BIZRA_INFERENCE_MODEL).",
        );
        s
    }
}

impl From<Exit> for ExitCode {
    fn from(e: Exit) -> Self {
        ExitCode::from(e.code())
    }
}

/// A failure: its exit code, one line for humans, and, for library errors, the kind and reject
/// code that `--json` reports.
#[derive(Debug)]
pub struct CliError {
    /// The exit code.
    pub exit: Exit,
    /// What was wrong, on one line.
    pub message: String,
    /// The library's error kind, where the failure came from the library.
    pub kind: Option<ErrorKind>,
    /// The PCI reject code, where an envelope was refused.
    pub reject: Option<RejectCode>,
}

impl CliError {
    /// A failure with this code and message.
    pub fn new(exit: Exit, message: impl Into<String>) -> Self {
        Self {
            exit,
            message: message.into(),
            kind: None,
            reject: None,
        }
    }

    /// A usage error (exit 2).
    pub fn usage(message: impl Into<String>) -> Self {
        Self::new(Exit::Usage, message)
    }

    /// A configuration error (exit 3).
    pub fn config(message: impl Into<String>) -> Self {
        Self::new(Exit::Config, message)
    }

    /// A file error on `path` (exit 4).
    pub fn io(path: &std::path::Path, e: std::io::Error) -> Self {
        Self::new(Exit::Io, format!("{}: {e}", path.display()))
    }

    /// A key error (exit 5).
    pub fn key(message: impl Into<String>) -> Self {
        Self::new(Exit::Key, message)
    }

    /// A network error (exit 7).
    pub fn network(message: impl Into<String>) -> Self {
        Self::new(Exit::Network, message)
    }

    /// A refusal (exit 1).
    pub fn refused(message: impl Into<String>) -> Self {
        Self::new(Exit::Refused, message)
    }

    /// Prefixes the message with what was being done.
    pub fn context(mut self, what: impl fmt::Display) -> Self {
        self.message = format!("{what}: {}", self.message);
        self
    }

    /// The `--json` form: `{"error": {"exit", "status", "message", "kind"?, "reject"?}}`.
    pub fn to_json(&self) -> Value {
        let mut e = json!({
            "exit": self.exit.code(),
            "status": self.exit.name(),
            "message": self.one_line(),
        });
        if let Some(k) = self.kind {
            e["kind"] = json!(k.name());
        }
        if let Some(r) = self.reject {
            e["reject"] = reject_json(r);
        }
        json!({ "error": e })
    }

    /// The message on one line.
    pub fn one_line(&self) -> String {
        one_line(&self.message)
    }
}

/// A reject code as `--json` output carries it: `{"code": 15, "name": "HASH_MISMATCH",
/// "description": ...}`.
pub fn reject_json(code: RejectCode) -> Value {
    json!({
        "code": code.code(),
        "name": code.name(),
        "description": code.description(),
        "retryable": code.is_retryable(),
    })
}

/// Text on one line: line breaks become `; `.
pub fn one_line(text: &str) -> String {
    text.split(['\n', '\r'])
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join("; ")
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.one_line())
    }
}

impl From<bizra::Error> for CliError {
    fn from(e: bizra::Error) -> Self {
        let kind = e.kind();
        let exit = match kind {
            ErrorKind::Rejected | ErrorKind::CertificateRefused | ErrorKind::EvidenceRefused => {
                Exit::Refused
            }
            ErrorKind::InvalidInput => Exit::Usage,
            ErrorKind::Key => Exit::Key,
            ErrorKind::Constitution => Exit::Config,
            ErrorKind::Io => Exit::Io,
            ErrorKind::Model
            | ErrorKind::ModelNotFound
            | ErrorKind::PromptTooLong
            | ErrorKind::NoRemotePool
            | ErrorKind::Inference
            | ErrorKind::Busy => Exit::Model,
            ErrorKind::RemoteUnavailable | ErrorKind::RemoteRefused => Exit::Network,
            _ => Exit::Internal,
        };
        let reject = e.reject_code();
        let message = match reject {
            Some(code) => format!("refused: {} {}", code.name(), e),
            None => e.to_string(),
        };
        Self {
            exit,
            message,
            kind: Some(kind),
            reject,
        }
    }
}

/// `Result` with [`CliError`].
pub type CliResult<T = ()> = Result<T, CliError>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_distinct_and_documented() {
        let mut seen = std::collections::HashSet::new();
        for e in Exit::ALL {
            assert!(seen.insert(e.code()), "{e:?}");
            assert!(Exit::help_text().contains(e.meaning()));
        }
        assert_eq!(Exit::Usage.code(), 2, "clap's usage code");
    }

    #[test]
    fn library_errors_keep_their_reject_code() {
        let e = CliError::from(bizra::Error::reject(RejectCode::HashMismatch, "x"));
        assert_eq!(e.exit, Exit::Refused);
        assert_eq!(e.reject, Some(RejectCode::HashMismatch));
        assert!(e.message.contains("HASH_MISMATCH"), "{}", e.message);
        assert_eq!(e.to_json()["error"]["reject"]["code"], 15);
        assert_eq!(one_line("a\n  b\r\n\nc"), "a; b; c");
    }
}
