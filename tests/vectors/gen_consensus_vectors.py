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
import struct
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


# Messages between validators ("Messages between validators" in CONSENSUS-v1.md).
WIRE_VERSION = 1
VOTE, PROPOSAL, POLKA, ROUND_CERT, SUBMISSION, DECISION = 1, 2, 3, 4, 5, 6
NO_ROUND = 0xFFFFFFFF
MAX_HEIGHT = 2**53 - 1
MAX_ROUND = 2**32 - 2
VOTE_TYPE = {"prevote": 1, "precommit": 2}
CERT_TYPE = {"skip": 1, "precommit": 2}


def message(kind, *parts):
    return bytes([WIRE_VERSION, kind]) + b"".join(parts)


def u16(n):
    return struct.pack(">H", n)


def u32(n):
    return struct.pack(">I", n)


def u64(n):
    return struct.pack(">Q", n)


def wire_value(value):
    return b"\x00" if value is None else b"\x01" + bytes.fromhex(value)


def vote_signature(height, round_, kind, value, signer):
    return sign(KEYS[signer], b"bizra-vote-v1:", rfc8785.dumps(vote_fields(height, round_, kind, value, signer)))


def wire_vote(name, height, round_, kind, value, signer):
    signature = vote_signature(height, round_, kind, value, signer)
    body = u64(height) + u32(round_) + bytes([VOTE_TYPE[kind]]) + wire_value(value)
    body += bytes.fromhex(PUBLIC[signer]) + bytes.fromhex(signature)
    fields = {"height": height, "round": round_, "type": kind, "value": value,
              "validator": PUBLIC[signer], "signature": signature}
    return {"name": name, "kind": "vote", "hex": message(VOTE, body).hex(), "fields": fields}


def wire_proposal(name, height, round_, pol_round, the_batch, signer):
    signed = {
        "epoch": EPOCH,
        "federation": FEDERATION,
        "height": height,
        "pol_round": pol_round,
        "round": round_,
        "type": "proposal",
        "validator": PUBLIC[signer],
        "value": the_batch["id"],
    }
    signature = sign(KEYS[signer], b"bizra-vote-v1:", rfc8785.dumps(signed))
    text = the_batch["json"].encode()
    body = u64(height) + u32(round_) + u32(NO_ROUND if pol_round < 0 else pol_round)
    body += bytes.fromhex(PUBLIC[signer]) + bytes.fromhex(signature) + u32(len(text)) + text
    fields = {"height": height, "round": round_, "pol_round": pol_round, "proposer": PUBLIC[signer],
              "signature": signature, "value": the_batch["id"]}
    return {"name": name, "kind": "proposal", "hex": message(PROPOSAL, body).hex(), "fields": fields}


def wire_polka(name, height, round_, value, signers):
    entries = [{"validator": PUBLIC[i], "signature": vote_signature(height, round_, "prevote", value, i)}
               for i in signers]
    body = u64(height) + u32(round_) + bytes.fromhex(value) + u16(len(entries))
    body += b"".join(bytes.fromhex(e["validator"]) + bytes.fromhex(e["signature"]) for e in entries)
    fields = {"height": height, "round": round_, "value": value, "signatures": entries}
    return {"name": name, "kind": "polka_certificate", "hex": message(POLKA, body).hex(), "fields": fields}


def wire_round_certificate(name, height, round_, cert_type, votes):
    """votes: (vote type, value or None, signer) in the order they are listed."""
    entries = [{"type": kind, "value": value, "validator": PUBLIC[i],
                "signature": vote_signature(height, round_, kind, value, i)} for kind, value, i in votes]
    body = u64(height) + u32(round_) + bytes([CERT_TYPE[cert_type]]) + u16(len(entries))
    for e in entries:
        body += bytes([VOTE_TYPE[e["type"]]]) + wire_value(e["value"])
        body += bytes.fromhex(e["validator"]) + bytes.fromhex(e["signature"])
    fields = {"height": height, "round": round_, "certificate": cert_type, "votes": entries}
    return {"name": name, "kind": "round_certificate", "hex": message(ROUND_CERT, body).hex(), "fields": fields}


def wire_submission(name, env):
    text = rfc8785.dumps(env)
    fields = {"envelope": env["id"]}
    return {"name": name, "kind": "submission", "hex": message(SUBMISSION, u32(len(text)), text).hex(),
            "fields": fields}


def wire_decision(name, cert, the_batch):
    """A certificate (as certificate() builds it: signers ascending) and its batch."""
    text = the_batch["json"].encode()
    body = u64(cert["height"]) + u32(cert["round"]) + bytes.fromhex(cert["value"]) + u16(len(cert["signatures"]))
    body += b"".join(bytes.fromhex(s["validator"]) + bytes.fromhex(s["signature"]) for s in cert["signatures"])
    body += u32(len(text)) + text
    fields = {"height": cert["height"], "round": cert["round"], "value": cert["value"],
              "signatures": cert["signatures"], "batch": the_batch["id"]}
    return {"name": name, "kind": "decision", "hex": message(DECISION, body).hex(), "fields": fields}


def refused(name, data, why):
    return {"name": name, "hex": data.hex(), "why": why}


def wire_vectors(batches, proposal_a, outsider_envelope):
    two, one, empty = batches
    value, other = two["id"], one["id"]
    ok = certificate(7, 0, value, [0, 1, 2])
    messages = [
        # The first three and the first two proposals carry the signatures of "votes" and
        # "proposals".
        wire_vote("vote-prevote", 7, 0, "prevote", value, 0),
        wire_vote("vote-prevote-nil", 7, 1, "prevote", None, 1),
        wire_vote("vote-precommit", 7, 0, "precommit", value, 2),
        wire_vote("vote-extremes", MAX_HEIGHT, MAX_ROUND, "precommit", None, 3),
        wire_proposal("proposal", 7, 0, -1, two, 3),
        wire_proposal("proposal-pol", 7, 3, 2, two, 3),
        wire_proposal("proposal-empty-batch", 8, 0, -1, empty, 0),
        wire_polka("polka", 7, 0, value, [0, 1, 2]),
        wire_round_certificate("round-skip", 7, 1, "skip", [("prevote", None, 1), ("precommit", value, 2)]),
        wire_round_certificate(
            "round-precommit", 7, 1, "precommit",
            [("precommit", None, 0), ("precommit", other, 1), ("precommit", None, 3)],
        ),
        wire_submission("submission", proposal_a),
        wire_decision("decision", ok, two),
        wire_decision("decision-empty-batch", certificate(8, 0, empty["id"], [0, 2, 3]), empty),
    ]
    by_name = {m["name"]: bytes.fromhex(m["hex"]) for m in messages}
    vote = by_name["vote-prevote"]
    proposal = by_name["proposal"]
    decision = by_name["decision"]
    # Offsets in a vote: version 0, kind 1, height 2..10, round 10..14, type 14, value tag 15.
    # In a proposal: pol_round 14..18, proposer 18..50, signature 50..114, batch_len 114..118.
    # In a decision: value 14..46, count 46..48, signers from 48, 96 bytes each.
    bad = [
        refused("empty", b"", "no version"),
        refused("version-only", b"\x01", "no kind"),
        refused("version-0", b"\x00" + vote[1:], "version 0"),
        refused("version-2", b"\x02" + vote[1:], "version 2"),
        refused("unknown-kind", b"\x01\x07" + vote[2:], "kind 0x07 is not a message"),
        refused("log-record-timeout", message(0x11, u64(7), u32(0), b"\x01"), "a timeout record of the log"),
        refused(
            "log-record-proposed-value",
            message(0x10, u64(7), u32(0), u32(NO_ROUND), bytes.fromhex(PUBLIC[3]), b"\x01\x01",
                    u32(len(two["json"])), two["json"].encode()),
            "a proposed-value record of the log",
        ),
        refused("vote-truncated", vote[:-1], "one byte short"),
        refused("vote-trailing-byte", vote + b"\x00", "one byte after the end"),
        refused("vote-height-0", vote[:2] + u64(0) + vote[10:], "height 0"),
        refused("vote-height-2^53", vote[:2] + u64(MAX_HEIGHT + 1) + vote[10:], "height above 2^53 - 1"),
        refused("vote-round-reserved", vote[:10] + u32(NO_ROUND) + vote[14:], "round 0xffffffff"),
        refused("vote-type-3", vote[:14] + b"\x03" + vote[15:], "vote type 3"),
        refused("vote-type-0", vote[:14] + b"\x00" + vote[15:], "vote type 0"),
        refused("vote-value-tag-2", vote[:15] + b"\x02" + vote[16:], "value tag 2"),
        refused("vote-nil-with-value", vote[:15] + b"\x00" + vote[16:], "a nil vote followed by 32 more bytes"),
        refused("proposal-round-reserved", proposal[:10] + u32(NO_ROUND) + proposal[14:], "round 0xffffffff"),
        refused("proposal-batch-truncated", proposal[:-1], "the batch is one byte short of batch_len"),
        refused(
            "proposal-batch-oversize",
            proposal[:114] + u32(8 * 1024 * 1024 + 1),
            "batch_len above 8 MiB (checked before the batch is read)",
        ),
    ]
    env_a, env_b = sorted(json.loads(two["json"]), key=lambda e: e["id"])
    for name, text, why in (
        ("proposal-batch-not-canonical", "[ " + two["json"][1:], "a space: not the batch's canonical JSON"),
        ("proposal-batch-descending", rfc8785.dumps([env_b, env_a]).decode(), "envelope ids descend"),
        ("proposal-batch-repeated", rfc8785.dumps([env_a, env_a]).decode(), "one envelope twice"),
        ("proposal-batch-not-proposals", rfc8785.dumps([outsider_envelope]).decode(),
         "an envelope whose payload type is not bizra.proposal"),
        ("proposal-batch-not-json", "[1,", "not JSON"),
    ):
        data = text.encode()
        bad.append(refused(name, proposal[:114] + u32(len(data)) + data, why))
    polka = by_name["polka"]
    rc = by_name["round-skip"]
    sub = by_name["submission"]
    env_text = rfc8785.dumps(proposal_a)
    bad += [
        refused("polka-count-1025", polka[:46] + u16(1025), "more than 1,024 signatures"),
        refused("polka-count-short", polka[:46] + u16(4) + polka[48:], "4 signatures announced, 3 present"),
        refused("round-certificate-type-3", rc[:14] + b"\x03" + rc[15:], "certificate type 3"),
        refused("submission-oversize", message(SUBMISSION, u32(2 * 1024 * 1024 + 1)), "envelope_len above 2 MiB"),
        refused(
            "submission-not-canonical",
            message(SUBMISSION, u32(len(env_text) + 1), b" " + env_text),
            "a space: not the envelope's canonical JSON",
        ),
        refused(
            "submission-not-a-proposal",
            message(SUBMISSION, u32(len(rfc8785.dumps(outsider_envelope))), rfc8785.dumps(outsider_envelope)),
            "payload type is not bizra.proposal",
        ),
        refused("submission-trailing-byte", sub + b"\x00", "one byte after the end"),
    ]
    first, second = decision[48:144], decision[144:240]
    bad += [
        refused("decision-signers-descending", decision[:48] + second + first + decision[240:],
                "signers out of key order"),
        refused("decision-signer-twice", decision[:48] + first + first + decision[240:], "one signer twice"),
        refused("decision-count-1025", decision[:46] + u16(1025), "more than 1,024 signatures"),
        refused("decision-height-0", decision[:2] + u64(0) + decision[10:], "height 0"),
    ]
    return {"document": "equal", "messages": messages, "refused": bad}


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

    not_a_proposal = envelope(2, "pci_c0a5e000000000000000000000000003", {"type": "bizra.inference", "text": "hello"})

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
        "wire": wire_vectors(batches, proposal_a, not_a_proposal),
    }
    with open(path, "w", encoding="utf-8") as f:
        json.dump(vectors, f, indent=1, ensure_ascii=False)
        f.write("\n")


if __name__ == "__main__":
    main(sys.argv[1])
