//! The replay plan: a recording turned, once, into sessions of ready-to-send steps.
//!
//! Built from a stream of exchanges (one file or several, never read whole first), the plan
//! groups exchanges into sessions, orders each session by send time, and gives every step
//! its **dependency** (the latest exchange of the session whose response had completed when
//! the step was sent), its **gap** (that completion → this send: the student's think time)
//! and its **offset** from the session's first send. Endpoints are templated with
//! [`correlate::template`] and interned to dense [`RouteId`]s; bodies are pre-serialised to
//! `Bytes`; correlations come from [`correlate::discover`].
//!
//! Exchanges whose `session` is null are grouped by their client connection (`conn`): each
//! recorded connection becomes one session, so traffic without session ids still replays
//! with its own ordering and timing.
//!
//! # Memory: bounded by what is distinct
//! A recording repeats itself (64 connections sending the same `GET` 100,000 times), so
//! the plan keeps each distinct thing once:
//! - a request ([`Template`]: method, path, query, headers, body) is interned and shared by
//!   every step that sends the same one; header lists are interned on their own; bodies
//!   are slices of a few large arena buffers, not one allocation each;
//! - of a recorded response only its [`Twin`] is kept: status, times, and the node its
//!   JSON (or last SSE event) named at the conversation node pointer — all that the
//!   conversation measure, the answer bank and the dependency rule read. Its body and
//!   headers are dropped as soon as the exchange is read;
//! - while reading, an exchange waits for its session as a small `Pending` (its template,
//!   twin and the interned discovery [`Token`]s of its response), not as a parsed
//!   [`Exchange`]; a request's tokens are taken from its template when its session is
//!   built (once per distinct template of the session).
//!
//! Measured with `bench/plan_scale.sh`.
//! Sessions are also grouped into recorded **clients** (the `conn` of a session's first
//! exchange, per recording; when sessions overlap on a connection it was not one user's,
//! and each of its sessions is a client of its own): a client's sessions in start order, each with its recorded
//! **pause** since the previous one's last completion, so a closed user can replay a client
//! whole ([`super::walk`]). Every recorded pause is also kept, sorted, as the distribution
//! drawn from for a session with no recorded predecessor, and each client's idle **tail**
//! (its last completion → the end of its recording), a lower bound of the pause that
//! would have followed.
//!
//! # Invariants
//! - Steps of a session are in recorded send order; `dep < index` whenever `dep` is set.
//! - Every `uses` entry names a variable whose producing step (if any) comes earlier.
//! - Sessions are ordered by their recorded start; `span` is the last session start;
//!   `sessions[i].index == i`.
//! - Two steps built from equal requests share one [`Template`] (`Arc::ptr_eq`).
//! - Every session is in exactly one of `clients`, whose lists are in start order and never
//!   overlap (each session starts at or after the previous one's last completion);
//!   `sessions[i].pause` is `None` exactly for the first session of its client;
//!   `pauses` holds every `Some` pause, ascending.

use super::follow::Follow;
use crate::correlate::discover::{self, Seen, Token};
use crate::correlate::template;
use crate::metrics::conversation::{self, Picker, Pointer, StreamScan};
use crate::metrics::sse;
use crate::trace::{self, Exchange};
use bytes::{Bytes, BytesMut};
use http::{HeaderName, HeaderValue, Method};
use rustc_hash::{FxHashMap as HashMap, FxHashSet as HashSet};
use std::sync::Arc;
use std::time::Duration;

/// Dense index of an endpoint template.
pub type RouteId = u32;

/// An endpoint: `POST /session/continue`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    pub name: String,
    pub method: String,
    pub path: String,
}

/// Where a variable's live value comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VarSource {
    /// JSON string at `pointer` in the live response of step `step`.
    Json { step: usize, pointer: String },
    /// Live response header `name` of step `step`.
    Header { step: usize, name: HeaderName },
    /// A fresh value of the same shape per virtual user.
    Fresh,
}

/// A correlated value of a session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Var {
    pub name: String,
    pub recorded: String,
    pub source: VarSource,
}

/// A request as recorded, shared by every step that sends the same one.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Template {
    pub method: Method,
    /// Path as recorded (percent-encoded), recorded values still in it.
    pub path: String,
    pub query: Option<String>,
    /// Headers to send as recorded (hop-by-hop, `host`, `content-length`, `accept-encoding`
    /// and redacted ones removed); equal lists are one allocation.
    pub headers: Arc<[(HeaderName, HeaderValue)]>,
    pub body: Bytes,
    /// Whether `body` is JSON (values are then JSON-escaped when substituted).
    pub json_body: bool,
}

/// What is kept of a recorded exchange's outcome: what the measures and the bank read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Twin {
    /// Recorded send, from the start of its recording.
    pub t_us: u64,
    /// Recorded send → last byte of the response (or the failure).
    pub done_us: u64,
    /// 0: no response.
    status: u16,
    /// Index in [`Session::nodes`]; `u32::MAX`: none.
    node: u32,
}

impl Twin {
    /// The recorded status, when a response came.
    pub fn status(&self) -> Option<u16> {
        (self.status != 0).then_some(self.status)
    }

    /// The node (index in [`Session::nodes`]) a 2xx/3xx recorded response named at the
    /// plan's node pointer: in its JSON body, or in the data of the last event of a
    /// `text/event-stream` body.
    pub fn node(&self) -> Option<u32> {
        (self.node != u32::MAX).then_some(self.node)
    }
}

/// One request to send. Its recorded request is shared ([`Template`], read through
/// `Deref`: `step.path`, `step.body`…).
#[derive(Debug, Clone)]
pub struct Step {
    pub route: RouteId,
    pub request: Arc<Template>,
    /// Recorded send offset from the session's first send.
    pub offset: Duration,
    pub dep: Option<usize>,
    /// Recorded time from the dependency's completion to this send (zero without `dep`).
    pub gap: Duration,
    /// Variables whose recorded value appears in this request.
    pub uses: Box<[usize]>,
    /// Variables whose live value this step's response provides.
    pub produces: Box<[usize]>,
    /// The JSON pointers variables read in this step's response, one slot per `produces`
    /// entry (empty for a header); `None` when no variable reads its JSON body.
    pub json_reads: Option<Box<Picker>>,
    /// What is kept of the recorded exchange, for the response hook.
    pub recorded: Twin,
}

impl std::ops::Deref for Step {
    type Target = Template;
    fn deref(&self) -> &Template {
        &self.request
    }
}

/// A recorded session.
#[derive(Debug, Clone, Default)]
pub struct Session {
    /// Session key as recorded (`thread_id`), or `conn:N` for exchanges without one.
    pub key: String,
    /// Position in [`Plan::sessions`].
    pub index: u32,
    /// Recorded start, from the start of its recording.
    pub start: Duration,
    pub steps: Vec<Step>,
    pub vars: Vec<Var>,
    /// The plan's node names, by [`Twin::node`] (one list shared by every session).
    pub nodes: Arc<[Box<str>]>,
    /// Index of its recorded client in [`Plan::clients`].
    pub client: u32,
    /// Recorded time from the previous session of its client's last completion to this
    /// session's first send (zero when they overlapped); `None` for a client's first.
    pub pause: Option<Duration>,
    /// A streamed session's endpoints ([`super::stream`]): the routes interned when it was
    /// built (every `route` of its steps is below their length); `None`: the plan's.
    pub routes: Option<Arc<[Route]>>,
}

impl Session {
    /// The name of node `node` ([`Twin::node`]); empty for an unknown index.
    pub fn node(&self, node: u32) -> &str {
        self.nodes.get(node as usize).map_or("", |n| n)
    }
}

/// Everything a replay needs, built once.
#[derive(Debug, Clone, Default)]
pub struct Plan {
    pub routes: Vec<Route>,
    pub sessions: Vec<Session>,
    /// Latest session start.
    pub span: Duration,
    /// Exchanges read.
    pub exchanges: u64,
    /// How users follow a live agent that leaves the recorded conversation (the answer
    /// bank and the `--on-divergence` policy); `None`: they keep to the recording.
    pub follow: Option<Arc<Follow>>,
    /// The JSON pointer the twins' nodes were read at (`Builder::node_pointer`).
    pub node_pointer: String,
    /// The recorded clients: each one's sessions (indices into `sessions`), in start order.
    pub clients: Vec<Vec<u32>>,
    /// Every recorded pause between two sessions of one client, ascending.
    pub pauses: Vec<Duration>,
    /// Per client (parallel to `clients`): its recorded idle tail, from its last
    /// completion to the last completion of its recording. Its next pause, had the
    /// recording gone on, was at least this long.
    pub tails: Vec<Duration>,
}

const SKIP_HEADERS: &[&str] = &[
    "host",
    "content-length",
    "connection",
    "keep-alive",
    "proxy-connection",
    "transfer-encoding",
    "te",
    "trailer",
    "upgrade",
    "accept-encoding",
];

/// Bodies are copied into arena buffers of this size (a larger body gets its own).
const ARENA_CHUNK: usize = 1 << 20;

/// Which session an exchange belongs to: its recording, its session id, else its
/// connection.
#[derive(Debug, Clone, Copy)]
pub(super) struct Key<'a> {
    pub source: u32,
    pub session: Option<&'a str>,
    pub conn: u64,
}

/// What a recorded response gave the plan.
#[derive(Debug)]
pub(super) struct Outcome {
    /// 0: no response.
    pub status: u16,
    /// `u32::MAX`: none.
    pub node: u32,
    pub tokens: Arc<[Token]>,
}

/// An exchange waiting for the rest of its session.
#[derive(Debug)]
struct Pending {
    id: u64,
    conn: u64,
    request: Arc<Template>,
    twin: Twin,
    response_tokens: Arc<[Token]>,
}

/// Accumulates exchanges, then builds the [`Plan`].
#[derive(Debug)]
pub struct Builder {
    groups: HashMap<(u32, String), Vec<Pending>>,
    exchanges: u64,
    declared: Vec<String>,
    node_pointer: String,
    pointer: Option<Pointer>,
    nodes: Vec<Box<str>>,
    node_ids: HashMap<Box<str>, u32>,
    templates: HashSet<Arc<Template>>,
    header_lists: HashSet<Arc<[(HeaderName, HeaderValue)]>>,
    tokens: HashSet<Arc<[Token]>>,
    no_tokens: Arc<[Token]>,
    arena: BytesMut,
    routes: Vec<Route>,
    route_ids: HashMap<String, RouteId>,
    /// Shared copies of `nodes` and `routes` for sessions taken one by one ([`Self::take`]),
    /// made again only when they grew.
    shared_nodes: Option<Arc<[Box<str>]>>,
    shared_routes: Option<Arc<[Route]>>,
}

impl Default for Builder {
    fn default() -> Self {
        Builder {
            groups: HashMap::default(),
            exchanges: 0,
            declared: Vec::new(),
            node_pointer: String::new(),
            pointer: None,
            nodes: Vec::new(),
            node_ids: HashMap::default(),
            templates: HashSet::default(),
            header_lists: HashSet::default(),
            tokens: HashSet::default(),
            no_tokens: Arc::from(Vec::new()),
            arena: BytesMut::new(),
            routes: Vec::new(),
            route_ids: HashMap::default(),
            shared_nodes: None,
            shared_routes: None,
        }
        .node_pointer(&conversation::Config::default().node_pointer)
    }
}

impl Builder {
    pub fn new() -> Self {
        Self::default()
    }

    /// Declares JSON pointers whose response values are correlations even when they do not
    /// look like ids (a profile's `correlation.pointers`), on top of discovery. Call it
    /// before adding exchanges.
    pub fn correlate(mut self, pointers: &[String]) -> Self {
        self.declared.extend(pointers.iter().cloned());
        self
    }

    /// The conversation node pointer the recorded responses' nodes are read at (default
    /// `/current_node`; empty: none). Call it before adding exchanges.
    pub fn node_pointer(mut self, pointer: &str) -> Self {
        self.node_pointer = pointer.to_string();
        self.pointer = Pointer::parse(pointer).filter(|_| !pointer.is_empty());
        self
    }

    /// Adds one exchange of recording number `source` (sessions never span recordings).
    pub fn add(&mut self, source: u32, ex: Exchange) {
        self.add_one(source, ex);
    }

    /// [`Self::add`], returning how many exchanges the exchange's session holds now.
    pub(super) fn add_one(&mut self, source: u32, ex: Exchange) -> usize {
        let (status, node, response_tokens) = match &ex.res {
            Some(res) => (
                res.status.max(1),
                self.recorded_node(res),
                self.intern_tokens(discover::response_tokens(res, &self.declared)),
            ),
            None => (0, u32::MAX, self.no_tokens.clone()),
        };
        let outcome = Outcome {
            status,
            node,
            tokens: response_tokens,
        };
        let key = Key {
            source,
            session: ex.session.as_deref(),
            conn: ex.conn,
        };
        self.push(key, (ex.id, ex.t_us, ex.done_us), ex.req, outcome)
    }

    /// Adds one exchange given by what the plan keeps of it: its session, `(id, t_us,
    /// done_us)`, its request, and what its response gave. Returns how many exchanges its
    /// session holds now.
    pub(super) fn push(
        &mut self,
        key: Key<'_>,
        (id, t_us, done_us): (u64, u64, u64),
        req: trace::Request,
        outcome: Outcome,
    ) -> usize {
        self.exchanges += 1;
        let twin = Twin {
            t_us,
            done_us,
            status: outcome.status,
            node: outcome.node,
        };
        let request = self.template(req);
        let group = self
            .groups
            .entry((key.source, group_key(key.session, key.conn).into_owned()))
            .or_default();
        group.push(Pending {
            id,
            conn: key.conn,
            request,
            twin,
            response_tokens: outcome.tokens,
        });
        group.len()
    }

    /// The declared correlation pointers.
    pub(super) fn declared(&self) -> &[String] {
        &self.declared
    }

    /// The node pointer, as given (empty: none).
    pub(super) fn node_pointer_str(&self) -> &str {
        if self.pointer.is_some() {
            &self.node_pointer
        } else {
            ""
        }
    }

    /// The empty token list.
    pub(super) fn no_tokens(&self) -> Arc<[Token]> {
        self.no_tokens.clone()
    }

    pub(super) fn intern_tokens(&mut self, tokens: Vec<Token>) -> Arc<[Token]> {
        if tokens.is_empty() {
            return self.no_tokens.clone();
        }
        if let Some(t) = self.tokens.get(&tokens[..]) {
            return t.clone();
        }
        let t: Arc<[Token]> = Arc::from(tokens);
        self.tokens.insert(t.clone());
        t
    }

    /// The node a recorded 2xx/3xx response names, interned.
    fn recorded_node(&mut self, res: &trace::Response) -> u32 {
        let Some(p) = self.pointer.as_ref().filter(|_| res.status < 400) else {
            return u32::MAX;
        };
        let name = match res.body.json() {
            Some(doc) => p.get(doc).and_then(|v| v.as_str()).map(str::to_string),
            None => sse_last_json(res).and_then(|doc| p.get(&doc)?.as_str().map(str::to_string)),
        };
        match name {
            Some(name) => self.intern_node(&name),
            None => u32::MAX,
        }
    }

    /// The id of node `name` in the plan's node list.
    pub(super) fn intern_node(&mut self, name: &str) -> u32 {
        if let Some(&id) = self.node_ids.get(name) {
            return id;
        }
        let id = self.nodes.len() as u32;
        self.nodes.push(name.into());
        self.shared_nodes = None;
        self.node_ids.insert(name.into(), id);
        id
    }

    /// The shared template of a recorded request.
    fn template(&mut self, req: trace::Request) -> Arc<Template> {
        let method = req.method.to_ascii_uppercase();
        let headers: Vec<(HeaderName, HeaderValue)> = req
            .headers
            .iter()
            .filter(|(n, v)| {
                !SKIP_HEADERS.contains(&n.to_ascii_lowercase().as_str()) && v != trace::REDACTED
            })
            .filter_map(|(n, v)| {
                Some((
                    HeaderName::from_bytes(n.as_bytes()).ok()?,
                    HeaderValue::from_str(v).ok()?,
                ))
            })
            .collect();
        let headers = match self.header_lists.get(&headers[..]) {
            Some(h) => h.clone(),
            None => {
                let h: Arc<[(HeaderName, HeaderValue)]> = Arc::from(headers);
                self.header_lists.insert(h.clone());
                h
            }
        };
        let candidate = Template {
            method: Method::from_bytes(method.as_bytes()).unwrap_or(Method::GET),
            path: req.path,
            query: req.query,
            headers,
            body: Bytes::from(req.body.to_bytes()),
            json_body: req.body.json().is_some(),
        };
        if let Some(t) = self.templates.get(&candidate) {
            return t.clone();
        }
        let mut t = candidate;
        t.body = self.arena(&t.body);
        t.path.shrink_to_fit();
        let t = Arc::new(t);
        self.templates.insert(t.clone());
        t
    }

    /// A copy of `bytes` in the arena.
    fn arena(&mut self, bytes: &[u8]) -> Bytes {
        if bytes.is_empty() {
            return Bytes::new();
        }
        if self.arena.capacity() - self.arena.len() < bytes.len() {
            self.arena = BytesMut::with_capacity(ARENA_CHUNK.max(bytes.len()));
        }
        self.arena.extend_from_slice(bytes);
        self.arena.split().freeze()
    }

    /// Sessions held so far (each still waiting for the end of the recording).
    pub fn sessions(&self) -> usize {
        self.groups.len()
    }

    /// Builds session `key` of recording `source` now, from the exchanges added so far,
    /// and forgets them (a streamed plan, [`super::stream`]: the session is complete). Its
    /// `nodes` and `routes` are the builder's as they stand; `index` is left 0.
    pub(super) fn take(&mut self, source: u32, key: &str) -> Option<Session> {
        let (k, mut exs) = self.groups.remove_entry(&(source, key.to_string()))?;
        exs.sort_by_key(|e| (e.twin.t_us, e.id));
        let mut s = session(k.1, exs, &mut self.routes, &mut self.route_ids);
        if self
            .shared_routes
            .as_ref()
            .is_none_or(|r| r.len() != self.routes.len())
        {
            self.shared_routes = Some(Arc::from(self.routes.clone()));
        }
        s.nodes = self
            .shared_nodes
            .get_or_insert_with(|| Arc::from(self.nodes.clone()))
            .clone();
        s.routes = self.shared_routes.clone();
        Some(s)
    }

    /// The sessions still held, by recording and key.
    pub(super) fn held(&self) -> Vec<(u32, String)> {
        self.groups.keys().cloned().collect()
    }

    /// The endpoints interned so far (by [`Self::take`]).
    pub(super) fn routes(&self) -> &[Route] {
        &self.routes
    }

    pub fn finish(self) -> Plan {
        let Builder {
            groups,
            exchanges,
            nodes,
            node_pointer,
            mut routes,
            mut route_ids,
            ..
        } = self;
        let nodes: Arc<[Box<str>]> = Arc::from(nodes);
        // each session with its client (recording, conn of its first exchange) and end
        let mut built: Vec<(Session, (u32, u64), Duration)> = groups
            .into_iter()
            .map(|((source, key), mut exs)| {
                exs.sort_by_key(|e| (e.twin.t_us, e.id));
                let conn = exs.first().map_or(0, |e| e.conn);
                let end = exs
                    .iter()
                    .map(|e| e.twin.t_us.saturating_add(e.twin.done_us))
                    .max();
                let end = Duration::from_micros(end.unwrap_or(0));
                let mut s = session(key, exs, &mut routes, &mut route_ids);
                s.nodes = nodes.clone();
                (s, (source, conn), end)
            })
            .collect();
        built.sort_by(|a, b| {
            a.0.start
                .cmp(&b.0.start)
                .then_with(|| a.0.key.cmp(&b.0.key))
        });
        let mut recording_end: HashMap<u32, Duration> = HashMap::default();
        for (_, (source, _), end) in &built {
            let e = recording_end.entry(*source).or_default();
            *e = (*e).max(*end);
        }
        // a connection is one user's only if its sessions follow one another; sessions that
        // overlap on it (a shared pool, a fixture) were not, and stay clients of their own
        let mut overlapping: HashSet<(u32, u64)> = HashSet::default();
        let mut conn_end: HashMap<(u32, u64), Duration> = HashMap::default();
        for (s, conn, end) in &built {
            let e = conn_end.entry(*conn).or_default();
            if s.start < *e {
                overlapping.insert(*conn);
            }
            *e = (*e).max(*end);
        }
        let mut chain: HashMap<(u32, u64), u32> = HashMap::default();
        let mut client_source: Vec<u32> = Vec::new();
        let mut client_end: Vec<Duration> = Vec::new();
        let mut clients: Vec<Vec<u32>> = Vec::new();
        let mut pauses = Vec::new();
        let mut sessions = Vec::with_capacity(built.len());
        for (i, (mut s, conn, end)) in built.into_iter().enumerate() {
            s.index = i as u32;
            match chain.get(&conn).filter(|_| !overlapping.contains(&conn)) {
                Some(&c) => {
                    let pause = s.start.saturating_sub(client_end[c as usize]);
                    s.client = c;
                    s.pause = Some(pause);
                    pauses.push(pause);
                    clients[c as usize].push(s.index);
                    client_end[c as usize] = client_end[c as usize].max(end);
                }
                None => {
                    s.client = clients.len() as u32;
                    chain.insert(conn, s.client);
                    clients.push(vec![s.index]);
                    client_source.push(conn.0);
                    client_end.push(end);
                }
            }
            sessions.push(s);
        }
        pauses.sort();
        let tails = client_source
            .iter()
            .zip(&client_end)
            .map(|(source, end)| {
                recording_end
                    .get(source)
                    .map_or(Duration::ZERO, |r| r.saturating_sub(*end))
            })
            .collect();
        let span = sessions.iter().map(|s| s.start).max().unwrap_or_default();
        Plan {
            routes,
            sessions,
            span,
            exchanges,
            follow: None,
            node_pointer,
            clients,
            pauses,
            tails,
        }
    }
}

/// The JSON of the last event of a recorded `text/event-stream` body.
pub(super) fn sse_last_json(res: &trace::Response) -> Option<serde_json::Value> {
    let sse = res
        .headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("content-type"))
        .is_some_and(|(_, ct)| StreamScan::is_sse_content_type(ct.as_bytes()));
    if !sse {
        return None;
    }
    let text = match &res.body.data {
        trace::BodyData::Text(t) => std::borrow::Cow::Borrowed(t.as_bytes()),
        _ => std::borrow::Cow::Owned(res.body.to_bytes()),
    };
    let last = sse::parse_all(&text).pop()?;
    serde_json::from_str(&last.data).ok()
}

impl Plan {
    /// A plan from exchanges of one recording.
    pub fn from_exchanges(exchanges: impl IntoIterator<Item = Exchange>) -> Plan {
        let mut b = Builder::new();
        for ex in exchanges {
            b.add(0, ex);
        }
        b.finish()
    }

    /// `(name, method, path)` per route, for the summary.
    pub fn route_names(&self) -> Vec<(String, String, String)> {
        self.routes
            .iter()
            .map(|r| (r.name.clone(), r.method.clone(), r.path.clone()))
            .collect()
    }
}

/// The discovery tokens of a template's request (its body parsed again when JSON).
fn template_tokens(t: &Template) -> Vec<Token> {
    let json = t
        .json_body
        .then(|| serde_json::from_slice::<serde_json::Value>(&t.body).ok())
        .flatten();
    let headers: Vec<(&str, &str)> = t
        .headers
        .iter()
        .filter_map(|(n, v)| Some((n.as_str(), v.to_str().ok()?)))
        .collect();
    discover::request_tokens_of(
        &t.path,
        t.query.as_deref(),
        headers.into_iter(),
        json.as_ref(),
    )
}

/// For each exchange (sorted by send), the latest other exchange completed at or before
/// its send: `(index, completion)`, the later index among equal completions. One sort and
/// one sweep, not a scan per exchange (a recorded connection holds thousands).
fn dependencies(sent: &[u64], done: &[u64]) -> Vec<Option<usize>> {
    let mut by_done: Vec<usize> = (0..sent.len()).collect();
    by_done.sort_by_key(|&j| (done[j], j));
    let (mut last, mut before): (Option<usize>, Option<usize>) = (None, None);
    let mut k = 0;
    sent.iter()
        .enumerate()
        .map(|(i, &t)| {
            // completions come in increasing (done, index) order: each is the new latest
            while k < by_done.len() && done[by_done[k]] <= t {
                before = last;
                last = Some(by_done[k]);
                k += 1;
            }
            if last == Some(i) {
                before
            } else {
                last
            }
        })
        .collect()
}

fn session(
    key: String,
    exs: Vec<Pending>,
    routes: &mut Vec<Route>,
    route_ids: &mut HashMap<String, RouteId>,
) -> Session {
    // the request tokens of each distinct template of this session
    let mut request_tokens: HashMap<*const Template, Vec<Token>> = HashMap::default();
    for e in &exs {
        request_tokens
            .entry(Arc::as_ptr(&e.request))
            .or_insert_with(|| template_tokens(&e.request));
    }
    let seen: Vec<Seen<'_>> = exs
        .iter()
        .map(|e| Seen {
            id: e.id,
            sent_us: e.twin.t_us,
            done_us: e
                .twin
                .status()
                .map(|_| e.twin.t_us.saturating_add(e.twin.done_us)),
            request: &request_tokens[&Arc::as_ptr(&e.request)],
            response: &e.response_tokens,
        })
        .collect();
    let found = discover::discover_seen(&seen);
    drop(seen);
    drop(request_tokens);
    let ids: Vec<(&str, &str)> = found
        .iter()
        .map(|c| (c.value.as_str(), c.name.as_str()))
        .collect();
    let start_us = exs.first().map(|e| e.twin.t_us).unwrap_or(0);
    let sent: Vec<u64> = exs.iter().map(|e| e.twin.t_us).collect();
    let done: Vec<u64> = exs
        .iter()
        .map(|e| e.twin.t_us.saturating_add(e.twin.done_us))
        .collect();
    let deps = dependencies(&sent, &done);

    // the route of each distinct template in this session (templating depends on its ids)
    let mut route_of: HashMap<*const Template, RouteId> = HashMap::default();
    let mut steps: Vec<Step> = Vec::with_capacity(exs.len());
    for (i, ex) in exs.iter().enumerate() {
        let route = *route_of.entry(Arc::as_ptr(&ex.request)).or_insert_with(|| {
            let path_t = template::path(&ex.request.path, &ids);
            let method = ex.request.method.as_str().to_string();
            let name = format!("{method} {path_t}");
            *route_ids.entry(name.clone()).or_insert_with(|| {
                routes.push(Route {
                    name,
                    method,
                    path: path_t,
                });
                (routes.len() - 1) as RouteId
            })
        });
        let dep = deps[i];
        steps.push(Step {
            route,
            request: ex.request.clone(),
            offset: Duration::from_micros(ex.twin.t_us - start_us),
            dep,
            gap: dep
                .map(|j| Duration::from_micros(ex.twin.t_us - done[j]))
                .unwrap_or_default(),
            uses: Box::default(),
            produces: Box::default(),
            json_reads: None,
            recorded: ex.twin,
        });
    }
    drop(exs);
    let mut uses: Vec<Vec<usize>> = Vec::new();
    let mut produces: Vec<Vec<usize>> = Vec::new();
    if !found.is_empty() {
        uses = vec![Vec::new(); steps.len()];
        produces = vec![Vec::new(); steps.len()];
    }
    let mut vars = Vec::with_capacity(found.len());
    for (v, c) in found.into_iter().enumerate() {
        let source = match c.source {
            discover::Source::Json { exchange, pointer } => {
                produces[exchange].push(v);
                VarSource::Json {
                    step: exchange,
                    pointer,
                }
            }
            discover::Source::Header { exchange, name } => {
                match HeaderName::from_bytes(name.as_bytes()) {
                    Ok(name) => {
                        produces[exchange].push(v);
                        VarSource::Header {
                            step: exchange,
                            name,
                        }
                    }
                    Err(_) => VarSource::Fresh,
                }
            }
            discover::Source::Client => VarSource::Fresh,
        };
        for &u in &c.used_by {
            uses[u].push(v);
        }
        vars.push(Var {
            name: c.name,
            recorded: c.value,
            source,
        });
    }
    for (i, (u, p)) in uses.into_iter().zip(produces).enumerate() {
        let step = &mut steps[i];
        step.uses = u.into_boxed_slice();
        step.produces = p.into_boxed_slice();
        let pointers: Vec<Option<Pointer>> = step
            .produces
            .iter()
            .map(|&v| match &vars[v].source {
                VarSource::Json { pointer, .. } => Pointer::parse(pointer),
                _ => None,
            })
            .collect();
        if pointers.iter().any(Option::is_some) {
            step.json_reads = Some(Box::new(Picker::new(pointers.iter().map(Option::as_ref))));
        }
    }
    Session {
        key,
        index: 0,
        start: Duration::from_micros(start_us),
        steps,
        vars,
        nodes: Arc::from(Vec::new()),
        client: 0,
        pause: None,
        routes: None,
    }
}

/// The key of an exchange's session in its recording: its session id, else `conn:N`.
pub(super) fn group_key(session: Option<&str>, conn: u64) -> std::borrow::Cow<'_, str> {
    match session {
        Some(s) => std::borrow::Cow::Borrowed(s),
        None => std::borrow::Cow::Owned(format!("conn:{conn}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::correlate::discover::tests::ex;
    use serde_json::json;

    const T: &str = "3f2c1a9e-8c4b-4f1e-9a53-2b7d7c1e0f44";

    #[test]
    fn dependencies_gaps_and_overlap() {
        // start (0–100 ms), continue (600–2600 ms), status poll during the continue (1000 ms)
        let a = ex(
            1,
            0,
            100,
            "POST",
            "/session/start",
            json!({}),
            json!({"thread_id": T}),
        );
        let b = ex(
            2,
            600,
            2000,
            "POST",
            "/session/continue",
            json!({"thread_id": T}),
            json!({"turn": 1}),
        );
        let c = ex(
            3,
            1000,
            10,
            "GET",
            &format!("/session/status/{T}"),
            json!(null),
            json!({}),
        );
        let d = ex(
            4,
            3600,
            100,
            "POST",
            "/session/continue",
            json!({"thread_id": T}),
            json!({}),
        );
        let plan = Plan::from_exchanges(vec![d, c, b, a]);
        assert_eq!(plan.sessions.len(), 1);
        let s = &plan.sessions[0];
        let deps: Vec<_> = s.steps.iter().map(|st| st.dep).collect();
        assert_eq!(deps, vec![None, Some(0), Some(0), Some(1)]);
        let gaps: Vec<_> = s.steps.iter().map(|st| st.gap.as_millis()).collect();
        assert_eq!(gaps, vec![0, 500, 900, 1000]);
        assert_eq!(s.steps[2].offset, Duration::from_millis(1000));
        let names: Vec<_> = s
            .steps
            .iter()
            .map(|st| plan.routes[st.route as usize].name.as_str())
            .collect();
        assert_eq!(
            names,
            vec![
                "POST /session/start",
                "POST /session/continue",
                "GET /session/status/{thread_id}",
                "POST /session/continue"
            ]
        );
        assert_eq!(plan.routes.len(), 3);
        assert_eq!(s.vars.len(), 1);
        assert_eq!(
            s.vars[0].source,
            VarSource::Json {
                step: 0,
                pointer: "/thread_id".into()
            }
        );
        assert_eq!(&*s.steps[0].produces, &[0]);
        assert!(s.steps[0].json_reads.is_some());
        assert!(s.steps[1].json_reads.is_none());
        assert_eq!(&*s.steps[3].uses, &[0]);
    }

    #[test]
    fn null_sessions_group_by_connection_and_sessions_sort_by_start() {
        let mut a = ex(1, 500, 10, "GET", "/health", json!(null), json!({}));
        a.session = None;
        a.conn = 7;
        let mut b = ex(2, 0, 10, "GET", "/x", json!(null), json!({}));
        b.session = Some("other".into());
        let mut c = ex(3, 900, 10, "GET", "/health", json!(null), json!({}));
        c.session = None;
        c.conn = 7;
        let plan = Plan::from_exchanges(vec![a, b, c]);
        let keys: Vec<_> = plan.sessions.iter().map(|s| s.key.as_str()).collect();
        assert_eq!(keys, vec!["other", "conn:7"]);
        assert_eq!(plan.sessions[1].steps.len(), 2);
        assert_eq!(plan.span, Duration::from_millis(500));
        assert_eq!(plan.exchanges, 3);
    }

    /// The rule as first written: for each send, a scan of every other exchange.
    fn dependencies_by_scan(sent: &[u64], done: &[u64]) -> Vec<Option<usize>> {
        (0..sent.len())
            .map(|i| {
                let mut dep: Option<(usize, u64)> = None;
                for j in 0..sent.len() {
                    if j != i
                        && sent[j] <= sent[i]
                        && done[j] <= sent[i]
                        && dep.is_none_or(|(_, d)| done[j] >= d)
                    {
                        dep = Some((j, done[j]));
                    }
                }
                dep.map(|(j, _)| j)
            })
            .collect()
    }

    #[test]
    fn dependencies_equal_the_scan_on_random_sessions() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        for round in 0..500 {
            let n = rng.gen_range(0..40);
            // few distinct times, so ties (equal sends, equal completions, zero durations)
            let mut sent: Vec<u64> = (0..n).map(|_| rng.gen_range(0..20)).collect();
            sent.sort();
            let done: Vec<u64> = sent.iter().map(|t| t + rng.gen_range(0..6)).collect();
            assert_eq!(
                dependencies(&sent, &done),
                dependencies_by_scan(&sent, &done),
                "round {round}: sent {sent:?} done {done:?}"
            );
        }
    }

    fn get(id: u64, t_ms: u64, session: &str, path: &str) -> Exchange {
        let mut e = ex(id, t_ms, 5, "GET", path, json!(null), json!({"ok": true}));
        e.session = Some(session.into());
        e.req.headers = vec![
            ("host".into(), "example".into()),
            ("x-client".into(), "bench".into()),
            ("authorization".into(), trace::REDACTED.into()),
        ];
        e
    }

    #[test]
    fn equal_requests_share_one_template_and_headers_one_list() {
        let mut exs = Vec::new();
        for i in 0..50u64 {
            exs.push(get(i, i * 10, if i % 2 == 0 { "a" } else { "b" }, "/same"));
        }
        let mut post = ex(100, 1000, 5, "POST", "/other", json!({"n": 1}), json!({}));
        post.session = Some("a".into());
        post.req.headers = exs[0].req.headers.clone();
        exs.push(post);
        let plan = Plan::from_exchanges(exs);
        let steps: Vec<&Step> = plan.sessions.iter().flat_map(|s| &s.steps).collect();
        assert_eq!(steps.len(), 51);
        let gets: Vec<&&Step> = steps.iter().filter(|s| s.path == "/same").collect();
        assert_eq!(gets.len(), 50);
        assert!(gets
            .iter()
            .all(|s| Arc::ptr_eq(&s.request, &gets[0].request)));
        let post = steps.iter().find(|s| s.path == "/other").unwrap();
        assert!(!Arc::ptr_eq(&post.request, &gets[0].request));
        assert!(
            Arc::ptr_eq(&post.headers, &gets[0].headers),
            "one header list"
        );
        // what is sent: host and redacted values dropped, the rest as recorded
        let names: Vec<&str> = post.headers.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["x-client"]);
        assert_eq!(&post.body[..], br#"{"n":1}"#);
        assert!(post.json_body && !gets[0].json_body);
        assert_eq!(post.method, Method::POST);
    }

    #[test]
    fn distinct_bodies_are_slices_of_one_arena() {
        let exs: Vec<Exchange> = (0..20u64)
            .map(|i| {
                let mut e = ex(
                    i,
                    i,
                    1,
                    "POST",
                    "/x",
                    json!({"i": i, "pad": "y".repeat(100)}),
                    json!(null),
                );
                e.session = Some(format!("s{i}"));
                e
            })
            .collect();
        let want: Vec<Vec<u8>> = exs.iter().map(|e| e.req.body.to_bytes()).collect();
        let plan = Plan::from_exchanges(exs);
        let bodies: Vec<&Bytes> = plan.sessions.iter().map(|s| &s.steps[0].body).collect();
        for (b, w) in bodies.iter().zip(&want) {
            assert_eq!(&b[..], &w[..]);
        }
        // one buffer: each body starts where the previous one ended
        let mut sorted: Vec<&Bytes> = bodies.clone();
        sorted.sort_by_key(|b| b.as_ptr() as usize);
        for w in sorted.windows(2) {
            assert_eq!(w[0].as_ptr() as usize + w[0].len(), w[1].as_ptr() as usize);
        }
    }

    #[test]
    fn twins_keep_status_times_and_the_node_of_json_and_sse_bodies() {
        let a = ex(
            1,
            0,
            100,
            "POST",
            "/session/start",
            json!({}),
            json!({"thread_id": T, "current_node": "APK"}),
        );
        let mut b = ex(
            2,
            200,
            300,
            "POST",
            "/session/continue/stream",
            json!({"thread_id": T}),
            json!(null),
        );
        let text = "data: {\"token\":\"Hi\"}\n\nevent: done\ndata: {\"current_node\":\"CI\"}\n\n";
        let res = b.res.as_mut().unwrap();
        res.headers = vec![("content-type".into(), "text/event-stream".into())];
        res.body = trace::Body::from_bytes(text.as_bytes(), text.len() as u64);
        let mut c = ex(
            3,
            600,
            10,
            "POST",
            "/session/continue",
            json!({}),
            json!({}),
        );
        let r = c.res.as_mut().unwrap();
        r.status = 500;
        r.body = trace::Body::from_bytes(br#"{"current_node":"ERR"}"#, 22);
        let mut d = ex(4, 700, 10, "GET", "/x", json!(null), json!(null));
        d.res = None;
        let plan = Plan::from_exchanges(vec![a, b, c, d]);
        let s = &plan.sessions[0];
        let nodes: Vec<Option<&str>> = s
            .steps
            .iter()
            .map(|st| st.recorded.node().map(|n| s.node(n)))
            .collect();
        assert_eq!(nodes, [Some("APK"), Some("CI"), None, None]);
        let status: Vec<Option<u16>> = s.steps.iter().map(|st| st.recorded.status()).collect();
        assert_eq!(status, [Some(200), Some(200), Some(500), None]);
        assert_eq!(s.steps[1].recorded.t_us, 200_000);
        assert_eq!(s.steps[1].recorded.done_us, 300_000);
        assert_eq!(plan.node_pointer, "/current_node");
        // another pointer, or none
        let mut b = Builder::new().node_pointer("/turn");
        b.add(
            0,
            ex(1, 0, 1, "GET", "/", json!(null), json!({"turn": "t1"})),
        );
        let p = b.finish();
        assert_eq!(
            p.sessions[0].node(p.sessions[0].steps[0].recorded.node().unwrap()),
            "t1"
        );
        let mut b = Builder::new().node_pointer("");
        b.add(
            0,
            ex(
                1,
                0,
                1,
                "GET",
                "/",
                json!(null),
                json!({"current_node": "A"}),
            ),
        );
        assert_eq!(b.finish().sessions[0].steps[0].recorded.node(), None);
    }

    #[test]
    fn sessions_overlapping_on_one_connection_are_separate_clients() {
        let one = |id, session: &str, t, done| {
            let mut e = ex(id, t, done, "GET", "/x", json!(null), json!({}));
            e.session = Some(session.into());
            e.conn = 5;
            e
        };
        // p 0–500, q 100–300 overlaps p: not one user's connection; r at 400 too
        let plan = Plan::from_exchanges(vec![
            one(1, "p", 0, 500),
            one(2, "q", 100, 200),
            one(3, "r", 400, 10),
        ]);
        assert_eq!(plan.clients, vec![vec![0], vec![1], vec![2]]);
        assert!(plan.sessions.iter().all(|s| s.pause.is_none()));
        assert!(plan.pauses.is_empty());
        // the recording ends at 500
        let ms = Duration::from_millis;
        assert_eq!(plan.tails, vec![ms(0), ms(200), ms(90)]);
    }

    #[test]
    fn sessions_of_one_connection_are_one_client_with_their_pauses() {
        let one = |id, session: &str, conn, t, done| {
            let mut e = ex(id, t, done, "GET", "/x", json!(null), json!({}));
            e.session = Some(session.into());
            e.conn = conn;
            e
        };
        let plan = Plan::from_exchanges(vec![
            // client 1: a (0–100, 200–500 ms), pause 1500 ms, b (2000–2100), pause 0, c
            one(1, "a", 1, 0, 100),
            one(2, "a", 1, 200, 300),
            one(3, "b", 1, 2000, 100),
            one(4, "c", 1, 2100, 10),
            // client 2: d alone
            one(5, "d", 2, 50, 10),
        ]);
        let keys: Vec<_> = plan.sessions.iter().map(|s| s.key.as_str()).collect();
        assert_eq!(keys, vec!["a", "d", "b", "c"]);
        assert_eq!(plan.clients, vec![vec![0, 2, 3], vec![1]]);
        let pauses: Vec<_> = plan.sessions.iter().map(|s| s.pause).collect();
        assert_eq!(
            pauses,
            vec![
                None,
                None,
                Some(Duration::from_millis(1500)),
                Some(Duration::ZERO)
            ]
        );
        assert_eq!(
            plan.pauses,
            vec![Duration::ZERO, Duration::from_millis(1500)]
        );
        assert_eq!(plan.sessions[1].client, 1);
        // the recording ends with c (2100 + 10 ms): client 2 was idle from 60 ms on
        assert_eq!(
            plan.tails,
            vec![Duration::ZERO, Duration::from_millis(2050)]
        );
    }
}
