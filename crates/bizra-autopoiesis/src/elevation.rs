//! Elevation: the patterns a node holds as settled, proven enough to share.
//!
//! A pattern is **eligible** when its confidence has reached the policy's threshold (the
//! constitution's Ihsan minimum, 0.95 by default) and at least `min_observations` distinct
//! envelopes carried its content: feedback alone (one user insisting) or repetition alone (a
//! model repeating itself) is not enough. An eligible pattern is elevated in one of two ways:
//!
//! * **Through the federation** (the `federation` feature): the node proposes it as a
//!   `bizra.proposal` envelope (the `federation` module); when a height decides it, every node
//!   stores it as [`Elevation::Certified`] with the height's commit certificate and batch, which
//!   anyone holding the federation document can check again (`Store::verify_elevation`).
//! * **Locally** ([`Store::elevate_local`]), where there is no federation: marked
//!   [`Elevation::Local`], which says exactly that. A locally elevated pattern can still be
//!   certified later, when the node joins a federation.

use rusqlite::params;

use bizra_protocol::{Constitution, Result};

use crate::patterns::{pattern_from_row, Elevation, Pattern, PatternId, COLUMNS};
use crate::store::{now_ms, sql_error, Store};

/// The confidence a pattern needs to be elevated, unless a constitution says otherwise: the
/// seed constitution's Ihsan minimum.
pub const DEFAULT_ELEVATION_THRESHOLD: f64 = 0.95;
/// The distinct envelopes that must have carried a pattern's content before it is elevated,
/// unless the policy says otherwise.
pub const DEFAULT_MIN_OBSERVATIONS: u64 = 3;

/// When a pattern is eligible for elevation.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ElevationPolicy {
    /// The least confidence, in [0, 1].
    pub threshold: f64,
    /// The least number of observations (distinct envelopes carrying the content).
    pub min_observations: u64,
}

impl Default for ElevationPolicy {
    fn default() -> Self {
        ElevationPolicy {
            threshold: DEFAULT_ELEVATION_THRESHOLD,
            min_observations: DEFAULT_MIN_OBSERVATIONS,
        }
    }
}

impl ElevationPolicy {
    /// The policy under `constitution`: its Ihsan minimum as the threshold (an elevation
    /// proposal carries the pattern's confidence as its Ihsan score, which the federation's gate
    /// chain checks against that same minimum), the default observations.
    pub fn from_constitution(constitution: &Constitution) -> Self {
        ElevationPolicy {
            threshold: constitution.ihsan_minimum(),
            ..ElevationPolicy::default()
        }
    }

    /// Whether `pattern` is eligible (elevated already or not).
    pub fn admits(&self, pattern: &Pattern) -> bool {
        pattern.confidence >= self.threshold && pattern.observations >= self.min_observations
    }

    fn observations_sql(&self) -> i64 {
        i64::try_from(self.min_observations).unwrap_or(i64::MAX)
    }
}

impl Store {
    /// Every elevated pattern (locally or by the federation), by id.
    pub fn elevated(&self) -> Result<Vec<Pattern>> {
        self.select(
            &format!("SELECT {COLUMNS} FROM patterns WHERE elevation != 'none' ORDER BY id"),
            params![],
            "listing elevated patterns",
        )
    }

    /// The patterns eligible under `policy` that the federation has not certified yet (locally
    /// elevated ones included), by id.
    pub fn elevation_candidates(&self, policy: &ElevationPolicy) -> Result<Vec<Pattern>> {
        self.candidates_not_proposed_since(policy, i64::MAX)
    }

    /// [`Store::elevation_candidates`] not proposed to a federation at or after `since_ms` (ms
    /// since the Unix epoch): the elevator's retry rule.
    pub(crate) fn candidates_not_proposed_since(
        &self,
        policy: &ElevationPolicy,
        since_ms: i64,
    ) -> Result<Vec<Pattern>> {
        self.select(
            &format!(
                "SELECT {COLUMNS} FROM patterns WHERE elevation != 'certified' \
                 AND confidence >= ?1 AND observations >= ?2 \
                 AND (proposed_ms IS NULL OR proposed_ms < ?3) ORDER BY id"
            ),
            params![policy.threshold, policy.observations_sql(), since_ms],
            "listing elevation candidates",
        )
    }

    /// Elevates, locally, every pattern eligible under `policy` that is not elevated yet, and
    /// returns their ids: what a node without a federation does. Certified patterns stay
    /// certified.
    pub fn elevate_local(&self, policy: &ElevationPolicy) -> Result<Vec<PatternId>> {
        let inner = self.lock();
        let mut stmt = inner
            .conn
            .prepare_cached(
                "UPDATE patterns SET elevation = 'local', updated_ms = ?3 \
                 WHERE elevation = 'none' AND confidence >= ?1 AND observations >= ?2 \
                 RETURNING id",
            )
            .map_err(|e| sql_error(&inner.path, "elevating patterns locally", e))?;
        let mut ids = stmt
            .query_map(
                params![policy.threshold, policy.observations_sql(), now_ms()],
                |r| r.get(0),
            )
            .and_then(|rows| rows.collect::<rusqlite::Result<Vec<PatternId>>>())
            .map_err(|e| sql_error(&inner.path, "elevating patterns locally", e))?;
        ids.sort_unstable();
        Ok(ids)
    }

    /// The patterns a query selects, read whole.
    pub(crate) fn select(
        &self,
        sql: &str,
        params: impl rusqlite::Params,
        op: &str,
    ) -> Result<Vec<Pattern>> {
        let inner = self.lock();
        let mut stmt = inner
            .conn
            .prepare_cached(sql)
            .map_err(|e| sql_error(&inner.path, op, e))?;
        let rows = stmt
            .query_map(params, pattern_from_row)
            .and_then(|rows| rows.collect::<rusqlite::Result<Vec<_>>>())
            .map_err(|e| sql_error(&inner.path, op, e))?;
        Ok(rows)
    }
}

impl Elevation {
    /// Whether the pattern is elevated at all.
    pub fn is_elevated(&self) -> bool {
        !matches!(self, Elevation::None)
    }
}
