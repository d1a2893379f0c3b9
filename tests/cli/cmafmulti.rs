//! `package IN1 IN2 --format cmaf` (issues 21 and 22 together): every video
//! rendition and every audio language a CMAF track of its own (init.mp4 +
//! seg_NNNNN.m4s per folder), one multivariant HLS playlist and one DASH MPD
//! over the same files. Checked with independent implementations: dash.js
//! and Shaka Player play them with ClearKey in chromium, FFmpeg decrypts and
//! decodes every track, pymp4 reads every box, its times and its IVs.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};

use crate::util::*;

use crate::cmaf::play_eme;

/// The player's summary says it played the 6 s title to its end, decoding
/// every frame (give or take the few a browser drops at the edges) and
/// loading at least `segments` media segments.
fn assert_played(v: &serde_json::Value, segments: u64) {
    assert_eq!(v["exitCode"], 0, "{v}");
    assert_eq!(v["ended"], true, "{v}");
    let decoded = v["decodedFrames"].as_u64().unwrap_or(0);
    assert!(
        decoded + 5 >= FRAMES && decoded <= FRAMES + 5,
        "decoded {decoded} of {FRAMES}: {v}"
    );
    assert!(v["segmentsLoaded"].as_u64().unwrap_or(0) >= segments, "{v}");
}

const SECONDS: u32 = 6;
const FPS: u32 = 25;
const FRAMES: u64 = (SECONDS * FPS) as u64;
const VIDEO: [&str; 2] = ["360p", "180p"];
const AUDIO: [&str; 2] = ["audio-eng", "audio-fra"];

/// An H.264 input of `w`x`h`, a keyframe every 2 s, with English (stereo)
/// and French (mono) AAC and English mov_text subtitles.
fn input(t: &TestDir, w: u32, h: u32) -> PathBuf {
    let out = t.join(format!("in{h}.mp4"));
    let srt = t.join("subs.srt");
    std::fs::write(
        &srt,
        "1\n00:00:00,500 --> 00:00:02,500\nfirst\n\n2\n00:00:04,200 --> 00:00:05,000\nsecond\n",
    )
    .unwrap();
    run_ok(
        ffmpeg()
            .args(["-f", "lavfi", "-i"])
            .arg(format!(
                "testsrc2=size={w}x{h}:rate={FPS}:duration={SECONDS}"
            ))
            .args(["-f", "lavfi", "-i"])
            .arg(format!("sine=frequency=440:duration={SECONDS}"))
            .args(["-f", "lavfi", "-i"])
            .arg(format!("sine=frequency=880:duration={SECONDS}"))
            .arg("-i")
            .arg(&srt)
            .args(["-map", "0:v", "-map", "1:a", "-map", "2:a", "-map", "3:s"])
            .args(["-c:v", "libx264", "-preset", "ultrafast", "-g", "1000"])
            .args(["-sc_threshold", "0", "-force_key_frames"])
            .arg("expr:gte(t,n_forced*2)")
            .args(["-c:a", "aac", "-b:a", "64k", "-ac:a:0", "2", "-ac:a:1", "1"])
            .args(["-metadata:s:a:0", "language=eng"])
            .args(["-metadata:s:a:1", "language=fra"])
            .args(["-c:s", "mov_text", "-metadata:s:s:0", "language=eng"])
            .arg(&out),
    );
    out
}

fn inputs(t: &TestDir) -> Vec<PathBuf> {
    vec![input(t, 640, 360), input(t, 320, 180)]
}

fn package(inputs: &[PathBuf], out: &Path, kr: &Path, flags: &[&str]) {
    let mut c = package_input(&inputs[0], out, kr);
    c.args(&inputs[1..])
        .args(["--format", "cmaf", "--segment-duration", "2"])
        .args(flags);
    run_ok(&mut c);
}

fn manifest(out: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(out.join("manifest.json")).unwrap()).unwrap()
}

/// Track `name`'s init segment and media segments, in order.
fn track(out: &Path, name: &str) -> (PathBuf, Vec<PathBuf>) {
    let mut segs: Vec<PathBuf> = files_under(&out.join(name))
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "m4s"))
        .collect();
    segs.sort();
    (out.join(name).join("init.mp4"), segs)
}

/// pymp4's reading of `files` (tests/python/mp4_boxes.py), by path.
fn pymp4(files: &[PathBuf]) -> serde_json::Value {
    stdout_json(&run_ok(
        python()
            .arg(repo_root().join("tests/python/mp4_boxes.py"))
            .args(files),
    ))
}

/// Each media segment of a track joined to its init segment, one file per
/// segment, as a player appends them to its source buffer. (FFmpeg 7 does
/// not decrypt a file of several encrypted fragments: "subsample size
/// exceeds the packet size left" for ours, "saio atom found without saiz"
/// for its own `-encryption_scheme cenc-aes-ctr` output; one fragment a
/// file it decrypts.)
fn joined(t: &TestDir, out: &Path, name: &str) -> Vec<PathBuf> {
    let (init, segs) = track(out, name);
    let init = std::fs::read(init).unwrap();
    segs.iter()
        .map(|s| {
            let mut bytes = init.clone();
            bytes.extend(std::fs::read(s).unwrap());
            let p = t.join(format!(
                "{}-{name}-{}.mp4",
                out.file_name().unwrap().to_string_lossy(),
                s.file_stem().unwrap().to_string_lossy()
            ));
            std::fs::write(&p, bytes).unwrap();
            p
        })
        .collect()
}

/// Frames of stream `map` of every segment of track `name`, decrypted with
/// `key` and decoded by FFmpeg (`decoded`), all together.
fn decoded_track(t: &TestDir, out: &Path, name: &str, map: &str, key: &str) -> u64 {
    joined(t, out, name)
        .iter()
        .map(|f| decoded(f, map, Some(key)))
        .sum()
}

/// Frames of stream `map` of `input` decoded by FFmpeg under `-xerror`
/// (decrypted with `key` when given); any complaint fails.
fn decoded(input: &Path, map: &str, key: Option<&str>) -> u64 {
    let mut c = ffmpeg();
    c.arg("-xerror");
    if let Some(k) = key {
        c.args(["-decryption_key", k]);
    }
    let out = run_ok(
        c.arg("-i")
            .arg(input)
            .args(["-map", map, "-f", "framecrc", "-"]),
    );
    let e = stderr(&out);
    assert!(
        e.trim().is_empty(),
        "FFmpeg complained decoding {map} of {}: {e}",
        input.display()
    );
    stdout(&out).lines().filter(|l| l.starts_with("0,")).count() as u64
}

/// Exported key files of a package: KID hex -> key hex.
fn keys_of(t: &TestDir, kr: &Path, out: &Path) -> BTreeMap<String, String> {
    let dir = t.join(format!(
        "keys-{}",
        out.file_name().unwrap().to_string_lossy()
    ));
    export_key_files(kr, out, &dir);
    files_under(&dir)
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "key"))
        .map(|p| {
            (
                p.file_stem().unwrap().to_string_lossy().into_owned(),
                hex::encode(std::fs::read(&p).unwrap()),
            )
        })
        .collect()
}

/// An MPD Representation's SegmentTimeline expanded: (t, d) per segment,
/// and its SegmentTemplate's timescale.
fn timeline(rep: roxmltree::Node) -> (u64, Vec<(u64, u64)>) {
    let template = rep
        .children()
        .find(|n| n.has_tag_name("SegmentTemplate"))
        .expect("a SegmentTemplate per Representation");
    let timescale = template.attribute("timescale").unwrap().parse().unwrap();
    let mut out = Vec::new();
    let mut next = 0u64;
    for s in template.descendants().filter(|n| n.has_tag_name("S")) {
        let num = |a: &str| s.attribute(a).map(|v| v.parse::<u64>().unwrap());
        let mut t = num("t").unwrap_or(next);
        let d = num("d").unwrap();
        for _ in 0..=num("r").unwrap_or(0) {
            out.push((t, d));
            t += d;
        }
        next = t;
    }
    (timescale, out)
}

#[test]
fn cmaf_two_renditions_and_two_languages_play_in_dashjs_and_shaka() {
    let t = TestDir::new();
    let kr = new_keyring(&t);
    let ins = inputs(&t);

    // DASH, cenc, with ClearKey's signalling (dash.js picks its key system
    // from the MPD's ContentProtection; Shaka takes the keys it is given).
    let dash = t.join("dash");
    package(
        &ins,
        &dash,
        &kr,
        &["--scheme", "cenc", "--dash", "--drm", "clearkey"],
    );
    for name in VIDEO.iter().chain(&AUDIO) {
        let (init, segs) = track(&dash, name);
        assert!(init.is_file(), "{name}: no init.mp4");
        assert_eq!(segs.len(), 3, "{name}: {segs:?}");
        let playlist = std::fs::read_to_string(dash.join(name).join("index.m3u8")).unwrap();
        assert!(
            playlist.contains("#EXT-X-MAP:URI=\"init.mp4\""),
            "{name}:\n{playlist}"
        );
    }
    let master = std::fs::read_to_string(dash.join("master.m3u8")).unwrap();
    assert_eq!(
        master.matches("#EXT-X-MEDIA:TYPE=AUDIO").count(),
        2,
        "{master}"
    );
    assert_eq!(master.matches("#EXT-X-STREAM-INF").count(), 2, "{master}");

    let mpd = std::fs::read_to_string(dash.join("manifest.mpd")).unwrap();
    let doc = roxmltree::Document::parse(&mpd).expect("manifest.mpd is XML");
    let sets: Vec<_> = doc
        .descendants()
        .filter(|n| n.has_tag_name("AdaptationSet"))
        .collect();
    let shape: Vec<(Option<&str>, Option<&str>, Vec<&str>)> = sets
        .iter()
        .map(|s| {
            (
                s.attribute("contentType"),
                s.attribute("lang"),
                s.children()
                    .filter(|n| n.has_tag_name("Representation"))
                    .map(|r| r.attribute("id").unwrap())
                    .collect(),
            )
        })
        .collect();
    assert_eq!(
        shape,
        [
            (Some("video"), None, vec!["360p", "180p"]),
            (Some("audio"), Some("en"), vec!["audio-eng"]),
            (Some("audio"), Some("fr"), vec!["audio-fra"]),
        ],
        "{mpd}"
    );
    for set in &sets {
        let kind = set.attribute("contentType").unwrap();
        assert!(
            set.children().any(|n| n.has_tag_name("ContentProtection")
                && n.attribute("schemeIdUri") == Some("urn:mpeg:dash:mp4protection:2011")),
            "ContentProtection on every AdaptationSet: {mpd}"
        );
        for rep in set.children().filter(|n| n.has_tag_name("Representation")) {
            let name = rep.attribute("id").unwrap();
            // A track's codecs are its own: no audio codec on video (what
            // the CDM is asked for), no video codec on audio.
            let codecs = rep.attribute("codecs").unwrap();
            let want = if kind == "video" { "avc1." } else { "mp4a." };
            assert!(
                codecs.split(',').all(|c| c.starts_with(want)),
                "{name}: {codecs}"
            );
            // The timeline is in the track's own timescale and matches
            // its boxes as pymp4 reads them: a segment per moof, starting
            // within a sample of its tfdt, and lasting, all together,
            // exactly as long as its samples.
            let (init, segs) = track(&dash, name);
            let mut files = vec![init.clone()];
            files.extend(segs.iter().cloned());
            let v = pymp4(&files);
            let (timescale, s) = timeline(rep);
            assert_eq!(
                v[init.to_str().unwrap()]["timescale"],
                timescale,
                "{name}: the SegmentTemplate's timescale is mdhd's"
            );
            assert_eq!(s.len(), segs.len(), "{name}: {mpd}");
            let mut total = 0u64;
            for ((t, _), seg) in s.iter().zip(&segs) {
                let b = &v[seg.to_str().unwrap()];
                let tfdt = b["tfdt"][0].as_u64().unwrap();
                let durations: Vec<u64> = b["durations"][0]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|d| d.as_u64().unwrap())
                    .collect();
                let sample = durations.iter().copied().max().unwrap();
                assert!(
                    t.abs_diff(tfdt) <= sample,
                    "{name} {}: S@t {t}, tfdt {tfdt}",
                    seg.display()
                );
                total += durations.iter().sum::<u64>();
            }
            let mut sample_max = 0u64;
            for seg in &segs {
                for d in v[seg.to_str().unwrap()]["durations"][0].as_array().unwrap() {
                    sample_max = sample_max.max(d.as_u64().unwrap());
                }
            }
            for w in s.windows(2) {
                assert_eq!(
                    w[0].0 + w[0].1,
                    w[1].0,
                    "{name}: a gap in the timeline: {mpd}"
                );
            }
            let last = s.last().unwrap();
            let span = last.0 + last.1 - s[0].0;
            assert!(
                span.abs_diff(total) <= sample_max,
                "{name}: the timeline lasts {span}, the samples {total}: {mpd}"
            );
        }
    }
    let keys = keys_of(&t, &kr, &dash);
    assert_eq!(keys.len(), 1, "one key period: {keys:?}");
    let keys: Vec<(String, String)> = keys.into_iter().collect();
    let server = HttpServer::serve(&dash);
    for player in ["dashjs", "shaka"] {
        let v = play_eme(&server.url("manifest.mpd"), player, &keys);
        assert_played(&v, 2 * 3);
    }
    // A wrong key: nothing plays.
    let wrong = [(keys[0].0.clone(), "00".repeat(16))];
    let v = play_eme(&server.url("manifest.mpd"), "dashjs", &wrong);
    assert_ne!(v["exitCode"], 0, "played with a wrong key: {v}");
    drop(server);

    // HLS, cbcs, of the same inputs: Shaka fetches each track's key at its
    // EXT-X-KEY URI (relative to the track's playlist).
    let hls = t.join("hls");
    package(&ins, &hls, &kr, &["--scheme", "cbcs"]);
    let keys = keys_of(&t, &kr, &hls);
    for name in VIDEO.iter().chain(&AUDIO) {
        let d = hls.join(name).join("keys");
        std::fs::create_dir_all(&d).unwrap();
        for (kid, key) in &keys {
            std::fs::write(d.join(format!("{kid}.key")), hex::decode(key).unwrap()).unwrap();
        }
    }
    let server = HttpServer::serve(&hls);
    assert_played(&play_eme(&server.url("master.m3u8"), "shaka", &[]), 3);
}

/// Audio frames of audio stream `index` of `input`, decoded by ffprobe.
fn source_audio_frames(input: &Path, index: usize) -> u64 {
    let out = run_ok(
        std::process::Command::new("ffprobe")
            .args(["-v", "error", "-count_frames", "-select_streams"])
            .arg(format!("a:{index}"))
            .args(["-show_entries", "stream=nb_read_frames", "-of", "csv=p=0"])
            .arg(input),
    );
    stdout(&out).trim().parse().unwrap()
}

#[test]
fn cmaf_renditions_decrypt_in_ffmpeg_and_no_iv_repeats_under_the_shared_key() {
    let t = TestDir::new();
    let kr = new_keyring(&t);
    let ins = inputs(&t);
    let out = t.join("out");
    // One key period: all four tracks and every segment share the one key,
    // the hardest case for IV uniqueness.
    package(&ins, &out, &kr, &["--scheme", "cenc"]);
    let keys = keys_of(&t, &kr, &out);
    assert_eq!(keys.len(), 1, "{keys:?}");
    let (kid, key) = keys.iter().next().unwrap();
    let m = manifest(&out);

    // Every (KID, IV) of every sample of every track, from the senc boxes
    // as pymp4 reads them, together with tenc's default KID.
    let mut seen: HashSet<(String, String)> = HashSet::new();
    let mut samples = 0usize;
    for name in VIDEO.iter().chain(&AUDIO) {
        let (init, segs) = track(&out, name);
        let mut files = vec![init.clone()];
        files.extend(segs.iter().cloned());
        let v = pymp4(&files);
        assert_eq!(&v[init.to_str().unwrap()]["kid"], kid, "{name}: tenc");
        let rendition = m["renditions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["name"] == *name)
            .unwrap_or_else(|| panic!("{name} not in manifest.json"));
        for (seg, rec) in segs.iter().zip(rendition["segments"].as_array().unwrap()) {
            assert_eq!(&rec["kid"], kid, "{name}");
            let b = &v[seg.to_str().unwrap()];
            for want in [
                "/moof/traf/tfdt",
                "/moof/traf/trun",
                "/moof/traf/senc",
                "/mdat",
            ] {
                assert!(
                    b["boxes"].as_array().unwrap().iter().any(|x| x == want),
                    "{want} not in {b}"
                );
            }
            let ivs = b["senc"][0]["ivs"].as_array().unwrap();
            assert_eq!(ivs.len() as u64, b["trun"][0].as_u64().unwrap(), "{b}");
            for iv in ivs {
                samples += 1;
                let pair = (kid.clone(), iv.as_str().unwrap().to_string());
                assert!(
                    seen.insert(pair.clone()),
                    "IV {} repeats under KID {kid} ({name}, {})",
                    pair.1,
                    seg.display()
                );
            }
        }
    }
    // 2 x 150 video frames and the audio frames of two languages.
    assert!(samples > 2 * FRAMES as usize + 400, "{samples} samples");

    // FFmpeg decrypts and decodes every frame of every track; the counts are
    // the sources'.
    for name in VIDEO {
        assert_eq!(decoded_track(&t, &out, name, "0:v", key), FRAMES, "{name}");
    }
    for (i, name) in AUDIO.iter().enumerate() {
        let want = source_audio_frames(&ins[0], i);
        assert_eq!(decoded_track(&t, &out, name, "0:a", key), want, "{name}");
    }
    // Without the key, FFmpeg's decoder gets noise.
    let mut c = ffmpeg();
    let bad = run(c
        .args(["-xerror", "-decryption_key", &"00".repeat(16), "-i"])
        .arg(&joined(&t, &out, VIDEO[0])[0])
        .args(["-map", "0:v", "-f", "null", "-"]));
    assert!(
        !bad.status.success() || !stderr(&bad).trim().is_empty(),
        "a wrong key decoded cleanly"
    );

    // verify decrypts every sample of every track.
    let keydir = t.join("keys-out");
    let r = stdout_json(&run_ok(
        shieldpack()
            .arg("verify")
            .arg(&out)
            .arg("--keys")
            .arg(&keydir)
            .arg("--json"),
    ));
    assert_eq!(r["defects"], serde_json::json!([]), "{r}");
    assert_eq!(r["video_frames"], 2 * FRAMES, "{r}");
}

#[test]
fn cmaf_key_scope_track_type_gives_each_track_type_its_key_and_plays_in_shaka() {
    let t = TestDir::new();
    let kr = new_keyring(&t);
    let ins = vec![input(&t, 1280, 720), input(&t, 640, 360)];
    let out = t.join("out");
    package(
        &ins,
        &out,
        &kr,
        &[
            "--scheme",
            "cenc",
            "--dash",
            "--drm",
            "clearkey",
            "--key-scope",
            "track-type",
        ],
    );
    let m = manifest(&out);
    assert_eq!(m["key_scope"], "track-type", "{m}");
    // One period, three keys: HD, SD and AUDIO, each track under its type's.
    let mut kid_of: BTreeMap<String, String> = BTreeMap::new();
    let mut type_kid: BTreeMap<String, String> = BTreeMap::new();
    for r in m["renditions"].as_array().unwrap() {
        let name = r["name"].as_str().unwrap();
        if name.starts_with("subs-") {
            continue;
        }
        let want = match name {
            "720p" => "HD",
            "360p" => "SD",
            _ => "AUDIO",
        };
        assert_eq!(r["track_type"], want, "{name}");
        let kids: HashSet<&str> = r["segments"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["kid"].as_str().unwrap())
            .collect();
        assert_eq!(kids.len(), 1, "{name}: {kids:?}");
        let kid = kids.into_iter().next().unwrap().to_string();
        if let Some(k) = type_kid.insert(want.to_string(), kid.clone()) {
            assert_eq!(k, kid, "{want} has one key");
        }
        kid_of.insert(name.to_string(), kid);
    }
    assert_eq!(type_kid.len(), 3, "{type_kid:?}");
    let distinct: HashSet<&String> = type_kid.values().collect();
    assert_eq!(distinct.len(), 3, "{type_kid:?}");
    let keys = keys_of(&t, &kr, &out);
    assert_eq!(keys.len(), 3, "{keys:?}");

    // tenc's default KID is the track's own (pymp4), and FFmpeg decrypts
    // and decodes every frame of each track with that key only.
    for (name, kid) in &kid_of {
        let (init, _) = track(&out, name);
        let v = pymp4(std::slice::from_ref(&init));
        assert_eq!(v[init.to_str().unwrap()]["kid"], *kid, "{name}");
        let file = &joined(&t, &out, name)[0];
        let key = &keys[kid];
        if name.ends_with('p') {
            assert_eq!(decoded_track(&t, &out, name, "0:v", key), FRAMES, "{name}");
            let other = keys.iter().find(|(k, _)| *k != kid).unwrap().1;
            let mut c = ffmpeg();
            let bad = run(c
                .args(["-xerror", "-decryption_key", other, "-i"])
                .arg(file)
                .args(["-map", "0:v", "-f", "null", "-"]));
            assert!(
                !bad.status.success() || !stderr(&bad).trim().is_empty(),
                "{name} decoded cleanly under another track type's key"
            );
        } else {
            let i = usize::from(name == "audio-fra");
            assert_eq!(
                decoded_track(&t, &out, name, "0:a", key),
                source_audio_frames(&ins[0], i),
                "{name}"
            );
        }
    }

    // The MPD: HD and SD differ in default KID, so each Representation
    // carries its own ContentProtection; each audio set one for AUDIO.
    let mpd = std::fs::read_to_string(out.join("manifest.mpd")).unwrap();
    let doc = roxmltree::Document::parse(&mpd).expect("manifest.mpd is XML");
    let default_kid = |n: roxmltree::Node| -> Vec<String> {
        n.children()
            .filter(|c| c.has_tag_name("ContentProtection"))
            .filter_map(|c| c.attribute(("urn:mpeg:cenc:2013", "default_KID")))
            .map(|k| k.replace('-', ""))
            .collect()
    };
    for set in doc
        .descendants()
        .filter(|n| n.has_tag_name("AdaptationSet"))
    {
        let reps: Vec<_> = set
            .children()
            .filter(|n| n.has_tag_name("Representation"))
            .collect();
        if set.attribute("contentType") == Some("video") {
            assert!(default_kid(set).is_empty(), "{mpd}");
            for r in reps {
                let kid = &kid_of[r.attribute("id").unwrap()];
                assert_eq!(default_kid(r), [kid.clone(), kid.clone()], "{mpd}");
            }
        } else {
            let kid = &type_kid["AUDIO"];
            assert_eq!(default_kid(set), [kid.clone(), kid.clone()], "{mpd}");
        }
    }
    let server = HttpServer::serve(&out);
    let all: Vec<(String, String)> = keys.into_iter().collect();
    assert_played(&play_eme(&server.url("manifest.mpd"), "shaka", &all), 3);
}

#[test]
fn cmaf_ladder_packages_every_rung_as_a_track_and_plays_in_dashjs() {
    let t = TestDir::new();
    let kr = new_keyring(&t);
    // The mezzanine: one 360p input with its two languages; two rungs.
    let mezz = input(&t, 640, 360);
    let out = t.join("out");
    run_ok(package_input(&mezz, &out, &kr).args([
        "--ladder",
        "360p:600k,180p:250k",
        "--format",
        "cmaf",
        "--segment-duration",
        "2",
        "--scheme",
        "cenc",
        "--dash",
        "--drm",
        "clearkey",
    ]));
    let mpd = std::fs::read_to_string(out.join("manifest.mpd")).unwrap();
    let doc = roxmltree::Document::parse(&mpd).expect("manifest.mpd is XML");
    let reps = |kind: &str| -> usize {
        doc.descendants()
            .filter(|n| n.has_tag_name("AdaptationSet"))
            .filter(|n| n.attribute("contentType") == Some(kind))
            .flat_map(|n| n.children().filter(|c| c.has_tag_name("Representation")))
            .count()
    };
    assert_eq!(reps("video"), 2, "{mpd}");
    assert_eq!(reps("audio"), 2, "{mpd}");
    let keys = keys_of(&t, &kr, &out);
    let r = stdout_json(&run_ok(
        shieldpack()
            .arg("verify")
            .arg(&out)
            .arg("--keys")
            .arg(t.join("keys-out"))
            .arg("--json"),
    ));
    assert_eq!(r["defects"], serde_json::json!([]), "{r}");
    assert_eq!(r["video_frames"], 2 * FRAMES, "{r}");
    let server = HttpServer::serve(&out);
    let keys: Vec<(String, String)> = keys.into_iter().collect();
    assert_played(&play_eme(&server.url("manifest.mpd"), "dashjs", &keys), 6);
}
