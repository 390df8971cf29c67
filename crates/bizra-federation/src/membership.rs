//! The membership state machine: foca's SWIM behind authenticated datagrams.
//!
//! Inputs: received datagrams ([`Membership::handle_datagram`]), due timers
//! ([`Membership::handle_timer`]), seeds to join through ([`Membership::join`]) and a graceful
//! [`Membership::leave`], each with the caller's current time. Outputs, drained with
//! [`Membership::poll_output`]: datagrams to send, timers to set, membership events. The runtime
//! that owns the socket and the clock is the caller's (`bizra-runtime`, or a simulation).
//!
//! foca decides everything SWIM decides: whom to probe, when to suspect, when to declare down,
//! what to disseminate. This module adds what foca leaves to its user: who signed a datagram and
//! whether they may take part, replay protection, finding a seed's identity from its address,
//! telling "left" from "down", and the events a user watches.

use std::collections::{HashMap, HashSet, VecDeque};
use std::net::SocketAddr;
use std::num::{NonZeroU32, NonZeroU8, NonZeroUsize};
use std::sync::Arc;
use std::time::Duration;

use bizra_protocol::identity::{node_id_of, PeerKey};
use bizra_protocol::Identity;
use foca::{AccumulatingRuntime, Config, Foca, NoCustomBroadcast, PeriodicParams};
use rand::rngs::StdRng;
use rand::SeedableRng;

use crate::admission::Admission;
use crate::datagram::{self, DropReason, Header, Kind};
use crate::member::{MemberId, WireCodec};
use crate::replay::{ReplayWindows, Verdict};

/// How often things happen. The defaults fit a LAN (a probe a second), as the seed's did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Timings {
    /// How often each member probes another.
    pub probe_period: Duration,
    /// How long a probe waits for its answer before asking others to probe indirectly.
    pub probe_rtt: Duration,
    /// How long a suspect member has to refute the suspicion before it is declared down.
    pub suspect_to_down_after: Duration,
    /// How long a down member is remembered (so that it is not re-learned from stale gossip).
    pub remove_down_after: Duration,
    /// How often membership updates are gossiped to a few members.
    pub gossip_interval: Duration,
    /// How often a member announces itself to a random member (anti-entropy).
    pub announce_interval: Duration,
    /// How often the seeds are asked again once joined, so that a node cut off by a partition
    /// finds its way back once the partition heals (while alone: every probe period).
    pub rejoin_interval: Duration,
    /// How far a datagram's send time may lie from the receiver's clock.
    pub max_clock_skew: Duration,
}

impl Default for Timings {
    fn default() -> Self {
        Timings {
            probe_period: Duration::from_secs(1),
            probe_rtt: Duration::from_millis(500),
            suspect_to_down_after: Duration::from_secs(5),
            remove_down_after: Duration::from_secs(15 * 60),
            gossip_interval: Duration::from_millis(200),
            announce_interval: Duration::from_secs(30),
            rejoin_interval: Duration::from_secs(10),
            max_clock_skew: Duration::from_secs(30),
        }
    }
}

impl Timings {
    /// The shortest timing: the node's clock counts milliseconds, and a zero period would spin
    /// its thread.
    pub const MIN: Duration = Duration::from_millis(1);

    /// The longest timing (366 days). A node adds timings to its clock and multiplies them by
    /// member counts, which a huge value would overflow; no federation waits a year for anything.
    pub const MAX: Duration = Duration::from_secs(366 * 24 * 3600);

    /// The words of [`Timings::validate`] for a timing out of range, with the value as the
    /// caller got it (`"-1 seconds"`): for a binding whose value cannot even become a
    /// `Duration` (negative, NaN, too large), so that its users read one message either way.
    pub fn out_of_range(field: &str, got: impl std::fmt::Display) -> String {
        format!(
            "timings: {field} must be between {:?} and {} days, got {got}",
            Self::MIN,
            Self::MAX.as_secs() / (24 * 3600)
        )
    }

    /// Every timing with the name of its field, in declaration order.
    fn fields(&self) -> [(&'static str, Duration); 8] {
        [
            ("probe_period", self.probe_period),
            ("probe_rtt", self.probe_rtt),
            ("suspect_to_down_after", self.suspect_to_down_after),
            ("remove_down_after", self.remove_down_after),
            ("gossip_interval", self.gossip_interval),
            ("announce_interval", self.announce_interval),
            ("rejoin_interval", self.rejoin_interval),
            ("max_clock_skew", self.max_clock_skew),
        ]
    }

    /// Why these timings cannot run a membership, if they cannot: every duration must lie
    /// between [`Timings::MIN`] and [`Timings::MAX`], and a probe must expect its answer within
    /// its period. The message names the field (as this struct spells it) and the range.
    pub fn validate(&self) -> Result<(), String> {
        for (name, d) in self.fields() {
            if !(Self::MIN..=Self::MAX).contains(&d) {
                return Err(Self::out_of_range(name, format_args!("{d:?}")));
            }
        }
        if self.probe_rtt >= self.probe_period {
            return Err(format!(
                "timings: probe_rtt ({:?}) must be shorter than probe_period ({:?}); \
                 a shorter probe_period needs a shorter probe_rtt too (its default is {:?})",
                self.probe_rtt,
                self.probe_period,
                Timings::default().probe_rtt
            ));
        }
        Ok(())
    }

    /// The time within which every live member declares a stopped member down, in a federation
    /// of `members` nodes without loss: a member is probed within `members` probe periods (foca
    /// probes in shuffled round-robin), fails its probe after one more, is suspected, declared
    /// down after `suspect_to_down_after`, and the verdict spreads by gossip within a few
    /// gossip intervals.
    pub fn detection_bound(&self, members: u32) -> Duration {
        self.probe_period * (members + 2) + self.suspect_to_down_after + self.gossip_interval * 10
    }

    fn foca_config(&self, expected_members: u32) -> Config {
        let size = NonZeroU32::new(expected_members.max(1)).unwrap_or(NonZeroU32::MIN);
        // foca's LAN profile scales dissemination to the cluster's size; ours sets the times.
        let mut c = Config::new_lan(size);
        c.probe_period = self.probe_period;
        c.probe_rtt = self.probe_rtt;
        c.suspect_to_down_after = self.suspect_to_down_after;
        c.remove_down_after = Some(self.remove_down_after);
        c.max_packet_size = NonZeroUsize::new(datagram::MAX_BODY).unwrap_or(NonZeroUsize::MIN);
        c.notify_down_members = true;
        c.num_indirect_probes = NonZeroUsize::new(3).unwrap_or(NonZeroUsize::MIN);
        // Each update rides on this many messages. foca's LAN profile gives 4·log10(n+1) (4 for
        // 16 members), which lost refutations of false suspicions at 10% loss in the simulation
        // (8 runs in 100 declared a live member down); 6·⌈log10(n+1)⌉ (12 for 16 members) lost
        // none in the same runs.
        let digits = f64::from(expected_members.max(1).saturating_add(1))
            .log10()
            .ceil();
        c.max_transmissions =
            NonZeroU8::new((6.0 * digits).clamp(6.0, 255.0) as u8).unwrap_or(NonZeroU8::MIN);
        c.periodic_gossip = Some(PeriodicParams {
            frequency: self.gossip_interval,
            num_members: NonZeroUsize::new(3).unwrap_or(NonZeroUsize::MIN),
        });
        c.periodic_announce = Some(PeriodicParams {
            frequency: self.announce_interval,
            num_members: NonZeroUsize::MIN,
        });
        c.periodic_announce_to_down_members = Some(PeriodicParams {
            frequency: self.rejoin_interval,
            num_members: NonZeroUsize::new(2).unwrap_or(NonZeroUsize::MIN),
        });
        c
    }
}

/// What a federation member needs to know besides its own identity.
#[derive(Clone, Debug)]
pub struct MembershipConfig {
    /// Which federation: datagrams of another are dropped.
    pub federation: [u8; 32],
    /// Who may join.
    pub admission: Admission,
    /// How often things happen.
    pub timings: Timings,
    /// About how many members the federation has (foca sizes dissemination by it).
    pub expected_members: u32,
    /// The most senders whose replay windows are remembered at once.
    pub max_senders: usize,
}

impl MembershipConfig {
    /// A federation's id from its name: `BLAKE3("bizra-federation-v1:" ‖ name)`.
    pub fn federation_id(name: &str) -> [u8; 32] {
        let mut h = blake3::Hasher::new();
        h.update(b"bizra-federation-v1:");
        h.update(name.as_bytes());
        *h.finalize().as_bytes()
    }

    /// An open federation named `name`, with LAN timings.
    pub fn new(name: &str) -> Self {
        MembershipConfig {
            federation: Self::federation_id(name),
            admission: Admission::Open,
            timings: Timings::default(),
            expected_members: 16,
            max_senders: 4096,
        }
    }
}

/// A member's state as its peers see it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MemberState {
    /// Answers probes.
    Alive,
    /// Missed a probe; has `suspect_to_down_after` to refute it.
    Suspect,
    /// Declared down.
    Down,
    /// Said it was leaving, then left.
    Left,
}

impl MemberState {
    /// Lower-case name.
    pub const fn name(self) -> &'static str {
        match self {
            MemberState::Alive => "alive",
            MemberState::Suspect => "suspect",
            MemberState::Down => "down",
            MemberState::Left => "left",
        }
    }
}

/// One member of the federation, as this node sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MemberInfo {
    /// Its node id (lowercase hex of the first 16 bytes of its key).
    pub node_id: String,
    /// Its node key.
    pub public_key: [u8; 32],
    /// Where it listens.
    pub addr: SocketAddr,
    /// Its generation (boot).
    pub generation: u64,
    /// Its SWIM incarnation (raised to refute suspicion).
    pub incarnation: u16,
    /// Its state.
    pub state: MemberState,
    /// When this node last received an authenticated datagram from it (Unix ms), if ever.
    pub last_heard_ms: Option<i64>,
}

/// What the view keeps of a member: its [`MemberInfo`] without what follows from its key, a few
/// dozen bytes, since every node of a federation of thousands keeps one per member.
#[derive(Clone, Copy, Debug)]
struct Seen {
    addr: SocketAddr,
    generation: u64,
    incarnation: u16,
    state: MemberState,
    last_heard_ms: Option<i64>,
}

impl Seen {
    fn info(&self, key: &[u8; 32]) -> MemberInfo {
        MemberInfo {
            node_id: node_id_of(key),
            public_key: *key,
            addr: self.addr,
            generation: self.generation,
            incarnation: self.incarnation,
            state: self.state,
            last_heard_ms: self.last_heard_ms,
        }
    }
}

/// What changed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EventKind {
    /// A member is alive for the first time, or again after being down or leaving, or with a
    /// new generation (it restarted).
    Joined,
    /// A member missed a probe.
    Suspect,
    /// A suspect member refuted the suspicion.
    AliveAgain,
    /// A member was declared down.
    Down,
    /// A member left gracefully.
    Left,
}

impl EventKind {
    /// Lower-case name.
    pub const fn name(self) -> &'static str {
        match self {
            EventKind::Joined => "joined",
            EventKind::Suspect => "suspect",
            EventKind::AliveAgain => "alive_again",
            EventKind::Down => "down",
            EventKind::Left => "left",
        }
    }
}

/// A membership change, with the member as it is after it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event {
    /// What changed.
    pub kind: EventKind,
    /// The member.
    pub member: MemberInfo,
    /// When this node saw it (Unix ms).
    pub at_ms: i64,
}

/// A timer the runtime must deliver back through [`Membership::handle_timer`] once due.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Timer(TimerKind);

#[derive(Clone, Debug, PartialEq, Eq)]
enum TimerKind {
    Swim(foca::Timer<MemberId>),
    AskSeeds,
}

/// What the state machine asks of its runtime.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Output {
    /// Send this datagram to this address.
    Send {
        /// The destination.
        to: SocketAddr,
        /// The datagram.
        datagram: Vec<u8>,
    },
    /// Deliver this timer after this long.
    Schedule {
        /// The timer.
        timer: Timer,
        /// Its delay.
        after: Duration,
    },
    /// A membership change.
    Event(Event),
}

/// Dropped datagrams, counted by reason.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DropCounts(HashMap<DropReason, u64>);

impl DropCounts {
    /// How many were dropped for `reason`.
    pub fn get(&self, reason: DropReason) -> u64 {
        self.0.get(&reason).copied().unwrap_or(0)
    }

    /// How many were dropped in all.
    pub fn total(&self) -> u64 {
        self.0.values().sum()
    }

    fn add(&mut self, reason: DropReason) {
        *self.0.entry(reason).or_insert(0) += 1;
    }
}

type Swim = Foca<MemberId, WireCodec, StdRng, NoCustomBroadcast>;

/// A node's view of its federation and its part in it. Not `Sync`: one runtime task drives it.
pub struct Membership {
    identity: Arc<Identity>,
    federation: [u8; 32],
    admission: Admission,
    timings: Timings,
    codec: WireCodec,
    swim: Swim,
    runtime: AccumulatingRuntime<MemberId>,
    sequence: u64,
    replay: ReplayWindows,
    seeds: Vec<SocketAddr>,
    view: HashMap<[u8; 32], Seen>,
    leaving: HashSet<[u8; 32]>,
    outputs: VecDeque<Output>,
    drops: DropCounts,
    left: bool,
    now_ms: i64,
}

impl std::fmt::Debug for Membership {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Membership")
            .field("me", self.swim.identity())
            .field("members", &self.view.len())
            .finish_non_exhaustive()
    }
}

impl Membership {
    /// A node that listens on `addr`, in its `generation`, with foca's random choices drawn from
    /// `seed` (from the OS in a real node, fixed in a simulation).
    pub fn new(
        identity: Arc<Identity>,
        addr: SocketAddr,
        generation: u64,
        config: MembershipConfig,
        seed: [u8; 32],
    ) -> Self {
        let me = MemberId {
            key: *identity.public_key(),
            generation,
            addr,
        };
        let codec = WireCodec::new(config.admission.clone());
        let swim = Foca::new(
            me,
            config.timings.foca_config(config.expected_members),
            StdRng::from_seed(seed),
            codec.clone(),
        );
        Membership {
            identity,
            federation: config.federation,
            admission: config.admission,
            timings: config.timings,
            codec,
            swim,
            runtime: AccumulatingRuntime::new(),
            sequence: 0,
            replay: ReplayWindows::new(config.max_senders),
            seeds: Vec::new(),
            view: HashMap::new(),
            leaving: HashSet::new(),
            outputs: VecDeque::new(),
            drops: DropCounts::default(),
            left: false,
            now_ms: 0,
        }
    }

    /// This node's member identity (its generation changes if it is declared down and renews).
    pub fn me(&self) -> MemberId {
        *self.swim.identity()
    }

    /// The timings in force.
    pub fn timings(&self) -> &Timings {
        &self.timings
    }

    /// Joins through seeds: asks each for its identity (a HELLO; a seed needs to be known by
    /// address only), announces itself to whoever answers, and keeps asking (see
    /// [`Timings::rejoin_interval`]) so that a lost hello or a partition heals.
    pub fn join(&mut self, seeds: &[SocketAddr], now_ms: i64) {
        self.now_ms = now_ms;
        let me = self.me().addr;
        self.seeds = seeds.iter().copied().filter(|s| *s != me).collect();
        self.ask_seeds();
        self.outputs.push_back(Output::Schedule {
            timer: Timer(TimerKind::AskSeeds),
            after: self.next_ask(),
        });
    }

    /// Adds members known from elsewhere (a list saved before a restart, or a large simulated
    /// federation built in one step instead of by thousands of joins), as alive and without
    /// gossiping them: SWIM probes them like any member and declares down those that do not
    /// answer. This node itself and members its admission refuses are skipped.
    pub fn restore(&mut self, members: impl IntoIterator<Item = MemberId>, now_ms: i64) {
        self.now_ms = now_ms;
        let me = *self.identity.public_key();
        let admitted = members
            .into_iter()
            .filter(|m| m.key != me && self.admission.admits(&m.key))
            .map(foca::Member::alive);
        let _ = self.swim.apply_many(admitted, false, &mut self.runtime);
        self.flush();
    }

    /// While alone, the seeds are asked every probe period (a lost hello or welcome costs a
    /// second, not a `rejoin_interval`); once in, every `rejoin_interval`.
    fn next_ask(&self) -> Duration {
        if self.active_members() == 0 {
            self.timings.probe_period
        } else {
            self.timings.rejoin_interval
        }
    }

    /// Leaves gracefully: tells the active members (a LEAVING datagram, then SWIM's own
    /// dissemination of this node's departure). Afterwards the node answers nothing.
    pub fn leave(&mut self, now_ms: i64) {
        self.now_ms = now_ms;
        if self.left {
            return;
        }
        let body = self.own_id_body();
        let targets: Vec<SocketAddr> = self.swim.iter_members().map(|m| m.id().addr).collect();
        for to in targets {
            self.send(Kind::Leaving, to, &body);
        }
        let _ = self.swim.leave_cluster(&mut self.runtime);
        self.flush();
        self.left = true;
    }

    /// Handles one received datagram from `from`. A refusal is counted and returned; nothing
    /// is ever sent in answer to a refused datagram.
    pub fn handle_datagram(
        &mut self,
        from: SocketAddr,
        bytes: &[u8],
        now_ms: i64,
    ) -> Result<(), DropReason> {
        self.now_ms = now_ms;
        let result = self.receive(from, bytes);
        if let Err(reason) = result {
            self.drops.add(reason);
        }
        self.flush();
        result
    }

    /// Handles a timer that came due.
    pub fn handle_timer(&mut self, timer: Timer, now_ms: i64) {
        self.now_ms = now_ms;
        if self.left {
            return;
        }
        match timer.0 {
            TimerKind::Swim(t) => {
                let _ = self.swim.handle_timer(t, &mut self.runtime);
            }
            TimerKind::AskSeeds => {
                self.ask_seeds();
                self.outputs.push_back(Output::Schedule {
                    timer: Timer(TimerKind::AskSeeds),
                    after: self.next_ask(),
                });
            }
        }
        self.flush();
    }

    /// The next thing to do, in order.
    pub fn poll_output(&mut self) -> Option<Output> {
        self.outputs.pop_front()
    }

    /// Every member this node knows of (itself excluded), by node id.
    pub fn members(&self) -> Vec<MemberInfo> {
        let mut v: Vec<MemberInfo> = self.view.iter().map(|(k, s)| s.info(k)).collect();
        v.sort_by(|a, b| a.node_id.cmp(&b.node_id));
        v
    }

    /// The member with this node key, as this node sees it.
    pub fn member(&self, key: &[u8; 32]) -> Option<MemberInfo> {
        self.view.get(key).map(|s| s.info(key))
    }

    /// The state of the member with this node key, as this node sees it.
    pub fn state_of(&self, key: &[u8; 32]) -> Option<MemberState> {
        self.view.get(key).map(|s| s.state)
    }

    /// How many members are alive or suspect.
    pub fn active_members(&self) -> usize {
        self.view
            .values()
            .filter(|m| matches!(m.state, MemberState::Alive | MemberState::Suspect))
            .count()
    }

    /// Dropped datagrams by reason.
    pub fn drops(&self) -> &DropCounts {
        &self.drops
    }

    /// Whether [`Membership::leave`] was called.
    pub fn has_left(&self) -> bool {
        self.left
    }

    fn ask_seeds(&mut self) {
        let body = self.own_id_body();
        let seeds = self.seeds.clone();
        for seed in seeds {
            self.send(Kind::Hello, seed, &body);
        }
    }

    fn own_id_body(&self) -> Vec<u8> {
        let mut body = Vec::with_capacity(64);
        // A member identity always fits a Vec.
        let _ = self.codec.put_id(&self.me(), &mut body);
        body
    }

    fn receive(&mut self, from: SocketAddr, bytes: &[u8]) -> Result<(), DropReason> {
        if self.left {
            return Ok(());
        }
        let d = datagram::parse(bytes)?;
        let h = d.header;
        if h.federation != self.federation {
            return Err(DropReason::WrongFederation);
        }
        if &h.sender == self.identity.public_key() {
            return Err(DropReason::FromSelf);
        }
        if !self.admission.admits(&h.sender) {
            return Err(DropReason::NotAdmitted);
        }
        let skew = i64::try_from(self.timings.max_clock_skew.as_millis()).unwrap_or(i64::MAX);
        if h.sent_at_ms.abs_diff(self.now_ms) > skew.unsigned_abs() {
            return Err(DropReason::Stale);
        }
        if self.replay.check(&h.sender, h.generation, h.sequence) == Verdict::Replay {
            return Err(DropReason::Replay);
        }
        let key = match self.replay.key(&h.sender) {
            Some(k) => k,
            None => PeerKey::from_bytes(&h.sender).ok_or(DropReason::BadKey)?,
        };
        if !d.verify(&key) {
            return Err(DropReason::BadSignature);
        }
        // Authenticated: the window moves even if the body turns out to be useless, so the
        // same bytes cannot be tried twice.
        self.replay
            .record(key, h.generation, h.sequence, self.now_ms);
        match h.kind {
            Kind::Swim => self.receive_swim(&h, d.body),
            Kind::Hello | Kind::Welcome | Kind::Leaving => {
                let id = self.sender_id(&h, d.body)?;
                self.heard(&id.key);
                match h.kind {
                    Kind::Hello => {
                        let body = self.own_id_body();
                        // Answer where it came from; it will announce itself to us.
                        self.send(Kind::Welcome, from, &body);
                    }
                    Kind::Welcome => {
                        let _ = self.swim.announce(id, &mut self.runtime);
                    }
                    _ => {
                        self.leaving.insert(id.key);
                    }
                }
                Ok(())
            }
        }
    }

    /// The member identity in a HELLO, WELCOME or LEAVING body, bound to the signing key and
    /// generation.
    fn sender_id(&self, h: &Header, body: &[u8]) -> Result<MemberId, DropReason> {
        let mut buf = body;
        let id = self.codec.get_id(&mut buf).map_err(|e| match e {
            crate::member::CodecError::NotAdmitted => DropReason::NotAdmitted,
            _ => DropReason::Malformed,
        })?;
        if !buf.is_empty() {
            return Err(DropReason::Malformed);
        }
        if id.key != h.sender || id.generation != h.generation {
            return Err(DropReason::SenderMismatch);
        }
        Ok(id)
    }

    fn receive_swim(&mut self, h: &Header, body: &[u8]) -> Result<(), DropReason> {
        // The SWIM header's source must be the signer, in the signed generation.
        let mut probe = self.codec.clone();
        let header = foca::Codec::decode_header(&mut probe, body).map_err(|e| match e {
            crate::member::CodecError::NotAdmitted => DropReason::NotAdmitted,
            _ => DropReason::Malformed,
        })?;
        if header.src.key != h.sender || header.src.generation != h.generation {
            return Err(DropReason::SenderMismatch);
        }
        self.heard(&h.sender);
        self.swim
            .handle_data(body, &mut self.runtime)
            .map_err(|e| match e {
                foca::Error::Decode(_) => DropReason::Malformed,
                foca::Error::DataFromOurselves => DropReason::FromSelf,
                _ => DropReason::Malformed,
            })
    }

    fn heard(&mut self, key: &[u8; 32]) {
        if let Some(m) = self.view.get_mut(key) {
            m.last_heard_ms = Some(self.now_ms);
        }
    }

    fn send(&mut self, kind: Kind, to: SocketAddr, body: &[u8]) {
        self.sequence += 1;
        let me = self.me();
        let header = Header {
            kind,
            federation: self.federation,
            sender: me.key,
            generation: me.generation,
            sequence: self.sequence,
            sent_at_ms: self.now_ms,
        };
        if let Some(datagram) = datagram::seal(&self.identity, &header, body) {
            self.outputs.push_back(Output::Send { to, datagram });
        }
    }

    /// Moves foca's output into ours (sealing its messages into datagrams), then turns the
    /// membership's new state into events.
    fn flush(&mut self) {
        while let Some((to, data)) = self.runtime.to_send() {
            self.send(Kind::Swim, to.addr, &data);
        }
        while let Some((after, t)) = self.runtime.to_schedule() {
            self.outputs.push_back(Output::Schedule {
                timer: Timer(TimerKind::Swim(t)),
                after,
            });
        }
        // foca's notifications are summaries of what `diff` reads from its member list.
        while self.runtime.to_notify().is_some() {}
        self.diff();
    }

    /// Compares foca's members with the last view and emits what changed. Runs after every
    /// input, so it allocates only for members that changed.
    fn diff(&mut self) {
        let me = *self.identity.public_key();
        let mut known = 0usize;
        let mut changed = Vec::new();
        for m in self.swim.iter_membership_state() {
            let id = *m.id();
            if id.key == me {
                continue;
            }
            known += 1;
            let state = match m.state() {
                foca::State::Alive => MemberState::Alive,
                foca::State::Suspect => MemberState::Suspect,
                foca::State::Down if self.leaving.contains(&id.key) => MemberState::Left,
                foca::State::Down => MemberState::Down,
            };
            let same = self.view.get(&id.key).is_some_and(|v| {
                v.state == state
                    && v.generation == id.generation
                    && v.incarnation == m.incarnation()
                    && v.addr == id.addr
            });
            if !same {
                changed.push((id, m.incarnation(), state));
            }
        }
        for (id, incarnation, state) in changed {
            let before = self.view.get(&id.key).map(|m| (m.state, m.generation));
            let kind = match (before, state) {
                (None, MemberState::Alive | MemberState::Suspect) => Some(EventKind::Joined),
                (None, _) => None,
                (Some((_, g)), MemberState::Alive | MemberState::Suspect) if g < id.generation => {
                    Some(EventKind::Joined)
                }
                (Some((MemberState::Down | MemberState::Left, _)), MemberState::Alive) => {
                    Some(EventKind::Joined)
                }
                (Some((MemberState::Alive, _)), MemberState::Suspect) => Some(EventKind::Suspect),
                (Some((MemberState::Suspect, _)), MemberState::Alive) => {
                    Some(EventKind::AliveAgain)
                }
                (Some((MemberState::Alive | MemberState::Suspect, _)), MemberState::Down) => {
                    Some(EventKind::Down)
                }
                (
                    Some((MemberState::Alive | MemberState::Suspect | MemberState::Down, _)),
                    MemberState::Left,
                ) => Some(EventKind::Left),
                _ => None,
            };
            if matches!(state, MemberState::Alive | MemberState::Suspect)
                && kind == Some(EventKind::Joined)
            {
                // A member that is back is no longer leaving.
                self.leaving.remove(&id.key);
            }
            let seen = Seen {
                addr: id.addr,
                generation: id.generation,
                incarnation,
                state,
                last_heard_ms: self.replay.last_heard(&id.key),
            };
            if let Some(kind) = kind {
                self.outputs.push_back(Output::Event(Event {
                    kind,
                    member: seen.info(&id.key),
                    at_ms: self.now_ms,
                }));
            }
            self.view.insert(id.key, seen);
        }
        // Members foca forgot (down for `remove_down_after`) leave the view without an event.
        if self.view.len() != known {
            let present: HashSet<[u8; 32]> = self
                .swim
                .iter_membership_state()
                .map(|m| m.id().key)
                .collect();
            self.view.retain(|k, _| present.contains(k));
            self.leaving.retain(|k| present.contains(k));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every field is held to [`Timings::MIN`] ..= [`Timings::MAX`], both bounds included, and
    /// the message names the field and the range.
    #[test]
    fn timings_are_refused_outside_their_range() {
        assert_eq!(Timings::default().validate(), Ok(()));
        let fields: [fn(&mut Timings) -> &mut Duration; 8] = [
            |t| &mut t.probe_period,
            |t| &mut t.probe_rtt,
            |t| &mut t.suspect_to_down_after,
            |t| &mut t.remove_down_after,
            |t| &mut t.gossip_interval,
            |t| &mut t.announce_interval,
            |t| &mut t.rejoin_interval,
            |t| &mut t.max_clock_skew,
        ];
        for (field, (name, _)) in fields.iter().zip(Timings::default().fields()) {
            let with = |d: Duration| {
                let mut t = Timings {
                    probe_period: Timings::MAX,
                    probe_rtt: Timings::MIN,
                    ..Timings::default()
                };
                *field(&mut t) = d;
                t.validate()
            };
            for d in [Timings::MIN, Timings::MIN * 2, Timings::MAX] {
                match with(d) {
                    Ok(()) => {}
                    // The other rule: probe_rtt must stay below probe_period.
                    Err(e) if (name, d) == ("probe_period", Timings::MIN) => {
                        assert!(e.contains("must be shorter"), "{e}");
                    }
                    Err(e) if (name, d) == ("probe_rtt", Timings::MAX) => {
                        assert!(e.contains("must be shorter"), "{e}");
                    }
                    Err(e) => panic!("{name} = {d:?} refused: {e}"),
                }
            }
            for d in [
                Duration::ZERO,
                Timings::MIN - Duration::from_nanos(1),
                Timings::MAX + Duration::from_nanos(1),
                Duration::MAX,
            ] {
                assert_eq!(
                    with(d),
                    Err(format!(
                        "timings: {name} must be between 1ms and 366 days, got {d:?}"
                    )),
                );
            }
        }
    }

    /// A binding whose value cannot become a `Duration` says so in the same words.
    #[test]
    fn out_of_range_words_are_validates() {
        assert_eq!(
            Timings::out_of_range("gossip_interval", "-1 seconds"),
            "timings: gossip_interval must be between 1ms and 366 days, got -1 seconds"
        );
    }

    /// A probe expects its answer within its period.
    #[test]
    fn probe_rtt_is_shorter_than_probe_period() {
        let t = Timings {
            probe_period: Duration::from_millis(200),
            probe_rtt: Duration::from_millis(200),
            ..Timings::default()
        };
        let e = t.validate().unwrap_err();
        assert!(
            e.contains("probe_rtt (200ms) must be shorter than probe_period (200ms)"),
            "{e}"
        );
    }
}
