//! `reprise replay` end to end, over loopback, against the shipped mock: every assertion is
//! on what the mock *received* (its counters and request log) as well as on the summary.
//!
//! The acceptance run is the issue's own: 200 users × speed 10 × 30 s; the other tests keep
//! their durations short for a 2-core machine shared with other builds.

mod replay_util;

use replay_util::*;
use reprise::metrics::Summary;
use reprise::mock::{self, Endpoint, Latency, LogEntry};
use reprise::replay::{self, plan::Plan, Timing, Workload};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// The acceptance run: 20 synthetic students recorded through the proxy from one mock,
/// replayed by 200 users at speed 10 against a fresh mock.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_users_against_a_fresh_mock_get_their_own_thread_ids_in_recorded_order() {
    let dir = tempfile::tempdir().unwrap();
    let a =
        mock_with(mock::Config::default().latency(Latency::Fixed(Duration::from_millis(5)))).await;
    let out = dir.path().join("students.trace.zst");
    let mut rc = reprise::record::Config::new(&a.url(), out.clone()).unwrap();
    rc.listen = "127.0.0.1:0".parse().unwrap();
    let proxy = reprise::record::Proxy::start(rc, CancellationToken::new())
        .await
        .unwrap();
    let students = mock::students::Config::new(proxy.url())
        .sessions(20)
        .concurrency(20)
        .think(Duration::from_millis(300), Duration::from_millis(800));
    let report = mock::students::run(&students).await.unwrap();
    assert_eq!(report.failed, 0);
    let rec = proxy.finish().await.unwrap();
    assert_eq!(rec.sessions, 20);

    let plan = reprise::cmd::replay::load_plan(&[out], &[]).unwrap();
    let recorded_ids: Vec<String> = plan.sessions.iter().map(|s| s.key.clone()).collect();
    assert_eq!(plan.sessions.len(), 20);
    // recorded request sequence per student: (endpoint, user_response)
    let recorded: HashMap<String, Vec<(String, Value)>> = plan
        .sessions
        .iter()
        .map(|s| {
            let student = serde_json::from_slice::<Value>(&s.steps[0].body).unwrap()["student_id"]
                .as_str()
                .unwrap()
                .to_string();
            let seq = s
                .steps
                .iter()
                .map(|st| {
                    (
                        plan.routes[st.route as usize].name.clone(),
                        serde_json::from_slice::<Value>(&st.body)
                            .map_or(Value::Null, |j| j["user_response"].clone()),
                    )
                })
                .collect();
            (student, seq)
        })
        .collect();

    let b =
        mock_with(mock::Config::default().latency(Latency::Fixed(Duration::from_millis(5)))).await;
    let mut c = config(
        &b.url(),
        Workload::Closed {
            users: 200,
            spawn_rate: Some(400.0),
        },
        10.0,
    );
    c.duration = Some(Duration::from_secs(30));
    let s = replay_run(plan, c).await;

    let counts = b.counters();
    assert_eq!(s.totals.failures, 0, "{:?}", s.failures);
    assert_eq!(b.unknown_thread_id_requests(), 0);
    assert_eq!(
        s.totals.requests,
        counts.requests(),
        "every request counted reached the mock"
    );
    assert!(s.sessions.completed >= 200, "{:?}", s.sessions);
    assert_eq!(s.totals.peak_users, 200);
    assert!(
        s.endpoints
            .iter()
            .any(|e| e.name == "GET /session/status/{thread_id}"),
        "{:?}",
        s.endpoints.iter().map(|e| &e.name).collect::<Vec<_>>()
    );

    let log = b.log().entries();
    let threads = by_thread(&log);
    assert_eq!(threads.len() as u64, counts.sessions_started);
    for (thread, entries) in &threads {
        let start = &entries[0];
        assert_eq!(
            start.endpoint,
            Endpoint::Start,
            "thread {thread} first seen on {:?}",
            start.endpoint
        );
        assert_eq!(start.issued.as_deref(), Some(thread.as_str()));
        let student: Value = serde_json::from_slice(&start.body).unwrap();
        let want = &recorded[student["student_id"].as_str().unwrap()];
        let got: Vec<(String, Value)> = entries
            .iter()
            .map(|e| {
                let name = e.endpoint.template().to_string();
                let resp = serde_json::from_slice::<Value>(&e.body)
                    .map_or(Value::Null, |j| j["user_response"].clone());
                (name, resp)
            })
            .collect();
        assert!(
            got.len() <= want.len() && got[..] == want[..got.len()],
            "thread {thread}: {got:?} is not a prefix of {want:?}"
        );
        for e in entries {
            assert!(
                !recorded_ids.contains(thread),
                "a recorded id reached the fresh mock"
            );
            assert_eq!(e.peer, start.peer, "one connection per user");
        }
    }
}

/// Gaps of 0.5, 1 and 2 s after a response, at speed 1 and 10, as the mock sees them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn think_gaps_are_kept_at_speed_1_and_10() {
    let latency = 50.0;
    let b =
        mock_with(mock::Config::default().latency(Latency::Fixed(Duration::from_millis(50)))).await;
    // start done at 5 ms; continues at +500 after it, +1000 and +2000 after each 50 ms turn
    let rec = session("s", T, 1, 0, &[(505, 50), (1555, 50), (3605, 50)]);
    for speed in [10.0, 1.0] {
        b.log().drain();
        let s = replay_run(
            Plan::from_exchanges(rec.clone()),
            config(&b.url(), Workload::Open { multiply: 1 }, speed),
        )
        .await;
        assert_eq!(s.totals.failures, 0, "{:?}", s.failures);
        let log = b.log().drain();
        assert_eq!(log.len(), 4);
        let want = [
            500.0 / speed,
            latency + 1000.0 / speed,
            latency + 2000.0 / speed,
        ];
        for (k, w) in want.iter().enumerate() {
            let got = since(&log[k], &log[k + 1]);
            assert!(
                (got - w).abs() < 40.0,
                "speed {speed}: gap {k} at the mock {got:.1} ms, want {w:.1} ms"
            );
        }
        assert!(s.totals.lag.p99_ms < 30.0, "lag {:?}", s.totals.lag);
    }
}

/// A status poll sent during a slow continue in the recording is sent during it again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn overlapping_requests_stay_overlapping() {
    let b = mock_with(mock::Config::default().latency(Latency::Fixed(Duration::from_millis(600))))
        .await;
    let mut rec = session("s", T, 1, 0, &[(100, 1000), (1500, 50)]);
    rec.push(ex(
        9,
        "s",
        400,
        10,
        "GET",
        &format!("/session/status/{T}"),
        Value::Null,
        json!({"thread_id": T}),
    ));
    let s = replay_run(
        Plan::from_exchanges(rec),
        config(&b.url(), Workload::Open { multiply: 1 }, 1.0),
    )
    .await;
    assert_eq!(s.totals.failures, 0, "{:?}", s.failures);
    let log = b.log().entries();
    let names: Vec<Endpoint> = log.iter().map(|e| e.endpoint).collect();
    assert_eq!(
        names,
        vec![
            Endpoint::Start,
            Endpoint::Continue,
            Endpoint::Status,
            Endpoint::Continue
        ]
    );
    // status: 395 ms after the start's completion, i.e. ~300 ms into the 600 ms continue
    let status_after_continue = since(&log[1], &log[2]);
    assert!(
        (status_after_continue - 300.0).abs() < 60.0,
        "{status_after_continue}"
    );
    // the second continue waits for the first (600 ms) + its 400 ms gap
    let second = since(&log[1], &log[3]);
    assert!((second - 1000.0).abs() < 60.0, "{second}");
    assert_ne!(
        log[1].peer, log[2].peer,
        "the overlapping poll needed a second connection"
    );
}

/// `schedule` keeps the recorded send times against a target slower than the gaps, and
/// measures latency from the intended send as well.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schedule_keeps_the_send_times_against_a_slow_target() {
    let b = mock_with(mock::Config::default().latency(Latency::Fixed(Duration::from_millis(300))))
        .await;
    // continues every 100 ms, each recorded at 20 ms: live they take 300 ms
    let rec = session("s", T, 1, 0, &[(100, 20), (200, 20), (300, 20), (400, 20)]);
    let mut c = config(&b.url(), Workload::Open { multiply: 1 }, 1.0);
    c.timing = Timing::Schedule;
    let s = replay_run(Plan::from_exchanges(rec.clone()), c).await;
    assert_eq!(s.totals.failures, 0, "{:?}", s.failures);
    let log = b.log().drain();
    assert_eq!(log.len(), 5);
    for (k, e) in log.iter().enumerate().skip(1) {
        let at = since(&log[0], e);
        assert!(
            (at - 100.0 * k as f64).abs() < 50.0,
            "request {k} at {at:.0} ms, scheduled {} ms",
            100 * k
        );
    }
    let cont = s
        .endpoints
        .iter()
        .find(|e| e.name == "POST /session/continue")
        .unwrap();
    assert!(
        cont.latency.p50_ms >= 300.0,
        "service latency {:?}",
        cont.latency.p50_ms
    );
    assert!(s.totals.corrected_latency.p99_ms >= s.totals.latency.p99_ms);
    assert!(s.totals.corrected_latency.max_ms >= 300.0);
    assert_eq!(s.run.timing, "schedule");

    // think timing against the same target stretches the session instead
    let s = replay_run(
        Plan::from_exchanges(rec),
        config(&b.url(), Workload::Open { multiply: 1 }, 1.0),
    )
    .await;
    let log = b.log().drain();
    assert!(
        since(&log[0], &log[4]) > 4.0 * 300.0,
        "think waits for each response"
    );
    assert_eq!(s.totals.failures, 0);
}

/// A client-generated id (an `x-request-id` UUID the recording's client invented) is fresh
/// per user and consistent within the user's session.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_generated_ids_are_fresh_per_user() {
    let b = mock_with(mock::Config::default()).await;
    let rid = "9b2e4f7a-1c3d-4e5f-8a9b-0c1d2e3f4a5b";
    let mut rec = session("s", T, 1, 0, &[(50, 5), (100, 5)]);
    for e in &mut rec {
        e.req.headers.push(("x-request-id".into(), rid.into()));
    }
    let mut c = config(
        &b.url(),
        Workload::Closed {
            users: 5,
            spawn_rate: None,
        },
        1.0,
    );
    c.headers = vec![(
        http::HeaderName::from_static("authorization"),
        http::HeaderValue::from_static("Bearer injected"),
    )];
    let s = replay_run(Plan::from_exchanges(rec), c).await;
    assert_eq!(s.totals.failures, 0, "{:?}", s.failures);
    let log = b.log().entries();
    let threads = by_thread(&log);
    assert_eq!(threads.len(), 5);
    let mut seen = std::collections::HashSet::new();
    for entries in threads.values() {
        let id = entries[0].headers["x-request-id"]
            .to_str()
            .unwrap()
            .to_string();
        assert_ne!(id, rid);
        assert_eq!(uuid::Uuid::parse_str(&id).unwrap().get_version_num(), 4);
        assert!(seen.insert(id.clone()), "ids differ between users");
        assert_eq!(entries.len(), 3);
        for e in entries {
            assert_eq!(
                e.headers["x-request-id"],
                id.as_str(),
                "one id per user session"
            );
        }
    }
}

/// `--multiply 5`: five copies of the recorded arrivals, shifted by span/5 each.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multiply_five_starts_five_times_the_sessions_spread_over_the_span() {
    let b = mock_with(mock::Config::default()).await;
    let mut rec = Vec::new();
    for i in 0..4u64 {
        let t = format!("3f2c1a9e-8c4b-4f1e-9a53-2b7d7c1e0f4{i}");
        rec.extend(session(
            &format!("s{i}"),
            &t,
            i * 10 + 1,
            i * 300,
            &[(100, 5)],
        ));
    }
    let s = replay_run(
        Plan::from_exchanges(rec),
        config(&b.url(), Workload::Open { multiply: 5 }, 1.0),
    )
    .await;
    assert_eq!(s.totals.failures, 0, "{:?}", s.failures);
    assert_eq!(s.sessions.started, 20);
    assert_eq!(b.unknown_thread_id_requests(), 0);
    let starts: Vec<LogEntry> = b
        .log()
        .entries()
        .into_iter()
        .filter(|e| e.endpoint == Endpoint::Start)
        .collect();
    assert_eq!(starts.len(), 20);
    let mut got: Vec<f64> = starts.iter().map(|e| since(&starts[0], e)).collect();
    got.sort_by(f64::total_cmp);
    // span 900 ms: copy c of session i at i·300 + c·180 ms
    let mut want: Vec<f64> = (0..5)
        .flat_map(|c| (0..4).map(move |i| (i * 300 + c * 180) as f64))
        .collect();
    want.sort_by(f64::total_cmp);
    for (g, w) in got.iter().zip(&want) {
        assert!((g - w).abs() < 100.0, "arrivals {got:?}, want {want:?}");
    }
}

/// The server closes idle keep-alive connections after 1 s; think gaps of 1.5 s must not
/// turn into failures.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_connections_closed_by_the_server_are_reopened() {
    let b = mock_with(mock::Config::default().keep_alive_timeout(Duration::from_secs(1))).await;
    let rec = session("s", T, 1, 0, &[(1500, 5), (3000, 5)]);
    let s = replay_run(
        Plan::from_exchanges(rec),
        config(
            &b.url(),
            Workload::Closed {
                users: 3,
                spawn_rate: None,
            },
            1.0,
        ),
    )
    .await;
    assert_eq!(s.totals.failures, 0, "{:?}", s.failures);
    assert_eq!(s.totals.requests, 3 * 3);
    let counts = b.counters();
    assert_eq!(counts.requests(), 3 * 3);
    assert!(
        counts.connections_accepted >= 3 * 3,
        "each gap outlived the keep-alive: {counts:?}"
    );
}

/// The hook for conversation measures sees every live response beside its recorded twin,
/// every session start and end, on the worker that sent it; its parts reach the summary.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_response_hook_sees_every_response_with_its_recorded_twin() {
    use reprise::replay::hook::{Live, SessionEnd, SessionInfo};
    use reprise::replay::{Measure, WorkerMeasure};

    #[derive(Default)]
    struct Seen {
        responses: u64,
        starts: u64,
        ends: u64,
        twins_match: u64,
        own_thread: u64,
    }
    impl WorkerMeasure for Seen {
        type Part = Seen;
        fn session_start(&mut self, _s: &SessionInfo<'_>) {
            self.starts += 1;
        }
        fn response(&mut self, r: &Live<'_>) {
            self.responses += 1;
            let step = &r.session.steps[r.step];
            if std::ptr::eq(r.recorded, &step.recorded)
                && step.method.as_str() == r.endpoint.split(' ').next().unwrap()
                && r.recorded.status() == Some(200)
                && r.status == Some(200)
            {
                self.twins_match += 1;
            }
            // the live thread_id this user owns is the one the live response names
            let live_id = r.live.first().cloned().flatten();
            let named = serde_json::from_slice::<Value>(r.body)
                .ok()
                .and_then(|j| j["thread_id"].as_str().map(str::to_string));
            if live_id.is_some() && live_id == named {
                self.own_thread += 1;
            }
        }
        fn session_end(&mut self, _s: &SessionInfo<'_>, end: &SessionEnd<'_>) {
            assert!(end.aborted.is_none());
            self.ends += 1;
        }
        fn finish(self) -> Seen {
            self
        }
    }
    struct Counting;
    impl Measure for Counting {
        type Worker = Seen;
        fn worker(&self, _index: usize) -> Seen {
            Seen::default()
        }
        fn finish(&self, parts: Vec<Seen>, summary: &mut Summary) {
            let f = &mut summary.conversation.fields;
            for p in parts {
                *f.entry("responses".into()).or_default() += p.responses;
                *f.entry("starts".into()).or_default() += p.starts;
                *f.entry("ends".into()).or_default() += p.ends;
                *f.entry("twins".into()).or_default() += p.twins_match;
                *f.entry("own_thread".into()).or_default() += p.own_thread;
            }
        }
    }

    let b = mock_with(mock::Config::default()).await;
    let rec = session("s", T, 1, 0, &[(20, 5), (40, 5)]);
    let c = config(
        &b.url(),
        Workload::Closed {
            users: 6,
            spawn_rate: None,
        },
        1.0,
    );
    let s = tokio::task::spawn_blocking(move || {
        replay::run(
            Arc::new(Plan::from_exchanges(rec)),
            &c,
            Arc::new(Counting),
            CancellationToken::new(),
            |_| {},
            Default::default(),
        )
    })
    .await
    .unwrap()
    .unwrap();
    let f = &s.conversation.fields;
    assert_eq!(f["responses"], 18);
    assert_eq!(f["twins"], 18);
    assert_eq!(f["own_thread"], 18);
    assert_eq!((f["starts"], f["ends"]), (6, 6));
    assert_eq!(b.counters().requests(), 18);
}

/// A worker that dies mid-run (here its conversation measure panics) is never a silently
/// short series: the run is marked aborted with the worker and the reason, the exit outcome
/// is not success, and the other worker's users go on to the end of the run.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_that_dies_marks_the_run_and_the_others_go_on() {
    use reprise::replay::hook::Live;
    use reprise::replay::{Measure, WorkerMeasure};

    struct Buggy {
        panics: bool,
        seen: u64,
    }
    impl WorkerMeasure for Buggy {
        type Part = ();
        fn response(&mut self, _r: &Live<'_>) {
            self.seen += 1;
            if self.panics && self.seen == 3 {
                panic!("test: a measure bug");
            }
        }
        fn finish(self) {}
    }
    struct OneBuggy;
    impl Measure for OneBuggy {
        type Worker = Buggy;
        fn worker(&self, index: usize) -> Buggy {
            Buggy {
                panics: index == 1,
                seen: 0,
            }
        }
        fn finish(&self, _parts: Vec<()>, _summary: &mut Summary) {}
    }

    let b = mock_with(mock::Config::default()).await;
    let rec = session("s", T, 1, 0, &[(20, 5), (40, 5)]);
    let mut c = config(
        &b.url(),
        Workload::Closed {
            users: 4,
            spawn_rate: None,
        },
        1.0,
    );
    c.workers = 2;
    c.duration = Some(Duration::from_secs(3));
    let s = tokio::task::spawn_blocking(move || {
        replay::run(
            Arc::new(Plan::from_exchanges(rec)),
            &c,
            Arc::new(OneBuggy),
            CancellationToken::new(),
            |_| {},
            Default::default(),
        )
    })
    .await
    .unwrap()
    .unwrap();
    assert!(s.run.aborted, "{:?}", s.run);
    assert_eq!(s.run.workers_lost.len(), 1, "{:?}", s.run.workers_lost);
    assert_eq!(s.run.workers_lost[0].worker, 1);
    assert!(
        s.run.workers_lost[0]
            .reason
            .contains("panicked: test: a measure bug"),
        "{:?}",
        s.run.workers_lost
    );
    assert!(
        s.run.abort_reason.as_deref().unwrap().contains("worker 1"),
        "{:?}",
        s.run.abort_reason
    );
    assert_eq!(
        reprise::report::Outcome::of(&s),
        reprise::report::Outcome::Aborted
    );
    // the series runs to the end of the run, not to the death of the worker
    assert!(s.series.len() >= 3, "series of {} s", s.series.len());
    // worker 0's two users went on: each session is 3 requests 20 ms apart, over 3 s
    let sent = b.counters().requests();
    assert!(sent > 30, "the mock received {sent} requests");
    // the lost worker's figures are missing, worker 0's are all there
    assert!(
        s.totals.requests >= 20 && s.totals.requests < sent,
        "{}",
        s.totals.requests
    );
    let roundtrip: Summary = serde_json::from_value(serde_json::to_value(&s).unwrap()).unwrap();
    assert_eq!(roundtrip.run.workers_lost, s.run.workers_lost);
}
