#!/usr/bin/env python3
"""Turns tests/vectors/pci-v1-vectors.json into a C header of string tables for the C suite."""
import json
import sys


def c_str(s):
    if s is None:
        return "NULL"
    out = []
    for b in s.encode("utf-8"):
        c = chr(b)
        if c in '"\\?':
            out.append("\\" + c)
        elif 0x20 <= b < 0x7F:
            out.append(c)
        else:
            out.append("\\%03o" % b)
    return '"' + "".join(out) + '"'


def main(src, dst):
    v = json.load(open(src, encoding="utf-8"))
    L = ["/* Generated from %s by tests/c/gen_vectors.py. Do not edit. */" % src.split("/")[-1]]
    L.append("#define VEC_CONSTITUTION_HASH %s" % c_str(v["constitution"]["hash"]))
    L.append("#define VEC_CONSTITUTION_JCS %s" % c_str(v["constitution"]["jcs"]))
    L.append("struct vec_identity { const char *seed, *public_key, *node_id, *pem; };")
    L.append("static const struct vec_identity VEC_IDENTITIES[] = {")
    for i in v["identities"]:
        L.append("  {%s, %s, %s, %s}," % tuple(c_str(i[k]) for k in ("seed", "public_key", "node_id", "pkcs8_pem")))
    L.append("};")
    L.append("struct vec_message { const char *seed, *message_hex, *signature; };")
    L.append("static const struct vec_message VEC_MESSAGES[] = {")
    for m in v["messages"]:
        L.append("  {%s, %s, %s}," % tuple(c_str(m[k]) for k in ("seed", "message_hex", "signature")))
    L.append("};")
    L.append("struct vec_envelope { const char *name, *seed, *payload_jcs, *content_hash, *header_jcs,"
             " *signature, *json, *verify_at, *id, *timestamp; long long ttl;"
             " int has_snr; double snr; int has_ihsan; double ihsan; const char *policy;"
             " int n_provenance; const char *provenance[4]; };")
    L.append("static const struct vec_envelope VEC_ENVELOPES[] = {")
    for e in v["envelopes"]:
        env = e["envelope"]
        sc = env["scores"]
        prov = env["provenance"]
        assert len(prov) <= 4
        L.append("  {%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %dLL, %d, %r, %d, %r, %s, %d, {%s}}," % (
            c_str(e["name"]), c_str(e["seed"]), c_str(e["payload_jcs"]), c_str(e["content_hash"]),
            c_str(e["header_jcs"]), c_str(e["signature"]), c_str(json.dumps(env)),
            c_str(e["verify_at"]), c_str(env["id"]), c_str(env["timestamp"]), env["ttl"],
            "snr" in sc, sc.get("snr", 0.0), "ihsan" in sc, sc.get("ihsan", 0.0),
            c_str(env["policy"]), len(prov), ", ".join(c_str(p) for p in prov) or "NULL"))
    L.append("};")
    L.append("struct vec_reject { const char *name, *text, *now; unsigned code; };")
    L.append("static const struct vec_reject VEC_REJECTS[] = {")
    for r in v["rejects"]:
        L.append("  {%s, %s, %s, %du}," % (c_str(r["name"]), c_str(r["text"]), c_str(r["now"]), r["code"]))
    L.append("};")
    L.append("#define VEC_COUNT(a) (sizeof(a) / sizeof((a)[0]))")
    open(dst, "w", encoding="utf-8").write("\n".join(L) + "\n")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
