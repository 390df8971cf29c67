//! Node binding of bizra: a thin napi-rs v3 layer over the core crate.
//!
//! Type conversion and JavaScript idioms only; every protocol rule lives in the core. One file
//! per handle family, as in every binding: [`identity`], [`envelope`], [`replay`],
//! [`constitution`], [`gates`], [`tier`], [`inference`] (`Model`, `TokenStream`, `Pool`,
//! `Gateway`), [`store`] (`Store`, the autopoiesis store), [`consensus`]
//! (`FederationDocument`, `Certificate`, `Evidence`: checked offline) and [`node`] (federation
//! membership and consensus: `Node`, `NodeEvents`, `ConsensusEvents`). What they share lives beside them: [`errors`]
//! (the error table and the panic guard every export runs under), [`convert`] (values in and
//! out), [`options`] (options objects, read strictly), [`pump`] (the core's event streams as
//! async iterators), [`tasks`] (all work done off the
//! JavaScript thread, the Promises it settles, abort signals and what keeps the event loop
//! alive) and [`json`] (JSON values, read from the tape `index.js` writes). `index.js` turns the
//! addon's errors into `BizraError`/`TypeError`, gives reports their class and streams and
//! handles their symbols.

#![deny(clippy::unwrap_used, clippy::expect_used)]

// Public, as the addon's exports: napi-rs registers them when the addon loads, so the compiler
// sees no other use of them (and, without a public path, would call them dead in test builds).
pub mod consensus;
pub mod constitution;
mod convert;
pub mod envelope;
pub mod errors;
pub mod gates;
pub mod identity;
pub mod inference;
pub mod json;
pub mod node;
pub mod options;
mod pump;
pub mod replay;
pub mod store;
pub mod tasks;
#[cfg(feature = "test-hooks")]
pub mod test_hooks;
pub mod tier;

use napi_derive::napi;

use errors::{guard, Result};

/// The core library's version.
#[napi]
pub fn version() -> Result<String> {
    guard(|| Ok(bizra::VERSION.to_owned()))
}

/// Node reads this when it loads the addon. The experimental version opts into finalizers that
/// run during garbage collection, where they may only free native memory and release references
/// (every finalizer here does only that: napi-rs's class finalizer, `FunctionRef`, `JsRef`),
/// instead of waiting in a queue for a later turn of the event loop. With the queue, an
/// envelope's native memory (about 2 KiB) outlived its object until the loop turned: a
/// synchronous loop of `Envelope.create` grew the heap without bound, and each finalizer ran cold
/// (about 1 µs per envelope in `make bench-node`). It also means a reference may be made to any
/// value, so functions and objects are checked by type, never by a failing reference. The suite's
/// `gc.test.mjs` drops every kind of object under forced collections.
#[no_mangle]
pub extern "C" fn node_api_module_get_api_version_v1() -> i32 {
    i32::MAX // NAPI_VERSION_EXPERIMENTAL
}
