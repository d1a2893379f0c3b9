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

/// The audio rendition of the clip: CMAF writes every track apart, the
/// clip's one (language und) too.
pub(crate) const AUDIO: &str = "audio-und";

/// The video rendition's segment files, in order.
pub(crate) fn segments(out: &Path) -> Vec<PathBuf> {
    segments_of(out, "360p")
}

/// Rendition `name`'s segment files, in order.
pub(crate) fn segments_of(out: &Path, name: &str) -> Vec<PathBuf> {
    let mut s: Vec<PathBuf> = files_under(&out.join(name))
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "m4s"))
        .collect();
    s.sort();
    s
}

/// Init segment + one media segment (of the rendition the segment is in)
/// as one file FFmpeg can open (a player appends exactly these two to its
/// source buffer).
pub(crate) fn joined(t: &TestDir, out: &Path, seg: &Path) -> PathBuf {
    let dir = seg.parent().unwrap();
    let mut bytes = std::fs::read(dir.join("init.mp4")).unwrap();
    bytes.extend(std::fs::read(seg).unwrap());
    let p = t.join(format!(
        "{}-{}-{}.mp4",
        out.file_name().unwrap().to_string_lossy(),
        dir.file_name().unwrap().to_string_lossy(),
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

    // The HLS side: video and audio are renditions of their own (an
    // EXT-X-MEDIA audio group), each with EXT-X-MAP and the scheme's key
    // tag, no IV attribute.
    let master = std::fs::read_to_string(enc.join("master.m3u8")).unwrap();
    assert!(
        master.contains("#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID=\"audio\"")
            && master.contains(&format!("URI=\"{AUDIO}/index.m3u8\"")),
        "{master}"
    );
    for r in ["360p", AUDIO] {
        let playlist = std::fs::read_to_string(enc.join(r).join("index.m3u8")).unwrap();
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
    }

    // The same cuts as the clear package, and the same segment count as TS.
    let (enc_segs, clear_segs) = (segments(&enc), segments(&clear));
    assert!(enc_segs.len() >= 2, "{enc_segs:?}");
    assert_eq!(enc_segs.len(), clear_segs.len());

    // Each segment, decrypted by FFmpeg, carries the clear package's samples
    // byte for byte (video here, audio below), and decodes frame by frame. (FFmpeg 5.1
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
        // Without the key the samples are not the clear ones: encrypted.
        let wrong = "00".repeat(16);
        assert_ne!(packet_md5s(&e, "0:v", Some(&wrong)), cv);
        frames += decoded_frames(&e, &key);
        video.extend(cv);
    }
    assert_eq!(frames, CLIP_FRAMES);
    // And the clear package's samples are the input's, in order.
    assert_eq!(video, packet_md5s(&fixture("clip.mp4"), "0:v", None));

    // The audio track, cut at the same times, decrypts to the clear
    // package's samples too, and without the key it does not.
    let (enc_audio, clear_audio) = (segments_of(&enc, AUDIO), segments_of(&clear, AUDIO));
    assert_eq!(enc_audio.len(), enc_segs.len());
    assert_eq!(enc_audio.len(), clear_audio.len());
    let mut audio = Vec::new();
    for (e, c) in enc_audio.iter().zip(&clear_audio) {
        let (e, c) = (joined(&t, &enc, e), joined(&t, &clear, c));
        let ca = packet_md5s(&c, "0:a", None);
        assert!(!ca.is_empty(), "{} has no audio", c.display());
        assert_eq!(
            packet_md5s(&e, "0:a", Some(&key)),
            ca,
            "audio samples of {} differ once decrypted",
            e.display()
        );
        assert_ne!(packet_md5s(&e, "0:a", Some(&"00".repeat(16))), ca);
        audio.extend(ca);
    }
    // As many audio frames as the input has, but at most the priming one
    // ahead of the first video keyframe (`media::audio`).
    let input_audio = packet_md5s(&fixture("clip.mp4"), "0:a", None);
    assert!(
        audio.len() <= input_audio.len() && input_audio.len() - audio.len() <= 1,
        "{} input audio frames, {} packaged",
        input_audio.len(),
        audio.len()
    );

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
    assert_eq!(
        v["segments_decrypted"],
        enc_segs.len() + enc_audio.len(),
        "{v}"
    );
    assert_eq!(v["video_frames"], CLIP_FRAMES, "{v}");
}

#[test]
fn cmaf_boxes_parse_in_pymp4() {
    let t = TestDir::new();
    let kr = new_keyring(&t);
    let enc = t.join("enc");
    run_ok(package_clip(&enc, &kr).args(["--format", "cmaf", "--scheme", "cenc"]));
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(enc.join("manifest.json")).unwrap()).unwrap();
    let kid = manifest["renditions"][0]["segments"][0]["kid"]
        .as_str()
        .unwrap();
    // One track per rendition: video in 360p/, audio in audio-und/.
    for (rendition, entry, other) in [("360p", "encv", "enca"), (AUDIO, "enca", "encv")] {
        let segs = segments_of(&enc, rendition);
        assert!(segs.len() >= 2, "{rendition}: {segs:?}");
        let init = enc.join(rendition).join("init.mp4");
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
        let media_header = if entry == "encv" { "vmhd" } else { "smhd" };
        for want in [
            "/ftyp".to_string(),
            "/moov/mvhd".into(),
            "/moov/trak/tkhd".into(),
            "/moov/trak/mdia/mdhd".into(),
            "/moov/trak/mdia/hdlr".into(),
            format!("/moov/trak/mdia/minf/{media_header}"),
            "/moov/trak/mdia/minf/dinf".into(),
            "/moov/trak/mdia/minf/stbl/stsd".into(),
            format!("/moov/trak/mdia/minf/stbl/stsd/{entry}"),
            "/moov/mvex/trex".into(),
        ] {
            assert!(
                boxes.contains(&want.as_str()),
                "{rendition}: {want} not in {boxes:?}"
            );
        }
        let absent = format!("/moov/trak/mdia/minf/stbl/stsd/{other}");
        assert!(!boxes.contains(&absent.as_str()), "{rendition}: {boxes:?}");
        assert_eq!(
            i["kid"], kid,
            "{rendition}: tenc's default KID is the manifest's"
        );
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
            // One track fragment: as many senc entries and saiz counts as
            // trun samples, and saio pointing at senc's first entry.
            let trun = s["trun"].as_array().unwrap();
            assert_eq!(trun.len(), 1, "{rendition}: one track per segment: {s}");
            assert_eq!(&s["saiz"], &s["trun"], "{s}");
            let senc = &s["senc"][0];
            assert_eq!(senc["count"], trun[0], "{s}");
            assert_eq!(s["saio"][0], serde_json::json!([senc["entries_at"]]), "{s}");
            if entry == "encv" {
                // Every subsample map covers its whole sample.
                assert_eq!(senc["covers"], s["sizes"][0], "{s}");
            } else {
                // Audio is encrypted whole, without maps.
                assert!(
                    senc["covers"].as_array().unwrap().iter().all(|c| c == 0),
                    "{s}"
                );
            }
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
    // hls.js loads the video and the audio rendition's fragments.
    let n = (segments(&clear).len() + segments_of(&clear, AUDIO).len()) as u64;
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
    let (kid, key) = only_key(&t, &kr, &aes);
    let first = &segments(&aes)[0];
    // The video and audio tracks share the key, so each segment has an
    // explicit derived IV (a sequence IV would repeat across the tracks).
    let m: serde_json::Value =
        serde_json::from_slice(&std::fs::read(aes.join("manifest.json")).unwrap()).unwrap();
    let iv = m["renditions"][0]["segments"][0]["iv"]
        .as_str()
        .expect("an explicit IV")
        .to_string();
    assert!(
        playlist.contains(&format!("IV=0x{}", iv.to_uppercase()))
            || playlist.contains(&format!("IV=0x{iv}")),
        "{playlist}"
    );
    let plain = openssl_decrypt(first, &key, &iv).expect("openssl decrypts");
    assert_eq!(plain, std::fs::read(&segments(&clear)[0]).unwrap());
    let keys_dir = t.join("keys-aes");
    // Key files served beside the package, where each rendition's key URIs point.
    for r in ["360p", AUDIO] {
        let served = aes.join(r).join("keys");
        std::fs::create_dir_all(&served).unwrap();
        for f in files_under(&keys_dir) {
            if f.extension().is_some_and(|e| e == "key") {
                std::fs::copy(&f, served.join(f.file_name().unwrap())).unwrap();
            }
        }
    }
    // One key, fetched once per rendition at its own URI.
    let mut keys = assert_plays_to_end(&aes, n, CLIP_FRAMES);
    keys.sort();
    assert_eq!(
        keys,
        [
            format!("/360p/keys/{kid}.key"),
            format!("/{AUDIO}/keys/{kid}.key")
        ],
        "{keys:?}"
    );
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
    // Each rendition's key URI is relative to its playlist.
    let served = [hls.join("360p/keys"), hls.join(AUDIO).join("keys")];
    for d in &served {
        std::fs::create_dir_all(d).unwrap();
        std::fs::write(d.join(format!("{kid}.key")), hex::decode(&key).unwrap()).unwrap();
    }
    let n = segments(&hls).len();
    let server = HttpServer::serve(&hls);
    assert_played(&play_eme(&server.url("master.m3u8"), "shaka", &[]), n);
    // A wrong key behind the URI: the samples do not decrypt, nothing plays.
    for d in &served {
        std::fs::write(d.join(format!("{kid}.key")), [0u8; 16]).unwrap();
    }
    let v = play_eme(&server.url("master.m3u8"), "shaka", &[]);
    assert_ne!(v["exitCode"], 0, "played with a wrong key: {v}");
    drop(server);

    // DASH, cenc: the MPD over the same segments, keys given to the player.
    // One AdaptationSet per content type (DASH-IF IOP), each protected.
    let dash = t.join("dash");
    run_ok(package_clip(&dash, &kr).args(["--format", "cmaf", "--scheme", "cenc", "--dash"]));
    let mpd = std::fs::read_to_string(dash.join("manifest.mpd")).unwrap();
    let doc = roxmltree::Document::parse(&mpd).expect("manifest.mpd is XML");
    let (kid, key) = only_key(&t, &kr, &dash);
    let sets: Vec<_> = doc
        .descendants()
        .filter(|n| n.has_tag_name("AdaptationSet"))
        .collect();
    let types: Vec<_> = sets.iter().map(|s| s.attribute("contentType")).collect();
    assert_eq!(types, [Some("video"), Some("audio")], "{mpd}");
    for (set, rendition) in sets.iter().zip(["360p", AUDIO]) {
        let cp = set
            .children()
            .find(|n| n.has_tag_name("ContentProtection"))
            .expect("a ContentProtection element per AdaptationSet");
        assert_eq!(
            cp.attribute("schemeIdUri"),
            Some("urn:mpeg:dash:mp4protection:2011")
        );
        assert_eq!(cp.attribute("value"), Some("cenc"));
        let default_kid = cp
            .attribute(("urn:mpeg:cenc:2013", "default_KID"))
            .expect("cenc:default_KID")
            .replace('-', "");
        assert_eq!(default_kid, kid);
        let reps: Vec<_> = set
            .children()
            .filter(|n| n.has_tag_name("Representation"))
            .collect();
        assert_eq!(reps.len(), 1, "{mpd}");
        assert_eq!(reps[0].attribute("id"), Some(rendition));
        let template = reps[0]
            .children()
            .find(|n| n.has_tag_name("SegmentTemplate"))
            .expect("a SegmentTemplate per Representation");
        assert_eq!(
            template.attribute("initialization"),
            Some(format!("{rendition}/init.mp4").as_str())
        );
    }
    let n = segments(&dash).len();
    let server = HttpServer::serve(&dash);
    assert_played(
        &play_eme(
            &server.url("manifest.mpd"),
            "shaka",
            &[(kid.clone(), key.clone())],
        ),
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
        let v = verify_with_keys(&out, &keys, 0);
        assert_eq!(v["defects"], serde_json::json!([]), "{v}");
        assert_eq!(v["video_frames"], CLIP_FRAMES, "{v}");
        // Shaka with every key: DASH for cenc, HLS for cbcs (whose
        // "identity" key URIs Shaka fetches as well, so they are served).
        for r in ["360p", AUDIO] {
            let served = out.join(r).join("keys");
            std::fs::create_dir_all(&served).unwrap();
            for kid in &kids {
                let name = format!("{kid}.key");
                std::fs::copy(keys.join(&name), served.join(&name)).unwrap();
            }
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
