//! Key distribution: age wrap/unwrap against the age CLI, keyring re-wrap,
//! export formats cross-checked against the key files (and FFmpeg, openssl),
//! rotation, revocation, verify's key checks and rekey.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use base64::Engine;

use crate::util::*;

const CLIP_FRAMES: u64 = 288;

/// An age X25519 identity made by age-keygen: (identity file, recipient).
fn age_identity(t: &TestDir, name: &str) -> (PathBuf, String) {
    let id = t.join(name);
    run_ok(Command::new("age-keygen").arg("-o").arg(&id));
    let public = String::from_utf8(run_ok(Command::new("age-keygen").arg("-y").arg(&id)).stdout)
        .unwrap()
        .trim()
        .to_string();
    (id, public)
}

/// An unencrypted OpenSSH key pair: (private key file, public key line).
fn ssh_identity(t: &TestDir, name: &str, kind: &str) -> (PathBuf, String) {
    let id = t.join(name);
    let mut c = Command::new("ssh-keygen");
    c.args(["-q", "-t", kind, "-N", "", "-C", "test", "-f"])
        .arg(&id);
    if kind == "rsa" {
        c.args(["-b", "2048"]);
    }
    run_ok(&mut c);
    let public = std::fs::read_to_string(format!("{}.pub", id.display())).unwrap();
    (id, public.trim().to_string())
}

fn is_ts(b: &[u8]) -> bool {
    !b.is_empty() && b.len().is_multiple_of(188) && b.chunks(188).all(|p| p[0] == 0x47)
}

/// Exit 2 with a message containing `what` and a `hint:` line.
fn assert_clear_error(o: &std::process::Output, what: &str) {
    let e = stderr(o);
    assert_eq!(o.status.code(), Some(2), "{e}");
    assert!(e.contains(what), "expected '{what}' in:\n{e}");
    assert!(e.contains("\n\nhint: "), "no hint line in:\n{e}");
    assert!(!e.contains("panicked"), "{e}");
}

fn payload(t: &TestDir) -> (PathBuf, Vec<u8>) {
    // Binary, with every byte value, longer than one 64 KiB age chunk.
    let data: Vec<u8> = (0..200_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let f = t.join("payload.bin");
    std::fs::write(&f, &data).unwrap();
    (f, data)
}

fn round_trip_with_age_cli(id: &Path, recipient: &str, armor: bool) {
    let t = TestDir::new();
    let (plain, data) = payload(&t);
    // Ours -> age.
    let ours = t.join("ours.age");
    let mut c = shieldpack();
    c.args(["keys", "wrap", "-r", recipient, "-o"])
        .arg(&ours)
        .arg(&plain);
    if armor {
        c.arg("--armor");
    }
    run_ok(&mut c);
    let head = std::fs::read(&ours).unwrap();
    if armor {
        assert!(head.starts_with(b"-----BEGIN AGE ENCRYPTED FILE-----"));
    } else {
        assert!(head.starts_with(b"age-encryption.org/v1\n"));
    }
    let o = run_ok(Command::new("age").arg("-d").arg("-i").arg(id).arg(&ours));
    assert!(o.stdout == data, "age -d gave other bytes");
    // age -> ours (armor detected without a flag).
    let theirs = t.join("theirs.age");
    let mut c = Command::new("age");
    c.args(["-r", recipient, "-o"]).arg(&theirs);
    if armor {
        c.arg("-a");
    }
    run_ok(c.arg(&plain));
    let back = t.join("back.bin");
    run_ok(
        shieldpack()
            .args(["keys", "unwrap", "-i"])
            .arg(id)
            .arg("-o")
            .arg(&back)
            .arg(&theirs),
    );
    assert!(std::fs::read(&back).unwrap() == data);
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&back).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "plaintext output is private");
}

#[test]
fn age_cli_round_trips_x25519_both_ways_binary_and_armored() {
    let t = TestDir::new();
    let (id, r) = age_identity(&t, "id.txt");
    round_trip_with_age_cli(&id, &r, false);
    round_trip_with_age_cli(&id, &r, true);
}

#[test]
fn age_cli_round_trips_ssh_ed25519_and_rsa_both_ways() {
    let t = TestDir::new();
    let (id, r) = ssh_identity(&t, "id_ed25519", "ed25519");
    assert!(r.starts_with("ssh-ed25519 "));
    round_trip_with_age_cli(&id, &r, false);
    round_trip_with_age_cli(&id, &r, true);
    let (id, r) = ssh_identity(&t, "id_rsa", "rsa");
    round_trip_with_age_cli(&id, &r, true);
}

#[test]
fn stdin_to_stdout_and_recipients_files_pipe_through() {
    let t = TestDir::new();
    let (id1, r1) = age_identity(&t, "a.txt");
    let (id2, r2) = ssh_identity(&t, "b", "ed25519");
    let rf = t.join("recipients.txt");
    std::fs::write(&rf, format!("# team\n{r1}\n\n{r2}\n")).unwrap();
    let (_, data) = payload(&t);
    let mut child = shieldpack()
        .args(["keys", "wrap", "-R"])
        .arg(&rf)
        .args(["-o", "-", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let d2 = data.clone();
    let writer = std::thread::spawn(move || {
        use std::io::Write;
        stdin.write_all(&d2).unwrap();
    });
    let o = child.wait_with_output().unwrap();
    writer.join().unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let enc = t.join("piped.age");
    std::fs::write(&enc, &o.stdout).unwrap();
    for id in [&id1, &id2] {
        let got = run_ok(Command::new("age").arg("-d").arg("-i").arg(id).arg(&enc));
        assert!(got.stdout == data);
        let ours = run_ok(
            shieldpack()
                .args(["keys", "unwrap", "-i"])
                .arg(id)
                .arg("-")
                .stdin(std::fs::File::open(&enc).unwrap()),
        );
        assert!(ours.stdout == data);
    }
}

#[test]
fn passphrase_round_trip_through_the_environment() {
    let t = TestDir::new();
    let (plain, data) = payload(&t);
    let enc = t.join("p.age");
    run_ok(
        shieldpack()
            .args(["keys", "wrap", "-p", "-a", "-o"])
            .arg(&enc)
            .arg(&plain)
            .env("SHIELDPACK_PASSPHRASE", "correct horse battery staple"),
    );
    let text = std::fs::read_to_string(&enc).unwrap();
    assert!(text.starts_with("-----BEGIN AGE ENCRYPTED FILE-----"));
    let o = run_ok(
        shieldpack()
            .args(["keys", "unwrap"])
            .arg(&enc)
            .env("SHIELDPACK_PASSPHRASE", "correct horse battery staple"),
    );
    assert!(o.stdout == data);
    let o = run_code(
        shieldpack()
            .args(["keys", "unwrap"])
            .arg(&enc)
            .env("SHIELDPACK_PASSPHRASE", "wrong"),
        2,
    );
    assert_clear_error(&o, "the passphrase does not decrypt it");
    // No passphrase and no terminal: a clear error, not a hang.
    let mut c = shieldpack();
    c.args(["keys", "unwrap"])
        .arg(&enc)
        .stdin(Stdio::null())
        .env_remove("SHIELDPACK_PASSPHRASE");
    let o = run_code(detach_from_terminal(&mut c), 2);
    assert_clear_error(&o, "cannot read a passphrase");
}

/// Runs the command in a new session, without a controlling terminal, so a
/// passphrase prompt cannot open /dev/tty even when the tests run at one.
fn detach_from_terminal(c: &mut Command) -> &mut Command {
    use std::os::unix::process::CommandExt;
    extern "C" {
        fn setsid() -> i32;
    }
    // SAFETY: setsid is async-signal-safe; it only fails if already a leader.
    unsafe {
        c.pre_exec(|| {
            setsid();
            Ok(())
        })
    }
}

struct Pkg {
    t: TestDir,
    keyring: PathBuf,
    id: PathBuf,
    out: PathBuf,
}

/// The fixture packaged with 2 s segments and a key every 2 segments (periods
/// 0, 1, 2), with a keyring wrapped to an age-keygen identity kept apart, so
/// that commands without -i cannot open it.
fn package(extra: &[&str]) -> Pkg {
    let t = TestDir::new();
    let (id, r) = age_identity(&t, "id.txt");
    let keyring = t.join("keyring.json");
    run_ok(
        shieldpack()
            .args(["keys", "new", "-o"])
            .arg(&keyring)
            .args(["-r", &r]),
    );
    let out = t.join("out");
    run_ok(
        package_clip(&out, &keyring)
            .arg("-i")
            .arg(&id)
            .args(["--segment-duration", "2", "--rotate-segments", "2"])
            .args(["--content-id", "film"])
            .args(extra),
    );
    Pkg {
        t,
        keyring,
        id,
        out,
    }
}

fn manifest(out: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(out.join("manifest.json")).unwrap()).unwrap()
}

fn export(p: &Pkg, format: &str, out: &Path, extra: &[&str]) -> std::process::Output {
    run_ok(
        shieldpack()
            .args(["keys", "export"])
            .arg(&p.keyring)
            .arg("-i")
            .arg(&p.id)
            .arg("--package")
            .arg(&p.out)
            .args(["--format", format, "-o"])
            .arg(out)
            .args(extra),
    )
}

/// `rekey` of the package with its keyring and identity; callers add flags.
fn rekey(p: &Pkg) -> Command {
    let mut c = shieldpack();
    c.arg("rekey")
        .arg(&p.out)
        .arg("--keyring")
        .arg(&p.keyring)
        .arg("-i")
        .arg(&p.id);
    c
}

/// `keys rotate` of the test content from `period` on (rotation needs no identity).
fn rotate_from(p: &Pkg, period: &str) {
    run_ok(shieldpack().args(["keys", "rotate"]).arg(&p.keyring).args([
        "--content-id",
        "film",
        "--from-period",
        period,
    ]));
}

/// kid hex -> key bytes, from a key-files export.
fn key_files(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "key"))
        .map(|p| {
            (
                p.file_stem().unwrap().to_string_lossy().into_owned(),
                std::fs::read(&p).unwrap(),
            )
        })
        .collect()
}

fn verify(p: &Pkg, with_id: bool) -> std::process::Output {
    let mut c = shieldpack();
    c.args(["--json", "verify"])
        .arg(&p.out)
        .arg("--keyring")
        .arg(&p.keyring);
    if with_id {
        c.arg("-i").arg(&p.id);
    }
    c.output().unwrap()
}

#[test]
fn a_keyring_for_two_recipients_opens_with_either_and_rewraps_to_a_new_set() {
    let p = package(&[]);
    let (ssh_id, ssh_r) = ssh_identity(&p.t, "ops", "ed25519");
    let r1 =
        String::from_utf8(run_ok(Command::new("age-keygen").arg("-y").arg(&p.id)).stdout).unwrap();
    let k2 = p.t.join("two.json");
    run_ok(
        shieldpack()
            .args(["keys", "new", "-o"])
            .arg(&k2)
            .args(["-r", r1.trim(), "-r", &ssh_r]),
    );
    for id in [&p.id, &ssh_id] {
        run_ok(
            shieldpack()
                .args(["keys", "show", "--reveal"])
                .arg(&k2)
                .arg("-i")
                .arg(id),
        );
    }

    // Re-wrap the packaging keyring to a new set: the SSH key and a new age key.
    let fp_before = stdout_json(&run_ok(
        shieldpack()
            .args(["--json", "keys", "show"])
            .arg(&p.keyring),
    ))["fingerprint"]
        .clone();
    let (new_id, new_r) = age_identity(&p.t, "new.txt");
    let rf = p.t.join("new-recipients.txt");
    std::fs::write(&rf, format!("{new_r}\n")).unwrap();
    run_ok(
        shieldpack()
            .args(["keys", "rewrap"])
            .arg(&p.keyring)
            .arg("-i")
            .arg(&p.id)
            .args(["-r", &ssh_r, "-R"])
            .arg(&rf),
    );
    let shown = stdout_json(&run_ok(
        shieldpack()
            .args(["--json", "keys", "show"])
            .arg(&p.keyring),
    ));
    assert_eq!(
        shown["fingerprint"], fp_before,
        "same master, same fingerprint"
    );
    assert_eq!(shown["recipients"].as_array().unwrap().len(), 2);
    // The old identity no longer opens it; both new ones do, and the package verifies.
    let o = verify(&p, true);
    assert_clear_error(&o, "none of the identities given can open this keyring");
    for id in [&new_id, &ssh_id] {
        let o = run_ok(
            shieldpack()
                .args(["--json", "verify"])
                .arg(&p.out)
                .arg("--keyring")
                .arg(&p.keyring)
                .arg("-i")
                .arg(id),
        );
        assert_eq!(stdout_json(&o)["segments_decrypted"], 6);
    }
    // The age CLI opens the new wrapping too.
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&p.keyring).unwrap()).unwrap();
    let m = p.t.join("master.age");
    std::fs::write(&m, v["master"].as_str().unwrap()).unwrap();
    let o = run_ok(Command::new("age").arg("-d").arg("-i").arg(&ssh_id).arg(&m));
    assert_eq!(o.stdout.len(), 32);
}

#[test]
fn every_export_format_agrees_with_the_key_files() {
    let p = package(&[]);
    let kf = p.t.join("kf");
    export(&p, "key-files", &kf, &[]);
    let keys = key_files(&kf);
    assert_eq!(keys.len(), 3);
    let m = manifest(&p.out);
    let period_of: BTreeMap<String, u64> = m["renditions"][0]["segments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["kid"].as_str().unwrap().to_string(),
                s["period"].as_u64().unwrap(),
            )
        })
        .collect();

    // CPIX 2.3.
    let cpix = p.t.join("keys.cpix.xml");
    export(&p, "cpix", &cpix, &[]);
    let text = std::fs::read_to_string(&cpix).unwrap();
    let doc = roxmltree::Document::parse(&text).expect("CPIX is well-formed XML");
    const NS: &str = "urn:dashif:org:cpix";
    const PSKC: &str = "urn:ietf:params:xml:ns:keyprov:pskc";
    let root = doc.root_element();
    assert_eq!(root.tag_name().namespace(), Some(NS));
    assert_eq!(root.tag_name().name(), "CPIX");
    assert_eq!(root.attribute("contentId"), Some("film"));
    let named = |n: roxmltree::Node, name: &str| n.has_tag_name((NS, name));
    let mut from_cpix = BTreeMap::new();
    for ck in root.descendants().filter(|n| named(*n, "ContentKey")) {
        let uuid = ck.attribute("kid").unwrap();
        assert_eq!(uuid.len(), 36, "KID as a UUID string: {uuid}");
        let value = ck
            .descendants()
            .find(|n| n.has_tag_name((PSKC, "PlainValue")))
            .unwrap()
            .text()
            .unwrap();
        assert_eq!(
            ck.descendants()
                .find(|n| n.has_tag_name((PSKC, "Secret")))
                .unwrap()
                .parent()
                .map(|d| named(d, "Data")),
            Some(true)
        );
        let key = base64::engine::general_purpose::STANDARD
            .decode(value.trim())
            .unwrap();
        from_cpix.insert(uuid.replace('-', ""), key);
    }
    assert_eq!(from_cpix, keys);
    let periods: BTreeMap<String, u64> = root
        .descendants()
        .filter(|n| named(*n, "ContentKeyPeriod"))
        .map(|n| {
            (
                n.attribute("id").unwrap().to_string(),
                n.attribute("index").unwrap().parse().unwrap(),
            )
        })
        .collect();
    assert_eq!(periods.len(), 3);
    assert!(root.descendants().any(|n| named(n, "ContentKeyPeriodList")));
    let rules: Vec<_> = root
        .descendants()
        .filter(|n| named(*n, "ContentKeyUsageRule"))
        .collect();
    assert_eq!(rules.len(), 3);
    for r in rules {
        let kid = r.attribute("kid").unwrap().replace('-', "");
        let filter = r.children().find(|n| named(*n, "KeyPeriodFilter")).unwrap();
        let period_id = filter.attribute("periodId").unwrap();
        assert_eq!(periods[period_id], period_of[&kid], "rule of {kid}");
    }

    // W3C Clear Key.
    let ck = p.t.join("clearkey.json");
    export(&p, "clearkey", &ck, &[]);
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&ck).unwrap()).unwrap();
    assert_eq!(v["type"], "temporary");
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let from_ck: BTreeMap<String, Vec<u8>> = v["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| {
            assert_eq!(k["kty"], "oct");
            let (kid, key) = (k["kid"].as_str().unwrap(), k["k"].as_str().unwrap());
            assert!(!kid.contains('=') && !key.contains('=') && !key.contains('+'));
            (
                hex::encode(b64.decode(kid).unwrap()),
                b64.decode(key).unwrap(),
            )
        })
        .collect();
    assert_eq!(from_ck, keys);

    // Shaka Packager, on stdout with -o -.
    let o = export(&p, "shaka", Path::new("-"), &[]);
    let s = String::from_utf8(o.stdout).unwrap();
    let from_shaka: BTreeMap<String, Vec<u8>> = s
        .trim()
        .split(',')
        .map(|entry| {
            let f: BTreeMap<&str, &str> = entry
                .split(':')
                .map(|kv| kv.split_once('=').unwrap())
                .collect();
            assert!(f["label"].starts_with("period"));
            (f["key_id"].to_string(), hex::decode(f["key"]).unwrap())
        })
        .collect();
    assert_eq!(from_shaka, keys);

    // --periods selects.
    let one = p.t.join("one.json");
    export(&p, "clearkey", &one, &["--periods", "1..2"]);
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&one).unwrap()).unwrap();
    assert_eq!(v["keys"].as_array().unwrap().len(), 2);
}

#[test]
fn ffmpeg_encrypts_with_our_keyinfo_and_our_key_file_decrypts_it() {
    let p = package(&[]);
    let dir = p.t.join("keyinfo");
    export(&p, "ffmpeg-keyinfo", &dir, &[]);
    let keys = key_files(&dir);
    assert_eq!(keys.len(), 3, "the key files sit beside the keyinfo files");
    let m = manifest(&p.out);
    let kid0 = m["renditions"][0]["segments"][0]["kid"].as_str().unwrap();
    let info = std::fs::read_to_string(dir.join("period-0.keyinfo")).unwrap();
    let lines: Vec<&str> = info.lines().collect();
    assert_eq!(lines[0], format!("keys/{kid0}.key"));
    assert!(Path::new(lines[1]).is_absolute() && lines[1].ends_with(&format!("{kid0}.key")));
    let ff = p.t.join("ff");
    std::fs::create_dir(&ff).unwrap();
    run_ok(
        Command::new("ffmpeg")
            .args(["-v", "error", "-nostdin", "-i"])
            .arg(fixture("clip.mp4"))
            .args([
                "-c",
                "copy",
                "-f",
                "hls",
                "-hls_time",
                "2",
                "-hls_key_info_file",
            ])
            .arg(dir.join("period-0.keyinfo"))
            .arg("-hls_segment_filename")
            .arg(ff.join("s%d.ts"))
            .arg(ff.join("ff.m3u8")),
    );
    let playlist = std::fs::read_to_string(ff.join("ff.m3u8")).unwrap();
    assert!(
        playlist.contains(&format!("URI=\"keys/{kid0}.key\"")),
        "{playlist}"
    );
    for (seq, name) in ["s0.ts", "s1.ts"].iter().enumerate() {
        let iv = format!("{seq:032x}");
        let plain = openssl_decrypt(ff.join(name), &hex::encode(&keys[kid0]), &iv)
            .expect("openssl decrypts FFmpeg's segment with our key file");
        assert!(is_ts(&plain), "{name} decrypts to MPEG-TS");
    }
}

#[test]
fn age_wrapped_exports_open_with_the_age_cli_and_leave_no_plaintext_key() {
    let p = package(&[]);
    let kf = p.t.join("kf");
    export(&p, "key-files", &kf, &[]);
    let keys = key_files(&kf);
    let (team_id, team_r) = age_identity(&p.t, "team.txt");
    let wrapped = p.t.join("wrapped");
    export(&p, "key-files", &wrapped, &["-r", &team_r]);
    let files: Vec<PathBuf> = files_under(&wrapped);
    assert_eq!(files.len(), 3);
    for f in files {
        let name = f.file_name().unwrap().to_string_lossy().into_owned();
        let kid = name.strip_suffix(".key.age").expect("<kid>.key.age");
        let o = run_ok(
            Command::new("age")
                .arg("-d")
                .arg("-i")
                .arg(&team_id)
                .arg(&f),
        );
        assert_eq!(o.stdout, keys[kid]);
    }
    let plain_cpix = p.t.join("plain.xml");
    export(&p, "cpix", &plain_cpix, &[]);
    let enc = p.t.join("cpix.age");
    export(&p, "cpix", &enc, &["-r", &team_r, "--armor"]);
    let text = std::fs::read_to_string(&enc).unwrap();
    assert!(text.starts_with("-----BEGIN AGE ENCRYPTED FILE-----"));
    let o = run_ok(
        Command::new("age")
            .arg("-d")
            .arg("-i")
            .arg(&team_id)
            .arg(&enc),
    );
    assert_eq!(o.stdout, std::fs::read(&plain_cpix).unwrap());
}

/// (uri, bytes) of every segment.
fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}

fn segments(out: &Path) -> Vec<(String, u64, Vec<u8>)> {
    let m = manifest(out);
    m["renditions"][0]["segments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            let uri = s["uri"].as_str().unwrap().to_string();
            let bytes = std::fs::read(out.join(&uri)).unwrap();
            (uri, s["period"].as_u64().unwrap(), bytes)
        })
        .collect()
}

#[test]
fn rotate_then_rekey_moves_periods_on_to_new_keys_and_leaves_the_rest_alone() {
    let p = package(&[]);
    let old_keys_dir = p.t.join("old-keys");
    export(&p, "key-files", &old_keys_dir, &[]);
    let old_keys = key_files(&old_keys_dir);
    let before = segments(&p.out);
    let m_before = manifest(&p.out);
    // Without an identity, verify checks generations only: all current.
    let o = verify(&p, false);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(stderr(&o).contains("checking key generations and revocations only"));

    // Rotation needs no identity.
    rotate_from(&p, "1");
    let o = verify(&p, false);
    assert_eq!(o.status.code(), Some(1), "verify flags out-of-date keys");
    let d = verify_defects(&o);
    assert_eq!(d.len(), 4, "{d:?}");
    assert!(
        d.iter().all(|x| x.contains("generation 1 is current")),
        "{d:?}"
    );

    let o = run_ok(
        shieldpack()
            .args(["--json", "rekey"])
            .arg(&p.out)
            .arg("--keyring")
            .arg(&p.keyring)
            .arg("-i")
            .arg(&p.id),
    );
    let r = stdout_json(&o);
    assert_eq!(r["rekeyed"], 4);
    assert_eq!(r["untouched"], 2);
    assert!(
        !p.t.path().read_dir().unwrap().any(|e| e
            .unwrap()
            .file_name()
            .to_string_lossy()
            .starts_with(".out")),
        "no staging folder is left behind"
    );

    let o = verify(&p, false);
    assert_eq!(o.status.code(), Some(0), "{:?}", verify_defects(&o));
    let o = verify(&p, true);
    assert_eq!(o.status.code(), Some(0), "{:?}", verify_defects(&o));
    assert_eq!(stdout_json(&o)["video_frames"], CLIP_FRAMES);

    let new_keys_dir = p.t.join("new-keys");
    export(&p, "key-files", &new_keys_dir, &[]);
    let new_keys = key_files(&new_keys_dir);
    let m = manifest(&p.out);
    let after = segments(&p.out);
    for (i, ((uri, period, old), (_, _, new))) in before.iter().zip(&after).enumerate() {
        let rec = &m["renditions"][0]["segments"][i];
        let rec_before = &m_before["renditions"][0]["segments"][i];
        let iv = format!("{i:032x}");
        let seg = p.out.join(uri);
        if *period == 0 {
            assert!(old == new, "{uri}: untouched segments stay byte-identical");
            assert_eq!(rec, rec_before);
            continue;
        }
        assert!(old != new, "{uri} was re-encrypted");
        assert_eq!(old.len(), new.len());
        assert_eq!(rec["generation"], 1);
        let new_kid = rec["kid"].as_str().unwrap();
        let old_kid = rec_before["kid"].as_str().unwrap();
        assert_ne!(new_kid, old_kid);
        let plain = openssl_decrypt(&seg, &hex::encode(&new_keys[new_kid]), &iv)
            .expect("the new key decrypts");
        assert!(is_ts(&plain), "{uri}: the new key gives MPEG-TS");
        let with_old = openssl_decrypt(&seg, &hex::encode(&old_keys[old_kid]), &iv);
        assert!(
            with_old.as_deref().is_none_or(|b| !is_ts(b)),
            "{uri}: the old key must not open it"
        );
    }
    // The playlist names the new keys, and FFmpeg decodes everything over HTTP.
    let playlist = std::fs::read_to_string(p.out.join("360p/index.m3u8")).unwrap();
    assert_eq!(playlist.matches("#EXT-X-KEY:").count(), 3, "{playlist}");
    for kid in new_keys.keys() {
        assert!(playlist.contains(&format!("keys/{kid}.key")), "{playlist}");
    }
    export(&p, "key-files", &p.out.join("360p/keys"), &[]);
    let (frames, errors, _) = decode_over_http(&p.out);
    assert_eq!(errors, "");
    assert_eq!(frames, CLIP_FRAMES);

    // A second rekey has nothing to do and changes nothing.
    let again = segments(&p.out);
    run_ok(&mut rekey(&p));
    assert!(segments(&p.out) == again);
}

#[test]
fn rekey_of_derived_iv_packages_writes_new_ivs_and_uses_the_key_uri_template() {
    let p = package(&[
        "--iv",
        "derived",
        "--key-uri",
        "https://k.example/{content_id}/{period}/{kid}",
    ]);
    std::fs::write(p.out.join("notes.txt"), b"kept").unwrap();
    rotate_from(&p, "2");
    run_ok(&mut rekey(&p));
    let o = verify(&p, true);
    assert_eq!(o.status.code(), Some(0), "{:?}", verify_defects(&o));
    let playlist = std::fs::read_to_string(p.out.join("360p/index.m3u8")).unwrap();
    let ivs: std::collections::HashSet<&str> = playlist
        .lines()
        .filter_map(|l| l.split(",IV=").nth(1))
        .collect();
    assert_eq!(ivs.len(), 6, "{playlist}");
    let m = manifest(&p.out);
    for s in m["renditions"][0]["segments"].as_array().unwrap() {
        let uri = format!(
            "URI=\"https://k.example/film/{}/{}\"",
            s["period"],
            s["kid"].as_str().unwrap()
        );
        assert!(playlist.contains(&uri), "{uri} in {playlist}");
        assert_eq!(s["generation"], if s["period"] == 2 { 1 } else { 0 });
    }
    assert_eq!(
        std::fs::read(p.out.join("notes.txt")).unwrap(),
        b"kept",
        "files rekey does not know about are carried over"
    );
}

#[test]
fn a_failed_rekey_leaves_the_old_package_intact() {
    let p = package(&[]);
    rotate_from(&p, "1");
    // Damage the last segment: rekey must not launder it into a fresh hash.
    let last = p.out.join("360p/seg_00005.ts");
    let mut b = std::fs::read(&last).unwrap();
    b[500] ^= 1;
    std::fs::write(&last, &b).unwrap();
    let before = snapshot(&p.out);
    let o = run_code(rekey(&p).args(["--jobs", "1"]), 2);
    assert_clear_error(&o, "seg_00005.ts: its SHA-256 differs");
    assert!(snapshot(&p.out) == before, "the package changed");
    assert_eq!(hidden_entries(p.t.path()), Vec::<String>::new());
    // Skipping the check is the caller's call: the damage is then re-encrypted.
    run_ok(rekey(&p).arg("--no-hash-check"));
    // ...and every segment's new manifest hash is that of the file written.
    let m = manifest(&p.out);
    for s in m["renditions"][0]["segments"].as_array().unwrap() {
        let bytes = std::fs::read(p.out.join(s["uri"].as_str().unwrap())).unwrap();
        assert_eq!(
            s["sha256"].as_str().unwrap(),
            sha256_hex(&bytes),
            "{}",
            s["uri"]
        );
    }
}

#[test]
fn revoked_keys_are_left_out_of_exports_and_flagged_by_verify() {
    let p = package(&[]);
    run_ok(shieldpack().args(["keys", "revoke"]).arg(&p.keyring).args([
        "--content-id",
        "film",
        "--periods",
        "1",
    ]));
    let ck = p.t.join("ck.json");
    let o = export(&p, "clearkey", &ck, &[]);
    assert!(
        stderr(&o).contains("left out revoked keys of period(s) 1"),
        "{}",
        stderr(&o)
    );
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&ck).unwrap()).unwrap();
    assert_eq!(v["keys"].as_array().unwrap().len(), 2);
    let o = verify(&p, false);
    assert_eq!(o.status.code(), Some(1));
    let d = verify_defects(&o);
    assert_eq!(d.len(), 2, "{d:?}");
    assert!(
        d.iter().all(|x| x.contains("revoked key of period 1")),
        "{d:?}"
    );

    // A generation: rotate past it first, then revoke it.
    rotate_from(&p, "0");
    run_ok(shieldpack().args(["keys", "revoke"]).arg(&p.keyring).args([
        "--content-id",
        "film",
        "--generation",
        "0",
    ]));
    let o = run_code(
        shieldpack()
            .args(["keys", "export"])
            .arg(&p.keyring)
            .arg("-i")
            .arg(&p.id)
            .arg("--package")
            .arg(&p.out)
            .args(["--format", "shaka", "-o", "-"]),
        2,
    );
    assert_clear_error(&o, "every key of film is revoked");
    run_ok(&mut rekey(&p));
    let o = export(&p, "shaka", Path::new("-"), &[]);
    assert_eq!(
        String::from_utf8(o.stdout)
            .unwrap()
            .matches("key_id=")
            .count(),
        2
    );
}

#[test]
fn bad_inputs_exit_2_with_a_hint() {
    let p = package(&[]);
    let (other, _) = age_identity(&p.t, "other.txt");
    let (_, data_path) = (0, p.t.join("data"));
    std::fs::write(&data_path, b"secret").unwrap();

    // A wrong identity: for unwrap, rewrap and export.
    let (_, r) = age_identity(&p.t, "r.txt");
    let enc = p.t.join("d.age");
    run_ok(
        shieldpack()
            .args(["keys", "wrap", "-r", &r, "-o"])
            .arg(&enc)
            .arg(&data_path),
    );
    let o = shieldpack()
        .args(["keys", "unwrap", "-i"])
        .arg(&other)
        .arg(&enc)
        .output()
        .unwrap();
    assert_clear_error(&o, "none of the identities given can decrypt it");
    let o = shieldpack()
        .args(["keys", "rewrap"])
        .arg(&p.keyring)
        .arg("-i")
        .arg(&other)
        .args(["-r", &r])
        .output()
        .unwrap();
    assert_clear_error(&o, "none of the identities given can open this keyring");

    // A malformed recipient, on the command line and in a file.
    for cmd in [
        vec!["keys", "wrap", "-r", "age1qqqqbad"],
        vec!["keys", "wrap", "-r", "ssh-ed25519 AAAAnotbase64!"],
    ] {
        let o = shieldpack().args(&cmd).arg(&data_path).output().unwrap();
        assert_clear_error(&o, "invalid recipient");
    }
    let bad_file = p.t.join("bad.txt");
    std::fs::write(&bad_file, "age1good?\n").unwrap();
    let o = shieldpack()
        .args(["keys", "wrap", "-R"])
        .arg(&bad_file)
        .arg(&data_path)
        .output()
        .unwrap();
    assert_clear_error(&o, "line 1: invalid recipient");
    let o = shieldpack()
        .args(["keys", "export"])
        .arg(&p.keyring)
        .arg("-i")
        .arg(&p.id)
        .arg("--package")
        .arg(&p.out)
        .args(["--format", "cpix", "-r", "nope", "-o"])
        .arg(p.t.join("x.xml"))
        .output()
        .unwrap();
    assert_clear_error(&o, "invalid recipient 'nope'");
    assert!(!p.t.join("x.xml").exists());

    // An empty recipients file.
    let empty = p.t.join("empty.txt");
    std::fs::write(&empty, "# nobody yet\n\n").unwrap();
    for cmd in [vec!["keys", "wrap"], vec!["keys", "rewrap"]] {
        let mut c = shieldpack();
        c.args(&cmd);
        if cmd[1] == "rewrap" {
            c.arg(&p.keyring).arg("-i").arg(&p.id);
        } else {
            c.arg(&data_path);
        }
        let o = c.arg("-R").arg(&empty).output().unwrap();
        assert_clear_error(&o, "empty.txt: contains no recipients");
    }

    // A revoked period asked for explicitly.
    run_ok(shieldpack().args(["keys", "revoke"]).arg(&p.keyring).args([
        "--content-id",
        "film",
        "--periods",
        "2",
    ]));
    for range in ["2", "2..2"] {
        let o = shieldpack()
            .args(["keys", "export"])
            .arg(&p.keyring)
            .arg("-i")
            .arg(&p.id)
            .arg("--package")
            .arg(&p.out)
            .args(["--format", "key-files", "--periods", range, "-o"])
            .arg(p.t.join("k"))
            .output()
            .unwrap();
        assert_clear_error(&o, "period 2 of film is revoked");
    }
    assert!(!p.t.join("k").exists());

    // Revoking a generation that does not exist; rotating a bad content id.
    let o = shieldpack()
        .args(["keys", "revoke"])
        .arg(&p.keyring)
        .args(["--content-id", "film", "--generation", "9"])
        .output()
        .unwrap();
    assert_clear_error(&o, "has no generation 9");
    let o = shieldpack()
        .args(["keys", "rotate"])
        .arg(&p.keyring)
        .args(["--content-id", "a/b", "--from-period", "1"])
        .output()
        .unwrap();
    assert_clear_error(&o, "not a valid content id");
    // Garbage given to unwrap.
    let o = shieldpack()
        .args(["keys", "unwrap", "-i"])
        .arg(&p.id)
        .arg(&data_path)
        .output()
        .unwrap();
    assert_clear_error(&o, "not a readable age file");
}

#[test]
fn cpix_usage_rules_carry_the_scene_of_a_policy_package() {
    let p = package(&[]);
    // What `package --policy` records per segment (added by the policy work).
    let mut m = manifest(&p.out);
    for s in m["renditions"][0]["segments"].as_array_mut().unwrap() {
        if s["period"] == 0 {
            s["scene"] = serde_json::json!({"label": "pre-game", "drm_level": "L3", "hdcp": false});
        }
    }
    std::fs::write(
        p.out.join("manifest.json"),
        serde_json::to_string_pretty(&m).unwrap(),
    )
    .unwrap();
    let cpix = p.t.join("c.xml");
    export(&p, "cpix", &cpix, &[]);
    let text = std::fs::read_to_string(&cpix).unwrap();
    let doc = roxmltree::Document::parse(&text).unwrap();
    let tracks: Vec<Option<&str>> = doc
        .descendants()
        .filter(|n| n.has_tag_name(("urn:dashif:org:cpix", "ContentKeyUsageRule")))
        .map(|n| n.attribute("intendedTrackType"))
        .collect();
    assert_eq!(tracks, vec![Some("pre-game"), None, None]);
    assert!(text.contains("drm_level L3"), "{text}");
}

/// Makes every `fsync`/`fdatasync` fail with EIO, under `LD_PRELOAD`: a disk
/// that takes writes into the page cache but cannot make them durable, which
/// no file system here does on demand.
const FAILING_FLUSH: &str = "#include <errno.h>\n\
    int fdatasync(int fd) { (void)fd; errno = EIO; return -1; }\n\
    int fsync(int fd) { (void)fd; errno = EIO; return -1; }\n";

/// When the disk cannot confirm a write, `package --force`, `keys rotate` and
/// `rekey` each fail with an error that says so (exit 2), and what they would
/// have replaced is left exactly as it was, with no staging behind it.
#[test]
fn a_disk_that_cannot_flush_fails_package_rotate_and_rekey_and_loses_nothing() {
    let p = package(&[]);
    let shim = preload_shim(&p.t, "failsync", FAILING_FLUSH);
    let flush_error = |o: &std::process::Output, file: &str| {
        assert_clear_error(o, "could not be saved to disk: Input/output error");
        assert!(stderr(o).contains(file), "{}", stderr(o));
        assert!(stderr(o).contains("df -h"), "{}", stderr(o));
    };

    let before = snapshot(&p.out);
    let o = run_code(
        package_clip(&p.out, &p.keyring)
            .arg("-i")
            .arg(&p.id)
            .args(["--content-id", "film", "--force"])
            .env("LD_PRELOAD", &shim),
        2,
    );
    flush_error(&o, ".ts");
    assert!(
        snapshot(&p.out) == before,
        "package --force changed the package"
    );
    assert_eq!(hidden_entries(p.t.path()), Vec::<String>::new());

    let keyring = std::fs::read(&p.keyring).unwrap();
    let o = run_code(
        shieldpack()
            .args(["keys", "rotate"])
            .arg(&p.keyring)
            .args(["--content-id", "film", "--from-period", "1"])
            .env("LD_PRELOAD", &shim),
        2,
    );
    flush_error(&o, "keyring.json");
    assert!(
        std::fs::read(&p.keyring).unwrap() == keyring,
        "keyring changed"
    );
    assert_eq!(hidden_entries(p.t.path()), Vec::<String>::new());

    rotate_from(&p, "1");
    let o = run_code(rekey(&p).env("LD_PRELOAD", &shim), 2);
    flush_error(&o, ".ts");
    assert!(snapshot(&p.out) == before, "rekey changed the package");
    assert_eq!(hidden_entries(p.t.path()), Vec::<String>::new());

    // Nothing was half done: on a working disk both go through, and the
    // rekeyed package verifies with the new keys.
    run_ok(&mut rekey(&p));
    assert!(snapshot(&p.out) != before);
    let o = verify(&p, true);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
}

/// Truncates every `.ts` file as it is read, under `LD_PRELOAD`: another
/// program cutting a segment short while `rekey` reads it, every time.
const TRUNCATE_ON_READ: &str = "#define _GNU_SOURCE\n\
    #include <dlfcn.h>\n#include <stdio.h>\n#include <string.h>\n\
    #include <sys/types.h>\n#include <unistd.h>\n\
    ssize_t read(int fd, void *buf, size_t count) {\n\
      static ssize_t (*real)(int, void *, size_t);\n\
      if (!real) real = dlsym(RTLD_NEXT, \"read\");\n\
      char link[64], path[4096];\n\
      snprintf(link, sizeof link, \"/proc/self/fd/%d\", fd);\n\
      ssize_t n = fd >= 0 ? readlink(link, path, sizeof path - 1) : -1;\n\
      if (n > 3) {\n\
        path[n] = 0;\n\
        if (strcmp(path + n - 3, \".ts\") == 0) truncate(path, 0);\n\
      }\n\
      return real(fd, buf, count);\n\
    }\n";

/// A segment cut short by another program while `rekey` reads it is a clear
/// error naming the file (exit 2); nothing else in
/// the package changes, and once the segment is whole again the next rekey
/// removes the abandoned staging and goes through.
#[test]
fn a_segment_truncated_while_rekey_reads_it_is_named_not_a_crash() {
    let p = package(&[]);
    rotate_from(&p, "0");
    let whole = snapshot(&p.out);
    let shim = preload_shim(&p.t, "truncate", TRUNCATE_ON_READ);
    let o = run_code(rekey(&p).env("LD_PRELOAD", &shim), 2);
    let e = stderr(&o);
    assert!(
        e.contains("shrank while it was being read") && e.contains(".ts"),
        "{e}"
    );
    assert!(e.contains("hint: nothing was published"), "{e}");
    let now = snapshot(&p.out);
    let cut: Vec<_> = now
        .iter()
        .filter(|(f, b)| b.is_empty() && f.extension().is_some_and(|x| x == "ts"))
        .collect();
    assert!(!cut.is_empty(), "the shim truncated no segment");
    let rest = |s: &[(PathBuf, Vec<u8>)]| -> Vec<(PathBuf, Vec<u8>)> {
        s.iter()
            .filter(|(f, _)| !cut.iter().any(|(c, _)| c == f))
            .cloned()
            .collect()
    };
    assert!(
        rest(&now) == rest(&whole),
        "rekey changed files other than those cut short"
    );

    // Put the segments back: the next rekey sweeps what the killed one staged
    // and re-encrypts everything; the result verifies.
    for (f, b) in &whole {
        std::fs::write(f, b).unwrap();
    }
    run_ok(&mut rekey(&p));
    assert_eq!(hidden_entries(p.t.path()), Vec::<String>::new());
    let o = verify(&p, true);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
}

/// Issue 25 item 7: two `rekey` runs on one package were not locked against
/// each other; the later swap would undo the earlier. The second now fails
/// at once naming the first, and changes nothing.
#[test]
fn a_second_rekey_on_one_package_is_refused_while_the_first_runs() {
    let p = package(&[]);
    rotate_from(&p, "1");
    let before = snapshot(&p.out);
    let lock = p.t.join(".out.rekey.lock");
    let holder = LockHolder::hold(&lock, "rekey");
    let o = run_code(&mut rekey(&p), 2);
    let err = stderr(&o);
    assert!(
        err.contains(&format!(
            "another rekey is running here: pid {} on {}, started 2025-01-02T03:04:05Z",
            holder.pid, holder.host
        )),
        "{err}"
    );
    assert!(
        err.contains(&format!(
            "hint: wait for it to finish, or stop it (`kill {}`)",
            holder.pid
        )),
        "{err}"
    );
    assert!(
        snapshot(&p.out) == before,
        "the refused rekey changed the package"
    );
    drop(holder);
    // Once the first is gone, the next one runs, and leaves no lock file behind.
    let o = run_ok(rekey(&p).arg("--json"));
    assert_eq!(stdout_json(&o)["rekeyed"], 4, "{}", stderr(&o));
    assert!(!lock.exists());
}
