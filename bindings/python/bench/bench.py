"""Envelope create / verify (1 KiB payload): the Python binding beside the Rust core (same process,
same build, timed in a Rust loop with no Python in it) and beside the same envelope built in pure
Python with PyNaCl + blake3 + rfc8785.

`make bench-python`. Ratios are speeds relative to the Rust core (1.00 = as fast; target for the
binding: at least 0.85).
"""

from __future__ import annotations

import json
import os
import sys
import time
from datetime import datetime, timedelta, timezone
from typing import Any, Callable, cast

import blake3
import nacl.exceptions
import nacl.signing
import rfc8785

import bizra

TAG = b"bizra-pci-v1:"
ITERATIONS = int(os.environ.get("BIZRA_BENCH_ITERATIONS", "2000"))
REPEATS = int(os.environ.get("BIZRA_BENCH_REPEATS", "5"))


def one_kib_payload() -> dict[str, Any]:
    payload: dict[str, Any] = {
        "model": "smollm2-135m",
        "prompt": "Summarise the design of a verifiable local AI node in one paragraph.",
        "tokens": [101, 2023, 2003, 1037, 3231, 102],
        "temperature": 0.7,
        "answer": "",
    }
    base = len(rfc8785.dumps(payload))
    payload["answer"] = "x" * (1024 - base)
    assert len(rfc8785.dumps(payload)) == 1024
    return payload


def h(data: bytes) -> bytes:
    return blake3.blake3(TAG + data).digest()


def iso(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z"


class PurePython:
    """PCI v1 with PyNaCl + blake3 + rfc8785: what a user would write without the binding."""

    def __init__(self, seed: bytes, policy: str) -> None:
        self.sk = nacl.signing.SigningKey(seed)
        self.pk = bytes(self.sk.verify_key).hex()
        self.policy = policy

    def create(self, payload: Any) -> dict[str, Any]:
        header: dict[str, Any] = {
            "version": "1.0",
            "id": "pci_" + os.urandom(16).hex(),
            "sender": self.pk[:32],
            "public_key": self.pk,
            "timestamp": iso(datetime.now(timezone.utc)),
            "ttl": 3600,
            "content_hash": h(rfc8785.dumps(payload)).hex(),
            "provenance": [],
            "scores": {},
            "policy": self.policy,
        }
        sig = self.sk.sign(h(rfc8785.dumps(header))).signature
        return {**header, "payload": payload, "signature": sig.hex()}

    @staticmethod
    def verify(env: dict[str, Any]) -> None:
        members = {"version", "id", "sender", "public_key", "timestamp", "ttl", "content_hash",
                   "provenance", "scores", "policy", "payload", "signature"}
        if set(env) != members or env["version"] != "1.0":
            raise ValueError("schema")
        if not 1 <= env["ttl"] <= 3600:
            raise ValueError("ttl")
        if env["public_key"][:32] != env["sender"]:
            raise ValueError("sender")
        ts = datetime.fromisoformat(env["timestamp"].replace("Z", "+00:00"))
        now = datetime.now(timezone.utc)
        if now > ts + timedelta(seconds=env["ttl"]) or ts > now + timedelta(seconds=120):
            raise ValueError("freshness")
        if h(rfc8785.dumps(env["payload"])).hex() != env["content_hash"]:
            raise ValueError("hash")
        header = {k: v for k, v in env.items() if k not in ("payload", "signature")}
        key = nacl.signing.VerifyKey(bytes.fromhex(env["public_key"]))
        try:
            key.verify(h(rfc8785.dumps(header)), bytes.fromhex(env["signature"]))
        except nacl.exceptions.BadSignatureError as e:
            raise ValueError("signature") from e


def time_ns(fn: Callable[[], object], n: int) -> float:
    start = time.perf_counter_ns()
    for _ in range(n):
        fn()
    return (time.perf_counter_ns() - start) / n


def measure(cases: dict[str, Callable[[], object]]) -> dict[str, float]:
    """Best per-operation time of each case. The Rust core and every Python case run interleaved
    within each repeat, so a busy machine slows them alike."""
    best: dict[str, float] = {}
    for fn in cases.values():
        fn()
    for _ in range(REPEATS):
        rust = RUST_BENCH(PAYLOAD, ITERATIONS)
        for k, v in rust.items():
            best[k] = min(best.get(k, v), v)
        for name, fn in cases.items():
            t = time_ns(fn, ITERATIONS)
            best[name] = min(best.get(name, t), t)
    return best


PAYLOAD = one_kib_payload()


def rust_bench() -> Callable[[object, int], dict[str, float]]:
    """The Rust baseline, `_rust_bench`: only in a build with the `bench` feature, which
    `make bench-python` installs (a user's wheel has no such hook)."""
    hook = getattr(bizra._native, "_rust_bench", None)
    if hook is None:
        sys.exit("bizra was built without the bench feature: run `make bench-python`")
    return cast(Callable[[object, int], dict[str, float]], hook)


RUST_BENCH = rust_bench()


def main() -> int:
    me = bizra.Identity.generate()
    env = bizra.Envelope.create(me, PAYLOAD)
    text = env.to_json()
    pure = PurePython(os.urandom(32), bizra.Constitution().hash)
    pure_env = pure.create(PAYLOAD)
    pure_text = rfc8785.dumps(pure_env).decode()
    # The pure Python envelope is a real PCI v1 envelope: the core accepts it.
    bizra.Envelope.parse(pure_text).verify()

    t = measure({
        "create": lambda: bizra.Envelope.create(me, PAYLOAD),
        "pure create": lambda: pure.create(PAYLOAD),
        "verify": lambda: env.verify(),
        "pure verify": lambda: pure.verify(pure_env),
        "parse_verify": lambda: bizra.Envelope.parse(text).verify(),
        "pure parse_verify": lambda: pure.verify(json.loads(pure_text)),
    })
    rows = [
        ("create", t["create_ns"], t["create"], t["pure create"]),
        ("verify", t["verify_ns"], t["verify"], t["pure verify"]),
        ("parse + verify", t["parse_verify_ns"], t["parse_verify"], t["pure parse_verify"]),
    ]
    print(f"bizra {bizra.__version__}, Python {sys.version.split()[0]}, 1 KiB payload, "
          f"{ITERATIONS} iterations, best of {REPEATS}")
    print(f"{'operation':<16}{'Rust core':>12}{'bizra (Py)':>12}{'Py/Rust':>9}"
          f"{'pure Python':>13}{'pure/Rust':>11}{'binding gain':>14}")
    worst = 1.0
    for name, r, b, p in rows:
        worst = min(worst, r / b)
        print(f"{name:<16}{r / 1000:>10.1f}µs{b / 1000:>10.1f}µs{r / b:>8.2f}x"
              f"{p / 1000:>11.1f}µs{r / p:>10.2f}x{p / b:>13.1f}x")
    print(f"(Py/Rust and pure/Rust: speed relative to the Rust core, target for the binding "
          f">= 0.85x; binding gain: pure Python time / binding time)")
    print(f"slowest binding ratio: {worst:.2f}x {'(meets 0.85x)' if worst >= 0.85 else '(BELOW 0.85x)'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
