//! Measured scores of a generated output: SNR from the model's own token probabilities, and the
//! Ihsan score from weighted dimensions that are each measured or supplied by the caller.
//!
//! Why measured: an envelope's scores are what the gate chain admits on, so a score the engine
//! merely asserted would make the gates meaningless. Where a dimension cannot be measured here
//! (is the answer correct? is it safe?), it is reported as unmeasured and contributes nothing: the
//! Ihsan score is a lower bound of what is known, never an invented figure.

use std::collections::BTreeMap;
use std::fmt;

use bizra_simd::{ExpSums, Kernels, Top};
use serde_json::{json, Map, Value};

use bizra_protocol::{Error, Result};

/// Running statistics over the model's full next-token distributions (softmax of the raw
/// logits at temperature 1, before any sampler), one entry per generated token.
///
/// The raw distribution is used, not the sampler-truncated one, so the score reflects what the
/// model believed, whatever the sampling settings.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TokenStats {
    /// Generated tokens observed.
    pub count: u64,
    /// Σ p(chosen token).
    pub sum_prob: f64,
    /// Σ (1 − H / ln V), H the entropy (nats) of the distribution, V the vocabulary size.
    pub sum_certainty: f64,
    /// Σ (p(top-1) − p(top-2)).
    pub sum_margin: f64,
    /// Σ ln p(chosen token).
    pub sum_logprob: f64,
}

impl TokenStats {
    /// Adds one position: `logits` is the model's output row, `chosen` the sampled token index.
    ///
    /// This is on the per-token path, so both passes over the vocabulary (the largest logits,
    /// then the softmax sums) are [`bizra_simd::Kernels`]: branch-free lanes, compiled for SSE2,
    /// AVX2 and AVX-512 and run with the best this CPU has, with the same result on every CPU.
    /// A 49k vocabulary then costs well under 1% of a token at 100 tokens/s, and f32 is exact
    /// enough for a score in [0, 1].
    pub fn observe(&mut self, logits: &[f32], chosen: usize) {
        let top = Kernels::best().top(logits);
        self.record(logits, &top, chosen);
    }

    /// Greedy decoding: picks the largest logit (the first on ties, as llama.cpp's greedy
    /// sampler) and observes it as the chosen token, in the same passes as
    /// [`observe`](Self::observe); `None` for an empty row or one with no number. A separate
    /// scalar search cost half as much again as both vectorised passes: at GPU speeds (about
    /// 1 ms a token for a small model) that was several percent of the token.
    pub fn observe_greedy(&mut self, logits: &[f32]) -> Option<usize> {
        let top = Kernels::best().top(logits);
        let chosen = top.index?;
        self.record(logits, &top, chosen);
        Some(chosen)
    }

    fn record(&mut self, logits: &[f32], top: &Top, chosen: usize) {
        let Top { max, second, .. } = *top;
        if logits.len() < 2 || !max.is_finite() {
            return;
        }
        // z = Σ e^(l−max); s = Σ e^(l−max)·(l−max): H = ln z − s / z.
        let ExpSums { z, s } = Kernels::best().exp_sums(logits, max);
        if !(z.is_finite() && z > 0.0 && s.is_finite()) {
            return;
        }
        let entropy = (z.ln() - s / z).max(0.0);
        let ln_v = (logits.len() as f64).ln();
        let chosen_d = logits
            .get(chosen)
            .map_or(f64::NEG_INFINITY, |&l| f64::from(l - max));
        let p_chosen = chosen_d.exp() / z;
        let p_second = f64::from(second - max).exp() / z;
        self.count += 1;
        self.sum_prob += p_chosen;
        self.sum_certainty += (1.0 - entropy / ln_v).clamp(0.0, 1.0);
        self.sum_margin += (1.0 / z - p_second).max(0.0);
        self.sum_logprob += p_chosen.max(f64::MIN_POSITIVE).ln();
    }

    /// Adds one position served by a remote model, which reports only the log-probabilities of
    /// a few tokens (the chosen one and the server's top alternatives), not the whole
    /// distribution: `known` holds those of distinct tokens, the chosen one included, and `vocab`
    /// is the vocabulary size V. See [`SNR_FORMULA_TOP_LOGPROBS`] for what is recorded.
    ///
    /// Non-finite log-probabilities are passed over; a position whose chosen log-probability is
    /// not finite, or with V < 2, is not observed.
    pub fn observe_top_logprobs(&mut self, chosen: f64, known: &[f64], vocab: u64) {
        if !chosen.is_finite() || vocab < 2 {
            return;
        }
        let mut probs: Vec<f64> = known
            .iter()
            .filter(|l| l.is_finite())
            .map(|&l| l.min(0.0).exp())
            .collect();
        probs.sort_by(|a, b| b.total_cmp(a));
        probs.truncate(usize::try_from(vocab).unwrap_or(usize::MAX));
        let p_chosen = chosen.min(0.0).exp();
        let mass: f64 = probs.iter().sum();
        let rest = (1.0 - mass).max(0.0);
        let unknown = vocab.saturating_sub(probs.len() as u64);
        // The largest entropy the known probabilities allow: the rest spread evenly over the
        // tokens the server did not report.
        let mut entropy: f64 = probs
            .iter()
            .filter(|&&p| p > 0.0)
            .map(|&p| -p * p.ln())
            .sum();
        if rest > 0.0 && unknown > 0 {
            entropy -= rest * (rest / unknown as f64).ln();
        }
        let (first, second) = match probs.as_slice() {
            [] => (p_chosen, rest),
            [p] => (*p, rest.min(*p)),
            [p, q, ..] => (*p, *q),
        };
        self.count += 1;
        self.sum_prob += p_chosen;
        self.sum_certainty += (1.0 - entropy / (vocab as f64).ln()).clamp(0.0, 1.0);
        self.sum_margin += (first - second).max(0.0);
        self.sum_logprob += p_chosen.max(f64::MIN_POSITIVE).ln();
    }

    /// Mean probability of the chosen tokens, or `None` before any token.
    pub fn mean_prob(&self) -> Option<f64> {
        self.mean(self.sum_prob)
    }

    /// Mean certainty 1 − H/ln V, or `None` before any token.
    pub fn mean_certainty(&self) -> Option<f64> {
        self.mean(self.sum_certainty)
    }

    /// Mean top-1/top-2 probability margin, or `None` before any token.
    pub fn mean_margin(&self) -> Option<f64> {
        self.mean(self.sum_margin)
    }

    /// Perplexity of the generated text under the model, or `None` before any token.
    pub fn perplexity(&self) -> Option<f64> {
        self.mean(self.sum_logprob).map(|m| (-m).exp())
    }

    /// The SNR of the output (see [`SNR_FORMULA`]), or `None` when no token was generated.
    pub fn snr(&self) -> Option<f64> {
        self.mean_certainty().map(|c| c.clamp(0.0, 1.0))
    }

    fn mean(&self, sum: f64) -> Option<f64> {
        (self.count > 0).then(|| sum / self.count as f64)
    }
}

/// How the SNR is computed, recorded in every output's payload.
///
/// Over the generated tokens t = 1..n, with p_t the model's own next-token distribution at step
/// t (softmax of the raw logits at temperature 1, before any sampler) and V the vocabulary size:
/// `snr = mean_t (1 − H(p_t) / ln V)`, in [0, 1]. H / ln V is the normalised entropy: 0 when the
/// model puts all its mass on one token (pure signal), 1 for a uniform guess (pure noise). A
/// confident answer scores near 1; a continuation of random characters scores far lower (the
/// tests show both with SmolLM2-135M: about 0.89 and 0.56).
///
/// The payload also reports the mean probability of the chosen tokens and the perplexity, so a
/// verifier can apply another rule; they were not used for the score because they penalise
/// legitimate alternatives (two equally good phrasings halve p(chosen) but leave the
/// distribution far from uniform).
pub const SNR_FORMULA: &str =
    "mean over generated tokens of (1 - H/ln V), H the entropy of the raw next-token distribution, V the vocabulary size";

/// How the SNR of a remote model's output is computed, recorded in its payload instead of
/// [`SNR_FORMULA`].
///
/// An OpenAI-compatible server returns, per generated token, the log-probabilities of the chosen
/// token and of its `top_logprobs` most likely alternatives (at most 20), never the whole
/// distribution, so H(p_t) cannot be computed exactly. Of all the distributions that agree with
/// what was reported, the one of largest entropy spreads the unreported mass r = 1 − Σ p_known
/// evenly over the V − k unreported tokens: `H⁺ = −Σ p_i ln p_i − r ln(r / (V − k))`. The score
/// is `mean_t (1 − H⁺(p_t) / ln V)`, the same formula over that entropy, and so never above what
/// [`SNR_FORMULA`] would give on the full distribution: a remote output can only be judged
/// stricter than a local one, never more leniently. With all of the vocabulary reported it is
/// exact. V is the model's vocabulary size, which the client must know (configured, or reported
/// by the server); without it, or when the server returns no probabilities, the SNR is unmeasured
/// and the gate chain fails closed. The robustness margin is likewise a lower bound (p_1 − p_2
/// over the reported tokens, p_2 ≤ r when only one is reported).
pub const SNR_FORMULA_TOP_LOGPROBS: &str =
    "mean over generated tokens of (1 - H+/ln V), H+ the largest entropy of a distribution with the reported top log-probabilities (the unreported mass spread evenly over the unreported tokens), V the vocabulary size";

/// The eight Ihsan dimensions and their weights (they sum to 1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Dimension {
    /// Is the answer right? Not measurable by the engine: supplied by the caller (a checker, a
    /// reference answer, a human).
    Correctness,
    /// Is it free of harm? Supplied by the caller (a classifier or a policy check).
    Safety,
    /// Does it serve the user's request? Supplied by the caller.
    UserBenefit,
    /// Measured: 1 when the model finished its answer itself (end of generation or a stop
    /// string) within the token budget, 0 when cut off by `max_tokens` or cancelled.
    Efficiency,
    /// Measured: 1 when the envelope records everything needed to re-run the output (model
    /// file BLAKE3, prompt BLAKE3, all sampling parameters including the seed actually used).
    Auditability,
    /// Measured: 1 when the output was computed on this node's embedded engine (no third party
    /// saw the prompt), 0 for a remote pool.
    AntiCentralization,
    /// Measured: mean margin p(top-1) − p(top-2) of the model's distributions over the generated
    /// tokens: how far each choice was from flipping.
    Robustness,
    /// Fairness (adl): supplied by the caller.
    AdlFairness,
}

impl Dimension {
    /// All dimensions, heaviest first.
    pub const ALL: [Dimension; 8] = [
        Dimension::Correctness,
        Dimension::Safety,
        Dimension::UserBenefit,
        Dimension::Efficiency,
        Dimension::Auditability,
        Dimension::AntiCentralization,
        Dimension::Robustness,
        Dimension::AdlFairness,
    ];

    /// The dimension's weight in the Ihsan score.
    pub const fn weight(self) -> f64 {
        match self {
            Dimension::Correctness | Dimension::Safety => 0.22,
            Dimension::UserBenefit => 0.14,
            Dimension::Efficiency | Dimension::Auditability => 0.12,
            Dimension::AntiCentralization => 0.08,
            Dimension::Robustness => 0.06,
            Dimension::AdlFairness => 0.04,
        }
    }

    /// snake_case name, as in payloads.
    pub const fn name(self) -> &'static str {
        match self {
            Dimension::Correctness => "correctness",
            Dimension::Safety => "safety",
            Dimension::UserBenefit => "user_benefit",
            Dimension::Efficiency => "efficiency",
            Dimension::Auditability => "auditability",
            Dimension::AntiCentralization => "anti_centralization",
            Dimension::Robustness => "robustness",
            Dimension::AdlFairness => "adl_fairness",
        }
    }

    /// The dimension for a name.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|d| d.name() == name)
    }

    /// Whether the engine measures this dimension itself (then a caller cannot supply it).
    pub const fn is_measured(self) -> bool {
        matches!(
            self,
            Dimension::Efficiency
                | Dimension::Auditability
                | Dimension::AntiCentralization
                | Dimension::Robustness
        )
    }
}

impl fmt::Display for Dimension {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Where a dimension's value came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    /// Measured by the engine on this output.
    Measured,
    /// Supplied by the caller with the request.
    Supplied,
    /// Neither: contributes 0 to the score.
    Unmeasured,
}

impl Source {
    /// Lower-case name, as in payloads.
    pub const fn name(self) -> &'static str {
        match self {
            Source::Measured => "measured",
            Source::Supplied => "supplied",
            Source::Unmeasured => "unmeasured",
        }
    }
}

/// Caller-supplied values for the dimensions the engine cannot measure (correctness, safety,
/// user_benefit, adl_fairness), each in [0, 1].
#[derive(Clone, Debug, Default, PartialEq)]
pub struct IhsanInputs {
    values: BTreeMap<Dimension, f64>,
}

impl IhsanInputs {
    /// No supplied values.
    pub fn new() -> Self {
        Self::default()
    }

    /// Supplies one dimension. Checked by [`IhsanInputs::validate`] (and so by `generate`): the
    /// value must be in [0, 1] and the dimension must not be one the engine measures.
    pub fn with(mut self, dimension: Dimension, value: f64) -> Self {
        self.values.insert(dimension, value);
        self
    }

    /// The supplied value of a dimension.
    pub fn get(&self, dimension: Dimension) -> Option<f64> {
        self.values.get(&dimension).copied()
    }

    /// Refuses measured dimensions (a caller may not overwrite a measurement) and values outside
    /// [0, 1].
    pub fn validate(&self) -> Result<()> {
        for (d, v) in &self.values {
            if d.is_measured() {
                return Err(Error::InvalidInput(format!(
                    "ihsan dimension {d} is measured by the engine and cannot be supplied"
                )));
            }
            if !(0.0..=1.0).contains(v) {
                return Err(Error::InvalidInput(format!(
                    "ihsan dimension {d} must be in [0, 1], got {v}"
                )));
            }
        }
        Ok(())
    }
}

/// One dimension's part of an Ihsan score.
#[derive(Clone, Debug, PartialEq)]
pub struct DimensionScore {
    /// The dimension.
    pub dimension: Dimension,
    /// Its value, where known.
    pub value: Option<f64>,
    /// Where the value came from.
    pub source: Source,
}

/// An Ihsan score with its parts.
#[derive(Clone, Debug, PartialEq)]
pub struct IhsanScore {
    /// Σ weight · value over the known dimensions; unknown ones count 0 (a lower bound).
    pub score: f64,
    /// Every dimension, in [`Dimension::ALL`] order.
    pub dimensions: Vec<DimensionScore>,
}

impl IhsanScore {
    /// Combines the engine's measurements with the caller's inputs.
    pub fn compute(measured: &BTreeMap<Dimension, f64>, supplied: &IhsanInputs) -> Self {
        let mut score = 0.0;
        let mut dimensions = Vec::with_capacity(Dimension::ALL.len());
        for d in Dimension::ALL {
            let (value, source) = if let Some(v) = measured.get(&d) {
                (Some(v.clamp(0.0, 1.0)), Source::Measured)
            } else if let Some(v) = supplied.get(d).filter(|_| !d.is_measured()) {
                (Some(v.clamp(0.0, 1.0)), Source::Supplied)
            } else {
                (None, Source::Unmeasured)
            };
            score += d.weight() * value.unwrap_or(0.0);
            dimensions.push(DimensionScore {
                dimension: d,
                value,
                source,
            });
        }
        IhsanScore {
            score: score.clamp(0.0, 1.0),
            dimensions,
        }
    }

    /// The dimensions with no value.
    pub fn unmeasured(&self) -> Vec<Dimension> {
        self.dimensions
            .iter()
            .filter(|d| d.source == Source::Unmeasured)
            .map(|d| d.dimension)
            .collect()
    }

    /// The payload form: score, and per dimension its weight, value (or null) and source.
    pub fn to_json(&self) -> Value {
        let mut dims = Map::new();
        for d in &self.dimensions {
            dims.insert(
                d.dimension.name().into(),
                json!({
                    "weight": d.dimension.weight(),
                    "value": d.value,
                    "source": d.source.name(),
                }),
            );
        }
        json!({
            "score": self.score,
            "dimensions": dims,
            "unmeasured": self.unmeasured().iter().map(|d| d.name()).collect::<Vec<_>>(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A reproducible stream of numbers in [0, 1] (xorshift32).
    fn uniform(mut x: u32) -> impl FnMut() -> f32 {
        move || {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as f32 / u32::MAX as f32
        }
    }

    #[test]
    fn weights_sum_to_one() {
        let s: f64 = Dimension::ALL.iter().map(|d| d.weight()).sum();
        assert!((s - 1.0).abs() < 1e-12);
    }

    /// Greedy's pick is llama.cpp's (the first largest, NaN passed over) wherever the largest
    /// value sits (in a lane, tied across lanes, in the remainder), and it is observed exactly as
    /// `observe` would observe it.
    #[test]
    fn observe_greedy_picks_the_first_largest_and_observes_it() {
        let reference = |l: &[f32]| -> Option<usize> {
            let mut best: Option<usize> = None;
            for (i, &v) in l.iter().enumerate() {
                if !v.is_nan() && best.is_none_or(|b| v > l[b]) {
                    best = Some(i);
                }
            }
            best
        };
        let mut next = uniform(0x2545_f491u32);
        let mut rows: Vec<Vec<f32>> = Vec::new();
        for n in [1, 2, 7, 8, 9, 17, 1_003, 49_152] {
            let row: Vec<f32> = (0..n).map(|_| next() * 20.0 - 10.0).collect();
            rows.push(row.clone());
            let mut tied = row.clone();
            // The same largest value in two lanes and in the remainder: the first one wins.
            for i in [n / 2, n / 3, n - 1] {
                tied[i] = 50.0;
            }
            rows.push(tied);
            let mut nan = row.clone();
            nan[0] = f32::NAN;
            nan[n - 1] = f32::NAN;
            rows.push(nan);
        }
        rows.push(vec![f32::NEG_INFINITY; 11]);
        rows.push(vec![f32::NAN, f32::NEG_INFINITY, f32::NAN]);
        rows.push(vec![f32::NAN; 9]);
        rows.push(Vec::new());
        for row in &rows {
            let mut greedy = TokenStats::default();
            let picked = greedy.observe_greedy(row);
            assert_eq!(picked, reference(row), "{} logits", row.len());
            let mut plain = TokenStats::default();
            if let Some(i) = picked {
                plain.observe(row, i);
            }
            assert_eq!(greedy, plain, "{} logits", row.len());
        }
    }

    /// The vectorised pass against the textbook formulas in f64, on vocabularies that do and do
    /// not fill the lanes, with ties, a masked (−∞) logit and a wide range of logits.
    #[test]
    fn observe_matches_the_reference_in_f64() {
        let mut next = uniform(0x9e37_79b9u32);
        for (n, spread) in [(49_152, 20.0), (1_003, 60.0), (9, 3.0), (2, 1.0)] {
            let mut logits: Vec<f32> = (0..n).map(|_| next() * spread - spread / 2.0).collect();
            logits[n / 2] = f32::NEG_INFINITY;
            let top = (0..n).fold(0, |t, i| if logits[i] > logits[t] { i } else { t });
            let chosen = (n / 3).min(n - 1);
            let mut stats = TokenStats::default();
            stats.observe(&logits, chosen);

            let max = f64::from(logits[top]);
            let z: f64 = logits.iter().map(|&l| (f64::from(l) - max).exp()).sum();
            let p = |l: f32| (f64::from(l) - max).exp() / z;
            let entropy: f64 = logits
                .iter()
                .map(|&l| p(l))
                .filter(|&q| q > 0.0)
                .map(|q| -q * q.ln())
                .sum();
            let second = (0..n)
                .filter(|&i| i != top)
                .map(|i| logits[i])
                .fold(f32::NEG_INFINITY, f32::max);
            assert_eq!(stats.count, 1);
            let close = |a: f64, b: f64| (a - b).abs() < 1e-5 * b.abs().max(1.0);
            assert!(close(stats.sum_prob, p(logits[chosen])), "n={n}: p(chosen)");
            let certainty = 1.0 - entropy / (n as f64).ln();
            assert!(
                close(stats.sum_certainty, certainty),
                "n={n}: certainty {} vs {certainty}",
                stats.sum_certainty
            );
            assert!(
                close(stats.sum_margin, 1.0 / z - p(second)),
                "n={n}: margin"
            );
        }
        // A tie at the top: no margin.
        let mut tie = TokenStats::default();
        tie.observe(&[1.0, 5.0, 5.0, 0.0], 1);
        assert!(tie.sum_margin.abs() < 1e-9);
    }

    #[test]
    fn peaked_distribution_scores_higher_than_flat() {
        let mut peaked = vec![0.0f32; 1000];
        peaked[7] = 20.0;
        let flat: Vec<f32> = (0..1000).map(|i| (i % 3) as f32 * 0.01).collect();
        let mut a = TokenStats::default();
        a.observe(&peaked, 7);
        let mut b = TokenStats::default();
        b.observe(&flat, 7);
        let (sa, sb) = (a.snr().unwrap(), b.snr().unwrap());
        assert!(sa > 0.95, "{sa}");
        assert!(sb < 0.1, "{sb}");
        assert!(a.mean_margin().unwrap() > 0.9);
        assert!(TokenStats::default().snr().is_none());
    }

    /// With every token reported the top-logprob path is the exact formula; with a few reported
    /// it is a lower bound, and the bound has the documented closed form.
    #[test]
    fn top_logprobs_give_the_exact_score_or_a_lower_bound() {
        let logits = [3.0f32, 1.0, 0.5, -1.0, -2.0, 0.0];
        let z: f64 = logits.iter().map(|&l| f64::from(l).exp()).sum();
        let logprobs: Vec<f64> = logits.iter().map(|&l| f64::from(l) - z.ln()).collect();
        let mut exact = TokenStats::default();
        exact.observe(&logits, 0);
        let mut all = TokenStats::default();
        all.observe_top_logprobs(logprobs[0], &logprobs, 6);
        let close = |a: f64, b: f64| (a - b).abs() < 1e-5;
        assert!(close(all.sum_certainty, exact.sum_certainty));
        assert!(close(all.sum_prob, exact.sum_prob));
        assert!(close(all.sum_margin, exact.sum_margin));

        let mut top2 = TokenStats::default();
        top2.observe_top_logprobs(logprobs[0], &logprobs[..2], 6);
        assert!(top2.sum_certainty < exact.sum_certainty);
        let (p1, p2) = (logprobs[0].exp(), logprobs[1].exp());
        let r = 1.0 - p1 - p2;
        let h = -p1 * p1.ln() - p2 * p2.ln() - r * (r / 4.0).ln();
        assert!(close(top2.sum_certainty, 1.0 - h / 6f64.ln()));

        let mut none = TokenStats::default();
        none.observe_top_logprobs(f64::NAN, &[], 6);
        none.observe_top_logprobs(-0.1, &[-0.1], 1);
        assert_eq!(none.count, 0);
        assert!(none.snr().is_none());
    }

    #[test]
    fn unmeasured_dimensions_count_zero_and_are_reported() {
        let mut m = BTreeMap::new();
        m.insert(Dimension::Efficiency, 1.0);
        let s = IhsanScore::compute(&m, &IhsanInputs::new().with(Dimension::Safety, 1.0));
        assert!((s.score - 0.34).abs() < 1e-12);
        assert_eq!(s.unmeasured().len(), 6);
        let j = s.to_json();
        assert_eq!(j["dimensions"]["correctness"]["source"], "unmeasured");
        assert_eq!(j["dimensions"]["safety"]["source"], "supplied");
    }

    #[test]
    fn caller_cannot_supply_a_measured_dimension() {
        assert!(IhsanInputs::new()
            .with(Dimension::Robustness, 1.0)
            .validate()
            .is_err());
        assert!(IhsanInputs::new()
            .with(Dimension::Safety, 1.5)
            .validate()
            .is_err());
        assert!(IhsanInputs::new()
            .with(Dimension::Safety, 0.5)
            .validate()
            .is_ok());
    }
}
