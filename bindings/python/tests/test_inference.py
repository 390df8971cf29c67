"""Embedded inference through bizra.Model, with the real model (SmolLM2-135M Q4_1).

The core's behaviour tests (tests/inference.rs) through the Python surface. The model is at
$BIZRA_TEST_MODEL (exported by the Makefile); run `make model` to fetch it. One model serves
every test of the module.
"""

from __future__ import annotations

import math
import os
import threading
import time
from pathlib import Path

import pytest

import bizra

MODEL_PATH = Path(
    os.environ.get(
        "BIZRA_TEST_MODEL",
        str(Path.home() / ".cache/bizra/models/SmolLM2-135M-Instruct.Q4_1.gguf"),
    )
)
PROMPT = "What is the capital of France?"
CAPITAL = "What is the capital of France? Answer in one word."
# Greedy, the model writes this story until max_tokens (400 tokens, far beyond a prompt cancel).
STORY = "Write a long story about a dragon."
N_CTX = 512
VOUCHED = bizra.IhsanInputs(
    correctness=1.0, safety=1.0, user_benefit=1.0, adl_fairness=1.0
)


@pytest.fixture(scope="module")
def model() -> bizra.Model:
    if not MODEL_PATH.is_file():
        pytest.fail(
            f"test model not found at {MODEL_PATH}: run `make model` to download it "
            "(or set BIZRA_TEST_MODEL)"
        )
    return bizra.Model.load(MODEL_PATH, n_ctx=N_CTX, threads=2)


def drain(stream: bizra.TokenStream) -> tuple[str, bizra.Envelope]:
    """Iterates a stream to its end: str pieces, then the envelope as the last item, the same
    one `.envelope` returns. Returns the joined text and the envelope."""
    *pieces, last = list(stream)
    assert all(isinstance(p, str) for p in pieces), pieces
    assert isinstance(last, bizra.Envelope), last
    assert last.id == stream.envelope.id
    assert list(stream) == [], "the envelope is the last item"
    return "".join(str(p) for p in pieces), last


def assert_still_serving(model: bizra.Model, identity: bizra.Identity) -> None:
    """The model answers normally (after an error, a cancellation, a bad file)."""
    env = model.generate(identity, CAPITAL, max_tokens=16, temperature=0.0)
    assert "Paris" in env.payload["output"]


def test_metadata(model: bizra.Model) -> None:
    assert model.architecture == "llama"
    assert 100_000_000 < model.parameters < 200_000_000
    assert model.quantization == "Q4_1"
    assert len(model.file_blake3) == 64
    assert model.tier == bizra.ModelTier.EDGE
    assert model.n_ctx == N_CTX
    assert model.context_length is not None and model.context_length >= N_CTX
    assert model.name
    assert "Model(" in repr(model)


def test_greedy_is_deterministic(
    model: bizra.Model, identity: bizra.Identity
) -> None:
    a = model.generate(identity, PROMPT, max_tokens=12, temperature=0.0)
    b = model.generate(identity, PROMPT, max_tokens=12, temperature=0.0)
    assert a.payload["output"] == b.payload["output"]
    assert a.payload["output"]


def test_stream_concatenates_to_output(
    model: bizra.Model, identity: bizra.Identity
) -> None:
    stream = model.stream(identity, PROMPT, max_tokens=12, temperature=0.0)
    text, env = drain(stream)
    assert text == env.payload["output"]
    env.verify()
    greedy = model.generate(identity, PROMPT, max_tokens=12, temperature=0.0)
    assert greedy.payload["output"] == env.payload["output"]


def test_max_tokens_honoured(model: bizra.Model, identity: bizra.Identity) -> None:
    env = model.generate(identity, STORY, max_tokens=5, temperature=0.0)
    assert env.payload["tokens"]["completion"] == 5
    assert env.payload["finish_reason"] == "length"
    assert env.payload["params"]["max_tokens"] == 5
    # The stream obeys the same budget.
    text, streamed = drain(model.stream(identity, STORY, max_tokens=5, temperature=0.0))
    assert streamed.payload["tokens"]["completion"] == 5
    assert streamed.payload["finish_reason"] == "length"
    assert text == streamed.payload["output"] == env.payload["output"]


def test_stop_strings_honoured(model: bizra.Model, identity: bizra.Identity) -> None:
    prompt = "List the days of the week, separated by commas."
    free = model.generate(identity, prompt, max_tokens=24, temperature=0.0).payload[
        "output"
    ]
    # Stop at the second word the model writes: the output must be what came before it. Any
    # of the stop strings stops it; the one that never occurs changes nothing.
    words = free.split()
    assert len(words) >= 2, f"too short: {free!r}"
    word = words[1]
    before = free[: free.index(word)]
    stop = ["<never said>", word]
    env = model.generate(identity, prompt, max_tokens=24, temperature=0.0, stop=stop)
    assert env.payload["finish_reason"] == "stop", word
    assert env.payload["output"] == before
    assert word not in env.payload["output"]
    assert env.payload["params"]["stop"] == stop
    # Streamed, the stop string is never yielded either.
    text, streamed = drain(
        model.stream(identity, prompt, max_tokens=24, temperature=0.0, stop=stop)
    )
    assert text == before
    assert streamed.payload["finish_reason"] == "stop"


def test_cancel_from_another_thread_stops_promptly(
    model: bizra.Model, identity: bizra.Identity
) -> None:
    stream = model.stream(identity, STORY, max_tokens=400, temperature=0.0)
    pieces: list[str] = []
    tenth = threading.Event()
    cancelled_at: list[int] = []

    def canceller() -> None:
        # Wait for the tenth piece, then cancel from this thread.
        if tenth.wait(120):
            cancelled_at.append(len(pieces))
            stream.cancel()

    t = threading.Thread(target=canceller)
    t.start()
    for item in stream:
        if isinstance(item, bizra.Envelope):
            break
        pieces.append(item)
        if len(pieces) == 10:
            tenth.set()
    t.join()
    env = stream.envelope
    assert isinstance(item, bizra.Envelope) and item.id == env.id  # the loop ended on it
    env.verify()
    assert env.payload["finish_reason"] == "cancelled"
    assert cancelled_at and cancelled_at[0] >= 10
    after = len(pieces) - cancelled_at[0]
    assert after <= 2, f"{after} pieces after the cancel"
    assert env.payload["tokens"]["completion"] < 100
    # Pieces produced before the cancel are all yielded: they still make up the output.
    assert "".join(pieces) == env.payload["output"]
    # An answer cut short is not efficient: the measured dimension says so.
    dims = env.payload["scores"]["ihsan"]["dimensions"]
    assert dims["efficiency"]["value"] == 0.0
    assert_still_serving(model, identity)


def test_cancel_reaches_a_thread_waiting_for_the_envelope(
    model: bizra.Model, identity: bizra.Identity
) -> None:
    """One thread waits on `.envelope` (for the whole generation, GIL released) while another
    cancels: the cancel must not wait for that thread, or the generation would run to its end."""
    stream = model.stream(identity, STORY, max_tokens=400, temperature=0.0)
    first = next(stream)  # the generation is running
    assert isinstance(first, str)
    envelopes: list[bizra.Envelope] = []
    reader = threading.Thread(target=lambda: envelopes.append(stream.envelope))
    reader.start()
    # Not to pass time: to let the reader get into `.envelope` before the cancel (it needs
    # microseconds; the story takes seconds). Were it not there yet, the test would still pass.
    time.sleep(0.1)
    stream.cancel()
    reader.join()
    env = envelopes[0]
    assert env.payload["finish_reason"] == "cancelled"
    assert env.payload["tokens"]["completion"] < 400
    assert env.payload["output"].startswith(first)
    rest = list(stream)
    assert len(rest) == 1 and isinstance(rest[0], bizra.Envelope), "pieces skipped by .envelope"
    assert_still_serving(model, identity)


def test_a_vouched_answer_is_admitted_by_its_measured_scores(
    model: bizra.Model, identity: bizra.Identity
) -> None:
    env = model.generate(identity, CAPITAL, max_tokens=16, temperature=0.0, ihsan=VOUCHED)
    env.verify()
    p = env.payload
    assert "Paris" in p["output"]
    assert p["finish_reason"] == "eos"
    dims = p["scores"]["ihsan"]["dimensions"]
    for name in ("correctness", "safety", "user_benefit", "adl_fairness"):
        assert dims[name] == {"weight": dims[name]["weight"], "value": 1.0, "source": "supplied"}
    for name in ("efficiency", "auditability", "anti_centralization", "robustness"):
        assert dims[name]["source"] == "measured"
    assert p["scores"]["ihsan"]["unmeasured"] == []
    snr, ihsan = env.scores["snr"], env.scores["ihsan"]
    assert p["scores"]["snr"]["value"] == snr
    assert p["scores"]["ihsan"]["score"] == ihsan

    # Admitted exactly when the measured scores clear the constitution's thresholds.
    constitution = bizra.Constitution()
    report = bizra.GateChain().check(env)
    clears = snr >= constitution.snr_threshold and ihsan >= constitution.ihsan_minimum
    assert report.passed == clears, repr(report)
    assert report.passed, f"a confident, vouched answer is admitted: snr {snr}, ihsan {ihsan}"
    report.raise_for_status()


def test_an_answer_nobody_vouched_for_is_refused(
    model: bizra.Model, identity: bizra.Identity
) -> None:
    env = model.generate(identity, CAPITAL, max_tokens=16, temperature=0.0)
    p = env.payload
    assert p["scores"]["ihsan"]["unmeasured"] == [
        "correctness",
        "safety",
        "user_benefit",
        "adl_fairness",
    ]
    assert p["scores"]["ihsan"]["dimensions"]["safety"]["value"] is None
    assert env.scores["ihsan"] < bizra.Constitution().ihsan_minimum
    report = bizra.GateChain().check(env)
    assert not report.passed
    assert report.code in (25, 23), repr(report)
    with pytest.raises(bizra.RejectError) as info:
        report.raise_for_status()
    assert info.value.code == report.code
    assert info.value.name in ("GATE_IHSAN", "GATE_SNR")


def test_ihsan_names_map_to_their_dimensions(
    model: bizra.Model, identity: bizra.Identity
) -> None:
    # A plain dict works as well as bizra.IhsanInputs; a None value leaves a dimension out.
    env = model.generate(
        identity,
        CAPITAL,
        max_tokens=16,
        temperature=0.0,
        ihsan={"user_benefit": 0.25, "adl_fairness": 0.5, "safety": None},
    )
    dims = env.payload["scores"]["ihsan"]["dimensions"]
    assert dims["user_benefit"]["value"] == 0.25
    assert dims["adl_fairness"]["value"] == 0.5
    assert dims["user_benefit"]["source"] == dims["adl_fairness"]["source"] == "supplied"
    assert env.payload["scores"]["ihsan"]["unmeasured"] == ["correctness", "safety"]
    # The streamed envelope carries the same inputs.
    stream = model.stream(
        identity, CAPITAL, max_tokens=16, temperature=0.0, ihsan={"correctness": 0.75}
    )
    dims = drain(stream)[1].payload["scores"]["ihsan"]["dimensions"]
    assert dims["correctness"] == {"weight": 0.22, "value": 0.75, "source": "supplied"}


def test_bad_ihsan_inputs_are_refused(
    model: bizra.Model, identity: bizra.Identity
) -> None:
    def refused(ihsan: object) -> BaseException:
        with pytest.raises(Exception) as info:
            model.generate(identity, CAPITAL, max_tokens=2, ihsan=ihsan)  # type: ignore[arg-type]
        # Refused when the request is made, before anything is generated.
        with pytest.raises(type(info.value)):
            model.stream(identity, CAPITAL, max_tokens=2, ihsan=ihsan)  # type: ignore[arg-type]
        return info.value

    measured = refused({"robustness": 1.0})
    assert isinstance(measured, bizra.InvalidInputError)
    assert "measured" in str(measured) and "robustness" in str(measured)
    out_of_range = refused(bizra.IhsanInputs(correctness=1.5))
    assert isinstance(out_of_range, bizra.InvalidInputError)
    assert "correctness" in str(out_of_range)
    unknown = refused({"kindness": 1.0})
    assert isinstance(unknown, bizra.InvalidInputError)
    assert "kindness" in str(unknown) and "user_benefit" in str(unknown)
    assert isinstance(refused({"safety": True}), TypeError)
    assert isinstance(refused({"safety": "high"}), TypeError)
    assert isinstance(refused([("safety", 1.0)]), TypeError)
    assert isinstance(refused({1: 1.0}), TypeError)
    assert_still_serving(model, identity)


def test_provenance_and_ttl_land_in_the_envelope(
    model: bizra.Model, identity: bizra.Identity
) -> None:
    question = bizra.Envelope.create(identity, {"q": CAPITAL})
    context = bizra.Envelope.create(identity, {"doc": "France"})
    env = model.generate(
        identity,
        CAPITAL,
        max_tokens=4,
        temperature=0.0,
        provenance=[question, context.id],
        ttl=600,
    )
    env.verify()
    assert env.provenance == [question.id, context.id]
    assert env.ttl == 600
    assert (env.expires_at - env.timestamp).total_seconds() == 600
    wire = bizra.Envelope.parse(env.to_json())
    assert wire.provenance == [question.id, context.id] and wire.ttl == 600

    stream = model.stream(
        identity, CAPITAL, max_tokens=4, temperature=0.0, provenance=(question,), ttl=60
    )
    streamed = drain(stream)[1]
    assert streamed.provenance == [question.id]
    assert streamed.ttl == 60

    # By default: no provenance, the envelope default lifetime.
    plain = model.generate(identity, CAPITAL, max_tokens=2, temperature=0.0)
    assert plain.provenance == [] and plain.ttl == bizra.MAX_TTL_SECONDS


def test_bad_provenance_and_ttl_are_refused(
    model: bizra.Model, identity: bizra.Identity
) -> None:
    with pytest.raises(TypeError, match="provenance"):
        # A str is an iterable of str to a type checker; the binding refuses it all the same.
        model.generate(identity, CAPITAL, max_tokens=2, provenance="pci_" + "0" * 32)
    with pytest.raises(TypeError, match=r"provenance\[1\]"):
        model.generate(identity, CAPITAL, max_tokens=2, provenance=["pci_" + "0" * 32, 7])  # type: ignore[list-item]
    with pytest.raises(TypeError, match="ttl"):
        model.generate(identity, CAPITAL, max_tokens=2, ttl=True)
    with pytest.raises(TypeError, match="ttl"):
        model.stream(identity, CAPITAL, max_tokens=2, ttl=1.5)  # type: ignore[arg-type]
    # Values of the right type that the envelope refuses: the core's signing refuses them.
    with pytest.raises(bizra.InvalidInputError, match="ttl"):
        model.generate(identity, CAPITAL, max_tokens=1, ttl=0)
    with pytest.raises(bizra.InvalidInputError, match="ttl"):
        model.generate(identity, CAPITAL, max_tokens=1, ttl=bizra.MAX_TTL_SECONDS + 1)
    with pytest.raises(ValueError, match="provenance"):
        model.generate(identity, CAPITAL, max_tokens=1, provenance=["nope"])
    assert_still_serving(model, identity)


def test_envelope_verifies_with_scores_in_range(
    model: bizra.Model, identity: bizra.Identity
) -> None:
    env = model.generate(
        identity, PROMPT, system="Answer briefly.", max_tokens=8, seed=7, stop=["\n\n"]
    )
    env.verify()
    assert env.sender == identity.node_id
    assert env.payload["type"] == "bizra.inference"
    assert env.payload["model"]["file_blake3"] == model.file_blake3
    assert env.payload["params"]["seed"] == 7
    scores = env.scores
    assert "ihsan" in scores
    for value in scores.values():
        assert 0.0 <= value <= 1.0


def test_missing_file_is_a_clear_error(
    model: bizra.Model, identity: bizra.Identity, tmp_path: Path
) -> None:
    with pytest.raises(bizra.ModelError, match="no such file"):
        bizra.Model.load(tmp_path / "absent.gguf")
    assert_still_serving(model, identity)


def test_non_gguf_file_is_a_clear_error(
    model: bizra.Model, identity: bizra.Identity, tmp_path: Path
) -> None:
    bogus = tmp_path / "not-a-model.gguf"
    bogus.write_bytes(b"this is plain text, not a GGUF model file\n" * 10)
    with pytest.raises(bizra.ModelError, match="not a GGUF file") as info:
        bizra.Model.load(bogus)
    assert isinstance(info.value, bizra.BizraError)
    empty = tmp_path / "empty.gguf"
    empty.write_bytes(b"")
    with pytest.raises(bizra.ModelError):
        bizra.Model.load(empty)
    assert_still_serving(model, identity)


@pytest.mark.parametrize("cut", [12, 4096, "half"])
def test_truncated_gguf_is_a_clear_error(
    model: bizra.Model, identity: bizra.Identity, tmp_path: Path, cut: int | str
) -> None:
    size = MODEL_PATH.stat().st_size
    length = size // 2 if cut == "half" else int(cut)
    truncated = tmp_path / f"cut-{cut}.gguf"
    with open(MODEL_PATH, "rb") as src:
        truncated.write_bytes(src.read(length))
    with pytest.raises(bizra.ModelError, match="truncated"):
        bizra.Model.load(truncated, threads=2)
    assert_still_serving(model, identity)


def test_prompt_too_long_is_a_clear_error(
    model: bizra.Model, identity: bizra.Identity
) -> None:
    long_prompt = "word " * 2000
    with pytest.raises(bizra.PromptTooLongError, match="prompt too long") as info:
        model.generate(identity, long_prompt, max_tokens=2)
    assert info.value.n_ctx == N_CTX
    assert info.value.prompt_tokens > N_CTX
    stream = model.stream(identity, long_prompt, max_tokens=2)
    with pytest.raises(bizra.PromptTooLongError):
        list(stream)
    with pytest.raises(bizra.PromptTooLongError):
        stream.envelope
    with pytest.raises(bizra.PromptTooLongError) as embed_info:
        model.embed(long_prompt)
    assert embed_info.value.prompt_tokens > embed_info.value.n_ctx
    assert_still_serving(model, identity)


def test_invalid_sampling_is_invalid_input(
    model: bizra.Model, identity: bizra.Identity
) -> None:
    with pytest.raises(bizra.InvalidInputError):
        model.generate(identity, PROMPT, max_tokens=2, top_p=0.0)
    with pytest.raises(bizra.InvalidInputError, match="max_tokens"):
        model.generate(identity, PROMPT, max_tokens=0)
    with pytest.raises(bizra.InvalidInputError):
        model.stream(identity, PROMPT, max_tokens=2, stop=[""])


def test_embeddings_paraphrases_closer(model: bizra.Model) -> None:
    def cos(a: list[float], b: list[float]) -> float:
        dot = sum(x * y for x, y in zip(a, b))
        na = math.sqrt(sum(x * x for x in a))
        nb = math.sqrt(sum(y * y for y in b))
        return dot / (na * nb)

    a = model.embed("The cat sat on the mat.")
    b = model.embed("A cat was sitting on the rug.")
    c = model.embed("Quarterly revenue rose by eight percent.")
    assert len(a) == len(b) == len(c) > 0
    assert cos(a, b) > cos(a, c)
