//! I-frame playlists (issue 21 part 2, RFC 8216 4.3.3.6 and 4.3.4.3): a clear
//! TS package names one `iframes.m3u8` per rendition in its master, whose
//! byte ranges start exactly where ffprobe finds the keyframes' PES in the
//! segments, which FFmpeg decodes keyframe by keyframe, and which verify
//! checks; an AES-128 package has none. A CMAF package (clear, cbcs,
//! cenc) has one range per fragment, from its moof to the end of its
//! keyframe, which FFmpeg decodes (and decrypts) behind the init segment.

use std::path::{Path, PathBuf};

use crate::util::*;

const SECONDS: u32 = 4;
const FPS: u32 = 25;

/// 640x360, 4 s, a keyframe every second (two per 2-second segment), AAC.
fn input(t: &TestDir) -> PathBuf {
    let out = t.join("in.mp4");
    run_ok(
        ffmpeg()
            .args(["-f", "lavfi", "-i"])
            .arg(format!(
                "testsrc2=size=640x360:rate={FPS}:duration={SECONDS}"
            ))
            .args(["-f", "lavfi", "-i"])
            .arg(format!("sine=frequency=440:duration={SECONDS}"))
            .args(["-c:v", "libx264", "-preset", "ultrafast", "-g", "25"])
            .args(["-sc_threshold", "0", "-c:a", "aac", "-b:a", "64k"])
            .arg(&out),
    );
    out
}

/// Byte offsets of the keyframe packets of a TS file, as ffprobe reads them
/// (a packet's pos is where the TS packet starting its PES is).
fn keyframe_positions(seg: &Path) -> Vec<u64> {
    let o = run_ok(
        std::process::Command::new("ffprobe")
            .args(["-v", "error", "-select_streams", "v:0", "-show_entries"])
            .args(["packet=pos,flags", "-of", "csv=p=0"])
            .arg(seg),
    );
    stdout(&o)
        .lines()
        .filter_map(|l| {
            let (pos, flags) = l.split_once(',')?;
            flags.starts_with('K').then(|| pos.parse().unwrap())
        })
        .collect()
}

/// (segment, offset, length) of every entry of an I-frame playlist.
fn ranges(playlist: &str) -> Vec<(String, u64, u64)> {
    let mut out = Vec::new();
    let mut range = None;
    for l in playlist.lines() {
        if let Some(r) = l.strip_prefix("#EXT-X-BYTERANGE:") {
            let (len, off) = r.split_once('@').unwrap();
            range = Some((off.parse().unwrap(), len.parse().unwrap()));
        } else if !l.starts_with('#') && !l.is_empty() {
            let (off, len) = range.take().expect("a range before every URI");
            out.push((l.to_string(), off, len));
        }
    }
    out
}

#[test]
fn a_clear_ts_package_has_i_frame_playlists_at_the_keyframes_that_ffmpeg_decodes() {
    let t = TestDir::new();
    let src = input(&t);
    let out = t.join("out");
    run_ok(
        shieldpack()
            .arg("package")
            .arg(&src)
            .arg("-o")
            .arg(&out)
            .args(["--clear", "--segment-duration", "2"]),
    );
    let master = std::fs::read_to_string(out.join("master.m3u8")).unwrap();
    let line = master
        .lines()
        .find(|l| l.starts_with("#EXT-X-I-FRAME-STREAM-INF:"))
        .unwrap_or_else(|| panic!("no I-frame stream: {master}"));
    assert!(line.contains("RESOLUTION=640x360"), "{line}");
    assert!(line.contains("CODECS=\"avc1."), "{line}");
    let uri = line.split("URI=\"").nth(1).unwrap().trim_end_matches('"');
    let playlist = std::fs::read_to_string(out.join(uri)).unwrap();
    assert!(playlist.contains("\n#EXT-X-I-FRAMES-ONLY\n"), "{playlist}");
    // The map is the first segment's tables, up to its first keyframe.
    let rdir = out.join(uri).parent().unwrap().to_path_buf();
    let first = keyframe_positions(&rdir.join("seg_00000.ts"))[0];
    assert!(
        playlist.contains(&format!(
            "#EXT-X-MAP:URI=\"seg_00000.ts\",BYTERANGE=\"{first}@0\""
        )),
        "{playlist}"
    );

    // The ranges start where ffprobe finds the keyframes, one per second.
    let got = ranges(&playlist);
    assert_eq!(got.len(), SECONDS as usize, "{playlist}");
    let mut segs: Vec<&str> = got.iter().map(|r| r.0.as_str()).collect();
    segs.dedup();
    for seg in segs {
        let want = keyframe_positions(&rdir.join(seg));
        let offsets: Vec<u64> = got.iter().filter(|r| r.0 == seg).map(|r| r.1).collect();
        assert_eq!(offsets, want, "{seg}");
        let size = std::fs::metadata(rdir.join(seg)).unwrap().len();
        for r in got.iter().filter(|r| r.0 == seg) {
            assert!(r.1 + r.2 <= size && r.1 % 188 == 0, "{r:?}");
        }
    }

    // FFmpeg reads the I-frame playlist: one picture per entry, no errors.
    let server = HttpServer::serve(&out);
    let (frames, errors) = ffmpeg_decode(&server.url(uri));
    assert_eq!(errors, "", "FFmpeg reported decode errors");
    assert_eq!(frames, SECONDS as u64);
    drop(server);
    run_ok(shieldpack().arg("verify").arg(&out));

    // verify catches a range moved off its keyframe.
    let moved = playlist.replacen(&format!("@{first}\n"), &format!("@{}\n", first + 188), 1);
    assert_ne!(moved, playlist);
    std::fs::write(out.join(uri), moved).unwrap();
    let o = run_code(shieldpack().arg("--json").arg("verify").arg(&out), 1);
    let defects = verify_defects(&o);
    assert!(
        defects
            .iter()
            .any(|d| d.contains("does not start at the TS packet starting a keyframe's PES")),
        "{defects:?}"
    );
}

#[test]
fn an_aes_128_package_has_no_i_frame_playlist() {
    let t = TestDir::new();
    let keyring = new_keyring(&t);
    let out = t.join("out");
    run_ok(package_input(input(&t), &out, &keyring).args(["--segment-duration", "2"]));
    let master = std::fs::read_to_string(out.join("master.m3u8")).unwrap();
    assert!(!master.contains("I-FRAME"), "{master}");
    assert!(files_under(&out)
        .iter()
        .all(|f| !f.ends_with("iframes.m3u8")));
}

/// An I-frame playlist as the m3u8 library reads it.
const READ_IFRAMES: &str = r#"
import json, sys, m3u8
pl = m3u8.load(sys.argv[1])
out = {
    "iframes_only": pl.is_i_frames_only,
    "version": pl.version,
    "maps": [m.uri for m in (pl.segment_map or [])],
    "entries": [],
}
for s in pl.segments:
    length, offset = s.byterange.split("@")
    out["entries"].append({
        "uri": s.uri,
        "length": int(length),
        "offset": int(offset),
        "duration": s.duration,
        "method": s.key.method if s.key and s.key.method != "NONE" else None,
    })
print(json.dumps(out))
"#;

/// Packages the 4-second input as cmaf in 2-second segments, clear or
/// under `scheme`, and checks its I-frame playlist: the master names it
/// with the video's codec and size, the m3u8 library reads one entry per
/// fragment under EXT-X-MAP init.mp4 (and the scheme's key), and each
/// entry's bytes behind init.mp4 decode with FFmpeg to one keyframe, the
/// very picture that decoding the whole segment starts with; verify passes.
fn cmaf_i_frames_decode(t: &TestDir, scheme: Option<(&str, &str)>) {
    let src = input(t);
    let out = t.join("out");
    let mut c = shieldpack();
    c.arg("package").arg(&src).arg("-o").arg(&out);
    c.args(["--format", "cmaf", "--segment-duration", "2"]);
    let key = match scheme {
        None => {
            c.arg("--clear");
            None
        }
        Some((scheme, _)) => {
            let kr = new_keyring(t);
            c.arg("--keyring").arg(&kr).args(["--scheme", scheme]);
            Some(kr)
        }
    };
    run_ok(&mut c);
    let key = key.map(|kr| {
        let dir = t.join("keys");
        export_key_files(&kr, &out, &dir);
        let files: Vec<PathBuf> = files_under(&dir)
            .into_iter()
            .filter(|p| p.extension().is_some_and(|e| e == "key"))
            .collect();
        assert_eq!(files.len(), 1, "one key period: {files:?}");
        hex::encode(std::fs::read(&files[0]).unwrap())
    });

    let master = std::fs::read_to_string(out.join("master.m3u8")).unwrap();
    let line = master
        .lines()
        .find(|l| l.starts_with("#EXT-X-I-FRAME-STREAM-INF:"))
        .unwrap_or_else(|| panic!("no I-frame stream: {master}"));
    assert!(line.contains("RESOLUTION=640x360"), "{line}");
    assert!(line.contains("CODECS=\"avc1."), "{line}");
    assert!(!line.contains("mp4a"), "video codecs only: {line}");
    assert!(line.ends_with("URI=\"360p/iframes.m3u8\""), "{line}");
    let bandwidth: f64 = line
        .split("BANDWIDTH=")
        .nth(1)
        .unwrap()
        .split(',')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let path = out.join("360p/iframes.m3u8");

    let o = run_ok(python().arg("-c").arg(READ_IFRAMES).arg(&path));
    let pl: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(pl["iframes_only"], true, "{pl}");
    assert!(pl["version"].as_u64().unwrap() >= 5, "{pl}");
    assert_eq!(pl["maps"], serde_json::json!(["init.mp4"]), "{pl}");
    let entries = pl["entries"].as_array().unwrap();
    let segs = crate::cmaf::segments(&out);
    assert_eq!(entries.len(), segs.len(), "one entry per fragment: {pl}");
    assert_eq!(segs.len(), (SECONDS / 2) as usize, "{segs:?}");
    let total: f64 = entries
        .iter()
        .map(|e| e["duration"].as_f64().unwrap())
        .sum();
    assert!((total - f64::from(SECONDS)).abs() < 0.05, "{pl}");
    let want_method = scheme.map(|(_, m)| m);
    for (e, seg) in entries.iter().zip(&segs) {
        assert_eq!(e["method"].as_str(), want_method, "{e}");
        assert_eq!(
            e["uri"].as_str().unwrap(),
            seg.file_name().unwrap().to_str().unwrap()
        );
        let (off, len) = (
            e["offset"].as_u64().unwrap() as usize,
            e["length"].as_u64().unwrap() as usize,
        );
        let bytes = std::fs::read(seg).unwrap();
        assert!(off + len < bytes.len(), "a keyframe, not the fragment: {e}");
        assert_eq!(&bytes[off + 4..off + 8], b"moof", "{e}");
        assert!(
            len as f64 * 8.0 / e["duration"].as_f64().unwrap() <= bandwidth,
            "BANDWIDTH {bandwidth} below {e}"
        );
        assert_range_decodes(t, &out, seg, off, len, key.as_deref(), &e.to_string());
    }
    run_ok(shieldpack().arg("verify").arg(&out));
}

#[test]
fn a_clear_cmaf_package_has_i_frame_playlists_of_one_keyframe_per_fragment() {
    let t = TestDir::new();
    cmaf_i_frames_decode(&t, None);
}

#[test]
fn a_cbcs_cmaf_package_has_i_frame_playlists_that_decrypt_on_their_own() {
    let t = TestDir::new();
    cmaf_i_frames_decode(&t, Some(("cbcs", "SAMPLE-AES")));
}

#[test]
fn a_cenc_cmaf_package_has_i_frame_playlists_that_decrypt_on_their_own() {
    let t = TestDir::new();
    cmaf_i_frames_decode(&t, Some(("cenc", "SAMPLE-AES-CTR")));
}

#[test]
fn verify_reports_a_cmaf_i_frame_range_moved_off_its_moof_or_cut_short() {
    let t = TestDir::new();
    let src = input(&t);
    let out = t.join("out");
    run_ok(
        shieldpack()
            .arg("package")
            .arg(&src)
            .arg("-o")
            .arg(&out)
            .args(["--format", "cmaf", "--clear", "--segment-duration", "2"]),
    );
    let path = out.join("360p/iframes.m3u8");
    let playlist = std::fs::read_to_string(&path).unwrap();
    let (_, off, len) = ranges(&playlist)[0].clone();
    let this = format!("#EXT-X-BYTERANGE:{len}@{off}\n");
    assert!(playlist.contains(&this), "{playlist}");
    for (edit, want) in [
        (
            format!("#EXT-X-BYTERANGE:{len}@{}\n", off + 8),
            "does not start at a fragment's moof",
        ),
        (
            format!("#EXT-X-BYTERANGE:{}@{off}\n", len - 1),
            "before the end of the fragment's first sample",
        ),
    ] {
        std::fs::write(&path, playlist.replacen(&this, &edit, 1)).unwrap();
        let o = run_code(shieldpack().arg("--json").arg("verify").arg(&out), 1);
        let defects = verify_defects(&o);
        assert!(
            defects
                .iter()
                .any(|d| d.contains("iframes.m3u8") && d.contains(want)),
            "{want}: {defects:?}"
        );
    }
}

#[test]
fn an_aes_128_cmaf_package_has_no_i_frame_playlist() {
    let t = TestDir::new();
    let keyring = new_keyring(&t);
    let out = t.join("out");
    run_ok(
        package_input(input(&t), &out, &keyring)
            .args(["--format", "cmaf", "--scheme", "aes-128"])
            .args(["--segment-duration", "2"]),
    );
    let master = std::fs::read_to_string(out.join("master.m3u8")).unwrap();
    assert!(!master.contains("I-FRAME"), "{master}");
    assert!(files_under(&out)
        .iter()
        .all(|f| !f.ends_with("iframes.m3u8")));
}

/// Regression: `--ab-watermark --clear` renamed the segments to
/// `seg_NNNNN.a.ts` / `.b.ts` but left the I-frame playlist naming
/// `seg_NNNNN.ts`, so verify found every entry missing. It names variant
/// a's files now, whose bytes are the ones its ranges were measured in.
#[test]
fn an_ab_clear_package_i_frame_playlist_names_variant_a() {
    let t = TestDir::new();
    let wm = t.join("wm.key");
    run_ok(shieldpack().args(["watermark", "keygen", "-o"]).arg(&wm));
    let out = t.join("out");
    run_ok(
        shieldpack()
            .arg("package")
            .arg(input(&t))
            .arg("-o")
            .arg(&out)
            .args(["--clear", "--segment-duration", "2", "--ab-watermark"])
            .arg(&wm),
    );
    let rdir = out.join("360p");
    let playlist = std::fs::read_to_string(rdir.join("iframes.m3u8")).unwrap();
    // The a/b encodes have their own keyframes, on the segment grid at least.
    let got = ranges(&playlist);
    assert!(got.len() >= (SECONDS / 2) as usize, "{playlist}");
    assert!(
        playlist.contains("#EXT-X-MAP:URI=\"seg_00000.a.ts\","),
        "{playlist}"
    );
    for (seg, off, _) in &got {
        assert!(seg.ends_with(".a.ts"), "{playlist}");
        assert!(
            keyframe_positions(&rdir.join(seg)).contains(off),
            "{seg}@{off}"
        );
    }
    run_ok(shieldpack().arg("verify").arg(&out));
}

/// Init segment + bytes `off..off + len` of `seg` decode (decrypted with
/// `key`) to one keyframe, the picture decoding init + the whole segment
/// starts with.
fn assert_range_decodes(
    t: &TestDir,
    out: &Path,
    seg: &Path,
    off: usize,
    len: usize,
    key: Option<&str>,
    what: &str,
) {
    let bytes = std::fs::read(seg).unwrap();
    let mut one = std::fs::read(seg.parent().unwrap().join("init.mp4")).unwrap();
    one.extend_from_slice(&bytes[off..off + len]);
    let f = t.join(format!(
        "iframe-{}-{}.mp4",
        out.file_name().unwrap().to_string_lossy(),
        seg.file_stem().unwrap().to_string_lossy()
    ));
    std::fs::write(&f, one).unwrap();
    let whole = crate::cmaf::joined(t, out, seg);

    // ffprobe decodes what the range holds: a single keyframe.
    let mut probe = std::process::Command::new("ffprobe");
    probe.args(["-v", "error"]);
    if let Some(k) = key {
        probe.args(["-decryption_key", k]);
    }
    let o = run_ok(
        probe
            .args(["-select_streams", "v:0", "-show_entries"])
            .args(["frame=key_frame,pict_type", "-of", "csv=p=0"])
            .arg(&f),
    );
    // key_frame,pict_type (and an empty side data field) per frame.
    let frames: Vec<String> = stdout(&o)
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| l.split(',').take(2).collect::<Vec<_>>().join(","))
        .collect();
    assert_eq!(frames, ["1,I"], "{}: {}", f.display(), stderr(&o));

    // The same picture as the segment's first, decrypted and decoded.
    let first = |input: &Path| {
        let mut c = ffmpeg();
        if let Some(k) = key {
            c.args(["-decryption_key", k]);
        }
        let o = run_ok(c.arg("-i").arg(input).args([
            "-map",
            "0:v",
            "-frames:v",
            "1",
            "-f",
            "framecrc",
            "-",
        ]));
        let line = stdout(&o)
            .lines()
            .find(|l| l.starts_with("0,"))
            .map(|l| l.rsplit(',').next().unwrap().trim().to_string());
        line.unwrap_or_else(|| panic!("no frame from {}", input.display()))
    };
    assert_eq!(first(&f), first(&whole), "{what}");
}

/// The one key of the package in `out` (made with `kr`) as hex: (KID, key).
fn only_key(t: &TestDir, kr: &Path, out: &Path, name: &str) -> (String, String) {
    let dir = t.join(name);
    export_key_files(kr, out, &dir);
    let files: Vec<PathBuf> = files_under(&dir)
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "key"))
        .collect();
    assert_eq!(files.len(), 1, "one key period: {files:?}");
    (
        files[0].file_stem().unwrap().to_string_lossy().into_owned(),
        hex::encode(std::fs::read(&files[0]).unwrap()),
    )
}

#[test]
fn rekey_moves_a_cbcs_i_frame_playlist_to_the_new_keys() {
    let t = TestDir::new();
    let kr = new_keyring(&t);
    let out = t.join("out");
    run_ok(
        package_input(input(&t), &out, &kr)
            .args(["--format", "cmaf", "--segment-duration", "2"])
            .args(["--content-id", "title"]),
    );
    let (old_kid, _) = only_key(&t, &kr, &out, "old-keys");
    run_ok(shieldpack().args(["keys", "rotate"]).arg(&kr).args([
        "--content-id",
        "title",
        "--from-period",
        "0",
    ]));
    run_ok(
        shieldpack()
            .arg("rekey")
            .arg(&out)
            .arg("--keyring")
            .arg(&kr),
    );
    let (kid, key) = only_key(&t, &kr, &out, "new-keys");
    assert_ne!(kid, old_kid);
    // The key lines in force, in order (a line repeating the one before
    // changes nothing: RFC 8216 4.3.2.4).
    let keys_of = |text: &str| -> Vec<String> {
        let mut keys: Vec<String> = text
            .lines()
            .filter(|l| l.starts_with("#EXT-X-KEY:"))
            .map(str::to_string)
            .collect();
        keys.dedup();
        keys
    };
    let index = std::fs::read_to_string(out.join("360p/index.m3u8")).unwrap();
    let playlist = std::fs::read_to_string(out.join("360p/iframes.m3u8")).unwrap();
    assert_eq!(keys_of(&playlist), keys_of(&index), "{playlist}");
    assert!(playlist.contains(&format!("keys/{kid}.key")), "{playlist}");
    assert!(!playlist.contains(&old_kid), "{playlist}");
    for (seg, off, len) in ranges(&playlist) {
        let seg = out.join("360p").join(seg);
        assert_range_decodes(
            &t,
            &out,
            &seg,
            off as usize,
            len as usize,
            Some(&key),
            "rekeyed",
        );
    }
    run_ok(shieldpack().arg("verify").arg(&out));
}
