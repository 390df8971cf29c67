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

mod common;

use bizra::inference::{CancelToken, Completion, Engine, EngineOptions, GenerateRequest};

const THREADS: u32 = 2;
const PP: usize = 512;
const TG: u32 = 128;
/// Runs per round, averaged, on both sides (llama-bench's `-r`).
const REPS: usize = 3;
const ROUNDS: usize = 5;

fn peak_rss_mb() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

fn best(xs: &[f64]) -> f64 {
    xs.iter().copied().fold(0.0, f64::max)
}

fn median(xs: &[f64]) -> f64 {
    let mut v = xs.to_vec();
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(0.0)
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
        // Built outside git, llama-bench knows no build number; the build script leaves a
        // VERSION file beside it naming the source.
        build = std::fs::read_to_string(std::path::Path::new(bin).with_file_name("VERSION"))
            .map(|v| v.trim().to_owned())
            .unwrap_or_else(|_| {
                format!(
                    "build {} ({})",
                    r["build_number"].as_u64().unwrap_or(0),
                    r["build_commit"].as_str().unwrap_or("?")
                )
            });
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

    // Each measurement is REPS runs, tokens over time, as llama-bench's `avg_ts` of `-r REPS`:
    // `count` picks the phase measured, (tokens, milliseconds), from a completion.
    let rate = |request: &GenerateRequest, count: fn(&Completion) -> (u32, f64)| {
        let (mut tokens, mut ms) = (0u32, 0.0);
        for _ in 0..REPS {
            let (t, m) = count(&engine.complete(request).ok()?);
            tokens = t;
            ms += m;
        }
        Some((f64::from(tokens) * REPS as f64 / (ms / 1000.0), tokens))
    };
    let pp_request = GenerateRequest::raw(pp_prompt).greedy().max_tokens(1);
    let pp_once = || rate(&pp_request, |c| (c.prompt_tokens, c.prompt_ms));
    // A counting prompt keeps a small model going for the full 128 tokens.
    let tg_request = GenerateRequest::raw("1, 2, 3, 4, 5, 6, 7, 8,")
        .greedy()
        .max_tokens(TG);
    let tg_once = || rate(&tg_request, |c| (c.completion_tokens, c.generation_ms));
    let ttft_once = || -> Option<f64> {
        engine
            .complete_with(
                &GenerateRequest::chat("What is the capital of France?")
                    .greedy()
                    .max_tokens(4),
                &CancelToken::new(),
                None,
            )
            .ok()?
            .time_to_first_token_ms
    };
    let _ = (pp_once(), tg_once(), ttft_once()); // warm-up

    // Rounds alternate our engine and llama-bench, so that both see the same machine load (this
    // machine is shared); the best round of each is compared.
    let bench_bin = std::env::var("BIZRA_LLAMA_BENCH")
        .ok()
        .filter(|b| !b.is_empty());
    let (mut pp, mut tg, mut ttft) = (Vec::new(), Vec::new(), Vec::new());
    let (mut lpp, mut ltg) = (Vec::new(), Vec::new());
    let (mut pp_tokens, mut tg_tokens, mut build, mut bench_err) = (0, 0, String::new(), None);
    for _ in 0..ROUNDS {
        if let Some((v, n)) = pp_once() {
            pp.push(v);
            pp_tokens = n;
        }
        if let Some((v, n)) = tg_once() {
            tg.push(v);
            tg_tokens = n;
        }
        ttft.extend(ttft_once());
        if let Some(bin) = &bench_bin {
            match llama_bench(bin, &model) {
                Ok((p, t, b)) => {
                    lpp.push(p);
                    ltg.push(t);
                    build = b;
                }
                Err(e) => bench_err = Some(e),
            }
        }
    }
    let rss = peak_rss_mb();

    println!(
        "bench inference: SmolLM2-135M-Instruct Q4_1, {THREADS} threads, best of {ROUNDS} \
         interleaved rounds (median in brackets)"
    );
    println!("  machine: {}", common::machine());
    println!("  model load                       {load_ms:9.1} ms");
    println!(
        "  bizra       pp{pp_tokens:<4} prompt      {:9.1} tok/s  [{:.1}]",
        best(&pp),
        median(&pp)
    );
    println!(
        "  bizra       tg{tg_tokens:<4} generation  {:9.1} tok/s  [{:.1}]",
        best(&tg),
        median(&tg)
    );
    println!(
        "  bizra       time to first token   {:9.1} ms     [{:.1}]",
        ttft.iter().copied().fold(f64::INFINITY, f64::min),
        median(&ttft)
    );
    match rss {
        Some(r) => println!("  bizra       peak RSS              {r:9.1} MB"),
        None => println!("  bizra       peak RSS              n/a"),
    }
    match (&bench_bin, bench_err) {
        (None, _) => println!(
            "  llama-bench: not run (set BIZRA_LLAMA_BENCH, or use `make bench-inference`)"
        ),
        (Some(_), Some(e)) if lpp.is_empty() => println!("  llama-bench: {e}"),
        (Some(_), _) => {
            println!(
                "  llama-bench pp{PP}  prompt      {:9.1} tok/s  [{:.1}]   ({build})",
                best(&lpp),
                median(&lpp)
            );
            println!(
                "  llama-bench tg{TG}  generation  {:9.1} tok/s  [{:.1}]",
                best(&ltg),
                median(&ltg)
            );
            println!(
                "  ratio bizra / llama-bench: prompt {:.3}x, generation {:.3}x (target >= 0.95x)",
                best(&pp) / best(&lpp),
                best(&tg) / best(&ltg)
            );
        }
    }
}
