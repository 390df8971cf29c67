"""Errors: one class per kind of the core's error table, each a BizraError with .kind and .detail;
OS errors that are also the standard OSError subclasses; real errors of every reachable kind."""

from __future__ import annotations

import errno
import json
import math
import os
import pickle
from datetime import datetime
from pathlib import Path
from typing import Callable

import pytest

import bizra
from conftest import VECTORS_DIR, panic_for_tests

# The binding's mapping of the core's kinds (`bizra::ErrorKind::ALL`): number → (name, class).
# A kind the core adds, renumbers or renames fails this test until the binding maps it.
EXPECTED_KINDS: dict[int, tuple[str, type[bizra.BizraError]]] = {
    100: ("INVALID_INPUT", bizra.InvalidInputError),
    200: ("REJECTED", bizra.RejectError),
    201: ("CERTIFICATE_REFUSED", bizra.CertificateError),
    202: ("EVIDENCE_REFUSED", bizra.EvidenceError),
    300: ("KEY", bizra.InvalidKeyError),
    301: ("CONSTITUTION", bizra.ConstitutionError),
    400: ("IO", bizra.FileSystemError),
    500: ("MODEL", bizra.ModelError),
    501: ("MODEL_NOT_FOUND", bizra.ModelNotFoundError),
    502: ("PROMPT_TOO_LONG", bizra.PromptTooLongError),
    503: ("NO_REMOTE_POOL", bizra.NoRemotePoolError),
    504: ("INFERENCE", bizra.InferenceError),
    505: ("REMOTE_UNAVAILABLE", bizra.RemoteUnavailableError),
    506: ("REMOTE_REFUSED", bizra.RemoteRefusedError),
    507: ("BUSY", bizra.BusyError),
    900: ("INTERNAL", bizra.InternalError),
    901: ("PANIC", bizra.PanicError),
}


def test_every_kind_has_its_own_class() -> None:
    assert bizra.ERROR_KINDS == EXPECTED_KINDS
    assert list(bizra.ERROR_KINDS) == sorted(bizra.ERROR_KINDS), "in number order"
    classes = [cls for _, cls in bizra.ERROR_KINDS.values()]
    assert len(set(classes)) == len(classes), "one class per kind"
    for number, (name, cls) in bizra.ERROR_KINDS.items():
        assert cls.kind == name, number
        assert issubclass(cls, bizra.BizraError) and cls is not bizra.BizraError
        assert cls.__module__ == "bizra" and getattr(bizra, cls.__name__) is cls
        assert cls.__doc__, f"{cls.__name__} has no docstring"
        # Families by number: 1xx arguments, 2xx verdicts, 3xx keys and policy, 4xx the
        # operating system, 5xx inference, 9xx the library itself.
        assert 100 <= number < 1000
        err: bizra.BizraError = cls("x")
        assert err.kind == name


def test_standard_bases() -> None:
    assert issubclass(bizra.InvalidInputError, ValueError)
    assert issubclass(bizra.FileSystemError, OSError)
    assert issubclass(bizra.ModelNotFoundError, bizra.ModelError)
    for cls, std in [
        (bizra.NotFoundError, FileNotFoundError),
        (bizra.PermissionDeniedError, PermissionError),
        (bizra.AlreadyExistsError, FileExistsError),
    ]:
        assert issubclass(cls, std) and issubclass(cls, bizra.FileSystemError)
        assert issubclass(cls, bizra.BizraError)
        assert cls.kind == "IO"
    # Neither a panic nor a refusal is an argument error.
    assert not issubclass(bizra.PanicError, ValueError)
    assert not issubclass(bizra.RejectError, ValueError)
    assert not issubclass(bizra.CertificateError, ValueError)
    assert not issubclass(bizra.EvidenceError, ValueError)
    assert not issubclass(bizra.EvidenceError, bizra.InvalidInputError)


def test_invalid_input(identity: bizra.Identity) -> None:
    with pytest.raises(bizra.InvalidInputError) as info:
        bizra.Envelope.create(identity, 1, ttl=0)
    e = info.value
    assert isinstance(e, ValueError) and isinstance(e, bizra.BizraError)
    assert e.kind == "INVALID_INPUT"
    # In Python's words (the core once said `1..=3600`).
    assert f"between 1 and {bizra.MAX_TTL_SECONDS} seconds, got 0" in e.detail
    beyond = f"between 1 and {bizra.MAX_TTL_SECONDS} seconds, got {2**70}"
    with pytest.raises(bizra.InvalidInputError, match=beyond):
        bizra.Envelope.create(identity, 1, ttl=2**70)
    with pytest.raises(bizra.InvalidInputError, match="capacity of at least 1"):
        bizra.ReplayCache(0)
    # Values the binding refuses itself are InvalidInputErrors too (a wrong type stays a
    # TypeError, as in Python itself).
    with pytest.raises(bizra.InvalidInputError, match=r'payload\["x"\]: float NaN'):
        bizra.Envelope.create(identity, {"x": math.nan})
    with pytest.raises(bizra.InvalidInputError, match="naive"):
        bizra.Envelope.create(identity, 1, timestamp=datetime(2026, 1, 30))
    with pytest.raises(TypeError) as wrong_type:
        bizra.Envelope.create(identity, {1, 2})  # type: ignore[arg-type]
    assert not isinstance(wrong_type.value, bizra.BizraError)


def test_rejected(identity: bizra.Identity) -> None:
    env = bizra.Envelope.create(identity, {"a": 1})
    forged = env.to_json().replace('"a":1', '"a":2')
    with pytest.raises(bizra.RejectError) as info:
        bizra.Envelope.open(forged)
    e = info.value
    assert (e.kind, e.code, e.name, e.retryable) == ("REJECTED", 15, "HASH_MISMATCH", False)
    assert e.detail and e.detail in str(e)
    # The attributes survive pickling (exceptions cross process pools).
    again = pickle.loads(pickle.dumps(e))
    assert type(again) is bizra.RejectError
    assert (again.code, again.name, again.detail) == (e.code, e.name, e.detail)


def test_key(identity: bizra.Identity) -> None:
    enc = identity.to_pem("right")
    for passphrase in ["wrong", None]:
        with pytest.raises(bizra.InvalidKeyError) as info:
            bizra.Identity.from_pem(enc, passphrase)
        assert info.value.kind == "KEY" and isinstance(info.value, bizra.BizraError)
        assert "passphrase" in info.value.detail
    with pytest.raises(bizra.InvalidKeyError):
        bizra.Identity.from_pem("not a key")


def test_constitution(tmp_path: Path) -> None:
    with open(VECTORS_DIR / "constitution-v1.json", encoding="utf-8") as f:
        doc = json.load(f)
    doc["ihsan"]["minimum"] = 1.5
    with pytest.raises(bizra.ConstitutionError, match="ihsan.minimum") as info:
        bizra.Constitution.from_json(json.dumps(doc))
    assert info.value.kind == "CONSTITUTION"


def test_missing_file_is_a_bizra_error_and_a_file_not_found_error(tmp_path: Path) -> None:
    missing = tmp_path / "missing.pem"
    loads: list[Callable[[], object]] = [
        lambda: bizra.Identity.load(missing),
        lambda: bizra.Constitution.load(missing),
    ]
    for load in loads:
        with pytest.raises(FileNotFoundError) as info:
            load()
        e = info.value
        assert isinstance(e, bizra.BizraError) and isinstance(e, bizra.NotFoundError)
        assert type(e).__name__ == "NotFoundError"
        assert (e.kind, e.errno, e.filename) == ("IO", errno.ENOENT, str(missing))
        assert e.strerror == os.strerror(errno.ENOENT)
        assert str(missing) in e.detail


def test_existing_file_is_a_file_exists_error(tmp_path: Path, identity: bizra.Identity) -> None:
    path = tmp_path / "node.pem"
    identity.save(path)
    with pytest.raises(bizra.AlreadyExistsError) as info:
        identity.save(path)
    e = info.value
    assert isinstance(e, FileExistsError) and isinstance(e, bizra.BizraError)
    assert (e.errno, e.filename) == (errno.EEXIST, str(path))
    assert "overwrite=True" in str(e) and "save_overwriting" not in str(e)


def test_refused_access_is_a_permission_error(tmp_path: Path, identity: bizra.Identity) -> None:
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    target = locked / "node.pem"
    try:
        identity.save(target)
    except PermissionError as e:
        error: OSError = e
    else:
        # Root ignores directory modes; sysfs refuses new files even to root.
        if not Path("/sys/kernel").is_dir():
            pytest.skip("running as root without /sys: no refused path to try")
        target = Path("/sys/kernel/bizra-test.pem")
        with pytest.raises(PermissionError) as info:
            identity.save(target)
        error = info.value
    assert isinstance(error, bizra.PermissionDeniedError)
    # The file refused is the key's temporary twin in the same directory (written first, then
    # linked into place).
    assert error.errno == errno.EACCES and Path(error.filename).parent == target.parent


def test_other_os_errors_are_file_system_errors(tmp_path: Path) -> None:
    with pytest.raises(bizra.FileSystemError) as info:
        bizra.Identity.load(tmp_path)  # a directory
    e = info.value
    assert type(e) is bizra.FileSystemError and isinstance(e, OSError)
    assert e.errno == errno.EISDIR and e.filename == str(tmp_path)


def test_model_kinds(tmp_path: Path) -> None:
    with pytest.raises(bizra.ModelError) as info:
        bizra.Model.load(tmp_path / "absent.gguf")
    assert type(info.value) is bizra.ModelError and info.value.kind == "MODEL"


def test_panic() -> None:
    with pytest.raises(bizra.PanicError) as info:
        panic_for_tests()("the boundary holds")
    assert info.value.kind == "PANIC" and "the boundary holds" in info.value.detail
