//! The OpenAPI 3.1 document (utoipa), served at `/api/v1/openapi.json` and committed as
//! `crates/bizra-server/openapi.json`.

use axum::response::IntoResponse;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::{api, federation, inference, page, ws};

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "The server's token (`ServerConfig::token`). Without one configured, \
                         protected endpoints answer 503 auth_not_configured.",
                    ))
                    .build(),
            ),
        );
    }
}

/// The answers every operation can give beside its own, in the error shape: what the layers
/// around the routes answer (timeout, body limit, rate limit), what reading a JSON body refuses
/// (malformed JSON, wrong content type, a missing or mistyped member), and what the bearer
/// check refuses. Each is added where the operation does not document it already.
struct CommonResponses;

impl Modify for CommonResponses {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::{ContentBuilder, Ref, ResponseBuilder};
        let error = |description: &str| {
            ResponseBuilder::new()
                .description(description)
                .content(
                    "application/json",
                    ContentBuilder::new()
                        .schema(Some(Ref::from_schema_name("ErrorBody")))
                        .build(),
                )
                .build()
        };
        for item in openapi.paths.paths.values_mut() {
            for op in [&mut item.get, &mut item.post].into_iter().flatten() {
                let mut codes = vec![
                    ("408", "`timeout`: no answer within the request timeout"),
                    ("413", "`payload_too_large`: the body is over the limit"),
                    ("429", "`rate_limited`, with `Retry-After` (seconds)"),
                ];
                if op.request_body.is_some() {
                    codes.extend([
                        ("400", "`malformed_json` or `invalid_input`"),
                        ("415", "`unsupported_media_type`: not `application/json`"),
                        (
                            "422",
                            "`invalid_request`: a missing, mistyped or unknown member",
                        ),
                    ]);
                }
                if op.security.as_ref().is_some_and(|s| !s.is_empty()) {
                    codes.extend([
                        ("401", "`unauthorized`: no bearer token, or a wrong one"),
                        ("503", "`auth_not_configured`: the server has no token"),
                    ]);
                }
                for (code, description) in codes {
                    op.responses
                        .responses
                        .entry(code.to_owned())
                        .or_insert_with(|| error(description).into());
                }
            }
        }
    }
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "bizra",
        description = "Verifiable local AI: a node's identity, signed PCI envelopes, the gate \
                       chain and constitution, inference (native and OpenAI-compatible, each \
                       output signed) and federation. Every failure answers \
                       `{\"error\": {\"code\", \"message\", \"reject_code\"?}}`.",
        license(name = "Apache-2.0")
    ),
    paths(
        page::page, api::health, api::status, api::metrics,
        api::identity_generate, api::identity_sign, api::identity_verify,
        api::envelope_create, api::envelope_verify, api::gates_check,
        inference::generate, inference::models, inference::models_loaded,
        inference::models_unload, inference::tier,
        federation::status, federation::peers, federation::propose, federation::leave,
        api::constitution, api::constitution_check,
        ws::ws,
        inference::chat_completions, inference::openai_models,
    ),
    modifiers(&BearerAuth, &CommonResponses),
    tags(
        (name = "system", description = "Health, status, metrics"),
        (name = "identity", description = "The node's key"),
        (name = "pci", description = "Envelopes and the gate chain"),
        (name = "inference", description = "Signed generation"),
        (name = "federation", description = "Membership and consensus"),
        (name = "constitution", description = "Thresholds and rules"),
        (name = "events", description = "Live events over WebSocket"),
        (name = "openai", description = "OpenAI-compatible endpoints; the signed envelope rides in `bizra_envelope`"),
    )
)]
struct ApiDoc;

/// The OpenAPI 3.1 document, pretty-printed JSON (what `/api/v1/openapi.json` serves).
pub fn openapi_json() -> String {
    let mut doc = ApiDoc::openapi();
    // The version is the crate's; the rest is the code's.
    doc.info.version = bizra::VERSION.to_owned();
    let mut text = doc.to_pretty_json().unwrap_or_else(|_| "{}".into());
    text.push('\n');
    text
}

pub(crate) async fn serve_document() -> impl IntoResponse {
    (
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        openapi_json(),
    )
}
