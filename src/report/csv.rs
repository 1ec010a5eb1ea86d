//! Locust-compatible CSV: `stats.csv`, `stats_history.csv`, `failures.csv`.
//!
//! The column layout is Locust 2.x's, byte for byte (headers checked against files produced
//! by a real Locust run in `tests/fixtures/locust/`), so dashboards and scripts written for
//! Locust keep working. Like Locust: CRLF line ends, RFC 4180 quoting only where needed,
//! response times in milliseconds, percentiles and medians as whole milliseconds, `N/A`
//! for the percentiles of an empty window, an `Aggregated` row with an empty `Type`.
//!
//! Where reprise knows more than Locust, the CSV still says only what Locust would: the
//! full figures are in `summary.json`.

use super::Error;
use crate::metrics::summary::{EndpointStats, Summary};
use crate::metrics::{Hist, HistSummary};

pub const STATS_HEADER: &str = "Type,Name,Request Count,Failure Count,Median Response Time,Average Response Time,Min Response Time,Max Response Time,Average Content Size,Requests/s,Failures/s,50%,66%,75%,80%,90%,95%,98%,99%,99.9%,99.99%,100%";
pub const HISTORY_HEADER: &str = "Timestamp,User Count,Type,Name,Requests/s,Failures/s,50%,66%,75%,80%,90%,95%,98%,99%,99.9%,99.99%,100%,Total Request Count,Total Failure Count,Total Median Response Time,Total Average Response Time,Total Min Response Time,Total Max Response Time,Total Average Content Size";
pub const FAILURES_HEADER: &str = "Method,Name,Error,Occurrences,First Seen,Last Seen";

/// Locust's percentile columns.
const QUANTILES: [f64; 11] = [
    0.50, 0.66, 0.75, 0.80, 0.90, 0.95, 0.98, 0.99, 0.999, 0.9999, 1.0,
];

/// `stats.csv`: one row per endpoint, then `Aggregated`.
pub fn stats(s: &Summary) -> Result<String, Error> {
    let mut out = line(STATS_HEADER);
    let duration = s.run.duration_s;
    for e in &s.endpoints {
        let (method, path) = split_name(e);
        stats_row(
            &mut out,
            &method,
            &path,
            e.requests,
            e.failures,
            e.bytes_received,
            &e.latency,
            duration,
            &e.name,
        )?;
    }
    let t = &s.totals;
    stats_row(
        &mut out,
        "",
        "Aggregated",
        t.requests,
        t.failures,
        t.bytes_received,
        &t.latency,
        duration,
        "totals",
    )?;
    Ok(out)
}

#[allow(clippy::too_many_arguments)]
fn stats_row(
    out: &mut String,
    method: &str,
    name: &str,
    requests: u64,
    failures: u64,
    bytes: u64,
    latency: &HistSummary,
    duration_s: f64,
    what: &str,
) -> Result<(), Error> {
    let h = decode(latency, what)?;
    let per_s = |n: u64| {
        if duration_s > 0.0 {
            n as f64 / duration_s
        } else {
            0.0
        }
    };
    let mut cols = vec![
        field(method),
        field(name),
        requests.to_string(),
        failures.to_string(),
    ];
    if h.is_empty() {
        cols.extend(["0", "0.0", "0", "0"].map(String::from));
    } else {
        cols.push(whole_ms(h.quantile_us(0.5)));
        cols.push(py_float(latency.mean_ms));
        cols.push(py_float(latency.min_ms));
        cols.push(py_float(latency.max_ms));
    }
    cols.push(py_float(avg_size(bytes, requests)));
    cols.push(py_float(per_s(requests)));
    cols.push(py_float(per_s(failures)));
    cols.extend(percentiles(&h));
    out.push_str(&line(&cols.join(",")));
    Ok(())
}

/// `stats_history.csv`: one `Aggregated` row per second of the run (Locust's default
/// without `--csv-full-history`). Percentile columns cover that second; `Total` columns
/// everything up to and including it.
pub fn stats_history(s: &Summary) -> Result<String, Error> {
    let mut out = line(HISTORY_HEADER);
    let mut total = Hist::new();
    let (mut requests, mut failures, mut bytes) = (0u64, 0u64, 0u64);
    for p in &s.series {
        let window = decode(&p.latency, &format!("series point t={}", p.t))?;
        total.add(&window);
        requests += p.requests;
        failures += p.failures;
        bytes += p.bytes_received;
        let mut cols = vec![
            p.t.to_string(),
            p.users.to_string(),
            String::new(),
            "Aggregated".to_string(),
            format!("{:.6}", p.requests as f64),
            format!("{:.6}", p.failures as f64),
        ];
        cols.extend(percentiles(&window));
        cols.push(requests.to_string());
        cols.push(failures.to_string());
        if total.is_empty() {
            cols.extend(["0", "0.0", "0", "0", "0"].map(String::from));
        } else {
            cols.push(whole_ms(total.quantile_us(0.5)));
            cols.push(py_float(total.mean_us() / 1000.0));
            cols.push(py_float(total.min_us() as f64 / 1000.0));
            cols.push(py_float(total.max_us() as f64 / 1000.0));
            cols.push(py_float(avg_size(bytes, requests)));
        }
        out.push_str(&line(&cols.join(",")));
    }
    Ok(out)
}

/// `failures.csv`: one row per endpoint, kind and detail.
pub fn failures(s: &Summary) -> String {
    let mut out = line(FAILURES_HEADER);
    for f in &s.failures {
        let (method, path) = match f.endpoint.split_once(' ') {
            Some((m, p)) if m.chars().all(|c| c.is_ascii_uppercase()) => (m, p),
            _ => ("", f.endpoint.as_str()),
        };
        let error = if f.detail.is_empty() {
            f.kind.clone()
        } else {
            format!("{}: {}", f.kind, f.detail)
        };
        let first = f.first_seen.as_deref().unwrap_or(&s.run.started_at);
        let last = f.last_seen.as_deref().unwrap_or(&s.run.ended_at);
        let cols = [
            field(method),
            field(path),
            field(&error),
            f.count.to_string(),
            field(&locust_time(first)),
            field(&locust_time(last)),
        ];
        out.push_str(&line(&cols.join(",")));
    }
    out
}

fn split_name(e: &EndpointStats) -> (String, String) {
    if !e.method.is_empty() || !e.path.is_empty() {
        return (e.method.clone(), e.path.clone());
    }
    match e.name.split_once(' ') {
        Some((m, p)) => (m.to_string(), p.to_string()),
        None => (String::new(), e.name.clone()),
    }
}

fn decode(h: &HistSummary, what: &str) -> Result<Hist, Error> {
    h.decode().map_err(|detail| Error::Histogram {
        what: what.to_string(),
        detail,
    })
}

fn percentiles(h: &Hist) -> Vec<String> {
    QUANTILES
        .iter()
        .map(|q| {
            if h.is_empty() {
                "N/A".to_string()
            } else {
                whole_ms(h.quantile_us(*q))
            }
        })
        .collect()
}

fn avg_size(bytes: u64, requests: u64) -> f64 {
    if requests == 0 {
        0.0
    } else {
        bytes as f64 / requests as f64
    }
}

fn whole_ms(us: u64) -> String {
    ((us as f64 / 1000.0).round() as u64).to_string()
}

/// Python's `repr(float)`: shortest round-trip digits, always with a decimal point.
fn py_float(v: f64) -> String {
    let s = format!("{v}");
    if s.contains(['.', 'e', 'N', 'i']) {
        s
    } else {
        format!("{s}.0")
    }
}

/// `2026-11-27T16:54:27Z`, as Locust writes `First Seen` / `Last Seen`.
fn locust_time(rfc3339: &str) -> String {
    chrono::DateTime::parse_from_rfc3339(rfc3339)
        .map(|t| {
            t.with_timezone(&chrono::Utc)
                .format("%Y-%m-%dT%H:%M:%SZ")
                .to_string()
        })
        .unwrap_or_else(|_| rfc3339.to_string())
}

/// RFC 4180 quoting, as Python's csv module does by default (QUOTE_MINIMAL).
fn field(s: &str) -> String {
    if s.contains([',', '"', '\r', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

fn line(s: &str) -> String {
    format!("{s}\r\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_quoted_like_python_csv() {
        assert_eq!(field("GET"), "GET");
        assert_eq!(field("a,b"), "\"a,b\"");
        assert_eq!(field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(py_float(513.0), "513.0");
        assert_eq!(py_float(12.25), "12.25");
        assert_eq!(
            locust_time("2026-11-27T16:54:27.123456+00:00"),
            "2026-11-27T16:54:27Z"
        );
        assert_eq!(locust_time("garbage"), "garbage");
    }
}
