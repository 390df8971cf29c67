//! What the benches share: the machine their figures were measured on, and criterion's results
//! read back to print each figure beside its baseline.

#![allow(dead_code)] // Each bench uses its part.

use std::path::PathBuf;

/// The CPU model and how many logical CPUs there are, from `/proc/cpuinfo` (Linux), since
/// figures from an Intel and an AMD VM are not comparable without it.
pub fn machine() -> String {
    let info = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = info
        .lines()
        .find_map(|l| {
            l.strip_prefix("model name")?
                .split_once(':')
                .map(|(_, m)| m.trim())
        })
        .unwrap_or("unknown CPU");
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    format!("{model}, {cpus} logical CPUs")
}

/// Criterion's output directory, as criterion itself chooses it.
pub fn criterion_dir() -> PathBuf {
    if let Some(h) = std::env::var_os("CRITERION_HOME") {
        return h.into();
    }
    if let Some(t) = std::env::var_os("CARGO_TARGET_DIR") {
        return PathBuf::from(t).join("criterion");
    }
    // The bench binary lives in <target>/<profile>/deps/.
    std::env::current_exe()
        .ok()
        .and_then(|p| p.ancestors().nth(3).map(|t| t.join("criterion")))
        .unwrap_or_else(|| "target/criterion".into())
}

/// The mean time of one benchmark in nanoseconds, from criterion's estimates.
pub fn mean_ns(group: &str, name: &str) -> Option<f64> {
    let path = criterion_dir()
        .join(group)
        .join(name)
        .join("new/estimates.json");
    let v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(path).ok()?).ok()?;
    v["mean"]["point_estimate"].as_f64()
}
