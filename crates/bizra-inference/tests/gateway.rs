//! The gateway on real backends: the SmolLM2 model in the embedded engine, llama-cpp-python's
//! OpenAI-compatible server as the pool (support/pool_server.rs), and a port nobody listens on
//! as a pool that is down. Routing by complexity, forced tiers, fallbacks taken and recorded (or
//! refused), pools skipped, the route signed into every output, and system messages shaped
//! before any tier serves them.

use std::net::TcpListener;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use bizra_inference::{
    CancelToken, ChatMessage, Engine, EngineOptions, FinishReason, Gateway, GenerateRequest,
    RemoteClient, RemoteOptions, ShapedPrompt, SystemPromptShaper, TokenCallback,
};
use bizra_protocol::{Envelope, Error, ErrorKind, Identity, ModelTier, Result, VerifyOptions};
use serde_json::{json, Value};

#[path = "support/pool_server.rs"]
mod pool_server;
use pool_server::{PoolServer, VOCAB_SIZE};

/// One engine for the test binary (its handle is shared by the tests' threads).
fn engine() -> &'static Engine {
    static ENGINE: OnceLock<Engine> = OnceLock::new();
    ENGINE.get_or_init(|| {
        let options = EngineOptions {
            n_ctx: 1024,
            n_threads: Some(1),
            ..EngineOptions::default()
        };
        Engine::load(pool_server::model(), options).expect("the test model loads")
    })
}

/// One reference server for the test binary.
fn server() -> &'static PoolServer {
    static SERVER: OnceLock<PoolServer> = OnceLock::new();
    SERVER.get_or_init(PoolServer::start)
}

/// A client of the reference server.
fn pool() -> RemoteClient {
    RemoteClient::connect(RemoteOptions::new(server().url()).vocab_size(VOCAB_SIZE)).unwrap()
}

/// A pool that is down: a port that was free a moment ago, no retries, short timeouts.
fn dead_pool() -> RemoteClient {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut options = RemoteOptions::new(format!("http://127.0.0.1:{port}/v1"));
    options.max_retries = 0;
    options.connect_timeout = Duration::from_secs(2);
    options.model = Some("gone".into());
    RemoteClient::connect(options).unwrap()
}

fn simple() -> GenerateRequest {
    GenerateRequest::chat("What is the capital of France?")
        .greedy()
        .max_tokens(8)
}

/// A task the seed's rules call Expert (asks to explain, in more than 200 words): the Pool tier.
fn expert() -> GenerateRequest {
    let context = "The tide rises and falls twice a day along the coast. ".repeat(20);
    GenerateRequest::chat(format!("{context}Explain why, in one sentence."))
        .greedy()
        .max_tokens(8)
}

fn route(envelope: &Envelope) -> &Value {
    envelope
        .verify(&VerifyOptions::default())
        .expect("the output verifies");
    &envelope.payload()["route"]
}

#[test]
fn a_simple_task_goes_edge_and_the_route_is_signed() {
    let gateway = Gateway::builder()
        .engine(engine().clone())
        .pool(pool())
        .build()
        .unwrap();
    let id = Identity::generate();
    let request = simple();
    assert_eq!(gateway.decide(&request).tier, ModelTier::Edge);
    let envelope = gateway.generate(&id, &request).unwrap();
    assert_eq!(envelope.payload()["tier"], "edge");
    let r = route(&envelope);
    assert_eq!(r["tier"], "edge");
    assert_eq!(r["served"], "edge");
    assert_eq!(r["forced"], false);
    assert_eq!(r["complexity"], "simple");
    assert_eq!(r["backend"], "embedded");
    assert_eq!(r["fallbacks"], serde_json::json!([]));
    assert!(r["reason"].as_str().unwrap().contains("simple"), "{r}");
    // The same request served by the engine directly: the same output, and no route.
    let direct = engine().generate(&id, &request).unwrap();
    assert_eq!(direct.payload()["output"], envelope.payload()["output"]);
    assert!(direct.payload().get("route").is_none());
}

#[test]
fn an_expert_task_goes_to_the_pool_with_its_backend_and_measured_snr() {
    let gateway = Gateway::builder()
        .engine(engine().clone())
        .pool(pool())
        .build()
        .unwrap();
    let envelope = gateway.generate(&Identity::generate(), &expert()).unwrap();
    let r = route(&envelope);
    assert_eq!(r["tier"], "pool");
    assert_eq!(r["complexity"], "expert");
    assert_eq!(r["served"], "pool");
    assert_eq!(r["backend"], server().url());
    let p = envelope.payload();
    assert_eq!(p["tier"], "pool");
    assert_eq!(p["backend"]["base_url"], server().url());
    assert!(p["scores"]["snr"]["value"].is_number(), "{p}");
    assert!(!p["output"].as_str().unwrap().is_empty());
}

#[test]
fn a_forced_tier_wins_over_the_estimate() {
    let gateway = Gateway::builder()
        .engine(engine().clone())
        .pool(pool())
        .build()
        .unwrap();
    let envelope = gateway
        .generate(&Identity::generate(), &expert().tier(ModelTier::Edge))
        .unwrap();
    let r = route(&envelope);
    assert_eq!(
        (&r["tier"], &r["served"], &r["forced"]),
        (&"edge".into(), &"edge".into(), &true.into())
    );
    assert_eq!(r["complexity"], "expert");
    let envelope = gateway
        .generate(&Identity::generate(), &simple().tier(ModelTier::Pool))
        .unwrap();
    assert_eq!(route(&envelope)["served"], "pool");
}

#[test]
fn a_pool_that_is_down_falls_back_as_configured_and_says_so() {
    let with_fallback = Gateway::builder()
        .engine(engine().clone())
        .pool(dead_pool())
        .fallback(ModelTier::Pool, ModelTier::Edge)
        .build()
        .unwrap();
    let request = simple().tier(ModelTier::Pool);
    let envelope = with_fallback
        .generate(&Identity::generate(), &request)
        .unwrap();
    let r = route(&envelope);
    assert_eq!(r["tier"], "pool");
    assert_eq!(r["served"], "edge");
    assert_eq!(envelope.payload()["tier"], "edge");
    let f = &r["fallbacks"][0];
    assert_eq!((&f["from"], &f["to"]), (&"pool".into(), &"edge".into()));
    assert_eq!(f["cause"], "REMOTE_UNAVAILABLE");
    assert!(
        f["detail"].as_str().unwrap().contains("cannot connect"),
        "{f}"
    );

    // Without the rule, no silent downgrade: the pool's error, of its kind.
    let without = Gateway::builder()
        .engine(engine().clone())
        .pool(dead_pool())
        .build()
        .unwrap();
    let err = without
        .generate(&Identity::generate(), &request)
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::RemoteUnavailable, "{err}");
    assert!(
        matches!(
            err,
            Error::Remote {
                refused: false,
                status: None,
                ..
            }
        ),
        "{err}"
    );

    // No pool at all: the Pool tier has no backend.
    let none = Gateway::builder().engine(engine().clone()).build().unwrap();
    let err = none.generate(&Identity::generate(), &request).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NoRemotePool, "{err}");
}

#[test]
fn pools_are_tried_in_order_and_the_unavailable_ones_are_recorded() {
    let dead = dead_pool();
    let gateway = Gateway::builder()
        .pool(dead.clone())
        .pool(pool())
        .build()
        .unwrap();
    let envelope = gateway
        .generate(&Identity::generate(), &simple().tier(ModelTier::Pool))
        .unwrap();
    let r = route(&envelope);
    assert_eq!(r["served"], "pool");
    assert_eq!(r["backend"], server().url());
    assert_eq!(r["skipped"][0]["backend"], dead.base_url());
    assert_eq!(r["fallbacks"], serde_json::json!([]));

    // Every pool down: one error naming them all.
    let gateway = Gateway::builder()
        .pool(dead_pool())
        .pool(dead_pool())
        .build()
        .unwrap();
    let err = gateway
        .generate(&Identity::generate(), &simple().tier(ModelTier::Pool))
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::RemoteUnavailable);
    assert!(err.to_string().contains("none of the 2 pools"), "{err}");
}

#[test]
fn a_tier_without_an_engine_falls_back_along_the_chain() {
    // Pool → Local → Edge: the pool is down, Local has no engine, Edge serves.
    let gateway = Gateway::builder()
        .engine(engine().clone())
        .pool(dead_pool())
        .fallback(ModelTier::Pool, ModelTier::Local)
        .fallback(ModelTier::Local, ModelTier::Edge)
        .build()
        .unwrap();
    let envelope = gateway.generate(&Identity::generate(), &expert()).unwrap();
    let r = route(&envelope);
    let causes: Vec<(&str, &str, &str)> = r["fallbacks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["from"].as_str().unwrap(),
                f["to"].as_str().unwrap(),
                f["cause"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        causes,
        [
            ("pool", "local", "REMOTE_UNAVAILABLE"),
            ("local", "edge", "MODEL_NOT_FOUND")
        ]
    );
    assert_eq!(r["served"], "edge");

    // A small model may serve Local when given for it.
    let gateway = Gateway::builder()
        .engine_for(ModelTier::Local, engine().clone())
        .build()
        .unwrap();
    let envelope = gateway
        .generate(&Identity::generate(), &simple().tier(ModelTier::Local))
        .unwrap();
    assert_eq!(envelope.payload()["tier"], "local");
}

#[test]
fn a_refusal_is_never_fallen_back_from() {
    let server = PoolServer::start_with(&["--api-key", "right-key"]);
    let options = RemoteOptions::new(server.url())
        .api_key("wrong-key")
        .vocab_size(VOCAB_SIZE);
    let gateway = Gateway::builder()
        .engine(engine().clone())
        .pool(RemoteClient::connect(options).unwrap())
        .fallback(ModelTier::Pool, ModelTier::Edge)
        .build()
        .unwrap();
    let err = gateway
        .generate(&Identity::generate(), &simple().tier(ModelTier::Pool))
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::RemoteRefused, "{err}");
    assert!(
        matches!(
            err,
            Error::Remote {
                status: Some(401),
                ..
            }
        ),
        "{err}"
    );
    assert!(!err.to_string().contains("wrong-key"), "{err}");
    // The gateway stays usable.
    let envelope = gateway.generate(&Identity::generate(), &simple()).unwrap();
    assert_eq!(route(&envelope)["served"], "edge");
}

#[test]
fn streaming_through_the_gateway_is_the_engines_api() {
    let gateway = Gateway::builder()
        .engine(engine().clone())
        .pool(pool())
        .build()
        .unwrap();
    for tier in [ModelTier::Edge, ModelTier::Pool] {
        let request = simple().tier(tier).max_tokens(12);
        let mut stream = gateway.stream(&request).unwrap();
        let pieces: String = stream.by_ref().collect();
        let served = stream.finish().unwrap();
        assert_eq!(pieces, served.completion().text, "{tier}");
        assert_eq!(served.route().served, tier);
        assert_eq!(served.remote().is_some(), tier == ModelTier::Pool);
        let envelope = gateway
            .sign(&Identity::generate(), &request, &served)
            .unwrap();
        assert_eq!(envelope.payload()["output"], pieces.as_str());
    }

    // Cancelled from another thread: the answer so far, finished as cancelled.
    let cancel = CancelToken::new();
    let c = cancel.clone();
    let on_token: TokenCallback = Box::new(move |_| c.cancel());
    let served = gateway
        .complete_with(
            &simple().tier(ModelTier::Pool).max_tokens(64),
            &cancel,
            Some(on_token),
        )
        .unwrap();
    assert_eq!(served.completion().finish_reason, FinishReason::Cancelled);
}

#[test]
fn no_fallback_once_text_reached_the_caller() {
    let mut server = PoolServer::start();
    let options = RemoteOptions::new(server.url()).vocab_size(VOCAB_SIZE);
    let gateway = Gateway::builder()
        .engine(engine().clone())
        .pool(RemoteClient::connect(options).unwrap())
        .fallback(ModelTier::Pool, ModelTier::Edge)
        .build()
        .unwrap();
    let request = simple().tier(ModelTier::Pool).max_tokens(200);
    let mut stream = gateway.stream(&request).unwrap();
    assert!(stream.next().is_some(), "a first piece");
    server.kill();
    let rest: Vec<String> = stream.by_ref().collect();
    let err = stream.finish().unwrap_err();
    assert_eq!(
        err.kind(),
        ErrorKind::RemoteUnavailable,
        "{err} after {rest:?}"
    );
}

#[test]
fn bad_configurations_are_refused_by_name() {
    let cases = [
        (
            Gateway::builder().fallback(ModelTier::Edge, ModelTier::Edge),
            "to itself",
        ),
        (
            Gateway::builder()
                .fallback(ModelTier::Pool, ModelTier::Edge)
                .fallback(ModelTier::Pool, ModelTier::Local),
            "two fallbacks",
        ),
        (
            Gateway::builder().engine_for(ModelTier::Pool, engine().clone()),
            "remote pools",
        ),
    ];
    for (builder, words) in cases {
        let err = builder.build().unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidInput);
        assert!(err.to_string().contains(words), "{err}");
    }
    // An invalid request is refused before any backend is asked (and not fallen back from).
    let gateway = Gateway::builder()
        .pool(dead_pool())
        .fallback(ModelTier::Pool, ModelTier::Edge)
        .build()
        .unwrap();
    let err = gateway
        .generate(&Identity::generate(), &simple().max_tokens(0))
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
}

/// A shaper with a fixed rule (the node's preferences are one, in bizra-autopoiesis): appends
/// `line` to the system message, declines, or fails; it records the system messages it was given.
struct Shaper {
    rule: Rule,
    given: Mutex<Vec<Option<String>>>,
}

enum Rule {
    Append(&'static str),
    Decline,
    Fail,
}

impl Shaper {
    fn new(rule: Rule) -> Arc<Self> {
        Arc::new(Self {
            rule,
            given: Mutex::new(Vec::new()),
        })
    }

    fn given(&self) -> Vec<Option<String>> {
        self.given.lock().unwrap().clone()
    }
}

impl SystemPromptShaper for Shaper {
    fn shape(&self, system: Option<&str>) -> Result<Option<ShapedPrompt>> {
        self.given.lock().unwrap().push(system.map(str::to_owned));
        match self.rule {
            Rule::Append(line) => Ok(Some(ShapedPrompt {
                system: system.map_or(line.to_owned(), |s| format!("{s}\n{line}")),
                applied: json!({"line": line}),
            })),
            Rule::Decline => Ok(None),
            Rule::Fail => Err(Error::InvalidInput(
                "the shaper cannot read its rules".into(),
            )),
        }
    }
}

const LINE: &str = "Answer in French.";

fn blake3_hex(text: &str) -> String {
    blake3::hash(text.as_bytes()).to_hex().to_string()
}

/// The payload's params without `system_prompt`.
fn params_unshaped(envelope: &Envelope) -> Value {
    let mut params = envelope.payload()["params"].clone();
    params.as_object_mut().unwrap().remove("system_prompt");
    params
}

#[test]
fn a_shaped_system_message_is_served_and_signed_on_every_tier() {
    let shaper = Shaper::new(Rule::Append(LINE));
    let gateway = Gateway::builder()
        .engine(engine().clone())
        .pool(pool())
        .system_prompt(shaper.clone())
        .build()
        .unwrap();
    let id = Identity::generate();
    let shaped_text = format!("You are terse.\n{LINE}");
    let signed = json!({"applied": {"line": LINE}, "blake3": blake3_hex(&shaped_text)});
    for tier in [ModelTier::Edge, ModelTier::Pool] {
        let request = simple().system("You are terse.").seed(7).tier(tier);
        let envelope = gateway.generate(&id, &request).unwrap();
        route(&envelope);
        assert_eq!(
            envelope.payload()["params"]["system_prompt"],
            signed,
            "{tier}"
        );
        // The backend received the shaped message: the prompt signed is that of the same
        // request with the shaped message given by hand, and not that of the request as asked.
        let by_hand = request.clone().system(shaped_text.as_str());
        let (direct, unshaped) = if tier == ModelTier::Pool {
            (
                pool().generate(&id, &by_hand),
                pool().generate(&id, &request),
            )
        } else {
            (
                engine().generate(&id, &by_hand),
                engine().generate(&id, &request),
            )
        };
        let (direct, unshaped) = (direct.unwrap(), unshaped.unwrap());
        assert_eq!(
            envelope.payload()["prompt_blake3"],
            direct.payload()["prompt_blake3"],
            "{tier}"
        );
        assert_ne!(
            envelope.payload()["prompt_blake3"],
            unshaped.payload()["prompt_blake3"],
            "{tier}"
        );
        // Every other parameter is signed as the backend signs it.
        assert_eq!(
            params_unshaped(&envelope),
            direct.payload()["params"],
            "{tier}"
        );
    }

    // A conversation: its leading system message is the one shaped ...
    let turns = [
        ChatMessage::system("You are terse."),
        ChatMessage::user("Name a colour."),
        ChatMessage::assistant("Blue."),
        ChatMessage::user("Another one?"),
    ];
    let conversation = GenerateRequest::messages(turns.clone())
        .greedy()
        .max_tokens(4);
    let envelope = gateway.generate(&id, &conversation).unwrap();
    assert_eq!(envelope.payload()["params"]["system_prompt"], signed);
    let mut by_hand = turns.to_vec();
    by_hand[0] = ChatMessage::system(shaped_text.as_str());
    let direct = engine()
        .generate(
            &id,
            &GenerateRequest::messages(by_hand).greedy().max_tokens(4),
        )
        .unwrap();
    assert_eq!(
        envelope.payload()["prompt_blake3"],
        direct.payload()["prompt_blake3"]
    );

    // ... and one without gets the shaped message first.
    let envelope = gateway
        .generate(
            &id,
            &GenerateRequest::messages(turns[1..].to_vec())
                .greedy()
                .max_tokens(4),
        )
        .unwrap();
    assert_eq!(
        envelope.payload()["params"]["system_prompt"]["blake3"],
        blake3_hex(LINE)
    );
    let with_line = std::iter::once(ChatMessage::system(LINE))
        .chain(turns[1..].iter().cloned())
        .collect::<Vec<_>>();
    let direct = engine()
        .generate(
            &id,
            &GenerateRequest::messages(with_line).greedy().max_tokens(4),
        )
        .unwrap();
    assert_eq!(
        envelope.payload()["prompt_blake3"],
        direct.payload()["prompt_blake3"]
    );

    // A streamed request is shaped too; a raw prompt has no system message and is left alone.
    let mut stream = gateway.stream(&simple()).unwrap();
    let _: String = stream.by_ref().collect();
    let served = stream.finish().unwrap();
    let envelope = gateway.sign(&id, &simple(), &served).unwrap();
    route(&envelope);
    assert_eq!(
        envelope.payload()["params"]["system_prompt"]["blake3"],
        blake3_hex(LINE)
    );
    let raw = GenerateRequest::raw("Hello").greedy().max_tokens(4);
    let envelope = gateway.generate(&id, &raw).unwrap();
    assert!(envelope.payload()["params"].get("system_prompt").is_none());

    // The shaper saw each chat request's own system message (the raw prompt never reached it).
    assert_eq!(
        shaper.given(),
        [
            Some("You are terse."),
            Some("You are terse."),
            Some("You are terse."),
            None,
            None
        ]
        .map(|s| s.map(str::to_owned))
    );
}

#[test]
fn a_declining_shaper_signs_as_before_and_a_failing_one_fails_the_request() {
    let id = Identity::generate();
    let request = simple().system("You are terse.").seed(7);
    let plain = Gateway::builder()
        .engine(engine().clone())
        .build()
        .unwrap()
        .generate(&id, &request)
        .unwrap();
    let declining = Gateway::builder()
        .engine(engine().clone())
        .system_prompt(Shaper::new(Rule::Decline))
        .build()
        .unwrap()
        .generate(&id, &request)
        .unwrap();
    assert_eq!(declining.payload()["params"], plain.payload()["params"]);
    assert!(plain.payload()["params"].get("system_prompt").is_none());
    assert_eq!(
        declining.payload()["prompt_blake3"],
        plain.payload()["prompt_blake3"]
    );

    let err = Gateway::builder()
        .engine(engine().clone())
        .system_prompt(Shaper::new(Rule::Fail))
        .build()
        .unwrap()
        .generate(&id, &request)
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
    assert!(err.to_string().contains("cannot read its rules"), "{err}");
}
