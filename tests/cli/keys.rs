//! Keyrings: creation, metadata, identities, and the age CLI opening what we wrap.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

use crate::util::*;

fn mode(p: &std::path::Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

/// The armored master of a keyring, as the age CLI would read it from a file.
fn master_of(keyring: &std::path::Path, t: &TestDir) -> std::path::PathBuf {
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(keyring).unwrap()).unwrap();
    let f = t.join("master.age");
    std::fs::write(&f, v["master"].as_str().unwrap()).unwrap();
    f
}

#[test]
fn keys_new_writes_a_private_keyring_and_identity_that_age_opens() {
    let t = TestDir::new();
    let k = new_keyring(&t);
    let id = t.join("keyring.json.identity");
    assert_eq!(mode(&k), 0o600);
    assert_eq!(mode(&id), 0o600);
    let o = run_ok(
        Command::new("age")
            .arg("-d")
            .arg("-i")
            .arg(&id)
            .arg(master_of(&k, &t)),
    );
    assert_eq!(o.stdout.len(), 32, "the master is 256 bits");
    // keys show never prints it, and --reveal does.
    let master_hex = hex::encode(&o.stdout);
    let shown = run_ok(shieldpack().args(["keys", "show"]).arg(&k));
    let text = String::from_utf8_lossy(&shown.stdout);
    assert!(
        text.contains("age1") && !text.contains(&master_hex),
        "{text}"
    );
    let keyring_text = std::fs::read_to_string(&k).unwrap();
    assert!(!keyring_text.contains(&master_hex));
    let revealed = run_ok(shieldpack().args(["keys", "show", "--reveal"]).arg(&k));
    assert!(String::from_utf8_lossy(&revealed.stdout).contains(&master_hex));
}

#[test]
fn keys_new_refuses_to_overwrite() {
    let t = TestDir::new();
    let k = new_keyring(&t);
    let before = std::fs::read(&k).unwrap();
    let o = run_code(shieldpack().args(["keys", "new", "-o"]).arg(&k), 2);
    assert!(stderr(&o).contains("already exists"), "{}", stderr(&o));
    assert_eq!(std::fs::read(&k).unwrap(), before);
}

#[test]
fn a_keyring_wrapped_to_an_age_keygen_identity_packages() {
    let t = TestDir::new();
    let id = t.join("me.txt");
    run_ok(Command::new("age-keygen").arg("-o").arg(&id));
    let public =
        String::from_utf8(run_ok(Command::new("age-keygen").arg("-y").arg(&id)).stdout).unwrap();
    let k = t.join("k.json");
    run_ok(shieldpack().args(["keys", "new", "-o"]).arg(&k).args([
        "-r",
        public.trim(),
        "--content-id",
        "film",
    ]));
    assert!(!t.join("k.json.identity").exists());
    let o = run_ok(
        Command::new("age")
            .arg("-d")
            .arg("-i")
            .arg(&id)
            .arg(master_of(&k, &t)),
    );
    assert_eq!(o.stdout.len(), 32);
    // Without an identity the keyring cannot be opened...
    let out = t.join("out");
    let pkg = |c: &mut Command| {
        c.arg("package")
            .arg(fixture("clip.mp4"))
            .arg("-o")
            .arg(&out)
            .arg("--keyring")
            .arg(&k)
            .args(["--content-id", "film"]);
    };
    let mut c = shieldpack();
    pkg(&mut c);
    let e = stderr(&run_code(&mut c, 2));
    assert!(
        e.contains("no identity to open this keyring") && e.contains("SHIELDPACK_IDENTITY"),
        "{e}"
    );
    // ...with the environment variable it can.
    let mut c = shieldpack();
    pkg(&mut c);
    run_ok(c.env("SHIELDPACK_IDENTITY", &id));
    run_ok(
        shieldpack()
            .arg("verify")
            .arg(&out)
            .arg("--keyring")
            .arg(&k)
            .arg("-i")
            .arg(&id),
    );
}

#[test]
fn bad_keyrings_and_identities_get_clear_errors() {
    let t = TestDir::new();
    let k = new_keyring(&t);
    let out = t.join("out");
    let try_pkg = |keyring: &std::path::Path, extra: &[&std::ffi::OsStr]| {
        let o = run_code(package_clip(&out, keyring).args(extra), 2);
        assert!(!out.exists());
        stderr(&o)
    };
    let corrupt = t.join("corrupt.json");
    std::fs::write(
        &corrupt,
        "{\"format\": \"shieldpack-keyring\", \"version\": 1,",
    )
    .unwrap();
    let e = try_pkg(&corrupt, &[]);
    assert!(
        e.contains("corrupt.json: not a shieldpack keyring (invalid JSON"),
        "{e}"
    );

    let mut v: serde_json::Value = serde_json::from_slice(&std::fs::read(&k).unwrap()).unwrap();
    v["version"] = 7.into();
    let future = t.join("future.json");
    std::fs::write(&future, v.to_string()).unwrap();
    let e = try_pkg(&future, &[]);
    assert!(
        e.contains("future.json: keyring format version 7 is not supported"),
        "{e}"
    );

    let other = t.join("other.txt");
    run_ok(Command::new("age-keygen").arg("-o").arg(&other));
    let e = try_pkg(&k, &["-i".as_ref(), other.as_os_str()]);
    assert!(
        e.contains("none of the identities given can open this keyring"),
        "{e}"
    );
    assert!(
        e.contains("hint: pass the identity the keyring was wrapped to"),
        "{e}"
    );

    let garbage = t.join("garbage.txt");
    std::fs::write(&garbage, "hello\n").unwrap();
    let e = try_pkg(&k, &["-i".as_ref(), garbage.as_os_str()]);
    assert!(e.contains("garbage.txt: not an age identity file"), "{e}");

    let e = stderr(&run_code(
        shieldpack()
            .args(["keys", "new", "-o"])
            .arg(t.join("x.json"))
            .args(["-r", "age1nope"]),
        2,
    ));
    assert!(e.contains("invalid recipient 'age1nope'"), "{e}");
}

/// Rotations and revocations started at once (CI jobs sharing a keyring) all
/// land: each one reads, changes and replaces the whole file, so without the
/// keyring's lock all but a few were lost while every process exited 0.
#[test]
fn concurrent_keyring_changes_are_all_kept() {
    let t = TestDir::new();
    let k = new_keyring(&t);
    let spawn = |args: Vec<String>| {
        let mut c = shieldpack();
        c.arg("-q").args(&args[..2]).arg(&k).args(&args[2..]);
        c.stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped());
        (args, c.spawn().expect("start shieldpack"))
    };
    let mut children = Vec::new();
    for i in 0..10 {
        let title = format!("title-{i}");
        children.push(spawn(
            [
                "keys",
                "rotate",
                "--content-id",
                &title,
                "--from-period",
                "0",
            ]
            .map(String::from)
            .to_vec(),
        ));
        // Four more on one content id: each must get its own generation.
        if i < 4 {
            let from = (10 * (i + 1)).to_string();
            children.push(spawn(
                [
                    "keys",
                    "rotate",
                    "--content-id",
                    "shared",
                    "--from-period",
                    &from,
                ]
                .map(String::from)
                .to_vec(),
            ));
        }
        if i < 3 {
            let period = (100 + i).to_string();
            children.push(spawn(
                [
                    "keys",
                    "revoke",
                    "--content-id",
                    "revoked",
                    "--periods",
                    &period,
                ]
                .map(String::from)
                .to_vec(),
            ));
        }
    }
    for (args, child) in children {
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "shieldpack {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    let shown = stdout_json(&run_ok(
        shieldpack().args(["keys", "show", "--json"]).arg(&k),
    ));
    let contents = &shown["contents"];
    for i in 0..10 {
        let g = &contents[format!("title-{i}")]["generations"];
        assert_eq!(g.as_array().map(Vec::len), Some(1), "title-{i}: {shown:#}");
        assert_eq!(g[0]["generation"], 1, "title-{i}: {shown:#}");
    }
    let mut shared: Vec<(u64, u64)> = contents["shared"]["generations"]
        .as_array()
        .unwrap_or_else(|| panic!("no generations for 'shared': {shown:#}"))
        .iter()
        .map(|g| {
            (
                g["generation"].as_u64().unwrap(),
                g["from_period"].as_u64().unwrap(),
            )
        })
        .collect();
    shared.sort_unstable();
    let gens: Vec<u64> = shared.iter().map(|g| g.0).collect();
    assert_eq!(gens, [1, 2, 3, 4], "{shown:#}");
    let mut froms: Vec<u64> = shared.iter().map(|g| g.1).collect();
    froms.sort_unstable();
    assert_eq!(froms, [10, 20, 30, 40], "{shown:#}");
    assert_eq!(
        contents["revoked"]["revoked_periods"],
        serde_json::json!([100, 101, 102]),
        "{shown:#}"
    );
    // Nothing is left beside the keyring: the lock is on the file itself.
    let mut left: Vec<String> = std::fs::read_dir(t.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    left.sort();
    assert_eq!(left, ["keyring.json", "keyring.json.identity"]);
}

/// Issue 25, item 4: a keyring records which title each content id packaged,
/// and refuses a different title under the same id (same keys and IVs on
/// different content) unless `--reuse-content-id`; the same title again is fine.
#[test]
fn a_keyring_refuses_a_second_title_under_one_content_id() {
    let t = TestDir::new();
    let keyring = new_keyring(&t);
    let before: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&keyring).unwrap()).unwrap();
    assert!(
        before.get("packaged").is_none(),
        "a new keyring records nothing"
    );
    let other = t.join("other.mp4");
    run_ok(
        ffmpeg()
            .arg("-i")
            .arg(fixture("clip.mp4"))
            .args(["-t", "6", "-c", "copy"])
            .arg(&other),
    );
    let package = |input: &std::path::Path, out: &str, extra: &[&str]| {
        let mut c = package_input(input, t.join(out), &keyring);
        c.args(["--content-id", "movie"]).args(extra);
        c
    };
    run_ok(&mut package(&fixture("clip.mp4"), "first", &[]));
    let show = || {
        stdout_json(&run_ok(
            shieldpack().args(["keys", "show", "--json"]).arg(&keyring),
        ))
    };
    let v = show();
    let recorded = v["packaged"]["movie"].as_array().unwrap().clone();
    assert_eq!(recorded.len(), 1, "{v}");
    assert!(recorded[0]["source"]
        .as_str()
        .unwrap()
        .ends_with("clip.mp4"));
    assert!(recorded[0]["fingerprint"]
        .as_str()
        .unwrap()
        .starts_with("sha256:"));

    // A different title under the same id: refused, nothing written.
    let o = run_status(&mut package(&other, "second", &[]), 2);
    let e = stderr(&o);
    assert!(e.contains("content id 'movie' was already packaged"), "{e}");
    assert!(e.contains("\nhint: ") && e.contains("--content-id"), "{e}");
    assert!(!t.join("second").exists());
    assert_eq!(show()["packaged"]["movie"].as_array().unwrap().len(), 1);

    // The same title again (or a copy of it under another name) is fine, and
    // gives the same package.
    run_ok(&mut package(&fixture("clip.mp4"), "again", &[]));
    let copy = t.join("copy-of-clip.mp4");
    std::fs::copy(fixture("clip.mp4"), &copy).unwrap();
    run_ok(&mut package(&copy, "copy", &[]));
    assert_eq!(
        std::fs::read(t.join("first/manifest.json")).unwrap(),
        std::fs::read(t.join("again/manifest.json")).unwrap()
    );
    assert_eq!(show()["packaged"]["movie"].as_array().unwrap().len(), 1);

    // Told to, it packages the other title and records it beside the first.
    run_ok(&mut package(&other, "second", &["--reuse-content-id"]));
    let v = show();
    assert_eq!(v["packaged"]["movie"].as_array().unwrap().len(), 2);
    // The text listing names it too; the secret never changed.
    let text = stdout(&run_ok(shieldpack().args(["keys", "show"]).arg(&keyring)));
    assert!(
        text.contains("packaged:") && text.contains("movie: "),
        "{text}"
    );
    let after: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&keyring).unwrap()).unwrap();
    assert_eq!(after["master"], before["master"]);
    assert_eq!(after["fingerprint"], before["fingerprint"]);
    assert_eq!(mode(&keyring), 0o600);
}

/// Issue 25 item 7: an identity file others could read was used silently;
/// ssh refuses such a key ("UNPROTECTED PRIVATE KEY FILE"), shieldpack warns.
#[test]
fn an_identity_file_readable_by_others_gets_a_warning() {
    let t = TestDir::new();
    let k = new_keyring(&t);
    let id = t.join("shared-id.txt");
    std::fs::copy(t.join("keyring.json.identity"), &id).unwrap();
    std::fs::set_permissions(&id, std::fs::Permissions::from_mode(0o644)).unwrap();
    let warning = format!(
        "warning: identity file {} has permissions 0644, too open: other users can read the private key in it",
        id.display()
    );
    let hint = format!("hint: make it private with `chmod 600 {}`", id.display());
    // Given with -i: the keyring still opens, with the warning and its fix.
    let o = run_ok(
        shieldpack()
            .args(["keys", "show", "--reveal"])
            .arg(&k)
            .arg("-i")
            .arg(&id),
    );
    assert!(stdout(&o).contains("master"), "{}", stdout(&o));
    assert!(stderr(&o).contains(&warning), "{}", stderr(&o));
    assert!(stderr(&o).contains(&hint), "{}", stderr(&o));
    // Found through SHIELDPACK_IDENTITY; --quiet does not hide it.
    let o = run_ok(
        shieldpack()
            .args(["-q", "keys", "show", "--reveal"])
            .arg(&k)
            .env("SHIELDPACK_IDENTITY", &id),
    );
    assert!(stderr(&o).contains(&warning), "{}", stderr(&o));
    // Group-writable only: others cannot read it but can replace it.
    std::fs::set_permissions(&id, std::fs::Permissions::from_mode(0o620)).unwrap();
    let o = run_ok(
        shieldpack()
            .args(["keys", "show", "--reveal"])
            .arg(&k)
            .arg("-i")
            .arg(&id),
    );
    assert!(
        stderr(&o).contains("permissions 0620, too open: other users can replace the private key"),
        "{}",
        stderr(&o)
    );
    // 0600 (what `keys new` writes) is quiet.
    std::fs::set_permissions(&id, std::fs::Permissions::from_mode(0o600)).unwrap();
    let o = run_ok(
        shieldpack()
            .args(["keys", "show", "--reveal"])
            .arg(&k)
            .arg("-i")
            .arg(&id),
    );
    assert!(!stderr(&o).contains("warning"), "{}", stderr(&o));
}

/// Issue 25 item 4, follow-up: a keyring mounted read-only (a Kubernetes
/// secret, a CI job's credentials) cannot take the record of what it
/// packaged. `package` still packages, says the record is not kept, and
/// leaves the keyring as it was. The mount is a read-only bind mount in a
/// mount namespace of the command's own (`unshare -m`, as root).
#[test]
fn a_keyring_on_a_read_only_mount_still_packages_and_says_it_records_nothing() {
    let t = TestDir::new();
    let secret = t.join("secret");
    std::fs::create_dir(&secret).unwrap();
    let keyring = secret.join("keyring.json");
    run_ok(shieldpack().args(["keys", "new", "-o"]).arg(&keyring));
    let before = std::fs::read(&keyring).unwrap();
    media_bin();
    let mut c = shieldpack_at(Path::new("unshare"));
    c.args(["-m", "sh", "-c"])
        .arg(
            "mount --bind \"$1\" \"$1\" && mount -o remount,ro,bind \"$1\" \"$1\" \
             && touch \"$1/probe\" 2>/dev/null && echo 'not read-only' >&2 && exit 99; \
             shift; exec \"$@\"",
        )
        .arg("sh")
        .arg(&secret)
        .arg(env!("CARGO_BIN_EXE_shieldpack"))
        .arg("package")
        .arg(fixture("clip.mp4"))
        .arg("-o")
        .arg(t.join("out"))
        .arg("--keyring")
        .arg(&keyring)
        .args(["--content-id", "movie"]);
    let o = run_ok(&mut c);
    let e = stderr(&o);
    assert!(
        e.contains("read-only, so it does not record that content id 'movie'"),
        "{e}"
    );
    assert_eq!(
        std::fs::read(&keyring).unwrap(),
        before,
        "the keyring changed"
    );
    run_ok(
        shieldpack()
            .arg("verify")
            .arg(t.join("out"))
            .arg("--keyring")
            .arg(&keyring),
    );
}
