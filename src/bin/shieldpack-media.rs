//! `shieldpack-media`: the build of shieldpack that links FFmpeg. The
//! `shieldpack` front end (`src/main.rs`) runs every command that needs no
//! FFmpeg itself and replaces itself with this binary, installed beside it,
//! for the rest; run directly, it runs any command.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    if let Some(v) = std::env::var_os(shieldpack::HANDED_OVER_ENV) {
        if v != shieldpack::BUILD_ID {
            return shieldpack::report_error(
                &shieldpack::Error::arg(
                    format!(
                        "shieldpack {} handed this command to shieldpack-media {}, \
                         which comes from another build",
                        v.to_string_lossy(),
                        shieldpack::BUILD_ID
                    ),
                    "install both binaries from the same build side by side (`cargo install \
                     --path .` does); in a checkout, `cargo build` builds both, while \
                     `cargo run` rebuilds only shieldpack",
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
