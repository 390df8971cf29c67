//! Chat-template fidelity: the embedded engine renders a chat request as llama-cpp-python renders
//! it (the GGUF's own `tokenizer.chat_template`, run as Jinja), tokenises it to as many tokens,
//! and, greedy, answers what llama-cpp-python's server answers on the same GGUF.
//!
//! The references are llama-cpp-python's own code, not ours: its `Jinja2ChatFormatter` and
//! `Llama.tokenize` run in its venv (`$BIZRA_POOL_PYTHON -c ...`) for the rendering and the
//! tokens, and its server (`scripts/pool_server.py`, see `support/pool_server.rs`) for the output,
//! asked over a raw socket with every sampling default of the server turned off.
//!
//! Needs `make pool-server` (BIZRA_POOL_PYTHON) and `make model`: without them the tests fail,
//! saying so; they never skip.

#[path = "support/pool_server.rs"]
mod pool_server;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

use bizra_inference::{
    ChatMessage, ChatRole, ChatTemplateUse, Completion, Engine, EngineOptions, GenerateRequest,
    Prompt, RemoteClient, RemoteOptions,
};
use bizra_protocol::{Error, Identity};
use pool_server::{PoolServer, VOCAB_SIZE};
use serde_json::{json, Value};

/// The server's context (pool_server.py's default) and batch (llama-cpp-python's default).
const N_CTX: u32 = 2048;
const N_BATCH: u32 = 512;
const SEED: u32 = 11;
const MAX_TOKENS: u32 = 32;

/// SmolLM2's default system line, which its template adds when the caller gives no system
/// message (and llama.cpp's built-in ChatML writer does not).
const DEFAULT_SYSTEM: &str = "You are a helpful AI assistant named SmolLM, trained by Hugging Face";

/// The message shapes compared.
fn conversations() -> Vec<(&'static str, GenerateRequest)> {
    vec![
        (
            "user only",
            GenerateRequest::chat("What is the capital of France? Answer in one word."),
        ),
        (
            "system + user",
            GenerateRequest::chat("Name three colours.")
                .system("You are a terse assistant. Answer with a list."),
        ),
        (
            "multi-turn with an assistant turn",
            GenerateRequest::messages([
                ChatMessage::user("My name is Ada. Remember it."),
                ChatMessage::assistant("Nice to meet you, Ada! I will remember your name."),
                ChatMessage::user("What is my name?"),
            ]),
        ),
        (
            "system, multi-turn",
            GenerateRequest::messages([
                ChatMessage::system("You answer in French."),
                ChatMessage::user("Hello!"),
                ChatMessage::assistant("Bonjour !"),
                ChatMessage::user("How are you?"),
            ]),
        ),
    ]
}

/// The messages of a chat request as the OpenAI API (and llama-cpp-python) takes them.
fn messages_json(request: &GenerateRequest) -> Value {
    let messages = request.prompt.chat_messages().expect("a chat request");
    Value::Array(
        messages
            .iter()
            .map(|m| json!({"role": m.role.as_str(), "content": m.content}))
            .collect(),
    )
}

fn greedy(request: &GenerateRequest) -> GenerateRequest {
    request.clone().greedy().seed(SEED).max_tokens(MAX_TOKENS)
}

fn load(path: &Path) -> Engine {
    let opts = EngineOptions {
        n_ctx: N_CTX,
        n_batch: N_BATCH,
        n_threads: Some(2),
        ..EngineOptions::default()
    };
    Engine::load(path, opts).unwrap_or_else(|e| panic!("loading {}: {e}", path.display()))
}

/// One engine on the test model for the whole binary (tests on parallel threads share it).
fn engine() -> &'static Engine {
    static ENGINE: OnceLock<Engine> = OnceLock::new();
    ENGINE.get_or_init(|| load(&pool_server::model()))
}

/// What llama-cpp-python makes of each conversation, by its own code: the chat format its `Llama`
/// picks for the model (the GGUF's template: `chat_template.default`), the prompt its
/// `Jinja2ChatFormatter` renders from the GGUF's template with the token texts `Llama` gives it,
/// and the tokens `Llama.tokenize` gives that prompt as its chat handler calls it (a BOS only if
/// the formatter did not write the special tokens itself; special tokens parsed).
const REFERENCE: &str = r#"
import json, sys
from llama_cpp import Llama
from llama_cpp.llama_chat_format import Jinja2ChatFormatter
req = json.load(sys.stdin)
llm = Llama(model_path=req["model"], vocab_only=True, verbose=False)
def text(t):
    return llm._model.token_get_text(t) if t != -1 else ""
fmt = Jinja2ChatFormatter(
    template=llm.metadata["tokenizer.chat_template"],
    eos_token=text(llm.token_eos()),
    bos_token=text(llm.token_bos()),
    stop_token_ids=[llm.token_eos()],
)
out = []
for messages in req["conversations"]:
    r = fmt(messages=messages)
    tokens = llm.tokenize(r.prompt.encode("utf-8"), add_bos=not r.added_special, special=True)
    out.append({"prompt": r.prompt, "tokens": tokens})
json.dump({"chat_format": llm.chat_format, "rendered": out}, sys.stdout)
"#;

/// Runs [`REFERENCE`] in the pool server's venv.
fn reference(conversations: &[Value]) -> Value {
    let python = pool_server::python();
    let input = json!({
        "model": pool_server::model(),
        "conversations": conversations,
    });
    let mut child = Command::new(&python)
        .arg("-c")
        .arg(REFERENCE)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| {
            panic!(
                "cannot run {}: {e} (run `make pool-server`)",
                python.display()
            )
        });
    child
        .stdin
        .take()
        .expect("piped stdin")
        .write_all(input.to_string().as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "llama-cpp-python's renderer failed ({}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "llama-cpp-python's renderer printed no JSON ({e}): {}",
            String::from_utf8_lossy(&out.stdout)
        )
    })
}

/// `POST /v1/chat/completions` over a raw socket (HTTP/1.1, `Connection: close`): the status and
/// the JSON body.
fn post(server: &PoolServer, body: &Value) -> (u16, Value) {
    let body = body.to_string();
    let mut conn = TcpStream::connect(server.addr()).unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(120)))
        .unwrap();
    write!(
        conn,
        "POST /v1/chat/completions HTTP/1.1\r\nhost: {}\r\ncontent-type: application/json\r\n\
         content-length: {}\r\nconnection: close\r\n\r\n{body}",
        server.addr(),
        body.len()
    )
    .unwrap();
    let mut raw = Vec::new();
    conn.read_to_end(&mut raw).unwrap();
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("an HTTP response");
    let head = String::from_utf8_lossy(&raw[..split]).to_ascii_lowercase();
    let mut body = raw[split + 4..].to_vec();
    if head.contains("transfer-encoding: chunked") {
        body = dechunk(&body);
    }
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("a status");
    let json = serde_json::from_slice(&body)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&body)));
    (status, json)
}

/// The body of a chunked HTTP/1.1 response.
fn dechunk(mut rest: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let eol = rest
            .windows(2)
            .position(|w| w == b"\r\n")
            .expect("chunk size");
        let size_line = String::from_utf8_lossy(&rest[..eol]);
        let size = usize::from_str_radix(size_line.split(';').next().unwrap_or("").trim(), 16)
            .expect("a hex chunk size");
        if size == 0 {
            return out;
        }
        out.extend_from_slice(&rest[eol + 2..eol + 2 + size]);
        rest = &rest[eol + 2 + size + 2..];
    }
}

#[test]
fn prompts_render_and_count_as_llama_cpp_python_renders_them() {
    let cases = conversations();
    let sent: Vec<Value> = cases.iter().map(|(_, r)| messages_json(r)).collect();
    let reference = reference(&sent);
    assert_eq!(
        reference["chat_format"], "chat_template.default",
        "llama-cpp-python does not use the GGUF's own template for this model: {reference}"
    );
    for ((shape, request), want) in cases.iter().zip(reference["rendered"].as_array().unwrap()) {
        let c = engine()
            .complete(&request.clone().greedy().max_tokens(1))
            .unwrap();
        let prompt = want["prompt"].as_str().unwrap();
        let tokens = want["tokens"].as_array().unwrap().len();
        assert_eq!(
            c.rendered_prompt, prompt,
            "{shape}: the rendered prompts differ"
        );
        assert_eq!(
            c.prompt_tokens as usize, tokens,
            "{shape}: {} prompt tokens here, {tokens} in llama-cpp-python",
            c.prompt_tokens
        );
        assert_eq!(c.chat_template, Some(ChatTemplateUse::Gguf), "{shape}");
        // SmolLM2's template adds its default system line exactly when no system message is given.
        let has_system = request
            .prompt
            .chat_messages()
            .unwrap()
            .iter()
            .any(|m| m.role == ChatRole::System);
        assert_eq!(
            c.rendered_prompt.contains(DEFAULT_SYSTEM),
            !has_system,
            "{shape}"
        );
        eprintln!("{shape}: {} prompt tokens", c.prompt_tokens);
    }
}

#[test]
fn greedy_output_equals_the_pool_servers() {
    // Flash attention as the engine runs it: llama.cpp's default (auto) turns it on on the CPU,
    // llama-cpp-python's off; both are right, and round differently enough to change a near tie
    // ("system + user" answers differently with it off).
    let server = PoolServer::start_with(&["--n-threads", "2", "--flash-attn", "true"]);
    let client =
        RemoteClient::connect(RemoteOptions::new(server.url()).vocab_size(VOCAB_SIZE)).unwrap();
    for (shape, request) in conversations() {
        let request = greedy(&request);
        let ours = engine().complete(&request).unwrap();
        // Everything the server would add turned off: its repeat penalty (1.1), top-k (40),
        // min-p (0.05) and top-p; temperature 0 is greedy in llama-cpp-python too.
        let body = json!({
            "model": server.model_id(),
            "messages": messages_json(&request),
            "temperature": 0.0,
            "top_p": 1.0,
            "top_k": 0,
            "min_p": 0.0,
            "repeat_penalty": 1.0,
            "presence_penalty": 0.0,
            "frequency_penalty": 0.0,
            "seed": SEED,
            "max_tokens": MAX_TOKENS,
            "stream": false,
        });
        let (status, theirs) = post(&server, &body);
        assert_eq!(status, 200, "{shape}: {theirs}");
        assert_eq!(
            theirs["usage"]["prompt_tokens"],
            json!(ours.prompt_tokens),
            "{shape}: prompt tokens (ours {}, the server's {})",
            ours.prompt_tokens,
            theirs["usage"]["prompt_tokens"]
        );
        let text = theirs["choices"][0]["message"]["content"].as_str().unwrap();
        assert!(!ours.text.trim().is_empty(), "{shape}: no output");
        assert_eq!(ours.text, text, "{shape}: greedy outputs differ");
        assert_eq!(
            theirs["choices"][0]["finish_reason"],
            if ours.finish_reason.is_natural() {
                "stop"
            } else {
                "length"
            },
            "{shape}: finish reasons"
        );

        // Our remote client sends the same conversation: the server counts as many prompt tokens.
        let remote = client.complete(&request).unwrap();
        assert_eq!(
            remote.completion.prompt_tokens, ours.prompt_tokens,
            "{shape}: the remote client's request"
        );
    }
}

/// A copy of the test model whose chat template calls a filter nobody has; same length, so the
/// file's layout is unchanged. llama.cpp's matcher still recognises ChatML in it.
fn model_with_unrenderable_template() -> PathBuf {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| {
        let mut bytes = std::fs::read(pool_server::model()).unwrap();
        let (from, to) = (b"if add_generation_prompt", b"if x|no_such_filter_abcd");
        assert_eq!(from.len(), to.len());
        let at = bytes
            .windows(from.len())
            .position(|w| w == from)
            .expect("the template's generation prompt test");
        bytes[at..at + to.len()].copy_from_slice(to);
        let path = std::env::temp_dir().join(format!(
            "bizra-chat-template-{}-unrenderable.gguf",
            std::process::id()
        ));
        std::fs::write(&path, bytes).unwrap();
        path
    })
    .clone()
}

#[test]
fn a_template_that_cannot_be_rendered_falls_back_to_llama_cpp_and_says_why() {
    let path = model_with_unrenderable_template();
    let fallback = load(&path);
    let _ = std::fs::remove_file(&path); // mapped: the engine keeps it until dropped
    let request = GenerateRequest::chat("What is the capital of France? Answer in one word.")
        .greedy()
        .max_tokens(1);
    let before = fallback.complete(&request).unwrap();
    let after = engine().complete(&request).unwrap();
    match &before.chat_template {
        Some(ChatTemplateUse::LlamaCpp { reason }) => {
            assert!(reason.contains("no_such_filter_abcd"), "{reason}")
        }
        other => panic!("{other:?}"),
    }
    // llama.cpp's ChatML writer: no default system line, hence fewer tokens.
    assert_eq!(
        before.rendered_prompt,
        "<|im_start|>user\nWhat is the capital of France? Answer in one word.<|im_end|>\n\
         <|im_start|>assistant\n"
    );
    assert!(!before.rendered_prompt.contains(DEFAULT_SYSTEM));
    assert!(after.rendered_prompt.contains(DEFAULT_SYSTEM));
    assert!(before.prompt_tokens < after.prompt_tokens);
    eprintln!(
        "one user message: {} prompt tokens with llama.cpp's matcher, {} with the GGUF's template",
        before.prompt_tokens, after.prompt_tokens
    );

    let id = Identity::generate();
    let env = fallback.sign(&id, &request, &before).unwrap();
    let record = &env.payload()["chat_template"];
    assert_eq!(record["source"], "llama.cpp", "{record}");
    assert!(record["reason"]
        .as_str()
        .is_some_and(|r| r.contains("no_such_filter_abcd")));
}

#[test]
fn the_payload_records_which_template_made_the_prompt() {
    let id = Identity::generate();
    let chat = greedy(&GenerateRequest::chat("Say hello.")).max_tokens(4);
    let env = engine().generate(&id, &chat).unwrap();
    assert_eq!(env.payload()["chat_template"], json!({"source": "gguf"}));

    let raw =
        GenerateRequest::raw("<|im_start|>user\nSay hello.<|im_end|>\n<|im_start|>assistant\n")
            .greedy()
            .max_tokens(4);
    let c: Completion = engine().complete(&raw).unwrap();
    assert_eq!(c.chat_template, None);
    let env = engine().sign(&id, &raw, &c).unwrap();
    assert_eq!(env.payload()["chat_template"], Value::Null);
    // The raw prompt is taken as is.
    assert!(!c.rendered_prompt.contains(DEFAULT_SYSTEM));
}

#[test]
fn conversations_are_validated_and_tiered_by_their_last_user_message() {
    assert_eq!(
        "assistant".parse::<ChatRole>().unwrap(),
        ChatRole::Assistant
    );
    for bad in ["tool", "System", "", "developer"] {
        assert!(
            matches!(bad.parse::<ChatRole>(), Err(Error::InvalidInput(_))),
            "{bad:?}"
        );
        assert!(ChatMessage::parse(bad, "x").is_err());
    }
    assert_eq!(
        ChatMessage::parse("user", "x").unwrap(),
        ChatMessage::user("x")
    );

    let empty = GenerateRequest::messages(Vec::new());
    match engine().complete(&empty) {
        Err(Error::InvalidInput(why)) => assert!(why.contains("at least one message"), "{why}"),
        other => panic!("{other:?}"),
    }

    let convo = GenerateRequest::messages([
        ChatMessage::user("first question"),
        ChatMessage::assistant("an answer"),
        ChatMessage::user("second question"),
        ChatMessage::assistant("a partial answer"),
    ]);
    assert_eq!(convo.prompt_text(), "second question");
    let only_system = GenerateRequest::messages([ChatMessage::system("rules")]);
    assert_eq!(only_system.prompt_text(), "rules");

    // `system` replaces a conversation's leading system message, or puts one first.
    let with = convo.clone().system("be kind");
    let Prompt::Messages(m) = &with.prompt else {
        panic!("{:?}", with.prompt)
    };
    assert_eq!(m[0], ChatMessage::system("be kind"));
    assert_eq!(m.len(), 5);
    let replaced = with.clone().system("be brief");
    let Prompt::Messages(m) = &replaced.prompt else {
        panic!("{:?}", replaced.prompt)
    };
    assert_eq!(m[0], ChatMessage::system("be brief"));
    assert_eq!(m.len(), 5);

    // A Chat request is the conversation [system?, user].
    let chat = GenerateRequest::chat("hi").system("sys");
    assert_eq!(
        chat.prompt.chat_messages().unwrap(),
        vec![ChatMessage::system("sys"), ChatMessage::user("hi")]
    );
    let same = GenerateRequest::messages([ChatMessage::system("sys"), ChatMessage::user("hi")]);
    let (a, b) = (
        engine().complete(&chat.greedy().max_tokens(1)).unwrap(),
        engine().complete(&same.greedy().max_tokens(1)).unwrap(),
    );
    assert_eq!(a.rendered_prompt, b.rendered_prompt);
    assert_eq!(a.prompt_tokens, b.prompt_tokens);
}
