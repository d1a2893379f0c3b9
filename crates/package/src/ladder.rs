//! `package MEZZANINE --ladder SPEC`: transcode one source into an aligned
//! H.264 ladder (`shieldpack_media::ladder`), then package the rung files as
//! several pre-encoded inputs of one title.
//!
//! The cut times are decided here, before encoding, from what the package
//! pipeline will cut at: every `--segment-duration`, every `--rotate-every`
//! boundary, and every scene start and end of a `--policy`. Every rung gets
//! its IDRs at the first frame at or after each of those times and nowhere
//! else, so the pipeline finds the same keyframes in every rendition and cuts
//! them all at the same frames.
//!
//! The rung files live in a staged folder beside OUTDIR (`StagedDir`, so on
//! the same file system as the package's own staging, swept like it when a
//! run is killed, and removed when this run ends, whether it succeeded or
//! failed); nothing of them reaches OUTDIR but the packaged segments.

use std::path::PathBuf;

use shieldpack_core::error::{Error, Result};
use shieldpack_core::fsutil::StagedDir;
use shieldpack_core::keys::Keyring;
use shieldpack_core::ladder::{self as spec, LadderSpec, Probe, RungPlan};
use shieldpack_core::manifest::Rotation;
use shieldpack_core::progress::Progress;
use shieldpack_media::ladder::{self as transcoder, EncodeSettings, Transcoded};

use super::{Options, Outcome};

/// What a ladder run decided and made, beside the package itself.
#[derive(Debug, Clone)]
pub struct LadderOutcome {
    pub outcome: Outcome,
    /// The rungs, highest first.
    pub rungs: Vec<RungPlan>,
    /// Where keyframes were forced (seconds from the first frame).
    pub cuts: Vec<f64>,
    /// What `--ladder auto` measured.
    pub probe: Option<Probe>,
}

/// The rungs for `o.input` under `ladder`, and the probe behind them for
/// `auto` (which decodes and encodes a few seconds of the title).
pub fn plan(
    o: &Options,
    ladder: &LadderSpec,
    progress: &dyn Progress,
) -> Result<(transcoder::Source, Vec<RungPlan>, Option<Probe>)> {
    let src = transcoder::source(&o.input)?;
    Ok(match ladder {
        LadderSpec::Auto => {
            let probe = transcoder::probe(&o.input, progress)?;
            let rungs = spec::auto_ladder(&probe, src.width, src.height, src.sar);
            (src, rungs, Some(probe))
        }
        other => {
            let rungs = spec::resolve(other, src.width, src.height, src.sar)?;
            (src, rungs, None)
        }
    })
}

/// The times every rung needs a keyframe at, for `o`'s cuts and key periods.
pub fn cut_times(o: &Options, duration: f64) -> Result<Vec<f64>> {
    let mut extra = Vec::new();
    if let Rotation::Time { seconds } = o.rotation {
        if seconds > 0.0 {
            let mut t = seconds;
            while t < duration {
                extra.push(t);
                t += seconds;
            }
        }
    }
    if let Some(path) = &o.policy {
        let (p, _notes) = shieldpack_core::policy::load(path, Some(duration))?;
        for s in &p.scenes {
            extra.push(s.start);
            extra.push(s.end);
        }
    }
    Ok(spec::cut_times(duration, o.segment_duration, &extra))
}

/// Transcodes `o.input` into the ladder and packages the rungs into
/// `o.output` as several renditions of one title.
pub fn package_ladder(
    o: &Options,
    ladder: &LadderSpec,
    encode: &EncodeSettings,
    keyring: Option<&Keyring>,
    progress: &dyn Progress,
) -> Result<LadderOutcome> {
    super::check_options(o)?;
    if !o.input.exists() {
        return Err(Error::InputMissing {
            path: o.input.clone(),
        });
    }
    if let Some(more) = o.more_inputs.first() {
        return Err(Error::arg(
            format!(
                "--ladder encodes its renditions from one source, and {} is a second input",
                more.display()
            ),
            "give the one mezzanine with --ladder, or the pre-encoded renditions without it",
        ));
    }
    // Refuse now what `package` would refuse after the transcode.
    if shieldpack_core::fsutil::is_nonempty_dir(&o.output) && !o.force {
        return Err(Error::OutputNotEmpty {
            path: o.output.clone(),
        });
    }
    let (src, rungs, probe) = plan(o, ladder, progress)?;
    let cuts = cut_times(o, src.duration)?;
    let name = o
        .output
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "out".into());
    let rung_dir = StagedDir::new(
        &o.output.with_file_name(format!("{name}.ladder")),
        false,
        o.clean_abandoned,
    )?;
    let made = transcoder::transcode(&o.input, rung_dir.path(), &rungs, &cuts, encode, progress)?;
    let outcome = package_rungs(o, &made, keyring, progress);
    drop(rung_dir); // removed whether packaging succeeded or not
    Ok(LadderOutcome {
        outcome: outcome?,
        rungs,
        cuts: made.cuts,
        probe,
    })
}

/// Packages the rung files as renditions of one title: the first rung is the
/// input whose cuts the others follow (`renditions`), and the mezzanine is
/// the title (`Options::title_source`), since the rung files are temporary.
fn package_rungs(
    o: &Options,
    made: &Transcoded,
    keyring: Option<&Keyring>,
    progress: &dyn Progress,
) -> Result<Outcome> {
    let paths: Vec<PathBuf> = made.rungs.iter().map(|r| r.path.clone()).collect();
    let mut all = o.clone();
    all.input = paths[0].clone();
    all.more_inputs = paths[1..].to_vec();
    all.title_source = Some(o.title_source.clone().unwrap_or_else(|| o.input.clone()));
    super::package(&all, keyring, progress)
}
