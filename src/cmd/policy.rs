//! `shieldpack policy check|detect`: validate scene protection policies, and
//! make one from a video's shots.

use serde_json::json;

use crate::cli::{DrmLevel, PolicyCheckArgs, PolicyCommand, PolicyDetectArgs};
use crate::error::Error;
use crate::output::Printer;
use crate::policy::{self, detect, Level};
use crate::Status;

pub fn run(c: PolicyCommand, p: &Printer) -> anyhow::Result<Status> {
    match c {
        PolicyCommand::Check(a) => {
            let duration = media_duration(&a)?;
            check(a, duration, p)
        }
        PolicyCommand::Detect(a) => detect(a, p),
    }
}

pub fn level(l: DrmLevel) -> Level {
    match l {
        DrmLevel::Clear => Level::Clear,
        DrmLevel::L3 => Level::L3,
        DrmLevel::L2 => Level::L2,
        DrmLevel::L1 => Level::L1,
    }
}

/// The length of `--media`, if given: the one part of `policy check` that needs FFmpeg.
fn media_duration(a: &PolicyCheckArgs) -> anyhow::Result<Option<f64>> {
    let Some(m) = &a.media else { return Ok(None) };
    let info = crate::media::probe(m)?;
    Ok(Some(info.duration.ok_or_else(|| {
        Error::invalid_file(
            m,
            "FFmpeg reports no duration for this file",
            "remux it (ffmpeg -i IN -c copy OUT.mp4) or check the policy without --media",
        )
    })?))
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
                    crate::timefmt::format_hms(covered),
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

fn detect(a: PolicyDetectArgs, p: &Printer) -> anyhow::Result<Status> {
    // Refuse early, before minutes of decoding; the atomic write checks again.
    if a.output.exists() && !a.force {
        return Err(Error::AlreadyExists {
            path: a.output.clone(),
        }
        .into());
    }
    let o = detect::Options {
        threshold: a.threshold,
        min_scene: a.min_scene,
        level: level(a.level),
    };
    let bar = p.progress(1, "detecting");
    let started = std::time::Instant::now();
    let found = detect::detect(&a.input, &o, &bar);
    bar.finish_and_clear();
    let found = found?;
    let elapsed = started.elapsed().as_secs_f64();
    let text = found.policy.to_json();
    // What we write must pass our own check.
    let c = policy::check(&text, None);
    debug_assert!(c.valid(), "{:?}", c.errors);
    crate::fsutil::write_atomic(&a.output, text.as_bytes(), 0o644, a.force)?;
    let fps = found.frames as f64 / elapsed.max(1e-9);
    if p.json {
        p.json_value(&json!({
            "output": a.output,
            "scenes": found.policy.scenes.len(),
            "cuts": found.cuts,
            "frames": found.frames,
            "duration": found.duration,
            "width": found.width,
            "height": found.height,
            "seconds": elapsed,
            "frames_per_second": fps,
        }))?;
    } else {
        for c in &found.cuts {
            p.detail(format!(
                "cut at frame {} ({}), score {:.3}",
                c.frame,
                crate::timefmt::format_hms(c.time),
                c.score
            ));
        }
        p.info(format!(
            "{} -> {}: {} scene(s) in {} ({} frames at {:.0} frames/s)",
            a.input.display(),
            a.output.display(),
            found.policy.scenes.len(),
            crate::timefmt::format_hms(found.duration),
            found.frames,
            fps
        ));
    }
    Ok(Status::Success)
}
