//! The consensus engine of one node, sans-IO: Malachite's Tendermint core behind our inputs
//! and outputs, with no sockets, no clock and no tasks of its own.
//!
//! # Driving it
//!
//! A runtime (one tokio task, or a simulation) owns the transport, the clock, the timers and the
//! storage, and calls:
//!
//! - [`Engine::start_height`] to begin deciding a height (the first, then the next after each
//!   [`Output::Decided`]);
//! - [`Engine::propose`] with a `bizra.proposal` envelope submitted to this node: it joins the
//!   pending-proposal pool and is forwarded to the other validators, whose pools take it too;
//! - [`Engine::receive`] with the bytes of every message a peer sent
//!   (see [`wire`] for the encoding);
//! - [`Engine::handle_timer`] when a timer it was asked to set comes due;
//! - [`Engine::catch_up`] with a certificate and batch fetched from a peer, after
//!   [`Output::Behind`];
//!
//! each with the current time, then drains [`Engine::poll_output`] and acts on every output in
//! order. [`Engine::recover`] rebuilds an engine after a restart from the write-ahead-log records
//! of the height in force.
//!
//! # Who decides what
//!
//! The core (`arc-malachitebft-core-consensus`) runs Tendermint: rounds, proposer turns, prevote
//! and precommit, locking, timeouts, round synchronization. It trusts what the host tells it,
//! so the engine checks everything before the core sees it:
//!
//! - a message must decode exactly (bounded sizes, a canonical batch whose ids ascend);
//! - a proposal must come from its round's proposer and carry a valid signature before its
//!   value is stored, and its batch is judged by the gate chain at the current time
//!   ([`Batch::check`](crate::Batch::check); a proposal this node pooled already is rechecked
//!   without verifying its signature twice, [`GateChain::recheck_at`]): the core is told the
//!   value is *invalid* if any proposal in it fails (signature, freshness, SNR or Ihsan
//!   thresholds, the caller's gates) or was decided at an earlier height, and then prevotes
//!   nil, so such a batch can never gather a quorum of honest prevotes;
//! - votes and certificates are checked by the core through this crate's verifiers (the same
//!   CONSENSUS-v1 signed bytes and `verify_strict` as [`Certificate::verify`]); votes for
//!   future heights are verified here first, so that unsigned junk cannot fill the core's
//!   bounded buffer.
//!
//! When this node is the round's proposer, the core asks for a value and the engine builds a
//! [`Batch`] from its pool (those envelopes that still pass the gate chain, in id
//! order, up to one batch's bounds; possibly empty, so that a height passes even when nothing
//! was proposed).
//!
//! # Write-ahead log
//!
//! Every input that changes what this node may sign is emitted as [`Output::Persist`] before
//! any message that depends on it: the runtime syncs it before sending later outputs. A node
//! restarted mid-height is rebuilt with [`Engine::recover`]: the core replays the records and
//! re-derives its own votes and proposals, reusing the recorded signatures instead of signing
//! afresh, and refuses to go on if a re-derived message differs from the recorded one (a
//! replay divergence). A restarted node therefore never signs two different votes for one
//! height, round and step.
//!
//! # Lost messages, laggards and catching up
//!
//! While a height is undecided the core re-sends this node's latest votes every `rebroadcast`
//! period of the document, so a lost vote is recovered; once the height is decided the node
//! goes quiet. A validator still voting at a height this node has decided, a rebroadcast period
//! after the decision, is answered ([`Output::Send`]) with this node's latest decision: the
//! certificate and the batch, which it verifies with [`Certificate::verify_batch`]. Of its own
//! height, it decides (it had lost the proposal, or seen an equivocator's other precommit
//! first, and could not assemble the decision from single votes); of a later height, it knows
//! it is behind.
//!
//! A node that was down or cut off sees validly signed messages of later heights and says so
//! ([`Output::Behind`], repeated every rebroadcast period while it lasts); its runtime fetches
//! the `(Certificate, Batch)` pairs of the missing heights from peers' storage, and
//! [`Engine::catch_up`] checks each with [`Certificate::verify_batch`] against the document
//! before reporting the height decided. A certificate is a quorum's precommits, so no honest
//! node can have decided otherwise.
//!
//! # Equivocation
//!
//! Two validly signed, conflicting votes or proposals from one validator for the same height,
//! round and step, which the core keeps as misbehaviour evidence, are reported once each as
//! [`Output::Evidence`], with both messages in the wire encoding so that anyone holding the
//! document can check them ([`Equivocation::verify`]).

mod evidence;
mod host;
mod output;
mod pool;
pub mod wire;
#[cfg(test)]
mod wire_vectors;

use std::collections::HashSet;
use std::sync::Arc;

use bizra_protocol::{Envelope, Error, GateChain, Identity, Result, Timestamp};
use malachitebft_core_consensus::{
    process, ConsensusMsg, Input, LocallyProposedValue, Params, ProposedValue, State, ValuePayload,
};
use malachitebft_core_types::{
    Round, SignedVote, ThresholdParams, Validity, ValueOrigin, VoteExtensionPolicy,
};

pub use evidence::{EvidenceCode, EvidenceError};
pub use output::{
    Equivocation, EquivocationKind, Output, Refusal, Refused, Stats, Timer, TimerKind, WalRecord,
};
pub use pool::MAX_POOLED;

use crate::batch::Batch;
use crate::certificate::Certificate;
use crate::context::{Address, BizraContext, Height, Value, MAX_HEIGHT};
use crate::document::FederationDocument;
use host::Host;
use pool::Pool;
use wire::Message;

/// Heights of inputs the core buffers ahead of its own (it keeps the lowest).
const BUFFERED_HEIGHTS: usize = 4;

/// What an engine needs.
#[derive(Clone)]
pub struct EngineConfig {
    /// The federation document in force: validators, powers, timeouts.
    pub document: Arc<FederationDocument>,
    /// This node's identity. A node whose key is not a validator of the document (or with no
    /// identity) is a follower: it decides with the federation but never votes or proposes.
    pub identity: Option<Arc<Identity>>,
    /// The gate chain every proposal in a batch must pass, under the federation's constitution.
    /// It is only consulted ([`GateChain::check_at`]), never admitted into, so give the engine
    /// a chain whose replay cache is not also fed by other admissions.
    pub gates: Arc<GateChain>,
}

impl std::fmt::Debug for EngineConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EngineConfig")
            .field("federation", &self.document.federation())
            .field("epoch", &self.document.epoch())
            .field(
                "identity",
                &self.identity.as_ref().map(|i| i.node_id().to_string()),
            )
            .finish_non_exhaustive()
    }
}

/// One node's consensus engine. Not `Sync`: one task drives it.
pub struct Engine {
    state: State<BizraContext>,
    host: Host,
    gates: Arc<GateChain>,
    pool: Pool,
    address: Address,
    now: Timestamp,
    started: bool,
    /// The highest height decided (or, after `start_height(h)`, taken as decided: h − 1).
    decided: u64,
    /// The highest height seen in a validly signed message above the current one.
    behind: Option<u64>,
    /// The latest decision, sent to validators still voting at its height or below.
    last_decision: Option<(Certificate, Batch)>,
    /// Validators sent the decision in this rebroadcast period.
    answered: HashSet<Address>,
    /// Rebroadcast periods that have passed (rebroadcast timers fired), and how many had when
    /// the latest decision was made.
    periods: u64,
    decision_period: u64,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("address", &self.address)
            .field("height", &self.height())
            .field("round", &self.round())
            .field("validator", &self.is_validator())
            .finish_non_exhaustive()
    }
}

fn core_error(e: impl std::fmt::Display) -> Error {
    Error::InvalidInput(format!("consensus core: {e}"))
}

impl Engine {
    /// An engine for `config`, not yet deciding anything (see [`Engine::start_height`]).
    /// Refuses a document whose total voting power times three does not fit 64 bits (the core
    /// compares powers in 64-bit arithmetic).
    pub fn new(config: EngineConfig) -> Result<Self> {
        let document = config.document;
        if document.total_power().checked_mul(3).is_none() {
            return Err(Error::InvalidInput(format!(
                "federation document: total voting power {} is above 2^64 / 3, which the \
                 consensus core cannot count",
                document.total_power()
            )));
        }
        let ctx = BizraContext::new(document.clone());
        let address = Address(
            config
                .identity
                .as_ref()
                .map_or([0; 32], |i| *i.public_key()),
        );
        let is_validator =
            config.identity.is_some() && document.validator(&address.to_hex()).is_some();
        let params = Params {
            address,
            threshold_params: ThresholdParams::default(),
            // The host delivers each value with its validity (`ProposedValue`); in
            // `ProposalOnly` mode the core would take every proposed value as valid.
            value_payload: ValuePayload::ProposalAndParts,
            enabled: is_validator,
        };
        let per_height = 16 * document.validators().len() + 64;
        let state = State::new(
            ctx.clone(),
            Height(1),
            ctx.validators().clone(),
            params,
            BUFFERED_HEIGHTS,
            per_height,
        );
        Ok(Engine {
            state,
            host: Host::new(ctx, config.identity),
            gates: config.gates,
            pool: Pool::default(),
            address,
            now: Timestamp::from_unix_millis(0).unwrap_or_else(Timestamp::now),
            started: false,
            decided: 0,
            behind: None,
            last_decision: None,
            answered: HashSet::new(),
            periods: 0,
            decision_period: 0,
        })
    }

    /// Rebuilds the engine of a node that restarted while deciding `height`, from the
    /// write-ahead-log records it persisted (records of other heights are skipped). The core
    /// replays them and re-derives this node's votes and proposals with their recorded
    /// signatures; a record that does not decode, or a re-derived message that differs from
    /// the recorded one, is an error naming the record.
    pub fn recover<R: AsRef<[u8]>>(
        config: EngineConfig,
        height: u64,
        records: impl IntoIterator<Item = R>,
        now: Timestamp,
    ) -> Result<Self> {
        let mut engine = Engine::new(config)?;
        let mut inputs = Vec::new();
        let mut log = HashSet::new();
        for (i, record) in records.into_iter().enumerate() {
            let bytes = record.as_ref();
            let (h, input) = wire::decode_record(bytes)
                .map_err(|e| Error::InvalidInput(format!("write-ahead log record {i}: {e}")))?;
            if h.0 == height {
                inputs.push((i, input));
                log.insert(bytes.to_vec());
            }
        }
        engine
            .state
            .index_wal_entries(inputs.iter().map(|(_, input)| input));
        engine.host.replay = Some(log);
        engine.start_height(height, now)?;
        for (i, input) in inputs {
            engine
                .feed(input)
                .map_err(|e| Error::InvalidInput(format!("write-ahead log record {i}: {e}")))?;
        }
        engine.state.reset_entries_index();
        engine.host.replay = None;
        // A value the core asked for during the replay is answered now, from what the replay
        // restored if this node had proposed already.
        engine.answer_get_value()?;
        Ok(engine)
    }

    /// Begins deciding `height` (from 1 to 2^53 − 1): every height below it is taken as decided.
    /// Refuses a height at or below one already begun or decided.
    pub fn start_height(&mut self, height: u64, now: Timestamp) -> Result<()> {
        self.now = now;
        if height == 0 || height > MAX_HEIGHT {
            return Err(Error::InvalidInput(format!(
                "height {height} is outside 1 to 2^53 - 1"
            )));
        }
        if height <= self.decided || (self.started && height <= self.height()) {
            return Err(Error::InvalidInput(format!(
                "height {height} is not after the current height {} (decided up to {})",
                self.height(),
                self.decided
            )));
        }
        self.started = true;
        self.decided = height - 1;
        self.answered.clear();
        self.host.quiet = false;
        self.host.enter_height(height);
        // Still behind: ask for the next height at once rather than after the next message.
        match self.behind {
            Some(seen) if seen > height => self
                .host
                .outputs
                .push_back(Output::Behind { from: height, seen }),
            _ => self.behind = None,
        }
        let validators = self.host.ctx.validators().clone();
        self.feed(Input::StartHeight(
            Height(height),
            validators,
            false,
            None,
            VoteExtensionPolicy::Disabled,
        ))
    }

    /// Pools a `bizra.proposal` envelope submitted to this node and forwards it to the other
    /// validators; `Ok(false)` if it was pooled already. Refused: an envelope that is not a
    /// proposal, that the gate chain refuses now, or that does not fit the pool.
    pub fn propose(&mut self, envelope: Envelope, now: Timestamp) -> Result<bool> {
        self.now = now;
        let bytes = wire::encode_submission(&envelope);
        if bytes.len() > wire::MAX_SUBMISSION_BYTES {
            return Err(Error::InvalidInput(format!(
                "envelope {} is {} bytes, at most {}",
                envelope.id(),
                bytes.len(),
                wire::MAX_SUBMISSION_BYTES
            )));
        }
        let added = self.pool.insert(envelope, &self.gates, now)?;
        if added {
            self.host.broadcast(bytes);
        }
        Ok(added)
    }

    /// Handles the bytes of one message from a peer. A refusal names what was wrong; a message
    /// handed to the core may still be dropped there (a bad vote signature is counted in
    /// [`Stats::bad_signatures`]).
    pub fn receive(&mut self, bytes: &[u8], now: Timestamp) -> std::result::Result<(), Refused> {
        self.now = now;
        self.host.stats.received += 1;
        let result = self.receive_inner(bytes);
        if result.is_err() {
            self.host.stats.refused += 1;
        }
        result
    }

    fn receive_inner(&mut self, bytes: &[u8]) -> std::result::Result<(), Refused> {
        let refuse = |reason, detail: String| Refused { reason, detail };
        let pool = &self.pool;
        let message = wire::decode_message_known(bytes, &|id| pool.known(id))
            .map_err(|e| refuse(Refusal::Malformed, e))?;
        let current = self.state.height().0;
        match message {
            Message::Submission(envelope) => {
                self.pool
                    .insert(*envelope, &self.gates, self.now)
                    .map_err(|e| refuse(Refusal::Submission, e.to_string()))?;
                Ok(())
            }
            Message::Vote(vote) => {
                let h = vote.message.height.0;
                let from = vote.message.validator;
                if h <= self.decided {
                    self.answer_laggard(from, h, |e| {
                        e.host.ctx.validators().get(&from).is_some_and(|v| {
                            let key = malachitebft_core_types::Validator::public_key(v);
                            e.host.ctx.verify_vote(&vote.message, key, &vote.signature)
                        })
                    });
                }
                self.check_height(h)?;
                let validator = self
                    .host
                    .ctx
                    .validators()
                    .get(&vote.message.validator)
                    .ok_or_else(|| {
                        refuse(
                            Refusal::UnknownValidator,
                            format!("vote signed by {}, not a validator", vote.message.validator),
                        )
                    })?;
                if h > current {
                    self.verify_ahead(&vote, validator.clone())?;
                }
                self.feed_message(Input::Vote(vote))
            }
            Message::Proposal(proposal) => {
                let p = &proposal.message;
                if p.height.0 <= self.decided {
                    self.answer_laggard(p.proposer, p.height.0, |e| {
                        let expected = e.host.ctx.validators().proposer(p.height.0, p.round);
                        let key = malachitebft_core_types::Validator::public_key(expected);
                        e.host.ctx.verify_proposal(p, key, &proposal.signature)
                    });
                }
                self.check_height(p.height.0)?;
                let expected = self.host.ctx.validators().proposer(p.height.0, p.round);
                if expected.key_hex() != p.proposer.to_hex() {
                    return Err(refuse(
                        Refusal::NotProposer,
                        format!(
                            "proposal for height {} round {} signed by {}; its proposer is {}",
                            p.height.0,
                            p.round,
                            p.proposer,
                            expected.key_hex()
                        ),
                    ));
                }
                let key = *malachitebft_core_types::Validator::public_key(expected);
                if !self.host.ctx.verify_proposal(p, &key, &proposal.signature) {
                    return Err(refuse(
                        Refusal::BadSignature,
                        format!(
                            "proposal for height {} round {}: the signature is not {}'s",
                            p.height.0, p.round, p.proposer
                        ),
                    ));
                }
                self.host
                    .known_good(ConsensusMsg::Proposal(p.clone()), proposal.signature);
                if p.height.0 > current {
                    self.note_ahead(p.height.0);
                }
                let batch = p.value.batch();
                let valid = self.pool.judge(batch, &self.gates, self.now).is_ok()
                    && self.pool.holds_decided(batch).is_none();
                let validity = if valid {
                    Validity::Valid
                } else {
                    self.host.stats.invalid_proposals += 1;
                    Validity::Invalid
                };
                let value = ProposedValue {
                    height: p.height,
                    round: Round::new(p.round),
                    valid_round: p.pol_round,
                    proposer: p.proposer,
                    value: p.value.clone(),
                    validity,
                };
                self.feed_message(Input::Proposal(proposal))?;
                self.feed_message(Input::ProposedValue(value, ValueOrigin::Consensus))
            }
            Message::Decision(decision) => {
                let h = decision.height;
                self.check_height(h)?;
                let certificate = decision.certificate(self.host.ctx.document());
                let batch = decision.batch.batch();
                certificate
                    .verify_batch(batch, self.host.ctx.document())
                    .map_err(|e| refuse(Refusal::BadCertificate, e.to_string()))?;
                if h == current && self.started {
                    self.decide(certificate, batch.clone());
                } else if h > current {
                    self.note_ahead(h);
                }
                Ok(())
            }
            Message::Polka(certificate) => {
                self.check_height(certificate.height.0)?;
                self.check_signers(certificate.polka_signatures.len())?;
                self.feed_message(Input::PolkaCertificate(certificate))
            }
            Message::RoundCertificate(certificate) => {
                self.check_height(certificate.height.0)?;
                self.check_signers(certificate.round_signatures.len())?;
                self.feed_message(Input::RoundCertificate(certificate))
            }
        }
    }

    fn check_height(&self, height: u64) -> std::result::Result<(), Refused> {
        if height <= self.decided {
            return Err(Refused {
                reason: Refusal::PastHeight,
                detail: format!("height {height} is decided here (up to {})", self.decided),
            });
        }
        Ok(())
    }

    fn check_signers(&self, count: usize) -> std::result::Result<(), Refused> {
        let n = self.host.ctx.document().validators().len();
        if count > n {
            return Err(Refused {
                reason: Refusal::Malformed,
                detail: format!(
                    "a certificate of {count} signatures; the federation has {n} validators"
                ),
            });
        }
        Ok(())
    }

    /// Verifies a vote of a future height before the core buffers it, and notes that the
    /// federation is ahead.
    fn verify_ahead(
        &mut self,
        vote: &SignedVote<BizraContext>,
        validator: crate::context::Validator,
    ) -> std::result::Result<(), Refused> {
        let key = malachitebft_core_types::Validator::public_key(&validator);
        if !self
            .host
            .ctx
            .verify_vote(&vote.message, key, &vote.signature)
        {
            return Err(Refused {
                reason: Refusal::BadSignature,
                detail: format!(
                    "vote for height {} round {}: the signature is not {}'s",
                    vote.message.height.0, vote.message.round, vote.message.validator
                ),
            });
        }
        self.host
            .known_good(ConsensusMsg::Vote(vote.message.clone()), vote.signature);
        self.note_ahead(vote.message.height.0);
        Ok(())
    }

    fn note_ahead(&mut self, seen: u64) {
        if !self.started {
            return;
        }
        let first = self.behind.is_none();
        if self.behind.is_none_or(|b| seen > b) {
            self.behind = Some(seen);
        }
        if first {
            self.host.outputs.push_back(Output::Behind {
                from: self.decided + 1,
                seen,
            });
        }
    }

    fn feed_message(&mut self, input: Input<BizraContext>) -> std::result::Result<(), Refused> {
        self.feed(input).map_err(|e| Refused {
            reason: Refusal::Core,
            detail: e.to_string(),
        })
    }

    /// Handles a timer that came due. Timers cancelled, replaced or of another height are
    /// ignored.
    pub fn handle_timer(&mut self, timer: Timer, now: Timestamp) -> Result<()> {
        self.now = now;
        if !self.host.fire(&timer) {
            return Ok(());
        }
        if timer.kind() == TimerKind::Rebroadcast {
            self.periods += 1;
            self.answered.clear();
            if let Some(seen) = self.behind {
                self.host.outputs.push_back(Output::Behind {
                    from: self.decided + 1,
                    seen,
                });
            }
        }
        self.feed(Input::TimeoutElapsed(timer.timeout))
    }

    /// Answers a validator that is still voting at a height this node has decided: it lost
    /// the proposal, or saw an equivocator's other precommit first, and cannot assemble the
    /// decision from single votes; or it was cut off, and the federation may be waiting before
    /// its next height, sending nothing it could catch up from. It is sent this node's latest
    /// decision (certificate and batch): of its own height, it decides; of a later one, it knows
    /// to catch up. Only once a rebroadcast period has passed since the decision (until then,
    /// votes of the decided height are the rest of the quorum arriving, not a laggard's), at
    /// most once per validator per period (a laggard re-sends its votes every period, so a
    /// lost answer is asked for again), and only for a message whose signature `verify`
    /// confirms, so that no one can direct answers at a validator.
    fn answer_laggard(
        &mut self,
        validator: Address,
        height: u64,
        verify: impl FnOnce(&Self) -> bool,
    ) {
        if validator == self.address
            || self.periods <= self.decision_period
            || self.answered.contains(&validator)
        {
            return;
        }
        let Some((certificate, batch)) = &self.last_decision else {
            return;
        };
        if certificate.height() < height || !verify(self) {
            return;
        }
        let bytes = wire::encode_decision(certificate, batch);
        self.answered.insert(validator);
        self.host.outputs.push_back(Output::Send {
            to: validator.0,
            bytes,
        });
    }

    /// Takes a decided height from a peer: `certificate` must verify against the document with
    /// `batch` as its value ([`Certificate::verify_batch`]). Returns `Ok(true)` and reports
    /// [`Output::Decided`] if it decides the current height, `Ok(false)` for a height already
    /// decided; a later height is refused (catch up one height at a time, calling
    /// [`Engine::start_height`] after each).
    pub fn catch_up(
        &mut self,
        certificate: &Certificate,
        batch: &Batch,
        now: Timestamp,
    ) -> Result<bool> {
        self.now = now;
        certificate.verify_batch(batch, self.host.ctx.document())?;
        let h = certificate.height();
        if h <= self.decided {
            return Ok(false);
        }
        if !self.started || h != self.height() {
            return Err(Error::InvalidInput(format!(
                "a certificate for height {h}, but this node decides height {} next",
                self.decided + 1
            )));
        }
        self.decide(certificate.clone(), batch.clone());
        Ok(true)
    }

    /// Remembers a batch decided before this engine was built (after a restart, hand it the
    /// batches of the last hour's heights from storage), so that none of its proposals is
    /// pooled or decided again.
    pub fn remember_decided(&mut self, batch: &Batch, now: Timestamp) {
        self.now = now;
        self.pool.remove_decided(batch, now);
    }

    /// The next output to act on, in order.
    pub fn poll_output(&mut self) -> Option<Output> {
        self.host.outputs.pop_front()
    }

    /// The height being decided (1 before [`Engine::start_height`]).
    pub fn height(&self) -> u64 {
        self.state.height().0
    }

    /// The round in progress (0 before the height starts).
    pub fn round(&self) -> u32 {
        self.state.round().as_u32().unwrap_or(0)
    }

    /// The highest height decided.
    pub fn decided(&self) -> u64 {
        self.decided
    }

    /// Whether this node votes (its key is a validator of the document).
    pub fn is_validator(&self) -> bool {
        self.state.is_active_validator()
    }

    /// How many submitted envelopes wait in the pool.
    pub fn pending(&self) -> usize {
        self.pool.len()
    }

    /// What the engine has seen and done.
    pub fn stats(&self) -> &Stats {
        &self.host.stats
    }

    /// The federation document in force.
    pub fn document(&self) -> &FederationDocument {
        self.host.ctx.document()
    }

    /// Runs one input through the core, then what it leads to: decisions to report, evidence
    /// to surface, a value to propose.
    fn feed(&mut self, input: Input<BizraContext>) -> Result<()> {
        let mut next = Some(input);
        while let Some(input) = next.take() {
            let host = &mut self.host;
            let result: std::result::Result<(), malachitebft_core_consensus::Error<BizraContext>> = process!(
                input: input,
                state: &mut self.state,
                metrics: &(),
                with: effect => Ok::<_, std::convert::Infallible>(host.handle(effect))
            );
            result.map_err(core_error)?;
            self.report_decisions();
            self.report_evidence();
            next = self.value_to_propose()?;
        }
        Ok(())
    }

    fn report_decisions(&mut self) {
        for commit in std::mem::take(&mut self.host.decisions) {
            if commit.height.0 <= self.decided {
                continue;
            }
            let value = match self.state.decided_value() {
                Some((_, v)) if malachitebft_core_types::Value::id(&v) == commit.value_id => v,
                _ => match self.state.get_proposed_value_by_id(
                    commit.height,
                    commit.round,
                    &commit.value_id,
                ) {
                    Some(pv) => pv.value,
                    // The core decides only a value it holds.
                    None => continue,
                },
            };
            let certificate = self.host.ctx.certificate(&commit);
            self.decide(certificate, value.batch().clone());
        }
    }

    fn decide(&mut self, certificate: Certificate, batch: Batch) {
        self.decided = certificate.height();
        self.host.stats.decided += 1;
        self.pool.remove_decided(&batch, self.now);
        self.last_decision = Some((certificate.clone(), batch.clone()));
        self.decision_period = self.periods;
        // Decided: the core's rebroadcasts of this node's votes are no longer needed (a peer
        // still voting is answered with the decision instead), and would make every decided
        // node answer every other.
        self.host.quiet = true;
        self.host
            .outputs
            .push_back(Output::Decided { certificate, batch });
    }

    fn report_evidence(&mut self) {
        let votes = self.state.driver.votes().evidence();
        if !votes.is_empty() {
            for (_, pairs) in votes.iter() {
                for (a, b) in pairs {
                    self.host.report_votes(a, b);
                }
            }
        }
        let proposals = self.state.driver.proposals().evidence();
        if !proposals.is_empty() {
            for (_, pairs) in proposals.iter() {
                for (a, b) in pairs {
                    self.host.report_proposals(a, b);
                }
            }
        }
    }

    /// The `Propose` input answering the core's request for a value, if it asked and is still
    /// in that round. During a replay the answer waits until the log is replayed (the log may
    /// hold the proposal this node made).
    fn value_to_propose(&mut self) -> Result<Option<Input<BizraContext>>> {
        if self.host.replay.is_some() {
            return Ok(None);
        }
        let Some((height, round)) = self.host.get_value.take() else {
            return Ok(None);
        };
        if self.state.height() != height || self.state.round() != round {
            return Ok(None);
        }
        // Proposed already (restored by a replay): the core holds it, and proposing anything
        // else in this round would be an equivocation.
        if self
            .state
            .full_proposal_at_round_and_proposer(&height, round, &self.address)
            .is_some()
        {
            return Ok(None);
        }
        let batch = self.pool.build(&self.gates, self.now)?;
        let value = Value(Arc::new(batch));
        Ok(Some(Input::Propose(LocallyProposedValue::new(
            height, round, value,
        ))))
    }

    fn answer_get_value(&mut self) -> Result<()> {
        if let Some(input) = self.value_to_propose()? {
            self.feed(input)?;
        }
        Ok(())
    }
}
