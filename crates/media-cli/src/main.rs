//! `shieldpack-media`: the build of shieldpack that links FFmpeg. The
//! `shieldpack` front end runs the commands that need no FFmpeg itself and
//! replaces itself with this binary, installed beside it, for the rest; run
//! directly, it runs any command.

mod cmd;

use std::process::ExitCode;

fn main() -> ExitCode {
    if let Err(e) = shieldpack::handoff::check_same_build() {
        return shieldpack::report_error(&e.into());
    }
    shieldpack::main_with(shieldpack::parse_cli(), cmd::dispatch)
}
