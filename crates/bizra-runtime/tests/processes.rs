//! A federation across OS processes (`bizra-node`), over loopback UDP: three processes join
//! through one seed; one is killed with SIGKILL and declared down by the others; restarted with
//! the same key file and data directory it comes back with a new generation; a graceful leave is
//! reported as left.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::time::{Duration, Instant};

struct Proc {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: Receiver<String>,
    /// Every line read so far: events may come in any order, and a wait must not lose one.
    seen: std::cell::RefCell<Vec<String>>,
    node_id: String,
    addr: String,
    generation: u64,
}

impl Proc {
    fn start(args: &[&str]) -> Proc {
        let mut child = Command::new(env!("CARGO_BIN_EXE_bizra-node"))
            .args([
                "--bind",
                "127.0.0.1:0",
                "--federation",
                "processes",
                "--fast",
            ])
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
    fn wait_event(&self, kind: &str, node_id: &str, limit: Duration) -> Option<String> {
        let prefix = format!("event {kind} {node_id} ");
        self.wait_line(|l| l.starts_with(&prefix), limit)
    }

    /// Waits for a line that `matches`, among the lines read so far too (events may come in any
    /// order, and a wait must not lose one).
    fn wait_line(&self, matches: impl Fn(&str) -> bool, limit: Duration) -> Option<String> {
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

    fn send(&mut self, command: &str) {
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

#[test]
fn a_federation_of_processes_survives_kill_9_and_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("c.pem");
    let data = dir.path().join("c-data");
    let (key, data) = (key.to_str().unwrap(), data.to_str().unwrap());
    let limit = Duration::from_secs(15);

    let a = Proc::start(&[]);
    let mut b = Proc::start(&["--seed", &a.addr]);
    let c = Proc::start(&["--seed", &a.addr, "--key", key, "--data-dir", data]);
    for (p, others) in [(&a, [&b, &c]), (&b, [&a, &c]), (&c, [&a, &b])] {
        for o in others {
            assert!(
                p.wait_event("joined", &o.node_id, limit).is_some(),
                "{} never saw {} join",
                p.node_id,
                o.node_id
            );
        }
    }

    // kill -9: no goodbye; the others find out by probing.
    let (c_id, c_generation) = (c.node_id.clone(), c.generation);
    drop(c);
    assert!(
        a.wait_event("down", &c_id, limit).is_some(),
        "a never saw c down"
    );
    assert!(
        b.wait_event("down", &c_id, limit).is_some(),
        "b never saw c down"
    );

    // The same key and data directory: the same node, a new generation.
    let c2 = Proc::start(&["--seed", &a.addr, "--key", key, "--data-dir", data]);
    assert_eq!(c2.node_id, c_id);
    assert!(c2.generation > c_generation);
    let again = format!("event joined {c_id} ");
    let generation = format!(" {}", c2.generation);
    assert!(
        a.wait_line(|l| l.starts_with(&again) && l.ends_with(&generation), limit)
            .is_some(),
        "a never saw c back with its new generation"
    );

    // A graceful leave is reported as such.
    let b_id = b.node_id.clone();
    b.send("leave");
    assert!(
        a.wait_event("left", &b_id, limit).is_some(),
        "a never saw b leave"
    );
    let status = b.child.wait().unwrap();
    assert!(status.success());
}
