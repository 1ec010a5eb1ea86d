//! The console lines for scraped target metrics: per target, scrapes and failures, then the
//! first few gauges with their last and largest value.

use crate::metrics::scraped::Scraped;
use std::fmt::Write as _;

/// Gauges shown per target.
const SHOWN: usize = 8;

pub fn render(s: &Scraped) -> String {
    let mut out = String::new();
    for t in &s.targets {
        let _ = write!(
            out,
            "scrape {}: {} scrapes, {} failed, {} series",
            t.url,
            t.scrapes,
            t.failed,
            t.series.len()
        );
        if let Some(e) = &t.last_error {
            let _ = write!(out, " (last failure: {e})");
        }
        out.push('\n');
        for g in t.series.iter().filter(|g| g.kind == "gauge").take(SHOWN) {
            let max = g
                .points
                .iter()
                .map(|p| p[1])
                .fold(f64::NEG_INFINITY, f64::max);
            let last = g.points.last().map_or(f64::NAN, |p| p[1]);
            let labels: Vec<String> = g
                .labels
                .iter()
                .map(|(k, v)| format!("{k}=\"{v}\""))
                .collect();
            let name = if labels.is_empty() {
                g.name.clone()
            } else {
                format!("{}{{{}}}", g.name, labels.join(","))
            };
            let _ = writeln!(out, "  {name:<40} last {last:>10.4}  max {max:>10.4}");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::scraped::{Series, Target};

    #[test]
    fn shows_failures_and_gauges() {
        let s = Scraped {
            targets: vec![Target {
                url: "http://127.0.0.1:1/metrics".into(),
                scrapes: 5,
                failed: 2,
                last_error: Some("timed out after 1s".into()),
                series: vec![Series {
                    name: "db_pool_in_use".into(),
                    kind: "gauge".into(),
                    points: vec![[0.0, 3.0], [1.0, 9.0], [2.0, 4.0]],
                    ..Default::default()
                }],
                ..Default::default()
            }],
        };
        let r = render(&s);
        assert!(
            r.contains("5 scrapes, 2 failed, 1 series (last failure: timed out after 1s)"),
            "{r}"
        );
        assert!(
            r.contains("db_pool_in_use") && r.contains("last     4.0000  max     9.0000"),
            "{r}"
        );
    }
}
