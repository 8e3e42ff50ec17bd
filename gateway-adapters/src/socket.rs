//! The adapter's UDP sockets: bound with a large receive buffer, so that a burst of mirrored SIP
//! waits in the kernel while ingestion catches up, and the kernel's own count of the datagrams it
//! dropped on each socket all the same (a full buffer drops silently: nothing reaches the
//! listener to count), for `/metrics`.
//!
//! Linux gives a socket at most `net.core.rmem_max` (often 208 KiB) whatever it asks for, and
//! reports twice what it set; [`bind_udp`] answers the size the kernel reports, and
//! [`crate::listener::Listener::bind`] warns, naming the sysctl, when that is less than asked.
//! The drop count is the `drops` column of `/proc/net/udp` (and `udp6`) for the socket's inode;
//! elsewhere than on Linux there is none ([`kernel_drops`] answers `None`).

use socket2::{Domain, Protocol, Socket, Type};
use std::net::SocketAddr;

/// The receive buffer asked for each adapter socket (8 MiB: about 10,000 mirrored SIP messages,
/// a few seconds of 500 calls/s).
pub const RECEIVE_BUFFER: usize = 8 * 1024 * 1024;

/// A bound, non-blocking UDP socket with (at most) `receive_buffer` bytes of receive buffer.
/// Answers the socket and the receive buffer the kernel reports it has.
pub fn bind_udp(addr: SocketAddr, receive_buffer: usize) -> std::io::Result<(std::net::UdpSocket, usize)> {
    let socket = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
    socket.set_recv_buffer_size(receive_buffer)?;
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    let granted = socket.recv_buffer_size()?;
    Ok((socket.into(), granted))
}

/// The socket's inode (what `/proc/net/udp` names it by), where the platform has one.
#[cfg(target_os = "linux")]
pub fn inode(socket: &impl std::os::fd::AsRawFd) -> Option<u64> {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(format!("/proc/self/fd/{}", socket.as_raw_fd())).ok().map(|m| m.ino())
}

/// The socket's inode (what `/proc/net/udp` names it by), where the platform has one.
#[cfg(not(target_os = "linux"))]
pub fn inode<T>(_socket: &T) -> Option<u64> {
    None
}

/// Datagrams the kernel dropped on the socket with this inode since it was opened (its receive
/// buffer was full, or a checksum failed); `None` where that cannot be read.
pub fn kernel_drops(inode: u64) -> Option<u64> {
    ["/proc/net/udp", "/proc/net/udp6"]
        .iter()
        .filter_map(|table| std::fs::read_to_string(table).ok())
        .find_map(|table| drops_in(&table, inode))
}

/// The `drops` column of the row for `inode` in a `/proc/net/udp` table (the last column; the
/// inode is the tenth).
fn drops_in(table: &str, inode: u64) -> Option<u64> {
    table.lines().skip(1).find_map(|row| {
        let columns: Vec<&str> = row.split_whitespace().collect();
        (columns.get(9)?.parse::<u64>().ok()? == inode).then(|| columns.last()?.parse().ok())?
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drops_are_read_from_the_row_of_the_inode() {
        let table = "   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops\n\
                     \x20 123: 0100007F:2364 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 4242 2 0000000000000000 0\n\
                     \x20 456: 00000000:13C4 00000000:0000 07 00000000:0003B400 00:00000000 00000000     0        0 777 2 0000000000000000 1234\n";
        assert_eq!(drops_in(table, 777), Some(1234));
        assert_eq!(drops_in(table, 4242), Some(0));
        assert_eq!(drops_in(table, 5), None);
    }

    /// A socket nobody reads, sent far more than its small buffer holds: the kernel drops the
    /// rest, and that count is what [`kernel_drops`] reads.
    #[cfg(target_os = "linux")]
    #[test]
    fn a_full_receive_buffer_is_counted_by_the_kernel() {
        let (socket, granted) = bind_udp("127.0.0.1:0".parse().unwrap(), 4_096).expect("bind");
        assert!(granted >= 4_096, "the kernel gave {granted} bytes");
        let inode = inode(&socket).expect("a socket inode");
        assert_eq!(kernel_drops(inode), Some(0));
        let sender = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let target = socket.local_addr().unwrap();
        let sent = 2_000;
        for _ in 0..sent {
            sender.send_to(&[b'x'; 512], target).unwrap();
        }
        let dropped = kernel_drops(inode).expect("the socket's row");
        assert!(dropped > 0 && dropped < sent, "{dropped} of {sent} dropped");
        // What was not dropped is still there to read.
        let mut buffer = [0u8; 1024];
        assert_eq!(socket.recv_from(&mut buffer).map(|(n, _)| n).ok(), Some(512));
    }
}
