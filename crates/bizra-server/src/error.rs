//! The one error shape of every failure:
//! `{"error": {"code": "<stable_snake_code>", "message": "...", "reject_code": "GATE_SNR", "reject_number": 23}}`.

use axum::body::Body;
use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, Request};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use bizra::{ErrorKind, RejectCode};
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

/// The body of every error response.
#[derive(Clone, Debug, Serialize, serde::Deserialize, ToSchema)]
pub struct ErrorBody {
    /// What went wrong.
    pub error: ErrorDetail,
}

/// What went wrong: a stable code, a message for humans, the PCI reject code where there is one.
#[derive(Clone, Debug, Serialize, serde::Deserialize, ToSchema)]
pub struct ErrorDetail {
    /// Stable, snake_case (`unauthorized`, `envelope_rejected`, `rate_limited`, ...).
    pub code: String,
    /// For humans; not stable.
    pub message: String,
    /// The PCI reject code's name (`GATE_SNR`), when an envelope or a gate refused.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reject_code: Option<String>,
    /// The PCI reject code's number (`23`), beside its name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reject_number: Option<u32>,
    /// Structured detail where an endpoint documents one (a gate report).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub details: Option<Value>,
}

/// An error response: a status and the error shape.
#[derive(Debug)]
pub struct ApiError {
    /// The HTTP status.
    pub status: StatusCode,
    /// The body (boxed: errors travel in every `Result` of the handlers).
    pub detail: Box<ErrorDetail>,
    /// Seconds to wait (`Retry-After`), for 429 and 503.
    pub retry_after: Option<u64>,
}

impl ApiError {
    /// An error with a status, a code and a message.
    pub fn new(status: StatusCode, code: &str, message: impl Into<String>) -> Self {
        Self {
            status,
            detail: Box::new(ErrorDetail {
                code: code.to_owned(),
                message: message.into(),
                reject_code: None,
                reject_number: None,
                details: None,
            }),
            retry_after: None,
        }
    }

    /// 400 `invalid_input`.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_input", message)
    }

    /// Adds the PCI reject code.
    pub fn with_reject(mut self, code: RejectCode) -> Self {
        self.detail.reject_code = Some(code.name().to_owned());
        self.detail.reject_number = Some(code.code());
        self
    }

    /// Adds structured detail.
    pub fn with_details(mut self, details: Value) -> Self {
        self.detail.details = Some(details);
        self
    }

    /// Adds `Retry-After`.
    pub fn with_retry_after(mut self, seconds: u64) -> Self {
        self.retry_after = Some(seconds);
        self
    }

    /// The body as JSON (for SSE error events and WebSocket messages).
    pub fn body(&self) -> ErrorBody {
        ErrorBody {
            error: (*self.detail).clone(),
        }
    }
}

impl From<bizra::Error> for ApiError {
    /// The library's error kinds, each with its status and code.
    fn from(e: bizra::Error) -> Self {
        let message = e.to_string();
        let (status, code) = match e.kind() {
            ErrorKind::InvalidInput => (StatusCode::BAD_REQUEST, "invalid_input"),
            ErrorKind::Rejected => (StatusCode::UNPROCESSABLE_ENTITY, "envelope_rejected"),
            ErrorKind::CertificateRefused => {
                (StatusCode::UNPROCESSABLE_ENTITY, "certificate_refused")
            }
            ErrorKind::EvidenceRefused => (StatusCode::UNPROCESSABLE_ENTITY, "evidence_refused"),
            ErrorKind::Key => (StatusCode::INTERNAL_SERVER_ERROR, "key_error"),
            ErrorKind::Constitution => (StatusCode::INTERNAL_SERVER_ERROR, "constitution_error"),
            ErrorKind::Io => (StatusCode::INTERNAL_SERVER_ERROR, "io_error"),
            ErrorKind::Model => (StatusCode::INTERNAL_SERVER_ERROR, "model_error"),
            ErrorKind::ModelNotFound => (StatusCode::NOT_FOUND, "model_not_found"),
            ErrorKind::PromptTooLong => (StatusCode::BAD_REQUEST, "prompt_too_long"),
            ErrorKind::NoRemotePool => (StatusCode::SERVICE_UNAVAILABLE, "no_remote_pool"),
            ErrorKind::Inference => (StatusCode::INTERNAL_SERVER_ERROR, "inference_failed"),
            ErrorKind::RemoteUnavailable => (StatusCode::BAD_GATEWAY, "remote_unavailable"),
            ErrorKind::RemoteRefused => (StatusCode::BAD_GATEWAY, "remote_refused"),
            ErrorKind::Busy => (StatusCode::SERVICE_UNAVAILABLE, "busy"),
            _ => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        };
        let mut err = ApiError::new(status, code, message);
        if e.kind() == ErrorKind::Busy {
            // A full queue drains in seconds: a client that honours Retry-After comes back then.
            err = err.with_retry_after(1);
        }
        if let Some(r) = e.reject_code() {
            err = err.with_reject(r);
        }
        err
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let retry_after = self.retry_after;
        let mut response = (self.status, axum::Json(self.body())).into_response();
        if let Some(s) = retry_after {
            if let Ok(v) = HeaderValue::from_str(&s.to_string()) {
                response.headers_mut().insert(header::RETRY_AFTER, v);
            }
        }
        response
    }
}

/// A handler's result.
pub type ApiResult<T> = Result<T, ApiError>;

/// `axum::Json` whose rejections (malformed JSON, a wrong content type, a missing or mistyped
/// member, a body over the limit) answer in the error shape.
#[derive(Debug, Clone, Copy, Default)]
pub struct ApiJson<T>(pub T);

impl<S, T> FromRequest<S> for ApiJson<T>
where
    axum::Json<T>: FromRequest<S, Rejection = JsonRejection>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(v)) => Ok(ApiJson(v)),
            Err(rejection) => Err(json_rejection(rejection)),
        }
    }
}

fn json_rejection(rejection: JsonRejection) -> ApiError {
    let status = rejection.status();
    let code = match &rejection {
        JsonRejection::JsonDataError(_) => "invalid_request",
        JsonRejection::JsonSyntaxError(_) => "malformed_json",
        JsonRejection::MissingJsonContentType(_) => "unsupported_media_type",
        JsonRejection::BytesRejection(_) if status == StatusCode::PAYLOAD_TOO_LARGE => {
            "payload_too_large"
        }
        _ => "invalid_request",
    };
    ApiError::new(status, code, rejection.body_text())
}

impl<T: Serialize> IntoResponse for ApiJson<T> {
    fn into_response(self) -> Response {
        axum::Json(self.0).into_response()
    }
}

/// The code an error status gets when something outside the handlers (the router, a layer)
/// answered it.
fn code_for_status(status: StatusCode) -> &'static str {
    match status {
        StatusCode::NOT_FOUND => "not_found",
        StatusCode::METHOD_NOT_ALLOWED => "method_not_allowed",
        StatusCode::PAYLOAD_TOO_LARGE => "payload_too_large",
        StatusCode::REQUEST_TIMEOUT => "timeout",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported_media_type",
        StatusCode::TOO_MANY_REQUESTS => "rate_limited",
        StatusCode::UNAUTHORIZED => "unauthorized",
        StatusCode::SERVICE_UNAVAILABLE => "unavailable",
        s if s.is_client_error() => "bad_request",
        _ => "internal",
    }
}

/// Middleware: an error response that is not already JSON (axum's 404 and 405, the body
/// limit's 413, the timeout's 408, a panic's 500) is replaced by the error shape.
pub async fn shape_errors(request: Request, next: Next) -> Response {
    let response = next.run(request).await;
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return response;
    }
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if is_json {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let text = axum::body::to_bytes(body, 64 * 1024)
        .await
        .ok()
        .map(|b| String::from_utf8_lossy(&b).trim().to_owned())
        .filter(|t| !t.is_empty())
        .unwrap_or_else(|| {
            status
                .canonical_reason()
                .unwrap_or("request failed")
                .to_owned()
        });
    let shaped = ApiError::new(status, code_for_status(status), text).body();
    let bytes = serde_json::to_vec(&shaped).unwrap_or_default();
    parts.headers.remove(header::CONTENT_LENGTH);
    parts.headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    Response::from_parts(parts, Body::from(bytes))
}

/// The fallback of the router: 404 in the error shape.
pub async fn not_found(uri: axum::http::Uri) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "not_found",
        format!("no endpoint at {}", uri.path()),
    )
}
