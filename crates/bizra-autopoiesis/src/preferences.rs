//! Preferences: what a node has observed its user to prefer, as (kind, key) → value with a
//! confidence, and how the active ones shape a system prompt.
//!
//! Rules:
//!
//! * Confidence is kept **per (kind, key, value)**. The first observation of a value gives it
//!   [`INITIAL_CONFIDENCE`]; each further observation of the same value reinforces it:
//!   `c ← c + (1 − c) · REINFORCEMENT` (0.1). A different value for the same (kind, key) starts
//!   its own confidence at [`INITIAL_CONFIDENCE`]; it never inherits the old value's (the seed
//!   system's bug), and it leaves the old value's confidence as it was.
//! * A value is **active** when its confidence is at least [`ACTIVE_THRESHOLD`] (0.7). From 0.5,
//!   that takes five reinforcements (the sixth observation: 0.5, 0.55, 0.595, 0.636, 0.672,
//!   0.705). Of several active values for one (kind, key), the most confident wins; a tie goes to
//!   the most recently observed, then to the smaller value (bytewise), so the answer is always the
//!   same.
//! * The active values shape a system prompt by one rule, [`render`] (the format is under
//!   [`Preferences::apply`]): the same text whether asked for by hand or applied to every chat
//!   request of a gateway through `PreferencePrompt` (feature `inference`), whose signed payload
//!   then carries what was applied and the BLAKE3 of the system message the model received
//!   (`params.system_prompt`).

use rusqlite::{params, OptionalExtension, TransactionBehavior};

use bizra_protocol::{Error, Result};

use crate::store::{now_ms, sql_error, Store};

/// The confidence of a value observed for the first time.
pub const INITIAL_CONFIDENCE: f64 = 0.5;
/// The share of the remaining distance to 1 that each repeated observation adds.
pub const REINFORCEMENT: f64 = 0.1;
/// The confidence from which a value is active.
pub const ACTIVE_THRESHOLD: f64 = 0.7;
/// The longest kind, key or value accepted, in bytes.
pub const MAX_PREFERENCE_BYTES: usize = 4096;

/// The heading [`Preferences::apply`] puts above the active preferences.
pub const PROMPT_HEADING: &str = "User preferences:";

/// One observed value of a preference.
#[derive(Clone, Debug, PartialEq)]
pub struct Preference {
    /// What sort of preference (`"style"`, `"language"`, ...).
    pub kind: String,
    /// Which one of that sort (`"tone"`).
    pub key: String,
    /// The value observed (`"concise"`).
    pub value: String,
    /// Confidence in this value, in [0, 1].
    pub confidence: f64,
    /// How many times this value was observed.
    pub observations: u64,
    /// When it was first observed (ms since the Unix epoch).
    pub created_ms: i64,
    /// When it was last observed (ms since the Unix epoch).
    pub updated_ms: i64,
}

impl Preference {
    /// The preference as JSON: `{"type", "key", "value", "confidence", "observations",
    /// "active", "created_ms", "updated_ms"}`.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "type": self.kind,
            "key": self.key,
            "value": self.value,
            "confidence": self.confidence,
            "observations": self.observations,
            "active": self.is_active(),
            "created_ms": self.created_ms,
            "updated_ms": self.updated_ms,
        })
    }

    /// Whether this value is active (confidence ≥ [`ACTIVE_THRESHOLD`]).
    pub fn is_active(&self) -> bool {
        self.confidence >= ACTIVE_THRESHOLD
    }
}

const COLUMNS: &str = "kind, key, value, confidence, observations, created_ms, updated_ms";
/// Deterministic order: by kind and key, the winner first.
const ORDER: &str = "kind, key, confidence DESC, updated_ms DESC, value";

fn from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Preference> {
    let n: i64 = r.get(4)?;
    Ok(Preference {
        kind: r.get(0)?,
        key: r.get(1)?,
        value: r.get(2)?,
        confidence: r.get(3)?,
        observations: u64::try_from(n).unwrap_or(0),
        created_ms: r.get(5)?,
        updated_ms: r.get(6)?,
    })
}

fn check(name: &str, s: &str) -> Result<()> {
    if s.is_empty() {
        return Err(Error::InvalidInput(format!(
            "a preference's {name} must not be empty"
        )));
    }
    if s.len() > MAX_PREFERENCE_BYTES {
        return Err(Error::InvalidInput(format!(
            "a preference's {name} is {} bytes, more than {MAX_PREFERENCE_BYTES}",
            s.len()
        )));
    }
    Ok(())
}

/// The preferences of a store: `store.preferences().observe(...)`. A view borrowing the store.
#[derive(Clone, Copy, Debug)]
pub struct Preferences<'a> {
    store: &'a Store,
}

impl Store {
    /// The store's preferences.
    pub fn preferences(&self) -> Preferences<'_> {
        Preferences { store: self }
    }
}

impl Preferences<'_> {
    /// Observes that (kind, key) has `value`: a first observation starts it at
    /// [`INITIAL_CONFIDENCE`], a repeated one reinforces it (see the module's rules). Returns the
    /// value's preference as updated.
    pub fn observe(&self, kind: &str, key: &str, value: &str) -> Result<Preference> {
        check("kind", kind)?;
        check("key", key)?;
        check("value", value)?;
        let mut inner = self.store.lock();
        let path = inner.path.clone();
        let tx = inner
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|e| sql_error(&path, "starting to observe a preference", e))?;
        let now = now_ms();
        let current: Option<f64> = tx
            .query_row(
                "SELECT confidence FROM preferences WHERE kind = ?1 AND key = ?2 AND value = ?3",
                params![kind, key, value],
                |r| r.get(0),
            )
            .optional()
            .map_err(|e| sql_error(&path, "reading a preference", e))?;
        match current {
            Some(c) => {
                let c = (c + (1.0 - c) * REINFORCEMENT).clamp(0.0, 1.0);
                tx.execute(
                    "UPDATE preferences SET confidence = ?1, observations = observations + 1, \
                     updated_ms = ?2 WHERE kind = ?3 AND key = ?4 AND value = ?5",
                    params![c, now, kind, key, value],
                )
            }
            None => tx.execute(
                "INSERT INTO preferences (kind, key, value, confidence, observations, created_ms, \
                 updated_ms) VALUES (?1, ?2, ?3, ?4, 1, ?5, ?5)",
                params![kind, key, value, INITIAL_CONFIDENCE, now],
            ),
        }
        .map_err(|e| sql_error(&path, "writing a preference", e))?;
        let p = tx
            .query_row(
                &format!(
                    "SELECT {COLUMNS} FROM preferences WHERE kind = ?1 AND key = ?2 AND value = ?3"
                ),
                params![kind, key, value],
                from_row,
            )
            .map_err(|e| sql_error(&path, "reading a preference", e))?;
        tx.commit()
            .map_err(|e| sql_error(&path, "committing a preference", e))?;
        Ok(p)
    }

    /// The active value of (kind, key): the most confident at or above [`ACTIVE_THRESHOLD`], or
    /// None when no value is active.
    pub fn get(&self, kind: &str, key: &str) -> Result<Option<Preference>> {
        let inner = self.store.lock();
        inner
            .conn
            .query_row(
                &format!(
                    "SELECT {COLUMNS} FROM preferences WHERE kind = ?1 AND key = ?2 \
                     AND confidence >= ?3 ORDER BY {ORDER} LIMIT 1"
                ),
                params![kind, key, ACTIVE_THRESHOLD],
                from_row,
            )
            .optional()
            .map_err(|e| sql_error(&inner.path, "reading a preference", e))
    }

    /// Every observed value of every preference, active or not, ordered by kind and key, the
    /// winner of each first.
    pub fn all(&self) -> Result<Vec<Preference>> {
        self.query_preferences(&format!(
            "SELECT {COLUMNS} FROM preferences ORDER BY {ORDER}"
        ))
    }

    /// The active value of every (kind, key) that has one, ordered by kind and key.
    pub fn active(&self) -> Result<Vec<Preference>> {
        let all = self.query_preferences(&format!(
            "SELECT {COLUMNS} FROM preferences WHERE confidence >= {ACTIVE_THRESHOLD} \
             ORDER BY {ORDER}"
        ))?;
        let mut out: Vec<Preference> = Vec::new();
        for p in all {
            // The rows come winner first within each (kind, key).
            if out
                .last()
                .is_some_and(|w| w.kind == p.kind && w.key == p.key)
            {
                continue;
            }
            out.push(p);
        }
        Ok(out)
    }

    fn query_preferences(&self, sql: &str) -> Result<Vec<Preference>> {
        let inner = self.store.lock();
        let path = &inner.path;
        let mut stmt = inner
            .conn
            .prepare_cached(sql)
            .map_err(|e| sql_error(path, "listing preferences", e))?;
        let rows = stmt
            .query_map([], from_row)
            .and_then(|rows| rows.collect::<rusqlite::Result<Vec<_>>>())
            .map_err(|e| sql_error(path, "listing preferences", e))?;
        Ok(rows)
    }

    /// A system prompt shaped by the active preferences. The format, deterministic:
    ///
    /// ```text
    /// <system_prompt>
    ///
    /// User preferences:
    /// - <kind>.<key>: <value>
    /// - ...
    /// ```
    ///
    /// One line per active (kind, key), ordered by kind then key (bytewise); control characters
    /// (line breaks included) in kinds, keys and values are written as spaces, so a value cannot
    /// add lines of its own. Without `system_prompt` (or with an empty one) the text starts at
    /// the heading; without active preferences the system prompt is returned as given (empty when
    /// None).
    pub fn apply(&self, system_prompt: Option<&str>) -> Result<String> {
        let active = self.active()?;
        Ok(render(system_prompt, &active))
    }
}

/// The store's active preferences as a [`bizra_inference::Gateway`]'s system-prompt shaper
/// ([`bizra_inference::GatewayBuilder::system_prompt`]): every chat request's system message
/// becomes [`Preferences::apply`]'s text, read at each request (a preference that becomes active
/// shapes the next one), and the payload signs what was applied: `[{"type", "key", "value",
/// "confidence"}]`, one per active (kind, key). Without active preferences requests are left as
/// they are.
#[cfg(feature = "inference")]
#[derive(Clone, Debug)]
pub struct PreferencePrompt(pub std::sync::Arc<Store>);

#[cfg(feature = "inference")]
impl bizra_inference::SystemPromptShaper for PreferencePrompt {
    fn shape(&self, system: Option<&str>) -> Result<Option<bizra_inference::ShapedPrompt>> {
        let active = self.0.preferences().active()?;
        if active.is_empty() {
            return Ok(None);
        }
        let applied = active
            .iter()
            .map(|p| {
                serde_json::json!({
                    "type": p.kind,
                    "key": p.key,
                    "value": p.value,
                    "confidence": p.confidence,
                })
            })
            .collect();
        Ok(Some(bizra_inference::ShapedPrompt {
            system: render(system, &active),
            applied: serde_json::Value::Array(applied),
        }))
    }
}

/// The text [`Preferences::apply`] returns for these active preferences.
pub fn render(system_prompt: Option<&str>, active: &[Preference]) -> String {
    let base = system_prompt.unwrap_or("");
    if active.is_empty() {
        return base.to_owned();
    }
    let mut out = String::new();
    if !base.is_empty() {
        out.push_str(base);
        out.push_str("\n\n");
    }
    out.push_str(PROMPT_HEADING);
    for p in active {
        out.push_str("\n- ");
        out.push_str(&one_line(&p.kind));
        out.push('.');
        out.push_str(&one_line(&p.key));
        out.push_str(": ");
        out.push_str(&one_line(&p.value));
    }
    out
}

fn one_line(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}
