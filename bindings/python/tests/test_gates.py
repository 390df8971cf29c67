"""Gate chain: built-in gates, Python custom gates, report mode, replay, payload schema."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Callable, Union

import pytest

import bizra

T0 = datetime(2026, 1, 30, tzinfo=timezone.utc)


def make(identity: bizra.Identity, **scores: float) -> bizra.Envelope:
    return bizra.Envelope.create(identity, {"answer": 4}, scores=scores, timestamp=T0)


def test_default_chain_admits_a_good_envelope(identity: bizra.Identity) -> None:
    chain = bizra.GateChain()
    assert set(chain.gate_names) == {
        "schema", "signature", "freshness", "replay", "policy", "snr", "ihsan"
    }
    report = chain.check(make(identity, snr=0.9, ihsan=0.96), now=T0)
    assert report.passed and bool(report) and report.code is None
    assert report.first_failure is None
    assert [r.passed for r in report.results] == [True] * 7
    assert all(r.duration >= 0 and r.tier in ("cheap", "medium", "expensive") for r in report.results)
    report.raise_for_status()
    assert chain.constitution == bizra.Constitution()


@pytest.mark.parametrize(
    ("scores", "code", "name"),
    [
        ({"ihsan": 0.96}, 23, "GATE_SNR"),
        ({"snr": 0.84, "ihsan": 0.96}, 23, "GATE_SNR"),
        ({"snr": 0.9}, 25, "GATE_IHSAN"),
        ({"snr": 0.9, "ihsan": 0.94}, 25, "GATE_IHSAN"),
    ],
)
def test_score_gates_fail_closed(
    identity: bizra.Identity, scores: dict[str, float], code: int, name: str
) -> None:
    report = bizra.GateChain().check(make(identity, **scores), now=T0)
    assert not report.passed and report.code == code
    failure = report.first_failure
    assert failure is not None and failure.code_name == name
    with pytest.raises(bizra.RejectError) as info:
        report.raise_for_status()
    assert (info.value.code, info.value.name) == (code, name)


def test_freshness_and_replay_gates(identity: bizra.Identity) -> None:
    chain = bizra.GateChain()
    env = make(identity, snr=0.9, ihsan=0.96)
    assert chain.check(env, now=T0 + timedelta(hours=2)).code == 11
    # check() observes (it used to record the id, so a second check was a replay); admit()
    # records, and a later check or admit of the same id is a replay.
    assert chain.check(env, now=T0).passed
    assert chain.check(env, now=T0).passed
    assert not chain.replay_cache.contains(env.id, T0)
    assert chain.admit(env, now=T0).passed
    assert chain.check(env, now=T0).code == 12
    assert env.id in chain.replay_cache or chain.replay_cache.contains(env.id, T0)
    shared = bizra.ReplayCache()
    other = bizra.GateChain()
    other.set_replay_cache(shared)
    fresh = make(identity, snr=0.9, ihsan=0.96)
    fresh.verify(now=T0, replay=shared)
    assert other.check(fresh, now=T0).code == 12


def test_python_gate_admits_and_refuses(identity: bizra.Identity) -> None:
    seen: list[str] = []

    def only_answers(env: bizra.Envelope) -> bool:
        seen.append(env.id)
        payload = env.payload
        return isinstance(payload, dict) and "answer" in payload

    chain = bizra.GateChain()
    chain.add_gate("only-answers", "cheap", only_answers)
    assert "only-answers" in chain.gate_names
    good = make(identity, snr=0.9, ihsan=0.96)
    assert chain.check(good, now=T0).passed
    assert seen == [good.id]
    bad = bizra.Envelope.create(identity, {"question": 1}, scores={"snr": 0.9, "ihsan": 0.96}, timestamp=T0)
    report = chain.check(bad, now=T0)
    assert report.code == 24
    failure = report.first_failure
    assert failure is not None
    assert (failure.name, failure.code_name) == ("only-answers", "GATE_CUSTOM")
    assert failure.detail is not None and "returned False" in failure.detail


def test_python_gate_that_raises_or_returns_non_bool(identity: bizra.Identity) -> None:
    def boom(env: bizra.Envelope) -> bool:
        raise RuntimeError("model unavailable")

    chain = bizra.GateChain.empty()
    chain.add_gate("boom", tier="expensive", gate=boom)
    report = chain.check(make(identity), now=T0)
    assert report.code == 24
    assert report.results[0].tier == "expensive"
    assert "RuntimeError: model unavailable" in (report.results[0].detail or "")

    # A value that is neither None, a bool nor a str refuses (fail-closed), naming it. (None
    # used to refuse as "not a bool"; it now admits, as in every binding.)
    chain = bizra.GateChain.empty()
    chain.add_gate("number", "cheap", lambda env: 1)  # type: ignore[arg-type,return-value]
    report = chain.check(make(identity), now=T0)
    assert report.code == 24 and "returned int" in (report.results[0].detail or "")

    with pytest.raises(TypeError):
        chain.add_gate("x", "cheap", 42)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="tier"):
        chain.add_gate("x", "slow", lambda env: True)  # type: ignore[arg-type]
    # The order of every binding (Node's addGate(name, tier, fn)): a gate where the tier goes
    # is named as such.
    with pytest.raises(TypeError, match="tier comes before the gate"):
        chain.add_gate("x", lambda env: True, "cheap")  # type: ignore[arg-type]


def returning(verdict: Union[None, bool, str]) -> Callable[[bizra.Envelope], Union[None, bool, str]]:
    return lambda env: verdict


def test_python_gate_verdicts(identity: bizra.Identity) -> None:
    """None or True admits; False, a reason str or an exception refuses with GATE_CUSTOM."""
    verdicts: dict[str, Union[None, bool, str]] = {
        "none": None,
        "true": True,
        "false": False,
        "reason": "payload lacks a citation",
        "empty": "",
    }
    chain = bizra.GateChain.empty()
    chain.report_all = True
    for name, verdict in verdicts.items():
        chain.add_gate(name, "cheap", returning(verdict))
    report = chain.check(make(identity), now=T0)
    by_name = {r.name: r for r in report.results}
    assert by_name["none"].passed and by_name["true"].passed
    assert (by_name["false"].code, by_name["false"].detail) == (24, "the gate returned False")
    assert (by_name["reason"].code, by_name["reason"].detail) == (24, "payload lacks a citation")
    assert by_name["empty"].code == 24 and "empty reason" in (by_name["empty"].detail or "")
    assert report.first_failure is not None and report.first_failure.name == "false"

    chain = bizra.GateChain()
    chain.add_gate("cite", "medium", lambda env: "payload lacks a citation")
    with pytest.raises(bizra.RejectError) as info:
        chain.admit(make(identity, snr=0.9, ihsan=0.96), now=T0)
    assert (info.value.code, info.value.name) == (24, "GATE_CUSTOM")
    assert "payload lacks a citation" in info.value.detail and "cite" in info.value.detail


def test_user_gates_see_only_authenticated_envelopes(identity: bizra.Identity) -> None:
    """Built-in gates (the signature among them) run before every user gate, whatever the
    order they were added in or their tiers."""
    seen: list[str] = []

    def record(env: bizra.Envelope) -> None:
        seen.append(env.id)

    chain = bizra.GateChain.empty()
    chain.add_gate("first", "cheap", record)
    chain.add_builtin("signature")
    good = make(identity)
    forged = bizra.Envelope.parse(good.to_json().replace('"answer":4', '"answer":5'))
    assert chain.gate_names == ["signature", "first"]
    report = chain.check(forged, now=T0)
    assert report.code in (10, 15) and [r.name for r in report.results] == ["signature"]
    assert seen == []
    assert chain.check(good, now=T0).passed and seen == [good.id]


def test_check_observes_and_admit_admits_once(identity: bizra.Identity) -> None:
    chain = bizra.GateChain()
    env = make(identity, snr=0.9, ihsan=0.96)
    report = chain.check(env, now=T0)
    assert report.passed and len(chain.replay_cache) == 0
    admitted = chain.admit(env, now=T0)
    assert admitted.passed and isinstance(admitted, bizra.GateReport)
    assert len(chain.replay_cache) == 1
    with pytest.raises(bizra.RejectError) as info:
        chain.admit(env, now=T0)
    assert (info.value.code, info.value.name, info.value.kind) == (12, "REPLAY", "REJECTED")
    # A refusal by admit() records nothing.
    low = make(identity, snr=0.5, ihsan=0.96)
    with pytest.raises(bizra.RejectError) as info:
        chain.admit(low, now=T0)
    assert info.value.code == 23 and len(chain.replay_cache) == 1
    with pytest.raises(TypeError, match="Envelope"):
        chain.admit("not an envelope", now=T0)  # type: ignore[arg-type]


def test_tiers_order_and_report_mode(identity: bizra.Identity) -> None:
    chain = bizra.GateChain.empty()
    chain.add_gate("late", "expensive", lambda env: False)
    chain.add_builtin("signature")
    chain.add_gate("early", "cheap", lambda env: False)
    # Built-in gates first (the core now runs the signature before any user gate), then user
    # gates by tier.
    assert chain.gate_names == ["signature", "early", "late"]
    assert [r.name for r in chain.check(make(identity), now=T0).results] == ["signature", "early"]
    assert not chain.report_all
    chain.report_all = True
    assert chain.report_all
    report = chain.check(make(identity), now=T0)
    assert [(r.name, r.passed) for r in report.results] == [
        ("signature", True), ("early", False), ("late", False)
    ]
    assert not report.passed


def test_empty_chain_admits_nothing(identity: bizra.Identity) -> None:
    report = bizra.GateChain.empty().check(make(identity), now=T0)
    assert not report.passed and report.code == 50


def test_add_builtin_names(identity: bizra.Identity) -> None:
    chain = bizra.GateChain.empty()
    for name in ("snr", "snr", "ihsan"):
        chain.add_builtin(name)
    assert chain.gate_names == ["snr", "ihsan"]
    with pytest.raises(ValueError, match="built-in gates are"):
        chain.add_builtin("nope")  # type: ignore[arg-type]


def test_payload_schema(identity: bizra.Identity) -> None:
    chain = bizra.GateChain()
    chain.set_payload_schema(
        {"type": "object", "required": ["answer"], "properties": {"answer": {"type": "integer"}}}
    )
    assert chain.check(make(identity, snr=0.9, ihsan=0.96), now=T0).passed
    wrong = bizra.Envelope.create(identity, {"answer": "four"}, scores={"snr": 0.9, "ihsan": 0.96}, timestamp=T0)
    assert chain.check(wrong, now=T0).code == 20
    with pytest.raises(ValueError, match="Schema"):
        chain.set_payload_schema({"type": 12})


def test_chain_over_a_custom_constitution(identity: bizra.Identity) -> None:
    import json
    from conftest import VECTORS_DIR

    with open(VECTORS_DIR / "constitution-v1.json", encoding="utf-8") as f:
        doc = json.load(f)
    doc["snr_threshold"] = 0.5
    lenient = bizra.Constitution.from_json(json.dumps(doc))
    assert lenient.hash != bizra.Constitution().hash
    chain = bizra.GateChain(lenient)
    env = bizra.Envelope.create(
        identity, 1, scores={"snr": 0.6, "ihsan": 0.96}, policy=lenient, timestamp=T0
    )
    assert chain.check(env, now=T0).passed
    assert bizra.GateChain().check(env, now=T0).code in (17, 23)
