"""bizra consensus: four validators in one process decide a proposal and print its certificate.

Each validator is a bizra.Node on loopback (SWIM membership over signed UDP, consensus votes over
authenticated TCP links) under one federation document, which names the validators and their
voting power. A `bizra.proposal` envelope submitted at one node is pooled, forwarded, decided in
a batch, and reported by every node's `consensus_events()` as a Decision whose certificate anyone
holding the document can verify offline. The timings are a LAN's divided by ten, so the demo
takes well under a second. Run it with `make demo-python` (or `python examples/python/consensus.py`
once `pip install ./bindings/python` is done).
"""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path

import bizra


def main() -> None:
    ids = [bizra.Identity.generate() for _ in range(4)]
    # Who votes, with what power, and the round timeouts: never taken from the membership.
    document = bizra.FederationDocument.from_json(json.dumps({
        "federation": "demo",
        "epoch": 1,
        "timeouts_ms": {"propose": 300, "prevote": 150, "precommit": 150, "delta": 50,
                        "rebroadcast": 300},
        "validators": [{"key": i.public_key_hex, "power": 1} for i in ids],
    }))
    print(f"document   {document.federation} epoch {document.epoch}: {len(ids)} validators,"
          f" hash {document.hash[:16]}...")

    with tempfile.TemporaryDirectory(prefix="bizra-consensus-") as tmp:
        nodes: list[bizra.Node] = []
        for n, identity in enumerate(ids):
            nodes.append(bizra.Node(
                identity,
                bind="127.0.0.1:0",  # port 0: any free port (TCP links use the same number)
                seeds=[nodes[0].local_addr] if nodes else None,
                document=document,  # the federation ("demo") is the document's
                # The write-ahead log and the decided heights: a validator that restarted
                # without them could sign twice.
                data_dir=Path(tmp) / f"v{n}",
                probe_period=0.1,
                probe_rtt=0.04,
                gossip_interval=0.03,
            ))
        try:
            began = time.monotonic()
            while not all((s := n.consensus_status()) and s.linked == 3 for n in nodes):
                if time.monotonic() - began > 30:
                    raise SystemExit("the validators did not link within 30 s")
                time.sleep(0.02)
            print(f"linked     every validator to the three others in"
                  f" {time.monotonic() - began:.2f} s")

            streams = [n.consensus_events() for n in nodes]
            envelope = bizra.Envelope.create(
                ids[0],
                {"type": "bizra.proposal", "pattern": "cache answers for 10 minutes"},
                scores={"snr": 0.9, "ihsan": 0.97},  # the default gates' thresholds: 0.85, 0.95
            )
            began = time.monotonic()
            print(f"propose    {envelope.id} at v0: pooled={nodes[0].propose(envelope)}")
            for n, events in enumerate(streams):
                event = events.next(timeout=30)
                if not isinstance(event, bizra.Decision):
                    raise SystemExit(f"v{n}: no decision ({event!r})")
                # Offline, holding only the document: a quorum of validators signed this batch.
                event.certificate.verify_batch(event.batch_json, document)
                print(f"decided    v{n}: height {event.height} round {event.round},"
                      f" {event.certificate.signature_count} signatures, verified")
            print(f"           in {time.monotonic() - began:.2f} s")
            print(f"again      pooled={nodes[1].propose(envelope)} (already decided)")

            decision = nodes[2].decided(1)
            assert decision is not None
            print(f"certificate (v2, height 1) {decision.certificate.to_json()}")
        finally:
            for node in nodes:
                node.close()


if __name__ == "__main__":
    main()
