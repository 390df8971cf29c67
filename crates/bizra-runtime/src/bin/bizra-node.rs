//! `bizra-node`: one federation member as an OS process, for demos and for the tests that run a
//! federation across processes (kill -9 included). The `bizra` program (to come) will carry the
//! full command line; this one is deliberately small.
//!
//! ```text
//! bizra-node --bind 127.0.0.1:7946 [--seed HOST:PORT]... [--federation NAME]
//!            [--key FILE] [--data-dir DIR] [--fast] [--document FILE]
//! ```
//!
//! Prints `ready <node id> <address> <generation>`, then a line per membership event:
//! `event <kind> <node id> <state> <address> <generation>`. Reads commands on stdin: `members`
//! (prints `member <node id> <state> <address>` lines, then `end`), `leave` (leaves gracefully
//! and exits); end of input also leaves. `--key` keeps the node key in a file (created if
//! missing), so that a restarted process is the same node; `--fast` uses 100 ms probes.
//!
//! With `--document` (a federation document's JSON; the federation name is taken from it, and
//! `--data-dir` is needed) the node takes part in consensus under the default gate chain. It
//! then also prints `decided <height> <round> <value id> <proposals>` for each decision and
//! `evidence <validator> <height> <round> <step>` for each equivocation, and reads
//! `propose <envelope JSON>` (prints `proposed <envelope id> <new|known>` or `error ...`),
//! `certificate <height>` (prints the certificate's JSON on one line, or `none`) and `status`
//! (`status <height> <round> <decided> <pending> <linked>`).

use std::io::{BufRead, Write};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use bizra_consensus::FederationDocument;
use bizra_protocol::{Envelope, GateChain, Identity};
use bizra_runtime::{ConsensusConfig, ConsensusEvent, Node, NodeConfig, Timings};

fn usage(problem: &str) -> ExitCode {
    eprintln!("bizra-node: {problem}");
    eprintln!(
        "usage: bizra-node --bind ADDR [--seed HOST:PORT]... [--federation NAME] [--key FILE] \
         [--data-dir DIR] [--fast] [--document FILE]"
    );
    ExitCode::from(2)
}

fn main() -> ExitCode {
    let mut config = NodeConfig::default();
    let mut key_file = None;
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let mut value = |name: &str| args.next().ok_or_else(|| format!("{name} needs a value"));
        let step = match flag.as_str() {
            "--bind" => value("--bind").and_then(|v| {
                v.parse()
                    .map(|a| config.bind = a)
                    .map_err(|e| format!("--bind {v}: {e}"))
            }),
            "--seed" => value("--seed").map(|v| config.seeds.push(v)),
            "--federation" => value("--federation").map(|v| config.federation = v),
            "--key" => value("--key").map(|v| key_file = Some(v)),
            "--data-dir" => value("--data-dir").map(|v| config.data_dir = Some(v.into())),
            "--document" => value("--document").and_then(|v| {
                let text = std::fs::read_to_string(&v).map_err(|e| format!("{v}: {e}"))?;
                let document =
                    FederationDocument::from_json(&text).map_err(|e| format!("{v}: {e}"))?;
                config.federation = document.federation().to_owned();
                config.consensus = Some(ConsensusConfig {
                    document: Arc::new(document),
                    gates: Arc::new(GateChain::default()),
                });
                Ok(())
            }),
            "--fast" => {
                config.timings = Timings {
                    probe_period: Duration::from_millis(100),
                    probe_rtt: Duration::from_millis(40),
                    suspect_to_down_after: Duration::from_millis(500),
                    gossip_interval: Duration::from_millis(30),
                    rejoin_interval: Duration::from_millis(500),
                    announce_interval: Duration::from_secs(2),
                    ..Timings::default()
                };
                Ok(())
            }
            other => Err(format!("unknown argument {other:?}")),
        };
        if let Err(problem) = step {
            return usage(&problem);
        }
    }
    let identity = match key_file {
        None => Identity::generate(),
        Some(path) => match Identity::load(&path, None) {
            Ok(id) => id,
            Err(_) if !std::path::Path::new(&path).exists() => {
                let id = Identity::generate();
                if let Err(e) = id.save(&path, None) {
                    eprintln!("bizra-node: {e}");
                    return ExitCode::FAILURE;
                }
                id
            }
            Err(e) => {
                eprintln!("bizra-node: {e}");
                return ExitCode::FAILURE;
            }
        },
    };
    let node = match Node::start(Arc::new(identity), config) {
        Ok(n) => n,
        Err(e) => {
            eprintln!("bizra-node: {e}");
            return ExitCode::FAILURE;
        }
    };
    let out = std::sync::Mutex::new(std::io::stdout());
    let say = |line: String| {
        let mut o = out.lock().unwrap_or_else(|p| p.into_inner());
        let _ = writeln!(o, "{line}");
        let _ = o.flush();
    };
    say(format!(
        "ready {} {} {}",
        node.node_id(),
        node.advertised_addr(),
        node.generation()
    ));
    let events = node.subscribe();
    let decisions = node.consensus_events();
    std::thread::scope(|s| {
        s.spawn(|| {
            for e in decisions {
                say(match e {
                    ConsensusEvent::Decided { certificate, batch } => format!(
                        "decided {} {} {} {}",
                        certificate.height(),
                        certificate.round(),
                        certificate.value().to_hex(),
                        batch.envelopes().len()
                    ),
                    ConsensusEvent::Evidence(e) => format!(
                        "evidence {} {} {} {:?}",
                        e.validator, e.height, e.round, e.kind
                    ),
                });
            }
        });
        s.spawn(|| {
            for e in events {
                say(format!(
                    "event {} {} {} {} {}",
                    e.kind.name(),
                    e.member.node_id,
                    e.member.state.name(),
                    e.member.addr,
                    e.member.generation
                ));
            }
        });
        for line in std::io::stdin().lock().lines() {
            match line.as_deref().map(str::trim) {
                Ok("members") => {
                    for m in node.members() {
                        say(format!(
                            "member {} {} {}",
                            m.node_id,
                            m.state.name(),
                            m.addr
                        ));
                    }
                    say("end".into());
                }
                Ok("status") => match node.consensus_status() {
                    Some(c) => say(format!(
                        "status {} {} {} {} {}",
                        c.height, c.round, c.decided, c.pending, c.linked
                    )),
                    None => say("error no consensus (start with --document)".into()),
                },
                Ok(line) if line.starts_with("propose ") => {
                    let result = Envelope::parse(&line["propose ".len()..]).and_then(|e| {
                        let id = e.id().to_owned();
                        node.propose(e).map(|new| (id, new))
                    });
                    say(match result {
                        Ok((id, new)) => {
                            format!("proposed {id} {}", if new { "new" } else { "known" })
                        }
                        Err(e) => format!("error {e}"),
                    });
                }
                Ok(line) if line.starts_with("certificate ") => {
                    let height = line["certificate ".len()..].trim().parse::<u64>();
                    say(match height.map(|h| node.decided(h)) {
                        Ok(Ok(Some((certificate, _)))) => certificate.to_json(),
                        Ok(Ok(None)) => "none".into(),
                        Ok(Err(e)) => format!("error {e}"),
                        Err(e) => format!("error certificate <height>: {e}"),
                    });
                }
                Ok("leave") | Err(_) => break,
                Ok(_) => say(
                    "error unknown command (members, status, propose, certificate, leave)".into(),
                ),
            }
        }
        // Leaving stops the node, which ends the event stream and its printing thread.
        node.leave();
    });
    ExitCode::SUCCESS
}
