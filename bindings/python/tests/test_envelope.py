"""Envelopes: lifecycle, members, tampering codes, time, policy, replay, batches, bad input."""

from __future__ import annotations

import json
import math
import pickle
from datetime import datetime, timedelta, timezone
from typing import Any, Callable

import pytest

import bizra

T0 = datetime(2026, 1, 30, tzinfo=timezone.utc)


def code_of(action: Callable[[], object]) -> int:
    try:
        action()
    except bizra.RejectError as e:
        return e.code
    return 0


def tampered(env: bizra.Envelope, **changes: Any) -> bizra.Envelope:
    d = env.to_dict()
    d.update(changes)
    return bizra.Envelope.parse(json.dumps(d))


def test_lifecycle_and_members(identity: bizra.Identity) -> None:
    parent = bizra.Envelope.create(identity, "parent", timestamp=T0)
    env = bizra.Envelope.create(
        identity,
        {"text": "4", "n": [1, 2.5, None, True]},
        ttl=60,
        provenance=[parent.id],
        scores={"snr": 0.9, "ihsan": 0.96},
        timestamp=T0,
    )
    assert env.version == "1.0"
    assert env.id.startswith("pci_") and len(env.id) == 36
    assert env.sender == identity.node_id
    assert env.public_key == identity.public_key_hex
    assert env.timestamp == T0
    assert env.expires_at == T0 + timedelta(seconds=60)
    assert env.ttl == 60
    assert env.provenance == [parent.id]
    assert env.scores == {"snr": 0.9, "ihsan": 0.96}
    assert env.policy == bizra.Constitution().hash
    assert env.payload == {"text": "4", "n": [1, 2.5, None, True]}
    assert len(env.signature) == 128 and len(env.content_hash) == 64
    wire = env.to_json()
    again = bizra.Envelope.parse(wire)
    assert again == env and hash(again) == hash(env)
    assert again.to_json() == wire
    assert bizra.Envelope.parse(wire.encode()) == env
    again.verify(now=T0)
    assert str(env) == wire
    assert env.id in repr(env)
    assert pickle.loads(pickle.dumps(env)) == env


def test_defaults(identity: bizra.Identity) -> None:
    env = bizra.Envelope.create(identity, None)
    assert env.ttl == bizra.MAX_TTL_SECONDS == 3600
    assert env.ttl == bizra.DEFAULT_TTL_SECONDS
    assert bizra.Envelope.create(identity, None, ttl=None).ttl == bizra.DEFAULT_TTL_SECONDS
    assert bizra.ReplayCache().capacity == bizra.DEFAULT_REPLAY_CAPACITY > 0
    assert bizra.ReplayCache(None).capacity == bizra.DEFAULT_REPLAY_CAPACITY
    assert env.provenance == [] and env.scores == {}
    assert env.payload is None
    assert abs((env.timestamp - datetime.now(timezone.utc)).total_seconds()) < 60
    env.verify()
    other = bizra.Envelope.create(identity, None)
    assert other.id != env.id


def test_tampering_codes(identity: bizra.Identity) -> None:
    env = bizra.Envelope.create(identity, {"a": 1}, scores={"snr": 0.9}, timestamp=T0)
    now = T0 + timedelta(seconds=1)
    assert code_of(lambda: tampered(env, payload={"a": 2}).verify(now=now)) == 15
    assert code_of(lambda: tampered(env, ttl=60).verify(now=now)) == 10
    assert code_of(lambda: tampered(env, ttl=0).verify(now=now)) == 16
    assert code_of(lambda: tampered(env, ttl=3601).verify(now=now)) == 16
    assert code_of(lambda: tampered(env, scores={"snr": 1.0}).verify(now=now)) == 10
    other = bizra.Identity.generate()
    assert code_of(lambda: tampered(env, sender=other.node_id).verify(now=now)) == 14
    assert code_of(lambda: tampered(env, sender=other.node_id, public_key=other.public_key_hex).verify(now=now)) == 10
    flipped = ("0" if env.signature[0] != "0" else "1") + env.signature[1:]
    assert code_of(lambda: tampered(env, signature=flipped).verify(now=now)) == 10
    assert code_of(lambda: tampered(env, extra=1)) == 1
    d = env.to_dict()
    del d["policy"]
    with pytest.raises(bizra.RejectError) as info:
        bizra.Envelope.parse(json.dumps(d))
    assert (info.value.code, info.value.name) == (2, "MISSING_FIELD")
    assert "policy" in info.value.detail


def test_parse_errors_are_schema_rejections() -> None:
    for text in ["", "[]", "{", '{"a":1,"a":2}', "null", "\ud800"]:
        with pytest.raises(bizra.RejectError) as info:
            bizra.Envelope.parse(text)
        assert info.value.code == 1, text
        assert isinstance(info.value, bizra.BizraError)
    with pytest.raises(bizra.RejectError):
        bizra.Envelope.parse(b"\xff\xfe")
    with pytest.raises(TypeError):
        bizra.Envelope.parse(42)  # type: ignore[arg-type]


def test_expiry_and_future_with_injected_now(identity: bizra.Identity) -> None:
    env = bizra.Envelope.create(identity, 1, ttl=10, timestamp=T0)
    env.verify(now=T0 + timedelta(seconds=10))
    assert code_of(lambda: env.verify(now=T0 + timedelta(seconds=10, milliseconds=1))) == 11
    env.verify(now=T0 - timedelta(seconds=120))
    assert code_of(lambda: env.verify(now=T0 - timedelta(seconds=120, milliseconds=1))) == 13
    # Any time zone is fine as long as it is aware.
    tz = timezone(timedelta(hours=5, minutes=30))
    env.verify(now=(T0 + timedelta(seconds=5)).astimezone(tz))
    with pytest.raises(ValueError, match="naive"):
        env.verify(now=datetime(2026, 1, 30))
    with pytest.raises(TypeError, match="datetime"):
        env.verify(now="2026-01-30T00:00:00Z")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="naive"):
        bizra.Envelope.create(identity, 1, timestamp=datetime(2026, 1, 30))


def test_policy(identity: bizra.Identity) -> None:
    c = bizra.Constitution()
    env = bizra.Envelope.create(identity, 1, timestamp=T0)
    env.verify(now=T0, policy=c)
    env.verify(now=T0, policy=c.hash)
    env.verify(now=T0, policy=bytes(c.hash_bytes))
    with pytest.raises(bizra.RejectError) as info:
        env.verify(now=T0, policy="00" * 32)
    assert (info.value.code, info.value.name) == (17, "POLICY_MISMATCH")
    custom = bizra.Envelope.create(identity, 1, policy="ab" * 32, timestamp=T0)
    assert custom.policy == "ab" * 32
    with pytest.raises(ValueError):
        env.verify(now=T0, policy="abc")
    with pytest.raises(ValueError):
        env.verify(now=T0, policy=b"short")


def test_replay_cache(identity: bizra.Identity) -> None:
    cache = bizra.ReplayCache(10)
    env = bizra.Envelope.create(identity, 1, ttl=60, timestamp=T0)
    env.verify(now=T0, replay=cache)
    assert len(cache) == 1 and cache.contains(env.id, T0)
    with pytest.raises(bizra.RejectError) as info:
        env.verify(now=T0, replay=cache)
    assert (info.value.code, info.value.name, info.value.retryable) == (12, "REPLAY", False)
    # An envelope that fails earlier does not burn its id.
    bad = tampered(bizra.Envelope.create(identity, 2, timestamp=T0), payload=3)
    assert code_of(lambda: bad.verify(now=T0, replay=cache)) == 15
    assert not cache.contains(bad.id, T0)
    # Expired entries are purged.
    later = T0 + timedelta(seconds=61)
    cache.purge_expired(later)
    assert not cache.contains(env.id, later)


def test_full_replay_cache_refuses_with_quota(identity: bizra.Identity) -> None:
    cache = bizra.ReplayCache(1)
    assert cache.capacity == 1
    bizra.Envelope.create(identity, 1, timestamp=T0).verify(now=T0, replay=cache)
    with pytest.raises(bizra.RejectError) as info:
        bizra.Envelope.create(identity, 2, timestamp=T0).verify(now=T0, replay=cache)
    assert (info.value.code, info.value.name, info.value.retryable) == (40, "QUOTA", True)
    # Capacity 0 is refused alike in every binding, with the core's message.
    with pytest.raises(bizra.InvalidInputError, match="capacity of at least 1") as zero:
        bizra.ReplayCache(0)
    assert isinstance(zero.value, ValueError)


def test_verify_batch(identity: bizra.Identity) -> None:
    good = [bizra.Envelope.create(identity, i, ttl=60, timestamp=T0) for i in range(40)]
    bad = tampered(good[0], payload="x")
    batch = good + [bad, good[3]]
    assert bizra.verify_batch(batch, T0) == [0] * 40 + [15, 0]
    assert bizra.verify_batch(batch, T0 + timedelta(seconds=61)) == [11] * 42
    cache = bizra.ReplayCache()
    assert bizra.verify_batch(batch, T0, replay=cache) == [0] * 40 + [15, 12]
    assert bizra.verify_batch(good[:2], T0, policy="00" * 32) == [17, 17]
    assert bizra.verify_batch([], T0) == []
    assert bizra.verify_batch(iter(good[:3]), now=T0) == [0, 0, 0]
    with pytest.raises(TypeError, match=r"envelopes\[1\]"):
        bizra.verify_batch([good[0], "x"], T0)  # type: ignore[list-item]


def test_create_argument_errors(identity: bizra.Identity) -> None:
    with pytest.raises(ValueError, match="ttl"):
        bizra.Envelope.create(identity, 1, ttl=0)
    with pytest.raises(ValueError, match="ttl"):
        bizra.Envelope.create(identity, 1, ttl=3601)
    with pytest.raises(ValueError):
        bizra.Envelope.create(identity, 1, ttl=2**70)
    with pytest.raises(TypeError):
        bizra.Envelope.create(identity, 1, ttl="60")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="provenance"):
        bizra.Envelope.create(identity, 1, provenance=["nope"])
    with pytest.raises(TypeError, match="provenance"):
        bizra.Envelope.create(identity, 1, provenance="pci_" + "0" * 32)
    with pytest.raises(ValueError, match="at most 64"):
        bizra.Envelope.create(identity, 1, provenance=["pci_" + "0" * 32] * 65)
    with pytest.raises(ValueError):
        bizra.Envelope.create(identity, 1, scores={"snr": 1.5})
    with pytest.raises(ValueError, match="unknown key"):
        bizra.Envelope.create(identity, 1, scores={"quality": 0.5})
    with pytest.raises(ValueError):
        bizra.Envelope.create(identity, 1, scores={"snr": math.nan})
    with pytest.raises(ValueError, match="id"):
        bizra.Envelope.create(identity, 1, id="pci_XYZ")
    with pytest.raises(TypeError, match="Identity"):
        bizra.Envelope.create(None, 1)  # type: ignore[arg-type]


class Opaque:
    pass


@pytest.mark.parametrize(
    ("payload", "error", "pattern"),
    [
        (math.nan, ValueError, "NaN"),
        ({"x": [math.inf]}, ValueError, r'payload\["x"\]\[0\]'),
        (-math.inf, ValueError, "not JSON"),
        (2**53, ValueError, "2\\^53"),
        (-(2**53), ValueError, "2\\^53"),
        (10**30, ValueError, "2\\^53"),
        ({1: "a"}, TypeError, "keys must be str"),
        ({("t",): "a"}, TypeError, "keys must be str"),
        ({"a": {1, 2}}, TypeError, "set"),
        (b"bytes", TypeError, "bytes"),
        (Opaque(), TypeError, "Opaque"),
        ("lone \ud800 surrogate", ValueError, "surrogate"),
        ({"\udfff": 1}, ValueError, "surrogate"),
    ],
)
def test_non_json_payloads_are_refused(
    identity: bizra.Identity, payload: Any, error: type[Exception], pattern: str
) -> None:
    with pytest.raises(error, match=pattern):
        bizra.Envelope.create(identity, payload)


def test_json_edge_values(identity: bizra.Identity) -> None:
    big = 2**53 - 1
    env = bizra.Envelope.create(identity, [big, -big, 0.1, -0.0, 1e21, "é😀", (1, 2), {"k": ()}])
    assert env.payload == [big, -big, 0.1, 0.0, 1e21, "é😀", [1, 2], {"k": []}]


def test_nesting_is_bounded(identity: bizra.Identity) -> None:
    deep: Any = []
    for _ in range(bizra.MAX_DEPTH - 1):
        deep = [deep]
    bizra.Envelope.create(identity, deep)  # MAX_DEPTH containers: fine
    with pytest.raises(ValueError, match="nesting deeper"):
        bizra.Envelope.create(identity, [deep])
    very_deep: Any = {}
    for _ in range(100_000):
        very_deep = {"k": very_deep}
    with pytest.raises(ValueError, match="nesting deeper"):
        bizra.Envelope.create(identity, very_deep)
    loop: list[Any] = []
    loop.append(loop)
    with pytest.raises(ValueError, match="contains itself"):
        bizra.Envelope.create(identity, loop)
    with pytest.raises(bizra.RejectError) as info:
        bizra.Envelope.parse("[" * 100_000 + "]" * 100_000)
    assert info.value.code == 1


def test_payload_size_limit(identity: bizra.Identity) -> None:
    with pytest.raises(ValueError, match="exceeds"):
        bizra.Envelope.create(identity, "x" * (bizra.MAX_PAYLOAD_BYTES + 1))


def test_canonicalize() -> None:
    assert bizra.canonicalize({"b": 1, "a": [1.0, 1e21, -0.0]}) == '{"a":[1,1e+21,0],"b":1}'
    with pytest.raises(ValueError):
        bizra.canonicalize(math.nan)


def test_open_parses_and_verifies_in_one_call(identity: bizra.Identity) -> None:
    env = bizra.Envelope.create(identity, {"a": 1}, ttl=60, timestamp=T0)
    wire = env.to_json()
    opened = bizra.Envelope.open(wire, now=T0)
    assert opened == env and opened.payload == {"a": 1}
    assert bizra.Envelope.open(wire.encode(), now=T0, policy=bizra.Constitution()) == env
    # Every failure raises its RejectError: malformed, tampered, expired, wrong policy, replay.
    assert code_of(lambda: bizra.Envelope.open("{", now=T0)) == 1
    assert code_of(lambda: bizra.Envelope.open(wire.replace('"a":1', '"a":2'), now=T0)) == 15
    assert code_of(lambda: bizra.Envelope.open(wire)) == 11, "an hour-old envelope needs now="
    assert code_of(lambda: bizra.Envelope.open(wire, now=T0, policy="00" * 32)) == 17
    assert code_of(lambda: bizra.Envelope.open(b"\xff", now=T0)) == 1
    cache = bizra.ReplayCache(4)
    bizra.Envelope.open(wire, now=T0, replay=cache)
    assert code_of(lambda: bizra.Envelope.open(wire, now=T0, replay=cache)) == 12
    with pytest.raises(TypeError):
        bizra.Envelope.open(42)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        bizra.Envelope.open(wire, T0)  # type: ignore[call-arg]
