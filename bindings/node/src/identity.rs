//! `Identity` (an Ed25519 node key) and `verifyMessage`.

use std::sync::Arc;

use bizra::hash::from_hex;
use napi::bindgen_prelude::*;
use napi::{Env, ValueType};
use napi_derive::napi;

use crate::convert::{string_in, type_of};
use crate::errors::{core_err, guard, type_err, Result};
use crate::options::Options;

/// An Ed25519 node identity. The secret never leaves except through `toPem`/`save`.
#[napi]
pub struct Identity {
    /// Shared: a federation node started with this identity keeps its own reference (the core's
    /// `Node::start` takes an `Arc`), so the key lives on, never copied, while the node runs.
    pub(crate) inner: Arc<bizra::Identity>,
}

/// The `Identity` behind an argument. Not a `&Identity` parameter: napi-rs registers each such
/// argument as a borrow (a global lock and map entry per call) and words its own error; this checks
/// the class the same way without one. `Identity` has no `&mut self` method, so the shared view
/// cannot alias a mutable one.
#[inline]
pub(crate) fn identity_of<'env>(
    env: &Env,
    value: Unknown,
) -> Result<ClassInstance<'env, Identity>> {
    unsafe { ClassInstance::<Identity>::from_napi_value(env.raw(), value.raw()) }
        .map_err(|_| type_err("identity must be an Identity"))
}

#[napi]
impl Identity {
    /// A fresh identity from the operating system's CSPRNG.
    #[napi(factory)]
    pub fn generate() -> Result<Identity> {
        guard(|| {
            Ok(Identity {
                inner: Arc::new(bizra::Identity::generate()),
            })
        })
    }

    /// The identity of a 32-byte seed.
    #[napi(factory)]
    pub fn from_seed(seed: Uint8Array) -> Result<Identity> {
        guard(|| {
            Ok(Identity {
                inner: Arc::new(bizra::Identity::from_seed(&seed).map_err(core_err)?),
            })
        })
    }

    /// Imports PKCS#8 PEM (plain, or encrypted with `passphrase`) or a bare 64-hex seed.
    #[napi(factory)]
    pub fn from_pem(pem: String, passphrase: Option<String>) -> Result<Identity> {
        guard(|| {
            Ok(Identity {
                inner: Arc::new(
                    bizra::Identity::from_pem(&pem, passphrase.as_deref()).map_err(core_err)?,
                ),
            })
        })
    }

    /// Reads a key file written by `save`, `openssl genpkey`, or holding a 64-hex seed.
    #[napi(factory)]
    pub fn load(path: String, passphrase: Option<String>) -> Result<Identity> {
        guard(|| {
            Ok(Identity {
                inner: Arc::new(
                    bizra::Identity::load(&path, passphrase.as_deref()).map_err(core_err)?,
                ),
            })
        })
    }

    /// The node id: lowercase hex of the public key's first 16 bytes.
    #[napi(getter)]
    pub fn node_id(&self) -> Result<String> {
        guard(|| Ok(self.inner.node_id().to_owned()))
    }

    /// `node_` and the first 8 characters of the node id.
    #[napi(getter)]
    pub fn display_id(&self) -> Result<String> {
        guard(|| Ok(self.inner.display_id()))
    }

    /// The 32-byte public key.
    #[napi(getter)]
    pub fn public_key(&self) -> Result<Buffer> {
        guard(|| Ok(Buffer::from(self.inner.public_key().to_vec())))
    }

    /// The public key as 64 lowercase hex characters.
    #[napi(getter)]
    pub fn public_key_hex(&self) -> Result<String> {
        guard(|| Ok(self.inner.public_key_hex()))
    }

    /// Signs a free-form message: Ed25519 over `H("bizra-msg-v1:", message)`.
    #[napi]
    pub fn sign(&self, message: Uint8Array) -> Result<Buffer> {
        guard(|| Ok(Buffer::from(self.inner.sign_message(&message).to_vec())))
    }

    /// PKCS#8 PEM; encrypted PKCS#8 (PBES2) with a passphrase.
    #[napi]
    pub fn to_pem(&self, passphrase: Option<String>) -> Result<String> {
        guard(|| {
            Ok(self
                .inner
                .to_pem(passphrase.as_deref())
                .map_err(core_err)?
                .to_string())
        })
    }

    /// Writes the key atomically (mode 0600), encrypted with a passphrase. An existing file is
    /// refused (`IO`; a lost node key cannot be recovered) unless `options.overwrite` is true.
    #[napi(ts_args_type = "path: string, passphrase?: string | null, options?: SaveOptions")]
    pub fn save(
        &self,
        env: Env,
        path: String,
        passphrase: Option<Unknown>,
        options: Option<Unknown>,
    ) -> Result<()> {
        guard(|| {
            let passphrase = match passphrase {
                None => None,
                Some(p) if type_of(&env, p.raw()) == ValueType::String => {
                    string_in(&env, p.raw(), "passphrase")?
                }
                Some(_) => {
                    return Err(type_err(
                        "passphrase must be a string (or null); options come third: \
                         save(path, passphrase, { overwrite })",
                    ))
                }
            };
            let overwrite = match Options::read(&env, options, &["overwrite"])? {
                Some(o) => o.boolean("overwrite")?.unwrap_or(false),
                None => false,
            };
            let saved = if overwrite {
                self.inner.save_overwriting(&path, passphrase.as_deref())
            } else {
                self.inner.save(&path, passphrase.as_deref())
            };
            saved.map_err(core_err)
        })
    }

    /// `Identity(node_xxxxxxxx)`; never the secret.
    #[napi(js_name = "toString")]
    pub fn to_js_string(&self) -> Result<String> {
        guard(|| Ok(format!("Identity({})", self.inner.display_id())))
    }
}

/// Verifies a message signature made by `Identity.sign` (strict Ed25519). Wrong lengths, a bad
/// key or a non-canonical signature give `false`.
#[napi(ts_args_type = "publicKey: Uint8Array | string, message: Uint8Array, signature: Uint8Array")]
pub fn verify_message(
    public_key: Either<Uint8Array, String>,
    message: Uint8Array,
    signature: Uint8Array,
) -> Result<bool> {
    guard(|| {
        let key: Vec<u8> = match &public_key {
            Either::A(bytes) => bytes.to_vec(),
            Either::B(hex) => match from_hex::<32>(hex) {
                Some(k) => k.to_vec(),
                None => return Ok(false),
            },
        };
        Ok(bizra::verify_message(&key, &message, &signature))
    })
}
