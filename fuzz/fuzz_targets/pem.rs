//! A key file from outside bytes: PKCS#8 PEM, plain or encrypted (the round count a file may ask
//! for is bounded, so a hostile file cannot tie up the CPU). Nothing may panic; a key that loads
//! signs and verifies.
#![no_main]

use bizra_protocol::{verify_message, Identity};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    for passphrase in [None, Some("fuzz")] {
        if let Ok(id) = Identity::from_pem(text, passphrase) {
            let sig = id.sign_message(b"fuzz");
            assert!(verify_message(id.public_key(), b"fuzz", &sig));
        }
    }
});
