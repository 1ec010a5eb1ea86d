//! `GET /metrics`: the run's live figures in the Prometheus text format (0.0.4), so a
//! Prometheus beside the target can chart the run next to the service.
//!
//! Families: `reprise_requests_total{endpoint}`, `reprise_failures_total{endpoint,kind}`,
//! `reprise_request_duration_seconds{endpoint}` (a histogram: `_bucket{le}`, `_sum`,
//! `_count`, cumulative, from the exact HDR histograms), `reprise_users`,
//! `reprise_users_target`, `reprise_multiplier_target`, `reprise_paused`,
//! `reprise_lag_p99_seconds` (the last second), `reprise_lag_seconds` (a histogram over the
//! run), `reprise_received_bytes_total`, `reprise_web_dropped_seconds_total`.
//! Label values are escaped by [`render_sample`].

use super::live::Live;
use crate::metrics::Hist;
use crate::scrape::text::render_sample;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::Ordering::Relaxed;

/// Histogram bucket bounds, seconds.
const BUCKETS: [f64; 16] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0,
];

pub fn render(live: &Live) -> String {
    let mut out = String::with_capacity(4096);
    let routes = &live.meta.routes;
    let t = live.control.target();
    live.with_recorder(|rec, users| {
        family(&mut out, "reprise_requests_total", "counter", "Requests sent (or failed before the send), by endpoint.");
        let mut by_route: Vec<(&str, u32)> = Vec::new();
        for i in 0..routes.len() as u32 {
            if let Some((req, _, _, _)) = rec.route_figures(i) {
                if req > 0 {
                    by_route.push((&routes[i as usize].0, i));
                }
            }
        }
        for (name, i) in &by_route {
            let req = rec.route_figures(*i).map_or(0, |r| r.0);
            render_sample(&mut out, "reprise_requests_total", &[("endpoint", name)], req as f64);
        }
        family(&mut out, "reprise_failures_total", "counter", "Failed requests by endpoint and kind (connect, timeout, io, status, correlation, cross_talk).");
        let mut fails: BTreeMap<(String, &str), u64> = BTreeMap::new();
        for (r, f, n) in rec.failure_rows() {
            let name = routes
                .get(r as usize)
                .map_or_else(|| format!("route {r}"), |x| x.0.clone());
            *fails.entry((name, f.kind)).or_insert(0) += n;
        }
        for ((name, kind), n) in &fails {
            render_sample(
                &mut out,
                "reprise_failures_total",
                &[("endpoint", name), ("kind", kind)],
                *n as f64,
            );
        }
        family(&mut out, "reprise_request_duration_seconds", "histogram", "Request latency, send to last byte.");
        for (name, i) in &by_route {
            if let Some((_, _, _, h)) = rec.route_figures(*i) {
                histogram(&mut out, "reprise_request_duration_seconds", &[("endpoint", name)], h);
            }
        }
        family(&mut out, "reprise_lag_seconds", "histogram", "Replayer lag: actual minus intended send time, every send of the run.");
        histogram(&mut out, "reprise_lag_seconds", &[], rec.lag());
        family(&mut out, "reprise_received_bytes_total", "counter", "Response bytes received.");
        render_sample(&mut out, "reprise_received_bytes_total", &[], rec.bytes_received() as f64);
        family(&mut out, "reprise_users", "gauge", "Active virtual users at the end of the last second.");
        render_sample(&mut out, "reprise_users", &[], users as f64);
    });
    if live.control.is_closed() {
        family(
            &mut out,
            "reprise_users_target",
            "gauge",
            "Virtual users the run aims for (closed workload).",
        );
        render_sample(&mut out, "reprise_users_target", &[], t.users as f64);
    } else {
        family(
            &mut out,
            "reprise_multiplier_target",
            "gauge",
            "Copies of the recorded arrivals (open workload).",
        );
        render_sample(
            &mut out,
            "reprise_multiplier_target",
            &[],
            t.multiply as f64,
        );
    }
    family(
        &mut out,
        "reprise_paused",
        "gauge",
        "1 while the run is paused.",
    );
    render_sample(
        &mut out,
        "reprise_paused",
        &[],
        f64::from(u8::from(t.paused)),
    );
    family(
        &mut out,
        "reprise_lag_p99_seconds",
        "gauge",
        "Replayer lag p99 over the last second.",
    );
    render_sample(
        &mut out,
        "reprise_lag_p99_seconds",
        &[],
        live.lag_p99_ms() / 1000.0,
    );
    family(
        &mut out,
        "reprise_web_dropped_seconds_total",
        "counter",
        "Seconds the web view dropped because it fell behind (the run is not affected).",
    );
    render_sample(
        &mut out,
        "reprise_web_dropped_seconds_total",
        &[],
        live.dropped.load(Relaxed) as f64,
    );
    out
}

fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

/// Cumulative `_bucket`s (values ≤ `le`), `_sum` and `_count` of an HDR histogram of µs.
fn histogram(out: &mut String, name: &str, labels: &[(&str, &str)], h: &Hist) {
    let bucket = format!("{name}_bucket");
    let inner = h.inner();
    for le in BUCKETS {
        let us = (le * 1e6) as u64;
        let n = if h.is_empty() {
            0
        } else {
            inner.count_between(0, us)
        };
        let le_text = format!("{le}");
        let mut l = labels.to_vec();
        l.push(("le", &le_text));
        render_sample(out, &bucket, &l, n as f64);
    }
    let mut l = labels.to_vec();
    l.push(("le", "+Inf"));
    render_sample(out, &bucket, &l, h.count() as f64);
    render_sample(out, &format!("{name}_sum"), labels, h.sum_us() / 1e6);
    render_sample(out, &format!("{name}_count"), labels, h.count() as f64);
}
