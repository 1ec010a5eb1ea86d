//! What a replay prints: one progress line per second and the final table.
//!
//! Pure formatting of [`Progress`] and [`Summary`], so the command decides where it goes
//! (progress on stderr, the table on stdout) and tests can read it.

use super::Progress;
use crate::metrics::{HistSummary, Summary};
use std::fmt::Write as _;

/// Lag p99 above which the final table warns that the generator, not the target, may have
/// been the bottleneck.
pub const LAG_WARN_MS: f64 = 100.0;

/// `[  12s] users 1000 | 1234 req/s | p95 312.0 ms | failures 0 | lag p99 1.2 ms`
pub fn live_line(p: &Progress) -> String {
    format!(
        "[{:>5}s] users {:>5} | {:>6} req/s | p95 {:>8} | failures {} | lag p99 {}",
        p.elapsed_s,
        p.users,
        p.rps,
        ms(p.p95_ms),
        p.failures,
        ms(p.lag_p99_ms)
    )
}

fn ms(v: f64) -> String {
    if v >= 10_000.0 {
        format!("{:.1} s", v / 1000.0)
    } else {
        format!("{v:.1} ms")
    }
}

fn row(out: &mut String, name: &str, requests: u64, failures: u64, h: &HistSummary, rps: f64) {
    let _ = writeln!(
        out,
        "{name:<44} {requests:>9} {failures:>8} {:>10} {:>10} {:>10} {:>10} {rps:>9.1}",
        ms(h.p50_ms),
        ms(h.p95_ms),
        ms(h.p99_ms),
        ms(h.max_ms),
    );
}

/// The final table: per endpoint, totals, sessions, lag, failures.
pub fn table(s: &Summary) -> String {
    let mut out = String::new();
    let secs = s.run.duration_s.max(f64::MIN_POSITIVE);
    let _ = writeln!(
        out,
        "{:<44} {:>9} {:>8} {:>10} {:>10} {:>10} {:>10} {:>9}",
        "endpoint", "requests", "failures", "p50", "p95", "p99", "max", "req/s"
    );
    for e in &s.endpoints {
        row(
            &mut out,
            &e.name,
            e.requests,
            e.failures,
            &e.latency,
            e.requests as f64 / secs,
        );
    }
    let t = &s.totals;
    row(&mut out, "TOTAL", t.requests, t.failures, &t.latency, t.rps);
    let _ = writeln!(
        out,
        "\nerror rate {:.2} % | ttfb p95 {} | corrected p99 {} | peak users {} | {:.1} s{}",
        t.error_rate * 100.0,
        ms(t.ttfb.p95_ms),
        ms(t.corrected_latency.p99_ms),
        t.peak_users,
        s.run.duration_s,
        if s.run.aborted { " | ABORTED" } else { "" }
    );
    let ss = &s.sessions;
    let reasons: Vec<String> = ss
        .aborted_by_reason
        .iter()
        .map(|(k, v)| format!("{k} {v}"))
        .collect();
    let _ = writeln!(
        out,
        "sessions: started {} | completed {} | aborted {}{}",
        ss.started,
        ss.completed,
        ss.aborted,
        if reasons.is_empty() {
            String::new()
        } else {
            format!(" ({})", reasons.join(", "))
        }
    );
    let _ = writeln!(
        out,
        "lag (actual - intended send): p50 {} | p99 {} | max {}",
        ms(t.lag.p50_ms),
        ms(t.lag.p99_ms),
        ms(t.lag.max_ms)
    );
    let _ = writeln!(
        out,
        "dependency wait (for responses a request needed, beyond its plan): p50 {} | p99 {} | max {}",
        ms(t.dependency_wait.p50_ms),
        ms(t.dependency_wait.p99_ms),
        ms(t.dependency_wait.max_ms)
    );
    if t.lag.p99_ms > LAG_WARN_MS {
        let _ = writeln!(
            out,
            "warning: lag p99 {} > {} — the replayer itself was late; latencies may reflect the generator, not the target",
            ms(t.lag.p99_ms),
            ms(LAG_WARN_MS)
        );
    }
    if !s.failures.is_empty() {
        let _ = writeln!(out, "\nfailures:");
        for f in s.failures.iter().take(20) {
            let _ = writeln!(
                out,
                "  {:>7} × {} {}: {}",
                f.count, f.endpoint, f.kind, f.detail
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::summary::{EndpointStats, FailureRow};

    #[test]
    fn table_shows_endpoints_totals_sessions_and_failures() {
        let mut s: Summary = serde_json::from_value(serde_json::json!({
            "schema": "reprise.summary", "version": 1, "run": {
                "name": "t", "tool": "t", "recordings": [], "target": "", "started_at": "",
                "ended_at": "", "duration_s": 2.0, "aborted": true,
                "workload": {"mode": "open", "multiply": 1}, "speed": 1.0, "timing": "think",
                "timeout_s": 60.0, "seed": 1},
            "totals": crate::metrics::summary::Totals::default(), "endpoints": [], "failures": [],
            "sessions": crate::metrics::summary::Sessions::default(), "series": []
        }))
        .unwrap();
        s.endpoints.push(EndpointStats {
            name: "POST /session/continue".into(),
            requests: 10,
            failures: 1,
            ..Default::default()
        });
        s.failures.push(FailureRow {
            endpoint: "POST /session/continue".into(),
            kind: "status".into(),
            detail: "500".into(),
            count: 1,
            ..Default::default()
        });
        s.sessions.aborted_by_reason.insert("stopped".into(), 2);
        let t = table(&s);
        assert!(t.contains("POST /session/continue"), "{t}");
        assert!(t.contains("ABORTED"), "{t}");
        assert!(t.contains("(stopped 2)"), "{t}");
        assert!(t.contains("1 × POST /session/continue status: 500"), "{t}");
        let line = live_line(&Progress {
            elapsed_s: 3,
            users: 7,
            rps: 12,
            p95_ms: 312.0,
            lag_p99_ms: 1.24,
            failures: 0,
            requests: 30,
            point: Default::default(),
            second: Default::default(),
        });
        assert!(
            line.contains("users     7")
                && line.contains("p95 312.0 ms")
                && line.contains("lag p99 1.2 ms"),
            "{line}"
        );
    }
}
