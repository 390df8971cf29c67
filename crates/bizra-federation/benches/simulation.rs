//! Beyond one machine, by simulation: the deterministic simulator (`tests/sim`) at 100 and 1,000
//! nodes by default (`BIZRA_SIM_SIZES=100,1000,5000` for more: every node signs and verifies real
//! datagrams in this one process, and every node keeps every other, so memory grows with N²:
//! about 0.6 GB at 1,000; 13 GB and 8 minutes on one core at 5,000), LAN timings, no loss. The
//! federation starts converged (`Membership::restore`: thousands of joins would only measure the joins), runs ten
//! periods, then a new member joins through five seeds. For each N: the protocol periods its join
//! takes to reach every member, and the datagrams each member sends per period meanwhile.
//! SWIM's promise: dissemination grows with log N, the load per member stays constant.

#[path = "../tests/sim/mod.rs"]
mod sim;

use std::time::Instant;

use bizra_federation::{MemberState, MembershipConfig};
use sim::Sim;

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
        // Nobody reads the events here; N² of them would hold gigabytes at N = 5,000.
        s.keep_events = false;
        for _ in 0..n {
            s.add();
        }
        // The federation starts converged (each member given the others' identities), then
        // runs ten periods so that probes and gossip reach their steady state.
        s.restore_all();
        s.run_for_ms(10 * period);
        if !s.converged() {
            println!("{n:>6} lost convergence before the join");
            continue;
        }
        let seeds: Vec<usize> = (0..n.min(5)).collect();
        let joiner = s.add();
        let sent_before = s.sent;
        let start = s.now;
        s.join(joiner, &seeds);
        let key = s.keys[joiner];
        let mut reached = None;
        while s.now - start < 120_000 {
            s.run_for_ms(period / 10);
            let all = s
                .live()
                .filter(|(i, _)| *i != joiner)
                .all(|(_, node)| node.membership.state_of(&key) == Some(MemberState::Alive));
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
