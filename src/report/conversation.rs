//! The conversation section of the console's final table: per node transition, per turn,
//! streaming, Server-Timing, fields, divergence and isolation — compact, one line per row.
//!
//! # Invariants
//! - Prints nothing for a run that measured nothing conversational (empty string).
//! - At most [`MAX_ROWS`] transition rows and turn rows (the busiest first), so a
//!   recording with many node names keeps the table readable; the rest is counted.

use super::format::ms as fmt_ms;
use crate::metrics::summary::Conversation;
use crate::metrics::HistSummary;
use std::collections::BTreeMap;
use std::fmt::Write as _;

pub const MAX_ROWS: usize = 12;

fn hist_row(out: &mut String, label: &str, h: &HistSummary, recorded: Option<&HistSummary>) {
    let _ = write!(
        out,
        "  {label:<28} {:>7} {:>9} {:>9} {:>9} {:>9}",
        h.count,
        fmt_ms(h.mean_ms),
        fmt_ms(h.p50_ms),
        fmt_ms(h.p95_ms),
        fmt_ms(h.p99_ms),
    );
    if let Some(r) = recorded.filter(|r| r.count > 0) {
        let _ = write!(out, "   rec p50 {}", fmt_ms(r.p50_ms));
    }
    out.push('\n');
}

/// Non-empty histograms, the busiest first.
fn busiest(m: &BTreeMap<String, HistSummary>) -> Vec<(&String, &HistSummary)> {
    let mut rows: Vec<_> = m.iter().filter(|(_, h)| h.count > 0).collect();
    rows.sort_by(|a, b| b.1.count.cmp(&a.1.count).then(a.0.cmp(b.0)));
    rows
}

fn header(out: &mut String, title: &str) {
    let _ = writeln!(
        out,
        "  {title:<28} {:>7} {:>9} {:>9} {:>9} {:>9}",
        "count", "mean", "p50", "p95", "p99"
    );
}

/// The section, or an empty string when `c` holds nothing.
pub fn render(c: &Conversation) -> String {
    let mut out = String::new();
    let nodes = busiest(&c.nodes);
    if !nodes.is_empty() {
        header(&mut out, "node transition");
        for (k, h) in nodes.iter().take(MAX_ROWS) {
            hist_row(&mut out, k, h, c.recorded_nodes.get(*k));
        }
        if nodes.len() > MAX_ROWS {
            let _ = writeln!(
                out,
                "  … {} more transitions in summary.json",
                nodes.len() - MAX_ROWS
            );
        }
    }
    let mut turns: Vec<_> = c.turns.iter().filter(|(_, h)| h.count > 0).collect();
    turns.sort_by_key(|(k, _)| k.parse::<u32>().unwrap_or(u32::MAX));
    if !turns.is_empty() {
        header(&mut out, "turn");
        for (k, h) in turns.iter().take(MAX_ROWS) {
            hist_row(&mut out, &format!("#{k}"), h, c.recorded_turns.get(*k));
        }
        if turns.len() > MAX_ROWS {
            let _ = writeln!(
                out,
                "  … {} more turns in summary.json",
                turns.len() - MAX_ROWS
            );
        }
    }
    for (endpoint, s) in &c.streaming {
        let _ = writeln!(
            out,
            "  stream {endpoint}: {} responses, TTFT p50 {} p95 {}, gap p50 {} p95 {}, events p50 {:.0}, duration p95 {}",
            s.responses,
            fmt_ms(s.ttft.p50_ms),
            fmt_ms(s.ttft.p95_ms),
            fmt_ms(s.gap.p50_ms),
            fmt_ms(s.gap.p95_ms),
            s.events.p50_ms * 1000.0,
            fmt_ms(s.duration.p95_ms),
        );
    }
    if !c.server_timing.is_empty() || c.server_timing_malformed > 0 {
        let parts: Vec<String> = c
            .server_timing
            .iter()
            .map(|(k, h)| format!("{k} p50 {} p95 {}", fmt_ms(h.p50_ms), fmt_ms(h.p95_ms)))
            .collect();
        let _ = writeln!(
            out,
            "  server-timing: {}; malformed headers {}",
            if parts.is_empty() {
                "none".to_string()
            } else {
                parts.join(", ")
            },
            c.server_timing_malformed
        );
    }
    if c.fields.values().any(|&n| n > 0) {
        let parts: Vec<String> = c.fields.iter().map(|(k, n)| format!("{k} {n}")).collect();
        let _ = writeln!(out, "  fields (truthy): {}", parts.join(", "));
    }
    let d = &c.divergence;
    if d.compared > 0 {
        let mut by_node: Vec<_> = d.by_node.iter().filter(|(_, n)| n.diverged > 0).collect();
        by_node.sort_by(|a, b| b.1.rate.total_cmp(&a.1.rate).then(a.0.cmp(b.0)));
        let nodes: Vec<String> = by_node
            .iter()
            .map(|(k, n)| format!("{k} {:.1}% ({}/{})", n.rate * 100.0, n.diverged, n.compared))
            .collect();
        let mut first: Vec<_> = d.first_turn.iter().collect();
        first.sort_by_key(|(k, _)| k.parse::<u32>().unwrap_or(u32::MAX));
        let first: Vec<String> = first.iter().map(|(k, n)| format!("#{k}×{n}")).collect();
        let _ = writeln!(
            out,
            "  divergence: {}/{} turns ({:.1}%){}{}",
            d.diverged,
            d.compared,
            d.diverged as f64 * 100.0 / d.compared as f64,
            if nodes.is_empty() {
                String::new()
            } else {
                format!(" — {}", nodes.join(", "))
            },
            if first.is_empty() {
                String::new()
            } else {
                format!("; first diverging turn {}", first.join(" "))
            },
        );
    }
    follow_and_paths(&mut out, c);
    let i = &c.isolation;
    if i.cross_talk > 0 {
        let _ = write!(out, "  isolation: ❌ {} cross-talk responses", i.cross_talk);
        if let Some(e) = i.examples.first() {
            let _ = write!(
                out,
                " (e.g. {}: expected {}, got {})",
                e.endpoint, e.expected, e.found
            );
        }
        out.push('\n');
    } else if !out.is_empty() {
        let _ = writeln!(out, "  isolation: ✅ no cross-talk");
    }
    if out.is_empty() {
        return out;
    }
    format!("Conversation\n{out}")
}

/// `follow:` (what users did when the agent left the recording) and `paths:` (live beside
/// recorded: the distances, the length histograms and the top paths).
fn follow_and_paths(out: &mut String, c: &Conversation) {
    let f = &c.follow;
    if f.sessions > 0 {
        let mut nodes: Vec<_> = f.by_node.iter().collect();
        nodes.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
        let nodes: Vec<String> = nodes.iter().map(|(k, n)| format!("{k} {n}")).collect();
        let ended: Vec<String> = f.ended.iter().map(|(k, n)| format!("{k} {n}")).collect();
        let _ = writeln!(
            out,
            "  left the recording: {} sessions (at {}); {} answers from the bank; ended {}",
            f.sessions,
            nodes.join(", "),
            f.answers,
            ended.join(", ")
        );
    }
    let p = &c.paths;
    if p.is_empty() {
        return;
    }
    let _ = writeln!(
        out,
        "  node paths, live vs recorded: distance {:.3} over lengths, {:.3} over paths (total variation)",
        p.length_distance, p.path_distance
    );
    for (side, counts) in [("live", &p.live), ("recorded", &p.recorded)] {
        let mut lengths: Vec<_> = counts.lengths.iter().collect();
        lengths.sort_by_key(|(k, _)| k.parse::<u32>().unwrap_or(u32::MAX));
        let lengths: Vec<String> = lengths.iter().map(|(k, n)| format!("{k}×{n}")).collect();
        let _ = writeln!(
            out,
            "    {side:<9} {} sessions, lengths {}",
            counts.sessions,
            lengths.join(" ")
        );
        for (path, n) in top_paths(&counts.paths, 3) {
            let _ = writeln!(out, "      {n:>7}  {path}");
        }
    }
}

/// The `k` most common paths, most common first (ties by name).
pub fn top_paths(paths: &BTreeMap<String, u64>, k: usize) -> Vec<(&str, u64)> {
    let mut v: Vec<(&str, u64)> = paths.iter().map(|(p, &n)| (p.as_str(), n)).collect();
    v.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    v.truncate(k);
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::conversation::{Config, Exchange, IssuedIds, Recorder};
    use serde_json::json;
    use std::sync::Arc;
    use std::time::Duration;

    #[test]
    fn empty_prints_nothing() {
        assert_eq!(render(&Conversation::default()), "");
    }

    #[test]
    fn shows_nodes_turns_streams_timings_divergence_isolation() {
        let issued = Arc::new(IssuedIds::new());
        issued.claim("other");
        let mut r = Recorder::new(Arc::new(Config::default()), issued);
        let mut s = r.start_session();
        let bodies = [
            (
                "POST /session/start",
                json!({"thread_id": "t", "current_node": "APK"}),
                "APK",
            ),
            (
                "POST /session/continue",
                json!({"thread_id": "t", "current_node": "CI", "image_url": "x"}),
                "CI",
            ),
            (
                "POST /session/continue",
                json!({"thread_id": "other", "current_node": "AR"}),
                "GE",
            ),
        ];
        for (ep, body, rec) in &bodies {
            let recorded = json!({"current_node": rec});
            r.exchange(
                &mut s,
                &Exchange {
                    endpoint: ep,
                    status: 200,
                    latency: Duration::from_millis(1200),
                    live: Some(body.into()),
                    recorded: Some(crate::metrics::conversation::Recorded {
                        status: 200,
                        latency: Duration::from_millis(900),
                        json: Some((&recorded).into()),
                        node: None,
                        id: None,
                    }),
                },
            );
        }
        r.server_timing(b"checkpoint_save;dur=14.2, nonsense;dur=x");
        let ms = Duration::from_millis;
        r.stream(
            "POST /session/continue/stream",
            &[ms(300), ms(400), ms(500)],
            ms(520),
        );
        let text = render(&r.summary());
        for want in [
            "Conversation\n",
            "START→APK",
            "CI→AR",
            "1.20s",
            "rec p50 900ms",
            "#2",
            "stream POST /session/continue/stream: 1 responses, TTFT p50 300ms",
            "gap p50 100ms",
            "events p50 3",
            "checkpoint_save p50 14.2ms",
            "malformed headers 1",
            "/image_url 1",
            "divergence: 1/2 turns (50.0%) — GE 100.0% (1/1); first diverging turn #2×1",
            "isolation: ❌ 1 cross-talk responses (e.g. POST /session/continue: expected t, got other)",
        ] {
            assert!(text.contains(want), "missing {want:?} in\n{text}");
        }
    }
}
