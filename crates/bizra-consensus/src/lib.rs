//! BFT consensus for a bizra federation, sans-IO: the validators of a federation agree, height
//! after height, on batches of proposals (PCI envelopes), and every decision comes with a commit
//! certificate that anyone holding the federation document can verify offline.
//!
//! The algorithm is Tendermint as Malachite's core implements it; this crate never decides
//! anything itself. It supplies what the core leaves to its host (what a value, a vote and a
//! signature are; who proposes) and the formats other programs check
//! (`tests/vectors/CONSENSUS-v1.md`):
//!
//! - [`document`]: the federation document: validators, voting powers, timeouts, per epoch.
//! - [`vote`]: the signed bytes of votes and proposals (`bizra-vote-v1:`).
//! - [`batch`]: the value decided, a batch of `bizra.proposal` envelopes, and its id.
//! - [`certificate`]: commit certificates and their pure verification.
//! - [`engine`]: one node's engine, sans-IO: Malachite's core behind our inputs and outputs,
//!   with a proposal pool, a write-ahead log, catch-up from certificates and equivocation
//!   evidence. Its Malachite context (what heights, addresses, values, votes, validators and
//!   signatures are to the core) is private to the crate, so that no Malachite type is part
//!   of this crate's API.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod batch;
pub mod certificate;
mod context;
pub mod document;
pub mod engine;
pub mod vote;

pub use batch::{Batch, ValueId};
pub use certificate::{Certificate, CertificateCode, CertificateError, CommitSignature};
pub use document::{FederationDocument, Timeouts, Validator};
pub use engine::{
    Engine, EngineConfig, Equivocation, EquivocationKind, EvidenceCode, EvidenceError, Output,
    Refusal, Refused, Stats, Timer, TimerKind, WalRecord,
};
pub use vote::{ProposalBody, VoteBody, VoteType};
