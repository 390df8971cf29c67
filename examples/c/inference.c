/* bizra embedded inference in C: load a GGUF model, stream an answer, and get it back as a
 * signed envelope whose scores were measured on it, which anyone can verify.
 *
 *   cc inference.c $(pkg-config --cflags --libs bizra) -o inference
 *   ./inference SmolLM2-135M-Instruct.Q4_1.gguf "What is the capital of France?"
 *
 * (`make demo-c-inference` fetches SmolLM2-135M-Instruct and runs this.)
 */
#include <bizra.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Prints the failing call and this thread's last error, then exits. */
static void die(const char *what, bizra_status st) {
    char msg[1024] = "";
    bizra_last_error(msg, sizeof msg, NULL);
    fprintf(stderr, "%s failed with status %u: %s\n", what, st, msg);
    exit(1);
}

/* Runs on the engine's worker thread for each piece of text, while main() waits in
 * bizra_engine_generate. Returning non-zero would stop the generation. */
static int32_t print_piece(void *userdata, const char *piece, size_t len) {
    (void)userdata;
    fwrite(piece, 1, len, stdout);
    fflush(stdout);
    return 0;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: %s MODEL.gguf [QUESTION]\n", argv[0]);
        return 2;
    }
    const char *question = argc > 2 ? argv[2] : "What is the capital of France? Answer in one word.";
    bizra_status st;

    /* 1. Load the model (NULL options: the defaults). One engine serves any number of threads. */
    bizra_engine *engine = NULL;
    if ((st = bizra_engine_load(argv[1], NULL, &engine)) != BIZRA_STATUS_OK) die("bizra_engine_load", st);
    bizra_model_info info;
    bizra_engine_info(engine, &info);
    printf("model: %s (%s, %llu parameters, %s, tier %s, context %u), blake3 %s\n", info.name,
           info.architecture, (unsigned long long)info.parameters, info.quantization,
           bizra_model_tier_name(info.tier), info.n_ctx, info.file_blake3);

    /* 2. Generate greedily, streaming the answer, signed by this node's identity. */
    bizra_identity *id = NULL;
    if ((st = bizra_identity_generate(&id)) != BIZRA_STATUS_OK) die("bizra_identity_generate", st);
    bizra_generate_options opts;
    memset(&opts, 0, sizeof opts);
    opts.struct_size = sizeof opts;
    opts.system = "You are a concise assistant.";
    opts.max_tokens = 64;
    opts.has_temperature = true;
    opts.temperature = 0; /* greedy: the same answer every time */
    opts.on_token = print_piece;
    printf("answer: ");
    fflush(stdout);
    bizra_envelope *env = NULL;
    uint32_t finish = 0;
    st = bizra_engine_generate(engine, id, question, &opts, &env, &finish);
    printf("\n");
    if (st != BIZRA_STATUS_OK) die("bizra_engine_generate", st);
    static const char *const reasons[] = {"eos", "stop", "length", "cancelled"};
    bizra_scores scores;
    bizra_envelope_scores(env, &scores);
    printf("finish: %s; measured snr %.3f, ihsan %.3f\n", finish < 4 ? reasons[finish] : "?",
           scores.snr, scores.ihsan);

    /* 3. The output is an ordinary PCI envelope: anyone with its text can verify it. */
    char *json = NULL;
    if ((st = bizra_envelope_to_json(env, &json)) != BIZRA_STATUS_OK) die("bizra_envelope_to_json", st);
    printf("envelope: %s\n", json);
    bizra_envelope *received = NULL;
    uint32_t reject = 0;
    st = bizra_envelope_parse(json, strlen(json), &received, &reject);
    if (st != BIZRA_STATUS_OK) die("bizra_envelope_parse", st);
    st = bizra_envelope_verify(received, NULL, &reject);
    printf("verify: %s (code %u, %s)\n", st == BIZRA_STATUS_OK ? "valid" : "REJECTED", reject,
           bizra_reject_name(reject));

    bizra_envelope_free(received);
    bizra_string_free(json);
    bizra_envelope_free(env);
    bizra_identity_free(id);
    bizra_engine_free(engine);
    return st == BIZRA_STATUS_OK ? 0 : 1;
}
