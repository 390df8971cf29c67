"""Shared fixtures: the spec's vectors (computed independently of this project)."""

from __future__ import annotations

import json
import os
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
