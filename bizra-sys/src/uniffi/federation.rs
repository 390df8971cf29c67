//! `Node`: a federation member on a real UDP socket (`bizra_core::Node`), its members, traffic
//! counters and membership events (`NodeEvents`, read with a blocking `poll(timeout)` or a
//! suspending `next()`; Kotlin's `Flows.kt` turns it into a `Flow`).
//!
//! Why these shapes:
//! - the core runs the node on its own thread; every call here only reads its shared state, so
//!   nothing blocks but `leave`/`stop`/`close` (until the goodbye is sent) and `poll`;
//! - a subscription has one helper thread of its own that moves the core's events into a small
//!   feed, from which `poll` (a condition variable) and `next` (a waker, no Rust runtime) read
//!   ([`super::stream`], shared with the consensus events): the foreign executor's threads never
//!   block, and an unread subscription costs only the core's bounded backlog (the core drops,
//!   and counts, what overflows it);
//! - with a federation document (`NodeOptions.document`) the node also takes part in consensus;
//!   its calls (`propose`, `decided`, `consensusStatus`, `consensusEvents`) are in
//!   [`super::consensus`];
//! - a node that left or stopped refuses every call with `BizraError::InvalidInput` (the core's
//!   kinds have none for a closed handle; C has its own `BIZRA_STATUS_STOPPED`), and its event
//!   streams end (`next()` gives null).

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bizra_core::federation::{self as core, Admission, DropReason};
use bizra_core::{ConsensusConfig, NodeConfig};

use super::consensus::FederationDocument;
use super::gates::GateChain;
use super::identity::Identity;
use super::stream::Stream;
use super::{from_unix_millis, BizraError};
use crate::federation::{socket_addr, Running, STOPPED};

/// How often things happen; a null member takes the core's default (a LAN profile: a probe a
/// second). Every duration must lie between 1 ms and 366 days (the core's range, `Timings::MIN`
/// and `Timings::MAX`), and a probe must expect its answer within its period: `Node.start`
/// throws `InvalidInput` naming the timing otherwise.
#[derive(Debug, Clone, Default, PartialEq, Eq, ::uniffi::Record)]
pub struct Timings {
    /// How often each member probes another (default 1 s).
    #[uniffi(default = None)]
    pub probe_period: Option<Duration>,
    /// How long a probe waits for its answer before asking others to probe (default 500 ms).
    #[uniffi(default = None)]
    pub probe_rtt: Option<Duration>,
    /// How long a suspect has to refute the suspicion before it is declared down (default 5 s).
    #[uniffi(default = None)]
    pub suspect_to_down_after: Option<Duration>,
    /// How long a down member is remembered (default 15 min).
    #[uniffi(default = None)]
    pub remove_down_after: Option<Duration>,
    /// How often updates are gossiped (default 200 ms).
    #[uniffi(default = None)]
    pub gossip_interval: Option<Duration>,
    /// How often the node announces itself to a random member, anti-entropy (default 30 s).
    #[uniffi(default = None)]
    pub announce_interval: Option<Duration>,
    /// How often the seeds are asked again once joined, so a partition heals (default 10 s).
    #[uniffi(default = None)]
    pub rejoin_interval: Option<Duration>,
    /// How far a datagram's send time may lie from this node's clock (default 30 s).
    #[uniffi(default = None)]
    pub max_clock_skew: Option<Duration>,
}

impl Timings {
    fn to_core(&self) -> Result<core::Timings, BizraError> {
        let d = core::Timings::default();
        let pick = |v: Option<Duration>, default: Duration, name: &str| match v {
            Some(v) if v.is_zero() => Err(BizraError::invalid(format!(
                "timings.{name} is zero: give a positive duration, or null for the default \
                 ({default:?})"
            ))),
            Some(v) => Ok(v),
            None => Ok(default),
        };
        Ok(core::Timings {
            probe_period: pick(self.probe_period, d.probe_period, "probePeriod")?,
            probe_rtt: pick(self.probe_rtt, d.probe_rtt, "probeRtt")?,
            suspect_to_down_after: pick(
                self.suspect_to_down_after,
                d.suspect_to_down_after,
                "suspectToDownAfter",
            )?,
            remove_down_after: pick(
                self.remove_down_after,
                d.remove_down_after,
                "removeDownAfter",
            )?,
            gossip_interval: pick(self.gossip_interval, d.gossip_interval, "gossipInterval")?,
            announce_interval: pick(
                self.announce_interval,
                d.announce_interval,
                "announceInterval",
            )?,
            rejoin_interval: pick(self.rejoin_interval, d.rejoin_interval, "rejoinInterval")?,
            max_clock_skew: pick(self.max_clock_skew, d.max_clock_skew, "maxClockSkew")?,
        })
    }
}

/// How to run a node; a null member takes the core's default.
#[derive(Debug, Clone, Default, ::uniffi::Record)]
pub struct NodeOptions {
    /// Where to listen, `ip:port` (port 0: any free port, see `localAddr`); default
    /// `"0.0.0.0:7946"`.
    #[uniffi(default = None)]
    pub bind: Option<String>,
    /// The address peers reach this node at, `ip:port`; default: the bound address (or, bound
    /// to `0.0.0.0`, the local address routed to the first seed).
    #[uniffi(default = None)]
    pub advertise: Option<String>,
    /// Members to join through, each `host:port`; none: wait to be joined.
    #[uniffi(default)]
    pub seeds: Vec<String>,
    /// The federation's name: datagrams of another federation are dropped; default `"bizra"`.
    #[uniffi(default = None)]
    pub federation: Option<String>,
    /// The node keys (32 bytes each, as `Identity.publicKey` gives them) allowed to join; null:
    /// any key may join (an open federation). A list admits only its keys (an empty one: none).
    #[uniffi(default = None)]
    pub allowlist: Option<Vec<Vec<u8>>>,
    /// Where the node keeps its boot counter (its generation), created if missing; null: the
    /// generation is the boot's Unix time in seconds.
    #[uniffi(default = None)]
    pub data_dir: Option<String>,
    /// How often things happen.
    #[uniffi(default = None)]
    pub timings: Option<Timings>,
    /// About how many members the federation has (sizes dissemination), at least 1; default 16.
    #[uniffi(default = None)]
    pub expected_members: Option<u32>,
    /// The federation document in force: with one, the node takes part in consensus (as a
    /// validator if its key is one of the document's, else as a follower that decides with
    /// them). Needs `dataDir` (the write-ahead log must outlive the process) and the document's
    /// federation must be `federation`. The node then also listens on TCP, at the port number of
    /// its UDP socket, for consensus links. Null: no consensus.
    #[uniffi(default = None)]
    pub document: Option<Arc<FederationDocument>>,
    /// The gate chain every proposal must pass to be pooled and decided (consulted, never
    /// admitted into); only with `document`. Null: every built-in gate over the default
    /// constitution (`GateChain()`). The running node holds it: until the node stops, the
    /// chain's `add*`/`set*` calls throw `InvalidInput`.
    #[uniffi(default = None)]
    pub gates: Option<Arc<GateChain>>,
}

impl NodeOptions {
    fn into_config(self) -> Result<NodeConfig, BizraError> {
        let mut c = NodeConfig::default();
        if let Some(bind) = self.bind {
            c.bind = socket_addr(&bind, "bind").map_err(BizraError::invalid)?;
        }
        if let Some(advertise) = self.advertise {
            c.advertise = Some(socket_addr(&advertise, "advertise").map_err(BizraError::invalid)?);
        }
        c.seeds = self.seeds;
        if let Some(federation) = self.federation {
            c.federation = federation;
        }
        if let Some(keys) = self.allowlist {
            let keys = keys
                .iter()
                .enumerate()
                .map(|(i, k)| {
                    <[u8; 32]>::try_from(k.as_slice()).map_err(|_| {
                        BizraError::invalid(format!(
                            "allowlist[{i}] is {} bytes; a node key is 32",
                            k.len()
                        ))
                    })
                })
                .collect::<Result<Vec<_>, _>>()?;
            c.admission = Admission::allow(keys);
        }
        c.data_dir = self.data_dir.map(PathBuf::from);
        if let Some(t) = self.timings {
            c.timings = t.to_core()?;
        }
        match self.expected_members {
            Some(0) => {
                return Err(BizraError::invalid(
                    "expectedMembers is 0; it is at least 1",
                ))
            }
            Some(n) => c.expected_members = n,
            None => {}
        }
        c.consensus =
            match (self.document, self.gates) {
                (Some(document), gates) => Some(ConsensusConfig {
                    document: document.shared(),
                    gates: gates.map_or_else(
                        || Arc::new(bizra_core::GateChain::default()),
                        |g| g.shared(),
                    ),
                }),
                (None, Some(_)) => return Err(BizraError::invalid(
                    "gates is set without document: the gate chain judges consensus proposals, \
                     and consensus needs a federation document",
                )),
                (None, None) => None,
            };
        Ok(c)
    }
}

/// A member's state as this node sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ::uniffi::Enum)]
pub enum MemberState {
    /// Answers probes.
    Alive,
    /// Missed a probe; has the suspicion timeout to refute it.
    Suspect,
    /// Declared down.
    Down,
    /// Said it was leaving, then left.
    Left,
}

impl From<core::MemberState> for MemberState {
    fn from(s: core::MemberState) -> Self {
        match s {
            core::MemberState::Alive => MemberState::Alive,
            core::MemberState::Suspect => MemberState::Suspect,
            core::MemberState::Down => MemberState::Down,
            core::MemberState::Left => MemberState::Left,
        }
    }
}

/// What changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ::uniffi::Enum)]
pub enum NodeEventKind {
    /// A member is alive for the first time, again after being down or leaving, or with a new
    /// generation (it restarted).
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

impl From<core::EventKind> for NodeEventKind {
    fn from(k: core::EventKind) -> Self {
        match k {
            core::EventKind::Joined => NodeEventKind::Joined,
            core::EventKind::Suspect => NodeEventKind::Suspect,
            core::EventKind::AliveAgain => NodeEventKind::AliveAgain,
            core::EventKind::Down => NodeEventKind::Down,
            core::EventKind::Left => NodeEventKind::Left,
        }
    }
}

/// One member as this node sees it.
#[derive(Debug, Clone, PartialEq, Eq, ::uniffi::Record)]
pub struct Member {
    /// Its node id: lowercase hex of the first 16 bytes of its key.
    pub node_id: String,
    /// Its node key (32 bytes).
    pub public_key: Vec<u8>,
    /// Where it listens, `ip:port`.
    pub addr: String,
    /// Its generation (a new one at each boot).
    pub generation: u64,
    /// Its SWIM incarnation (raised to refute a suspicion).
    pub incarnation: u16,
    /// Its state.
    pub state: MemberState,
    /// When this node last received an authenticated datagram from it; null if never.
    pub last_heard: Option<SystemTime>,
}

impl From<&core::MemberInfo> for Member {
    fn from(m: &core::MemberInfo) -> Self {
        Member {
            node_id: m.node_id.clone(),
            public_key: m.public_key.to_vec(),
            addr: m.addr.to_string(),
            generation: m.generation,
            incarnation: m.incarnation,
            state: m.state.into(),
            last_heard: m.last_heard_ms.map(from_unix_millis),
        }
    }
}

/// A membership change, with the member as it is after it.
#[derive(Debug, Clone, PartialEq, Eq, ::uniffi::Record)]
pub struct NodeEvent {
    /// What changed.
    pub kind: NodeEventKind,
    /// The member.
    pub member: Member,
    /// When this node saw it.
    pub at: SystemTime,
}

impl From<core::Event> for NodeEvent {
    fn from(e: core::Event) -> Self {
        NodeEvent {
            kind: e.kind.into(),
            member: (&e.member).into(),
            at: from_unix_millis(e.at_ms),
        }
    }
}

/// A node's traffic counters.
#[derive(Debug, Clone, PartialEq, Eq, ::uniffi::Record)]
pub struct NodeStats {
    /// Datagrams sent.
    pub sent: u64,
    /// Datagrams received (accepted or not).
    pub received: u64,
    /// Datagrams dropped, by reason: every reason's name (`"bad_signature"`, `"replay"`,
    /// `"not_admitted"`, ..., the same in every binding), 0 where none was dropped;
    /// `"queue_full"` counts those the kernel dropped unread, the socket's queue full (Linux).
    pub dropped: HashMap<String, u64>,
    /// Events a subscriber left unread for so long that newer ones were dropped for it.
    pub events_dropped: u64,
}

fn stopped() -> BizraError {
    BizraError::invalid(STOPPED)
}

/// A federation member on a real UDP socket: it joins through its seeds, probes its peers,
/// suspects and declares down those that stop answering, and says goodbye when it leaves. Its
/// work runs on the library's own thread. Safe to share between threads. After `leave()` or
/// `stop()` every call throws `BizraException.InvalidInput`; closing it leaves first if it
/// still runs.
#[derive(::uniffi::Object)]
pub struct Node {
    running: Arc<Running>,
}

impl Node {
    /// `f` of the running node; `InvalidInput` once it left or stopped.
    pub(super) fn with<T>(&self, f: impl FnOnce(&bizra_core::Node) -> T) -> Result<T, BizraError> {
        self.running.with(f).ok_or_else(stopped)
    }
}

#[::uniffi::export]
impl Node {
    /// Binds the UDP socket, takes the next generation (from `dataDir` when given) and starts
    /// the node's thread, which joins through the seeds; returns without waiting for the join
    /// (watch `events()` or `members()`). A bad address or seed (`host:port`) throws
    /// `InvalidInput`; a port in use or an unusable data directory `Io`.
    #[uniffi::constructor(default(options = None))]
    pub fn start(
        identity: Arc<Identity>,
        options: Option<NodeOptions>,
    ) -> Result<Self, BizraError> {
        let config = options.unwrap_or_default().into_config()?;
        let node = bizra_core::Node::start(Arc::clone(&identity.inner), config)?;
        Ok(Node {
            running: Running::new(node),
        })
    }

    /// The address the socket is bound to, `ip:port` (the real port when bound to port 0).
    pub fn local_addr(&self) -> Result<String, BizraError> {
        self.with(|n| n.local_addr().to_string())
    }

    /// The address the node tells its peers to reach it at.
    pub fn advertised_addr(&self) -> Result<String, BizraError> {
        self.with(|n| n.advertised_addr().to_string())
    }

    /// The node's id (its identity's).
    pub fn node_id(&self) -> Result<String, BizraError> {
        self.with(|n| n.node_id().to_owned())
    }

    /// This boot's generation.
    pub fn generation(&self) -> Result<u64, BizraError> {
        self.with(bizra_core::Node::generation)
    }

    /// Whether the node still runs (false once it left or stopped; never throws).
    pub fn is_running(&self) -> bool {
        self.running
            .with(bizra_core::Node::is_running)
            .unwrap_or(false)
    }

    /// Every member this node knows of (itself excluded).
    pub fn members(&self) -> Result<Vec<Member>, BizraError> {
        self.with(|n| n.members().iter().map(Member::from).collect())
    }

    /// Traffic counters, drops by reason included.
    pub fn stats(&self) -> Result<NodeStats, BizraError> {
        let s = self.with(bizra_core::Node::stats)?;
        Ok(NodeStats {
            sent: s.sent,
            received: s.received,
            dropped: DropReason::ALL
                .iter()
                .map(|&r| (r.name().to_owned(), s.dropped(r)))
                .collect(),
            events_dropped: s.events_dropped,
        })
    }

    /// The membership events from now on, in order: first a `JOINED` event for every member
    /// already alive or suspect (so a late subscriber misses no one), then every change. Any
    /// number of subscribers each get every event. Close the stream when done with it (the
    /// `Flow` of `asFlow()` does).
    pub fn events(&self) -> Result<Arc<NodeEvents>, BizraError> {
        let sub = self.running.subscribe().ok_or_else(stopped)?;
        Ok(Arc::new(NodeEvents {
            stream: Stream::start(sub, "bizra-node-events")?,
        }))
    }

    /// Leaves gracefully: tells the members (they see a `LEFT` event), then stops; returns once
    /// the goodbye is sent. The node's event streams end.
    pub fn leave(&self) -> Result<(), BizraError> {
        self.running.finish(true).then_some(()).ok_or_else(stopped)
    }

    /// Stops without telling anyone (the members find out by probing, as after a crash). The
    /// node's event streams end.
    pub fn stop(&self) -> Result<(), BizraError> {
        self.running.finish(false).then_some(()).ok_or_else(stopped)
    }
}

impl Drop for Node {
    /// A node closed (or collected) while it runs leaves gracefully, even if event streams of it
    /// are still open (they end).
    fn drop(&mut self) {
        self.running.finish(true);
    }
}

/// A subscriber's membership events, in order, read with `poll(timeout)` (blocking) or `next()`
/// (suspending); each event goes to one reader. The stream ends when the node leaves or stops.
/// Closing it unsubscribes (its helper thread ends within a tenth of a second).
#[derive(::uniffi::Object)]
pub struct NodeEvents {
    stream: Stream<NodeEvent>,
}

#[::uniffi::export]
impl NodeEvents {
    /// The next event, waiting at most `timeout` (blocking the calling thread); null when none
    /// came in time or the stream ended (`isEnded` tells which).
    pub fn poll(&self, timeout: Duration) -> Option<NodeEvent> {
        self.stream.poll(timeout)
    }

    /// The next event (a `suspend fun` in Kotlin, `async` in Swift); null once the node left or
    /// stopped and every event was read. Cancelling the waiting coroutine loses no event.
    pub async fn next(&self) -> Option<NodeEvent> {
        self.stream.next().await
    }

    /// Whether the stream is over: the node left or stopped and every event was read.
    pub fn is_ended(&self) -> bool {
        self.stream.is_ended()
    }
}
