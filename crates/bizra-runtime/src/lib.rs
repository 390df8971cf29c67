//! The runtime of a bizra node: what owns sockets, clocks and threads, around the sans-IO parts.
//!
//! [`Node`] is a federation member on a real UDP socket. It runs on a thread of its own (a
//! current-thread tokio runtime), so that callers in any language need no async runtime of their
//! own: they start it, ask it for its members, read its events and stop it.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod consensus;
mod generation;
mod kernel_drops;
mod node;
mod timers;

pub use bizra_federation::{
    Admission, DropReason, Event, EventKind, MemberInfo, MemberState, Timings,
};
pub use consensus::{ConsensusConfig, ConsensusEvent, ConsensusStatus};
pub use node::RecvError;

/// LINK-v1's handshake and frame reader over any bytes, for the fuzz targets in `fuzz/` only
/// (the `fuzzing` feature, off by default). Not part of the API.
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub use consensus::link::fuzzing;
pub use node::{EventStream, Node, NodeConfig, NodeStats, Subscription, DEFAULT_PORT};
