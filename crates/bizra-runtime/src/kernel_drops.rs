//! The datagrams the kernel dropped for the node's UDP socket because its receive queue was full
//! ([`DropReason::QueueFull`](bizra_federation::DropReason::QueueFull)): a flood, or a node too
//! slow to keep up, which an operator sees as members that flap.
//!
//! Read from `/proc/self/net/udp` and `udp6` (the `drops` column of the socket's line), and only
//! when stats are asked for. Not through `SO_RXQ_OVFL`: that reports the count in a control
//! message of every `recvmsg`, so the hot path would read ancillary data for each datagram to
//! learn a number nobody may ask for; `/proc` costs nothing until asked. Linux only: elsewhere
//! the count is 0 (unknown).

use std::net::UdpSocket;

/// Reads the kernel's drop count of one socket, found by its inode (taken once, at bind).
pub(crate) struct KernelDrops {
    /// The socket's inode; `None` when it could not be learnt (or not on Linux).
    #[cfg(target_os = "linux")]
    inode: Option<u64>,
}

impl KernelDrops {
    /// The reader for `socket`'s drops.
    pub(crate) fn of(socket: &UdpSocket) -> KernelDrops {
        #[cfg(target_os = "linux")]
        {
            KernelDrops {
                inode: linux::inode(socket),
            }
        }
        #[cfg(not(target_os = "linux"))]
        {
            let _ = socket;
            KernelDrops {}
        }
    }

    /// Datagrams the kernel dropped for this socket so far; 0 when unknown (not Linux, no
    /// `/proc`, or the socket is closed).
    pub(crate) fn count(&self) -> u64 {
        #[cfg(target_os = "linux")]
        {
            self.inode.and_then(linux::drops).unwrap_or(0)
        }
        #[cfg(not(target_os = "linux"))]
        {
            0
        }
    }
}

#[cfg(target_os = "linux")]
mod linux {
    use std::net::UdpSocket;
    use std::os::fd::AsRawFd as _;

    /// The socket's inode: `/proc/self/fd/<fd>` links to `socket:[INODE]`.
    pub(super) fn inode(socket: &UdpSocket) -> Option<u64> {
        let link = std::fs::read_link(format!("/proc/self/fd/{}", socket.as_raw_fd())).ok()?;
        link.to_str()?
            .strip_prefix("socket:[")?
            .strip_suffix(']')?
            .parse()
            .ok()
    }

    /// The drops of the socket with `inode`, from whichever of the IPv4 and IPv6 tables lists it.
    pub(super) fn drops(inode: u64) -> Option<u64> {
        ["/proc/self/net/udp", "/proc/self/net/udp6"]
            .iter()
            .find_map(|path| parse(&std::fs::read_to_string(path).ok()?, inode))
    }

    /// The `drops` of the line with `inode` in a `/proc/net/udp` table; `None` if no line has it
    /// or the table is not as expected. The header names the columns, but two of its pairs
    /// (`tx_queue rx_queue`, `tr tm->when`) are one field each in the lines, so a column is
    /// found by its place from the end, where header and lines agree.
    pub(super) fn parse(table: &str, inode: u64) -> Option<u64> {
        let mut lines = table.lines();
        let header: Vec<&str> = lines.next()?.split_whitespace().collect();
        let from_end = |name: &str| {
            let at = header.iter().position(|c| *c == name)?;
            Some(header.len() - at)
        };
        let (inode_at, drops_at) = (from_end("inode")?, from_end("drops")?);
        lines.find_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let field = |from_end: usize| fields.get(fields.len().checked_sub(from_end)?);
            if field(inode_at)?.parse::<u64>().ok()? != inode {
                return None;
            }
            field(drops_at)?.parse().ok()
        })
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use std::net::{Ipv4Addr, UdpSocket};

    use super::linux::parse;
    use super::KernelDrops;

    /// Two lines of a real `/proc/net/udp`, trailing spaces and all.
    const SAMPLE: &str = "   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops            \n\
        \x20 120: 0100007F:A1B2 00000000:0000 07 00000000:00034000 00:00000000 00000000  1000        0 4242 2 0000000000000000 1817        \n\
        \x20 121: 00000000:1EDA 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 77 2 0000000000000000 0\n";

    #[test]
    fn the_parser_finds_the_line_of_the_inode() {
        assert_eq!(parse(SAMPLE, 4242), Some(1817));
        assert_eq!(parse(SAMPLE, 77), Some(0));
        assert_eq!(parse(SAMPLE, 1000), None, "a uid is not an inode");
        assert_eq!(parse(SAMPLE, 9), None, "an unknown inode");
        assert_eq!(parse("", 4242), None);
        let no_drops = SAMPLE.replacen("drops", "dropped", 1);
        assert_eq!(parse(&no_drops, 4242), None, "a header without the column");
    }

    /// A socket that is never read, sent more than its receive buffer holds, has drops; an idle
    /// socket has none.
    #[test]
    fn the_kernel_counts_what_a_full_queue_drops() {
        let flooded = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        let idle = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        // The kernel doubles this and enforces a minimum of a few KiB: a handful of datagrams.
        socket2::SockRef::from(&flooded)
            .set_recv_buffer_size(4096)
            .unwrap();
        let (flooded_drops, idle_drops) = (KernelDrops::of(&flooded), KernelDrops::of(&idle));
        assert_eq!(flooded_drops.count(), 0);

        let sender = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        let to = flooded.local_addr().unwrap();
        let sent = (0..2000)
            .filter(|_| sender.send_to(&[7; 512], to).is_ok())
            .count();
        assert!(sent > 1000, "only {sent} of 2000 datagrams sent");

        let dropped = flooded_drops.count();
        assert!(dropped > 0, "no drops counted for a full queue");
        assert!(dropped <= sent as u64);
        assert_eq!(idle_drops.count(), 0);
    }
}
