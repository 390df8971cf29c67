//! An envelope from outside bytes: parse, verify at a fixed instant (every one of PCI-v1's
//! steps), then the default gate chain, checked and admitted. Nothing may panic; a parsed
//! envelope's canonical text parses back to the same envelope.
#![no_main]

use bizra_protocol::pci::Timestamp;
use bizra_protocol::{Envelope, GateChain, VerifyOptions};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(envelope) = Envelope::parse(text) else {
        return;
    };
    let again = Envelope::parse(&envelope.to_json()).expect("a canonical envelope parses");
    assert_eq!(again.to_json(), envelope.to_json());
    // The vectors' instants, so that fresh envelopes reach the signature check.
    let now = envelope.timestamp();
    let _ = envelope.verify(&VerifyOptions::default().at(now));
    let _ = envelope.verify(&VerifyOptions::default().at(Timestamp::from_unix_millis(0).unwrap()));
    let chain = GateChain::default();
    let _ = chain.check_at(&envelope, now);
    let _ = chain.admit_at(&envelope, now);
    let _ = chain.admit_at(&envelope, now);
});
