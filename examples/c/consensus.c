/* bizra consensus in C: four validators on loopback agree on a proposal. Each node is started
 * with the federation document (the validators' keys and the round timeouts) and a data
 * directory for its write-ahead log; one of them is handed a signed bizra.proposal envelope; every
 * node hears the decision, and its certificate verifies against the document alone, as any
 * process holding the document could check it offline. In a real federation each validator runs
 * in its own process, on its own machine, with its own key file and data directory.
 *
 *   cc consensus.c $(pkg-config --cflags --libs bizra) -o consensus && ./consensus
 */
#define _GNU_SOURCE /* mkdtemp */
#include <bizra.h>

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define N 4

/* Prints the failing call and this thread's last error, then exits. */
static void die(const char *what, bizra_status st) {
    char msg[512] = "";
    bizra_last_error(msg, sizeof msg, NULL);
    fprintf(stderr, "%s failed with status %u (%s): %s\n", what, st, bizra_status_name(st), msg);
    exit(1);
}

#define TRY(call)                                                                                  \
    do {                                                                                           \
        bizra_status st_ = (call);                                                                 \
        if (st_ != BIZRA_STATUS_OK) die(#call, st_);                                               \
    } while (0)

static int remove_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw) {
    (void)sb, (void)flag, (void)ftw;
    return remove(path);
}

int main(void) {
    /* 1. Four validator keys, and the federation document that names them (every validator
     *    loads the same one; timeouts short for a demo on loopback). */
    bizra_identity *ids[N];
    char json[2048];
    int len = snprintf(json, sizeof json,
                       "{\"epoch\":1,\"federation\":\"example\",\"timeouts_ms\":{\"delta\":50,"
                       "\"precommit\":150,\"prevote\":150,\"propose\":300,\"rebroadcast\":300},"
                       "\"validators\":[");
    for (int i = 0; i < N; i++) {
        TRY(bizra_identity_generate(&ids[i]));
        char *key = NULL;
        TRY(bizra_identity_public_key_hex(ids[i], &key));
        len += snprintf(json + len, sizeof json - len, "%s{\"key\":\"%s\",\"power\":1}",
                        i ? "," : "", key);
        bizra_string_free(key);
    }
    snprintf(json + len, sizeof json - len, "]}");
    bizra_federation_document *doc = NULL;
    TRY(bizra_federation_document_from_json(json, strlen(json), &doc));

    /* 2. Four nodes, each with its data directory, joined through the first; each subscribes to
     *    its consensus events. */
    char dirs[N][32];
    bizra_node *nodes[N];
    bizra_consensus_events *events[N];
    char *seed = NULL;
    for (int i = 0; i < N; i++) {
        snprintf(dirs[i], sizeof dirs[i], "/tmp/bizra-example-XXXXXX");
        if (mkdtemp(dirs[i]) == NULL) {
            perror("mkdtemp");
            return 1;
        }
        const char *seeds[] = {seed};
        bizra_node_options opts;
        memset(&opts, 0, sizeof opts);
        opts.struct_size = sizeof opts;
        opts.bind = "127.0.0.1:0";
        opts.federation = "example"; /* the document's */
        opts.seeds = seeds;
        opts.seeds_len = seed != NULL ? 1 : 0;
        opts.data_dir = dirs[i];
        opts.probe_period_ms = 100;
        opts.probe_rtt_ms = 80;
        opts.gossip_interval_ms = 30;
        opts.document = doc;  /* the node keeps its own copy */
        opts.gates = NULL;    /* the default gate chain judges every proposal */
        TRY(bizra_node_start(ids[i], &opts, &nodes[i]));
        if (i == 0) TRY(bizra_node_local_addr(nodes[0], &seed));
        TRY(bizra_node_subscribe_consensus(nodes[i], &events[i]));
    }

    /* 3. Wait until each validator has linked to the three others. */
    for (int waited = 0;; waited += 50) {
        int ready = 0;
        for (int i = 0; i < N; i++) {
            bizra_consensus_status s;
            memset(&s, 0, sizeof s);
            s.struct_size = sizeof s;
            TRY(bizra_node_consensus_status(nodes[i], &s));
            bizra_string_free(s.failure);
            ready += s.linked == N - 1;
        }
        if (ready == N) break;
        if (waited > 30000) {
            fprintf(stderr, "the validators did not link within 30 s\n");
            return 1;
        }
        usleep(50 * 1000);
    }
    printf("4 validators linked\n");

    /* 4. A proposal: a signed envelope whose payload's type is bizra.proposal, with scores the
     *    gate chain admits, handed to one validator. */
    bizra_envelope_options eo;
    memset(&eo, 0, sizeof eo);
    eo.struct_size = sizeof eo;
    eo.has_snr = true;
    eo.snr = 0.9;
    eo.has_ihsan = true;
    eo.ihsan = 0.97;
    bizra_envelope *env = NULL;
    TRY(bizra_envelope_create(ids[2], "{\"type\":\"bizra.proposal\",\"text\":\"hello\"}", &eo, &env));
    bool added = false;
    uint32_t reject = 0;
    TRY(bizra_node_propose(nodes[2], env, &added, &reject));
    char *env_id = NULL;
    TRY(bizra_envelope_id(env, &env_id));
    printf("proposed %s (pooled: %s)\n", env_id, added ? "yes" : "no");

    /* 5. Every validator hears the decision; its certificate verifies against the document. */
    for (int i = 0; i < N; i++) {
        bizra_consensus_event e;
        bool got = false;
        for (int waited = 0; !got && waited < 30000; waited += 200)
            TRY(bizra_consensus_events_next(events[i], 200, &e, &got));
        if (!got) {
            fprintf(stderr, "validator %d heard no decision within 30 s\n", i);
            return 1;
        }
        if (e.kind != BIZRA_CONSENSUS_EVENT_KIND_DECIDED) {
            fprintf(stderr, "validator %d: %s event\n", i, bizra_consensus_event_kind_name(e.kind));
            return 1;
        }
        uint32_t code = 0;
        TRY(bizra_certificate_verify_batch(e.certificate, e.batch_json, strlen(e.batch_json), doc,
                                           &code));
        size_t signatures = 0;
        TRY(bizra_certificate_signature_count(e.certificate, &signatures));
        printf("decided height %llu round %u at validator %d: %zu proposal(s), %zu signatures, "
               "certificate %s\n",
               (unsigned long long)e.height, e.round, i, e.proposals, signatures,
               bizra_certificate_code_name(code));
        bizra_consensus_event_free(&e);
    }

    /* 6. A decided height stays in each node's storage: its certificate as JSON, to publish. */
    bool found = false;
    bizra_certificate *cert = NULL;
    TRY(bizra_node_decided(nodes[0], 1, &found, &cert, NULL));
    if (found) {
        char *cert_json = NULL;
        TRY(bizra_certificate_to_json(cert, &cert_json));
        printf("certificate of height 1: %.72s...\n", cert_json);
        bizra_string_free(cert_json);
        bizra_certificate_free(cert);
    }

    for (int i = 0; i < N; i++) {
        bizra_node_free(nodes[i]); /* leaves */
        bizra_consensus_events_free(events[i]);
        bizra_identity_free(ids[i]);
        nftw(dirs[i], remove_entry, 16, FTW_DEPTH | FTW_PHYS);
    }
    bizra_envelope_free(env);
    bizra_string_free(env_id);
    bizra_string_free(seed);
    bizra_federation_document_free(doc);
    return 0;
}
