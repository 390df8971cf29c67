//! The Rust baseline of the Python benchmark: the same work as `Envelope.create` / `verify`, timed
//! in a loop of the core alone (no Python in it), in the same process and build.

use std::time::Instant;

use pyo3::prelude::*;
use pyo3::types::PyDict;

use crate::convert::to_value;
use crate::{guard, to_py};

/// Times `iterations` envelope creations and verifications of `payload` in pure Rust; returns
/// {"create_ns", "verify_ns", "parse_verify_ns"} (nanoseconds per operation). Used by bench/bench.py.
#[pyfunction]
fn _rust_bench<'py>(
    py: Python<'py>,
    payload: &Bound<'py, PyAny>,
    iterations: u32,
) -> PyResult<Bound<'py, PyDict>> {
    guard(|| {
        let value = to_value(payload, "payload")?;
        let id = bizra::Identity::generate();
        let iterations = iterations.max(1);
        let (create_ns, verify_ns, parse_verify_ns) = py
            .detach(|| -> bizra::Result<(f64, f64, f64)> {
                let start = Instant::now();
                let mut last = None;
                for _ in 0..iterations {
                    last = Some(bizra::Envelope::create(&id, value.clone())?);
                }
                let create = start.elapsed().as_nanos() as f64 / f64::from(iterations);
                let env = match last {
                    Some(e) => e,
                    None => bizra::Envelope::create(&id, value.clone())?,
                };
                let opts = bizra::VerifyOptions::default();
                let start = Instant::now();
                for _ in 0..iterations {
                    env.verify(&opts)?;
                }
                let verify = start.elapsed().as_nanos() as f64 / f64::from(iterations);
                let text = env.to_json();
                let start = Instant::now();
                for _ in 0..iterations {
                    bizra::Envelope::parse(&text)?.verify(&opts)?;
                }
                let parse_verify = start.elapsed().as_nanos() as f64 / f64::from(iterations);
                Ok((create, verify, parse_verify))
            })
            .map_err(to_py)?;
        let d = PyDict::new(py);
        d.set_item("create_ns", create_ns)?;
        d.set_item("verify_ns", verify_ns)?;
        d.set_item("parse_verify_ns", parse_verify_ns)?;
        Ok(d)
    })
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(_rust_bench, m)?)?;
    Ok(())
}
