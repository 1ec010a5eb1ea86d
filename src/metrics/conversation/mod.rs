//! Conversation-aware measures: nodes, turns, streaming, Server-Timing, fields, divergence
//! and isolation, recorded per worker and turned into [`summary::Conversation`].
//!
//! The recorder knows nothing of traces or HTTP clients: the replay hands it plain
//! observations (endpoint name, status, latency, the live JSON and the recorded twin's
//! JSON, Server-Timing header values, stream event offsets). JSON comes either as a parsed
//! document or, on the hot path, as the values at the recorder's pointers picked straight
//! from the body by [`Recorder::picker`] (see [`pick`]): a response is never parsed whole. Each virtual user keeps one
//! [`Session`] per recorded session it replays and passes it to every call.
//!
//! # Definitions (the README's conversation section documents them for users)
//! - **Node**: the string at [`Config::node_pointer`] of a response's JSON.
//! - **Transition** `FROM→TO`: recorded at the session's first response that carries a node
//!   (`START→TO`) and at every response of a turn endpoint carrying a node (`FROM` is the
//!   session's previous node, so `AR→AR` exists); its latency is that request's. Responses of
//!   other endpoints (status checks) neither record nor move the node.
//! - **Turn**: the *n*-th call of a turn endpoint in a session (1-based); its latency is
//!   recorded for successful (< 400) responses, the index counts every call observed.
//!   Turns past [`MAX_TURN`] share its histogram.
//! - **Recorded** transitions and turns: the same rules applied to the recorded twin.
//! - **Divergence**: at each turn where both the live and the recorded response carry a
//!   node, they are compared; per recorded node and the first diverging turn per session.
//! - **Isolation**: the session id at [`Config::session_pointer`] of the session's first
//!   response is claimed in the run-wide [`IssuedIds`]; a claim that fails (the id was issued
//!   to another user) or a later response naming an id that is not the user's own but was
//!   issued to another user is one cross-talk failure. An id nobody was issued is not. The
//!   check for an id claimed by a user whose start response arrived *after* the response
//!   naming it is settled when the summary is taken (so a race between users never hides
//!   a cross-talk).
//! - **Fields**: each configured pointer counts responses where its value is truthy (true, a
//!   non-zero number, a non-empty string, array or object); the key is the pointer.
//!
//! # Invariants
//! - Recording never fails and never panics on a response's content.
//! - Names are interned: the hot path allocates only the first time a name is seen.
//! - Memory is bounded whatever the target sends: at most [`MAX_NODES`] node names,
//!   [`MAX_TRANSITIONS`] transitions, [`MAX_NAMES`] Server-Timing names and [`MAX_TURN`]
//!   turns; past a cap, new names are counted as [`OTHER`]. The remembered recorded nodes
//!   are bounded by [`MAX_TWINS`] (they depend on the trace, not on the target).
//! - [`Recorder::merge`] of the workers' recorders equals one recorder fed everything
//!   (histograms merge exactly); [`merge_summaries`] does the same for `summary.json` shards.

mod ids;
mod merge;
pub mod paths;
pub mod pick;
mod pointer;
mod stream;

pub use ids::{Interner, IssuedIds, OTHER};
pub use merge::merge_summaries;
pub use pick::{Picked, Picker};
pub use pointer::Pointer;
pub use stream::StreamScan;

use super::server_timing;
use super::summary::{self, CrossTalkExample, NodeDivergence};
use super::Hist;
use rustc_hash::FxHashMap as HashMap;
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

/// Errors in a conversation-measure configuration (from a profile).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Error {
    #[error("`{key}`: `{value}` is not a JSON pointer (it must be empty or start with `/`, e.g. `/current_node`)")]
    Pointer { key: &'static str, value: String },
    #[error("conversation figure `{key}`: {message}")]
    Hist { key: String, message: String },
}

/// What to read from responses. Defaults fit the Educational Agent API.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// Where a response names its pedagogical node.
    pub node_pointer: String,
    /// Where a response names its session (for isolation); empty disables isolation.
    pub session_pointer: String,
    /// Endpoint names whose calls are turns; a trailing `*` matches a prefix.
    pub turn_endpoints: Vec<String>,
    /// JSON pointers counted when truthy.
    pub fields: Vec<String>,
    /// Cross-talk examples kept for the report.
    pub max_examples: usize,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            node_pointer: "/current_node".into(),
            session_pointer: "/thread_id".into(),
            turn_endpoints: vec!["POST /session/continue*".into()],
            fields: vec!["/simulation_triggered".into(), "/image_url".into()],
            max_examples: 5,
        }
    }
}

impl Config {
    pub fn validate(&self) -> Result<(), Error> {
        let check = |key: &'static str, p: &str| {
            if p.is_empty() || p.starts_with('/') {
                Ok(())
            } else {
                Err(Error::Pointer {
                    key,
                    value: p.to_string(),
                })
            }
        };
        check("node_pointer", &self.node_pointer)?;
        check("session_pointer", &self.session_pointer)?;
        self.fields.iter().try_for_each(|f| check("fields", f))
    }

    /// Whether calls of `endpoint` are turns ([`Config::turn_endpoints`]).
    pub fn is_turn(&self, endpoint: &str) -> bool {
        self.turn_endpoints
            .iter()
            .any(|p| match p.strip_suffix('*') {
                Some(prefix) => endpoint.starts_with(prefix),
                None => endpoint == p,
            })
    }
}

/// Per-session state, owned by the virtual user replaying the session.
#[derive(Debug, Clone, Default)]
pub struct Session {
    live_node: Option<u32>,
    recorded_node: Option<u32>,
    turns: u32,
    diverged: bool,
    own: Option<Box<str>>,
    /// The live path's nodes (at most [`paths::MAX_LENGTH`] kept) and its length.
    path: Vec<u32>,
    path_len: u32,
}

impl Session {
    pub fn new() -> Self {
        Self::default()
    }

    /// The session id this user was issued (after its first response named one).
    pub fn own_id(&self) -> Option<&str> {
        self.own.as_deref()
    }

    /// Turn-endpoint calls observed so far.
    pub fn turns(&self) -> u32 {
        self.turns
    }
}

/// A response's JSON as the recorder reads it.
#[derive(Debug, Clone, Copy)]
pub enum Json<'a> {
    /// A parsed document; the recorder looks its pointers up.
    Doc(&'a Value),
    /// The values at the recorder's pointers, picked from the body with
    /// [`Recorder::picker`] (any recorder of the same [`Config`] has the same slots).
    Picked(&'a Picked),
}

impl<'a> From<&'a Value> for Json<'a> {
    fn from(v: &'a Value) -> Self {
        Json::Doc(v)
    }
}

impl<'a> From<&'a Picked> for Json<'a> {
    fn from(p: &'a Picked) -> Self {
        Json::Picked(p)
    }
}

/// The recorded twin of a live exchange.
#[derive(Debug, Clone, Copy)]
pub struct Recorded<'a> {
    pub status: u16,
    /// Send → last byte, as recorded.
    pub latency: Duration,
    pub json: Option<Json<'a>>,
    /// The node it named, when the caller read it already (a replay plan keeps only
    /// that): then `json` and `id` are not looked at.
    pub node: Option<&'a str>,
    /// A stable identity of this recorded response (its address in the replay's plan), when
    /// it has one: the recorder then reads its node once and remembers it, instead of
    /// looking into a cold recorded document at every replay of it.
    pub id: Option<usize>,
}

/// One live exchange that got a response.
#[derive(Debug, Clone, Copy)]
pub struct Exchange<'a> {
    /// Endpoint name, e.g. `POST /session/continue`.
    pub endpoint: &'a str,
    pub status: u16,
    /// Send → last byte.
    pub latency: Duration,
    /// The live body as JSON (for a stream, the last event's data), when it parsed.
    pub live: Option<Json<'a>>,
    pub recorded: Option<Recorded<'a>>,
}

/// How a session ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending<'a> {
    Completed,
    /// Ended early; the reason is a short key (`correlation`, `connect`, `stopped`, …).
    Aborted(&'a str),
}

const START: u32 = u32::MAX;

/// The abort reason of a session cut short by the end of the run (Ctrl-C, `--duration`);
/// such sessions are left out of the node paths.
pub const STOPPED: &str = "stopped";

/// Pointer slots: the node, the session id, then one per field.
const NODE: usize = 0;
const SESSION: usize = 1;
const FIELDS: usize = 2;

#[derive(Debug, Default)]
struct StreamHists {
    responses: u64,
    ttft: Hist,
    gap: Hist,
    events: Hist,
    duration: Hist,
}

impl Clone for StreamHists {
    fn clone(&self) -> Self {
        StreamHists {
            responses: self.responses,
            ttft: self.ttft.clone(),
            gap: self.gap.clone(),
            events: self.events.clone(),
            duration: self.duration.clone(),
        }
    }

    fn clone_from(&mut self, s: &Self) {
        self.responses = s.responses;
        self.ttft.clone_from(&s.ttft);
        self.gap.clone_from(&s.gap);
        self.events.clone_from(&s.events);
        self.duration.clone_from(&s.duration);
    }
}

/// What a snapshot copies: `same` says a value already in the buffer is still the
/// source's (an earlier copy of a histogram only ever recorded into, with as many values).
trait Copied: Clone {
    fn same(&self, _source: &Self) -> bool {
        false
    }
}

impl Copied for Hist {
    fn same(&self, source: &Self) -> bool {
        self.count() == source.count()
    }
}

impl Copied for StreamHists {
    fn same(&self, source: &Self) -> bool {
        self.responses == source.responses
            && self.ttft.same(&source.ttft)
            && self.gap.same(&source.gap)
            && self.events.same(&source.events)
            && self.duration.same(&source.duration)
    }
}

/// `dst` becomes a copy of `src`, reusing the histograms it already has; with `earlier`
/// (`dst` is an earlier copy of the same recorder) those unchanged since are not copied.
fn copy_map<K: Clone + Eq + std::hash::Hash, V: Copied>(
    dst: &mut HashMap<K, V>,
    src: &HashMap<K, V>,
    earlier: bool,
) {
    dst.retain(|k, _| src.contains_key(k));
    for (k, v) in src {
        match dst.get_mut(k) {
            Some(d) if earlier && d.same(v) => {}
            Some(d) => d.clone_from(v),
            None => {
                dst.insert(k.clone(), v.clone());
            }
        }
    }
}

fn copy_vec<V: Copied>(dst: &mut Vec<V>, src: &[V], earlier: bool) {
    dst.truncate(src.len());
    for (d, s) in dst.iter_mut().zip(src) {
        if !(earlier && d.same(s)) {
            d.clone_from(s);
        }
    }
    let have = dst.len();
    dst.extend(src[have..].iter().cloned());
}

#[derive(Debug, Default, Clone)]
struct NodeCount {
    compared: u64,
    diverged: u64,
}

/// One worker's conversation measures.
#[derive(Debug)]
pub struct Recorder {
    cfg: Arc<Config>,
    issued: Arc<IssuedIds>,
    /// The configured pointers, parsed, by slot ([`NODE`], [`SESSION`], then [`FIELDS`]
    /// onwards); `None` when empty (disabled) or invalid.
    pointers: Vec<Option<Pointer>>,
    /// The same pointers, to pick from bodies.
    picker: Picker,
    nodes: Interner,
    endpoints: Interner,
    /// Per endpoint id: is it a turn endpoint (cached).
    endpoint_is_turn: Vec<bool>,
    timings: Interner,
    transitions: HashMap<(u32, u32), Hist>,
    recorded_transitions: HashMap<(u32, u32), Hist>,
    /// The node of each recorded response seen with an [`Recorded::id`] (a cache: at most
    /// [`MAX_TWINS`] entries, not merged).
    twin_nodes: HashMap<usize, Option<u32>>,
    /// Index 0 is turn 1.
    turns: Vec<Hist>,
    recorded_turns: Vec<Hist>,
    streaming: HashMap<u32, StreamHists>,
    server_timing: HashMap<u32, Hist>,
    server_timing_malformed: u64,
    fields: Vec<u64>,
    divergence: HashMap<u32, NodeCount>,
    first_diverged_turn: BTreeMap<u32, u64>,
    cross_talk: u64,
    examples: Vec<CrossTalkExample>,
    /// Responses naming an id not (yet) issued when they arrived.
    unresolved: Vec<CrossTalkExample>,
    sessions: summary::Sessions,
    session_duration: Hist,
    live_paths: paths::Counter,
    recorded_paths: paths::Counter,
    followed: paths::Followed,
}

impl Clone for Recorder {
    fn clone(&self) -> Self {
        Recorder {
            cfg: self.cfg.clone(),
            issued: self.issued.clone(),
            pointers: self.pointers.clone(),
            picker: self.picker.clone(),
            nodes: self.nodes.clone(),
            endpoints: self.endpoints.clone(),
            endpoint_is_turn: self.endpoint_is_turn.clone(),
            timings: self.timings.clone(),
            transitions: self.transitions.clone(),
            recorded_transitions: self.recorded_transitions.clone(),
            twin_nodes: self.twin_nodes.clone(),
            turns: self.turns.clone(),
            recorded_turns: self.recorded_turns.clone(),
            streaming: self.streaming.clone(),
            server_timing: self.server_timing.clone(),
            server_timing_malformed: self.server_timing_malformed,
            fields: self.fields.clone(),
            divergence: self.divergence.clone(),
            first_diverged_turn: self.first_diverged_turn.clone(),
            cross_talk: self.cross_talk,
            examples: self.examples.clone(),
            unresolved: self.unresolved.clone(),
            sessions: self.sessions.clone(),
            session_duration: self.session_duration.clone(),
            live_paths: self.live_paths.clone(),
            recorded_paths: self.recorded_paths.clone(),
            followed: self.followed.clone(),
        }
    }

    /// A copy that reuses this recorder's histograms.
    fn clone_from(&mut self, s: &Self) {
        self.copy(s, false);
    }
}

impl Recorder {
    /// Makes this recorder, an earlier copy of `newer` (or any recorder, with `earlier`
    /// false), a copy of it: its histograms reused, those `newer` did not add to since
    /// not even copied (a live view's snapshot each second: only what changed costs).
    pub fn refresh_from(&mut self, newer: &Recorder) {
        self.copy(newer, true);
    }

    fn copy(&mut self, s: &Self, earlier: bool) {
        self.cfg.clone_from(&s.cfg);
        self.issued.clone_from(&s.issued);
        self.pointers.clone_from(&s.pointers);
        self.picker.clone_from(&s.picker);
        self.nodes.clone_from(&s.nodes);
        self.endpoints.clone_from(&s.endpoints);
        self.endpoint_is_turn.clone_from(&s.endpoint_is_turn);
        self.timings.clone_from(&s.timings);
        copy_map(&mut self.transitions, &s.transitions, earlier);
        copy_map(
            &mut self.recorded_transitions,
            &s.recorded_transitions,
            earlier,
        );
        self.twin_nodes.clone_from(&s.twin_nodes);
        copy_vec(&mut self.turns, &s.turns, earlier);
        copy_vec(&mut self.recorded_turns, &s.recorded_turns, earlier);
        copy_map(&mut self.streaming, &s.streaming, earlier);
        copy_map(&mut self.server_timing, &s.server_timing, earlier);
        self.server_timing_malformed = s.server_timing_malformed;
        self.fields.clone_from(&s.fields);
        self.divergence.clone_from(&s.divergence);
        self.first_diverged_turn.clone_from(&s.first_diverged_turn);
        self.cross_talk = s.cross_talk;
        self.examples.clone_from(&s.examples);
        self.unresolved.clone_from(&s.unresolved);
        self.sessions.clone_from(&s.sessions);
        if !(earlier && self.session_duration.same(&s.session_duration)) {
            self.session_duration.clone_from(&s.session_duration);
        }
        self.live_paths.clone_from(&s.live_paths);
        self.recorded_paths.clone_from(&s.recorded_paths);
        self.followed.clone_from(&s.followed);
    }
}

impl Recorder {
    /// A recorder for one worker; every worker of a run shares `issued`.
    pub fn new(cfg: Arc<Config>, issued: Arc<IssuedIds>) -> Self {
        let fields = vec![0; cfg.fields.len()];
        let parse = |p: &str| Pointer::parse(p).filter(|_| !p.is_empty());
        let pointers: Vec<Option<Pointer>> = [&cfg.node_pointer, &cfg.session_pointer]
            .into_iter()
            .chain(&cfg.fields)
            .map(|p| parse(p))
            .collect();
        Recorder {
            picker: Picker::new(pointers.iter().map(Option::as_ref)),
            pointers,
            cfg,
            issued,
            nodes: Interner::default(),
            endpoints: Interner::default(),
            endpoint_is_turn: Vec::new(),
            timings: Interner::default(),
            transitions: HashMap::default(),
            recorded_transitions: HashMap::default(),
            twin_nodes: HashMap::default(),
            turns: Vec::new(),
            recorded_turns: Vec::new(),
            streaming: HashMap::default(),
            server_timing: HashMap::default(),
            server_timing_malformed: 0,
            fields,
            divergence: HashMap::default(),
            first_diverged_turn: BTreeMap::new(),
            cross_talk: 0,
            examples: Vec::new(),
            unresolved: Vec::new(),
            sessions: summary::Sessions::default(),
            session_duration: Hist::new(),
            live_paths: paths::Counter::default(),
            recorded_paths: paths::Counter::default(),
            followed: paths::Followed::default(),
        }
    }

    pub fn config(&self) -> &Config {
        &self.cfg
    }

    /// Picks this recorder's pointers from a body, for [`Json::Picked`].
    pub fn picker(&self) -> &Picker {
        &self.picker
    }

    /// The value at pointer `slot` of a response's JSON.
    fn at<'v>(&self, json: Json<'v>, slot: usize) -> Option<&'v Value> {
        match json {
            Json::Doc(v) => self.pointers.get(slot)?.as_ref()?.get(v),
            Json::Picked(p) => p.get(slot),
        }
    }

    fn endpoint(&mut self, name: &str) -> (u32, bool) {
        let id = self.endpoints.intern(name);
        if id as usize == self.endpoint_is_turn.len() {
            self.endpoint_is_turn.push(self.cfg.is_turn(name));
        }
        (id, self.endpoint_is_turn[id as usize])
    }

    fn node_of(&mut self, json: Option<Json<'_>>) -> Option<u32> {
        match self.at(json?, NODE)? {
            Value::String(s) => Some(self.nodes.intern_capped(s, MAX_NODES)),
            _ => None,
        }
    }

    /// The node of a recorded twin, remembered by its id. Interned ids are stable and a
    /// name past the cap stays [`OTHER`], so a remembered id equals a fresh lookup.
    fn twin_node(&mut self, rec: &Recorded<'_>) -> Option<u32> {
        if let Some(node) = rec.node {
            return Some(self.nodes.intern_capped(node, MAX_NODES));
        }
        let Some(id) = rec.id else {
            return self.node_of(rec.json);
        };
        if let Some(&node) = self.twin_nodes.get(&id) {
            return node;
        }
        let node = self.node_of(rec.json);
        if self.twin_nodes.len() < MAX_TWINS {
            self.twin_nodes.insert(id, node);
        }
        node
    }

    /// The key a transition is recorded under: `(from, to)`, or `(other, other)` once
    /// [`MAX_TRANSITIONS`] distinct transitions are known.
    fn transition_key(&mut self, from: u32, to: u32, recorded: bool) -> (u32, u32) {
        let map = if recorded {
            &self.recorded_transitions
        } else {
            &self.transitions
        };
        if map.len() < MAX_TRANSITIONS || map.contains_key(&(from, to)) {
            (from, to)
        } else {
            let other = self.nodes.intern(OTHER);
            (other, other)
        }
    }

    /// A new session starts (counts `sessions.started`).
    pub fn start_session(&mut self) -> Session {
        self.sessions.started += 1;
        Session::new()
    }

    /// Records one live exchange of `session` that got a response.
    pub fn exchange(&mut self, session: &mut Session, x: &Exchange<'_>) {
        let (_, is_turn) = self.endpoint(x.endpoint);
        let ok = x.status < 400;
        if is_turn {
            session.turns += 1;
        }
        let turn = session.turns;

        // live node and transition
        let live_node = if ok { self.node_of(x.live) } else { None };
        if let Some(node) = live_node {
            if is_turn || session.live_node.is_none() {
                let from = session.live_node.unwrap_or(START);
                let key = self.transition_key(from, node, false);
                self.transitions.entry(key).or_default().record(x.latency);
                session.live_node = Some(node);
                session.path_len += 1;
                if session.path.len() < paths::MAX_LENGTH as usize {
                    session.path.push(node);
                }
            }
        }
        if is_turn && ok {
            record_at(&mut self.turns, turn, x.latency);
        }

        // the recorded twin, by the same rules
        let mut recorded_node = None;
        if let Some(rec) = x.recorded.filter(|r| r.status < 400) {
            recorded_node = self.twin_node(&rec);
            if let Some(node) = recorded_node {
                if is_turn || session.recorded_node.is_none() {
                    let from = session.recorded_node.unwrap_or(START);
                    let key = self.transition_key(from, node, true);
                    self.recorded_transitions
                        .entry(key)
                        .or_default()
                        .record(rec.latency);
                    session.recorded_node = Some(node);
                }
            }
            if is_turn {
                record_at(&mut self.recorded_turns, turn, rec.latency);
            }
        }

        // divergence: live vs recorded node of this turn
        if let (true, Some(live), Some(recorded)) = (is_turn, live_node, recorded_node) {
            let c = self.divergence.entry(recorded).or_default();
            c.compared += 1;
            if live != recorded {
                c.diverged += 1;
                if !session.diverged {
                    session.diverged = true;
                    *self.first_diverged_turn.entry(turn).or_default() += 1;
                }
            }
        }

        if let Some(live) = x.live.filter(|_| ok) {
            self.count_fields(live);
            self.check_isolation(session, x.endpoint, live);
        }
    }

    fn count_fields(&mut self, live: Json<'_>) {
        for i in 0..self.fields.len() {
            if self.at(live, FIELDS + i).is_some_and(truthy) {
                self.fields[i] += 1;
            }
        }
    }

    fn check_isolation(&mut self, session: &mut Session, endpoint: &str, live: Json<'_>) {
        let Some(Value::String(named)) = self.at(live, SESSION) else {
            return;
        };
        let crossed = match &session.own {
            Some(own) if **own == **named => false,
            Some(own) => {
                if self.issued.contains(named) {
                    true
                } else {
                    // perhaps issued to a user whose start response is still being read:
                    // decided when the summary is taken, after every claim
                    if self.unresolved.len() < MAX_UNRESOLVED {
                        self.unresolved.push(CrossTalkExample {
                            endpoint: endpoint.to_string(),
                            expected: own.to_string(),
                            found: named.clone(),
                        });
                    }
                    false
                }
            }
            None => {
                let fresh = self.issued.claim(named);
                session.own = Some(named.as_str().into());
                !fresh
            }
        };
        if crossed {
            self.cross_talk += 1;
            if self.examples.len() < self.cfg.max_examples {
                self.examples.push(CrossTalkExample {
                    endpoint: endpoint.to_string(),
                    expected: session
                        .own
                        .as_deref()
                        .filter(|own| *own != named.as_str())
                        .unwrap_or("(a new session)")
                        .to_string(),
                    found: named.clone(),
                });
            }
        }
    }

    /// Records one `Server-Timing` header value of a live response.
    pub fn server_timing(&mut self, header: &[u8]) {
        let (timings, hists) = (&mut self.timings, &mut self.server_timing);
        let result = server_timing::parse(header, |m| {
            if let Some(ms) = m.dur_ms {
                let id = timings.intern_capped(m.name, MAX_NAMES);
                hists
                    .entry(id)
                    .or_default()
                    .record_us((ms * 1000.0).round() as u64);
            }
        });
        if result.is_err() {
            self.server_timing_malformed += 1;
        }
    }

    /// Records a streamed response: event arrival offsets from the send (see
    /// [`StreamScan`]) and the end of the stream.
    pub fn stream(&mut self, endpoint: &str, events: &[Duration], end: Duration) {
        let (id, _) = self.endpoint(endpoint);
        let s = self.streaming.entry(id).or_default();
        s.responses += 1;
        s.duration.record(end);
        if let Some(&first) = events.first() {
            s.ttft.record(first);
            s.events.record_us(events.len() as u64);
        }
        for w in events.windows(2) {
            s.gap.record(w[1].saturating_sub(w[0]));
        }
    }

    /// A session ended after `duration` (first send → last response).
    pub fn end_session(&mut self, session: Session, ending: Ending<'_>, duration: Duration) {
        if let Some(own) = &session.own {
            self.issued.release(own);
        }
        // a session cut short by the end of the run says nothing of its conversation's path
        let stopped = ending == Ending::Aborted(STOPPED);
        if session.path_len > 0 && !stopped {
            let mut path = String::with_capacity(session.path.len() * 5);
            for (i, &n) in session.path.iter().enumerate() {
                if i > 0 {
                    path.push('→');
                }
                path.push_str(self.nodes.name(n));
            }
            if session.path_len as usize > session.path.len() {
                path.push_str("→…");
            }
            self.live_paths.record(&path, session.path_len);
        }
        self.session_duration.record(duration);
        match ending {
            Ending::Completed => self.sessions.completed += 1,
            Ending::Aborted(reason) => {
                self.sessions.aborted += 1;
                *self
                    .sessions
                    .aborted_by_reason
                    .entry(reason.to_string())
                    .or_default() += 1;
            }
        }
    }

    /// The recorded path of a session that was replayed (see [`paths`]), once per replay.
    pub fn recorded_path(&mut self, path: &str, len: u32) {
        self.recorded_paths.record(path, len);
    }

    /// A session left its recording at live node `at`, took `answers` answers from the
    /// answer bank and ended as `ended` (`terminal`, `turn_cap`, `end`, …).
    pub fn followed(&mut self, at: &str, answers: u32, ended: &str) {
        self.followed.record(at, answers, ended);
    }

    /// Sessions started, completed, aborted by reason, and their duration.
    pub fn sessions(&self) -> summary::Sessions {
        summary::Sessions {
            duration: self.session_duration.summary(),
            ..self.sessions.clone()
        }
    }

    /// Adds another worker's measures to this one.
    pub fn merge(&mut self, other: &Recorder) {
        let node = |me: &mut Interner, id: u32| {
            if id == START {
                START
            } else {
                me.intern_capped(other.nodes.name(id), MAX_NODES)
            }
        };
        for (maps, theirs) in [
            (&mut self.transitions, &other.transitions),
            (&mut self.recorded_transitions, &other.recorded_transitions),
        ] {
            for (&(f, t), h) in theirs {
                let key = (node(&mut self.nodes, f), node(&mut self.nodes, t));
                maps.entry(key).or_default().add(h);
            }
        }
        for (mine, theirs) in [
            (&mut self.turns, &other.turns),
            (&mut self.recorded_turns, &other.recorded_turns),
        ] {
            if mine.len() < theirs.len() {
                mine.resize_with(theirs.len(), Hist::new);
            }
            for (m, t) in mine.iter_mut().zip(theirs) {
                m.add(t);
            }
        }
        for (&id, s) in &other.streaming {
            let (mine, _) = self.endpoint(other.endpoints.name(id));
            let m = self.streaming.entry(mine).or_default();
            m.responses += s.responses;
            m.ttft.add(&s.ttft);
            m.gap.add(&s.gap);
            m.events.add(&s.events);
            m.duration.add(&s.duration);
        }
        for (&id, h) in &other.server_timing {
            let mine = self
                .timings
                .intern_capped(other.timings.name(id), MAX_NAMES);
            self.server_timing.entry(mine).or_default().add(h);
        }
        self.server_timing_malformed += other.server_timing_malformed;
        for (m, t) in self.fields.iter_mut().zip(&other.fields) {
            *m += t;
        }
        for (&id, c) in &other.divergence {
            let m = self
                .divergence
                .entry(self.nodes.intern_capped(other.nodes.name(id), MAX_NODES))
                .or_default();
            m.compared += c.compared;
            m.diverged += c.diverged;
        }
        for (&turn, &n) in &other.first_diverged_turn {
            *self.first_diverged_turn.entry(turn).or_default() += n;
        }
        self.cross_talk += other.cross_talk;
        let room = self.cfg.max_examples.saturating_sub(self.examples.len());
        self.examples
            .extend(other.examples.iter().take(room).cloned());
        let room = MAX_UNRESOLVED.saturating_sub(self.unresolved.len());
        self.unresolved
            .extend(other.unresolved.iter().take(room).cloned());
        self.sessions.started += other.sessions.started;
        self.sessions.completed += other.sessions.completed;
        self.sessions.aborted += other.sessions.aborted;
        for (reason, n) in &other.sessions.aborted_by_reason {
            *self
                .sessions
                .aborted_by_reason
                .entry(reason.clone())
                .or_default() += n;
        }
        self.session_duration.add(&other.session_duration);
        self.live_paths.merge(&other.live_paths);
        self.recorded_paths.merge(&other.recorded_paths);
        self.followed.merge(&other.followed);
    }

    /// Cross-talk so far: the responses counted on arrival, plus those that named an id
    /// which was issued only after they arrived (a start response read later).
    fn isolation(&self) -> summary::Isolation {
        let late: Vec<&CrossTalkExample> = self
            .unresolved
            .iter()
            .filter(|u| self.issued.contains(&u.found))
            .collect();
        let mut examples = self.examples.clone();
        let room = self.cfg.max_examples.saturating_sub(examples.len());
        examples.extend(late.iter().take(room).map(|&e| e.clone()));
        summary::Isolation {
            cross_talk: self.cross_talk + late.len() as u64,
            examples,
        }
    }

    fn transition_name(&self, (from, to): (u32, u32)) -> String {
        let from = if from == START {
            "START"
        } else {
            self.nodes.name(from)
        };
        format!("{from}→{}", self.nodes.name(to))
    }

    /// The figures, as `summary.json` carries them.
    pub fn summary(&self) -> summary::Conversation {
        let transitions = |m: &HashMap<(u32, u32), Hist>| {
            m.iter()
                .map(|(&k, h)| (self.transition_name(k), h.summary()))
                .collect()
        };
        let turns = |v: &Vec<Hist>| {
            v.iter()
                .enumerate()
                .filter(|(_, h)| !h.is_empty())
                .map(|(i, h)| ((i + 1).to_string(), h.summary()))
                .collect()
        };
        let by_node: BTreeMap<String, NodeDivergence> = self
            .divergence
            .iter()
            .map(|(&id, c)| {
                (
                    self.nodes.name(id).to_string(),
                    node_divergence(c.compared, c.diverged),
                )
            })
            .collect();
        summary::Conversation {
            nodes: transitions(&self.transitions),
            recorded_nodes: transitions(&self.recorded_transitions),
            turns: turns(&self.turns),
            recorded_turns: turns(&self.recorded_turns),
            streaming: self
                .streaming
                .iter()
                .map(|(&id, s)| {
                    (
                        self.endpoints.name(id).to_string(),
                        summary::Streaming {
                            responses: s.responses,
                            ttft: s.ttft.summary(),
                            gap: s.gap.summary(),
                            events: s.events.summary(),
                            duration: s.duration.summary(),
                        },
                    )
                })
                .collect(),
            server_timing: self
                .server_timing
                .iter()
                .map(|(&id, h)| (self.timings.name(id).to_string(), h.summary()))
                .collect(),
            server_timing_malformed: self.server_timing_malformed,
            fields: self
                .cfg
                .fields
                .iter()
                .zip(&self.fields)
                .map(|(p, &n)| (p.clone(), n))
                .collect(),
            divergence: summary::Divergence {
                compared: by_node.values().map(|c| c.compared).sum(),
                diverged: by_node.values().map(|c| c.diverged).sum(),
                by_node,
                first_turn: self
                    .first_diverged_turn
                    .iter()
                    .map(|(t, &n)| (t.to_string(), n))
                    .collect(),
            },
            isolation: self.isolation(),
            paths: paths::paths(self.live_paths.summary(), self.recorded_paths.summary()),
            follow: self.followed.summary(),
        }
    }
}

fn node_divergence(compared: u64, diverged: u64) -> NodeDivergence {
    NodeDivergence {
        compared,
        diverged,
        rate: if compared == 0 {
            0.0
        } else {
            diverged as f64 / compared as f64
        },
    }
}

/// Distinct node names kept; later new names count as [`OTHER`] (bounded memory against a
/// target that invents names).
pub const MAX_NODES: usize = 32;
/// Distinct transitions kept (live, and recorded); later new ones count as
/// `(other)→(other)`. Each is an HDR histogram of ~190 KB.
pub const MAX_TRANSITIONS: usize = 128;
/// Recorded responses whose node a recorder remembers (16 bytes each); past it, a new
/// recorded response's node is looked up at each replay.
pub const MAX_TWINS: usize = 1 << 20;
/// Distinct Server-Timing metric names kept; later new names count as [`OTHER`].
pub const MAX_NAMES: usize = 32;

/// Responses naming a not-yet-issued id kept per recorder for the late check; past it,
/// such responses are not checked (an id nobody is ever issued is not cross-talk anyway).
pub const MAX_UNRESOLVED: usize = 10_000;

/// Turns past this index share its histogram (key `"50"` then means 50th and later), so a
/// runaway session cannot grow memory.
pub const MAX_TURN: u32 = 50;

fn record_at(v: &mut Vec<Hist>, turn: u32, latency: Duration) {
    let i = (turn.min(MAX_TURN) as usize).saturating_sub(1);
    if v.len() <= i {
        v.resize_with(i + 1, Hist::new);
    }
    v[i].record(latency);
}

/// JSON truthiness: true, a non-zero number, a non-empty string, array or object.
pub fn truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
    }
}

#[cfg(test)]
mod tests;
