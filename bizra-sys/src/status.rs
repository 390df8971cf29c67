//! `bizra_status`: the result of every fallible call, and the one table that maps the core's
//! error kinds (`bizra_core::ErrorKind`) to it.

use std::ffi::{c_char, CString};
use std::sync::OnceLock;

use bizra_core::ErrorKind;

use crate::boundary;

/// The result of a fallible call. Stable numbers, never reused; 0 is success.
/// `bizra_status_name` gives its name.
pub type bizra_status = u32;

/// Success.
pub const BIZRA_STATUS_OK: bizra_status = 0;
/// A required pointer argument was NULL.
pub const BIZRA_STATUS_NULL_POINTER: bizra_status = 1;
/// An argument is malformed or out of range (a seed of the wrong length, a string that is not
/// UTF-8, a payload that is not I-JSON, an unknown enum value, a bad `struct_size`, ...): the
/// core's kind `INVALID_INPUT`.
pub const BIZRA_STATUS_INVALID_ARGUMENT: bizra_status = 2;
/// A verdict: the envelope (or signature, or gate chain) refused; the PCI reject code is written
/// to the `reject` out-param where the function has one (kind `REJECTED`).
pub const BIZRA_STATUS_REJECTED: bizra_status = 3;
/// A key could not be read (bad PEM, wrong passphrase, unsupported key).
pub const BIZRA_STATUS_KEY: bizra_status = 4;
/// A file could not be read or written (or exists where it must not, as for
/// `bizra_identity_save` without `overwrite`).
pub const BIZRA_STATUS_IO: bizra_status = 5;
/// A constitution is invalid.
pub const BIZRA_STATUS_CONSTITUTION: bizra_status = 6;
/// The caller's buffer is too small; `needed` says how large it must be.
pub const BIZRA_STATUS_BUFFER_TOO_SMALL: bizra_status = 7;
/// An index is out of range.
pub const BIZRA_STATUS_OUT_OF_RANGE: bizra_status = 8;
/// An internal error (a bug): the last error says more.
pub const BIZRA_STATUS_INTERNAL: bizra_status = 9;
/// The library panicked (a bug); the call had no effect beyond what the last error says.
pub const BIZRA_STATUS_PANIC: bizra_status = 10;
/// A model file is missing, is not a GGUF file, or is damaged (truncated, corrupt, refused by
/// llama.cpp). The last error names the file and what is wrong with it.
pub const BIZRA_STATUS_MODEL: bizra_status = 11;
/// The prompt (after the chat template) does not fit the context window with room for one
/// generated token: shorten it, or load the engine with a larger `n_ctx` (kind
/// `PROMPT_TOO_LONG`).
pub const BIZRA_STATUS_CONTEXT_OVERFLOW: bizra_status = 12;
/// The inference engine failed (llama.cpp refused a context, a decode failed, the engine's
/// worker thread stopped). The engine stays usable unless its worker stopped.
pub const BIZRA_STATUS_INFERENCE: bizra_status = 13;
/// No registered model serves the requested tier, or none has the requested name.
pub const BIZRA_STATUS_MODEL_NOT_FOUND: bizra_status = 14;
/// The pool tier was requested, but no remote pool is configured.
pub const BIZRA_STATUS_NO_REMOTE_POOL: bizra_status = 15;
/// The federation node left or was stopped (`bizra_node_leave`, `bizra_node_stop`): every call
/// on it is refused with this status, and an event stream that was read to its end returns it.
/// The C boundary's own: the other bindings raise `INVALID_INPUT` for a call on a stopped node.
pub const BIZRA_STATUS_STOPPED: bizra_status = 16;
/// A verdict: a commit certificate was refused (kind `CERTIFICATE_REFUSED`); the refusal code
/// (`bizra_certificate_code`, the numbers of tests/vectors/CONSENSUS-v1.md) is written to the
/// `code` out-param where the function has one, and `bizra_certificate_code_name` names it.
pub const BIZRA_STATUS_CERTIFICATE_REFUSED: bizra_status = 17;
/// A verdict: equivocation evidence was refused (kind `EVIDENCE_REFUSED`,
/// `bizra_evidence_verify`); the refusal code (`bizra_evidence_code`, the numbers of
/// tests/vectors/CONSENSUS-v1.md) is written to the `code` out-param, and
/// `bizra_evidence_code_name` names it.
pub const BIZRA_STATUS_EVIDENCE_REFUSED: bizra_status = 18;
/// A remote pool could not serve: unreachable, silent past its timeout, overloaded (429),
/// failing (5xx) or answering outside the protocol, after the retries it was configured with
/// (kind `REMOTE_UNAVAILABLE`). Another pool, a fallback tier or a later attempt may serve.
pub const BIZRA_STATUS_REMOTE_UNAVAILABLE: bizra_status = 19;
/// A remote pool refused the request itself: a wrong API key, an unknown model, a request it
/// does not accept (kind `REMOTE_REFUSED`). The configuration or the request must change.
pub const BIZRA_STATUS_REMOTE_REFUSED: bizra_status = 20;
/// A bounded queue was full, so the call was not taken (kind `BUSY`): an engine's request queue
/// (`bizra_engine_generate`, `bizra_engine_embed`, a gateway serving from that engine when no
/// fallback rule took over; `bizra_engine_options.max_queued`), a pool's requests in flight
/// (`bizra_pool_options.max_in_flight`), a consensus node's proposal pool. Nothing was done; the
/// same call may succeed once the load passes.
pub const BIZRA_STATUS_BUSY: bizra_status = 21;

/// Every kind of error the core defines, with its status: the one mapping from the core's errors
/// to C (`Failure::from`). Its length is the number of kinds, so a kind added to the core fails
/// the build until it has a row here; the test below checks the rows against the core's list.
const KINDS: [(ErrorKind, bizra_status); ErrorKind::ALL.len()] = [
    (ErrorKind::InvalidInput, BIZRA_STATUS_INVALID_ARGUMENT),
    (ErrorKind::Rejected, BIZRA_STATUS_REJECTED),
    (
        ErrorKind::CertificateRefused,
        BIZRA_STATUS_CERTIFICATE_REFUSED,
    ),
    (ErrorKind::EvidenceRefused, BIZRA_STATUS_EVIDENCE_REFUSED),
    (ErrorKind::Key, BIZRA_STATUS_KEY),
    (ErrorKind::Constitution, BIZRA_STATUS_CONSTITUTION),
    (ErrorKind::Io, BIZRA_STATUS_IO),
    (ErrorKind::Model, BIZRA_STATUS_MODEL),
    (ErrorKind::ModelNotFound, BIZRA_STATUS_MODEL_NOT_FOUND),
    (ErrorKind::PromptTooLong, BIZRA_STATUS_CONTEXT_OVERFLOW),
    (ErrorKind::NoRemotePool, BIZRA_STATUS_NO_REMOTE_POOL),
    (ErrorKind::Inference, BIZRA_STATUS_INFERENCE),
    (
        ErrorKind::RemoteUnavailable,
        BIZRA_STATUS_REMOTE_UNAVAILABLE,
    ),
    (ErrorKind::RemoteRefused, BIZRA_STATUS_REMOTE_REFUSED),
    (ErrorKind::Busy, BIZRA_STATUS_BUSY),
    (ErrorKind::Internal, BIZRA_STATUS_INTERNAL),
    (ErrorKind::Panic, BIZRA_STATUS_PANIC),
];

/// The statuses of the C boundary itself, which no core kind raises, with their names.
const BOUNDARY_ONLY: [(bizra_status, &str); 5] = [
    (BIZRA_STATUS_OK, "OK"),
    (BIZRA_STATUS_NULL_POINTER, "NULL_POINTER"),
    (BIZRA_STATUS_BUFFER_TOO_SMALL, "BUFFER_TOO_SMALL"),
    (BIZRA_STATUS_OUT_OF_RANGE, "OUT_OF_RANGE"),
    (BIZRA_STATUS_STOPPED, "STOPPED"),
];

/// The status of an error kind. A kind missing from [`KINDS`] (impossible while the table's
/// length is the core's number of kinds and its rows are distinct, which the tests check) would
/// be reported as an internal error rather than mistaken for another kind.
pub(crate) fn status_of_kind(kind: ErrorKind) -> bizra_status {
    KINDS
        .iter()
        .find(|(k, _)| *k == kind)
        .map_or(BIZRA_STATUS_INTERNAL, |&(_, status)| status)
}

/// Every status with its name as a C string: a kind's status is named after the kind
/// (`ErrorKind::name`), the boundary's own statuses after themselves.
fn names() -> &'static [(bizra_status, CString)] {
    static NAMES: OnceLock<Vec<(bizra_status, CString)>> = OnceLock::new();
    NAMES.get_or_init(|| {
        let kinds = KINDS.iter().map(|&(k, s)| (s, k.name()));
        BOUNDARY_ONLY
            .into_iter()
            .chain(kinds)
            .map(|(s, name)| (s, CString::new(name).unwrap_or_default()))
            .collect()
    })
}

/// The name of a status: for a status that reports one of the core's error kinds, the kind's
/// name, the same in every binding (`"INVALID_INPUT"` for `BIZRA_STATUS_INVALID_ARGUMENT`,
/// `"REJECTED"`, `"PROMPT_TOO_LONG"` for `BIZRA_STATUS_CONTEXT_OVERFLOW`, `"EVIDENCE_REFUSED"`,
/// `"REMOTE_UNAVAILABLE"`, `"REMOTE_REFUSED"`, `"BUSY"`, `"PANIC"`, ...); for the C boundary's own statuses, their suffix (`"OK"`, `"NULL_POINTER"`,
/// `"BUFFER_TOO_SMALL"`, `"OUT_OF_RANGE"`, `"STOPPED"`). NULL for a number that is no status.
/// Static, not to be freed.
#[no_mangle]
pub extern "C" fn bizra_status_name(status: bizra_status) -> *const c_char {
    boundary("bizra_status_name", || {
        Ok(names()
            .iter()
            .find(|(s, _)| *s == status)
            .map_or(std::ptr::null(), |(_, name)| name.as_ptr()))
    })
}

#[cfg(test)]
mod tests {
    use std::ffi::CStr;

    use super::*;

    fn name(status: bizra_status) -> Option<String> {
        let p = bizra_status_name(status);
        // SAFETY: a non-NULL result is a static NUL-terminated string.
        (!p.is_null()).then(|| unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned())
    }

    /// Walks every kind of the core: each has its own status, named after the kind.
    #[test]
    fn every_kind_has_its_own_status_named_after_it() {
        let mut seen = std::collections::BTreeSet::new();
        for kind in ErrorKind::ALL {
            let status = status_of_kind(kind);
            assert!(
                KINDS.iter().any(|(k, _)| *k == kind),
                "{kind:?} has no row in KINDS"
            );
            assert!(seen.insert(status), "{kind:?} shares status {status}");
            assert_eq!(name(status).as_deref(), Some(kind.name()), "{kind:?}");
        }
        for (status, own) in BOUNDARY_ONLY {
            assert!(seen.insert(status), "{own} is also a kind's status");
            assert_eq!(name(status).as_deref(), Some(own));
        }
        // Every status 0..=21 is named, nothing after.
        assert_eq!(seen, (0..=BIZRA_STATUS_BUSY).collect());
        assert_eq!(name(BIZRA_STATUS_BUSY + 1), None);
        assert_eq!(name(u32::MAX), None);
    }

    /// The numbers are the ABI: they never change (a new status takes a new number).
    #[test]
    fn status_numbers_are_stable() {
        let expected = [
            (ErrorKind::InvalidInput, 2),
            (ErrorKind::Rejected, 3),
            (ErrorKind::Key, 4),
            (ErrorKind::Io, 5),
            (ErrorKind::Constitution, 6),
            (ErrorKind::Internal, 9),
            (ErrorKind::Panic, 10),
            (ErrorKind::Model, 11),
            (ErrorKind::PromptTooLong, 12),
            (ErrorKind::Inference, 13),
            (ErrorKind::ModelNotFound, 14),
            (ErrorKind::NoRemotePool, 15),
            (ErrorKind::CertificateRefused, 17),
            (ErrorKind::EvidenceRefused, 18),
            (ErrorKind::RemoteUnavailable, 19),
            (ErrorKind::RemoteRefused, 20),
            (ErrorKind::Busy, 21),
        ];
        for (kind, status) in expected {
            assert_eq!(status_of_kind(kind), status, "{kind:?}");
        }
    }

    /// Core errors of each kind the core raises become their kind's status.
    #[test]
    fn core_errors_map_by_their_kind() {
        use bizra_core::{Error, RejectCode};
        let errors = [
            Error::InvalidInput("x".into()),
            Error::reject(RejectCode::Expired, "x"),
            Error::Certificate {
                code: 6,
                name: "BAD_SIGNATURE",
                detail: "x".into(),
            },
            Error::Evidence {
                code: 5,
                name: "NOT_CONFLICTING",
                detail: "x".into(),
            },
            Error::Key("x".into()),
            Error::Constitution("x".into()),
            Error::io("/x", std::io::ErrorKind::NotFound.into()),
            Error::Model {
                path: "/m.gguf".into(),
                reason: "x".into(),
            },
            Error::ModelNotFound("x".into()),
            Error::ContextOverflow {
                prompt_tokens: 9,
                n_ctx: 8,
            },
            Error::NoRemotePool,
            Error::Inference("x".into()),
            Error::Remote {
                endpoint: "http://h/v1".into(),
                status: None,
                refused: false,
                detail: "x".into(),
            },
            Error::Remote {
                endpoint: "http://h/v1".into(),
                status: Some(401),
                refused: true,
                detail: "x".into(),
            },
            Error::Busy {
                queue: "x".into(),
                capacity: 1,
            },
        ];
        for e in errors {
            let kind = e.kind();
            assert_eq!(crate::Failure::from(e).status, status_of_kind(kind));
        }
    }
}
