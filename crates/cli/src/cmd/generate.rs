//! `shieldpack generate man|completions`: man pages and shell completions from
//! the clap definitions in `cli.rs`; the results are committed in `man/` and
//! `completions/`, and a test fails when they are stale.

use clap::CommandFactory;

use crate::cli::{Cli, GenerateCommand};
use crate::output::Printer;
use crate::Status;
use shieldpack_core::error::IoContext;

pub fn run(c: GenerateCommand, p: &Printer) -> anyhow::Result<Status> {
    match c {
        GenerateCommand::Man { dir } => {
            std::fs::create_dir_all(&dir).at(&dir)?;
            let cmd = Cli::command();
            clap_mangen::generate_to(cmd, &dir).at(&dir)?;
            p.info(format!("wrote man pages to {}", dir.display()));
        }
        GenerateCommand::Completions { shell } => {
            let mut cmd = Cli::command();
            let mut out = Vec::new();
            clap_complete::generate(shell, &mut cmd, "shieldpack", &mut out);
            use std::io::Write;
            std::io::stdout().write_all(&out)?;
        }
    }
    Ok(Status::Success)
}
