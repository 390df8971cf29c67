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
    #[error("no remote pool configured: the pool tier needs a remote OpenAI-compatible endpoint, which this build does not have yet")]
    NoRemotePool,
    /// The inference engine failed (llama.cpp refused a context, a decode failed, the worker
    /// thread stopped).
    #[error("inference: {0}")]
    Inference(String),
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
