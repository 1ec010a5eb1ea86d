//! `reprise demo`.

use super::Exit;
use crate::cli::DemoArgs;

pub fn run(args: DemoArgs) -> anyhow::Result<Exit> {
    let _ = args;
    anyhow::bail!("`reprise demo` is not built yet")
}
