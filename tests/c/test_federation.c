/* The C suite of federation membership: real nodes on loopback UDP (port 0, fast timings). Two
 * nodes join through a seed and each sees the other's join event and lists the other alive; a
 * leave reaches the other as a left event; a stopped node refuses every call with
 * BIZRA_STATUS_STOPPED and its event streams end; an allowlist keeps an outsider out (counted as
 * a drop); the data directory's boot counter raises the generation; a reader blocked on another
 * thread wakes when the node stops; bad options give clear statuses and last errors, and leave
 * out-params untouched. Prints "N passed, N failed"; exits non-zero on failure.
 *
 * Built by mk/c.mk against the shared and the static library, run natively, under valgrind and
 * with AddressSanitizer + UBSan. The waits are generous (a node under valgrind is slow); none of
 * them is a timing assertion. */
#define _GNU_SOURCE
#include "bizra.h"
#include "check.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* How long any one wait for the membership may take before it counts as a failure. */
#define WAIT_MS 30000

static int64_t now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Options for a node on loopback with fast timings (still slow enough for valgrind). */
static bizra_node_options fast(const char *federation, const char *const *seeds, size_t n_seeds) {
    bizra_node_options o;
    memset(&o, 0, sizeof o);
    o.struct_size = sizeof o;
    o.bind = "127.0.0.1:0";
    o.federation = federation;
    o.seeds = seeds;
    o.seeds_len = n_seeds;
    o.probe_period_ms = 200;
    o.probe_rtt_ms = 100;
    o.suspect_to_down_ms = 3000;
    o.gossip_interval_ms = 50;
    o.rejoin_interval_ms = 500;
    o.announce_interval_ms = 2000;
    o.expected_members = 4;
    return o;
}

static bizra_node *start(const bizra_identity *id, const bizra_node_options *o) {
    bizra_node *node = NULL;
    OK(bizra_node_start(id, o, &node));
    CHECK(node != NULL);
    return node;
}

/* The node's id and bound address, as strings the caller frees with bizra_string_free. */
static char *node_id(const bizra_node *node) {
    char *s = NULL;
    OK(bizra_node_node_id(node, &s));
    return s;
}

static char *local_addr(const bizra_node *node) {
    char *s = NULL;
    OK(bizra_node_local_addr(node, &s));
    return s;
}

/* Reads `events` until an event of `kind` about `id` comes (true) or WAIT_MS pass (false).
 * Every event read is checked for well-formed text. */
static bool wait_event(bizra_node_events *events, uint32_t kind, const char *id) {
    int64_t deadline = now_ms() + WAIT_MS;
    while (now_ms() < deadline) {
        bizra_node_event e;
        bool got = false;
        bizra_status st = bizra_node_events_next(events, 100, &e, &got);
        if (st != BIZRA_STATUS_OK) return false;
        if (!got) continue;
        CHECK(memchr(e.member.node_id, 0, sizeof e.member.node_id) != NULL);
        CHECK(memchr(e.member.addr, 0, sizeof e.member.addr) != NULL);
        CHECK(bizra_node_event_kind_name(e.kind) != NULL);
        CHECK(e.at_ms > 0);
        if (e.kind == kind && strcmp(e.member.node_id, id) == 0) return true;
    }
    return false;
}

/* The member with node id `id` in `node`'s list, copied to `*out`; false when absent. */
static bool find_member(const bizra_node *node, const char *id, bizra_member *out) {
    bizra_members m = {NULL, 0};
    if (bizra_node_members(node, &m) != BIZRA_STATUS_OK) return false;
    bool found = false;
    for (size_t i = 0; i < m.len; i++) {
        if (strcmp(m.data[i].node_id, id) == 0) {
            *out = m.data[i];
            found = true;
        }
    }
    bizra_members_free(&m);
    CHECK(m.data == NULL && m.len == 0);
    return found;
}

/* Waits until `node` lists `id` in `state` (true) or WAIT_MS pass (false). */
static bool wait_member(const bizra_node *node, const char *id, uint32_t state) {
    int64_t deadline = now_ms() + WAIT_MS;
    bizra_member m;
    while (now_ms() < deadline) {
        if (find_member(node, id, &m) && m.state == state) return true;
        sleep_ms(50);
    }
    return false;
}

/* The last error contains `needle`. */
static bool last_error_has(const char *needle) {
    char msg[512] = "";
    bizra_last_error(msg, sizeof msg, NULL);
    bool ok = strstr(msg, needle) != NULL;
    if (!ok) fprintf(stderr, "  last error \"%s\" lacks \"%s\"\n", msg, needle);
    return ok;
}

/* ---------------------------------------------------------------------------------------- */

static void test_names(void) {
    current = "names";
    static const char *states[] = {"alive", "suspect", "down", "left"};
    for (uint32_t i = 0; i < 4; i++) CHECK(strcmp(bizra_member_state_name(i), states[i]) == 0);
    CHECK(BIZRA_MEMBER_STATE_LEFT == 3);
    CHECK(bizra_member_state_name(4) == NULL);
    static const char *kinds[] = {"joined", "suspect", "alive_again", "down", "left"};
    for (uint32_t i = 0; i < 5; i++) CHECK(strcmp(bizra_node_event_kind_name(i), kinds[i]) == 0);
    CHECK(BIZRA_NODE_EVENT_KIND_LEFT == 4);
    CHECK(bizra_node_event_kind_name(5) == NULL);
    CHECK(bizra_node_event_kind_name(UINT32_MAX) == NULL);
    /* Every drop reason has a name and a counter; the numbers are dense. */
    uint32_t reasons = 0;
    while (bizra_drop_reason_name(reasons) != NULL) reasons++;
    CHECK(reasons == BIZRA_DROP_REASON_QUEUE_FULL + 1);
    CHECK(reasons <= BIZRA_DROP_REASONS_MAX);
    CHECK(strcmp(bizra_drop_reason_name(BIZRA_DROP_REASON_BAD_SIGNATURE), "bad_signature") == 0);
    CHECK(strcmp(bizra_drop_reason_name(BIZRA_DROP_REASON_NOT_ADMITTED), "not_admitted") == 0);
    CHECK(strcmp(bizra_drop_reason_name(BIZRA_DROP_REASON_REPLAY), "replay") == 0);
    CHECK(bizra_drop_reason_name(BIZRA_DROP_REASONS_MAX) == NULL);
    CHECK(strcmp(bizra_status_name(BIZRA_STATUS_STOPPED), "STOPPED") == 0);
}

/* Bad options: each a clear status, a last error naming what was wrong, `*out` untouched. */
static void test_bad_options(void) {
    current = "bad options";
    bizra_identity *id = NULL;
    OK(bizra_identity_generate(&id));
    bizra_node *sentinel = (bizra_node *)&sentinel;
    bizra_node *out = sentinel;

    bizra_node_options o = fast("bad", NULL, 0);
    ST(bizra_node_start(NULL, &o, &out), BIZRA_STATUS_NULL_POINTER);
    CHECK(last_error_has("bizra_node_start: id is NULL"));
    ST(bizra_node_start(id, &o, NULL), BIZRA_STATUS_NULL_POINTER);
    CHECK(last_error_has("out is NULL"));

    o.struct_size = 4;
    ST(bizra_node_start(id, &o, &out), BIZRA_STATUS_INVALID_ARGUMENT);
    CHECK(last_error_has("opts.struct_size is 4"));
    o.struct_size = sizeof o;

    o.bind = "localhost";
    ST(bizra_node_start(id, &o, &out), BIZRA_STATUS_INVALID_ARGUMENT);
    CHECK(last_error_has("opts.bind \"localhost\" is not an ip:port address"));
    o.bind = "127.0.0.1:0";
    o.advertise = "10.0.0.1";
    ST(bizra_node_start(id, &o, &out), BIZRA_STATUS_INVALID_ARGUMENT);
    CHECK(last_error_has("opts.advertise"));
    o.advertise = NULL;

    /* A seed without a port. */
    const char *no_port[] = {"127.0.0.1"};
    o.seeds = no_port;
    o.seeds_len = 1;
    ST(bizra_node_start(id, &o, &out), BIZRA_STATUS_INVALID_ARGUMENT);
    CHECK(last_error_has("seed \"127.0.0.1\""));
    CHECK(last_error_has("host:port"));
    const char *null_seed[] = {"127.0.0.1:1", NULL};
    o.seeds = null_seed;
    o.seeds_len = 2;
    ST(bizra_node_start(id, &o, &out), BIZRA_STATUS_NULL_POINTER);
    CHECK(last_error_has("opts.seeds[1] is NULL"));
    o.seeds = NULL;
    ST(bizra_node_start(id, &o, &out), BIZRA_STATUS_NULL_POINTER);
    CHECK(last_error_has("opts.seeds is NULL"));
    o.seeds_len = 0;

    o.allowlist_len = 1;
    ST(bizra_node_start(id, &o, &out), BIZRA_STATUS_NULL_POINTER);
    CHECK(last_error_has("opts.allowlist is NULL"));
    o.allowlist_len = 0;

    /* A data directory that is a file. */
    char path[] = "/tmp/bizra-node-XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    if (fd >= 0) close(fd);
    o.data_dir = path;
    ST(bizra_node_start(id, &o, &out), BIZRA_STATUS_IO);
    CHECK(last_error_has(path));
    unlink(path);
    o.data_dir = NULL;

    /* A port in use. */
    bizra_node *a = start(id, &o);
    char *taken = local_addr(a);
    o.bind = taken;
    ST(bizra_node_start(id, &o, &out), BIZRA_STATUS_IO);
    CHECK(last_error_has(taken));
    CHECK(out == sentinel);
    bizra_string_free(taken);
    bizra_node_free(a);

    /* NULL handles and out-params on the other calls. */
    char *s = NULL;
    uint64_t g = 0;
    bool b = false;
    bizra_members m = {NULL, 0};
    bizra_node_counters stats;
    bizra_node_events *ev = NULL;
    bizra_node_event e;
    ST(bizra_node_local_addr(NULL, &s), BIZRA_STATUS_NULL_POINTER);
    CHECK(last_error_has("bizra_node_local_addr: node is NULL"));
    ST(bizra_node_advertised_addr(NULL, &s), BIZRA_STATUS_NULL_POINTER);
    ST(bizra_node_node_id(NULL, &s), BIZRA_STATUS_NULL_POINTER);
    ST(bizra_node_generation(NULL, &g), BIZRA_STATUS_NULL_POINTER);
    ST(bizra_node_is_running(NULL, &b), BIZRA_STATUS_NULL_POINTER);
    ST(bizra_node_members(NULL, &m), BIZRA_STATUS_NULL_POINTER);
    ST(bizra_node_stats(NULL, &stats), BIZRA_STATUS_NULL_POINTER);
    ST(bizra_node_subscribe(NULL, &ev), BIZRA_STATUS_NULL_POINTER);
    ST(bizra_node_events_next(NULL, 0, &e, &b), BIZRA_STATUS_NULL_POINTER);
    CHECK(last_error_has("events is NULL"));
    ST(bizra_node_leave(NULL), BIZRA_STATUS_NULL_POINTER);
    ST(bizra_node_stop(NULL), BIZRA_STATUS_NULL_POINTER);
    bizra_node_free(NULL);
    bizra_node_events_free(NULL);
    bizra_members_free(NULL);
    bizra_members_free(&m);
    bizra_identity_free(id);
}

/* Two nodes: join, members, stats, events; a leave reaches the other; the one that left refuses
 * every call. */
static void test_two_nodes(void) {
    current = "two nodes";
    bizra_identity *ida = NULL, *idb = NULL;
    OK(bizra_identity_generate(&ida));
    OK(bizra_identity_generate(&idb));

    bizra_node_options oa = fast("two", NULL, 0);
    bizra_node *a = start(ida, &oa);
    /* The node keeps its own reference to the identity. */
    bizra_identity_free(ida);
    bizra_node_events *ea = NULL;
    OK(bizra_node_subscribe(a, &ea));

    char *addr_a = local_addr(a);
    CHECK(strncmp(addr_a, "127.0.0.1:", 10) == 0 && strcmp(addr_a, "127.0.0.1:0") != 0);
    char *adv = NULL;
    OK(bizra_node_advertised_addr(a, &adv));
    CHECK(strcmp(adv, addr_a) == 0);
    bizra_string_free(adv);
    const char *seeds[] = {addr_a};
    bizra_node_options ob = fast("two", seeds, 1);
    bizra_node *b = start(idb, &ob);
    bizra_node_events *eb = NULL;
    OK(bizra_node_subscribe(b, &eb));

    char *id_a = node_id(a), *id_b = node_id(b);
    char *want = NULL;
    OK(bizra_identity_node_id(idb, &want));
    CHECK(strcmp(id_b, want) == 0 && strlen(id_b) == BIZRA_NODE_ID_SIZE - 1);
    bizra_string_free(want);

    /* Each sees the other's join. */
    CHECK(wait_event(ea, BIZRA_NODE_EVENT_KIND_JOINED, id_b));
    CHECK(wait_event(eb, BIZRA_NODE_EVENT_KIND_JOINED, id_a));
    /* ... and lists the other alive, with its key, address and generation. */
    CHECK(wait_member(a, id_b, BIZRA_MEMBER_STATE_ALIVE));
    CHECK(wait_member(b, id_a, BIZRA_MEMBER_STATE_ALIVE));
    bizra_member m;
    if (find_member(b, id_a, &m)) {
        uint64_t gen = 0;
        OK(bizra_node_generation(a, &gen));
        CHECK(gen > 0 && m.generation == gen);
        CHECK(strcmp(m.addr, addr_a) == 0);
        CHECK(strcmp(bizra_member_state_name(m.state), "alive") == 0);
        CHECK(m.has_last_heard && m.last_heard_ms > 0);
    } else {
        CHECK(!"b lists a");
    }
    if (find_member(a, id_b, &m)) {
        bizra_bytes key = {NULL, 0};
        OK(bizra_identity_public_key(idb, &key));
        CHECK(key.len == 32 && memcmp(key.data, m.public_key, 32) == 0);
        bizra_bytes_free(&key);
    } else {
        CHECK(!"a lists b");
    }
    /* A node does not list itself. */
    CHECK(!find_member(a, id_a, &m));

    /* A late subscriber first hears of every member already alive. */
    bizra_node_events *late = NULL;
    OK(bizra_node_subscribe(a, &late));
    CHECK(wait_event(late, BIZRA_NODE_EVENT_KIND_JOINED, id_b));
    bizra_node_events_free(late);

    bizra_node_counters s;
    memset(&s, 0xff, sizeof s);
    OK(bizra_node_stats(a, &s));
    CHECK(s.sent > 0 && s.received > 0);
    uint64_t sum = 0;
    for (size_t i = 0; i < BIZRA_DROP_REASONS_MAX; i++) sum += s.dropped[i];
    CHECK(sum == s.dropped_total);
    CHECK(s.dropped[BIZRA_DROP_REASON_BAD_SIGNATURE] == 0);

    /* b leaves: a sees it leave and lists it as left. */
    bool running = false;
    OK(bizra_node_is_running(b, &running));
    CHECK(running);
    OK(bizra_node_leave(b));
    CHECK(wait_event(ea, BIZRA_NODE_EVENT_KIND_LEFT, id_b));
    CHECK(wait_member(a, id_b, BIZRA_MEMBER_STATE_LEFT));

    /* Every call on b is now STOPPED, and out-params stay untouched. */
    OK(bizra_node_is_running(b, &running));
    CHECK(!running);
    char *s_out = (char *)&s_out;
    ST(bizra_node_local_addr(b, &s_out), BIZRA_STATUS_STOPPED);
    CHECK(last_error_has("bizra_node_local_addr: the node has left or was stopped"));
    CHECK(s_out == (char *)&s_out);
    ST(bizra_node_advertised_addr(b, &s_out), BIZRA_STATUS_STOPPED);
    ST(bizra_node_node_id(b, &s_out), BIZRA_STATUS_STOPPED);
    uint64_t g = 7;
    ST(bizra_node_generation(b, &g), BIZRA_STATUS_STOPPED);
    CHECK(g == 7);
    bizra_members ms = {NULL, 0};
    ST(bizra_node_members(b, &ms), BIZRA_STATUS_STOPPED);
    CHECK(ms.data == NULL);
    ST(bizra_node_stats(b, &s), BIZRA_STATUS_STOPPED);
    bizra_node_events *none = NULL;
    ST(bizra_node_subscribe(b, &none), BIZRA_STATUS_STOPPED);
    CHECK(none == NULL);
    ST(bizra_node_leave(b), BIZRA_STATUS_STOPPED);
    ST(bizra_node_stop(b), BIZRA_STATUS_STOPPED);
    /* b's stream drains what it had, then ends; it outlives its node. */
    bizra_node_free(b);
    bizra_node_event e;
    bool got = false;
    bizra_status st;
    int drained = 0;
    while ((st = bizra_node_events_next(eb, 1000, &e, &got)) == BIZRA_STATUS_OK && drained < 100) drained++;
    CHECK(st == BIZRA_STATUS_STOPPED);
    CHECK(last_error_has("every event was read"));
    ST(bizra_node_events_next(eb, 0, &e, &got), BIZRA_STATUS_STOPPED);
    bizra_node_events_free(eb);

    /* a's stream is still live: nothing more comes within a short wait. */
    got = true;
    OK(bizra_node_events_next(ea, 0, &e, &got));
    OK(bizra_node_events_next(ea, 0, &e, &got));
    ST(bizra_node_events_next(ea, 0, NULL, &got), BIZRA_STATUS_NULL_POINTER);
    ST(bizra_node_events_next(ea, 0, &e, NULL), BIZRA_STATUS_NULL_POINTER);
    CHECK(last_error_has("got is NULL"));

    /* Stopping a (no goodbye) ends its stream too. */
    OK(bizra_node_stop(a));
    while ((st = bizra_node_events_next(ea, 1000, &e, &got)) == BIZRA_STATUS_OK) {}
    CHECK(st == BIZRA_STATUS_STOPPED);
    bizra_node_events_free(ea);
    bizra_node_free(a);

    bizra_string_free(id_a);
    bizra_string_free(id_b);
    bizra_string_free(addr_a);
    bizra_identity_free(idb);
}

/* An allowlist admits only its keys: an outsider never appears, and its datagrams are counted
 * as dropped (not admitted). */
static void test_allowlist(void) {
    current = "allowlist";
    bizra_identity *ida = NULL, *idc = NULL, *idx = NULL;
    OK(bizra_identity_generate(&ida));
    OK(bizra_identity_generate(&idc));
    OK(bizra_identity_generate(&idx));
    uint8_t keys[2][32];
    bizra_identity *members[2] = {ida, idc};
    for (int i = 0; i < 2; i++) {
        bizra_bytes k = {NULL, 0};
        OK(bizra_identity_public_key(members[i], &k));
        CHECK(k.len == 32);
        if (k.len == 32) memcpy(keys[i], k.data, 32);
        bizra_bytes_free(&k);
    }
    bizra_node_options o = fast("closed", NULL, 0);
    o.allowlist = (const uint8_t(*)[32])keys;
    o.allowlist_len = 2;
    bizra_node *a = start(ida, &o);
    char *addr_a = local_addr(a);
    const char *seeds[] = {addr_a};
    o.seeds = seeds;
    o.seeds_len = 1;
    bizra_node *x = start(idx, &o); /* an outsider, with the same list */
    bizra_node *c = start(idc, &o);
    char *id_c = node_id(c), *id_x = node_id(x);

    CHECK(wait_member(a, id_c, BIZRA_MEMBER_STATE_ALIVE));
    bizra_node_counters s;
    int64_t deadline = now_ms() + WAIT_MS;
    do {
        OK(bizra_node_stats(a, &s));
        if (s.dropped[BIZRA_DROP_REASON_NOT_ADMITTED] > 0) break;
        sleep_ms(50);
    } while (now_ms() < deadline);
    CHECK(s.dropped[BIZRA_DROP_REASON_NOT_ADMITTED] > 0);
    bizra_member m;
    CHECK(!find_member(a, id_x, &m));
    CHECK(!find_member(c, id_x, &m));

    bizra_node_free(x);
    bizra_node_free(c);
    bizra_node_free(a);
    bizra_string_free(id_c);
    bizra_string_free(id_x);
    bizra_string_free(addr_a);
    bizra_identity_free(ida);
    bizra_identity_free(idc);
    bizra_identity_free(idx);
}

/* The data directory keeps a boot counter: each start raises the generation. */
static void test_generation(void) {
    current = "generation";
    char dir[] = "/tmp/bizra-gen-XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    bizra_identity *id = NULL;
    OK(bizra_identity_generate(&id));
    bizra_node_options o = fast("gen", NULL, 0);
    o.data_dir = dir;
    uint64_t first = 0, second = 0;
    bizra_node *n = start(id, &o);
    OK(bizra_node_generation(n, &first));
    OK(bizra_node_stop(n));
    bizra_node_free(n);
    n = start(id, &o);
    OK(bizra_node_generation(n, &second));
    bizra_node_free(n);
    CHECK(second > first);
    char file[64];
    snprintf(file, sizeof file, "%s/generation", dir);
    unlink(file);
    rmdir(dir);
    bizra_identity_free(id);
}

/* A reader blocked on another thread wakes when the node stops, well before its timeout. */
struct reader {
    bizra_node_events *events;
    _Atomic int stopped;
    _Atomic int64_t waited_ms;
};

static void *read_to_end(void *arg) {
    struct reader *r = arg;
    int64_t start = now_ms();
    bizra_node_event e;
    bool got = false;
    bizra_status st;
    while ((st = bizra_node_events_next(r->events, 60000, &e, &got)) == BIZRA_STATUS_OK) {}
    atomic_store(&r->stopped, st == BIZRA_STATUS_STOPPED);
    atomic_store(&r->waited_ms, now_ms() - start);
    return NULL;
}

static void test_reader_thread(void) {
    current = "reader thread";
    bizra_identity *id = NULL;
    OK(bizra_identity_generate(&id));
    bizra_node_options o = fast("reader", NULL, 0);
    bizra_node *n = start(id, &o);
    struct reader r = {NULL, 0, 0};
    OK(bizra_node_subscribe(n, &r.events));
    pthread_t t;
    CHECK(pthread_create(&t, NULL, read_to_end, &r) == 0);
    sleep_ms(200);
    OK(bizra_node_leave(n));
    pthread_join(t, NULL);
    CHECK(atomic_load(&r.stopped));
    CHECK(atomic_load(&r.waited_ms) < 60000);
    bizra_node_events_free(r.events);
    bizra_node_free(n);
    bizra_identity_free(id);
}

int main(void) {
    test_names();
    test_bad_options();
    test_two_nodes();
    test_allowlist();
    test_generation();
    test_reader_thread();
    return check_summary();
}
