//! Tier selection and the hardware profile.

use std::ffi::{c_char, CString};

use bizra_core::{HardwareProfile, ModelTier, TaskComplexity};

use crate::*;

/// How demanding a task is.
#[repr(u32)]
#[derive(Clone, Copy, Debug)]
pub enum bizra_task_complexity {
    /// Short, plain requests.
    Simple = 0,
    /// Longer requests or outputs.
    Medium = 1,
    /// Code, explanations, or long prompts.
    Complex = 2,
    /// Very long outputs, or long explanations.
    Expert = 3,
}

/// Model tiers; `NONE` where no tier applies (a machine that can serve none).
#[repr(u32)]
#[derive(Clone, Copy, Debug)]
pub enum bizra_model_tier {
    /// No tier.
    None = 0,
    /// 0.5–1.5 B parameters, on the device.
    Edge = 1,
    /// 7–13 B parameters, on this machine.
    Local = 2,
    /// 70 B and more, on a remote pool.
    Pool = 3,
}

/// A tier decision. `reason` is owned by the caller: free it with `bizra_string_free`.
#[repr(C)]
#[derive(Debug)]
pub struct bizra_tier_decision {
    /// The estimated complexity (`bizra_task_complexity`).
    pub complexity: u32,
    /// The chosen tier (`bizra_model_tier`).
    pub tier: u32,
    /// Whether the tier was forced by the caller.
    pub forced: bool,
    /// Why, in words (free with `bizra_string_free`).
    pub reason: *mut c_char,
}

/// What this machine has (`bizra_hardware_profile_info`).
#[repr(C)]
#[derive(Debug, Default)]
pub struct bizra_hardware_info {
    /// Physical CPU cores.
    pub cpu_cores: usize,
    /// Logical CPUs.
    pub logical_cpus: usize,
    /// Total memory, bytes.
    pub ram_total_bytes: u64,
    /// Memory available to new work, bytes.
    pub ram_available_bytes: u64,
    /// Free disk space of the current directory, bytes (0 where unknown).
    pub disk_free_bytes: u64,
    /// The number of NVIDIA GPUs found.
    pub gpu_count: usize,
}

/// One GPU; `name` belongs to the profile.
#[repr(C)]
#[derive(Debug)]
pub struct bizra_gpu_info {
    /// The product name.
    pub name: *const c_char,
    /// Total memory, bytes.
    pub memory_total_bytes: u64,
    /// Free memory, bytes.
    pub memory_free_bytes: u64,
}

/// A measured hardware profile. Immutable, so safe to share between threads. Freed with
/// `bizra_hardware_profile_free`.
pub struct bizra_hardware_profile {
    _opaque: [u8; 0],
}
handle_type!(bizra_hardware_profile => Profile, Boxed);

/// A hardware profile with its GPU names as C strings kept alive beside it.
pub(crate) struct Profile {
    hw: HardwareProfile,
    gpu_names: Vec<CString>,
}

pub(crate) fn complexity_number(c: TaskComplexity) -> u32 {
    match c {
        TaskComplexity::Simple => 0,
        TaskComplexity::Medium => 1,
        TaskComplexity::Complex => 2,
        TaskComplexity::Expert => 3,
    }
}

pub(crate) fn tier_number(t: Option<ModelTier>) -> u32 {
    match t {
        None => 0,
        Some(ModelTier::Edge) => 1,
        Some(ModelTier::Local) => 2,
        Some(ModelTier::Pool) => 3,
    }
}

fn model_tier(n: u32) -> FfiResult<ModelTier> {
    Ok(match n {
        1 => ModelTier::Edge,
        2 => ModelTier::Local,
        3 => ModelTier::Pool,
        _ => return Err(invalid(format!("unknown model tier {n}"))),
    })
}

/// Estimates a task's complexity from its prompt and output budget, written to `*out` (a
/// `bizra_task_complexity`: nothing to free).
#[no_mangle]
pub unsafe extern "C" fn bizra_task_complexity_estimate(
    prompt: *const c_char,
    max_tokens: u32,
    out: *mut u32,
) -> bizra_status {
    boundary("bizra_task_complexity_estimate", || {
        let out = out_checked(out)?;
        let prompt = text(prompt, "prompt")?;
        put(
            out,
            complexity_number(TaskComplexity::estimate(prompt, max_tokens)),
        );
        Ok(BIZRA_STATUS_OK)
    })
}

/// Chooses the model tier for a task. `forced_tier` is a `bizra_model_tier`, or
/// `BIZRA_MODEL_TIER_NONE` to let the complexity decide. `*out` is the caller's struct; its
/// `reason` is the caller's string: free it with `bizra_string_free`.
#[no_mangle]
pub unsafe extern "C" fn bizra_select_tier(
    prompt: *const c_char,
    max_tokens: u32,
    forced_tier: u32,
    out: *mut bizra_tier_decision,
) -> bizra_status {
    boundary("bizra_select_tier", || {
        let out = out_checked(out)?;
        let prompt = text(prompt, "prompt")?;
        let forced = match forced_tier {
            0 => None,
            n => Some(model_tier(n)?),
        };
        let d = bizra_core::select_tier(prompt, max_tokens, forced);
        let reason = c_string(d.reason.replace('\0', "?"))?;
        put(
            out,
            bizra_tier_decision {
                complexity: complexity_number(d.complexity),
                tier: tier_number(Some(d.tier)),
                forced: d.forced,
                reason,
            },
        );
        Ok(BIZRA_STATUS_OK)
    })
}

/// The lower-case name of a model tier (`"edge"`, ...; `"none"` for 0), or NULL for an unknown
/// number. Static, owned by the library: never freed.
#[no_mangle]
pub extern "C" fn bizra_model_tier_name(tier: u32) -> *const c_char {
    boundary("bizra_model_tier_name", || {
        Ok(match tier {
            0 => c"none".as_ptr(),
            1 => c"edge".as_ptr(),
            2 => c"local".as_ptr(),
            3 => c"pool".as_ptr(),
            _ => std::ptr::null(),
        })
    })
}

/// Measures this machine (CPU, memory, free disk of the current directory, NVIDIA GPUs through
/// `nvidia-smi` where installed). May take a moment. `*out`: a new profile, the caller's; free it
/// with `bizra_hardware_profile_free`.
#[no_mangle]
pub unsafe extern "C" fn bizra_hardware_profile_detect(
    out: *mut *mut bizra_hardware_profile,
) -> bizra_status {
    boundary("bizra_hardware_profile_detect", || {
        let out = out_checked(out)?;
        let hw = HardwareProfile::detect();
        let gpu_names = hw
            .gpus
            .iter()
            .map(|g| CString::new(g.name.replace('\0', "?")).unwrap_or_default())
            .collect();
        bizra_hardware_profile::put(out, Profile { hw, gpu_names })
    })
}

/// The profile's figures, written to `*out` (values: nothing to free).
#[no_mangle]
pub unsafe extern "C" fn bizra_hardware_profile_info(
    profile: *const bizra_hardware_profile,
    out: *mut bizra_hardware_info,
) -> bizra_status {
    boundary("bizra_hardware_profile_info", || {
        let out = out_checked(out)?;
        let hw = &bizra_hardware_profile::arg(profile, "profile")?.hw;
        put(
            out,
            bizra_hardware_info {
                cpu_cores: hw.cpu_cores,
                logical_cpus: hw.logical_cpus,
                ram_total_bytes: hw.ram_total_bytes,
                ram_available_bytes: hw.ram_available_bytes,
                disk_free_bytes: hw.disk_free_bytes,
                gpu_count: hw.gpus.len(),
            },
        );
        Ok(BIZRA_STATUS_OK)
    })
}

/// GPU `index`, written to `*out`: its name belongs to the profile (valid until
/// `bizra_hardware_profile_free`, never freed by the caller).
#[no_mangle]
pub unsafe extern "C" fn bizra_hardware_profile_gpu(
    profile: *const bizra_hardware_profile,
    index: usize,
    out: *mut bizra_gpu_info,
) -> bizra_status {
    boundary("bizra_hardware_profile_gpu", || {
        let out = out_checked(out)?;
        let p = bizra_hardware_profile::arg(profile, "profile")?;
        let (g, name) =
            p.hw.gpus
                .iter()
                .zip(&p.gpu_names)
                .nth(index)
                .ok_or_else(|| {
                    Failure::new(
                        BIZRA_STATUS_OUT_OF_RANGE,
                        format!("index {index} >= {} GPUs", p.hw.gpus.len()),
                    )
                })?;
        put(
            out,
            bizra_gpu_info {
                name: name.as_ptr(),
                memory_total_bytes: g.memory_total_bytes,
                memory_free_bytes: g.memory_free_bytes,
            },
        );
        Ok(BIZRA_STATUS_OK)
    })
}

/// The largest tier this machine can serve itself (`bizra_model_tier`; NONE when none), written
/// to `*out` (a value: nothing to free).
#[no_mangle]
pub unsafe extern "C" fn bizra_hardware_profile_max_local_tier(
    profile: *const bizra_hardware_profile,
    out: *mut u32,
) -> bizra_status {
    boundary("bizra_hardware_profile_max_local_tier", || {
        let out = out_checked(out)?;
        put(
            out,
            tier_number(
                bizra_hardware_profile::arg(profile, "profile")?
                    .hw
                    .max_local_tier(),
            ),
        );
        Ok(BIZRA_STATUS_OK)
    })
}

/// Whether this machine can serve `tier` (`bizra_model_tier`) itself, written to `*out` (a
/// value: nothing to free).
#[no_mangle]
pub unsafe extern "C" fn bizra_hardware_profile_can_serve(
    profile: *const bizra_hardware_profile,
    tier: u32,
    out: *mut bool,
) -> bizra_status {
    boundary("bizra_hardware_profile_can_serve", || {
        let out = out_checked(out)?;
        let p = bizra_hardware_profile::arg(profile, "profile")?;
        put(out, p.hw.can_serve(model_tier(tier)?));
        Ok(BIZRA_STATUS_OK)
    })
}

/// Frees a hardware profile. NULL is a no-op.
#[no_mangle]
pub unsafe extern "C" fn bizra_hardware_profile_free(profile: *mut bizra_hardware_profile) {
    boundary("bizra_hardware_profile_free", || {
        bizra_hardware_profile::free(profile)
    })
}
