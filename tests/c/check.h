/* The checking macros the C suites share. Each suite is one translation unit, so the counters
 * below are that suite's own; `current` names the test running, for the failure lines. */
#ifndef BIZRA_TESTS_CHECK_H
#define BIZRA_TESTS_CHECK_H

#include "bizra.h"

#include <stdio.h>
#include <string.h>

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

/* Prints the tally; the suite's exit status. */
static int check_summary(void) {
    printf("%d passed, %d failed\n", n_passed, n_failed);
    return n_failed == 0 ? 0 : 1;
}

#endif
