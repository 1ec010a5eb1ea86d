//! The agent API's endpoints (AGENT_API.md) over the session store.
//!
//! # Invariants
//! - Every request is counted once per endpoint, and every 4xx/5xx once, before it returns.
//! - A request naming a thread id the server never issued gets `404 {"detail":"Session not
//!   found"}` and bumps `unknown_thread_id`; a malformed body gets FastAPI's 422 shape.
//! - An injected `500` changes no state. Divergence and cross-talk change only the response,
//!   never the session; grading noise changes the session's next node (and is counted).
//! - A turn whose body marks the node its answer was written for (`answer_node`) is
//!   counted in `answers_marked`, and in `answers_mismatched` when the session is elsewhere.
//! - No lock is held across an `.await`; the LLM latency is slept after the state update.

use super::bottleneck::Gate;
use super::chance::{self, Purpose};
use super::config::Config;
use super::counters::{bump, Counters, Endpoint, Log, LogEntry};
use super::node::Node;
use super::store::{Session, Store};
use super::stream;
use bytes::Bytes;
use http::header::{HeaderValue, CONTENT_TYPE};
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Either, Full, Limited};
use hyper::body::Incoming;
use serde::Deserialize;
use std::borrow::Cow;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The `Server-Timing` value sent when a malformed header is injected.
pub const MALFORMED_SERVER_TIMING: &str = "llm;dur=oops, checkpoint_save;dur=";

/// Largest request body read (a bigger one gets 413).
const MAX_BODY: usize = 1 << 20;

pub(crate) type Body = Either<Full<Bytes>, stream::SseBody>;

static JSON: HeaderValue = HeaderValue::from_static("application/json");
static SERVER_TIMING: http::HeaderName = http::HeaderName::from_static("server-timing");

const HEALTH: &[u8] = br#"{"status":"ok"}"#;
const NOT_FOUND_SESSION: &[u8] = br#"{"detail":"Session not found"}"#;
const NOT_FOUND: &[u8] = br#"{"detail":"Not Found"}"#;
const NOT_ALLOWED: &[u8] = br#"{"detail":"Method Not Allowed"}"#;
const SERVER_ERROR: &[u8] = br#"{"detail":"Internal Server Error"}"#;
const TOO_LARGE: &[u8] = br#"{"detail":"Request body too large"}"#;
const UNREADABLE: &[u8] = br#"{"detail":"Request body could not be read"}"#;
const PROMETHEUS: &str = "text/plain; version=0.0.4; charset=utf-8";
const IMAGE_URL: &str = "https://mock.reprise.invalid/img/concept-diagram.png";

/// State shared by every connection of one server.
pub(crate) struct Shared {
    pub config: Config,
    pub counters: Counters,
    pub log: Log,
    pub store: Store,
    /// Random per server: thread ids never repeat across servers (restart tests).
    pub id_key: u64,
    pub arrivals: AtomicU64,
    pub start_attempts: AtomicU64,
    /// The database pool, when one is configured.
    pub db: Option<Gate>,
    /// The LLM concurrency limit, when one is configured.
    pub llm: Option<Arc<Gate>>,
}

impl Shared {
    pub fn new(config: Config) -> Shared {
        let keep_recent = !config.misbehave.cross_talk.is_zero();
        Shared {
            counters: Counters::default(),
            log: Log::default(),
            store: Store::new(keep_recent),
            id_key: rand::random(),
            arrivals: AtomicU64::new(0),
            start_attempts: AtomicU64::new(0),
            db: config.db.map(|d| Gate::new(d.pool)),
            llm: config.llm_limit.map(|n| Arc::new(Gate::new(n))),
            config,
        }
    }
}

/// Routes one request. Never fails: every outcome is a response.
pub(crate) async fn handle(
    shared: &Shared,
    peer: SocketAddr,
    req: Request<Incoming>,
) -> Response<Body> {
    let at = Instant::now();
    let seq = shared.arrivals.fetch_add(1, Relaxed);
    let (parts, body) = req.into_parts();
    let endpoint = route(&parts.method, parts.uri.path());
    bump(shared.counters.endpoint(endpoint));

    let (body, unreadable) = match Limited::new(body, MAX_BODY).collect().await {
        Ok(b) => (b.to_bytes(), None),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => (
            Bytes::new(),
            Some((StatusCode::PAYLOAD_TOO_LARGE, TOO_LARGE)),
        ),
        Err(_) => (Bytes::new(), Some((StatusCode::BAD_REQUEST, UNREADABLE))),
    };

    let mut named: Option<String> = None;
    let mut issued: Option<String> = None;
    let res = match (unreadable, endpoint) {
        (Some((code, msg)), _) => json(code, Bytes::from_static(msg)),
        (None, Endpoint::Health) => json(StatusCode::OK, Bytes::from_static(HEALTH)),
        (None, Endpoint::Start) => {
            let (res, id) = start(shared, peer, &body).await;
            if shared.config.request_log {
                issued = id.map(|id| uuid::Uuid::from_u128(id).hyphenated().to_string());
            }
            res
        }
        (None, Endpoint::Continue | Endpoint::Stream) => {
            turn(
                shared,
                peer,
                &body,
                endpoint,
                shared.config.request_log.then_some(&mut named),
            )
            .await
        }
        (None, Endpoint::Status) => {
            let id = &parts.uri.path()["/session/status/".len()..];
            if shared.config.request_log {
                named = Some(id.to_owned());
            }
            status(shared, peer, id).await
        }
        (None, Endpoint::Other)
            if parts.method == Method::GET && parts.uri.path() == "/metrics" =>
        {
            let page = super::metrics::render(
                &shared.counters.snapshot(),
                shared.db.as_ref(),
                shared.llm.as_deref(),
            );
            let mut r = Response::new(Either::Left(Full::new(Bytes::from(page))));
            r.headers_mut()
                .insert(CONTENT_TYPE, HeaderValue::from_static(PROMETHEUS));
            r
        }
        (None, Endpoint::Other) => {
            let path = parts.uri.path();
            let other_method = route(&Method::GET, path) != Endpoint::Other
                || route(&Method::POST, path) != Endpoint::Other;
            if other_method {
                json(
                    StatusCode::METHOD_NOT_ALLOWED,
                    Bytes::from_static(NOT_ALLOWED),
                )
            } else {
                json(StatusCode::NOT_FOUND, Bytes::from_static(NOT_FOUND))
            }
        }
    };
    shared.counters.status(res.status().as_u16());
    if shared.config.request_log {
        shared.log.push(LogEntry {
            seq,
            at,
            endpoint,
            method: parts.method,
            path: parts.uri.path().to_owned(),
            thread_id: named,
            headers: parts.headers,
            body,
            peer,
            status: res.status().as_u16(),
            issued,
        });
    }
    res
}

fn route(method: &Method, path: &str) -> Endpoint {
    match (method, path) {
        (&Method::POST, "/session/start") => Endpoint::Start,
        (&Method::POST, "/session/continue") => Endpoint::Continue,
        (&Method::POST, "/session/continue/stream") => Endpoint::Stream,
        (&Method::GET, "/health") => Endpoint::Health,
        (&Method::GET, p)
            if p.len() > "/session/status/".len()
                && p.starts_with("/session/status/")
                && !p["/session/status/".len()..].contains('/') =>
        {
            Endpoint::Status
        }
        _ => Endpoint::Other,
    }
}

/// A response whose status the caller has not counted yet (4xx/5xx are counted in `handle`).
fn json(code: StatusCode, body: Bytes) -> Response<Body> {
    let mut r = Response::new(Either::Left(Full::new(body)));
    *r.status_mut() = code;
    r.headers_mut().insert(CONTENT_TYPE, JSON.clone());
    r
}

fn not_found_session(shared: &Shared) -> Response<Body> {
    bump(&shared.counters.unknown_thread_id);
    json(StatusCode::NOT_FOUND, Bytes::from_static(NOT_FOUND_SESSION))
}

fn injected_error(shared: &Shared) -> Response<Body> {
    bump(&shared.counters.injected_errors);
    json(
        StatusCode::INTERNAL_SERVER_ERROR,
        Bytes::from_static(SERVER_ERROR),
    )
}

/// Adds `Server-Timing` (or its injected malformed variant).
fn timing(
    shared: &Shared,
    res: &mut Response<Body>,
    bad: bool,
    llm: Option<Duration>,
    load: Option<Duration>,
    save: Option<Duration>,
    waits: Waits,
) {
    let value = if bad {
        bump(&shared.counters.injected_bad_server_timing);
        HeaderValue::from_static(MALFORMED_SERVER_TIMING)
    } else {
        let mut s = String::with_capacity(80);
        let mut sep = "";
        for (name, d) in [
            ("llm", llm),
            ("checkpoint_save", save),
            ("checkpoint_load", load),
            ("db_wait", waits.db),
            ("llm_wait", waits.llm),
        ] {
            if let Some(d) = d {
                let _ = write!(s, "{sep}{name};dur={:.3}", d.as_secs_f64() * 1e3);
                sep = ", ";
            }
        }
        match HeaderValue::try_from(s) {
            Ok(v) => v,
            Err(_) => return,
        }
    };
    res.headers_mut().insert(SERVER_TIMING.clone(), value);
}

/// Time spent queueing, reported as `db_wait` / `llm_wait` when a bottleneck is configured
/// (and already included in `checkpoint_*` / `llm`).
#[derive(Debug, Clone, Copy, Default)]
struct Waits {
    db: Option<Duration>,
    llm: Option<Duration>,
}

/// One checkpoint against the configured database: (wait + service, wait), or `None`
/// without a database.
async fn checkpoint(shared: &Shared) -> Option<(Duration, Duration)> {
    match (&shared.db, shared.config.db) {
        (Some(gate), Some(db)) => Some(gate.serve(db.service).await),
        _ => None,
    }
}

fn add(a: Option<Duration>, b: Duration) -> Option<Duration> {
    Some(a.unwrap_or_default() + b)
}

// ------------------------------------------------------------------ 422 bodies (FastAPI)

fn unprocessable(detail: serde_json::Value) -> Response<Body> {
    let body = serde_json::to_vec(&serde_json::json!({ "detail": detail })).unwrap_or_default();
    json(StatusCode::UNPROCESSABLE_ENTITY, Bytes::from(body))
}

fn json_invalid(err: &serde_json::Error) -> Response<Body> {
    unprocessable(serde_json::json!([{
        "type": "json_invalid",
        "loc": ["body", err.column().saturating_sub(1)],
        "msg": "JSON decode error",
        "input": {},
        "ctx": {"error": err.to_string()},
    }]))
}

/// Checks that `v` is an object whose `fields` are strings (`required` ones present).
/// Returns the FastAPI-style 422 if not.
fn validate(v: &serde_json::Value, fields: &[(&str, bool)]) -> Option<Response<Body>> {
    let Some(obj) = v.as_object() else {
        return Some(unprocessable(serde_json::json!([{
            "type": "model_attributes_type",
            "loc": ["body"],
            "msg": "Input should be a valid dictionary or object to extract fields from",
            "input": v,
        }])));
    };
    let mut errors = Vec::new();
    for &(name, required) in fields {
        match obj.get(name) {
            None | Some(serde_json::Value::Null) if required => errors.push(serde_json::json!({
                "type": "missing", "loc": ["body", name], "msg": "Field required", "input": v,
            })),
            Some(x) if !x.is_string() && !x.is_null() => errors.push(serde_json::json!({
                "type": "string_type", "loc": ["body", name],
                "msg": "Input should be a valid string", "input": x,
            })),
            _ => {}
        }
    }
    (!errors.is_empty()).then(|| unprocessable(serde_json::Value::Array(errors)))
}

// ------------------------------------------------------------------ endpoints

/// The response, and the thread id issued (if one was).
async fn start(shared: &Shared, peer: SocketAddr, body: &[u8]) -> (Response<Body>, Option<u128>) {
    if !body.iter().all(u8::is_ascii_whitespace) {
        match serde_json::from_slice::<serde_json::Value>(body) {
            Err(e) => return (json_invalid(&e), None),
            Ok(v) => {
                if let Some(r) = validate(&v, &[("student_id", false), ("topic", false)]) {
                    return (r, None);
                }
            }
        }
    }
    let m = shared.config.misbehave;
    let attempt = shared.start_attempts.fetch_add(1, Relaxed);
    if chance::hit(
        m.error_rate,
        shared.config.seed,
        Purpose::Error,
        u64::MAX - attempt,
        0,
    ) {
        return (injected_error(shared), None);
    }
    let seq = shared.counters.sessions_started.fetch_add(1, Relaxed);
    let id = chance::thread_id(shared.id_key, seq);
    let t = Instant::now();
    shared.store.insert(
        id,
        Session {
            seq,
            node: Node::Apk,
            turn: 0,
            requests: 1,
            peer,
        },
    );
    let mut save = t.elapsed();
    let mut waits = Waits::default();
    if let Some((total, wait)) = checkpoint(shared).await {
        save += total;
        waits.db = Some(wait);
    }
    let mut s = String::with_capacity(160);
    s.push_str(r#"{"thread_id":""#);
    push_id(&mut s, id);
    let _ = write!(
        s,
        r#"","agent_response":"{}","current_node":"APK","turn":0}}"#,
        Node::Apk.prompt()
    );
    let mut res = json(StatusCode::OK, Bytes::from(s));
    let bad = chance::hit(
        m.bad_server_timing,
        shared.config.seed,
        Purpose::BadTiming,
        seq,
        0,
    );
    timing(shared, &mut res, bad, None, None, Some(save), waits);
    (res, Some(id))
}

fn push_id(s: &mut String, id: u128) {
    let mut buf = uuid::Uuid::encode_buffer();
    s.push_str(
        uuid::Uuid::from_u128(id)
            .hyphenated()
            .encode_lower(&mut buf),
    );
}

fn parse_id(s: &str) -> Option<u128> {
    uuid::Uuid::try_parse(s).ok().map(|u| u.as_u128())
}

#[derive(Deserialize)]
struct TurnBody<'a> {
    #[serde(borrow)]
    thread_id: Cow<'a, str>,
    #[serde(borrow)]
    user_response: Cow<'a, str>,
    /// The node the answer was written for (the synthetic students mark their answers;
    /// the real API ignores unknown fields). Checked against the session's node.
    #[serde(borrow, default)]
    answer_node: Option<Cow<'a, str>>,
}

/// What one turn decided, under the shard lock.
struct Turned {
    seq: u64,
    req: u64,
    node: Node,
    turn: u32,
    load: Duration,
    save: Duration,
}

async fn turn(
    shared: &Shared,
    peer: SocketAddr,
    body: &[u8],
    endpoint: Endpoint,
    named: Option<&mut Option<String>>,
) -> Response<Body> {
    let parsed: TurnBody<'_> = match serde_json::from_slice(body) {
        Ok(b) => b,
        Err(e) => {
            return match serde_json::from_slice::<serde_json::Value>(body) {
                Err(_) => json_invalid(&e),
                Ok(v) => {
                    if let (Some(n), Some(id)) =
                        (named, v.get("thread_id").and_then(|t| t.as_str()))
                    {
                        *n = Some(id.to_owned());
                    }
                    validate(&v, &[("thread_id", true), ("user_response", true)])
                        .unwrap_or_else(|| json_invalid(&e))
                }
            };
        }
    };
    if let Some(n) = named {
        *n = Some(parsed.thread_id.to_string());
    }
    let Some(id) = parse_id(&parsed.thread_id) else {
        return not_found_session(shared);
    };
    let cfg = &shared.config;
    let m = cfg.misbehave;
    let t0 = Instant::now();
    let turned = shared.store.with(id, |s| {
        let load = t0.elapsed();
        let req = s.requests;
        s.requests += 1;
        if chance::hit(m.error_rate, cfg.seed, Purpose::Error, s.seq, req) {
            return None;
        }
        let t1 = Instant::now();
        if let Some(marked) = &parsed.answer_node {
            bump(&shared.counters.answers_marked);
            if !marked.eq_ignore_ascii_case(s.node.as_str()) {
                bump(&shared.counters.answers_mismatched);
            }
        }
        let mut next = s.node.after(&parsed.user_response);
        if s.node == Node::Ar
            && chance::hit(m.grading_noise, cfg.seed, Purpose::Grading, s.seq, req)
        {
            bump(&shared.counters.injected_grading_flips);
            next = if next == Node::Ar { Node::Tc } else { Node::Ar };
        }
        s.node = next;
        s.turn += 1;
        Some(Turned {
            seq: s.seq,
            req,
            node: s.node,
            turn: s.turn,
            load,
            save: t1.elapsed(),
        })
    });
    let mut t = match turned {
        None => return not_found_session(shared),
        Some(None) => return injected_error(shared),
        Some(Some(t)) => t,
    };
    let llm = chance::latency(cfg.latency, cfg.seed, t.seq, u64::from(t.turn));
    let mut waits = Waits::default();
    if let Some((total, wait)) = checkpoint(shared).await {
        t.load += total;
        waits.db = Some(wait);
    }

    let mut node = t.node;
    let eligible = m.divergence_node.is_none_or(|n| n == node);
    if eligible && chance::hit(m.divergence, cfg.seed, Purpose::Divergence, t.seq, t.req) {
        bump(&shared.counters.injected_divergence);
        node = node.diverged();
    }
    let named_id = cross_talk(shared, id, peer, t.seq, t.req);
    let mut s = String::with_capacity(320);
    s.push_str(r#"{"thread_id":""#);
    push_id(&mut s, named_id);
    let _ = write!(
        s,
        r#"","agent_response":"{}","current_node":"{}","turn":{},"simulation_triggered":{},"image_url":{},"session_complete":{}}}"#,
        node.prompt(),
        node.as_str(),
        t.turn,
        node == Node::Ge,
        if node == Node::Ci {
            format!("\"{IMAGE_URL}\"")
        } else {
            "null".into()
        },
        node == Node::Complete,
    );
    let bad = chance::hit(
        m.bad_server_timing,
        cfg.seed,
        Purpose::BadTiming,
        t.seq,
        t.req,
    );

    if endpoint == Endpoint::Stream {
        let plan = stream::Plan::new(cfg.stream, llm);
        let mut llm_total = plan.total();
        if let Some(gate) = &shared.llm {
            // The call holds its slot while the stream is paced out.
            let (slot, wait) = gate.acquire_owned().await;
            llm_total += wait;
            waits.llm = Some(wait);
            let hold = plan.total();
            tokio::spawn(async move {
                tokio::time::sleep(hold).await;
                drop(slot);
            });
        }
        if let Some((total, wait)) = checkpoint(shared).await {
            t.save += total;
            waits.db = add(waits.db, wait);
        }
        let mut res = Response::new(Either::Right(stream::body(node.prompt(), s, plan)));
        stream::headers(res.headers_mut());
        timing(
            shared,
            &mut res,
            bad,
            Some(llm_total),
            Some(t.load),
            Some(t.save),
            waits,
        );
        return res;
    }
    let mut llm_total = llm;
    if let Some(gate) = &shared.llm {
        let (slot, wait) = gate.acquire().await;
        if !llm.is_zero() {
            tokio::time::sleep(llm).await;
        }
        drop(slot);
        llm_total += wait;
        waits.llm = Some(wait);
    } else if !llm.is_zero() {
        tokio::time::sleep(llm).await;
    }
    if let Some((total, wait)) = checkpoint(shared).await {
        t.save += total;
        waits.db = add(waits.db, wait);
    }
    let mut res = json(StatusCode::OK, Bytes::from(s));
    timing(
        shared,
        &mut res,
        bad,
        Some(llm_total),
        Some(t.load),
        Some(t.save),
        waits,
    );
    res
}

/// The thread id a response names: its own, or (injected) another live session's.
fn cross_talk(shared: &Shared, id: u128, peer: SocketAddr, seq: u64, req: u64) -> u128 {
    let m = shared.config.misbehave;
    if !chance::hit(
        m.cross_talk,
        shared.config.seed,
        Purpose::CrossTalk,
        seq,
        req,
    ) {
        return id;
    }
    let pick = chance::draw(shared.config.seed, Purpose::Pick, seq, req);
    match shared.store.other_than(id, peer, pick) {
        Some(other) => {
            bump(&shared.counters.injected_cross_talk);
            other
        }
        None => id,
    }
}

async fn status(shared: &Shared, peer: SocketAddr, raw: &str) -> Response<Body> {
    let Some(id) = parse_id(raw) else {
        return not_found_session(shared);
    };
    let cfg = &shared.config;
    let m = cfg.misbehave;
    let t0 = Instant::now();
    let seen = shared.store.with(id, |s| {
        let req = s.requests;
        s.requests += 1;
        (s.clone(), req)
    });
    let mut load = t0.elapsed();
    let Some((s, req)) = seen else {
        return not_found_session(shared);
    };
    let mut waits = Waits::default();
    if let Some((total, wait)) = checkpoint(shared).await {
        load += total;
        waits.db = Some(wait);
    }
    if chance::hit(m.error_rate, cfg.seed, Purpose::Error, s.seq, req) {
        return injected_error(shared);
    }
    let named_id = cross_talk(shared, id, peer, s.seq, req);
    let mut b = String::with_capacity(160);
    b.push_str(r#"{"thread_id":""#);
    push_id(&mut b, named_id);
    let _ = write!(
        b,
        r#"","current_node":"{}","turn":{},"history_length":{},"session_complete":{}}}"#,
        s.node.as_str(),
        s.turn,
        s.history_length(),
        s.complete()
    );
    let mut res = json(StatusCode::OK, Bytes::from(b));
    let bad = chance::hit(
        m.bad_server_timing,
        cfg.seed,
        Purpose::BadTiming,
        s.seq,
        req,
    );
    timing(shared, &mut res, bad, None, Some(load), None, waits);
    res
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes() {
        assert_eq!(route(&Method::POST, "/session/start"), Endpoint::Start);
        assert_eq!(route(&Method::GET, "/session/start"), Endpoint::Other);
        assert_eq!(
            route(&Method::POST, "/session/continue/stream"),
            Endpoint::Stream
        );
        assert_eq!(route(&Method::GET, "/session/status/abc"), Endpoint::Status);
        assert_eq!(route(&Method::GET, "/session/status/"), Endpoint::Other);
        assert_eq!(route(&Method::GET, "/session/status/a/b"), Endpoint::Other);
        assert_eq!(route(&Method::GET, "/health"), Endpoint::Health);
    }

    #[test]
    fn validate_reports_missing_and_wrong_types() {
        let v = serde_json::json!({"thread_id": 5});
        let r = validate(&v, &[("thread_id", true), ("user_response", true)]);
        assert_eq!(
            r.map(|r| r.status()),
            Some(StatusCode::UNPROCESSABLE_ENTITY)
        );
        let ok = serde_json::json!({"thread_id": "x", "user_response": "y"});
        assert!(validate(&ok, &[("thread_id", true), ("user_response", true)]).is_none());
        assert!(validate(&serde_json::json!([1]), &[]).is_some());
    }
}
