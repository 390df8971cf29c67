//! What every bench prints beside its figures: the machine they were measured on.

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
