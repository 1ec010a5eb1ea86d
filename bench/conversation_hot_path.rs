//! What the conversation measures cost per response, on one core.
//!
//! `cargo run --release --example conversation_hot_path` (`CONV_BENCH=bare` turns the
//! isolation check and the field counts off, to see what they cost).
//!
//! Times, over a bounded number of iterations each: one `Recorder::exchange` (node,
//! transition, turn, divergence against the recorded twin, fields, isolation) on a parsed
//! agent response; one `Server-Timing` header of three metrics; and the SSE parser on an
//! agent stream fed in 64-byte chunks (MB/s). JSON parsing of the body is the replay's cost
//! and is not included; giving each session its own `thread_id` (7 small allocations per
//! session) is.

use reprise::metrics::conversation::{Config, Exchange, IssuedIds, Recorded, Recorder};
use reprise::metrics::sse;
use serde_json::json;
use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

const NODES: [&str; 7] = ["APK", "CI", "GE", "AR", "TC", "RLC", "complete"];

fn main() {
    let cfg = match std::env::var("CONV_BENCH").as_deref() {
        Ok("bare") => Config {
            session_pointer: String::new(),
            fields: vec![],
            ..Config::default()
        },
        _ => Config::default(),
    };
    let mut r = Recorder::new(Arc::new(cfg), Arc::new(IssuedIds::new()));
    let sessions = 20_000usize;
    let mut bodies: Vec<_> = NODES
        .iter()
        .map(|n| {
            json!({"thread_id": "3f2c1a9e-8c4b-4f1e-9a53-2b7d7c1e0f44", "agent_response": "…",
                   "current_node": n, "turn": 1, "simulation_triggered": *n == "GE",
                   "image_url": null, "session_complete": false})
        })
        .collect();
    let t = Instant::now();
    let mut n = 0u64;
    for k in 0..sessions {
        // each session its own thread_id (7 small allocations, counted in the figure)
        let id = format!("3f2c1a9e-8c4b-4f1e-9a53-{k:012}");
        for b in &mut bodies {
            b["thread_id"] = serde_json::Value::String(id.clone());
        }
        let mut s = r.start_session();
        for (i, body) in bodies.iter().enumerate() {
            let x = Exchange {
                endpoint: if i == 0 {
                    "POST /session/start"
                } else {
                    "POST /session/continue"
                },
                status: 200,
                latency: Duration::from_micros(1000 + n % 5000),
                live: Some(body),
                recorded: Some(Recorded {
                    status: 200,
                    latency: Duration::from_micros(900),
                    json: Some(body),
                }),
            };
            r.exchange(&mut s, black_box(&x));
            n += 1;
        }
    }
    let per_exchange = t.elapsed().as_nanos() as f64 / n as f64;

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
    println!("  Recorder::exchange       {per_exchange:>8.0} ns per response");
    println!("  Server-Timing (3 metrics) {per_header:>7.0} ns per header");
    println!(
        "  SSE parser (64 B chunks) {mb_s:>8.0} MB/s ({} events)",
        events
    );
}
