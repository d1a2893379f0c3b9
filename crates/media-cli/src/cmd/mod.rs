//! One module per subcommand that reads or writes media; the others are the
//! front end's (`shieldpack::cmd`).

mod ab;
mod batch;
mod drm;
mod inspect;
mod ladder;
mod package;
mod policy;
mod trace;
mod verify;
mod watermark;

use shieldpack::cli::Command;
use shieldpack::output::Printer;
use shieldpack::Status;

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
        other => shieldpack::cmd::dispatch(other, p),
    }
}
