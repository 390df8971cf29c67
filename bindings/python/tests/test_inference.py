"""Embedded inference through bizra.Model, with the real model (SmolLM2-135M Q4_1).

The model is at $BIZRA_TEST_MODEL (exported by the Makefile); run `make model` to fetch it.
"""

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
PROMPT = "What is the capital of France?"


@pytest.fixture(scope="module")
def model() -> bizra.Model:
    if not MODEL_PATH.is_file():
        pytest.fail(
            f"test model not found at {MODEL_PATH}: run `make model` to download it "
            "(or set BIZRA_TEST_MODEL)"
        )
    return bizra.Model.load(MODEL_PATH, n_ctx=512, threads=2)


def test_metadata(model: bizra.Model) -> None:
    assert model.architecture == "llama"
    assert 100_000_000 < model.parameters < 200_000_000
    assert model.quantization == "Q4_1"
    assert len(model.file_blake3) == 64
    assert model.tier == bizra.ModelTier.EDGE
    assert model.n_ctx == 512
    assert model.context_length is not None and model.context_length >= 512
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
    pieces = list(stream)
    assert all(isinstance(p, str) for p in pieces)
    env = stream.envelope
    assert "".join(pieces) == env.payload["output"]
    env.verify()
    greedy = model.generate(identity, PROMPT, max_tokens=12, temperature=0.0)
    assert greedy.payload["output"] == env.payload["output"]


def test_max_tokens_honoured(model: bizra.Model, identity: bizra.Identity) -> None:
    env = model.generate(
        identity, "Write a long story about a dragon.", max_tokens=4, temperature=0.0
    )
    assert env.payload["tokens"]["completion"] <= 4
    assert env.payload["finish_reason"] in ("length", "eos", "stop")
    assert env.payload["params"]["max_tokens"] == 4


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
    assert model.generate(identity, PROMPT, max_tokens=2, temperature=0.0).payload[
        "output"
    ]


def test_non_gguf_file_is_a_clear_error(
    model: bizra.Model, identity: bizra.Identity, tmp_path: Path
) -> None:
    bogus = tmp_path / "not-a-model.gguf"
    bogus.write_bytes(b"this is plain text, not a GGUF model file\n" * 10)
    with pytest.raises(bizra.ModelError) as info:
        bizra.Model.load(bogus)
    assert isinstance(info.value, bizra.BizraError)
    assert "GGUF" in str(info.value) or "magic" in str(info.value)
    assert model.generate(identity, PROMPT, max_tokens=2, temperature=0.0).payload[
        "output"
    ]


def test_prompt_too_long_is_a_clear_error(
    model: bizra.Model, identity: bizra.Identity
) -> None:
    long_prompt = "word " * 2000
    with pytest.raises(bizra.PromptTooLongError, match="prompt too long"):
        model.generate(identity, long_prompt, max_tokens=2)
    with pytest.raises(bizra.PromptTooLongError):
        list(model.stream(identity, long_prompt, max_tokens=2))
    assert model.generate(identity, PROMPT, max_tokens=2, temperature=0.0).payload[
        "output"
    ]


def test_invalid_sampling_is_invalid_input(
    model: bizra.Model, identity: bizra.Identity
) -> None:
    with pytest.raises(bizra.InvalidInputError):
        model.generate(identity, PROMPT, max_tokens=2, top_p=0.0)


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
