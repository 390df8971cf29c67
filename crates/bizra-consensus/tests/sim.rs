//! The engine in a deterministic simulated federation: agreement, validity and liveness over
//! many seeds, with delay, loss, reordering, partitions, crashes and Byzantine validators.

#[path = "sim/mod.rs"]
mod harness;

use harness::{Net, Role, Sim};

#[test]
fn four_honest_validators_decide() {
    let mut s = Sim::new(1, &[Role::Honest; 4], Net::default(), 5);
    s.submit_random(10, 500);
    assert!(s.run_until(60_000, Sim::all_decided), "not all decided by 60 s");
    s.check_safety();
    let decided: usize = s.nodes[0].decided.values().map(|(_, b)| b.envelopes().len()).sum();
    println!("decided at {} ms, {} proposals, {} messages", s.now_ms, decided, s.messages);
}
