//! A `bizra-node` process driven through its standard input and output, for the tests that run
//! a federation across OS processes.

#![allow(dead_code)] // Each test file uses its part.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::time::{Duration, Instant};

pub struct Proc {
    pub child: Child,
    stdin: Option<ChildStdin>,
    lines: Receiver<String>,
    /// Every line read so far: events may come in any order, and a wait must not lose one.
    seen: std::cell::RefCell<Vec<String>>,
    pub node_id: String,
    pub addr: String,
    pub generation: u64,
}

impl Proc {
    /// Starts `bizra-node --bind 127.0.0.1:0 --fast` with `args`, and waits for its ready line.
    pub fn start(args: &[&str]) -> Proc {
        let mut child = Command::new(env!("CARGO_BIN_EXE_bizra-node"))
            .args(["--bind", "127.0.0.1:0", "--fast"])
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("bizra-node starts");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let ready = lines
            .recv_timeout(Duration::from_secs(10))
            .expect("a ready line");
        let f: Vec<&str> = ready.split(' ').collect();
        assert_eq!(f.first(), Some(&"ready"), "{ready}");
        let stdin = child.stdin.take();
        Proc {
            child,
            stdin,
            lines,
            seen: Default::default(),
            node_id: f[1].to_owned(),
            addr: f[2].to_owned(),
            generation: f[3].parse().expect("generation"),
        }
    }

    /// Waits for an event line `event <kind> <node id> ...`, among the lines read so far too.
    pub fn wait_event(&self, kind: &str, node_id: &str, limit: Duration) -> Option<String> {
        let prefix = format!("event {kind} {node_id} ");
        self.wait_line(|l| l.starts_with(&prefix), limit)
    }

    /// Waits for a line that `matches`, among the lines read so far too (events may come in any
    /// order, and a wait must not lose one).
    pub fn wait_line(&self, matches: impl Fn(&str) -> bool, limit: Duration) -> Option<String> {
        if let Some(line) = self.seen.borrow().iter().find(|l| matches(l)) {
            return Some(line.clone());
        }
        let end = Instant::now() + limit;
        while let Some(left) = end.checked_duration_since(Instant::now()) {
            let line = self.lines.recv_timeout(left).ok()?;
            self.seen.borrow_mut().push(line.clone());
            if matches(&line) {
                return Some(line);
            }
        }
        None
    }

    /// Every line read so far, waiting up to `wait` for more.
    pub fn lines_so_far(&self, wait: Duration) -> Vec<String> {
        let end = Instant::now() + wait;
        while let Some(left) = end.checked_duration_since(Instant::now()) {
            match self.lines.recv_timeout(left) {
                Ok(line) => self.seen.borrow_mut().push(line),
                Err(_) => break,
            }
        }
        self.seen.borrow().clone()
    }

    /// Sends a signal to the process (`STOP`, `CONT`, ...).
    pub fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .args([format!("-{name}"), self.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success(), "kill -{name} failed");
    }

    pub fn send(&mut self, command: &str) {
        if let Some(s) = self.stdin.as_mut() {
            let _ = writeln!(s, "{command}");
            let _ = s.flush();
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
