//! Consensus on a node: the sans-IO engine of `bizra-consensus` driven over authenticated TCP
//! links ([`link`]), the node's timers, and a write-ahead log and decided-height store in the
//! data directory ([`store`]).
//!
//! The node's thread runs it beside the membership, which supplies only addresses: who votes,
//! and with what power, is the federation document's to say.
//!
//! Links: a validator dials the validators whose keys sort after its own, a follower dials
//! every validator, and every node accepts links from the keys its federation admits; so each
//! pair of validators shares one link, and a follower hears every broadcast. A dial that fails
//! is retried every [`REDIAL`].
//!
//! Catching up: when the engine reports [`Output::Behind`], the node asks one linked validator
//! (a different one each time) for up to [`FETCH_COUNT`] decided heights, which arrive as
//! decision messages that the engine checks against the document like any other.

pub(crate) mod link;
pub(crate) mod store;

use std::collections::{HashMap, VecDeque};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use bizra_consensus::engine::wire::{self, encode_decision};
use bizra_consensus::{
    Batch, Certificate, Engine, EngineConfig, Equivocation, FederationDocument, Output, Stats,
    Timer,
};
use bizra_federation::{MemberInfo, MemberState};
use bizra_protocol::{Envelope, Error, GateChain, Identity, Result, Timestamp};
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::timers::Timers;
use link::{Kind, LinkEvent, Links, Outbox};
use store::Store;

/// How long after a failed dial a validator is dialed again.
pub(crate) const REDIAL: Duration = Duration::from_secs(1);
/// Decided heights asked for at once when catching up.
pub(crate) const FETCH_COUNT: u32 = 64;
/// The most bytes of decisions sent in answer to one fetch (the asker asks again for more).
const FETCH_BYTES: usize = 16 << 20;
/// Submissions read from links and waiting to be judged, at most; beyond, they are judged as
/// they come (and TCP slows their senders).
const DEFERRED_MAX: usize = 65_536;
/// Bytes of the submissions waiting to be judged, at most, as for [`DEFERRED_MAX`]: a
/// submission may be as large as a consensus message (8 MiB), and 65,536 of those would not
/// fit in any node's memory.
const DEFERRED_BYTES: usize = 64 << 20;
/// Waiting submissions judged in one turn of the node's loop, between which votes and proposals
/// are handled: a flood of submissions (each a signature check) cannot hold up a round.
const SUBMISSIONS_PER_TURN: usize = 32;
/// Decided batches handed back to the engine after a restart, so that their proposals are
/// never pooled again (older ones have expired under any reasonable TTL).
const REMEMBERED_HEIGHTS: u64 = 1024;

/// What a node needs to take part in consensus.
#[derive(Clone)]
pub struct ConsensusConfig {
    /// The federation document in force: its federation must be the node's.
    pub document: Arc<FederationDocument>,
    /// The gate chain every proposal of a batch must pass (under the federation's
    /// constitution). Consulted, never admitted into.
    pub gates: Arc<GateChain>,
}

impl std::fmt::Debug for ConsensusConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConsensusConfig")
            .field("federation", &self.document.federation())
            .field("epoch", &self.document.epoch())
            .field("validators", &self.document.validators().len())
            .finish_non_exhaustive()
    }
}

/// What consensus tells a node's subscribers, in order.
#[derive(Clone, Debug)]
pub enum ConsensusEvent {
    /// The federation decided `batch` at the certificate's height (this node stored both).
    Decided {
        /// More than two thirds of the voting power precommitted the batch.
        certificate: Certificate,
        /// The decided proposals.
        batch: Batch,
    },
    /// A validator signed two conflicting messages: evidence anyone can check.
    Evidence(Equivocation),
}

/// Where a node's consensus stands.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ConsensusStatus {
    /// The height being decided.
    pub height: u64,
    /// Its round.
    pub round: u32,
    /// The highest height decided (and stored).
    pub decided: u64,
    /// Submitted proposals waiting for a batch.
    pub pending: usize,
    /// Whether this node votes.
    pub validator: bool,
    /// Peers (validators and followers) with an authenticated link.
    pub linked: usize,
    /// What the engine has seen and done.
    pub engine: Stats,
    /// Frames not sent because a link's queue was full (1,024 frames or 32 MiB).
    pub frames_dropped: u64,
    /// Why consensus stopped on this node (its storage failed), if it did: it no longer
    /// votes, since it could not log first.
    pub failure: Option<String>,
}

/// A link's id and the queue of frames to write to it.
type LinkTx = (u64, Outbox);

enum Dial {
    Pending,
    RetryAt(Instant),
}

/// The consensus part of a node's driver.
pub(crate) struct Consensus {
    engine: Option<Engine>,
    store: Store,
    links: Arc<Links>,
    /// The validators this node dials.
    dial_targets: Vec<[u8; 32]>,
    validators: Vec<[u8; 32]>,
    peers: HashMap<[u8; 32], Vec<LinkTx>>,
    dials: HashMap<[u8; 32], Dial>,
    pub(crate) timers: Timers<Timer>,
    fetch_turn: usize,
    /// The height to start once there is something to decide: a pooled proposal, or a message
    /// of that height from a validator that started it. An idle federation decides nothing
    /// (no empty heights) and sends nothing.
    next: Option<u64>,
    /// Submissions read but not yet judged (see [`SUBMISSIONS_PER_TURN`]).
    deferred: VecDeque<Vec<u8>>,
    /// The bytes of `deferred`.
    deferred_bytes: usize,
    events: Vec<ConsensusEvent>,
    frames_dropped: u64,
    failure: Option<String>,
}

fn now() -> Timestamp {
    Timestamp::now()
}

impl Consensus {
    /// Opens the storage in `data_dir/consensus`, rebuilds the engine from it (the write-ahead
    /// log of the height in force, the batches of the last decided heights) and starts the
    /// next height. Call within the node's runtime: the listener is registered with it and
    /// its task spawned.
    pub(crate) fn start(
        config: ConsensusConfig,
        identity: Arc<Identity>,
        data_dir: &Path,
        federation: [u8; 32],
        admission: bizra_federation::Admission,
        listener: std::net::TcpListener,
    ) -> Result<(Consensus, mpsc::Receiver<LinkEvent>)> {
        let mut store = Store::open(&data_dir.join("consensus"))?;
        let engine_config = EngineConfig {
            document: config.document.clone(),
            identity: Some(identity.clone()),
            gates: config.gates,
        };
        let next = store.last_decided() + 1;
        let records = store.wal_records();
        let t = now();
        // Stopped mid-height: resume it at once. Otherwise wait, like after a decision.
        let (mut engine, waiting) = if records.iter().any(|r| r.height == next) {
            let engine = Engine::recover(engine_config, next, records.iter().map(|r| &r.bytes), t)?;
            (engine, None)
        } else {
            (Engine::new(engine_config)?, Some(next))
        };
        for h in next.saturating_sub(REMEMBERED_HEIGHTS).max(1)..next {
            if let Some((_, batch)) = store.get(h)? {
                engine.remember_decided(&batch, t);
            }
        }
        let own = *identity.public_key();
        let validators: Vec<[u8; 32]> = config
            .document
            .validators()
            .iter()
            .map(|v| *v.key().as_bytes())
            .collect();
        let dial_targets = validators
            .iter()
            .filter(|k| **k != own && (!engine.is_validator() || **k > own))
            .copied()
            .collect();
        listener
            .set_nonblocking(true)
            .map_err(|e| Error::io("consensus listener", e))?;
        let listener = tokio::net::TcpListener::from_std(listener)
            .map_err(|e| Error::io("consensus listener", e))?;
        let (tx, rx) = mpsc::channel(link::READ_BACKLOG);
        let links = Links::new(identity, federation, admission, tx);
        tokio::spawn(links.clone().listen(listener));
        Ok((
            Consensus {
                engine: Some(engine),
                store,
                links,
                dial_targets,
                validators,
                peers: HashMap::new(),
                dials: HashMap::new(),
                timers: Timers::default(),
                fetch_turn: 0,
                next: waiting,
                deferred: VecDeque::new(),
                deferred_bytes: 0,
                events: Vec::new(),
                frames_dropped: 0,
                failure: None,
            },
            rx,
        ))
    }

    /// Dials the validators this node should link to and has an address for.
    pub(crate) fn connect(&mut self, members: &[MemberInfo]) {
        let now = Instant::now();
        for key in &self.dial_targets {
            if self.peers.contains_key(key) {
                continue;
            }
            match self.dials.get(key) {
                Some(Dial::Pending) => continue,
                Some(Dial::RetryAt(at)) if *at > now => continue,
                _ => {}
            }
            let Some(addr) = members
                .iter()
                .find(|m| {
                    m.public_key == *key
                        && matches!(m.state, MemberState::Alive | MemberState::Suspect)
                })
                .map(|m| m.addr)
            else {
                continue;
            };
            self.dials.insert(*key, Dial::Pending);
            // Links listen on TCP at the port number of the advertised UDP address.
            tokio::spawn(self.links.clone().dial(*key, addr));
        }
    }

    /// Handles what a link reported.
    pub(crate) fn on_link(&mut self, event: LinkEvent) {
        match event {
            LinkEvent::Up { key, id, tx } => {
                self.dials.remove(&key);
                // Waiting for a reason to start the next height: ask whether the federation
                // decided it (and later ones) already, as after a restart it may have.
                if let Some(next) = self.next {
                    if self.validators.contains(&key) {
                        tx.push(link::fetch(next, FETCH_COUNT));
                    }
                }
                self.peers.entry(key).or_default().push((id, tx));
            }
            LinkEvent::Down { key, id: 0 } => {
                self.dials
                    .insert(key, Dial::RetryAt(Instant::now() + REDIAL));
            }
            LinkEvent::Down { key, id } => {
                if let Some(links) = self.peers.get_mut(&key) {
                    links.retain(|(i, _)| *i != id);
                    if links.is_empty() {
                        self.peers.remove(&key);
                    }
                }
            }
            LinkEvent::Frame {
                kind: Kind::Message,
                body,
                ..
            } if wire::is_submission(&body)
                && self.deferred.len() < DEFERRED_MAX
                && self.deferred_bytes + body.len() <= DEFERRED_BYTES =>
            {
                self.deferred_bytes += body.len();
                self.deferred.push_back(body);
            }
            LinkEvent::Frame {
                kind: Kind::Message,
                body,
                ..
            } => {
                if let Some(engine) = &mut self.engine {
                    // A peer is at the height this node waits to start (the hint is checked
                    // with the message itself).
                    if let Some(next) = self.next {
                        if wire::height_of(&body).is_some_and(|h| h >= next) {
                            self.next = None;
                            if let Err(e) = engine.start_height(next, now()) {
                                self.fail(e);
                                return;
                            }
                        }
                    }
                    let Some(engine) = &mut self.engine else {
                        return;
                    };
                    // A refusal is counted by the engine; nothing is answered.
                    let _ = engine.receive(&body, now());
                }
            }
            LinkEvent::Frame {
                key,
                id,
                kind: Kind::Fetch,
                body,
                ..
            } => {
                if let Some((from, count)) = link::parse_fetch(&body) {
                    self.answer_fetch(key, id, from, count.min(FETCH_COUNT));
                }
            }
        }
        self.drain();
    }

    /// Whether submissions wait to be judged.
    pub(crate) fn has_deferred(&self) -> bool {
        !self.deferred.is_empty()
    }

    /// Judges some of the waiting submissions.
    pub(crate) fn judge_deferred(&mut self) {
        for _ in 0..SUBMISSIONS_PER_TURN {
            let (Some(engine), Some(body)) = (&mut self.engine, self.deferred.pop_front()) else {
                break;
            };
            self.deferred_bytes -= body.len();
            // A refusal is counted by the engine; nothing is answered.
            let _ = engine.receive(&body, now());
        }
        self.drain();
    }

    /// Handles a timer that came due.
    pub(crate) fn on_timer(&mut self, timer: Timer) {
        if let Some(engine) = &mut self.engine {
            // An error here is the core refusing to go on with this input; the engine stays
            // usable and its next timers or messages move it on.
            let _ = engine.handle_timer(timer, now());
        }
        self.drain();
    }

    /// Pools a submitted proposal and forwards it to the other validators.
    pub(crate) fn propose(&mut self, envelope: Envelope) -> Result<bool> {
        let engine = self.engine.as_mut().ok_or_else(|| {
            Error::InvalidInput(format!(
                "consensus stopped on this node: {}",
                self.failure.as_deref().unwrap_or("unknown")
            ))
        })?;
        let added = engine.propose(envelope, now())?;
        self.drain();
        Ok(added)
    }

    /// A decided height's certificate and batch, from storage.
    pub(crate) fn decided(&mut self, height: u64) -> Result<Option<(Certificate, Batch)>> {
        self.store.get(height)
    }

    /// The events since the last call.
    pub(crate) fn take_events(&mut self) -> Vec<ConsensusEvent> {
        std::mem::take(&mut self.events)
    }

    pub(crate) fn status(&self) -> ConsensusStatus {
        let mut status = ConsensusStatus {
            decided: self.store.last_decided(),
            linked: self.peers.len(),
            frames_dropped: self.frames_dropped,
            failure: self.failure.clone(),
            ..ConsensusStatus::default()
        };
        if let Some(e) = &self.engine {
            status.height = e.height();
            status.round = e.round();
            status.pending = e.pending();
            status.validator = e.is_validator();
            status.engine = e.stats().clone();
        }
        status
    }

    /// Carries out the engine's outputs, in order: a record is logged, and synced before any
    /// later output (a message, a decision) leaves the node.
    fn drain(&mut self) {
        loop {
            while let Some(output) = self.engine.as_mut().and_then(Engine::poll_output) {
                if let Err(e) = self.act(output) {
                    self.fail(e);
                }
            }
            let Some(engine) = &mut self.engine else {
                break;
            };
            match self.next {
                Some(height) if engine.pending() > 0 => {
                    self.next = None;
                    if let Err(e) = engine.start_height(height, now()) {
                        self.fail(e);
                    }
                }
                _ => break,
            }
        }
        // Records not followed by a message stay unsynced until one is: losing them in a
        // crash is as if those inputs never arrived, and a sync (milliseconds on most disks)
        // per received vote would bound the whole node's pace.
    }

    /// Stops consensus on this node: without its log a validator must not vote again.
    fn fail(&mut self, error: Error) {
        self.failure = Some(error.to_string());
        self.engine = None;
        self.timers = Timers::default();
    }

    fn act(&mut self, output: Output) -> Result<()> {
        // A message may depend on what was logged before it (a vote on the proposal it saw);
        // a decision is stored after its height's records.
        if matches!(
            output,
            Output::Broadcast(_) | Output::Send { .. } | Output::Decided { .. }
        ) {
            self.store.sync_wal()?;
        }
        match output {
            Output::Persist(record) => self.store.log(&record)?,
            Output::Broadcast(bytes) => {
                let frame = link::frame(Kind::Message, &bytes);
                for links in self.peers.values() {
                    if let Some((_, tx)) = links.first() {
                        if !tx.push(frame.clone()) {
                            self.frames_dropped += 1;
                        }
                    }
                }
            }
            Output::Send { to, bytes } => {
                self.send(&to, None, link::frame(Kind::Message, &bytes));
            }
            Output::Schedule { timer, after } => self.timers.push(after, timer),
            // Cancelled timers are ignored by the engine when they fire.
            Output::Cancel(_) => {}
            Output::Decided { certificate, batch } => {
                self.store.decide(&certificate, &batch)?;
                let next = certificate.height() + 1;
                self.events
                    .push(ConsensusEvent::Decided { certificate, batch });
                self.next = Some(next);
            }
            Output::Evidence(e) => self.events.push(ConsensusEvent::Evidence(e)),
            Output::Behind { from, .. } => {
                let linked: Vec<[u8; 32]> = self
                    .validators
                    .iter()
                    .filter(|k| self.peers.contains_key(*k))
                    .copied()
                    .collect();
                if !linked.is_empty() {
                    self.fetch_turn = self.fetch_turn.wrapping_add(1);
                    let peer = linked[self.fetch_turn % linked.len()];
                    self.send(&peer, None, link::fetch(from, FETCH_COUNT));
                }
            }
        }
        Ok(())
    }

    /// Queues a frame on a link to `key` (the link `id` if given and still up).
    fn send(&mut self, key: &[u8; 32], id: Option<u64>, frame: Arc<[u8]>) -> bool {
        let Some(links) = self.peers.get(key) else {
            return false;
        };
        let link = id
            .and_then(|id| links.iter().find(|(i, _)| *i == id))
            .or(links.first());
        match link {
            Some((_, tx)) if tx.push(frame) => true,
            _ => {
                self.frames_dropped += 1;
                false
            }
        }
    }

    fn answer_fetch(&mut self, key: [u8; 32], id: u64, from: u64, count: u32) {
        let mut bytes = 0;
        let last = self.store.last_decided();
        for h in from.max(1)..from.saturating_add(u64::from(count)).min(last + 1) {
            let Ok(Some((certificate, batch))) = self.store.get(h) else {
                return;
            };
            let message = encode_decision(&certificate, &batch);
            bytes += message.len();
            if !self.send(&key, Some(id), link::frame(Kind::Message, &message))
                || bytes > FETCH_BYTES
            {
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use bizra_consensus::{Timeouts, Validator};
    use tokio::sync::Semaphore;

    use super::*;

    /// Submissions arriving faster than they are judged wait, at most DEFERRED_MAX of them and
    /// DEFERRED_BYTES in all; the others are judged as they come. Judged, the waiting ones
    /// leave and the bounds take submissions again.
    #[tokio::test(flavor = "current_thread")]
    async fn submissions_awaiting_judgement_are_bounded_in_number_and_bytes() {
        let me = Arc::new(Identity::generate());
        let peer = Identity::generate();
        let validators = [me.public_key(), peer.public_key()]
            .into_iter()
            .map(|k| Validator::new(k, 1).unwrap())
            .collect();
        let document = FederationDocument::new("bounds", 1, validators, Timeouts::default());
        let config = ConsensusConfig {
            document: Arc::new(document.unwrap()),
            gates: Arc::new(GateChain::default()),
        };
        let dir = tempfile::tempdir().unwrap();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let admission = bizra_federation::Admission::allow([*peer.public_key()]);
        let (mut c, _links) =
            Consensus::start(config, me, dir.path(), [5; 32], admission, listener).unwrap();
        // A submission as the wire tells one: the rest of these bytes is refused when judged.
        let kind = (0..=u8::MAX)
            .find(|&k| wire::is_submission(&[wire::VERSION, k]))
            .unwrap();
        let allowance = Arc::new(Semaphore::new(Semaphore::MAX_PERMITS));
        let arrive = |c: &mut Consensus, len: usize| {
            let mut body = vec![0u8; len];
            body[..2].copy_from_slice(&[wire::VERSION, kind]);
            let unread = allowance
                .clone()
                .try_acquire_many_owned(len as u32)
                .unwrap();
            c.on_link(LinkEvent::Frame {
                key: *peer.public_key(),
                id: 1,
                kind: Kind::Message,
                body,
                _unread: unread,
            });
            (
                c.deferred.len(),
                c.deferred_bytes,
                c.status().engine.received,
            )
        };

        // Small ones: DEFERRED_MAX wait, the rest are judged at once.
        for _ in 0..DEFERRED_MAX {
            arrive(&mut c, 16);
        }
        assert_eq!(arrive(&mut c, 16), (DEFERRED_MAX, DEFERRED_MAX * 16, 1));
        assert_eq!(arrive(&mut c, 16), (DEFERRED_MAX, DEFERRED_MAX * 16, 2));
        while c.has_deferred() {
            c.judge_deferred();
        }
        assert_eq!(c.deferred_bytes, 0);
        assert_eq!(c.status().engine.received, 2 + DEFERRED_MAX as u64);

        // Large ones: DEFERRED_BYTES wait, the rest are judged at once.
        let mib = 1 << 20;
        for _ in 0..DEFERRED_BYTES / mib {
            arrive(&mut c, mib);
        }
        let judged = c.status().engine.received;
        assert_eq!(
            arrive(&mut c, mib),
            (DEFERRED_BYTES / mib, DEFERRED_BYTES, judged + 1)
        );
        c.judge_deferred();
        let waiting = DEFERRED_BYTES / mib - SUBMISSIONS_PER_TURN;
        assert_eq!(arrive(&mut c, mib).0, waiting + 1);
    }
}
