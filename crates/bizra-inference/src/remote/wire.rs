//! The OpenAI-compatible wire format: the chat request bizra sends, and what it reads from the
//! responses (whole, or chunk by chunk when streamed). Only the members bizra uses are read;
//! unknown members are ignored, as every client of this API does.

use serde_json::{json, Map, Value};

use crate::scoring::TokenStats;
use crate::{GenerateRequest, Prompt};

/// The `messages` of a request: the optional system message, then the user's; or a
/// conversation's turns in order.
pub(crate) fn messages(request: &GenerateRequest) -> Result<Value, String> {
    match &request.prompt {
        Prompt::Raw(_) => Err(
            "a remote pool serves chat requests only (the server applies the model's chat \
             template); send a chat request"
                .into(),
        ),
        chat => Ok(Value::Array(
            chat.chat_messages()
                .unwrap_or_default()
                .iter()
                .map(|m| json!({"role": m.role.as_str(), "content": m.content}))
                .collect(),
        )),
    }
}

/// The sampling parameters sent, as recorded in the payload: only those of the OpenAI API
/// (temperature, top_p, seed, max_tokens, stop); the server's defaults rule the others.
pub(crate) fn params(request: &GenerateRequest, seed: u32) -> Value {
    json!({
        "temperature": f64::from(request.sampling.temperature),
        "top_p": f64::from(request.sampling.top_p),
        "seed": seed,
        "max_tokens": request.max_tokens,
        "stop": request.stop,
    })
}

/// The body of `POST /v1/chat/completions`.
pub(crate) fn chat_body(
    model: &str,
    messages: &Value,
    params: &Value,
    top_logprobs: u8,
    stream: bool,
) -> Value {
    let mut body = Map::new();
    body.insert("model".into(), json!(model));
    body.insert("messages".into(), messages.clone());
    if let Value::Object(p) = params {
        body.extend(p.iter().map(|(k, v)| (k.clone(), v.clone())));
    }
    if top_logprobs > 0 {
        body.insert("logprobs".into(), json!(true));
        body.insert("top_logprobs".into(), json!(top_logprobs));
    }
    body.insert("stream".into(), json!(stream));
    if stream {
        // Token counts in a last chunk (servers that do not know the option ignore it).
        body.insert("stream_options".into(), json!({"include_usage": true}));
    }
    Value::Object(body)
}

/// What a response (or the chunks of a streamed one) said, gathered.
#[derive(Debug, Default)]
pub(crate) struct Reply {
    /// The generated text.
    pub text: String,
    /// `model`, as the server reports it.
    pub model: Option<String>,
    /// `finish_reason`, as the server reports it.
    pub finish_reason: Option<String>,
    /// `usage.prompt_tokens`.
    pub prompt_tokens: Option<u64>,
    /// `usage.completion_tokens`.
    pub completion_tokens: Option<u64>,
    /// Generated tokens that came with log-probabilities.
    pub logprob_tokens: u64,
    /// Chunks that carried text (streamed responses).
    pub content_chunks: u64,
    /// `timings`, where the server reports them (llama.cpp's server does).
    pub server_timings: Option<Value>,
    /// Statistics of the reported token probabilities.
    pub stats: TokenStats,
}

impl Reply {
    /// Reads a whole (non-streamed) response.
    pub(crate) fn read_response(&mut self, v: &Value, vocab: Option<u64>) -> Result<(), String> {
        self.read_common(v)?;
        let choice = first_choice(v).ok_or("the response has no choices")?;
        let content = choice
            .get("message")
            .and_then(|m| m.get("content"))
            .and_then(Value::as_str)
            .unwrap_or_default();
        self.text.push_str(content);
        self.read_choice(choice, vocab);
        Ok(())
    }

    /// Reads one chunk of a streamed response; returns the text it adds.
    pub(crate) fn read_chunk(&mut self, v: &Value, vocab: Option<u64>) -> Result<String, String> {
        self.read_common(v)?;
        let Some(choice) = first_choice(v) else {
            // The usage chunk (no choices), or a keep-alive.
            return Ok(String::new());
        };
        let piece = choice
            .get("delta")
            .and_then(|d| d.get("content"))
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        if !piece.is_empty() {
            self.content_chunks += 1;
            self.text.push_str(&piece);
        }
        self.read_choice(choice, vocab);
        Ok(piece)
    }

    fn read_common(&mut self, v: &Value) -> Result<(), String> {
        if !v.is_object() {
            return Err("a response is not a JSON object".into());
        }
        if let Some(e) = v.get("error") {
            return Err(format!(
                "the server reported an error: {}",
                error_message(e)
            ));
        }
        if let Some(m) = v.get("model").and_then(Value::as_str) {
            self.model = Some(m.to_owned());
        }
        if let Some(u) = v.get("usage").filter(|u| u.is_object()) {
            self.prompt_tokens = u.get("prompt_tokens").and_then(Value::as_u64);
            self.completion_tokens = u.get("completion_tokens").and_then(Value::as_u64);
        }
        if let Some(t) = v.get("timings").filter(|t| t.is_object()) {
            self.server_timings = Some(t.clone());
        }
        Ok(())
    }

    fn read_choice(&mut self, choice: &Value, vocab: Option<u64>) {
        if let Some(f) = choice.get("finish_reason").and_then(Value::as_str) {
            self.finish_reason = Some(f.to_owned());
        }
        let tokens = choice
            .get("logprobs")
            .and_then(|l| l.get("content"))
            .and_then(Value::as_array);
        for t in tokens.into_iter().flatten() {
            let Some(chosen) = t.get("logprob").and_then(Value::as_f64) else {
                continue;
            };
            self.logprob_tokens += 1;
            let Some(vocab) = vocab else { continue };
            let token = t.get("token").and_then(Value::as_str);
            let mut known = vec![chosen];
            let mut listed_chosen = false;
            for alt in t
                .get("top_logprobs")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                let Some(lp) = alt.get("logprob").and_then(Value::as_f64) else {
                    continue;
                };
                // The chosen token is usually among the alternatives: count it once.
                if !listed_chosen
                    && token.is_some()
                    && alt.get("token").and_then(Value::as_str) == token
                {
                    listed_chosen = true;
                    continue;
                }
                known.push(lp);
            }
            self.stats.observe_top_logprobs(chosen, &known, vocab);
        }
    }
}

fn first_choice(v: &Value) -> Option<&Value> {
    v.get("choices")?.as_array()?.first()
}

/// The message of an OpenAI error object (`{"error": {"message": ...}}` or a plain string).
pub(crate) fn error_message(e: &Value) -> String {
    let text = match e {
        Value::String(s) => s.clone(),
        Value::Object(o) => o
            .get("message")
            .and_then(Value::as_str)
            .map_or_else(|| e.to_string(), str::to_owned),
        other => other.to_string(),
    };
    text.chars().take(500).collect()
}

/// The `id`s of a `GET /v1/models` response, and each entry whole.
pub(crate) fn model_entries(v: &Value) -> Result<Vec<(String, Value)>, String> {
    let data = v
        .get("data")
        .and_then(Value::as_array)
        .ok_or("the model list has no `data` array")?;
    Ok(data
        .iter()
        .filter_map(|m| Some((m.get("id")?.as_str()?.to_owned(), m.clone())))
        .collect())
}

/// The vocabulary size a model entry reports (llama.cpp's server: `meta.n_vocab`).
pub(crate) fn entry_vocab(entry: &Value) -> Option<u64> {
    entry.get("meta")?.get("n_vocab")?.as_u64()
}

/// The first embedding of a `POST /v1/embeddings` response.
pub(crate) fn embedding(v: &Value) -> Result<Vec<f32>, String> {
    if let Some(e) = v.get("error") {
        return Err(format!(
            "the server reported an error: {}",
            error_message(e)
        ));
    }
    let values = v
        .get("data")
        .and_then(Value::as_array)
        .and_then(|d| d.first())
        .and_then(|d| d.get("embedding"))
        .and_then(Value::as_array)
        .ok_or("the response has no `data[0].embedding` array")?;
    values
        .iter()
        .map(|x| {
            x.as_f64()
                .map(|f| f as f32)
                .ok_or_else(|| "an embedding value is not a number".to_owned())
        })
        .collect()
}
