//! `bizra detect`: this machine's hardware and the tiers it can serve.

use bizra::{HardwareProfile, ModelTier};
use serde_json::json;

use crate::context::Context;
use crate::exit::{CliResult, Exit};
use crate::output::human_bytes;

const TIERS: [ModelTier; 3] = [ModelTier::Edge, ModelTier::Local, ModelTier::Pool];

/// Runs `bizra detect`.
pub fn run(ctx: &Context) -> CliResult<Exit> {
    // Free disk where the models would go (the data directory may not exist yet).
    let probe = ctx
        .models_dir()
        .ancestors()
        .find(|p| p.exists())
        .map(|p| p.to_path_buf())
        .unwrap_or_else(|| std::path::PathBuf::from("."));
    let hw = HardwareProfile::detect_for(&probe);
    let max = hw.max_local_tier();
    let value = json!({
        "cpu_cores": hw.cpu_cores,
        "logical_cpus": hw.logical_cpus,
        "ram_total_bytes": hw.ram_total_bytes,
        "ram_available_bytes": hw.ram_available_bytes,
        "disk_free_bytes": hw.disk_free_bytes,
        "disk_probed": probe,
        "gpus": hw.gpus.iter().map(|g| json!({
            "name": g.name,
            "memory_total_bytes": g.memory_total_bytes,
            "memory_free_bytes": g.memory_free_bytes,
        })).collect::<Vec<_>>(),
        "max_local_tier": max.map(ModelTier::name),
        "tiers": TIERS.iter().map(|t| {
            let (lo, hi) = t.parameter_range_billions();
            json!({
                "tier": t.name(),
                "parameters_billions": [lo, hi],
                "local": hw.can_serve(*t),
            })
        }).collect::<Vec<_>>(),
    });
    ctx.out.emit(&value, |w| {
        writeln!(
            w,
            "CPU     {} cores ({} logical CPUs usable)",
            hw.cpu_cores, hw.logical_cpus
        )?;
        writeln!(
            w,
            "Memory  {} total, {} available",
            human_bytes(hw.ram_total_bytes),
            human_bytes(hw.ram_available_bytes)
        )?;
        writeln!(
            w,
            "Disk    {} free ({})",
            human_bytes(hw.disk_free_bytes),
            probe.display()
        )?;
        if hw.gpus.is_empty() {
            writeln!(w, "GPU     none found (nvidia-smi)")?;
        }
        for g in &hw.gpus {
            writeln!(
                w,
                "GPU     {}: {} total, {} free",
                g.name,
                human_bytes(g.memory_total_bytes),
                human_bytes(g.memory_free_bytes)
            )?;
        }
        writeln!(w)?;
        for t in TIERS {
            let (lo, hi) = t.parameter_range_billions();
            let range = if hi.is_finite() {
                format!("{lo}–{hi} B")
            } else {
                format!("{lo} B and more")
            };
            let verdict = if hw.can_serve(t) {
                "served here"
            } else if t == ModelTier::Pool {
                "remote pools only"
            } else {
                "not enough memory here"
            };
            writeln!(w, "Tier {:<6} {range:<16} parameters: {verdict}", t.name())?;
        }
        match max {
            Some(t) => writeln!(w, "\nThis machine serves up to the {} tier.", t.name()),
            None => writeln!(w, "\nThis machine cannot serve any tier itself."),
        }
    })?;
    Ok(Exit::Ok)
}
