//! Reading arguments and writing out-params (used inside `boundary` closures only): NULL checks,
//! strings, byte ranges, string arrays, options structs. Handles have their own helpers
//! ([`crate::handle::Handle`]).

use std::ffi::{c_char, CStr};

use crate::{Failure, FfiResult, BIZRA_STATUS_INVALID_ARGUMENT, BIZRA_STATUS_NULL_POINTER};

/// The failure of a NULL required pointer, naming it.
pub(crate) fn null(what: &str) -> Failure {
    Failure::new(BIZRA_STATUS_NULL_POINTER, format!("{what} is NULL"))
}

/// The failure of a malformed argument.
pub(crate) fn invalid(message: impl Into<String>) -> Failure {
    Failure::new(BIZRA_STATUS_INVALID_ARGUMENT, message)
}

/// A shared reference from a pointer the caller promises is NULL or valid (plain structs and
/// scalars; handles go through [`crate::handle::Handle::arg`]).
pub(crate) fn arg<'a, T>(p: *const T, what: &str) -> FfiResult<&'a T> {
    // SAFETY: the C contract: `p` is NULL or points to a live, properly aligned `T` for the call.
    unsafe { p.as_ref() }.ok_or_else(|| null(what))
}

/// An exclusive reference from a pointer the caller promises is NULL or valid and unshared.
pub(crate) fn arg_mut<'a, T>(p: *mut T, what: &str) -> FfiResult<&'a mut T> {
    // SAFETY: the C contract: `p` is NULL or points to a live `T` no other thread uses meanwhile.
    unsafe { p.as_mut() }.ok_or_else(|| null(what))
}

/// Checks an out-param before any work is done, so that a NULL one costs nothing.
pub(crate) fn out<T>(p: *mut T, what: &str) -> FfiResult<*mut T> {
    if p.is_null() {
        Err(null(what))
    } else {
        Ok(p)
    }
}

/// [`out`] for the out-param named `out`, which most functions have.
pub(crate) fn out_checked<T>(p: *mut T) -> FfiResult<*mut T> {
    out(p, "out")
}

/// Writes an out-param checked by [`out`].
pub(crate) fn put<T>(p: *mut T, v: T) {
    // SAFETY: `p` was checked non-NULL by `out`; the C contract makes it valid for writes. The
    // previous content is uninitialised from our side, so it is overwritten without a drop.
    unsafe { p.write(v) }
}

/// Writes an optional out-param (NULL: not wanted).
pub(crate) fn put_opt<T>(p: *mut T, v: T) {
    if !p.is_null() {
        put(p, v);
    }
}

/// A NUL-terminated UTF-8 string argument.
pub(crate) fn text<'a>(p: *const c_char, what: &str) -> FfiResult<&'a str> {
    if p.is_null() {
        return Err(null(what));
    }
    // SAFETY: the C contract: a non-NULL `p` is a NUL-terminated string alive for the call.
    let c = unsafe { CStr::from_ptr(p) };
    c.to_str()
        .map_err(|e| invalid(format!("{what} is not UTF-8 (at byte {})", e.valid_up_to())))
}

/// An optional NUL-terminated UTF-8 string argument (NULL: `None`).
pub(crate) fn opt_text<'a>(p: *const c_char, what: &str) -> FfiResult<Option<&'a str>> {
    if p.is_null() {
        Ok(None)
    } else {
        text(p, what).map(Some)
    }
}

/// A C array of `len` `T`s; NULL is allowed when `len` is 0. The length is checked before the
/// array is touched, so a wild one is an error rather than undefined behaviour.
pub(crate) fn slice<'a, T>(p: *const T, len: usize, what: &str) -> FfiResult<&'a [T]> {
    if len == 0 {
        return Ok(&[]);
    }
    if p.is_null() {
        return Err(null(what));
    }
    if len > isize::MAX as usize / std::mem::size_of::<T>().max(1) {
        return Err(invalid(format!("{what}: length {len} is too large")));
    }
    // SAFETY: the C contract: `p` points to `len` readable `T`s alive for the call.
    Ok(unsafe { std::slice::from_raw_parts(p, len) })
}

/// A (pointer, length) byte argument; NULL is allowed when the length is 0.
pub(crate) fn bytes<'a>(p: *const u8, len: usize, what: &str) -> FfiResult<&'a [u8]> {
    slice(p, len, what)
}

/// An array of `len` NUL-terminated UTF-8 strings; NULL is allowed when `len` is 0.
pub(crate) fn text_list<'a>(
    p: *const *const c_char,
    len: usize,
    what: &str,
) -> FfiResult<Vec<&'a str>> {
    slice(p, len, what)?
        .iter()
        .enumerate()
        .map(|(i, &s)| text(s, &format!("{what}[{i}]")))
        .collect()
}

/// Checks an options struct's `struct_size` (its first member) and returns the options.
pub(crate) fn options<'a, T>(p: *const T, what: &str) -> FfiResult<Option<&'a T>> {
    if p.is_null() {
        return Ok(None);
    }
    // SAFETY: every options struct begins with `uint32_t struct_size`; the C contract makes a
    // non-NULL pointer valid for at least that member.
    let size = unsafe { p.cast::<u32>().read() } as usize;
    if size < std::mem::size_of::<T>() {
        return Err(invalid(format!(
            "{what}.struct_size is {size}, expected at least {} (set it to sizeof)",
            std::mem::size_of::<T>()
        )));
    }
    arg(p, what).map(Some)
}

/// A struct whose all-zero bytes are a valid value meaning "every default" (integers, `bool`s,
/// raw pointers and arrays of them): an options struct that grew, read by [`options_grown`].
///
/// # Safety
/// The all-zero bit pattern must be a valid value of the type.
pub(crate) unsafe trait ZeroDefault: Sized {
    /// The sizes callers built against older headers pass in `struct_size`, ascending: each is
    /// the offset of the first member added after it.
    const OLDER_SIZES: &'static [usize];
}

/// [`options`] for a struct that grew by members appended at its end: a caller built against an
/// older header passes one of `T::OLDER_SIZES`, and the members it does not know read as zero
/// (their defaults). A size at least the current one is read in full; any other is refused.
pub(crate) fn options_grown<T: ZeroDefault>(p: *const T, what: &str) -> FfiResult<Option<T>> {
    if p.is_null() {
        return Ok(None);
    }
    // SAFETY: as in `options`: a non-NULL pointer is valid for at least `struct_size`.
    let size = unsafe { p.cast::<u32>().read() } as usize;
    let full = std::mem::size_of::<T>();
    let take = if size >= full {
        full
    } else if T::OLDER_SIZES.contains(&size) {
        size
    } else {
        let older: Vec<String> = T::OLDER_SIZES.iter().map(usize::to_string).collect();
        return Err(invalid(format!(
            "{what}.struct_size is {size}, expected at least {full} (set it to sizeof), or {} \
             from an older header",
            older.join(" or ")
        )));
    };
    let mut value = std::mem::MaybeUninit::<T>::zeroed();
    // SAFETY: the caller's struct is valid for `take <= struct_size` bytes (the C contract), the
    // destination holds `take <= size_of::<T>()` bytes, and the two do not overlap; zero bytes
    // are a valid `T` (`ZeroDefault`) and `take` is the end of a member, so the copied prefix
    // holds whole members of a valid C struct.
    unsafe {
        std::ptr::copy_nonoverlapping(p.cast::<u8>(), value.as_mut_ptr().cast::<u8>(), take);
        Ok(Some(value.assume_init()))
    }
}
