//! `reprise ui [ADDR]`: the start page; each run it starts is `replay` with the form's
//! values as flags (so every check and error message is the command's own), shown live
//! on the same server.

use super::replay::{run_shown, Web};
use super::Exit;
use crate::cli::{ReplayArgs, UiArgs};
use crate::web::{self, ui};
use clap::Parser;
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// `replay`'s flags, parsed from the form.
#[derive(Debug, Parser)]
#[command(name = "replay", no_binary_name = false)]
struct Form {
    #[command(flatten)]
    args: ReplayArgs,
}

pub fn run(args: UiArgs) -> anyhow::Result<Exit> {
    let server = web::Server::bind(&args.addr, "ui")?;
    let reports = args.reports.clone();
    let starter: ui::Starter = Box::new(move |req, ui| start(req, ui, &reports));
    let app = ui::Ui::new(args.recordings.clone(), args.profiles.clone(), starter);
    let (recs, _) = app.options();
    server.announce("start page");
    if recs.is_empty() {
        eprintln!(
            "note: {} holds no *.trace.zst recording yet (reprise record, reprise demo or reprise import-har make one)",
            args.recordings.display()
        );
    }
    let served = server.serve(Arc::new(app))?;
    // until SIGINT or SIGTERM; a run going then drains on its own signal watcher
    let rt = super::runtime()?;
    rt.block_on(async {
        use tokio::signal::unix::{signal, SignalKind};
        let (Ok(mut int), Ok(mut term)) = (
            signal(SignalKind::interrupt()),
            signal(SignalKind::terminate()),
        ) else {
            return;
        };
        tokio::select! {
            _ = int.recv() => {}
            _ = term.recv() => {}
        }
    });
    served.stop();
    Ok(Exit::Ok)
}

/// The argv of `replay` for a start form.
fn argv(req: &ui::StartRequest, reports: &std::path::Path) -> Vec<String> {
    let f = &req.form;
    let mut v = vec!["replay".to_string()];
    v.extend(req.recordings.iter().map(|p| p.display().to_string()));
    v.extend(["--target".into(), f.target.trim().to_string()]);
    if let Some(p) = &req.profile {
        v.extend(["--profile".into(), p.display().to_string()]);
    }
    for (flag, value) in [
        ("--users", &f.users),
        ("--spawn-rate", &f.spawn_rate),
        ("--multiply", &f.multiply),
        ("--rate", &f.rate),
        ("--speed", &f.speed),
        ("--duration", &f.duration),
    ] {
        if let Some(x) = value.as_deref().map(str::trim).filter(|x| !x.is_empty()) {
            v.extend([flag.to_string(), x.to_string()]);
        }
    }
    for t in f
        .thresholds
        .lines()
        .map(str::trim)
        .filter(|t| !t.is_empty())
    {
        v.extend(["--threshold".into(), t.to_string()]);
    }
    let name = chrono::Utc::now().format("%Y%m%d-%H%M%S").to_string();
    v.extend(["--report".into(), reports.join(name).display().to_string()]);
    v
}

/// Tells the waiting start request that the run is shown (or why it ended first).
#[derive(Debug)]
struct Attached {
    ui: Arc<ui::Ui>,
    tx: Mutex<Option<mpsc::Sender<Result<(), String>>>>,
}

impl Attached {
    fn say(&self, r: Result<(), String>) {
        if let Some(tx) = self.tx.lock().unwrap_or_else(|e| e.into_inner()).take() {
            let _ = tx.send(r);
        }
    }
}

impl web::Host for Attached {
    fn attach(&self, live: Arc<web::Live>) {
        web::Host::attach(&*self.ui, live);
        self.say(Ok(()));
    }
}

fn start(req: ui::StartRequest, ui: Arc<ui::Ui>, reports: &std::path::Path) -> Result<(), String> {
    let argv = argv(&req, reports);
    let args = Form::try_parse_from(&argv)
        .map_err(|e| {
            let text = e.to_string();
            let first = text.lines().next().unwrap_or("bad value").trim();
            first.strip_prefix("error: ").unwrap_or(first).to_string()
        })?
        .args;
    let (tx, rx) = mpsc::channel();
    let host = Arc::new(Attached {
        ui,
        tx: Mutex::new(Some(tx)),
    });
    let h = host.clone();
    std::thread::Builder::new()
        .name("ui-run".into())
        .spawn(move || {
            let r = run_shown(args, Some(Web::Attach(h.clone())));
            match r {
                Ok(_) => h.say(Err("the run ended before it started".into())),
                Err(e) => h.say(Err(super::error::render(&e))),
            }
        })
        .map_err(|e| format!("cannot start the run: {e}"))?;
    rx.recv_timeout(Duration::from_secs(120))
        .unwrap_or_else(|_| Err("the run did not start within 120 s".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_form_becomes_replay_flags() {
        let req = ui::StartRequest {
            recordings: vec!["recordings/a.trace.zst".into()],
            profile: Some("profiles/light.toml".into()),
            form: ui::StartForm {
                target: " http://127.0.0.1:8000 ".into(),
                users: Some("20".into()),
                spawn_rate: Some("".into()),
                duration: Some("30s".into()),
                thresholds: "p95 < 5s\n\n error_rate < 1% \n".into(),
                ..Default::default()
            },
        };
        let v = argv(&req, std::path::Path::new("reports"));
        let args = Form::try_parse_from(&v).unwrap().args;
        assert_eq!(args.target, "http://127.0.0.1:8000");
        assert_eq!(args.users, Some(20));
        assert_eq!(args.spawn_rate, None);
        assert_eq!(args.thresholds, vec!["p95 < 5s", "error_rate < 1%"]);
        assert_eq!(args.duration, Some(Duration::from_secs(30)));
        assert!(args.report.unwrap().starts_with("reports"));
        let mut bad = req.clone();
        bad.form.users = Some("many".into());
        assert!(Form::try_parse_from(argv(&bad, std::path::Path::new("r"))).is_err());
    }
}
