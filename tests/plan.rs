//! The compact plan (shared templates, interned headers, bodies in an arena, twins instead
//! of recorded exchanges) sends exactly what was recorded: asserted on what the mock
//! received, request by request, against the recorded exchanges themselves.

mod replay_util;

use replay_util::*;
use reprise::mock;
use reprise::replay::plan::Plan;
use reprise::replay::Workload;
use reprise::trace::{Body, Exchange};
use serde_json::json;
use std::collections::HashMap;

/// Recorded without session ids (grouped by connection, as a wrk recording): repeated
/// GETs, all-distinct JSON POSTs and text bodies, headers kept, dropped and redacted.
fn recording() -> Vec<Exchange> {
    let mut out = Vec::new();
    for i in 0..120u64 {
        let conn = i % 4;
        let mut e = match i % 3 {
            0 => ex(
                i,
                "",
                i * 2,
                1,
                "GET",
                "/health",
                json!(null),
                json!({"status": "ok"}),
            ),
            1 => ex(
                i,
                "",
                i * 2,
                1,
                "POST",
                "/echo",
                json!({"seq": i, "note": format!("distinct body {i}")}),
                json!({}),
            ),
            _ => {
                let mut e = ex(
                    i,
                    "",
                    i * 2,
                    1,
                    "PUT",
                    "/notes/plain",
                    json!(null),
                    json!({}),
                );
                let text = format!("plain text body number {i}");
                e.req.body = Body::from_bytes(text.as_bytes(), text.len() as u64);
                e
            }
        };
        e.session = None;
        e.conn = conn;
        e.req.query = (i % 5 == 0).then(|| format!("page={}", i % 7));
        e.req.headers = vec![
            ("host".into(), "recorded.example".into()),
            ("x-client".into(), format!("c{conn}")),
            ("authorization".into(), "[redacted]".into()),
            ("connection".into(), "keep-alive".into()),
        ];
        out.push(e);
    }
    out
}

/// What one request was: method, path (the mock logs no query), body, `x-client`, and
/// whether it carried an `authorization` header (recorded redacted: never sent).
type Request = (String, String, Vec<u8>, Option<String>, bool);

fn key(method: &str, path: &str, body: Vec<u8>, client: Option<String>, auth: bool) -> Request {
    (method.to_string(), path.to_string(), body, client, auth)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_compact_plan_sends_every_recorded_request_as_recorded() {
    let recorded = recording();
    let mut want: HashMap<Request, u32> = HashMap::new();
    for e in &recorded {
        let client = e
            .req
            .headers
            .iter()
            .find(|(n, _)| n == "x-client")
            .map(|(_, v)| v.clone());
        *want
            .entry(key(
                &e.req.method,
                &e.req.path,
                e.req.body.to_bytes(),
                client,
                false,
            ))
            .or_default() += 1;
    }
    let plan = Plan::from_exchanges(recorded);
    assert_eq!(
        plan.sessions.len(),
        4,
        "one session per recorded connection"
    );
    // the 40 GETs of each kind share templates: far fewer than the 120 steps
    let mut templates: Vec<*const _> = plan
        .sessions
        .iter()
        .flat_map(|s| s.steps.iter().map(|st| std::sync::Arc::as_ptr(&st.request)))
        .collect();
    templates.sort();
    templates.dedup();
    assert!(
        templates.len() < 100,
        "{} templates for 120 steps",
        templates.len()
    );

    let m = mock_with(mock::Config::default()).await;
    let s = replay_run(plan, config(&m.url(), Workload::Open { multiply: 1 }, 10.0)).await;
    assert_eq!(s.totals.requests, 120);
    let log = m.log().entries();
    assert_eq!(log.len(), 120, "the mock received every request once");
    let mut got: HashMap<Request, u32> = HashMap::new();
    for e in &log {
        let client = e
            .headers
            .get("x-client")
            .map(|v| v.to_str().unwrap().to_string());
        let auth = e.headers.contains_key("authorization");
        *got.entry(key(
            e.method.as_str(),
            &e.path,
            e.body.to_vec(),
            client,
            auth,
        ))
        .or_default() += 1;
    }
    assert_eq!(got, want, "what the mock received is what was recorded");
}
