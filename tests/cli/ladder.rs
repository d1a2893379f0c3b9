//! `package MEZZANINE --ladder SPEC` (issue 21 part 2), end to end: SPEC errors
//! at the command line, and a transcoded rung packaged with rotating keys that
//! FFmpeg decodes frame for frame. (The rung files themselves, their frame
//! counts and keyframe times in every rung, are checked with ffprobe in
//! crates/media/tests/ladder.rs.)

use std::path::Path;

use crate::util::*;

/// The fixture's video frames: 12 s at 24 fps, 640x360.
const CLIP_FRAMES: u64 = 288;

fn ladder_err(t: &TestDir, spec: &str) -> String {
    let out = t.join("out");
    let o = run_code(
        shieldpack()
            .arg("package")
            .arg(fixture("clip.mp4"))
            .arg("-o")
            .arg(&out)
            .args(["--clear", "--ladder", spec]),
        2,
    );
    assert!(!out.exists(), "output left behind for {spec:?}");
    let e = stderr(&o);
    assert!(e.contains("\nhint: "), "no hint in: {e}");
    assert!(!e.contains("panicked"), "{e}");
    e
}

#[test]
fn ladder_spec_errors_exit_2_naming_the_rung_with_a_hint() {
    let t = TestDir::new();
    for (spec, says) in [
        ("720p", "--ladder rung 1 '720p' has no bit rate"),
        (
            "360p:800k,240:400k",
            "rung 2 '240:400k': '240' is not a height such as 720p",
        ),
        ("360p:800", "'800' is not a bit rate such as 3000k or 6M"),
        ("239p:400k", "a height of 239 lines cannot be encoded"),
        ("360p:800k,360p:800k", "--ladder names 360p:800k twice"),
        (
            "720p:3000k",
            "--ladder asks for 720p but the source is only 360 lines high",
        ),
    ] {
        let e = ladder_err(&t, spec);
        assert!(e.contains(says), "{spec:?}: {e}");
    }
    let leftovers: Vec<String> = hidden_entries(t.path());
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

fn segment_durations(out: &Path) -> Vec<f64> {
    let m: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("manifest.json")).unwrap()).unwrap();
    m["renditions"][0]["segments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["duration"].as_f64().unwrap())
        .collect()
}

#[test]
fn a_one_rung_ladder_is_transcoded_cut_at_the_forced_keyframes_and_decodes_every_frame() {
    let t = TestDir::new();
    let keyring = new_keyring(&t);
    let out = t.join("out");
    // 2.5 s segments do not fall on the fixture's own keyframes (every 2 s):
    // only keyframes the ladder forced let the pipeline cut there.
    let o = run_ok(
        package_input(fixture("clip.mp4"), &out, &keyring)
            .args(["--ladder", "240p:400k", "--segment-duration", "2.5"])
            .args(["--rotate-segments", "2"]),
    );
    let e = stderr(&o);
    assert!(
        e.contains("ladder: 426x240@400k (keyframes forced at 5 cuts in every rung)"),
        "{e}"
    );
    assert!(out.join("240p/index.m3u8").is_file());
    assert_eq!(segment_durations(&out), vec![2.5, 2.5, 2.5, 2.5, 2.0]);
    export_key_files(&keyring, &out, &out.join("240p/keys"));
    let (frames, errors, keys_fetched) = decode_over_http(&out);
    assert_eq!(errors, "", "FFmpeg reported decode errors");
    assert_eq!(frames, CLIP_FRAMES);
    assert_eq!(
        keys_fetched.len(),
        3,
        "one key per period: {keys_fetched:?}"
    );
    // the rung files went with the run
    assert_eq!(hidden_entries(t.path()), Vec::<String>::new());
}
