//! `shieldpack-media`: the build of shieldpack that links FFmpeg. The
//! `shieldpack` front end (`src/main.rs`) runs every command that needs no
//! FFmpeg itself and replaces itself with this binary, installed beside it,
//! for the rest; run directly, it runs any command.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    if let Some(v) = std::env::var_os(shieldpack::HANDED_OVER_ENV) {
        let mine = env!("CARGO_PKG_VERSION");
        if v != mine {
            return shieldpack::report_error(
                &shieldpack::Error::arg(
                    format!(
                        "shieldpack {} handed this command to shieldpack-media {mine}: \
                         the two binaries come from different releases",
                        v.to_string_lossy()
                    ),
                    "install both binaries from the same build side by side (`cargo install --path .` does)",
                )
                .into(),
            );
        }
    }
    let cli = shieldpack::cli::Cli::parse();
    match shieldpack::run(cli) {
        Ok(status) => status.into(),
        Err(err) => shieldpack::report_error(&err),
    }
}
