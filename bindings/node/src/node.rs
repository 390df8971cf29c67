//! `Node`, `NodeEvents` and `ConsensusEvents`: federation membership and consensus for Node.js,
//! the core's `bizra::Node` (SWIM over UDP datagrams signed by each sender's node key; given a
//! federation document, BFT consensus over authenticated TCP links).
//!
//! Why these shapes:
//! - The core runs a node on a thread of its own; the calls here only read its shared state
//!   (members, counters). What may wait runs on a job thread and comes back as a Promise
//!   ([`off_thread`]): starting (resolving `bind`, `advertise` and the seeds, which may ask DNS;
//!   binding; reading the data directory), asking the node's thread (`propose()`, `decided()`,
//!   which wait for its answer) and ending (`leave()` waits until the goodbye is sent, `stop()`
//!   until the node's thread has ended). What JavaScript sees changes at the call: from
//!   `leave()` or `stop()` on, `running` is false and every call that needs the node throws.
//! - An open node keeps the process alive, as a bound `dgram` socket does ([`KeepAlive`]); once
//!   it left (its goodbye sent) or stopped it does not, so a script that closes its node exits.
//! - Events: each `NodeEvents` and `ConsensusEvents` has a helper thread, its pump
//!   ([`crate::pump`]), that hands the core's events straight to the pending `next()` calls: the
//!   event loop never waits on the node. An unread stream leaves its backlog in the core, which
//!   bounds it (and counts what it drops: `stats().eventsDropped`).
//! - Consensus: `Node.start`'s `document` (a `FederationDocument`) and `gates` (a `GateChain`
//!   of built-in gates, shared with the node) make the core's `ConsensusConfig`; every rule
//!   (the document's federation is the node's, a data directory is needed) is the core's, its
//!   messages told in this binding's words ([`node_err`]).
//! - A node that left or stopped refuses calls with `INVALID_INPUT`, as Python's and Kotlin's do
//!   (the core's kinds have none for a closed handle; C has its own `BIZRA_STATUS_STOPPED`).

use std::cell::Cell;
use std::collections::BTreeMap;
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::sync::{Arc, PoisonError, RwLock};
use std::thread;
use std::time::Duration;

use bizra::federation::{Admission, DropReason, Event, MemberInfo, Timings};
use bizra::{ConsensusConfig, ConsensusEvent, NodeConfig};
use napi::bindgen_prelude::*;
use napi::{sys, Env, ValueType};
use napi_derive::napi;

use crate::consensus::{document_of, instance_of, Certificate, Evidence};
use crate::convert::{
    array_in, date_ms, node_key_in, number_in, string_in, type_of, DateOut, JsObject,
};
use crate::envelope::Envelope;
use crate::errors::{core_err, guard, js_error, type_err, Result};
use crate::gates::GateChain;
use crate::identity::identity_of;
use crate::options::Options;
use crate::pump::{Pump, Pumped};
use crate::tasks::{deferred, off_thread, KeepAlive};

/// The port a node listens on unless told otherwise (`bind` defaults to `0.0.0.0:7946`).
#[napi]
pub const DEFAULT_NODE_PORT: u32 = bizra::DEFAULT_PORT as u32;

/// The timing options (milliseconds), each beside the core's name of its field: the core's
/// messages use those, and [`node_words`] turns them into these.
const TIMINGS: [(&str, &str); 8] = [
    ("probePeriodMs", "probe_period"),
    ("probeRttMs", "probe_rtt"),
    ("suspectToDownAfterMs", "suspect_to_down_after"),
    ("removeDownAfterMs", "remove_down_after"),
    ("gossipIntervalMs", "gossip_interval"),
    ("announceIntervalMs", "announce_interval"),
    ("rejoinIntervalMs", "rejoin_interval"),
    ("maxClockSkewMs", "max_clock_skew"),
];

/// The core's timing fields, in the order of [`TIMINGS`].
fn timing_fields(t: &mut Timings) -> [&mut Duration; 8] {
    [
        &mut t.probe_period,
        &mut t.probe_rtt,
        &mut t.suspect_to_down_after,
        &mut t.remove_down_after,
        &mut t.gossip_interval,
        &mut t.announce_interval,
        &mut t.rejoin_interval,
        &mut t.max_clock_skew,
    ]
}

/// `Node.start`'s options: the node's, then the timings of [`TIMINGS`].
const START_OPTIONS: &[&str] = &[
    "bind",
    "advertise",
    "seeds",
    "federation",
    "allow",
    "dataDir",
    "expectedMembers",
    "probePeriodMs",
    "probeRttMs",
    "suspectToDownAfterMs",
    "removeDownAfterMs",
    "gossipIntervalMs",
    "announceIntervalMs",
    "rejoinIntervalMs",
    "maxClockSkewMs",
    "document",
    "gates",
];

/// Why a node is gone, for the error later calls throw.
const LEFT: &str = "has left (node.leave(), close() or dispose() was called)";
const STOPPED: &str = "was stopped (node.stop() was called)";

fn invalid(msg: impl Into<String>) -> napi::Error<String> {
    core_err(bizra::Error::InvalidInput(msg.into()))
}

/// The core's words for its timing fields (`probe_rtt`) as this binding's options
/// (`probeRttMs`), as `errors::core_err` says `nCtx` for the core's `n_ctx`.
fn node_words(message: &str) -> String {
    TIMINGS
        .iter()
        .fold(message.to_owned(), |m, (js, core)| m.replace(core, js))
}

/// The core's phrases about its configuration (`NodeConfig`) in its refusals, each with its
/// words in this binding (`Node.start`'s options).
const CONFIG_WORDS: [(&str, &str); 2] = [
    (
        "consensus needs a data_dir",
        "consensus (a document) needs a dataDir",
    ),
    (
        "start it with NodeConfig::consensus",
        "start it with a document: Node.start(identity, { document, dataDir, ... })",
    ),
];

/// The core's error, its refusal told in this binding's words (see [`CONFIG_WORDS`]).
fn node_err(e: bizra::Error) -> napi::Error<String> {
    match e {
        bizra::Error::InvalidInput(m) => invalid(
            CONFIG_WORDS
                .iter()
                .fold(m, |m, (core, js)| m.replace(core, js)),
        ),
        e => core_err(e),
    }
}

/// A timing option: milliseconds between the core's [`Timings::MIN`] and [`Timings::MAX`]. The
/// core's `Timings::validate` holds the same rule; it is told here in milliseconds, this
/// binding's unit, and before the conversion, which no `Duration` could hold for every number
/// (negative, NaN, infinite, too large).
fn timing(ms: f64, what: &str) -> Result<Duration> {
    let (min, max) = (Timings::MIN.as_millis(), Timings::MAX.as_millis());
    if !(min as f64..=max as f64).contains(&ms) {
        return Err(invalid(format!(
            "{what} must be between {min} and {max} milliseconds, got {ms}"
        )));
    }
    Ok(Duration::from_secs_f64(ms / 1000.0))
}

/// `seeds`: an array of `"host:port"` strings (a lone string is refused with the fix: it is the
/// commonest slip).
fn seeds_in(env: &Env, raw: sys::napi_value, what: &str) -> Result<Option<Vec<String>>> {
    if type_of(env, raw) == ValueType::String {
        let one = string_in(env, raw, what)?.unwrap_or_default();
        return Err(type_err(format!(
            "{what} must be an array of \"host:port\" strings, got a single string \
             (write {what}: [{one:?}])"
        )));
    }
    let expected = "an array of \"host:port\" strings";
    array_in(env, raw, what, expected, |i, item| {
        let label = format!("{what}[{i}]");
        match type_of(env, item) {
            ValueType::String => string_in(env, item, &label).map(Option::unwrap_or_default),
            _ => Err(type_err(format!("{label} must be a \"host:port\" string"))),
        }
    })
    .map(Some)
}

/// `allow`: an array of node keys (`Identity`, 32 bytes, 64 hex characters); a lone key is
/// refused with the fix.
fn allow_in(env: &Env, raw: sys::napi_value, what: &str) -> Result<Option<Vec<[u8; 32]>>> {
    let expected = "an array of node keys (Identity, 32 bytes or 64 hex characters)";
    let mut typed = false;
    unsafe { sys::napi_is_typedarray(env.raw(), raw, &mut typed) };
    if typed || type_of(env, raw) == ValueType::String {
        return Err(type_err(format!(
            "{what} must be {expected}, got a single key (write {what}: [key])"
        )));
    }
    array_in(env, raw, what, expected, |i, item| {
        node_key_in(env, item, &format!("{what}[{i}]"))
    })
    .map(Some)
}

/// `gates`: a `GateChain` of built-in gates, shared with the node (it cannot change while the
/// node runs).
fn gates_in(env: &Env, raw: sys::napi_value, what: &str) -> Result<Option<Arc<bizra::GateChain>>> {
    let chain = instance_of::<GateChain>(env, raw, what, "GateChain")?;
    chain.for_consensus(what).map(Some)
}

/// What `Node.start` reads on the JavaScript thread. `bind` and `advertise` are resolved on the
/// job thread: a name may need DNS.
struct StartArgs {
    config: NodeConfig,
    bind: Option<String>,
    advertise: Option<String>,
}

fn start_args(env: &Env, options: Option<Unknown>) -> Result<StartArgs> {
    let mut config = NodeConfig::default();
    let Some(o) = Options::read(env, options, START_OPTIONS)? else {
        return Ok(StartArgs {
            config,
            bind: None,
            advertise: None,
        });
    };
    let bind = o.string("bind")?;
    let advertise = o.string("advertise")?;
    if let Some(seeds) = o.read_with("seeds", seeds_in)? {
        config.seeds = seeds;
    }
    if let Some(federation) = o.string("federation")? {
        config.federation = federation;
    }
    if let Some(keys) = o.read_with("allow", allow_in)? {
        config.admission = Admission::allow(keys);
    }
    config.data_dir = o.string("dataDir")?.map(PathBuf::from);
    if let Some(n) = o.u32("expectedMembers")? {
        if n == 0 {
            return Err(invalid("expectedMembers must be at least 1, got 0"));
        }
        config.expected_members = n;
    }
    for ((name, _), field) in TIMINGS.iter().zip(timing_fields(&mut config.timings)) {
        if let Some(ms) = o.number(name)? {
            *field = timing(ms, name)?;
        }
    }
    // The core's rule (a probe expects its answer within its period), checked here too so that
    // its message names this binding's options and the call throws before anything starts.
    config
        .timings
        .validate()
        .map_err(|m| invalid(node_words(&m)))?;
    let document = o.read_with("document", |env, raw, what| {
        document_of(env, raw, what).map(Some)
    })?;
    let gates = o.read_with("gates", gates_in)?;
    config.consensus = match (document, gates) {
        (Some(document), gates) => Some(ConsensusConfig {
            document,
            // As the core's own validator process (`bizra-node --document`): every built-in gate
            // over the default constitution.
            gates: gates.unwrap_or_else(|| Arc::new(bizra::GateChain::default())),
        }),
        (None, Some(_)) => {
            return Err(invalid(
                "gates judges consensus proposals, so it needs a document (a \
                 FederationDocument): give both, or neither",
            ))
        }
        (None, None) => None,
    };
    Ok(StartArgs {
        config,
        bind,
        advertise,
    })
}

/// A `host:port` address; a name is resolved, its first address taken.
fn resolve(text: &str, what: &str) -> bizra::Result<SocketAddr> {
    text.to_socket_addrs()
        .map_err(|e| {
            bizra::Error::InvalidInput(format!(
                "{what} {text:?}: {e} (expected host:port, e.g. \"127.0.0.1:0\")"
            ))
        })?
        .next()
        .ok_or_else(|| {
            bizra::Error::InvalidInput(format!("{what} {text:?} resolves to no address"))
        })
}

// ---------------------------------------------------------------------------------------------
// The running node, shared by the `Node` object and the jobs that end it

/// The core's node until it leaves or stops, then nothing. A leave or a stop holds the lock for
/// writing until the node's thread has ended. JavaScript never waits on the lock: a `Node` marks
/// itself ended before it asks for the end, and reads the node only before.
struct Running(RwLock<Option<bizra::Node>>);

impl Running {
    /// `f` of the node, or `None` once it left or stopped.
    fn with<T>(&self, f: impl FnOnce(&bizra::Node) -> T) -> Option<T> {
        let node = self.0.read().unwrap_or_else(PoisonError::into_inner);
        node.as_ref().map(f)
    }

    /// Leaves (telling the members) or stops (telling no one), and waits for the node's thread
    /// to end. Nothing to do once it left or stopped.
    fn finish(&self, leave: bool) {
        let mut node = self.0.write().unwrap_or_else(PoisonError::into_inner);
        match node.take() {
            Some(n) if leave => n.leave(),
            Some(n) => n.stop(),
            None => {}
        }
    }
}

// ---------------------------------------------------------------------------------------------
// What JavaScript gets

/// One member of the federation as this node sees it.
#[napi(object, object_from_js = false)]
pub struct Member {
    /// Its node id (lowercase hex of the first 16 bytes of its key).
    pub node_id: String,
    /// Its 32-byte node key.
    pub public_key: Buffer,
    /// Where it listens, `"host:port"`.
    pub addr: String,
    /// Its generation (a new one at each boot).
    pub generation: f64,
    /// Its SWIM incarnation (raised to refute a suspicion).
    pub incarnation: u32,
    /// `"alive"`, `"suspect"`, `"down"` or `"left"`.
    #[napi(ts_type = "MemberState")]
    pub state: String,
    /// When this node last received an authenticated datagram from it; absent if never.
    #[napi(ts_type = "Date")]
    pub last_heard: Option<DateOut>,
}

fn member_js(m: &MemberInfo) -> Member {
    Member {
        node_id: m.node_id.clone(),
        public_key: Buffer::from(m.public_key.to_vec()),
        addr: m.addr.to_string(),
        generation: m.generation as f64,
        incarnation: u32::from(m.incarnation),
        state: m.state.name().to_owned(),
        last_heard: m.last_heard_ms.map(date_ms),
    }
}

/// A membership change, with the member as it is after it.
#[napi(object, object_from_js = false)]
pub struct NodeEvent {
    /// What changed: `"joined"`, `"suspect"`, `"alive_again"`, `"down"` or `"left"`.
    #[napi(ts_type = "NodeEventKind")]
    pub kind: String,
    pub member: Member,
    /// When this node saw it.
    #[napi(ts_type = "Date")]
    pub at: DateOut,
}

fn event_js(e: &Event) -> NodeEvent {
    NodeEvent {
        kind: e.kind.name().to_owned(),
        member: member_js(&e.member),
        at: date_ms(e.at_ms),
    }
}

/// A node's traffic counters.
#[napi(object, object_from_js = false)]
pub struct NodeStats {
    /// Datagrams sent.
    pub sent: f64,
    /// Datagrams received (accepted or not).
    pub received: f64,
    /// Datagrams dropped, by reason (`bad_signature`, `replay`, `wrong_federation`,
    /// `not_admitted`, ...: the same names in every binding): every reason, zeros included;
    /// `queue_full` counts those the kernel dropped unread, the socket's queue full (Linux).
    #[napi(ts_type = "Record<string, number>")]
    pub dropped: BTreeMap<String, f64>,
    /// Events dropped because a stream left more than its backlog unread.
    pub events_dropped: f64,
}

/// A height the federation decided: its commit certificate and the batch of proposals.
#[napi(object, object_from_js = false)]
pub struct Decision {
    /// What a consensus event is: `"decided"` (`Evidence`'s is `"evidence"`).
    #[napi(ts_type = "'decided'")]
    pub kind: String,
    /// The decided height.
    pub height: f64,
    /// The round in which it was decided.
    pub round: u32,
    /// More than two thirds of the voting power precommitted the batch: checkable offline with
    /// `certificate.verifyBatch(batchJson, document)`.
    pub certificate: Certificate,
    /// The batch as it was decided: its JSON text (the certified value is its hash).
    pub batch_json: String,
    /// The decided proposals, in the batch's order (ascending id).
    pub proposals: Vec<Envelope>,
}

fn decision_js(certificate: bizra::Certificate, batch: &bizra::Batch) -> Decision {
    Decision {
        kind: "decided".to_owned(),
        height: certificate.height() as f64,
        round: certificate.round(),
        batch_json: batch.to_json().to_owned(),
        proposals: batch
            .envelopes()
            .iter()
            .cloned()
            .map(Envelope::from)
            .collect(),
        certificate: Certificate::from(certificate),
    }
}

/// What a node's consensus engine has seen and done.
#[napi(object, object_from_js = false)]
pub struct ConsensusEngineStats {
    /// Messages received from peers.
    pub received: f64,
    /// Of those, refused before the consensus core.
    pub refused: f64,
    /// Signatures the core asked about that did not verify.
    pub bad_signatures: f64,
    /// Messages broadcast.
    pub broadcasts: f64,
    /// Write-ahead-log records written.
    pub persisted: f64,
    /// Heights decided (by this node's votes or by catching up).
    pub decided: f64,
    /// Proposed batches the gate chain refused (this node prevoted nil on them).
    pub invalid_proposals: f64,
}

/// Where a node's consensus stands.
#[napi(object, object_from_js = false)]
pub struct ConsensusStatus {
    /// The height being decided.
    pub height: f64,
    /// Its round.
    pub round: u32,
    /// The highest height decided (and stored).
    pub decided: f64,
    /// Submitted proposals waiting for a batch.
    pub pending: f64,
    /// Whether this node votes (its key is a validator of the document).
    pub validator: bool,
    /// Peers (validators and followers) with an authenticated link.
    pub linked: u32,
    /// What the engine has seen and done.
    pub engine: ConsensusEngineStats,
    /// Frames not sent because a link's queue was full.
    pub frames_dropped: f64,
    /// Why consensus stopped on this node (its storage failed), if it did: it no longer votes.
    pub failure: Option<String>,
}

fn status_js(s: &bizra::ConsensusStatus) -> ConsensusStatus {
    let e = &s.engine;
    ConsensusStatus {
        height: s.height as f64,
        round: s.round,
        decided: s.decided as f64,
        pending: s.pending as f64,
        validator: s.validator,
        linked: u32::try_from(s.linked).unwrap_or(u32::MAX),
        engine: ConsensusEngineStats {
            received: e.received as f64,
            refused: e.refused as f64,
            bad_signatures: e.bad_signatures as f64,
            broadcasts: e.broadcasts as f64,
            persisted: e.persisted as f64,
            decided: e.decided as f64,
            invalid_proposals: e.invalid_proposals as f64,
        },
        frames_dropped: s.frames_dropped as f64,
        failure: s.failure.clone(),
    }
}

/// A height: a whole number from 0 to 2^53 - 1.
fn height_in(env: &Env, raw: sys::napi_value, what: &str) -> Result<u64> {
    match number_in(env, raw, what)? {
        Some(n) if n.fract() == 0.0 && (0.0..=9_007_199_254_740_991.0).contains(&n) => Ok(n as u64),
        Some(n) => Err(type_err(format!(
            "{what} must be a whole number from 0 to 2^53 - 1, got {n}"
        ))),
        None => Err(type_err(format!("{what} must be a number"))),
    }
}

// ---------------------------------------------------------------------------------------------
// Node

/// A federation member on a real UDP socket: it joins through its seeds, probes its peers,
/// suspects and declares down those that stop answering, and says goodbye when it leaves. Its
/// work runs on a thread of its own; an open node keeps the process alive.
///
/// `leave()` (also `close()`, `dispose()` and the end of a `using` block) tells the members and
/// stops; `stop()` stops without a word (the members declare it down, as after a crash); a node
/// collected by the garbage collector leaves. Afterwards `members()`, `stats()` and `events()`
/// throw `INVALID_INPUT`; the addresses, id and generation stay readable.
#[napi]
pub struct Node {
    running: Arc<Running>,
    /// Set when `leave()`, `stop()` or `dispose()` is called: why the node is gone.
    ended: Cell<Option<&'static str>>,
    /// Holds the event loop open until the node has ended.
    keep_alive: Cell<Option<KeepAlive>>,
    local_addr: SocketAddr,
    advertised: SocketAddr,
    generation: u64,
    node_id: String,
}

impl Node {
    /// The JavaScript object of a node that has just started.
    fn open(env: &Env, node: bizra::Node) -> Result<Node> {
        let keep_alive = KeepAlive::new(env)?;
        Ok(Node {
            local_addr: node.local_addr(),
            advertised: node.advertised_addr(),
            generation: node.generation(),
            node_id: node.node_id().to_owned(),
            running: Arc::new(Running(RwLock::new(Some(node)))),
            ended: Cell::new(None),
            keep_alive: Cell::new(Some(keep_alive)),
        })
    }

    fn gone(&self) -> napi::Error<String> {
        invalid(format!(
            "the node {} {}; start a new Node to take part again",
            self.node_id,
            self.ended.get().unwrap_or(STOPPED)
        ))
    }

    /// `f` of the node, or `INVALID_INPUT` once it left or stopped.
    fn with<T>(&self, f: impl FnOnce(&bizra::Node) -> T) -> Result<T> {
        if self.ended.get().is_some() {
            return Err(self.gone());
        }
        self.running.with(f).ok_or_else(|| self.gone())
    }

    /// Asks the node's thread, off the JavaScript thread (the core's call waits for its answer);
    /// the Promise resolves to `out` of the answer, made on the JavaScript thread. Throws at the
    /// call once the node has ended; rejects should it end before it answered.
    fn ask<T, V>(
        &self,
        env: &Env,
        work: impl FnOnce(&bizra::Node) -> bizra::Result<T> + Send + 'static,
        out: impl FnOnce(T) -> V + Send + 'static,
    ) -> Result<JsObject>
    where
        T: Send + 'static,
        V: ToNapiValue + 'static,
    {
        if self.ended.get().is_some() {
            return Err(self.gone());
        }
        let running = Arc::clone(&self.running);
        let gone = format!(
            "the node {} ended (it left or was stopped) before it answered",
            self.node_id
        );
        let (d, promise) = deferred::<V>(env)?;
        off_thread(
            env,
            d,
            move || running.with(work),
            move |env, done| match done {
                Ok(Some(Ok(answer))) => Ok(out(answer)),
                Ok(Some(Err(e))) => Err(js_error(env, node_err(e))),
                Ok(None) => Err(js_error(env, invalid(gone))),
                Err(e) => Err(js_error(env, e)),
            },
        );
        Ok(promise)
    }

    /// Marks the node ended and leaves or stops it on a job thread; the Promise resolves once
    /// that is done (a second call, once the first is). `quiet`: it never rejects (`dispose()`,
    /// whose Promise nobody sees).
    fn end(&self, env: &Env, leave: bool, quiet: bool) -> Result<JsObject> {
        let (d, promise) = deferred::<()>(env)?;
        if self.ended.get().is_none() {
            self.ended.set(Some(if leave { LEFT } else { STOPPED }));
        }
        let keep_alive = self.keep_alive.take();
        let running = Arc::clone(&self.running);
        off_thread(
            env,
            d,
            move || {
                running.finish(leave);
                drop(keep_alive);
            },
            move |env, done| match done {
                Err(e) if !quiet => Err(js_error(env, e)),
                _ => Ok(()),
            },
        );
        Ok(promise)
    }
}

impl Drop for Node {
    /// A node collected while open leaves, as `leave()` would. The goodbye takes a few datagrams
    /// and the end of the node's thread, so it is not awaited in the garbage collector but on a
    /// thread of its own, which takes the keep-alive along: the process lives until the goodbye
    /// is sent. Should no thread start, the node leaves when its last holder lets it go (the
    /// core's node leaves when dropped).
    fn drop(&mut self) {
        if self.ended.get().is_some() {
            return;
        }
        let running = Arc::clone(&self.running);
        let keep_alive = self.keep_alive.take();
        let _ = thread::Builder::new()
            .name("bizra-node-leave".into())
            .spawn(move || {
                running.finish(true);
                drop(keep_alive);
            });
    }
}

#[napi]
impl Node {
    /// Starts a node off the main thread: resolves `bind` (default every interface, port
    /// `DEFAULT_NODE_PORT`; port 0 takes a free port, which `localAddr` reports), `advertise` and
    /// the `seeds` (`"host:port"`), binds the UDP socket, takes the next generation (from
    /// `dataDir` when given) and joins through the seeds; resolves without waiting for the join
    /// (watch `events()` or `members()`). Options are checked before anything starts: an unknown
    /// key or a value of the wrong type throws a `TypeError`, a value out of range a `BizraError`
    /// (`INVALID_INPUT`). A bad address or seed rejects with `INVALID_INPUT`; a port in use or an
    /// unusable data directory with `IO`.
    #[napi(
        ts_args_type = "identity: Identity, options?: NodeOptions",
        ts_return_type = "Promise<Node>"
    )]
    pub fn start(env: Env, identity: Unknown, options: Option<Unknown>) -> Result<JsObject> {
        guard(|| {
            let identity = Arc::clone(&identity_of(&env, identity)?.inner);
            let StartArgs {
                mut config,
                bind,
                advertise,
            } = start_args(&env, options)?;
            let (d, promise) = deferred::<Node>(&env)?;
            off_thread(
                &env,
                d,
                move || {
                    if let Some(b) = bind {
                        config.bind = resolve(&b, "bind")?;
                    }
                    if let Some(a) = advertise {
                        config.advertise = Some(resolve(&a, "advertise")?);
                    }
                    bizra::Node::start(identity, config)
                },
                |env, done| {
                    done.and_then(|started| started.map_err(node_err))
                        .and_then(|node| Node::open(env, node))
                        .map_err(|e| js_error(env, e))
                },
            );
            Ok(promise)
        })
    }

    /// This node's id (its identity's: lowercase hex of the first 16 bytes of its key).
    #[napi(getter)]
    pub fn node_id(&self) -> Result<String> {
        guard(|| Ok(self.node_id.clone()))
    }

    /// The address the socket is bound to, `"host:port"` (the real port when bound to port 0).
    #[napi(getter)]
    pub fn local_addr(&self) -> Result<String> {
        guard(|| Ok(self.local_addr.to_string()))
    }

    /// The address peers reach this node at, `"host:port"`: `advertise`, else the bound address
    /// (bound to `0.0.0.0`: the local address routed to the first seed).
    #[napi(getter)]
    pub fn advertised_addr(&self) -> Result<String> {
        guard(|| Ok(self.advertised.to_string()))
    }

    /// This boot's generation: a restarted node is a new generation of the same node.
    #[napi(getter)]
    pub fn generation(&self) -> Result<f64> {
        guard(|| Ok(self.generation as f64))
    }

    /// Whether the node still runs: false from the call of `leave()`, `stop()` or `dispose()` on.
    #[napi(getter)]
    pub fn running(&self) -> Result<bool> {
        guard(|| {
            Ok(self.ended.get().is_none()
                && self.running.with(bizra::Node::is_running).unwrap_or(false))
        })
    }

    /// Every member this node knows of (itself excluded), with its state.
    #[napi]
    pub fn members(&self) -> Result<Vec<Member>> {
        guard(|| {
            Ok(self
                .with(bizra::Node::members)?
                .iter()
                .map(member_js)
                .collect())
        })
    }

    /// Traffic counters: datagrams sent, received, and dropped by reason.
    #[napi]
    pub fn stats(&self) -> Result<NodeStats> {
        guard(|| {
            let s = self.with(bizra::Node::stats)?;
            Ok(NodeStats {
                sent: s.sent as f64,
                received: s.received as f64,
                dropped: DropReason::ALL
                    .iter()
                    .map(|r| (r.name().to_owned(), s.dropped(*r) as f64))
                    .collect(),
                events_dropped: s.events_dropped as f64,
            })
        })
    }

    /// The membership events from now on, as an async iterator: first a `"joined"` event for
    /// every member already alive or suspect (a late subscriber misses no one), then every
    /// change, in order. Any number of streams each get every event; a stream ends when the node
    /// leaves or stops, when it is closed (`close()`, `return()`, `break` out of `for await`),
    /// or when `signal` aborts.
    #[napi(ts_args_type = "options?: EventsOptions")]
    pub fn events(&self, env: Env, options: Option<Unknown>) -> Result<NodeEvents> {
        guard(|| {
            let signal = match Options::read(&env, options, &["signal"])? {
                Some(o) => o.signal("signal")?,
                None => None,
            };
            let stream = self.with(bizra::Node::subscribe)?;
            Ok(NodeEvents {
                pump: Pump::start(&env, stream, signal.as_ref(), "bizra-node-events")?,
            })
        })
    }

    /// Submits a `bizra.proposal` envelope to consensus: pooled here and forwarded to the other
    /// validators, to be decided in a batch (watch `consensusEvents()`). Resolves to `true`, or
    /// `false` if it was pooled or decided already. Rejects with `INVALID_INPUT` for a node
    /// started without a `document`, an envelope that is not a proposal (its payload's `type`
    /// must be `"bizra.proposal"`) or a full pool; with `REJECTED` (the reject code in `code`)
    /// when the node's gate chain refuses it now. Off the main thread: the node's thread
    /// answers.
    #[napi(
        ts_args_type = "envelope: Envelope",
        ts_return_type = "Promise<boolean>"
    )]
    pub fn propose(&self, env: Env, envelope: Unknown) -> Result<JsObject> {
        guard(|| {
            let envelope = instance_of::<Envelope>(&env, envelope.raw(), "envelope", "Envelope")?;
            let envelope = bizra::Envelope::clone(&envelope.inner);
            self.ask(&env, move |node| node.propose(envelope), |added| added)
        })
    }

    /// A decided height's certificate and batch, from this node's storage: a `Decision`, or
    /// `null` if this node has not decided that height. Rejects with `INVALID_INPUT` for a node
    /// started without a `document`.
    #[napi(
        ts_args_type = "height: number",
        ts_return_type = "Promise<Decision | null>"
    )]
    pub fn decided(&self, env: Env, height: Unknown) -> Result<JsObject> {
        guard(|| {
            let height = height_in(&env, height.raw(), "height")?;
            self.ask(
                &env,
                move |node| node.decided(height),
                |found| found.map(|(certificate, batch)| decision_js(certificate, &batch)),
            )
        })
    }

    /// Where consensus stands on this node; `null` for a node started without a `document`.
    #[napi(ts_return_type = "ConsensusStatus | null")]
    pub fn consensus_status(&self) -> Result<Option<ConsensusStatus>> {
        guard(|| {
            Ok(self
                .with(bizra::Node::consensus_status)?
                .map(|s| status_js(&s)))
        })
    }

    /// The consensus events from now on, as an async iterator: a `Decision` for each height
    /// this node decides (by its votes or by catching up), in order, and `Evidence` of any
    /// validator seen signing two conflicting messages (`event.kind`: `"decided"` or
    /// `"evidence"`). Earlier decisions are in `decided(height)`. Any number of streams each get
    /// every event; a stream ends when the node leaves or stops, when it is closed (`close()`,
    /// `return()`, `break` out of `for await`), or when `signal` aborts. A node started without
    /// a `document` gives a stream that has ended (the core's rule).
    #[napi(ts_args_type = "options?: EventsOptions")]
    pub fn consensus_events(&self, env: Env, options: Option<Unknown>) -> Result<ConsensusEvents> {
        guard(|| {
            let signal = match Options::read(&env, options, &["signal"])? {
                Some(o) => o.signal("signal")?,
                None => None,
            };
            let stream = self.with(bizra::Node::consensus_events)?;
            Ok(ConsensusEvents {
                pump: Pump::start(&env, stream, signal.as_ref(), "bizra-consensus-events")?,
            })
        })
    }

    /// Leaves gracefully: tells the members (they see a `"left"` event), then stops; resolves
    /// once the goodbye is sent. The node's event streams end. Leaving twice (or after `stop()`)
    /// is harmless. A node can only say goodbye to the members it knows: one that leaves before
    /// it heard from anyone is declared down instead.
    #[napi(ts_return_type = "Promise<void>")]
    pub fn leave(&self, env: Env) -> Result<JsObject> {
        guard(|| self.end(&env, true, false))
    }

    /// Stops without telling anyone: the members declare this node down once it misses its
    /// probes, as after a crash. Resolves once the node's thread has ended; harmless once the
    /// node is gone.
    #[napi(ts_return_type = "Promise<void>")]
    pub fn stop(&self, env: Env) -> Result<JsObject> {
        guard(|| self.end(&env, false, false))
    }

    /// `leave()`.
    #[napi(ts_return_type = "Promise<void>")]
    pub fn close(&self, env: Env) -> Result<JsObject> {
        guard(|| self.end(&env, true, false))
    }

    /// Starts leaving, without waiting for the goodbye (what `using` calls at the end of its
    /// block; `await using` waits for it). The process lives until the goodbye is sent.
    /// Harmless once the node is gone.
    #[napi]
    pub fn dispose(&self, env: Env) -> Result<()> {
        guard(|| {
            if self.ended.get().is_none() {
                self.end(&env, true, true)?;
            }
            Ok(())
        })
    }

    /// `Node(nodeId=…, addr=…, generation=…, running=…)`.
    #[napi(js_name = "toString")]
    pub fn to_js_string(&self) -> Result<String> {
        guard(|| {
            let running = self.running()?;
            Ok(format!(
                "Node(nodeId={:?}, addr={:?}, generation={}, running={running})",
                self.node_id,
                self.advertised.to_string(),
                self.generation
            ))
        })
    }
}

// ---------------------------------------------------------------------------------------------
// NodeEvents

impl Pumped for Event {
    type Js = NodeEvent;
    fn js(self) -> NodeEvent {
        event_js(&self)
    }
}

/// A node's membership events, in order, as an async iterator: `for await (const e of
/// node.events())`. Each event goes to one `next()`; waiting happens off the main thread. The
/// iteration ends when the node leaves or stops (after the events it sent before), or when the
/// stream is closed: `close()`, `return()` (what `break` calls), an aborted `signal`, the end of
/// a `using` block; the node keeps running. A stream nobody reads holds at most the core's
/// backlog; newer events are then dropped for it and counted in `stats().eventsDropped`.
#[napi]
pub struct NodeEvents {
    pump: Pump<Event>,
}

#[napi]
impl NodeEvents {
    /// The next event: `{ value: event, done: false }`, or `{ value: undefined, done: true }`
    /// once the stream has ended. Never rejects.
    #[napi(ts_return_type = "Promise<IteratorResult<NodeEvent, undefined>>")]
    pub fn next(&self, env: Env) -> Result<JsObject> {
        guard(|| self.pump.next(&env))
    }

    /// Ends the stream (what `break` in a `for await` loop calls): waiting `next()` calls and
    /// later ones get the end. The node keeps running.
    #[napi(
        js_name = "return",
        ts_args_type = "value?: unknown",
        ts_return_type = "Promise<IteratorResult<NodeEvent, undefined>>"
    )]
    pub fn finish(&self, env: Env) -> Result<JsObject> {
        guard(|| self.pump.finish(&env))
    }

    /// Ends the stream, as `return()` does. Closing twice is harmless.
    #[napi]
    pub fn close(&self) -> Result<()> {
        guard(|| {
            self.pump.close();
            Ok(())
        })
    }

    /// Whether the stream is over: closed, or its node has ended and every event was read.
    #[napi(getter)]
    pub fn closed(&self) -> Result<bool> {
        guard(|| Ok(self.pump.closed()))
    }
}

// ---------------------------------------------------------------------------------------------
// ConsensusEvents

impl Pumped for ConsensusEvent {
    type Js = Either<Decision, Evidence>;
    fn js(self) -> Self::Js {
        match self {
            ConsensusEvent::Decided { certificate, batch } => {
                Either::A(decision_js(certificate, &batch))
            }
            ConsensusEvent::Evidence(e) => Either::B(Evidence::from(e)),
        }
    }
}

/// A node's consensus events, in order, as an async iterator: `for await (const e of
/// node.consensusEvents())`, each a `Decision` (`kind` `"decided"`) or `Evidence` (`kind`
/// `"evidence"`). Each event goes to one `next()`; waiting happens off the main thread. The
/// iteration ends when the node leaves or stops, or when the stream is closed: `close()`,
/// `return()` (what `break` calls), an aborted `signal`, the end of a `using` block; the node
/// keeps running. A stream nobody reads holds at most the core's backlog.
#[napi]
pub struct ConsensusEvents {
    pump: Pump<ConsensusEvent>,
}

#[napi]
impl ConsensusEvents {
    /// The next event: `{ value: event, done: false }`, or `{ value: undefined, done: true }`
    /// once the stream has ended. Never rejects.
    #[napi(ts_return_type = "Promise<IteratorResult<Decision | Evidence, undefined>>")]
    pub fn next(&self, env: Env) -> Result<JsObject> {
        guard(|| self.pump.next(&env))
    }

    /// Ends the stream (what `break` in a `for await` loop calls): waiting `next()` calls and
    /// later ones get the end. The node keeps running.
    #[napi(
        js_name = "return",
        ts_args_type = "value?: unknown",
        ts_return_type = "Promise<IteratorResult<Decision | Evidence, undefined>>"
    )]
    pub fn finish(&self, env: Env) -> Result<JsObject> {
        guard(|| self.pump.finish(&env))
    }

    /// Ends the stream, as `return()` does. Closing twice is harmless.
    #[napi]
    pub fn close(&self) -> Result<()> {
        guard(|| {
            self.pump.close();
            Ok(())
        })
    }

    /// Whether the stream is over: closed, or its node has ended and every event was read.
    #[napi(getter)]
    pub fn closed(&self) -> Result<bool> {
        guard(|| Ok(self.pump.closed()))
    }
}
