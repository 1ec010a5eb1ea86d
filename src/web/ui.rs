//! `reprise ui`: a start page (recordings, target, profile, users, spawn rate, speed,
//! duration, thresholds) that starts a run, then the run's live page on the same address.
//!
//! The page only names files the server listed (`recordings/*.trace.zst`,
//! `profiles/*.toml`): a request naming anything else is refused, so the form cannot be
//! used to read other paths. Starting is done by the command layer's [`Starter`]; this
//! module knows nothing of how a run is built.
//!
//! # Invariants
//! - One run at a time: a start while a run goes is refused (409).
//! - `POST /api/start` answers once the run is shown (200) or failed to start (400 with
//!   the command's own error text), never before.

use super::live::Live;
use super::server::{json, json_error, typed, App, Body};
use super::Role;
use bytes::Bytes;
use http::{Method, Response, StatusCode};
use serde::Deserialize;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

const START_HTML: &str = include_str!("assets/start.html");
const START_JS: &str = include_str!("assets/start.js");
const REPORT_CSS: &str = include_str!("../report/assets/report.css");
const LIVE_CSS: &str = include_str!("assets/live.css");

/// What the start form asks for; files are the listed names, resolved here.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct StartForm {
    #[serde(default)]
    pub recordings: Vec<String>,
    #[serde(default)]
    pub target: String,
    #[serde(default)]
    pub profile: Option<String>,
    #[serde(default)]
    pub users: Option<String>,
    #[serde(default)]
    pub spawn_rate: Option<String>,
    /// `closed` (users, the default) or `open` (the recorded arrivals × `multiply`).
    #[serde(default)]
    pub workload: Option<String>,
    #[serde(default)]
    pub multiply: Option<String>,
    /// Sessions per second (`workload` `rate`).
    #[serde(default)]
    pub rate: Option<String>,
    #[serde(default)]
    pub speed: Option<String>,
    #[serde(default)]
    pub duration: Option<String>,
    /// One expression per line.
    #[serde(default)]
    pub thresholds: String,
}

impl StartForm {
    /// Checks the load fields and keeps only those of the chosen workload (a closed run
    /// has users and a spawn rate, an open one a multiplier); the message says what to fix.
    pub fn check(&mut self) -> Result<(), String> {
        fn given(v: &Option<String>) -> Option<&str> {
            v.as_deref().map(str::trim).filter(|x| !x.is_empty())
        }
        let whole = |v: &Option<String>, what: &str| -> Result<(), String> {
            match given(v) {
                Some(x) if x.parse::<u64>().map_or(true, |n| n < 1) => {
                    Err(format!("{what} must be a whole number ≥ 1, not `{x}`"))
                }
                _ => Ok(()),
            }
        };
        let positive = |v: &Option<String>, what: &str| -> Result<(), String> {
            match given(v) {
                Some(x)
                    if x.parse::<f64>()
                        .map_or(true, |n| !(n > 0.0 && n.is_finite())) =>
                {
                    Err(format!("{what} must be a number > 0, not `{x}`"))
                }
                _ => Ok(()),
            }
        };
        match self.workload.as_deref().map(str::trim).unwrap_or("closed") {
            "" | "closed" => {
                whole(&self.users, "users")?;
                positive(&self.spawn_rate, "the spawn rate")?;
                self.multiply = None;
                self.rate = None;
            }
            "open" => {
                whole(&self.multiply, "the multiplier")?;
                self.users = None;
                self.spawn_rate = None;
                self.rate = None;
            }
            "rate" => {
                positive(&self.rate, "the rate")?;
                if given(&self.rate).is_none() {
                    return Err("the rate (sessions/s) is needed for an open run at a rate".into());
                }
                self.users = None;
                self.spawn_rate = None;
                self.multiply = None;
            }
            w => {
                return Err(format!(
                    "workload must be `closed`, `open` or `rate`, not `{w}`"
                ))
            }
        }
        positive(&self.speed, "the speed")
    }
}

/// A run to start: the form with its files resolved under the listed directories.
#[derive(Debug, Clone)]
pub struct StartRequest {
    pub recordings: Vec<PathBuf>,
    pub profile: Option<PathBuf>,
    pub form: StartForm,
}

/// Starts a run that attaches itself to the [`Ui`] (as a [`super::Host`]); returns once it
/// is shown, or the reason it could not start.
pub type Starter = Box<dyn Fn(StartRequest, Arc<Ui>) -> Result<(), String> + Send + Sync>;

pub struct Ui {
    recordings: PathBuf,
    profiles: PathBuf,
    current: Mutex<Option<Arc<Live>>>,
    starter: Starter,
    me: Mutex<std::sync::Weak<Ui>>,
}

impl std::fmt::Debug for Ui {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ui")
            .field("recordings", &self.recordings)
            .field("profiles", &self.profiles)
            .finish()
    }
}

impl Ui {
    pub fn new(recordings: PathBuf, profiles: PathBuf, starter: Starter) -> Arc<Ui> {
        let ui = Arc::new(Ui {
            recordings,
            profiles,
            current: Mutex::new(None),
            starter,
            me: Mutex::new(std::sync::Weak::new()),
        });
        *ui.me.lock().unwrap_or_else(|e| e.into_inner()) = Arc::downgrade(&ui);
        ui
    }

    fn current(&self) -> Option<Arc<Live>> {
        self.current
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// The files offered: recordings and profiles, sorted names.
    pub fn options(&self) -> (Vec<String>, Vec<String>) {
        (
            list(&self.recordings, ".trace.zst"),
            list(&self.profiles, ".toml"),
        )
    }

    fn start_page(&self) -> Response<Body> {
        typed(
            StatusCode::OK,
            "text/html; charset=utf-8",
            format!(
                "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
                 <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
                 <title>reprise · start a run</title>\n<link rel=\"icon\" href=\"data:,\">\n\
                 <style>\n{REPORT_CSS}{LIVE_CSS}</style>\n</head>\n<body>\n{START_HTML}\n\
                 <script>\n{START_JS}</script>\n</body>\n</html>\n"
            ),
        )
    }

    fn start(&self, body: &Bytes, role: Role) -> Response<Body> {
        if role != Role::Control {
            return json_error(
                StatusCode::FORBIDDEN,
                "this link is read-only: it cannot start a run",
            );
        }
        if self.current().is_some_and(|l| !l.ended()) {
            return json_error(StatusCode::CONFLICT, "a run is going: stop it first");
        }
        let mut form: StartForm = match serde_json::from_slice(body) {
            Ok(f) => f,
            Err(e) => return json_error(StatusCode::BAD_REQUEST, &format!("bad form: {e}")),
        };
        if let Err(e) = form.check() {
            return json_error(StatusCode::BAD_REQUEST, &e);
        }
        let (recs, profiles) = self.options();
        if form.recordings.is_empty() {
            return json_error(StatusCode::BAD_REQUEST, "choose at least one recording");
        }
        let mut recordings = Vec::new();
        for r in &form.recordings {
            if !recs.contains(r) {
                return json_error(
                    StatusCode::BAD_REQUEST,
                    &format!(
                        "`{r}` is not one of the recordings in {}",
                        self.recordings.display()
                    ),
                );
            }
            recordings.push(self.recordings.join(r));
        }
        let profile = match form.profile.as_deref().filter(|p| !p.is_empty()) {
            Some(p) if profiles.iter().any(|x| x == p) => Some(self.profiles.join(p)),
            Some(p) => {
                return json_error(
                    StatusCode::BAD_REQUEST,
                    &format!(
                        "`{p}` is not one of the profiles in {}",
                        self.profiles.display()
                    ),
                )
            }
            None => None,
        };
        let Some(me) = self.me.lock().unwrap_or_else(|e| e.into_inner()).upgrade() else {
            return json_error(StatusCode::INTERNAL_SERVER_ERROR, "the ui is shutting down");
        };
        match (self.starter)(
            StartRequest {
                recordings,
                profile,
                form,
            },
            me,
        ) {
            Ok(()) => json(StatusCode::OK, "{\"started\":true}".into()),
            Err(e) => json_error(StatusCode::BAD_REQUEST, &e),
        }
    }
}

impl super::Host for Ui {
    fn attach(&self, live: Arc<Live>) {
        *self.current.lock().unwrap_or_else(|e| e.into_inner()) = Some(live);
    }
}

impl App for Arc<Ui> {
    fn live(&self) -> Option<Arc<Live>> {
        self.current()
    }

    fn route(
        &self,
        method: &Method,
        path: &str,
        body: &Bytes,
        role: Role,
    ) -> Option<Response<Body>> {
        Some(match (method, path) {
            (&Method::GET, "/start") => self.start_page(),
            (&Method::GET, "/") | (&Method::GET, "/index.html") if self.current().is_none() => {
                self.start_page()
            }
            (&Method::GET, "/api/options") => {
                let (recordings, profiles) = self.options();
                json(
                    StatusCode::OK,
                    serde_json::json!({
                        "recordings": recordings,
                        "profiles": profiles,
                        "recordings_dir": self.recordings.display().to_string(),
                        "profiles_dir": self.profiles.display().to_string(),
                        "running": self.current().is_some_and(|l| !l.ended()),
                    })
                    .to_string(),
                )
            }
            (&Method::POST, "/api/start") => self.start(body, role),
            _ => return None,
        })
    }
}

/// Names in `dir` ending with `suffix`, sorted; none when the directory cannot be read.
fn list(dir: &Path, suffix: &str) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|n| n.ends_with(suffix) && !n.starts_with('.'))
        .collect();
    v.sort();
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(workload: &str, users: &str, spawn: &str, multiply: &str) -> StartForm {
        let f = |x: &str| (!x.is_empty()).then(|| x.to_string());
        StartForm {
            workload: f(workload),
            users: f(users),
            spawn_rate: f(spawn),
            multiply: f(multiply),
            ..Default::default()
        }
    }

    #[test]
    fn the_form_keeps_the_fields_of_its_workload_and_names_bad_values() {
        let mut closed = form("closed", "20", "10", "3");
        closed.check().unwrap();
        assert_eq!(
            (closed.users.as_deref(), closed.multiply.as_deref()),
            (Some("20"), None)
        );
        let mut open = form("open", "20", "10", "3");
        open.check().unwrap();
        assert_eq!(
            (open.users.as_deref(), open.spawn_rate.as_deref()),
            (None, None)
        );
        assert_eq!(open.multiply.as_deref(), Some("3"));
        for (f, want) in [
            (
                form("open", "", "", "0"),
                "the multiplier must be a whole number ≥ 1, not `0`",
            ),
            (
                form("open", "", "", "1.5"),
                "the multiplier must be a whole number ≥ 1",
            ),
            (
                form("", "-2", "", ""),
                "users must be a whole number ≥ 1, not `-2`",
            ),
            (
                form("closed", "5", "0", ""),
                "the spawn rate must be a number > 0",
            ),
            (
                form("sideways", "", "", ""),
                "workload must be `closed`, `open` or `rate`",
            ),
            (form("rate", "", "", ""), "the rate (sessions/s) is needed"),
        ] {
            let e = f.clone().check().unwrap_err();
            assert!(e.starts_with(want), "{f:?}: {e}");
        }
        let mut slow = form("open", "", "", "2");
        slow.speed = Some("0".into());
        assert!(slow
            .check()
            .unwrap_err()
            .contains("speed must be a number > 0"));
    }
}
