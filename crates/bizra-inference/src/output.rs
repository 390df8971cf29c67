//! Signed outputs: every generation becomes a PCI envelope whose payload says what produced it
//! and whose scores were measured on it.

use std::collections::BTreeMap;

use serde_json::{json, Value};

use crate::engine::{Completion, Engine, TokenCallback};
use crate::scoring::{Dimension, IhsanScore, SNR_FORMULA};
use crate::{CancelToken, GenerateRequest, ModelInfo};
use bizra_protocol::hash::to_hex;
use bizra_protocol::identity::Identity;
use bizra_protocol::tier::ModelTier;
use bizra_protocol::Envelope;
use bizra_protocol::Result;

/// The `type` member of an inference payload.
pub const INFERENCE_PAYLOAD_TYPE: &str = "bizra.inference";

/// The Ihsan dimensions the engine measures on a completion (see [`Dimension`] for each
/// signal). `local` says whether it ran on this node's embedded engine.
fn measured_dimensions(
    info: &ModelInfo,
    completion: &Completion,
    local: bool,
) -> BTreeMap<Dimension, f64> {
    let mut m = BTreeMap::new();
    m.insert(
        Dimension::Efficiency,
        if completion.finish_reason.is_natural() {
            1.0
        } else {
            0.0
        },
    );
    // Everything needed to re-run it is in the payload: weights hash, prompt hash, every
    // sampling parameter and the seed actually drawn.
    let reproducible = info.file_blake3.len() == 64;
    m.insert(
        Dimension::Auditability,
        if reproducible { 1.0 } else { 0.0 },
    );
    m.insert(Dimension::AntiCentralization, if local { 1.0 } else { 0.0 });
    if let Some(margin) = completion.stats.mean_margin() {
        m.insert(Dimension::Robustness, margin);
    }
    m
}

/// Builds and signs the envelope of a completion.
pub(crate) fn sign_completion(
    identity: &Identity,
    info: &ModelInfo,
    tier: ModelTier,
    request: &GenerateRequest,
    completion: &Completion,
) -> Result<Envelope> {
    let local = tier != ModelTier::Pool;
    let ihsan = IhsanScore::compute(
        &measured_dimensions(info, completion, local),
        &request.ihsan,
    );
    let stats = &completion.stats;
    let snr = stats.snr();
    let mut params = request.sampling.to_json(completion.seed);
    if let Value::Object(p) = &mut params {
        p.insert("max_tokens".into(), json!(request.max_tokens));
        p.insert("stop".into(), json!(request.stop));
    }
    let payload = json!({
        "type": INFERENCE_PAYLOAD_TYPE,
        "output": completion.text,
        "model": info.payload_json(),
        "tier": tier.name(),
        "prompt_blake3": to_hex(blake3::hash(completion.rendered_prompt.as_bytes()).as_bytes()),
        "params": params,
        "tokens": {
            "prompt": completion.prompt_tokens,
            "completion": completion.completion_tokens,
        },
        "timings_ms": {
            "prompt": round3(completion.prompt_ms),
            "generation": round3(completion.generation_ms),
        },
        "finish_reason": completion.finish_reason.name(),
        "scores": {
            "snr": {
                "value": snr,
                "formula": SNR_FORMULA,
                "tokens": stats.count,
                "mean_prob": stats.mean_prob(),
                "mean_certainty": stats.mean_certainty(),
                "perplexity": stats.perplexity().filter(|p| p.is_finite()),
            },
            "ihsan": ihsan.to_json(),
        },
    });
    let mut builder = Envelope::builder(payload)
        .provenance(request.provenance.iter().cloned())
        .ihsan(ihsan.score);
    if let Some(snr) = snr {
        builder = builder.snr(snr);
    }
    if let Some(ttl) = request.ttl {
        builder = builder.ttl(ttl);
    }
    builder.sign(identity)
}

fn round3(x: f64) -> f64 {
    if x.is_finite() {
        (x * 1000.0).round() / 1000.0
    } else {
        0.0
    }
}

impl Engine {
    /// Generates and returns the output as an envelope signed by `identity`: payload
    /// `{"type": "bizra.inference", "output", "model", "tier", "prompt_blake3", "params",
    /// "tokens", "timings_ms", "finish_reason", "scores"}`, provenance = the request's, and
    /// measured `snr` and `ihsan` scores (see [`crate::SNR_FORMULA`] and
    /// [`Dimension`]). The envelope can go straight into a [`bizra_protocol::GateChain`].
    pub fn generate(&self, identity: &Identity, request: &GenerateRequest) -> Result<Envelope> {
        self.generate_streaming(identity, request, &CancelToken::new(), None)
    }

    /// [`Engine::generate`] with streaming (`on_token` runs on the engine's worker thread) and
    /// cancellation.
    pub fn generate_streaming(
        &self,
        identity: &Identity,
        request: &GenerateRequest,
        cancel: &CancelToken,
        on_token: Option<TokenCallback>,
    ) -> Result<Envelope> {
        let tier = self.info().tier;
        self.generate_as(identity, request, tier, cancel, on_token)
    }

    /// Signs a completion this engine produced for `request`, as served at the engine's tier.
    pub fn sign(
        &self,
        identity: &Identity,
        request: &GenerateRequest,
        completion: &Completion,
    ) -> Result<Envelope> {
        sign_completion(identity, self.info(), self.info().tier, request, completion)
    }

    pub(crate) fn generate_as(
        &self,
        identity: &Identity,
        request: &GenerateRequest,
        tier: ModelTier,
        cancel: &CancelToken,
        on_token: Option<TokenCallback>,
    ) -> Result<Envelope> {
        let completion = self.complete_with(request, cancel, on_token)?;
        sign_completion(identity, self.info(), tier, request, &completion)
    }
}
