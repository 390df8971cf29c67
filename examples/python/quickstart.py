"""bizra quickstart: an identity, a signed envelope, verification, and the gate chain.

Run it with `make demo-python` (or `python examples/python/quickstart.py` once
`pip install ./bindings/python` is done).
"""

from __future__ import annotations

import tempfile
from datetime import datetime, timedelta, timezone
from pathlib import Path

import bizra


def main() -> None:
    # 1. A node identity, saved encrypted and loaded back (save refuses to replace an existing
    #    key file unless overwrite=True: a lost node key cannot be recovered).
    me = bizra.Identity.generate()
    with tempfile.TemporaryDirectory() as tmp:
        key = Path(tmp) / "node.pem"
        me.save(key, passphrase="correct horse battery staple")
        assert bizra.Identity.load(key, passphrase="correct horse battery staple") == me
    print(f"identity      {me.display_id} (node id {me.node_id})")

    # 2. Sign an output as a PCI envelope and put it on the wire.
    env = bizra.Envelope.create(
        me,
        {"prompt": "What is 2+2?", "answer": "4", "model": "smollm2-135m"},
        ttl=600,
        scores={"snr": 0.93, "ihsan": 0.97},
    )
    wire = env.to_json()
    print(f"envelope      {env.id}, {len(wire)} bytes, policy {env.policy[:16]}…")

    # 3. The receiver parses and verifies it in one call (against the default constitution's
    #    hash); a stored envelope older than its ttl is verified with now=<when it arrived>.
    received = bizra.Envelope.open(wire, policy=bizra.Constitution())
    print(f"verified      sender {received.sender}, payload {received.payload}")

    # 4. Tampering and expiry are caught with the spec's reject codes.
    forged = wire.replace('"answer":"4"', '"answer":"5"')
    try:
        bizra.Envelope.open(forged)
    except bizra.RejectError as e:
        print(f"tampered      refused: {e.name} ({e.code}), {e.detail}")
    try:
        received.verify(now=datetime.now(timezone.utc) + timedelta(hours=1))
    except bizra.RejectError as e:
        print(f"an hour later refused: {e.name} ({e.code})")

    # 5. Admission through the gate chain, with a custom gate written in Python: it returns
    #    None (or True) to admit, False or a reason to refuse. check() only observes; admit()
    #    admits (recording the id) or raises the first refusal.
    def has_answer(e: bizra.Envelope) -> str | None:
        payload = e.payload
        if isinstance(payload, dict) and payload.get("answer"):
            return None
        return "the payload has no answer"

    chain = bizra.GateChain()
    chain.add_gate("has-answer", "cheap", has_answer)
    report = chain.check(received)
    print(f"gate chain    passes={report.passed}: " + ", ".join(r.name for r in report.results))
    chain.admit(received)
    try:
        chain.admit(received)
    except bizra.RejectError as e:
        print(f"replayed      refused: {e.name} ({e.code})")

    # 6. Many envelopes at once, on all cores.
    batch = [bizra.Envelope.create(me, {"i": i}) for i in range(100)]
    codes = bizra.verify_batch(batch)
    print(f"batch         {codes.count(0)}/{len(codes)} valid")

    # 7. Which model tier should serve a task, and can this machine serve it?
    decision = bizra.select_tier("Explain how Ed25519 signatures work", max_tokens=800)
    hw = bizra.HardwareProfile.detect()
    print(
        f"tier          {decision.tier.label} ({decision.reason}); "
        f"this machine serves up to {hw.max_local_tier()}"
    )


if __name__ == "__main__":
    main()
