//! Constant-rate HTTP/1.1 load generator for `bench/proxy.sh` (wrk2-style).
//!
//! Sends `--rate` requests per second for `--duration` over `--connections` keep-alive
//! connections. Request *i* is due at `start + i / rate` (absolute schedule, no drift) on
//! connection `i % connections`; its latency is measured from its actual send to the last
//! byte of the response, and its lateness (send − due) separately, so the generator's own
//! delay is visible and not mistaken for the target's. Prints one JSON object.
//!
//! Usage: loadgen URL [--rate 1000] [--duration 10s] [--connections 20] [--warmup 2s]
//!        [--method POST] [--body JSON]

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1;
use hyper_util::rt::TokioIo;
use std::time::Duration;
use tokio::time::Instant;

struct Args {
    url: http::Uri,
    rate: f64,
    duration: Duration,
    warmup: Duration,
    connections: usize,
    method: http::Method,
    body: Bytes,
}

fn parse() -> Result<Args, String> {
    let mut it = std::env::args().skip(1);
    let mut args = Args {
        url: "http://127.0.0.1:8000/health".parse().unwrap(),
        rate: 1000.0,
        duration: Duration::from_secs(10),
        warmup: Duration::from_secs(2),
        connections: 20,
        method: http::Method::GET,
        body: Bytes::new(),
    };
    let secs = |v: String| -> Result<Duration, String> {
        let t = v.trim_end_matches('s');
        t.parse::<f64>()
            .map(Duration::from_secs_f64)
            .map_err(|_| format!("bad duration {v}"))
    };
    while let Some(a) = it.next() {
        let mut val = || it.next().ok_or(format!("{a} needs a value"));
        match a.as_str() {
            "--rate" => args.rate = val()?.parse().map_err(|_| "bad --rate")?,
            "--duration" => args.duration = secs(val()?)?,
            "--warmup" => args.warmup = secs(val()?)?,
            "--connections" => {
                args.connections = val()?.parse().map_err(|_| "bad --connections")?
            }
            "--method" => args.method = val()?.parse().map_err(|_| "bad --method")?,
            "--body" => args.body = Bytes::from(val()?),
            url => args.url = url.parse().map_err(|e| format!("bad URL {url}: {e}"))?,
        }
    }
    Ok(args)
}

#[derive(Default)]
struct Tally {
    latency: Option<hdrhistogram::Histogram<u64>>,
    lateness: Option<hdrhistogram::Histogram<u64>>,
    ok: u64,
    errors: u64,
}

async fn connection(
    args: std::sync::Arc<Args>,
    index: usize,
    start: Instant,
    measure_from: Instant,
    total: u64,
) -> Result<Tally, String> {
    let authority = args.url.authority().ok_or("URL without host")?.clone();
    let stream = tokio::net::TcpStream::connect(authority.as_str())
        .await
        .map_err(|e| format!("connect {authority}: {e}"))?;
    stream.set_nodelay(true).map_err(|e| e.to_string())?;
    let (mut send, conn) = http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| e.to_string())?;
    tokio::spawn(conn);
    let hist = || hdrhistogram::Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).unwrap();
    let mut tally = Tally {
        latency: Some(hist()),
        lateness: Some(hist()),
        ..Tally::default()
    };
    let path = args
        .url
        .path_and_query()
        .map_or("/", |p| p.as_str())
        .to_string();
    let mut i = index as u64;
    while i < total {
        let due = start + Duration::from_secs_f64(i as f64 / args.rate);
        tokio::time::sleep_until(due).await;
        let req = http::Request::builder()
            .method(args.method.clone())
            .uri(path.as_str())
            .header("host", authority.as_str())
            .header("content-type", "application/json")
            .body(Full::new(args.body.clone()))
            .map_err(|e| e.to_string())?;
        let sent = Instant::now();
        let result = async {
            send.ready().await?;
            let res = send.send_request(req).await?;
            let status = res.status();
            res.into_body().collect().await?;
            Ok::<_, hyper::Error>(status)
        }
        .await;
        let done = Instant::now();
        if due >= measure_from {
            match result {
                Ok(s) if s.is_success() => {
                    tally.ok += 1;
                    let us = (done - sent).as_micros().max(1) as u64;
                    tally.latency.as_mut().unwrap().saturating_record(us);
                    let late = sent.saturating_duration_since(due).as_micros().max(1) as u64;
                    tally.lateness.as_mut().unwrap().saturating_record(late);
                }
                _ => tally.errors += 1,
            }
        } else if result.is_err() {
            return Err("request failed during warm-up".into());
        }
        i += args.connections as u64;
    }
    Ok(tally)
}

#[tokio::main]
async fn main() {
    let args = match parse() {
        Ok(a) => std::sync::Arc::new(a),
        Err(e) => {
            eprintln!("loadgen: {e}");
            std::process::exit(2);
        }
    };
    let start = Instant::now() + Duration::from_millis(200);
    let measure_from = start + args.warmup;
    let total = ((args.warmup + args.duration).as_secs_f64() * args.rate) as u64;
    let tasks: Vec<_> = (0..args.connections)
        .map(|c| tokio::spawn(connection(args.clone(), c, start, measure_from, total)))
        .collect();
    let mut latency = hdrhistogram::Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).unwrap();
    let mut lateness = latency.clone();
    let (mut ok, mut errors) = (0, 0);
    for t in tasks {
        match t.await {
            Ok(Ok(tally)) => {
                latency.add(tally.latency.unwrap()).unwrap();
                lateness.add(tally.lateness.unwrap()).unwrap();
                ok += tally.ok;
                errors += tally.errors;
            }
            Ok(Err(e)) => {
                eprintln!("loadgen: {e}");
                std::process::exit(1);
            }
            Err(e) => {
                eprintln!("loadgen: task failed: {e}");
                std::process::exit(1);
            }
        }
    }
    let elapsed = (Instant::now() - measure_from).as_secs_f64();
    let q = |h: &hdrhistogram::Histogram<u64>, p: f64| h.value_at_quantile(p);
    println!(
        "{}",
        serde_json::json!({
            "rate": args.rate,
            "connections": args.connections,
            "duration_s": args.duration.as_secs_f64(),
            "ok": ok,
            "errors": errors,
            "achieved_rps": ok as f64 / elapsed,
            "p50_us": q(&latency, 0.5),
            "p90_us": q(&latency, 0.9),
            "p99_us": q(&latency, 0.99),
            "p999_us": q(&latency, 0.999),
            "max_us": latency.max(),
            "mean_us": latency.mean(),
            "late_p99_us": q(&lateness, 0.99),
        })
    );
}
