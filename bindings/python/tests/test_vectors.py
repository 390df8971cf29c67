"""Every vector of spec/pci-v1-vectors.json, byte for byte."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any

import pytest

import bizra
from conftest import VECTORS, VECTORS_DIR


def at(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(timezone.utc)


@pytest.mark.parametrize("v", VECTORS["identities"], ids=lambda v: str(v["seed"])[:8])
def test_identity_vector(v: dict[str, Any]) -> None:
    ident = bizra.Identity.from_seed(bytes.fromhex(v["seed"]))
    assert ident.public_key.hex() == v["public_key"]
    assert ident.public_key_hex == v["public_key"]
    assert ident.node_id == v["node_id"]
    assert ident.display_id == "node_" + v["node_id"][:8]
    assert ident.to_pem() == v["pkcs8_pem"]
    assert bizra.Identity.from_pem(v["pkcs8_pem"]).node_id == v["node_id"]
    assert bizra.Identity.from_pem(v["seed"]).node_id == v["node_id"]


@pytest.mark.parametrize("v", VECTORS["messages"], ids=lambda v: str(v["message_hex"])[:12] or "empty")
def test_message_vector(v: dict[str, Any]) -> None:
    ident = bizra.Identity.from_seed(bytes.fromhex(v["seed"]))
    msg = bytes.fromhex(v["message_hex"])
    sig = ident.sign(msg)
    assert sig.hex() == v["signature"]
    assert bizra.verify_message(ident.public_key, msg, bytes.fromhex(v["signature"]))
    assert not bizra.verify_message(ident.public_key, msg + b"x", sig)


def test_constitution_vector() -> None:
    c = VECTORS["constitution"]
    assert bizra.Constitution().hash == c["hash"]
    assert bytes(bizra.Constitution().hash_bytes).hex() == c["hash"]
    loaded = bizra.Constitution.load(VECTORS_DIR / c["file"])
    assert loaded.hash == c["hash"]
    with open(VECTORS_DIR / c["file"], encoding="utf-8") as f:
        assert bizra.canonicalize(json.load(f)) == c["jcs"]


@pytest.mark.parametrize("v", VECTORS["envelopes"], ids=lambda v: str(v["name"]))
def test_envelope_vector(v: dict[str, Any]) -> None:
    ident = bizra.Identity.from_seed(bytes.fromhex(v["seed"]))
    want = v["envelope"]
    payload = json.loads(v["payload_jcs"])
    assert bizra.canonicalize(payload) == v["payload_jcs"]
    env = bizra.Envelope.create(
        ident,
        payload,
        ttl=want["ttl"],
        provenance=want["provenance"],
        scores=want["scores"],
        policy=want["policy"],
        id=want["id"],
        timestamp=at(want["timestamp"]),
    )
    assert env.content_hash == v["content_hash"]
    assert env.header_json() == v["header_jcs"]
    assert env.signature == v["signature"]
    assert env.to_json() == bizra.canonicalize(want)
    assert env.to_dict() == want
    env.verify(now=at(v["verify_at"]))
    parsed = bizra.Envelope.parse(json.dumps(want))
    assert parsed == env
    parsed.verify(now=at(v["verify_at"]), policy=want["policy"])


@pytest.mark.parametrize("v", VECTORS["rejects"], ids=lambda v: str(v["name"]))
def test_reject_vector(v: dict[str, Any]) -> None:
    code: int = v["code"]
    try:
        bizra.Envelope.parse(v["text"]).verify(now=at(v["now"]))
    except bizra.RejectError as e:
        assert e.code == code, f"{v['name']}: got {e.code} {e.name} ({e})"
        assert e.name == bizra.REJECT_CODES[code]
        assert str(e).startswith(f"PCI-{code:02d}: ")
    else:
        assert code == 0, f"{v['name']}: admitted, expected {code}"


def test_reject_vectors_in_a_batch() -> None:
    """verify_batch gives each parsable vector its single verdict (all share one `now` here)."""
    same_now = [v for v in VECTORS["rejects"] if v["now"] == "2026-01-30T00:00:00.000Z"]
    envs: list[bizra.Envelope] = []
    want: list[int] = []
    for v in same_now:
        try:
            envs.append(bizra.Envelope.parse(v["text"]))
        except bizra.RejectError:
            continue
        want.append(v["code"])
    assert len(envs) >= 10
    assert bizra.verify_batch(envs, at("2026-01-30T00:00:00.000Z")) == want
