"""Commit certificates verified offline (tests/vectors/CONSENSUS-v1.md), no node running: both
federation documents and their hashes, every certificate vector (computed independently of bizra)
with its verdict, every one-byte mutation of a valid certificate refused with its code, bad
documents and batches, and a verification in a fresh interpreter that never starts a node."""

from __future__ import annotations

import json
import pickle
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any, Optional

import pytest

import bizra
from conftest import REPO, VECTORS_DIR


def load() -> dict[str, Any]:
    with open(VECTORS_DIR / "consensus-v1-vectors.json", encoding="utf-8") as f:
        data: dict[str, Any] = json.load(f)
    return data


CONSENSUS = load()
DOCUMENTS: dict[str, Any] = CONSENSUS["documents"]
BATCHES: dict[str, Any] = {b["name"]: b for b in CONSENSUS["batches"]}
CERTIFICATES: list[dict[str, Any]] = CONSENSUS["certificates"]


def document(name: str) -> bizra.FederationDocument:
    return bizra.FederationDocument.from_json(DOCUMENTS[name]["json"])


def certificate_json(name: str) -> str:
    text: str = next(c["json"] for c in CERTIFICATES if c["name"] == name)
    return text


def verdict(text: str, doc: bizra.FederationDocument, batch: Optional[str]) -> bizra.Certificate:
    """Reads and verifies one case as the vectors state it; raises what the binding raises."""
    cert = bizra.Certificate.from_json(text)
    if batch is None:
        cert.verify(doc)
    else:
        cert.verify_batch(BATCHES[batch]["json"], doc)
    return cert


@pytest.mark.parametrize("name", sorted(DOCUMENTS))
def test_document_vector(name: str) -> None:
    v = DOCUMENTS[name]
    fields = json.loads(v["json"])
    doc = bizra.FederationDocument.from_json(v["json"])
    assert doc.hash == v["hash"]
    assert doc.hash_bytes.hex() == v["hash"]
    assert doc.to_json() == v["json"], "the vectors' JSON is canonical"
    assert (doc.federation, doc.epoch) == (fields["federation"], fields["epoch"])
    assert [(x.key, x.power) for x in doc.validators] == [
        (x["key"], x["power"]) for x in fields["validators"]
    ]
    assert doc.total_power == sum(x["power"] for x in fields["validators"])
    again = bizra.FederationDocument.from_json(json.dumps(fields, indent=2))
    assert again == doc and hash(again) == hash(doc), "the same document, however written"
    assert doc != document("weighted" if name == "equal" else "equal")
    assert doc.validators[0] == bizra.FederationDocument.from_json(v["json"]).validators[0]
    assert repr(doc).startswith(f'FederationDocument(federation="{fields["federation"]}", epoch=')


@pytest.mark.parametrize("case", CERTIFICATES, ids=[c["name"] for c in CERTIFICATES])
def test_certificate_vector(case: dict[str, Any]) -> None:
    doc = document(case["document"])
    batch: Optional[str] = case.get("batch")
    if case["expect"] == "ok":
        cert = verdict(case["json"], doc, batch)
        assert cert.to_json() == case["json"], "canonical form"
        assert (cert.federation, cert.epoch) == (doc.federation, doc.epoch)
        if batch is not None:
            assert cert.value == BATCHES[batch]["id"]
        assert bizra.Certificate.from_json(cert.to_json()) == cert
    else:
        with pytest.raises(bizra.CertificateError) as info:
            verdict(case["json"], doc, batch)
        e = info.value
        assert e.name == case["expect"], e.detail
        assert bizra.CERTIFICATE_CODES[e.code] == e.name
        assert e.kind == "CERTIFICATE_REFUSED"
        assert e.detail and e.detail in str(e)
        assert str(e).startswith(f"certificate refused: {e.name} (")


def test_every_code_is_exercised() -> None:
    assert len(CERTIFICATES) == 25
    assert bizra.CERTIFICATE_CODES == {
        1: "MALFORMED",
        2: "WRONG_FEDERATION",
        3: "WRONG_EPOCH",
        4: "UNKNOWN_SIGNER",
        5: "DUPLICATE_SIGNER",
        6: "BAD_SIGNATURE",
        7: "INSUFFICIENT_POWER",
        8: "VALUE_MISMATCH",
    }
    refused = {c["expect"] for c in CERTIFICATES if c["expect"] != "ok"}
    assert refused == set(bizra.CERTIFICATE_CODES.values())


def test_every_mutation_is_refused() -> None:
    """Every one-byte change of a valid certificate's canonical text is refused, with a code: it
    breaks the form or changes a signed field, a signer or a signature."""
    text = certificate_json("three-of-four")
    doc = document("equal")
    for i, c in enumerate(text):
        mutated = text[:i] + chr(ord(c) ^ 1) + text[i + 1 :]
        with pytest.raises(bizra.CertificateError) as info:
            verdict(mutated, doc, None)
        assert info.value.code in bizra.CERTIFICATE_CODES, i
    verdict(text, doc, None)


def test_accessors_and_batches() -> None:
    doc = document("equal")
    cert = bizra.Certificate.from_json(certificate_json("round-two"))
    assert cert.round == 2 and cert.height > 0 and cert.signature_count >= 3
    cert.verify_batch(BATCHES["one"]["json"], doc)
    with pytest.raises(bizra.CertificateError) as info:
        cert.verify_batch(BATCHES["two"]["json"], doc)
    e = info.value
    assert (e.code, e.name) == (8, "VALUE_MISMATCH")
    assert cert.value in e.detail
    assert repr(cert).startswith('Certificate(federation="vectors", epoch=3, height=9, round=2')
    # The attributes survive pickling (exceptions cross process pools).
    again = pickle.loads(pickle.dumps(e))
    assert type(again) is bizra.CertificateError
    assert (again.code, again.name, again.detail) == (e.code, e.name, e.detail)


def test_what_is_not_a_document_a_certificate_or_a_batch() -> None:
    with pytest.raises(bizra.InvalidInputError, match="not I-JSON"):
        bizra.FederationDocument.from_json("{")
    with pytest.raises(bizra.InvalidInputError, match='unknown field "quorum"'):
        bizra.FederationDocument.from_json(
            '{"epoch":1,"federation":"f","validators":[],"quorum":3}'
        )
    with pytest.raises(bizra.CertificateError, match="JSON object") as info:
        bizra.Certificate.from_json("[]")
    assert (info.value.code, info.value.name) == (1, "MALFORMED")
    assert not isinstance(info.value, ValueError), "a verdict, not an argument error"
    cert = bizra.Certificate.from_json(certificate_json("three-of-four"))
    doc = document("equal")
    # A batch that cannot be read is a wrong argument, not a refused certificate.
    with pytest.raises(bizra.InvalidInputError, match=r"batch\[0\]"):
        cert.verify_batch("[1]", doc)
    with pytest.raises(TypeError):
        cert.verify(cert.to_json())  # type: ignore[arg-type]


def test_verified_in_a_fresh_process_that_never_starts_a_node() -> None:
    """A new interpreter holding only the document verifies a certificate and refuses a forged
    one; it opens no socket (no node, no network) on the way."""
    script = textwrap.dedent(
        """
        import json, os, sys
        import bizra
        v = json.load(open(sys.argv[1], encoding="utf-8"))
        doc = bizra.FederationDocument.from_json(v["documents"]["equal"]["json"])
        cases = {c["name"]: c["json"] for c in v["certificates"]}
        bizra.Certificate.from_json(cases["three-of-four"]).verify(doc)
        print("valid", doc.hash)
        try:
            bizra.Certificate.from_json(cases["signature-flipped"]).verify(doc)
        except bizra.CertificateError as e:
            print("refused", e.code, e.name)
        fds = os.listdir("/proc/self/fd") if os.path.isdir("/proc/self/fd") else []
        links = []
        for fd in fds:
            try:
                links.append(os.readlink(f"/proc/self/fd/{fd}"))
            except OSError:
                pass
        print("sockets", sum(link.startswith("socket:") for link in links))
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", script, str(VECTORS_DIR / "consensus-v1-vectors.json")],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout.splitlines()
    assert out == [
        f"valid {DOCUMENTS['equal']['hash']}",
        "refused 6 BAD_SIGNATURE",
        "sockets 0",
    ]


def test_the_example_verifies_files(tmp_path: Path) -> None:
    """examples/python/certificate.py: exit status 0 for a valid certificate and its batch, 1 for
    a refused one, naming the code."""
    doc = tmp_path / "document.json"
    doc.write_text(DOCUMENTS["equal"]["json"], encoding="utf-8")
    batch = tmp_path / "batch.json"
    batch.write_text(BATCHES["two"]["json"], encoding="utf-8")
    cert = tmp_path / "certificate.json"
    cert.write_text(certificate_json("three-of-four"), encoding="utf-8")
    example = REPO / "examples" / "python" / "certificate.py"

    def run(*paths: Path) -> subprocess.CompletedProcess[str]:
        args = [sys.executable, str(example), *map(str, paths)]
        return subprocess.run(args, capture_output=True, text=True, timeout=120)

    ok = run(doc, cert, batch)
    assert ok.returncode == 0, ok.stderr
    assert "valid         height 7 round 0" in ok.stdout
    cert.write_text(certificate_json("outsider-signs"), encoding="utf-8")
    refused = run(doc, cert)
    assert refused.returncode == 1, refused.stderr
    assert "refused       4 UNKNOWN_SIGNER: " in refused.stdout
