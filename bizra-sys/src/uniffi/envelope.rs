//! `Envelope` (create, parse, verify, accessors), `ReplayCache` and batch verification.

use std::sync::Arc;
use std::time::SystemTime;

use bizra_core::hash::{from_hex, to_hex};

use super::identity::Identity;
use super::{from_timestamp, opt_timestamp, to_timestamp, BizraError, Rejection};

/// The quality scores an envelope asserts, each in [0, 1] where present.
#[derive(Debug, Clone, Copy, PartialEq, Default, ::uniffi::Record)]
pub struct Scores {
    /// Signal-to-noise ratio.
    #[uniffi(default = None)]
    pub snr: Option<f64>,
    /// The Ihsan (excellence) score.
    #[uniffi(default = None)]
    pub ihsan: Option<f64>,
}

/// How to build an envelope; every null member takes the core's default (`bizra::EnvelopeOptions`).
#[derive(Debug, Clone, PartialEq, Default, ::uniffi::Record)]
pub struct EnvelopeOptions {
    /// Validity in seconds, at least 1 and at most one hour (default: the core's, one hour).
    #[uniffi(default = None)]
    pub ttl: Option<i64>,
    /// Ids of the envelopes this one derives from (at most 64).
    #[uniffi(default)]
    pub provenance: Vec<String>,
    /// Signal-to-noise score in [0, 1].
    #[uniffi(default = None)]
    pub snr: Option<f64>,
    /// Ihsan score in [0, 1].
    #[uniffi(default = None)]
    pub ihsan: Option<f64>,
    /// The constitution hash (64 hex) the sender applied (default: the default constitution's).
    #[uniffi(default = None)]
    pub policy: Option<String>,
    /// The creation time (default: now). For tests and archives.
    #[uniffi(default = None)]
    pub timestamp: Option<SystemTime>,
    /// The envelope id, `pci_` + 32 lowercase hex (default: random). For tests and vectors.
    #[uniffi(default = None)]
    pub id: Option<String>,
}

pub(crate) fn parse_hash(hex: &str, what: &str) -> Result<[u8; 32], BizraError> {
    from_hex::<32>(hex).ok_or_else(|| BizraError::invalid(format!("{what} must be 64 hex digits")))
}

/// A signed PCI envelope (PCI-v1.md). Immutable; safe to share between threads.
#[derive(Debug, ::uniffi::Object)]
#[uniffi::export(Eq, Display)]
pub struct Envelope {
    pub(crate) inner: bizra_core::Envelope,
}

impl PartialEq for Envelope {
    fn eq(&self, other: &Self) -> bool {
        self.inner == other.inner
    }
}

impl Eq for Envelope {}

impl std::fmt::Display for Envelope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.inner.to_json())
    }
}

#[::uniffi::export]
impl Envelope {
    /// Signs `payloadJson` (any I-JSON value) as `identity`.
    #[uniffi::constructor(default(options = None))]
    pub fn create(
        identity: Arc<Identity>,
        payload_json: String,
        options: Option<EnvelopeOptions>,
    ) -> Result<Self, BizraError> {
        let o = options.unwrap_or_default();
        let payload = bizra_core::canonical::parse(&payload_json)
            .map_err(|e| BizraError::invalid(format!("payload is not I-JSON: {e}")))?;
        let options = bizra_core::EnvelopeOptions {
            ttl: o.ttl,
            provenance: o.provenance,
            scores: bizra_core::Scores {
                snr: o.snr,
                ihsan: o.ihsan,
            },
            policy: o.policy.map(|p| parse_hash(&p, "policy")).transpose()?,
            timestamp: o.timestamp.map(to_timestamp).transpose()?,
            id: o.id,
        };
        Ok(Envelope {
            inner: bizra_core::Envelope::create_with(&identity.inner, payload, options)?,
        })
    }

    /// Parses and verifies envelope text in one call (steps 1–9 of the spec, the first failure
    /// deciding) and returns the verified envelope; a refusal throws `Rejected` with its code.
    /// `now`, `policy` and `replay` as for `verify` (with `replay`, the id is recorded).
    #[uniffi::constructor(default(now = None, policy = None, replay = None))]
    pub fn open(
        json: String,
        now: Option<SystemTime>,
        policy: Option<String>,
        replay: Option<Arc<ReplayCache>>,
    ) -> Result<Self, BizraError> {
        let opts = verify_options(now, policy.as_deref(), replay.as_deref())?;
        Ok(Envelope {
            inner: bizra_core::Envelope::open(&json, &opts)?,
        })
    }

    /// Parses envelope text (step 1 of the verification): a malformed envelope is
    /// `Rejected(code = 1)`, a missing member `Rejected(code = 2)`.
    #[uniffi::constructor]
    pub fn parse(json: String) -> Result<Self, BizraError> {
        Ok(Envelope {
            inner: bizra_core::Envelope::parse(&json)?,
        })
    }

    /// Verifies steps 2–9 of the spec in order; the first failure throws `Rejected` with its code.
    /// `now` defaults to the system clock; `policy` (64 hex) requires that constitution hash;
    /// `replay` refuses ids it holds and records admitted ones.
    #[uniffi::method(default(now = None, policy = None, replay = None))]
    pub fn verify(
        &self,
        now: Option<SystemTime>,
        policy: Option<String>,
        replay: Option<Arc<ReplayCache>>,
    ) -> Result<(), BizraError> {
        let opts = verify_options(now, policy.as_deref(), replay.as_deref())?;
        Ok(self.inner.verify(&opts)?)
    }

    /// The canonical (JCS) wire form.
    pub fn to_json(&self) -> String {
        self.inner.to_json()
    }

    /// The canonical header: the envelope without `payload` and `signature` (what is signed).
    pub fn header_json(&self) -> String {
        self.inner.header_json()
    }

    /// The payload in canonical (JCS) form.
    pub fn payload_json(&self) -> String {
        self.inner.payload_json().to_owned()
    }

    /// `"1.0"`.
    pub fn version(&self) -> String {
        self.inner.version().to_string()
    }

    /// `pci_` + 32 lowercase hex.
    pub fn id(&self) -> String {
        self.inner.id().to_string()
    }

    /// The sender's node id.
    pub fn sender(&self) -> String {
        self.inner.sender().to_string()
    }

    /// The sender's 32-byte public key.
    pub fn public_key(&self) -> Vec<u8> {
        self.inner.public_key().to_vec()
    }

    /// The sender's public key, 64 lowercase hex.
    pub fn public_key_hex(&self) -> String {
        to_hex(self.inner.public_key())
    }

    /// The creation time.
    pub fn timestamp(&self) -> SystemTime {
        from_timestamp(self.inner.timestamp())
    }

    /// The creation time in its wire form, `YYYY-MM-DDTHH:MM:SS.mmmZ`.
    pub fn timestamp_text(&self) -> String {
        self.inner.timestamp().to_string()
    }

    /// Validity in seconds.
    pub fn ttl(&self) -> i64 {
        self.inner.ttl()
    }

    /// `timestamp + ttl`.
    pub fn expires_at(&self) -> SystemTime {
        from_timestamp(self.inner.expires_at())
    }

    /// The payload hash, 64 lowercase hex.
    pub fn content_hash_hex(&self) -> String {
        to_hex(self.inner.content_hash())
    }

    /// The ids this envelope derives from.
    pub fn provenance(&self) -> Vec<String> {
        self.inner.provenance().to_vec()
    }

    /// The asserted scores.
    pub fn scores(&self) -> Scores {
        let s = self.inner.scores();
        Scores {
            snr: s.snr,
            ihsan: s.ihsan,
        }
    }

    /// The constitution hash the sender applied, 64 lowercase hex.
    pub fn policy_hex(&self) -> String {
        to_hex(self.inner.policy())
    }

    /// The 64-byte signature as 128 lowercase hex.
    pub fn signature_hex(&self) -> String {
        to_hex(self.inner.signature())
    }
}

pub(super) fn verify_options<'a>(
    now: Option<SystemTime>,
    policy: Option<&str>,
    replay: Option<&'a ReplayCache>,
) -> Result<bizra_core::VerifyOptions<'a>, BizraError> {
    let mut opts = bizra_core::VerifyOptions::default().at(opt_timestamp(now)?);
    if let Some(p) = policy {
        opts = opts.policy(parse_hash(p, "policy")?);
    }
    if let Some(r) = replay {
        opts = opts.replay(&r.inner);
    }
    Ok(opts)
}

/// Verifies many envelopes; item `i` is null when envelope `i` is valid, else its rejection —
/// exactly what `verify` would say for it (duplicates within the batch: the first is admitted).
#[::uniffi::export(default(now = None, policy = None, replay = None))]
pub fn verify_batch(
    envelopes: Vec<Arc<Envelope>>,
    now: Option<SystemTime>,
    policy: Option<String>,
    replay: Option<Arc<ReplayCache>>,
) -> Result<Vec<Option<Rejection>>, BizraError> {
    let opts = verify_options(now, policy.as_deref(), replay.as_deref())?;
    // References to the objects' envelopes: the core verifies them where they are.
    let list: Vec<&bizra_core::Envelope> = envelopes.iter().map(|e| &e.inner).collect();
    Ok(bizra_core::verify_batch(&list, &opts)
        .into_iter()
        .map(|r| r.err().map(Rejection::from))
        .collect())
}

/// Remembers admitted envelope ids until they expire (step 9). Thread-safe and atomic.
#[derive(Debug, ::uniffi::Object)]
pub struct ReplayCache {
    pub(crate) inner: Arc<bizra_core::ReplayCache>,
}

#[::uniffi::export]
impl ReplayCache {
    /// A cache holding at most `capacity` live ids (default: the core's capacity, the one a
    /// `GateChain()` gets); when full of live ids it refuses with QUOTA (40, retryable). A
    /// capacity of 0 throws `InvalidInput`, as in every binding: such a cache would refuse every
    /// envelope.
    #[uniffi::constructor(default(capacity = None))]
    pub fn new(capacity: Option<u64>) -> Result<Self, BizraError> {
        let cache = match capacity {
            None => bizra_core::ReplayCache::default(),
            Some(n) => bizra_core::ReplayCache::new(usize::try_from(n).unwrap_or(usize::MAX))?,
        };
        Ok(ReplayCache {
            inner: Arc::new(cache),
        })
    }

    /// The most live ids it holds.
    pub fn capacity(&self) -> u64 {
        self.inner.capacity() as u64
    }

    /// The ids held now (expired ones included until purged).
    pub fn len(&self) -> u64 {
        self.inner.len() as u64
    }

    /// Whether no id is held.
    pub fn is_empty(&self) -> bool {
        self.inner.is_empty()
    }

    /// Whether `id` was admitted and is still valid at `now` (default: the system clock).
    #[uniffi::method(default(now = None))]
    pub fn contains(&self, id: String, now: Option<SystemTime>) -> Result<bool, BizraError> {
        Ok(self.inner.contains(&id, opt_timestamp(now)?))
    }

    /// Drops every id expired at `now` (default: the system clock).
    #[uniffi::method(default(now = None))]
    pub fn purge_expired(&self, now: Option<SystemTime>) -> Result<(), BizraError> {
        self.inner.purge_expired(opt_timestamp(now)?);
        Ok(())
    }
}
