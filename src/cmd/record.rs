//! `reprise record`: run the recording proxy until SIGINT/SIGTERM, then print the summary.
//!
//! The first signal stops accepting and drains within `--grace`; a second one ends the
//! grace period at once (the file is still closed with its footer).

use super::Exit;
use crate::cli::RecordArgs;
use crate::correlate::session::Rules;
use crate::record::{Config, Proxy, Redaction};
use anyhow::Context;
use std::num::NonZeroUsize;
use std::path::PathBuf;
use tokio::signal::unix::{signal, SignalKind};
use tokio_util::sync::CancellationToken;

/// Turns the command line into the proxy's typed config.
pub fn config(args: &RecordArgs) -> anyhow::Result<Config> {
    let out = args.out.clone().unwrap_or_else(default_out);
    let mut config = Config::new(&args.upstream, out)?;
    config.listen = args.listen;
    config.body_cap = args.body_cap;
    config.grace = args.grace;
    config.upstream_timeout = args.upstream_timeout;
    config.ca_cert = args.ca_cert.clone();
    let mut redaction = redaction(args.no_redact, &args.redact_headers, &args.redact_json)?;
    for k in &args.redact_keys {
        redaction = redaction.key(k)?;
    }
    for q in &args.redact_query {
        redaction = redaction.query_key(q)?;
    }
    config.redaction = redaction;
    config.sessions = Rules::from_parts(
        &args.session_response,
        &args.session_request,
        &args.session_path,
    )?;
    config.queue = NonZeroUsize::new(crate::record::DEFAULT_QUEUE).expect("non-zero");
    Ok(config)
}

/// The redaction of `--no-redact`, `--redact-header` and `--redact-json` (shared with
/// `import-har`).
pub fn redaction(
    no_redact: bool,
    headers: &[String],
    json: &[String],
) -> anyhow::Result<Redaction> {
    let mut redaction = if no_redact {
        Redaction::none()
    } else {
        Redaction::default()
    };
    for h in headers {
        redaction = redaction.header(h)?;
    }
    for p in json {
        redaction = redaction.json_pointer(p)?;
    }
    Ok(redaction)
}

/// `recordings/<UTC timestamp>.trace.zst`.
pub fn default_out() -> PathBuf {
    let stamp = chrono::Utc::now().format("%Y%m%dT%H%M%SZ");
    PathBuf::from(format!("recordings/{stamp}.trace.zst"))
}

pub fn run(args: RecordArgs) -> anyhow::Result<Exit> {
    let config = config(&args)?;
    let status_every = args.status_every;
    super::runtime()?.block_on(async move {
        let cancel = CancellationToken::new();
        // Both handlers are registered before the proxy starts, so no signal can be missed.
        let mut int = signal(SignalKind::interrupt()).context("installing SIGINT handler")?;
        let mut term = signal(SignalKind::terminate()).context("installing SIGTERM handler")?;
        let upstream = config.upstream.to_string();
        let proxy = Proxy::start(config, cancel.clone())
            .await
            .context("starting the recording proxy")?;
        eprintln!(
            "reprise record: {} -> {upstream}, writing {} (Ctrl-C to stop)",
            proxy.url(),
            proxy.path().display()
        );
        let abort = proxy.abort_token();
        let signals = tokio::spawn({
            let cancel = cancel.clone();
            async move {
                loop {
                    tokio::select! {
                        _ = int.recv() => {}
                        _ = term.recv() => {}
                    }
                    if cancel.is_cancelled() {
                        abort.cancel();
                        return;
                    }
                    cancel.cancel();
                }
            }
        });
        let status = (!status_every.is_zero()).then(|| {
            let probe = proxy.probe();
            let cancel = cancel.clone();
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(status_every);
                tick.tick().await;
                loop {
                    tokio::select! {
                        _ = cancel.cancelled() => return,
                        _ = tick.tick() => eprintln!("{}", probe.live()),
                    }
                }
            })
        });

        cancel.cancelled().await;
        eprintln!(
            "reprise record: stopping; finishing in-flight exchanges (Ctrl-C again to cut short)"
        );
        let summary = proxy.finish().await.context("closing the recording")?;
        signals.abort();
        if let Some(s) = status {
            s.abort();
        }
        println!("{summary}");
        if summary.dropped > 0 {
            eprintln!(
                "warning: {} exchanges were dropped because the writer fell behind",
                summary.dropped
            );
        }
        Ok(Exit::Ok)
    })
}
