#!/usr/bin/env python3
"""Turns tests/vectors/consensus-v1-vectors.json into a C header of tables for the C consensus
suite (tests/c/test_consensus.c): the federation documents with their hashes and the facts the
vectors' JSON states (federation, epoch, validators), the batches with their ids, and every
certificate case with the document and batch it is verified against and its expected verdict;
the wire messages (hex, with the signer and height/round the vectors state) that the evidence
checks take apart."""
import json
import sys

sys.dont_write_bytecode = True  # no __pycache__ beside the sources
from gen_vectors import c_str  # noqa: E402  (the same C string escaping as the PCI tables)


def main(src, dst):
    v = json.load(open(src, encoding="utf-8"))
    L = ["/* Generated from %s by tests/c/gen_consensus_vectors.py. Do not edit. */" % src.split("/")[-1]]
    L.append("struct vec_document { const char *name, *json, *hash, *federation;"
             " unsigned long long epoch, total_power; size_t n_validators;"
             " const char *first_key; unsigned long long first_power; };")
    L.append("static const struct vec_document VEC_DOCUMENTS[] = {")
    for name, d in v["documents"].items():
        doc = json.loads(d["json"])
        vals = doc["validators"]
        L.append("  {%s, %s, %s, %s, %dULL, %dULL, %d, %s, %dULL}," % (
            c_str(name), c_str(d["json"]), c_str(d["hash"]), c_str(doc["federation"]),
            doc["epoch"], sum(x["power"] for x in vals), len(vals),
            c_str(vals[0]["key"]), vals[0]["power"]))
    L.append("};")
    L.append("struct vec_batch { const char *name, *json, *id; };")
    L.append("static const struct vec_batch VEC_BATCHES[] = {")
    for b in v["batches"]:
        L.append("  {%s, %s, %s}," % (c_str(b["name"]), c_str(b["json"]), c_str(b["id"])))
    L.append("};")
    # `batch` is NULL for a case verified without one; `expect` is "ok" or a refusal's name.
    L.append("struct vec_certificate { const char *name, *document, *batch, *json, *expect; };")
    L.append("static const struct vec_certificate VEC_CERTIFICATES[] = {")
    for c in v["certificates"]:
        L.append("  {%s, %s, %s, %s, %s}," % (
            c_str(c["name"]), c_str(c["document"]), c_str(c.get("batch")), c_str(c["json"]),
            c_str(c["expect"])))
    L.append("};")
    # Wire messages, for equivocation evidence: `signer` is the vote's validator or the
    # proposal's proposer (NULL for the other kinds), with the height and round they state.
    w = v["wire"]
    L.append("static const char VEC_WIRE_DOCUMENT[] = %s;" % c_str(w["document"]))
    L.append("struct vec_wire { const char *name, *kind, *hex, *signer;"
             " unsigned long long height; unsigned long round; };")
    L.append("static const struct vec_wire VEC_WIRE[] = {")
    for m in w["messages"]:
        f = m["fields"]
        signer = f.get("validator", f.get("proposer")) if m["kind"] in ("vote", "proposal") else None
        L.append("  {%s, %s, %s, %s, %dULL, %dUL}," % (
            c_str(m["name"]), c_str(m["kind"]), c_str(m["hex"]), c_str(signer),
            f.get("height", 0), f.get("round", 0)))
    L.append("};")
    L.append("#define VEC_COUNT(a) (sizeof(a) / sizeof((a)[0]))")
    open(dst, "w", encoding="utf-8").write("\n".join(L) + "\n")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
