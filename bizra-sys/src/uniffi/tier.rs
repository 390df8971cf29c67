//! Tier selection and the hardware profile.

use super::BizraError;

/// How demanding a task is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, ::uniffi::Enum)]
pub enum TaskComplexity {
    /// Short and plain.
    Simple,
    /// Longer or more tokens.
    Medium,
    /// Code or reasoning.
    Complex,
    /// Long reasoning or very long output.
    Expert,
}

impl From<bizra_core::TaskComplexity> for TaskComplexity {
    fn from(c: bizra_core::TaskComplexity) -> Self {
        match c {
            bizra_core::TaskComplexity::Simple => TaskComplexity::Simple,
            bizra_core::TaskComplexity::Medium => TaskComplexity::Medium,
            bizra_core::TaskComplexity::Complex => TaskComplexity::Complex,
            bizra_core::TaskComplexity::Expert => TaskComplexity::Expert,
        }
    }
}

/// Where a model of a given size runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, ::uniffi::Enum)]
pub enum ModelTier {
    /// Small models on the device (0.5–1.5 B parameters).
    Edge,
    /// Mid-size models on this machine (7–13 B).
    Local,
    /// Large models on a remote pool.
    Pool,
}

impl From<bizra_core::ModelTier> for ModelTier {
    fn from(t: bizra_core::ModelTier) -> Self {
        match t {
            bizra_core::ModelTier::Edge => ModelTier::Edge,
            bizra_core::ModelTier::Local => ModelTier::Local,
            bizra_core::ModelTier::Pool => ModelTier::Pool,
        }
    }
}

impl From<ModelTier> for bizra_core::ModelTier {
    fn from(t: ModelTier) -> Self {
        match t {
            ModelTier::Edge => bizra_core::ModelTier::Edge,
            ModelTier::Local => bizra_core::ModelTier::Local,
            ModelTier::Pool => bizra_core::ModelTier::Pool,
        }
    }
}

/// A tier decision and why it was made.
#[derive(Debug, Clone, PartialEq, Eq, ::uniffi::Record)]
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

/// Estimates a task's complexity from its prompt and token budget.
#[::uniffi::export]
pub fn estimate_complexity(prompt: String, max_tokens: u32) -> TaskComplexity {
    bizra_core::TaskComplexity::estimate(&prompt, max_tokens).into()
}

/// Chooses the tier for a task; a forced tier overrides the estimate.
#[::uniffi::export(default(forced = None))]
pub fn select_tier(prompt: String, max_tokens: u32, forced: Option<ModelTier>) -> TierDecision {
    let d = bizra_core::select_tier(&prompt, max_tokens, forced.map(Into::into));
    TierDecision {
        complexity: d.complexity.into(),
        tier: d.tier.into(),
        forced: d.forced,
        reason: d.reason,
    }
}

/// An NVIDIA GPU as `nvidia-smi` reports it.
#[derive(Debug, Clone, PartialEq, Eq, ::uniffi::Record)]
pub struct GpuInfo {
    /// The product name.
    pub name: String,
    /// Total memory, bytes.
    pub memory_total_bytes: u64,
    /// Free memory, bytes.
    pub memory_free_bytes: u64,
}

/// What a machine has. `detectHardware()` measures this one; tests may build their own.
#[derive(Debug, Clone, PartialEq, Eq, ::uniffi::Record)]
pub struct HardwareProfile {
    /// Physical CPU cores.
    pub cpu_cores: u64,
    /// Logical CPUs.
    pub logical_cpus: u64,
    /// Total memory, bytes.
    pub ram_total_bytes: u64,
    /// Memory available to new work, bytes.
    pub ram_available_bytes: u64,
    /// Free disk where measured, bytes (0 where unknown).
    pub disk_free_bytes: u64,
    /// NVIDIA GPUs.
    #[uniffi(default)]
    pub gpus: Vec<GpuInfo>,
}

fn size(n: u64) -> Result<usize, BizraError> {
    usize::try_from(n).map_err(|_| BizraError::invalid("count out of range"))
}

impl HardwareProfile {
    fn to_core(&self) -> Result<bizra_core::HardwareProfile, BizraError> {
        Ok(bizra_core::HardwareProfile {
            cpu_cores: size(self.cpu_cores)?,
            logical_cpus: size(self.logical_cpus)?,
            ram_total_bytes: self.ram_total_bytes,
            ram_available_bytes: self.ram_available_bytes,
            disk_free_bytes: self.disk_free_bytes,
            gpus: self
                .gpus
                .iter()
                .map(|g| bizra_core::tier::GpuInfo {
                    name: g.name.clone(),
                    memory_total_bytes: g.memory_total_bytes,
                    memory_free_bytes: g.memory_free_bytes,
                })
                .collect(),
        })
    }
}

#[::uniffi::export]
impl HardwareProfile {
    /// The largest tier this machine can serve itself (null: none). Pool is never local.
    pub fn max_local_tier(&self) -> Result<Option<ModelTier>, BizraError> {
        Ok(self.to_core()?.max_local_tier().map(Into::into))
    }

    /// Whether this machine can serve `tier` itself.
    pub fn can_serve(&self, tier: ModelTier) -> Result<bool, BizraError> {
        Ok(self.to_core()?.can_serve(tier.into()))
    }
}

/// Measures this machine: CPU cores, memory, free disk (of `dir`, default the current
/// directory) and NVIDIA GPUs through `nvidia-smi` where installed.
#[::uniffi::export(default(dir = None))]
pub fn detect_hardware(dir: Option<String>) -> HardwareProfile {
    let p = match dir {
        Some(d) => bizra_core::HardwareProfile::detect_for(std::path::Path::new(&d)),
        None => bizra_core::HardwareProfile::detect(),
    };
    HardwareProfile {
        cpu_cores: p.cpu_cores as u64,
        logical_cpus: p.logical_cpus as u64,
        ram_total_bytes: p.ram_total_bytes,
        ram_available_bytes: p.ram_available_bytes,
        disk_free_bytes: p.disk_free_bytes,
        gpus: p
            .gpus
            .into_iter()
            .map(|g| GpuInfo {
                name: g.name,
                memory_total_bytes: g.memory_total_bytes,
                memory_free_bytes: g.memory_free_bytes,
            })
            .collect(),
    }
}
