/* The C suite of commit certificates (tests/vectors/CONSENSUS-v1.md), verified offline: this
 * program never starts a node, opens no socket and reads no clock, so every verdict below is
 * what a fresh process holding only a federation document reaches. The vectors were computed
 * independently of bizra: both documents and their hashes, all 25 certificate cases with their
 * verdicts (every refusal code), the batches a certificate is checked against; then every
 * one-byte mutation of a valid certificate is refused, the handles are shared between threads,
 * and NULL or malformed arguments give clear statuses and last errors with out-params untouched.
 * Equivocation evidence made of the vectors' wire messages is refused with the code of its
 * first failed check (malformed, different step, validator or round, not conflicting); valid
 * evidence needs two conflicting signed messages, which bizra-sys's Rust tests build.
 * Prints "N passed, N failed"; exits non-zero on failure.
 *
 * Built by mk/c.mk against the shared and the static library, run natively, under valgrind and
 * with AddressSanitizer + UBSan. consensus_vectors.h is generated from
 * tests/vectors/consensus-v1-vectors.json by tests/c/gen_consensus_vectors.py. */
#define _GNU_SOURCE
#include "bizra.h"
#include "check.h"
#include "consensus_vectors.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Compares library bytes, as hex, with an expected hex string, then frees them. */
static int take_hex_eq(bizra_bytes *b, const char *expect_hex) {
    char hex[2 * 64 + 1] = "";
    if (b->len <= 64) hex_encode(b->data, b->len, hex);
    int eq = strcmp(hex, expect_hex) == 0;
    if (!eq) fprintf(stderr, "  got:    %s\n  expect: %s\n", hex, expect_hex);
    bizra_bytes_free(b);
    return eq;
}

/* Whether this thread's last error contains `needle`. */
static int last_error_has(const char *needle) {
    char buf[1024] = "";
    bizra_last_error(buf, sizeof buf, NULL);
    int has = strstr(buf, needle) != NULL;
    if (!has) fprintf(stderr, "  last error \"%s\" lacks \"%s\"\n", buf, needle);
    return has;
}

static const struct vec_document *vec_document(const char *name) {
    for (size_t i = 0; i < VEC_COUNT(VEC_DOCUMENTS); i++)
        if (strcmp(VEC_DOCUMENTS[i].name, name) == 0) return &VEC_DOCUMENTS[i];
    fprintf(stderr, "no document %s in the vectors\n", name);
    abort();
}

static const struct vec_batch *vec_batch(const char *name) {
    for (size_t i = 0; i < VEC_COUNT(VEC_BATCHES); i++)
        if (strcmp(VEC_BATCHES[i].name, name) == 0) return &VEC_BATCHES[i];
    fprintf(stderr, "no batch %s in the vectors\n", name);
    abort();
}

static const struct vec_certificate *vec_certificate(const char *name) {
    for (size_t i = 0; i < VEC_COUNT(VEC_CERTIFICATES); i++)
        if (strcmp(VEC_CERTIFICATES[i].name, name) == 0) return &VEC_CERTIFICATES[i];
    fprintf(stderr, "no certificate %s in the vectors\n", name);
    abort();
}

static bizra_federation_document *document(const char *name) {
    const char *json = vec_document(name)->json;
    bizra_federation_document *doc = NULL;
    if (bizra_federation_document_from_json(json, strlen(json), &doc) != BIZRA_STATUS_OK) abort();
    return doc;
}

static bizra_certificate *certificate(const char *name) {
    const char *json = vec_certificate(name)->json;
    bizra_certificate *cert = NULL;
    if (bizra_certificate_from_json(json, strlen(json), &cert, NULL) != BIZRA_STATUS_OK) abort();
    return cert;
}

/* The codes: the spec's numbers, each named after the core's code; 0 is VALID. */
static void test_code_names(void) {
    current = "code_names";
    CHECK(BIZRA_CERTIFICATE_CODE_VALID == 0 && BIZRA_CERTIFICATE_CODE_MALFORMED == 1 &&
          BIZRA_CERTIFICATE_CODE_WRONG_FEDERATION == 2 && BIZRA_CERTIFICATE_CODE_WRONG_EPOCH == 3 &&
          BIZRA_CERTIFICATE_CODE_UNKNOWN_SIGNER == 4 && BIZRA_CERTIFICATE_CODE_DUPLICATE_SIGNER == 5 &&
          BIZRA_CERTIFICATE_CODE_BAD_SIGNATURE == 6 && BIZRA_CERTIFICATE_CODE_INSUFFICIENT_POWER == 7 &&
          BIZRA_CERTIFICATE_CODE_VALUE_MISMATCH == 8);
    static const char *names[] = {"VALID",          "MALFORMED",        "WRONG_FEDERATION",
                                  "WRONG_EPOCH",    "UNKNOWN_SIGNER",   "DUPLICATE_SIGNER",
                                  "BAD_SIGNATURE",  "INSUFFICIENT_POWER", "VALUE_MISMATCH"};
    for (uint32_t code = 0; code < sizeof names / sizeof names[0]; code++) {
        const char *name = bizra_certificate_code_name(code);
        CHECK(name != NULL && strcmp(name, names[code]) == 0);
    }
    CHECK(bizra_certificate_code_name(9) == NULL);
    CHECK(bizra_certificate_code_name(UINT32_MAX) == NULL);
    CHECK(bizra_certificate_code_name(6) == bizra_certificate_code_name(6)); /* static */
    CHECK(strcmp(bizra_status_name(BIZRA_STATUS_CERTIFICATE_REFUSED), "CERTIFICATE_REFUSED") == 0);
}

/* Both documents: read from the vectors' JSON, hashed to the vectors' hashes, their facts. */
static void test_documents(void) {
    current = "documents";
    for (size_t i = 0; i < VEC_COUNT(VEC_DOCUMENTS); i++) {
        const struct vec_document *v = &VEC_DOCUMENTS[i];
        bizra_federation_document *doc = NULL;
        OK(bizra_federation_document_from_json(v->json, strlen(v->json), &doc));
        if (doc == NULL) continue;
        bizra_bytes hash = {NULL, 0};
        OK(bizra_federation_document_hash(doc, &hash));
        CHECK(hash.len == 32);
        CHECK(take_hex_eq(&hash, v->hash));
        char *s = NULL;
        OK(bizra_federation_document_federation(doc, &s));
        CHECK(take_eq(s, v->federation));
        OK(bizra_federation_document_to_json(doc, &s));
        CHECK(take_eq(s, v->json)); /* the vectors' JSON is canonical */
        uint64_t epoch = 0, total = 0, power = 0;
        size_t n = 0;
        OK(bizra_federation_document_epoch(doc, &epoch));
        CHECK(epoch == v->epoch);
        OK(bizra_federation_document_total_power(doc, &total));
        CHECK(total == v->total_power);
        OK(bizra_federation_document_validator_count(doc, &n));
        CHECK(n == v->n_validators);
        char *key = NULL;
        OK(bizra_federation_document_validator(doc, 0, &key, &power));
        CHECK(take_eq(key, v->first_key));
        CHECK(power == v->first_power);
        key = (char *)0x1;
        power = 99;
        ST(bizra_federation_document_validator(doc, n, &key, &power), BIZRA_STATUS_OUT_OF_RANGE);
        CHECK(key == (char *)0x1 && power == 99); /* untouched */
        CHECK(last_error_has("validators"));
        bizra_federation_document_free(doc);
    }
}

/* Every certificate case of the vectors gets its verdict: read, then verified against its
 * document (and its batch, where the case names one). A valid certificate's canonical JSON is
 * the vectors' text, and its accessors say what the text says. */
static void test_certificate_vectors(void) {
    current = "certificate_vectors";
    int seen[9] = {0};
    size_t n_ok = 0;
    for (size_t i = 0; i < VEC_COUNT(VEC_CERTIFICATES); i++) {
        const struct vec_certificate *v = &VEC_CERTIFICATES[i];
        current = v->name;
        bizra_federation_document *doc = document(v->document);
        bizra_certificate *cert = NULL;
        uint32_t code = 99;
        bizra_status st = bizra_certificate_from_json(v->json, strlen(v->json), &cert, &code);
        if (st == BIZRA_STATUS_OK) {
            CHECK(code == BIZRA_CERTIFICATE_CODE_VALID && cert != NULL);
            code = 99;
            if (v->batch != NULL) {
                const char *batch = vec_batch(v->batch)->json;
                st = bizra_certificate_verify_batch(cert, batch, strlen(batch), doc, &code);
            } else {
                st = bizra_certificate_verify(cert, doc, &code);
            }
        } else {
            CHECK(cert == NULL); /* untouched */
        }
        const char *got = bizra_certificate_code_name(code);
        if (strcmp(v->expect, "ok") == 0) {
            ST(st, BIZRA_STATUS_OK);
            CHECK(code == BIZRA_CERTIFICATE_CODE_VALID);
            n_ok++;
            char *s = NULL;
            OK(bizra_certificate_to_json(cert, &s));
            CHECK(take_eq(s, v->json));
            OK(bizra_certificate_federation(cert, &s));
            CHECK(take_eq(s, vec_document(v->document)->federation));
            uint64_t epoch = 0;
            OK(bizra_certificate_epoch(cert, &epoch));
            CHECK(epoch == vec_document(v->document)->epoch);
            if (v->batch != NULL) {
                bizra_bytes value = {NULL, 0};
                OK(bizra_certificate_value(cert, &value));
                CHECK(take_hex_eq(&value, vec_batch(v->batch)->id));
            }
        } else {
            ST(st, BIZRA_STATUS_CERTIFICATE_REFUSED);
            CHECK(got != NULL && strcmp(got, v->expect) == 0);
            if (got == NULL || strcmp(got, v->expect) != 0)
                fprintf(stderr, "  %s: got code %u (%s), expected %s\n", v->name, code,
                        got ? got : "?", v->expect);
            /* The last error names the refusal and what exactly was wrong. */
            char words[64];
            snprintf(words, sizeof words, "certificate refused: %s (", v->expect);
            CHECK(last_error_has(words));
            if (code < 9) seen[code]++;
        }
        bizra_certificate_free(cert);
        bizra_federation_document_free(doc);
    }
    current = "certificate_vectors";
    CHECK(VEC_COUNT(VEC_CERTIFICATES) == 25);
    CHECK(n_ok == 5);
    for (int code = 1; code <= 8; code++) CHECK(seen[code] > 0); /* every refusal is exercised */
}

/* The accessors of one valid certificate, and verification with `code` NULL. */
static void test_accessors(void) {
    current = "accessors";
    bizra_federation_document *doc = document("equal");
    bizra_certificate *cert = certificate("round-two");
    uint64_t height = 0;
    uint32_t round = 99;
    size_t n = 0;
    OK(bizra_certificate_height(cert, &height));
    OK(bizra_certificate_round(cert, &round));
    OK(bizra_certificate_signature_count(cert, &n));
    CHECK(height > 0 && round == 2 && n >= 3);
    OK(bizra_certificate_verify(cert, doc, NULL));
    const char *batch = vec_batch("one")->json;
    OK(bizra_certificate_verify_batch(cert, batch, strlen(batch), doc, NULL));
    /* Another batch is not the certified value. */
    batch = vec_batch("two")->json;
    uint32_t code = 0;
    ST(bizra_certificate_verify_batch(cert, batch, strlen(batch), doc, &code),
       BIZRA_STATUS_CERTIFICATE_REFUSED);
    CHECK(code == BIZRA_CERTIFICATE_CODE_VALUE_MISMATCH);
    ST(bizra_certificate_verify_batch(cert, batch, strlen(batch), doc, NULL),
       BIZRA_STATUS_CERTIFICATE_REFUSED);
    CHECK(last_error_has(vec_batch("one")->id)); /* names the certified value */
    /* The other document (other powers, same validators) has another hash. */
    bizra_federation_document *weighted = document("weighted");
    bizra_bytes a = {NULL, 0}, b = {NULL, 0};
    OK(bizra_federation_document_hash(doc, &a));
    OK(bizra_federation_document_hash(weighted, &b));
    CHECK(a.len == 32 && b.len == 32 && memcmp(a.data, b.data, 32) != 0);
    bizra_bytes_free(&a);
    bizra_bytes_free(&b);
    bizra_federation_document_free(weighted);
    bizra_certificate_free(cert);
    bizra_federation_document_free(doc);
}

/* Every one-byte change of a valid certificate's text is refused, with a code: the text is
 * canonical, so a change either breaks the form (MALFORMED) or changes a signed field, a signer
 * or a signature. */
static void test_every_mutation_is_refused(void) {
    current = "mutations";
    bizra_federation_document *doc = document("equal");
    const char *json = vec_certificate("three-of-four")->json;
    size_t len = strlen(json);
    char *copy = malloc(len);
    int accepted = 0, uncoded = 0;
    for (size_t i = 0; i < len; i++) {
        memcpy(copy, json, len);
        copy[i] = (char)(copy[i] ^ 0x01);
        bizra_certificate *cert = NULL;
        uint32_t code = 0;
        bizra_status st = bizra_certificate_from_json(copy, len, &cert, &code);
        if (st == BIZRA_STATUS_OK) st = bizra_certificate_verify(cert, doc, &code);
        if (st == BIZRA_STATUS_OK) {
            accepted++;
            fprintf(stderr, "  byte %zu ('%c' -> '%c') still verifies\n", i, json[i], copy[i]);
        } else if (st != BIZRA_STATUS_CERTIFICATE_REFUSED || code == 0 || code > 8) {
            uncoded++;
        }
        bizra_certificate_free(cert);
    }
    CHECK(accepted == 0);
    CHECK(uncoded == 0);
    /* The unmutated text still verifies (the loop above tested mutations, not a broken copy). */
    bizra_certificate *cert = NULL;
    OK(bizra_certificate_from_json(json, len, &cert, NULL));
    OK(bizra_certificate_verify(cert, doc, NULL));
    bizra_certificate_free(cert);
    free(copy);
    bizra_federation_document_free(doc);
}

/* Documents and certificates are immutable: one of each, verified on several threads at once. */
struct shared {
    const bizra_certificate *cert;
    const bizra_federation_document *doc;
    int failures;
};

static void *verify_many(void *arg) {
    struct shared *s = arg;
    for (int i = 0; i < 20; i++)
        if (bizra_certificate_verify(s->cert, s->doc, NULL) != BIZRA_STATUS_OK) s->failures++;
    return NULL;
}

static void test_threads(void) {
    current = "threads";
    bizra_federation_document *doc = document("equal");
    bizra_certificate *cert = certificate("four-of-four");
    pthread_t t[4];
    struct shared s[4];
    for (int i = 0; i < 4; i++) {
        s[i] = (struct shared){cert, doc, 0};
        CHECK(pthread_create(&t[i], NULL, verify_many, &s[i]) == 0);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(t[i], NULL);
        CHECK(s[i].failures == 0);
    }
    bizra_certificate_free(cert);
    bizra_federation_document_free(doc);
}

/* NULL and malformed arguments: the statuses of the C conventions, a last error naming the
 * argument and what is wrong with it, out-params untouched. */
static void test_bad_arguments(void) {
    current = "bad_arguments";
    bizra_federation_document *doc = (bizra_federation_document *)0x1;
    ST(bizra_federation_document_from_json(NULL, 5, &doc), BIZRA_STATUS_NULL_POINTER);
    CHECK(last_error_has("bizra_federation_document_from_json: json is NULL"));
    ST(bizra_federation_document_from_json("{}", 2, NULL), BIZRA_STATUS_NULL_POINTER);
    CHECK(last_error_has("out is NULL"));
    ST(bizra_federation_document_from_json("{", 1, &doc), BIZRA_STATUS_INVALID_ARGUMENT);
    CHECK(last_error_has("not I-JSON"));
    ST(bizra_federation_document_from_json("\xff", 1, &doc), BIZRA_STATUS_INVALID_ARGUMENT);
    CHECK(last_error_has("json is not UTF-8 (at byte 0)"));
    const char *extra = "{\"epoch\":1,\"federation\":\"f\",\"validators\":[],\"quorum\":3}";
    ST(bizra_federation_document_from_json(extra, strlen(extra), &doc), BIZRA_STATUS_INVALID_ARGUMENT);
    CHECK(last_error_has("unknown field \"quorum\""));
    const char *none = "{\"epoch\":1,\"federation\":\"f\",\"validators\":[]}";
    ST(bizra_federation_document_from_json(none, strlen(none), &doc), BIZRA_STATUS_INVALID_ARGUMENT);
    CHECK(last_error_has("validators"));
    CHECK(doc == (bizra_federation_document *)0x1); /* untouched by every failure */
    bizra_bytes bytes = {NULL, 0};
    char *s = NULL;
    uint64_t u64 = 0;
    uint32_t u32 = 0;
    size_t n = 0;
    ST(bizra_federation_document_hash(NULL, &bytes), BIZRA_STATUS_NULL_POINTER);
    CHECK(last_error_has("doc is NULL"));
    ST(bizra_federation_document_federation(NULL, &s), BIZRA_STATUS_NULL_POINTER);
    ST(bizra_federation_document_to_json(NULL, &s), BIZRA_STATUS_NULL_POINTER);
    ST(bizra_federation_document_epoch(NULL, &u64), BIZRA_STATUS_NULL_POINTER);
    ST(bizra_federation_document_total_power(NULL, &u64), BIZRA_STATUS_NULL_POINTER);
    ST(bizra_federation_document_validator_count(NULL, &n), BIZRA_STATUS_NULL_POINTER);
    ST(bizra_federation_document_validator(NULL, 0, &s, &u64), BIZRA_STATUS_NULL_POINTER);
    CHECK(s == NULL && bytes.data == NULL);
    bizra_federation_document_free(NULL);

    bizra_federation_document *real = document("equal");
    ST(bizra_federation_document_hash(real, NULL), BIZRA_STATUS_NULL_POINTER);
    ST(bizra_federation_document_validator(real, 0, NULL, &u64), BIZRA_STATUS_NULL_POINTER);
    CHECK(last_error_has("key_hex is NULL"));
    ST(bizra_federation_document_validator(real, 0, &s, NULL), BIZRA_STATUS_NULL_POINTER);
    CHECK(last_error_has("power is NULL"));
    CHECK(s == NULL);

    /* A certificate that is not one is a refusal with code MALFORMED, whatever its bytes. */
    bizra_certificate *cert = (bizra_certificate *)0x1;
    uint32_t code = 99;
    ST(bizra_certificate_from_json("\xff\xfe", 2, &cert, &code), BIZRA_STATUS_CERTIFICATE_REFUSED);
    CHECK(code == BIZRA_CERTIFICATE_CODE_MALFORMED);
    CHECK(last_error_has("certificate refused: MALFORMED (not UTF-8 (at byte 0))"));
    code = 99;
    ST(bizra_certificate_from_json("[]", 2, &cert, &code), BIZRA_STATUS_CERTIFICATE_REFUSED);
    CHECK(code == BIZRA_CERTIFICATE_CODE_MALFORMED);
    CHECK(last_error_has("a certificate is a JSON object"));
    code = 99;
    ST(bizra_certificate_from_json(NULL, 0, &cert, &code), BIZRA_STATUS_CERTIFICATE_REFUSED);
    CHECK(code == BIZRA_CERTIFICATE_CODE_MALFORMED); /* no bytes: not JSON */
    code = 99;
    ST(bizra_certificate_from_json(NULL, 3, &cert, &code), BIZRA_STATUS_NULL_POINTER);
    CHECK(last_error_has("json is NULL"));
    CHECK(code == 99); /* not a verdict: no code */
    ST(bizra_certificate_from_json("{}", 2, NULL, &code), BIZRA_STATUS_NULL_POINTER);
    CHECK(cert == (bizra_certificate *)0x1);

    bizra_certificate *good = certificate("three-of-four");
    ST(bizra_certificate_verify(NULL, real, &code), BIZRA_STATUS_NULL_POINTER);
    CHECK(last_error_has("bizra_certificate_verify: cert is NULL"));
    ST(bizra_certificate_verify(good, NULL, &code), BIZRA_STATUS_NULL_POINTER);
    CHECK(last_error_has("bizra_certificate_verify: doc is NULL"));
    CHECK(code == 99);
    const char *batch = vec_batch("two")->json;
    ST(bizra_certificate_verify_batch(NULL, batch, strlen(batch), real, &code), BIZRA_STATUS_NULL_POINTER);
    ST(bizra_certificate_verify_batch(good, batch, strlen(batch), NULL, &code), BIZRA_STATUS_NULL_POINTER);
    ST(bizra_certificate_verify_batch(good, NULL, 4, real, &code), BIZRA_STATUS_NULL_POINTER);
    CHECK(last_error_has("batch_json is NULL"));
    /* A batch that cannot be read is a wrong argument, not a refused certificate. */
    ST(bizra_certificate_verify_batch(good, "[1]", 3, real, &code), BIZRA_STATUS_INVALID_ARGUMENT);
    CHECK(last_error_has("batch[0]"));
    ST(bizra_certificate_verify_batch(good, "{}", 2, real, &code), BIZRA_STATUS_INVALID_ARGUMENT);
    CHECK(last_error_has("batch must be a JSON array"));
    ST(bizra_certificate_verify_batch(good, "\xff", 1, real, &code), BIZRA_STATUS_INVALID_ARGUMENT);
    CHECK(last_error_has("batch_json is not UTF-8"));
    CHECK(code == 99); /* no verdict, no code */
    ST(bizra_certificate_to_json(NULL, &s), BIZRA_STATUS_NULL_POINTER);
    ST(bizra_certificate_to_json(good, NULL), BIZRA_STATUS_NULL_POINTER);
    ST(bizra_certificate_federation(NULL, &s), BIZRA_STATUS_NULL_POINTER);
    ST(bizra_certificate_epoch(NULL, &u64), BIZRA_STATUS_NULL_POINTER);
    ST(bizra_certificate_height(NULL, &u64), BIZRA_STATUS_NULL_POINTER);
    ST(bizra_certificate_height(good, NULL), BIZRA_STATUS_NULL_POINTER);
    ST(bizra_certificate_round(NULL, &u32), BIZRA_STATUS_NULL_POINTER);
    ST(bizra_certificate_value(NULL, &bytes), BIZRA_STATUS_NULL_POINTER);
    ST(bizra_certificate_signature_count(NULL, &n), BIZRA_STATUS_NULL_POINTER);
    CHECK(last_error_has("cert is NULL"));
    CHECK(s == NULL && bytes.data == NULL);
    bizra_certificate_free(NULL);
    bizra_certificate_free(good);
    bizra_federation_document_free(real);
}

/* Bytes from the vectors' hex, into `out` (the caller frees it). */
static uint8_t *hex_bytes(const char *hex, size_t *len) {
    size_t n = strlen(hex) / 2;
    uint8_t *out = malloc(n ? n : 1);
    for (size_t i = 0; i < n; i++) {
        unsigned b = 0;
        sscanf(hex + 2 * i, "%2x", &b);
        out[i] = (uint8_t)b;
    }
    *len = n;
    return out;
}

static const struct vec_wire *vec_wire(const char *name) {
    for (size_t i = 0; i < VEC_COUNT(VEC_WIRE); i++)
        if (strcmp(VEC_WIRE[i].name, name) == 0) return &VEC_WIRE[i];
    fprintf(stderr, "no wire message %s in the vectors\n", name);
    abort();
}

/* Evidence of two wire messages, stated as the first one says (its signer, height and round),
 * with `step`; the caller frees the bytes with free_evidence. */
static bizra_evidence evidence_of(const char *first, const char *second, uint32_t step) {
    const struct vec_wire *a = vec_wire(first), *b = vec_wire(second);
    bizra_evidence e;
    memset(&e, 0, sizeof e);
    if (a->signer) snprintf(e.validator, sizeof e.validator, "%s", a->signer);
    e.height = a->height;
    e.round = (uint32_t)a->round;
    e.step = step;
    e.first.data = hex_bytes(a->hex, &e.first.len);
    e.second.data = hex_bytes(b->hex, &e.second.len);
    return e;
}

static void free_evidence(bizra_evidence *e) {
    free(e->first.data);
    free(e->second.data);
}

/* Refused evidence: EVIDENCE_REFUSED with `expect` in *code and its name in the last error. */
static void check_refused(const bizra_federation_document *doc, const char *first,
                          const char *second, uint32_t step, uint32_t expect) {
    bizra_evidence e = evidence_of(first, second, step);
    uint32_t code = 99;
    ST(bizra_evidence_verify(doc, &e, &code), BIZRA_STATUS_EVIDENCE_REFUSED);
    CHECK(code == expect);
    if (code != expect) fprintf(stderr, "  %s + %s: code %u, expected %u\n", first, second, code, expect);
    CHECK(last_error_has(bizra_evidence_code_name(expect)));
    free_evidence(&e);
}

/* Equivocation evidence, verified offline against the wire vectors' document: each check's code
 * in order, from the vectors' real messages; then garbage and unreadable structs. */
static void test_evidence(void) {
    current = "evidence";
    /* The names: the codes of CONSENSUS-v1, the steps, the status. */
    static const char *codes[] = {"VALID", "MALFORMED", "DIFFERENT_STEP", "DIFFERENT_VALIDATOR",
                                  "DIFFERENT_ROUND", "NOT_CONFLICTING", "FIELDS_MISMATCH",
                                  "UNKNOWN_VALIDATOR", "BAD_SIGNATURE"};
    for (uint32_t i = 0; i < 9; i++) CHECK(strcmp(bizra_evidence_code_name(i), codes[i]) == 0);
    CHECK(bizra_evidence_code_name(9) == NULL);
    CHECK(BIZRA_EVIDENCE_CODE_BAD_SIGNATURE == 8 && BIZRA_EVIDENCE_CODE_MALFORMED == 1);
    CHECK(strcmp(bizra_evidence_step_name(BIZRA_EVIDENCE_STEP_PROPOSAL), "proposal") == 0);
    CHECK(strcmp(bizra_evidence_step_name(BIZRA_EVIDENCE_STEP_PREVOTE), "prevote") == 0);
    CHECK(strcmp(bizra_evidence_step_name(BIZRA_EVIDENCE_STEP_PRECOMMIT), "precommit") == 0);
    CHECK(bizra_evidence_step_name(3) == NULL);
    CHECK(strcmp(bizra_status_name(BIZRA_STATUS_EVIDENCE_REFUSED), "EVIDENCE_REFUSED") == 0);

    bizra_federation_document *doc = document(VEC_WIRE_DOCUMENT);
    const uint32_t PREVOTE = BIZRA_EVIDENCE_STEP_PREVOTE, PROPOSAL = BIZRA_EVIDENCE_STEP_PROPOSAL;
    /* A submission or a decision is no vote or proposal; nor are bytes that do not decode. */
    check_refused(doc, "vote-prevote", "submission", PREVOTE, BIZRA_EVIDENCE_CODE_MALFORMED);
    check_refused(doc, "decision", "vote-prevote", PREVOTE, BIZRA_EVIDENCE_CODE_MALFORMED);
    /* A prevote and a precommit; a vote and a proposal. */
    check_refused(doc, "vote-prevote", "vote-precommit", PREVOTE, BIZRA_EVIDENCE_CODE_DIFFERENT_STEP);
    check_refused(doc, "vote-prevote", "proposal", PREVOTE, BIZRA_EVIDENCE_CODE_DIFFERENT_STEP);
    /* Two validators' prevotes. */
    check_refused(doc, "vote-prevote", "vote-prevote-nil", PREVOTE,
                  BIZRA_EVIDENCE_CODE_DIFFERENT_VALIDATOR);
    /* One proposer, rounds 0 and 3. */
    check_refused(doc, "proposal", "proposal-pol", PROPOSAL, BIZRA_EVIDENCE_CODE_DIFFERENT_ROUND);
    /* The same signed message twice. */
    check_refused(doc, "vote-prevote", "vote-prevote", PREVOTE, BIZRA_EVIDENCE_CODE_NOT_CONFLICTING);
    check_refused(doc, "proposal", "proposal", PROPOSAL, BIZRA_EVIDENCE_CODE_NOT_CONFLICTING);

    /* Garbage: empty, short, random bytes, each message in turn. */
    static const uint8_t junk[] = {0x01, 0x01, 0xde, 0xad, 0xbe, 0xef};
    bizra_evidence e = evidence_of("vote-prevote", "vote-prevote", PREVOTE);
    uint8_t *real = e.second.data;
    size_t real_len = e.second.len;
    uint32_t code = 99;
    e.second.data = (uint8_t *)junk;
    e.second.len = sizeof junk;
    ST(bizra_evidence_verify(doc, &e, &code), BIZRA_STATUS_EVIDENCE_REFUSED);
    CHECK(code == BIZRA_EVIDENCE_CODE_MALFORMED);
    CHECK(last_error_has("second"));
    e.second.data = NULL;
    e.second.len = 0;
    code = 99;
    ST(bizra_evidence_verify(doc, &e, &code), BIZRA_STATUS_EVIDENCE_REFUSED);
    CHECK(code == BIZRA_EVIDENCE_CODE_MALFORMED);
    ST(bizra_evidence_verify(doc, &e, NULL), BIZRA_STATUS_EVIDENCE_REFUSED); /* code may be NULL */
    e.second.data = real;
    e.second.len = real_len;

    /* Unreadable structs and NULL arguments: no verdict, *code untouched. */
    code = 99;
    e.second.data = NULL; /* with a length */
    ST(bizra_evidence_verify(doc, &e, &code), BIZRA_STATUS_NULL_POINTER);
    CHECK(last_error_has("evidence.second.data is NULL"));
    e.second.data = real;
    e.step = 3;
    ST(bizra_evidence_verify(doc, &e, &code), BIZRA_STATUS_INVALID_ARGUMENT);
    CHECK(last_error_has("evidence.step 3"));
    e.step = PREVOTE;
    memset(e.validator, 'a', sizeof e.validator); /* no NUL */
    ST(bizra_evidence_verify(doc, &e, &code), BIZRA_STATUS_INVALID_ARGUMENT);
    CHECK(last_error_has("not NUL-terminated"));
    ST(bizra_evidence_verify(NULL, &e, &code), BIZRA_STATUS_NULL_POINTER);
    CHECK(last_error_has("doc is NULL"));
    ST(bizra_evidence_verify(doc, NULL, &code), BIZRA_STATUS_NULL_POINTER);
    CHECK(last_error_has("evidence is NULL"));
    CHECK(code == 99);
    free_evidence(&e);
    bizra_federation_document_free(doc);
}

int main(void) {
    test_code_names();
    test_documents();
    test_certificate_vectors();
    test_accessors();
    test_every_mutation_is_refused();
    test_threads();
    test_bad_arguments();
    test_evidence();
    return check_summary();
}
