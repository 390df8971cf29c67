/* The checking macros the C suites share. Each suite is one translation unit, so the counters
 * below are that suite's own; `current` names the test running, for the failure lines. */
#ifndef BIZRA_TESTS_CHECK_H
#define BIZRA_TESTS_CHECK_H

#include "bizra.h"

#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <threads.h>

static int n_passed, n_failed;
static const char *current = "";

/* Counts a check; a failure prints where, which test, the condition and libbizra's last error. */
#define CHECK(cond)                                                                            \
    do {                                                                                       \
        if (cond) {                                                                            \
            n_passed++;                                                                        \
        } else {                                                                               \
            n_failed++;                                                                        \
            char le_[512] = "";                                                                \
            bizra_last_error(le_, sizeof le_, NULL);                                           \
            fprintf(stderr, "FAIL %s:%d [%s] %s (last error: %s)\n", __FILE__, __LINE__,       \
                    current, #cond, le_);                                                      \
        }                                                                                      \
    } while (0)

#define ST(call, expect) CHECK((call) == (expect))
#define OK(call) ST(call, BIZRA_STATUS_OK)

/* Lowercase hex of `n` bytes into `out` (2n + 1 chars). Inline: a suite that uses none of these
 * helpers compiles without unused-function warnings. */
static inline void hex_encode(const uint8_t *in, size_t n, char *out) {
    for (size_t i = 0; i < n; i++) sprintf(out + 2 * i, "%02x", in[i]);
    out[2 * n] = 0;
}

/* Compares a library string with an expected one, then frees it. */
static inline int take_eq(char *s, const char *expect) {
    int eq = s != NULL && expect != NULL && strcmp(s, expect) == 0;
    if (!eq) fprintf(stderr, "  got:    %s\n  expect: %s\n", s ? s : "(null)", expect ? expect : "(null)");
    bizra_string_free(s);
    return eq;
}

/* Sleeps `ms` milliseconds. C11's thrd_sleep rather than nanosleep: every suite includes this
 * header under -std=c11, and not all of them ask for POSIX. */
static inline void sleep_ms(long ms) {
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    thrd_sleep(&ts, NULL);
}

/* Waits in 1 ms steps until `flag` is set or about `ms` have passed; returns whether it is set.
 * The bound only keeps a broken library from hanging the suite: no check depends on timing. */
static inline int wait_for(atomic_int *flag, long ms) {
    for (long i = 0; i < ms && !atomic_load(flag); i++) sleep_ms(1);
    return atomic_load(flag) != 0;
}

/* A generation held at its first token on another thread, so that what the main thread does
 * meanwhile meets a busy engine or pool for certain, whatever the timing. The thread running it
 * sets `status`; the main thread sets `refused` once its own calls have returned. */
struct held_generation {
    bizra_engine *engine;   /* the engine generating (test_inference.c) */
    bizra_gateway *gateway; /* or the gateway generating (test_gateway.c) */
    atomic_int first_piece;
    atomic_int refused;
    bizra_status status;
};

/* The held generation's on_token callback: at its first piece it waits for `refused` (a minute
 * at most), then lets every later piece through. */
static inline int32_t hold_until_refused(void *userdata, const char *piece, size_t len) {
    (void)piece;
    (void)len;
    struct held_generation *h = userdata;
    if (!atomic_exchange(&h->first_piece, 1)) wait_for(&h->refused, 60000);
    return 0;
}

/* Prints the tally; the suite's exit status. */
static int check_summary(void) {
    printf("%d passed, %d failed\n", n_passed, n_failed);
    return n_failed == 0 ? 0 : 1;
}

#endif
