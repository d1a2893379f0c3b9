//! `package --format cmaf`: fragmented MP4 segments with an init segment,
//! clear, whole-segment AES-128, and common encryption (`cenc`), checked
//! with independent implementations: FFmpeg decrypts and decodes, pymp4
//! parses every box, hls.js plays in chromium.

use std::path::{Path, PathBuf};

use crate::util::*;

/// The one key of a package exported as key files: (KID hex, key hex).
fn only_key(t: &TestDir, keyring: &Path, out: &Path) -> (String, String) {
    let dir = t.join(format!(
        "keys-{}",
        out.file_name().unwrap().to_string_lossy()
    ));
    export_key_files(keyring, out, &dir);
    let files: Vec<PathBuf> = files_under(&dir)
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "key"))
        .collect();
    assert_eq!(files.len(), 1, "one key period: {files:?}");
    let kid = files[0].file_stem().unwrap().to_string_lossy().into_owned();
    (kid, hex::encode(std::fs::read(&files[0]).unwrap()))
}

/// The rendition's segment files, in order.
pub(crate) fn segments(out: &Path) -> Vec<PathBuf> {
    let mut s: Vec<PathBuf> = files_under(&out.join("360p"))
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "m4s"))
        .collect();
    s.sort();
    s
}

/// Init segment + one media segment as one file FFmpeg can open (a player
/// appends exactly these two to its source buffer).
pub(crate) fn joined(t: &TestDir, out: &Path, seg: &Path) -> PathBuf {
    let mut bytes = std::fs::read(out.join("360p/init.mp4")).unwrap();
    bytes.extend(std::fs::read(seg).unwrap());
    let p = t.join(format!(
        "{}-{}.mp4",
        out.file_name().unwrap().to_string_lossy(),
        seg.file_stem().unwrap().to_string_lossy()
    ));
    std::fs::write(&p, bytes).unwrap();
    p
}

/// FFmpeg's MD5 of every packet of stream `map` (e.g. `0:v`) of `input`,
/// copied without decoding, decrypted with `key` when given.
pub(crate) fn packet_md5s(input: &Path, map: &str, key: Option<&str>) -> Vec<String> {
    let mut c = ffmpeg();
    if let Some(k) = key {
        c.args(["-decryption_key", k]);
    }
    let out = run_ok(
        c.arg("-i")
            .arg(input)
            .args(["-map", map, "-c", "copy", "-f", "framemd5", "-"]),
    );
    stdout(&out)
        .lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| l.rsplit(',').next().unwrap().trim().to_string())
        .collect()
}

/// Decodes every frame of `input`'s video (decrypting with `key`), failing
/// on any decode error: the number of frames.
fn decoded_frames(input: &Path, key: &str) -> u64 {
    let out = run_ok(
        ffmpeg()
            .args(["-xerror", "-decryption_key", key, "-i"])
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

#[test]
fn cmaf_cenc_decrypts_in_ffmpeg_to_the_clear_packages_samples() {
    decrypts_in_ffmpeg_to_the_clear_packages_samples("cenc", "METHOD=SAMPLE-AES-CTR");
}

#[test]
fn cmaf_cbcs_decrypts_in_ffmpeg_to_the_clear_packages_samples() {
    // cbcs is the default scheme for cmaf.
    decrypts_in_ffmpeg_to_the_clear_packages_samples("", "METHOD=SAMPLE-AES");
}

/// Packages the clip as cmaf under `scheme` (the default when empty) and as
/// clear cmaf, and checks FFmpeg's decryption of every segment against the
/// clear package, sample by sample, then `verify`.
fn decrypts_in_ffmpeg_to_the_clear_packages_samples(scheme: &str, method: &str) {
    let t = TestDir::new();
    let kr = new_keyring(&t);
    let enc = t.join("enc");
    let clear = t.join("clear");
    let mut c = package_clip(&enc, &kr);
    c.args(["--format", "cmaf"]);
    if !scheme.is_empty() {
        c.args(["--scheme", scheme]);
    }
    run_ok(&mut c);
    run_ok(
        shieldpack()
            .arg("package")
            .arg(fixture("clip.mp4"))
            .arg("-o")
            .arg(&clear)
            .args(["--format", "cmaf", "--clear"]),
    );
    let (kid, key) = only_key(&t, &kr, &enc);

    // The HLS side: EXT-X-MAP and the scheme's key tag, no IV attribute.
    let playlist = std::fs::read_to_string(enc.join("360p/index.m3u8")).unwrap();
    assert!(playlist.contains("#EXT-X-VERSION:6\n"), "{playlist}");
    assert!(
        playlist.contains("#EXT-X-MAP:URI=\"init.mp4\"\n"),
        "{playlist}"
    );
    assert!(
        playlist.contains(&format!(
            "#EXT-X-KEY:{method},URI=\"keys/{kid}.key\",KEYFORMAT=\"identity\"\n"
        )),
        "{playlist}"
    );

    // The same cuts as the clear package, and the same segment count as TS.
    let (enc_segs, clear_segs) = (segments(&enc), segments(&clear));
    assert!(enc_segs.len() >= 2, "{enc_segs:?}");
    assert_eq!(enc_segs.len(), clear_segs.len());

    // Each segment, decrypted by FFmpeg, carries the clear package's samples
    // byte for byte (video and audio), and decodes frame by frame. (FFmpeg 5.1
    // loses its place in the encryption info of a second fragment in one
    // file, so each segment goes in with the init segment alone, as a
    // player appends it.)
    let mut video = Vec::new();
    let mut frames = 0;
    for (e, c) in enc_segs.iter().zip(&clear_segs) {
        let (e, c) = (joined(&t, &enc, e), joined(&t, &clear, c));
        assert_ne!(
            std::fs::read(&e).unwrap().len(),
            0,
            "{} is empty",
            e.display()
        );
        let ev = packet_md5s(&e, "0:v", Some(&key));
        let cv = packet_md5s(&c, "0:v", None);
        assert!(!cv.is_empty());
        assert_eq!(
            ev,
            cv,
            "video samples of {} differ once decrypted",
            e.display()
        );
        assert_eq!(
            packet_md5s(&e, "0:a", Some(&key)),
            packet_md5s(&c, "0:a", None),
            "audio samples of {} differ once decrypted",
            e.display()
        );
        // Without the key the samples are not the clear ones: encrypted.
        let wrong = "00".repeat(16);
        assert_ne!(packet_md5s(&e, "0:v", Some(&wrong)), cv);
        frames += decoded_frames(&e, &key);
        video.extend(cv);
    }
    assert_eq!(frames, CLIP_FRAMES);
    // And the clear package's samples are the input's, in order.
    assert_eq!(video, packet_md5s(&fixture("clip.mp4"), "0:v", None));

    // verify decrypts every sample and checks every box, with the keys.
    let keys = t.join("keys-enc");
    let out = run_ok(
        shieldpack()
            .arg("verify")
            .arg(&enc)
            .arg("--keys")
            .arg(&keys)
            .arg("--json"),
    );
    let v = stdout_json(&out);
    assert_eq!(v["defects"], serde_json::json!([]), "{v}");
    assert_eq!(v["segments_decrypted"], enc_segs.len(), "{v}");
    assert_eq!(v["video_frames"], CLIP_FRAMES, "{v}");
}

#[test]
fn cmaf_boxes_parse_in_pymp4() {
    let t = TestDir::new();
    let kr = new_keyring(&t);
    let enc = t.join("enc");
    run_ok(package_clip(&enc, &kr).args(["--format", "cmaf", "--scheme", "cenc"]));
    let segs = segments(&enc);
    let init = enc.join("360p/init.mp4");
    // Every box parsed by pymp4 on its own (tests/python/mp4_boxes.py).
    let out = run_ok(
        python()
            .arg(repo_root().join("tests/python/mp4_boxes.py"))
            .arg(&init)
            .args(&segs),
    );
    let v = stdout_json(&out);
    let i = &v[init.to_str().unwrap()];
    let boxes: Vec<&str> = i["boxes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b.as_str().unwrap())
        .collect();
    for want in [
        "/ftyp",
        "/moov/mvhd",
        "/moov/trak/tkhd",
        "/moov/trak/mdia/mdhd",
        "/moov/trak/mdia/hdlr",
        "/moov/trak/mdia/minf/vmhd",
        "/moov/trak/mdia/minf/smhd",
        "/moov/trak/mdia/minf/dinf",
        "/moov/trak/mdia/minf/stbl/stsd",
        "/moov/trak/mdia/minf/stbl/stsd/encv",
        "/moov/trak/mdia/minf/stbl/stsd/enca",
        "/moov/mvex/trex",
    ] {
        assert!(boxes.contains(&want), "{want} not in {boxes:?}");
    }
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(enc.join("manifest.json")).unwrap()).unwrap();
    let kid = manifest["renditions"][0]["segments"][0]["kid"]
        .as_str()
        .unwrap();
    assert_eq!(i["kid"], kid, "tenc's default KID is the manifest's");
    assert_eq!(i["iv_size"], 8);
    for s in &segs {
        let s = &v[s.to_str().unwrap()];
        let boxes: Vec<&str> = s["boxes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|b| b.as_str().unwrap())
            .collect();
        for want in [
            "/styp",
            "/moof/mfhd",
            "/moof/traf/tfhd",
            "/moof/traf/tfdt",
            "/moof/traf/trun",
            "/moof/traf/saiz",
            "/moof/traf/saio",
            "/moof/traf/senc",
            "/mdat",
        ] {
            assert!(boxes.contains(&want), "{want} not in {boxes:?}");
        }
        // Per track: as many senc entries and saiz counts as trun samples,
        // and saio pointing at senc's first entry (from the moof).
        let trun = s["trun"].as_array().unwrap();
        assert_eq!(trun.len(), 2, "video and audio fragments: {s}");
        assert_eq!(&s["saiz"], &s["trun"], "{s}");
        for (k, senc) in s["senc"].as_array().unwrap().iter().enumerate() {
            assert_eq!(senc["count"], trun[k], "{s}");
            assert_eq!(s["saio"][k], serde_json::json!([senc["entries_at"]]), "{s}");
        }
        // Video (track 1): every subsample map covers its whole sample;
        // audio (track 2) is encrypted whole, without maps.
        assert_eq!(s["senc"][0]["covers"], s["sizes"][0], "{s}");
        assert!(
            s["senc"][1]["covers"]
                .as_array()
                .unwrap()
                .iter()
                .all(|c| c == 0),
            "{s}"
        );
        let mdat: u64 = s["sizes"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|t| t.as_array().unwrap())
            .map(|n| n.as_u64().unwrap())
            .sum();
        assert_eq!(s["mdat"], mdat, "the mdat holds exactly the samples: {s}");
    }
}

#[test]
fn cmaf_clear_and_aes128_play_in_hls_js() {
    let t = TestDir::new();
    let kr = new_keyring(&t);
    let clear = t.join("clear");
    run_ok(
        shieldpack()
            .arg("package")
            .arg(fixture("clip.mp4"))
            .arg("-o")
            .arg(&clear)
            .args(["--format", "cmaf", "--clear"]),
    );
    let n = segments(&clear).len() as u64;
    assert_plays_to_end(&clear, n, CLIP_FRAMES);
    // FFmpeg's HLS demuxer reads it too, every frame.
    let (frames, errors, _) = decode_over_http(&clear);
    assert_eq!((frames, errors.trim()), (CLIP_FRAMES, ""));

    let aes = t.join("aes");
    run_ok(package_clip(&aes, &kr).args(["--format", "cmaf", "--scheme", "aes-128"]));
    let playlist = std::fs::read_to_string(aes.join("360p/index.m3u8")).unwrap();
    assert!(
        playlist.contains("#EXT-X-KEY:METHOD=AES-128,URI="),
        "{playlist}"
    );
    // Whole segments under AES-128-CBC: openssl decrypts one to the fMP4
    // the clear package has (the same muxer, the same cuts).
    let (_, key) = only_key(&t, &kr, &aes);
    let first = &segments(&aes)[0];
    let plain = openssl_decrypt(first, &key, &"0".repeat(32)).expect("openssl decrypts");
    assert_eq!(plain, std::fs::read(&segments(&clear)[0]).unwrap());
    let keys_dir = t.join("keys-aes");
    // Key files served beside the package, where the key URIs point.
    std::fs::create_dir_all(aes.join("360p/keys")).unwrap();
    for f in files_under(&keys_dir) {
        if f.extension().is_some_and(|e| e == "key") {
            std::fs::copy(&f, aes.join("360p/keys").join(f.file_name().unwrap())).unwrap();
        }
    }
    let keys = assert_plays_to_end(&aes, n, CLIP_FRAMES);
    assert_eq!(keys.len(), 1, "{keys:?}");
}

#[test]
fn cmaf_schemes_are_refused_where_they_do_not_apply() {
    let t = TestDir::new();
    let kr = new_keyring(&t);
    let e = stderr(&run_code(
        package_clip(t.join("a"), &kr).args(["--scheme", "cenc"]),
        2,
    ));
    assert!(
        e.contains("--scheme cenc needs fragmented MP4") && e.contains("hint:"),
        "{e}"
    );
    let e = stderr(&run_code(
        package_clip(t.join("b"), &kr).args(["--format", "cmaf", "--scheme", "sample-aes"]),
        2,
    ));
    assert!(
        e.contains("sample-aes is for MPEG-TS") && e.contains("hint:"),
        "{e}"
    );
    assert!(!t.join("a").exists() && !t.join("b").exists());
    let e = stderr(&run_code(package_clip(t.join("d"), &kr).arg("--dash"), 2));
    assert!(
        e.contains("--dash needs CMAF") && e.contains("hint:"),
        "{e}"
    );

    // rekey does not rewrite DRM systems' pssh boxes yet: it refuses a
    // --drm package rather than leave them naming the old KIDs.
    let enc = t.join("enc");
    run_ok(
        package_clip(&enc, &kr).args(["--format", "cmaf", "--scheme", "cenc", "--drm", "clearkey"]),
    );
    run_ok(shieldpack().args(["keys", "rotate"]).arg(&kr).args([
        "--content-id",
        "clip",
        "--from-period",
        "0",
    ]));
    let before = snapshot(&enc);
    let e = stderr(&run_code(
        shieldpack()
            .arg("rekey")
            .arg(&enc)
            .arg("--keyring")
            .arg(&kr),
        2,
    ));
    assert!(e.contains("pssh") && e.contains("hint:"), "{e}");
    assert_eq!(
        snapshot(&enc),
        before,
        "rekey changed the package it refused"
    );
}

/// Plays `url` with `player` (`shaka` or `dashjs`) in chromium through
/// tests/browser/play-eme.mjs, with ClearKey `keys` (KID hex, key hex):
/// its JSON summary plus `"exitCode"` (0 = played to the end, no fatal error).
pub(crate) fn play_eme(url: &str, player: &str, keys: &[(String, String)]) -> serde_json::Value {
    let dir = repo_root().join("tests/browser");
    assert!(
        dir.join("node_modules/shaka-player").is_dir() && dir.join("node_modules/dashjs").is_dir(),
        "browser test cannot run: tests/browser/node_modules lacks shaka-player or dashjs\nhint: run `bash scripts/setup.sh`"
    );
    let _one_at_a_time = BROWSER.lock().unwrap_or_else(|p| p.into_inner());
    let mut c = std::process::Command::new("node");
    c.arg(dir.join("play-eme.mjs"))
        .arg(url)
        .args(["--player", player, "--rate", "4", "--timeout-ms", "90000"])
        .current_dir(&dir);
    for (kid, key) in keys {
        c.arg("--clearkey").arg(format!("{kid}:{key}"));
    }
    let out = run_with_timeout(&mut c, std::time::Duration::from_secs(150));
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text.lines().rev().find(|l| l.trim_start().starts_with('{'));
    let mut v: serde_json::Value = line
        .and_then(|l| serde_json::from_str(l).ok())
        .unwrap_or_else(|| {
            panic!(
                "play-eme.mjs printed no JSON summary: {}\n{}",
                out.status,
                stderr(&out)
            )
        });
    assert!(
        v.get("launchError").is_none(),
        "chromium did not start: {v}"
    );
    v["exitCode"] = serde_json::json!(out.status.code());
    v
}

pub(crate) fn assert_played(v: &serde_json::Value, segments: usize) {
    assert_eq!(v["exitCode"], 0, "{v}");
    assert_eq!(v["ended"], true, "{v}");
    let decoded = v["decodedFrames"].as_u64().unwrap_or(0);
    assert!(
        decoded + 5 >= CLIP_FRAMES && decoded <= CLIP_FRAMES + 5,
        "decoded {decoded} of {CLIP_FRAMES}: {v}"
    );
    assert!(
        v["segmentsLoaded"].as_u64().unwrap_or(0) >= segments as u64,
        "{v}"
    );
}

#[test]
fn cmaf_shaka_plays_hls_cbcs_and_dash_cenc_with_clearkey() {
    let t = TestDir::new();
    let kr = new_keyring(&t);

    // HLS, cbcs (the default): Shaka fetches the key at the EXT-X-KEY URI
    // (KEYFORMAT "identity") and hands it to chromium's ClearKey CDM.
    let hls = t.join("hls");
    run_ok(package_clip(&hls, &kr).args(["--format", "cmaf"]));
    let (kid, key) = only_key(&t, &kr, &hls);
    let served = hls.join("360p/keys");
    std::fs::create_dir_all(&served).unwrap();
    std::fs::write(
        served.join(format!("{kid}.key")),
        hex::decode(&key).unwrap(),
    )
    .unwrap();
    let n = segments(&hls).len();
    let server = HttpServer::serve(&hls);
    assert_played(&play_eme(&server.url("master.m3u8"), "shaka", &[]), n);
    // A wrong key behind the URI: the samples do not decrypt, nothing plays.
    std::fs::write(served.join(format!("{kid}.key")), [0u8; 16]).unwrap();
    let v = play_eme(&server.url("master.m3u8"), "shaka", &[]);
    assert_ne!(v["exitCode"], 0, "played with a wrong key: {v}");
    drop(server);

    // DASH, cenc: the MPD over the same segments, keys given to the player.
    let dash = t.join("dash");
    run_ok(package_clip(&dash, &kr).args(["--format", "cmaf", "--scheme", "cenc", "--dash"]));
    let mpd = std::fs::read_to_string(dash.join("manifest.mpd")).unwrap();
    let doc = roxmltree::Document::parse(&mpd).expect("manifest.mpd is XML");
    let cp = doc
        .descendants()
        .find(|n| n.has_tag_name("ContentProtection"))
        .expect("a ContentProtection element");
    assert_eq!(
        cp.attribute("schemeIdUri"),
        Some("urn:mpeg:dash:mp4protection:2011")
    );
    assert_eq!(cp.attribute("value"), Some("cenc"));
    let (kid, key) = only_key(&t, &kr, &dash);
    let default_kid = cp
        .attribute(("urn:mpeg:cenc:2013", "default_KID"))
        .expect("cenc:default_KID")
        .replace('-', "");
    assert_eq!(default_kid, kid);
    let n = segments(&dash).len();
    let server = HttpServer::serve(&dash);
    assert_played(
        &play_eme(&server.url("manifest.mpd"), "shaka", &[(kid.clone(), key)]),
        n,
    );
    // Without the key there is nothing to decrypt with.
    let v = play_eme(
        &server.url("manifest.mpd"),
        "shaka",
        &[(kid, "00".repeat(16))],
    );
    assert_ne!(v["exitCode"], 0, "played with a wrong key: {v}");
}

#[test]
fn cmaf_rotating_keys_decrypt_per_segment_in_ffmpeg_and_play_in_shaka() {
    let t = TestDir::new();
    let kr = new_keyring(&t);
    let clear = t.join("clear");
    run_ok(
        shieldpack()
            .arg("package")
            .arg(fixture("clip.mp4"))
            .arg("-o")
            .arg(&clear)
            .args(["--format", "cmaf", "--clear"]),
    );
    for scheme in ["cenc", "cbcs"] {
        let out = t.join(scheme);
        run_ok(package_clip(&out, &kr).args([
            "--format",
            "cmaf",
            "--scheme",
            scheme,
            "--rotate-segments",
            "1",
            "--dash",
        ]));
        let keys = t.join(format!("keys-{scheme}"));
        export_key_files(&kr, &out, &keys);
        let manifest: serde_json::Value =
            serde_json::from_slice(&std::fs::read(out.join("manifest.json")).unwrap()).unwrap();
        let records = manifest["renditions"][0]["segments"]
            .as_array()
            .unwrap()
            .clone();
        let kids: Vec<String> = records
            .iter()
            .map(|r| r["kid"].as_str().unwrap().to_string())
            .collect();
        assert!(
            kids.len() >= 2 && kids[0] != kids[1],
            "one key per segment: {kids:?}"
        );
        // Each segment decrypts with its own period's key (FFmpeg reads the
        // key it is given; the seig group names it for players).
        let mut pairs = Vec::new();
        for ((seg, c), kid) in segments(&out).iter().zip(segments(&clear)).zip(&kids) {
            let key = hex::encode(std::fs::read(keys.join(format!("{kid}.key"))).unwrap());
            let (e, c) = (joined(&t, &out, seg), joined(&t, &clear, &c));
            assert_eq!(
                packet_md5s(&e, "0:v", Some(&key)),
                packet_md5s(&c, "0:v", None),
                "{scheme}: {} under its own key",
                seg.display()
            );
            pairs.push((kid.clone(), key));
        }
        let v = stdout_json(&run_ok(
            shieldpack()
                .arg("verify")
                .arg(&out)
                .arg("--keys")
                .arg(&keys)
                .arg("--json"),
        ));
        assert_eq!(v["defects"], serde_json::json!([]), "{v}");
        assert_eq!(v["video_frames"], CLIP_FRAMES, "{v}");
        // Shaka with every key: DASH for cenc, HLS for cbcs (whose
        // "identity" key URIs Shaka fetches as well, so they are served).
        let served = out.join("360p/keys");
        std::fs::create_dir_all(&served).unwrap();
        for kid in &kids {
            let name = format!("{kid}.key");
            std::fs::copy(keys.join(&name), served.join(&name)).unwrap();
        }
        let server = HttpServer::serve(&out);
        let url = if scheme == "cenc" {
            "manifest.mpd"
        } else {
            "master.m3u8"
        };
        assert_played(&play_eme(&server.url(url), "shaka", &pairs), pairs.len());
    }
}
