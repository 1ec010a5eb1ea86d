//! Trace exchanges into a HAR 1.2 document that Chromium DevTools and other viewers open.
//!
//! Every field HAR 1.2 requires is written: `log.version`, `log.creator`, and per entry
//! `startedDateTime`, `time`, `request`, `response`, `cache`, `timings` (`send`, `wait`,
//! `receive`; the phases a trace does not measure are −1). Timings are the recorded ones:
//! `wait` is the time to the response head, `receive` the rest, so `time` = `done_us` and
//! `startedDateTime` = `sent_at`, both to the microsecond — [`super::import`] reads them back
//! into the same plan.
//!
//! A streamed response is exported whole (its body as captured), with the arrival of each
//! chunk in `_chunks: [{"time": ms from the send, "bytes": n}]`. Each keyed session is one
//! page (`pageref`); exchanges without a session carry their connection in `connection`.
//! A body cut at the recorder's cap carries `content._truncated: true`; a redacted header
//! keeps its `[redacted]` value.
//!
//! # Invariants
//! - Entries are in send order (`t_us`, then `id`).
//! - `time` equals the sum of the non-negative `timings` up to float rounding.

use crate::trace::{BodyData, Exchange};
use chrono::SecondsFormat;
use serde_json::{json, Map, Value};
use std::collections::HashMap;

/// A HAR document of `exchanges` (any order), whose URLs start with `base` (e.g.
/// `http://127.0.0.1:8000`).
pub fn document(exchanges: &mut [Exchange], base: &str, comment: &str) -> Value {
    exchanges.sort_by_key(|e| (e.t_us, e.id));
    // Dates from one origin plus `t_us`, so offsets read back exactly (a trace's `sent_at`
    // is rounded to the µs on its own and may differ from its `t_us` by one).
    let zero = exchanges
        .first()
        .map(|e| e.sent_at - chrono::Duration::microseconds(e.t_us as i64))
        .unwrap_or_default();
    let date = |ex: &Exchange| {
        (zero + chrono::Duration::microseconds(ex.t_us as i64))
            .to_rfc3339_opts(SecondsFormat::Micros, true)
    };
    let base = base.trim_end_matches('/');
    let mut pages: Vec<Value> = Vec::new();
    let mut page_of: HashMap<&str, String> = HashMap::new();
    let mut entries = Vec::with_capacity(exchanges.len());
    for ex in exchanges.iter() {
        let pageref = ex.session.as_deref().map(|s| {
            page_of
                .entry(s)
                .or_insert_with(|| {
                    let id = format!("session_{}", pages.len() + 1);
                    pages.push(json!({
                        "startedDateTime": date(ex),
                        "id": id,
                        "title": s,
                        "pageTimings": {"onContentLoad": -1, "onLoad": -1},
                    }));
                    id
                })
                .clone()
        });
        entries.push(entry(ex, &date(ex), base, pageref));
    }
    json!({
        "log": {
            "version": "1.2",
            "creator": {"name": "reprise", "version": env!("CARGO_PKG_VERSION")},
            "pages": pages,
            "entries": entries,
            "comment": comment,
        }
    })
}

fn ms(us: u64) -> f64 {
    us as f64 / 1000.0
}

fn entry(ex: &Exchange, started: &str, base: &str, pageref: Option<String>) -> Value {
    let url = match &ex.req.query {
        Some(q) => format!("{base}{}?{q}", ex.req.path),
        None => format!("{base}{}", ex.req.path),
    };
    let ttfb = ex.ttfb_us.unwrap_or(ex.done_us).min(ex.done_us);
    let mut e = Map::new();
    if let Some(p) = pageref {
        e.insert("pageref".into(), p.into());
    }
    e.insert("startedDateTime".into(), started.into());
    e.insert("time".into(), ms(ex.done_us).into());
    e.insert("request".into(), request(ex, &url));
    e.insert("response".into(), response(ex));
    e.insert("cache".into(), json!({}));
    e.insert(
        "timings".into(),
        json!({
            "blocked": -1, "dns": -1, "connect": -1, "ssl": -1,
            "send": 0, "wait": ms(ttfb), "receive": ms(ex.done_us - ttfb),
        }),
    );
    e.insert("connection".into(), ex.conn.to_string().into());
    if let Some(s) = &ex.session {
        e.insert("_session".into(), s.clone().into());
    }
    Value::Object(e)
}

fn pairs(headers: &[(String, String)]) -> Vec<Value> {
    headers
        .iter()
        .map(|(n, v)| json!({"name": n, "value": v}))
        .collect()
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

fn request(ex: &Exchange, url: &str) -> Value {
    let query: Vec<Value> = ex
        .req
        .query
        .as_deref()
        .unwrap_or("")
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (n, v) = p.split_once('=').unwrap_or((p, ""));
            json!({"name": decode(n), "value": decode(v)})
        })
        .collect();
    let mut r = json!({
        "method": ex.req.method,
        "url": url,
        "httpVersion": "HTTP/1.1",
        "cookies": [],
        "headers": pairs(&ex.req.headers),
        "queryString": query,
        "headersSize": -1,
        "bodySize": ex.req.body.len,
    });
    if !ex.req.body.is_empty() {
        let mime = header(&ex.req.headers, "content-type").unwrap_or("");
        let mut post = json!({"mimeType": mime});
        let (text, base64) = text(&ex.req.body.data);
        post["text"] = text.into();
        if base64 {
            post["_encoding"] = "base64".into();
        }
        r["postData"] = post;
    }
    r
}

fn decode(s: &str) -> String {
    percent_encoding::percent_decode_str(&s.replace('+', " "))
        .decode_utf8_lossy()
        .into_owned()
}

fn text(data: &BodyData) -> (String, bool) {
    match data {
        BodyData::Json(v) => (v.to_string(), false),
        BodyData::Text(t) => (t.clone(), false),
        BodyData::Base64(b) => (b.clone(), true),
    }
}

fn response(ex: &Exchange) -> Value {
    let Some(res) = &ex.res else {
        let message = ex
            .error
            .as_ref()
            .map(|e| format!("{}: {}", e.kind, e.message));
        return json!({
            "status": 0, "statusText": "", "httpVersion": "", "cookies": [], "headers": [],
            "content": {"size": 0, "mimeType": "x-unknown"}, "redirectURL": "",
            "headersSize": -1, "bodySize": -1, "_error": message,
        });
    };
    let mime = header(&res.headers, "content-type").unwrap_or("x-unknown");
    let mut content = json!({"size": res.body.len, "mimeType": mime});
    if !res.body.is_empty() {
        let (text, base64) = text(&res.body.data);
        content["text"] = text.into();
        if base64 {
            content["encoding"] = "base64".into();
        }
    }
    if res.body.truncated {
        content["_truncated"] = true.into();
    }
    let mut r = json!({
        "status": res.status,
        "statusText": http::StatusCode::from_u16(res.status)
            .ok()
            .and_then(|s| s.canonical_reason())
            .unwrap_or(""),
        "httpVersion": "HTTP/1.1",
        "cookies": [],
        "headers": pairs(&res.headers),
        "content": content,
        "redirectURL": header(&res.headers, "location").unwrap_or(""),
        "headersSize": -1,
        "bodySize": res.body.len,
    });
    if !res.chunks.is_empty() {
        let chunks: Vec<Value> = res
            .chunks
            .iter()
            .map(|(t, b)| json!({"time": ms(*t), "bytes": b}))
            .collect();
        r["_chunks"] = chunks.into();
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::har::{import, read};
    use crate::trace::{Body, Request, Response};
    use std::path::Path;

    fn ex(id: u64, session: Option<&str>, t_us: u64, done_us: u64) -> Exchange {
        Exchange {
            id,
            session: session.map(str::to_string),
            conn: 3,
            sent_at: chrono::DateTime::from_timestamp_micros(1_767_000_000_000_000 + t_us as i64)
                .unwrap(),
            t_us,
            ttfb_us: Some(done_us / 2),
            done_us,
            req: Request {
                method: "POST".into(),
                path: "/session/continue".into(),
                query: Some("a=1&b=x%20y".into()),
                headers: vec![("content-type".into(), "application/json".into())],
                body: Body::from_bytes(br#"{"thread_id":"t"}"#, 17),
            },
            res: Some(Response {
                status: 200,
                headers: vec![("content-type".into(), "text/event-stream".into())],
                body: Body::from_bytes(b"data: {}\n\n", 10),
                chunks: vec![(1_001, 5), (2_333, 5)],
            }),
            error: None,
        }
    }

    #[test]
    fn a_document_has_what_har_1_2_requires_and_reads_back_exactly() {
        let mut xs = vec![
            ex(2, Some("t"), 1_234_567, 20_001),
            ex(1, Some("t"), 7, 3_333),
        ];
        let doc = document(&mut xs, "http://h:1/", "c");
        let log = &doc["log"];
        assert_eq!(log["version"], "1.2");
        assert_eq!(log["creator"]["name"], "reprise");
        assert_eq!(log["pages"].as_array().unwrap().len(), 1);
        let e = &log["entries"][0];
        for k in [
            "startedDateTime",
            "time",
            "request",
            "response",
            "cache",
            "timings",
        ] {
            assert!(!e[k].is_null(), "{k}");
        }
        assert_eq!(
            e["request"]["url"],
            "http://h:1/session/continue?a=1&b=x%20y"
        );
        assert_eq!(e["request"]["queryString"][1]["value"], "x y");
        assert_eq!(e["response"]["statusText"], "OK");
        assert_eq!(e["pageref"], "session_1");
        let t = &e["timings"];
        let sum = t["send"].as_f64().unwrap()
            + t["wait"].as_f64().unwrap()
            + t["receive"].as_f64().unwrap();
        assert!((sum - e["time"].as_f64().unwrap()).abs() < 1e-9);

        let har = read::parse(Path::new("x.har"), doc.to_string().as_bytes()).unwrap();
        let back = import::import(&har, &import::Options::default()).exchanges;
        assert_eq!(back.len(), 2);
        for (a, b) in xs.iter().zip(&back) {
            assert_eq!(a.sent_at, b.sent_at);
            assert_eq!(a.done_us, b.done_us);
            assert_eq!(a.ttfb_us, b.ttfb_us);
            assert_eq!(a.req.query, b.req.query);
            assert_eq!(a.req.body, b.req.body);
            assert_eq!(
                a.res.as_ref().unwrap().chunks,
                b.res.as_ref().unwrap().chunks
            );
            assert_eq!(a.res.as_ref().unwrap().body, b.res.as_ref().unwrap().body);
        }
        assert_eq!(back[1].t_us - back[0].t_us, 1_234_560);
    }

    #[test]
    fn failures_truncation_and_binary_bodies_are_kept() {
        let mut a = ex(1, None, 0, 10);
        a.res = None;
        a.error = Some(crate::trace::ExchangeError {
            kind: "timeout".into(),
            message: "no response in 60s".into(),
        });
        let mut b = ex(2, None, 5, 10);
        b.req.body = Body::from_bytes(&[0xff, 0], 2);
        b.res.as_mut().unwrap().body = Body::from_bytes(b"cut", 100);
        let doc = document(&mut [a, b], "http://h", "");
        let e = &doc["log"]["entries"];
        assert_eq!(e[0]["response"]["status"], 0);
        assert_eq!(e[0]["response"]["_error"], "timeout: no response in 60s");
        assert_eq!(e[1]["request"]["postData"]["_encoding"], "base64");
        assert_eq!(e[1]["response"]["content"]["_truncated"], true);
        assert_eq!(e[1]["response"]["content"]["size"], 100);
        assert!(e[1].get("pageref").is_none());
        let har = read::parse(Path::new("x.har"), doc.to_string().as_bytes()).unwrap();
        let opts = import::Options {
            keep_all: true,
            ..Default::default()
        };
        let back = import::import(&har, &opts).exchanges;
        assert_eq!(back[1].req.body.to_bytes(), vec![0xff, 0]);
        let body = &back[1].res.as_ref().unwrap().body;
        assert!(body.truncated && body.len == 100);
        assert!(back[0]
            .error
            .as_ref()
            .unwrap()
            .message
            .contains("no response in 60s"));
    }
}
