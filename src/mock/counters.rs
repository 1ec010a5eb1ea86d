//! What the mock saw: lock-free counters, always on, and an optional request log.
//!
//! # Invariants
//! - Counters are relaxed atomics bumped once per event; [`Counts`] is a snapshot (fields
//!   read one by one, so a snapshot taken under load is not one instant).
//! - Every injected misbehaviour bumps exactly one `injected_*` counter, at the moment the
//!   response carrying it is built.
//! - The request log is off unless [`super::Config::request_log`]; when on, each request is
//!   appended once when its response is ready, with a sequence number taken on arrival, and
//!   [`Log::entries`] returns the entries in arrival order.

use bytes::Bytes;
use http::{HeaderMap, Method};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Mutex;
use std::time::Instant;

/// The endpoints of the agent API (and everything else).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Endpoint {
    Start,
    Continue,
    Stream,
    Status,
    Health,
    /// Any other path or method (answered 404 / 405).
    Other,
}

impl Endpoint {
    /// The endpoint's route template, e.g. `GET /session/status/{thread_id}`.
    pub fn template(self) -> &'static str {
        match self {
            Endpoint::Start => "POST /session/start",
            Endpoint::Continue => "POST /session/continue",
            Endpoint::Stream => "POST /session/continue/stream",
            Endpoint::Status => "GET /session/status/{thread_id}",
            Endpoint::Health => "GET /health",
            Endpoint::Other => "other",
        }
    }
}

/// Live counters of one server.
#[derive(Debug, Default)]
pub struct Counters {
    pub(crate) sessions_started: AtomicU64,
    pub(crate) start: AtomicU64,
    pub(crate) continue_: AtomicU64,
    pub(crate) stream: AtomicU64,
    pub(crate) status: AtomicU64,
    pub(crate) health: AtomicU64,
    pub(crate) other: AtomicU64,
    pub(crate) unknown_thread_id: AtomicU64,
    pub(crate) status_4xx: AtomicU64,
    pub(crate) status_5xx: AtomicU64,
    pub(crate) injected_divergence: AtomicU64,
    pub(crate) injected_cross_talk: AtomicU64,
    pub(crate) injected_bad_server_timing: AtomicU64,
    pub(crate) injected_errors: AtomicU64,
    pub(crate) injected_grading_flips: AtomicU64,
    pub(crate) answers_marked: AtomicU64,
    pub(crate) answers_mismatched: AtomicU64,
    pub(crate) connections_accepted: AtomicU64,
    pub(crate) connections_open: AtomicU64,
}

pub(crate) fn bump(c: &AtomicU64) {
    c.fetch_add(1, Relaxed);
}

impl Counters {
    pub(crate) fn endpoint(&self, e: Endpoint) -> &AtomicU64 {
        match e {
            Endpoint::Start => &self.start,
            Endpoint::Continue => &self.continue_,
            Endpoint::Stream => &self.stream,
            Endpoint::Status => &self.status,
            Endpoint::Health => &self.health,
            Endpoint::Other => &self.other,
        }
    }

    pub(crate) fn status(&self, code: u16) {
        match code {
            400..=499 => bump(&self.status_4xx),
            500..=599 => bump(&self.status_5xx),
            _ => {}
        }
    }

    /// A snapshot.
    pub fn snapshot(&self) -> Counts {
        Counts {
            sessions_started: self.sessions_started.load(Relaxed),
            start: self.start.load(Relaxed),
            continue_: self.continue_.load(Relaxed),
            stream: self.stream.load(Relaxed),
            status: self.status.load(Relaxed),
            health: self.health.load(Relaxed),
            other: self.other.load(Relaxed),
            unknown_thread_id: self.unknown_thread_id.load(Relaxed),
            status_4xx: self.status_4xx.load(Relaxed),
            status_5xx: self.status_5xx.load(Relaxed),
            injected_divergence: self.injected_divergence.load(Relaxed),
            injected_cross_talk: self.injected_cross_talk.load(Relaxed),
            injected_bad_server_timing: self.injected_bad_server_timing.load(Relaxed),
            injected_errors: self.injected_errors.load(Relaxed),
            injected_grading_flips: self.injected_grading_flips.load(Relaxed),
            answers_marked: self.answers_marked.load(Relaxed),
            answers_mismatched: self.answers_mismatched.load(Relaxed),
            connections_accepted: self.connections_accepted.load(Relaxed),
            connections_open: self.connections_open.load(Relaxed),
        }
    }
}

/// A snapshot of [`Counters`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
pub struct Counts {
    /// Thread ids issued (successful `POST /session/start`).
    pub sessions_started: u64,
    /// Requests received per endpoint (whatever their outcome).
    pub start: u64,
    pub continue_: u64,
    pub stream: u64,
    pub status: u64,
    pub health: u64,
    /// Requests to any other path or with a wrong method.
    pub other: u64,
    /// Requests that named a thread id this server never issued (answered 404).
    pub unknown_thread_id: u64,
    /// Responses given with a 4xx / 5xx status (injected errors included).
    pub status_4xx: u64,
    pub status_5xx: u64,
    /// Responses that reported a node off the usual path.
    pub injected_divergence: u64,
    /// Responses that named another session's thread id.
    pub injected_cross_talk: u64,
    /// Responses with a malformed `Server-Timing` header.
    pub injected_bad_server_timing: u64,
    /// Requests answered with an injected `500`.
    pub injected_errors: u64,
    /// AR answers graded the other way (`grading_noise`).
    pub injected_grading_flips: u64,
    /// Turns whose body named the node its answer was written for (`answer_node`, as the
    /// synthetic students send it), and those of them that arrived while the session was
    /// at another node: an answer that no longer fits the conversation.
    pub answers_marked: u64,
    pub answers_mismatched: u64,
    /// TCP connections accepted, and open right now.
    pub connections_accepted: u64,
    pub connections_open: u64,
}

impl Counts {
    /// Requests received on every endpoint.
    pub fn requests(&self) -> u64 {
        self.start + self.continue_ + self.stream + self.status + self.health + self.other
    }
}

/// One request as the mock received it.
#[derive(Debug, Clone)]
pub struct LogEntry {
    /// Arrival order (0 = first request this server received).
    pub seq: u64,
    /// When the request head was handed to the service.
    pub at: Instant,
    pub endpoint: Endpoint,
    pub method: Method,
    pub path: String,
    /// The thread id the request named (body field or path segment), as sent.
    pub thread_id: Option<String>,
    /// The request headers as received.
    pub headers: HeaderMap,
    /// The request body as received.
    pub body: Bytes,
    /// The client connection's address (one per client connection).
    pub peer: SocketAddr,
    /// The status the mock answered.
    pub status: u16,
    /// For a successful `POST /session/start`: the thread id issued.
    pub issued: Option<String>,
}

/// The request log of one server (appended only when enabled).
#[derive(Debug, Default)]
pub struct Log {
    entries: Mutex<Vec<LogEntry>>,
}

impl Log {
    pub(crate) fn push(&self, e: LogEntry) {
        self.entries
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(e);
    }

    /// A copy of every entry so far, in arrival order.
    pub fn entries(&self) -> Vec<LogEntry> {
        let mut v = self
            .entries
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        v.sort_by_key(|e| e.seq);
        v
    }

    /// Takes the entries so far (in arrival order among themselves), leaving the log empty.
    /// A request still in flight is appended later, so successive drains can overlap in
    /// arrival order by the few requests in flight.
    pub fn drain(&self) -> Vec<LogEntry> {
        let mut v = std::mem::take(&mut *self.entries.lock().unwrap_or_else(|p| p.into_inner()));
        v.sort_by_key(|e| e.seq);
        v
    }
}
