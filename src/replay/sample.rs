//! A per-user sample of a replay: the live exchanges of the first users, as trace records.
//!
//! [`Sampled`] wraps the run's measure (it delegates every call) and, for users numbered
//! below `users`, turns each live response the [`hook`](super::hook) shows it into an
//! [`Exchange`]: the request as it was sent (rebuilt with [`rewrite::request`] from the
//! user's live values, so ids are the live ones; headers added by `--header` are not in
//! it), the live response, its status, headers, body, chunk times and timings. The command
//! layer writes them to `sample.trace.zst` in the report directory, which `inspect` and
//! `export-har` read like any recording.
//!
//! # Invariants
//! - Memory is bounded: at most [`MAX_EXCHANGES`] exchanges per worker, bodies cut at
//!   [`BODY_CAP`] (marked truncated).
//! - An exchange's `session` is `vu<N>:<recorded session key>`; `conn` is the user number.
//! - `t_us` is measured from the run's creation of the measure; `sent_at` is the wall
//!   clock then, plus `t_us`.

use super::hook::{Live, Measure, SessionEnd, SessionInfo, WorkerMeasure};
use super::rewrite;
use crate::metrics::Summary;
use crate::trace::{self, Body, Exchange, ExchangeError};
use chrono::{DateTime, Utc};
use std::sync::{Arc, Mutex};
use tokio::time::Instant;

/// Exchanges kept per worker thread at most.
pub const MAX_EXCHANGES: usize = 20_000;
/// Bytes of each body kept.
pub const BODY_CAP: usize = 1 << 20;

/// The run's measure `M`, plus a sample of the first `users` users' exchanges.
pub struct Sampled<M> {
    inner: M,
    users: u64,
    start: (Instant, DateTime<Utc>),
    kept: Mutex<Vec<Exchange>>,
}

impl<M> Sampled<M> {
    /// Samples users `0..users` (0: none; the wrapper then only delegates).
    pub fn new(inner: M, users: u64) -> Self {
        Sampled {
            inner,
            users,
            start: (Instant::now(), Utc::now()),
            kept: Mutex::new(Vec::new()),
        }
    }

    /// The sampled exchanges, in send order (empty until the run has finished).
    pub fn take(&self) -> Vec<Exchange> {
        let mut v = std::mem::take(&mut *self.kept.lock().unwrap_or_else(|e| e.into_inner()));
        v.sort_by_key(|e| (e.t_us, e.conn));
        for (i, e) in v.iter_mut().enumerate() {
            e.id = i as u64;
        }
        v
    }
}

/// One worker's side of [`Sampled`].
pub struct Worker<W> {
    inner: W,
    users: u64,
    start: (Instant, DateTime<Utc>),
    kept: Vec<Exchange>,
}

impl<M: Measure> Measure for Sampled<M> {
    type Worker = Worker<M::Worker>;

    fn worker(&self, index: usize) -> Self::Worker {
        Worker {
            inner: self.inner.worker(index),
            users: self.users,
            start: self.start,
            kept: Vec::new(),
        }
    }

    fn finish(&self, parts: Vec<<Self::Worker as WorkerMeasure>::Part>, summary: &mut Summary) {
        let mut inner = Vec::with_capacity(parts.len());
        let mut kept = self.kept.lock().unwrap_or_else(|e| e.into_inner());
        for (part, exchanges) in parts {
            inner.push(part);
            kept.extend(exchanges);
        }
        drop(kept);
        self.inner.finish(inner, summary);
    }
}

impl<W: WorkerMeasure> WorkerMeasure for Worker<W> {
    type Part = (W::Part, Vec<Exchange>);

    fn session_start(&mut self, s: &SessionInfo<'_>) {
        self.inner.session_start(s);
    }

    fn response(&mut self, r: &Live<'_>) {
        self.inner.response(r);
        if r.vu < self.users && self.kept.len() < MAX_EXCHANGES {
            let ex = exchange(r, self.start);
            self.kept.push(ex);
        }
    }

    fn session_end(&mut self, s: &SessionInfo<'_>, end: &SessionEnd<'_>) {
        self.inner.session_end(s, end);
    }

    fn snapshot(&mut self) -> Option<Arc<crate::metrics::conversation::Recorder>> {
        self.inner.snapshot()
    }

    fn finish(self) -> Self::Part {
        (self.inner.finish(), self.kept)
    }
}

fn capped(bytes: &[u8]) -> Body {
    Body::from_bytes(&bytes[..bytes.len().min(BODY_CAP)], bytes.len() as u64)
}

fn exchange(r: &Live<'_>, (start, wall): (Instant, DateTime<Utc>)) -> Exchange {
    let step = &r.session.steps[r.step];
    let t = r.sent.saturating_duration_since(start);
    let (path, query, headers, body) = match rewrite::request(step, &r.session.vars, r.live) {
        Ok(p) => {
            let (path, query) = match p.path_and_query.split_once('?') {
                Some((a, b)) => (a.to_string(), Some(b.to_string())),
                None => (p.path_and_query.to_string(), None),
            };
            (path, query, p.headers, p.body)
        }
        // The step was not sent as built (a correlation failure): keep the recorded one.
        Err(_) => (
            step.path.clone(),
            step.query.clone(),
            step.headers.to_vec(),
            step.body.clone(),
        ),
    };
    let headers = headers
        .iter()
        .map(|(n, v)| {
            (
                n.as_str().to_string(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    let res = r.status.map(|status| trace::Response {
        status,
        headers: r
            .headers
            .map(|h| {
                h.iter()
                    .map(|(n, v)| {
                        (
                            n.as_str().to_string(),
                            String::from_utf8_lossy(v.as_bytes()).into_owned(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default(),
        body: capped(r.body),
        chunks: r
            .chunks
            .iter()
            .map(|(d, n)| (d.as_micros() as u64, *n as u64))
            .collect(),
    });
    Exchange {
        id: 0,
        session: Some(format!("vu{}:{}", r.vu, r.session.key)),
        conn: r.vu,
        sent_at: wall + chrono::Duration::from_std(t).unwrap_or_default(),
        t_us: t.as_micros() as u64,
        ttfb_us: r.ttfb.map(|d| d.as_micros() as u64),
        done_us: r.latency.as_micros() as u64,
        req: trace::Request {
            method: step.method.to_string(),
            path,
            query,
            headers,
            body: capped(&body),
        },
        res,
        error: r.failure.map(|f| ExchangeError {
            kind: f.kind.to_string(),
            message: f.detail.clone(),
        }),
    }
}
