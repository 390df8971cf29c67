"""bizra.Store: the autopoiesis store through the binding (the core decides; these tests check
that its rules and errors reach Python intact, and that the real model embeds through it)."""

from __future__ import annotations

import math
import os
from pathlib import Path

import pytest

import bizra

MODEL_PATH = Path(
    os.environ.get(
        "BIZRA_TEST_MODEL",
        str(Path.home() / ".cache/bizra/models/SmolLM2-135M-Instruct.Q4_1.gguf"),
    )
)


def pattern(identity: bizra.Identity, content: str) -> bizra.Envelope:
    return bizra.Envelope.create(identity, {"type": "bizra.pattern", "content": content})


def test_learn_recall_feedback_and_bad_input(identity: bizra.Identity) -> None:
    with bizra.Store() as store:
        assert store.path == ":memory:" and store.dimension is None and len(store) == 0
        a = pattern(identity, "water boils at 100 C")
        pid, what = store.learn(a, [0.6, 0.8, 0.0], tags=["physics"])
        assert what == "new" and store.dimension == 3
        again = pattern(identity, "water boils at 100 C")
        assert store.learn(again, [0.6, 0.8, 0.0]) == (pid, "observed")
        assert store.learn(a, [0.6, 0.8, 0.0]) == (pid, "already_known")
        salt, _ = store.learn(pattern(identity, "salt dissolves"), [0.0, 0.0, 1.0])

        hits = store.recall([0.5, 0.8, 0.1], k=1)
        assert [h["id"] for h in hits] == [pid]
        assert hits[0]["content"] == "water boils at 100 C"
        assert hits[0]["tags"] == ["physics"] and hits[0]["observations"] == 2
        assert 0.99 < hits[0]["similarity"] <= 1.0
        assert store.recall([0.5, 0.8, 0.1], threshold=0.995) == []

        assert store.feedback(pid, True) == pytest.approx(0.55)
        assert store.feedback(pid, False) == pytest.approx(0.52)
        got = store.get(pid)
        assert got is not None and got["positive"] == 1 and got["negative"] == 1
        assert store.get(9999) is None
        with pytest.raises(bizra.InvalidInputError, match="no pattern with id 9999"):
            store.feedback(9999, True)

        third = pattern(identity, "a third")
        with pytest.raises(bizra.InvalidInputError, match="2 dimensions"):
            store.learn(third, [1.0, 0.0])
        with pytest.raises(bizra.InvalidInputError):
            store.learn(third, [math.nan, 0.0, 1.0])
        with pytest.raises(bizra.InvalidInputError, match="not both"):
            store.learn(third)
        note = bizra.Envelope.create(identity, {"type": "bizra.note"})
        with pytest.raises(bizra.InvalidInputError, match="cannot learn"):
            store.learn(note, [1.0, 0.0, 0.0])
        with pytest.raises(bizra.InvalidInputError, match="sequence of floats"):
            store.recall(42)  # type: ignore[arg-type]
        assert len(store) == 2 and [p["id"] for p in store.patterns()] == [pid, salt]

        # Local elevation: nothing at the default policy, the observed pattern at a lenient one.
        assert store.elevate_local() == []
        assert store.elevate_local(threshold=0.5, min_observations=2) == [pid]
        assert [p["elevation"]["kind"] for p in store.elevated()] == ["local"]
    with pytest.raises(bizra.InvalidInputError, match="closed"):
        len(store)


def test_replayed_envelope_is_refused_with_its_code(identity: bizra.Identity) -> None:
    store = bizra.Store()
    cache = bizra.ReplayCache()
    env = pattern(identity, "once")
    store.learn(env, [1.0, 0.0], replay=cache)
    with pytest.raises(bizra.RejectError) as e:
        store.learn(env, [1.0, 0.0], replay=cache)
    assert e.value.name == "REPLAY"
    assert len(store) == 1


def test_preferences(identity: bizra.Identity) -> None:
    store = bizra.Store()
    assert store.preference("style", "tone") is None
    confidences = [store.observe_preference("style", "tone", "concise") for _ in range(6)]
    assert confidences[0] == 0.5 and confidences[-1] == pytest.approx(0.704755)
    assert store.observe_preference("style", "tone", "verbose") == 0.5  # its own confidence
    pref = store.preference("style", "tone")
    assert pref is not None and pref["value"] == "concise" and pref["active"]
    assert [p["value"] for p in store.active_preferences()] == ["concise"]
    assert (
        store.apply_preferences("You are helpful.")
        == "You are helpful.\n\nUser preferences:\n- style.tone: concise"
    )
    assert store.apply_preferences() == "User preferences:\n- style.tone: concise"
    with pytest.raises(bizra.InvalidInputError, match="must not be empty"):
        store.observe_preference("", "tone", "x")


def test_export_import_files_and_a_tampered_line(identity: bizra.Identity, tmp_path: Path) -> None:
    path = tmp_path / "memory.sqlite"
    with bizra.Store(path) as store:
        store.learn(pattern(identity, "first"), [1.0, 0.0])
        store.learn(pattern(identity, "second"), [0.0, 1.0])
        text = store.export_jsonl(identity)
    assert len(text.splitlines()) == 2
    with bizra.Store(path) as reopened:
        assert [h["content"] for h in reopened.recall([0.0, 1.0], k=1)] == ["second"]

    other = bizra.Store(tmp_path / "other.sqlite")
    assert other.import_jsonl(text) == {"lines": 2, "new": 2, "observed": 0, "already_known": 0}
    assert other.import_jsonl(text.encode())["already_known"] == 2

    fresh = bizra.Store()
    first, second = text.splitlines()
    tampered = first + "\n" + second.replace('"second"', '"Second"') + "\n"
    with pytest.raises(bizra.RejectError, match="import line 2") as e:
        fresh.import_jsonl(tampered)
    assert e.value.name == "HASH_MISMATCH"
    assert len(fresh) == 0

    not_a_store = tmp_path / "patterns.jsonl"
    not_a_store.write_text(text)
    with pytest.raises(bizra.FileSystemError):
        bizra.Store(not_a_store)
    assert not_a_store.read_text() == text


def test_learn_and_recall_with_the_model(identity: bizra.Identity) -> None:
    if not MODEL_PATH.is_file():
        pytest.fail(f"test model not found at {MODEL_PATH}: run `make model`")
    model = bizra.Model.load(MODEL_PATH, n_ctx=512, threads=2)
    store = bizra.Store()
    texts = [
        "The cat is sleeping on the sofa.",
        "Paris is the capital of France.",
        "Quantum computers use qubits.",
        "The recipe needs two cups of flour.",
    ]
    ids = [store.learn(pattern(identity, t), model=model)[0] for t in texts]
    stored = store.get(ids[0])
    assert stored is not None and store.dimension == len(model.embed(texts[0]))
    hits = store.recall("A cat naps on the couch.", model=model, k=2, threshold=-1.0)
    assert hits[0]["content"] == texts[0]
    assert hits[0]["similarity"] > hits[1]["similarity"]
    hits = store.recall("France's capital city is Paris.", model=model, k=1, threshold=-1.0)
    assert hits[0]["content"] == texts[1]
    with pytest.raises(bizra.InvalidInputError, match="needs the model"):
        store.recall("no model given")
