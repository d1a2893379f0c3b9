//! The control experiment for the test harness itself, independent of shieldpack.
//!
//! FFmpeg's own AES-128 HLS output is served by `util::HttpServer` and must pass
//! every check that shieldpack's packages will face: FFmpeg decodes all frames
//! over HTTP with no error, openssl decrypts a segment to MPEG-TS, and hls.js in
//! Debian's chromium plays it to the end. The same package with a wrong key must
//! fail each check, so a green shieldpack test means something. If this module
//! fails, suspect the machine (run scripts/setup.sh) or the harness, not the
//! product.

use std::fs;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use crate::util::*;

const KEY_HEX: &str = "000102030405060708090a0b0c0d0e0f";
const WRONG_KEY_HEX: &str = "f0e0d0c0b0a090807060504030201000";
const IV_HEX: &str = "a1a2a3a4a5a6a7a8a9aaabacadaeaf00";
const KEY_URI: &str = "keys/harness.key";

/// Packages fixtures/clip.mp4 with FFmpeg's HLS muxer into `out`, laid out as
/// shieldpack lays out a package: `out/master.m3u8`, `out/v0/index.m3u8`,
/// `out/v0/seg_NNNNN.ts` and the key at `out/v0/keys/harness.key`.
fn ffmpeg_package(dir: &TestDir, out: &Path) {
    let media = out.join("v0");
    fs::create_dir_all(media.join("keys")).unwrap();
    let key_file = media.join(KEY_URI);
    fs::write(&key_file, hex::decode(KEY_HEX).unwrap()).unwrap();
    let keyinfo = dir.join("keyinfo");
    fs::write(
        &keyinfo,
        format!("{KEY_URI}\n{}\n{IV_HEX}\n", key_file.display()),
    )
    .unwrap();
    run_ok(
        Command::new("ffmpeg")
            .args(["-hide_banner", "-nostdin", "-v", "error", "-i"])
            .arg(fixture("clip.mp4"))
            .args(["-c", "copy", "-hls_time", "2", "-hls_playlist_type", "vod"])
            .arg("-hls_key_info_file")
            .arg(&keyinfo)
            .arg("-hls_segment_filename")
            .arg(media.join("seg_%05d.ts"))
            .arg(media.join("index.m3u8")),
    );
    // clip.mp4 is High profile level 3.0 (avc1.64001e) with AAC-LC audio.
    fs::write(
        out.join("master.m3u8"),
        "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-INDEPENDENT-SEGMENTS\n\
         #EXT-X-STREAM-INF:BANDWIDTH=200000,RESOLUTION=640x360,\
         CODECS=\"avc1.64001e,mp4a.40.2\",FRAME-RATE=24.000\nv0/index.m3u8\n",
    )
    .unwrap();
}

fn segments(out: &Path) -> Vec<String> {
    let playlist = fs::read_to_string(out.join("v0/index.m3u8")).unwrap();
    playlist
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(str::to_string)
        .collect()
}

/// A raw HTTP/1.1 exchange (one request, connection closed), for testing the
/// server without trusting another client: (status, lower-cased head, body).
fn raw_http(server: &HttpServer, request: &str) -> (u16, String, Vec<u8>) {
    let mut s = TcpStream::connect(("127.0.0.1", server.port())).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(request.as_bytes()).unwrap();
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).unwrap();
    let split = buf
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("response head");
    let head = String::from_utf8_lossy(&buf[..split]).to_ascii_lowercase();
    let status = head[9..12].parse().unwrap();
    (status, head, buf[split + 4..].to_vec())
}

#[test]
fn http_server_serves_types_ranges_and_logs_requests() {
    let dir = TestDir::new();
    fs::create_dir_all(dir.join("site/v0/keys")).unwrap();
    fs::write(dir.join("site/v0/index.m3u8"), "#EXTM3U\n").unwrap();
    fs::write(dir.join("site/v0/seg_00000.ts"), [0x47u8; 376]).unwrap();
    fs::write(dir.join("site/v0/keys/a b.key"), [7u8; 16]).unwrap();
    fs::write(dir.join("secret"), "outside the root").unwrap();
    let server = HttpServer::serve(&dir.join("site"));

    let get = |path: &str| {
        raw_http(
            &server,
            &format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"),
        )
    };
    let (status, head, body) = get("/v0/index.m3u8?token=1");
    assert_eq!(status, 200);
    assert!(
        head.contains("content-type: application/vnd.apple.mpegurl"),
        "{head}"
    );
    assert!(head.contains("access-control-allow-origin: *"), "{head}");
    assert_eq!(body, b"#EXTM3U\n");
    let (status, head, body) = get("/v0/seg_00000.ts");
    assert_eq!((status, body.len()), (200, 376));
    assert!(head.contains("content-type: video/mp2t"), "{head}");
    let (status, head, body) = get("/v0/keys/a%20b.key");
    assert_eq!((status, body), (200, vec![7u8; 16]));
    assert!(
        head.contains("content-type: application/octet-stream"),
        "{head}"
    );
    assert_eq!(get("/v0/missing.ts").0, 404);
    assert_eq!(get("/../secret").0, 404, "must not serve outside its root");
    assert_eq!(
        get("/v0/../../secret").0,
        404,
        "must not serve outside its root"
    );

    let (status, head, body) = raw_http(
        &server,
        "HEAD /v0/seg_00000.ts HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(status, 200);
    assert!(head.contains("content-length: 376"), "{head}");
    assert!(body.is_empty());
    let (status, head, body) = raw_http(
        &server,
        "GET /v0/seg_00000.ts HTTP/1.1\r\nRange: bytes=188-\r\nConnection: close\r\n\r\n",
    );
    assert_eq!((status, body.len()), (206, 188));
    assert!(head.contains("content-range: bytes 188-375/376"), "{head}");

    // Keep-alive: two requests on one connection, both answered.
    let mut s = TcpStream::connect(("127.0.0.1", server.port())).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(
        b"GET /v0/index.m3u8 HTTP/1.1\r\nHost: x\r\n\r\n\
          GET /v0/index.m3u8 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .unwrap();
    let mut all = String::new();
    s.read_to_string(&mut all).unwrap();
    assert_eq!(all.matches("HTTP/1.1 200 OK").count(), 2, "{all}");

    let log = server.requests();
    assert_eq!(log[0], "/v0/index.m3u8");
    assert!(log.contains(&"/v0/keys/a b.key".to_string()), "{log:?}");
    assert_eq!(log.len(), 10, "{log:?}");
    let statuses: Vec<u16> = server.request_log().iter().map(|r| r.status).collect();
    assert_eq!(statuses, [200, 200, 200, 404, 404, 404, 200, 206, 200, 200]);
}

#[test]
fn ffmpeg_hls_decodes_over_http_and_openssl_decrypts_segments() {
    let dir = TestDir::new();
    let out = dir.join("out");
    ffmpeg_package(&dir, &out);
    let segs = segments(&out);
    assert_eq!(segs.len(), 6, "12 s in 2 s segments: {segs:?}");

    let server = HttpServer::serve(&out);
    let (frames, errors) = ffmpeg_decode_ok(server.url("master.m3u8"));
    assert_eq!(
        errors, "",
        "ffmpeg must decode FFmpeg's own package cleanly"
    );
    assert_eq!(frames, CLIP_FRAMES);
    assert_eq!(ffprobe_frames(server.url("master.m3u8")), CLIP_FRAMES);
    let requests = server.requests();
    assert!(
        requests.contains(&"/v0/keys/harness.key".to_string()),
        "{requests:?}"
    );
    for s in &segs {
        assert!(
            requests.contains(&format!("/v0/{s}")),
            "{s} never fetched: {requests:?}"
        );
    }

    // The local path works too (util adds -allowed_extensions ALL for *.key).
    assert_eq!(ffprobe_frames(out.join("master.m3u8")), CLIP_FRAMES);

    // With one explicit IV for the playlist, every segment is CBC with that IV.
    for s in &segs {
        let clear =
            openssl_decrypt(out.join("v0").join(s), KEY_HEX, IV_HEX).expect("openssl decrypts");
        assert_eq!(clear[0], 0x47, "{s} does not decrypt to TS");
        assert!(
            is_mpeg_ts(&clear),
            "{s} decrypts to something that is not whole TS packets"
        );
    }
}

#[test]
fn ffmpeg_hls_plays_to_the_end_in_chromium() {
    let dir = TestDir::new();
    let out = dir.join("out");
    ffmpeg_package(&dir, &out);
    let server = HttpServer::serve(&out);

    let v = play_in_browser(&server.url("master.m3u8"));
    assert_eq!(v["mseH264Aac"], true, "chromium lacks H.264/AAC MSE: {v}");
    assert_eq!(v["ended"], true, "did not play to the end: {v}");
    assert_eq!(fatal_errors(&v), Vec::<serde_json::Value>::new(), "{v}");
    assert_eq!(v["exitCode"], 0, "{v}");
    assert_eq!(v["fragsLoaded"], 6, "{v}");
    assert!(v["keysLoaded"].as_u64().unwrap_or(0) >= 1, "{v}");
    let decoded = v["decodedFrames"].as_u64().unwrap_or(0);
    // Chromium counts frames as it decodes them; allow a few at the edges.
    assert!(
        decoded + 5 >= CLIP_FRAMES && decoded <= CLIP_FRAMES + 5,
        "decoded {decoded} of {CLIP_FRAMES} frames: {v}"
    );
    let duration = v["duration"].as_f64().unwrap_or(0.0);
    assert!((duration - 12.0).abs() < 0.5, "duration {duration}: {v}");
    let requests = server.requests();
    assert!(
        requests.contains(&"/v0/keys/harness.key".to_string()),
        "{requests:?}"
    );
    assert!(
        !requests.iter().any(|r| r.contains("__shieldpack_play__")),
        "the player page must not hit the server under test: {requests:?}"
    );
}

/// The negative control: the same package served with the wrong key must fail
/// the ffmpeg, openssl and browser checks, or those checks prove nothing.
#[test]
fn a_wrong_key_fails_every_check() {
    let dir = TestDir::new();
    let out = dir.join("out");
    ffmpeg_package(&dir, &out);
    fs::write(
        out.join("v0").join(KEY_URI),
        hex::decode(WRONG_KEY_HEX).unwrap(),
    )
    .unwrap();
    let server = HttpServer::serve(&out);

    let (frames, errors) = ffmpeg_decode_ok(server.url("master.m3u8"));
    assert!(
        !errors.is_empty(),
        "ffmpeg decoded {frames} frames with the wrong key and said nothing"
    );
    assert!(
        frames < CLIP_FRAMES,
        "{frames} frames decoded with the wrong key"
    );

    match try_openssl_decrypt(out.join("v0/seg_00000.ts"), WRONG_KEY_HEX, IV_HEX) {
        Err(_) => {} // bad PKCS#7 padding, the usual outcome
        Ok(data) => assert!(!is_mpeg_ts(&data), "the wrong key gave valid TS"),
    }

    let v = play_in_browser_with(
        &server.url("master.m3u8"),
        &PlayOptions {
            rate: 4.0,
            timeout: Duration::from_secs(30),
        },
    );
    assert_ne!(
        v["ended"], true,
        "played to the end with the wrong key: {v}"
    );
    assert_eq!(v["exitCode"], 1, "{v}");
}
