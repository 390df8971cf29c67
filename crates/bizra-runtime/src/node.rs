//! [`Node`]: a federation member on a real UDP socket, on a thread of its own.

use std::collections::HashMap;
use std::net::{
    IpAddr, Ipv4Addr, SocketAddr, TcpListener as StdTcpListener, ToSocketAddrs,
    UdpSocket as StdUdpSocket,
};
use std::path::PathBuf;
use std::sync::mpsc::{self, SyncSender, TrySendError};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bizra_consensus::{Batch, Certificate, FederationDocument};
use bizra_federation::datagram::MAX_DATAGRAM;
use bizra_federation::{
    Admission, DropReason, Event, EventKind, MemberInfo, MemberState, Membership, MembershipConfig,
    Output, Timer, Timings,
};
use bizra_protocol::{Envelope, Error, Identity, Result};
use rand_core::{OsRng, RngCore as _};
use tokio::net::UdpSocket;
use tokio::sync::mpsc as tmpsc;
use tokio::time::Instant;

use crate::consensus::link::LinkEvent;
use crate::consensus::{Consensus, ConsensusConfig, ConsensusEvent, ConsensusStatus};
use crate::generation;
use crate::kernel_drops::KernelDrops;
use crate::timers::Timers;

/// The port a node listens on unless told otherwise (the seed's, and memberlist's).
pub const DEFAULT_PORT: u16 = 7946;

/// Link events handled in one turn of the node's loop, at most, before it publishes its state
/// and looks at its socket and timers again.
const LINK_EVENTS_PER_TURN: usize = 256;

/// Events a subscriber may leave unread before newer ones are dropped for it (and counted in
/// [`NodeStats::events_dropped`]): a subscriber that stops reading costs at most this many.
pub const SUBSCRIBER_BACKLOG: usize = 4096;

/// How to run a node.
#[derive(Clone, Debug)]
pub struct NodeConfig {
    /// Where to listen (port 0: any free port; [`Node::local_addr`] says which).
    pub bind: SocketAddr,
    /// The address peers reach this node at. Default: the bound address, or, when bound to an
    /// unspecified IP (`0.0.0.0`), the local address the system routes to the first seed through
    /// (loopback without seeds).
    pub advertise: Option<SocketAddr>,
    /// Members to join through, as `host:port`; a seed is known by address only.
    pub seeds: Vec<String>,
    /// The federation's name; datagrams of other federations are dropped.
    pub federation: String,
    /// Who may join.
    pub admission: Admission,
    /// Where the node keeps its boot counter (its generation). Without one, the generation is
    /// the boot's Unix time in seconds.
    pub data_dir: Option<PathBuf>,
    /// How often things happen (LAN defaults: a probe a second).
    pub timings: Timings,
    /// About how many members the federation has.
    pub expected_members: u32,
    /// Take part in consensus under this federation document (as a validator if the node's
    /// key is one of its validators, else as a follower that decides with them). Needs a
    /// `data_dir` for the write-ahead log and the decided heights, and the document's
    /// federation must be `federation`. The node then also listens on TCP, at the port number
    /// of its UDP socket, for consensus links.
    pub consensus: Option<ConsensusConfig>,
    /// The fraction of outgoing datagrams dropped on purpose (the `fault-injection` feature,
    /// for benchmarks of the membership under loss; never in a production build).
    #[cfg(feature = "fault-injection")]
    pub outgoing_loss: f64,
}

impl Default for NodeConfig {
    fn default() -> Self {
        NodeConfig {
            bind: SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), DEFAULT_PORT),
            advertise: None,
            seeds: Vec::new(),
            federation: "bizra".into(),
            admission: Admission::Open,
            data_dir: None,
            timings: Timings::default(),
            expected_members: 16,
            consensus: None,
            #[cfg(feature = "fault-injection")]
            outgoing_loss: 0.0,
        }
    }
}

/// Counters of a node's traffic.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NodeStats {
    /// Datagrams sent.
    pub sent: u64,
    /// Datagrams received (accepted or not).
    pub received: u64,
    /// Datagrams dropped, by reason: those the node read and refused, and those the kernel
    /// dropped unread because the socket's receive queue was full ([`DropReason::QueueFull`],
    /// Linux only).
    pub dropped: HashMap<DropReason, u64>,
    /// Events dropped because a subscriber left its backlog (4,096 events) unread.
    pub events_dropped: u64,
}

impl NodeStats {
    /// Datagrams dropped for `reason`.
    pub fn dropped(&self, reason: DropReason) -> u64 {
        self.dropped.get(&reason).copied().unwrap_or(0)
    }
}

#[derive(Default)]
struct Shared {
    members: Vec<MemberInfo>,
    stats: NodeStats,
    subscribers: Subscribers<Event>,
    consensus: Option<ConsensusStatus>,
    consensus_subscribers: Subscribers<ConsensusEvent>,
    running: bool,
}

/// The live subscriptions of one stream, each a bounded queue. A subscription dropped by its
/// reader is forgotten at the next subscribe or publish, so that subscribing and dropping in a
/// quiet federation does not pile up queues that nobody reads.
struct Subscribers<T>(Vec<(SyncSender<T>, Weak<()>)>);

impl<T> Default for Subscribers<T> {
    fn default() -> Self {
        Self(Vec::new())
    }
}

impl<T: Clone> Subscribers<T> {
    /// A new subscription, after `first` (events it must see before any published later).
    fn add(&mut self, first: impl IntoIterator<Item = T>) -> Subscription<T> {
        self.0.retain(|(_, alive)| alive.strong_count() > 0);
        let (tx, rx) = mpsc::sync_channel(SUBSCRIBER_BACKLOG);
        for e in first {
            let _ = tx.try_send(e);
        }
        let alive = Arc::new(());
        self.0.push((tx, Arc::downgrade(&alive)));
        Subscription { rx, _alive: alive }
    }

    /// Gives `e` to every subscription; returns to how many it could not (their queue full).
    fn publish(&mut self, e: &T) -> u64 {
        let mut lost = 0;
        self.0.retain(|(tx, alive)| {
            alive.strong_count() > 0
                && match tx.try_send(e.clone()) {
                    Ok(()) => true,
                    Err(TrySendError::Full(_)) => {
                        lost += 1;
                        true
                    }
                    Err(TrySendError::Disconnected(_)) => false,
                }
        });
        lost
    }

    /// Ends every subscription (their readers see the end once they read what is queued).
    fn clear(&mut self) {
        self.0.clear();
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.0.len()
    }
}

enum Command {
    /// Leave, then say so: a std channel, so that a node can be dropped on any thread, a tokio
    /// runtime's included (a tokio receiver's `blocking_recv` panics there).
    Leave(mpsc::SyncSender<()>),
    Stop,
    Propose(Box<Envelope>, mpsc::SyncSender<Result<bool>>),
    Decided(u64, mpsc::SyncSender<Result<Option<(Certificate, Batch)>>>),
}

/// A federation member on a real UDP socket: it joins through its seeds, probes, suspects,
/// declares down, and says goodbye on [`Node::leave`] (or when dropped). `Send + Sync`; its work
/// runs on its own thread, which ends with it.
pub struct Node {
    commands: tmpsc::UnboundedSender<Command>,
    shared: Arc<Mutex<Shared>>,
    thread: Option<JoinHandle<()>>,
    local_addr: SocketAddr,
    advertised: SocketAddr,
    generation: u64,
    node_id: String,
    document: Option<Arc<FederationDocument>>,
    kernel_drops: KernelDrops,
}

impl std::fmt::Debug for Node {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Node")
            .field("node_id", &self.node_id)
            .field("addr", &self.advertised)
            .field("generation", &self.generation)
            .finish_non_exhaustive()
    }
}

fn lock(m: &Mutex<Shared>) -> MutexGuard<'_, Shared> {
    // The shared state is replaced whole at each update, so a poisoned lock is still coherent.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

fn resolve(seed: &str) -> Result<SocketAddr> {
    seed.to_socket_addrs()
        .map_err(|e| Error::InvalidInput(format!("seed {seed:?}: {e} (expected host:port)")))?
        .next()
        .ok_or_else(|| Error::InvalidInput(format!("seed {seed:?} resolves to no address")))
}

/// Binds the UDP socket and, for consensus, a TCP listener on the same address and port. With
/// port 0 the system picks the UDP port; if that port is taken on TCP, another is tried.
fn bind(addr: SocketAddr, tcp: bool) -> Result<(StdUdpSocket, Option<StdTcpListener>)> {
    let attempts = if tcp && addr.port() == 0 { 32 } else { 1 };
    let mut attempt = 0;
    loop {
        attempt += 1;
        let udp = StdUdpSocket::bind(addr).map_err(|e| Error::io(format!("udp {addr}"), e))?;
        if !tcp {
            return Ok((udp, None));
        }
        let local = udp
            .local_addr()
            .map_err(|e| Error::io(format!("udp {addr}"), e))?;
        match StdTcpListener::bind(local) {
            Ok(listener) => return Ok((udp, Some(listener))),
            Err(e) if attempt < attempts && e.kind() == std::io::ErrorKind::AddrInUse => {}
            Err(e) => return Err(Error::io(format!("tcp {local} (consensus links)"), e)),
        }
    }
}

/// The address peers should use: the bound one, unless it is unspecified.
fn advertised(bound: SocketAddr, seeds: &[SocketAddr]) -> SocketAddr {
    if !bound.ip().is_unspecified() {
        return bound;
    }
    let routed = seeds.first().and_then(|seed| {
        let probe = StdUdpSocket::bind(SocketAddr::new(bound.ip(), 0)).ok()?;
        probe.connect(seed).ok()?;
        probe.local_addr().ok().map(|a| a.ip())
    });
    let ip = routed.unwrap_or(if bound.is_ipv4() {
        IpAddr::V4(Ipv4Addr::LOCALHOST)
    } else {
        IpAddr::V6(std::net::Ipv6Addr::LOCALHOST)
    });
    SocketAddr::new(ip, bound.port())
}

impl Node {
    /// Binds the socket, takes the next generation from the data directory, and starts the
    /// node's thread, which joins through the seeds. Errors name what was wrong: a seed that
    /// does not resolve, a port in use, an unreadable data directory.
    pub fn start(identity: Arc<Identity>, config: NodeConfig) -> Result<Node> {
        config.timings.validate().map_err(Error::InvalidInput)?;
        let seeds = config
            .seeds
            .iter()
            .map(|s| resolve(s))
            .collect::<Result<Vec<_>>>()?;
        if let Some(c) = &config.consensus {
            if c.document.federation() != config.federation {
                return Err(Error::InvalidInput(format!(
                    "the federation document is federation {:?}'s, this node's is {:?}",
                    c.document.federation(),
                    config.federation
                )));
            }
            if config.data_dir.is_none() {
                return Err(Error::InvalidInput(
                    "consensus needs a data_dir: the write-ahead log must outlive the process, \
                     or a restarted validator could sign twice"
                        .into(),
                ));
            }
        }
        let document = config.consensus.as_ref().map(|c| c.document.clone());
        let (socket, listener) = bind(config.bind, config.consensus.is_some())?;
        let local_addr = socket
            .local_addr()
            .map_err(|e| Error::io(format!("udp {}", config.bind), e))?;
        let kernel_drops = KernelDrops::of(&socket);
        socket
            .set_nonblocking(true)
            .map_err(|e| Error::io(format!("udp {local_addr}"), e))?;
        let advertised = config
            .advertise
            .unwrap_or_else(|| advertised(local_addr, &seeds));
        let generation = generation::next(config.data_dir.as_deref())?;
        let mut seed = [0u8; 32];
        OsRng.fill_bytes(&mut seed);
        let federation = MembershipConfig::federation_id(&config.federation);
        let membership = Membership::new(
            identity.clone(),
            advertised,
            generation,
            MembershipConfig {
                federation,
                admission: config.admission.clone(),
                timings: config.timings,
                expected_members: config.expected_members,
                max_senders: 4096,
            },
            seed,
        );
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .enable_time()
            .build()
            .map_err(|e| Error::io("tokio runtime", e))?;
        let (socket, consensus) = {
            let _context = runtime.enter();
            let socket = UdpSocket::from_std(socket)
                .map_err(|e| Error::io(format!("udp {local_addr}"), e))?;
            let consensus = match (config.consensus, listener, &config.data_dir) {
                (Some(c), Some(listener), Some(dir)) => Some(Consensus::start(
                    c,
                    identity.clone(),
                    dir,
                    federation,
                    config.admission,
                    listener,
                )?),
                _ => None,
            };
            (socket, consensus)
        };
        let (consensus, link_events) = consensus.unzip();
        let (commands, rx) = tmpsc::unbounded_channel();
        let shared = Arc::new(Mutex::new(Shared {
            running: true,
            consensus: consensus.as_ref().map(Consensus::status),
            ..Shared::default()
        }));
        let driver = Driver {
            socket,
            membership,
            timers: Timers::default(),
            consensus,
            link_events,
            shared: shared.clone(),
            #[cfg(feature = "fault-injection")]
            loss: (
                config.outgoing_loss,
                u64::from_le_bytes([
                    seed[0], seed[1], seed[2], seed[3], seed[4], seed[5], seed[6], seed[7],
                ]) | 1,
            ),
        };
        let thread = std::thread::Builder::new()
            .name(format!("bizra-node-{}", &identity.node_id()[..8]))
            .spawn(move || {
                let shared = driver.shared.clone();
                runtime.block_on(driver.run(seeds, rx));
                let mut shared = lock(&shared);
                shared.running = false;
                // Subscribers see the end of their streams.
                shared.subscribers.clear();
                shared.consensus_subscribers.clear();
            })
            .map_err(|e| Error::io("node thread", e))?;
        Ok(Node {
            commands,
            shared,
            thread: Some(thread),
            local_addr,
            advertised,
            generation,
            node_id: identity.node_id().to_owned(),
            document,
            kernel_drops,
        })
    }

    /// The address the socket is bound to.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The address peers reach this node at.
    pub fn advertised_addr(&self) -> SocketAddr {
        self.advertised
    }

    /// This boot's generation.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// This node's id.
    pub fn node_id(&self) -> &str {
        &self.node_id
    }

    /// Every member this node knows of (itself excluded), with state, incarnation, address and
    /// when it was last heard from.
    pub fn members(&self) -> Vec<MemberInfo> {
        lock(&self.shared).members.clone()
    }

    /// Traffic counters, drops by reason included; the kernel's ([`DropReason::QueueFull`], Linux
    /// only) are read now, not counted per datagram.
    pub fn stats(&self) -> NodeStats {
        let mut stats = lock(&self.shared).stats.clone();
        let queue_full = self.kernel_drops.count();
        if queue_full > 0 {
            stats.dropped.insert(DropReason::QueueFull, queue_full);
        }
        stats
    }

    /// Whether the node's thread still runs.
    pub fn is_running(&self) -> bool {
        lock(&self.shared).running
    }

    /// The membership events, in order: first a `Joined` event for every member already alive
    /// or suspect (so that a subscriber that comes late misses no one), then every change from
    /// now on. Any number of subscribers each get every event; a stream ends when the node stops.
    pub fn subscribe(&self) -> EventStream {
        let mut shared = lock(&self.shared);
        if !shared.running {
            return Subscription::ended();
        }
        // Under the lock that publishes both the members and the events: nothing is missed
        // between the two, and nothing is told twice.
        let now = now_ms();
        let first: Vec<Event> = shared
            .members
            .iter()
            .filter(|m| matches!(m.state, MemberState::Alive | MemberState::Suspect))
            .map(|m| Event {
                kind: EventKind::Joined,
                member: m.clone(),
                at_ms: now,
            })
            .collect();
        shared.subscribers.add(first)
    }

    /// Submits a `bizra.proposal` envelope to consensus: pooled here and forwarded to the other
    /// validators, to be decided in a batch. `Ok(false)` if it was pooled already. Refused: a
    /// node without consensus, an envelope that is not a proposal, or that the federation's
    /// gate chain refuses now; a full pool refuses with [`Error::Busy`] until a batch is
    /// decided.
    pub fn propose(&self, envelope: Envelope) -> Result<bool> {
        self.ask(|reply| Command::Propose(Box::new(envelope), reply))?
    }

    /// The certificate and batch of a decided height, from this node's storage (`None` if it
    /// has not decided that height).
    pub fn decided(&self, height: u64) -> Result<Option<(Certificate, Batch)>> {
        self.ask(|reply| Command::Decided(height, reply))?
    }

    /// The federation document this node decides under (`None`: it takes no part in
    /// consensus): what a certificate of its decisions is checked against.
    pub fn federation_document(&self) -> Option<Arc<FederationDocument>> {
        self.document.clone()
    }

    /// Where consensus stands on this node (`None`: it takes no part).
    pub fn consensus_status(&self) -> Option<ConsensusStatus> {
        lock(&self.shared).consensus.clone()
    }

    /// The consensus events from now on, in order: decisions and equivocation evidence (past
    /// decisions are in [`Node::decided`]). Any number of subscribers each get every event; a
    /// stream ends when the node stops. A node without consensus gives an ended stream.
    pub fn consensus_events(&self) -> Subscription<ConsensusEvent> {
        let mut shared = lock(&self.shared);
        if shared.running && shared.consensus.is_some() {
            shared.consensus_subscribers.add([])
        } else {
            Subscription::ended()
        }
    }

    /// Sends a command that answers, and waits for the answer.
    fn ask<T>(&self, command: impl FnOnce(mpsc::SyncSender<T>) -> Command) -> Result<T> {
        if lock(&self.shared).consensus.is_none() {
            return Err(Error::InvalidInput(
                "this node takes no part in consensus (start it with NodeConfig::consensus)".into(),
            ));
        }
        let (reply, answer) = mpsc::sync_channel(1);
        self.commands
            .send(command(reply))
            .ok()
            .and_then(|()| answer.recv().ok())
            .ok_or_else(|| Error::InvalidInput("the node has stopped".into()))
    }

    /// Leaves gracefully: tells the members, then stops. Returns once the goodbye is sent.
    pub fn leave(mut self) {
        self.shutdown(true);
    }

    /// Stops without telling anyone (the members will find out by probing, as after a crash).
    pub fn stop(mut self) {
        self.shutdown(false);
    }

    fn shutdown(&mut self, leave: bool) {
        if leave {
            let (done, wait) = mpsc::sync_channel(1);
            if self.commands.send(Command::Leave(done)).is_ok() {
                let _ = wait.recv();
            }
        } else {
            let _ = self.commands.send(Command::Stop);
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Node {
    /// A dropped node leaves gracefully.
    fn drop(&mut self) {
        if self.thread.is_some() {
            self.shutdown(true);
        }
    }
}

/// A subscriber's events, in order; ends when the node stops.
#[derive(Debug)]
pub struct Subscription<T> {
    rx: mpsc::Receiver<T>,
    /// Tells the node that this subscription is still read (see [`Subscribers`]).
    _alive: Arc<()>,
}

/// A subscriber's membership events ([`Node::subscribe`]).
pub type EventStream = Subscription<Event>;

/// Why a subscription gave no event.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RecvError {
    /// None came within the time allowed (for [`Subscription::try_next`]: none was waiting);
    /// more may come.
    Timeout,
    /// The stream is over: the node's thread has ended and every event it sent was read.
    Ended,
}

impl std::fmt::Display for RecvError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            RecvError::Timeout => "no event within the time allowed",
            RecvError::Ended => "the node has stopped and every event was read",
        })
    }
}

impl std::error::Error for RecvError {}

impl<T> Subscription<T> {
    /// A stream that has ended already (the node stopped, or has no such events).
    fn ended() -> Self {
        let (_, rx) = mpsc::sync_channel(0);
        Subscription {
            rx,
            _alive: Arc::new(()),
        }
    }

    /// The next event, waiting at most `timeout`; [`RecvError::Ended`] at once when the node's
    /// thread has ended and every event was read (the node drops its end of every stream only
    /// after its last event, so none is lost).
    pub fn next_timeout(&self, timeout: Duration) -> std::result::Result<T, RecvError> {
        self.rx.recv_timeout(timeout).map_err(|e| match e {
            mpsc::RecvTimeoutError::Timeout => RecvError::Timeout,
            mpsc::RecvTimeoutError::Disconnected => RecvError::Ended,
        })
    }

    /// The next event if one is waiting ([`RecvError::Timeout`] if none is, yet).
    pub fn try_next(&self) -> std::result::Result<T, RecvError> {
        self.rx.try_recv().map_err(|e| match e {
            mpsc::TryRecvError::Empty => RecvError::Timeout,
            mpsc::TryRecvError::Disconnected => RecvError::Ended,
        })
    }

    /// [`Subscription::next_timeout`] without telling a timeout from the end: `None` for both.
    pub fn recv_timeout(&self, timeout: Duration) -> Option<T> {
        self.next_timeout(timeout).ok()
    }

    /// [`Subscription::try_next`] without telling an empty stream from an ended one.
    pub fn try_recv(&self) -> Option<T> {
        self.try_next().ok()
    }
}

impl<T> Iterator for Subscription<T> {
    type Item = T;

    /// Blocks until the next event; `None` once the node stopped.
    fn next(&mut self) -> Option<T> {
        self.rx.recv().ok()
    }
}

struct Driver {
    socket: UdpSocket,
    membership: Membership,
    timers: Timers<Timer>,
    consensus: Option<Consensus>,
    link_events: Option<tmpsc::Receiver<LinkEvent>>,
    shared: Arc<Mutex<Shared>>,
    /// The fraction of outgoing datagrams to drop, and a xorshift state to draw with.
    #[cfg(feature = "fault-injection")]
    loss: (f64, u64),
}

impl Driver {
    async fn run(
        mut self,
        seeds: Vec<SocketAddr>,
        mut commands: tmpsc::UnboundedReceiver<Command>,
    ) {
        self.membership.join(&seeds, now_ms());
        self.flush().await;
        // One byte more than the largest datagram, so that a larger one is seen as such.
        let mut buf = vec![0u8; MAX_DATAGRAM + 1];
        loop {
            let due = self.timers.next_due();
            let consensus_due = self.consensus.as_ref().and_then(|c| c.timers.next_due());
            tokio::select! {
                received = self.socket.recv_from(&mut buf) => {
                    if let Ok((n, from)) = received {
                        lock(&self.shared).stats.received += 1;
                        let bytes = buf.get(..n).unwrap_or_default();
                        let _ = self.membership.handle_datagram(from, bytes, now_ms());
                    }
                }
                () = sleep_until(due) => {
                    let now = Instant::now();
                    while let Some(t) = self.timers.pop_due(now) {
                        self.membership.handle_timer(t, now_ms());
                    }
                }
                Some(event) = recv(&mut self.link_events) => {
                    if let Some(c) = &mut self.consensus {
                        c.on_link(event);
                        // What else the links brought, before publishing once: under load
                        // the node keeps up with its peers instead of publishing per frame.
                        if let Some(rx) = &mut self.link_events {
                            for _ in 0..LINK_EVENTS_PER_TURN {
                                let Ok(event) = rx.try_recv() else { break };
                                c.on_link(event);
                            }
                        }
                    }
                }
                () = std::future::ready(()), if self.consensus.as_ref().is_some_and(Consensus::has_deferred) => {
                    if let Some(c) = &mut self.consensus {
                        c.judge_deferred();
                    }
                }
                () = sleep_until(consensus_due) => {
                    let now = Instant::now();
                    if let Some(c) = &mut self.consensus {
                        while let Some(t) = c.timers.pop_due(now) {
                            c.on_timer(t);
                        }
                    }
                }
                command = commands.recv() => {
                    match command {
                        Some(Command::Leave(done)) => {
                            self.membership.leave(now_ms());
                            self.flush().await;
                            let _ = done.send(());
                            return;
                        }
                        Some(Command::Propose(envelope, reply)) => {
                            let _ = reply.send(match &mut self.consensus {
                                Some(c) => c.propose(*envelope),
                                None => Ok(false),
                            });
                        }
                        Some(Command::Decided(height, reply)) => {
                            let _ = reply.send(match &mut self.consensus {
                                Some(c) => c.decided(height),
                                None => Ok(None),
                            });
                        }
                        Some(Command::Stop) | None => return,
                    }
                }
            }
            self.flush().await;
        }
    }

    /// Whether to drop the next outgoing datagram (the `fault-injection` feature).
    #[cfg(feature = "fault-injection")]
    fn drop_one(&mut self) -> bool {
        let (p, x) = &mut self.loss;
        *x ^= *x << 13;
        *x ^= *x >> 7;
        *x ^= *x << 17;
        (*x >> 11) as f64 / (1u64 << 53) as f64 <= *p && *p > 0.0
    }

    /// Carries out the membership's outputs and publishes its state.
    async fn flush(&mut self) {
        let mut events = Vec::new();
        let mut sent = 0;
        while let Some(out) = self.membership.poll_output() {
            match out {
                Output::Send { to, datagram } => {
                    #[cfg(feature = "fault-injection")]
                    if self.drop_one() {
                        continue;
                    }
                    if self.socket.send_to(&datagram, to).await.is_ok() {
                        sent += 1;
                    }
                }
                Output::Schedule { timer, after } => self.timers.push(after, timer),
                Output::Event(e) => events.push(e),
            }
        }
        let members = self.membership.members();
        let (consensus_events, status) = match &mut self.consensus {
            Some(c) => {
                c.connect(&members);
                (c.take_events(), Some(c.status()))
            }
            None => (Vec::new(), None),
        };
        let mut shared = lock(&self.shared);
        shared.stats.sent += sent;
        shared.members = members;
        shared.consensus = status;
        let drops = self.membership.drops();
        shared.stats.dropped = DropReason::ALL
            .iter()
            .map(|r| (*r, drops.get(*r)))
            .filter(|(_, n)| *n > 0)
            .collect();
        let mut lost = 0;
        for e in &events {
            lost += shared.subscribers.publish(e);
        }
        for e in &consensus_events {
            lost += shared.consensus_subscribers.publish(e);
        }
        shared.stats.events_dropped += lost;
    }
}

/// The next item of a channel that may be absent (then: never).
async fn recv<T>(rx: &mut Option<tmpsc::Receiver<T>>) -> Option<T> {
    match rx {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use super::*;

    fn start(seeds: &[SocketAddr]) -> Node {
        let config = NodeConfig {
            bind: SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 0),
            seeds: seeds.iter().map(ToString::to_string).collect(),
            federation: "event-stream-end".into(),
            timings: Timings {
                probe_period: Duration::from_millis(100),
                probe_rtt: Duration::from_millis(40),
                gossip_interval: Duration::from_millis(30),
                ..Timings::default()
            },
            ..NodeConfig::default()
        };
        match Node::start(Arc::new(Identity::generate()), config) {
            Ok(node) => node,
            Err(e) => panic!("node start: {e}"),
        }
    }

    /// A subscriber that stops reading holds at most [`SUBSCRIBER_BACKLOG`] events: the rest are
    /// dropped for it and counted, the others still get every event, and once it reads again
    /// it gets new events again. A dropped subscription is forgotten without any event.
    #[test]
    fn a_slow_subscriber_is_bounded_and_counted_then_recovers() {
        let mut subs = Subscribers::<u32>::default();
        let slow = subs.add([]);
        let fast = subs.add([]);
        let extra = 10;
        let mut lost = 0;
        for i in 0..SUBSCRIBER_BACKLOG as u32 + extra {
            lost += subs.publish(&i);
            assert_eq!(fast.try_next(), Ok(i));
        }
        assert_eq!(
            lost,
            u64::from(extra),
            "only the slow one lost, only past its backlog"
        );
        let kept: Vec<u32> = std::iter::from_fn(|| slow.try_recv()).collect();
        assert_eq!(kept.len(), SUBSCRIBER_BACKLOG);
        assert_eq!(
            kept.last(),
            Some(&(SUBSCRIBER_BACKLOG as u32 - 1)),
            "oldest kept"
        );
        assert_eq!(subs.publish(&7), 0, "room again once read");
        assert_eq!(slow.try_next(), Ok(7));

        drop(slow);
        drop(fast);
        let _third = subs.add([1]);
        assert_eq!(subs.len(), 1, "dropped subscriptions are forgotten at once");
    }

    /// Datagrams the kernel drops while the node cannot read (here: its thread waits for the
    /// lock the test holds) are in its stats as `QueueFull`, beside the reasons it counts itself.
    #[cfg(target_os = "linux")]
    #[test]
    fn a_full_receive_queue_is_counted() {
        let node = start(&[]);
        assert_eq!(node.stats().dropped(DropReason::QueueFull), 0);
        let sender = StdUdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        let stalled = lock(&node.shared);
        // The node reads at most one datagram, then waits for the lock; the rest fill its
        // queue, however large the system's default buffer, until the kernel drops.
        let mut sent = 0u64;
        while node.kernel_drops.count() == 0 {
            assert!(sent < 1_000_000, "no kernel drops after {sent} datagrams");
            for _ in 0..1000 {
                sent += u64::from(sender.send_to(b"flood", node.local_addr()).is_ok());
            }
        }
        drop(stalled);
        let stats = node.stats();
        assert!(stats.dropped(DropReason::QueueFull) > 0);
        assert!(stats.dropped(DropReason::QueueFull) < sent);
        node.stop();
    }

    /// A quiet stream times out; a stopped node's stream gives every event it had sent, then
    /// says that it ended, at once and from then on.
    #[test]
    fn a_stream_tells_a_timeout_from_its_end() {
        let a = start(&[]);
        let events = a.subscribe();
        assert_eq!(
            events.next_timeout(Duration::from_millis(20)).err(),
            Some(RecvError::Timeout)
        );
        assert_eq!(events.try_next().err(), Some(RecvError::Timeout));

        let b = start(&[a.local_addr()]);
        let deadline = Instant::now() + Duration::from_secs(10);
        while !a.members().iter().any(|m| m.node_id == b.node_id()) {
            assert!(Instant::now() < deadline, "b never joined a");
            std::thread::sleep(Duration::from_millis(10));
        }
        a.stop();

        // Every event a sent is still read after its thread ended, then the end.
        let mut joined = false;
        let end = loop {
            match events.next_timeout(Duration::from_secs(10)) {
                Ok(e) => joined |= e.kind == EventKind::Joined && e.member.node_id == b.node_id(),
                Err(end) => break end,
            }
        };
        assert_eq!(end, RecvError::Ended);
        assert!(joined, "the buffered Joined event was lost");
        assert_eq!(
            events.next_timeout(Duration::from_secs(10)).err(),
            Some(RecvError::Ended)
        );
        assert_eq!(events.try_next().err(), Some(RecvError::Ended));
        assert_eq!(events.recv_timeout(Duration::ZERO), None);
    }
}
