//! Tiers (how demanding a task is, which model tier serves it) and the machine's hardware.

use bizra::ModelTier;
use napi_derive::napi;

use crate::errors::{guard, type_err, Result};

/// A tier decision and why it was made.
#[napi(object)]
pub struct TierDecision {
    /// `"simple"`, `"medium"`, `"complex"` or `"expert"`.
    pub complexity: String,
    /// `"edge"`, `"local"` or `"pool"`.
    pub tier: String,
    pub forced: bool,
    pub reason: String,
}

/// A tier by its name (`"edge"`, `"local"`, `"pool"`); another is a `TypeError`.
pub(crate) fn model_tier(name: &str) -> Result<ModelTier> {
    ModelTier::from_name(name).ok_or_else(|| {
        type_err(format!(
            "unknown model tier {name:?}; one of edge, local, pool"
        ))
    })
}

/// Estimates how demanding a task is: `"simple"`, `"medium"`, `"complex"` or `"expert"`.
#[napi]
pub fn estimate_complexity(prompt: String, max_tokens: u32) -> Result<String> {
    guard(|| {
        Ok(bizra::TaskComplexity::estimate(&prompt, max_tokens)
            .name()
            .to_owned())
    })
}

/// Chooses the model tier for a task; a forced tier (`"edge"`, `"local"`, `"pool"`) overrides.
#[napi]
pub fn select_tier(
    prompt: String,
    max_tokens: u32,
    forced: Option<String>,
) -> Result<TierDecision> {
    guard(|| {
        let forced = forced.as_deref().map(model_tier).transpose()?;
        Ok(decision_out(bizra::select_tier(
            &prompt, max_tokens, forced,
        )))
    })
}

/// The core's decision as JavaScript's.
pub(crate) fn decision_out(d: bizra::TierDecision) -> TierDecision {
    TierDecision {
        complexity: d.complexity.name().to_owned(),
        tier: d.tier.name().to_owned(),
        forced: d.forced,
        reason: d.reason,
    }
}

/// An NVIDIA GPU as `nvidia-smi` reports it.
#[napi(object)]
pub struct GpuInfo {
    pub name: String,
    pub memory_total_bytes: f64,
    pub memory_free_bytes: f64,
}

/// What this machine has.
#[napi]
pub struct HardwareProfile {
    inner: bizra::HardwareProfile,
}

#[napi]
impl HardwareProfile {
    /// Measures CPU cores, memory, free disk and NVIDIA GPUs.
    #[napi(factory)]
    pub fn detect() -> Result<HardwareProfile> {
        guard(|| {
            Ok(HardwareProfile {
                inner: bizra::HardwareProfile::detect(),
            })
        })
    }
    #[napi(getter)]
    pub fn cpu_cores(&self) -> Result<u32> {
        guard(|| Ok(u32::try_from(self.inner.cpu_cores).unwrap_or(u32::MAX)))
    }
    #[napi(getter)]
    pub fn logical_cpus(&self) -> Result<u32> {
        guard(|| Ok(u32::try_from(self.inner.logical_cpus).unwrap_or(u32::MAX)))
    }
    #[napi(getter)]
    pub fn ram_total_bytes(&self) -> Result<f64> {
        guard(|| Ok(self.inner.ram_total_bytes as f64))
    }
    #[napi(getter)]
    pub fn ram_available_bytes(&self) -> Result<f64> {
        guard(|| Ok(self.inner.ram_available_bytes as f64))
    }
    #[napi(getter)]
    pub fn disk_free_bytes(&self) -> Result<f64> {
        guard(|| Ok(self.inner.disk_free_bytes as f64))
    }
    #[napi(getter)]
    pub fn gpus(&self) -> Result<Vec<GpuInfo>> {
        guard(|| {
            Ok(self
                .inner
                .gpus
                .iter()
                .map(|g| GpuInfo {
                    name: g.name.clone(),
                    memory_total_bytes: g.memory_total_bytes as f64,
                    memory_free_bytes: g.memory_free_bytes as f64,
                })
                .collect())
        })
    }
    /// The largest tier this machine can serve itself (`null`: none).
    #[napi]
    pub fn max_local_tier(&self) -> Result<Option<String>> {
        guard(|| Ok(self.inner.max_local_tier().map(|t| t.name().to_owned())))
    }
    /// Whether this machine can serve `tier` itself.
    #[napi]
    pub fn can_serve(&self, tier: String) -> Result<bool> {
        guard(|| Ok(self.inner.can_serve(model_tier(&tier)?)))
    }
}
