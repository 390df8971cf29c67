//! A real OpenAI-compatible server for tests: llama-cpp-python's, serving the test model on a free
//! loopback port, started through `scripts/pool_server.py` as every language's suite starts it
//! (`$BIZRA_POOL_PYTHON $BIZRA_POOL_SERVER --model $BIZRA_TEST_MODEL`, one line read: the base
//! URL). Killed when dropped. Needs nothing but std, so any test crate of the workspace can use it:
//!
//! ```ignore
//! #[path = "../crates/bizra-inference/tests/support/pool_server.rs"] // from the root's tests/
//! mod pool_server;
//! let server = pool_server::PoolServer::start();
//! let client = RemoteClient::connect(RemoteOptions::new(server.url()).vocab_size(pool_server::VOCAB_SIZE))?;
//! ```
//!
//! A machine without the server installed fails the test (never skips it), saying to run
//! `make pool-server`.

#![allow(dead_code)] // Each test crate uses its part.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// The test model's vocabulary (SmolLM2): llama-cpp-python's `/v1/models` does not report it.
pub const VOCAB_SIZE: u32 = 49152;

/// The test model's file name in `$BIZRA_CACHE/models` (`make model`).
pub const MODEL_FILE: &str = "SmolLM2-135M-Instruct.Q4_1.gguf";

/// Longest wait for the server's first line (loading the model, binding, answering).
const START_TIMEOUT: Duration = Duration::from_secs(120);

/// A running server; killed (SIGKILL) and reaped on drop.
pub struct PoolServer {
    child: Child,
    // Held open: the server exits when it closes (or when this process dies).
    stdin: Option<ChildStdin>,
    url: String,
    port: u16,
    args: Vec<String>,
}

impl std::fmt::Debug for PoolServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PoolServer")
            .field("url", &self.url)
            .field("pid", &self.child.id())
            .finish()
    }
}

/// The interpreter of the pool server's venv, from `BIZRA_POOL_PYTHON`; panics, naming
/// `make pool-server`, when it is unset or missing.
pub fn python() -> PathBuf {
    let how = "the real pool server (llama-cpp-python) is not installed for the tests: run \
               `make pool-server` (it installs it into $BIZRA_CACHE/venv-pool and exports \
               BIZRA_POOL_PYTHON), or set BIZRA_POOL_PYTHON to that venv's python \
               (~/.cache/bizra/venv-pool/bin/python)";
    let Some(p) = std::env::var_os("BIZRA_POOL_PYTHON").filter(|v| !v.is_empty()) else {
        panic!("BIZRA_POOL_PYTHON is unset: {how}");
    };
    let p = PathBuf::from(p);
    assert!(
        p.is_file(),
        "BIZRA_POOL_PYTHON is {}, which does not exist: {how}",
        p.display()
    );
    p
}

/// `scripts/pool_server.py`: `BIZRA_POOL_SERVER`, else found above this crate's directory.
pub fn script() -> PathBuf {
    if let Some(p) = std::env::var_os("BIZRA_POOL_SERVER").filter(|v| !v.is_empty()) {
        return PathBuf::from(p);
    }
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .map(|d| d.join("scripts").join("pool_server.py"))
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!(
                "scripts/pool_server.py not found above {}: set BIZRA_POOL_SERVER",
                env!("CARGO_MANIFEST_DIR")
            )
        })
}

/// The test model: `BIZRA_TEST_MODEL`, else `$BIZRA_CACHE/models/` (`make model`).
pub fn model() -> PathBuf {
    let path = std::env::var_os("BIZRA_TEST_MODEL")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            std::env::var_os("BIZRA_CACHE")
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
                .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/bizra")))
                .unwrap_or_else(|| PathBuf::from(".bizra-cache"))
                .join("models")
                .join(MODEL_FILE)
        });
    assert!(
        path.is_file(),
        "the test model is missing at {}: run `make model`, or set BIZRA_TEST_MODEL",
        path.display()
    );
    path
}

impl PoolServer {
    /// The test model on a free port, 1 thread, no API key.
    pub fn start() -> Self {
        Self::start_with(&[])
    }

    /// The test model with more options of `scripts/pool_server.py` (`--api-key K`,
    /// `--n-threads 2`, `--port N`, ...).
    pub fn start_with(args: &[&str]) -> Self {
        let args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
        Self::spawn(args)
    }

    fn spawn(args: Vec<String>) -> Self {
        let (python, script, model) = (python(), script(), model());
        let mut child = Command::new(&python)
            .arg(&script)
            .arg("--model")
            .arg(&model)
            .args(&args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot run {} {}: {e} (run `make pool-server`)",
                    python.display(),
                    script.display()
                )
            });
        let stdin = child.stdin.take();
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let read = BufReader::new(stdout).read_line(&mut line);
            let _ = tx.send(read.map(|_| line));
        });
        let line = match rx.recv_timeout(START_TIMEOUT) {
            Ok(Ok(line)) if !line.trim().is_empty() => line.trim().to_owned(),
            got => {
                let _ = child.kill();
                let status = child.wait().ok();
                panic!(
                    "the pool server ({} {} --model {} {}) did not print its URL ({}); its \
                     stderr above says why (run `make pool-server` if it is not installed)",
                    python.display(),
                    script.display(),
                    model.display(),
                    args.join(" "),
                    match got {
                        Err(_) => format!("nothing within {START_TIMEOUT:?}"),
                        Ok(Err(e)) => format!("reading its stdout: {e}"),
                        Ok(Ok(_)) => format!("it exited: {status:?}"),
                    }
                );
            }
        };
        let port = line
            .strip_prefix("http://127.0.0.1:")
            .and_then(|rest| rest.strip_suffix("/v1"))
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("the pool server printed {line:?}, not its base URL"));
        Self {
            child,
            stdin,
            url: line,
            port,
            args,
        }
    }

    /// The API's base URL: `http://127.0.0.1:PORT/v1`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `host:port`, for a raw TCP client.
    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// The id the server gives the model (llama-cpp-python: the path it was given).
    pub fn model_id(&self) -> String {
        self.args
            .windows(2)
            .find(|w| w[0] == "--model_alias" || w[0] == "--model-alias")
            .map(|w| w[1].clone())
            .unwrap_or_else(|| model().display().to_string())
    }

    /// The server process's id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Kills the server at once (SIGKILL: no goodbye on its connections) and reaps it.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.stdin = None;
    }

    /// Kills the server and starts another with the same options on the same port, so that a
    /// client made for the old one reaches the new one.
    pub fn restart(&mut self) {
        self.kill();
        let mut args = self.args.clone();
        if let Some(i) = args.iter().position(|a| a == "--port") {
            args.drain(i..(i + 2).min(args.len()));
        }
        args.extend(["--port".to_owned(), self.port.to_string()]);
        let fresh = Self::spawn(args);
        let old = std::mem::replace(self, fresh);
        drop(old);
    }
}

impl Drop for PoolServer {
    fn drop(&mut self) {
        self.kill();
    }
}
