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
    /// An argument was out of range or of the wrong form.
    #[error("invalid input: {0}")]
    InvalidInput(String),
    /// A key could not be imported or exported (wrong passphrase, corrupt or truncated file).
    #[error("key: {0}")]
    Key(String),
    /// A constitution file is invalid.
    #[error("constitution: {0}")]
    Constitution(String),
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

    pub(crate) fn reject(code: RejectCode, detail: impl Into<String>) -> Self {
        Error::Reject {
            code,
            detail: detail.into(),
        }
    }

    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }
}

/// `Result` with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
