#!/usr/bin/env python3
"""Writes the fuzz targets' seed corpora (fuzz/corpus/<target>/) from the spec vectors in
tests/vectors, so that every target starts from inputs that reach its deepest checks. The files
are named by their BLAKE2b digest; running this again writes the same files.

    python3 fuzz/seeds.py
"""
import hashlib
import json
import os
import struct
import subprocess

HERE = os.path.dirname(os.path.abspath(__file__))
VECTORS = os.path.join(HERE, "..", "tests", "vectors")


def load(name):
    with open(os.path.join(VECTORS, name), encoding="utf-8") as f:
        return json.load(f)


def write(target, data):
    if isinstance(data, str):
        data = data.encode()
    d = os.path.join(HERE, "corpus", target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, hashlib.blake2b(data, digest_size=10).hexdigest()), "wb") as f:
        f.write(data)


def main():
    pci = load("pci-v1-vectors.json")
    consensus = load("consensus-v1-vectors.json")
    elevation = load("elevation-v1-vectors.json")
    gossip = load("gossip-v1-vectors.json")

    envelopes = [e["envelope"] if isinstance(e["envelope"], str) else json.dumps(e["envelope"])
                 for e in pci["envelopes"]]
    envelopes += [r["text"] for r in pci["rejects"]]
    envelopes += [c["proposal"] for c in elevation["cases"]]
    for b in consensus["batches"]:
        envelopes += [json.dumps(e) for e in json.loads(b["json"])]
    for text in envelopes:
        write("envelope", text)
        write("canonical", text)
    for e in pci["envelopes"]:
        write("canonical", e["payload_jcs"])
        write("canonical", e["header_jcs"])
    with open(os.path.join(VECTORS, "constitution-v1.json"), encoding="utf-8") as f:
        write("canonical", f.read())
    for doc in consensus["documents"].values():
        write("canonical", doc["json"])

    for ident in pci["identities"]:
        write("pem", ident["pkcs8_pem"])
    # Encrypted PKCS#8 (PBES2, AES-256-CBC) under the passphrase the target tries, with few
    # PBKDF2 rounds so that each run is fast.
    for pem in [i["pkcs8_pem"] for i in pci["identities"]][:2]:
        enc = subprocess.run(
            ["openssl", "pkcs8", "-topk8", "-v2", "aes-256-cbc", "-iter", "1000",
             "-passout", "pass:fuzz"],
            input=pem.encode(), capture_output=True, check=True).stdout
        write("pem", enc)

    for d in gossip["datagrams"]:
        write("datagram", bytes.fromhex(d["datagram"]))
    for r in gossip["rejects"]:
        write("datagram", bytes.fromhex(r["datagram"]))

    for c in consensus["certificates"]:
        write("certificate", c["json"])

    # Evidence: pairs of the vectors' wire messages of one kind, framed as the target reads
    # them (validator 0, height 7, round 0, the step, the first message's length).
    messages = consensus["wire"]["messages"]
    steps = {"proposal": 0, "prevote": 1, "precommit": 2}
    for a in messages:
        for b in messages:
            if a is b or a["kind"] != b["kind"]:
                continue
            step = steps.get(a["fields"].get("type", a["kind"]), 0)
            first, second = bytes.fromhex(a["hex"]), bytes.fromhex(b["hex"])
            header = bytes([0]) + struct.pack(">QIB", 7, 0, step) + struct.pack(">H", len(first))
            write("evidence", header + first + second)

    gguf_seeds()


def gguf_string(s):
    b = s.encode()
    return struct.pack("<Q", len(b)) + b


def tiny_gguf():
    """A GGUF v3 file with metadata of several types and one F32 tensor of 4 values."""
    kv = [
        gguf_string("general.architecture") + struct.pack("<I", 8) + gguf_string("llama"),
        gguf_string("general.name") + struct.pack("<I", 8) + gguf_string("tiny"),
        gguf_string("llama.context_length") + struct.pack("<I", 4) + struct.pack("<I", 2048),
        gguf_string("general.alignment") + struct.pack("<I", 4) + struct.pack("<I", 32),
        gguf_string("tokenizer.ggml.tokens") + struct.pack("<I", 9) + struct.pack("<IQ", 8, 2)
        + gguf_string("a") + gguf_string("b"),
        gguf_string("x.f32") + struct.pack("<I", 6) + struct.pack("<f", 0.5),
        gguf_string("x.bool") + struct.pack("<I", 7) + b"\x01",
    ]
    tensor = gguf_string("w") + struct.pack("<I", 1) + struct.pack("<Q", 4) + struct.pack("<I", 0) \
        + struct.pack("<Q", 0)
    head = b"GGUF" + struct.pack("<IQQ", 3, 1, len(kv)) + b"".join(kv) + tensor
    head += b"\x00" * (-len(head) % 32)
    return head + struct.pack("<4f", 1, 2, 3, 4)


def gguf_seeds():
    write("gguf", tiny_gguf())
    write("gguf", tiny_gguf()[:-8])  # truncated: its tensor does not fit
    model = os.path.expanduser("~/.cache/bizra/models/SmolLM2-135M-Instruct.Q4_1.gguf")
    if os.path.exists(model):
        with open(model, "rb") as f:
            write("gguf", f.read(1 << 16))  # the real model's first metadata, cut short


if __name__ == "__main__":
    main()
