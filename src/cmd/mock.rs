//! `reprise mock`.

use super::Exit;
use crate::cli::MockArgs;

pub fn run(args: MockArgs) -> anyhow::Result<Exit> {
    let _ = args;
    anyhow::bail!("`reprise mock` is not built yet")
}
