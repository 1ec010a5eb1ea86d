//! Console tables: the final summary of a run and its threshold verdicts (✅/❌).
//!
//! Plain text, aligned columns, no colour codes (the output is often piped into CI logs).

use super::format;
use crate::metrics::summary::{Summary, Verdict, Workload};
use std::fmt::Write as _;

/// Threshold verdicts, one per line: `  ✅ p95 < 5s    4.21s`.
pub fn render_verdicts(verdicts: &[Verdict]) -> String {
    if verdicts.is_empty() {
        return String::new();
    }
    let width = verdicts
        .iter()
        .map(|v| v.expr.chars().count())
        .max()
        .unwrap_or(0);
    let passed = verdicts.iter().filter(|v| v.ok).count();
    let mut out = format!("Thresholds: {passed}/{} met\n", verdicts.len());
    for v in verdicts {
        let mark = if v.ok { "✅" } else { "❌" };
        let pad = width - v.expr.chars().count();
        let _ = writeln!(
            out,
            "  {mark} {}{}   {}",
            v.expr,
            " ".repeat(pad),
            v.observed
        );
    }
    out
}

/// The final table: run line, totals, one row per endpoint, then the verdicts.
pub fn render_summary(s: &Summary) -> String {
    let mut out = String::new();
    let t = &s.totals;
    let users = match &s.run.workload {
        Workload::Closed { users, .. } => format!("{} users", format::count(*users)),
        Workload::Open { multiply } => format!("×{multiply} open"),
        Workload::Rate { per_s } => format!("{} sessions/s open", format::num(*per_s)),
    };
    let _ = writeln!(
        out,
        "{} — {} against {}, {} at {}× speed, {}{}",
        s.run.name,
        users,
        s.run.target,
        format::ms(s.run.duration_s * 1000.0),
        format::num(s.run.speed),
        s.run.timing,
        if s.run.aborted {
            format!(
                " — ABORTED ({})",
                s.run.abort_reason.as_deref().unwrap_or("stopped")
            )
        } else {
            String::new()
        }
    );
    out.push_str(&render_shards(s));
    let _ = writeln!(
        out,
        "{} requests, {} failed ({}), {}, lag p99 {}, dependency wait p99 {}\n",
        format::count(t.requests),
        format::count(t.failures),
        format::pct(t.error_rate * 100.0),
        format::rate(t.rps),
        format::ms(t.lag.p99_ms),
        format::ms(t.dependency_wait.p99_ms)
    );
    let mut rows = vec![[
        "endpoint".to_string(),
        "requests".into(),
        "fails".into(),
        "p50".into(),
        "p95".into(),
        "p99".into(),
        "max".into(),
    ]];
    let row = |name: &str, req: u64, fail: u64, h: &crate::metrics::HistSummary| {
        [
            name.to_string(),
            format::count(req),
            format::count(fail),
            format::ms(h.p50_ms),
            format::ms(h.p95_ms),
            format::ms(h.p99_ms),
            format::ms(h.max_ms),
        ]
    };
    for e in &s.endpoints {
        rows.push(row(&e.name, e.requests, e.failures, &e.latency));
    }
    rows.push(row("all", t.requests, t.failures, &t.latency));
    let widths: Vec<usize> = (0..7)
        .map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0))
        .collect();
    for r in &rows {
        let mut line = String::from("  ");
        for (c, cell) in r.iter().enumerate() {
            let pad = " ".repeat(widths[c] - cell.chars().count());
            if c == 0 {
                line.push_str(&format!("{cell}{pad}"));
            } else {
                line.push_str(&format!("  {pad}{cell}"));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    if !s.thresholds.is_empty() {
        out.push('\n');
        out.push_str(&render_verdicts(&s.thresholds));
    }
    out
}

/// The start and the shards of a run, when it had them: `shards: 4 of 4 merged | missing:
/// none | failed: none | start skew p50 1.2 ms, p100 3.4 ms (spread 2.2 ms)`.
fn render_shards(s: &Summary) -> String {
    let r = &s.run;
    let mut out = String::new();
    if let Some(sh) = &r.shards {
        let list = |v: &mut dyn Iterator<Item = u64>| {
            let v: Vec<String> = v.map(|i| format!("{i}/{}", sh.count)).collect();
            if v.is_empty() {
                "none".to_string()
            } else {
                v.join(", ")
            }
        };
        let _ = write!(
            out,
            "shards: {} of {} merged | missing: {} | failed: {}",
            sh.merged.len(),
            sh.count,
            list(&mut sh.missing.iter().copied()),
            list(&mut sh.failed.iter().map(|f| f.index)),
        );
        if let Some(k) = &sh.start_skew {
            let _ = write!(
                out,
                " | start skew p50 {}, p100 {} (spread {})",
                format::ms(k.p50_ms),
                format::ms(k.p100_ms),
                format::ms(k.spread_ms)
            );
        }
        out.push('\n');
    } else if let (Some(at), Some(skew)) = (&r.start_at, r.start_skew_ms) {
        let _ = writeln!(out, "start at {at}: skew {}", format::ms(skew));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verdicts_align_and_mark() {
        let v = |expr: &str, ok: bool, observed: &str| Verdict {
            expr: expr.into(),
            value: Some(1.0),
            ok,
            observed: observed.into(),
        };
        let text = render_verdicts(&[
            v("p95 < 5s", true, "4.21s"),
            v("error_rate < 0.1%", false, "1.20%"),
        ]);
        assert_eq!(
            text,
            "Thresholds: 1/2 met\n  ✅ p95 < 5s            4.21s\n  ❌ error_rate < 0.1%   1.20%\n"
        );
        assert_eq!(render_verdicts(&[]), "");
    }
}
