//! Beyond one machine, by simulation: the deterministic simulator (`tests/sim`) at 100 and 1,000
//! nodes by default (`BIZRA_SIM_SIZES=100,1000,5000` for more: every node signs and verifies real
//! datagrams in this one process, so the cost grows with N², about 5 minutes at 1,000 on 2 cores
//! and hours at 5,000), LAN timings, no loss. For each N: the protocol periods a new member's join
//! takes to reach every member, and the datagrams each member sends per period meanwhile.
//! SWIM's promise: dissemination grows with log N, the load per member stays constant.

#[path = "../tests/sim/mod.rs"]
mod sim;

use std::time::Instant;

use bizra_federation::{MemberState, MembershipConfig};
use sim::{Sim, T0};

fn main() {
    if std::env::args()
        .skip(1)
        .any(|a| !a.starts_with('-') && !"simulation".contains(a.as_str()))
    {
        return;
    }
    let sizes: Vec<usize> = std::env::var("BIZRA_SIM_SIZES")
        .ok()
        .map(|s| s.split(',').filter_map(|n| n.parse().ok()).collect())
        .unwrap_or_else(|| vec![100, 1000]);
    println!("bench simulation: deterministic SWIM over signed datagrams, LAN timings, no loss");
    println!(
        "{:>6} {:>22} {:>26} {:>10}",
        "N", "join reaches all (periods)", "datagrams/member/period", "wall (s)"
    );
    for n in sizes {
        let wall = Instant::now();
        let mut cfg = MembershipConfig::new("bench");
        cfg.expected_members = n as u32;
        let period = cfg.timings.probe_period.as_millis() as i64;
        let mut s = Sim::new(n as u64, cfg);
        for _ in 0..n {
            s.add();
        }
        // Members join through a few seeds, spread over the first seconds.
        let seeds: Vec<usize> = (0..n.min(5)).collect();
        for i in 0..n {
            let at = T0 + (i as i64 * 10_000 / n as i64);
            s.run_until(at.max(s.now));
            s.join(i, &seeds);
        }
        if s.run_until_converged(300_000).is_none() {
            println!("{n:>6} did not converge within 300 virtual seconds");
            continue;
        }
        let joiner = s.add();
        let sent_before = s.sent;
        let start = s.now;
        s.join(joiner, &seeds);
        let key = s.keys[joiner];
        let mut reached = None;
        while s.now - start < 120_000 {
            s.run_for_ms(period / 10);
            let all = s.live().filter(|(i, _)| *i != joiner).all(|(_, node)| {
                node.membership
                    .member(&key)
                    .is_some_and(|m| m.state == MemberState::Alive)
            });
            if all {
                reached = Some(s.now - start);
                break;
            }
        }
        let elapsed = (s.now - start).max(1);
        let per_member =
            (s.sent - sent_before) as f64 / (n + 1) as f64 / (elapsed as f64 / period as f64);
        match reached {
            Some(ms) => println!(
                "{n:>6} {:>22.1} {per_member:>26.1} {:>10.0}",
                ms as f64 / period as f64,
                wall.elapsed().as_secs_f64()
            ),
            None => println!(
                "{n:>6} {:>22} {per_member:>26.1} {:>10.0}",
                "> 120",
                wall.elapsed().as_secs_f64()
            ),
        }
    }
}
