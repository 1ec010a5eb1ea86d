//! Following a non-deterministic agent (`--on-divergence`), end to end: synthetic students
//! are recorded through the proxy from a mock that grades every answer as written, then
//! replayed against a mock whose grading is noisy (`grading_noise` 0.2: AR loops appear and
//! vanish, a real change of state). The mock's students mark each answer with the node it
//! was written for, and the mock counts the answers that arrive at another node — so every
//! assertion is on what the mock received.
//!
//! Stated distance: with `resync`, the live path-length distribution is within 0.07 (total
//! variation) of the one the mock's own students produce at the same noise. With 1,500
//! sessions a side, two samples of one distribution differ by ~0.02 (p99 ~0.05, simulated);
//! the noise-free recording differs from the noisy students by ~0.12, which is what
//! `continue` — the recorded answers in order — shows.

use reprise::metrics::conversation::paths;
use reprise::metrics::Summary;
use reprise::mock::{self, Endpoint, Misbehave, Server, Share};
use reprise::replay::conversation::Conversation;
use reprise::replay::{self, Workload};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

const NOISE: f64 = 0.2;
const RECORDED: u64 = 300;
const COPIES: u64 = 5;
const STATED_DISTANCE: f64 = 0.07;

fn students(target: String, sessions: u64, seed: u64) -> mock::students::Config {
    let mut c = mock::students::Config::new(target)
        .sessions(sessions)
        .seed(seed)
        .concurrency(50)
        .think(Duration::from_millis(1), Duration::from_millis(3));
    // enough turns that every student reaches the end of the conversation
    c.turns = (14, 14);
    c
}

async fn noisy_mock(seed: u64) -> Server {
    let misbehave = Misbehave {
        grading_noise: Share::new(NOISE),
        ..Default::default()
    };
    Server::start(
        "127.0.0.1:0".parse().unwrap(),
        mock::Config::default()
            .seed(seed)
            .request_log(true)
            .misbehave(misbehave),
    )
    .await
    .unwrap()
}

/// Records `RECORDED` students through the proxy from a mock without noise.
async fn record(dir: &Path) -> PathBuf {
    let clean = Server::start("127.0.0.1:0".parse().unwrap(), mock::Config::default())
        .await
        .unwrap();
    let out = dir.join("students.trace.zst");
    let mut rc = reprise::record::Config::new(&clean.url(), out.clone()).unwrap();
    rc.listen = "127.0.0.1:0".parse().unwrap();
    let proxy = reprise::record::Proxy::start(rc, CancellationToken::new())
        .await
        .unwrap();
    let report = mock::students::run(&students(proxy.url(), RECORDED, 1))
        .await
        .unwrap();
    assert_eq!(report.failed, 0);
    assert_eq!(proxy.finish().await.unwrap().sessions, RECORDED);
    let c = clean.counters();
    assert_eq!(
        c.answers_mismatched, 0,
        "students answer the node they are at"
    );
    assert!(c.answers_marked > RECORDED * 5);
    clean.shutdown().await;
    out
}

/// Path length (nodes: the start's, then one per answered turn) of every session the mock
/// issued, from what it received.
fn lengths(mock: &Server) -> BTreeMap<String, u64> {
    let mut turns: HashMap<String, u64> = HashMap::new();
    for e in mock.log().entries() {
        match (e.endpoint, &e.issued, &e.thread_id) {
            (Endpoint::Start, Some(id), _) => {
                turns.entry(id.clone()).or_default();
            }
            (Endpoint::Continue | Endpoint::Stream, _, Some(id)) if e.status == 200 => {
                *turns.entry(id.clone()).or_default() += 1;
            }
            _ => {}
        }
    }
    let mut out = BTreeMap::new();
    for n in turns.values() {
        *out.entry((n + 1).to_string()).or_default() += 1;
    }
    out
}

async fn replay(trace: &Path, target: &Server, policy: &str) -> Summary {
    let measures = reprise::metrics::conversation::Config::default();
    let mut plan = reprise::cmd::replay::load_plan(&[trace.to_path_buf()], &[]).unwrap();
    reprise::cmd::replay::follow(&mut plan, Some(policy), &measures, 1).unwrap();
    assert_eq!(plan.follow.is_some(), policy != "continue");
    let mut config = replay::Config::new(target.url(), Workload::Open { multiply: COPIES });
    config.timeout = Duration::from_secs(20);
    let summary = tokio::task::spawn_blocking(move || {
        replay::run(
            Arc::new(plan),
            &config,
            Arc::new(Conversation::new(measures)),
            CancellationToken::new(),
            |_| {},
            Default::default(),
        )
        .expect("replay runs")
    })
    .await
    .unwrap();
    assert_eq!(summary.sessions.started, RECORDED * COPIES);
    assert_eq!(summary.totals.failures, 0, "{:?}", summary.failures);
    summary
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resync_follows_a_noisy_agent_and_continue_does_not() {
    let dir = tempfile::tempdir().unwrap();
    let trace = record(dir.path()).await;

    // the mock's own students at the same noise: the distribution to compare with
    let reference = noisy_mock(11).await;
    let report = mock::students::run(&students(reference.url(), RECORDED * COPIES, 2))
        .await
        .unwrap();
    assert_eq!(report.failed, 0);
    let rc = reference.counters();
    assert!(rc.injected_grading_flips > 100, "{rc:?}");
    assert_eq!(rc.answers_mismatched, 0);
    let students = lengths(&reference);

    // resync
    let live = noisy_mock(12).await;
    let s = replay(&trace, &live, "resync").await;
    let c = live.counters();
    assert!(c.injected_grading_flips > 100, "{c:?}");
    assert!(c.answers_marked >= RECORDED * COPIES * 6);
    assert_eq!(
        c.answers_mismatched, 0,
        "every answer fits the node it arrives at"
    );
    let follow = &s.conversation.follow;
    assert!(follow.sessions > 200, "{follow:?}");
    assert_eq!(follow.by_node.values().sum::<u64>(), follow.sessions);
    assert!(follow.by_node.contains_key("AR") && follow.by_node.contains_key("TC"));
    // every session ends at a terminal node or at its cap (2 × recorded turns ≥ 12)
    let mut issued = 0;
    for e in live.log().entries() {
        if let (Endpoint::Start, Some(id)) = (e.endpoint, &e.issued) {
            let v = live.session(id).unwrap();
            assert!(v.complete || v.turn >= 12, "{id}: {v:?}");
            issued += 1;
        }
    }
    assert_eq!(issued, RECORDED * COPIES);
    let capped = follow.ended.get("turn_cap").copied().unwrap_or(0);
    assert_eq!(
        follow.ended.get("terminal").copied().unwrap_or(0) + capped,
        follow.sessions,
        "{follow:?}"
    );
    assert_eq!(s.sessions.aborted, capped, "{:?}", s.sessions);
    // the summary's live lengths are what the mock saw
    let seen = lengths(&live);
    assert_eq!(s.conversation.paths.live.lengths, seen);
    let resync_distance = paths::distance(&seen, &students);
    assert!(
        resync_distance < STATED_DISTANCE,
        "resync: {resync_distance:.3} from the students ({seen:?} vs {students:?})"
    );

    // continue: the recorded answers in order
    let live = noisy_mock(12).await;
    let s = replay(&trace, &live, "continue").await;
    let c = live.counters();
    let continue_mismatched = c.answers_mismatched;
    assert!(
        continue_mismatched > 100,
        "answers written for another node: {c:?}"
    );
    assert!(s.conversation.follow.is_empty());
    let seen = lengths(&live);
    assert_eq!(s.conversation.paths.live.lengths, seen);
    // continue sends every recorded answer: its lengths are the recording's
    assert_eq!(
        s.conversation.paths.live.lengths,
        s.conversation.paths.recorded.lengths
    );
    let continue_distance = paths::distance(&seen, &students);
    assert!(
        continue_distance > STATED_DISTANCE && continue_distance > resync_distance + 0.03,
        "continue {continue_distance:.3} vs resync {resync_distance:.3}"
    );

    // end: a session stops where the agent left the recording, before an unfitting answer
    let live = noisy_mock(12).await;
    let s = replay(&trace, &live, "end").await;
    let c = live.counters();
    assert!(c.injected_grading_flips > 50, "{c:?}");
    assert_eq!(c.answers_mismatched, 0);
    let follow = &s.conversation.follow;
    assert!(follow.sessions > 100, "{follow:?}");
    assert_eq!(follow.answers, 0);
    assert_eq!(follow.ended.get("end"), Some(&follow.sessions));
    assert_eq!(
        s.sessions.aborted_by_reason.get("diverged"),
        Some(&follow.sessions)
    );
    assert_eq!(s.sessions.aborted, follow.sessions);

    eprintln!(
        "path-length distance to the students: resync {resync_distance:.3}, continue {continue_distance:.3}; \
         mismatched answers: continue {continue_mismatched}"
    );
}
