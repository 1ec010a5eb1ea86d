//! Trace writer, reader and `inspect` throughput on agent-API-like exchanges.
//!
//! `cargo run --release --example trace_throughput [EXCHANGES]` (see `bench/trace.sh`).
//! Writes EXCHANGES exchanges (default 200,000) of ~1 KiB of JSON each into a temporary
//! file, reads them back, inspects the file, and prints rates and sizes; then writes the
//! first HAR_EXCHANGES of them (default 20,000) as a trace, as a HAR (`export-har`'s
//! document, indented as it writes it, and compact) and as gzip of each, and prints the
//! sizes side by side with the targets: the trace at most 10 % of the HAR, and smaller
//! than the HAR gzip.

use chrono::Utc;
use reprise::inspect;
use reprise::trace::{Body, Exchange, Footer, Header, Reader, Request, Response, Writer};
use serde_json::json;
use std::io::Write;
use std::time::Instant;

fn exchange(id: u64) -> Exchange {
    let session = format!("{:08x}-8c4b-4f1e-9a53-2b7d7c1e0f44", id / 8);
    let req = json!({"thread_id": session, "user_response": format!("I think plants make food from light, answer {id}")});
    let node = ["APK", "CI", "GE", "AR", "TC", "RLC"][(id % 6) as usize];
    let res = json!({
        "thread_id": session,
        "agent_response": "Good thinking! Photosynthesis turns light energy into chemical energy stored in glucose. What do you think the plant needs besides light?",
        "current_node": node,
        "turn": id % 8, "simulation_triggered": false, "image_url": null, "session_complete": false
    });
    let req = serde_json::to_vec(&req).unwrap();
    let res = serde_json::to_vec(&res).unwrap();
    let headers = vec![
        ("content-type".to_string(), "application/json".to_string()),
        ("authorization".to_string(), "[redacted]".to_string()),
        ("user-agent".to_string(), "python-requests/2.31".to_string()),
    ];
    Exchange {
        id,
        session: Some(session),
        conn: id % 64,
        sent_at: Utc::now(),
        t_us: id * 10_000,
        ttfb_us: Some(800_000 + id % 1000),
        done_us: 812_000 + id % 7000,
        req: Request {
            method: "POST".into(),
            path: "/session/continue".into(),
            query: None,
            headers: headers.clone(),
            body: Body::from_bytes(&req, req.len() as u64),
        },
        res: Some(Response {
            status: 200,
            headers: [
                headers,
                vec![(
                    "server-timing".into(),
                    "llm;dur=812.4, checkpoint_save;dur=14.2".into(),
                )],
            ]
            .concat(),
            body: Body::from_bytes(&res, res.len() as u64),
            chunks: vec![],
        }),
        error: None,
    }
}

fn main() {
    let n: u64 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(200_000);
    let har_n: u64 = std::env::var("HAR_EXCHANGES")
        .ok()
        .and_then(|a| a.parse().ok())
        .unwrap_or(20_000);
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join("bench.trace.zst");
    let xs: Vec<Exchange> = (0..n).map(exchange).collect();

    let t = Instant::now();
    let stats = write(&path, &xs);
    let write = t.elapsed();
    drop(xs);

    let t = Instant::now();
    let mut r = Reader::open(&path).unwrap();
    let mut read_n = 0u64;
    for x in r.by_ref() {
        x.unwrap();
        read_n += 1;
    }
    let read = t.elapsed();
    assert_eq!(read_n, n);

    let t = Instant::now();
    let report = inspect::inspect(&path, &inspect::Config::default()).unwrap();
    let insp = t.elapsed();
    assert_eq!(report.exchanges, n);

    let mb = |b: u64| b as f64 / 1e6;
    println!("exchanges      {n}");
    println!(
        "file           {:.1} MB ({:.1} MB raw JSON Lines, ratio {:.1}x, {} frames, {:.0} B/exchange)",
        mb(stats.file_bytes),
        mb(stats.raw_bytes),
        stats.compression_ratio(),
        stats.frames,
        stats.file_bytes as f64 / n as f64
    );
    for (what, d) in [("write", write), ("read", read), ("inspect", insp)] {
        println!(
            "{what:<14} {:>9.0} exchanges/s  {:>7.1} MB/s raw  ({:.2} s)",
            n as f64 / d.as_secs_f64(),
            mb(stats.raw_bytes) / d.as_secs_f64(),
            d.as_secs_f64()
        );
    }
    har_sizes(har_n.min(n), dir.path());
}

/// Writes `xs` as a trace at `path` (8 exchanges a session, as `exchange` makes them).
fn write(path: &std::path::Path, xs: &[Exchange]) -> reprise::trace::WriterStats {
    let mut w = Writer::create(path, &Header::new(Default::default())).unwrap();
    for x in xs {
        w.append(x).unwrap();
    }
    let n = xs.len() as u64;
    w.finish(&Footer {
        exchanges: n,
        sessions: n / 8,
        dropped: 0,
    })
    .unwrap()
}

/// The same exchanges as `.trace.zst`, HAR and HAR gzip: synthetic ones, then every
/// exchange of each recording made by `reprise record` (`HAR_TRACE`, comma-separated,
/// default `recordings/sample.trace.zst`: the mock's synthetic students through the proxy).
/// Traces are compared as the writer leaves them: compacted at the finish.
fn har_sizes(n: u64, dir: &std::path::Path) {
    let xs: Vec<Exchange> = (0..n).map(exchange).collect();
    let path = dir.join("har_compare.trace.zst");
    let trace = write(&path, &xs).file_bytes;
    compare(&format!("same {n} synthetic exchanges as:"), xs, trace);

    // Comma-separated; bench/trace.sh adds one it records fresh with `reprise record`.
    let recorded =
        std::env::var("HAR_TRACE").unwrap_or_else(|_| "recordings/sample.trace.zst".into());
    for recorded in recorded.split(',').filter(|p| !p.is_empty()) {
        let Ok(meta) = std::fs::metadata(recorded) else {
            println!("(no recorded trace at {recorded}: set HAR_TRACE)");
            continue;
        };
        let xs: Vec<Exchange> = Reader::open(std::path::Path::new(recorded))
            .unwrap()
            .map(|x| x.unwrap())
            .collect();
        let label = format!("the {} exchanges recorded in {recorded} as:", xs.len());
        compare(&label, xs, meta.len());
    }
}

fn compare(label: &str, mut xs: Vec<Exchange>, trace: u64) {
    let doc = reprise::har::export::document(&mut xs, "http://127.0.0.1:8000", "bench");
    let pretty = serde_json::to_vec_pretty(&doc).unwrap();
    let compact = serde_json::to_vec(&doc).unwrap();
    let gzip = |b: &[u8]| {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(b).unwrap();
        e.finish().unwrap().len() as u64
    };
    let (pretty_gz, compact_gz) = (gzip(&pretty), gzip(&compact));
    let mb = |b: u64| b as f64 / 1e6;
    let pct = |b: u64| 100.0 * trace as f64 / b as f64;
    println!("{label}");
    println!("  .trace.zst          {:>8.3} MB", mb(trace));
    for (what, bytes) in [
        ("HAR (indented)", pretty.len() as u64),
        ("HAR (compact)", compact.len() as u64),
    ] {
        let verdict = if pct(bytes) <= 10.0 { "met" } else { "MISSED" };
        println!(
            "  {what:<19} {:>8.3} MB   trace is {:>5.1} % of it (target <= 10 %: {verdict})",
            mb(bytes),
            pct(bytes)
        );
    }
    for (what, bytes) in [
        ("HAR gzip (indented)", pretty_gz),
        ("HAR gzip (compact)", compact_gz),
    ] {
        let verdict = if trace < bytes { "met" } else { "MISSED" };
        println!(
            "  {what:<19} {:>8.3} MB   trace is {:>5.1} % of it (target < 100 %: {verdict})",
            mb(bytes),
            pct(bytes)
        );
    }
}
