//! SAMPLE-AES for MPEG-TS (`shieldpack_core::crypto::sample_aes`) against two
//! independent decrypters: FFmpeg's HLS demuxer decodes our SAMPLE-AES
//! segments to exactly the frames of the clear ones, and hls.js plays them to
//! the end in chromium. Not yet a `package` flag (`--scheme sample-aes` joins
//! with the formats' `--scheme`); the segments here are a `--clear` package's,
//! encrypted by the library.

use std::path::Path;

use rand_chacha::rand_core::{RngCore, SeedableRng};
use rand_chacha::ChaCha20Rng;
use shieldpack_core::crypto::{sample_aes, sequence_iv};

use crate::util::*;

/// Video frame hashes (FFmpeg's framemd5 of the first video stream) of a
/// file or URL, and FFmpeg's complaints.
fn frame_md5s(input: &str) -> (Vec<String>, String) {
    let mut c = ffmpeg();
    if input.ends_with(".m3u8") {
        c.args(["-allowed_extensions", "ALL"]);
    }
    let o = run(c
        .arg("-i")
        .arg(input)
        .args(["-map", "0:v:0", "-f", "framemd5", "-"]));
    let hashes = stdout(&o)
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.rsplit(',').next().map(|h| h.trim().to_string()))
        .collect();
    (hashes, stderr(&o))
}

/// The clear package in `clear` made SAMPLE-AES into `out` under `key`.
fn encrypt_package(clear: &Path, out: &Path, key: &[u8; 16]) -> usize {
    let m: serde_json::Value =
        serde_json::from_slice(&std::fs::read(clear.join("manifest.json")).unwrap()).unwrap();
    let playlist = m["renditions"][0]["playlist"].as_str().unwrap();
    let rendition = playlist.split('/').next().unwrap();
    std::fs::create_dir_all(out.join(rendition)).unwrap();
    std::fs::copy(clear.join("master.m3u8"), out.join("master.m3u8")).unwrap();
    std::fs::write(out.join(rendition).join("k.key"), key).unwrap();
    let segs = m["renditions"][0]["segments"].as_array().unwrap();
    for (seq, s) in segs.iter().enumerate() {
        let uri = s["uri"].as_str().unwrap();
        let ts = std::fs::read(clear.join(uri)).unwrap();
        let enc = sample_aes::encrypt_segment(&ts, key, &sequence_iv(seq as u64))
            .unwrap_or_else(|e| panic!("{uri}: {e}"));
        assert_ne!(enc, ts, "{uri} unchanged");
        std::fs::write(out.join(uri), enc).unwrap();
    }
    // The playlist with an EXT-X-KEY before every segment whose IV is the
    // media sequence number, written out: RFC 8216 5.2 lets it be implied,
    // but hls.js decrypts SAMPLE-AES only with an explicit IV.
    let text = std::fs::read_to_string(clear.join(playlist)).unwrap();
    let mut lines = Vec::new();
    let mut seq = 0u64;
    for l in text.lines().filter(|l| !l.starts_with("#EXT-X-KEY")) {
        if l.starts_with("#EXTINF") {
            lines.push(format!(
                "#EXT-X-KEY:METHOD=SAMPLE-AES,URI=\"k.key\",IV=0x{seq:032x}"
            ));
            seq += 1;
        }
        lines.push(l.to_string());
    }
    std::fs::write(out.join(playlist), lines.join("\n") + "\n").unwrap();
    segs.len()
}

#[test]
fn sample_aes_ts_decrypts_in_ffmpeg_to_the_clear_frames_and_plays_in_hls_js() {
    let t = TestDir::new();
    let clear = t.join("clear");
    run_ok(
        shieldpack()
            .arg("package")
            .arg(fixture("clip.mp4"))
            .arg("-o")
            .arg(&clear)
            .args(["--clear", "--segment-duration", "2"]),
    );
    let seed = 0x5a_e5_u64;
    eprintln!("key from ChaCha20 seed {seed:#x}");
    let mut key = [0u8; 16];
    ChaCha20Rng::seed_from_u64(seed).fill_bytes(&mut key);
    let out = t.join("saes");
    let n = encrypt_package(&clear, &out, &key);

    let clear_server = HttpServer::serve(&clear);
    let (want, err) = frame_md5s(&clear_server.url("master.m3u8"));
    assert!(want.len() > 250, "{} frames: {err}", want.len());
    let server = HttpServer::serve(&out);
    let (got, err) = frame_md5s(&server.url("master.m3u8"));
    assert_eq!(got.len(), want.len(), "{err}");
    // FFmpeg (libavformat/hls_sample_encryption.c) removes the emulation
    // prevention bytes of every NAL unit it decrypts and never puts them
    // back, so a slice whose bytes held one (00 00 03 0x) reaches its
    // decoder as 00 00 0x, a start code or zero run, and that one picture
    // decodes wrong (in this clip the last, 1 of 288). Every other frame
    // must be exactly the clear one; a wrong key or pattern changes nearly
    // all of them.
    let same = got.iter().zip(&want).filter(|(a, b)| a == b).count();
    assert!(
        same + 2 >= want.len(),
        "FFmpeg's SAMPLE-AES decryption gives other frames: {same} of {} the same\n{err}",
        want.len()
    );
    assert!(server.requests().iter().any(|r| r.ends_with("k.key")));

    // Read without the key, the segments do not give the clear frames: the
    // samples really are encrypted.
    let m: serde_json::Value =
        serde_json::from_slice(&std::fs::read(clear.join("manifest.json")).unwrap()).unwrap();
    let seg0 = m["renditions"][0]["segments"][0]["uri"].as_str().unwrap();
    let (raw, _) = frame_md5s(&out.join(seg0).to_string_lossy());
    let (plain, _) = frame_md5s(&clear.join(seg0).to_string_lossy());
    assert!(!plain.is_empty());
    assert_ne!(raw, plain, "segment 0 decodes without the key");

    // hls.js decrypts them itself and plays to the end.
    let v = play_in_browser(&server.url("master.m3u8"));
    assert_eq!(v["ended"], true, "{v}");
    assert_eq!(fatal_errors(&v), Vec::<serde_json::Value>::new(), "{v}");
    assert_eq!(v["fragsLoaded"], n as u64, "{v}");
    assert!(
        v["decodedFrames"].as_u64().unwrap_or(0) + 5 >= want.len() as u64,
        "{v}"
    );
}
