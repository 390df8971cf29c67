//! Commit certificates and federation documents (`tests/vectors/CONSENSUS-v1.md`): a certificate
//! is verified against the document of its federation and epoch, offline, by a process that
//! never ran a node. Verification is the core's (`bizra_core::consensus`); this file converts.

use std::ffi::{c_char, CString};
use std::sync::OnceLock;

use bizra_core::consensus::{
    Batch, Certificate, CertificateCode, CertificateError, FederationDocument,
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
}
