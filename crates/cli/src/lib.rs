//! The `shieldpack` command line: clap types (`cli`), the one printer
//! (`output`), and the commands that need no FFmpeg (`cmd`: keys, rekey,
//! policy check, generate). This crate depends on `shieldpack-core` alone, so
//! the `shieldpack` binary links no FFmpeg by construction; the commands that
//! read or write media live in `shieldpack-media-cli`, whose binary
//! `shieldpack-media` runs every command (`handoff` joins the two).

pub mod cli;
pub mod cmd;
pub mod handoff;
pub mod output;

use std::process::ExitCode;

use shieldpack_core::Error;

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

/// Parses the command line; `--help` and `--version` print and exit 0. A
/// usage error (unknown flag, missing argument, bad value) prints clap's
/// message, then, as every shieldpack error does, a `hint:` line: where the
/// command's flags are described. Exit 2.
pub fn parse_cli() -> cli::Cli {
    use clap::error::ErrorKind;
    use clap::{CommandFactory, Parser};
    match cli::Cli::try_parse() {
        Ok(c) => c,
        Err(e) if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) => {
            e.exit()
        }
        Err(e) => {
            let _ = e.print();
            let args: Vec<String> = std::env::args_os()
                .skip(1)
                .map(|a| a.to_string_lossy().into_owned())
                .collect();
            let path = subcommand_path(&cli::Cli::command(), &args);
            output::say(format_args!(
                "\nhint: `shieldpack {}--help` lists the arguments and flags it takes",
                path.iter().map(|s| format!("{s} ")).collect::<String>()
            ));
            std::process::exit(e.exit_code())
        }
    }
}

/// The subcommands named in `args` (`["keys", "new"]`), as far as they are
/// known: each word that names a subcommand of the one before, up to `--`.
pub fn subcommand_path(root: &clap::Command, args: &[String]) -> Vec<String> {
    let mut path = Vec::new();
    let mut cmd = root;
    for a in args {
        if a == "--" {
            break;
        }
        if let Some(sub) = cmd.find_subcommand(a) {
            path.push(sub.get_name().to_string());
            cmd = sub;
        }
    }
    path
}

/// Runs one command line through `dispatch` with the process-wide set-up
/// (interrupt handling, the printer), and maps the outcome to an exit status.
pub fn main_with(
    cli: cli::Cli,
    dispatch: impl FnOnce(cli::Command, &output::Printer) -> anyhow::Result<Status>,
) -> ExitCode {
    shieldpack_core::interrupt::install();
    let printer = output::Printer::new(&cli.global);
    match dispatch(cli.command, &printer) {
        Ok(status) => status.into(),
        Err(err) => report_error(&err),
    }
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
