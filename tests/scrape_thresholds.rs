//! Thresholds on the target's scraped metrics, against the mock's `/metrics` with known
//! settings: gauges, ratios of two series, counters as rates, label matchers; a metrics
//! endpoint that dies mid-run or never answers is counted and the other thresholds decide;
//! a bad expression is exit 2 before any load.

mod replay_util;

use replay_util::*;
use reprise::metrics::Summary;
use reprise::mock;
use std::path::Path;
use std::process::Output;
use std::time::Duration;

fn replay(trace: &Path, target: &str, args: Vec<String>, report: &Path) -> Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_reprise"))
        .args(["replay", trace.to_str().unwrap(), "--target", target])
        .args(["--users", "6", "--speed", "10", "--duration", "3s"])
        .args(args)
        .arg("--report")
        .arg(report)
        .output()
        .unwrap()
}

fn args(scrape: &str, thresholds: &[&str]) -> Vec<String> {
    let mut v = vec!["--scrape".to_string(), scrape.to_string()];
    for t in thresholds {
        v.push("--threshold".into());
        v.push(t.to_string());
    }
    v
}

fn summary(dir: &Path) -> Summary {
    serde_json::from_slice(&std::fs::read(dir.join("summary.json")).unwrap()).unwrap()
}

fn verdict<'s>(s: &'s Summary, expr: &str) -> &'s reprise::metrics::summary::Verdict {
    s.thresholds
        .iter()
        .find(|v| v.expr == expr)
        .unwrap_or_else(|| panic!("no verdict {expr}: {:?}", s.thresholds))
}

async fn run(m: &mock::Server, scrape: String, thresholds: &[&str]) -> (Output, Summary) {
    let dir = tempfile::tempdir().unwrap();
    let trace = write_trace(dir.path(), &session("s", T, 1, 0, &[(100, 5), (200, 5)]));
    let (url, report) = (m.url(), dir.path().join("r"));
    let a = args(&scrape, thresholds);
    let r = report.clone();
    let out = tokio::task::spawn_blocking(move || replay(&trace, &url, a, &r))
        .await
        .unwrap();
    let s = summary(&report);
    (out, s)
}

const POOL: f64 = 3.0;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gauges_ratios_and_rates_of_the_mocks_metrics_are_judged() {
    let m = mock_with(mock::Config::default().db(POOL as u32, Duration::from_millis(20))).await;
    let scrape = format!("{}/metrics@200ms", m.url());
    let th = [
        "scrape.db_pool_max.min == 3",
        "scrape['db_pool_in_use / db_pool_max'].max <= 1",
        "scrape['rate(http_requests_total)'].avg > 0",
        "scrape['rate(http_requests_total{endpoint=\"continue\"})'].max > 0",
        "scrape.http_requests_total{endpoint='health'}.last == 0",
        "scrape.http_requests_total.last > 0",
    ];
    let (out, s) = run(&m, scrape, &th).await;
    let all = String::from_utf8_lossy(&out.stdout).to_string();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{all}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for t in th {
        assert!(verdict(&s, t).ok, "{t}: {:?}", verdict(&s, t));
    }
    // The values are what the scraped series say, and the series are what the mock counted.
    let ratio = verdict(&s, th[1]).value.unwrap();
    assert!(ratio > 0.0 && ratio <= 1.0, "{ratio}");
    let scraped = s.scrape.as_ref().unwrap();
    let in_use_max = scraped
        .matching("db_pool_in_use", &[])
        .flat_map(|x| x.points.iter().map(|p| p[1]))
        .fold(0.0, f64::max);
    assert!(
        (ratio - in_use_max / POOL).abs() < 1e-9,
        "{ratio} vs {in_use_max}"
    );
    // the sum over endpoints of the last scrape: at most what the mock received by the end
    let last = verdict(&s, th[5]).value.unwrap();
    assert!(
        last > 0.0 && last <= m.counters().requests() as f64,
        "{last}"
    );
    // the rate's average is the counters' increase spread over the scrapes' span (± the
    // first interval, which has no rate)
    let rate = verdict(&s, th[2]).value.unwrap();
    let sums: Vec<[f64; 2]> = {
        let all: Vec<_> = scraped.matching("http_requests_total", &[]).collect();
        let n = all.iter().map(|x| x.points.len()).min().unwrap();
        (0..n)
            .map(|i| {
                [
                    all[0].points[i][0],
                    all.iter().map(|x| x.points[i][1]).sum(),
                ]
            })
            .collect()
    };
    let (first, last) = (sums[0], sums[sums.len() - 1]);
    let overall = (last[1] - first[1]) / (last[0] - first[0]);
    // equal intervals: the mean of the per-interval rates is the overall increase per
    // second (the scrape ticks are 200 ms apart, give or take the loop's jitter)
    assert!(
        rate > 0.0 && (rate - overall).abs() <= 0.25 * overall,
        "rate avg {rate} vs overall {overall}"
    );
    m.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_scrape_threshold_makes_the_exit_code_1() {
    let m = mock_with(mock::Config::default().db(POOL as u32, Duration::from_millis(5))).await;
    let scrape = format!("{}/metrics@200ms", m.url());
    let (out, s) = run(
        &m,
        scrape,
        &["scrape.db_pool_max.max < 3", "scrape.llm_in_flight.max < 1"],
    )
    .await;
    assert_eq!(out.status.code(), Some(1));
    let v = verdict(&s, "scrape.db_pool_max.max < 3");
    assert_eq!((v.ok, v.value), (false, Some(3.0)));
    // no LLM limit configured: the mock exports no llm gauges, and the verdict says so
    let v = verdict(&s, "scrape.llm_in_flight.max < 1");
    assert!(!v.ok && v.value.is_none());
    assert!(
        v.observed.contains("no scraped series `llm_in_flight`"),
        "{}",
        v.observed
    );
    m.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_that_die_mid_run_are_counted_and_the_other_thresholds_decide() {
    let m = mock_with(mock::Config::default()).await;
    // a separate metrics server with a pool, living for one second
    let metrics = mock::Server::start(
        "127.0.0.1:0".parse().unwrap(),
        mock::Config::default().db(4, Duration::from_millis(1)),
    )
    .await
    .unwrap();
    let scrape = format!("{}/metrics@200ms", metrics.url());
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_secs(1)).await;
        metrics.shutdown().await;
    });
    let (out, s) = run(
        &m,
        scrape,
        &["error_rate < 1%", "scrape.db_pool_max.last == 4"],
    )
    .await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    let t = &s.scrape.as_ref().unwrap().targets[0];
    assert!(t.failed >= 3 && t.scrapes > t.failed, "{t:?}");
    assert!(s.totals.requests > 0);
    // the samples taken before it died still count
    assert!(verdict(&s, "scrape.db_pool_max.last == 4").ok);
    assert!(stdout.contains(&format!("{} failed", t.failed)), "{stdout}");
    m.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_metrics_endpoint_that_never_answers_times_out_and_the_run_goes_on() {
    let m = mock_with(mock::Config::default()).await;
    // accepts connections, reads nothing, answers nothing
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = silent.local_addr().unwrap();
    let held = tokio::spawn(async move {
        let mut open = Vec::new();
        while let Ok((sock, _)) = silent.accept().await {
            open.push(sock);
        }
    });
    let scrape = format!("http://{addr}/metrics@300ms");
    let (out, s) = run(&m, scrape, &["requests > 0"]).await;
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let t = &s.scrape.as_ref().unwrap().targets[0];
    assert!(t.failed >= 2 && t.failed == t.scrapes, "{t:?}");
    assert!(
        t.last_error
            .as_deref()
            .is_some_and(|e| e.contains("timed out")),
        "{t:?}"
    );
    assert!(t.series.is_empty());
    held.abort();
    m.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_scrape_expression_is_exit_2_naming_it_before_any_load() {
    let m = mock_with(mock::Config::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let trace = write_trace(dir.path(), &session("s", T, 1, 0, &[(100, 5)]));
    let cases: &[(&str, &str)] = &[
        (
            "scrape['db_pool_in_use / '].max < 1",
            "expected a metric name",
        ),
        (
            "scrape.db_pool_in_use.maximum < 1",
            "unknown statistic `maximum`",
        ),
        (
            "scrape['sum(db_pool_in_use)'].max < 1",
            "unknown function `sum`",
        ),
        (
            "scrape.db_pool_in_use{pid=1}.max < 1",
            "expected a quoted label value",
        ),
    ];
    for (expr, want) in cases {
        let (url, report) = (m.url(), dir.path().join("r"));
        let a = args(&format!("{url}/metrics"), &[expr]);
        let t = trace.clone();
        let out = tokio::task::spawn_blocking(move || replay(&t, &url, a, &report))
            .await
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{expr}: {err}");
        assert!(err.contains(expr) && err.contains(want), "{expr}: {err}");
    }
    assert_eq!(m.counters().requests(), 0);
    m.shutdown().await;
}
