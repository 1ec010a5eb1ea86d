//! `reprise inspect FILE [--json]`: describe a recording (logic in [`crate::inspect`]);
//! `reprise inspect --secrets FILE`: what looks like a credential left in it (exit 1 if any).

use super::{out, Exit};
use crate::cli::InspectArgs;
use crate::inspect::{self, Config};

pub fn run(args: InspectArgs) -> anyhow::Result<Exit> {
    if args.secrets {
        let found = inspect::secrets::scan(&args.file).map_err(|e| anyhow::anyhow!("{e}"))?;
        if args.json {
            out::stdout(&format!("{}\n", serde_json::to_string_pretty(&found)?));
        } else {
            out::stdout(&inspect::secrets::render(&args.file, &found));
        }
        return Ok(if found.is_empty() {
            Exit::Ok
        } else {
            Exit::ThresholdFailed
        });
    }
    let config = Config {
        node_pointer: args.node_pointer,
        ..Config::default()
    };
    // The library error already names the file and says what is wrong, on one line.
    let report = inspect::inspect(&args.file, &config).map_err(|e| anyhow::anyhow!("{e}"))?;
    if args.json {
        out::stdout(&format!("{}\n", serde_json::to_string_pretty(&report)?));
    } else {
        out::stdout(&inspect::render(&report));
    }
    Ok(Exit::Ok)
}
