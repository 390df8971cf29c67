#!/usr/bin/env python3
"""Computes consensus-v1-vectors.json (CONSENSUS-v1.md) without any of bizra's code.

Independent implementations only: PyNaCl (libsodium Ed25519), blake3 (the BLAKE3 team's Python
binding) and rfc8785 (Trail of Bits' JCS). The layouts are written from CONSENSUS-v1.md and
PCI-v1.md alone.

    pip install pynacl blake3 rfc8785
    python3 tests/vectors/gen_consensus_vectors.py tests/vectors/consensus-v1-vectors.json
"""
import copy
import json
import sys

import blake3
import nacl.signing
import rfc8785

CONSTITUTION_HASH = "e9a5d660bc552fbd9d9daca81bc683acc8ce33989a87d3fc2db1b6ba0d6b08f9"
FEDERATION = "vectors"
EPOCH = 3
# Five keys: four validators and one outsider. Seeds are 32 bytes: i repeated.
SEEDS = [bytes([i]) * 32 for i in (1, 2, 3, 4, 9)]
KEYS = [nacl.signing.SigningKey(s) for s in SEEDS]
PUBLIC = [k.verify_key.encode().hex() for k in KEYS]
TIMEOUTS = {"delta": 250, "precommit": 500, "prevote": 500, "propose": 1000, "rebroadcast": 1000}


def h(tag, data):
    return blake3.blake3(tag + data).digest()


def sign(key, tag, data):
    """Ed25519 over H(tag, data), the 32-byte digest being the signed message."""
    return key.sign(h(tag, data)).signature.hex()


def document(powers):
    doc = {
        "federation": FEDERATION,
        "epoch": EPOCH,
        "validators": [{"key": PUBLIC[i], "power": p} for i, p in enumerate(powers)],
        "timeouts_ms": TIMEOUTS,
    }
    text = rfc8785.dumps(doc)
    return {"json": text.decode(), "hash": h(b"bizra-document-v1:", text).hex()}


def vote_fields(height, round_, kind, value, validator):
    return {
        "epoch": EPOCH,
        "federation": FEDERATION,
        "height": height,
        "round": round_,
        "type": kind,
        "validator": PUBLIC[validator],
        "value": value,
    }


def vote(name, signer, fields):
    data = rfc8785.dumps(fields)
    return {
        "name": name,
        "fields": fields,
        "signing_bytes": data.decode(),
        "digest": h(b"bizra-vote-v1:", data).hex(),
        "signer": PUBLIC[signer],
        "signature": sign(KEYS[signer], b"bizra-vote-v1:", data),
    }


def envelope(signer, env_id, payload):
    sk = KEYS[signer]
    pk = PUBLIC[signer]
    header = {
        "version": "1.0",
        "id": env_id,
        "sender": pk[:32],
        "public_key": pk,
        "timestamp": "2026-12-05T12:00:00.000Z",
        "ttl": 3600,
        "content_hash": h(b"bizra-pci-v1:", rfc8785.dumps(payload)).hex(),
        "provenance": [],
        "scores": {"ihsan": 0.97, "snr": 0.9},
        "policy": CONSTITUTION_HASH,
    }
    signature = sign(sk, b"bizra-pci-v1:", rfc8785.dumps(header))
    return dict(header, payload=payload, signature=signature)


def batch(name, envelopes):
    envelopes = sorted(envelopes, key=lambda e: e["id"])
    text = rfc8785.dumps(envelopes)
    return {"name": name, "json": text.decode(), "id": h(b"bizra-batch-v1:", text).hex()}


def certificate(height, round_, value, signers):
    sigs = []
    for i in signers:
        fields = vote_fields(height, round_, "precommit", value, i)
        sigs.append({"validator": PUBLIC[i], "signature": sign(KEYS[i], b"bizra-vote-v1:", rfc8785.dumps(fields))})
    sigs.sort(key=lambda s: s["validator"])
    return {
        "epoch": EPOCH,
        "federation": FEDERATION,
        "height": height,
        "round": round_,
        "signatures": sigs,
        "value": value,
    }


def case(name, cert, expect, document="equal", batch=None):
    text = rfc8785.dumps(cert).decode() if isinstance(cert, dict) else cert
    out = {"name": name, "document": document, "json": text, "expect": expect}
    if batch is not None:
        out["batch"] = batch
    return out


def main(path):
    docs = {"equal": document([1, 1, 1, 1]), "weighted": document([1, 1, 1, 3])}
    proposal_a = envelope(0, "pci_c0a5e000000000000000000000000001", {"type": "bizra.proposal", "text": "adopt pattern 17"})
    proposal_b = envelope(1, "pci_c0a5e000000000000000000000000002", {"type": "bizra.proposal", "text": "raise snr to 0.9", "snr": 0.9})
    batches = [
        batch("two", [proposal_b, proposal_a]),
        batch("one", [proposal_a]),
        batch("empty", []),
    ]
    value = batches[0]["id"]
    other = batches[1]["id"]

    votes = [
        vote("prevote", 0, vote_fields(7, 0, "prevote", value, 0)),
        vote("prevote-nil", 1, vote_fields(7, 1, "prevote", None, 1)),
        vote("precommit", 2, vote_fields(7, 0, "precommit", value, 2)),
    ]
    proposals = []
    for name, pol in (("proposal", -1), ("proposal-pol", 2)):
        fields = {
            "epoch": EPOCH,
            "federation": FEDERATION,
            "height": 7,
            "pol_round": pol,
            "round": 3 if pol >= 0 else 0,
            "type": "proposal",
            "validator": PUBLIC[3],
            "value": value,
        }
        proposals.append(vote(name, 3, fields))

    ok = certificate(7, 0, value, [0, 1, 2])
    cases = [
        case("three-of-four", ok, "ok", batch="two"),
        case("four-of-four", certificate(7, 0, value, [0, 1, 2, 3]), "ok"),
        case("round-two", certificate(9, 2, other, [3, 1, 0]), "ok", batch="one"),
        case("empty-batch", certificate(8, 0, batches[2]["id"], [0, 2, 3]), "ok", batch="empty"),
        case("batch-not-certified", ok, "VALUE_MISMATCH", batch="one"),
        case("two-of-four", certificate(7, 0, value, [0, 1]), "INSUFFICIENT_POWER"),
        case("no-signatures", certificate(7, 0, value, []), "INSUFFICIENT_POWER"),
        case("weighted-exactly-two-thirds", certificate(7, 0, value, [0, 3]), "INSUFFICIENT_POWER", document="weighted"),
        case("weighted-quorum", certificate(7, 0, value, [0, 1, 3]), "ok", document="weighted"),
        case("weighted-many-small", certificate(7, 0, value, [0, 1, 2]), "INSUFFICIENT_POWER", document="weighted"),
    ]
    wrong = copy.deepcopy(ok)
    wrong["federation"] = "elsewhere"
    cases.append(case("wrong-federation", wrong, "WRONG_FEDERATION"))
    wrong = copy.deepcopy(ok)
    wrong["epoch"] = EPOCH + 1
    cases.append(case("wrong-epoch", wrong, "WRONG_EPOCH"))
    outsider = certificate(7, 0, value, [0, 1, 4])
    cases.append(case("outsider-signs", outsider, "UNKNOWN_SIGNER"))
    twice = copy.deepcopy(certificate(7, 0, value, [0, 1]))
    twice["signatures"].append(dict(twice["signatures"][0]))
    cases.append(case("signed-twice", twice, "DUPLICATE_SIGNER"))
    flipped = copy.deepcopy(ok)
    s = bytearray.fromhex(flipped["signatures"][1]["signature"])
    s[0] ^= 1
    flipped["signatures"][1]["signature"] = s.hex()
    cases.append(case("signature-flipped", flipped, "BAD_SIGNATURE"))
    swapped = copy.deepcopy(ok)
    swapped["signatures"][0]["signature"], swapped["signatures"][1]["signature"] = (
        swapped["signatures"][1]["signature"],
        swapped["signatures"][0]["signature"],
    )
    cases.append(case("signatures-swapped", swapped, "BAD_SIGNATURE"))
    prevotes = copy.deepcopy(ok)
    for sig in prevotes["signatures"]:
        i = PUBLIC.index(sig["validator"])
        sig["signature"] = sign(KEYS[i], b"bizra-vote-v1:", rfc8785.dumps(vote_fields(7, 0, "prevote", value, i)))
    cases.append(case("prevotes-not-precommits", prevotes, "BAD_SIGNATURE"))
    moved = copy.deepcopy(ok)
    moved["height"] = 8
    cases.append(case("another-height", moved, "BAD_SIGNATURE"))
    moved = copy.deepcopy(ok)
    moved["value"] = other
    cases.append(case("another-value", moved, "BAD_SIGNATURE"))
    for name, mutate in (
        ("missing-value", lambda c: c.pop("value")),
        ("upper-case-value", lambda c: c.update(value=c["value"].upper())),
        ("negative-round", lambda c: c.update(round=-1)),
        ("extra-field", lambda c: c.update(note="x")),
        ("short-signature", lambda c: c["signatures"][0].update(signature="00" * 63)),
    ):
        bad = copy.deepcopy(ok)
        mutate(bad)
        cases.append(case(name, bad, "MALFORMED"))
    cases.append(case("not-json", "{\"federation\":", "MALFORMED"))

    vectors = {
        "spec": "CONSENSUS-v1.md",
        "note": "computed by an implementation independent of the project (gen_consensus_vectors.py)",
        "keys": [{"seed": s.hex(), "public_key": p} for s, p in zip(SEEDS, PUBLIC)],
        "documents": docs,
        "votes": votes,
        "proposals": proposals,
        "batches": batches,
        "verify_batches_at": "2026-12-05T12:00:00.000Z",
        "certificates": cases,
    }
    with open(path, "w", encoding="utf-8") as f:
        json.dump(vectors, f, indent=1, ensure_ascii=False)
        f.write("\n")


if __name__ == "__main__":
    main(sys.argv[1])
