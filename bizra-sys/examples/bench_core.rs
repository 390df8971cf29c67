//! The Rust side of `make bench-c`: envelope create and verify through the core's Rust API, the
//! same work `benches/c/bench_c.c` does through the C ABI (payload text parsed, scores set,
//! system clock). Prints `create_ns verify_ns` per operation for `benches/c/compare.py`.

use std::hint::black_box;
use std::time::Instant;

use bizra_core::{canonical, Envelope, Identity, VerifyOptions};

const PAYLOAD: &str =
    r#"{"model":"smollm2-135m","prompt":"What is 2+2?","answer":"4","tokens":[1,2,3]}"#;

fn main() -> Result<(), bizra_core::Error> {
    let iters: u32 = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(2000);
    let id = Identity::from_seed(&[7u8; 32])?;
    let create = || -> Result<Envelope, bizra_core::Error> {
        let payload = canonical::parse(black_box(PAYLOAD))
            .map_err(|e| bizra_core::Error::InvalidInput(e.to_string()))?;
        Envelope::builder(payload).snr(0.93).ihsan(0.97).sign(&id)
    };
    for _ in 0..iters / 10 {
        black_box(create()?);
    }
    let start = Instant::now();
    for _ in 0..iters {
        black_box(create()?);
    }
    let create_ns = start.elapsed().as_nanos() as f64 / f64::from(iters);

    let env = create()?;
    let opts = VerifyOptions::default();
    let start = Instant::now();
    for _ in 0..iters {
        black_box(&env).verify(black_box(&opts))?;
    }
    let verify_ns = start.elapsed().as_nanos() as f64 / f64::from(iters);
    println!("{create_ns:.1} {verify_ns:.1}");
    Ok(())
}
