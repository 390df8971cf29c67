//! Inference benchmark: our engine beside llama.cpp's own `llama-bench`, same model, same
//! thread count, in the same run.
//!
//! Measures prompt processing (pp, tokens/s over a 512-token prompt), generation (tg, tokens/s
//! over 128 tokens), time to first token of a short chat prompt, and peak RSS. The model comes
//! from `BIZRA_TEST_MODEL` (set by `make bench-inference`), llama-bench from `BIZRA_LLAMA_BENCH`.
//!
//! Our tg includes what the engine does per token beyond llama-bench (sampling, the softmax over
//! the vocabulary for the measured SNR, detokenisation, stop-string checks): that is the cost a
//! user pays, so it is what is compared.

use std::path::PathBuf;
use std::process::Command;
use std::time::Instant;

use bizra::inference::{CancelToken, Engine, EngineOptions, GenerateRequest};

const THREADS: u32 = 2;
const PP: usize = 512;
const TG: u32 = 128;
const REPS: usize = 3;

fn peak_rss_mb() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

fn mean(xs: &[f64]) -> f64 {
    if xs.is_empty() {
        0.0
    } else {
        xs.iter().sum::<f64>() / xs.len() as f64
    }
}

/// (pp tokens/s, tg tokens/s) from `llama-bench -o json`.
fn llama_bench(bin: &str, model: &PathBuf) -> Result<(f64, f64, String), String> {
    let out = Command::new(bin)
        .args(["-m"])
        .arg(model)
        .args([
            "-t",
            &THREADS.to_string(),
            "-p",
            &PP.to_string(),
            "-n",
            &TG.to_string(),
            "-r",
            &REPS.to_string(),
            "-o",
            "json",
        ])
        .output()
        .map_err(|e| format!("running {bin}: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "{bin} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let v: serde_json::Value =
        serde_json::from_slice(&out.stdout).map_err(|e| format!("llama-bench output: {e}"))?;
    let rows = v.as_array().ok_or("llama-bench output is not an array")?;
    let (mut pp, mut tg, mut build) = (0.0, 0.0, String::new());
    for r in rows {
        let ts = r["avg_ts"].as_f64().unwrap_or(0.0);
        if r["n_prompt"].as_u64().unwrap_or(0) > 0 {
            pp = ts;
        } else {
            tg = ts;
        }
        build = format!(
            "build {} ({})",
            r["build_number"].as_u64().unwrap_or(0),
            r["build_commit"].as_str().unwrap_or("?")
        );
    }
    Ok((pp, tg, build))
}

fn main() {
    // `cargo bench` passes `--bench`; a filter argument other than ours skips this bench.
    if std::env::args()
        .skip(1)
        .any(|a| !a.starts_with('-') && !"inference".contains(a.as_str()))
    {
        return;
    }
    let model = std::env::var_os("BIZRA_TEST_MODEL")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            bizra::ModelRegistry::default_dir().join("SmolLM2-135M-Instruct.Q4_1.gguf")
        });
    if !model.is_file() {
        eprintln!(
            "bench inference: no model at {}: run `make model`",
            model.display()
        );
        std::process::exit(1);
    }
    let load = Instant::now();
    let engine = match Engine::load(
        &model,
        EngineOptions {
            n_ctx: 1024,
            n_threads: Some(THREADS),
            n_batch: 512,
            ..EngineOptions::default()
        },
    ) {
        Ok(e) => e,
        Err(e) => {
            eprintln!("bench inference: {e}");
            std::process::exit(1);
        }
    };
    let load_ms = load.elapsed().as_secs_f64() * 1000.0;

    // A raw prompt of exactly PP tokens would need the tokenizer; a long repeated text is cut to
    // PP tokens by measuring its token count first.
    let unit = "The quick brown fox jumps over the lazy dog while the river runs to the sea. ";
    let probe = engine
        .complete(&GenerateRequest::raw(unit.repeat(40)).greedy().max_tokens(1))
        .map(|c| c.prompt_tokens as usize)
        .unwrap_or(640);
    let per_unit = (probe as f64 / 40.0).max(1.0);
    let units = ((PP as f64) / per_unit).floor() as usize;
    let pp_prompt = unit.repeat(units.max(1));

    let run = |f: &dyn Fn() -> Option<f64>| -> Vec<f64> {
        let _ = f(); // warm-up
        (0..REPS).filter_map(|_| f()).collect()
    };
    let mut pp_tokens = 0;
    let pp = run(&|| {
        let c = engine
            .complete(
                &GenerateRequest::raw(pp_prompt.clone())
                    .greedy()
                    .max_tokens(1),
            )
            .ok()?;
        Some(c.prompt_tokens as f64 / (c.prompt_ms / 1000.0))
    });
    if let Ok(c) = engine.complete(&GenerateRequest::raw(pp_prompt.clone()).max_tokens(1)) {
        pp_tokens = c.prompt_tokens;
    }
    let mut tg_tokens = 0;
    let tg = run(&|| {
        // A counting prompt keeps a small model going for the full 128 tokens.
        let c = engine
            .complete(
                &GenerateRequest::raw("1, 2, 3, 4, 5, 6, 7, 8,")
                    .greedy()
                    .max_tokens(TG),
            )
            .ok()?;
        Some(c.completion_tokens as f64 / (c.generation_ms / 1000.0))
    });
    if let Ok(c) = engine.complete(
        &GenerateRequest::raw("1, 2, 3, 4, 5, 6, 7, 8,")
            .greedy()
            .max_tokens(TG),
    ) {
        tg_tokens = c.completion_tokens;
    }
    let ttft = run(&|| {
        let c = engine
            .complete_with(
                &GenerateRequest::chat("What is the capital of France?")
                    .greedy()
                    .max_tokens(4),
                &CancelToken::new(),
                None,
            )
            .ok()?;
        c.time_to_first_token_ms
    });
    let rss = peak_rss_mb();

    println!("bench inference: SmolLM2-135M-Instruct Q4_1, {THREADS} threads, {REPS} runs each (after a warm-up)");
    println!("  model load                 {load_ms:9.1} ms");
    println!(
        "  bizra  pp{pp_tokens:<4}  prompt      {:9.1} tok/s",
        mean(&pp)
    );
    println!(
        "  bizra  tg{tg_tokens:<4}  generation  {:9.1} tok/s",
        mean(&tg)
    );
    println!("  bizra  time to first token {:9.1} ms", mean(&ttft));
    match rss {
        Some(r) => println!("  bizra  peak RSS            {r:9.1} MB"),
        None => println!("  bizra  peak RSS            n/a"),
    }
    match std::env::var("BIZRA_LLAMA_BENCH") {
        Ok(bin) if !bin.is_empty() => match llama_bench(&bin, &model) {
            Ok((lpp, ltg, build)) => {
                println!("  llama-bench pp{PP}  prompt      {lpp:9.1} tok/s   ({build})");
                println!("  llama-bench tg{TG}  generation  {ltg:9.1} tok/s");
                let (rpp, rtg) = (mean(&pp) / lpp, mean(&tg) / ltg);
                println!("  ratio bizra / llama-bench: prompt {rpp:.3}x, generation {rtg:.3}x (target >= 0.95x)");
            }
            Err(e) => println!("  llama-bench: {e}"),
        },
        _ => println!(
            "  llama-bench: not run (set BIZRA_LLAMA_BENCH, or use `make bench-inference`)"
        ),
    }
}
