"""bizra federation: four members on loopback UDP join through a seed, one leaves, one crashes.

Every datagram is signed by its sender's node key; the membership is SWIM (probes, suspicion,
gossip). The timings are a LAN's divided by ten so that the demo takes seconds: a probe every
0.1 s, 0.5 s to refute a suspicion. Run it with `make demo-python` (or
`python examples/python/federation.py` once `pip install ./bindings/python` is done).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence

import bizra


def start(name: str, seeds: Sequence[str] = ()) -> bizra.Node:
    node = bizra.Node(
        bizra.Identity.generate(),
        bind="127.0.0.1:0",  # port 0: any free port
        seeds=seeds,
        federation="demo",
        probe_period=0.1,
        probe_rtt=0.04,  # below the probe period
        suspect_to_down_after=0.5,
        gossip_interval=0.03,
        rejoin_interval=0.5,
    )
    print(f"started  {name} {node.node_id[:8]} on {node.local_addr}")
    return node


def show(names: dict[str, str], node: bizra.Node, label: str) -> None:
    members = sorted(f"{names.get(m.node_id, '?')}={m.state}" for m in node.members())
    print(f"{label:<8} {' '.join(members)}")


def converged(nodes: Sequence[bizra.Node]) -> bool:
    """Whether every node lists every other one as alive."""
    return all(
        sum(m.state == "alive" for m in n.members()) == len(nodes) - 1 for n in nodes
    )


async def watch(seed: bizra.Node, names: dict[str, str], until: int) -> None:
    """Prints the seed's events (from a worker thread: the loop never blocks) until `until`
    members have gone, by leaving or by being declared down."""
    gone = 0
    async for event in seed.aevents():
        name = names.get(event.member.node_id, "?")
        at = event.at.strftime("%H:%M:%S.%f")[:-3]  # to the millisecond
        print(f"event    {event.kind:<11} {name} at {at}")
        gone += event.kind in ("left", "down")
        if gone == until:
            return


def main() -> None:
    seed = start("seed")
    others = {name: start(name, [seed.local_addr]) for name in ("ada", "bob", "cy")}
    nodes = [seed, *others.values()]
    names = {n.node_id: name for name, n in [("seed", seed), *others.items()]}

    # Each member knows only the seed's address; the membership spreads by gossip.
    began = time.monotonic()
    while not converged(nodes):
        time.sleep(0.02)
    print(f"converged in {time.monotonic() - began:.2f} s")
    show(names, seed, "seed")

    async def leave_and_crash() -> None:
        watcher = asyncio.create_task(watch(seed, names, until=2))
        await asyncio.sleep(0.2)  # the watcher first hears of everyone alive
        print("ada      leaves (says goodbye)")
        await asyncio.to_thread(others["ada"].leave)
        await asyncio.sleep(0.5)
        print("bob      stops (silent, as after a crash)")
        await asyncio.to_thread(others["bob"].stop)
        await asyncio.wait_for(watcher, timeout=30)

    asyncio.run(leave_and_crash())
    show(names, seed, "seed")
    show(names, others["cy"], "cy")
    stats = seed.stats()
    print(f"seed     sent {stats.sent}, received {stats.received}, dropped {sum(stats.dropped.values())}")
    for node in nodes:
        node.close()  # leave (harmless for the two already gone)


if __name__ == "__main__":
    main()
