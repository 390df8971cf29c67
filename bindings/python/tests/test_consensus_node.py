"""Consensus on the Python node: four validators on loopback (UDP membership, TCP consensus links)
with temp data directories and fast timings (the core's loopback tests' timeouts: propose 0.3 s,
prevote and precommit 0.15, delta 0.05, rebroadcast 0.3) decide proposals; every node's
consensus_events() yields the decision, whose certificate verifies offline against the document;
then what is refused, with which class and code; a lone validator whose gate chain is frozen while
it runs; the example and a process that exits with its node open; and equivocation evidence refused
with its code (from the wire vectors, no node)."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import pytest

import bizra
from conftest import REPO, VECTORS_DIR

FEDERATION = "loopback"
# The membership timings of test_node.py: a probe every 100 ms.
FAST: dict[str, Any] = dict(
    bind="127.0.0.1:0",
    probe_period=0.1,
    probe_rtt=0.04,
    suspect_to_down_after=0.5,
    gossip_interval=0.03,
    rejoin_interval=0.5,
    announce_interval=2.0,
)
TIMEOUTS_MS = {"propose": 300, "prevote": 150, "precommit": 150, "delta": 50, "rebroadcast": 300}
# Long enough for a slow, busy machine; a healthy run decides in well under a second.
WITHIN = 15.0
GATE_IHSAN = next(code for code, name in bizra.REJECT_CODES.items() if name == "GATE_IHSAN")


def document(ids: list[bizra.Identity], federation: str = FEDERATION) -> bizra.FederationDocument:
    """The document of a federation of these validators (power 1 each)."""
    return bizra.FederationDocument.from_json(
        json.dumps(
            {
                "federation": federation,
                "epoch": 1,
                "timeouts_ms": TIMEOUTS_MS,
                "validators": [{"key": i.public_key_hex, "power": 1} for i in ids],
            }
        )
    )


def proposal(
    by: bizra.Identity, text: str, *, ihsan: float = 0.97
) -> bizra.Envelope:
    return bizra.Envelope.create(
        by,
        {"type": "bizra.proposal", "text": text},
        scores={"snr": 0.9, "ihsan": ihsan},
        ttl=600,
    )


def eventually(check: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + WITHIN
    while not check():
        if time.monotonic() > deadline:
            pytest.fail(f"{what}: not within {WITHIN} s")
        time.sleep(0.02)


def next_decision(events: bizra.ConsensusEventStream) -> bizra.Decision:
    """The next consensus event, which must be a decision; fails after WITHIN seconds."""
    event = events.next(timeout=WITHIN)
    assert event is not None, f"no consensus event within {WITHIN} s"
    assert isinstance(event, bizra.Decision), repr(event)
    return event


@dataclass
class Cluster:
    ids: list[bizra.Identity]
    doc: bizra.FederationDocument
    nodes: list[bizra.Node]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """Four validators joined through the first, each linked to the three others. No
    `federation` is given: a node under a document is in the document's federation."""
    ids = [bizra.Identity.generate() for _ in range(4)]
    doc = document(ids)
    nodes: list[bizra.Node] = []
    try:
        for i, identity in enumerate(ids):
            nodes.append(
                bizra.Node(
                    identity,
                    seeds=[nodes[0].local_addr] if nodes else None,
                    document=doc,
                    # One node is given its chain; the others take the default one.
                    gates=bizra.GateChain() if i == 0 else None,
                    data_dir=tmp_path_factory.mktemp(f"validator{i}"),
                    **FAST,
                )
            )

        def linked() -> bool:
            return all((s := n.consensus_status()) is not None and s.linked == 3 for n in nodes)

        eventually(linked, "every validator linked to the three others")
        yield Cluster(ids, doc, nodes)
    finally:
        for node in nodes:
            node.stop()


def test_four_validators_decide_and_every_node_sees_it(cluster: Cluster) -> None:
    ids, doc, nodes = cluster.ids, cluster.doc, cluster.nodes
    for n in nodes:
        s = n.consensus_status()
        assert isinstance(s, bizra.ConsensusStatus)
        assert s.validator is True
        assert s.decided == 0
        assert s.failure is None
        assert isinstance(s.engine, bizra.ConsensusEngineStats)
    streams = [n.consensus_events() for n in nodes]
    envelope = proposal(ids[0], "adopt pattern 17")
    assert nodes[0].propose(envelope) is True

    decisions = [next_decision(s) for s in streams]
    for i, d in enumerate(decisions):
        assert d.height == 1
        assert d.round >= 0
        cert = d.certificate
        assert isinstance(cert, bizra.Certificate)
        assert (cert.height, cert.round, cert.federation, cert.epoch) == (1, d.round, FEDERATION, 1)
        assert cert.signature_count >= 3
        # Offline, against the document alone: the signatures, the power, and the batch.
        cert.verify(doc)
        cert.verify_batch(d.batch_json, doc)
        bizra.Certificate.from_json(cert.to_json()).verify_batch(d.batch_json, doc)
        assert [p.id for p in d.proposals] == [envelope.id]
        assert isinstance(d.proposals[0], bizra.Envelope)
        assert d.proposals[0].to_json() == envelope.to_json()
        # Agreement: one batch, one value, at every node.
        assert d.batch_json == decisions[0].batch_json, f"node {i}"
        assert cert.value == decisions[0].certificate.value
        # Each node's certificate holds the precommits it collected: a quorum, not always the
        # same one, so decisions of two nodes are equal only when their signers are.
        assert (d == decisions[0]) == (cert == decisions[0].certificate)
        assert repr(d).startswith("Decision(height=1, ")
    # Another batch is not the certified value.
    other = json.dumps([json.loads(proposal(ids[1], "another").to_json())])
    with pytest.raises(bizra.CertificateError) as refused:
        decisions[0].certificate.verify_batch(other, doc)
    assert (refused.value.code, refused.value.name) == (8, "VALUE_MISMATCH")

    # decided(1): the same decision, from each node's storage.
    for i, n in enumerate(nodes):
        stored = n.decided(1)
        assert stored is not None and stored == decisions[i], f"node {i}"
        assert hash(stored) == hash(decisions[i])
        assert stored.certificate == decisions[i].certificate
        stored.certificate.verify_batch(stored.batch_json, doc)
    assert nodes[1].decided(2) is None
    assert nodes[1].decided(0) is None
    for n in nodes:
        s = n.consensus_status()
        assert s is not None
        assert s.decided == 1 and s.pending == 0 and s.linked == 3
        assert s.height >= 1 and s.engine.decided >= 1, s
        assert s.engine.received > 0 and s.engine.broadcasts > 0, s.engine

    # The same proposal again: already decided, not pooled twice, on any node.
    assert nodes[0].propose(envelope) is False
    assert nodes[2].propose(envelope) is False
    for stream in streams:
        stream.close()
        assert stream.closed


def test_what_propose_refuses(cluster: Cluster) -> None:
    ids, node = cluster.ids, cluster.nodes[0]
    # Not a proposal: the payload's type is not bizra.proposal.
    plain = bizra.Envelope.create(ids[0], {"answer": 4}, scores={"snr": 0.9, "ihsan": 0.97})
    with pytest.raises(bizra.InvalidInputError, match=f"envelope {plain.id} is not a proposal") as info:
        node.propose(plain)
    assert info.value.kind == "INVALID_INPUT" and not isinstance(info.value, bizra.RejectError)
    # Refused by the node's gate chain: below the constitution's Ihsan threshold.
    with pytest.raises(bizra.RejectError) as rejected:
        node.propose(proposal(ids[0], "weak", ihsan=0.5))
    assert (rejected.value.code, rejected.value.name) == (GATE_IHSAN, "GATE_IHSAN")
    with pytest.raises(TypeError, match="envelope must be a bizra.Envelope, got str"):
        node.propose(plain.to_json())  # type: ignore[arg-type]
    # A height is an int from 0 to 2^64-1: anything else names the argument.
    for height in (-1, 2**64, -(2**70)):
        with pytest.raises(bizra.InvalidInputError, match=f"height must be between 0 and {2**64 - 1}, got {height}"):
            node.decided(height)
    assert node.decided(2**64 - 1) is None
    for wrong in (True, 1.0, "1"):
        with pytest.raises(TypeError, match="height must be an int"):
            node.decided(wrong)  # type: ignore[arg-type]


def test_async_iteration_gets_the_next_decision(cluster: Cluster) -> None:
    ids, doc, nodes = cluster.ids, cluster.doc, cluster.nodes
    second = proposal(ids[3], "adopt pattern 18")

    async def main() -> tuple[bizra.Decision, bizra.Decision]:
        async with nodes[1].aconsensus_events() as events:
            assert isinstance(events, bizra.AsyncConsensusEventStream)
            assert isinstance(events.stream, bizra.ConsensusEventStream)
            over_native = nodes[2].consensus_events()
            assert nodes[3].propose(second) is True
            first = await asyncio.wait_for(events.__anext__(), WITHIN)
            assert isinstance(first, bizra.Decision)

        async def read() -> bizra.Decision:
            async for event in over_native:
                assert isinstance(event, bizra.Decision)
                return event
            raise AssertionError("the stream ended")

        other = await asyncio.wait_for(read(), WITHIN)
        assert events.stream.closed
        return first, other

    for d in asyncio.run(main()):
        assert d.height == 2
        assert [p.id for p in d.proposals] == [second.id]
        d.certificate.verify_batch(d.batch_json, doc)


def test_a_node_without_a_document_takes_no_part(tmp_path: Path) -> None:
    node = bizra.Node(bizra.Identity.generate(), data_dir=tmp_path, **FAST)
    try:
        assert node.consensus_status() is None
        envelope = proposal(bizra.Identity.generate(), "nobody decides this")
        with pytest.raises(
            bizra.InvalidInputError,
            match=r"takes no part in consensus \(start it with a document: "
            r"bizra\.Node\(identity, document=\.\.\., data_dir=\.\.\.\)\)",
        ):
            node.propose(envelope)
        with pytest.raises(bizra.InvalidInputError, match="takes no part in consensus"):
            node.decided(1)
        # The core's rule: its consensus stream has ended already.
        events = node.consensus_events()
        with pytest.raises(StopIteration):
            events.next(timeout=WITHIN)
        assert list(events) == [] and events.closed
    finally:
        node.stop()


def refusal(identity: bizra.Identity, **options: Any) -> Exception:
    """What `bizra.Node` raised for these options (a node that started fails the test)."""
    try:
        bizra.Node(identity, **{**FAST, **options}).stop()
    except Exception as e:  # noqa: BLE001 - the test judges it
        return e
    pytest.fail(f"started with {options}")


def test_bad_consensus_options_are_refused_naming_the_problem(tmp_path: Path) -> None:
    me = bizra.Identity.generate()
    doc = document([me])
    with_python_gate = bizra.GateChain()
    with_python_gate.add_gate("mine", "cheap", lambda envelope: True)
    elsewhere = document([me], federation="elsewhere")
    cases: list[tuple[dict[str, Any], type[Exception], str]] = [
        ({"document": doc}, bizra.InvalidInputError, "consensus needs a data_dir: the write-ahead log"),
        (
            {"document": elsewhere, "federation": FEDERATION, "data_dir": tmp_path},
            bizra.InvalidInputError,
            "the federation document is federation \"elsewhere\"'s, this node's is \"loopback\"",
        ),
        (
            {"document": doc, "federation": "bizra", "data_dir": tmp_path},
            bizra.InvalidInputError,
            "the federation document is federation \"loopback\"'s, this node's is \"bizra\"",
        ),
        ({"document": doc.to_json(), "data_dir": tmp_path}, TypeError, "document must be a bizra.FederationDocument, got str"),
        ({"document": doc, "gates": doc, "data_dir": tmp_path}, TypeError, "gates must be a bizra.GateChain, got FederationDocument"),
        ({"gates": bizra.GateChain(), "data_dir": tmp_path}, bizra.InvalidInputError, "gates judges consensus proposals, so it needs a document"),
        (
            {"document": doc, "gates": with_python_gate, "data_dir": tmp_path},
            bizra.InvalidInputError,
            "gates holds Python gates (mine), which need the GIL",
        ),
    ]
    for options, cls, words in cases:
        e = refusal(me, **options)
        assert type(e) is cls, f"{options}: {type(e).__name__}: {e}"
        assert words in str(e), f"{options}: {e}"
        assert "NodeConfig" not in str(e)
    # Unknown keywords are refused by Python itself.
    assert isinstance(refusal(me, documnet=doc), TypeError)


def test_a_lone_validator_decides_and_its_chain_is_frozen_while_it_runs(tmp_path: Path) -> None:
    me = bizra.Identity.generate()
    doc = document([me])
    chain = bizra.GateChain()
    node = bizra.Node(me, document=doc, gates=chain, data_dir=tmp_path, **FAST)
    try:
        # The chain judges the node's proposals: it cannot change under it, but still judges.
        with pytest.raises(bizra.InvalidInputError, match="judges the consensus proposals of a running node"):
            chain.add_builtin("snr")
        with pytest.raises(bizra.InvalidInputError, match="running node"):
            chain.report_all = True
        with pytest.raises(bizra.InvalidInputError, match="running node"):
            chain.add_gate("late", "cheap", lambda envelope: None)
        assert chain.gate_names == bizra.GateChain().gate_names, "nothing was added"
        envelope = proposal(me, "alone")
        assert chain.check(envelope).passed
        with node.consensus_events() as events:
            assert node.propose(envelope) is True
            d = next_decision(events)
            assert d.height == 1 and d.certificate.signature_count == 1
            d.certificate.verify_batch(d.batch_json, doc)
            assert events.next(timeout=0) is None, "nothing else is queued"
        assert events.closed
        # The node's end ends its streams, after the events it sent before.
        open_stream = node.consensus_events()
        assert node.propose(proposal(me, "two")) is True
        eventually(lambda: (s := node.consensus_status()) is not None and s.decided == 2, "height 2 decided")
    finally:
        node.leave()
    assert [e.height for e in open_stream if isinstance(e, bizra.Decision)] == [2]
    assert open_stream.closed
    chain.report_all = True  # free again once the node has left
    with pytest.raises(bizra.InvalidInputError, match="has left"):
        node.propose(proposal(me, "three"))
    for call in (lambda: node.decided(1), node.consensus_status, node.consensus_events):
        with pytest.raises(bizra.InvalidInputError, match="has left"):
            call()


def test_the_example_decides_and_prints_a_certificate() -> None:
    """examples/python/consensus.py (run by make demo-python): four validators decide its
    proposal, and the certificate it prints verifies."""
    example = REPO / "examples" / "python" / "consensus.py"
    run = subprocess.run(
        [sys.executable, str(example)], capture_output=True, text=True, timeout=120
    )
    assert run.returncode == 0, run.stderr
    lines = run.stdout.splitlines()
    assert sum(line.startswith("decided ") and line.endswith(", verified") for line in lines) == 4
    assert "again      pooled=False (already decided)" in lines
    printed = next(line for line in lines if line.startswith("certificate (v2, height 1) "))
    cert = bizra.Certificate.from_json(printed.split(" ", 4)[4])
    assert cert.height == 1 and cert.federation == "demo"


def test_a_process_exits_with_a_consensus_node_never_closed(tmp_path: Path) -> None:
    """A process whose consensus node was never closed exits: the garbage collector's leave,
    with the GIL held, waits only for the node's thread, which never needs the GIL (a chain with
    Python gates is refused for consensus)."""
    script = textwrap.dedent(
        f"""
        import json, bizra
        me = bizra.Identity.generate()
        doc = bizra.FederationDocument.from_json(json.dumps({{"federation": "solo", "epoch": 1,
            "timeouts_ms": {TIMEOUTS_MS!r}, "validators": [{{"key": me.public_key_hex, "power": 1}}]}}))
        node = bizra.Node(me, bind="127.0.0.1:0", document=doc, data_dir={str(tmp_path)!r})
        events = node.consensus_events()
        node.propose(bizra.Envelope.create(me, {{"type": "bizra.proposal"}},
                                           scores={{"snr": 0.9, "ihsan": 0.97}}))
        print("decided", next(events).height, flush=True)
        """
    )
    run = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=WITHIN
    )
    assert (run.returncode, run.stdout) == (0, "decided 1\n"), run.stderr


def wire() -> dict[str, Any]:
    with open(VECTORS_DIR / "consensus-v1-vectors.json", encoding="utf-8") as f:
        vectors: dict[str, Any] = json.load(f)
    return vectors


WIRE: dict[str, Any] = {m["name"]: m for m in wire()["wire"]["messages"]}


def evidence(a: str, b: str, *, second: Optional[bytes] = None) -> bizra.Evidence:
    """Evidence from two wire vectors, `first` from `a` and `second` from `b`, with `a`'s
    fields."""
    f = WIRE[a]["fields"]
    return bizra.Evidence(
        f.get("validator", f.get("proposer")),
        f["height"],
        f["round"],
        "proposal" if WIRE[a]["kind"] == "proposal" else f["type"],
        bytes.fromhex(WIRE[a]["hex"]),
        second if second is not None else bytes.fromhex(WIRE[b]["hex"]),
    )


def test_evidence_that_proves_nothing_is_refused_with_its_code() -> None:
    assert bizra.EVIDENCE_CODES == {
        1: "MALFORMED",
        2: "DIFFERENT_STEP",
        3: "DIFFERENT_VALIDATOR",
        4: "DIFFERENT_ROUND",
        5: "NOT_CONFLICTING",
        6: "FIELDS_MISMATCH",
        7: "UNKNOWN_VALIDATOR",
        8: "BAD_SIGNATURE",
    }
    # The class of the core's kind EVIDENCE_REFUSED, a verdict as CertificateError is.
    assert bizra.EvidenceError.kind == "EVIDENCE_REFUSED"
    assert bizra.ERROR_KINDS[202] == ("EVIDENCE_REFUSED", bizra.EvidenceError)
    assert issubclass(bizra.EvidenceError, bizra.BizraError)
    assert not issubclass(bizra.EvidenceError, (bizra.InvalidInputError, ValueError))
    vectors = wire()
    doc = bizra.FederationDocument.from_json(vectors["documents"][vectors["wire"]["document"]]["json"])
    garbage = bizra.Evidence("ab" * 32, 1, 0, "prevote", b"\x00garbage", bytearray(b"junk"))
    cases = [
        (garbage, "MALFORMED"),
        (evidence("vote-prevote", "vote-prevote", second=b"junk"), "MALFORMED"),
        (evidence("vote-prevote", "decision"), "MALFORMED"),
        (evidence("vote-prevote", "vote-precommit"), "DIFFERENT_STEP"),
        (evidence("vote-prevote", "proposal"), "DIFFERENT_STEP"),
        (evidence("vote-prevote", "vote-prevote-nil"), "DIFFERENT_VALIDATOR"),
        (evidence("proposal", "proposal-pol"), "DIFFERENT_ROUND"),
        (evidence("vote-prevote", "vote-prevote"), "NOT_CONFLICTING"),
    ]
    codes = {name: code for code, name in bizra.EVIDENCE_CODES.items()}
    for ev, name in cases:
        with pytest.raises(bizra.EvidenceError) as info:
            ev.verify(doc)
        e = info.value
        assert (e.code, e.name) == (codes[name], name), f"{ev}: {e}"
        assert e.kind == "EVIDENCE_REFUSED" and not isinstance(e, ValueError)
        assert str(e).startswith(f"equivocation evidence refused: {name} ("), str(e)
        assert e.detail and e.detail in str(e)
    # The parts read back as given.
    ev = evidence("vote-prevote", "vote-precommit")
    assert ev.validator == WIRE["vote-prevote"]["fields"]["validator"]
    assert (ev.height, ev.round, ev.step) == (7, 0, "prevote")
    assert ev.first == bytes.fromhex(WIRE["vote-prevote"]["hex"])
    assert ev.second == bytes.fromhex(WIRE["vote-precommit"]["hex"])
    assert ev == evidence("vote-prevote", "vote-precommit") and ev != garbage
    assert repr(ev).startswith(f'Evidence(validator="{ev.validator}", height=7, round=0, step="prevote")')
    with pytest.raises(bizra.InvalidInputError, match='step must be "proposal", "prevote" or "precommit", got "vote"'):
        bizra.Evidence("ab" * 32, 1, 0, "vote", b"", b"")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="first must be bytes-like"):
        bizra.Evidence("ab" * 32, 1, 0, "prevote", "aa", b"")  # type: ignore[arg-type]
    with pytest.raises(bizra.InvalidInputError, match=f"height must be between 0 and {2**64 - 1}, got -1"):
        bizra.Evidence("ab" * 32, -1, 0, "prevote", b"", b"")
    with pytest.raises(bizra.InvalidInputError, match=f"round must be between 0 and {2**32 - 1}, got {2**32}"):
        bizra.Evidence("ab" * 32, 1, 2**32, "prevote", b"", b"")
    with pytest.raises(TypeError, match="round must be an int, got bool"):
        bizra.Evidence("ab" * 32, 1, False, "prevote", b"", b"")
    with pytest.raises(TypeError, match="document must be a bizra.FederationDocument"):
        ev.verify("doc")  # type: ignore[arg-type]
