//! A consensus message from a peer (CONSENSUS-v1 wire encoding), and the same bytes as a
//! write-ahead-log record. Nothing may panic, and the encoding is canonical: whatever decodes
//! encodes again (by the engine's own encoder) to the same bytes. A reader that holds the
//! envelopes of the vectors' batches (as a validator holds its pool) decodes exactly what a
//! reader holding none decodes, to the same message.
#![no_main]

#[path = "../support/vectors.rs"]
mod vectors;

use std::sync::OnceLock;

use bizra_consensus::engine::wire::{self, fuzzing};
use bizra_protocol::Envelope;
use libfuzzer_sys::fuzz_target;

fn held() -> &'static [Envelope] {
    static HELD: OnceLock<Vec<Envelope>> = OnceLock::new();
    HELD.get_or_init(|| {
        let batches = &vectors::fixtures().batches;
        batches
            .iter()
            .flat_map(|b| b.envelopes().iter().cloned())
            .collect()
    })
}

fuzz_target!(|data: &[u8]| {
    let document = &vectors::fixtures().document;
    let plain = fuzzing::message(data, document);
    let known = fuzzing::message_known(data, held(), document);
    match (&plain, &known) {
        (Ok(a), Ok(b)) => {
            assert_eq!(a, data, "a decoded message encodes to other bytes");
            assert_eq!(
                b, data,
                "a message decoded with known envelopes encodes to other bytes"
            );
        }
        (Err(_), Err(_)) => {}
        _ => panic!("known envelopes change the verdict: {plain:?} vs {known:?}"),
    }
    if plain.is_ok() {
        // Every message carries its height right after its kind, except a submission.
        let height = wire::height_of(data);
        assert_eq!(wire::is_submission(data), height.is_none());
    }
    if let Ok(record) = fuzzing::record(data) {
        let again = record.expect("a decoded record is one the log holds");
        assert_eq!(again, data, "a decoded record encodes to other bytes");
    }
});
