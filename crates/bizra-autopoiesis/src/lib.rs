//! # bizra-autopoiesis — a node's memory
//!
//! A node learns **patterns** from the signed outputs it produces or receives, keeps them with
//! their provenance in an embedded SQLite [`Store`], recalls them by meaning through a vector
//! index, moves their confidence with feedback, and exchanges them as signed JSON Lines. It also
//! learns its user's **preferences** and renders the active ones into a system prompt.
//!
//! ```
//! use bizra_autopoiesis::{RecallOptions, Store};
//! use bizra_protocol::{Envelope, Identity, VerifyOptions};
//! use serde_json::json;
//!
//! let store = Store::in_memory()?;
//! let id = Identity::generate();
//! let env = Envelope::create(&id, json!({"type": "bizra.pattern", "content": "water boils at 100 °C"}))?;
//! let learned = store.learn(&env, &[0.6, 0.8, 0.0], &["physics"], &VerifyOptions::default())?;
//!
//! let hits = store.recall(&[0.6, 0.7, 0.1], RecallOptions::top(5))?;
//! assert_eq!(hits[0].pattern.id, learned.id());
//! store.feedback(learned.id(), true)?; // confidence 0.5 → 0.55
//!
//! for _ in 0..6 {
//!     store.preferences().observe("style", "tone", "concise")?;
//! }
//! assert_eq!(
//!     store.preferences().apply(Some("You are helpful."))?,
//!     "You are helpful.\n\nUser preferences:\n- style.tone: concise"
//! );
//! # Ok::<(), bizra_protocol::Error>(())
//! ```
//!
//! Modules: [`store`] (the database, its schema and settings), [`patterns`] (learning, feedback),
//! [`recall`] (search by meaning), [`preferences`], [`exchange`] (export/import), [`payload`]
//! (the `bizra.pattern` payload), [`embed`] (embedding with the engine), [`elevation`] (when a pattern is settled, and local
//! elevation), `federation` (elevation proposals, decisions and their proof) and `Elevator`
//! (which drives them beside a running node), both under the `federation` feature.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod elevation;
#[cfg(feature = "federation")]
pub mod elevator;
pub mod embed;
pub mod exchange;
#[cfg(feature = "federation")]
pub mod federation;
mod index;
pub mod patterns;
pub mod payload;
pub mod preferences;
pub mod recall;
pub mod store;

pub use elevation::ElevationPolicy;
#[cfg(feature = "federation")]
pub use elevator::{Elevator, ElevatorStatus};
pub use embed::Embed;
pub use exchange::ImportReport;
#[cfg(feature = "federation")]
pub use federation::{
    elevation_proposal, read_elevation_proposal, Applied, ElevationProposal, ProposalPart,
    ProposalRefused,
};
pub use patterns::{Elevation, Learned, Pattern, PatternId};
pub use payload::{PatternPayload, INFERENCE_PAYLOAD_TYPE, PATTERN_PAYLOAD_TYPE};
#[cfg(feature = "inference")]
pub use preferences::PreferencePrompt;
pub use preferences::{Preference, Preferences};
pub use recall::{IndexOrigin, RecallOptions, Recalled, SCAN_LIMIT};
pub use store::{Store, SCHEMA_VERSION, STORE_FILE_NAME};
