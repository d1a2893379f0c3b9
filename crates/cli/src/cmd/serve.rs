//! `shieldpack serve OUTDIR [--keys DIR] [--port N]`: a preview of a package
//! on this machine.
//!
//! A small HTTP server (tiny_http) on loopback only (it hands out keys, so
//! any other address is refused), serving the package's files, a player page
//! at `/` (hls.js for `master.m3u8`, Shaka Player with ClearKey for
//! `manifest.mpd`), the key files of `--keys` for the playlists' key URIs,
//! and those keys as a ClearKey map for Shaka Player. The players are
//! vendored (assets/player/README.md says which versions, under Apache-2.0)
//! and embedded, so the page works offline and without this repository.
//! Only GET and HEAD; no path outside OUTDIR (nor a symlink out of it) is
//! ever served. Ctrl-C stops it (exit 0).

use std::fs::File;
use std::net::{IpAddr, SocketAddr};
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use serde_json::json;
use shieldpack_core::Error;
use tiny_http::{Header, Method, Request, Response, Server};
use zeroize::Zeroizing;

use crate::cli::ServeArgs;
use crate::output::Printer;
use crate::Status;

const PAGE: &str = include_str!("../../assets/player/page.html");
const HLS_JS: &[u8] = include_bytes!("../../assets/player/hls.min.js");
const SHAKA_JS: &[u8] = include_bytes!("../../assets/player/shaka-player.compiled.js");
/// Where the server's own files live, apart from the package's.
const OWN: &str = "/__shieldpack/";
/// The most key files read from `--keys` for the ClearKey map.
const MAX_KEY_FILES: usize = 100_000;
const WORKERS: usize = 4;

/// The loopback address `bind` names, or an error for any other.
pub fn loopback_addr(bind: &str, port: u16) -> shieldpack_core::Result<SocketAddr> {
    let ip: Option<IpAddr> = match bind.trim() {
        "localhost" => Some(IpAddr::from([127, 0, 0, 1])),
        b => b.trim_start_matches('[').trim_end_matches(']').parse().ok(),
    };
    match ip {
        Some(ip) if ip.is_loopback() => Ok(SocketAddr::new(ip, port)),
        _ => Err(Error::arg(
            format!("serve listens on loopback only, and --bind {bind} is not a loopback address"),
            "leave --bind out (127.0.0.1), or give ::1 or localhost; the server hands out content keys, so it never listens where other machines can reach it; to publish a package, copy OUTDIR to a web server and the keys to your key server",
        )),
    }
}

/// The manifests a player can start from, in the order the page offers them.
fn sources(root: &Path) -> Vec<String> {
    ["master.m3u8", "manifest.mpd"]
        .into_iter()
        .filter(|n| root.join(n).is_file())
        .map(str::to_string)
        .collect()
}

fn percent_decode(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let h = std::str::from_utf8(b.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(h, 16).ok()?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

fn content_type(path: &str) -> &'static str {
    match path.rsplit('.').next().unwrap_or("") {
        "m3u8" => "application/vnd.apple.mpegurl",
        "mpd" => "application/dash+xml",
        "ts" => "video/mp2t",
        "mp4" | "m4s" => "video/mp4",
        "m4a" => "audio/mp4",
        "vtt" => "text/vtt; charset=utf-8",
        "json" => "application/json",
        "html" => "text/html; charset=utf-8",
        "js" => "text/javascript; charset=utf-8",
        _ => "application/octet-stream",
    }
}

fn header(name: &str, value: &str) -> Header {
    Header::from_bytes(name.as_bytes(), value.as_bytes()).expect("ASCII header")
}

/// Whether `name` is a key file's name: 32 lower-case hex digits and `.key`.
/// Whether an HTTP Host header (`name[:port]`) names a loopback address.
fn loopback_host(host: &str) -> bool {
    let name = match host.strip_prefix('[') {
        Some(rest) => rest.split(']').next().unwrap_or(""),
        None => host.rsplit_once(':').map_or(host, |(n, _)| n),
    };
    name.eq_ignore_ascii_case("localhost")
        || name
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

fn is_key_name(name: &str) -> bool {
    name.len() == 36
        && name.ends_with(".key")
        && name[..32]
            .bytes()
            .all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(&c))
}

/// What the server needs to answer requests.
struct Site {
    root: PathBuf,
    keys: Option<PathBuf>,
    page: String,
}

enum Answer {
    Bytes(Vec<u8>, &'static str),
    Secret(Zeroizing<Vec<u8>>, &'static str),
    File(File, &'static str),
    Status(u16, &'static str),
}

impl Site {
    /// A file under the package root for a decoded URL path, or None when
    /// the path leaves the root or names nothing there.
    fn package_file(&self, path: &str) -> Option<PathBuf> {
        let rel = Path::new(path.trim_start_matches('/'));
        if rel.components().any(|c| !matches!(c, Component::Normal(_))) {
            return None;
        }
        let full = self.root.join(rel).canonicalize().ok()?;
        (full.starts_with(&self.root) && full.is_file()).then_some(full)
    }

    /// The 16 bytes of key file `name` from `--keys`.
    fn key(&self, name: &str) -> Option<Zeroizing<Vec<u8>>> {
        let dir = self.keys.as_ref()?;
        let bytes = Zeroizing::new(std::fs::read(dir.join(name)).ok()?);
        (bytes.len() == 16).then_some(bytes)
    }

    /// Every key of `--keys` as Shaka Player's `drm.clearKeys` map: KID hex
    /// to key hex.
    fn clear_keys(&self) -> Option<Zeroizing<Vec<u8>>> {
        let dir = self.keys.as_ref()?;
        let mut map = serde_json::Map::new();
        for e in std::fs::read_dir(dir).ok()?.flatten().take(MAX_KEY_FILES) {
            let name = e.file_name().to_string_lossy().into_owned();
            if !is_key_name(&name) {
                continue;
            }
            if let Some(k) = self.key(&name) {
                map.insert(name[..32].to_string(), json!(hex::encode(k.as_slice())));
            }
        }
        Some(Zeroizing::new(
            serde_json::to_vec(&serde_json::Value::Object(map)).expect("serialisable"),
        ))
    }

    fn answer(
        &self,
        method: &Method,
        url: &str,
        peer: Option<&SocketAddr>,
        host: Option<&str>,
    ) -> Answer {
        if !matches!(method, Method::Get | Method::Head) {
            return Answer::Status(405, "only GET and HEAD");
        }
        // A web page elsewhere can point a name of its own at 127.0.0.1 (DNS
        // rebinding) and read this server from the user's browser: its
        // requests carry that name as Host, so only loopback names pass.
        if !host.is_some_and(loopback_host) {
            return Answer::Status(
                403,
                "the Host header must name loopback (localhost, 127.0.0.1 or [::1])",
            );
        }
        let raw = url.split(['?', '#']).next().unwrap_or("/");
        let Some(path) = percent_decode(raw).filter(|p| p.starts_with('/') && !p.contains('\0'))
        else {
            return Answer::Status(400, "bad path");
        };
        // Keys go to loopback peers only; the listener is loopback-only, so
        // this holds anyway, and says so where the secret leaves.
        let loopback = peer.is_some_and(|a| a.ip().is_loopback());
        match path.as_str() {
            "/" | "/index.html" => {
                return Answer::Bytes(self.page.clone().into_bytes(), "text/html; charset=utf-8")
            }
            p if p.starts_with(OWN) => {
                return match &p[OWN.len()..] {
                    "hls.min.js" => {
                        Answer::Bytes(HLS_JS.to_vec(), "text/javascript; charset=utf-8")
                    }
                    "shaka-player.compiled.js" => {
                        Answer::Bytes(SHAKA_JS.to_vec(), "text/javascript; charset=utf-8")
                    }
                    "clearkeys.json" if loopback => match self.clear_keys() {
                        Some(k) => Answer::Secret(k, "application/json"),
                        None => Answer::Status(404, "no --keys given"),
                    },
                    _ => Answer::Status(404, "not found"),
                };
            }
            _ => {}
        }
        if let Some(f) = self.package_file(&path) {
            return match File::open(&f) {
                Ok(file) => Answer::File(file, content_type(&path)),
                Err(_) => Answer::Status(403, "unreadable"),
            };
        }
        // A playlist's key URI (keys/<kid>.key by default, relative to its
        // rendition): answered from --keys by the file name.
        let name = path.rsplit('/').next().unwrap_or("");
        if is_key_name(name) && loopback {
            if let Some(k) = self.key(name) {
                return Answer::Secret(k, "application/octet-stream");
            }
        }
        Answer::Status(404, "not found")
    }

    fn respond(&self, req: Request, p: &Printer) {
        let host = req
            .headers()
            .iter()
            .find(|h| h.field.equiv("Host"))
            .map(|h| h.value.as_str().to_string());
        let a = self.answer(req.method(), req.url(), req.remote_addr(), host.as_deref());
        let code = match &a {
            Answer::Status(c, _) => *c,
            _ => 200,
        };
        p.detail(format!("{} {} {code}", req.method(), req.url()));
        let no_store = header("Cache-Control", "no-store");
        let _ = match a {
            Answer::Bytes(b, t) => req.respond(
                Response::from_data(b)
                    .with_header(header("Content-Type", t))
                    .with_header(no_store),
            ),
            Answer::Secret(b, t) => req.respond(
                Response::from_data(b.to_vec())
                    .with_header(header("Content-Type", t))
                    .with_header(no_store),
            ),
            Answer::File(f, t) => req.respond(
                Response::from_file(f)
                    .with_header(header("Content-Type", t))
                    .with_header(no_store),
            ),
            Answer::Status(c, why) => req.respond(
                Response::from_data(format!("{why}\n").into_bytes())
                    .with_status_code(c)
                    .with_header(header("Content-Type", "text/plain; charset=utf-8")),
            ),
        };
    }
}

pub fn run(a: ServeArgs, p: &Printer) -> anyhow::Result<Status> {
    let addr = loopback_addr(&a.bind, a.port)?;
    let root = a.outdir.canonicalize().map_err(|e| {
        Error::missing_or_io(
            &a.outdir,
            e,
            "no such package folder",
            "give the OUTDIR that `shieldpack package` wrote",
        )
    })?;
    let found = sources(&root);
    if found.is_empty() {
        return Err(Error::invalid_file(
            &a.outdir,
            "has no master.m3u8 and no manifest.mpd to play",
            "give the OUTDIR that `shieldpack package` wrote",
        )
        .into());
    }
    let keys = match &a.keys {
        Some(k) if !k.is_dir() => {
            return Err(Error::invalid_file(
                k,
                "is not a folder of key files",
                "export them with `shieldpack keys export KEYRING --package OUTDIR --format key-files -o DIR`",
            )
            .into())
        }
        k => k.clone(),
    };
    let page = PAGE.replace(
        "__SHIELDPACK_SOURCES__",
        &serde_json::to_string(&found).expect("serialisable"),
    );
    let server = Server::http(addr).map_err(|e| {
        Error::arg(
            format!("cannot listen on {addr}: {e}"),
            "another program uses the port; pick another with --port N, or --port 0 for any free one",
        )
    })?;
    let bound = server
        .server_addr()
        .to_ip()
        .context("the server has no IP address")?;
    let url = format!("http://{bound}/");
    if p.json {
        p.json_value(&json!({
            "url": url,
            "outdir": root,
            "sources": found,
            "keys": keys.is_some(),
        }))?;
    } else {
        p.data(&url)?;
        p.info(format!(
            "serving {} on {url} (loopback only{}); open it in a browser, Ctrl-C stops",
            root.display(),
            if keys.is_some() {
                ", with its keys"
            } else {
                ", without keys: pass --keys DIR for encrypted packages"
            }
        ));
    }
    let site = Arc::new(Site { root, keys, page });
    let server = Arc::new(server);
    std::thread::scope(|s| {
        for _ in 0..WORKERS {
            let (server, site) = (Arc::clone(&server), Arc::clone(&site));
            s.spawn(move || {
                while shieldpack_core::interrupt::check().is_ok() {
                    match server.recv_timeout(Duration::from_millis(200)) {
                        Ok(Some(req)) => site.respond(req, p),
                        Ok(None) => {}
                        Err(_) => break,
                    }
                }
            });
        }
    });
    p.info("stopped");
    Ok(Status::Success)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_binds() {
        assert!(loopback_addr("127.0.0.1", 0).is_ok());
        assert!(loopback_addr("127.0.0.2", 0).is_ok());
        assert!(loopback_addr("::1", 0).is_ok());
        assert!(loopback_addr("[::1]", 0).is_ok());
        assert!(loopback_addr("localhost", 0).is_ok());
        for b in ["0.0.0.0", "::", "192.168.1.2", "example.com", ""] {
            let e = loopback_addr(b, 0).unwrap_err();
            assert!(e.to_string().contains("loopback only"), "{b}: {e}");
        }
    }

    #[test]
    fn paths_stay_inside_the_package() {
        let t = tempfile::tempdir().unwrap();
        let root = t.path().join("pkg");
        std::fs::create_dir_all(root.join("720p")).unwrap();
        std::fs::write(root.join("master.m3u8"), "#EXTM3U\n").unwrap();
        std::fs::write(t.path().join("secret.txt"), "x").unwrap();
        std::os::unix::fs::symlink(t.path().join("secret.txt"), root.join("link.txt")).unwrap();
        let keys = t.path().join("keys");
        std::fs::create_dir(&keys).unwrap();
        let kid = "00112233445566778899aabbccddeeff";
        std::fs::write(keys.join(format!("{kid}.key")), [7u8; 16]).unwrap();
        let site = Site {
            root: root.canonicalize().unwrap(),
            keys: Some(keys),
            page: "page".into(),
        };
        let local: SocketAddr = "127.0.0.1:5000".parse().unwrap();
        let far: SocketAddr = "10.0.0.1:5000".parse().unwrap();
        let code = |url: &str, peer: &SocketAddr| match site.answer(
            &Method::Get,
            url,
            Some(peer),
            Some("127.0.0.1:5000"),
        ) {
            Answer::Status(c, _) => c,
            _ => 200,
        };
        assert_eq!(code("/master.m3u8", &local), 200);
        assert_eq!(code("/../secret.txt", &local), 404);
        assert_eq!(code("/%2e%2e/secret.txt", &local), 404);
        assert_eq!(code("/720p/../../secret.txt", &local), 404);
        assert_eq!(code("/link.txt", &local), 404, "a symlink out of OUTDIR");
        assert_eq!(code(&format!("/720p/keys/{kid}.key"), &local), 200);
        assert_eq!(
            code(&format!("/720p/keys/{kid}.key"), &far),
            404,
            "keys to loopback only"
        );
        assert_eq!(code("/__shieldpack/clearkeys.json", &far), 404);
        match site.answer(
            &Method::Get,
            "/__shieldpack/clearkeys.json",
            Some(&local),
            Some("localhost:5000"),
        ) {
            Answer::Secret(b, _) => {
                let v: serde_json::Value = serde_json::from_slice(&b).unwrap();
                assert_eq!(v[kid], "07070707070707070707070707070707");
            }
            _ => panic!("no ClearKey map"),
        }
        // DNS rebinding: a loopback peer, but a page's own name as Host.
        for host in [
            Some("evil.example:5000"),
            Some("127.0.0.1.evil.example"),
            None,
        ] {
            assert!(
                matches!(
                    site.answer(
                        &Method::Get,
                        "/__shieldpack/clearkeys.json",
                        Some(&local),
                        host
                    ),
                    Answer::Status(403, _)
                ),
                "{host:?}"
            );
        }
        for host in [
            "localhost",
            "LOCALHOST:80",
            "127.0.0.1",
            "127.0.0.2:1",
            "[::1]:8080",
        ] {
            assert!(loopback_host(host), "{host}");
        }
        assert!(matches!(
            site.answer(
                &Method::Post,
                "/master.m3u8",
                Some(&local),
                Some("[::1]:5000")
            ),
            Answer::Status(405, _)
        ));
    }
}
