//! Shared by the test files: deterministic random vectors and signed envelopes.
#![allow(dead_code)]

use bizra_protocol::{Envelope, Identity};
use serde_json::json;

/// SmolLM2-135M's embedding size.
pub const DIM: usize = 576;

/// SplitMix64: a small deterministic generator, so every run sees the same vectors.
pub struct Rng(pub u64);

impl Rng {
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in (0, 1).
    pub fn unit(&mut self) -> f64 {
        ((self.next_u64() >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    }

    /// A standard normal deviate (Box–Muller).
    pub fn normal(&mut self) -> f64 {
        let (u, v) = (self.unit(), self.unit());
        (-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()
    }

    /// A random direction in `dim` dimensions (normal coordinates, so uniform on the sphere).
    pub fn vector(&mut self, dim: usize) -> Vec<f32> {
        (0..dim).map(|_| self.normal() as f32).collect()
    }
}

pub fn normalised(v: &[f32]) -> Vec<f32> {
    let n = v.iter().map(|&x| f64::from(x).powi(2)).sum::<f64>().sqrt();
    v.iter().map(|&x| (f64::from(x) / n) as f32).collect()
}

/// A signed `bizra.pattern` envelope carrying `content`.
pub fn pattern_envelope(id: &Identity, content: &str) -> Envelope {
    Envelope::create(id, json!({"type": "bizra.pattern", "content": content}))
        .expect("signing a pattern")
}

/// A signed `bizra.inference` envelope whose output is `output`.
pub fn inference_envelope(id: &Identity, output: &str) -> Envelope {
    Envelope::create(
        id,
        json!({"type": "bizra.inference", "output": output, "model": "test"}),
    )
    .expect("signing an output")
}

/// Vectors gathered around `clusters` random directions (each point at cosine ≈ 0.8 from its
/// centre, two points of one cluster ≈ 0.64, of two clusters ≈ 0): the shape of real
/// embeddings, which group by topic, unlike uniformly random vectors.
pub struct Clustered {
    centers: Vec<Vec<f32>>,
}

impl Clustered {
    pub fn new(rng: &mut Rng, clusters: usize, dim: usize) -> Self {
        Clustered {
            centers: (0..clusters)
                .map(|_| normalised(&rng.vector(dim)))
                .collect(),
        }
    }

    pub fn draw(&self, rng: &mut Rng) -> Vec<f32> {
        let c = &self.centers[(rng.next_u64() % self.centers.len() as u64) as usize];
        let noise = rng.vector(c.len());
        let sigma = 0.75 / (c.len() as f32).sqrt();
        normalised(
            &c.iter()
                .zip(&noise)
                .map(|(a, b)| a + sigma * b)
                .collect::<Vec<f32>>(),
        )
    }
}
