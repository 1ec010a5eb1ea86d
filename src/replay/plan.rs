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
//! - Every session is in exactly one of `clients`, whose lists are in start order and never
//!   overlap (each session starts at or after the previous one's last completion);
//!   `sessions[i].pause` is `None` exactly for the first session of its client;
//!   `pauses` holds every `Some` pause, ascending.

use super::follow::Follow;
use crate::correlate::{discover, template};
use crate::metrics::conversation::{Picker, Pointer};
use crate::trace::Exchange;
use bytes::Bytes;
use http::{HeaderName, HeaderValue, Method};
use std::collections::HashMap;
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

/// One request to send.
#[derive(Debug, Clone)]
pub struct Step {
    pub route: RouteId,
    pub method: Method,
    /// Path as recorded (percent-encoded), recorded values still in it.
    pub path: String,
    pub query: Option<String>,
    /// Headers to send as recorded (hop-by-hop, `host`, `content-length`, `accept-encoding`
    /// and redacted ones removed).
    pub headers: Vec<(HeaderName, HeaderValue)>,
    pub body: Bytes,
    /// Whether `body` is JSON (values are then JSON-escaped when substituted).
    pub json_body: bool,
    /// Recorded send offset from the session's first send.
    pub offset: Duration,
    pub dep: Option<usize>,
    /// Recorded time from the dependency's completion to this send (zero without `dep`).
    pub gap: Duration,
    /// Variables whose recorded value appears in this request.
    pub uses: Vec<usize>,
    /// Variables whose live value this step's response provides.
    pub produces: Vec<usize>,
    /// The JSON pointers variables read in this step's response, one slot per `produces`
    /// entry (empty for a header); `None` when no variable reads its JSON body.
    pub json_reads: Option<Picker>,
    /// The recorded exchange, for the response hook.
    pub recorded: Arc<Exchange>,
}

/// A recorded session.
#[derive(Debug, Clone)]
pub struct Session {
    /// Session key as recorded (`thread_id`), or `conn:N` for exchanges without one.
    pub key: String,
    /// Position in [`Plan::sessions`].
    pub index: u32,
    /// Recorded start, from the start of its recording.
    pub start: Duration,
    pub steps: Vec<Step>,
    pub vars: Vec<Var>,
    /// Index of its recorded client in [`Plan::clients`].
    pub client: u32,
    /// Recorded time from the previous session of its client's last completion to this
    /// session's first send (zero when they overlapped); `None` for a client's first.
    pub pause: Option<Duration>,
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

/// Accumulates exchanges, then builds the [`Plan`].
#[derive(Debug, Default)]
pub struct Builder {
    groups: HashMap<(u32, String), Vec<Exchange>>,
    exchanges: u64,
    declared: Vec<String>,
}

impl Builder {
    pub fn new() -> Self {
        Self::default()
    }

    /// Declares JSON pointers whose response values are correlations even when they do not
    /// look like ids (a profile's `correlation.pointers`), on top of discovery.
    pub fn correlate(mut self, pointers: &[String]) -> Self {
        self.declared.extend(pointers.iter().cloned());
        self
    }

    /// Adds one exchange of recording number `source` (sessions never span recordings).
    pub fn add(&mut self, source: u32, ex: Exchange) {
        self.exchanges += 1;
        let key = match &ex.session {
            Some(s) => s.clone(),
            None => format!("conn:{}", ex.conn),
        };
        self.groups.entry((source, key)).or_default().push(ex);
    }

    pub fn finish(self) -> Plan {
        let mut routes: Vec<Route> = Vec::new();
        let mut route_ids: HashMap<String, RouteId> = HashMap::new();
        // each session with its client (recording, conn of its first exchange) and end
        let mut built: Vec<(Session, (u32, u64), Duration)> = self
            .groups
            .into_iter()
            .map(|((source, key), mut exs)| {
                exs.sort_by_key(|e| (e.t_us, e.id));
                let conn = exs.first().map_or(0, |e| e.conn);
                let end = exs.iter().map(|e| e.t_us.saturating_add(e.done_us)).max();
                let end = Duration::from_micros(end.unwrap_or(0));
                let s = session(key, exs, &self.declared, &mut routes, &mut route_ids);
                (s, (source, conn), end)
            })
            .collect();
        built.sort_by(|a, b| {
            a.0.start
                .cmp(&b.0.start)
                .then_with(|| a.0.key.cmp(&b.0.key))
        });
        let mut recording_end: HashMap<u32, Duration> = HashMap::new();
        for (_, (source, _), end) in &built {
            let e = recording_end.entry(*source).or_default();
            *e = (*e).max(*end);
        }
        // a connection is one user's only if its sessions follow one another; sessions that
        // overlap on it (a shared pool, a fixture) were not, and stay clients of their own
        let mut overlapping: std::collections::HashSet<(u32, u64)> = Default::default();
        let mut conn_end: HashMap<(u32, u64), Duration> = HashMap::new();
        for (s, conn, end) in &built {
            let e = conn_end.entry(*conn).or_default();
            if s.start < *e {
                overlapping.insert(*conn);
            }
            *e = (*e).max(*end);
        }
        let mut chain: HashMap<(u32, u64), u32> = HashMap::new();
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
            exchanges: self.exchanges,
            follow: None,
            clients,
            pauses,
            tails,
        }
    }
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

fn session(
    key: String,
    exs: Vec<Exchange>,
    declared: &[String],
    routes: &mut Vec<Route>,
    route_ids: &mut HashMap<String, RouteId>,
) -> Session {
    let refs: Vec<&Exchange> = exs.iter().collect();
    let found = discover::discover_with(&refs, declared);
    let ids: Vec<(&str, &str)> = found
        .iter()
        .map(|c| (c.value.as_str(), c.name.as_str()))
        .collect();
    let start_us = exs.first().map(|e| e.t_us).unwrap_or(0);

    let mut steps: Vec<Step> = Vec::with_capacity(exs.len());
    for (i, ex) in exs.iter().enumerate() {
        let path_t = template::path(&ex.req.path, &ids);
        let method = ex.req.method.to_ascii_uppercase();
        let name = format!("{method} {path_t}");
        let route = *route_ids.entry(name.clone()).or_insert_with(|| {
            routes.push(Route {
                name,
                method: method.clone(),
                path: path_t,
            });
            (routes.len() - 1) as RouteId
        });
        // dependency: the latest completion at or before this send
        let mut dep: Option<(usize, u64)> = None;
        for (j, other) in exs.iter().enumerate() {
            if j == i {
                continue;
            }
            let done = other.t_us.saturating_add(other.done_us);
            if other.t_us <= ex.t_us && done <= ex.t_us && dep.is_none_or(|(_, d)| done >= d) {
                dep = Some((j, done));
            }
        }
        let headers = ex
            .req
            .headers
            .iter()
            .filter(|(n, v)| {
                !SKIP_HEADERS.contains(&n.to_ascii_lowercase().as_str())
                    && v != crate::trace::REDACTED
            })
            .filter_map(|(n, v)| {
                Some((
                    HeaderName::from_bytes(n.as_bytes()).ok()?,
                    HeaderValue::from_str(v).ok()?,
                ))
            })
            .collect();
        steps.push(Step {
            route,
            method: Method::from_bytes(method.as_bytes()).unwrap_or(Method::GET),
            path: ex.req.path.clone(),
            query: ex.req.query.clone(),
            headers,
            body: Bytes::from(ex.req.body.to_bytes()),
            json_body: ex.req.body.json().is_some(),
            offset: Duration::from_micros(ex.t_us - start_us),
            dep: dep.map(|(j, _)| j),
            gap: dep
                .map(|(_, d)| Duration::from_micros(ex.t_us - d))
                .unwrap_or_default(),
            uses: Vec::new(),
            produces: Vec::new(),
            json_reads: None,
            recorded: Arc::new(ex.clone()),
        });
    }
    let mut vars = Vec::with_capacity(found.len());
    for (v, c) in found.into_iter().enumerate() {
        let source = match c.source {
            discover::Source::Json { exchange, pointer } => {
                steps[exchange].produces.push(v);
                VarSource::Json {
                    step: exchange,
                    pointer,
                }
            }
            discover::Source::Header { exchange, name } => {
                match HeaderName::from_bytes(name.as_bytes()) {
                    Ok(name) => {
                        steps[exchange].produces.push(v);
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
            steps[u].uses.push(v);
        }
        vars.push(Var {
            name: c.name,
            recorded: c.value,
            source,
        });
    }
    for step in &mut steps {
        let pointers: Vec<Option<Pointer>> = step
            .produces
            .iter()
            .map(|&v| match &vars[v].source {
                VarSource::Json { pointer, .. } => Pointer::parse(pointer),
                _ => None,
            })
            .collect();
        if pointers.iter().any(Option::is_some) {
            step.json_reads = Some(Picker::new(pointers.iter().map(Option::as_ref)));
        }
    }
    Session {
        key,
        index: 0,
        start: Duration::from_micros(start_us),
        steps,
        vars,
        client: 0,
        pause: None,
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
        assert_eq!(s.steps[0].produces, vec![0]);
        assert!(s.steps[0].json_reads.is_some());
        assert!(s.steps[1].json_reads.is_none());
        assert_eq!(s.steps[3].uses, vec![0]);
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
