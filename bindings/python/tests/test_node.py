"""bizra.Node: federation members on real loopback UDP, with fast timings so that joins, leaves and
failures are seen in about a second."""

from __future__ import annotations

import asyncio
import errno
import gc
import os
import signal
import socket
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Optional, Union

import pytest

import bizra

# The timings of the core's own loopback tests: a probe every 100 ms, 0.5 s of suspicion.
PROBE = 0.1
SUSPICION = 0.5
# Long enough for a slow, busy machine; a healthy run sees each event in well under a second.
WITHIN = 15.0

_Key = Union[bizra.Identity, bytes, str]
Start = Callable[..., bizra.Node]


@pytest.fixture
def start() -> Iterator[Start]:
    """Starts nodes on 127.0.0.1 with fast timings; every node still running is stopped after
    the test."""
    nodes: list[bizra.Node] = []

    def make(
        seeds: Sequence[str] = (),
        *,
        identity: Optional[bizra.Identity] = None,
        allow: Optional[Sequence[_Key]] = None,
        federation: Optional[str] = None,
        data_dir: Optional[Path] = None,
    ) -> bizra.Node:
        node = bizra.Node(
            identity or bizra.Identity.generate(),
            bind="127.0.0.1:0",
            seeds=seeds,
            allow=allow,
            federation=federation,
            data_dir=data_dir,
            probe_period=PROBE,
            probe_rtt=0.04,
            suspect_to_down_after=SUSPICION,
            gossip_interval=0.03,
            rejoin_interval=0.5,
            announce_interval=2.0,
        )
        nodes.append(node)
        return node

    yield make
    for node in nodes:
        node.stop()


def wait_for(events: bizra.EventStream, kind: str, node: bizra.Node) -> bizra.Event:
    """The first event of `kind` about `node`; fails after WITHIN seconds."""
    deadline = time.monotonic() + WITHIN
    seen: list[str] = []
    while (left := deadline - time.monotonic()) > 0:
        event = events.next(timeout=left)
        if event is None:
            break
        seen.append(f"{event.kind} {event.member.node_id[:8]}")
        if event.kind == kind and event.member.node_id == node.node_id:
            return event
    pytest.fail(f"no {kind!r} event for {node.node_id[:8]} within {WITHIN} s; saw {seen}")


def eventually(check: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + WITHIN
    while not check():
        if time.monotonic() > deadline:
            pytest.fail(f"{what}: not within {WITHIN} s")
        time.sleep(0.02)


def state_of(observer: bizra.Node, node: bizra.Node) -> Optional[str]:
    return next((m.state for m in observer.members() if m.node_id == node.node_id), None)


def converge(events: bizra.EventStream, a: bizra.Node, b: bizra.Node) -> None:
    """Waits until `a` (whose events these are) saw `b` join and `b` lists `a` alive: a node can
    only say goodbye to the members it knows, so a test that leaves waits for this first."""
    wait_for(events, "joined", b)
    eventually(lambda: state_of(b, a) == "alive", f"{b.node_id[:8]} lists {a.node_id[:8]}")


def test_two_nodes_see_each_other_join(start: Start) -> None:
    me, other = bizra.Identity.generate(), bizra.Identity.generate()
    a = start(identity=me)
    a_events = a.events()
    b = start([a.local_addr], identity=other)
    b_events = b.events()
    joined = wait_for(a_events, "joined", b)
    wait_for(b_events, "joined", a)

    assert joined.member.node_id == other.node_id
    assert joined.member.public_key == other.public_key
    assert joined.member.addr == b.local_addr == b.advertised_addr
    assert joined.member.generation == b.generation
    assert joined.member.state == "alive"
    assert joined.at.tzinfo is not None
    assert abs(joined.at - datetime.now(timezone.utc)) < timedelta(seconds=WITHIN)
    assert "joined" in repr(joined)

    eventually(lambda: state_of(a, b) == "alive" and state_of(b, a) == "alive", "both alive")
    [seen_by_b] = b.members()
    assert seen_by_b.node_id == a.node_id == me.node_id
    assert seen_by_b.public_key == me.public_key
    assert seen_by_b.addr == a.local_addr
    assert seen_by_b.generation == a.generation
    assert isinstance(seen_by_b.incarnation, int)
    eventually(lambda: b.members()[0].last_heard is not None, "a heard from")
    heard = b.members()[0].last_heard
    assert heard is not None and heard.tzinfo is not None
    assert abs(heard - datetime.now(timezone.utc)) < timedelta(seconds=WITHIN)
    assert a.node_id in repr(seen_by_b)


def test_leave_is_seen_and_ends_the_node(start: Start) -> None:
    a = start()
    events = a.events()
    b = start([a.local_addr])
    converge(events, a, b)
    b_events = b.events()

    b.leave()
    assert wait_for(events, "left", b).member.state == "left"
    eventually(lambda: state_of(a, b) == "left", "b listed as left")

    assert not b.running
    # b's stream holds what it saw before it left (a's arrival), then ends.
    assert a.node_id in {e.member.node_id for e in b_events}
    with pytest.raises(StopIteration):
        b_events.next(timeout=1)
    assert b_events.closed
    for call in (b.members, b.stats, b.events, b.aevents):
        with pytest.raises(bizra.InvalidInputError, match="has left") as e:
            call()
        assert isinstance(e.value, bizra.BizraError) and isinstance(e.value, ValueError)
        assert e.value.kind == "INVALID_INPUT"
    # Leaving or stopping again is harmless; what the node was stays readable.
    b.leave()
    b.stop()
    b.close()
    assert b.local_addr.startswith("127.0.0.1:") and b.generation > 0
    assert "running=False" in repr(b)


def test_a_stopped_node_is_declared_down(start: Start) -> None:
    a = start()
    events = a.events()
    b = start([a.local_addr])
    wait_for(events, "joined", b)

    stopped = time.monotonic()
    b.stop()
    wait_for(events, "down", b)
    took = time.monotonic() - stopped
    assert state_of(a, b) == "down"
    # A lone peer is probed every period: suspected within a few, down after the suspicion.
    assert took >= SUSPICION
    with pytest.raises(bizra.InvalidInputError, match="was stopped"):
        b.members()


def test_context_manager_and_close_leave(start: Start) -> None:
    a = start()
    events = a.events()
    with start([a.local_addr]) as b:
        assert b.running
        converge(events, a, b)
    assert not b.running
    wait_for(events, "left", b)

    c = start([a.local_addr])
    converge(events, a, c)
    c.close()
    wait_for(events, "left", c)


def test_a_collected_node_leaves(start: Start) -> None:
    a = start()
    events = a.events()
    b = bizra.Node(
        bizra.Identity.generate(),
        bind="127.0.0.1:0",
        seeds=[a.local_addr],
        probe_period=PROBE,
        probe_rtt=0.04,
        suspect_to_down_after=SUSPICION,
        gossip_interval=0.03,
        rejoin_interval=0.5,
    )
    converge(events, a, b)
    node_id = b.node_id
    del b
    gc.collect()
    deadline = time.monotonic() + WITHIN
    while (left := deadline - time.monotonic()) > 0:
        event = events.next(timeout=left)
        if event is not None and event.member.node_id == node_id:
            assert event.kind == "left", f"a collected node says goodbye, not {event.kind!r}"
            return
    pytest.fail("no event for the collected node")


def test_a_stream_ends_when_its_node_stops(start: Start) -> None:
    a = start()
    events = a.events()
    seen: list[bizra.Event] = []
    ended = threading.Event()

    def read() -> None:
        seen.extend(events)
        ended.set()

    reader = threading.Thread(target=read)
    reader.start()
    time.sleep(0.1)
    a.leave()
    assert ended.wait(WITHIN), "the iteration ended with the node"
    reader.join()
    assert seen == []
    assert events.closed
    assert list(events) == []


def test_next_with_a_timeout_and_close(start: Start) -> None:
    a = start()
    events = a.events()
    assert events.next(timeout=0) is None
    began = time.monotonic()
    assert events.next(timeout=timedelta(milliseconds=60)) is None
    assert events.next(0.06) is None
    assert time.monotonic() - began >= 0.12
    with pytest.raises(bizra.InvalidInputError, match="timeout"):
        events.next(timeout=-1)
    with pytest.raises(TypeError, match="timeout"):
        events.next(timeout="1")  # type: ignore[arg-type]

    assert not events.closed
    with events as same:
        assert same is events
    assert events.closed
    with pytest.raises(StopIteration):
        events.next(timeout=0)
    assert list(events) == []
    events.close()  # twice: harmless
    assert a.running, "closing a stream leaves its node running"


def test_async_events_never_block_the_loop(start: Start) -> None:
    a = start()

    async def run() -> tuple[bizra.Event, bizra.Event, int]:
        ticks = 0
        done = asyncio.Event()

        async def ticker() -> None:
            nonlocal ticks
            while not done.is_set():
                ticks += 1
                await asyncio.sleep(0.005)

        task = asyncio.create_task(ticker())
        b = start([a.local_addr])
        joined: Optional[bizra.Event] = None
        async with a.aevents() as stream:
            assert isinstance(stream, bizra.AsyncEventStream)
            async for event in stream:
                if event.kind == "joined" and event.member.node_id == b.node_id:
                    joined = event
                    break
        assert joined is not None
        await asyncio.to_thread(eventually, lambda: state_of(b, a) == "alive", "b lists a")
        # `async for` over the native stream works too.
        events = a.events()
        await asyncio.to_thread(b.leave)
        left: Optional[bizra.Event] = None
        async for event in events:
            if event.kind == "left" and event.member.node_id == b.node_id:
                left = event
                break
        assert left is not None
        done.set()
        await task
        return joined, left, ticks

    joined, left, ticks = asyncio.run(asyncio.wait_for(run(), WITHIN))
    assert joined.member.state == "alive" and left.member.state == "left"
    assert ticks > 0, "the event loop ran while the worker thread waited on the node"


def test_an_async_stream_ends_with_its_node(start: Start) -> None:
    a = start()

    async def run() -> list[bizra.Event]:
        stream = a.aevents()
        threading.Timer(0.1, a.leave).start()
        return [e async for e in stream]

    assert asyncio.run(asyncio.wait_for(run(), WITHIN)) == []


def test_the_allowlist_keeps_others_out(start: Start) -> None:
    keys = [bizra.Identity.generate() for _ in range(2)]
    # The keys as an Identity, as bytes and as hex: all three forms name a node.
    allow: list[_Key] = [keys[0], keys[1].public_key, keys[1].public_key_hex]
    a = start(identity=keys[0], allow=allow)
    events = a.events()
    b = start([a.local_addr], identity=keys[1], allow=allow)
    outsider = start([a.local_addr, b.local_addr])
    wait_for(events, "joined", b)
    eventually(lambda: a.stats().dropped["not_admitted"] > 0, "the outsider's datagrams dropped")
    time.sleep(5 * PROBE)
    for node in (a, b):
        assert outsider.node_id not in {m.node_id for m in node.members()}
    for event in iter(lambda: events.next(timeout=0), None):
        assert event.member.node_id != outsider.node_id


def test_another_federation_is_not_joined(start: Start) -> None:
    a = start(federation="one")
    b = start([a.local_addr], federation="two")
    eventually(lambda: a.stats().dropped["wrong_federation"] > 0, "foreign datagrams dropped")
    assert a.members() == [] and b.members() == []


def test_stats_count_traffic(start: Start) -> None:
    a = start()
    events = a.events()
    b = start([a.local_addr])
    wait_for(events, "joined", b)
    stats = a.stats()
    assert stats.sent > 0 and stats.received > 0
    assert stats.events_dropped == 0
    assert {"bad_signature", "replay", "wrong_federation", "not_admitted", "queue_full"} <= set(
        stats.dropped
    )
    assert all(n == 0 for n in stats.dropped.values()), stats.dropped
    assert "sent=" in repr(stats)


def test_properties(start: Start, tmp_path: Path) -> None:
    me = bizra.Identity.generate()
    a = start(identity=me, data_dir=tmp_path)
    host, port = a.local_addr.rsplit(":", 1)
    assert host == "127.0.0.1" and int(port) > 0
    assert a.advertised_addr == a.local_addr
    assert a.node_id == me.node_id
    assert a.running
    assert me.node_id in repr(a) and "running=True" in repr(a)
    assert bizra.DEFAULT_NODE_PORT == 7946
    # The data directory counts boots: a restart is a new generation.
    first = a.generation
    a.stop()
    again = start(identity=me, data_dir=tmp_path)
    assert again.generation > first


def test_timings_take_seconds_or_timedeltas(start: Start) -> None:
    node = bizra.Node(
        bizra.Identity.generate(),
        bind="127.0.0.1:0",
        probe_period=timedelta(milliseconds=200),
        probe_rtt=0.08,
        suspect_to_down_after=1,
        remove_down_after=timedelta(hours=1),
        max_clock_skew=5.5,
        expected_members=3,
    )
    try:
        assert node.running
    finally:
        node.stop()


@pytest.mark.parametrize(
    ("kwargs", "error", "words"),
    [
        ({"seeds": ["127.0.0.1"]}, bizra.InvalidInputError, 'seed "127.0.0.1"'),
        ({"seeds": "127.0.0.1:7946"}, TypeError, "single str"),
        ({"seeds": [7946]}, TypeError, r"seeds\[0\]"),
        ({"seeds": 7946}, TypeError, "iterable"),
        ({"bind": "127.0.0.1"}, bizra.InvalidInputError, 'bind "127.0.0.1"'),
        ({"advertise": "nowhere"}, bizra.InvalidInputError, "advertise"),
        ({"probe_period": 0}, bizra.InvalidInputError, "probe_period must be between"),
        ({"gossip_interval": -1}, bizra.InvalidInputError, "gossip_interval"),
        ({"rejoin_interval": float("nan")}, bizra.InvalidInputError, "rejoin_interval"),
        ({"suspect_to_down_after": 1e30}, bizra.InvalidInputError, "suspect_to_down_after"),
        ({"probe_period": 0.2, "probe_rtt": 0.2}, bizra.InvalidInputError, "probe_rtt .* shorter"),
        ({"probe_rtt": True}, TypeError, "probe_rtt must be a number"),
        ({"probe_period": "1"}, TypeError, "timedelta"),
        ({"allow": [b"short"]}, bizra.InvalidInputError, r"allow\[0\] must be 32 bytes"),
        ({"allow": ["ab"]}, bizra.InvalidInputError, r"allow\[0\]"),
        ({"allow": bytes(32)}, TypeError, "single key"),
        ({"allow": 5}, TypeError, "allow must be an iterable"),
        ({"expected_members": 0}, bizra.InvalidInputError, "expected_members"),
        ({"expected_members": -1}, bizra.InvalidInputError, "expected_members"),
        ({"probe_periods": 1}, TypeError, "probe_periods"),
    ],
)
def test_bad_arguments_are_refused_clearly(
    kwargs: dict[str, object], error: type[Exception], words: str
) -> None:
    with pytest.raises(error, match=words):
        bizra.Node(bizra.Identity.generate(), **{"bind": "127.0.0.1:0", **kwargs})  # type: ignore[arg-type]


def test_the_identity_must_be_one() -> None:
    with pytest.raises(TypeError, match="Identity"):
        bizra.Node("me")  # type: ignore[arg-type]


def test_a_port_in_use_is_an_os_error() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as taken:
        taken.bind(("127.0.0.1", 0))
        host, port = taken.getsockname()
        with pytest.raises(bizra.FileSystemError) as e:
            bizra.Node(bizra.Identity.generate(), bind=f"{host}:{port}")
    assert isinstance(e.value, bizra.BizraError) and isinstance(e.value, OSError)
    assert e.value.errno == errno.EADDRINUSE
    assert e.value.kind == "IO"
    assert str(port) in str(e.value)


def test_ctrl_c_while_waiting_for_events(start: Start) -> None:
    """A SIGINT while the iteration waits for an event raises KeyboardInterrupt within a
    moment (the wait runs in short slices with the GIL released)."""
    a = start()
    events = a.events()
    inside = threading.Event()
    stray: list[int] = []

    def on_sigint(signum: int, frame: object) -> None:
        # Raised only inside the wait; a signal arriving elsewhere fails the test below instead
        # of interrupting the whole pytest session.
        if inside.is_set():
            raise KeyboardInterrupt
        stray.append(signum)

    sent_at: list[float] = []

    def ctrl_c() -> None:
        time.sleep(0.3)
        sent_at.append(time.monotonic())
        os.kill(os.getpid(), signal.SIGINT)

    previous = signal.signal(signal.SIGINT, on_sigint)
    sender = threading.Thread(target=ctrl_c)
    try:
        inside.set()
        sender.start()
        with pytest.raises(KeyboardInterrupt):
            for _ in events:
                pass
        interrupted = time.monotonic()
        inside.clear()
        sender.join()
    finally:
        inside.clear()
        signal.signal(signal.SIGINT, previous)
    assert stray == []
    assert interrupted - sent_at[0] < 1.0
    assert a.running and not events.closed, "the interrupt ended the wait, not the stream"
