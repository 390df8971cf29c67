/* The C suite of the gateway and the Pool tier, against the real reference server
 * (llama-cpp-python serving the test model, started here as every suite starts it:
 * `$BIZRA_POOL_PYTHON $BIZRA_POOL_SERVER --model $BIZRA_TEST_MODEL`, one stdout line read, stopped
 * by closing its stdin) and the embedded engine on the same model: a pool request whose signed
 * output verifies and records its route, streaming on the pool's thread, cancellation, a pool that
 * is down falling back to Edge (and failing without the fallback), pools tried in order, a refusal
 * that never falls back and never shows the key, forced tiers, the tier decision, health probes,
 * the bound on a pool's requests in flight (BUSY), and bad configurations refused. Prints "N passed, N failed"; exits non-zero on failure.
 *
 * Built by mk/c.mk and run natively and under AddressSanitizer + UBSan (like test_inference.c:
 * generations on the real model are minutes under valgrind). */
#define _GNU_SOURCE
#include "bizra.h"
#include "check.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* The server demands this key; the suite checks that no message ever shows a key. */
static const char *API_KEY = "c-suite-key-7f3a9e";
static const char *WRONG_KEY = "c-suite-wrong-key-41d2";
/* SmolLM2's vocabulary: llama-cpp-python's server does not report it. */
static const uint32_t VOCAB_SIZE = 49152;
static const char *QUESTION = "What is the capital of France?";

static const char *model_path;
static bizra_engine *engine;
static bizra_identity *id;
static pthread_t main_thread;

static pid_t server_pid = -1;
static int server_stdin = -1, server_stdout = -1;
static char server_url[256];
static char dead_url[64];

/* ---------------------------------------------------------------------------------------- */
/* The reference server */

static const char *HOW = "run `make pool-server` (it installs llama-cpp-python's server into "
                         "$BIZRA_CACHE/venv-pool and exports BIZRA_POOL_PYTHON and "
                         "BIZRA_POOL_SERVER), or set them by hand";

/* Starts the server and reads its one line (the base URL). 0 on success. */
static int start_server(void) {
    const char *python = getenv("BIZRA_POOL_PYTHON");
    const char *script = getenv("BIZRA_POOL_SERVER");
    if (python == NULL || *python == 0 || access(python, X_OK) != 0) {
        fprintf(stderr, "BIZRA_POOL_PYTHON (%s) is not the pool server's python: %s\n",
                python ? python : "unset", HOW);
        return -1;
    }
    if (script == NULL || *script == 0 || access(script, R_OK) != 0) {
        fprintf(stderr, "BIZRA_POOL_SERVER (%s) is not scripts/pool_server.py: %s\n",
                script ? script : "unset", HOW);
        return -1;
    }
    int in[2], out[2];
    if (pipe2(in, O_CLOEXEC) != 0 || pipe2(out, O_CLOEXEC) != 0) {
        perror("pipe2");
        return -1;
    }
    server_pid = fork();
    if (server_pid < 0) {
        perror("fork");
        return -1;
    }
    if (server_pid == 0) {
        /* The child: stdin and stdout are the pipes (dup2 clears their close-on-exec). */
        if (dup2(in[0], 0) < 0 || dup2(out[1], 1) < 0) _exit(126);
        execl(python, python, script, "--model", model_path, "--api-key", API_KEY, (char *)NULL);
        fprintf(stderr, "cannot run %s: %s\n", python, strerror(errno));
        _exit(127);
    }
    close(in[0]);
    close(out[1]);
    server_stdin = in[1];
    server_stdout = out[0];
    /* One line, within two minutes (the model loads first). */
    size_t n = 0;
    time_t deadline = time(NULL) + 120;
    while (time(NULL) < deadline) {
        struct pollfd p = {server_stdout, POLLIN, 0};
        int r = poll(&p, 1, 1000);
        if (r < 0 && errno != EINTR) break;
        if (r <= 0) continue;
        char c;
        ssize_t got = read(server_stdout, &c, 1);
        if (got <= 0) {
            fprintf(stderr, "the pool server exited before printing its URL (its stderr above "
                            "says why; %s)\n", HOW);
            return -1;
        }
        if (c == '\n') {
            server_url[n] = 0;
            break;
        }
        if (n + 1 < sizeof server_url) server_url[n++] = c;
    }
    if (strncmp(server_url, "http://127.0.0.1:", 17) != 0) {
        fprintf(stderr, "the pool server printed no base URL within 120 s (got \"%s\")\n",
                server_url);
        return -1;
    }
    return 0;
}

/* Closes its stdin (it exits within seconds), then kills it if it lingers; reaps it. */
static void stop_server(void) {
    if (server_stdin >= 0) close(server_stdin);
    server_stdin = -1;
    if (server_pid > 0) {
        int status;
        for (int i = 0; i < 200; i++) {
            if (waitpid(server_pid, &status, WNOHANG) == server_pid) {
                server_pid = -1;
                break;
            }
            sleep_ms(50);
        }
        if (server_pid > 0) {
            fprintf(stderr, "the pool server did not exit after its stdin closed: killed\n");
            kill(server_pid, SIGKILL);
            waitpid(server_pid, &status, 0);
            server_pid = -1;
        }
    }
    if (server_stdout >= 0) close(server_stdout);
    server_stdout = -1;
}

/* A port on loopback that was free a moment ago: nothing listens there. */
static int closed_port(void) {
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    int port = -1;
    if (s >= 0 && bind(s, (struct sockaddr *)&a, sizeof a) == 0 &&
        getsockname(s, (struct sockaddr *)&a, &len) == 0)
        port = ntohs(a.sin_port);
    if (s >= 0) close(s);
    return port;
}

/* ---------------------------------------------------------------------------------------- */
/* Helpers */

static char *payload_of(const bizra_envelope *env) {
    char *p = NULL;
    OK(bizra_envelope_payload_json(env, &p));
    return p ? p : calloc(1, 1);
}

/* The end of the JSON value starting at `p` (an object, array, string or scalar). */
static const char *json_value_end(const char *p) {
    if (*p == '"') {
        for (p++; *p && *p != '"'; p++)
            if (*p == '\\' && p[1]) p++;
        return *p ? p + 1 : p;
    }
    if (*p != '{' && *p != '[') {
        while (*p && *p != ',' && *p != '}' && *p != ']') p++;
        return p;
    }
    int depth = 0;
    for (; *p; p++) {
        if (*p == '"') {
            p = json_value_end(p) - 1;
            continue;
        }
        if (*p == '{' || *p == '[') depth++;
        if ((*p == '}' || *p == ']') && --depth == 0) return p + 1;
    }
    return p;
}

/* The text of the top-level member `key` of a canonical JSON object (malloc'd; NULL if absent).
 * Top-level only: members of nested objects with the same name are skipped. */
static char *json_member(const char *json, const char *key) {
    const char *p = json;
    if (*p != '{') return NULL;
    p++;
    size_t klen = strlen(key);
    while (*p == '"') {
        const char *k = p + 1;
        const char *kend = json_value_end(p) - 1;
        const char *v = kend + 2; /* past `":` */
        const char *vend = json_value_end(v);
        if ((size_t)(kend - k) == klen && strncmp(k, key, klen) == 0) {
            char *out = malloc((size_t)(vend - v) + 1);
            memcpy(out, v, (size_t)(vend - v));
            out[vend - v] = 0;
            return out;
        }
        p = vend;
        if (*p == ',') p++;
    }
    return NULL;
}

/* Whether `json` has the top-level member `key`. */
static int has_member(const char *json, const char *key) {
    char *m = json_member(json, key);
    int has = m != NULL;
    free(m);
    return has;
}

/* Whether the top-level member `key` of `json` is exactly `value` (JSON text). */
static int member_is(const char *json, const char *key, const char *value) {
    char *m = json_member(json, key);
    int eq = m != NULL && strcmp(m, value) == 0;
    if (!eq) fprintf(stderr, "  %s is %s, expected %s\n", key, m ? m : "absent", value);
    free(m);
    return eq;
}

static char *last_error(void) {
    static char buf[2048];
    buf[0] = 0;
    bizra_last_error(buf, sizeof buf, NULL);
    return buf;
}

static bizra_generate_options greedy(uint32_t max_tokens, uint32_t tier) {
    bizra_generate_options o;
    memset(&o, 0, sizeof o);
    o.struct_size = sizeof o;
    o.max_tokens = max_tokens;
    o.has_temperature = true;
    o.temperature = 0;
    o.tier = tier;
    return o;
}

static bizra_pool_options pool_options(const char *key) {
    bizra_pool_options o;
    memset(&o, 0, sizeof o);
    o.struct_size = sizeof o;
    o.api_key = key;
    o.vocab_size = VOCAB_SIZE;
    return o;
}

/* A pool of the reference server with the right key. */
static bizra_pool *good_pool(void) {
    bizra_pool_options o = pool_options(API_KEY);
    bizra_pool *p = NULL;
    OK(bizra_pool_connect(server_url, &o, &p));
    return p;
}

/* A pool that is down: nothing listens, no retries, short timeouts. */
static bizra_pool *dead_pool(void) {
    bizra_pool_options o = pool_options(API_KEY);
    o.has_max_retries = true;
    o.max_retries = 0;
    o.connect_timeout_ms = 1000;
    o.read_timeout_ms = 2000;
    o.model = "gone";
    bizra_pool *p = NULL;
    OK(bizra_pool_connect(dead_url, &o, &p));
    return p;
}

/* A gateway of `edge` (may be NULL), `pools` and `fallbacks`; the pools are freed at once (the
 * gateway holds its own references). NULL on failure. */
static bizra_gateway *gateway_of(const bizra_engine *edge, bizra_pool **pools, size_t n_pools,
                                 const bizra_fallback *fallbacks, size_t n_fallbacks) {
    bizra_gateway_options o;
    memset(&o, 0, sizeof o);
    o.struct_size = sizeof o;
    o.edge = edge;
    o.pools = (const bizra_pool *const *)pools;
    o.pools_len = n_pools;
    o.fallbacks = fallbacks;
    o.fallbacks_len = n_fallbacks;
    bizra_gateway *g = NULL;
    OK(bizra_gateway_new(&o, &g));
    for (size_t i = 0; i < n_pools; i++) bizra_pool_free(pools[i]);
    return g;
}

/* What a token callback saw, and on which thread. */
struct sink {
    char text[8192];
    size_t len;
    int calls;
    int stop_after;                    /* return non-zero after this many calls (0: never) */
    int cancel_after;                  /* cancel `cancel` after this many calls (0: never) */
    const bizra_cancel_token *cancel;
    int on_main_thread;                /* calls made on the thread that called generate */
    int bad;
};

static int32_t collect(void *userdata, const char *piece, size_t len) {
    struct sink *s = userdata;
    if (pthread_equal(pthread_self(), main_thread)) s->on_main_thread++;
    if (piece == NULL || piece[len] != 0 || s->len + len >= sizeof s->text) {
        s->bad++;
        return 1;
    }
    memcpy(s->text + s->len, piece, len);
    s->len += len;
    s->text[s->len] = 0;
    s->calls++;
    if (s->cancel_after > 0 && s->calls == s->cancel_after) bizra_cancel_token_cancel(s->cancel);
    return s->stop_after > 0 && s->calls >= s->stop_after;
}

/* The decoded string `"output"` of a payload (no escapes expected in short answers beyond \n). */
static char *output_of(const char *payload) {
    char *o = json_member(payload, "output");
    if (o == NULL) return calloc(1, 1);
    char *r = o, *w = o;
    if (*r == '"') r++;
    while (*r && *r != '"') {
        if (*r == '\\' && r[1]) {
            r++;
            *w++ = *r == 'n' ? '\n' : *r == 't' ? '\t' : *r;
            r++;
        } else {
            *w++ = *r++;
        }
    }
    *w = 0;
    return o;
}

/* Verifies an envelope and returns its payload (free with bizra_string_free). */
static char *verified_payload(const bizra_envelope *env) {
    uint32_t reject = 99;
    OK(bizra_envelope_verify(env, NULL, &reject));
    CHECK(reject == 0);
    return payload_of(env);
}

/* ---------------------------------------------------------------------------------------- */

static void test_status_names(void) {
    current = "status_names";
    CHECK(strcmp(bizra_status_name(BIZRA_STATUS_REMOTE_UNAVAILABLE), "REMOTE_UNAVAILABLE") == 0);
    CHECK(strcmp(bizra_status_name(BIZRA_STATUS_REMOTE_REFUSED), "REMOTE_REFUSED") == 0);
    CHECK(BIZRA_STATUS_REMOTE_UNAVAILABLE == 19 && BIZRA_STATUS_REMOTE_REFUSED == 20);
    CHECK(bizra_status_name(22) == NULL);
}

static void test_health(void) {
    current = "health";
    bizra_pool *good = good_pool();
    bizra_health h = BIZRA_HEALTH_UNAVAILABLE;
    char *detail = (char *)"untouched";
    OK(bizra_pool_health(good, &h, &detail));
    CHECK(h == BIZRA_HEALTH_READY);
    CHECK(detail == NULL);
    if (h != BIZRA_HEALTH_READY && detail) fprintf(stderr, "  health: %s\n", detail);
    bizra_pool_free(good);

    bizra_pool *dead = dead_pool();
    OK(bizra_pool_health(dead, &h, &detail));
    CHECK(h == BIZRA_HEALTH_UNAVAILABLE);
    CHECK(detail != NULL && strlen(detail) > 0);
    bizra_string_free(detail);
    OK(bizra_pool_health(dead, &h, NULL)); /* no detail wanted */
    CHECK(h == BIZRA_HEALTH_UNAVAILABLE);
    ST(bizra_pool_health(dead, NULL, NULL), BIZRA_STATUS_NULL_POINTER);
    ST(bizra_pool_health(NULL, &h, NULL), BIZRA_STATUS_NULL_POINTER);
    bizra_pool_free(dead);
    bizra_pool_free(NULL);
}

static void test_decide(void) {
    current = "decide";
    bizra_gateway *g = NULL;
    OK(bizra_gateway_new(NULL, &g)); /* nothing configured: it still decides */
    bizra_tier_decision d;
    memset(&d, 0, sizeof d);
    OK(bizra_gateway_decide(g, QUESTION, NULL, &d));
    CHECK(d.tier == BIZRA_MODEL_TIER_EDGE && !d.forced);
    CHECK(d.complexity == BIZRA_TASK_COMPLEXITY_SIMPLE);
    CHECK(d.reason != NULL && strlen(d.reason) > 0);
    bizra_string_free(d.reason);

    /* The same decision as bizra_select_tier's. */
    bizra_tier_decision s;
    OK(bizra_select_tier(QUESTION, 256, BIZRA_MODEL_TIER_NONE, &s));
    OK(bizra_gateway_decide(g, QUESTION, NULL, &d));
    CHECK(s.tier == d.tier && s.complexity == d.complexity && strcmp(s.reason, d.reason) == 0);
    bizra_string_free(s.reason);
    bizra_string_free(d.reason);

    bizra_generate_options o = greedy(8, BIZRA_MODEL_TIER_POOL);
    OK(bizra_gateway_decide(g, QUESTION, &o, &d));
    CHECK(d.tier == BIZRA_MODEL_TIER_POOL && d.forced);
    bizra_string_free(d.reason);

    /* A caller built before `tier` existed passes the older size: nothing is forced. */
    o.struct_size = offsetof(bizra_generate_options, tier);
    OK(bizra_gateway_decide(g, QUESTION, &o, &d));
    CHECK(d.tier == BIZRA_MODEL_TIER_EDGE && !d.forced);
    bizra_string_free(d.reason);
    o.struct_size = 12;
    ST(bizra_gateway_decide(g, QUESTION, &o, &d), BIZRA_STATUS_INVALID_ARGUMENT);

    o = greedy(8, 4); /* no such tier */
    ST(bizra_gateway_decide(g, QUESTION, &o, &d), BIZRA_STATUS_INVALID_ARGUMENT);
    CHECK(strstr(last_error(), "opts.tier") != NULL);
    ST(bizra_gateway_decide(g, NULL, NULL, &d), BIZRA_STATUS_NULL_POINTER);
    ST(bizra_gateway_decide(g, QUESTION, NULL, NULL), BIZRA_STATUS_NULL_POINTER);
    ST(bizra_gateway_decide(NULL, QUESTION, NULL, &d), BIZRA_STATUS_NULL_POINTER);

    /* Nothing to serve any tier with. */
    bizra_envelope *env = NULL;
    o = greedy(8, BIZRA_MODEL_TIER_POOL);
    ST(bizra_gateway_generate(g, id, QUESTION, &o, &env, NULL, NULL), BIZRA_STATUS_NO_REMOTE_POOL);
    o = greedy(8, BIZRA_MODEL_TIER_EDGE);
    ST(bizra_gateway_generate(g, id, QUESTION, &o, &env, NULL, NULL),
       BIZRA_STATUS_MODEL_NOT_FOUND);
    CHECK(env == NULL);
    bizra_gateway_free(g);
}

/* One request through the Pool tier: signed, verified, routed, streamed on the pool's thread. */
static void test_pool_request(void) {
    current = "pool_request";
    bizra_pool *pools[] = {good_pool()};
    bizra_gateway *g = gateway_of(engine, pools, 1, NULL, 0);
    if (g == NULL) return;

    struct sink s;
    memset(&s, 0, sizeof s);
    bizra_generate_options o = greedy(8, BIZRA_MODEL_TIER_POOL);
    o.on_token = collect;
    o.userdata = &s;
    bizra_envelope *env = NULL;
    uint32_t finish = 99, served = 99;
    OK(bizra_gateway_generate(g, id, QUESTION, &o, &env, &finish, &served));
    CHECK(served == BIZRA_MODEL_TIER_POOL);
    CHECK(finish == BIZRA_FINISH_REASON_LENGTH || finish == BIZRA_FINISH_REASON_EOS);
    CHECK(s.calls > 0 && s.bad == 0);
    CHECK(s.on_main_thread == 0); /* the pool's own thread ran the callback */
    if (env) {
        char *payload = verified_payload(env);
        CHECK(member_is(payload, "tier", "\"pool\""));
        CHECK(member_is(payload, "type", "\"bizra.inference\""));
        char *route = json_member(payload, "route");
        CHECK(route != NULL);
        if (route) {
            char want[300];
            snprintf(want, sizeof want, "\"%s\"", server_url);
            CHECK(member_is(route, "served", "\"pool\""));
            CHECK(member_is(route, "tier", "\"pool\""));
            CHECK(member_is(route, "forced", "true"));
            CHECK(member_is(route, "backend", want));
            CHECK(member_is(route, "fallbacks", "[]"));
            CHECK(member_is(route, "skipped", "[]"));
        }
        char *backend = json_member(payload, "backend");
        CHECK(backend != NULL);
        if (backend) {
            char want[300];
            snprintf(want, sizeof want, "\"%s\"", server_url);
            CHECK(member_is(backend, "base_url", want));
            CHECK(member_is(backend, "kind", "\"openai-compatible\""));
        }
        CHECK(member_is(payload, "vocab_size", "49152"));
        /* The streamed pieces are the signed output. */
        char *out = output_of(payload);
        CHECK(strcmp(out, s.text) == 0);
        if (strcmp(out, s.text) != 0) fprintf(stderr, "  output %s / pieces %s\n", out, s.text);
        /* The key is nowhere in what was signed. */
        CHECK(strstr(payload, API_KEY) == NULL);
        bizra_scores sc;
        OK(bizra_envelope_scores(env, &sc));
        CHECK(sc.has_snr && sc.snr >= 0 && sc.snr <= 1); /* measured: vocab_size was given */
        free(out);
        free(backend);
        free(route);
        bizra_string_free(payload);
        bizra_envelope_free(env);
    }

    /* Whole (no callback): the same greedy answer. */
    bizra_generate_options whole = greedy(8, BIZRA_MODEL_TIER_POOL);
    env = NULL;
    OK(bizra_gateway_generate(g, id, QUESTION, &whole, &env, NULL, NULL));
    if (env) {
        char *payload = verified_payload(env);
        char *out = output_of(payload);
        CHECK(strcmp(out, s.text) == 0);
        CHECK(member_is(payload, "tier", "\"pool\""));
        free(out);
        bizra_string_free(payload);
        bizra_envelope_free(env);
    }
    bizra_gateway_free(g);
}

/* Stopping a pool's stream: from the callback, and with a cancel token; never a fallback. */
static void test_pool_cancel(void) {
    current = "pool_cancel";
    bizra_pool *pools[] = {good_pool()};
    const bizra_fallback to_edge[] = {{BIZRA_MODEL_TIER_POOL, BIZRA_MODEL_TIER_EDGE}};
    bizra_gateway *g = gateway_of(engine, pools, 1, to_edge, 1);
    if (g == NULL) return;

    struct sink s;
    memset(&s, 0, sizeof s);
    s.stop_after = 2;
    bizra_generate_options o = greedy(200, BIZRA_MODEL_TIER_POOL);
    o.on_token = collect;
    o.userdata = &s;
    bizra_envelope *env = NULL;
    uint32_t finish = 99, served = 99;
    OK(bizra_gateway_generate(g, id, "Write a long story about a dragon.", &o, &env, &finish,
                              &served));
    CHECK(finish == BIZRA_FINISH_REASON_CANCELLED);
    CHECK(served == BIZRA_MODEL_TIER_POOL);
    CHECK(s.calls >= 2 && s.calls <= 4);
    if (env) {
        char *payload = verified_payload(env);
        CHECK(member_is(payload, "finish_reason", "\"cancelled\""));
        char *route = json_member(payload, "route");
        CHECK(route && member_is(route, "fallbacks", "[]"));
        free(route);
        bizra_string_free(payload);
        bizra_envelope_free(env);
    }

    bizra_cancel_token *token = NULL;
    OK(bizra_cancel_token_new(&token));
    memset(&s, 0, sizeof s);
    s.cancel_after = 2;
    s.cancel = token;
    o.cancel = token;
    env = NULL;
    OK(bizra_gateway_generate(g, id, "Write a long story about a dragon.", &o, &env, &finish,
                              &served));
    CHECK(finish == BIZRA_FINISH_REASON_CANCELLED);
    CHECK(served == BIZRA_MODEL_TIER_POOL);
    CHECK(s.calls >= 2 && s.calls <= 4);
    bool cancelled = false;
    OK(bizra_cancel_token_is_cancelled(token, &cancelled));
    CHECK(cancelled);
    bizra_envelope_free(env);
    bizra_cancel_token_free(token);
    bizra_gateway_free(g);
}

/* A pool with max_in_flight 1 while a generation through it runs on another thread, held at its
 * first piece (check.h's held_generation): the one slot is taken for certain, whatever the
 * timing. */
static void *run_held_pool_generation(void *arg) {
    struct held_generation *r = arg;
    bizra_generate_options o = greedy(4, BIZRA_MODEL_TIER_POOL);
    o.on_token = hold_until_refused;
    o.userdata = r;
    bizra_envelope *env = NULL;
    r->status = bizra_gateway_generate(r->gateway, id, QUESTION, &o, &env, NULL, NULL);
    bizra_envelope_free(env);
    return NULL;
}

/* max_in_flight: a caller built before the member passes the older struct_size; with 1, a second
 * request (a generation, a health probe) is refused at once while one runs, and the pool serves
 * again once it has ended. */
static void test_pool_in_flight(void) {
    current = "pool_in_flight";
    bizra_pool_options po = pool_options(API_KEY);
    po.struct_size = (uint32_t)offsetof(bizra_pool_options, max_in_flight);
    bizra_pool *older = NULL;
    OK(bizra_pool_connect(server_url, &po, &older));
    CHECK(older != NULL);
    bizra_pool_free(older);
    po.struct_size = (uint32_t)offsetof(bizra_pool_options, max_in_flight) + 4;
    ST(bizra_pool_connect(server_url, &po, &older), BIZRA_STATUS_INVALID_ARGUMENT);
    CHECK(strstr(last_error(), "opts.struct_size") != NULL);

    po = pool_options(API_KEY);
    po.max_in_flight = 1;
    bizra_pool *pool = NULL;
    OK(bizra_pool_connect(server_url, &po, &pool));
    if (pool == NULL) return;
    /* The test keeps its reference to the pool (for its health probe) beside the gateway's. */
    const bizra_pool *pools[] = {pool};
    bizra_gateway_options go;
    memset(&go, 0, sizeof go);
    go.struct_size = sizeof go;
    go.pools = pools;
    go.pools_len = 1;
    static struct held_generation r;
    OK(bizra_gateway_new(&go, &r.gateway));
    if (r.gateway == NULL) {
        bizra_pool_free(pool);
        return;
    }
    r.status = 99;
    pthread_t t;
    CHECK(pthread_create(&t, NULL, run_held_pool_generation, &r) == 0);
    CHECK(wait_for(&r.first_piece, 60000));

    bizra_generate_options o = greedy(4, BIZRA_MODEL_TIER_POOL);
    bizra_envelope *env = (bizra_envelope *)0x1;
    uint32_t finish = 99, served = 99;
    ST(bizra_gateway_generate(r.gateway, id, QUESTION, &o, &env, &finish, &served),
       BIZRA_STATUS_BUSY);
    CHECK(env == (bizra_envelope *)0x1 && finish == 99 && served == 99);
    CHECK(strstr(last_error(), "busy") != NULL);
    CHECK(strstr(last_error(), "in flight") != NULL);
    /* A health probe takes a slot too: none is free, so the pool cannot answer for now. */
    bizra_health h = BIZRA_HEALTH_READY;
    char *detail = NULL;
    OK(bizra_pool_health(pool, &h, &detail));
    CHECK(h == BIZRA_HEALTH_UNAVAILABLE);
    CHECK(detail != NULL && strstr(detail, "busy") != NULL);
    bizra_string_free(detail);
    atomic_store(&r.refused, 1);
    pthread_join(t, NULL);
    CHECK(r.status == BIZRA_STATUS_OK);

    /* The slot is given back before the answer is handed over: the probe and then a generation
     * are served at once. */
    h = BIZRA_HEALTH_UNAVAILABLE;
    OK(bizra_pool_health(pool, &h, NULL));
    CHECK(h == BIZRA_HEALTH_READY);
    env = NULL;
    OK(bizra_gateway_generate(r.gateway, id, QUESTION, &o, &env, NULL, &served));
    CHECK(env != NULL && served == BIZRA_MODEL_TIER_POOL);
    bizra_envelope_free(env);
    bizra_pool_free(pool);
    bizra_gateway_free(r.gateway);
}

/* A pool that is down, with Pool → Edge: Edge serves, and the payload says why. */
static void test_fallback_to_edge(void) {
    current = "fallback_to_edge";
    bizra_pool *pools[] = {dead_pool()};
    const bizra_fallback to_edge[] = {{BIZRA_MODEL_TIER_POOL, BIZRA_MODEL_TIER_EDGE}};
    bizra_gateway *g = gateway_of(engine, pools, 1, to_edge, 1);
    if (g == NULL) return;
    bizra_generate_options o = greedy(8, BIZRA_MODEL_TIER_POOL);
    bizra_envelope *env = NULL;
    uint32_t served = 99;
    OK(bizra_gateway_generate(g, id, QUESTION, &o, &env, NULL, &served));
    CHECK(served == BIZRA_MODEL_TIER_EDGE);
    if (env) {
        char *payload = verified_payload(env);
        CHECK(member_is(payload, "tier", "\"edge\""));
        CHECK(!has_member(payload, "backend")); /* an engine's payload */
        char *route = json_member(payload, "route");
        CHECK(route != NULL);
        if (route) {
            CHECK(member_is(route, "tier", "\"pool\""));
            CHECK(member_is(route, "served", "\"edge\""));
            CHECK(member_is(route, "backend", "\"embedded\""));
            char *fallbacks = json_member(route, "fallbacks");
            CHECK(fallbacks != NULL && fallbacks[0] == '[' && fallbacks[1] == '{');
            if (fallbacks && fallbacks[0] == '[' && fallbacks[1] == '{') {
                char *step = fallbacks + 1; /* the first (and only) step */
                *(char *)json_value_end(step) = 0;
                CHECK(member_is(step, "from", "\"pool\""));
                CHECK(member_is(step, "to", "\"edge\""));
                CHECK(member_is(step, "cause", "\"REMOTE_UNAVAILABLE\""));
                char *detail = json_member(step, "detail");
                CHECK(detail != NULL && strlen(detail) > 2);
                free(detail);
            }
            free(fallbacks);
        }
        free(route);
        bizra_string_free(payload);
        bizra_envelope_free(env);
    }
    bizra_gateway_free(g);
}

/* The same pool without a fallback: REMOTE_UNAVAILABLE, naming the endpoint. */
static void test_unavailable_without_fallback(void) {
    current = "unavailable_without_fallback";
    bizra_pool *pools[] = {dead_pool()};
    bizra_gateway *g = gateway_of(engine, pools, 1, NULL, 0);
    if (g == NULL) return;
    bizra_generate_options o = greedy(8, BIZRA_MODEL_TIER_POOL);
    bizra_envelope *env = NULL;
    uint32_t finish = 99, served = 99;
    ST(bizra_gateway_generate(g, id, QUESTION, &o, &env, &finish, &served),
       BIZRA_STATUS_REMOTE_UNAVAILABLE);
    CHECK(env == NULL && finish == 99 && served == 99); /* out-params untouched */
    const char *e = last_error();
    CHECK(strstr(e, "bizra_gateway_generate: ") == e);
    CHECK(strstr(e, dead_url) != NULL);
    CHECK(strstr(e, "no HTTP status") != NULL);
    if (strstr(e, dead_url) == NULL) fprintf(stderr, "  last error: %s\n", e);
    bizra_gateway_free(g);
}

/* Pools in order: the one that is down is skipped and recorded. */
static void test_pools_in_order(void) {
    current = "pools_in_order";
    bizra_pool *pools[] = {dead_pool(), good_pool()};
    bizra_gateway *g = gateway_of(engine, pools, 2, NULL, 0);
    if (g == NULL) return;
    bizra_generate_options o = greedy(4, BIZRA_MODEL_TIER_POOL);
    bizra_envelope *env = NULL;
    uint32_t served = 99;
    OK(bizra_gateway_generate(g, id, QUESTION, &o, &env, NULL, &served));
    CHECK(served == BIZRA_MODEL_TIER_POOL);
    if (env) {
        char *payload = verified_payload(env);
        char *route = json_member(payload, "route");
        char *skipped = route ? json_member(route, "skipped") : NULL;
        char want[128];
        snprintf(want, sizeof want, "\"backend\":\"%s\"", dead_url);
        CHECK(skipped != NULL && strstr(skipped, want) != NULL);
        CHECK(route && member_is(route, "served", "\"pool\""));
        free(skipped);
        free(route);
        bizra_string_free(payload);
        bizra_envelope_free(env);
    }
    bizra_gateway_free(g);
}

/* A wrong key is a refusal: no fallback, and the key is never shown. */
static void test_refused(void) {
    current = "refused";
    bizra_pool_options po = pool_options(WRONG_KEY);
    po.has_max_retries = true;
    po.max_retries = 0;
    bizra_pool *pools[1] = {NULL};
    OK(bizra_pool_connect(server_url, &po, &pools[0]));
    const bizra_fallback to_edge[] = {{BIZRA_MODEL_TIER_POOL, BIZRA_MODEL_TIER_EDGE}};
    bizra_gateway *g = gateway_of(engine, pools, 1, to_edge, 1);
    if (g == NULL) return;
    bizra_generate_options o = greedy(4, BIZRA_MODEL_TIER_POOL);
    bizra_envelope *env = NULL;
    ST(bizra_gateway_generate(g, id, QUESTION, &o, &env, NULL, NULL), BIZRA_STATUS_REMOTE_REFUSED);
    CHECK(env == NULL);
    const char *e = last_error();
    CHECK(strstr(e, "HTTP status 401") != NULL);
    CHECK(strstr(e, server_url) != NULL);
    CHECK(strstr(e, WRONG_KEY) == NULL && strstr(e, API_KEY) == NULL);
    if (strstr(e, "HTTP status 401") == NULL) fprintf(stderr, "  last error: %s\n", e);
    bizra_gateway_free(g);
}

/* A forced Edge tier goes to the engine even with a pool configured; Local served by the same
 * engine when given it; an engine called directly ignores a forced tier. */
static void test_forced_tiers(void) {
    current = "forced_tiers";
    bizra_pool *pools[] = {good_pool()};
    bizra_gateway_options go;
    memset(&go, 0, sizeof go);
    go.struct_size = sizeof go;
    go.edge = engine;
    go.local = engine;
    go.pools = (const bizra_pool *const *)pools;
    go.pools_len = 1;
    bizra_gateway *g = NULL;
    OK(bizra_gateway_new(&go, &g));
    bizra_pool_free(pools[0]);
    if (g == NULL) return;

    const uint32_t tiers[] = {BIZRA_MODEL_TIER_EDGE, BIZRA_MODEL_TIER_LOCAL};
    const char *names[] = {"\"edge\"", "\"local\""};
    for (int i = 0; i < 2; i++) {
        struct sink s;
        memset(&s, 0, sizeof s);
        bizra_generate_options o = greedy(6, tiers[i]);
        o.on_token = collect;
        o.userdata = &s;
        bizra_envelope *env = NULL;
        uint32_t served = 99;
        OK(bizra_gateway_generate(g, id, QUESTION, &o, &env, NULL, &served));
        CHECK(served == tiers[i]);
        CHECK(s.calls > 0 && s.on_main_thread == 0); /* the engine's worker thread */
        if (!env) continue;
        char *payload = verified_payload(env);
        CHECK(member_is(payload, "tier", names[i]));
        char *route = json_member(payload, "route");
        CHECK(route && member_is(route, "served", names[i]));
        CHECK(route && member_is(route, "tier", names[i]));
        CHECK(route && member_is(route, "forced", "true"));
        CHECK(route && member_is(route, "backend", "\"embedded\""));
        char *out = output_of(payload);
        CHECK(strcmp(out, s.text) == 0);
        free(out);
        free(route);
        bizra_string_free(payload);
        bizra_envelope_free(env);
    }

    /* Not forced: a simple task is decided Edge. */
    bizra_generate_options o = greedy(6, BIZRA_MODEL_TIER_NONE);
    bizra_envelope *env = NULL;
    uint32_t served = 99;
    OK(bizra_gateway_generate(g, id, QUESTION, &o, &env, NULL, &served));
    CHECK(served == BIZRA_MODEL_TIER_EDGE);
    if (env) {
        char *payload = verified_payload(env);
        char *route = json_member(payload, "route");
        CHECK(route && member_is(route, "forced", "false"));
        free(route);
        bizra_string_free(payload);
        bizra_envelope_free(env);
    }
    bizra_gateway_free(g);

    /* The engine itself ignores the forced tier; an older struct_size is still taken. */
    o = greedy(4, BIZRA_MODEL_TIER_POOL);
    env = NULL;
    OK(bizra_engine_generate(engine, id, QUESTION, &o, &env, NULL));
    if (env) {
        char *payload = verified_payload(env);
        CHECK(member_is(payload, "tier", "\"edge\""));
        CHECK(!has_member(payload, "route"));
        bizra_string_free(payload);
        bizra_envelope_free(env);
    }
    o.struct_size = offsetof(bizra_generate_options, tier);
    env = NULL;
    OK(bizra_engine_generate(engine, id, QUESTION, &o, &env, NULL));
    bizra_envelope_free(env);
    o = greedy(4, 9);
    env = NULL;
    ST(bizra_engine_generate(engine, id, QUESTION, &o, &env, NULL), BIZRA_STATUS_INVALID_ARGUMENT);
    CHECK(env == NULL);
}

/* Bad configurations are refused by name, before anything is made. */
static void test_bad_configurations(void) {
    current = "bad_configurations";
    struct {
        bizra_fallback f[2];
        size_t n;
        const char *says;
    } bad[] = {
        {{{BIZRA_MODEL_TIER_POOL, BIZRA_MODEL_TIER_POOL}}, 1, "itself"},
        {{{BIZRA_MODEL_TIER_EDGE, BIZRA_MODEL_TIER_EDGE}}, 1, "itself"},
        {{{BIZRA_MODEL_TIER_POOL, BIZRA_MODEL_TIER_EDGE}, {BIZRA_MODEL_TIER_POOL, BIZRA_MODEL_TIER_LOCAL}},
         2, "two fallbacks"},
        {{{BIZRA_MODEL_TIER_NONE, BIZRA_MODEL_TIER_EDGE}}, 1, "opts.fallbacks[0].from"},
        {{{BIZRA_MODEL_TIER_POOL, 7}}, 1, "opts.fallbacks[0].to"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        bizra_gateway_options o;
        memset(&o, 0, sizeof o);
        o.struct_size = sizeof o;
        o.edge = engine;
        o.fallbacks = bad[i].f;
        o.fallbacks_len = bad[i].n;
        bizra_gateway *g = NULL;
        ST(bizra_gateway_new(&o, &g), BIZRA_STATUS_INVALID_ARGUMENT);
        CHECK(g == NULL);
        CHECK(strstr(last_error(), bad[i].says) != NULL);
        if (strstr(last_error(), bad[i].says) == NULL)
            fprintf(stderr, "  case %zu: %s\n", i, last_error());
        bizra_gateway_free(g);
    }
    bizra_gateway_options o;
    memset(&o, 0, sizeof o);
    o.struct_size = 4;
    bizra_gateway *g = NULL;
    ST(bizra_gateway_new(&o, &g), BIZRA_STATUS_INVALID_ARGUMENT);
    o.struct_size = sizeof o;
    o.pools_len = 1; /* pools NULL */
    ST(bizra_gateway_new(&o, &g), BIZRA_STATUS_NULL_POINTER);
    const bizra_pool *none[] = {NULL};
    o.pools = none;
    ST(bizra_gateway_new(&o, &g), BIZRA_STATUS_NULL_POINTER);
    CHECK(strstr(last_error(), "opts.pools[0]") != NULL);
    ST(bizra_gateway_new(NULL, NULL), BIZRA_STATUS_NULL_POINTER);
    CHECK(g == NULL);
    bizra_gateway_free(NULL);

    /* Pool options. */
    bizra_pool *p = NULL;
    bizra_pool_options po = pool_options(API_KEY);
    po.has_top_logprobs = true;
    po.top_logprobs = 21;
    ST(bizra_pool_connect(server_url, &po, &p), BIZRA_STATUS_INVALID_ARGUMENT);
    po.top_logprobs = 300;
    ST(bizra_pool_connect(server_url, &po, &p), BIZRA_STATUS_INVALID_ARGUMENT);
    po = pool_options(API_KEY);
    po.vocab_size = 1;
    ST(bizra_pool_connect(server_url, &po, &p), BIZRA_STATUS_INVALID_ARGUMENT);
    po = pool_options(API_KEY);
    po.model = " ";
    ST(bizra_pool_connect(server_url, &po, &p), BIZRA_STATUS_INVALID_ARGUMENT);
    po = pool_options(API_KEY);
    po.struct_size = 8;
    ST(bizra_pool_connect(server_url, &po, &p), BIZRA_STATUS_INVALID_ARGUMENT);
    ST(bizra_pool_connect("not a url", NULL, &p), BIZRA_STATUS_INVALID_ARGUMENT);
    CHECK(strstr(last_error(), API_KEY) == NULL);
    ST(bizra_pool_connect(NULL, NULL, &p), BIZRA_STATUS_NULL_POINTER);
    ST(bizra_pool_connect(server_url, NULL, NULL), BIZRA_STATUS_NULL_POINTER);
    CHECK(p == NULL);
    /* The defaults take a URL without /v1. */
    char root[256];
    snprintf(root, sizeof root, "%.*s", (int)(strlen(server_url) - 3), server_url);
    OK(bizra_pool_connect(root, NULL, &p));
    bizra_pool_free(p);
}

int main(void) {
    main_thread = pthread_self();
    model_path = getenv("BIZRA_TEST_MODEL");
    if (model_path == NULL || access(model_path, R_OK) != 0) {
        fprintf(stderr, "BIZRA_TEST_MODEL (%s) is not a readable model: run `make model`\n",
                model_path ? model_path : "unset");
        printf("0 passed, 1 failed\n");
        return 1;
    }
    /* The server first: fork before the library starts any thread. */
    if (start_server() != 0) {
        stop_server();
        printf("0 passed, 1 failed\n");
        return 1;
    }
    int port = closed_port();
    snprintf(dead_url, sizeof dead_url, "http://127.0.0.1:%d/v1", port);

    bizra_engine_options eo;
    memset(&eo, 0, sizeof eo);
    eo.struct_size = sizeof eo;
    eo.n_ctx = 512;
    OK(bizra_engine_load(model_path, &eo, &engine));
    OK(bizra_identity_generate(&id));
    if (engine == NULL || id == NULL || port <= 0) {
        fprintf(stderr, "cannot load %s: nothing else can run\n", model_path);
        stop_server();
        return check_summary() | 1;
    }

    test_status_names();
    test_health();
    test_decide();
    test_pool_request();
    test_pool_cancel();
    test_pool_in_flight();
    test_fallback_to_edge();
    test_unavailable_without_fallback();
    test_pools_in_order();
    test_refused();
    test_forced_tiers();
    test_bad_configurations();

    bizra_engine_free(engine);
    bizra_identity_free(id);
    stop_server();
    return check_summary();
}
