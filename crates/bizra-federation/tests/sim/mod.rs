//! A deterministic network for the sans-IO membership: virtual time, seeded loss, delay (and so
//! reordering) and partitions. Every node is a real `Membership` signing and verifying real
//! datagrams; only the wire and the clock are simulated.

#![allow(dead_code)]

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::net::SocketAddr;
use std::sync::Arc;

use bizra_federation::{Event, MemberId, Membership, MembershipConfig, Output, Timer};
use bizra_protocol::Identity;

/// xorshift64*: the simulation's only randomness, so a seed replays a run exactly.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1)
    }
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    pub fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
    pub fn seed32(&mut self) -> [u8; 32] {
        let mut s = [0u8; 32];
        for c in s.chunks_mut(8) {
            c.copy_from_slice(&self.next().to_le_bytes());
        }
        s
    }
}

enum Item {
    Deliver {
        to: usize,
        from: SocketAddr,
        bytes: Vec<u8>,
    },
    Timer {
        node: usize,
        boot: u64,
        timer: Timer,
    },
}

pub struct Node {
    pub membership: Membership,
    pub boot: u64,
    pub identity: Arc<Identity>,
}

pub struct Sim {
    pub rng: Rng,
    pub now: i64,
    pub nodes: Vec<Option<Node>>,
    pub addrs: Vec<SocketAddr>,
    pub keys: Vec<[u8; 32]>,
    pub events: Vec<Vec<Event>>,
    pub loss: f64,
    pub delay_ms: (i64, i64),
    /// Nodes on different sides of the partition cannot reach each other.
    pub side: Option<Vec<bool>>,
    pub sent: u64,
    /// Whether `events` records the nodes' events (a large federation's would fill memory).
    pub keep_events: bool,
    /// Which node listens on an address.
    index: HashMap<SocketAddr, usize>,
    config: MembershipConfig,
    queue: BinaryHeap<Reverse<(i64, u64)>>,
    items: HashMap<u64, Item>,
    order: u64,
    boots: u64,
}

pub const T0: i64 = 1_800_000_000_000;

impl Sim {
    pub fn new(seed: u64, config: MembershipConfig) -> Self {
        Sim {
            rng: Rng::new(seed),
            now: T0,
            nodes: Vec::new(),
            addrs: Vec::new(),
            keys: Vec::new(),
            events: Vec::new(),
            loss: 0.0,
            delay_ms: (1, 5),
            side: None,
            sent: 0,
            keep_events: true,
            index: HashMap::new(),
            config,
            queue: BinaryHeap::new(),
            items: HashMap::new(),
            order: 0,
            boots: 0,
        }
    }

    /// Adds a node (not yet joined); returns its index.
    pub fn add(&mut self) -> usize {
        let i = self.nodes.len();
        let addr: SocketAddr = format!("10.0.{}.{}:7946", i / 250, i % 250 + 1)
            .parse()
            .expect("address");
        self.addrs.push(addr);
        self.index.insert(addr, i);
        self.events.push(Vec::new());
        self.nodes.push(None);
        let id = Arc::new(Identity::from_seed(&self.rng.seed32()).expect("seed"));
        self.keys.push(*id.public_key());
        self.boot(i, id, 1 << 16);
        i
    }

    /// (Re)starts node `i` with `identity` in `generation`.
    pub fn boot(&mut self, i: usize, identity: Arc<Identity>, generation: u64) {
        self.boots += 1;
        let m = Membership::new(
            identity.clone(),
            self.addrs[i],
            generation,
            self.config.clone(),
            self.rng.seed32(),
        );
        self.nodes[i] = Some(Node {
            membership: m,
            boot: self.boots,
            identity,
        });
    }

    /// Gives every node every other as a member at once (`Membership::restore`): a converged
    /// federation of thousands without simulating thousands of joins.
    pub fn restore_all(&mut self) {
        let ids: Vec<MemberId> = self
            .nodes
            .iter()
            .flatten()
            .map(|n| n.membership.me())
            .collect();
        let now = self.now;
        for i in 0..self.nodes.len() {
            if let Some(n) = self.nodes[i].as_mut() {
                n.membership.restore(ids.iter().copied(), now);
            }
            self.drain(i);
        }
    }

    pub fn join(&mut self, i: usize, seeds: &[usize]) {
        let seeds: Vec<SocketAddr> = seeds.iter().map(|&s| self.addrs[s]).collect();
        let now = self.now;
        if let Some(n) = self.nodes[i].as_mut() {
            n.membership.join(&seeds, now);
        }
        self.drain(i);
    }

    /// Stops node `i` at once (as kill -9 would).
    pub fn kill(&mut self, i: usize) {
        self.nodes[i] = None;
    }

    pub fn leave(&mut self, i: usize) {
        let now = self.now;
        if let Some(n) = self.nodes[i].as_mut() {
            n.membership.leave(now);
        }
        self.drain(i);
    }

    fn push(&mut self, at: i64, item: Item) {
        self.order += 1;
        self.items.insert(self.order, item);
        self.queue.push(Reverse((at, self.order)));
    }

    fn drain(&mut self, i: usize) {
        loop {
            let Some(node) = self.nodes[i].as_mut() else {
                return;
            };
            let boot = node.boot;
            let Some(out) = node.membership.poll_output() else {
                return;
            };
            match out {
                Output::Send { to, datagram } => {
                    self.sent += 1;
                    let Some(&j) = self.index.get(&to) else {
                        continue;
                    };
                    if self.rng.unit() < self.loss {
                        continue;
                    }
                    if let Some(side) = &self.side {
                        if side[i] != side[j] {
                            continue;
                        }
                    }
                    let (lo, hi) = self.delay_ms;
                    let d = lo + (self.rng.next() % ((hi - lo) as u64 + 1)) as i64;
                    let from = self.addrs[i];
                    self.push(
                        self.now + d,
                        Item::Deliver {
                            to: j,
                            from,
                            bytes: datagram,
                        },
                    );
                }
                Output::Schedule { timer, after } => {
                    let at = self.now + after.as_millis() as i64;
                    self.push(
                        at,
                        Item::Timer {
                            node: i,
                            boot,
                            timer,
                        },
                    );
                }
                Output::Event(e) if self.keep_events => self.events[i].push(e),
                Output::Event(_) => {}
            }
        }
    }

    /// Runs until virtual time `until` (Unix ms).
    pub fn run_until(&mut self, until: i64) {
        while let Some(Reverse((at, order))) = self.queue.peek().copied() {
            if at > until {
                break;
            }
            self.queue.pop();
            self.now = at;
            let Some(item) = self.items.remove(&order) else {
                continue;
            };
            match item {
                Item::Deliver { to, from, bytes } => {
                    let now = self.now;
                    if let Some(n) = self.nodes[to].as_mut() {
                        let _ = n.membership.handle_datagram(from, &bytes, now);
                        self.drain(to);
                    }
                }
                Item::Timer { node, boot, timer } => {
                    let now = self.now;
                    if let Some(n) = self.nodes[node].as_mut() {
                        if n.boot == boot {
                            n.membership.handle_timer(timer, now);
                            self.drain(node);
                        }
                    }
                }
            }
        }
        self.now = until;
    }

    pub fn run_for_ms(&mut self, ms: i64) {
        let until = self.now + ms;
        self.run_until(until);
    }

    /// Runs until every live node sees every other alive, for at most `max_ms`; the time it
    /// took, or `None`.
    pub fn run_until_converged(&mut self, max_ms: i64) -> Option<i64> {
        let start = self.now;
        while self.now - start <= max_ms {
            if self.converged() {
                return Some(self.now - start);
            }
            self.run_for_ms(50);
        }
        None
    }

    /// Whether every live node sees every other live node alive (and no one else active).
    pub fn converged(&self) -> bool {
        let live: Vec<[u8; 32]> = self
            .nodes
            .iter()
            .flatten()
            .map(|n| *n.identity.public_key())
            .collect();
        self.nodes.iter().flatten().all(|n| {
            let me = n.identity.public_key();
            n.membership.active_members() == live.len() - 1
                && live
                    .iter()
                    .filter(|k| *k != me)
                    .all(|k| n.membership.state_of(k) == Some(bizra_federation::MemberState::Alive))
        })
    }

    pub fn live(&self) -> impl Iterator<Item = (usize, &Node)> {
        self.nodes
            .iter()
            .enumerate()
            .filter_map(|(i, n)| n.as_ref().map(|n| (i, n)))
    }

    /// The state node `i` sees node `j` in.
    pub fn state(&self, i: usize, j: usize) -> Option<bizra_federation::MemberState> {
        let n = self.nodes[i].as_ref()?;
        n.membership.state_of(&self.keys[j])
    }
}
