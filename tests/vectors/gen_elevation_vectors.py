#!/usr/bin/env python3
"""Computes elevation-v1-vectors.json (ELEVATION-v1.md) without any of bizra's code.

Independent implementations only: PyNaCl (libsodium Ed25519), blake3 (the BLAKE3 team's Python
binding) and rfc8785 (Trail of Bits' JCS). The layouts are written from ELEVATION-v1.md and
PCI-v1.md alone.

    pip install pynacl blake3 rfc8785
    python3 tests/vectors/gen_elevation_vectors.py tests/vectors/elevation-v1-vectors.json
"""
import copy
import json
import sys

import blake3
import nacl.signing
import rfc8785

CONSTITUTION_HASH = "e9a5d660bc552fbd9d9daca81bc683acc8ce33989a87d3fc2db1b6ba0d6b08f9"
# Two keys: the node that produced the output (seed 0x11 repeated) and the proposer (0x22).
ORIGIN_KEY = nacl.signing.SigningKey(bytes([0x11]) * 32)
PROPOSER_KEY = nacl.signing.SigningKey(bytes([0x22]) * 32)
# Exactly representable in f32, so that every implementation reads the same vector.
EMBEDDING = [0.5, -0.25, 0.125, 0.75]


def h(tag, data):
    return blake3.blake3(tag + data).digest()


def envelope(key, env_id, payload, timestamp, ttl, scores):
    """A PCI-v1 envelope: the header signed over H("bizra-pci-v1:", JCS(header))."""
    pk = key.verify_key.encode().hex()
    header = {
        "version": "1.0",
        "id": env_id,
        "sender": pk[:32],
        "public_key": pk,
        "timestamp": timestamp,
        "ttl": ttl,
        "content_hash": h(b"bizra-pci-v1:", rfc8785.dumps(payload)).hex(),
        "provenance": [],
        "scores": scores,
        "policy": CONSTITUTION_HASH,
    }
    digest = h(b"bizra-pci-v1:", rfc8785.dumps(header))
    return dict(header, payload=payload, signature=key.sign(digest).signature.hex())


def origin_inference(output="The capital of France is Paris."):
    return envelope(
        ORIGIN_KEY,
        "pci_" + "a1" * 16,
        {"type": "bizra.inference", "output": output, "model": "SmolLM2-135M-Instruct"},
        "2026-12-01T09:00:00.000Z",
        3600,
        {"snr": 0.91, "ihsan": 0.96},
    )


def origin_pattern():
    return envelope(
        ORIGIN_KEY,
        "pci_" + "a2" * 16,
        {"type": "bizra.pattern", "content": "Answer in one sentence.", "tags": ["style"]},
        "2026-12-01T09:30:00.000Z",
        3600,
        {"snr": 0.88},
    )


def pattern(origin, **changes):
    content = origin["payload"].get("output", origin["payload"].get("content"))
    p = {
        "type": "bizra.pattern",
        "content": content,
        "tags": ["geography", "facts"],
        "embedding": EMBEDDING,
        "confidence": 0.96,
        "observations": 3,
        "positive": 2,
        "negative": 0,
        "source_node": origin["sender"],
        "introduced_by": origin["id"],
    }
    p.update(changes)
    return {k: v for k, v in p.items() if v is not None}


def proposal(origin, pat, env_id, with_origin=True):
    payload = {
        "type": "bizra.proposal",
        "action": "bizra.pattern.elevate",
        "pattern": pat,
        "origin": origin if with_origin else None,
    }
    payload = {k: v for k, v in payload.items() if v is not None}
    confidence = (pat or {}).get("confidence", 0.5)
    scores = {"snr": origin["scores"]["snr"], "ihsan": confidence}
    return envelope(PROPOSER_KEY, env_id, payload, "2026-12-02T10:00:00.000Z", 600, scores)


def accepted(name, prop, origin):
    pat = prop["payload"]["pattern"]
    return {
        "name": name,
        "proposal": rfc8785.dumps(prop).decode(),
        "expect": {
            "accepted": True,
            "content": pat["content"],
            "tags": pat.get("tags", []),
            "embedding": pat["embedding"],
            "origin_id": origin["id"],
            "proposer": prop["sender"],
        },
    }


def refused(name, prop, reason, reject=None):
    expect = {"accepted": False, "reason": reason}
    if reject is not None:
        expect["reject"] = reject
    text = prop if isinstance(prop, str) else rfc8785.dumps(prop).decode()
    return {"name": name, "proposal": text, "expect": expect}


def main(path):
    inf = origin_inference()
    pat_origin = origin_pattern()
    n = iter(range(1, 100))

    def pid():
        return "pci_" + format(next(n), "02x") * 16

    cases = [
        accepted("from-an-inference-output", proposal(inf, pattern(inf), pid()), inf),
        accepted(
            "from-a-pattern-envelope",
            proposal(pat_origin, pattern(pat_origin, tags=["style"]), pid()),
            pat_origin,
        ),
        accepted(
            "minimal-pattern",
            proposal(
                inf,
                pattern(
                    inf,
                    tags=None,
                    confidence=None,
                    observations=None,
                    positive=None,
                    negative=None,
                    source_node=None,
                    introduced_by=None,
                ),
                pid(),
            ),
            inf,
        ),
    ]
    # The stated content is not the origin's.
    cases.append(
        refused(
            "content-not-the-origins",
            proposal(inf, pattern(inf, content="The capital of France is Lyon."), pid()),
            "content",
        )
    )
    # The origin was altered after it was signed: its content hash no longer matches.
    forged = copy.deepcopy(inf)
    forged["payload"]["output"] = "The capital of France is Lyon."
    cases.append(
        refused(
            "origin-altered",
            proposal(forged, pattern(forged), pid()),
            "origin",
            {"code": 15, "name": "HASH_MISMATCH"},
        )
    )
    # The origin's signature is not its sender's.
    resigned = copy.deepcopy(inf)
    resigned["signature"] = "00" * 64
    cases.append(
        refused(
            "origin-signature-invalid",
            proposal(resigned, pattern(resigned), pid()),
            "origin",
            {"code": 10, "name": "SIGNATURE"},
        )
    )
    # The proposal itself altered after signing.
    p = proposal(inf, pattern(inf), pid())
    p["payload"]["pattern"]["confidence"] = 1.0
    cases.append(
        refused("proposal-altered", p, "proposal", {"code": 15, "name": "HASH_MISMATCH"})
    )
    cases.append(
        refused("no-embedding", proposal(inf, pattern(inf, embedding=None), pid()), "embedding")
    )
    cases.append(
        refused(
            "embedding-all-zero",
            proposal(inf, pattern(inf, embedding=[0, 0, 0, 0]), pid()),
            "embedding",
        )
    )
    cases.append(
        refused(
            "unknown-pattern-member",
            proposal(inf, dict(pattern(inf), score=1), pid()),
            "pattern",
        )
    )
    cases.append(refused("no-pattern", proposal(inf, None, pid()), "pattern"))
    cases.append(refused("no-origin", proposal(inf, pattern(inf), pid(), with_origin=False), "origin"))
    unlearnable = envelope(
        ORIGIN_KEY,
        "pci_" + "a3" * 16,
        {"type": "bizra.note", "text": "The capital of France is Paris."},
        "2026-12-01T09:00:00.000Z",
        3600,
        {"snr": 0.9},
    )
    cases.append(
        refused(
            "origin-not-learnable",
            proposal(unlearnable, pattern(inf), pid()),
            "origin",
        )
    )
    cases.append(
        refused(
            "empty-tag",
            proposal(inf, pattern(inf, tags=["ok", ""]), pid()),
            "pattern",
        )
    )

    out = {
        "spec": "ELEVATION-v1.md",
        "note": "Computed by gen_elevation_vectors.py with PyNaCl, blake3 and rfc8785, from the "
        "spec alone. Each case is a proposal envelope (JCS text) and what a receiver concludes: "
        "accepted with the pattern it states, or refused for a reason (the part that failed) and, "
        "where a PCI-v1 check failed, its reject code.",
        "constitution": CONSTITUTION_HASH,
        "cases": cases,
    }
    with open(path, "w", encoding="utf-8") as f:
        json.dump(out, f, indent=1, ensure_ascii=False)
        f.write("\n")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "elevation-v1-vectors.json")
