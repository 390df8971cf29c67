//! The PCI reject codes: the C enum mirroring the core's, their names, descriptions and
//! retryability.

use std::ffi::{c_char, CString};
use std::sync::OnceLock;

use bizra_core::RejectCode;

use crate::{bizra_status, boundary, invalid, out_checked, put, put_opt, BIZRA_STATUS_OK};

/// The PCI reject codes of `tests/vectors/PCI-v1.md` (stable numbers). Out-params carrying one are
/// `uint32_t *`.
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum bizra_reject {
    /// Valid.
    Success = 0,
    /// Malformed envelope.
    Schema = 1,
    /// A member is missing.
    MissingField = 2,
    /// Invalid signature.
    Signature = 10,
    /// Expired.
    Expired = 11,
    /// Replayed id.
    Replay = 12,
    /// Timestamp in the future.
    Future = 13,
    /// Sender is not the node id of public_key.
    SenderMismatch = 14,
    /// content_hash does not match the payload.
    HashMismatch = 15,
    /// ttl out of range.
    TtlRange = 16,
    /// Policy does not match the required constitution.
    PolicyMismatch = 17,
    /// Payload fails the gate's JSON Schema.
    GateSchema = 20,
    /// Signature gate failed.
    GateSignature = 21,
    /// Rate limit exceeded (retryable).
    GateRate = 22,
    /// SNR below threshold.
    GateSnr = 23,
    /// Refused by a user-defined gate.
    GateCustom = 24,
    /// Ihsan below minimum.
    GateIhsan = 25,
    /// Quota exhausted (retryable).
    Quota = 40,
    /// Timed out (retryable).
    Timeout = 42,
    /// Internal error.
    Internal = 50,
}

/// Every reject number with its name (the core's `RejectCode::name_of`) and description, as C
/// strings the library keeps for its lifetime.
fn table() -> &'static [(u32, CString, CString)] {
    static TABLE: OnceLock<Vec<(u32, CString, CString)>> = OnceLock::new();
    TABLE.get_or_init(|| {
        let c = |s: &str| CString::new(s).unwrap_or_default();
        let success = (bizra_reject::Success as u32, "PCI-00: success".to_owned());
        let codes = RejectCode::ALL.iter().map(|r| (r.code(), r.to_string()));
        std::iter::once(success)
            .chain(codes)
            .filter_map(|(code, text)| RejectCode::name_of(code).map(|n| (code, c(n), c(&text))))
            .collect()
    })
}

/// The name of a reject code (`"SCHEMA"`, `"SUCCESS"` for 0), or NULL for an unknown number.
/// Static, owned by the library: never freed.
#[no_mangle]
pub extern "C" fn bizra_reject_name(code: u32) -> *const c_char {
    boundary("bizra_reject_name", || {
        Ok(table()
            .iter()
            .find(|(c, _, _)| *c == code)
            .map_or(std::ptr::null(), |(_, name, _)| name.as_ptr()))
    })
}

/// The display text of a reject code (`"PCI-01: malformed envelope"`), or NULL for an unknown
/// number. Static, owned by the library: never freed.
#[no_mangle]
pub extern "C" fn bizra_reject_describe(code: u32) -> *const c_char {
    boundary("bizra_reject_describe", || {
        Ok(table()
            .iter()
            .find(|(c, _, _)| *c == code)
            .map_or(std::ptr::null(), |(_, _, text)| text.as_ptr()))
    })
}

/// Whether a reject code is retryable (GATE_RATE, QUOTA, TIMEOUT), written to `*out` (a value:
/// nothing to free); 0 (success) is not. Unknown numbers are `BIZRA_STATUS_INVALID_ARGUMENT`.
#[no_mangle]
pub unsafe extern "C" fn bizra_reject_is_retryable(code: u32, out: *mut bool) -> bizra_status {
    boundary("bizra_reject_is_retryable", || {
        let out = out_checked(out)?;
        let value = if code == bizra_reject::Success as u32 {
            false
        } else {
            RejectCode::from_code(code)
                .ok_or_else(|| invalid(format!("unknown reject code {code}")))?
                .is_retryable()
        };
        put(out, value);
        Ok(BIZRA_STATUS_OK)
    })
}

/// Writes a reject code to an optional out-param.
pub(crate) fn put_reject(p: *mut u32, code: u32) {
    put_opt(p, code);
}

/// The reject code of an error, if it is a rejection.
pub(crate) fn reject_of(e: &bizra_core::Error) -> Option<u32> {
    e.reject_code().map(RejectCode::code)
}

#[cfg(test)]
mod tests {
    use std::ffi::CStr;

    use super::*;

    #[test]
    fn names_come_from_the_core_zero_included() {
        for code in std::iter::once(0).chain(RejectCode::ALL.iter().map(|c| c.code())) {
            let p = bizra_reject_name(code);
            assert!(!p.is_null(), "{code}");
            // SAFETY: a non-NULL result is a static NUL-terminated string.
            let name = unsafe { CStr::from_ptr(p) }.to_str().ok();
            assert_eq!(name, RejectCode::name_of(code), "{code}");
        }
        // SAFETY: as above.
        let zero = unsafe { CStr::from_ptr(bizra_reject_name(0)) };
        assert_eq!(zero.to_str().ok(), Some(bizra_core::pci::SUCCESS_NAME));
        assert!(bizra_reject_name(3).is_null());
        assert!(bizra_reject_describe(3).is_null());
    }

    #[test]
    fn the_c_enum_mirrors_the_core() {
        // cbindgen needs the enum declared here: every variant but Success must name exactly the
        // core's code of the same number.
        use bizra_core::RejectCode as R;
        let mirrored = [
            (bizra_reject::Schema, R::Schema),
            (bizra_reject::MissingField, R::MissingField),
            (bizra_reject::Signature, R::Signature),
            (bizra_reject::Expired, R::Expired),
            (bizra_reject::Replay, R::Replay),
            (bizra_reject::Future, R::Future),
            (bizra_reject::SenderMismatch, R::SenderMismatch),
            (bizra_reject::HashMismatch, R::HashMismatch),
            (bizra_reject::TtlRange, R::TtlRange),
            (bizra_reject::PolicyMismatch, R::PolicyMismatch),
            (bizra_reject::GateSchema, R::GateSchema),
            (bizra_reject::GateSignature, R::GateSignature),
            (bizra_reject::GateRate, R::GateRate),
            (bizra_reject::GateSnr, R::GateSnr),
            (bizra_reject::GateCustom, R::GateCustom),
            (bizra_reject::GateIhsan, R::GateIhsan),
            (bizra_reject::Quota, R::Quota),
            (bizra_reject::Timeout, R::Timeout),
            (bizra_reject::Internal, R::Internal),
        ];
        assert_eq!(mirrored.len(), R::ALL.len());
        for (c, core) in mirrored {
            assert_eq!(c as u32, core.code(), "{c:?}");
        }
        assert_eq!(bizra_reject::Success as u32, 0);
    }
}
