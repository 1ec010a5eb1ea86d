//! The run as the web server knows it: every event sent so far (the SSE history), the run
//! so far (a live [`Recorder`] the seconds are added to), the final summary once it came.
//!
//! The aggregator hands each second to a [`Feed`], which only `try_send`s it onto a bounded
//! channel: it never waits, and a second that does not fit (the web thread fell a whole
//! channel behind) is counted as dropped, not queued. The web thread turns each second into
//! one event frame, kept forever (a reload or a late viewer replays them all), and wakes
//! the open streams through a `watch` of the number of frames.
//!
//! # Invariants
//! - Frame `k` (0-based) has SSE id `k + 1`; ids are never reused or reordered.
//! - Every accepted control change appears as one `control` frame, at most one second after
//!   it was made, in the control's order.
//! - Once the `end` frame is out no frame follows, and [`Live::ended`] is true.

use crate::metrics::summary::{self, ControlEvent, FailureRow, RunInfo, SeriesPoint, Summary};
use crate::metrics::Recorder;
use crate::replay::{Control, Progress};
use crate::report::Thresholds;
use bytes::Bytes;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use tokio::sync::{mpsc, watch};

/// Seconds the channel from the aggregator holds before it drops one.
const FEED_CAPACITY: usize = 1024;
/// With more endpoints than this, live verdicts are evaluated every 10 s, not every second
/// (building a summary encodes every endpoint's histogram).
const VERDICTS_EVERY_SECOND_UPTO: usize = 200;
/// Failure rows sent with a second (the largest counts).
const FAILURE_ROWS: usize = 100;

/// What the aggregator sends to the web thread.
pub(crate) enum Msg {
    Second(Box<Progress>),
    Final(Box<Summary>),
    /// The run did not go: why.
    Failed(String),
}

/// The aggregator's side: never blocks.
#[derive(Clone)]
pub struct Feed {
    tx: mpsc::Sender<Msg>,
    dropped: Arc<AtomicU64>,
}

impl Feed {
    /// Hands one second over; drops it (and counts it) when the web thread is a whole
    /// channel behind.
    pub fn push(&self, p: &Progress) {
        if self.tx.try_send(Msg::Second(Box::new(p.clone()))).is_err() {
            self.dropped.fetch_add(1, Relaxed);
        }
    }

    /// Seconds dropped so far.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Relaxed)
    }

    /// Says the run failed (waits for room: the run is over).
    pub(crate) fn fail(&self, error: String) {
        let _ = self.tx.blocking_send(Msg::Failed(error));
    }

    /// Hands the final summary over (waits for room: the run is over).
    pub(crate) fn finish(&self, s: Summary) {
        let _ = self.tx.blocking_send(Msg::Final(Box::new(s)));
    }
}

/// What the page needs to know of the run before its first second.
#[derive(Debug, Clone)]
pub struct Meta {
    /// Summary `run` fields known at the start (name, recordings, target, profile…).
    pub info: RunInfo,
    /// Each route's `(name, method, path)`, by route id.
    pub routes: Vec<(String, String, String)>,
    pub thresholds: Thresholds,
    /// The expressions as written, for the verdict panel before the first evaluation.
    pub threshold_exprs: Vec<String>,
    /// `closed N users` or `open ×K`, for the header.
    pub workload: summary::Workload,
    /// Where the run's files go.
    pub report_dir: String,
}

pub struct Live {
    pub(crate) meta: Meta,
    pub(crate) control: Control,
    state: Mutex<State>,
    frames: watch::Sender<usize>,
    pub(crate) dropped: Arc<AtomicU64>,
}

#[derive(Default)]
struct State {
    frames: Vec<Bytes>,
    rec: Recorder,
    series: Vec<SeriesPoint>,
    peak: u64,
    elapsed_s: u64,
    started_t: Option<i64>,
    events_sent: usize,
    /// Routes with a request in the previous second (their current rate drops to 0 now).
    last_routes: Vec<u32>,
    /// Each worker's conversation measures so far (the latest each sent).
    conv: Vec<Option<Arc<crate::metrics::conversation::Recorder>>>,
    /// The conversation panels last sent (a frame carries them when they changed).
    conv_sent: String,
    /// The conversation measures so far, merged (for live verdicts and downloads).
    conv_summary: Option<summary::Conversation>,
    conv_merged: Option<crate::metrics::conversation::Recorder>,
    last_failures: u64,
    verdicts: Vec<summary::Verdict>,
    final_summary: Option<Arc<Summary>>,
    failed: Option<String>,
}

impl Live {
    /// The state of a run about to start, and the feed its aggregator writes to; a thread
    /// (`web-feed`) turns what the feed carries into frames until the final summary.
    pub fn start(meta: Meta, control: Control) -> std::io::Result<(Arc<Live>, Feed)> {
        let (live, feed, mut rx) = Live::new(meta, control);
        let l = live.clone();
        std::thread::Builder::new()
            .name("web-feed".into())
            .spawn(move || {
                while let Some(m) = rx.blocking_recv() {
                    if !l.apply(m) {
                        break;
                    }
                }
            })?;
        Ok((live, feed))
    }

    fn new(meta: Meta, control: Control) -> (Arc<Live>, Feed, mpsc::Receiver<Msg>) {
        let (tx, rx) = mpsc::channel(FEED_CAPACITY);
        let dropped = Arc::new(AtomicU64::new(0));
        let state = State {
            rec: Recorder::new(meta.routes.len()),
            ..Default::default()
        };
        let live = Arc::new(Live {
            meta,
            control,
            state: Mutex::new(state),
            frames: watch::channel(0).0,
            dropped: dropped.clone(),
        });
        (live, Feed { tx, dropped }, rx)
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Applies what the aggregator sent; returns false after the final summary.
    pub(crate) fn apply(&self, msg: Msg) -> bool {
        let mut st = self.state();
        match msg {
            Msg::Second(p) => {
                self.control_frames(&mut st);
                let frame = self.second(&mut st, &p);
                push(&mut st, "second", &frame);
                drop(st);
                self.publish();
                true
            }
            Msg::Final(s) => {
                self.control_frames(&mut st);
                let frame = json!({ "summary": trimmed(&s) });
                st.final_summary = Some(Arc::new(*s));
                push(&mut st, "end", &frame);
                drop(st);
                self.publish();
                false
            }
            Msg::Failed(error) => {
                self.control_frames(&mut st);
                push(&mut st, "end", &json!({ "error": error }));
                st.failed = Some(error);
                drop(st);
                self.publish();
                false
            }
        }
    }

    fn publish(&self) {
        let n = self.state().frames.len();
        self.frames.send_replace(n);
    }

    /// Control changes not sent yet, one frame each.
    fn control_frames(&self, st: &mut State) {
        let events = self.control.events();
        for e in &events[st.events_sent.min(events.len())..] {
            push(st, "control", &control_json(e));
        }
        st.events_sent = events.len();
    }

    fn second(&self, st: &mut State, p: &Progress) -> Value {
        let s = &p.second;
        st.rec.add_second(s);
        st.series.push(p.point.clone());
        st.peak = st.peak.max(s.users);
        st.elapsed_s = p.elapsed_s;
        st.started_t
            .get_or_insert(p.point.t - (p.elapsed_s as i64 - 1));
        let target = self.control.target();
        // this second's requests and failures per route
        let mut now: rustc_hash::FxHashMap<u32, (u64, u64)> = Default::default();
        for x in &s.samples {
            let n = now.entry(x.route).or_default();
            n.0 += 1;
            n.1 += x.failed as u64;
        }
        let mut touched: Vec<u32> = now.keys().copied().collect();
        touched.extend(st.last_routes.iter().filter(|r| !now.contains_key(r)));
        touched.sort_unstable();
        let eps: Vec<Value> = touched
            .iter()
            .filter_map(|&r| {
                let (req, fail, bytes, h) = st.rec.route_figures(r)?;
                let now = now.get(&r);
                Some(json!([
                    r,
                    req,
                    fail,
                    ms(h.quantile_us(0.5)),
                    ms(h.quantile_us(0.95)),
                    ms(h.quantile_us(0.99)),
                    round3(h.mean_us() / 1000.0),
                    ms(h.min_us()),
                    ms(h.max_us()),
                    bytes.checked_div(req).unwrap_or(0),
                    now.map_or(0, |n| n.0),
                    now.map_or(0, |n| n.1),
                ]))
            })
            .collect();
        st.last_routes = now.keys().copied().collect();
        let total = st.rec.latency();
        let elapsed = p.elapsed_s.max(1) as f64;
        let mut frame = json!({
            "s": p.elapsed_s,
            "t": p.point.t,
            "users": s.users,
            "want": if self.control.is_closed() {
                json!(target.users)
            } else if self.control.is_rate() {
                json!(target.rate)
            } else {
                json!(target.multiply)
            },
            "paused": target.paused,
            "rps": s.requests,
            "fails": s.failures,
            "p50": ms(s.latency.quantile_us(0.5)),
            "p95": ms(s.latency.quantile_us(0.95)),
            "p99": ms(s.latency.quantile_us(0.99)),
            "lag": round3(p.lag_p99_ms),
            "bytes": s.bytes_received,
            "tot": {
                "req": st.rec.requests(),
                "fail": st.rec.failures(),
                "p50": ms(total.quantile_us(0.5)),
                "p95": ms(total.quantile_us(0.95)),
                "p99": ms(total.quantile_us(0.99)),
                "avg": round3(total.mean_us() / 1000.0),
                "min": ms(total.min_us()),
                "max": ms(total.max_us()),
                "rps": round3(st.rec.requests() as f64 / elapsed),
                "lag99": ms(st.rec.lag().quantile_us(0.99)),
                "peak": st.peak,
                "bytes": st.rec.bytes_received(),
            },
            "ep": eps,
            "dropped": self.dropped.load(Relaxed),
        });
        if st.rec.failures() != st.last_failures {
            st.last_failures = st.rec.failures();
            frame["fr"] = failure_rows(&st.rec, &self.meta.routes);
        }
        if p.elapsed_s <= 3 || p.elapsed_s.is_multiple_of(5) {
            frame["dist"] = serde_json::to_value(total.distribution()).unwrap_or(Value::Null);
        }
        if let Some(c) = conversation(st, s) {
            frame["conv"] = c;
        }
        let every = if self.meta.routes.len() <= VERDICTS_EVERY_SECOND_UPTO {
            1
        } else {
            10
        };
        if !self.meta.thresholds.0.is_empty() && p.elapsed_s.is_multiple_of(every) {
            let mut s = self.summary_of(st);
            crate::report::judge(&mut s, &self.meta.thresholds);
            st.verdicts = s.thresholds;
            frame["verdicts"] = verdicts_json(&st.verdicts);
        }
        frame
    }

    /// The run so far as a summary (the final one once the run ended): what the
    /// downloads are rendered from.
    pub fn summary(&self) -> Arc<Summary> {
        let st = self.state();
        if let Some(s) = &st.final_summary {
            return s.clone();
        }
        let mut s = self.summary_of(&st);
        s.thresholds = st.verdicts.clone();
        Arc::new(s)
    }

    fn summary_of(&self, st: &State) -> Summary {
        let secs = st.elapsed_s as f64;
        let started = st
            .started_t
            .and_then(|t| chrono::DateTime::from_timestamp(t, 0))
            .unwrap_or_else(chrono::Utc::now);
        let fmt = |t: chrono::DateTime<chrono::Utc>| {
            t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
        };
        let mut s = Summary {
            schema: summary::SCHEMA.into(),
            version: summary::SCHEMA_VERSION,
            run: RunInfo {
                started_at: fmt(started),
                ended_at: fmt(started + chrono::Duration::seconds(st.elapsed_s as i64)),
                duration_s: secs,
                events: self.control.events(),
                workload: self.meta.workload.clone(),
                ..self.meta.info.clone()
            },
            totals: Default::default(),
            endpoints: Vec::new(),
            failures: Vec::new(),
            sessions: Default::default(),
            series: st.series.clone(),
            conversation: st.conv_summary.clone().unwrap_or_default(),
            thresholds: Vec::new(),
            scrape: None,
            stages: Vec::new(),
        };
        s.totals.peak_users = st.peak;
        st.rec.fill(
            &mut s,
            &self.meta.routes,
            std::time::Duration::from_secs(st.elapsed_s),
        );
        s
    }

    /// Frames from number `from` (0-based) on, joined; with the number of frames now.
    pub(crate) fn frames_from(&self, from: usize) -> (Bytes, usize) {
        let st = self.state();
        let n = st.frames.len();
        if from >= n {
            return (Bytes::new(), n);
        }
        let mut out = Vec::with_capacity(st.frames[from..].iter().map(|f| f.len()).sum());
        for f in &st.frames[from..] {
            out.extend_from_slice(f);
        }
        (Bytes::from(out), n)
    }

    pub(crate) fn subscribe(&self) -> watch::Receiver<usize> {
        self.frames.subscribe()
    }

    /// True once the final summary (or the run's failure) came: the `end` frame is out.
    pub fn ended(&self) -> bool {
        let st = self.state();
        st.final_summary.is_some() || st.failed.is_some()
    }

    /// The live figures `/metrics` shows: the run so far.
    pub(crate) fn with_recorder<T>(&self, f: impl FnOnce(&Recorder, u64) -> T) -> T {
        let st = self.state();
        let users = st.series.last().map_or(0, |p| p.users);
        f(&st.rec, users)
    }

    /// Last second's lag p99, ms.
    pub(crate) fn lag_p99_ms(&self) -> f64 {
        self.state().series.last().map_or(0.0, |p| p.lag_p99_ms)
    }
}

fn push(st: &mut State, event: &str, data: &Value) {
    let id = st.frames.len() + 1;
    let mut f = String::with_capacity(256);
    let _ = write!(f, "id: {id}\nevent: {event}\ndata: {data}\n\n");
    st.frames.push(Bytes::from(f));
}

fn ms(us: u64) -> f64 {
    round3(us as f64 / 1000.0)
}

fn round3(v: f64) -> f64 {
    (v * 1000.0).round() / 1000.0
}

fn control_json(e: &ControlEvent) -> Value {
    serde_json::to_value(e).unwrap_or(Value::Null)
}

/// Live verdicts; one on a figure not measured yet (the conversation measures, TTFB, and
/// anything before its first sample) is `pending`, not failed: it is decided at the end.
fn verdicts_json(v: &[summary::Verdict]) -> Value {
    Value::Array(
        v.iter()
            .map(|v| {
                json!({"expr": v.expr, "ok": v.ok, "observed": v.observed,
                       "pending": v.value.is_none()})
            })
            .collect(),
    )
}

/// Failure rows so far, largest first (at most [`FAILURE_ROWS`]), and counts by kind.
fn failure_rows(rec: &Recorder, routes: &[(String, String, String)]) -> Value {
    let mut rows: Vec<FailureRow> = rec
        .failure_rows()
        .map(|(r, f, n)| FailureRow {
            endpoint: routes
                .get(r as usize)
                .map_or_else(|| format!("route {r}"), |x| x.0.clone()),
            kind: f.kind.to_string(),
            detail: f.detail.clone(),
            count: n,
            ..Default::default()
        })
        .collect();
    let mut kinds: BTreeMap<String, u64> = BTreeMap::new();
    for r in &rows {
        *kinds.entry(r.kind.clone()).or_insert(0) += r.count;
    }
    rows.sort_by(|a, b| {
        b.count
            .cmp(&a.count)
            .then_with(|| a.endpoint.cmp(&b.endpoint))
    });
    rows.truncate(FAILURE_ROWS);
    json!({
        "kinds": kinds,
        "rows": rows.iter().map(|r| json!([r.endpoint, r.kind, r.detail, r.count])).collect::<Vec<_>>(),
    })
}

/// The conversation panels of the run so far (node transitions, turns, Server-Timing,
/// streaming), when the workers' measures in `s` changed them: the workers' latest
/// measures merged (exact histograms), without the encoded histograms.
fn conversation(st: &mut State, s: &crate::metrics::Second) -> Option<Value> {
    if s.conversation.is_empty() {
        return None;
    }
    for (i, c) in &s.conversation {
        if st.conv.len() <= *i {
            st.conv.resize(i + 1, None);
        }
        st.conv[*i] = Some(c.clone());
    }
    let mut parts = st.conv.iter().flatten();
    let first = parts.next()?;
    let c = if st.conv.iter().flatten().count() == 1 {
        first.summary()
    } else {
        // merged into a buffer kept from second to second (no allocation once warm)
        let m = st.conv_merged.get_or_insert_with(|| (**first).clone());
        m.clone_from(first);
        parts.for_each(|p| m.merge(p));
        m.summary()
    };
    let mut v = json!({
        "nodes": c.nodes,
        "turns": c.turns,
        "server_timing": c.server_timing,
        "streaming": c.streaming,
    });
    strip_hist(&mut v);
    st.conv_summary = Some(c);
    let text = v.to_string();
    if text == st.conv_sent {
        return None;
    }
    st.conv_sent = text;
    Some(v)
}

fn strip_hist(v: &mut Value) {
    match v {
        Value::Object(m) => {
            m.remove("hist");
            m.values_mut().for_each(strip_hist);
        }
        Value::Array(a) => a.iter_mut().for_each(strip_hist),
        _ => {}
    }
}

/// The final summary for the page: everything but the encoded histograms, the series and
/// the endpoints (the page has them from the seconds, which end equal to them).
fn trimmed(s: &Summary) -> Value {
    let mut v = serde_json::to_value(s).unwrap_or(Value::Null);
    if let Value::Object(m) = &mut v {
        // the per-second frames carry these; with 2,000 endpoints the list alone is ~1 MB
        m.remove("series");
        m.remove("endpoints");
    }
    strip_hist(&mut v);
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::Sample;
    use crate::replay::{Change, Workload};
    use std::time::Duration;

    fn live(thresholds: &[&str]) -> Arc<Live> {
        let meta = Meta {
            info: RunInfo {
                name: "t".into(),
                ..Default::default()
            },
            routes: vec![
                ("GET /a".into(), "GET".into(), "/a".into()),
                ("POST /b".into(), "POST".into(), "/b".into()),
            ],
            thresholds: Thresholds::parse_all(thresholds).unwrap(),
            threshold_exprs: thresholds.iter().map(|t| t.to_string()).collect(),
            workload: summary::Workload::Closed {
                users: 2,
                spawn_rate: 2.0,
            },
            report_dir: "r".into(),
        };
        let control = Control::new(Workload::Closed {
            users: 2,
            spawn_rate: Some(2.0),
        });
        Live::new(meta, control).0
    }

    fn second(k: u64, route: u32, ms: u64) -> Msg {
        let mut rec = Recorder::new(2).live();
        rec.record(
            &Sample {
                route,
                latency: Duration::from_millis(ms),
                ttfb: None,
                lag: Duration::ZERO,
                wait: Duration::ZERO,
                bytes_sent: 1,
                bytes_received: 100,
            },
            None,
        );
        let s = rec.take_second();
        Msg::Second(Box::new(Progress {
            elapsed_s: k,
            users: 0,
            rps: 1,
            p95_ms: 0.0,
            lag_p99_ms: 0.0,
            failures: 0,
            requests: k,
            point: s.point(1_700_000_000 + k as i64 - 1),
            second: Arc::new(s),
        }))
    }

    fn frames(l: &Live, from: usize) -> Vec<(u64, String, Value)> {
        let text = String::from_utf8(l.frames_from(from).0.to_vec()).unwrap();
        text.split("\n\n")
            .filter(|f| !f.is_empty())
            .map(|f| {
                let line = |p: &str| {
                    f.lines()
                        .find_map(|l| l.strip_prefix(p))
                        .unwrap()
                        .to_string()
                };
                (
                    line("id: ").parse().unwrap(),
                    line("event: "),
                    serde_json::from_str(&line("data: ")).unwrap(),
                )
            })
            .collect()
    }

    #[test]
    fn seconds_and_control_changes_become_numbered_frames() {
        let l = live(&["p95 < 1s"]);
        assert!(l.apply(second(1, 0, 10)));
        l.control
            .apply(Change::Users {
                users: 5,
                spawn_rate: None,
                at_once: false,
            })
            .unwrap();
        assert!(l.apply(second(2, 1, 30)));
        assert!(l.apply(second(3, 1, 50)));
        let all = frames(&l, 0);
        let kinds: Vec<(u64, &str)> = all.iter().map(|f| (f.0, f.1.as_str())).collect();
        assert_eq!(
            kinds,
            vec![(1, "second"), (2, "control"), (3, "second"), (4, "second")]
        );
        assert_eq!(all[1].2["users"], 5);
        assert_eq!(all[2].2["want"], 5);
        // route 0 had a request in second 1: in second 2 its current rate drops to 0
        let ep = all[2].2["ep"].as_array().unwrap();
        assert_eq!(ep.len(), 2);
        assert_eq!((ep[0][0].clone(), ep[0][10].clone()), (json!(0), json!(0)));
        assert_eq!((ep[1][0].clone(), ep[1][1].clone()), (json!(1), json!(1)));
        assert_eq!(all[3].2["tot"]["req"], 3);
        assert_eq!(all[3].2["verdicts"][0]["ok"], true);
        // a resume from id 2 gets 3 and 4, the same bytes
        let resumed = frames(&l, 2);
        assert_eq!(resumed.iter().map(|f| f.0).collect::<Vec<_>>(), vec![3, 4]);
        assert_eq!(resumed[0].2, all[2].2);
        // the run so far as a summary, then the final one
        let s = l.summary();
        assert_eq!((s.totals.requests, s.endpoints.len()), (3, 2));
        assert_eq!(s.run.events.len(), 1);
        assert!(!l.ended());
        let mut fin = (*s).clone();
        fin.totals.requests = 99;
        assert!(!l.apply(Msg::Final(Box::new(fin))));
        assert!(l.ended());
        let last = frames(&l, 4);
        assert_eq!((last[0].0, last[0].1.as_str()), (5, "end"));
        assert_eq!(last[0].2["summary"]["totals"]["requests"], 99);
        assert!(last[0].2["summary"]["totals"]["latency"]
            .get("hist")
            .is_none());
        assert_eq!(l.summary().totals.requests, 99);
    }
}
