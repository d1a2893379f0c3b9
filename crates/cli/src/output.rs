//! The one printer: data to stdout, people and progress to stderr.
//!
//! Commands print through a `Printer` so that `--quiet`, `--json`, `--color` and
//! `--no-progress` are honoured in one place. Progress bars are drawn only when
//! stderr is a terminal.

use std::io::{IsTerminal, Write};
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use shieldpack_core::progress::Progress;

use crate::cli::{ColorChoice, GlobalArgs};

/// Writes one line to stderr. When stderr cannot take it (`2>log` on a full
/// disk, a closed pipe) the line is lost, but the command carries on and exits
/// with the status of what it did: `eprintln!` would panic and exit 101, even
/// after a package was published.
pub fn say(line: std::fmt::Arguments) {
    let _ = writeln!(std::io::stderr().lock(), "{line}");
}

pub struct Printer {
    pub quiet: bool,
    pub verbose: u8,
    pub json: bool,
    color: bool,
    progress: bool,
}

impl Printer {
    pub fn new(g: &GlobalArgs) -> Self {
        let tty = std::io::stderr().is_terminal();
        let color = match g.color {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            ColorChoice::Auto => tty && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()),
        };
        Printer {
            quiet: g.quiet,
            verbose: g.verbose,
            json: g.json,
            color,
            progress: tty && !g.no_progress && !g.quiet,
        }
    }

    /// A plain printer for library users and tests: no colour, no progress.
    pub fn plain() -> Self {
        Printer {
            quiet: false,
            verbose: 0,
            json: false,
            color: false,
            progress: false,
        }
    }

    fn paint(&self, code: &str, s: &str) -> String {
        if self.color {
            format!("\x1b[{code}m{s}\x1b[0m")
        } else {
            s.to_string()
        }
    }

    /// A message for people, on stderr, unless --quiet.
    pub fn info(&self, msg: impl AsRef<str>) {
        if !self.quiet {
            say(format_args!("{}", msg.as_ref()));
        }
    }

    /// Detail shown with -v.
    pub fn detail(&self, msg: impl AsRef<str>) {
        if self.verbose > 0 && !self.quiet {
            say(format_args!("{}", msg.as_ref()));
        }
    }

    /// A warning, on stderr, even with --quiet.
    pub fn warn(&self, msg: impl AsRef<str>) {
        say(format_args!(
            "{} {}",
            self.paint("33", "warning:"),
            msg.as_ref()
        ));
    }

    /// A line that names a problem found (verify's defects), on stderr.
    pub fn defect(&self, msg: impl AsRef<str>) {
        say(format_args!(
            "{} {}",
            self.paint("31", "defect:"),
            msg.as_ref()
        ));
    }

    /// A finding at a place in a text file, the way compilers print them:
    /// `FILE:LINE:COLUMN: error: message`, then `  hint: ...`. Always shown.
    pub fn located(
        &self,
        error: bool,
        file: &str,
        line: usize,
        column: usize,
        message: &str,
        hint: &str,
    ) {
        let what = if error {
            self.paint("31", "error:")
        } else {
            self.paint("33", "warning:")
        };
        say(format_args!("{file}:{line}:{column}: {what} {message}"));
        if !hint.is_empty() {
            say(format_args!("  hint: {hint}"));
        }
    }

    /// A success line, on stderr, unless --quiet.
    pub fn ok(&self, msg: impl AsRef<str>) {
        if !self.quiet {
            say(format_args!("{} {}", self.paint("32", "ok:"), msg.as_ref()));
        }
    }

    /// Data on stdout.
    pub fn data(&self, text: impl AsRef<str>) -> std::io::Result<()> {
        let mut out = std::io::stdout().lock();
        out.write_all(text.as_ref().as_bytes())?;
        if !text.as_ref().ends_with('\n') {
            out.write_all(b"\n")?;
        }
        out.flush()
    }

    /// One JSON document (or one JSON Lines record) on stdout.
    pub fn json_value(&self, v: &serde_json::Value) -> std::io::Result<()> {
        let mut out = std::io::stdout().lock();
        serde_json::to_writer(&mut out, v)?;
        out.write_all(b"\n")?;
        out.flush()
    }

    /// Whether progress bars are drawn (stderr is a terminal, and neither
    /// --no-progress nor --quiet).
    pub fn draws_progress(&self) -> bool {
        self.progress
    }

    /// A progress bar on stderr, or a hidden one when bars are off.
    pub fn progress(&self, len: u64, what: &str) -> Bar {
        if !self.progress {
            return Bar(ProgressBar::hidden());
        }
        let bar = ProgressBar::with_draw_target(Some(len), ProgressDrawTarget::stderr());
        bar.set_style(
            ProgressStyle::with_template(
                "{msg:>12} [{bar:40}] {percent:>3}% {elapsed_precise} eta {eta}",
            )
            .expect("static template")
            .progress_chars("=> "),
        );
        bar.set_message(what.to_string());
        bar.enable_steady_tick(Duration::from_millis(200));
        Bar(bar)
    }
}

/// A progress bar that domain code can report through: indicatif's bar, seen
/// as the core's [`Progress`] (neither type is this crate's, so a wrapper).
pub struct Bar(pub ProgressBar);

impl std::ops::Deref for Bar {
    type Target = ProgressBar;
    fn deref(&self) -> &ProgressBar {
        &self.0
    }
}

impl Progress for Bar {
    fn set_length(&self, len: u64) {
        self.0.set_length(len)
    }
    fn set_position(&self, pos: u64) {
        self.0.set_position(pos)
    }
}
