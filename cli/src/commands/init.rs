//! `bizra init`: the data directory, `config.toml` and the node's encrypted key.

use std::collections::BTreeMap;
use std::path::Path;

use bizra::Identity;
use clap::Args;
use serde_json::json;

use crate::config;
use crate::context::{Context, Purpose};
use crate::exit::{CliError, CliResult, Exit};

/// `bizra init`.
#[derive(Debug, Args)]
pub struct InitArgs {
    /// Replace an existing config.toml and key; the old key is kept beside it as
    /// <key>.<unix-millis>.old
    #[arg(long)]
    pub force: bool,
    /// The model `bizra inference` uses by default: a registry key, or a path to a .gguf file
    #[arg(long, value_name = "MODEL")]
    model: Option<String>,
}

/// Runs `bizra init`.
pub fn run(ctx: &Context, args: InitArgs) -> CliResult<Exit> {
    let config_path = ctx.config_file();
    let text = config::template(args.model.as_deref());
    // The key goes where the new configuration (with the environment's overrides) names it.
    let env: BTreeMap<String, String> = std::env::vars()
        .filter(|(k, _)| k.starts_with("BIZRA_"))
        .collect();
    let new_config = config::parse(&text, &config_path, &env)?;
    let key_path = new_config.key_file(&ctx.data_dir);
    if !args.force {
        for existing in [&config_path, &key_path] {
            if existing.exists() {
                return Err(CliError::new(
                    Exit::Io,
                    format!(
                        "{} already exists: {} is initialised (pass --force to replace config.toml \
                         and the key; the old key is kept)",
                        existing.display(),
                        ctx.data_dir.display()
                    ),
                ));
            }
        }
    }
    create_private_dir(&ctx.data_dir)?;
    let pass = ctx.passphrase(Purpose::New, &format!("the new key {}", key_path.display()))?;
    let identity = Identity::generate();
    let kept = if args.force {
        identity.save_rotating(&key_path, Some(&pass))?
    } else {
        identity.save(&key_path, Some(&pass))?;
        None
    };
    super::write_file(&config_path, text.as_bytes(), args.force)?;
    let token_file = write_api_token(ctx, &new_config)?;
    let models_dir = new_config.models_dir(&ctx.data_dir);
    std::fs::create_dir_all(&models_dir).map_err(|e| CliError::io(&models_dir, e))?;
    let value = json!({
        "data_dir": ctx.data_dir,
        "config": config_path,
        "key_file": key_path,
        "old_key_kept_at": kept,
        "models_dir": models_dir,
        "api_token_file": token_file,
        "node_id": identity.node_id(),
        "display_id": identity.display_id(),
        "public_key": identity.public_key_hex(),
    });
    ctx.out.emit(&value, |w| {
        writeln!(w, "Initialised {}", ctx.data_dir.display())?;
        writeln!(w, "  config     {}", config_path.display())?;
        writeln!(w, "  key        {} (encrypted PKCS#8)", key_path.display())?;
        if let Some(k) = &kept {
            writeln!(w, "  old key    kept at {}", k.display())?;
        }
        writeln!(w, "  models     {}", models_dir.display())?;
        if let Some(t) = &token_file {
            writeln!(
                w,
                "  API token  {} (bizra serve's bearer token)",
                t.display()
            )?;
        }
        writeln!(w, "  node       {}", identity.display_id())?;
        writeln!(w, "  node id    {}", identity.node_id())?;
        writeln!(w, "  public key {}", identity.public_key_hex())
    })?;
    Ok(Exit::Ok)
}

/// Writes a new random API token (32 bytes, hex) to `[server] token_file`, readable by its owner
/// only, unless a token file is already there (the token clients hold stays valid).
fn write_api_token(
    ctx: &Context,
    config: &config::Config,
) -> CliResult<Option<std::path::PathBuf>> {
    let Some(file) = &config.server.token_file else {
        return Ok(None);
    };
    let path = ctx.data_dir.join(file);
    if path.exists() {
        return Ok(Some(path));
    }
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes)
        .map_err(|e| CliError::new(Exit::Internal, format!("the system's random source: {e}")))?;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    let mut f = opts.open(&path).map_err(|e| CliError::io(&path, e))?;
    std::io::Write::write_all(&mut f, format!("{}\n", super::hex(&bytes)).as_bytes())
        .map_err(|e| CliError::io(&path, e))?;
    Ok(Some(path))
}

/// Creates a directory readable by its owner only (0700 on Unix), with its parents.
pub fn create_private_dir(dir: &Path) -> CliResult {
    let mut b = std::fs::DirBuilder::new();
    b.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut b, 0o700);
    b.create(dir).map_err(|e| CliError::io(dir, e))
}
