//! Input fidelity and authoring rules (issue 24): BANDWIDTH over long GOPs,
//! streams `package` leaves out, and Apple's HLS authoring rules. Inputs are
//! made here with FFmpeg's lavfi sources, small (320x240, a few seconds).

use std::path::{Path, PathBuf};

use crate::util::*;

/// 6 s at 25 fps with a keyframe every 3 s only; the picture turns to noise
/// after 3 s, so the second segment is far denser than the first.
fn long_gop_input(t: &TestDir) -> PathBuf {
    let input = t.join("long-gop.mp4");
    run_ok(
        ffmpeg()
            .args(["-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25"])
            .args(["-vf", "noise=alls=100:allf=t:enable='gte(t,3)'", "-t", "6"])
            .args(["-c:v", "libx264", "-pix_fmt", "yuv420p"])
            .args(["-g", "75", "-keyint_min", "75", "-sc_threshold", "0"])
            .arg(&input),
    );
    input
}

/// Packages `input` with `extra` flags into `t/out`: (out, keyring, stderr).
fn package(t: &TestDir, input: &Path, extra: &[&str]) -> (PathBuf, PathBuf, String) {
    let keyring = t.join("keyring.json");
    if !keyring.exists() {
        new_keyring(t);
    }
    let out = t.join("out");
    let o = run_ok(package_input(input, &out, &keyring).args(extra));
    (out, keyring, stderr(&o))
}

/// The first variant's (BANDWIDTH, AVERAGE-BANDWIDTH) in `out/master.m3u8`.
fn master_bandwidths(out: &Path) -> (u64, u64) {
    let text = std::fs::read_to_string(out.join("master.m3u8")).unwrap();
    let inf = text
        .lines()
        .find(|l| l.starts_with("#EXT-X-STREAM-INF:"))
        .expect("a variant");
    let attr = |name: &str| -> u64 {
        inf.split([':', ','])
            .find_map(|kv| kv.strip_prefix(name)?.strip_prefix('='))
            .unwrap_or_else(|| panic!("no {name} in {inf}"))
            .parse()
            .unwrap()
    };
    (attr("BANDWIDTH"), attr("AVERAGE-BANDWIDTH"))
}

/// Each segment of the rendition as (EXTINF, bytes on disk).
fn segments(out: &Path) -> Vec<(f64, u64)> {
    let playlist = out.join("360p").join("index.m3u8");
    let playlist = if playlist.exists() {
        playlist
    } else {
        let text = std::fs::read_to_string(out.join("master.m3u8")).unwrap();
        let uri = text.lines().find(|l| l.ends_with(".m3u8")).unwrap();
        out.join(uri)
    };
    let dir = playlist.parent().unwrap();
    let text = std::fs::read_to_string(&playlist).unwrap();
    let mut out = Vec::new();
    let mut extinf = None;
    for l in text.lines() {
        if let Some(d) = l.strip_prefix("#EXTINF:") {
            extinf = Some(d.trim_end_matches(',').parse::<f64>().unwrap());
        } else if !l.starts_with('#') && !l.is_empty() {
            let size = std::fs::metadata(dir.join(l)).unwrap().len();
            out.push((extinf.take().unwrap(), size));
        }
    }
    out
}

fn verify(out: &Path, keyring: &Path, code: i32) -> std::process::Output {
    run_code(
        shieldpack()
            .arg("--json")
            .arg("verify")
            .arg(out)
            .arg("--keyring")
            .arg(keyring),
        code,
    )
}

/// Issue 24 item 3: with keyframes 3 s apart and `--segment-duration 1`,
/// no run of segments lasted 0.5 to 1.5 of the *requested* duration, so the
/// average was written as BANDWIDTH. The window is EXT-X-TARGETDURATION (3).
#[test]
fn bandwidth_counts_a_long_gop_segment_at_its_peak() {
    let t = TestDir::new();
    let input = long_gop_input(&t);
    let (out, keyring, _) = package(&t, &input, &["--segment-duration", "1"]);
    let segs = segments(&out);
    assert_eq!(segs.len(), 2, "{segs:?}");
    let densest = segs
        .iter()
        .map(|&(d, b)| (b as f64 * 8.0 / d).ceil() as u64)
        .max()
        .unwrap();
    let bytes: u64 = segs.iter().map(|s| s.1).sum();
    let secs: f64 = segs.iter().map(|s| s.0).sum();
    let average = (bytes as f64 * 8.0 / secs).ceil() as u64;
    let (bandwidth, avg) = master_bandwidths(&out);
    assert!(
        densest > average * 3 / 2,
        "the input should have one dense segment: {segs:?}"
    );
    // Each EXTINF is to the millisecond: within that of the exact rate.
    assert!(
        bandwidth.abs_diff(densest) <= densest / 1000,
        "{bandwidth} vs {densest} {segs:?}"
    );
    assert!(
        avg.abs_diff(average) <= average / 1000,
        "{avg} vs {average}"
    );
    verify(&out, &keyring, 0);
}

/// Issue 24 item 3: `verify` passed a master playlist whose BANDWIDTH is the
/// average, below the peak its segments give; and one whose
/// AVERAGE-BANDWIDTH is not their average.
#[test]
fn verify_reports_an_understated_bandwidth() {
    let t = TestDir::new();
    let input = long_gop_input(&t);
    let (out, keyring, _) = package(&t, &input, &["--segment-duration", "1"]);
    let master = out.join("master.m3u8");
    let good = std::fs::read_to_string(&master).unwrap();
    let (bandwidth, avg) = master_bandwidths(&out);

    // What the old window wrote: the average as the peak.
    std::fs::write(
        &master,
        good.replace(
            &format!("BANDWIDTH={bandwidth},"),
            &format!("BANDWIDTH={avg},"),
        ),
    )
    .unwrap();
    assert_eq!(master_bandwidths(&out), (avg, avg));
    let defects = verify_defects(&verify(&out, &keyring, 1));
    assert!(
        defects.len() == 1
            && defects[0].starts_with("master.m3u8: ")
            && defects[0].contains(&format!(
                "BANDWIDTH {avg} is below the peak segment bit rate"
            ))
            && defects[0].contains("4.3.4.2"),
        "{defects:?}"
    );

    // An AVERAGE-BANDWIDTH off by 10%.
    let low = avg * 9 / 10;
    std::fs::write(
        &master,
        good.replace(
            &format!("AVERAGE-BANDWIDTH={avg}"),
            &format!("AVERAGE-BANDWIDTH={low}"),
        ),
    )
    .unwrap();
    let defects = verify_defects(&verify(&out, &keyring, 1));
    assert!(
        defects.len() == 1
            && defects[0].contains(&format!("AVERAGE-BANDWIDTH {low} is not the average")),
        "{defects:?}"
    );

    // Overstating is wasteful, not wrong.
    std::fs::write(
        &master,
        good.replace(
            &format!("BANDWIDTH={bandwidth},"),
            &format!("BANDWIDTH={},", bandwidth * 2),
        ),
    )
    .unwrap();
    verify(&out, &keyring, 0);
}

/// Issue 24 item 7: extra audio tracks and subtitles were left out without
/// a word. Issue 21 now packages them (alternate audio, WebVTT); streams
/// still left out (bitmap subtitles, data) get the warning.
#[test]
fn extra_audio_and_subtitle_tracks_are_packaged_not_dropped() {
    let t = TestDir::new();
    let srt = t.join("subs.srt");
    std::fs::write(&srt, "1\n00:00:00,000 --> 00:00:01,500\nhello\n").unwrap();
    let input = t.join("multi.mkv");
    run_ok(
        ffmpeg()
            .args(["-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25:d=2"])
            .args(["-f", "lavfi", "-i", "sine=f=440:d=2"])
            .args(["-f", "lavfi", "-i", "sine=f=880:d=2"])
            .arg("-i")
            .arg(&srt)
            .args(["-map", "0:v", "-map", "1:a", "-map", "2:a", "-map", "3:s"])
            .args([
                "-c:v", "libx264", "-pix_fmt", "yuv420p", "-c:a", "aac", "-c:s", "srt",
            ])
            .args([
                "-metadata:s:a:0",
                "language=eng",
                "-metadata:s:a:1",
                "language=fre",
            ])
            .args(["-metadata:s:s:0", "language=ger"])
            .arg(&input),
    );
    let (out, keyring, err) = package(&t, &input, &["--segment-duration", "2"]);
    // Issue 21 packages both audio tracks as alternate audio renditions and
    // the SubRip track as WebVTT: nothing is left out, so no warning.
    assert!(!err.contains("left out"), "{err}");
    for rendition in ["audio-eng", "audio-fre", "subs-ger"] {
        assert!(
            out.join(rendition).join("index.m3u8").is_file(),
            "no {rendition}"
        );
    }
    let vtt = std::fs::read_to_string(out.join("subs-ger/seg_00000.vtt")).unwrap();
    assert!(
        vtt.contains("00:00:00.000 --> 00:00:01.500\nhello"),
        "{vtt}"
    );
    // What it says it carries is what the package holds: video, and audio
    // in the group the variant names.
    let master = std::fs::read_to_string(out.join("master.m3u8")).unwrap();
    let codecs = master
        .split("CODECS=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap();
    let kinds: Vec<&str> = codecs.split(',').map(|c| &c[..4]).collect();
    assert_eq!(kinds, ["avc1", "mp4a"], "{master}");
    verify(&out, &keyring, 0);
}

/// Issue 24 item 7: keyframes 10 s apart made 6 s segments from
/// `--segment-duration 2` without a word.
#[test]
fn a_long_gop_segment_gets_a_warning() {
    let t = TestDir::new();
    let input = t.join("gop.mp4");
    run_ok(
        ffmpeg()
            .args(["-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25:d=6"])
            .args(["-c:v", "libx264", "-pix_fmt", "yuv420p"])
            .args(["-g", "250", "-keyint_min", "250", "-sc_threshold", "0"])
            .arg(&input),
    );
    let (out, keyring, err) = package(&t, &input, &["--segment-duration", "2"]);
    let segs = segments(&out);
    assert_eq!(segs.len(), 1, "{segs:?}");
    let warning = err
        .lines()
        .find(|l| l.contains("longer than 1.5 times"))
        .unwrap_or_else(|| panic!("no long-segment warning in: {err}"));
    assert!(
        warning.starts_with(
            "warning: 1 of 1 segments last longer than 1.5 times --segment-duration 2"
        ) && warning.contains(&format!("lasts {:.3}s", segs[0].0))
            && warning.contains("-force_key_frames 'expr:gte(t,n_forced*2)'"),
        "{warning}"
    );
    verify(&out, &keyring, 0);
    // A package whose keyframes fit gets no such warning.
    let t = TestDir::new();
    let (_, _, err) = package(&t, &fixture("clip.mp4"), &["--segment-duration", "2"]);
    assert!(!err.contains("longer than 1.5 times"), "{err}");
}

/// 2 s of 320x240 video encoded with `codec_args`, in `name`.
fn encoded(t: &TestDir, name: &str, codec_args: &[&str]) -> PathBuf {
    let input = t.join(name);
    run_ok(
        ffmpeg()
            .args(["-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25:d=2"])
            .args(codec_args)
            .arg(&input),
    );
    input
}

/// Issue 24 item 8: HEVC went into MPEG-TS, which Apple's rule 1.5 forbids
/// (HEVC only in fMP4), without a word. `--apple` refuses it, naming the rule.
#[test]
fn apple_refuses_hevc_in_ts_with_the_rule() {
    let t = TestDir::new();
    let input = encoded(
        &t,
        "hevc.mp4",
        &["-c:v", "libx265", "-x265-params", "log-level=error"],
    );
    let keyring = new_keyring(&t);
    let out = t.join("out");
    let o = run_code(
        shieldpack()
            .arg("package")
            .arg(&input)
            .arg("-o")
            .arg(&out)
            .arg("--keyring")
            .arg(&keyring)
            .arg("--apple"),
        2,
    );
    let e = stderr(&o);
    assert!(
        e.contains("breaks rule 1.5 of Apple's HLS Authoring Specification")
            && e.contains("HEVC")
            && e.contains("\nhint: re-encode to H.264"),
        "{e}"
    );
    assert!(!out.exists(), "published despite --apple");
    // Without --apple it packages, with the rule as a warning.
    let (_, _, err) = package(&t, &input, &[]);
    assert!(
        err.contains("warning: Apple devices may refuse this package: rule 1.5"),
        "{err}"
    );
}

/// Issue 24 item 8: High 10 H.264 breaks Apple's rule 1.3 (at most High@4.2);
/// it packages, with a warning naming the rule, and High 8-bit gets none.
#[test]
fn high_10_gets_an_apple_warning_by_default() {
    let t = TestDir::new();
    let input = encoded(
        &t,
        "hi10.mp4",
        &["-c:v", "libx264", "-pix_fmt", "yuv420p10le"],
    );
    let probed = run_ok(
        std::process::Command::new("ffprobe")
            .args([
                "-v",
                "error",
                "-show_entries",
                "stream=profile",
                "-of",
                "csv=p=0",
            ])
            .arg(&input),
    );
    assert_eq!(stdout(&probed).trim(), "High 10");
    let (out, keyring, err) = package(&t, &input, &[]);
    let warning = err
        .lines()
        .find(|l| l.contains("Apple"))
        .unwrap_or_else(|| panic!("no Apple warning in: {err}"));
    assert!(
        warning.contains("rule 1.3 of Apple's HLS Authoring Specification")
            && warning.contains("this is High 10 level"),
        "{warning}"
    );
    verify(&out, &keyring, 0);
    let t = TestDir::new();
    let input = encoded(&t, "high.mp4", &["-c:v", "libx264", "-pix_fmt", "yuv420p"]);
    let (_, _, err) = package(&t, &input, &["--apple"]);
    assert!(!err.contains("Apple"), "{err}");
}

/// Issue 24 item 4: `verify` rejected its own HEVC open-GOP packages ("video
/// lasts 1.880s but EXTINF says 2.000s"): the leading pictures after each
/// CRA land in the next segment, shown before the CRA, and EXTINF ran from
/// keyframe to keyframe. EXTINF now runs from a segment's earliest picture
/// to the next segment's, which is what `verify` measures.
#[test]
fn hevc_open_gop_packages_pass_their_own_verify() {
    let t = TestDir::new();
    let input = t.join("open-gop.mp4");
    run_ok(
        ffmpeg()
            .args([
                "-f",
                "lavfi",
                "-i",
                "testsrc2=size=320x240:rate=25",
                "-t",
                "6",
            ])
            .args(["-c:v", "libx265", "-tag:v", "hvc1", "-x265-params"])
            .arg("keyint=25:min-keyint=25:open-gop=1:bframes=3:log-level=error")
            .arg(&input),
    );
    let (out, keyring, _) = package(&t, &input, &["--segment-duration", "2"]);
    let extinfs: Vec<f64> = segments(&out).iter().map(|(d, _)| *d).collect();
    assert_eq!(extinfs.len(), 3, "{extinfs:?}");
    // The leading pictures move the cuts earlier than the 2 s grid.
    assert!(extinfs[0] < 1.99 && extinfs[2] > 2.01, "{extinfs:?}");
    assert!(
        (extinfs.iter().sum::<f64>() - 6.0).abs() < 0.002,
        "{extinfs:?}"
    );
    let o = run(shieldpack()
        .arg("verify")
        .arg(&out)
        .arg("--keyring")
        .arg(&keyring));
    assert!(o.status.success(), "{}", stderr(&o));
    let rendition = out.join("240p");
    export_key_files(&keyring, &out, &rendition.join("keys"));
    assert_eq!(
        ffprobe_frames(rendition.join("index.m3u8")),
        ffprobe_frames(&input)
    );
}

/// Seconds of audio FFmpeg decodes from the first audio stream of `input`
/// (a file, or a package's playlist with its key files beside it): what a
/// player plays, edit lists and priming honoured.
fn decoded_audio_seconds(input: &Path) -> f64 {
    let mut c = std::process::Command::new("ffmpeg");
    c.args(["-hide_banner", "-nostdin", "-v", "error"]);
    if input.extension().is_some_and(|e| e == "m3u8") {
        c.args(["-allowed_extensions", "ALL"]);
    }
    let o = run_ok(
        c.arg("-i")
            .arg(input)
            .args(["-map", "0:a:0", "-ac", "1", "-ar", "48000"])
            .args(["-f", "s16le", "-"]),
    );
    o.stdout.len() as f64 / 2.0 / 48000.0
}

/// The first `n` video packets of `input` as ffprobe lists them: (pts, dts,
/// duration), "N/A" where the container gives none.
fn video_packets(input: &Path, n: usize) -> Vec<(String, String, String)> {
    let o = run_ok(
        std::process::Command::new("ffprobe")
            .args(["-v", "error", "-select_streams", "v:0", "-show_packets"])
            .args(["-show_entries", "packet=pts,dts,duration", "-of", "csv=p=0"])
            .arg(input),
    );
    stdout(&o)
        .lines()
        .take(n)
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            (f[0].into(), f[1].into(), f[2].into())
        })
        .collect()
}

/// Decrypts and decodes the package in `out` as FFmpeg does: (video frames,
/// audio seconds). Exports the key files beside its first rendition's
/// playlist, where its key URIs point, so a browser can play it after.
fn decoded_package(out: &Path, keyring: &Path) -> (u64, f64) {
    let text = std::fs::read_to_string(out.join("master.m3u8")).unwrap();
    let uri = text.lines().find(|l| l.ends_with(".m3u8")).unwrap();
    let playlist = out.join(uri);
    let rendition = playlist.parent().unwrap().to_path_buf();
    export_key_files(keyring, out, &rendition.join("keys"));
    let frames = ffprobe_frames(&playlist);
    let audio = decoded_audio_seconds(&playlist);
    (frames, audio)
}

/// Issue 24 item 1: a VFR Matroska file (24 fps, then 30 fps) of H.264 with
/// B-frames, muxed in a 1 ms time base without packet durations, comes with
/// no DTS on its first video packets (FFmpeg's Matroska demuxer derives DTS
/// from PTS through a buffer as deep as the reorder delay). FFmpeg's muxer
/// then guessed the second packet's DTS equal to the first's and `package`
/// failed with "FFmpeg failed to write a packet: Invalid argument", while
/// `ffmpeg -c copy -f mpegts` remuxed it. DTS are now filled as the ffmpeg
/// command fills them.
#[test]
fn item1_vfr_mkv_without_leading_dts_packages() {
    let t = TestDir::new();
    let input = t.join("vfr.mkv");
    run_ok(
        ffmpeg()
            .args(["-f", "lavfi", "-i", "testsrc2=size=640x360:rate=24:d=4"])
            .args(["-f", "lavfi", "-i", "sine=d=4"])
            .args(["-vf", "setpts='if(lt(N,48),N/24,2+(N-48)/30)/TB'"])
            .args(["-r", "1000", "-fps_mode", "vfr"])
            .args(["-c:v", "libx264", "-bf", "3", "-g", "48", "-level:v", "3.0"])
            .args(["-c:a", "aac", "-shortest"])
            .arg(&input),
    );
    // The input is what the issue describes, or this test proves nothing.
    let first = video_packets(&input, 3);
    assert_eq!(first[0].1, "N/A", "no DTS on the first packet: {first:?}");
    assert_eq!(first[1].1, "N/A", "no DTS on the second packet: {first:?}");
    assert!(
        first.iter().all(|p| p.2 == "N/A"),
        "no durations: {first:?}"
    );
    run_ok(
        ffmpeg()
            .arg("-i")
            .arg(&input)
            .args(["-c", "copy", "-f", "mpegts"])
            .arg(t.join("remux.ts")),
    );

    let inspected = run_ok(shieldpack().arg("inspect").arg(&input));
    assert!(
        stdout(&inspected).contains("packagable: yes"),
        "{}",
        stdout(&inspected)
    );
    let (out, keyring, _) = package(&t, &input, &["--segment-duration", "2"]);
    let o = verify(&out, &keyring, 0);
    assert_eq!(verify_defects(&o), Vec::<String>::new());

    let source_frames = ffprobe_frames(&input);
    assert_eq!(source_frames, 96);
    let (frames, audio) = decoded_package(&out, &keyring);
    assert_eq!(frames, source_frames);
    let source_audio = decoded_audio_seconds(&input);
    // Within one AAC frame (1024 samples at 44.1 kHz).
    assert!(
        (audio - source_audio).abs() < 0.024,
        "package has {audio:.3}s of audio, the source {source_audio:.3}s"
    );
    assert_plays_to_end(&out, 2, source_frames);
}

/// Issue 24 item 1, its other half: when no DTS fits a packet (two frames
/// presented at the same time), `package` and `inspect` both refuse it,
/// naming the packet (stream, index, time) and why.
#[test]
fn item1_a_packet_no_decode_time_fits_is_named() {
    let t = TestDir::new();
    let input = t.join("twice.mkv");
    run_ok(
        ffmpeg()
            .args(["-f", "lavfi", "-i", "testsrc2=size=320x240:rate=24:d=2"])
            .args([
                "-vf",
                "setpts='floor(N/2)*2/24/TB'",
                "-fps_mode",
                "passthrough",
            ])
            .args(["-c:v", "libx264", "-bf", "0", "-g", "24"])
            .arg(&input),
    );
    let first = video_packets(&input, 2);
    assert_eq!(first[0].0, first[1].0, "two frames at one time: {first:?}");
    let keyring = new_keyring(&t);
    let o = run_code(&mut package_input(&input, t.join("out"), &keyring), 2);
    let err = stderr(&o);
    assert!(
        err.contains("video packet 1 of stream 0 (at 0.000s) cannot be packaged")
            && err.contains("not after the decode time of the packet before it")
            && err.contains("hint:"),
        "{err}"
    );
    assert!(!t.join("out").exists());
    let inspected = run_ok(shieldpack().arg("inspect").arg(&input));
    assert!(
        stdout(&inspected).contains("packagable: no: ")
            && stdout(&inspected).contains("video packet 1 of stream 0"),
        "{}",
        stdout(&inspected)
    );
}

/// Issue 24 item 2: `ffmpeg -ss 2.3 -i in.mp4 -c copy cut.mp4` keeps the GOP
/// the cut falls in and an edit list that starts presenting 2.3 s into it.
/// The package held all 300 frames (the 69 hidden ones shown first) and
/// audio that began after the picture. Now it holds the 231 frames players
/// show, the first of them the picture at the cut, and audio as long as
/// FFmpeg decodes from the source; only the frames from the cut to the next
/// keyframe are re-encoded.
#[test]
fn item2_edit_list_cut_packages_what_players_show() {
    let t = TestDir::new();
    let full = t.join("in.mp4");
    run_ok(
        ffmpeg()
            .args(["-f", "lavfi", "-i", "testsrc2=size=640x360:rate=30:d=10"])
            .args(["-f", "lavfi", "-i", "sine=d=10:r=48000"])
            .args(["-c:v", "libx264", "-bf", "2", "-g", "90", "-c:a", "aac"])
            .arg(&full),
    );
    let input = t.join("cut.mp4");
    run_ok(
        ffmpeg()
            .args(["-ss", "2.3", "-i"])
            .arg(&full)
            .args(["-c", "copy"])
            .arg(&input),
    );
    // The input is what the issue describes: 300 frames stored, 231 shown.
    let stored = run_ok(
        std::process::Command::new("ffprobe")
            .args(["-v", "error", "-select_streams", "v:0", "-count_packets"])
            .args(["-show_entries", "stream=nb_read_packets", "-of", "csv=p=0"])
            .arg(&input),
    );
    assert_eq!(stdout(&stored).trim(), "300");
    let shown = ffprobe_frames(&input);
    assert_eq!(shown, 231);

    let (out, keyring, err) = package(&t, &input, &["--segment-duration", "2"]);
    assert!(
        err.contains("edit list hides its first 69 video frames")
            && err.contains("the 21 shown before the next keyframe were re-encoded"),
        "{err}"
    );
    let o = verify(&out, &keyring, 0);
    assert_eq!(verify_defects(&o), Vec::<String>::new());
    let extinf: f64 = segments(&out).iter().map(|(d, _)| d).sum();
    assert!((extinf - 7.7).abs() < 0.01, "EXTINFs add up to {extinf}");

    let (frames, audio) = decoded_package(&out, &keyring);
    assert_eq!(frames, shown);
    let source_audio = decoded_audio_seconds(&input);
    // Within one AAC frame (1024 samples at 48 kHz): the frame that
    // straddles the cut is kept whole.
    assert!(
        (audio - source_audio).abs() < 0.022,
        "package has {audio:.3}s of audio, the source {source_audio:.3}s"
    );
    let playlist = out.join("360p/index.m3u8");
    let (decoded, errors) = ffmpeg_decode_ok(&playlist);
    assert_eq!((decoded, errors.as_str()), (shown, ""));

    // Frame for frame what FFmpeg shows of the source: re-encoded frames
    // close to it, copied ones identical. PSNR per frame, from the first.
    let o = run_ok(
        std::process::Command::new("ffmpeg")
            .args([
                "-hide_banner",
                "-nostdin",
                "-allowed_extensions",
                "ALL",
                "-i",
            ])
            .arg(&playlist)
            .arg("-i")
            .arg(&input)
            .args([
                "-lavfi",
                "[0:v]setpts=PTS-STARTPTS[a];[1:v]setpts=PTS-STARTPTS[b];[a][b]psnr=stats_file=-",
            ])
            .args(["-f", "null", "-"]),
    );
    let psnr: Vec<f64> = stdout(&o)
        .lines()
        .map(|l| {
            let v = l
                .split_whitespace()
                .find_map(|kv| kv.strip_prefix("psnr_y:"))
                .unwrap();
            if v == "inf" {
                f64::INFINITY
            } else {
                v.parse().unwrap()
            }
        })
        .collect();
    assert_eq!(psnr.len() as u64, shown);
    assert!(
        psnr[..21].iter().all(|p| *p > 40.0),
        "re-encoded: {:?}",
        &psnr[..21]
    );
    assert!(
        psnr[21..].iter().all(|p| p.is_infinite()),
        "copied: {:?}",
        &psnr[21..]
    );

    assert_plays_to_end(&out, segments(&out).len() as u64, shown);

    // Re-encoding keeps the package byte-identical from run to run.
    let again = t.join("again");
    run_ok(package_input(&input, &again, &keyring).args(["--segment-duration", "2"]));
    for seg in ["seg_00000.ts", "seg_00001.ts", "seg_00002.ts"] {
        assert!(
            std::fs::read(out.join("360p").join(seg)).unwrap()
                == std::fs::read(again.join("360p").join(seg)).unwrap(),
            "{seg} differs between two runs"
        );
    }
}

/// Interlaced H.264 (x264's field coding: `-flags +ildct+ilme`), 3 s of
/// 30 fps made into fields by `vf`, into `name`.
fn interlaced(t: &TestDir, name: &str, vf: &str, extra: &[&str]) -> PathBuf {
    let input = t.join(name);
    run_ok(
        ffmpeg()
            .args(["-f", "lavfi", "-i", "testsrc2=size=640x360:rate=30:d=3"])
            .args(["-vf", vf])
            .args(extra)
            .args([
                "-c:v",
                "libx264",
                "-flags",
                "+ildct+ilme",
                "-x264-params",
                "tff=1",
            ])
            .arg(&input),
    );
    // FFmpeg, decoding, calls it interlaced: the test is about what it says.
    let o = run_ok(
        std::process::Command::new("ffprobe")
            .args(["-v", "error", "-select_streams", "v:0"])
            .args(["-show_entries", "stream=field_order", "-of", "csv=p=0"])
            .arg(&input),
    );
    let order = stdout(&o);
    assert!(
        ["tt", "bb", "tb", "bt"].contains(&order.trim()),
        "{name}: field order {order}"
    );
    input
}

/// Issue 24 item 8, rule 1.10: interlaced video in MP4 went unnoticed, as
/// `package` opens an MP4 from its header and FFmpeg's field order is only
/// known after decoding. The SPS's frame_mbs_only_flag says it.
#[test]
fn item8_interlaced_mp4_gets_the_apple_rule() {
    let t = TestDir::new();
    let input = interlaced(&t, "interlaced.mp4", "tinterlace=4", &[]);
    let (_, _, err) = package(&t, &input, &[]);
    assert!(
        err.contains("warning: Apple devices may refuse this package: rule 1.10")
            && err.contains("interlaced video must be de-interlaced"),
        "{err}"
    );
    let keyring = t.join("keyring.json");
    let out = t.join("apple");
    let o = run_code(package_input(&input, &out, &keyring).arg("--apple"), 2);
    assert!(stderr(&o).contains("breaks rule 1.10"), "{}", stderr(&o));
    assert!(!out.exists());

    // Progressive x264 in MP4 gets no such warning.
    let progressive = encoded(&t, "progressive.mp4", &["-c:v", "libx264"]);
    let (_, _, err) = package(
        &t,
        &progressive,
        &["--force", "--content-id", "progressive"],
    );
    assert!(!err.contains("rule 1.10"), "{err}");
}

/// `--apple` refuses right after probing, before a segment is cut: an
/// interlaced input whose time stamps break at frame 41 (two frames shown
/// at once) is refused for rule 1.10, not for the packet `package` would
/// reach only later.
#[test]
fn apple_refuses_before_segmenting() {
    let t = TestDir::new();
    let input = interlaced(
        &t,
        "late-break.mkv",
        "tinterlace=4,setpts='if(eq(N,41),N-1,N)/15/TB'",
        &["-fps_mode", "passthrough", "-bf", "0"],
    );
    let keyring = new_keyring(&t);
    let o = run_code(&mut package_input(&input, t.join("out"), &keyring), 2);
    assert!(
        stderr(&o).contains("video packet 41 of stream 0"),
        "{}",
        stderr(&o)
    );
    let o = run_code(
        package_input(&input, t.join("out"), &keyring).arg("--apple"),
        2,
    );
    let e = stderr(&o);
    assert!(
        e.contains("breaks rule 1.10") && !e.contains("packet"),
        "{e}"
    );
}

/// A title cut with `ffmpeg -t 12 -c copy` from a B-frame encode with a
/// keyframe every 2 s: its audio ends at 12.0 s, its video runs two frames
/// on, and the frame at 12.0 s is a keyframe. `--format cmaf` (audio in a
/// rendition of its own) refused it as "not aligned with" itself: the video
/// was cut at 12.0 s for a two-frame last segment that the audio, ended,
/// could not follow. A grid cut that close to the end is no longer made.
#[test]
fn a_stream_copied_cut_whose_video_outlasts_its_audio_packages_as_cmaf() {
    let t = TestDir::new();
    let full = t.join("full.mp4");
    run_ok(
        ffmpeg()
            .args(["-f", "lavfi", "-i", "testsrc2=size=320x180:rate=24"])
            .args(["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000"])
            .args(["-t", "16", "-c:v", "libx264", "-preset", "veryfast"])
            .args(["-g", "48", "-pix_fmt", "yuv420p", "-c:a", "aac"])
            .arg(&full),
    );
    let cut = t.join("cut.mp4");
    run_ok(
        ffmpeg()
            .arg("-i")
            .arg(&full)
            .args(["-t", "12", "-c", "copy"])
            .arg(&cut),
    );
    // The premise: video frames after 12.0 s, audio ending at it.
    let probe = stdout(&run_ok(std::process::Command::new("ffprobe").args([
        "-v",
        "error",
        "-show_entries",
        "stream=codec_type,nb_frames,duration",
        "-of",
        "csv=p=0",
        cut.to_str().unwrap(),
    ])));
    let video_frames: u64 = probe
        .lines()
        .find(|l| l.starts_with("video"))
        .and_then(|l| l.split(',').nth(2))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{probe}"));
    assert!(video_frames > 12 * 24, "{probe}");
    let (out, keyring, _) = package(&t, &cut, &["--format", "cmaf"]);
    // verify decrypts every sample with the keyring and counts the frames.
    let report = stdout_json(&verify(&out, &keyring, 0));
    assert_eq!(report["video_frames"], video_frames, "{report}");
    let m: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("manifest.json")).unwrap()).unwrap();
    let counts: Vec<usize> = m["renditions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["segments"].as_array().unwrap().len())
        .collect();
    assert_eq!(counts, [2, 2], "video and audio cut alike: {m}");
}
