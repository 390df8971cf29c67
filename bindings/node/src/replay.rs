//! `ReplayCache`: the ids admitted so far, until their envelopes expire.

use std::sync::Arc;

use napi::bindgen_prelude::*;
use napi::{sys, Env};
use napi_derive::napi;

use crate::convert::{date_in, now_in, u32_in};
use crate::errors::{core_err, guard, type_err, Result};

/// How many live ids a `ReplayCache` holds when no capacity is given (the core's default).
#[napi]
pub const DEFAULT_REPLAY_CAPACITY: u32 = bizra::ReplayCache::DEFAULT_CAPACITY as u32;

/// Remembers admitted envelope ids until their envelopes expire; bounded; thread-safe.
#[napi]
pub struct ReplayCache {
    pub(crate) inner: Arc<bizra::ReplayCache>,
}

/// The cache behind an argument (`options.replay`), shared, not copied.
pub(crate) fn replay_of(
    env: &Env,
    raw: sys::napi_value,
    what: &str,
) -> Result<Arc<bizra::ReplayCache>> {
    unsafe { ClassInstance::<ReplayCache>::from_napi_value(env.raw(), raw) }
        .map(|c| Arc::clone(&c.inner))
        .map_err(|_| type_err(format!("{what} must be a ReplayCache")))
}

#[napi]
impl ReplayCache {
    /// A cache of at most `capacity` live ids: at least 1 (0 throws `INVALID_INPUT`, as in every
    /// binding); absent, `DEFAULT_REPLAY_CAPACITY`.
    #[napi(constructor, ts_args_type = "capacity?: number")]
    pub fn new(env: Env, capacity: Option<Unknown>) -> Result<Self> {
        guard(|| {
            let capacity = match capacity {
                Some(c) => u32_in(&env, c.raw(), "capacity")?,
                None => None,
            };
            let cache = match capacity {
                None => bizra::ReplayCache::default(),
                Some(c) => bizra::ReplayCache::new(c as usize).map_err(core_err)?,
            };
            Ok(ReplayCache {
                inner: Arc::new(cache),
            })
        })
    }
    #[napi(getter)]
    pub fn capacity(&self) -> Result<u32> {
        guard(|| Ok(u32::try_from(self.inner.capacity()).unwrap_or(u32::MAX)))
    }
    /// Ids held now (expired ones may linger until a later `now` is seen).
    #[napi(getter)]
    pub fn size(&self) -> Result<u32> {
        guard(|| Ok(u32::try_from(self.inner.len()).unwrap_or(u32::MAX)))
    }
    /// Whether `id` was admitted and is still valid at `now` (default: the system clock).
    #[napi(ts_args_type = "id: string, now?: Date")]
    pub fn has(&self, env: Env, id: String, now: Option<Unknown>) -> Result<bool> {
        guard(|| Ok(self.inner.contains(&id, now_in(&env, now, "now")?)))
    }
    /// Records `id` valid until `expiresAt`; throws `REPLAY` (12) if held, `QUOTA` (40) if full.
    #[napi(ts_args_type = "id: string, expiresAt: Date, now?: Date")]
    pub fn admit(
        &self,
        env: Env,
        id: String,
        expires_at: Unknown,
        now: Option<Unknown>,
    ) -> Result<()> {
        guard(|| {
            let exp = date_in(&env, expires_at.raw(), "expiresAt")?
                .ok_or_else(|| type_err("expiresAt must be a Date"))?;
            self.inner
                .admit(&id, exp, now_in(&env, now, "now")?)
                .map_err(core_err)
        })
    }
    /// Drops every id whose envelope has expired at `now` (default: the system clock).
    #[napi(ts_args_type = "now?: Date")]
    pub fn purge_expired(&self, env: Env, now: Option<Unknown>) -> Result<()> {
        guard(|| {
            self.inner.purge_expired(now_in(&env, now, "now")?);
            Ok(())
        })
    }
}
