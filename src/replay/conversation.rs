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
//! the node its JSON named (for a recorded SSE body, the last event's data), read once when
//! the plan was built ([`Twin`](super::plan::Twin)): nothing here grows with the recording.
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
use crate::metrics::Summary;
use rustc_hash::FxHashMap as HashMap;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

/// The run-wide conversation measure.
#[derive(Debug)]
pub struct Conversation {
    cfg: Arc<Config>,
    issued: Arc<IssuedIds>,
    /// Load stages: Server-Timing per stage as well.
    stages: Option<Arc<super::stage_timing::StageTiming>>,
}

impl Conversation {
    pub fn new(cfg: Config) -> Self {
        Conversation {
            cfg: Arc::new(cfg),
            issued: Arc::new(IssuedIds::new()),
            stages: None,
        }
    }

    /// Also keeps every Server-Timing metric per load stage, in `stages`.
    pub fn with_stages(mut self, stages: Arc<super::stage_timing::StageTiming>) -> Self {
        self.stages = Some(stages);
        self
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
    /// Server-Timing per load stage, when the run has stages.
    stages: Option<super::stage_timing::Part>,
    /// The last two snapshots sent to a live view (see [`WorkerMeasure::snapshot`]).
    snapshots: [Option<Arc<Recorder>>; 2],
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
            stages: self.stages.as_ref().map(|s| s.part()),
            snapshots: [None, None],
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

fn looks_like_json(body: &[u8]) -> bool {
    matches!(
        body.iter().find(|b| !b.is_ascii_whitespace()),
        Some(b'{' | b'[')
    )
}

impl Worker {
    /// A recorded session's path by the live rules: the node of its first 2xx response
    /// naming one, then of each 2xx turn response, in send order.
    fn recorded_path(&self, s: &SessionInfo<'_>) -> (Rc<str>, u32) {
        let cfg = self.rec.config();
        if cfg.node_pointer.is_empty() || Pointer::parse(&cfg.node_pointer).is_none() {
            return (Rc::from(""), 0);
        }
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
            if step.recorded.status().is_none_or(|s| s >= 400) {
                continue;
            }
            if let Some(node) = step.recorded.node().map(|n| s.session.node(n)) {
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
        if let Some(st) = &mut self.stages {
            st.response(r.sent, r.latency, headers);
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
        let recorded = r.recorded.status().map(|status| Recorded {
            status,
            latency: Duration::from_micros(r.recorded.done_us),
            json: None,
            node: r.recorded.node().map(|n| r.session.node(n)),
            id: None,
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

    /// Two buffers used in turn: the one sent two seconds ago is usually no longer held
    /// by the live view and is overwritten in place (no allocation); else a new one.
    fn snapshot(&mut self) -> Option<Arc<Recorder>> {
        self.snapshots.rotate_left(1);
        let slot = &mut self.snapshots[1];
        match slot.as_mut().and_then(Arc::get_mut) {
            Some(r) => r.refresh_from(&self.rec),
            None => *slot = Some(Arc::new(self.rec.clone())),
        }
        slot.clone()
    }

    fn finish(self) -> Recorder {
        if let Some(st) = self.stages {
            st.finish();
        }
        self.rec
    }
}
