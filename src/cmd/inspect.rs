//! `reprise inspect`.

use super::Exit;
use crate::cli::InspectArgs;

pub fn run(args: InspectArgs) -> anyhow::Result<Exit> {
    let _ = args;
    anyhow::bail!("`reprise inspect` is not built yet")
}
