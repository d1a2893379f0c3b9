//! `shieldpack policy check --media` and `policy detect`: the parts of `policy`
//! that decode video; plain `policy check` is the front end's.

use serde_json::json;
use shieldpack::cli::{PolicyCheckArgs, PolicyCommand, PolicyDetectArgs};
use shieldpack::cmd::policy::{check, level};
use shieldpack::output::Printer;
use shieldpack::Status;
use shieldpack_core::error::Error;
use shieldpack_core::policy;
use shieldpack_media::detect;

pub fn run(c: PolicyCommand, p: &Printer) -> anyhow::Result<Status> {
    match c {
        PolicyCommand::Check(a) => {
            let duration = media_duration(&a)?;
            check(a, duration, p)
        }
        PolicyCommand::Detect(a) => detect(a, p),
    }
}

/// The length of `--media`, if given: the one part of `policy check` that needs FFmpeg.
fn media_duration(a: &PolicyCheckArgs) -> anyhow::Result<Option<f64>> {
    let Some(m) = &a.media else { return Ok(None) };
    let info = shieldpack_media::probe(m)?;
    Ok(Some(info.duration.ok_or_else(|| {
        Error::invalid_file(
            m,
            "FFmpeg reports no duration for this file",
            "remux it (ffmpeg -i IN -c copy OUT.mp4) or check the policy without --media",
        )
    })?))
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
    shieldpack_core::fsutil::write_atomic(&a.output, text.as_bytes(), 0o644, a.force)?;
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
                shieldpack_core::timefmt::format_hms(c.time),
                c.score
            ));
        }
        p.info(format!(
            "{} -> {}: {} scene(s) in {} ({} frames at {:.0} frames/s)",
            a.input.display(),
            a.output.display(),
            found.policy.scenes.len(),
            shieldpack_core::timefmt::format_hms(found.duration),
            found.frames,
            fps
        ));
    }
    Ok(Status::Success)
}
