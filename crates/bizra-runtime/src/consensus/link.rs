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
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
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
use tokio::sync::{mpsc, OwnedSemaphorePermit, Semaphore};

const MAGIC: [u8; 4] = *b"BZL1";
const HELLO_LEN: usize = 4 + 32 + 32 + 32;
/// How long a link may take to connect and authenticate.
pub(crate) const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(5);
/// The longest frame: a consensus message and its kind byte.
pub(crate) const MAX_FRAME: usize = MAX_MESSAGE_BYTES + 1;
/// Frames waiting to be written to one link before more are dropped (and counted): a peer that
/// does not read cannot make this node hold more.
const WRITE_BACKLOG: usize = 1024;
/// Bytes of the frames waiting to be written to one link (the one being written included)
/// before more are dropped and counted. Without it a peer that does not read could hold
/// [`WRITE_BACKLOG`] frames of up to [`MAX_FRAME`] each (8 GiB): the answers to its own
/// fetches, say, each a fresh decision. Room for a few of the largest frames, so that a peer
/// that reads is not refused a proposal because another was just queued.
const WRITE_BACKLOG_BYTES: usize = 32 << 20;
/// Frames read from all links and not yet handled before readers wait (TCP then slows the
/// senders).
pub(crate) const READ_BACKLOG: usize = 1024;
/// Bytes of the frames read from all links and not yet handled before readers wait, as for
/// [`READ_BACKLOG`]: with the frame count alone, members sending frames of [`MAX_FRAME`]
/// faster than the node handles them could make it hold 8 GiB. Each reader also holds the one
/// frame it is reading.
const READ_BACKLOG_BYTES: usize = 64 << 20;
/// A frame body's first allocation; it then grows with what arrives (see [`read_body`]).
const READ_CHUNK: usize = 64 << 10;

/// What a frame carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    /// A consensus message.
    Message = 1,
    /// A request for decided heights.
    Fetch = 2,
}

/// The queue of frames to write to one link, bounded in frames ([`WRITE_BACKLOG`]) and in
/// bytes ([`WRITE_BACKLOG_BYTES`]). Cloning it gives another handle on the same queue.
#[derive(Clone, Debug)]
pub(crate) struct Outbox {
    tx: mpsc::Sender<Arc<[u8]>>,
    /// Bytes queued or being written: added here, taken off by the writer once written.
    queued: Arc<AtomicUsize>,
}

impl Outbox {
    /// An empty queue, and what its writer reads.
    fn new() -> (Outbox, mpsc::Receiver<Arc<[u8]>>) {
        let (tx, rx) = mpsc::channel(WRITE_BACKLOG);
        let queued = Arc::new(AtomicUsize::new(0));
        (Outbox { tx, queued }, rx)
    }

    /// Queues `frame` to be written; `false` (the frame is dropped) where the queue is full,
    /// in frames or in bytes, or the link is down. Never waits.
    pub(crate) fn push(&self, frame: Arc<[u8]>) -> bool {
        let len = frame.len();
        let before = self.queued.fetch_add(len, Ordering::Relaxed);
        if before + len > WRITE_BACKLOG_BYTES || self.tx.try_send(frame).is_err() {
            self.queued.fetch_sub(len, Ordering::Relaxed);
            return false;
        }
        true
    }
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
    Up { key: [u8; 32], id: u64, tx: Outbox },
    /// A frame arrived.
    Frame {
        key: [u8; 32],
        id: u64,
        kind: Kind,
        body: Vec<u8>,
        /// The body's share of [`READ_BACKLOG_BYTES`], given back when the event is dropped.
        _unread: OwnedSemaphorePermit,
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
    /// The bytes of [`READ_BACKLOG_BYTES`] not held by a frame in `events`.
    unread: Arc<Semaphore>,
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
            unread: Arc::new(Semaphore::new(READ_BACKLOG_BYTES)),
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
        let (tx, rx) = Outbox::new();
        let queued = tx.queued.clone();
        if self
            .events
            .send(LinkEvent::Up { key, id, tx })
            .await
            .is_err()
        {
            return;
        }
        tokio::spawn(write_frames(write, rx, queued));
        read_frames(read, key, id, &self.events, &self.unread).await;
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

/// Writes a link's frames as they are queued, taking each off the queue's byte count once
/// written (a write that fails ends the link, and with it the queue).
async fn write_frames(
    mut write: impl AsyncWrite + Unpin,
    mut rx: mpsc::Receiver<Arc<[u8]>>,
    queued: Arc<AtomicUsize>,
) {
    while let Some(frame) = rx.recv().await {
        if write.write_all(&frame).await.is_err() {
            return;
        }
        queued.fetch_sub(frame.len(), Ordering::Relaxed);
    }
}

/// Reads a link's frames into `events` until the link ends, each once its bytes fit in what
/// is left of [`READ_BACKLOG_BYTES`] (`unread`): until then the link is not read.
async fn read_frames(
    mut read: impl AsyncRead + Unpin,
    key: [u8; 32],
    id: u64,
    events: &mpsc::Sender<LinkEvent>,
    unread: &Arc<Semaphore>,
) {
    while let Some((kind, body)) = read_frame(&mut read).await {
        // A body is at most MAX_FRAME bytes, below both u32::MAX and the whole allowance.
        let Ok(unread) = unread.clone().acquire_many_owned(body.len() as u32).await else {
            return;
        };
        let event = LinkEvent::Frame {
            key,
            id,
            kind,
            body,
            _unread: unread,
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
    let mut body = Vec::new();
    read_body(read, n - 1, &mut body).await?;
    Some((kind, body))
}

/// Reads a body of `len` bytes into `body`; `None` if the stream ends or fails first.
///
/// The length is the sender's word: `body` grows as the bytes arrive, doubling what has
/// arrived (at least [`READ_CHUNK`]) and never past `len`, so a member that declares
/// [`MAX_FRAME`] and then trickles bytes, or stops, makes this end hold about what it sent,
/// not what it announced; a body that does arrive is read with few copies and no slack.
async fn read_body(
    read: &mut (impl AsyncRead + Unpin),
    len: usize,
    body: &mut Vec<u8>,
) -> Option<()> {
    while body.len() < len {
        if body.len() == body.capacity() {
            body.reserve_exact(body.len().max(READ_CHUNK).min(len - body.len()));
        }
        let room = (body.capacity() - body.len()).min(len - body.len());
        if read.take(room as u64).read_buf(body).await.ok()? == 0 {
            return None;
        }
    }
    Some(())
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

    /// A body is allocated as its bytes arrive, whatever length its frame declared: a member
    /// that announces the largest frame and sends 1,000 bytes costs about 1,000 bytes (at
    /// most the first chunk), one that sends more costs at most twice what it sent, and a body
    /// that arrives whole is read exactly, without slack.
    #[tokio::test(flavor = "current_thread")]
    async fn a_body_is_allocated_as_its_bytes_arrive_not_as_declared() {
        let len = MAX_FRAME - 1;
        let sent: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
        let (mut tx, mut rx) = tokio::io::duplex(4 << 20);
        let mut body = Vec::new();
        let mut arrived = 0;
        for upto in [1_000, 300_000, 2_000_000] {
            tx.write_all(&sent[arrived..upto]).await.unwrap();
            arrived = upto;
            let read = read_body(&mut rx, len, &mut body);
            // The rest never comes: the read waits, holding what arrived.
            assert!(tokio::time::timeout(Duration::from_millis(20), read)
                .await
                .is_err());
            assert_eq!(body.len(), arrived);
            assert!(
                body.capacity() <= (2 * arrived).max(READ_CHUNK),
                "{} bytes allocated for {arrived} that arrived",
                body.capacity()
            );
        }
        let rest = sent[arrived..].to_vec();
        let writer = tokio::spawn(async move { tx.write_all(&rest).await });
        assert_eq!(read_body(&mut rx, len, &mut body).await, Some(()));
        writer.await.unwrap().unwrap();
        assert!(body == sent, "the body read back differs");
        assert_eq!(body.capacity(), len);
    }

    /// Whole frames read back through a small pipe; a frame cut short, of length 0, longer
    /// than MAX_FRAME or of an unknown kind ends the link.
    #[tokio::test(flavor = "current_thread")]
    async fn frames_read_back_whole_and_bad_ones_end_the_link() {
        let big: Vec<u8> = (0..MAX_FRAME - 1).map(|i| (i % 253) as u8).collect();
        let mut stream = frame(Kind::Message, &big).to_vec();
        stream.extend_from_slice(&fetch(3, 4));
        let (mut tx, mut rx) = tokio::io::duplex(4096);
        let writer = tokio::spawn(async move { tx.write_all(&stream).await });
        let (kind, body) = read_frame(&mut rx).await.unwrap();
        assert!(kind == Kind::Message && body == big);
        let (kind, body) = read_frame(&mut rx).await.unwrap();
        assert_eq!((kind, parse_fetch(&body)), (Kind::Fetch, Some((3, 4))));
        writer.await.unwrap().unwrap();
        assert_eq!(read_frame(&mut rx).await, None);

        let cut = &frame(Kind::Message, &[9; 100])[..50];
        let too_long = [&((MAX_FRAME + 1) as u32).to_be_bytes()[..], &[1], &[0; 64]].concat();
        let empty = [0, 0, 0, 0, 1, 0, 0, 0, 2, 1];
        let unknown = [0, 0, 0, 2, 3, 0];
        for input in [cut, &too_long[..], &empty[..], &unknown[..]] {
            assert_eq!(read_frame(&mut &input[..]).await, None, "{input:?}");
        }
    }

    /// Two nodes' links over real TCP, `a` having dialed `b`: each end's link events, and the
    /// queue to write to `b`.
    async fn linked() -> (
        Outbox,
        mpsc::Receiver<LinkEvent>,
        mpsc::Receiver<LinkEvent>,
        Arc<Links>,
    ) {
        let (a_id, b_id) = (
            Arc::new(Identity::generate()),
            Arc::new(Identity::generate()),
        );
        let keys = [*a_id.public_key(), *b_id.public_key()];
        let (a_tx, mut a_rx) = mpsc::channel(8);
        let (b_tx, mut b_rx) = mpsc::channel(READ_BACKLOG);
        let fed = [3u8; 32];
        let a = Links::new(a_id, fed, Admission::allow(keys), a_tx);
        let b = Links::new(b_id, fed, Admission::allow(keys), b_tx);
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(b.clone().listen(listener));
        tokio::spawn(a.dial(keys[1], addr));
        let Some(LinkEvent::Up { tx, .. }) = a_rx.recv().await else {
            panic!("a's link did not come up");
        };
        assert!(matches!(b_rx.recv().await, Some(LinkEvent::Up { .. })));
        (tx, a_rx, b_rx, b)
    }

    /// The `i`th frame the test sends: a body of 1 MiB that says `i`.
    fn numbered(i: u32) -> Arc<[u8]> {
        let mut body = vec![i as u8; 1 << 20];
        body[..4].copy_from_slice(&i.to_be_bytes());
        frame(Kind::Message, &body)
    }

    /// A peer that stops reading (its node does not handle what its links read) makes each
    /// end hold a bounded amount: the reading end at most READ_BACKLOG_BYTES of frames read
    /// and not handled, the writing end at most WRITE_BACKLOG_BYTES queued, beyond which
    /// frames are refused (a node counts them as dropped) rather than held. Once the peer
    /// reads again, every frame accepted arrives whole and in order, and the queue takes
    /// frames again.
    #[tokio::test(flavor = "current_thread")]
    async fn a_peer_that_stops_reading_fills_bounded_queues_and_recovers() {
        let (outbox, _a_rx, mut b_rx, b) = linked().await;
        let mut accepted = 0u32;
        loop {
            while outbox.push(numbered(accepted)) {
                accepted += 1;
            }
            // Let the writer, TCP and the reader move what they can.
            let before = accepted;
            tokio::time::sleep(Duration::from_millis(200)).await;
            while outbox.push(numbered(accepted)) {
                accepted += 1;
            }
            if accepted == before {
                break;
            }
        }
        let frame_len = numbered(0).len();
        let queued = outbox.queued.load(Ordering::Relaxed);
        assert!(
            queued <= WRITE_BACKLOG_BYTES && queued + frame_len > WRITE_BACKLOG_BYTES,
            "{queued} bytes queued"
        );
        let unhandled = b_rx.len() * (frame_len - 5);
        assert!(
            unhandled <= READ_BACKLOG_BYTES && unhandled + frame_len > READ_BACKLOG_BYTES,
            "{unhandled} bytes read and not handled"
        );
        // Still stuck: more frames are refused, and nothing more is held.
        for i in 0..16 {
            assert!(!outbox.push(numbered(accepted + i)));
        }
        assert_eq!(outbox.queued.load(Ordering::Relaxed), queued);
        let in_transit = accepted as usize * frame_len - queued - unhandled;
        eprintln!(
            "{accepted} frames of {frame_len} bytes accepted: {queued} bytes queued to write, \
             {unhandled} read and not handled, {in_transit} in TCP buffers and the reader"
        );

        // The peer reads again: everything accepted arrives, whole and in order.
        for i in 0..=accepted {
            if i == accepted {
                // The writer takes the last frame off once its write returns.
                for _ in 0..500 {
                    if outbox.queued.load(Ordering::Relaxed) == 0 {
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
                assert_eq!(outbox.queued.load(Ordering::Relaxed), 0);
                assert!(
                    outbox.push(numbered(accepted)),
                    "the queue refuses after recovery"
                );
            }
            match b_rx.recv().await {
                Some(LinkEvent::Frame { body, .. }) => {
                    assert!(body[..] == numbered(i)[5..], "frame {i} differs");
                }
                other => panic!("frame {i}: {other:?}"),
            }
        }
        assert_eq!(b.unread.available_permits(), READ_BACKLOG_BYTES);
    }
}
