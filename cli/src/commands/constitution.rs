//! `bizra constitution`: the constitution in force (`[policy] constitution`, else the embedded
//! default), its thresholds, or an envelope's compliance with it.

use std::path::PathBuf;

use bizra::constitution::Enforcement;
use bizra::{ComplianceInput, Envelope};
use clap::Args;
use serde_json::{json, Value};

use crate::context::Context;
use crate::exit::{CliResult, Exit};

/// `bizra constitution`.
#[derive(Debug, Args)]
pub struct ConstitutionArgs {
    /// Only the thresholds (Ihsan, SNR, ttl, clock skew, quorum)
    #[arg(long, conflicts_with = "check")]
    thresholds: bool,
    /// Check an envelope's compliance (a file, or `-` for stdin); exit 1 when it is not
    /// compliant
    #[arg(long, value_name = "FILE")]
    check: Option<PathBuf>,
}

fn enforcement(e: Enforcement) -> &'static str {
    match e {
        Enforcement::Strict => "strict",
        Enforcement::Advisory => "advisory",
    }
}

/// Runs `bizra constitution`.
pub fn run(ctx: &Context, args: ConstitutionArgs) -> CliResult<Exit> {
    let c = ctx.constitution()?;
    let source = ctx.config.constitution_file(&ctx.data_dir).map_or_else(
        || "embedded default".to_owned(),
        |p| p.display().to_string(),
    );
    let thresholds = json!({
        "ihsan_minimum": c.ihsan_minimum(),
        "ihsan_target": c.ihsan_target(),
        "snr_threshold": c.snr_threshold(),
        "max_ttl_seconds": c.max_ttl_seconds(),
        "max_clock_skew_seconds": c.max_clock_skew_seconds(),
        "quorum": bizra::constitution::QUORUM_RULE,
    });
    if let Some(file) = &args.check {
        let bytes = super::read_input(Some(file), "the envelope")?;
        let envelope = Envelope::parse_bytes(&bytes)?;
        let input = ComplianceInput::of_envelope(&envelope);
        let report = c.check(&input);
        let policy_matches = envelope.policy() == c.hash();
        let value = json!({
            "compliant": report.compliant,
            "envelope_id": envelope.id(),
            "constitution": {"version": c.version(), "hash": c.hash_hex(), "source": source},
            "policy_matches": policy_matches,
            "rules": report.rules.iter().map(|r| json!({
                "id": r.id,
                "enforcement": enforcement(r.enforcement),
                "passed": r.passed,
                "value": r.value,
                "threshold": r.threshold,
                "detail": r.detail,
            })).collect::<Vec<Value>>(),
        });
        ctx.out.emit(&value, |w| {
            writeln!(
                w,
                "{}: {} with constitution {} ({source})",
                envelope.id(),
                if report.compliant {
                    "compliant"
                } else {
                    "NOT compliant"
                },
                c.version()
            )?;
            for r in &report.rules {
                writeln!(
                    w,
                    "  {:<4} {:<10} {:<8} {}",
                    if r.passed { "ok" } else { "FAIL" },
                    r.id,
                    enforcement(r.enforcement),
                    r.detail
                )?;
            }
            if !policy_matches {
                writeln!(
                    w,
                    "  note: the envelope names policy {}, not this constitution's hash",
                    super::hex(envelope.policy())
                )?;
            }
            Ok(())
        })?;
        return Ok(if report.compliant {
            Exit::Ok
        } else {
            Exit::Refused
        });
    }
    if args.thresholds {
        ctx.out.emit(&thresholds, |w| {
            writeln!(w, "ihsan minimum          {}", c.ihsan_minimum())?;
            writeln!(w, "ihsan target           {}", c.ihsan_target())?;
            writeln!(w, "snr threshold          {}", c.snr_threshold())?;
            writeln!(w, "max ttl                {} s", c.max_ttl_seconds())?;
            writeln!(w, "max clock skew         {} s", c.max_clock_skew_seconds())?;
            writeln!(
                w,
                "quorum                 {}",
                bizra::constitution::QUORUM_RULE
            )
        })?;
        return Ok(Exit::Ok);
    }
    let value = json!({
        "version": c.version(),
        "hash": c.hash_hex(),
        "source": source,
        "thresholds": thresholds,
        "rules": c.rules().iter().map(|r| json!({
            "id": r.id,
            "name": r.name,
            "description": r.description,
            "enforcement": enforcement(r.enforcement),
            "penalty": r.penalty,
        })).collect::<Vec<Value>>(),
    });
    ctx.out.emit(&value, |w| {
        writeln!(w, "Constitution {} ({source})", c.version())?;
        writeln!(w, "hash {}", c.hash_hex())?;
        writeln!(
            w,
            "thresholds: ihsan ≥ {} (target {}), snr ≥ {}, ttl ≤ {} s, clock skew ≤ {} s, quorum {}",
            c.ihsan_minimum(),
            c.ihsan_target(),
            c.snr_threshold(),
            c.max_ttl_seconds(),
            c.max_clock_skew_seconds(),
            bizra::constitution::QUORUM_RULE
        )?;
        for r in c.rules() {
            writeln!(
                w,
                "  {:<10} {:<8} {} — {}",
                r.id,
                enforcement(r.enforcement),
                r.name,
                r.description
            )?;
        }
        Ok(())
    })?;
    Ok(Exit::Ok)
}
