//! Browser noise: the HAR entries an API load test does not replay by default.
//!
//! A browser session holds the page, its scripts, styles, images and fonts, CONNECT
//! tunnels, WebSocket upgrades and requests that never got a response (status 0: blocked,
//! cancelled, failed). None of them is the API traffic a replay is for; `--keep-all` keeps
//! them anyway.
//!
//! # Invariants
//! - Only `GET`/`HEAD` requests are ever static assets: a `POST` answered with HTML is the
//!   application's own traffic.
//! - A reason is a short stable text, so the importer can count entries per reason.

use super::read::Entry;

/// Why an entry is not imported, or `None` to import it.
pub fn reason(e: &Entry) -> Option<String> {
    let method = e.request.method.to_ascii_uppercase();
    if method == "CONNECT" {
        return Some("CONNECT tunnel".into());
    }
    let url = e.request.url.to_ascii_lowercase();
    let upgrade = e
        .request
        .headers
        .iter()
        .any(|(n, v)| n.eq_ignore_ascii_case("upgrade") && v.eq_ignore_ascii_case("websocket"));
    if e.websocket
        || upgrade
        || url.starts_with("ws://")
        || url.starts_with("wss://")
        || e.response.as_ref().is_some_and(|r| r.status == 101)
    {
        return Some("WebSocket upgrade".into());
    }
    let Some(res) = &e.response else {
        return Some("no response (status 0)".into());
    };
    if method != "GET" && method != "HEAD" {
        return None;
    }
    if let Some(kind) = e.resource_type.as_deref() {
        if STATIC_RESOURCE_TYPES.contains(&kind.to_ascii_lowercase().as_str()) {
            return Some(format!("static asset ({kind})"));
        }
    }
    let mime = res
        .mime
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    let static_mime = ["image/", "font/", "audio/", "video/"]
        .iter()
        .any(|p| mime.starts_with(p))
        || STATIC_MIME.contains(&mime.as_str());
    static_mime.then(|| format!("static asset ({mime})"))
}

/// Chromium's `_resourceType` values that are page resources, not API calls.
const STATIC_RESOURCE_TYPES: &[&str] = &[
    "document",
    "stylesheet",
    "script",
    "image",
    "font",
    "media",
    "manifest",
    "texttrack",
];

/// MIME types of page resources (besides `image/*`, `font/*`, `audio/*`, `video/*`).
const STATIC_MIME: &[&str] = &[
    "text/html",
    "application/xhtml+xml",
    "text/css",
    "text/javascript",
    "application/javascript",
    "application/x-javascript",
    "text/ecmascript",
    "application/ecmascript",
    "application/wasm",
    "application/manifest+json",
    "application/font-woff",
    "application/x-font-ttf",
    "application/vnd.ms-fontobject",
];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::har::read::{Request, Response};

    fn entry(method: &str, url: &str, status: Option<(u16, &str)>) -> Entry {
        Entry {
            index: 0,
            pageref: None,
            started: chrono::Utc::now(),
            time_us: 1,
            ttfb_us: 1,
            connection: None,
            request: Request {
                method: method.into(),
                url: url.into(),
                headers: vec![],
                cookies: vec![],
                body: None,
            },
            response: status.map(|(s, mime)| Response {
                status: s,
                headers: vec![],
                mime: mime.into(),
                body: vec![],
                body_len: 0,
                truncated: false,
                chunks: vec![],
            }),
            error: None,
            resource_type: None,
            websocket: false,
            custom: Default::default(),
        }
    }

    #[test]
    fn noise_is_named_and_api_calls_are_kept() {
        let r = |m, u, s| reason(&entry(m, u, s));
        assert_eq!(
            r(
                "GET",
                "http://h/a.css",
                Some((200, "text/css; charset=utf-8"))
            )
            .as_deref(),
            Some("static asset (text/css)")
        );
        assert_eq!(
            r("GET", "http://h/logo", Some((200, "image/png"))).as_deref(),
            Some("static asset (image/png)")
        );
        assert_eq!(
            r("CONNECT", "h:443", Some((200, ""))).as_deref(),
            Some("CONNECT tunnel")
        );
        assert_eq!(
            r("GET", "wss://h/ws", Some((101, ""))).as_deref(),
            Some("WebSocket upgrade")
        );
        assert_eq!(
            r("POST", "http://h/x", None).as_deref(),
            Some("no response (status 0)")
        );
        assert_eq!(r("POST", "http://h/form", Some((200, "text/html"))), None);
        assert_eq!(
            r("GET", "http://h/api", Some((200, "application/json"))),
            None
        );
        let mut doc = entry("GET", "http://h/", Some((200, "")));
        doc.resource_type = Some("document".into());
        assert_eq!(reason(&doc).as_deref(), Some("static asset (document)"));
        doc.resource_type = Some("fetch".into());
        assert_eq!(reason(&doc), None);
    }
}
