"""The Pool tier and the gateway through bizra.Pool and bizra.Gateway, against the reference
OpenAI-compatible server (scripts/pool_server.py, started once per session by the `pool_server`
fixture) and the embedded test model as the Edge tier."""

from __future__ import annotations

import asyncio
import os
import socket
from pathlib import Path
from typing import Union

import pytest

import bizra
from conftest import POOL_API_KEY

MODEL_PATH = Path(
    os.environ.get(
        "BIZRA_TEST_MODEL",
        str(Path.home() / ".cache/bizra/models/SmolLM2-135M-Instruct.Q4_1.gguf"),
    )
)
PROMPT = "What is the capital of France? Answer in one word."
# SmolLM2's vocabulary: the server does not report it, and the SNR needs it.
VOCAB = 49152


@pytest.fixture(scope="module")
def edge() -> bizra.Model:
    if not MODEL_PATH.is_file():
        pytest.fail(f"test model not found at {MODEL_PATH}: run `make model`")
    return bizra.Model.load(MODEL_PATH, n_ctx=512, threads=2)


@pytest.fixture(scope="module")
def pool(pool_server: str) -> bizra.Pool:
    return bizra.Pool(pool_server, api_key=POOL_API_KEY, vocab_size=VOCAB)


def closed_port() -> str:
    """A loopback URL nothing listens on (a port bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1"


def dead_pool() -> bizra.Pool:
    return bizra.Pool(
        closed_port(), max_retries=0, connect_timeout=0.5, read_timeout=2.0, api_key="x"
    )


def test_pool_request_is_signed_and_routed(
    identity: bizra.Identity, pool: bizra.Pool
) -> None:
    assert POOL_API_KEY not in repr(pool)
    gw = bizra.Gateway(pools=[pool])
    assert gw.pools == [pool.base_url]
    env = gw.generate(identity, PROMPT, max_tokens=8, temperature=0.0, tier="pool")
    env.verify()
    p = env.payload
    assert p["tier"] == "pool"
    assert p["route"]["served"] == "pool"
    assert p["route"]["forced"] is True
    assert p["route"]["fallbacks"] == []
    assert p["backend"]["kind"] and p["backend"]["base_url"] == pool.base_url
    # vocab_size given: the SNR is measured from the server's log-probabilities.
    assert p["vocab_size"] == VOCAB
    snr = p["scores"]["snr"]
    assert snr["tokens"] > 0 and 0.0 < snr["value"] <= 1.0
    assert env.scores["snr"] == snr["value"]
    assert isinstance(p["output"], str) and p["output"]
    assert POOL_API_KEY not in env.to_json()


def test_pool_stream(identity: bizra.Identity, pool: bizra.Pool) -> None:
    gw = bizra.Gateway(pools=[pool])
    stream = gw.stream(identity, PROMPT, max_tokens=8, temperature=0.0, tier=bizra.ModelTier.POOL)
    *pieces, last = list(stream)
    assert isinstance(last, bizra.Envelope)
    last.verify()
    assert "".join(str(p) for p in pieces) == last.payload["output"]
    assert last.payload["route"]["served"] == "pool"

    async def run() -> list[Union[str, bizra.Envelope]]:
        return [
            item async for item in gw.astream(identity, PROMPT, max_tokens=8, tier="pool")
        ]

    *apieces, aenv = asyncio.run(run())
    assert isinstance(aenv, bizra.Envelope)
    aenv.verify()
    assert all(isinstance(p, str) for p in apieces)
    assert "".join(str(p) for p in apieces) == aenv.payload["output"]
    assert aenv.payload["route"]["served"] == "pool" and aenv.payload["tier"] == "pool"


def test_dead_pool_falls_back_to_edge(identity: bizra.Identity, edge: bizra.Model) -> None:
    gw = bizra.Gateway(edge=edge, pools=[dead_pool()], fallbacks=[("pool", "edge")])
    env = gw.generate(identity, PROMPT, max_tokens=4, temperature=0.0, tier="pool")
    env.verify()
    route = env.payload["route"]
    assert env.payload["tier"] == "edge" and route["served"] == "edge"
    assert route["tier"] == "pool"
    [taken] = route["fallbacks"]
    assert taken["from"] == "pool" and taken["to"] == "edge"
    assert taken["cause"] == "REMOTE_UNAVAILABLE"


def test_dead_pool_without_fallback_raises(
    identity: bizra.Identity, edge: bizra.Model
) -> None:
    dead = dead_pool()
    gw = bizra.Gateway(edge=edge, pools=[dead])
    with pytest.raises(bizra.RemoteUnavailableError) as info:
        gw.generate(identity, PROMPT, max_tokens=4, tier="pool")
    e = info.value
    assert e.kind == "REMOTE_UNAVAILABLE"
    assert isinstance(e, bizra.BizraError)
    assert e.endpoint.startswith(dead.base_url)
    assert e.status is None
    with pytest.raises(bizra.RemoteUnavailableError):
        list(gw.stream(identity, PROMPT, max_tokens=4, tier="pool"))


def test_wrong_key_is_refused_without_fallback(
    identity: bizra.Identity, edge: bizra.Model, pool_server: str
) -> None:
    wrong = bizra.Pool(pool_server, api_key="sk-wrong", max_retries=0)
    gw = bizra.Gateway(edge=edge, pools=[wrong], fallbacks=[("pool", "edge")])
    with pytest.raises(bizra.RemoteRefusedError) as info:
        gw.generate(identity, PROMPT, max_tokens=4, tier="pool")
    e = info.value
    assert e.kind == "REMOTE_REFUSED" and e.status == 401
    assert e.endpoint.startswith(pool_server)
    assert "sk-wrong" not in str(e)


def test_no_pool_configured(identity: bizra.Identity, edge: bizra.Model) -> None:
    gw = bizra.Gateway(edge=edge)
    with pytest.raises(bizra.NoRemotePoolError):
        gw.generate(identity, PROMPT, max_tokens=4, tier="pool")


def test_forced_edge_goes_to_the_engine(
    identity: bizra.Identity, edge: bizra.Model
) -> None:
    # The pool is dead: a request that reached it would fail.
    gw = bizra.Gateway(edge=edge, pools=[dead_pool()])
    d = gw.decide(PROMPT, tier="edge")
    assert d.tier == bizra.ModelTier.EDGE and d.forced
    assert gw.decide(PROMPT, tier="pool").tier == bizra.ModelTier.POOL
    assert not gw.decide(PROMPT).forced
    env = gw.generate(identity, PROMPT, max_tokens=4, temperature=0.0, tier=bizra.ModelTier.EDGE)
    env.verify()
    assert env.payload["tier"] == "edge"
    assert env.payload["route"]["served"] == "edge"
    assert env.payload["route"]["backend"] != "pool"
    cancel = bizra.CancelToken()
    cancel.cancel()
    env = gw.generate(identity, PROMPT, max_tokens=64, tier="edge", cancel=cancel)
    assert env.payload["finish_reason"] == "cancelled"


def test_bad_configurations_are_refused(edge: bizra.Model) -> None:
    with pytest.raises(bizra.BizraError) as info:
        bizra.Gateway(edge=edge, fallbacks=[("edge", "edge")])
    assert info.value.kind == "INVALID_INPUT"
    with pytest.raises(ValueError):
        bizra.Gateway(edge=edge, fallbacks=[("pool", "nowhere")])
    with pytest.raises(bizra.InvalidInputError):
        bizra.Pool("http://127.0.0.1:1/v1", connect_timeout=-1)


def test_max_in_flight_bounds_a_pools_requests(identity: bizra.Identity, pool_server: str) -> None:
    with pytest.raises(bizra.InvalidInputError, match="max_in_flight"):
        bizra.Pool(pool_server, api_key=POOL_API_KEY, max_in_flight=0)
    one = bizra.Pool(pool_server, api_key=POOL_API_KEY, vocab_size=VOCAB, max_in_flight=1)
    gw = bizra.Gateway(pools=[one])
    stream = gw.stream(
        identity, "Write a long story about a dragon.", max_tokens=400, temperature=0.0, tier="pool"
    )
    # A piece arrived: the one request the pool may run is running, so the next is refused at
    # once (the gateway's only pool is busy, and nothing falls back).
    assert isinstance(next(stream), str)
    with pytest.raises(bizra.BusyError) as busy:
        gw.generate(identity, PROMPT, max_tokens=4, temperature=0.0, tier="pool")
    assert busy.value.kind == "BUSY" and "in flight" in str(busy.value)
    stream.cancel()
    assert stream.envelope.payload["finish_reason"] == "cancelled"
    # The slot is given back before the stream's end is handed over: taken at once.
    env = gw.generate(identity, PROMPT, max_tokens=8, temperature=0.0, tier="pool")
    assert env.payload["route"]["served"] == "pool"
