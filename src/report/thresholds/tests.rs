//! Unit tests of the threshold parser: valid expressions and the messages of invalid ones.

use super::*;

fn ok(e: &str) -> Threshold {
    Threshold::parse(e).unwrap_or_else(|err| panic!("{e}: {err}"))
}

fn err(e: &str) -> ParseError {
    match Threshold::parse(e) {
        Ok(t) => panic!("{e} parsed: {t:?}"),
        Err(err) => err,
    }
}

#[test]
fn parses_the_seed_thresholds() {
    let t = ok("p95 < 5s");
    assert_eq!(t.metric, Metric::Hist(HistRef::Latency, Stat::Pct(95.0)));
    assert_eq!((t.op, t.limit), (Op::Lt, 5000.0));

    let t = ok("error_rate < 0.1%");
    assert_eq!(t.metric, Metric::ErrorRate(Scope::Total));
    assert_eq!(t.limit, 0.1);

    let t = ok("error_rate == 0%");
    assert_eq!((t.op, t.limit), (Op::Eq, 0.0));

    let t = ok("avg < 2s");
    assert_eq!(t.metric, Metric::Hist(HistRef::Latency, Stat::Avg));

    let t = ok("server_timing.checkpoint_save.p95 < 200ms");
    assert_eq!(
        t.metric,
        Metric::Hist(
            HistRef::ServerTiming("checkpoint_save".into()),
            Stat::Pct(95.0)
        )
    );
    assert_eq!(t.limit, 200.0);

    let t = ok("success_rate >= 95%");
    assert_eq!(
        (t.metric.clone(), t.op, t.limit),
        (Metric::SuccessRate(Scope::Total), Op::Ge, 95.0)
    );
}

#[test]
fn parses_every_metric_family() {
    let cases: &[(&str, Metric)] = &[
        (
            "p99.9 < 1m",
            Metric::Hist(HistRef::Latency, Stat::Pct(99.9)),
        ),
        (
            "med <= 300",
            Metric::Hist(HistRef::Latency, Stat::Pct(50.0)),
        ),
        ("max != 0", Metric::Hist(HistRef::Latency, Stat::Max)),
        ("rps > 100", Metric::Rps(Scope::Total)),
        ("requests > 0", Metric::Requests(Scope::Total)),
        ("failures == 0", Metric::Failures(Scope::Total)),
        (
            "lag.p99 < 50ms",
            Metric::Hist(HistRef::Lag, Stat::Pct(99.0)),
        ),
        (
            "ttfb.p95 < 1s",
            Metric::Hist(HistRef::Ttfb, Stat::Pct(95.0)),
        ),
        (
            "endpoint['POST /session/continue'].p99 < 10s",
            Metric::Hist(
                HistRef::EndpointLatency("POST /session/continue".into()),
                Stat::Pct(99.0),
            ),
        ),
        (
            "endpoint[\"GET /session/status/{thread_id}\"].error_rate < 1%",
            Metric::ErrorRate(Scope::Endpoint("GET /session/status/{thread_id}".into())),
        ),
        (
            "endpoint['POST /session/start'].ttfb.p50 < 1s",
            Metric::Hist(
                HistRef::EndpointTtfb("POST /session/start".into()),
                Stat::Pct(50.0),
            ),
        ),
        (
            "node['AR→TC'].avg < 3s",
            Metric::Hist(HistRef::Node("AR→TC".into()), Stat::Avg),
        ),
        (
            "node['AR->TC'].avg < 3s",
            Metric::Hist(HistRef::Node("AR→TC".into()), Stat::Avg),
        ),
        (
            "turn[3].p95 < 4s",
            Metric::Hist(HistRef::Turn("3".into()), Stat::Pct(95.0)),
        ),
        (
            "streaming['POST /session/continue/stream'].ttft.p95 < 800ms",
            Metric::Hist(
                HistRef::Streaming("POST /session/continue/stream".into(), StreamPart::Ttft),
                Stat::Pct(95.0),
            ),
        ),
        (
            "streaming['POST /x'].events.avg > 3",
            Metric::Hist(
                HistRef::Streaming("POST /x".into(), StreamPart::Events),
                Stat::Avg,
            ),
        ),
        (
            "server_timing['db.query'].max < 1s",
            Metric::Hist(HistRef::ServerTiming("db.query".into()), Stat::Max),
        ),
        ("divergence_rate < 20%", Metric::DivergenceRate),
        (
            "divergence['AR'].rate < 0.5",
            Metric::NodeDivergenceRate("AR".into()),
        ),
        ("cross_talk == 0", Metric::CrossTalk),
        ("sessions.aborted == 0", Metric::SessionsAborted),
        (
            "sessions.duration.p90 < 2m",
            Metric::Hist(HistRef::SessionDuration, Stat::Pct(90.0)),
        ),
        (
            "fields['/simulation_triggered'] > 0",
            Metric::Field("/simulation_triggered".into()),
        ),
        (
            "corrected.p99 < 10s",
            Metric::Hist(HistRef::Corrected, Stat::Pct(99.0)),
        ),
    ];
    for (e, m) in cases {
        assert_eq!(&ok(e).metric, m, "{e}");
    }
    // bare numbers: ms for durations, fractions for rates
    assert_eq!(ok("p95 < 250").limit, 250.0);
    assert_eq!(ok("divergence['AR'].rate < 0.5").limit, 50.0);
    assert_eq!(ok("  p95<5s  ").expr, "p95<5s");
}

#[test]
fn errors_point_at_the_column() {
    let e = err("p95 < 5x");
    assert_eq!(e.column, 8);
    let text = e.to_string();
    assert!(
        text.starts_with("\"p95 < 5x\": unknown unit `x` at column 8 (use ms, s or m)"),
        "{text}"
    );
    assert!(text.ends_with("\n    p95 < 5x\n           ^"), "{text:?}");

    let cases: &[(&str, usize, &str)] = &[
        ("p96x < 5s", 1, "unknown metric `p96x`"),
        ("erorr_rate < 1%", 1, "did you mean `error_rate`?"),
        ("p95 5s", 5, "expected an operator"),
        ("p95 = 5s", 5, "use `==`"),
        ("p95 <", 6, "expected a number after the operator"),
        ("p95 < fast", 7, "expected a number, found `f`"),
        ("error_rate < 2s", 15, "does not fit a rate"),
        ("p95 < 5%", 8, "does not fit a duration"),
        ("requests > 10ms", 14, "does not fit a count"),
        ("p95 < 5s and more", 10, "unexpected `a`"),
        ("endpoint.p95 < 1s", 9, "needs a name in brackets"),
        ("endpoint['POST /x'.p95 < 1s", 19, "expected `]`"),
        ("endpoint['POST /x].p95 < 1s", 10, "unterminated string"),
        ("node['AR→TC'].p9x < 1s", 15, "unknown statistic `p9x`"),
        (
            "node['AR→TC'] < 1s",
            14,
            "expected a statistic after `node[…]`",
        ),
        ("lag < 1s", 4, "expected a statistic after `lag`"),
        ("turn[x].p95 < 1s", 6, "expected a quoted name or a number"),
        ("turn['two'].p95 < 1s", 6, "is not a number"),
        ("avg.p95 < 1s", 5, "unexpected `.p95`"),
        (
            "streaming['POST /s'].foo.p95 < 1s",
            22,
            "unknown streaming measure `foo`",
        ),
        ("sessions.lost == 0", 10, "unknown session measure `lost`"),
        ("p95[1] < 1s", 4, "takes no `[ ]`"),
        ("", 1, "empty threshold"),
        ("< 5s", 1, "expected a metric name, found `<`"),
        ("p95 < -1s", 7, "cannot be negative"),
    ];
    for (e, col, msg) in cases {
        let got = err(e);
        assert!(got.to_string().contains(msg), "{e}: {got}");
        assert_eq!(got.column, *col, "{e}: {got}");
    }
}

#[test]
fn operators_compare_with_a_tolerance_for_equality() {
    assert!(Op::Lt.holds(4.99, 5.0));
    assert!(!Op::Lt.holds(5.0, 5.0));
    assert!(Op::Le.holds(5.0, 5.0));
    assert!(Op::Eq.holds(0.1 + 0.2, 0.3));
    assert!(Op::Ne.holds(1.0, 0.0));
    assert!(Op::Ge.holds(95.0, 95.0));
    assert!(!Op::Gt.holds(95.0, 95.0));
}

#[test]
fn did_you_mean_picks_close_names_only() {
    assert_eq!(did_you_mean("usres", &["users", "seed"]), Some("users"));
    assert_eq!(did_you_mean("zzzzzz", &["users", "seed"]), None);
}

#[test]
fn a_rate_above_100_percent_is_refused() {
    let e = Threshold::parse("error_rate < 101%").unwrap_err();
    assert_eq!(e.column, 14, "{e}");
    assert!(e.message.starts_with("a rate is at most 100%"), "{e}");
    assert!(
        Threshold::parse("success_rate > 1.5").is_err(),
        "150% as a fraction"
    );
    assert!(Threshold::parse("error_rate <= 100%").is_ok());
    assert!(Threshold::parse("error_rate < 1").is_ok());
}

#[test]
fn stage_scopes_and_scrape_expressions_parse() {
    let t = ok("stage[2].p95 < 5s");
    assert_eq!(t.stage, Some(StageRef::Index(2)));
    assert_eq!(t.metric, Metric::Hist(HistRef::Latency, Stat::Pct(95.0)));
    let t = ok("stage['light'].server_timing.checkpoint_save.p95 < 200ms");
    assert_eq!(t.stage, Some(StageRef::Name("light".into())));
    let t = ok("scrape['db_pool_in_use / db_pool_max'].max < 0.8");
    let Metric::Scrape(e, scrape::Stat::Max) = &t.metric else {
        panic!("{t:?}")
    };
    assert_eq!(
        (
            e.num.selector.name.as_str(),
            e.den.as_ref().map(|d| d.selector.name.as_str())
        ),
        ("db_pool_in_use", Some("db_pool_max"))
    );
    assert_eq!(t.limit, 0.8);
    let t = ok("stage[1].scrape.rate(http_requests_total{endpoint=\"start\"}).p99.9 < 100");
    let Metric::Scrape(e, scrape::Stat::Pct(p)) = &t.metric else {
        panic!("{t:?}")
    };
    assert!(e.num.rate && *p == 99.9);
    assert_eq!(ok("scrape.g{pid='1'}.last == 2").metric.kind(), Kind::Count);
}

#[test]
fn bad_stage_and_scrape_thresholds_point_at_the_column() {
    let cases: &[(&str, usize, &str)] = &[
        ("stage[0].p95 < 1s", 7, "stage `0` is not a stage number"),
        (
            "stage[2]p95 < 1s",
            9,
            "expected `.` and a figure after the stage",
        ),
        (
            "stage[2].endpoint['x'].p95 < 1s",
            10,
            "this figure is not measured per stage",
        ),
        (
            "scrape.db_pool_in_use < 1",
            22,
            "expected a statistic after `db_pool_in_use`",
        ),
        (
            "scrape.db_pool_in_use.top < 1",
            23,
            "unknown statistic `top`",
        ),
        ("scrape['a / '].max < 1", 13, "expected a metric name"),
        ("scrape['a'.max < 1", 8, "unterminated expression"),
        ("scrape[a].max < 1", 8, "expected a quoted expression"),
        ("scrape.a{pid=\"1\".max < 1", 17, "expected `,` or `}`"),
    ];
    for (expr, col, msg) in cases {
        let e = err(expr);
        assert!(e.message.contains(msg), "{expr}: {e}");
        assert_eq!(e.column, *col, "{expr}: {e}");
    }
}
