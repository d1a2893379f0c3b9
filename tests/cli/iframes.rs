//! I-frame playlists (issue 21 part 2, RFC 8216 4.3.3.6 and 4.3.4.3): a clear
//! TS package names one `iframes.m3u8` per rendition in its master, whose
//! byte ranges start exactly where ffprobe finds the keyframes' PES in the
//! segments, which FFmpeg decodes keyframe by keyframe, and which verify
//! checks; an AES-128 package has none.

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
