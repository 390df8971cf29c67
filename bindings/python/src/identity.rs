//! `bizra.Identity` and `bizra.verify_message`.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use pyo3::prelude::*;
use pyo3::types::PyBytes;

use crate::convert::bytes_arg;
use crate::{guard, to_py};

/// An Ed25519 node identity. The secret never leaves it except through `to_pem`/`save`;
/// `repr()` shows the node id only. Safe to share between threads.
#[pyclass(frozen, module = "bizra", name = "Identity")]
pub(crate) struct PyIdentity {
    /// Shared, not copied: a federation node keeps the identity it signs its datagrams with
    /// for as long as it runs (`bizra::Node::start` takes an `Arc`), and the core's identity has
    /// no way out for its secret but PEM.
    pub(crate) inner: Arc<bizra::Identity>,
}

#[pymethods]
impl PyIdentity {
    /// A fresh identity from the operating system's CSPRNG.
    #[staticmethod]
    fn generate() -> PyResult<Self> {
        guard(|| {
            Ok(Self {
                inner: Arc::new(bizra::Identity::generate()),
            })
        })
    }

    /// The identity of a 32-byte seed.
    #[staticmethod]
    fn from_seed(seed: &Bound<'_, PyAny>) -> PyResult<Self> {
        guard(|| {
            let seed = zeroizing(bytes_arg(seed, "seed")?);
            let inner = bizra::Identity::from_seed(&seed).map_err(to_py)?;
            Ok(Self {
                inner: Arc::new(inner),
            })
        })
    }

    /// Imports PKCS#8 PEM (plain, or encrypted with `passphrase`) or a bare 64-hex seed.
    #[staticmethod]
    #[pyo3(signature = (pem, passphrase=None))]
    fn from_pem(py: Python<'_>, pem: &str, passphrase: Option<&str>) -> PyResult<Self> {
        guard(|| {
            let inner = py
                .detach(|| bizra::Identity::from_pem(pem, passphrase))
                .map_err(to_py)?;
            Ok(Self {
                inner: Arc::new(inner),
            })
        })
    }

    /// Reads a key file (PEM, encrypted PEM with `passphrase`, or a 64-hex seed).
    #[staticmethod]
    #[pyo3(signature = (path, passphrase=None))]
    fn load(py: Python<'_>, path: PathBuf, passphrase: Option<&str>) -> PyResult<Self> {
        guard(|| {
            let inner = py
                .detach(|| bizra::Identity::load(&path, passphrase))
                .map_err(to_py)?;
            Ok(Self {
                inner: Arc::new(inner),
            })
        })
    }

    /// The node id: lowercase hex of the public key's first 16 bytes (32 characters).
    #[getter]
    fn node_id(&self) -> &str {
        self.inner.node_id()
    }

    /// `node_` and the first 8 characters of the node id.
    #[getter]
    fn display_id(&self) -> String {
        self.inner.display_id()
    }

    /// The 32-byte public key.
    #[getter]
    fn public_key<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, self.inner.public_key())
    }

    /// The public key as 64 lowercase hex characters.
    #[getter]
    fn public_key_hex(&self) -> String {
        self.inner.public_key_hex()
    }

    /// Signs a free-form message (Ed25519 over `H("bizra-msg-v1:", message)`): 64 bytes.
    fn sign<'py>(
        &self,
        py: Python<'py>,
        message: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyBytes>> {
        guard(|| {
            let message = bytes_arg(message, "message")?;
            let inner = &self.inner;
            let sig = py.detach(|| inner.sign_message(&message));
            Ok(PyBytes::new(py, &sig))
        })
    }

    /// The key as PKCS#8 PEM; with a passphrase, encrypted PKCS#8 (PBKDF2, 600 000 rounds).
    #[pyo3(signature = (passphrase=None))]
    fn to_pem(&self, py: Python<'_>, passphrase: Option<&str>) -> PyResult<String> {
        guard(|| {
            let inner = &self.inner;
            let pem = py.detach(|| inner.to_pem(passphrase)).map_err(to_py)?;
            Ok(pem.as_str().to_owned())
        })
    }

    /// Writes the key file atomically with mode 0600 (encrypted with a passphrase). An existing
    /// file is refused with `AlreadyExistsError` (a `FileExistsError` and a `BizraError`), since a
    /// lost node key cannot be recovered, unless `overwrite=True`, which replaces it (the old file
    /// stays whole until the new one is on disk).
    #[pyo3(signature = (path, passphrase=None, *, overwrite=false))]
    fn save(
        &self,
        py: Python<'_>,
        path: PathBuf,
        passphrase: Option<&str>,
        overwrite: bool,
    ) -> PyResult<()> {
        guard(|| {
            let inner = &self.inner;
            py.detach(|| {
                if overwrite {
                    inner.save_overwriting(&path, passphrase)
                } else {
                    inner.save(&path, passphrase)
                }
            })
            .map_err(|e| to_py(in_python_terms(e, &path)))
        })
    }

    fn __repr__(&self) -> String {
        format!("Identity(node_id={:?})", self.inner.node_id())
    }

    fn __eq__(&self, other: &Bound<'_, PyAny>) -> bool {
        other
            .cast::<PyIdentity>()
            .is_ok_and(|o| o.get().inner.public_key() == self.inner.public_key())
    }

    fn __hash__(&self) -> u64 {
        let pk = self.inner.public_key();
        let mut h = [0u8; 8];
        h.copy_from_slice(&pk[..8]);
        u64::from_le_bytes(h)
    }
}

/// The core's refusal of an existing key file says how to overwrite it in Rust's terms
/// (`save_overwriting`); here it names the argument instead. Other errors pass unchanged.
fn in_python_terms(e: bizra::Error, key_file: &Path) -> bizra::Error {
    match e {
        bizra::Error::Io { path, source }
            if path == key_file && source.kind() == io::ErrorKind::AlreadyExists =>
        {
            bizra::Error::io(
                path,
                io::Error::new(
                    io::ErrorKind::AlreadyExists,
                    "a key file already exists there (a lost key cannot be recovered); \
                     remove it first or pass overwrite=True",
                ),
            )
        }
        other => other,
    }
}

/// A buffer that is wiped when dropped (seeds pass through one).
fn zeroizing(v: Vec<u8>) -> Wiped {
    Wiped(v)
}

struct Wiped(Vec<u8>);

impl std::ops::Deref for Wiped {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        &self.0
    }
}

impl Drop for Wiped {
    fn drop(&mut self) {
        self.0.fill(0);
        // Keeps the stores observable, so the wipe is not optimised away.
        std::hint::black_box(&mut self.0);
    }
}

/// Verifies a message signature made by `Identity.sign` (strict Ed25519). Wrong lengths, bad
/// keys and invalid signatures all give `False`.
#[pyfunction]
fn verify_message(
    py: Python<'_>,
    public_key: &Bound<'_, PyAny>,
    message: &Bound<'_, PyAny>,
    signature: &Bound<'_, PyAny>,
) -> PyResult<bool> {
    guard(|| {
        let pk = bytes_arg(public_key, "public_key")?;
        let msg = bytes_arg(message, "message")?;
        let sig = bytes_arg(signature, "signature")?;
        Ok(py.detach(|| bizra::verify_message(&pk, &msg, &sig)))
    })
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyIdentity>()?;
    m.add_function(wrap_pyfunction!(verify_message, m)?)?;
    Ok(())
}
