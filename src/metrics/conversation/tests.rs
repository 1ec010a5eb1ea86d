use super::*;
use serde_json::json;

const START_EP: &str = "POST /session/start";
const CONT: &str = "POST /session/continue";
const STREAM: &str = "POST /session/continue/stream";
const STATUS: &str = "GET /session/status/{thread_id}";

fn ms(v: u64) -> Duration {
    Duration::from_millis(v)
}

fn recorder() -> Recorder {
    Recorder::new(Arc::new(Config::default()), Arc::new(IssuedIds::new()))
}

fn live(endpoint: &'static str, latency_ms: u64, body: &'static Value) -> Exchange<'static> {
    Exchange {
        endpoint,
        status: 200,
        latency: ms(latency_ms),
        live: Some(body.into()),
        recorded: None,
    }
}

fn leak(v: Value) -> &'static Value {
    Box::leak(Box::new(v))
}

fn node(n: &str, tid: &str) -> &'static Value {
    leak(json!({"thread_id": tid, "current_node": n}))
}

/// A live exchange whose recorded twin had node `rec` and took `rec_ms`.
fn twin(endpoint: &'static str, live_node: &str, rec: &str, rec_ms: u64) -> Exchange<'static> {
    Exchange {
        endpoint,
        status: 200,
        latency: ms(10),
        live: Some(node(live_node, "t").into()),
        recorded: Some(Recorded {
            status: 200,
            latency: ms(rec_ms),
            json: Some(node(rec, "recorded-t").into()),
            node: None,
            id: None,
        }),
    }
}

/// HDR figures are exact to 3 significant digits.
fn assert_close(got: f64, want: f64) {
    assert!(
        (got - want).abs() <= want.abs() * 0.002,
        "{got} is not within 0.2 % of {want}"
    );
}

fn count(h: &summary::Conversation, key: &str) -> u64 {
    h.nodes.get(key).map_or(0, |h| h.count)
}

#[test]
fn transitions_start_at_start_and_follow_turns_only() {
    let mut r = recorder();
    let mut s = r.start_session();
    r.exchange(&mut s, &live(START_EP, 5, node("APK", "t1")));
    r.exchange(&mut s, &live(CONT, 100, node("CI", "t1")));
    r.exchange(&mut s, &live(STATUS, 1, node("CI", "t1")));
    r.exchange(&mut s, &live(CONT, 200, node("AR", "t1")));
    r.exchange(&mut s, &live(STREAM, 300, node("AR", "t1")));
    let c = r.summary();
    let keys: Vec<_> = c.nodes.keys().cloned().collect();
    assert_eq!(keys, ["APK→CI", "AR→AR", "CI→AR", "START→APK"]);
    assert_eq!(count(&c, "AR→AR"), 1);
    assert_close(c.nodes["START→APK"].max_ms, 5.0);
    assert_close(c.nodes["AR→AR"].max_ms, 300.0);
    assert_close(c.nodes["CI→AR"].p50_ms, 200.0);
    // the status check neither recorded a CI→CI nor counted as a turn
    assert_eq!(c.turns.len(), 3);
    assert_close(c.turns["1"].max_ms, 100.0);
    assert_close(c.turns["3"].max_ms, 300.0);
    assert_eq!(s.turns(), 3);
}

#[test]
fn failed_turns_count_in_the_index_but_not_in_latency_or_nodes() {
    let mut r = recorder();
    let mut s = r.start_session();
    r.exchange(&mut s, &live(START_EP, 5, node("APK", "t1")));
    let mut bad = live(
        CONT,
        7,
        leak(json!({"detail": "boom", "current_node": "X"})),
    );
    bad.status = 500;
    r.exchange(&mut s, &bad);
    r.exchange(&mut s, &live(CONT, 100, node("CI", "t1")));
    let c = r.summary();
    assert!(!c.turns.contains_key("1"));
    assert_eq!(c.turns["2"].count, 1);
    assert_eq!(count(&c, "APK→CI"), 1);
    assert!(!c.nodes.keys().any(|k| k.contains('X')));
}

#[test]
fn recorded_transitions_and_turns_use_recorded_latency() {
    let mut r = recorder();
    let mut s = r.start_session();
    r.exchange(&mut s, &twin(START_EP, "APK", "APK", 40));
    r.exchange(&mut s, &twin(CONT, "CI", "CI", 900));
    r.exchange(&mut s, &twin(CONT, "GE", "CI", 800));
    let c = r.summary();
    assert_close(c.recorded_nodes["START→APK"].max_ms, 40.0);
    assert_close(c.recorded_nodes["APK→CI"].max_ms, 900.0);
    assert_close(c.recorded_nodes["CI→CI"].max_ms, 800.0);
    assert_close(c.recorded_turns["2"].max_ms, 800.0);
    // the live path is its own
    assert_eq!(count(&c, "CI→GE"), 1);
    assert_eq!(count(&c, "CI→CI"), 0);
}

#[test]
fn divergence_per_recorded_node_and_first_turn() {
    let mut r = recorder();
    // session 1: diverges at turn 2 (GE recorded, AR live) and again at turn 3
    let mut s = r.start_session();
    r.exchange(&mut s, &twin(START_EP, "APK", "APK", 1));
    r.exchange(&mut s, &twin(CONT, "CI", "CI", 1));
    r.exchange(&mut s, &twin(CONT, "AR", "GE", 1));
    r.exchange(&mut s, &twin(CONT, "AR", "GE", 1));
    // session 2: faithful
    let mut s2 = r.start_session();
    r.exchange(&mut s2, &twin(START_EP, "APK", "APK", 1));
    r.exchange(&mut s2, &twin(CONT, "CI", "CI", 1));
    r.exchange(&mut s2, &twin(CONT, "GE", "GE", 1));
    let d = r.summary().divergence;
    assert_eq!(
        (d.compared, d.diverged),
        (5, 2),
        "start is not a turn: not compared"
    );
    assert_eq!(d.by_node["GE"].compared, 3);
    assert_eq!(d.by_node["GE"].diverged, 2);
    assert!((d.by_node["GE"].rate - 2.0 / 3.0).abs() < 1e-9);
    assert_eq!(d.by_node["CI"].diverged, 0);
    assert_eq!(d.first_turn.len(), 1);
    assert_eq!(d.first_turn["2"], 1);
}

#[test]
fn no_comparison_without_both_nodes() {
    let mut r = recorder();
    let mut s = r.start_session();
    let mut x = twin(CONT, "CI", "CI", 1);
    x.recorded = None;
    r.exchange(&mut s, &x);
    let mut y = twin(CONT, "CI", "GE", 1);
    y.recorded.as_mut().unwrap().status = 500;
    r.exchange(&mut s, &y);
    assert_eq!(r.summary().divergence.compared, 0);
}

#[test]
fn cross_talk_counts_only_ids_issued_to_other_users() {
    let issued = Arc::new(IssuedIds::new());
    let cfg = Arc::new(Config::default());
    let mut a = Recorder::new(cfg.clone(), issued.clone());
    let mut b = Recorder::new(cfg, issued.clone());
    let mut sa = a.start_session();
    let mut sb = b.start_session();
    a.exchange(&mut sa, &live(START_EP, 1, node("APK", "ta")));
    b.exchange(&mut sb, &live(START_EP, 1, node("APK", "tb")));
    assert_eq!(sa.own_id(), Some("ta"));
    // own id: fine; an id nobody was issued: not cross-talk
    a.exchange(&mut sa, &live(CONT, 1, node("CI", "ta")));
    a.exchange(&mut sa, &live(CONT, 1, node("CI", "never-issued")));
    assert_eq!(a.summary().isolation.cross_talk, 0);
    // a names b's session
    a.exchange(&mut sa, &live(CONT, 1, node("GE", "tb")));
    // a third user whose start is answered with a's id
    let mut sc = b.start_session();
    b.exchange(&mut sc, &live(START_EP, 1, node("APK", "ta")));
    let ia = a.summary().isolation;
    assert_eq!(ia.cross_talk, 1);
    assert_eq!(
        ia.examples,
        vec![CrossTalkExample {
            endpoint: CONT.into(),
            expected: "ta".into(),
            found: "tb".into()
        }]
    );
    let ib = b.summary().isolation;
    assert_eq!(ib.cross_talk, 1);
    assert_eq!(ib.examples[0].expected, "(a new session)");
    assert_eq!(ib.examples[0].found, "ta");
    assert_eq!(issued.len(), 2);
}

#[test]
fn cross_talk_naming_an_id_claimed_later_is_counted_at_summary_time() {
    let issued = Arc::new(IssuedIds::new());
    let cfg = Arc::new(Config::default());
    let mut a = Recorder::new(cfg.clone(), issued.clone());
    let mut b = Recorder::new(cfg, issued);
    let mut sa = a.start_session();
    a.exchange(&mut sa, &live(START_EP, 1, node("APK", "ta")));
    // a's response names tb before b has read its start response
    a.exchange(&mut sa, &live(CONT, 1, node("CI", "tb")));
    a.exchange(&mut sa, &live(CONT, 1, node("GE", "nobody")));
    assert_eq!(a.summary().isolation.cross_talk, 0);
    let mut sb = b.start_session();
    b.exchange(&mut sb, &live(START_EP, 1, node("APK", "tb")));
    let i = a.summary().isolation;
    assert_eq!(
        i.cross_talk, 1,
        "tb was issued after all; `nobody` never was"
    );
    assert_eq!(i.examples[0].found, "tb");
    // and it survives a merge
    let mut m = Recorder::new(Arc::new(Config::default()), Arc::new(IssuedIds::new()));
    m.merge(&a);
    assert_eq!(
        m.summary().isolation.cross_talk,
        0,
        "resolved against the merged recorder's ids"
    );
    let mut n = Recorder::new(a.cfg.clone(), a.issued.clone());
    n.merge(&a);
    assert_eq!(n.summary().isolation.cross_talk, 1);
}

#[test]
fn cross_talk_examples_are_capped() {
    let issued = Arc::new(IssuedIds::new());
    issued.claim("other");
    let cfg = Config {
        max_examples: 2,
        ..Config::default()
    };
    let mut r = Recorder::new(Arc::new(cfg), issued);
    let mut s = r.start_session();
    r.exchange(&mut s, &live(START_EP, 1, node("APK", "mine")));
    for _ in 0..5 {
        r.exchange(&mut s, &live(CONT, 1, node("CI", "other")));
    }
    let i = r.summary().isolation;
    assert_eq!(i.cross_talk, 5);
    assert_eq!(i.examples.len(), 2);
}

#[test]
fn fields_count_truthy_values() {
    let mut r = recorder();
    let mut s = r.start_session();
    for body in [
        json!({"simulation_triggered": true, "image_url": "http://x/y.png"}),
        json!({"simulation_triggered": false, "image_url": null}),
        json!({"simulation_triggered": 1, "image_url": ""}),
        json!({}),
    ] {
        r.exchange(&mut s, &live(CONT, 1, leak(body)));
    }
    let f = r.summary().fields;
    assert_eq!(f["/simulation_triggered"], 2);
    assert_eq!(f["/image_url"], 1);
    assert!(truthy(&json!([0])) && !truthy(&json!([])) && !truthy(&json!(0.0)));
    assert!(truthy(&json!({"a": 1})) && !truthy(&json!({})));
}

#[test]
fn server_timing_histograms_and_malformed_count() {
    let mut r = recorder();
    r.server_timing(b"llm;dur=812.4, checkpoint_save;dur=14.2, checkpoint_load;dur=6.1");
    r.server_timing(b"checkpoint_save;dur=20");
    r.server_timing(b"cache;desc=hit");
    r.server_timing(b"llm;dur=oops, checkpoint_save;dur=30");
    let c = r.summary();
    assert_eq!(c.server_timing_malformed, 1);
    assert_eq!(c.server_timing["checkpoint_save"].count, 3);
    assert_close(c.server_timing["checkpoint_save"].max_ms, 30.0);
    assert_eq!(c.server_timing["llm"].count, 1);
    assert_close(c.server_timing["llm"].max_ms, 812.4);
    assert!(!c.server_timing.contains_key("cache"), "no dur, no sample");
}

#[test]
fn streaming_ttft_gaps_events_and_duration() {
    let mut r = recorder();
    r.stream(STREAM, &[ms(300), ms(400), ms(500), ms(600)], ms(650));
    r.stream(STREAM, &[], ms(40));
    let st = &r.summary().streaming[STREAM];
    assert_eq!(st.responses, 2);
    assert_eq!(
        st.ttft.count, 1,
        "a stream without a complete event has no TTFT"
    );
    assert_close(st.ttft.p50_ms, 300.0);
    assert_eq!(st.gap.count, 3);
    assert_close(st.gap.p50_ms, 100.0);
    assert_eq!(st.events.count, 1);
    assert_close(st.events.max_ms * 1000.0, 4.0);
    assert_eq!(st.duration.count, 2);
    assert_close(st.duration.max_ms, 650.0);
}

#[test]
fn sessions_completed_aborted_and_duration() {
    let mut r = recorder();
    let s1 = r.start_session();
    let s2 = r.start_session();
    let s3 = r.start_session();
    r.end_session(s1, Ending::Completed, Duration::from_secs(30));
    r.end_session(s2, Ending::Aborted("correlation"), Duration::from_secs(2));
    r.end_session(s3, Ending::Aborted("correlation"), Duration::from_secs(3));
    let s = r.sessions();
    assert_eq!((s.started, s.completed, s.aborted), (3, 1, 2));
    assert_eq!(s.aborted_by_reason["correlation"], 2);
    assert_eq!(s.duration.count, 3);
    assert_close(s.duration.max_ms, 30_000.0);
}

#[test]
fn turns_past_the_cap_share_the_last_histogram() {
    let mut r = recorder();
    let mut s = r.start_session();
    for _ in 0..(MAX_TURN + 10) {
        r.exchange(&mut s, &live(CONT, 1, node("AR", "t")));
    }
    let t = r.summary().turns;
    assert_eq!(t.len(), MAX_TURN as usize);
    assert_eq!(t[&MAX_TURN.to_string()].count, 11);
}

/// Feeds a fixed mixed workload; `part` selects every other session.
fn feed(r: &mut Recorder, part: Option<usize>) {
    for i in 0..6usize {
        if part.is_some_and(|p| i % 2 != p) {
            continue;
        }
        let tid: &'static str = Box::leak(format!("s{i}").into_boxed_str());
        let mut s = r.start_session();
        let mut start = twin(START_EP, "APK", "APK", 3 + i as u64);
        start.live = Some(node("APK", tid).into());
        r.exchange(&mut s, &start);
        let mut x = twin(
            CONT,
            if i == 3 { "AR" } else { "CI" },
            "CI",
            50 * i as u64 + 1,
        );
        x.live = Some(node(if i == 3 { "AR" } else { "CI" }, tid).into());
        r.exchange(&mut s, &x);
        r.server_timing(format!("llm;dur={}", 100 + i).as_bytes());
        r.stream(
            STREAM,
            &[ms(10 * i as u64 + 1), ms(20 * i as u64 + 5)],
            ms(300),
        );
        r.exchange(
            &mut s,
            &live(CONT, 1, leak(json!({"image_url": "u", "thread_id": "s0"}))),
        );
        let ending = if i == 4 {
            Ending::Aborted("connect")
        } else {
            Ending::Completed
        };
        r.recorded_path("APK→CI", 2);
        if i == 3 {
            r.followed("AR", 2, "terminal");
        }
        r.end_session(s, ending, Duration::from_secs(i as u64 + 1));
    }
}

#[test]
fn merged_workers_equal_one_recorder() {
    let cfg = Arc::new(Config::default());
    let mut one = Recorder::new(cfg.clone(), Arc::new(IssuedIds::new()));
    feed(&mut one, None);
    let issued = Arc::new(IssuedIds::new());
    let mut a = Recorder::new(cfg.clone(), issued.clone());
    let mut b = Recorder::new(cfg, issued);
    feed(&mut a, Some(0));
    feed(&mut b, Some(1));
    let (sa, sb) = (a.summary(), b.summary());
    a.merge(&b);
    let want = one.summary();
    // the live paths (APK, then the node of each 2xx turn) beside the recorded ones
    assert_eq!(want.paths.live.sessions, 6);
    assert_eq!(want.paths.live.paths["APK→CI"], 5);
    assert_eq!(want.paths.live.paths["APK→AR"], 1);
    assert_eq!(want.paths.recorded.lengths["2"], 6);
    assert_eq!(want.paths.length_distance, 0.0);
    assert!((want.paths.path_distance - 1.0 / 6.0).abs() < 1e-12);
    assert_eq!(want.follow.by_node["AR"], 1);
    assert_eq!(
        want.isolation.cross_talk, 5,
        "every session but s0 named s0"
    );
    let mut got = a.summary();
    // examples are kept in arrival order per worker: compare them as sets
    got.isolation
        .examples
        .sort_by(|x, y| x.expected.cmp(&y.expected));
    let mut want_sorted = want.clone();
    want_sorted
        .isolation
        .examples
        .sort_by(|x, y| x.expected.cmp(&y.expected));
    assert_eq!(got, want_sorted);
    assert_eq!(a.sessions(), one.sessions());
    // and through summary.json
    let mut via_json = merge_summaries(&sa, &sb).unwrap();
    via_json
        .isolation
        .examples
        .sort_by(|x, y| x.expected.cmp(&y.expected));
    assert_eq!(via_json, want_sorted);
}

#[test]
fn merge_with_empty_is_identity() {
    let mut r = recorder();
    feed(&mut r, None);
    let s = r.summary();
    assert_eq!(
        merge_summaries(&s, &summary::Conversation::default()).unwrap(),
        s
    );
    assert_eq!(
        merge_summaries(&summary::Conversation::default(), &s).unwrap(),
        s
    );
}

#[test]
fn config_validation_and_turn_matching() {
    assert!(Config::default().validate().is_ok());
    let bad = Config {
        node_pointer: "current_node".into(),
        ..Config::default()
    };
    assert_eq!(
        bad.validate().unwrap_err().to_string(),
        "`node_pointer`: `current_node` is not a JSON pointer (it must be empty or start with `/`, e.g. `/current_node`)"
    );
    let c = Config::default();
    assert!(c.is_turn(CONT) && c.is_turn(STREAM) && !c.is_turn(START_EP) && !c.is_turn(STATUS));
    let exact = Config {
        turn_endpoints: vec![CONT.into()],
        ..Config::default()
    };
    assert!(exact.is_turn(CONT) && !exact.is_turn(STREAM));
}

#[test]
fn configurable_node_pointer_and_non_string_nodes() {
    let cfg = Config {
        node_pointer: "/state/node".into(),
        ..Config::default()
    };
    let mut r = Recorder::new(Arc::new(cfg), Arc::new(IssuedIds::new()));
    let mut s = r.start_session();
    r.exchange(
        &mut s,
        &live(START_EP, 1, leak(json!({"state": {"node": "A"}}))),
    );
    r.exchange(&mut s, &live(CONT, 1, leak(json!({"state": {"node": 7}}))));
    r.exchange(
        &mut s,
        &live(CONT, 1, leak(json!({"state": {"node": "B"}}))),
    );
    let keys: Vec<_> = r.summary().nodes.into_keys().collect();
    assert_eq!(keys, ["A→B", "START→A"]);
}

#[test]
fn invented_names_are_capped() {
    let mut r = recorder();
    let mut s = r.start_session();
    for i in 0..200 {
        let body = leak(json!({"current_node": format!("N{i}")}));
        r.exchange(&mut s, &live(CONT, 1, body));
        r.server_timing(format!("m{i};dur=1").as_bytes());
    }
    let c = r.summary();
    assert!(c.nodes.len() <= MAX_TRANSITIONS + 1, "{}", c.nodes.len());
    let total: u64 = c.nodes.values().map(|h| h.count).sum();
    assert_eq!(total, 200, "every response is still counted");
    assert!(c.nodes.keys().any(|k| k == "(other)→(other)"));
    assert_eq!(c.server_timing.len(), MAX_NAMES + 1);
    assert_eq!(c.server_timing[OTHER].count, 200 - MAX_NAMES as u64);
}

#[test]
fn distinct_transitions_are_capped() {
    let mut r = recorder();
    let mut s = r.start_session();
    let mut n = 0u64;
    for a in 0..20 {
        for b in 0..20 {
            for name in [format!("A{a}"), format!("A{b}")] {
                r.exchange(&mut s, &live(CONT, 1, leak(json!({"current_node": name}))));
                n += 1;
            }
        }
    }
    let c = r.summary();
    assert_eq!(c.nodes.len(), MAX_TRANSITIONS + 1);
    assert!(c.nodes["(other)→(other)"].count > 0);
    assert_eq!(c.nodes.values().map(|h| h.count).sum::<u64>(), n);
}

#[test]
fn picked_bodies_record_as_parsed_documents() {
    // the replay hands the recorder values picked from the body; the figures must equal
    // those of the parsed document, also with nested, escaped and duplicate keys
    let cfg = Config {
        node_pointer: "/state/node".into(),
        session_pointer: "/ids/0".into(),
        fields: vec![
            "/simulation_triggered".into(),
            "/a~1b".into(),
            "/state".into(),
            "".into(),
        ],
        ..Config::default()
    };
    let bodies: [&[u8]; 9] = [
        br#"{"state": {"node": "A"}, "ids": ["t1"], "simulation_triggered": true}"#,
        br#"{"state": {"node": "B"}, "ids": ["t1", "x"], "a/b": 1}"#,
        br#"{"state": {"node": "C"}, "state": {"other": 1}, "ids": ["t2"]}"#,
        br#"{"state": {"node": "D"}, "ids": ["t1"], "simulation_triggered": 0, "a/b": ""}"#,
        br#"{"st\u0061te": {"node": "E"}, "ids": ["t1"], "simulation_triggered": [1]}"#,
        br#"{"state": {"node": 7}, "ids": [1]}"#,
        br#"{"state": {"node": "F"}, "ids": ["t1"]} trailing"#,
        b"<html>not json</html>",
        br#"[{"state": 1}]"#,
    ];
    let mut parsed = Recorder::new(Arc::new(cfg.clone()), Arc::new(IssuedIds::new()));
    let mut picked = Recorder::new(Arc::new(cfg), Arc::new(IssuedIds::new()));
    let (mut sp, mut sq) = (parsed.start_session(), picked.start_session());
    let mut values = Picked::default();
    for (i, body) in bodies.iter().enumerate() {
        let endpoint = if i == 0 { START_EP } else { CONT };
        let doc = serde_json::from_slice::<Value>(body).ok();
        let ok = picked.picker().pick_slice(body, &mut values);
        assert_eq!(ok, doc.is_some(), "{}", String::from_utf8_lossy(body));
        let x = |live| Exchange {
            endpoint,
            status: 200,
            latency: ms(10 + i as u64),
            live,
            recorded: None,
        };
        parsed.exchange(&mut sp, &x(doc.as_ref().map(Json::Doc)));
        picked.exchange(&mut sq, &x(ok.then_some(Json::Picked(&values))));
    }
    let (want, got) = (parsed.summary(), picked.summary());
    assert_eq!(got, want);
    // and the workload exercised what it means to (C is replaced by a duplicate key)
    assert_eq!(got.nodes.len(), 4, "{:?}", got.nodes.keys());
    assert_eq!(got.fields["/simulation_triggered"], 2);
    assert_eq!(got.fields["/a~1b"], 1);
    assert_eq!(got.fields[""], 0, "an empty pointer is disabled");
    assert_eq!(got.isolation.cross_talk, 0, "t2 was issued to nobody");
}

#[test]
fn a_recorded_twin_with_an_id_is_read_once() {
    let with_id = |rec: &str, id| {
        let mut x = twin(CONT, "CI", rec, 5);
        x.recorded.as_mut().unwrap().id = id;
        x
    };
    // the same figures with and without ids
    let (mut a, mut b) = (recorder(), recorder());
    let (mut sa, mut sb) = (a.start_session(), b.start_session());
    for (i, rec) in ["CI", "AR", "CI", "GE"].into_iter().enumerate() {
        a.exchange(&mut sa, &with_id(rec, None));
        b.exchange(&mut sb, &with_id(rec, Some(100 + i)));
    }
    assert_eq!(a.summary(), b.summary());
    assert_eq!(b.summary().divergence.diverged, 2);
    // an id names one recorded response: its node is remembered, not read again
    let mut r = recorder();
    let mut s = r.start_session();
    r.exchange(&mut s, &with_id("AR", Some(7)));
    r.exchange(&mut s, &with_id("GE", Some(7)));
    let keys: Vec<_> = r.summary().recorded_nodes.into_keys().collect();
    assert_eq!(keys, ["AR→AR", "START→AR"]);
}

#[test]
fn a_snapshot_copied_into_a_used_buffer_equals_a_fresh_clone() {
    let mut r = recorder();
    let mut s = r.start_session();
    r.exchange(&mut s, &live(START_EP, 5, node("APK", "t1")));
    r.exchange(&mut s, &live(CONT, 100, node("CI", "t1")));
    r.server_timing(b"db;dur=12.5, llm;dur=80");
    // a buffer that held other figures (more turns, another metric) takes the copy whole
    let mut buf = r.clone();
    r.exchange(&mut s, &live(CONT, 200, node("AR", "t1")));
    buf.exchange(&mut s, &live(CONT, 900, node("GE", "t1")));
    buf.exchange(&mut s, &live(CONT, 900, node("TC", "t1")));
    buf.server_timing(b"cache;dur=1");
    buf.clone_from(&r);
    assert_eq!(buf.summary(), r.summary());
    assert_eq!(buf.summary(), r.clone().summary());
    // an earlier snapshot refreshed: what changed since is copied, the rest kept
    let mut snap = r.clone();
    r.exchange(&mut s, &live(CONT, 300, node("TC", "t1")));
    r.server_timing(b"db;dur=40");
    assert_ne!(snap.summary(), r.summary());
    snap.refresh_from(&r);
    assert_eq!(snap.summary(), r.summary());
}
