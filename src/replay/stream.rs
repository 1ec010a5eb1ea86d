//! A streamed open replay: sessions built from the recording just ahead of their arrival
//! and dropped once replayed, so memory is bounded by the sessions in flight and a
//! read-ahead window, not by the recording.
//!
//! Two passes over one recording:
//! 1. **Index** ([`Index::read`]): every exchange line is read for its session key, send
//!    time and completion only (no request, no body walked): per session its exchange
//!    count, its start and its last completion. This gives the open arrivals (start
//!    order, as [`super::plan::Builder::finish`] orders sessions) before the run starts,
//!    and tells the second pass when a session is **complete**: when it holds as many
//!    exchanges as the index counted. A recording's sessions may interleave over any span;
//!    no assumption is made on their order in the file.
//! 2. **Build** ([`Stream::open`], a thread of its own): the recording is read again
//!    through the plan builder ([`Builder::read_with`]); a session is built the moment its
//!    last exchange is read — the same [`Session`] the whole plan holds, endpoints
//!    interned as it goes — and held until every copy of it this process replays has
//!    taken it ([`Stream::take`]). The reader keeps only as far ahead as arrivals need:
//!    it reads on while the recording time it reached is below the last completion of
//!    any session arriving within [`READ_AHEAD`] of the replay clock (a session must be
//!    read to its end before it can start), and waits otherwise.
//!
//! Peak memory is then the sessions read but not yet complete (those the recording had in
//! flight), plus the built sessions waiting for their arrival (the read-ahead window),
//! plus, with `--multiply M > 1`, every session between a copy-0 arrival and its last
//! copy's ((M−1)/M of the span: one reader, sessions held for their later copies).
//!
//! A damaged line the index counted but the build does not take leaves its session short:
//! it is built when the second pass reaches the end of the file.

use super::plan::{group_key, Builder, Plan, Route, Session};
use super::Shard;
use crate::trace;
use rustc_hash::FxHashMap as HashMap;
use serde::Deserialize;
use std::borrow::Cow;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

/// How far ahead of the replay clock (in replay time) sessions are built.
pub const READ_AHEAD: Duration = Duration::from_secs(2);

/// What the index pass keeps of an exchange line.
#[derive(Deserialize)]
struct Line<'a> {
    #[serde(borrow)]
    session: Option<Cow<'a, str>>,
    conn: u64,
    t_us: u64,
    done_us: u64,
}

/// One recorded session as the index saw it.
#[derive(Debug, Clone)]
struct Entry {
    key: String,
    /// First send and last completion, µs from the recording's start.
    start: u64,
    end: u64,
    exchanges: u64,
}

/// The sessions of one recording in arrival order, without their exchanges.
#[derive(Debug)]
pub struct Index {
    sessions: Vec<Entry>,
    by_key: HashMap<String, u32>,
    exchanges: u64,
    /// Per arrival order, the latest completion of the sessions up to it.
    end_upto: Vec<u64>,
    /// A response body holds the node pointer's last key: the recording may name nodes.
    pub names_nodes: bool,
}

impl Index {
    /// Reads `path` once for its sessions (see the module docs). `node_key`: the last
    /// segment of the conversation node pointer (empty: none), looked for in the lines.
    pub fn read(path: &Path, node_key: &str) -> Result<Index, trace::Error> {
        let mut reader = trace::Reader::open(path)?;
        let mut by_key: HashMap<String, u32> = HashMap::default();
        let mut sessions: Vec<Entry> = Vec::new();
        let needle = format!("\"{node_key}\"");
        let mut names_nodes = false;
        let mut exchanges = 0u64;
        let mut one = |session: Option<&str>, conn: u64, t_us: u64, done_us: u64| {
            let key = group_key(session, conn);
            let i = match by_key.get(key.as_ref()) {
                Some(&i) => i as usize,
                None => {
                    by_key.insert(key.to_string(), sessions.len() as u32);
                    sessions.push(Entry {
                        key: key.into_owned(),
                        start: t_us,
                        end: 0,
                        exchanges: 0,
                    });
                    sessions.len() - 1
                }
            };
            let e = &mut sessions[i];
            e.start = e.start.min(t_us);
            e.end = e.end.max(t_us.saturating_add(done_us));
            e.exchanges += 1;
        };
        let mut fast = |line: &[u8]| {
            let l: Line<'_> = serde_json::from_slice(line).ok()?;
            if !node_key.is_empty() && !names_nodes {
                names_nodes = std::str::from_utf8(line).is_ok_and(|l| l.contains(&needle));
            }
            Some((l.session.map(Cow::into_owned), l.conn, l.t_us, l.done_us))
        };
        let mut full = |ex: trace::Exchange| (ex.session, ex.conn, ex.t_us, ex.done_us);
        while let Some(r) = reader.next_with(&mut fast, &mut full) {
            let (session, conn, t_us, done_us) = r?;
            one(session.as_deref(), conn, t_us, done_us);
            exchanges += 1;
        }
        sessions.sort_by(|a, b| a.start.cmp(&b.start).then_with(|| a.key.cmp(&b.key)));
        let by_key = sessions
            .iter()
            .enumerate()
            .map(|(i, e)| (e.key.clone(), i as u32))
            .collect();
        let mut end_upto = Vec::with_capacity(sessions.len());
        let mut end = 0;
        for s in &sessions {
            end = s.end.max(end);
            end_upto.push(end);
        }
        Ok(Index {
            sessions,
            by_key,
            exchanges,
            end_upto,
            names_nodes,
        })
    }

    /// Sessions indexed.
    pub fn len(&self) -> usize {
        self.sessions.len()
    }

    pub fn is_empty(&self) -> bool {
        self.sessions.is_empty()
    }

    /// The plan the run is given: every session with its key, index and start but no
    /// steps (they come from the [`Stream`]), each its own client.
    pub fn skeleton(&self, node_pointer: &str) -> Plan {
        let sessions: Vec<Session> = self
            .sessions
            .iter()
            .enumerate()
            .map(|(i, e)| Session {
                key: e.key.clone(),
                index: i as u32,
                start: Duration::from_micros(e.start),
                client: i as u32,
                ..Session::default()
            })
            .collect();
        Plan {
            span: sessions.iter().map(|s| s.start).max().unwrap_or_default(),
            clients: (0..sessions.len() as u32).map(|i| vec![i]).collect(),
            tails: vec![Duration::ZERO; sessions.len()],
            sessions,
            exchanges: self.exchanges,
            node_pointer: node_pointer.to_string(),
            ..Plan::default()
        }
    }

    /// How far (recording µs) the reader must have read for the arrivals up to recording
    /// time `at`: the last completion of every session starting by then.
    fn needed(&self, at: u64) -> u64 {
        let n = self.sessions.partition_point(|s| s.start <= at);
        n.checked_sub(1).map_or(0, |i| self.end_upto[i])
    }
}

/// What the reader thread and the workers share.
#[derive(Default)]
struct State {
    /// Built sessions not yet taken by every copy: session, copies still to take.
    built: HashMap<u32, (Arc<Session>, u64)>,
    /// The reader reached the end (or stopped): a session not built now never will be.
    finished: bool,
    routes: Vec<Route>,
    /// Most sessions held at once (built, not yet taken by every copy).
    held_peak: usize,
    error: Option<String>,
}

struct Shared {
    state: Mutex<State>,
    ready: tokio::sync::Notify,
    start: OnceLock<Instant>,
    stop: std::sync::atomic::AtomicBool,
    /// Set once the reader first waits for the clock (or ends): the window before the
    /// start is built.
    primed: (Mutex<bool>, std::sync::Condvar),
}

impl Shared {
    fn prime(&self) {
        let mut p = self.primed.0.lock().unwrap_or_else(|e| e.into_inner());
        if !*p {
            *p = true;
            self.primed.1.notify_all();
        }
    }
}

/// The streamed sessions of one open replay (see the module docs).
pub struct Stream {
    shared: Arc<Shared>,
    thread: Mutex<Option<std::thread::JoinHandle<()>>>,
}

impl std::fmt::Debug for Stream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Stream")
    }
}

/// How one streamed replay reads: what the plan builder is told, and who takes what.
#[derive(Debug, Clone)]
pub struct Settings {
    pub correlate: Vec<String>,
    pub node_pointer: String,
    /// Copies of each session (`--multiply`, fixed for the run).
    pub multiply: u64,
    pub shard: Option<Shard>,
    pub speed: super::Speed,
    /// How far ahead of the replay clock sessions are built ([`READ_AHEAD`]).
    pub read_ahead: Duration,
}

impl Stream {
    /// Starts reading `path` (indexed as `index`) on a thread of its own and returns once
    /// it built the read-ahead window's arrivals (the run has not started: [`Self::start`]).
    pub fn open(path: PathBuf, index: Index, s: Settings) -> std::io::Result<Stream> {
        let shared = Arc::new(Shared {
            state: Mutex::new(State::default()),
            ready: tokio::sync::Notify::new(),
            start: OnceLock::new(),
            stop: Default::default(),
            primed: Default::default(),
        });
        let sh = shared.clone();
        let thread = std::thread::Builder::new()
            .name("plan-stream".into())
            .spawn(move || {
                let r = feed(&sh, &path, &index, &s);
                let mut st = sh.state.lock().unwrap_or_else(|e| e.into_inner());
                if let Err(e) = r {
                    st.error = Some(e.to_string());
                }
                st.finished = true;
                drop(st);
                sh.ready.notify_waiters();
                sh.prime();
            })?;
        // the first window is built before the run starts, so that burst of building never
        // competes with the first arrivals (on two cores it made them late: their sends
        // overlapped and opened connection after connection)
        let mut p = shared.primed.0.lock().unwrap_or_else(|e| e.into_inner());
        while !*p {
            p = shared.primed.1.wait(p).unwrap_or_else(|e| e.into_inner());
        }
        drop(p);
        Ok(Stream {
            shared,
            thread: Mutex::new(Some(thread)),
        })
    }

    /// The run started at `at`: the reader paces itself on this clock.
    pub fn start(&self, at: Instant) {
        let _ = self.shared.start.set(at);
    }

    /// Session `index`, once built (waiting for the reader when it is behind); `None` when
    /// the recording ended without it. The last copy to take it drops it from the stream.
    pub async fn take(&self, index: u32) -> Option<Arc<Session>> {
        loop {
            let ready = self.shared.ready.notified();
            {
                let mut st = self.shared.state.lock().unwrap_or_else(|e| e.into_inner());
                if let Some((s, left)) = st.built.get_mut(&index) {
                    let s = s.clone();
                    *left = left.saturating_sub(1);
                    if *left == 0 {
                        st.built.remove(&index);
                    }
                    return Some(s);
                }
                if st.finished {
                    return None;
                }
            }
            ready.await;
        }
    }

    /// `(name, method, path)` of every endpoint interned so far, for the summary.
    pub fn route_names(&self) -> Vec<(String, String, String)> {
        let st = self.shared.state.lock().unwrap_or_else(|e| e.into_inner());
        st.routes
            .iter()
            .map(|r| (r.name.clone(), r.method.clone(), r.path.clone()))
            .collect()
    }

    /// Most sessions held at once so far.
    pub fn held_peak(&self) -> usize {
        let st = self.shared.state.lock().unwrap_or_else(|e| e.into_inner());
        st.held_peak
    }

    /// The reader's error, if reading the file failed.
    pub fn error(&self) -> Option<String> {
        let st = self.shared.state.lock().unwrap_or_else(|e| e.into_inner());
        st.error.clone()
    }
}

impl Drop for Stream {
    fn drop(&mut self) {
        self.shared
            .stop
            .store(true, std::sync::atomic::Ordering::Relaxed);
        if let Some(t) = self.thread.lock().ok().and_then(|mut t| t.take()) {
            let _ = t.join();
        }
    }
}

/// Copies of session `i` of `len` this process replays (`n = c·len + i` per copy `c`).
fn copies(i: u32, len: u64, s: &Settings) -> u64 {
    (0..s.multiply.max(1))
        .filter(|c| {
            let n = c * len + i as u64;
            s.shard.is_none_or(|sh| n % sh.count == sh.index)
        })
        .count() as u64
}

/// The reader thread: builds sessions as they complete, paced by the replay clock.
fn feed(sh: &Shared, path: &Path, index: &Index, s: &Settings) -> Result<(), trace::Error> {
    use std::sync::atomic::Ordering;
    let len = index.len() as u64;
    let first = index.sessions.first().map_or(0, |e| e.start);
    let publish = |b: &mut Builder, i: u32, key: &str| {
        let Some(mut session) = b.take(0, key) else {
            return;
        };
        let left = copies(i, len, s);
        session.index = i;
        let mut st = sh.state.lock().unwrap_or_else(|e| e.into_inner());
        if st.routes.len() != b.routes().len() {
            st.routes = b.routes().to_vec();
        }
        if left > 0 {
            st.built.insert(i, (Arc::new(session), left));
            st.held_peak = st.held_peak.max(st.built.len());
        }
        drop(st);
        sh.ready.notify_waiters();
    };
    let mut b = Builder::new()
        .correlate(&s.correlate)
        .node_pointer(&s.node_pointer);
    let reader = trace::Reader::open(path)?;
    let mut reached = 0u64;
    b.read_with(0, reader, |b, key, end, held| {
        let k = group_key(key.session, key.conn);
        if let Some(&i) = index.by_key.get(k.as_ref()) {
            if held as u64 >= index.sessions[i as usize].exchanges {
                publish(b, i, &k);
            }
        }
        reached = reached.max(end);
        // read on while arrivals within the read-ahead window still need what follows
        loop {
            if sh.stop.load(Ordering::Relaxed) {
                return false;
            }
            let elapsed = sh.start.get().map_or(Duration::ZERO, Instant::elapsed);
            let horizon = (elapsed + s.read_ahead).mul_f64(s.speed.get());
            let at = first.saturating_add(horizon.as_micros() as u64);
            if reached <= index.needed(at).max(at) {
                return true;
            }
            sh.prime();
            std::thread::sleep(Duration::from_millis(5));
        }
    })?;
    // sessions the index counted more lines of than the build took (a damaged tail)
    for (_, key) in b.held() {
        if let Some(&i) = index.by_key.get(key.as_str()) {
            publish(&mut b, i, &key);
        }
    }
    let mut st = sh.state.lock().unwrap_or_else(|e| e.into_inner());
    st.routes = b.routes().to_vec();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::correlate::discover::tests::ex;
    use serde_json::json;

    #[test]
    fn the_index_orders_sessions_and_finds_their_ends() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.trace.zst");
        let mut w = trace::Writer::create(&path, &trace::Header::new(Default::default())).unwrap();
        // b starts first but ends last; a and c interleave with it (times in ms)
        let lines = [
            ("b", 0, 10),
            ("a", 100, 5),
            ("b", 5000, 20),
            ("c", 200, 1),
            ("a", 300, 7),
        ];
        for (i, (s, t, d)) in lines.iter().enumerate() {
            let mut e = ex(i as u64, *t, *d, "GET", "/x", json!(null), json!(null));
            e.session = Some(s.to_string());
            w.append(&e).unwrap();
        }
        w.finish(&trace::Footer {
            exchanges: 5,
            sessions: 3,
            dropped: 0,
        })
        .unwrap();
        let ix = Index::read(&path, "current_node").unwrap();
        let keys: Vec<_> = ix
            .sessions
            .iter()
            .map(|e| (e.key.as_str(), e.start, e.end, e.exchanges))
            .collect();
        assert_eq!(
            keys,
            vec![
                ("b", 0, 5_020_000, 2),
                ("a", 100_000, 307_000, 2),
                ("c", 200_000, 201_000, 1)
            ]
        );
        assert_eq!(
            ix.needed(0),
            5_020_000,
            "b must be read to its end before it starts"
        );
        assert_eq!(ix.needed(150_000), 5_020_000);
        let plan = ix.skeleton("/current_node");
        assert_eq!(plan.span, Duration::from_millis(200));
        assert_eq!(plan.exchanges, 5);
        assert!(!ix.names_nodes);
    }
}
