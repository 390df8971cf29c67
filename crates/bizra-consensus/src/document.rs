//! The federation document: who validates, with how much voting power, and how long each step of
//! a round may take, for one epoch of one federation.
//!
//! Every node loads the same document; the validator set is never derived from the membership
//! view (gossip only supplies addresses), so a peer cannot vote itself in. Its hash, under the
//! `bizra-document-v1:` domain over the canonical JSON, names the document in logs and APIs.

use std::collections::HashSet;
use std::time::Duration;

use bizra_protocol::canonical;
use bizra_protocol::hash::{domain_hash, from_hex, to_hex, Domain};
use bizra_protocol::identity::PeerKey;
use bizra_protocol::{Error, Result};
use serde_json::{json, Map, Value};

/// The most validators a document may name: votes from all of them must fit a certificate that
/// stays a small JSON document (1,024 signatures are about 200 KB).
pub const MAX_VALIDATORS: usize = 1024;

/// The longest federation name, in bytes.
pub const MAX_FEDERATION_LEN: usize = 128;

/// One validator: its node key and its voting power.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Validator {
    key: PeerKey,
    key_hex: String,
    power: u64,
}

impl Validator {
    /// A validator with `power` ≥ 1 votes; `None` for a key that is not a curve point.
    pub fn new(public_key: &[u8; 32], power: u64) -> Option<Self> {
        (power >= 1).then_some(())?;
        let key = PeerKey::from_bytes(public_key)?;
        Some(Validator {
            key,
            key_hex: to_hex(public_key),
            power,
        })
    }

    /// The validator's key, as votes are verified against it.
    pub fn key(&self) -> &PeerKey {
        &self.key
    }

    /// The lowercase hex of its key, as votes and certificates name it (its node id is the
    /// first 32 digits: too short to name a signer).
    pub fn key_hex(&self) -> &str {
        &self.key_hex
    }

    /// Its voting power.
    pub fn power(&self) -> u64 {
        self.power
    }
}

/// How long each step of a round waits before giving up on it. Tendermint lengthens them by
/// `delta` every round, so that a federation whose messages are slower than the base timeouts
/// still reaches a round in which they fit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timeouts {
    /// Waiting for the round's proposal.
    pub propose: Duration,
    /// Waiting for more prevotes once any quorum of prevotes arrived.
    pub prevote: Duration,
    /// Waiting for more precommits once any quorum of precommits arrived.
    pub precommit: Duration,
    /// Added to each of the above per round.
    pub delta: Duration,
    /// How often a validator stuck in a round re-sends its latest votes, so that lost messages
    /// are recovered.
    pub rebroadcast: Duration,
}

impl Default for Timeouts {
    /// Timeouts for a LAN or a region: a second to propose, half a second for each vote step.
    fn default() -> Self {
        Timeouts {
            propose: Duration::from_millis(1000),
            prevote: Duration::from_millis(500),
            precommit: Duration::from_millis(500),
            delta: Duration::from_millis(250),
            rebroadcast: Duration::from_millis(1000),
        }
    }
}

const TIMEOUT_FIELDS: [&str; 5] = ["propose", "prevote", "precommit", "delta", "rebroadcast"];

impl Timeouts {
    fn get(&self, name: &str) -> Duration {
        match name {
            "propose" => self.propose,
            "prevote" => self.prevote,
            "precommit" => self.precommit,
            "delta" => self.delta,
            _ => self.rebroadcast,
        }
    }

    fn set(&mut self, name: &str, d: Duration) {
        match name {
            "propose" => self.propose = d,
            "prevote" => self.prevote = d,
            "precommit" => self.precommit = d,
            "delta" => self.delta = d,
            _ => self.rebroadcast = d,
        }
    }
}

/// A federation's validator set and timeouts for one epoch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FederationDocument {
    federation: String,
    epoch: u64,
    validators: Vec<Validator>,
    total_power: u64,
    timeouts: Timeouts,
    hash: [u8; 32],
}

impl FederationDocument {
    /// A document; refuses an empty or oversized federation name or validator set, duplicate
    /// keys, and a total power that does not fit 64 bits.
    pub fn new(
        federation: impl Into<String>,
        epoch: u64,
        validators: Vec<Validator>,
        timeouts: Timeouts,
    ) -> Result<Self> {
        let federation = federation.into();
        if federation.is_empty() || federation.len() > MAX_FEDERATION_LEN {
            return Err(invalid(format!(
                "federation must be 1 to {MAX_FEDERATION_LEN} bytes, got {}",
                federation.len()
            )));
        }
        if validators.is_empty() || validators.len() > MAX_VALIDATORS {
            return Err(invalid(format!(
                "validators: 1 to {MAX_VALIDATORS} needed, got {}",
                validators.len()
            )));
        }
        let mut seen = HashSet::new();
        let mut total: u64 = 0;
        for (i, v) in validators.iter().enumerate() {
            if !seen.insert(v.key_hex.as_str()) {
                return Err(invalid(format!(
                    "validators[{i}]: key {} appears twice",
                    v.key_hex
                )));
            }
            total = total.checked_add(v.power).ok_or_else(|| {
                invalid("validators: the total voting power exceeds 2^64 - 1".into())
            })?;
        }
        for name in TIMEOUT_FIELDS {
            if timeouts.get(name).is_zero() {
                return Err(invalid(format!(
                    "timeouts_ms.{name} must be longer than zero"
                )));
            }
        }
        let mut doc = FederationDocument {
            federation,
            epoch,
            validators,
            total_power: total,
            timeouts,
            hash: [0; 32],
        };
        doc.hash = domain_hash(Domain::Document, doc.to_json().as_bytes());
        Ok(doc)
    }

    /// Reads a document from its JSON form (see `tests/vectors/CONSENSUS-v1.md`); every refusal
    /// names the field that is wrong.
    pub fn from_json(text: &str) -> Result<Self> {
        let value = canonical::parse(text)
            .map_err(|e| invalid(format!("federation document is not I-JSON: {e}")))?;
        let obj = object(&value, "federation document")?;
        only_keys(
            obj,
            "federation document",
            &["federation", "epoch", "validators", "timeouts_ms"],
        )?;
        let federation = obj
            .get("federation")
            .and_then(Value::as_str)
            .ok_or_else(|| invalid("federation must be a string".into()))?;
        let epoch = uint(obj.get("epoch"), "epoch")?;
        let list = obj
            .get("validators")
            .and_then(Value::as_array)
            .ok_or_else(|| invalid("validators must be an array".into()))?;
        let mut validators = Vec::with_capacity(list.len().min(MAX_VALIDATORS));
        for (i, v) in list.iter().enumerate() {
            let what = format!("validators[{i}]");
            let o = object(v, &what)?;
            only_keys(o, &what, &["key", "power"])?;
            let key_hex = o
                .get("key")
                .and_then(Value::as_str)
                .ok_or_else(|| invalid(format!("{what}.key must be a string")))?;
            let key: [u8; 32] = from_hex(key_hex)
                .ok_or_else(|| invalid(format!("{what}.key must be 64 lowercase hex digits")))?;
            let power = uint(o.get("power"), &format!("{what}.power"))?;
            if power == 0 {
                return Err(invalid(format!("{what}.power must be at least 1")));
            }
            validators.push(
                Validator::new(&key, power)
                    .ok_or_else(|| invalid(format!("{what}.key is not an Ed25519 public key")))?,
            );
        }
        let mut timeouts = Timeouts::default();
        if let Some(t) = obj.get("timeouts_ms") {
            let o = object(t, "timeouts_ms")?;
            only_keys(o, "timeouts_ms", &TIMEOUT_FIELDS)?;
            for name in TIMEOUT_FIELDS {
                if let Some(ms) = o.get(name) {
                    let ms = uint(Some(ms), &format!("timeouts_ms.{name}"))?;
                    timeouts.set(name, Duration::from_millis(ms));
                }
            }
        }
        FederationDocument::new(federation, epoch, validators, timeouts)
    }

    /// The canonical JSON form (RFC 8785), every timeout written out.
    pub fn to_json(&self) -> String {
        let validators: Vec<Value> = self
            .validators
            .iter()
            .map(|v| json!({"key": v.key_hex, "power": v.power}))
            .collect();
        let timeouts: Map<String, Value> = TIMEOUT_FIELDS
            .iter()
            .map(|&n| {
                let ms = u64::try_from(self.timeouts.get(n).as_millis()).unwrap_or(u64::MAX);
                (n.to_string(), Value::from(ms))
            })
            .collect();
        let doc = json!({
            "federation": self.federation,
            "epoch": self.epoch,
            "validators": validators,
            "timeouts_ms": timeouts,
        });
        // Integers, strings and arrays of them: nothing the writer can refuse.
        canonical::to_string(&doc).unwrap_or_default()
    }

    /// The federation's name.
    pub fn federation(&self) -> &str {
        &self.federation
    }

    /// The epoch: a new validator set is a new epoch, and votes of one never count in another.
    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    /// The validators, in the document's order (which fixes proposer rotation).
    pub fn validators(&self) -> &[Validator] {
        &self.validators
    }

    /// The validator whose key has this lowercase hex.
    pub fn validator(&self, key_hex: &str) -> Option<&Validator> {
        self.validators.iter().find(|v| v.key_hex == key_hex)
    }

    /// The sum of every validator's power.
    pub fn total_power(&self) -> u64 {
        self.total_power
    }

    /// The timeouts of a round's steps.
    pub fn timeouts(&self) -> &Timeouts {
        &self.timeouts
    }

    /// `H("bizra-document-v1:", canonical JSON)`.
    pub fn hash(&self) -> &[u8; 32] {
        &self.hash
    }

    /// Whether `power` is a quorum: more than two thirds of the total
    /// (`power × 3 > total × 2`, computed without overflow).
    pub fn is_quorum(&self, power: u64) -> bool {
        u128::from(power) * 3 > u128::from(self.total_power) * 2
    }

    /// The most faulty voting power the federation tolerates: the largest `f` with
    /// `(total − f) × 3 > total × 2`.
    pub fn fault_tolerance(&self) -> u64 {
        (self.total_power - 1) / 3
    }

    /// The proposer of `round` at `height`: weighted round robin in document order. The slot
    /// `(height + round) mod total_power` falls in one validator's range of cumulative power,
    /// so each validator proposes in proportion to its power, and every node computes the same
    /// proposer from the document alone.
    pub fn proposer(&self, height: u64, round: u32) -> &Validator {
        let total = u128::from(self.total_power);
        let slot = ((u128::from(height) + u128::from(round)) % total) as u64;
        let mut upto: u64 = 0;
        for v in &self.validators {
            upto += v.power;
            if slot < upto {
                return v;
            }
        }
        // The slot is below the total, which is the sum of every power.
        &self.validators[self.validators.len() - 1]
    }
}

fn invalid(message: String) -> Error {
    Error::InvalidInput(message)
}

fn object<'a>(value: &'a Value, what: &str) -> Result<&'a Map<String, Value>> {
    value
        .as_object()
        .ok_or_else(|| invalid(format!("{what} must be a JSON object")))
}

fn only_keys(obj: &Map<String, Value>, what: &str, allowed: &[&str]) -> Result<()> {
    match obj.keys().find(|k| !allowed.contains(&k.as_str())) {
        Some(k) => Err(invalid(format!(
            "{what}: unknown field \"{k}\" (expected one of {})",
            allowed.join(", ")
        ))),
        None => Ok(()),
    }
}

/// A non-negative integer that JSON carries exactly (below 2^53).
fn uint(value: Option<&Value>, what: &str) -> Result<u64> {
    const MAX_SAFE: u64 = (1 << 53) - 1;
    value
        .and_then(Value::as_u64)
        .filter(|&n| n <= MAX_SAFE)
        .ok_or_else(|| invalid(format!("{what} must be an integer from 0 to 2^53 - 1")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use bizra_protocol::Identity;

    fn doc(powers: &[u64]) -> FederationDocument {
        let validators = powers
            .iter()
            .map(|&p| Validator::new(Identity::generate().public_key(), p).unwrap())
            .collect();
        FederationDocument::new("test", 1, validators, Timeouts::default()).unwrap()
    }

    #[test]
    fn quorum_is_more_than_two_thirds() {
        let d = doc(&[1, 1, 1, 1]);
        assert!(!d.is_quorum(2));
        assert!(d.is_quorum(3));
        assert_eq!(d.fault_tolerance(), 1);
        let d = doc(&[u64::MAX / 2, u64::MAX / 2]);
        assert!(d.is_quorum(u64::MAX - 1));
        assert!(!d.is_quorum(u64::MAX / 2));
    }

    #[test]
    fn proposers_rotate_by_power() {
        let d = doc(&[1, 2, 1]);
        let ids: Vec<&str> = (0..4).map(|h| d.proposer(h, 0).key_hex()).collect();
        let v = d.validators();
        assert_eq!(
            ids,
            [
                v[0].key_hex(),
                v[1].key_hex(),
                v[1].key_hex(),
                v[2].key_hex()
            ]
        );
        assert_eq!(d.proposer(0, 1).key_hex(), v[1].key_hex());
    }

    #[test]
    fn json_round_trips_and_refusals_name_the_field() {
        let d = doc(&[1, 5]);
        let again = FederationDocument::from_json(&d.to_json()).unwrap();
        assert_eq!(again, d);
        let key = d.validators()[0].key_hex().to_string();
        for (text, words) in [
            ("[]".to_string(), "must be a JSON object"),
            (
                r#"{"federation":"","epoch":1,"validators":[]}"#.into(),
                "federation must be 1",
            ),
            (
                r#"{"federation":"f","epoch":-1,"validators":[]}"#.into(),
                "epoch must be",
            ),
            (
                r#"{"federation":"f","epoch":1,"validators":[]}"#.into(),
                "validators: 1 to",
            ),
            (
                format!(
                    r#"{{"federation":"f","epoch":1,"validators":[{{"key":"{key}","power":0}}]}}"#
                ),
                "validators[0].power must be at least 1",
            ),
            (
                format!(
                    r#"{{"federation":"f","epoch":1,"validators":[{{"key":"{key}","power":1}},{{"key":"{key}","power":1}}]}}"#
                ),
                "appears twice",
            ),
            (
                r#"{"federation":"f","epoch":1,"validators":[{"key":"ab","power":1}]}"#.into(),
                "validators[0].key must be 64",
            ),
            (
                format!(
                    r#"{{"federation":"f","epoch":1,"validators":[{{"key":"{key}","power":1}}],"timeouts_ms":{{"propose":0}}}}"#
                ),
                "timeouts_ms.propose must be longer than zero",
            ),
            (
                format!(
                    r#"{{"federation":"f","epoch":1,"validators":[{{"key":"{key}","power":1}}],"extra":1}}"#
                ),
                "unknown field \"extra\"",
            ),
        ] {
            let e = FederationDocument::from_json(&text)
                .unwrap_err()
                .to_string();
            assert!(e.contains(words), "{text}: {e}");
        }
    }
}
