//! The live web UI in a real browser: `reprise ui` on loopback, Debian's Chromium driven by
//! playwright-core (`tests/web_browser/live.js`, with the node_modules `.ci/run` installs
//! for `tests/har_browser`), the shipped mock as the target. Start page → run → charts and
//! tables fill → users 20 → 50 with the mock's own connection count following → a refused
//! value → reload with the whole history → stop → `report.html` downloaded and opened
//! offline; the page's figures against `summary.json`; every browser request to the UI's
//! own host.
//!
//! Without node, playwright-core or chromium the test is skipped loudly — unless `CI` is
//! set, where it fails.

mod replay_util;

use replay_util::*;
use reprise::mock;
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn on_path(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join(name))
            .find(|p| p.is_file())
    })
}

fn have(tool: &str, found: bool, hint: &str) -> bool {
    if found {
        return true;
    }
    if std::env::var_os("CI").is_some() {
        panic!(
            "web_browser: {tool} is not installed, and CI is set: .ci/run must install it ({hint})"
        );
    }
    eprintln!("\n=== SKIPPED web_browser: {tool} not found ({hint}) ===\n");
    false
}

/// 6 recorded sessions of a start and 8 continues 250 ms apart.
fn recording(dir: &Path) -> PathBuf {
    let mut ex = Vec::new();
    for s in 0..6 {
        let sends: Vec<(u64, u64)> = (1..=8).map(|k| (k * 250, 5)).collect();
        ex.extend(session(
            &format!("s{s}"),
            &format!("{T}{s}"),
            0,
            (s * 40) as u64,
            &sends,
        ));
    }
    for (i, e) in ex.iter_mut().enumerate() {
        e.id = i as u64;
    }
    write_trace(dir, &ex)
}

fn count(text: &str) -> u64 {
    text.chars()
        .filter(|c| c.is_ascii_digit())
        .collect::<String>()
        .parse()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_live_ui_in_chromium_starts_steers_reloads_stops_and_downloads() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let modules = root.join("tests/har_browser/node_modules");
    let (node, chromium) = (on_path("node"), on_path("chromium"));
    if !have("node", node.is_some(), "apt-get install nodejs npm")
        || !have(
            "playwright-core",
            modules.join("playwright-core").is_dir(),
            "npm ci --prefix tests/har_browser",
        )
        || !have("chromium", chromium.is_some(), "apt-get install chromium")
    {
        return;
    }
    let mock = mock_with(mock::Config::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let recs = dir.path().join("recordings");
    let profiles = dir.path().join("profiles");
    let reports = dir.path().join("reports");
    std::fs::create_dir_all(&recs).unwrap();
    std::fs::create_dir_all(&profiles).unwrap();
    let rec = recording(dir.path());
    std::fs::rename(rec, recs.join("students.trace.zst")).unwrap();

    let mut ui = Command::new(env!("CARGO_BIN_EXE_reprise"))
        .args(["ui", "127.0.0.1:0", "--recordings"])
        .arg(&recs)
        .arg("--profiles")
        .arg(&profiles)
        .arg("--reports")
        .arg(&reports)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    struct Kill(std::process::Child);
    impl Drop for Kill {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let err = ui.stderr.take().unwrap();
    let ui = Kill(ui);
    let mut lines = BufReader::new(err).lines();
    let url = loop {
        let line = lines.next().expect("ui prints its address").unwrap();
        if let Some(u) = line.strip_prefix("start page: ") {
            break u.trim().to_string();
        }
    };
    std::thread::spawn(move || for _ in lines {});
    let out = dir.path().join("out");
    std::fs::create_dir_all(&out).unwrap();
    let script = root.join("tests/web_browser/live.js");
    let (n, c, u, m, o) = (
        node.unwrap(),
        chromium.unwrap(),
        url.clone(),
        mock.url(),
        out.clone(),
    );
    let t = Instant::now();
    let run = tokio::task::spawn_blocking(move || {
        Command::new(n)
            .arg(script)
            .args([u.as_str(), m.as_str(), o.to_str().unwrap()])
            .env("CHROMIUM", c)
            .env("NODE_PATH", modules)
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(
        run.status.success(),
        "live.js failed after {:?}:\n{stderr}",
        t.elapsed()
    );
    let r: Value = serde_json::from_slice(&run.stdout).unwrap_or_else(|e| panic!("{e}: {stderr}"));

    assert_eq!(r["errors"], serde_json::json!([]), "no page error");
    assert_eq!(r["recordings"], serde_json::json!(["students.trace.zst"]));
    assert!(
        r["startError"].as_str().unwrap().contains("forever"),
        "{}",
        r["startError"]
    );
    // the start page: an open workload's multiplier, checked on the page and by the server
    assert_eq!(
        (
            r["usersHiddenWhenOpen"].clone(),
            r["usersShownWhenClosed"].clone()
        ),
        (Value::Bool(true), Value::Bool(true))
    );
    assert!(
        r["multiplyError"]
            .as_str()
            .unwrap()
            .contains("the multiplier must be a whole number ≥ 1, not `0`"),
        "{}",
        r["multiplyError"]
    );
    assert!(
        r["serverMultiplyError"]
            .as_str()
            .unwrap()
            .starts_with("400 the multiplier must be a whole number ≥ 1, not `-3`"),
        "{}",
        r["serverMultiplyError"]
    );
    // the conversation panels mid-run
    assert!(
        r["convMidNote"].as_str().unwrap().contains("run so far"),
        "{}",
        r["convMidNote"]
    );
    let titles = r["convMidTitles"].to_string();
    for t in ["Node transitions", "Turns", "Server-Timing"] {
        assert!(titles.contains(t), "{t} mid-run: {titles}");
    }
    assert!(r["rateChartPoints"].as_u64().unwrap() >= 3);
    assert!(r["endpointRows"].as_u64().unwrap() >= 1);
    assert!(r["histBins"].as_u64().unwrap() >= 1);
    assert!(r["connectionsAt20"].as_u64().unwrap() >= 20);
    assert!(r["connectionsAt50"].as_u64().unwrap() >= 50);
    assert_eq!(r["kpiUsers"], "50");
    assert!(
        r["controlError"].as_str().unwrap().contains("spawn rate"),
        "{}",
        r["controlError"]
    );
    assert_eq!(
        r["usersAfterRefusal"], "50",
        "a refused change changes nothing"
    );
    let before = r["secondsBeforeReload"].as_u64().unwrap();
    assert!(
        r["pointsAfterReload"].as_u64().unwrap() >= before,
        "the whole history after a reload: {r}"
    );
    assert!(r["markersAfterReload"].as_u64().unwrap() >= 1);
    assert_eq!(r["status"], "stopped");

    // the page's figures are the summary's
    let run_dir = std::fs::read_dir(&reports)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let s: Value =
        serde_json::from_str(&std::fs::read_to_string(run_dir.join("summary.json")).unwrap())
            .unwrap();
    let total = s["totals"]["requests"].as_u64().unwrap();
    assert_eq!(count(r["kpiRequests"].as_str().unwrap()), total);
    for row in r["tableRequests"].as_array().unwrap() {
        let name = format!("{} {}", row[0].as_str().unwrap(), row[1].as_str().unwrap());
        let e = s["endpoints"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["name"] == name.as_str())
            .unwrap();
        assert_eq!(
            count(row[2].as_str().unwrap()),
            e["requests"].as_u64().unwrap(),
            "{name}"
        );
    }
    // the conversation panels at the end: summary.json's counts
    assert_eq!(r["convEndNote"], "whole run");
    for (title, key) in [
        ("Node transitions", "nodes"),
        ("Turns", "turns"),
        ("Server-Timing", "server_timing"),
    ] {
        let card = r["convEnd"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c[0] == title)
            .unwrap_or_else(|| panic!("{title} at the end: {}", r["convEnd"]));
        let rows = card[1].as_array().unwrap();
        assert_eq!(
            rows.len(),
            s["conversation"][key].as_object().unwrap().len(),
            "{title}"
        );
        for row in rows {
            let k = row[0].as_str().unwrap();
            assert_eq!(
                count(row[1].as_str().unwrap()),
                s["conversation"][key][k]["count"].as_u64().unwrap(),
                "{title} {k}"
            );
        }
    }
    // every request counted reached the mock (its /metrics, read by the script, aside)
    let c = mock.counters();
    assert_eq!(total, c.start + c.continue_ + c.stream + c.status, "{c:?}");
    let actions: Vec<&str> = s["run"]["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, vec!["users", "stop"]);

    // report.html offline: charts with the markers, the distribution drawn
    assert_eq!(r["reportRendered"], "4");
    assert!(
        r["reportMarkers"]
            .as_array()
            .unwrap()
            .iter()
            .all(|m| m.as_u64() == Some(2)),
        "{}",
        r["reportMarkers"]
    );
    assert!(r["reportHistBins"].as_u64().unwrap() >= 1);
    assert!(r["reportPctPoints"].as_u64().unwrap() >= 10);

    // no request left the UI's own host (the report was opened from a file)
    let host = reqwest::Url::parse(&url).unwrap();
    for req in r["requests"].as_array().unwrap() {
        let u = reqwest::Url::parse(req.as_str().unwrap()).unwrap();
        match u.scheme() {
            "file" | "data" => {}
            _ => assert_eq!(
                (u.host_str(), u.port()),
                (host.host_str(), host.port()),
                "a request to another host: {u}"
            ),
        }
    }
    drop(ui);
    assert!(t.elapsed() < Duration::from_secs(300));
}

/// 2,000 recorded sessions of one `GET /ep-N` each: 2,000 distinct endpoints.
fn many_endpoints(dir: &Path) -> PathBuf {
    let mut ex: Vec<_> = (0..2000u64)
        .map(|i| {
            replay_util::ex(
                i,
                &format!("m{i}"),
                i,
                1,
                "GET",
                &format!("/ep-{i}"),
                Value::Null,
                serde_json::json!({"ok": true}),
            )
        })
        .collect();
    for (i, e) in ex.iter_mut().enumerate() {
        e.id = i as u64;
    }
    write_trace(dir, &ex)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_live_page_stays_usable_with_2000_endpoints() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let modules = root.join("tests/har_browser/node_modules");
    let (node, chromium) = (on_path("node"), on_path("chromium"));
    if !have("node", node.is_some(), "apt-get install nodejs npm")
        || !have(
            "playwright-core",
            modules.join("playwright-core").is_dir(),
            "npm ci --prefix tests/har_browser",
        )
        || !have("chromium", chromium.is_some(), "apt-get install chromium")
    {
        return;
    }
    let mock = mock_with(mock::Config::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let rec = many_endpoints(dir.path());
    let report = dir.path().join("report");
    let mut child = Command::new(env!("CARGO_BIN_EXE_reprise"))
        .arg("replay")
        .arg(&rec)
        .args(["--target", &mock.url(), "--web", "127.0.0.1:0", "--report"])
        .arg(&report)
        .args(["--users", "20", "--spawn-rate", "100", "--duration", "15s"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let url = loop {
        let line = lines.next().expect("replay prints the page").unwrap();
        if let Some(u) = line.strip_prefix("live page: ") {
            break u.trim().to_string();
        }
    };
    std::thread::spawn(move || for _ in lines {});
    // the event stream as a second viewer reads it: every frame's size
    let events = tokio::spawn({
        let url = url.clone();
        async move {
            let mut res = reqwest::get(format!("{url}events")).await.unwrap();
            let mut all = Vec::new();
            while let Ok(Some(c)) = res.chunk().await {
                all.extend_from_slice(&c);
            }
            String::from_utf8(all).unwrap()
        }
    });
    let script = root.join("tests/web_browser/many.js");
    let (n, c, u) = (node.unwrap(), chromium.unwrap(), url.clone());
    let run = tokio::task::spawn_blocking(move || {
        Command::new(n)
            .arg(script)
            .arg(u)
            .env("CHROMIUM", c)
            .env("NODE_PATH", modules)
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(run.status.success(), "many.js failed:\n{stderr}");
    let r: Value = serde_json::from_slice(&run.stdout).unwrap_or_else(|e| panic!("{e}: {stderr}"));
    let status = tokio::task::block_in_place(|| child.wait()).unwrap();
    assert!(status.code().is_some(), "replay ended: {status:?}");

    assert_eq!(r["errors"], serde_json::json!([]), "no page error");
    assert_eq!(r["rows"], 50, "paged: {r}");
    assert_eq!(r["pageNote"], "page 1 of 40");
    assert_eq!(r["filtered"], serde_json::json!(["/ep-1999"]));
    assert_eq!(r["sortedFirst"], serde_json::json!(["/ep-0", "/ep-999"]));
    assert_eq!(r["page2Note"], "page 2 of 40");
    // a page update with 2,000 endpoints stays well under a second (generous: shared machine)
    let render = r["renderMaxMs"].as_f64().unwrap();
    eprintln!("2,000 endpoints: slowest page update {render} ms");
    assert!(render < 1000.0, "slowest page update {render} ms");

    // the SSE frames stay bounded: only the endpoints that changed go in a second
    let text = tokio::time::timeout(Duration::from_secs(30), events)
        .await
        .unwrap()
        .unwrap();
    let frames: Vec<&str> = text
        .split("\n\n")
        .filter(|f| f.contains("data: "))
        .collect();
    let largest = frames.iter().map(|f| f.len()).max().unwrap();
    let seconds = frames
        .iter()
        .filter(|f| f.contains("event: second"))
        .count();
    eprintln!(
        "2,000 endpoints: {} frames, largest {largest} bytes, {} bytes in all",
        frames.len(),
        text.len()
    );
    assert!(seconds >= 10, "{seconds} seconds");
    assert!(largest < 512 * 1024, "largest frame {largest} bytes");

    // at the end the table is summary.json's, every endpoint
    let s: Value =
        serde_json::from_str(&std::fs::read_to_string(report.join("summary.json")).unwrap())
            .unwrap();
    let eps = s["endpoints"].as_array().unwrap();
    assert_eq!(eps.len(), 2000);
    let table = r["table"].as_array().unwrap();
    assert_eq!(table.len(), 2000);
    let mut requests = 0;
    for row in table {
        let name = format!("GET {}", row[0].as_str().unwrap());
        let e = eps.iter().find(|e| e["name"] == name.as_str()).unwrap();
        assert_eq!(
            count(row[1].as_str().unwrap()),
            e["requests"].as_u64().unwrap()
        );
        assert_eq!(
            count(row[2].as_str().unwrap()),
            e["failures"].as_u64().unwrap()
        );
        requests += e["requests"].as_u64().unwrap();
    }
    // every request reached the mock
    assert_eq!(requests, s["totals"]["requests"].as_u64().unwrap());
    assert_eq!(requests, mock.counters().requests());
}
