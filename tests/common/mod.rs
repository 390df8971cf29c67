//! Helpers shared by the integration tests.
#![allow(dead_code)]

use bizra::{Envelope, Identity, Timestamp};
use serde_json::Value;

/// 2026-01-30T00:00:00.000Z, the instant of the spec's vectors.
pub fn t0() -> Timestamp {
    Timestamp::parse("2026-01-30T00:00:00.000Z").unwrap()
}

/// `t0` plus seconds.
pub fn at(seconds: i64) -> Timestamp {
    t0().plus_seconds(seconds)
}

/// A fixed identity.
pub fn alice() -> Identity {
    Identity::from_seed(&[0xa1; 32]).unwrap()
}

/// An envelope at `t0` that passes the default gate chain.
pub fn good(id: &Identity, payload: Value) -> Envelope {
    Envelope::builder(payload)
        .timestamp(t0())
        .snr(0.91)
        .ihsan(0.96)
        .sign(id)
        .unwrap()
}

/// Replaces `from` by `to` once in the envelope's JSON and parses the result.
pub fn tamper(env: &Envelope, from: &str, to: &str) -> Result<Envelope, bizra::Error> {
    let json = env.to_json();
    assert!(json.contains(from), "{from} not in {json}");
    Envelope::parse(&json.replacen(from, to, 1))
}
