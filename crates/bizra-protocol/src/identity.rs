//! Node identities: Ed25519 keys, node ids, message signatures and PKCS#8 key files.
//!
//! A node is known by its public key; its *node id* is the lowercase hex of the key's first 16
//! bytes. Signatures always cover `H(tag, bytes)` for a domain tag (see [`crate::hash`]), and no
//! public function signs a caller-supplied digest, so an [`Identity`] is never a signing oracle.

use std::fmt;
use std::fs;
use std::io::Write as _;
use std::path::Path;

use ed25519_dalek::pkcs8::{DecodePrivateKey as _, EncodePrivateKey as _, KeypairBytes};
use ed25519_dalek::{Signature, Signer as _, SigningKey, VerifyingKey};
use pkcs8::der::Decode as _;
use pkcs8::{pkcs5, EncryptedPrivateKeyInfo, LineEnding, PrivateKeyInfo};
use rand_core::{OsRng, RngCore as _};
use zeroize::Zeroizing;

use crate::hash::{domain_hash, from_hex, to_hex, Domain};
use crate::{Error, Result};

/// Length of an Ed25519 seed (the secret key).
pub const SEED_LEN: usize = 32;
/// Length of an Ed25519 public key.
pub const PUBLIC_KEY_LEN: usize = 32;
/// Length of an Ed25519 signature.
pub const SIGNATURE_LEN: usize = 64;

/// PBKDF2-HMAC-SHA256 rounds for encrypted key files (OWASP's 2023 figure for this PRF).
const PBKDF2_ROUNDS: u32 = 600_000;
/// Files asking for more rounds than this are refused rather than tying up the CPU.
const PBKDF2_MAX_ROUNDS: u32 = 10_000_000;

/// An Ed25519 node identity.
///
/// `Send + Sync`; the secret is zeroized on drop and never appears in `Debug` or in errors.
pub struct Identity {
    signing: SigningKey,
    public: [u8; PUBLIC_KEY_LEN],
    node_id: String,
}

impl Identity {
    /// A fresh identity from the operating system's CSPRNG.
    pub fn generate() -> Self {
        let mut seed = Zeroizing::new([0u8; SEED_LEN]);
        OsRng.fill_bytes(&mut seed[..]);
        Self::from_seed_array(&seed)
    }

    /// The identity of a 32-byte seed.
    pub fn from_seed(seed: &[u8]) -> Result<Self> {
        let seed: Zeroizing<[u8; SEED_LEN]> = Zeroizing::new(seed.try_into().map_err(|_| {
            Error::InvalidInput(format!(
                "a seed is {SEED_LEN} bytes, got {} bytes",
                seed.len()
            ))
        })?);
        Ok(Self::from_seed_array(&seed))
    }

    fn from_seed_array(seed: &[u8; SEED_LEN]) -> Self {
        let signing = SigningKey::from_bytes(seed);
        let public = signing.verifying_key().to_bytes();
        Self {
            signing,
            public,
            node_id: node_id_of(&public),
        }
    }

    /// The 32-byte public key.
    pub fn public_key(&self) -> &[u8; PUBLIC_KEY_LEN] {
        &self.public
    }

    /// The public key as 64 lowercase hex characters.
    pub fn public_key_hex(&self) -> String {
        to_hex(&self.public)
    }

    /// The node id: lowercase hex of the public key's first 16 bytes.
    pub fn node_id(&self) -> &str {
        &self.node_id
    }

    /// The display form of the node id: `node_` and its first 8 characters.
    pub fn display_id(&self) -> String {
        display_id(&self.node_id)
    }

    /// The public key as a decompressed curve point, as the signing key already holds it.
    pub(crate) fn verifying_key(&self) -> VerifyingKey {
        self.signing.verifying_key()
    }

    /// Signs a free-form message: Ed25519 over `H("bizra-msg-v1:", message)`.
    pub fn sign_message(&self, message: &[u8]) -> [u8; SIGNATURE_LEN] {
        self.sign_digest(&domain_hash(Domain::Message, message))
    }

    /// Signs `message` under a protocol's domain tag: Ed25519 over `H(tag, message)`. For wire
    /// formats built on this crate (a federation's datagrams, consensus votes); a domain's bytes
    /// can never verify under another domain, and no caller-supplied digest is ever signed.
    pub fn sign_in(&self, domain: Domain, message: &[u8]) -> [u8; SIGNATURE_LEN] {
        self.sign_digest(&domain_hash(domain, message))
    }

    /// Signs a digest the crate computed itself under one of its domain tags.
    pub(crate) fn sign_digest(&self, digest: &[u8; 32]) -> [u8; SIGNATURE_LEN] {
        self.signing.sign(digest).to_bytes()
    }

    /// Exports the key as PKCS#8 PEM (`BEGIN PRIVATE KEY`, the v1 form OpenSSL writes), or, with a
    /// passphrase, as encrypted PKCS#8 (`BEGIN ENCRYPTED PRIVATE KEY`: PBES2 with
    /// PBKDF2-HMAC-SHA256 and AES-256-CBC).
    pub fn to_pem(&self, passphrase: Option<&str>) -> Result<Zeroizing<String>> {
        let der = KeypairBytes {
            secret_key: self.signing.to_bytes(),
            public_key: None,
        }
        .to_pkcs8_der()
        .map_err(|e| Error::Key(format!("PKCS#8 encoding failed: {e}")))?;
        let Some(passphrase) = passphrase else {
            return der
                .to_pem("PRIVATE KEY", LineEnding::LF)
                .map_err(|e| Error::Key(format!("PEM encoding failed: {e}")));
        };
        if passphrase.is_empty() {
            return Err(Error::InvalidInput("the passphrase is empty".into()));
        }
        let mut salt = [0u8; 16];
        let mut iv = [0u8; 16];
        OsRng.fill_bytes(&mut salt);
        OsRng.fill_bytes(&mut iv);
        let params = pkcs5::pbes2::Parameters::pbkdf2_sha256_aes256cbc(PBKDF2_ROUNDS, &salt, &iv)
            .map_err(|e| Error::Key(format!("PBES2 parameters: {e}")))?;
        let info = PrivateKeyInfo::try_from(der.as_bytes())
            .map_err(|e| Error::Key(format!("PKCS#8 encoding failed: {e}")))?;
        info.encrypt_with_params(params, passphrase)
            .map_err(|e| Error::Key(format!("encryption failed: {e}")))?
            .to_pem("ENCRYPTED PRIVATE KEY", LineEnding::LF)
            .map_err(|e| Error::Key(format!("PEM encoding failed: {e}")))
    }

    /// Imports a key: PKCS#8 PEM (v1 or v2, as `openssl genpkey -algorithm ed25519` writes),
    /// encrypted PKCS#8 PEM with its passphrase, or a bare 64-hex seed.
    pub fn from_pem(text: &str, passphrase: Option<&str>) -> Result<Self> {
        let trimmed = text.trim();
        if trimmed.len() == SEED_LEN * 2 && trimmed.bytes().all(|b| b.is_ascii_hexdigit()) {
            let lower = Zeroizing::new(trimmed.to_ascii_lowercase());
            let seed = Zeroizing::new(
                from_hex::<SEED_LEN>(&lower)
                    .ok_or_else(|| Error::Key("invalid hex seed".into()))?,
            );
            return Ok(Self::from_seed_array(&seed));
        }
        let (label, doc) = pkcs8::SecretDocument::from_pem(trimmed).map_err(|e| {
            Error::Key(format!(
                "not a PEM key or 64-hex seed (truncated or malformed: {e})"
            ))
        })?;
        let plain = match (label, passphrase) {
            ("PRIVATE KEY", None) => doc,
            ("PRIVATE KEY", Some(_)) => {
                return Err(Error::Key(
                    "the key is not encrypted, but a passphrase was given".into(),
                ))
            }
            ("ENCRYPTED PRIVATE KEY", None) => {
                return Err(Error::Key(
                    "the key is encrypted; a passphrase is required".into(),
                ))
            }
            ("ENCRYPTED PRIVATE KEY", Some(pass)) => decrypt(doc.as_bytes(), pass)?,
            (other, _) => {
                return Err(Error::Key(format!(
                    "unexpected PEM label {other:?}; expected PRIVATE KEY or ENCRYPTED PRIVATE KEY"
                )))
            }
        };
        let pair = KeypairBytes::from_pkcs8_der(plain.as_bytes())
            .map_err(|e| Error::Key(format!("not an Ed25519 PKCS#8 key: {e}")))?;
        let id = Self::from_seed_array(&Zeroizing::new(pair.secret_key));
        if let Some(public) = pair.public_key {
            if public.to_bytes() != id.public {
                return Err(Error::Key(
                    "the public key in the file does not belong to its private key".into(),
                ));
            }
        }
        Ok(id)
    }

    /// Writes the key to a new file at `path` as PEM (encrypted with a passphrase), atomically: a
    /// temporary file in the same directory with mode 0600, fsync, then linked into place, fsync of
    /// the directory. The directory is created (mode 0700) where missing. **An existing file is
    /// refused** ([`Error::Io`], `AlreadyExists`), atomically even against a concurrent writer: a
    /// lost node key cannot be recovered. [`Identity::save_overwriting`] replaces one.
    pub fn save(&self, path: impl AsRef<Path>, passphrase: Option<&str>) -> Result<()> {
        let pem = self.to_pem(passphrase)?;
        write_atomically(path.as_ref(), pem.as_bytes(), false)
    }

    /// [`Identity::save`], replacing an existing file, which stays whole until the new one is
    /// complete on disk.
    pub fn save_overwriting(&self, path: impl AsRef<Path>, passphrase: Option<&str>) -> Result<()> {
        let pem = self.to_pem(passphrase)?;
        write_atomically(path.as_ref(), pem.as_bytes(), true)
    }

    /// [`Identity::save`] for a key that replaces the node's current one (a rotation): an
    /// existing key file is kept first, hard-linked beside it as `<name>.<unix-millis>.old`
    /// (a free name: an older kept key is never overwritten), then the new key replaces it
    /// atomically, as [`Identity::save_overwriting`] does. Returns where the old key was kept, or
    /// `None` when there was no key file. Nothing changes when the new key cannot be encoded, and
    /// a failed write leaves the old file in place (its kept copy is removed again).
    pub fn save_rotating(
        &self,
        path: impl AsRef<Path>,
        passphrase: Option<&str>,
    ) -> Result<Option<std::path::PathBuf>> {
        let path = path.as_ref();
        let pem = self.to_pem(passphrase)?;
        if fs::symlink_metadata(path).is_err() {
            write_atomically(path, pem.as_bytes(), false)?;
            return Ok(None);
        }
        let kept = keep_old(path)?;
        if let Err(e) = write_atomically(path, pem.as_bytes(), true) {
            let _ = fs::remove_file(&kept);
            return Err(e);
        }
        Ok(Some(kept))
    }

    /// Reads a key file written by [`Identity::save`], `openssl genpkey`, or holding a 64-hex seed.
    pub fn load(path: impl AsRef<Path>, passphrase: Option<&str>) -> Result<Self> {
        let path = path.as_ref();
        let bytes = Zeroizing::new(fs::read(path).map_err(|e| Error::io(path, e))?);
        let text = std::str::from_utf8(&bytes)
            .map_err(|_| Error::Key(format!("{}: not a text key file", path.display())))?;
        Self::from_pem(text, passphrase).map_err(|e| match e {
            Error::Key(m) => Error::Key(format!("{}: {m}", path.display())),
            other => other,
        })
    }
}

fn decrypt(der: &[u8], passphrase: &str) -> Result<pkcs8::SecretDocument> {
    let info = EncryptedPrivateKeyInfo::from_der(der)
        .map_err(|e| Error::Key(format!("malformed encrypted key: {e}")))?;
    if let pkcs5::EncryptionScheme::Pbes2(p) = &info.encryption_algorithm {
        if let pkcs5::pbes2::Kdf::Pbkdf2(k) = &p.kdf {
            if k.iteration_count > PBKDF2_MAX_ROUNDS {
                return Err(Error::Key(format!(
                    "the key file asks for {} PBKDF2 rounds, more than the {PBKDF2_MAX_ROUNDS} allowed",
                    k.iteration_count
                )));
            }
        }
    }
    info.decrypt(passphrase)
        .map_err(|_| Error::Key("wrong passphrase, or the encrypted key is corrupt".into()))
}

/// Hard-links `path` to a free `<name>.<unix-millis>[-n].old` beside it and returns that name.
fn keep_old(path: &Path) -> Result<std::path::PathBuf> {
    let name = path
        .file_name()
        .ok_or_else(|| Error::InvalidInput(format!("{} is not a file path", path.display())))?
        .to_string_lossy()
        .into_owned();
    let millis = crate::pci::Timestamp::now().unix_millis();
    for n in 0..1000u32 {
        let old = if n == 0 {
            path.with_file_name(format!("{name}.{millis}.old"))
        } else {
            path.with_file_name(format!("{name}.{millis}-{n}.old"))
        };
        match fs::hard_link(path, &old) {
            Ok(()) => return Ok(old),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(Error::io(path, e)),
        }
    }
    Err(Error::io(
        path,
        std::io::Error::new(
            std::io::ErrorKind::AlreadyExists,
            "no free name to keep the old key under",
        ),
    ))
}

/// Writes `bytes` to `path` through a temporary file: renamed over an existing file when
/// `replace`, else hard-linked into place, which fails if `path` exists (no check-then-write race).
fn write_atomically(path: &Path, bytes: &[u8], replace: bool) -> Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    if !dir.exists() {
        let mut b = fs::DirBuilder::new();
        b.recursive(true);
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut b, 0o700);
        b.create(dir).map_err(|e| Error::io(dir, e))?;
    }
    let name = path
        .file_name()
        .ok_or_else(|| Error::InvalidInput(format!("{} is not a file path", path.display())))?;
    let mut suffix = [0u8; 6];
    OsRng.fill_bytes(&mut suffix);
    let tmp = dir.join(format!(
        ".{}.tmp-{}",
        name.to_string_lossy(),
        to_hex(&suffix)
    ));
    let mut opts = fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    // Failures name the key file the caller asked for, not the temporary one beside it.
    let result = (|| {
        let mut f = opts.open(&tmp).map_err(|e| Error::io(path, e))?;
        f.write_all(bytes).map_err(|e| Error::io(path, e))?;
        f.sync_all().map_err(|e| Error::io(path, e))?;
        if replace {
            fs::rename(&tmp, path).map_err(|e| Error::io(path, e))?;
        } else {
            fs::hard_link(&tmp, path).map_err(|e| match e.kind() {
                std::io::ErrorKind::AlreadyExists => Error::io(
                    path,
                    std::io::Error::new(
                        std::io::ErrorKind::AlreadyExists,
                        "a key file already exists there (a lost key cannot be recovered): \
                         remove it first, or save again allowing overwrite",
                    ),
                ),
                _ => Error::io(path, e),
            })?;
            // The key is in place; the temporary name goes.
            let _ = fs::remove_file(&tmp);
        }
        #[cfg(unix)]
        if let Ok(d) = fs::File::open(dir) {
            // Makes the rename itself durable; a failure here does not undo the write.
            let _ = d.sync_all();
        }
        Ok(())
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

impl fmt::Debug for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Identity")
            .field("node_id", &self.node_id)
            .finish_non_exhaustive()
    }
}

/// Whether key text is encrypted PKCS#8 PEM (`BEGIN ENCRYPTED PRIVATE KEY`), whose import
/// ([`Identity::from_pem`], [`Identity::load`]) needs a passphrase; false for a plain PEM key, a
/// hex seed, and text that is not PEM at all.
pub fn is_encrypted_pem(text: &str) -> bool {
    pkcs8::der::pem::decode_label(text.trim().as_bytes()) == Ok("ENCRYPTED PRIVATE KEY")
}

/// The node id of a public key: lowercase hex of its first 16 bytes.
pub fn node_id_of(public_key: &[u8; PUBLIC_KEY_LEN]) -> String {
    to_hex(&public_key[..16])
}

/// The display form of a node id: `node_` and its first 8 characters.
pub fn display_id(node_id: &str) -> String {
    format!("node_{}", node_id.get(..8).unwrap_or(node_id))
}

/// Verifies a message signature made by [`Identity::sign_message`] (strict Ed25519).
///
/// Wrong lengths, an invalid or small-order key and a non-canonical signature all give `false`.
pub fn verify_message(public_key: &[u8], message: &[u8], signature: &[u8]) -> bool {
    verify_digest(
        public_key,
        &domain_hash(Domain::Message, message),
        signature,
    )
}

/// A peer's public key, decompressed and checked once, as a verifier that hears from the same
/// peers again and again holds it (decompression is a large part of a verification).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PeerKey {
    bytes: [u8; PUBLIC_KEY_LEN],
    key: VerifyingKey,
}

impl PeerKey {
    /// The key, or `None` for bytes that are not a point of the curve.
    pub fn from_bytes(bytes: &[u8; PUBLIC_KEY_LEN]) -> Option<Self> {
        VerifyingKey::from_bytes(bytes)
            .ok()
            .map(|key| PeerKey { bytes: *bytes, key })
    }

    /// The key's 32 bytes.
    pub fn as_bytes(&self) -> &[u8; PUBLIC_KEY_LEN] {
        &self.bytes
    }

    /// Whether `signature` is this key's over `message` under `domain` (made by
    /// [`Identity::sign_in`]): strict Ed25519, so small-order keys and non-canonical signatures
    /// are refused.
    pub fn verify(&self, domain: Domain, message: &[u8], signature: &[u8; SIGNATURE_LEN]) -> bool {
        verify_digest_with(&self.key, &domain_hash(domain, message), signature)
    }
}

/// Strict Ed25519 verification of a 32-byte digest.
fn verify_digest(public_key: &[u8], digest: &[u8; 32], signature: &[u8]) -> bool {
    let (Ok(pk), Ok(sig)) = (
        <[u8; PUBLIC_KEY_LEN]>::try_from(public_key),
        <[u8; SIGNATURE_LEN]>::try_from(signature),
    ) else {
        return false;
    };
    VerifyingKey::from_bytes(&pk).is_ok_and(|key| verify_digest_with(&key, digest, &sig))
}

/// Strict Ed25519 verification of a 32-byte digest under an already decompressed key: refuses
/// small-order keys and R, and non-canonical S.
pub(crate) fn verify_digest_with(
    key: &VerifyingKey,
    digest: &[u8; 32],
    signature: &[u8; SIGNATURE_LEN],
) -> bool {
    key.verify_strict(digest, &Signature::from_bytes(signature))
        .is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_shows_only_the_node_id() {
        let id = Identity::from_seed(&[7u8; 32]).unwrap();
        let d = format!("{id:?}");
        assert!(d.contains(id.node_id()));
        assert!(!d.contains(&to_hex(&[7u8; 32])));
        assert!(!d.contains("signing"));
    }

    #[test]
    fn encrypted_pem_is_recognised() {
        let id = Identity::from_seed(&[3u8; 32]).unwrap();
        assert!(is_encrypted_pem(&id.to_pem(Some("pw")).unwrap()));
        assert!(!is_encrypted_pem(&id.to_pem(None).unwrap()));
        assert!(!is_encrypted_pem(&to_hex(&[3u8; 32])));
        assert!(!is_encrypted_pem(
            "-----BEGIN ENCRYPTED PRIVATE KEY-----\nnot base64"
        ));
        assert!(!is_encrypted_pem(""));
    }

    #[test]
    fn rotation_keeps_the_old_key() {
        let dir = std::env::temp_dir().join(format!(
            "bizra-rotate-{}-{}",
            std::process::id(),
            to_hex(&Identity::generate().public_key()[..4])
        ));
        let path = dir.join("node.key");
        let first = Identity::from_seed(&[4u8; 32]).unwrap();
        assert_eq!(first.save_rotating(&path, None).unwrap(), None);
        let second = Identity::from_seed(&[5u8; 32]).unwrap();
        let kept = second.save_rotating(&path, None).unwrap().unwrap();
        let third = Identity::from_seed(&[6u8; 32]).unwrap();
        let kept2 = third.save_rotating(&path, None).unwrap().unwrap();
        assert_ne!(kept, kept2, "an older kept key is never overwritten");
        let load = |p: &Path| Identity::load(p, None).unwrap().node_id().to_owned();
        assert_eq!(load(&path), third.node_id());
        assert_eq!(load(&kept), first.node_id());
        assert_eq!(load(&kept2), second.node_id());
        let name = kept.file_name().unwrap().to_string_lossy().into_owned();
        assert!(
            name.starts_with("node.key.") && name.ends_with(".old"),
            "{name}"
        );
        // A key that cannot be encoded changes nothing.
        assert!(third.save_rotating(&path, Some("")).is_err());
        assert_eq!(fs::read_dir(&dir).unwrap().count(), 3);
        let _ = fs::remove_dir_all(dir);
    }

    #[test]
    fn seed_length_is_checked() {
        let e = Identity::from_seed(&[0u8; 31]).unwrap_err();
        assert!(e.to_string().contains("32 bytes, got 31"), "{e}");
    }

    #[test]
    fn message_signatures_are_domain_separated() {
        let id = Identity::from_seed(&[1u8; 32]).unwrap();
        let sig = id.sign_message(b"hello");
        assert!(verify_message(id.public_key(), b"hello", &sig));
        assert!(!verify_message(id.public_key(), b"hellp", &sig));
        // The same bytes signed without the tag do not verify as a message.
        let raw = id.signing.sign(b"hello").to_bytes();
        assert!(!verify_message(id.public_key(), b"hello", &raw));
        assert!(!verify_message(&id.public_key()[..31], b"hello", &sig));
        assert!(!verify_message(id.public_key(), b"hello", &sig[..63]));
    }

    #[test]
    fn domain_signatures_verify_only_in_their_domain() {
        let id = Identity::from_seed(&[2u8; 32]).unwrap();
        let peer = PeerKey::from_bytes(id.public_key()).unwrap();
        let sig = id.sign_in(Domain::Gossip, b"datagram");
        assert!(peer.verify(Domain::Gossip, b"datagram", &sig));
        assert!(!peer.verify(Domain::Message, b"datagram", &sig));
        assert!(!peer.verify(Domain::Gossip, b"datagrad", &sig));
        assert_eq!(id.sign_in(Domain::Message, b"m"), id.sign_message(b"m"));
        // Not a curve point: no key.
        let mut not_a_point = [0u8; 32];
        not_a_point[0] = 2;
        not_a_point[31] = 0x80;
        assert!((0..=255u8).any(|b| {
            not_a_point[1] = b;
            PeerKey::from_bytes(&not_a_point).is_none()
        }));
    }
}
