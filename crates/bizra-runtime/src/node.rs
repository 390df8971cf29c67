//! [`Node`]: a federation member on a real UDP socket, on a thread of its own.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, ToSocketAddrs, UdpSocket as StdUdpSocket};
use std::path::PathBuf;
use std::sync::mpsc::{self, SyncSender, TrySendError};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bizra_federation::datagram::MAX_DATAGRAM;
use bizra_federation::{
    Admission, DropReason, Event, EventKind, MemberInfo, MemberState, Membership, MembershipConfig,
    Output, Timer, Timings,
};
use bizra_protocol::{Error, Identity, Result};
use rand_core::{OsRng, RngCore as _};
use tokio::net::UdpSocket;
use tokio::sync::{mpsc as tmpsc, oneshot};
use tokio::time::Instant;

use crate::generation;

/// The port a node listens on unless told otherwise (the seed's, and memberlist's).
pub const DEFAULT_PORT: u16 = 7946;

/// Events a subscriber may leave unread before newer ones are dropped for it (and counted).
const SUBSCRIBER_BACKLOG: usize = 4096;

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
    /// Datagrams dropped, by reason.
    pub dropped: HashMap<DropReason, u64>,
    /// Events dropped because a subscriber left more than 4096 unread.
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
    subscribers: Vec<SyncSender<Event>>,
    running: bool,
}

enum Command {
    Leave(oneshot::Sender<()>),
    Stop,
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
        let socket = StdUdpSocket::bind(config.bind)
            .map_err(|e| Error::io(format!("udp {}", config.bind), e))?;
        let local_addr = socket
            .local_addr()
            .map_err(|e| Error::io(format!("udp {}", config.bind), e))?;
        socket
            .set_nonblocking(true)
            .map_err(|e| Error::io(format!("udp {local_addr}"), e))?;
        let advertised = config
            .advertise
            .unwrap_or_else(|| advertised(local_addr, &seeds));
        let generation = generation::next(config.data_dir.as_deref())?;
        let mut seed = [0u8; 32];
        OsRng.fill_bytes(&mut seed);
        let membership = Membership::new(
            identity.clone(),
            advertised,
            generation,
            MembershipConfig {
                federation: MembershipConfig::federation_id(&config.federation),
                admission: config.admission,
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
        let socket = {
            let _context = runtime.enter();
            UdpSocket::from_std(socket).map_err(|e| Error::io(format!("udp {local_addr}"), e))?
        };
        let (commands, rx) = tmpsc::unbounded_channel();
        let shared = Arc::new(Mutex::new(Shared {
            running: true,
            ..Shared::default()
        }));
        let driver = Driver {
            socket,
            membership,
            timers: Timers::default(),
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

    /// Traffic counters, drops by reason included.
    pub fn stats(&self) -> NodeStats {
        lock(&self.shared).stats.clone()
    }

    /// Whether the node's thread still runs.
    pub fn is_running(&self) -> bool {
        lock(&self.shared).running
    }

    /// The membership events, in order: first a `Joined` event for every member already alive
    /// or suspect (so that a subscriber that comes late misses no one), then every change from
    /// now on. Any number of subscribers each get every event; a stream ends when the node stops.
    pub fn subscribe(&self) -> EventStream {
        let (tx, rx) = mpsc::sync_channel(SUBSCRIBER_BACKLOG);
        let mut shared = lock(&self.shared);
        if shared.running {
            // Under the lock that publishes both the members and the events: nothing is missed
            // between the two, and nothing is told twice.
            let now = now_ms();
            for m in shared
                .members
                .iter()
                .filter(|m| matches!(m.state, MemberState::Alive | MemberState::Suspect))
            {
                let _ = tx.try_send(Event {
                    kind: EventKind::Joined,
                    member: m.clone(),
                    at_ms: now,
                });
            }
            shared.subscribers.push(tx);
        }
        EventStream { rx }
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
            let (done, wait) = oneshot::channel();
            if self.commands.send(Command::Leave(done)).is_ok() {
                let _ = wait.blocking_recv();
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
pub struct EventStream {
    rx: mpsc::Receiver<Event>,
}

impl EventStream {
    /// The next event, waiting at most `timeout`; `None` on timeout or once the node stopped.
    pub fn recv_timeout(&self, timeout: Duration) -> Option<Event> {
        self.rx.recv_timeout(timeout).ok()
    }

    /// The next event if one is waiting.
    pub fn try_recv(&self) -> Option<Event> {
        self.rx.try_recv().ok()
    }
}

impl Iterator for EventStream {
    type Item = Event;

    /// Blocks until the next event; `None` once the node stopped.
    fn next(&mut self) -> Option<Event> {
        self.rx.recv().ok()
    }
}

/// Due times of the membership's timers.
#[derive(Default)]
struct Timers {
    heap: BinaryHeap<Reverse<(Instant, u64)>>,
    items: HashMap<u64, Timer>,
    order: u64,
}

impl Timers {
    fn push(&mut self, after: Duration, timer: Timer) {
        self.order += 1;
        self.items.insert(self.order, timer);
        self.heap
            .push(Reverse((Instant::now() + after, self.order)));
    }

    fn next_due(&self) -> Option<Instant> {
        self.heap.peek().map(|Reverse((at, _))| *at)
    }

    fn pop_due(&mut self, now: Instant) -> Option<Timer> {
        let Reverse((at, order)) = *self.heap.peek()?;
        if at > now {
            return None;
        }
        self.heap.pop();
        self.items.remove(&order)
    }
}

struct Driver {
    socket: UdpSocket,
    membership: Membership,
    timers: Timers,
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
                command = commands.recv() => {
                    match command {
                        Some(Command::Leave(done)) => {
                            self.membership.leave(now_ms());
                            self.flush().await;
                            let _ = done.send(());
                            return;
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
        let mut shared = lock(&self.shared);
        shared.stats.sent += sent;
        shared.members = self.membership.members();
        let drops = self.membership.drops();
        shared.stats.dropped = DropReason::ALL
            .iter()
            .map(|r| (*r, drops.get(*r)))
            .filter(|(_, n)| *n > 0)
            .collect();
        let mut lost = 0;
        for e in events {
            shared.subscribers.retain(|s| match s.try_send(e.clone()) {
                Ok(()) => true,
                Err(TrySendError::Full(_)) => {
                    lost += 1;
                    true
                }
                Err(TrySendError::Disconnected(_)) => false,
            });
        }
        shared.stats.events_dropped += lost;
    }
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}
