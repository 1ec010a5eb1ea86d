//! The mock's misbehaviour knobs: each injects at its configured rate (at a fixed seed,
//! within sampling error) and every injection is counted — none invented, none missed.

use reprise::mock::{self, Config, Misbehave, Node, Server, Share};
use serde_json::{json, Value};
use std::time::Duration;

async fn mock(config: Config) -> Server {
    Server::start("127.0.0.1:0".parse().unwrap(), config)
        .await
        .expect("mock starts")
}

async fn post(c: &reqwest::Client, url: String, body: Value) -> (u16, Value, Option<String>) {
    let r = c.post(url).json(&body).send().await.expect("request");
    let code = r.status().as_u16();
    let timing = r
        .headers()
        .get("server-timing")
        .map(|v| v.to_str().unwrap().to_owned());
    (code, r.json::<Value>().await.expect("json body"), timing)
}

async fn start(c: &reqwest::Client, m: &Server) -> String {
    let (code, v, _) = post(c, format!("{}/session/start", m.url()), json!({})).await;
    assert_eq!(code, 200, "{v}");
    v["thread_id"].as_str().unwrap().to_owned()
}

async fn answer(
    c: &reqwest::Client,
    m: &Server,
    id: &str,
    text: &str,
) -> (u16, Value, Option<String>) {
    post(
        c,
        format!("{}/session/continue", m.url()),
        json!({"thread_id": id, "user_response": text}),
    )
    .await
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap()
}

// ---------------------------------------------------------------- misbehaviour knobs

/// Runs `sessions` sessions of `turns` correct answers each, sequentially; returns every
/// continue response (code, body, server-timing) with the thread id it was sent for.
async fn run_plain(
    m: &Server,
    sessions: usize,
    turns: usize,
) -> Vec<(String, u16, Value, Option<String>)> {
    let mut out = Vec::new();
    let mut clients = Vec::new();
    for _ in 0..sessions {
        // One client (connection pool) per session, so sessions come from distinct connections.
        let c = reqwest::Client::builder()
            .pool_max_idle_per_host(1)
            .build()
            .unwrap();
        let id = start(&c, m).await;
        for _ in 0..turns {
            let (code, v, t) = answer(&c, m, &id, "a good answer").await;
            out.push((id.clone(), code, v, t));
        }
        clients.push(c);
    }
    out
}

fn within(count: u64, of: u64, share: f64) -> bool {
    let expect = of as f64 * share;
    let sd = (of as f64 * share * (1.0 - share)).sqrt();
    (count as f64 - expect).abs() <= 4.0 * sd + 1.0
}

#[tokio::test]
async fn divergence_at_ge_is_injected_at_the_rate_and_counted() {
    let misbehave = Misbehave {
        divergence: Share::new(0.25),
        divergence_node: Some(Node::Ge),
        ..Misbehave::default()
    };
    let m = mock(Config::default().seed(7).misbehave(misbehave)).await;
    let got = run_plain(&m, 200, 3).await;
    // Turn 2 of every session is the GE turn; the others must stay on the usual path.
    let mut diverged = 0;
    for (i, (_, code, v, _)) in got.iter().enumerate() {
        assert_eq!(*code, 200);
        let usual = ["CI", "GE", "AR"][i % 3];
        if v["current_node"] != usual {
            assert_eq!(usual, "GE", "only GE turns diverge");
            assert_eq!(v["current_node"], "AR");
            diverged += 1;
        }
    }
    let n = m.counters();
    assert_eq!(n.injected_divergence, diverged);
    assert!(within(diverged, 200, 0.25), "{diverged} of 200");
}

#[tokio::test]
async fn cross_talk_names_another_live_session_and_is_counted() {
    let misbehave = Misbehave {
        cross_talk: Share::new(0.2),
        ..Misbehave::default()
    };
    let m = mock(Config::default().seed(3).misbehave(misbehave)).await;
    let got = run_plain(&m, 60, 5).await;
    let ids: std::collections::HashSet<&str> = got.iter().map(|g| g.0.as_str()).collect();
    let mut foreign = 0;
    for (own, code, v, _) in &got {
        assert_eq!(*code, 200);
        let named = v["thread_id"].as_str().unwrap();
        if named != own {
            assert!(ids.contains(named), "names a session the mock issued");
            foreign += 1;
        }
    }
    let n = m.counters();
    assert_eq!(n.injected_cross_talk, foreign);
    // The first session has no other session to leak: a handful fewer than 20 %.
    assert!(within(foreign, 300, 0.2) && foreign > 0, "{foreign} of 300");
}

#[tokio::test]
async fn malformed_server_timing_and_errors_are_injected_at_the_rate_and_counted() {
    let misbehave = Misbehave {
        bad_server_timing: Share::new(0.1),
        error_rate: Share::new(0.1),
        ..Misbehave::default()
    };
    let m = mock(Config::default().seed(11).misbehave(misbehave)).await;
    let c = client();
    let mut sent = 0u64;
    let (mut bad, mut errors) = (0u64, 0u64);
    for _ in 0..100 {
        sent += 1;
        let (code, v, t) = post(&c, format!("{}/session/start", m.url()), json!({})).await;
        if code == 500 {
            errors += 1;
            continue;
        }
        bad += u64::from(t.as_deref() == Some(mock::MALFORMED_SERVER_TIMING));
        let id = v["thread_id"].as_str().unwrap().to_owned();
        let mut advanced = 0;
        for turn in 0..4 {
            sent += 1;
            let (code, v, t) = answer(&c, &m, &id, "fine").await;
            match code {
                500 => {
                    errors += 1;
                    assert_eq!(v, json!({"detail": "Internal Server Error"}));
                }
                200 => {
                    advanced += 1;
                    bad += u64::from(t.as_deref() == Some(mock::MALFORMED_SERVER_TIMING));
                }
                other => panic!("unexpected {other} at turn {turn}"),
            }
        }
        // An injected error changes no state: the session advanced only on the 200s.
        assert_eq!(m.session(&id).unwrap().turn, advanced);
    }
    let n = m.counters();
    assert_eq!(n.injected_errors, errors);
    assert_eq!(n.status_5xx, errors);
    assert_eq!(n.injected_bad_server_timing, bad);
    assert!(within(errors, sent, 0.1), "{errors} errors of {sent}");
    assert!(
        within(bad, sent - errors, 0.1),
        "{bad} bad of {}",
        sent - errors
    );
}

#[tokio::test]
async fn injections_repeat_exactly_for_a_seed_and_change_with_it() {
    let misbehave = Misbehave {
        divergence: Share::new(0.2),
        bad_server_timing: Share::new(0.2),
        ..Misbehave::default()
    };
    let shape = |got: Vec<(String, u16, Value, Option<String>)>| -> Vec<(Value, bool)> {
        got.into_iter()
            .map(|(_, _, v, t)| {
                let bad = t.as_deref() == Some(mock::MALFORMED_SERVER_TIMING);
                (v["current_node"].clone(), bad)
            })
            .collect()
    };
    let mut runs = Vec::new();
    for seed in [5, 5, 6] {
        let m = mock(Config::default().seed(seed).misbehave(misbehave)).await;
        runs.push(shape(run_plain(&m, 30, 4).await));
    }
    assert_eq!(runs[0], runs[1]);
    assert_ne!(runs[0], runs[2]);
    assert!(runs[0].iter().any(|(_, bad)| *bad));
}
