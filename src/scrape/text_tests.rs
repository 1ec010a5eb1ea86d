use super::*;
use proptest::prelude::*;

fn one(line: &str) -> Sample {
    let p = parse(line.as_bytes());
    assert!(p.errors.is_empty(), "{line}: {:?}", p.errors);
    assert_eq!(p.samples.len(), 1, "{line}");
    p.samples.into_iter().next().unwrap()
}

#[test]
fn label_escapes_commas_and_braces_inside_values() {
    let s = one(r#"m{path="/a,b}",q="say \"hi\"",bs="C:\\dir",nl="a\nb",} 3"#);
    assert_eq!(s.name, "m");
    assert_eq!(
        s.labels,
        vec![
            ("path".into(), "/a,b}".into()),
            ("q".into(), "say \"hi\"".into()),
            ("bs".into(), "C:\\dir".into()),
            ("nl".into(), "a\nb".into()),
        ]
    );
    assert_eq!(s.value, 3.0);
}

#[test]
fn special_values_and_timestamps() {
    assert_eq!(one("a +Inf").value, f64::INFINITY);
    assert_eq!(one("a -Inf").value, f64::NEG_INFINITY);
    assert!(one("a NaN").value.is_nan());
    assert_eq!(one("a 1e3").value, 1000.0);
    assert_eq!(one("a -0.5").value, -0.5);
    let s = one("a{x=\"1\"} 7 1712345678901");
    assert_eq!(s.timestamp, Some(1712345678901.0));
    // OpenMetrics: seconds with a fraction, and an exemplar after ` # `.
    let s = one(r#"b_bucket{le="0.5"} 4 1712345678.5 # {trace_id="x"} 0.3"#);
    assert_eq!((s.value, s.timestamp), (4.0, Some(1712345678.5)));
}

#[test]
fn help_type_comments_and_eof() {
    let page = parse(
        b"# HELP db_pool_in_use Connections checked out\\nnow.\n\
          # TYPE db_pool_in_use gauge\n\
          # a plain comment\n\
          db_pool_in_use 3\n\
          # EOF\n\
          after_eof 1\n",
    );
    assert!(page.eof);
    assert_eq!(page.samples.len(), 1);
    assert_eq!(page.kind_of("db_pool_in_use"), Kind::Gauge);
    assert_eq!(page.help["db_pool_in_use"], "Connections checked out\nnow.");
}

#[test]
fn histogram_and_summary_families() {
    let page = parse(
        b"# TYPE lat histogram\n\
          lat_bucket{le=\"0.1\"} 1\n\
          lat_bucket{le=\"+Inf\"} 3\n\
          lat_sum 0.9\n\
          lat_count 3\n\
          # TYPE rpc summary\n\
          rpc{quantile=\"0.99\"} 0.2\n\
          rpc_sum 12\n\
          rpc_count 40\n\
          # TYPE http_requests counter\n\
          http_requests_total{code=\"200\"} 5\n",
    );
    assert!(page.errors.is_empty(), "{:?}", page.errors);
    assert_eq!(page.samples.len(), 8);
    assert_eq!(page.kind_of("lat_bucket"), Kind::Histogram);
    assert_eq!(page.kind_of("lat_count"), Kind::Histogram);
    assert_eq!(page.kind_of("rpc"), Kind::Summary);
    assert_eq!(page.kind_of("http_requests_total"), Kind::Counter);
    assert_eq!(page.kind_of("nothing"), Kind::Untyped);
    assert_eq!(page.samples[1].labels[0].1, "+Inf");
}

#[test]
fn garbage_lines_are_skipped_and_reported_by_line() {
    let page = parse(
        b"good 1\n\
          {no_name=\"x\"} 1\n\
          bad{x=\"unterminated} 1\n\
          bad{x=1} 1\n\
          novalue\n\
          word notanumber\n\
          too many words 1 2\n\
          \tgood2{ a = \"b\" } 2\r\n\
          \n",
    );
    let lines: Vec<usize> = page.errors.iter().map(|e| e.line).collect();
    assert_eq!(lines, vec![2, 3, 4, 5, 6, 7]);
    let names: Vec<&str> = page.samples.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, vec!["good", "good2"]);
    assert_eq!(page.samples[1].labels, vec![("a".into(), "b".into())]);
}

#[test]
fn missing_final_newline_and_crlf() {
    let page = parse(b"a 1\r\nb 2");
    assert_eq!(page.samples.len(), 2);
    assert_eq!(page.samples[1].value, 2.0);
    assert!(page.errors.is_empty());
}

#[test]
fn ten_megabyte_page() {
    let mut s = String::new();
    let mut n = 0;
    while s.len() < 10 << 20 {
        render_sample(
            &mut s,
            "http_requests_total",
            &[("path", &format!("/p/{n}")), ("code", "200")],
            n as f64,
        );
        n += 1;
    }
    let t = std::time::Instant::now();
    let page = parse(s.as_bytes());
    assert_eq!(page.samples.len(), n);
    assert_eq!(page.samples[n - 1].value, (n - 1) as f64);
    // Generous: a debug build on a shared 2-core machine.
    assert!(t.elapsed() < std::time::Duration::from_secs(30));
}

#[test]
fn invalid_utf8_does_not_panic() {
    let page = parse(b"a{x=\"\xff\xfe\"} 1\n\xc3 2\n");
    assert_eq!(page.samples.len(), 1);
    assert_eq!(page.errors.len(), 1);
}

fn label_value() -> impl Strategy<Value = String> {
    proptest::string::string_regex(r#"[a-z0-9 ,}{="\\\n/é]{0,12}"#).unwrap()
}

proptest! {
    #[test]
    fn render_then_parse_round_trips(
        name in "[a-zA-Z_:][a-zA-Z0-9_:]{0,10}",
        labels in proptest::collection::vec(("[a-zA-Z_][a-zA-Z0-9_]{0,6}", label_value()), 0..4),
        value in prop_oneof![any::<f64>(), Just(f64::INFINITY), Just(f64::NEG_INFINITY)],
    ) {
        let refs: Vec<(&str, &str)> = labels.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
        let mut out = String::new();
        render_sample(&mut out, &name, &refs, value);
        let page = parse(out.as_bytes());
        prop_assert!(page.errors.is_empty(), "{out:?}: {:?}", page.errors);
        prop_assert_eq!(page.samples.len(), 1);
        let s = &page.samples[0];
        prop_assert_eq!(&s.name, &name);
        prop_assert_eq!(&s.labels, &labels);
        if value.is_nan() {
            prop_assert!(s.value.is_nan());
        } else {
            prop_assert_eq!(s.value, value);
        }
    }

    #[test]
    fn never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        let _ = parse(&bytes);
    }
}
