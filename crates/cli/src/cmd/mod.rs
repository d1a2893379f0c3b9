//! One module per subcommand that needs no FFmpeg. Each parses nothing (clap
//! did), calls the domain crates, and prints through the `Printer`. The media
//! commands are `shieldpack-media-cli`'s `cmd/`.

pub mod generate;
pub mod keys;
pub mod policy;
pub mod rekey;
pub mod serve;
pub mod session;

use std::path::PathBuf;

use crate::cli::{Command, PolicyCommand};
use crate::output::Printer;
use crate::Status;

/// Runs a command that needs no FFmpeg ([`Command::needs_ffmpeg`] is false).
pub fn dispatch(command: Command, p: &Printer) -> anyhow::Result<Status> {
    match command {
        Command::Keys(c) => keys::run(c, p),
        Command::Rekey(a) => rekey::run(a, p),
        Command::Generate(c) => generate::run(c, p),
        Command::Serve(a) => serve::run(a, p),
        Command::Session(a) => session::run(a, p),
        Command::Policy(PolicyCommand::Check(a)) if a.media.is_none() => policy::check(a, None, p),
        _ => Err(anyhow::anyhow!(
            "internal error: a command that needs FFmpeg was not handed to shieldpack-media"
        )),
    }
}

/// Opens a keyring with the identities given or found beside it, warning
/// about identity files others may read.
pub fn open_keyring(
    path: &std::path::Path,
    identities: &[PathBuf],
    p: &Printer,
) -> anyhow::Result<shieldpack_core::keys::Keyring> {
    use shieldpack_core::keys;
    let file = keys::KeyringFile::load(path)?;
    let files = keys::identity_files(path, identities);
    warn_unprotected(&files, p);
    Ok(file.unlock(path, &files)?)
}

/// Warns, with the chmod that fixes it, about each identity file that users
/// other than its owner may read or change.
pub fn warn_unprotected(files: &[PathBuf], p: &Printer) {
    for u in shieldpack_core::keys::unprotected_identities(files) {
        p.warn(format!(
            "{}
  hint: {}",
            u.message(),
            u.hint()
        ));
    }
}
