//! `shieldpack package`: one title to an encrypted HLS package.

use std::path::Path;

use serde_json::json;

use shieldpack::cli::{
    Format as CliFormat, IvMode as CliIv, PackageArgs, PackageFlags, Scheme as CliScheme,
};
use shieldpack::output::Printer;
use shieldpack::Status;
use shieldpack_core::manifest::Rotation;
use shieldpack_core::policy::rotation;
use shieldpack_media::format::Container;
use shieldpack_package::{self as package, IvMode, Options};

/// Reads the `--rotation` config, if any, and prints what it warns about.
pub fn load_rotation(
    f: &PackageFlags,
    p: &Printer,
) -> shieldpack_core::Result<Option<rotation::Loaded>> {
    let Some(file) = &f.rotation else {
        return Ok(None);
    };
    let loaded = rotation::load(file)?;
    for d in &loaded.warnings {
        p.located(
            false,
            &file.display().to_string(),
            d.line,
            d.column,
            &d.message,
            &d.hint,
        );
    }
    Ok(Some(loaded))
}

pub fn options(
    a: &PackageArgs,
    loaded: Option<&rotation::Loaded>,
) -> shieldpack_core::Result<Options> {
    let content_id = a
        .content_id
        .clone()
        .unwrap_or_else(|| package::default_content_id(&a.input));
    let mut o = options_for(&a.flags, &a.input, &a.output, content_id, a.force, loaded)?;
    o.reuse_content_id = a.reuse_content_id;
    o.more_inputs.clone_from(&a.more_inputs);
    Ok(o)
}

/// `package::Options` from the shared package flags and the `--rotation` config,
/// for one input (`batch` calls this per catalogue, so both commands read the
/// flags the same way).
pub fn options_for(
    f: &PackageFlags,
    input: &Path,
    output: &Path,
    content_id: String,
    force: bool,
    loaded: Option<&rotation::Loaded>,
) -> shieldpack_core::Result<Options> {
    let rotation = match (&f.rotate_every, f.rotate_segments, loaded) {
        (_, _, Some(l)) => l.rotation,
        (Some(d), _, None) => Rotation::Time {
            seconds: shieldpack_core::timefmt::parse_seconds(d)?,
        },
        (None, Some(n), None) => Rotation::Segments { count: n },
        (None, None, None) => Rotation::None,
    };
    if let (Some(l), Some(file), Rotation::Time { seconds }) = (loaded, &f.rotation, rotation) {
        if seconds + 1e-9 < f.segment_duration {
            let pos = l.interval_pos.unwrap_or_default();
            return Err(shieldpack_core::Error::at(
                file,
                pos.line,
                pos.column,
                format!(
                    "\"interval_minutes\" gives a key every {seconds}s, shorter than the {}s segment duration",
                    f.segment_duration
                ),
                "a key period holds whole segments; raise interval_minutes or lower --segment-duration",
            ));
        }
    }
    if let Rotation::Time { seconds } = rotation {
        if seconds <= 0.0 {
            return Err(shieldpack_core::Error::arg(
                "--rotate-every must be longer than zero",
                "e.g. --rotate-every 30s",
            ));
        }
    }
    let (drm, drm_options) = super::drm::options(f, &content_id)?;
    Ok(Options {
        input: input.to_path_buf(),
        more_inputs: Vec::new(),
        title_source: None,
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
        clean_abandoned: true,
        reuse_content_id: false,
        policy: f.policy.clone(),
        rotation_config: loaded.map(|l| l.config.clone()),
        overlap: true,
        idle: None,
        apple: f.apple,
        drm,
        drm_options,
        format: match f.format {
            CliFormat::Ts => Container::Ts,
            CliFormat::Cmaf => Container::Cmaf,
        },
        scheme: match f.scheme {
            None => package::cmaf::Scheme::default_for(match f.format {
                CliFormat::Ts => Container::Ts,
                CliFormat::Cmaf => Container::Cmaf,
            }),
            Some(CliScheme::Aes128) => package::cmaf::Scheme::Aes128,
            Some(CliScheme::SampleAes) => package::cmaf::Scheme::SampleAes,
            Some(CliScheme::Cbcs) => package::cmaf::Scheme::Cbcs,
            Some(CliScheme::Cenc) => package::cmaf::Scheme::Cenc,
        },
        dash: f.dash,
        key_scope: match f.key_scope {
            shieldpack::cli::KeyScopeArg::Period => shieldpack_core::keys::KeyScope::Period,
            shieldpack::cli::KeyScopeArg::TrackType => shieldpack_core::keys::KeyScope::TrackType,
        },
    })
}

pub fn run(a: PackageArgs, p: &Printer) -> anyhow::Result<Status> {
    if let Some(wm) = a.ab_watermark.clone() {
        return super::ab::run(a, &wm, p);
    }
    let loaded = load_rotation(&a.flags, p)?;
    let mut o = options(&a, loaded.as_ref())?;
    let ladder = a.ladder.as_deref().map(str::parse).transpose()?;
    let keyring = match (&a.keyring, &a.cpix, a.flags.clear) {
        (Some(k), _, false) => Some(shieldpack::cmd::open_keyring(
            k,
            &a.identities.identities,
            p,
        )?),
        (None, Some(c), false) => {
            let kr = super::drm::open_cpix(c, &a.identities.identities, p)?;
            // The provider's content id, unless one was given.
            if let (None, Some(id)) = (
                &a.content_id,
                kr.provided().and_then(|c| c.content_id.clone()),
            ) {
                o.content_id = id;
                o.drm_options.content_id = o.content_id.clone();
            }
            Some(kr)
        }
        _ => None,
    };
    package::check_options(&o)?;
    let bar = p.progress(1, "packaging");
    let outcome = match &ladder {
        Some(spec) => super::ladder::run(&o, spec, keyring.as_ref(), &bar, p),
        None => package::package(&o, keyring.as_ref(), &bar),
    };
    bar.finish_and_clear();
    let outcome = outcome?;
    for w in &outcome.warnings {
        p.warn(w);
    }
    let m = &outcome.manifest;
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
            "policy": outcome.policy.as_ref().map(|r| json!({
                "file": o.output.join(shieldpack_core::manifest::resolved::FILE),
                "scenes": r.scenes.len(),
            })),
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
        if m.encryption != "none" && a.cpix.is_some() {
            p.info("the keys are the CPIX document's; the package holds none of them");
        } else if m.encryption != "none" {
            p.info(format!(
                "keys are not in the package; export them with: shieldpack keys export {} --package {} --format key-files -o KEYS",
                a.keyring.as_ref().map(|k| k.display().to_string()).unwrap_or_default(),
                o.output.display()
            ));
        }
    }
    Ok(Status::Success)
}
