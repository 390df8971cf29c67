//! The one boundary every exported function goes through ([`boundary`]), the failures it records,
//! and this thread's last error (`bizra_last_error`).

use std::cell::RefCell;
use std::ffi::{c_char, CString};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::ptr;

use crate::{
    bizra_status, put_opt, status_of_kind, BIZRA_STATUS_BUFFER_TOO_SMALL,
    BIZRA_STATUS_NULL_POINTER, BIZRA_STATUS_OK, BIZRA_STATUS_PANIC,
};

/// Why a call failed: a status and a message for `bizra_last_error`.
pub(crate) struct Failure {
    pub(crate) status: bizra_status,
    message: String,
    /// Whether the message replaces this thread's last error (false only for `bizra_last_error`
    /// itself, so that asking for the size does not overwrite the message being asked for).
    record: bool,
}

impl Failure {
    pub(crate) fn new(status: bizra_status, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
            record: true,
        }
    }
}

/// A core error becomes the status of its kind (one table, [`status_of_kind`]) and its message.
impl From<bizra_core::Error> for Failure {
    fn from(e: bizra_core::Error) -> Self {
        Failure::new(status_of_kind(e.kind()), e.to_string())
    }
}

pub(crate) type FfiResult<T = bizra_status> = Result<T, Failure>;

/// What an entry point returns when it fails or panics.
pub(crate) trait Ret {
    fn failed(status: bizra_status) -> Self;
}

impl Ret for bizra_status {
    fn failed(status: bizra_status) -> Self {
        status
    }
}

impl Ret for () {
    fn failed(_: bizra_status) -> Self {}
}

impl Ret for *const c_char {
    fn failed(_: bizra_status) -> Self {
        ptr::null()
    }
}

thread_local! {
    static LAST_ERROR: RefCell<Option<CString>> = const { RefCell::new(None) };
}

fn set_last_error(message: String) {
    let c = CString::new(message.replace('\0', "\\0")).unwrap_or_default();
    LAST_ERROR.with(|e| *e.borrow_mut() = Some(c));
}

/// The one boundary every exported function goes through: runs `f` under `catch_unwind`, turns a
/// panic into `BIZRA_STATUS_PANIC`, and records the message of a failure as this thread's last
/// error (prefixed with the function's name). A success leaves the last error as it was: it is
/// the message of the most recent failed call on this thread.
pub(crate) fn boundary<T: Ret>(name: &'static str, f: impl FnOnce() -> FfiResult<T>) -> T {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(Ok(v)) => v,
        Ok(Err(fail)) => {
            if fail.record {
                set_last_error(format!("{name}: {}", fail.message));
            }
            T::failed(fail.status)
        }
        Err(payload) => {
            let what = payload
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".to_owned());
            // Dropping a panic payload could itself panic: contain that too.
            let _ = catch_unwind(AssertUnwindSafe(move || drop(payload)));
            set_last_error(format!("{name}: panic: {what}"));
            T::failed(BIZRA_STATUS_PANIC)
        }
    }
}

/// Copies this thread's last error message (the most recent failed call on this thread; `""`
/// when none) into `buf` with its NUL. `buf` stays the caller's; nothing is allocated. `needed`
/// (may be NULL) receives the size the message needs, NUL included, on success and on
/// `BIZRA_STATUS_BUFFER_TOO_SMALL`; `buf` may be NULL when `len` is 0 (a size query). This call
/// never changes the last error itself.
#[no_mangle]
pub unsafe extern "C" fn bizra_last_error(
    buf: *mut c_char,
    len: usize,
    needed: *mut usize,
) -> bizra_status {
    boundary("bizra_last_error", || {
        let msg = LAST_ERROR.with(|e| e.borrow().clone()).unwrap_or_default();
        let bytes = msg.as_bytes_with_nul();
        put_opt(needed, bytes.len());
        if buf.is_null() || len < bytes.len() {
            return Err(Failure {
                status: if buf.is_null() && len > 0 {
                    BIZRA_STATUS_NULL_POINTER
                } else {
                    BIZRA_STATUS_BUFFER_TOO_SMALL
                },
                message: String::new(),
                record: false,
            });
        }
        // SAFETY: `buf` is non-NULL and, by the C contract, valid for `len >= bytes.len()` bytes.
        unsafe { ptr::copy_nonoverlapping(bytes.as_ptr(), buf.cast::<u8>(), bytes.len()) };
        Ok(BIZRA_STATUS_OK)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::FfiResult;

    fn last_error() -> String {
        LAST_ERROR
            .with(|e| e.borrow().clone())
            .map(|c| c.to_string_lossy().into_owned())
            .unwrap_or_default()
    }

    /// The shipped library has no test hook that panics: the boundary is driven here with a
    /// panicking closure instead, as every export's closure would be.
    #[test]
    fn a_panic_becomes_the_panic_status_and_the_last_error() {
        let st: bizra_status =
            boundary("bizra_test_panic", || -> FfiResult { panic!("deliberate") });
        assert_eq!(st, BIZRA_STATUS_PANIC);
        assert_eq!(last_error(), "bizra_test_panic: panic: deliberate");

        // A formatted message (a `String` payload), and a payload that is neither.
        let st: bizra_status = boundary("bizra_test_panic", || -> FfiResult {
            panic!("deliberate {}", 2)
        });
        assert_eq!(st, BIZRA_STATUS_PANIC);
        assert_eq!(last_error(), "bizra_test_panic: panic: deliberate 2");
        let st: bizra_status = boundary("bizra_test_panic", || -> FfiResult {
            std::panic::panic_any(17u32)
        });
        assert_eq!(st, BIZRA_STATUS_PANIC);
        assert_eq!(last_error(), "bizra_test_panic: panic: unknown panic");

        // Functions returning nothing or a static string fail safely too.
        boundary("bizra_test_unit", || -> FfiResult<()> {
            panic!("in a free")
        });
        assert_eq!(last_error(), "bizra_test_unit: panic: in a free");
        let s: *const c_char = boundary("bizra_test_name", || -> FfiResult<*const c_char> {
            panic!("x")
        });
        assert!(s.is_null());

        // The library works after a panic, and a success keeps the last failure's message.
        let st: bizra_status = boundary("bizra_test_ok", || Ok(BIZRA_STATUS_OK));
        assert_eq!(st, BIZRA_STATUS_OK);
        assert_eq!(last_error(), "bizra_test_name: panic: x");
    }

    /// A panic payload whose drop panics is contained as well.
    #[test]
    fn a_payload_that_panics_when_dropped_is_contained() {
        struct Bomb;
        impl Drop for Bomb {
            fn drop(&mut self) {
                panic!("the payload's drop");
            }
        }
        let st: bizra_status = boundary("bizra_test_bomb", || -> FfiResult {
            std::panic::panic_any(Bomb)
        });
        assert_eq!(st, BIZRA_STATUS_PANIC);
        assert_eq!(last_error(), "bizra_test_bomb: panic: unknown panic");
    }

    #[test]
    fn a_failure_is_recorded_with_the_function_name() {
        let st: bizra_status = boundary("bizra_test_fail", || {
            Err(bizra_core::Error::Key("wrong passphrase".into()).into())
        });
        assert_eq!(st, crate::BIZRA_STATUS_KEY);
        assert_eq!(last_error(), "bizra_test_fail: key: wrong passphrase");
    }
}
