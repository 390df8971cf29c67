/* The C suite of embedded inference, on the real model (SmolLM2-135M-Instruct Q4_1, the path in
 * BIZRA_TEST_MODEL; `make model` fetches it): metadata, greedy determinism, streaming, budgets,
 * stop strings, cancellation from another thread and from the callback, concurrent callers,
 * the bound on queued requests (BUSY), signed outputs that verify, embeddings, and errors after
 * which the engine still works.
 * Prints "N passed, N failed"; exits non-zero on failure.
 *
 * Built by mk/c.mk and run natively and under AddressSanitizer + UBSan, not under valgrind: the
 * model-free paths of the same functions run under valgrind in test_bizra.c. */
#define _GNU_SOURCE
#include "bizra.h"
#include "check.h"

#include <math.h>
#include <stddef.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *model_path;
static bizra_engine *engine;
static bizra_identity *id;
static char blake3[65];

static const char *QUESTION = "What is the capital of France?";
static const char *STORY = "Write a long story about a dragon who learns to cook.";

/* ---------------------------------------------------------------------------------------- */
/* Helpers */

/* The decoded value of the first string member `key` in canonical (JCS) JSON, which escapes only
 * '"', '\\' and control characters. NULL when absent; free() it. */
static char *json_string(const char *json, const char *key) {
    char pat[64];
    snprintf(pat, sizeof pat, "\"%s\":\"", key);
    const char *p = strstr(json, pat);
    if (p == NULL) return NULL;
    p += strlen(pat);
    char *out = malloc(strlen(p) + 1);
    size_t n = 0;
    while (*p && *p != '"') {
        if (*p != '\\') {
            out[n++] = *p++;
            continue;
        }
        p++;
        switch (*p) {
        case 'n': out[n++] = '\n'; break;
        case 't': out[n++] = '\t'; break;
        case 'r': out[n++] = '\r'; break;
        case 'b': out[n++] = '\b'; break;
        case 'f': out[n++] = '\f'; break;
        case 'u': {
            unsigned v = 0;
            sscanf(p + 1, "%4x", &v);
            out[n++] = (char)v;
            p += 4;
            break;
        }
        default: out[n++] = *p; break;
        }
        if (*p) p++;
    }
    out[n] = 0;
    return out;
}

/* The first integer member `key` in JSON text; -1 when absent. */
static long json_int(const char *json, const char *key) {
    char pat[64];
    snprintf(pat, sizeof pat, "\"%s\":", key);
    const char *p = strstr(json, pat);
    return p ? strtol(p + strlen(pat), NULL, 10) : -1;
}

static char *payload_of(const bizra_envelope *env) {
    char *p = NULL;
    OK(bizra_envelope_payload_json(env, &p));
    return p ? p : calloc(1, 1);
}

/* What a token callback saw. */
struct sink {
    char text[32768];
    size_t len;
    int calls;
    int stop_after; /* ask to stop after this many calls (0: never) */
    int bad;        /* pieces without their NUL, or not fitting */
};

static int32_t collect(void *userdata, const char *piece, size_t len) {
    struct sink *s = userdata;
    if (piece == NULL || piece[len] != '\0' || s->len + len >= sizeof s->text) {
        s->bad++;
        return 1;
    }
    memcpy(s->text + s->len, piece, len);
    s->len += len;
    s->text[s->len] = 0;
    s->calls++;
    return s->stop_after > 0 && s->calls >= s->stop_after;
}

static bizra_generate_options greedy(uint32_t max_tokens) {
    bizra_generate_options o;
    memset(&o, 0, sizeof o);
    o.struct_size = sizeof o;
    o.system = "You are a concise assistant.";
    o.max_tokens = max_tokens;
    o.has_temperature = true;
    o.temperature = 0;
    return o;
}

/* Generates; returns the envelope (NULL on failure), the payload's output and the finish reason. */
static bizra_envelope *generate(const char *prompt, const bizra_generate_options *o, char **output,
                                uint32_t *finish) {
    bizra_envelope *env = NULL;
    *finish = 99;
    bizra_status st = bizra_engine_generate(engine, id, prompt, o, &env, finish);
    CHECK(st == BIZRA_STATUS_OK);
    if (st != BIZRA_STATUS_OK) {
        *output = calloc(1, 1);
        return NULL;
    }
    char *payload = payload_of(env);
    *output = json_string(payload, "output");
    if (*output == NULL) *output = calloc(1, 1);
    bizra_string_free(payload);
    return env;
}

/* The envelope verifies in C and carries a bizra.inference payload about this model. */
static void check_signed_output(const bizra_envelope *env, const char *finish_name) {
    uint32_t reject = 99;
    OK(bizra_envelope_verify(env, NULL, &reject));
    CHECK(reject == 0);
    char *payload = payload_of(env);
    char want[128];
    CHECK(strstr(payload, "\"type\":\"bizra.inference\"") != NULL);
    snprintf(want, sizeof want, "\"finish_reason\":\"%s\"", finish_name);
    CHECK(strstr(payload, want) != NULL);
    snprintf(want, sizeof want, "\"file_blake3\":\"%s\"", blake3);
    CHECK(strstr(payload, want) != NULL);
    CHECK(strstr(payload, "\"quantization\":\"Q4_1\"") != NULL);
    CHECK(strstr(payload, "\"tier\":\"edge\"") != NULL);
    const char *members[] = {"\"output\":\"", "\"prompt_blake3\":\"", "\"params\":{", "\"scores\":{",
                             "\"ihsan\":{", "\"snr\":{", "\"tokens\":{", "\"timings_ms\":{"};
    for (size_t i = 0; i < sizeof members / sizeof *members; i++) {
        int has = strstr(payload, members[i]) != NULL;
        CHECK(has);
        if (!has) fprintf(stderr, "  payload lacks %s: %s\n", members[i], payload);
    }
    bizra_string_free(payload);
    bizra_scores sc;
    OK(bizra_envelope_scores(env, &sc));
    CHECK(sc.has_ihsan && sc.ihsan >= 0 && sc.ihsan <= 1);
    CHECK(!sc.has_snr || (sc.snr >= 0 && sc.snr <= 1));
    char *sender = NULL, *node = NULL;
    OK(bizra_envelope_sender(env, &sender));
    OK(bizra_identity_node_id(id, &node));
    CHECK(sender && node && strcmp(sender, node) == 0);
    bizra_string_free(sender);
    bizra_string_free(node);
}

static long completion_tokens(const bizra_envelope *env) {
    char *payload = payload_of(env);
    long n = json_int(payload, "completion");
    bizra_string_free(payload);
    return n;
}

/* ---------------------------------------------------------------------------------------- */

static void test_load_and_info(void) {
    current = "load_and_info";
    bizra_engine_options eo;
    memset(&eo, 0, sizeof eo);
    eo.struct_size = sizeof eo;
    eo.n_ctx = 512;
    eo.n_batch = 64;
    eo.embedding_n_ctx = 256;
    eo.has_n_gpu_layers = true;
    eo.n_gpu_layers = 0;
    OK(bizra_engine_load(model_path, &eo, &engine));
    if (engine == NULL) {
        fprintf(stderr, "cannot load %s: nothing else can run\n", model_path);
        exit(1);
    }
    bizra_model_info info;
    OK(bizra_engine_info(engine, &info));
    CHECK(strcmp(info.path, model_path) == 0);
    CHECK(strcasestr(info.name, "smollm2") != NULL);
    CHECK(strcmp(info.architecture, "llama") == 0);
    CHECK(info.parameters > 100000000ull && info.parameters < 200000000ull);
    CHECK(strcmp(info.quantization, "Q4_1") == 0);
    CHECK(info.has_context_length && info.context_length >= 2048);
    CHECK(info.n_ctx == 512); /* the option, below the training context */
    struct stat stt;
    CHECK(stat(model_path, &stt) == 0 && info.file_size == (uint64_t)stt.st_size);
    CHECK(strlen(info.file_blake3) == 64 && strspn(info.file_blake3, "0123456789abcdef") == 64);
    snprintf(blake3, sizeof blake3, "%s", info.file_blake3);
    CHECK(info.tier == BIZRA_MODEL_TIER_EDGE);
    CHECK(info.chat_template != NULL && strstr(info.chat_template, "<|im_start|>") != NULL);
    ST(bizra_engine_info(engine, NULL), BIZRA_STATUS_NULL_POINTER);
    OK(bizra_identity_generate(&id));
}

/* Greedy decoding twice gives the same text; the streamed pieces concatenate to the output; the
 * output verifies in C. */
static char reference[4096];

static void test_greedy_and_streaming(void) {
    current = "greedy_and_streaming";
    static struct sink a, b;
    bizra_generate_options o = greedy(24);
    o.on_token = collect;
    o.userdata = &a;
    char *out_a = NULL, *out_b = NULL;
    uint32_t fa, fb;
    bizra_envelope *ea = generate(QUESTION, &o, &out_a, &fa);
    o.userdata = &b;
    bizra_envelope *eb = generate(QUESTION, &o, &out_b, &fb);
    CHECK(strlen(out_a) > 0);
    CHECK(strcmp(out_a, out_b) == 0);
    CHECK(fa == fb && (fa == BIZRA_FINISH_REASON_EOS || fa == BIZRA_FINISH_REASON_LENGTH));
    CHECK(a.bad == 0 && a.calls > 0);
    CHECK(strcmp(a.text, out_a) == 0);
    CHECK(strcmp(b.text, out_b) == 0);
    if (strcmp(a.text, out_a) != 0) fprintf(stderr, "  streamed: %s\n  output:   %s\n", a.text, out_a);
    printf("greedy answer: %s\n", out_a);
    snprintf(reference, sizeof reference, "%s", out_a);
    if (ea) check_signed_output(ea, fa == BIZRA_FINISH_REASON_EOS ? "eos" : "length");
    /* The same without streaming. */
    bizra_generate_options plain = greedy(24);
    char *out_c = NULL;
    uint32_t fc;
    bizra_envelope *ec = generate(QUESTION, &plain, &out_c, &fc);
    CHECK(strcmp(out_c, out_a) == 0 && fc == fa);
    /* NULL options: the defaults (sampled, 256 tokens), still a valid signed output. */
    bizra_envelope *ed = NULL;
    OK(bizra_engine_generate(engine, id, "Say hello.", NULL, &ed, NULL));
    if (ed) {
        uint32_t reject = 99;
        OK(bizra_envelope_verify(ed, NULL, &reject));
        char *payload = payload_of(ed);
        CHECK(strstr(payload, "\"max_tokens\":256") != NULL);
        bizra_string_free(payload);
    }
    free(out_a);
    free(out_b);
    free(out_c);
    bizra_envelope_free(ea);
    bizra_envelope_free(eb);
    bizra_envelope_free(ec);
    bizra_envelope_free(ed);
}

static void test_sampling_options(void) {
    current = "sampling_options";
    bizra_generate_options o = greedy(12);
    o.has_temperature = true;
    o.temperature = 0.9f;
    o.top_p = 0.9f;
    o.has_top_k = true;
    o.top_k = 30;
    o.has_min_p = true;
    o.min_p = 0.02f;
    o.repeat_penalty = 1.1f;
    o.has_seed = true;
    o.seed = 42;
    o.ttl_seconds = 60;
    char *x = NULL, *y = NULL;
    uint32_t fx, fy;
    bizra_envelope *ex = generate(STORY, &o, &x, &fx);
    /* Provenance: the second output derives from the first. */
    char *prev = NULL;
    if (ex) OK(bizra_envelope_id(ex, &prev));
    const char *prov[1] = {prev};
    o.provenance = prov;
    o.provenance_len = prev ? 1 : 0;
    bizra_envelope *ey = generate(STORY, &o, &y, &fy);
    CHECK(strcmp(x, y) == 0); /* same seed, same text */
    if (ex && ey) {
        char *payload = payload_of(ey);
        CHECK(strstr(payload, "\"seed\":42") != NULL);
        CHECK(strstr(payload, "\"top_k\":30") != NULL);
        CHECK(strstr(payload, "\"max_tokens\":12") != NULL);
        bizra_string_free(payload);
        int64_t ttl = 0;
        OK(bizra_envelope_ttl(ey, &ttl));
        CHECK(ttl == 60);
        size_t n = 0;
        OK(bizra_envelope_provenance_count(ey, &n));
        CHECK(n == 1);
        char *p0 = NULL;
        OK(bizra_envelope_provenance_at(ey, 0, &p0));
        CHECK(p0 && prev && strcmp(p0, prev) == 0);
        bizra_string_free(p0);
        uint32_t reject = 99;
        OK(bizra_envelope_verify(ey, NULL, &reject));
    }
    bizra_string_free(prev);
    free(x);
    free(y);
    bizra_envelope_free(ex);
    bizra_envelope_free(ey);
}

static void test_max_tokens(void) {
    current = "max_tokens";
    static struct sink s;
    bizra_generate_options o = greedy(5);
    o.on_token = collect;
    o.userdata = &s;
    char *out = NULL;
    uint32_t finish;
    bizra_envelope *env = generate(STORY, &o, &out, &finish);
    CHECK(finish == BIZRA_FINISH_REASON_LENGTH);
    if (env) {
        CHECK(completion_tokens(env) == 5);
        check_signed_output(env, "length");
    }
    CHECK(strcmp(s.text, out) == 0);
    free(out);
    bizra_envelope_free(env);
}

/* A stop string taken from the middle of the greedy answer: the output is what came before its
 * first occurrence. */
static void test_stop_string(void) {
    current = "stop_string";
    size_t n = strlen(reference);
    CHECK(n >= 8);
    if (n < 8) return;
    size_t at = n / 2;
    while (at < n && (reference[at] & 0xC0) == 0x80) at++; /* a character boundary */
    char stop[8] = {0};
    memcpy(stop, reference + at, n - at < 4 ? n - at : 4);
    while (strlen(stop) > 0 && (stop[strlen(stop) - 1] & 0x80)) stop[strlen(stop) - 1] = 0;
    const char *first = strstr(reference, stop);
    CHECK(first != NULL && strlen(stop) > 0);
    if (first == NULL || strlen(stop) == 0) return;
    size_t keep = (size_t)(first - reference);

    static struct sink s;
    bizra_generate_options o = greedy(24);
    const char *stops[2] = {"\x01never", stop};
    o.stop = stops;
    o.stop_len = 2;
    o.on_token = collect;
    o.userdata = &s;
    char *out = NULL;
    uint32_t finish;
    bizra_envelope *env = generate(QUESTION, &o, &out, &finish);
    CHECK(finish == BIZRA_FINISH_REASON_STOP);
    CHECK(strlen(out) == keep && strncmp(out, reference, keep) == 0);
    if (strlen(out) != keep) fprintf(stderr, "  stop %s: got %s\n", stop, out);
    CHECK(strcmp(s.text, out) == 0); /* the stop string never reached the callback */
    if (env) check_signed_output(env, "stop");
    free(out);
    bizra_envelope_free(env);
}

/* Cancellation from a second thread. The callback holds the worker at the first piece until the
 * other thread has cancelled, so the test does not depend on timing: the engine must stop before
 * the next token. */
struct cancel_race {
    bizra_cancel_token *token;
    struct sink sink;
    atomic_int first_piece;
    atomic_int cancelled;
};

static int32_t hold_first_piece(void *userdata, const char *piece, size_t len) {
    struct cancel_race *r = userdata;
    collect(&r->sink, piece, len);
    if (r->sink.calls == 1) {
        atomic_store(&r->first_piece, 1);
        wait_for(&r->cancelled, 30000);
    }
    return 0;
}

static void *canceller(void *arg) {
    struct cancel_race *r = arg;
    wait_for(&r->first_piece, 60000);
    bizra_status st = bizra_cancel_token_cancel(r->token);
    atomic_store(&r->cancelled, st == BIZRA_STATUS_OK ? 1 : 2);
    return NULL;
}

static void test_cancel_from_thread(void) {
    current = "cancel_from_thread";
    static struct cancel_race r;
    OK(bizra_cancel_token_new(&r.token));
    pthread_t t;
    CHECK(pthread_create(&t, NULL, canceller, &r) == 0);
    bizra_generate_options o = greedy(400);
    o.on_token = hold_first_piece;
    o.userdata = &r;
    o.cancel = r.token;
    char *out = NULL;
    uint32_t finish;
    bizra_envelope *env = generate(STORY, &o, &out, &finish);
    pthread_join(t, NULL);
    CHECK(atomic_load(&r.cancelled) == 1);
    CHECK(finish == BIZRA_FINISH_REASON_CANCELLED);
    /* The token whose piece was held, and at most one more whose text was held back. */
    long n = env ? completion_tokens(env) : -1;
    CHECK(n >= 1 && n <= 2);
    CHECK(r.sink.calls <= 2);
    CHECK(strcmp(r.sink.text, out) == 0);
    if (env) check_signed_output(env, "cancelled");
    bool cancelled = false;
    OK(bizra_cancel_token_is_cancelled(r.token, &cancelled));
    CHECK(cancelled);
    free(out);
    bizra_envelope_free(env);

    /* A cancelled token stays cancelled: the next generation given it stops before any token. */
    memset(&r.sink, 0, sizeof r.sink);
    env = generate(STORY, &o, &out, &finish);
    CHECK(finish == BIZRA_FINISH_REASON_CANCELLED);
    CHECK(strlen(out) == 0 && r.sink.calls == 0);
    if (env) CHECK(completion_tokens(env) == 0);
    free(out);
    bizra_envelope_free(env);
    bizra_cancel_token_free(r.token);
}

/* The callback asks to stop by its return value. */
static void test_callback_stops(void) {
    current = "callback_stops";
    static struct sink s;
    s.stop_after = 3;
    bizra_generate_options o = greedy(400);
    o.on_token = collect;
    o.userdata = &s;
    char *out = NULL;
    uint32_t finish;
    bizra_envelope *env = generate(STORY, &o, &out, &finish);
    CHECK(finish == BIZRA_FINISH_REASON_CANCELLED);
    CHECK(s.calls >= 3 && s.calls <= 4);
    CHECK(strcmp(s.text, out) == 0);
    if (env) CHECK(completion_tokens(env) < 10);
    free(out);
    bizra_envelope_free(env);

    /* With a token given, stopping from the callback cancels that token. */
    static struct sink t;
    t.stop_after = 1;
    bizra_cancel_token *tok = NULL;
    OK(bizra_cancel_token_new(&tok));
    o.userdata = &t;
    o.cancel = tok;
    env = generate(STORY, &o, &out, &finish);
    CHECK(finish == BIZRA_FINISH_REASON_CANCELLED);
    bool cancelled = false;
    OK(bizra_cancel_token_is_cancelled(tok, &cancelled));
    CHECK(cancelled);
    free(out);
    bizra_envelope_free(env);
    bizra_cancel_token_free(tok);
}

/* Two threads share the engine: both are served (in turn) and get the greedy answer. */
struct caller {
    char *out;
    uint32_t finish;
    bizra_status status;
};

static void *call_engine(void *arg) {
    struct caller *c = arg;
    bizra_generate_options o = greedy(24);
    bizra_envelope *env = NULL;
    c->status = bizra_engine_generate(engine, id, QUESTION, &o, &env, &c->finish);
    if (c->status == BIZRA_STATUS_OK) {
        char *payload = NULL;
        if (bizra_envelope_payload_json(env, &payload) == BIZRA_STATUS_OK) {
            c->out = json_string(payload, "output");
            bizra_string_free(payload);
        }
    }
    bizra_envelope_free(env);
    return NULL;
}

static void test_concurrent_callers(void) {
    current = "concurrent_callers";
    struct caller c[2] = {{NULL, 99, 99}, {NULL, 99, 99}};
    pthread_t t[2];
    for (int i = 0; i < 2; i++) CHECK(pthread_create(&t[i], NULL, call_engine, &c[i]) == 0);
    for (int i = 0; i < 2; i++) pthread_join(t[i], NULL);
    for (int i = 0; i < 2; i++) {
        CHECK(c[i].status == BIZRA_STATUS_OK);
        CHECK(c[i].out && strcmp(c[i].out, reference) == 0);
        free(c[i].out);
    }
}

static double dot(const bizra_floats *a, const bizra_floats *b) {
    double s = 0;
    for (size_t i = 0; i < a->len && i < b->len; i++) s += (double)a->data[i] * b->data[i];
    return s;
}

static void test_embeddings(void) {
    current = "embeddings";
    bizra_floats a = {NULL, 0}, b = {NULL, 0}, c = {NULL, 0}, again = {NULL, 0};
    OK(bizra_engine_embed(engine, "The cat sat on the mat.", &a));
    OK(bizra_engine_embed(engine, "A cat was sitting on the rug.", &b));
    OK(bizra_engine_embed(engine, "Quarterly revenue rose by twelve percent in Europe.", &c));
    OK(bizra_engine_embed(engine, "The cat sat on the mat.", &again));
    CHECK(a.len >= 64 && a.len == b.len && a.len == c.len);
    CHECK(fabs(dot(&a, &a) - 1.0) < 1e-3); /* L2-normalised */
    double near = dot(&a, &b), far = dot(&a, &c);
    printf("cosine: paraphrase %.4f, unrelated %.4f\n", near, far);
    CHECK(near > far);
    CHECK(again.len == a.len && memcmp(again.data, a.data, a.len * sizeof(float)) == 0);
    /* Longer than the embedding context (256 tokens here). */
    size_t n = 400;
    char *lng = malloc(n * 5 + 1);
    for (size_t i = 0; i < n; i++) memcpy(lng + 5 * i, "word ", 5);
    lng[n * 5] = 0;
    bizra_floats x = {NULL, 0};
    ST(bizra_engine_embed(engine, lng, &x), BIZRA_STATUS_CONTEXT_OVERFLOW);
    CHECK(x.data == NULL);
    free(lng);
    ST(bizra_engine_embed(engine, NULL, &x), BIZRA_STATUS_NULL_POINTER);
    ST(bizra_engine_embed(engine, "\xc3\x28", &x), BIZRA_STATUS_INVALID_ARGUMENT);
    bizra_floats_free(&a);
    CHECK(a.data == NULL && a.len == 0);
    bizra_floats_free(&a); /* a second free is a no-op */
    bizra_floats_free(&b);
    bizra_floats_free(&c);
    bizra_floats_free(&again);
}

static void expect_load_error(const char *path, const bizra_engine_options *o, bizra_status want,
                              const char *needle) {
    bizra_engine *e = (bizra_engine *)0x1;
    ST(bizra_engine_load(path, o, &e), want);
    CHECK(e == (bizra_engine *)0x1);
    char msg[1024] = "";
    OK(bizra_last_error(msg, sizeof msg, NULL));
    int clear = strstr(msg, needle) != NULL;
    CHECK(clear);
    if (!clear) fprintf(stderr, "  message: %s\n  expected: %s\n", msg, needle);
}

static void expect_generate_error(const char *prompt, const bizra_generate_options *o,
                                  bizra_status want, const char *needle) {
    bizra_envelope *env = (bizra_envelope *)0x1;
    uint32_t finish = 99;
    ST(bizra_engine_generate(engine, id, prompt, o, &env, &finish), want);
    CHECK(env == (bizra_envelope *)0x1 && finish == 99);
    char msg[1024] = "";
    OK(bizra_last_error(msg, sizeof msg, NULL));
    int clear = strstr(msg, "bizra_engine_generate") != NULL && strstr(msg, needle) != NULL;
    CHECK(clear);
    if (!clear) fprintf(stderr, "  message: %s\n  expected: %s\n", msg, needle);
}

/* Generates on an engine, once: without a queue, an idle engine takes the call at once (right
 * after loading and right after another request returned included), never refusing it BUSY. */
static bizra_status generate_once(bizra_engine *e, const bizra_generate_options *o) {
    bizra_envelope *env = NULL;
    bizra_status st = bizra_engine_generate(e, id, QUESTION, o, &env, NULL);
    bizra_envelope_free(env);
    return st;
}

/* An engine with max_queued 0 while a generation runs on another thread, held at its first piece
 * (check.h's held_generation): the engine is busy for certain, whatever the timing. */
static void *run_held_generation(void *arg) {
    struct held_generation *r = arg;
    bizra_generate_options o = greedy(4);
    o.on_token = hold_until_refused;
    o.userdata = r;
    r->status = generate_once(r->engine, &o);
    return NULL;
}

static int last_error_has(const char *needle) {
    char msg[1024] = "";
    OK(bizra_last_error(msg, sizeof msg, NULL));
    int has = strstr(msg, needle) != NULL;
    if (!has) fprintf(stderr, "  message: %s\n  expected: %s\n", msg, needle);
    return has;
}

/* max_queued: above the limit is refused by name; a caller built before the member passes the
 * older struct_size and gets the default; 0 refuses a generation and an embedding at once with
 * BUSY while the engine serves another, and serves again once it is idle. */
static void test_queue_bound(void) {
    current = "queue_bound";
    bizra_engine_options eo;
    memset(&eo, 0, sizeof eo);
    eo.struct_size = sizeof eo;
    eo.n_ctx = 512;
    eo.has_max_queued = true;
    eo.max_queued = 65537;
    expect_load_error(model_path, &eo, BIZRA_STATUS_INVALID_ARGUMENT, "max_queued");
    CHECK(last_error_has("65536"));
    /* A size between the older header's and this one's. */
    eo.struct_size = (uint32_t)offsetof(bizra_engine_options, has_max_queued) + 4;
    expect_load_error(model_path, &eo, BIZRA_STATUS_INVALID_ARGUMENT, "opts.struct_size");
    /* The older size: the out-of-range max_queued after it is never read. */
    eo.struct_size = (uint32_t)offsetof(bizra_engine_options, has_max_queued);
    bizra_engine *older = NULL;
    OK(bizra_engine_load(model_path, &eo, &older));
    CHECK(older != NULL);
    bizra_engine_free(older);

    static struct held_generation r;
    eo.struct_size = sizeof eo;
    eo.max_queued = 0;
    OK(bizra_engine_load(model_path, &eo, &r.engine));
    if (r.engine == NULL) return;
    r.status = 99;
    pthread_t t;
    CHECK(pthread_create(&t, NULL, run_held_generation, &r) == 0);
    CHECK(wait_for(&r.first_piece, 60000));

    bizra_generate_options o = greedy(4);
    bizra_envelope *env = (bizra_envelope *)0x1;
    uint32_t finish = 99;
    ST(bizra_engine_generate(r.engine, id, QUESTION, &o, &env, &finish), BIZRA_STATUS_BUSY);
    CHECK(env == (bizra_envelope *)0x1 && finish == 99);
    CHECK(last_error_has("bizra_engine_generate"));
    CHECK(last_error_has("busy"));
    CHECK(last_error_has("(0 waiting)"));
    bizra_floats v = {NULL, 0};
    ST(bizra_engine_embed(r.engine, "cheese", &v), BIZRA_STATUS_BUSY);
    CHECK(v.data == NULL);
    const char *name = bizra_status_name(BIZRA_STATUS_BUSY);
    CHECK(name != NULL && strcmp(name, "BUSY") == 0);
    atomic_store(&r.refused, 1);
    pthread_join(t, NULL);
    CHECK(r.status == BIZRA_STATUS_OK);

    /* Idle again, the held generation having returned: served at once. */
    CHECK(generate_once(r.engine, &o) == BIZRA_STATUS_OK);
    bizra_engine_free(r.engine);
}

/* Bad files and bad requests get a clear status and message; the engine keeps working. */
static void test_errors(void) {
    current = "errors";
    char dir[] = "/tmp/bizra-c-XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    char path[256];
    snprintf(path, sizeof path, "%s/missing.gguf", dir);
    expect_load_error(path, NULL, BIZRA_STATUS_MODEL, "no such file");
    snprintf(path, sizeof path, "%s/readme.gguf", dir);
    FILE *f = fopen(path, "wb");
    CHECK(f != NULL);
    if (f) {
        fputs("# Not a model\nJust some text that happens to end in .gguf\n", f);
        fclose(f);
    }
    expect_load_error(path, NULL, BIZRA_STATUS_MODEL, "not a GGUF file");
    unlink(path);
    /* The real model cut after 1 MiB: a complete header, most tensor data missing. */
    snprintf(path, sizeof path, "%s/truncated.gguf", dir);
    FILE *src = fopen(model_path, "rb"), *dst = fopen(path, "wb");
    CHECK(src && dst);
    if (src && dst) {
        static char buf[1 << 20];
        size_t got = fread(buf, 1, sizeof buf, src);
        CHECK(fwrite(buf, 1, got, dst) == got);
    }
    if (src) fclose(src);
    if (dst) fclose(dst);
    expect_load_error(path, NULL, BIZRA_STATUS_MODEL, "truncated GGUF file");
    unlink(path);
    rmdir(dir);
    bizra_engine_options eo;
    memset(&eo, 0, sizeof eo);
    eo.struct_size = sizeof eo;
    eo.n_ctx = 4;
    expect_load_error(model_path, &eo, BIZRA_STATUS_INVALID_ARGUMENT, "n_ctx");

    /* A prompt longer than the context (512 tokens). */
    size_t n = 700;
    char *lng = malloc(n * 5 + 1);
    for (size_t i = 0; i < n; i++) memcpy(lng + 5 * i, "word ", 5);
    lng[n * 5] = 0;
    bizra_generate_options o = greedy(8);
    expect_generate_error(lng, &o, BIZRA_STATUS_CONTEXT_OVERFLOW, "prompt too long");
    free(lng);

    /* Bad arguments. */
    bizra_envelope *env = NULL;
    ST(bizra_engine_generate(engine, NULL, QUESTION, &o, &env, NULL), BIZRA_STATUS_NULL_POINTER);
    ST(bizra_engine_generate(engine, id, NULL, &o, &env, NULL), BIZRA_STATUS_NULL_POINTER);
    ST(bizra_engine_generate(engine, id, QUESTION, &o, NULL, NULL), BIZRA_STATUS_NULL_POINTER);
    expect_generate_error("caf\xc3", &o, BIZRA_STATUS_INVALID_ARGUMENT, "prompt is not UTF-8");
    bizra_generate_options bad = o;
    bad.struct_size = 8;
    expect_generate_error(QUESTION, &bad, BIZRA_STATUS_INVALID_ARGUMENT, "struct_size");
    bad = o;
    bad.system = "\xff";
    expect_generate_error(QUESTION, &bad, BIZRA_STATUS_INVALID_ARGUMENT, "opts.system");
    bad = o;
    bad.top_p = 2;
    expect_generate_error(QUESTION, &bad, BIZRA_STATUS_INVALID_ARGUMENT, "top_p");
    bad = o;
    bad.temperature = NAN;
    expect_generate_error(QUESTION, &bad, BIZRA_STATUS_INVALID_ARGUMENT, "temperature");
    bad = o;
    const char *empty_stop[1] = {""};
    bad.stop = empty_stop;
    bad.stop_len = 1;
    expect_generate_error(QUESTION, &bad, BIZRA_STATUS_INVALID_ARGUMENT, "stop");
    bad.stop = NULL;
    ST(bizra_engine_generate(engine, id, QUESTION, &bad, &env, NULL), BIZRA_STATUS_NULL_POINTER);
    bad = o;
    const char *not_ids[1] = {"not-an-envelope-id"};
    bad.provenance = not_ids;
    bad.provenance_len = 1;
    expect_generate_error(QUESTION, &bad, BIZRA_STATUS_INVALID_ARGUMENT, "provenance");
    bad.provenance_len = 65;
    expect_generate_error(QUESTION, &bad, BIZRA_STATUS_INVALID_ARGUMENT, "provenance");
    bad = o;
    bad.ttl_seconds = 99999;
    expect_generate_error(QUESTION, &bad, BIZRA_STATUS_INVALID_ARGUMENT, "ttl");
    CHECK(env == NULL);

    /* Still the same engine, still the same answer. */
    char *out = NULL;
    uint32_t finish;
    bizra_generate_options again = greedy(24);
    bizra_envelope *e = generate(QUESTION, &again, &out, &finish);
    CHECK(strcmp(out, reference) == 0);
    free(out);
    bizra_envelope_free(e);
}

/* The gate chain judges an output by its measured scores: vouched for, a confident answer is
 * admitted exactly when snr and ihsan clear the constitution's thresholds; nobody vouching for it,
 * the Ihsan gate (or the SNR gate) refuses it. Bad Ihsan inputs are refused before generating. */
static void test_gates_by_scores(void) {
    current = "gates_by_scores";
    bizra_constitution *c = NULL;
    bizra_thresholds t;
    OK(bizra_constitution_default(&c));
    OK(bizra_constitution_thresholds(c, &t));
    bizra_constitution_free(c);
    bizra_gate_chain *chain = NULL;
    OK(bizra_gate_chain_new_default(&chain));

    const bizra_ihsan_value vouched[] = {
        {BIZRA_IHSAN_DIMENSION_CORRECTNESS, 1.0},
        {BIZRA_IHSAN_DIMENSION_SAFETY, 1.0},
        {BIZRA_IHSAN_DIMENSION_USER_BENEFIT, 1.0},
        {BIZRA_IHSAN_DIMENSION_ADL_FAIRNESS, 1.0},
    };
    bizra_generate_options o = greedy(24);
    o.ihsan = vouched;
    o.ihsan_len = 4;
    char *out = NULL;
    uint32_t finish;
    bizra_envelope *env = generate(QUESTION, &o, &out, &finish);
    if (env) {
        bizra_scores sc;
        OK(bizra_envelope_scores(env, &sc));
        char *payload = payload_of(env);
        CHECK(strstr(payload, "\"correctness\":{\"source\":\"supplied\"") != NULL);
        bizra_string_free(payload);
        uint32_t reject = 99;
        bizra_status st = bizra_gate_chain_check(chain, env, NULL, NULL, &reject);
        bool clears = sc.has_snr && sc.snr >= t.snr_threshold && sc.has_ihsan &&
                      sc.ihsan >= t.ihsan_minimum;
        CHECK((st == BIZRA_STATUS_OK) == clears);
        CHECK(clears); /* a confident, fully vouched answer */
        if (!clears) fprintf(stderr, "  vouched: snr %.3f ihsan %.3f, status %d reject %u\n",
                             sc.snr, sc.ihsan, (int)st, reject);
        bizra_envelope_free(env);
    }
    free(out);

    /* Nobody vouched: the supplied dimensions count 0. */
    bizra_generate_options plain = greedy(24);
    env = generate(QUESTION, &plain, &out, &finish);
    if (env) {
        bizra_scores sc;
        OK(bizra_envelope_scores(env, &sc));
        CHECK(sc.has_ihsan && sc.ihsan < t.ihsan_minimum);
        uint32_t reject = 0;
        ST(bizra_gate_chain_check(chain, env, NULL, NULL, &reject), BIZRA_STATUS_REJECTED);
        CHECK(reject == BIZRA_REJECT_GATE_IHSAN || reject == BIZRA_REJECT_GATE_SNR);
        bizra_envelope_free(env);
    }
    free(out);
    bizra_gate_chain_free(chain);

    /* Refused before any token: a measured dimension, an unknown one, a repeat, a bad value. */
    const bizra_ihsan_value measured[] = {{BIZRA_IHSAN_DIMENSION_ROBUSTNESS, 1.0}};
    const bizra_ihsan_value unknown[] = {{8, 1.0}};
    const bizra_ihsan_value twice[] = {{BIZRA_IHSAN_DIMENSION_SAFETY, 1.0},
                                       {BIZRA_IHSAN_DIMENSION_SAFETY, 0.5}};
    const bizra_ihsan_value big[] = {{BIZRA_IHSAN_DIMENSION_SAFETY, 1.5}};
    const struct { const bizra_ihsan_value *v; size_t n; } bad[] = {
        {measured, 1}, {unknown, 1}, {twice, 2}, {big, 1}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        bizra_generate_options b = greedy(4);
        b.ihsan = bad[i].v;
        b.ihsan_len = bad[i].n;
        bizra_envelope *e = NULL;
        ST(bizra_engine_generate(engine, id, QUESTION, &b, &e, NULL), BIZRA_STATUS_INVALID_ARGUMENT);
        CHECK(e == NULL);
    }
    bizra_generate_options n = greedy(4);
    n.ihsan_len = 1;
    bizra_envelope *e = NULL;
    ST(bizra_engine_generate(engine, id, QUESTION, &n, &e, NULL), BIZRA_STATUS_NULL_POINTER);
}

int main(void) {
    model_path = getenv("BIZRA_TEST_MODEL");
    if (model_path == NULL || access(model_path, R_OK) != 0) {
        fprintf(stderr, "BIZRA_TEST_MODEL (%s) is not a readable model: run `make model`\n",
                model_path ? model_path : "unset");
        printf("0 passed, 1 failed\n");
        return 1;
    }
    test_load_and_info();
    test_greedy_and_streaming();
    test_sampling_options();
    test_max_tokens();
    test_stop_string();
    test_cancel_from_thread();
    test_callback_stops();
    test_concurrent_callers();
    test_queue_bound();
    test_embeddings();
    test_gates_by_scores();
    test_errors();
    bizra_engine_free(engine);
    bizra_identity_free(id);
    return check_summary();
}
