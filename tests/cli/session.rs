//! Sessions (issue 23): `package --ab-watermark`, `session`, `watermark trace`.
//!
//! One A/B package is made once and shared: 48 s of 360p (a fractal blended
//! with a test card, film grain, a tone) in 1 s segments, so that 48 segments
//! carry the code (the keyed Tardos code needs about 40 read segments to name
//! one session among 10,000 at log10 p <= -3). The re-encoded leaks come from
//! a second one, 64 s of the same at 540p (`leak_fixture`). Leaks are recorded by FFmpeg
//! from a loopback HTTP server, as a pirate would. The watermark and signing
//! keys come from ChaCha20 seeded with SEED, printed on stderr.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::OnceLock;
use std::time::Duration;

use rand_chacha::rand_core::{RngCore, SeedableRng};
use rand_chacha::ChaCha20Rng;

use crate::util::{
    export_key_files, fatal_errors, ffmpeg, is_mpeg_ts, new_keyring, openssl_decrypt,
    play_in_browser, python, run, run_code, run_ok, run_with_timeout, shieldpack, stdout,
    stdout_json, HttpServer, TestDir,
};

const SEED: u64 = 23;
const SESSIONS: u64 = 10_000;

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

struct Fixture {
    /// The served root: pkg/ (the A/B package with its keys), s/ (playlists).
    root: PathBuf,
    pkg: PathBuf,
    wm_key: PathBuf,
    other_key: PathBuf,
    sign_key: PathBuf,
    source: PathBuf,
    keys: PathBuf,
    /// ids.txt: two named sessions among the ones trace scores.
    ids: PathBuf,
}

fn write_private(path: &Path, text: &str) {
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .unwrap();
    f.write_all(text.as_bytes()).unwrap();
}

/// What a fixture's title and package are made of.
struct Spec {
    /// Folder name under cargo's test scratch folder.
    name: &'static str,
    width: u32,
    height: u32,
    seconds: u32,
    /// libx264 preset of the source (its encode is not what is tested).
    source_preset: &'static str,
    /// `--segment-duration`, seconds.
    segment: &'static str,
}

/// The shared package of most tests: 48 s of 360p in 1 s segments.
fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        make_fixture(&Spec {
            name: "session",
            width: 640,
            height: 360,
            seconds: 48,
            source_preset: "veryfast",
            segment: "1",
        })
    })
}

/// The package the re-encoded leaks are made from: 64 s of 540p in 1 s
/// segments, so that a pirate's half-scale copy is 480x270 (the mark's cells
/// are 540/96 pixels, 2.8 in the copy; a 360p title's become 1.9 pixels at
/// 180p, finer than CRF 30 keeps: measured, trace could not even locate the
/// mark on the whole 48 s of such a leak, and read no segment) and 64
/// segments carry the code (one
/// session among 10,000 at log10 p <= -6 takes about 48 read right).
/// Measured with /usr/bin/time -v on 2 loaded cores: this fixture and the
/// CRF 30 half-scale test together take 167 s of CPU (the A/B package about
/// 100 s of it); the leak read 57 of 64 segments, all right, log10 p -10.9.
fn leak_fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        make_fixture(&Spec {
            name: "session-540p",
            width: 960,
            height: 540,
            seconds: 64,
            source_preset: "ultrafast",
            segment: "1",
        })
    })
}

/// The package the colluders' leak is made from: 256 segments of 0.5 s at
/// 270p. Two colluders who alternate segments take about 200 read segments
/// to name among 10,000 (the session crate's simulation, examples/simulate
/// colluders: both named in 10 of 12 trials from 192 segments, 11 of 12 from
/// 256), and short segments of a small picture make that many cheap: the
/// stream-copied leak is read whole. Measured by hand on 2 loaded cores:
/// the A/B package took 49 s of CPU and the trace 29 s; all 256 segments
/// read, the pair named at log10 p -10.5 and -8.1, the best innocent 0.0.
fn colluder_fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        make_fixture(&Spec {
            name: "session-270p",
            width: 480,
            height: 270,
            seconds: 128,
            source_preset: "ultrafast",
            segment: "0.5",
        })
    })
}

fn make_fixture(spec: &Spec) -> Fixture {
    eprintln!("session tests: keys from ChaCha20 seed {SEED}");
    let root = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!(
        "{}-{}",
        spec.name,
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&root);
    std::fs::create_dir_all(&root).unwrap();
    let mut rng = ChaCha20Rng::seed_from_u64(SEED);
    let mut secret = [0u8; 32];
    let mut key_for = |name: &str| {
        rng.fill_bytes(&mut secret);
        let p = root.join(name);
        write_private(
            &p,
            &format!("shieldpack-wmkey-v1:{}\n", hex::encode(secret)),
        );
        p
    };
    let wm_key = key_for("wm.key");
    let other_key = key_for("other.key");
    let mut sign = [0u8; 32];
    rng.fill_bytes(&mut sign);
    let sign_key = root.join("sign.key");
    write_private(&sign_key, &format!("{}\n", hex::encode(sign)));
    let source = root.join("source.mp4");
    let size = format!("{}x{}", spec.width, spec.height);
    run_ok(ffmpeg().args([
        "-f",
        "lavfi",
        "-i",
        &format!("mandelbrot=s={size}:r=24"),
        "-f",
        "lavfi",
        "-i",
        &format!("testsrc2=s={size}:r=24"),
        "-f",
        "lavfi",
        "-i",
        "sine=f=440:r=48000",
        "-filter_complex",
        "[0:v][1:v]blend=all_mode=average,noise=alls=5:allf=t,format=yuv420p[v]",
        "-map",
        "[v]",
        "-map",
        "2:a",
        "-t",
        &spec.seconds.to_string(),
        "-c:v",
        "libx264",
        "-crf",
        "16",
        "-preset",
        spec.source_preset,
        "-c:a",
        "aac",
        s(&source),
    ]));
    let t = TestDir::new();
    let keyring = new_keyring(&t);
    let keyring_copy = root.join("keyring.json");
    std::fs::copy(&keyring, &keyring_copy).unwrap();
    std::fs::copy(
        keyring.with_extension("json.identity"),
        root.join("keyring.json.identity"),
    )
    .unwrap();
    let pkg = root.join("pkg");
    let out = run_ok(shieldpack().args([
        "--json",
        "package",
        s(&source),
        "-o",
        s(&pkg),
        "--keyring",
        s(&keyring_copy),
        "--segment-duration",
        spec.segment,
        "--ab-watermark",
        s(&wm_key),
    ]));
    let j = stdout_json(&out);
    let per_segment: f64 = spec.segment.parse().unwrap();
    assert_eq!(
        j["segments"],
        (f64::from(spec.seconds) / per_segment).round() as u64,
        "{j}"
    );
    let keys = pkg.join(format!("{}p", spec.height)).join("keys");
    export_key_files(&keyring_copy, &pkg, &keys);
    let ids = root.join("ids.txt");
    std::fs::write(&ids, "# two named sessions\nalice\nbob\n").unwrap();
    Fixture {
        root,
        pkg,
        wm_key,
        other_key,
        sign_key,
        source,
        keys,
        ids,
    }
}

fn manifest(f: &Fixture) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(f.pkg.join("manifest.json")).unwrap()).unwrap()
}

/// Writes session playlists into ROOT/s/ (served as /s/ID.m3u8, the package as /pkg/).
fn sessions(f: &Fixture, ids: &[&str], extra: &[&str]) -> Output {
    let mut c = shieldpack();
    c.args(["--json", "session", s(&f.pkg), "-o"])
        .arg(f.root.join("s"))
        .args([
            "--wm-key",
            s(&f.wm_key),
            "--base-url",
            "/pkg/",
            "--force",
            "--session",
        ])
        .args(ids)
        .args(extra);
    run_ok(&mut c)
}

#[test]
fn ab_package_holds_both_variants_under_one_key_with_distinct_ivs() {
    let f = fixture();
    let m = manifest(f);
    let segs = m["renditions"][0]["segments"].as_array().unwrap();
    let mut ivs = std::collections::HashSet::new();
    for seg in segs {
        let v = seg["variants"].as_array().unwrap();
        assert_eq!(v.len(), 2);
        assert_eq!(
            (v[0]["variant"].as_str(), v[1]["variant"].as_str()),
            (Some("a"), Some("b"))
        );
        let kid = seg["kid"].as_str().unwrap();
        let key = hex::encode(std::fs::read(f.keys.join(format!("{kid}.key"))).unwrap());
        let mut plain = Vec::new();
        for var in v {
            let file = f.pkg.join(var["uri"].as_str().unwrap());
            let bytes = std::fs::read(&file).unwrap();
            assert_eq!(bytes.len() as u64, var["size"].as_u64().unwrap());
            let iv = var["iv"].as_str().unwrap().to_string();
            assert!(
                ivs.insert((kid.to_string(), iv.clone())),
                "IV reused under one key: {iv}"
            );
            let p = openssl_decrypt(&file, &key, &iv).expect("openssl decrypts the segment");
            assert!(
                is_mpeg_ts(&p),
                "{} does not decrypt to MPEG-TS",
                file.display()
            );
            plain.push(p);
        }
        assert_ne!(plain[0], plain[1], "variants a and b are the same bytes");
    }
    // the base playlist lists variant a, and verify passes it
    let pl = std::fs::read_to_string(f.pkg.join("360p/index.m3u8")).unwrap();
    assert!(
        pl.contains("seg_00000.a.ts") && !pl.contains(".b.ts"),
        "{pl}"
    );
    let out = run(shieldpack().args(["verify", s(&f.pkg), "--keys", s(&f.keys)]));
    assert_eq!(out.status.code(), Some(0), "{}", crate::util::stderr(&out));
}

#[test]
fn session_playlist_plays_to_the_end_in_hlsjs() {
    let f = fixture();
    sessions(
        f,
        &["player-1"],
        &["--sign-key", s(&f.sign_key), "--expires", "10m"],
    );
    let server = HttpServer::serve(&f.root);
    let v = play_in_browser(&server.url("s/player-1.m3u8"));
    assert_eq!(v["ended"], true, "did not play to the end: {v}");
    assert_eq!(fatal_errors(&v), Vec::<serde_json::Value>::new(), "{v}");
    assert_eq!(v["fragsLoaded"], 48, "{v}");
    // it fetched exactly the variants `session variant` names
    let got: Vec<String> = server
        .requests()
        .into_iter()
        .filter(|r| r.ends_with(".ts"))
        .collect();
    for i in [0u64, 7, 47] {
        let out = run_ok(shieldpack().args([
            "session",
            "variant",
            s(&f.pkg),
            "--session",
            "player-1",
            "--segment",
            &i.to_string(),
            "--wm-key",
            s(&f.wm_key),
        ]));
        let want = format!("/pkg/360p/seg_{i:05}.{}.ts", stdout(&out).trim());
        assert!(got.contains(&want), "{want} not among {got:?}");
    }
}

/// The signed URIs of one session playlist (segments and keys).
fn signed_uris(f: &Fixture, id: &str, token: &str) -> Vec<String> {
    sessions(
        f,
        &[id],
        &[
            "--sign-key",
            s(&f.sign_key),
            "--expires",
            "2m",
            "--token",
            token,
        ],
    );
    let pl = std::fs::read_to_string(f.root.join("s").join(format!("{id}.m3u8"))).unwrap();
    let mut uris: Vec<String> = pl
        .lines()
        .filter(|l| l.starts_with("/pkg/"))
        .map(String::from)
        .collect();
    uris.extend(pl.lines().filter_map(|l| {
        l.split("URI=\"")
            .nth(1)
            .map(|r| r.split('"').next().unwrap().to_string())
    }));
    uris
}

fn verify_url(f: &Fixture, url: &str, at: Option<u64>, code: i32) -> Output {
    let mut c = shieldpack();
    c.args(["session", "verify-url", url, "--sign-key", s(&f.sign_key)]);
    if let Some(at) = at {
        c.args(["--at", &at.to_string()]);
    }
    run_code(&mut c, code)
}

#[test]
fn signed_urls_are_checked_by_pyjwt_and_edgeauth_and_refused_expired_or_tampered() {
    let f = fixture();
    let key = std::fs::read_to_string(&f.sign_key)
        .unwrap()
        .trim()
        .to_string();
    for token in ["edgeauth", "jwt"] {
        let uris = signed_uris(f, "carol", token);
        assert_eq!(uris.len(), 96, "every segment and key URI is signed");
        let url = &uris[3];
        assert!(
            url.contains(if token == "jwt" {
                "?token="
            } else {
                "?__token__="
            }),
            "{url}"
        );
        verify_url(f, url, None, 0);
        // an independent implementation agrees
        let script = if token == "jwt" {
            r#"
import sys, jwt
url, key = sys.argv[1], bytes.fromhex(sys.argv[2])
path, q = url.split('?', 1)
claims = jwt.decode(q.split('=', 1)[1], key, algorithms=['HS256'])
assert claims['path'] == path, claims
assert claims['sid'] == 'carol', claims
print('ok')
"#
        } else {
            r#"
import sys
from akamai.edgeauth import EdgeAuth
url, key = sys.argv[1], sys.argv[2]
path, q = url.split('?', 1)
tok = q.split('=', 1)[1]
f = dict(kv.split('=', 1) for kv in tok.split('~'))
mine = EdgeAuth(key=key, start_time=int(f['st']), end_time=int(f['exp']), session_id=f['id']).generate_url_token(path)
assert mine == tok, (mine, tok)
print('ok')
"#
        };
        let out = run_ok(python().arg("-c").arg(script).arg(url).arg(&key));
        assert_eq!(stdout(&out).trim(), "ok");
        // expired: checked three minutes on
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let o = verify_url(f, url, Some(now + 180), 1);
        assert!(
            crate::util::stderr(&o).contains("expired"),
            "{}",
            crate::util::stderr(&o)
        );
        // any changed byte of the path or the token is refused
        for i in [5, url.len() / 2, url.len() - 1] {
            let mut b = url.clone().into_bytes();
            b[i] = if b[i] == b'1' { b'2' } else { b'1' };
            verify_url(f, &String::from_utf8(b).unwrap(), None, 1);
        }
        // the token of one segment does not open the other variant
        let other = if url.contains(".a.ts") {
            url.replacen(".a.ts", ".b.ts", 1)
        } else {
            url.replacen(".b.ts", ".a.ts", 1)
        };
        verify_url(f, &other, None, 1);
    }
}

#[test]
fn session_variant_matches_the_documented_algorithm_in_python() {
    let f = fixture();
    // docs/sessions.md, reimplemented: HKDF, HMAC, the biased ChaCha20 draw
    let script = r#"
import sys, hmac, hashlib, math, struct
W = bytes.fromhex(open(sys.argv[1]).read().strip().split(':')[1])
def hkdf(salt, ikm, info):
    prk = hmac.new(salt, ikm, hashlib.sha256).digest()
    return hmac.new(prk, info + b'\x01', hashlib.sha256).digest()
K = hkdf(b'shieldpack/session/v1', W, b'tardos-code')
def rotl(v, c): return ((v << c) & 0xffffffff) | (v >> (32 - c))
def qr(x, a, b, c, d):
    x[a] = (x[a] + x[b]) & 0xffffffff; x[d] = rotl(x[d] ^ x[a], 16)
    x[c] = (x[c] + x[d]) & 0xffffffff; x[b] = rotl(x[b] ^ x[c], 12)
    x[a] = (x[a] + x[b]) & 0xffffffff; x[d] = rotl(x[d] ^ x[a], 8)
    x[c] = (x[c] + x[d]) & 0xffffffff; x[b] = rotl(x[b] ^ x[c], 7)
def block(key, counter):
    s = [0x61707865, 0x3320646e, 0x79622d32, 0x6b206574] + list(struct.unpack('<8I', key)) + [counter & 0xffffffff, counter >> 32, 0, 0]
    x = s[:]
    for _ in range(10):
        qr(x, 0, 4, 8, 12); qr(x, 1, 5, 9, 13); qr(x, 2, 6, 10, 14); qr(x, 3, 7, 11, 15)
        qr(x, 0, 5, 10, 15); qr(x, 1, 6, 11, 12); qr(x, 2, 7, 8, 13); qr(x, 3, 4, 9, 14)
    return struct.pack('<16I', *[(a + b) & 0xffffffff for a, b in zip(x, s)])
def variant(sid, i):
    h = hmac.new(K, b'bias' + struct.pack('>Q', i), hashlib.sha256).digest()
    u = struct.unpack('>Q', h[:8])[0] / 2**64
    t0 = math.asin(math.sqrt(0.1))
    p = math.sin(t0 + u * (math.pi / 2 - 2 * t0)) ** 2
    T = min(max(round(p * 2**32), 1), 2**32 - 1)
    seed = hmac.new(K, b'session' + sid.encode(), hashlib.sha256).digest()
    ks = block(seed, (8 * i) // 64)
    v = struct.unpack('<Q', ks[(8 * i) % 64:(8 * i) % 64 + 8])[0]
    return 'b' if (v >> 32) < T else 'a'
for sid in sys.argv[2:]:
    print(''.join(variant(sid, i) for i in range(48)))
"#;
    let ids = ["alice", "bob", "user-1234", "x.y_z"];
    let out = run_ok(python().arg("-c").arg(script).arg(&f.wm_key).args(ids));
    let py: Vec<String> = stdout(&out).lines().map(String::from).collect();
    for (id, want) in ids.iter().zip(&py) {
        let got: String = (0..48)
            .map(|i| {
                let o = run_ok(shieldpack().args([
                    "session",
                    "variant",
                    s(&f.pkg),
                    "--session",
                    id,
                    "--segment",
                    &i.to_string(),
                    "--wm-key",
                    s(&f.wm_key),
                ]));
                stdout(&o).trim().to_string()
            })
            .collect();
        assert_eq!(&got, want, "session {id}");
        assert!(got.contains('a') && got.contains('b'), "{id}: {got}");
    }
}

/// Records a playlist served from the fixture's root as a pirate would, with
/// FFmpeg over loopback HTTP, re-encoded with `vf`/`crf` (None: stream copy).
fn record(f: &Fixture, playlist: &str, reencode: Option<(&str, &str)>, out: &Path) {
    let server = HttpServer::serve(&f.root);
    let mut c = ffmpeg();
    c.args(["-i", &server.url(playlist)]);
    match reencode {
        Some((vf, crf)) => c.args([
            "-vf", vf, "-c:v", "libx264", "-crf", crf, "-preset", "veryfast", "-c:a", "aac",
        ]),
        None => c.args(["-c", "copy"]),
    };
    run_ok(c.arg(out));
}

fn trace(f: &Fixture, leak: &Path, key: &Path, code: i32) -> serde_json::Value {
    // a trace decodes the leak and reads 96 windows (searching each blind
    // when the mark is not located): minutes on a loaded machine, past the
    // harness's default 300 s
    let out = run_with_timeout(
        shieldpack().args([
            "--json",
            "watermark",
            "trace",
            s(leak),
            "--package",
            s(&f.pkg),
            "--wm-key",
            s(key),
            "--sessions",
            s(&f.ids),
            "--session-count",
            &SESSIONS.to_string(),
        ]),
        Duration::from_secs(1500),
    );
    assert_eq!(
        out.status.code(),
        Some(code),
        "{}\n{}",
        stdout(&out),
        crate::util::stderr(&out)
    );
    stdout_json(&out)
}

fn accused(v: &serde_json::Value) -> Vec<String> {
    let mut a: Vec<String> = v["accused"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["session"].as_str().unwrap().to_string())
        .collect();
    a.sort();
    a
}

/// The variant of every segment in session `id`'s playlist (written by
/// `sessions`), by segment number.
fn playlist_variants(f: &Fixture, id: &str) -> Vec<String> {
    let text = std::fs::read_to_string(f.root.join("s").join(format!("{id}.m3u8"))).unwrap();
    text.lines()
        .filter(|l| !l.starts_with('#') && l.contains("seg_"))
        .map(|l| {
            let v = l.rsplit('.').nth(1).unwrap();
            assert!(v == "a" || v == "b", "{l}");
            v.to_string()
        })
        .collect()
}

/// Trace's reads of a leak of session `id`: (read, agreeing with its playlist).
fn reads_against(f: &Fixture, v: &serde_json::Value, id: &str) -> (usize, usize) {
    let want = playlist_variants(f, id);
    let reads = v["segments"].as_array().unwrap();
    let right = reads
        .iter()
        .filter(|r| want[r["segment"].as_u64().unwrap() as usize] == r["variant"].as_str().unwrap())
        .count();
    (reads.len(), right)
}

/// The first video stream's size, by ffprobe.
fn video_size(path: &Path) -> String {
    let out = run_ok(std::process::Command::new("ffprobe").args([
        "-v",
        "error",
        "-select_streams",
        "v:0",
        "-show_entries",
        "stream=width,height",
        "-of",
        "csv=p=0:s=x",
        s(path),
    ]));
    stdout(&out).trim().to_string()
}

/// A pirate's leak of session alice from `f`, re-encoded with `vf` at `crf`,
/// traced among 10,002 sessions: alice alone is named, at log10 p <= -6,
/// from at least 48 segments read (what -6 takes among 10,000 with every
/// read right), nearly all agreeing with her playlist.
fn pirate_leak_is_traced(f: &Fixture, vf: &str, crf: &str, size: &str) {
    sessions(f, &["alice", "bob"], &[]);
    let t = TestDir::new();
    let leak = t.join("leak.mp4");
    record(f, "s/alice.m3u8", Some((vf, crf)), &leak);
    assert_eq!(video_size(&leak), size);
    let v = trace(f, &leak, &f.wm_key, 0);
    let (read, right) = reads_against(f, &v, "alice");
    eprintln!(
        "{vf} CRF {crf}: {read} of {} segments read, {right} agreeing with alice's playlist; accused {}; best {}",
        playlist_variants(f, "alice").len(),
        v["accused"],
        v["best"]
    );
    assert_eq!(accused(&v), vec!["alice".to_string()], "{v}");
    assert_eq!(v["sessions_scored"], SESSIONS + 2);
    assert!(read >= 48, "{v}");
    assert!(right * 20 >= read * 19, "{right} of {read} right: {v}");
    assert!(v["accused"][0]["log10_p"].as_f64().unwrap() <= -6.0, "{v}");
}

#[test]
fn leak_recorded_over_http_is_traced_to_its_session_among_10000() {
    let f = fixture();
    sessions(f, &["alice", "bob"], &[]);
    let t = TestDir::new();
    let leak = t.join("leak.ts");
    // the recording as served (stream copy); the re-encoded leaks below are
    // made from the 540p fixture
    record(f, "s/alice.m3u8", None, &leak);
    let v = trace(f, &leak, &f.wm_key, 0);
    assert_eq!(accused(&v), vec!["alice".to_string()], "{v}");
    assert_eq!(v["sessions_scored"], SESSIONS + 2);
    assert!(v["segments_read"].as_u64().unwrap() >= 40, "{v}");
    assert!(v["accused"][0]["log10_p"].as_f64().unwrap() <= -3.0, "{v}");
}

#[test]
fn leak_recorded_over_http_and_reencoded_is_traced_to_its_session_among_10000() {
    // CRF 23 at full size
    pirate_leak_is_traced(leak_fixture(), "null", "23", "960x540");
}

#[test]
fn two_colluders_alternating_segments_are_both_named() {
    let f = colluder_fixture();
    sessions(f, &["alice", "bob"], &[]);
    // a playlist taking even segments from alice's copy and odd ones from bob's
    let dir = f.root.join("s");
    let a = std::fs::read_to_string(dir.join("alice.m3u8")).unwrap();
    let b = std::fs::read_to_string(dir.join("bob.m3u8")).unwrap();
    let (la, lb): (Vec<&str>, Vec<&str>) = (a.lines().collect(), b.lines().collect());
    assert_eq!(la.len(), lb.len());
    let mut seg = 0;
    let mut mixed = Vec::new();
    let mut pending = Vec::new();
    for (x, y) in la.iter().zip(&lb) {
        if x.starts_with("#EXT-X-KEY") || x.starts_with("#EXTINF") {
            pending.push((*x, *y));
            continue;
        }
        if x.starts_with('/') || x.starts_with("../") {
            let pick_b = seg % 2 == 1;
            for (px, py) in pending.drain(..) {
                mixed.push(if pick_b { py } else { px });
            }
            mixed.push(if pick_b { *y } else { *x });
            seg += 1;
        } else {
            mixed.push(*x);
        }
    }
    std::fs::write(dir.join("pair.m3u8"), mixed.join("\n") + "\n").unwrap();
    let t = TestDir::new();
    let leak = t.join("pair.ts");
    record(f, "s/pair.m3u8", None, &leak);
    let v = trace(f, &leak, &f.wm_key, 0);
    eprintln!(
        "colluders: {} of 256 segments read; accused {}; best {}",
        v["segments_read"], v["accused"], v["best"]
    );
    assert_eq!(
        accused(&v),
        vec!["alice".to_string(), "bob".to_string()],
        "{v}"
    );
    assert_eq!(v["sessions_scored"], SESSIONS + 2);
    // Nobody else comes near: the third best is no accusation at all.
    assert!(v["best"][2]["log10_p"].as_f64().unwrap() > -1.0, "{v}");
}

#[test]
fn unmarked_content_and_a_wrong_key_accuse_nobody() {
    let f = fixture();
    let v = trace(f, &f.source, &f.wm_key, 1);
    assert_eq!(accused(&v), Vec::<String>::new(), "{v}");
    sessions(f, &["alice"], &[]);
    let t = TestDir::new();
    let leak = t.join("leak.ts");
    record(f, "s/alice.m3u8", None, &leak);
    let v = trace(f, &leak, &f.other_key, 1);
    assert_eq!(accused(&v), Vec::<String>::new(), "{v}");
    assert_eq!(v["segments_read"], 0, "{v}");
}

#[test]
fn pirate_leak_crf30_half_scale_is_traced_to_its_session() {
    // 540p played over loopback HTTP, recorded at half scale and CRF 30
    pirate_leak_is_traced(leak_fixture(), "scale=iw/2:ih/2", "30", "480x270");
}

/// The ids of `f`'s playlists written into `dir`, with `args` added.
fn playlists_in(f: &Fixture, dir: &Path, args: &[&str], env: Option<(&str, &Path)>) -> Output {
    let mut c = shieldpack();
    c.args(["session", s(&f.pkg), "-o", s(dir), "--base-url", "/pkg/"])
        .args(["--session", "alice", "bob", "user-1234"])
        .args(args);
    if let Some((k, v)) = env {
        c.env(k, v);
    }
    run(&mut c)
}

#[test]
fn session_without_wm_key_opens_the_code_sealed_in_the_package_and_writes_the_same_playlists() {
    let f = fixture();
    let t = TestDir::new();
    let identity = f.root.join("keyring.json.identity");
    // The sealed code is age-armored in the package, and the `age` CLI opens
    // it with the keyring's identity to the Tardos code key that
    // docs/sessions.md derives from the watermark key (HKDF, "tardos-code").
    let sealed = std::fs::read_to_string(f.pkg.join("session-code.age")).unwrap();
    assert!(
        sealed.starts_with("-----BEGIN AGE ENCRYPTED FILE-----"),
        "{sealed}"
    );
    let out = run_ok(
        std::process::Command::new("age")
            .args(["-d", "-i", s(&identity)])
            .arg(f.pkg.join("session-code.age")),
    );
    let opened = stdout(&out);
    let hex_code = opened
        .trim()
        .strip_prefix("shieldpack-session-code-v1:")
        .unwrap_or_else(|| panic!("{opened}"));
    let py = run_ok(
        python()
            .arg("-c")
            .arg(
                r#"
import sys, hmac, hashlib
W = bytes.fromhex(open(sys.argv[1]).read().strip().split(':')[1])
prk = hmac.new(b'shieldpack/session/v1', W, hashlib.sha256).digest()
print(hmac.new(prk, b'tardos-code\x01', hashlib.sha256).hexdigest())
"#,
            )
            .arg(&f.wm_key),
    );
    assert_eq!(stdout(&py).trim(), hex_code);
    assert!(
        !sealed.contains(hex_code),
        "the code is in the package in clear"
    );
    for name in std::fs::read_dir(&f.pkg).unwrap() {
        let name = name.unwrap().path();
        if name.is_file() {
            let text = String::from_utf8_lossy(&std::fs::read(&name).unwrap()).into_owned();
            assert!(
                !text.contains(hex_code),
                "{} holds the code in clear",
                name.display()
            );
        }
    }

    // The same playlists with the watermark key, with SHIELDPACK_IDENTITY
    // (no flag at all, as DESIGN.md's signature) and with -i.
    let (wm, env, flag) = (t.join("wm"), t.join("env"), t.join("flag"));
    assert!(playlists_in(f, &wm, &["--wm-key", s(&f.wm_key)], None)
        .status
        .success());
    let o = playlists_in(f, &env, &[], Some(("SHIELDPACK_IDENTITY", &identity)));
    assert!(o.status.success(), "{}", crate::util::stderr(&o));
    let o = playlists_in(f, &flag, &["-i", s(&identity)], None);
    assert!(o.status.success(), "{}", crate::util::stderr(&o));
    for id in ["alice", "bob", "user-1234"] {
        let name = format!("{id}.m3u8");
        let want = std::fs::read_to_string(wm.join(&name)).unwrap();
        assert!(want.contains(".b.ts") && want.contains(".a.ts"), "{want}");
        assert_eq!(
            std::fs::read_to_string(env.join(&name)).unwrap(),
            want,
            "{id}"
        );
        assert_eq!(
            std::fs::read_to_string(flag.join(&name)).unwrap(),
            want,
            "{id}"
        );
    }
    // session variant too
    for i in [0u64, 13, 47] {
        let args = [
            "session",
            "variant",
            s(&f.pkg),
            "--session",
            "bob",
            "--segment",
        ];
        let a = run_ok(
            shieldpack()
                .args(args)
                .arg(i.to_string())
                .args(["--wm-key", s(&f.wm_key)]),
        );
        let b = run_ok(
            shieldpack()
                .args(args)
                .arg(i.to_string())
                .env("SHIELDPACK_IDENTITY", &identity),
        );
        assert_eq!(stdout(&a), stdout(&b), "segment {i}");
    }
    // No key and no identity: refused, saying how to fix it.
    let o = playlists_in(f, &t.join("none"), &[], None);
    assert!(!o.status.success());
    let err = crate::util::stderr(&o);
    assert!(
        err.contains("session-code.age") && err.contains("hint:"),
        "{err}"
    );
    // Another identity does not open it.
    let other = TestDir::new();
    let other_kr = new_keyring(&other);
    let o = playlists_in(
        f,
        &t.join("other"),
        &["-i", s(&other_kr.with_extension("json.identity"))],
        None,
    );
    assert!(!o.status.success());
    assert!(
        crate::util::stderr(&o).contains("opens"),
        "{}",
        crate::util::stderr(&o)
    );
}

#[test]
fn verify_checks_both_variants_and_names_a_broken_b_segment() {
    let f = fixture();
    let t = TestDir::new();
    let pkg = t.join("pkg");
    run_ok(
        std::process::Command::new("cp")
            .arg("-a")
            .arg(&f.pkg)
            .arg(&pkg),
    );
    let verify = |code: i32| {
        run_code(
            shieldpack().args(["--json", "verify", s(&pkg), "--keys", s(&f.keys)]),
            code,
        )
    };
    let v = stdout_json(&verify(0));
    // every segment twice: a listed, b beside it
    assert_eq!(v["segments"], 96, "{v}");
    assert_eq!(v["segments_decrypted"], 96, "{v}");
    assert_eq!(v["video_frames"], 2 * 48 * 24, "{v}");
    assert!((v["duration"].as_f64().unwrap() - 48.0).abs() < 0.1, "{v}");

    // BANDWIDTH covers the larger variant of each segment (1 s segments, so
    // any one segment's rate is a lower bound of the peak).
    let m: serde_json::Value =
        serde_json::from_slice(&std::fs::read(pkg.join("manifest.json")).unwrap()).unwrap();
    let larger_peak = m["renditions"][0]["segments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|seg| {
            let size = seg["variants"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v["size"].as_u64().unwrap())
                .max()
                .unwrap();
            (size * 8) as f64 / seg["duration"].as_f64().unwrap()
        })
        .fold(0.0, f64::max);
    let master = std::fs::read_to_string(pkg.join("master.m3u8")).unwrap();
    let bw: f64 = master
        .split("BANDWIDTH=")
        .nth(1)
        .unwrap()
        .split(',')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!(bw + 1.0 >= larger_peak, "BANDWIDTH {bw} < {larger_peak}");
    assert_eq!(bw as u64, m["renditions"][0]["bandwidth"].as_u64().unwrap());

    // A b segment replaced by its a twin's bytes, the manifest's size and
    // hash made to match: it no longer decrypts under b's IV to MPEG-TS.
    let seg = pkg.join("360p/seg_00005.b.ts");
    let twin = std::fs::read(pkg.join("360p/seg_00005.a.ts")).unwrap();
    std::fs::write(&seg, &twin).unwrap();
    let mut m = m;
    let var = &mut m["renditions"][0]["segments"][5]["variants"][1];
    assert_eq!(var["variant"], "b");
    var["size"] = serde_json::json!(twin.len());
    var["sha256"] = serde_json::json!(hex::encode(sha2::Digest::finalize(
        <sha2::Sha256 as sha2::Digest>::new_with_prefix(&twin)
    )));
    std::fs::write(
        pkg.join("manifest.json"),
        serde_json::to_vec_pretty(&m).unwrap(),
    )
    .unwrap();
    let defects = crate::util::verify_defects(&verify(1));
    assert!(!defects.is_empty());
    assert!(
        defects
            .iter()
            .all(|d| d.starts_with("360p/seg_00005.b.ts:")),
        "{defects:?}"
    );
    // A changed byte in another b segment: named by its hash.
    let seg = pkg.join("360p/seg_00009.b.ts");
    let mut bytes = std::fs::read(&seg).unwrap();
    bytes[1000] ^= 1;
    std::fs::write(&seg, &bytes).unwrap();
    let defects = crate::util::verify_defects(&verify(1));
    assert!(
        defects
            .iter()
            .any(|d| d.starts_with("360p/seg_00009.b.ts:") && d.contains("SHA-256")),
        "{defects:?}"
    );
    // A missing b segment.
    std::fs::remove_file(pkg.join("360p/seg_00010.b.ts")).unwrap();
    let defects = crate::util::verify_defects(&verify(1));
    assert!(
        defects
            .iter()
            .any(|d| d.starts_with("360p/seg_00010.b.ts:") && d.contains("missing")),
        "{defects:?}"
    );
}

/// The offset of `fourcc` (the box type) in `data`, the first one.
fn find_box(data: &[u8], fourcc: &[u8; 4]) -> usize {
    data.windows(4)
        .position(|w| w == fourcc)
        .unwrap_or_else(|| panic!("no {} box", String::from_utf8_lossy(fourcc)))
}

/// cbcs's constant IV in an init segment's `tenc` (ISO/IEC 23001-7 8.2),
/// and where it is.
fn tenc_constant_iv(init: &[u8]) -> (usize, Vec<u8>) {
    let t = find_box(init, b"tenc");
    // type, version+flags, reserved, pattern, isProtected, Per_Sample_IV_Size, KID
    assert_eq!(init[t + 11], 0, "cbcs has no per-sample IVs");
    assert_eq!(init[t + 28], 16, "a 16-byte constant IV");
    (t + 29, init[t + 29..t + 45].to_vec())
}

/// The constant IV of a media segment's `seig` group (version 1 `sgpd`, one
/// entry), if it has one.
fn seig_constant_iv(seg: &[u8]) -> Option<Vec<u8>> {
    let s = seg.windows(4).position(|w| w == b"sgpd")?;
    assert_eq!(seg[s + 4], 1, "sgpd version 1");
    assert_eq!(&seg[s + 8..s + 12], b"seig");
    // default_length, entry_count, then the entry: reserved, pattern,
    // isProtected, Per_Sample_IV_Size, KID, constant_IV_size, constant_IV
    assert_eq!(seg[s + 40], 16, "a 16-byte constant IV");
    Some(seg[s + 41..s + 57].to_vec())
}

/// FFmpeg decodes init + segment under `key`: (frames, its MD5 of every
/// decoded frame, whether -xerror passed).
fn ffmpeg_decrypts(t: &TestDir, init: &[u8], seg: &Path, key: &str) -> (usize, String, bool) {
    let mut bytes = init.to_vec();
    bytes.extend(std::fs::read(seg).unwrap());
    let joined = t.join("joined.mp4");
    std::fs::write(&joined, bytes).unwrap();
    let out = run(ffmpeg()
        .args(["-v", "error", "-xerror", "-decryption_key", key, "-i"])
        .arg(&joined)
        .args(["-map", "0:v", "-f", "framemd5", "-"]));
    let text = stdout(&out);
    let frames: Vec<&str> = text.lines().filter(|l| !l.starts_with('#')).collect();
    let md5s = frames
        .iter()
        .map(|l| l.rsplit(',').next().unwrap().trim())
        .collect::<Vec<_>>()
        .join(" ");
    (frames.len(), md5s, out.status.success())
}

/// 8 s of the fixture's title (192 frames), to cut in 2 s segments.
fn short_title(f: &Fixture, t: &TestDir) -> PathBuf {
    let short = t.join("short.mp4");
    run_ok(
        ffmpeg()
            .arg("-i")
            .arg(&f.source)
            .args([
                "-frames:v",
                "192",
                "-t",
                "8",
                "-c:v",
                "libx264",
                "-crf",
                "16",
            ])
            .args(["-preset", "veryfast", "-c:a", "aac"])
            .arg(&short),
    );
    short
}

#[test]
fn ab_cmaf_package_decrypts_in_ffmpeg_both_variants_and_a_session_plays_in_shaka() {
    let f = fixture();
    let t = TestDir::new();
    let short = short_title(f, &t);
    let keyring = new_keyring(&t);
    let identity = keyring.with_extension("json.identity");
    for scheme in ["cenc", "cbcs"] {
        let pkg = t.join(scheme);
        run_ok(shieldpack().args([
            "package",
            s(&short),
            "-o",
            s(&pkg),
            "--keyring",
            s(&keyring),
            "--format",
            "cmaf",
            "--scheme",
            scheme,
            "--segment-duration",
            "2",
            "--ab-watermark",
            s(&f.wm_key),
            "--content-id",
            &format!("ab-{scheme}"),
        ]));
        let keys = t.join(format!("keys-{scheme}"));
        export_key_files(&keyring, &pkg, &keys);
        let m: serde_json::Value =
            serde_json::from_slice(&std::fs::read(pkg.join("manifest.json")).unwrap()).unwrap();
        let segs = m["renditions"][0]["segments"].as_array().unwrap().clone();
        assert_eq!(segs.len(), 4, "{m}");
        let kid = segs[0]["kid"].as_str().unwrap().to_string();
        let key = hex::encode(std::fs::read(keys.join(format!("{kid}.key"))).unwrap());
        let init = std::fs::read(pkg.join("360p/init.mp4")).unwrap();
        for seg in &segs {
            let v = seg["variants"].as_array().unwrap();
            let (a, b) = (
                pkg.join(v[0]["uri"].as_str().unwrap()),
                pkg.join(v[1]["uri"].as_str().unwrap()),
            );
            assert!(
                a.to_string_lossy().ends_with(".a.m4s") && b.to_string_lossy().ends_with(".b.m4s")
            );
            let (fa, ma, oka) = ffmpeg_decrypts(&t, &init, &a, &key);
            assert!(oka && fa == 48, "{scheme} {}: {fa} frames", a.display());
            // b is read with the init segment its own IVs need: cenc's are
            // in its senc (the package's init serves); cbcs's constant IV is
            // in its seig group, which FFmpeg does not read, so FFmpeg gets
            // an init whose tenc carries b's IV.
            let b_init = if scheme == "cbcs" {
                let (at, a_iv) = tenc_constant_iv(&init);
                let b_iv =
                    seig_constant_iv(&std::fs::read(&b).unwrap()).expect("b has a seig group");
                assert_ne!(a_iv, b_iv, "a and b share cbcs's constant IV");
                assert_eq!(seig_constant_iv(&std::fs::read(&a).unwrap()), None);
                // under the package's own init (a's IV) b does not decode
                let (_, _, ok) = ffmpeg_decrypts(&t, &init, &b, &key);
                assert!(!ok, "{}: decodes under a's IV", b.display());
                let mut i = init.clone();
                i[at..at + 16].copy_from_slice(&b_iv);
                i
            } else {
                init.clone()
            };
            let (fb, mb, okb) = ffmpeg_decrypts(&t, &b_init, &b, &key);
            assert!(okb && fb == 48, "{scheme} {}: {fb} frames", b.display());
            assert_ne!(ma, mb, "variants a and b decode to the same pictures");
        }
        let v = stdout_json(&run_ok(shieldpack().args([
            "--json",
            "verify",
            s(&pkg),
            "--keys",
            s(&keys),
        ])));
        assert_eq!(v["defects"], serde_json::json!([]), "{v}");
        // 4 video segments in two variants, and the audio track's 4
        // segments (cmaf keeps audio a track of its own, packaged once).
        assert_eq!(v["segments_decrypted"], 4 * 2 + 4, "{v}");
        assert_eq!(v["video_frames"], 2 * 192, "{v}");

        // A session that gets both variants, its playlist from the code
        // sealed in the package, plays to the end in Shaka with ClearKey.
        // Key files where each rendition's key URIs point (the video's and
        // the audio track's folders).
        for r in ["360p", "audio-und"] {
            let served = pkg.join(r).join("keys");
            std::fs::create_dir_all(&served).unwrap();
            std::fs::copy(
                keys.join(format!("{kid}.key")),
                served.join(format!("{kid}.key")),
            )
            .unwrap();
        }
        let sdir = t.join(format!("s-{scheme}"));
        let ids: Vec<String> = (0..16).map(|i| format!("viewer-{i}")).collect();
        let mut c = shieldpack();
        c.args([
            "session",
            s(&pkg),
            "-o",
            s(&sdir),
            "--base-url",
            &format!("/{scheme}/"),
            "--session",
        ])
        .args(&ids)
        .env("SHIELDPACK_IDENTITY", &identity);
        run_ok(&mut c);
        // cmaf keeps audio a track of its own: ID.m3u8 is a master over the
        // session's media playlists ID/360p.m3u8 (video) and the audio's.
        let video = |id: &str| std::fs::read_to_string(sdir.join(id).join("360p.m3u8")).unwrap();
        let id = ids
            .iter()
            .find(|id| {
                let pl = video(id);
                pl.matches(".b.m4s").count() >= 2 && pl.matches(".a.m4s").count() >= 1
            })
            .expect("a session with both variants among 16");
        let master = std::fs::read_to_string(sdir.join(format!("{id}.m3u8"))).unwrap();
        assert!(
            master.contains("#EXT-X-STREAM-INF:") && master.contains(&format!("{id}/360p.m3u8")),
            "{master}"
        );
        let pl = video(id);
        assert!(
            pl.contains(&format!("#EXT-X-MAP:URI=\"/{scheme}/360p/init.mp4\"")),
            "{pl}"
        );
        let server = HttpServer::serve(t.path());
        let v = crate::cmaf::play_eme(
            &server.url(&format!("s-{scheme}/{id}.m3u8")),
            "shaka",
            &[(kid.clone(), key.clone())],
        );
        assert_eq!(v["exitCode"], 0, "{scheme}: {v}");
        assert_eq!(v["ended"], true, "{scheme}: {v}");
        let decoded = v["decodedFrames"].as_u64().unwrap_or(0);
        assert!(
            (187..=197).contains(&decoded),
            "{scheme}: decoded {decoded}: {v}"
        );
        let got = server.requests();
        for seg in pl.lines().filter(|l| l.ends_with(".m4s")) {
            assert!(got.iter().any(|r| r == seg), "{seg} not fetched: {got:?}");
        }
    }
}

#[test]
fn ab_ladder_marks_every_video_rung_twice_audio_once_and_a_session_master_plays_in_hlsjs() {
    let f = fixture();
    let t = TestDir::new();
    let short = short_title(f, &t);
    let keyring = new_keyring(&t);
    let pkg = t.join("pkg");
    run_ok(shieldpack().args([
        "package",
        s(&short),
        "-o",
        s(&pkg),
        "--keyring",
        s(&keyring),
        "--segment-duration",
        "2",
        "--ladder",
        "360p:800k,240p:400k",
        "--ab-watermark",
        s(&f.wm_key),
        "--content-id",
        "ab-ladder",
    ]));
    let m: serde_json::Value =
        serde_json::from_slice(&std::fs::read(pkg.join("manifest.json")).unwrap()).unwrap();
    let mut video = Vec::new();
    for r in m["renditions"].as_array().unwrap() {
        let name = r["name"].as_str().unwrap().to_string();
        let segs = r["segments"].as_array().unwrap();
        assert_eq!(segs.len(), 4, "{name}");
        if r["kind"] == "audio" {
            assert!(segs.iter().all(|s| s.get("variants").is_none()), "{name}");
        } else {
            assert!(
                segs.iter()
                    .all(|s| s["variants"].as_array().unwrap().len() == 2),
                "{name}"
            );
            video.push(name);
        }
    }
    assert_eq!(video, ["360p", "240p"]);
    let keys = t.join("keys");
    export_key_files(&keyring, &pkg, &keys);
    let v = stdout_json(&run_ok(shieldpack().args([
        "--json",
        "verify",
        s(&pkg),
        "--keys",
        s(&keys),
    ])));
    assert_eq!(v["defects"], serde_json::json!([]), "{v}");
    // 2 video rungs x 4 segments x 2 variants, and 4 audio segments
    assert_eq!(v["segments_decrypted"], 20, "{v}");
    assert_eq!(v["video_frames"], 2 * 2 * 192, "{v}");

    // Session playlists: a master over one media playlist per rendition,
    // every rung following the one codeword.
    let sdir = t.join("s");
    let ids: Vec<String> = (0..16).map(|i| format!("viewer-{i}")).collect();
    run_ok(
        shieldpack()
            .args([
                "session",
                s(&pkg),
                "-o",
                s(&sdir),
                "--base-url",
                "/pkg/",
                "--session",
            ])
            .args(&ids)
            .env(
                "SHIELDPACK_IDENTITY",
                keyring.with_extension("json.identity"),
            ),
    );
    let letters = |id: &str, rung: &str| -> String {
        std::fs::read_to_string(sdir.join(id).join(format!("{rung}.m3u8")))
            .unwrap()
            .lines()
            .filter(|l| l.ends_with(".ts"))
            .map(|l| if l.ends_with(".b.ts") { 'b' } else { 'a' })
            .collect()
    };
    let id = ids
        .iter()
        .find(|id| {
            let w = letters(id, "360p");
            w.contains('a') && w.contains('b')
        })
        .expect("a session with both variants among 16");
    for id in &ids {
        assert_eq!(letters(id, "360p"), letters(id, "240p"), "{id}");
    }
    let master = std::fs::read_to_string(sdir.join(format!("{id}.m3u8"))).unwrap();
    assert!(
        master.contains(&format!("{id}/360p.m3u8")) && master.contains(&format!("{id}/240p.m3u8")),
        "{master}"
    );
    assert!(
        master.contains(&format!("URI=\"{id}/audio-und.m3u8\"")),
        "{master}"
    );
    for name in ["360p", "240p", "audio-und"] {
        let served = pkg.join(name).join("keys");
        std::fs::create_dir_all(&served).unwrap();
        for k in std::fs::read_dir(&keys).unwrap() {
            let k = k.unwrap().path();
            std::fs::copy(&k, served.join(k.file_name().unwrap())).unwrap();
        }
    }
    let server = HttpServer::serve(t.path());
    let v = play_in_browser(&server.url(&format!("s/{id}.m3u8")));
    assert_eq!(v["ended"], true, "did not play to the end: {v}");
    assert_eq!(fatal_errors(&v), Vec::<serde_json::Value>::new(), "{v}");
    // whatever rung it played, it fetched the session's variants only
    let want = letters(id, "360p");
    for r in server
        .requests()
        .iter()
        .filter(|r| r.ends_with(".ts") && !r.contains("audio"))
    {
        let i: usize = r.rsplit("seg_").next().unwrap()[..5].parse().unwrap();
        let got = if r.ends_with(".b.ts") { 'b' } else { 'a' };
        assert_eq!(got, want.as_bytes()[i] as char, "{r}");
    }
}

#[test]
fn clear_ab_package_keeps_its_iframe_playlist_on_variant_a_and_its_sessions_need_the_wm_key() {
    let f = fixture();
    let t = TestDir::new();
    let short = short_title(f, &t);
    let pkg = t.join("pkg");
    run_ok(shieldpack().args([
        "package",
        s(&short),
        "-o",
        s(&pkg),
        "--clear",
        "--segment-duration",
        "2",
        "--ab-watermark",
        s(&f.wm_key),
    ]));
    // The I-frame playlist (clear TS) points into variant a's files, and
    // the master still lists it after BANDWIDTH was restated.
    let master = std::fs::read_to_string(pkg.join("master.m3u8")).unwrap();
    assert!(master.contains("#EXT-X-I-FRAME-STREAM-INF:"), "{master}");
    let iframes = std::fs::read_to_string(pkg.join("360p/iframes.m3u8")).unwrap();
    assert!(
        iframes.contains("seg_00000.a.ts") && !iframes.contains("seg_00000.ts"),
        "{iframes}"
    );
    let v = stdout_json(&run_ok(shieldpack().args(["--json", "verify", s(&pkg)])));
    assert_eq!(v["defects"], serde_json::json!([]), "{v}");
    assert_eq!(v["segments_decrypted"], 8, "{v}");
    // No keyring, nothing to seal the code to: sessions need --wm-key.
    assert!(!pkg.join("session-code.age").exists());
    let o = run(shieldpack().args(["session", s(&pkg), "-o", s(&t.join("s")), "--session", "x"]));
    assert!(!o.status.success());
    let err = crate::util::stderr(&o);
    assert!(err.contains("--wm-key"), "{err}");
    run_ok(shieldpack().args([
        "session",
        s(&pkg),
        "-o",
        s(&t.join("s")),
        "--session",
        "x",
        "--wm-key",
        s(&f.wm_key),
    ]));
}
