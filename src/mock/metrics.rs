//! `GET /metrics` of the mock: its counters and bottleneck gauges in the Prometheus text
//! format (0.0.4), so `replay --scrape` and attribution have a target that reports on itself.
//!
//! # Invariants
//! - The pool gauges (`db_pool_*`) appear only when a database is configured, the LLM ones
//!   (`llm_*`) only when an LLM limit is; counters are always there.
//! - Every family has `# HELP` and `# TYPE`; values are read from relaxed atomics, so one
//!   page is not one instant.

use super::bottleneck::Gate;
use super::counters::Counts;
use std::fmt::Write as _;

/// The page. `db` and `llm` are the configured gates.
pub(crate) fn render(c: &Counts, db: Option<&Gate>, llm: Option<&Gate>) -> String {
    let mut s = String::with_capacity(2048);
    let mut family = |s: &mut String, name: &str, kind: &str, help: &str| {
        let _ = writeln!(s, "# HELP {name} {help}\n# TYPE {name} {kind}");
    };
    family(
        &mut s,
        "http_requests_total",
        "counter",
        "Requests received, by endpoint.",
    );
    for (endpoint, n) in [
        ("start", c.start),
        ("continue", c.continue_),
        ("stream", c.stream),
        ("status", c.status),
        ("health", c.health),
        ("other", c.other),
    ] {
        let _ = writeln!(s, "http_requests_total{{endpoint=\"{endpoint}\"}} {n}");
    }
    family(
        &mut s,
        "http_errors_total",
        "counter",
        "Responses with a 4xx or 5xx status.",
    );
    let _ = writeln!(s, "http_errors_total{{class=\"4xx\"}} {}", c.status_4xx);
    let _ = writeln!(s, "http_errors_total{{class=\"5xx\"}} {}", c.status_5xx);
    family(
        &mut s,
        "sessions_started_total",
        "counter",
        "Thread ids issued.",
    );
    let _ = writeln!(s, "sessions_started_total {}", c.sessions_started);
    family(
        &mut s,
        "connections_open",
        "gauge",
        "Client connections open.",
    );
    let _ = writeln!(s, "connections_open {}", c.connections_open);
    if let Some(g) = db {
        gate(
            &mut s,
            &mut family,
            "db_pool",
            "db",
            "database connections",
            g,
        );
    }
    if let Some(g) = llm {
        gate(&mut s, &mut family, "llm", "llm", "LLM calls", g);
    }
    s
}

fn gate(
    s: &mut String,
    family: &mut impl FnMut(&mut String, &str, &str, &str),
    gauge: &str,
    counter: &str,
    what: &str,
    g: &Gate,
) {
    let (max, in_use) = if gauge == "llm" {
        ("llm_limit", "llm_in_flight")
    } else {
        ("db_pool_max", "db_pool_in_use")
    };
    family(s, max, "gauge", &format!("Most {what} at once."));
    let _ = writeln!(s, "{max} {}", g.size());
    family(s, in_use, "gauge", &format!("{what} in progress."));
    let _ = writeln!(s, "{in_use} {}", g.in_use());
    let waiting = format!("{gauge}_waiting");
    family(
        s,
        &waiting,
        "gauge",
        &format!("Requests queued for {what}."),
    );
    let _ = writeln!(s, "{waiting} {}", g.waiting());
    let acquired = format!("{counter}_acquired_total");
    family(s, &acquired, "counter", &format!("{what} started."));
    let _ = writeln!(s, "{acquired} {}", g.acquired());
    let waited = format!("{counter}_wait_seconds_total");
    family(
        s,
        &waited,
        "counter",
        &format!("Time spent queueing for {what}."),
    );
    let _ = writeln!(s, "{waited} {}", g.waited().as_secs_f64());
}
