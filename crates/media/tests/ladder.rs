//! The ladder transcoder (`package --ladder`, issue 21) checked by FFmpeg's own
//! tools: ffprobe decodes every rung file, counts its frames against the
//! source's and lists where its keyframes are; and the `auto` probe measured on
//! two titles of different complexity. Sources are made by the ffmpeg CLI from
//! lavfi generators (deterministic, no seed needed), small and short.

use std::path::{Path, PathBuf};
use std::process::Command;

use shieldpack_core::ladder::{auto_ladder, cut_times, LadderSpec};
use shieldpack_core::progress::NoProgress;
use shieldpack_media::ladder::{self, EncodeSettings};

fn run(cmd: &mut Command) -> String {
    let out = cmd
        .output()
        .expect("ffmpeg/ffprobe on PATH (scripts/setup.sh installs them)");
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// An H.264 + AAC source from a lavfi video graph, with a single keyframe at
/// the start, so any other keyframe in a rung is one the ladder forced.
fn make_source(dir: &Path, name: &str, video: &str, seconds: u32) -> PathBuf {
    let path = dir.join(name);
    run(Command::new("ffmpeg")
        .args([
            "-hide_banner",
            "-loglevel",
            "error",
            "-y",
            "-f",
            "lavfi",
            "-i",
        ])
        .arg(video)
        .args(["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000"])
        .args(["-t", &seconds.to_string()])
        .args([
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-g",
            "1000",
            "-sc_threshold",
            "0",
        ])
        .args(["-pix_fmt", "yuv420p", "-c:a", "aac", "-b:a", "64k"])
        .arg(&path));
    path
}

/// `ladder::transcode` of `src` into the folder `out` (made if missing),
/// with the default encoder settings and no progress.
fn transcode(
    src: &Path,
    out: &Path,
    rungs: &[shieldpack_core::ladder::RungPlan],
    cuts: &[f64],
) -> shieldpack_core::error::Result<ladder::Transcoded> {
    std::fs::create_dir_all(out).unwrap();
    ladder::transcode(
        src,
        out,
        rungs,
        cuts,
        &EncodeSettings::default(),
        &NoProgress,
    )
}

/// (frame count, keyframe times relative to the first frame, width, height)
/// of a file's video, as ffprobe decodes it.
fn probe_video(path: &Path) -> (usize, Vec<f64>, u32, u32) {
    let out = run(Command::new("ffprobe")
        .args(["-v", "error", "-select_streams", "v:0", "-show_frames"])
        .args([
            "-show_entries",
            "frame=key_frame,pts_time,best_effort_timestamp_time,width,height",
        ])
        .args(["-of", "json"])
        .arg(path));
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let frames = v["frames"].as_array().unwrap();
    let time = |f: &serde_json::Value| -> f64 {
        f["pts_time"]
            .as_str()
            .or(f["best_effort_timestamp_time"].as_str())
            .unwrap()
            .parse()
            .unwrap()
    };
    let t0 = time(&frames[0]);
    let keys = frames
        .iter()
        .filter(|f| f["key_frame"].as_i64() == Some(1))
        .map(|f| ((time(f) - t0) * 1000.0).round() / 1000.0)
        .collect();
    let w = frames[0]["width"].as_u64().unwrap() as u32;
    let h = frames[0]["height"].as_u64().unwrap() as u32;
    (frames.len(), keys, w, h)
}

fn audio_streams(path: &Path) -> usize {
    run(Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-select_streams",
            "a",
            "-show_entries",
            "stream=index",
        ])
        .args(["-of", "csv=p=0"])
        .arg(path))
    .lines()
    .filter(|l| !l.trim().is_empty())
    .count()
}

#[test]
fn ladder_rungs_decode_with_the_sources_frames_and_keyframes_only_at_the_cuts() {
    let tmp = tempfile::tempdir().unwrap();
    let src = make_source(tmp.path(), "src.mp4", "testsrc2=size=640x360:rate=25", 5);
    let (src_frames, src_keys, _, _) = probe_video(&src);
    assert_eq!(src_keys, vec![0.0], "the source must have one keyframe");

    let info = ladder::source(&src).unwrap();
    assert_eq!((info.width, info.height), (640, 360));
    let spec: LadderSpec = "360p:800k,240p:400k,180p:200k".parse().unwrap();
    let rungs = shieldpack_core::ladder::resolve(&spec, info.width, info.height, info.sar).unwrap();
    // a scene start at 1.3 s on top of the 2 s segments; at 25 fps the first
    // frame at or after it is at 1.32 s
    let cuts = cut_times(info.duration, 2.0, &[1.3]);
    assert_eq!(cuts, vec![0.0, 1.3, 2.0, 4.0]);
    let t = transcode(&src, &tmp.path().join("rungs"), &rungs, &cuts).unwrap();
    assert_eq!(t.frames as usize, src_frames);
    assert_eq!(t.cuts, vec![0.0, 1.32, 2.0, 4.0]);
    assert_eq!(t.rungs.len(), 3);
    let expected_sizes = [(640, 360), (426, 240), (320, 180)];
    for (r, (w, h)) in t.rungs.iter().zip(expected_sizes) {
        let (frames, keys, fw, fh) = probe_video(&r.path);
        assert_eq!(frames, src_frames, "{}", r.path.display());
        assert_eq!(r.frames as usize, src_frames);
        assert_eq!((fw, fh), (w, h), "{}", r.path.display());
        assert_eq!(keys, t.cuts, "{}: keyframes", r.path.display());
        assert_eq!(
            audio_streams(&r.path),
            1,
            "{}: audio copied",
            r.path.display()
        );
        assert_eq!(r.path.extension().unwrap(), "mp4");
    }
}

/// Luma PSNR of `rung` against FFmpeg's bicubic scaling of `src` to its size.
fn luma_psnr_against_direct_scaling(rung: &Path, src: &Path, w: u32, h: u32) -> f64 {
    let out = Command::new("ffmpeg")
        .args(["-nostdin", "-hide_banner", "-i"])
        .arg(rung)
        .arg("-i")
        .arg(src)
        .arg("-lavfi")
        .arg(format!(
            "[0:v]setpts=PTS-STARTPTS[x];[1:v]scale={w}:{h}:flags=bicubic,setpts=PTS-STARTPTS[r];[x][r]psnr"
        ))
        .args(["-f", "null", "-"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    let y = err
        .split("PSNR y:")
        .nth(1)
        .and_then(|t| t.split_whitespace().next())
        .unwrap_or_else(|| panic!("no PSNR in ffmpeg's output: {err}"));
    y.parse().unwrap()
}

#[test]
fn rungs_scaled_from_a_larger_rungs_pictures_keep_every_frame_key_and_the_picture() {
    // 180p is the source's size halved, 90p 180p's: the second 180p rung
    // shares the first's pictures and 90p is scaled from them
    let tmp = tempfile::tempdir().unwrap();
    let src = make_source(tmp.path(), "src.mp4", "testsrc2=size=640x360:rate=25", 4);
    let (src_frames, _, _, _) = probe_video(&src);
    let info = ladder::source(&src).unwrap();
    let spec: LadderSpec = "180p:300k,180p:200k,90p:100k".parse().unwrap();
    let rungs = shieldpack_core::ladder::resolve(&spec, info.width, info.height, info.sar).unwrap();
    let cuts = cut_times(info.duration, 2.0, &[]);
    let t = transcode(&src, &tmp.path().join("rungs"), &rungs, &cuts).unwrap();
    assert_eq!(t.rungs.len(), 3);
    assert_eq!(t.cuts, vec![0.0, 2.0]);
    let expected_sizes = [(320, 180), (320, 180), (160, 90)];
    for (r, (w, h)) in t.rungs.iter().zip(expected_sizes) {
        let (frames, keys, fw, fh) = probe_video(&r.path);
        assert_eq!(frames, src_frames, "{}", r.path.display());
        assert_eq!((fw, fh), (w, h), "{}", r.path.display());
        assert_eq!(keys, t.cuts, "{}: keyframes", r.path.display());
        assert_eq!(audio_streams(&r.path), 1, "{}: audio", r.path.display());
        // the same picture as a direct scaling of the source, up to x264's
        // losses (about 41 dB at 90p; one frame late scores about 27)
        let psnr = luma_psnr_against_direct_scaling(&r.path, &src, w, h);
        assert!(psnr > 35.0, "{}: {psnr} dB", r.path.display());
    }
}

#[test]
fn ladder_refuses_a_missing_source_and_an_empty_ladder() {
    let tmp = tempfile::tempdir().unwrap();
    let e = transcode(&tmp.path().join("nope.mp4"), tmp.path(), &[], &[0.0])
        .unwrap_err()
        .to_string();
    assert!(e.contains("no rungs"), "{e}");
    let rungs = shieldpack_core::ladder::resolve(&LadderSpec::Apple, 640, 360, 1.0).unwrap();
    let e = transcode(&tmp.path().join("nope.mp4"), tmp.path(), &rungs, &[0.0])
        .unwrap_err()
        .to_string();
    assert!(e.contains("nope.mp4"), "{e}");
}

#[test]
fn auto_gives_a_flat_title_and_a_noisy_title_different_ladders() {
    let tmp = tempfile::tempdir().unwrap();
    let flat = make_source(tmp.path(), "flat.mp4", "smptebars=size=1280x720:rate=25", 4);
    let noisy = make_source(
        tmp.path(),
        "noisy.mp4",
        "testsrc2=size=1280x720:rate=25,noise=alls=40:allf=t+u",
        4,
    );
    let pf = ladder::probe(&flat, &NoProgress).unwrap();
    let pn = ladder::probe(&noisy, &NoProgress).unwrap();
    assert!(
        pn.kbps > 4.0 * pf.kbps,
        "noise costs more bits at the same CRF: flat {pf:?}, noisy {pn:?}"
    );
    let lf = auto_ladder(&pf, 1280, 720, 1.0);
    let ln = auto_ladder(&pn, 1280, 720, 1.0);
    eprintln!("flat {pf:?} -> {lf:?}\nnoisy {pn:?} -> {ln:?}");
    assert_ne!(lf, ln);
    assert!(lf[0].kbps < ln[0].kbps, "{lf:?} vs {ln:?}");
    assert!(lf.len() < ln.len(), "{lf:?} vs {ln:?}");
    assert_eq!((lf[0].height, ln[0].height), (720, 720));
}
