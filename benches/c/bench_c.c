/* The C side of `make bench-c`: envelope create and verify through libbizra (static), the same
 * work as bizra-sys/examples/bench_core.rs does through the Rust API. Prints "create_ns verify_ns". */
#define _POSIX_C_SOURCE 199309L
#include "bizra.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char *PAYLOAD =
    "{\"model\":\"smollm2-135m\",\"prompt\":\"What is 2+2?\",\"answer\":\"4\",\"tokens\":[1,2,3]}";

static double now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static bizra_envelope *create(const bizra_identity *id, const bizra_envelope_options *o) {
    bizra_envelope *env = NULL;
    if (bizra_envelope_create(id, PAYLOAD, o, &env) != BIZRA_STATUS_OK) {
        fprintf(stderr, "create failed\n");
        exit(1);
    }
    return env;
}

int main(int argc, char **argv) {
    unsigned iters = argc > 1 ? (unsigned)atoi(argv[1]) : 2000;
    uint8_t seed[32];
    memset(seed, 7, sizeof seed);
    bizra_identity *id = NULL;
    if (bizra_identity_from_seed(seed, 32, &id) != BIZRA_STATUS_OK) return 1;
    bizra_envelope_options o;
    memset(&o, 0, sizeof o);
    o.struct_size = sizeof o;
    o.has_snr = true;
    o.snr = 0.93;
    o.has_ihsan = true;
    o.ihsan = 0.97;

    for (unsigned i = 0; i < iters / 10; i++) bizra_envelope_free(create(id, &o));
    double t0 = now_ns();
    for (unsigned i = 0; i < iters; i++) bizra_envelope_free(create(id, &o));
    double create_ns = (now_ns() - t0) / iters;

    bizra_envelope *env = create(id, &o);
    uint32_t reject = 0;
    t0 = now_ns();
    for (unsigned i = 0; i < iters; i++) {
        if (bizra_envelope_verify(env, NULL, &reject) != BIZRA_STATUS_OK) {
            fprintf(stderr, "verify failed: %u\n", reject);
            return 1;
        }
    }
    double verify_ns = (now_ns() - t0) / iters;
    printf("%.1f %.1f\n", create_ns, verify_ns);
    bizra_envelope_free(env);
    bizra_identity_free(id);
    return 0;
}
