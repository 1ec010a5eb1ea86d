//! `reprise replay`.

use super::Exit;
use crate::cli::ReplayArgs;

pub fn run(args: ReplayArgs) -> anyhow::Result<Exit> {
    let _ = args;
    anyhow::bail!("`reprise replay` is not built yet")
}
