//! RFC 8785 over I-JSON from outside bytes: what bizra's parser accepts, serde_json accepts with
//! the same value; the canonical text parses back to the same value and is its own canonical
//! form. Nothing may panic.
#![no_main]

use bizra_protocol::canonical;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(value) = canonical::parse_bytes(data) else {
        return;
    };
    let mut theirs: serde_json::Value = serde_json::from_slice(data)
        .unwrap_or_else(|e| panic!("bizra accepted what serde_json refuses ({e})"));
    canonical::normalize(&mut theirs);
    let mut ours = value.clone();
    canonical::normalize(&mut ours);
    assert_eq!(ours, theirs, "bizra and serde_json read different values");
    let Ok(text) = canonical::to_string(&value) else {
        return;
    };
    let back = canonical::parse(&text).expect("canonical text parses");
    assert_eq!(
        canonical::to_string(&back).unwrap(),
        text,
        "not a fixed point"
    );
});
