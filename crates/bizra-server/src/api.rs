//! Health, status, metrics, identity, envelopes, gates and the constitution.

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use bizra::constitution::Enforcement;
use bizra::BuiltinKind;
use bizra::{ComplianceInput, Envelope, GateReport, GateTier, Identity, RejectCode, Scores};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use crate::error::{ApiError, ApiJson, ApiResult, ErrorBody};
use crate::guard::Authorized;
use crate::state::{file_name, AppState};

// ---------------------------------------------------------------------------------------------
// Health, status, metrics

/// `GET /health`.
#[derive(Serialize, Deserialize, ToSchema)]
pub struct Health {
    /// Always `ok` while the server answers.
    pub status: String,
    /// The bizra version.
    pub version: String,
}

#[utoipa::path(get, path = "/api/v1/health", tag = "system",
    responses((status = 200, description = "The server answers", body = Health)))]
pub(crate) async fn health() -> ApiJson<Health> {
    ApiJson(Health {
        status: "ok".into(),
        version: bizra::VERSION.into(),
    })
}

/// The federation part of `GET /status`.
#[derive(Serialize, Deserialize, ToSchema)]
pub struct FederationSummary {
    /// Whether a federation node is attached and running.
    pub running: bool,
    /// Members alive or suspect, this node included (0 without a node).
    pub membership_size: usize,
    /// The highest decided height (`null`: no consensus).
    pub consensus_height: Option<u64>,
}

/// `GET /status`.
#[derive(Serialize, Deserialize, ToSchema)]
pub struct Status {
    /// The node id (hex of the first 16 bytes of its key).
    pub node_id: String,
    /// The Ed25519 public key, hex.
    pub public_key: String,
    /// The bizra version.
    pub version: String,
    /// Seconds since the server started.
    pub uptime_seconds: f64,
    /// Whether inference is served (a gateway is configured).
    pub inference: bool,
    /// Keys of the models loaded in memory (the registry's and the pinned ones).
    pub models_loaded: Vec<String>,
    /// Models in the registry.
    pub models_registered: usize,
    /// Generations running now.
    pub generations_in_flight: usize,
    /// The constitution's hash, hex.
    pub constitution_hash: String,
    /// The federation.
    pub federation: FederationSummary,
}

#[utoipa::path(get, path = "/api/v1/status", tag = "system",
    responses((status = 200, description = "The node's state", body = Status)))]
pub(crate) async fn status(State(state): State<AppState>) -> ApiResult<ApiJson<Status>> {
    let id = state.identity();
    let registered = match state.registry().cloned() {
        Some(r) => tokio::task::spawn_blocking(move || r.list().map(|l| l.len()).unwrap_or(0))
            .await
            .map_err(join_error)?,
        None => 0,
    };
    // The registry's loaded models and the pinned ones (the configured model).
    let loaded: Vec<String> = crate::inference::registry_models(&state)
        .await
        .unwrap_or_default()
        .into_iter()
        .filter(|m| m.loaded)
        .map(|m| m.key)
        .collect();
    Ok(ApiJson(Status {
        node_id: id.node_id().to_owned(),
        public_key: id.public_key_hex(),
        version: bizra::VERSION.into(),
        uptime_seconds: state.uptime().as_secs_f64(),
        inference: state.gateway().is_some(),
        models_loaded: loaded,
        models_registered: registered,
        generations_in_flight: state.generations_in_flight(),
        constitution_hash: state.gates().constitution().hash_hex(),
        federation: FederationSummary {
            running: state.node().is_some_and(|n| n.is_running()),
            membership_size: state.membership_size(),
            consensus_height: state
                .node()
                .and_then(|n| n.consensus_status())
                .map(|c| c.decided),
        },
    }))
}

#[utoipa::path(get, path = "/api/v1/metrics", tag = "system",
    responses((status = 200, description = "Prometheus text, OpenMetrics exposition format", body = String,
               content_type = "application/openmetrics-text; version=1.0.0; charset=utf-8")))]
pub(crate) async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    let m = state.metrics();
    m.members
        .set(i64::try_from(state.membership_size()).unwrap_or(i64::MAX));
    m.height.set(
        state
            .node()
            .and_then(|n| n.consensus_status())
            .map_or(0, |c| i64::try_from(c.decided).unwrap_or(i64::MAX)),
    );
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        m.encode(),
    )
}

pub(crate) fn join_error(e: tokio::task::JoinError) -> ApiError {
    ApiError::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        "internal",
        format!("a worker task failed: {e}"),
    )
}

// ---------------------------------------------------------------------------------------------
// Identity

/// The node's identity.
#[derive(Serialize, Deserialize, ToSchema)]
pub struct IdentityInfo {
    /// The node id.
    pub node_id: String,
    /// The Ed25519 public key, hex.
    pub public_key: String,
}

/// `POST /identity/generate`: the new identity and what became of the old one.
#[derive(Serialize, Deserialize, ToSchema)]
pub struct Rotated {
    /// The new node id.
    pub node_id: String,
    /// The new public key, hex.
    pub public_key: String,
    /// The node id before the rotation.
    pub previous_node_id: String,
    /// The file name the old key was kept under, beside the key file (`null`: there was none).
    pub old_key_file: Option<String>,
}

#[utoipa::path(post, path = "/api/v1/identity/generate", tag = "identity",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The key was rotated and written", body = Rotated),
        (status = 401, body = ErrorBody), (status = 503, body = ErrorBody),
        (status = 500, description = "The key file could not be written (nothing changed)", body = ErrorBody)))]
pub(crate) async fn identity_generate(
    State(state): State<AppState>,
    _auth: Authorized,
) -> ApiResult<ApiJson<Rotated>> {
    let Some(key_file) = state.key_file() else {
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "key_file_not_configured",
            "the server was given no key file: a rotation could not be written durably, so \
             none is made",
        ));
    };
    // One rotation at a time: the kept old key is always the one that was in use.
    let _rotating = state.rotation_lock().lock().await;
    let path = key_file.path.clone();
    let passphrase = key_file.passphrase.clone();
    let previous = state.identity();
    let (identity, kept) = tokio::task::spawn_blocking(move || {
        let identity = Identity::generate();
        // Atomic (temporary file and rename), the old key kept as `<name>.<millis>.old`.
        let kept = identity.save_rotating(&path, passphrase.as_deref().map(String::as_str))?;
        Ok::<_, bizra::Error>((identity, kept))
    })
    .await
    .map_err(join_error)??;
    let answer = Rotated {
        node_id: identity.node_id().to_owned(),
        public_key: identity.public_key_hex(),
        previous_node_id: previous.node_id().to_owned(),
        old_key_file: kept.as_deref().map(file_name),
    };
    tracing::info!(
        previous = previous.node_id(),
        new = identity.node_id(),
        "node key rotated"
    );
    state.set_identity(identity);
    Ok(ApiJson(answer))
}

/// A message to sign or verify: UTF-8 text or hex bytes (exactly one).
#[derive(Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SignRequest {
    /// The message as text (its UTF-8 bytes are signed).
    pub message: Option<String>,
    /// The message as hex bytes.
    pub message_hex: Option<String>,
}

/// A message signature.
#[derive(Serialize, Deserialize, ToSchema)]
pub struct Signed {
    /// Ed25519 over BLAKE3(`bizra-msg-v1:` ‖ message), hex (64 bytes).
    pub signature: String,
    /// The signer's public key, hex.
    pub public_key: String,
    /// The signer's node id.
    pub node_id: String,
}

fn message_bytes(text: Option<String>, hex: Option<String>) -> ApiResult<Vec<u8>> {
    match (text, hex) {
        (Some(t), None) => Ok(t.into_bytes()),
        (None, Some(h)) => decode_hex(&h, "message_hex"),
        _ => Err(ApiError::bad_request(
            "give exactly one of message (text) and message_hex",
        )),
    }
}

fn decode_hex(s: &str, what: &str) -> ApiResult<Vec<u8>> {
    let bad = || ApiError::bad_request(format!("{what} is not hex"));
    if s.len() % 2 != 0 {
        return Err(bad());
    }
    (0..s.len())
        .step_by(2)
        .map(|i| {
            s.get(i..i + 2)
                .and_then(|b| u8::from_str_radix(b, 16).ok())
                .ok_or_else(bad)
        })
        .collect()
}

fn to_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[utoipa::path(post, path = "/api/v1/identity/sign", tag = "identity",
    security(("bearer" = [])), request_body = SignRequest,
    responses((status = 200, body = Signed), (status = 400, body = ErrorBody),
              (status = 401, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub(crate) async fn identity_sign(
    State(state): State<AppState>,
    _auth: Authorized,
    ApiJson(req): ApiJson<SignRequest>,
) -> ApiResult<ApiJson<Signed>> {
    let message = message_bytes(req.message, req.message_hex)?;
    let id = state.identity();
    Ok(ApiJson(Signed {
        signature: to_hex(&id.sign_message(&message)),
        public_key: id.public_key_hex(),
        node_id: id.node_id().to_owned(),
    }))
}

/// A signature to check.
#[derive(Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VerifyRequest {
    /// The message as text.
    pub message: Option<String>,
    /// The message as hex bytes.
    pub message_hex: Option<String>,
    /// The signature, hex.
    pub signature: String,
    /// The signer's public key, hex (default: this node's).
    pub public_key: Option<String>,
}

/// Whether a signature verifies.
#[derive(Serialize, Deserialize, ToSchema)]
pub struct Verified {
    /// True when the signature verifies strictly under the key.
    pub valid: bool,
    /// The key it was checked under, hex.
    pub public_key: String,
}

#[utoipa::path(post, path = "/api/v1/identity/verify", tag = "identity", request_body = VerifyRequest,
    responses((status = 200, body = Verified), (status = 400, body = ErrorBody)))]
pub(crate) async fn identity_verify(
    State(state): State<AppState>,
    ApiJson(req): ApiJson<VerifyRequest>,
) -> ApiResult<ApiJson<Verified>> {
    let message = message_bytes(req.message, req.message_hex)?;
    let signature = decode_hex(&req.signature, "signature")?;
    let key = match req.public_key {
        Some(k) => decode_hex(&k, "public_key")?,
        None => state.identity().public_key().to_vec(),
    };
    Ok(ApiJson(Verified {
        valid: bizra::verify_message(&key, &message, &signature),
        public_key: to_hex(&key),
    }))
}

// ---------------------------------------------------------------------------------------------
// Envelopes and gates

/// `POST /pci/envelope/create`.
#[derive(Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateEnvelope {
    /// The payload (a JSON object).
    #[schema(value_type = Object)]
    pub payload: Value,
    /// The SNR asserted, in [0, 1].
    pub snr: Option<f64>,
    /// The Ihsan score asserted, in [0, 1].
    pub ihsan: Option<f64>,
    /// Lifetime in seconds (1..=3600; default 3600).
    pub ttl: Option<i64>,
    /// Ids of the envelopes this one derives from.
    #[serde(default)]
    pub provenance: Vec<String>,
}

/// A signed envelope.
#[derive(Serialize, Deserialize, ToSchema)]
pub struct EnvelopeAnswer {
    /// The envelope (PCI-v1 JSON).
    #[schema(value_type = Object)]
    pub envelope: Value,
}

pub(crate) fn envelope_value(e: &Envelope) -> Value {
    serde_json::from_str(&e.to_json()).unwrap_or(Value::Null)
}

#[utoipa::path(post, path = "/api/v1/pci/envelope/create", tag = "pci",
    security(("bearer" = [])), request_body = CreateEnvelope,
    responses((status = 201, body = EnvelopeAnswer), (status = 400, body = ErrorBody),
              (status = 401, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub(crate) async fn envelope_create(
    State(state): State<AppState>,
    _auth: Authorized,
    ApiJson(req): ApiJson<CreateEnvelope>,
) -> ApiResult<(StatusCode, ApiJson<EnvelopeAnswer>)> {
    // The documented request: a payload object (`null` is what a client sends by mistake).
    if !req.payload.is_object() {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_request",
            "payload must be a JSON object",
        ));
    }
    let mut builder = Envelope::builder(req.payload)
        .scores(Scores {
            snr: req.snr,
            ihsan: req.ihsan,
        })
        .provenance(req.provenance)
        .policy(*state.gates().constitution().hash());
    if let Some(ttl) = req.ttl {
        builder = builder.ttl(ttl);
    }
    let envelope = builder.sign(&state.identity())?;
    Ok((
        StatusCode::CREATED,
        ApiJson(EnvelopeAnswer {
            envelope: envelope_value(&envelope),
        }),
    ))
}

/// An envelope to check: its JSON object, or its JSON text.
#[derive(Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EnvelopeRequest {
    /// The envelope: a JSON object, or a string holding its JSON.
    #[schema(value_type = Object)]
    pub envelope: Value,
}

/// One gate's verdict.
#[derive(Serialize, Deserialize, ToSchema)]
pub struct GateResultJson {
    /// The gate's name.
    pub name: String,
    /// Its tier (`cheap`, `medium`, `expensive`).
    pub tier: String,
    /// Whether it admitted the envelope.
    pub passed: bool,
    /// The reject code's name when it refused.
    pub reject_code: Option<String>,
    /// The reject code's number when it refused.
    pub reject_number: Option<u32>,
    /// Why it refused.
    pub detail: Option<String>,
    /// How long it took, in microseconds.
    pub duration_us: u64,
}

/// A gate chain's verdict.
#[derive(Serialize, Deserialize, ToSchema)]
pub struct GateReportJson {
    /// True when every gate passed.
    pub passed: bool,
    /// The first refusal's reject code name.
    pub reject_code: Option<String>,
    /// The first refusal's reject code number.
    pub reject_number: Option<u32>,
    /// The gates that ran, in order.
    pub results: Vec<GateResultJson>,
    /// Whether the envelope is authentic: its `content_hash` matches the payload and its
    /// signature verifies strictly under its sender's key. The signature gate's verdict, or,
    /// when the chain stopped before that gate ran (a score below the threshold, say), the
    /// signature checked alone, so a refusal on policy still tells a forgery from a genuine
    /// output. Absent where no envelope was checked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature_verified: Option<bool>,
}

fn tier_name(t: GateTier) -> String {
    format!("{t:?}").to_lowercase()
}

/// The report of `envelope`, with `signature_verified` (checked alone if the chain stopped
/// before its signature gate).
pub(crate) fn envelope_report(
    state: &AppState,
    envelope: &Envelope,
    r: &GateReport,
) -> GateReportJson {
    let mut json = report_json(r);
    if json.signature_verified.is_none() {
        json.signature_verified = Some(state.signature_gate().check(envelope).passed);
    }
    json
}

pub(crate) fn report_json(r: &GateReport) -> GateReportJson {
    GateReportJson {
        signature_verified: r
            .results
            .iter()
            .find(|g| g.name == BuiltinKind::Signature.name())
            .map(|g| g.passed),
        passed: r.passed,
        reject_code: r.code().map(|c| c.name().to_owned()),
        reject_number: r.code().map(RejectCode::code),
        results: r
            .results
            .iter()
            .map(|g| GateResultJson {
                name: g.name.clone(),
                tier: tier_name(g.tier),
                passed: g.passed,
                reject_code: g.code.map(|c| c.name().to_owned()),
                reject_number: g.code.map(RejectCode::code),
                detail: g.detail.clone(),
                duration_us: u64::try_from(g.duration.as_micros()).unwrap_or(u64::MAX),
            })
            .collect(),
    }
}

/// Reads an envelope given as a JSON object or as a string of JSON; a malformed one is 422
/// `envelope_rejected` with its reject code (SCHEMA, MISSING_FIELD, ...).
pub(crate) fn read_envelope(state: &AppState, v: Value) -> ApiResult<Envelope> {
    let parsed = match v {
        Value::String(text) => Envelope::parse(&text),
        v => Envelope::from_value(v),
    };
    parsed.map_err(|e| {
        state.metrics().refused(e.reject_code());
        ApiError::from(e)
    })
}

/// An admitted envelope.
#[derive(Serialize, Deserialize, ToSchema)]
pub struct EnvelopeVerified {
    /// Always true (a refusal is a 422).
    pub valid: bool,
    /// The envelope's id.
    pub id: String,
    /// Its sender's node id.
    pub sender: String,
    /// The gates that ran.
    pub report: GateReportJson,
}

#[utoipa::path(post, path = "/api/v1/pci/envelope/verify", tag = "pci", request_body = EnvelopeRequest,
    responses(
        (status = 200, description = "Every gate admitted the envelope", body = EnvelopeVerified),
        (status = 422, description = "Malformed, or refused by a gate: `envelope_rejected` with the reject code; `details` holds the gate report", body = ErrorBody),
        (status = 400, body = ErrorBody)))]
pub(crate) async fn envelope_verify(
    State(state): State<AppState>,
    ApiJson(req): ApiJson<EnvelopeRequest>,
) -> ApiResult<ApiJson<EnvelopeVerified>> {
    let envelope = read_envelope(&state, req.envelope)?;
    let report = state.gates().check(&envelope);
    let json = envelope_report(&state, &envelope, &report);
    if !report.passed {
        state.metrics().refused(report.code());
        let failure = report.first_failure();
        let message = failure.map_or_else(
            || "the gate chain refused the envelope".to_owned(),
            |f| {
                format!(
                    "gate {} refused the envelope: {}",
                    f.name,
                    f.detail.clone().unwrap_or_default()
                )
            },
        );
        let mut err = ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "envelope_rejected",
            message,
        )
        .with_details(serde_json::to_value(&json).unwrap_or(Value::Null));
        if let Some(code) = report.code() {
            err = err.with_reject(code);
        }
        return Err(err);
    }
    Ok(ApiJson(EnvelopeVerified {
        valid: true,
        id: envelope.id().to_owned(),
        sender: envelope.sender().to_owned(),
        report: json,
    }))
}

#[utoipa::path(post, path = "/api/v1/gates/check", tag = "pci", request_body = EnvelopeRequest,
    responses(
        (status = 200, description = "The chain's verdict, admitted or not", body = GateReportJson),
        (status = 422, description = "Not an envelope at all (`envelope_rejected`, SCHEMA or MISSING_FIELD)", body = ErrorBody)))]
pub(crate) async fn gates_check(
    State(state): State<AppState>,
    ApiJson(req): ApiJson<EnvelopeRequest>,
) -> ApiResult<ApiJson<GateReportJson>> {
    let envelope = read_envelope(&state, req.envelope)?;
    let report = state.gates().check(&envelope);
    if !report.passed {
        state.metrics().refused(report.code());
    }
    Ok(ApiJson(envelope_report(&state, &envelope, &report)))
}

// ---------------------------------------------------------------------------------------------
// Constitution

/// A rule of the constitution.
#[derive(Serialize, Deserialize, ToSchema)]
pub struct RuleJson {
    /// Its id (`IHSAN_001`).
    pub id: String,
    /// Short name.
    pub name: String,
    /// What it requires.
    pub description: String,
    /// `strict` or `advisory`.
    pub enforcement: String,
    /// What a violation costs.
    pub penalty: String,
}

/// `GET /constitution`.
#[derive(Serialize, Deserialize, ToSchema)]
pub struct ConstitutionJson {
    /// Its version.
    pub version: String,
    /// Its hash (what envelopes carry as `policy`), hex.
    pub hash: String,
    /// Least Ihsan score admitted.
    pub ihsan_minimum: f64,
    /// Ihsan score aimed at.
    pub ihsan_target: f64,
    /// Least SNR admitted.
    pub snr_threshold: f64,
    /// Longest envelope lifetime.
    pub max_ttl_seconds: i64,
    /// Largest clock skew tolerated.
    pub max_clock_skew_seconds: i64,
    /// The BFT quorum rule.
    pub quorum_rule: String,
    /// The gates of the server's chain, in the order they run.
    pub gates: Vec<String>,
    /// The rules.
    pub rules: Vec<RuleJson>,
}

fn enforcement_name(e: Enforcement) -> String {
    match e {
        Enforcement::Strict => "strict".into(),
        Enforcement::Advisory => "advisory".into(),
    }
}

#[utoipa::path(get, path = "/api/v1/constitution", tag = "constitution",
    responses((status = 200, body = ConstitutionJson)))]
pub(crate) async fn constitution(State(state): State<AppState>) -> ApiJson<ConstitutionJson> {
    let c = state.gates().constitution();
    ApiJson(ConstitutionJson {
        version: c.version().to_owned(),
        hash: c.hash_hex(),
        ihsan_minimum: c.ihsan_minimum(),
        ihsan_target: c.ihsan_target(),
        snr_threshold: c.snr_threshold(),
        max_ttl_seconds: c.max_ttl_seconds(),
        max_clock_skew_seconds: c.max_clock_skew_seconds(),
        quorum_rule: bizra::constitution::QUORUM_RULE.to_owned(),
        gates: state.gates().gate_names(),
        rules: c
            .rules()
            .iter()
            .map(|r| RuleJson {
                id: r.id.clone(),
                name: r.name.clone(),
                description: r.description.clone(),
                enforcement: enforcement_name(r.enforcement),
                penalty: r.penalty.clone(),
            })
            .collect(),
    })
}

/// `POST /constitution/check`: an envelope (its asserted scores, signature and provenance are
/// judged), or the facts themselves.
#[derive(Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ComplianceRequest {
    /// An envelope (object or JSON text); when given, the other members must be absent.
    #[schema(value_type = Option<Object>)]
    pub envelope: Option<Value>,
    /// Measured SNR.
    pub snr: Option<f64>,
    /// Measured Ihsan score.
    pub ihsan: Option<f64>,
    /// Whether the output carries a valid signature.
    #[serde(default)]
    pub has_signature: bool,
    /// Whether the output names the envelopes it derives from.
    #[serde(default)]
    pub has_provenance: bool,
}

/// One rule's verdict.
#[derive(Serialize, Deserialize, ToSchema)]
pub struct RuleOutcomeJson {
    /// The rule's id.
    pub id: String,
    /// `strict` or `advisory`.
    pub enforcement: String,
    /// Whether it is satisfied.
    pub passed: bool,
    /// The value judged.
    pub value: Option<f64>,
    /// The threshold.
    pub threshold: Option<f64>,
    /// Why.
    pub detail: String,
}

/// The constitution's verdict.
#[derive(Serialize, Deserialize, ToSchema)]
pub struct ComplianceJson {
    /// True when no strict rule failed.
    pub compliant: bool,
    /// One outcome per rule.
    pub rules: Vec<RuleOutcomeJson>,
}

#[utoipa::path(post, path = "/api/v1/constitution/check", tag = "constitution",
    request_body = ComplianceRequest,
    responses((status = 200, body = ComplianceJson), (status = 400, body = ErrorBody),
              (status = 422, body = ErrorBody)))]
pub(crate) async fn constitution_check(
    State(state): State<AppState>,
    ApiJson(req): ApiJson<ComplianceRequest>,
) -> ApiResult<ApiJson<ComplianceJson>> {
    let input = match req.envelope {
        Some(v) => {
            if req.snr.is_some() || req.ihsan.is_some() || req.has_signature || req.has_provenance {
                return Err(ApiError::bad_request(
                    "give an envelope or the facts (snr, ihsan, has_signature, has_provenance), \
                     not both",
                ));
            }
            let envelope = read_envelope(&state, v)?;
            ComplianceInput::of_envelope(&envelope)
        }
        None => ComplianceInput {
            snr: req.snr,
            ihsan: req.ihsan,
            has_signature: req.has_signature,
            has_provenance: req.has_provenance,
        },
    };
    let report = state.gates().constitution().check(&input);
    Ok(ApiJson(ComplianceJson {
        compliant: report.compliant,
        rules: report
            .rules
            .into_iter()
            .map(|r| RuleOutcomeJson {
                id: r.id,
                enforcement: enforcement_name(r.enforcement),
                passed: r.passed,
                value: r.value,
                threshold: r.threshold,
                detail: r.detail,
            })
            .collect(),
    }))
}
