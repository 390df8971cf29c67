//! The bizra protocol: identities, canonical JSON, PCI envelopes, the gate chain, the
//! constitution and tier selection. Pure Rust, no native build: what a program needs to sign and
//! verify envelopes without running a model.
//!
//! Users import it through the `bizra` crate (`bizra::Envelope`); `bizra` with
//! `default-features = false` is this crate alone.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod canonical;
pub mod constitution;
mod error;
pub mod gates;
pub mod hash;
pub mod identity;
mod payload_schema;
pub mod pci;
pub mod tier;

pub use constitution::{ComplianceInput, ComplianceReport, Constitution};
pub use error::{Error, ErrorKind, Result};
pub use gates::{BuiltinKind, Gate, GateChain, GateContext, GateReport, GateResult, GateTier};
pub use identity::{verify_message, Identity};
pub use pci::{
    verify_batch, Envelope, EnvelopeOptions, RejectCode, ReplayCache, Scores, Timestamp,
    VerifyOptions,
};
pub use tier::{select_tier, HardwareProfile, ModelTier, TaskComplexity, TierDecision};
