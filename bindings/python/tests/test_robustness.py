"""The boundary: panics, the GIL, errors and odd input never crash the interpreter."""

from __future__ import annotations

import threading
import time
from datetime import datetime, timezone
from typing import Callable

import pytest

import bizra
from conftest import panic_for_tests

T0 = datetime(2026, 1, 30, tzinfo=timezone.utc)


def test_a_rust_panic_arrives_as_bizra_error() -> None:
    panic = panic_for_tests()
    with pytest.raises(bizra.BizraError, match="panic.*boom"):
        panic("boom")
    try:
        panic("again")
    except Exception as e:  # noqa: BLE001 - the point: `except Exception` catches it
        # The kind table gives a panic its own class (it was the bare BizraError before).
        assert type(e) is bizra.PanicError
        assert isinstance(e, bizra.BizraError)
        assert (e.kind, bizra.ERROR_KINDS[901]) == ("PANIC", ("PANIC", bizra.PanicError))
        assert "again" in e.detail
    else:
        raise AssertionError("no exception")


def test_exception_hierarchy() -> None:
    assert issubclass(bizra.RejectError, bizra.BizraError)
    assert issubclass(bizra.BizraError, Exception)
    assert issubclass(bizra.InvalidInputError, bizra.BizraError)
    assert issubclass(bizra.InvalidInputError, ValueError)
    assert bizra.REJECT_CODES[15] == "HASH_MISMATCH" and bizra.REJECT_CODES[0] == "SUCCESS"
    assert bizra.reject_name(24) == "GATE_CUSTOM"
    assert bizra.reject_name(0) == "SUCCESS"
    with pytest.raises(ValueError):
        bizra.reject_name(3)


def test_version() -> None:
    parts = bizra.__version__.split(".")
    assert len(parts) == 3 and all(p.isdigit() for p in parts)


def longest_stall_during(call: Callable[[], object]) -> tuple[float, float, object]:
    """Runs `call` on a worker thread while this thread keeps running Python code. Returns the
    longest time this thread stood still while the call ran (clipped to the call), the call's
    duration, and its result. With the GIL held through the call, the stall is the whole call."""
    done = threading.Event()
    window: list[float] = []
    out: list[object] = []

    def worker() -> None:
        t0 = time.perf_counter()
        out.append(call())
        window.extend([t0, time.perf_counter()])
        done.set()

    gaps: list[tuple[float, float]] = []
    t = threading.Thread(target=worker)
    last = time.perf_counter()
    t.start()
    while not done.is_set():
        now = time.perf_counter()
        if now - last > 0.001:
            gaps.append((last, now))
        last = now
    t.join()
    t0, t1 = window
    stall = max((min(b, t1) - max(a, t0) for a, b in gaps), default=0.0)
    return max(stall, 0.0), t1 - t0, out[0]


def test_the_gil_is_released_during_batch_verification(identity: bizra.Identity) -> None:
    envs = [bizra.Envelope.create(identity, {"i": i}, timestamp=T0) for i in range(64)]
    batch = envs * 150
    stall, took, result = longest_stall_during(lambda: bizra.verify_batch(batch, T0))
    assert result == [0] * len(batch)
    assert took > 0.05, "the batch is too small to tell"
    assert stall < 0.5 * took, f"Python stood still {stall:.3f}s of a {took:.3f}s batch"


def test_the_gil_is_released_during_pem_encryption(identity: bizra.Identity) -> None:
    stall, took, pem = longest_stall_during(lambda: identity.to_pem("pw"))
    assert isinstance(pem, str) and "ENCRYPTED" in pem
    assert took > 0.05
    assert stall < 0.5 * took, f"Python stood still {stall:.3f}s of a {took:.3f}s encryption"


def test_verification_from_several_threads_while_python_runs(identity: bizra.Identity) -> None:
    envs = [bizra.Envelope.create(identity, {"i": i}, timestamp=T0) for i in range(32)]
    bad = bizra.Envelope.parse(envs[0].to_json().replace('"i":0', '"i":1'))
    errors: list[BaseException] = []
    codes: list[int] = []
    lock = threading.Lock()
    stop = threading.Event()
    ticks = [0]

    def python_work() -> None:
        while not stop.is_set():
            ticks[0] += 1

    def verifier() -> None:
        try:
            for _ in range(20):
                for env in envs:
                    env.verify(now=T0)
                try:
                    bad.verify(now=T0)
                except bizra.RejectError as e:
                    with lock:
                        codes.append(e.code)
        except BaseException as e:  # noqa: BLE001
            errors.append(e)

    busy = threading.Thread(target=python_work)
    busy.start()
    workers = [threading.Thread(target=verifier) for _ in range(4)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    stop.set()
    busy.join()
    assert errors == []
    assert codes == [15] * 80
    assert ticks[0] > 0


def test_python_gates_run_from_several_threads(identity: bizra.Identity) -> None:
    calls = [0]
    lock = threading.Lock()

    def counting(env: bizra.Envelope) -> bool:
        with lock:
            calls[0] += 1
        return True

    chain = bizra.GateChain.empty()
    chain.add_builtin("signature")
    chain.add_gate("count", "cheap", counting)
    envs = [bizra.Envelope.create(identity, i, timestamp=T0) for i in range(50)]
    results: list[bool] = []

    def run() -> None:
        for env in envs:
            ok = chain.check(env, now=T0).passed
            with lock:
                results.append(ok)

    threads = [threading.Thread(target=run) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [True] * 200 and calls[0] == 200
