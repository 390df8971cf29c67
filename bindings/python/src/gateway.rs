//! `bizra.Pool` and `bizra.Gateway`: the core's Pool tier (an OpenAI-compatible server through
//! `RemoteClient`) and the gateway that routes a request between the Edge and Local models and
//! the pools, with the core's fallbacks. Routing, fallback and signing are the core's; this
//! module only converts arguments and waits with the GIL released, as `Model.generate` does.

use std::time::Duration;

use pyo3::prelude::*;

use bizra::inference::{ApiKey, CancelToken, Gateway, RemoteClient, RemoteOptions};
use bizra::ModelTier;

use crate::convert::number_arg;
use crate::envelope::{PyEnvelope, Ttl};
use crate::identity::PyIdentity;
use crate::inference::{
    request, timeout_arg, wait_interruptibly, PyCancelToken, PyModel, PyTokenStream, Running,
};
use crate::tier::{tier_arg, PyTierDecision};
use crate::{guard, invalid, to_py};

/// The tier a `tier=` argument forces (`None`: the gateway decides).
fn forced_tier(tier: Option<&Bound<'_, PyAny>>) -> PyResult<Option<ModelTier>> {
    tier.filter(|t| !t.is_none()).map(tier_arg).transpose()
}

/// A duration argument in seconds (a positive number).
fn seconds(obj: &Bound<'_, PyAny>, what: &str) -> PyResult<Duration> {
    let s = number_arg(obj, what)?;
    if s.is_nan() || s <= 0.0 {
        return Err(invalid(format!(
            "{what} must be a positive number of seconds, got {s}"
        )));
    }
    Duration::try_from_secs_f64(s)
        .map_err(|_| invalid(format!("{what} of {s} seconds is too long")))
}

/// A remote pool: a client for an OpenAI-compatible server (`base_url` such as
/// "http://127.0.0.1:8080/v1"). `api_key` defaults to BIZRA_POOL_API_KEY or OPENAI_API_KEY;
/// it is never shown. Unset options take the core's defaults; timeouts are in seconds;
/// `max_in_flight` (default 64, at least 1) bounds the requests it runs at once, health probes
/// included: one more raises `BusyError`.
#[pyclass(frozen, module = "bizra", name = "Pool")]
pub(crate) struct PyPool {
    client: RemoteClient,
}

#[pymethods]
impl PyPool {
    #[new]
    #[pyo3(signature = (base_url, *, api_key=None, model=None, connect_timeout=None, read_timeout=None, max_retries=None, top_logprobs=None, vocab_size=None, max_in_flight=None))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        base_url: &str,
        api_key: Option<String>,
        model: Option<String>,
        connect_timeout: Option<&Bound<'_, PyAny>>,
        read_timeout: Option<&Bound<'_, PyAny>>,
        max_retries: Option<u32>,
        top_logprobs: Option<u8>,
        vocab_size: Option<u32>,
        max_in_flight: Option<u32>,
    ) -> PyResult<Self> {
        guard(|| {
            let mut o = RemoteOptions::new(base_url);
            o.api_key = api_key.map(ApiKey::new);
            o.model = model;
            if let Some(t) = connect_timeout.filter(|t| !t.is_none()) {
                o.connect_timeout = seconds(t, "connect_timeout")?;
            }
            if let Some(t) = read_timeout.filter(|t| !t.is_none()) {
                o.read_timeout = seconds(t, "read_timeout")?;
            }
            if let Some(n) = max_retries {
                o.max_retries = n;
            }
            if let Some(n) = top_logprobs {
                o.top_logprobs = n;
            }
            o.vocab_size = vocab_size;
            if let Some(n) = max_in_flight {
                o.max_in_flight = n;
            }
            let client = py.detach(|| RemoteClient::connect(o)).map_err(to_py)?;
            Ok(PyPool { client })
        })
    }

    /// The server's base URL.
    #[getter]
    fn base_url(&self) -> String {
        self.client.base_url().to_string()
    }

    fn __repr__(&self) -> String {
        format!("Pool({:?})", self.client.base_url().to_string())
    }
}

/// Routes requests between an Edge model, a Local model and remote pools (tried in order), with
/// fallbacks from a tier to another (`fallbacks=[("pool", "edge")]`); each answer is an envelope
/// whose payload records the route (`payload["route"]`) and the tier that served it
/// (`payload["tier"]`). A bad configuration (a fallback from a tier to itself, ...) raises the
/// core's error.
#[pyclass(frozen, module = "bizra", name = "Gateway")]
pub(crate) struct PyGateway {
    inner: Gateway,
}

#[pymethods]
impl PyGateway {
    #[new]
    #[pyo3(signature = (*, edge=None, local=None, pools=Vec::new(), fallbacks=Vec::new()))]
    fn new(
        edge: Option<&Bound<'_, PyModel>>,
        local: Option<&Bound<'_, PyModel>>,
        pools: Vec<Bound<'_, PyPool>>,
        fallbacks: Vec<(Bound<'_, PyAny>, Bound<'_, PyAny>)>,
    ) -> PyResult<Self> {
        guard(|| {
            let mut b = Gateway::builder();
            if let Some(m) = edge {
                b = b.engine_for(ModelTier::Edge, m.get().engine()?);
            }
            if let Some(m) = local {
                b = b.engine_for(ModelTier::Local, m.get().engine()?);
            }
            for p in &pools {
                b = b.pool(p.get().client.clone());
            }
            for (from, to) in &fallbacks {
                b = b.fallback(tier_arg(from)?, tier_arg(to)?);
            }
            Ok(PyGateway {
                inner: b.build().map_err(to_py)?,
            })
        })
    }

    /// The tier the gateway would serve `prompt` from (`tier` forces it), without generating.
    #[pyo3(signature = (prompt, *, system=None, max_tokens=None, tier=None))]
    fn decide(
        &self,
        prompt: &str,
        system: Option<&str>,
        max_tokens: Option<u32>,
        tier: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<PyTierDecision> {
        guard(|| {
            let mut req = request(
                prompt, system, max_tokens, None, None, None, None, None, None, None, None, None,
                None,
            )?;
            req.tier = forced_tier(tier)?;
            Ok(self.inner.decide(&req).into())
        })
    }

    /// `Model.generate` through the gateway: the same arguments, plus `tier` ("edge", "local",
    /// "pool" or a ModelTier) to force the tier. Returns the envelope signed by `identity`;
    /// `payload["route"]` says which tier and backend served it and the fallbacks taken. A pool
    /// that fails raises RemoteUnavailableError or RemoteRefusedError unless a fallback serves.
    #[pyo3(signature = (identity, prompt, *, system=None, max_tokens=None, temperature=None, top_p=None, top_k=None, min_p=None, repeat_penalty=None, seed=None, stop=None, ihsan=None, provenance=None, ttl=None, tier=None, timeout=None, cancel=None))]
    #[allow(clippy::too_many_arguments)]
    fn generate(
        &self,
        py: Python<'_>,
        identity: &Bound<'_, PyIdentity>,
        prompt: &str,
        system: Option<&str>,
        max_tokens: Option<u32>,
        temperature: Option<f32>,
        top_p: Option<f32>,
        top_k: Option<u32>,
        min_p: Option<f32>,
        repeat_penalty: Option<f32>,
        seed: Option<u32>,
        stop: Option<Vec<String>>,
        ihsan: Option<&Bound<'_, PyAny>>,
        provenance: Option<&Bound<'_, PyAny>>,
        ttl: Option<Ttl>,
        tier: Option<&Bound<'_, PyAny>>,
        timeout: Option<&Bound<'_, PyAny>>,
        cancel: Option<&Bound<'_, PyCancelToken>>,
    ) -> PyResult<PyEnvelope> {
        guard(|| {
            let mut req = request(
                prompt,
                system,
                max_tokens,
                temperature,
                top_p,
                top_k,
                min_p,
                repeat_penalty,
                seed,
                stop,
                ihsan,
                provenance,
                ttl,
            )?;
            req.tier = forced_tier(tier)?;
            let timeout = timeout_arg(timeout)?;
            let token = cancel.map_or_else(CancelToken::new, |c| c.get().inner.clone());
            let gateway = &self.inner;
            let id = &identity.get().inner;
            let inner = wait_interruptibly(py, &token, timeout, || {
                gateway.generate_streaming(id, &req, &token, None)
            })?
            .map_err(to_py)?;
            Ok(PyEnvelope { inner })
        })
    }

    /// `Model.stream` through the gateway (the same arguments, plus `tier`): a `TokenStream`
    /// yielding the text pieces, then the signed envelope with its route. A fallback is taken
    /// only before the first piece.
    #[pyo3(signature = (identity, prompt, *, system=None, max_tokens=None, temperature=None, top_p=None, top_k=None, min_p=None, repeat_penalty=None, seed=None, stop=None, ihsan=None, provenance=None, ttl=None, tier=None))]
    #[allow(clippy::too_many_arguments)]
    fn stream(
        &self,
        py: Python<'_>,
        identity: Py<PyIdentity>,
        prompt: &str,
        system: Option<&str>,
        max_tokens: Option<u32>,
        temperature: Option<f32>,
        top_p: Option<f32>,
        top_k: Option<u32>,
        min_p: Option<f32>,
        repeat_penalty: Option<f32>,
        seed: Option<u32>,
        stop: Option<Vec<String>>,
        ihsan: Option<&Bound<'_, PyAny>>,
        provenance: Option<&Bound<'_, PyAny>>,
        ttl: Option<Ttl>,
        tier: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<PyTokenStream> {
        guard(|| {
            let mut req = request(
                prompt,
                system,
                max_tokens,
                temperature,
                top_p,
                top_k,
                min_p,
                repeat_penalty,
                seed,
                stop,
                ihsan,
                provenance,
                ttl,
            )?;
            req.tier = forced_tier(tier)?;
            let gateway = self.inner.clone();
            let stream = py.detach(|| gateway.stream(&req)).map_err(to_py)?;
            Ok(PyTokenStream::new(
                Running::Gateway(gateway, stream),
                identity,
                req,
            ))
        })
    }

    /// `Model.astream` through the gateway (the same arguments, plus `tier`): an
    /// `AsyncTokenStream` for `async for`, fed by a worker thread so the event loop never waits
    /// on the engine or the pool.
    #[pyo3(signature = (identity, prompt, *, system=None, max_tokens=None, temperature=None, top_p=None, top_k=None, min_p=None, repeat_penalty=None, seed=None, stop=None, ihsan=None, provenance=None, ttl=None, tier=None))]
    #[allow(clippy::too_many_arguments)]
    fn astream<'py>(
        &self,
        py: Python<'py>,
        identity: Py<PyIdentity>,
        prompt: &str,
        system: Option<&str>,
        max_tokens: Option<u32>,
        temperature: Option<f32>,
        top_p: Option<f32>,
        top_k: Option<u32>,
        min_p: Option<f32>,
        repeat_penalty: Option<f32>,
        seed: Option<u32>,
        stop: Option<Vec<String>>,
        ihsan: Option<&Bound<'_, PyAny>>,
        provenance: Option<&Bound<'_, PyAny>>,
        ttl: Option<Ttl>,
        tier: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let stream = self.stream(
            py,
            identity,
            prompt,
            system,
            max_tokens,
            temperature,
            top_p,
            top_k,
            min_p,
            repeat_penalty,
            seed,
            stop,
            ihsan,
            provenance,
            ttl,
            tier,
        )?;
        guard(|| {
            py.import("bizra._aio")?
                .getattr("AsyncTokenStream")?
                .call1((stream,))
        })
    }

    /// The base URLs of the pools, in the order they are tried.
    #[getter]
    fn pools(&self) -> Vec<String> {
        self.inner
            .pools()
            .iter()
            .map(|p| p.base_url().to_string())
            .collect()
    }

    fn __repr__(&self) -> String {
        format!("Gateway(pools={:?})", self.pools())
    }
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyPool>()?;
    m.add_class::<PyGateway>()?;
    Ok(())
}
