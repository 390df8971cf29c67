//! `bizra identity`: the node's Ed25519 key (an encrypted PKCS#8 file), and message signatures.

use std::path::PathBuf;

use bizra::identity::{display_id, is_encrypted_pem, node_id_of};
use bizra::{verify_message, Identity};
use clap::{Args, Subcommand};
use serde_json::json;

use crate::context::{read_passphrase_file, Context, Purpose};
use crate::exit::{CliError, CliResult, Exit};

/// `bizra identity ...`.
#[derive(Debug, Subcommand)]
pub enum IdentityCommand {
    /// Show the node's id and public key (unlocks the key)
    Show,
    /// Generate a new node key; an existing key is replaced only with --force, and kept beside it
    Generate {
        /// Replace the existing key (kept as <key>.<unix-millis>.old)
        #[arg(long)]
        force: bool,
    },
    /// Export the node's key: encrypted PKCS#8 PEM (same passphrase), unencrypted, or the public
    /// key only
    Export(ExportArgs),
    /// Make a key the node's key: PKCS#8 PEM (encrypted or not, as OpenSSL writes it) or a
    /// 64-hex seed; it is stored encrypted with the node's passphrase
    Import(ImportArgs),
    /// Sign a message with the node's key (Ed25519 over BLAKE3("bizra-msg-v1:" ‖ message))
    Sign(MessageArgs),
    /// Verify a message signature; exit 1 when it does not verify
    Verify(VerifyArgs),
}

/// `bizra identity export`.
#[derive(Debug, Args)]
pub struct ExportArgs {
    /// Write to FILE (a new file, mode 0600) instead of stdout
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
    /// Only the public key and node id (nothing secret; the key is still unlocked to derive them)
    #[arg(long)]
    public: bool,
    /// Unencrypted PKCS#8, as `openssl genpkey` writes it: the secret key in the clear
    #[arg(long, conflicts_with = "public")]
    unencrypted: bool,
}

/// `bizra identity import`.
#[derive(Debug, Args)]
pub struct ImportArgs {
    /// The key file (`-` for stdin)
    file: PathBuf,
    /// The imported file's passphrase, when it is encrypted, from the first line of FILE
    /// [default: the node's passphrase source]
    #[arg(long, value_name = "FILE")]
    key_passphrase_file: Option<PathBuf>,
    /// Replace the node's existing key (kept as <key>.<unix-millis>.old)
    #[arg(long)]
    force: bool,
}

/// A message to sign or verify: an argument, `--file`, or stdin.
#[derive(Debug, Args)]
pub struct MessageArgs {
    /// The message, as text [default: --file, else stdin]
    message: Option<String>,
    /// Read the message's bytes from FILE (`-` for stdin)
    #[arg(long, value_name = "FILE", conflicts_with = "message")]
    file: Option<PathBuf>,
}

/// `bizra identity verify`.
#[derive(Debug, Args)]
pub struct VerifyArgs {
    #[command(flatten)]
    message: MessageArgs,
    /// The signature: 128 hex characters
    #[arg(long, value_name = "HEX")]
    signature: String,
    /// The signer's public key: 64 hex characters [default: this node's]
    #[arg(long, value_name = "HEX")]
    public_key: Option<String>,
}

impl MessageArgs {
    fn bytes(&self) -> CliResult<Vec<u8>> {
        match (&self.message, &self.file) {
            (Some(m), _) => Ok(m.as_bytes().to_vec()),
            (None, f) => super::read_input(f.as_deref(), "the message"),
        }
    }
}

/// Runs `bizra identity ...`.
pub fn run(ctx: &Context, cmd: IdentityCommand) -> CliResult<Exit> {
    match cmd {
        IdentityCommand::Show => {
            let id = ctx.identity()?;
            let key = ctx.key_file();
            let value = json!({
                "node_id": id.node_id(),
                "display_id": id.display_id(),
                "public_key": id.public_key_hex(),
                "key_file": key,
            });
            ctx.out.emit(&value, |w| {
                writeln!(w, "node       {}", id.display_id())?;
                writeln!(w, "node id    {}", id.node_id())?;
                writeln!(w, "public key {}", id.public_key_hex())?;
                writeln!(w, "key file   {} (encrypted PKCS#8)", key.display())
            })?;
            Ok(Exit::Ok)
        }
        IdentityCommand::Generate { force } => {
            let id = Identity::generate();
            store(ctx, &id, force, "Generated")
        }
        IdentityCommand::Import(args) => {
            let text = zeroize::Zeroizing::new(super::read_text(Some(&args.file), "the key file")?);
            let what = format!("the imported key {}", args.file.display());
            let pass = if is_encrypted_pem(&text) {
                Some(match &args.key_passphrase_file {
                    Some(f) => read_passphrase_file(f)?,
                    None => ctx.passphrase(Purpose::Unlock, &what)?,
                })
            } else {
                None
            };
            let id = Identity::from_pem(&text, pass.as_deref().map(|p| p.as_str()))
                .map_err(|e| CliError::from(e).context(args.file.display()))?;
            store(ctx, &id, args.force, "Imported")
        }
        IdentityCommand::Export(args) => export(ctx, args),
        IdentityCommand::Sign(args) => {
            let message = args.bytes()?;
            let id = ctx.identity()?;
            let sig = super::hex(&id.sign_message(&message));
            let value = json!({
                "signature": sig,
                "public_key": id.public_key_hex(),
                "node_id": id.node_id(),
                "domain": "bizra-msg-v1:",
            });
            ctx.out.emit(&value, |w| writeln!(w, "{sig}"))?;
            Ok(Exit::Ok)
        }
        IdentityCommand::Verify(args) => {
            let message = args.message.bytes()?;
            let signature = super::parse_hex::<64>(&args.signature, "--signature")?;
            let public = match &args.public_key {
                Some(h) => super::parse_hex::<32>(h, "--public-key")?,
                None => *ctx.identity()?.public_key(),
            };
            let valid = verify_message(&public, &message, &signature);
            let node = node_id_of(&public);
            let value = json!({
                "valid": valid,
                "public_key": super::hex(&public),
                "node_id": node,
            });
            ctx.out.emit(&value, |w| {
                if valid {
                    writeln!(w, "valid: signed by {} ({node})", display_id(&node))
                } else {
                    writeln!(w, "invalid: not a signature of this message by {node}")
                }
            })?;
            Ok(if valid { Exit::Ok } else { Exit::Refused })
        }
    }
}

/// Saves `id` as the node's key (rotating with `force`) and prints it.
fn store(ctx: &Context, id: &Identity, force: bool, verb: &str) -> CliResult<Exit> {
    let path = ctx.key_file();
    if path.exists() && !force {
        return Err(CliError::new(
            Exit::Io,
            format!(
                "{} already holds the node's key: pass --force to replace it (the old key is kept \
                 beside it)",
                path.display()
            ),
        ));
    }
    super::init::create_private_dir(path.parent().unwrap_or(&ctx.data_dir))?;
    let pass = ctx.passphrase(Purpose::New, &format!("the node key {}", path.display()))?;
    let kept = if force {
        id.save_rotating(&path, Some(&pass))?
    } else {
        id.save(&path, Some(&pass))?;
        None
    };
    let value = json!({
        "node_id": id.node_id(),
        "display_id": id.display_id(),
        "public_key": id.public_key_hex(),
        "key_file": path,
        "old_key_kept_at": kept,
    });
    ctx.out.emit(&value, |w| {
        writeln!(w, "{verb} {} ({})", id.display_id(), id.node_id())?;
        writeln!(w, "public key {}", id.public_key_hex())?;
        writeln!(w, "key file   {}", path.display())?;
        if let Some(k) = &kept {
            writeln!(w, "old key    kept at {}", k.display())?;
        }
        Ok(())
    })?;
    Ok(Exit::Ok)
}

fn export(ctx: &Context, args: ExportArgs) -> CliResult<Exit> {
    let (id, pass) = ctx.unlock()?;
    if args.public {
        let value = json!({
            "node_id": id.node_id(),
            "display_id": id.display_id(),
            "public_key": id.public_key_hex(),
        });
        if let Some(out) = &args.out {
            super::write_file(out, format!("{}\n", id.public_key_hex()).as_bytes(), false)?;
        }
        ctx.out.emit(&value, |w| {
            if args.out.is_none() {
                writeln!(w, "{}", id.public_key_hex())?;
            }
            Ok(())
        })?;
        return Ok(Exit::Ok);
    }
    // Encrypted with the passphrase that unlocked it.
    let pass = (!args.unencrypted).then_some(pass.as_str());
    match &args.out {
        Some(out) => {
            id.save(out, pass)?;
            let value = json!({
                "written_to": out,
                "encrypted": pass.is_some(),
                "node_id": id.node_id(),
            });
            ctx.out.emit(&value, |w| {
                writeln!(
                    w,
                    "Exported {} to {} ({})",
                    id.display_id(),
                    out.display(),
                    if pass.is_some() {
                        "encrypted PKCS#8"
                    } else {
                        "unencrypted PKCS#8"
                    }
                )
            })?;
        }
        None => {
            let pem = id.to_pem(pass)?;
            let value = json!({
                "pem": pem.as_str(),
                "encrypted": pass.is_some(),
                "node_id": id.node_id(),
            });
            ctx.out.emit(&value, |w| w.write_all(pem.as_bytes()))?;
        }
    }
    Ok(Exit::Ok)
}
