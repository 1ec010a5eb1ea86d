//! HAR entries into trace exchanges: times, sessions, noise, credentials.
//!
//! Each kept entry becomes one [`Exchange`]: `sent_at` is its `startedDateTime`, `t_us` its
//! offset from the earliest kept entry, `done_us` its `time` and `ttfb_us` its `time`
//! minus `timings.receive`. The plan's think time (next send − the dependency's
//! completion) is therefore exactly what the HAR says, to its microsecond.
//!
//! Sessions are found in this order:
//! 1. the recorder's session-key rules ([`session::Rules`], the `--session-*` flags);
//! 2. the `Authorization`, else the `Cookie` value of the request (a hash of it, never the
//!    value) — one browser login is one user;
//! 3. the entry's `pageref` — one page view is one user.
//!
//! Entries with none of these keep `session: null` and replay grouped by their `connection`.
//!
//! # Invariants
//! - Session keys and credentials are read before redaction; redaction is then applied
//!   exactly as the recorder applies it ([`Redaction::apply`]).
//! - Placeholder credentials (a sanitised export's `[sanitized]`, `[REDACTED]`…) never key
//!   a session and are stored as [`REDACTED`], so replay never sends them.
//! - Exchange ids follow send order (ties: the HAR's order).

use super::read::{Entry, Har};
use super::skip;
use crate::correlate::session;
use crate::record::Redaction;
use crate::trace::{self, Body, Exchange, ExchangeError, REDACTED};
use chrono::{DateTime, Utc};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::hash::{Hash, Hasher};

/// How to import.
#[derive(Debug, Clone, Default)]
pub struct Options {
    pub rules: session::Rules,
    pub redaction: Redaction,
    /// Import browser noise too (static assets, CONNECT, WebSocket upgrades, status 0).
    pub keep_all: bool,
}

/// What an import produced.
#[derive(Debug, Clone)]
pub struct Imported {
    /// Exchanges in send order.
    pub exchanges: Vec<Exchange>,
    pub report: Report,
    /// The most frequent `scheme://host[:port]` of the kept entries (the export's default).
    pub origin: Option<String>,
}

/// Counts for the user: what was kept, what was skipped and why, how sessions were found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    pub entries: usize,
    pub imported: usize,
    /// Skipped entries per reason.
    pub skipped: BTreeMap<String, usize>,
    /// Distinct sessions per way they were found: `rules`, `credentials`, `page`.
    pub sessions: BTreeMap<&'static str, usize>,
    /// Exchanges that belong to no session (grouped by connection at replay).
    pub unkeyed: usize,
    /// Why the HAR looks exported without its credentials, when it does.
    pub sanitized: Option<String>,
}

impl Report {
    pub fn sessions_total(&self) -> usize {
        self.sessions.values().sum()
    }
}

/// Imports the entries of `har`.
pub fn import(har: &Har, options: &Options) -> Imported {
    let mut report = Report {
        entries: har.entries.len(),
        sanitized: sanitized(har),
        ..Report::default()
    };
    let mut kept: Vec<&Entry> = Vec::new();
    for e in &har.entries {
        match skip::reason(e).filter(|_| !options.keep_all) {
            Some(why) => *report.skipped.entry(why).or_default() += 1,
            None => kept.push(e),
        }
    }
    kept.sort_by_key(|e| (e.started, e.index));
    let start = kept.first().map(|e| e.started);
    let mut conns: HashMap<String, u64> = HashMap::new();
    let mut origins: HashMap<String, usize> = HashMap::new();
    let mut found: HashMap<&'static str, HashSet<String>> = HashMap::new();
    let mut exchanges = Vec::with_capacity(kept.len());
    for (id, e) in kept.into_iter().enumerate() {
        let (origin, path, query) = split_url(&e.request.url);
        if let Some(o) = origin {
            *origins.entry(o).or_default() += 1;
        }
        let next_conn = conns.len() as u64 + 1;
        let conn = match &e.connection {
            Some(c) => *conns.entry(c.clone()).or_insert(next_conn),
            None => 0,
        };
        let mut ex = exchange(id as u64, e, start.unwrap_or(e.started), conn, path, query);
        let keyed = key(e, &ex, &options.rules);
        if let Some((how, k)) = &keyed {
            found.entry(how).or_default().insert(k.clone());
        } else {
            report.unkeyed += 1;
        }
        ex.session = keyed.map(|(_, k)| k);
        mark_placeholders(&mut ex);
        options.redaction.apply(&mut ex);
        exchanges.push(ex);
    }
    report.imported = exchanges.len();
    report.sessions = found.into_iter().map(|(k, v)| (k, v.len())).collect();
    let origin = origins
        .into_iter()
        .max_by(|a, b| a.1.cmp(&b.1).then_with(|| b.0.cmp(&a.0)))
        .map(|(o, _)| o);
    Imported {
        exchanges,
        report,
        origin,
    }
}

fn exchange(
    id: u64,
    e: &Entry,
    start: DateTime<Utc>,
    conn: u64,
    path: String,
    query: Option<String>,
) -> Exchange {
    let t_us = (e.started - start).num_microseconds().unwrap_or(0).max(0) as u64;
    let headers: trace::Headers = e
        .request
        .headers
        .iter()
        .map(|(n, v)| (n.to_ascii_lowercase(), v.clone()))
        .collect();
    let req_body = match &e.request.body {
        Some(b) => Body::from_bytes(b, b.len() as u64),
        None => Body::empty(),
    };
    let res = e.response.as_ref().map(|r| trace::Response {
        status: r.status,
        headers: r
            .headers
            .iter()
            .map(|(n, v)| (n.to_ascii_lowercase(), v.clone()))
            .collect(),
        body: Body::from_bytes(&r.body, r.body_len),
        chunks: r.chunks.clone(),
    });
    let error = match (&res, &e.error) {
        (None, msg) => Some(ExchangeError {
            kind: "har".into(),
            message: msg
                .clone()
                .unwrap_or_else(|| "no response (status 0)".into()),
        }),
        (Some(_), _) => None,
    };
    Exchange {
        id,
        session: None,
        conn,
        sent_at: e.started,
        t_us,
        ttfb_us: res.as_ref().map(|_| e.ttfb_us),
        done_us: e.time_us,
        req: trace::Request {
            method: e.request.method.to_ascii_uppercase(),
            path,
            query,
            headers,
            body: req_body,
        },
        res,
        error,
    }
}

/// The session of an entry, and how it was found.
fn key(e: &Entry, ex: &Exchange, rules: &session::Rules) -> Option<(&'static str, String)> {
    if let Some(k) = rules.key_of(ex) {
        return Some(("rules", k));
    }
    let header = |name: &str| {
        ex.req
            .headers
            .iter()
            .find(|(n, v)| n == name && !is_placeholder(v))
            .map(|(_, v)| v.clone())
    };
    let cookie = header("cookie").or_else(|| {
        let jar: Vec<String> = e
            .request
            .cookies
            .iter()
            .filter(|(_, v)| !is_placeholder(v))
            .map(|(n, v)| format!("{n}={v}"))
            .collect();
        (!jar.is_empty()).then(|| jar.join("; "))
    });
    if let Some(v) = header("authorization") {
        return Some(("credentials", format!("authorization:{:016x}", hash(&v))));
    }
    if let Some(v) = cookie {
        return Some(("credentials", format!("cookie:{:016x}", hash(&v))));
    }
    e.pageref
        .as_ref()
        .filter(|p| !p.is_empty())
        .map(|p| ("page", format!("page:{p}")))
}

/// A stable 64-bit hash (FNV-1a is enough: keys only need to differ, not to be secret —
/// the value itself never reaches the file).
fn hash(s: &str) -> u64 {
    struct Fnv(u64);
    impl Hasher for Fnv {
        fn finish(&self) -> u64 {
            self.0
        }
        fn write(&mut self, bytes: &[u8]) {
            for b in bytes {
                self.0 ^= u64::from(*b);
                self.0 = self.0.wrapping_mul(0x100_0000_01b3);
            }
        }
    }
    let mut h = Fnv(0xcbf2_9ce4_8422_2325);
    s.hash(&mut h);
    h.finish()
}

/// Credential headers a HAR tool replaced by a placeholder become [`REDACTED`].
fn mark_placeholders(ex: &mut Exchange) {
    let fix = |headers: &mut trace::Headers| {
        for (n, v) in headers.iter_mut() {
            if CREDENTIAL_HEADERS.contains(&n.as_str()) && is_placeholder(v) {
                *v = REDACTED.to_string();
            }
        }
    };
    fix(&mut ex.req.headers);
    if let Some(r) = ex.res.as_mut() {
        fix(&mut r.headers);
    }
}

const CREDENTIAL_HEADERS: &[&str] = &[
    "authorization",
    "cookie",
    "set-cookie",
    "proxy-authorization",
    "x-api-key",
];

/// Values HAR sanitisers write in place of a secret.
fn is_placeholder(v: &str) -> bool {
    let v = v.trim().to_ascii_lowercase();
    let v = v.trim_matches(|c| c == '[' || c == ']' || c == '<' || c == '>');
    matches!(
        v,
        "" | "redacted" | "sanitized" | "sanitised" | "obfuscated" | "filtered" | "removed"
    ) || v.chars().all(|c| c == '*')
        || v.ends_with(" [redacted]")
}

/// Why the HAR looks exported without credentials, if it does.
fn sanitized(har: &Har) -> Option<String> {
    let mut placeholders = 0usize;
    let mut credentials = 0usize;
    for e in &har.entries {
        let res_headers = e.response.iter().flat_map(|r| r.headers.iter());
        for (n, v) in e.request.headers.iter().chain(res_headers) {
            if CREDENTIAL_HEADERS.contains(&n.to_ascii_lowercase().as_str()) {
                if is_placeholder(v) {
                    placeholders += 1;
                } else {
                    credentials += 1;
                }
            }
        }
    }
    if placeholders > 0 {
        return Some(format!(
            "{placeholders} credential header value(s) were replaced by a placeholder \
             (a sanitised export)"
        ));
    }
    let devtools = har
        .creator_name
        .as_deref()
        .is_some_and(|n| n.eq_ignore_ascii_case("WebInspector"));
    (devtools && credentials == 0 && !har.entries.is_empty()).then(|| {
        "exported by Chromium DevTools with no Cookie, Set-Cookie or Authorization header in \
         any entry: probably \"Export HAR (sanitized)\", DevTools' default"
            .to_string()
    })
}

/// `scheme://authority`, the path (percent-encoded as written, `/` when empty) and the query
/// of a HAR URL; the fragment is dropped.
pub fn split_url(url: &str) -> (Option<String>, String, Option<String>) {
    let url = url.split('#').next().unwrap_or("");
    let (origin, rest) = match url.find("://") {
        Some(i) => {
            let after = &url[i + 3..];
            let end = after.find(['/', '?']).unwrap_or(after.len());
            (Some(url[..i + 3 + end].to_string()), &after[end..])
        }
        None => (None, url),
    };
    let (path, query) = match rest.split_once('?') {
        Some((p, q)) => (p, Some(q.to_string())),
        None => (rest, None),
    };
    let path = if path.is_empty() {
        "/".to_string()
    } else {
        path.replace(' ', "%20")
    };
    (origin, path, query)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::har::read;
    use serde_json::{json, Value};
    use std::path::Path;

    fn har(entries: Vec<Value>, creator: &str) -> Har {
        let v = json!({"log": {"creator": {"name": creator}, "entries": entries}});
        read::parse(Path::new("t.har"), v.to_string().as_bytes()).unwrap()
    }

    fn entry(at_ms: u64, time: f64, method: &str, url: &str, req: Value, res: Value) -> Value {
        let started = chrono::DateTime::<Utc>::from_timestamp_micros(
            1_767_000_000_000_000 + at_ms as i64 * 1000,
        )
        .unwrap()
        .to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
        let mut e = json!({
            "startedDateTime": started, "time": time,
            "request": {"method": method, "url": url, "headers": []},
            "response": {"status": 200, "headers": [],
                "content": {"mimeType": "application/json", "text": res.to_string()}},
            "timings": {"send": 0, "wait": time - 1.0, "receive": 1.0}
        });
        if !req.is_null() {
            e["request"]["postData"] =
                json!({"mimeType": "application/json", "text": req.to_string()});
        }
        e
    }

    #[test]
    fn times_follow_the_har_exactly_and_sessions_come_from_the_rules() {
        let t = "3f2c1a9e-8c4b-4f1e-9a53-2b7d7c1e0f44";
        // out of order in the file
        let entries = vec![
            entry(
                1500,
                20.125,
                "POST",
                "http://h:8/session/continue",
                json!({"thread_id": t}),
                json!({"turn": 1}),
            ),
            entry(
                0,
                5.5,
                "POST",
                "http://h:8/session/start",
                json!({}),
                json!({"thread_id": t}),
            ),
            entry(
                900,
                2.0,
                "GET",
                &format!("http://h:8/session/status/{t}?x=1#f"),
                Value::Null,
                json!({}),
            ),
        ];
        let imp = import(&har(entries, "mitmproxy"), &Options::default());
        let xs = &imp.exchanges;
        let paths: Vec<_> = xs.iter().map(|x| x.req.path.as_str()).collect();
        assert_eq!(
            paths,
            [
                "/session/start",
                &format!("/session/status/{t}"),
                "/session/continue"
            ]
        );
        assert_eq!(
            xs.iter().map(|x| x.t_us).collect::<Vec<_>>(),
            [0, 900_000, 1_500_000]
        );
        assert_eq!(xs[0].done_us, 5_500);
        assert_eq!(xs[2].done_us, 20_125);
        assert_eq!(xs[2].ttfb_us, Some(19_125));
        assert_eq!(xs[1].req.query.as_deref(), Some("x=1"));
        assert!(xs.iter().all(|x| x.session.as_deref() == Some(t)));
        assert_eq!(imp.report.sessions.get("rules"), Some(&1));
        assert_eq!(imp.origin.as_deref(), Some("http://h:8"));
        // think time: next send − the latest completion before it (the status poll, done at 902 ms)
        let plan = crate::replay::plan::Plan::from_exchanges(xs.clone());
        let gaps: Vec<u128> = plan.sessions[0]
            .steps
            .iter()
            .map(|s| s.gap.as_micros())
            .collect();
        assert_eq!(gaps, [0, 900_000 - 5_500, 1_500_000 - 902_000]);
    }

    #[test]
    fn credentials_then_pages_key_sessions_and_are_redacted() {
        let mut a = entry(0, 1.0, "GET", "http://h/api/me", Value::Null, json!({}));
        a["request"]["headers"] = json!([{"name": "Authorization", "value": "Bearer one"}]);
        let mut b = entry(5, 1.0, "GET", "http://h/api/me", Value::Null, json!({}));
        b["request"]["cookies"] = json!([{"name": "sid", "value": "abc"}]);
        let mut c = entry(9, 1.0, "GET", "http://h/api/x", Value::Null, json!({}));
        c["pageref"] = json!("page_1");
        let d = entry(12, 1.0, "GET", "http://h/api/y", Value::Null, json!({}));
        let imp = import(&har(vec![a, b, c, d], "x"), &Options::default());
        let keys: Vec<_> = imp.exchanges.iter().map(|x| x.session.clone()).collect();
        assert!(keys[0].as_deref().unwrap().starts_with("authorization:"));
        assert!(keys[1].as_deref().unwrap().starts_with("cookie:"));
        assert_eq!(keys[2].as_deref(), Some("page:page_1"));
        assert_eq!(keys[3], None);
        assert_eq!(imp.report.sessions.get("credentials"), Some(&2));
        assert_eq!(imp.report.unkeyed, 1);
        assert_eq!(imp.exchanges[0].req.headers[0].1, REDACTED);
        let line = serde_json::to_string(&imp.exchanges).unwrap();
        assert!(
            !line.contains("Bearer one") && !line.contains("abc"),
            "{line}"
        );
    }

    #[test]
    fn noise_is_counted_and_sanitised_exports_are_told() {
        let mut css = entry(0, 1.0, "GET", "http://h/a.css", Value::Null, json!({}));
        css["response"]["content"]["mimeType"] = json!("text/css");
        let mut gone = entry(1, 1.0, "POST", "http://h/x", json!({}), json!({}));
        gone["response"] = json!({"status": 0, "_error": "net::ERR_ABORTED"});
        let api = entry(2, 1.0, "GET", "http://h/api", Value::Null, json!({}));
        let h = har(vec![css, gone, api], "WebInspector");
        let imp = import(&h, &Options::default());
        assert_eq!(imp.report.imported, 1);
        assert_eq!(
            imp.report.skipped,
            BTreeMap::from([
                ("no response (status 0)".to_string(), 1),
                ("static asset (text/css)".to_string(), 1)
            ])
        );
        assert!(imp
            .report
            .sanitized
            .unwrap()
            .contains("Export HAR (sanitized)"));
        let all = import(
            &h,
            &Options {
                keep_all: true,
                ..Options::default()
            },
        );
        assert_eq!(all.report.imported, 3);
        let failed = all.exchanges.iter().find(|x| x.res.is_none()).unwrap();
        assert_eq!(failed.error.as_ref().unwrap().message, "net::ERR_ABORTED");

        let mut p = entry(0, 1.0, "GET", "http://h/api", Value::Null, json!({}));
        p["request"]["headers"] = json!([{"name": "Cookie", "value": "[sanitized]"}]);
        let imp = import(
            &har(vec![p], "x"),
            &Options {
                redaction: Redaction::none(),
                ..Default::default()
            },
        );
        assert!(imp.report.sanitized.unwrap().contains("placeholder"));
        assert_eq!(
            imp.exchanges[0].session, None,
            "a placeholder keys no session"
        );
        assert_eq!(imp.exchanges[0].req.headers[0].1, REDACTED);
    }

    #[test]
    fn urls_split() {
        assert_eq!(
            split_url("https://a.b:9/p/q?x=1&y#frag"),
            (
                Some("https://a.b:9".into()),
                "/p/q".into(),
                Some("x=1&y".into())
            )
        );
        assert_eq!(
            split_url("http://a.b"),
            (Some("http://a.b".into()), "/".into(), None)
        );
        assert_eq!(
            split_url("http://a.b?q"),
            (Some("http://a.b".into()), "/".into(), Some("q".into()))
        );
        assert_eq!(split_url("/rel path"), (None, "/rel%20path".into(), None));
    }
}
