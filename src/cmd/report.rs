//! `reprise report`.

use super::Exit;
use crate::cli::ReportArgs;

pub fn run(args: ReportArgs) -> anyhow::Result<Exit> {
    let _ = args;
    anyhow::bail!("`reprise report` is not built yet")
}
