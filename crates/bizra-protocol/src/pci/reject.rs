//! The reject codes of `tests/vectors/PCI-v1.md`: stable numbers that every binding and the C ABI expose.

use std::fmt;

/// Why an envelope (or a gate) refused admission.
///
/// The numbers are part of the wire contract: they never change and are never reused. The name is
/// the suffix of the C enum (`BIZRA_REJECT_SCHEMA`); `Display` gives `PCI-NN: description`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u32)]
#[non_exhaustive]
pub enum RejectCode {
    /// Not I-JSON, not an object, or a member of the wrong form (also an unknown member).
    Schema = 1,
    /// A required member is absent.
    MissingField = 2,
    /// The Ed25519 signature does not verify (strictly) under `public_key`.
    Signature = 10,
    /// `now` is past `timestamp + ttl`.
    Expired = 11,
    /// The id was already admitted while still valid.
    Replay = 12,
    /// `timestamp` lies more than the allowed clock skew in the future.
    Future = 13,
    /// `sender` is not the node id of `public_key`.
    SenderMismatch = 14,
    /// `content_hash` does not match the payload.
    HashMismatch = 15,
    /// `ttl` lies outside `1..=max_ttl_seconds`.
    TtlRange = 16,
    /// `policy` is not the constitution hash the verifier requires.
    PolicyMismatch = 17,
    /// The payload fails the gate's JSON Schema.
    GateSchema = 20,
    /// The signature gate refused the envelope.
    GateSignature = 21,
    /// A rate-limiting gate refused the envelope (retryable).
    GateRate = 22,
    /// The SNR score is missing or below the constitution's threshold.
    GateSnr = 23,
    /// A user-defined gate refused the envelope.
    GateCustom = 24,
    /// The Ihsan score is missing or below the constitution's minimum.
    GateIhsan = 25,
    /// A quota (such as a full replay cache) is exhausted (retryable).
    Quota = 40,
    /// The operation ran out of time (retryable).
    Timeout = 42,
    /// An internal failure of the verifier itself.
    Internal = 50,
}

/// The name of reject-code number 0, which means "no rejection" (the C enum's
/// `BIZRA_REJECT_SUCCESS`).
pub const SUCCESS_NAME: &str = "SUCCESS";

impl RejectCode {
    /// Every code, in numeric order.
    pub const ALL: [RejectCode; 19] = [
        Self::Schema,
        Self::MissingField,
        Self::Signature,
        Self::Expired,
        Self::Replay,
        Self::Future,
        Self::SenderMismatch,
        Self::HashMismatch,
        Self::TtlRange,
        Self::PolicyMismatch,
        Self::GateSchema,
        Self::GateSignature,
        Self::GateRate,
        Self::GateSnr,
        Self::GateCustom,
        Self::GateIhsan,
        Self::Quota,
        Self::Timeout,
        Self::Internal,
    ];

    /// The spec's number.
    pub const fn code(self) -> u32 {
        self as u32
    }

    /// The code for a spec number; `None` for 0 (success) and for numbers the spec does not define.
    pub fn from_code(code: u32) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.code() == code)
    }

    /// The upper-case name, as in the C enum `BIZRA_REJECT_<NAME>`.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Schema => "SCHEMA",
            Self::MissingField => "MISSING_FIELD",
            Self::Signature => "SIGNATURE",
            Self::Expired => "EXPIRED",
            Self::Replay => "REPLAY",
            Self::Future => "FUTURE",
            Self::SenderMismatch => "SENDER_MISMATCH",
            Self::HashMismatch => "HASH_MISMATCH",
            Self::TtlRange => "TTL_RANGE",
            Self::PolicyMismatch => "POLICY_MISMATCH",
            Self::GateSchema => "GATE_SCHEMA",
            Self::GateSignature => "GATE_SIGNATURE",
            Self::GateRate => "GATE_RATE",
            Self::GateSnr => "GATE_SNR",
            Self::GateCustom => "GATE_CUSTOM",
            Self::GateIhsan => "GATE_IHSAN",
            Self::Quota => "QUOTA",
            Self::Timeout => "TIMEOUT",
            Self::Internal => "INTERNAL",
        }
    }

    /// A short description of what failed.
    pub const fn description(self) -> &'static str {
        match self {
            Self::Schema => "malformed envelope",
            Self::MissingField => "missing member",
            Self::Signature => "invalid signature",
            Self::Expired => "envelope expired",
            Self::Replay => "replayed envelope id",
            Self::Future => "timestamp in the future",
            Self::SenderMismatch => "sender is not the node id of public_key",
            Self::HashMismatch => "content_hash does not match the payload",
            Self::TtlRange => "ttl out of range",
            Self::PolicyMismatch => "policy does not match the required constitution",
            Self::GateSchema => "payload fails the gate's JSON Schema",
            Self::GateSignature => "signature gate failed",
            Self::GateRate => "rate limit exceeded",
            Self::GateSnr => "SNR below threshold",
            Self::GateCustom => "rejected by a user-defined gate",
            Self::GateIhsan => "Ihsan below minimum",
            Self::Quota => "quota exhausted",
            Self::Timeout => "timed out",
            Self::Internal => "internal error",
        }
    }

    /// The name of a reject-code number as every binding spells it: `"SUCCESS"` for 0 (no
    /// rejection), [`RejectCode::name`] for a code, `None` for a number the spec does not define.
    pub fn name_of(code: u32) -> Option<&'static str> {
        if code == 0 {
            Some(SUCCESS_NAME)
        } else {
            Self::from_code(code).map(Self::name)
        }
    }

    /// Whether the same request may succeed later (rate, quota, timeout).
    pub const fn is_retryable(self) -> bool {
        matches!(self, Self::GateRate | Self::Quota | Self::Timeout)
    }
}

impl fmt::Display for RejectCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PCI-{:02}: {}", self.code(), self.description())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_round_trip_and_are_unique() {
        for c in RejectCode::ALL {
            assert_eq!(RejectCode::from_code(c.code()), Some(c));
        }
        assert_eq!(RejectCode::from_code(0), None);
        assert_eq!(RejectCode::from_code(3), None);
        assert_eq!(RejectCode::name_of(0), Some("SUCCESS"));
        assert_eq!(RejectCode::name_of(15), Some("HASH_MISMATCH"));
        assert_eq!(RejectCode::name_of(3), None);
        let mut n: Vec<u32> = RejectCode::ALL.iter().map(|c| c.code()).collect();
        n.dedup();
        assert_eq!(n.len(), RejectCode::ALL.len());
    }

    #[test]
    fn display_has_the_spec_form() {
        assert_eq!(RejectCode::Schema.to_string(), "PCI-01: malformed envelope");
        assert_eq!(
            RejectCode::HashMismatch.to_string(),
            "PCI-15: content_hash does not match the payload"
        );
        assert!(RejectCode::Quota.is_retryable());
        assert!(!RejectCode::Signature.is_retryable());
    }
}
