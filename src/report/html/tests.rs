//! Unit tests of the HTML report: escaping, no network references, every section.

use super::*;

#[test]
fn escapes_summary_text_and_embedded_json() {
    let mut s = crate::report::fixture::seeded(1);
    s.run.name = "<script>alert(1)</script>".into();
    s.endpoints[0].name = "GET /a?b=<x>&c".into();
    let html = render(&s);
    assert!(!html.contains("<script>alert"));
    assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    assert!(html.contains("GET /a?b=&lt;x&gt;&amp;c"));
    assert_eq!(
        html.matches("<script").count(),
        4,
        "only our four script elements (series and distribution data, dist.js, report.js)"
    );
    assert!(!series_json(&s, &[]).contains('<'));
    assert!(!dist_json(&s).contains('<'));
}

#[test]
fn makes_no_network_reference() {
    let html = render(&crate::report::fixture::seeded(1));
    for needle in ["http://", "https://", "//cdn", "@import", "url("] {
        let hits: Vec<&str> = html
            .match_indices(needle)
            .map(|(i, _)| &html[i.saturating_sub(40)..(i + 40).min(html.len())])
            .collect();
        // the only URLs are data shown as text (the target) and the SVG namespace
        for hit in hits {
            assert!(
                hit.contains("127.0.0.1") || hit.contains("www.w3.org/2000/svg"),
                "unexpected reference: {hit}"
            );
        }
    }
    assert!(!html.contains(" src=\""), "no external src attribute");
}

#[test]
fn renders_every_section_of_a_full_summary() {
    let mut s = crate::report::fixture::seeded(3);
    s.thresholds = crate::report::Thresholds::parse_all(&["p95 < 5s", "error_rate == 0%"])
        .unwrap()
        .evaluate(&s);
    let html = render(&s);
    for id in [
        "thresholds",
        "charts",
        "endpoints",
        "nodes",
        "turns",
        "server-timing",
        "streaming",
        "divergence",
        "fields",
        "sessions",
        "failures",
        "settings",
    ] {
        assert!(
            html.contains(&format!("<section id=\"{id}\">")),
            "section {id}"
        );
    }
    assert_eq!(html.matches("data-chart=").count(), 4);
    for label in [
        "Recording",
        "Target",
        "Speed",
        "Timing mode",
        "Duration",
        "Lag p99",
        "Spawn rate",
    ] {
        assert!(
            html.contains(&format!("<dt>{label}</dt>")),
            "setting {label}"
        );
    }
    assert!(html.contains("1 threshold failed"));
    assert!(html.contains("POST /session/continue/stream"));
    assert!(html.contains("checkpoint_save"));
}

#[test]
fn renders_a_summary_with_nothing_measured() {
    let mut s = crate::report::fixture::seeded(3);
    s.endpoints.clear();
    s.failures.clear();
    s.series.clear();
    s.conversation = Default::default();
    s.totals = Default::default();
    s.sessions = Default::default();
    s.run.aborted = true;
    let html = render(&s);
    assert!(html.contains("This run was aborted"));
    assert!(html.contains("No request failed."));
    assert!(
        !html.contains("<section id=\"nodes\">"),
        "no empty conversation tables"
    );
    assert!(html.contains("\"t\":[]"), "an empty series for the charts");
}
