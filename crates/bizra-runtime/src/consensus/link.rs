//! Consensus links: authenticated TCP connections between the nodes of a federation.
//!
//! Consensus messages do not fit the membership's datagrams: a proposal carries a batch of up to
//! 8 MiB, and a vote lost to a full socket buffer costs a rebroadcast period. So a node also
//! listens on TCP, on the port number of its UDP socket (the address the membership
//! advertises), and every consensus message travels over a link: ordered, retransmitted by
//! TCP, with flow control.
//!
//! # Handshake
//!
//! Normative: `tests/vectors/LINK-v1.md`, whose vectors (computed without bizra's code) the
//! tests below reproduce. Both ends send, at once:
//!
//! ```text
//! hello  "BZL1" ‖ federation id (32) ‖ node key (32) ‖ nonce (32 random bytes)
//! ```
//!
//! and, once they have the other's hello, prove they hold their key:
//!
//! ```text
//! auth   Ed25519 signature (64) over BLAKE3("bizra-link-v1:" ‖ federation id ‖ own key
//!        ‖ other's key ‖ other's nonce)
//! ```
//!
//! The signature covers the other end's fresh nonce, so it cannot be replayed on another
//! connection, and both keys, so it cannot be relayed between two others. A hello of another
//! federation, of a key the federation does not admit, or (for the end that dialed) of a key
//! other than the one it dialed is refused, as is a link that does not complete in
//! [`HANDSHAKE_TIMEOUT`].
//!
//! # Frames
//!
//! ```text
//! length  4 bytes, big-endian: n (1 ≤ n ≤ MAX_FRAME)
//! kind    1 byte: 1 a consensus message (the engine's wire encoding), 2 a fetch
//! body    n − 1 bytes
//! ```
//!
//! A fetch asks for decided heights: `from` (8 bytes, big-endian) and `count` (4 bytes); the
//! answer is the decision messages of those heights the peer has, in order. A frame longer
//! than [`MAX_FRAME`], or of an unknown kind, ends the link.
//!
//! A link authenticates who is at the other end, so that only members spend a node's
//! bandwidth and answers reach who asked. What it carries needs no more: every vote, proposal
//! and decision is signed by its validator (CONSENSUS-v1), and the engine checks each. Links
//! are not encrypted: consensus messages are not secret.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bizra_consensus::engine::wire::MAX_MESSAGE_BYTES;
use bizra_federation::Admission;
use bizra_protocol::hash::Domain;
use bizra_protocol::identity::PeerKey;
use bizra_protocol::Identity;
use rand_core::{OsRng, RngCore as _};
use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWrite, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

const MAGIC: [u8; 4] = *b"BZL1";
const HELLO_LEN: usize = 4 + 32 + 32 + 32;
/// How long a link may take to connect and authenticate.
pub(crate) const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(5);
/// The longest frame: a consensus message and its kind byte.
pub(crate) const MAX_FRAME: usize = MAX_MESSAGE_BYTES + 1;
/// Frames waiting to be written to one link before more are dropped (and counted): a peer that
/// does not read cannot make this node hold more.
const WRITE_BACKLOG: usize = 1024;
/// Frames read from all links and not yet handled before readers wait (TCP then slows the
/// senders).
pub(crate) const READ_BACKLOG: usize = 1024;

/// What a frame carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    /// A consensus message.
    Message = 1,
    /// A request for decided heights.
    Fetch = 2,
}

/// A frame, ready to write.
pub(crate) fn frame(kind: Kind, body: &[u8]) -> Arc<[u8]> {
    let mut out = Vec::with_capacity(5 + body.len());
    out.extend_from_slice(&(1 + body.len() as u32).to_be_bytes());
    out.push(kind as u8);
    out.extend_from_slice(body);
    out.into()
}

/// A fetch's body.
pub(crate) fn fetch(from: u64, count: u32) -> Arc<[u8]> {
    let mut body = [0; 12];
    body[..8].copy_from_slice(&from.to_be_bytes());
    body[8..].copy_from_slice(&count.to_be_bytes());
    frame(Kind::Fetch, &body)
}

/// Reads a fetch's body: `(from, count)`.
pub(crate) fn parse_fetch(body: &[u8]) -> Option<(u64, u32)> {
    let body: &[u8; 12] = body.try_into().ok()?;
    let (from, count) = body.split_at(8);
    Some((
        u64::from_be_bytes(from.try_into().ok()?),
        u32::from_be_bytes(count.try_into().ok()?),
    ))
}

/// What the links tell the node.
#[derive(Debug)]
pub(crate) enum LinkEvent {
    /// A link is authenticated: frames for `key` may go to `tx`.
    Up {
        key: [u8; 32],
        id: u64,
        tx: mpsc::Sender<Arc<[u8]>>,
    },
    /// A frame arrived.
    Frame {
        key: [u8; 32],
        id: u64,
        kind: Kind,
        body: Vec<u8>,
    },
    /// The link ended (or never came up: `id` 0, after a dial).
    Down { key: [u8; 32], id: u64 },
}

/// What every link of a node shares.
pub(crate) struct Links {
    pub(crate) identity: Arc<Identity>,
    pub(crate) federation: [u8; 32],
    pub(crate) admission: Admission,
    pub(crate) events: mpsc::Sender<LinkEvent>,
    next_id: AtomicU64,
}

impl Links {
    pub(crate) fn new(
        identity: Arc<Identity>,
        federation: [u8; 32],
        admission: Admission,
        events: mpsc::Sender<LinkEvent>,
    ) -> Arc<Self> {
        Arc::new(Links {
            identity,
            federation,
            admission,
            events,
            next_id: AtomicU64::new(1),
        })
    }

    /// Accepts links until the node's runtime ends.
    pub(crate) async fn listen(self: Arc<Self>, listener: TcpListener) {
        loop {
            if let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(self.clone().run(stream, None));
            }
        }
    }

    /// Dials `key` at `addr`; reports [`LinkEvent::Down`] with id 0 if no link comes up.
    pub(crate) async fn dial(self: Arc<Self>, key: [u8; 32], addr: SocketAddr) {
        match tokio::time::timeout(HANDSHAKE_TIMEOUT, TcpStream::connect(addr)).await {
            Ok(Ok(stream)) => self.run(stream, Some(key)).await,
            _ => {
                let _ = self.events.send(LinkEvent::Down { key, id: 0 }).await;
            }
        }
    }

    async fn run(self: Arc<Self>, stream: TcpStream, expected: Option<[u8; 32]>) {
        let _ = stream.set_nodelay(true);
        let (mut read, mut write) = stream.into_split();
        let peer = tokio::time::timeout(
            HANDSHAKE_TIMEOUT,
            self.handshake(&mut read, &mut write, expected),
        )
        .await
        .ok()
        .flatten();
        let Some(key) = peer else {
            if let Some(key) = expected {
                let _ = self.events.send(LinkEvent::Down { key, id: 0 }).await;
            }
            return;
        };
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = mpsc::channel(WRITE_BACKLOG);
        if self
            .events
            .send(LinkEvent::Up { key, id, tx })
            .await
            .is_err()
        {
            return;
        }
        tokio::spawn(write_frames(write, rx));
        read_frames(read, key, id, &self.events).await;
        let _ = self.events.send(LinkEvent::Down { key, id }).await;
    }

    /// Runs the handshake with a fresh nonce; the authenticated peer's key, or `None`.
    async fn handshake(
        &self,
        read: &mut (impl AsyncRead + Unpin),
        write: &mut (impl AsyncWrite + Unpin),
        expected: Option<[u8; 32]>,
    ) -> Option<[u8; 32]> {
        let mut nonce = [0u8; 32];
        OsRng.fill_bytes(&mut nonce);
        self.handshake_with(read, write, expected, nonce).await
    }

    /// [`Links::handshake`] with `nonce` as this end's nonce.
    async fn handshake_with(
        &self,
        read: &mut (impl AsyncRead + Unpin),
        write: &mut (impl AsyncWrite + Unpin),
        expected: Option<[u8; 32]>,
        nonce: [u8; 32],
    ) -> Option<[u8; 32]> {
        let own = *self.identity.public_key();
        write
            .write_all(&hello(&self.federation, &own, &nonce))
            .await
            .ok()?;

        let mut theirs = [0u8; HELLO_LEN];
        read.read_exact(&mut theirs).await.ok()?;
        let (magic, rest) = theirs.split_at(4);
        let (federation, rest) = rest.split_at(32);
        let (key, their_nonce) = rest.split_at(32);
        let key: [u8; 32] = key.try_into().ok()?;
        if magic != MAGIC
            || federation != self.federation
            || key == own
            || expected.is_some_and(|e| e != key)
            || !self.admission.admits(&key)
        {
            return None;
        }
        let peer = PeerKey::from_bytes(&key)?;

        let auth = self.identity.sign_in(
            Domain::Link,
            &auth_bytes(&self.federation, &own, &key, their_nonce),
        );
        write.write_all(&auth).await.ok()?;
        let mut signature = [0u8; 64];
        read.read_exact(&mut signature).await.ok()?;
        peer.verify(
            Domain::Link,
            &auth_bytes(&self.federation, &key, &own, &nonce),
            &signature,
        )
        .then_some(key)
    }
}

/// A hello: magic ‖ federation id ‖ node key ‖ nonce.
fn hello(federation: &[u8; 32], key: &[u8; 32], nonce: &[u8; 32]) -> [u8; HELLO_LEN] {
    let mut out = [0u8; HELLO_LEN];
    out[..4].copy_from_slice(&MAGIC);
    out[4..36].copy_from_slice(federation);
    out[36..68].copy_from_slice(key);
    out[68..].copy_from_slice(nonce);
    out
}

/// What a link's auth signs: federation id ‖ signer's key ‖ other's key ‖ other's nonce.
fn auth_bytes(federation: &[u8; 32], signer: &[u8; 32], other: &[u8; 32], nonce: &[u8]) -> Vec<u8> {
    [&federation[..], signer, other, nonce].concat()
}

async fn write_frames(mut write: impl AsyncWrite + Unpin, mut rx: mpsc::Receiver<Arc<[u8]>>) {
    while let Some(frame) = rx.recv().await {
        if write.write_all(&frame).await.is_err() {
            return;
        }
    }
}

async fn read_frames(
    mut read: impl AsyncRead + Unpin,
    key: [u8; 32],
    id: u64,
    events: &mpsc::Sender<LinkEvent>,
) {
    while let Some((kind, body)) = read_frame(&mut read).await {
        let event = LinkEvent::Frame {
            key,
            id,
            kind,
            body,
        };
        if events.send(event).await.is_err() {
            return;
        }
    }
}

/// Reads one frame: its kind and body, or `None` where the link ends (the stream ended or
/// failed, or the frame is of an unknown kind or a length out of range).
async fn read_frame(read: &mut (impl AsyncRead + Unpin)) -> Option<(Kind, Vec<u8>)> {
    let mut head = [0u8; 5];
    read.read_exact(&mut head).await.ok()?;
    let n = u32::from_be_bytes([head[0], head[1], head[2], head[3]]) as usize;
    let kind = match head[4] {
        1 => Kind::Message,
        2 => Kind::Fetch,
        _ => return None,
    };
    if n == 0 || n > MAX_FRAME {
        return None;
    }
    let mut body = vec![0u8; n - 1];
    read.read_exact(&mut body).await.ok()?;
    Some((kind, body))
}

/// The handshake and the frame reader over any bytes, for the fuzz targets in `fuzz/` (the
/// `fuzzing` feature, off by default). Not part of the API: hidden from the docs, it may change
/// in any release.
#[cfg(feature = "fuzzing")]
pub mod fuzzing {
    use std::sync::OnceLock;

    use tokio::runtime::Runtime;

    use super::*;

    /// What one end of a link did with all that the other end sent.
    #[derive(Debug)]
    pub struct LinkRead {
        /// What this end wrote: its hello, then its auth if it accepted the other's hello.
        pub written: Vec<u8>,
        /// The other end, if it authenticated.
        pub peer: Option<[u8; 32]>,
        /// The frames read after an authenticated handshake, each as `(kind byte, body)`, until
        /// the input ended or a frame ended the link.
        pub frames: Vec<(u8, Vec<u8>)>,
    }

    /// Runs the handshake over `input` as the end holding `identity` in `federation`, admitting
    /// `admitted`, having dialed `expected` (if any), with `nonce` as its own; then, if the other
    /// end authenticated, reads frames from the rest of `input` as a link does.
    pub fn read_link(
        identity: Arc<Identity>,
        federation: [u8; 32],
        admitted: Admission,
        expected: Option<[u8; 32]>,
        nonce: [u8; 32],
        input: &[u8],
    ) -> LinkRead {
        static RUNTIME: OnceLock<Runtime> = OnceLock::new();
        let runtime = RUNTIME.get_or_init(|| {
            tokio::runtime::Builder::new_current_thread()
                .build()
                .expect("a current-thread runtime")
        });
        let (events, _) = mpsc::channel(1);
        let links = Links::new(identity, federation, admitted, events);
        runtime.block_on(async {
            let mut read = input;
            let mut written = Vec::new();
            let peer = links
                .handshake_with(&mut read, &mut written, expected, nonce)
                .await;
            let mut frames = Vec::new();
            if peer.is_some() {
                while let Some((kind, body)) = read_frame(&mut read).await {
                    frames.push((kind as u8, body));
                }
            }
            LinkRead {
                written,
                peer,
                frames,
            }
        })
    }

    /// A frame of `kind` (1 a message, 2 a fetch) as a link writes it; `None` for another kind.
    pub fn frame(kind: u8, body: &[u8]) -> Option<Vec<u8>> {
        let kind = match kind {
            1 => Kind::Message,
            2 => Kind::Fetch,
            _ => return None,
        };
        Some(super::frame(kind, body).to_vec())
    }

    /// A fetch frame, as a link writes it.
    pub fn fetch(from: u64, count: u32) -> Vec<u8> {
        super::fetch(from, count).to_vec()
    }

    /// A fetch's body read: `(from, count)`.
    pub fn parse_fetch(body: &[u8]) -> Option<(u64, u32)> {
        super::parse_fetch(body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(v: &serde_json::Value) -> Vec<u8> {
        let s = v.as_str().expect("a hex string");
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex"))
            .collect()
    }

    fn array<const N: usize>(v: &serde_json::Value) -> [u8; N] {
        hex(v).try_into().expect("the right length")
    }

    /// Every vector of LINK-v1, byte for byte: hellos, the auth each end signs (Ed25519 is
    /// deterministic), and frames.
    #[test]
    fn link_v1_vectors() {
        let v: serde_json::Value = serde_json::from_str(include_str!(
            "../../../../tests/vectors/link-v1-vectors.json"
        ))
        .unwrap();
        let federation = array::<32>(&v["federation"]["id"]);
        let end = |name: &str| {
            let e = &v["handshake"][name];
            let id = Identity::from_seed(&hex(&e["seed"])).unwrap();
            assert_eq!(id.public_key(), &array::<32>(&e["public_key"]));
            (id, array::<32>(&e["nonce"]), e)
        };
        let (a, a_nonce, va) = end("a");
        let (b, b_nonce, vb) = end("b");
        for (me, my_nonce, other, other_nonce, vector) in [
            (&a, a_nonce, &b, b_nonce, va),
            (&b, b_nonce, &a, a_nonce, vb),
        ] {
            let (own, theirs) = (*me.public_key(), *other.public_key());
            assert_eq!(
                hello(&federation, &own, &my_nonce)[..],
                hex(&vector["hello"])
            );
            let signed = auth_bytes(&federation, &own, &theirs, &other_nonce);
            assert_eq!(signed, hex(&vector["auth_signed"]));
            assert_eq!(
                bizra_protocol::hash::domain_hash(Domain::Link, &signed)[..],
                hex(&vector["auth_digest"])
            );
            let auth = me.sign_in(Domain::Link, &signed);
            assert_eq!(auth[..], hex(&vector["auth"]));
            // The other end checks it as the handshake does.
            let peer = PeerKey::from_bytes(&own).unwrap();
            assert!(peer.verify(Domain::Link, &signed, &auth));
            let mut forged = auth;
            forged[0] ^= 1;
            assert!(!peer.verify(Domain::Link, &signed, &forged));
        }
        let frames = v["frames"].as_array().unwrap();
        assert_eq!(
            frame(Kind::Message, &hex(&frames[0]["body"]))[..],
            hex(&frames[0]["frame"])
        );
        let (from, count) = (
            frames[1]["from"].as_u64().unwrap(),
            frames[1]["count"].as_u64().unwrap(),
        );
        assert_eq!(fetch(from, count as u32)[..], hex(&frames[1]["frame"]));
        assert_eq!(
            parse_fetch(&hex(&frames[1]["body"])),
            Some((from, count as u32))
        );
        assert_eq!(v["max_frame"].as_u64(), Some(MAX_FRAME as u64));
    }

    #[test]
    fn fetch_bodies_read_back() {
        let f = fetch(7, 64);
        assert_eq!(&f[..5], &[0, 0, 0, 13, Kind::Fetch as u8]);
        assert_eq!(parse_fetch(&f[5..]), Some((7, 64)));
        assert_eq!(parse_fetch(&f[5..16]), None);
    }

    /// Two ends of a real TCP connection: the handshake authenticates both, and refuses a
    /// stranger's key, another federation and a peer that is not the one dialed.
    #[tokio::test(flavor = "current_thread")]
    async fn handshakes_authenticate_both_ends_and_refuse_strangers() {
        async fn pair(
            a: &Arc<Links>,
            b: &Arc<Links>,
            expected: [u8; 32],
        ) -> (Option<[u8; 32]>, Option<[u8; 32]>) {
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            let accept = async {
                let (s, _) = listener.accept().await.unwrap();
                let (mut r, mut w) = s.into_split();
                b.handshake(&mut r, &mut w, None).await
            };
            let dial = async {
                let s = TcpStream::connect(addr).await.unwrap();
                let (mut r, mut w) = s.into_split();
                tokio::time::timeout(
                    Duration::from_secs(2),
                    a.handshake(&mut r, &mut w, Some(expected)),
                )
                .await
                .ok()
                .flatten()
            };
            let (dialed, accepted) = tokio::join!(dial, accept);
            (dialed, accepted)
        }
        let (tx, _rx) = mpsc::channel(8);
        let ids: Vec<Arc<Identity>> = (0..3).map(|_| Arc::new(Identity::generate())).collect();
        let keys: Vec<[u8; 32]> = ids.iter().map(|i| *i.public_key()).collect();
        let fed = [7u8; 32];
        let links = |i: usize, fed: [u8; 32], admitted: &[[u8; 32]]| {
            Links::new(
                ids[i].clone(),
                fed,
                Admission::allow(admitted.iter().copied()),
                tx.clone(),
            )
        };
        let a = links(0, fed, &keys[..2]);
        let b = links(1, fed, &keys[..2]);
        assert_eq!(pair(&a, &b, keys[1]).await, (Some(keys[1]), Some(keys[0])));
        // B is not who A dialed.
        assert_eq!(pair(&a, &b, keys[2]).await.0, None);
        // C is not admitted by B.
        let c = links(2, fed, &keys);
        assert_eq!(pair(&c, &b, keys[1]).await.1, None);
        // Another federation.
        let d = links(0, [8u8; 32], &keys);
        assert_eq!(pair(&d, &b, keys[1]).await.1, None);
    }
}
