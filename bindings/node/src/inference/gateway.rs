//! `Pool` and `Gateway`: the core's remote pools (OpenAI-compatible servers) and the gateway that
//! routes a request to the Edge, Local or Pool tier, for Node.
//!
//! A `Gateway` generates as a `Model` does (`generate`, `stream`, an `AbortSignal`, off the main
//! thread, the output signed on the JavaScript thread): the same [`Generation`] machinery, with
//! the gateway as its backend. Every routing rule (the tier decided or forced, the fallbacks, the
//! pools tried in order, what is recorded in the payload's `route`) is the core's.

use std::sync::{Arc, Mutex};

use bizra::inference::{Health, RemoteClient};
use bizra::ModelTier;
use napi::bindgen_prelude::*;
use napi::{sys, Env};
use napi_derive::napi;

use super::generation::{lock, Backend, Generation, Prepared};
use super::model::Model;
use super::options::{pool_options, request};
use super::stream::TokenStream;
use crate::convert::{array_in, string_in, JsObject};
use crate::envelope::Envelope;
use crate::errors::{core_err, guard, js_error, type_err, Result};
use crate::identity::identity_of;
use crate::options::{Options, Shape};
use crate::tasks::{deferred, off_thread, JsRef};
use crate::tier::{decision_out, model_tier, TierDecision};

/// A remote pool: a client for an OpenAI-compatible server (llama.cpp's, vLLM's, ...) that serves
/// the Pool tier of a `Gateway`. `Pool.connect` sends nothing: the server need not be up yet
/// (`health()` asks it). The API key is never shown, in `toString()` or in any error.
#[napi]
pub struct Pool {
    client: RemoteClient,
}

/// What a pool's server says of itself.
#[napi(object)]
pub struct PoolHealth {
    /// `"ready"` (it serves its model), `"loading"` (it answers, still loading its model) or
    /// `"unavailable"` (unreachable, refusing the key, or failing).
    #[napi(ts_type = "'ready' | 'loading' | 'unavailable'")]
    pub state: String,
    /// Why it is not ready.
    pub detail: Option<String>,
}

#[napi]
impl Pool {
    /// A client for the server of `options.baseUrl` (`http://host:8000/v1`; `/v1` is added when
    /// missing). Unset options take the core's defaults (the key from `BIZRA_POOL_API_KEY` or
    /// `OPENAI_API_KEY` when `apiKey` is not given); a value out of range throws a `BizraError`
    /// of kind `INVALID_INPUT`.
    #[napi(factory, ts_args_type = "options: PoolOptions")]
    pub fn connect(env: Env, options: Option<Unknown>) -> Result<Pool> {
        guard(|| {
            let o = pool_options(&env, options)?;
            Ok(Pool {
                client: RemoteClient::connect(o).map_err(core_err)?,
            })
        })
    }

    /// The server's API root, without credentials.
    #[napi(getter)]
    pub fn base_url(&self) -> Result<String> {
        guard(|| Ok(self.client.base_url().to_owned()))
    }

    /// Asks the server whether it serves (off the main thread; never rejects for the server's
    /// sake: an unreachable one is `"unavailable"`).
    #[napi(ts_return_type = "Promise<PoolHealth>")]
    pub fn health(&self, env: Env) -> Result<JsObject> {
        guard(|| {
            let client = self.client.clone();
            let (d, promise) = deferred::<PoolHealth>(&env)?;
            off_thread(
                &env,
                d,
                move || client.health(),
                |env, done| match done {
                    Ok(h) => Ok(health_out(h)),
                    Err(e) => Err(js_error(env, e)),
                },
            );
            Ok(promise)
        })
    }

    /// `Pool(baseUrl=…)`.
    #[napi(js_name = "toString")]
    pub fn to_js_string(&self) -> Result<String> {
        guard(|| Ok(format!("Pool(baseUrl={:?})", self.client.base_url())))
    }
}

fn health_out(h: Health) -> PoolHealth {
    let (state, detail) = match h {
        Health::Ready => ("ready", None),
        Health::Loading(d) => ("loading", Some(d)),
        Health::Unavailable(d) => ("unavailable", Some(d)),
    };
    PoolHealth {
        state: state.to_owned(),
        detail,
    }
}

/// The keys of `GatewayOptions`.
const GATEWAY_OPTIONS: &[&str] = &["edge", "local", "pools", "fallbacks"];

/// Routes each request to the Edge, Local or Pool tier (the one its options force with `tier`,
/// else the one its task's complexity calls for), takes the fallbacks it was given when a tier
/// cannot serve, and signs the route into the output: `payload.route` (`tier`, `forced`,
/// `complexity`, `reason`, `served`, `backend`, `fallbacks` with their `cause`, `skipped`
/// pools), and `payload.tier` the tier that served. Nothing falls back unless a rule says so; a
/// pool that refuses the request (`REMOTE_REFUSED`) never does.
///
/// The models it was given stay loaded while it lives, even once disposed.
#[napi]
pub struct Gateway {
    inner: bizra::inference::Gateway,
}

impl Gateway {
    fn prepare(
        &self,
        env: &Env,
        identity: Unknown,
        prompt: String,
        options: Option<Unknown>,
    ) -> Result<Prepared> {
        identity_of(env, identity)?;
        let identity = JsRef::new(env, identity.raw())?;
        let (request, signal) = request(env, prompt, options)?;
        Ok(Prepared {
            backend: Backend::Gateway(self.inner.clone()),
            identity,
            request,
            signal,
        })
    }
}

#[napi]
impl Gateway {
    /// A gateway of `edge` and `local` models (any loaded model may serve either tier), `pools`
    /// for the Pool tier (tried in order) and `fallbacks` (`{ from, to }`: when `from` cannot
    /// serve, `to` does). A configuration the core refuses (a fallback from a tier to itself,
    /// two from one tier) throws a `BizraError` of kind `INVALID_INPUT`.
    #[napi(constructor, ts_args_type = "options?: GatewayOptions")]
    pub fn new(env: Env, options: Option<Unknown>) -> Result<Gateway> {
        guard(|| {
            let mut b = bizra::inference::Gateway::builder();
            if let Some(o) = Options::read(&env, options, GATEWAY_OPTIONS)? {
                for (name, tier) in [("edge", ModelTier::Edge), ("local", ModelTier::Local)] {
                    if let Some(engine) = o.read_with(name, |env, raw, what| {
                        let model =
                            unsafe { ClassInstance::<Model>::from_napi_value(env.raw(), raw) }
                                .map_err(|_| type_err(format!("{what} must be a Model")))?;
                        model.engine().cloned().map(Some)
                    })? {
                        b = b.engine_for(tier, engine);
                    }
                }
                for pool in o.read_with("pools", pools_in)?.unwrap_or_default() {
                    b = b.pool(pool);
                }
                for (from, to) in o.read_with("fallbacks", fallbacks_in)?.unwrap_or_default() {
                    b = b.fallback(from, to);
                }
            }
            Ok(Gateway {
                inner: b.build().map_err(core_err)?,
            })
        })
    }

    /// The tier this gateway would serve `prompt` from, with `options` (`tier` forces it,
    /// `maxTokens` counts), and why; nothing is generated.
    #[napi(ts_args_type = "prompt: string, options?: GenerateOptions")]
    pub fn decide(
        &self,
        env: Env,
        prompt: String,
        options: Option<Unknown>,
    ) -> Result<TierDecision> {
        guard(|| {
            let (request, _) = request(&env, prompt, options)?;
            Ok(decision_out(self.inner.decide(&request)))
        })
    }

    /// Generates an answer to `prompt` from the tier it is routed to, off the main thread, and
    /// resolves to an envelope signed by `identity` whose payload records the route. Options as
    /// `model.generate`'s, with `tier` to force one; an aborted `signal` resolves with the
    /// answer so far. A tier that cannot serve, with no fallback, rejects with its error
    /// (`MODEL_NOT_FOUND`, `NO_REMOTE_POOL`, `REMOTE_UNAVAILABLE`, `REMOTE_REFUSED`).
    #[napi(
        ts_args_type = "identity: Identity, prompt: string, options?: GenerateOptions",
        ts_return_type = "Promise<Envelope>"
    )]
    pub fn generate(
        &self,
        env: Env,
        identity: Unknown,
        prompt: String,
        options: Option<Unknown>,
    ) -> Result<JsObject> {
        guard(|| {
            let prepared = self.prepare(&env, identity, prompt, options)?;
            let generation = Arc::new(Mutex::new(Generation::default()));
            let (d, promise) = deferred::<Envelope>(&env)?;
            lock(&generation).envelope_waiters.push(d);
            prepared.launch(&env, &generation, false);
            Ok(promise)
        })
    }

    /// Like `generate`, but returns at once a `TokenStream` of the pieces (from the backend that
    /// serves, on its thread) ending with the signed envelope, as `model.stream` does. A tier
    /// whose backend already streamed text never falls back.
    #[napi(
        ts_args_type = "identity: Identity, prompt: string, options?: GenerateOptions",
        ts_return_type = "TokenStream"
    )]
    pub fn stream(
        &self,
        env: Env,
        identity: Unknown,
        prompt: String,
        options: Option<Unknown>,
    ) -> Result<TokenStream> {
        guard(|| {
            let prepared = self.prepare(&env, identity, prompt, options)?;
            let generation = Arc::new(Mutex::new(Generation::default()));
            let cancel = prepared.launch(&env, &generation, true);
            Ok(TokenStream { generation, cancel })
        })
    }

    /// The pools' API roots, in the order they are tried.
    #[napi(getter)]
    pub fn pools(&self) -> Result<Vec<String>> {
        guard(|| {
            Ok(self
                .inner
                .pools()
                .iter()
                .map(|p| p.base_url().to_owned())
                .collect())
        })
    }
}

/// `pools`: an array of `Pool`s.
fn pools_in(env: &Env, raw: sys::napi_value, what: &str) -> Result<Option<Vec<RemoteClient>>> {
    array_in(env, raw, what, "an array of Pool", |i, item| {
        unsafe { ClassInstance::<Pool>::from_napi_value(env.raw(), item) }
            .map(|p| p.client.clone())
            .map_err(|_| type_err(format!("{what}[{i}] must be a Pool")))
    })
    .map(Some)
}

/// The keys of one fallback rule.
const FALLBACK_FIELDS: &[&str] = &["from", "to"];

/// `fallbacks`: an array of `{ from, to }` tiers.
fn fallbacks_in(
    env: &Env,
    raw: sys::napi_value,
    what: &str,
) -> Result<Option<Vec<(ModelTier, ModelTier)>>> {
    let expected = "an array of { from, to } tiers ('edge', 'local', 'pool')";
    array_in(env, raw, what, expected, |i, item| {
        let label = format!("{what}[{i}]");
        let prefix = format!("{label}.");
        let shape = Shape {
            what: &label,
            noun: "field",
            prefix: &prefix,
            known: FALLBACK_FIELDS,
        };
        let rule = Options::of(env, item, shape)?
            .ok_or_else(|| type_err(format!("{label} must be an object {{ from, to }}")))?;
        let tier = |name: &str| -> Result<ModelTier> {
            let value = rule
                .read_with(name, string_in)?
                .ok_or_else(|| type_err(format!("{label}.{name} is required")))?;
            model_tier(&value)
        };
        Ok((tier("from")?, tier("to")?))
    })
    .map(Some)
}
