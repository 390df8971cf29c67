//! Federation membership: a node on a real UDP socket (`bizra_node`), its members, its events
//! read with a timeout (`bizra_node_events`), and its traffic counters. The core's `bizra::Node`
//! does the work on its own thread; this file converts types.
//!
//! Why these shapes:
//! - events are polled (`bizra_node_events_next` with a timeout) rather than pushed through a
//!   callback, so no C code ever runs on the node's thread and a slow reader cannot stall the
//!   membership (the core drops, and counts, what a reader leaves unread);
//! - members and events are plain structs with their text inline (a node id and an address have
//!   a bounded length), so an event needs no free and a member list is one allocation;
//! - a node that left or stopped keeps its handle: every call on it is then
//!   `BIZRA_STATUS_STOPPED`, which is also how an event stream says that it is over.

use std::ffi::{c_char, CString};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, OnceLock, PoisonError, RwLock};
use std::time::Duration;

use bizra_core::federation::{Admission, DropReason, EventKind, MemberInfo, MemberState, Timings};
use bizra_core::{ConsensusConfig, EventStream, GateChain, Node, NodeConfig, RecvError};

use crate::*;

/// A federation member on a real UDP socket: it joins through its seeds, probes its peers,
/// suspects and declares down those that stop answering, and says goodbye when it leaves. Its
/// work runs on the library's own thread. Thread-safe, so safe to share between threads: every
/// call may come from any thread at once (`bizra_node_leave` and `bizra_node_stop` included).
/// After a leave or a stop, every call on it but `bizra_node_is_running` is
/// `BIZRA_STATUS_STOPPED`. Freed with `bizra_node_free` (which leaves first if the node still
/// runs), after every other call on it has returned; its event streams stay valid after it.
pub struct bizra_node {
    _opaque: [u8; 0],
}
handle_type!(bizra_node => Running, Shared);

/// One subscriber's membership events, in order (`bizra_node_subscribe`). Not safe to share
/// between threads at once: one thread at a time calls `bizra_node_events_next` (it may be a
/// different one each time). Valid after its node is freed (it then drains and reports
/// `BIZRA_STATUS_STOPPED`). Freed with `bizra_node_events_free`.
pub struct bizra_node_events {
    _opaque: [u8; 0],
}
handle_type!(bizra_node_events => EventStream, BoxedMut);

/// The room for a node id in `bizra_member`: 32 lowercase hex characters and the NUL.
pub const BIZRA_NODE_ID_SIZE: usize = 33;
/// The room for an address in `bizra_member` (`"203.0.113.9:7946"`, `"[2001:db8::1]:7946"`),
/// with the NUL.
pub const BIZRA_ADDR_SIZE: usize = 64;
/// The number of drop counters in `bizra_node_counters` (indexed by `bizra_drop_reason`): room for
/// reasons added later without changing the struct's size.
pub const BIZRA_DROP_REASONS_MAX: usize = 32;

/// A member's state as this node sees it (`bizra_member.state` takes these numbers;
/// `bizra_member_state_name` gives their names).
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum bizra_member_state {
    /// Answers probes (`"alive"`).
    Alive = 0,
    /// Missed a probe; has the suspicion timeout to refute it (`"suspect"`).
    Suspect = 1,
    /// Declared down (`"down"`).
    Down = 2,
    /// Said it was leaving, then left (`"left"`).
    Left = 3,
}

/// What changed (`bizra_node_event.kind` takes these numbers; `bizra_node_event_kind_name`
/// gives their names).
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum bizra_node_event_kind {
    /// A member is alive for the first time, again after being down or leaving, or with a new
    /// generation (it restarted) (`"joined"`).
    Joined = 0,
    /// A member missed a probe (`"suspect"`).
    Suspect = 1,
    /// A suspect member refuted the suspicion (`"alive_again"`).
    AliveAgain = 2,
    /// A member was declared down (`"down"`).
    Down = 3,
    /// A member left gracefully (`"left"`).
    Left = 4,
}

/// Why a received datagram was dropped: the index into `bizra_node_counters.dropped`
/// (`bizra_drop_reason_name` gives the names). Stable numbers; a new reason takes a new one.
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum bizra_drop_reason {
    /// Longer than a datagram may be (`"oversize"`).
    Oversize = 0,
    /// Shorter than its header, signature and stated body (`"truncated"`).
    Truncated = 1,
    /// Not a bizra datagram (`"not_gossip"`).
    NotGossip = 2,
    /// A version this node does not speak (`"unknown_version"`).
    UnknownVersion = 3,
    /// A kind this version does not define (`"unknown_kind"`).
    UnknownKind = 4,
    /// Another federation's (`"wrong_federation"`).
    WrongFederation = 5,
    /// The sender's key is not admitted (`"not_admitted"`).
    NotAdmitted = 6,
    /// The sender's key is not a valid Ed25519 point (`"bad_key"`).
    BadKey = 7,
    /// The signature does not verify (`"bad_signature"`).
    BadSignature = 8,
    /// The send time lies outside the allowed clock skew (`"stale"`).
    Stale = 9,
    /// A sequence number seen already, or an older generation (`"replay"`).
    Replay = 10,
    /// The sender named in the body is not the key that signed (`"sender_mismatch"`).
    SenderMismatch = 11,
    /// The body does not decode, or SWIM refuses it (`"malformed"`).
    Malformed = 12,
    /// Sent by this node itself (`"from_self"`).
    FromSelf = 13,
    /// The socket's receive queue in the kernel was full, so the kernel dropped it unread
    /// (`"queue_full"`); counted by the kernel, reported on Linux only.
    QueueFull = 14,
}

/// Each C enum above mirrors a core enum variant for variant: `of` matches every core variant
/// and `to_core` every C one, so a variant added on either side fails the build until both
/// agree. `ALL` lists them in number order (a test checks that the numbers are dense).
macro_rules! mirrors {
    ($c:ident <=> $core:ident { $($v:ident),* $(,)? }) => {
        impl $c {
            const ALL: &'static [$c] = &[$($c::$v),*];

            fn of(x: $core) -> Self {
                match x {
                    $($core::$v => $c::$v),*
                }
            }

            fn to_core(self) -> $core {
                match self {
                    $($c::$v => $core::$v),*
                }
            }
        }
    };
}
mirrors!(bizra_member_state <=> MemberState { Alive, Suspect, Down, Left });
mirrors!(bizra_node_event_kind <=> EventKind { Joined, Suspect, AliveAgain, Down, Left });
mirrors!(bizra_drop_reason <=> DropReason {
    Oversize, Truncated, NotGossip, UnknownVersion, UnknownKind, WrongFederation, NotAdmitted,
    BadKey, BadSignature, Stale, Replay, SenderMismatch, Malformed, FromSelf, QueueFull,
});

/// How to run a node, for `bizra_node_start`. Zero-initialise, set `struct_size =
/// sizeof(...)`, then set what you need: every NULL/zero member means the core's default (a LAN
/// profile: a probe a second; no consensus). Members are only ever added at the end: a caller
/// built against an older header passes its own `sizeof` and the members it lacks take their
/// defaults.
#[repr(C)]
#[derive(Debug)]
pub struct bizra_node_options {
    /// `sizeof(bizra_node_options)`.
    pub struct_size: u32,
    /// Where to listen, `ip:port` (port 0: any free port, see `bizra_node_local_addr`); NULL:
    /// `"0.0.0.0:7946"`.
    pub bind: *const c_char,
    /// The address peers reach this node at, `ip:port`; NULL: the bound address (or, bound to
    /// `0.0.0.0`, the local address routed to the first seed).
    pub advertise: *const c_char,
    /// Members to join through, each `host:port` (`seeds_len` of them); none: wait to be joined.
    pub seeds: *const *const c_char,
    /// The number of `seeds`.
    pub seeds_len: usize,
    /// The federation's name: datagrams of another federation are dropped; NULL: `"bizra"`.
    pub federation: *const c_char,
    /// The node keys allowed to join (`allowlist_len` keys of 32 bytes, as
    /// `bizra_identity_public_key` gives them); NULL: any key may join (an open federation).
    /// A non-NULL list admits only those keys (none when `allowlist_len` is 0).
    pub allowlist: *const [u8; 32],
    /// The number of `allowlist` keys.
    pub allowlist_len: usize,
    /// Where the node keeps its boot counter (its generation), created if missing; NULL: the
    /// generation is the boot's Unix time in seconds.
    pub data_dir: *const c_char,
    /// How often each member probes another, in ms; 0: 1000.
    pub probe_period_ms: u32,
    /// How long a probe waits for its answer before asking others to probe, in ms; 0: 500.
    pub probe_rtt_ms: u32,
    /// How long a suspect has to refute the suspicion before it is declared down, in ms;
    /// 0: 5000.
    pub suspect_to_down_ms: u32,
    /// How long a down member is remembered, in ms; 0: 15 minutes.
    pub remove_down_ms: u32,
    /// How often updates are gossiped, in ms; 0: 200.
    pub gossip_interval_ms: u32,
    /// How often the node announces itself to a random member (anti-entropy), in ms; 0: 30000.
    pub announce_interval_ms: u32,
    /// How often the seeds are asked again once joined (a partition heals), in ms; 0: 10000.
    pub rejoin_interval_ms: u32,
    /// How far a datagram's send time may lie from this node's clock, in ms; 0: 30000.
    pub max_clock_skew_ms: u32,
    /// About how many members the federation has (sizes dissemination); 0: 16.
    pub expected_members: u32,
    /// The federation document to take part in consensus under: as a validator if this node's
    /// key is one of its validators, else as a follower that decides along (see
    /// `bizra_node_propose`, `bizra_node_subscribe_consensus`). The node keeps its own copy, so
    /// the caller may free the document at once. Needs `data_dir` (the write-ahead log and the
    /// decided heights live there: a validator restarted without them could sign twice), and the
    /// document's federation must be `federation`; otherwise `bizra_node_start` is
    /// `BIZRA_STATUS_INVALID_ARGUMENT`, the last error naming the problem. The node then also
    /// listens on TCP, at its UDP socket's port number, for the validators' links. NULL: no
    /// consensus. (Added after the members above: a caller built before it passes the older
    /// `struct_size` and runs no consensus.)
    pub document: *const bizra_federation_document,
    /// The gate chain every proposal must pass, here and in every batch this node judges. Shared:
    /// the node keeps its own reference until it ends (so the caller may free its handle at
    /// once), runs the chain's custom gates on the node's thread, and consults the chain without
    /// admitting into its replay cache; the chain cannot be configured while a node uses it.
    /// NULL: every built-in gate over the default constitution (`bizra_gate_chain_new_default`).
    /// Only with `document`: a chain without one is `BIZRA_STATUS_INVALID_ARGUMENT`.
    pub gates: *const bizra_gate_chain,
}

// SAFETY: integers, raw pointers and a `usize`: all zero is NULL/0, every member's default.
unsafe impl ZeroDefault for bizra_node_options {
    /// Before consensus: `struct_size` up to `expected_members`.
    const OLDER_SIZES: &'static [usize] = &[std::mem::offset_of!(bizra_node_options, document)];
}

/// One member as this node sees it. Plain data with its text inline: nothing in it to free.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct bizra_member {
    /// Its node id: lowercase hex of the first 16 bytes of its key, NUL-terminated.
    pub node_id: [c_char; BIZRA_NODE_ID_SIZE],
    /// Its node key.
    pub public_key: [u8; 32],
    /// Where it listens, `ip:port`, NUL-terminated.
    pub addr: [c_char; BIZRA_ADDR_SIZE],
    /// Its generation (a new one at each boot).
    pub generation: u64,
    /// Its SWIM incarnation (raised to refute a suspicion).
    pub incarnation: u16,
    /// Its state, a `bizra_member_state`.
    pub state: u32,
    /// Whether this node ever received an authenticated datagram from it.
    pub has_last_heard: bool,
    /// When it last did, in Unix ms (0 when `has_last_heard` is false).
    pub last_heard_ms: i64,
}

/// Members owned by the caller once returned; free with `bizra_members_free`.
#[repr(C)]
#[derive(Debug)]
pub struct bizra_members {
    /// The members (NULL when `len` is 0).
    pub data: *mut bizra_member,
    /// Their number.
    pub len: usize,
}

/// A membership change, with the member as it is after it. Plain data: nothing to free.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct bizra_node_event {
    /// What changed, a `bizra_node_event_kind`.
    pub kind: u32,
    /// The member.
    pub member: bizra_member,
    /// When this node saw it, in Unix ms.
    pub at_ms: i64,
}

/// A node's traffic counters. Plain data: nothing to free.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct bizra_node_counters {
    /// Datagrams sent.
    pub sent: u64,
    /// Datagrams received (accepted or not).
    pub received: u64,
    /// Datagrams dropped, all reasons together.
    pub dropped_total: u64,
    /// Datagrams dropped, by reason: `dropped[BIZRA_DROP_REASON_BAD_SIGNATURE]`, ...; the
    /// entries past the last `bizra_drop_reason` are 0.
    pub dropped: [u64; BIZRA_DROP_REASONS_MAX],
    /// Events a subscriber left unread for so long that newer ones were dropped for it.
    pub events_dropped: u64,
}

/// A running node behind a handle (C's `bizra_node`, Kotlin's `Node`): the core's node until it
/// leaves or stops, then nothing. The lock is held for writing while the node leaves.
pub(crate) struct Running(RwLock<Option<Node>>);

/// The words of every call on a node that left or stopped.
pub(crate) const STOPPED: &str = "the node has left or was stopped";

impl Running {
    pub(crate) fn new(node: Node) -> Arc<Running> {
        Arc::new(Running(RwLock::new(Some(node))))
    }

    /// `f` of the node, or `None` once it left or stopped.
    pub(crate) fn with<T>(&self, f: impl FnOnce(&Node) -> T) -> Option<T> {
        let guard = self.0.read().unwrap_or_else(PoisonError::into_inner);
        guard.as_ref().map(f)
    }

    /// Leaves (telling the members) or stops (telling no one) and waits for the node's thread to
    /// end. False when it had already left or stopped.
    pub(crate) fn finish(&self, leave: bool) -> bool {
        let mut guard = self.0.write().unwrap_or_else(PoisonError::into_inner);
        match guard.take() {
            Some(node) if leave => node.leave(),
            Some(node) => node.stop(),
            None => return false,
        }
        true
    }

    /// A new subscription to the node's events (the core's stream tells a quiet node from a
    /// stopped one).
    pub(crate) fn subscribe(&self) -> Option<EventStream> {
        self.with(Node::subscribe)
    }
}

/// A core `Timings` from milliseconds, 0 meaning the default.
fn timings(o: &bizra_node_options) -> Timings {
    let d = Timings::default();
    let ms = |v: u32, default: Duration| {
        if v == 0 {
            default
        } else {
            Duration::from_millis(v.into())
        }
    };
    Timings {
        probe_period: ms(o.probe_period_ms, d.probe_period),
        probe_rtt: ms(o.probe_rtt_ms, d.probe_rtt),
        suspect_to_down_after: ms(o.suspect_to_down_ms, d.suspect_to_down_after),
        remove_down_after: ms(o.remove_down_ms, d.remove_down_after),
        gossip_interval: ms(o.gossip_interval_ms, d.gossip_interval),
        announce_interval: ms(o.announce_interval_ms, d.announce_interval),
        rejoin_interval: ms(o.rejoin_interval_ms, d.rejoin_interval),
        max_clock_skew: ms(o.max_clock_skew_ms, d.max_clock_skew),
    }
}

/// An `ip:port` argument (C's and Kotlin's; the error names the argument `what`).
pub(crate) fn socket_addr(text: &str, what: &str) -> Result<SocketAddr, String> {
    text.parse().map_err(|_| {
        let example = NodeConfig::default().bind;
        format!("{what} {text:?} is not an ip:port address (for example \"{example}\")")
    })
}

/// The core's configuration from the C options (NULL: every default).
fn config(opts: Option<&bizra_node_options>) -> FfiResult<NodeConfig> {
    let mut c = NodeConfig::default();
    let Some(o) = opts else {
        return Ok(c);
    };
    if let Some(bind) = opt_text(o.bind, "opts.bind")? {
        c.bind = socket_addr(bind, "opts.bind").map_err(invalid)?;
    }
    if let Some(advertise) = opt_text(o.advertise, "opts.advertise")? {
        c.advertise = Some(socket_addr(advertise, "opts.advertise").map_err(invalid)?);
    }
    c.seeds = text_list(o.seeds, o.seeds_len, "opts.seeds")?
        .into_iter()
        .map(str::to_owned)
        .collect();
    if let Some(federation) = opt_text(o.federation, "opts.federation")? {
        c.federation = federation.to_owned();
    }
    if o.allowlist.is_null() {
        if o.allowlist_len != 0 {
            return Err(null("opts.allowlist"));
        }
    } else {
        // Any 32 bytes may be listed: a key that is no valid point simply never signs anything.
        let keys = slice(o.allowlist, o.allowlist_len, "opts.allowlist")?;
        c.admission = Admission::allow(keys.iter().copied());
    }
    if let Some(dir) = opt_text(o.data_dir, "opts.data_dir")? {
        c.data_dir = Some(PathBuf::from(dir));
    }
    c.timings = timings(o);
    if o.expected_members != 0 {
        c.expected_members = o.expected_members;
    }
    if !o.document.is_null() {
        // The core checks the document against the federation and the data directory.
        let document = bizra_federation_document::arg(o.document, "opts.document")?.clone();
        let gates = if o.gates.is_null() {
            Arc::new(GateChain::default())
        } else {
            bizra_gate_chain::arg(o.gates, "opts.gates")?.clone()
        };
        c.consensus = Some(ConsensusConfig {
            document: Arc::new(document),
            gates,
        });
    } else if !o.gates.is_null() {
        return Err(invalid(
            "opts.gates is set but opts.document is NULL: a gate chain judges proposals for \
             consensus, which needs a federation document",
        ));
    }
    Ok(c)
}

/// A string copied into a fixed C array with its NUL.
pub(crate) fn inline_text<const N: usize>(s: &str, what: &str) -> FfiResult<[c_char; N]> {
    if s.len() >= N || s.as_bytes().contains(&0) {
        return Err(Failure::new(
            BIZRA_STATUS_INTERNAL,
            format!("{what} {s:?} does not fit in {N} bytes"),
        ));
    }
    let mut out = [0; N];
    for (o, b) in out.iter_mut().zip(s.bytes()) {
        *o = b as c_char;
    }
    Ok(out)
}

fn c_member(m: &MemberInfo) -> FfiResult<bizra_member> {
    Ok(bizra_member {
        node_id: inline_text(&m.node_id, "node id")?,
        public_key: m.public_key,
        addr: inline_text(&m.addr.to_string(), "address")?,
        generation: m.generation,
        incarnation: m.incarnation,
        state: bizra_member_state::of(m.state) as u32,
        has_last_heard: m.last_heard_ms.is_some(),
        last_heard_ms: m.last_heard_ms.unwrap_or(0),
    })
}

/// The node behind a handle argument, or `BIZRA_STATUS_STOPPED` once it left or stopped.
pub(crate) fn with_node<T>(node: *const bizra_node, f: impl FnOnce(&Node) -> T) -> FfiResult<T> {
    bizra_node::arg(node, "node")?
        .with(f)
        .ok_or_else(|| Failure::new(BIZRA_STATUS_STOPPED, STOPPED))
}

/// Static C strings for the names of a C enum's numbers, made once.
pub(crate) fn names<E: Copy>(
    cell: &'static OnceLock<Vec<CString>>,
    all: &[E],
    name: impl Fn(E) -> &'static str,
) -> &'static [CString] {
    cell.get_or_init(|| {
        all.iter()
            .map(|&e| CString::new(name(e)).unwrap_or_default())
            .collect()
    })
}

pub(crate) fn name_at(names: &'static [CString], n: u32) -> *const c_char {
    usize::try_from(n)
        .ok()
        .and_then(|i| names.get(i))
        .map_or(std::ptr::null(), |s| s.as_ptr())
}

/// Binds the node's UDP socket, takes its next generation (from `opts.data_dir` when given),
/// and starts its thread, which joins through the seeds; returns without waiting for the join
/// (watch `bizra_node_subscribe`'s events or `bizra_node_members`). The node keeps its own
/// reference to `id`, which the caller may free at once. `opts` may be NULL (every default).
/// With `opts.document`, the node also takes part in consensus: it resumes from the write-ahead
/// log in `opts.data_dir` and links to the document's validators as it meets them. A bad
/// address, seed (`host:port`; a seed without a port or that does not resolve) or
/// `struct_size`, a document without a data directory or of another federation than
/// `opts.federation`, gates without a document: `BIZRA_STATUS_INVALID_ARGUMENT`; a port in use or
/// an unusable data directory is `BIZRA_STATUS_IO`; the last error says which. `*out`: a new
/// node, the caller's; free it with `bizra_node_free`.
#[no_mangle]
pub unsafe extern "C" fn bizra_node_start(
    id: *const bizra_identity,
    opts: *const bizra_node_options,
    out: *mut *mut bizra_node,
) -> bizra_status {
    boundary("bizra_node_start", || {
        let out = out_checked(out)?;
        let id = bizra_identity::arc(id, "id")?;
        let config = config(options_grown(opts, "opts")?.as_ref())?;
        bizra_node::put(out, Running(RwLock::new(Some(Node::start(id, config)?))))
    })
}

/// The address the node's socket is bound to (`"127.0.0.1:40123"`; the real port when bound to
/// port 0). `*out`: the caller's string; free it with `bizra_string_free`.
#[no_mangle]
pub unsafe extern "C" fn bizra_node_local_addr(
    node: *const bizra_node,
    out: *mut *mut c_char,
) -> bizra_status {
    boundary("bizra_node_local_addr", || {
        let out = out_checked(out)?;
        put_string(out, with_node(node, |n| n.local_addr().to_string())?)
    })
}

/// The address the node tells its peers to reach it at. `*out`: the caller's string; free it
/// with `bizra_string_free`.
#[no_mangle]
pub unsafe extern "C" fn bizra_node_advertised_addr(
    node: *const bizra_node,
    out: *mut *mut c_char,
) -> bizra_status {
    boundary("bizra_node_advertised_addr", || {
        let out = out_checked(out)?;
        put_string(out, with_node(node, |n| n.advertised_addr().to_string())?)
    })
}

/// The node's id (its identity's). `*out`: the caller's string; free it with
/// `bizra_string_free`.
#[no_mangle]
pub unsafe extern "C" fn bizra_node_node_id(
    node: *const bizra_node,
    out: *mut *mut c_char,
) -> bizra_status {
    boundary("bizra_node_node_id", || {
        let out = out_checked(out)?;
        put_string(out, with_node(node, |n| n.node_id().to_owned())?)
    })
}

/// This boot's generation, written to `*out` (a value: nothing to free).
#[no_mangle]
pub unsafe extern "C" fn bizra_node_generation(
    node: *const bizra_node,
    out: *mut u64,
) -> bizra_status {
    boundary("bizra_node_generation", || {
        let out = out_checked(out)?;
        put(out, with_node(node, Node::generation)?);
        Ok(BIZRA_STATUS_OK)
    })
}

/// Whether the node still runs, written to `*out` (a value: nothing to free): false once it
/// left or stopped (this call alone is not `BIZRA_STATUS_STOPPED` then).
#[no_mangle]
pub unsafe extern "C" fn bizra_node_is_running(
    node: *const bizra_node,
    out: *mut bool,
) -> bizra_status {
    boundary("bizra_node_is_running", || {
        let out = out_checked(out)?;
        let running = bizra_node::arg(node, "node")?.with(Node::is_running);
        put(out, running.unwrap_or(false));
        Ok(BIZRA_STATUS_OK)
    })
}

/// Every member this node knows of (itself excluded), with state, incarnation, address and
/// when it was last heard from. `*out`: the caller's array (`{NULL, 0}` when there is none);
/// free it with `bizra_members_free`.
#[no_mangle]
pub unsafe extern "C" fn bizra_node_members(
    node: *const bizra_node,
    out: *mut bizra_members,
) -> bizra_status {
    boundary("bizra_node_members", || {
        let out = out_checked(out)?;
        let members = with_node(node, Node::members)?
            .iter()
            .map(c_member)
            .collect::<FfiResult<Vec<_>>>()?;
        let (data, len) = into_raw_slice(members);
        put(out, bizra_members { data, len });
        Ok(BIZRA_STATUS_OK)
    })
}

/// Frees members returned by this library and resets `*m` to `{NULL, 0}` (so a second call is
/// a no-op). NULL, or `{NULL, 0}`, is a no-op.
#[no_mangle]
pub unsafe extern "C" fn bizra_members_free(m: *mut bizra_members) {
    boundary("bizra_members_free", || {
        if m.is_null() {
            return Ok(());
        }
        let m = arg_mut(m, "m")?;
        free_slice(&mut m.data, &mut m.len);
        Ok(())
    })
}

/// The node's traffic counters, written to `*out` (plain data: nothing to free).
#[no_mangle]
pub unsafe extern "C" fn bizra_node_stats(
    node: *const bizra_node,
    out: *mut bizra_node_counters,
) -> bizra_status {
    boundary("bizra_node_stats", || {
        let out = out_checked(out)?;
        let s = with_node(node, Node::stats)?;
        let mut dropped = [0u64; BIZRA_DROP_REASONS_MAX];
        for (&reason, &count) in &s.dropped {
            if let Some(slot) = dropped.get_mut(bizra_drop_reason::of(reason) as usize) {
                *slot = count;
            }
        }
        put(
            out,
            bizra_node_counters {
                sent: s.sent,
                received: s.received,
                dropped_total: s.dropped.values().sum(),
                dropped,
                events_dropped: s.events_dropped,
            },
        );
        Ok(BIZRA_STATUS_OK)
    })
}

/// Subscribes to the node's membership events: first a `BIZRA_NODE_EVENT_KIND_JOINED` event for
/// every member already alive or suspect (so a late subscriber misses no one), then every change,
/// in order. Any number of subscribers each get every event; one that leaves more than 4096
/// unread loses the newer ones (counted in `bizra_node_counters.events_dropped`). `*out`: a new
/// stream, the caller's; free it with `bizra_node_events_free`.
#[no_mangle]
pub unsafe extern "C" fn bizra_node_subscribe(
    node: *const bizra_node,
    out: *mut *mut bizra_node_events,
) -> bizra_status {
    boundary("bizra_node_subscribe", || {
        let out = out_checked(out)?;
        let running = bizra_node::arc(node, "node")?;
        let sub = running
            .subscribe()
            .ok_or_else(|| Failure::new(BIZRA_STATUS_STOPPED, STOPPED))?;
        bizra_node_events::put(out, sub)
    })
}

/// Waits for the next event, blocking the calling thread for at most `timeout_ms` (0: only
/// looks). On `BIZRA_STATUS_OK`, `*got` says whether an event came, and only then is `*out`
/// written (a value: nothing to free). Once the node left or stopped and every event was read,
/// returns `BIZRA_STATUS_STOPPED` (at once), so `while (bizra_node_events_next(...) ==
/// BIZRA_STATUS_OK)` reads a stream to its end.
#[no_mangle]
pub unsafe extern "C" fn bizra_node_events_next(
    events: *mut bizra_node_events,
    timeout_ms: u32,
    out: *mut bizra_node_event,
    got: *mut bool,
) -> bizra_status {
    boundary("bizra_node_events_next", || {
        let out = out_checked(out)?;
        let got = self::out(got, "got")?;
        let stream = bizra_node_events::arg_mut(events, "events")?;
        match stream.next_timeout(Duration::from_millis(timeout_ms.into())) {
            Ok(e) => {
                let event = bizra_node_event {
                    kind: bizra_node_event_kind::of(e.kind) as u32,
                    member: c_member(&e.member)?,
                    at_ms: e.at_ms,
                };
                put(out, event);
                put(got, true);
            }
            Err(RecvError::Timeout) => put(got, false),
            Err(RecvError::Ended) => {
                return Err(Failure::new(
                    BIZRA_STATUS_STOPPED,
                    format!("{STOPPED}: every event was read"),
                ))
            }
        }
        Ok(BIZRA_STATUS_OK)
    })
}

/// Frees an event stream (the node goes on). NULL is a no-op.
#[no_mangle]
pub unsafe extern "C" fn bizra_node_events_free(events: *mut bizra_node_events) {
    boundary("bizra_node_events_free", || bizra_node_events::free(events))
}

/// Leaves gracefully: tells the members (they see a `BIZRA_NODE_EVENT_KIND_LEFT` event), then
/// stops the node's thread; returns once the goodbye is sent. Afterwards every call on the node
/// is `BIZRA_STATUS_STOPPED` (a second leave too), and its event streams end.
#[no_mangle]
pub unsafe extern "C" fn bizra_node_leave(node: *const bizra_node) -> bizra_status {
    boundary("bizra_node_leave", || {
        if bizra_node::arg(node, "node")?.finish(true) {
            Ok(BIZRA_STATUS_OK)
        } else {
            Err(Failure::new(BIZRA_STATUS_STOPPED, STOPPED))
        }
    })
}

/// Stops the node without telling anyone (its peers find out by probing, as after a crash) and
/// waits for its thread to end. Afterwards every call on the node is `BIZRA_STATUS_STOPPED`,
/// and its event streams end.
#[no_mangle]
pub unsafe extern "C" fn bizra_node_stop(node: *const bizra_node) -> bizra_status {
    boundary("bizra_node_stop", || {
        if bizra_node::arg(node, "node")?.finish(false) {
            Ok(BIZRA_STATUS_OK)
        } else {
            Err(Failure::new(BIZRA_STATUS_STOPPED, STOPPED))
        }
    })
}

/// Frees a node, leaving gracefully first if it still runs (as `bizra_node_leave`), after every
/// other call on it has returned. Its event streams stay valid (they end). NULL is a no-op.
#[no_mangle]
pub unsafe extern "C" fn bizra_node_free(node: *mut bizra_node) {
    boundary("bizra_node_free", || {
        if let Ok(running) = bizra_node::arg(node, "node") {
            running.finish(true);
        }
        bizra_node::free(node)
    })
}

/// The name of a `bizra_member_state` (`"alive"`, `"suspect"`, `"down"`, `"left"`), or NULL
/// for a number that is none. Static, owned by the library: never freed.
#[no_mangle]
pub extern "C" fn bizra_member_state_name(state: u32) -> *const c_char {
    boundary("bizra_member_state_name", || {
        static NAMES: OnceLock<Vec<CString>> = OnceLock::new();
        let all = names(&NAMES, bizra_member_state::ALL, |s| s.to_core().name());
        Ok(name_at(all, state))
    })
}

/// The name of a `bizra_node_event_kind` (`"joined"`, `"suspect"`, `"alive_again"`, `"down"`,
/// `"left"`), or NULL for a number that is none. Static, owned by the library: never freed.
#[no_mangle]
pub extern "C" fn bizra_node_event_kind_name(kind: u32) -> *const c_char {
    boundary("bizra_node_event_kind_name", || {
        static NAMES: OnceLock<Vec<CString>> = OnceLock::new();
        let all = names(&NAMES, bizra_node_event_kind::ALL, |k| k.to_core().name());
        Ok(name_at(all, kind))
    })
}

/// The name of a `bizra_drop_reason` (`"bad_signature"`, `"replay"`, ...), the same in every
/// binding, or NULL for a number that is none. Static, owned by the library: never freed.
#[no_mangle]
pub extern "C" fn bizra_drop_reason_name(reason: u32) -> *const c_char {
    boundary("bizra_drop_reason_name", || {
        static NAMES: OnceLock<Vec<CString>> = OnceLock::new();
        let all = names(&NAMES, bizra_drop_reason::ALL, |r| r.to_core().name());
        Ok(name_at(all, reason))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The numbers of each C enum are dense from 0 in `ALL`'s order, which the name lookups
    /// index by; every core drop reason has a counter.
    #[test]
    fn enum_numbers_are_dense_and_cover_the_core() {
        for (i, s) in bizra_member_state::ALL.iter().enumerate() {
            assert_eq!(*s as usize, i);
        }
        for (i, k) in bizra_node_event_kind::ALL.iter().enumerate() {
            assert_eq!(*k as usize, i);
        }
        for (i, r) in bizra_drop_reason::ALL.iter().enumerate() {
            assert_eq!(*r as usize, i);
        }
        assert_eq!(bizra_drop_reason::ALL.len(), DropReason::ALL.len());
        assert!(DropReason::ALL.len() <= BIZRA_DROP_REASONS_MAX);
        for r in DropReason::ALL {
            assert_eq!(bizra_drop_reason::of(r).to_core(), r);
        }
    }

    /// A text that does not fit its array is an internal error, never a truncation.
    #[test]
    fn inline_text_refuses_what_does_not_fit() {
        let ok: [c_char; 4] = inline_text("abc", "x").unwrap_or([1; 4]);
        assert_eq!(ok, [b'a' as c_char, b'b' as c_char, b'c' as c_char, 0]);
        assert!(inline_text::<3>("abc", "x").is_err());
        assert!(inline_text::<8>("a\0b", "x").is_err());
        // The longest address there is fits.
        let widest = "[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff%4294967295]:65535";
        assert!(inline_text::<BIZRA_ADDR_SIZE>(widest, "x").is_ok());
    }
}
