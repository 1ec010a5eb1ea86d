//! The measure of a level's hold: per endpoint and per Server-Timing component, only the
//! responses that completed after the warm-up.
//!
//! The replay's own recorder measures the whole run (warm-up included); its 1-second series
//! gives the hold's latency, requests and lag exactly, but not per endpoint nor per
//! Server-Timing component. This hook adds those for the hold alone, so the SLOs
//! (`endpoint['…'].p95`, `server_timing.checkpoint_save.p95`) and the attribution see the
//! same stretch of time as the series.
//!
//! # Invariants
//! - A response counts when it completed (send + latency) at or after `from`; before that
//!   it is warm-up and is not recorded at all.
//! - A failure is what the replay counts as one: a transport failure or a status ≥ 400.
//!   Requests never sent (a correlation failure) are not seen here; the series counts them.

use crate::metrics::summary::EndpointStats;
use crate::metrics::{server_timing, Hist};
use crate::replay::hook::{Live, Measure, WorkerMeasure};
use crate::replay::plan::Route;
use std::collections::BTreeMap;
use std::sync::Mutex;
use tokio::time::Instant;

/// The run-wide measure: the instant the hold starts, the plan's endpoints, and (once the
/// run finished) the merged figures.
#[derive(Debug)]
pub struct Hold {
    from: Instant,
    routes: Vec<Route>,
    out: Mutex<Figures>,
}

impl Hold {
    pub fn new(from: std::time::Instant, routes: &[Route]) -> Hold {
        Hold {
            from: Instant::from_std(from),
            routes: routes.to_vec(),
            out: Mutex::new(Figures::default()),
        }
    }

    /// What the hold measured (empty before the run finished).
    pub fn take(&self) -> Figures {
        std::mem::take(&mut *self.out.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

#[derive(Debug, Clone, Default)]
struct Endpoint {
    requests: u64,
    failures: u64,
    latency: Hist,
    ttfb: Hist,
}

/// One worker's figures (and, merged, the run's).
#[derive(Debug, Default)]
pub struct Part {
    from: Option<Instant>,
    endpoints: BTreeMap<u32, Endpoint>,
    server_timing: BTreeMap<String, Hist>,
}

/// What the hold measured.
#[derive(Debug, Clone, Default)]
pub struct Figures {
    pub endpoints: Vec<EndpointStats>,
    pub server_timing: BTreeMap<String, Hist>,
}

impl Measure for Hold {
    type Worker = Part;

    fn worker(&self, _index: usize) -> Part {
        Part {
            from: Some(self.from),
            ..Default::default()
        }
    }

    fn finish(&self, parts: Vec<Part>, _summary: &mut crate::metrics::Summary) {
        let figures = self.figures(parts);
        *self.out.lock().unwrap_or_else(|e| e.into_inner()) = figures;
    }
}

impl Hold {
    /// Merges the workers' parts into the hold's figures.
    fn figures(&self, parts: Vec<Part>) -> Figures {
        let mut endpoints: BTreeMap<u32, Endpoint> = BTreeMap::new();
        let mut server_timing: BTreeMap<String, Hist> = BTreeMap::new();
        for p in parts {
            for (route, e) in p.endpoints {
                let mine = endpoints.entry(route).or_default();
                mine.requests += e.requests;
                mine.failures += e.failures;
                mine.latency.add(&e.latency);
                mine.ttfb.add(&e.ttfb);
            }
            for (name, h) in p.server_timing {
                server_timing.entry(name).or_default().add(&h);
            }
        }
        let endpoints = endpoints
            .into_iter()
            .map(|(route, e)| {
                let r = self.routes.get(route as usize);
                EndpointStats {
                    name: r.map_or_else(|| format!("route {route}"), |r| r.name.clone()),
                    method: r.map_or_else(String::new, |r| r.method.clone()),
                    path: r.map_or_else(String::new, |r| r.path.clone()),
                    requests: e.requests,
                    failures: e.failures,
                    bytes_received: 0,
                    latency: e.latency.summary(),
                    ttfb: e.ttfb.summary(),
                }
            })
            .collect();
        Figures {
            endpoints,
            server_timing,
        }
    }
}

impl WorkerMeasure for Part {
    type Part = Part;

    fn response(&mut self, r: &Live<'_>) {
        if self.from.is_some_and(|from| r.sent + r.latency < from) {
            return;
        }
        let e = self.endpoints.entry(r.route).or_default();
        e.requests += 1;
        e.failures += r.failure.is_some() as u64;
        e.latency.record(r.latency);
        if let Some(t) = r.ttfb {
            e.ttfb.record(t);
        }
        let Some(headers) = r.headers else { return };
        for value in headers.get_all("server-timing") {
            let _ = server_timing::parse(value.as_bytes(), |m| {
                if let Some(ms) = m.dur_ms {
                    let h = match self.server_timing.get_mut(m.name) {
                        Some(h) => h,
                        None => self.server_timing.entry(m.name.to_string()).or_default(),
                    };
                    h.record_us((ms * 1000.0).round() as u64);
                }
            });
        }
    }

    fn finish(self) -> Part {
        self
    }
}
