//! The writer thread and the bounded queue that feeds it.
//!
//! The queue carries [`Captured`] exchanges — raw heads and `Bytes` pieces — so the request
//! path does no parsing or encoding. The thread turns each into a [`trace::Exchange`]
//! (session key, redaction, body classification), appends it, and calls
//! [`trace::Writer::tick`] after every batch and every idle [`POLL`], so frames still close
//! on time when traffic stops.
//!
//! # Invariants
//! - `Sink::finished` never blocks: a full (or closed) queue counts the exchange as dropped.
//! - The queue closes when the last `Sink` is dropped, or when the proxy marks itself
//!   closing and the queue is empty; the thread then writes the footer and fsyncs.
//! - One exchange that cannot be encoded or written is counted in `write_errors`; the
//!   thread carries on with the next.

use super::flight::Captured;
use super::{Error, Redaction};
use crate::correlate::session::Rules;
use crate::trace::{self, Body, Exchange, ExchangeError, Footer, Headers, Writer};
use chrono::{DateTime, Utc};
use http::HeaderMap;
use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TryRecvError, TrySendError};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How long the writer sleeps when the queue is empty (it then ticks the open frame).
pub const POLL: Duration = Duration::from_millis(5);

/// Counters shared by the proxy tasks and the writer thread.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    in_flight: AtomicU64,
    dropped: AtomicU64,
    failed: AtomicU64,
    written: AtomicU64,
    write_errors: AtomicU64,
    sessions: AtomicU64,
    file_bytes: AtomicU64,
    closing: AtomicBool,
    /// The grace period ended (or the proxy was aborted): connections still open are
    /// being dropped by the recorder, not by their clients.
    cut: AtomicBool,
}

impl Counters {
    pub fn live(&self) -> Live {
        Live {
            exchanges: self.written.load(Relaxed),
            in_flight: self.in_flight.load(Relaxed),
            dropped: self.dropped.load(Relaxed),
            failed: self.failed.load(Relaxed),
            sessions: self.sessions.load(Relaxed),
            file_bytes: self.file_bytes.load(Relaxed),
            write_errors: self.write_errors.load(Relaxed),
        }
    }

    /// Tells the writer thread to stop once the queue is empty.
    pub fn close(&self) {
        self.closing.store(true, Relaxed);
    }
}

/// A snapshot of the recorder's counters, for a status line.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Live {
    /// Exchanges written (not yet necessarily flushed to disk).
    pub exchanges: u64,
    pub in_flight: u64,
    pub dropped: u64,
    /// Exchanges that ended with an error (upstream unreachable, client gone, …).
    pub failed: u64,
    pub sessions: u64,
    pub file_bytes: u64,
    pub write_errors: u64,
}

impl std::fmt::Display for Live {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "recording: {} exchanges, {} sessions, {} in flight, {} failed, {} dropped, {} KiB written",
            self.exchanges,
            self.sessions,
            self.in_flight,
            self.failed,
            self.dropped,
            self.file_bytes / 1024
        )?;
        if self.write_errors > 0 {
            write!(f, ", {} WRITE ERRORS", self.write_errors)?;
        }
        Ok(())
    }
}

/// A cheap, cloneable handle on a proxy's live counters (for a status line).
#[derive(Debug, Clone)]
pub struct Probe(pub(crate) Arc<Counters>);

impl Probe {
    pub fn live(&self) -> Live {
        self.0.live()
    }
}

/// The request path's handle on the queue.
#[derive(Clone)]
pub(crate) struct Sink {
    tx: SyncSender<Captured>,
    counters: Arc<Counters>,
}

impl Sink {
    /// Marks that the recorder is cutting the connections still open.
    pub fn cut(&self) {
        self.counters.cut.store(true, Relaxed);
    }

    /// Whether the recorder is cutting connections (see [`Sink::cut`]).
    pub fn is_cut(&self) -> bool {
        self.counters.cut.load(Relaxed)
    }

    pub fn started(&self) {
        self.counters.in_flight.fetch_add(1, Relaxed);
    }

    pub fn finished(&self, captured: Captured) {
        self.counters.in_flight.fetch_sub(1, Relaxed);
        if captured.error.is_some() {
            self.counters.failed.fetch_add(1, Relaxed);
        }
        match self.tx.try_send(captured) {
            Ok(()) => {}
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => {
                self.counters.dropped.fetch_add(1, Relaxed);
            }
        }
    }
}

/// What the writer thread needs besides the queue.
pub(crate) struct Encoder {
    pub rules: Rules,
    pub redaction: Redaction,
    /// Wall-clock time of the recording start (for `sent_at`).
    pub start_wall: DateTime<Utc>,
}

/// The writer thread's result.
pub(crate) struct Outcome {
    pub footer: Footer,
    pub stats: trace::WriterStats,
    pub write_errors: u64,
    /// The error that prevented the footer, if any.
    pub finish_error: Option<trace::Error>,
}

/// Starts the writer thread.
pub(crate) fn spawn(
    writer: Writer,
    queue: usize,
    counters: Arc<Counters>,
    encoder: Encoder,
) -> Result<(Sink, JoinHandle<Outcome>), Error> {
    let (tx, rx) = sync_channel(queue);
    let thread_counters = counters.clone();
    let handle = std::thread::Builder::new()
        .name("reprise-writer".into())
        .spawn(move || run(writer, rx, thread_counters, encoder))
        .map_err(Error::Thread)?;
    Ok((Sink { tx, counters }, handle))
}

fn run(writer: Writer, rx: Receiver<Captured>, counters: Arc<Counters>, enc: Encoder) -> Outcome {
    let mut state = State {
        writer,
        sessions: HashSet::new(),
        write_errors: 0,
        last_report: None,
        counters,
        enc,
    };
    // Poll rather than block on the queue: a sender then never has to wake this thread
    // (a futex call per exchange on the request path), and a whole batch is drained at once.
    let mut disconnected = false;
    while !disconnected {
        let mut drained = 0usize;
        loop {
            match rx.try_recv() {
                Ok(captured) => {
                    state.write(captured);
                    drained += 1;
                }
                Err(TryRecvError::Empty) => break,
                Err(TryRecvError::Disconnected) => {
                    disconnected = true;
                    break;
                }
            }
        }
        if let Err(e) = state.writer.tick() {
            state.report(&e);
        }
        state
            .counters
            .file_bytes
            .store(state.writer.stats().file_bytes, Relaxed);
        if drained == 0 && !disconnected {
            // Closing: everything queued before the flag was set has been drained above.
            if state.counters.closing.load(Relaxed) {
                break;
            }
            std::thread::sleep(POLL);
        }
    }
    drop(rx);
    state.finish()
}

/// The writer thread's state.
struct State {
    writer: Writer,
    sessions: HashSet<String>,
    write_errors: u64,
    last_report: Option<Instant>,
    counters: Arc<Counters>,
    enc: Encoder,
}

impl State {
    fn write(&mut self, captured: Captured) {
        let (exchange, session) = encode(captured, &self.enc);
        match self.writer.append(&exchange) {
            Ok(()) => {
                self.counters.written.fetch_add(1, Relaxed);
                if let Some(s) = session {
                    if self.sessions.insert(s) {
                        self.counters
                            .sessions
                            .store(self.sessions.len() as u64, Relaxed);
                    }
                }
            }
            Err(e) => self.report(&e),
        }
    }

    fn report(&mut self, e: &trace::Error) {
        self.write_errors += 1;
        self.counters.write_errors.store(self.write_errors, Relaxed);
        // One line per few seconds at most: a full disk must not flood the terminal.
        if self
            .last_report
            .is_none_or(|t| t.elapsed() > Duration::from_secs(5))
        {
            eprintln!("reprise record: write error: {e}");
            self.last_report = Some(Instant::now());
        }
    }

    fn finish(self) -> Outcome {
        let footer = Footer {
            exchanges: self.counters.written.load(Relaxed),
            sessions: self.sessions.len() as u64,
            dropped: self.counters.dropped.load(Relaxed),
        };
        self.counters.sessions.store(footer.sessions, Relaxed);
        let before = self.writer.stats();
        match self.writer.finish(&footer) {
            Ok(stats) => {
                self.counters.file_bytes.store(stats.file_bytes, Relaxed);
                Outcome {
                    footer,
                    stats,
                    write_errors: self.write_errors,
                    finish_error: None,
                }
            }
            Err(e) => Outcome {
                footer,
                stats: before,
                write_errors: self.write_errors,
                finish_error: Some(e),
            },
        }
    }
}

/// Turns a captured exchange into its trace record and session key.
fn encode(c: Captured, enc: &Encoder) -> (Exchange, Option<String>) {
    let req_body = Body::from_bytes(c.req_body.bytes(), c.req_body.len);
    let res = c.res.map(|r| trace::Response {
        status: r.status.as_u16(),
        headers: headers(&r.headers),
        body: Body::from_bytes(r.body.bytes(), r.body.len),
        chunks: r.chunks,
    });
    let path = c.uri.path().to_string();
    let session = enc.rules.key(
        &path,
        req_body.json(),
        res.as_ref().and_then(|r| r.body.json()),
    );
    let req_headers = headers(&c.req_headers);
    let sent_at = enc.start_wall
        + chrono::Duration::from_std(c.t).unwrap_or_else(|_| chrono::Duration::zero());
    let mut exchange = Exchange {
        id: c.id,
        session: session.clone(),
        conn: c.conn,
        sent_at,
        t_us: c.t.as_micros() as u64,
        ttfb_us: c.ttfb.map(|d| d.as_micros() as u64),
        done_us: c.done.as_micros() as u64,
        req: trace::Request {
            method: c.method.to_string(),
            path,
            query: c.uri.query().map(str::to_string),
            headers: req_headers,
            body: req_body,
        },
        res,
        error: c.error.map(|f| ExchangeError {
            kind: f.kind.to_string(),
            message: f.message,
        }),
    };
    enc.redaction.apply(&mut exchange);
    (exchange, session)
}

fn headers(map: &HeaderMap) -> Headers {
    map.iter()
        .map(|(k, v)| {
            (
                k.as_str().to_string(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect()
}

/// Path of a recording for the summary (kept here so the thread's result is self-contained).
pub(crate) fn summary(path: PathBuf, outcome: &Outcome, duration: Duration) -> super::Summary {
    super::Summary {
        path,
        sessions: outcome.footer.sessions,
        exchanges: outcome.footer.exchanges,
        dropped: outcome.footer.dropped,
        raw_bytes: outcome.stats.raw_bytes,
        file_bytes: outcome.stats.file_bytes,
        write_errors: outcome.write_errors,
        duration,
    }
}

#[cfg(test)]
mod tests {
    use super::super::flight::{Capture, CapturedResponse};
    use super::*;
    use bytes::Bytes;
    use http::{Method, StatusCode};
    use serde_json::json;

    fn capture(bytes: &'static [u8]) -> Capture {
        let mut c = Capture::new(1 << 20);
        c.push(&Bytes::from_static(bytes));
        c
    }

    #[test]
    fn encode_keys_redacts_and_times() {
        let mut req_headers = HeaderMap::new();
        req_headers.insert("authorization", "Bearer s3cret".parse().unwrap());
        req_headers.insert("content-type", "application/json".parse().unwrap());
        let c = Captured {
            id: 7,
            conn: 2,
            t: Duration::from_millis(1500),
            ttfb: Some(Duration::from_micros(900)),
            done: Duration::from_micros(1200),
            method: Method::POST,
            uri: "/session/start?x=1".parse().unwrap(),
            req_headers,
            req_body: capture(br#"{"student_id":"s-1","password":"pw"}"#),
            res: Some(CapturedResponse {
                status: StatusCode::OK,
                headers: HeaderMap::new(),
                body: capture(br#"{"thread_id":"t-9","turn":0}"#),
                chunks: vec![],
            }),
            error: None,
        };
        let start: DateTime<Utc> = "2026-01-01T00:00:00Z".parse().unwrap();
        let enc = Encoder {
            rules: Rules::default(),
            redaction: Redaction::default().json_pointer("/password").unwrap(),
            start_wall: start,
        };
        let (ex, session) = encode(c, &enc);
        assert_eq!(session.as_deref(), Some("t-9"));
        assert_eq!(ex.session.as_deref(), Some("t-9"));
        assert_eq!(ex.t_us, 1_500_000);
        assert_eq!(ex.ttfb_us, Some(900));
        assert_eq!(ex.sent_at, start + chrono::Duration::milliseconds(1500));
        assert_eq!(ex.req.path, "/session/start");
        assert_eq!(ex.req.query.as_deref(), Some("x=1"));
        assert_eq!(
            ex.req.headers[0],
            ("authorization".into(), trace::REDACTED.into())
        );
        assert_eq!(
            ex.req.body.json(),
            Some(&json!({"student_id":"s-1","password": trace::REDACTED}))
        );
        let line = serde_json::to_string(&ex).unwrap();
        assert!(
            !line.contains("s3cret") && !line.contains("\"pw\""),
            "{line}"
        );
    }
}
