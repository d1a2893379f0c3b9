//! `package MEZZANINE --ladder SPEC` (issue 21), end to end: SPEC errors at
//! the command line, a transcoded rung packaged with rotating keys that FFmpeg
//! decodes frame for frame, and a three-rung ladder packaged as one
//! multivariant title that FFmpeg decodes rendition by rendition and hls.js
//! plays across a level switch. (The rung files themselves, their frame
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

/// A 640x360 mezzanine of `SECONDS` s at `FPS` with one AAC track, its own
/// keyframes far apart (every 5 s), so only the ladder's forced ones cut.
const SECONDS: u32 = 4;
const FPS: u32 = 25;

fn mezzanine(t: &TestDir) -> std::path::PathBuf {
    let out = t.join("mezz.mp4");
    run_ok(
        ffmpeg()
            .args(["-f", "lavfi", "-i"])
            .arg(format!(
                "testsrc2=size=640x360:rate={FPS}:duration={SECONDS}"
            ))
            .args(["-f", "lavfi", "-i"])
            .arg(format!("sine=frequency=440:duration={SECONDS}"))
            .args(["-c:v", "libx264", "-preset", "ultrafast", "-g", "125"])
            .args(["-c:a", "aac", "-b:a", "64k"])
            .arg(&out),
    );
    out
}

#[test]
fn a_three_rung_ladder_is_one_title_every_rendition_decodes_and_hls_js_switches_levels() {
    let t = TestDir::new();
    let keyring = new_keyring(&t);
    let mezz = mezzanine(&t);
    let source_frames = ffprobe_frames(&mezz);
    assert_eq!(source_frames, u64::from(SECONDS * FPS));
    let out = t.join("out");
    let o = run_ok(
        package_input(&mezz, &out, &keyring)
            .args(["--ladder", "360p:800k,270p:500k,180p:300k"])
            .args(["--segment-duration", "2", "--rotate-segments", "1"]),
    );
    let e = stderr(&o);
    assert!(
        e.contains("ladder: 640x360@800k, 480x270@500k, 320x180@300k"),
        "{e}"
    );
    // The rung files went with the run.
    assert_eq!(hidden_entries(t.path()), Vec::<String>::new());
    let m: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("manifest.json")).unwrap()).unwrap();
    // The mezzanine is the title, not a temporary rung file.
    assert_eq!(m["source"]["file"], "mezz.mp4", "{}", m["source"]);
    let names: Vec<&str> = m["renditions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    // The rungs' one audio track (copied into each) is one alternate audio
    // rendition.
    assert_eq!(names, ["360p", "270p", "180p", "audio-und"]);
    let master = std::fs::read_to_string(out.join("master.m3u8")).unwrap();
    for res in ["640x360", "480x270", "320x180"] {
        assert!(master.contains(&format!("RESOLUTION={res}")), "{master}");
    }
    for name in &names {
        export_key_files(&keyring, &out, &out.join(name).join("keys"));
    }
    run_ok(shieldpack().arg("verify").arg(&out));

    // FFmpeg decodes every rendition over HTTP, every frame of the source.
    let server = HttpServer::serve(&out);
    for name in &names[..3] {
        let url = server.url(&format!("{name}/index.m3u8"));
        assert_eq!(ffprobe_frames(&url), source_frames, "{name}");
        let (_, errors) = ffmpeg_decode(&url);
        assert_eq!(errors, "", "{name}: FFmpeg reported decode errors");
    }

    // hls.js plays the master to the end across a level switch.
    let v = play_in_browser_args(
        &server.url("master.m3u8"),
        &PlayOptions {
            rate: 2.0,
            ..PlayOptions::default()
        },
        &["--switch-level-at", "1.5"],
    );
    assert_eq!(v["ended"], true, "did not play to the end: {v}");
    assert_eq!(fatal_errors(&v), Vec::<serde_json::Value>::new(), "{v}");
    assert_eq!(v["levels"].as_array().map(Vec::len), Some(3), "{v}");
    let switch = &v["levelSwitch"];
    let (from, to) = (switch["from"].as_u64(), switch["to"].as_u64());
    assert!(
        from.is_some() && to.is_some() && from != to,
        "no switch: {v}"
    );
    let loaded: Vec<u64> = v["fragLevels"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|l| l.as_u64())
        .collect();
    assert!(
        loaded.contains(&from.unwrap()) && loaded.contains(&to.unwrap()),
        "fragments of both levels were not played: {v}"
    );
    drop(server);

    // The keyring recorded the mezzanine under its content id: packaging it
    // again without the ladder is the same title, not a refused second one
    // (which it would be had a rung file been recorded).
    run_ok(&mut package_input(&mezz, t.join("again"), &keyring));
}

#[test]
fn a_ladder_with_a_second_input_is_refused() {
    let t = TestDir::new();
    let out = t.join("out");
    let o = run_code(
        shieldpack()
            .arg("package")
            .arg(fixture("clip.mp4"))
            .arg(fixture("clip.mp4"))
            .arg("-o")
            .arg(&out)
            .args(["--clear", "--ladder", "240p:400k"]),
        2,
    );
    let e = stderr(&o);
    assert!(
        e.contains("is a second input") && e.contains("\nhint: "),
        "{e}"
    );
    assert!(!out.exists());
}

/// A mezzanine's audio languages and subtitles survive the ladder: the rungs
/// carry each audio stream's language (so the renditions are `audio-eng`
/// and `audio-fra`, not `und`), and the subtitles come from the mezzanine
/// itself, as a WebVTT rendition on the video's clock.
#[test]
fn a_ladder_keeps_the_mezzanines_audio_languages_and_subtitles() {
    let t = TestDir::new();
    let keyring = new_keyring(&t);
    let srt = t.join("subs.srt");
    std::fs::write(&srt, "1\n00:00:00,500 --> 00:00:01,500\nfirst line\n\n2\n00:00:02,200 --> 00:00:03,000\nsecond\n").unwrap();
    let mezz = t.join("mezz.mp4");
    run_ok(
        ffmpeg()
            .args(["-f", "lavfi", "-i"])
            .arg(format!(
                "testsrc2=size=640x360:rate={FPS}:duration={SECONDS}"
            ))
            .args(["-f", "lavfi", "-i"])
            .arg(format!("sine=frequency=440:duration={SECONDS}"))
            .args(["-f", "lavfi", "-i"])
            .arg(format!("sine=frequency=880:duration={SECONDS}"))
            .arg("-i")
            .arg(&srt)
            .args(["-map", "0:v", "-map", "1:a", "-map", "2:a", "-map", "3:s"])
            .args([
                "-c:v",
                "libx264",
                "-preset",
                "ultrafast",
                "-c:a",
                "aac",
                "-c:s",
                "mov_text",
            ])
            .args([
                "-metadata:s:a:0",
                "language=eng",
                "-metadata:s:a:1",
                "language=fra",
            ])
            .args(["-metadata:s:s:0", "language=eng"])
            .arg(&mezz),
    );
    let out = t.join("out");
    run_ok(
        package_input(&mezz, &out, &keyring)
            .args(["--ladder", "360p:800k,180p:300k"])
            .args(["--segment-duration", "2"]),
    );
    let m: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("manifest.json")).unwrap()).unwrap();
    let names: Vec<&str> = m["renditions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        ["360p", "180p", "audio-eng", "audio-fra", "subs-eng"]
    );
    let master = std::fs::read_to_string(out.join("master.m3u8")).unwrap();
    assert!(master.contains("LANGUAGE=\"en\""), "{master}");
    assert!(master.contains("LANGUAGE=\"fr\""), "{master}");
    assert_eq!(master.matches("SUBTITLES=\"subs\"").count(), 2, "{master}");
    let vtt: String = std::fs::read_dir(out.join("subs-eng"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension() == Some("vtt".as_ref()))
        .map(|p| std::fs::read_to_string(p).unwrap())
        .collect();
    assert!(
        vtt.contains("first line") && vtt.contains("second"),
        "{vtt}"
    );
    run_ok(
        shieldpack()
            .arg("verify")
            .arg(&out)
            .arg("--keyring")
            .arg(&keyring),
    );
}
