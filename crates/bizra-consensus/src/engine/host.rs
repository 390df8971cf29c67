//! The host side of Malachite's effect/resume protocol: every effect the core yields is
//! answered here, at once and without I/O. What needs I/O (sending, persisting, timers) becomes
//! an [`Output`] for the runtime; what needs the engine's other state (building a value for
//! `GetValue`, reading a decided value) is noted and done after the core returns.

use std::collections::{HashSet, VecDeque};
use std::sync::Arc;

use bizra_protocol::Identity;
use malachitebft_core_consensus::{
    ConsensusMsg, Effect, Input, LivenessMsg, Resumable, Resume, SignedConsensusMsg,
};
use malachitebft_core_types::{
    CommitCertificate, Round, SignedProposal, SignedVote, Timeout, Timeouts as _, VoteType,
};

use super::output::{Equivocation, EquivocationKind, Output, Stats, Timer, WalRecord};
use super::wire;
use crate::context::{BizraContext, Height, Signature};

pub(crate) struct Host {
    pub ctx: BizraContext,
    pub identity: Option<Arc<Identity>>,
    pub outputs: VecDeque<Output>,
    /// The height timers are set for (the height the core is in).
    pub height: u64,
    /// Armed timers and the sequence number of the latest setting of each; a few at a time.
    armed: Vec<(Timeout, u64)>,
    next_seq: u64,
    /// The core asked for a value to propose at this height and round.
    pub get_value: Option<(Height, Round)>,
    /// Decisions the core announced, to report once it returns.
    pub decisions: Vec<CommitCertificate<BizraContext>>,
    /// While replaying a write-ahead log: the records it holds, which are not written again.
    pub replay: Option<HashSet<Vec<u8>>>,
    /// Once the height is decided: the core's periodic re-sending of votes is dropped.
    pub quiet: bool,
    /// Equivocations already reported at this height, by the hash of the pair.
    reported: HashSet<[u8; 32]>,
    /// Messages whose signatures are known good (signed here, or verified by the engine just
    /// before the core asks): the core verifies every message it is given, this node's own
    /// included, and these need no second verification.
    verified: VecDeque<(ConsensusMsg<BizraContext>, Signature)>,
    pub stats: Stats,
}

/// How many known-good messages are remembered: the core asks about a message right after it
/// was signed or pre-verified.
const VERIFIED_KEPT: usize = 8;

impl Host {
    pub fn new(ctx: BizraContext, identity: Option<Arc<Identity>>) -> Self {
        Host {
            ctx,
            identity,
            outputs: VecDeque::new(),
            height: 0,
            armed: Vec::new(),
            next_seq: 0,
            get_value: None,
            decisions: Vec::new(),
            replay: None,
            quiet: false,
            reported: HashSet::new(),
            verified: VecDeque::new(),
            stats: Stats::default(),
        }
    }

    /// A new height: no timers or evidence carry over.
    pub fn enter_height(&mut self, height: u64) {
        self.height = height;
        self.cancel_all();
        self.reported.clear();
        self.verified.clear();
        self.get_value = None;
    }

    /// Notes that `signature` over `message` is good (it was just signed or verified here).
    pub fn known_good(&mut self, message: ConsensusMsg<BizraContext>, signature: Signature) {
        if self.verified.len() == VERIFIED_KEPT {
            self.verified.pop_front();
        }
        self.verified.push_back((message, signature));
    }

    fn is_known_good(&self, message: &ConsensusMsg<BizraContext>, signature: &Signature) -> bool {
        self.verified
            .iter()
            .any(|(m, s)| s == signature && m == message)
    }

    /// Whether `timer` is the latest setting of an armed timer; if so it is disarmed.
    pub fn fire(&mut self, timer: &Timer) -> bool {
        if timer.height != self.height {
            return false;
        }
        match self
            .armed
            .iter()
            .position(|(t, seq)| *t == timer.timeout && *seq == timer.seq)
        {
            Some(i) => {
                self.armed.swap_remove(i);
                true
            }
            None => false,
        }
    }

    pub fn broadcast(&mut self, bytes: Vec<u8>) {
        self.stats.broadcasts += 1;
        self.outputs.push_back(Output::Broadcast(bytes));
    }

    fn schedule(&mut self, timeout: Timeout) {
        let after = self.ctx.document().timeouts().duration_for(timeout);
        self.next_seq += 1;
        let seq = self.next_seq;
        match self.armed.iter_mut().find(|(t, _)| *t == timeout) {
            Some(slot) => slot.1 = seq,
            None => self.armed.push((timeout, seq)),
        }
        let timer = Timer {
            height: self.height,
            timeout,
            seq,
        };
        self.outputs.push_back(Output::Schedule { timer, after });
    }

    fn cancel(&mut self, timeout: Timeout) {
        if let Some(i) = self.armed.iter().position(|(t, _)| *t == timeout) {
            let (timeout, seq) = self.armed.remove(i);
            self.outputs.push_back(Output::Cancel(Timer {
                height: self.height,
                timeout,
                seq,
            }));
        }
    }

    fn cancel_all(&mut self) {
        for (timeout, seq) in std::mem::take(&mut self.armed) {
            self.outputs.push_back(Output::Cancel(Timer {
                height: self.height,
                timeout,
                seq,
            }));
        }
    }

    fn persist(&mut self, height: Height, input: &Input<BizraContext>) {
        let Some(bytes) = wire::encode_record(height, input) else {
            return;
        };
        if self.replay.as_ref().is_some_and(|log| log.contains(&bytes)) {
            return;
        }
        self.stats.persisted += 1;
        self.outputs.push_back(Output::Persist(WalRecord {
            height: height.0,
            bytes,
        }));
    }

    fn sign(&self, what: impl FnOnce(&Identity) -> Signature) -> Signature {
        // The core asks for signatures only when this node is an active validator, which
        // requires an identity; a follower never gets here.
        match &self.identity {
            Some(id) => what(id),
            None => Signature([0; 64]),
        }
    }

    /// Reports a pair of conflicting votes once.
    pub fn report_votes(
        &mut self,
        first: &SignedVote<BizraContext>,
        second: &SignedVote<BizraContext>,
    ) {
        let (a, b) = (wire::encode_vote(first), wire::encode_vote(second));
        let kind = match first.message.vote_type {
            VoteType::Prevote => EquivocationKind::Prevote,
            VoteType::Precommit => EquivocationKind::Precommit,
        };
        let v = &first.message;
        self.report(v.validator.to_hex(), v.height.0, v.round, kind, a, b);
    }

    /// Reports a pair of conflicting proposals once.
    pub fn report_proposals(
        &mut self,
        first: &SignedProposal<BizraContext>,
        second: &SignedProposal<BizraContext>,
    ) {
        let (a, b) = (wire::encode_proposal(first), wire::encode_proposal(second));
        let p = &first.message;
        let kind = EquivocationKind::Proposal;
        self.report(p.proposer.to_hex(), p.height.0, p.round, kind, a, b);
    }

    fn report(
        &mut self,
        validator: String,
        height: u64,
        round: u32,
        kind: EquivocationKind,
        first: Vec<u8>,
        second: Vec<u8>,
    ) {
        // One report per unordered pair.
        let (lo, hi) = if first <= second {
            (&first, &second)
        } else {
            (&second, &first)
        };
        let mut h = blake3::Hasher::new();
        h.update(&(lo.len() as u64).to_be_bytes());
        h.update(lo);
        h.update(hi);
        if !self.reported.insert(*h.finalize().as_bytes()) {
            return;
        }
        self.outputs.push_back(Output::Evidence(Equivocation {
            validator,
            height,
            round,
            kind,
            first,
            second,
        }));
    }

    /// Answers one effect of the core.
    pub fn handle(&mut self, effect: Effect<BizraContext>) -> Resume<BizraContext> {
        match effect {
            Effect::CancelAllTimeouts(r) => {
                self.cancel_all();
                r.resume_with(())
            }
            Effect::CancelTimeout(timeout, r) => {
                self.cancel(timeout);
                r.resume_with(())
            }
            Effect::ScheduleTimeout(timeout, r) => {
                self.schedule(timeout);
                r.resume_with(())
            }
            Effect::StartRound(_, _, _, _, r) => r.resume_with(()),
            Effect::PublishConsensusMsg(msg, r) => {
                let bytes = match &msg {
                    SignedConsensusMsg::Vote(v) => wire::encode_vote(v),
                    SignedConsensusMsg::Proposal(p) => wire::encode_proposal(p),
                };
                self.broadcast(bytes);
                r.resume_with(())
            }
            Effect::PublishLivenessMsg(msg, r) => {
                let bytes = match &msg {
                    LivenessMsg::Vote(v) => wire::encode_vote(v),
                    LivenessMsg::PolkaCertificate(c) => wire::encode_polka(c),
                    LivenessMsg::SkipRoundCertificate(c) => wire::encode_round_certificate(c),
                };
                self.broadcast(bytes);
                r.resume_with(())
            }
            Effect::RepublishVote(vote, r) => {
                if !self.quiet {
                    self.broadcast(wire::encode_vote(&vote));
                }
                r.resume_with(())
            }
            Effect::RepublishRoundCertificate(c, r) => {
                if !self.quiet {
                    self.broadcast(wire::encode_round_certificate(&c));
                }
                r.resume_with(())
            }
            Effect::GetValue(height, round, _timeout, r) => {
                self.get_value = Some((height, round));
                r.resume_with(())
            }
            // Our proposal message carries the whole batch, and the core publishes the proposal
            // right after asking for this: there is nothing else to stream.
            Effect::RestreamProposal(_, _, _, _, _, r) => r.resume_with(()),
            // The engine never feeds the core's sync inputs (catching up goes through verified
            // certificates instead), so these never come.
            Effect::CertVerifiedSyncValue(_, _, r) => r.resume_with(()),
            Effect::CertRejectedSyncValue(_, _, _, r) => r.resume_with(()),
            Effect::Decide(certificate, _extensions, r) => {
                self.decisions.push(certificate);
                r.resume_with(())
            }
            Effect::SignVote(vote, r) => {
                let ctx = self.ctx.clone();
                let signature = self.sign(|id| ctx.sign_vote(id, &vote));
                self.known_good(ConsensusMsg::Vote(vote.clone()), signature);
                r.resume_with(SignedVote::new(vote, signature))
            }
            Effect::SignProposal(proposal, r) => {
                let ctx = self.ctx.clone();
                let signature = self.sign(|id| ctx.sign_proposal(id, &proposal));
                self.known_good(ConsensusMsg::Proposal(proposal.clone()), signature);
                r.resume_with(SignedProposal::new(proposal, signature))
            }
            Effect::VerifySignature(signed, _, r)
                if self.is_known_good(&signed.message, &signed.signature) =>
            {
                r.resume_with(true)
            }
            Effect::VerifySignature(signed, key, r) => {
                let ok = match &signed.message {
                    ConsensusMsg::Vote(v) => self.ctx.verify_vote(v, &key, &signed.signature),
                    ConsensusMsg::Proposal(p) => {
                        self.ctx.verify_proposal(p, &key, &signed.signature)
                    }
                };
                if !ok {
                    self.stats.bad_signatures += 1;
                }
                r.resume_with(ok)
            }
            Effect::VerifyCommitCertificate(c, _, _, r) => {
                r.resume_with(self.ctx.verify_commit(&c))
            }
            Effect::VerifyExtendedCommitCertificate(c, _, _, _, r) => {
                r.resume_with(self.ctx.verify_commit(&c.trim_vote_extensions()))
            }
            Effect::VerifyPolkaCertificate(c, _, _, r) => r.resume_with(self.ctx.verify_polka(&c)),
            Effect::VerifyRoundCertificate(c, _, _, r) => r.resume_with(self.ctx.verify_round(&c)),
            Effect::WalAppend(height, input, r) => {
                self.persist(height, &input);
                r.resume_with(())
            }
            // Vote extensions are disabled: the core asks for none, and refuses a precommit
            // that carries one before asking about it.
            Effect::ExtendVote(_, _, _, _, r) => r.resume_with(None),
            Effect::VerifyVoteExtension(_, _, _, _, _, _, r) => r.resume_with(Err(
                malachitebft_core_consensus::VoteExtensionError::InvalidVoteExtension,
            )),
            Effect::Finalize(_certificate, _extensions, evidence, r) => {
                for (_, pairs) in evidence.votes.iter() {
                    for (a, b) in pairs {
                        self.report_votes(a, b);
                    }
                }
                for (_, pairs) in evidence.proposals.iter() {
                    for (a, b) in pairs {
                        self.report_proposals(a, b);
                    }
                }
                r.resume_with(())
            }
        }
    }
}
