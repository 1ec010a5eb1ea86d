//! Upstream sockets that keep reading after the upstream stops reading, so an early answer
//! (a `413` to an upload too large, a `401` before the body) reaches the client.
//!
//! A server that refuses a request before reading its body writes its answer and closes;
//! the kernel resets the connection because the body is unread, and the proxy's next write
//! of the body fails (`EPIPE`, `ECONNRESET`). hyper's client ends the exchange with that
//! write error — a `502 upstream unreachable` — although the answer is already in the
//! socket's receive buffer. [`Connector`] wraps every upstream socket in [`KeepReading`]:
//! a write that fails because the peer is gone is reported as written and its bytes are
//! dropped, so hyper goes on to read what the upstream said.
//!
//! # Invariants
//! - Only the errors that mean "the peer stopped reading" (broken pipe, reset, aborted)
//!   are absorbed; after the first, every later write is dropped (none could arrive).
//! - Reads are never touched: an upstream that closed without answering still ends in an
//!   error (EOF or reset) and a `502`.
//! - The [`Absorbed`] flag of a connection is in the extensions of each of its responses;
//!   `forward` poisons a connection whose writes were absorbed, so the pool never reuses it.

use http::Uri;
use hyper::rt::{Read, ReadBufCursor, Write};
use hyper_util::client::legacy::connect::{Connected, Connection, HttpConnector};
use hyper_util::rt::TokioIo;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::Arc;
use std::task::{Context, Poll};
use tokio::net::TcpStream;

/// Set once a write to the upstream was absorbed: the connection is half dead.
#[derive(Debug, Clone, Default)]
pub(crate) struct Absorbed(Arc<AtomicBool>);

impl Absorbed {
    pub(crate) fn get(&self) -> bool {
        self.0.load(Relaxed)
    }
}

/// An upstream socket whose writes to a peer that is gone succeed (see the module docs).
#[derive(Debug)]
pub(crate) struct KeepReading<T> {
    inner: T,
    absorbed: Absorbed,
}

impl<T> KeepReading<T> {
    pub(crate) fn new(inner: T) -> Self {
        KeepReading {
            inner,
            absorbed: Absorbed::default(),
        }
    }

    /// `Ok(n)` for an error that means the peer stopped reading (and remembers it).
    fn absorb(&self, r: io::Result<usize>, n: usize) -> io::Result<usize> {
        match r {
            Err(e) if peer_gone(&e) => {
                self.absorbed.0.store(true, Relaxed);
                Ok(n)
            }
            other => other,
        }
    }
}

fn peer_gone(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::BrokenPipe
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionAborted
    )
}

impl<T: Read + Unpin> Read for KeepReading<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_read(cx, buf)
    }
}

impl<T: Write + Unpin> Write for KeepReading<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.absorbed.get() {
            return Poll::Ready(Ok(buf.len()));
        }
        let r = std::task::ready!(Pin::new(&mut this.inner).poll_write(cx, buf));
        Poll::Ready(this.absorb(r, buf.len()))
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let n = bufs.iter().map(|b| b.len()).sum();
        if this.absorbed.get() {
            return Poll::Ready(Ok(n));
        }
        let r = std::task::ready!(Pin::new(&mut this.inner).poll_write_vectored(cx, bufs));
        Poll::Ready(this.absorb(r, n))
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.absorbed.get() {
            return Poll::Ready(Ok(()));
        }
        let r = std::task::ready!(Pin::new(&mut this.inner).poll_flush(cx));
        Poll::Ready(this.absorb(r.map(|()| 0), 0).map(drop))
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.absorbed.get() {
            return Poll::Ready(Ok(()));
        }
        let r = std::task::ready!(Pin::new(&mut this.inner).poll_shutdown(cx));
        Poll::Ready(this.absorb(r.map(|()| 0), 0).map(drop))
    }
}

impl<T: Connection> Connection for KeepReading<T> {
    fn connected(&self) -> Connected {
        self.inner.connected().extra(self.absorbed.clone())
    }
}

/// hyper-util's TCP connector, its sockets wrapped in [`KeepReading`] (TLS goes on top).
#[derive(Debug, Clone)]
pub(crate) struct Connector(pub HttpConnector);

type Connecting = Pin<
    Box<
        dyn Future<
                Output = Result<
                    KeepReading<TokioIo<TcpStream>>,
                    Box<dyn std::error::Error + Send + Sync>,
                >,
            > + Send,
    >,
>;

impl tower_service::Service<Uri> for Connector {
    type Response = KeepReading<TokioIo<TcpStream>>;
    type Error = Box<dyn std::error::Error + Send + Sync>;
    type Future = Connecting;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.0.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        let connecting = self.0.call(uri);
        Box::pin(async move { connecting.await.map(KeepReading::new).map_err(Into::into) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// The peer answers and closes with our bytes unread: writes keep succeeding, and the
    /// answer is still read.
    #[tokio::test]
    async fn writes_to_a_closed_peer_are_absorbed_and_its_answer_read() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(async move {
            let (mut s, _) = listener.accept().await.unwrap();
            let mut buf = [0u8; 16];
            s.read_exact(&mut buf).await.unwrap();
            s.write_all(b"answer").await.unwrap();
            // dropped with unread bytes: a reset
        });
        let tcp = TcpStream::connect(addr).await.unwrap();
        let mut io = TokioIo::new(KeepReading::new(TokioIo::new(tcp)));
        io.write_all(&[1; 16]).await.unwrap();
        io.write_all(&[2; 1024]).await.unwrap();
        server.await.unwrap();
        // Keep writing until the kernel reports the reset: absorbed, not an error.
        for _ in 0..200 {
            io.write_all(&[3; 64 * 1024]).await.unwrap();
            if io.inner().absorbed.get() {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        assert!(io.inner().absorbed.get(), "the reset was seen and absorbed");
        let mut got = [0u8; 6];
        io.read_exact(&mut got).await.unwrap();
        assert_eq!(&got, b"answer");
    }
}
