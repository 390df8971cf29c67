//! Commit certificates, federation documents and equivocation evidence
//! (`tests/vectors/CONSENSUS-v1.md`): a certificate or a piece of evidence is verified against
//! the document of its federation and epoch, offline, by a process that never ran a node.
//! Verification is the core's (`bizra_core::consensus`); this file converts.

use std::ffi::{c_char, CStr, CString};
use std::sync::OnceLock;

use bizra_core::consensus::{
    Batch, Certificate, CertificateCode, CertificateError, Equivocation, EquivocationKind,
    EvidenceCode, EvidenceError, FederationDocument,
};

use crate::*;

/// A federation document: the validators of one epoch of one federation, their voting powers and
/// the round timeouts. Immutable, so safe to share between threads: one document may verify
/// certificates on many threads at once. Freed with `bizra_federation_document_free`.
pub struct bizra_federation_document {
    _opaque: [u8; 0],
}
handle_type!(bizra_federation_document => FederationDocument, Boxed);

/// A commit certificate: a federation's proof that it decided a value at a height, read but not
/// yet verified (`bizra_certificate_verify`). Immutable, so safe to share between threads.
/// Freed with `bizra_certificate_free`.
pub struct bizra_certificate {
    _opaque: [u8; 0],
}
handle_type!(bizra_certificate => Certificate, Boxed);

/// Why a certificate was refused: the stable codes of `tests/vectors/CONSENSUS-v1.md`, written to
/// the `code` out-param (`uint32_t *`) with `BIZRA_STATUS_CERTIFICATE_REFUSED`; 0 on success.
/// `bizra_certificate_code_name` names them.
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum bizra_certificate_code {
    /// Valid (not a refusal).
    Valid = 0,
    /// Not a certificate: not UTF-8 or JSON, a field missing, unknown or of the wrong form.
    Malformed = 1,
    /// Another federation's certificate.
    WrongFederation = 2,
    /// Another epoch's certificate.
    WrongEpoch = 3,
    /// A signer that is not a validator of the document.
    UnknownSigner = 4,
    /// A validator signed twice.
    DuplicateSigner = 5,
    /// A signature that is not the named validator's precommit for this value.
    BadSignature = 6,
    /// The signers hold two thirds of the voting power or less.
    InsufficientPower = 7,
    /// The batch presented is not the certified value.
    ValueMismatch = 8,
}

/// The name C gives code 0, which the core has no code for (a valid certificate is no refusal).
const VALID_NAME: &str = "VALID";

/// Every code with its name (the core's `CertificateCode::name`), as C strings kept for the
/// library's lifetime.
fn names() -> &'static [(u32, CString)] {
    static NAMES: OnceLock<Vec<(u32, CString)>> = OnceLock::new();
    NAMES.get_or_init(|| {
        let valid = (bizra_certificate_code::Valid as u32, VALID_NAME);
        let codes = CertificateCode::ALL.iter().map(|c| (c.code(), c.name()));
        std::iter::once(valid)
            .chain(codes)
            .map(|(code, name)| (code, CString::new(name).unwrap_or_default()))
            .collect()
    })
}

/// The name of a certificate refusal code (`"BAD_SIGNATURE"` for 6, `"VALID"` for 0), or NULL for
/// an unknown number. Static, owned by the library: never freed.
#[no_mangle]
pub extern "C" fn bizra_certificate_code_name(code: u32) -> *const c_char {
    boundary("bizra_certificate_code_name", || {
        Ok(names()
            .iter()
            .find(|(c, _)| *c == code)
            .map_or(std::ptr::null(), |(_, name)| name.as_ptr()))
    })
}

/// A refusal: its code to the optional out-param, and the core's error (kind
/// `CERTIFICATE_REFUSED`, whose message names the code and what was wrong) as the failure.
fn refused(e: CertificateError, code: *mut u32) -> Failure {
    put_opt(code, e.code.code());
    bizra_core::Error::from(e).into()
}

/// Text of `len` bytes that must be UTF-8, for the document or batch argument `what`.
fn utf8<'a>(json: *const c_char, len: usize, what: &str) -> FfiResult<&'a str> {
    std::str::from_utf8(bytes(json.cast::<u8>(), len, what)?)
        .map_err(|e| invalid(format!("{what} is not UTF-8 (at byte {})", e.valid_up_to())))
}

/// Reads a federation document from its JSON text (`len` bytes, need not be NUL-terminated);
/// canonical form or not, the document is the same. Any field missing, unknown or out of range,
/// a key that is not an Ed25519 public key, a key named twice: `BIZRA_STATUS_INVALID_ARGUMENT`,
/// the last error naming the field. `*out`: a new document, the caller's; free it with
/// `bizra_federation_document_free`.
#[no_mangle]
pub unsafe extern "C" fn bizra_federation_document_from_json(
    json: *const c_char,
    len: usize,
    out: *mut *mut bizra_federation_document,
) -> bizra_status {
    boundary("bizra_federation_document_from_json", || {
        let out = out_checked(out)?;
        let text = utf8(json, len, "json")?;
        bizra_federation_document::put(out, FederationDocument::from_json(text)?)
    })
}

/// The document's canonical JSON (RFC 8785), every timeout written out. `*out`: the caller's
/// string; free it with `bizra_string_free`.
#[no_mangle]
pub unsafe extern "C" fn bizra_federation_document_to_json(
    doc: *const bizra_federation_document,
    out: *mut *mut c_char,
) -> bizra_status {
    boundary("bizra_federation_document_to_json", || {
        let out = out_checked(out)?;
        put_string(out, bizra_federation_document::arg(doc, "doc")?.to_json())
    })
}

/// The document's hash, `H("bizra-document-v1:", canonical JSON)`, 32 bytes: the name of a
/// validator set in logs and APIs. `*out`: the caller's bytes; free them with
/// `bizra_bytes_free`.
#[no_mangle]
pub unsafe extern "C" fn bizra_federation_document_hash(
    doc: *const bizra_federation_document,
    out: *mut bizra_bytes,
) -> bizra_status {
    boundary("bizra_federation_document_hash", || {
        let out = out_checked(out)?;
        put_bytes(
            out,
            bizra_federation_document::arg(doc, "doc")?.hash().to_vec(),
        )
    })
}

/// The federation's name. `*out`: the caller's string; free it with `bizra_string_free`.
#[no_mangle]
pub unsafe extern "C" fn bizra_federation_document_federation(
    doc: *const bizra_federation_document,
    out: *mut *mut c_char,
) -> bizra_status {
    boundary("bizra_federation_document_federation", || {
        let out = out_checked(out)?;
        put_string(
            out,
            bizra_federation_document::arg(doc, "doc")?.federation(),
        )
    })
}

/// The epoch (a new validator set is a new epoch), written to `*out` (a value: nothing to free).
#[no_mangle]
pub unsafe extern "C" fn bizra_federation_document_epoch(
    doc: *const bizra_federation_document,
    out: *mut u64,
) -> bizra_status {
    boundary("bizra_federation_document_epoch", || {
        let out = out_checked(out)?;
        put(out, bizra_federation_document::arg(doc, "doc")?.epoch());
        Ok(BIZRA_STATUS_OK)
    })
}

/// The number of validators, written to `*out` (a value: nothing to free).
#[no_mangle]
pub unsafe extern "C" fn bizra_federation_document_validator_count(
    doc: *const bizra_federation_document,
    out: *mut usize,
) -> bizra_status {
    boundary("bizra_federation_document_validator_count", || {
        let out = out_checked(out)?;
        put(
            out,
            bizra_federation_document::arg(doc, "doc")?
                .validators()
                .len(),
        );
        Ok(BIZRA_STATUS_OK)
    })
}

/// Validator `index`, in the document's order (which fixes proposer rotation):
/// `BIZRA_STATUS_OUT_OF_RANGE` past the end. `*key_hex`: its public key as 64 lowercase hex, the
/// caller's string; free it with `bizra_string_free`. `*power`: its voting power (a value:
/// nothing to free). Both are required.
#[no_mangle]
pub unsafe extern "C" fn bizra_federation_document_validator(
    doc: *const bizra_federation_document,
    index: usize,
    key_hex: *mut *mut c_char,
    power: *mut u64,
) -> bizra_status {
    boundary("bizra_federation_document_validator", || {
        let key_hex = out(key_hex, "key_hex")?;
        let power = out(power, "power")?;
        let validators = bizra_federation_document::arg(doc, "doc")?.validators();
        let v = validators.get(index).ok_or_else(|| {
            Failure::new(
                BIZRA_STATUS_OUT_OF_RANGE,
                format!("index {index} >= {} validators", validators.len()),
            )
        })?;
        let key = c_string(v.key_hex())?;
        put(key_hex, key);
        put(power, v.power());
        Ok(BIZRA_STATUS_OK)
    })
}

/// The sum of every validator's voting power, written to `*out` (a value: nothing to free). A
/// certificate needs signers holding more than two thirds of it.
#[no_mangle]
pub unsafe extern "C" fn bizra_federation_document_total_power(
    doc: *const bizra_federation_document,
    out: *mut u64,
) -> bizra_status {
    boundary("bizra_federation_document_total_power", || {
        let out = out_checked(out)?;
        put(
            out,
            bizra_federation_document::arg(doc, "doc")?.total_power(),
        );
        Ok(BIZRA_STATUS_OK)
    })
}

/// Frees a document; NULL is a no-op.
#[no_mangle]
pub unsafe extern "C" fn bizra_federation_document_free(doc: *mut bizra_federation_document) {
    boundary("bizra_federation_document_free", || {
        bizra_federation_document::free(doc)
    })
}

/// Reads a commit certificate from its JSON text (`len` bytes, need not be NUL-terminated); a
/// read certificate is not yet verified. `BIZRA_STATUS_OK` with `*code = 0` and `*out` set for a
/// well-formed certificate; otherwise `BIZRA_STATUS_CERTIFICATE_REFUSED` with `*code` =
/// `BIZRA_CERTIFICATE_CODE_MALFORMED` (not UTF-8 or JSON, a field missing, unknown or of the
/// wrong form; the last error names it) and `*out` untouched. `code` may be NULL (a value:
/// nothing to free). `*out`: a new certificate, the caller's; free it with
/// `bizra_certificate_free`.
#[no_mangle]
pub unsafe extern "C" fn bizra_certificate_from_json(
    json: *const c_char,
    len: usize,
    out: *mut *mut bizra_certificate,
    code: *mut u32,
) -> bizra_status {
    boundary("bizra_certificate_from_json", || {
        let out = out_checked(out)?;
        let raw = bytes(json.cast::<u8>(), len, "json")?;
        // Text that is not UTF-8 is not a certificate either: the same refusal as bad JSON.
        let text = std::str::from_utf8(raw).map_err(|e| {
            let detail = format!("not UTF-8 (at byte {})", e.valid_up_to());
            refused(
                CertificateError {
                    code: CertificateCode::Malformed,
                    detail,
                },
                code,
            )
        })?;
        let cert = Certificate::from_json(text).map_err(|e| refused(e, code))?;
        put_opt(code, bizra_certificate_code::Valid as u32);
        bizra_certificate::put(out, cert)
    })
}

/// Verifies a certificate against the federation document of its epoch, offline (no clock, no
/// network): its federation, its epoch, then each signature (a validator of `doc`, once, whose
/// precommit for this value it is), then the signers' power (more than two thirds).
/// `BIZRA_STATUS_OK` with `*code = 0` only for a valid certificate; otherwise
/// `BIZRA_STATUS_CERTIFICATE_REFUSED` with the first failure's code in `*code` (2 wrong
/// federation ... 7 insufficient power) and its words as the last error. `code` may be NULL (a
/// value: nothing to free).
#[no_mangle]
pub unsafe extern "C" fn bizra_certificate_verify(
    cert: *const bizra_certificate,
    doc: *const bizra_federation_document,
    code: *mut u32,
) -> bizra_status {
    boundary("bizra_certificate_verify", || {
        let cert = bizra_certificate::arg(cert, "cert")?;
        let doc = bizra_federation_document::arg(doc, "doc")?;
        cert.verify(doc).map_err(|e| refused(e, code))?;
        put_opt(code, bizra_certificate_code::Valid as u32);
        Ok(BIZRA_STATUS_OK)
    })
}

/// `bizra_certificate_verify`, then checks that the batch (its JSON text, `len` bytes, need not
/// be NUL-terminated: an array of `bizra.proposal` envelopes in ascending id order) is the
/// certified value: `BIZRA_STATUS_CERTIFICATE_REFUSED` with `*code` =
/// `BIZRA_CERTIFICATE_CODE_VALUE_MISMATCH` when its id is another. A batch that cannot be read is
/// `BIZRA_STATUS_INVALID_ARGUMENT` (the argument is wrong, not the certificate) and leaves
/// `*code` untouched. The envelopes are parsed, not judged: a gate chain judges them. `code` may
/// be NULL (a value: nothing to free).
#[no_mangle]
pub unsafe extern "C" fn bizra_certificate_verify_batch(
    cert: *const bizra_certificate,
    batch_json: *const c_char,
    len: usize,
    doc: *const bizra_federation_document,
    code: *mut u32,
) -> bizra_status {
    boundary("bizra_certificate_verify_batch", || {
        let cert = bizra_certificate::arg(cert, "cert")?;
        let doc = bizra_federation_document::arg(doc, "doc")?;
        let batch = Batch::from_json(utf8(batch_json, len, "batch_json")?)?;
        cert.verify_batch(&batch, doc)
            .map_err(|e| refused(e, code))?;
        put_opt(code, bizra_certificate_code::Valid as u32);
        Ok(BIZRA_STATUS_OK)
    })
}

/// The certificate's canonical JSON (RFC 8785, signatures in ascending order of key): the bytes
/// to store or send. `*out`: the caller's string; free it with `bizra_string_free`.
#[no_mangle]
pub unsafe extern "C" fn bizra_certificate_to_json(
    cert: *const bizra_certificate,
    out: *mut *mut c_char,
) -> bizra_status {
    boundary("bizra_certificate_to_json", || {
        let out = out_checked(out)?;
        put_string(out, bizra_certificate::arg(cert, "cert")?.to_json())
    })
}

/// The name of the federation that certified. `*out`: the caller's string; free it with
/// `bizra_string_free`.
#[no_mangle]
pub unsafe extern "C" fn bizra_certificate_federation(
    cert: *const bizra_certificate,
    out: *mut *mut c_char,
) -> bizra_status {
    boundary("bizra_certificate_federation", || {
        let out = out_checked(out)?;
        put_string(out, bizra_certificate::arg(cert, "cert")?.federation())
    })
}

/// The epoch of the document whose validators signed, written to `*out` (a value: nothing to
/// free).
#[no_mangle]
pub unsafe extern "C" fn bizra_certificate_epoch(
    cert: *const bizra_certificate,
    out: *mut u64,
) -> bizra_status {
    boundary("bizra_certificate_epoch", || {
        let out = out_checked(out)?;
        put(out, bizra_certificate::arg(cert, "cert")?.epoch());
        Ok(BIZRA_STATUS_OK)
    })
}

/// The decided height, written to `*out` (a value: nothing to free).
#[no_mangle]
pub unsafe extern "C" fn bizra_certificate_height(
    cert: *const bizra_certificate,
    out: *mut u64,
) -> bizra_status {
    boundary("bizra_certificate_height", || {
        let out = out_checked(out)?;
        put(out, bizra_certificate::arg(cert, "cert")?.height());
        Ok(BIZRA_STATUS_OK)
    })
}

/// The round in which the value was decided, written to `*out` (a value: nothing to free).
#[no_mangle]
pub unsafe extern "C" fn bizra_certificate_round(
    cert: *const bizra_certificate,
    out: *mut u32,
) -> bizra_status {
    boundary("bizra_certificate_round", || {
        let out = out_checked(out)?;
        put(out, bizra_certificate::arg(cert, "cert")?.round());
        Ok(BIZRA_STATUS_OK)
    })
}

/// The decided value's id, 32 bytes: the hash of the batch decided (`bizra-batch-v1:`).
/// `*out`: the caller's bytes; free them with `bizra_bytes_free`.
#[no_mangle]
pub unsafe extern "C" fn bizra_certificate_value(
    cert: *const bizra_certificate,
    out: *mut bizra_bytes,
) -> bizra_status {
    boundary("bizra_certificate_value", || {
        let out = out_checked(out)?;
        put_bytes(
            out,
            bizra_certificate::arg(cert, "cert")?
                .value()
                .as_bytes()
                .to_vec(),
        )
    })
}

/// The number of precommit signatures the certificate carries, written to `*out` (a value:
/// nothing to free).
#[no_mangle]
pub unsafe extern "C" fn bizra_certificate_signature_count(
    cert: *const bizra_certificate,
    out: *mut usize,
) -> bizra_status {
    boundary("bizra_certificate_signature_count", || {
        let out = out_checked(out)?;
        put(
            out,
            bizra_certificate::arg(cert, "cert")?.signatures().len(),
        );
        Ok(BIZRA_STATUS_OK)
    })
}

/// Frees a certificate; NULL is a no-op.
#[no_mangle]
pub unsafe extern "C" fn bizra_certificate_free(cert: *mut bizra_certificate) {
    boundary("bizra_certificate_free", || bizra_certificate::free(cert))
}

/// The room for a validator's key in `bizra_evidence`: 64 lowercase hex characters and the NUL.
pub const BIZRA_KEY_HEX_SIZE: usize = 65;

/// The step in which a validator equivocated (`bizra_evidence.step` takes these numbers;
/// `bizra_evidence_step_name` gives their names).
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum bizra_evidence_step {
    /// Two proposals for one round (`"proposal"`).
    Proposal = 0,
    /// Two prevotes for one round (`"prevote"`).
    Prevote = 1,
    /// Two precommits for one round (`"precommit"`).
    Precommit = 2,
}

impl bizra_evidence_step {
    const ALL: [bizra_evidence_step; 3] = [Self::Proposal, Self::Prevote, Self::Precommit];

    fn of(kind: EquivocationKind) -> Self {
        match kind {
            EquivocationKind::Proposal => Self::Proposal,
            EquivocationKind::Prevote => Self::Prevote,
            EquivocationKind::Precommit => Self::Precommit,
        }
    }

    fn to_core(self) -> EquivocationKind {
        match self {
            Self::Proposal => EquivocationKind::Proposal,
            Self::Prevote => EquivocationKind::Prevote,
            Self::Precommit => EquivocationKind::Precommit,
        }
    }

    /// The step's name, the core's (`EquivocationKind::name`).
    fn name(self) -> &'static str {
        self.to_core().name()
    }
}

/// Why equivocation evidence was refused: the stable codes of `tests/vectors/CONSENSUS-v1.md`,
/// written to the `code` out-param (`uint32_t *`) with `BIZRA_STATUS_EVIDENCE_REFUSED`; 0 on
/// success. The checks run in this order and the first that fails gives the code;
/// `bizra_evidence_code_name` names them.
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum bizra_evidence_code {
    /// Valid: the validator signed both conflicting messages (not a refusal).
    Valid = 0,
    /// A message does not decode, or is neither a vote nor a proposal.
    Malformed = 1,
    /// A vote and a proposal, or a prevote and a precommit.
    DifferentStep = 2,
    /// Signed by two validators (each may have signed its own: that proves nothing).
    DifferentValidator = 3,
    /// Not of the same height and round.
    DifferentRound = 4,
    /// The same signed fields twice (allowed).
    NotConflicting = 5,
    /// The evidence's `validator`, `height`, `round` or `step` is not what the messages say.
    FieldsMismatch = 6,
    /// The validator is not in the document.
    UnknownValidator = 7,
    /// A signature is not the validator's over its message (strict Ed25519).
    BadSignature = 8,
}

/// Two validly signed, conflicting messages from one validator: proof that it equivocated, which
/// anyone holding the federation document can check (`bizra_evidence_verify`). As a consensus
/// event (`bizra_consensus_event.evidence`) its bytes belong to the event; as an argument it is
/// the caller's, only read (fill `first` and `second` with your own pointers and lengths: the
/// library never frees them).
#[repr(C)]
#[derive(Debug)]
pub struct bizra_evidence {
    /// The validator's key, 64 lowercase hex characters, NUL-terminated.
    pub validator: [c_char; BIZRA_KEY_HEX_SIZE],
    /// The height.
    pub height: u64,
    /// The round.
    pub round: u32,
    /// The step, a `bizra_evidence_step`.
    pub step: u32,
    /// The message seen first, in its CONSENSUS-v1 wire encoding (a vote or a proposal).
    pub first: bizra_bytes,
    /// The conflicting message, in the same encoding.
    pub second: bizra_bytes,
}

impl bizra_evidence {
    /// No evidence (the member of a consensus event that is a decision).
    pub(crate) fn none() -> Self {
        bizra_evidence {
            validator: [0; BIZRA_KEY_HEX_SIZE],
            height: 0,
            round: 0,
            step: 0,
            first: bizra_bytes {
                data: std::ptr::null_mut(),
                len: 0,
            },
            second: bizra_bytes {
                data: std::ptr::null_mut(),
                len: 0,
            },
        }
    }

    /// The core's evidence as C gives it; the caller owns the bytes (`free`).
    pub(crate) fn of(e: Equivocation) -> FfiResult<Self> {
        let validator = inline_text(&e.validator, "validator key")?;
        let (first, first_len) = into_raw_slice(e.first);
        let (second, second_len) = into_raw_slice(e.second);
        Ok(bizra_evidence {
            validator,
            height: e.height,
            round: e.round,
            step: bizra_evidence_step::of(e.kind) as u32,
            first: bizra_bytes {
                data: first,
                len: first_len,
            },
            second: bizra_bytes {
                data: second,
                len: second_len,
            },
        })
    }

    /// Frees bytes made by [`bizra_evidence::of`] and resets them to `{NULL, 0}`.
    pub(crate) fn free(&mut self) {
        free_slice(&mut self.first.data, &mut self.first.len);
        free_slice(&mut self.second.data, &mut self.second.len);
    }

    /// The core's evidence from a C argument (its bytes copied).
    fn to_core(&self) -> FfiResult<Equivocation> {
        let raw: Vec<u8> = self.validator.iter().map(|&c| c as u8).collect();
        let validator = CStr::from_bytes_until_nul(&raw)
            .map_err(|_| invalid("evidence.validator is not NUL-terminated"))?
            .to_str()
            .map_err(|_| invalid("evidence.validator is not UTF-8"))?
            .to_owned();
        let kind = bizra_evidence_step::ALL
            .into_iter()
            .find(|s| *s as u32 == self.step)
            .ok_or_else(|| {
                invalid(format!(
                    "evidence.step {} is no bizra_evidence_step (0 proposal, 1 prevote, 2 \
                     precommit)",
                    self.step
                ))
            })?
            .to_core();
        Ok(Equivocation {
            validator,
            height: self.height,
            round: self.round,
            kind,
            first: bytes(self.first.data, self.first.len, "evidence.first.data")?.to_vec(),
            second: bytes(self.second.data, self.second.len, "evidence.second.data")?.to_vec(),
        })
    }
}

/// Every evidence code with its name (the core's `EvidenceCode::name`), as C strings kept for the
/// library's lifetime.
fn evidence_names() -> &'static [(u32, CString)] {
    static NAMES: OnceLock<Vec<(u32, CString)>> = OnceLock::new();
    NAMES.get_or_init(|| {
        let valid = (bizra_evidence_code::Valid as u32, VALID_NAME);
        let codes = EvidenceCode::ALL.iter().map(|c| (c.code(), c.name()));
        std::iter::once(valid)
            .chain(codes)
            .map(|(code, name)| (code, CString::new(name).unwrap_or_default()))
            .collect()
    })
}

/// The name of an evidence refusal code (`"NOT_CONFLICTING"` for 5, `"VALID"` for 0), or NULL
/// for an unknown number. Static, owned by the library: never freed.
#[no_mangle]
pub extern "C" fn bizra_evidence_code_name(code: u32) -> *const c_char {
    boundary("bizra_evidence_code_name", || {
        Ok(evidence_names()
            .iter()
            .find(|(c, _)| *c == code)
            .map_or(std::ptr::null(), |(_, name)| name.as_ptr()))
    })
}

/// The name of a `bizra_evidence_step` (`"proposal"`, `"prevote"`, `"precommit"`), or NULL for a
/// number that is none. Static, owned by the library: never freed.
#[no_mangle]
pub extern "C" fn bizra_evidence_step_name(step: u32) -> *const c_char {
    boundary("bizra_evidence_step_name", || {
        static NAMES: OnceLock<Vec<CString>> = OnceLock::new();
        let all =
            crate::federation::names(&NAMES, &bizra_evidence_step::ALL, bizra_evidence_step::name);
        Ok(name_at(all, step))
    })
}

/// Checks equivocation evidence against the federation document, offline (no clock, no
/// network, no node), as `tests/vectors/CONSENSUS-v1.md` orders it: both messages decode as votes
/// or as proposals, of one step, one validator, one height and round, signing different fields;
/// the evidence's own `validator`, `height`, `round` and `step` say the same; the validator is in
/// `doc`; and both signatures are its own, strictly verified. Either message may be the one seen
/// first. `BIZRA_STATUS_OK` with `*code = 0` only for valid evidence; otherwise
/// `BIZRA_STATUS_EVIDENCE_REFUSED` with the first failure's code in `*code` (1 malformed ... 8
/// bad signature) and its words as the last error. An evidence struct that cannot be read (a
/// `validator` without its NUL, an unknown `step`, bytes NULL with a length) is
/// `BIZRA_STATUS_INVALID_ARGUMENT` or `BIZRA_STATUS_NULL_POINTER` and leaves `*code` untouched.
/// `code` may be NULL (a value: nothing to free).
#[no_mangle]
pub unsafe extern "C" fn bizra_evidence_verify(
    doc: *const bizra_federation_document,
    evidence: *const bizra_evidence,
    code: *mut u32,
) -> bizra_status {
    boundary("bizra_evidence_verify", || {
        let doc = bizra_federation_document::arg(doc, "doc")?;
        let evidence = arg(evidence, "evidence")?.to_core()?;
        evidence
            .verify(doc)
            .map_err(|e| evidence_refused(e, code))?;
        put_opt(code, bizra_evidence_code::Valid as u32);
        Ok(BIZRA_STATUS_OK)
    })
}

/// A refusal of evidence: its code to the optional out-param, and the core's error (kind
/// `EVIDENCE_REFUSED`, whose message names the code and what was wrong) as the failure.
fn evidence_refused(e: EvidenceError, code: *mut u32) -> Failure {
    put_opt(code, e.code.code());
    bizra_core::Error::from(e).into()
}

#[cfg(test)]
mod tests {
    use std::ffi::CStr;

    use super::*;

    /// cbindgen needs the enum declared here: each variant but `Valid` must be the core's code of
    /// the same number, and the names come from the core.
    #[test]
    fn the_c_enum_mirrors_the_core() {
        use bizra_certificate_code as C;
        use CertificateCode as R;
        let mirrored = [
            (C::Malformed, R::Malformed),
            (C::WrongFederation, R::WrongFederation),
            (C::WrongEpoch, R::WrongEpoch),
            (C::UnknownSigner, R::UnknownSigner),
            (C::DuplicateSigner, R::DuplicateSigner),
            (C::BadSignature, R::BadSignature),
            (C::InsufficientPower, R::InsufficientPower),
            (C::ValueMismatch, R::ValueMismatch),
        ];
        assert_eq!(mirrored.len(), R::ALL.len());
        for (c, core) in mirrored {
            assert_eq!(c as u32, core.code(), "{c:?}");
            let p = bizra_certificate_code_name(c as u32);
            assert!(!p.is_null());
            // SAFETY: a non-NULL result is a static NUL-terminated string.
            let name = unsafe { CStr::from_ptr(p) }.to_str().ok();
            assert_eq!(name, Some(core.name()));
        }
        assert_eq!(C::Valid as u32, 0);
        assert!(!bizra_certificate_code_name(0).is_null());
        assert!(bizra_certificate_code_name(9).is_null());
    }

    fn name_of(p: *const c_char) -> Option<&'static str> {
        // SAFETY: a non-NULL result is a static NUL-terminated string.
        (!p.is_null()).then(|| unsafe { CStr::from_ptr(p) }.to_str().ok())?
    }

    /// The evidence codes and steps mirror the core's, numbers and names.
    #[test]
    fn the_evidence_enums_mirror_the_core() {
        use bizra_evidence_code as C;
        use EvidenceCode as R;
        let mirrored = [
            (C::Malformed, R::Malformed),
            (C::DifferentStep, R::DifferentStep),
            (C::DifferentValidator, R::DifferentValidator),
            (C::DifferentRound, R::DifferentRound),
            (C::NotConflicting, R::NotConflicting),
            (C::FieldsMismatch, R::FieldsMismatch),
            (C::UnknownValidator, R::UnknownValidator),
            (C::BadSignature, R::BadSignature),
        ];
        assert_eq!(mirrored.len(), R::ALL.len());
        for (c, core) in mirrored {
            assert_eq!(c as u32, core.code(), "{c:?}");
            assert_eq!(
                name_of(bizra_evidence_code_name(c as u32)),
                Some(core.name())
            );
        }
        assert_eq!(name_of(bizra_evidence_code_name(0)), Some("VALID"));
        assert_eq!(name_of(bizra_evidence_code_name(9)), None);
        for (i, s) in bizra_evidence_step::ALL.iter().enumerate() {
            assert_eq!(*s as usize, i);
            assert_eq!(bizra_evidence_step::of(s.to_core()), *s);
            assert_eq!(name_of(bizra_evidence_step_name(i as u32)), Some(s.name()));
        }
        assert_eq!(name_of(bizra_evidence_step_name(3)), None);
    }

    /// A vote in the CONSENSUS-v1 wire encoding, signed by `id` under `doc`.
    fn vote(doc: &FederationDocument, id: &bizra_core::Identity, value: Option<u8>) -> Vec<u8> {
        use bizra_core::consensus::{ValueId, VoteBody, VoteType};
        let value = value.map(|b| ValueId::from_bytes([b; 32]));
        let key = id.public_key_hex();
        let body = VoteBody {
            federation: doc.federation(),
            epoch: doc.epoch(),
            height: 5,
            round: 1,
            vote_type: VoteType::Precommit,
            value: value.as_ref(),
            validator: &key,
        };
        // version, kind (vote), height, round, vote_type (precommit), value, validator, signature
        let mut m = vec![1, 1];
        m.extend_from_slice(&5u64.to_be_bytes());
        m.extend_from_slice(&1u32.to_be_bytes());
        m.push(2);
        match value {
            Some(v) => {
                m.push(1);
                m.extend_from_slice(v.as_bytes());
            }
            None => m.push(0),
        }
        m.extend_from_slice(id.public_key());
        m.extend_from_slice(&body.sign(id));
        m
    }

    /// Evidence made of two real conflicting precommits goes through the C struct and verifies;
    /// each change to it is refused with its code through `*code` and the status, and an
    /// unreadable struct is an argument error that leaves `*code` alone.
    #[test]
    fn evidence_verifies_through_the_c_struct() {
        use bizra_core::consensus::{Timeouts, Validator};
        let ids: Vec<_> = (1..=4u8)
            .map(|i| bizra_core::Identity::from_seed(&[i; 32]).unwrap())
            .collect();
        let validators = ids
            .iter()
            .map(|i| Validator::new(i.public_key(), 1).unwrap())
            .collect();
        let doc = FederationDocument::new("c", 1, validators, Timeouts::default()).unwrap();
        let (mut first, mut second) = (vote(&doc, &ids[0], Some(7)), vote(&doc, &ids[0], None));
        let evidence = |first: &mut Vec<u8>, second: &mut Vec<u8>| bizra_evidence {
            validator: inline_text(&ids[0].public_key_hex(), "key")
                .unwrap_or([0; BIZRA_KEY_HEX_SIZE]),
            height: 5,
            round: 1,
            step: bizra_evidence_step::Precommit as u32,
            first: bizra_bytes {
                data: first.as_mut_ptr(),
                len: first.len(),
            },
            second: bizra_bytes {
                data: second.as_mut_ptr(),
                len: second.len(),
            },
        };
        let doc_p = bizra_federation_document::lend(&doc);
        let verify = |e: &bizra_evidence| {
            let mut code = 99u32;
            // SAFETY: a live document and evidence, and a writable code.
            let st = unsafe { bizra_evidence_verify(doc_p, e, &mut code) };
            (st, code)
        };
        let good = evidence(&mut first, &mut second);
        assert_eq!(verify(&good), (BIZRA_STATUS_OK, 0));

        let mut e = evidence(&mut first, &mut second);
        e.round = 2;
        let refused = |c: bizra_evidence_code| (BIZRA_STATUS_EVIDENCE_REFUSED, c as u32);
        assert_eq!(verify(&e), refused(bizra_evidence_code::FieldsMismatch));
        let mut e = evidence(&mut first, &mut second);
        e.step = bizra_evidence_step::Prevote as u32;
        assert_eq!(verify(&e), refused(bizra_evidence_code::FieldsMismatch));
        let mut same = first.clone();
        let e = evidence(&mut first, &mut same);
        assert_eq!(verify(&e), refused(bizra_evidence_code::NotConflicting));
        let mut other = vote(&doc, &ids[1], None);
        let e = evidence(&mut first, &mut other);
        assert_eq!(verify(&e), refused(bizra_evidence_code::DifferentValidator));
        let mut flipped = second.clone();
        *flipped.last_mut().unwrap() ^= 1;
        let e = evidence(&mut first, &mut flipped);
        assert_eq!(verify(&e), refused(bizra_evidence_code::BadSignature));
        let mut garbage = vec![0xff; 10];
        let e = evidence(&mut first, &mut garbage);
        assert_eq!(verify(&e), refused(bizra_evidence_code::Malformed));
        let outsider = bizra_core::Identity::from_seed(&[9; 32]).unwrap();
        let (mut a, mut b) = (
            vote(&doc, &outsider, Some(1)),
            vote(&doc, &outsider, Some(2)),
        );
        let mut e = evidence(&mut a, &mut b);
        e.validator =
            inline_text(&outsider.public_key_hex(), "key").unwrap_or([0; BIZRA_KEY_HEX_SIZE]);
        assert_eq!(verify(&e), refused(bizra_evidence_code::UnknownValidator));

        let mut e = evidence(&mut first, &mut second);
        e.step = 3;
        assert_eq!(verify(&e), (BIZRA_STATUS_INVALID_ARGUMENT, 99));
        let mut e = evidence(&mut first, &mut second);
        e.validator = [b'a' as c_char; BIZRA_KEY_HEX_SIZE];
        assert_eq!(verify(&e), (BIZRA_STATUS_INVALID_ARGUMENT, 99));
        let mut e = evidence(&mut first, &mut second);
        e.first.data = std::ptr::null_mut();
        assert_eq!(verify(&e), (BIZRA_STATUS_NULL_POINTER, 99));
        // The bytes stay the caller's: nothing above freed them.
        assert_eq!(verify(&good), (BIZRA_STATUS_OK, 0));
    }
}
