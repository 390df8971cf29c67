//! # bizra — verifiable local AI
//!
//! A node has an Ed25519 [`Identity`]; everything it produces is wrapped in a signed, canonical
//! **PCI envelope** ([`Envelope`], `spec/PCI-v1.md`) that names its sender, its provenance, its
//! scores and the hash of the [`Constitution`] applied. Receivers admit envelopes through a
//! fail-closed [`GateChain`]; every rejection carries a stable [`RejectCode`].
//!
//! ```
//! use bizra::{Envelope, GateChain, Identity, VerifyOptions};
//! use serde_json::json;
//!
//! let id = Identity::generate();
//! let env = Envelope::builder(json!({"answer": 4}))
//!     .snr(0.93)
//!     .ihsan(0.97)
//!     .sign(&id)?;
//! let wire = env.to_json();
//!
//! let received = Envelope::parse(&wire)?;
//! received.verify(&VerifyOptions::default())?;
//! assert!(GateChain::default().check(&received).passed);
//! # Ok::<(), bizra::Error>(())
//! ```
//!
//! [`inference`] runs models on an embedded llama.cpp (linked statically) and signs every output
//! as an envelope with measured scores.
//!
//! The crate's own code is safe Rust and knows nothing of C, Python, Node or HTTP; `bizra-sys`
//! and the bindings build on it.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod canonical;
pub mod constitution;
mod error;
pub mod gates;
pub mod hash;
pub mod identity;
pub mod inference;
pub mod pci;
pub mod tier;

pub use constitution::{ComplianceInput, ComplianceReport, Constitution};
pub use error::{Error, Result};
pub use gates::{BuiltinKind, Gate, GateChain, GateContext, GateReport, GateResult, GateTier};
pub use identity::{verify_message, Identity};
pub use inference::{
    CancelToken, Engine, EngineOptions, GenerateRequest, ModelInfo, ModelRegistry, SamplingParams,
};
pub use pci::{verify_batch, Envelope, RejectCode, ReplayCache, Scores, Timestamp, VerifyOptions};
pub use tier::{select_tier, HardwareProfile, ModelTier, TaskComplexity, TierDecision};

/// The crate's version.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
