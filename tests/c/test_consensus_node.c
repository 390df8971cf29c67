/* The C suite of consensus on running nodes: four validators on loopback (UDP membership, TCP
 * consensus links; port 0, temporary data directories, fast timeouts) link up, one proposal is
 * decided, every node's decision event carries a certificate that verifies against the document
 * and the batch, and each node's storage gives the same certificate and batch for height 1; the
 * same proposal again is not pooled again, a non-proposal and a proposal the gate chain refuses
 * are refused with their statuses; the gate chain the nodes share judges on their threads (its
 * custom gate too), cannot be configured while they run, and outlives the caller's handle until
 * the last node ends; a stopped node refuses every consensus call and its stream ends. A node without a document,
 * bad options and NULL arguments give clear statuses and last errors, out-params untouched; a
 * caller built against the header before consensus (the older struct_size) still starts a node.
 * Prints "N passed, N failed"; exits non-zero on failure.
 *
 * Built by mk/c.mk against the shared and the static library, run natively, under valgrind and
 * with AddressSanitizer + UBSan. The waits are generous (nodes under valgrind are slow); none of
 * them is a timing assertion. */
#define _GNU_SOURCE
#include "bizra.h"
#include "check.h"

#include <ftw.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* How long any one wait may take before it counts as a failure. */
#define WAIT_MS 60000
#define N 4
#define FEDERATION "c-consensus"

static int64_t now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static bool last_error_has(const char *needle) {
    char msg[1024] = "";
    bizra_last_error(msg, sizeof msg, NULL);
    bool ok = strstr(msg, needle) != NULL;
    if (!ok) fprintf(stderr, "  last error \"%s\" lacks \"%s\"\n", msg, needle);
    return ok;
}

static int remove_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw) {
    (void)sb, (void)flag, (void)ftw;
    return remove(path);
}

/* Removes a data directory and everything in it. */
static void remove_tree(const char *dir) {
    CHECK(nftw(dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS) == 0);
}

/* A federation document of `n` validators (power 1 each) with fast timeouts. */
static bizra_federation_document *make_document(const char *federation, bizra_identity *const *ids,
                                                size_t n) {
    char json[4096];
    int len = snprintf(json, sizeof json,
                       "{\"epoch\":1,\"federation\":\"%s\",\"timeouts_ms\":{\"delta\":50,"
                       "\"precommit\":150,\"prevote\":150,\"propose\":300,\"rebroadcast\":300},"
                       "\"validators\":[",
                       federation);
    for (size_t i = 0; i < n; i++) {
        char *key = NULL;
        OK(bizra_identity_public_key_hex(ids[i], &key));
        len += snprintf(json + len, sizeof json - len, "%s{\"key\":\"%s\",\"power\":1}",
                        i ? "," : "", key ? key : "");
        bizra_string_free(key);
    }
    snprintf(json + len, sizeof json - len, "]}");
    bizra_federation_document *doc = NULL;
    OK(bizra_federation_document_from_json(json, strlen(json), &doc));
    return doc;
}

/* Options for a validator on loopback with fast membership timings. */
static bizra_node_options fast(const char *data_dir, const bizra_federation_document *doc,
                               const char *const *seeds, size_t n_seeds) {
    bizra_node_options o;
    memset(&o, 0, sizeof o);
    o.struct_size = sizeof o;
    o.bind = "127.0.0.1:0";
    o.federation = FEDERATION;
    o.seeds = seeds;
    o.seeds_len = n_seeds;
    o.data_dir = data_dir;
    o.probe_period_ms = 100;
    o.probe_rtt_ms = 80;
    o.suspect_to_down_ms = 3000;
    o.gossip_interval_ms = 30;
    o.rejoin_interval_ms = 500;
    o.announce_interval_ms = 1000;
    o.expected_members = 8;
    o.document = doc;
    return o;
}

/* A signed envelope of `payload` with scores. */
static bizra_envelope *envelope(const bizra_identity *id, const char *payload, double snr) {
    bizra_envelope_options o;
    memset(&o, 0, sizeof o);
    o.struct_size = sizeof o;
    o.has_snr = true;
    o.snr = snr;
    o.has_ihsan = true;
    o.ihsan = 0.97;
    o.ttl_seconds = 600;
    bizra_envelope *env = NULL;
    OK(bizra_envelope_create(id, payload, &o, &env));
    return env;
}

/* The node's consensus status (its failure string freed: none is expected). */
static bizra_consensus_status status_of(const bizra_node *node) {
    bizra_consensus_status s;
    memset(&s, 0, sizeof s);
    s.struct_size = sizeof s;
    OK(bizra_node_consensus_status(node, &s));
    CHECK(s.struct_size == sizeof s);
    CHECK(s.failure == NULL);
    bizra_string_free(s.failure);
    s.failure = NULL;
    return s;
}

/* Reads `events` until a decision comes (true, `*e` filled) or WAIT_MS pass. */
static bool next_decision(bizra_consensus_events *events, bizra_consensus_event *e) {
    int64_t deadline = now_ms() + WAIT_MS;
    while (now_ms() < deadline) {
        bool got = false;
        if (bizra_consensus_events_next(events, 200, e, &got) != BIZRA_STATUS_OK) return false;
        if (!got) continue;
        if (e->kind == BIZRA_CONSENSUS_EVENT_KIND_DECIDED) return true;
        fprintf(stderr, "  unexpected %s event among honest validators\n",
                bizra_consensus_event_kind_name(e->kind));
        bizra_consensus_event_free(e);
        return false;
    }
    return false;
}

/* A custom gate for the nodes' shared chain: refuses payloads that say "forbidden", counts its
 * calls and the threads it ran on (the nodes' own), and when its userdata was freed. */
struct gate_state {
    _Atomic int calls;
    _Atomic int on_main_thread;
    _Atomic int freed;
    pthread_t main_thread;
};

static int32_t forbid(void *userdata, const bizra_envelope *env, int64_t now_unix_ms, char *reason,
                      size_t reason_len) {
    (void)now_unix_ms;
    struct gate_state *g = userdata;
    atomic_fetch_add(&g->calls, 1);
    if (pthread_equal(pthread_self(), g->main_thread)) atomic_fetch_add(&g->on_main_thread, 1);
    char *payload = NULL;
    if (bizra_envelope_payload_json(env, &payload) != BIZRA_STATUS_OK) return 1;
    int refuse = strstr(payload, "forbidden") != NULL;
    bizra_string_free(payload);
    if (refuse) snprintf(reason, reason_len, "forbidden by the C gate");
    return refuse;
}

static void gate_freed(void *userdata) {
    struct gate_state *g = userdata;
    atomic_fetch_add(&g->freed, 1);
}

/* ---------------------------------------------------------------------------------------- */

static void test_names(void) {
    current = "names";
    CHECK(strcmp(bizra_consensus_event_kind_name(BIZRA_CONSENSUS_EVENT_KIND_DECIDED), "decided") == 0);
    CHECK(strcmp(bizra_consensus_event_kind_name(BIZRA_CONSENSUS_EVENT_KIND_EVIDENCE), "evidence") == 0);
    CHECK(bizra_consensus_event_kind_name(2) == NULL);
    CHECK(bizra_consensus_event_kind_name(UINT32_MAX) == NULL);
    /* A consensus event's free takes NULL, and a zeroed event. */
    bizra_consensus_event_free(NULL);
    bizra_consensus_event e;
    memset(&e, 0, sizeof e);
    bizra_consensus_event_free(&e);
    bizra_consensus_events_free(NULL);
}

/* Bad consensus options: each INVALID_ARGUMENT with a last error naming the problem, `*out`
 * untouched; a node without a document refuses every consensus call. */
static void test_options(void) {
    current = "options";
    bizra_identity *id = NULL;
    OK(bizra_identity_generate(&id));
    bizra_identity *ids[1] = {id};
    bizra_federation_document *doc = make_document(FEDERATION, ids, 1);
    bizra_federation_document *other = make_document("elsewhere", ids, 1);
    char dir[] = "/tmp/bizra-cons-opts-XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    bizra_node *sentinel = (bizra_node *)&sentinel;
    bizra_node *out = sentinel;

    /* No data directory: the write-ahead log would not outlive the process. */
    bizra_node_options o = fast(NULL, doc, NULL, 0);
    ST(bizra_node_start(id, &o, &out), BIZRA_STATUS_INVALID_ARGUMENT);
    CHECK(last_error_has("consensus needs a data_dir"));
    /* Another federation's document. */
    o = fast(dir, other, NULL, 0);
    ST(bizra_node_start(id, &o, &out), BIZRA_STATUS_INVALID_ARGUMENT);
    CHECK(last_error_has("\"elsewhere\""));
    CHECK(last_error_has("\"" FEDERATION "\""));
    /* The default federation ("bizra") is not the document's either. */
    o = fast(dir, doc, NULL, 0);
    o.federation = NULL;
    ST(bizra_node_start(id, &o, &out), BIZRA_STATUS_INVALID_ARGUMENT);
    CHECK(last_error_has("\"bizra\""));
    /* Gates without a document judge nothing: refused, not ignored. */
    bizra_gate_chain *chain = NULL;
    OK(bizra_gate_chain_new_default(&chain));
    o = fast(dir, NULL, NULL, 0);
    o.gates = chain;
    ST(bizra_node_start(id, &o, &out), BIZRA_STATUS_INVALID_ARGUMENT);
    CHECK(last_error_has("opts.gates is set but opts.document is NULL"));
    /* A struct_size between the older header's and this one's. */
    o = fast(dir, doc, NULL, 0);
    o.struct_size = (uint32_t)offsetof(bizra_node_options, document) + 4;
    ST(bizra_node_start(id, &o, &out), BIZRA_STATUS_INVALID_ARGUMENT);
    CHECK(last_error_has("opts.struct_size is"));
    CHECK(out == sentinel);

    /* A caller built before consensus passes the older size: the members it lacks are never
     * read (here: garbage that would crash if they were), and the node runs without consensus. */
    o = fast(dir, (const bizra_federation_document *)(uintptr_t)1, NULL, 0);
    o.gates = (const bizra_gate_chain *)(uintptr_t)1;
    o.struct_size = (uint32_t)offsetof(bizra_node_options, document);
    bizra_node *plain = NULL;
    OK(bizra_node_start(id, &o, &plain));
    CHECK(plain != NULL);

    /* Every consensus call on it: INVALID_ARGUMENT, out-params untouched. */
    bizra_envelope *env = envelope(id, "{\"type\":\"bizra.proposal\",\"n\":0}", 0.9);
    bool added = true;
    uint32_t reject = 99;
    ST(bizra_node_propose(plain, env, &added, &reject), BIZRA_STATUS_INVALID_ARGUMENT);
    CHECK(last_error_has("bizra_node_propose: this node takes no part in consensus"));
    CHECK(last_error_has("bizra_node_options.document"));
    CHECK(added && reject == 99);
    bool found = true;
    bizra_certificate *cert = (bizra_certificate *)&cert;
    char *batch = (char *)&batch;
    ST(bizra_node_decided(plain, 1, &found, &cert, &batch), BIZRA_STATUS_INVALID_ARGUMENT);
    CHECK(last_error_has("takes no part in consensus"));
    CHECK(found && cert == (bizra_certificate *)&cert && batch == (char *)&batch);
    bizra_consensus_status s;
    memset(&s, 0, sizeof s);
    s.struct_size = sizeof s;
    ST(bizra_node_consensus_status(plain, &s), BIZRA_STATUS_INVALID_ARGUMENT);
    CHECK(last_error_has("takes no part in consensus"));
    bizra_consensus_events *events = NULL;
    ST(bizra_node_subscribe_consensus(plain, &events), BIZRA_STATUS_INVALID_ARGUMENT);
    CHECK(events == NULL);
    bizra_node_free(plain);

    /* NULL arguments. */
    ST(bizra_node_propose(NULL, env, &added, &reject), BIZRA_STATUS_NULL_POINTER);
    CHECK(last_error_has("bizra_node_propose: node is NULL"));
    ST(bizra_node_propose(sentinel, NULL, &added, &reject), BIZRA_STATUS_NULL_POINTER);
    CHECK(last_error_has("env is NULL"));
    ST(bizra_node_propose(sentinel, env, NULL, &reject), BIZRA_STATUS_NULL_POINTER);
    CHECK(last_error_has("added is NULL"));
    ST(bizra_node_decided(NULL, 1, &found, &cert, &batch), BIZRA_STATUS_NULL_POINTER);
    ST(bizra_node_decided(sentinel, 1, NULL, &cert, &batch), BIZRA_STATUS_NULL_POINTER);
    CHECK(last_error_has("found is NULL"));
    ST(bizra_node_consensus_status(NULL, &s), BIZRA_STATUS_NULL_POINTER);
    ST(bizra_node_consensus_status(sentinel, NULL), BIZRA_STATUS_NULL_POINTER);
    ST(bizra_node_subscribe_consensus(NULL, &events), BIZRA_STATUS_NULL_POINTER);
    ST(bizra_node_subscribe_consensus(sentinel, NULL), BIZRA_STATUS_NULL_POINTER);
    bizra_consensus_event e;
    bool got = false;
    ST(bizra_consensus_events_next(NULL, 0, &e, &got), BIZRA_STATUS_NULL_POINTER);
    CHECK(last_error_has("events is NULL"));

    bizra_envelope_free(env);
    bizra_gate_chain_free(chain);
    bizra_federation_document_free(doc);
    bizra_federation_document_free(other);
    bizra_identity_free(id);
    remove_tree(dir);
}

/* Four validators decide a proposal; everything a decision says is checked. */
static void test_four_validators(void) {
    current = "four validators";
    bizra_identity *ids[N];
    for (int i = 0; i < N; i++) OK(bizra_identity_generate(&ids[i]));
    bizra_federation_document *doc = make_document(FEDERATION, ids, N);
    /* One gate chain, with a custom gate, shared by every node (each keeps its own reference). */
    bizra_gate_chain *chain = NULL;
    OK(bizra_gate_chain_new_default(&chain));
    static struct gate_state gate;
    gate.main_thread = pthread_self();
    OK(bizra_gate_chain_add_custom(chain, "forbid", BIZRA_GATE_TIER_CHEAP, forbid, &gate, gate_freed));

    char dirs[N][32];
    bizra_node *nodes[N] = {NULL};
    bizra_consensus_events *events[N] = {NULL};
    char *seed = NULL;
    for (int i = 0; i < N; i++) {
        snprintf(dirs[i], sizeof dirs[i], "/tmp/bizra-cons-XXXXXX");
        CHECK(mkdtemp(dirs[i]) != NULL);
        const char *seeds[] = {seed};
        bizra_node_options o = fast(dirs[i], doc, seeds, seed ? 1 : 0);
        o.gates = chain;
        OK(bizra_node_start(ids[i], &o, &nodes[i]));
        if (i == 0) OK(bizra_node_local_addr(nodes[0], &seed));
        OK(bizra_node_subscribe_consensus(nodes[i], &events[i]));
    }
    /* The nodes keep their own copy of the document. */
    bizra_federation_document *kept = make_document(FEDERATION, ids, N);
    bizra_federation_document_free(doc);
    doc = kept;

    /* While the nodes use the chain, it cannot be configured; the caller's handle may go (the
     * nodes keep the chain alive, and its userdata). */
    ST(bizra_gate_chain_set_report_all(chain, true), BIZRA_STATUS_INVALID_ARGUMENT);
    CHECK(last_error_has("in use by a node"));
    ST(bizra_gate_chain_add_builtin(chain, BIZRA_GATE_KIND_SNR), BIZRA_STATUS_INVALID_ARGUMENT);
    ST(bizra_gate_chain_add_custom(chain, "late", BIZRA_GATE_TIER_CHEAP, forbid, &gate, gate_freed),
       BIZRA_STATUS_INVALID_ARGUMENT);
    CHECK(atomic_load(&gate.freed) == 0); /* refused first: the userdata stays the caller's */
    bizra_gate_chain_free(chain);
    chain = NULL;
    CHECK(atomic_load(&gate.freed) == 0);

    /* Linked up: each validator to the three others; idle, nothing is decided. */
    int64_t deadline = now_ms() + WAIT_MS;
    int linked = 0;
    while (now_ms() < deadline) {
        linked = 0;
        for (int i = 0; i < N; i++) linked += status_of(nodes[i]).linked == N - 1;
        if (linked == N) break;
        sleep_ms(50);
    }
    CHECK(linked == N);
    for (int i = 0; i < N; i++) {
        bizra_consensus_status s = status_of(nodes[i]);
        CHECK(s.validator);
        CHECK(s.decided == 0);
    }

    /* A proposal at validator 2. */
    bizra_envelope *env = envelope(ids[2], "{\"type\":\"bizra.proposal\",\"n\":1}", 0.9);
    char *env_id = NULL;
    OK(bizra_envelope_id(env, &env_id));
    bool added = false;
    uint32_t reject = 99;
    OK(bizra_node_propose(nodes[2], env, &added, &reject));
    CHECK(added && reject == 0);

    /* Every node hears the decision: height 1, the proposal in its batch, a certificate that
     * verifies against the document and the batch, and the same in its storage. */
    char *first_cert_json = NULL;
    for (int i = 0; i < N; i++) {
        bizra_consensus_event e;
        memset(&e, 0, sizeof e);
        if (!next_decision(events[i], &e)) {
            CHECK(!"a decision at every node");
            continue;
        }
        CHECK(e.height == 1);
        CHECK(e.proposals == 1);
        CHECK(e.certificate != NULL && e.batch_json != NULL);
        CHECK(e.batch_json && env_id && strstr(e.batch_json, env_id) != NULL);
        CHECK(e.evidence.first.data == NULL && e.evidence.validator[0] == 0);
        uint32_t code = 99;
        OK(bizra_certificate_verify(e.certificate, doc, &code));
        CHECK(code == BIZRA_CERTIFICATE_CODE_VALID);
        code = 99;
        OK(bizra_certificate_verify_batch(e.certificate, e.batch_json, strlen(e.batch_json), doc,
                                          &code));
        CHECK(code == 0);
        uint64_t h = 0;
        uint32_t round = UINT32_MAX;
        OK(bizra_certificate_height(e.certificate, &h));
        OK(bizra_certificate_round(e.certificate, &round));
        CHECK(h == 1 && round == e.round);
        char *cert_json = NULL;
        OK(bizra_certificate_to_json(e.certificate, &cert_json));

        /* The node's storage: the same certificate and batch. */
        bool found = false;
        bizra_certificate *stored = NULL;
        char *batch = NULL;
        OK(bizra_node_decided(nodes[i], 1, &found, &stored, &batch));
        CHECK(found && stored != NULL && batch != NULL);
        if (found && stored && batch) {
            CHECK(strcmp(batch, e.batch_json) == 0);
            char *stored_json = NULL;
            OK(bizra_certificate_to_json(stored, &stored_json));
            CHECK(stored_json && cert_json && strcmp(stored_json, cert_json) == 0);
            bizra_string_free(stored_json);
        }
        bizra_certificate_free(stored);
        bizra_string_free(batch);
        /* Only the batch wanted, then neither. */
        batch = NULL;
        OK(bizra_node_decided(nodes[i], 1, &found, NULL, &batch));
        CHECK(found && batch != NULL);
        bizra_string_free(batch);
        OK(bizra_node_decided(nodes[i], 1, &found, NULL, NULL));
        CHECK(found);
        /* Not decided: found false, outs untouched. */
        stored = (bizra_certificate *)&stored;
        batch = (char *)&batch;
        OK(bizra_node_decided(nodes[i], 2, &found, &stored, &batch));
        CHECK(!found && stored == (bizra_certificate *)&stored && batch == (char *)&batch);
        OK(bizra_node_decided(nodes[i], 0, &found, NULL, NULL));
        CHECK(!found);

        /* Every validator's certificate certifies the same value. */
        if (i == 0) {
            first_cert_json = cert_json;
            /* Keep this certificate past its event: take the pointer, NULL it in the event. */
            bizra_certificate *taken = e.certificate;
            e.certificate = NULL;
            bizra_consensus_event_free(&e);
            CHECK(e.batch_json == NULL && e.proposals == 0);
            bizra_consensus_event_free(&e); /* a second free is a no-op */
            OK(bizra_certificate_verify(taken, doc, NULL));
            bizra_certificate_free(taken);
        } else {
            bizra_bytes v0 = {NULL, 0}, v = {NULL, 0};
            bizra_certificate *c0 = NULL;
            if (first_cert_json) {
                OK(bizra_certificate_from_json(first_cert_json, strlen(first_cert_json), &c0, NULL));
                OK(bizra_certificate_value(c0, &v0));
            }
            OK(bizra_certificate_value(e.certificate, &v));
            CHECK(v.len == 32 && v0.len == 32 && memcmp(v.data, v0.data, 32) == 0);
            bizra_bytes_free(&v);
            bizra_bytes_free(&v0);
            bizra_certificate_free(c0);
            bizra_string_free(cert_json);
            bizra_consensus_event_free(&e);
        }
    }
    bizra_string_free(first_cert_json);

    /* Proposed again, at another node: decided already, so not pooled again. */
    added = true;
    reject = 99;
    OK(bizra_node_propose(nodes[0], env, &added, &reject));
    CHECK(!added && reject == 0);

    /* Not a proposal: INVALID_ARGUMENT, *reject untouched. */
    bizra_envelope *note = envelope(ids[0], "{\"type\":\"note\",\"text\":\"hello\"}", 0.9);
    added = true;
    reject = 99;
    ST(bizra_node_propose(nodes[0], note, &added, &reject), BIZRA_STATUS_INVALID_ARGUMENT);
    CHECK(last_error_has("is not a proposal"));
    CHECK(added && reject == 99);
    bizra_envelope_free(note);
    /* A proposal the gate chain refuses (SNR below the constitution's 0.85): REJECTED, with the
     * gate's reject code. */
    bizra_envelope *weak = envelope(ids[1], "{\"type\":\"bizra.proposal\",\"n\":2}", 0.5);
    ST(bizra_node_propose(nodes[1], weak, &added, &reject), BIZRA_STATUS_REJECTED);
    CHECK(reject == BIZRA_REJECT_GATE_SNR);
    CHECK(added);
    ST(bizra_node_propose(nodes[1], weak, &added, NULL), BIZRA_STATUS_REJECTED); /* reject may be NULL */
    bizra_envelope_free(weak);
    /* The chain's custom gate judges proposals too, on the nodes' threads. */
    bizra_envelope *bad = envelope(ids[1], "{\"type\":\"bizra.proposal\",\"n\":\"forbidden\"}", 0.9);
    ST(bizra_node_propose(nodes[1], bad, &added, &reject), BIZRA_STATUS_REJECTED);
    CHECK(reject == BIZRA_REJECT_GATE_CUSTOM);
    CHECK(last_error_has("forbidden by the C gate"));
    bizra_envelope_free(bad);
    CHECK(atomic_load(&gate.calls) >= 2);
    CHECK(atomic_load(&gate.on_main_thread) == 0);

    /* Where consensus stands now: height 1 decided everywhere, nothing pending. */
    for (int i = 0; i < N; i++) {
        bizra_consensus_status s = status_of(nodes[i]);
        CHECK(s.decided == 1);
        CHECK(s.engine.decided >= 1);
        CHECK(s.engine.bad_signatures == 0);
        CHECK(s.pending == 0);
    }
    bizra_consensus_status small;
    memset(&small, 0, sizeof small);
    small.struct_size = 8;
    ST(bizra_node_consensus_status(nodes[0], &small), BIZRA_STATUS_INVALID_ARGUMENT);
    CHECK(last_error_has("out->struct_size is 8"));
    CHECK(small.decided == 0);

    /* A stopped validator refuses every consensus call; its stream ends. */
    OK(bizra_node_stop(nodes[3]));
    bool added_out = true;
    ST(bizra_node_propose(nodes[3], env, &added_out, NULL), BIZRA_STATUS_STOPPED);
    CHECK(last_error_has("the node has left or was stopped"));
    bool found = true;
    ST(bizra_node_decided(nodes[3], 1, &found, NULL, NULL), BIZRA_STATUS_STOPPED);
    CHECK(found);
    bizra_consensus_status s;
    memset(&s, 0, sizeof s);
    s.struct_size = sizeof s;
    ST(bizra_node_consensus_status(nodes[3], &s), BIZRA_STATUS_STOPPED);
    bizra_consensus_events *late = NULL;
    ST(bizra_node_subscribe_consensus(nodes[3], &late), BIZRA_STATUS_STOPPED);
    CHECK(late == NULL);
    bizra_consensus_event e;
    bool got = false;
    bizra_status st;
    while ((st = bizra_consensus_events_next(events[3], 1000, &e, &got)) == BIZRA_STATUS_OK)
        if (got) bizra_consensus_event_free(&e);
    CHECK(st == BIZRA_STATUS_STOPPED);
    CHECK(last_error_has("every event was read"));
    ST(bizra_consensus_events_next(events[0], 0, NULL, &got), BIZRA_STATUS_NULL_POINTER);
    ST(bizra_consensus_events_next(events[0], 0, &e, NULL), BIZRA_STATUS_NULL_POINTER);
    CHECK(last_error_has("got is NULL"));

    /* Free the nodes (the others leave); their streams stay valid and end. */
    for (int i = 0; i < N; i++) bizra_node_free(nodes[i]);
    for (int i = 0; i < N; i++) {
        while ((st = bizra_consensus_events_next(events[i], 1000, &e, &got)) == BIZRA_STATUS_OK)
            if (got) bizra_consensus_event_free(&e);
        CHECK(st == BIZRA_STATUS_STOPPED);
        bizra_consensus_events_free(events[i]);
    }
    /* The last node to end released the chain: its custom gate's userdata was freed once. */
    CHECK(atomic_load(&gate.freed) == 1);

    bizra_envelope_free(env);
    bizra_string_free(env_id);
    bizra_string_free(seed);
    bizra_federation_document_free(doc);
    for (int i = 0; i < N; i++) {
        bizra_identity_free(ids[i]);
        remove_tree(dirs[i]);
    }
}

int main(void) {
    test_names();
    test_options();
    test_four_validators();
    return check_summary();
}
