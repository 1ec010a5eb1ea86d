//! One connection to the target, plain or TLS, and whether an idle one is still usable.
//!
//! An idle connection the server has closed must be found before a request is written on
//! it (FIELD_NOTES: the keep-alive race), at a cost that back-to-back replay can pay per
//! request: see [`Conn::is_usable`].

use std::io;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;

use super::pool::BUF_SIZE;

/// Below this idleness, an idle connection is checked through tokio's readiness alone
/// (see [`Conn::is_usable`]).
const RECENT: Duration = Duration::from_millis(20);

/// One connection, plain or TLS.
pub(super) enum Conn {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

impl Conn {
    pub(super) async fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        match self {
            Conn::Plain(s) => s.write_all(buf).await,
            Conn::Tls(s) => {
                s.write_all(buf).await?;
                s.flush().await
            }
        }
    }

    pub(super) async fn read(&mut self, buf: &mut Vec<u8>) -> io::Result<usize> {
        if buf.capacity() == buf.len() {
            buf.reserve(BUF_SIZE);
        }
        match self {
            Conn::Plain(s) => s.read_buf(buf).await,
            Conn::Tls(s) => s.read_buf(buf).await,
        }
    }

    fn tcp(&self) -> &TcpStream {
        match self {
            Conn::Plain(s) => s,
            Conn::Tls(s) => s.get_ref().0,
        }
    }

    /// Clears tokio's readable state of a drained socket without a system call (a
    /// read-closed state, once tokio has seen the peer's FIN, is kept: tokio never clears
    /// it).
    pub(super) fn forget_readable(&self) {
        // TLS reads whole records and may leave the next one in the socket: not drained
        let Conn::Plain(tcp) = self else {
            return;
        };
        let _ = tcp.try_io(tokio::io::Interest::READABLE, || {
            Err::<(), _>(io::ErrorKind::WouldBlock.into())
        });
    }

    /// False when the server has closed this idle connection (or sent something unasked).
    ///
    /// Idle for `idle` < [`RECENT`] since a response that drained the socket: the kernel is
    /// asked only if tokio has seen anything on the socket since (bytes or a close), which
    /// costs nothing otherwise — back-to-back (zero-think) replay would pay a system call
    /// per request. Idle longer: the kernel is always asked (one `poll` with a zero
    /// timeout), because a close that came after the worker last polled its I/O driver is
    /// not known to tokio yet, and a busy worker polls it only every so many tasks.
    pub(super) fn is_usable(&self, idle: Duration) -> bool {
        if idle < RECENT {
            return match self
                .tcp()
                .try_io(tokio::io::Interest::READABLE, || Ok(self.kernel_usable()))
            {
                Ok(usable) => usable,
                Err(e) => e.kind() == io::ErrorKind::WouldBlock,
            };
        }
        self.kernel_usable()
    }

    fn kernel_usable(&self) -> bool {
        let tls = matches!(self, Conn::Tls(_));
        match poll_idle(self.tcp()) {
            Ok(Idle::Quiet) => true,
            // TLS may carry session tickets after the handshake: bytes alone are no reason
            // to drop the connection (a close_notify comes with the close behind it)
            Ok(Idle::Bytes) => tls,
            Ok(Idle::Closed) | Err(_) => false,
        }
    }
}

/// What an idle socket holds, asked of the kernel without waiting.
enum Idle {
    Quiet,
    /// Bytes to read, the peer's side still open.
    Bytes,
    /// The peer closed its side (with or without bytes before the close), or reset.
    Closed,
}

/// Linux tells a peer's FIN apart from bytes to read (`POLLRDHUP`), so a TLS close_notify
/// followed by the close is seen as a close; elsewhere such a connection looks readable.
#[cfg(any(target_os = "linux", target_os = "android"))]
const POLL_RDHUP: libc::c_short = libc::POLLRDHUP;
#[cfg(not(any(target_os = "linux", target_os = "android")))]
const POLL_RDHUP: libc::c_short = 0;

fn poll_idle(tcp: &TcpStream) -> io::Result<Idle> {
    use std::os::fd::AsRawFd;
    let mut p = libc::pollfd {
        fd: tcp.as_raw_fd(),
        events: libc::POLLIN | POLL_RDHUP,
        revents: 0,
    };
    // SAFETY: `p` is one valid pollfd for the call's duration; the fd is open (borrowed
    // from the live stream); a zero timeout never blocks.
    let n = unsafe { libc::poll(&mut p, 1, 0) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(
        if p.revents & (POLL_RDHUP | libc::POLLHUP | libc::POLLERR | libc::POLLNVAL) != 0 {
            Idle::Closed
        } else if p.revents & libc::POLLIN != 0 {
            // without POLLRDHUP (not Linux) an EOF reads as POLLIN: for a plain connection
            // that is unusable all the same
            Idle::Bytes
        } else {
            Idle::Quiet
        },
    )
}
