//! Per-worker recording of request samples, failures and sessions.
//!
//! A [`Recorder`] belongs to one worker thread and is written without any lock; workers'
//! recorders merge with [`Recorder::merge`] (histograms add exactly) and the merged one
//! fills the figures of a [`Summary`]. Routes are dense indices (`u32`) given by the caller
//! when it builds its plan; their names are only needed when the summary is written.
//!
//! # Invariants
//! - Every call to [`Recorder::record`] or [`Recorder::record_unsent`] counts one request,
//!   in the totals, its route and the current [`Second`]; a failure is counted once, by kind.
//! - `corrected` latency is latency from the *planned* send (latency + lag + wait).
//! - Session figures: `started = completed + aborted + in progress`.

use super::series::{RouteSample, Second};
use super::summary::{EndpointStats, FailureRow, Sessions, Summary, Totals};
use super::Hist;
use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

/// One measured request (a response, or a failure after the send). Small and `Copy`.
#[derive(Debug, Clone, Copy)]
pub struct Sample {
    pub route: u32,
    /// Send → last byte (or → failure).
    pub latency: Duration,
    /// Send → response head, when one came.
    pub ttfb: Option<Duration>,
    /// Actual − intended send time, intended being the later of the planned send and the
    /// arrival of the responses the request needed: the generator's own lateness.
    pub lag: Duration,
    /// Intended − planned send time: how long the request waited for responses it needed
    /// (an id from a slow response) beyond its plan.
    pub wait: Duration,
    pub bytes_sent: u64,
    pub bytes_received: u64,
}

/// A failure's kind (one of [`super::summary::kind`]) and detail.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Failure {
    pub kind: &'static str,
    pub detail: String,
}

#[derive(Debug, Clone, Default)]
struct RouteFigures {
    requests: u64,
    failures: u64,
    bytes_received: u64,
    latency: Hist,
    ttfb: Hist,
}

/// The figures of one worker.
#[derive(Debug, Clone, Default)]
pub struct Recorder {
    routes: Vec<RouteFigures>,
    requests: u64,
    failures: u64,
    bytes_sent: u64,
    bytes_received: u64,
    latency: Hist,
    ttfb: Hist,
    corrected: Hist,
    lag: Hist,
    wait: Hist,
    failure_rows: HashMap<(u32, Failure), u64>,
    started: u64,
    completed: u64,
    aborted: BTreeMap<String, u64>,
    session_duration: Hist,
    active_users: u64,
    second: Second,
    /// Fill the second's per-route figures and failures too (a live view wants them).
    live: bool,
}

impl Recorder {
    /// A recorder for `routes` routes (indices `0..routes`).
    pub fn new(routes: usize) -> Self {
        Recorder {
            routes: vec![RouteFigures::default(); routes],
            ..Default::default()
        }
    }

    /// This recorder with per-route figures in every [`Second`] (see [`super::series`]).
    pub fn live(mut self) -> Self {
        self.live = true;
        self
    }

    fn route(&mut self, route: u32) -> &mut RouteFigures {
        let i = route as usize;
        if i >= self.routes.len() {
            self.routes.resize(i + 1, RouteFigures::default());
        }
        &mut self.routes[i]
    }

    /// Records a request that was sent; `failure` is `None` for a success.
    pub fn record(&mut self, s: &Sample, failure: Option<Failure>) {
        let failed = failure.is_some();
        let r = self.route(s.route);
        r.requests += 1;
        r.failures += failed as u64;
        r.bytes_received += s.bytes_received;
        r.latency.record(s.latency);
        if let Some(t) = s.ttfb {
            r.ttfb.record(t);
            self.ttfb.record(t);
        }
        self.requests += 1;
        self.bytes_sent += s.bytes_sent;
        self.bytes_received += s.bytes_received;
        self.latency.record(s.latency);
        self.corrected.record(s.latency + s.lag + s.wait);
        self.lag.record(s.lag);
        self.wait.record(s.wait);
        self.second.requests += 1;
        self.second.bytes_received += s.bytes_received;
        self.second.latency.record(s.latency);
        self.second.lag.record(s.lag);
        if self.live {
            self.second.samples.push(RouteSample {
                route: s.route,
                latency_us: s.latency.as_micros().min(Hist::MAX_US as u128) as u32,
                bytes: s.bytes_received.min(u32::MAX as u64) as u32,
                failed,
            });
        }
        if let Some(f) = failure {
            self.count_failure(s.route, f);
        }
    }

    /// Records a request that was not sent (a correlation failure): it counts as a failed
    /// request of its route, with no latency.
    pub fn record_unsent(&mut self, route: u32, failure: Failure) {
        self.route(route).requests += 1;
        self.route(route).failures += 1;
        self.requests += 1;
        self.second.requests += 1;
        if self.live {
            self.second.samples.push(RouteSample {
                route,
                latency_us: RouteSample::UNSENT,
                bytes: 0,
                failed: true,
            });
        }
        self.count_failure(route, failure);
    }

    fn count_failure(&mut self, route: u32, f: Failure) {
        self.failures += 1;
        self.second.failures += 1;
        if self.live {
            *self
                .second
                .failure_rows
                .entry((route, f.clone()))
                .or_insert(0) += 1;
        }
        *self.failure_rows.entry((route, f)).or_insert(0) += 1;
    }

    pub fn session_started(&mut self) {
        self.started += 1;
    }

    /// A session ended: `aborted` is `None` when it completed, else the reason.
    pub fn session_ended(&mut self, aborted: Option<&str>, duration: Duration) {
        match aborted {
            None => {
                self.completed += 1;
                self.session_duration.record(duration);
            }
            Some(reason) => *self.aborted.entry(reason.to_string()).or_insert(0) += 1,
        }
    }

    pub fn user_started(&mut self) {
        self.active_users += 1;
    }

    pub fn user_ended(&mut self) {
        self.active_users = self.active_users.saturating_sub(1);
    }

    pub fn active_users(&self) -> u64 {
        self.active_users
    }

    pub fn requests(&self) -> u64 {
        self.requests
    }

    /// Latency of every request so far.
    pub fn latency(&self) -> &Hist {
        &self.latency
    }

    /// Lag of every send so far.
    pub fn lag(&self) -> &Hist {
        &self.lag
    }

    pub fn bytes_received(&self) -> u64 {
        self.bytes_received
    }

    /// Route `i` so far: requests, failures, bytes received and latency.
    pub fn route_figures(&self, i: u32) -> Option<(u64, u64, u64, &Hist)> {
        self.routes
            .get(i as usize)
            .map(|r| (r.requests, r.failures, r.bytes_received, &r.latency))
    }

    /// Failures so far by kind and by (route, failure).
    pub fn failure_rows(&self) -> impl Iterator<Item = (u32, &Failure, u64)> {
        self.failure_rows.iter().map(|((r, f), n)| (*r, f, *n))
    }

    pub fn failures(&self) -> u64 {
        self.failures
    }

    /// Ends the current second: returns its figures and starts a new one.
    pub fn take_second(&mut self) -> Second {
        // a live second's samples get room for as many as the last one had: one allocation
        let room = self.second.samples.len();
        let mut s = std::mem::take(&mut self.second);
        if self.live {
            self.second.samples.reserve(room + room / 8);
        }
        s.users = self.active_users;
        s
    }

    /// Adds a second of a live recorder (totals, its routes and failures): a live view
    /// keeps the run so far this way. TTFB, corrected latency, bytes sent and sessions are
    /// not in a [`Second`] and stay empty.
    pub fn add_second(&mut self, s: &Second) {
        self.requests += s.requests;
        self.failures += s.failures;
        self.bytes_received += s.bytes_received;
        self.latency.add(&s.latency);
        self.lag.add(&s.lag);
        for x in &s.samples {
            let f = self.route(x.route);
            f.requests += 1;
            f.failures += x.failed as u64;
            f.bytes_received += x.bytes as u64;
            if x.latency_us != RouteSample::UNSENT {
                f.latency.record_us(x.latency_us as u64);
            }
        }
        for (k, n) in &s.failure_rows {
            *self.failure_rows.entry(k.clone()).or_insert(0) += n;
        }
        self.active_users = s.users;
    }

    /// Adds another worker's figures (everything but the current second).
    pub fn merge(&mut self, o: &Recorder) {
        if self.routes.len() < o.routes.len() {
            self.routes.resize(o.routes.len(), RouteFigures::default());
        }
        for (a, b) in self.routes.iter_mut().zip(&o.routes) {
            a.requests += b.requests;
            a.failures += b.failures;
            a.bytes_received += b.bytes_received;
            a.latency.add(&b.latency);
            a.ttfb.add(&b.ttfb);
        }
        self.requests += o.requests;
        self.failures += o.failures;
        self.bytes_sent += o.bytes_sent;
        self.bytes_received += o.bytes_received;
        self.latency.add(&o.latency);
        self.ttfb.add(&o.ttfb);
        self.corrected.add(&o.corrected);
        self.lag.add(&o.lag);
        self.wait.add(&o.wait);
        for (k, n) in &o.failure_rows {
            *self.failure_rows.entry(k.clone()).or_insert(0) += n;
        }
        self.started += o.started;
        self.completed += o.completed;
        for (k, n) in &o.aborted {
            *self.aborted.entry(k.clone()).or_insert(0) += n;
        }
        self.session_duration.add(&o.session_duration);
        self.active_users += o.active_users;
    }

    /// Fills `totals`, `endpoints`, `failures` and `sessions` of `summary`. `routes` gives
    /// each route's `(name, method, path)`; `duration` is the run's length (for rates).
    pub fn fill(
        &self,
        summary: &mut Summary,
        routes: &[(String, String, String)],
        duration: Duration,
    ) {
        let secs = duration.as_secs_f64();
        let rate = |n: u64| if secs > 0.0 { n as f64 / secs } else { 0.0 };
        let error_rate = if self.requests > 0 {
            self.failures as f64 / self.requests as f64
        } else {
            0.0
        };
        let peak_users = summary.totals.peak_users;
        summary.totals = Totals {
            requests: self.requests,
            failures: self.failures,
            error_rate,
            success_rate: 1.0 - error_rate,
            rps: rate(self.requests),
            bytes_received: self.bytes_received,
            bytes_sent: self.bytes_sent,
            latency: self.latency.summary(),
            ttfb: self.ttfb.summary(),
            corrected_latency: self.corrected.summary(),
            lag: self.lag.summary(),
            dependency_wait: self.wait.summary(),
            peak_users,
        };
        let name = |i: u32| {
            routes
                .get(i as usize)
                .cloned()
                .unwrap_or_else(|| (format!("route {i}"), String::new(), String::new()))
        };
        let mut endpoints: Vec<EndpointStats> = self
            .routes
            .iter()
            .enumerate()
            .filter(|(_, r)| r.requests > 0)
            .map(|(i, r)| {
                let (name, method, path) = name(i as u32);
                EndpointStats {
                    name,
                    method,
                    path,
                    requests: r.requests,
                    failures: r.failures,
                    bytes_received: r.bytes_received,
                    latency: r.latency.summary(),
                    ttfb: r.ttfb.summary(),
                }
            })
            .collect();
        endpoints.sort_by(|a, b| a.name.cmp(&b.name));
        summary.endpoints = endpoints;
        let mut failures: Vec<FailureRow> = self
            .failure_rows
            .iter()
            .map(|((route, f), &count)| FailureRow {
                endpoint: name(*route).0,
                kind: f.kind.to_string(),
                detail: f.detail.clone(),
                count,
                first_seen: None,
                last_seen: None,
            })
            .collect();
        failures.sort_by(|a, b| {
            b.count
                .cmp(&a.count)
                .then_with(|| a.endpoint.cmp(&b.endpoint))
        });
        summary.failures = failures;
        summary.sessions = Sessions {
            started: self.started,
            completed: self.completed,
            aborted: self.aborted.values().sum(),
            aborted_by_reason: self.aborted.clone(),
            duration: self.session_duration.summary(),
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::summary::kind;

    fn sample(route: u32, ms: u64, lag_ms: u64) -> Sample {
        Sample {
            route,
            latency: Duration::from_millis(ms),
            ttfb: Some(Duration::from_millis(ms / 2)),
            lag: Duration::from_millis(lag_ms),
            wait: Duration::from_millis(lag_ms * 2),
            bytes_sent: 10,
            bytes_received: 100,
        }
    }

    #[test]
    fn a_live_recorder_fills_the_routes_of_each_second() {
        let status = || Failure {
            kind: kind::STATUS,
            detail: "500".into(),
        };
        let mut plain = Recorder::new(2);
        plain.record(&sample(1, 10, 0), None);
        let s = plain.take_second();
        assert!(
            s.samples.is_empty() && s.failure_rows.is_empty(),
            "off unless live"
        );
        let mut live = Recorder::new(2).live();
        live.record(&sample(1, 10, 0), None);
        live.record(&sample(1, 30, 0), Some(status()));
        live.record_unsent(0, status());
        let s = live.take_second();
        let of = |r: u32| -> Vec<(u32, bool)> {
            s.samples
                .iter()
                .filter(|x| x.route == r)
                .map(|x| (x.latency_us, x.failed))
                .collect()
        };
        assert_eq!(of(1), vec![(10_000, false), (30_000, true)]);
        assert_eq!(of(0), vec![(RouteSample::UNSENT, true)]);
        assert_eq!(s.failure_rows[&(1, status())], 1);
        // the seconds added up give the recorder's own figures
        let mut sum = Recorder::new(2);
        sum.add_second(&s);
        live.record(&sample(0, 20, 0), None);
        sum.add_second(&live.take_second());
        assert_eq!((sum.requests(), sum.failures()), (4, 2));
        assert_eq!(sum.route_figures(1).unwrap().0, 2);
        assert_eq!(sum.route_figures(0).unwrap().3.count(), 1);
        // per route, the same histogram as the worker's own (exact, not approximated)
        for r in 0..2 {
            assert_eq!(
                sum.route_figures(r).unwrap().3,
                live.route_figures(r).unwrap().3
            );
            assert_eq!(
                sum.route_figures(r).unwrap().2,
                live.route_figures(r).unwrap().2
            );
        }
        assert_eq!(sum.latency().count(), live.latency().count());
        assert_eq!(sum.failure_rows().map(|r| r.2).sum::<u64>(), 2);
    }

    #[test]
    fn workers_merge_into_one_summary() {
        let mut a = Recorder::new(2);
        let mut b = Recorder::new(2);
        a.record(&sample(0, 10, 1), None);
        a.record(
            &sample(1, 20, 0),
            Some(Failure {
                kind: kind::STATUS,
                detail: "500".into(),
            }),
        );
        b.record(
            &sample(1, 30, 2),
            Some(Failure {
                kind: kind::STATUS,
                detail: "500".into(),
            }),
        );
        b.record_unsent(
            1,
            Failure {
                kind: kind::CORRELATION,
                detail: "thread_id".into(),
            },
        );
        a.session_started();
        a.session_ended(None, Duration::from_secs(3));
        b.session_started();
        b.session_ended(Some("correlation"), Duration::from_secs(1));
        let second = b.take_second();
        assert_eq!((second.requests, second.failures), (2, 2));
        a.merge(&b);
        let mut s: Summary = serde_json::from_value(serde_json::json!({
            "schema": "reprise.summary", "version": 1, "run": {
                "name": "t", "tool": "t", "recordings": [], "target": "", "started_at": "",
                "ended_at": "", "duration_s": 0.0, "aborted": false,
                "workload": {"mode": "open", "multiply": 1}, "speed": 1.0, "timing": "think",
                "timeout_s": 60.0, "seed": 1},
            "totals": Totals::default(), "endpoints": [], "failures": [],
            "sessions": Sessions::default(), "series": []
        }))
        .unwrap();
        let routes = vec![
            ("GET /a".to_string(), "GET".to_string(), "/a".to_string()),
            ("POST /b".to_string(), "POST".to_string(), "/b".to_string()),
        ];
        a.fill(&mut s, &routes, Duration::from_secs(2));
        assert_eq!(s.totals.requests, 4);
        assert_eq!(s.totals.failures, 3);
        assert_eq!(s.totals.rps, 2.0);
        assert_eq!(s.totals.latency.count, 3);
        // corrected = latency + lag + wait (30 + 2 + 4)
        assert!((s.totals.corrected_latency.max_ms - 36.0).abs() < 0.05);
        assert!((s.totals.lag.max_ms - 2.0).abs() < 0.01);
        assert!((s.totals.dependency_wait.max_ms - 4.0).abs() < 0.01);
        assert_eq!(s.totals.dependency_wait.count, 3);
        assert_eq!(s.endpoints[1].name, "POST /b");
        assert_eq!((s.endpoints[1].requests, s.endpoints[1].failures), (3, 3));
        assert_eq!(s.failures[0].kind, "status");
        assert_eq!(s.failures[0].count, 2);
        assert_eq!(s.failures[1].kind, "correlation");
        assert_eq!(
            (s.sessions.started, s.sessions.completed, s.sessions.aborted),
            (2, 1, 1)
        );
        assert_eq!(s.sessions.aborted_by_reason["correlation"], 1);
    }
}
