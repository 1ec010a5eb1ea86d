//! `replay --scrape`: the mock's `/metrics` read during a run lands in summary.json as
//! series; a metrics endpoint that dies mid-run is counted, not fatal; a bad URL is exit 2.

mod replay_util;

use replay_util::*;
use reprise::metrics::Summary;
use reprise::mock;
use std::path::Path;
use std::process::Output;
use std::time::Duration;

fn replay(trace: &Path, target: &str, scrape: &str, report: &Path) -> Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_reprise"))
        .args(["replay", trace.to_str().unwrap(), "--target", target])
        .args(["--users", "6", "--speed", "10", "--duration", "3s"])
        .args(["--scrape", scrape])
        .arg("--report")
        .arg(report)
        .output()
        .unwrap()
}

fn summary(dir: &Path) -> Summary {
    serde_json::from_slice(&std::fs::read(dir.join("summary.json")).unwrap()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_mocks_pool_gauges_are_series_of_the_run() {
    let dir = tempfile::tempdir().unwrap();
    let trace = write_trace(dir.path(), &session("s", T, 1, 0, &[(100, 5), (200, 5)]));
    let m = mock_with(mock::Config::default().db(3, Duration::from_millis(20))).await;
    let (url, report) = (m.url(), dir.path().join("r"));
    let scrape = format!("{url}/metrics@200ms");
    let (t, r) = (trace.clone(), report.clone());
    let out = tokio::task::spawn_blocking(move || replay(&t, &url, &scrape, &r))
        .await
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("/metrics: ") && stdout.contains("db_pool_in_use"),
        "{stdout}"
    );
    let s = summary(&report);
    let scraped = s.scrape.expect("a scrape section");
    let t = &scraped.targets[0];
    assert_eq!(t.failed, 0, "{:?}", t.last_error);
    assert!(t.scrapes >= 8, "3 s at 200 ms: {}", t.scrapes);
    let max: Vec<_> = scraped.matching("db_pool_max", &[]).collect();
    assert_eq!(max.len(), 1);
    assert!(max[0].points.iter().all(|p| p[1] == 3.0));
    let in_use: Vec<f64> = scraped
        .matching("db_pool_in_use", &[])
        .flat_map(|s| s.points.iter().map(|p| p[1]))
        .collect();
    assert!(in_use.iter().all(|&v| v <= 3.0), "{in_use:?}");
    // Points sit on the run's time axis, in order.
    let ts: Vec<f64> = max[0].points.iter().map(|p| p[0]).collect();
    assert!(ts.windows(2).all(|w| w[0] < w[1]) && ts[ts.len() - 1] <= s.run.duration_s + 0.5);
    // The last scrape saw the starts the mock counted.
    let start_label = [("endpoint".to_string(), "start".to_string())];
    let starts = scraped
        .matching("http_requests_total", &start_label)
        .next()
        .unwrap();
    let seen = starts.points.last().unwrap()[1];
    assert!(seen > 0.0 && seen <= m.counters().start as f64);
    m.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_metrics_endpoint_dying_mid_run_is_counted_and_the_run_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let trace = write_trace(dir.path(), &session("s", T, 1, 0, &[(100, 5), (200, 5)]));
    let m = mock_with(mock::Config::default()).await;
    // A separate metrics server that lives for one second.
    let metrics = mock::Server::start("127.0.0.1:0".parse().unwrap(), mock::Config::default())
        .await
        .unwrap();
    let scrape = format!("{}/metrics@200ms", metrics.url());
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_secs(1)).await;
        metrics.shutdown().await;
    });
    let (url, report) = (m.url(), dir.path().join("r"));
    let (t, r) = (trace.clone(), report.clone());
    let out = tokio::task::spawn_blocking(move || replay(&t, &url, &scrape, &r))
        .await
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let s = summary(&report);
    let t = &s.scrape.as_ref().unwrap().targets[0];
    assert!(t.failed >= 3 && t.scrapes > t.failed, "{t:?}");
    assert!(t.last_error.is_some());
    assert!(s.totals.requests > 0 && s.totals.failures == 0);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains(&format!("{} failed", t.failed)), "{stdout}");
    m.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scrape_url_that_is_not_http_is_exit_2_before_any_load() {
    let dir = tempfile::tempdir().unwrap();
    let trace = write_trace(dir.path(), &session("s", T, 1, 0, &[(100, 5)]));
    let m = mock_with(mock::Config::default()).await;
    let (url, report) = (m.url(), dir.path().join("r"));
    let t = trace.clone();
    let out =
        tokio::task::spawn_blocking(move || replay(&t, &url, "ftp://127.0.0.1/metrics", &report))
            .await
            .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("--scrape ftp://127.0.0.1/metrics"), "{err}");
    assert_eq!(m.counters().requests(), 0);
    m.shutdown().await;
}
