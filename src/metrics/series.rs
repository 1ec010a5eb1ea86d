//! The 1-second time series: what one second of a run looked like.
//!
//! Each worker fills a [`Second`] for the second in progress and hands it over when the
//! second ends; the aggregator adds the workers' seconds of the same index into one
//! [`SeriesPoint`]. A `Second` is small (two histograms and counters) and merges exactly.
//!
//! A recorder made [`live`](super::Recorder::live) also fills the second's `routes` and
//! `failure_rows` (only the routes and failures seen in that second), so a live view (the
//! web UI) can keep per-endpoint figures while the run goes; without it they stay empty
//! and cost nothing.

use super::recorder::Failure;
use super::summary::SeriesPoint;
use super::Hist;
use rustc_hash::FxHashMap;

/// One route's figures in one second (live recorders only).
#[derive(Debug, Clone, Default)]
pub struct RouteSecond {
    pub requests: u64,
    pub failures: u64,
    pub bytes_received: u64,
    /// Latency of the route's requests completed in this second.
    pub latency: Hist,
}

impl RouteSecond {
    pub fn add(&mut self, o: &RouteSecond) {
        self.requests += o.requests;
        self.failures += o.failures;
        self.bytes_received += o.bytes_received;
        self.latency.add(&o.latency);
    }
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
    /// Live recorders only: the routes that had a request in this second.
    pub routes: FxHashMap<u32, RouteSecond>,
    /// Live recorders only: failures of this second by (route, failure).
    pub failure_rows: FxHashMap<(u32, Failure), u64>,
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
        for (r, f) in &other.routes {
            self.routes.entry(*r).or_default().add(f);
        }
        for (k, n) in &other.failure_rows {
            *self.failure_rows.entry(k.clone()).or_insert(0) += n;
        }
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
