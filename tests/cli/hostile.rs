//! `verify` against hostile packages (issue 25, items 1-3): each test builds
//! its hostile input from a good package the test process made, and checks
//! the exit status, the defect named, what was opened (strace), memory (a
//! 256 MiB address-space limit) and that SIGTERM stops it.

use std::fs;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use rand_chacha::rand_core::{RngCore, SeedableRng};

use crate::util::*;

/// A good package, made once per test process, copied into each test's dir.
fn good() -> &'static Path {
    static GOOD: OnceLock<PathBuf> = OnceLock::new();
    GOOD.get_or_init(|| {
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("hostile-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        let keyring = dir.join("keyring.json");
        run_ok(shieldpack().args(["keys", "new", "-o"]).arg(&keyring));
        let out = dir.join("pkg");
        run_ok(package_clip(&out, &keyring).args([
            "--segment-duration",
            "2",
            "--rotate-segments",
            "2",
        ]));
        out
    })
}

fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for e in fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let dest = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &dest);
        } else {
            fs::copy(e.path(), dest).unwrap();
        }
    }
}

/// A fresh copy of the good package in `t` (canonical path, as strace shows it).
fn package_in(t: &TestDir) -> PathBuf {
    let out = t.join("pkg");
    copy_dir(good(), &out);
    out.canonicalize().unwrap()
}

const PLAYLIST: &str = "360p/index.m3u8";

fn edit(path: &Path, f: impl FnOnce(String) -> String) {
    let text = fs::read_to_string(path).unwrap();
    fs::write(path, f(text)).unwrap();
}

fn edit_manifest(pkg: &Path, f: impl FnOnce(&mut serde_json::Value)) {
    let path = pkg.join("manifest.json");
    let mut v: serde_json::Value = serde_json::from_slice(&fs::read(&path).unwrap()).unwrap();
    f(&mut v);
    fs::write(&path, serde_json::to_string_pretty(&v).unwrap()).unwrap();
}

fn verify_cmd(pkg: &Path) -> Command {
    let mut c = shieldpack();
    c.arg("--json").arg("verify").arg(pkg);
    c
}

/// Runs verify on `pkg` and asserts exit 1 with a defect containing each of `want`.
fn assert_defects(pkg: &Path, want: &[&str]) -> Vec<String> {
    let o = run_code(&mut verify_cmd(pkg), 1);
    let defects = verify_defects(&o);
    for w in want {
        assert!(
            defects.iter().any(|d| d.contains(w)),
            "no defect says {w:?}: {defects:?}"
        );
    }
    defects
}

/// Paths `cmd` opened (open/openat, successful or not) under strace -f.
fn opened_paths(t: &TestDir, cmd: &Command) -> (Output, Vec<String>) {
    let trace = t.join(format!("trace-{}.txt", rand_name()));
    let mut strace = Command::new("strace");
    strace
        .args(["-f", "-qq", "-o"])
        .arg(&trace)
        .args(["-e", "trace=open,openat", "--"]);
    let o = run(&mut under(strace, cmd));
    let text = fs::read_to_string(&trace).unwrap();
    let paths = text
        .lines()
        .filter_map(|l| {
            let rest = &l[l.find("open")?..];
            let start = rest.find('"')? + 1;
            let end = start + rest[start..].find('"')?;
            Some(rest[start..end].to_string())
        })
        .collect();
    (o, paths)
}

fn rand_name() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    N.fetch_add(1, Ordering::SeqCst)
}

/// What a process may open outside the package: the dynamic loader's cache
/// and shared libraries, libgcrypt's start-up config (FFmpeg's libraries pull
/// it in), and the kernel's /proc and /sys.
fn is_system(path: &str) -> bool {
    [
        "/etc/ld.so.cache",
        "/etc/gcrypt/",
        "/lib/",
        "/lib64/",
        "/usr/lib/",
        "/usr/lib64/",
        "/proc/",
        "/sys/",
    ]
    .iter()
    .any(|p| path.starts_with(p))
}

/// Asserts verify on `pkg` opened nothing but the package's files and system ones.
fn assert_opens_nothing_outside(t: &TestDir, pkg: &Path) -> Output {
    let (o, paths) = opened_paths(t, &verify_cmd(pkg));
    let pkg_s = format!("{}/", pkg.display());
    let outside: Vec<&String> = paths
        .iter()
        .filter(|p| !p.starts_with(&pkg_s) && !is_system(p))
        .collect();
    assert!(
        outside.is_empty(),
        "verify opened paths outside the package: {outside:?}\n{}",
        stderr(&o)
    );
    o
}

// ---------------------------------------------------------------------------
// 1. Paths outside the package

#[test]
fn verify_does_not_open_a_segment_uri_outside_the_package() {
    let t = TestDir::new();
    let pkg = package_in(&t);
    fs::write(t.join("secret.ts"), b"not yours").unwrap();
    edit(&pkg.join(PLAYLIST), |s| {
        s.replace("seg_00001.ts", "../../../../../../../../etc/passwd")
            .replace("seg_00002.ts", "/etc/shadow")
            .replace("seg_00003.ts", "../../secret.ts")
            .replace("seg_00004.ts", "http://evil.example/seg.ts")
    });
    let o = assert_opens_nothing_outside(&t, &pkg);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let defects = verify_defects(&o);
    for want in [
        "../../../../../../../../etc/passwd' has a '..' segment",
        "'/etc/shadow' is an absolute path",
        "../../secret.ts' has a '..' segment",
        "is a URL, not a file in the package",
    ] {
        assert!(
            defects.iter().any(|d| d.contains(want)),
            "{want}: {defects:?}"
        );
    }
}

#[test]
fn verify_does_not_follow_a_segment_symlinked_out_of_the_package() {
    let t = TestDir::new();
    let pkg = package_in(&t);
    let outside = t.join("outside.ts");
    fs::copy(pkg.join("360p/seg_00001.ts"), &outside).unwrap();
    fs::remove_file(pkg.join("360p/seg_00001.ts")).unwrap();
    symlink(&outside, pkg.join("360p/seg_00001.ts")).unwrap();
    fs::remove_file(pkg.join("360p/seg_00002.ts")).unwrap();
    symlink("/etc/passwd", pkg.join("360p/seg_00002.ts")).unwrap();
    let o = assert_opens_nothing_outside(&t, &pkg);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let defects = verify_defects(&o);
    for seg in ["360p/seg_00001.ts", "360p/seg_00002.ts"] {
        assert!(
            defects
                .iter()
                .any(|d| d.starts_with(seg) && d.contains("symbolic link pointing out")),
            "{seg}: {defects:?}"
        );
    }
}

#[test]
fn verify_reports_a_symlinked_rendition_folder() {
    let t = TestDir::new();
    let pkg = package_in(&t);
    let elsewhere = t.join("elsewhere");
    fs::rename(pkg.join("360p"), &elsewhere).unwrap();
    symlink(&elsewhere, pkg.join("360p")).unwrap();
    let o = assert_opens_nothing_outside(&t, &pkg);
    assert_eq!(o.status.code(), Some(1), "a symlinked rendition passed");
    let defects = verify_defects(&o);
    assert!(
        defects
            .iter()
            .any(|d| d.starts_with("360p/index.m3u8") && d.contains("symbolic link")),
        "{defects:?}"
    );
}

#[test]
fn verify_reports_a_manifest_and_policy_symlinked_out() {
    let t = TestDir::new();
    let pkg = package_in(&t);
    fs::write(
        t.join("m.json"),
        fs::read(pkg.join("manifest.json")).unwrap(),
    )
    .unwrap();
    fs::remove_file(pkg.join("manifest.json")).unwrap();
    symlink(t.join("m.json"), pkg.join("manifest.json")).unwrap();
    symlink("/etc/passwd", pkg.join("policy.json")).unwrap();
    let o = assert_opens_nothing_outside(&t, &pkg);
    assert_eq!(o.status.code(), Some(1));
    let defects = verify_defects(&o);
    for f in ["manifest.json: ", "policy.json: "] {
        assert!(
            defects
                .iter()
                .any(|d| d.starts_with(f) && d.contains("symbolic link pointing out")),
            "{f}: {defects:?}"
        );
    }
}

// ---------------------------------------------------------------------------
// 2. Memory, hangs and signals

#[test]
fn verify_does_not_block_on_a_fifo_segment() {
    let t = TestDir::new();
    let pkg = package_in(&t);
    let seg = pkg.join("360p/seg_00003.ts");
    fs::remove_file(&seg).unwrap();
    run_ok(Command::new("mkfifo").arg(&seg));
    // A blocked open would hang until the harness's deadline.
    let o = run_with_timeout(&mut verify_cmd(&pkg), Duration::from_secs(60));
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let defects = verify_defects(&o);
    assert!(
        defects
            .iter()
            .any(|d| d.starts_with("360p/seg_00003.ts") && d.contains("is a FIFO")),
        "{defects:?}"
    );
}

/// `cmd` under a 256 MiB address-space limit (what it cannot map, it cannot use).
fn limited(cmd: &Command) -> Command {
    let mut p = Command::new("prlimit");
    p.args(["--as=268435456", "--"]);
    under(p, cmd)
}

#[test]
fn verify_stays_small_on_a_manifest_linked_to_dev_zero() {
    let t = TestDir::new();
    let pkg = package_in(&t);
    fs::remove_file(pkg.join("manifest.json")).unwrap();
    symlink("/dev/zero", pkg.join("manifest.json")).unwrap();
    fs::remove_file(pkg.join(PLAYLIST)).unwrap();
    symlink("/dev/urandom", pkg.join(PLAYLIST)).unwrap();
    let o = run_with_timeout(&mut limited(&verify_cmd(&pkg)), Duration::from_secs(60));
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let defects = verify_defects(&o);
    assert!(
        defects.iter().any(|d| d.starts_with("manifest.json: ")),
        "{defects:?}"
    );
    assert!(
        defects.iter().any(|d| d.starts_with(PLAYLIST)),
        "{defects:?}"
    );
    assert_opens_nothing_outside(&t, &pkg);
}

#[test]
fn verify_stays_small_on_huge_sparse_files() {
    let t = TestDir::new();
    let pkg = package_in(&t);
    // Regular files of 8 GiB that take no disk: a manifest, a playlist, a segment.
    for f in ["manifest.json", PLAYLIST, "360p/seg_00000.ts"] {
        run_ok(Command::new("truncate").args(["-s", "8G"]).arg(pkg.join(f)));
    }
    let o = run_with_timeout(&mut limited(&verify_cmd(&pkg)), Duration::from_secs(60));
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let defects = verify_defects(&o);
    for f in ["manifest.json: ", "360p/index.m3u8: "] {
        assert!(
            defects
                .iter()
                .any(|d| d.starts_with(f) && d.contains("is larger than")),
            "{f}: {defects:?}"
        );
    }
}

/// A media playlist of `n` entries, all naming `uri`.
fn long_playlist(n: usize, uri: &str) -> String {
    let mut s = String::from(
        "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:2\n#EXT-X-MEDIA-SEQUENCE:0\n#EXT-X-PLAYLIST-TYPE:VOD\n",
    );
    for _ in 0..n {
        s.push_str("#EXTINF:2.000,\n");
        s.push_str(uri);
        s.push('\n');
    }
    s.push_str("#EXT-X-ENDLIST\n");
    s
}

#[test]
fn verify_rejects_a_500000_entry_playlist_quickly() {
    let t = TestDir::new();
    let pkg = package_in(&t);
    fs::write(pkg.join(PLAYLIST), long_playlist(500_000, "seg_00000.ts")).unwrap();
    // The deadline is the bound: it took over a minute before the cap.
    let o = run_with_timeout(&mut limited(&verify_cmd(&pkg)), Duration::from_secs(30));
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let defects = verify_defects(&o);
    assert!(
        defects.iter().any(|d| d.starts_with(PLAYLIST)
            && d.contains("lists 500000 segments, more than the 100000")),
        "{defects:?}"
    );
}

/// Starts `cmd`, sends SIGTERM after a second, and returns its exit code and
/// how long it took to end after the signal.
fn sigterm_after_a_second(cmd: &mut Command) -> (Option<i32>, Duration, String) {
    let mut child = cmd
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_secs(1));
    assert!(
        child.try_wait().unwrap().is_none(),
        "it ended before the signal: nothing was tested"
    );
    run_ok(Command::new("kill").args(["-TERM", &child.id().to_string()]));
    let sent = Instant::now();
    loop {
        if let Some(s) = child.try_wait().unwrap() {
            let mut err = String::new();
            use std::io::Read;
            let _ = child.stderr.take().unwrap().read_to_string(&mut err);
            return (s.code(), sent.elapsed(), err);
        }
        if sent.elapsed() > Duration::from_secs(30) {
            let _ = child.kill();
            let _ = child.wait();
            panic!("still running 30 s after SIGTERM");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn verify_exits_130_soon_after_sigterm_on_a_long_playlist() {
    let t = TestDir::new();
    let pkg = package_in(&t);
    // The cap's worth of entries, each the same real segment, hashed every time:
    // minutes of work.
    fs::write(
        pkg.join(PLAYLIST),
        long_playlist(MAX_ENTRIES, "seg_00000.ts"),
    )
    .unwrap();
    let (code, after, err) = sigterm_after_a_second(&mut verify_cmd(&pkg));
    assert_eq!(code, Some(130), "{err}");
    assert!(
        after < Duration::from_secs(5),
        "took {after:?} after SIGTERM"
    );
    assert!(err.contains("interrupted"), "{err}");
}

/// verify's cap on one playlist's entries (README, Threat model).
const MAX_ENTRIES: usize = 100_000;

#[test]
fn policy_check_of_100000_scenes_ends_and_is_right() {
    let t = TestDir::new();
    let scenes: Vec<String> = (0..100_000)
        .map(|i| {
            format!(
                r#"{{"label":"s{i}","start":{i},"end":{},"drm_level":"L3","hdcp":false}}"#,
                i + 1
            )
        })
        .collect();
    // On one line: columns were counted from the line's start each time.
    let policy = t.join("p.json");
    fs::write(&policy, format!(r#"{{"scenes":[{}]}}"#, scenes.join(","))).unwrap();
    // The deadline is the bound: this took 141 s before.
    let o = run_with_timeout(
        t.cmd().args(["policy", "check"]).arg(&policy),
        Duration::from_secs(60),
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(stderr(&o).contains("100000 scene(s)"), "{}", stderr(&o));
}

// ---------------------------------------------------------------------------
// 3. Tampered fields

fn first_segment(v: &mut serde_json::Value) -> &mut serde_json::Value {
    &mut v["renditions"][0]["segments"][0]
}

#[test]
fn verify_names_a_kid_that_is_not_hex() {
    let t = TestDir::new();
    let pkg = package_in(&t);
    edit_manifest(&pkg, |v| first_segment(v)["kid"] = "zz".into());
    assert_defects(
        &pkg,
        &["manifest.json: renditions[0].segments[0].kid: 'zz' is not 32 hex digits"],
    );
}

#[test]
fn verify_names_a_period_of_2_pow_63_and_a_sequence_of_2_pow_64_minus_1() {
    let t = TestDir::new();
    let pkg = package_in(&t);
    edit_manifest(&pkg, |v| {
        first_segment(v)["period"] = (1u64 << 63).into();
        first_segment(v)["sequence"] = u64::MAX.into();
        first_segment(v)["duration"] = 1e300.into();
        first_segment(v)["size"] = u64::MAX.into();
    });
    edit(&pkg.join(PLAYLIST), |s| {
        s.replace(
            "#EXT-X-MEDIA-SEQUENCE:0",
            "#EXT-X-MEDIA-SEQUENCE:18446744073709551615",
        )
    });
    assert_defects(
        &pkg,
        &[
            "renditions[0].segments[0].period: 9223372036854775808 is not below 2^32",
            "renditions[0].segments[0].sequence: 18446744073709551615 is not below 2^32",
            "renditions[0].segments[0].duration: ",
            "renditions[0].segments[0].size: ",
            "360p/index.m3u8: EXT-X-MEDIA-SEQUENCE 18446744073709551615 is not sane",
        ],
    );
}

#[test]
fn verify_reports_a_10000_deep_array_in_the_manifest_as_a_defect() {
    let t = TestDir::new();
    let pkg = package_in(&t);
    edit(&pkg.join("manifest.json"), |s| {
        let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
        s.replacen('{', &format!("{{\"x\": {deep},"), 1)
    });
    assert_defects(
        &pkg,
        &["manifest.json: invalid manifest: JSON nested 10001 deep, more than 32"],
    );
}

#[test]
fn verify_reports_key_uris_that_are_not_the_manifest_template() {
    let t = TestDir::new();
    let pkg = package_in(&t);
    let text = fs::read_to_string(pkg.join(PLAYLIST)).unwrap();
    let uris: Vec<&str> = text
        .lines()
        .filter_map(|l| l.split("URI=\"").nth(1)?.split('"').next())
        .collect();
    assert!(uris.len() >= 3, "{text}");
    let hostile = text
        .replacen(uris[0], "../../../../etc/passwd", 1)
        .replacen(uris[1], "http://evil.example/k.key", 1)
        .replacen(uris[2], "/etc/shadow", 1);
    fs::write(pkg.join(PLAYLIST), hostile).unwrap();
    let defects = assert_defects(
        &pkg,
        &[
            "EXT-X-KEY URI '../../../../etc/passwd' is not the manifest's key_uri_template",
            "EXT-X-KEY URI 'http://evil.example/k.key' is not",
            "EXT-X-KEY URI '/etc/shadow' is not",
        ],
    );
    assert!(defects.iter().all(|d| !d.contains("panicked")));
    assert_opens_nothing_outside(&t, &pkg);
}

// ---------------------------------------------------------------------------
// Property test: random mutations never make verify fail badly

/// One random change to `text`: a byte flipped, a line deleted or doubled,
/// a number replaced by an extreme, or a path sent out of the package.
fn mutate(rng: &mut impl RngCore, text: &str) -> String {
    let pick = |rng: &mut dyn RngCore, n: usize| (rng.next_u32() as usize) % n.max(1);
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    match pick(rng, 5) {
        0 => {
            let mut b = text.as_bytes().to_vec();
            if !b.is_empty() {
                let i = pick(rng, b.len());
                b[i] ^= 1 << pick(rng, 8);
            }
            return String::from_utf8_lossy(&b).into_owned();
        }
        1 => {
            let i = pick(rng, lines.len());
            if i < lines.len() {
                lines.remove(i);
            }
        }
        2 => {
            let i = pick(rng, lines.len());
            if let Some(l) = lines.get(i).cloned() {
                lines.insert(i, l);
            }
        }
        3 => {
            const EXTREMES: [&str; 8] = [
                "0",
                "-1",
                "4294967296",
                "9223372036854775808",
                "18446744073709551615",
                "1e308",
                "99999999999999999999999",
                "NaN",
            ];
            let i = pick(rng, lines.len());
            if let Some(l) = lines.get_mut(i) {
                if let Some(start) = l.find(|c: char| c.is_ascii_digit()) {
                    let end = l[start..]
                        .find(|c: char| !c.is_ascii_digit() && c != '.')
                        .map_or(l.len(), |e| start + e);
                    l.replace_range(start..end, EXTREMES[pick(rng, EXTREMES.len())]);
                }
            }
        }
        _ => {
            const OUT: [&str; 5] = [
                "../../../../etc/passwd",
                "/etc/passwd",
                "../outside.ts",
                "/dev/zero",
                "http://evil.example/x",
            ];
            let with = OUT[pick(rng, OUT.len())];
            let i = pick(rng, lines.len());
            if let Some(l) = lines.get_mut(i) {
                for name in ["seg_0000", "index.m3u8", "360p/", "keys/"] {
                    if let Some(at) = l.find(name) {
                        let end = l[at..].find(['"', ',']).map_or(l.len(), |e| at + e);
                        l.replace_range(at..end, with);
                        break;
                    }
                }
            }
        }
    }
    lines.join("\n") + "\n"
}

#[test]
fn verify_survives_random_mutations_of_a_good_package() {
    const CASES: u64 = 200;
    const TRACED: u64 = 20;
    let seed: u64 = std::env::var("SHIELDPACK_PROPTEST_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x5eed_2025);
    let t = TestDir::new();
    let pkg = package_in(&t);
    fs::write(t.join("outside.ts"), b"outside").unwrap();
    let files = ["manifest.json", "master.m3u8", PLAYLIST];
    let originals: Vec<String> = files
        .iter()
        .map(|f| fs::read_to_string(pkg.join(f)).unwrap())
        .collect();
    for case in 0..CASES {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed.wrapping_add(case));
        for (f, orig) in files.iter().zip(&originals) {
            fs::write(pkg.join(f), orig).unwrap();
        }
        let mut changed = Vec::new();
        for _ in 0..1 + rng.next_u32() % 3 {
            let i = (rng.next_u32() as usize) % files.len();
            let path = pkg.join(files[i]);
            let text = String::from_utf8_lossy(&fs::read(&path).unwrap()).into_owned();
            fs::write(&path, mutate(&mut rng, &text)).unwrap();
            changed.push(files[i]);
        }
        let why = format!(
            "case {case} (seed {seed}: SHIELDPACK_PROPTEST_SEED={seed} reruns it) changed {changed:?}"
        );
        let o = if case < TRACED {
            let (o, paths) = opened_paths(&t, &verify_cmd(&pkg));
            let pkg_s = format!("{}/", pkg.display());
            let outside: Vec<&String> = paths
                .iter()
                .filter(|p| !p.starts_with(&pkg_s) && !is_system(p))
                .collect();
            assert!(outside.is_empty(), "{why}: opened {outside:?}");
            o
        } else {
            run_with_timeout(&mut verify_cmd(&pkg), Duration::from_secs(60))
        };
        let err = stderr(&o);
        assert!(
            matches!(o.status.code(), Some(0) | Some(1)),
            "{why}: exit {:?}\n{err}",
            o.status
        );
        assert!(!err.contains("panicked"), "{why}: {err}");
        // The JSON report is always whole.
        let _ = stdout_json(&o);
    }
}
