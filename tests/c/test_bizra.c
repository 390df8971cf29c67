/* The C suite of libbizra: every exported function, its NULL and bad-input paths, the spec
 * vectors, garbage input, and threads. Prints "N passed, N failed"; exits non-zero on failure.
 *
 * Built by mk/c.mk against the shared and the static library, run under valgrind and once with
 * AddressSanitizer. CARGO_VERSION, VECTORS_DIR come from the Makefile; vectors.h is generated
 * from tests/vectors/pci-v1-vectors.json by tests/c/gen_vectors.py. */
#define _GNU_SOURCE
#include "bizra.h"
#include "check.h"
#include "vectors.h"

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void hex_decode(const char *hex, uint8_t *out, size_t n) {
    for (size_t i = 0; i < n; i++) {
        unsigned v;
        sscanf(hex + 2 * i, "%2x", &v);
        out[i] = (uint8_t)v;
    }
}

static int64_t ms(const char *ts) {
    int64_t v = 0;
    if (bizra_timestamp_parse(ts, &v) != BIZRA_STATUS_OK) {
        fprintf(stderr, "bad timestamp %s\n", ts);
        abort();
    }
    return v;
}

static bizra_identity *identity_of(const char *seed_hex) {
    uint8_t seed[32];
    hex_decode(seed_hex, seed, 32);
    bizra_identity *id = NULL;
    if (bizra_identity_from_seed(seed, 32, &id) != BIZRA_STATUS_OK) abort();
    return id;
}

static bizra_verify_options at(int64_t now) {
    bizra_verify_options o;
    memset(&o, 0, sizeof o);
    o.struct_size = sizeof o;
    o.has_now = true;
    o.now_unix_ms = now;
    return o;
}

static bizra_envelope *fresh(const bizra_identity *id, const char *payload, double snr, double ihsan) {
    bizra_envelope_options o;
    memset(&o, 0, sizeof o);
    o.struct_size = sizeof o;
    o.has_snr = snr >= 0;
    o.snr = snr;
    o.has_ihsan = ihsan >= 0;
    o.ihsan = ihsan;
    bizra_envelope *env = NULL;
    if (bizra_envelope_create(id, payload, &o, &env) != BIZRA_STATUS_OK) abort();
    return env;
}

static bizra_envelope *parsed(const char *json) {
    bizra_envelope *env = NULL;
    uint32_t rej = 99;
    if (bizra_envelope_parse(json, strlen(json), &env, &rej) != BIZRA_STATUS_OK) abort();
    return env;
}

/* ---------------------------------------------------------------------------------------- */

static void test_version(void) {
    current = "version";
    char expect[64];
    snprintf(expect, sizeof expect, "%d.%d.%d", BIZRA_VERSION_MAJOR, BIZRA_VERSION_MINOR,
             BIZRA_VERSION_PATCH);
    CHECK(strcmp(bizra_version(), expect) == 0);
    CHECK(strcmp(bizra_version(), CARGO_VERSION) == 0); /* the macros agree with Cargo.toml */
    uint32_t abi = 99;
    OK(bizra_abi_version(&abi));
    CHECK(abi == BIZRA_ABI_VERSION);
    ST(bizra_abi_version(NULL), BIZRA_STATUS_NULL_POINTER);
}

static void test_last_error(void) {
    current = "last_error";
    bizra_identity *id = (bizra_identity *)0x1;
    ST(bizra_identity_from_seed((const uint8_t *)"short", 5, &id), BIZRA_STATUS_INVALID_ARGUMENT);
    CHECK(id == (bizra_identity *)0x1); /* out-param untouched on failure */
    size_t needed = 0;
    ST(bizra_last_error(NULL, 0, &needed), BIZRA_STATUS_BUFFER_TOO_SMALL);
    CHECK(needed > 10);
    char tiny[4];
    size_t needed2 = 0;
    ST(bizra_last_error(tiny, sizeof tiny, &needed2), BIZRA_STATUS_BUFFER_TOO_SMALL);
    CHECK(needed2 == needed); /* asking did not overwrite the message */
    char *buf = malloc(needed);
    OK(bizra_last_error(buf, needed, NULL));
    CHECK(strlen(buf) + 1 == needed);
    CHECK(strstr(buf, "bizra_identity_from_seed") != NULL);
    CHECK(strstr(buf, "32") != NULL);
    free(buf);
    ST(bizra_last_error(NULL, 5, NULL), BIZRA_STATUS_NULL_POINTER);
    /* A success keeps the last failure's message. */
    uint32_t abi;
    OK(bizra_abi_version(&abi));
    char again[512];
    OK(bizra_last_error(again, sizeof again, NULL));
    CHECK(strstr(again, "bizra_identity_from_seed") != NULL);
}

/* The statuses: stable numbers, each named after the core's error kind it reports (a panic is
 * tested in bizra-sys, which drives the boundary with a panicking closure: the shipped library
 * has no test hook that panics). */
static void test_status(void) {
    current = "status";
    CHECK(BIZRA_STATUS_OK == 0 && BIZRA_STATUS_NULL_POINTER == 1 && BIZRA_STATUS_INVALID_ARGUMENT == 2 &&
          BIZRA_STATUS_REJECTED == 3 && BIZRA_STATUS_KEY == 4 && BIZRA_STATUS_IO == 5 &&
          BIZRA_STATUS_CONSTITUTION == 6 && BIZRA_STATUS_BUFFER_TOO_SMALL == 7 &&
          BIZRA_STATUS_OUT_OF_RANGE == 8 && BIZRA_STATUS_INTERNAL == 9 && BIZRA_STATUS_PANIC == 10 &&
          BIZRA_STATUS_MODEL == 11 && BIZRA_STATUS_CONTEXT_OVERFLOW == 12 &&
          BIZRA_STATUS_INFERENCE == 13 && BIZRA_STATUS_MODEL_NOT_FOUND == 14 &&
          BIZRA_STATUS_NO_REMOTE_POOL == 15 && BIZRA_STATUS_STOPPED == 16 &&
          BIZRA_STATUS_CERTIFICATE_REFUSED == 17 && BIZRA_STATUS_EVIDENCE_REFUSED == 18);
    static const struct {
        bizra_status status;
        const char *name;
    } named[] = {
        {BIZRA_STATUS_OK, "OK"},
        {BIZRA_STATUS_NULL_POINTER, "NULL_POINTER"},
        {BIZRA_STATUS_INVALID_ARGUMENT, "INVALID_INPUT"},
        {BIZRA_STATUS_REJECTED, "REJECTED"},
        {BIZRA_STATUS_KEY, "KEY"},
        {BIZRA_STATUS_IO, "IO"},
        {BIZRA_STATUS_CONSTITUTION, "CONSTITUTION"},
        {BIZRA_STATUS_BUFFER_TOO_SMALL, "BUFFER_TOO_SMALL"},
        {BIZRA_STATUS_OUT_OF_RANGE, "OUT_OF_RANGE"},
        {BIZRA_STATUS_INTERNAL, "INTERNAL"},
        {BIZRA_STATUS_PANIC, "PANIC"},
        {BIZRA_STATUS_MODEL, "MODEL"},
        {BIZRA_STATUS_CONTEXT_OVERFLOW, "PROMPT_TOO_LONG"},
        {BIZRA_STATUS_INFERENCE, "INFERENCE"},
        {BIZRA_STATUS_MODEL_NOT_FOUND, "MODEL_NOT_FOUND"},
        {BIZRA_STATUS_NO_REMOTE_POOL, "NO_REMOTE_POOL"},
        {BIZRA_STATUS_STOPPED, "STOPPED"},
        {BIZRA_STATUS_CERTIFICATE_REFUSED, "CERTIFICATE_REFUSED"},
        {BIZRA_STATUS_EVIDENCE_REFUSED, "EVIDENCE_REFUSED"},
        {BIZRA_STATUS_REMOTE_UNAVAILABLE, "REMOTE_UNAVAILABLE"},
        {BIZRA_STATUS_REMOTE_REFUSED, "REMOTE_REFUSED"},
        {BIZRA_STATUS_BUSY, "BUSY"},
    };
    for (size_t i = 0; i < sizeof named / sizeof named[0]; i++) {
        const char *name = bizra_status_name(named[i].status);
        CHECK(name != NULL && strcmp(name, named[i].name) == 0);
        if (name == NULL || strcmp(name, named[i].name) != 0)
            fprintf(stderr, "  status %u: %s, expected %s\n", named[i].status, name ? name : "(null)", named[i].name);
    }
    CHECK(bizra_status_name(22) == NULL);
    CHECK(bizra_status_name(UINT32_MAX) == NULL);
    CHECK(bizra_status_name(BIZRA_STATUS_KEY) == bizra_status_name(BIZRA_STATUS_KEY)); /* static */
}

static void test_strings_and_bytes(void) {
    current = "strings";
    bizra_string_free(NULL);
    bizra_bytes_free(NULL);
    bizra_bytes empty = {NULL, 0};
    bizra_bytes_free(&empty);
    CHECK(empty.data == NULL && empty.len == 0);
}

static void test_reject_names(void) {
    current = "reject_names";
    CHECK(strcmp(bizra_reject_name(BIZRA_REJECT_SCHEMA), "SCHEMA") == 0);
    CHECK(strcmp(bizra_reject_name(0), "SUCCESS") == 0);
    CHECK(strcmp(bizra_reject_name(BIZRA_REJECT_HASH_MISMATCH), "HASH_MISMATCH") == 0);
    CHECK(bizra_reject_name(3) == NULL);
    CHECK(strcmp(bizra_reject_describe(1), "PCI-01: malformed envelope") == 0);
    CHECK(strcmp(bizra_reject_describe(15), "PCI-15: content_hash does not match the payload") == 0);
    CHECK(bizra_reject_describe(999) == NULL);
    bool r = false;
    OK(bizra_reject_is_retryable(BIZRA_REJECT_QUOTA, &r));
    CHECK(r);
    OK(bizra_reject_is_retryable(BIZRA_REJECT_SIGNATURE, &r));
    CHECK(!r);
    ST(bizra_reject_is_retryable(3, &r), BIZRA_STATUS_INVALID_ARGUMENT);
    ST(bizra_reject_is_retryable(1, NULL), BIZRA_STATUS_NULL_POINTER);
    /* The enum has the spec's numbers. */
    CHECK(BIZRA_REJECT_SCHEMA == 1 && BIZRA_REJECT_MISSING_FIELD == 2 && BIZRA_REJECT_SIGNATURE == 10 &&
          BIZRA_REJECT_EXPIRED == 11 && BIZRA_REJECT_REPLAY == 12 && BIZRA_REJECT_FUTURE == 13 &&
          BIZRA_REJECT_SENDER_MISMATCH == 14 && BIZRA_REJECT_HASH_MISMATCH == 15 &&
          BIZRA_REJECT_TTL_RANGE == 16 && BIZRA_REJECT_POLICY_MISMATCH == 17 &&
          BIZRA_REJECT_GATE_SCHEMA == 20 && BIZRA_REJECT_GATE_CUSTOM == 24 &&
          BIZRA_REJECT_GATE_IHSAN == 25 && BIZRA_REJECT_QUOTA == 40 && BIZRA_REJECT_TIMEOUT == 42 &&
          BIZRA_REJECT_INTERNAL == 50);
}

static void test_timestamps(void) {
    current = "timestamps";
    int64_t v = 0;
    OK(bizra_timestamp_parse("1970-01-01T00:00:01.500Z", &v));
    CHECK(v == 1500);
    ST(bizra_timestamp_parse("1970-01-01T00:00:01Z", &v), BIZRA_STATUS_INVALID_ARGUMENT);
    ST(bizra_timestamp_parse(NULL, &v), BIZRA_STATUS_NULL_POINTER);
    ST(bizra_timestamp_parse("1970-01-01T00:00:01.500Z", NULL), BIZRA_STATUS_NULL_POINTER);
    char *s = NULL;
    OK(bizra_timestamp_format(1500, &s));
    CHECK(take_eq(s, "1970-01-01T00:00:01.500Z"));
    ST(bizra_timestamp_format(INT64_MAX, &s), BIZRA_STATUS_INVALID_ARGUMENT);
    ST(bizra_timestamp_format(0, NULL), BIZRA_STATUS_NULL_POINTER);
    int64_t now = 0;
    OK(bizra_timestamp_now(&now));
    CHECK(now > 1700000000000LL);
    ST(bizra_timestamp_now(NULL), BIZRA_STATUS_NULL_POINTER);
}

static void test_identity(void) {
    current = "identity";
    for (size_t i = 0; i < VEC_COUNT(VEC_IDENTITIES); i++) {
        const struct vec_identity *v = &VEC_IDENTITIES[i];
        bizra_identity *id = identity_of(v->seed);
        char *s = NULL;
        OK(bizra_identity_node_id(id, &s));
        CHECK(take_eq(s, v->node_id));
        OK(bizra_identity_public_key_hex(id, &s));
        CHECK(take_eq(s, v->public_key));
        bizra_bytes pk = {NULL, 0};
        OK(bizra_identity_public_key(id, &pk));
        char hex[129];
        CHECK(pk.len == 32);
        hex_encode(pk.data, pk.len, hex);
        CHECK(strcmp(hex, v->public_key) == 0);
        bizra_bytes_free(&pk);
        CHECK(pk.data == NULL);
        bizra_bytes_free(&pk); /* twice is a no-op */
        OK(bizra_identity_display_id(id, &s));
        char disp[32];
        snprintf(disp, sizeof disp, "node_%.8s", v->node_id);
        CHECK(take_eq(s, disp));
        OK(bizra_identity_to_pem(id, NULL, &s));
        CHECK(take_eq(s, v->pem));
        bizra_identity *back = NULL;
        OK(bizra_identity_from_pem(v->pem, NULL, &back));
        OK(bizra_identity_node_id(back, &s));
        CHECK(take_eq(s, v->node_id));
        bizra_identity_free(back);
        back = NULL;
        OK(bizra_identity_from_pem(v->seed, NULL, &back)); /* a bare 64-hex seed */
        OK(bizra_identity_node_id(back, &s));
        CHECK(take_eq(s, v->node_id));
        bizra_identity_free(back);
        bizra_identity_free(id);
    }
    for (size_t i = 0; i < VEC_COUNT(VEC_MESSAGES); i++) {
        const struct vec_message *m = &VEC_MESSAGES[i];
        bizra_identity *id = identity_of(m->seed);
        size_t n = strlen(m->message_hex) / 2;
        uint8_t *msg = malloc(n + 1);
        hex_decode(m->message_hex, msg, n);
        bizra_bytes sig = {NULL, 0};
        OK(bizra_identity_sign_message(id, n ? msg : NULL, n, &sig));
        char hex[129];
        CHECK(sig.len == 64);
        hex_encode(sig.data, 64, hex);
        CHECK(strcmp(hex, m->signature) == 0);
        bizra_bytes pk = {NULL, 0};
        OK(bizra_identity_public_key(id, &pk));
        OK(bizra_verify_message(pk.data, pk.len, msg, n, sig.data, sig.len));
        sig.data[0] ^= 1;
        ST(bizra_verify_message(pk.data, pk.len, msg, n, sig.data, sig.len), BIZRA_STATUS_REJECTED);
        ST(bizra_verify_message(pk.data, 31, msg, n, sig.data, sig.len), BIZRA_STATUS_REJECTED);
        ST(bizra_verify_message(NULL, 32, msg, n, sig.data, 64), BIZRA_STATUS_NULL_POINTER);
        ST(bizra_verify_message(pk.data, 32, NULL, 5, sig.data, 64), BIZRA_STATUS_NULL_POINTER);
        ST(bizra_verify_message(pk.data, 32, msg, n, NULL, 64), BIZRA_STATUS_NULL_POINTER);
        bizra_bytes_free(&sig);
        bizra_bytes_free(&pk);
        free(msg);
        bizra_identity_free(id);
    }
    /* generate, encrypted PEM, save/load */
    bizra_identity *id = NULL;
    OK(bizra_identity_generate(&id));
    char *node = NULL;
    OK(bizra_identity_node_id(id, &node));
    char *pem = NULL;
    OK(bizra_identity_to_pem(id, "correct horse", &pem));
    CHECK(strstr(pem, "BEGIN ENCRYPTED PRIVATE KEY") != NULL);
    bizra_identity *back = (bizra_identity *)0x1;
    ST(bizra_identity_from_pem(pem, "wrong", &back), BIZRA_STATUS_KEY);
    CHECK(back == (bizra_identity *)0x1);
    OK(bizra_identity_from_pem(pem, "correct horse", &back));
    char *s = NULL;
    OK(bizra_identity_node_id(back, &s));
    CHECK(take_eq(s, node));
    bizra_identity_free(back);
    bizra_string_free(pem);
    ST(bizra_identity_from_pem("not a key", NULL, &back), BIZRA_STATUS_KEY);

    char dir[] = "/tmp/bizra-c-XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    char path[256];
    snprintf(path, sizeof path, "%s/keys/node.pem", dir);
    OK(bizra_identity_save(id, path, NULL, false));
    OK(bizra_identity_load(path, NULL, &back));
    OK(bizra_identity_node_id(back, &s));
    CHECK(take_eq(s, node));
    bizra_identity_free(back);
    /* An existing key file is refused unless asked to overwrite, and stays as it was. */
    bizra_identity *other = NULL;
    OK(bizra_identity_generate(&other));
    ST(bizra_identity_save(other, path, "pw", false), BIZRA_STATUS_IO);
    char why[512] = "";
    OK(bizra_last_error(why, sizeof why, NULL));
    CHECK(strstr(why, "bizra_identity_save") != NULL && strstr(why, path) != NULL);
    OK(bizra_identity_load(path, NULL, &back)); /* still the plain key of `id` */
    OK(bizra_identity_node_id(back, &s));
    CHECK(take_eq(s, node));
    bizra_identity_free(back);
    OK(bizra_identity_save(other, path, "pw", true)); /* overwrite replaces it */
    ST(bizra_identity_load(path, NULL, &back), BIZRA_STATUS_KEY);
    OK(bizra_identity_load(path, "pw", &back));
    char *other_node = NULL;
    OK(bizra_identity_node_id(other, &other_node));
    OK(bizra_identity_node_id(back, &s));
    CHECK(take_eq(s, other_node));
    bizra_string_free(other_node);
    bizra_identity_free(other);
    bizra_identity_free(back);
    unlink(path);
    char sub[256];
    snprintf(sub, sizeof sub, "%s/keys", dir);
    rmdir(sub);
    rmdir(dir);
    ST(bizra_identity_load("/nonexistent/bizra/key.pem", NULL, &back), BIZRA_STATUS_IO);
    bizra_string_free(node);

    /* NULL and bad input */
    ST(bizra_identity_generate(NULL), BIZRA_STATUS_NULL_POINTER);
    ST(bizra_identity_from_seed(NULL, 32, &back), BIZRA_STATUS_NULL_POINTER);
    ST(bizra_identity_from_seed((const uint8_t *)"x", 1, NULL), BIZRA_STATUS_NULL_POINTER);
    ST(bizra_identity_from_seed(NULL, 0, &back), BIZRA_STATUS_INVALID_ARGUMENT);
    ST(bizra_identity_from_pem(NULL, NULL, &back), BIZRA_STATUS_NULL_POINTER);
    ST(bizra_identity_from_pem("\xff\xfe", NULL, &back), BIZRA_STATUS_INVALID_ARGUMENT);
    ST(bizra_identity_to_pem(NULL, NULL, &s), BIZRA_STATUS_NULL_POINTER);
    ST(bizra_identity_to_pem(id, NULL, NULL), BIZRA_STATUS_NULL_POINTER);
    ST(bizra_identity_save(NULL, "/tmp/x", NULL, false), BIZRA_STATUS_NULL_POINTER);
    ST(bizra_identity_save(id, NULL, NULL, true), BIZRA_STATUS_NULL_POINTER);
    ST(bizra_identity_load(NULL, NULL, &back), BIZRA_STATUS_NULL_POINTER);
    ST(bizra_identity_node_id(NULL, &s), BIZRA_STATUS_NULL_POINTER);
    ST(bizra_identity_display_id(id, NULL), BIZRA_STATUS_NULL_POINTER);
    ST(bizra_identity_public_key(NULL, NULL), BIZRA_STATUS_NULL_POINTER);
    ST(bizra_identity_public_key_hex(NULL, &s), BIZRA_STATUS_NULL_POINTER);
    bizra_bytes b = {NULL, 0};
    ST(bizra_identity_sign_message(NULL, NULL, 0, &b), BIZRA_STATUS_NULL_POINTER);
    ST(bizra_identity_sign_message(id, NULL, 3, &b), BIZRA_STATUS_NULL_POINTER);
    bizra_identity_free(id);
    bizra_identity_free(NULL);
}

static void test_envelope_vectors(void) {
    current = "envelope_vectors";
    for (size_t i = 0; i < VEC_COUNT(VEC_ENVELOPES); i++) {
        const struct vec_envelope *v = &VEC_ENVELOPES[i];
        current = v->name;
        bizra_identity *id = identity_of(v->seed);
        bizra_envelope_options o;
        memset(&o, 0, sizeof o);
        o.struct_size = sizeof o;
        o.ttl_seconds = v->ttl;
        o.has_snr = v->has_snr;
        o.snr = v->snr;
        o.has_ihsan = v->has_ihsan;
        o.ihsan = v->ihsan;
        o.policy_hex = v->policy;
        o.has_timestamp = true;
        o.timestamp_unix_ms = ms(v->timestamp);
        o.id = v->id;
        o.provenance = v->provenance;
        o.provenance_len = (size_t)v->n_provenance;
        bizra_envelope *env = NULL;
        OK(bizra_envelope_create(id, v->payload_jcs, &o, &env));
        char *s = NULL;
        OK(bizra_envelope_header_json(env, &s));
        CHECK(take_eq(s, v->header_jcs));
        OK(bizra_envelope_signature_hex(env, &s));
        CHECK(take_eq(s, v->signature));
        OK(bizra_envelope_content_hash_hex(env, &s));
        CHECK(take_eq(s, v->content_hash));
        OK(bizra_envelope_payload_json(env, &s));
        CHECK(take_eq(s, v->payload_jcs));

        /* The vector's own text parses, verifies at verify_at, and serializes like ours. */
        bizra_envelope *p = NULL;
        uint32_t rej = 99;
        OK(bizra_envelope_parse(v->json, strlen(v->json), &p, &rej));
        CHECK(rej == 0);
        bizra_verify_options vo = at(ms(v->verify_at));
        rej = 99;
        OK(bizra_envelope_verify(p, &vo, &rej));
        CHECK(rej == 0);
        char *a = NULL, *b = NULL;
        OK(bizra_envelope_to_json(env, &a));
        OK(bizra_envelope_to_json(p, &b));
        CHECK(a && b && strcmp(a, b) == 0);
        bizra_envelope *again = NULL;
        OK(bizra_envelope_parse(a, strlen(a), &again, NULL));
        OK(bizra_envelope_to_json(again, &s));
        CHECK(take_eq(s, a));
        bizra_string_free(a);
        bizra_string_free(b);

        /* accessors */
        OK(bizra_envelope_version(p, &s));
        CHECK(take_eq(s, "1.0"));
        OK(bizra_envelope_id(p, &s));
        CHECK(take_eq(s, v->id));
        OK(bizra_envelope_timestamp(p, &s));
        CHECK(take_eq(s, v->timestamp));
        OK(bizra_envelope_policy_hex(p, &s));
        CHECK(take_eq(s, v->policy));
        int64_t n = 0;
        OK(bizra_envelope_ttl(p, &n));
        CHECK(n == v->ttl);
        OK(bizra_envelope_timestamp_unix_ms(p, &n));
        CHECK(n == ms(v->timestamp));
        OK(bizra_envelope_expires_at_unix_ms(p, &n));
        CHECK(n == ms(v->timestamp) + v->ttl * 1000);
        bizra_scores sc;
        OK(bizra_envelope_scores(p, &sc));
        CHECK(sc.has_snr == (bool)v->has_snr && sc.snr == v->snr);
        CHECK(sc.has_ihsan == (bool)v->has_ihsan && sc.ihsan == v->ihsan);
        size_t count = 99;
        OK(bizra_envelope_provenance_count(p, &count));
        CHECK(count == (size_t)v->n_provenance);
        for (size_t k = 0; k < count; k++) {
            OK(bizra_envelope_provenance_at(p, k, &s));
            CHECK(take_eq(s, v->provenance[k]));
        }
        s = (char *)0x1;
        ST(bizra_envelope_provenance_at(p, count, &s), BIZRA_STATUS_OUT_OF_RANGE);
        CHECK(s == (char *)0x1);
        char *node = NULL, *pkhex = NULL;
        OK(bizra_identity_node_id(id, &node));
        OK(bizra_envelope_sender(p, &s));
        CHECK(take_eq(s, node));
        OK(bizra_identity_public_key_hex(id, &pkhex));
        OK(bizra_envelope_public_key_hex(p, &s));
        CHECK(take_eq(s, pkhex));
        bizra_bytes pk = {NULL, 0}, sig = {NULL, 0};
        OK(bizra_envelope_public_key(p, &pk));
        char hex[129];
        hex_encode(pk.data, pk.len, hex);
        CHECK(pk.len == 32 && strcmp(hex, pkhex) == 0);
        OK(bizra_envelope_signature(p, &sig));
        hex_encode(sig.data, sig.len, hex);
        CHECK(sig.len == 64 && strcmp(hex, v->signature) == 0);
        bizra_bytes_free(&pk);
        bizra_bytes_free(&sig);
        bizra_string_free(node);
        bizra_string_free(pkhex);
        bizra_envelope *copy = NULL;
        OK(bizra_envelope_clone(p, &copy));
        OK(bizra_envelope_verify(copy, &vo, NULL));
        bizra_envelope_free(copy);

        bizra_envelope_free(again);
        bizra_envelope_free(p);
        bizra_envelope_free(env);
        bizra_identity_free(id);
    }
}

static void test_reject_vectors(void) {
    for (size_t i = 0; i < VEC_COUNT(VEC_REJECTS); i++) {
        const struct vec_reject *r = &VEC_REJECTS[i];
        current = r->name;
        bizra_envelope *env = NULL;
        uint32_t code = 99;
        bizra_status st = bizra_envelope_parse(r->text, strlen(r->text), &env, &code);
        if (st == BIZRA_STATUS_REJECTED) {
            CHECK(env == NULL);
            CHECK(code == r->code);
            if (code != r->code) fprintf(stderr, "  %s: parse gave %u, expected %u\n", r->name, code, r->code);
            continue;
        }
        CHECK(st == BIZRA_STATUS_OK && code == 0);
        if (st != BIZRA_STATUS_OK) continue;
        bizra_verify_options vo = at(ms(r->now));
        code = 99;
        st = bizra_envelope_verify(env, &vo, &code);
        CHECK(code == r->code);
        CHECK(st == (r->code == 0 ? BIZRA_STATUS_OK : BIZRA_STATUS_REJECTED));
        if (code != r->code) fprintf(stderr, "  %s: verify gave %u, expected %u\n", r->name, code, r->code);
        bizra_envelope_free(env);
    }
}

static char *repeat(const char *head, const char *unit, size_t n, const char *tail) {
    size_t hl = strlen(head), ul = strlen(unit), tl = strlen(tail);
    char *s = malloc(hl + ul * n + tl + 1);
    memcpy(s, head, hl);
    for (size_t i = 0; i < n; i++) memcpy(s + hl + i * ul, unit, ul);
    memcpy(s + hl + ul * n, tail, tl + 1);
    return s;
}

static void expect_malformed(const char *text, size_t len, uint32_t want) {
    bizra_envelope *env = (bizra_envelope *)0x1;
    uint32_t code = 99;
    ST(bizra_envelope_parse(text, len, &env, &code), BIZRA_STATUS_REJECTED);
    CHECK(code == want);
    CHECK(env == (bizra_envelope *)0x1);
}

static void test_garbage(void) {
    current = "garbage";
    expect_malformed("", 0, 1);
    expect_malformed(NULL, 0, 1);
    expect_malformed("\xff\xfe{}", 4, 1);                      /* invalid UTF-8 */
    expect_malformed("{\"version\":\"\\ud800\"}", 20, 1);       /* unpaired surrogate */
    expect_malformed("{\"a\":1e400}", 11, 1);                   /* huge number */
    expect_malformed("{\"a\":9007199254740993}", 22, 1);        /* integer beyond 2^53 */
    expect_malformed("{}", 2, 2);                               /* members missing */
    expect_malformed("[]", 2, 1);
    expect_malformed("{\"a\":1}\x00garbage", 15, 1);            /* embedded NUL */
    char *deep = repeat("", "[", 100000, "");                    /* 100,000-deep nesting */
    expect_malformed(deep, strlen(deep), 1);
    char *deepobj = repeat("", "{\"a\":", 100000, "");
    expect_malformed(deepobj, strlen(deepobj), 1);
    char *huge = repeat("{\"payload\":\"", "aaaaaaaaaaaaaaaa", (9u << 20) / 16, "\"}"); /* 9 MiB */
    expect_malformed(huge, strlen(huge), 1);
    ST(bizra_envelope_parse(NULL, 5, &(bizra_envelope *){NULL}, NULL), BIZRA_STATUS_NULL_POINTER);
    ST(bizra_envelope_parse("{}", 2, NULL, NULL), BIZRA_STATUS_NULL_POINTER);

    /* The same garbage as a payload is an invalid argument, never a crash. */
    bizra_identity *id = NULL;
    OK(bizra_identity_generate(&id));
    bizra_envelope *env = (bizra_envelope *)0x1;
    ST(bizra_envelope_create(id, deep, NULL, &env), BIZRA_STATUS_INVALID_ARGUMENT);
    ST(bizra_envelope_create(id, "\xff", NULL, &env), BIZRA_STATUS_INVALID_ARGUMENT);
    ST(bizra_envelope_create(id, "\"\\udc00\"", NULL, &env), BIZRA_STATUS_INVALID_ARGUMENT);
    ST(bizra_envelope_create(id, "1e400", NULL, &env), BIZRA_STATUS_INVALID_ARGUMENT);
    ST(bizra_envelope_create(id, "{\"a\":1,\"a\":2}", NULL, &env), BIZRA_STATUS_INVALID_ARGUMENT);
    char *big = repeat("\"", "bbbbbbbbbbbbbbbb", (2u << 20) / 16, "\""); /* 2 MiB payload */
    ST(bizra_envelope_create(id, big, NULL, &env), BIZRA_STATUS_INVALID_ARGUMENT);
    CHECK(env == (bizra_envelope *)0x1);
    free(big);
    free(deep);
    free(deepobj);
    free(huge);
    bizra_identity_free(id);
}

static void test_create_and_verify(void) {
    current = "create_verify";
    bizra_identity *id = NULL;
    OK(bizra_identity_generate(&id));
    bizra_envelope *env = NULL;
    OK(bizra_envelope_create(id, "{\"answer\":4}", NULL, &env)); /* defaults */
    uint32_t rej = 99;
    OK(bizra_envelope_verify(env, NULL, &rej));
    CHECK(rej == 0);
    OK(bizra_envelope_verify(env, NULL, NULL));
    int64_t ttl = 0;
    OK(bizra_envelope_ttl(env, &ttl));
    CHECK(ttl == 3600);
    char *policy = NULL;
    OK(bizra_envelope_policy_hex(env, &policy));
    CHECK(take_eq(policy, VEC_CONSTITUTION_HASH));

    /* options: bad struct_size, bad ttl, bad scores, bad id, bad policy, too much provenance */
    bizra_envelope_options o;
    memset(&o, 0, sizeof o);
    bizra_envelope *bad = (bizra_envelope *)0x1;
    ST(bizra_envelope_create(id, "1", &o, &bad), BIZRA_STATUS_INVALID_ARGUMENT); /* struct_size 0 */
    o.struct_size = sizeof o;
    o.ttl_seconds = 3601;
    ST(bizra_envelope_create(id, "1", &o, &bad), BIZRA_STATUS_INVALID_ARGUMENT);
    o.ttl_seconds = 0;
    o.has_snr = true;
    o.snr = 1.5;
    ST(bizra_envelope_create(id, "1", &o, &bad), BIZRA_STATUS_INVALID_ARGUMENT);
    o.snr = NAN;
    ST(bizra_envelope_create(id, "1", &o, &bad), BIZRA_STATUS_INVALID_ARGUMENT);
    o.has_snr = false;
    o.id = "pci_XYZ";
    ST(bizra_envelope_create(id, "1", &o, &bad), BIZRA_STATUS_INVALID_ARGUMENT);
    o.id = NULL;
    o.policy_hex = "ABCD";
    ST(bizra_envelope_create(id, "1", &o, &bad), BIZRA_STATUS_INVALID_ARGUMENT);
    o.policy_hex = NULL;
    o.provenance_len = 65;
    ST(bizra_envelope_create(id, "1", &o, &bad), BIZRA_STATUS_INVALID_ARGUMENT);
    o.provenance_len = 1;
    ST(bizra_envelope_create(id, "1", &o, &bad), BIZRA_STATUS_NULL_POINTER);
    const char *prov[1] = {"not-an-id"};
    o.provenance = prov;
    ST(bizra_envelope_create(id, "1", &o, &bad), BIZRA_STATUS_INVALID_ARGUMENT);
    o.provenance_len = 0;
    o.has_timestamp = true;
    o.timestamp_unix_ms = INT64_MIN;
    ST(bizra_envelope_create(id, "1", &o, &bad), BIZRA_STATUS_INVALID_ARGUMENT);
    CHECK(bad == (bizra_envelope *)0x1);
    ST(bizra_envelope_create(NULL, "1", NULL, &bad), BIZRA_STATUS_NULL_POINTER);
    ST(bizra_envelope_create(id, NULL, NULL, &bad), BIZRA_STATUS_NULL_POINTER);
    ST(bizra_envelope_create(id, "1", NULL, NULL), BIZRA_STATUS_NULL_POINTER);

    /* verify options: now, policy, replay */
    int64_t created = 0;
    OK(bizra_envelope_timestamp_unix_ms(env, &created));
    bizra_verify_options vo = at(created + 3600 * 1000 + 1);
    ST(bizra_envelope_verify(env, &vo, &rej), BIZRA_STATUS_REJECTED);
    CHECK(rej == BIZRA_REJECT_EXPIRED);
    vo = at(created - 121 * 1000);
    ST(bizra_envelope_verify(env, &vo, &rej), BIZRA_STATUS_REJECTED);
    CHECK(rej == BIZRA_REJECT_FUTURE);
    vo = at(created);
    vo.policy_hex = "0000000000000000000000000000000000000000000000000000000000000000";
    ST(bizra_envelope_verify(env, &vo, &rej), BIZRA_STATUS_REJECTED);
    CHECK(rej == BIZRA_REJECT_POLICY_MISMATCH);
    vo.policy_hex = VEC_CONSTITUTION_HASH;
    OK(bizra_envelope_verify(env, &vo, &rej));
    vo.policy_hex = "zz";
    rej = 77;
    ST(bizra_envelope_verify(env, &vo, &rej), BIZRA_STATUS_INVALID_ARGUMENT);
    CHECK(rej == 77); /* not a verdict: the out-param is untouched */
    vo.policy_hex = NULL;
    vo.struct_size = 4;
    ST(bizra_envelope_verify(env, &vo, &rej), BIZRA_STATUS_INVALID_ARGUMENT);
    vo = at(created);
    vo.now_unix_ms = INT64_MAX;
    ST(bizra_envelope_verify(env, &vo, &rej), BIZRA_STATUS_INVALID_ARGUMENT);

    /* Capacity 0 is refused, as in every binding (it would refuse every envelope). */
    bizra_replay_cache *cache = (bizra_replay_cache *)0x1;
    ST(bizra_replay_cache_new(0, &cache), BIZRA_STATUS_INVALID_ARGUMENT);
    CHECK(cache == (bizra_replay_cache *)0x1);
    char why[512] = "";
    OK(bizra_last_error(why, sizeof why, NULL));
    CHECK(strstr(why, "bizra_replay_cache_new") != NULL && strstr(why, "capacity") != NULL);
    cache = NULL;
    OK(bizra_replay_cache_new(1000, &cache));
    vo = at(created);
    vo.replay = cache;
    OK(bizra_envelope_verify(env, &vo, &rej));
    ST(bizra_envelope_verify(env, &vo, &rej), BIZRA_STATUS_REJECTED);
    CHECK(rej == BIZRA_REJECT_REPLAY);
    size_t len = 0;
    OK(bizra_replay_cache_len(cache, &len));
    CHECK(len == 1);
    char *eid = NULL;
    OK(bizra_envelope_id(env, &eid));
    bool has = false;
    OK(bizra_replay_cache_contains(cache, eid, created, &has));
    CHECK(has);
    OK(bizra_replay_cache_contains(cache, eid, created + 3601 * 1000, &has));
    CHECK(!has);
    OK(bizra_replay_cache_contains(cache, "garbage", created, &has));
    CHECK(!has);
    ST(bizra_replay_cache_contains(cache, eid, INT64_MAX, &has), BIZRA_STATUS_INVALID_ARGUMENT);
    ST(bizra_replay_cache_contains(NULL, eid, created, &has), BIZRA_STATUS_NULL_POINTER);
    ST(bizra_replay_cache_contains(cache, NULL, created, &has), BIZRA_STATUS_NULL_POINTER);
    ST(bizra_replay_cache_contains(cache, eid, created, NULL), BIZRA_STATUS_NULL_POINTER);
    ST(bizra_replay_cache_len(NULL, &len), BIZRA_STATUS_NULL_POINTER);
    ST(bizra_replay_cache_len(cache, NULL), BIZRA_STATUS_NULL_POINTER);
    ST(bizra_replay_cache_new(10, NULL), BIZRA_STATUS_NULL_POINTER);
    bizra_string_free(eid);
    /* A full cache refuses with QUOTA. */
    bizra_replay_cache *small = NULL;
    OK(bizra_replay_cache_new(1, &small));
    bizra_envelope *e2 = fresh(id, "2", -1, -1);
    vo = at(created);
    vo.replay = small;
    OK(bizra_envelope_verify(env, &vo, &rej));
    ST(bizra_envelope_verify(e2, &vo, &rej), BIZRA_STATUS_REJECTED);
    CHECK(rej == BIZRA_REJECT_QUOTA);
    bizra_replay_cache_free(small);
    bizra_envelope_free(e2);

    /* verify NULL paths and to_json/accessor NULL paths */
    ST(bizra_envelope_verify(NULL, NULL, &rej), BIZRA_STATUS_NULL_POINTER);
    char *s = NULL;
    int64_t n;
    ST(bizra_envelope_to_json(NULL, &s), BIZRA_STATUS_NULL_POINTER);
    ST(bizra_envelope_to_json(env, NULL), BIZRA_STATUS_NULL_POINTER);
    ST(bizra_envelope_header_json(NULL, &s), BIZRA_STATUS_NULL_POINTER);
    ST(bizra_envelope_version(NULL, &s), BIZRA_STATUS_NULL_POINTER);
    ST(bizra_envelope_id(NULL, &s), BIZRA_STATUS_NULL_POINTER);
    ST(bizra_envelope_sender(env, NULL), BIZRA_STATUS_NULL_POINTER);
    ST(bizra_envelope_public_key_hex(NULL, &s), BIZRA_STATUS_NULL_POINTER);
    ST(bizra_envelope_timestamp(NULL, &s), BIZRA_STATUS_NULL_POINTER);
    ST(bizra_envelope_content_hash_hex(NULL, &s), BIZRA_STATUS_NULL_POINTER);
    ST(bizra_envelope_policy_hex(NULL, &s), BIZRA_STATUS_NULL_POINTER);
    ST(bizra_envelope_signature_hex(NULL, &s), BIZRA_STATUS_NULL_POINTER);
    ST(bizra_envelope_payload_json(NULL, &s), BIZRA_STATUS_NULL_POINTER);
    ST(bizra_envelope_ttl(NULL, &n), BIZRA_STATUS_NULL_POINTER);
    ST(bizra_envelope_timestamp_unix_ms(env, NULL), BIZRA_STATUS_NULL_POINTER);
    ST(bizra_envelope_expires_at_unix_ms(NULL, &n), BIZRA_STATUS_NULL_POINTER);
    bizra_bytes b;
    ST(bizra_envelope_public_key(NULL, &b), BIZRA_STATUS_NULL_POINTER);
    ST(bizra_envelope_signature(env, NULL), BIZRA_STATUS_NULL_POINTER);
    bizra_scores sc;
    ST(bizra_envelope_scores(NULL, &sc), BIZRA_STATUS_NULL_POINTER);
    size_t cnt;
    ST(bizra_envelope_provenance_count(NULL, &cnt), BIZRA_STATUS_NULL_POINTER);
    ST(bizra_envelope_provenance_at(NULL, 0, &s), BIZRA_STATUS_NULL_POINTER);
    ST(bizra_envelope_clone(NULL, &env), BIZRA_STATUS_NULL_POINTER);
    bizra_envelope_free(NULL);
    bizra_replay_cache_free(NULL);
    bizra_replay_cache_free(cache);
    bizra_envelope_free(env);
    bizra_identity_free(id);
}

/* bizra_envelope_open: parse and verify in one call, the first failure deciding. */
static void test_open(void) {
    current = "open";
    bizra_identity *id = NULL;
    OK(bizra_identity_generate(&id));
    bizra_envelope *env = fresh(id, "{\"answer\":4}", 0.9, 0.97);
    char *json = NULL;
    OK(bizra_envelope_to_json(env, &json));
    int64_t created = 0;
    OK(bizra_envelope_timestamp_unix_ms(env, &created));

    bizra_envelope *opened = NULL;
    uint32_t rej = 99;
    OK(bizra_envelope_open(json, strlen(json), NULL, &opened, &rej));
    CHECK(rej == 0 && opened != NULL);
    char *back = NULL;
    OK(bizra_envelope_to_json(opened, &back));
    CHECK(take_eq(back, json));
    bizra_envelope_free(opened);
    opened = NULL;
    OK(bizra_envelope_open(json, strlen(json), NULL, &opened, NULL)); /* reject may be NULL */
    bizra_envelope_free(opened);

    /* Each step's refusal, with *out untouched: malformed, tampered, expired, replayed. */
    bizra_envelope *none = (bizra_envelope *)0x1;
    ST(bizra_envelope_open("{", 1, NULL, &none, &rej), BIZRA_STATUS_REJECTED);
    CHECK(rej == BIZRA_REJECT_SCHEMA);
    ST(bizra_envelope_open("\xff\xfe", 2, NULL, &none, &rej), BIZRA_STATUS_REJECTED);
    CHECK(rej == BIZRA_REJECT_SCHEMA);
    ST(bizra_envelope_open("{}", 2, NULL, &none, &rej), BIZRA_STATUS_REJECTED);
    CHECK(rej == BIZRA_REJECT_MISSING_FIELD);
    char *tampered = strdup(json);
    char *answer = strstr(tampered, "\"answer\":4");
    CHECK(answer != NULL);
    if (answer) answer[9] = '5';
    ST(bizra_envelope_open(tampered, strlen(tampered), NULL, &none, &rej), BIZRA_STATUS_REJECTED);
    CHECK(rej == BIZRA_REJECT_HASH_MISMATCH);
    free(tampered);
    bizra_verify_options vo = at(created + 3601 * 1000);
    ST(bizra_envelope_open(json, strlen(json), &vo, &none, &rej), BIZRA_STATUS_REJECTED);
    CHECK(rej == BIZRA_REJECT_EXPIRED);
    bizra_replay_cache *cache = NULL;
    OK(bizra_replay_cache_new(10, &cache));
    vo = at(created);
    vo.replay = cache;
    OK(bizra_envelope_open(json, strlen(json), &vo, &opened, &rej));
    bizra_envelope_free(opened);
    ST(bizra_envelope_open(json, strlen(json), &vo, &none, &rej), BIZRA_STATUS_REJECTED);
    CHECK(rej == BIZRA_REJECT_REPLAY);
    CHECK(none == (bizra_envelope *)0x1);
    char why[512] = "";
    OK(bizra_last_error(why, sizeof why, NULL));
    CHECK(strstr(why, "bizra_envelope_open") != NULL);
    bizra_replay_cache_free(cache);

    /* Bad arguments are not verdicts: *reject is untouched. */
    rej = 77;
    vo = at(created);
    vo.struct_size = 4;
    ST(bizra_envelope_open(json, strlen(json), &vo, &none, &rej), BIZRA_STATUS_INVALID_ARGUMENT);
    CHECK(rej == 77);
    ST(bizra_envelope_open(NULL, 5, NULL, &none, &rej), BIZRA_STATUS_NULL_POINTER);
    ST(bizra_envelope_open(json, strlen(json), NULL, NULL, &rej), BIZRA_STATUS_NULL_POINTER);
    CHECK(rej == 77 && none == (bizra_envelope *)0x1);

    bizra_string_free(json);
    bizra_envelope_free(env);
    bizra_identity_free(id);
}

static void test_batch(void) {
    current = "batch";
    bizra_identity *id = NULL;
    OK(bizra_identity_generate(&id));
    enum { N = 20 };
    bizra_envelope *envs[N];
    for (int i = 0; i < N; i++) envs[i] = fresh(id, "{\"i\":1}", 0.9, 0.97);
    /* Tamper one: re-parse with a different payload (hash mismatch). */
    char *json = NULL;
    OK(bizra_envelope_to_json(envs[7], &json));
    char *p = strstr(json, "{\"i\":1}");
    CHECK(p != NULL);
    if (p) p[5] = '2';
    bizra_envelope_free(envs[7]);
    envs[7] = parsed(json);
    bizra_string_free(json);
    uint32_t codes[N];
    memset(codes, 0xff, sizeof codes);
    ST(bizra_envelope_verify_batch((const bizra_envelope *const *)envs, N, NULL, codes), BIZRA_STATUS_REJECTED);
    for (int i = 0; i < N; i++) {
        uint32_t single = 99;
        bizra_envelope_verify(envs[i], NULL, &single);
        CHECK(codes[i] == single); /* exactly the single result */
    }
    CHECK(codes[7] == BIZRA_REJECT_HASH_MISMATCH && codes[0] == 0);
    ST(bizra_envelope_verify_batch((const bizra_envelope *const *)envs, 7, NULL, codes), BIZRA_STATUS_OK);
    OK(bizra_envelope_verify_batch(NULL, 0, NULL, NULL));
    ST(bizra_envelope_verify_batch(NULL, 3, NULL, codes), BIZRA_STATUS_NULL_POINTER);
    ST(bizra_envelope_verify_batch((const bizra_envelope *const *)envs, 3, NULL, NULL), BIZRA_STATUS_NULL_POINTER);
    const bizra_envelope *withnull[2] = {envs[0], NULL};
    ST(bizra_envelope_verify_batch(withnull, 2, NULL, codes), BIZRA_STATUS_NULL_POINTER);
    /* With a replay cache: duplicates in one batch are replays. */
    bizra_replay_cache *cache = NULL;
    OK(bizra_replay_cache_new(1000, &cache));
    bizra_verify_options vo;
    memset(&vo, 0, sizeof vo);
    vo.struct_size = sizeof vo;
    vo.replay = cache;
    const bizra_envelope *twice[2] = {envs[0], envs[0]};
    ST(bizra_envelope_verify_batch(twice, 2, &vo, codes), BIZRA_STATUS_REJECTED);
    CHECK(codes[0] == 0 && codes[1] == BIZRA_REJECT_REPLAY);
    bizra_replay_cache_free(cache);
    for (int i = 0; i < N; i++) bizra_envelope_free(envs[i]);
    bizra_identity_free(id);
}

struct gate_state {
    atomic_int calls;
    int refuse;
    int freed;
};

static int32_t my_gate(void *ud, const bizra_envelope *env, int64_t now, char *reason, size_t len) {
    struct gate_state *st = ud;
    atomic_fetch_add(&st->calls, 1);
    (void)now;
    char *id = NULL;
    if (bizra_envelope_id(env, &id) != BIZRA_STATUS_OK) return 2; /* the lent envelope is usable */
    bizra_string_free(id);
    if (st->refuse) {
        snprintf(reason, len, "refused by my_gate");
        return 1;
    }
    return 0;
}

static void free_state(void *ud) { ((struct gate_state *)ud)->freed++; }

static void test_gate_chain(void) {
    current = "gate_chain";
    bizra_identity *id = NULL;
    OK(bizra_identity_generate(&id));
    bizra_envelope *good = fresh(id, "{\"answer\":4}", 0.93, 0.97);
    bizra_envelope *noscore = fresh(id, "{\"answer\":4}", -1, -1);
    bizra_envelope *lowihsan = fresh(id, "{\"answer\":4}", 0.93, 0.5);

    bizra_gate_chain *chain = NULL;
    OK(bizra_gate_chain_new_default(&chain));
    size_t count = 0;
    OK(bizra_gate_chain_gate_count(chain, &count));
    CHECK(count == 7);
    char *name = NULL;
    OK(bizra_gate_chain_gate_name(chain, 0, &name));
    CHECK(name && strlen(name) > 0);
    bizra_string_free(name);
    ST(bizra_gate_chain_gate_name(chain, 7, &name), BIZRA_STATUS_OUT_OF_RANGE);

    bizra_gate_report *rep = NULL;
    uint32_t rej = 99;
    OK(bizra_gate_chain_check(chain, good, NULL, &rep, &rej));
    CHECK(rej == 0);
    bool passed = false;
    uint32_t code = 99;
    OK(bizra_gate_report_passed(rep, &passed, &code));
    CHECK(passed && code == 0);
    size_t n = 0;
    OK(bizra_gate_report_count(rep, &n));
    CHECK(n == 7);
    bizra_gate_result r;
    for (size_t i = 0; i < n; i++) {
        OK(bizra_gate_report_result(rep, i, &r));
        CHECK(r.passed && r.code == 0 && r.detail == NULL && r.name != NULL);
    }
    ST(bizra_gate_report_result(rep, n, &r), BIZRA_STATUS_OUT_OF_RANGE);
    /* A passing report has no first failure, and its status is OK. */
    bool found = true;
    bizra_gate_result untouched;
    memset(&untouched, 0xab, sizeof untouched);
    memcpy(&r, &untouched, sizeof r);
    OK(bizra_gate_report_first_failure(rep, &found, &r));
    CHECK(!found && memcmp(&r, &untouched, sizeof r) == 0);
    ST(bizra_gate_report_first_failure(rep, NULL, &r), BIZRA_STATUS_NULL_POINTER);
    rej = 99;
    OK(bizra_gate_report_status(rep, &rej));
    CHECK(rej == 0);
    OK(bizra_gate_report_status(rep, NULL));
    bizra_gate_report_free(rep);
    /* check only observes: judged again it still passes, and admit then admits it once. */
    OK(bizra_gate_chain_check(chain, good, NULL, NULL, &rej));
    rep = NULL;
    OK(bizra_gate_chain_admit(chain, good, NULL, &rep, &rej));
    CHECK(rej == 0);
    OK(bizra_gate_report_passed(rep, &passed, NULL));
    CHECK(passed);
    bizra_gate_report_free(rep);
    /* The same envelope again is a replay, for check and for admit. */
    rep = NULL;
    ST(bizra_gate_chain_check(chain, good, NULL, &rep, &rej), BIZRA_STATUS_REJECTED);
    CHECK(rej == BIZRA_REJECT_REPLAY);
    OK(bizra_gate_report_passed(rep, &passed, &code));
    CHECK(!passed && code == BIZRA_REJECT_REPLAY);
    /* Its first failure is the replay gate's, and its status the refusal. */
    OK(bizra_gate_report_first_failure(rep, &found, &r));
    CHECK(found && !r.passed && r.code == BIZRA_REJECT_REPLAY && r.name != NULL && r.detail != NULL);
    OK(bizra_gate_report_first_failure(rep, &found, NULL)); /* only whether there is one */
    CHECK(found);
    rej = 99;
    ST(bizra_gate_report_status(rep, &rej), BIZRA_STATUS_REJECTED);
    CHECK(rej == BIZRA_REJECT_REPLAY);
    char said[512] = "";
    OK(bizra_last_error(said, sizeof said, NULL));
    CHECK(strstr(said, "bizra_gate_report_status") != NULL && strstr(said, r.name) != NULL);
    bizra_gate_report_free(rep);
    rej = 99;
    ST(bizra_gate_chain_admit(chain, good, NULL, NULL, &rej), BIZRA_STATUS_REJECTED);
    CHECK(rej == BIZRA_REJECT_REPLAY);
    ST(bizra_gate_chain_admit(chain, good, NULL, NULL, NULL), BIZRA_STATUS_REJECTED);
    ST(bizra_gate_chain_check(chain, noscore, NULL, NULL, &rej), BIZRA_STATUS_REJECTED);
    CHECK(rej == BIZRA_REJECT_GATE_SNR);
    ST(bizra_gate_chain_check(chain, lowihsan, NULL, NULL, &rej), BIZRA_STATUS_REJECTED);
    CHECK(rej == BIZRA_REJECT_GATE_IHSAN);
    /* A refused admission records nothing: fixed, the same id could still be admitted. */
    ST(bizra_gate_chain_admit(chain, lowihsan, NULL, NULL, &rej), BIZRA_STATUS_REJECTED);
    CHECK(rej == BIZRA_REJECT_GATE_IHSAN);
    int64_t created = 0;
    OK(bizra_envelope_timestamp_unix_ms(lowihsan, &created));
    int64_t late = created + 7200 * 1000;
    ST(bizra_gate_chain_check(chain, lowihsan, &late, NULL, &rej), BIZRA_STATUS_REJECTED);
    CHECK(rej == BIZRA_REJECT_EXPIRED);
    int64_t bad_now = INT64_MAX;
    ST(bizra_gate_chain_check(chain, good, &bad_now, NULL, &rej), BIZRA_STATUS_INVALID_ARGUMENT);
    /* report mode runs every gate */
    OK(bizra_gate_chain_set_report_all(chain, true));
    rep = NULL;
    ST(bizra_gate_chain_check(chain, noscore, NULL, &rep, &rej), BIZRA_STATUS_REJECTED);
    OK(bizra_gate_report_count(rep, &n));
    CHECK(n == 7);
    int fails = 0;
    for (size_t i = 0; i < n; i++) {
        OK(bizra_gate_report_result(rep, i, &r));
        if (!r.passed) {
            fails++;
            CHECK(r.detail != NULL && r.code != 0);
        }
    }
    CHECK(fails == 2); /* snr and ihsan */
    bizra_gate_report_free(rep);
    bizra_gate_chain_free(chain);

    /* An empty chain admits nothing; custom gates; schema; shared replay cache. */
    bizra_constitution *c = NULL;
    OK(bizra_constitution_default(&c));
    OK(bizra_gate_chain_empty(c, &chain));
    ST(bizra_gate_chain_check(chain, good, NULL, NULL, &rej), BIZRA_STATUS_REJECTED);
    CHECK(rej == BIZRA_REJECT_INTERNAL);
    struct gate_state st = {0, 0, 0};
    OK(bizra_gate_chain_add_custom(chain, "mine", BIZRA_GATE_TIER_CHEAP, my_gate, &st, free_state));
    OK(bizra_gate_chain_add_builtin(chain, BIZRA_GATE_KIND_SIGNATURE));
    OK(bizra_gate_chain_add_builtin(chain, BIZRA_GATE_KIND_SIGNATURE)); /* idempotent */
    OK(bizra_gate_chain_gate_count(chain, &count));
    CHECK(count == 2);
    /* Built-in gates run before every custom gate, whatever the order they were added in. */
    OK(bizra_gate_chain_gate_name(chain, 0, &name));
    CHECK(name && strcmp(name, "mine") != 0);
    bizra_string_free(name);
    OK(bizra_gate_chain_gate_name(chain, 1, &name));
    CHECK(name && strcmp(name, "mine") == 0);
    bizra_string_free(name);
    OK(bizra_gate_chain_check(chain, good, NULL, NULL, &rej));
    CHECK(atomic_load(&st.calls) == 1);
    st.refuse = 1;
    rep = NULL;
    ST(bizra_gate_chain_check(chain, good, NULL, &rep, &rej), BIZRA_STATUS_REJECTED);
    CHECK(rej == BIZRA_REJECT_GATE_CUSTOM);
    OK(bizra_gate_report_result(rep, 1, &r));
    CHECK(strcmp(r.name, "mine") == 0 && !r.passed && r.code == 24 && r.tier == BIZRA_GATE_TIER_CHEAP);
    CHECK(r.detail && strcmp(r.detail, "refused by my_gate") == 0);
    bizra_gate_result first;
    OK(bizra_gate_report_first_failure(rep, &found, &first));
    CHECK(found && first.name == r.name && first.detail == r.detail && first.code == 24);
    bizra_gate_report_free(rep);
    char msg[512];
    OK(bizra_last_error(msg, sizeof msg, NULL));
    CHECK(strstr(msg, "refused by my_gate") != NULL);
    ST(bizra_gate_chain_add_builtin(chain, 99), BIZRA_STATUS_INVALID_ARGUMENT);
    ST(bizra_gate_chain_add_custom(chain, "x", 7, my_gate, &st, NULL), BIZRA_STATUS_INVALID_ARGUMENT);
    ST(bizra_gate_chain_add_custom(chain, "x", 0, NULL, &st, NULL), BIZRA_STATUS_NULL_POINTER);
    ST(bizra_gate_chain_add_custom(chain, NULL, 0, my_gate, &st, NULL), BIZRA_STATUS_NULL_POINTER);
    bizra_gate_chain_free(chain);
    CHECK(st.freed == 1); /* userdata freed with the chain, once */

    OK(bizra_gate_chain_from_constitution(NULL, &chain));
    ST(bizra_gate_chain_set_payload_schema(chain, "{\"type\": 5}"), BIZRA_STATUS_INVALID_ARGUMENT);
    ST(bizra_gate_chain_set_payload_schema(chain, "not json"), BIZRA_STATUS_INVALID_ARGUMENT);
    OK(bizra_gate_chain_set_payload_schema(chain, "{\"type\":\"object\",\"required\":[\"question\"]}"));
    ST(bizra_gate_chain_check(chain, good, NULL, NULL, &rej), BIZRA_STATUS_REJECTED);
    CHECK(rej == BIZRA_REJECT_GATE_SCHEMA);
    bizra_replay_cache *cache = NULL;
    OK(bizra_replay_cache_new(1000, &cache));
    OK(bizra_gate_chain_set_replay_cache(chain, cache));
    bizra_gate_chain_free(chain);
    OK(bizra_gate_chain_from_constitution(c, &chain));
    OK(bizra_gate_chain_set_replay_cache(chain, cache));
    bizra_replay_cache_free(cache); /* the chain keeps its reference */
    bizra_envelope *g2 = fresh(id, "{\"q\":1}", 0.9, 0.99);
    OK(bizra_gate_chain_admit(chain, g2, NULL, NULL, NULL));
    ST(bizra_gate_chain_check(chain, g2, NULL, NULL, &rej), BIZRA_STATUS_REJECTED);
    CHECK(rej == BIZRA_REJECT_REPLAY);
    bizra_envelope_free(g2);

    /* NULL paths */
    ST(bizra_gate_chain_new_default(NULL), BIZRA_STATUS_NULL_POINTER);
    ST(bizra_gate_chain_from_constitution(c, NULL), BIZRA_STATUS_NULL_POINTER);
    ST(bizra_gate_chain_empty(NULL, NULL), BIZRA_STATUS_NULL_POINTER);
    ST(bizra_gate_chain_add_builtin(NULL, 1), BIZRA_STATUS_NULL_POINTER);
    ST(bizra_gate_chain_add_custom(NULL, "x", 0, my_gate, NULL, NULL), BIZRA_STATUS_NULL_POINTER);
    ST(bizra_gate_chain_set_payload_schema(NULL, "{}"), BIZRA_STATUS_NULL_POINTER);
    ST(bizra_gate_chain_set_payload_schema(chain, NULL), BIZRA_STATUS_NULL_POINTER);
    ST(bizra_gate_chain_set_replay_cache(chain, NULL), BIZRA_STATUS_NULL_POINTER);
    ST(bizra_gate_chain_set_replay_cache(NULL, NULL), BIZRA_STATUS_NULL_POINTER);
    ST(bizra_gate_chain_set_report_all(NULL, true), BIZRA_STATUS_NULL_POINTER);
    ST(bizra_gate_chain_gate_count(NULL, &count), BIZRA_STATUS_NULL_POINTER);
    ST(bizra_gate_chain_gate_name(chain, 0, NULL), BIZRA_STATUS_NULL_POINTER);
    ST(bizra_gate_chain_check(NULL, good, NULL, NULL, NULL), BIZRA_STATUS_NULL_POINTER);
    ST(bizra_gate_chain_check(chain, NULL, NULL, NULL, NULL), BIZRA_STATUS_NULL_POINTER);
    ST(bizra_gate_chain_admit(NULL, good, NULL, NULL, NULL), BIZRA_STATUS_NULL_POINTER);
    ST(bizra_gate_chain_admit(chain, NULL, NULL, NULL, NULL), BIZRA_STATUS_NULL_POINTER);
    int64_t never = INT64_MAX;
    ST(bizra_gate_chain_admit(chain, good, &never, NULL, &rej), BIZRA_STATUS_INVALID_ARGUMENT);
    ST(bizra_gate_report_passed(NULL, &passed, NULL), BIZRA_STATUS_NULL_POINTER);
    ST(bizra_gate_report_first_failure(NULL, &found, &r), BIZRA_STATUS_NULL_POINTER);
    ST(bizra_gate_report_status(NULL, &rej), BIZRA_STATUS_NULL_POINTER);
    ST(bizra_gate_report_count(NULL, &n), BIZRA_STATUS_NULL_POINTER);
    ST(bizra_gate_report_result(NULL, 0, &r), BIZRA_STATUS_NULL_POINTER);
    bizra_gate_chain_free(NULL);
    bizra_gate_report_free(NULL);
    bizra_gate_chain_free(chain);
    bizra_constitution_free(c);

    /* A chain shares the caller's constitution: the caller may free its own handle first. */
    bizra_constitution *own = NULL;
    OK(bizra_constitution_default(&own));
    bizra_gate_chain *sharing = NULL;
    OK(bizra_gate_chain_from_constitution(own, &sharing));
    bizra_constitution_free(own);
    bizra_envelope *g3 = fresh(id, "{\"q\":3}", 0.9, 0.99);
    OK(bizra_gate_chain_admit(sharing, g3, NULL, NULL, NULL));
    bizra_envelope_free(g3);
    bizra_gate_chain_free(sharing);
    bizra_envelope_free(good);
    bizra_envelope_free(noscore);
    bizra_envelope_free(lowihsan);
    bizra_identity_free(id);
}

static void test_constitution(void) {
    current = "constitution";
    bizra_constitution *c = NULL;
    OK(bizra_constitution_default(&c));
    char *s = NULL;
    OK(bizra_constitution_hash_hex(c, &s));
    CHECK(take_eq(s, VEC_CONSTITUTION_HASH));
    OK(bizra_constitution_version(c, &s));
    CHECK(take_eq(s, "1.0.0"));
    bizra_thresholds t;
    OK(bizra_constitution_thresholds(c, &t));
    CHECK(t.ihsan_minimum == 0.95 && t.ihsan_target == 0.99 && t.snr_threshold == 0.85);
    CHECK(t.max_ttl_seconds == 3600 && t.max_clock_skew_seconds == 120);
    size_t q = 0;
    OK(bizra_constitution_quorum(4, &q));
    CHECK(q == 3);
    OK(bizra_constitution_quorum(3, &q));
    CHECK(q == 3);

    bizra_constitution *j = NULL;
    OK(bizra_constitution_from_json(VEC_CONSTITUTION_JCS, &j));
    OK(bizra_constitution_hash_hex(j, &s));
    CHECK(take_eq(s, VEC_CONSTITUTION_HASH));
    bizra_constitution_free(j);
    bizra_constitution *f = NULL;
    OK(bizra_constitution_load(VECTORS_DIR "/constitution-v1.json", &f));
    OK(bizra_constitution_hash_hex(f, &s));
    CHECK(take_eq(s, VEC_CONSTITUTION_HASH));
    bizra_constitution_free(f);
    ST(bizra_constitution_load("/nonexistent/c.json", &f), BIZRA_STATUS_IO);
    ST(bizra_constitution_from_json("{\"version\":1}", &f), BIZRA_STATUS_CONSTITUTION);
    ST(bizra_constitution_from_json("[", &f), BIZRA_STATUS_CONSTITUTION);

    bizra_compliance_input in;
    memset(&in, 0, sizeof in);
    in.struct_size = sizeof in;
    in.has_snr = true;
    in.snr = 0.9;
    in.has_ihsan = true;
    in.ihsan = 0.97;
    in.has_signature = true;
    in.has_provenance = true;
    bizra_compliance_report *rep = NULL;
    OK(bizra_constitution_check(c, &in, &rep));
    bool ok = false;
    OK(bizra_compliance_report_compliant(rep, &ok));
    CHECK(ok);
    size_t n = 0;
    OK(bizra_compliance_report_count(rep, &n));
    CHECK(n == 5);
    bizra_rule_outcome r;
    OK(bizra_compliance_report_rule(rep, 0, &r));
    CHECK(strcmp(r.id, "IHSAN_001") == 0 && r.passed && r.has_value && r.value == 0.97 &&
          r.has_threshold && r.threshold == 0.95 && r.enforcement == BIZRA_ENFORCEMENT_STRICT);
    ST(bizra_compliance_report_rule(rep, n, &r), BIZRA_STATUS_OUT_OF_RANGE);
    bizra_compliance_report_free(rep);
    in.has_ihsan = false; /* a missing score fails: fail-closed */
    OK(bizra_constitution_check(c, &in, &rep));
    OK(bizra_compliance_report_compliant(rep, &ok));
    CHECK(!ok);
    OK(bizra_compliance_report_rule(rep, 0, &r));
    CHECK(!r.passed && !r.has_value && r.detail != NULL);
    bizra_compliance_report_free(rep);
    in.struct_size = 1;
    ST(bizra_constitution_check(c, &in, &rep), BIZRA_STATUS_INVALID_ARGUMENT);

    ST(bizra_constitution_default(NULL), BIZRA_STATUS_NULL_POINTER);
    ST(bizra_constitution_load(NULL, &f), BIZRA_STATUS_NULL_POINTER);
    ST(bizra_constitution_from_json(NULL, &f), BIZRA_STATUS_NULL_POINTER);
    ST(bizra_constitution_hash_hex(NULL, &s), BIZRA_STATUS_NULL_POINTER);
    ST(bizra_constitution_version(c, NULL), BIZRA_STATUS_NULL_POINTER);
    ST(bizra_constitution_thresholds(NULL, &t), BIZRA_STATUS_NULL_POINTER);
    ST(bizra_constitution_quorum(3, NULL), BIZRA_STATUS_NULL_POINTER);
    ST(bizra_constitution_check(c, NULL, &rep), BIZRA_STATUS_NULL_POINTER);
    ST(bizra_constitution_check(NULL, &in, &rep), BIZRA_STATUS_NULL_POINTER);
    ST(bizra_compliance_report_compliant(NULL, &ok), BIZRA_STATUS_NULL_POINTER);
    ST(bizra_compliance_report_count(NULL, &n), BIZRA_STATUS_NULL_POINTER);
    ST(bizra_compliance_report_rule(NULL, 0, &r), BIZRA_STATUS_NULL_POINTER);
    bizra_compliance_report_free(NULL);
    bizra_constitution_free(NULL);
    bizra_constitution_free(c);
}

static void test_tier(void) {
    current = "tier";
    uint32_t cx = 99;
    OK(bizra_task_complexity_estimate("What is 2+2?", 64, &cx));
    CHECK(cx == BIZRA_TASK_COMPLEXITY_SIMPLE);
    OK(bizra_task_complexity_estimate("Please explain this", 64, &cx));
    CHECK(cx == BIZRA_TASK_COMPLEXITY_COMPLEX);
    OK(bizra_task_complexity_estimate("hi", 4000, &cx));
    CHECK(cx == BIZRA_TASK_COMPLEXITY_EXPERT);
    ST(bizra_task_complexity_estimate(NULL, 1, &cx), BIZRA_STATUS_NULL_POINTER);
    ST(bizra_task_complexity_estimate("x", 1, NULL), BIZRA_STATUS_NULL_POINTER);
    bizra_tier_decision d;
    OK(bizra_select_tier("What is 2+2?", 64, BIZRA_MODEL_TIER_NONE, &d));
    CHECK(d.tier == BIZRA_MODEL_TIER_EDGE && !d.forced && d.reason && strlen(d.reason) > 0);
    bizra_string_free(d.reason);
    OK(bizra_select_tier("What is 2+2?", 64, BIZRA_MODEL_TIER_POOL, &d));
    CHECK(d.tier == BIZRA_MODEL_TIER_POOL && d.forced);
    bizra_string_free(d.reason);
    ST(bizra_select_tier("x", 1, 9, &d), BIZRA_STATUS_INVALID_ARGUMENT);
    ST(bizra_select_tier(NULL, 1, 0, &d), BIZRA_STATUS_NULL_POINTER);
    ST(bizra_select_tier("x", 1, 0, NULL), BIZRA_STATUS_NULL_POINTER);
    CHECK(strcmp(bizra_model_tier_name(BIZRA_MODEL_TIER_LOCAL), "local") == 0);
    CHECK(strcmp(bizra_model_tier_name(0), "none") == 0);
    CHECK(bizra_model_tier_name(17) == NULL);

    bizra_hardware_profile *hp = NULL;
    OK(bizra_hardware_profile_detect(&hp));
    bizra_hardware_info info;
    OK(bizra_hardware_profile_info(hp, &info));
    CHECK(info.logical_cpus >= 1 && info.cpu_cores >= 1 && info.ram_total_bytes > 0);
    bizra_gpu_info g;
    for (size_t i = 0; i < info.gpu_count; i++) {
        OK(bizra_hardware_profile_gpu(hp, i, &g));
        CHECK(g.name != NULL);
    }
    ST(bizra_hardware_profile_gpu(hp, info.gpu_count, &g), BIZRA_STATUS_OUT_OF_RANGE);
    uint32_t max = 99;
    OK(bizra_hardware_profile_max_local_tier(hp, &max));
    CHECK(max <= BIZRA_MODEL_TIER_LOCAL);
    bool can = true;
    OK(bizra_hardware_profile_can_serve(hp, BIZRA_MODEL_TIER_POOL, &can));
    CHECK(!can);
    ST(bizra_hardware_profile_can_serve(hp, 0, &can), BIZRA_STATUS_INVALID_ARGUMENT);
    ST(bizra_hardware_profile_detect(NULL), BIZRA_STATUS_NULL_POINTER);
    ST(bizra_hardware_profile_info(NULL, &info), BIZRA_STATUS_NULL_POINTER);
    ST(bizra_hardware_profile_gpu(NULL, 0, &g), BIZRA_STATUS_NULL_POINTER);
    ST(bizra_hardware_profile_max_local_tier(hp, NULL), BIZRA_STATUS_NULL_POINTER);
    ST(bizra_hardware_profile_can_serve(NULL, 1, &can), BIZRA_STATUS_NULL_POINTER);
    bizra_hardware_profile_free(NULL);
    bizra_hardware_profile_free(hp);
}

/* ---------------------------------------------------------------------------------------- */
/* Threads: shared immutable handles, a shared chain with a custom gate, per-thread errors. */

enum { THREADS = 4, PER_THREAD = 25 };

struct shared {
    const bizra_identity *id;
    const bizra_envelope *env;
    const bizra_gate_chain *chain;
    atomic_int admitted;
    atomic_int errors;
};

static void *worker(void *arg) {
    struct shared *sh = arg;
    char tag[64];
    snprintf(tag, sizeof tag, "thread-%lu", (unsigned long)pthread_self());
    /* Each thread's last error is its own. */
    bizra_identity *none = NULL;
    if (bizra_identity_from_pem(tag, NULL, &none) != BIZRA_STATUS_KEY) atomic_fetch_add(&sh->errors, 1);
    for (int i = 0; i < PER_THREAD; i++) {
        bizra_envelope *e = fresh(sh->id, "{\"n\":1}", 0.9, 0.99);
        if (bizra_envelope_verify(e, NULL, NULL) != BIZRA_STATUS_OK) atomic_fetch_add(&sh->errors, 1);
        if (bizra_envelope_verify(sh->env, NULL, NULL) != BIZRA_STATUS_OK) atomic_fetch_add(&sh->errors, 1);
        if (bizra_gate_chain_admit(sh->chain, e, NULL, NULL, NULL) == BIZRA_STATUS_OK)
            atomic_fetch_add(&sh->admitted, 1);
        /* Every thread tries the shared envelope: exactly one admission overall. */
        if (bizra_gate_chain_admit(sh->chain, sh->env, NULL, NULL, NULL) == BIZRA_STATUS_OK)
            atomic_fetch_add(&sh->admitted, 1000);
        bizra_envelope_free(e);
    }
    /* This thread's last error is its own, whatever the others do meanwhile. */
    if (bizra_identity_from_seed(NULL, 7, &none) != BIZRA_STATUS_NULL_POINTER) atomic_fetch_add(&sh->errors, 1);
    char msg[512];
    if (bizra_last_error(msg, sizeof msg, NULL) != BIZRA_STATUS_OK || strstr(msg, "bizra_identity_from_seed") == NULL)
        atomic_fetch_add(&sh->errors, 1);
    return NULL;
}

static void test_threads(void) {
    current = "threads";
    bizra_identity *id = NULL;
    OK(bizra_identity_generate(&id));
    bizra_envelope *env = fresh(id, "{\"shared\":true}", 0.9, 0.99);
    bizra_gate_chain *chain = NULL;
    OK(bizra_gate_chain_new_default(&chain));
    struct gate_state st = {0, 0, 0};
    OK(bizra_gate_chain_add_custom(chain, "count", BIZRA_GATE_TIER_MEDIUM, my_gate, &st, free_state));
    struct shared sh = {id, env, chain, 0, 0};
    pthread_t t[THREADS];
    for (int i = 0; i < THREADS; i++) CHECK(pthread_create(&t[i], NULL, worker, &sh) == 0);
    for (int i = 0; i < THREADS; i++) pthread_join(t[i], NULL);
    CHECK(atomic_load(&sh.errors) == 0);
    CHECK(atomic_load(&sh.admitted) == THREADS * PER_THREAD + 1000);
    CHECK(atomic_load(&st.calls) >= THREADS * PER_THREAD);
    /* This thread's last error is untouched by the workers' failures. */
    ST(bizra_identity_from_seed(NULL, 32, &id), BIZRA_STATUS_NULL_POINTER);
    char msg[512];
    OK(bizra_last_error(msg, sizeof msg, NULL));
    CHECK(strstr(msg, "bizra_identity_from_seed") != NULL);
    bizra_gate_chain_free(chain);
    CHECK(st.freed == 1);
    bizra_envelope_free(env);
    bizra_identity_free(id);
}

/* Embedded inference without a model (tests/c/test_inference.c runs the real one): cancel tokens,
 * floats, NULL arguments, and every way a load fails before llama.cpp sees the file. */
static void write_file(const char *path, const void *data, size_t n) {
    FILE *f = fopen(path, "wb");
    CHECK(f != NULL);
    if (f) {
        CHECK(fwrite(data, 1, n, f) == n);
        fclose(f);
    }
}

static void expect_model_error(const char *path, const char *needle) {
    bizra_engine *e = (bizra_engine *)0x1;
    ST(bizra_engine_load(path, NULL, &e), BIZRA_STATUS_MODEL);
    CHECK(e == (bizra_engine *)0x1);
    char msg[1024] = "";
    OK(bizra_last_error(msg, sizeof msg, NULL));
    int clear = strstr(msg, "bizra_engine_load") != NULL && strstr(msg, path) != NULL &&
                strstr(msg, needle) != NULL;
    CHECK(clear);
    if (!clear) fprintf(stderr, "  message: %s\n  expected to name %s and say: %s\n", msg, path, needle);
}

static void test_engine_without_model(void) {
    current = "engine_without_model";
    CHECK(BIZRA_STATUS_MODEL == 11 && BIZRA_STATUS_CONTEXT_OVERFLOW == 12 && BIZRA_STATUS_INFERENCE == 13);
    CHECK(BIZRA_FINISH_REASON_EOS == 0 && BIZRA_FINISH_REASON_STOP == 1 &&
          BIZRA_FINISH_REASON_LENGTH == 2 && BIZRA_FINISH_REASON_CANCELLED == 3);

    bizra_cancel_token *tok = NULL;
    OK(bizra_cancel_token_new(&tok));
    bool cancelled = true;
    OK(bizra_cancel_token_is_cancelled(tok, &cancelled));
    CHECK(!cancelled);
    OK(bizra_cancel_token_cancel(tok));
    OK(bizra_cancel_token_cancel(tok)); /* idempotent */
    OK(bizra_cancel_token_is_cancelled(tok, &cancelled));
    CHECK(cancelled);
    ST(bizra_cancel_token_new(NULL), BIZRA_STATUS_NULL_POINTER);
    ST(bizra_cancel_token_cancel(NULL), BIZRA_STATUS_NULL_POINTER);
    ST(bizra_cancel_token_is_cancelled(NULL, &cancelled), BIZRA_STATUS_NULL_POINTER);
    ST(bizra_cancel_token_is_cancelled(tok, NULL), BIZRA_STATUS_NULL_POINTER);
    bizra_cancel_token_free(tok);
    bizra_cancel_token_free(NULL);

    bizra_floats_free(NULL);
    bizra_floats none = {NULL, 0};
    bizra_floats_free(&none);
    CHECK(none.data == NULL && none.len == 0);

    char dir[] = "/tmp/bizra-c-XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    char absent[256], text[256], cut[256];
    snprintf(absent, sizeof absent, "%s/absent.gguf", dir);
    expect_model_error(absent, "no such file");
    snprintf(text, sizeof text, "%s/notes.gguf", dir);
    write_file(text, "hello, not a model\n", 19);
    expect_model_error(text, "not a GGUF file");
    /* The magic, version 3, then a tensor count cut short. */
    snprintf(cut, sizeof cut, "%s/cut.gguf", dir);
    write_file(cut, "GGUF\x03\0\0\0\x01\0\0", 11);
    expect_model_error(cut, "truncated GGUF file");
    expect_model_error(dir, "not a regular file");

    bizra_engine *e = (bizra_engine *)0x1;
    ST(bizra_engine_load(NULL, NULL, &e), BIZRA_STATUS_NULL_POINTER);
    ST(bizra_engine_load(text, NULL, NULL), BIZRA_STATUS_NULL_POINTER);
    ST(bizra_engine_load("\xff.gguf", NULL, &e), BIZRA_STATUS_INVALID_ARGUMENT);
    bizra_engine_options eo;
    memset(&eo, 0, sizeof eo);
    eo.struct_size = 4;
    ST(bizra_engine_load(text, &eo, &e), BIZRA_STATUS_INVALID_ARGUMENT);
    CHECK(e == (bizra_engine *)0x1);
    unlink(text);
    unlink(cut);
    rmdir(dir);

    bizra_identity *id = NULL;
    OK(bizra_identity_generate(&id));
    bizra_model_info info;
    ST(bizra_engine_info(NULL, &info), BIZRA_STATUS_NULL_POINTER);
    bizra_envelope *env = NULL;
    uint32_t finish = 99;
    ST(bizra_engine_generate(NULL, id, "hi", NULL, &env, &finish), BIZRA_STATUS_NULL_POINTER);
    ST(bizra_engine_generate(NULL, id, "hi", NULL, NULL, NULL), BIZRA_STATUS_NULL_POINTER);
    CHECK(env == NULL && finish == 99);
    bizra_floats f = {NULL, 0};
    ST(bizra_engine_embed(NULL, "hi", &f), BIZRA_STATUS_NULL_POINTER);
    ST(bizra_engine_embed(NULL, "hi", NULL), BIZRA_STATUS_NULL_POINTER);
    CHECK(f.data == NULL);
    bizra_engine_free(NULL);
    bizra_identity_free(id);
}

int main(void) {
    test_version();
    test_last_error();
    test_status();
    test_strings_and_bytes();
    test_reject_names();
    test_timestamps();
    test_identity();
    test_envelope_vectors();
    test_reject_vectors();
    test_garbage();
    test_create_and_verify();
    test_open();
    test_batch();
    test_gate_chain();
    test_constitution();
    test_tier();
    test_threads();
    test_engine_without_model();
    return check_summary();
}
