//! A GOSSIP-v1 datagram from the network: its structure read, then its signature checked
//! against the sender it names. Nothing may panic.
#![no_main]

use bizra_federation::datagram;
use bizra_protocol::identity::PeerKey;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(unverified) = datagram::parse(data) else {
        return;
    };
    if let Some(key) = PeerKey::from_bytes(&unverified.header.sender) {
        let _ = unverified.verify(&key);
    }
});
