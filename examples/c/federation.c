/* bizra federation membership in C: two nodes on loopback, the second joins through the first,
 * each hears of the other, the second leaves and the first hears that too. In a real federation
 * each node runs in its own process, on its own machine, with its seeds' addresses.
 *
 *   cc federation.c $(pkg-config --cflags --libs bizra) -o federation && ./federation
 */
#include <bizra.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

/* Starts a node on a free loopback port, with timings for a demo (a probe every 200 ms). */
static bizra_node *start(const char *seed) {
    bizra_identity *id = NULL;
    TRY(bizra_identity_generate(&id));
    bizra_node_options opts;
    memset(&opts, 0, sizeof opts);
    opts.struct_size = sizeof opts;
    opts.bind = "127.0.0.1:0";
    opts.federation = "example";
    opts.seeds = &seed;
    opts.seeds_len = seed != NULL ? 1 : 0;
    opts.probe_period_ms = 200;
    opts.probe_rtt_ms = 80; /* a probe expects its answer within its period */
    opts.gossip_interval_ms = 50;
    bizra_node *node = NULL;
    TRY(bizra_node_start(id, &opts, &node));
    bizra_identity_free(id); /* the node keeps its own reference */
    return node;
}

/* Prints the events of `events` until one of `kind` comes (or 20 s pass). */
static void watch(const char *who, bizra_node_events *events, uint32_t kind) {
    for (int waited = 0; waited < 20000; waited += 100) {
        bizra_node_event e;
        bool got = false;
        TRY(bizra_node_events_next(events, 100, &e, &got));
        if (!got) continue;
        printf("%s %s at %s (seen by %s)\n", bizra_node_event_kind_name(e.kind), e.member.node_id,
               e.member.addr, who);
        if (e.kind == kind) return;
    }
    fprintf(stderr, "%s: no %s event within 20 s\n", who, bizra_node_event_kind_name(kind));
    exit(1);
}

int main(void) {
    /* 1. A first node, and its address for the others to join through. */
    bizra_node *a = start(NULL);
    char *addr = NULL;
    TRY(bizra_node_local_addr(a, &addr));
    printf("node a listens on %s\n", addr);
    bizra_node_events *events = NULL;
    TRY(bizra_node_subscribe(a, &events));

    /* 2. A second node joins through it; each hears of the other. */
    bizra_node *b = start(addr);
    bizra_node_events *b_events = NULL;
    TRY(bizra_node_subscribe(b, &b_events));
    watch("a", events, BIZRA_NODE_EVENT_KIND_JOINED);
    watch("b", b_events, BIZRA_NODE_EVENT_KIND_JOINED);
    bizra_node_events_free(b_events);

    /* 3. The membership as a sees it, and its traffic. */
    bizra_members members = {NULL, 0};
    TRY(bizra_node_members(a, &members));
    for (size_t i = 0; i < members.len; i++) {
        const bizra_member *m = &members.data[i];
        printf("member %s %s generation %llu incarnation %u %s\n", m->node_id, m->addr,
               (unsigned long long)m->generation, m->incarnation, bizra_member_state_name(m->state));
    }
    bizra_members_free(&members);
    bizra_node_counters stats;
    TRY(bizra_node_stats(a, &stats));
    printf("a sent %llu datagrams, received %llu, dropped %llu\n", (unsigned long long)stats.sent,
           (unsigned long long)stats.received, (unsigned long long)stats.dropped_total);

    /* 4. b leaves gracefully; a hears it. */
    TRY(bizra_node_leave(b));
    watch("a", events, BIZRA_NODE_EVENT_KIND_LEFT);

    bizra_node_free(b);
    bizra_node_events_free(events);
    bizra_node_free(a); /* leaves too */
    bizra_string_free(addr);
    return 0;
}
