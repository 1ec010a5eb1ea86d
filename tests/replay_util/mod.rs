//! Helpers for the replay tests: recorded exchanges built in memory, the mock with its
//! request log, and a blocking replay run next to it.

#![allow(dead_code)]

use reprise::metrics::Summary;
use reprise::mock::{self, LogEntry};
use reprise::replay::{self, plan::Plan, Config, NoMeasure, Speed, Workload};
use reprise::trace::{self, Body, Exchange, Request, Response};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

pub const T: &str = "3f2c1a9e-8c4b-4f1e-9a53-2b7d7c1e0f44";

pub fn body(v: Value) -> Body {
    if v.is_null() {
        Body::empty()
    } else {
        Body::from_bytes(&serde_json::to_vec(&v).unwrap(), 0)
    }
}

/// A recorded exchange: sent at `t_ms`, complete `done_ms` later.
#[allow(clippy::too_many_arguments)]
pub fn ex(
    id: u64,
    session: &str,
    t_ms: u64,
    done_ms: u64,
    method: &str,
    path: &str,
    req: Value,
    res: Value,
) -> Exchange {
    Exchange {
        id,
        session: Some(session.to_string()),
        conn: 1,
        sent_at: chrono::Utc::now(),
        t_us: t_ms * 1000,
        ttfb_us: Some(done_ms * 1000),
        done_us: done_ms * 1000,
        req: Request {
            method: method.into(),
            path: path.into(),
            query: None,
            headers: vec![("content-type".into(), "application/json".into())],
            body: body(req),
        },
        res: Some(Response {
            status: 200,
            headers: vec![],
            body: body(res),
            chunks: vec![],
        }),
        error: None,
    }
}

/// A recorded session of `start` then `continue`s sent at the given offsets (ms), each
/// complete `done_ms` after its send.
pub fn session(
    key: &str,
    thread: &str,
    first_id: u64,
    start_ms: u64,
    sends: &[(u64, u64)],
) -> Vec<Exchange> {
    let mut v = vec![ex(
        first_id,
        key,
        start_ms,
        5,
        "POST",
        "/session/start",
        json!({"student_id": key}),
        json!({"thread_id": thread, "current_node": "APK"}),
    )];
    for (k, &(t, done)) in sends.iter().enumerate() {
        v.push(ex(
            first_id + 1 + k as u64,
            key,
            start_ms + t,
            done,
            "POST",
            "/session/continue",
            json!({"thread_id": thread, "user_response": format!("answer {k}")}),
            json!({"thread_id": thread, "turn": k + 1}),
        ));
    }
    v
}

pub async fn mock_with(config: mock::Config) -> mock::Server {
    mock::Server::start("127.0.0.1:0".parse().unwrap(), config.request_log(true))
        .await
        .unwrap()
}

pub fn config(target: &str, workload: Workload, speed: f64) -> Config {
    let mut c = Config::new(target, workload);
    c.speed = Speed::new(speed).unwrap();
    c
}

/// Runs a replay on its own threads (it is blocking) while the mock serves in this runtime.
pub async fn replay_run(plan: Plan, c: Config) -> Summary {
    tokio::task::spawn_blocking(move || {
        replay::run(
            Arc::new(plan),
            &c,
            Arc::new(NoMeasure),
            CancellationToken::new(),
            |_| {},
            Default::default(),
        )
    })
    .await
    .unwrap()
    .unwrap()
}

pub fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

pub fn since(a: &LogEntry, b: &LogEntry) -> f64 {
    ms(b.at.duration_since(a.at))
}

/// Log entries naming (or issuing) each thread id, in arrival order.
pub fn by_thread(log: &[LogEntry]) -> HashMap<String, Vec<LogEntry>> {
    let mut m: HashMap<String, Vec<LogEntry>> = HashMap::new();
    for e in log {
        if let Some(t) = e.issued.as_ref().or(e.thread_id.as_ref()) {
            m.entry(t.clone()).or_default().push(e.clone());
        }
    }
    m
}

pub fn write_trace(dir: &Path, exchanges: &[Exchange]) -> PathBuf {
    let path = dir.join("rec.trace.zst");
    let mut w = trace::Writer::create(&path, &trace::Header::new(Default::default())).unwrap();
    for e in exchanges {
        w.append(e).unwrap();
    }
    w.finish(&trace::Footer {
        exchanges: exchanges.len() as u64,
        sessions: 1,
        dropped: 0,
    })
    .unwrap();
    path
}

/// The `summary.json` a run wrote into report directory `dir`.
pub fn summary(dir: &Path) -> reprise::metrics::Summary {
    serde_json::from_slice(&std::fs::read(dir.join("summary.json")).unwrap()).unwrap()
}

/// A finished command's stdout, then its stderr, for assertion messages.
pub fn text(o: &std::process::Output) -> String {
    format!(
        "{}\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}
