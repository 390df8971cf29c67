//! `bizra inference "<prompt>"`: one answer, streamed as it is generated, signed as a PCI
//! envelope by the node's key, and judged by the gate chain.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use bizra::inference::{Dimension, IhsanInputs, TokenCallback};
use bizra::{
    CancelToken, Engine, EngineOptions, Envelope, Gateway, GenerateRequest, ModelRegistry,
    ModelTier,
};
use clap::Args;
use serde_json::{json, Value};

use crate::context::Context;
use crate::exit::{CliError, CliResult, Exit};
use crate::output::score;

/// `bizra inference`.
#[derive(Debug, Args)]
pub struct InferenceArgs {
    /// The prompt; `-` or none reads it from stdin
    prompt: Option<String>,
    /// The model: a registry key or a path to a .gguf file [default: [inference] model, else the
    /// registry's model for the tier the prompt needs]
    #[arg(long, value_name = "MODEL")]
    model: Option<String>,
    /// A system message (chat prompts only)
    #[arg(long, value_name = "TEXT")]
    system: Option<String>,
    /// Give the prompt to the model as it is, without its chat template
    #[arg(long)]
    raw: bool,
    /// Most tokens to generate [default: [inference] max_tokens, else 256]
    #[arg(long, value_name = "N")]
    max_tokens: Option<u32>,
    /// Sampling temperature; 0 is greedy [default: [inference] temperature, else 0.8]
    #[arg(long, value_name = "T")]
    temperature: Option<f32>,
    /// Greedy decoding (temperature 0): the same answer every time
    #[arg(long, conflicts_with = "temperature")]
    greedy: bool,
    /// The sampling seed [default: drawn, and recorded in the envelope]
    #[arg(long, value_name = "N")]
    seed: Option<u32>,
    /// Stop before this text (repeatable)
    #[arg(long, value_name = "TEXT")]
    stop: Vec<String>,
    /// Route through the registry at this tier (edge, local, pool) instead of the one estimated
    /// from the prompt (the configured model is then not used)
    #[arg(long, value_name = "TIER", value_parser = parse_tier, conflicts_with = "model")]
    tier: Option<ModelTier>,
    /// Vouch for an Ihsan dimension the engine cannot measure, DIMENSION=VALUE in [0, 1]
    /// (correctness, safety, user_benefit, adl_fairness; repeatable)
    #[arg(long, value_name = "DIM=VALUE")]
    vouch: Vec<String>,
    /// The envelope's lifetime in seconds (1 to 3600)
    #[arg(long, value_name = "SECONDS")]
    ttl: Option<i64>,
    /// The id of an envelope the prompt derives from (its provenance; repeatable)
    #[arg(long, value_name = "PCI_ID")]
    derived_from: Vec<String>,
    /// Print the signed envelope (canonical JSON) on stdout; the answer streams to stderr
    #[arg(long)]
    envelope: bool,
    /// Also write the signed envelope to FILE (replaced if it exists)
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
    /// CPU threads [default: [inference] threads, else the physical cores]
    #[arg(long, value_name = "N")]
    threads: Option<u32>,
    /// Context window in tokens [default: [inference] context, else 2048]
    #[arg(long, value_name = "TOKENS")]
    context: Option<u32>,
}

fn parse_tier(s: &str) -> Result<ModelTier, String> {
    ModelTier::from_name(s).ok_or_else(|| format!("{s:?} is not a tier: edge, local or pool"))
}

fn parse_vouch(items: &[String]) -> CliResult<IhsanInputs> {
    let mut inputs = IhsanInputs::new();
    for item in items {
        let (name, value) = item.split_once('=').ok_or_else(|| {
            CliError::usage(format!("--vouch {item:?}: expected DIMENSION=VALUE"))
        })?;
        let dim = Dimension::from_name(name.trim()).ok_or_else(|| {
            let names: Vec<&str> = Dimension::ALL
                .iter()
                .filter(|d| !d.is_measured())
                .map(|d| d.name())
                .collect();
            CliError::usage(format!(
                "--vouch {item:?}: unknown dimension {name:?} (one of {})",
                names.join(", ")
            ))
        })?;
        let v: f64 = value
            .trim()
            .parse()
            .map_err(|_| CliError::usage(format!("--vouch {item:?}: {value:?} is not a number")))?;
        inputs = inputs.with(dim, v);
    }
    Ok(inputs)
}

/// Runs `bizra inference`.
pub fn run(ctx: &Context, args: InferenceArgs) -> CliResult<Exit> {
    let cfg = &ctx.config.inference;
    let prompt = match args.prompt.as_deref() {
        Some(p) if p != "-" => p.to_owned(),
        _ => super::read_text(None, "the prompt")?,
    };
    if prompt.trim().is_empty() {
        return Err(CliError::usage("the prompt is empty"));
    }
    let mut request = if args.raw {
        if args.system.is_some() {
            return Err(CliError::usage(
                "--system applies to chat prompts, not to --raw ones",
            ));
        }
        GenerateRequest::raw(prompt)
    } else {
        GenerateRequest::chat(prompt)
    };
    if !args.raw {
        if let Some(s) = args.system.as_ref().or(cfg.system.as_ref()) {
            request = request.system(s.clone());
        }
    }
    if let Some(n) = args.max_tokens.or(cfg.max_tokens) {
        request = request.max_tokens(n);
    }
    if args.greedy {
        request = request.greedy();
    } else if let Some(t) = args.temperature.or(cfg.temperature) {
        request = request.temperature(t);
    }
    if let Some(s) = args.seed.or(cfg.seed) {
        request = request.seed(s);
    }
    for s in &args.stop {
        request = request.stop(s.clone());
    }
    if let Some(t) = args.tier {
        request = request.tier(t);
    }
    request = request.ihsan(parse_vouch(&args.vouch)?);
    request.ttl = args.ttl;
    request.provenance = args.derived_from.clone();

    let options = ctx.engine_options(args.context, args.threads);

    // The key first: a wrong passphrase should not wait for a model to load.
    let identity = ctx.identity()?;
    // --tier asks the gateway to route, whatever model the configuration names.
    let model = args
        .model
        .clone()
        .or_else(|| args.tier.is_none().then(|| cfg.model.clone()).flatten());

    // Where the answer streams: stdout, unless stdout carries the envelope or the JSON.
    let to_stderr = ctx.out.json() || args.envelope;
    let cancel = CancelToken::new();
    let on_token: TokenCallback = {
        let cancel = cancel.clone();
        Box::new(move |piece: &str| {
            let ok = if to_stderr {
                let mut e = std::io::stderr().lock();
                e.write_all(piece.as_bytes()).and_then(|()| e.flush())
            } else {
                let mut o = std::io::stdout().lock();
                o.write_all(piece.as_bytes()).and_then(|()| o.flush())
            };
            if ok.is_err() {
                // The reader went away: stop generating.
                cancel.cancel();
            }
        })
    };

    let started = Instant::now();
    let envelope = match &model {
        Some(m) => {
            let engine = load_model(ctx, m, options)?;
            tracing::info!(model = %engine.info().name, "model loaded");
            engine.generate_streaming(&identity, &request, &cancel, Some(on_token))
        }
        None => {
            let registry = ModelRegistry::open(ctx.models_dir())?.with_options(options);
            let gateway = Gateway::builder()
                .registry(registry)
                .fallback(ModelTier::Local, ModelTier::Edge)
                .build()?;
            gateway.generate_streaming(&identity, &request, &cancel, Some(on_token))
        }
    }?;
    let elapsed = started.elapsed();
    // Saved first: a reader that went away does not lose the signed answer.
    if let Some(path) = &args.out {
        super::write_file(path, format!("{}\n", envelope.to_json()).as_bytes(), true)?;
    }
    let output = envelope.payload()["output"].as_str().unwrap_or_default();
    if !output.is_empty() && !output.ends_with('\n') {
        if to_stderr {
            eprintln!();
        } else {
            ctx.out.raw("\n")?;
        }
    }
    let report = ctx.gate_chain()?.check(&envelope);
    let summary = summary_json(&envelope, &report, elapsed.as_secs_f64());
    if ctx.out.json() {
        let value = json!({
            "output": output,
            "envelope": serde_json::from_str::<Value>(&envelope.to_json()).unwrap_or(Value::Null),
            "summary": summary,
            "written_to": args.out,
        });
        ctx.out.emit(&value, |_| Ok(()))?;
    } else {
        if args.envelope {
            ctx.out.raw(&format!("{}\n", envelope.to_json()))?;
        }
        print_summary(&envelope, &summary, args.out.as_deref());
    }
    Ok(Exit::Ok)
}

/// An engine for `model`: a path to a GGUF file, else a key of the registry.
pub(crate) fn load_model(ctx: &Context, model: &str, options: EngineOptions) -> CliResult<Engine> {
    let path = Path::new(model);
    if path.is_file() {
        return Ok(Engine::load(path, options)?);
    }
    let looks_like_path = model.contains(std::path::MAIN_SEPARATOR)
        || model.contains('/')
        || model.to_ascii_lowercase().ends_with(".gguf");
    if looks_like_path {
        return Err(CliError::new(
            Exit::Model,
            format!("model {model}: no such file"),
        ));
    }
    let registry = ModelRegistry::open(ctx.models_dir())?.with_options(options);
    Ok(registry.load(model)?)
}

fn summary_json(envelope: &Envelope, report: &bizra::GateReport, seconds: f64) -> Value {
    let p = envelope.payload();
    let generated = p["tokens"]["completion"].as_u64().unwrap_or(0);
    let gen_ms = p["timings_ms"]["generation"].as_f64().unwrap_or(0.0);
    let refusal = report.first_failure();
    json!({
        "envelope_id": envelope.id(),
        "sender": envelope.sender(),
        "model": p["model"]["name"],
        "tier": p["tier"],
        "finish_reason": p["finish_reason"],
        "tokens": p["tokens"],
        "tokens_per_second": (gen_ms > 0.0).then(|| generated as f64 * 1000.0 / gen_ms),
        "seconds": seconds,
        "snr": envelope.scores().snr,
        "ihsan": envelope.scores().ihsan,
        "gates": {
            "admitted": report.passed,
            "refused_by": refusal.map(|r| r.name.clone()),
            "reject": refusal.and_then(|r| r.code).map(crate::exit::reject_json),
            "detail": refusal.and_then(|r| r.detail.clone()),
        },
    })
}

/// The summary for people, on stderr (stdout holds the answer or the envelope).
fn print_summary(envelope: &Envelope, s: &Value, written: Option<&Path>) {
    let mut e = std::io::stderr().lock();
    let tps = s["tokens_per_second"]
        .as_f64()
        .map_or_else(|| "-".to_owned(), |t| format!("{t:.1}"));
    let _ = writeln!(
        e,
        "── {} ({} tier) · {} prompt + {} generated tokens · {tps} tok/s · finish: {}",
        s["model"].as_str().unwrap_or("?"),
        s["tier"].as_str().unwrap_or("?"),
        s["tokens"]["prompt"],
        s["tokens"]["completion"],
        s["finish_reason"].as_str().unwrap_or("?"),
    );
    let _ = writeln!(
        e,
        "── signed {} by {} · snr {} · ihsan {}",
        envelope.id(),
        bizra::identity::display_id(envelope.sender()),
        score(envelope.scores().snr),
        score(envelope.scores().ihsan),
    );
    let gates = &s["gates"];
    if gates["admitted"].as_bool() == Some(true) {
        let _ = writeln!(e, "── gate chain: admitted");
    } else {
        let _ = writeln!(
            e,
            "── gate chain: refused by {} with PCI-{:02} {} ({})",
            gates["refused_by"].as_str().unwrap_or("?"),
            gates["reject"]["code"].as_u64().unwrap_or(0),
            gates["reject"]["name"].as_str().unwrap_or("?"),
            gates["detail"].as_str().unwrap_or(""),
        );
    }
    if let Some(p) = written {
        let _ = writeln!(e, "── envelope written to {}", p.display());
    }
}
