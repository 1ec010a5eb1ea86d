//! Deterministic sample runs for tests, examples and the report's own golden files.
//!
//! [`seeded`] builds the [`Summary`] of a made-up one-minute run against the agent API from
//! a seed: the same seed always gives the same summary, byte for byte. [`seeded_shards`]
//! splits the very same samples across `n` summaries, as `n` processes sharing one load
//! would write them — merging them must give back [`seeded`]'s figures.

use crate::metrics::summary::{
    kind, Conversation, CrossTalkExample, Divergence, EndpointStats, FailureRow, Isolation,
    NodeDivergence, RunInfo, SeriesPoint, Sessions, Streaming, Summary, Totals, Workload, SCHEMA,
    SCHEMA_VERSION,
};
use crate::metrics::Hist;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::collections::BTreeMap;

/// 2026-11-27T10:00:00Z.
const START: i64 = 1_795_773_600;
const SECONDS: i64 = 60;
const ENDPOINTS: [(&str, &str); 4] = [
    ("GET", "/session/status/{thread_id}"),
    ("POST", "/session/continue"),
    ("POST", "/session/continue/stream"),
    ("POST", "/session/start"),
];
const NODES: [&str; 6] = ["APK", "CI", "GE", "AR", "TC", "RLC"];

/// One request of the made-up run.
#[derive(Debug, Clone)]
struct Sample {
    t: i64,
    endpoint: usize,
    latency_us: u64,
    ttfb_us: u64,
    lag_us: u64,
    bytes: u64,
    failure: Option<(&'static str, String)>,
    turn: u32,
    transition: Option<String>,
    recorded_transition: Option<String>,
    server_timing: [(&'static str, u64); 3],
    diverged: bool,
}

fn samples(seed: u64) -> (Vec<Sample>, Vec<u64>) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut out = Vec::new();
    let mut users_at = Vec::new();
    for sec in 0..SECONDS {
        let users = ((sec + 1) * 5).min(50) as u64;
        users_at.push(users);
        // the target saturates in the last quarter: slower, and some failures
        let strain = if sec >= 45 {
            1.0 + (sec - 45) as f64 / 6.0
        } else {
            1.0
        };
        let n = users / 2 + rng.gen_range(0..3);
        for _ in 0..n {
            let endpoint = match rng.gen_range(0..100) {
                0..=9 => 0,
                10..=64 => 1,
                65..=84 => 2,
                _ => 3,
            };
            let base_ms = [18.0, 1150.0, 1900.0, 320.0][endpoint];
            // a long right tail: base × (0.6 .. 1.4) × occasional 2–4× spike
            let spike = if rng.gen_bool(0.04) {
                rng.gen_range(2.0..4.0)
            } else {
                1.0
            };
            let ms = base_ms * rng.gen_range(0.6..1.4) * spike * strain;
            let latency_us = (ms * 1000.0) as u64;
            let ttfb_us = if endpoint == 2 {
                latency_us / 6
            } else {
                latency_us * 9 / 10
            };
            let failure = if sec >= 45 && rng.gen_bool(0.06) {
                Some(if rng.gen_bool(0.7) {
                    (kind::STATUS, "503".to_string())
                } else {
                    (kind::TIMEOUT, "no response within 60s".to_string())
                })
            } else if endpoint == 0 && rng.gen_bool(0.02) {
                Some((kind::STATUS, "404".to_string()))
            } else {
                None
            };
            let turn = if endpoint == 1 || endpoint == 2 {
                rng.gen_range(1..=8)
            } else {
                0
            };
            let node = |i: u32| NODES[(i as usize).min(NODES.len() - 1)];
            let transition = (turn > 0).then(|| {
                let from = (turn - 1) * 5 / 8;
                let to = if rng.gen_bool(0.8) { from + 1 } else { from };
                format!("{}→{}", node(from), node(to))
            });
            let diverged = turn > 0 && rng.gen_bool(0.12);
            let recorded_transition = transition.clone();
            let llm = if endpoint == 1 || endpoint == 2 {
                latency_us * 8 / 10
            } else {
                0
            };
            out.push(Sample {
                t: START + sec,
                endpoint,
                latency_us,
                ttfb_us,
                lag_us: rng.gen_range(80..900) + if rng.gen_bool(0.01) { 4_000 } else { 0 },
                bytes: [180, 420, 2600, 310][endpoint] + rng.gen_range(0..60),
                failure,
                turn,
                transition,
                recorded_transition,
                server_timing: [
                    ("checkpoint_load", rng.gen_range(3_000..9_000)),
                    (
                        "checkpoint_save",
                        (rng.gen_range(8_000..30_000) as f64 * strain) as u64,
                    ),
                    ("llm", llm),
                ],
                diverged,
            });
        }
    }
    (out, users_at)
}

/// The summary of a made-up one-minute, 50-user run; the same seed gives the same summary.
pub fn seeded(seed: u64) -> Summary {
    let (samples, users) = samples(seed);
    build("fixture", &samples, &users, 50, seed, None)
}

/// The same samples as [`seeded`], dealt round-robin to `n` summaries (`shard i/n`, i from 0
/// as `--shard` counts).
pub fn seeded_shards(seed: u64, n: usize) -> Vec<Summary> {
    let (samples, users) = samples(seed);
    (0..n)
        .map(|i| {
            let part: Vec<Sample> = samples.iter().skip(i).step_by(n).cloned().collect();
            let share: Vec<u64> = users
                .iter()
                .map(|u| u / n as u64 + u64::from((*u % n as u64) > i as u64))
                .collect();
            build(
                &format!("fixture-{}-of-{n}", i + 1),
                &part,
                &share,
                // a shard's summary describes the whole test's workload, as replay writes it
                50,
                seed,
                Some(format!("{i}/{n}")),
            )
        })
        .collect()
}

fn build(
    name: &str,
    samples: &[Sample],
    users: &[u64],
    total_users: u64,
    seed: u64,
    shard: Option<String>,
) -> Summary {
    let mut latency = Hist::new();
    let mut ttfb = Hist::new();
    let mut corrected = Hist::new();
    let mut lag = Hist::new();
    let mut ep: Vec<(u64, u64, u64, Hist, Hist)> = (0..ENDPOINTS.len())
        .map(|_| (0, 0, 0, Hist::new(), Hist::new()))
        .collect();
    let mut failures: BTreeMap<(usize, &str, String), (u64, i64, i64)> = BTreeMap::new();
    let mut series: Vec<(u64, u64, u64, Hist, Hist)> = (0..SECONDS)
        .map(|_| (0, 0, 0, Hist::new(), Hist::new()))
        .collect();
    let mut nodes: BTreeMap<String, Hist> = BTreeMap::new();
    let mut recorded_nodes: BTreeMap<String, Hist> = BTreeMap::new();
    let mut turns: BTreeMap<String, Hist> = BTreeMap::new();
    let mut server_timing: BTreeMap<String, Hist> = BTreeMap::new();
    let mut stream = (0u64, Hist::new(), Hist::new(), Hist::new(), Hist::new());
    let mut divergence = Divergence::default();
    let mut first_turn: BTreeMap<String, u64> = BTreeMap::new();
    let (mut requests, mut failed, mut bytes) = (0u64, 0u64, 0u64);

    for s in samples {
        requests += 1;
        bytes += s.bytes;
        latency.record_us(s.latency_us);
        ttfb.record_us(s.ttfb_us);
        corrected.record_us(s.latency_us + s.lag_us);
        lag.record_us(s.lag_us);
        let e = &mut ep[s.endpoint];
        e.0 += 1;
        e.2 += s.bytes;
        e.3.record_us(s.latency_us);
        e.4.record_us(s.ttfb_us);
        let p = &mut series[(s.t - START) as usize];
        p.0 += 1;
        p.2 += s.bytes;
        p.3.record_us(s.latency_us);
        p.4.record_us(s.lag_us);
        if let Some((k, detail)) = &s.failure {
            failed += 1;
            e.1 += 1;
            p.1 += 1;
            let f = failures
                .entry((s.endpoint, k, detail.clone()))
                .or_insert((0, s.t, s.t));
            f.0 += 1;
            f.2 = s.t;
            continue;
        }
        if let Some(tr) = &s.transition {
            nodes.entry(tr.clone()).or_default().record_us(s.latency_us);
            turns
                .entry(s.turn.to_string())
                .or_default()
                .record_us(s.latency_us);
        }
        if let Some(tr) = &s.recorded_transition {
            recorded_nodes
                .entry(tr.clone())
                .or_default()
                .record_us(s.latency_us * 9 / 10);
        }
        for (name, us) in s.server_timing {
            if us > 0 {
                server_timing
                    .entry(name.to_string())
                    .or_default()
                    .record_us(us);
            }
        }
        if s.endpoint == 2 {
            stream.0 += 1;
            stream.1.record_us(s.ttfb_us + 40_000);
            stream.2.record_us(35_000 + s.bytes * 10);
            stream.3.record_us(s.bytes / 100);
            stream.4.record_us(s.latency_us);
        }
        if s.turn > 0 {
            divergence.compared += 1;
            let node = s
                .transition
                .as_deref()
                .and_then(|t| t.split('→').nth(1))
                .unwrap_or("?")
                .to_string();
            let by = divergence
                .by_node
                .entry(node)
                .or_insert(NodeDivergence::default());
            by.compared += 1;
            if s.diverged {
                divergence.diverged += 1;
                by.diverged += 1;
                *first_turn.entry(s.turn.to_string()).or_insert(0) += 1;
            }
        }
    }
    for d in divergence.by_node.values_mut() {
        d.rate = d.diverged as f64 / d.compared as f64;
    }
    divergence.first_turn = first_turn;
    let duration_s = SECONDS as f64;
    let rfc = |t: i64| {
        chrono::DateTime::from_timestamp(t, 0)
            .unwrap_or_default()
            .to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
    };
    let error_rate = if requests == 0 {
        0.0
    } else {
        failed as f64 / requests as f64
    };
    let started = samples.iter().filter(|s| s.endpoint == 3).count() as u64;
    let aborted = samples
        .iter()
        .filter(|s| s.endpoint == 3 && s.failure.is_some())
        .count() as u64;
    let completed = started.saturating_sub(aborted) * 3 / 4;
    let mut duration = Hist::new();
    for s in samples.iter().filter(|s| s.endpoint == 3) {
        duration.record_us(s.latency_us * 40 + 20_000_000);
    }
    let mut fail_rows: Vec<FailureRow> = failures
        .into_iter()
        .map(|((e, k, detail), (count, first, last))| FailureRow {
            endpoint: format!("{} {}", ENDPOINTS[e].0, ENDPOINTS[e].1),
            kind: k.to_string(),
            detail,
            count,
            first_seen: Some(rfc(first)),
            last_seen: Some(rfc(last)),
        })
        .collect();
    fail_rows.sort_by(|a, b| {
        b.count
            .cmp(&a.count)
            .then_with(|| a.endpoint.cmp(&b.endpoint))
    });

    Summary {
        schema: SCHEMA.to_string(),
        version: SCHEMA_VERSION,
        run: RunInfo {
            name: name.to_string(),
            tool: "reprise 0.1.0".to_string(),
            recordings: vec!["recordings/students-2026-11-26.trace.zst".to_string()],
            target: "http://127.0.0.1:8000".to_string(),
            profile: Some("profiles/smoke.toml".to_string()),
            started_at: rfc(START),
            ended_at: rfc(START + SECONDS),
            duration_s,
            aborted: false,
            abort_reason: None,
            workload: Workload::Closed {
                users: total_users,
                spawn_rate: 5.0 * total_users as f64 / 50.0,
            },
            speed: 10.0,
            timing: "think".to_string(),
            timeout_s: 60.0,
            seed,
            shard,
            merged_from: Vec::new(),
            ..Default::default()
        },
        totals: Totals {
            requests,
            failures: failed,
            error_rate,
            success_rate: if requests == 0 { 0.0 } else { 1.0 - error_rate },
            rps: requests as f64 / duration_s,
            bytes_received: bytes,
            bytes_sent: requests * 120,
            latency: latency.summary(),
            ttfb: ttfb.summary(),
            corrected_latency: corrected.summary(),
            lag: lag.summary(),
            dependency_wait: Default::default(),
            peak_users: total_users,
        },
        endpoints: ep
            .into_iter()
            .enumerate()
            .filter(|(_, e)| e.0 > 0)
            .map(|(i, e)| EndpointStats {
                name: format!("{} {}", ENDPOINTS[i].0, ENDPOINTS[i].1),
                method: ENDPOINTS[i].0.to_string(),
                path: ENDPOINTS[i].1.to_string(),
                requests: e.0,
                failures: e.1,
                bytes_received: e.2,
                latency: e.3.summary(),
                ttfb: e.4.summary(),
            })
            .collect(),
        failures: fail_rows,
        sessions: Sessions {
            started,
            completed,
            aborted,
            aborted_by_reason: if aborted > 0 {
                BTreeMap::from([("status".to_string(), aborted)])
            } else {
                BTreeMap::new()
            },
            duration: duration.summary(),
        },
        series: series
            .into_iter()
            .enumerate()
            .map(|(i, p)| SeriesPoint {
                t: START + i as i64,
                requests: p.0,
                failures: p.1,
                users: users[i],
                latency: p.3.summary(),
                lag_p99_ms: p.4.quantile_us(0.99) as f64 / 1000.0,
                bytes_received: p.2,
            })
            .collect(),
        conversation: Conversation {
            nodes: nodes.into_iter().map(|(k, h)| (k, h.summary())).collect(),
            recorded_nodes: recorded_nodes
                .into_iter()
                .map(|(k, h)| (k, h.summary()))
                .collect(),
            turns: turns.into_iter().map(|(k, h)| (k, h.summary())).collect(),
            recorded_turns: BTreeMap::new(),
            streaming: if stream.0 > 0 {
                BTreeMap::from([(
                    "POST /session/continue/stream".to_string(),
                    Streaming {
                        responses: stream.0,
                        ttft: stream.1.summary(),
                        gap: stream.2.summary(),
                        events: stream.3.summary(),
                        duration: stream.4.summary(),
                    },
                )])
            } else {
                BTreeMap::new()
            },
            server_timing: server_timing
                .into_iter()
                .map(|(k, h)| (k, h.summary()))
                .collect(),
            server_timing_malformed: 0,
            fields: BTreeMap::from([
                ("/image_url".to_string(), requests / 40),
                ("/simulation_triggered".to_string(), requests / 25),
            ]),
            divergence,
            isolation: Isolation {
                cross_talk: 0,
                examples: Vec::<CrossTalkExample>::new(),
            },
            paths: Default::default(),
            follow: Default::default(),
        },
        thresholds: Vec::new(),
        scrape: None,
        stages: Vec::new(),
    }
}
