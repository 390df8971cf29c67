"""Shared fixtures: the spec's vectors (computed independently of this project)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

import bizra

REPO = Path(__file__).resolve().parents[3]
VECTORS_DIR = Path(os.environ.get("BIZRA_VECTORS", REPO / "tests" / "vectors"))


def load_vectors() -> dict[str, Any]:
    with open(VECTORS_DIR / "pci-v1-vectors.json", encoding="utf-8") as f:
        data: dict[str, Any] = json.load(f)
    return data


VECTORS = load_vectors()


@pytest.fixture
def identity() -> bizra.Identity:
    return bizra.Identity.from_seed(bytes(range(32)))


@pytest.fixture
def scored(identity: bizra.Identity) -> bizra.Envelope:
    """An envelope that every default gate admits."""
    return bizra.Envelope.create(
        identity, {"answer": 4}, scores={"snr": 0.93, "ihsan": 0.97}
    )
