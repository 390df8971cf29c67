//! `bizra join --document`: a node taking part in consensus, as a subprocess; a proposal
//! submitted with `bizra federation propose` is decided and printed.

mod support;

use support::Bizra;

#[test]
fn a_validator_joined_with_a_document_decides_a_proposal() {
    let b = Bizra::init();
    let key = b.run(&["--json", "identity", "show"]).json()["public_key"]
        .as_str()
        .unwrap()
        .to_owned();
    let document = b.path("federation.json");
    support::write(
        &document,
        format!(
            r#"{{"epoch":1,"federation":"solo","validators":[{{"key":"{key}","power":1}}],
               "timeouts_ms":{{"delta":100,"precommit":300,"prevote":300,"propose":500,
               "rebroadcast":500}}}}"#
        ),
    );
    let mut node = b.spawn(&[
        "--json",
        "join",
        "--gossip-bind",
        "127.0.0.1:0",
        "--bind",
        "127.0.0.1:0",
        "--document",
        document.to_str().unwrap(),
    ]);
    let ready = node.wait_json(60, |v| v["event"] == "ready");
    assert_eq!(ready["consensus"], true, "{ready}");
    let url = node.wait_json(60, |v| v["event"] == "listening")["url"]
        .as_str()
        .unwrap()
        .to_owned();
    let proposed = b.run(&[
        "--json",
        "federation",
        "propose",
        "--url",
        &url,
        "--payload",
        r#"{"type":"bizra.proposal","action":"test.note","note":"decide me"}"#,
        "--snr",
        "0.9",
        "--ihsan",
        "0.97",
    ]);
    proposed.ok();
    assert_eq!(proposed.json()["accepted"], true);
    let decided = node.wait_json(60, |v| v["event"] == "decided" && v["proposals"] == 1);
    assert!(decided["height"].as_u64().unwrap() >= 1, "{decided}");
    let status = b.run(&["--json", "federation", "status", "--url", &url]);
    status.ok();
    assert!(
        status.json()["consensus"]["decided"].as_u64().unwrap() >= 1,
        "{status:#?}"
    );
    // A proposal the federation's gates refuse (Ihsan below 0.95) is refused, exit 1.
    b.run(&[
        "federation",
        "propose",
        "--url",
        &url,
        "--payload",
        r#"{"type":"bizra.proposal","action":"test.note","note":"too low"}"#,
        "--snr",
        "0.9",
        "--ihsan",
        "0.5",
    ])
    .code(1);
    assert_eq!(node.stop(), 0);
}
