//! reprise: parse the command line, run one command, map the outcome to an exit code.
//!
//! Exit codes: 0 success (all thresholds met), 1 a threshold failed, 2 bad usage or input,
//! 3 aborted.

use clap::Parser;
use reprise::cli::{Cli, Command};
use reprise::cmd;
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Demo(a) => cmd::demo::run(a),
        Command::Record(a) => cmd::record::run(a),
        Command::Inspect(a) => cmd::inspect::run(a),
        Command::Replay(a) => cmd::replay::run(a),
        Command::Capacity(a) => cmd::capacity::run(a),
        Command::Report(a) => cmd::report::run(a),
        Command::Ui(a) => cmd::ui::run(a),
        Command::Mock(a) => cmd::mock::run(a),
        Command::ImportHar(a) => cmd::har::import(a),
        Command::ExportHar(a) => cmd::har::export(a),
    };
    match result {
        Ok(code) => ExitCode::from(code as u8),
        Err(e) => {
            eprintln!("error: {}", cmd::error::render(&e));
            ExitCode::from(cmd::Exit::BadInput as u8)
        }
    }
}
