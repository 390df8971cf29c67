//! A commit certificate from outside (another node, a file, an API client): read, checked against
//! the vectors' federation document, then against each of their batches. Nothing may panic.
#![no_main]

#[path = "../support/vectors.rs"]
mod vectors;

use bizra_consensus::Certificate;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(certificate) = Certificate::from_json(text) else {
        return;
    };
    let f = vectors::fixtures();
    let _ = certificate.verify(&f.document);
    for batch in &f.batches {
        let _ = certificate.verify_batch(batch, &f.document);
    }
    let again = Certificate::from_json(&certificate.to_json()).expect("a certificate's JSON reads");
    assert_eq!(again.to_json(), certificate.to_json());
});
