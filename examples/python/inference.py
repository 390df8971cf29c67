"""bizra inference: a local model answers, the answer streams as it is written, comes back as a
signed envelope with measured scores, and the gate chain judges it by those scores.

Run it with `make demo-python` (it fetches the test model with `make model`), or
`python examples/python/inference.py /path/to/model.gguf` once `pip install ./bindings/python`
is done.
"""

from __future__ import annotations

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
    print(f"gates    admitted={report.passed}{why}")


def main() -> None:
    path = sys.argv[1] if len(sys.argv) > 1 else os.environ.get("BIZRA_TEST_MODEL")
    if not path:
        sys.exit("usage: inference.py <model.gguf> (or set BIZRA_TEST_MODEL)")
    me = bizra.Identity.generate()
    model = bizra.Model.load(path, n_ctx=1024)
    print(f"model    {model!r}")

    # The question arrives as an envelope; the answer names it as its provenance.
    question = bizra.Envelope.create(me, {"question": QUESTION})

    # Streaming: pieces arrive as they are decoded (the GIL is free meanwhile; another thread
    # may call stream.cancel()); the last item is the envelope, signed once the generation ends.
    print("answer   ", end="", flush=True)
    for item in model.stream(
        me, QUESTION, max_tokens=32, temperature=0.0, provenance=[question]
    ):
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


if __name__ == "__main__":
    main()
