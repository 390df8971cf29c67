//! `bizra.Node`, `bizra.EventStream`, `bizra.Member`, `bizra.Event` and `bizra.NodeStats`: a
//! federation member on real UDP, the core's `bizra::Node`; given a federation document, it
//! takes part in consensus (`propose`, `decided`, `consensus_status`, `consensus_events`; the
//! classes these return are in consensus.rs).
//!
//! The node runs on the core's own thread; Python only asks it things. Starting (resolving
//! addresses, binding, reading the data directory), leaving (the goodbye is awaited), asking
//! consensus (`propose` and `decided` wait for the node's thread to answer) and waiting for
//! events run with the GIL released. Both event streams wait the same way (stream.rs), in short
//! slices between which Python runs its signal handlers, so that Ctrl-C interrupts them.
//! `Node.aevents()` and `Node.aconsensus_events()` (or `async for` over a stream) feed a stream
//! to asyncio from a worker thread (bizra/_aio.py).
//!
//! Every rule of consensus (a data directory is needed, the document's federation is the
//! node's, what a proposal is) is the core's; its refusals are told in this binding's words
//! ([`node_err`]).

use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};
use std::time::Duration;

use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyString, PyTuple};

use bizra::federation::{Admission, DropReason, Event, EventKind, MemberInfo, Timings};
use bizra::{ConsensusConfig, Node, NodeConfig};

use crate::consensus::{
    PyConsensusEventStream, PyConsensusStatus, PyDecision, PyFederationDocument,
};
use crate::convert::{hash_arg, millis_to_py, number_arg, u64_arg};
use crate::envelope::PyEnvelope;
use crate::gates::PyGateChain;
use crate::identity::PyIdentity;
use crate::stream::Stream;
use crate::{guard, invalid, to_py};

/// The node, or nothing once it left or stopped. Locked only with the GIL released (the holder
/// of a leave waits for the goodbye) and never held while the GIL is wanted.
type Slot = Mutex<Option<Node>>;

/// Locks a node's slot. The slot is replaced whole (the node taken out at once), so a lock
/// poisoned by a panic elsewhere still guards a coherent value.
fn lock(slot: &Slot) -> MutexGuard<'_, Option<Node>> {
    slot.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Why a node is gone, for the error that later calls raise.
const LEFT: &str = "has left (Node.leave() or close() was called)";
const STOPPED: &str = "was stopped (Node.stop() was called)";

/// Seconds given as a number or a `datetime.timedelta`.
pub(crate) fn seconds_arg(obj: &Bound<'_, PyAny>, what: &str) -> PyResult<f64> {
    let timedelta = obj.py().import("datetime")?.getattr("timedelta")?;
    if obj.is_instance(&timedelta)? {
        return obj.call_method0("total_seconds")?.extract::<f64>();
    }
    number_arg(obj, what).map_err(|_| {
        PyTypeError::new_err(format!(
            "{what} must be a number of seconds or a datetime.timedelta, got {}",
            type_name(obj)
        ))
    })
}

/// A timing argument: seconds (a number or a `timedelta`) as a `Duration`. Its range
/// ([`Timings::MIN`] to [`Timings::MAX`]) is the core's rule, checked by `Timings::validate`;
/// here only what no `Duration` can hold (negative, NaN, infinite, too large) is refused, in
/// the core's words.
fn duration_arg(obj: &Bound<'_, PyAny>, what: &str) -> PyResult<Duration> {
    let seconds = seconds_arg(obj, what)?;
    Duration::try_from_secs_f64(seconds)
        .map_err(|_| invalid(Timings::out_of_range(what, format!("{seconds} seconds"))))
}

/// `seeds`: an iterable of `"host:port"` strings (a lone `str` is refused: it is iterable, and
/// would be read as one seed per character).
fn seeds_arg(obj: &Bound<'_, PyAny>) -> PyResult<Vec<String>> {
    if let Ok(s) = obj.cast::<PyString>() {
        return Err(PyTypeError::new_err(format!(
            "seeds must be an iterable of \"host:port\" strings, got a single str \
             (write seeds=[{:?}])",
            s.to_str()?
        )));
    }
    let items = obj.try_iter().map_err(|_| {
        PyTypeError::new_err(format!(
            "seeds must be an iterable of \"host:port\" strings, got {}",
            type_name(obj)
        ))
    })?;
    let mut seeds = Vec::new();
    for (i, item) in items.enumerate() {
        let item = item?;
        let s = item.cast::<PyString>().map_err(|_| {
            PyTypeError::new_err(format!(
                "seeds[{i}] must be a \"host:port\" str, got {}",
                type_name(&item)
            ))
        })?;
        seeds.push(s.to_str()?.to_owned());
    }
    Ok(seeds)
}

/// `allow`: `None` (any key may join) or an iterable of node keys, each an `Identity`, 32 bytes
/// or 64 hex characters.
fn admission_arg(obj: &Bound<'_, PyAny>) -> PyResult<Admission> {
    if obj.is_instance_of::<PyString>() || obj.is_instance_of::<PyBytes>() {
        return Err(PyTypeError::new_err(
            "allow must be an iterable of node keys (Identity, 32 bytes or 64 hex characters) \
             or None, got a single key (write allow=[key])",
        ));
    }
    let items = obj.try_iter().map_err(|_| {
        PyTypeError::new_err(format!(
            "allow must be an iterable of node keys (Identity, 32 bytes or 64 hex characters) \
             or None, got {}",
            type_name(obj)
        ))
    })?;
    let mut keys = Vec::new();
    for (i, item) in items.enumerate() {
        let item = item?;
        let key = match item.cast::<PyIdentity>() {
            Ok(identity) => *identity.get().inner.public_key(),
            Err(_) => hash_arg(&item, &format!("allow[{i}]"))?,
        };
        keys.push(key);
    }
    Ok(Admission::allow(keys))
}

/// The core's phrases about its configuration (`NodeConfig`) in its refusals, each in this
/// binding's words (the keyword options of `bizra.Node`).
const CONFIG_WORDS: [(&str, &str); 1] = [(
    "start it with NodeConfig::consensus",
    "start it with a document: bizra.Node(identity, document=..., data_dir=...)",
)];

/// The core's error, a refusal about the node's configuration told in this binding's words.
fn node_err(e: bizra::Error) -> PyErr {
    match e {
        bizra::Error::InvalidInput(m) => invalid(
            CONFIG_WORDS
                .iter()
                .fold(m, |m, (core, py)| m.replace(core, py)),
        ),
        e => to_py(e),
    }
}

/// `document` and `gates`: the core's consensus configuration, or None without a document.
/// The gate chain (default: every built-in gate over the default constitution, as the core's
/// own validator process uses) is shared with the node, which judges proposals with it.
fn consensus_arg(
    py: Python<'_>,
    document: Option<&Bound<'_, PyAny>>,
    gates: Option<&Bound<'_, PyAny>>,
) -> PyResult<Option<ConsensusConfig>> {
    let document = match document {
        Some(d) => Some(d.cast::<PyFederationDocument>().map_err(|_| {
            PyTypeError::new_err(format!(
                "document must be a bizra.FederationDocument, got {}",
                type_name(d)
            ))
        })?),
        None => None,
    };
    let gates = match gates {
        Some(g) => Some(g.cast::<PyGateChain>().map_err(|_| {
            PyTypeError::new_err(format!(
                "gates must be a bizra.GateChain, got {}",
                type_name(g)
            ))
        })?),
        None => None,
    };
    match (document, gates) {
        (Some(document), gates) => Ok(Some(ConsensusConfig {
            document: Arc::clone(&document.get().inner),
            gates: match gates {
                Some(g) => g.get().for_consensus(py)?,
                None => Arc::new(bizra::GateChain::default()),
            },
        })),
        (None, Some(_)) => Err(invalid(
            "gates judges consensus proposals, so it needs a document (a \
             bizra.FederationDocument): give both, or neither",
        )),
        (None, None) => Ok(None),
    }
}

fn type_name(obj: &Bound<'_, PyAny>) -> String {
    obj.get_type()
        .name()
        .map_or_else(|_| "an object".to_owned(), |n| n.to_string())
}

/// A `host:port` address (a name is resolved; its first address is taken).
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

/// A federation member on a real UDP socket: it joins through its seeds, probes its peers,
/// suspects and declares down the silent ones, and says goodbye when it leaves. Its work runs on
/// a thread of its own; every method may be called from any thread.
///
/// Given a federation document it also takes part in consensus, as a validator when its key is
/// one of the document's (else as a follower that decides with them): `propose()` submits a
/// proposal, `consensus_events()` reports each decision and any equivocation seen, `decided()`
/// reads a decided height back.
///
/// `leave()` (also `close()` and the end of a `with` block) tells the members and stops;
/// `stop()` stops without a word (the members find out by probing, as after a crash); a node
/// collected by the garbage collector leaves as `leave()` does. Afterwards `members()`, `stats()`,
/// `events()` and the consensus calls raise `InvalidInputError`; the addresses, id and
/// generation stay readable.
#[pyclass(frozen, module = "bizra", name = "Node")]
pub(crate) struct PyNode {
    slot: Arc<Slot>,
    /// Set once the node is gone: why.
    ended: OnceLock<&'static str>,
    local_addr: SocketAddr,
    advertised: SocketAddr,
    generation: u64,
    node_id: String,
}

impl PyNode {
    /// Runs `f` on the node with the GIL released, or raises once it is gone.
    fn with_node<T: Send>(&self, py: Python<'_>, f: impl FnOnce(&Node) -> T + Send) -> PyResult<T> {
        py.detach(|| lock(&self.slot).as_ref().map(f))
            .ok_or_else(|| self.gone())
    }

    fn gone(&self) -> PyErr {
        invalid(format!(
            "the node {} {}; start a new Node to take part again",
            self.node_id,
            self.ended.get().copied().unwrap_or(STOPPED)
        ))
    }

    /// Takes the node out and leaves or stops it, holding the slot until its thread has ended.
    fn end(&self, leave: bool) {
        let mut slot = lock(&self.slot);
        if let Some(node) = slot.take() {
            let _ = self.ended.set(if leave { LEFT } else { STOPPED });
            if leave {
                node.leave();
            } else {
                node.stop();
            }
        }
    }
}

impl Drop for PyNode {
    /// A node collected by the garbage collector leaves gracefully. The GIL stays held: this
    /// may run while the interpreter shuts down, and the goodbye takes a few datagrams (the
    /// node's thread never needs the GIL, so it cannot wait on this one).
    fn drop(&mut self) {
        self.end(true);
    }
}

#[pymethods]
impl PyNode {
    /// Starts a node: resolves `bind` (default: every interface, port `DEFAULT_NODE_PORT`;
    /// port 0 takes any free port, which `local_addr` reports), `advertise` (default: the bound
    /// address, or the local address routed to the first seed when bound to 0.0.0.0) and the
    /// `seeds` (`"host:port"` strings of members to join through), binds the UDP socket and joins.
    /// `allow`: the keys (Identity, 32 bytes, 64 hex characters) that may join, or None for
    /// anyone. `data_dir` keeps the boot counter (the generation). Timings are seconds (or
    /// `timedelta`s); None keeps the core's LAN default. The GIL is released meanwhile.
    ///
    /// `document` (a `FederationDocument`) makes the node take part in consensus under it; it
    /// needs a `data_dir` (the write-ahead log and the decided heights), and `federation`, when
    /// given, must be the document's (by default it is). `gates` (a `GateChain` of built-in
    /// gates; default: every built-in gate over the default constitution) judges proposals; it
    /// is shared with the node and cannot change while the node runs.
    #[new]
    #[pyo3(signature = (identity, *, bind=None, advertise=None, seeds=None, federation=None, allow=None, data_dir=None, expected_members=None, probe_period=None, probe_rtt=None, suspect_to_down_after=None, remove_down_after=None, gossip_interval=None, announce_interval=None, rejoin_interval=None, max_clock_skew=None, document=None, gates=None))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        identity: &Bound<'_, PyIdentity>,
        bind: Option<String>,
        advertise: Option<String>,
        seeds: Option<&Bound<'_, PyAny>>,
        federation: Option<String>,
        allow: Option<&Bound<'_, PyAny>>,
        data_dir: Option<PathBuf>,
        expected_members: Option<i64>,
        probe_period: Option<&Bound<'_, PyAny>>,
        probe_rtt: Option<&Bound<'_, PyAny>>,
        suspect_to_down_after: Option<&Bound<'_, PyAny>>,
        remove_down_after: Option<&Bound<'_, PyAny>>,
        gossip_interval: Option<&Bound<'_, PyAny>>,
        announce_interval: Option<&Bound<'_, PyAny>>,
        rejoin_interval: Option<&Bound<'_, PyAny>>,
        max_clock_skew: Option<&Bound<'_, PyAny>>,
        document: Option<&Bound<'_, PyAny>>,
        gates: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Self> {
        guard(|| {
            let mut config = NodeConfig {
                data_dir,
                consensus: consensus_arg(
                    py,
                    document.filter(|d| !d.is_none()),
                    gates.filter(|g| !g.is_none()),
                )?,
                ..NodeConfig::default()
            };
            if let Some(s) = seeds.filter(|s| !s.is_none()) {
                config.seeds = seeds_arg(s)?;
            }
            // Without a name of its own, a node under a document is in the document's
            // federation; a name given is the core's to compare with the document's.
            match (federation, &config.consensus) {
                (Some(f), _) => config.federation = f,
                (None, Some(c)) => config.federation = c.document.federation().to_owned(),
                (None, None) => {}
            }
            if let Some(a) = allow.filter(|a| !a.is_none()) {
                config.admission = admission_arg(a)?;
            }
            if let Some(n) = expected_members {
                config.expected_members =
                    u32::try_from(n).ok().filter(|n| *n >= 1).ok_or_else(|| {
                        invalid(format!(
                            "expected_members must be between 1 and {}, got {n}",
                            u32::MAX
                        ))
                    })?;
            }
            let t: &mut Timings = &mut config.timings;
            for (name, value, slot) in [
                ("probe_period", probe_period, &mut t.probe_period),
                ("probe_rtt", probe_rtt, &mut t.probe_rtt),
                (
                    "suspect_to_down_after",
                    suspect_to_down_after,
                    &mut t.suspect_to_down_after,
                ),
                (
                    "remove_down_after",
                    remove_down_after,
                    &mut t.remove_down_after,
                ),
                ("gossip_interval", gossip_interval, &mut t.gossip_interval),
                (
                    "announce_interval",
                    announce_interval,
                    &mut t.announce_interval,
                ),
                ("rejoin_interval", rejoin_interval, &mut t.rejoin_interval),
                ("max_clock_skew", max_clock_skew, &mut t.max_clock_skew),
            ] {
                if let Some(v) = value.filter(|v| !v.is_none()) {
                    *slot = duration_arg(v, name)?;
                }
            }
            // The core's rules (each timing's range, a probe's answer within its period), before
            // anything is resolved or bound.
            config.timings.validate().map_err(invalid)?;
            let identity = identity.get().inner.clone();
            let node = py
                .detach(move || {
                    if let Some(b) = bind {
                        config.bind = resolve(&b, "bind")?;
                    }
                    if let Some(a) = advertise {
                        config.advertise = Some(resolve(&a, "advertise")?);
                    }
                    Node::start(identity, config)
                })
                .map_err(node_err)?;
            Ok(PyNode {
                local_addr: node.local_addr(),
                advertised: node.advertised_addr(),
                generation: node.generation(),
                node_id: node.node_id().to_owned(),
                slot: Arc::new(Mutex::new(Some(node))),
                ended: OnceLock::new(),
            })
        })
    }

    /// The address the socket is bound to, `"host:port"`.
    #[getter]
    fn local_addr(&self) -> String {
        self.local_addr.to_string()
    }

    /// The address peers reach this node at, `"host:port"`.
    #[getter]
    fn advertised_addr(&self) -> String {
        self.advertised.to_string()
    }

    /// This boot's generation (a restarted node is a new generation of the same node).
    #[getter]
    fn generation(&self) -> u64 {
        self.generation
    }

    /// This node's id (lowercase hex of the first 16 bytes of its key).
    #[getter]
    fn node_id(&self) -> &str {
        &self.node_id
    }

    /// Whether the node still runs (False once it left or stopped).
    #[getter]
    fn running(&self, py: Python<'_>) -> bool {
        py.detach(|| lock(&self.slot).as_ref().is_some_and(Node::is_running))
    }

    /// Every member this node knows of (itself excluded), with its state.
    fn members(&self, py: Python<'_>) -> PyResult<Vec<PyMember>> {
        guard(|| {
            let members = self.with_node(py, Node::members)?;
            Ok(members.into_iter().map(|info| PyMember { info }).collect())
        })
    }

    /// Traffic counters: datagrams sent, received, and dropped by reason.
    fn stats(&self, py: Python<'_>) -> PyResult<PyNodeStats> {
        guard(|| {
            let s = self.with_node(py, Node::stats)?;
            Ok(PyNodeStats {
                sent: s.sent,
                received: s.received,
                events_dropped: s.events_dropped,
                dropped: DropReason::ALL
                    .iter()
                    .map(|r| (r.name(), s.dropped(*r)))
                    .collect(),
            })
        })
    }

    /// The membership events from now on: first a "joined" event for every member already alive
    /// or suspect, then every change, in order. Any number of streams each get every event; a
    /// stream ends when the node stops.
    fn events(&self, py: Python<'_>) -> PyResult<PyEventStream> {
        guard(|| {
            let events = self.with_node(py, Node::subscribe)?;
            Ok(PyEventStream {
                events: Stream::new(events),
            })
        })
    }

    /// `events()` for asyncio: an `AsyncEventStream` to read with `async for`, fed by a worker
    /// thread so that the event loop never waits on the node.
    fn aevents<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let events = Py::new(py, self.events(py)?)?;
        guard(|| {
            py.import("bizra._aio")?
                .getattr("AsyncEventStream")?
                .call1((events,))
        })
    }

    /// Submits a `bizra.proposal` envelope to consensus: pooled here and forwarded to the other
    /// validators, to be decided in a batch (watch `consensus_events()`). True when it was
    /// pooled; False when it was pooled or decided already. Raises `InvalidInputError` for a
    /// node started without a `document`, an envelope that is not a proposal (its payload's
    /// "type" must be "bizra.proposal") or a full pool, and `RejectError` (with the reject code)
    /// when the node's gate chain refuses it now. The GIL is released while the node's thread
    /// answers.
    fn propose(&self, py: Python<'_>, envelope: &Bound<'_, PyAny>) -> PyResult<bool> {
        guard(|| {
            let envelope = envelope
                .cast::<PyEnvelope>()
                .map_err(|_| {
                    PyTypeError::new_err(format!(
                        "envelope must be a bizra.Envelope, got {}",
                        type_name(envelope)
                    ))
                })?
                .get()
                .inner
                .clone();
            self.with_node(py, move |node| node.propose(envelope))?
                .map_err(node_err)
        })
    }

    /// A decided height's certificate and batch, from this node's storage: a `Decision`, or None
    /// if this node has not decided that height. Raises `InvalidInputError` for a node started
    /// without a `document` or a `height` that is negative or beyond 64 bits. The GIL is released
    /// while the node's thread answers.
    fn decided(&self, py: Python<'_>, height: &Bound<'_, PyAny>) -> PyResult<Option<PyDecision>> {
        guard(|| {
            let height = u64_arg(height, "height")?;
            let found = self
                .with_node(py, move |node| node.decided(height))?
                .map_err(node_err)?;
            found
                .map(|(certificate, batch)| PyDecision::new(py, certificate, &batch))
                .transpose()
        })
    }

    /// Where consensus stands on this node (a snapshot), or None for a node started without a
    /// `document`.
    fn consensus_status(&self, py: Python<'_>) -> PyResult<Option<PyConsensusStatus>> {
        guard(|| {
            Ok(self
                .with_node(py, Node::consensus_status)?
                .map(PyConsensusStatus::from))
        })
    }

    /// The consensus events from now on, in order: a `Decision` for each height this node
    /// decides (by its votes or by catching up) and `Evidence` of any validator seen signing two
    /// conflicting messages (earlier decisions: `decided(height)`). Any number of streams each
    /// get every event; a stream ends when the node stops. A node started without a `document`
    /// gives a stream that has ended (the core's rule).
    fn consensus_events(&self, py: Python<'_>) -> PyResult<PyConsensusEventStream> {
        guard(|| {
            let events = self.with_node(py, Node::consensus_events)?;
            Ok(PyConsensusEventStream::new(events))
        })
    }

    /// `consensus_events()` for asyncio: an `AsyncConsensusEventStream` to read with
    /// `async for`, fed by a worker thread so that the event loop never waits on the node.
    fn aconsensus_events<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let events = Py::new(py, self.consensus_events(py)?)?;
        guard(|| {
            py.import("bizra._aio")?
                .getattr("AsyncConsensusEventStream")?
                .call1((events,))
        })
    }

    /// Leaves gracefully: tells the members (they see a "left" event), then stops. Returns once
    /// the goodbye is sent. Leaving twice is harmless.
    fn leave(&self, py: Python<'_>) {
        py.detach(|| self.end(true));
    }

    /// Stops without telling anyone: the members declare this node down once it misses its
    /// probes, as after a crash. Harmless once the node is gone.
    fn stop(&self, py: Python<'_>) {
        py.detach(|| self.end(false));
    }

    /// `leave()`.
    fn close(&self, py: Python<'_>) {
        self.leave(py);
    }

    fn __enter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    /// Leaves at the end of a `with` block; exceptions propagate.
    #[pyo3(signature = (*_exc))]
    fn __exit__(&self, py: Python<'_>, _exc: &Bound<'_, PyTuple>) {
        self.leave(py);
    }

    fn __repr__(&self, py: Python<'_>) -> String {
        format!(
            "Node(node_id={:?}, addr={:?}, generation={}, running={})",
            self.node_id,
            self.advertised.to_string(),
            self.generation,
            if self.running(py) { "True" } else { "False" }
        )
    }
}

/// One member of the federation as this node sees it.
#[pyclass(frozen, module = "bizra", name = "Member")]
pub(crate) struct PyMember {
    info: MemberInfo,
}

#[pymethods]
impl PyMember {
    /// Its node id (lowercase hex of the first 16 bytes of its key).
    #[getter]
    fn node_id(&self) -> &str {
        &self.info.node_id
    }

    /// Its 32-byte node key.
    #[getter]
    fn public_key<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.info.public_key)
    }

    /// Where it listens, `"host:port"`.
    #[getter]
    fn addr(&self) -> String {
        self.info.addr.to_string()
    }

    /// Its generation (boot).
    #[getter]
    fn generation(&self) -> u64 {
        self.info.generation
    }

    /// Its SWIM incarnation (raised to refute a suspicion).
    #[getter]
    fn incarnation(&self) -> u16 {
        self.info.incarnation
    }

    /// "alive", "suspect", "down" or "left".
    #[getter]
    fn state(&self) -> &'static str {
        self.info.state.name()
    }

    /// When this node last received an authenticated datagram from it (an aware UTC
    /// `datetime`), or None if never.
    #[getter]
    fn last_heard<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyAny>>> {
        self.info
            .last_heard_ms
            .map(|ms| millis_to_py(py, ms))
            .transpose()
    }

    fn __repr__(&self) -> String {
        let i = &self.info;
        format!(
            "Member(node_id={:?}, addr={:?}, state={:?}, generation={}, incarnation={})",
            i.node_id,
            i.addr.to_string(),
            i.state.name(),
            i.generation,
            i.incarnation
        )
    }
}

/// A membership change, with the member as it is after it.
#[pyclass(frozen, module = "bizra", name = "Event")]
pub(crate) struct PyEvent {
    kind: EventKind,
    member: Py<PyMember>,
    at_ms: i64,
}

impl PyEvent {
    fn new(py: Python<'_>, e: Event) -> PyResult<Self> {
        Ok(PyEvent {
            kind: e.kind,
            member: Py::new(py, PyMember { info: e.member })?,
            at_ms: e.at_ms,
        })
    }
}

#[pymethods]
impl PyEvent {
    /// "joined", "suspect", "alive_again", "down" or "left".
    #[getter]
    fn kind(&self) -> &'static str {
        self.kind.name()
    }

    /// The member, as it is after the change.
    #[getter]
    fn member(&self, py: Python<'_>) -> Py<PyMember> {
        self.member.clone_ref(py)
    }

    /// When this node saw the change (an aware UTC `datetime`).
    #[getter]
    fn at<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        millis_to_py(py, self.at_ms)
    }

    fn __repr__(&self) -> String {
        let m = &self.member.get().info;
        format!(
            "Event(kind={:?}, node_id={:?}, addr={:?})",
            self.kind.name(),
            m.node_id,
            m.addr.to_string()
        )
    }
}

/// A node's traffic counters.
#[pyclass(frozen, module = "bizra", name = "NodeStats")]
pub(crate) struct PyNodeStats {
    /// Datagrams sent.
    #[pyo3(get)]
    sent: u64,
    /// Datagrams received (accepted or not).
    #[pyo3(get)]
    received: u64,
    /// Events dropped because a stream left more than its backlog unread.
    #[pyo3(get)]
    events_dropped: u64,
    dropped: Vec<(&'static str, u64)>,
}

#[pymethods]
impl PyNodeStats {
    /// Datagrams dropped, by reason ("bad_signature", "replay", ...): every reason, zeros
    /// included; "queue_full" counts those the kernel dropped unread, the socket's queue full
    /// (Linux).
    #[getter]
    fn dropped<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let d = PyDict::new(py);
        for (reason, n) in &self.dropped {
            d.set_item(*reason, *n)?;
        }
        Ok(d)
    }

    fn __repr__(&self) -> String {
        let dropped: u64 = self.dropped.iter().map(|(_, n)| n).sum();
        format!(
            "NodeStats(sent={}, received={}, dropped={dropped}, events_dropped={})",
            self.sent, self.received, self.events_dropped
        )
    }
}

/// A node's membership events, in order. Iterating blocks until the next event (with the GIL
/// released; Ctrl-C interrupts it) and ends when the node stops or the stream is closed; the
/// `next(timeout=...)` method waits at most that long. `async for` reads it from asyncio.
#[pyclass(frozen, module = "bizra", name = "EventStream")]
pub(crate) struct PyEventStream {
    events: Stream<Event>,
}

#[pymethods]
impl PyEventStream {
    fn __iter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    fn __next__(&self, py: Python<'_>) -> PyResult<Option<PyEvent>> {
        guard(|| {
            self.events
                .next_event(py)?
                .map(|e| PyEvent::new(py, e))
                .transpose()
        })
    }

    /// The next event, waiting at most `timeout` seconds (a number or a `timedelta`; None: as
    /// long as it takes; 0: only an event already queued); None when the time passes without
    /// one. Raises `StopIteration` once the stream has ended, as `next(stream)` does.
    #[pyo3(signature = (timeout=None))]
    fn next(
        &self,
        py: Python<'_>,
        timeout: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Option<PyEvent>> {
        guard(|| {
            self.events
                .next_within(py, timeout)?
                .map(|e| PyEvent::new(py, e))
                .transpose()
        })
    }

    /// Ends the stream: the iteration stops (within a slice, in a thread that is waiting) and
    /// the node queues no more events for it. Closing twice is harmless.
    fn close(&self, py: Python<'_>) {
        self.events.close(py);
    }

    /// Whether the stream has ended (the node stopped, or `close()` was called).
    #[getter]
    fn closed(&self, py: Python<'_>) -> bool {
        self.events.closed(py)
    }

    /// The stream for `async for` (an `AsyncEventStream`, fed by a worker thread).
    fn __aiter__<'py>(slf: Bound<'py, Self>) -> PyResult<Bound<'py, PyAny>> {
        let py = slf.py();
        guard(|| {
            py.import("bizra._aio")?
                .getattr("AsyncEventStream")?
                .call1((slf,))
        })
    }

    fn __enter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    /// Closes the stream at the end of a `with` block; exceptions propagate.
    #[pyo3(signature = (*_exc))]
    fn __exit__(&self, py: Python<'_>, _exc: &Bound<'_, PyTuple>) {
        self.close(py);
    }
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("DEFAULT_NODE_PORT", NodeConfig::default().bind.port())?;
    m.add_class::<PyNode>()?;
    m.add_class::<PyEventStream>()?;
    m.add_class::<PyMember>()?;
    m.add_class::<PyEvent>()?;
    m.add_class::<PyNodeStats>()?;
    Ok(())
}
