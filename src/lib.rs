//! # bizra — verifiable local AI
//!
//! A node has an Ed25519 [`Identity`]; everything it produces is wrapped in a signed, canonical
//! **PCI envelope** ([`Envelope`], `tests/vectors/PCI-v1.md`) that names its sender, its
//! provenance, its scores and the hash of the [`Constitution`] applied. Receivers admit envelopes
//! through a fail-closed [`GateChain`]; every rejection carries a stable [`RejectCode`].
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
//! `inference` (the default feature) runs models on an embedded llama.cpp (linked statically) and
//! signs every output as an envelope with measured scores.
//!
//! This crate is a facade over small crates, so that a program builds only what it uses:
//! `bizra-protocol` (identities, canonical JSON, envelopes, gates, constitution, tiers: pure Rust),
//! `bizra-inference` (llama.cpp, behind the `inference` feature), `bizra-federation` (SWIM
//! membership over signed datagrams, sans-IO) and `bizra-runtime` (the node that owns the socket
//! and the timers; both behind the `federation` feature), `bizra-consensus` (documents, votes,
//! batches, certificates and Malachite's Tendermint, behind `consensus`). With
//! `default-features = false`, `bizra` is the protocol alone and builds without cmake or a C++
//! compiler. None of them knows anything of C, Python, Node or HTTP; `bizra-sys` and the bindings
//! build on this crate.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub use bizra_protocol::{canonical, constitution, gates, hash, identity, pci, tier};

pub use bizra_protocol::{
    select_tier, verify_batch, verify_message, BuiltinKind, ComplianceInput, ComplianceReport,
    Constitution, Envelope, EnvelopeOptions, Error, ErrorKind, Gate, GateChain, GateContext,
    GateReport, GateResult, GateTier, HardwareProfile, Identity, ModelTier, RejectCode,
    ReplayCache, Result, Scores, TaskComplexity, TierDecision, Timestamp, VerifyOptions,
};

/// Inference: llama.cpp behind a thread-safe [`Engine`], a [`ModelRegistry`] of GGUF files, a
/// [`RemoteClient`] for OpenAI-compatible pools, the [`Gateway`] that routes requests between
/// them, and signed outputs with measured scores (the `inference` feature).
#[cfg(feature = "inference")]
pub use bizra_inference as inference;

#[cfg(feature = "inference")]
pub use bizra_inference::{
    CancelToken, ChatMessage, ChatRole, ChatTemplateUse, Engine, EngineOptions, Gateway,
    GenerateRequest, ModelInfo, ModelRegistry, Prompt, RemoteClient, RemoteOptions, SamplingParams,
};

/// The federation, sans-IO: GOSSIP-v1 datagrams, admission, replay windows, and SWIM membership
/// through foca (the `federation` feature).
#[cfg(feature = "federation")]
pub use bizra_federation as federation;

/// A federation member on a real UDP socket, on a thread of its own, taking part in consensus
/// when given a federation document (the `federation` feature).
#[cfg(feature = "federation")]
pub use bizra_runtime::{
    ConsensusConfig, ConsensusEvent, ConsensusStatus, EventStream, Node, NodeConfig, NodeStats,
    RecvError, Subscription, DEFAULT_PORT,
};

/// BFT consensus: federation documents, CONSENSUS-v1 votes, batches of proposals and commit
/// certificates that verify offline (the `consensus` feature).
#[cfg(feature = "consensus")]
pub use bizra_consensus as consensus;

#[cfg(feature = "consensus")]
pub use bizra_consensus::{
    Batch, Certificate, CertificateCode, CertificateError, FederationDocument,
};

/// The node's memory: patterns learned from signed outputs and preferences, in an embedded
/// SQLite store, recalled by meaning, exchanged as signed JSON Lines (the `autopoiesis` feature).
#[cfg(feature = "autopoiesis")]
pub use bizra_autopoiesis as autopoiesis;

/// The crate's version.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
