//! The `shieldpack` binary: parse the command line, run the library, map the
//! outcome to an exit status. Everything else lives in `src/lib.rs`.
//!
//! This front end links no FFmpeg. Debian's FFmpeg pulls in about 130 shared
//! libraries, and binding them costs every process ~45 ms before `main`, a
//! fifth of a 126 MB `rekey`. So commands that touch no media (`keys`, `rekey`,
//! `policy check` without `--media`, `generate`) run here, and also run on a
//! key-management host without FFmpeg installed; the others replace this
//! process (same PID, arguments, streams and exit status) with
//! `shieldpack-media`, the full build, from the same folder.

use std::os::unix::process::CommandExt;
use std::process::ExitCode;

use clap::Parser;
use shieldpack::Error;

/// The build that links FFmpeg, installed beside this binary.
const MEDIA_BUILD: &str = "shieldpack-media";

fn main() -> ExitCode {
    let cli = shieldpack::cli::Cli::parse();
    let outcome = if cli.command.needs_ffmpeg() {
        Err(hand_over().into())
    } else {
        shieldpack::run_without_ffmpeg(cli)
    };
    match outcome {
        Ok(status) => status.into(),
        Err(err) => shieldpack::report_error(&err),
    }
}

/// Replaces this process with the media build; returns only on failure.
fn hand_over() -> Error {
    let install_hint = format!(
        "install both binaries from the same build side by side: `cargo install --path .` \
         does, or copy target/release/shieldpack and target/release/{MEDIA_BUILD} together"
    );
    let here = match std::env::current_exe() {
        Ok(p) => p,
        Err(e) => {
            return Error::arg(
                format!(
                "cannot find where this shieldpack binary is, to run {MEDIA_BUILD} beside it: {e}"
            ),
                install_hint,
            )
        }
    };
    let media = here.with_file_name(MEDIA_BUILD);
    if std::env::var_os(shieldpack::HANDED_OVER_ENV).is_some() {
        return Error::arg(
            format!(
                "{} is not shieldpack's media build: it handed the command back to itself",
                media.display()
            ),
            install_hint,
        );
    }
    let mut args = std::env::args_os();
    let arg0 = args.next().unwrap_or_else(|| "shieldpack".into());
    let err = std::process::Command::new(&media)
        .arg0(arg0)
        .args(args)
        .env(shieldpack::HANDED_OVER_ENV, shieldpack::BUILD_ID)
        .exec();
    if err.kind() == std::io::ErrorKind::NotFound {
        return Error::arg(
            format!(
                "this command needs FFmpeg, which shieldpack runs through {}, and that file is missing",
                media.display()
            ),
            install_hint,
        );
    }
    Error::arg(
        format!("cannot run {}: {err}", media.display()),
        install_hint,
    )
}
