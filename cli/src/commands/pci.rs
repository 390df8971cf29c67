//! `bizra pci`: sign payloads as envelopes, judge envelopes with the gate chain, list the gates.

use std::path::PathBuf;
use std::sync::Arc;

use bizra::pci::Timestamp;
use bizra::{BuiltinKind, Envelope, EnvelopeOptions, GateChain, GateReport, Scores};
use clap::{Args, Subcommand};
use serde_json::{json, Value};

use crate::context::Context;
use crate::exit::{reject_json, CliError, CliResult, Exit};
use crate::output::score;

/// `bizra pci ...`.
#[derive(Debug, Subcommand)]
pub enum PciCommand {
    /// Sign a JSON payload as a PCI envelope with the node's key; prints the envelope
    Create(CreateArgs),
    /// Read an envelope (a file or stdin) and run it through the gate chain; on refusal, print
    /// the reject code and exit 1
    Verify(VerifyArgs),
    /// List the gate chain: each gate in running order, its tier, budget and reject codes, and
    /// the constitution's thresholds it applies
    Gates,
}

/// `bizra pci create`.
#[derive(Debug, Args)]
pub struct CreateArgs {
    /// The payload, as JSON text [default: --file, else stdin]
    payload: Option<String>,
    /// Read the payload from FILE (`-` for stdin)
    #[arg(long, value_name = "FILE", conflicts_with = "payload")]
    file: Option<PathBuf>,
    /// The SNR score the envelope asserts, in [0, 1]
    #[arg(long, value_name = "SCORE")]
    snr: Option<f64>,
    /// The Ihsan score the envelope asserts, in [0, 1]
    #[arg(long, value_name = "SCORE")]
    ihsan: Option<f64>,
    /// Lifetime in seconds (1 to 3600) [default: 3600]
    #[arg(long, value_name = "SECONDS")]
    ttl: Option<i64>,
    /// The id of an envelope this one derives from (its provenance; repeatable)
    #[arg(long, value_name = "PCI_ID")]
    derived_from: Vec<String>,
    /// Write the envelope to FILE (replaced if it exists) instead of stdout
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
}

/// `bizra pci verify`.
#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// The envelope file (`-` or none: stdin)
    file: Option<PathBuf>,
    /// Judge at this instant instead of now (2025-01-01T00:00:00.000Z): for stored envelopes
    #[arg(long, value_name = "TIMESTAMP")]
    at: Option<String>,
    /// Run only these gates, comma-separated (schema, signature, freshness, replay, policy, snr,
    /// ihsan) [default: all]
    #[arg(long, value_name = "GATES", value_delimiter = ',')]
    gates: Vec<String>,
    /// Run every gate even after a refusal, and report each
    #[arg(long)]
    all: bool,
}

/// Runs `bizra pci ...`.
pub fn run(ctx: &Context, cmd: PciCommand) -> CliResult<Exit> {
    match cmd {
        PciCommand::Create(args) => create(ctx, args),
        PciCommand::Verify(args) => verify(ctx, args),
        PciCommand::Gates => gates(ctx),
    }
}

fn create(ctx: &Context, args: CreateArgs) -> CliResult<Exit> {
    let text = match &args.payload {
        Some(p) => p.clone(),
        None => super::read_text(args.file.as_deref(), "the payload")?,
    };
    let payload = bizra::canonical::parse(&text)
        .map_err(|e| CliError::usage(format!("the payload is not I-JSON: {e}")))?;
    let constitution = ctx.constitution()?;
    let options = EnvelopeOptions {
        ttl: args.ttl,
        provenance: args.derived_from.clone(),
        scores: Scores {
            snr: args.snr,
            ihsan: args.ihsan,
        },
        policy: Some(*constitution.hash()),
        ..EnvelopeOptions::default()
    };
    let id = ctx.identity()?;
    let envelope = Envelope::create_with(&id, payload, options)?;
    let wire = envelope.to_json();
    if let Some(out) = &args.out {
        super::write_file(out, format!("{wire}\n").as_bytes(), true)?;
    }
    let value = json!({
        "envelope": serde_json::from_str::<Value>(&wire).unwrap_or(Value::Null),
        "id": envelope.id(),
        "written_to": args.out,
    });
    ctx.out.emit(&value, |w| match &args.out {
        Some(out) => writeln!(w, "{} written to {}", envelope.id(), out.display()),
        None => writeln!(w, "{wire}"),
    })?;
    Ok(Exit::Ok)
}

/// The chain `--gates` names (every built-in gate when empty), over the configured constitution.
fn chain(ctx: &Context, names: &[String], all: bool) -> CliResult<GateChain> {
    let constitution = ctx.constitution()?;
    let mut chain = if names.is_empty() {
        GateChain::from_constitution(constitution)
    } else {
        let mut c = GateChain::empty(Arc::clone(&constitution));
        for n in names {
            let kind = BuiltinKind::from_name(n.trim()).ok_or_else(|| {
                let known: Vec<&str> = BuiltinKind::ALL.iter().map(|k| k.name()).collect();
                CliError::usage(format!(
                    "--gates: no gate {n:?} (one of {})",
                    known.join(", ")
                ))
            })?;
            c.add_builtin(kind);
        }
        c
    };
    chain.set_report_all(all);
    Ok(chain)
}

fn verify(ctx: &Context, args: VerifyArgs) -> CliResult<Exit> {
    let at = args.at.as_deref().map(super::parse_timestamp).transpose()?;
    let chain = chain(ctx, &args.gates, args.all)?;
    let bytes = super::read_input(args.file.as_deref(), "the envelope")?;
    let now = at.unwrap_or_else(Timestamp::now);
    let envelope = match Envelope::parse_bytes(&bytes) {
        Ok(e) => e,
        Err(e) => {
            let Some(code) = e.reject_code() else {
                return Err(e.into());
            };
            let detail = e.to_string();
            let value = json!({
                "admitted": false,
                "at": now.to_string(),
                "refused_by": "parse",
                "reject": reject_json(code),
                "detail": detail,
                "gates": [],
            });
            ctx.out.emit(&value, |w| {
                writeln!(
                    w,
                    "refused: PCI-{:02} {} ({}): {detail}",
                    code.code(),
                    code.name(),
                    code.description()
                )
            })?;
            return Ok(Exit::Refused);
        }
    };
    let report = chain.check_at(&envelope, now);
    print_report(ctx, &envelope, &report, now)?;
    Ok(if report.passed {
        Exit::Ok
    } else {
        Exit::Refused
    })
}

/// A gate report, as `pci verify` prints it.
pub fn report_json(envelope: &Envelope, report: &GateReport, now: Timestamp) -> Value {
    let first = report.first_failure();
    json!({
        "admitted": report.passed,
        "at": now.to_string(),
        "envelope_id": envelope.id(),
        "sender": envelope.sender(),
        "refused_by": first.map(|r| r.name.clone()),
        "reject": first.and_then(|r| r.code).map(reject_json),
        "detail": first.and_then(|r| r.detail.clone()),
        "gates": report.results.iter().map(|r| json!({
            "name": r.name,
            "tier": r.tier.name(),
            "passed": r.passed,
            "reject": r.code.map(reject_json),
            "detail": r.detail,
            "duration_us": u64::try_from(r.duration.as_micros()).unwrap_or(u64::MAX),
            "over_budget": r.over_budget,
        })).collect::<Vec<_>>(),
    })
}

fn print_report(
    ctx: &Context,
    envelope: &Envelope,
    report: &GateReport,
    now: Timestamp,
) -> CliResult {
    ctx.out.emit(&report_json(envelope, report, now), |w| {
        let who = bizra::identity::display_id(envelope.sender());
        match report.first_failure() {
            None => writeln!(w, "admitted: {} from {who}", envelope.id())?,
            Some(f) => {
                let code = f.code.unwrap_or(bizra::RejectCode::Internal);
                writeln!(
                    w,
                    "refused: PCI-{:02} {} ({}) by the {} gate: {}",
                    code.code(),
                    code.name(),
                    code.description(),
                    f.name,
                    f.detail.as_deref().unwrap_or("")
                )?;
                writeln!(w, "  envelope {} from {who}", envelope.id())?;
            }
        }
        writeln!(
            w,
            "  snr {} · ihsan {} · at {now}",
            score(envelope.scores().snr),
            score(envelope.scores().ihsan)
        )?;
        for r in &report.results {
            let verdict = match r.code {
                None if r.passed => "ok".to_owned(),
                Some(c) => format!("refused PCI-{:02} {}", c.code(), c.name()),
                None => "refused".to_owned(),
            };
            writeln!(w, "  {:<10} {:<7} {verdict}", r.name, r.tier.name())?;
        }
        Ok(())
    })
}

fn gates(ctx: &Context) -> CliResult<Exit> {
    let chain = ctx.gate_chain()?;
    let c = chain.constitution();
    let gates: Vec<Value> = chain
        .gates()
        .into_iter()
        .map(|(name, tier)| {
            let codes = BuiltinKind::from_name(&name)
                .map(|k| k.reject_codes())
                .unwrap_or(&[]);
            json!({
                "name": name,
                "tier": tier.name(),
                "budget_ms": u64::try_from(tier.budget().as_millis()).unwrap_or(u64::MAX),
                "rejects": codes.iter().map(|c| reject_json(*c)).collect::<Vec<_>>(),
            })
        })
        .collect();
    let value = json!({
        "constitution": {
            "version": c.version(),
            "hash": c.hash_hex(),
        },
        "thresholds": {
            "snr": c.snr_threshold(),
            "ihsan_minimum": c.ihsan_minimum(),
            "max_ttl_seconds": c.max_ttl_seconds(),
            "max_clock_skew_seconds": c.max_clock_skew_seconds(),
        },
        "gates": gates,
    });
    ctx.out.emit(&value, |w| {
        writeln!(
            w,
            "Gate chain over constitution {} ({})",
            c.version(),
            c.hash_hex()
        )?;
        writeln!(w, "{:<10} {:<7} {:>7}  REJECTS", "GATE", "TIER", "BUDGET")?;
        for g in &gates {
            let codes: Vec<String> = g["rejects"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .map(|r| {
                            format!(
                                "PCI-{:02} {}",
                                r["code"].as_u64().unwrap_or(0),
                                r["name"].as_str().unwrap_or("")
                            )
                        })
                        .collect()
                })
                .unwrap_or_default();
            writeln!(
                w,
                "{:<10} {:<7} {:>7}  {}",
                g["name"].as_str().unwrap_or(""),
                g["tier"].as_str().unwrap_or(""),
                format!("{} ms", g["budget_ms"]),
                codes.join(", ")
            )?;
        }
        writeln!(
            w,
            "Thresholds: snr ≥ {}, ihsan ≥ {}, ttl ≤ {} s, clock skew ≤ {} s",
            c.snr_threshold(),
            c.ihsan_minimum(),
            c.max_ttl_seconds(),
            c.max_clock_skew_seconds()
        )
    })?;
    Ok(Exit::Ok)
}
