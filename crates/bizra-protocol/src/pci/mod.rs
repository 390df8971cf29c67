//! Proof-Carrying Inference envelopes (`tests/vectors/PCI-v1.md`): signed, canonical JSON with a TTL,
//! provenance, scores and the hash of the constitution the sender applied.

mod envelope;
mod reject;
mod replay;
mod timestamp;
mod verify;

pub use envelope::{
    check_provenance, check_ttl, is_envelope_id, Envelope, EnvelopeBuilder, EnvelopeOptions,
    Scores, DEFAULT_TTL_SECONDS, MAX_CLOCK_SKEW_SECONDS, MAX_PAYLOAD_BYTES, MAX_PROVENANCE,
    MAX_TEXT_BYTES, MAX_TTL_SECONDS, VERSION,
};
pub use reject::{RejectCode, SUCCESS_NAME};
pub use replay::ReplayCache;
pub use timestamp::Timestamp;
pub use verify::{verify_batch, VerifyOptions};
