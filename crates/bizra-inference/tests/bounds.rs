//! The engine's request queue is bounded: with the worker held and the queue full, one more
//! request is refused at once with `Error::Busy` (kind `BUSY`), nothing waits without bound, and
//! once the load passes the engine takes requests again. The gateway falls back from a busy tier
//! when it has a rule for it, and records why. A pool client bounds its requests in flight the
//! same way.
//!
//! Real parts: the SmolLM2 test model (`make model`, or BIZRA_TEST_MODEL). The worker is held by
//! a token callback that waits for the test, so the queue is full exactly when the test says.

#[path = "support/held.rs"]
mod held;
#[path = "support/pool_server.rs"]
mod pool_server;

use std::sync::mpsc;
use std::time::Duration;

use bizra_inference::{
    CancelToken, Engine, EngineOptions, FinishReason, Gateway, GenerateRequest, RemoteClient,
    RemoteCompletion, RemoteOptions, TokenCallback, MAX_QUEUED_LIMIT,
};
use bizra_protocol::{Error, ErrorKind, Identity, ModelTier};

fn load(max_queued: u32) -> Engine {
    let options = EngineOptions {
        n_ctx: 512,
        n_threads: Some(1),
        max_queued,
        ..EngineOptions::default()
    };
    Engine::load(pool_server::model(), options).expect("the test model loads")
}

fn short() -> GenerateRequest {
    GenerateRequest::raw("The capital of France is")
        .greedy()
        .max_tokens(4)
}

fn assert_busy(result: Result<impl std::fmt::Debug, Error>, capacity: usize) {
    match result {
        Err(e @ Error::Busy { .. }) => {
            assert_eq!(e.kind(), ErrorKind::Busy);
            assert_eq!(e.kind().name(), "BUSY");
            assert_eq!(e.kind().number(), 507);
            let text = e.to_string();
            assert!(text.contains("engine queue"), "{text}");
            assert!(text.contains(&format!("({capacity} waiting)")), "{text}");
        }
        other => panic!("expected Busy, got {other:?}"),
    }
}

#[test]
fn a_full_queue_refuses_with_busy_and_recovers() {
    let engine = load(2);
    let held = held::hold(&engine, &short());

    // Two wait behind the held one (a stream is queued as soon as it returns): the queue is full.
    let queued = [engine.stream(&short()), engine.stream(&short())]
        .map(|s| s.expect("room for two in the queue"));
    // Every kind of request is refused while it is full, at once.
    let started = std::time::Instant::now();
    assert_busy(engine.complete(&short()), 2);
    assert_busy(engine.stream(&short()).map(|_| ()), 2);
    assert_busy(engine.embed("probe"), 2);
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "a refusal waited"
    );

    // The load passes: every queued request is answered, and the engine takes requests again.
    held.release();
    for s in queued {
        let c = s.finish().expect("a queued request is served");
        assert!(c.completion_tokens > 0);
    }
    let again = engine
        .complete(&short())
        .expect("served once the queue drained");
    assert!(again.completion_tokens > 0);
    assert!(engine.embed("again").is_ok());
}

/// With no queue, a request is refused only while another runs: not in the moment after the
/// engine loads, nor in the moment after a request ends (before the worker waits for the next),
/// so sequential calls issued back to back are all served, and none needs retrying.
#[test]
fn a_queue_of_zero_refuses_only_while_a_request_runs() {
    let engine = load(0);
    for i in 0..100 {
        let served = if i % 2 == 0 {
            engine.embed("cheese").map(|v| assert!(!v.is_empty()))
        } else {
            engine
                .complete(&short().max_tokens(1))
                .map(|c| assert_eq!(c.completion_tokens, 1))
        };
        if let Err(e) = served {
            panic!("call {i}, issued after the previous one returned: {e}");
        }
    }

    let held = held::hold(&engine, &short());
    assert_busy(engine.complete(&short()), 0);
    assert_busy(engine.embed("probe"), 0);
    held.release();
    // The held generation has returned: the engine is idle, and takes the next at once.
    let c = engine
        .complete(&short())
        .expect("served once the other ended");
    assert!(c.completion_tokens > 0);

    // A stream cancelled and finished frees the worker before `finish` returns.
    let mut stream = engine
        .stream(&short().max_tokens(200))
        .expect("the engine is idle");
    assert!(stream.next().is_some(), "no piece came");
    stream.cancel_token().cancel();
    stream.finish().expect("a cancelled stream ends");
    let c = engine
        .complete(&short())
        .expect("served once the stream ended");
    assert!(c.completion_tokens > 0);
}

#[test]
fn max_queued_above_the_limit_is_refused_naming_it() {
    let options = EngineOptions {
        max_queued: MAX_QUEUED_LIMIT + 1,
        ..EngineOptions::default()
    };
    let e = Engine::load(pool_server::model(), options).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput);
    assert!(e.to_string().contains("max_queued"), "{e}");
}

#[test]
fn the_gateway_falls_back_from_a_busy_tier_and_records_why() {
    let local = load(0);
    let edge = load(4);
    let gateway = Gateway::builder()
        .engine_for(ModelTier::Local, local.clone())
        .engine_for(ModelTier::Edge, edge)
        .fallback(ModelTier::Local, ModelTier::Edge)
        .build()
        .unwrap();
    let held = held::hold(&local, &short());
    let id = Identity::generate();
    let envelope = gateway
        .generate(&id, &short().tier(ModelTier::Local))
        .expect("served by the fallback");
    let route = &envelope.payload()["route"];
    assert_eq!(route["served"], "edge", "{route}");
    assert_eq!(route["fallbacks"][0]["cause"], "BUSY", "{route}");
    // Without a rule the busy tier's error reaches the caller as it is.
    let strict = Gateway::builder()
        .engine_for(ModelTier::Local, local)
        .build()
        .unwrap();
    assert_busy(strict.complete(&short().tier(ModelTier::Local)), 0);
    held.release();
}

fn chat() -> GenerateRequest {
    GenerateRequest::chat("Hi.").max_tokens(4)
}

/// A server that accepts and holds every connection, answering nothing: its `/v1` URL.
fn silent_server() -> String {
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/v1", silent.local_addr().unwrap());
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for conn in silent.incoming() {
            held.push(conn);
        }
    });
    url
}

/// Runs `complete_with` on a thread of its own: its result, when it comes.
fn complete_on_a_thread(
    client: &RemoteClient,
    cancel: &CancelToken,
) -> mpsc::Receiver<Result<RemoteCompletion, Error>> {
    let (tx, rx) = mpsc::channel();
    let (client, cancel) = (client.clone(), cancel.clone());
    std::thread::spawn(move || {
        let _ = tx.send(client.complete_with(&chat(), &cancel, None));
    });
    rx
}

/// A pool client runs at most `max_in_flight` requests: against a server that accepts and never
/// answers, the next is refused `Busy` at once; once the running ones are cancelled their slots
/// come back.
#[test]
fn a_pool_client_bounds_its_requests_in_flight() {
    let mut options = RemoteOptions::new(silent_server());
    options.model = Some("m".into());
    options.max_retries = 0;
    options.vocab_size = Some(49_152); // nothing to ask the server before the request
    options.max_in_flight = 2;
    let client = RemoteClient::connect(options).unwrap();
    let running = [client.stream(&chat()), client.stream(&chat())]
        .map(|s| s.expect("room for two in flight"));
    let e = client.stream(&chat()).map(|_| ()).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Busy, "{e}");
    assert!(matches!(e, Error::RunningLimit { limit: 2, .. }), "{e:?}");
    let text = e.to_string();
    assert!(
        text.contains("requests in flight to pool http://127.0.0.1:"),
        "{text}"
    );
    assert!(text.contains("(2 running)"), "{text}");

    // A request ended (cancelled, then finished) has given its slot back before `finish`
    // returns: the next is taken at once.
    for s in running {
        s.cancel_token().cancel();
        let ended = s
            .finish()
            .expect("a cancelled request ends with its completion");
        assert_eq!(ended.completion.finish_reason, FinishReason::Cancelled);
    }
    let again = [client.stream(&chat()), client.stream(&chat())]
        .map(|s| s.expect("both slots are free again"));
    drop(again);

    let mut zero = RemoteOptions::new("http://127.0.0.1:9/v1");
    zero.max_in_flight = 0;
    let e = RemoteClient::connect(zero).unwrap_err();
    assert!(e.to_string().contains("max_in_flight"), "{e}");
}

/// A pool client that must first learn the model or its vocabulary from `GET /v1/models` still
/// ends a request at once when it is cancelled while the server does not answer that, as
/// cancelling always does (with `FinishReason::Cancelled`), and gives its slot back before it
/// answers: with one slot, the very next request is taken.
#[test]
fn a_pool_request_cancelled_while_asking_for_the_models_ends_and_frees_its_slot() {
    // Without a model it needs the list for the model; with one, for the vocabulary only.
    for model in [None, Some("m")] {
        let mut options = RemoteOptions::new(silent_server());
        options.model = model.map(str::to_owned);
        options.vocab_size = None;
        options.max_retries = 0;
        options.max_in_flight = 1;
        let client = RemoteClient::connect(options).unwrap();
        let cancel = CancelToken::new();
        let done = complete_on_a_thread(&client, &cancel);
        std::thread::sleep(Duration::from_millis(200));
        // It is waiting for the server, in the only slot.
        let e = client.complete(&chat()).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Busy, "model {model:?}: {e}");

        cancel.cancel();
        let ended = done
            .recv_timeout(Duration::from_secs(5))
            .unwrap_or_else(|_| panic!("model {model:?}: still running 5 s after its cancel"));
        let c = ended.unwrap_or_else(|e| panic!("model {model:?}: {e}"));
        assert_eq!(c.completion.finish_reason, FinishReason::Cancelled);
        assert!(c.completion.text.is_empty(), "{:?}", c.completion.text);
        assert_eq!(c.completion.completion_tokens, 0);

        let next = client.stream(&chat());
        assert!(next.is_ok(), "model {model:?}: the slot is still taken");
    }
}

/// A request waiting while another asks the server for the models (which the client does once
/// for all its requests) ends when it is cancelled as well, and leaves the other waiting.
#[test]
fn a_pool_request_cancelled_while_another_asks_for_the_models_ends() {
    let mut options = RemoteOptions::new(silent_server());
    options.max_retries = 0;
    let client = RemoteClient::connect(options).unwrap();
    let (first, second) = (CancelToken::new(), CancelToken::new());
    let first_done = complete_on_a_thread(&client, &first);
    std::thread::sleep(Duration::from_millis(200));
    let second_done = complete_on_a_thread(&client, &second);
    std::thread::sleep(Duration::from_millis(200));

    second.cancel();
    let c = second_done
        .recv_timeout(Duration::from_secs(5))
        .expect("the second is still running 5 s after its cancel")
        .expect("a cancelled request ends with its completion");
    assert_eq!(c.completion.finish_reason, FinishReason::Cancelled);
    assert!(
        first_done.try_recv().is_err(),
        "the first ended with the second's cancel"
    );

    first.cancel();
    let c = first_done
        .recv_timeout(Duration::from_secs(5))
        .expect("the first is still running 5 s after its cancel")
        .expect("a cancelled request ends with its completion");
    assert_eq!(c.completion.finish_reason, FinishReason::Cancelled);
}

/// A server that never answers `GET /v1/models` fails a request that needs it by the client's
/// read timeout, with an error that names the request, rather than holding it for ever.
#[test]
fn a_pool_server_that_never_lists_its_models_fails_by_the_read_timeout() {
    let mut options = RemoteOptions::new(silent_server());
    options.read_timeout = Duration::from_millis(300);
    options.max_retries = 0;
    options.max_in_flight = 1;
    let client = RemoteClient::connect(options).unwrap();
    let done = complete_on_a_thread(&client, &CancelToken::new());
    let e = done
        .recv_timeout(Duration::from_secs(10))
        .expect("still running 10 s after a read timeout of 300 ms")
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::RemoteUnavailable, "{e}");
    let text = e.to_string();
    assert!(text.contains("GET http://127.0.0.1:"), "{text}");
    assert!(text.contains("/v1/models"), "{text}");
    assert!(text.contains("read timeout"), "{text}");
    // Its slot came back with the error.
    assert!(client.stream(&chat()).is_ok(), "the slot is still taken");
}
