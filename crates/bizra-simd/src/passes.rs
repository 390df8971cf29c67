//! The passes themselves, written once as branch-free loops over [`LANES`] f32 lanes that the
//! compiler vectorises for whichever instruction set the calling function enables. They are
//! `#[inline(always)]` so that each dispatched function gets its own copy compiled with its
//! features.

use crate::{ExpSums, Top};

/// Lanes of every pass: 16 f32 fill one AVX-512 register, two AVX2 registers or four SSE2
/// registers, so all instruction sets run the same lanes and give the same results.
pub const LANES: usize = 16;

/// The smallest exponent the softmax sums take: e^−87 is still a normal f32, and nothing beside
/// the 1 that the largest logit contributes.
pub const EXP_FLOOR: f32 = -87.0;

#[inline(always)]
pub(crate) fn top(logits: &[f32]) -> Top {
    // Per lane: best value and where it first occurs, next best value (NaN compares false).
    let (mut best, mut next) = ([f32::NEG_INFINITY; LANES], [f32::NEG_INFINITY; LANES]);
    let mut at = [u32::MAX; LANES];
    let chunks = logits.chunks_exact(LANES);
    let rest = chunks.remainder();
    for (c, chunk) in chunks.enumerate() {
        let base = (c * LANES) as u32;
        for (k, &l) in chunk.iter().enumerate() {
            let gt = l > best[k];
            next[k] = if gt { best[k] } else { next[k].max(l) };
            at[k] = if gt { base + k as u32 } else { at[k] };
            best[k] = if gt { l } else { best[k] };
        }
    }
    // Across lanes (the smallest index on ties), then the remainder, whose indices follow.
    let (mut max, mut second, mut index) = (f32::NEG_INFINITY, f32::NEG_INFINITY, None);
    for k in 0..LANES {
        if at[k] == u32::MAX {
            continue;
        }
        let i = at[k] as usize;
        if best[k] > max || (best[k] == max && index.is_some_and(|j| i < j)) {
            second = second.max(max);
            max = best[k];
            index = Some(i);
        } else {
            second = second.max(best[k]);
        }
    }
    let offset = logits.len() - rest.len();
    for (k, &l) in rest.iter().enumerate() {
        if l > max {
            second = max;
            max = l;
            index = Some(offset + k);
        } else {
            second = second.max(l);
        }
    }
    second = next.iter().fold(second, |a, &n| a.max(n));
    // A row of −∞ and NaN only: the first number, as llama.cpp's greedy sampler would take.
    let index = index.or_else(|| logits.iter().position(|l| !l.is_nan()));
    Top { max, index, second }
}

#[inline(always)]
pub(crate) fn exp_sums(logits: &[f32], max: f32) -> ExpSums {
    let (mut zs, mut ss) = ([0f32; LANES], [0f32; LANES]);
    let chunks = logits.chunks_exact(LANES);
    let rest = chunks.remainder();
    for chunk in chunks {
        for ((z, s), &l) in zs.iter_mut().zip(ss.iter_mut()).zip(chunk) {
            // Clamped so that a masked (−∞) logit adds 0·(−87), not 0·(−∞) = NaN.
            let d = floored(l - max);
            let e = exp_nonpositive(d);
            *z += e;
            *s += e * d;
        }
    }
    let (mut z, mut s) = (0f64, 0f64);
    for (zl, sl) in zs.iter().zip(&ss) {
        z += f64::from(*zl);
        s += f64::from(*sl);
    }
    for &l in rest {
        let d = f64::from(floored(l - max));
        let e = d.exp();
        z += e;
        s += e * d;
    }
    ExpSums { z, s }
}

/// `d` raised to [`EXP_FLOOR`], NaN included, in one compare and select: `f32::max` would also
/// do, but its NaN rules cost several instructions a lane without AVX-512.
#[inline(always)]
fn floored(d: f32) -> f32 {
    if d > EXP_FLOOR {
        d
    } else {
        EXP_FLOOR
    }
}

/// e^d for d in [[`EXP_FLOOR`], 0] (see [`floored`]), in f32 without a libm call, so that a loop
/// over it vectorises: 2^(d·log2 e) split into an integer power (added to the exponent bits) and
/// a fraction in [−½, ½] (Taylor series to degree 6). Relative error below 4·10⁻⁶: f32 is exact
/// enough for a score in [0, 1].
#[inline(always)]
fn exp_nonpositive(d: f32) -> f32 {
    // Adding and removing 1.5·2²³ rounds to the nearest integer without a libm call.
    const ROUND: f32 = 12_582_912.0;
    let t = d * std::f32::consts::LOG2_E;
    let rounded = t + ROUND;
    let n = rounded - ROUND;
    let f = (t - n) * std::f32::consts::LN_2;
    let p = 1.0
        + f * (1.0
            + f * (1.0 / 2.0
                + f * (1.0 / 6.0 + f * (1.0 / 24.0 + f * (1.0 / 120.0 + f * (1.0 / 720.0))))));
    // n is an integer in [−126, 0], held in the low mantissa bits of `rounded` (whose exponent
    // is that of 1.5·2²³): subtracting the bits gives it without a float-to-int conversion,
    // whose saturating semantics do not vectorise.
    let n_bits = rounded.to_bits().wrapping_sub(ROUND.to_bits());
    f32::from_bits(p.to_bits().wrapping_add(n_bits << 23))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exp_nonpositive_is_accurate() {
        for i in 0..=87_000 {
            let d = -(i as f32) / 1000.0;
            let (got, want) = (f64::from(exp_nonpositive(d)), f64::from(d).exp());
            assert!(((got - want) / want).abs() < 4e-6, "e^{d}: {got} vs {want}");
        }
        assert_eq!(exp_nonpositive(0.0), 1.0);
        assert!(exp_nonpositive(floored(f32::NEG_INFINITY)) < 1e-37);
        assert_eq!(floored(f32::NAN), EXP_FLOOR);
    }
}
