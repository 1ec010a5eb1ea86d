//! `reprise replay`: recordings → plan → run against the target → report directory + table.
//!
//! A profile (`--profile`) gives defaults that flags override (`profile::Settings`); its
//! thresholds and the `--threshold` flags are checked at the end: exit 0 met, 1 failed,
//! 3 aborted.

use super::{out, signals, Exit};
use crate::cli::ReplayArgs;
use crate::engine::{shard, start};
use crate::metrics::conversation;
use crate::metrics::summary::RunInfo;
use crate::profile::{Profile, Settings};
use crate::replay::bank::Bank;
use crate::replay::follow::Follow;
use crate::replay::{self, console, limits, Config, OnDivergence, Plan, Speed, Workload};
use crate::report::{self, abort_on::AbortOn, Outcome, Thresholds};
use crate::trace;
use anyhow::{bail, Context};
use http::{HeaderName, HeaderValue};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

pub fn run(args: ReplayArgs) -> anyhow::Result<Exit> {
    run_shown(args, None)
}

/// [`run`], shown live on `web` when given (`reprise ui`), else as `--web` says.
pub fn run_shown(args: ReplayArgs, web: Option<Web>) -> anyhow::Result<Exit> {
    let profile = args.profile.as_deref().map(Profile::load).transpose()?;
    let flags = flag_settings(&args)?;
    let settings = match &profile {
        Some(p) => p.settings.overridden_by(&flags),
        None => flags,
    };
    let thresholds = Thresholds::parse_all(&settings.thresholds)?;
    let shape = shape(&settings);
    let names: Vec<(usize, String)> = shape
        .iter()
        .flat_map(|s| &s.stages)
        .enumerate()
        .map(|(i, s)| (i + 1, s.name.clone()))
        .collect();
    if let Some(why) = thresholds.unknown_stage(&names) {
        bail!("{why}");
    }
    let scrape = args
        .scrape
        .iter()
        .map(|a| crate::scrape::Target::parse(a))
        .collect::<Result<Vec<_>, _>>()?;
    let mut config = config(&args, &settings)?;
    let start = common_start(&args)?;
    let measures = conversation_config(&settings);
    let live_view = web.is_some() || args.web.is_some();
    let plan = match streamed(
        &args,
        &settings,
        &config,
        &measures,
        live_view || shape.is_some(),
    )? {
        Some((plan, stream)) => {
            eprintln!(
                "replaying {} sessions ({} exchanges, streamed from the recording) against {}",
                plan.sessions.len(),
                plan.exchanges,
                config.target
            );
            config.stream = Some(Arc::new(stream));
            Arc::new(plan)
        }
        None => {
            let mut plan =
                load_plan_with(&args.files, &settings.correlation, &measures.node_pointer)?;
            follow(
                &mut plan,
                settings.on_divergence.as_deref(),
                &measures,
                config.seed,
            )?;
            let plan = Arc::new(plan);
            eprintln!(
                "replaying {} sessions ({} exchanges, {} endpoints) against {}",
                plan.sessions.len(),
                plan.exchanges,
                plan.routes.len(),
                config.target
            );
            plan
        }
    };
    let dir = args.report.clone().unwrap_or_else(|| {
        PathBuf::from("reports").join(chrono::Utc::now().format("%Y%m%d-%H%M%S").to_string())
    });
    let stop = signals::Stop::default();
    signals::watch(stop.clone());
    config.abort = stop.abort.clone();
    let output = Output {
        dir,
        recordings: args.files.iter().map(|f| f.display().to_string()).collect(),
        thresholds,
        profile: args.profile.as_ref().map(|p| p.display().to_string()),
        start,
        abort_on: args
            .abort_on
            .as_deref()
            .map(AbortOn::parse)
            .transpose()
            .map_err(anyhow::Error::msg)?,
        stop: Some(stop.clone()),
        scrape,
        web: web.or_else(|| {
            args.web.clone().map(|addr| {
                Web::Serve(crate::web::Options {
                    addr,
                    linger: args.web_linger,
                })
            })
        }),
        shape,
    };
    execute_with(plan, &config, &output, measures, stop.drain.clone())
}

/// An open replay of one recording streams its sessions ([`replay::stream`]) unless
/// something needs the whole plan: `--whole-plan`, stages or a live view (either may change the
/// multiplier), several recordings, or following the live agent (`--on-divergence` other
/// than `continue`, or not given while the recording names nodes: the answer bank is built
/// from every session). Returns the plan of session keys and starts with its stream.
fn streamed(
    args: &ReplayArgs,
    settings: &Settings,
    config: &Config,
    measures: &conversation::Config,
    needs_plan: bool,
) -> anyhow::Result<Option<(Plan, replay::stream::Stream)>> {
    let Workload::Open { multiply } = config.workload else {
        return Ok(None);
    };
    let [file] = &args.files[..] else {
        return Ok(None);
    };
    let policy = settings
        .on_divergence
        .as_deref()
        .map(|p| p.parse::<OnDivergence>().map_err(anyhow::Error::msg))
        .transpose()?;
    if needs_plan || args.whole_plan || policy.is_some_and(|p| p != OnDivergence::Continue) {
        return Ok(None);
    }
    let pointer = &measures.node_pointer;
    let node_key = pointer.rsplit('/').next().unwrap_or("");
    let index = replay::stream::Index::read(file, node_key)?;
    if policy.is_none() && index.names_nodes {
        return Ok(None);
    }
    if index.is_empty() {
        bail!("{}: no exchanges to replay", file.display());
    }
    let plan = index.skeleton(pointer);
    let stream = replay::stream::Stream::open(
        file.clone(),
        index,
        replay::stream::Settings {
            correlate: settings.correlation.clone(),
            node_pointer: pointer.clone(),
            multiply,
            shard: config.shard,
            speed: config.speed,
            read_ahead: replay::stream::READ_AHEAD,
        },
    )?;
    Ok(Some((plan, stream)))
}

/// Builds the answer bank and attaches the divergence policy to the plan: `policy` as
/// given (flag or profile), else `resync` when the recording names nodes, else `continue`.
pub fn follow(
    plan: &mut Plan,
    policy: Option<&str>,
    measures: &conversation::Config,
    seed: u64,
) -> anyhow::Result<()> {
    let bank = Bank::build(plan, measures);
    let policy = match policy {
        Some(p) => p.parse::<OnDivergence>().map_err(anyhow::Error::msg)?,
        None if bank.is_empty() => OnDivergence::Continue,
        None => OnDivergence::Resync,
    };
    if policy != OnDivergence::Continue && bank.is_empty() {
        eprintln!(
            "note: the recording's responses name no node at `{}`: nothing to follow, \
             replaying as recorded (--on-divergence continue)",
            measures.node_pointer
        );
    }
    plan.follow = Follow::new(policy, bank, seed).map(Arc::new);
    Ok(())
}

/// What the conversation measures read: the profile's `metrics.node` and `metrics.fields`
/// (when given, the fields replace the defaults), else the defaults.
fn conversation_config(s: &Settings) -> conversation::Config {
    let mut c = conversation::Config::default();
    if let Some(node) = &s.node_pointer {
        c.node_pointer = node.clone();
    }
    if !s.fields.is_empty() {
        c.fields = s.fields.clone();
    }
    c
}

/// Where and how a run's results are written.
#[derive(Debug, Default)]
pub struct Output {
    /// The report directory (`summary.json`, `report.html`, CSVs).
    pub dir: PathBuf,
    /// Recording files, for the summary.
    pub recordings: Vec<String>,
    /// Checked at the end; a failed one makes the exit code 1.
    pub thresholds: Thresholds,
    /// Profile file, for the summary.
    pub profile: Option<String>,
    /// `--start-at`: wait for it before the run, record the measured skew.
    pub start: Option<start::Common>,
    /// `--abort-on`: a live condition that stops the run early (exit 1).
    pub abort_on: Option<AbortOn>,
    /// The signals watched, for the summary's `abort_reason`.
    pub stop: Option<signals::Stop>,
    /// Metrics endpoints of the target read during the run (`--scrape`).
    pub scrape: Vec<crate::scrape::Target>,
    /// Load stages played through the run's control handle (`--stages`, `[[stages]]`).
    pub shape: Option<replay::stages::Shape>,
    /// `--web`: serve the live page while the run goes.
    pub web: Option<Web>,
}

/// Where a run is shown live.
#[derive(Debug, Clone)]
pub enum Web {
    /// A server of its own (`--web ADDR`), bound before the run starts.
    Serve(crate::web::Options),
    /// A server already up (`reprise ui`).
    Attach(Arc<dyn crate::web::Host>),
}

/// `--start-at` / `--start-tolerance`, checked now (bad syntax, or already too late: exit 2
/// before the recording is even read).
fn common_start(args: &ReplayArgs) -> anyhow::Result<Option<start::Common>> {
    let Some(spec) = &args.start_at else {
        return Ok(None);
    };
    let at = start::StartAt::parse(spec)?.instant(chrono::Utc::now());
    let common = start::Common {
        at,
        tolerance: args.start_tolerance,
    };
    common.check()?;
    Ok(Some(common))
}

/// Runs a plan, prints progress and the table, writes the report directory; the exit code
/// says whether the thresholds held (0 / 1) or the run was aborted (3).
pub fn execute(
    plan: Arc<Plan>,
    config: &Config,
    out: &Output,
    cancel: CancellationToken,
) -> anyhow::Result<Exit> {
    execute_with(plan, config, out, conversation::Config::default(), cancel)
}

/// [`execute`] with the conversation measures reading `measures` (node pointer, fields…).
pub fn execute_with(
    plan: Arc<Plan>,
    config: &Config,
    out: &Output,
    measures: conversation::Config,
    cancel: CancellationToken,
) -> anyhow::Result<Exit> {
    measures.validate()?;
    if plan.node_pointer != measures.node_pointer {
        bail!(
            "the plan read recorded nodes at `{}` but the measures read `{}`: build it with \
             load_plan_with(…, \"{}\")",
            plan.node_pointer,
            measures.node_pointer,
            measures.node_pointer
        );
    }
    let info = RunInfo {
        name: out
            .dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
        recordings: out.recordings.clone(),
        profile: out.profile.clone(),
        on_divergence: Some(
            plan.follow
                .as_ref()
                .map_or(OnDivergence::Continue, |f| f.policy)
                .name()
                .to_string(),
        ),
        ..Default::default()
    };
    // a report that cannot be written is found before the first request, not after the run
    report::check_writable(&out.dir)?;
    check_open_files(config, out.shape.as_ref())?;
    // the web address is checked (bound) before any user starts
    let control = replay::Control::new(config.workload);
    let web = match &out.web {
        Some(w) => Some(web_session(w, &plan, config, out, &info, &control)?),
        None => None,
    };
    let live_config;
    let config = match web {
        Some(_) => {
            live_config = Config {
                live: true,
                ..config.clone()
            };
            &live_config
        }
        None => config,
    };
    let stage_timing = out.shape.as_ref().map(|sh| {
        let starts = sh
            .windows()
            .iter()
            .map(|w| Duration::from_secs_f64(w.start_s))
            .collect();
        replay::stage_timing::StageTiming::new(control.clone(), starts)
    });
    let mut conversation = replay::conversation::Conversation::new(measures);
    if let Some(st) = &stage_timing {
        conversation = conversation.with_stages(st.clone());
    }
    let measure = Arc::new(replay::sample::Sampled::new(
        conversation,
        config.keep_sample,
    ));
    if let Some(start) = &out.start {
        start.wait()?;
    }
    let scraping = match out.scrape.is_empty() {
        true => None,
        false => Some(
            crate::scrape::poll::start(out.scrape.clone(), std::time::Instant::now())
                .context("starting the scrape loop")?,
        ),
    };
    let mut abort_on = out.abort_on.clone();
    let mut tripped: Option<String> = None;
    let mut failures_before = 0;
    let driver = out
        .shape
        .clone()
        .map(|shape| replay::stages::drive(control.clone(), shape))
        .transpose()
        .context("starting the stage driver")?;
    let run = replay::run_with(
        plan,
        config,
        measure.clone(),
        cancel.clone(),
        |p| {
            out::stderr_line(&console::live_line(p));
            if let Some(w) = &web {
                w.feed().push(p);
            }
            let failed = p.failures.saturating_sub(failures_before);
            failures_before = p.failures;
            if let Some(a) = abort_on.as_mut() {
                if tripped.is_none() {
                    if let Some(why) = a.second(p.rps, failed) {
                        out::stderr_line(&format!("--abort-on: {why}; stopping"));
                        tripped = Some(format!("--abort-on \"{}\": {why}", a.expr));
                        cancel.cancel();
                    }
                }
            }
        },
        info,
        &control,
    );
    if let Some(d) = driver {
        d.finish();
    }
    let scraped = scraping.map(crate::scrape::Handle::finish);
    let mut summary = match run {
        Ok(s) => s,
        Err(e) => {
            // the page says why the run did not go
            if let Some(w) = web {
                w.fail(e.to_string());
            }
            if let replay::Error::Unreachable { .. } = e {
                eprintln!("error: {e}");
                return Ok(Exit::Aborted);
            }
            return Err(e.into());
        }
    };
    for l in &summary.run.workers_lost {
        out::stderr_line(&format!(
            "error: replay worker {} lost: {}; the run is incomplete (its users' figures are missing)",
            l.worker, l.reason
        ));
    }
    if let Some(start) = &out.start {
        start.record(&mut summary.run);
        if let Some(skew) = summary.run.start_skew_ms {
            eprintln!("start skew (actual - intended start): {skew:.3} ms");
        }
    }
    summary.scrape = scraped;
    if let Some(shape) = &out.shape {
        summary.stages = stage_windows(shape);
        if let Some(st) = &stage_timing {
            for (stage, timing) in summary.stages.iter_mut().zip(st.take()) {
                stage.server_timing = timing;
            }
        }
        report::stages::fill(&mut summary);
    }
    if let Some(why) = &tripped {
        summary.run.abort_reason = Some(why.clone());
    } else if let Some(why) = out.stop.as_ref().and_then(|s| s.reason()) {
        summary.run.abort_reason = Some(why);
    }
    report::judge(&mut summary, &out.thresholds);
    if let Some(why) = &tripped {
        summary.thresholds.push(crate::metrics::summary::Verdict {
            expr: format!(
                "--abort-on {}",
                out.abort_on.as_ref().map_or("", |a| &a.expr)
            ),
            value: None,
            ok: false,
            observed: why.clone(),
        });
    }
    // the table is printed whether or not the files could be written
    let written = report::write_all(&summary, &out.dir);
    let mut text = match report::stages::headline(&summary) {
        Some(h) => format!("\n{h}\n"),
        None => String::new(),
    };
    text.push_str(&format!("\n{}\n", console::table(&summary)));
    let conversation = report::conversation::render(&summary.conversation);
    if !conversation.is_empty() {
        text.push_str(&conversation);
        text.push('\n');
    }
    if let Some(s) = &summary.scrape {
        text.push_str(&report::scrape::render(s));
    }
    text.push_str(&report::stages::render(&summary));
    text.push_str(&report::render_verdicts(&summary.thresholds));
    if let Ok(w) = &written {
        text.push_str(&format!("report: {}\n", w.html().display()));
    }
    out::stdout(&text);
    if let Some(w) = web {
        w.finish(summary.clone());
    }
    written?;
    if config.keep_sample > 0 {
        write_sample(&measure.take(), &config.target, &out.dir)?;
    }
    Ok(match Outcome::of(&summary) {
        // the run was ended by its own condition: the target failed, not the user
        Outcome::Aborted if tripped.is_some() => Exit::ThresholdFailed,
        Outcome::Met => Exit::Ok,
        Outcome::ThresholdFailed => Exit::ThresholdFailed,
        Outcome::Aborted => Exit::Aborted,
    })
}

/// Binds `--web` (exit 2 naming the address when it cannot be had) and starts serving the
/// live page of this run.
fn web_session(
    w: &Web,
    plan: &Plan,
    config: &Config,
    out: &Output,
    info: &RunInfo,
    control: &replay::Control,
) -> anyhow::Result<crate::web::Session> {
    let meta = crate::web::Meta {
        info: RunInfo {
            target: config.target.clone(),
            tool: format!("reprise {}", env!("CARGO_PKG_VERSION")),
            speed: config.speed.get(),
            timing: config.timing.name().to_string(),
            timeout_s: config.timeout.as_secs_f64(),
            seed: config.seed,
            ..info.clone()
        },
        routes: plan.route_names(),
        thresholds: out.thresholds.clone(),
        threshold_exprs: out.thresholds.0.iter().map(|t| t.expr.clone()).collect(),
        workload: match config.workload {
            Workload::Closed { users, spawn_rate } => crate::metrics::summary::Workload::Closed {
                users,
                spawn_rate: spawn_rate.unwrap_or(0.0),
            },
            Workload::Open { multiply } => crate::metrics::summary::Workload::Open { multiply },
            Workload::Rate { per_s } => crate::metrics::summary::Workload::Rate { per_s },
        },
        report_dir: out.dir.display().to_string(),
    };
    Ok(match w {
        Web::Serve(o) => {
            let server = crate::web::Server::bind(&o.addr, "--web")?;
            server.announce("live page");
            crate::web::Session::start(server, meta, control.clone(), o.linger)?
        }
        Web::Attach(host) => crate::web::Session::attach(&**host, meta, control.clone())?,
    })
}

/// The summary's stage entries (windows only; [`report::stages::fill`] adds the figures).
fn stage_windows(shape: &replay::stages::Shape) -> Vec<crate::metrics::summary::Stage> {
    shape
        .windows()
        .into_iter()
        .map(|w| crate::metrics::summary::Stage {
            index: w.index,
            name: w.name,
            target: w.target,
            ramp_s: w.ramp_s,
            hold_s: w.hold_s,
            start_s: w.start_s,
            end_s: w.end_s,
            ..Default::default()
        })
        .collect()
}

/// The load shape of the merged settings, if they give stages.
fn shape(s: &Settings) -> Option<replay::stages::Shape> {
    let first = s.stages.first()?;
    Some(replay::stages::Shape {
        closed: matches!(first.target, crate::profile::stages::Target::Users(_)),
        rate: matches!(first.target, crate::profile::stages::Target::Rate(_)),
        spawn_rate: s.spawn_rate,
        stages: s
            .stages
            .iter()
            .enumerate()
            .map(|(i, st)| replay::stages::Stage {
                name: st.name.clone().unwrap_or_else(|| (i + 1).to_string()),
                target: st.target.value(),
                ramp: st.ramp,
                hold: st.hold,
            })
            .collect(),
    })
}

/// Writes the sampled users' exchanges to `DIR/sample.trace.zst` (`--keep-sample`).
fn write_sample(exchanges: &[trace::Exchange], target: &str, dir: &Path) -> anyhow::Result<()> {
    let path = dir.join("sample.trace.zst");
    let mut source = serde_json::Map::new();
    source.insert("upstream".into(), target.into());
    source.insert("sample".into(), "replay".into());
    let mut w = trace::Writer::create(&path, &trace::Header::new(source))
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let mut sessions = std::collections::HashSet::new();
    for ex in exchanges {
        w.append(ex).map_err(|e| anyhow::anyhow!("{e}"))?;
        sessions.extend(ex.session.as_deref());
    }
    w.finish(&trace::Footer {
        exchanges: exchanges.len() as u64,
        sessions: sessions.len() as u64,
        dropped: 0,
    })
    .map_err(|e| anyhow::anyhow!("{e}"))?;
    println!(
        "sample: {} ({} exchanges; reprise export-har {} -o sample.har)",
        path.display(),
        exchanges.len(),
        path.display()
    );
    Ok(())
}

/// Raises the open-files limit to the hard limit and, for closed users, refuses to start a
/// run whose connections cannot all be open at once (the error names the number needed and
/// how to raise the limit) instead of failing connects mid-run.
fn check_open_files(config: &Config, shape: Option<&replay::stages::Shape>) -> anyhow::Result<()> {
    let limit = limits::raise_open_files()?;
    if let Workload::Closed { users, .. } = config.workload {
        // a load shape needs its largest stage's users at once
        let users = shape.map_or(users, |s| {
            s.stages
                .iter()
                .map(|st| st.target.round() as u64)
                .max()
                .unwrap_or(users)
        });
        let here = match config.shard {
            Some(s) => users.div_ceil(s.count.max(1)),
            None => users,
        };
        limits::check_open_files(here, limit)?;
    }
    Ok(())
}

/// Reads every recording into one plan, streaming exchange by exchange. `correlate` are
/// declared JSON pointers (a profile's `correlation.pointers`); recorded nodes are read at
/// the default node pointer.
pub fn load_plan(files: &[PathBuf], correlate: &[String]) -> anyhow::Result<Plan> {
    load_plan_with(
        files,
        correlate,
        &conversation::Config::default().node_pointer,
    )
}

/// [`load_plan`] reading the recorded responses' nodes at `node_pointer` (the conversation
/// measures' `metrics.node`).
pub fn load_plan_with(
    files: &[PathBuf],
    correlate: &[String],
    node_pointer: &str,
) -> anyhow::Result<Plan> {
    let mut builder = replay::plan::Builder::new()
        .correlate(correlate)
        .node_pointer(node_pointer);
    for (i, f) in files.iter().enumerate() {
        let reader = trace::Reader::open(f)?;
        if let Some(t) = builder.read(i as u32, reader)?.torn {
            eprintln!("warning: {}: {t}; replaying those", f.display());
        }
    }
    let plan = builder.finish();
    // what loading held for a moment (parsed exchanges, discovery tokens) goes back to the
    // system rather than staying in the allocator's free lists for the whole run
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only releases free heap memory; it has no preconditions.
    unsafe {
        libc::malloc_trim(0);
    }
    if plan.sessions.is_empty() {
        let names: Vec<String> = files.iter().map(|f| f.display().to_string()).collect();
        bail!("{}: no exchanges to replay", names.join(", "));
    }
    Ok(plan)
}

/// The settings the flags give (none defaulted here, so a profile can fill them).
fn flag_settings(args: &ReplayArgs) -> anyhow::Result<Settings> {
    Ok(Settings {
        users: args.users,
        spawn_rate: args.spawn_rate,
        multiply: args.multiply,
        rate: args.rate,
        run_time: args.duration,
        timing: args.timing,
        speed: args.speed,
        timeout: args.timeout,
        seed: args.seed,
        back_to_back: args.back_to_back.then_some(true),
        realtime: args.realtime.then_some(true),
        on_divergence: args.on_divergence.clone(),
        thresholds: args.thresholds.clone(),
        stages: match &args.stages {
            Some(text) => crate::profile::stages::parse_list(text)
                .map_err(|e| anyhow::anyhow!("--stages '{text}': {e}"))?,
            None => Vec::new(),
        },
        headers: args
            .headers
            .iter()
            .map(|h| {
                let (k, v) = h
                    .split_once(':')
                    .with_context(|| format!("--header `{h}`: expected 'Name: value'"))?;
                Ok((k.trim().to_string(), v.trim().to_string()))
            })
            .collect::<anyhow::Result<_>>()?,
        ..Settings::default()
    })
}

/// The run's typed config from the merged settings; defaults are filled here.
fn config(args: &ReplayArgs, s: &Settings) -> anyhow::Result<Config> {
    let staged = shape(s);
    let workload = match (&staged, s.users, s.multiply) {
        (Some(sh), _, _) => sh.first(),
        (None, None, None) if s.rate.is_some() => Workload::Rate {
            per_s: s.rate.unwrap_or(1.0),
        },
        (None, Some(0), _) => bail!("--users must be at least 1"),
        (None, Some(users), _) => Workload::Closed {
            users,
            spawn_rate: Some(s.spawn_rate.unwrap_or(users as f64)),
        },
        (None, None, Some(0)) => bail!("--multiply must be at least 1"),
        (None, None, m) => Workload::Open {
            multiply: m.unwrap_or(1),
        },
    };
    if s.spawn_rate.is_some_and(|r| !(r.is_finite() && r > 0.0)) {
        bail!("--spawn-rate must be a positive number of users per second");
    }
    let mut c = Config::new(&args.target, workload);
    c.speed = Speed::new(s.speed.unwrap_or(1.0)).context("--speed must be a positive number")?;
    c.timing = s.timing.unwrap_or_default();
    c.duration = s.run_time;
    if let Some(sh) = &staged {
        // the shape sets the run's length; a shorter --duration cuts it
        c.duration = Some(c.duration.map_or(sh.total(), |d| d.min(sh.total())));
    }
    if c.duration.is_some_and(|d| d.is_zero()) {
        bail!("--duration must be more than 0 (leave it out to replay the recording once)");
    }
    c.timeout = s.timeout.unwrap_or(Duration::from_secs(60));
    if c.timeout.is_zero() {
        bail!("--timeout must be more than 0");
    }
    c.seed = s.seed.unwrap_or(1);
    c.back_to_back = s.back_to_back.unwrap_or(false);
    c.realtime = s.realtime.unwrap_or(false);
    c.headers = s
        .headers
        .iter()
        .map(|(k, v)| {
            Ok((
                HeaderName::from_bytes(k.as_bytes())
                    .with_context(|| format!("header `{k}`: bad name"))?,
                HeaderValue::from_str(v).with_context(|| format!("header `{k}`: bad value"))?,
            ))
        })
        .collect::<anyhow::Result<_>>()?;
    c.shard = match &args.shard {
        Some(s) => Some(
            s.parse::<shard::Spec>()?
                .resolve(s, |k| std::env::var(k).ok())?,
        ),
        None => None,
    };
    c.workers = args.workers;
    let max = replay::workers::max();
    if c.workers > max {
        bail!(
            "--workers {}: at most {max} here (4 per core; each worker is a thread with its \
             own runtime and buffers); leave it out for one per core",
            c.workers
        );
    }
    c.ca_cert = args.ca_cert.clone();
    c.keep_sample = args.keep_sample;
    Ok(c)
}

/// First Ctrl-C or SIGTERM cancels `cancel` (the run drains and reports); a second stops at
/// once and still reports (see [`signals`]); the returned token is the second's, to be put in
/// the run's [`Config::abort`].
pub fn on_ctrl_c(cancel: CancellationToken) -> CancellationToken {
    let stop = signals::Stop::draining(cancel);
    signals::watch(stop.clone());
    stop.abort
}
