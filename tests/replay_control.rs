//! The run-control handle end to end against the shipped mock: users raised and lowered
//! mid-run (at a session boundary or at once), pause/resume, stop — asserted on the mock's
//! own connection and request counts as well as on the summary.

mod replay_util;

use replay_util::*;
use reprise::metrics::Summary;
use reprise::mock;
use reprise::replay::{self, plan::Plan, Change, Config, Control, NoMeasure, Workload};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// `n` recorded sessions of a start and `turns` continues `gap_ms` apart.
fn plan(n: usize, turns: u64, gap_ms: u64) -> Plan {
    let mut ex = Vec::new();
    for s in 0..n {
        let sends: Vec<(u64, u64)> = (1..=turns).map(|k| (k * gap_ms, 5)).collect();
        ex.extend(session(
            &format!("s{s}"),
            &format!("{T}{s}"),
            0,
            (s * 100) as u64,
            &sends,
        ));
    }
    for (i, e) in ex.iter_mut().enumerate() {
        e.id = i as u64;
    }
    Plan::from_exchanges(ex)
}

fn start(plan: Plan, c: Config, control: &Control) -> tokio::task::JoinHandle<Summary> {
    let control = control.clone();
    tokio::task::spawn_blocking(move || {
        replay::run_with(
            Arc::new(plan),
            &c,
            Arc::new(NoMeasure),
            CancellationToken::new(),
            |_| {},
            Default::default(),
            &control,
        )
        .unwrap()
    })
}

/// Waits (up to 20 s) until `f` holds of the mock's counters; panics naming `what`.
async fn until(mock: &mock::Server, what: &str, f: impl Fn(&mock::Counts) -> bool) {
    let t = Instant::now();
    while !f(&mock.counters()) {
        assert!(
            t.elapsed() < Duration::from_secs(20),
            "{what}: mock counters {:?}",
            mock.counters()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn users(users: u64, at_once: bool) -> Change {
    Change::Users {
        users,
        spawn_rate: Some(200.0),
        at_once,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn users_follow_the_target_up_and_down_at_session_boundaries() {
    let mock = mock_with(mock::Config::default()).await;
    let workload = Workload::Closed {
        users: 5,
        spawn_rate: Some(200.0),
    };
    let mut c = config(&mock.url(), workload, 1.0);
    c.duration = Some(Duration::from_secs(40));
    c.workers = 2;
    let control = Control::new(workload);
    let run = start(plan(4, 4, 150), c, &control);
    until(&mock, "5 users connected", |c| c.connections_open == 5).await;
    control.apply(users(12, false)).unwrap();
    until(&mock, "raised to 12", |c| c.connections_open == 12).await;
    let before = mock.counters().start;
    control.apply(users(3, false)).unwrap();
    until(&mock, "lowered to 3", |c| c.connections_open == 3).await;
    // the lowered users finished their sessions: no session was cut short by the lowering
    control.apply(Change::Stop).unwrap();
    let s = tokio::time::timeout(Duration::from_secs(30), run)
        .await
        .expect("stop ends the run")
        .unwrap();
    assert!(!s.run.aborted, "a stop is not an abort");
    let stopped = s
        .sessions
        .aborted_by_reason
        .get("stopped")
        .copied()
        .unwrap_or(0);
    assert!(
        stopped <= 3,
        "only the 3 remaining users were cut by the stop: {stopped}"
    );
    assert!(
        mock.counters().start > before,
        "users kept starting sessions"
    );
    let actions: Vec<_> = s.run.events.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(actions, ["users", "users", "stop"]);
    assert_eq!(s.run.events[0].users, Some(12));
    assert!(s.run.events[0].t_s < s.run.events[1].t_s);
    assert_eq!(mock.counters().connections_open, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn users_lowered_at_once_stop_mid_session() {
    let mock = mock_with(mock::Config::default()).await;
    let workload = Workload::Closed {
        users: 6,
        spawn_rate: None,
    };
    let mut c = config(&mock.url(), workload, 1.0);
    c.duration = Some(Duration::from_secs(40));
    let control = Control::new(workload);
    // sessions of 30 s: a boundary is far away
    let run = start(plan(2, 30, 1000), c, &control);
    until(&mock, "6 users connected", |c| c.connections_open == 6).await;
    let t = Instant::now();
    control.apply(users(2, true)).unwrap();
    until(&mock, "cut to 2", |c| c.connections_open == 2).await;
    assert!(t.elapsed() < Duration::from_secs(10), "{:?}", t.elapsed());
    // raised again: the cut users start again
    control.apply(users(4, false)).unwrap();
    until(&mock, "back to 4", |c| c.connections_open == 4).await;
    control.apply(Change::Stop).unwrap();
    let s = tokio::time::timeout(Duration::from_secs(30), run)
        .await
        .unwrap()
        .unwrap();
    let stopped = s
        .sessions
        .aborted_by_reason
        .get("stopped")
        .copied()
        .unwrap_or(0);
    assert!(stopped >= 4 + 4, "4 cut at once, 4 by the stop: {stopped}");
    assert!(s.run.events[0].at_once);
    assert_eq!(s.sessions.completed, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pause_sends_nothing_and_lag_does_not_count_it() {
    let mock = mock_with(mock::Config::default()).await;
    let workload = Workload::Closed {
        users: 2,
        spawn_rate: None,
    };
    let mut c = config(&mock.url(), workload, 1.0);
    c.duration = Some(Duration::from_secs(40));
    let control = Control::new(workload);
    let run = start(plan(2, 200, 100), c, &control);
    until(&mock, "requests flow", |c| c.continue_ >= 10).await;
    control.apply(Change::Pause).unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await; // in-flight ones land
    let paused = mock.counters().requests();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        mock.counters().requests(),
        paused,
        "nothing sent while paused"
    );
    control.apply(Change::Resume).unwrap();
    until(&mock, "requests flow again", |c| {
        c.requests() >= paused + 10
    })
    .await;
    control.apply(Change::Stop).unwrap();
    let s = tokio::time::timeout(Duration::from_secs(30), run)
        .await
        .unwrap()
        .unwrap();
    let lag_max_ms = s.totals.lag.max_ms;
    assert!(
        lag_max_ms < 1000.0,
        "a 1.8 s pause is not lag: max lag {lag_max_ms} ms"
    );
    let actions: Vec<_> = s.run.events.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(actions, ["pause", "resume", "stop"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_open_run_takes_a_new_multiplier_for_the_arrivals_to_come() {
    let mock = mock_with(mock::Config::default()).await;
    let workload = Workload::Open { multiply: 1 };
    let c = config(&mock.url(), workload, 1.0);
    let control = Control::new(workload);
    // 20 arrivals 100 ms apart, 1 request each: 2 s of recording
    let run = start(plan(20, 0, 100), c, &control);
    until(&mock, "first arrivals", |c| c.start >= 3).await;
    control.apply(Change::Multiply(3)).unwrap();
    let s = tokio::time::timeout(Duration::from_secs(30), run)
        .await
        .unwrap()
        .unwrap();
    let started = mock.counters().start;
    // copy 0's arrivals after the change, and copies 1 and 2 (shifted by a third and two
    // thirds of the 1.9 s span, so wholly after it): 40 more than multiplier 1 gives
    assert!((50..=60).contains(&started), "{started} arrivals");
    assert_eq!(s.sessions.started, started);
    assert_eq!(s.run.events[0].multiply, Some(3));
}
