//! Rounds, messages and time per decision for n = 4, 16, 64 and 128 validators, by simulation:
//! the real engine (real signatures, real Malachite core) over the deterministic simulated
//! network of `tests/sim`, under a stated latency model. `cargo bench -p bizra-consensus
//! --bench consensus_sim` prints the table (`-- 4 16` picks sizes).

#[path = "../tests/sim/mod.rs"]
mod harness;

use std::time::Instant;

use bizra_consensus::Timeouts;
use harness::{Net, Role, Sim};

/// One-way delay uniform in 20–80 ms (a continent), with and without 1% loss, and with the
/// most silent validators the federation tolerates (f = ⌊(n − 1)/3⌋, every third one, so that
/// their turns to propose come up and time out).
const MODELS: [(&str, (u64, u64), f64, bool); 3] = [
    ("20-80 ms", (20, 80), 0.0, false),
    ("20-80 ms, 1% loss", (20, 80), 0.01, false),
    ("20-80 ms, f silent", (20, 80), 0.0, true),
];

fn main() {
    let sizes: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let sizes = if sizes.is_empty() {
        vec![4, 16, 64, 128]
    } else {
        sizes
    };
    println!(
        "timeouts: the document's defaults (propose 1 s, prevote and precommit 0.5 s, +0.25 s a \
         round, rebroadcast 1 s); every validator of power 1; 20 proposals submitted over the \
         first second; a decided height starts the next at once"
    );
    println!();
    println!("| n | network | heights | rounds/decision | messages/decision | per validator | KiB/decision | decision p50 | decision max | sim wall |");
    println!("|---|---|---|---|---|---|---|---|---|---|");
    for &n in &sizes {
        for (name, delay, loss, silent) in MODELS {
            let heights = if n <= 16 { 10 } else { 4 };
            let f = (n - 1) / 3;
            let roles: Vec<Role> = (0..n)
                .map(|i| {
                    if silent && i % 3 == 1 && i / 3 < f {
                        Role::Silent
                    } else {
                        Role::Honest
                    }
                })
                .collect();
            let net = Net {
                delay_ms: delay,
                loss,
                partitions: Vec::new(),
            };
            let start = Instant::now();
            let mut s = Sim::with_timeouts(7, &roles, net, heights, Timeouts::default());
            s.submit_random(20, 1_000);
            let done = s.run_until(600_000, Sim::all_decided);
            assert!(done, "n = {n}, {name}: not all decided");
            s.check_safety();
            let wall = start.elapsed();
            let first = &s.nodes[0].decided;
            // Node 0 is always honest (the silent are 1, 4, 7, ...).
            let rounds: f64 = first
                .values()
                .map(|(c, _)| f64::from(c.round() + 1))
                .sum::<f64>()
                / heights as f64;
            // Time each honest node took per height (from deciding the previous one).
            let mut spans: Vec<u64> = Vec::new();
            for node in s.nodes.iter().filter(|n| n.role == Role::Honest) {
                let mut prev = 0;
                for &at in node.decided_at.values() {
                    spans.push(at - prev);
                    prev = at;
                }
            }
            spans.sort_unstable();
            let p50 = spans[spans.len() / 2];
            let max = spans[spans.len() - 1];
            let per = s.messages as f64 / heights as f64;
            println!(
                "| {n} | {name} | {heights} | {rounds:.2} | {per:.0} | {:.1} | {:.0} | {p50} ms | {max} ms | {:.1} s |",
                per / n as f64,
                s.bytes as f64 / heights as f64 / 1024.0,
                wall.as_secs_f64()
            );
        }
    }
}
