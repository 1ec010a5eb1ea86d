//! Synthetic students: the seed load test's student behaviour, to make recordings before
//! real students exist.
//!
//! Each session: `POST /session/start`, then 5–10 turns of `continue` (a share of them via
//! `continue/stream`) with an answer that fits the node the agent is at (APK: prior
//! knowledge; CI: the definition echoed; GE: an exploration; AR: 80 % correct, 20 % a guess
//! — which the mock treats as incorrect; TC: a transfer example; RLC: the quiz answer), a
//! status check before about 10 % of the turns, and a think time drawn from
//! `[think_min, think_max]` before every request after the first. A session ends early when
//! the agent says `session_complete`, or at the first unexpected status or transport error.
//!
//! # Invariants
//! - Determinism: session *i* draws from its own RNG seeded by (seed, i), and draws the same
//!   numbers per turn whatever the server answers, so against the same server behaviour a
//!   seed gives the same requests, in the same order, per session.
//! - Every request carries `Authorization: Bearer <token>` (recorders must redact it).
//! - A failed request is data in the [`Report`], never an `Err`.

use super::{chance, Error, Node, INCORRECT_MARKER};
use futures_util::StreamExt;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::time::Duration;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// Share of turns preceded by a status check.
pub const STATUS_SHARE: f64 = 0.1;
/// Share of AR answers that are correct.
pub const AR_CORRECT: f64 = 0.8;

/// What to run. `Config::new(target)` gives the seed's behaviour for 20 sessions.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// Base URL, e.g. `http://127.0.0.1:8000` (a trailing `/` is ignored).
    pub target: String,
    pub sessions: u64,
    pub seed: u64,
    /// Sessions running at once (at least 1).
    pub concurrency: usize,
    /// Think time before each request after the first, uniform in `[think_min, think_max]`.
    pub think_min: Duration,
    pub think_max: Duration,
    /// Share of turns sent to `/session/continue/stream`.
    pub stream_share: f64,
    /// Turns per session, inclusive range (the seed: 5–10).
    pub turns: (u32, u32),
    /// Bearer token sent with every request; `None` sends no `Authorization`.
    pub token: Option<String>,
    /// Per-request timeout.
    pub timeout: Duration,
}

impl Config {
    pub fn new(target: impl Into<String>) -> Config {
        Config {
            target: target.into(),
            sessions: 20,
            seed: 1,
            concurrency: 10,
            think_min: Duration::from_secs(1),
            think_max: Duration::from_secs(3),
            stream_share: 0.0,
            turns: (5, 10),
            token: Some("synthetic-student-token".into()),
            timeout: Duration::from_secs(60),
        }
    }

    pub fn sessions(mut self, n: u64) -> Self {
        self.sessions = n;
        self
    }

    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    pub fn concurrency(mut self, n: usize) -> Self {
        self.concurrency = n.max(1);
        self
    }

    pub fn think(mut self, min: Duration, max: Duration) -> Self {
        self.think_min = min.min(max);
        self.think_max = max.max(min);
        self
    }

    pub fn stream_share(mut self, share: f64) -> Self {
        self.stream_share = share;
        self
    }
}

/// What the students did and got.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Report {
    pub sessions: u64,
    /// Sessions the agent declared complete.
    pub completed: u64,
    /// Sessions ended by an unexpected status or a transport error.
    pub failed: u64,
    /// Requests sent (those that got no response included).
    pub requests: u64,
    /// Requests per endpoint: `start`, `continue`, `stream`, `status`.
    pub endpoints: BTreeMap<String, u64>,
    /// Responses per status code.
    pub statuses: BTreeMap<u16, u64>,
    /// Requests that got no response (connect error, reset, timeout).
    pub transport_errors: u64,
    /// Agent turns taken (`continue` and `stream` answered 200).
    pub turns: u64,
    /// The thread id of each session, by session index (`None`: start failed).
    pub thread_ids: Vec<Option<String>>,
    /// Up to 10 failure descriptions.
    pub failures: Vec<String>,
    #[serde(with = "secs")]
    pub elapsed: Duration,
}

mod secs {
    pub fn serialize<S: serde::Serializer>(
        d: &std::time::Duration,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        s.serialize_f64(d.as_secs_f64())
    }
}

impl Report {
    fn merge(&mut self, s: SessionRun) {
        self.sessions += 1;
        self.completed += u64::from(s.completed);
        self.failed += u64::from(s.failure.is_some());
        self.requests += s.requests;
        self.transport_errors += s.transport_errors;
        self.turns += s.turns;
        for (k, v) in s.endpoints {
            *self.endpoints.entry(k.to_owned()).or_default() += v;
        }
        for (k, v) in s.statuses {
            *self.statuses.entry(k).or_default() += v;
        }
        if let Some(f) = s.failure {
            if self.failures.len() < 10 {
                self.failures.push(f);
            }
        }
        let i = s.index as usize;
        if self.thread_ids.len() <= i {
            self.thread_ids.resize(i + 1, None);
        }
        self.thread_ids[i] = s.thread_id;
    }
}

/// Runs every session to its end.
pub async fn run(config: &Config) -> Result<Report, Error> {
    run_until(config, CancellationToken::new()).await
}

/// Runs until every session ends or `cancel` fires (then sessions stop before their next
/// request and the report covers what was done).
pub async fn run_until(config: &Config, cancel: CancellationToken) -> Result<Report, Error> {
    let target = config.target.trim_end_matches('/').to_owned();
    if !target.starts_with("http://") {
        return Err(Error::Target { target });
    }
    let client = reqwest::Client::builder()
        .timeout(config.timeout)
        .tcp_nodelay(true)
        .pool_idle_timeout(Duration::from_secs(30))
        .build()
        .map_err(|e| Error::Client(e.to_string()))?;
    let t0 = Instant::now();
    let ctx = Ctx {
        client,
        target,
        config: config.clone(),
        cancel,
    };
    let mut report = Report::default();
    let mut runs = futures_util::stream::iter(0..config.sessions)
        .map(|i| ctx.session(i))
        .buffer_unordered(config.concurrency.max(1));
    while let Some(s) = runs.next().await {
        report.merge(s);
    }
    report.elapsed = t0.elapsed();
    Ok(report)
}

struct Ctx {
    client: reqwest::Client,
    target: String,
    config: Config,
    cancel: CancellationToken,
}

#[derive(Default)]
struct SessionRun {
    index: u64,
    thread_id: Option<String>,
    completed: bool,
    failure: Option<String>,
    requests: u64,
    turns: u64,
    transport_errors: u64,
    endpoints: BTreeMap<&'static str, u64>,
    statuses: BTreeMap<u16, u64>,
}

/// The random draws of one turn, all taken whatever the server answers.
struct TurnDraw {
    think: Duration,
    status_check: bool,
    status_think: Duration,
    stream: bool,
    correct: bool,
    variant: usize,
}

const TOPICS: [&str; 6] = [
    "photosynthesis",
    "fractions",
    "gravity",
    "the water cycle",
    "cell division",
    "volcanoes",
];

impl Ctx {
    fn think(&self, rng: &mut ChaCha8Rng) -> Duration {
        let (lo, hi) = (
            self.config.think_min,
            self.config.think_max.max(self.config.think_min),
        );
        lo + (hi - lo).mul_f64(rng.gen::<f64>())
    }

    fn draw(&self, rng: &mut ChaCha8Rng) -> TurnDraw {
        TurnDraw {
            think: self.think(rng),
            status_check: rng.gen_bool(STATUS_SHARE),
            status_think: self.think(rng),
            stream: rng.gen::<f64>() < self.config.stream_share,
            correct: rng.gen_bool(AR_CORRECT),
            variant: rng.gen_range(0..3),
        }
    }

    /// Sleeps `d` unless cancelled first; false when cancelled.
    async fn pause(&self, d: Duration) -> bool {
        if self.cancel.is_cancelled() {
            return false;
        }
        tokio::select! {
            _ = self.cancel.cancelled() => false,
            _ = tokio::time::sleep(d) => true,
        }
    }

    async fn session(&self, index: u64) -> SessionRun {
        let mut rng = ChaCha8Rng::seed_from_u64(chance::mix(self.config.seed ^ chance::mix(index)));
        let mut run = SessionRun {
            index,
            ..SessionRun::default()
        };
        let topic = TOPICS[rng.gen_range(0..TOPICS.len())];
        let (lo, hi) = self.config.turns;
        let turns = rng.gen_range(lo.min(hi)..=hi.max(lo));
        if self.cancel.is_cancelled() {
            return run;
        }
        let start =
            json!({"student_id": format!("s-{}-{index}", self.config.seed), "topic": topic});
        let Some(state) = self
            .send(&mut run, "start", "/session/start", Some(start))
            .await
        else {
            return run;
        };
        let Some(id) = state
            .get("thread_id")
            .and_then(Value::as_str)
            .map(str::to_owned)
        else {
            run.failure = Some(format!("session {index}: start response has no thread_id"));
            return run;
        };
        run.thread_id = Some(id.clone());
        let mut node = node_of(&state);
        for _ in 0..turns {
            let d = self.draw(&mut rng);
            if !self.pause(d.think).await {
                return run;
            }
            if d.status_check {
                let path = format!("/session/status/{id}");
                if self.send(&mut run, "status", &path, None).await.is_none() {
                    return run;
                }
                if !self.pause(d.status_think).await {
                    return run;
                }
            }
            // `answer_node`: the node the answer was written for, so the mock can count
            // answers that arrive at another node (a replay that no longer fits)
            let body = json!({
                "thread_id": id,
                "user_response": answer(node, topic, d.correct, d.variant),
                "answer_node": node.map_or("", Node::as_str),
            });
            let (name, path) = if d.stream {
                ("stream", "/session/continue/stream")
            } else {
                ("continue", "/session/continue")
            };
            let Some(state) = self.send(&mut run, name, path, Some(body)).await else {
                return run;
            };
            run.turns += 1;
            node = node_of(&state);
            if state.get("session_complete") == Some(&Value::Bool(true)) {
                run.completed = true;
                return run;
            }
        }
        run
    }

    /// Sends one request; `Some(state JSON)` on a 200 (for a stream: the `done` event's
    /// data), `None` after recording the failure in `run`.
    async fn send(
        &self,
        run: &mut SessionRun,
        name: &'static str,
        path: &str,
        body: Option<Value>,
    ) -> Option<Value> {
        run.requests += 1;
        *run.endpoints.entry(name).or_default() += 1;
        let url = format!("{}{path}", self.target);
        let mut req = match body {
            Some(b) => self.client.post(url).json(&b),
            None => self.client.get(url),
        };
        if let Some(t) = &self.config.token {
            req = req.bearer_auth(t);
        }
        let fail = |run: &mut SessionRun, why: String| {
            run.failure = Some(format!("session {}: {name} {path}: {why}", run.index));
            None
        };
        let res = match req.send().await {
            Ok(r) => r,
            Err(e) => {
                run.transport_errors += 1;
                return fail(run, e.to_string());
            }
        };
        let code = res.status().as_u16();
        *run.statuses.entry(code).or_default() += 1;
        let text = match res.text().await {
            Ok(t) => t,
            Err(e) => {
                run.transport_errors += 1;
                return fail(run, format!("body: {e}"));
            }
        };
        if code != 200 {
            return fail(run, format!("status {code}: {}", truncate(&text)));
        }
        let json_text = if name == "stream" {
            done_data(&text)
        } else {
            Some(text.as_str())
        };
        match json_text.map(serde_json::from_str::<Value>) {
            Some(Ok(v)) => Some(v),
            Some(Err(e)) => fail(run, format!("bad JSON: {e}")),
            None => fail(run, "stream has no `done` event".into()),
        }
    }
}

fn truncate(s: &str) -> &str {
    match s.char_indices().nth(120) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

fn node_of(state: &Value) -> Option<Node> {
    state.get("current_node")?.as_str()?.parse().ok()
}

/// The `data` of the `event: done` event of an SSE body (LF or CRLF line ends).
pub fn done_data(sse: &str) -> Option<&str> {
    let mut in_done = false;
    for line in sse.lines() {
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line.is_empty() {
            in_done = false;
        } else if let Some(ev) = line.strip_prefix("event:") {
            in_done = ev.trim() == "done";
        } else if let Some(data) = line.strip_prefix("data:") {
            if in_done {
                return Some(data.strip_prefix(' ').unwrap_or(data));
            }
        }
    }
    None
}

/// A student's reply to the agent at `node`.
pub fn answer(node: Option<Node>, topic: &str, correct: bool, variant: usize) -> String {
    let v = variant % 3;
    match node {
        Some(Node::Apk) => [
            format!("I know a little about {topic} from school."),
            format!("I think {topic} has something to do with energy."),
            format!("Not much, I have heard the word {topic} before."),
        ][v]
            .clone(),
        Some(Node::Ci) => [
            format!("So {topic} is the process where one thing turns into another using energy."),
            format!("In my own words: {topic} means the parts work together to make a change."),
            format!("The definition is that {topic} follows a rule we can predict."),
        ][v]
            .clone(),
        Some(Node::Ge) => [
            "When I changed the light, the result went up.".to_owned(),
            "If I take the water away, nothing happens anymore.".to_owned(),
            "Doubling the input made it twice as fast.".to_owned(),
        ][v]
            .clone(),
        Some(Node::Ar) if correct => [
            "B, because the energy has to come from somewhere.".to_owned(),
            "C: the amount stays the same, it only changes form.".to_owned(),
            "A, since the first step has to happen before the second.".to_owned(),
        ][v]
            .clone(),
        Some(Node::Ar) => format!("My {INCORRECT_MARKER} is D, but I am not sure."),
        Some(Node::Tc) => [
            format!("You can see {topic} in the kitchen when cooking."),
            format!("A car engine is like {topic} in a way."),
            format!("In sports, {topic} explains why we get tired."),
        ][v]
            .clone(),
        Some(Node::Rlc) => [
            format!("I learned how {topic} works step by step. Answer: B."),
            "The quiz answer is C, and I learned to check my steps.".to_owned(),
            "A. I learned that the parts depend on each other.".to_owned(),
        ][v]
            .clone(),
        Some(Node::Complete) | None => format!("Can you tell me more about {topic}?"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_fit_nodes_and_only_incorrect_ar_has_the_marker() {
        for n in Node::ALL {
            for v in 0..3 {
                let a = answer(Some(n), "gravity", true, v);
                assert!(!a.is_empty());
                assert!(!a.to_lowercase().contains(INCORRECT_MARKER), "{n}: {a}");
                assert_eq!(n.after(&a), n.next());
            }
        }
        let wrong = answer(Some(Node::Ar), "gravity", false, 0);
        assert_eq!(Node::Ar.after(&wrong), Node::Ar);
    }

    #[test]
    fn done_data_finds_the_done_event() {
        let s = "data: {\"token\":\"a\"}\n\nevent: done\ndata: {\"x\":1}\n\n";
        assert_eq!(done_data(s), Some("{\"x\":1}"));
        assert_eq!(done_data("event: done\r\ndata:{}\r\n\r\n"), Some("{}"));
        assert_eq!(done_data("data: {}\n\n"), None);
    }

    #[test]
    fn draws_are_deterministic_per_seed_and_session() {
        let ctx = |seed| Ctx {
            client: reqwest::Client::new(),
            target: String::new(),
            config: Config::new("http://x").seed(seed),
            cancel: CancellationToken::new(),
        };
        let draws = |c: &Ctx, i: u64| {
            let mut rng = ChaCha8Rng::seed_from_u64(chance::mix(c.config.seed ^ chance::mix(i)));
            (0..10)
                .map(|_| {
                    let d = c.draw(&mut rng);
                    (d.think, d.status_check, d.stream, d.correct, d.variant)
                })
                .collect::<Vec<_>>()
        };
        let (a, b) = (ctx(4), ctx(5));
        assert_eq!(draws(&a, 3), draws(&a, 3));
        assert_ne!(draws(&a, 3), draws(&a, 4));
        assert_ne!(draws(&a, 3), draws(&b, 3));
        assert!(draws(&a, 3)
            .iter()
            .all(|d| d.0 >= Duration::from_secs(1) && d.0 <= Duration::from_secs(3)));
    }
}
