//! Every command that needs no model, run as a subprocess on a temporary data directory: what it
//! prints, its exit code, and its failures.

mod support;

use std::fs;

use serde_json::Value;
use support::{write, Bizra, PASS};

#[test]
fn help_documents_the_exit_codes_and_usage_errors_exit_2() {
    let b = Bizra::new();
    let help = b.run(&["--help"]);
    help.ok();
    for (code, what) in [
        ("0", "success"),
        ("1", "refused"),
        ("2", "usage"),
        ("3", "configuration"),
        ("4", "file"),
        ("5", "key"),
        ("6", "model"),
        ("7", "network"),
        ("70", "internal"),
    ] {
        assert!(
            help.stdout
                .lines()
                .any(|l| l.trim_start().starts_with(code) && l.contains(what)),
            "exit {code} ({what}) is not documented: {}",
            help.stdout
        );
    }
    for cmd in [
        "init",
        "detect",
        "models",
        "inference",
        "identity",
        "pci",
        "constitution",
        "serve",
        "join",
        "status",
        "federation",
        "completions",
    ] {
        assert!(help.stdout.contains(cmd), "{cmd}");
        b.run(&[cmd, "--help"]).ok();
    }
    b.run(&["--version"]).ok();
    assert!(b.run(&["--version"]).stdout.starts_with("bizra "));
    b.run(&["frobnicate"]).code(2);
    b.run(&["pci", "verify", "--no-such-flag"]).code(2);
    b.run(&["identity"]).code(2);
    // --data-dir has no short form, and is accepted after the command too.
    b.run(&["-d", "x", "detect"]).code(2);
    let home = b.home();
    b.run(&["detect", "--data-dir", home.to_str().unwrap()])
        .ok();
}

#[test]
fn init_writes_the_config_and_an_encrypted_key_and_never_overwrites_without_force() {
    let b = Bizra::new();
    let first = b.run(&["--json", "init"]).ok().json();
    let key = b.home().join("node.key");
    let pem = fs::read_to_string(&key).unwrap();
    assert!(
        pem.starts_with("-----BEGIN ENCRYPTED PRIVATE KEY-----"),
        "{pem}"
    );
    assert!(!pem.contains(PASS));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            fs::metadata(&key).unwrap().permissions().mode() & 0o777,
            0o600
        );
        assert_eq!(
            fs::metadata(b.home()).unwrap().permissions().mode() & 0o777,
            0o700
        );
    }
    let config = fs::read_to_string(b.home().join("config.toml")).unwrap();
    assert!(config.contains("[inference]") && config.contains("key_file = \"node.key\""));
    assert!(b.home().join("models").is_dir());
    assert_eq!(first["key_file"], key.to_str().unwrap());

    // Again: refused, nothing changed.
    b.run(&["init"])
        .code(4)
        .one_line_error(&["already exists", "--force"]);
    assert_eq!(fs::read_to_string(&key).unwrap(), pem);

    // With --force: a new key, the old one kept beside it.
    let second = b
        .run(&["--json", "init", "--force", "--model", "tiny"])
        .ok()
        .json();
    assert_ne!(second["node_id"], first["node_id"]);
    let kept = second["old_key_kept_at"].as_str().unwrap();
    assert_eq!(fs::read_to_string(kept).unwrap(), pem);
    let config = fs::read_to_string(b.home().join("config.toml")).unwrap();
    assert!(config.contains("model = \"tiny\""), "{config}");
    let shown = b.run(&["--json", "identity", "show"]);
    assert_eq!(shown.json()["node_id"], second["node_id"]);

    // A broken config.toml stops init, but init --force replaces it.
    write(&b.home().join("config.toml"), "[nodes]\n");
    b.run(&["init"]).code(3).one_line_error(&["nodes"]);
    b.run(&["init", "--force"]).ok();
    b.run(&["identity", "show"]).ok();
}

#[test]
fn the_key_needs_its_passphrase_from_the_environment_a_file_or_a_terminal() {
    let mut b = Bizra::init();
    let node = b.run(&["--json", "identity", "show"]).json()["node_id"].clone();
    assert_eq!(node.as_str().unwrap().len(), 32);

    b.set_env("BIZRA_PASSPHRASE", Some("not it"));
    b.run(&["identity", "show"])
        .code(5)
        .one_line_error(&["wrong passphrase"]);

    let pass_file = b.path("pass.txt");
    write(&pass_file, format!("{PASS}\n"));
    b.set_env("BIZRA_PASSPHRASE", None);
    let via_file = b.run(&[
        "--json",
        "identity",
        "show",
        "--passphrase-file",
        pass_file.to_str().unwrap(),
    ]);
    assert_eq!(via_file.json()["node_id"], node);

    // No source and no terminal: a clear refusal, not a hang.
    b.run(&["identity", "show"])
        .code(5)
        .one_line_error(&["BIZRA_PASSPHRASE", "--passphrase-file"]);
    // An empty passphrase file.
    write(&pass_file, "\n");
    b.run(&[
        "identity",
        "show",
        "--passphrase-file",
        pass_file.to_str().unwrap(),
    ])
    .code(5)
    .one_line_error(&["empty"]);
    // --json errors are JSON on stdout too.
    let e = b.run(&["--json", "identity", "show"]);
    e.code(5);
    assert_eq!(e.json()["error"]["exit"], 5);
    assert_eq!(e.json()["error"]["status"], "key");

    // Before init there is no key.
    let fresh = Bizra::new();
    fresh
        .run(&["identity", "show"])
        .code(5)
        .one_line_error(&["bizra init"]);
}

#[test]
fn messages_are_signed_and_verified() {
    let b = Bizra::init();
    let signed = b
        .run(&["--json", "identity", "sign", "ship it"])
        .ok()
        .json();
    let sig = signed["signature"].as_str().unwrap();
    let pk = signed["public_key"].as_str().unwrap();
    assert_eq!(sig.len(), 128);
    // The human form is the signature alone.
    assert_eq!(b.run(&["identity", "sign", "ship it"]).stdout.trim(), sig);

    b.run(&[
        "identity",
        "verify",
        "ship it",
        "--signature",
        sig,
        "--public-key",
        pk,
    ])
    .ok();
    // Without --public-key: the node's own key.
    b.run(&["identity", "verify", "ship it", "--signature", sig])
        .ok();
    let bad = b.run(&[
        "identity",
        "verify",
        "ship iT",
        "--signature",
        sig,
        "--public-key",
        pk,
    ]);
    bad.code(1);
    assert!(bad.stdout.contains("invalid"), "{bad:?}");
    assert_eq!(
        b.run(&[
            "--json",
            "identity",
            "verify",
            "x",
            "--signature",
            sig,
            "--public-key",
            pk
        ])
        .json()["valid"],
        false
    );
    // From a file and from stdin: the same bytes.
    let msg = b.path("msg.bin");
    write(&msg, "ship it");
    b.run(&[
        "identity",
        "verify",
        "--file",
        msg.to_str().unwrap(),
        "--signature",
        sig,
        "--public-key",
        pk,
    ])
    .ok();
    b.run_stdin(
        &["identity", "verify", "--signature", sig, "--public-key", pk],
        Some(b"ship it"),
    )
    .ok();
    let from_stdin = b.run_stdin(&["--json", "identity", "sign"], Some(b"ship it"));
    assert_eq!(
        from_stdin.json()["signature"],
        sig,
        "Ed25519 is deterministic"
    );
    // Malformed hex is a usage error.
    b.run(&[
        "identity",
        "verify",
        "x",
        "--signature",
        "zz",
        "--public-key",
        pk,
    ])
    .code(2)
    .one_line_error(&["--signature", "128 hex"]);
}

#[test]
fn keys_are_exported_imported_and_rotated() {
    let a = Bizra::init();
    let node = a.run(&["--json", "identity", "show"]).json()["node_id"].clone();

    // Encrypted export to a new file (0600), then that file imported elsewhere.
    let enc = a.path("exported.pem");
    a.run(&["identity", "export", "--out", enc.to_str().unwrap()])
        .ok();
    assert!(fs::read_to_string(&enc)
        .unwrap()
        .starts_with("-----BEGIN ENCRYPTED PRIVATE KEY-----"));
    a.run(&["identity", "export", "--out", enc.to_str().unwrap()])
        .code(4)
        .one_line_error(&["already exists"]);
    // Unencrypted on stdout (OpenSSL's form); the public key alone.
    let plain = a.run(&["identity", "export", "--unencrypted"]);
    plain.ok();
    assert!(plain.stdout.starts_with("-----BEGIN PRIVATE KEY-----"));
    let public = a.run(&["identity", "export", "--public"]);
    assert_eq!(public.stdout.trim().len(), 64);
    assert!(public.stdout.starts_with(node.as_str().unwrap()));

    // A second node imports the plain key: the same identity, stored encrypted.
    let b = Bizra::new();
    let plain_file = b.path("plain.pem");
    write(&plain_file, &plain.stdout);
    let imported = b.run(&["--json", "identity", "import", plain_file.to_str().unwrap()]);
    imported.ok();
    assert_eq!(imported.json()["node_id"], node);
    assert!(fs::read_to_string(b.home().join("node.key"))
        .unwrap()
        .starts_with("-----BEGIN ENCRYPTED PRIVATE KEY-----"));
    // Importing over it needs --force; the old key is then kept.
    b.run(&["identity", "import", enc.to_str().unwrap()])
        .code(4)
        .one_line_error(&["--force"]);
    let pass_file = b.path("pass.txt");
    write(&pass_file, PASS);
    let forced = b
        .run(&[
            "--json",
            "identity",
            "import",
            enc.to_str().unwrap(),
            "--force",
            "--key-passphrase-file",
            pass_file.to_str().unwrap(),
        ])
        .ok()
        .json();
    assert_eq!(forced["node_id"], node);
    assert!(std::path::Path::new(forced["old_key_kept_at"].as_str().unwrap()).is_file());
    // An encrypted file with the wrong passphrase, and garbage: key errors.
    write(&pass_file, "nope");
    b.run(&[
        "identity",
        "import",
        enc.to_str().unwrap(),
        "--force",
        "--key-passphrase-file",
        pass_file.to_str().unwrap(),
    ])
    .code(5)
    .one_line_error(&["wrong passphrase"]);
    let junk = b.path("junk.pem");
    write(&junk, "not a key");
    b.run(&["identity", "import", junk.to_str().unwrap(), "--force"])
        .code(5)
        .one_line_error(&["junk.pem", "not a PEM key"]);
    b.run(&["identity", "import", b.path("absent.pem").to_str().unwrap()])
        .code(4)
        .one_line_error(&["absent.pem"]);
    // A hex seed from stdin.
    let c = Bizra::new();
    let seeded = c.run_stdin(
        &["--json", "identity", "import", "-"],
        Some(b"000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\n"),
    );
    assert_eq!(seeded.json()["node_id"], "03a107bff3ce10be1d70dd18e74bc099");

    // generate: refuses over a key without --force, rotates with it.
    c.run(&["identity", "generate"])
        .code(4)
        .one_line_error(&["--force"]);
    let rotated = c.run(&["--json", "identity", "generate", "--force"]);
    rotated.ok();
    assert_ne!(
        rotated.json()["node_id"],
        "03a107bff3ce10be1d70dd18e74bc099"
    );
    assert!(rotated.json()["old_key_kept_at"].is_string());
}

fn create(b: &Bizra, payload: &str, extra: &[&str]) -> String {
    let mut args = vec!["pci", "create", payload];
    args.extend_from_slice(extra);
    let r = b.run(&args);
    r.ok();
    r.stdout
}

#[test]
fn envelopes_are_created_verified_and_a_tampered_one_is_refused_with_its_code() {
    let b = Bizra::init();
    let wire = create(
        &b,
        r#"{"answer": 4}"#,
        &["--snr", "0.93", "--ihsan", "0.97"],
    );
    let env = b.path("env.json");
    write(&env, &wire);
    let ok = b.run(&["pci", "verify", env.to_str().unwrap()]);
    ok.ok();
    assert!(ok.stdout.starts_with("admitted: pci_"), "{ok:?}");
    // From stdin, as JSON.
    let v = b.run_stdin(&["--json", "pci", "verify"], Some(wire.as_bytes()));
    v.ok();
    let v = v.json();
    assert_eq!(v["admitted"], true);
    assert_eq!(v["gates"].as_array().unwrap().len(), 7);

    // The payload changed after signing: PCI-15.
    let tampered = wire.replace(r#""answer":4"#, r#""answer":5"#);
    assert_ne!(tampered, wire);
    let t = b.run_stdin(&["pci", "verify", "-"], Some(tampered.as_bytes()));
    t.code(1);
    assert!(
        t.stdout.starts_with("refused: PCI-15 HASH_MISMATCH"),
        "{t:?}"
    );
    let t = b.run_stdin(&["--json", "pci", "verify"], Some(tampered.as_bytes()));
    t.code(1);
    let t = t.json();
    assert_eq!(t["reject"]["code"], 15);
    assert_eq!(t["reject"]["name"], "HASH_MISMATCH");
    assert_eq!(t["refused_by"], "signature");
    // A signature of another key: PCI-21 (the content hash still holds).
    let mut forged: Value = serde_json::from_str(&wire).unwrap();
    let sig = forged["signature"].as_str().unwrap().to_owned();
    let flipped = if sig.starts_with('0') { "1" } else { "0" };
    forged["signature"] = Value::String(format!("{flipped}{}", &sig[1..]));
    let f = b.run_stdin(
        &["--json", "pci", "verify"],
        Some(forged.to_string().as_bytes()),
    );
    f.code(1);
    assert_eq!(f.json()["reject"]["name"], "GATE_SIGNATURE");
    // Not an envelope at all: PCI-01; a member missing: PCI-02.
    let m = b.run_stdin(&["pci", "verify"], Some(b"{not json"));
    m.code(1);
    assert!(m.stdout.starts_with("refused: PCI-01 SCHEMA"), "{m:?}");
    let mut missing: Value = serde_json::from_str(&wire).unwrap();
    missing.as_object_mut().unwrap().remove("signature");
    let m = b.run_stdin(
        &["--json", "pci", "verify"],
        Some(missing.to_string().as_bytes()),
    );
    m.code(1);
    assert_eq!(m.json()["reject"]["name"], "MISSING_FIELD");

    // Unscored output passes the authenticity gates but not the score gates.
    let unscored = create(&b, r#"{"answer": 4}"#, &[]);
    let u = b.run_stdin(&["--json", "pci", "verify"], Some(unscored.as_bytes()));
    u.code(1);
    assert_eq!(u.json()["reject"]["name"], "GATE_SNR");
    b.run_stdin(
        &[
            "pci",
            "verify",
            "--gates",
            "schema,signature,freshness,policy,replay",
        ],
        Some(unscored.as_bytes()),
    )
    .ok();
    // --all reports every gate.
    let all = b.run_stdin(
        &["--json", "pci", "verify", "--all"],
        Some(unscored.as_bytes()),
    );
    let gates = all.json()["gates"].as_array().unwrap().clone();
    assert_eq!(gates.len(), 7);
    assert_eq!(gates.iter().filter(|g| g["passed"] == false).count(), 2);
    // Judged later than its ttl: expired.
    let late = b.run_stdin(
        &[
            "--json",
            "pci",
            "verify",
            "--at",
            "2999-01-01T00:00:00.000Z",
        ],
        Some(wire.as_bytes()),
    );
    late.code(1);
    assert_eq!(late.json()["reject"]["name"], "EXPIRED");
    b.run_stdin(
        &["pci", "verify", "--at", "yesterday"],
        Some(wire.as_bytes()),
    )
    .code(2)
    .one_line_error(&["--at"]);
    b.run_stdin(&["pci", "verify", "--gates", "nope"], Some(wire.as_bytes()))
        .code(2)
        .one_line_error(&["nope", "signature"]);
    // A file that is not there.
    b.run(&["pci", "verify", b.path("absent.json").to_str().unwrap()])
        .code(4)
        .one_line_error(&["absent.json"]);

    // create: options, a file, --out; bad input refused before signing.
    let payload = b.path("payload.json");
    write(&payload, r#"{"b": [1, 2.5, "x"]}"#);
    let out = b.path("out.json");
    let c = b
        .run(&[
            "--json",
            "pci",
            "create",
            "--file",
            payload.to_str().unwrap(),
            "--ttl",
            "60",
            "--derived-from",
            "pci_0123456789abcdef0123456789abcdef",
            "--out",
            out.to_str().unwrap(),
        ])
        .ok()
        .json();
    assert_eq!(c["envelope"]["ttl"], 60);
    assert_eq!(
        c["envelope"]["provenance"][0],
        "pci_0123456789abcdef0123456789abcdef"
    );
    assert_eq!(c["envelope"]["payload"]["b"][1], 2.5);
    b.run(&[
        "pci",
        "verify",
        "--gates",
        "schema,signature",
        out.to_str().unwrap(),
    ])
    .ok();
    b.run(&["pci", "create", "{\"a\": 1, \"a\": 2}"])
        .code(2)
        .one_line_error(&["I-JSON"]);
    b.run(&["pci", "create", "{}", "--snr", "1.5"])
        .code(2)
        .one_line_error(&["snr"]);
    b.run(&["pci", "create", "{}", "--ttl", "0"]).code(2);
}

#[test]
fn the_gates_and_the_constitution_are_listed() {
    let b = Bizra::new();
    let g = b.run(&["--json", "pci", "gates"]).ok().json();
    let names: Vec<&str> = g["gates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["name"].as_str().unwrap())
        .collect();
    assert_eq!(names.len(), 7);
    assert_eq!(
        names.last(),
        Some(&"signature"),
        "the costly gate runs last"
    );
    assert_eq!(g["thresholds"]["snr"], 0.85);
    assert!(b
        .run(&["pci", "gates"])
        .stdout
        .contains("PCI-15 HASH_MISMATCH"));

    let c = b.run(&["--json", "constitution"]).ok().json();
    assert_eq!(c["hash"], g["constitution"]["hash"]);
    assert_eq!(c["source"], "embedded default");
    assert_eq!(c["rules"].as_array().unwrap().len(), 5);
    let t = b.run(&["--json", "constitution", "--thresholds"]).json();
    assert_eq!(t["ihsan_minimum"], 0.95);
    assert_eq!(t["quorum"], "floor(2n/3)+1");
    assert!(b
        .run(&["constitution", "--thresholds"])
        .stdout
        .contains("snr threshold          0.85"));
    b.run(&["constitution", "--thresholds", "--check", "x"])
        .code(2);
}

#[test]
fn compliance_is_checked_against_the_configured_constitution() {
    let b = Bizra::init();
    let good = create(&b, r#"{"a": 1}"#, &["--snr", "0.9", "--ihsan", "0.96"]);
    let bad = create(&b, r#"{"a": 1}"#, &["--snr", "0.5"]);
    let (gf, bf) = (b.path("good.json"), b.path("bad.json"));
    write(&gf, &good);
    write(&bf, &bad);
    let ok = b.run(&["--json", "constitution", "--check", gf.to_str().unwrap()]);
    ok.ok();
    assert_eq!(ok.json()["compliant"], true);
    assert_eq!(ok.json()["policy_matches"], true);
    let no = b.run(&["constitution", "--check", bf.to_str().unwrap()]);
    no.code(1);
    assert!(no.stdout.contains("NOT compliant") && no.stdout.contains("FAIL SNR_001"));
    b.run_stdin(&["constitution", "--check", "-"], Some(good.as_bytes()))
        .ok();
    b.run_stdin(&["constitution", "--check", "-"], Some(b"[]"))
        .code(1)
        .one_line_error(&["SCHEMA"]);

    // A stricter constitution in config.toml: its hash, its thresholds.
    let strict = fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../tests/vectors/constitution-v1.json"
    ))
    .unwrap()
    .replace("\"snr_threshold\": 0.85", "\"snr_threshold\": 0.95");
    write(&b.home().join("strict.json"), &strict);
    let config = b.home().join("config.toml");
    let text = fs::read_to_string(&config).unwrap().replace(
        "# constitution = \"constitution.json\"",
        "constitution = \"strict.json\"",
    );
    write(&config, text);
    let c = b.run(&["--json", "constitution"]).json();
    assert!(c["source"].as_str().unwrap().ends_with("strict.json"));
    assert_eq!(c["thresholds"]["snr_threshold"], 0.95);
    let judged = b.run(&["--json", "constitution", "--check", gf.to_str().unwrap()]);
    judged.code(1);
    assert_eq!(judged.json()["policy_matches"], false);
    // The gates apply it too: the envelope signed under the default is refused by policy.
    let v = b.run(&["--json", "pci", "verify", gf.to_str().unwrap()]);
    v.code(1);
    assert_eq!(v.json()["reject"]["name"], "POLICY_MISMATCH");
    // A new envelope names the configured constitution, and its SNR gate is stricter.
    let strict_env = create(&b, r#"{"a": 1}"#, &["--snr", "0.9", "--ihsan", "0.96"]);
    let v = b.run_stdin(&["--json", "pci", "verify"], Some(strict_env.as_bytes()));
    v.code(1);
    assert_eq!(v.json()["reject"]["name"], "GATE_SNR");
    // A broken constitution file is a configuration error naming it.
    write(&b.home().join("strict.json"), "{\"version\": 1}");
    b.run(&["constitution"])
        .code(3)
        .one_line_error(&["strict.json"]);
}

#[test]
fn a_bad_configuration_is_refused_naming_the_key() {
    let b = Bizra::init();
    let config = b.home().join("config.toml");
    let good = fs::read_to_string(&config).unwrap();

    write(
        &config,
        good.replace("[inference]\n", "[inference]\nmodle = \"x\"\n"),
    );
    b.run(&["detect"]).code(3).one_line_error(&[
        "config.toml",
        "key `inference.modle`",
        "unknown field `modle`",
    ]);
    write(&config, "[inferense]\n");
    b.run(&["pci", "gates"])
        .code(3)
        .one_line_error(&["unknown section `inferense`"]);
    write(&config, "[inference]\nmax_tokens = \"many\"\n");
    b.run(&["pci", "gates"])
        .code(3)
        .one_line_error(&["inference.max_tokens"]);
    write(&config, "[inference\n");
    b.run(&["pci", "gates"])
        .code(3)
        .one_line_error(&["config.toml line 1"]);
    let e = b.run(&["--json", "pci", "gates"]);
    e.code(3);
    assert_eq!(e.json()["error"]["status"], "config");
    // Completions need no configuration.
    b.run(&["completions", "bash"]).ok();

    // Environment overrides are checked the same way.
    write(&config, &good);
    let mut b = b;
    b.set_env("BIZRA_INFERENCE_MAX_TOKENS", Some("lots"));
    b.run(&["detect"])
        .code(3)
        .one_line_error(&["BIZRA_INFERENCE_MAX_TOKENS", "lots"]);
    b.set_env("BIZRA_INFERENCE_MAX_TOKENS", None);
    b.set_env("BIZRA_INFERENCE_MODLE", Some("x"));
    b.run(&["detect"])
        .code(3)
        .one_line_error(&["BIZRA_INFERENCE_MODLE", "BIZRA_INFERENCE_MODEL"]);
    b.set_env("BIZRA_INFERENCE_MODLE", None);
    b.set_env("BIZRA_LOG_LEVEL", Some("bizra=[nonsense"));
    b.run(&["detect"]).code(3).one_line_error(&["log.level"]);
    b.set_env("BIZRA_LOG_LEVEL", None);
    // An override that names a file: the key file elsewhere.
    b.set_env("BIZRA_NODE_KEY_FILE", Some("elsewhere.key"));
    b.run(&["identity", "show"])
        .code(5)
        .one_line_error(&["elsewhere.key"]);
    // BIZRA_HOME is the data directory when --data-dir is absent.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_bizra"))
        .args(["--json", "identity", "show"])
        .env("BIZRA_HOME", b.home())
        .env("BIZRA_PASSPHRASE", PASS)
        .env_remove("BIZRA_NODE_KEY_FILE")
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
}

#[test]
fn detect_reports_the_machine_and_its_tiers() {
    let b = Bizra::new();
    let d = b.run(&["--json", "detect"]).ok().json();
    assert!(d["cpu_cores"].as_u64().unwrap() >= 1);
    assert!(d["ram_total_bytes"].as_u64().unwrap() > 0);
    assert_eq!(d["tiers"].as_array().unwrap().len(), 3);
    assert_eq!(
        d["tiers"][2]["local"], false,
        "the pool tier is never local"
    );
    let human = b.run(&["detect"]);
    assert!(human.stdout.contains("Tier edge") && human.stdout.contains("CPU"));
}

#[test]
fn completions_are_generated_for_every_shell() {
    let b = Bizra::new();
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let c = b.run(&["completions", shell]);
        c.ok();
        assert!(c.stdout.contains("bizra"), "{shell}");
        assert!(c.stdout.contains("inference"), "{shell}");
    }
    let j = b.run(&["--json", "completions", "bash"]).json();
    assert_eq!(j["shell"], "bash");
    b.run(&["completions", "tcsh"]).code(2);
}

#[test]
fn a_closed_stdout_is_not_an_error() {
    // `bizra pci gates | head -0`: the reader is gone before the output is written.
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_bizra"))
        .args(["completions", "bash"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{out:?}");
    assert!(!String::from_utf8_lossy(&out.stderr).contains("panicked"));
}
