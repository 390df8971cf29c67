//! The options of `Model.load` and of `model.generate`/`model.stream` (and `Gateway`'s), and of
//! `Pool.connect`, read strictly (unknown
//! keys are refused with the right name, see `crate::options`).

use std::sync::OnceLock;
use std::time::Duration;

use bizra::inference::{
    ApiKey, Dimension, EngineOptions, GenerateRequest, IhsanInputs, RemoteOptions,
};
use napi::bindgen_prelude::*;
use napi::{sys, Env};
use serde_json::Value;

use crate::convert::{number_in, seconds_in};
use crate::envelope::provenance_in;
use crate::errors::{type_err, Result};
use crate::json;
use crate::options::{Options, Shape};
use crate::tier::model_tier;

/// The keys of `LoadOptions`.
const LOAD_OPTIONS: &[&str] = &[
    "nCtx",
    "threads",
    "nBatch",
    "embeddingNCtx",
    "nGpuLayers",
    "maxQueued",
];

/// The keys of `GenerateOptions`.
const GENERATE_OPTIONS: &[&str] = &[
    "system",
    "maxTokens",
    "temperature",
    "topP",
    "topK",
    "minP",
    "repeatPenalty",
    "seed",
    "stop",
    "ihsan",
    "provenance",
    "ttl",
    "tier",
    "signal",
];

/// The keys of `PoolOptions`.
const POOL_OPTIONS: &[&str] = &[
    "baseUrl",
    "apiKey",
    "model",
    "connectTimeout",
    "readTimeout",
    "maxRetries",
    "topLogprobs",
    "vocabSize",
    "maxInFlight",
];

/// `Pool.connect`'s options over the core's defaults (`baseUrl` required). The API key goes
/// straight into the core's `ApiKey`, which never prints it.
pub(super) fn pool_options(env: &Env, options: Option<Unknown>) -> Result<RemoteOptions> {
    let required =
        || type_err("options must be an object { baseUrl, apiKey?, model?, connectTimeout?, ... }");
    let given = Options::read(env, options, POOL_OPTIONS)?.ok_or_else(required)?;
    let base_url = given.string("baseUrl")?.ok_or_else(|| {
        type_err(
            "options.baseUrl is required: the server's API root, such as http://127.0.0.1:8000/v1",
        )
    })?;
    let mut o = RemoteOptions::new(base_url);
    o.api_key = given.string("apiKey")?.map(ApiKey::new);
    o.model = given.string("model")?;
    if let Some(t) = given.read_with("connectTimeout", duration_in)? {
        o.connect_timeout = t;
    }
    if let Some(t) = given.read_with("readTimeout", duration_in)? {
        o.read_timeout = t;
    }
    if let Some(n) = given.u32("maxRetries")? {
        o.max_retries = n;
    }
    if let Some(n) = given.u32("topLogprobs")? {
        // The core refuses more than its maximum (far below 255).
        o.top_logprobs = u8::try_from(n).unwrap_or(u8::MAX);
    }
    o.vocab_size = given.u32("vocabSize")?;
    if let Some(n) = given.u32("maxInFlight")? {
        o.max_in_flight = n;
    }
    Ok(o)
}

/// A duration in seconds, fractions allowed (`0.5`); the core refuses 0.
fn duration_in(env: &Env, raw: sys::napi_value, what: &str) -> Result<Option<Duration>> {
    match number_in(env, raw, what)? {
        None => Ok(None),
        Some(s) => Duration::try_from_secs_f64(s).map(Some).map_err(|_| {
            type_err(format!(
                "{what} must be a number of seconds, 0 or more, got {s}"
            ))
        }),
    }
}

/// `Model.load`'s options over the core's defaults.
pub(super) fn engine_options(env: &Env, options: Option<Unknown>) -> Result<EngineOptions> {
    let mut o = EngineOptions::default();
    let Some(given) = Options::read(env, options, LOAD_OPTIONS)? else {
        return Ok(o);
    };
    if let Some(n) = given.u32("nCtx")? {
        o.n_ctx = n;
    }
    o.n_threads = given.u32("threads")?;
    if let Some(n) = given.u32("nBatch")? {
        o.n_batch = n;
    }
    if let Some(n) = given.u32("embeddingNCtx")? {
        o.embedding_n_ctx = n;
    }
    if let Some(n) = given.u32("nGpuLayers")? {
        o.n_gpu_layers = n;
    }
    if let Some(n) = given.u32("maxQueued")? {
        o.max_queued = n;
    }
    Ok(o)
}

/// `generate`/`stream` arguments as the core's request, and the abort signal if any.
pub(super) fn request(
    env: &Env,
    prompt: String,
    options: Option<Unknown>,
) -> Result<(GenerateRequest, Option<Object<'static>>)> {
    let mut r = GenerateRequest::chat(prompt);
    let Some(o) = Options::read(env, options, GENERATE_OPTIONS)? else {
        return Ok((r, None));
    };
    if let Some(s) = o.string("system")? {
        r = r.system(s);
    }
    if let Some(n) = o.u32("maxTokens")? {
        r = r.max_tokens(n);
    }
    // Sampling values as f32; the core checks their ranges (`INVALID_INPUT`).
    if let Some(t) = o.number("temperature")? {
        r.sampling.temperature = t as f32;
    }
    if let Some(p) = o.number("topP")? {
        r.sampling.top_p = p as f32;
    }
    if let Some(k) = o.u32("topK")? {
        r.sampling.top_k = k;
    }
    if let Some(p) = o.number("minP")? {
        r.sampling.min_p = p as f32;
    }
    if let Some(p) = o.number("repeatPenalty")? {
        r.sampling.repeat_penalty = p as f32;
    }
    r.sampling.seed = o.u32("seed")?;
    r.stop = o.read_with("stop", stop_in)?.unwrap_or_default();
    r.provenance = o
        .read_with("provenance", |env, raw, _| {
            provenance_in(env, raw).map(Some)
        })?
        .unwrap_or_default();
    if let Some(ttl) = o.read_with("ttl", seconds_in)? {
        r = r.ttl(ttl);
    }
    if let Some(inputs) = o.read_with("ihsan", ihsan_in)? {
        r = r.ihsan(inputs);
    }
    // Forces the tier: a `Gateway` honours it, a `Model` serves the request whatever it says.
    r.tier = o.string("tier")?.as_deref().map(model_tier).transpose()?;
    let signal = o.signal("signal")?;
    Ok((r, signal))
}

/// `stop`: a string or an array of strings.
fn stop_in(env: &Env, raw: sys::napi_value, what: &str) -> Result<Option<Vec<String>>> {
    let wrong = || type_err(format!("{what} must be a string or an array of strings"));
    match json::from_js(env.raw(), raw, what).map_err(|_| wrong())? {
        Value::String(s) => Ok(Some(vec![s])),
        Value::Array(items) => items
            .into_iter()
            .map(|v| match v {
                Value::String(s) => Ok(s),
                _ => Err(wrong()),
            })
            .collect::<Result<Vec<_>>>()
            .map(Some),
        _ => Err(wrong()),
    }
}

/// The Ihsan dimensions by their JavaScript names (`userBenefit` for the core's `user_benefit`),
/// in the core's order: the keys of the `ihsan` option. The core refuses those it measures itself.
fn dimensions() -> &'static [(String, Dimension)] {
    static NAMES: OnceLock<Vec<(String, Dimension)>> = OnceLock::new();
    NAMES.get_or_init(|| {
        Dimension::ALL
            .into_iter()
            .map(|d| (camel_case(d.name()), d))
            .collect()
    })
}

fn camel_case(snake: &str) -> String {
    let mut out = String::with_capacity(snake.len());
    let mut upper = false;
    for c in snake.chars() {
        if c == '_' {
            upper = true;
        } else if upper {
            out.extend(c.to_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}

/// `{ correctness?, safety?, userBenefit?, adlFairness? }`: the Ihsan dimensions the engine
/// cannot measure, vouched for by the caller.
fn ihsan_in(env: &Env, raw: sys::napi_value, what: &str) -> Result<Option<IhsanInputs>> {
    let names: Vec<&str> = dimensions().iter().map(|(n, _)| n.as_str()).collect();
    let shape = Shape {
        what,
        noun: "ihsan dimension",
        prefix: "",
        known: &names,
    };
    let Some(o) = Options::of(env, raw, shape)? else {
        return Err(type_err(format!(
            "{what} must be an object {{ correctness?, safety?, userBenefit?, adlFairness? }}"
        )));
    };
    let mut inputs = IhsanInputs::new();
    for (name, dimension) in dimensions() {
        if let Some(v) = o.read_with(name, |env, raw, _| {
            number_in(env, raw, &format!("{what}.{name}"))
        })? {
            inputs = inputs.with(*dimension, v);
        }
    }
    Ok(Some(inputs))
}
