//! The human table of `reprise inspect`.

use super::Report;
use std::fmt::Write as _;

/// The report as aligned plain text, ending with a newline.
pub fn render(r: &Report) -> String {
    let mut o = String::new();
    let _ = write_report(&mut o, r);
    o
}

fn write_report(o: &mut String, r: &Report) -> std::fmt::Result {
    writeln!(
        o,
        "{}  ({}, created {})",
        r.file.display(),
        r.tool,
        r.created_at.format("%Y-%m-%d %H:%M:%S UTC")
    )?;
    if !r.source.is_empty() {
        let parts: Vec<String> = r
            .source
            .iter()
            .map(|(k, v)| match v {
                serde_json::Value::String(s) => format!("{k}={s}"),
                other => format!("{k}={other}"),
            })
            .collect();
        writeln!(o, "source         {}", parts.join("  "))?;
    }
    writeln!(o)?;
    write!(o, "sessions       {}", r.sessions)?;
    if r.without_session > 0 {
        write!(
            o,
            "  (+{} exchanges outside any session)",
            r.without_session
        )?;
    }
    writeln!(o)?;
    writeln!(o, "exchanges      {}", r.exchanges)?;
    if let Some(span) = &r.span {
        writeln!(
            o,
            "time span      {} → {}  ({})",
            span.start.format("%Y-%m-%d %H:%M:%S%.3f"),
            span.end.format("%H:%M:%S%.3f"),
            seconds(span.seconds)
        )?;
    }
    if let Some(m) = r.exchanges_per_session {
        writeln!(
            o,
            "per session    min {} · p50 {} · max {} exchanges",
            m.min, m.p50, m.max
        )?;
    }
    match r.think_time {
        Some(t) => writeln!(
            o,
            "think time     p50 {} · p90 {} · max {}  ({} gaps)",
            ms(t.p50_ms),
            ms(t.p90_ms),
            ms(t.max_ms),
            t.samples
        )?,
        None => writeln!(o, "think time     none (no session sent after a response)")?,
    }

    if !r.endpoints.is_empty() {
        writeln!(o)?;
        let width = r
            .endpoints
            .iter()
            .map(|e| e.name.chars().count())
            .max()
            .unwrap_or(0)
            .clamp("endpoint".len(), MAX_NAME);
        writeln!(
            o,
            "{:<width$}  {:>8}  {:>8}  {:>9}  {:>9}  {:>9}",
            "endpoint", "count", "failed", "p50", "p95", "max"
        )?;
        for e in &r.endpoints {
            writeln!(
                o,
                "{:<width$}  {:>8}  {:>8}  {:>9}  {:>9}  {:>9}",
                fit(&e.name),
                e.count,
                e.failures,
                ms(e.p50_ms),
                ms(e.p95_ms),
                ms(e.max_ms)
            )?;
        }
    }

    if !r.node_paths.is_empty() {
        writeln!(o)?;
        writeln!(
            o,
            "node paths (top {} of {})",
            r.node_paths.len(),
            r.distinct_node_paths
        )?;
        for p in &r.node_paths {
            writeln!(o, "  {:>6}  {}", p.sessions, p.path)?;
        }
    }

    writeln!(o)?;
    let statuses: Vec<String> = r
        .statuses
        .iter()
        .map(|(s, n)| format!("{s} ×{n}"))
        .collect();
    writeln!(o, "status codes   {}", list_or_none(&statuses))?;
    let errors: Vec<String> = r.errors.iter().map(|(k, n)| format!("{k} ×{n}")).collect();
    writeln!(o, "errors         {}", list_or_none(&errors))?;

    let i = &r.integrity;
    let footer = match (i.footer, i.footer_matches) {
        (Some(f), Some(false)) => format!(
            "footer says {} exchanges but {} were read",
            f.exchanges, r.exchanges
        ),
        (Some(f), _) => format!(
            "footer ✓ ({} exchanges, {} sessions, {} dropped)",
            f.exchanges, f.sessions, f.dropped
        ),
        (None, _) => "no footer: the recording did not stop cleanly".to_string(),
    };
    let torn = match i.torn {
        Some(t) => format!(
            "damaged at byte {}: {}{}; {} exchanges recovered before it",
            t.offset,
            t.line.map(|l| format!("line {l} ")).unwrap_or_default(),
            t.why,
            t.recovered
        ),
        None => "no torn tail".to_string(),
    };
    write!(o, "integrity      {footer} · {torn}")?;
    if i.skipped_lines > 0 {
        write!(o, " · {} lines of unknown kind skipped", i.skipped_lines)?;
    }
    writeln!(o)?;
    Ok(())
}

fn list_or_none(items: &[String]) -> String {
    if items.is_empty() {
        "none".to_string()
    } else {
        items.join(" · ")
    }
}

/// `812 ms`, `1.98 s`, `0.25 ms`.
fn ms(v: f64) -> String {
    if v >= 1000.0 {
        format!("{:.2} s", v / 1000.0)
    } else if v >= 10.0 {
        format!("{v:.0} ms")
    } else {
        format!("{v:.2} ms")
    }
}

/// `42.3 s`, `12 min 5 s`, `3 h 2 min`.
fn seconds(s: f64) -> String {
    if s < 60.0 {
        format!("{s:.1} s")
    } else if s < 3600.0 {
        format!("{} min {} s", (s / 60.0) as u64, (s % 60.0) as u64)
    } else {
        format!(
            "{} h {} min",
            (s / 3600.0) as u64,
            ((s % 3600.0) / 60.0) as u64
        )
    }
}

/// The widest endpoint column: a longer name (one hostile client can send a path of any
/// length; a width past 65,535 is more than `format!` accepts) is cut with `…`.
const MAX_NAME: usize = 80;

/// `name`, cut to [`MAX_NAME`] characters.
fn fit(name: &str) -> std::borrow::Cow<'_, str> {
    if name.chars().count() <= MAX_NAME {
        return name.into();
    }
    let mut cut: String = name.chars().take(MAX_NAME - 1).collect();
    cut.push('…');
    cut.into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_well() {
        assert_eq!(ms(0.25), "0.25 ms");
        assert_eq!(ms(812.4), "812 ms");
        assert_eq!(ms(1984.0), "1.98 s");
        assert_eq!(seconds(42.34), "42.3 s");
        assert_eq!(seconds(72.0), "1 min 12 s");
        assert_eq!(seconds(725.0), "12 min 5 s");
        assert_eq!(seconds(10_920.0), "3 h 2 min");
    }
}
