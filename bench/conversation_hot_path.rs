//! What the conversation measures cost per response, on one core.
//!
//! `cargo run --release --example conversation_hot_path` (`CONV_BENCH=bare` turns the
//! isolation check and the field counts off, to see what they cost).
//!
//! Times, over a bounded number of iterations each: one response through the measure —
//! reading the agent response body's JSON and `Recorder::exchange` (node, transition, turn,
//! divergence against the recorded twin, fields, isolation) — both the way the replay does
//! it (the values at the recorder's pointers picked from the body, `Json::Picked`) and, for
//! comparison, with a full `serde_json::Value` parse of the body (`Json::Doc`); one
//! `Server-Timing` header of three metrics; and the SSE parser on an agent stream fed in
//! 64-byte chunks (MB/s). Giving each session its own `thread_id` (re-serializing 7 bodies
//! per session) is outside the timed part.

use reprise::metrics::conversation::{
    Config, Exchange, IssuedIds, Json, Picked, Recorded, Recorder,
};
use reprise::metrics::sse;
use serde_json::{json, Value};
use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

const NODES: [&str; 7] = ["APK", "CI", "GE", "AR", "TC", "RLC", "complete"];

/// How the live body's JSON is read.
#[derive(Clone, Copy, PartialEq)]
enum Read {
    Pick,
    FullParse,
}

/// Nanoseconds per response over `sessions` sessions of 7 turns; a fresh recorder each run.
fn run(cfg: &Config, read: Read, sessions: usize) -> (f64, Recorder) {
    let mut r = Recorder::new(Arc::new(cfg.clone()), Arc::new(IssuedIds::new()));
    let recorded: Vec<Value> = NODES
        .iter()
        .map(|n| json!({"thread_id": "recorded", "current_node": n, "turn": 1}))
        .collect();
    let mut picked = Picked::default();
    let mut bodies: Vec<Vec<u8>> = vec![Vec::new(); NODES.len()];
    let mut spent = Duration::ZERO;
    let mut n = 0u64;
    for k in 0..sessions {
        // each session its own thread_id, as a live target gives
        let id = format!("3f2c1a9e-8c4b-4f1e-9a53-{k:012}");
        for (b, node) in bodies.iter_mut().zip(NODES) {
            *b = serde_json::to_vec(&json!({"thread_id": id, "agent_response":
                "Good thinking. Plants turn light into chemical energy. What do they need besides light?",
                "current_node": node, "turn": 3, "simulation_triggered": node == "GE",
                "image_url": null, "session_complete": false}))
            .unwrap();
        }
        let t = Instant::now();
        let mut s = r.start_session();
        for (i, body) in bodies.iter().enumerate() {
            let doc;
            let live = match read {
                Read::Pick => {
                    let ok = r.picker().pick_slice(black_box(body), &mut picked);
                    ok.then_some(Json::Picked(&picked))
                }
                Read::FullParse => {
                    doc = serde_json::from_slice::<Value>(black_box(body)).ok();
                    doc.as_ref().map(Json::Doc)
                }
            };
            let x = Exchange {
                endpoint: if i == 0 {
                    "POST /session/start"
                } else {
                    "POST /session/continue"
                },
                status: 200,
                latency: Duration::from_micros(1000 + n % 5000),
                live,
                recorded: Some(Recorded {
                    status: 200,
                    latency: Duration::from_micros(900),
                    json: Some(Json::Doc(&recorded[i])),
                    node: None,
                    id: Some(i),
                }),
            };
            r.exchange(&mut s, black_box(&x));
            n += 1;
        }
        spent += t.elapsed();
    }
    (spent.as_nanos() as f64 / n as f64, r)
}

fn main() {
    let cfg = match std::env::var("CONV_BENCH").as_deref() {
        Ok("bare") => Config {
            session_pointer: String::new(),
            fields: vec![],
            ..Config::default()
        },
        _ => Config::default(),
    };
    let sessions = 20_000usize;
    let n = sessions * NODES.len();
    let (per_full, _) = run(&cfg, Read::FullParse, sessions);
    let (per_pick, mut r) = run(&cfg, Read::Pick, sessions);

    let header = b"llm;dur=812.4, checkpoint_save;dur=14.2, checkpoint_load;dur=6.1";
    let iters = 1_000_000u64;
    let t = Instant::now();
    for _ in 0..iters {
        r.server_timing(black_box(header));
    }
    let per_header = t.elapsed().as_nanos() as f64 / iters as f64;

    let mut stream = Vec::new();
    for i in 0..40 {
        stream.extend_from_slice(format!("data: {{\"token\": \"word{i} \"}}\r\n\r\n").as_bytes());
    }
    stream
        .extend_from_slice(b"event: done\r\ndata: {\"current_node\": \"CI\", \"turn\": 1}\r\n\r\n");
    let rounds = 20_000u64;
    let mut p = sse::Parser::new();
    let mut events = 0u64;
    let t = Instant::now();
    for _ in 0..rounds {
        for chunk in stream.chunks(64) {
            p.feed(black_box(chunk), |_| events += 1);
        }
        p.finish();
    }
    let secs = t.elapsed().as_secs_f64();
    let mb_s = (stream.len() as u64 * rounds) as f64 / secs / 1e6;

    let summary = r.summary();
    assert_eq!(summary.divergence.diverged, 0);
    assert_eq!(summary.isolation.cross_talk, 0);
    println!("conversation hot path ({n} exchanges, {sessions} sessions)");
    println!("  body → exchange, picked  {per_pick:>8.0} ns per response");
    println!("  body → exchange, Value   {per_full:>8.0} ns per response (full parse, before)");
    println!("  Server-Timing (3 metrics) {per_header:>7.0} ns per header");
    println!(
        "  SSE parser (64 B chunks) {mb_s:>8.0} MB/s ({} events)",
        events
    );
}
