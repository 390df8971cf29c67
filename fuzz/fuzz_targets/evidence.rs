//! Equivocation evidence from outside: two wire messages (CONSENSUS-v1) said to conflict, checked
//! against the vectors' document; the messages are decoded and their signatures checked. Input:
//! a byte choosing the validator, height (8 bytes), round (4), a byte choosing the step, the
//! first message's length (2 bytes, big-endian), the first message, then the second. Nothing may
//! panic.
#![no_main]

#[path = "../support/vectors.rs"]
mod vectors;

use bizra_consensus::engine::{Equivocation, EquivocationKind};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if data.len() < 16 {
        return;
    }
    let f = vectors::fixtures();
    let validators = f.document.validators();
    let validator = &validators[usize::from(data[0]) % validators.len()];
    let height = u64::from_be_bytes(data[1..9].try_into().unwrap());
    let round = u32::from_be_bytes(data[9..13].try_into().unwrap());
    let kind = match data[13] % 3 {
        0 => EquivocationKind::Proposal,
        1 => EquivocationKind::Prevote,
        _ => EquivocationKind::Precommit,
    };
    let len = usize::from(u16::from_be_bytes([data[14], data[15]]));
    let rest = &data[16..];
    let (first, second) = rest.split_at(len.min(rest.len()));
    let evidence = Equivocation {
        validator: validator.key_hex().to_owned(),
        height,
        round,
        kind,
        first: first.to_vec(),
        second: second.to_vec(),
    };
    let _ = evidence.verify(&f.document);
});
