//! Exchange: a store's patterns written out, and read in, as JSON Lines of signed envelopes.
//!
//! Each line is one envelope (canonical JSON, PCI-v1) whose payload is a complete
//! `bizra.pattern` payload ([`crate::payload`]): content, tags, embedding, confidence,
//! observations, positive and negative counts, source node, and the id of the envelope that
//! introduced the pattern. The exporting node signs every line, so whoever imports the file can
//! check who vouches for each pattern, and the envelope stays with the imported pattern as its
//! provenance.
//!
//! Import is all or nothing: every line is verified (parsed, then [`Envelope::verify`] with the
//! caller's options: an instant inside the lines' validity for an older file, a required policy,
//! a replay cache) and written inside one transaction; the first line that fails refuses the whole
//! file, nothing written, with an error that names the line (1-based) and carries the reject code
//! (a payload that is not a complete pattern is `GATE_SCHEMA`). A pattern whose content the store
//! already holds is observed, as [`Store::learn`] does: the store keeps its own confidence and
//! feedback counts.

use std::io::{BufRead, Write};

use rusqlite::TransactionBehavior;
use serde_json::Value;

use bizra_protocol::{Envelope, Error, Identity, RejectCode, Result, VerifyOptions};

use crate::patterns::{clean_tags, normalise, write_incoming, Incoming, Learned, Pattern};
use crate::payload::{PatternPayload, PATTERN_PAYLOAD_TYPE};
use crate::store::{sql_error, Store};

/// What an import did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ImportReport {
    /// Lines read (blank lines not counted).
    pub lines: usize,
    /// Patterns added.
    pub new: usize,
    /// Lines whose content the store already held (one more observation each).
    pub observed: usize,
    /// Lines whose envelope had already been learned or imported (nothing changed).
    pub already_known: usize,
}

/// The `bizra.pattern` payload that exports `p`.
pub fn pattern_payload(p: &Pattern) -> PatternPayload {
    PatternPayload {
        content: p.content.clone(),
        tags: p.tags.clone(),
        embedding: Some(p.embedding.clone()),
        confidence: Some(p.confidence),
        observations: Some(p.observations),
        positive: Some(p.positive),
        negative: Some(p.negative),
        source_node: Some(p.source_node.clone()),
        introduced_by: Some(p.envelope_id.clone()),
    }
}

impl Store {
    /// Writes every pattern, by id, as one envelope per line signed by `identity` (default
    /// envelope options: the current time, the longest ttl). Returns the number of lines.
    pub fn export_jsonl<W: Write>(&self, mut out: W, identity: &Identity) -> Result<usize> {
        let patterns = self.list()?;
        for p in &patterns {
            let envelope = Envelope::builder(pattern_payload(p).to_value())
                .sign(identity)
                .map_err(|e| match e {
                    Error::Reject { code, detail } => Error::Reject {
                        code,
                        detail: format!("exporting pattern {}: {detail}", p.id),
                    },
                    other => other,
                })?;
            out.write_all(envelope.to_json().as_bytes())
                .and_then(|()| out.write_all(b"\n"))
                .map_err(|e| Error::io("<export output>", e))?;
        }
        out.flush().map_err(|e| Error::io("<export output>", e))?;
        Ok(patterns.len())
    }

    /// Reads JSON Lines of pattern envelopes (as [`Store::export_jsonl`] writes them), verifying
    /// every line with `opts`, and stores them in one transaction: all lines or none. Blank lines
    /// are skipped. See the module's rules.
    pub fn import_jsonl<R: BufRead>(
        &self,
        input: R,
        opts: &VerifyOptions<'_>,
    ) -> Result<ImportReport> {
        let mut inner = self.lock();
        let path = inner.path.clone();
        let mut dimension = inner.dimension;
        let mut report = ImportReport::default();
        let mut added = Vec::new();
        let tx = inner
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|e| sql_error(&path, "starting an import", e))?;
        for (i, line) in input.lines().enumerate() {
            let n = i + 1;
            let line = line.map_err(|e| Error::io("<import input>", e))?;
            let text = line.strip_suffix('\r').unwrap_or(&line);
            if text.trim().is_empty() {
                continue;
            }
            report.lines += 1;
            let incoming_parts = read_line(text, opts, dimension).map_err(|e| at_line(n, e))?;
            let (envelope, payload, embedding) = incoming_parts;
            let tags = clean_tags(payload.tags).map_err(|e| at_line(n, e))?;
            let incoming = Incoming {
                content: &payload.content,
                embedding,
                tags,
                source_node: payload
                    .source_node
                    .unwrap_or_else(|| envelope.sender().to_owned()),
                envelope: envelope.to_json(),
                envelope_id: envelope.id().to_owned(),
                confidence: payload
                    .confidence
                    .unwrap_or(crate::patterns::INITIAL_CONFIDENCE),
                observations: payload.observations.unwrap_or(1),
                positive: payload.positive.unwrap_or(0),
                negative: payload.negative.unwrap_or(0),
            };
            let (learned, new) = write_incoming(&tx, &path, &mut dimension, incoming)?;
            match learned {
                Learned::New(_) => report.new += 1,
                Learned::Observed(_) => report.observed += 1,
                Learned::AlreadyKnown(_) => report.already_known += 1,
            }
            added.extend(new);
        }
        tx.commit()
            .map_err(|e| sql_error(&path, "committing an import", e))?;
        inner.after_commit(dimension, added)?;
        Ok(report)
    }
}

/// One line: the verified envelope, its pattern payload, and the normalised embedding.
fn read_line(
    text: &str,
    opts: &VerifyOptions<'_>,
    dimension: Option<usize>,
) -> Result<(Envelope, PatternPayload, Vec<f32>)> {
    let envelope = Envelope::parse(text)?;
    envelope.verify(opts)?;
    let payload = envelope.payload();
    if payload.get("type").and_then(Value::as_str) != Some(PATTERN_PAYLOAD_TYPE) {
        return Err(Error::reject(
            RejectCode::GateSchema,
            format!(
                "envelope {}: not a {PATTERN_PAYLOAD_TYPE} payload",
                envelope.id()
            ),
        ));
    }
    let p = PatternPayload::from_value(payload).map_err(|e| {
        Error::reject(
            RejectCode::GateSchema,
            format!("envelope {}: {e}", envelope.id()),
        )
    })?;
    let Some(embedding) = p.embedding.as_deref() else {
        return Err(Error::reject(
            RejectCode::GateSchema,
            format!("envelope {}: the pattern has no embedding", envelope.id()),
        ));
    };
    let embedding = normalise(embedding, dimension)?;
    Ok((envelope, p, embedding))
}

/// The error, naming the line it came from.
fn at_line(n: usize, e: Error) -> Error {
    match e {
        Error::Reject { code, detail } => Error::Reject {
            code,
            detail: format!("import line {n}: {detail}"),
        },
        Error::InvalidInput(m) => Error::InvalidInput(format!("import line {n}: {m}")),
        other => other,
    }
}
