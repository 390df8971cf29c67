//! Printing: human text, or one JSON document per command with `--json`.
//!
//! Results go to stdout; messages for people (progress, streamed tokens beside an envelope,
//! summaries of work in progress) go to stderr. A closed stdout (`bizra models list | head -1`)
//! ends the program quietly instead of panicking.

use std::io::{self, IsTerminal, Write};

use serde_json::Value;

use crate::exit::{CliError, CliResult, Exit};

/// How results are printed.
#[derive(Clone, Copy, Debug)]
pub struct Output {
    json: bool,
}

impl Output {
    /// `--json` or human text.
    pub fn new(json: bool) -> Self {
        Self { json }
    }

    /// Whether `--json` was given.
    pub fn json(&self) -> bool {
        self.json
    }

    /// Whether to draw progress bars and prompts for people (stderr is a terminal, no `--json`).
    pub fn interactive(&self) -> bool {
        !self.json && io::stderr().is_terminal()
    }

    /// Prints a result: `value` as one JSON document with `--json`, else what `human` writes.
    pub fn emit(
        &self,
        value: &Value,
        human: impl FnOnce(&mut dyn Write) -> io::Result<()>,
    ) -> CliResult {
        let stdout = io::stdout();
        let mut w = stdout.lock();
        let r = if self.json {
            write_json(&mut w, value)
        } else {
            human(&mut w).and_then(|()| w.flush())
        };
        r.map_err(stdout_error)
    }

    /// One line of a command that reports as it goes (`join`, `serve`): `value` as compact
    /// JSON with `--json` (JSON Lines), else `text`. A closed stdout is ignored: the command
    /// runs on.
    pub fn line(&self, value: &Value, text: &str) {
        let line = if self.json {
            value.to_string()
        } else {
            text.to_owned()
        };
        let mut o = io::stdout().lock();
        let _ = writeln!(o, "{line}").and_then(|()| o.flush());
    }

    /// Writes raw text to stdout (a streamed token, a key, a script), flushed.
    pub fn raw(&self, text: &str) -> CliResult {
        let stdout = io::stdout();
        let mut w = stdout.lock();
        w.write_all(text.as_bytes())
            .and_then(|()| w.flush())
            .map_err(stdout_error)
    }

    /// A note for people on stderr (never with `--json`, whose stdout is the whole answer).
    pub fn note(&self, text: &str) {
        if !self.json {
            let _ = writeln!(io::stderr(), "{text}");
        }
    }
}

/// Pretty JSON and a newline.
pub fn write_json(w: &mut dyn Write, value: &Value) -> io::Result<()> {
    serde_json::to_writer_pretty(&mut *w, value).map_err(io::Error::other)?;
    writeln!(w)?;
    w.flush()
}

/// A write to stdout that failed: a closed pipe is the reader's choice (exit quietly, with
/// success), anything else an I/O error.
pub fn stdout_error(e: io::Error) -> CliError {
    if e.kind() == io::ErrorKind::BrokenPipe {
        CliError::new(Exit::Ok, "")
    } else {
        CliError::new(Exit::Io, format!("writing to stdout: {e}"))
    }
}

/// A number of bytes for people: `98.4 MB`.
pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "kB", "MB", "GB", "TB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1000.0 && u + 1 < UNITS.len() {
        v /= 1000.0;
        u += 1;
    }
    if u == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

/// An optional score for people: `0.912` or `-`.
pub fn score(v: Option<f64>) -> String {
    v.map_or_else(|| "-".to_owned(), |v| format!("{v:.3}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_for_people() {
        assert_eq!(human_bytes(0), "0 B");
        assert_eq!(human_bytes(999), "999 B");
        assert_eq!(human_bytes(98_362_432), "98.4 MB");
        assert_eq!(score(None), "-");
        assert_eq!(score(Some(0.91234)), "0.912");
    }
}
