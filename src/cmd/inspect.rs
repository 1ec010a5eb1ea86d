//! `reprise inspect FILE [--json]`: describe a recording (logic in [`crate::inspect`]).

use super::Exit;
use crate::cli::InspectArgs;
use crate::inspect::{self, Config};

pub fn run(args: InspectArgs) -> anyhow::Result<Exit> {
    let config = Config {
        node_pointer: args.node_pointer,
        ..Config::default()
    };
    // The library error already names the file and says what is wrong, on one line.
    let report = inspect::inspect(&args.file, &config).map_err(|e| anyhow::anyhow!("{e}"))?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", inspect::render(&report));
    }
    Ok(Exit::Ok)
}
