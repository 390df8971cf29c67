//! A consensus link opened by hand, for the suites that play a peer the nodes do not control.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};

use bizra_federation::MembershipConfig;
use bizra_protocol::hash::Domain;
use bizra_protocol::Identity;

use crate::cluster::FEDERATION;

/// One consensus link to the node at `addr`, opened by hand (as an adversary or a stalled peer
/// would): `BZL1` hello both ways, then each end's signature over
/// federation id ‖ own key ‖ other key ‖ other's nonce under `bizra-link-v1:`.
pub fn open_link(addr: SocketAddr, id: &Identity, peer: &[u8; 32], nonce: u8) -> TcpStream {
    let federation = MembershipConfig::federation_id(FEDERATION);
    let mut s = TcpStream::connect(addr).expect("the node listens on TCP");
    s.set_nodelay(true).unwrap();
    let mut hello = b"BZL1".to_vec();
    hello.extend_from_slice(&federation);
    hello.extend_from_slice(id.public_key());
    hello.extend_from_slice(&[nonce; 32]);
    s.write_all(&hello).unwrap();
    let mut theirs = [0u8; 100];
    s.read_exact(&mut theirs).expect("the node's hello");
    assert_eq!(&theirs[36..68], peer, "not the node dialed");
    let signed = [&federation[..], id.public_key(), peer, &theirs[68..100]].concat();
    s.write_all(&id.sign_in(Domain::Link, &signed)).unwrap();
    let mut auth = [0u8; 64];
    s.read_exact(&mut auth)
        .expect("the node's proof of its key");
    s
}
