//! What every command works with: the data directory, the configuration, the output mode, and
//! the node's key (unlocked only by the commands that sign).

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bizra::{Constitution, GateChain, Identity};
use zeroize::Zeroizing;

use crate::config::{self, Config};
use crate::exit::{CliError, CliResult};
use crate::output::Output;

/// The environment variable holding the key's passphrase.
pub const PASSPHRASE_ENV: &str = "BIZRA_PASSPHRASE";

/// The command's surroundings.
pub struct Context {
    /// The data directory.
    pub data_dir: PathBuf,
    /// `config.toml` with the environment's overrides.
    pub config: Config,
    /// How to print.
    pub out: Output,
    passphrase_file: Option<PathBuf>,
}

/// Why a passphrase is asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Purpose {
    /// To unlock the existing key.
    Unlock,
    /// To encrypt a new key (asked twice at a prompt).
    New,
}

impl Context {
    /// Resolves the data directory and reads its configuration. With `repair` (for a command
    /// that replaces the configuration), a configuration that cannot be read is reported and
    /// the defaults are used.
    pub fn load(
        data_dir: Option<&Path>,
        passphrase_file: Option<PathBuf>,
        out: Output,
        repair: bool,
    ) -> CliResult<Self> {
        let data_dir = config::data_dir(data_dir)?;
        let config = match config::load(&data_dir) {
            Ok(c) => c,
            Err(e) if repair => {
                out.note(&format!(
                    "bizra: replacing a configuration that cannot be read ({e})"
                ));
                Config::default()
            }
            Err(e) => return Err(e),
        };
        Ok(Self {
            data_dir,
            config,
            out,
            passphrase_file,
        })
    }

    /// The key file.
    pub fn key_file(&self) -> PathBuf {
        self.config.key_file(&self.data_dir)
    }

    /// The models directory.
    pub fn models_dir(&self) -> PathBuf {
        self.config.models_dir(&self.data_dir)
    }

    /// The configuration file.
    pub fn config_file(&self) -> PathBuf {
        self.data_dir.join(config::CONFIG_FILE)
    }

    /// The passphrase: `--passphrase-file`, else `$BIZRA_PASSPHRASE`, else a prompt on the
    /// terminal (twice for a new key); an error when none of them is there.
    pub fn passphrase(&self, purpose: Purpose, what: &str) -> CliResult<Zeroizing<String>> {
        if let Some(file) = &self.passphrase_file {
            return read_passphrase_file(file);
        }
        if let Some(v) = std::env::var_os(PASSPHRASE_ENV).filter(|v| !v.is_empty()) {
            return v
                .into_string()
                .map(Zeroizing::new)
                .map_err(|_| CliError::key(format!("{PASSPHRASE_ENV} is not valid UTF-8")));
        }
        prompt(purpose, what)
    }

    /// Unlocks the node's key.
    pub fn identity(&self) -> CliResult<Identity> {
        Ok(self.unlock()?.0)
    }

    /// Unlocks the node's key, and returns the passphrase that did (to encrypt a copy with it).
    pub fn unlock(&self) -> CliResult<(Identity, Zeroizing<String>)> {
        let path = self.key_file();
        if !path.exists() {
            return Err(CliError::key(format!(
                "no node key at {}: run `bizra init` (or `bizra identity generate`)",
                path.display()
            )));
        }
        let pass = self.passphrase(Purpose::Unlock, &format!("the key {}", path.display()))?;
        tracing::debug!(path = %path.display(), "unlocking the node key");
        let id = Identity::load(&path, Some(&pass))?;
        Ok((id, pass))
    }

    /// The constitution: the configured file, else the embedded default.
    pub fn constitution(&self) -> CliResult<Arc<Constitution>> {
        match self.config.constitution_file(&self.data_dir) {
            Some(p) => {
                tracing::debug!(path = %p.display(), "loading the constitution");
                Ok(Arc::new(Constitution::load(&p)?))
            }
            None => Ok(Arc::new(Constitution::default())),
        }
    }

    /// The engine's options: `[inference]` context, threads, GPU layers and queue bound, unless
    /// given.
    pub fn engine_options(
        &self,
        context: Option<u32>,
        threads: Option<u32>,
    ) -> bizra::EngineOptions {
        let cfg = &self.config.inference;
        let defaults = bizra::EngineOptions::default();
        bizra::EngineOptions {
            n_ctx: context.or(cfg.context).unwrap_or(defaults.n_ctx),
            n_threads: threads.or(cfg.threads).or(defaults.n_threads),
            n_gpu_layers: cfg.gpu_layers.unwrap_or(defaults.n_gpu_layers),
            max_queued: cfg.max_queued.unwrap_or(defaults.max_queued),
            ..defaults
        }
    }

    /// Every built-in gate over the constitution.
    pub fn gate_chain(&self) -> CliResult<GateChain> {
        Ok(GateChain::from_constitution(self.constitution()?))
    }
}

/// A passphrase from a file: its first line (a trailing newline is not part of it).
pub fn read_passphrase_file(file: &Path) -> CliResult<Zeroizing<String>> {
    let text = Zeroizing::new(
        std::fs::read_to_string(file)
            .map_err(|e| CliError::io(file, e).context("reading the passphrase file"))?,
    );
    let line = text.lines().next().unwrap_or("");
    if line.is_empty() {
        return Err(CliError::key(format!(
            "{}: the passphrase file is empty",
            file.display()
        )));
    }
    Ok(Zeroizing::new(line.to_owned()))
}

/// Asks on the terminal; refuses where there is none (a script must pass the passphrase).
pub fn prompt(purpose: Purpose, what: &str) -> CliResult<Zeroizing<String>> {
    if !std::io::stdin().is_terminal() {
        return Err(CliError::key(format!(
            "{what} needs a passphrase: set {PASSPHRASE_ENV}, pass --passphrase-file FILE, or run in a terminal"
        )));
    }
    let ask = |p: &str| {
        rpassword::prompt_password(p)
            .map(Zeroizing::new)
            .map_err(|e| CliError::key(format!("reading the passphrase: {e}")))
    };
    let first = ask(&format!("Passphrase for {what}: "))?;
    if first.is_empty() {
        return Err(CliError::key("the passphrase is empty"));
    }
    if purpose == Purpose::New {
        let again = ask("Again: ")?;
        if *again != *first {
            return Err(CliError::key("the two passphrases differ"));
        }
    }
    Ok(first)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::InferenceConfig;

    fn with(inference: InferenceConfig) -> Context {
        Context {
            data_dir: PathBuf::from("/nowhere"),
            config: Config {
                inference,
                ..Config::default()
            },
            out: Output::new(false),
            passphrase_file: None,
        }
    }

    #[test]
    fn engine_options_take_the_inference_section_under_the_flags() {
        let defaults = bizra::EngineOptions::default();
        assert_eq!(
            with(InferenceConfig::default()).engine_options(None, None),
            defaults
        );
        let set = with(InferenceConfig {
            context: Some(512),
            threads: Some(3),
            gpu_layers: Some(7),
            max_queued: Some(0),
            ..InferenceConfig::default()
        });
        let o = set.engine_options(None, None);
        assert_eq!(
            (o.n_ctx, o.n_threads, o.n_gpu_layers, o.max_queued),
            (512, Some(3), 7, 0)
        );
        let o = set.engine_options(Some(256), Some(1));
        assert_eq!((o.n_ctx, o.n_threads, o.max_queued), (256, Some(1), 0));
    }
}
