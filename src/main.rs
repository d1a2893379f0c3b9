//! The `shieldpack` binary: parse the command line, run the library, map the
//! outcome to an exit status. Everything else lives in `src/lib.rs`.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = shieldpack::cli::Cli::parse();
    match shieldpack::run(cli) {
        Ok(status) => status.into(),
        Err(err) => shieldpack::report_error(&err),
    }
}
