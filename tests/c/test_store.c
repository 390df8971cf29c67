/* The C suite of the autopoiesis store: learning from signed envelopes (new, observed, already
 * known), recall by vector and, with the real model, by text, feedback, local elevation,
 * preferences (reinforcement, the active value, the system prompt), export to a file and import
 * (a tampered line refused with its line number, nothing written), a file store reopened, and bad
 * input refused with nothing written. Prints "N passed, N failed"; exits non-zero on failure.
 *
 * Built by mk/c.mk and run natively and under AddressSanitizer + UBSan (embedding with the real
 * model is minutes under valgrind). */
#define _GNU_SOURCE
#include "bizra.h"
#include "check.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static bizra_identity *id;

/* A signed bizra.pattern envelope carrying `content`. */
static bizra_envelope *pattern(const char *content) {
    char json[512];
    snprintf(json, sizeof json, "{\"type\":\"bizra.pattern\",\"content\":\"%s\"}", content);
    bizra_envelope *env = NULL;
    OK(bizra_envelope_create(id, json, NULL, &env));
    return env;
}

/* Whether the library string `s` contains `needle`; frees it. */
static int take_contains(char *s, const char *needle) {
    int found = s != NULL && strstr(s, needle) != NULL;
    if (!found) fprintf(stderr, "  %s\n  does not contain %s\n", s ? s : "(null)", needle);
    bizra_string_free(s);
    return found;
}

static int last_error_contains(const char *needle) {
    char buf[1024] = "";
    bizra_last_error(buf, sizeof buf, NULL);
    int found = strstr(buf, needle) != NULL;
    if (!found) fprintf(stderr, "  last error: %s\n  does not contain %s\n", buf, needle);
    return found;
}

static void test_learn_recall_feedback(void) {
    current = "learn, recall, feedback";
    bizra_store *store = NULL;
    OK(bizra_store_open_memory(&store));
    const float water[3] = {0.6f, 0.8f, 0.0f}, salt[3] = {0.0f, 0.0f, 1.0f};
    const char *tags[2] = {"physics", "kitchen"};
    bizra_envelope *a = pattern("water boils at 100 C");
    bizra_envelope *b = pattern("salt dissolves in water");
    bizra_envelope *again = pattern("water boils at 100 C");
    int64_t ida = -1, idb = -1, idc = -1;
    uint32_t what = 99;
    OK(bizra_store_learn(store, a, water, 3, tags, 2, NULL, &ida, &what));
    CHECK(what == BIZRA_LEARNED_NEW);
    OK(bizra_store_learn(store, b, salt, 3, NULL, 0, NULL, &idb, &what));
    CHECK(what == BIZRA_LEARNED_NEW && idb != ida);
    OK(bizra_store_learn(store, again, water, 3, NULL, 0, NULL, &idc, &what));
    CHECK(what == BIZRA_LEARNED_OBSERVED && idc == ida);
    OK(bizra_store_learn(store, a, water, 3, NULL, 0, NULL, &idc, &what));
    CHECK(what == BIZRA_LEARNED_ALREADY_KNOWN && idc == ida);
    size_t n = 0;
    OK(bizra_store_len(store, &n));
    CHECK(n == 2);

    /* Bad input: nothing written. */
    const float two[2] = {1.0f, 0.0f};
    const float nan3[3] = {NAN, 0.0f, 1.0f};
    bizra_envelope *c = pattern("a third pattern");
    ST(bizra_store_learn(store, c, two, 2, NULL, 0, NULL, NULL, NULL), BIZRA_STATUS_INVALID_ARGUMENT);
    CHECK(last_error_contains("dimensions"));
    ST(bizra_store_learn(store, c, nan3, 3, NULL, 0, NULL, NULL, NULL), BIZRA_STATUS_INVALID_ARGUMENT);
    ST(bizra_store_learn(store, NULL, water, 3, NULL, 0, NULL, NULL, NULL), BIZRA_STATUS_NULL_POINTER);
    bizra_envelope *note = NULL;
    OK(bizra_envelope_create(id, "{\"type\":\"bizra.note\"}", NULL, &note));
    ST(bizra_store_learn(store, note, water, 3, NULL, 0, NULL, NULL, NULL), BIZRA_STATUS_INVALID_ARGUMENT);
    CHECK(last_error_contains("cannot learn"));
    /* An envelope verified at an instant after it expired is refused with its reject code. */
    bizra_verify_options late = {.struct_size = sizeof late, .has_now = true,
                                 .now_unix_ms = 32503680000000LL /* year 3000 */};
    ST(bizra_store_learn(store, c, water, 3, NULL, 0, &late, NULL, NULL), BIZRA_STATUS_REJECTED);
    OK(bizra_store_len(store, &n));
    CHECK(n == 2);

    /* Recall by vector: the nearest first, as JSON. */
    const float query[3] = {0.5f, 0.8f, 0.1f};
    bizra_recall_options ro = {.struct_size = sizeof ro, .k = 1};
    char *hits = NULL;
    OK(bizra_store_recall(store, query, 3, &ro, &hits));
    CHECK(hits != NULL && strstr(hits, "water boils at 100 C") != NULL &&
          strstr(hits, "salt") == NULL && strstr(hits, "\"similarity\"") != NULL &&
          strstr(hits, "\"tags\":[\"physics\",\"kitchen\"]") != NULL);
    bizra_string_free(hits);
    ro.k = 5;
    ro.has_threshold = true;
    ro.threshold = 0.995f; /* the nearest is at 0.9908 */
    OK(bizra_store_recall(store, query, 3, &ro, &hits));
    CHECK(take_eq(hits, "[]"));
    ST(bizra_store_recall(store, two, 2, NULL, &hits), BIZRA_STATUS_INVALID_ARGUMENT);

    /* Feedback: 0.5 + 0.05; − 0.03. */
    double conf = 0;
    OK(bizra_store_feedback(store, ida, true, &conf));
    CHECK(fabs(conf - 0.55) < 1e-12);
    OK(bizra_store_feedback(store, ida, false, &conf));
    CHECK(fabs(conf - 0.52) < 1e-12);
    ST(bizra_store_feedback(store, 9999, true, &conf), BIZRA_STATUS_INVALID_ARGUMENT);
    char *p = NULL;
    OK(bizra_store_get(store, ida, &p));
    CHECK(take_contains(p, "\"positive\":1"));
    OK(bizra_store_get(store, 9999, &p));
    CHECK(p == NULL);

    /* Local elevation: a lenient policy elevates the observed pattern only. */
    size_t count = 99;
    OK(bizra_store_elevate_local(store, NULL, &count));
    CHECK(count == 0);
    bizra_elevation_policy lenient = {.struct_size = sizeof lenient, .has_threshold = true,
                                      .threshold = 0.5, .min_observations = 2};
    OK(bizra_store_elevate_local(store, &lenient, &count));
    CHECK(count == 1);
    char *elevated = NULL;
    OK(bizra_store_elevated(store, &elevated));
    CHECK(elevated != NULL && strstr(elevated, "\"kind\":\"local\"") != NULL &&
          strstr(elevated, "water boils") != NULL && strstr(elevated, "salt") == NULL);
    bizra_string_free(elevated);

    bizra_envelope_free(a);
    bizra_envelope_free(b);
    bizra_envelope_free(again);
    bizra_envelope_free(c);
    bizra_envelope_free(note);
    bizra_store_free(store);
}

static void test_preferences(void) {
    current = "preferences";
    bizra_store *store = NULL;
    OK(bizra_store_open_memory(&store));
    double conf = 0;
    char *s = NULL;
    OK(bizra_store_preference_get(store, "style", "tone", &s));
    CHECK(s == NULL);
    for (int i = 0; i < 6; i++) OK(bizra_store_preference_observe(store, "style", "tone", "concise", &conf));
    CHECK(fabs(conf - 0.70475) < 1e-4); /* 0.5, 0.55, 0.595, 0.6355, 0.67195, 0.704755 */
    OK(bizra_store_preference_observe(store, "style", "tone", "verbose", &conf));
    CHECK(conf == 0.5); /* a new value starts its own confidence */
    OK(bizra_store_preference_get(store, "style", "tone", &s));
    CHECK(take_contains(s, "\"value\":\"concise\""));
    OK(bizra_store_preferences_active(store, &s));
    CHECK(s != NULL && strstr(s, "concise") != NULL && strstr(s, "verbose") == NULL);
    bizra_string_free(s);
    OK(bizra_store_preferences_apply(store, "You are helpful.", &s));
    CHECK(take_eq(s, "You are helpful.\n\nUser preferences:\n- style.tone: concise"));
    OK(bizra_store_preferences_apply(store, NULL, &s));
    CHECK(take_eq(s, "User preferences:\n- style.tone: concise"));
    ST(bizra_store_preference_observe(store, "", "tone", "x", NULL), BIZRA_STATUS_INVALID_ARGUMENT);
    bizra_store_free(store);
}

static void test_export_import_and_files(void) {
    current = "export, import, files";
    char dir[] = "/tmp/bizra-store-XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    char db[256], jsonl[256], copy[256];
    snprintf(db, sizeof db, "%s/a.sqlite", dir);
    snprintf(jsonl, sizeof jsonl, "%s/patterns.jsonl", dir);
    snprintf(copy, sizeof copy, "%s/b.sqlite", dir);

    bizra_store *store = NULL;
    OK(bizra_store_open(db, &store));
    const float v1[2] = {1.0f, 0.0f}, v2[2] = {0.0f, 1.0f};
    bizra_envelope *a = pattern("first");
    bizra_envelope *b = pattern("second");
    OK(bizra_store_learn(store, a, v1, 2, NULL, 0, NULL, NULL, NULL));
    OK(bizra_store_learn(store, b, v2, 2, NULL, 0, NULL, NULL, NULL));
    size_t lines = 0;
    OK(bizra_store_export(store, id, jsonl, &lines));
    CHECK(lines == 2);
    bizra_store_free(store);

    /* Reopened: everything is there, recalled through the saved index. */
    OK(bizra_store_open(db, &store));
    size_t n = 0;
    OK(bizra_store_len(store, &n));
    CHECK(n == 2);
    char *hits = NULL;
    bizra_recall_options ro = {.struct_size = sizeof ro, .k = 1};
    OK(bizra_store_recall(store, v2, 2, &ro, &hits));
    CHECK(take_contains(hits, "\"second\""));
    bizra_store_free(store);

    /* Imported into another store, from the file and again from memory. */
    bizra_store *other = NULL;
    OK(bizra_store_open(copy, &other));
    bizra_import_report r = {0};
    OK(bizra_store_import_file(other, jsonl, NULL, &r));
    CHECK(r.lines == 2 && r.added == 2 && r.observed == 0 && r.already_known == 0);
    FILE *f = fopen(jsonl, "rb");
    CHECK(f != NULL);
    char buf[1 << 16];
    size_t len = f ? fread(buf, 1, sizeof buf - 1, f) : 0;
    if (f) fclose(f);
    buf[len] = 0;
    OK(bizra_store_import(other, (const uint8_t *)buf, len, NULL, &r));
    CHECK(r.lines == 2 && r.added == 0 && r.already_known == 2);

    /* A tampered second line: refused, naming the line; nothing of the import is written. */
    bizra_store *fresh = NULL;
    OK(bizra_store_open_memory(&fresh));
    char *second = memchr(buf, '\n', len);
    CHECK(second != NULL);
    if (second != NULL) {
        char *content = strstr(second, "second");
        CHECK(content != NULL);
        if (content != NULL) content[0] = 'S';
    }
    CHECK(bizra_store_import(fresh, (const uint8_t *)buf, len, NULL, &r) == BIZRA_STATUS_REJECTED);
    CHECK(last_error_contains("import line 2"));
    OK(bizra_store_len(fresh, &n));
    CHECK(n == 0);
    ST(bizra_store_import_file(fresh, "/nonexistent/patterns.jsonl", NULL, &r), BIZRA_STATUS_IO);
    bizra_store_free(fresh);
    bizra_store_free(other);

    /* A file that is not a store is refused and left as it was. */
    f = fopen(jsonl, "rb");
    char before[64] = "";
    if (f) { CHECK(fread(before, 1, sizeof before - 1, f) > 0); fclose(f); }
    ST(bizra_store_open(jsonl, &store), BIZRA_STATUS_IO);
    f = fopen(jsonl, "rb");
    char after[64] = "";
    if (f) { CHECK(fread(after, 1, sizeof after - 1, f) > 0); fclose(f); }
    CHECK(strcmp(before, after) == 0);

    bizra_envelope_free(a);
    bizra_envelope_free(b);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    CHECK(system(cmd) == 0);
}

static void test_with_the_model(const char *model_path) {
    current = "learn and recall with the model";
    bizra_engine *engine = NULL;
    OK(bizra_engine_load(model_path, NULL, &engine));
    bizra_store *store = NULL;
    OK(bizra_store_open_memory(&store));
    const char *texts[4] = {"The cat is sleeping on the sofa.", "Paris is the capital of France.",
                            "Quantum computers use qubits.", "The recipe needs two cups of flour."};
    int64_t ids[4];
    for (int i = 0; i < 4; i++) {
        bizra_envelope *e = pattern(texts[i]);
        OK(bizra_store_learn_embedded(store, e, engine, NULL, 0, NULL, &ids[i], NULL));
        bizra_envelope_free(e);
    }
    bizra_recall_options ro = {.struct_size = sizeof ro, .k = 1, .has_threshold = true,
                               .threshold = -1.0f};
    char *hits = NULL;
    OK(bizra_store_recall_text(store, engine, "A cat naps on the couch.", &ro, &hits));
    CHECK(take_contains(hits, "The cat is sleeping on the sofa."));
    OK(bizra_store_recall_text(store, engine, "France's capital city is Paris.", &ro, &hits));
    CHECK(take_contains(hits, "Paris is the capital of France."));
    ST(bizra_store_recall_text(store, NULL, "x", &ro, &hits), BIZRA_STATUS_NULL_POINTER);
    bizra_store_free(store);
    bizra_engine_free(engine);
}

int main(void) {
    const char *model_path = getenv("BIZRA_TEST_MODEL");
    if (model_path == NULL || access(model_path, R_OK) != 0) {
        fprintf(stderr, "BIZRA_TEST_MODEL (%s) is not a readable model: run `make model`\n",
                model_path ? model_path : "unset");
        return 1;
    }
    OK(bizra_identity_generate(&id));
    test_learn_recall_feedback();
    test_preferences();
    test_export_import_and_files();
    test_with_the_model(model_path);
    bizra_identity_free(id);
    return check_summary();
}
