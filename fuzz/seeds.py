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

    wire_seeds(consensus)
    link_seeds()
    c_abi_seeds(pci, consensus)
    gguf_seeds()


def wire_seeds(consensus):
    """consensus_wire: the vectors' messages and refused cases, and write-ahead-log records built
    from them (CONSENSUS-v1's record kinds 0x10 and 0x11)."""
    for m in consensus["wire"]["messages"]:
        message = bytes.fromhex(m["hex"])
        write("consensus_wire", message)
        if m["kind"] == "proposal":
            # proposal: version, kind, height:8, round:4, pol_round:4, proposer:32, signature:64,
            # batch_len:4, batch. The proposed value record keeps all but the signature.
            head, proposer, batch = message[2:18], message[18:50], message[114:]
            for validity, origin in [(1, 1), (0, 2)]:
                write("consensus_wire", bytes([1, 0x10]) + head + proposer
                      + bytes([validity, origin]) + batch)
    for r in consensus["wire"]["refused"]:
        write("consensus_wire", bytes.fromhex(r["hex"]))
    for step in (1, 2, 3):
        write("consensus_wire", bytes([1, 0x11]) + struct.pack(">QIB", 7, 2, step))


def link_seeds():
    """link: the target's input is a structured session (arbitrary); an empty input is the
    vectors' member completing the handshake, and a few bytes more add frames."""
    write("link", b"")
    write("link", bytes(64))
    write("link", bytes(range(256)))


def c_abi_seeds(pci, consensus):
    """c_abi: a byte choosing the call, then arguments as fuzz_targets/c_abi.rs reads them."""
    def call(n, *args):
        out = bytes([n])
        for a in args:
            if a is None:
                out += b"\xff\xff"  # NULL, length 0
            else:
                a = a.encode() if isinstance(a, str) else a
                out += struct.pack(">H", len(a)) + a
        write("c_abi", out)

    def ms(text):
        from datetime import datetime
        t = datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%f%z")
        return struct.pack(">Q", int(t.timestamp() * 1000))

    for e in pci["envelopes"]:
        text = e["envelope"] if isinstance(e["envelope"], str) else json.dumps(e["envelope"])
        call(0, text)
        call(1, text, ms(e["verify_at"]), None)
    for r in pci["rejects"][:8]:
        call(0, r["text"])
    for n in range(12):
        call(n, None, None, None)  # every argument NULL with length 0
        write("c_abi", bytes([n]) + b"\xff\xfe" * 3)  # NULL with a length
    for i in pci["identities"]:
        call(2, i["pkcs8_pem"], None, "a message")
        call(3, bytes.fromhex(i["seed"]))
    keys = {i["seed"]: bytes.fromhex(i["public_key"]) for i in pci["identities"]}
    for m in pci["messages"]:
        if m["seed"] in keys:
            call(4, keys[m["seed"]], bytes.fromhex(m["message_hex"]),
                 bytes.fromhex(m["signature"]))
    with open(os.path.join(VECTORS, "constitution-v1.json"), encoding="utf-8") as f:
        call(5, f.read())
    for doc in consensus["documents"].values():
        call(6, doc["json"])
    batches = {b["name"]: b["json"] for b in consensus["batches"]}
    for c in consensus["certificates"]:
        call(7, c["json"], batches.get(c.get("batch")))
    steps = {"proposal": 0, "prevote": 1, "precommit": 2}
    messages = consensus["wire"]["messages"]
    for a in messages:
        for b in messages:
            if a is b or a["kind"] != b["kind"] or a["kind"] not in ("vote", "proposal"):
                continue
            f = a["fields"]
            step = steps.get(f.get("type", a["kind"]), 0)
            validator = f.get("validator", f.get("proposer"))
            call(8, validator, struct.pack(">Q", f["height"]),
                 struct.pack(">II", f["round"], step), bytes.fromhex(a["hex"]),
                 bytes.fromhex(b["hex"]))
    for t in ["2026-01-30T00:00:00.000Z", "1970-01-01T00:00:00Z", "9999-12-31T23:59:59.999Z"]:
        call(9, t)
    call(10, "Summarise this paragraph in one line.", struct.pack(">Q", (2 << 32) | 256))
    call(11, json.dumps({"type": "object", "required": ["n"],
                         "properties": {"n": {"type": "integer", "maximum": 9}}}))


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
