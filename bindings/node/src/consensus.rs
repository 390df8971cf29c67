//! `FederationDocument`, `Certificate` and `Evidence` (tests/vectors/CONSENSUS-v1.md): commit
//! certificates and equivocation evidence, checked offline against the federation document of
//! their epoch, with no node running. Every check is the core's; this file converts.
//!
//! A refused certificate throws a `BizraError` of kind `CERTIFICATE_REFUSED` whose `code` is the
//! refusal's name (`"BAD_SIGNATURE"`) and `certificateCode` its number, and refused evidence one
//! of kind `EVIDENCE_REFUSED` whose `code` is the refusal's name (`"NOT_CONFLICTING"`) and
//! `evidenceCode` its number, both through the one error mapping ([`core_err`]).

use std::sync::Arc;

use bizra::consensus::{Batch, Equivocation, EquivocationKind};
use bizra::hash::to_hex;
use napi::bindgen_prelude::*;
use napi::{sys, Env, ValueType};
use napi_derive::napi;

use crate::convert::{number_in, string_in, type_of};
use crate::errors::{core_err, guard, type_err, Result};
use crate::options::{Options, Shape};

/// The instance of class `T` behind an argument, or a `TypeError` naming what it must be. Not a
/// `&T` parameter, for the reason `identity::identity_of` gives.
pub(crate) fn instance_of<'env, T: 'env>(
    env: &Env,
    raw: sys::napi_value,
    what: &str,
    class: &str,
) -> Result<ClassInstance<'env, T>>
where
    ClassInstance<'env, T>: FromNapiValue,
{
    let article = if class.starts_with(['A', 'E', 'I', 'O', 'U']) {
        "an"
    } else {
        "a"
    };
    let wrong = || type_err(format!("{what} must be {article} {class}"));
    if type_of(env, raw) != ValueType::Object {
        return Err(wrong());
    }
    unsafe { ClassInstance::<T>::from_napi_value(env.raw(), raw) }.map_err(|_| wrong())
}

/// The federation document behind an argument.
pub(crate) fn document_of(
    env: &Env,
    raw: sys::napi_value,
    what: &str,
) -> Result<Arc<bizra::FederationDocument>> {
    let doc = instance_of::<FederationDocument>(env, raw, what, "FederationDocument")?;
    Ok(Arc::clone(&doc.inner))
}

// ---------------------------------------------------------------------------------------------
// FederationDocument

/// One validator of a federation document.
#[napi(object, object_from_js = false)]
pub struct Validator {
    /// Its public key, 64 lowercase hex (as votes and certificates name it).
    pub key: String,
    /// Its voting power.
    pub power: f64,
}

/// A federation document: the validators of one epoch of one federation, their voting powers
/// and the round timeouts. Immutable; equal documents have equal hashes.
#[napi]
pub struct FederationDocument {
    /// Shared: a node started with this document keeps its own reference.
    pub(crate) inner: Arc<bizra::FederationDocument>,
}

#[napi]
impl FederationDocument {
    /// Reads a document from its JSON text; `INVALID_INPUT` names the field that is wrong.
    #[napi(factory)]
    pub fn from_json(text: String) -> Result<FederationDocument> {
        guard(|| {
            Ok(FederationDocument {
                inner: Arc::new(bizra::FederationDocument::from_json(&text).map_err(core_err)?),
            })
        })
    }

    /// The canonical JSON (RFC 8785), every timeout written out.
    #[napi]
    pub fn to_json(&self) -> Result<String> {
        guard(|| Ok(self.inner.to_json()))
    }

    /// `H("bizra-document-v1:", canonical JSON)`, 64 lowercase hex.
    #[napi(getter)]
    pub fn hash(&self) -> Result<String> {
        guard(|| Ok(to_hex(self.inner.hash())))
    }

    /// The hash as 32 bytes.
    #[napi(getter)]
    pub fn hash_bytes(&self) -> Result<Buffer> {
        guard(|| Ok(Buffer::from(self.inner.hash().to_vec())))
    }

    /// The federation's name.
    #[napi(getter)]
    pub fn federation(&self) -> Result<String> {
        guard(|| Ok(self.inner.federation().to_owned()))
    }

    /// The epoch.
    #[napi(getter)]
    pub fn epoch(&self) -> Result<f64> {
        guard(|| Ok(self.inner.epoch() as f64))
    }

    /// The validators, in the document's order (which fixes proposer rotation).
    #[napi(getter)]
    pub fn validators(&self) -> Result<Vec<Validator>> {
        guard(|| {
            Ok(self
                .inner
                .validators()
                .iter()
                .map(|v| Validator {
                    key: v.key_hex().to_owned(),
                    power: v.power() as f64,
                })
                .collect())
        })
    }

    /// The validators' voting power together.
    #[napi(getter)]
    pub fn total_power(&self) -> Result<f64> {
        guard(|| Ok(self.inner.total_power() as f64))
    }

    /// Whether `other` is the same document (the same hash), however its JSON was written.
    #[napi(ts_args_type = "other: FederationDocument")]
    pub fn equals(&self, env: Env, other: Unknown) -> Result<bool> {
        guard(|| {
            let other = document_of(&env, other.raw(), "other")?;
            Ok(other.hash() == self.inner.hash())
        })
    }

    /// `FederationDocument(federation=…, epoch=…, validators=…, hash=…)`.
    #[napi(js_name = "toString")]
    pub fn to_js_string(&self) -> Result<String> {
        guard(|| {
            Ok(format!(
                "FederationDocument(federation={:?}, epoch={}, validators={}, hash={:?})",
                self.inner.federation(),
                self.inner.epoch(),
                self.inner.validators().len(),
                to_hex(self.inner.hash())
            ))
        })
    }
}

// ---------------------------------------------------------------------------------------------
// Certificate

/// One validator's precommit signature in a certificate.
#[napi(object, object_from_js = false)]
pub struct CommitSignature {
    /// The signer's public key, 64 lowercase hex.
    pub validator: String,
    /// Ed25519 over the precommit's signed bytes (64 bytes).
    pub signature: Buffer,
}

/// A commit certificate: a federation's proof that it decided a value at a height. Reading one
/// checks its form only; `verify` checks it against the federation document. Immutable.
#[napi]
pub struct Certificate {
    pub(crate) inner: bizra::Certificate,
}

impl From<bizra::Certificate> for Certificate {
    fn from(inner: bizra::Certificate) -> Self {
        Certificate { inner }
    }
}

#[napi]
impl Certificate {
    /// Reads a certificate from its JSON text; what is not a certificate throws
    /// `CERTIFICATE_REFUSED` with code `MALFORMED` (1), naming what is wrong.
    #[napi(factory)]
    pub fn from_json(text: String) -> Result<Certificate> {
        guard(|| {
            let inner = bizra::Certificate::from_json(&text)
                .map_err(|e| core_err(bizra::Error::from(e)))?;
            Ok(Certificate { inner })
        })
    }

    /// Verifies against the federation document of the certificate's epoch, offline (no clock,
    /// no network): throws `CERTIFICATE_REFUSED` with the first failure's code.
    #[napi(ts_args_type = "document: FederationDocument")]
    pub fn verify(&self, env: Env, document: Unknown) -> Result<()> {
        guard(|| {
            let doc = document_of(&env, document.raw(), "document")?;
            self.inner
                .verify(&doc)
                .map_err(|e| core_err(bizra::Error::from(e)))
        })
    }

    /// `verify`, then checks that the batch (its JSON text: an array of `bizra.proposal`
    /// envelopes in ascending id order, as `Decision.batchJson` gives it) is the certified value:
    /// `CERTIFICATE_REFUSED` with code `VALUE_MISMATCH` (8) when it is another. A batch that
    /// cannot be read is `INVALID_INPUT`.
    #[napi(ts_args_type = "batchJson: string, document: FederationDocument")]
    pub fn verify_batch(&self, env: Env, batch_json: Unknown, document: Unknown) -> Result<()> {
        guard(|| {
            let text = match type_of(&env, batch_json.raw()) {
                ValueType::String => string_in(&env, batch_json.raw(), "batchJson")?,
                _ => None,
            }
            .ok_or_else(|| type_err("batchJson must be a string (the batch's JSON text)"))?;
            let doc = document_of(&env, document.raw(), "document")?;
            let batch = Batch::from_json(&text).map_err(core_err)?;
            self.inner
                .verify_batch(&batch, &doc)
                .map_err(|e| core_err(bizra::Error::from(e)))
        })
    }

    /// The canonical JSON (RFC 8785, signatures in ascending order of key).
    #[napi]
    pub fn to_json(&self) -> Result<String> {
        guard(|| Ok(self.inner.to_json()))
    }

    /// The federation's name.
    #[napi(getter)]
    pub fn federation(&self) -> Result<String> {
        guard(|| Ok(self.inner.federation().to_owned()))
    }

    /// The epoch of the document whose validators signed.
    #[napi(getter)]
    pub fn epoch(&self) -> Result<f64> {
        guard(|| Ok(self.inner.epoch() as f64))
    }

    /// The decided height.
    #[napi(getter)]
    pub fn height(&self) -> Result<f64> {
        guard(|| Ok(self.inner.height() as f64))
    }

    /// The round in which it was decided.
    #[napi(getter)]
    pub fn round(&self) -> Result<u32> {
        guard(|| Ok(self.inner.round()))
    }

    /// The decided value's id (the batch's hash), 64 lowercase hex.
    #[napi(getter)]
    pub fn value(&self) -> Result<String> {
        guard(|| Ok(self.inner.value().to_hex()))
    }

    /// The precommit signatures, in ascending order of key.
    #[napi(getter)]
    pub fn signatures(&self) -> Result<Vec<CommitSignature>> {
        guard(|| {
            Ok(self
                .inner
                .signatures()
                .iter()
                .map(|s| CommitSignature {
                    validator: s.validator.clone(),
                    signature: Buffer::from(s.signature.to_vec()),
                })
                .collect())
        })
    }

    /// Whether `other` is the same certificate.
    #[napi(ts_args_type = "other: Certificate")]
    pub fn equals(&self, env: Env, other: Unknown) -> Result<bool> {
        guard(|| {
            let other = instance_of::<Certificate>(&env, other.raw(), "other", "Certificate")?;
            Ok(other.inner == self.inner)
        })
    }

    /// `Certificate(federation=…, epoch=…, height=…, round=…, value=…, signatures=…)`.
    #[napi(js_name = "toString")]
    pub fn to_js_string(&self) -> Result<String> {
        guard(|| {
            Ok(format!(
                "Certificate(federation={:?}, epoch={}, height={}, round={}, value={:?}, \
                 signatures={})",
                self.inner.federation(),
                self.inner.epoch(),
                self.inner.height(),
                self.inner.round(),
                self.inner.value().to_hex(),
                self.inner.signatures().len()
            ))
        })
    }
}

// ---------------------------------------------------------------------------------------------
// Evidence

/// What `new Evidence(parts)` reads.
const EVIDENCE_PARTS: &[&str] = &["validator", "height", "round", "step", "first", "second"];

/// A whole number from 0 to 2^53 - 1 (heights: JavaScript's safe integers).
fn safe_integer(env: &Env, raw: sys::napi_value, what: &str) -> Result<Option<u64>> {
    match number_in(env, raw, what)? {
        None => Ok(None),
        Some(n) if n.fract() == 0.0 && (0.0..=9_007_199_254_740_991.0).contains(&n) => {
            Ok(Some(n as u64))
        }
        Some(n) => Err(type_err(format!(
            "{what} must be a whole number from 0 to 2^53 - 1, got {n}"
        ))),
    }
}

/// Bytes: a `Uint8Array` (a `Buffer` is one).
fn bytes_in(env: &Env, raw: sys::napi_value, what: &str) -> Result<Option<Vec<u8>>> {
    let mut typed = false;
    unsafe { sys::napi_is_typedarray(env.raw(), raw, &mut typed) };
    if !typed {
        return Err(type_err(format!("{what} must be a Uint8Array or Buffer")));
    }
    let bytes = unsafe { Uint8Array::from_napi_value(env.raw(), raw) }
        .map_err(|_| type_err(format!("{what} must be a Uint8Array or Buffer")))?;
    Ok(Some(bytes.to_vec()))
}

/// Two validly signed, conflicting messages from one validator for the same height, round and
/// step: proof that it equivocated, which anyone holding the federation document can check
/// (`verify`). A node reports it on `consensusEvents()`; `new Evidence(parts)` rebuilds one from
/// its parts (received from elsewhere, say) to check it. Immutable.
#[napi]
pub struct Evidence {
    pub(crate) inner: Equivocation,
}

impl From<Equivocation> for Evidence {
    fn from(inner: Equivocation) -> Self {
        Evidence { inner }
    }
}

#[napi]
impl Evidence {
    /// Evidence from its parts, as an `Evidence` has them: `validator` (64 lowercase hex),
    /// `height`, `round`, `step` (`"proposal"`, `"prevote"` or `"precommit"`), and the two
    /// messages `first` and `second` in their wire encoding. Only the form of each part is
    /// checked here; `verify` judges the evidence.
    #[napi(
        constructor,
        ts_args_type = "parts: { validator: string; height: number; round: number; step: EvidenceStep; first: Uint8Array; second: Uint8Array }"
    )]
    pub fn new(env: Env, parts: Unknown) -> Result<Self> {
        guard(|| {
            let shape = Shape {
                what: "parts",
                noun: "part",
                prefix: "",
                known: EVIDENCE_PARTS,
            };
            let o = Options::of(&env, parts.raw(), shape)?
                .ok_or_else(|| type_err("parts must be an object"))?;
            let required = |name: &str| type_err(format!("parts.{name} is required"));
            let validator = o
                .string("validator")?
                .ok_or_else(|| required("validator"))?;
            let height = o
                .read_with("height", safe_integer)?
                .ok_or_else(|| required("height"))?;
            let round = o.u32("round")?.ok_or_else(|| required("round"))?;
            let step = o.string("step")?.ok_or_else(|| required("step"))?;
            let kind = EquivocationKind::ALL
                .into_iter()
                .find(|k| k.name() == step)
                .ok_or_else(|| {
                    type_err(format!(
                        "parts.step must be \"proposal\", \"prevote\" or \"precommit\", got {step:?}"
                    ))
                })?;
            let first = o
                .read_with("first", bytes_in)?
                .ok_or_else(|| required("first"))?;
            let second = o
                .read_with("second", bytes_in)?
                .ok_or_else(|| required("second"))?;
            Ok(Evidence {
                inner: Equivocation {
                    validator,
                    height,
                    round,
                    kind,
                    first,
                    second,
                },
            })
        })
    }

    /// The validator that equivocated: its public key, 64 lowercase hex.
    #[napi(getter)]
    pub fn validator(&self) -> Result<String> {
        guard(|| Ok(self.inner.validator.clone()))
    }

    /// The height.
    #[napi(getter)]
    pub fn height(&self) -> Result<f64> {
        guard(|| Ok(self.inner.height as f64))
    }

    /// The round.
    #[napi(getter)]
    pub fn round(&self) -> Result<u32> {
        guard(|| Ok(self.inner.round))
    }

    /// The step in which it signed twice: `"proposal"`, `"prevote"` or `"precommit"`.
    #[napi(getter, ts_return_type = "EvidenceStep")]
    pub fn step(&self) -> Result<String> {
        guard(|| Ok(self.inner.kind.name().to_owned()))
    }

    /// The message seen first, in the wire encoding (CONSENSUS-v1).
    #[napi(getter)]
    pub fn first(&self) -> Result<Buffer> {
        guard(|| Ok(Buffer::from(self.inner.first.clone())))
    }

    /// The conflicting message, in the wire encoding.
    #[napi(getter)]
    pub fn second(&self) -> Result<Buffer> {
        guard(|| Ok(Buffer::from(self.inner.second.clone())))
    }

    /// What a consensus event is: `"evidence"` (a `Decision`'s is `"decided"`).
    #[napi(getter, ts_return_type = "'evidence'")]
    pub fn kind(&self) -> Result<String> {
        guard(|| Ok("evidence".to_owned()))
    }

    /// Checks the evidence against the federation document, offline: both messages decode as
    /// votes or as proposals of one step, validator, height and round with different contents;
    /// the evidence's own fields say the same; the validator is in the document; both
    /// signatures verify. Throws the first failure as a `BizraError` of kind `EVIDENCE_REFUSED`
    /// whose `code` is the refusal's name (`"NOT_CONFLICTING"`) and `evidenceCode` the spec's
    /// number (`EVIDENCE_CODES`).
    #[napi(ts_args_type = "document: FederationDocument")]
    pub fn verify(&self, env: Env, document: Unknown) -> Result<()> {
        guard(|| {
            let doc = document_of(&env, document.raw(), "document")?;
            self.inner.verify(&doc).map_err(|e| core_err(e.into()))
        })
    }

    /// `Evidence(validator=…, height=…, round=…, step=…)`.
    #[napi(js_name = "toString")]
    pub fn to_js_string(&self) -> Result<String> {
        guard(|| {
            Ok(format!(
                "Evidence(validator={:?}, height={}, round={}, step={:?})",
                self.inner.validator,
                self.inner.height,
                self.inner.round,
                self.inner.kind.name()
            ))
        })
    }
}
