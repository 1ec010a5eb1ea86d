//! Reading recordings into a [`Builder`]: what loading a plan costs.
//!
//! A plan keeps of a recorded response only its status, its node and the correlation
//! candidates (tokens) of its headers and JSON body ([`super::plan`]), so building the whole
//! [`Exchange`](crate::trace::Exchange) of every line — a `serde_json::Value` of every
//! response body, every header as an owned string, the send timestamp parsed — is work
//! thrown away. A line as reprise writes it is read here into borrowed parts instead: the
//! response body is walked once in place for its tokens and its node (no document is
//! built), and identical bodies (a wrk recording: the same response 100,000 times) are
//! walked once, remembered by their text. The request is still parsed whole: it is what
//! the plan sends.
//!
//! The file is decompressed and parsed on a thread of its own while the calling thread
//! builds, in batches: two stages on two cores.
//!
//! # Invariants
//! - The plan built from a recording is the one [`Builder::add`] builds from its parsed
//!   exchanges (unit-tested on fixtures of every body kind).
//! - A line is taken here only if the full parse would take it (the same required fields,
//!   a valid `sent_at`, exactly one body form); any other line goes to the trace reader's
//!   own rules (`trace::Reader::next_with`), so damage is reported as before.

use super::plan::{sse_last_json, Builder, Key, Outcome};
use crate::correlate::discover::{self, Found, Token};
use crate::metrics::conversation::StreamScan;
use crate::trace::{self, Exchange};
use rustc_hash::FxHashMap as HashMap;
use serde::de::{DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use serde_json::value::RawValue;
use std::borrow::Cow;
use std::sync::Arc;

/// Bodies up to this size are remembered by their text (at most [`MAX_REMEMBERED`]).
const REMEMBER_BYTES: usize = 4096;
const MAX_REMEMBERED: usize = 8192;

/// An exchange line, borrowed from the decompressed frame.
#[derive(Deserialize)]
struct Line<'a> {
    id: u64,
    #[serde(borrow)]
    session: Option<Cow<'a, str>>,
    conn: u64,
    #[serde(borrow)]
    sent_at: Cow<'a, str>,
    t_us: u64,
    #[allow(dead_code)]
    ttfb_us: Option<u64>,
    done_us: u64,
    req: trace::Request,
    #[serde(borrow, default)]
    res: Option<Response<'a>>,
    #[serde(default)]
    #[allow(dead_code)]
    error: Option<trace::ExchangeError>,
}

#[derive(Deserialize)]
struct Response<'a> {
    status: u16,
    #[serde(borrow)]
    headers: Vec<(Cow<'a, str>, Cow<'a, str>)>,
    #[serde(borrow)]
    body: Body<'a>,
    #[serde(default)]
    #[allow(dead_code)]
    chunks: Vec<(u64, u64)>,
}

#[derive(Deserialize)]
struct Body<'a> {
    #[serde(borrow, default, deserialize_with = "present")]
    json: Option<&'a RawValue>,
    #[serde(borrow)]
    text: Option<Cow<'a, str>>,
    #[serde(borrow)]
    base64: Option<Cow<'a, str>>,
    #[allow(dead_code)]
    len: u64,
    #[serde(default)]
    #[allow(dead_code)]
    truncated: bool,
}

/// `Some` whenever the field is present, so `"json": null` is the JSON body `null`.
fn present<'de, D: Deserializer<'de>>(d: D) -> Result<Option<&'de RawValue>, D::Error> {
    <&RawValue>::deserialize(d).map(Some)
}

/// A walked body: its tokens and the string at the node pointer.
type Walked = (Arc<[Token]>, Option<Box<str>>);

/// What one worker of the load remembers of the bodies it walked.
#[derive(Default)]
struct Remembered {
    /// By the body's text: its tokens and the string at the node pointer.
    bodies: HashMap<Box<str>, Walked>,
}

impl Builder {
    /// Adds every exchange `reader` yields as recording number `source`, reading each line
    /// into the few parts the plan keeps (see the module docs). Returns what the reader
    /// learned of the file, or its I/O error.
    pub fn read(
        &mut self,
        source: u32,
        reader: trace::Reader,
    ) -> Result<trace::Integrity, trace::Error> {
        self.read_with(source, reader, |_, _, _, _| true)
    }

    /// [`Self::read`], calling `added` after each exchange with the builder, the
    /// exchange's session key, its completion (`t_us + done_us`) and how many exchanges its
    /// session holds now; reading stops early when `added` returns false.
    pub(super) fn read_with(
        &mut self,
        source: u32,
        mut reader: trace::Reader,
        mut added: impl FnMut(&mut Builder, Key<'_>, u64, usize) -> bool,
    ) -> Result<trace::Integrity, trace::Error> {
        const BATCH: usize = 512;
        /// One exchange as read: its parts, or (a line not written as reprise writes
        /// them) the whole parsed exchange.
        // not boxed: nearly every line is read into parts
        #[allow(clippy::large_enum_variant)]
        enum Read {
            Parts(Parts),
            Whole(Box<Exchange>),
        }
        let (tx, rx) = std::sync::mpsc::sync_channel::<Vec<Read>>(8);
        let declared = self.declared().to_vec();
        let node_pointer = self.node_pointer_str().to_string();
        let parse = std::thread::Builder::new()
            .name("plan-read".into())
            .spawn(move || {
                let mut batch = Vec::with_capacity(BATCH);
                let mut memo = Remembered::default();
                let mut fast =
                    |line: &[u8]| parts(line, &declared, &node_pointer, &mut memo).map(Read::Parts);
                let mut full = |ex: Exchange| Read::Whole(Box::new(ex));
                while let Some(r) = reader.next_with(&mut fast, &mut full) {
                    batch.push(r?);
                    if batch.len() == BATCH {
                        let full = std::mem::replace(&mut batch, Vec::with_capacity(BATCH));
                        if tx.send(full).is_err() {
                            break;
                        }
                    }
                }
                let _ = tx.send(batch);
                Ok(reader.integrity())
            })
            .map_err(|source| trace::Error::Io {
                path: "(plan reader thread)".into(),
                source,
            })?;
        'read: for batch in rx {
            for r in batch {
                let (session, conn, end, len) = match r {
                    Read::Whole(ex) => {
                        let (session, conn) = (ex.session.clone(), ex.conn);
                        let end = ex.t_us.saturating_add(ex.done_us);
                        (session, conn, end, self.add_one(source, *ex))
                    }
                    Read::Parts(p) => self.add_parts(source, p),
                };
                let key = Key {
                    source,
                    session: session.as_deref(),
                    conn,
                };
                if !added(self, key, end, len) {
                    break 'read;
                }
            }
        }
        parse.join().unwrap_or_else(|_| {
            Err(trace::Error::Io {
                path: "(plan reader thread)".into(),
                source: std::io::Error::other("the reader thread panicked"),
            })
        })
    }

    /// Adds one exchange read into parts; gives back its session and conn, its completion
    /// and how many exchanges its session holds now.
    fn add_parts(&mut self, source: u32, p: Parts) -> (Option<String>, u64, u64, usize) {
        let node = match &p.node {
            Some(name) => self.intern_node(name),
            None => u32::MAX,
        };
        let tokens = match p.tokens {
            Tokens::None => self.no_tokens(),
            Tokens::Shared(t) => t,
            Tokens::Own(t) => self.intern_tokens(t),
        };
        let key = Key {
            source,
            session: p.session.as_deref(),
            conn: p.conn,
        };
        let outcome = Outcome {
            status: p.status,
            node,
            tokens,
        };
        let len = self.push(key, (p.id, p.t_us, p.done_us), p.req, outcome);
        (p.session, p.conn, p.t_us.saturating_add(p.done_us), len)
    }
}

/// What the plan keeps of one exchange line, made on the reading thread.
struct Parts {
    id: u64,
    session: Option<String>,
    conn: u64,
    t_us: u64,
    done_us: u64,
    req: trace::Request,
    /// 0: no response.
    status: u16,
    node: Option<String>,
    tokens: Tokens,
}

enum Tokens {
    None,
    /// Remembered from an identical body (its node too).
    Shared(Arc<[Token]>),
    Own(Vec<Token>),
}

/// Reads one exchange line; `None` for a line the full parse must judge.
fn parts(
    line: &[u8],
    declared: &[String],
    node_pointer: &str,
    memo: &mut Remembered,
) -> Option<Parts> {
    let l: Line<'_> = serde_json::from_slice(line).ok()?;
    chrono::DateTime::parse_from_rfc3339(&l.sent_at).ok()?;
    let mut p = Parts {
        id: l.id,
        session: l.session.map(Cow::into_owned),
        conn: l.conn,
        t_us: l.t_us,
        done_us: l.done_us,
        req: l.req,
        status: 0,
        node: None,
        tokens: Tokens::None,
    };
    let Some(res) = l.res else {
        return Some(p);
    };
    let b = &res.body;
    if [b.json.is_some(), b.text.is_some(), b.base64.is_some()]
        .iter()
        .filter(|x| **x)
        .count()
        != 1
    {
        return None;
    }
    p.status = res.status.max(1);
    let headers: Vec<Token> = res
        .headers
        .iter()
        .filter_map(|(n, v)| discover::response_header_token(n, v))
        .collect();
    let node_wanted = !node_pointer.is_empty() && res.status < 400;
    let (body_tokens, node): (Tokens, Option<String>) = match b.json {
        Some(raw) => {
            let text = raw.get();
            let remembered = (text.len() <= REMEMBER_BYTES)
                .then(|| memo.bodies.get(text))
                .flatten();
            match remembered {
                Some((t, node)) => (
                    Tokens::Shared(t.clone()),
                    node.as_deref().map(str::to_string),
                ),
                None => {
                    let (tokens, node) = walk(text, declared, node_pointer);
                    if text.len() <= REMEMBER_BYTES && memo.bodies.len() < MAX_REMEMBERED {
                        let shared: Arc<[Token]> = Arc::from(tokens.clone());
                        let remembered_node = node.as_deref().map(Box::from);
                        memo.bodies.insert(text.into(), (shared, remembered_node));
                    }
                    (Tokens::Own(tokens), node)
                }
            }
        }
        None => {
            let sse = res
                .headers
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case("content-type"))
                .is_some_and(|(_, ct)| StreamScan::is_sse_content_type(ct.as_bytes()));
            let node = if sse && node_wanted {
                let text = b.text.as_deref()?; // base64 SSE: the full parse
                let r = trace::Response {
                    status: res.status,
                    headers: vec![("content-type".into(), "text/event-stream".into())],
                    body: trace::Body::from_bytes(text.as_bytes(), text.len() as u64),
                    chunks: Vec::new(),
                };
                let doc = sse_last_json(&r);
                let pointer = crate::metrics::conversation::Pointer::parse(node_pointer);
                match (doc, pointer) {
                    (Some(doc), Some(p)) => {
                        p.get(&doc).and_then(|v| v.as_str()).map(str::to_string)
                    }
                    _ => None,
                }
            } else {
                None
            };
            (Tokens::None, node)
        }
    };
    p.node = node.filter(|_| node_wanted);
    p.tokens = match (headers.is_empty(), body_tokens) {
        (true, t) => t,
        (false, Tokens::None) => Tokens::Own(headers),
        (false, Tokens::Own(t)) => Tokens::Own(headers.into_iter().chain(t).collect()),
        (false, Tokens::Shared(t)) => {
            Tokens::Own(headers.into_iter().chain(t.iter().cloned()).collect())
        }
    };
    Some(p)
}

/// The tokens of a JSON text (id-like string leaves, or any non-empty string at a declared
/// pointer, by pointer) and the string at `node_pointer`, walked in place.
fn walk(text: &str, declared: &[String], node_pointer: &str) -> (Vec<Token>, Option<String>) {
    let mut cx = Cx {
        ptr: String::new(),
        out: Vec::new(),
        declared,
        node_pointer,
        node: None,
    };
    let mut de = serde_json::Deserializer::from_str(text);
    let _ = Walk {
        cx: &mut cx,
        key: "value",
    }
    .deserialize(&mut de);
    (cx.out, cx.node)
}

struct Cx<'a> {
    ptr: String,
    out: Vec<Token>,
    declared: &'a [String],
    node_pointer: &'a str,
    node: Option<String>,
}

impl Cx<'_> {
    fn leaf(&mut self, key: &str, s: &str) {
        if !self.node_pointer.is_empty() && self.ptr == self.node_pointer {
            self.node = Some(s.to_string());
        }
        if discover::is_id_like(s) || (!s.is_empty() && self.declared.contains(&self.ptr)) {
            self.out.push(Token {
                value: s.to_string(),
                found: Found::Json(self.ptr.clone()),
                name: key.to_string(),
            });
        }
    }
}

/// One JSON value at `cx.ptr`; `key` names its string leaves (the nearest object key).
struct Walk<'c, 'a> {
    cx: &'c mut Cx<'a>,
    key: &'c str,
}

impl<'de> DeserializeSeed<'de> for Walk<'_, '_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Walk<'_, '_> {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_str<E>(self, s: &str) -> Result<(), E> {
        self.cx.leaf(self.key, s);
        Ok(())
    }

    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        Ok(())
    }

    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        Ok(())
    }

    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        Ok(())
    }

    fn visit_f64<E>(self, _: f64) -> Result<(), E> {
        Ok(())
    }

    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let mut i = 0usize;
        loop {
            let len = self.cx.ptr.len();
            self.cx.ptr.push('/');
            self.cx.ptr.push_str(itoa::Buffer::new().format(i));
            let more = seq.next_element_seed(Walk {
                cx: &mut *self.cx,
                key: self.key,
            })?;
            self.cx.ptr.truncate(len);
            if more.is_none() {
                return Ok(());
            }
            i += 1;
        }
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(k) = map.next_key_seed(KeySeed)? {
            let len = self.cx.ptr.len();
            self.cx.ptr.push('/');
            if k.contains(['~', '/']) {
                self.cx
                    .ptr
                    .push_str(&k.replace('~', "~0").replace('/', "~1"));
            } else {
                self.cx.ptr.push_str(&k);
            }
            map.next_value_seed(Walk {
                cx: &mut *self.cx,
                key: &k,
            })?;
            self.cx.ptr.truncate(len);
        }
        Ok(())
    }
}

/// An object key, borrowed from the text when it has no escapes.
struct KeySeed;

impl<'de> DeserializeSeed<'de> for KeySeed {
    type Value = Cow<'de, str>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Cow<'de, str>, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for KeySeed {
    type Value = Cow<'de, str>;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("an object key")
    }

    fn visit_borrowed_str<E>(self, s: &'de str) -> Result<Cow<'de, str>, E> {
        Ok(Cow::Borrowed(s))
    }

    fn visit_str<E>(self, s: &str) -> Result<Cow<'de, str>, E> {
        Ok(Cow::Owned(s.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::correlate::discover::tests::ex;
    use crate::replay::plan::Plan;
    use crate::trace::{Footer, Header, Writer};
    use serde_json::json;

    const T: &str = "3f2c1a9e-8c4b-4f1e-9a53-2b7d7c1e0f44";

    /// Every body kind, ids in headers and bodies, a failure, a declared pointer.
    fn fixtures() -> Vec<Exchange> {
        let mut v = vec![ex(
            1,
            0,
            100,
            "POST",
            "/session/start",
            json!({"student_id": "s-1"}),
            json!({"thread_id": T, "current_node": "APK", "a/b": {"k~": ["x-123456789"]}, "key": "abc"}),
        )];
        let mut sse = ex(
            2,
            200,
            300,
            "POST",
            "/session/continue/stream",
            json!({"thread_id": T}),
            json!(null),
        );
        let text = "data: {\"token\":\"Hi\"}\n\nevent: done\ndata: {\"current_node\":\"CI\"}\n\n";
        let r = sse.res.as_mut().unwrap();
        r.headers = vec![("content-type".into(), "text/event-stream".into())];
        r.body = trace::Body::from_bytes(text.as_bytes(), text.len() as u64);
        r.chunks = vec![(10, 5), (20, 7)];
        v.push(sse);
        let mut bin = ex(
            3,
            600,
            10,
            "GET",
            &format!("/session/status/{T}"),
            json!(null),
            json!(null),
        );
        let r = bin.res.as_mut().unwrap();
        r.body = trace::Body::from_bytes(&[0xff, 0xfe, 0x00], 3);
        r.headers = vec![("x-request-token".into(), "tok-9f8e7d6c5b".into())];
        v.push(bin);
        let mut failed = ex(4, 700, 10, "GET", "/x", json!(null), json!(null));
        failed.res = None;
        failed.error = Some(trace::ExchangeError {
            kind: "reset".into(),
            message: "connection reset".into(),
        });
        v.push(failed);
        let mut bad = ex(
            5,
            800,
            10,
            "POST",
            "/session/continue",
            json!({"thread_id": T, "x": "abc"}),
            json!({"current_node": "ERR", "thread_id": T}),
        );
        bad.res.as_mut().unwrap().status = 500;
        bad.req.query = Some("t=tok-9f8e7d6c5b&page=2".into());
        bad.req.headers = vec![("x-request-token".into(), "tok-9f8e7d6c5b".into())];
        v.push(bad);
        let mut cut = ex(6, 900, 10, "GET", "/cut", json!(null), json!(null));
        cut.res.as_mut().unwrap().body = trace::Body::from_bytes(br#"{"current_node":"#, 100);
        v.push(cut);
        let mut other = ex(
            7,
            50,
            10,
            "GET",
            "/health",
            json!(null),
            json!({"status": "ok"}),
        );
        other.session = None;
        other.conn = 9;
        v.push(other);
        v
    }

    /// Everything of a plan that a replay reads, as comparable text.
    fn describe(p: &Plan) -> Vec<String> {
        let mut out = vec![format!(
            "routes {:?} exchanges {} span {:?}",
            p.routes, p.exchanges, p.span
        )];
        for s in &p.sessions {
            out.push(format!(
                "session {} {} {:?} vars {:?}",
                s.key, s.index, s.start, s.vars
            ));
            for st in &s.steps {
                out.push(format!(
                    "  {} {} {} {:?} {:?} body {:?} json {} off {:?} dep {:?} gap {:?} uses {:?} produces {:?} reads {} twin {:?} {} node {:?}",
                    st.route,
                    st.method,
                    st.path,
                    st.query,
                    st.headers,
                    st.body,
                    st.json_body,
                    st.offset,
                    st.dep,
                    st.gap,
                    st.uses,
                    st.produces,
                    st.json_reads.is_some(),
                    st.recorded.status(),
                    st.recorded.done_us,
                    st.recorded.node().map(|n| s.node(n)),
                ));
            }
        }
        out
    }

    #[test]
    fn reading_parts_builds_the_plan_adding_exchanges_builds() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f.trace.zst");
        let mut w = Writer::create(&path, &Header::new(Default::default())).unwrap();
        let exs = fixtures();
        for e in &exs {
            w.append(e).unwrap();
        }
        w.finish(&Footer {
            exchanges: exs.len() as u64,
            sessions: 2,
            dropped: 0,
        })
        .unwrap();
        for declared in [vec![], vec!["/key".to_string()]] {
            let mut a = Builder::new().correlate(&declared);
            for e in trace::Reader::open(&path).unwrap() {
                a.add(0, e.unwrap());
            }
            let mut b = Builder::new().correlate(&declared);
            let integrity = b.read(0, trace::Reader::open(&path).unwrap()).unwrap();
            assert_eq!(integrity.exchanges, exs.len() as u64);
            let (a, b) = (a.finish(), b.finish());
            assert_eq!(describe(&a), describe(&b));
            let vars = a.sessions[0].vars.len();
            assert_eq!(vars, 2 + declared.len(), "the fixture's correlations");
        }
    }

    #[test]
    fn the_walk_finds_what_the_document_walk_finds() {
        let doc = json!({"thread_id": T, "n": 1, "list": [{"id": "abc123456789"}, "z-9999999999", null, true, 2.5],
                         "a/b~c": {"deep": "x1234567890"}, "current_node": "GE", "key": "short"});
        let text = serde_json::to_string(&doc).unwrap();
        let res = trace::Response {
            status: 200,
            headers: vec![],
            body: trace::Body::from_bytes(text.as_bytes(), text.len() as u64),
            chunks: vec![],
        };
        let declared = vec!["/key".to_string()];
        let (tokens, node) = walk(&text, &declared, "/current_node");
        assert_eq!(tokens, discover::response_tokens(&res, &declared));
        assert_eq!(tokens.len(), 5, "{tokens:?}");
        assert_eq!(node.as_deref(), Some("GE"));
    }
}
