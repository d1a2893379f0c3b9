//! Shared helpers for the `cli` integration-test binary.
//!
//! Owns everything a test needs around the binary under test: a private temp dir,
//! a `shieldpack` command with a clean environment, runners that show stdout and
//! stderr when a command fails, the committed fixtures, a loopback HTTP server for
//! packages, and the independent implementations we cross-check against (ffprobe,
//! ffmpeg, openssl, hls.js in Debian's chromium).
//!
//! Every external command runs under a deadline, so a hung decoder or browser
//! fails one test instead of eating CI's time budget.

#![allow(dead_code)] // each test module uses a different subset

use std::collections::HashMap;
use std::ffi::{OsStr, OsString};
use std::fs;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::{Component, Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// How long any one external command may run before it is killed.
pub const COMMAND_TIMEOUT: Duration = Duration::from_secs(300);

/// Frames in `fixtures/clip.mp4`: 12 s at 24 fps.
pub const CLIP_FRAMES: u64 = 288;

// ---------------------------------------------------------------------------
// Paths and temp dirs

/// The crate root (where Cargo.toml is).
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The test venv's Python (scripts/setup.sh makes `.venv` with the parsers
/// pinned in tests/python/requirements.txt: pymp4, pywidevine, PyJWT,
/// akamai-edgeauth, m3u8).
pub fn python() -> Command {
    let py = repo_root().join(".venv/bin/python");
    assert!(
        py.is_file(),
        "{} is missing: run scripts/setup.sh, which makes the test venv",
        py.display()
    );
    Command::new(py)
}

/// A committed fixture: `fixtures/NAME` (see `fixtures/make.sh` for what each is).
pub fn fixture(name: &str) -> PathBuf {
    let p = repo_root().join("fixtures").join(name);
    assert!(
        p.is_file(),
        "fixture {} is missing; it is committed, regenerate it with fixtures/make.sh",
        p.display()
    );
    p
}

/// A test's private temp dir, removed on drop. Set `SHIELDPACK_KEEP_TESTDIR=1` to
/// keep it for a post-mortem (its path is printed).
pub struct TestDir {
    dir: Option<tempfile::TempDir>,
    path: PathBuf,
}

impl TestDir {
    pub fn new() -> TestDir {
        let dir = tempfile::Builder::new()
            .prefix("shieldpack-test-")
            .tempdir()
            .expect("create temp dir");
        let path = dir.path().to_path_buf();
        TestDir {
            dir: Some(dir),
            path,
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn join(&self, rel: impl AsRef<Path>) -> PathBuf {
        self.path.join(rel)
    }

    /// `shieldpack` with this dir as its working directory.
    pub fn cmd(&self) -> Command {
        let mut c = shieldpack();
        c.current_dir(&self.path);
        c
    }
}

impl Default for TestDir {
    fn default() -> Self {
        TestDir::new()
    }
}

impl Drop for TestDir {
    fn drop(&mut self) {
        if std::env::var_os("SHIELDPACK_KEEP_TESTDIR").is_some() {
            if let Some(dir) = self.dir.take() {
                eprintln!("kept test dir {}", dir.keep().display());
            }
        }
    }
}

// ---------------------------------------------------------------------------
// Running commands

/// The binary under test with a clean environment: only PATH, HOME and TMPDIR
/// are kept (so no `SHIELDPACK_IDENTITY` or colour setting leaks in from the
/// developer's shell), and `NO_COLOR=1` keeps escape codes out of the output.
pub fn shieldpack() -> Command {
    media_bin();
    shieldpack_at(Path::new(env!("CARGO_BIN_EXE_shieldpack")))
}

/// `shieldpack-media`, the build that links FFmpeg, beside `shieldpack`
/// (which hands it every media command). It belongs to another package of the
/// workspace, so cargo neither names a `CARGO_BIN_EXE_` for it here nor
/// rebuilds it for `cargo test`: the first call builds it (a no-op when it is
/// fresh), so a test never runs a stale media build against a new front end.
pub fn media_bin() -> PathBuf {
    static BUILT: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    BUILT
        .get_or_init(|| {
            let front = Path::new(env!("CARGO_BIN_EXE_shieldpack"));
            let p = front.with_file_name("shieldpack-media");
            // Run by cargo, which says where it is; run by hand, use what is there.
            let cargo = std::env::var_os("CARGO").or_else(|| option_env!("CARGO").map(Into::into));
            if let Some(cargo) = cargo {
                let mut build = Command::new(cargo);
                build
                    .args(["build", "--quiet", "-p", "shieldpack-media-cli"])
                    .current_dir(repo_root());
                if front.parent().and_then(Path::file_name) == Some(OsStr::new("release")) {
                    build.arg("--release");
                }
                let out = build.output().expect("run cargo to build shieldpack-media");
                assert!(
                    out.status.success(),
                    "cargo build -p shieldpack-media-cli failed:\n{}",
                    String::from_utf8_lossy(&out.stderr)
                );
            }
            assert!(
                p.is_file(),
                "{} is missing: run `cargo build` (the whole workspace) before `cargo test`",
                p.display()
            );
            p
        })
        .clone()
}

/// `bin` (e.g. a copy of the binary under test) with the same clean environment.
pub fn shieldpack_at(bin: &Path) -> Command {
    let mut c = Command::new(bin);
    c.env_clear();
    for var in ["PATH", "HOME", "TMPDIR"] {
        if let Some(v) = std::env::var_os(var) {
            c.env(var, v);
        }
    }
    c.env("NO_COLOR", "1");
    c.stdin(Stdio::null());
    c
}

/// Runs `cmd` to completion (killing it after `timeout`), capturing its output.
/// Standard input is left as the caller set it (`shieldpack()` makes it null),
/// so a test can feed a file to `-`.
pub fn run_with_timeout(cmd: &mut Command, timeout: Duration) -> Output {
    let desc = describe(cmd);
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start `{desc}`: {e}"));
    // Drain both pipes on threads so a chatty child cannot block on a full pipe.
    let mut out = child.stdout.take().unwrap();
    let mut err = child.stderr.take().unwrap();
    let out_t = thread::spawn(move || {
        let mut v = Vec::new();
        let _ = out.read_to_end(&mut v);
        v
    });
    let err_t = thread::spawn(move || {
        let mut v = Vec::new();
        let _ = err.read_to_end(&mut v);
        v
    });
    let start = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().expect("wait for child") {
            break s;
        }
        if start.elapsed() > timeout {
            let _ = child.kill();
            let _ = child.wait();
            let stdout = out_t.join().unwrap();
            let stderr = err_t.join().unwrap();
            panic!(
                "`{desc}` did not finish within {timeout:?} and was killed\n{}",
                show_streams(&stdout, &stderr)
            );
        }
        thread::sleep(Duration::from_millis(20));
    };
    Output {
        status,
        stdout: out_t.join().unwrap(),
        stderr: err_t.join().unwrap(),
    }
}

/// Runs `cmd` and returns its output whatever its exit status.
pub fn run(cmd: &mut Command) -> Output {
    run_with_timeout(cmd, COMMAND_TIMEOUT)
}

/// Runs `cmd` and asserts it exits 0; on failure the panic shows the command,
/// its status, stdout and stderr.
pub fn run_ok(cmd: &mut Command) -> Output {
    run_status(cmd, 0)
}

/// Runs `cmd` and asserts it exits with `code` (e.g. 1 for a clean negative
/// answer, 2 for an error); on a mismatch the panic shows everything.
pub fn run_status(cmd: &mut Command, code: i32) -> Output {
    let desc = describe(cmd);
    let out = run(cmd);
    if out.status.code() != Some(code) {
        panic!(
            "`{desc}` exited with {} (expected {code})\n{}",
            out.status,
            show_streams(&out.stdout, &out.stderr)
        );
    }
    out
}

/// stdout as UTF-8 text (panics with the bytes' lossy form if not UTF-8).
pub fn stdout(out: &Output) -> String {
    String::from_utf8(out.stdout.clone()).unwrap_or_else(|_| {
        panic!(
            "stdout is not UTF-8: {}",
            String::from_utf8_lossy(&out.stdout)
        )
    })
}

/// stderr as (lossy) text.
pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn describe(cmd: &Command) -> String {
    let mut s = cmd.get_program().to_string_lossy().into_owned();
    for a in cmd.get_args() {
        s.push(' ');
        let a = a.to_string_lossy();
        if a.is_empty() || a.contains(char::is_whitespace) {
            s.push_str(&format!("{a:?}"));
        } else {
            s.push_str(&a);
        }
    }
    s
}

fn show_streams(stdout: &[u8], stderr: &[u8]) -> String {
    format!(
        "--- stdout ---\n{}\n--- stderr ---\n{}\n--------------",
        String::from_utf8_lossy(stdout).trim_end(),
        String::from_utf8_lossy(stderr).trim_end()
    )
}

// ---------------------------------------------------------------------------
// Static HTTP server

/// One request as the server saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub method: String,
    /// The decoded path, always starting with `/`, without the query string.
    pub path: String,
    pub status: u16,
}

/// A std-only static file server on 127.0.0.1 (random port), for serving a
/// package to ffmpeg and the browser exactly as a CDN would: GET and HEAD,
/// single byte ranges, keep-alive, HLS content types and `Access-Control-Allow-
/// Origin: *`. It records every request and stops when dropped.
pub struct HttpServer {
    addr: SocketAddr,
    log: Arc<Mutex<Vec<Request>>>,
    stop: Arc<AtomicBool>,
    accept: Option<JoinHandle<()>>,
}

impl HttpServer {
    /// Serves the files under `root`.
    pub fn serve(root: &Path) -> HttpServer {
        let root = root
            .canonicalize()
            .unwrap_or_else(|e| panic!("cannot serve {}: {e}", root.display()));
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().unwrap();
        let log = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let accept = {
            let (log, stop) = (log.clone(), stop.clone());
            thread::spawn(move || {
                for conn in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(conn) = conn else { continue };
                    let (root, log, stop) = (root.clone(), log.clone(), stop.clone());
                    // Connection threads are detached: they end on the client's
                    // close, on an idle timeout, or at the next request after stop.
                    thread::spawn(move || {
                        let _ = handle_connection(conn, &root, &log, &stop);
                    });
                }
            })
        };
        HttpServer {
            addr,
            log,
            stop,
            accept: Some(accept),
        }
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// `http://127.0.0.1:PORT/` + `path` (with or without a leading slash).
    pub fn url(&self, path: &str) -> String {
        format!("http://{}/{}", self.addr, path.trim_start_matches('/'))
    }

    /// Every requested path so far, in order (HEAD and GET alike).
    pub fn requests(&self) -> Vec<String> {
        self.log
            .lock()
            .unwrap()
            .iter()
            .map(|r| r.path.clone())
            .collect()
    }

    /// Every request so far with its method and the status it got.
    pub fn request_log(&self) -> Vec<Request> {
        self.log.lock().unwrap().clone()
    }

    /// Forgets the requests so far (e.g. between two players).
    pub fn clear_requests(&self) {
        self.log.lock().unwrap().clear();
    }
}

impl Drop for HttpServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the blocking accept() so the thread sees the flag.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
        if let Some(t) = self.accept.take() {
            let _ = t.join();
        }
    }
}

fn content_type(path: &Path) -> &'static str {
    match path.extension().and_then(OsStr::to_str).unwrap_or("") {
        "m3u8" => "application/vnd.apple.mpegurl",
        "ts" => "video/mp2t",
        "key" => "application/octet-stream",
        "html" | "htm" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "json" => "application/json",
        "mp4" | "m4s" => "video/mp4",
        "m4a" => "audio/mp4",
        "xml" => "application/xml",
        "txt" => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

fn percent_decode(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = std::str::from_utf8(b.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// Maps a URL path to a file under root, refusing anything that would leave it.
fn resolve(root: &Path, url_path: &str) -> Option<PathBuf> {
    let rel = Path::new(url_path.trim_start_matches('/'));
    let mut p = root.to_path_buf();
    for c in rel.components() {
        match c {
            Component::Normal(part) => p.push(part),
            Component::CurDir => {}
            _ => return None,
        }
    }
    Some(p)
}

/// Parses `Range: bytes=A-B` (single range only) against a body of `len`
/// bytes; `Err(())` means unsatisfiable (416).
fn parse_range(value: &str, len: u64) -> Option<Result<(u64, u64), ()>> {
    let spec = value.trim().strip_prefix("bytes=")?;
    if spec.contains(',') {
        return None; // multi-range: answer with the whole body, as HTTP allows
    }
    let (a, b) = spec.split_once('-')?;
    let (a, b) = (a.trim(), b.trim());
    let range = if a.is_empty() {
        let n: u64 = b.parse().ok()?;
        if n == 0 || len == 0 {
            return Some(Err(()));
        }
        (len.saturating_sub(n), len - 1)
    } else {
        let start: u64 = a.parse().ok()?;
        let end = if b.is_empty() {
            len.saturating_sub(1)
        } else {
            b.parse::<u64>().ok()?.min(len.saturating_sub(1))
        };
        if start >= len || end < start {
            return Some(Err(()));
        }
        (start, end)
    };
    Some(Ok(range))
}

fn handle_connection(
    conn: TcpStream,
    root: &Path,
    log: &Mutex<Vec<Request>>,
    stop: &AtomicBool,
) -> io::Result<()> {
    conn.set_read_timeout(Some(Duration::from_secs(10)))?;
    conn.set_nodelay(true)?;
    let mut reader = BufReader::new(conn.try_clone()?);
    let mut writer = conn;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 || stop.load(Ordering::SeqCst) {
            break;
        }
        let line = line.trim_end().to_string();
        if line.is_empty() {
            continue; // tolerate stray CRLF between requests
        }
        let mut headers = HashMap::new();
        loop {
            let mut h = String::new();
            if reader.read_line(&mut h)? == 0 {
                return Ok(());
            }
            let h = h.trim_end();
            if h.is_empty() {
                break;
            }
            if let Some((k, v)) = h.split_once(':') {
                headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
            }
        }
        // Skip any request body so the next request parses.
        if let Some(n) = headers
            .get("content-length")
            .and_then(|v| v.parse::<u64>().ok())
        {
            io::copy(&mut (&mut reader).take(n), &mut io::sink())?;
        }

        let mut parts = line.split_whitespace();
        let method = parts.next().unwrap_or("").to_string();
        let target = parts.next().unwrap_or("/");
        let version = parts.next().unwrap_or("HTTP/1.0");
        let raw_path = target.split(['?', '#']).next().unwrap_or("/");
        let path = percent_decode(raw_path).unwrap_or_else(|| raw_path.to_string());
        let close = match headers.get("connection").map(|v| v.to_ascii_lowercase()) {
            Some(v) if v.contains("close") => true,
            Some(v) if v.contains("keep-alive") => false,
            _ => version == "HTTP/1.0",
        };

        let file = resolve(root, &path).filter(|p| p.is_file());
        let (status, body, extra): (u16, Vec<u8>, Vec<(String, String)>) =
            if method != "GET" && method != "HEAD" {
                (
                    405,
                    b"method not allowed\n".to_vec(),
                    vec![("Allow".into(), "GET, HEAD".into())],
                )
            } else if let Some(f) = &file {
                match fs::read(f) {
                    Ok(data) => {
                        let len = data.len() as u64;
                        match headers.get("range").and_then(|r| parse_range(r, len)) {
                            Some(Ok((a, b))) => (
                                206,
                                data[a as usize..=b as usize].to_vec(),
                                vec![("Content-Range".into(), format!("bytes {a}-{b}/{len}"))],
                            ),
                            Some(Err(())) => (
                                416,
                                Vec::new(),
                                vec![("Content-Range".into(), format!("bytes */{len}"))],
                            ),
                            None => (200, data, Vec::new()),
                        }
                    }
                    Err(_) => (403, b"forbidden\n".to_vec(), Vec::new()),
                }
            } else {
                (404, b"not found\n".to_vec(), Vec::new())
            };
        log.lock().unwrap().push(Request {
            method: method.clone(),
            path: path.clone(),
            status,
        });

        let reason = match status {
            200 => "OK",
            206 => "Partial Content",
            403 => "Forbidden",
            404 => "Not Found",
            405 => "Method Not Allowed",
            416 => "Range Not Satisfiable",
            _ => "",
        };
        let ctype = match (&file, status) {
            (Some(f), 200 | 206) => content_type(f),
            _ => "text/plain; charset=utf-8",
        };
        let mut head = format!(
            "HTTP/1.1 {status} {reason}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\n\
             Accept-Ranges: bytes\r\nAccess-Control-Allow-Origin: *\r\n\
             Cache-Control: no-store\r\nConnection: {}\r\n",
            body.len(),
            if close { "close" } else { "keep-alive" }
        );
        for (k, v) in extra {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
        head.push_str("\r\n");
        writer.write_all(head.as_bytes())?;
        if method != "HEAD" {
            writer.write_all(&body)?;
        }
        writer.flush()?;
        if close {
            break;
        }
    }
    let _ = writer.shutdown(Shutdown::Both);
    Ok(())
}

// ---------------------------------------------------------------------------
// Independent implementations: ffprobe, ffmpeg, openssl

/// Inputs ending in .m3u8 get `-allowed_extensions ALL`: FFmpeg's HLS demuxer
/// otherwise refuses to open a local `*.key` file ("not a common multimedia
/// extension"), and non-HLS demuxers reject the option, so only HLS gets it.
fn hls_input_args(input: &OsStr) -> Vec<OsString> {
    let s = input.to_string_lossy();
    let path_part = s.split(['?', '#']).next().unwrap_or("");
    if path_part.ends_with(".m3u8") {
        vec!["-allowed_extensions".into(), "ALL".into()]
    } else {
        Vec::new()
    }
}

/// `ffmpeg` quiet (`-v error`, no banner), never reading stdin and replacing
/// its output (`-y`): add the inputs, filters and output, then run it with
/// `run_ok`, which kills it at the deadline and shows its errors on failure.
pub fn ffmpeg() -> Command {
    let mut c = Command::new("ffmpeg");
    c.args(["-hide_banner", "-v", "error", "-nostdin", "-y"]);
    c
}

/// Decoded video frames of the first video stream of a file or URL, counted by
/// ffprobe (which really decodes them: `-count_frames`).
pub fn ffprobe_frames(input: impl AsRef<OsStr>) -> u64 {
    let input = input.as_ref();
    let out = run_ok(
        Command::new("ffprobe")
            .args(["-v", "error"])
            .args(hls_input_args(input))
            .args(["-count_frames", "-select_streams", "v:0"])
            .args(["-show_entries", "stream=nb_read_frames", "-of", "csv=p=0"])
            .arg(input),
    );
    let text = stdout(&out);
    text.trim()
        .lines()
        .next()
        .and_then(|l| l.trim().trim_end_matches(',').parse().ok())
        .unwrap_or_else(|| {
            panic!(
                "ffprobe gave no frame count for {}: {text:?}",
                input.to_string_lossy()
            )
        })
}

/// Decodes every stream of a file or URL to the null muxer and returns the
/// number of video frames decoded and FFmpeg's error output, which is empty
/// for a clean decode. Does not assert; the caller decides what is clean.
pub fn ffmpeg_decode_ok(input: impl AsRef<OsStr>) -> (u64, String) {
    let input = input.as_ref();
    // -progress writes key=value blocks to stdout, leaving stderr to errors only;
    // the last `frame=` is the number of video frames that reached the muxer.
    let out = run(Command::new("ffmpeg")
        .args(["-hide_banner", "-nostdin", "-v", "error"])
        .args(hls_input_args(input))
        .arg("-i")
        .arg(input)
        .args(["-progress", "pipe:1", "-f", "null", "-"]));
    let frames = stdout(&out)
        .lines()
        .filter_map(|l| l.strip_prefix("frame="))
        .next_back()
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or(0);
    let mut err = stderr(&out);
    if !out.status.success() && err.trim().is_empty() {
        err = format!("ffmpeg exited with {} and printed nothing", out.status);
    }
    (frames, err)
}

/// AES-128-CBC decryption (PKCS#7 padding) of `file` by the openssl CLI;
/// `None` when openssl refuses (bad padding: wrong key or IV).
pub fn openssl_decrypt(file: impl AsRef<Path>, key_hex: &str, iv_hex: &str) -> Option<Vec<u8>> {
    try_openssl_decrypt(file, key_hex, iv_hex).ok()
}

/// Like [`openssl_decrypt`], but returns openssl's complaint as `Err` (for tests
/// that expect a wrong key to fail).
pub fn try_openssl_decrypt(
    file: impl AsRef<Path>,
    key_hex: &str,
    iv_hex: &str,
) -> Result<Vec<u8>, String> {
    let file = file.as_ref();
    let tmp = tempfile::NamedTempFile::new().expect("temp file");
    let out = run(Command::new("openssl")
        .args([
            "enc",
            "-d",
            "-aes-128-cbc",
            "-K",
            key_hex,
            "-iv",
            iv_hex,
            "-in",
        ])
        .arg(file)
        .arg("-out")
        .arg(tmp.path()));
    if !out.status.success() {
        return Err(format!(
            "openssl could not decrypt {} ({})\n{}",
            file.display(),
            out.status,
            show_streams(&out.stdout, &out.stderr)
        ));
    }
    Ok(fs::read(tmp.path()).expect("read openssl output"))
}

/// True when `data` looks like an MPEG-TS stream: non-empty, a whole number of
/// 188-byte packets, each starting with the 0x47 sync byte.
pub fn is_mpeg_ts(data: &[u8]) -> bool {
    !data.is_empty() && data.len().is_multiple_of(188) && data.chunks(188).all(|p| p[0] == 0x47)
}

// ---------------------------------------------------------------------------
// Browser: hls.js in Debian's chromium

/// Only one chromium at a time: two cores cannot decode two videos in real time
/// alongside cargo's other test threads without dropping frames.
pub static BROWSER: Mutex<()> = Mutex::new(());

/// Options for [`play_in_browser_with`].
#[derive(Debug, Clone)]
pub struct PlayOptions {
    /// Playback rate (1 = real time). Frames are still all decoded at 4x.
    pub rate: f64,
    pub timeout: Duration,
}

impl Default for PlayOptions {
    fn default() -> Self {
        PlayOptions {
            rate: 4.0,
            timeout: Duration::from_secs(90),
        }
    }
}

/// Plays `url` (a master or media playlist) with hls.js in headless chromium at
/// 4x and returns play.mjs's JSON summary plus `"exitCode"` (0 = played to the
/// end with no fatal error). See tests/browser/play.mjs for the fields.
pub fn play_in_browser(url: &str) -> serde_json::Value {
    play_in_browser_with(url, &PlayOptions::default())
}

pub fn play_in_browser_with(url: &str, opts: &PlayOptions) -> serde_json::Value {
    play_in_browser_args(url, opts, &[])
}

/// [`play_in_browser_with`] with more play.mjs arguments (`--switch-level-at S`...).
pub fn play_in_browser_args(url: &str, opts: &PlayOptions, extra: &[&str]) -> serde_json::Value {
    let dir = repo_root().join("tests").join("browser");
    let modules = dir.join("node_modules");
    if !modules.join("playwright-core").is_dir() || !modules.join("hls.js").is_dir() {
        panic!(
            "browser test cannot run: {} lacks playwright-core or hls.js\n\
             hint: run `bash scripts/setup.sh` (installs chromium, node and the npm packages)",
            modules.display()
        );
    }
    let _one_at_a_time = BROWSER.lock().unwrap_or_else(|p| p.into_inner());
    let out = run_with_timeout(
        Command::new("node")
            .arg(dir.join("play.mjs"))
            .arg(url)
            .arg("--rate")
            .arg(opts.rate.to_string())
            .arg("--timeout-ms")
            .arg(opts.timeout.as_millis().to_string())
            .args(extra)
            .current_dir(&dir),
        opts.timeout + Duration::from_secs(60),
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text.lines().rev().find(|l| l.trim_start().starts_with('{'));
    let mut v: serde_json::Value = line
        .and_then(|l| serde_json::from_str(l).ok())
        .unwrap_or_else(|| {
            panic!(
                "play.mjs printed no JSON summary ({})\n{}",
                out.status,
                show_streams(&out.stdout, &out.stderr)
            )
        });
    if let Some(err) = v.get("launchError") {
        panic!(
            "chromium did not start: {err}\nhint: run `bash scripts/setup.sh`; it installs Debian's chromium\n{}",
            show_streams(&out.stdout, &out.stderr)
        );
    }
    v["exitCode"] = serde_json::json!(out.status.code());
    v
}

/// The fatal errors in a play.mjs summary (empty when playback was clean).
pub fn fatal_errors(summary: &serde_json::Value) -> Vec<serde_json::Value> {
    summary["errors"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter(|e| e["fatal"].as_bool() == Some(true))
                .cloned()
                .collect()
        })
        .unwrap_or_default()
}

// ---- Shared by the feature modules ----

/// Runs and asserts the exit code (the feature tests' name for `run_status`).
pub fn run_code(cmd: &mut Command, code: i32) -> Output {
    run_status(cmd, code)
}

/// Parses stdout as one JSON document.
pub fn stdout_json(o: &Output) -> serde_json::Value {
    serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("stdout is not JSON ({e}):\n{}\n{}", stdout(o), stderr(o)))
}

/// A new keyring (with its identity beside it) in `t`.
pub fn new_keyring(t: &TestDir) -> PathBuf {
    let k = t.join("keyring.json");
    run_ok(shieldpack().arg("keys").arg("new").arg("-o").arg(&k));
    k
}

/// `shieldpack package fixtures/clip.mp4 -o OUT --keyring KEYRING`, ready for more flags.
pub fn package_clip(out: impl AsRef<Path>, keyring: impl AsRef<Path>) -> Command {
    package_input(fixture("clip.mp4"), out, keyring)
}

/// `shieldpack package INPUT -o OUT --keyring KEYRING`, ready for more flags.
pub fn package_input(
    input: impl AsRef<Path>,
    out: impl AsRef<Path>,
    keyring: impl AsRef<Path>,
) -> Command {
    let mut c = shieldpack();
    c.arg("package")
        .arg(input.as_ref())
        .arg("-o")
        .arg(out.as_ref())
        .arg("--keyring")
        .arg(keyring.as_ref());
    c
}

/// Exports the key files of the package in `out` (made with `keyring`) into `dest`.
pub fn export_key_files(keyring: &Path, out: &Path, dest: &Path) {
    run_ok(
        shieldpack()
            .args(["keys", "export"])
            .arg(keyring)
            .arg("--package")
            .arg(out)
            .args(["--format", "key-files", "-o"])
            .arg(dest),
    );
}

/// `shieldpack verify OUT --keys KEYS --json`, asserting exit `code` (0
/// clean, 1 defects found): its report.
pub fn verify_with_keys(out: &Path, keys: &Path, code: i32) -> serde_json::Value {
    stdout_json(&run_status(
        shieldpack()
            .arg("verify")
            .arg(out)
            .arg("--keys")
            .arg(keys)
            .arg("--json"),
        code,
    ))
}

/// Serves the package in `out` on loopback and decodes its master playlist with
/// FFmpeg: (video frames, FFmpeg's error output, every key URI fetched, in order).
pub fn decode_over_http(out: &Path) -> (u64, String, Vec<String>) {
    let server = HttpServer::serve(out);
    let (frames, errors) = ffmpeg_decode(&server.url("master.m3u8"));
    let keys = server
        .requests()
        .into_iter()
        .filter(|r| r.ends_with(".key"))
        .collect();
    (frames, errors, keys)
}

/// Serves the package in `out`, plays it with hls.js in chromium and asserts it
/// ends with no fatal error after `frags` fragments and `frames` decoded frames
/// (give or take five at the edges); returns the distinct key URIs fetched.
pub fn assert_plays_to_end(out: &Path, frags: u64, frames: u64) -> Vec<String> {
    let server = HttpServer::serve(out);
    let v = play_in_browser(&server.url("master.m3u8"));
    assert_eq!(v["ended"], true, "did not play to the end: {v}");
    assert_eq!(fatal_errors(&v), Vec::<serde_json::Value>::new(), "{v}");
    assert_eq!(v["fragsLoaded"], frags, "{v}");
    let decoded = v["decodedFrames"].as_u64().unwrap_or(0);
    assert!(
        decoded + 5 >= frames && decoded <= frames + 5,
        "decoded {decoded} of {frames}: {v}"
    );
    let mut keys: Vec<String> = server
        .requests()
        .into_iter()
        .filter(|r| r.ends_with(".key"))
        .collect();
    keys.sort();
    keys.dedup();
    keys
}

/// The defects of `verify --json` output, each as "FILE: message".
pub fn verify_defects(o: &Output) -> Vec<String> {
    stdout_json(o)["defects"]
        .as_array()
        .expect("verify --json lists defects")
        .iter()
        .map(|d| {
            format!(
                "{}: {}",
                d["file"].as_str().unwrap(),
                d["message"].as_str().unwrap()
            )
        })
        .collect()
}

/// Decodes the first video stream fully: (frames, FFmpeg's error output).
pub fn ffmpeg_decode(input: &str) -> (u64, String) {
    ffmpeg_decode_ok(input)
}

/// Every file under `dir`, recursively, in a stable order.
pub fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = walkdir::WalkDir::new(dir)
        .into_iter()
        .map(|e| e.expect("readable tree"))
        .filter(|e| e.file_type().is_file())
        .map(|e| e.path().to_path_buf())
        .collect();
    out.sort();
    out
}

/// Builds C `source` into a shared object in `t` for `LD_PRELOAD`, to make
/// system calls fail on demand (a full or failing disk).
pub fn preload_shim(t: &TestDir, name: &str, source: &str) -> PathBuf {
    let src = t.join(format!("{name}.c"));
    std::fs::write(&src, source).unwrap();
    let so = t.join(format!("lib{name}.so"));
    run_ok(
        Command::new("cc")
            .args(["-shared", "-fPIC", "-O2", "-o"])
            .arg(&so)
            .arg(&src)
            .arg("-ldl"),
    );
    so
}

/// Every file under `dir` with its bytes, to show that a failed command
/// changed nothing.
pub fn snapshot(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    files_under(dir)
        .into_iter()
        .map(|f| (f.clone(), fs::read(&f).unwrap()))
        .collect()
}

/// The hidden entries of `dir`: what a command staged there (`.OUT.partial-*`,
/// `.shieldpack-*` temp files) and did not clean up.
pub fn hidden_entries(dir: &Path) -> Vec<String> {
    fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with('.'))
        .collect()
}

/// `wrapper` (strace, nohup, with its own arguments given) made to run `cmd`,
/// in `cmd`'s own clean environment.
pub fn under(mut wrapper: Command, cmd: &Command) -> Command {
    wrapper
        .env_clear()
        .envs(cmd.get_envs().filter_map(|(k, v)| v.map(|v| (k, v))))
        .arg(cmd.get_program())
        .args(cmd.get_args());
    wrapper
}

/// How `x264_gops` starts each GOP after the first picture, an IDR.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gop {
    /// An IDR picture.
    Closed,
    /// An I picture with a recovery point, whose leading B-frames refer to
    /// the GOP before.
    Open,
    /// A P picture with a recovery point frames later: gradual intra refresh.
    Refresh,
}

/// `seconds` (even) of 320x180 H.264 at 24 fps into `out`, from x264 with a
/// keyframe every 2 s, each GOP starting as `gop` says. Closed and open GOPs
/// have three B-frames in a fixed pattern; the intra refresh has none, so
/// that no picture shown before a keyframe gives its dependence away.
pub fn x264_gops(out: &Path, gop: Gop, seconds: u32) -> PathBuf {
    let kind = match gop {
        Gop::Closed => "open-gop=0:bframes=3",
        Gop::Open => "open-gop=1:bframes=3",
        Gop::Refresh => "intra-refresh=1:bframes=0",
    };
    let params = format!("{kind}:keyint=48:min-keyint=48:scenecut=0:b-adapt=0");
    run_ok(
        Command::new("ffmpeg")
            .args(["-v", "error", "-nostdin", "-y", "-f", "lavfi", "-i"])
            .arg(format!("testsrc2=s=320x180:r=24:d={seconds}"))
            .args([
                "-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p",
            ])
            .args(["-x264-params", &params])
            .arg(out),
    );
    out.to_path_buf()
}

// ---------------------------------------------------------------------------
// Locks held by another process

/// Another process holding the `flock` on `path` (util-linux `flock`, as a
/// second shieldpack run would), with `record` written into the file the way
/// shieldpack's `JobLock` records its holder. Killed when dropped.
pub struct LockHolder {
    child: std::process::Child,
    pub pid: u32,
    pub host: String,
}

impl LockHolder {
    pub fn hold(path: &Path, job: &str) -> LockHolder {
        // -o: the lock stays with flock itself (not `cat`), so killing flock
        // releases it; `cat` ends when its stdin closes.
        let child = Command::new("flock")
            .arg("-o")
            .arg(path)
            .arg("cat")
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .expect("flock (util-linux) on PATH");
        // Held once a non-blocking try from here fails.
        let start = Instant::now();
        while Command::new("flock")
            .args(["-n"])
            .arg(path)
            .arg("true")
            .status()
            .expect("flock")
            .success()
        {
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "flock never took {path:?}"
            );
            thread::sleep(Duration::from_millis(20));
        }
        let host = fs::read_to_string("/proc/sys/kernel/hostname")
            .unwrap()
            .trim()
            .to_string();
        let pid = child.id();
        let record = serde_json::json!({
            "pid": pid, "host": host, "started": "2025-01-02T03:04:05Z", "job": job,
        });
        fs::write(path, format!("{record}\n")).unwrap();
        LockHolder { child, pid, host }
    }
}

impl Drop for LockHolder {
    fn drop(&mut self) {
        let _ = self.child.kill();
        drop(self.child.stdin.take());
        let _ = self.child.wait();
    }
}
