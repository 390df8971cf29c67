"""Identities: generation, seeds, message signatures, PEM (plain and encrypted), key files."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

import bizra


def test_generate_gives_distinct_identities() -> None:
    a, b = bizra.Identity.generate(), bizra.Identity.generate()
    assert a.node_id != b.node_id
    assert len(a.node_id) == 32 and len(a.public_key) == 32
    assert a.node_id == a.public_key[:16].hex()
    assert a != b and a == bizra.Identity.from_pem(a.to_pem())


def test_seed_must_be_32_bytes() -> None:
    with pytest.raises(ValueError, match="32 bytes, got 31"):
        bizra.Identity.from_seed(b"\x00" * 31)
    with pytest.raises(bizra.InvalidInputError):
        bizra.Identity.from_seed(b"")
    with pytest.raises(TypeError):
        bizra.Identity.from_seed("00" * 32)  # type: ignore[arg-type]
    assert bizra.Identity.from_seed(bytearray(32)).node_id == bizra.Identity.from_seed(bytes(32)).node_id


def test_sign_and_verify(identity: bizra.Identity) -> None:
    sig = identity.sign(b"hello")
    assert len(sig) == 64
    assert bizra.verify_message(identity.public_key, b"hello", sig)
    assert bizra.verify_message(memoryview(identity.public_key), bytearray(b"hello"), sig)
    assert not bizra.verify_message(identity.public_key, b"hellp", sig)
    flipped = bytes([sig[0] ^ 1]) + sig[1:]
    assert not bizra.verify_message(identity.public_key, b"hello", flipped)
    assert not bizra.verify_message(identity.public_key[:31], b"hello", sig)
    assert not bizra.verify_message(identity.public_key, b"hello", sig[:63])
    assert not bizra.verify_message(bytes(32), b"hello", sig)  # small-order key
    with pytest.raises(TypeError, match="bytes"):
        identity.sign("hello")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        bizra.verify_message(None, b"", b"")  # type: ignore[arg-type]


def test_repr_shows_no_secret(identity: bizra.Identity) -> None:
    text = repr(identity)
    assert identity.node_id in text
    assert bytes(range(32)).hex() not in text
    assert "PRIVATE" not in text


def test_pem_round_trip_plain_and_encrypted(identity: bizra.Identity) -> None:
    pem = identity.to_pem()
    assert pem.startswith("-----BEGIN PRIVATE KEY-----")
    assert bizra.Identity.from_pem(pem) == identity
    enc = identity.to_pem("correct horse")
    assert enc.startswith("-----BEGIN ENCRYPTED PRIVATE KEY-----")
    assert bizra.Identity.from_pem(enc, "correct horse") == identity
    with pytest.raises(bizra.BizraError, match="wrong passphrase") as wrong:
        bizra.Identity.from_pem(enc, "wrong")
    # A typed error of kind KEY (it was a bare BizraError with no kind).
    assert type(wrong.value) is bizra.InvalidKeyError and wrong.value.kind == "KEY"
    with pytest.raises(bizra.BizraError, match="passphrase is required"):
        bizra.Identity.from_pem(enc)
    with pytest.raises(bizra.BizraError, match="not encrypted"):
        bizra.Identity.from_pem(pem, "x")
    with pytest.raises(ValueError, match="empty"):
        identity.to_pem("")
    with pytest.raises(bizra.BizraError):
        bizra.Identity.from_pem(pem[: len(pem) // 2])
    with pytest.raises(bizra.BizraError):
        bizra.Identity.from_pem("not a key")


def test_save_and_load(tmp_path: Path, identity: bizra.Identity) -> None:
    path = tmp_path / "keys" / "node.pem"
    identity.save(path)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert bizra.Identity.load(path) == identity
    assert bizra.Identity.load(str(path)) == identity
    # An existing key file is refused (it used to be replaced silently), unless overwrite=True.
    with pytest.raises(FileExistsError) as exists:
        identity.save(path, passphrase="pw")
    assert isinstance(exists.value, bizra.BizraError)
    assert isinstance(exists.value, bizra.AlreadyExistsError)
    assert exists.value.kind == "IO" and exists.value.filename == str(path)
    assert "overwrite=True" in str(exists.value)
    assert bizra.Identity.load(path) == identity, "the refused save left the file alone"
    identity.save(path, passphrase="pw", overwrite=True)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert bizra.Identity.load(path, passphrase="pw") == identity
    with pytest.raises(bizra.BizraError):
        bizra.Identity.load(path)
    with pytest.raises(FileNotFoundError):
        bizra.Identity.load(tmp_path / "missing.pem")
    seed_file = tmp_path / "seed.hex"
    seed_file.write_text(bytes(range(32)).hex() + "\n")
    assert bizra.Identity.load(seed_file) == identity


def test_identity_is_hashable(identity: bizra.Identity) -> None:
    again = bizra.Identity.from_seed(bytes(range(32)))
    assert {identity, again} == {identity}
