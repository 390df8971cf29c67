/* bizra quickstart in C: create an envelope, print it, open (parse and verify) it, admit it,
 * tamper with it, show the code.
 *
 *   cc quickstart.c $(pkg-config --cflags --libs bizra) -o quickstart && ./quickstart
 */
#include <bizra.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Prints the failing call and this thread's last error, then exits. */
static void die(const char *what, bizra_status st) {
    char msg[512] = "";
    bizra_last_error(msg, sizeof msg, NULL);
    fprintf(stderr, "%s failed with status %u: %s\n", what, st, msg);
    exit(1);
}

int main(void) {
    bizra_status st;
    printf("bizra %s\n", bizra_version());

    /* 1. An identity (random here; bizra_identity_load reads a key file). */
    bizra_identity *id = NULL;
    if ((st = bizra_identity_generate(&id)) != BIZRA_STATUS_OK) die("bizra_identity_generate", st);
    char *node = NULL;
    bizra_identity_node_id(id, &node);
    printf("node id: %s\n", node);
    bizra_string_free(node);

    /* 2. A signed envelope around a JSON payload, with quality scores. */
    bizra_envelope_options opts;
    memset(&opts, 0, sizeof opts);
    opts.struct_size = sizeof opts;
    opts.has_snr = true;
    opts.snr = 0.93;
    opts.has_ihsan = true;
    opts.ihsan = 0.97;
    bizra_envelope *env = NULL;
    st = bizra_envelope_create(id, "{\"question\":\"What is 2+2?\",\"answer\":4}", &opts, &env);
    if (st != BIZRA_STATUS_OK) die("bizra_envelope_create", st);

    char *json = NULL;
    if ((st = bizra_envelope_to_json(env, &json)) != BIZRA_STATUS_OK) die("bizra_envelope_to_json", st);
    printf("envelope: %s\n", json);

    /* 3. A receiver opens the wire text: parses and verifies it in one call. */
    bizra_envelope *received = NULL;
    uint32_t reject = 0;
    st = bizra_envelope_open(json, strlen(json), NULL, &received, &reject);
    printf("open: %s (code %u, %s)\n", st == BIZRA_STATUS_OK ? "valid" : "REJECTED", reject,
           bizra_reject_name(reject));
    if (st != BIZRA_STATUS_OK) die("bizra_envelope_open", st);

    /* ... and admits it through the default gate chain (schema, signature, freshness, replay,
       policy, SNR >= 0.85, Ihsan >= 0.95), which records its id: a second admission is a replay.
       (bizra_gate_chain_check judges without admitting.) */
    bizra_gate_chain *chain = NULL;
    if ((st = bizra_gate_chain_new_default(&chain)) != BIZRA_STATUS_OK) die("bizra_gate_chain_new_default", st);
    st = bizra_gate_chain_admit(chain, received, NULL, NULL, &reject);
    printf("gate chain: %s\n", st == BIZRA_STATUS_OK ? "admitted" : bizra_reject_describe(reject));
    st = bizra_gate_chain_admit(chain, received, NULL, NULL, &reject);
    printf("again:      %s\n", st == BIZRA_STATUS_OK ? "admitted (unexpected!)" : bizra_reject_describe(reject));

    /* 4. Tamper with the payload: the content hash no longer matches. */
    char *at = strstr(json, "\"answer\":4");
    if (at) at[9] = '5';
    bizra_envelope *tampered = NULL;
    st = bizra_envelope_open(json, strlen(json), NULL, &tampered, &reject);
    printf("tampered: %s (%s)\n", st == BIZRA_STATUS_OK ? "valid (unexpected!)" : bizra_reject_describe(reject),
           bizra_status_name(st));
    char msg[256] = "";
    bizra_last_error(msg, sizeof msg, NULL);
    printf("last error: %s\n", msg);

    bizra_envelope_free(tampered);
    bizra_gate_chain_free(chain);
    bizra_envelope_free(received);
    bizra_string_free(json);
    bizra_envelope_free(env);
    bizra_identity_free(id);
    return reject == BIZRA_REJECT_HASH_MISMATCH ? 0 : 1;
}
