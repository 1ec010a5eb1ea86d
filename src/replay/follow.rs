//! What a virtual user does when the live agent leaves the recorded conversation
//! (`--on-divergence continue|resync|end`).
//!
//! At every turn the user compares the node the live response names with the node its
//! recorded twin named (both at the conversation node pointer). When they differ the
//! recording no longer fits — the recorded next answer was written for another node:
//! - `continue` sends the recorded requests on, in order (what byte replayers do);
//! - `resync` takes every later answer from the [`Bank`] for the live node (preferring the
//!   same turn, then the same recorded session, seeded), with the chosen answer's think
//!   gaps, until the live conversation ends: a terminal node (no recorded student answered
//!   there), or the recorded session's turns × [`TURN_CAP`] turns (`turn_cap`);
//! - `end` ends the session there.
//!
//! The decisions are pure functions of the bank, the live node and the turn count, tested
//! here; the virtual user ([`super::vu`]) only carries them out.
//!
//! # Invariants
//! - A user never leaves its recording while live and recorded nodes agree, and never
//!   without a 2xx turn response naming a node other than the recorded one.
//! - A re-synchronised session sends at most `max(recorded turns, 1) × TURN_CAP` turns.
//! - The same seed, user, session and turn choose the same answer.

use super::bank::{Answer, Bank, LiveNode, StepInfo, NONE};

/// A re-synchronised session ends after this many times its recorded turns.
pub const TURN_CAP: u32 = 2;

/// The policy when the live node differs from the recorded one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OnDivergence {
    /// Keep sending the recorded requests in order.
    #[default]
    Continue,
    /// Take the next answers from the bank for the live node.
    Resync,
    /// End the session.
    End,
}

impl OnDivergence {
    pub fn name(self) -> &'static str {
        match self {
            OnDivergence::Continue => "continue",
            OnDivergence::Resync => "resync",
            OnDivergence::End => "end",
        }
    }
}

impl std::str::FromStr for OnDivergence {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "continue" => Ok(OnDivergence::Continue),
            "resync" => Ok(OnDivergence::Resync),
            "end" => Ok(OnDivergence::End),
            _ => Err(format!(
                "`{s}` is not a divergence policy (expected continue, resync or end)"
            )),
        }
    }
}

/// How a session that left its recording ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    /// The live agent reached a terminal node (no recorded student answered there).
    Terminal,
    /// The session reached its turn cap.
    TurnCap,
    /// Ended at the divergence (`--on-divergence end`).
    End,
    /// The live node is one the recording never named: no answer fits.
    NoAnswer,
}

impl Ending {
    /// The key in the summary (`conversation.follow.ended`).
    pub fn name(self) -> &'static str {
        match self {
            Ending::Terminal => "terminal",
            Ending::TurnCap => "turn_cap",
            Ending::End => "end",
            Ending::NoAnswer => "no_answer",
        }
    }

    /// The session's abort reason, `None` when the conversation ended by itself.
    pub fn aborted(self) -> Option<&'static str> {
        match self {
            Ending::Terminal => None,
            Ending::TurnCap => Some("turn_cap"),
            Ending::End => Some("diverged"),
            Ending::NoAnswer => Some("no_answer"),
        }
    }
}

/// What a user does next once it left its recording.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    Send(Answer),
    Over(Ending),
}

/// The bank and the policy of a run (part of the plan).
#[derive(Debug, Clone)]
pub struct Follow {
    pub policy: OnDivergence,
    pub bank: Bank,
    /// Seeds the choice among equally good answers.
    pub seed: u64,
}

impl Follow {
    /// `None` when nothing is followed: `continue`, or a bank without answers (the
    /// recording names no node), so the replay costs nothing extra.
    pub fn new(policy: OnDivergence, bank: Bank, seed: u64) -> Option<Follow> {
        (policy != OnDivergence::Continue && !bank.is_empty()).then_some(Follow {
            policy,
            bank,
            seed,
        })
    }

    /// Whether a live turn response naming `live` left the recording at a step whose
    /// recorded response named `info.after`.
    pub fn diverged(info: StepInfo, live: LiveNode) -> bool {
        info.turn
            && info.after != NONE
            && match live {
                LiveNode::Missing => false,
                LiveNode::Unknown => true,
                LiveNode::Known(n) => n != info.after,
            }
    }

    /// The most turns a re-synchronised replay of plan session `session` sends.
    pub fn cap(&self, session: u32) -> u32 {
        self.bank.recorded_turns(session).max(1) * TURN_CAP
    }

    /// The next answer of user `vu` replaying plan session `session`, at the live node
    /// `live`, after `turns` turns.
    pub fn next(&self, live: LiveNode, turns: u32, session: u32, vu: u64) -> Next {
        let node = match live {
            LiveNode::Known(n) => n,
            LiveNode::Unknown | LiveNode::Missing => return Next::Over(Ending::NoAnswer),
        };
        if self.bank.is_terminal(node) {
            return Next::Over(Ending::Terminal);
        }
        if turns >= self.cap(session) {
            return Next::Over(Ending::TurnCap);
        }
        let draw = mix(mix(mix(self.seed) ^ vu) ^ (u64::from(session) << 32) ^ u64::from(turns));
        match self.bank.choose(node, turns + 1, session, draw) {
            Some(a) => Next::Send(*a),
            None => Next::Over(Ending::NoAnswer),
        }
    }
}

/// splitmix64's finaliser.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::conversation;
    use crate::replay::bank::tests::recorded;
    use crate::replay::Plan;

    fn bank() -> Bank {
        let mut exs = recorded(
            "a",
            0,
            &[
                ("a1", "CI"),
                ("a2", "GE"),
                ("a3", "AR"),
                ("a4", "TC"),
                ("a5", "RLC"),
                ("a6", "complete"),
            ],
            0,
        );
        exs.extend(recorded(
            "b",
            10_000,
            &[
                ("b1", "CI"),
                ("b2", "GE"),
                ("b3", "AR"),
                ("b4 guess", "AR"),
                ("b5", "TC"),
            ],
            0,
        ));
        Bank::build(&Plan::from_exchanges(exs), &conversation::Config::default())
    }

    fn node(b: &Bank, n: &str) -> LiveNode {
        LiveNode::Known(b.id(n).unwrap())
    }

    #[test]
    fn the_policies() {
        let b = bank();
        assert_eq!("resync".parse(), Ok(OnDivergence::Resync));
        assert!("again"
            .parse::<OnDivergence>()
            .unwrap_err()
            .contains("continue, resync or end"));
        // continue follows nothing, and nor does any policy without answers
        assert!(Follow::new(OnDivergence::Continue, b.clone(), 1).is_none());
        assert!(Follow::new(OnDivergence::Resync, Bank::default(), 1).is_none());
        let end = Follow::new(OnDivergence::End, b.clone(), 1).unwrap();
        assert_eq!(end.policy, OnDivergence::End);
        assert_eq!(Ending::End.aborted(), Some("diverged"));
        assert_eq!(Ending::Terminal.aborted(), None);

        // diverged: only a turn whose recorded node is known, named otherwise live
        let turn_ar = b.step(0, 3); // a3 → AR
        assert!(turn_ar.turn);
        assert!(!Follow::diverged(turn_ar, node(&b, "AR")));
        assert!(Follow::diverged(turn_ar, node(&b, "TC")));
        assert!(Follow::diverged(turn_ar, LiveNode::Unknown));
        assert!(!Follow::diverged(turn_ar, LiveNode::Missing));
        assert!(
            !Follow::diverged(b.step(0, 0), node(&b, "TC")),
            "the start is no turn"
        );

        // resync: an answer for the live node, until a terminal node or the cap
        let f = Follow::new(OnDivergence::Resync, b.clone(), 7).unwrap();
        let Next::Send(a) = f.next(node(&b, "AR"), 3, 0, 42) else {
            panic!()
        };
        assert_eq!(
            b.answers(b.id("AR").unwrap())
                .iter()
                .filter(|x| **x == a)
                .count(),
            1
        );
        assert_eq!(a.turn, 4, "the same turn is preferred");
        assert_eq!(f.next(node(&b, "AR"), 3, 0, 42), Next::Send(a), "seeded");
        assert_eq!(
            f.next(node(&b, "complete"), 6, 0, 1),
            Next::Over(Ending::Terminal)
        );
        assert_eq!(f.cap(0), 12);
        assert_eq!(f.cap(1), 10);
        assert_eq!(
            f.next(node(&b, "AR"), 10, 1, 1),
            Next::Over(Ending::TurnCap)
        );
        assert!(matches!(f.next(node(&b, "AR"), 9, 1, 1), Next::Send(_)));
        assert_eq!(
            f.next(LiveNode::Unknown, 3, 0, 1),
            Next::Over(Ending::NoAnswer)
        );
        // different users draw different answers among equals (none at turn 2, nor of
        // session 5)
        let drawn: std::collections::BTreeSet<_> = (0..32)
            .map(|vu| match f.next(node(&b, "AR"), 1, 5, vu) {
                Next::Send(a) => (a.session, a.turn),
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(drawn.len(), 3);
    }
}
