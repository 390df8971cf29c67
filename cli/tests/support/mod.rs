//! Runs the built `bizra` binary on a temporary data directory, with nothing of the caller's
//! `BIZRA_*` environment leaking in.

#![allow(dead_code)] // Each test crate uses its part.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::Value;

/// The test passphrase.
pub const PASS: &str = "correct horse battery staple";

/// A finished run.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// Asserts the exit code, showing the output when it differs.
    #[track_caller]
    pub fn code(&self, want: i32) -> &Self {
        assert_eq!(self.code, want, "exit code; {self:#?}");
        self
    }

    /// Asserts success.
    #[track_caller]
    pub fn ok(&self) -> &Self {
        self.code(0)
    }

    /// stdout as JSON.
    #[track_caller]
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {self:#?}"))
    }

    /// Asserts that stderr is one line (the error) containing every `needle`.
    #[track_caller]
    pub fn one_line_error(&self, needles: &[&str]) -> &Self {
        let lines: Vec<&str> = self.stderr.lines().collect();
        assert_eq!(lines.len(), 1, "one line on stderr; {self:#?}");
        assert!(lines[0].starts_with("bizra: "), "{self:#?}");
        for n in needles {
            assert!(self.stderr.contains(n), "stderr lacks {n:?}; {self:#?}");
        }
        assert!(!self.stderr.contains("panicked"), "{self:#?}");
        self
    }
}

/// A data directory and how to run `bizra` on it.
pub struct Bizra {
    pub dir: tempfile::TempDir,
    pub env: Vec<(String, String)>,
}

impl Bizra {
    /// A fresh, empty temporary directory; `home()` is the data directory inside it.
    pub fn new() -> Self {
        Self {
            dir: tempfile::tempdir().expect("tempdir"),
            env: vec![("BIZRA_PASSPHRASE".into(), PASS.into())],
        }
    }

    /// An initialised data directory.
    pub fn init() -> Self {
        let b = Self::new();
        b.run(&["init"]).ok();
        b
    }

    /// The data directory.
    pub fn home(&self) -> PathBuf {
        self.dir.path().join("home")
    }

    /// A path in the temporary directory (outside the data directory).
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Sets (or with `None` removes) an environment variable for the runs.
    pub fn set_env(&mut self, key: &str, value: Option<&str>) {
        self.env.retain(|(k, _)| k != key);
        if let Some(v) = value {
            self.env.push((key.into(), v.into()));
        }
    }

    /// `bizra --data-dir <home> args...` with this directory's environment and none of the
    /// caller's `BIZRA_*` variables.
    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_bizra"));
        for (k, _) in std::env::vars() {
            if k.starts_with("BIZRA_") {
                cmd.env_remove(k);
            }
        }
        cmd.envs(self.env.iter().map(|(k, v)| (k, v)))
            .arg("--data-dir")
            .arg(self.home())
            .args(args);
        cmd
    }

    /// Runs `bizra --data-dir <home> args...`.
    pub fn run(&self, args: &[&str]) -> Run {
        self.run_stdin(args, None)
    }

    /// Runs with `stdin` as its standard input (none: an empty one, not a terminal).
    pub fn run_stdin(&self, args: &[&str], stdin: Option<&[u8]>) -> Run {
        let mut cmd = self.command(args);
        cmd.stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("running bizra");
        let mut input = child.stdin.take().expect("stdin");
        let data = stdin.map(<[u8]>::to_vec).unwrap_or_default();
        let writer = std::thread::spawn(move || {
            let _ = input.write_all(&data);
        });
        let out = child.wait_with_output().expect("waiting for bizra");
        let _ = writer.join();
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }
}

/// Writes `text` to `path`.
pub fn write(path: &Path, text: impl AsRef<[u8]>) {
    std::fs::write(path, text).expect("writing a test file");
}

/// A GGUF file that the registry reads (a name, no tensors), padded with a metadata string to
/// `pad` bytes: not a model llama.cpp could run, but a real header.
pub fn tiny_gguf(name: &str, pad: usize) -> Vec<u8> {
    fn string(b: &mut Vec<u8>, s: &str) {
        b.extend((s.len() as u64).to_le_bytes());
        b.extend(s.as_bytes());
    }
    let mut b = b"GGUF".to_vec();
    b.extend(3u32.to_le_bytes()); // version
    b.extend(0u64.to_le_bytes()); // tensors
    b.extend(2u64.to_le_bytes()); // metadata entries
    string(&mut b, "general.name");
    b.extend(8u32.to_le_bytes()); // string
    string(&mut b, name);
    string(&mut b, "general.description");
    b.extend(8u32.to_le_bytes());
    string(&mut b, &"x".repeat(pad));
    b
}

/// A `bizra` process that runs on (`serve`, `join`): its stdout lines arrive on a channel; it
/// is stopped with SIGTERM when dropped.
pub struct Running {
    child: std::process::Child,
    lines: std::sync::mpsc::Receiver<String>,
    pub seen: Vec<String>,
}

impl Bizra {
    /// Starts `bizra --data-dir <home> args...` without waiting for it.
    pub fn spawn(&self, args: &[&str]) -> Running {
        let mut cmd = self.command(args);
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        let mut child = cmd.spawn().expect("running bizra");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            use std::io::BufRead;
            for line in std::io::BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Running {
            child,
            lines,
            seen: Vec::new(),
        }
    }
}

impl Running {
    /// The first line (from now on) that `pred` accepts, as JSON; panics after `secs` seconds.
    #[track_caller]
    pub fn wait_json(&mut self, secs: u64, pred: impl Fn(&Value) -> bool) -> Value {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if let Ok(v) = serde_json::from_str::<Value>(&line) {
                        if pred(&v) {
                            return v;
                        }
                    }
                }
                Err(_) => panic!("no such line within {secs} s; saw {:#?}", self.seen),
            }
        }
    }

    /// Sends SIGTERM and waits: the exit code.
    pub fn stop(&mut self) -> i32 {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status.code().unwrap_or(-1);
            }
            if std::time::Instant::now() > deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                panic!("bizra did not stop within 30 s of SIGTERM");
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
