//! The passes over a model's next-token logits that bizra makes for every generated token (the
//! largest logits, and the softmax sums that give the distribution's entropy), compiled for
//! several x86-64 instruction sets and chosen once at run time.
//!
//! Why a crate of its own: a vocabulary holds tens of thousands of logits, and at GPU speeds (about
//! a millisecond a token for a small model) passes compiled for plain x86-64 (SSE2) cost several
//! percent of every token. Running them with AVX2 or AVX-512 where the CPU has it means calling
//! functions compiled with `#[target_feature]`, and such a call is `unsafe`: its caller vouches
//! that the CPU has the features. That promise is kept here, in one place — a [`Kernels`] value
//! exists only for instruction sets this CPU was checked to have — so the scoring code and the
//! rest of bizra keep `forbid(unsafe_code)`, and a binary built for plain x86-64 still runs on
//! every x86-64 CPU.
//!
//! Every instruction set runs the same IEEE operations, lane for lane, on the same
//! [`LANES`] lanes, and folds the lanes in the same order (no fused multiply-add, which would
//! round differently): the results are bit-identical whatever CPU computes them, so a score in a
//! signed envelope does not depend on the machine that measured it. Only the speed does.

#![deny(unsafe_op_in_unsafe_fn, missing_docs)]

use std::fmt;
use std::sync::OnceLock;

mod passes;
#[cfg(target_arch = "x86_64")]
mod x86;

pub use passes::{EXP_FLOOR, LANES};

/// The largest logits of a row.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Top {
    /// The largest value (−∞ for a row with no number above −∞).
    pub max: f32,
    /// Where the largest value first occurs, NaN passed over; for a row of −∞ and NaN only, the
    /// first number, as llama.cpp's greedy sampler would take it; `None` for an empty row or one
    /// of NaN only.
    pub index: Option<usize>,
    /// The second largest value, counting a tie with `max` as a second.
    pub second: f32,
}

/// The softmax sums of a row around its largest logit `max`: with d = max(l − max,
/// [`EXP_FLOOR`]) for each logit l, `z` = Σ e^d and `s` = Σ e^d · d. The distribution's entropy is
/// then ln z − s / z, and the probability of a logit l is e^(l − max) / z.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ExpSums {
    /// Σ e^d.
    pub z: f64,
    /// Σ e^d · d.
    pub s: f64,
}

/// An instruction set the passes are compiled for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum Isa {
    /// The target's baseline: SSE2 on x86-64, which every x86-64 CPU has.
    Baseline,
    /// AVX2 with FMA (Intel since Haswell, AMD since Zen).
    Avx2,
    /// AVX-512 Foundation (Intel Xeon since Skylake-SP, AMD since Zen 4).
    Avx512,
}

impl Isa {
    /// Every instruction set, the baseline first.
    pub const ALL: [Isa; 3] = [Isa::Baseline, Isa::Avx2, Isa::Avx512];

    /// Its name, as benchmarks print it.
    pub const fn name(self) -> &'static str {
        match self {
            Isa::Baseline if cfg!(target_arch = "x86_64") => "sse2",
            Isa::Baseline => "baseline",
            Isa::Avx2 => "avx2",
            Isa::Avx512 => "avx512",
        }
    }

    /// Whether this CPU runs it.
    pub fn is_available(self) -> bool {
        match self {
            Isa::Baseline => true,
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2 => x86::has_avx2(),
            #[cfg(target_arch = "x86_64")]
            Isa::Avx512 => x86::has_avx512(),
            #[cfg(not(target_arch = "x86_64"))]
            _ => false,
        }
    }
}

impl fmt::Display for Isa {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The passes compiled for one instruction set that this CPU has: the only way to run them, so
/// that no pass is ever called on a CPU without its instructions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Kernels {
    isa: Isa,
}

impl Kernels {
    /// The fastest instruction set this CPU has, detected once per process.
    pub fn best() -> Self {
        static BEST: OnceLock<Kernels> = OnceLock::new();
        *BEST.get_or_init(|| {
            Isa::ALL
                .into_iter()
                .rev()
                .find_map(Kernels::of)
                .unwrap_or(Kernels::baseline())
        })
    }

    /// The target's baseline (SSE2 on x86-64), available everywhere.
    pub const fn baseline() -> Self {
        Kernels { isa: Isa::Baseline }
    }

    /// The passes for `isa`, or `None` when this CPU lacks it.
    pub fn of(isa: Isa) -> Option<Self> {
        isa.is_available().then_some(Kernels { isa })
    }

    /// Every instruction set this CPU has, the baseline first.
    pub fn available() -> impl Iterator<Item = Kernels> {
        Isa::ALL.into_iter().filter_map(Kernels::of)
    }

    /// The instruction set these passes run.
    pub const fn isa(self) -> Isa {
        self.isa
    }

    /// The largest logits of `logits`, in one pass.
    pub fn top(self, logits: &[f32]) -> Top {
        match self.isa {
            #[cfg(target_arch = "x86_64")]
            // SAFETY: a `Kernels` holds an instruction set only once `is_available` said yes.
            Isa::Avx2 => unsafe { x86::top_avx2(logits) },
            #[cfg(target_arch = "x86_64")]
            // SAFETY: as above.
            Isa::Avx512 => unsafe { x86::top_avx512(logits) },
            _ => passes::top(logits),
        }
    }

    /// The softmax sums of `logits` around `max`, their largest value (see [`ExpSums`]), in one
    /// pass. A `max` that is not the largest value still gives finite sums, but not the
    /// distribution's.
    pub fn exp_sums(self, logits: &[f32], max: f32) -> ExpSums {
        match self.isa {
            #[cfg(target_arch = "x86_64")]
            // SAFETY: a `Kernels` holds an instruction set only once `is_available` said yes.
            Isa::Avx2 => unsafe { x86::exp_sums_avx2(logits, max) },
            #[cfg(target_arch = "x86_64")]
            // SAFETY: as above.
            Isa::Avx512 => unsafe { x86::exp_sums_avx512(logits, max) },
            _ => passes::exp_sums(logits, max),
        }
    }
}

impl Default for Kernels {
    /// [`Kernels::best`].
    fn default() -> Self {
        Kernels::best()
    }
}
