//! Memory the library hands to the caller: strings (`char *`), bytes (`bizra_bytes`) and floats
//! (`bizra_floats`), each with the one function that frees it.

use std::ffi::{c_char, CString};
use std::ptr;

use crate::{arg_mut, boundary, put, Failure, FfiResult, BIZRA_STATUS_INTERNAL, BIZRA_STATUS_OK};

/// Bytes owned by the caller once returned; free with `bizra_bytes_free`.
#[repr(C)]
#[derive(Debug)]
pub struct bizra_bytes {
    /// The bytes (NULL when `len` is 0).
    pub data: *mut u8,
    /// Their number.
    pub len: usize,
}

/// 32-bit floats (an embedding) owned by the caller once returned; free with
/// `bizra_floats_free`.
#[repr(C)]
#[derive(Debug)]
pub struct bizra_floats {
    /// The values (NULL when `len` is 0).
    pub data: *mut f32,
    /// Their number.
    pub len: usize,
}

/// A string for a `char **` out-param, owned by the caller from now on.
pub(crate) fn c_string(s: impl Into<Vec<u8>>) -> FfiResult<*mut c_char> {
    CString::new(s)
        .map(CString::into_raw)
        .map_err(|_| Failure::new(BIZRA_STATUS_INTERNAL, "output holds a NUL byte"))
}

/// Writes a string out-param (checked by `out`).
pub(crate) fn put_string(p: *mut *mut c_char, s: impl Into<Vec<u8>>) -> FfiResult {
    put(p, c_string(s)?);
    Ok(BIZRA_STATUS_OK)
}

/// A vector as a (pointer, length) pair the C side owns until it hands it back to
/// [`free_slice`]; NULL when empty.
pub(crate) fn into_raw_slice<T>(v: Vec<T>) -> (*mut T, usize) {
    let len = v.len();
    if len == 0 {
        (ptr::null_mut(), 0)
    } else {
        (Box::into_raw(v.into_boxed_slice()).cast::<T>(), len)
    }
}

/// Frees a pair made by [`into_raw_slice`] and resets it to `(NULL, 0)`.
pub(crate) fn free_slice<T>(data: &mut *mut T, len: &mut usize) {
    if !data.is_null() {
        let slice = ptr::slice_from_raw_parts_mut(*data, *len);
        // SAFETY: the C contract: the pair came from `into_raw_slice` (a boxed slice), once.
        drop(unsafe { Box::from_raw(slice) });
    }
    *data = ptr::null_mut();
    *len = 0;
}

/// Writes a bytes out-param (checked by `out`).
pub(crate) fn put_bytes(p: *mut bizra_bytes, v: Vec<u8>) -> FfiResult {
    let (data, len) = into_raw_slice(v);
    put(p, bizra_bytes { data, len });
    Ok(BIZRA_STATUS_OK)
}

/// Writes a floats out-param (checked by `out`).
pub(crate) fn put_floats(p: *mut bizra_floats, v: Vec<f32>) -> FfiResult {
    let (data, len) = into_raw_slice(v);
    put(p, bizra_floats { data, len });
    Ok(BIZRA_STATUS_OK)
}

/// Frees a string returned by this library (wiping its bytes first, as it may hold a key).
/// NULL is a no-op.
#[no_mangle]
pub unsafe extern "C" fn bizra_string_free(s: *mut c_char) {
    boundary("bizra_string_free", || {
        if !s.is_null() {
            // SAFETY: the C contract: `s` came from `CString::into_raw` in this library, once.
            let mut v = unsafe { CString::from_raw(s) }.into_bytes();
            for b in v.iter_mut() {
                // SAFETY: `b` is a valid, exclusive byte of `v`; volatile so the wipe stays.
                unsafe { ptr::write_volatile(b, 0) };
            }
        }
        Ok(())
    })
}

/// Frees bytes returned by this library and resets `*b` to `{NULL, 0}` (so a second call is a
/// no-op). NULL, or `{NULL, 0}`, is a no-op.
#[no_mangle]
pub unsafe extern "C" fn bizra_bytes_free(b: *mut bizra_bytes) {
    boundary("bizra_bytes_free", || {
        if b.is_null() {
            return Ok(());
        }
        let b = arg_mut(b, "b")?;
        free_slice(&mut b.data, &mut b.len);
        Ok(())
    })
}

/// Frees floats returned by this library and resets `*f` to `{NULL, 0}` (so a second call is a
/// no-op). NULL, or `{NULL, 0}`, is a no-op.
#[no_mangle]
pub unsafe extern "C" fn bizra_floats_free(f: *mut bizra_floats) {
    boundary("bizra_floats_free", || {
        if f.is_null() {
            return Ok(());
        }
        let f = arg_mut(f, "f")?;
        free_slice(&mut f.data, &mut f.len);
        Ok(())
    })
}
