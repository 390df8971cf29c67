//! The Rust baseline of `make bench-node`: envelope create and verify with the core alone, on the
//! payload the Node bench passes (argv[1], JSON) for argv[2] milliseconds each. Prints JSON.

use std::time::{Duration, Instant};

use bizra::{Envelope, Identity, Timestamp, VerifyOptions};

fn time_per_op(budget: Duration, mut f: impl FnMut()) -> f64 {
    for _ in 0..200 {
        f();
    }
    let start = Instant::now();
    let mut n = 0u64;
    while start.elapsed() < budget {
        for _ in 0..100 {
            f();
        }
        n += 100;
    }
    start.elapsed().as_nanos() as f64 / n as f64
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let payload = bizra::canonical::parse(
        args.get(1)
            .ok_or("usage: bizra-node-bench PAYLOAD_JSON MILLIS")?,
    )?;
    let ms: u64 = args.get(2).map_or(Ok(1000), |s| s.parse())?;
    let budget = Duration::from_millis(ms);
    let id = Identity::from_seed(&[7u8; 32])?;
    let at = Timestamp::from_unix_millis(1_769_731_200_000).ok_or("timestamp")?;
    let create = time_per_op(budget, || {
        let env = Envelope::builder(payload.clone())
            .snr(0.93)
            .ihsan(0.97)
            .timestamp(at)
            .sign(&id);
        std::hint::black_box(env.is_ok());
    });
    let env = Envelope::builder(payload.clone())
        .snr(0.93)
        .ihsan(0.97)
        .timestamp(at)
        .sign(&id)?;
    let opts = VerifyOptions::default().at(at);
    let verify = time_per_op(budget, || {
        std::hint::black_box(env.verify(&opts).is_ok());
    });
    println!("{{\"create_ns\":{create:.1},\"verify_ns\":{verify:.1}}}");
    Ok(())
}
