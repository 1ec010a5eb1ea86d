//! Tee bodies: forward every frame at once, keep a capped copy and the chunk timing.
//!
//! # Invariants
//! - A frame is passed on in the same `poll_frame` call that received it; the capture is a
//!   bounded copy made in that call.
//! - A [`Flight`] ends exactly once: on the last frame, on an upstream body error, or — when
//!   dropped unfinished — as a `client_disconnect`, or `recorder_stopped` when the recorder
//!   itself cut the connection at the end of its grace period. Ending it hands the exchange to the sink.

use super::flight::{Capture, Captured, CapturedResponse, Failure};
use super::sink::Sink;
use bytes::Bytes;
use http::{HeaderMap, StatusCode};
use hyper::body::{Body, Frame, Incoming, SizeHint};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Instant;

/// At most this many `[offset, bytes]` chunk entries are kept per response.
pub const MAX_CHUNKS: usize = 65_536;

/// A request body on its way upstream; the copy is shared with the exchange's [`Flight`].
pub(crate) struct RequestTee {
    inner: Incoming,
    capture: Arc<Mutex<Capture>>,
}

impl RequestTee {
    pub fn new(inner: Incoming, capture: Arc<Mutex<Capture>>) -> Self {
        RequestTee { inner, capture }
    }
}

impl Body for RequestTee {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        if let Poll::Ready(Some(Ok(frame))) = &polled {
            if let Some(data) = frame.data_ref() {
                if let Ok(mut c) = self.capture.lock() {
                    c.push(data);
                }
            }
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// One exchange between request arrival and its end.
pub(crate) struct Flight(Option<Box<State>>);

struct State {
    captured: Captured,
    req_body: Arc<Mutex<Capture>>,
    sent: Instant,
    sink: Sink,
    cap: usize,
    /// Set for streamed responses (no Content-Length): chunk timing is kept.
    streamed: bool,
}

impl Flight {
    pub fn new(
        captured: Captured,
        req_body: Arc<Mutex<Capture>>,
        sent: Instant,
        sink: Sink,
        cap: usize,
    ) -> Self {
        sink.started();
        Flight(Some(Box::new(State {
            captured,
            req_body,
            sent,
            sink,
            cap,
            streamed: false,
        })))
    }

    /// The response head arrived.
    pub fn head(&mut self, status: StatusCode, headers: HeaderMap, streamed: bool) {
        if let Some(s) = self.0.as_mut() {
            s.captured.ttfb = Some(s.sent.elapsed());
            s.streamed = streamed;
            s.captured.res = Some(CapturedResponse {
                status,
                headers,
                body: Capture::new(s.cap),
                chunks: Vec::new(),
            });
        }
    }

    /// A response body chunk passed through.
    pub fn data(&mut self, data: &Bytes) {
        if let Some(s) = self.0.as_mut() {
            let offset = s.sent.elapsed().as_micros() as u64;
            if let Some(res) = s.captured.res.as_mut() {
                res.body.push(data);
                if s.streamed && res.chunks.len() < MAX_CHUNKS {
                    res.chunks.push((offset, data.len() as u64));
                }
            }
        }
    }

    /// Ends the exchange (once) and hands it to the sink.
    pub fn end(&mut self, failure: Option<Failure>) {
        if let Some(s) = self.0.take() {
            let State {
                mut captured,
                req_body,
                sent,
                sink,
                ..
            } = *s;
            captured.done = sent.elapsed();
            if let Ok(mut c) = req_body.lock() {
                captured.req_body = std::mem::take(&mut *c);
            }
            captured.error = failure;
            sink.finished(captured);
        }
    }
}

impl Drop for Flight {
    fn drop(&mut self) {
        if let Some(s) = &self.0 {
            if s.sink.is_cut() {
                // the recorder's grace period ended with this exchange still open
                let message =
                    "the recorder stopped (its grace period ended) before the response ended";
                self.end(Some(Failure::new("recorder_stopped", message.to_string())));
                return;
            }
            let message = if s.captured.res.is_some() {
                "the client closed the connection before the response ended"
            } else {
                "the client closed the connection before the response head"
            };
            self.end(Some(Failure::new("client_disconnect", message.to_string())));
        }
    }
}

/// A response body on its way to the client.
pub(crate) struct ResponseTee {
    inner: Incoming,
    flight: Flight,
}

impl ResponseTee {
    pub fn new(inner: Incoming, flight: Flight) -> Self {
        ResponseTee { inner, flight }
    }
}

impl Body for ResponseTee {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        let this = &mut *self;
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    this.flight.data(data);
                }
                if this.inner.is_end_stream() {
                    this.flight.end(None);
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(Some(Err(e))) => {
                this.flight.end(Some(Failure::new(
                    "upstream_body",
                    super::forward::describe(&e),
                )));
                Poll::Ready(Some(Err(e)))
            }
            Poll::Ready(None) => {
                this.flight.end(None);
                Poll::Ready(None)
            }
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl Drop for ResponseTee {
    fn drop(&mut self) {
        // hyper may stop polling once a sized body is complete: that is a clean end.
        if self.inner.is_end_stream() {
            self.flight.end(None);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capture_keeps_the_first_cap_bytes_and_counts_all() {
        let mut c = Capture::new(5);
        c.push(&Bytes::from_static(b"abc"));
        c.push(&Bytes::from_static(b"defg"));
        c.push(&Bytes::from_static(b"hij"));
        assert_eq!(c.bytes(), b"abcde");
        assert_eq!(c.len, 10);
        let mut z = Capture::new(0);
        z.push(&Bytes::from_static(b"x"));
        assert!(z.bytes().is_empty());
        assert_eq!(z.len, 1);
    }
}
