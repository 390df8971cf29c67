"""bizra inference: a local model answers, the answer streams as it is written, comes back as a
signed envelope with measured scores, and the gate chain judges it by those scores.

Run it with `make demo-python` (it fetches the test model with `make model`), or
`python examples/python/inference.py /path/to/model.gguf` once `pip install ./bindings/python`
is done.
"""

from __future__ import annotations

import asyncio
import os
import sys

import bizra

QUESTION = "What is the capital of France? Answer in one word."


def judge(env: bizra.Envelope) -> None:
    """Verifies the signature, then lets the default gate chain decide on the signed scores."""
    env.verify()
    scores = env.scores
    print(f"verified {env.id}: snr {scores['snr']:.3f}, ihsan {scores['ihsan']:.3f}")
    report = bizra.GateChain().check(env)
    refusal = report.first_failure
    why = f" ({refusal.name}: PCI-{refusal.code} {refusal.code_name})" if refusal else ""
    print(f"gates    passes={report.passed}{why}")


def main() -> None:
    path = sys.argv[1] if len(sys.argv) > 1 else os.environ.get("BIZRA_TEST_MODEL")
    if not path:
        sys.exit("usage: inference.py <model.gguf> (or set BIZRA_TEST_MODEL)")
    me = bizra.Identity.generate()
    # The with block closes the model (frees its memory) at its end.
    with bizra.Model(path, n_ctx=1024) as model:
        run(model, me)


def run(model: bizra.Model, me: bizra.Identity) -> None:
    print(f"model    {model!r}")

    # The question arrives as an envelope; the answer names it as its provenance.
    question = bizra.Envelope.create(me, {"question": QUESTION})

    # Streaming: pieces arrive as they are decoded (the GIL is free meanwhile; another thread
    # may call stream.cancel()); the last item is the envelope, signed once the generation ends.
    # Leaving the with block early (a break, an exception) stops the generation.
    print("answer   ", end="", flush=True)
    with model.stream(
        me, QUESTION, max_tokens=32, temperature=0.0, provenance=[question]
    ) as stream:
        for item in stream:
            if isinstance(item, bizra.Envelope):
                print()
                # Nobody vouched for correctness or safety: they count 0, so the Ihsan gate
                # refuses it.
                judge(item)
            else:
                print(item, end="", flush=True)

    # The engine measures SNR and part of Ihsan; the dimensions it cannot measure are the
    # caller's to vouch for, here as this app's policy for a closed question. The vouching is
    # signed into the envelope, so whoever admits it knows who vouched.
    vouched = bizra.IhsanInputs(
        correctness=1.0, safety=1.0, user_benefit=1.0, adl_fairness=1.0
    )
    judge(
        model.generate(
            me, QUESTION, max_tokens=32, temperature=0.0, ihsan=vouched, provenance=[question]
        )
    )

    # A time limit: the generation stops at its next token and the partial answer comes back
    # signed, with finish_reason "cancelled" (as with cancel=bizra.CancelToken(), or Ctrl-C,
    # which raises KeyboardInterrupt instead).
    story = model.generate(me, "Write a long story about a dragon.", max_tokens=400, timeout=0.2)
    print(f"timeout  {story.payload['tokens']['completion']} tokens, {story.payload['finish_reason']}")

    # asyncio: the same stream with async for; a worker thread feeds the event loop.
    async def ask() -> str:
        pieces: list[str] = []
        async for item in model.astream(me, QUESTION, max_tokens=32, temperature=0.0):
            if isinstance(item, str):
                pieces.append(item)
        return "".join(pieces)

    print(f"async    {asyncio.run(ask())}")


if __name__ == "__main__":
    main()
