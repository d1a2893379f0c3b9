//! Common encryption beyond a plain package: scene policies with cmaf
//! `cenc`/`cbcs` (clear fragments under a protected init segment), checked
//! with FFmpeg (decrypts, decodes with no key) and Shaka Player in chromium.

use std::path::{Path, PathBuf};

use crate::cmaf::{assert_played, joined, packet_md5s, play_eme, segments, segments_of, AUDIO};
use crate::util::*;

/// A clear intro (0-5 s) and an L1 scene (5-12 s): with 2 s segments the
/// scene start moves to the keyframe at 6 s, and the segment from 4 s
/// straddles it, so it takes the L1 scene's key.
const INTRO_AND_MATCH: &str = r#"{"scenes": [
  {"label": "intro", "start": 0, "end": 5, "drm_level": "clear", "hdcp": false},
  {"label": "match", "start": 5, "end": "00:00:12", "drm_level": "L1", "hdcp": "2.2"}
]}"#;

fn read_json(path: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

/// Each segment's METHOD as a player reads the playlist.
fn methods(playlist: &str) -> Vec<String> {
    let mut method = "NONE".to_string();
    let mut out = Vec::new();
    for l in playlist.lines() {
        if let Some(attrs) = l.strip_prefix("#EXT-X-KEY:") {
            method = attrs
                .split(',')
                .find_map(|a| a.strip_prefix("METHOD="))
                .unwrap()
                .to_string();
        } else if l.starts_with("seg_") {
            out.push(method.clone());
        }
    }
    out
}

/// FFmpeg's MD5 of every packet's data of stream `map` of `input`, copied
/// with no key. (FFmpeg 5.1 does not read `seig`, so it attaches the init
/// segment's default encryption info to a clear fragment's packets as side
/// data; only the data column is compared.)
fn data_md5s(input: &Path, map: &str) -> Vec<String> {
    let out = run_ok(
        ffmpeg()
            .arg("-i")
            .arg(input)
            .args(["-map", map, "-c", "copy", "-f", "framemd5", "-"]),
    );
    stdout(&out)
        .lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| l.split(',').nth(5).unwrap().trim().to_string())
        .collect()
}

/// pymp4's reading of `init` and `segs` (tests/python/mp4_boxes.py).
fn boxes_by_pymp4(init: &Path, segs: &[PathBuf]) -> serde_json::Value {
    stdout_json(&run_ok(
        python()
            .arg(repo_root().join("tests/python/mp4_boxes.py"))
            .arg(init)
            .args(segs),
    ))
}

/// Decodes every video frame of `input` with no key, failing on any decode
/// error: the number of frames.
fn decoded_without_key(input: &Path) -> u64 {
    let out = run_ok(
        ffmpeg()
            .args(["-xerror", "-i"])
            .arg(input)
            .args(["-map", "0:v", "-f", "framecrc", "-"]),
    );
    let e = stderr(&out);
    assert!(
        e.trim().is_empty(),
        "FFmpeg complained decoding {}: {e}",
        input.display()
    );
    stdout(&out).lines().filter(|l| l.starts_with("0,")).count() as u64
}

fn clear_reference(t: &TestDir) -> PathBuf {
    let clear = t.join("clear");
    run_ok(
        shieldpack()
            .arg("package")
            .arg(fixture("clip.mp4"))
            .arg("-o")
            .arg(&clear)
            .args(["--format", "cmaf", "--clear", "--segment-duration", "2"]),
    );
    clear
}

#[test]
fn cmaf_policy_clear_scenes_are_clear_fragments_and_protected_ones_decrypt_for_cenc_and_cbcs() {
    let t = TestDir::new();
    let kr = new_keyring(&t);
    let pfile = t.join("policy.json");
    std::fs::write(&pfile, INTRO_AND_MATCH).unwrap();
    let clear = clear_reference(&t);
    let clear_segs = segments(&clear);
    assert_eq!(clear_segs.len(), 6);
    for (scheme, method) in [("cenc", "SAMPLE-AES-CTR"), ("cbcs", "SAMPLE-AES")] {
        let out = t.join(scheme);
        run_ok(
            package_clip(&out, &kr)
                .args(["--format", "cmaf", "--scheme", scheme])
                .args(["--segment-duration", "2", "--dash", "--policy"])
                .arg(&pfile),
        );
        let playlist = std::fs::read_to_string(out.join("360p/index.m3u8")).unwrap();
        let want: Vec<String> = ["NONE", "NONE", method, method, method, method]
            .iter()
            .map(|m| m.to_string())
            .collect();
        assert_eq!(methods(&playlist), want, "{scheme}: {playlist}");
        let records = read_json(&out.join("manifest.json"))["renditions"][0]["segments"]
            .as_array()
            .unwrap()
            .clone();
        assert!(records[0]["kid"].is_null() && records[1]["kid"].is_null());
        let kid = records[2]["kid"].as_str().unwrap().to_string();
        for r in &records[2..] {
            assert_eq!(r["kid"], kid.as_str(), "{scheme}: the L1 scene has one key");
            assert_eq!(r["scene"]["label"], "match");
        }
        let keys = t.join(format!("keys-{scheme}"));
        export_key_files(&kr, &out, &keys);
        let key = hex::encode(std::fs::read(keys.join(format!("{kid}.key"))).unwrap());

        let segs = segments(&out);
        assert_eq!(segs.len(), clear_segs.len());
        // The audio is a CMAF track of its own, cut and keyed alike.
        let (asegs, clear_asegs) = (segments_of(&out, AUDIO), segments_of(&clear, AUDIO));
        assert_eq!(asegs.len(), clear_asegs.len());
        let mut frames = 0;
        for (i, (e, c)) in segs.iter().zip(&clear_segs).enumerate() {
            let (e, c) = (joined(&t, &out, e), joined(&t, &clear, c));
            let (ea, ca) = (
                joined(&t, &out, &asegs[i]),
                joined(&t, &clear, &clear_asegs[i]),
            );
            let cv = packet_md5s(&c, "0:v", None);
            let ca = packet_md5s(&ca, "0:a", None);
            if i < 2 {
                // The clear scene: FFmpeg reads the clear package's samples
                // with no key, and decodes every frame.
                assert_eq!(data_md5s(&e, "0:v"), cv, "{scheme}: segment {i}");
                assert_eq!(data_md5s(&ea, "0:a"), ca, "{scheme}: segment {i}");
                frames += decoded_without_key(&e);
            } else {
                // The L1 scene: encrypted, and its key gives the clear samples back.
                assert_ne!(data_md5s(&e, "0:v"), cv, "{scheme}: segment {i}");
                assert_eq!(
                    packet_md5s(&e, "0:v", Some(&key)),
                    cv,
                    "{scheme}: segment {i}"
                );
                assert_eq!(
                    packet_md5s(&ea, "0:a", Some(&key)),
                    ca,
                    "{scheme}: segment {i}"
                );
            }
        }
        assert_eq!(frames, 96, "{scheme}: the clear scene's 4 s at 24 fps");

        // pymp4 reads every box: the clear fragments carry a seig group and
        // no sample encryption boxes, the protected ones senc, saiz and saio.
        let v = boxes_by_pymp4(&out.join("360p/init.mp4"), &segs);
        for (i, seg) in segs.iter().enumerate() {
            let s = &v[seg.to_str().unwrap()];
            let boxes: Vec<&str> = s["boxes"]
                .as_array()
                .unwrap()
                .iter()
                .map(|b| b.as_str().unwrap())
                .collect();
            let has = |b: &str| boxes.contains(&b);
            assert!(
                has("/moof/traf/sgpd") && has("/moof/traf/sbgp"),
                "{scheme} {i}: {boxes:?}"
            );
            if i < 2 {
                assert!(
                    !has("/moof/traf/senc") && !has("/moof/traf/saiz") && !has("/moof/traf/saio"),
                    "{scheme}: clear segment {i}: {boxes:?}"
                );
            } else {
                assert!(has("/moof/traf/senc"), "{scheme} {i}: {boxes:?}");
                assert_eq!(s["senc"][0]["covers"], s["sizes"][0], "{scheme} {i}: {s}");
            }
        }

        // verify: clear fragments are checked as clear (seig isProtected 0,
        // no senc), the rest decrypted sample by sample.
        let v = verify_with_keys(&out, &keys, 0);
        assert_eq!(v["defects"], serde_json::json!([]), "{scheme}: {v}");
        assert_eq!(v["video_frames"], CLIP_FRAMES, "{scheme}: {v}");

        if scheme == "cenc" {
            // Shaka Player, DASH: the MPD is as without a policy (the init
            // is protected), and the clear fragments say so themselves.
            let server = HttpServer::serve(&out);
            assert_played(
                &play_eme(
                    &server.url("manifest.mpd"),
                    "shaka",
                    &[(kid.clone(), key.clone())],
                ),
                segs.len(),
            );
        }
        if scheme == "cbcs" {
            // Shaka Player (HLS, ClearKey through the "identity" key URIs)
            // plays across the METHOD=NONE stretch into the protected one.
            // Each track's playlist (video, and the audio's own) names its
            // keys relative to itself.
            for name in ["360p", AUDIO] {
                let served = out.join(name).join("keys");
                std::fs::create_dir_all(&served).unwrap();
                for k in std::fs::read_dir(&keys).unwrap() {
                    let k = k.unwrap().path();
                    std::fs::copy(&k, served.join(k.file_name().unwrap())).unwrap();
                }
            }
            let server = HttpServer::serve(&out);
            assert_played(
                &play_eme(&server.url("master.m3u8"), "shaka", &[]),
                segs.len(),
            );
        }
    }
}

/// 4 s of the fixture as HEVC (`hvc1`) by x265's defaults: wavefront entry
/// points and weighted prediction in its slice headers.
fn hevc_clip(t: &TestDir) -> PathBuf {
    let out = t.join("hevc.mp4");
    run_ok(
        ffmpeg()
            .arg("-i")
            .arg(fixture("clip.mp4"))
            .args(["-t", "4", "-c:v", "libx265", "-tag:v", "hvc1"])
            .args(["-x265-params", "log-level=error:keyint=48", "-c:a", "copy"])
            .arg(&out),
    );
    out
}

/// The video packets of `input`, copied as they are (no key: encrypted
/// samples stay encrypted), concatenated.
fn raw_video(t: &TestDir, input: &Path) -> Vec<u8> {
    let out = t.join(format!(
        "{}.raw",
        input.file_name().unwrap().to_string_lossy()
    ));
    run_ok(
        ffmpeg()
            .arg("-i")
            .arg(input)
            .args(["-map", "0:v", "-c", "copy", "-f", "data"])
            .arg(&out),
    );
    std::fs::read(&out).unwrap()
}

/// Each slice segment header's length in bytes, in stream order, as
/// FFmpeg's `trace_headers` reads them (through byte_alignment()).
fn slice_header_lengths(input: &Path) -> Vec<usize> {
    let out = run_ok(
        ffmpeg()
            .args(["-v", "trace", "-i"])
            .arg(input)
            .args(["-map", "0:v", "-c", "copy", "-bsf:v", "trace_headers"])
            .args(["-f", "null", "-"]),
    );
    let mut lengths = Vec::new();
    let mut last: Option<usize> = None;
    for l in stderr(&out).lines().filter(|l| l.contains("trace_headers")) {
        let body = l.split("] ").nth(1).unwrap_or("");
        if body.starts_with("Slice Segment Header") {
            if let Some(n) = last.take() {
                lengths.push(n);
            }
            last = Some(0);
        }
        if let (Some(_), Some(pos)) = (last, body.split_whitespace().next()) {
            if body.contains("alignment_bit_equal_to") {
                let bit: usize = pos.parse().unwrap();
                last = Some((bit + 1).div_ceil(8));
            }
        }
    }
    lengths.extend(last);
    lengths
}

#[test]
fn hevc_cbcs_and_cenc_decrypt_in_ffmpeg_with_slice_headers_clear() {
    let t = TestDir::new();
    let kr = new_keyring(&t);
    let input = hevc_clip(&t);
    let clear = t.join("clear");
    run_ok(
        shieldpack()
            .arg("package")
            .arg(&input)
            .arg("-o")
            .arg(&clear)
            .args(["--format", "cmaf", "--clear"]),
    );
    let clear_segs = segments(&clear);
    let headers: Vec<Vec<usize>> = clear_segs
        .iter()
        .map(|s| slice_header_lengths(&joined(&t, &clear, s)))
        .collect();
    assert!(headers.iter().all(|h| !h.is_empty()), "{headers:?}");
    for scheme in ["cbcs", "cenc"] {
        let out = t.join(scheme);
        run_ok(
            package_input(&input, &out, &kr)
                .args(["--format", "cmaf", "--scheme", scheme, "--content-id"])
                .arg(format!("hevc-{scheme}")),
        );
        let init = std::fs::read(out.join("360p/init.mp4")).unwrap();
        assert!(
            init.windows(4).any(|w| w == b"hvcC") && init.windows(4).any(|w| w == b"encv"),
            "{scheme}: an encrypted hvc1 track"
        );
        let keys = t.join(format!("keys-{scheme}"));
        export_key_files(&kr, &out, &keys);
        let key_file = files_under(&keys)
            .into_iter()
            .find(|p| p.extension().is_some_and(|e| e == "key"))
            .unwrap();
        let key = hex::encode(std::fs::read(key_file).unwrap());
        let segs = segments(&out);
        assert_eq!(segs.len(), clear_segs.len());
        let boxes = boxes_by_pymp4(&out.join("360p/init.mp4"), &segs);
        let (mut slices, mut protected) = (0, 0);
        for ((e, c), heads) in segs.iter().zip(&clear_segs).zip(&headers) {
            let (e, c) = (joined(&t, &out, e), joined(&t, &clear, c));
            // FFmpeg decrypts to the clear package's samples, byte for byte,
            // and decodes every frame.
            assert_eq!(
                packet_md5s(&e, "0:v", Some(&key)),
                packet_md5s(&c, "0:v", None),
                "{scheme}: {}",
                e.display()
            );
            run_ok(
                ffmpeg()
                    .args(["-xerror", "-decryption_key", &key, "-i"])
                    .arg(&e)
                    .args(["-f", "null", "-"]),
            );
            // Slice segment headers (by FFmpeg's reading) are clear bytes;
            // encrypted bytes come only after them.
            let (enc, plain) = (raw_video(&t, &e), raw_video(&t, &c));
            assert_eq!(enc.len(), plain.len());
            // The subsample map (senc, read by pymp4): no protected byte
            // before the end of a slice segment header, none outside slices.
            let seg_boxes = &boxes[segs[0].parent().unwrap().join(e_name(&e)).to_str().unwrap()];
            check_maps(&plain, seg_boxes, heads, scheme);
            let mut heads = heads.iter();
            let mut pos = 0;
            while pos + 4 <= plain.len() {
                let n = u32::from_be_bytes(plain[pos..pos + 4].try_into().unwrap()) as usize;
                let (a, b) = (pos + 4, pos + 4 + n);
                let nal_type = (plain[a] >> 1) & 0x3f;
                if nal_type <= 9 || (16..=21).contains(&nal_type) {
                    let h = *heads.next().expect("a header for every slice");
                    assert_eq!(
                        enc[pos..a + h],
                        plain[pos..a + h],
                        "{scheme}: a slice segment header is not clear"
                    );
                    slices += 1;
                    if enc[a + h..b] != plain[a + h..b] {
                        protected += 1;
                    }
                } else {
                    assert_eq!(enc[pos..b], plain[pos..b], "{scheme}: a non-VCL NAL unit");
                }
                pos = b;
            }
            assert_eq!(pos, plain.len());
            assert!(heads.next().is_none());
        }
        // Slices with 16 bytes or more of data are encrypted; tiny ones may not be.
        assert!(
            protected * 10 >= slices * 9,
            "{scheme}: {protected} of {slices} slices encrypted"
        );
        let v = verify_with_keys(&out, &keys, 0);
        assert_eq!(v["defects"], serde_json::json!([]), "{scheme}: {v}");
    }
}

/// ISO/IEC 23001-7 9.1 (and the issue): no IV repeats under any key. A
/// 10-minute title under `cenc`, a new key every 3 segments, read by pymp4:
/// every (KID, IV) of every sample of every segment is distinct.
#[test]
fn no_iv_repeats_under_any_key_across_a_10_minute_rotated_cenc_package() {
    let t = TestDir::new();
    let kr = new_keyring(&t);
    let input = t.join("ten-minutes.mp4");
    run_ok(
        ffmpeg()
            .args(["-f", "lavfi", "-i", "testsrc2=s=160x90:r=12:d=600"])
            .args(["-f", "lavfi", "-i", "sine=f=440:d=600"])
            .args(["-c:v", "libx264", "-preset", "ultrafast", "-g", "24"])
            .args(["-c:a", "aac", "-b:a", "32k", "-shortest"])
            .arg(&input),
    );
    let out = t.join("out");
    run_ok(package_input(&input, &out, &kr).args([
        "--format",
        "cmaf",
        "--scheme",
        "cenc",
        "--rotate-segments",
        "3",
    ]));
    // Every track's segments: the video's and the audio's (a CMAF track of
    // its own, under the same key periods' keys).
    let manifest = read_json(&out.join("manifest.json"));
    let renditions = manifest["renditions"].as_array().unwrap();
    assert_eq!(renditions.len(), 2, "video and audio");
    assert!(renditions[0]["segments"].as_array().unwrap().len() >= 90);
    let records: Vec<serde_json::Value> = renditions
        .iter()
        .flat_map(|r| r["segments"].as_array().unwrap().clone())
        .collect();
    let segs: Vec<PathBuf> = records
        .iter()
        .map(|r| out.join(r["uri"].as_str().unwrap()))
        .collect();
    let on_disk = files_under(&out)
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "m4s"))
        .count();
    assert_eq!(segs.len(), on_disk);
    let v = stdout_json(&run_ok(
        python()
            .arg(repo_root().join("tests/python/mp4_boxes.py"))
            .args(&segs),
    ));
    let mut seen = std::collections::HashSet::new();
    let mut kids = std::collections::HashSet::new();
    let mut samples = 0u64;
    for (seg, r) in segs.iter().zip(&records) {
        let kid = r["kid"].as_str().unwrap();
        kids.insert(kid.to_string());
        let s = &v[seg.to_str().unwrap()];
        let truns: u64 = s["trun"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n.as_u64().unwrap())
            .sum();
        let mut n = 0;
        for senc in s["senc"].as_array().unwrap() {
            for iv in senc["ivs"].as_array().unwrap() {
                let iv = iv.as_str().unwrap();
                assert!(
                    seen.insert((kid.to_string(), iv.to_string())),
                    "IV {iv} repeats under KID {kid} ({})",
                    seg.display()
                );
                n += 1;
            }
        }
        assert_eq!(n, truns, "every sample has its IV: {}", seg.display());
        samples += n;
    }
    assert!(kids.len() >= 30, "{} keys", kids.len());
    // 600 s of 12 fps video alone is 7200 samples.
    assert!(samples > 7200, "{samples} samples");
}

/// tenc's default KID of `init`, as pymp4 reads it.
fn tenc_kid(init: &Path) -> String {
    let v = stdout_json(&run_ok(
        python()
            .arg(repo_root().join("tests/python/mp4_boxes.py"))
            .arg(init),
    ));
    v[init.to_str().unwrap()]["kid"]
        .as_str()
        .unwrap()
        .to_string()
}

/// `rekey` after `keys rotate`: every encrypted segment's samples move to
/// the new generation's keys (FFmpeg decrypts them with the new key to the
/// clear package's samples, and not with the old), the init's default KID,
/// the MPD, the playlists and the manifest follow, a policy package's clear
/// fragments are left as they were, and verify passes with the new keys.
#[test]
fn rekey_of_cenc_and_cbcs_moves_samples_to_the_new_keys_only() {
    let t = TestDir::new();
    let kr = new_keyring(&t);
    let pfile = t.join("policy.json");
    std::fs::write(&pfile, INTRO_AND_MATCH).unwrap();
    let clear = clear_reference(&t);
    let clear_segs = segments(&clear);
    for (scheme, extra) in [("cenc", vec!["--dash"]), ("cbcs", vec!["--policy"])] {
        let out = t.join(scheme);
        let mut c = package_clip(&out, &kr);
        c.args([
            "--format",
            "cmaf",
            "--scheme",
            scheme,
            "--segment-duration",
            "2",
        ])
        .args(["--content-id", scheme]);
        c.args(&extra);
        if scheme == "cbcs" {
            c.arg(&pfile);
        }
        run_ok(&mut c);
        let old_keys = t.join(format!("old-{scheme}"));
        export_key_files(&kr, &out, &old_keys);
        let before = snapshot(&out);
        let old_records = read_json(&out.join("manifest.json"))["renditions"][0]["segments"]
            .as_array()
            .unwrap()
            .clone();
        run_ok(shieldpack().args(["keys", "rotate"]).arg(&kr).args([
            "--content-id",
            scheme,
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
        let new_keys = t.join(format!("new-{scheme}"));
        export_key_files(&kr, &out, &new_keys);
        let records = read_json(&out.join("manifest.json"))["renditions"][0]["segments"]
            .as_array()
            .unwrap()
            .clone();
        let segs = segments(&out);
        assert_eq!(segs.len(), clear_segs.len());
        let mut first_kid = None;
        for (i, ((seg, c), (r, old))) in segs
            .iter()
            .zip(&clear_segs)
            .zip(records.iter().zip(&old_records))
            .enumerate()
        {
            let was = &before.iter().find(|(p, _)| p == seg).unwrap().1;
            let now = std::fs::read(seg).unwrap();
            let Some(kid) = r["kid"].as_str() else {
                // A clear scene's fragment: untouched.
                assert!(old["kid"].is_null());
                assert_eq!(&now, was, "{scheme}: clear segment {i} changed");
                continue;
            };
            first_kid.get_or_insert(kid.to_string());
            let old_kid = old["kid"].as_str().unwrap();
            assert_ne!(kid, old_kid, "{scheme}: segment {i} keeps its old KID");
            assert_ne!(&now, was, "{scheme}: segment {i} was not re-encrypted");
            let key = hex::encode(std::fs::read(new_keys.join(format!("{kid}.key"))).unwrap());
            let old_key =
                hex::encode(std::fs::read(old_keys.join(format!("{old_kid}.key"))).unwrap());
            let (e, c) = (joined(&t, &out, seg), joined(&t, &clear, c));
            let cv = packet_md5s(&c, "0:v", None);
            assert_eq!(
                packet_md5s(&e, "0:v", Some(&key)),
                cv,
                "{scheme}: segment {i}"
            );
            // The audio track's segment, rekeyed alike (its own IV range).
            let (ea, ca) = (
                joined(&t, &out, &segments_of(&out, AUDIO)[i]),
                joined(&t, &clear, &segments_of(&clear, AUDIO)[i]),
            );
            assert_eq!(
                packet_md5s(&ea, "0:a", Some(&key)),
                packet_md5s(&ca, "0:a", None),
                "{scheme}: segment {i}"
            );
            assert_ne!(
                packet_md5s(&e, "0:v", Some(&old_key)),
                cv,
                "{scheme}: segment {i} still decrypts with the old key"
            );
        }
        let first_kid = first_kid.expect("encrypted segments");
        assert_eq!(tenc_kid(&out.join("360p/init.mp4")), first_kid, "{scheme}");
        let playlist = std::fs::read_to_string(out.join("360p/index.m3u8")).unwrap();
        assert!(
            playlist.contains(&format!("keys/{first_kid}.key")),
            "{scheme}: {playlist}"
        );
        if scheme == "cenc" {
            let mpd = std::fs::read_to_string(out.join("manifest.mpd")).unwrap();
            let doc = roxmltree::Document::parse(&mpd).unwrap();
            let default_kid = doc
                .descendants()
                .find_map(|n| n.attribute(("urn:mpeg:cenc:2013", "default_KID")))
                .unwrap()
                .replace('-', "");
            assert_eq!(default_kid, first_kid);
        }
        let v = verify_with_keys(&out, &new_keys, 0);
        assert_eq!(v["defects"], serde_json::json!([]), "{scheme}: {v}");
        assert_eq!(v["video_frames"], CLIP_FRAMES, "{scheme}: {v}");
        // The old keys no longer open it.
        let v = stdout_json(&run_code(
            shieldpack()
                .arg("verify")
                .arg(&out)
                .arg("--keys")
                .arg(&old_keys)
                .arg("--json"),
            1,
        ));
        assert_ne!(v["defects"], serde_json::json!([]), "{scheme}: {v}");
    }
}

/// `seg_00000.m4s` from the joined file `…-seg_00000.mp4`.
fn e_name(joined: &Path) -> String {
    let stem = joined.file_stem().unwrap().to_string_lossy();
    format!("{}.m4s", stem.rsplit_once('-').unwrap().1)
}

/// Checks the video subsample maps of one segment (pymp4's `senc`) against
/// its clear samples `plain` (concatenated, 4-byte NAL lengths) and the
/// slice segment header lengths FFmpeg read: every protected range lies in a
/// slice NAL unit, after its header.
fn check_maps(plain: &[u8], s: &serde_json::Value, heads: &[usize], scheme: &str) {
    let sizes: Vec<usize> = s["sizes"][0]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n.as_u64().unwrap() as usize)
        .collect();
    let maps = s["senc"][0]["maps"].as_array().unwrap();
    assert_eq!(maps.len(), sizes.len(), "{scheme}: a map per video sample");
    // Where slice data may be encrypted: [header end, NAL end) per slice.
    let mut allowed = Vec::new();
    let mut heads = heads.iter();
    let mut pos = 0;
    while pos + 4 <= plain.len() {
        let n = u32::from_be_bytes(plain[pos..pos + 4].try_into().unwrap()) as usize;
        let t = (plain[pos + 4] >> 1) & 0x3f;
        if t <= 9 || (16..=21).contains(&t) {
            allowed.push((pos + 4 + heads.next().unwrap(), pos + 4 + n));
        }
        pos += 4 + n;
    }
    let mut start = 0;
    let mut ranges = 0;
    for (size, map) in sizes.iter().zip(maps) {
        let mut at = start;
        for pair in map.as_array().unwrap() {
            let (c, p) = (
                pair[0].as_u64().unwrap() as usize,
                pair[1].as_u64().unwrap() as usize,
            );
            at += c;
            if p > 0 {
                assert!(
                    allowed.iter().any(|(a, b)| *a <= at && at + p <= *b),
                    "{scheme}: protected bytes {at}..{} are not slice data after a header",
                    at + p
                );
                ranges += 1;
            }
            at += p;
        }
        assert_eq!(at, start + size, "{scheme}: the map covers the sample");
        start += size;
    }
    assert!(ranges > 0, "{scheme}: nothing protected");
}
