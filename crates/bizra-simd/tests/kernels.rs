//! Every instruction set this CPU has gives the baseline's results bit for bit, and the baseline
//! gives the textbook ones.

use bizra_simd::{ExpSums, Isa, Kernels, Top, EXP_FLOOR, LANES};
use proptest::prelude::*;

/// The largest logits by a plain scan: the first largest number (NaN passed over), the second
/// counting a tie, and for a row of −∞ and NaN only, the first number.
fn reference_top(row: &[f32]) -> Top {
    let mut index: Option<usize> = None;
    for (i, &v) in row.iter().enumerate() {
        if !v.is_nan() && index.is_none_or(|b| v > row[b]) {
            index = Some(i);
        }
    }
    let max = index.map_or(f32::NEG_INFINITY, |i| row[i]);
    let second = row
        .iter()
        .enumerate()
        .filter(|&(i, _)| Some(i) != index)
        .map(|(_, &v)| v)
        .fold(f32::NEG_INFINITY, f32::max);
    Top { max, index, second }
}

/// A logit as a model gives them, with the values that must not break a pass mixed in.
fn logit() -> impl Strategy<Value = f32> {
    prop_oneof![
        20 => -30f32..30f32,
        1 => Just(f32::NEG_INFINITY),
        1 => Just(f32::NAN),
        1 => Just(f32::INFINITY),
        1 => Just(7.5f32),
        1 => prop::num::f32::ANY,
    ]
}

fn same_top(a: &Top, b: &Top) -> bool {
    a.index == b.index
        && a.max.to_bits() == b.max.to_bits()
        && a.second.to_bits() == b.second.to_bits()
}

fn same_sums(a: &ExpSums, b: &ExpSums) -> bool {
    a.z.to_bits() == b.z.to_bits() && a.s.to_bits() == b.s.to_bits()
}

#[test]
fn the_baseline_is_always_available_and_best_is_the_widest() {
    assert!(Kernels::of(Isa::Baseline).is_some());
    assert_eq!(Kernels::baseline().isa(), Isa::Baseline);
    let available: Vec<Isa> = Kernels::available().map(Kernels::isa).collect();
    assert_eq!(available.first(), Some(&Isa::Baseline));
    assert_eq!(Some(&Kernels::best().isa()), available.last());
    for isa in Isa::ALL {
        assert_eq!(Kernels::of(isa).is_some(), isa.is_available(), "{isa}");
    }
    println!("this CPU runs: {available:?}");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn every_isa_gives_the_baseline_bit_for_bit(
        row in prop::collection::vec(logit(), 0..(LANES * 9 + 5)),
    ) {
        let top = Kernels::baseline().top(&row);
        let sums = Kernels::baseline().exp_sums(&row, top.max);
        for kernels in Kernels::available() {
            let t = kernels.top(&row);
            prop_assert!(same_top(&t, &top), "{}: {t:?} vs {top:?}", kernels.isa());
            let s = kernels.exp_sums(&row, top.max);
            prop_assert!(same_sums(&s, &sums), "{}: {s:?} vs {sums:?}", kernels.isa());
        }
    }

    #[test]
    fn top_is_the_plain_scans(row in prop::collection::vec(logit(), 0..(LANES * 9 + 5))) {
        let want = reference_top(&row);
        for kernels in Kernels::available() {
            let got = kernels.top(&row);
            prop_assert_eq!(got.index, want.index, "{}", kernels.isa());
            if want.index.is_some() {
                prop_assert_eq!(got.max.to_bits(), want.max.to_bits());
            }
            prop_assert!(
                got.second.to_bits() == want.second.to_bits()
                    || (got.second.is_nan() && want.second.is_nan()),
                "{}: second {} vs {}", kernels.isa(), got.second, want.second
            );
        }
    }

    #[test]
    fn exp_sums_are_the_textbook_sums(row in prop::collection::vec(-40f32..40f32, 1..3_000)) {
        let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let (mut z, mut s) = (0f64, 0f64);
        for &l in &row {
            let d = f64::from((l - max).max(EXP_FLOOR));
            z += d.exp();
            s += d.exp() * d;
        }
        for kernels in Kernels::available() {
            let got = kernels.exp_sums(&row, max);
            prop_assert!((got.z - z).abs() <= 1e-5 * z, "{}: z {} vs {z}", kernels.isa(), got.z);
            prop_assert!((got.s - s).abs() <= 1e-5 * z.max(s.abs()), "{}: s {} vs {s}", kernels.isa(), got.s);
        }
    }
}

/// A full vocabulary, as the engine passes it for every token.
#[test]
fn a_vocabulary_row_agrees_on_every_isa() {
    let mut x = 0x2545_f491u32;
    let row: Vec<f32> = (0..49_152)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            (x as f32 / u32::MAX as f32) * 24.0 - 12.0
        })
        .collect();
    let top = Kernels::baseline().top(&row);
    assert_eq!(top.index, reference_top(&row).index);
    let sums = Kernels::baseline().exp_sums(&row, top.max);
    for kernels in Kernels::available() {
        assert!(same_top(&kernels.top(&row), &top), "{}", kernels.isa());
        assert!(
            same_sums(&kernels.exp_sums(&row, top.max), &sums),
            "{}",
            kernels.isa()
        );
    }
}
