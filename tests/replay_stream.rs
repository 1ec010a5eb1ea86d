//! A streamed open replay ([`reprise::replay::stream`]) sends what the whole-plan replay
//! sends: the same requests, in the same order per session, at the same start offsets —
//! asserted on what the mock received — while holding only the sessions near their
//! arrival.

mod replay_util;

use replay_util::*;
use reprise::mock::{self, Endpoint, LogEntry};
use reprise::replay::stream::{Index, Settings, Stream};
use reprise::replay::{plan::Plan, Config, Speed, Timing, Workload};
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

const SESSIONS: u64 = 30;

/// Sessions that interleave over a long span: session k starts at k·60 ms and lasts
/// ~640 ms (a start, then four continues naming its thread id), so ~11 are in flight at
/// any time and each one's last exchange is written long after later sessions began.
fn recording() -> Vec<reprise::trace::Exchange> {
    let mut all = Vec::new();
    for k in 0..SESSIONS {
        let thread = format!("3f2c1a9e-8c4b-4f1e-9a53-{k:012}");
        let sends = [(100, 5), (250, 5), (400, 5), (640, 5)];
        all.extend(session(&format!("s{k}"), &thread, k * 10, k * 60, &sends));
    }
    // the file in completion order, as the recorder writes it
    all.sort_by_key(|e| e.t_us + e.done_us);
    all
}

/// What the mock received, per recorded session (its `student_id`): each request's
/// (endpoint, body without the live thread id), and its arrival since the run's first.
type Seen = BTreeMap<String, Vec<(String, Value, f64)>>;

fn seen(log: &[LogEntry]) -> Seen {
    let first = log.iter().map(|e| e.at).min().unwrap();
    let mut student_of: HashMap<String, String> = HashMap::new();
    let mut out = Seen::new();
    for e in log {
        let mut body: Value = serde_json::from_slice(&e.body).unwrap_or(Value::Null);
        let student = if e.endpoint == Endpoint::Start {
            let s = body["student_id"].as_str().unwrap().to_string();
            if let Some(t) = &e.issued {
                student_of.insert(t.clone(), s.clone());
            }
            s
        } else {
            let t = e.thread_id.clone().expect("a continue names its thread");
            student_of[&t].clone()
        };
        if let Some(o) = body.as_object_mut() {
            o.remove("thread_id");
        }
        let at = ms(e.at.duration_since(first));
        out.entry(student)
            .or_default()
            .push((format!("{:?}", e.endpoint), body, at));
    }
    out
}

fn streamed(path: &Path, multiply: u64, read_ahead: Duration) -> (Plan, Arc<Stream>) {
    let index = Index::read(path, "current_node").unwrap();
    let plan = index.skeleton("/current_node");
    let stream = Stream::open(
        path.to_path_buf(),
        index,
        Settings {
            correlate: vec![],
            node_pointer: "/current_node".into(),
            multiply,
            shard: None,
            speed: Speed::new(1.0).unwrap(),
            read_ahead,
        },
    )
    .unwrap();
    (plan, Arc::new(stream))
}

fn open(target: &str, multiply: u64) -> Config {
    let mut c = config(target, Workload::Open { multiply }, 1.0);
    c.timing = Timing::Schedule;
    // both runs' workers preempt whatever else the machine runs (a build beside the test
    // made one whole-plan session 65 ms late at ordinary priority)
    c.realtime = reprise::replay::priority::check().is_ok();
    c
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_streamed_open_replay_sends_what_the_whole_plan_sends() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_trace(dir.path(), &recording());

    let whole_mock = mock_with(mock::Config::default()).await;
    let plan = reprise::cmd::replay::load_plan(std::slice::from_ref(&path), &[]).unwrap();
    assert_eq!(plan.sessions.len() as u64, SESSIONS);
    let whole = replay_run(plan, open(&whole_mock.url(), 1)).await;

    let stream_mock = mock_with(mock::Config::default()).await;
    let (skeleton, stream) = streamed(&path, 1, Duration::from_millis(200));
    assert!(skeleton.sessions.iter().all(|s| s.steps.is_empty()));
    let mut c = open(&stream_mock.url(), 1);
    c.stream = Some(stream.clone());
    let t0 = Instant::now();
    let s = replay_run(skeleton, c).await;
    let took = t0.elapsed();

    let total = SESSIONS * 5;
    assert_eq!(whole.totals.requests, total);
    assert_eq!(s.totals.requests, total, "{:?}", s.failures);
    assert_eq!(s.totals.failures, 0, "{:?}", s.failures);
    assert_eq!(stream_mock.counters().requests(), total);
    assert_eq!(
        s.endpoints
            .iter()
            .map(|e| (&e.name, e.requests))
            .collect::<Vec<_>>(),
        whole
            .endpoints
            .iter()
            .map(|e| (&e.name, e.requests))
            .collect::<Vec<_>>(),
        "the same endpoints, by the same names"
    );
    let (a, b) = (
        seen(&whole_mock.log().entries()),
        seen(&stream_mock.log().entries()),
    );
    assert_eq!(a.len() as u64, SESSIONS);
    assert_eq!(a.keys().collect::<Vec<_>>(), b.keys().collect::<Vec<_>>());
    for (student, want) in &a {
        let got = &b[student];
        let order = |v: &[(String, Value, f64)]| -> Vec<(String, Value)> {
            v.iter().map(|(e, b, _)| (e.clone(), b.clone())).collect()
        };
        assert_eq!(
            order(got),
            order(want),
            "{student}: the same requests in order"
        );
        for ((_, _, x), (_, _, y)) in got.iter().zip(want) {
            // generous for a shared 2-core machine (the mock's stamps are taken at
            // ordinary priority); sessions are 60 ms apart
            assert!(
                (x - y).abs() < 80.0,
                "{student}: sent at {x:.1} ms, whole plan {y:.1} ms"
            );
        }
    }
    // the run kept to the recording's span (≈ 29·60 + 640 ms), not held up by the reader
    assert!(took < Duration::from_secs(6), "{took:?}");
    // at most the sessions within 200 ms (+ one session's length) of the clock were held
    let held = stream.held_peak();
    assert!(
        (1..20).contains(&held),
        "held {held} sessions at once of {SESSIONS}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_copy_of_a_multiplied_stream_is_sent() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_trace(dir.path(), &recording());
    let m = mock_with(mock::Config::default()).await;
    let (skeleton, stream) = streamed(&path, 2, Duration::from_millis(200));
    let mut c = open(&m.url(), 2);
    c.stream = Some(stream.clone());
    let s = replay_run(skeleton, c).await;
    assert_eq!(s.totals.requests, SESSIONS * 5 * 2, "{:?}", s.failures);
    assert_eq!(s.totals.failures, 0, "{:?}", s.failures);
    let got = seen(&m.log().entries());
    assert_eq!(got.len() as u64, SESSIONS);
    for (student, v) in &got {
        assert_eq!(
            v.len(),
            10,
            "{student}: both copies, all five requests each"
        );
    }
}
