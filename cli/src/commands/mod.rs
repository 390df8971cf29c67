//! One module per command group; each has its clap arguments and a `run` that returns the exit
//! status (a refusal is a result, printed, with exit 1), or a [`CliError`].

pub mod completions;
pub mod constitution;
pub mod detect;
pub mod federation;
pub mod identity;
pub mod inference;
pub mod init;
pub mod join;
pub mod models;
pub mod pci;
pub mod serve;
pub mod status;

use std::io::Read;
use std::path::Path;

use bizra::pci::Timestamp;

use crate::exit::{CliError, CliResult};

/// The bytes of `path`, or of stdin for `-` or no path.
pub fn read_input(path: Option<&Path>, what: &str) -> CliResult<Vec<u8>> {
    match path {
        Some(p) if p != Path::new("-") => {
            std::fs::read(p).map_err(|e| CliError::io(p, e).context(format!("reading {what}")))
        }
        _ => {
            let mut buf = Vec::new();
            std::io::stdin().read_to_end(&mut buf).map_err(|e| {
                CliError::io(Path::new("stdin"), e).context(format!("reading {what}"))
            })?;
            Ok(buf)
        }
    }
}

/// Text from `read_input`, which must be UTF-8.
pub fn read_text(path: Option<&Path>, what: &str) -> CliResult<String> {
    String::from_utf8(read_input(path, what)?)
        .map_err(|_| CliError::usage(format!("{what} is not UTF-8 text")))
}

/// Writes `bytes` to a new file, or over an existing one with `force`.
pub fn write_file(path: &Path, bytes: &[u8], force: bool) -> CliResult {
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true);
    if force {
        opts.create(true).truncate(true);
    } else {
        opts.create_new(true);
    }
    let mut f = opts.open(path).map_err(|e| {
        let e = CliError::io(path, e);
        if force {
            e
        } else {
            e.context("not overwritten (pass --force to replace it)")
        }
    })?;
    std::io::Write::write_all(&mut f, bytes).map_err(|e| CliError::io(path, e))
}

/// Hex (either case) into `N` bytes.
pub fn parse_hex<const N: usize>(text: &str, what: &str) -> CliResult<[u8; N]> {
    let t = text.trim();
    bizra::hash::from_hex::<N>(&t.to_ascii_lowercase()).ok_or_else(|| {
        CliError::usage(format!(
            "{what} must be {} hex characters, got {t:?}",
            2 * N
        ))
    })
}

/// A timestamp as envelopes write it (`2025-01-01T00:00:00.000Z`), for `--at`.
pub fn parse_timestamp(text: &str) -> CliResult<Timestamp> {
    Timestamp::parse(text).ok_or_else(|| {
        CliError::usage(format!(
            "--at {text:?} is not a timestamp of the form 2025-01-01T00:00:00.000Z"
        ))
    })
}

/// Lowercase hex.
pub fn hex(bytes: &[u8]) -> String {
    bizra::hash::to_hex(bytes)
}
