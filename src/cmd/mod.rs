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

use crate::cli::{Command, PolicyCommand};
use crate::output::Printer;
use crate::Status;

/// Runs any command.
pub fn dispatch(command: Command, p: &Printer) -> anyhow::Result<Status> {
    match command {
        Command::Package(a) => package::run(a, p),
        Command::Batch(a) => batch::run(a, p),
        Command::Verify(a) => verify::run(a, p),
        Command::Policy(c) => policy::run(c, p),
        Command::Inspect(a) => inspect::run(a, p),
        Command::Watermark(c) => watermark::run(c, p),
        // keys, rekey and generate
        other => dispatch_without_ffmpeg(other, p),
    }
}

/// Runs a command that needs no FFmpeg ([`Command::needs_ffmpeg`] is false).
///
/// Nothing reachable from here may call FFmpeg: the `shieldpack` front end links
/// only this, so the linker leaves FFmpeg's ~130 shared libraries out of it, and
/// `keys` and `rekey` start in about 3 ms instead of ~45-65 ms, on machines without
/// FFmpeg too. A test reads the front end's ELF header to keep it that way.
pub fn dispatch_without_ffmpeg(command: Command, p: &Printer) -> anyhow::Result<Status> {
    match command {
        Command::Keys(c) => keys::run(c, p),
        Command::Rekey(a) => rekey::run(a, p),
        Command::Generate(c) => generate::run(c, p),
        Command::Policy(PolicyCommand::Check(a)) if a.media.is_none() => policy::check(a, None, p),
        _ => Err(anyhow::anyhow!(
            "internal error: a command that needs FFmpeg was not handed to shieldpack-media"
        )),
    }
}

/// Opens a keyring with the identities given or found beside it.
pub(crate) fn open_keyring(
    path: &std::path::Path,
    identities: &[PathBuf],
) -> anyhow::Result<crate::keys::Keyring> {
    Ok(crate::keys::open(path, identities)?)
}
