//! Python binding of bizra: a thin pyo3 layer over the core crate.
//!
//! Type conversion and Python idioms only; every rule of the protocol lives in the core. The native
//! module is `bizra._native`; the package `bizra` (python/bizra/__init__.py) re-exports it.
//!
//! One file per handle family (identity, envelope, gates, constitution, tier, inference, node,
//! consensus, store), plus the exceptions (`errors.rs`, one class per kind of the core's error table),
//! the conversions, and the waiting shared by a node's event streams (`stream.rs`).
//! Every entry point runs through [`guard`], so a Rust panic surfaces as `bizra.PanicError` (a
//! `BizraError`) and never as pyo3's `PanicException` (a `BaseException`), and slow work
//! (signing, verification, batches, PEM encryption, gate chains, inference, a federation node's
//! start, leave, consensus calls and event waits, the store's database, embedding and exchange
//! work) runs with the GIL released.
//!
//! Cargo features: `test-hooks` adds `_panic_for_tests` (the suite's way to cross the boundary
//! with a panic) and `bench` adds `_rust_bench` (the benchmark's Rust baseline). Neither is in the
//! default build, so a wheel from `pip install ./bindings/python` ships neither.

use std::panic::{catch_unwind, AssertUnwindSafe};

use pyo3::prelude::*;
use pyo3::types::PyDict;

#[cfg(feature = "bench")]
mod bench;
mod consensus;
mod constitution;
mod convert;
mod envelope;
mod errors;
mod gates;
mod gateway;
mod identity;
mod inference;
mod node;
mod store;
mod stream;
mod tier;

pub(crate) use errors::{internal, invalid, to_py};

/// Runs an entry point, turning a Rust panic into `bizra.PanicError` (kind PANIC).
pub(crate) fn guard<T>(f: impl FnOnce() -> PyResult<T>) -> PyResult<T> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(r) => r,
        Err(payload) => {
            let what = payload
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".to_owned());
            Err(errors::error(
                bizra::ErrorKind::Panic,
                format!("internal error (a Rust panic in bizra): {what}"),
            ))
        }
    }
}

/// Panics inside the boundary; the test suite checks that this arrives as `bizra.PanicError`.
/// Only in a build with the `test-hooks` feature (`make test-python`), never in a shipped wheel.
#[cfg(feature = "test-hooks")]
#[pyfunction]
fn _panic_for_tests(message: &str) -> PyResult<()> {
    guard(|| panic!("{message}"))
}

/// Name of a reject code (`15` → `"HASH_MISMATCH"`, `0` → `"SUCCESS"`); `InvalidInputError` (a
/// `ValueError`) for numbers the spec does not define.
#[pyfunction]
fn reject_name(code: u32) -> PyResult<&'static str> {
    guard(|| {
        bizra::RejectCode::name_of(code)
            .ok_or_else(|| invalid(format!("{code} is not a PCI reject code")))
    })
}

#[pymodule]
#[pyo3(name = "_native")]
fn native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add("__version__", bizra::VERSION)?;
    errors::register(m)?;
    let codes = PyDict::new(py);
    codes.set_item(0, bizra::pci::SUCCESS_NAME)?;
    for c in bizra::RejectCode::ALL {
        codes.set_item(c.code(), c.name())?;
    }
    m.add("REJECT_CODES", codes)?;
    m.add("MAX_DEPTH", bizra::canonical::MAX_DEPTH)?;
    m.add("DEFAULT_TTL_SECONDS", bizra::pci::DEFAULT_TTL_SECONDS)?;
    m.add("MAX_TTL_SECONDS", bizra::pci::MAX_TTL_SECONDS)?;
    m.add("MAX_CLOCK_SKEW_SECONDS", bizra::pci::MAX_CLOCK_SKEW_SECONDS)?;
    m.add("MAX_PROVENANCE", bizra::pci::MAX_PROVENANCE)?;
    m.add("MAX_PAYLOAD_BYTES", bizra::pci::MAX_PAYLOAD_BYTES)?;
    m.add(
        "DEFAULT_REPLAY_CAPACITY",
        bizra::ReplayCache::DEFAULT_CAPACITY,
    )?;
    m.add_function(wrap_pyfunction!(reject_name, m)?)?;
    #[cfg(feature = "test-hooks")]
    m.add_function(wrap_pyfunction!(_panic_for_tests, m)?)?;
    m.add_function(wrap_pyfunction!(convert::canonicalize, m)?)?;
    identity::register(m)?;
    envelope::register(m)?;
    gates::register(m)?;
    constitution::register(m)?;
    tier::register(m)?;
    #[cfg(feature = "bench")]
    bench::register(m)?;
    inference::register(m)?;
    gateway::register(m)?;
    node::register(m)?;
    consensus::register(m)?;
    store::register(m)?;
    Ok(())
}
