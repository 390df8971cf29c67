//! Identity lifecycle: generate, sign, export, import, save, load — and every way it can fail.

use std::process::Command;

use bizra::{verify_message, Error, Identity};

fn key_err(r: Result<Identity, Error>) -> String {
    match r {
        Err(Error::Key(m)) => m,
        Err(other) => panic!("expected a key error, got {other}"),
        Ok(_) => panic!("expected a key error, got an identity"),
    }
}

#[test]
fn generate_sign_verify() {
    let a = Identity::generate();
    let b = Identity::generate();
    assert_ne!(a.public_key(), b.public_key());
    assert_eq!(a.node_id().len(), 32);
    assert!(a.display_id().starts_with("node_") && a.display_id().len() == 13);
    let sig = a.sign_message(b"ship it");
    assert!(verify_message(a.public_key(), b"ship it", &sig));
    assert!(!verify_message(b.public_key(), b"ship it", &sig));
}

#[test]
fn pem_round_trips_plain_and_encrypted() {
    let id = Identity::generate();
    let plain = id.to_pem(None).unwrap();
    assert!(plain.starts_with("-----BEGIN PRIVATE KEY-----\n"));
    assert_eq!(
        Identity::from_pem(&plain, None).unwrap().public_key(),
        id.public_key()
    );

    let enc = id.to_pem(Some("correct horse")).unwrap();
    assert!(enc.starts_with("-----BEGIN ENCRYPTED PRIVATE KEY-----\n"));
    let back = Identity::from_pem(&enc, Some("correct horse")).unwrap();
    assert_eq!(back.public_key(), id.public_key());

    assert!(key_err(Identity::from_pem(&enc, Some("wrong"))).contains("wrong passphrase"));
    assert!(key_err(Identity::from_pem(&enc, None)).contains("passphrase is required"));
    assert!(key_err(Identity::from_pem(&plain, Some("x"))).contains("not encrypted"));
    assert!(matches!(id.to_pem(Some("")), Err(Error::InvalidInput(_))));
}

#[test]
fn malformed_keys_are_clear_errors() {
    let id = Identity::generate();
    let plain = id.to_pem(None).unwrap();
    let truncated = &plain[..plain.len() / 2];
    assert!(key_err(Identity::from_pem(truncated, None)).contains("truncated or malformed"));
    assert!(key_err(Identity::from_pem("", None)).contains("not a PEM key"));
    assert!(key_err(Identity::from_pem(&"z".repeat(64), None)).contains("not a PEM key"));
    let rsa_label = plain.replace("PRIVATE KEY", "RSA PRIVATE KEY");
    assert!(key_err(Identity::from_pem(&rsa_label, None)).contains("unexpected PEM label"));
    // An uppercase hex seed imports too.
    let upper = "000102030405060708090A0B0C0D0E0F101112131415161718191A1B1C1D1E1F";
    assert_eq!(
        Identity::from_pem(upper, None).unwrap().node_id(),
        "03a107bff3ce10be1d70dd18e74bc099"
    );
}

#[test]
fn errors_never_contain_the_secret() {
    let seed_hex = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
    let id = Identity::from_pem(seed_hex, None).unwrap();
    let enc = id.to_pem(Some("pw")).unwrap();
    for e in [
        Identity::from_pem(&enc, Some("nope")).unwrap_err(),
        Identity::from_pem(&enc[..enc.len() - 40], Some("pw")).unwrap_err(),
    ] {
        let text = format!("{e} {e:?}");
        assert!(!text.contains(seed_hex), "{text}");
    }
    assert!(!format!("{id:?}").contains(seed_hex));
}

#[test]
fn save_and_load_atomically_with_mode_0600() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("keys/node.pem");
    let id = Identity::generate();
    id.save(&path, None).unwrap();
    assert_eq!(
        Identity::load(&path, None).unwrap().public_key(),
        id.public_key()
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let dmode = std::fs::metadata(path.parent().unwrap())
            .unwrap()
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(dmode, 0o700);
    }
    // Saving over an existing key file is refused, and the file is untouched.
    let other = Identity::generate();
    let e = other.save(&path, Some("pw")).unwrap_err();
    assert_eq!(e.kind(), bizra::ErrorKind::Io);
    assert!(e.to_string().contains("already exists"), "{e}");
    assert_eq!(
        Identity::load(&path, None).unwrap().public_key(),
        id.public_key()
    );
    // Overwriting replaces the key whole and leaves no temporary file behind.
    other.save_overwriting(&path, Some("pw")).unwrap();
    assert_eq!(
        Identity::load(&path, Some("pw")).unwrap().public_key(),
        other.public_key()
    );
    let names: Vec<_> = std::fs::read_dir(path.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(names, vec!["node.pem".to_string()]);
    // A wrong passphrase names the file and leaves it intact.
    let e = Identity::load(&path, Some("bad")).unwrap_err().to_string();
    assert!(
        e.contains("node.pem") && e.contains("wrong passphrase"),
        "{e}"
    );
    assert_eq!(
        Identity::load(&path, Some("pw")).unwrap().public_key(),
        other.public_key()
    );
}

#[test]
fn truncated_and_missing_files_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("node.pem");
    Identity::generate().save(&path, None).unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, &text[..text.len() - 30]).unwrap();
    let e = Identity::load(&path, None).unwrap_err().to_string();
    assert!(e.contains("truncated or malformed"), "{e}");
    let missing = dir.path().join("absent.pem");
    match Identity::load(&missing, None) {
        Err(Error::Io { path, .. }) => assert_eq!(path, missing),
        other => panic!("{other:?}"),
    }
}

#[cfg(unix)]
#[test]
fn a_directory_without_permission_is_a_clear_error() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let locked = dir.path().join("locked");
    std::fs::create_dir(&locked).unwrap();
    std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o500)).unwrap();
    let target = locked.join("node.pem");
    let r = Identity::generate().save(&target, None);
    // root ignores directory permissions; there the write succeeds, and a path under a regular
    // file stands in for an unwritable directory.
    let (r, expect_path) = if r.is_ok() {
        let file = dir.path().join("plain-file");
        std::fs::write(&file, b"x").unwrap();
        (Identity::generate().save(file.join("node.pem"), None), file)
    } else {
        (r, locked.clone())
    };
    match r {
        Err(Error::Io { path, source }) => {
            assert!(path.starts_with(&expect_path), "{path:?}");
            assert!(!source.to_string().is_empty());
        }
        other => panic!("expected an I/O error, got {other:?}"),
    }
    std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o700)).unwrap();
}

fn openssl() -> Option<()> {
    Command::new("openssl")
        .arg("version")
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|_| ())
}

#[test]
fn openssl_keys_import_and_ours_open_in_openssl() {
    if openssl().is_none() {
        eprintln!("openssl not installed: interop not checked");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    // OpenSSL → bizra.
    let theirs = dir.path().join("theirs.pem");
    let st = Command::new("openssl")
        .args(["genpkey", "-algorithm", "ed25519", "-out"])
        .arg(&theirs)
        .status()
        .unwrap();
    assert!(st.success());
    let id = Identity::load(&theirs, None).unwrap();
    let pub_der = Command::new("openssl")
        .args(["pkey", "-pubout", "-outform", "DER", "-in"])
        .arg(&theirs)
        .output()
        .unwrap()
        .stdout;
    // The DER SubjectPublicKeyInfo of Ed25519 ends with the 32 key bytes.
    assert_eq!(&pub_der[pub_der.len() - 32..], id.public_key());

    // bizra → OpenSSL, plain and encrypted.
    let ours = dir.path().join("ours.pem");
    id.save(&ours, None).unwrap();
    let out = Command::new("openssl")
        .args(["pkey", "-pubout", "-outform", "DER", "-in"])
        .arg(&ours)
        .output()
        .unwrap();
    assert!(out.status.success());
    assert_eq!(&out.stdout[out.stdout.len() - 32..], id.public_key());

    let enc = dir.path().join("enc.pem");
    id.save(&enc, Some("s3cret")).unwrap();
    let out = Command::new("openssl")
        .args([
            "pkey",
            "-pubout",
            "-outform",
            "DER",
            "-passin",
            "pass:s3cret",
            "-in",
        ])
        .arg(&enc)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(&out.stdout[out.stdout.len() - 32..], id.public_key());

    // OpenSSL's own encrypted PKCS#8 imports with the passphrase.
    let theirs_enc = dir.path().join("theirs-enc.pem");
    let st = Command::new("openssl")
        .args([
            "pkcs8",
            "-topk8",
            "-v2",
            "aes-256-cbc",
            "-passout",
            "pass:pw",
            "-in",
        ])
        .arg(&theirs)
        .arg("-out")
        .arg(&theirs_enc)
        .status()
        .unwrap();
    assert!(st.success());
    assert_eq!(
        Identity::load(&theirs_enc, Some("pw"))
            .unwrap()
            .public_key(),
        id.public_key()
    );
}
