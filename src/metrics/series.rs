//! The 1-second time series: what one second of a run looked like.
//!
//! Each worker fills a [`Second`] for the second in progress and hands it over when the
//! second ends; the aggregator adds the workers' seconds of the same index into one
//! [`SeriesPoint`]. A `Second` is small (two histograms and counters) and merges exactly.
//!
//! A recorder made [`live`](super::Recorder::live) also fills the second's `samples` (one
//! small [`RouteSample`] per request of that second: its route, latency, bytes, outcome)
//! and `failure_rows` (the failures of that second), so a live view (the web UI) can keep
//! per-endpoint figures while the run goes; without it they stay empty and cost nothing.
//! A worker pushes 16 bytes per request instead of keeping a histogram per route and
//! second (188 KB each, a hash lookup per request): the live view records them into its
//! own per-route histograms, off the workers' threads, and gets the same exact figures.

use super::recorder::Failure;
use super::summary::SeriesPoint;
use super::Hist;
use rustc_hash::FxHashMap;

/// One request of a second, as a live recorder keeps it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RouteSample {
    pub route: u32,
    /// Send → last byte, µs (clamped as a [`Hist`] clamps); [`RouteSample::UNSENT`]: not
    /// sent (a correlation failure), no latency.
    pub latency_us: u32,
    /// Response bytes (saturating).
    pub bytes: u32,
    pub failed: bool,
}

impl RouteSample {
    pub const UNSENT: u32 = u32::MAX;
}

/// One second of one worker (or, after [`Second::add`], of several).
#[derive(Debug, Clone, Default)]
pub struct Second {
    /// Requests completed (or failed) in this second.
    pub requests: u64,
    pub failures: u64,
    /// Active virtual users at the end of the second.
    pub users: u64,
    /// Latency of the requests completed in this second.
    pub latency: Hist,
    /// Lag of the sends made in this second.
    pub lag: Hist,
    /// Response bytes of the requests completed in this second.
    pub bytes_received: u64,
    /// Live recorders only: every request of this second, in completion order per worker.
    pub samples: Vec<RouteSample>,
    /// Live recorders only: failures of this second by (route, failure).
    pub failure_rows: FxHashMap<(u32, Failure), u64>,
    /// Live runs only: each worker's conversation measures so far, by worker index (a
    /// worker that sent none has nothing to show, or has finished: its last one stands).
    pub conversation: Vec<(usize, std::sync::Arc<super::conversation::Recorder>)>,
}

impl Second {
    /// Adds another worker's figures for the same second.
    pub fn add(&mut self, other: &Second) {
        self.requests += other.requests;
        self.failures += other.failures;
        self.users += other.users;
        self.latency.add(&other.latency);
        self.lag.add(&other.lag);
        self.bytes_received += other.bytes_received;
        self.samples.extend_from_slice(&other.samples);
        self.conversation.extend(other.conversation.iter().cloned());
        for (k, n) in &other.failure_rows {
            *self.failure_rows.entry(k.clone()).or_insert(0) += n;
        }
    }

    /// [`Second::add`] taking `other` whole: its samples are moved, not copied when this
    /// second has none yet.
    pub fn absorb(&mut self, mut other: Second) {
        if self.samples.is_empty() {
            std::mem::swap(&mut self.samples, &mut other.samples);
        }
        self.conversation.append(&mut other.conversation);
        self.add(&other);
    }

    /// The point for `summary.json`; `t` is the Unix second this covers.
    pub fn point(&self, t: i64) -> SeriesPoint {
        SeriesPoint {
            t,
            requests: self.requests,
            failures: self.failures,
            users: self.users,
            latency: self.latency.summary(),
            lag_p99_ms: self.lag.quantile_us(0.99) as f64 / 1000.0,
            bytes_received: self.bytes_received,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds_add_exactly() {
        let mut a = Second {
            requests: 2,
            failures: 1,
            users: 3,
            ..Default::default()
        };
        a.latency.record_us(1000);
        a.latency.record_us(3000);
        let mut b = Second {
            requests: 1,
            users: 4,
            ..Default::default()
        };
        b.latency.record_us(2000);
        b.lag.record_us(5000);
        a.add(&b);
        let p = a.point(1_700_000_000);
        assert_eq!((p.requests, p.failures, p.users), (3, 1, 7));
        assert_eq!(p.latency.count, 3);
        assert!((p.latency.p50_ms - 2.0).abs() < 0.01);
        assert!((p.lag_p99_ms - 5.0).abs() < 0.01, "{}", p.lag_p99_ms);
    }
}
