//! What the engine asks of its runtime, and what it reports.

use std::fmt;
use std::time::Duration;

use malachitebft_core_types::{Timeout, TimeoutKind};

use crate::batch::Batch;
use crate::certificate::Certificate;

/// One thing for the runtime to do, in order. Outputs must be acted on in the order they come:
/// a [`Output::Persist`] must be durable (synced) before any later [`Output::Broadcast`] is
/// sent, since a vote may only leave the node once the log holds it.
#[derive(Clone, Debug)]
pub enum Output {
    /// Append this record to the write-ahead log of its height and sync it before acting on any
    /// later output. After a restart, [`Engine::recover`](super::Engine::recover) takes the
    /// records of the height in force.
    Persist(WalRecord),
    /// Send these bytes to every other validator (and to followers, if any). Lost or duplicated
    /// messages are harmless: the engine re-sends its votes every `rebroadcast` period while a
    /// height is undecided.
    Broadcast(Vec<u8>),
    /// Send these bytes to the validator with this key only (a decision, to a validator that
    /// is still voting at a height this node decided).
    Send {
        /// The validator's Ed25519 public key.
        to: [u8; 32],
        /// The message.
        bytes: Vec<u8>,
    },
    /// Deliver `timer` through [`Engine::handle_timer`](super::Engine::handle_timer) once
    /// `after` has passed.
    Schedule {
        /// The timer.
        timer: Timer,
        /// Its delay.
        after: Duration,
    },
    /// `timer` is no longer wanted. A runtime may drop it or deliver it anyway: the engine
    /// ignores timers it cancelled or replaced.
    Cancel(Timer),
    /// The federation decided `batch` at the certificate's height. Store both (the certificate
    /// lets a lagging peer catch up, and anyone verify offline), then call
    /// [`Engine::start_height`](super::Engine::start_height) for the next height.
    Decided {
        /// The commit certificate: more than two thirds of the power precommitted the batch.
        certificate: Certificate,
        /// The decided batch.
        batch: Batch,
    },
    /// A validator signed two conflicting messages for the same height, round and step.
    Evidence(Equivocation),
    /// Validly signed messages of a later height arrive: the federation decided heights this
    /// node has not. Fetch the certificates and batches of heights `from` onwards from peers and
    /// hand them to [`Engine::catch_up`](super::Engine::catch_up). Repeated every `rebroadcast`
    /// period while the engine stays behind.
    Behind {
        /// The first height this node has not decided.
        from: u64,
        /// The highest height seen in a validly signed message.
        seen: u64,
    },
}

/// A timer the engine set. Opaque to the runtime except for what it may want to log.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Timer {
    pub(crate) height: u64,
    pub(crate) timeout: Timeout,
    pub(crate) seq: u64,
}

/// The step a timer bounds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TimerKind {
    /// Waiting for the round's proposal.
    Propose,
    /// Waiting for more prevotes.
    Prevote,
    /// Waiting for more precommits.
    Precommit,
    /// Re-sending this node's latest votes.
    Rebroadcast,
    /// Collecting late precommits after a decision (unused: the engine finalizes at once).
    Finalize,
}

impl Timer {
    /// The height it belongs to.
    pub fn height(&self) -> u64 {
        self.height
    }

    /// The round it belongs to.
    pub fn round(&self) -> u32 {
        self.timeout.round.as_u32().unwrap_or(0)
    }

    /// The step it bounds.
    pub fn kind(&self) -> TimerKind {
        match self.timeout.kind {
            TimeoutKind::Propose => TimerKind::Propose,
            TimeoutKind::Prevote => TimerKind::Prevote,
            TimeoutKind::Precommit => TimerKind::Precommit,
            TimeoutKind::Rebroadcast => TimerKind::Rebroadcast,
            TimeoutKind::FinalizeHeight(_) => TimerKind::Finalize,
        }
    }
}

impl fmt::Debug for Timer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Timer({:?} h{} r{} #{})",
            self.kind(),
            self.height,
            self.round(),
            self.seq
        )
    }
}

/// One write-ahead-log record: an input that changed what this node may sign (a vote or
/// proposal received or made, a value and its validity, a polka certificate, a step timeout),
/// in the encoding of [`wire`](super::wire).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WalRecord {
    /// The height the record belongs to: once that height is decided and its certificate
    /// stored, its records may be discarded.
    pub height: u64,
    /// The record.
    pub bytes: Vec<u8>,
}

/// The step in which a validator equivocated.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EquivocationKind {
    /// Two proposals for one round.
    Proposal,
    /// Two prevotes for one round.
    Prevote,
    /// Two precommits for one round.
    Precommit,
}

impl EquivocationKind {
    /// The step's name, lowercase, as CONSENSUS-v1 and every binding call it (`"proposal"`,
    /// `"prevote"`, `"precommit"`).
    pub const fn name(self) -> &'static str {
        match self {
            EquivocationKind::Proposal => "proposal",
            EquivocationKind::Prevote => "prevote",
            EquivocationKind::Precommit => "precommit",
        }
    }

    /// Every step, in the order of CONSENSUS-v1 (proposal, prevote, precommit).
    pub const ALL: [EquivocationKind; 3] = [
        EquivocationKind::Proposal,
        EquivocationKind::Prevote,
        EquivocationKind::Precommit,
    ];
}

impl std::fmt::Display for EquivocationKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Two validly signed, conflicting messages from one validator: proof of misbehaviour that
/// anyone holding the federation document can check with [`Equivocation::verify`] (both decode,
/// both signatures verify, the same height, round and step with different contents).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Equivocation {
    /// The validator's key, lowercase hex.
    pub validator: String,
    /// The height.
    pub height: u64,
    /// The round.
    pub round: u32,
    /// The step.
    pub kind: EquivocationKind,
    /// The message seen first, in the wire encoding.
    pub first: Vec<u8>,
    /// The conflicting message, in the wire encoding.
    pub second: Vec<u8>,
}

/// Why a received message was dropped before it reached the consensus core.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Refusal {
    /// It does not decode (see the detail).
    Malformed,
    /// Signed by a key that is not a validator of the document.
    UnknownValidator,
    /// A proposal from a validator who is not the proposer of its round.
    NotProposer,
    /// A signature that does not verify.
    BadSignature,
    /// For a height this node has already decided.
    PastHeight,
    /// A decision whose certificate does not verify against the document (see the detail).
    BadCertificate,
    /// A submitted envelope the pool refuses (the gate chain, or the pool is full).
    Submission,
    /// The core refused to go on (see the detail).
    Core,
}

/// A dropped message: why, and what exactly was wrong.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refused {
    /// Why.
    pub reason: Refusal,
    /// What exactly.
    pub detail: String,
}

impl fmt::Display for Refused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "message refused ({:?}): {}", self.reason, self.detail)
    }
}

impl std::error::Error for Refused {}

/// Counters of what the engine has seen and done.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Messages handed to [`Engine::receive`](super::Engine::receive).
    pub received: u64,
    /// Of those, refused before the core.
    pub refused: u64,
    /// Signatures the core asked about that did not verify.
    pub bad_signatures: u64,
    /// Messages broadcast.
    pub broadcasts: u64,
    /// Write-ahead-log records emitted.
    pub persisted: u64,
    /// Heights decided (by this node's votes or by catching up).
    pub decided: u64,
    /// Proposals whose batch the gate chain refused (this node prevoted nil on them).
    pub invalid_proposals: u64,
}
