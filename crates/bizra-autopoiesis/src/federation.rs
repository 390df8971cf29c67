//! Elevation through the federation: proposals, decisions, and the proof kept with each
//! certified pattern. The format and the reader's rules are ELEVATION-v1
//! (`tests/vectors/ELEVATION-v1.md`, with vectors computed independently).
//!
//! * **Proposal** ([`elevation_proposal`]): a `bizra.proposal` envelope signed by the proposing
//!   node, whose payload is `{"type": "bizra.proposal", "action": "bizra.pattern.elevate",
//!   "pattern": <the bizra.pattern payload, embedding included>, "origin": <the envelope that
//!   introduced the pattern>}`. Its scores are what the federation's gate chain judges: the
//!   origin's measured SNR (a pattern whose origin has none cannot be proposed: the gate would
//!   refuse it, fail-closed) and the pattern's confidence as its Ihsan score.
//! * **Decision** ([`Store::apply_decision`]): when a height decides a batch, the node checks
//!   the commit certificate against the federation document and the batch against the
//!   certificate, then, for every elevation proposal in the batch whose proposal and origin
//!   envelopes verify (each at its own creation time: a decided proposal stays valid after its
//!   ttl) and whose stated content is the origin's, stores the pattern as certified — learning it
//!   if the node did not hold it, with the proposer's confidence and counts. The certificate and
//!   the batch are kept once per height that certified something, in the same transaction, with the
//!   highest height applied. Proposals that cannot be stored
//!   here (another embedding dimension, a bad envelope) are reported as skipped, never half
//!   written; a bad certificate refuses the whole decision.
//! * **Proof** ([`Store::verify_elevation`]): the stored certificate, checked again against a
//!   federation document, certifies the stored batch, which holds a proposal of this pattern's
//!   content. A node that joins late catches up on the decided heights through consensus and
//!   applies them the same way, so it holds the same elevated patterns with the same proof.
//!
//! The driver that proposes and applies beside a running node is [`crate::Elevator`].

use rusqlite::{params, OptionalExtension, TransactionBehavior};
use serde_json::{json, Value};

use bizra_consensus::batch::PROPOSAL_TYPE;
use bizra_consensus::{Batch, Certificate, FederationDocument};
use bizra_protocol::{Envelope, Error, Identity, Result, VerifyOptions};

use crate::exchange::pattern_payload;
use crate::patterns::{
    clean_tags, learnable_content, normalise, write_incoming, Incoming, Pattern, PatternId,
    INITIAL_CONFIDENCE,
};
use crate::payload::PatternPayload;
use crate::store::{now_ms, sql_error, store_error, Store};

/// The `action` of a proposal that elevates a pattern.
pub const ELEVATE_ACTION: &str = "bizra.pattern.elevate";
/// How long (seconds) an elevation proposal may wait to be decided.
pub const PROPOSAL_TTL_SECONDS: i64 = 600;

/// What [`Store::apply_decision`] did with a decided batch.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Applied {
    /// The height decided.
    pub height: u64,
    /// The patterns now certified, by id.
    pub elevated: Vec<PatternId>,
    /// Elevation proposals of the batch not stored here: (proposal envelope id, why).
    pub skipped: Vec<(String, String)>,
}

/// The proposal that asks the federation to elevate `pattern`, signed by `identity` (the
/// proposing node's key).
///
/// Refused (`InvalidInput`): a pattern whose origin envelope states no SNR.
pub fn elevation_proposal(pattern: &Pattern, identity: &Identity) -> Result<Envelope> {
    let origin = Envelope::parse(&pattern.envelope)?;
    let snr = origin.scores().snr.ok_or_else(|| {
        Error::InvalidInput(format!(
            "pattern {} cannot be proposed for elevation: the envelope that introduced it ({}) \
             states no SNR, which the federation's gate chain requires",
            pattern.id, pattern.envelope_id
        ))
    })?;
    let origin_value: Value = serde_json::from_str(&pattern.envelope)
        .map_err(|e| Error::InvalidInput(format!("pattern {}: its envelope: {e}", pattern.id)))?;
    Envelope::builder(json!({
        "type": PROPOSAL_TYPE,
        "action": ELEVATE_ACTION,
        "pattern": pattern_payload(pattern).to_value(),
        "origin": origin_value,
    }))
    .snr(snr)
    .ihsan(pattern.confidence)
    .ttl(PROPOSAL_TTL_SECONDS)
    .sign(identity)
}

/// Whether `envelope` proposes an elevation.
pub fn is_elevation_proposal(envelope: &Envelope) -> bool {
    let p = envelope.payload();
    p.get("type").and_then(Value::as_str) == Some(PROPOSAL_TYPE)
        && p.get("action").and_then(Value::as_str) == Some(ELEVATE_ACTION)
}

/// An elevation proposal, read and checked ([`read_elevation_proposal`]): the pattern it states
/// and the envelope that introduced it.
#[derive(Clone, Debug)]
pub struct ElevationProposal {
    /// The `bizra.pattern` payload stated.
    pub pattern: PatternPayload,
    /// Its tags, without repeats.
    pub tags: Vec<String>,
    /// Its embedding, L2-normalised.
    pub embedding: Vec<f32>,
    /// The envelope that introduced the pattern, verified.
    pub origin: Envelope,
}

/// The part of an elevation proposal that failed (ELEVATION-v1's reasons).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProposalPart {
    /// The proposal envelope itself does not verify (PCI-v1) at its own creation time.
    Proposal,
    /// No `pattern` member, or not a valid `bizra.pattern` payload (tags included).
    Pattern,
    /// No `origin` member, not an envelope, not verifying at its own creation time, or not one
    /// whose content can be learned (a `bizra.inference` output or a `bizra.pattern` content).
    Origin,
    /// The stated content is not the origin's.
    Content,
    /// No embedding, or one that cannot be stored (zero, non-finite, another dimension).
    Embedding,
}

impl ProposalPart {
    /// The reason's name in ELEVATION-v1 (`"origin"`, ...).
    pub const fn name(self) -> &'static str {
        match self {
            ProposalPart::Proposal => "proposal",
            ProposalPart::Pattern => "pattern",
            ProposalPart::Origin => "origin",
            ProposalPart::Content => "content",
            ProposalPart::Embedding => "embedding",
        }
    }
}

/// Why an elevation proposal was refused: the part that failed, and the error.
#[derive(Debug)]
pub struct ProposalRefused {
    /// What failed.
    pub part: ProposalPart,
    /// How (a PCI-v1 refusal of the proposal or origin carries its reject code).
    pub error: Error,
}

impl std::fmt::Display for ProposalRefused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.part.name(), self.error)
    }
}

impl std::error::Error for ProposalRefused {}

/// Reads and checks an elevation proposal (ELEVATION-v1, in its order): the proposal verifies at
/// its creation time; its `pattern` is a `bizra.pattern` payload; its `origin` is an envelope
/// that verifies at its own creation time and whose learnable content is the stated content;
/// the embedding is present and storable (`dimension`: the store's, once it has one).
pub fn read_elevation_proposal(
    proposal: &Envelope,
    dimension: Option<usize>,
) -> std::result::Result<ElevationProposal, ProposalRefused> {
    let refused = |part| move |error| ProposalRefused { part, error };
    proposal
        .verify(&VerifyOptions::default().at(proposal.timestamp()))
        .map_err(refused(ProposalPart::Proposal))?;
    let payload = proposal.payload();
    let pattern = payload
        .get("pattern")
        .ok_or_else(|| Error::InvalidInput("no \"pattern\" member".into()))
        .and_then(|v| PatternPayload::from_value(v).map_err(Error::InvalidInput))
        .map_err(refused(ProposalPart::Pattern))?;
    let tags = clean_tags(pattern.tags.clone()).map_err(refused(ProposalPart::Pattern))?;
    let origin = payload
        .get("origin")
        .ok_or_else(|| Error::InvalidInput("no \"origin\" member".into()))
        .and_then(|v| Envelope::from_value(v.clone()))
        .and_then(|origin| {
            origin.verify(&VerifyOptions::default().at(origin.timestamp()))?;
            Ok(origin)
        })
        .map_err(refused(ProposalPart::Origin))?;
    let (content, _) = learnable_content(&origin).map_err(refused(ProposalPart::Origin))?;
    if content != pattern.content {
        return Err(refused(ProposalPart::Content)(Error::InvalidInput(
            format!(
                "the stated content is not the content of its origin {}",
                origin.id()
            ),
        )));
    }
    let embedding = pattern
        .embedding
        .as_deref()
        .ok_or_else(|| Error::InvalidInput("the pattern has no embedding".into()))
        .and_then(|v| normalise(v, dimension))
        .map_err(refused(ProposalPart::Embedding))?;
    Ok(ElevationProposal {
        pattern,
        tags,
        embedding,
        origin,
    })
}

/// The certificate error, naming the height.
fn at_height(height: u64, e: impl Into<Error>) -> Error {
    match e.into() {
        Error::Certificate { code, name, detail } => Error::Certificate {
            code,
            name,
            detail: format!("height {height}: {detail}"),
        },
        other => other,
    }
}

impl Store {
    /// Applies a decided height: checks `certificate` against `document` and `batch` against the
    /// certificate, then stores every elevation proposal of the batch as certified (see the
    /// module's rules), with the certificate and the batch, in one transaction. Applying a height
    /// again changes nothing; a different batch for a height already applied is refused.
    pub fn apply_decision(
        &self,
        certificate: &Certificate,
        batch: &Batch,
        document: &FederationDocument,
    ) -> Result<Applied> {
        let height = certificate.height();
        certificate
            .verify_batch(batch, document)
            .map_err(|e| at_height(height, e))?;
        let mut applied = Applied {
            height,
            ..Applied::default()
        };
        let mut inner = self.lock();
        let path = inner.path.clone();
        let mut dimension = inner.dimension;
        let tx = inner
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|e| sql_error(&path, "starting to apply a decision", e))?;
        let height_sql = i64::try_from(height)
            .map_err(|_| Error::InvalidInput(format!("height {height} is out of range")))?;
        let stored: Option<String> = tx
            .query_row(
                "SELECT batch FROM decisions WHERE height = ?1",
                [height_sql],
                |r| r.get(0),
            )
            .optional()
            .map_err(|e| sql_error(&path, "reading a stored decision", e))?;
        match stored {
            Some(b) if b == batch.to_json() => return Ok(applied),
            Some(_) => {
                return Err(store_error(
                    &path,
                    format!(
                        "height {height} was applied with another batch; a certificate for a \
                         second batch at one height means the federation forked: refused"
                    ),
                ))
            }
            None => {}
        }
        let mut added = Vec::new();
        for proposal in batch
            .envelopes()
            .iter()
            .filter(|e| is_elevation_proposal(e))
        {
            let proposed = match read_elevation_proposal(proposal, dimension) {
                Ok(p) => p,
                Err(e) => {
                    applied
                        .skipped
                        .push((proposal.id().to_owned(), e.to_string()));
                    continue;
                }
            };
            let p = &proposed.pattern;
            let incoming = Incoming {
                content: &p.content,
                embedding: proposed.embedding,
                tags: proposed.tags,
                source_node: p
                    .source_node
                    .clone()
                    .unwrap_or_else(|| proposed.origin.sender().to_owned()),
                envelope: proposed.origin.to_json(),
                envelope_id: proposed.origin.id().to_owned(),
                confidence: p.confidence.unwrap_or(INITIAL_CONFIDENCE),
                observations: p.observations.unwrap_or(1).max(1),
                positive: p.positive.unwrap_or(0),
                negative: p.negative.unwrap_or(0),
            };
            let (learned, new) = write_incoming(&tx, &path, &mut dimension, incoming)?;
            added.extend(new);
            // The first certificate stays: a pattern proposed twice is certified once.
            let certified = tx
                .execute(
                    "UPDATE patterns SET elevation = 'certified', certificate = ?1, height = ?2, \
                     updated_ms = ?3 WHERE id = ?4 AND elevation != 'certified'",
                    params![certificate.to_json(), height_sql, now_ms(), learned.id()],
                )
                .map_err(|e| sql_error(&path, "certifying a pattern", e))?;
            if certified > 0 {
                applied.elevated.push(learned.id());
            }
        }
        if !applied.elevated.is_empty() {
            tx.execute(
                "INSERT INTO decisions (height, federation, certificate, batch, stored_ms) \
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                params![
                    height_sql,
                    certificate.federation(),
                    certificate.to_json(),
                    batch.to_json(),
                    now_ms()
                ],
            )
            .map_err(|e| sql_error(&path, "storing a decision", e))?;
        }
        tx.execute(
            "INSERT INTO meta (key, value) VALUES ('applied_height', ?1) \
             ON CONFLICT (key) DO UPDATE SET value = excluded.value \
             WHERE CAST(excluded.value AS INTEGER) > CAST(value AS INTEGER)",
            [height.to_string()],
        )
        .map_err(|e| sql_error(&path, "recording the applied height", e))?;
        tx.commit()
            .map_err(|e| sql_error(&path, "committing a decision", e))?;
        inner.after_commit(dimension, added)?;
        applied.elevated.sort_unstable();
        applied.elevated.dedup();
        Ok(applied)
    }

    /// The highest height applied ([`Store::apply_decision`]), 0 if none.
    pub fn applied_height(&self) -> Result<u64> {
        let inner = self.lock();
        let h: Option<String> = inner
            .conn
            .query_row(
                "SELECT value FROM meta WHERE key = 'applied_height'",
                [],
                |r| r.get(0),
            )
            .optional()
            .map_err(|e| sql_error(&inner.path, "reading the applied height", e))?;
        match h {
            None => Ok(0),
            Some(s) => s.parse().map_err(|_| {
                store_error(
                    &inner.path,
                    format!("the recorded applied height {s:?} is not a height"),
                )
            }),
        }
    }

    /// Checks a certified pattern's proof again: its height's stored certificate verifies
    /// against `document` and certifies the stored batch, which holds an elevation proposal of
    /// this pattern's content. `InvalidInput` for an unknown or uncertified pattern.
    pub fn verify_elevation(&self, id: PatternId, document: &FederationDocument) -> Result<()> {
        let pattern = self
            .get(id)?
            .ok_or_else(|| Error::InvalidInput(format!("no pattern with id {id}")))?;
        let crate::Elevation::Certified { height, .. } = pattern.elevation else {
            return Err(Error::InvalidInput(format!(
                "pattern {id} is not certified by a federation"
            )));
        };
        let (certificate, batch) = self.decision(height)?.ok_or_else(|| {
            Error::InvalidInput(format!(
                "pattern {id} names height {height}, whose decision the store does not hold"
            ))
        })?;
        certificate
            .verify_batch(&batch, document)
            .map_err(|e| at_height(height, e))?;
        let hash = pattern.content_hash;
        let found = batch
            .envelopes()
            .iter()
            .filter(|e| is_elevation_proposal(e))
            .filter_map(|e| e.payload().get("pattern"))
            .filter_map(|v| PatternPayload::from_value(v).ok())
            .any(|p| blake3::hash(p.content.as_bytes()).as_bytes() == &hash);
        if found {
            Ok(())
        } else {
            Err(Error::InvalidInput(format!(
                "pattern {id}: the batch certified at height {height} holds no elevation \
                 proposal of its content"
            )))
        }
    }

    /// The stored certificate and batch of a height, if it was applied.
    pub fn decision(&self, height: u64) -> Result<Option<(Certificate, Batch)>> {
        let inner = self.lock();
        let Ok(h) = i64::try_from(height) else {
            return Ok(None);
        };
        let row: Option<(String, String)> = inner
            .conn
            .query_row(
                "SELECT certificate, batch FROM decisions WHERE height = ?1",
                [h],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
            .map_err(|e| sql_error(&inner.path, "reading a decision", e))?;
        let Some((c, b)) = row else {
            return Ok(None);
        };
        let certificate = Certificate::from_json(&c).map_err(|e| {
            store_error(
                &inner.path,
                format!("height {height}: stored certificate: {e}"),
            )
        })?;
        let batch = Batch::from_json(&b)
            .map_err(|e| store_error(&inner.path, format!("height {height}: stored batch: {e}")))?;
        Ok(Some((certificate, batch)))
    }

    /// Records that `id` was proposed now, so that it is not proposed again before `retry_ms`.
    pub(crate) fn mark_proposed(&self, id: PatternId) -> Result<()> {
        let inner = self.lock();
        inner
            .conn
            .execute(
                "UPDATE patterns SET proposed_ms = ?1 WHERE id = ?2",
                params![now_ms(), id],
            )
            .map_err(|e| sql_error(&inner.path, "recording a proposal", e))?;
        Ok(())
    }
}
