//! Load stages: a run's shape played through its [`Control`] handle.
//!
//! The first stage is the run's starting workload (the caller builds the run's config from
//! [`Shape::first`]); a driver thread then makes each later stage's change at its planned
//! offset from the run's start. Offsets are absolute (`start + Σ ramp + hold` of the stages
//! before), never chained sleeps, so a late change does not delay the next one.
//!
//! How a stage reaches its target:
//! - closed workload, more users: one change whose spawn rate is `Δusers / ramp` (without a
//!   ramp, the run's spawn rate; without one, all within a second);
//! - closed workload, fewer users: users above the target stop after their in-flight
//!   request (`at_once`); a ramp lowers the target a step each second;
//! - open workload: the multiplier is set, or, over a ramp, stepped each second;
//! - open workload at a rate: the sessions/s are set, or, over a ramp, stepped each second
//!   (linearly, not rounded).
//!
//! # Invariants
//! - Every change goes through [`Control::apply`], so each is an event in `run.events`.
//! - The driver ends when the shape is played, the run is stopped through the handle, or
//!   its own token is cancelled (the run ended first); it never outlives [`Driver::finish`].
//! - Stage windows ([`Shape::windows`]) are the planned offsets; the last stage's window
//!   ends with the run, so every second of the run belongs to exactly one stage.

use super::control::{Change, Control};
use super::Workload;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// One stage: reach `target` (users, the multiplier of an open workload, or its sessions
/// per second) over `ramp`, then hold it for `hold`.
#[derive(Debug, Clone, PartialEq)]
pub struct Stage {
    /// As given, or the stage's 1-based index.
    pub name: String,
    /// Whole for users and multipliers.
    pub target: f64,
    pub ramp: Duration,
    pub hold: Duration,
}

/// A whole shape: its stages and the workload kind they steer.
#[derive(Debug, Clone, PartialEq)]
pub struct Shape {
    pub stages: Vec<Stage>,
    /// True: targets are users; false: multipliers (or rates, with `rate`).
    pub closed: bool,
    /// True (with `closed` false): targets are session arrivals per second.
    pub rate: bool,
    /// The run's spawn rate (`--spawn-rate`), used by stages without a ramp.
    pub spawn_rate: Option<f64>,
}

/// A stage's place on the run's time axis (seconds since the start).
#[derive(Debug, Clone, PartialEq)]
pub struct Window {
    /// 1-based.
    pub index: usize,
    pub name: String,
    pub target: f64,
    pub ramp_s: f64,
    pub hold_s: f64,
    pub start_s: f64,
    /// The planned end; the last stage's window runs to the end of the run.
    pub end_s: f64,
}

impl Shape {
    /// The run's starting workload: the first stage's target, reached over its ramp.
    pub fn first(&self) -> Workload {
        let s = &self.stages[0];
        if self.closed {
            let users = s.target.round() as u64;
            Workload::Closed {
                users,
                spawn_rate: Some(self.rate(0, users, s.ramp)),
            }
        } else if self.rate {
            Workload::Rate { per_s: s.target }
        } else {
            Workload::Open {
                multiply: s.target.round() as u64,
            }
        }
    }

    /// Σ ramp + hold.
    pub fn total(&self) -> Duration {
        self.stages.iter().map(|s| s.ramp + s.hold).sum()
    }

    /// The planned window of every stage.
    pub fn windows(&self) -> Vec<Window> {
        let mut at = Duration::ZERO;
        let last = self.stages.len().saturating_sub(1);
        self.stages
            .iter()
            .enumerate()
            .map(|(i, s)| {
                let start = at;
                at += s.ramp + s.hold;
                Window {
                    index: i + 1,
                    name: s.name.clone(),
                    target: s.target,
                    ramp_s: s.ramp.as_secs_f64(),
                    hold_s: s.hold.as_secs_f64(),
                    start_s: start.as_secs_f64(),
                    end_s: if i == last {
                        f64::INFINITY
                    } else {
                        at.as_secs_f64()
                    },
                }
            })
            .collect()
    }

    /// Users per second to go from `from` to `to` users over `ramp`.
    fn rate(&self, from: u64, to: u64, ramp: Duration) -> f64 {
        let delta = to.saturating_sub(from).max(1) as f64;
        if ramp.is_zero() {
            self.spawn_rate.unwrap_or(delta)
        } else {
            delta / ramp.as_secs_f64()
        }
    }

    /// The changes stage `i` makes, each with its offset from the run's start.
    fn changes(&self, i: usize, start: Duration) -> Vec<(Duration, Change)> {
        let (prev, s) = (self.stages[i - 1].target, &self.stages[i]);
        if self.closed && s.target >= prev {
            let (from, to) = (prev.round() as u64, s.target.round() as u64);
            let rate = self.rate(from, to, s.ramp);
            return vec![(
                start,
                Change::Users {
                    users: to,
                    spawn_rate: Some(rate),
                    at_once: false,
                },
            )];
        }
        let steps = s.ramp.as_secs_f64().ceil().max(1.0) as u64;
        let mut out = Vec::new();
        let mut last = prev;
        for k in 1..=steps {
            let v = if k == steps {
                s.target
            } else {
                let f = k as f64 / steps as f64;
                let v = prev + (s.target - prev) * f;
                if self.rate {
                    v
                } else {
                    v.round()
                }
            };
            if v == last {
                continue;
            }
            last = v;
            let at = start + s.ramp.mul_f64((k - 1) as f64 / steps as f64);
            let change = if self.closed {
                Change::Users {
                    users: v as u64,
                    spawn_rate: None,
                    at_once: true,
                }
            } else if self.rate {
                Change::Rate(v)
            } else {
                Change::Multiply((v as u64).max(1))
            };
            out.push((at, change));
        }
        out
    }
}

/// The running driver; [`Driver::finish`] stops and joins it.
pub struct Driver {
    cancel: CancellationToken,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Driver {
    /// Stops the driver (if the shape is not played yet) and waits for its thread.
    pub fn finish(mut self) {
        self.cancel.cancel();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}

/// Starts playing `shape` on `control` from the run's start (it waits for the run to
/// begin).
pub fn drive(control: Control, shape: Shape) -> std::io::Result<Driver> {
    let cancel = CancellationToken::new();
    let token = cancel.clone();
    let thread = std::thread::Builder::new()
        .name("reprise-stages".into())
        .spawn(move || play(&control, &shape, &token))?;
    Ok(Driver {
        cancel,
        thread: Some(thread),
    })
}

fn play(control: &Control, shape: &Shape, cancel: &CancellationToken) {
    let start = loop {
        if let Some(s) = control.started_at() {
            break s;
        }
        if cancel.is_cancelled() || !nap(Duration::from_millis(5), cancel) {
            return;
        }
    };
    let mut offset = Duration::ZERO;
    for i in 1..shape.stages.len() {
        let prev = &shape.stages[i - 1];
        offset += prev.ramp + prev.hold;
        for (at, change) in shape.changes(i, offset) {
            if !sleep_until(start + at, cancel) || control.is_stopped() {
                return;
            }
            if control.apply(change).is_err() {
                return;
            }
        }
    }
}

/// Sleeps until `due`, waking to check `cancel`; false when cancelled.
fn sleep_until(due: Instant, cancel: &CancellationToken) -> bool {
    loop {
        let now = Instant::now();
        if now >= due {
            return !cancel.is_cancelled();
        }
        if !nap((due - now).min(Duration::from_millis(20)), cancel) {
            return false;
        }
    }
}

fn nap(d: Duration, cancel: &CancellationToken) -> bool {
    std::thread::sleep(d);
    !cancel.is_cancelled()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stage(target: u64, ramp: u64, hold: u64) -> Stage {
        Stage {
            name: String::new(),
            target: target as f64,
            ramp: Duration::from_secs(ramp),
            hold: Duration::from_secs(hold),
        }
    }

    fn shape(closed: bool, stages: Vec<Stage>) -> Shape {
        Shape {
            stages,
            closed,
            rate: false,
            spawn_rate: None,
        }
    }

    #[test]
    fn raising_users_is_one_change_at_the_ramps_rate() {
        let s = shape(true, vec![stage(10, 10, 60), stage(100, 30, 60)]);
        assert_eq!(
            s.first(),
            Workload::Closed {
                users: 10,
                spawn_rate: Some(1.0)
            }
        );
        let c = s.changes(1, Duration::from_secs(70));
        assert_eq!(
            c,
            vec![(
                Duration::from_secs(70),
                Change::Users {
                    users: 100,
                    spawn_rate: Some(3.0),
                    at_once: false
                }
            )]
        );
        // no ramp and no --spawn-rate: within a second
        let flat = shape(true, vec![stage(10, 0, 5), stage(50, 0, 5)]);
        assert!(matches!(
            flat.changes(1, Duration::ZERO)[0].1,
            Change::Users { spawn_rate: Some(r), .. } if r == 40.0
        ));
    }

    #[test]
    fn lowering_and_open_stages_step_each_second_of_the_ramp() {
        let s = shape(true, vec![stage(100, 0, 5), stage(40, 3, 5)]);
        let c = s.changes(1, Duration::from_secs(5));
        let users: Vec<_> = c
            .iter()
            .map(|(at, ch)| match ch {
                Change::Users { users, at_once, .. } => (at.as_secs(), *users, *at_once),
                _ => unreachable!(),
            })
            .collect();
        assert_eq!(users, vec![(5, 80, true), (6, 60, true), (7, 40, true)]);
        let open = shape(false, vec![stage(1, 0, 5), stage(3, 2, 5)]);
        assert_eq!(open.first(), Workload::Open { multiply: 1 });
        let c: Vec<_> = open.changes(1, Duration::from_secs(5));
        assert_eq!(
            c,
            vec![
                (Duration::from_secs(5), Change::Multiply(2)),
                (Duration::from_secs(6), Change::Multiply(3))
            ]
        );
    }

    #[test]
    fn rate_stages_set_or_step_sessions_per_second() {
        let mut s = shape(false, vec![stage(2, 0, 5), stage(5, 3, 5), stage(1, 0, 5)]);
        s.rate = true;
        assert_eq!(s.first(), Workload::Rate { per_s: 2.0 });
        let c = s.changes(1, Duration::from_secs(5));
        assert_eq!(
            c,
            vec![
                (Duration::from_secs(5), Change::Rate(3.0)),
                (Duration::from_secs(6), Change::Rate(4.0)),
                (Duration::from_secs(7), Change::Rate(5.0))
            ]
        );
        assert_eq!(
            s.changes(2, Duration::from_secs(13)),
            vec![(Duration::from_secs(13), Change::Rate(1.0))]
        );
    }

    #[test]
    fn windows_tile_the_run() {
        let s = shape(true, vec![stage(1, 0, 2), stage(2, 1, 2), stage(3, 0, 4)]);
        let w = s.windows();
        let spans: Vec<_> = w.iter().map(|w| (w.start_s, w.end_s)).collect();
        assert_eq!(spans, vec![(0.0, 2.0), (2.0, 5.0), (5.0, f64::INFINITY)]);
        assert_eq!(s.total(), Duration::from_secs(9));
    }

    #[test]
    fn the_driver_applies_each_stage_at_its_offset() {
        let control = Control::new(Workload::Closed {
            users: 1,
            spawn_rate: Some(1.0),
        });
        let s = shape(true, vec![stage(1, 0, 1), stage(3, 0, 1)]);
        let d = drive(control.clone(), s).unwrap();
        std::thread::sleep(Duration::from_millis(100));
        assert!(control.events().is_empty(), "waits for the run to start");
        let t = Instant::now();
        control.started(t);
        let deadline = t + Duration::from_secs(10);
        while control.target().users != 3 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        d.finish();
        let e = control.events();
        assert_eq!(e.len(), 1);
        assert_eq!(e[0].users, Some(3));
        assert!(e[0].t_s >= 0.99, "{}", e[0].t_s);
    }
}
