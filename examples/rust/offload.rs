//! GPU offload on one model, measured: the engine loaded with every layer on the GPU and with
//! none, prompt speed (a ~500-token prompt) and generation speed (128 tokens) of each, best of
//! three, and one signed answer per side, verified. Built with `--features cuda` and run on a
//! machine with an NVIDIA GPU, it shows what offloading buys; in a CPU build both sides run on
//! the CPU (llama.cpp ignores the layer count) and the figures say so.
//!
//! `cargo run --release --features cuda --example offload -- path/to/model.gguf`

use std::time::Instant;

use bizra::inference::{Completion, Engine, EngineOptions, GenerateRequest};
use bizra::{Identity, VerifyOptions};

const PP_UNITS: usize = 30;
const TG: u32 = 128;
const RUNS: usize = 3;

struct Side {
    load_ms: f64,
    pp_tps: f64,
    pp_tokens: u32,
    tg_tps: f64,
    tg_tokens: u32,
    answer: String,
}

fn measure(model: &str, n_gpu_layers: u32) -> Result<Side, bizra::Error> {
    let started = Instant::now();
    let engine = Engine::load(
        model,
        EngineOptions {
            n_ctx: 2048,
            n_batch: 512,
            n_gpu_layers,
            ..EngineOptions::default()
        },
    )?;
    let load_ms = started.elapsed().as_secs_f64() * 1000.0;
    let pp_request = GenerateRequest::raw(
        "The quick brown fox jumps over the lazy dog while the river runs to the sea. "
            .repeat(PP_UNITS),
    )
    .greedy()
    .max_tokens(1);
    // A counting prompt keeps a small model going for the full 128 tokens.
    let tg_request = GenerateRequest::raw("1, 2, 3, 4, 5, 6, 7, 8,")
        .greedy()
        .max_tokens(TG);
    let best = |request: &GenerateRequest,
                count: fn(&Completion) -> (u32, f64)|
     -> Result<(f64, u32), bizra::Error> {
        engine.complete(request)?; // warm-up
        let mut best = (0.0f64, 0);
        for _ in 0..RUNS {
            let (tokens, ms) = count(&engine.complete(request)?);
            let rate = f64::from(tokens) / (ms / 1000.0);
            if rate > best.0 {
                best = (rate, tokens);
            }
        }
        Ok(best)
    };
    let (pp_tps, pp_tokens) = best(&pp_request, |c| (c.prompt_tokens, c.prompt_ms))?;
    let (tg_tps, tg_tokens) = best(&tg_request, |c| (c.completion_tokens, c.generation_ms))?;

    let id = Identity::generate();
    let envelope = engine.generate(
        &id,
        &GenerateRequest::chat("What is the capital of France? Answer in one word.")
            .greedy()
            .max_tokens(16),
    )?;
    envelope.verify(&VerifyOptions::default())?;
    let answer = envelope.payload()["output"]
        .as_str()
        .unwrap_or_default()
        .trim()
        .to_owned();
    Ok(Side {
        load_ms,
        pp_tps,
        pp_tokens,
        tg_tps,
        tg_tokens,
        answer,
    })
}

fn main() -> Result<(), bizra::Error> {
    let Some(model) = std::env::args().nth(1) else {
        eprintln!("usage: offload MODEL.gguf");
        std::process::exit(2);
    };
    println!(
        "build: {}",
        if cfg!(feature = "cuda") {
            "cuda feature on"
        } else {
            "CPU only (the layer count is ignored)"
        }
    );
    let gpu = measure(&model, u32::MAX)?;
    let cpu = measure(&model, 0)?;
    println!("side      | load ms | prompt tok/s       | generation tok/s   | answer (verified envelope)");
    for (name, s) in [("all GPU", &gpu), ("CPU only", &cpu)] {
        println!(
            "{name:<9} | {:>7.0} | {:>8.0} ({:>3} tok) | {:>8.1} ({:>3} tok) | {:?}",
            s.load_ms, s.pp_tps, s.pp_tokens, s.tg_tps, s.tg_tokens, s.answer
        );
    }
    println!(
        "offload speed-up: prompt {:.1}×, generation {:.1}×",
        gpu.pp_tps / cpu.pp_tps,
        gpu.tg_tps / cpu.tg_tps
    );
    Ok(())
}
