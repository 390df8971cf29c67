//! The identity foca carries for each member, and the codec of foca's messages inside SWIM
//! datagrams (both written down in GOSSIP-v1.md).
//!
//! A member is its node key, its generation and the address it listens on. foca keeps one member
//! per node key (its `Addr`); of two identities with the same key, the higher generation wins, so
//! a restarted node (which boots with a higher generation) replaces its old self instead of being
//! mistaken for it, and an identity declared down renews itself with the next generation.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use bytes::{Buf, BufMut};
use foca::{Codec, Header, Incarnation, Member, Message, State};

use crate::admission::Admission;

/// A member of a federation as SWIM knows it.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct MemberId {
    /// The node's Ed25519 public key: who it is.
    pub key: [u8; 32],
    /// Which boot of the node (the high 48 bits count boots, the low 16 count renewals within
    /// a boot after being declared down).
    pub generation: u64,
    /// Where it listens for datagrams.
    pub addr: SocketAddr,
}

impl fmt::Debug for MemberId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "node_{}@{}#{}",
            bizra_protocol::hash::to_hex(&self.key[..4]),
            self.addr,
            self.generation
        )
    }
}

impl foca::Identity for MemberId {
    type Addr = [u8; 32];

    /// Declared down (while alive): come back as the next renewal of this boot.
    fn renew(&self) -> Option<Self> {
        Some(MemberId {
            generation: self.generation.checked_add(1)?,
            ..*self
        })
    }

    fn addr(&self) -> [u8; 32] {
        self.key
    }

    fn win_addr_conflict(&self, adversary: &Self) -> bool {
        self.generation > adversary.generation
    }
}

/// Why foca's bytes did not decode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CodecError {
    /// Fewer bytes than the field needs.
    Truncated,
    /// A value this version does not define.
    Invalid,
    /// A member the federation does not admit.
    NotAdmitted,
    /// The output buffer is full.
    Full,
}

impl fmt::Display for CodecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            CodecError::Truncated => "truncated",
            CodecError::Invalid => "invalid value",
            CodecError::NotAdmitted => "names a member that is not admitted",
            CodecError::Full => "buffer full",
        })
    }
}

impl std::error::Error for CodecError {}

/// Encodes foca's headers and members; refuses to decode any member that the admission rule
/// does not admit.
#[derive(Clone, Debug)]
pub struct WireCodec {
    admission: Admission,
}

impl WireCodec {
    /// A codec for a federation with this admission rule.
    pub fn new(admission: Admission) -> Self {
        WireCodec { admission }
    }

    /// Writes a member identity.
    pub fn put_id(&self, id: &MemberId, mut buf: impl BufMut) -> Result<(), CodecError> {
        let len = match id.addr.ip() {
            IpAddr::V4(_) => 32 + 8 + 1 + 4 + 2,
            IpAddr::V6(_) => 32 + 8 + 1 + 16 + 2,
        };
        if buf.remaining_mut() < len {
            return Err(CodecError::Full);
        }
        buf.put_slice(&id.key);
        buf.put_u64(id.generation);
        match id.addr.ip() {
            IpAddr::V4(ip) => {
                buf.put_u8(4);
                buf.put_slice(&ip.octets());
            }
            IpAddr::V6(ip) => {
                buf.put_u8(6);
                buf.put_slice(&ip.octets());
            }
        }
        buf.put_u16(id.addr.port());
        Ok(())
    }

    /// Reads a member identity, refusing one that is not admitted.
    pub fn get_id(&self, mut buf: impl Buf) -> Result<MemberId, CodecError> {
        let mut key = [0u8; 32];
        take(&mut buf, &mut key)?;
        let generation = get_u64(&mut buf)?;
        let ip = match get_u8(&mut buf)? {
            4 => {
                let mut o = [0u8; 4];
                take(&mut buf, &mut o)?;
                IpAddr::V4(Ipv4Addr::from(o))
            }
            6 => {
                let mut o = [0u8; 16];
                take(&mut buf, &mut o)?;
                IpAddr::V6(Ipv6Addr::from(o))
            }
            _ => return Err(CodecError::Invalid),
        };
        let port = get_u16(&mut buf)?;
        if !self.admission.admits(&key) {
            return Err(CodecError::NotAdmitted);
        }
        Ok(MemberId {
            key,
            generation,
            addr: SocketAddr::new(ip, port),
        })
    }
}

fn take(buf: &mut impl Buf, out: &mut [u8]) -> Result<(), CodecError> {
    if buf.remaining() < out.len() {
        return Err(CodecError::Truncated);
    }
    buf.copy_to_slice(out);
    Ok(())
}

fn get_u8(buf: &mut impl Buf) -> Result<u8, CodecError> {
    let mut b = [0u8; 1];
    take(buf, &mut b)?;
    Ok(b[0])
}

fn get_u16(buf: &mut impl Buf) -> Result<u16, CodecError> {
    let mut b = [0u8; 2];
    take(buf, &mut b)?;
    Ok(u16::from_be_bytes(b))
}

fn get_u64(buf: &mut impl Buf) -> Result<u64, CodecError> {
    let mut b = [0u8; 8];
    take(buf, &mut b)?;
    Ok(u64::from_be_bytes(b))
}

fn put_u8(buf: &mut impl BufMut, v: u8) -> Result<(), CodecError> {
    if buf.remaining_mut() < 1 {
        return Err(CodecError::Full);
    }
    buf.put_u8(v);
    Ok(())
}

/// The message tags of GOSSIP-v1 (foca's message kinds).
mod tag {
    pub const PING: u8 = 0;
    pub const ACK: u8 = 1;
    pub const PING_REQ: u8 = 2;
    pub const INDIRECT_PING: u8 = 3;
    pub const INDIRECT_ACK: u8 = 4;
    pub const FORWARDED_ACK: u8 = 5;
    pub const ANNOUNCE: u8 = 6;
    pub const FEED: u8 = 7;
    pub const GOSSIP: u8 = 8;
    pub const BROADCAST: u8 = 9;
    pub const TURN_UNDEAD: u8 = 10;
}

impl Codec<MemberId> for WireCodec {
    type Error = CodecError;

    fn encode_header(
        &mut self,
        header: &Header<MemberId>,
        mut buf: impl BufMut,
    ) -> Result<(), CodecError> {
        self.put_id(&header.src, &mut buf)?;
        if buf.remaining_mut() < 2 {
            return Err(CodecError::Full);
        }
        buf.put_u16(header.src_incarnation);
        self.put_id(&header.dst, &mut buf)?;
        let (t, with): (u8, Option<(Option<&MemberId>, u8)>) = match &header.message {
            Message::Ping(n) => (tag::PING, Some((None, *n))),
            Message::Ack(n) => (tag::ACK, Some((None, *n))),
            Message::PingReq {
                target,
                probe_number,
            } => (tag::PING_REQ, Some((Some(target), *probe_number))),
            Message::IndirectPing {
                origin,
                probe_number,
            } => (tag::INDIRECT_PING, Some((Some(origin), *probe_number))),
            Message::IndirectAck {
                target,
                probe_number,
            } => (tag::INDIRECT_ACK, Some((Some(target), *probe_number))),
            Message::ForwardedAck {
                origin,
                probe_number,
            } => (tag::FORWARDED_ACK, Some((Some(origin), *probe_number))),
            Message::Announce => (tag::ANNOUNCE, None),
            Message::Feed => (tag::FEED, None),
            Message::Gossip => (tag::GOSSIP, None),
            Message::Broadcast => (tag::BROADCAST, None),
            Message::TurnUndead => (tag::TURN_UNDEAD, None),
        };
        put_u8(&mut buf, t)?;
        if let Some((id, n)) = with {
            if let Some(id) = id {
                self.put_id(id, &mut buf)?;
            }
            put_u8(&mut buf, n)?;
        }
        Ok(())
    }

    fn decode_header(&mut self, mut buf: impl Buf) -> Result<Header<MemberId>, CodecError> {
        let src = self.get_id(&mut buf)?;
        let src_incarnation: Incarnation = get_u16(&mut buf)?;
        let dst = self.get_id(&mut buf)?;
        let message = match get_u8(&mut buf)? {
            tag::PING => Message::Ping(get_u8(&mut buf)?),
            tag::ACK => Message::Ack(get_u8(&mut buf)?),
            tag::PING_REQ => Message::PingReq {
                target: self.get_id(&mut buf)?,
                probe_number: get_u8(&mut buf)?,
            },
            tag::INDIRECT_PING => Message::IndirectPing {
                origin: self.get_id(&mut buf)?,
                probe_number: get_u8(&mut buf)?,
            },
            tag::INDIRECT_ACK => Message::IndirectAck {
                target: self.get_id(&mut buf)?,
                probe_number: get_u8(&mut buf)?,
            },
            tag::FORWARDED_ACK => Message::ForwardedAck {
                origin: self.get_id(&mut buf)?,
                probe_number: get_u8(&mut buf)?,
            },
            tag::ANNOUNCE => Message::Announce,
            tag::FEED => Message::Feed,
            tag::GOSSIP => Message::Gossip,
            tag::BROADCAST => Message::Broadcast,
            tag::TURN_UNDEAD => Message::TurnUndead,
            _ => return Err(CodecError::Invalid),
        };
        Ok(Header {
            src,
            src_incarnation,
            dst,
            message,
        })
    }

    fn encode_member(
        &mut self,
        member: &Member<MemberId>,
        mut buf: impl BufMut,
    ) -> Result<(), CodecError> {
        self.put_id(member.id(), &mut buf)?;
        if buf.remaining_mut() < 3 {
            return Err(CodecError::Full);
        }
        buf.put_u16(member.incarnation());
        buf.put_u8(match member.state() {
            State::Alive => 0,
            State::Suspect => 1,
            State::Down => 2,
        });
        Ok(())
    }

    fn decode_member(&mut self, mut buf: impl Buf) -> Result<Member<MemberId>, CodecError> {
        let id = self.get_id(&mut buf)?;
        let incarnation = get_u16(&mut buf)?;
        let state = match get_u8(&mut buf)? {
            0 => State::Alive,
            1 => State::Suspect,
            2 => State::Down,
            _ => return Err(CodecError::Invalid),
        };
        Ok(Member::new(id, incarnation, state))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(k: u8, addr: &str) -> MemberId {
        MemberId {
            key: [k; 32],
            generation: 5 << 16,
            addr: addr.parse().unwrap(),
        }
    }

    #[test]
    fn headers_and_members_round_trip() {
        let mut c = WireCodec::new(Admission::Open);
        let a = id(1, "127.0.0.1:7946");
        let b = id(2, "[::1]:7000");
        for message in [
            Message::Ping(3),
            Message::Ack(4),
            Message::PingReq {
                target: b,
                probe_number: 5,
            },
            Message::IndirectPing {
                origin: a,
                probe_number: 6,
            },
            Message::IndirectAck {
                target: b,
                probe_number: 7,
            },
            Message::ForwardedAck {
                origin: a,
                probe_number: 8,
            },
            Message::Announce,
            Message::Feed,
            Message::Gossip,
            Message::Broadcast,
            Message::TurnUndead,
        ] {
            let h = Header {
                src: a,
                src_incarnation: 9,
                dst: b,
                message,
            };
            let mut out = Vec::new();
            c.encode_header(&h, &mut out).unwrap();
            assert_eq!(c.decode_header(&out[..]).unwrap(), h);
            // Every truncation is an error, never a panic.
            for cut in 0..out.len() {
                assert!(c.decode_header(&out[..cut]).is_err(), "{cut}");
            }
        }
        let m = Member::new(b, 2, State::Suspect);
        let mut out = Vec::new();
        c.encode_member(&m, &mut out).unwrap();
        assert_eq!(c.decode_member(&out[..]).unwrap(), m);
    }

    #[test]
    fn members_outside_the_allowlist_do_not_decode() {
        let a = id(1, "127.0.0.1:1");
        let mut open = WireCodec::new(Admission::Open);
        let mut out = Vec::new();
        open.encode_member(&Member::alive(a), &mut out).unwrap();
        let mut closed = WireCodec::new(Admission::allow([[2; 32]]));
        assert_eq!(
            closed.decode_member(&out[..]).unwrap_err(),
            CodecError::NotAdmitted
        );
    }

    #[test]
    fn a_higher_generation_wins_and_renewal_bumps_it() {
        use foca::Identity as _;
        let a = id(1, "127.0.0.1:1");
        let later = a.renew().unwrap();
        assert_eq!(later.generation, a.generation + 1);
        assert_eq!(later.addr(), a.addr());
        assert!(later.win_addr_conflict(&a));
        assert!(!a.win_addr_conflict(&later));
    }
}
