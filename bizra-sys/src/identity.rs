//! Identities: keys, node id, message signatures, PEM and key files.

use std::ffi::c_char;

use bizra_core::Identity;

use crate::*;

/// An Ed25519 node identity. Immutable once made, so safe to share between threads: one handle
/// may sign from many threads at once. Freed with `bizra_identity_free`, which drops the caller's
/// reference: a federation node started with it (`bizra_node_start`) keeps its own, and the
/// secret is wiped when the last reference goes.
pub struct bizra_identity {
    _opaque: [u8; 0],
}
handle_type!(bizra_identity => Identity, Shared);

/// A fresh identity from the operating system's CSPRNG. `*out`: a new identity, the caller's;
/// free it with `bizra_identity_free`.
#[no_mangle]
pub unsafe extern "C" fn bizra_identity_generate(out: *mut *mut bizra_identity) -> bizra_status {
    boundary("bizra_identity_generate", || {
        let out = out_checked(out)?;
        bizra_identity::put(out, Identity::generate())
    })
}

/// The identity of a 32-byte seed (`seed_len` must be 32; the seed stays the caller's). `*out`: a
/// new identity, the caller's; free it with `bizra_identity_free`.
#[no_mangle]
pub unsafe extern "C" fn bizra_identity_from_seed(
    seed: *const u8,
    seed_len: usize,
    out: *mut *mut bizra_identity,
) -> bizra_status {
    boundary("bizra_identity_from_seed", || {
        let out = out_checked(out)?;
        let seed = bytes(seed, seed_len, "seed")?;
        bizra_identity::put(out, Identity::from_seed(seed)?)
    })
}

/// Reads a PKCS#8 PEM key (plain, or encrypted under `passphrase`) or a bare 64-hex seed.
/// `passphrase` may be NULL (none). `*out`: a new identity, the caller's; free it with
/// `bizra_identity_free`.
#[no_mangle]
pub unsafe extern "C" fn bizra_identity_from_pem(
    pem: *const c_char,
    passphrase: *const c_char,
    out: *mut *mut bizra_identity,
) -> bizra_status {
    boundary("bizra_identity_from_pem", || {
        let out = out_checked(out)?;
        let pem = text(pem, "pem")?;
        let pass = opt_text(passphrase, "passphrase")?;
        bizra_identity::put(out, Identity::from_pem(pem, pass)?)
    })
}

/// Exports the key as PKCS#8 PEM; encrypted (PBES2) when `passphrase` is not NULL. `*out`: the
/// caller's string; free it with `bizra_string_free` (which wipes it).
#[no_mangle]
pub unsafe extern "C" fn bizra_identity_to_pem(
    id: *const bizra_identity,
    passphrase: *const c_char,
    out: *mut *mut c_char,
) -> bizra_status {
    boundary("bizra_identity_to_pem", || {
        let out = out_checked(out)?;
        let id = bizra_identity::arg(id, "id")?;
        let pass = opt_text(passphrase, "passphrase")?;
        let pem = id.to_pem(pass)?;
        put_string(out, pem.as_bytes())
    })
}

/// Writes the key to `path` atomically with mode 0600 (encrypted when `passphrase` is not NULL),
/// creating missing directories (mode 0700). An existing file is refused (`BIZRA_STATUS_IO`,
/// the file left as it was) unless `overwrite` is true, which replaces it (the old file stays
/// whole until the new one is on disk): a lost node key cannot be recovered. Nothing to free.
#[no_mangle]
pub unsafe extern "C" fn bizra_identity_save(
    id: *const bizra_identity,
    path: *const c_char,
    passphrase: *const c_char,
    overwrite: bool,
) -> bizra_status {
    boundary("bizra_identity_save", || {
        let id = bizra_identity::arg(id, "id")?;
        let path = text(path, "path")?;
        let pass = opt_text(passphrase, "passphrase")?;
        if overwrite {
            id.save_overwriting(path, pass)?;
        } else {
            id.save(path, pass)?;
        }
        Ok(BIZRA_STATUS_OK)
    })
}

/// Reads a key file written by `bizra_identity_save`, `openssl genpkey`, or holding a 64-hex seed.
/// `*out`: a new identity, the caller's; free it with `bizra_identity_free`.
#[no_mangle]
pub unsafe extern "C" fn bizra_identity_load(
    path: *const c_char,
    passphrase: *const c_char,
    out: *mut *mut bizra_identity,
) -> bizra_status {
    boundary("bizra_identity_load", || {
        let out = out_checked(out)?;
        let path = text(path, "path")?;
        let pass = opt_text(passphrase, "passphrase")?;
        bizra_identity::put(out, Identity::load(path, pass)?)
    })
}

/// The node id (32 lowercase hex). `*out`: the caller's string; free it with
/// `bizra_string_free`.
#[no_mangle]
pub unsafe extern "C" fn bizra_identity_node_id(
    id: *const bizra_identity,
    out: *mut *mut c_char,
) -> bizra_status {
    boundary("bizra_identity_node_id", || {
        let out = out_checked(out)?;
        put_string(out, bizra_identity::arg(id, "id")?.node_id())
    })
}

/// The display form of the node id, `node_` and its first 8 characters. `*out`: the caller's
/// string; free it with `bizra_string_free`.
#[no_mangle]
pub unsafe extern "C" fn bizra_identity_display_id(
    id: *const bizra_identity,
    out: *mut *mut c_char,
) -> bizra_status {
    boundary("bizra_identity_display_id", || {
        let out = out_checked(out)?;
        put_string(out, bizra_identity::arg(id, "id")?.display_id())
    })
}

/// The 32-byte public key. `*out`: the caller's bytes; free them with `bizra_bytes_free`.
#[no_mangle]
pub unsafe extern "C" fn bizra_identity_public_key(
    id: *const bizra_identity,
    out: *mut bizra_bytes,
) -> bizra_status {
    boundary("bizra_identity_public_key", || {
        let out = out_checked(out)?;
        put_bytes(out, bizra_identity::arg(id, "id")?.public_key().to_vec())
    })
}

/// The public key as 64 lowercase hex. `*out`: the caller's string; free it with
/// `bizra_string_free`.
#[no_mangle]
pub unsafe extern "C" fn bizra_identity_public_key_hex(
    id: *const bizra_identity,
    out: *mut *mut c_char,
) -> bizra_status {
    boundary("bizra_identity_public_key_hex", || {
        let out = out_checked(out)?;
        put_string(out, bizra_identity::arg(id, "id")?.public_key_hex())
    })
}

/// Signs a free-form message (Ed25519 over `H("bizra-msg-v1:", message)`); `message` may be NULL
/// when `len` is 0. `*out`: the caller's 64 bytes; free them with `bizra_bytes_free`.
#[no_mangle]
pub unsafe extern "C" fn bizra_identity_sign_message(
    id: *const bizra_identity,
    message: *const u8,
    len: usize,
    out: *mut bizra_bytes,
) -> bizra_status {
    boundary("bizra_identity_sign_message", || {
        let out = out_checked(out)?;
        let id = bizra_identity::arg(id, "id")?;
        let message = bytes(message, len, "message")?;
        put_bytes(out, id.sign_message(message).to_vec())
    })
}

/// Verifies a message signature (strict Ed25519): `BIZRA_STATUS_OK` when valid,
/// `BIZRA_STATUS_REJECTED` when not (a wrong length, a bad or small-order key, a bad signature).
/// Every argument stays the caller's; nothing to free.
#[no_mangle]
pub unsafe extern "C" fn bizra_verify_message(
    public_key: *const u8,
    public_key_len: usize,
    message: *const u8,
    message_len: usize,
    signature: *const u8,
    signature_len: usize,
) -> bizra_status {
    boundary("bizra_verify_message", || {
        let pk = bytes(public_key, public_key_len, "public_key")?;
        let msg = bytes(message, message_len, "message")?;
        let sig = bytes(signature, signature_len, "signature")?;
        if bizra_core::verify_message(pk, msg, sig) {
            Ok(BIZRA_STATUS_OK)
        } else {
            Err(Failure::new(
                BIZRA_STATUS_REJECTED,
                "the signature does not verify under this public key",
            ))
        }
    })
}

/// Frees an identity: drops the caller's reference, and wipes the secret unless a running
/// federation node still holds it (it is wiped when that node is freed). NULL is a no-op.
#[no_mangle]
pub unsafe extern "C" fn bizra_identity_free(id: *mut bizra_identity) {
    boundary("bizra_identity_free", || bizra_identity::free(id))
}
