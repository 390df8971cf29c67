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

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod batch;
pub mod certificate;
pub mod document;
pub mod vote;

pub use batch::{Batch, ValueId};
pub use certificate::{Certificate, CertificateCode, CertificateError, CommitSignature};
pub use document::{FederationDocument, Timeouts, Validator};
pub use vote::{ProposalBody, VoteBody, VoteType};
