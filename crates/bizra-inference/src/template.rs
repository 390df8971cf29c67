//! The model's own chat template (GGUF `tokenizer.chat_template`, a Hugging Face Jinja template),
//! rendered as llama-cpp-python and transformers render it.
//!
//! Why not llama.cpp's `llama_chat_apply_template`: it does not run the template; it guesses which
//! of the formats it knows the text looks like and writes that format. The guess loses whatever
//! the template does beyond the format: SmolLM2's template adds a default system line when the
//! caller gives none, llama.cpp's ChatML writer does not, so the same request was 21 tokens
//! shorter in the embedded engine than in llama-cpp-python's server on the same GGUF, and the
//! model answered differently. Running the template itself (minijinja, with the environment
//! llama-cpp-python's `Jinja2ChatFormatter` sets up) gives the prompt the model was trained on
//! and the one a pool server sends it. llama.cpp's matcher stays as the fallback for templates
//! this cannot render, and the payload records which of the two made the prompt
//! ([`ChatTemplateUse`]).

use std::fmt::Write as _;

use minijinja::syntax::SyntaxConfig;
use minijinja::value::{Kwargs, ValueKind};
use minijinja::{Environment, Error as JinjaError, ErrorKind, Value};
use serde_json::{json, Value as Json};

use crate::ChatMessage;

/// The name the template is stored under in its environment.
const NAME: &str = "tokenizer.chat_template";

/// Which template made a chat prompt: the model's own, or llama.cpp's built-in matcher (and why).
/// Recorded in the signed payload as `chat_template`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum ChatTemplateUse {
    /// The GGUF's `tokenizer.chat_template`, rendered as llama-cpp-python renders it.
    Gguf,
    /// llama.cpp's built-in matcher (`llama_chat_apply_template`), because the model's template
    /// could not be rendered.
    LlamaCpp {
        /// Why the model's template was not used.
        reason: String,
    },
}

impl ChatTemplateUse {
    /// `{"source": "gguf"}` or `{"source": "llama.cpp", "reason": ...}`.
    pub fn to_json(&self) -> Json {
        match self {
            ChatTemplateUse::Gguf => json!({"source": "gguf"}),
            ChatTemplateUse::LlamaCpp { reason } => {
                json!({"source": "llama.cpp", "reason": reason})
            }
        }
    }
}

/// Why a template gave no prompt.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum RenderError {
    /// The template called `raise_exception`: it refuses these messages (for example roles that do
    /// not alternate). llama-cpp-python fails such a request too; no other template is tried.
    Refused(String),
    /// The template uses something this renderer lacks (an unknown filter, function or tag...):
    /// the engine falls back to llama.cpp's matcher.
    Unrenderable(String),
}

/// What `raise_exception` raised, carried through minijinja's error as its source.
#[derive(Debug)]
struct Raised(String);

impl std::fmt::Display for Raised {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Raised {}

/// A model's chat template, compiled once, with the special tokens it may name.
pub(crate) struct ChatTemplate {
    env: Environment<'static>,
    bos_token: String,
    eos_token: String,
}

impl std::fmt::Debug for ChatTemplate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChatTemplate")
            .field("bos_token", &self.bos_token)
            .field("eos_token", &self.eos_token)
            .finish_non_exhaustive()
    }
}

impl ChatTemplate {
    /// Compiles `source` in the environment llama-cpp-python's `Jinja2ChatFormatter` uses:
    /// `trim_blocks` and `lstrip_blocks` on, loop controls (`break`, `continue`), a trailing
    /// newline of the template dropped (Jinja's default), no autoescaping, Python's string and
    /// dict methods, and `tojson` as Python's `json.dumps` writes (`ensure_ascii=False`).
    /// `bos_token` and `eos_token` are the texts of the vocabulary's BOS and EOS tokens ("" when
    /// it has none), as llama-cpp-python passes them. Fails with the reason when the template
    /// does not compile.
    pub(crate) fn new(source: &str, bos_token: &str, eos_token: &str) -> Result<Self, String> {
        let mut env = Environment::new();
        let syntax = SyntaxConfig::builder()
            .trim_blocks(true)
            .lstrip_blocks(true)
            .build()
            .map_err(|e| e.to_string())?;
        env.set_syntax(syntax);
        env.set_unknown_method_callback(minijinja_contrib::pycompat::unknown_method_callback);
        env.add_filter("tojson", tojson);
        env.add_function("raise_exception", raise_exception);
        env.add_template_owned(NAME, source.to_owned())
            .map_err(|e| describe(&e))?;
        Ok(Self {
            env,
            bos_token: bos_token.to_owned(),
            eos_token: eos_token.to_owned(),
        })
    }

    /// Renders `messages` (each a `{"role", "content"}` mapping) with the variables
    /// llama-cpp-python gives a template: `add_generation_prompt`, `bos_token`, `eos_token`,
    /// `raise_exception`, and `tools`, `tool_choice`, `functions`, `function_call` all `none`
    /// (defined, so `tools is not none` is false as there).
    pub(crate) fn render(
        &self,
        messages: &[ChatMessage],
        add_generation_prompt: bool,
    ) -> Result<String, RenderError> {
        let messages: Value = messages
            .iter()
            .map(|m| {
                Value::from_pairs([
                    ("role", Value::from(m.role.as_str())),
                    ("content", Value::from(m.content.as_str())),
                ])
            })
            .collect();
        let ctx = Value::from_pairs([
            ("messages", messages),
            ("add_generation_prompt", Value::from(add_generation_prompt)),
            ("bos_token", Value::from(self.bos_token.as_str())),
            ("eos_token", Value::from(self.eos_token.as_str())),
            ("tools", Value::from(())),
            ("tool_choice", Value::from(())),
            ("functions", Value::from(())),
            ("function_call", Value::from(())),
        ]);
        let template = self
            .env
            .get_template(NAME)
            .map_err(|e| RenderError::Unrenderable(describe(&e)))?;
        template.render(ctx).map_err(|e| match raised(&e) {
            Some(message) => RenderError::Refused(message),
            None => RenderError::Unrenderable(describe(&e)),
        })
    }
}

/// The template's `raise_exception(message)`: fails the render with the template's message.
fn raise_exception(message: String) -> Result<Value, JinjaError> {
    Err(JinjaError::new(ErrorKind::InvalidOperation, message.clone()).with_source(Raised(message)))
}

/// The message of a `raise_exception` somewhere in `e`'s chain of sources.
fn raised(e: &JinjaError) -> Option<String> {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(s) = source {
        if let Some(r) = s.downcast_ref::<Raised>() {
            return Some(r.0.clone());
        }
        source = s.source();
    }
    None
}

/// One line for a payload: the error's kind and detail, and where in the template.
fn describe(e: &JinjaError) -> String {
    let mut s = e.kind().to_string();
    if let Some(d) = e.detail() {
        let _ = write!(s, ": {d}");
    }
    if let Some(line) = e.line() {
        let _ = write!(s, " (line {line})");
    }
    s
}

/// `tojson` as transformers and llama-cpp-python define it: Python's `json.dumps(x,
/// ensure_ascii=False, indent=None, separators=None, sort_keys=False)` with those keyword
/// arguments accepted. (minijinja's own `tojson` escapes `<`, `>`, `&` and `'` for HTML, which a
/// prompt must not.)
fn tojson(value: &Value, kwargs: Kwargs) -> Result<Value, JinjaError> {
    let ensure_ascii: Option<bool> = kwargs.get("ensure_ascii")?;
    let indent: Option<Value> = kwargs.get("indent")?;
    let separators: Option<Vec<String>> = kwargs.get("separators")?;
    let sort_keys: Option<bool> = kwargs.get("sort_keys")?;
    kwargs.assert_all_used()?;
    let indent = match indent {
        None => None,
        Some(v) if v.is_none() => None,
        Some(v) => match (v.as_i64(), v.as_str()) {
            (Some(n), _) => Some(" ".repeat(usize::try_from(n).unwrap_or(0))),
            (None, Some(s)) => Some(s.to_owned()),
            _ => {
                return Err(JinjaError::new(
                    ErrorKind::InvalidOperation,
                    "tojson: indent must be an integer or a string",
                ))
            }
        },
    };
    let (item_sep, key_sep) = match separators.as_deref() {
        Some([item, key]) => (item.clone(), key.clone()),
        Some(_) => {
            return Err(JinjaError::new(
                ErrorKind::InvalidOperation,
                "tojson: separators must be two strings",
            ))
        }
        // Python's defaults: ", " without indent, "," with it.
        None if indent.is_some() => (",".to_owned(), ": ".to_owned()),
        None => (", ".to_owned(), ": ".to_owned()),
    };
    let style = JsonStyle {
        ensure_ascii: ensure_ascii.unwrap_or(false),
        indent,
        item_sep,
        key_sep,
        sort_keys: sort_keys.unwrap_or(false),
    };
    let mut out = String::new();
    style.write(&mut out, value, 0)?;
    Ok(Value::from(out))
}

struct JsonStyle {
    ensure_ascii: bool,
    indent: Option<String>,
    item_sep: String,
    key_sep: String,
    sort_keys: bool,
}

impl JsonStyle {
    /// How deep a value may nest (Python raises RecursionError near 1000; a template never nests
    /// that deep, and the limit keeps a cyclic value from overflowing the stack).
    const MAX_DEPTH: usize = 512;

    fn write(&self, out: &mut String, v: &Value, depth: usize) -> Result<(), JinjaError> {
        if depth > Self::MAX_DEPTH {
            return Err(JinjaError::new(
                ErrorKind::InvalidOperation,
                "tojson: the value nests too deep",
            ));
        }
        match v.kind() {
            ValueKind::Undefined | ValueKind::None => out.push_str("null"),
            ValueKind::Bool => out.push_str(if v.is_true() { "true" } else { "false" }),
            ValueKind::Number => out.push_str(&v.to_string()),
            ValueKind::String => self.string(out, v.as_str().unwrap_or_default()),
            ValueKind::Map => {
                let mut keys: Vec<Value> = v.try_iter()?.collect();
                if self.sort_keys {
                    keys.sort();
                }
                let items: Vec<(Value, Value)> = keys
                    .into_iter()
                    .map(|k| {
                        let item = v.get_item(&k)?;
                        Ok((k, item))
                    })
                    .collect::<Result<_, JinjaError>>()?;
                self.container(out, ('{', '}'), &items, depth, |out, (k, item)| {
                    match k.as_str() {
                        Some(s) => self.string(out, s),
                        None => {
                            // Python turns non-string keys into strings: 1 → "1", True → "true".
                            let mut key = String::new();
                            self.write(&mut key, k, depth + 1)?;
                            self.string(out, &key);
                        }
                    }
                    out.push_str(&self.key_sep);
                    self.write(out, item, depth + 1)
                })?;
            }
            ValueKind::Seq | ValueKind::Iterable => {
                let items: Vec<Value> = v.try_iter()?.collect();
                self.container(out, ('[', ']'), &items, depth, |out, item| {
                    self.write(out, item, depth + 1)
                })?;
            }
            _ => {
                return Err(JinjaError::new(
                    ErrorKind::InvalidOperation,
                    format!("tojson: a {} is not JSON serializable", v.kind()),
                ))
            }
        }
        Ok(())
    }

    /// `[a, b]` or, with an indent, one item a line, as Python lays them out.
    fn container<T>(
        &self,
        out: &mut String,
        (open, close): (char, char),
        items: &[T],
        depth: usize,
        mut each: impl FnMut(&mut String, &T) -> Result<(), JinjaError>,
    ) -> Result<(), JinjaError> {
        out.push(open);
        if items.is_empty() {
            out.push(close);
            return Ok(());
        }
        let newline = |out: &mut String, level: usize| {
            if let Some(ind) = &self.indent {
                out.push('\n');
                for _ in 0..level {
                    out.push_str(ind);
                }
            }
        };
        for (i, item) in items.iter().enumerate() {
            if i > 0 {
                out.push_str(&self.item_sep);
            }
            newline(out, depth + 1);
            each(out, item)?;
        }
        newline(out, depth);
        out.push(close);
        Ok(())
    }

    /// A JSON string as Python writes it: `"`, `\` and control characters escaped (the short
    /// forms where JSON has one), and, with `ensure_ascii`, everything past ASCII as `\uXXXX`.
    fn string(&self, out: &mut String, s: &str) {
        out.push('"');
        for c in s.chars() {
            match c {
                '"' => out.push_str("\\\""),
                '\\' => out.push_str("\\\\"),
                '\n' => out.push_str("\\n"),
                '\r' => out.push_str("\\r"),
                '\t' => out.push_str("\\t"),
                '\u{8}' => out.push_str("\\b"),
                '\u{c}' => out.push_str("\\f"),
                c if (c as u32) < 0x20 => {
                    let _ = write!(out, "\\u{:04x}", c as u32);
                }
                c if self.ensure_ascii && !c.is_ascii() => {
                    let mut units = [0u16; 2];
                    for u in c.encode_utf16(&mut units) {
                        let _ = write!(out, "\\u{u:04x}");
                    }
                }
                c => out.push(c),
            }
        }
        out.push('"');
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ChatRole;

    /// SmolLM2-135M-Instruct's `tokenizer.chat_template`, as its GGUF carries it.
    const SMOLLM2: &str = "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}{{ '<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n' }}{% endif %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}";

    fn msg(role: ChatRole, content: &str) -> ChatMessage {
        ChatMessage::new(role, content)
    }

    fn smollm2() -> ChatTemplate {
        ChatTemplate::new(SMOLLM2, "<|im_start|>", "<|im_end|>").unwrap()
    }

    #[test]
    fn smollm2_adds_its_default_system_line() {
        let got = smollm2()
            .render(&[msg(ChatRole::User, "What is 2 + 2?")], true)
            .unwrap();
        assert_eq!(
            got,
            "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging \
             Face<|im_end|>\n<|im_start|>user\nWhat is 2 + 2?<|im_end|>\n<|im_start|>assistant\n"
        );
    }

    #[test]
    fn smollm2_keeps_a_given_system_message_and_every_turn() {
        let got = smollm2()
            .render(
                &[
                    msg(ChatRole::System, "Be brief."),
                    msg(ChatRole::User, "Hi"),
                    msg(ChatRole::Assistant, "Hello!"),
                    msg(ChatRole::User, "Bye"),
                ],
                false,
            )
            .unwrap();
        assert_eq!(
            got,
            "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n\
             <|im_start|>assistant\nHello!<|im_end|>\n<|im_start|>user\nBye<|im_end|>\n"
        );
    }

    #[test]
    fn blocks_are_trimmed_as_jinja2_with_trim_and_lstrip_blocks() {
        let t = ChatTemplate::new(
            "{% for m in messages %}\n    {% if m.role == 'user' %}\n[{{ m.content }}]\n    {% endif %}\n{% endfor %}\n",
            "",
            "",
        )
        .unwrap();
        let got = t.render(&[msg(ChatRole::User, "a")], true).unwrap();
        assert_eq!(got, "[a]\n");
    }

    #[test]
    fn special_tokens_python_methods_and_loop_controls() {
        let t = ChatTemplate::new(
            "{{ bos_token }}{% for m in messages %}{% if m.role == 'system' %}{% continue %}{% endif %}\
             {{ m['content'].strip().upper() }}{% endfor %}{{ eos_token }}\
             {% if tools is none and tools is defined %}!{% endif %}",
            "<s>",
            "</s>",
        )
        .unwrap();
        let got = t
            .render(
                &[msg(ChatRole::System, "x"), msg(ChatRole::User, "  hi  ")],
                true,
            )
            .unwrap();
        assert_eq!(got, "<s>HI</s>!");
    }

    #[test]
    fn raise_exception_refuses_and_other_failures_are_unrenderable() {
        let t = ChatTemplate::new(
            "{% if messages[0]['role'] == 'assistant' %}{{ raise_exception('Conversation must start with user') }}{% endif %}ok",
            "",
            "",
        )
        .unwrap();
        assert_eq!(
            t.render(&[msg(ChatRole::Assistant, "a")], true),
            Err(RenderError::Refused(
                "Conversation must start with user".into()
            ))
        );
        assert_eq!(t.render(&[msg(ChatRole::User, "a")], true).unwrap(), "ok");

        let unknown = ChatTemplate::new("{{ strftime_now('%Y') }}", "", "").unwrap();
        match unknown.render(&[msg(ChatRole::User, "a")], true) {
            Err(RenderError::Unrenderable(why)) => assert!(why.contains("strftime_now"), "{why}"),
            other => panic!("{other:?}"),
        }
        let bad = ChatTemplate::new("{% generation %}x{% endgeneration %}", "", "");
        assert!(bad.is_err());
    }

    #[test]
    fn tojson_writes_as_python_json_dumps() {
        let t = ChatTemplate::new(
            "{{ {'b': [1, 2.5, none, true], 'a': 'x<\"é\n'} | tojson }}|\
             {{ {'b': 1, 'a': []} | tojson(indent=2, sort_keys=true) }}|\
             {{ 'é' | tojson(ensure_ascii=true) }}|{{ [1, 2] | tojson(separators=[',', ':']) }}",
            "",
            "",
        )
        .unwrap();
        let got = t.render(&[], false).unwrap();
        assert_eq!(
            got,
            "{\"b\": [1, 2.5, null, true], \"a\": \"x<\\\"é\\n\"}|\
             {\n  \"a\": [],\n  \"b\": 1\n}|\"\\u00e9\"|[1,2]"
        );
    }
}
