//! Embedded inference: load a GGUF model, stream one answer, get it back as a signed envelope
//! with measured scores, and admit it (or not) through the gate chain.
//!
//! `cargo run --release --example inference -- path/to/model.gguf ["question"]`
//! (`make demo-inference` fetches SmolLM2-135M-Instruct and runs this.)

use std::io::Write;

use bizra::inference::{
    CancelToken, Dimension, Engine, EngineOptions, GenerateRequest, IhsanInputs,
};
use bizra::{GateChain, Identity};

fn main() -> Result<(), bizra::Error> {
    let mut args = std::env::args().skip(1);
    let Some(model) = args.next() else {
        eprintln!("usage: inference MODEL.gguf [QUESTION]");
        std::process::exit(2);
    };
    let question = args
        .next()
        .unwrap_or_else(|| "What is the capital of France? Answer in one word.".into());

    let engine = Engine::load(&model, EngineOptions::default())?;
    let info = engine.info();
    println!(
        "model: {} ({}, {} parameters, {}, tier {}), blake3 {}",
        info.name,
        info.architecture,
        info.parameters,
        info.quantization,
        info.tier,
        info.file_blake3
    );

    // The engine measures efficiency, auditability, anti-centralization and robustness; the
    // caller vouches for the rest (here: pretend a reviewer checked the answer).
    let vouched = IhsanInputs::new()
        .with(Dimension::Correctness, 1.0)
        .with(Dimension::Safety, 1.0)
        .with(Dimension::UserBenefit, 1.0)
        .with(Dimension::AdlFairness, 1.0);
    let request = GenerateRequest::chat(question)
        .system("You are a concise assistant.")
        .greedy()
        .max_tokens(64)
        .ihsan(vouched);

    let id = Identity::generate();
    print!("answer: ");
    let envelope = engine.generate_streaming(
        &id,
        &request,
        &CancelToken::new(),
        Some(Box::new(|piece: &str| {
            print!("{piece}");
            let _ = std::io::stdout().flush();
        })),
    )?;
    println!();
    let p = envelope.payload();
    println!(
        "tokens: {} prompt, {} generated; {} ms prompt, {} ms generation; finish: {}",
        p["tokens"]["prompt"],
        p["tokens"]["completion"],
        p["timings_ms"]["prompt"],
        p["timings_ms"]["generation"],
        p["finish_reason"]
    );
    // SNR is measured on the model's own token probabilities. Ihsan is a weighted sum over
    // dimensions: the engine measures some, the caller vouched for the rest above; the payload
    // says which is which, so say it here too.
    println!(
        "snr {:.3} (measured)",
        envelope.scores().snr.unwrap_or(f64::NAN)
    );
    println!(
        "ihsan {:.3} = weighted sum of:",
        envelope.scores().ihsan.unwrap_or(f64::NAN)
    );
    if let Some(dims) = p["scores"]["ihsan"]["dimensions"].as_object() {
        for (name, d) in dims {
            let source = match d["source"].as_str() {
                Some("supplied") => "vouched for by the caller",
                Some(other) => other,
                None => "?",
            };
            println!(
                "  {name:<20} {:.3} × weight {:.2}  ({source})",
                d["value"].as_f64().unwrap_or(f64::NAN),
                d["weight"].as_f64().unwrap_or(f64::NAN)
            );
        }
    }
    let report = GateChain::default().check(&envelope);
    match report.first_failure() {
        None => println!("gate chain: admitted"),
        Some(f) => println!(
            "gate chain: refused by {} ({})",
            f.name,
            f.detail.clone().unwrap_or_default()
        ),
    }
    println!(
        "envelope: {} bytes, id {}",
        envelope.to_json().len(),
        envelope.id()
    );
    Ok(())
}
