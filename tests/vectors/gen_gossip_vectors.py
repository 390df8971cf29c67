#!/usr/bin/env python3
"""Computes gossip-v1-vectors.json from GOSSIP-v1.md alone, with none of bizra's code:
PyNaCl (libsodium) for Ed25519 and blake3 (the BLAKE3 team's binding) for hashing.

    pip install pynacl blake3
    python3 tests/vectors/gen_gossip_vectors.py tests/vectors/gossip-v1-vectors.json
"""
import ipaddress
import json
import struct
import sys

import blake3
import nacl.signing

TAG = b"bizra-gossip-v1:"
KINDS = {"swim": 1, "hello": 2, "welcome": 3, "leaving": 4}


def key(seed_byte):
    sk = nacl.signing.SigningKey(bytes([seed_byte]) * 32)
    return sk, sk.verify_key.encode()


def federation_id(name):
    return blake3.blake3(b"bizra-federation-v1:" + name.encode()).digest()


def member_id(pk, generation, addr, port):
    ip = ipaddress.ip_address(addr)
    fam = 4 if ip.version == 4 else 6
    return pk + struct.pack(">QB", generation, fam) + ip.packed + struct.pack(">H", port)


def datagram(sk, pk, kind, federation, generation, sequence, sent_at_ms, body):
    signed = (b"BZG1" + bytes([KINDS[kind]]) + federation + pk
              + struct.pack(">QQqH", generation, sequence, sent_at_ms, len(body)) + body)
    digest = blake3.blake3(TAG + signed).digest()
    sig = sk.sign(digest).signature
    return signed, digest, sig


T = 1_800_000_000_000


def main(path):
    fed = federation_id("vectors")
    a_sk, a_pk = key(1)
    b_sk, b_pk = key(2)
    a_gen, b_gen = 5 << 16, (3 << 16) | 1
    a_id = member_id(a_pk, a_gen, "127.0.0.1", 7946)
    b_id = member_id(b_pk, b_gen, "::1", 7000)
    # SWIM: A pings B (probe 9, A's incarnation 0), piggybacking one update: B alive at incarnation 2.
    swim_body = a_id + struct.pack(">H", 0) + b_id + bytes([0, 9]) + struct.pack(">H", 1) + b_id + struct.pack(">HB", 2, 0)
    specs = [
        ("hello", a_sk, a_pk, "hello", a_gen, 1, T, a_id),
        ("welcome", b_sk, b_pk, "welcome", b_gen, 7, T + 5, b_id),
        ("leaving", a_sk, a_pk, "leaving", a_gen, 2, T + 10, a_id),
        ("swim-ping", a_sk, a_pk, "swim", a_gen, 3, T + 20, swim_body),
    ]
    datagrams = []
    whole = {}
    for name, sk, pk, kind, gen, seq, at, body in specs:
        signed, digest, sig = datagram(sk, pk, kind, fed, gen, seq, at, body)
        whole[name] = signed + sig
        datagrams.append({
            "name": name, "seed": (bytes([1 if sk is a_sk else 2]) * 32).hex(), "kind": kind,
            "federation": "vectors", "generation": gen, "sequence": seq, "sent_at_ms": at,
            "body": body.hex(), "digest": digest.hex(), "signature": sig.hex(),
            "datagram": (signed + sig).hex(),
        })
    hello = whole["hello"]
    flipped = bytearray(hello)
    flipped[100] ^= 1
    v2 = bytearray(hello)
    v2[3] = ord("2")
    kind9 = bytearray(hello)
    kind9[4] = 9
    # Signed by A, but the body names B: not bound to the signer.
    s, _, sig = datagram(a_sk, a_pk, "hello", fed, a_gen, 9, T, b_id)
    mismatch = s + sig
    s, _, sig = datagram(a_sk, a_pk, "hello", fed, a_gen, 10, T, a_id + b"\x00")
    trailing = s + sig
    rejects = [
        ("wrong federation", [], hello, "other", T, "wrong_federation"),
        ("31 s late", [], hello, "vectors", T + 31_000, "stale"),
        ("31 s early", [], hello, "vectors", T - 31_000, "stale"),
        ("a body bit flipped", [], bytes(flipped), "vectors", T, "bad_signature"),
        ("cut short", [], hello[:-1], "vectors", T, "truncated"),
        ("header only", [], hello[:50], "vectors", T, "truncated"),
        ("a byte too many", [], hello + b"\x00", "vectors", T, "malformed"),
        ("version 2", [], bytes(v2), "vectors", T, "unknown_version"),
        ("not bizra", [], b"GET / HTTP/1.1\r\n\r\n", "vectors", T, "not_gossip"),
        ("kind 9", [], bytes(kind9), "vectors", T, "unknown_kind"),
        ("1401 bytes", [], b"BZG1" + b"\x00" * 1397, "vectors", T, "oversize"),
        ("body names another key", [], mismatch, "vectors", T, "sender_mismatch"),
        ("trailing byte in body", [], trailing, "vectors", T, "malformed"),
        ("the same datagram twice", [hello], hello, "vectors", T, "replay"),
        ("an older generation", [whole["welcome"]],
         None, "vectors", T, "replay"),
    ]
    # An older generation of B, after B's newer one was heard.
    s, _, sig = datagram(b_sk, b_pk, "welcome", fed, b_gen - 1, 100, T, member_id(b_pk, b_gen - 1, "::1", 7000))
    out_rejects = []
    for name, before, d, fedname, now, reason in rejects:
        if d is None:
            d = s + sig
        out_rejects.append({
            "name": name, "before": [b.hex() for b in before], "datagram": d.hex(),
            "federation": fedname, "now_ms": now, "reason": reason,
        })
    doc = {
        "spec": "GOSSIP-v1.md",
        "note": "computed by gen_gossip_vectors.py (PyNaCl, blake3), independent of bizra's code",
        "receiver_seed": (bytes([3]) * 32).hex(),
        "federations": {n: federation_id(n).hex() for n in ("vectors", "other", "bizra")},
        "identities": [{"seed": (bytes([b]) * 32).hex(), "public_key": key(b)[1].hex()} for b in (1, 2, 3)],
        "datagrams": datagrams,
        "rejects": out_rejects,
    }
    with open(path, "w") as f:
        json.dump(doc, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main(sys.argv[1])
