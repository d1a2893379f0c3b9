//! placeholder
use crate::output::Printer;
pub fn run(_a: crate::cli::InspectArgs, _p: &Printer) -> anyhow::Result<crate::Status> {
    anyhow::bail!("not built yet")
}
