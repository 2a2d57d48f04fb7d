//! Deferred accept (`TCP_DEFER_ACCEPT`): the kernel hands a connection to `accept` only once
//! its first bytes have arrived, for protocols whose client speaks first (HTTP, TLS).
//!
//! A connection accepted with its request already in the socket is read at once: no read that
//! finds nothing, no registration with the event loop (see `lazy_tcp`), no wake-up of the
//! worker before the request exists. A client that connects and sends nothing is accepted
//! anyway after about `DEFER_SECONDS` (Linux then takes its answer to a re-sent SYN-ACK as the
//! end of the handshake), so nothing waits forever in the kernel. NGINX's `listen … deferred`
//! and HAProxy's `defer-accept` set the same option.

use std::io;
use std::os::fd::AsFd;

/// How long the kernel holds a connection that has sent nothing before handing it over.
pub const DEFER_SECONDS: u32 = 1;

/// Sets (`on`) or clears `TCP_DEFER_ACCEPT` on a listening socket (Linux; elsewhere it does
/// nothing).
#[cfg(not(target_os = "linux"))]
pub fn set(_listener: &impl AsFd, _on: bool) -> io::Result<()> {
    Ok(())
}

/// Sets (`on`) or clears `TCP_DEFER_ACCEPT` on a listening socket (Linux; elsewhere it does
/// nothing).
#[cfg(target_os = "linux")]
pub fn set(listener: &impl AsFd, on: bool) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    let seconds: libc::c_int = if on {
        libc::c_int::try_from(DEFER_SECONDS).unwrap_or(1)
    } else {
        0
    };
    let fd = listener.as_fd().as_raw_fd();
    // SAFETY: `fd` is a live descriptor borrowed for the call; the option value is a
    // `c_int` on the stack whose address and exact size are passed, as tcp(7) specifies.
    #[allow(unsafe_code)]
    let result = unsafe {
        libc::setsockopt(
            fd,
            libc::IPPROTO_TCP,
            libc::TCP_DEFER_ACCEPT,
            std::ptr::addr_of!(seconds).cast(),
            libc::socklen_t::try_from(std::mem::size_of::<libc::c_int>()).unwrap_or(4),
        )
    };
    if result == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use std::io::{Read, Write};

    /// A connection that has sent nothing is held by the kernel; one that connected after it
    /// but has sent its request is handed to `accept` first, with its bytes readable. (Without
    /// the option the accept queue is first come, first served.)
    #[test]
    fn a_connection_is_accepted_once_its_first_bytes_are_in() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        super::set(&listener, true).expect("setsockopt");
        let address = listener.local_addr().expect("address");
        let _silent = std::net::TcpStream::connect(address).expect("connect");
        let mut speaking = std::net::TcpStream::connect(address).expect("connect");
        speaking
            .write_all(b"GET / HTTP/1.1\r\n\r\n")
            .expect("write");
        let (mut accepted, peer) = listener.accept().expect("accept");
        assert_eq!(Some(peer), speaking.local_addr().ok());
        let mut first = [0u8; 3];
        accepted.read_exact(&mut first).expect("read");
        assert_eq!(&first, b"GET");
    }
}
