//! How the two binaries share one command line. Debian's FFmpeg pulls in about
//! 130 shared libraries, and binding them costs every process ~45 ms before
//! `main`, a fifth of a 126 MB `rekey`. So `shieldpack` (this crate, no
//! FFmpeg) runs `keys`, `rekey`, `policy check` without `--media` and
//! `generate` itself, and replaces itself (same PID, arguments, streams and exit
//! status) with `shieldpack-media`, the build that links FFmpeg, installed in
//! the same folder, for the rest.
//!
//! Both carry a hash of the workspace's sources (`build.rs`), and the media build
//! refuses a front end from other sources: `cargo run` relinks only
//! `shieldpack`, and would otherwise hand media commands to a stale build.

use std::os::unix::process::CommandExt;

use shieldpack_core::Error;

/// The build that links FFmpeg, installed beside `shieldpack`.
pub const MEDIA_BUILD: &str = "shieldpack-media";

/// Set by the front end, to its [`BUILD_ID`], when it hands a command over:
/// the media build checks that both come from the same build, and the front
/// end that it is not handing over to itself.
pub const HANDED_OVER_ENV: &str = "SHIELDPACK_HANDED_OVER";

/// The version and a hash of the sources this binary was built from (`build.rs`).
pub const BUILD_ID: &str = concat!(env!("CARGO_PKG_VERSION"), "+", env!("SHIELDPACK_SOURCE_ID"));

fn install_hint() -> String {
    format!(
        "install both binaries from the same build side by side: `cargo install --path . && \
         cargo install --path crates/media-cli` does, or copy target/release/shieldpack and \
         target/release/{MEDIA_BUILD} together"
    )
}

/// Replaces this process with the media build; returns only on failure.
pub fn exec_media_build() -> Error {
    let here = match std::env::current_exe() {
        Ok(p) => p,
        Err(e) => {
            return Error::arg(
                format!(
                "cannot find where this shieldpack binary is, to run {MEDIA_BUILD} beside it: {e}"
            ),
                install_hint(),
            )
        }
    };
    let media = here.with_file_name(MEDIA_BUILD);
    if std::env::var_os(HANDED_OVER_ENV).is_some() {
        return Error::arg(
            format!(
                "{} is not shieldpack's media build: it handed the command back to itself",
                media.display()
            ),
            install_hint(),
        );
    }
    let mut args = std::env::args_os();
    let arg0 = args.next().unwrap_or_else(|| "shieldpack".into());
    let err = std::process::Command::new(&media)
        .arg0(arg0)
        .args(args)
        .env(HANDED_OVER_ENV, BUILD_ID)
        .exec();
    if err.kind() == std::io::ErrorKind::NotFound {
        return Error::arg(
            format!(
                "this command needs FFmpeg, which shieldpack runs through {}, and that file is missing",
                media.display()
            ),
            install_hint(),
        );
    }
    Error::arg(
        format!("cannot run {}: {err}", media.display()),
        install_hint(),
    )
}

/// In the media build: refuses a command handed over by a front end from
/// another build.
pub fn check_same_build() -> Result<(), Error> {
    match std::env::var_os(HANDED_OVER_ENV) {
        Some(v) if v != BUILD_ID => Err(Error::arg(
            format!(
                "shieldpack {} handed this command to {MEDIA_BUILD} {BUILD_ID}, which comes from another build",
                v.to_string_lossy(),
            ),
            "install both binaries from the same build side by side (`cargo install --path . && \
             cargo install --path crates/media-cli`); in a checkout, `cargo build` builds both, \
             while `cargo run` rebuilds only shieldpack",
        )),
        _ => Ok(()),
    }
}
