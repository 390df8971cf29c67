"""Shared fixtures: the spec's vectors (computed independently of this project)."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Callable, cast

import pytest

import bizra

REPO = Path(__file__).resolve().parents[3]
VECTORS_DIR = Path(os.environ.get("BIZRA_VECTORS", REPO / "tests" / "vectors"))


def load_vectors() -> dict[str, Any]:
    with open(VECTORS_DIR / "pci-v1-vectors.json", encoding="utf-8") as f:
        data: dict[str, Any] = json.load(f)
    return data


VECTORS = load_vectors()
README = Path(os.environ.get("BIZRA_README", REPO / "README.md"))


def panic_for_tests() -> Callable[[str], None]:
    """`_panic_for_tests`, a hook only in a build with the `test-hooks` feature (which
    `make test-python` installs; a user's wheel has none)."""
    hook = getattr(bizra._native, "_panic_for_tests", None)
    if hook is None:
        pytest.fail("bizra was built without the test-hooks feature: run `make test-python`")
    return cast(Callable[[str], None], hook)


@pytest.fixture
def identity() -> bizra.Identity:
    return bizra.Identity.from_seed(bytes(range(32)))


@pytest.fixture
def scored(identity: bizra.Identity) -> bizra.Envelope:
    """An envelope that every default gate admits."""
    return bizra.Envelope.create(
        identity, {"answer": 4}, scores={"snr": 0.93, "ihsan": 0.97}
    )


# The API key the reference pool server demands (`--api-key`): any other is refused with 401.
POOL_API_KEY = "sk-bizra-test-not-shown"


@pytest.fixture(scope="session")
def pool_server() -> Iterator[str]:
    """The reference OpenAI-compatible server (scripts/pool_server.py, llama-cpp-python's server)
    serving the test model on a free loopback port: its base URL. Started once per session; its
    end is the closing of its stdin."""
    python = os.environ.get("BIZRA_POOL_PYTHON")
    server = os.environ.get("BIZRA_POOL_SERVER")
    model = os.environ.get("BIZRA_TEST_MODEL")
    if not python or not server or not model:
        pytest.fail(
            "BIZRA_POOL_PYTHON, BIZRA_POOL_SERVER and BIZRA_TEST_MODEL must be set: "
            "run `make pool-server` (`make test-python` exports them)"
        )
    proc = subprocess.Popen(
        [python, server, "--model", model, "--api-key", POOL_API_KEY],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().strip()
        if not line.startswith("http://"):
            pytest.fail(f"the pool server did not start (exit {proc.wait(30)}); see stderr")
        yield line
    finally:
        if proc.stdin is not None:
            proc.stdin.close()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.terminate()
            proc.wait(timeout=10)
