//! `shieldpack package`: one title to an encrypted HLS package.

use serde_json::json;

use std::path::Path;

use crate::cli::{IvMode as CliIv, PackageArgs, PackageFlags};
use crate::output::Printer;
use crate::package::{self, manifest::Rotation, IvMode, Options};
use crate::Status;

pub fn options(a: &PackageArgs) -> crate::Result<Options> {
    let content_id = a
        .content_id
        .clone()
        .unwrap_or_else(|| package::default_content_id(&a.input));
    options_for(&a.flags, &a.input, &a.output, content_id, a.force)
}

/// `package::Options` from the shared package flags, for one input (`batch`
/// calls this per title, so both commands read the flags the same way).
pub fn options_for(
    f: &PackageFlags,
    input: &Path,
    output: &Path,
    content_id: String,
    force: bool,
) -> crate::Result<Options> {
    let rotation = match (&f.rotate_every, f.rotate_segments) {
        (Some(d), _) => Rotation::Time {
            seconds: crate::timefmt::parse_seconds(d)?,
        },
        (None, Some(n)) => Rotation::Segments { count: n },
        (None, None) => Rotation::None,
    };
    if let Rotation::Time { seconds } = rotation {
        if seconds <= 0.0 {
            return Err(crate::Error::arg(
                "--rotate-every must be longer than zero",
                "e.g. --rotate-every 30s",
            ));
        }
    }
    Ok(Options {
        input: input.to_path_buf(),
        output: output.to_path_buf(),
        content_id,
        segment_duration: f.segment_duration,
        rotation,
        key_uri: f.key_uri.clone(),
        iv: match f.iv {
            CliIv::Sequence => IvMode::Sequence,
            CliIv::Derived => IvMode::Derived,
        },
        force,
        extra_files: Vec::new(),
    })
}

pub fn run(a: PackageArgs, p: &Printer) -> anyhow::Result<Status> {
    let o = options(&a)?;
    package::check_options(&o)?;
    let keyring = match (&a.keyring, a.flags.clear) {
        (Some(k), false) => Some(super::open_keyring(k, &a.identities.identities)?),
        _ => None,
    };
    let bar = p.progress(1, "packaging");
    let outcome = package::package(&o, keyring.as_ref(), &bar);
    bar.finish_and_clear();
    let outcome = outcome?;
    let m = &outcome.manifest;
    if outcome.dropped_leading > 0 {
        p.warn(format!(
            "dropped {} video frames before the first keyframe (they cannot be decoded)",
            outcome.dropped_leading
        ));
    }
    let segs = m.segments().count();
    let periods = m.key_periods().len();
    if p.json {
        p.json_value(&json!({
            "output": o.output,
            "content_id": m.content_id,
            "keyring_fingerprint": m.keyring_fingerprint,
            "renditions": m.renditions.iter().map(|r| json!({
                "name": r.name, "playlist": r.playlist, "bandwidth": r.bandwidth,
                "average_bandwidth": r.average_bandwidth, "codecs": r.codecs, "resolution": r.resolution,
            })).collect::<Vec<_>>(),
            "segments": segs,
            "key_periods": periods,
            "duration": m.source.duration,
            "video_frames": outcome.video_frames,
        }))?;
    } else {
        p.info(format!(
            "packaged {} -> {}: {segs} segments, {:.1}s, {} key period(s), content id {}",
            o.input.display(),
            o.output.display(),
            m.source.duration,
            periods,
            m.content_id
        ));
        if m.encryption != "none" {
            p.info(format!(
                "keys are not in the package; export them with: shieldpack keys export {} --package {} --format key-files -o KEYS",
                a.keyring.as_ref().map(|k| k.display().to_string()).unwrap_or_default(),
                o.output.display()
            ));
        }
    }
    Ok(Status::Success)
}
