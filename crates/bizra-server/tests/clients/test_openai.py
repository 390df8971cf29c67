"""The official `openai` Python package as a client of a real `bizra serve`, non-streaming and
streaming, and `models.list()`; each answer's `bizra_envelope` verified independently with
bizra's own Python binding, and its signed output compared with the text the client received."""

from __future__ import annotations

import json
from typing import Any

import bizra
import openai
import pytest

from conftest import Server

QUESTION = "What is the capital of France? Answer in one word."


def client(server: Server, token: str | None = None) -> openai.OpenAI:
    return openai.OpenAI(
        base_url=server.url + "/v1",
        api_key=token if token is not None else server.token,
        max_retries=0,
        timeout=120,
    )


def authentic(envelope: Any) -> bizra.Envelope:
    """The envelope parsed and verified by the binding: the nine steps of PCI-v1 (signature,
    content hash, freshness, ...) under the default constitution, then the chain's
    authenticity gates. Model output's measured scores are judged elsewhere (the full chain)."""
    text = json.dumps(envelope)
    env = bizra.Envelope.open(text, policy=bizra.Constitution.default())
    chain = bizra.GateChain.empty()
    for gate in ("schema", "signature", "freshness", "policy"):
        chain.add_builtin(gate)
    report = chain.check(env)
    assert report.passed, report
    return env


def check_envelope(envelope: Any, text: str, server: Server) -> bizra.Envelope:
    env = authentic(envelope)
    payload = env.payload
    assert payload["type"] == "bizra.inference"
    # What the node signed is what the client got.
    assert payload["output"] == text
    assert text.strip(), "the model said nothing"
    # Signed by this node (the key `bizra init` made).
    assert env.sender == server.node_id
    # A copy whose output was changed is refused: the check above can fail.
    tampered = dict(envelope)
    tampered["payload"] = dict(envelope["payload"], output=text + " (edited)")
    with pytest.raises(bizra.RejectError) as refused:
        bizra.Envelope.open(json.dumps(tampered))
    assert refused.value.name == "HASH_MISMATCH"
    return env


def test_models_list(server: Server) -> None:
    models = client(server).models.list()
    ids = [m.id for m in models.data]
    assert ids[0] == "bizra", ids
    for m in models.data:
        assert m.object == "model"
        assert m.owned_by == "bizra"


def test_chat_completion(server: Server) -> None:
    completion = client(server).chat.completions.create(
        model="bizra",
        messages=[
            {"role": "system", "content": "You are a concise assistant."},
            {"role": "user", "content": QUESTION},
        ],
        max_tokens=16,
        temperature=0,
        seed=7,
    )
    assert completion.object == "chat.completion"
    assert len(completion.choices) == 1
    choice = completion.choices[0]
    assert choice.message.role == "assistant"
    assert choice.finish_reason in ("stop", "length")
    text = choice.message.content or ""
    assert "Paris" in text, text
    assert completion.usage is not None and 0 < completion.usage.completion_tokens <= 16
    extra = completion.model_extra or {}
    env = check_envelope(extra["bizra_envelope"], text, server)
    assert completion.id == f"chatcmpl-{env.id}"


def test_chat_completion_streamed(server: Server) -> None:
    stream = client(server).chat.completions.create(
        model="bizra",
        messages=[{"role": "user", "content": QUESTION}],
        max_tokens=16,
        temperature=0,
        stream=True,
    )
    pieces: list[str] = []
    finals = []
    envelopes = []
    with stream:
        for chunk in stream:
            assert chunk.object == "chat.completion.chunk"
            extra = chunk.model_extra or {}
            if "bizra_envelope" in extra:
                envelopes.append(extra["bizra_envelope"])
            for choice in chunk.choices:
                if choice.delta.content:
                    pieces.append(choice.delta.content)
                if choice.finish_reason is not None:
                    finals.append(chunk)
    # One final chunk, carrying finish_reason, usage and the envelope.
    assert len(finals) == 1 and len(envelopes) == 1
    assert finals[0].usage is not None and finals[0].usage.completion_tokens > 0
    assert len(pieces) > 1, "the answer came in one piece: not streamed"
    text = "".join(pieces)
    assert "Paris" in text, text
    check_envelope(envelopes[0], text, server)


def test_wrong_token_is_refused(server: Server) -> None:
    with pytest.raises(openai.AuthenticationError) as refused:
        client(server, token="not the token").chat.completions.create(
            model="bizra", messages=[{"role": "user", "content": QUESTION}], max_tokens=4
        )
    assert refused.value.status_code == 401
    body = refused.value.body
    assert isinstance(body, dict) and body.get("code") == "unauthorized", body


def test_unknown_model_is_refused(server: Server) -> None:
    with pytest.raises(openai.NotFoundError) as refused:
        client(server).chat.completions.create(
            model="no-such-model", messages=[{"role": "user", "content": QUESTION}], max_tokens=4
        )
    body = refused.value.body
    assert isinstance(body, dict) and body.get("code") == "model_not_found", body
