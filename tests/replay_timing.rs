//! The timing model end to end: what lag measures, and how a closed user keeps a recorded
//! client whole. Over loopback against the shipped mock; assertions are on what the mock
//! received (arrival times) as well as on the summary.

mod replay_util;

use replay_util::*;
use reprise::mock::{self, Endpoint, LogEntry};
use reprise::replay::{plan::Plan, Timing, Workload};
use serde_json::Value;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;

/// An open `schedule` replay against a target whose `start` is slow: every `continue`
/// needs the thread id of that slow response, so it is sent late — but by the target, not
/// by the generator. Lag stays small, the dependency wait is large, no warning.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_id_producer_is_dependency_wait_not_lag() {
    // every checkpoint (start and continue) holds the one database connection 250 ms
    let m = mock_with(mock::Config::default().db(1, Duration::from_millis(250))).await;
    let threads = [
        "3f2c1a9e-8c4b-4f1e-9a53-2b7d7c1e0f01",
        "3f2c1a9e-8c4b-4f1e-9a53-2b7d7c1e0f02",
    ];
    let mut exchanges = Vec::new();
    for (k, t) in threads.iter().enumerate() {
        // recorded against a fast target: start done in 5 ms, continues 20 ms apart
        exchanges.extend(session(
            &format!("s{k}"),
            t,
            k as u64 * 10,
            k as u64 * 50,
            &[(20, 5), (40, 5), (60, 5)],
        ));
    }
    let plan = Plan::from_exchanges(exchanges);
    let mut c = config(&m.url(), Workload::Open { multiply: 1 }, 1.0);
    c.timing = Timing::Schedule;
    let s = replay_run(plan, c).await;

    assert_eq!(s.totals.failures, 0, "{:?}", s.failures);
    assert_eq!(s.totals.requests, 8);
    assert_eq!(m.counters().requests(), 8, "every request reached the mock");
    // the mock saw each session's continues only after its start had been answered
    let log = m.log().entries();
    let by = by_thread(&log);
    assert_eq!(by.len(), 2);
    for (thread, entries) in &by {
        assert_eq!(entries[0].endpoint, Endpoint::Start, "{thread}");
        let first_continue = since(&entries[0], &entries[1]);
        assert!(
            first_continue >= 200.0,
            "{thread}: the first continue came {first_continue:.1} ms after the start, \
             recorded 20 ms: it must have waited for the slow start's thread id"
        );
    }
    let (lag, wait) = (&s.totals.lag, &s.totals.dependency_wait);
    assert_eq!(wait.count, 8, "every sent request has a wait figure");
    assert!(
        wait.p99_ms >= 150.0,
        "dependency wait p99 {} ms: the continues waited ≥ 200 ms",
        wait.p99_ms
    );
    // generous for a shared 2-core machine; the waits above are ≥ 4× this
    assert!(
        lag.p99_ms < 50.0,
        "lag p99 {} ms counts the target",
        lag.p99_ms
    );
    assert!(
        s.totals.corrected_latency.max_ms >= wait.max_ms,
        "the wait stays in corrected latency"
    );
    let table = reprise::replay::console::table(&s);
    assert!(table.contains("dependency wait"), "{table}");
    assert!(!table.contains("itself was late"), "{table}");
}

/// Two recorded clients: `a` plays sessions a0, a1 (800 ms after a0's last response) and
/// a2 (1,500 ms after a1's); `b` plays b0 and b1 (600 ms after). Each session is a start
/// and a continue 100 ms later, each answered in 5 ms.
fn two_clients() -> (Plan, HashMap<String, Option<f64>>) {
    let sessions: &[(&str, u64, u64, Option<u64>)] = &[
        // (key, conn, start ms, recorded pause before it)
        ("a0", 1, 0, None),
        ("a1", 1, 905, Some(800)),
        ("a2", 1, 2510, Some(1500)),
        ("b0", 2, 50, None),
        ("b1", 2, 755, Some(600)),
    ];
    let mut exchanges = Vec::new();
    let mut pauses = HashMap::new();
    for (i, &(key, conn, start, pause)) in sessions.iter().enumerate() {
        let thread = format!("3f2c1a9e-8c4b-4f1e-9a53-2b7d7c1e0{i:03}");
        let mut s = session(key, &thread, i as u64 * 10, start, &[(100, 5)]);
        for e in &mut s {
            e.conn = conn;
        }
        exchanges.extend(s);
        pauses.insert(key.to_string(), pause.map(|p| p as f64));
    }
    (Plan::from_exchanges(exchanges), pauses)
}

/// Per live connection (one per user), its sessions in arrival order: (recorded key,
/// arrival of its start, arrival of its last request).
fn sessions_by_user(log: &[LogEntry]) -> HashMap<SocketAddr, Vec<(String, LogEntry, LogEntry)>> {
    let mut out: HashMap<SocketAddr, Vec<(String, LogEntry, LogEntry)>> = HashMap::new();
    let threads = by_thread(log);
    let mut all: Vec<_> = threads.values().collect();
    all.sort_by_key(|e| e[0].seq);
    for entries in all {
        let start = &entries[0];
        assert_eq!(start.endpoint, Endpoint::Start);
        let key = serde_json::from_slice::<Value>(&start.body).unwrap()["student_id"]
            .as_str()
            .unwrap()
            .to_string();
        let last = entries.last().unwrap().clone();
        out.entry(start.peer)
            .or_default()
            .push((key, start.clone(), last));
    }
    out
}

/// A closed replay at the recorded number of clients keeps each client whole: the mock
/// receives a session's first request the recorded pause / speed after the previous
/// session's last response — and, with `back_to_back`, at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closed_users_keep_the_recorded_pause_between_sessions() {
    let speed = 2.0;
    let (plan, pauses) = two_clients();
    assert_eq!(plan.clients.len(), 2);
    let users = Workload::Closed {
        users: 2,
        spawn_rate: None,
    };
    let m = mock_with(mock::Config::default()).await;
    let s = replay_run(plan.clone(), config(&m.url(), users, speed)).await;
    assert_eq!(s.totals.failures, 0, "{:?}", s.failures);
    assert_eq!(
        s.sessions.started, 5,
        "the recording once: every session once"
    );
    let by_user = sessions_by_user(&m.log().entries());
    assert_eq!(by_user.len(), 2, "two users, one connection each");
    let mut checked = 0;
    for (peer, list) in &by_user {
        let keys: Vec<&str> = list.iter().map(|(k, _, _)| k.as_str()).collect();
        assert!(
            keys == ["a0", "a1", "a2"] || keys == ["b0", "b1"],
            "{peer}: one user plays one client whole, in order: {keys:?}"
        );
        for pair in list.windows(2) {
            let (prev, next) = (&pair[0], &pair[1]);
            let want = pauses[&next.0].unwrap() / speed;
            let got = since(&prev.2, &next.1);
            // the last response came after the mock saw its request: the gap is at least
            // the pause; generous above for a shared machine
            assert!(
                got >= want - 2.0 && got <= want + 250.0,
                "{}: first request {got:.1} ms after {}'s last, recorded pause / speed {want:.1} ms",
                next.0,
                prev.0
            );
            checked += 1;
        }
    }
    assert_eq!(checked, 3);

    // back to back: the next session starts as soon as the previous one ended
    let m = mock_with(mock::Config::default()).await;
    let mut c = config(&m.url(), users, speed);
    c.back_to_back = true;
    let s = replay_run(plan, c).await;
    assert_eq!(s.totals.failures, 0, "{:?}", s.failures);
    assert_eq!(s.sessions.started, 5);
    assert!(s.run.back_to_back);
    for (peer, list) in sessions_by_user(&m.log().entries()) {
        for pair in list.windows(2) {
            let got = since(&pair[0].2, &pair[1].1);
            // the shortest recorded pause / speed is 300 ms
            assert!(
                got < 150.0,
                "{peer}: {} started {got:.1} ms after {}",
                pair[1].0,
                pair[0].0
            );
        }
    }
}
