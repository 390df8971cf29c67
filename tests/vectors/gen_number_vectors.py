#!/usr/bin/env python3
"""Computes the number vectors of pci-v1-vectors.json without any of bizra's code.

Independent implementations only: PyNaCl (libsodium Ed25519), blake3 (the BLAKE3 team's Python
binding) and rfc8785 (Trail of Bits' JCS, whose numbers follow Python's `repr`, i.e. ECMAScript's
shortest round-trip digits with exact ties broken to even). The same payloads were also
canonicalized by Node.js (`JSON.stringify` of key-sorted objects, i.e. V8's Number::toString)
and by the npm package `canonicalize`; all three agreed.

    pip install pynacl blake3 rfc8785
    python3 tests/vectors/gen_number_vectors.py tests/vectors/pci-v1-vectors.json

Replaces (or appends) the envelopes named below and leaves every other vector as it is.
"""
import json
import sys

import blake3
import nacl.signing
import rfc8785

SEED = "1f1e1d1c1b1a191817161514131211100f0e0d0c0b0a09080706050403020100"
CONSTITUTION_HASH = "e9a5d660bc552fbd9d9daca81bc683acc8ce33989a87d3fc2db1b6ba0d6b08f9"

# Doubles whose exact decimal value lies exactly halfway between the two nearest candidates of
# the shortest length: ECMAScript takes the even one. Half of them are ones where rounding half
# up would give the other (the case that bizra got wrong before), half where it gives the same.
TIES = [
    13036440536630.3125,  # → 13036440536630.312 (not .313)
    86750.906494140625,  # → 86750.90649414062
    992.99298095703125,  # → 992.9929809570312
    3.52548980712890625,  # → 3.5254898071289062
    808945788467373.25,  # → 808945788467373.2
    29946215971468.5625,  # → 29946215971468.562
    75309422401434.125,  # → 75309422401434.12
    -97.760894775390625,  # → -97.76089477539062
    4032085.20654296875,  # → 4032085.2065429688 (the even one is also the upper one)
    835190636906307.75,  # → 835190636906307.8
]
# Where ECMAScript switches between plain and exponent form, and the ends of the double range.
FORMS = [
    1e21,  # the first exponent form (below it, integral doubles beyond 2^53 are not I-JSON)
    1.5e21,
    1e-7,
    1.2345e-7,
    0.000001,
    0.0000012345,
    9007199254740991.0,  # 2^53 − 1, written as an integer
    4503599627370495.5,  # 2^52 − 0.5
    2.2250738585072014e-308,  # smallest normal
    2.225073858507201e-308,  # largest subnormal
    5e-324,
    1.7976931348623157e308,
    -0.0,  # written 0
]


def h(tag, data):
    return blake3.blake3(tag + data).hexdigest()


def envelope(name, env_id, payload, scores, ttl):
    sk = nacl.signing.SigningKey(bytes.fromhex(SEED))
    pk = sk.verify_key.encode().hex()
    payload_jcs = rfc8785.dumps(payload)
    header = {
        "version": "1.0",
        "id": env_id,
        "sender": pk[:32],
        "public_key": pk,
        "timestamp": "2026-12-04T12:00:00.000Z",
        "ttl": ttl,
        "content_hash": h(b"bizra-pci-v1:", payload_jcs),
        "provenance": [],
        "scores": scores,
        "policy": CONSTITUTION_HASH,
    }
    header_jcs = rfc8785.dumps(header)
    digest = h(b"bizra-pci-v1:", header_jcs)
    signature = sk.sign(bytes.fromhex(digest)).signature.hex()
    env = dict(header, payload=payload, signature=signature)
    return {
        "name": name,
        "seed": SEED,
        "payload_jcs": payload_jcs.decode(),
        "content_hash": header["content_hash"],
        "header_jcs": header_jcs.decode(),
        "digest": digest,
        "signature": signature,
        "envelope": env,
        "verify_at": "2026-12-04T12:00:00.000Z",
    }


def main(path):
    with open(path, encoding="utf-8") as f:
        vectors = json.load(f)
    new = [
        envelope(
            "number-ties",
            "pci_5eed0000000000000000000000000014",
            {"type": "bizra.measurement", "ties": TIES, "tie_in_object": {"x": TIES[0]}},
            {"ihsan": 0.951, "snr": 0.8500000000000001},
            3600,
        ),
        envelope(
            "number-forms",
            "pci_5eed0000000000000000000000000015",
            {"forms": FORMS, "negatives": [-x for x in FORMS[:7]]},
            {},
            600,
        ),
    ]
    names = {e["name"] for e in new}
    vectors["envelopes"] = [e for e in vectors["envelopes"] if e["name"] not in names] + new
    with open(path, "w", encoding="utf-8") as f:
        json.dump(vectors, f, indent=1, ensure_ascii=False)
        f.write("\n")


if __name__ == "__main__":
    main(sys.argv[1])
