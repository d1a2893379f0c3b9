//! `shieldpack serve`: the loopback preview plays an encrypted package to the
//! end in chromium through its own page and vendored hls.js, hands keys out
//! from --keys, refuses any non-loopback address, and stops cleanly on Ctrl-C.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::util::*;

/// (status code, body) of a plain HTTP/1.0 GET.
fn get(addr: &str, path: &str) -> (u16, Vec<u8>) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    write!(s, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").unwrap();
    let mut all = Vec::new();
    s.read_to_end(&mut all).unwrap();
    let split = all.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let head = String::from_utf8_lossy(&all[..split]).to_string();
    let code = head.split(' ').nth(1).unwrap().parse().unwrap();
    (code, all[split + 4..].to_vec())
}

/// Sends SIGINT (what Ctrl-C sends) and waits for the exit.
fn interrupt(child: &mut Child) -> std::process::ExitStatus {
    run_ok(Command::new("kill").args(["-INT", &child.id().to_string()]));
    let start = Instant::now();
    loop {
        if let Some(st) = child.try_wait().unwrap() {
            return st;
        }
        if start.elapsed() > Duration::from_secs(30) {
            let _ = child.kill();
            panic!("serve did not stop on SIGINT");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn serve(out: &Path, keys: &Path) -> (Child, serde_json::Value) {
    let mut child = shieldpack()
        .arg("--json")
        .arg("serve")
        .arg(out)
        .arg("--keys")
        .arg(keys)
        .args(["--port", "0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.as_mut().unwrap())
        .read_line(&mut line)
        .unwrap();
    let v: serde_json::Value = serde_json::from_str(&line)
        .unwrap_or_else(|e| panic!("serve printed no JSON line ({e}): {line:?}"));
    (child, v)
}

#[test]
fn serve_plays_an_encrypted_package_in_chromium_through_its_own_page_and_stops_on_ctrl_c() {
    let t = TestDir::new();
    let keyring = new_keyring(&t);
    let out = t.join("out");
    run_ok(package_clip(&out, &keyring).args([
        "--segment-duration",
        "2",
        "--rotate-segments",
        "2",
    ]));
    let keys = t.join("keys");
    export_key_files(&keyring, &out, &keys);

    let (mut child, v) = serve(&out, &keys);
    let url = v["url"].as_str().unwrap().to_string();
    assert!(url.starts_with("http://127.0.0.1:"), "{url}");
    assert_eq!(v["sources"], serde_json::json!(["master.m3u8"]));
    let addr = url
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_string();

    // The key files answer the playlists' key URIs; nothing else leaves OUTDIR.
    let m: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("manifest.json")).unwrap()).unwrap();
    let seg = &m["renditions"][0]["segments"][0];
    let kid = seg["kid"].as_str().unwrap();
    let rendition = seg["uri"].as_str().unwrap().split('/').next().unwrap();
    let (code, body) = get(&addr, &format!("/{rendition}/keys/{kid}.key"));
    assert_eq!(code, 200);
    assert_eq!(
        body,
        std::fs::read(keys.join(format!("{kid}.key"))).unwrap()
    );
    assert_eq!(get(&addr, "/../keyring.json").0, 404);
    assert_eq!(get(&addr, "/%2e%2e/keyring.json").0, 404);
    let (code, page) = get(&addr, "/");
    assert_eq!(code, 200);
    assert!(String::from_utf8_lossy(&page).contains("/__shieldpack/hls.min.js"));

    // chromium plays it to the end with the page's own hls.js.
    let dir = repo_root().join("tests").join("browser");
    let o = run_with_timeout(
        Command::new("node")
            .arg(dir.join("page.mjs"))
            .arg(format!("{url}?rate=4"))
            .args(["--timeout-ms", "90000"])
            .current_dir(&dir),
        Duration::from_secs(180),
    );
    let text = String::from_utf8_lossy(&o.stdout);
    let r: serde_json::Value = text
        .lines()
        .rev()
        .find_map(|l| serde_json::from_str(l).ok())
        .unwrap_or_else(|| {
            panic!(
                "page.mjs printed no JSON: {text} {}",
                String::from_utf8_lossy(&o.stderr)
            )
        });
    assert!(
        r.get("launchError").is_none(),
        "chromium did not start: {r}"
    );
    assert_eq!(r["player"], "hls.js", "{r}");
    assert_eq!(r["ended"], true, "{r}");
    assert!(r["error"].is_null(), "{r}");
    assert!(r["decodedFrames"].as_u64().unwrap_or(0) >= 250, "{r}");

    // Ctrl-C ends it cleanly.
    let st = interrupt(&mut child);
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    assert_eq!(st.code(), Some(0), "{err}");
    assert!(err.contains("stopped"), "{err}");
    assert!(!err.contains(&hex::encode(
        std::fs::read(keys.join(format!("{kid}.key"))).unwrap()
    )));
    assert!(
        TcpStream::connect(&addr).is_err(),
        "still listening after Ctrl-C"
    );
}

#[test]
fn serve_refuses_to_listen_beyond_loopback() {
    let t = TestDir::new();
    let out = t.join("out");
    std::fs::create_dir(&out).unwrap();
    std::fs::write(out.join("master.m3u8"), "#EXTM3U\n").unwrap();
    for bind in ["0.0.0.0", "::", "192.0.2.1"] {
        let o = run_status(
            shieldpack()
                .arg("serve")
                .arg(&out)
                .args(["--bind", bind, "--port", "0"]),
            2,
        );
        let e = stderr(&o);
        assert!(
            e.contains(&format!("--bind {bind} is not a loopback address")),
            "{e}"
        );
        assert!(e.contains("hint:"), "{e}");
    }
    let o = run_status(shieldpack().arg("serve").arg(t.join("nowhere")), 2);
    assert!(
        stderr(&o).contains("no such package folder"),
        "{}",
        stderr(&o)
    );
}
