//! `package --ab-watermark WMKEY`: the A/B package of session forensics.
//!
//! The input is decoded once and encoded twice, variants a and b, every
//! segment of each marked with its own payload (variant, segment index, keyed
//! check: `shieldpack_session::code`), with IDRs forced on the segment grid.
//! Variant a is packaged by the ordinary pipeline (keys, periods, IVs,
//! playlists, manifest; TS or CMAF) and variant b clear with the same cut
//! plan; the b segments are then encrypted with the very key of their a twin
//! and IVs of their own (`shieldpack_package::ab` says which), renamed
//! `seg_NNNNN.a.ts` / `.b.ts` (`.m4s` for CMAF, under a's one init segment),
//! the manifest records both, BANDWIDTH counts the larger, and the code
//! secret is sealed into the package for `session` (`shieldpack_session::
//! sealed`). Everything happens in a work folder beside OUTDIR, renamed into
//! place only when whole.

use std::path::{Path, PathBuf};

use anyhow::Context;
use serde_json::json;
use sha2::{Digest, Sha256};

use shieldpack::cli::PackageArgs;
use shieldpack::output::Printer;
use shieldpack::Status;
use shieldpack_core::error::{Error, IoContext};
use shieldpack_core::hls::MediaPlaylist;
use shieldpack_core::manifest::{Manifest, VariantRecord};
use shieldpack_package as package;
use shieldpack_session::{CodeKey, Variant};
use shieldpack_watermark::ab::{transcode_ab, AbSettings};
use shieldpack_watermark::WmKey;

fn sha256_hex(b: &[u8]) -> String {
    hex::encode(Sha256::digest(b))
}

pub fn run(a: PackageArgs, wm: &Path, p: &Printer) -> anyhow::Result<Status> {
    let loaded = super::package::load_rotation(&a.flags, p)?;
    let mut o = super::package::options(&a, loaded.as_ref())?;
    package::check_options(&o)?;
    if o.scheme == package::cmaf::Scheme::SampleAes && !a.flags.clear {
        return Err(Error::arg(
            "--ab-watermark does not take --scheme sample-aes yet (its b variants are encrypted as whole segments)",
            "package the A/B title with --scheme aes-128 (the default for ts)",
        )
        .into());
    }
    if o.policy.is_some() {
        return Err(Error::arg(
            "--ab-watermark does not take --policy yet",
            "package the A/B title without a policy (scene cuts would leave the segment grid)",
        )
        .into());
    }
    if o.dash {
        return Err(Error::arg(
            "--ab-watermark does not take --dash: a session's variants are chosen in its HLS playlist",
            "package the A/B title without --dash, and give each session `shieldpack session` playlists",
        )
        .into());
    }
    if let shieldpack_core::manifest::Rotation::Time { seconds } = o.rotation {
        let n = seconds / o.segment_duration;
        if (n - n.round()).abs() > 1e-6 {
            return Err(Error::arg(
                "with --ab-watermark, --rotate-every must be a whole number of segments",
                "use --rotate-segments N",
            )
            .into());
        }
    }
    if !o.input.exists() {
        return Err(Error::InputMissing {
            path: o.input.clone(),
        }
        .into());
    }
    if shieldpack_core::fsutil::is_nonempty_dir(&o.output) && !o.force {
        return Err(Error::OutputNotEmpty {
            path: o.output.clone(),
        }
        .into());
    }
    if let Some(more) = o.more_inputs.first() {
        return Err(Error::arg(
            format!(
                "--ab-watermark re-encodes its renditions from one source, and {} is a second input",
                more.display()
            ),
            "give the one mezzanine with --ladder SPEC for several renditions",
        )
        .into());
    }
    let ladder: Option<shieldpack_core::ladder::LadderSpec> =
        a.ladder.as_deref().map(str::parse).transpose()?;
    let wm_key = WmKey::load(wm)?;
    let code = CodeKey::load_wm_key(wm)?;
    let keyring = match (&a.keyring, a.flags.clear) {
        (Some(k), false) => Some(shieldpack::cmd::open_keyring(
            k,
            &a.identities.identities,
            p,
        )?),
        _ => None,
    };
    let parent = match o.output.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    std::fs::create_dir_all(&parent).at(&parent)?;
    let work = tempfile::Builder::new()
        .prefix(".shieldpack-ab-")
        .tempdir_in(&parent)
        .at(&parent)?;
    // CMAF's writer takes avcC-style (MP4) input, not Annex B.
    let mezz = match o.format {
        shieldpack_media::format::Container::Ts => "ts",
        shieldpack_media::format::Container::Cmaf => "mp4",
    };
    let (va, vb) = (
        work.path().join(format!("a.{mezz}")),
        work.path().join(format!("b.{mezz}")),
    );
    let bar = p.progress(1, "marking a/b");
    let report = transcode_ab(
        &o.input,
        [&va, &vb],
        &wm_key,
        &AbSettings {
            crf: a.ab_crf,
            preset: a.ab_preset.clone(),
            segment_duration: o.segment_duration,
        },
        &|is_b, seg| code.payload(if is_b { Variant::B } else { Variant::A }, seg),
        &bar,
    );
    bar.finish_and_clear();
    let report = report?;

    let final_out = o.output.clone();
    let source_name = o
        .input
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let pkg_a = work.path().join("pkg");
    let pkg_b = work.path().join("pkg-b");
    o.clean_abandoned = false;
    o.force = false;
    let mut ob = o.clone();
    o.input = va;
    o.output = pkg_a.clone();
    ob.input = vb;
    ob.output = pkg_b.clone();
    ob.reuse_content_id = true;
    // With --ladder each marked encode is transcoded into the same rungs
    // with keyframes at the same cuts: every video rendition gets a and b.
    let pack = |o: &package::Options, kr: Option<&shieldpack_core::keys::Keyring>, what: &str| {
        let bar = p.progress(1, what);
        let r = match &ladder {
            Some(spec) => super::ladder::run(o, spec, kr, &bar, p),
            None => package::package(o, kr, &bar),
        };
        bar.finish_and_clear();
        r
    };
    let outcome = pack(&o, keyring.as_ref(), "packaging a")?;
    let outcome_b = pack(&ob, None, "packaging b")?;
    for w in &outcome.warnings {
        p.warn(w);
    }
    let mut m: Manifest = outcome.manifest;
    let mb = &outcome_b.manifest;
    let scope = m.key_scope;
    let content_id = m.content_id.clone();
    let ext = format!(".{}", o.format.extension());
    let (a_ext, b_ext) = (format!(".a{ext}"), format!(".b{ext}"));
    let mut marked = 0usize;
    for (rendition, ra) in m.renditions.iter_mut().enumerate() {
        // Alternate audio is the same in both encodes: packaged once, from a.
        if ra.kind.as_deref() == Some("audio") || ra.segments.iter().all(|s| s.video_frames == 0) {
            continue;
        }
        let Some(rb) = mb.renditions.iter().find(|r| r.name == ra.name) else {
            return Err(Error::invalid_file(
                &final_out,
                format!("the b encode has no rendition {}", ra.name),
                "report this with the input's ffprobe output",
            )
            .into());
        };
        marked += 1;
        // Under `--key-scope track-type` the rendition's track type's key.
        let track = ra.track_type.filter(|_| !scope.is_period());
        let grid_ok = ra.segments.len() == rb.segments.len()
            && ra
                .segments
                .iter()
                .zip(&rb.segments)
                .enumerate()
                .all(|(j, (x, y))| {
                    (x.start - y.start).abs() < 1e-3
                        && (x.duration - y.duration).abs() < 1e-3
                        && (x.start - ra.segments[0].start - j as f64 * o.segment_duration).abs()
                            < 0.5
                });
        if !grid_ok {
            return Err(Error::invalid_file(
                &final_out,
                format!("the a and b encodes of {} were not cut on the same segment grid", ra.name),
                "report this with the input's ffprobe output; meanwhile try another --segment-duration",
            )
            .into());
        }
        let rdir = match ra.playlist.rsplit_once('/') {
            Some((d, _)) => d.to_string(),
            None => String::new(),
        };
        // CMAF under cenc/cbcs: b's samples under a's init segment (see
        // `shieldpack_package::ab` for why its IVs differ from a's).
        let common_b = match keyring.as_ref() {
            Some(kr) if o.format == shieldpack_media::format::Container::Cmaf => {
                package::ab::CommonB::new(
                    o.scheme,
                    &pkg_a.join(&rdir).join("init.mp4"),
                    &pkg_b.join(&rdir).join("init.mp4"),
                    kr,
                    &content_id,
                    rendition,
                )?
            }
            _ => None,
        };
        for (j, (x, y)) in ra.segments.iter_mut().zip(&rb.segments).enumerate() {
            let a_old = pkg_a.join(&x.uri);
            let a_uri = x.uri.replace(&ext, &a_ext);
            let b_uri = x.uri.replace(&ext, &b_ext);
            std::fs::rename(&a_old, pkg_a.join(&a_uri)).at(&a_old)?;
            let b_src = pkg_b.join(&y.uri);
            let mut bytes = std::fs::read(&b_src).at(&b_src)?;
            let (a_iv, b_ivhex) = match (&x.kid, keyring.as_ref()) {
                (Some(kid), Some(kr)) => {
                    let key = kr.scoped_content_key(&content_id, x.generation, x.period, track);
                    match &common_b {
                        Some(cb) => {
                            let kid_bytes =
                                kr.scoped_kid(&content_id, x.generation, x.period, track);
                            bytes = cb.encrypt(&b_src, &bytes, &key, kid_bytes, j)?;
                            // The IVs are in each segment's senc / seig.
                            (None, None)
                        }
                        None => {
                            let iv = package::ab::b_iv(kid, x.sequence);
                            shieldpack_core::crypto::encrypt_in_place(&mut bytes, &key, &iv);
                            let a_iv = x.iv.clone().unwrap_or_else(|| {
                                hex::encode(shieldpack_core::crypto::sequence_iv(x.sequence))
                            });
                            (Some(a_iv), Some(hex::encode(iv)))
                        }
                    }
                }
                _ => (None, None),
            };
            let b_dst = pkg_a.join(&b_uri);
            std::fs::write(&b_dst, &bytes).at(&b_dst)?;
            x.variants = vec![
                VariantRecord {
                    variant: "a".into(),
                    uri: a_uri.clone(),
                    size: x.size,
                    sha256: x.sha256.clone(),
                    iv: a_iv,
                },
                VariantRecord {
                    variant: "b".into(),
                    uri: b_uri,
                    size: bytes.len() as u64,
                    sha256: sha256_hex(&bytes),
                    iv: b_ivhex,
                },
            ];
            x.uri = a_uri;
        }
        // the base playlist lists variant a
        let pl_path = pkg_a.join(&ra.playlist);
        let text = std::fs::read_to_string(&pl_path).at(&pl_path)?;
        let mut pl = MediaPlaylist::parse(&text).map_err(|e| {
            Error::invalid_file(&pl_path, format!("invalid playlist: {e}"), "package again")
        })?;
        for s in &mut pl.segments {
            s.uri = s.uri.replace(&ext, &a_ext);
        }
        shieldpack_core::fsutil::write_atomic(&pl_path, pl.write().as_bytes(), 0o644, true)?;
        package::ab::rename_iframe_uris(&pkg_a.join(&rdir))?;
    }
    if marked == 0 {
        return Err(Error::invalid_file(
            &final_out,
            "no video rendition to mark",
            "give a title with video",
        )
        .into());
    }
    m.source.file = source_name;
    // A session may get either variant: BANDWIDTH counts the larger.
    package::ab::restate_bandwidth(&pkg_a, &mut m.renditions)?;
    if let Some(kr) = keyring.as_ref() {
        // What `session PKG` needs without the watermark key, sealed to the
        // keyring's recipients (`shieldpack_session::sealed`).
        let recipients = kr
            .file
            .recipients
            .iter()
            .map(|r| shieldpack_core::keys::agewrap::Recipient::parse(r))
            .collect::<Result<Vec<_>, _>>()?;
        let sealed = shieldpack_session::sealed::seal(&code, &recipients)?;
        let path = pkg_a.join(shieldpack_session::sealed::FILE);
        shieldpack_core::fsutil::write_atomic(&path, &sealed, 0o644, true)?;
    }
    let man_path = pkg_a.join("manifest.json");
    shieldpack_core::fsutil::write_atomic(&man_path, m.to_json().as_bytes(), 0o644, true)?;
    if final_out.exists() {
        std::fs::remove_dir_all(&final_out).at(&final_out)?;
    }
    std::fs::rename(&pkg_a, &final_out)
        .at(&final_out)
        .context("publishing the A/B package")?;
    let segs = m.segments().count();
    if p.json {
        p.json_value(&json!({
            "output": final_out,
            "content_id": m.content_id,
            "segments": segs,
            "variants": ["a", "b"],
            "video_frames": report.frames,
            "psnr_luma_db": report.psnr_luma_db,
            "key_periods": m.key_periods().len(),
        }))?;
    } else {
        p.info(format!(
            "packaged {} -> {}: {segs} segments in variants a and b, {} frames marked (luma PSNR {:.1} dB), content id {}",
            a.input.display(),
            final_out.display(),
            report.frames,
            report.psnr_luma_db,
            m.content_id
        ));
    }
    Ok(Status::Success)
}
