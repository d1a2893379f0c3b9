//! One module per subcommand. Each parses nothing (clap did), calls the domain
//! modules, and prints through the `Printer`.

mod batch;
mod generate;
mod inspect;
mod keys;
mod package;
mod policy;
mod rekey;
mod verify;
mod watermark;

use std::path::PathBuf;

use crate::cli::Command;
use crate::output::Printer;
use crate::Status;

pub fn dispatch(command: Command, p: &Printer) -> anyhow::Result<Status> {
    match command {
        Command::Keys(c) => keys::run(c, p),
        Command::Package(a) => package::run(a, p),
        Command::Batch(a) => batch::run(a, p),
        Command::Verify(a) => verify::run(a, p),
        Command::Policy(c) => policy::run(c, p),
        Command::Inspect(a) => inspect::run(a, p),
        Command::Rekey(a) => rekey::run(a, p),
        Command::Generate(c) => generate::run(c, p),
        Command::Watermark(c) => watermark::run(c, p),
    }
}

/// Opens a keyring with the identities given or found beside it.
pub(crate) fn open_keyring(
    path: &std::path::Path,
    identities: &[PathBuf],
) -> anyhow::Result<crate::keys::Keyring> {
    Ok(crate::keys::open(path, identities)?)
}
