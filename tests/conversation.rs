//! Conversation-aware measures end to end: sessions recorded from a well-behaved mock are
//! replayed against a mock told to misbehave, and each measure must count exactly what the
//! mock says it injected (its counters) — nothing missed, nothing invented.

use reprise::metrics::summary::Conversation;
use reprise::metrics::Summary;
use reprise::mock::{self, Misbehave, Node, Server, Share};
use reprise::replay::conversation::Conversation as Measure;
use reprise::replay::{self, Plan, Workload};
use reprise::trace::{Body, Exchange, Request, Response};
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

const CONT: &str = "POST /session/continue";
const STREAM: &str = "POST /session/continue/stream";

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

fn mock_server(rt: &tokio::runtime::Runtime, config: mock::Config) -> Server {
    rt.block_on(Server::start("127.0.0.1:0".parse().unwrap(), config))
        .expect("mock starts")
}

/// What each recorded session does after its start.
#[derive(Clone, Copy)]
struct Script {
    sessions: usize,
    /// Turns per session (answers never contain the incorrect marker: the usual path).
    turns: usize,
    /// Turn indexes (1-based) sent to the stream variant.
    stream_from: usize,
    /// Send a status check before this turn (0: never).
    status_before: usize,
}

/// Records `script` against a clean mock, capturing exchanges as the proxy would.
fn record(rt: &tokio::runtime::Runtime, script: Script) -> Vec<Exchange> {
    let clean = mock_server(rt, mock::Config::default());
    let url = clean.url();
    let out = rt.block_on(async move {
        let c = reqwest::Client::new();
        let t0 = Instant::now();
        let mut out = Vec::new();
        let mut next_id = 0u64;
        for s in 0..script.sessions {
            let mut key: Option<String> = None;
            let mut steps: Vec<(&str, String, Value)> =
                vec![("POST", "/session/start".into(), json!({"student_id": format!("s-{s}"), "topic": "photosynthesis"}))];
            for turn in 1..=script.turns {
                if turn == script.status_before {
                    steps.push(("GET", "/session/status/{id}".into(), Value::Null));
                }
                let path = if turn >= script.stream_from { "/session/continue/stream" } else { "/session/continue" };
                steps.push(("POST", path.into(), json!({"thread_id": "{id}", "user_response": format!("my answer number {turn}")})));
            }
            for (method, path, body) in steps {
                let id = key.clone().unwrap_or_default();
                let path = path.replace("{id}", &id);
                let body = if body.is_null() {
                    Vec::new()
                } else {
                    body.to_string().replace("{id}", &id).into_bytes()
                };
                let t_us = t0.elapsed().as_micros() as u64;
                let sent = Instant::now();
                let req = c.request(method.parse().unwrap(), format!("{url}{path}"));
                let req = if body.is_empty() { req } else { req.header("content-type", "application/json").body(body.clone()) };
                let res = req.send().await.expect("clean mock answers");
                let ttfb = sent.elapsed().as_micros() as u64;
                let status = res.status().as_u16();
                let headers: Vec<(String, String)> = res
                    .headers()
                    .iter()
                    .map(|(n, v)| (n.as_str().to_string(), v.to_str().unwrap_or("").to_string()))
                    .collect();
                let bytes = res.bytes().await.expect("body");
                let done = sent.elapsed().as_micros() as u64;
                if key.is_none() {
                    let v: Value = serde_json::from_slice(&bytes).unwrap();
                    key = Some(v["thread_id"].as_str().unwrap().to_string());
                }
                out.push(Exchange {
                    id: next_id,
                    session: key.clone(),
                    conn: s as u64,
                    sent_at: chrono::Utc::now(),
                    t_us,
                    ttfb_us: Some(ttfb),
                    done_us: done,
                    req: Request {
                        method: method.into(),
                        path,
                        query: None,
                        headers: if body.is_empty() { vec![] } else { vec![("content-type".into(), "application/json".into())] },
                        body: Body::from_bytes(&body, body.len() as u64),
                    },
                    res: Some(Response {
                        status,
                        headers,
                        body: Body::from_bytes(&bytes, bytes.len() as u64),
                        chunks: vec![],
                    }),
                    error: None,
                });
                next_id += 1;
            }
        }
        clean.shutdown().await;
        out
    });
    out
}

/// Replays `exchanges` against `target` with `users` closed users (each session once).
fn replay(exchanges: Vec<Exchange>, target: &Server, users: u64) -> Summary {
    let plan = Arc::new(Plan::from_exchanges(exchanges));
    let mut config = replay::Config::new(
        target.url(),
        Workload::Closed {
            users,
            spawn_rate: None,
        },
    );
    config.workers = 2;
    config.timeout = Duration::from_secs(20);
    // no duration: the users replay the recording once between them
    replay::run(
        plan,
        &config,
        Arc::new(Measure::default()),
        CancellationToken::new(),
        |_| {},
        Default::default(),
    )
    .expect("replay runs")
}

fn count(c: &Conversation, key: &str) -> u64 {
    c.nodes.get(key).map_or(0, |h| h.count)
}

#[test]
fn a_faithful_replay_measures_nodes_turns_fields_and_invents_nothing() {
    let rt = runtime();
    let script = Script {
        sessions: 20,
        turns: 6,
        stream_from: usize::MAX,
        status_before: 3,
    };
    let recording = record(&rt, script);
    let target = mock_server(&rt, mock::Config::default());
    let summary = replay(recording, &target, 10);
    let counts = target.counters();
    let c = &summary.conversation;

    assert_eq!(summary.totals.failures, 0);
    assert_eq!(counts.continue_, 120);
    // every session walks APK → CI → GE → AR → TC → RLC → complete
    for key in [
        "START→APK",
        "APK→CI",
        "CI→GE",
        "GE→AR",
        "AR→TC",
        "TC→RLC",
        "RLC→complete",
    ] {
        assert_eq!(count(c, key), 20, "live {key} in {:?}", c.nodes.keys());
        assert_eq!(
            c.recorded_nodes.get(key).map_or(0, |h| h.count),
            20,
            "recorded {key}"
        );
    }
    assert_eq!(
        c.nodes.len(),
        7,
        "status checks make no transition: {:?}",
        c.nodes.keys()
    );
    for turn in 1..=6 {
        assert_eq!(c.turns[&turn.to_string()].count, 20);
        assert_eq!(c.recorded_turns[&turn.to_string()].count, 20);
    }
    assert_eq!(c.turns.len(), 6);
    assert_eq!((c.divergence.compared, c.divergence.diverged), (120, 0));
    assert!(c.divergence.first_turn.is_empty());
    assert_eq!(c.isolation.cross_talk, 0);
    assert_eq!(c.server_timing_malformed, 0);
    assert_eq!(
        c.server_timing["llm"].count, 120,
        "one llm timing per agent turn"
    );
    assert!(c.server_timing["checkpoint_save"].count >= 120);
    // the mock triggers the simulation at GE and shows an image at CI: once per session
    assert_eq!(c.fields["/simulation_triggered"], 20);
    assert_eq!(c.fields["/image_url"], 20);
    assert!(c.streaming.is_empty());

    let table = reprise::report::conversation::render(c);
    assert!(
        table.contains("START→APK") && table.contains("isolation: ✅"),
        "{table}"
    );
    rt.block_on(target.shutdown());
}

#[test]
fn injected_divergence_at_ge_is_counted_exactly() {
    let rt = runtime();
    let script = Script {
        sessions: 200,
        turns: 3,
        stream_from: usize::MAX,
        status_before: 0,
    };
    let recording = record(&rt, script);
    let target = mock_server(
        &rt,
        mock::Config::default().seed(7).misbehave(Misbehave {
            divergence: Share::new(0.10),
            divergence_node: Some(Node::Ge),
            ..Misbehave::default()
        }),
    );
    let summary = replay(recording, &target, 50);
    let injected = target.counters().injected_divergence;
    let d = &summary.conversation.divergence;
    eprintln!("injected {injected}, measured {:?}", d.by_node);

    assert_eq!(summary.totals.failures, 0);
    assert!(injected > 0);
    assert_eq!(d.by_node["GE"].compared, 200);
    assert_eq!(
        d.by_node["GE"].diverged, injected,
        "every injected divergence, no other"
    );
    assert_eq!(d.diverged, injected);
    assert_eq!(d.by_node["CI"].diverged + d.by_node["AR"].diverged, 0);
    // 10 % of 200 turns: ±3σ = ±6.4 %
    let rate = d.by_node["GE"].rate;
    assert!((rate - 0.10).abs() < 0.064, "GE divergence rate {rate}");
    // GE is the second turn (APK → CI, CI → GE)
    assert_eq!(d.first_turn.get("2").copied(), Some(injected));
    assert_eq!(d.first_turn.len(), 1);
    rt.block_on(target.shutdown());
}

#[test]
fn every_injected_cross_talk_is_counted_and_none_invented() {
    let rt = runtime();
    let script = Script {
        sessions: 40,
        turns: 5,
        stream_from: usize::MAX,
        status_before: 2,
    };
    let recording = record(&rt, script);
    let target = mock_server(
        &rt,
        mock::Config::default().seed(3).misbehave(Misbehave {
            cross_talk: Share::new(0.2),
            bad_server_timing: Share::new(0.3),
            ..Misbehave::default()
        }),
    );
    // all sessions at once, so other users' sessions are live when a response lies
    let summary = replay(recording, &target, 40);
    let counts = target.counters();
    let c = &summary.conversation;
    eprintln!(
        "cross-talk injected {} measured {}; bad Server-Timing injected {} measured {}",
        counts.injected_cross_talk,
        c.isolation.cross_talk,
        counts.injected_bad_server_timing,
        c.server_timing_malformed
    );

    assert!(counts.injected_cross_talk > 0);
    assert_eq!(c.isolation.cross_talk, counts.injected_cross_talk);
    assert!(!c.isolation.examples.is_empty());
    for e in &c.isolation.examples {
        assert_ne!(e.expected, e.found);
    }
    // malformed Server-Timing: counted, never fatal
    assert!(counts.injected_bad_server_timing > 0);
    assert_eq!(c.server_timing_malformed, counts.injected_bad_server_timing);
    assert!(c.server_timing["checkpoint_save"].count > 0);
    assert_eq!(summary.totals.failures, 0);
    rt.block_on(target.shutdown());
}

#[test]
fn stream_ttft_and_gaps_follow_the_mock_pacing() {
    let rt = runtime();
    let script = Script {
        sessions: 4,
        turns: 3,
        stream_from: 2,
        status_before: 0,
    };
    let recording = record(&rt, script);
    let target = mock_server(
        &rt,
        mock::Config::default().stream(Duration::from_millis(300), Duration::from_millis(100), 3),
    );
    let summary = replay(recording, &target, 4);
    let c = &summary.conversation;
    let s = &c.streaming[STREAM];
    eprintln!("{}", reprise::report::conversation::render(c));

    assert_eq!(summary.totals.failures, 0);
    assert_eq!(s.responses, 8);
    assert_eq!(s.ttft.count, 8);
    assert!(
        (s.ttft.p50_ms - 300.0).abs() < 60.0,
        "TTFT p50 {} ms",
        s.ttft.p50_ms
    );
    assert!(
        (s.gap.p50_ms - 100.0).abs() < 40.0,
        "gap p50 {} ms",
        s.gap.p50_ms
    );
    // 3 token events and the `done` event
    assert_eq!((s.events.p50_ms * 1000.0).round(), 4.0);
    assert_eq!(s.gap.count, 8 * 3);
    assert!(s.duration.p50_ms >= s.ttft.p50_ms + 250.0);
    assert!(
        !c.streaming.contains_key(CONT),
        "plain JSON responses are not streams"
    );
    // the node of a streamed turn is read from its `done` event, live and recorded
    assert_eq!(count(c, "CI→GE"), 4);
    assert_eq!(c.recorded_nodes["CI→GE"].count, 4);
    assert_eq!((c.divergence.compared, c.divergence.diverged), (12, 0));
    rt.block_on(target.shutdown());
}
