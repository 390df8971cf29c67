//! Soak: bounded in time, everything at once, with faults injected, then checks that nothing
//! grew and nothing died.
//!
//! For `BIZRA_SOAK_SECONDS` (default 30; `make soak` runs 600):
//! - generation threads, more than the engine's queue holds, ask the real SmolLM2 model
//!   (`make model`, or BIZRA_TEST_MODEL) for short answers, some streamed and some cancelled
//!   mid-stream, through an engine whose queue is small, so that some are refused `BUSY`;
//! - a verifier checks every envelope produced (signature, gate chain, replay cache: a second
//!   admission is a replay) and a tampered copy of it (refused);
//! - a proposer submits `bizra.proposal` envelopes to a federation of four validators on
//!   loopback, which gossip (SWIM) and decide them (BFT);
//! - a fault injector sends each node junk, truncated, foreign-federation and replayed
//!   datagrams, and crashes one validator (no goodbye) and restarts it from its data directory
//!   every `CRASH_EVERY`.
//!
//! Checked: (a) every request was answered, with a result or a clear error (`BUSY` and nothing
//! else), none waited past `ANSWER_WITHIN`; (b) memory stays flat: VmRSS after the warm-up and at
//! the end differ by at most `RSS_GROWTH_LIMIT`; (c) afterwards every node runs, sees the others
//! alive, and decides a new proposal, and the engine serves. What it did is printed.

#[path = "../../bizra-runtime/tests/cluster/mod.rs"]
mod cluster;
#[path = "../../bizra-inference/tests/support/pool_server.rs"]
mod pool_server;

use std::collections::BTreeMap;
use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use bizra::federation::MemberState;
use bizra::{
    Engine, EngineOptions, Envelope, ErrorKind, GateChain, GenerateRequest, Identity, Node,
    ReplayCache, VerifyOptions,
};
use cluster::{eventually, next_decision, proposal, Cluster};

/// Threads asking for generations: more than the queue holds, so that some are refused.
const GENERATORS: usize = 6;
/// The engine's queue in this test (the default is larger).
const QUEUE: u32 = 3;
/// Validators in the federation (3 are a quorum, so one may be down).
const VALIDATORS: usize = 4;
/// How often a validator is crashed and restarted.
const CRASH_EVERY: Duration = Duration::from_secs(8);
/// The longest any request may wait for its answer (a full queue of short answers drains in a
/// few seconds on two cores).
const ANSWER_WITHIN: Duration = Duration::from_secs(60);
/// How much VmRSS may grow between the end of the warm-up and the end. Generous against the
/// allocator's noise on a busy 2-core machine, yet a leak of a request's worth (prompt, answer,
/// envelope, stream channel: a few KiB) per request shows in a 600 s run, and a leak of a context
/// or a thread per request in any run.
const RSS_GROWTH_LIMIT: u64 = 64 << 20;

fn soak_duration() -> Duration {
    let secs = std::env::var("BIZRA_SOAK_SECONDS")
        .ok()
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse::<u64>()
                .unwrap_or_else(|_| panic!("BIZRA_SOAK_SECONDS={s:?}: a whole number of seconds"))
        })
        .unwrap_or(30);
    Duration::from_secs(secs.max(5))
}

/// This process's resident set, in bytes (Linux /proc/self/status).
fn rss() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    let kib = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .expect("a VmRSS line");
    kib * 1024
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1 << 20) as f64
}

/// Outcomes counted by name, and the longest wait for an answer.
#[derive(Default)]
struct Tally {
    counts: Mutex<BTreeMap<String, u64>>,
    slowest_ms: AtomicU64,
}

impl Tally {
    fn add(&self, what: impl Into<String>, waited: Duration) {
        *self.counts.lock().unwrap().entry(what.into()).or_insert(0) += 1;
        self.slowest_ms
            .fetch_max(waited.as_millis() as u64, Ordering::Relaxed);
    }

    fn get(&self, what: &str) -> u64 {
        self.counts.lock().unwrap().get(what).copied().unwrap_or(0)
    }

    fn total(&self) -> u64 {
        self.counts.lock().unwrap().values().sum()
    }

    fn print(&self, title: &str) {
        let counts = self.counts.lock().unwrap();
        let parts: Vec<String> = counts.iter().map(|(k, v)| format!("{k} {v}")).collect();
        eprintln!(
            "soak: {title}: {} (slowest answer {} ms)",
            parts.join(", "),
            self.slowest_ms.load(Ordering::Relaxed)
        );
    }
}

/// One generation, as a caller would make it: whole, streamed to the end, or streamed and
/// dropped after the first piece (a cancellation).
fn generate(engine: &Engine, id: &Identity, n: u64) -> Result<Option<Envelope>, bizra::Error> {
    let request = GenerateRequest::chat(format!("Say a word about the number {n}."))
        .max_tokens(6)
        .seed(n as u32);
    match n % 3 {
        0 => engine.generate(id, &request).map(Some),
        1 => {
            let mut stream = engine.stream(&request)?;
            let pieces: String = stream.by_ref().collect();
            let completion = stream.finish()?;
            assert_eq!(pieces, completion.text, "streamed pieces are the text");
            Ok(None)
        }
        _ => {
            let mut stream = engine.stream(&request)?;
            let _first = stream.next();
            drop(stream); // cancels it
            Ok(None)
        }
    }
}

/// Junk, truncated, foreign and replayed datagrams, for every node.
struct Injector {
    socket: UdpSocket,
    /// Real datagrams captured from a node that took this socket for a seed.
    captured: Vec<Vec<u8>>,
    x: u64,
}

impl Injector {
    fn new() -> Self {
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        socket.set_nonblocking(true).unwrap();
        Injector {
            socket,
            captured: Vec::new(),
            x: 0x9e37_79b9_7f4a_7c15,
        }
    }

    fn next(&mut self) -> u64 {
        self.x ^= self.x << 13;
        self.x ^= self.x >> 7;
        self.x ^= self.x << 17;
        self.x
    }

    /// Sends one round of faults to `to`; returns how many datagrams.
    fn round(&mut self, to: &[SocketAddr]) -> u64 {
        let mut buf = [0u8; 2048];
        while let Ok((n, _)) = self.socket.recv_from(&mut buf) {
            if self.captured.len() < 64 {
                self.captured.push(buf[..n].to_vec());
            }
        }
        let mut sent = 0;
        for addr in to {
            let len = (self.next() % 1500) as usize;
            let junk: Vec<u8> = (0..len).map(|_| self.next() as u8).collect();
            let mut datagrams = vec![junk];
            let pick = self.next() as usize % self.captured.len().max(1);
            if let Some(real) = self.captured.get(pick).cloned() {
                // A replay, a truncation, a flipped bit (a forgery), a foreign federation.
                let cut = real.len() / 2;
                let mut flipped = real.clone();
                let i = (self.next() as usize) % flipped.len().max(1);
                if let Some(b) = flipped.get_mut(i) {
                    *b ^= 1;
                }
                let mut foreign = real.clone();
                if let Some(b) = foreign.get_mut(8) {
                    *b ^= 0xff;
                }
                datagrams.extend([real[..cut].to_vec(), flipped, foreign, real]);
            }
            for d in datagrams {
                if self.socket.send_to(&d, addr).is_ok() {
                    sent += 1;
                }
            }
        }
        sent
    }
}

#[test]
fn soak_generations_verifications_and_gossip_with_faults() {
    let duration = soak_duration();
    let warm_up = (duration / 5).max(Duration::from_secs(3));
    let engine = Engine::load(
        pool_server::model(),
        EngineOptions {
            n_ctx: 512,
            n_threads: Some(1),
            max_queued: QUEUE,
            ..EngineOptions::default()
        },
    )
    .expect("the test model loads");
    let id = Arc::new(Identity::generate());
    let mut injector = Injector::new();
    let mut cluster = Cluster::start(VALIDATORS);
    // One more member that takes the injector for a seed, so that it sends the injector real
    // datagrams to replay; it is no validator, so consensus goes on without it.
    let follower_dir = tempfile::tempdir().unwrap();
    let mut follower_cfg = cluster::config(
        &cluster.doc,
        follower_dir.path(),
        &[cluster.seed, injector.socket.local_addr().unwrap()],
    );
    follower_cfg.consensus = None;
    let follower = Node::start(Arc::new(Identity::generate()), follower_cfg).unwrap();
    assert!(
        eventually(Duration::from_secs(20), || cluster
            .running()
            .all(|n| n.members().len() >= VALIDATORS)),
        "the federation formed"
    );

    let stop = Arc::new(AtomicBool::new(false));
    let generations = Arc::new(Tally::default());
    let verifications = Arc::new(Tally::default());
    let (produced, to_verify) = mpsc::sync_channel::<Envelope>(256);

    let generators: Vec<_> = (0..GENERATORS)
        .map(|g| {
            let (engine, id, stop, tally, produced) = (
                engine.clone(),
                id.clone(),
                stop.clone(),
                generations.clone(),
                produced.clone(),
            );
            std::thread::spawn(move || {
                let mut n = g as u64;
                while !stop.load(Ordering::Acquire) {
                    let asked = Instant::now();
                    match generate(&engine, &id, n) {
                        Ok(envelope) => {
                            tally.add("ok", asked.elapsed());
                            if let Some(e) = envelope {
                                let _ = produced.try_send(e);
                            }
                        }
                        Err(e) => {
                            tally.add(e.kind().name(), asked.elapsed());
                            if e.kind() == ErrorKind::Busy {
                                // A caller backs off before asking again.
                                std::thread::sleep(Duration::from_millis(50));
                            }
                        }
                    }
                    n += GENERATORS as u64;
                }
            })
        })
        .collect();
    drop(produced);

    let verifier = {
        let tally = verifications.clone();
        std::thread::spawn(move || {
            let gates = GateChain::default();
            let replay = ReplayCache::new(ReplayCache::DEFAULT_CAPACITY).unwrap();
            for e in to_verify {
                let started = Instant::now();
                let opts = VerifyOptions {
                    replay: Some(&replay),
                    ..VerifyOptions::default()
                };
                let first = e.verify(&opts);
                tally.add(
                    if first.is_ok() { "verified" } else { "refused" },
                    started.elapsed(),
                );
                assert!(first.is_ok(), "a produced envelope verifies: {first:?}");
                let again = e.verify(&opts).unwrap_err();
                assert_eq!(again.reject_code().map(|c| c.name()), Some("REPLAY"));
                tally.add("replay refused", started.elapsed());
                // The gate chain judges the measured scores: admitted or refused, never stuck.
                let report = gates.check(&e);
                tally.add(
                    if report.passed {
                        "gates admitted"
                    } else {
                        "gates refused"
                    },
                    started.elapsed(),
                );
                let tampered = e
                    .to_json()
                    .replacen("\"payload\":{", "\"payload\":{\"x\":1,", 1);
                assert_ne!(tampered, e.to_json());
                let refused = Envelope::open(&tampered, &VerifyOptions::default()).is_err();
                assert!(refused, "a tampered envelope is refused");
                tally.add("tampered refused", started.elapsed());
            }
        })
    };

    let proposals = Tally::default();
    let started = Instant::now();
    let mut rss_warm = None;
    let mut next_crash = started + CRASH_EVERY;
    let mut crashed: Option<usize> = None;
    let mut faults_sent = 0u64;
    let mut crashes = 0u64;
    let proposer = Identity::generate();
    let mut n = 0u64;
    while started.elapsed() < duration {
        if rss_warm.is_none() && started.elapsed() >= warm_up {
            rss_warm = Some((rss(), generations.total()));
        }
        // Gossip traffic with faults.
        let mut addrs: Vec<SocketAddr> = cluster.running().map(Node::local_addr).collect();
        addrs.push(follower.local_addr());
        faults_sent += injector.round(&addrs);
        // Consensus traffic: a proposal to a running validator.
        let node = cluster
            .running()
            .nth((n as usize) % cluster.running().count())
            .unwrap();
        let asked = Instant::now();
        match node.propose(proposal(&proposer, n)) {
            Ok(_) => proposals.add("pooled", asked.elapsed()),
            Err(e) => proposals.add(e.kind().name(), asked.elapsed()),
        }
        n += 1;
        // A crash (no goodbye), then a restart from the data directory.
        if Instant::now() >= next_crash {
            match crashed.take() {
                None => {
                    let victim = 1 + (crashes as usize % (VALIDATORS - 1));
                    if let Some(node) = cluster.nodes[victim].take() {
                        node.stop();
                    }
                    crashed = Some(victim);
                    crashes += 1;
                }
                Some(victim) => cluster.restart(victim),
            }
            next_crash = Instant::now() + CRASH_EVERY / 2;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    stop.store(true, Ordering::Release);
    for g in generators {
        g.join().expect("a generator panicked");
    }
    verifier.join().expect("the verifier found a wrong verdict");
    if let Some(victim) = crashed.take() {
        cluster.restart(victim);
    }
    let rss_end = rss();
    let (rss_warm, warm_requests) = rss_warm.expect("the run outlasted its warm-up");

    // What it did.
    let requests = generations.total();
    eprintln!(
        "soak: {} s, {GENERATORS} generators on a queue of {QUEUE}, {VALIDATORS} validators + 1 member",
        duration.as_secs()
    );
    generations.print(&format!("{requests} generation requests"));
    verifications.print("verifications");
    proposals.print(&format!("{n} proposals"));
    let stats: Vec<String> = cluster
        .running()
        .chain([&follower])
        .map(|node| {
            let s = node.stats();
            format!(
                "recv {} dropped {} ({:?})",
                s.received,
                s.dropped.values().sum::<u64>(),
                s.dropped
            )
        })
        .collect();
    eprintln!("soak: {faults_sent} faulty datagrams sent, {crashes} crashes; nodes: {stats:?}");
    let growth = rss_end.saturating_sub(rss_warm);
    let after_warm = requests.saturating_sub(warm_requests).max(1);
    eprintln!(
        "soak: VmRSS {:.1} MiB after warm-up, {:.1} MiB at the end: {:+.1} MiB over {after_warm} requests ({} B per request; limit {:.0} MiB)",
        mib(rss_warm),
        mib(rss_end),
        (rss_end as f64 - rss_warm as f64) / (1 << 20) as f64,
        growth / after_warm,
        mib(RSS_GROWTH_LIMIT)
    );

    // (a) Every request was answered: a result or BUSY, nothing else, none too late.
    let answered = generations.get("ok") + generations.get("BUSY");
    assert_eq!(answered, requests, "only results and BUSY");
    assert!(generations.get("ok") > 0, "some generations were served");
    assert!(
        Duration::from_millis(generations.slowest_ms.load(Ordering::Relaxed)) < ANSWER_WITHIN,
        "an answer took too long"
    );
    assert!(
        verifications.get("verified") > 0,
        "some envelopes were verified"
    );
    assert_eq!(verifications.get("refused"), 0);
    let pooled = proposals.get("pooled") + proposals.get("BUSY");
    assert_eq!(pooled, n, "every proposal was pooled or refused BUSY");
    // The faults were seen and dropped, and counted.
    let dropped: u64 = cluster
        .running()
        .map(|node| node.stats().dropped.values().sum::<u64>())
        .sum();
    assert!(
        dropped > 0,
        "the injected datagrams were dropped and counted"
    );

    // (b) Memory stayed flat.
    assert!(
        growth <= RSS_GROWTH_LIMIT,
        "VmRSS grew by {:.1} MiB after the warm-up",
        mib(growth)
    );

    // (c) Everything is live afterwards.
    assert!(cluster.running().all(Node::is_running));
    assert!(
        eventually(Duration::from_secs(30), || cluster.running().all(|node| {
            node.members()
                .iter()
                .filter(|m| m.state == MemberState::Alive)
                .count()
                >= VALIDATORS - 1
        })),
        "every validator sees the others alive"
    );
    let events = cluster.node(0).consensus_events();
    let last = proposal(&proposer, 1 << 40);
    let deadline = Instant::now() + Duration::from_secs(60);
    while cluster.node(0).propose(last.clone()).is_err() {
        assert!(Instant::now() < deadline, "the pool never made room");
        std::thread::sleep(Duration::from_millis(100));
    }
    let mut decided = false;
    while !decided && Instant::now() < deadline {
        if let Some((_, batch)) = next_decision(&events, Duration::from_secs(5)) {
            decided = batch.envelopes().iter().any(|e| e.id() == last.id());
        }
    }
    assert!(decided, "a new proposal is decided after the soak");
    let served = engine
        .generate(&id, &GenerateRequest::chat("Hi.").max_tokens(4))
        .expect("the engine serves after the soak");
    served.verify(&VerifyOptions::default()).unwrap();
    follower.stop();
}
