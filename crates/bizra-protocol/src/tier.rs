//! Tier selection: how hard a task is, which model tier should serve it, and what this machine
//! can serve itself.

use std::fmt;
use std::path::Path;
use std::process::Command;

/// How demanding a task is, estimated from its prompt and output budget.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum TaskComplexity {
    /// Short, plain requests.
    Simple,
    /// Longer requests or outputs.
    Medium,
    /// Code, explanations, or long prompts.
    Complex,
    /// Very long outputs, or long explanations.
    Expert,
}

impl TaskComplexity {
    /// Estimates complexity; the first matching rule wins:
    /// words = whitespace-separated count, has_code = contains "```",
    /// has_reason = lower case contains "explain".
    /// Expert if max_tokens > 2000 or (has_reason and words > 200);
    /// Complex if has_code or has_reason or words > 100;
    /// Medium if words > 30 or max_tokens > 500; else Simple.
    pub fn estimate(prompt: &str, max_tokens: u32) -> Self {
        Self::explain(prompt, max_tokens).0
    }

    /// [`TaskComplexity::estimate`] with the reason for the verdict.
    pub fn explain(prompt: &str, max_tokens: u32) -> (Self, String) {
        let words = prompt.split_whitespace().count();
        let has_code = prompt.contains("```");
        let has_reason = prompt.to_lowercase().contains("explain");
        if max_tokens > 2000 {
            (Self::Expert, format!("max_tokens {max_tokens} > 2000"))
        } else if has_reason && words > 200 {
            (
                Self::Expert,
                format!("asks to explain, in {words} words (> 200)"),
            )
        } else if has_code {
            (Self::Complex, "contains a code block".into())
        } else if has_reason {
            (Self::Complex, "asks to explain".into())
        } else if words > 100 {
            (Self::Complex, format!("{words} words (> 100)"))
        } else if words > 30 {
            (Self::Medium, format!("{words} words (> 30)"))
        } else if max_tokens > 500 {
            (Self::Medium, format!("max_tokens {max_tokens} > 500"))
        } else {
            (
                Self::Simple,
                format!("{words} words, max_tokens {max_tokens}: short and plain"),
            )
        }
    }

    /// Lower-case name.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Simple => "simple",
            Self::Medium => "medium",
            Self::Complex => "complex",
            Self::Expert => "expert",
        }
    }
}

/// Where a model of a given size runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ModelTier {
    /// Small models (about 0.5–1.5 B parameters) on the device itself.
    Edge,
    /// Mid-size models (about 7–13 B) on a local workstation.
    Local,
    /// Large models (70 B and more) in a remote pool.
    Pool,
}

impl ModelTier {
    /// Lower-case name.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Edge => "edge",
            Self::Local => "local",
            Self::Pool => "pool",
        }
    }

    /// The tier for a name (case-insensitive).
    pub fn from_name(name: &str) -> Option<Self> {
        [Self::Edge, Self::Local, Self::Pool]
            .into_iter()
            .find(|t| t.name().eq_ignore_ascii_case(name))
    }

    /// The nominal parameter range, in billions.
    pub const fn parameter_range_billions(self) -> (f64, f64) {
        match self {
            Self::Edge => (0.5, 1.5),
            Self::Local => (7.0, 13.0),
            Self::Pool => (70.0, f64::INFINITY),
        }
    }

    /// The tier a complexity maps to: Simple and Medium → Edge, Complex → Local, Expert → Pool.
    pub const fn for_complexity(c: TaskComplexity) -> Self {
        match c {
            TaskComplexity::Simple | TaskComplexity::Medium => Self::Edge,
            TaskComplexity::Complex => Self::Local,
            TaskComplexity::Expert => Self::Pool,
        }
    }
}

impl fmt::Display for ModelTier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A tier decision and why it was made.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TierDecision {
    /// The estimated complexity.
    pub complexity: TaskComplexity,
    /// The chosen tier.
    pub tier: ModelTier,
    /// Whether the caller forced the tier.
    pub forced: bool,
    /// Why, in words.
    pub reason: String,
}

/// Chooses the tier for a task; a forced tier overrides the estimate.
pub fn select_tier(prompt: &str, max_tokens: u32, forced: Option<ModelTier>) -> TierDecision {
    let (complexity, why) = TaskComplexity::explain(prompt, max_tokens);
    match forced {
        Some(tier) => TierDecision {
            complexity,
            tier,
            forced: true,
            reason: format!(
                "forced to {tier} (estimate was {}: {why})",
                complexity.name()
            ),
        },
        None => {
            let tier = ModelTier::for_complexity(complexity);
            TierDecision {
                complexity,
                tier,
                forced: false,
                reason: format!("{} ({why}) → {tier}", complexity.name()),
            }
        }
    }
}

/// An NVIDIA GPU as `nvidia-smi` reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GpuInfo {
    /// The product name.
    pub name: String,
    /// Total memory, bytes.
    pub memory_total_bytes: u64,
    /// Free memory, bytes.
    pub memory_free_bytes: u64,
}

/// What this machine has, measured at [`HardwareProfile::detect`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HardwareProfile {
    /// Physical CPU cores (logical CPUs where the OS does not say).
    pub cpu_cores: usize,
    /// Logical CPUs.
    pub logical_cpus: usize,
    /// Total memory, bytes.
    pub ram_total_bytes: u64,
    /// Memory available to new work, bytes.
    pub ram_available_bytes: u64,
    /// Free space on the disk of the current directory, bytes (0 where unknown).
    pub disk_free_bytes: u64,
    /// NVIDIA GPUs, where `nvidia-smi` exists.
    pub gpus: Vec<GpuInfo>,
}

const GIB: u64 = 1 << 30;
/// Memory a Q4 model of the Local tier (7–13 B) needs with its context: about 8 GiB.
const LOCAL_TIER_BYTES: u64 = 8 * GIB;
/// Memory a Q4 model of the Edge tier needs with its context: about 1 GiB.
const EDGE_TIER_BYTES: u64 = GIB;

impl HardwareProfile {
    /// Measures the machine: CPU cores, memory, free disk of the current directory, and NVIDIA
    /// GPUs through `nvidia-smi` when it is installed.
    pub fn detect() -> Self {
        Self::detect_for(Path::new("."))
    }

    /// Like [`HardwareProfile::detect`], with free disk measured where `dir` lies.
    pub fn detect_for(dir: &Path) -> Self {
        let mut sys = sysinfo::System::new();
        sys.refresh_memory();
        let (cpu_cores, logical_cpus) = cpu_counts();
        Self {
            cpu_cores,
            logical_cpus,
            ram_total_bytes: sys.total_memory(),
            ram_available_bytes: sys.available_memory(),
            disk_free_bytes: disk_free(dir),
            gpus: nvidia_gpus(),
        }
    }

    /// The largest tier this machine can serve itself: Local with a GPU of at least 8 GiB or
    /// 8 GiB of available memory, Edge with 1 GiB available, else none. Pool is never local.
    pub fn max_local_tier(&self) -> Option<ModelTier> {
        let best_gpu = self
            .gpus
            .iter()
            .map(|g| g.memory_total_bytes)
            .max()
            .unwrap_or(0);
        if best_gpu >= LOCAL_TIER_BYTES || self.ram_available_bytes >= LOCAL_TIER_BYTES {
            Some(ModelTier::Local)
        } else if best_gpu >= EDGE_TIER_BYTES || self.ram_available_bytes >= EDGE_TIER_BYTES {
            Some(ModelTier::Edge)
        } else {
            None
        }
    }

    /// Whether this machine can serve `tier` itself.
    pub fn can_serve(&self, tier: ModelTier) -> bool {
        self.max_local_tier().is_some_and(|max| tier <= max)
    }
}

/// The machine's physical cores (the usable count where the OS does not say) and the logical
/// CPUs this process may use (affinity, cgroup quota): what an inference engine sizes its
/// thread pool by.
pub fn cpu_counts() -> (usize, usize) {
    let usable = std::thread::available_parallelism().map_or(1, |n| n.get());
    let physical = sysinfo::System::physical_core_count()
        .filter(|&n| n > 0)
        .unwrap_or(usable);
    (physical, usable)
}

fn disk_free(dir: &Path) -> u64 {
    let dir = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf());
    let disks = sysinfo::Disks::new_with_refreshed_list();
    disks
        .list()
        .iter()
        .filter(|d| dir.starts_with(d.mount_point()))
        .max_by_key(|d| d.mount_point().as_os_str().len())
        .map_or(0, |d| d.available_space())
}

fn nvidia_gpus() -> Vec<GpuInfo> {
    let out = Command::new("nvidia-smi")
        .args([
            "--query-gpu=name,memory.total,memory.free",
            "--format=csv,noheader,nounits",
        ])
        .output();
    match out {
        Ok(o) if o.status.success() => parse_nvidia_smi(&String::from_utf8_lossy(&o.stdout)),
        _ => Vec::new(),
    }
}

/// Parses `nvidia-smi --query-gpu=name,memory.total,memory.free --format=csv,noheader,nounits`
/// (MiB figures); malformed lines are skipped.
fn parse_nvidia_smi(text: &str) -> Vec<GpuInfo> {
    const MIB: u64 = 1 << 20;
    text.lines()
        .filter_map(|line| {
            let mut parts = line.rsplitn(3, ',').map(str::trim);
            let free: u64 = parts.next()?.parse().ok()?;
            let total: u64 = parts.next()?.parse().ok()?;
            let name = parts.next()?.to_owned();
            Some(GpuInfo {
                name,
                memory_total_bytes: total * MIB,
                memory_free_bytes: free * MIB,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nvidia_smi_output_parses() {
        let gpus = parse_nvidia_smi("NVIDIA H100 80GB HBM3, 81559, 80000\nbad line\n");
        assert_eq!(
            gpus,
            vec![GpuInfo {
                name: "NVIDIA H100 80GB HBM3".into(),
                memory_total_bytes: 81559 << 20,
                memory_free_bytes: 80000 << 20,
            }]
        );
    }

    #[test]
    fn local_tier_needs_memory() {
        let mut p = HardwareProfile {
            cpu_cores: 2,
            logical_cpus: 2,
            ram_total_bytes: 4 * GIB,
            ram_available_bytes: 2 * GIB,
            disk_free_bytes: 0,
            gpus: vec![],
        };
        assert_eq!(p.max_local_tier(), Some(ModelTier::Edge));
        assert!(!p.can_serve(ModelTier::Local));
        p.gpus.push(GpuInfo {
            name: "x".into(),
            memory_total_bytes: 24 * GIB,
            memory_free_bytes: 24 * GIB,
        });
        assert_eq!(p.max_local_tier(), Some(ModelTier::Local));
        assert!(!p.can_serve(ModelTier::Pool));
        p.gpus.clear();
        p.ram_available_bytes = GIB / 2;
        assert_eq!(p.max_local_tier(), None);
    }
}
