//! shieldpack: an offline packager and key-management toolchain for protected HLS.
//!
//! This crate is the whole program; `src/main.rs` only parses the command line and
//! maps `run`'s outcome to an exit status. Commands live in `cmd/`, and call the
//! domain modules (`keys`, `media`, `crypto`, `hls`, `package`, `policy`, `batch`), which never print.

pub mod batch;
pub mod cli;
pub mod cmd;
pub mod crypto;
pub mod error;
pub mod fsutil;
pub mod hls;
pub mod interrupt;
pub mod keys;
pub mod media;
pub mod output;
pub mod package;
pub mod policy;
pub mod timefmt;
pub mod watermark;

use std::process::ExitCode;

pub use error::{Error, Result};

/// How a command that did not fail ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Exit 0.
    Success,
    /// Exit 1: a clean negative answer (verify found defects, nothing detected,
    /// some titles of a batch failed).
    Negative,
}

impl From<Status> for ExitCode {
    fn from(s: Status) -> Self {
        match s {
            Status::Success => ExitCode::SUCCESS,
            Status::Negative => ExitCode::from(1),
        }
    }
}

/// Set by the `shieldpack` front end, to its [`BUILD_ID`], when it hands a
/// command to `shieldpack-media` (see `src/main.rs`): the media build checks
/// that both come from the same build, and the front end that it is not
/// handing over to itself.
pub const HANDED_OVER_ENV: &str = "SHIELDPACK_HANDED_OVER";

/// The version and a hash of the sources this binary was built from (`build.rs`).
pub const BUILD_ID: &str = concat!(env!("CARGO_PKG_VERSION"), "+", env!("SHIELDPACK_SOURCE_ID"));

/// Runs one command line.
pub fn run(cli: cli::Cli) -> anyhow::Result<Status> {
    interrupt::install();
    let printer = output::Printer::new(&cli.global);
    cmd::dispatch(cli.command, &printer)
}

/// Runs a command line whose command needs no FFmpeg
/// ([`cli::Command::needs_ffmpeg`]); links none of FFmpeg.
pub fn run_without_ffmpeg(cli: cli::Cli) -> anyhow::Result<Status> {
    interrupt::install();
    let printer = output::Printer::new(&cli.global);
    cmd::dispatch_without_ffmpeg(cli.command, &printer)
}

/// Prints an error once, as `shieldpack: {err:#}` plus its hint, and picks the
/// exit status: 130 when interrupted, 0 for a closed stdout pipe, else 2.
pub fn report_error(err: &anyhow::Error) -> ExitCode {
    for cause in err.chain() {
        if let Some(io) = cause.downcast_ref::<std::io::Error>() {
            if io.kind() == std::io::ErrorKind::BrokenPipe {
                return ExitCode::SUCCESS;
            }
        }
    }
    let ours = err.chain().find_map(|c| c.downcast_ref::<Error>());
    if matches!(ours, Some(Error::Interrupted)) {
        output::say(format_args!("shieldpack: interrupted"));
        return ExitCode::from(130);
    }
    output::say(format_args!("shieldpack: {err:#}"));
    if let Some(hint) = ours.and_then(Error::hint) {
        output::say(format_args!("\nhint: {hint}"));
    }
    ExitCode::from(2)
}
