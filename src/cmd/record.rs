//! `reprise record`.

use super::Exit;
use crate::cli::RecordArgs;

pub fn run(args: RecordArgs) -> anyhow::Result<Exit> {
    let _ = args;
    anyhow::bail!("`reprise record` is not built yet")
}
