//! Live events for `/api/v1/ws`: one tokio broadcast channel, fed by the node's membership and
//! consensus subscriptions (bridged from their threads) and by the generations the API serves.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bizra::consensus::batch::is_proposal;
use bizra::federation::Event as MemberEvent;
use bizra::{ConsensusEvent, Node, RecvError, Subscription};
use serde::Serialize;
use serde_json::{json, Value};
use tokio::sync::broadcast;

/// Events a WebSocket client may leave unread before it misses some (it is then told how many).
pub(crate) const EVENT_BACKLOG: usize = 1024;

/// The `action` of a proposal that elevates a pattern (`bizra::autopoiesis::federation`).
pub const ELEVATE_ACTION: &str = "bizra.pattern.elevate";

/// What a WebSocket client subscribes to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Topic {
    /// Membership: a peer joined, was suspected, came back, went down or left.
    Peers,
    /// Generations served by this API: each token, then the signed envelope's id.
    Inference,
    /// Heights decided by consensus (and equivocation evidence).
    Consensus,
    /// Patterns elevated by a decided height (elevation proposals in a decided batch).
    Patterns,
}

impl Topic {
    /// Every topic.
    pub const ALL: [Topic; 4] = [
        Topic::Peers,
        Topic::Inference,
        Topic::Consensus,
        Topic::Patterns,
    ];

    /// Lower-case name.
    pub const fn name(self) -> &'static str {
        match self {
            Topic::Peers => "peers",
            Topic::Inference => "inference",
            Topic::Consensus => "consensus",
            Topic::Patterns => "patterns",
        }
    }

    /// The topic with this name.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.name() == name)
    }
}

/// One event: `{"topic": "...", "event": "...", "data": {...}}` on the wire.
#[derive(Clone, Debug, Serialize)]
pub struct ServerEvent {
    /// Its topic.
    pub topic: Topic,
    /// What happened (`joined`, `token`, `completed`, `decided`, `elevated`, ...).
    pub event: &'static str,
    /// The event's data.
    pub data: Value,
}

/// A membership event as JSON.
pub(crate) fn member_event(e: &MemberEvent) -> ServerEvent {
    ServerEvent {
        topic: Topic::Peers,
        event: e.kind.name(),
        data: json!({
            "node_id": e.member.node_id,
            "addr": e.member.addr.to_string(),
            "state": e.member.state.name(),
            "generation": e.member.generation,
            "incarnation": e.member.incarnation,
            "at_ms": e.at_ms,
        }),
    }
}

/// A consensus event as JSON, and the pattern elevations a decision carries.
pub(crate) fn consensus_events(e: &ConsensusEvent) -> Vec<ServerEvent> {
    match e {
        ConsensusEvent::Decided { certificate, batch } => {
            let height = certificate.height();
            let mut out = vec![ServerEvent {
                topic: Topic::Consensus,
                event: "decided",
                data: json!({
                    "height": height,
                    "round": certificate.round(),
                    "value": batch.id().to_hex(),
                    "proposals": batch.envelopes().iter().map(|e| e.id()).collect::<Vec<_>>(),
                    "signatures": certificate.signatures().len(),
                }),
            }];
            for env in batch.envelopes() {
                let payload = env.payload();
                if is_proposal(env)
                    && payload.get("action").and_then(Value::as_str) == Some(ELEVATE_ACTION)
                {
                    out.push(ServerEvent {
                        topic: Topic::Patterns,
                        event: "elevated",
                        data: json!({
                            "height": height,
                            "proposal_id": env.id(),
                            "proposer": env.sender(),
                            "confidence": env.scores().ihsan,
                            "pattern": payload.get("pattern").cloned().unwrap_or(Value::Null),
                        }),
                    });
                }
            }
            out
        }
        ConsensusEvent::Evidence(evidence) => vec![ServerEvent {
            topic: Topic::Consensus,
            event: "evidence",
            data: json!({ "evidence": format!("{evidence:?}") }),
        }],
    }
}

/// Forwards a node subscription to the broadcast channel from a thread of its own (the node's
/// streams block), until the stream ends or `stop` is set.
fn bridge<T: Send + 'static>(
    name: &str,
    subscription: Subscription<T>,
    tx: broadcast::Sender<ServerEvent>,
    stop: Arc<AtomicBool>,
    convert: fn(&T) -> Vec<ServerEvent>,
) {
    let spawned = std::thread::Builder::new()
        .name(name.to_owned())
        .spawn(move || {
            while !stop.load(Ordering::Acquire) {
                match subscription.next_timeout(Duration::from_millis(200)) {
                    Ok(event) => {
                        for e in convert(&event) {
                            // No subscriber: nothing to do.
                            let _ = tx.send(e);
                        }
                    }
                    Err(RecvError::Timeout) => {}
                    Err(RecvError::Ended) => break,
                }
            }
        });
    if let Err(e) = spawned {
        tracing::error!("cannot start the {name} event thread: {e}");
    }
}

/// Starts the threads that feed the node's events into `tx`.
pub(crate) fn bridge_node(
    node: &Node,
    tx: &broadcast::Sender<ServerEvent>,
    stop: &Arc<AtomicBool>,
) {
    bridge(
        "bizra-server-peers",
        node.subscribe(),
        tx.clone(),
        stop.clone(),
        |e| vec![member_event(e)],
    );
    if node.consensus_status().is_some() {
        bridge(
            "bizra-server-consensus",
            node.consensus_events(),
            tx.clone(),
            stop.clone(),
            consensus_events,
        );
    }
}
