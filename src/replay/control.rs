//! Run control: a handle that steers a replay while it runs.
//!
//! A [`Control`] is made before the run and handed to [`run_with`](super::run_with); any
//! thread (the web UI, a load shape, a test) may then [`apply`](Control::apply) a
//! [`Change`]: the closed workload's target users and spawn rate, the open workload's
//! multiplier, the rate workload's sessions per second, pause, resume, stop. Every accepted change becomes an [`Event`] with its
//! time, kept for `summary.json` (`run.events`) and the charts' markers.
//!
//! Workers never lock to read the target: the handle publishes a [`Target`] on a
//! `tokio::sync::watch` channel; each worker's spawner task wakes on a change, copies what
//! its users need into worker-local cells ([`Local`]) and starts or stops users.
//!
//! # Invariants
//! - A change out of range (users < 0 cannot be typed; spawn rate ≤ 0 or not finite,
//!   multiplier 0, a rate ≤ 0 or not finite, a change for another workload, or any change once stopped) is refused
//!   with an [`Error`] and changes nothing, not even the event list.
//! - Lowering users: users numbered ≥ the new target end at their next session boundary,
//!   or at once (`at_once`: no new request, in-flight ones complete) — never mid-request.
//! - Pause: no request is sent and no user starts while paused; deadlines move by the
//!   paused time, so a replay's lag never counts it ([`Target::paused_total`]).
//! - Stop is graceful: in-flight requests finish and the report is written; it is final.

use crate::metrics::summary::ControlEvent;
use chrono::{SecondsFormat, Utc};
use std::cell::Cell;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;
use tokio::sync::{watch, Notify};
use tokio_util::sync::CancellationToken;

/// What the workers aim for now.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Target {
    /// Closed workload: virtual users wanted (all shards together).
    pub users: u64,
    /// Closed workload: users started per second when raising (infinite: all at once).
    pub spawn_rate: f64,
    /// Open workload: copies of the recorded arrivals.
    pub multiply: u64,
    /// Rate workload: session arrivals per second (all shards together).
    pub rate: f64,
    /// Rate workload: active run time (paused time left out) from which `rate` applies;
    /// arrival `rate_first + k` is due at `rate_since + k / rate`.
    pub rate_since: Duration,
    /// Rate workload: number of the first arrival at the current rate (arrivals before it
    /// were due before the change).
    pub rate_first: u64,
    pub paused: bool,
    /// Time spent paused so far, counting only finished pauses.
    pub paused_total: Duration,
    /// Bumped by a lowering `at_once`: users ≥ `users` stop now rather than at a boundary.
    pub cut: u64,
    /// Run time (since the start, paused time included) of the last change.
    pub changed_at: Duration,
    /// Target users before the last change (users from here up start on the new ramp).
    pub previous_users: u64,
}

/// One requested change.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Change {
    /// Closed workload: aim for `users`; raise at `spawn_rate` per second (the current one
    /// when `None`); when lowering, stop the extra users `at_once` instead of at their
    /// next session boundary.
    Users {
        users: u64,
        spawn_rate: Option<f64>,
        at_once: bool,
    },
    /// Open workload: copies of the recorded arrivals from now on.
    Multiply(u64),
    /// Rate workload: session arrivals per second from now on.
    Rate(f64),
    Pause,
    Resume,
    Stop,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Error {
    #[error("spawn rate must be a positive number of users per second (got {0})")]
    SpawnRate(f64),
    #[error("the multiplier must be at least 1")]
    Multiply,
    #[error("the rate must be a positive number of sessions per second (got {0})")]
    Rate(f64),
    #[error("this run has an {workload} workload: {change} does not apply")]
    Workload {
        workload: &'static str,
        change: &'static str,
    },
    #[error("the run is stopped")]
    Stopped,
}

#[derive(Debug)]
struct Shared {
    tx: watch::Sender<Target>,
    kind: Kind,
    state: Mutex<State>,
    /// The run's start; set by the run, read to time events.
    start: OnceLock<std::time::Instant>,
    /// Cancelled by [`Change::Stop`]; the run's own stop token is its child.
    stop: CancellationToken,
}

/// Which workload the handle steers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Closed,
    Open,
    Rate,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Closed => "closed",
            Kind::Open => "open",
            Kind::Rate => "open (sessions/s)",
        }
    }
}

#[derive(Debug, Default)]
struct State {
    events: Vec<ControlEvent>,
    paused_since: Option<std::time::Instant>,
    stopped: bool,
}

/// The handle; clones steer the same run.
#[derive(Debug, Clone)]
pub struct Control {
    shared: Arc<Shared>,
}

impl Control {
    /// A handle for a run of `workload`, starting at its configured figures.
    pub fn new(workload: super::Workload) -> Control {
        let (kind, users, spawn_rate, multiply, rate) = match workload {
            super::Workload::Closed { users, spawn_rate } => {
                let users = users.max(1);
                // without a spawn rate every user starts at once
                (
                    Kind::Closed,
                    users,
                    spawn_rate.unwrap_or(f64::INFINITY),
                    1,
                    0.0,
                )
            }
            super::Workload::Open { multiply } => (Kind::Open, 0, 1.0, multiply.max(1), 0.0),
            super::Workload::Rate { per_s } => (Kind::Rate, 0, 1.0, 1, per_s),
        };
        let target = Target {
            users,
            spawn_rate,
            multiply,
            rate,
            rate_since: Duration::ZERO,
            rate_first: 0,
            paused: false,
            paused_total: Duration::ZERO,
            cut: 0,
            changed_at: Duration::ZERO,
            previous_users: 0,
        };
        Control {
            shared: Arc::new(Shared {
                tx: watch::channel(target).0,
                kind,
                state: Mutex::new(State::default()),
                start: OnceLock::new(),
                stop: CancellationToken::new(),
            }),
        }
    }

    /// Applies `change`; returns the event it became, or why it was refused.
    pub fn apply(&self, change: Change) -> Result<ControlEvent, Error> {
        let mut state = self.shared.state.lock().unwrap_or_else(|e| e.into_inner());
        if state.stopped {
            return Err(Error::Stopped);
        }
        let now = std::time::Instant::now();
        let elapsed = self
            .shared
            .start
            .get()
            .map_or(Duration::ZERO, |s| now.saturating_duration_since(*s));
        let mut t = *self.shared.tx.borrow();
        let kind = self.shared.kind;
        let workload = kind.name();
        let mut event = ControlEvent {
            t_s: elapsed.as_secs_f64(),
            at: Utc::now().to_rfc3339_opts(SecondsFormat::Micros, true),
            ..Default::default()
        };
        match change {
            Change::Users {
                users,
                spawn_rate,
                at_once,
            } => {
                if kind != Kind::Closed {
                    return Err(Error::Workload {
                        workload,
                        change: "a number of users",
                    });
                }
                if let Some(r) = spawn_rate.filter(|r| !(r.is_finite() && *r > 0.0)) {
                    return Err(Error::SpawnRate(r));
                }
                let rate = spawn_rate.unwrap_or(t.spawn_rate);
                t.previous_users = t.users;
                t.users = users;
                t.spawn_rate = rate;
                t.changed_at = elapsed;
                if at_once && users < t.previous_users {
                    t.cut += 1;
                }
                event.action = "users".into();
                event.users = Some(users);
                event.spawn_rate = rate.is_finite().then_some(rate);
                event.at_once = at_once;
            }
            Change::Multiply(m) => {
                if kind != Kind::Open {
                    return Err(Error::Workload {
                        workload,
                        change: "a multiplier",
                    });
                }
                if m == 0 {
                    return Err(Error::Multiply);
                }
                t.multiply = m;
                t.changed_at = elapsed;
                event.action = "multiply".into();
                event.multiply = Some(m);
            }
            Change::Rate(r) => {
                if kind != Kind::Rate {
                    return Err(Error::Workload {
                        workload,
                        change: "a rate of sessions per second",
                    });
                }
                if !(r.is_finite() && r > 0.0) {
                    return Err(Error::Rate(r));
                }
                // the active time now (paused time, finished or running, left out)
                let pausing = state
                    .paused_since
                    .map_or(Duration::ZERO, |s| now.saturating_duration_since(s));
                let active = elapsed.saturating_sub(t.paused_total + pausing);
                t.rate_first = next_arrival(&t, active);
                t.rate_since = active;
                t.rate = r;
                t.changed_at = elapsed;
                event.action = "rate".into();
                event.rate = Some(r);
            }
            Change::Pause => {
                if t.paused {
                    return Ok(event_named(event, "pause"));
                }
                t.paused = true;
                state.paused_since = Some(now);
                event.action = "pause".into();
            }
            Change::Resume => {
                let Some(since) = state.paused_since.take() else {
                    return Ok(event_named(event, "resume"));
                };
                t.paused = false;
                t.paused_total += now.saturating_duration_since(since);
                event.action = "resume".into();
            }
            Change::Stop => {
                state.stopped = true;
                if let Some(since) = state.paused_since.take() {
                    t.paused = false;
                    t.paused_total += now.saturating_duration_since(since);
                }
                event.action = "stop".into();
            }
        }
        state.events.push(event.clone());
        self.shared.tx.send_replace(t);
        if change == Change::Stop {
            self.shared.stop.cancel();
        }
        Ok(event)
    }

    /// Every accepted change so far, in order.
    pub fn events(&self) -> Vec<ControlEvent> {
        self.state().events.clone()
    }

    /// The target now.
    pub fn target(&self) -> Target {
        *self.shared.tx.borrow()
    }

    /// True for a closed workload (users), false for an open one (multiplier or rate).
    pub fn is_closed(&self) -> bool {
        self.shared.kind == Kind::Closed
    }

    /// True for an open workload at a rate of sessions per second.
    pub fn is_rate(&self) -> bool {
        self.shared.kind == Kind::Rate
    }

    /// True once [`Change::Stop`] was applied.
    pub fn is_stopped(&self) -> bool {
        self.state().stopped
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.shared.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The run's start, once the run has begun (the origin of event times and of a load
    /// shape's stage offsets).
    pub fn started_at(&self) -> Option<std::time::Instant> {
        self.shared.start.get().copied()
    }

    /// Marks the run's start (the origin of event times). Called once by the run.
    pub(crate) fn started(&self, start: std::time::Instant) {
        let _ = self.shared.start.set(start);
    }

    pub(crate) fn subscribe(&self) -> watch::Receiver<Target> {
        self.shared.tx.subscribe()
    }

    /// Cancelled when the run is stopped through the handle.
    pub(crate) fn stop_token(&self) -> &CancellationToken {
        &self.shared.stop
    }
}

/// Rate workload: the number of the first arrival of `t`'s schedule due at or after active
/// time `at` (every arrival before it was due earlier).
pub(crate) fn next_arrival(t: &Target, at: Duration) -> u64 {
    if !(t.rate.is_finite() && t.rate > 0.0) || at <= t.rate_since {
        return t.rate_first;
    }
    let k = ((at - t.rate_since).as_secs_f64() * t.rate).ceil();
    t.rate_first + k as u64
}

/// Rate workload: when arrival `n` (≥ `t.rate_first`) is due, in active run time.
pub(crate) fn arrival_at(t: &Target, n: u64) -> Duration {
    let k = n.saturating_sub(t.rate_first) as f64;
    t.rate_since + Duration::from_secs_f64(k / t.rate)
}

/// A repeated pause or resume is accepted and changes nothing; it is not kept.
fn event_named(mut e: ControlEvent, action: &str) -> ControlEvent {
    e.action = action.into();
    e
}

/// What the users of one worker read of the target, on the worker's own thread (no lock).
#[derive(Debug)]
pub(crate) struct Local {
    target: Cell<Target>,
    /// Bumped by every update; the spawner waits for it to move.
    generation: Cell<u64>,
    users: Cell<u64>,
    paused: Cell<bool>,
    paused_total: Cell<Duration>,
    resumed: Notify,
    changed: Notify,
}

impl Local {
    pub fn new(t: &Target) -> Local {
        let local = Local {
            target: Cell::new(*t),
            generation: Cell::new(0),
            users: Cell::new(0),
            paused: Cell::new(false),
            paused_total: Cell::new(Duration::ZERO),
            resumed: Notify::new(),
            changed: Notify::new(),
        };
        local.update(t);
        local
    }

    /// Copies the target's figures; wakes the users waiting for a resume and the spawner.
    pub fn update(&self, t: &Target) {
        self.target.set(*t);
        self.users.set(t.users);
        self.paused_total.set(t.paused_total);
        let was = self.paused.replace(t.paused);
        if was && !t.paused {
            self.resumed.notify_waiters();
        }
        self.generation.set(self.generation.get() + 1);
        self.changed.notify_waiters();
    }

    /// The last target seen and its generation.
    pub fn target(&self) -> (Target, u64) {
        (self.target.get(), self.generation.get())
    }

    /// Returns once an update newer than generation `seen` came.
    pub async fn changed(&self, seen: u64) {
        while self.generation.get() == seen {
            let n = self.changed.notified();
            tokio::pin!(n);
            n.as_mut().enable();
            if self.generation.get() != seen {
                return;
            }
            n.await;
        }
    }

    /// Closed workload: users numbered below this keep playing.
    pub fn users(&self) -> u64 {
        self.users.get()
    }

    pub fn is_paused(&self) -> bool {
        self.paused.get()
    }

    /// Time paused so far (finished pauses); deadlines are moved by it.
    pub fn paused_total(&self) -> Duration {
        self.paused_total.get()
    }

    /// Returns once not paused (at once when not paused now).
    pub async fn resumed(&self) {
        while self.paused.get() {
            let n = self.resumed.notified();
            tokio::pin!(n);
            n.as_mut().enable();
            if !self.paused.get() {
                return;
            }
            n.await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::replay::Workload;

    fn closed(users: u64) -> Control {
        Control::new(Workload::Closed {
            users,
            spawn_rate: Some(10.0),
        })
    }

    #[test]
    fn changes_become_events_and_targets() {
        let c = closed(20);
        assert_eq!(c.target().users, 20);
        let e = c
            .apply(Change::Users {
                users: 50,
                spawn_rate: None,
                at_once: false,
            })
            .unwrap();
        assert_eq!(
            (e.action.as_str(), e.users, e.spawn_rate),
            ("users", Some(50), Some(10.0))
        );
        let t = c.target();
        assert_eq!((t.users, t.previous_users, t.cut), (50, 20, 0));
        c.apply(Change::Users {
            users: 5,
            spawn_rate: Some(2.0),
            at_once: true,
        })
        .unwrap();
        assert_eq!(
            (c.target().users, c.target().cut, c.target().spawn_rate),
            (5, 1, 2.0)
        );
        assert_eq!(c.events().len(), 2);
    }

    #[test]
    fn out_of_range_changes_are_refused_and_change_nothing() {
        let c = closed(20);
        for rate in [0.0, -1.0, f64::NAN, f64::INFINITY] {
            let e = c.apply(Change::Users {
                users: 3,
                spawn_rate: Some(rate),
                at_once: false,
            });
            assert!(matches!(e, Err(Error::SpawnRate(_))), "{rate}: {e:?}");
        }
        assert!(matches!(
            c.apply(Change::Multiply(2)),
            Err(Error::Workload { .. })
        ));
        assert_eq!(c.target().users, 20);
        assert!(c.events().is_empty());
        let o = Control::new(Workload::Open { multiply: 1 });
        assert_eq!(o.apply(Change::Multiply(0)), Err(Error::Multiply));
        assert_eq!(o.apply(Change::Multiply(3)).unwrap().multiply, Some(3));
        assert!(o
            .apply(Change::Users {
                users: 1,
                spawn_rate: None,
                at_once: false
            })
            .is_err());
    }

    #[test]
    fn pauses_add_up_and_stop_is_final() {
        let c = closed(1);
        c.started(std::time::Instant::now());
        c.apply(Change::Pause).unwrap();
        assert!(c.target().paused);
        c.apply(Change::Pause).unwrap(); // repeated: accepted, not kept
        std::thread::sleep(Duration::from_millis(30));
        c.apply(Change::Resume).unwrap();
        let t = c.target();
        assert!(!t.paused);
        assert!(t.paused_total >= Duration::from_millis(30), "{t:?}");
        let actions: Vec<_> = c.events().into_iter().map(|e| e.action).collect();
        assert_eq!(actions, ["pause", "resume"]);
        assert!(!c.stop_token().is_cancelled());
        c.apply(Change::Stop).unwrap();
        assert!(c.stop_token().is_cancelled());
        assert_eq!(c.apply(Change::Resume), Err(Error::Stopped));
        assert_eq!(c.events().len(), 3);
    }

    #[tokio::test]
    async fn local_wakes_users_on_resume() {
        let set = tokio::task::LocalSet::new();
        set.run_until(async {
            let mut t = closed(1).target();
            t.paused = true;
            let local = std::rc::Rc::new(Local::new(&t));
            let waiter = tokio::task::spawn_local({
                let local = local.clone();
                async move {
                    local.resumed().await;
                    local.paused_total()
                }
            });
            tokio::task::yield_now().await;
            assert!(!waiter.is_finished(), "a paused user waits");
            t.paused = false;
            t.paused_total = Duration::from_secs(2);
            local.update(&t);
            let total = tokio::time::timeout(Duration::from_secs(5), waiter).await;
            assert_eq!(total.unwrap().unwrap(), Duration::from_secs(2));
        })
        .await;
    }
}
