//! The value a federation decides: a batch of proposals, each a PCI envelope whose payload has
//! `"type": "bizra.proposal"`, and the batch's id, which votes and certificates name.
//!
//! A batch lists its envelopes in ascending order of envelope id, each at most once, so that a
//! set of proposals has exactly one batch and one id. The id is
//! `H("bizra-batch-v1:", JCS(array of the envelopes))`.

use std::fmt;
use std::ops::Range;
use std::sync::Arc;

use bizra_protocol::canonical;
use bizra_protocol::hash::{domain_hash, from_hex, to_hex, Domain};
use bizra_protocol::{Envelope, Error, GateChain, GateReport, Result, Timestamp};
use serde_json::Value;

/// The payload `type` of an envelope that proposes something to a federation.
pub const PROPOSAL_TYPE: &str = "bizra.proposal";

/// The most proposals one batch holds.
pub const MAX_PROPOSALS: usize = 4096;

/// The largest canonical batch, in bytes: a batch travels to every validator in every round that
/// proposes it, so it stays far below what one height can carry on a LAN in a propose timeout.
pub const MAX_BATCH_BYTES: usize = 8 << 20;

/// The 32-byte id of a batch, the value that votes name.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ValueId([u8; 32]);

impl ValueId {
    /// The id with these bytes.
    pub const fn from_bytes(bytes: [u8; 32]) -> Self {
        ValueId(bytes)
    }

    /// The id's bytes.
    pub const fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Parses 64 lowercase hex digits.
    pub fn from_hex(hex: &str) -> Option<Self> {
        from_hex(hex).map(ValueId)
    }

    /// Lowercase hex, as JSON carries it.
    pub fn to_hex(&self) -> String {
        to_hex(&self.0)
    }
}

impl fmt::Debug for ValueId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ValueId({})", &self.to_hex()[..16])
    }
}

impl fmt::Display for ValueId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

/// A batch of proposals, in canonical order, with its id computed once.
#[derive(Clone, Debug)]
pub struct Batch {
    envelopes: Vec<Envelope>,
    json: String,
    /// Where each envelope's canonical JSON lies in `json`.
    spans: Vec<Range<usize>>,
    id: ValueId,
}

/// What a reader of batches already holds: the envelope of an id, with its canonical JSON.
pub(crate) type Known<'a> = &'a dyn Fn(&str) -> Option<(Envelope, Arc<str>)>;

impl PartialEq for Batch {
    fn eq(&self, other: &Self) -> bool {
        self.id == other.id
    }
}

impl Eq for Batch {}

impl Batch {
    /// The batch of these proposals, sorted by envelope id. Refuses an envelope whose payload is
    /// not a proposal, the same envelope twice, and a batch over [`MAX_PROPOSALS`] or
    /// [`MAX_BATCH_BYTES`]. An empty batch is a valid value: it lets a height pass when no one
    /// proposed anything.
    pub fn new(mut envelopes: Vec<Envelope>) -> Result<Self> {
        envelopes.sort_by(|a, b| a.id().cmp(b.id()));
        Self::from_sorted(envelopes)
    }

    fn from_sorted(envelopes: Vec<Envelope>) -> Result<Self> {
        Self::validate(&envelopes)?;
        let mut json = String::from("[");
        let mut spans = Vec::with_capacity(envelopes.len());
        for (i, e) in envelopes.iter().enumerate() {
            if i > 0 {
                json.push(',');
            }
            let start = json.len();
            json.push_str(&e.to_json());
            spans.push(start..json.len());
        }
        json.push(']');
        Self::finish(envelopes, json, spans)
    }

    /// The rules on the envelopes themselves: proposals, ids strictly ascending, not too many.
    fn validate(envelopes: &[Envelope]) -> Result<()> {
        if envelopes.len() > MAX_PROPOSALS {
            return Err(invalid(format!(
                "batch: {} proposals, at most {MAX_PROPOSALS}",
                envelopes.len()
            )));
        }
        for (i, e) in envelopes.iter().enumerate() {
            if !is_proposal(e) {
                return Err(invalid(format!(
                    "batch[{i}]: envelope {} is not a proposal (its payload's \"type\" must be \"{PROPOSAL_TYPE}\")",
                    e.id()
                )));
            }
            if i > 0 && envelopes[i - 1].id() >= e.id() {
                return Err(invalid(format!(
                    "batch[{i}]: envelope {} is out of order or repeated (ids ascend strictly)",
                    e.id()
                )));
            }
        }
        Ok(())
    }

    /// The batch of validated envelopes whose canonical array is `json`.
    fn finish(envelopes: Vec<Envelope>, json: String, spans: Vec<Range<usize>>) -> Result<Self> {
        if json.len() > MAX_BATCH_BYTES {
            return Err(invalid(format!(
                "batch: {} bytes, at most {MAX_BATCH_BYTES}",
                json.len()
            )));
        }
        let id = ValueId(domain_hash(Domain::Batch, json.as_bytes()));
        Ok(Batch {
            envelopes,
            json,
            spans,
            id,
        })
    }

    /// Reads a batch from its JSON form: an array of envelopes in ascending id order. Every
    /// envelope is parsed (not yet verified: see [`Batch::check`]).
    pub fn from_json(text: &str) -> Result<Self> {
        if text.len() > MAX_BATCH_BYTES {
            return Err(invalid(format!(
                "batch: {} bytes, at most {MAX_BATCH_BYTES}",
                text.len()
            )));
        }
        let value =
            canonical::parse(text).map_err(|e| invalid(format!("batch is not I-JSON: {e}")))?;
        let Value::Array(items) = value else {
            return Err(invalid("batch must be a JSON array of envelopes".into()));
        };
        let envelopes = items
            .into_iter()
            .enumerate()
            .map(|(i, v)| Envelope::from_value(v).map_err(|e| invalid(format!("batch[{i}]: {e}"))))
            .collect::<Result<Vec<_>>>()?;
        Self::from_sorted(envelopes)
    }

    /// [`Batch::from_json`] for a reader that already holds most envelopes: where `text` is
    /// the canonical array of envelopes that `known` returns, byte for byte, they are taken
    /// from it rather than parsed again (a validator pooled most proposals before the batch
    /// that holds them arrives); anything else is read in full.
    pub(crate) fn from_json_known(text: &str, known: Known<'_>) -> Result<Self> {
        Self::reuse(text, known).unwrap_or_else(|| Self::from_json(text))
    }

    /// The batch `text` is, if it is the canonical array of envelopes `known` holds.
    fn reuse(text: &str, known: Known<'_>) -> Option<Result<Self>> {
        const BEFORE_HASH: &str = r#"{"content_hash":""#;
        const BEFORE_ID: &str = r#"","id":""#;
        let mut at = 1;
        let mut rest = text.strip_prefix('[')?;
        let mut envelopes = Vec::new();
        let mut spans = Vec::new();
        loop {
            // Canonical members sort by name: `content_hash` (64 hex digits), then `id`.
            let id = rest
                .strip_prefix(BEFORE_HASH)?
                .get(64..)?
                .strip_prefix(BEFORE_ID)?;
            let (envelope, json) = known(id.get(..id.find('"')?)?)?;
            rest = rest.strip_prefix(&*json)?;
            spans.push(at..at + json.len());
            at += json.len() + 1;
            envelopes.push(envelope);
            match rest.as_bytes() {
                [b']'] => break,
                [b',', ..] => rest = &rest[1..],
                _ => return None,
            }
        }
        Some(
            Self::validate(&envelopes)
                .and_then(|()| Self::finish(envelopes, text.to_owned(), spans)),
        )
    }

    /// The canonical JSON form, whose domain hash is the id.
    pub fn to_json(&self) -> &str {
        &self.json
    }

    /// The id votes and certificates name.
    pub fn id(&self) -> &ValueId {
        &self.id
    }

    /// The proposals, in ascending id order.
    pub fn envelopes(&self) -> &[Envelope] {
        &self.envelopes
    }

    /// Whether the batch holds no proposal.
    pub fn is_empty(&self) -> bool {
        self.envelopes.is_empty()
    }

    /// Judges every proposal with `chain` at `now` without admitting any (signature, freshness,
    /// SNR and Ihsan thresholds, the caller's gates): a validator prevotes for a batch only if
    /// every proposal in it passes, so a proposal below the federation's thresholds is never
    /// decided. The error names the first proposal refused and why.
    pub fn check(&self, chain: &GateChain, now: Timestamp) -> Result<()> {
        self.judge(|e, _| chain.check_at(e, now))
    }

    /// [`Batch::check`] with the judgement of each proposal, given with its canonical JSON,
    /// left to `judge` (a validator rechecks the proposals it pooled already, see
    /// [`GateChain::recheck_at`]).
    pub(crate) fn judge(&self, judge: impl Fn(&Envelope, &str) -> GateReport) -> Result<()> {
        for (i, e) in self.envelopes.iter().enumerate() {
            if let Err(err) = judge(e, &self.json[self.spans[i].clone()]).into_result() {
                return Err(match err {
                    Error::Reject { code, detail } => Error::Reject {
                        code,
                        detail: format!("batch[{i}] ({}): {detail}", e.id()),
                    },
                    other => other,
                });
            }
        }
        Ok(())
    }
}

/// Whether the envelope's payload declares itself a proposal.
pub fn is_proposal(envelope: &Envelope) -> bool {
    envelope.payload().get("type").and_then(Value::as_str) == Some(PROPOSAL_TYPE)
}

fn invalid(message: String) -> Error {
    Error::InvalidInput(message)
}

#[cfg(test)]
mod tests {
    use super::*;
    use bizra_protocol::Identity;
    use serde_json::json;

    fn proposal(me: &Identity, n: u32) -> Envelope {
        Envelope::builder(json!({"type": PROPOSAL_TYPE, "n": n}))
            .snr(0.9)
            .ihsan(0.96)
            .sign(me)
            .unwrap()
    }

    #[test]
    fn one_set_one_batch_one_id() {
        let me = Identity::generate();
        let (a, b) = (proposal(&me, 1), proposal(&me, 2));
        let x = Batch::new(vec![a.clone(), b.clone()]).unwrap();
        let y = Batch::new(vec![b.clone(), a.clone()]).unwrap();
        assert_eq!(x.id(), y.id());
        assert_eq!(x.to_json(), y.to_json());
        let again = Batch::from_json(x.to_json()).unwrap();
        assert_eq!(again.id(), x.id());
        assert_ne!(Batch::new(vec![a.clone()]).unwrap().id(), x.id());
        let empty = Batch::new(vec![]).unwrap();
        assert!(empty.is_empty());
        assert_eq!(empty.to_json(), "[]");
        assert!(Batch::new(vec![a.clone(), a.clone()])
            .unwrap_err()
            .to_string()
            .contains("repeated"));
    }

    #[test]
    fn a_batch_of_known_envelopes_is_read_without_parsing_them_again() {
        use std::collections::HashMap;
        let me = Identity::generate();
        let envelopes: Vec<Envelope> = (0..5).map(|n| proposal(&me, n)).collect();
        let batch = Batch::new(envelopes.clone()).unwrap();
        let pool: HashMap<String, (Envelope, Arc<str>)> = envelopes
            .iter()
            .map(|e| (e.id().to_owned(), (e.clone(), e.to_json().into())))
            .collect();
        let all = |id: &str| pool.get(id).cloned();
        let read = |known: Known<'_>| Batch::from_json_known(batch.to_json(), known).unwrap();
        // Every envelope known, some, none, or known with other bytes: the same batch.
        let some = |id: &str| all(id).filter(|(e, _)| e.id() < envelopes[2].id());
        let none = |_: &str| None;
        let other = proposal(&me, 99);
        let liar =
            |id: &str| all(id).map(|(_, json)| (other.clone(), json.replace('9', "8").into()));
        for known in [&all as Known<'_>, &some, &none, &liar] {
            let again = read(known);
            assert_eq!(again.id(), batch.id());
            assert_eq!(again.to_json(), batch.to_json());
            assert_eq!(again.envelopes(), batch.envelopes());
            assert!(Batch::reuse(batch.to_json(), known).is_none_or(|r| r.is_ok()));
            for (i, e) in again.envelopes().iter().enumerate() {
                assert_eq!(&again.json[again.spans[i].clone()], e.to_json());
            }
        }
        assert!(Batch::reuse(batch.to_json(), &all).is_some());
        assert!(Batch::reuse(batch.to_json(), &liar).is_none());
        // Known envelopes in the wrong order are refused as the full reader refuses them.
        let mut reversed = envelopes.clone();
        reversed.sort_by(|a, b| b.id().cmp(a.id()));
        let text = format!(
            "[{}]",
            reversed
                .iter()
                .map(Envelope::to_json)
                .collect::<Vec<_>>()
                .join(",")
        );
        let err = Batch::from_json_known(&text, &all).unwrap_err().to_string();
        assert!(err.contains("out of order"), "{err}");
        assert!(Batch::from_json_known("[]", &all).unwrap().is_empty());
    }

    #[test]
    fn refusals_name_the_proposal() {
        let me = Identity::generate();
        let other = Envelope::builder(json!({"type": "bizra.inference"}))
            .sign(&me)
            .unwrap();
        let e = Batch::new(vec![other]).unwrap_err().to_string();
        assert!(e.contains("is not a proposal"), "{e}");
        let (a, b) = (proposal(&me, 1), proposal(&me, 2));
        let (lo, hi) = if a.id() < b.id() { (a, b) } else { (b, a) };
        let reversed = format!("[{},{}]", hi.to_json(), lo.to_json());
        let e = Batch::from_json(&reversed).unwrap_err().to_string();
        assert!(e.contains("batch[1]") && e.contains("out of order"), "{e}");
        let e = Batch::from_json("{}").unwrap_err().to_string();
        assert!(e.contains("JSON array"), "{e}");
        let e = Batch::from_json("[1]").unwrap_err().to_string();
        assert!(e.contains("batch[0]"), "{e}");
    }

    #[test]
    fn check_refuses_a_proposal_below_the_thresholds() {
        let me = Identity::generate();
        let low = Envelope::builder(json!({"type": PROPOSAL_TYPE}))
            .snr(0.9)
            .ihsan(0.5)
            .sign(&me)
            .unwrap();
        let good = proposal(&me, 1);
        let chain = GateChain::default();
        let now = Timestamp::now();
        assert!(Batch::new(vec![good.clone()])
            .unwrap()
            .check(&chain, now)
            .is_ok());
        let e = Batch::new(vec![good, low.clone()])
            .unwrap()
            .check(&chain, now)
            .unwrap_err();
        assert!(e.reject_code().is_some());
        assert!(e.to_string().contains(low.id()), "{e}");
    }
}
