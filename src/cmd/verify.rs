//! placeholder
use crate::output::Printer;
pub fn run(_a: crate::cli::VerifyArgs, _p: &Printer) -> anyhow::Result<crate::Status> {
    anyhow::bail!("not built yet")
}
