//! Scene protection policies: `policy detect` on a clip with known cuts,
//! `policy check` errors with their positions, `package --policy` end to end
//! (segments, keys, clear scenes, policy.json, FFmpeg over HTTP), and
//! `package --rotation`.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use crate::util::*;

/// The fixture's video frames: 12 s at 24 fps, keyframes every 2 s.
const CLIP_FRAMES: u64 = 288;

fn read_json(path: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

/// 9 s at 24 fps, 320x180: testsrc2, mandelbrot, smptebars, 3 s each, joined
/// with the concat filter; H.264 with B-frames and a keyframe every second.
fn three_sources(t: &TestDir) -> PathBuf {
    let out = t.join("three.mp4");
    let o = Command::new("ffmpeg")
        .args(["-v", "error", "-nostdin", "-y"])
        .args(["-f", "lavfi", "-i", "testsrc2=s=320x180:r=24:d=3"])
        .args(["-f", "lavfi", "-i", "mandelbrot=s=320x180:r=24"])
        .args(["-f", "lavfi", "-i", "smptebars=s=320x180:r=24:d=3"])
        .args([
            "-filter_complex",
            "[1:v]trim=duration=3,setpts=PTS-STARTPTS[m];[0:v][m][2:v]concat=n=3:v=1:a=0,format=yuv420p[v]",
            "-map",
            "[v]",
            "-c:v",
            "libx264",
            "-preset",
            "veryfast",
            "-g",
            "24",
            "-t",
            "9",
        ])
        .arg(&out)
        .output()
        .expect("ffmpeg on PATH");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    out
}

#[test]
fn detect_finds_the_three_sources_cuts_within_a_frame_and_its_file_checks() {
    let t = TestDir::new();
    let clip = three_sources(&t);
    let policy = t.join("scenes.json");
    let o = run_ok(
        shieldpack()
            .arg("--json")
            .args(["policy", "detect"])
            .arg(&clip)
            .arg("-o")
            .arg(&policy),
    );
    let report = stdout_json(&o);
    assert_eq!(report["frames"], 216);
    let cuts: Vec<f64> = report["cuts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["time"].as_f64().unwrap())
        .collect();
    assert_eq!(cuts.len(), 2, "{report}");
    for (found, expected) in cuts.iter().zip([3.0, 6.0]) {
        assert!(
            (found - expected).abs() <= 1.0 / 24.0 + 1e-6,
            "cut at {found}, expected {expected}"
        );
    }
    let p = read_json(&policy);
    let scenes = p["scenes"].as_array().unwrap();
    assert_eq!(scenes.len(), 3);
    assert_eq!(scenes[0]["label"], "scene-001");
    assert_eq!(scenes[1]["start"], "00:00:03.000");
    assert_eq!(scenes[2]["start"], "00:00:06.000");
    assert_eq!(scenes[2]["end"], "00:00:09.000");
    assert!(scenes
        .iter()
        .all(|s| s["drm_level"] == "L3" && s["hdcp"] == false));
    let o = run_ok(
        shieldpack()
            .args(["--json", "policy", "check"])
            .arg(&policy)
            .arg("--media")
            .arg(&clip),
    );
    let c = stdout_json(&o);
    assert_eq!(c["valid"], true, "{c}");
    assert_eq!(c["warnings"].as_array().unwrap().len(), 0, "{c}");

    // Packaged with its own policy, each shot is its own segment and key.
    let keyring = new_keyring(&t);
    let out = t.join("out");
    let o = run_ok(
        shieldpack()
            .arg("package")
            .arg(&clip)
            .arg("-o")
            .arg(&out)
            .arg("--keyring")
            .arg(&keyring)
            .arg("--policy")
            .arg(&policy),
    );
    assert!(!stderr(&o).contains("warning"), "{}", stderr(&o));
    let segs = segments(&out);
    let got: Vec<(f64, &str)> = segs
        .iter()
        .map(|s| {
            (
                s["start"].as_f64().unwrap(),
                s["scene"]["label"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        got,
        vec![(0.0, "scene-001"), (3.0, "scene-002"), (6.0, "scene-003")]
    );

    // It refuses to overwrite without --force, and --level sets every scene's level.
    let o = run_code(
        shieldpack()
            .args(["policy", "detect"])
            .arg(&clip)
            .arg("-o")
            .arg(&policy),
        2,
    );
    assert!(stderr(&o).contains("already exists"), "{}", stderr(&o));
    run_ok(
        shieldpack()
            .args(["policy", "detect"])
            .arg(&clip)
            .arg("-o")
            .arg(&policy)
            .args(["--force", "--level", "L1"]),
    );
    let p = read_json(&policy);
    assert!(p["scenes"]
        .as_array()
        .unwrap()
        .iter()
        .all(|s| s["drm_level"] == "L1"));
}

#[test]
fn min_scene_drops_a_flash_that_a_zero_min_scene_keeps() {
    let t = TestDir::new();
    let clip = t.join("flash.mp4");
    // Two white frames (60 and 61) in the middle of one shot.
    let o = Command::new("ffmpeg")
        .args(["-v", "error", "-nostdin", "-y"])
        .args(["-f", "lavfi", "-i", "testsrc2=s=320x180:r=24:d=6"])
        .args([
            "-vf",
            "drawbox=x=0:y=0:w=iw:h=ih:color=white:t=fill:enable='between(n,60,61)',format=yuv420p",
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-g",
            "24",
        ])
        .arg(&clip)
        .output()
        .expect("ffmpeg on PATH");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let detect = |min_scene: &str| {
        let o = run_ok(
            shieldpack()
                .args(["--json", "policy", "detect"])
                .arg(&clip)
                .arg("-o")
                .arg(t.join(format!("p{min_scene}.json")))
                .args(["--min-scene", min_scene]),
        );
        stdout_json(&o)["cuts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["frame"].as_u64().unwrap())
            .collect::<Vec<_>>()
    };
    assert_eq!(detect("0"), vec![60, 62], "the flash's two edges are cuts");
    assert_eq!(
        detect("1"),
        Vec::<u64>::new(),
        "--min-scene drops the flash"
    );
}

struct Packaged {
    t: TestDir,
    keyring: PathBuf,
    out: PathBuf,
    stderr: String,
}

fn package_with(policy: &str, extra: &[&str]) -> Packaged {
    let t = TestDir::new();
    let keyring = new_keyring(&t);
    let pfile = t.join("policy.json");
    std::fs::write(&pfile, policy).unwrap();
    let out = t.join("out");
    let o = run_ok(
        package_clip(&out, &keyring)
            .arg("--policy")
            .arg(&pfile)
            .args(extra),
    );
    Packaged {
        t,
        keyring,
        out,
        stderr: stderr(&o),
    }
}

fn segments(out: &Path) -> Vec<Value> {
    read_json(&out.join("manifest.json"))["renditions"][0]["segments"]
        .as_array()
        .unwrap()
        .clone()
}

const THREE_SCENES: &str = r#"{"scenes": [
  {"label": "pre-game", "start": "00:00:00", "end": "00:00:04", "drm_level": "clear", "hdcp": false},
  {"label": "match", "start": "00:00:04", "end": "00:00:08", "drm_level": "L3", "hdcp": false},
  {"label": "final", "start": "00:00:08", "end": "00:00:12", "drm_level": "L1", "hdcp": "2.2"}
]}"#;

#[test]
fn a_policy_package_cuts_at_scenes_leaves_clear_scenes_clear_and_decodes_over_http() {
    // 6 s target segments: only the scene starts at 4 s and 8 s can cut there.
    let p = package_with(THREE_SCENES, &[]);
    let segs = segments(&p.out);
    let starts: Vec<f64> = segs.iter().map(|s| s["start"].as_f64().unwrap()).collect();
    assert_eq!(
        starts,
        vec![0.0, 4.0, 8.0],
        "a segment begins at each scene start"
    );
    let labels: Vec<&str> = segs
        .iter()
        .map(|s| s["scene"]["label"].as_str().unwrap())
        .collect();
    assert_eq!(labels, ["pre-game", "match", "final"]);
    assert_eq!(segs[2]["scene"]["drm_level"], "L1");
    assert_eq!(segs[2]["scene"]["hdcp"], "2.2");

    // The clear scene is plain MPEG-TS with METHOD=NONE; the key line comes back after it.
    let playlist = std::fs::read_to_string(p.out.join("360p/index.m3u8")).unwrap();
    let lines: Vec<&str> = playlist.lines().collect();
    let first_key = lines
        .iter()
        .position(|l| l.starts_with("#EXT-X-KEY"))
        .unwrap();
    assert_eq!(lines[first_key], "#EXT-X-KEY:METHOD=NONE");
    assert!(lines[first_key + 2] == "seg_00000.ts", "{playlist}");
    assert_eq!(playlist.matches("#EXT-X-KEY:METHOD=AES-128").count(), 2);
    assert!(segs[0]["kid"].is_null());
    let clear = std::fs::read(p.out.join(segs[0]["uri"].as_str().unwrap())).unwrap();
    assert_eq!(clear[0], 0x47, "a clear segment is plain TS");
    assert_eq!(clear.len() % 188, 0);
    assert!(ffprobe_frames(p.out.join("360p/seg_00000.ts").to_str().unwrap()) == 96);
    for s in &segs[1..] {
        let bytes = std::fs::read(p.out.join(s["uri"].as_str().unwrap())).unwrap();
        assert_eq!(bytes.len() % 16, 0);
        assert!(s["kid"].is_string());
    }
    assert_ne!(
        segs[1]["kid"], segs[2]["kid"],
        "protected scenes have their own keys"
    );
    assert_ne!(segs[1]["period"], segs[2]["period"]);

    // policy.json agrees with the manifest and playlists.
    let r = read_json(&p.out.join("policy.json"));
    let scenes = r["scenes"].as_array().unwrap();
    assert_eq!(scenes.len(), 3);
    for (i, sc) in scenes.iter().enumerate() {
        assert_eq!(sc["first_sequence"], i as u64);
        assert_eq!(sc["last_sequence"], i as u64);
        assert_eq!(sc["start"].as_f64(), segs[i]["start"].as_f64());
        assert_eq!(sc["requested_start"].as_f64(), Some(4.0 * i as f64));
        let kids: Vec<&Value> = sc["kids"].as_array().unwrap().iter().collect();
        match i {
            0 => {
                assert!(kids.is_empty());
                assert_eq!(sc["encrypted"], false);
            }
            _ => assert_eq!(kids, vec![&segs[i]["kid"]]),
        }
    }
    assert_eq!(scenes[2]["hdcp"], "2.2");
    assert_eq!(scenes[2]["end"].as_f64(), Some(12.0));
    run_ok(
        shieldpack()
            .arg("verify")
            .arg(&p.out)
            .arg("--keyring")
            .arg(&p.keyring),
    );

    export_key_files(&p.keyring, &p.out, &p.out.join("360p/keys"));
    let (frames, errors, keys_fetched) = decode_over_http(&p.out);
    assert_eq!(errors, "", "FFmpeg reported decode errors");
    assert_eq!(frames, CLIP_FRAMES);
    assert_eq!(keys_fetched.len(), 2, "{keys_fetched:?}");
}

#[test]
fn a_scene_start_off_a_keyframe_moves_to_the_next_and_rotation_continues_inside_scenes() {
    let policy = r#"{"scenes": [
  {"label": "a", "start": 0, "end": 5, "drm_level": "L3", "hdcp": false},
  {"label": "b", "start": 5, "end": "00:00:12", "drm_level": "L1", "hdcp": "2.3"}
]}"#;
    let p = package_with(
        policy,
        &["--segment-duration", "2", "--rotate-segments", "2"],
    );
    let segs = segments(&p.out);
    let by: Vec<(f64, u64, &str)> = segs
        .iter()
        .map(|s| {
            (
                s["start"].as_f64().unwrap(),
                s["period"].as_u64().unwrap(),
                s["scene"]["label"].as_str().unwrap(),
            )
        })
        .collect();
    // Keyframes every 2 s: scene b's start at 5 s falls inside the segment
    // from 4 s, which holds frames of both, so it is protected as b (the
    // stronger); a key every 2 segments inside each scene, and a new key at
    // the scene change.
    assert_eq!(
        by,
        vec![
            (0.0, 0, "a"),
            (2.0, 0, "a"),
            (4.0, 1, "b"),
            (6.0, 1, "b"),
            (8.0, 2, "b"),
            (10.0, 2, "b"),
        ]
    );
    let r = read_json(&p.out.join("policy.json"));
    let b = &r["scenes"][1];
    assert_eq!(b["requested_start"].as_f64(), Some(5.0));
    assert_eq!(b["start"].as_f64(), Some(4.0));
    assert_eq!(b["first_sequence"], 2);
    assert_eq!(b["periods"], serde_json::json!([1, 2]));
    assert_eq!(r["scenes"][0]["end"].as_f64(), Some(4.0));
    assert!(
        p.stderr
            .contains("scene 'a' (L3) loses its last 1.000s to scene 'b' (L1)"),
        "the weaker scene's lost second is reported:\n{}",
        p.stderr
    );
    let kids_a: Vec<&Value> = r["scenes"][0]["kids"].as_array().unwrap().iter().collect();
    let kids_b: Vec<&Value> = r["scenes"][1]["kids"].as_array().unwrap().iter().collect();
    assert_eq!((kids_a.len(), kids_b.len()), (1, 2));
    assert!(
        kids_a.iter().all(|k| !kids_b.contains(k)),
        "no key spans two scenes"
    );
    run_ok(
        shieldpack()
            .arg("verify")
            .arg(&p.out)
            .arg("--keyring")
            .arg(&p.keyring),
    );
    let _ = &p.t;
}

/// Issue 25, item 5: a clear scene, then an L1 scene that starts between
/// keyframes (at 5 s; keyframes every 2 s). The segment from 4 s to 6 s holds
/// the L1 scene's first second: it used to go out clear with a warning and
/// exit 0. It must be encrypted, under the L1 scene's key.
#[test]
fn a_segment_straddling_a_clear_and_an_l1_scene_is_encrypted() {
    let policy = r#"{"scenes": [
  {"label": "intro", "start": 0, "end": 5, "drm_level": "clear", "hdcp": false},
  {"label": "match", "start": 5, "end": "00:00:12", "drm_level": "L1", "hdcp": "2.2"}
]}"#;
    let p = package_with(policy, &["--segment-duration", "2"]);
    let segs = segments(&p.out);
    let starts: Vec<f64> = segs.iter().map(|s| s["start"].as_f64().unwrap()).collect();
    assert_eq!(starts, vec![0.0, 2.0, 4.0, 6.0, 8.0, 10.0]);

    // The playlist: METHOD of each segment as a player reads it.
    let playlist = std::fs::read_to_string(p.out.join("360p/index.m3u8")).unwrap();
    let mut method = "NONE".to_string();
    let mut methods = Vec::new();
    for l in playlist.lines() {
        if let Some(attrs) = l.strip_prefix("#EXT-X-KEY:") {
            method = attrs
                .split(',')
                .find_map(|a| a.strip_prefix("METHOD="))
                .unwrap()
                .to_string();
        } else if l.starts_with("seg_") {
            methods.push((l.to_string(), method.clone()));
        }
    }
    let want: Vec<(String, String)> = ["NONE", "NONE", "AES-128", "AES-128", "AES-128", "AES-128"]
        .iter()
        .enumerate()
        .map(|(i, m)| (format!("seg_{i:05}.ts"), m.to_string()))
        .collect();
    assert_eq!(methods, want, "{playlist}");

    // The manifest tags it with the L1 scene and its key; one key for the scene.
    assert_eq!(segs[2]["scene"]["label"], "match");
    assert_eq!(segs[2]["scene"]["drm_level"], "L1");
    assert_eq!(segs[2]["scene"]["hdcp"], "2.2");
    assert!(segs[2]["kid"].is_string());
    for s in &segs[3..] {
        assert_eq!(s["kid"], segs[2]["kid"], "the L1 scene has one key");
    }
    for s in &segs[..2] {
        assert!(s["kid"].is_null());
        let bytes = std::fs::read(p.out.join(s["uri"].as_str().unwrap())).unwrap();
        assert!(
            is_mpeg_ts(&bytes),
            "the clear scene's own segments stay clear"
        );
    }

    // openssl decrypts the straddling segment with the L1 scene's key and the
    // sequence-number IV, to MPEG-TS that FFmpeg decodes: 48 frames, 4 s to 6 s.
    let keys = p.t.join("keys");
    export_key_files(&p.keyring, &p.out, &keys);
    let kid = segs[2]["kid"].as_str().unwrap();
    let key = hex_of(&std::fs::read(keys.join(format!("{kid}.key"))).unwrap());
    let iv = format!("{:032x}", 2);
    let raw = std::fs::read(p.out.join("360p/seg_00002.ts")).unwrap();
    assert!(!is_mpeg_ts(&raw), "the straddling segment is not plain TS");
    let plain =
        openssl_decrypt(p.out.join("360p/seg_00002.ts"), &key, &iv).expect("openssl decrypts it");
    assert!(is_mpeg_ts(&plain));
    let ts = p.t.join("seg2.ts");
    std::fs::write(&ts, &plain).unwrap();
    assert_eq!(ffprobe_frames(&ts), 48);

    // policy.json: the L1 scene starts at the straddling segment, the clear
    // scene ends before it, and the warning says the clear scene lost a second.
    let r = read_json(&p.out.join("policy.json"));
    assert_eq!(r["scenes"][0]["end"].as_f64(), Some(4.0));
    assert_eq!(r["scenes"][0]["last_sequence"], 1);
    assert_eq!(r["scenes"][1]["start"].as_f64(), Some(4.0));
    assert_eq!(r["scenes"][1]["first_sequence"], 2);
    assert_eq!(r["scenes"][1]["kids"], serde_json::json!([kid]));
    assert!(
        p.stderr
            .contains("scene 'intro' (clear) loses its last 1.000s to scene 'match' (L1)"),
        "{}",
        p.stderr
    );
    run_ok(
        shieldpack()
            .arg("verify")
            .arg(&p.out)
            .arg("--keys")
            .arg(&keys),
    );
    let (frames, errors, _) = {
        export_key_files(&p.keyring, &p.out, &p.out.join("360p/keys"));
        decode_over_http(&p.out)
    };
    assert_eq!(errors, "", "FFmpeg reported decode errors");
    assert_eq!(frames, CLIP_FRAMES);
}

fn hex_of(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

#[test]
fn verify_flags_a_policy_json_that_disagrees_with_the_playlists() {
    let p = package_with(THREE_SCENES, &[]);
    let path = p.out.join("policy.json");
    let mut r = read_json(&path);
    r["scenes"][0]["drm_level"] = "L3".into();
    std::fs::write(&path, serde_json::to_vec(&r).unwrap()).unwrap();
    let o = run_code(shieldpack().arg("verify").arg(&p.out), 1);
    assert!(
        stderr(&o).contains(
            "scene 'pre-game' is protected but the playlist leaves this segment unencrypted"
        ),
        "{}",
        stderr(&o)
    );
}

/// (what, policy text, line, column, message fragment)
const INVALID: &[(&str, &str, usize, usize, &str)] = &[
    (
        "syntax",
        "{\"scenes\": [\n  {\"label\": \"a\", \"start\": 0,}\n]}",
        2,
        29,
        "invalid JSON",
    ),
    (
        "order",
        "{\"scenes\": [\n  {\"label\": \"a\", \"start\": 6, \"end\": 8, \"drm_level\": \"L3\"},\n  {\"label\": \"b\", \"start\": 0, \"end\": 4, \"drm_level\": \"L3\"}\n]}",
        3,
        27,
        "out of order",
    ),
    (
        "overlap",
        "{\"scenes\": [\n  {\"label\": \"a\", \"start\": 0, \"end\": 5, \"drm_level\": \"L3\"},\n  {\"label\": \"b\", \"start\": \"00:00:04\", \"end\": 8, \"drm_level\": \"L3\"}\n]}",
        3,
        27,
        "overlap",
    ),
    (
        "zero length",
        "{\"scenes\": [\n  {\"label\": \"a\", \"start\": 3, \"end\": \"00:00:03\", \"drm_level\": \"L3\"}\n]}",
        2,
        37,
        "empty",
    ),
    (
        "level",
        "{\"scenes\": [\n  {\"label\": \"a\", \"start\": 0, \"end\": 4,\n   \"drm_level\": \"L4\"}\n]}",
        3,
        17,
        "unknown drm_level \"L4\"",
    ),
    (
        "hdcp",
        "{\"scenes\": [\n  {\"label\": \"a\", \"start\": 0, \"end\": 4, \"drm_level\": \"L1\", \"hdcp\": true}\n]}",
        2,
        67,
        "bad hdcp value true",
    ),
    (
        "time",
        "{\"scenes\": [\n  {\"label\": \"a\", \"start\": \"0:0:1\", \"end\": 4, \"drm_level\": \"L1\"}\n]}",
        2,
        27,
        "is not a time",
    ),
    (
        "past the end",
        "{\"scenes\": [\n  {\"label\": \"a\", \"start\": 0, \"end\": \"01:00:00\", \"drm_level\": \"L3\"}\n]}",
        2,
        37,
        "past the media's end",
    ),
    (
        "unknown key",
        "{\"scenes\": [\n  {\"label\": \"a\", \"start\": 0, \"end\": 4, \"drm_level\": \"L3\", \"hdpc\": false}\n]}",
        2,
        59,
        "unknown key \"hdpc\"",
    ),
];

#[test]
fn every_invalid_policy_gets_its_file_line_and_column_and_exit_2() {
    let t = TestDir::new();
    for (what, text, line, column, fragment) in INVALID {
        let f = t.join("bad.json");
        std::fs::write(&f, text).unwrap();
        let o = run_code(
            shieldpack()
                .args(["policy", "check"])
                .arg(&f)
                .arg("--media")
                .arg(fixture("clip.mp4")),
            2,
        );
        let err = stderr(&o);
        let at = format!("{}:{line}:{column}: ", f.display());
        let first = err.lines().next().unwrap_or("");
        assert!(
            first.starts_with(&at) && first.contains(fragment),
            "{what}: expected {at}...{fragment}, got:\n{err}"
        );
        assert!(
            err.lines()
                .nth(1)
                .unwrap_or("")
                .trim_start()
                .starts_with("hint: "),
            "{what}:\n{err}"
        );
        let o = run_code(
            shieldpack()
                .args(["--json", "policy", "check"])
                .arg(&f)
                .arg("--media")
                .arg(fixture("clip.mp4")),
            2,
        );
        let j = stdout_json(&o);
        assert_eq!(j["valid"], false);
        assert_eq!(j["errors"][0]["line"], *line, "{what}: {j}");
        assert_eq!(j["errors"][0]["column"], *column, "{what}: {j}");
    }
    // package refuses one too, at the same place.
    let f = t.join("bad.json");
    std::fs::write(&f, INVALID[4].1).unwrap();
    let keyring = new_keyring(&t);
    let o = run_code(
        package_clip(t.join("out"), &keyring)
            .arg("--policy")
            .arg(&f),
        2,
    );
    assert!(
        stderr(&o).contains(&format!("{}:3:17: unknown drm_level", f.display())),
        "{}",
        stderr(&o)
    );
    assert!(!t.join("out").exists());
}

#[test]
fn gaps_are_warnings_not_errors() {
    let t = TestDir::new();
    let f = t.join("gappy.json");
    std::fs::write(
        &f,
        "{\"scenes\": [\n  {\"label\": \"a\", \"start\": 1, \"end\": 4, \"drm_level\": \"L3\"},\n  {\"label\": \"b\", \"start\": 6, \"end\": 12, \"drm_level\": \"clear\"}\n]}",
    )
    .unwrap();
    let o = run_ok(shieldpack().args(["--json", "policy", "check"]).arg(&f));
    let j = stdout_json(&o);
    assert_eq!(j["valid"], true);
    let w = j["warnings"].as_array().unwrap();
    assert_eq!(w.len(), 2, "{j}");
    assert_eq!(
        (w[1]["line"].as_u64(), w[1]["column"].as_u64()),
        (Some(3), Some(27))
    );
    let o = run_ok(shieldpack().args(["policy", "check"]).arg(&f));
    assert!(stderr(&o).contains(&format!("{}:3:27: warning: gap", f.display())));
}

fn rotation_file(t: &TestDir, text: &str) -> PathBuf {
    let f = t.join("rotation.json");
    std::fs::write(&f, text).unwrap();
    f
}

#[test]
fn rotation_config_maps_to_rotate_every_and_refuses_ctr() {
    let t = TestDir::new();
    let keyring = new_keyring(&t);
    let package = |rot: &Path, out: &Path| {
        let mut c = shieldpack();
        c.arg("package")
            .arg(fixture("clip.mp4"))
            .arg("-o")
            .arg(out)
            .arg("--keyring")
            .arg(&keyring)
            .args(["--segment-duration", "2", "--rotation"])
            .arg(rot);
        c
    };
    let ctr = rotation_file(
        &t,
        "{\"stream_id\": \"ch1\",\n \"key_rotation\": {\"enabled\": true, \"interval_minutes\": 1,\n   \"algorithm\": \"AES-128-CTR\"}}",
    );
    let o = run_code(&mut package(&ctr, &t.join("ctr")), 2);
    assert!(
        stderr(&o).contains(&format!(
            "{}:3:17: \"algorithm\": \"AES-128-CTR\"",
            ctr.display()
        )),
        "{}",
        stderr(&o)
    );
    assert!(stderr(&o).contains("hint: "));
    let unknown = rotation_file(
        &t,
        "{\"key_rotation\": {\"enabled\": true, \"interval_minutes\": 1, \"jitter\": 3}}",
    );
    let o = run_code(&mut package(&unknown, &t.join("unknown")), 2);
    assert!(
        stderr(&o).contains("unknown field \"jitter\""),
        "{}",
        stderr(&o)
    );

    // 0.1 minutes = a key every 6 s: keyframes every 2 s give periods 0 and 1.
    let good = rotation_file(
        &t,
        r#"{"stream_id": "ch1", "key_rotation": {"enabled": true, "interval_minutes": 0.1,
  "pre_delivery_seconds": 30, "on_compromise": "rotate_immediately",
  "algorithm": "AES-128-CBC", "key_derivation": "HKDF-SHA256"}}"#,
    );
    let out = t.join("good");
    let o = run_ok(&mut package(&good, &out));
    assert!(
        stderr(&o).contains("pre_delivery_seconds"),
        "{}",
        stderr(&o)
    );
    let m = read_json(&out.join("manifest.json"));
    assert_eq!(m["rotation"]["mode"], "time");
    assert_eq!(m["rotation"]["seconds"].as_f64(), Some(6.0));
    assert_eq!(m["rotation_config"]["on_compromise"], "rotate_immediately");
    assert_eq!(
        m["rotation_config"]["pre_delivery_seconds"].as_f64(),
        Some(30.0)
    );
    let periods: Vec<u64> = m["renditions"][0]["segments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["period"].as_u64().unwrap())
        .collect();
    assert_eq!(periods, vec![0, 0, 0, 1, 1, 1]);
}

#[test]
fn hls_js_plays_a_policy_package_across_clear_and_protected_scenes() {
    // 2 s segments: two clear segments, then two per protected scene.
    let p = package_with(THREE_SCENES, &["--segment-duration", "2"]);
    export_key_files(&p.keyring, &p.out, &p.out.join("360p/keys"));
    let playlist = std::fs::read_to_string(p.out.join("360p/index.m3u8")).unwrap();
    assert!(playlist.starts_with("#EXTM3U") && playlist.contains("#EXT-X-KEY:METHOD=NONE"));
    // The clear scene needs no key; each protected scene's key was fetched.
    let keys = assert_plays_to_end(&p.out, 6, CLIP_FRAMES);
    assert_eq!(keys.len(), 2, "{keys:?}");
}

/// Issue 25 item 7: the README allows seconds, and `"10"` is seconds.
#[test]
fn policy_times_may_be_strings_of_seconds() {
    let t = TestDir::new();
    let f = t.join("strings.json");
    std::fs::write(
        &f,
        r#"{"scenes":[{"label":"a","start":"0","end":"4.5","drm_level":"clear"},{"label":"b","start":"4.5","end":"12","drm_level":"L1"}]}"#,
    )
    .unwrap();
    let o = run_ok(shieldpack().args(["--json", "policy", "check"]).arg(&f));
    let j = stdout_json(&o);
    assert_eq!(j["valid"], true, "{j}");
    assert_eq!(j["scenes"], 2, "{j}");
    let o = run_ok(shieldpack().args(["policy", "check"]).arg(&f));
    assert!(
        stderr(&o).contains("2 scene(s), 00:00:12.000 covered"),
        "{}",
        stderr(&o)
    );
}

/// Issue 25 item 7: a newline in a label was reported as "must be a
/// non-empty string", which it is.
#[test]
fn a_label_with_a_newline_gets_a_message_saying_so() {
    let t = TestDir::new();
    let f = t.join("newline.json");
    std::fs::write(
        &f,
        "{\"scenes\": [\n  {\"label\": \"pre\\ngame\", \"start\": 0, \"end\": 4, \"drm_level\": \"L3\"}\n]}",
    )
    .unwrap();
    let o = run_code(shieldpack().args(["policy", "check"]).arg(&f), 2);
    let err = stderr(&o);
    let first = err.lines().next().unwrap_or("");
    assert_eq!(
        first,
        format!(
            "{}:2:13: error: the label of scene 1 contains a line break (character 4)",
            f.display()
        ),
        "{err}"
    );
    assert!(!err.contains("non-empty"), "{err}");
    assert!(
        err.contains("hint: a label is one line of printable text"),
        "{err}"
    );
}

/// Issue 25 item 7: `"end": 1e300` printed `5124095576030:25:51.615`-style
/// clock values in the overlap and media-end messages.
#[test]
fn huge_policy_times_get_a_positioned_error_not_a_clock_value() {
    let t = TestDir::new();
    let f = t.join("huge.json");
    std::fs::write(
        &f,
        "{\"scenes\": [\n  {\"label\": \"a\", \"start\": 0, \"end\": 1e300, \"drm_level\": \"L3\"},\n  {\"label\": \"b\", \"start\": \"9999999:00:00\", \"end\": 5, \"drm_level\": \"L3\"}\n]}",
    )
    .unwrap();
    let o = run_code(shieldpack().args(["--json", "policy", "check"]).arg(&f), 2);
    let j = stdout_json(&o);
    let errors = j["errors"].as_array().unwrap();
    let at: Vec<(u64, u64)> = errors
        .iter()
        .map(|e| (e["line"].as_u64().unwrap(), e["column"].as_u64().unwrap()))
        .collect();
    assert_eq!(at, vec![(2, 37), (3, 27)], "{j}");
    for e in errors {
        let m = e["message"].as_str().unwrap();
        assert!(m.contains("the latest time a policy may name"), "{m}");
    }
    // No absurd clock value (1e300 s saturates to 5124095576030:25:51.615).
    let o = run_code(shieldpack().args(["policy", "check"]).arg(&f), 2);
    let err = stderr(&o);
    assert!(!err.contains("5124095576"), "{err}");
    assert!(
        err.contains("scene 1, 1e+300, is past 100:00:00.000"),
        "{err}"
    );
}
