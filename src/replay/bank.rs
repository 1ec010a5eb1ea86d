//! The answer bank: what the recorded students sent at each conversation node.
//!
//! An LLM tutor does not answer the same way twice: in a replay the live agent may be at
//! another node than it was when the student was recorded, and the recorded next answer
//! no longer fits. The bank, built once from the plan, holds for every node (the string at
//! the conversation node pointer, default `/current_node`) the recorded **answers** given
//! at it, so a virtual user can take its next request from the bank for the *live* node
//! (`--on-divergence resync`, see [`super::follow`]).
//!
//! - The node a request was sent *at* is the node named by the latest response of its
//!   session that had completed, with a 2xx status, when it was sent (for a recorded
//!   `text/event-stream` body, by its last event's data).
//! - An **answer** is one turn (a request of a turn endpoint, `POST /session/continue*`)
//!   with the requests its student sent since the previous turn (a status check): steps
//!   `from..=to` of one recorded session, each with its recorded think gap, and the turn
//!   index (1-based) the turn had. Answers are plan steps, so the correlation rewrites
//!   them like any other (their ids are mapped to the live user's by variable name).
//! - A **terminal** node is one at which no recorded student ever answered (the agent's
//!   `complete`, where `session_complete` is true): a live conversation there is over.
//!
//! # Invariants
//! - Built from the plan alone; pure and deterministic (sessions in plan order).
//! - [`Bank::choose`] prefers an answer given at the same turn, then one of the same
//!   recorded session (its student's style); among equals it picks by the caller's seeded
//!   draw, so the same draw gives the same answer; it never allocates.
//! - [`Bank::live_node`] reads a JSON body without allocating (no document is built, keys
//!   and the node string are borrowed from the body when unescaped).

use super::plan::{Plan, Session, Step};
use crate::metrics::conversation::{self, Pointer};
use crate::metrics::sse;
use rustc_hash::FxHashMap as HashMap;
use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use std::fmt;

/// No node (a step whose recorded response named none, or is not a turn).
pub const NONE: u32 = u32::MAX;

/// One recorded answer: steps `from..=to` of recorded session `session`, the last a turn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Answer {
    /// Index of the recorded session in the plan.
    pub session: u32,
    pub from: u32,
    pub to: u32,
    /// The turn index (1-based) of step `to` in its session.
    pub turn: u32,
}

/// What the bank knows of one plan step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StepInfo {
    /// A request of a turn endpoint.
    pub turn: bool,
    /// The node its recorded response named (turns only), or [`NONE`].
    pub after: u32,
}

/// The node a live response names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LiveNode {
    /// No string at the node pointer (or not JSON).
    Missing,
    /// A node no recorded response named.
    Unknown,
    Known(u32),
}

/// Recorded answers per node, and the recorded node of every turn of the plan.
#[derive(Debug, Clone, Default)]
pub struct Bank {
    pointer: Option<Pointer>,
    names: Vec<Box<str>>,
    ids: HashMap<Box<str>, u32>,
    /// By node id.
    answers: Vec<Vec<Answer>>,
    /// By session, then step.
    steps: Vec<Vec<StepInfo>>,
    /// Turns per recorded session.
    turns: Vec<u32>,
}

impl Bank {
    /// The bank of `plan`, reading nodes at `cfg.node_pointer` and turns from
    /// `cfg.turn_endpoints`.
    pub fn build(plan: &Plan, cfg: &conversation::Config) -> Bank {
        let mut bank = Bank {
            pointer: Pointer::parse(&cfg.node_pointer).filter(|_| !cfg.node_pointer.is_empty()),
            ..Bank::default()
        };
        let is_turn: Vec<bool> = plan.routes.iter().map(|r| cfg.is_turn(&r.name)).collect();
        for (s, session) in plan.sessions.iter().enumerate() {
            let nodes: Vec<Option<u32>> = session
                .steps
                .iter()
                // the plan read its recorded nodes at its own pointer: at another, none
                .map(|st| {
                    (plan.node_pointer == cfg.node_pointer)
                        .then(|| bank.recorded_node(session, st))
                        .flatten()
                })
                .collect();
            let mut infos = Vec::with_capacity(session.steps.len());
            let mut turn = 0u32;
            let mut prev_turn: Option<usize> = None;
            for (i, step) in session.steps.iter().enumerate() {
                let is_turn = is_turn.get(step.route as usize).copied().unwrap_or(false);
                infos.push(StepInfo {
                    turn: is_turn,
                    after: if is_turn {
                        nodes[i].unwrap_or(NONE)
                    } else {
                        NONE
                    },
                });
                if !is_turn {
                    continue;
                }
                turn += 1;
                // the preamble: what the student sent since its previous turn (not the
                // session's first request, which started it)
                let from = prev_turn.map_or(1.min(i), |p| p + 1);
                prev_turn = Some(i);
                if let Some(at) = node_at(&session.steps, &nodes, i) {
                    bank.answers[at as usize].push(Answer {
                        session: s as u32,
                        from: from as u32,
                        to: i as u32,
                        turn,
                    });
                }
            }
            bank.steps.push(infos);
            bank.turns.push(turn);
        }
        bank
    }

    /// Interns a node name.
    fn intern(&mut self, name: &str) -> u32 {
        if let Some(&id) = self.ids.get(name) {
            return id;
        }
        let id = self.names.len() as u32;
        self.names.push(name.into());
        self.ids.insert(name.into(), id);
        self.answers.push(Vec::new());
        id
    }

    /// The node a recorded 2xx response names (read when the plan was built).
    fn recorded_node(&mut self, session: &Session, step: &Step) -> Option<u32> {
        self.pointer.as_ref()?;
        step.recorded.status().filter(|s| *s < 400)?;
        let name = session.node(step.recorded.node()?);
        Some(self.intern(name))
    }

    /// Whether no node has an answer (no node pointer in the recording, or no turns).
    pub fn is_empty(&self) -> bool {
        self.answers.iter().all(Vec::is_empty)
    }

    /// Nodes known, by id.
    pub fn nodes(&self) -> impl Iterator<Item = &str> {
        self.names.iter().map(|n| &**n)
    }

    pub fn name(&self, node: u32) -> &str {
        self.names.get(node as usize).map_or("", |n| n)
    }

    pub fn id(&self, name: &str) -> Option<u32> {
        self.ids.get(name).copied()
    }

    /// The answers recorded at `node`.
    pub fn answers(&self, node: u32) -> &[Answer] {
        self.answers.get(node as usize).map_or(&[], Vec::as_slice)
    }

    /// A node at which no recorded student answered: the conversation is over there.
    pub fn is_terminal(&self, node: u32) -> bool {
        self.answers(node).is_empty()
    }

    /// What the bank knows of step `step` of plan session `session`.
    pub fn step(&self, session: u32, step: usize) -> StepInfo {
        self.steps
            .get(session as usize)
            .and_then(|s| s.get(step))
            .copied()
            .unwrap_or(StepInfo {
                turn: false,
                after: NONE,
            })
    }

    /// Turns recorded in plan session `session`.
    pub fn recorded_turns(&self, session: u32) -> u32 {
        self.turns.get(session as usize).copied().unwrap_or(0)
    }

    /// An answer for the live `node` at turn `turn` of a user replaying recorded session
    /// `session`: one given at the same turn and by the same session if there is one, else
    /// at the same turn, else by the same session, else any; `draw` picks among equals.
    pub fn choose(&self, node: u32, turn: u32, session: u32, draw: u64) -> Option<&Answer> {
        let all = self.answers(node);
        let score = |a: &Answer| 2 * u8::from(a.turn == turn) + u8::from(a.session == session);
        let best = all.iter().map(score).max()?;
        let n = all.iter().filter(|a| score(a) == best).count() as u64;
        let k = (draw % n) as usize;
        all.iter().filter(|a| score(a) == best).nth(k)
    }

    /// The node a live response body names; `sse`: the body is an event stream (its last
    /// event's data is read).
    pub fn live_node(&self, body: &[u8], sse_body: bool) -> LiveNode {
        let Some(p) = &self.pointer else {
            return LiveNode::Missing;
        };
        let mut found = LiveNode::Missing;
        let lookup = |s: &str| match self.ids.get(s) {
            Some(&id) => LiveNode::Known(id),
            None => LiveNode::Unknown,
        };
        if sse_body {
            if let Some(last) = sse::parse_all(body).pop() {
                str_at(last.data.as_bytes(), p.tokens(), &mut |s| found = lookup(s));
            }
        } else {
            str_at(body, p.tokens(), &mut |s| found = lookup(s));
        }
        found
    }
}

/// The node step `i` was sent at: named by the latest-completing 2xx response of the
/// session that had completed before its send.
fn node_at(steps: &[Step], nodes: &[Option<u32>], i: usize) -> Option<u32> {
    let sent = steps[i].recorded.t_us;
    steps
        .iter()
        .zip(nodes)
        .enumerate()
        .filter(|(j, (st, n))| {
            *j != i && n.is_some() && st.recorded.t_us.saturating_add(st.recorded.done_us) <= sent
        })
        .max_by_key(|(j, (st, _))| (st.recorded.t_us.saturating_add(st.recorded.done_us), *j))
        .and_then(|(_, (_, n))| *n)
}

/// Calls `f` with the string at `tokens` of a JSON body, if there is one; parses the body
/// with serde without building a document (skipped values are not allocated).
fn str_at(body: &[u8], tokens: &[String], f: &mut dyn FnMut(&str)) {
    let mut de = serde_json::Deserializer::from_slice(body);
    let _ = At { tokens, f }.deserialize(&mut de);
}

struct At<'t, 'f> {
    tokens: &'t [String],
    f: &'f mut dyn FnMut(&str),
}

impl<'de> DeserializeSeed<'de> for At<'_, '_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for At<'_, '_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<(), E> {
        Ok(())
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<(), E> {
        Ok(())
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<(), E> {
        Ok(())
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<(), E> {
        Ok(())
    }
    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        Ok(())
    }
    fn visit_str<E: de::Error>(self, s: &str) -> Result<(), E> {
        if self.tokens.is_empty() {
            (self.f)(s);
        }
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let want = self.tokens.first().and_then(|t| index(t));
        let mut i = 0usize;
        let (tokens, f) = (self.tokens, self.f);
        loop {
            let more = if Some(i) == want {
                seq.next_element_seed(At {
                    tokens: &tokens[1..],
                    f: &mut *f,
                })?
                .is_some()
            } else {
                seq.next_element::<IgnoredAny>()?.is_some()
            };
            if !more {
                return Ok(());
            }
            i += 1;
        }
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let (tokens, f) = (self.tokens, self.f);
        let Some(first) = tokens.first() else {
            while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
            return Ok(());
        };
        while let Some(hit) = map.next_key_seed(Key(first))? {
            if hit {
                map.next_value_seed(At {
                    tokens: &tokens[1..],
                    f: &mut *f,
                })?;
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(())
    }
}

/// An array index as RFC 6901 spells it: `0`, or digits without a leading zero.
fn index(token: &str) -> Option<usize> {
    let digits = !token.is_empty() && token.bytes().all(|b| b.is_ascii_digit());
    (digits && (token == "0" || !token.starts_with('0')))
        .then(|| token.parse().ok())
        .flatten()
}

/// An object key, compared with the wanted token (borrowed when unescaped).
struct Key<'t>(&'t str);

impl<'de> DeserializeSeed<'de> for Key<'_> {
    type Value = bool;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<bool, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for Key<'_> {
    type Value = bool;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an object key")
    }
    fn visit_str<E: de::Error>(self, key: &str) -> Result<bool, E> {
        Ok(key == self.0)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::correlate::discover::tests::ex;
    use crate::trace;
    use serde_json::json;

    /// A recorded session `key`: start at APK, then one turn per `(answer, node after)`,
    /// 100 ms apart, each done in 10 ms; a status check before the turn at `status_before`.
    pub(crate) fn recorded(
        key: &str,
        t0: u64,
        turns: &[(&str, &str)],
        status_before: usize,
    ) -> Vec<trace::Exchange> {
        let id = format!("{key}-0000-4000-8000-000000000000");
        let mut t = t0;
        let mut n = t0 * 10;
        let mut out = Vec::new();
        let mut push = |t: u64, method: &str, path: String, req, res| {
            let mut e = ex(n, t, 10, method, &path, req, res);
            e.session = Some(key.into());
            out.push(e);
            n += 1;
        };
        push(
            t,
            "POST",
            "/session/start".into(),
            json!({}),
            json!({"thread_id": id, "current_node": "APK"}),
        );
        for (k, (answer, after)) in turns.iter().enumerate() {
            if k + 1 == status_before {
                t += 50;
                push(
                    t,
                    "GET",
                    format!("/session/status/{id}"),
                    json!(null),
                    json!({"thread_id": id, "current_node": "x"}),
                );
            }
            t += 100;
            push(
                t,
                "POST",
                "/session/continue".into(),
                json!({"thread_id": id, "user_response": answer}),
                json!({"thread_id": id, "current_node": after}),
            );
        }
        out
    }

    fn plan() -> Plan {
        let mut exs = recorded(
            "a",
            0,
            &[
                ("a1", "CI"),
                ("a2", "GE"),
                ("a3", "AR"),
                ("a4 guess", "AR"),
                ("a5", "TC"),
            ],
            2,
        );
        exs.extend(recorded(
            "b",
            10_000,
            &[("b1", "CI"), ("b2", "GE"), ("b3", "AR"), ("b4", "TC")],
            0,
        ));
        Plan::from_exchanges(exs)
    }

    #[test]
    fn built_from_a_recording_by_the_node_each_answer_was_sent_at() {
        let plan = plan();
        let bank = Bank::build(&plan, &conversation::Config::default());
        let names: Vec<&str> = bank.nodes().collect();
        assert_eq!(names, ["APK", "CI", "x", "GE", "AR", "TC"]);
        let at = |n: &str| bank.answers(bank.id(n).unwrap()).to_vec();
        // session a: a1 at APK; a2 at CI after a status check (its preamble, steps 2..=3)
        assert_eq!(
            at("APK"),
            vec![
                Answer {
                    session: 0,
                    from: 1,
                    to: 1,
                    turn: 1
                },
                Answer {
                    session: 1,
                    from: 1,
                    to: 1,
                    turn: 1
                },
            ]
        );
        // the status check named `x` after a1's response: a2 was sent at `x`, not CI
        assert_eq!(
            at("x"),
            vec![Answer {
                session: 0,
                from: 2,
                to: 3,
                turn: 2
            }]
        );
        assert_eq!(
            at("CI"),
            vec![Answer {
                session: 1,
                from: 2,
                to: 2,
                turn: 2
            }]
        );
        // a3 at GE, a4 (the guess) and a5 at AR
        let ar = at("AR");
        assert_eq!(ar.len(), 3);
        assert_eq!((ar[0].session, ar[0].turn), (0, 4));
        assert_eq!((ar[1].session, ar[1].turn), (0, 5));
        assert_eq!((ar[2].session, ar[2].turn), (1, 4));
        let tc = bank.id("TC").unwrap();
        assert!(bank.is_terminal(tc), "nobody answered at TC");
        assert!(!bank.is_terminal(bank.id("AR").unwrap()));
        assert_eq!(bank.recorded_turns(0), 5);
        assert_eq!(bank.recorded_turns(1), 4);
        // steps: a turn knows the node its recorded response named; others know nothing
        assert_eq!(
            bank.step(0, 4),
            StepInfo {
                turn: true,
                after: bank.id("AR").unwrap()
            }
        );
        assert_eq!(
            bank.step(0, 2),
            StepInfo {
                turn: false,
                after: NONE
            }
        );
        assert_eq!(
            bank.step(0, 0),
            StepInfo {
                turn: false,
                after: NONE
            }
        );
        assert_eq!(
            bank.step(9, 9),
            StepInfo {
                turn: false,
                after: NONE
            }
        );
        // the answers are the plan's steps: rewritable like any other
        let a4 = &plan.sessions[0].steps[ar[0].to as usize];
        assert!(a4.body.starts_with(b"{\"thread_id\""));
        assert_eq!(a4.uses.len(), 1);
    }

    #[test]
    fn choice_prefers_the_same_turn_then_the_same_session_and_is_seeded() {
        let bank = Bank::build(&plan(), &conversation::Config::default());
        let ar = bank.id("AR").unwrap();
        // turn 4 at AR: both sessions answered there; session 1's own is preferred
        for draw in 0..20 {
            assert_eq!(
                bank.choose(ar, 4, 1, draw).map(|a| (a.session, a.turn)),
                Some((1, 4))
            );
            assert_eq!(
                bank.choose(ar, 4, 0, draw).map(|a| (a.session, a.turn)),
                Some((0, 4))
            );
        }
        // turn 5: only session 0 answered at turn 5, preferred over session 1's own turn 4
        assert_eq!(
            bank.choose(ar, 5, 1, 3).map(|a| (a.session, a.turn)),
            Some((0, 5))
        );
        // no same turn: the session's own answers; for another session, any answer
        let own: Vec<_> = (0..8)
            .map(|d| bank.choose(ar, 9, 0, d).unwrap().turn)
            .collect();
        assert!(own.iter().all(|&t| t == 4 || t == 5) && own.contains(&4) && own.contains(&5));
        let any: std::collections::BTreeSet<_> = (0..16)
            .map(|d| {
                let a = bank.choose(ar, 9, 7, d).unwrap();
                (a.session, a.turn)
            })
            .collect();
        assert_eq!(any.len(), 3, "every answer can be drawn");
        // the same draw, the same answer
        assert_eq!(bank.choose(ar, 9, 7, 5), bank.choose(ar, 9, 7, 5));
        assert_eq!(bank.choose(bank.id("TC").unwrap(), 1, 0, 0), None);
    }

    #[test]
    fn live_node_is_read_without_a_document() {
        let bank = Bank::build(&plan(), &conversation::Config::default());
        let ar = LiveNode::Known(bank.id("AR").unwrap());
        assert_eq!(
            bank.live_node(br#"{"a":[1,{"b":2}],"current_node":"AR","z":null}"#, false),
            ar
        );
        assert_eq!(
            bank.live_node(br#"{"current_node":"A\u0052"}"#, false),
            ar,
            "escaped"
        );
        assert_eq!(
            bank.live_node(br#"{"current_node":"ZZ"}"#, false),
            LiveNode::Unknown
        );
        assert_eq!(
            bank.live_node(br#"{"current_node":3}"#, false),
            LiveNode::Missing
        );
        assert_eq!(
            bank.live_node(br#"{"x":{"current_node":"AR"}}"#, false),
            LiveNode::Missing
        );
        assert_eq!(bank.live_node(b"not json", false), LiveNode::Missing);
        let sse = b"data: {\"token\":\"hi\"}\n\nevent: done\ndata: {\"current_node\":\"AR\"}\n\n";
        assert_eq!(bank.live_node(sse, true), ar);
        let cfg = conversation::Config {
            node_pointer: "/state/nodes/1".into(),
            ..Default::default()
        };
        let deep = Bank {
            pointer: Pointer::parse(&cfg.node_pointer),
            ..bank.clone()
        };
        assert_eq!(
            deep.live_node(br#"{"state":{"nodes":["GE","AR"]}}"#, false),
            ar
        );
        let none = Bank::build(
            &plan(),
            &conversation::Config {
                node_pointer: "/nope".into(),
                ..Default::default()
            },
        );
        assert!(none.is_empty(), "a recording naming no node has no answers");
    }
}
