//! Builders for trace tests: exchanges that look like the agent API's traffic.

#![allow(dead_code)]

use chrono::{Duration as ChronoDuration, TimeZone, Utc};
use reprise::trace::{Body, Exchange, ExchangeError, Request, Response};
use serde_json::json;

/// A recording start far from "now", so tests are deterministic.
pub fn t0() -> chrono::DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 27, 9, 0, 0).unwrap()
}

#[allow(clippy::too_many_arguments)]
/// A plain JSON exchange: `method path` sent at `t_us`, answered with `status` and `res`.
pub fn exchange(
    id: u64,
    session: Option<&str>,
    method: &str,
    path: &str,
    t_us: u64,
    done_us: u64,
    status: u16,
    res: serde_json::Value,
) -> Exchange {
    Exchange {
        id,
        session: session.map(str::to_string),
        conn: id % 4,
        sent_at: t0() + ChronoDuration::microseconds(t_us as i64),
        t_us,
        ttfb_us: Some(done_us / 2),
        done_us,
        req: Request {
            method: method.to_string(),
            path: path.to_string(),
            query: None,
            headers: vec![("content-type".into(), "application/json".into())],
            body: Body::from_bytes(br#"{"user_response":"hi"}"#, 22),
        },
        res: Some(Response {
            status,
            headers: vec![("content-type".into(), "application/json".into())],
            body: Body::from_bytes(res.to_string().as_bytes(), res.to_string().len() as u64),
            chunks: vec![],
        }),
        error: None,
    }
}

/// An exchange that failed without a response.
pub fn failed(id: u64, session: Option<&str>, t_us: u64, kind: &str) -> Exchange {
    let mut e = exchange(
        id,
        session,
        "POST",
        "/session/continue",
        t_us,
        1_000,
        0,
        json!(null),
    );
    e.res = None;
    e.ttfb_us = None;
    e.error = Some(ExchangeError {
        kind: kind.to_string(),
        message: format!("{kind} failure"),
    });
    e
}

/// `n` simple exchanges with ids `0..n`, 10 ms apart.
pub fn simple(n: u64) -> Vec<Exchange> {
    (0..n)
        .map(|i| {
            exchange(
                i,
                Some(&format!("s{}", i % 3)),
                "POST",
                "/session/continue",
                i * 10_000,
                5_000,
                200,
                json!({"thread_id": format!("s{}", i % 3), "current_node": "CI", "turn": i}),
            )
        })
        .collect()
}
