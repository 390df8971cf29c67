//! `/api/v1/federation/*`: the live node's membership and consensus.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::StatusCode;
use bizra::consensus::batch::PROPOSAL_TYPE;
use bizra::federation::MemberState;
use bizra::{Envelope, Node, Scores};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use crate::api::{envelope_value, join_error, read_envelope};
use crate::error::{ApiError, ApiJson, ApiResult, ErrorBody};
use crate::events::{ServerEvent, Topic};
use crate::guard::Authorized;
use crate::state::AppState;

fn node(state: &AppState) -> ApiResult<Arc<Node>> {
    state.node().ok_or_else(|| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "federation_not_running",
            "no federation node runs in this server (start it with a node: `bizra serve` with \
             federation configured)",
        )
    })
}

/// Members by state.
#[derive(Serialize, Deserialize, ToSchema)]
pub struct MemberCounts {
    /// Answering probes.
    pub alive: usize,
    /// Suspected.
    pub suspect: usize,
    /// Declared down.
    pub down: usize,
    /// Left.
    pub left: usize,
}

/// Where consensus stands.
#[derive(Serialize, Deserialize, ToSchema)]
pub struct ConsensusJson {
    /// The height being decided.
    pub height: u64,
    /// Its round.
    pub round: u32,
    /// The highest height decided.
    pub decided: u64,
    /// Proposals waiting for a batch.
    pub pending: usize,
    /// Whether this node votes.
    pub validator: bool,
    /// Peers with an authenticated link.
    pub linked: usize,
    /// The federation document's epoch.
    pub epoch: Option<u64>,
    /// Validators in the document.
    pub validators: Option<usize>,
    /// Why consensus stopped here, if it did.
    pub failure: Option<String>,
}

/// `GET /federation/status`.
#[derive(Serialize, Deserialize, ToSchema)]
pub struct FederationStatus {
    /// This node's id.
    pub node_id: String,
    /// The address peers reach it at.
    pub addr: String,
    /// This boot's generation.
    pub generation: u64,
    /// Whether the node's thread runs.
    pub running: bool,
    /// Members alive or suspect, this node included.
    pub membership_size: usize,
    /// The other members by state.
    pub members: MemberCounts,
    /// Datagrams sent.
    pub datagrams_sent: u64,
    /// Datagrams received.
    pub datagrams_received: u64,
    /// Consensus (`null`: the node takes no part).
    pub consensus: Option<ConsensusJson>,
}

#[utoipa::path(get, path = "/api/v1/federation/status", tag = "federation",
    responses((status = 200, body = FederationStatus),
              (status = 503, description = "`federation_not_running`", body = ErrorBody)))]
pub(crate) async fn status(State(state): State<AppState>) -> ApiResult<ApiJson<FederationStatus>> {
    let node = node(&state)?;
    let members = node.members();
    let count = |s: MemberState| members.iter().filter(|m| m.state == s).count();
    let stats = node.stats();
    let document = node.federation_document();
    Ok(ApiJson(FederationStatus {
        node_id: node.node_id().to_owned(),
        addr: node.advertised_addr().to_string(),
        generation: node.generation(),
        running: node.is_running(),
        membership_size: state.membership_size(),
        members: MemberCounts {
            alive: count(MemberState::Alive),
            suspect: count(MemberState::Suspect),
            down: count(MemberState::Down),
            left: count(MemberState::Left),
        },
        datagrams_sent: stats.sent,
        datagrams_received: stats.received,
        consensus: node.consensus_status().map(|c| ConsensusJson {
            height: c.height,
            round: c.round,
            decided: c.decided,
            pending: c.pending,
            validator: c.validator,
            linked: c.linked,
            epoch: document.as_ref().map(|d| d.epoch()),
            validators: document.as_ref().map(|d| d.validators().len()),
            failure: c.failure,
        }),
    }))
}

/// A member of the federation.
#[derive(Serialize, Deserialize, ToSchema)]
pub struct PeerJson {
    /// Its node id.
    pub node_id: String,
    /// Its public key, hex.
    pub public_key: String,
    /// Where it listens.
    pub addr: String,
    /// `alive`, `suspect`, `down` or `left`.
    pub state: String,
    /// Its generation (boot).
    pub generation: u64,
    /// Its SWIM incarnation.
    pub incarnation: u16,
    /// When it was last heard from (Unix ms).
    pub last_heard_ms: Option<i64>,
}

/// `GET /federation/peers`.
#[derive(Serialize, Deserialize, ToSchema)]
pub struct PeersJson {
    /// Every member this node knows of, itself excluded.
    pub peers: Vec<PeerJson>,
}

#[utoipa::path(get, path = "/api/v1/federation/peers", tag = "federation",
    responses((status = 200, body = PeersJson),
              (status = 503, description = "`federation_not_running`", body = ErrorBody)))]
pub(crate) async fn peers(State(state): State<AppState>) -> ApiResult<ApiJson<PeersJson>> {
    let node = node(&state)?;
    Ok(ApiJson(PeersJson {
        peers: node
            .members()
            .into_iter()
            .map(|m| PeerJson {
                node_id: m.node_id,
                public_key: m.public_key.iter().map(|b| format!("{b:02x}")).collect(),
                addr: m.addr.to_string(),
                state: m.state.name().to_owned(),
                generation: m.generation,
                incarnation: m.incarnation,
                last_heard_ms: m.last_heard_ms,
            })
            .collect(),
    }))
}

/// `POST /federation/propose`: a signed `bizra.proposal` envelope, or a payload for the node to
/// sign as one.
#[derive(Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProposeRequest {
    /// A signed proposal envelope (object or JSON text), submitted as it is.
    #[schema(value_type = Option<Object>)]
    pub envelope: Option<Value>,
    /// A payload to sign with the node's key; its `type` must be `bizra.proposal`.
    #[schema(value_type = Option<Object>)]
    pub payload: Option<Value>,
    /// The SNR the signed proposal asserts (the federation's gates require one).
    pub snr: Option<f64>,
    /// The Ihsan score the signed proposal asserts.
    pub ihsan: Option<f64>,
    /// The signed proposal's lifetime, seconds.
    pub ttl: Option<i64>,
}

/// A submitted proposal.
#[derive(Serialize, Deserialize, ToSchema)]
pub struct Proposed {
    /// True when it was pooled now; false when it was pooled already.
    pub accepted: bool,
    /// The proposal's id.
    pub envelope_id: String,
    /// The proposal.
    #[schema(value_type = Object)]
    pub envelope: Value,
}

#[utoipa::path(post, path = "/api/v1/federation/propose", tag = "federation",
    security(("bearer" = [])), request_body = ProposeRequest,
    responses(
        (status = 202, description = "Pooled, to be decided in a batch", body = Proposed),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 422, description = "Refused by the federation's gates", body = ErrorBody),
        (status = 503, description = "`federation_not_running`, `consensus_not_running`, `auth_not_configured`", body = ErrorBody)))]
pub(crate) async fn propose(
    State(state): State<AppState>,
    _auth: Authorized,
    ApiJson(req): ApiJson<ProposeRequest>,
) -> ApiResult<(StatusCode, ApiJson<Proposed>)> {
    let node = node(&state)?;
    if node.consensus_status().is_none() {
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "consensus_not_running",
            "the federation node takes no part in consensus (it has no federation document)",
        ));
    }
    let envelope = match (req.envelope, req.payload) {
        (Some(v), None) => {
            if req.snr.is_some() || req.ihsan.is_some() || req.ttl.is_some() {
                return Err(ApiError::bad_request(
                    "snr, ihsan and ttl are for a payload to sign; a signed envelope has its own",
                ));
            }
            read_envelope(&state, v)?
        }
        (None, Some(payload)) => {
            if payload.get("type").and_then(Value::as_str) != Some(PROPOSAL_TYPE) {
                return Err(ApiError::bad_request(format!(
                    "a proposal's payload must have \"type\": \"{PROPOSAL_TYPE}\""
                )));
            }
            let mut builder = Envelope::builder(payload)
                .scores(Scores {
                    snr: req.snr,
                    ihsan: req.ihsan,
                })
                .policy(*state.gates().constitution().hash());
            if let Some(ttl) = req.ttl {
                builder = builder.ttl(ttl);
            }
            builder.sign(&state.identity())?
        }
        _ => {
            return Err(ApiError::bad_request(
                "give envelope (signed) or payload (to sign), exactly one",
            ))
        }
    };
    let submitted = envelope.clone();
    let accepted = tokio::task::spawn_blocking(move || node.propose(submitted))
        .await
        .map_err(join_error)?
        .map_err(|e| {
            if e.reject_code().is_some() {
                state.metrics().refused(e.reject_code());
            }
            ApiError::from(e)
        })?;
    Ok((
        StatusCode::ACCEPTED,
        ApiJson(Proposed {
            accepted,
            envelope_id: envelope.id().to_owned(),
            envelope: envelope_value(&envelope),
        }),
    ))
}

/// `POST /federation/leave`.
#[derive(Serialize, Deserialize, ToSchema)]
pub struct LeftJson {
    /// The node that was detached.
    pub node_id: String,
    /// True when the node has left: its goodbye was sent to the members and its thread ended.
    /// False when other handles of the node remain in the embedding application: it was
    /// detached from this API and leaves when the last of them is dropped.
    pub left: bool,
}

/// How long `federation/leave` waits for the handles that in-flight requests hold.
const LEAVE_WAIT: Duration = Duration::from_secs(2);

#[utoipa::path(post, path = "/api/v1/federation/leave", tag = "federation",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The node left the federation gracefully (or, with `left: false`, was detached and leaves with its last handle); the federation endpoints answer 503 `federation_not_running` from now on", body = LeftJson),
        (status = 401, body = ErrorBody),
        (status = 503, description = "`federation_not_running`, `auth_not_configured`", body = ErrorBody)))]
pub(crate) async fn leave(
    State(state): State<AppState>,
    _auth: Authorized,
) -> ApiResult<ApiJson<LeftJson>> {
    let node = state.detach_node().ok_or_else(|| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "federation_not_running",
            "no federation node runs in this server (it never joined, or it has left)",
        )
    })?;
    let node_id = node.node_id().to_owned();
    // `Node::leave` takes the node: wait (briefly) for the handles of requests in flight, then
    // leave, off the runtime (it blocks until the goodbye is sent).
    let left = tokio::task::spawn_blocking(move || {
        let deadline = Instant::now() + LEAVE_WAIT;
        let mut node = node;
        loop {
            match Arc::try_unwrap(node) {
                Ok(n) => {
                    n.leave();
                    return true;
                }
                Err(shared) if Instant::now() < deadline => {
                    node = shared;
                    std::thread::sleep(Duration::from_millis(10));
                }
                Err(shared) => {
                    drop(shared);
                    return false;
                }
            }
        }
    })
    .await
    .map_err(join_error)?;
    tracing::info!(node_id, left, "left the federation (asked through the API)");
    state.publish(ServerEvent {
        topic: Topic::Peers,
        event: "node_left",
        data: serde_json::json!({ "node_id": node_id, "left": left }),
    });
    state.mark_left();
    Ok(ApiJson(LeftJson { node_id, left }))
}
