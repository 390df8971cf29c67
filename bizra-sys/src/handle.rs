//! Typed opaque handles, after rustls-ffi's `Castable`: each C handle type names the Rust value
//! behind it and how the C side owns that value, and generic helpers turn pointers into
//! references, `Arc`s, out-params and frees. A new handle family is one `impl Handle` (three
//! lines), never a new trio of `foo()`/`put_foo()`/`free_foo()` helpers.
//!
//! Ownership is a type, so the compiler refuses what the C contract forbids: only a
//! [`BoxedMut`] handle can be borrowed mutably (a gate chain being configured), only a [`Shared`]
//! handle can be shared as an `Arc` (a replay cache that several chains keep), and a [`Shared`]
//! value must be `Send + Sync`.

use std::sync::Arc;

use crate::{null, put, FfiResult, BIZRA_STATUS_OK};

/// How the C side holds the value behind a handle. The pointer C sees always points at the value
/// itself (`Box::into_raw` / `Arc::into_raw`), so borrowing it is the same for every ownership.
pub(crate) trait Ownership {
    /// Moves `value` to the heap and hands its pointer to C.
    fn into_raw<T>(value: T) -> *mut T;
    /// Takes back what [`Ownership::into_raw`] gave and drops it.
    ///
    /// # Safety
    /// `p` came from `into_raw` of this ownership, for a `T`, and is released exactly once.
    unsafe fn release<T>(p: *mut T);
}

/// `Box<T>`: one owner (the C caller), read-only through the C API (`const` pointers).
pub(crate) struct Boxed;

/// `Box<T>`: one owner (the C caller), who may also configure it through `*mut` pointers while no
/// other thread uses it.
pub(crate) struct BoxedMut;

/// `Arc<T>`: the C caller holds one reference and the library may keep others (a gate chain that
/// shares a replay cache or a constitution); freeing the handle drops the caller's reference.
pub(crate) struct Shared;

fn box_into_raw<T>(value: T) -> *mut T {
    Box::into_raw(Box::new(value))
}

/// # Safety
/// `p` came from `box_into_raw::<T>` and is released exactly once.
unsafe fn box_release<T>(p: *mut T) {
    // SAFETY: the caller's contract above.
    drop(unsafe { Box::from_raw(p) });
}

impl Ownership for Boxed {
    fn into_raw<T>(value: T) -> *mut T {
        box_into_raw(value)
    }
    unsafe fn release<T>(p: *mut T) {
        // SAFETY: forwarded from the caller.
        unsafe { box_release(p) }
    }
}

impl Ownership for BoxedMut {
    fn into_raw<T>(value: T) -> *mut T {
        box_into_raw(value)
    }
    unsafe fn release<T>(p: *mut T) {
        // SAFETY: forwarded from the caller.
        unsafe { box_release(p) }
    }
}

impl Ownership for Shared {
    fn into_raw<T>(value: T) -> *mut T {
        Arc::into_raw(Arc::new(value)).cast_mut()
    }
    unsafe fn release<T>(p: *mut T) {
        // SAFETY: the caller's contract: `p` came from `Arc::into_raw` and this reference is
        // given back once.
        drop(unsafe { Arc::from_raw(p.cast_const()) });
    }
}

/// An opaque C handle type (`bizra_envelope`, ...) and the Rust value it stands for.
///
/// The C type itself is never instantiated: `*const bizra_envelope` is a cast of a pointer to
/// `Self::Target` made by [`Handle::put`].
pub(crate) trait Handle: Sized {
    /// The Rust value behind the handle.
    type Target;
    /// How the C side owns it: [`Boxed`], [`BoxedMut`] or [`Shared`].
    type Ownership: Ownership;

    /// The value behind a handle argument (`what` names the argument in the NULL error).
    fn arg<'a>(p: *const Self, what: &str) -> FfiResult<&'a Self::Target> {
        // SAFETY: the C contract: `p` is NULL or a live handle of this type (made by `put`, not
        // yet freed), so it points at a `Target` that outlives the call.
        unsafe { p.cast::<Self::Target>().as_ref() }.ok_or_else(|| null(what))
    }

    /// The value behind a handle argument the caller lends exclusively (configuration calls).
    fn arg_mut<'a>(p: *mut Self, what: &str) -> FfiResult<&'a mut Self::Target>
    where
        Self: Handle<Ownership = BoxedMut>,
    {
        // SAFETY: the C contract: `p` is NULL or a live handle that no other thread uses during
        // the call (the type's documentation says so).
        unsafe { p.cast::<Self::Target>().as_mut() }.ok_or_else(|| null(what))
    }

    /// A new reference to a shared handle's value, which the library may keep after the call.
    fn arc(p: *const Self, what: &str) -> FfiResult<Arc<Self::Target>>
    where
        Self: Handle<Ownership = Shared>,
    {
        if p.is_null() {
            return Err(null(what));
        }
        let p = p.cast::<Self::Target>();
        // SAFETY: the C contract: `p` came from `Arc::into_raw` (`Shared::into_raw`) and the
        // caller's reference is alive for the call, so the count is at least 1 while it is
        // raised and a new `Arc` is made from it.
        unsafe {
            Arc::increment_strong_count(p);
            Ok(Arc::from_raw(p))
        }
    }

    /// Writes a new handle holding `value` to an out-param checked by `out`; the caller owns it
    /// and frees it with the type's `*_free`.
    fn put(out: *mut *mut Self, value: Self::Target) -> FfiResult {
        put(out, Self::Ownership::into_raw(value).cast::<Self>());
        Ok(BIZRA_STATUS_OK)
    }

    /// A pointer that lends `value` to C for the duration of a callback (never to be freed).
    fn lend(value: &Self::Target) -> *const Self {
        std::ptr::from_ref(value).cast::<Self>()
    }

    /// Frees a handle made by [`Handle::put`]; NULL is a no-op.
    fn free(p: *mut Self) -> FfiResult<()> {
        if !p.is_null() {
            // SAFETY: the C contract: `p` came from `put` for this type and is freed once.
            unsafe { Self::Ownership::release(p.cast::<Self::Target>()) };
        }
        Ok(())
    }
}

/// Declares the Rust value and ownership behind a C handle type.
macro_rules! handle_type {
    ($c:ty => $target:ty, Shared) => {
        // A value the library keeps references to may be used from any thread.
        const _: fn() = || {
            fn shareable<T: Send + Sync>() {}
            shareable::<$target>();
        };
        impl $crate::handle::Handle for $c {
            type Target = $target;
            type Ownership = $crate::handle::Shared;
        }
    };
    ($c:ty => $target:ty, $ownership:ident) => {
        impl $crate::handle::Handle for $c {
            type Target = $target;
            type Ownership = $crate::handle::$ownership;
        }
    };
}
pub(crate) use handle_type;
