//! The `bizra.pattern` payload: how a pattern travels inside a signed envelope.
//!
//! A node states a pattern by signing an envelope whose payload is an object:
//!
//! | member          | type              | required | meaning                                           |
//! |-----------------|-------------------|----------|---------------------------------------------------|
//! | `type`          | `"bizra.pattern"` | yes      | the payload type                                  |
//! | `content`       | string, non-empty | yes      | the pattern's text (what is embedded and recalled)|
//! | `tags`          | array of strings  | no       | labels                                            |
//! | `embedding`     | array of numbers  | no       | the content's embedding (f32 values)              |
//! | `confidence`    | number in [0, 1]  | no       | the exporter's confidence                         |
//! | `observations`  | integer ≥ 1       | no       | how many distinct envelopes carried the content   |
//! | `positive`      | integer ≥ 0       | no       | positive feedback counted                         |
//! | `negative`      | integer ≥ 0       | no       | negative feedback counted                         |
//! | `source_node`   | string, non-empty | no       | the node the pattern came from (default: sender)  |
//! | `introduced_by` | string            | no       | the id of the envelope that introduced it there   |
//!
//! Other members are refused, so a typo never passes silently. [`crate::Store::learn`] needs only
//! `content`; an export line ([`crate::Store::export_jsonl`]) carries every member, and
//! [`crate::Store::import_jsonl`] needs `embedding` too.

use serde_json::{Map, Value};

/// The `type` of a pattern payload.
pub const PATTERN_PAYLOAD_TYPE: &str = "bizra.pattern";

/// The `type` of the payloads the inference engine signs; their `output` is learnable content.
pub const INFERENCE_PAYLOAD_TYPE: &str = "bizra.inference";

const MEMBERS: [&str; 10] = [
    "type",
    "content",
    "tags",
    "embedding",
    "confidence",
    "observations",
    "positive",
    "negative",
    "source_node",
    "introduced_by",
];

/// A `bizra.pattern` payload, read strictly.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PatternPayload {
    /// The pattern's text.
    pub content: String,
    /// Labels (empty when absent).
    pub tags: Vec<String>,
    /// The content's embedding, where given.
    pub embedding: Option<Vec<f32>>,
    /// The exporter's confidence, where given.
    pub confidence: Option<f64>,
    /// Observations, where given.
    pub observations: Option<u64>,
    /// Positive feedback counted, where given.
    pub positive: Option<u64>,
    /// Negative feedback counted, where given.
    pub negative: Option<u64>,
    /// The node the pattern came from, where given.
    pub source_node: Option<String>,
    /// The id of the envelope that introduced the pattern at its source, where given.
    pub introduced_by: Option<String>,
}

impl PatternPayload {
    /// Reads a payload object; the error says which member is wrong.
    pub fn from_value(payload: &Value) -> Result<Self, String> {
        let obj = payload
            .as_object()
            .ok_or_else(|| "the payload is not an object".to_string())?;
        if let Some(unknown) = obj.keys().find(|k| !MEMBERS.contains(&k.as_str())) {
            return Err(format!(
                "unknown member {unknown:?} in a {PATTERN_PAYLOAD_TYPE} payload"
            ));
        }
        match obj.get("type").and_then(Value::as_str) {
            Some(PATTERN_PAYLOAD_TYPE) => {}
            _ => return Err(format!("type must be {PATTERN_PAYLOAD_TYPE:?}")),
        }
        let content = match obj.get("content") {
            Some(Value::String(s)) if !s.is_empty() => s.clone(),
            Some(_) => return Err("content must be a non-empty string".into()),
            None => return Err("content is missing".into()),
        };
        let tags = match obj.get("tags") {
            None => Vec::new(),
            Some(Value::Array(items)) => items
                .iter()
                .map(|t| t.as_str().map(str::to_owned))
                .collect::<Option<Vec<_>>>()
                .ok_or_else(|| "tags must be an array of strings".to_string())?,
            Some(_) => return Err("tags must be an array of strings".into()),
        };
        let embedding = match obj.get("embedding") {
            None => None,
            Some(Value::Array(items)) => Some(
                items
                    .iter()
                    .map(|x| x.as_f64().map(|f| f as f32))
                    .collect::<Option<Vec<_>>>()
                    .ok_or_else(|| "embedding must be an array of numbers".to_string())?,
            ),
            Some(_) => return Err("embedding must be an array of numbers".into()),
        };
        let confidence = match obj.get("confidence") {
            None => None,
            Some(v) => match v.as_f64() {
                Some(c) if (0.0..=1.0).contains(&c) => Some(c),
                _ => return Err("confidence must be a number in [0, 1]".into()),
            },
        };
        let count = |name: &str, min: u64| -> Result<Option<u64>, String> {
            match obj.get(name) {
                None => Ok(None),
                Some(v) => match v.as_u64() {
                    Some(n) if n >= min && n <= i64::MAX as u64 => Ok(Some(n)),
                    _ => Err(format!("{name} must be an integer ≥ {min}")),
                },
            }
        };
        let text = |name: &str| -> Result<Option<String>, String> {
            match obj.get(name) {
                None => Ok(None),
                Some(Value::String(s)) if !s.is_empty() => Ok(Some(s.clone())),
                Some(_) => Err(format!("{name} must be a non-empty string")),
            }
        };
        Ok(PatternPayload {
            content,
            tags,
            embedding,
            confidence,
            observations: count("observations", 1)?,
            positive: count("positive", 0)?,
            negative: count("negative", 0)?,
            source_node: text("source_node")?,
            introduced_by: text("introduced_by")?,
        })
    }

    /// The payload object, with the members that are set.
    pub fn to_value(&self) -> Value {
        let mut m = Map::new();
        m.insert("type".into(), Value::from(PATTERN_PAYLOAD_TYPE));
        m.insert("content".into(), Value::from(self.content.clone()));
        m.insert(
            "tags".into(),
            Value::Array(self.tags.iter().cloned().map(Value::from).collect()),
        );
        if let Some(e) = &self.embedding {
            m.insert(
                "embedding".into(),
                Value::Array(e.iter().map(|&x| Value::from(f64::from(x))).collect()),
            );
        }
        if let Some(c) = self.confidence {
            m.insert("confidence".into(), Value::from(c));
        }
        for (name, v) in [
            ("observations", self.observations),
            ("positive", self.positive),
            ("negative", self.negative),
        ] {
            if let Some(n) = v {
                m.insert(name.into(), Value::from(n));
            }
        }
        if let Some(s) = &self.source_node {
            m.insert("source_node".into(), Value::from(s.clone()));
        }
        if let Some(s) = &self.introduced_by {
            m.insert("introduced_by".into(), Value::from(s.clone()));
        }
        Value::Object(m)
    }
}
