//! `Identity`: an Ed25519 node identity, and free-form message signatures.

use std::sync::Arc;

use super::BizraError;

/// An Ed25519 node identity (PCI-v1.md, Identity). The secret never crosses the boundary except
/// through `toPem`; it is zeroized when the object is closed or collected and no federation
/// `Node` started with it still runs (a node keeps the key it signs with).
#[derive(::uniffi::Object)]
pub struct Identity {
    /// Shared with the federation nodes started with this identity.
    pub(crate) inner: Arc<bizra_core::Identity>,
}

#[::uniffi::export]
impl Identity {
    /// A fresh identity from the operating system's CSPRNG.
    #[uniffi::constructor]
    pub fn generate() -> Self {
        Identity {
            inner: Arc::new(bizra_core::Identity::generate()),
        }
    }

    /// The identity of a 32-byte seed.
    #[uniffi::constructor]
    pub fn from_seed(seed: Vec<u8>) -> Result<Self, BizraError> {
        Ok(Identity {
            inner: Arc::new(bizra_core::Identity::from_seed(&seed)?),
        })
    }

    /// Imports PKCS#8 PEM, encrypted PKCS#8 PEM (with its passphrase) or a bare 64-hex seed.
    #[uniffi::constructor(default(passphrase = None))]
    pub fn from_pem(text: String, passphrase: Option<String>) -> Result<Self, BizraError> {
        Ok(Identity {
            inner: Arc::new(bizra_core::Identity::from_pem(
                &text,
                passphrase.as_deref(),
            )?),
        })
    }

    /// Reads a key file written by `save` (or by `openssl genpkey -algorithm ed25519`).
    #[uniffi::constructor(default(passphrase = None))]
    pub fn load(path: String, passphrase: Option<String>) -> Result<Self, BizraError> {
        Ok(Identity {
            inner: Arc::new(bizra_core::Identity::load(&path, passphrase.as_deref())?),
        })
    }

    /// The node id: lowercase hex of the first 16 bytes of the public key.
    pub fn node_id(&self) -> String {
        self.inner.node_id().to_string()
    }

    /// The display form, `node_` and the first 8 characters of the node id.
    pub fn display_id(&self) -> String {
        self.inner.display_id()
    }

    /// The 32-byte public key.
    pub fn public_key(&self) -> Vec<u8> {
        self.inner.public_key().to_vec()
    }

    /// The public key as 64 lowercase hex.
    pub fn public_key_hex(&self) -> String {
        self.inner.public_key_hex()
    }

    /// Signs a free-form message (domain `bizra-msg-v1:`); 64 bytes.
    pub fn sign_message(&self, message: Vec<u8>) -> Vec<u8> {
        self.inner.sign_message(&message).to_vec()
    }

    /// PKCS#8 PEM; with a passphrase, encrypted PKCS#8 (PBES2).
    #[uniffi::method(default(passphrase = None))]
    pub fn to_pem(&self, passphrase: Option<String>) -> Result<String, BizraError> {
        let pem = self.inner.to_pem(passphrase.as_deref())?;
        Ok(pem.as_str().to_string())
    }

    /// Writes the key atomically with mode 0600 (encrypted under a passphrase if one is given),
    /// creating missing directories. An existing file is refused (`Io`, the file left as it was)
    /// unless `overwrite` is true, which replaces it: a lost node key cannot be recovered.
    #[uniffi::method(default(passphrase = None, overwrite = false))]
    pub fn save(
        &self,
        path: String,
        passphrase: Option<String>,
        overwrite: bool,
    ) -> Result<(), BizraError> {
        let passphrase = passphrase.as_deref();
        if overwrite {
            self.inner.save_overwriting(&path, passphrase)?;
        } else {
            self.inner.save(&path, passphrase)?;
        }
        Ok(())
    }
}

/// Verifies a free-form message signature (strict Ed25519, domain `bizra-msg-v1:`). False for
/// any malformed key or signature.
#[::uniffi::export]
pub fn verify_message(public_key: Vec<u8>, message: Vec<u8>, signature: Vec<u8>) -> bool {
    bizra_core::verify_message(&public_key, &message, &signature)
}
