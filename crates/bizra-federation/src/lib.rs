//! The federation of bizra nodes, sans-IO: what a node says to its peers and how it judges what
//! they say, with no socket, clock or async runtime in sight (as foca, whose SWIM membership it
//! drives). A runtime (`bizra-runtime`) owns the UDP socket and the timers and feeds this crate
//! datagrams, timer events and the current time; this crate hands back datagrams to send, timers
//! to set and membership events.
//!
//! - [`datagram`]: the GOSSIP-v1 wire format (`tests/vectors/GOSSIP-v1.md`): every datagram is
//!   signed by its sender's node key under the `bizra-gossip-v1:` domain, names its federation,
//!   the sender's boot generation, a sequence number and the send time.
//! - [`admission`]: who may join (anyone, or an allowlist of node keys).
//! - [`replay`]: per-sender windows of sequence numbers, bounded in memory.
//! - [`member`]: the identity foca carries (node key, boot generation, address) and its codec.
//! - [`membership`]: the state machine: foca plus authentication, admission, replay protection,
//!   seeds, graceful leave and membership events.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod admission;
pub mod datagram;
pub mod member;
pub mod membership;
pub mod replay;

pub use admission::Admission;
pub use datagram::{DropReason, Kind};
pub use member::MemberId;
pub use membership::{
    DropCounts, Event, EventKind, MemberInfo, MemberState, Membership, MembershipConfig, Output,
    Timer, Timings,
};
