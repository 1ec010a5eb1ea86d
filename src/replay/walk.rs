//! Which sessions a closed user plays, in which order, and the pause before each.
//!
//! By default a user replays recorded **clients** whole ([`Lineup::Clients`]): user `u`
//! takes client `order[(u + k·round) % clients]` for k = 0, 1, …, and plays its sessions in
//! recorded order, each after its recorded pause (the previous session's last completion →
//! its first send). The first session of a client has no recorded predecessor: when the
//! user comes to it after another client, its pause is drawn from the recording's
//! inter-session pauses ([`Plan::pauses`]) — among those at least as long as the previous
//! client's idle tail ([`Plan::tails`]) when that tail is no longer than the longest
//! recorded pause: that client was then still pausing when its recording ended, so its
//! next pause was at least that long. A longer tail means the client had gone (its
//! connection closed, one connection per session): the draw is then over every pause. A
//! user's very first session starts when the user does. So a closed run at the recorded
//! number of clients, for the recorded duration, sends at the recorded rate and starts the
//! recorded sessions: a user whose client's last session was cut by the end of the
//! recording does not start an extra one early.
//!
//! `--back-to-back` ([`Lineup::Sessions`]) walks the sessions instead, `order[(u + k·round)
//! % sessions]`, each started as soon as the previous one ended.
//!
//! Pauses are recorded durations; the caller divides them by the speed. Draws are seeded
//! by the run's seed and the user's number, so a run repeats.
//!
//! # Invariants
//! - A quota (run without `--duration`) counts clients (or sessions, back to back): with
//!   `users` users each taking `quota(u, users, len)`, the recording is played once.
//! - Within a client, sessions come in recorded order and each has its recorded pause.

use super::plan::Plan;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use std::time::Duration;

/// What closed users walk: a seeded shuffle of the clients (default) or of the sessions
/// (back to back).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lineup {
    Clients { order: Vec<u32>, seed: u64 },
    Sessions { order: Vec<u32> },
}

impl Lineup {
    /// The lineup of `plan`, shuffled with `seed`.
    pub fn new(plan: &Plan, back_to_back: bool, seed: u64) -> Lineup {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        if back_to_back {
            let mut order: Vec<u32> = (0..plan.sessions.len() as u32).collect();
            order.shuffle(&mut rng);
            Lineup::Sessions { order }
        } else {
            let mut order: Vec<u32> = (0..plan.clients.len() as u32).collect();
            order.shuffle(&mut rng);
            Lineup::Clients { order, seed }
        }
    }

    /// Clients (or sessions, back to back) in the lineup: what a quota counts.
    pub fn len(&self) -> usize {
        match self {
            Lineup::Clients { order, .. } | Lineup::Sessions { order } => order.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Why a session waits before it starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pause {
    /// Starts at once: the user's first session, or back to back.
    None,
    /// The recorded pause before this session on its client.
    Recorded(Duration),
    /// No recorded predecessor: a pause drawn from the recording's.
    Drawn(Duration),
}

impl Pause {
    pub fn duration(self) -> Duration {
        match self {
            Pause::None => Duration::ZERO,
            Pause::Recorded(d) | Pause::Drawn(d) => d,
        }
    }
}

/// One user's walk through the lineup.
#[derive(Debug)]
pub struct Walk<'a> {
    plan: &'a Plan,
    lineup: &'a Lineup,
    user: u64,
    round: u64,
    /// Clients (or sessions) this user may begin; `None`: no limit.
    quota: Option<u64>,
    /// Clients (or sessions) begun.
    k: u64,
    /// The client being played and the position of its next session.
    client: Option<(u32, usize)>,
    rng: rand_chacha::ChaCha8Rng,
    first: bool,
}

impl<'a> Walk<'a> {
    /// User `user`'s walk; users take turns with stride `round`.
    pub fn new(
        plan: &'a Plan,
        lineup: &'a Lineup,
        user: u64,
        round: u64,
        quota: Option<u64>,
    ) -> Walk<'a> {
        let seed = match lineup {
            Lineup::Clients { seed, .. } => *seed,
            Lineup::Sessions { .. } => 0,
        };
        Walk {
            plan,
            lineup,
            user,
            round: round.max(1),
            quota,
            k: 0,
            client: None,
            rng: rand_chacha::ChaCha8Rng::seed_from_u64(
                seed ^ user.wrapping_mul(0x9e37_79b9_7f4a_7c15),
            ),
            first: true,
        }
    }

    fn slot(&self) -> Option<usize> {
        let len = self.lineup.len() as u64;
        if len == 0 || self.quota.is_some_and(|q| self.k >= q) {
            return None;
        }
        Some(((self.user + self.k * self.round) % len) as usize)
    }

    /// A pause drawn from the recording's inter-session pauses, of at least `tail` when
    /// some recorded pause is that long (else from all of them); zero when none was
    /// recorded.
    fn draw(&mut self, tail: Duration) -> Duration {
        let p = &self.plan.pauses;
        let Some(&longest) = p.last() else {
            return Duration::ZERO;
        };
        let floor = if tail <= longest {
            tail
        } else {
            Duration::ZERO
        };
        let from = p.partition_point(|&d| d < floor);
        p[self.rng.gen_range(from..p.len())]
    }
}

impl Iterator for Walk<'_> {
    /// The next session (index into [`Plan::sessions`]) and the pause before it.
    type Item = (usize, Pause);

    fn next(&mut self) -> Option<(usize, Pause)> {
        let first = std::mem::replace(&mut self.first, false);
        match self.lineup {
            Lineup::Sessions { order } => {
                let slot = self.slot()?;
                self.k += 1;
                Some((order[slot] as usize, Pause::None))
            }
            Lineup::Clients { order, .. } => {
                if let Some((c, pos)) = self.client {
                    let list = &self.plan.clients[c as usize];
                    if let Some(&s) = list.get(pos) {
                        self.client = Some((c, pos + 1));
                        let pause = match self.plan.sessions[s as usize].pause {
                            Some(p) => Pause::Recorded(p),
                            None => Pause::Drawn(self.draw(Duration::ZERO)),
                        };
                        return Some((s as usize, pause));
                    }
                }
                let tail = match self.client {
                    Some((prev, _)) => self.plan.tails.get(prev as usize).copied(),
                    None => None,
                };
                let slot = self.slot()?;
                self.k += 1;
                let c = order[slot];
                let s = *self.plan.clients[c as usize].first()?;
                self.client = Some((c, 1));
                let pause = if first {
                    Pause::None
                } else {
                    Pause::Drawn(self.draw(tail.unwrap_or_default()))
                };
                Some((s as usize, pause))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::correlate::discover::tests::ex;
    use serde_json::json;

    /// Client 1: sessions a (0–100 ms) and b (1100 ms, pause 1 s), then idle for the last
    /// 2,050 ms of the recording; client 2: c, then d after 3 s, the recording's last.
    fn exchanges() -> Vec<crate::trace::Exchange> {
        let one = |id, session: &str, conn, t| {
            let mut e = ex(id, t, 100, "GET", "/x", json!(null), json!({}));
            e.session = Some(session.into());
            e.conn = conn;
            e
        };
        vec![
            one(1, "a", 1, 0),
            one(2, "b", 1, 1100),
            one(3, "c", 2, 50),
            one(4, "d", 2, 3150),
        ]
    }

    fn plan() -> Plan {
        Plan::from_exchanges(exchanges())
    }

    fn keys(plan: &Plan, walk: Walk<'_>, n: usize) -> Vec<(String, Pause)> {
        walk.take(n)
            .map(|(s, p)| (plan.sessions[s].key.clone(), p))
            .collect()
    }

    #[test]
    fn a_user_plays_a_client_whole_with_its_recorded_pauses() {
        let plan = plan();
        assert_eq!(
            plan.pauses,
            vec![Duration::from_secs(1), Duration::from_secs(3)]
        );
        assert_eq!(
            plan.tails,
            vec![Duration::from_millis(2050), Duration::ZERO]
        );
        let lineup = Lineup::Clients {
            order: vec![0, 1],
            seed: 1,
        };
        let got = keys(&plan, Walk::new(&plan, &lineup, 0, 1, None), 5);
        let s = Duration::from_secs;
        assert_eq!(
            got[0],
            ("a".into(), Pause::None),
            "the first session starts at once"
        );
        assert_eq!(got[1], ("b".into(), Pause::Recorded(s(1))));
        // the next client's first session has no recorded predecessor: drawn, at least
        // as long as client 1 was idle at the end of the recording (2,050 ms): 3 s
        assert_eq!(got[2], ("c".into(), Pause::Drawn(s(3))));
        assert_eq!(got[3], ("d".into(), Pause::Recorded(s(3))));
        assert_eq!(got[4].0, "a", "round robin over the clients");
        assert!(
            matches!(got[4].1, Pause::Drawn(d) if d == s(1) || d == s(3)),
            "{got:?}"
        );
    }

    #[test]
    fn a_client_gone_long_before_the_end_does_not_hold_its_user() {
        // plan() plus client 3: one session at 0–100 ms, then gone for 3,150 ms, longer
        // than any recorded pause: the next pause is drawn from all of them
        let mut exchanges = exchanges();
        let mut e = ex(9, 0, 100, "GET", "/x", json!(null), json!({}));
        e.session = Some("e".into());
        e.conn = 3;
        exchanges.push(e);
        let plan = Plan::from_exchanges(exchanges);
        let gone = plan.sessions.iter().position(|s| s.key == "e").unwrap();
        let c = plan.sessions[gone].client;
        assert_eq!(plan.tails[c as usize], Duration::from_millis(3150));
        let lineup = Lineup::Clients {
            order: vec![c, 0],
            seed: 1,
        };
        let drawn: Vec<Duration> = (0..40u64)
            .map(|u| {
                let mut w = Walk::new(&plan, &lineup, 0, 1, None);
                w.rng = rand_chacha::ChaCha8Rng::seed_from_u64(u);
                w.nth(1).unwrap().1.duration()
            })
            .collect();
        assert!(drawn.contains(&Duration::from_secs(1)), "{drawn:?}");
        assert!(drawn.iter().all(|d| plan.pauses.contains(d)), "{drawn:?}");
    }

    #[test]
    fn quotas_count_clients_and_share_the_recording_once() {
        let plan = plan();
        let lineup = Lineup::new(&plan, false, 7);
        assert_eq!(lineup.len(), 2);
        let mut all: Vec<String> = (0..2)
            .flat_map(|u| {
                let w = Walk::new(&plan, &lineup, u, 2, Some(1));
                keys(&plan, w, 10).into_iter().map(|(k, _)| k)
            })
            .collect();
        all.sort();
        assert_eq!(all, vec!["a", "b", "c", "d"], "every session once");
        assert_eq!(Lineup::new(&plan, false, 7), lineup, "seeded");
    }

    #[test]
    fn back_to_back_walks_sessions_without_pauses() {
        let plan = plan();
        let lineup = Lineup::new(&plan, true, 1);
        assert_eq!(lineup.len(), 4);
        let got = keys(&plan, Walk::new(&plan, &lineup, 1, 2, Some(2)), 10);
        assert_eq!(got.len(), 2, "quota in sessions");
        assert!(got.iter().all(|(_, p)| *p == Pause::None));
        assert_ne!(got[0].0, got[1].0);
    }

    #[test]
    fn draws_are_seeded_per_user_and_zero_without_recorded_pauses() {
        let plan = plan();
        let lineup = Lineup::new(&plan, false, 3);
        let a: Vec<_> = Walk::new(&plan, &lineup, 5, 1, None).take(12).collect();
        let b: Vec<_> = Walk::new(&plan, &lineup, 5, 1, None).take(12).collect();
        assert_eq!(a, b);
        let lone = Plan::from_exchanges(vec![ex(1, 0, 10, "GET", "/x", json!(null), json!({}))]);
        assert!(lone.pauses.is_empty());
        let l = Lineup::new(&lone, false, 1);
        let got: Vec<_> = Walk::new(&lone, &l, 0, 1, None).take(3).collect();
        assert_eq!(
            got,
            vec![
                (0, Pause::None),
                (0, Pause::Drawn(Duration::ZERO)),
                (0, Pause::Drawn(Duration::ZERO))
            ]
        );
    }
}
