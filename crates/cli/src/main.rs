//! The `shieldpack` binary. It links no FFmpeg (its crate cannot): commands
//! that touch no media run here, in about 3 ms and on hosts without FFmpeg;
//! the others replace this process with `shieldpack-media` (`handoff`).

use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = shieldpack::parse_cli();
    if cli.command.needs_ffmpeg() {
        return shieldpack::report_error(&shieldpack::handoff::exec_media_build().into());
    }
    shieldpack::main_with(cli, shieldpack::cmd::dispatch)
}
