"""bizra.Store: the autopoiesis store through the binding (the core decides; these tests check
that its rules, records and errors reach Python intact, and that the real model embeds through
it)."""

from __future__ import annotations

import json
import math
import os
from datetime import datetime, timezone
from pathlib import Path

import blake3
import pytest

import bizra
from conftest import VECTORS_DIR

MODEL_PATH = Path(
    os.environ.get(
        "BIZRA_TEST_MODEL",
        str(Path.home() / ".cache/bizra/models/SmolLM2-135M-Instruct.Q4_1.gguf"),
    )
)


def pattern(identity: bizra.Identity, content: str) -> bizra.Envelope:
    return bizra.Envelope.create(identity, {"type": "bizra.pattern", "content": content})


def test_learn_and_recall_by_vector(identity: bizra.Identity) -> None:
    with bizra.Store.in_memory() as store:
        assert store.path == ":memory:" and store.dimension is None and len(store) == 0
        a = pattern(identity, "water boils at 100 C")
        learned = store.learn(a, [0.6, 0.8, 0.0], tags=["physics"])
        assert learned.outcome == "new" and store.dimension == 3
        pid = learned.id
        again = pattern(identity, "water boils at 100 C")
        assert store.learn(again, [0.6, 0.8, 0.0]).outcome == "observed"
        assert store.learn(a, [0.6, 0.8, 0.0]) == store.learn(a, [0.6, 0.8, 0.0])
        assert store.learn(a, [0.6, 0.8, 0.0]).outcome == "already_known"
        salt = store.learn(pattern(identity, "salt dissolves"), [0.0, 0.0, 1.0]).id

        hits = store.recall([0.5, 0.8, 0.1], k=1)
        assert [h.pattern.id for h in hits] == [pid]
        p = hits[0].pattern
        assert p.content == "water boils at 100 C" and p.tags == ["physics"]
        assert p.observations == 2 and p.source_node == identity.node_id
        assert p.envelope.id == a.id == p.envelope_id
        assert p.content_blake3 == blake3.blake3(b"water boils at 100 C").hexdigest()
        assert math.isclose(math.hypot(*p.embedding), 1.0, rel_tol=1e-6)  # normalised by the core
        assert isinstance(p.created, datetime) and p.created.tzinfo == timezone.utc
        assert p.elevation == "none" and p.height is None and p.certificate is None
        assert 0.99 < hits[0].similarity <= 1.0
        assert "water boils" in repr(hits[0])
        # Both, highest first; the threshold cuts; k bounds.
        both = store.recall([0.5, 0.8, 0.1], threshold=-1.0)
        assert [h.pattern.id for h in both] == [pid, salt]
        assert both[0].similarity > both[1].similarity
        assert store.recall([0.5, 0.8, 0.1], threshold=0.995) == []
        assert [p.id for p in store.patterns()] == [pid, salt]
        assert store.remove(salt) and not store.remove(salt)
        assert len(store) == 1 and store.get(salt) is None
    with pytest.raises(bizra.InvalidInputError, match="closed"):
        len(store)
    store.close()  # twice is harmless


def test_feedback_arithmetic(identity: bizra.Identity) -> None:
    store = bizra.Store.in_memory()
    pid = store.learn(pattern(identity, "tea is hot"), [1.0, 0.0]).id
    learned = store.get(pid)
    assert learned is not None and learned.confidence == 0.5
    steps = [store.feedback(pid, True).confidence for _ in range(3)]
    assert steps == pytest.approx([0.55, 0.60, 0.65])
    after = store.feedback(pid, False)
    assert after.confidence == pytest.approx(0.62)
    assert (after.positive, after.negative) == (3, 1)
    for _ in range(10):
        top = store.feedback(pid, True)
    assert top.confidence == 1.0  # clamped
    for _ in range(40):
        bottom = store.feedback(pid, False)
    assert bottom.confidence == 0.0
    with pytest.raises(bizra.InvalidInputError, match="no pattern with id 9999"):
        store.feedback(9999, True)


def test_bad_input_is_refused_and_loses_nothing(identity: bizra.Identity) -> None:
    store = bizra.Store.in_memory()
    store.learn(pattern(identity, "first"), [1.0, 0.0, 0.0])
    third = pattern(identity, "a third")
    with pytest.raises(bizra.InvalidInputError, match="has 2 dimensions, but this store's patterns have 3"):
        store.learn(third, [1.0, 0.0])
    with pytest.raises(bizra.InvalidInputError, match="value 0 is NaN, not a finite number"):
        store.learn(third, [math.nan, 0.0, 1.0])
    with pytest.raises(bizra.InvalidInputError, match="zero vector"):
        store.learn(third, [0.0, 0.0, 0.0])
    with pytest.raises(bizra.InvalidInputError, match="dimensions"):
        store.recall([1.0, 0.0])
    with pytest.raises(bizra.InvalidInputError, match="give the embedding, or the model"):
        store.learn(third)
    with pytest.raises(TypeError):
        store.learn(third, ["x", 1.0, 2.0])  # type: ignore[list-item]
    note = bizra.Envelope.create(identity, {"type": "bizra.note"})
    with pytest.raises(bizra.InvalidInputError, match="cannot learn"):
        store.learn(note, [1.0, 0.0, 0.0])
    with pytest.raises(bizra.InvalidInputError, match="sequence of floats"):
        store.recall(42)  # type: ignore[arg-type]
    cache = bizra.ReplayCache()
    store.learn(third, [0.0, 1.0, 0.0], replay=cache)
    with pytest.raises(bizra.RejectError) as e:
        store.learn(third, [0.0, 1.0, 0.0], replay=cache)
    assert e.value.name == "REPLAY"
    assert [p.content for p in store.patterns()] == ["first", "a third"]


def test_preferences_reinforce_and_apply() -> None:
    store = bizra.Store.in_memory()
    assert store.preference("style", "tone") is None
    assert store.apply_preferences("You are helpful.") == "You are helpful."
    seen = [store.observe_preference("style", "tone", "concise") for _ in range(6)]
    assert seen[0].confidence == 0.5 and not seen[0].active
    assert not seen[4].active and seen[5].active  # the sixth observation activates it
    assert [p.confidence for p in seen] == sorted(p.confidence for p in seen)  # reinforced
    assert seen[-1].confidence == pytest.approx(0.704755) and seen[-1].active
    assert seen[-1].observations == 6
    verbose = store.observe_preference("style", "tone", "verbose")
    assert verbose.confidence == 0.5  # a new value starts on its own
    assert [(p.value, p.active) for p in store.preferences()] == [("concise", True), ("verbose", False)]
    pref = store.preference("style", "tone")
    assert pref is not None and (pref.kind, pref.key, pref.value) == ("style", "tone", "concise")
    assert [p.value for p in store.active_preferences()] == ["concise"]
    assert (
        store.apply_preferences("You are helpful.")
        == "You are helpful.\n\nUser preferences:\n- style.tone: concise"
    )
    assert store.apply_preferences() == "User preferences:\n- style.tone: concise"
    with pytest.raises(bizra.InvalidInputError, match="must not be empty"):
        store.observe_preference("", "tone", "x")


def test_elevate_local_and_list_elevated(identity: bizra.Identity) -> None:
    store = bizra.Store.in_memory()
    settled = store.learn(pattern(identity, "settled"), [1.0, 0.0]).id
    for _ in range(2):
        store.learn(pattern(identity, "settled"), [1.0, 0.0])
    young = store.learn(pattern(identity, "young"), [0.0, 1.0]).id
    assert store.elevate_local() == []  # 3 observations, but confidence 0.5 < 0.95
    for _ in range(9):
        store.feedback(settled, True)
        store.feedback(young, True)
    assert store.elevated() == []
    assert store.elevate_local() == [settled]  # young has 1 observation of the 3 needed
    assert [(p.id, p.elevation) for p in store.elevated()] == [(settled, "local")]
    assert store.elevate_local() == []  # already elevated
    assert store.elevate_local(threshold=0.9, min_observations=1) == [young]
    assert [p.id for p in store.elevated()] == [settled, young]
    # Only a federation's certificate can be checked again: a local elevation has none.
    vectors = json.loads((VECTORS_DIR / "consensus-v1-vectors.json").read_text(encoding="utf-8"))
    doc = bizra.FederationDocument.from_json(vectors["documents"]["equal"]["json"])
    with pytest.raises(bizra.InvalidInputError, match=f"pattern {settled} is not certified"):
        store.verify_elevation(settled, doc)
    with pytest.raises(bizra.InvalidInputError, match="no pattern with id 9999"):
        store.verify_elevation(9999, doc)


def test_export_import_round_trip_and_a_tampered_line(identity: bizra.Identity) -> None:
    a = bizra.Store.in_memory()
    a.learn(pattern(identity, "first"), [1.0, 0.0], tags=["one"])
    a.learn(pattern(identity, "second"), [0.0, 1.0])
    text = a.export_jsonl(identity)
    assert len(text.splitlines()) == 2

    b = bizra.Store.in_memory()
    report = b.import_jsonl(text)
    assert (report.lines, report.new, report.observed, report.already_known) == (2, 2, 0, 0)
    report = b.import_jsonl(text)
    assert (report.lines, report.new, report.observed, report.already_known) == (2, 0, 0, 2)
    assert [(p.content, p.tags) for p in b.patterns()] == [("first", ["one"]), ("second", [])]
    assert [h.pattern.content for h in b.recall([0.1, 1.0], k=1)] == ["second"]
    from_bytes = bizra.Store.in_memory().import_jsonl(text.encode())
    assert from_bytes == bizra.Store.in_memory().import_jsonl(text) and "new=2" in repr(from_bytes)

    first, second = text.splitlines()
    tampered = first + "\n" + second.replace('"second"', '"Second"') + "\n"
    fresh = bizra.Store.in_memory()
    with pytest.raises(bizra.RejectError, match="import line 2") as e:
        fresh.import_jsonl(tampered)
    assert e.value.name == "HASH_MISMATCH" and e.value.code == 15
    assert len(fresh) == 0  # all lines or none
    with pytest.raises(bizra.BizraError, match="import line 1"):
        fresh.import_jsonl("not json\n")
    with pytest.raises(bizra.InvalidInputError, match="str or bytes"):
        fresh.import_jsonl(42)  # type: ignore[arg-type]


def test_a_file_store_reopened_keeps_everything(identity: bizra.Identity, tmp_path: Path) -> None:
    path = tmp_path / "memory.sqlite"
    with bizra.Store(path) as store:  # pathlib accepted
        assert store.path == str(path)
        one = store.learn(pattern(identity, "first"), [1.0, 0.0], tags=["t"]).id
        store.learn(pattern(identity, "first"), [1.0, 0.0])
        two = store.learn(pattern(identity, "second"), [0.0, 1.0]).id
        store.feedback(two, True)
        for _ in range(6):
            store.observe_preference("format", "lists", "bullets")
        assert store.elevate_local(threshold=0.5, min_observations=2) == [one]
        before = [(p.id, p.content, p.tags, p.confidence, p.observations, p.elevation) for p in store.patterns()]
    with bizra.Store.open(str(path)) as reopened:
        after = [(p.id, p.content, p.tags, p.confidence, p.observations, p.elevation) for p in reopened.patterns()]
        assert after == before and reopened.dimension == 2
        assert [h.pattern.id for h in reopened.recall([0.0, 1.0], k=1)] == [two]
        assert [p.id for p in reopened.elevated()] == [one]
        pref = reopened.preference("format", "lists")
        assert pref is not None and pref.value == "bullets" and pref.observations == 6

    not_a_store = tmp_path / "patterns.jsonl"
    not_a_store.write_text("not a database\n")
    with pytest.raises(bizra.FileSystemError):
        bizra.Store.open(not_a_store)
    assert not_a_store.read_text() == "not a database\n"  # left untouched


def test_learn_and_recall_with_the_model(identity: bizra.Identity) -> None:
    if not MODEL_PATH.is_file():
        pytest.fail(f"test model not found at {MODEL_PATH}: run `make model`")
    with bizra.Model.load(MODEL_PATH, n_ctx=512, threads=2) as model:
        store = bizra.Store.in_memory()
        texts = [
            "The cat is sleeping on the sofa.",
            "Paris is the capital of France.",
            "Quantum computers use qubits.",
            "The recipe needs two cups of flour.",
        ]
        ids = [store.learn(pattern(identity, t), model=model).id for t in texts]
        assert store.dimension == len(model.embed(texts[0]))
        # A paraphrase is recalled above every unrelated sentence.
        hits = store.recall("A cat naps on the couch.", model=model, k=4, threshold=-1.0)
        assert [h.pattern.id for h in hits][0] == ids[0]
        assert all(hits[0].similarity > h.similarity for h in hits[1:])
        hits = store.recall("France's capital city is Paris.", model=model, k=4, threshold=-1.0)
        assert hits[0].pattern.content == texts[1]
        assert all(hits[0].similarity > h.similarity for h in hits[1:])
        # Learning the same text again observes it; a vector query needs no model.
        assert store.learn(pattern(identity, texts[2]), model=model).outcome == "observed"
        vector = model.embed(texts[3])
        assert store.recall(list(vector), k=1)[0].pattern.id == ids[3]
        with pytest.raises(bizra.InvalidInputError, match="needs the model"):
            store.recall("no model given")
        with pytest.raises(bizra.InvalidInputError, match="not both"):
            store.learn(pattern(identity, "x"), list(vector), model=model)
        with pytest.raises(bizra.InvalidInputError, match="a vector already"):
            store.recall(list(vector), model=model)
