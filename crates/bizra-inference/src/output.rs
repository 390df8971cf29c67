//! Signed outputs: every generation becomes a PCI envelope whose payload says what produced it
//! and whose scores were measured on it.

use std::collections::BTreeMap;

use serde_json::{json, Map, Value};

use crate::engine::{Completion, Engine, TokenCallback};
use crate::gateway::Route;
use crate::remote::RemoteCompletion;
use crate::scoring::{Dimension, IhsanScore, SNR_FORMULA, SNR_FORMULA_TOP_LOGPROBS};
use crate::{CancelToken, GenerateRequest, ModelInfo};
use bizra_protocol::hash::to_hex;
use bizra_protocol::identity::Identity;
use bizra_protocol::tier::ModelTier;
use bizra_protocol::Envelope;
use bizra_protocol::Result;

/// The `type` member of an inference payload.
pub const INFERENCE_PAYLOAD_TYPE: &str = "bizra.inference";

/// The Ihsan dimensions measured on a completion (see [`Dimension`] for each signal).
/// `reproducible`: the payload records everything needed to re-run it (weights hash, prompt
/// hash, every sampling parameter and the seed actually used); `local`: it ran on this node's
/// embedded engine.
fn measured_dimensions(
    completion: &Completion,
    reproducible: bool,
    local: bool,
) -> BTreeMap<Dimension, f64> {
    let mut m = BTreeMap::new();
    let one_if = |b: bool| if b { 1.0 } else { 0.0 };
    m.insert(
        Dimension::Efficiency,
        one_if(completion.finish_reason.is_natural()),
    );
    m.insert(Dimension::Auditability, one_if(reproducible));
    m.insert(Dimension::AntiCentralization, one_if(local));
    if let Some(margin) = completion.stats.mean_margin() {
        m.insert(Dimension::Robustness, margin);
    }
    m
}

/// How a completion was produced, for its payload.
struct Origin<'a> {
    /// The payload members that say what produced it (`model`, `tier`, `params`, ...).
    members: Map<String, Value>,
    /// How its SNR is computed.
    formula: &'a str,
    reproducible: bool,
    local: bool,
}

/// Builds the payload of a completion (its origin's members, the output, the finish reason and
/// the measured scores) and signs it.
fn sign_payload(
    identity: &Identity,
    request: &GenerateRequest,
    completion: &Completion,
    origin: Origin<'_>,
) -> Result<Envelope> {
    let ihsan = IhsanScore::compute(
        &measured_dimensions(completion, origin.reproducible, origin.local),
        &request.ihsan,
    );
    let stats = &completion.stats;
    let snr = stats.snr();
    let mut payload = Map::new();
    payload.insert("type".into(), json!(INFERENCE_PAYLOAD_TYPE));
    payload.insert("output".into(), json!(completion.text));
    payload.extend(origin.members);
    payload.insert(
        "finish_reason".into(),
        json!(completion.finish_reason.name()),
    );
    payload.insert(
        "scores".into(),
        json!({
            "snr": {
                "value": snr,
                "formula": origin.formula,
                "tokens": stats.count,
                "mean_prob": stats.mean_prob(),
                "mean_certainty": stats.mean_certainty(),
                "perplexity": stats.perplexity().filter(|p| p.is_finite()),
            },
            "ihsan": ihsan.to_json(),
        }),
    );
    let mut builder = Envelope::builder(Value::Object(payload))
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

/// Builds and signs the envelope of a completion of the embedded engine.
pub(crate) fn sign_completion(
    identity: &Identity,
    info: &ModelInfo,
    tier: ModelTier,
    request: &GenerateRequest,
    completion: &Completion,
    routed: Option<Routed<'_>>,
) -> Result<Envelope> {
    let mut params = request.sampling.to_json(completion.seed);
    if let Value::Object(p) = &mut params {
        p.insert("max_tokens".into(), json!(request.max_tokens));
        p.insert("stop".into(), json!(request.stop));
    }
    let members = json!({
        "model": info.payload_json(),
        "tier": tier.name(),
        "prompt_blake3": blake3_hex(&completion.rendered_prompt),
        "chat_template": completion
            .chat_template
            .as_ref()
            .map(crate::ChatTemplateUse::to_json),
        "params": params,
        "tokens": {
            "prompt": completion.prompt_tokens,
            "completion": completion.completion_tokens,
        },
        "timings_ms": {
            "prompt": round3(completion.prompt_ms),
            "generation": round3(completion.generation_ms),
        },
    });
    let origin = Origin {
        members: with_route(members, routed),
        formula: SNR_FORMULA,
        reproducible: info.file_blake3.len() == 64,
        local: tier != ModelTier::Pool,
    };
    sign_payload(identity, request, completion, origin)
}

/// Builds and signs the envelope of a remote server's completion: the backend (`base_url`, the
/// API root without credentials, and the model as the server reports it) and the timings
/// measured by the client are in the payload. `prompt_blake3` hashes the messages as sent (JSON).
/// Not reproducible from the payload (the weights are the server's), and not local.
pub(crate) fn sign_remote(
    identity: &Identity,
    base_url: &str,
    request: &GenerateRequest,
    remote: &RemoteCompletion,
    routed: Option<Routed<'_>>,
) -> Result<Envelope> {
    let c = &remote.completion;
    let members = json!({
        "backend": {
            "kind": "openai-compatible",
            "base_url": base_url,
            "model": remote.model,
        },
        "model": {"name": remote.model},
        "tier": ModelTier::Pool.name(),
        "prompt_blake3": blake3_hex(&c.rendered_prompt),
        "params": crate::remote::sent_params(request, c.seed),
        "tokens": {
            // A prompt has tokens: 0 means the server did not report them.
            "prompt": (c.prompt_tokens > 0).then_some(c.prompt_tokens),
            "completion": c.completion_tokens,
        },
        "timings_ms": {
            "request": round3(remote.total_ms),
            "first_token": c.time_to_first_token_ms.map(round3),
            "server": remote.server_timings,
        },
        "server_finish_reason": remote.server_finish_reason,
        "vocab_size": remote.vocab_size,
    });
    let origin = Origin {
        members: with_route(members, routed),
        formula: SNR_FORMULA_TOP_LOGPROBS,
        reproducible: false,
        local: false,
    };
    sign_payload(identity, request, c, origin)
}

/// How a [`crate::Gateway`] served a request, signed beside the backend's members.
#[derive(Clone, Copy)]
pub(crate) struct Routed<'a> {
    /// Signed as `route`.
    pub route: &'a Route,
    /// Signed as `params.system_prompt` when the request's system message was shaped.
    pub system_prompt: Option<&'a Value>,
}

/// The members of an origin, with the gateway's `route` (and `params.system_prompt`) when it
/// routed the request.
fn with_route(members: Value, routed: Option<Routed<'_>>) -> Map<String, Value> {
    let mut m = match members {
        Value::Object(m) => m,
        _ => Map::new(),
    };
    if let Some(routed) = routed {
        m.insert("route".into(), routed.route.to_json());
        if let (Some(shaped), Some(Value::Object(params))) =
            (routed.system_prompt, m.get_mut("params"))
        {
            params.insert("system_prompt".into(), shaped.clone());
        }
    }
    m
}

fn blake3_hex(text: &str) -> String {
    to_hex(blake3::hash(text.as_bytes()).as_bytes())
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
    /// "tokens", "timings_ms", "chat_template", "finish_reason", "scores"}` (`chat_template`:
    /// `{"source": "gguf"}` when the model's own template rendered the messages,
    /// `{"source": "llama.cpp", "reason"}` when llama.cpp's matcher stood in, `null` for a raw
    /// prompt), provenance = the request's, and
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
        let completion = self.complete_with(request, cancel, on_token)?;
        self.sign(identity, request, &completion)
    }

    /// Signs a completion this engine produced for `request`, as served at the engine's tier.
    pub fn sign(
        &self,
        identity: &Identity,
        request: &GenerateRequest,
        completion: &Completion,
    ) -> Result<Envelope> {
        let info = self.info();
        sign_completion(identity, info, info.tier, request, completion, None)
    }
}
