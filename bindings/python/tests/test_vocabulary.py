"""The README's "One vocabulary across languages" table: every name in its Python column exists.

The README is found at $BIZRA_README (set by `make test-python`) or at the repository's root,
relative to this file; the table cannot drift from the binding without failing here.
"""

from __future__ import annotations

import json
import re

import pytest

import bizra
from conftest import README, VECTORS_DIR

HEADING = "## One vocabulary across languages"


def table_rows() -> list[list[str]]:
    """The cells of the table that follows the heading, header row first."""
    text = README.read_text(encoding="utf-8")
    assert HEADING in text, f"{README} has no section {HEADING!r}"
    section = text.split(HEADING, 1)[1]
    rows: list[list[str]] = []
    for line in section.splitlines():
        if line.startswith("## "):
            break
        if line.startswith("|"):
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            if not all(re.fullmatch(r":?-+:?", c) for c in cells):
                rows.append(cells)
    assert rows, "the section holds no table"
    return rows


def python_names() -> list[str]:
    header, *body = table_rows()
    assert "Python" in header, header
    column = header.index("Python")
    names = [n for row in body for n in re.findall(r"`([^`]+)`", row[column])]
    assert len(names) >= len(body), "every row names its Python spelling"
    return names


def real_errors() -> dict[type[BaseException], BaseException]:
    """Instances of the error classes, raised by real failures: their data attributes (.code,
    .detail, ...) are set on the instance, not on the class."""
    me = bizra.Identity.from_seed(bytes(32))
    errors: dict[type[BaseException], BaseException] = {}
    try:
        bizra.Envelope.open(bizra.Envelope.create(me, 1).to_json().replace('"payload":1', '"payload":2'))
    except bizra.RejectError as e:
        errors[bizra.RejectError] = e
        errors[bizra.BizraError] = e
    try:
        bizra.Certificate.from_json("[]")
    except bizra.CertificateError as e:
        errors[bizra.CertificateError] = e
    with open(VECTORS_DIR / "consensus-v1-vectors.json", encoding="utf-8") as f:
        vectors = json.load(f)
    doc = bizra.FederationDocument.from_json(vectors["documents"][vectors["wire"]["document"]]["json"])
    try:
        bizra.Evidence("ab" * 32, 1, 0, "prevote", b"junk", b"junk").verify(doc)
    except bizra.EvidenceError as e:
        errors[bizra.EvidenceError] = e
    return errors


NAMES = python_names()


@pytest.mark.parametrize("name", NAMES)
def test_the_python_column_names_exist(name: str) -> None:
    assert re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?", name), (
        f"{name!r}: the Python column holds `Class` or `Class.member`"
    )
    cls_name, _, member = name.partition(".")
    cls = getattr(bizra, cls_name, None)
    assert cls is not None, f"bizra.{cls_name} does not exist"
    if not member or hasattr(cls, member):
        return
    instance = real_errors().get(cls)
    assert instance is not None, f"bizra.{cls_name} has no member {member!r}"
    assert hasattr(instance, member), f"a raised bizra.{cls_name} has no {member!r}"


def test_the_table_covers_the_issue_names() -> None:
    for name in [
        "BizraError.kind",
        "BizraError.detail",
        "RejectError.code",
        "RejectError.name",
        "RejectError.retryable",
        "Envelope.open",
        "Identity.save",
        "GateChain.check",
        "GateChain.admit",
        "GateChain.add_gate",
        "GateReport.passed",
        "GateReport.first_failure",
        "GateReport.raise_for_status",
        "ReplayCache",
    ]:
        assert name in NAMES, name
