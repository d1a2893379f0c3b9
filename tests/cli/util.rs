//! Test helpers: a temp dir per test, the binary with a clean environment,
//! fixtures, a loopback HTTP server, and wrappers for FFmpeg and openssl.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::{Arc, Mutex};

pub struct TestDir {
    dir: tempfile::TempDir,
}

impl TestDir {
    pub fn new() -> Self {
        TestDir {
            dir: tempfile::Builder::new()
                .prefix("shieldpack-test-")
                .tempdir()
                .unwrap(),
        }
    }
    pub fn path(&self) -> &Path {
        self.dir.path()
    }
    pub fn join(&self, p: impl AsRef<Path>) -> PathBuf {
        self.dir.path().join(p)
    }
}

pub fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join(name)
}

/// The binary, with a clean environment and no colour.
pub fn shieldpack() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_shieldpack"));
    c.env_remove("SHIELDPACK_IDENTITY").env("NO_COLOR", "1");
    c
}

fn show(o: &Output) -> String {
    format!(
        "status {:?}\n--- stdout\n{}\n--- stderr\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// Runs and asserts exit 0.
pub fn run_ok(cmd: &mut Command) -> Output {
    let o = cmd.output().expect("spawn");
    assert!(o.status.success(), "{:?} failed:\n{}", cmd, show(&o));
    o
}

/// Runs and asserts the exit code; returns stderr.
pub fn run_code(cmd: &mut Command, code: i32) -> Output {
    let o = cmd.output().expect("spawn");
    assert_eq!(o.status.code(), Some(code), "{:?}:\n{}", cmd, show(&o));
    o
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

pub fn stdout_json(o: &Output) -> serde_json::Value {
    serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("stdout is not JSON ({e}):\n{}", show(o)))
}

/// A new keyring (with its identity beside it) in `t`.
pub fn new_keyring(t: &TestDir) -> PathBuf {
    let k = t.join("keyring.json");
    run_ok(shieldpack().arg("keys").arg("new").arg("-o").arg(&k));
    k
}

/// A static file server on 127.0.0.1 that records what was asked for.
pub struct HttpServer {
    pub port: u16,
    requests: Arc<Mutex<Vec<String>>>,
}

impl HttpServer {
    pub fn serve(root: &Path) -> HttpServer {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let (root, log) = (root.to_path_buf(), requests.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (root, log) = (root.clone(), log.clone());
                std::thread::spawn(move || serve_one(stream, &root, &log));
            }
        });
        HttpServer { port, requests }
    }
    pub fn url(&self, path: &str) -> String {
        format!(
            "http://127.0.0.1:{}/{}",
            self.port,
            path.trim_start_matches('/')
        )
    }
    pub fn requests(&self) -> Vec<String> {
        self.requests.lock().unwrap().clone()
    }
}

fn serve_one(mut s: TcpStream, root: &Path, log: &Mutex<Vec<String>>) {
    let mut r = BufReader::new(s.try_clone().unwrap());
    loop {
        let mut line = String::new();
        if r.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let mut parts = line.split_whitespace();
        let (method, target) = (
            parts.next().unwrap_or("").to_string(),
            parts.next().unwrap_or("/").to_string(),
        );
        loop {
            let mut h = String::new();
            if r.read_line(&mut h).unwrap_or(0) == 0 || h == "\r\n" || h == "\n" {
                break;
            }
        }
        let path = target
            .split('?')
            .next()
            .unwrap_or("/")
            .trim_start_matches('/')
            .to_string();
        log.lock().unwrap().push(path.clone());
        let file = root.join(&path);
        let (status, body) = match (path.contains(".."), std::fs::read(&file)) {
            (false, Ok(b)) if file.is_file() => ("200 OK", b),
            _ => ("404 Not Found", b"not found".to_vec()),
        };
        let ctype = match file.extension().and_then(|e| e.to_str()) {
            Some("m3u8") => "application/vnd.apple.mpegurl",
            Some("ts") => "video/mp2t",
            Some("html") => "text/html",
            Some("js") | Some("mjs") => "text/javascript",
            _ => "application/octet-stream",
        };
        let head = format!(
            "HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nAccess-Control-Allow-Origin: *\r\nConnection: keep-alive\r\n\r\n",
            body.len()
        );
        if s.write_all(head.as_bytes()).is_err()
            || (method != "HEAD" && s.write_all(&body).is_err())
        {
            return;
        }
    }
}

/// Decodes `input` fully with the ffmpeg CLI: (video frames, error output).
pub fn ffmpeg_decode(input: &str) -> (u64, String) {
    let o = Command::new("ffmpeg")
        .args([
            "-v", "error", "-nostdin", "-i", input, "-map", "0:v:0", "-f", "framemd5", "-",
        ])
        .output()
        .expect("ffmpeg on PATH (run scripts/setup.sh)");
    let frames = String::from_utf8_lossy(&o.stdout)
        .lines()
        .filter(|l| !l.starts_with('#'))
        .count() as u64;
    (frames, String::from_utf8_lossy(&o.stderr).into_owned())
}

/// Video frames in a file as ffprobe counts them by decoding.
pub fn ffprobe_frames(input: &str) -> u64 {
    let o = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-count_frames",
            "-select_streams",
            "v:0",
            "-show_entries",
            "stream=nb_read_frames",
            "-of",
            "csv=p=0",
            input,
        ])
        .output()
        .unwrap();
    // MPEG-TS lists each stream under its program too: take the first count.
    let text = String::from_utf8_lossy(&o.stdout);
    text.lines()
        .find(|l| !l.trim().is_empty())
        .and_then(|l| l.trim().parse().ok())
        .unwrap_or_else(|| panic!("ffprobe: {}", show(&o)))
}

/// Decrypts with `openssl enc -d -aes-128-cbc`; None when openssl refuses.
pub fn openssl_decrypt(file: &Path, key_hex: &str, iv_hex: &str) -> Option<Vec<u8>> {
    let out = tempfile::NamedTempFile::new().unwrap();
    let o = Command::new("openssl")
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
        .arg(out.path())
        .output()
        .expect("openssl on PATH");
    o.status
        .success()
        .then(|| std::fs::read(out.path()).unwrap())
}

/// Every file under `dir`, recursively.
pub fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in walkdir::WalkDir::new(dir) {
        let e = e.unwrap();
        if e.file_type().is_file() {
            out.push(e.path().to_path_buf());
        }
    }
    out
}
