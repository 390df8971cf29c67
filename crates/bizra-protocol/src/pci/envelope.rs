//! The envelope: its members, building and signing, parsing, and canonical serialization.

use ed25519_dalek::VerifyingKey;
use rand_core::{OsRng, RngCore as _};
use serde_json::Value;

use super::{RejectCode, Timestamp};
use std::fmt::Write as _;

use crate::canonical::{self, write_f64};
use crate::constitution::Constitution;
use crate::hash::{domain_hash, from_hex, to_hex, Domain};
use crate::identity::{node_id_of, Identity, PUBLIC_KEY_LEN, SIGNATURE_LEN};
use crate::{Error, Result};

/// The only version this implementation speaks.
pub const VERSION: &str = "1.0";
/// The largest `ttl`, in seconds (`max_ttl_seconds`).
pub const MAX_TTL_SECONDS: i64 = 3600;
/// The `ttl` of an envelope whose options name none: the largest.
pub const DEFAULT_TTL_SECONDS: i64 = MAX_TTL_SECONDS;
/// How far in the future a timestamp may lie (`max_clock_skew_seconds`).
pub const MAX_CLOCK_SKEW_SECONDS: i64 = 120;
/// Most provenance entries an envelope may carry.
pub const MAX_PROVENANCE: usize = 64;
/// Largest canonical payload, in bytes.
pub const MAX_PAYLOAD_BYTES: usize = 1 << 20;
/// Largest envelope text [`Envelope::parse`] reads. A payload at its 1 MiB canonical limit may be
/// written with many escapes, hence the margin.
pub const MAX_TEXT_BYTES: usize = 8 << 20;

const MEMBERS: [&str; 12] = [
    "version",
    "id",
    "sender",
    "public_key",
    "timestamp",
    "ttl",
    "content_hash",
    "provenance",
    "scores",
    "policy",
    "payload",
    "signature",
];

/// The optional quality scores an envelope asserts, each in `[0, 1]`.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Scores {
    /// Signal-to-noise ratio of the output.
    pub snr: Option<f64>,
    /// The Ihsan (excellence) score.
    pub ihsan: Option<f64>,
}

impl Scores {
    fn check(&self) -> Result<(), String> {
        for (name, v) in [("snr", self.snr), ("ihsan", self.ihsan)] {
            if let Some(v) = v {
                if !(0.0..=1.0).contains(&v) {
                    return Err(format!("score {name} must be a number in [0, 1], got {v}"));
                }
            }
        }
        Ok(())
    }
}

/// A Proof-Carrying Inference envelope (`tests/vectors/PCI-v1.md`).
///
/// Immutable once built or parsed: every member is well-formed by construction (step 1 of the
/// verification), and [`Envelope::verify`](super::Envelope::verify) performs the other steps.
/// `Send + Sync`. Two envelopes are equal when their canonical JSON is (so a payload number
/// written `1.0` equals one written `1`, as on the wire).
#[derive(Clone, Debug)]
pub struct Envelope {
    pub(super) id: String,
    pub(super) sender: String,
    pub(super) public_key: [u8; PUBLIC_KEY_LEN],
    /// `public_key` decompressed once at construction (None: not a curve point, so the
    /// signature step will refuse it), as a verifier that keeps keys would hold it.
    pub(super) key: Option<VerifyingKey>,
    pub(super) timestamp: Timestamp,
    pub(super) ttl: i64,
    pub(super) content_hash: [u8; 32],
    pub(super) provenance: Vec<String>,
    pub(super) scores: Scores,
    pub(super) policy: [u8; 32],
    /// The payload as canonical JSON: what is hashed, written and sent.
    pub(super) payload_json: Box<str>,
    /// The payload as a receiver reads `payload_json` back ([`canonical::normalize`]d).
    pub(super) payload: Value,
    pub(super) signature: [u8; SIGNATURE_LEN],
}

impl Envelope {
    /// Starts building an envelope around a payload.
    pub fn builder(payload: Value) -> EnvelopeBuilder {
        EnvelopeBuilder {
            payload,
            options: EnvelopeOptions::default(),
        }
    }

    /// Signs a payload with the defaults: ttl 3600 s, no provenance, no scores, the default
    /// constitution's hash as policy, the current time and a random id.
    pub fn create(identity: &Identity, payload: Value) -> Result<Self> {
        Self::builder(payload).sign(identity)
    }

    /// Signs a payload with `options`: the call that every binding makes once it has read its
    /// own form of the options (a C struct, keyword arguments, an object, a record).
    pub fn create_with(
        identity: &Identity,
        payload: Value,
        options: EnvelopeOptions,
    ) -> Result<Self> {
        EnvelopeBuilder { payload, options }.sign(identity)
    }

    /// Parses envelope text: any failure of step 1 is a rejection with code 1 (malformed) or 2
    /// (a member missing).
    pub fn parse(text: &str) -> Result<Self> {
        if text.len() > MAX_TEXT_BYTES {
            return Err(schema(format!(
                "envelope text of {} bytes exceeds {MAX_TEXT_BYTES}",
                text.len()
            )));
        }
        let value = canonical::parse(text).map_err(|e| schema(format!("not I-JSON: {e}")))?;
        Self::from_value(value)
    }

    /// Parses envelope bytes, which must be UTF-8 (otherwise code 1).
    pub fn parse_bytes(bytes: &[u8]) -> Result<Self> {
        match std::str::from_utf8(bytes) {
            Ok(text) => Self::parse(text),
            Err(e) => Err(schema(format!("not UTF-8 at byte {}", e.valid_up_to()))),
        }
    }

    /// Reads an envelope from a parsed JSON value (step 1 of the verification).
    pub fn from_value(value: Value) -> Result<Self> {
        let Value::Object(mut map) = value else {
            return Err(schema("an envelope is a JSON object"));
        };
        if let Some(unknown) = map.keys().find(|k| !MEMBERS.contains(&k.as_str())) {
            return Err(schema(format!("unknown member {unknown:?}")));
        }
        if let Some(missing) = MEMBERS.iter().find(|m| !map.contains_key(**m)) {
            return Err(Error::reject(
                RejectCode::MissingField,
                format!("missing member {missing:?}"),
            ));
        }
        let mut take = |name: &str| map.remove(name).unwrap_or(Value::Null);

        if take("version").as_str() != Some(VERSION) {
            return Err(schema(format!("version must be \"{VERSION}\"")));
        }
        let id = envelope_id(&take("id"))
            .ok_or_else(|| schema("id must be \"pci_\" and 32 lowercase hex"))?;
        let sender = match take("sender") {
            Value::String(s) if from_hex::<16>(&s).is_some() => s,
            _ => return Err(schema("sender must be 32 lowercase hex")),
        };
        let public_key = hex_member::<32>(&take("public_key"), "public_key")?;
        let timestamp = take("timestamp")
            .as_str()
            .and_then(Timestamp::parse)
            .ok_or_else(|| schema("timestamp must be YYYY-MM-DDTHH:MM:SS.mmmZ"))?;
        let ttl = take("ttl")
            .as_i64()
            .ok_or_else(|| schema("ttl must be a JSON integer"))?;
        let content_hash = hex_member::<32>(&take("content_hash"), "content_hash")?;
        let provenance = match take("provenance") {
            Value::Array(items) if items.len() <= MAX_PROVENANCE => items
                .iter()
                .map(envelope_id)
                .collect::<Option<Vec<_>>>()
                .ok_or_else(|| schema("provenance entries must be envelope ids"))?,
            Value::Array(_) => {
                return Err(schema(format!(
                    "provenance holds more than {MAX_PROVENANCE} ids"
                )))
            }
            _ => return Err(schema("provenance must be an array of envelope ids")),
        };
        let scores = scores_member(take("scores"))?;
        let policy = hex_member::<32>(&take("policy"), "policy")?;
        let mut payload = take("payload");
        let signature = hex_member::<64>(&take("signature"), "signature")?;
        let payload_json = canonical::to_string(&payload)
            .map(String::into_boxed_str)
            .map_err(|e| schema(format!("payload: {e}")))?;
        if payload_json.len() > MAX_PAYLOAD_BYTES {
            return Err(schema(format!(
                "canonical payload of {} bytes exceeds {MAX_PAYLOAD_BYTES}",
                payload_json.len()
            )));
        }
        canonical::normalize(&mut payload);
        Ok(Self {
            id,
            sender,
            public_key,
            key: VerifyingKey::from_bytes(&public_key).ok(),
            timestamp,
            ttl,
            content_hash,
            provenance,
            scores,
            policy,
            payload_json,
            payload,
            signature,
        })
    }

    /// The envelope as canonical (JCS) JSON text; [`Envelope::parse`] reads it back identically.
    pub fn to_json(&self) -> String {
        let mut out = String::with_capacity(512 + self.payload_json.len());
        self.write_members(&mut out, true);
        out
    }

    /// The canonical header: the envelope without `payload` and `signature`, the bytes whose
    /// `H("bizra-pci-v1:", ·)` is signed.
    pub fn header_json(&self) -> String {
        let mut out = String::with_capacity(400 + self.provenance.len() * 40);
        self.write_members(&mut out, false);
        out
    }

    /// Writes the members in JCS order. Every string member is hex, an id or a timestamp, so none
    /// needs escaping; the payload is already canonical text.
    fn write_members(&self, out: &mut String, full: bool) {
        let s = |out: &mut String, key: &str, value: &str| {
            out.push('"');
            out.push_str(key);
            out.push_str("\":\"");
            out.push_str(value);
            out.push_str("\",");
        };
        out.push('{');
        s(out, "content_hash", &to_hex(&self.content_hash));
        s(out, "id", &self.id);
        if full {
            out.push_str("\"payload\":");
            out.push_str(&self.payload_json);
            out.push(',');
        }
        s(out, "policy", &to_hex(&self.policy));
        out.push_str("\"provenance\":[");
        for (k, p) in self.provenance.iter().enumerate() {
            if k > 0 {
                out.push(',');
            }
            out.push('"');
            out.push_str(p);
            out.push('"');
        }
        out.push_str("],");
        s(out, "public_key", &to_hex(&self.public_key));
        out.push_str("\"scores\":{");
        if let Some(ihsan) = self.scores.ihsan {
            out.push_str("\"ihsan\":");
            write_f64(ihsan, out);
            if self.scores.snr.is_some() {
                out.push(',');
            }
        }
        if let Some(snr) = self.scores.snr {
            out.push_str("\"snr\":");
            write_f64(snr, out);
        }
        out.push_str("},");
        s(out, "sender", &self.sender);
        if full {
            s(out, "signature", &to_hex(&self.signature));
        }
        s(out, "timestamp", &self.timestamp.to_string());
        let _ = write!(out, "\"ttl\":{},", self.ttl);
        out.push_str("\"version\":\"1.0\"}");
    }

    /// `"1.0"`.
    pub fn version(&self) -> &'static str {
        VERSION
    }
    /// The envelope id, `pci_` and 32 lowercase hex.
    pub fn id(&self) -> &str {
        &self.id
    }
    /// The sender's node id, as the envelope states it.
    pub fn sender(&self) -> &str {
        &self.sender
    }
    /// The sender's public key.
    pub fn public_key(&self) -> &[u8; PUBLIC_KEY_LEN] {
        &self.public_key
    }
    /// When the envelope was created.
    pub fn timestamp(&self) -> Timestamp {
        self.timestamp
    }
    /// Time to live in seconds, as stated (verification checks its range).
    pub fn ttl(&self) -> i64 {
        self.ttl
    }
    /// The last instant at which the envelope is still valid: `timestamp + ttl`.
    pub fn expires_at(&self) -> Timestamp {
        self.timestamp.plus_seconds(self.ttl)
    }
    /// `H("bizra-pci-v1:", JCS(payload))` as stated.
    pub fn content_hash(&self) -> &[u8; 32] {
        &self.content_hash
    }
    /// The ids of the envelopes this one derives from.
    pub fn provenance(&self) -> &[String] {
        &self.provenance
    }
    /// The asserted scores.
    pub fn scores(&self) -> &Scores {
        &self.scores
    }
    /// Hash of the constitution the sender applied.
    pub fn policy(&self) -> &[u8; 32] {
        &self.policy
    }
    /// The payload, as a receiver reads it from the wire (JCS writes a number given as `1.0` as
    /// `1`).
    pub fn payload(&self) -> &Value {
        &self.payload
    }
    /// The payload as canonical (JCS) JSON text, as hashed and sent.
    pub fn payload_json(&self) -> &str {
        &self.payload_json
    }
    /// The Ed25519 signature over the header digest.
    pub fn signature(&self) -> &[u8; SIGNATURE_LEN] {
        &self.signature
    }
}

impl PartialEq for Envelope {
    fn eq(&self, other: &Self) -> bool {
        self.signature == other.signature && self.to_json() == other.to_json()
    }
}

/// How to build an envelope, as data. `Default` is what [`Envelope::create`] applies: ttl
/// [`DEFAULT_TTL_SECONDS`], no provenance, no scores, the default constitution's hash, the current
/// time and a random id. Bindings fill one from their own form of the options and call
/// [`Envelope::create_with`], so that no binding repeats a default or a rule.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct EnvelopeOptions {
    /// Time to live in seconds, between 1 and [`MAX_TTL_SECONDS`] (`None`: the default).
    pub ttl: Option<i64>,
    /// The ids of the envelopes this one derives from (at most [`MAX_PROVENANCE`]).
    pub provenance: Vec<String>,
    /// The scores asserted, each in `[0, 1]`.
    pub scores: Scores,
    /// The hash of the constitution applied (`None`: the embedded default constitution's).
    pub policy: Option<[u8; 32]>,
    /// The creation time (`None`: now); for archives and reproducible test vectors.
    pub timestamp: Option<Timestamp>,
    /// A caller-chosen id (`None`: 16 CSPRNG bytes). The caller then guarantees its uniqueness,
    /// as replay protection keys on it; for idempotent retries and reproducible test vectors.
    pub id: Option<String>,
}

/// Options for a new envelope; finish with [`EnvelopeBuilder::sign`].
#[derive(Clone, Debug)]
#[must_use]
pub struct EnvelopeBuilder {
    payload: Value,
    options: EnvelopeOptions,
}

/// The one ttl rule: `1 ≤ ttl ≤ max_seconds`, where `max_seconds` is the spec's
/// [`MAX_TTL_SECONDS`] or a constitution's own `max_ttl_seconds`. Its message says what was wrong
/// in words; callers wrap it in their own error ([`Error::InvalidInput`] when signing,
/// [`RejectCode::TtlRange`] when verifying or gating).
pub fn check_ttl(ttl: i64, max_seconds: i64) -> std::result::Result<(), String> {
    if (1..=max_seconds).contains(&ttl) {
        Ok(())
    } else {
        Err(format!(
            "ttl must be between 1 and {max_seconds} seconds, got {ttl}"
        ))
    }
}

/// The provenance rule of [`EnvelopeBuilder::sign`], for callers that sign only after costly work
/// (an inference request) and must refuse a bad value before it.
pub fn check_provenance(ids: &[String]) -> Result<()> {
    if ids.len() > MAX_PROVENANCE {
        return Err(Error::InvalidInput(format!(
            "provenance holds {} ids, at most {MAX_PROVENANCE} are allowed",
            ids.len()
        )));
    }
    if let Some(bad) = ids.iter().find(|p| !is_envelope_id(p)) {
        return Err(Error::InvalidInput(format!(
            "provenance entry {bad:?} is not an envelope id (\"pci_\" and 32 lowercase hex)"
        )));
    }
    Ok(())
}

impl EnvelopeBuilder {
    /// Time to live in seconds, `1..=3600` (default 3600).
    pub fn ttl(mut self, seconds: i64) -> Self {
        self.options.ttl = Some(seconds);
        self
    }
    /// The ids of the envelopes this one derives from (at most 64).
    pub fn provenance<I, S>(mut self, ids: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.options.provenance = ids.into_iter().map(Into::into).collect();
        self
    }
    /// Both scores at once.
    pub fn scores(mut self, scores: Scores) -> Self {
        self.options.scores = scores;
        self
    }
    /// The SNR score, in `[0, 1]`.
    pub fn snr(mut self, snr: f64) -> Self {
        self.options.scores.snr = Some(snr);
        self
    }
    /// The Ihsan score, in `[0, 1]`.
    pub fn ihsan(mut self, ihsan: f64) -> Self {
        self.options.scores.ihsan = Some(ihsan);
        self
    }
    /// The hash of the constitution applied (default: the embedded default constitution's).
    pub fn policy(mut self, hash: [u8; 32]) -> Self {
        self.options.policy = Some(hash);
        self
    }
    /// The creation time (default: now). Useful for archives and reproducible test vectors.
    pub fn timestamp(mut self, at: Timestamp) -> Self {
        self.options.timestamp = Some(at);
        self
    }
    /// A caller-chosen id (default: 16 CSPRNG bytes); see [`EnvelopeOptions::id`].
    pub fn id(mut self, id: impl Into<String>) -> Self {
        self.options.id = Some(id.into());
        self
    }

    /// Checks every option, canonicalizes the payload and signs the header.
    pub fn sign(self, identity: &Identity) -> Result<Envelope> {
        let EnvelopeBuilder {
            mut payload,
            options: o,
        } = self;
        let ttl = o.ttl.unwrap_or(DEFAULT_TTL_SECONDS);
        check_ttl(ttl, MAX_TTL_SECONDS).map_err(Error::InvalidInput)?;
        check_provenance(&o.provenance)?;
        o.scores.check().map_err(Error::InvalidInput)?;
        let id = match o.id {
            Some(id) if is_envelope_id(&id) => id,
            Some(id) => {
                return Err(Error::InvalidInput(format!(
                    "id {id:?} is not \"pci_\" and 32 lowercase hex"
                )))
            }
            None => {
                let mut raw = [0u8; 16];
                OsRng.fill_bytes(&mut raw);
                format!("pci_{}", to_hex(&raw))
            }
        };
        let payload_json = canonical::to_string(&payload)
            .map(String::into_boxed_str)
            .map_err(|e| Error::InvalidInput(format!("payload: {e}")))?;
        if payload_json.len() > MAX_PAYLOAD_BYTES {
            return Err(Error::InvalidInput(format!(
                "canonical payload of {} bytes exceeds {MAX_PAYLOAD_BYTES}",
                payload_json.len()
            )));
        }
        canonical::normalize(&mut payload);
        let mut env = Envelope {
            id,
            sender: node_id_of(identity.public_key()),
            public_key: *identity.public_key(),
            key: Some(identity.verifying_key()),
            timestamp: o.timestamp.unwrap_or_else(Timestamp::now),
            ttl,
            content_hash: domain_hash(Domain::Pci, payload_json.as_bytes()),
            provenance: o.provenance,
            scores: o.scores,
            policy: o
                .policy
                .unwrap_or_else(|| *Constitution::default_ref().hash()),
            payload_json,
            payload,
            signature: [0u8; SIGNATURE_LEN],
        };
        env.signature =
            identity.sign_digest(&domain_hash(Domain::Pci, env.header_json().as_bytes()));
        Ok(env)
    }
}

fn schema(detail: impl Into<String>) -> Error {
    Error::reject(RejectCode::Schema, detail)
}

/// Whether a string is an envelope id: `pci_` and 32 lowercase hex.
pub fn is_envelope_id(s: &str) -> bool {
    s.strip_prefix("pci_")
        .is_some_and(|h| from_hex::<16>(h).is_some())
}

fn envelope_id(v: &Value) -> Option<String> {
    v.as_str().filter(|s| is_envelope_id(s)).map(str::to_owned)
}

fn hex_member<const N: usize>(v: &Value, name: &str) -> Result<[u8; N]> {
    v.as_str()
        .and_then(from_hex::<N>)
        .ok_or_else(|| schema(format!("{name} must be {} lowercase hex", N * 2)))
}

fn scores_member(v: Value) -> Result<Scores> {
    let Value::Object(map) = v else {
        return Err(schema("scores must be an object"));
    };
    let mut scores = Scores::default();
    for (k, v) in map {
        let slot = match k.as_str() {
            "snr" => &mut scores.snr,
            "ihsan" => &mut scores.ihsan,
            other => return Err(schema(format!("unknown score {other:?}"))),
        };
        match v.as_f64() {
            Some(x) if (0.0..=1.0).contains(&x) => *slot = Some(x),
            _ => return Err(schema(format!("score {k} must be a number in [0, 1]"))),
        }
    }
    Ok(scores)
}
