//! `package`, `verify`, `inspect` and key-files export, end to end.

use std::path::{Path, PathBuf};

use crate::util::*;

/// The fixture's video frames: 12 s at 24 fps.
const CLIP_FRAMES: u64 = 288;

struct Pkg {
    t: TestDir,
    keyring: PathBuf,
    out: PathBuf,
}

/// Packages the fixture with 2 s segments and a key every 2 segments.
fn rotated(extra: &[&str]) -> Pkg {
    let t = TestDir::new();
    let keyring = new_keyring(&t);
    let out = t.join("out");
    run_ok(
        package_clip(&out, &keyring)
            .args(["--segment-duration", "2", "--rotate-segments", "2"])
            .args(extra),
    );
    Pkg { t, keyring, out }
}

fn manifest(out: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(out.join("manifest.json")).unwrap()).unwrap()
}

#[test]
fn ffmpeg_decodes_every_frame_of_a_rotated_package_over_http() {
    let p = rotated(&[]);
    export_key_files(&p.keyring, &p.out, &p.out.join("360p/keys"));
    let (frames, errors, keys_fetched) = decode_over_http(&p.out);
    assert_eq!(errors, "", "FFmpeg reported decode errors");
    assert_eq!(frames, CLIP_FRAMES);
    assert_eq!(
        keys_fetched.len(),
        3,
        "one key per period: {keys_fetched:?}"
    );
}

#[test]
fn openssl_decrypts_every_segment_with_the_exported_key_files() {
    let p = rotated(&[]);
    let keys = p.t.join("keys");
    export_key_files(&p.keyring, &p.out, &keys);
    let m = manifest(&p.out);
    let segs = m["renditions"][0]["segments"].as_array().unwrap();
    assert_eq!(segs.len(), 6);
    let mut periods = std::collections::BTreeSet::new();
    let mut frames = 0;
    for s in segs {
        let kid = s["kid"].as_str().unwrap();
        let key = std::fs::read(keys.join(format!("{kid}.key"))).unwrap();
        assert_eq!(key.len(), 16);
        let iv = format!("{:032x}", s["sequence"].as_u64().unwrap());
        let seg = p.out.join(s["uri"].as_str().unwrap());
        let plain =
            openssl_decrypt(&seg, &hex::encode(&key), &iv).expect("openssl decrypts the segment");
        assert_eq!(plain[0], 0x47, "MPEG-TS sync byte");
        assert_eq!(plain.len() % 188, 0);
        let clear = p.t.join("clear.ts");
        std::fs::write(&clear, &plain).unwrap();
        frames += ffprobe_frames(clear.to_str().unwrap());
        periods.insert(s["period"].as_u64().unwrap());
    }
    assert_eq!(frames, CLIP_FRAMES);
    // 6 segments, a new key every 2: periods 0, 1, 2, each with its own key file.
    assert_eq!(periods.into_iter().collect::<Vec<_>>(), vec![0, 1, 2]);
    assert_eq!(std::fs::read_dir(&keys).unwrap().count(), 3);
    let playlist = std::fs::read_to_string(p.out.join("360p/index.m3u8")).unwrap();
    assert_eq!(playlist.matches("#EXT-X-KEY:METHOD=AES-128").count(), 3);
}

#[test]
fn rotate_every_time_gives_one_period_per_interval() {
    let p = rotated(&[]);
    let t = TestDir::new();
    let out = t.join("timed");
    run_ok(package_clip(&out, &p.keyring).args([
        "--segment-duration",
        "2",
        "--rotate-every",
        "5s",
    ]));
    let m = manifest(&out);
    let by_seg: Vec<(f64, u64)> = m["renditions"][0]["segments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["start"].as_f64().unwrap(), s["period"].as_u64().unwrap()))
        .collect();
    // Keyframes every 2 s; key periods start at the first keyframe at or after 5 s and 10 s.
    for (start, period) in &by_seg {
        assert_eq!(*period, (start / 5.0).floor() as u64, "{by_seg:?}");
    }
    assert_eq!(by_seg.iter().map(|s| s.1).max(), Some(2));
    run_ok(
        shieldpack()
            .arg("verify")
            .arg(&out)
            .arg("--keyring")
            .arg(&p.keyring),
    );
}

#[test]
fn derived_ivs_are_explicit_unique_and_verify() {
    let p = rotated(&["--iv", "derived"]);
    let playlist = std::fs::read_to_string(p.out.join("360p/index.m3u8")).unwrap();
    let ivs: Vec<&str> = playlist
        .lines()
        .filter_map(|l| l.split(",IV=").nth(1))
        .collect();
    assert_eq!(ivs.len(), 6, "{playlist}");
    let unique: std::collections::HashSet<_> = ivs.iter().collect();
    assert_eq!(unique.len(), 6);
    let keys = p.t.join("keys");
    export_key_files(&p.keyring, &p.out, &keys);
    let m = manifest(&p.out);
    let s = &m["renditions"][0]["segments"][3];
    let key = std::fs::read(keys.join(format!("{}.key", s["kid"].as_str().unwrap()))).unwrap();
    let plain = openssl_decrypt(
        p.out.join(s["uri"].as_str().unwrap()),
        &hex::encode(key),
        s["iv"].as_str().unwrap(),
    )
    .unwrap();
    assert_eq!(plain[0], 0x47);
    run_ok(
        shieldpack()
            .arg("verify")
            .arg(&p.out)
            .arg("--keys")
            .arg(&keys),
    );
}

#[test]
fn two_runs_are_byte_identical() {
    let p = rotated(&[]);
    let again = p.t.join("again");
    run_ok(package_clip(&again, &p.keyring).args([
        "--segment-duration",
        "2",
        "--rotate-segments",
        "2",
    ]));
    let a = files_under(&p.out);
    let b = files_under(&again);
    assert_eq!(a.len(), b.len());
    assert!(a.len() >= 9);
    for f in &a {
        let rel = f.strip_prefix(&p.out).unwrap();
        assert_eq!(
            std::fs::read(f).unwrap(),
            std::fs::read(again.join(rel)).unwrap(),
            "{} differs",
            rel.display()
        );
    }
}

#[test]
fn verify_accepts_a_good_package_and_flags_a_flipped_byte_and_a_missing_segment() {
    let p = rotated(&[]);
    let o = run_ok(
        shieldpack()
            .arg("--json")
            .arg("verify")
            .arg(&p.out)
            .arg("--keyring")
            .arg(&p.keyring),
    );
    let r = stdout_json(&o);
    assert_eq!(r["ok"], true);
    assert_eq!(r["segments_decrypted"], 6);
    assert_eq!(r["video_frames"], CLIP_FRAMES);

    let seg = p.out.join("360p/seg_00002.ts");
    let mut bytes = std::fs::read(&seg).unwrap();
    bytes[1000] ^= 0x01;
    std::fs::write(&seg, &bytes).unwrap();
    let o = run_code(shieldpack().arg("verify").arg(&p.out), 1);
    assert!(
        stderr(&o).contains("360p/seg_00002.ts: SHA-256 differs"),
        "{}",
        stderr(&o)
    );

    std::fs::remove_file(p.out.join("360p/seg_00004.ts")).unwrap();
    let o = run_code(
        shieldpack()
            .arg("--json")
            .arg("verify")
            .arg(&p.out)
            .arg("--keyring")
            .arg(&p.keyring),
        1,
    );
    let defects = verify_defects(&o);
    assert!(
        defects
            .iter()
            .any(|d| d.starts_with("360p/seg_00004.ts: missing")),
        "{defects:?}"
    );
    assert!(
        defects
            .iter()
            .any(|d| d.starts_with("360p/seg_00002.ts: SHA-256")),
        "{defects:?}"
    );
}

#[test]
fn verify_with_the_wrong_keys_fails_decryption() {
    let p = rotated(&[]);
    let keys = p.t.join("keys");
    export_key_files(&p.keyring, &p.out, &keys);
    // Swap two key files: every segment of those periods must fail to decrypt.
    let names: Vec<PathBuf> = std::fs::read_dir(&keys)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    let (a, b) = (
        std::fs::read(&names[0]).unwrap(),
        std::fs::read(&names[1]).unwrap(),
    );
    std::fs::write(&names[0], b).unwrap();
    std::fs::write(&names[1], a).unwrap();
    let o = run_code(
        shieldpack()
            .arg("verify")
            .arg(&p.out)
            .arg("--keys")
            .arg(&keys),
        1,
    );
    let e = stderr(&o);
    assert!(
        e.contains("does not decrypt") || e.contains("not valid MPEG-TS"),
        "{e}"
    );
}

/// Every way a key could be spelled: raw, hex, HEX, base64 and base64url.
fn spellings(key: &[u8]) -> Vec<Vec<u8>> {
    use base64::Engine;
    let e = base64::engine::general_purpose::STANDARD_NO_PAD.encode(key);
    let u = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(key);
    vec![
        key.to_vec(),
        hex::encode(key).into_bytes(),
        hex::encode_upper(key).into_bytes(),
        e.into_bytes(),
        u.into_bytes(),
    ]
}

#[test]
fn no_key_material_lands_in_the_output_folder() {
    let p = rotated(&["--iv", "derived"]);
    let o = run_ok(
        shieldpack()
            .args(["--json", "keys", "show"])
            .arg(&p.keyring)
            .args(["--reveal", "--content-id", "clip", "--periods", "0..2"]),
    );
    let v = stdout_json(&o);
    let mut secrets = vec![hex::decode(v["revealed"]["master"].as_str().unwrap()).unwrap()];
    for k in v["revealed"]["keys"].as_array().unwrap() {
        secrets.push(hex::decode(k["key"].as_str().unwrap()).unwrap());
    }
    assert_eq!(secrets.len(), 4);
    let files = files_under(&p.out);
    assert!(files.len() >= 9);
    for f in files {
        let bytes = std::fs::read(&f).unwrap();
        for s in &secrets {
            for needle in spellings(s) {
                assert!(
                    !bytes.windows(needle.len()).any(|w| w == needle.as_slice()),
                    "{} holds key material",
                    f.display()
                );
            }
        }
    }
}

#[test]
fn playlists_obey_rfc_8216_and_carry_real_codecs() {
    let p = rotated(&[]);
    let master = std::fs::read_to_string(p.out.join("master.m3u8")).unwrap();
    let inf = master
        .lines()
        .find(|l| l.starts_with("#EXT-X-STREAM-INF:"))
        .unwrap();
    assert!(inf.contains("CODECS=\"avc1.64001e,mp4a.40.2\""), "{inf}");
    assert!(
        inf.contains("RESOLUTION=640x360") && inf.contains("FRAME-RATE=24.000"),
        "{inf}"
    );
    let bw: u64 = inf
        .split("BANDWIDTH=")
        .nth(1)
        .unwrap()
        .split(',')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let avg: u64 = inf
        .split("AVERAGE-BANDWIDTH=")
        .nth(1)
        .unwrap()
        .split(',')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!(bw >= avg && avg > 100_000, "{inf}");
    let media = std::fs::read_to_string(p.out.join("360p/index.m3u8")).unwrap();
    let target: f64 = media
        .lines()
        .find_map(|l| l.strip_prefix("#EXT-X-TARGETDURATION:"))
        .unwrap()
        .parse()
        .unwrap();
    let durs: Vec<f64> = media
        .lines()
        .filter_map(|l| l.strip_prefix("#EXTINF:"))
        .map(|d| d.trim_end_matches(',').parse().unwrap())
        .collect();
    assert!(durs.iter().all(|d| d.round() <= target));
    assert!((durs.iter().sum::<f64>() - 12.0).abs() < 0.01, "{durs:?}");
    for tag in [
        "#EXT-X-PLAYLIST-TYPE:VOD",
        "#EXT-X-ENDLIST",
        "#EXT-X-INDEPENDENT-SEGMENTS",
        "#EXT-X-VERSION:3",
    ] {
        assert!(media.contains(tag), "{tag} missing:\n{media}");
    }
}

#[test]
fn inspect_reads_packages_and_inputs() {
    let p = rotated(&[]);
    let o = run_ok(shieldpack().arg("--json").arg("inspect").arg(&p.out));
    let v = stdout_json(&o);
    assert_eq!(v["content_id"], "clip");
    assert_eq!(v["key_periods"].as_array().unwrap().len(), 3);
    let o = run_ok(
        shieldpack()
            .arg("--json")
            .arg("inspect")
            .arg(fixture("clip.mp4")),
    );
    let v = stdout_json(&o);
    assert_eq!(v["packagable"], true);
    assert_eq!(v["streams"][0]["codecs"], "avc1.64001e");
    let o = run_ok(shieldpack().arg("inspect").arg(&p.out));
    assert!(String::from_utf8_lossy(&o.stdout).contains("period 2 gen 0"));
}

#[test]
fn clear_package_needs_no_keyring_and_decodes() {
    let t = TestDir::new();
    let out = t.join("clear");
    run_ok(
        shieldpack()
            .arg("package")
            .arg(fixture("clip.mp4"))
            .arg("-o")
            .arg(&out)
            .arg("--clear"),
    );
    let media = std::fs::read_to_string(out.join("360p/index.m3u8")).unwrap();
    assert!(media.contains("#EXT-X-KEY:METHOD=NONE"));
    assert_eq!(
        ffprobe_frames(out.join("master.m3u8").to_str().unwrap()),
        CLIP_FRAMES
    );
    run_ok(shieldpack().arg("verify").arg(&out));
}

fn package_err(t: &TestDir, input: &Path, extra: &[&str]) -> String {
    let keyring = t.join("keyring.json");
    if !keyring.exists() {
        new_keyring(t);
    }
    let out = t.join("bad-out");
    let o = run_code(package_input(input, &out, &keyring).args(extra), 2);
    assert!(
        !out.exists()
            || std::fs::read_dir(&out).unwrap().next().is_none()
            || extra.contains(&"--keep"),
        "half-written output left behind"
    );
    let leftovers: Vec<_> = std::fs::read_dir(t.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().contains(".partial-"))
        .collect();
    assert!(leftovers.is_empty(), "staging folder left behind");
    let e = stderr(&o);
    assert!(e.contains("\nhint: "), "no hint in: {e}");
    assert!(!e.contains("panicked"), "{e}");
    e
}

#[test]
fn bad_inputs_get_clear_errors() {
    let t = TestDir::new();
    let e = package_err(&t, &t.join("nope.mp4"), &[]);
    assert!(e.contains("nope.mp4: no such file"), "{e}");

    let text = t.join("notes.mp4");
    std::fs::write(&text, "this is not a video\n").unwrap();
    let e = package_err(&t, &text, &[]);
    assert!(e.contains("notes.mp4: not a media file"), "{e}");

    let clip = std::fs::read(fixture("clip.mp4")).unwrap();
    let cut = t.join("cut.mp4");
    std::fs::write(&cut, &clip[..clip.len() / 2]).unwrap();
    let e = package_err(&t, &cut, &[]);
    assert!(e.contains("cut.mp4: the file is truncated"), "{e}");

    // With the index first (faststart), the cut shows up while reading packets.
    let fast = t.join("fast.mp4");
    run_ok(
        std::process::Command::new("ffmpeg")
            .args(["-v", "error", "-i"])
            .arg(fixture("clip.mp4"))
            .args(["-c", "copy", "-movflags", "+faststart"])
            .arg(&fast),
    );
    let bytes = std::fs::read(&fast).unwrap();
    let fast_cut = t.join("fast-cut.mp4");
    std::fs::write(&fast_cut, &bytes[..bytes.len() / 2]).unwrap();
    let e = package_err(&t, &fast_cut, &[]);
    assert!(e.contains("fast-cut.mp4: the file is truncated"), "{e}");

    let audio = t.join("audio.m4a");
    run_ok(
        std::process::Command::new("ffmpeg")
            .args([
                "-v", "error", "-f", "lavfi", "-i", "sine=d=1", "-c:a", "aac",
            ])
            .arg(&audio),
    );
    let e = package_err(&t, &audio, &[]);
    assert!(e.contains("audio.m4a: has no video stream"), "{e}");

    let vp9 = t.join("vp9.webm");
    run_ok(
        std::process::Command::new("ffmpeg")
            .args([
                "-v",
                "error",
                "-f",
                "lavfi",
                "-i",
                "testsrc2=size=160x90:d=1",
                "-c:v",
                "libvpx-vp9",
            ])
            .arg(&vp9),
    );
    let e = package_err(&t, &vp9, &[]);
    assert!(
        e.contains("video codec 'vp9' cannot be carried in MPEG-TS"),
        "{e}"
    );
    assert!(e.contains("-c:v libx264"), "{e}");

    let e = package_err(&t, &fixture("clip.mp4"), &["--rotate-every", "1s"]);
    assert!(e.contains("--rotate-every"), "{e}");
    let e = package_err(&t, &fixture("clip.mp4"), &["--key-uri", "k/{oops}"]);
    assert!(e.contains("unknown placeholder {oops}"), "{e}");
}

#[test]
fn an_existing_output_folder_is_kept_unless_forced() {
    let p = rotated(&[]);
    let before = std::fs::read(p.out.join("manifest.json")).unwrap();
    let o = run_code(&mut package_clip(&p.out, &p.keyring), 2);
    assert!(stderr(&o).contains("output folder exists and is not empty"));
    assert!(stderr(&o).contains("--force"));
    assert_eq!(std::fs::read(p.out.join("manifest.json")).unwrap(), before);
    run_ok(package_clip(&p.out, &p.keyring).arg("--force"));
    assert_ne!(
        std::fs::read(p.out.join("manifest.json")).unwrap(),
        before,
        "6 s segments now"
    );
    run_ok(
        shieldpack()
            .arg("verify")
            .arg(&p.out)
            .arg("--keyring")
            .arg(&p.keyring),
    );
}

#[test]
fn an_unwritable_output_folder_is_an_error() {
    let t = TestDir::new();
    let keyring = new_keyring(&t);
    let file = t.join("a-file");
    std::fs::write(&file, "x").unwrap();
    let o = run_code(&mut package_clip(file.join("out"), &keyring), 2);
    assert!(stderr(&o).contains("a-file"), "{}", stderr(&o));
}

/// Ctrl-C, and SIGTERM as Kubernetes or a CI runner stops a job: the run
/// stops between chunks, removes what it staged and exits 130. A SIGHUP that
/// nohup ignores stays ignored. SIGKILL cannot be caught: what it leaves goes
/// with the next run for the same folder.
#[test]
fn ctrl_c_or_sigterm_mid_package_exits_130_and_leaves_nothing_behind() {
    let t = TestDir::new();
    let keyring = new_keyring(&t);
    // A long input made by repeating the fixture, so the run is still going when interrupted.
    let list = t.join("list.txt");
    let line = format!("file '{}'\n", fixture("clip.mp4").display());
    std::fs::write(&list, line.repeat(40)).unwrap();
    let long = t.join("long.mp4");
    run_ok(
        std::process::Command::new("ffmpeg")
            .args(["-v", "error", "-f", "concat", "-safe", "0", "-i"])
            .arg(&list)
            .args(["-c", "copy"])
            .arg(&long),
    );
    let out = t.join("out");
    // Runs `cmd`, and sends `signal` once the staged package has a second
    // segment.
    let interrupt_with = |mut cmd: std::process::Command, signal: &str| {
        let mut child = cmd.stderr(std::process::Stdio::piped()).spawn().unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        let staged_second_segment = || {
            std::fs::read_dir(t.path()).unwrap().flatten().any(|e| {
                e.file_name().to_string_lossy().contains(".partial-")
                    && e.path().join("360p/seg_00001.ts").exists()
            })
        };
        while !staged_second_segment() {
            assert!(
                std::time::Instant::now() < deadline,
                "the staged package never appeared"
            );
            assert!(
                child.try_wait().unwrap().is_none(),
                "finished before it could be interrupted"
            );
            std::thread::sleep(std::time::Duration::from_millis(2));
        }
        run_ok(std::process::Command::new("kill").args([signal, &child.id().to_string()]));
        child.wait_with_output().unwrap()
    };
    // Packaging the long input, for every run below.
    let args: Vec<std::ffi::OsString> = vec![
        "package".into(),
        long.clone().into(),
        "-o".into(),
        out.clone().into(),
        "--keyring".into(),
        keyring.clone().into(),
        "--segment-duration".into(),
        "2".into(),
    ];
    // Packages the long input and sends `signal` midway.
    let interrupt = |signal: &str| {
        let mut cmd = shieldpack();
        cmd.args(&args);
        interrupt_with(cmd, signal)
    };
    for signal in ["-INT", "-TERM"] {
        let o = interrupt(signal);
        let e = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(130), "{signal}: {e}");
        assert!(e.contains("interrupted"), "{signal}: {e}");
        assert!(!out.exists(), "{signal}: a half package was published");
        let left = hidden_entries(t.path());
        assert!(left.is_empty(), "{signal}: staging left behind: {left:?}");
    }
    // Under nohup, SIGHUP stays ignored: the run goes on to publish.
    let o = interrupt_with(
        under(
            std::process::Command::new("nohup"),
            shieldpack().args(&args),
        ),
        "-HUP",
    );
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(out.join("manifest.json").is_file());
    std::fs::remove_dir_all(&out).unwrap();

    let o = interrupt("-KILL");
    assert_eq!(o.status.code(), None, "killed by the signal");
    assert_eq!(
        hidden_entries(t.path()).len(),
        1,
        "SIGKILL leaves the staging"
    );
    run_ok(&mut package_clip(&out, &keyring));
    assert_eq!(hidden_entries(t.path()), Vec::<String>::new());
}

#[test]
fn hls_js_in_chromium_plays_a_rotated_package_to_its_end() {
    let p = rotated(&[]);
    export_key_files(&p.keyring, &p.out, &p.out.join("360p/keys"));
    // Every key period's key was fetched: three distinct key URIs.
    let keys = assert_plays_to_end(&p.out, 6, CLIP_FRAMES);
    assert_eq!(keys.len(), 3, "{keys:?}");
}

/// What reaches the disk before the package is published, from the system
/// calls themselves: every segment, playlist and the manifest is flushed
/// (`fdatasync`) before the rename that makes the folder the package, so a
/// power cut cannot leave a published package (or `batch`'s record of a done
/// title) pointing at data that was only in memory.
#[test]
fn every_file_is_flushed_before_the_package_is_published() {
    let t = TestDir::new();
    let k = new_keyring(&t);
    let out = t.join("out");
    let trace = t.join("trace.txt");
    // The same command and clean environment, with strace in front.
    let mut strace = std::process::Command::new("strace");
    strace.args(["-f", "-qq", "-y", "-o"]).arg(&trace).args([
        "-e",
        "trace=fdatasync,fsync,rename,renameat,renameat2",
        "--",
    ]);
    run_ok(&mut under(
        strace,
        package_clip(&out, &k).args(["--segment-duration", "2"]),
    ));

    let text = std::fs::read_to_string(&trace).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let out_s = out.to_string_lossy().into_owned();
    // std's rename, whichever of the three calls it is, of the staged folder to OUT.
    let publish = lines
        .iter()
        .position(|l| l.contains("rename") && l.contains(&format!("\"{out_s}\"")))
        .unwrap_or_else(|| panic!("no rename to {out_s} in the trace:\n{text}"));
    let flushed: Vec<&str> = lines[..publish]
        .iter()
        .filter(|l| (l.contains("fdatasync(") || l.contains("fsync(")) && l.ends_with("= 0"))
        .copied()
        .collect();
    let mut files: Vec<String> = walkdir::WalkDir::new(&out)
        .into_iter()
        .map(|e| e.unwrap())
        .filter(|e| e.file_type().is_file())
        .map(|e| {
            e.path()
                .strip_prefix(&out)
                .unwrap()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    files.sort();
    let segments = files.iter().filter(|f| f.ends_with(".ts")).count();
    assert!(segments >= 5, "a 12 s clip in 2 s segments: {files:?}");
    for f in &files {
        assert!(
            flushed.iter().any(|l| l.contains(&format!("/{f}>"))),
            "{f} was not flushed before the package was published:\n{text}"
        );
    }
}

/// Makes `write` to regular files fail with ENOSPC once the process has
/// written FULL_AFTER bytes to them, under `LD_PRELOAD`: a disk that fills up
/// partway through a package.
const DISK_FULL: &str = r#"
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>
static atomic_long written;
ssize_t write(int fd, const void *buf, size_t n) {
    static ssize_t (*real)(int, const void *, size_t);
    if (!real) real = (ssize_t (*)(int, const void *, size_t))dlsym(RTLD_NEXT, "write");
    struct stat st;
    const char *limit = getenv("FULL_AFTER");
    if (limit && fstat(fd, &st) == 0 && S_ISREG(st.st_mode)
        && atomic_fetch_add(&written, (long)n) + (long)n > atol(limit)) {
        errno = ENOSPC;
        return -1;
    }
    return real(fd, buf, n);
}
"#;

/// A disk that fills up partway through: `package` stops with an error that
/// says the disk is full and how to see it, publishes nothing, removes what it
/// staged, and leaves a package it was to replace as it was.
#[test]
fn a_disk_filling_up_mid_package_publishes_nothing_and_says_so() {
    let t = TestDir::new();
    let k = new_keyring(&t);
    let shim = preload_shim(&t, "diskfull", DISK_FULL);
    let full = |out: &Path, extra: &[&str]| {
        let o = run_code(
            package_clip(out, &k)
                .args(["--segment-duration", "2"])
                .args(extra)
                .env("LD_PRELOAD", &shim)
                .env("FULL_AFTER", "100000"),
            2,
        );
        let e = stderr(&o);
        assert!(e.contains(".ts: No space left on device"), "{e}");
        assert!(e.contains("hint: the file system is full"), "{e}");
        assert!(!e.contains("panicked"), "{e}");
    };
    let fresh = t.join("fresh");
    full(&fresh, &[]);
    assert!(!fresh.exists(), "a partial package was published");

    let out = t.join("out");
    run_ok(&mut package_clip(&out, &k));
    let before = snapshot(&out);
    full(&out, &["--force"]);
    assert!(
        snapshot(&out) == before,
        "the package --force was to replace changed"
    );
    let left = hidden_entries(t.path());
    assert!(left.is_empty(), "staging left behind: {left:?}");
}

/// stderr on a full disk (`2>log`) or a closed pipe loses the messages, not
/// the outcome: a package is published and exits 0, an error still exits 2;
/// `eprintln!` made both a panic with exit 101.
#[test]
fn an_unwritable_stderr_changes_no_exit_status() {
    let t = TestDir::new();
    let k = new_keyring(&t);
    let full = || std::process::Stdio::from(std::fs::File::create("/dev/full").unwrap());
    let out = t.join("out");
    let o = package_clip(&out, &k).stderr(full()).output().unwrap();
    assert_eq!(o.status.code(), Some(0));
    run_ok(
        shieldpack()
            .arg("verify")
            .arg(&out)
            .arg("--keyring")
            .arg(&k),
    );
    let o = shieldpack()
        .args(["keys", "show"])
        .arg(t.join("no-such-keyring.json"))
        .stderr(full())
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    let o = shieldpack()
        .arg("verify")
        .arg(&out)
        .arg("--keyring")
        .arg(&k)
        .arg("--json")
        .stderr(full())
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0));
    assert_eq!(stdout_json(&o)["ok"], true, "{}", stdout(&o));
}

/// Video packets in a file, counted by ffprobe without decoding.
fn video_packets(file: &Path) -> u64 {
    let o = run_ok(
        std::process::Command::new("ffprobe")
            .args(["-v", "error", "-count_packets", "-select_streams", "v:0"])
            .args(["-show_entries", "stream=nb_read_packets", "-of", "csv=p=0"])
            .arg(file),
    );
    let text = stdout(&o);
    let first = text.trim().lines().next().unwrap_or_default();
    first
        .trim()
        .trim_end_matches(',')
        .parse()
        .unwrap_or_else(|_| panic!("{text:?}"))
}

/// Cut at an open GOP's I picture, a segment whose leading pictures refer to
/// the GOP before needs the previous segment, so the playlists must not claim
/// EXT-X-INDEPENDENT-SEGMENTS, and the warning must count exactly the
/// segments that FFmpeg cannot fully decode alone. The same holds for a
/// segment cut at a gradual intra refresh's recovery point, a P picture that
/// x264 marks as a keyframe. Every segment must still carry the parameter
/// sets (FFmpeg's rules put them only in front of IDR pictures), or a player
/// that starts there decodes nothing at all; that holds for MPEG-TS input
/// too, whose H.264 arrives in Annex B.
#[test]
fn open_gop_segments_carry_parameter_sets_and_are_not_called_independent() {
    let t = TestDir::new();
    let open_mp4 = x264_gops(&t.join("open.mp4"), Gop::Open, 8);
    let open_ts = t.join("open.ts");
    run_ok(
        std::process::Command::new("ffmpeg")
            .args(["-v", "error", "-nostdin", "-y", "-i"])
            .arg(&open_mp4)
            .args(["-c", "copy", "-f", "mpegts"])
            .arg(&open_ts),
    );
    let inputs = [
        (Gop::Open, open_mp4),
        (Gop::Open, open_ts),
        (
            Gop::Refresh,
            x264_gops(&t.join("refresh.mp4"), Gop::Refresh, 8),
        ),
        (
            Gop::Closed,
            x264_gops(&t.join("closed.mp4"), Gop::Closed, 8),
        ),
    ];
    for (i, (gop, input)) in inputs.into_iter().enumerate() {
        let out = t.join(format!("pkg-{i}"));
        let o = run_ok(
            shieldpack()
                .arg("package")
                .arg(&input)
                .arg("-o")
                .arg(&out)
                .args(["--clear", "--segment-duration", "2"]),
        );
        let err = stderr(&o);
        let media = std::fs::read_to_string(out.join("180p/index.m3u8")).unwrap();
        let master = std::fs::read_to_string(out.join("master.m3u8")).unwrap();
        let segments: Vec<_> = media.lines().filter(|l| l.ends_with(".ts")).collect();
        assert_eq!(segments.len(), 4, "{media}");
        // Each segment alone: some of its pictures decode, never none; of an
        // open GOP, all but the leading ones.
        let mut short = 0;
        for seg in &segments {
            let file = out.join("180p").join(seg);
            let packets = video_packets(&file);
            let (frames, log) = ffmpeg_decode_ok(&file);
            let most = gop != Gop::Open || frames + 4 > packets;
            assert!(
                most && frames > 0,
                "{}: {seg} alone decoded {frames} of {packets} frames: {log}",
                input.display()
            );
            short += usize::from(frames < packets);
        }
        assert_eq!(
            ffprobe_frames(out.join("180p/index.m3u8")),
            192,
            "{}",
            input.display()
        );
        let tagged = |p: &str| p.contains("#EXT-X-INDEPENDENT-SEGMENTS");
        let why = match gop {
            Gop::Open => "start at an open-GOP keyframe",
            Gop::Refresh => "start in a gradual intra refresh",
            Gop::Closed => {
                assert_eq!(short, 0, "{}", input.display());
                assert!(!err.contains("segment before"), "{err}");
                assert!(tagged(&media) && tagged(&master), "{media}\n{master}");
                continue;
            }
        };
        assert!(short > 0, "x264 made no dependent segments to test with");
        let says =
            format!("{short} of 4 segments need the segment before to decode: {short} {why}");
        assert!(err.contains(&says), "wanted {says:?}: {err}");
        assert!(!tagged(&media) && !tagged(&master), "{media}\n{master}");
    }
}

/// Issue 25, item 4: `視頻.mp4` and `電影.mp4` both used to get content id
/// `--`, so one keyring gave them the same keys, KIDs and sequence IVs.
#[test]
fn package_gives_non_ascii_titles_distinct_content_ids() {
    let t = TestDir::new();
    let keyring = new_keyring(&t);
    let mut kids = Vec::new();
    let mut ids = Vec::new();
    for (i, name) in ["視頻.mp4", "電影.mp4"].iter().enumerate() {
        // Two different titles: different cuts of the fixture.
        let input = t.join(name);
        run_ok(
            ffmpeg()
                .arg("-i")
                .arg(fixture("clip.mp4"))
                .args(["-t", if i == 0 { "6" } else { "8" }, "-c", "copy"])
                .arg(&input),
        );
        let out = t.join(format!("out{i}"));
        run_ok(&mut package_input(&input, &out, &keyring));
        let m = manifest(&out);
        ids.push(m["content_id"].as_str().unwrap().to_string());
        kids.push(
            m["renditions"][0]["segments"][0]["kid"]
                .as_str()
                .unwrap()
                .to_string(),
        );
        run_ok(
            shieldpack()
                .arg("verify")
                .arg(&out)
                .arg("--keyring")
                .arg(&keyring),
        );
    }
    assert_ne!(ids[0], ids[1], "two titles share a content id");
    assert_ne!(kids[0], kids[1], "two titles share a key");
    for id in &ids {
        assert!(id.starts_with("title-") && id.len() == 18, "{id}");
    }
    // ASCII names keep the ids (and keys) they always had.
    let out = t.join("clip-out");
    run_ok(&mut package_clip(&out, &keyring));
    assert_eq!(manifest(&out)["content_id"], "clip");

    // An explicit id of punctuation only, or empty, is refused with a hint.
    for bad in ["--", "", "._."] {
        let o = run_status(
            package_clip(t.join("bad"), &keyring).arg(format!("--content-id={bad}")),
            2,
        );
        let e = stderr(&o);
        assert!(
            e.contains("content id") && e.contains("\nhint: "),
            "{bad}: {e}"
        );
        assert!(!t.join("bad").exists());
    }
}

/// The EXTINF values of a media playlist, in order.
fn extinfs(playlist: &Path) -> Vec<f64> {
    std::fs::read_to_string(playlist)
        .unwrap()
        .lines()
        .filter_map(|l| l.strip_prefix("#EXTINF:"))
        .map(|v| v.trim_end_matches(',').parse().expect("an EXTINF number"))
        .collect()
}

/// ffprobe's `entries` (e.g. `packet=duration_time`) of the first video stream,
/// one value a line.
fn ffprobe_video(file: &Path, entries: &str) -> Vec<f64> {
    let o = run_ok(
        std::process::Command::new("ffprobe")
            .args(["-v", "error", "-select_streams", "v:0"])
            .args(["-show_entries", entries, "-of", "csv=p=0"])
            .arg(file),
    );
    stdout(&o)
        .lines()
        .filter_map(|l| l.trim().trim_end_matches(',').parse().ok())
        .collect()
}

/// Packages `input` with a new keyring, checks that `verify` with the keyring
/// accepts it and that FFmpeg decodes `frames` frames from it with the
/// exported keys, and returns its one playlist's EXTINFs.
fn package_verify_decode(t: &TestDir, input: &Path, frames: u64) -> Vec<f64> {
    let keyring = new_keyring(t);
    let out = t.join("out");
    let mut c = shieldpack();
    c.arg("package")
        .arg(input)
        .arg("-o")
        .arg(&out)
        .arg("--keyring")
        .arg(&keyring);
    run_ok(&mut c);
    let o = run_ok(
        shieldpack()
            .arg("--json")
            .arg("verify")
            .arg(&out)
            .arg("--keyring")
            .arg(&keyring),
    );
    let r = stdout_json(&o);
    assert_eq!(r["ok"], true, "{r}");
    assert_eq!(r["video_frames"], frames, "{r}");
    let rendition = manifest(&out)["renditions"][0]["name"]
        .as_str()
        .unwrap()
        .to_owned();
    export_key_files(&keyring, &out, &out.join(&rendition).join("keys"));
    let playlist = out.join(&rendition).join("index.m3u8");
    assert_eq!(ffprobe_frames(&playlist), frames);
    let durations = extinfs(&playlist);
    let sum: f64 = durations.iter().sum();
    let recorded = manifest(&out)["source"]["duration"].as_f64().unwrap();
    assert!(
        (sum - recorded).abs() < 0.0015,
        "{durations:?} vs {recorded}"
    );
    durations
}

/// Issue 25 item 6: a 1 fps input got `#EXTINF:5.493` for 3 s of video (the
/// first frame's duration was read after the muxer had rescaled it to 90 kHz)
/// and `package` exited 0 on what its own `verify` rejects.
#[test]
fn a_one_fps_input_gets_extinf_from_its_timestamps() {
    let t = TestDir::new();
    let input = t.join("one-fps.mp4");
    run_ok(
        ffmpeg()
            .args([
                "-f",
                "lavfi",
                "-i",
                "testsrc2=size=320x240:rate=1",
                "-t",
                "3",
            ])
            .args(["-c:v", "libx264", "-g", "1", "-pix_fmt", "yuv420p"])
            .arg(&input),
    );
    let length = ffprobe_video(&input, "stream=duration")[0];
    assert!((length - 3.0).abs() < 1e-6, "ffprobe: {length}");
    let durations = package_verify_decode(&t, &input, 3);
    let sum: f64 = durations.iter().sum();
    // Within a frame (1 s) is what the item asks; the time stamps give it
    // to the millisecond.
    assert!((sum - length).abs() <= 0.001, "{durations:?}");
}

/// Issue 25 item 6: a one-frame clip lasts its one frame (it got 0.281 s
/// for a 40 ms frame in MP4's 1/12800 time base).
#[test]
fn a_one_frame_clip_packages_and_verifies() {
    one_frame_clip_lasts_its_frame("mp4");
}

/// Issue 25 item 6, in Matroska's 1/1000 time base: a 40 ms frame counted
/// as 3.6 s (3600 ticks of 90 kHz taken as milliseconds).
#[test]
fn a_one_frame_mkv_clip_packages_and_verifies() {
    one_frame_clip_lasts_its_frame("mkv");
}

/// A one-frame 25 fps clip in a container of type `ext` packages, verifies
/// and decodes to one segment of one frame's duration.
fn one_frame_clip_lasts_its_frame(ext: &str) {
    let t = TestDir::new();
    let input = t.join(format!("one-frame.{ext}"));
    run_ok(
        ffmpeg()
            .args(["-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25"])
            .args(["-frames:v", "1", "-c:v", "libx264", "-pix_fmt", "yuv420p"])
            .arg(&input),
    );
    let frame = ffprobe_video(&input, "packet=duration_time");
    assert_eq!(frame, [0.04], "ffprobe's packet durations");
    assert_eq!(package_verify_decode(&t, &input, 1), [0.04]);
}

/// Each stream's first `pts_time` in `input` (stream index -> seconds), and
/// every `pts_time` of its packets, as ffprobe reads them.
fn first_pts(input: &Path) -> (std::collections::BTreeMap<String, f64>, Vec<f64>) {
    let out = run_ok(
        std::process::Command::new("ffprobe")
            .args([
                "-v",
                "error",
                "-show_entries",
                "packet=stream_index,pts_time",
            ])
            .args(["-of", "csv=p=0"])
            .arg(input),
    );
    let mut firsts = std::collections::BTreeMap::new();
    let mut all = Vec::new();
    for line in stdout(&out).lines() {
        let mut f = line.split(',');
        let (Some(s), Some(t)) = (f.next(), f.next()) else {
            continue;
        };
        let t: f64 = t
            .parse()
            .unwrap_or_else(|_| panic!("pts_time {t:?} in {line:?}"));
        let first = firsts.entry(s.to_string()).or_insert(t);
        *first = first.min(t);
        all.push(t);
    }
    (firsts, all)
}

#[test]
fn no_stream_starts_below_zero_in_the_first_segment() {
    // Without B-frames the first video packet is at 0 while AAC's priming
    // puts the first audio packet at -1024/48000 s: it used to be written
    // wrapped to 2^33 ticks of 90 kHz (about 95443 s).
    let t = TestDir::new();
    let input = t.join("no-bframes.mp4");
    run_ok(
        ffmpeg()
            .args([
                "-f",
                "lavfi",
                "-i",
                "testsrc2=size=320x240:rate=25:duration=3",
            ])
            .args([
                "-f",
                "lavfi",
                "-i",
                "sine=frequency=440:sample_rate=48000:duration=3",
            ])
            .args([
                "-c:v",
                "libx264",
                "-bf",
                "0",
                "-g",
                "25",
                "-c:a",
                "aac",
                "-shortest",
            ])
            .arg(&input),
    );
    let (src, _) = first_pts(&input);
    assert!(
        src["1"] < 0.0,
        "the source no longer starts audio below zero: {src:?}"
    );
    let out = t.join("out");
    run_ok(
        shieldpack()
            .arg("package")
            .arg(&input)
            .arg("-o")
            .arg(&out)
            .args(["--clear", "--segment-duration", "1"]),
    );
    let (firsts, all) = first_pts(&out.join("240p/seg_00000.ts"));
    assert_eq!(
        firsts.len(),
        2,
        "video and audio in the first segment: {firsts:?}"
    );
    // A 1 s segment, its audio running a frame or two past the next keyframe.
    for t in &all {
        assert!(
            (0.0..1.5).contains(t),
            "pts_time {t} in the first segment: {firsts:?}"
        );
    }
    let offset = |m: &std::collections::BTreeMap<String, f64>| m["1"] - m["0"];
    assert!(
        (offset(&firsts) - offset(&src)).abs() < 0.1,
        "A/V offset {firsts:?} against the source's {src:?}"
    );
    assert_eq!(
        ffprobe_frames(out.join("master.m3u8").to_str().unwrap()),
        ffprobe_frames(&input)
    );
    run_ok(shieldpack().arg("verify").arg(&out));
}

#[test]
fn a_rotated_phone_video_is_refused_with_a_hint() {
    // MPEG-TS has no display matrix and players ignore rotation there, and
    // `package` never re-encodes: a phone's portrait video would play
    // sideways under a landscape RESOLUTION.
    let t = TestDir::new();
    let coded = t.join("coded.mp4");
    run_ok(
        ffmpeg()
            .args([
                "-f",
                "lavfi",
                "-i",
                "testsrc2=size=320x240:rate=25:duration=1",
            ])
            .args(["-c:v", "libx264"])
            .arg(&coded),
    );
    // FFmpeg 5.1 writes the display matrix for `rotate` on a stream copy
    // (`-display_rotation` is FFmpeg 6 and later); which way it turns
    // differs between versions, so either quarter turn is right.
    let rotated = t.join("phone.mp4");
    run_ok(
        ffmpeg()
            .arg("-i")
            .arg(&coded)
            .args(["-c", "copy", "-metadata:s:v:0", "rotate=90"])
            .arg(&rotated),
    );
    let e = package_err(&t, &rotated, &[]);
    assert!(
        e.contains("90 degrees clockwise") || e.contains("270 degrees clockwise"),
        "rotation not named: {e}"
    );
    assert!(
        e.contains("display matrix") && e.contains("-c:v libx264"),
        "{e}"
    );
    let o = run_ok(shieldpack().arg("inspect").arg(&rotated));
    let text = stdout(&o);
    assert!(text.contains("degrees clockwise for display"), "{text}");
    assert!(text.contains("packagable: no"), "{text}");
    // Turned upright by FFmpeg, as the hint says, it packages, and
    // RESOLUTION is the picture as shown: 240x320.
    let upright = t.join("upright.mp4");
    run_ok(
        ffmpeg()
            .arg("-i")
            .arg(&rotated)
            .args(["-c:v", "libx264", "-c:a", "copy"])
            .arg(&upright),
    );
    let out = t.join("out");
    run_ok(
        shieldpack()
            .arg("package")
            .arg(&upright)
            .arg("-o")
            .arg(&out)
            .arg("--clear"),
    );
    let master = std::fs::read_to_string(out.join("master.m3u8")).unwrap();
    assert!(master.contains("RESOLUTION=240x320"), "{master}");
    // A 0-degree matrix is no turn at all.
    let zero = t.join("zero.mp4");
    run_ok(
        ffmpeg()
            .arg("-i")
            .arg(&coded)
            .args(["-c", "copy", "-metadata:s:v:0", "rotate=0"])
            .arg(&zero),
    );
    run_ok(
        shieldpack()
            .arg("package")
            .arg(&zero)
            .arg("-o")
            .arg(t.join("zero-out"))
            .arg("--clear"),
    );
}

/// The `m3u8` library (an independent parser) reads our playlists as we meant
/// them: one variant, every segment of the manifest, one key line per period.
#[test]
fn m3u8_library_reads_our_playlists() {
    let p = rotated(&[]);
    let m = manifest(&p.out);
    let segs = m["renditions"][0]["segments"].as_array().unwrap();
    let script = r#"
import json, sys, m3u8
master = m3u8.load(sys.argv[1] + "/master.m3u8")
v = master.playlists[0]
media = m3u8.load(sys.argv[1] + "/" + v.uri)
print(json.dumps({
    "variants": len(master.playlists),
    "bandwidth": v.stream_info.bandwidth,
    "segments": [s.uri for s in media.segments],
    "methods": sorted({k.method for k in media.keys if k}),
    "key_uris": [k.uri for k in media.keys if k],
    "endlist": media.is_endlist,
}))
"#;
    let out = run_ok(python().arg("-c").arg(script).arg(&p.out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["variants"], 1);
    assert!(v["bandwidth"].as_u64().unwrap() > 0);
    assert_eq!(v["endlist"], true);
    assert_eq!(v["methods"], serde_json::json!(["AES-128"]));
    let uris: Vec<&str> = segs.iter().map(|s| s["uri"].as_str().unwrap()).collect();
    let listed: Vec<String> = v["segments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            format!(
                "{}/{}",
                m["renditions"][0]["name"].as_str().unwrap(),
                s.as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(listed, uris);
    // Two segments a period: one key line for every period.
    let periods: std::collections::BTreeSet<u64> =
        segs.iter().map(|s| s["period"].as_u64().unwrap()).collect();
    assert_eq!(v["key_uris"].as_array().unwrap().len(), periods.len());
}
