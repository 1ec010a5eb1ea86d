//! Opens `report.html` from disk in headless Chromium (Debian's `chromium`) over the DevTools
//! protocol and checks what a reader would see: the four charts drawn with data, no network
//! request, no console error. A full-page screenshot is kept in
//! `target/test-artifacts/report.png`.
//!
//! The DevTools protocol runs over `--remote-debugging-pipe` (fd 3: commands in, fd 4:
//! replies and events out, NUL-separated JSON), so no port is opened and no websocket client
//! is needed. Without Chromium the test is skipped loudly — unless `CI` is set, where a
//! missing browser is a failure (`.ci/run` installs it).

use reprise::report::{self, fixture, Thresholds};
use serde_json::{json, Value};
use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::os::fd::{FromRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::time::{Duration, Instant};

const TIMEOUT: Duration = Duration::from_secs(30);

fn find_chromium() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("CHROMIUM") {
        return Some(PathBuf::from(p));
    }
    let path = std::env::var_os("PATH")?;
    for dir in std::env::split_paths(&path) {
        for name in ["chromium", "chromium-browser", "google-chrome"] {
            let p = dir.join(name);
            if p.is_file() {
                return Some(p);
            }
        }
    }
    None
}

/// A Chromium child speaking the DevTools protocol over two pipes.
struct Browser {
    child: Child,
    to: File,
    from: Receiver<Value>,
    next_id: u64,
    /// Every event received so far (method, params, sessionId).
    events: Vec<Value>,
}

fn pipe() -> (OwnedFd, OwnedFd) {
    let mut fds = [0; 2];
    // SAFETY: pipe2 writes two fds into the array; we own them from here on.
    let rc = unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) };
    assert_eq!(rc, 0, "pipe2: {}", std::io::Error::last_os_error());
    // SAFETY: both fds were just created and are not owned elsewhere.
    unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) }
}

impl Browser {
    fn launch(exe: &Path, profile: &Path, log: &Path) -> Browser {
        use std::os::fd::AsRawFd;
        let (cmd_read, cmd_write) = pipe();
        let (evt_read, evt_write) = pipe();
        let (r, w) = (cmd_read.as_raw_fd(), evt_write.as_raw_fd());
        let mut cmd = Command::new(exe);
        cmd.args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-dev-shm-usage",
            "--hide-scrollbars",
            "--remote-debugging-pipe",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(File::create(log).unwrap());
        // SAFETY: only async-signal-safe calls (fcntl, dup2, close) between fork and exec.
        unsafe {
            cmd.pre_exec(move || {
                // move both ends above 4 first, so dup2 onto 3/4 never meets itself
                let r2 = libc::fcntl(r, libc::F_DUPFD, 10);
                let w2 = libc::fcntl(w, libc::F_DUPFD, 10);
                if r2 < 0 || w2 < 0 || libc::dup2(r2, 3) < 0 || libc::dup2(w2, 4) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                libc::close(r2);
                libc::close(w2);
                Ok(())
            });
        }
        let child = cmd.spawn().expect("chromium starts");
        drop(cmd_read);
        drop(evt_write);
        let (tx, from) = mpsc::channel();
        let reader = File::from(evt_read);
        std::thread::spawn(move || {
            let mut r = BufReader::new(reader);
            let mut buf = Vec::new();
            while r.read_until(0, &mut buf).is_ok_and(|n| n > 0) {
                if buf.last() == Some(&0) {
                    buf.pop();
                }
                if let Ok(v) = serde_json::from_slice::<Value>(&buf) {
                    if tx.send(v).is_err() {
                        return;
                    }
                }
                buf.clear();
            }
        });
        Browser {
            child,
            to: File::from(cmd_write),
            from,
            next_id: 1,
            events: Vec::new(),
        }
    }

    fn call(&mut self, session: Option<&str>, method: &str, params: Value) -> Value {
        let id = self.next_id;
        self.next_id += 1;
        let mut msg = json!({ "id": id, "method": method, "params": params });
        if let Some(s) = session {
            msg["sessionId"] = json!(s);
        }
        let mut bytes = serde_json::to_vec(&msg).unwrap();
        bytes.push(0);
        self.to.write_all(&bytes).expect("write to chromium");
        let deadline = Instant::now() + TIMEOUT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let m = self
                .from
                .recv_timeout(left)
                .unwrap_or_else(|_| panic!("no reply to {method} within {TIMEOUT:?}"));
            if m.get("id").and_then(Value::as_u64) == Some(id) {
                if let Some(e) = m.get("error") {
                    panic!("{method} failed: {e}");
                }
                return m["result"].clone();
            }
            self.events.push(m);
        }
    }

    /// Waits for an event named `method` of tab `session`, keeping every event seen on the way.
    fn wait_event(&mut self, method: &str, session: &str) {
        let deadline = Instant::now() + TIMEOUT;
        let is = |e: &Value| e["method"] == method && e["sessionId"] == session;
        if self.events.iter().any(is) {
            return;
        }
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let m = self
                .from
                .recv_timeout(left)
                .unwrap_or_else(|_| panic!("no {method} within {TIMEOUT:?}"));
            let hit = is(&m);
            self.events.push(m);
            if hit {
                return;
            }
        }
    }

    fn eval(&mut self, session: &str, expr: &str) -> Value {
        let r = self.call(
            Some(session),
            "Runtime.evaluate",
            json!({ "expression": expr, "returnByValue": true }),
        );
        r["result"]["value"].clone()
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What the page did: URLs requested, errors logged.
#[derive(Debug, Default)]
struct Observed {
    requests: Vec<String>,
    errors: Vec<String>,
}

fn observe(events: &[Value]) -> Observed {
    let mut o = Observed::default();
    for e in events {
        let p = &e["params"];
        match e["method"].as_str().unwrap_or("") {
            "Network.requestWillBeSent" => o
                .requests
                .push(p["request"]["url"].as_str().unwrap_or("?").to_string()),
            "Runtime.exceptionThrown" => o
                .errors
                .push(format!("exception: {}", p["exceptionDetails"])),
            "Runtime.consoleAPICalled"
                if matches!(p["type"].as_str(), Some("error" | "assert")) =>
            {
                o.errors
                    .push(format!("console.{}: {}", p["type"], p["args"]))
            }
            "Log.entryAdded" if p["entry"]["level"] == "error" => {
                o.errors.push(format!("log: {}", p["entry"]["text"]))
            }
            _ => {}
        }
    }
    o
}

/// Opens `url` in a fresh tab and returns the tab's session id once the page has loaded.
fn open(b: &mut Browser, url: &str) -> String {
    let target = b.call(None, "Target.createTarget", json!({ "url": "about:blank" }));
    let attached = b.call(
        None,
        "Target.attachToTarget",
        json!({ "targetId": target["targetId"], "flatten": true }),
    );
    let s = attached["sessionId"].as_str().unwrap().to_string();
    for domain in [
        "Network.enable",
        "Runtime.enable",
        "Log.enable",
        "Page.enable",
    ] {
        b.call(Some(&s), domain, json!({}));
    }
    b.call(
        Some(&s),
        "Emulation.setDeviceMetricsOverride",
        json!({ "width": 1360, "height": 900, "deviceScaleFactor": 1, "mobile": false }),
    );
    b.events.clear();
    b.call(Some(&s), "Page.navigate", json!({ "url": url }));
    b.wait_event("Page.loadEventFired", &s);
    s
}

fn artifacts() -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .unwrap()
        .join("test-artifacts");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn report_renders_charts_offline_without_errors() {
    let Some(exe) = find_chromium() else {
        if std::env::var_os("CI").is_some() {
            panic!("chromium is not installed, and CI is set: .ci/run must install it");
        }
        eprintln!(
            "\n=== SKIPPED report_browser: no chromium on PATH (apt-get install chromium) ===\n"
        );
        return;
    };
    let mut summary = fixture::seeded(42);
    summary.thresholds = Thresholds::parse_all(&[
        "error_rate < 5%",
        "p95 < 5s",
        "server_timing.checkpoint_save.p95 < 200ms",
        "node['AR→TC'].p99 < 4s",
    ])
    .unwrap()
    .evaluate(&summary);
    let out = artifacts();
    let written = report::write_all(&summary, &out.join("report")).unwrap();
    let html = written.html().canonicalize().unwrap();
    let url = format!("file://{}", html.display());

    let profile = tempfile::tempdir().unwrap();
    let mut b = Browser::launch(&exe, profile.path(), &out.join("chromium.log"));
    let s = open(&mut b, &url);

    // the script marks the body once the charts are drawn
    let deadline = Instant::now() + TIMEOUT;
    let rendered = loop {
        let v = b.eval(&s, "document.body.getAttribute('data-rendered')");
        if v.is_string() || Instant::now() > deadline {
            break v;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(rendered, json!("4"), "all four charts drawn");
    let charts = b.eval(
        &s,
        "Array.from(document.querySelectorAll('.chart[data-chart] svg')).map(function (svg) { \
           return { points: Number(svg.getAttribute('data-points')), \
                    paths: svg.querySelectorAll('path.series').length, \
                    longest: Math.max.apply(null, Array.from(svg.querySelectorAll('path.series')).map(function (p) { return p.getTotalLength(); })) }; })",
    );
    let charts = charts.as_array().expect("chart list");
    assert_eq!(charts.len(), 4);
    // the response-time distribution: the histogram's bins, the percentile curve's points
    let dist = b.eval(
        &s,
        "[Number(document.querySelector('[data-dist=hist] svg').getAttribute('data-bins')), \
          Number(document.querySelector('[data-dist=pct] svg').getAttribute('data-points'))]",
    );
    assert!(dist[0].as_u64().unwrap() >= 1, "{dist}");
    assert!(dist[1].as_u64().unwrap() >= 10, "{dist}");
    for c in charts {
        assert!(
            c["points"].as_u64().unwrap() >= summary.series.len() as u64,
            "{c}"
        );
        assert!(c["paths"].as_u64().unwrap() >= 1, "{c}");
        assert!(
            c["longest"].as_f64().unwrap() > 100.0,
            "a line actually drawn across the chart: {c}"
        );
    }
    let text = b.eval(&s, "document.body.innerText");
    let text = text.as_str().unwrap();
    for needle in [
        "Thresholds",
        "POST /session/continue",
        "AR→TC",
        "checkpoint_save",
        "Run settings",
        "Lag p99",
    ] {
        assert!(text.contains(needle), "page shows {needle}");
    }

    // full-page screenshot as an artifact
    let metrics = b.call(Some(&s), "Page.getLayoutMetrics", json!({}));
    let height = metrics["cssContentSize"]["height"]
        .as_f64()
        .unwrap_or(3000.0)
        .ceil() as u64;
    b.call(
        Some(&s),
        "Emulation.setDeviceMetricsOverride",
        json!({ "width": 1360, "height": height, "deviceScaleFactor": 1, "mobile": false }),
    );
    let shot = b.call(
        Some(&s),
        "Page.captureScreenshot",
        json!({ "format": "png" }),
    );
    use base64::Engine as _;
    let png = base64::engine::general_purpose::STANDARD
        .decode(shot["data"].as_str().unwrap())
        .unwrap();
    assert!(
        png.starts_with(b"\x89PNG\r\n\x1a\n") && png.len() > 20_000,
        "a real screenshot"
    );
    std::fs::write(out.join("report.png"), &png).unwrap();

    let seen = observe(&b.events);
    let outside: Vec<&String> = seen
        .requests
        .iter()
        .filter(|u| **u != url && !u.starts_with("data:"))
        .collect();
    assert!(
        outside.is_empty(),
        "the report made network requests: {outside:?}"
    );
    assert!(
        seen.requests.contains(&url),
        "the protocol did report the page's own load: {:?}",
        seen.requests
    );
    assert!(
        seen.errors.is_empty(),
        "the report logged errors: {:#?}",
        seen.errors
    );

    // control: the same checks do catch a page that fetches something and logs an error
    let bad = out.join("report").join("bad.html");
    let tainted = std::fs::read_to_string(&html).unwrap().replace(
        "</body>",
        "<img src=\"http://127.0.0.1:9/pixel.png\"><script>console.error('boom')</script></body>",
    );
    std::fs::write(&bad, tainted).unwrap();
    let _ = open(&mut b, &format!("file://{}", bad.display()));
    std::thread::sleep(Duration::from_millis(300));
    let _ = b.call(None, "Target.getTargets", json!({})); // drain pending events
    let seen = observe(&b.events);
    assert!(
        seen.requests
            .iter()
            .any(|u| u.starts_with("http://127.0.0.1:9/")),
        "a request is detected: {:?}",
        seen.requests
    );
    assert!(
        seen.errors.iter().any(|e| e.contains("boom")),
        "an error is detected: {:?}",
        seen.errors
    );
    let _ = std::fs::remove_file(&bad);
    // ask politely; Drop kills the child if it has not gone by then
    let _ =
        b.to.write_all(b"{\"id\":999999,\"method\":\"Browser.close\"}\0");
}

#[test]
fn a_staged_run_with_scraped_metrics_charts_them_with_the_stage_boundaries() {
    use reprise::metrics::scraped::{Scraped, Series, Target};
    use reprise::metrics::summary::Stage;
    let Some(exe) = find_chromium() else {
        if std::env::var_os("CI").is_some() {
            panic!("chromium is not installed, and CI is set: .ci/run must install it");
        }
        eprintln!("\n=== SKIPPED report_browser (stages): no chromium on PATH ===\n");
        return;
    };
    let mut summary = fixture::seeded(7);
    let secs = summary.series.len() as f64;
    summary.stages = (0..3)
        .map(|i| Stage {
            index: i + 1,
            name: ["warm", "up", "<b>top</b>"][i].into(),
            target: 10.0 * (i as f64 + 1.0),
            start_s: secs * i as f64 / 3.0,
            end_s: secs * (i + 1) as f64 / 3.0,
            ..Default::default()
        })
        .collect();
    let points = |f: fn(f64) -> f64| {
        (0..secs as usize * 2)
            .map(|k| [k as f64 / 2.0, f(k as f64)])
            .collect()
    };
    summary.scrape = Some(Scraped {
        targets: vec![Target {
            url: "http://127.0.0.1:1/metrics".into(),
            scrapes: secs as u64 * 2,
            series: vec![
                Series {
                    name: "db_pool_in_use".into(),
                    labels: [("pid".to_string(), "<script>1</script>".to_string())].into(),
                    kind: "gauge".into(),
                    points: points(|k| k % 10.0),
                },
                Series {
                    name: "http_requests_total".into(),
                    kind: "counter".into(),
                    points: points(|k| k * 7.0),
                    ..Default::default()
                },
            ],
            ..Default::default()
        }],
    });
    report::stages::fill(&mut summary);
    let out = artifacts();
    let written = report::write_all(&summary, &out.join("report-stages")).unwrap();
    let html = written.html().canonicalize().unwrap();
    let url = format!("file://{}", html.display());
    let profile = tempfile::tempdir().unwrap();
    let mut b = Browser::launch(&exe, profile.path(), &out.join("chromium-stages.log"));
    let s = open(&mut b, &url);
    let deadline = Instant::now() + TIMEOUT;
    let rendered = loop {
        let v = b.eval(&s, "document.body.getAttribute('data-rendered')");
        if v.is_string() || Instant::now() > deadline {
            break v;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(
        rendered,
        json!("6"),
        "the run's four charts and two scraped metrics"
    );
    let drawn = b.eval(
        &s,
        "Array.from(document.querySelectorAll('.chart[data-chart] svg')).map(function (svg) { \
           return [svg.querySelectorAll('line.stage').length, Number(svg.getAttribute('data-points'))]; })",
    );
    let drawn = drawn.as_array().unwrap();
    assert_eq!(drawn.len(), 6);
    for d in drawn {
        assert_eq!(d[0], json!(2), "two stage boundaries on every chart: {d}");
        assert!(d[1].as_u64().unwrap() > 10, "{d}");
    }
    let text = b.eval(&s, "document.body.innerText");
    let text = text.as_str().unwrap();
    for needle in [
        "Load stages",
        "Target metrics",
        "rate(http_requests_total) /s",
        "<b>top</b>",
    ] {
        assert!(text.contains(needle), "page shows {needle}");
    }
    let seen = observe(&b.events);
    assert!(
        seen.errors.is_empty(),
        "the report logged errors: {:#?}",
        seen.errors
    );
    let _ =
        b.to.write_all(b"{\"id\":999999,\"method\":\"Browser.close\"}\0");
}
