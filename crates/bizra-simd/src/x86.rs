//! The passes compiled with AVX2 and with AVX-512 enabled: the same source as the baseline's
//! (`passes`, inlined into each function below), which the compiler vectorises for the wider
//! registers.
//!
//! Calling one of these on a CPU without its features is undefined behaviour, hence `unsafe`;
//! `Kernels` calls them only after `has_avx2` / `has_avx512` said yes.

use crate::{passes, ExpSums, Top};

/// Whether the CPU has AVX2 and FMA (the `Avx2` set; FMA is enabled so that the compiler may
/// schedule for the CPUs that have both, though the passes themselves never fuse).
pub(crate) fn has_avx2() -> bool {
    std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
}

/// Whether the CPU has AVX-512 Foundation (and AVX2, which the compiler may also use).
pub(crate) fn has_avx512() -> bool {
    std::arch::is_x86_feature_detected!("avx512f") && has_avx2()
}

#[target_feature(enable = "avx2,fma")]
pub(crate) unsafe fn top_avx2(logits: &[f32]) -> Top {
    passes::top(logits)
}

#[target_feature(enable = "avx2,fma")]
pub(crate) unsafe fn exp_sums_avx2(logits: &[f32], max: f32) -> ExpSums {
    passes::exp_sums(logits, max)
}

#[target_feature(enable = "avx512f,avx2,fma")]
pub(crate) unsafe fn top_avx512(logits: &[f32]) -> Top {
    passes::top(logits)
}

#[target_feature(enable = "avx512f,avx2,fma")]
pub(crate) unsafe fn exp_sums_avx512(logits: &[f32], max: f32) -> ExpSums {
    passes::exp_sums(logits, max)
}
