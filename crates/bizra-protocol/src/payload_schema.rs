//! The JSON Schema that a gate chain's schema gate may check payloads against (`json-schema`
//! feature, on by default in `bizra`).
//!
//! Without the feature the type has no values, so a chain's schema is always absent and the
//! protocol builds without jsonschema and its regex engines (most of a cold build's time).

use serde_json::Value;

/// A compiled JSON Schema for payloads.
#[cfg(feature = "json-schema")]
pub(crate) struct PayloadSchema(jsonschema::Validator);

/// A compiled JSON Schema for payloads: none can exist in this build.
#[cfg(not(feature = "json-schema"))]
pub(crate) enum PayloadSchema {}

#[cfg(feature = "json-schema")]
impl PayloadSchema {
    /// Compiles `schema`; references to other documents are not fetched.
    pub(crate) fn compile(schema: &Value) -> crate::Result<Self> {
        jsonschema::validator_for(schema)
            .map(PayloadSchema)
            .map_err(|e| crate::Error::InvalidInput(format!("invalid JSON Schema: {e}")))
    }

    /// Why `payload` fails the schema, if it does.
    pub(crate) fn check(&self, payload: &Value) -> Result<(), String> {
        self.0.validate(payload).map_err(|e| {
            format!(
                "payload fails the JSON Schema at {}: {e}",
                e.instance_path()
            )
        })
    }
}

#[cfg(not(feature = "json-schema"))]
impl PayloadSchema {
    pub(crate) fn check(&self, _payload: &Value) -> Result<(), String> {
        match *self {}
    }
}
