#!/usr/bin/env python3
"""Computes link-v1-vectors.json from LINK-v1.md alone, with none of bizra's code:
PyNaCl (libsodium) for Ed25519 and blake3 (the BLAKE3 team's binding) for hashing.

    pip install pynacl blake3
    python3 tests/vectors/gen_link_vectors.py tests/vectors/link-v1-vectors.json
"""
import json
import struct
import sys

import blake3
import nacl.signing

TAG = b"bizra-link-v1:"
MAGIC = b"BZL1"


def key(seed_byte):
    sk = nacl.signing.SigningKey(bytes([seed_byte]) * 32)
    return sk, sk.verify_key.encode()


def federation_id(name):
    return blake3.blake3(b"bizra-federation-v1:" + name.encode()).digest()


def hello(federation, pk, nonce):
    return MAGIC + federation + pk + nonce


def auth(sk, federation, own, other, other_nonce):
    signed = federation + own + other + other_nonce
    digest = blake3.blake3(TAG + signed).digest()
    return signed, digest, sk.sign(digest).signature


def frame(kind, body):
    return struct.pack(">IB", 1 + len(body), kind) + body


def main(path):
    fed = federation_id("vectors")
    a_sk, a_pk = key(1)
    b_sk, b_pk = key(2)
    a_nonce = bytes(range(32))
    b_nonce = bytes(range(0xA0, 0xC0))
    ends = {}
    for name, sk, pk, nonce, other, other_nonce in [
        ("a", a_sk, a_pk, a_nonce, b_pk, b_nonce),
        ("b", b_sk, b_pk, b_nonce, a_pk, a_nonce),
    ]:
        signed, digest, sig = auth(sk, fed, pk, other, other_nonce)
        ends[name] = {
            "seed": (bytes([1 if name == "a" else 2]) * 32).hex(),
            "public_key": pk.hex(),
            "nonce": nonce.hex(),
            "hello": hello(fed, pk, nonce).hex(),
            "auth_signed": signed.hex(),
            "auth_digest": digest.hex(),
            "auth": sig.hex(),
        }
    message = bytes.fromhex("0102030405")
    fetch_body = struct.pack(">QI", 7, 64)
    out = {
        "federation": {"name": "vectors", "id": fed.hex()},
        "handshake": ends,
        "frames": [
            {"kind": 1, "body": message.hex(), "frame": frame(1, message).hex()},
            {"kind": 2, "from": 7, "count": 64, "body": fetch_body.hex(),
             "frame": frame(2, fetch_body).hex()},
        ],
        "max_frame": 8 * 1024 * 1024 + 128 + 1024 * 96 + 1,
    }
    with open(path, "w") as f:
        json.dump(out, f, indent=2)
        f.write("\n")


if __name__ == "__main__":
    main(sys.argv[1])
