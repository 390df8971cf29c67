//! The five-minute tour: an identity signs an envelope, a receiver admits it through the gate
//! chain, and a tampered copy is refused with its stable reject code.
//!
//! Run it with `make demo` or `cargo run --release --example quickstart`.

use bizra::{Envelope, GateChain, Identity, VerifyOptions};
use serde_json::json;

fn main() -> Result<(), bizra::Error> {
    // 1. A node identity (kept in memory here; `Identity::save` writes a PKCS#8 key file).
    let node = Identity::generate();
    println!("node          {} ({})", node.display_id(), node.node_id());

    // 2. Sign an output: the envelope carries provenance, scores and the constitution hash.
    let envelope = Envelope::builder(json!({
        "type": "bizra.inference",
        "output": "2 + 2 = 4",
    }))
    .snr(0.93)
    .ihsan(0.97)
    .ttl(600)
    .sign(&node)?;
    let wire = envelope.to_json();
    println!("envelope      {wire}");

    // 3. A receiver parses, verifies and admits it through the default gate chain.
    let received = Envelope::parse(&wire)?;
    received.verify(&VerifyOptions::default())?;
    let chain = GateChain::default();
    let report = chain.admit(&received);
    println!("admitted      {}", report.passed);
    for gate in &report.results {
        println!(
            "  gate {:<10} {:<9} passed={} in {:?}",
            gate.name,
            gate.tier.name(),
            gate.passed,
            gate.duration
        );
    }

    // 4. Someone rewrites the output in transit: the content hash no longer matches.
    let tampered = Envelope::parse(&wire.replace("2 + 2 = 4", "2 + 2 = 5"))?;
    match tampered.verify(&VerifyOptions::default()) {
        Ok(()) => println!("tampered copy ACCEPTED (this is a bug)"),
        Err(e) => println!("tampered copy refused: {e}"),
    }
    // 5. Replaying the genuine envelope into the same chain is refused too.
    let replay = chain.admit(&received);
    println!(
        "replay        refused: {}",
        replay
            .first_failure()
            .and_then(|f| f.code)
            .map_or("no".to_string(), |c| c.to_string())
    );
    Ok(())
}
