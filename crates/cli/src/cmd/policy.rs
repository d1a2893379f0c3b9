//! `shieldpack policy check`: validate scene protection policies. Checking
//! against a video's length (`--media`) and `policy detect` need FFmpeg and
//! live in `shieldpack-media`'s `cmd/policy.rs`.

use serde_json::json;

use crate::cli::{DrmLevel, PolicyCheckArgs};
use crate::output::Printer;
use crate::Status;
use shieldpack_core::error::Error;
use shieldpack_core::policy::{self, Level};

pub fn level(l: DrmLevel) -> Level {
    match l {
        DrmLevel::Clear => Level::Clear,
        DrmLevel::L3 => Level::L3,
        DrmLevel::L2 => Level::L2,
        DrmLevel::L1 => Level::L1,
    }
}

/// Checks the policy file, and its scenes against `duration` when known.
pub fn check(a: PolicyCheckArgs, duration: Option<f64>, p: &Printer) -> anyhow::Result<Status> {
    let c = policy::check_file(&a.policy, duration)?;
    let file = a.policy.display().to_string();
    if p.json {
        p.json_value(&json!({
            "file": file,
            "valid": c.valid(),
            "errors": c.errors,
            "warnings": c.warnings,
            "scenes": c.policy.as_ref().map(|p| p.scenes.len()),
            "media_duration": duration,
        }))?;
    }
    if !p.json {
        for d in &c.errors {
            p.located(true, &file, d.line, d.column, &d.message, &d.hint);
        }
        for d in &c.warnings {
            p.located(false, &file, d.line, d.column, &d.message, &d.hint);
        }
    }
    match &c.policy {
        Some(pol) => {
            if !p.json {
                let covered: f64 = pol.scenes.iter().map(|s| s.end - s.start).sum();
                p.ok(format!(
                    "{file}: {} scene(s), {} covered, {} warning(s)",
                    pol.scenes.len(),
                    shieldpack_core::timefmt::format_hms(covered),
                    c.warnings.len()
                ));
            }
            Ok(Status::Success)
        }
        None => Err(Error::invalid_file(
            &a.policy,
            format!("invalid policy: {} error(s)", c.errors.len()),
            "fix the errors listed above (FILE:LINE:COLUMN) and run `shieldpack policy check` again",
        )
        .into()),
    }
}
