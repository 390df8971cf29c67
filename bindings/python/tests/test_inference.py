"""Embedded inference through bizra.Model, with the real model (SmolLM2-135M Q4_1).

The core's behaviour tests (tests/inference.rs) through the Python surface. The model is at
$BIZRA_TEST_MODEL (exported by the Makefile); run `make model` to fetch it. One model serves
every test of the module.
"""

from __future__ import annotations

import asyncio
import math
import os
import signal
import threading
import time
from pathlib import Path
from typing import Union

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


def queued_tokens(model: bizra.Model, identity: bizra.Identity) -> float:
    """Runs a short generation and returns how long it waited behind earlier work (requests are
    served in order), counted in tokens of its own generation speed. Work that was stopped
    leaves a wait of about one token; an abandoned 400-token story would leave hundreds."""
    start = time.perf_counter()
    env = model.generate(identity, STORY, max_tokens=16, temperature=0.0)
    wall = time.perf_counter() - start
    timings = env.payload["timings_ms"]
    per_token = float(timings["generation"]) / 1000 / env.payload["tokens"]["completion"]
    waited = wall - (timings["prompt"] + timings["generation"]) / 1000
    return float(waited / per_token)


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
    assert info.value.kind == "PROMPT_TOO_LONG" and "prompt too long" in info.value.detail
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


def test_closing_a_stream_stops_the_generation(
    model: bizra.Model, identity: bizra.Identity
) -> None:
    pieces: list[str] = []
    with model.stream(identity, STORY, max_tokens=400, temperature=0.0) as stream:
        for item in stream:
            assert isinstance(item, str)
            pieces.append(item)
            if len(pieces) == 5:
                break
    # The with block closed the stream: the generation stopped at its next token, and the
    # envelope is the partial answer, signed, at once (not after the 400 tokens).
    env = stream.envelope
    env.verify()
    assert env.payload["finish_reason"] == "cancelled"
    assert env.payload["tokens"]["completion"] < 100
    assert env.payload["output"].startswith("".join(pieces))
    assert list(stream) == [], "a closed stream yields nothing more"
    stream.close()  # twice is harmless
    assert stream.envelope.id == env.id
    assert queued_tokens(model, identity) < 50

    # close() without a with block; next() then raises StopIteration.
    stream = model.stream(identity, STORY, max_tokens=400, temperature=0.0)
    first = next(stream)
    assert isinstance(first, str)
    stream.close()
    with pytest.raises(StopIteration):
        next(stream)
    assert stream.envelope.payload["finish_reason"] == "cancelled"

    # A stream that ended by itself: closing it changes nothing.
    with model.stream(identity, CAPITAL, max_tokens=16, temperature=0.0) as short:
        text, env = drain(short)
    assert short.envelope.payload["finish_reason"] == "eos" and "Paris" in text


def test_breaking_out_of_a_stream_stops_the_generation(
    model: bizra.Model, identity: bizra.Identity
) -> None:
    """`break` drops the last reference to the stream, which cancels the generation."""
    for n, item in enumerate(model.stream(identity, STORY, max_tokens=400, temperature=0.0)):
        assert isinstance(item, str)
        if n == 10:
            break
    assert queued_tokens(model, identity) < 50


def test_timeout_returns_the_partial_signed_answer(
    model: bizra.Model, identity: bizra.Identity
) -> None:
    env = model.generate(identity, STORY, max_tokens=400, temperature=0.0, timeout=0.3)
    env.verify()
    # As a cancel: the generation stops at its next token and its partial output is signed.
    assert env.payload["finish_reason"] == "cancelled"
    assert env.payload["tokens"]["completion"] < 400
    assert queued_tokens(model, identity) < 50
    # A timeout the generation beats changes nothing.
    quick = model.generate(identity, CAPITAL, max_tokens=16, temperature=0.0, timeout=600)
    assert quick.payload["finish_reason"] == "eos"
    bad: list[object] = [0, -1.5, math.nan]
    for value in bad:
        with pytest.raises(bizra.InvalidInputError, match="timeout must be a positive"):
            model.generate(identity, CAPITAL, max_tokens=1, timeout=value)  # type: ignore[arg-type]
    with pytest.raises(bizra.InvalidInputError, match="too long"):
        model.generate(identity, CAPITAL, max_tokens=1, timeout=math.inf)
    with pytest.raises(TypeError, match="timeout"):
        model.generate(identity, CAPITAL, max_tokens=1, timeout="1")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="timeout"):
        model.generate(identity, CAPITAL, max_tokens=1, timeout=True)


def test_a_cancel_token_stops_generate(model: bizra.Model, identity: bizra.Identity) -> None:
    token = bizra.CancelToken()
    assert not token.is_cancelled() and "False" in repr(token)
    timer = threading.Timer(0.3, token.cancel)
    timer.start()
    env = model.generate(identity, STORY, max_tokens=400, temperature=0.0, cancel=token)
    timer.join()
    assert token.is_cancelled()
    env.verify()
    assert env.payload["finish_reason"] == "cancelled"
    assert env.payload["tokens"]["completion"] < 400
    # A token stays cancelled: the next generation with it stops before its first token.
    again = model.generate(identity, STORY, max_tokens=400, temperature=0.0, cancel=token)
    assert again.payload["finish_reason"] == "cancelled"
    assert again.payload["tokens"]["completion"] == 0
    with pytest.raises(TypeError):
        model.generate(identity, CAPITAL, max_tokens=1, cancel=True)  # type: ignore[arg-type]


def test_ctrl_c_during_generate_stops_it(model: bizra.Model, identity: bizra.Identity) -> None:
    """A SIGINT (Ctrl-C) while generate() waits takes effect between tokens: the generation is
    cancelled and KeyboardInterrupt is raised."""
    inside = threading.Event()
    stray: list[int] = []

    def on_sigint(signum: int, frame: object) -> None:
        # Raised only inside generate(); a signal arriving elsewhere fails the test below
        # instead of interrupting the whole pytest session.
        if inside.is_set():
            raise KeyboardInterrupt
        stray.append(signum)

    def ctrl_c() -> None:
        # Not to pass time: to let the generation start (the story takes seconds).
        time.sleep(0.5)
        os.kill(os.getpid(), signal.SIGINT)

    token = bizra.CancelToken()
    previous = signal.signal(signal.SIGINT, on_sigint)
    sender = threading.Thread(target=ctrl_c)
    try:
        inside.set()
        sender.start()
        with pytest.raises(KeyboardInterrupt):
            model.generate(identity, STORY, max_tokens=400, temperature=0.0, cancel=token)
        inside.clear()
        sender.join()
    finally:
        inside.clear()
        signal.signal(signal.SIGINT, previous)
    assert stray == []
    assert token.is_cancelled(), "the interrupt cancelled the core's work"
    assert queued_tokens(model, identity) < 50
    assert_still_serving(model, identity)


def test_model_close_and_context_manager(
    model: bizra.Model, identity: bizra.Identity
) -> None:
    with bizra.Model(MODEL_PATH, n_ctx=N_CTX, threads=2) as m:
        assert not m.closed
        assert m.file_blake3 == model.file_blake3
        assert "Paris" in m.generate(identity, CAPITAL, max_tokens=16, temperature=0.0).payload["output"]
        # A stream open at close() keeps the model until it ends.
        open_stream = m.stream(identity, CAPITAL, max_tokens=16, temperature=0.0)
    assert m.closed and "closed" in repr(m)
    text, env = drain(open_stream)
    assert "Paris" in text and env.payload["finish_reason"] == "eos"
    for use in [
        lambda: m.generate(identity, CAPITAL, max_tokens=1),
        lambda: m.stream(identity, CAPITAL, max_tokens=1),
        lambda: m.astream(identity, CAPITAL, max_tokens=1),
        lambda: m.embed("x"),
    ]:
        with pytest.raises(bizra.InvalidInputError, match="the model is closed"):
            use()
    assert m.name == model.name and m.n_ctx == N_CTX, "metadata stays readable"
    m.close()  # twice is harmless

    loaded = bizra.Model.load(MODEL_PATH, n_ctx=N_CTX, threads=2)
    loaded.close()
    with pytest.raises(ValueError, match="closed"):
        loaded.embed("x")
    assert_still_serving(model, identity)


def test_async_streaming(model: bizra.Model, identity: bizra.Identity) -> None:
    async def run() -> tuple[list[Union[str, bizra.Envelope]], list[float], float]:
        stop = asyncio.Event()
        gaps: list[float] = []

        async def ticker() -> None:
            last = time.perf_counter()
            while not stop.is_set():
                await asyncio.sleep(0.001)
                now = time.perf_counter()
                gaps.append(now - last)
                last = now

        task = asyncio.create_task(ticker())
        start = time.perf_counter()
        items = [item async for item in model.astream(identity, STORY, max_tokens=24, temperature=0.0)]
        took = time.perf_counter() - start
        stop.set()
        await task
        return items, gaps, took

    items, gaps, took = asyncio.run(run())
    *pieces, env = items
    assert all(isinstance(p, str) for p in pieces) and isinstance(env, bizra.Envelope)
    assert "".join(str(p) for p in pieces) == env.payload["output"]
    env.verify()
    greedy = model.generate(identity, STORY, max_tokens=24, temperature=0.0)
    assert greedy.payload["output"] == env.payload["output"]
    # The event loop ran on while the engine worked: no tick waited on it.
    assert len(gaps) > 10 and max(gaps) < took / 4, (max(gaps), took)


def test_async_stream_stops_when_closed_or_dropped(
    model: bizra.Model, identity: bizra.Identity
) -> None:
    async def closed() -> bizra.Envelope:
        async with model.astream(identity, STORY, max_tokens=400, temperature=0.0) as stream:
            n = 0
            async for item in stream:
                assert isinstance(item, str)
                n += 1
                if n == 5:
                    break
        assert [item async for item in stream] == []
        return await stream.envelope()

    env = asyncio.run(closed())
    env.verify()
    assert env.payload["finish_reason"] == "cancelled"
    assert env.payload["tokens"]["completion"] < 100
    assert queued_tokens(model, identity) < 50

    async def dropped() -> None:
        n = 0
        async for item in model.astream(identity, STORY, max_tokens=400, temperature=0.0):
            assert isinstance(item, str)
            n += 1
            if n == 5:
                break

    asyncio.run(dropped())
    assert queued_tokens(model, identity) < 50

    async def too_long() -> None:
        async for _ in model.astream(identity, "word " * 2000, max_tokens=2):
            pass

    with pytest.raises(bizra.PromptTooLongError):
        asyncio.run(too_long())
    assert_still_serving(model, identity)


def test_max_queued_bounds_the_queue(identity: bizra.Identity) -> None:
    with pytest.raises(bizra.InvalidInputError, match="max_queued"):
        bizra.Model.load(MODEL_PATH, n_ctx=N_CTX, threads=2, max_queued=65_537)
    with pytest.raises(OverflowError):
        bizra.Model.load(MODEL_PATH, n_ctx=N_CTX, threads=2, max_queued=-1)
    with bizra.Model(MODEL_PATH, n_ctx=N_CTX, threads=2, max_queued=0) as solo:
        # Taken at once, the model having just loaded.
        stream = solo.stream(identity, STORY, max_tokens=400, temperature=0.0)
        # A piece arrived: the worker is generating, so with no queue the next request (a
        # generation, an embedding) is refused at once, having done nothing.
        first = next(stream)
        assert isinstance(first, str)
        with pytest.raises(bizra.BusyError) as busy:
            solo.generate(identity, CAPITAL, max_tokens=4, temperature=0.0)
        assert busy.value.kind == "BUSY" and "(0 waiting)" in str(busy.value)
        with pytest.raises(bizra.BusyError):
            solo.embed("cheese")
        stream.cancel()
        env = stream.envelope
        assert env.payload["finish_reason"] == "cancelled"
        # The cancelled stream has ended: the next request is taken at once.
        answer = solo.generate(identity, CAPITAL, max_tokens=16, temperature=0.0)
        assert "Paris" in answer.payload["output"]
