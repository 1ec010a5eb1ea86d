//! The HTTP side: hyper 1.x on a thread of its own, routes, access checks.
//!
//! Routes: `GET /` the live page, `GET /events` the server-sent events (history first,
//! then live; `Last-Event-ID` resumes), `GET /api/meta`, `POST /api/control`,
//! `GET /download/{summary.json,report.html,stats.csv,stats_history.csv,failures.csv}`,
//! `GET /metrics`. `reprise ui` adds `GET /start` and `POST /api/start` (see [`super::ui`]).
//!
//! # Invariants
//! - A loopback listener answers only requests whose `Host` is a loopback name (a page on
//!   another site cannot reach it by DNS rebinding); every `POST` must carry no `Origin` or
//!   this server's own.
//! - A non-loopback listener answers nothing without a token (`?token=` or the cookie set
//!   from it); the viewer token reads everything and controls nothing.
//! - The server never holds the run: dropping the runtime (end of the run, or after
//!   `--web-linger`) closes every stream.

use super::live::Live;
use super::{page, prom, Access, Role};
use crate::replay::Change;
use bytes::Bytes;
use http::header::{
    CACHE_CONTROL, CONTENT_DISPOSITION, CONTENT_TYPE, COOKIE, HOST, ORIGIN, SET_COOKIE,
};
use http::{HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Either, Full, Limited, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use std::convert::Infallible;
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// A streamed body of SSE frames.
pub(crate) type SseBody = StreamBody<
    std::pin::Pin<
        Box<dyn futures_util::Stream<Item = Result<Frame<Bytes>, Infallible>> + Send + Sync>,
    >,
>;
pub(crate) type Body = Either<Full<Bytes>, SseBody>;

/// What a request may reach: the run's live state, or (ui, before a run) nothing yet.
pub(crate) trait App: Send + Sync + 'static {
    /// The run being shown, if any.
    fn live(&self) -> Option<Arc<Live>>;
    /// Routes of the app itself (the start page); `None`: not one of its routes.
    fn route(
        &self,
        _method: &Method,
        _path: &str,
        _body: &Bytes,
        _role: Role,
    ) -> Option<Response<Body>> {
        None
    }
}

impl App for Arc<Live> {
    fn live(&self) -> Option<Arc<Live>> {
        Some(self.clone())
    }
}

pub(crate) async fn serve<A: App>(
    listener: TcpListener,
    app: Arc<A>,
    access: Arc<Access>,
    stop: CancellationToken,
) {
    loop {
        let (stream, _) = tokio::select! {
            r = listener.accept() => match r {
                Ok(s) => s,
                Err(_) => continue,
            },
            _ = stop.cancelled() => return,
        };
        let _ = stream.set_nodelay(true);
        let (app, access, stop) = (app.clone(), access.clone(), stop.clone());
        tokio::spawn(async move {
            let svc = service_fn(move |req| {
                let (app, access) = (app.clone(), access.clone());
                async move { Ok::<_, Infallible>(handle(&*app, &access, req).await) }
            });
            let conn = http1::Builder::new().serve_connection(TokioIo::new(stream), svc);
            tokio::select! {
                _ = conn => {}
                _ = stop.cancelled() => {}
            }
        });
    }
}

async fn handle<A: App>(app: &A, access: &Access, req: Request<Incoming>) -> Response<Body> {
    let (parts, body) = req.into_parts();
    let host = parts
        .headers
        .get(HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("");
    if access.loopback && !is_loopback_host(host) {
        return text(
            StatusCode::FORBIDDEN,
            "this server answers only on a loopback name (127.0.0.1, localhost, [::1])\n",
        );
    }
    let query = parts.uri.query().unwrap_or("");
    let from_query = query_param(query, "token");
    let cookie = parts
        .headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().strip_prefix("reprise_token="))
        .map(str::to_string)
        .next();
    let token = from_query.clone().or(cookie);
    let Some(role) = access.role(token.as_deref()) else {
        return text(
            StatusCode::UNAUTHORIZED,
            "a token is needed: open the link reprise printed (…/?token=…)\n",
        );
    };
    let method = parts.method.clone();
    let path = parts.uri.path().to_string();
    if method == Method::POST {
        let origin = parts.headers.get(ORIGIN).and_then(|o| o.to_str().ok());
        if let Some(o) = origin {
            let own = o
                .strip_prefix("http://")
                .is_some_and(|rest| rest.eq_ignore_ascii_case(host));
            if !own {
                return text(StatusCode::FORBIDDEN, "cross-origin request refused\n");
            }
        }
    }
    let body = if method == Method::POST {
        match Limited::new(body, 64 * 1024).collect().await {
            Ok(b) => b.to_bytes(),
            Err(_) => return text(StatusCode::PAYLOAD_TOO_LARGE, "body over 64 KiB\n"),
        }
    } else {
        Bytes::new()
    };
    let mut res = route(app, &method, &path, &parts.headers, &body, role);
    // a token given in the URL becomes a cookie, so the page's own requests carry it
    if let (Some(t), false) = (from_query, access.loopback) {
        if let Ok(v) = HeaderValue::from_str(&format!(
            "reprise_token={t}; Path=/; HttpOnly; SameSite=Strict"
        )) {
            res.headers_mut().append(SET_COOKIE, v);
        }
    }
    res
}

fn route<A: App>(
    app: &A,
    method: &Method,
    path: &str,
    headers: &http::HeaderMap,
    body: &Bytes,
    role: Role,
) -> Response<Body> {
    if let Some(r) = app.route(method, path, body, role) {
        return r;
    }
    let Some(live) = app.live() else {
        return text(StatusCode::NOT_FOUND, "no run yet\n");
    };
    match (method, path) {
        (&Method::GET, "/") | (&Method::GET, "/index.html") => {
            typed(StatusCode::OK, "text/html; charset=utf-8", page::live())
        }
        (&Method::GET, "/api/meta") => json(StatusCode::OK, meta(&live, role)),
        (&Method::GET, "/events") => events(&live, headers),
        (&Method::POST, "/api/control") => {
            if role != Role::Control {
                return json_error(
                    StatusCode::FORBIDDEN,
                    "this link is read-only: it cannot change the run",
                );
            }
            control(&live, body)
        }
        (&Method::GET, "/metrics") => typed(
            StatusCode::OK,
            "text/plain; version=0.0.4; charset=utf-8",
            prom::render(&live),
        ),
        (&Method::GET, p) if p.starts_with("/download/") => download(&live, &p[10..]),
        _ => text(StatusCode::NOT_FOUND, "not found\n"),
    }
}

fn meta(live: &Live, role: Role) -> String {
    let m = &live.meta;
    let t = live.control.target();
    serde_json::json!({
        "name": m.info.name,
        "target": m.info.target,
        "recordings": m.info.recordings,
        "profile": m.info.profile,
        "report_dir": m.report_dir,
        "workload": m.workload,
        "closed": live.control.is_closed(),
        "users": t.users,
        "spawn_rate": t.spawn_rate.is_finite().then_some(t.spawn_rate),
        "multiply": t.multiply,
        "rate_mode": live.control.is_rate(),
        "rate": live.control.is_rate().then_some(t.rate),
        "routes": m.routes.iter().map(|r| [&r.1, &r.2]).collect::<Vec<_>>(),
        "thresholds": m.threshold_exprs,
        "role": match role { Role::Control => "control", Role::View => "view" },
        "ended": live.ended(),
    })
    .to_string()
}

fn events(live: &Arc<Live>, headers: &http::HeaderMap) -> Response<Body> {
    let from = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<usize>().ok())
        .unwrap_or(0);
    let rx = live.subscribe();
    let live = live.clone();
    let first = Bytes::from_static(b"retry: 1000\n\n");
    let s = futures_util::stream::unfold(
        (live, rx, from, Some(first)),
        |(live, mut rx, next, first)| async move {
            if let Some(f) = first {
                return Some((Ok(Frame::data(f)), (live, rx, next, None)));
            }
            loop {
                let (bytes, n) = live.frames_from(next);
                if !bytes.is_empty() {
                    return Some((Ok(Frame::data(bytes)), (live, rx, n, None)));
                }
                if live.ended() {
                    return None;
                }
                rx.changed().await.ok()?;
            }
        },
    );
    let mut r =
        Response::new(Either::Right(StreamBody::new(Box::pin(s)
            as std::pin::Pin<
                Box<dyn futures_util::Stream<Item = _> + Send + Sync>,
            >)));
    r.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
    r.headers_mut()
        .insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    r
}

/// `POST /api/control` with `{"action": "users", "users": 50, "spawn_rate": 10,
/// "at_once": false}`, `{"action": "multiply", "multiply": 3}`, `{"action": "rate",
/// "rate": 2.5}` (sessions per second; `"2.5/s"` too), or
/// `{"action": "pause" | "resume" | "stop"}`.
fn control(live: &Live, body: &Bytes) -> Response<Body> {
    let v: serde_json::Value = match serde_json::from_slice(body) {
        Ok(v) => v,
        Err(e) => return json_error(StatusCode::BAD_REQUEST, &format!("body is not JSON: {e}")),
    };
    let change = match parse_change(&v) {
        Ok(c) => c,
        Err(e) => return json_error(StatusCode::BAD_REQUEST, &e),
    };
    match live.control.apply(change) {
        Ok(e) => json(
            StatusCode::OK,
            serde_json::to_string(&e).unwrap_or_default(),
        ),
        Err(e) => json_error(StatusCode::BAD_REQUEST, &e.to_string()),
    }
}

/// A control request's change; the message says what is wrong (shown on the page).
pub(crate) fn parse_change(v: &serde_json::Value) -> Result<Change, String> {
    let action = v
        .get("action")
        .and_then(|a| a.as_str())
        .ok_or("`action` is missing (users, multiply, rate, pause, resume or stop)")?;
    let number = |key: &str| -> Result<Option<f64>, String> {
        match v.get(key) {
            None | Some(serde_json::Value::Null) => Ok(None),
            Some(serde_json::Value::String(s)) if s.trim().is_empty() => Ok(None),
            Some(serde_json::Value::String(s)) => s
                .trim()
                .parse::<f64>()
                .map(Some)
                .map_err(|_| format!("{key} must be a number (got `{s}`)")),
            Some(x) => x
                .as_f64()
                .map(Some)
                .ok_or_else(|| format!("{key} must be a number (got {x})")),
        }
    };
    let whole = |key: &str, min: f64| -> Result<u64, String> {
        let n = number(key)?.ok_or_else(|| format!("{key} is missing"))?;
        if !n.is_finite() || n.fract() != 0.0 || n < min || n > 1e9 {
            return Err(format!(
                "{key} must be a whole number from {min} to 1,000,000,000 (got {n})"
            ));
        }
        Ok(n as u64)
    };
    match action {
        "users" => {
            let users = whole("users", 0.0)?;
            let spawn_rate = number("spawn_rate")?;
            if let Some(r) = spawn_rate.filter(|r| !(r.is_finite() && *r > 0.0)) {
                return Err(format!(
                    "spawn rate must be a positive number of users per second (got {r})"
                ));
            }
            Ok(Change::Users {
                users,
                spawn_rate,
                at_once: v.get("at_once").and_then(|b| b.as_bool()).unwrap_or(false),
            })
        }
        "multiply" => Ok(Change::Multiply(whole("multiply", 1.0)?)),
        "rate" => {
            let rate = match v.get("rate") {
                Some(serde_json::Value::String(s)) => crate::profile::stages::rate(s)
                    .ok_or_else(|| format!("rate must be sessions per second > 0 (got `{s}`)"))?,
                _ => number("rate")?.ok_or("rate is missing")?,
            };
            if !(rate.is_finite() && rate > 0.0) {
                return Err(format!(
                    "rate must be a positive number of sessions per second (got {rate})"
                ));
            }
            Ok(Change::Rate(rate))
        }
        "pause" => Ok(Change::Pause),
        "resume" => Ok(Change::Resume),
        "stop" => Ok(Change::Stop),
        other => Err(format!(
            "unknown action `{other}` (users, multiply, rate, pause, resume or stop)"
        )),
    }
}

fn download(live: &Live, name: &str) -> Response<Body> {
    let s = live.summary();
    let (ctype, body) = match name {
        "summary.json" => ("application/json", Ok(crate::report::to_json(&s))),
        "report.html" => (
            "text/html; charset=utf-8",
            Ok(crate::report::render_html(&s)),
        ),
        "stats.csv" => ("text/csv", crate::report::stats_csv(&s)),
        "stats_history.csv" => ("text/csv", crate::report::stats_history_csv(&s)),
        "failures.csv" => ("text/csv", Ok(crate::report::failures_csv(&s))),
        _ => return text(StatusCode::NOT_FOUND, "no such download\n"),
    };
    match body {
        Ok(t) => {
            let mut r = typed(StatusCode::OK, ctype, t);
            if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{name}\"")) {
                r.headers_mut().insert(CONTENT_DISPOSITION, v);
            }
            r
        }
        Err(e) => text(StatusCode::INTERNAL_SERVER_ERROR, &format!("{e}\n")),
    }
}

pub(crate) fn is_loopback_host(host: &str) -> bool {
    let name = if let Some(rest) = host.strip_prefix('[') {
        rest.split(']').next().unwrap_or("")
    } else {
        host.rsplit_once(':').map_or(host, |(h, _)| h)
    };
    name.eq_ignore_ascii_case("localhost")
        || name
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

pub(crate) fn query_param(query: &str, key: &str) -> Option<String> {
    query.split('&').find_map(|kv| {
        let (k, v) = kv.split_once('=')?;
        (k == key).then(|| {
            percent_encoding::percent_decode_str(v)
                .decode_utf8_lossy()
                .into_owned()
        })
    })
}

pub(crate) fn typed(code: StatusCode, ctype: &'static str, body: String) -> Response<Body> {
    let mut r = Response::new(Either::Left(Full::new(Bytes::from(body))));
    *r.status_mut() = code;
    r.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(ctype));
    r.headers_mut()
        .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

pub(crate) fn text(code: StatusCode, body: &str) -> Response<Body> {
    typed(code, "text/plain; charset=utf-8", body.to_string())
}

pub(crate) fn json(code: StatusCode, body: String) -> Response<Body> {
    typed(code, "application/json", body)
}

pub(crate) fn json_error(code: StatusCode, msg: &str) -> Response<Body> {
    json(code, serde_json::json!({ "error": msg }).to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn control_bodies_parse_or_say_why() {
        assert_eq!(
            parse_change(&json!({"action": "users", "users": 50, "spawn_rate": "5"})),
            Ok(Change::Users {
                users: 50,
                spawn_rate: Some(5.0),
                at_once: false
            })
        );
        let e = parse_change(&json!({"action": "users", "users": -1})).unwrap_err();
        assert!(e.contains("users must be a whole number"), "{e}");
        let e = parse_change(&json!({"action": "users", "users": 3, "spawn_rate": 0})).unwrap_err();
        assert!(e.contains("spawn rate must be a positive"), "{e}");
        assert!(parse_change(&json!({"action": "multiply", "multiply": 0})).is_err());
        assert_eq!(
            parse_change(&json!({"action": "rate", "rate": "2.5/s"})),
            Ok(Change::Rate(2.5))
        );
        assert_eq!(
            parse_change(&json!({"action": "rate", "rate": 4})),
            Ok(Change::Rate(4.0))
        );
        assert!(parse_change(&json!({"action": "rate", "rate": 0})).is_err());
        assert!(parse_change(&json!({"action": "rate", "rate": "fast"})).is_err());
        assert!(parse_change(&json!({"action": "jump"})).is_err());
        assert_eq!(parse_change(&json!({"action": "stop"})), Ok(Change::Stop));
    }

    #[test]
    fn loopback_hosts() {
        for h in [
            "127.0.0.1:8089",
            "localhost:1",
            "[::1]:8089",
            "LOCALHOST",
            "127.0.0.2",
        ] {
            assert!(is_loopback_host(h), "{h}");
        }
        for h in ["evil.example:8089", "10.0.0.1:80", "", "[fe80::1]:80"] {
            assert!(!is_loopback_host(h), "{h}");
        }
        assert_eq!(
            query_param("a=1&token=x%2Fy", "token").as_deref(),
            Some("x/y")
        );
    }
}
