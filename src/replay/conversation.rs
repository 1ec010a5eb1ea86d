//! The conversation measure: the replay hook feeding [`metrics::conversation`].
//!
//! Each worker owns one [`Recorder`] and the [`conversation::Session`] of every session its
//! users are replaying; the run shares one [`IssuedIds`] (ids issued to users, for the
//! isolation check) and merges the workers' recorders into `summary.conversation` at the
//! end.
//!
//! What it reads from each live response: the endpoint name, status and latency; the values
//! at the configured JSON pointers, picked from the body in one pass without parsing it
//! whole ([`Picker`]; for `text/event-stream` from the data of the last complete event, the
//! agent's `done` state); every `Server-Timing` header;
//! and, for SSE and `Transfer-Encoding: chunked` bodies, the chunk arrival times, cut into
//! events by [`StreamScan`]. From the recorded twin: its status, its latency (`done_us`) and
//! its JSON (for a recorded SSE body, again the last event's data, parsed once per recorded
//! exchange and cached).
//!
//! # Invariants
//! - A request that got no response (connect, timeout) is not an observation: it has no
//!   node, no timing and no body. Its failure is counted by the replay itself.
//! - Nothing here fails or panics on a target's bytes.
//!
//! [`metrics::conversation`]: crate::metrics::conversation
//! [`Picker`]: crate::metrics::conversation::Picker
//! [`conversation::Session`]: crate::metrics::conversation::Session

use super::hook::{Live, Measure, SessionEnd, SessionInfo, WorkerMeasure};
use crate::metrics::conversation::{
    self, Config, Ending, Exchange, IssuedIds, Json, Picked, Pointer, Recorded, Recorder,
    StreamScan,
};
use crate::metrics::{sse, Summary};
use crate::trace;
use rustc_hash::FxHashMap as HashMap;
use serde_json::Value;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

/// The run-wide conversation measure.
#[derive(Debug)]
pub struct Conversation {
    cfg: Arc<Config>,
    issued: Arc<IssuedIds>,
}

impl Conversation {
    pub fn new(cfg: Config) -> Self {
        Conversation {
            cfg: Arc::new(cfg),
            issued: Arc::new(IssuedIds::new()),
        }
    }
}

impl Default for Conversation {
    fn default() -> Self {
        Conversation::new(Config::default())
    }
}

/// One worker's part of the measure.
#[derive(Debug)]
pub struct Worker {
    rec: Recorder,
    /// Per user: its conversation state and the plan index of the session it replays.
    sessions: HashMap<u64, (conversation::Session, u32)>,
    /// The recorded path (and its length) of each plan session replayed, by its index.
    recorded_paths: HashMap<u32, (Rc<str>, u32)>,
    scan: StreamScan,
    /// The live response's values at the recorder's pointers (reused).
    picked: Picked,
    /// Recorded JSON of recorded SSE exchanges, by the exchange's address in the plan.
    twins: HashMap<usize, Option<Rc<Value>>>,
}

impl Measure for Conversation {
    type Worker = Worker;

    fn worker(&self, _index: usize) -> Worker {
        Worker {
            rec: Recorder::new(self.cfg.clone(), self.issued.clone()),
            sessions: HashMap::default(),
            recorded_paths: HashMap::default(),
            scan: StreamScan::new(false),
            picked: Picked::default(),
            twins: HashMap::default(),
        }
    }

    fn finish(&self, parts: Vec<Recorder>, summary: &mut Summary) {
        let mut all = Recorder::new(self.cfg.clone(), self.issued.clone());
        for p in &parts {
            all.merge(p);
        }
        summary.conversation = all.summary();
    }
}

/// Named once: a `&str` name would be parsed and lower-cased on every lookup.
const SERVER_TIMING: http::HeaderName = http::HeaderName::from_static("server-timing");

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

fn looks_like_json(body: &[u8]) -> bool {
    matches!(
        body.iter().find(|b| !b.is_ascii_whitespace()),
        Some(b'{' | b'[')
    )
}

/// The recorded response's JSON: its body, or the last event of a recorded SSE body.
fn recorded_json(res: &trace::Response) -> Option<Value> {
    let sse = header(&res.headers, "content-type")
        .is_some_and(|ct| StreamScan::is_sse_content_type(ct.as_bytes()));
    if !sse {
        return None;
    }
    let text = match &res.body.data {
        trace::BodyData::Text(t) => t.as_bytes().to_vec(),
        other => trace::Body {
            data: other.clone(),
            len: res.body.len,
            truncated: res.body.truncated,
        }
        .to_bytes(),
    };
    let last = sse::parse_all(&text).pop()?;
    serde_json::from_str(&last.data).ok()
}

impl Worker {
    /// A recorded session's path by the live rules: the node of its first 2xx response
    /// naming one, then of each 2xx turn response, in send order.
    fn recorded_path(&mut self, s: &SessionInfo<'_>) -> (Rc<str>, u32) {
        let cfg = self.rec.config().clone();
        let Some(pointer) =
            Pointer::parse(&cfg.node_pointer).filter(|_| !cfg.node_pointer.is_empty())
        else {
            return (Rc::from(""), 0);
        };
        let mut path = String::new();
        let mut len = 0u32;
        for step in &s.session.steps {
            let is_turn = s
                .routes
                .get(step.route as usize)
                .is_some_and(|r| cfg.is_turn(&r.name));
            if len > 0 && !is_turn {
                continue;
            }
            let Some(res) = step.recorded.res.as_ref().filter(|r| r.status < 400) else {
                continue;
            };
            let twin = self.twin_json(&step.recorded);
            let Some(doc) = res.body.json().or(twin.as_deref()) else {
                continue;
            };
            if let Some(node) = pointer.get(doc).and_then(Value::as_str) {
                if len > 0 {
                    path.push('→');
                }
                len += 1;
                if len <= conversation::paths::MAX_LENGTH {
                    path.push_str(node);
                } else if len == conversation::paths::MAX_LENGTH + 1 {
                    path.push('…');
                }
            }
        }
        (Rc::from(path), len)
    }

    fn twin_json(&mut self, recorded: &trace::Exchange) -> Option<Rc<Value>> {
        let res = recorded.res.as_ref()?;
        if res.body.json().is_some() {
            return None; // borrowed directly by the caller
        }
        let key = recorded as *const trace::Exchange as usize;
        self.twins
            .entry(key)
            .or_insert_with(|| recorded_json(res).map(Rc::new))
            .clone()
    }
}

impl WorkerMeasure for Worker {
    type Part = Recorder;

    fn session_start(&mut self, s: &SessionInfo<'_>) {
        let session = self.rec.start_session();
        self.sessions.insert(s.vu, (session, s.session.index));
        if !self.recorded_paths.contains_key(&s.session.index) {
            let path = self.recorded_path(s);
            self.recorded_paths.insert(s.session.index, path);
        }
    }

    fn response(&mut self, r: &Live<'_>) {
        let (Some(status), Some(headers)) = (r.status, r.headers) else {
            return;
        };
        for v in headers.get_all(&SERVER_TIMING) {
            self.rec.server_timing(v.as_bytes());
        }

        // stream events
        let sse = headers
            .get(http::header::CONTENT_TYPE)
            .is_some_and(|ct| StreamScan::is_sse_content_type(ct.as_bytes()));
        let chunked = headers
            .get(http::header::TRANSFER_ENCODING)
            .is_some_and(|te| te.as_bytes().eq_ignore_ascii_case(b"chunked"));
        let mut stream_json = false;
        if sse || chunked {
            self.scan.reset(sse);
            let mut from = 0usize;
            for &(at, len) in r.chunks {
                let to = (from + len).min(r.body.len());
                self.scan.chunk(at, &r.body[from..to]);
                from = to;
            }
            self.scan.finish();
            self.rec.stream(r.endpoint, self.scan.events(), r.latency);
            if sse {
                stream_json = self
                    .rec
                    .picker()
                    .pick_str(self.scan.last_data(), &mut self.picked);
            }
        }

        // the recorded twin
        let twin = self.twin_json(r.recorded);
        let recorded = r.recorded.res.as_ref().map(|res| Recorded {
            status: res.status,
            latency: Duration::from_micros(r.recorded.done_us),
            json: res.body.json().or(twin.as_deref()).map(Json::Doc),
            id: Some(r.recorded as *const trace::Exchange as usize),
        });

        // live JSON: the stream's last event, or the body
        let parsed = if sse {
            stream_json
        } else {
            looks_like_json(r.body) && self.rec.picker().pick_slice(r.body, &mut self.picked)
        };
        let live = parsed.then_some(Json::Picked(&self.picked));

        let Some((session, _)) = self.sessions.get_mut(&r.vu) else {
            return;
        };
        self.rec.exchange(
            session,
            &Exchange {
                endpoint: r.endpoint,
                status,
                latency: r.latency,
                live,
                recorded,
            },
        );
    }

    fn session_end(&mut self, s: &SessionInfo<'_>, end: &SessionEnd<'_>) {
        if let Some((session, index)) = self.sessions.remove(&s.vu) {
            let ending = match end.aborted {
                None => Ending::Completed,
                Some(reason) => Ending::Aborted(reason),
            };
            let stopped = end.aborted == Some(conversation::STOPPED);
            if let Some((path, len)) = self.recorded_paths.get(&index).filter(|_| !stopped) {
                self.rec.recorded_path(path, *len);
            }
            if let Some(f) = &end.follow {
                self.rec.followed(f.at, f.answers, f.ended);
            }
            self.rec.end_session(session, ending, end.duration);
        }
    }

    fn finish(self) -> Recorder {
        self.rec
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn res(ct: &str, body: trace::Body) -> trace::Response {
        trace::Response {
            status: 200,
            headers: vec![("content-type".into(), ct.into())],
            body,
            chunks: vec![],
        }
    }

    #[test]
    fn recorded_sse_twin_reads_the_last_event() {
        let text = "data: {\"token\":\"Hi\"}\n\nevent: done\ndata: {\"current_node\":\"CI\"}\n\n";
        let r = res(
            "text/event-stream",
            trace::Body::from_bytes(text.as_bytes(), text.len() as u64),
        );
        assert_eq!(recorded_json(&r).unwrap()["current_node"], "CI");
        let cut = "data: {\"current_node\":\"CI\"}";
        let r = res(
            "text/event-stream",
            trace::Body::from_bytes(cut.as_bytes(), cut.len() as u64),
        );
        assert_eq!(recorded_json(&r), None, "a cut stream has no last event");
        let j = res("application/json", trace::Body::from_bytes(b"{}", 2));
        assert_eq!(recorded_json(&j), None);
    }
}
