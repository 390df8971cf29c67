//! `bizra inference` with the real test model (SmolLM2-135M-Instruct Q4_1, found as every Rust
//! suite finds it: `BIZRA_TEST_MODEL`, else the cache that `make model` fills).

#[path = "../../crates/bizra-inference/tests/support/pool_server.rs"]
mod pool_server;
mod support;

use serde_json::Value;
use support::{Bizra, PASS};

const QUESTION: &str = "What is the capital of France? Answer in one word.";
/// A greedy generation under a system prompt: the same output on every run.
const CONCISE: [&str; 6] = [
    "inference",
    "--greedy",
    "--max-tokens",
    "24",
    "--system",
    "You are a concise assistant.",
];
/// A short greedy generation with the registry's choice of model.
const GREEDY_HELLO: [&str; 6] = [
    "--json",
    "inference",
    "--greedy",
    "--max-tokens",
    "4",
    "Hello",
];
const VOUCH: [&str; 8] = [
    "--vouch",
    "correctness=1",
    "--vouch",
    "safety=1",
    "--vouch",
    "user_benefit=1",
    "--vouch",
    "adl_fairness=1",
];

fn model() -> String {
    pool_server::model().to_str().unwrap().to_owned()
}

#[test]
fn a_real_generation_streams_and_signs_an_envelope_that_verifies() {
    let b = Bizra::new();
    let m = model();
    b.run(&["init", "--model", &m]).ok();
    let out = b.path("answer.json");
    let mut args = CONCISE.to_vec();
    args.extend(["--out", out.to_str().unwrap(), QUESTION]);
    args.extend(VOUCH);
    let r = b.run(&args);
    r.ok();
    // The answer streamed to stdout is the signed output.
    let wire = std::fs::read_to_string(&out).unwrap();
    let envelope: Value = serde_json::from_str(&wire).unwrap();
    let output = envelope["payload"]["output"].as_str().unwrap();
    assert!(!output.trim().is_empty());
    assert_eq!(r.stdout.trim_end(), output.trim_end());
    assert_eq!(envelope["payload"]["type"], "bizra.inference");
    assert_eq!(envelope["payload"]["params"]["temperature"], 0.0);
    assert!(r.stderr.contains("signed pci_"), "{r:?}");
    let node = b.run(&["--json", "identity", "show"]).json()["node_id"].clone();
    assert_eq!(envelope["sender"], node);

    // Authentic: the envelope verifies (schema, signature, freshness, policy).
    b.run(&[
        "pci",
        "verify",
        "--gates",
        "schema,signature,freshness,policy",
        out.to_str().unwrap(),
    ])
    .ok();
    // The whole chain gives the verdict the inference summary gave.
    let full = b.run(&["--json", "pci", "verify", out.to_str().unwrap()]);
    let admitted = full.json()["admitted"].as_bool().unwrap();
    assert_eq!(full.code, if admitted { 0 } else { 1 });
    assert_eq!(
        r.stderr.contains("gate chain: admitted"),
        admitted,
        "{r:?} {full:?}"
    );
    // Tampered with: refused, with its code.
    let tampered = wire.replacen(output, "Berlin.", 1);
    let t = b.run_stdin(&["pci", "verify"], Some(tampered.as_bytes()));
    t.code(1);
    assert!(
        t.stdout.starts_with("refused: PCI-15 HASH_MISMATCH"),
        "{t:?}"
    );

    // --envelope: the canonical envelope on stdout, the answer on stderr; same greedy output.
    let e = b.run(&[&CONCISE[..], &["--envelope", QUESTION]].concat());
    e.ok();
    let env2: Value = serde_json::from_str(e.stdout.trim()).unwrap();
    assert_eq!(env2["payload"]["output"], envelope["payload"]["output"]);
    assert!(e.stderr.contains(output.trim_end()), "{e:?}");
    b.run_stdin(
        &["pci", "verify", "--gates", "schema,signature"],
        Some(e.stdout.as_bytes()),
    )
    .ok();

    // --json: one document with the envelope and the summary; the prompt from stdin.
    let j = b.run_stdin(
        &[
            "--json",
            "inference",
            "--greedy",
            "--max-tokens",
            "8",
            "--raw",
            "-",
        ],
        Some(b"The capital of France is"),
    );
    j.ok();
    let j = j.json();
    assert_eq!(j["envelope"]["payload"]["output"], j["output"]);
    assert_eq!(j["envelope"]["payload"]["chat_template"], Value::Null);
    let generated = j["summary"]["tokens"]["completion"].as_u64().unwrap();
    assert!((1..=8).contains(&generated), "{j}");
    assert!(j["summary"]["gates"]["admitted"].is_boolean());
}

#[test]
fn the_registry_serves_by_key_and_by_tier() {
    let b = Bizra::init();
    let imported = b.run(&["--json", "models", "import", &model()]);
    imported.ok();
    let key = imported.json()["key"].as_str().unwrap().to_owned();
    assert_eq!(key, "SmolLM2-135M-Instruct.Q4_1");
    assert_eq!(imported.json()["tier"], "edge");

    // No model named: the gateway picks the registry's model for the prompt's tier.
    let r = b.run(&GREEDY_HELLO);
    r.ok();
    let route = &r.json()["envelope"]["payload"]["route"];
    assert_eq!(route["served"], "edge", "{route}");
    assert_eq!(route["backend"], "embedded");
    // By key, from the environment's override of [inference] model.
    let mut b = b;
    b.set_env("BIZRA_INFERENCE_MODEL", Some(&key));
    let r = b.run(&GREEDY_HELLO);
    r.ok();
    assert_eq!(
        r.json()["envelope"]["payload"]["model"]["file_blake3"],
        imported.json()["file_blake3"]
    );
    // Pool is served by remote pools only.
    b.set_env("BIZRA_INFERENCE_MODEL", None);
    b.run(&["inference", "--tier", "pool", "Hello"])
        .code(6)
        .one_line_error(&["pool"]);
}

#[test]
fn inference_failures_are_clear() {
    let mut b = Bizra::init();
    b.run(&["inference", "--model", "/no/such/model.gguf", "hi"])
        .code(6)
        .one_line_error(&["/no/such/model.gguf"]);
    b.run(&["inference", "--model", "nonesuch", "hi"])
        .code(6)
        .one_line_error(&["nonesuch"]);
    // Nothing registered and nothing named.
    b.run(&["inference", "hi"])
        .code(6)
        .one_line_error(&["no model registered"]);
    let m = model();
    b.run_stdin(&["inference", "--model", &m], Some(b"   \n"))
        .code(2)
        .one_line_error(&["empty"]);
    b.run(&["inference", "--model", &m, "--vouch", "efficiency=1", "hi"])
        .code(2)
        .one_line_error(&["efficiency"]);
    b.run(&["inference", "--model", &m, "--vouch", "nonsense", "hi"])
        .code(2)
        .one_line_error(&["DIMENSION=VALUE"]);
    b.run(&["inference", "--model", &m, "--raw", "--system", "s", "hi"])
        .code(2);
    b.run(&["inference", "--model", &m, "--ttl", "99999", "hi"])
        .code(2)
        .one_line_error(&["ttl"]);
    // The key is unlocked before the model loads: a wrong passphrase fails at once.
    b.set_env("BIZRA_PASSPHRASE", Some("wrong"));
    b.run(&["inference", "--model", &m, "hi"])
        .code(5)
        .one_line_error(&["wrong passphrase"]);
    b.set_env("BIZRA_PASSPHRASE", Some(PASS));
}

/// An engine bound out of range, from the environment, is refused before any generation, naming
/// the setting and its limit; one in range is used.
#[test]
fn max_queued_out_of_range_is_refused_naming_it() {
    let mut b = Bizra::init();
    let m = model();
    let args = [
        "inference",
        "--model",
        m.as_str(),
        "--greedy",
        "--max-tokens",
        "2",
        "hi",
    ];
    b.set_env("BIZRA_INFERENCE_MAX_QUEUED", Some("65537"));
    b.run(&args)
        .code(2)
        .one_line_error(&["max_queued", "65536"]);
    b.set_env("BIZRA_INFERENCE_MAX_QUEUED", Some("0"));
    b.run(&args).ok();
}
