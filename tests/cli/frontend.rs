//! The `shieldpack` front end links no FFmpeg and runs `keys`, `rekey`,
//! `policy check` and `generate` itself; every other command is handed to
//! `shieldpack-media` beside it (every other module's tests go through that).

use std::path::Path;
use std::process::Command;

use crate::util::*;

/// The shared libraries an ELF file asks for, from `readelf -d`.
fn needed(bin: &Path) -> Vec<String> {
    let out = run_ok(Command::new("readelf").arg("-d").arg("--wide").arg(bin));
    stdout(&out)
        .lines()
        .filter(|l| l.contains("(NEEDED)"))
        .filter_map(|l| Some(l.split_once('[')?.1.split_once(']')?.0.to_string()))
        .collect()
}

fn is_ffmpeg(lib: &str) -> bool {
    [
        "libavformat",
        "libavcodec",
        "libavutil",
        "libswscale",
        "libswresample",
    ]
    .iter()
    .any(|p| lib.starts_with(p))
}

#[test]
fn front_end_links_no_ffmpeg_and_the_media_build_does() {
    let front = needed(Path::new(env!("CARGO_BIN_EXE_shieldpack")));
    let media = needed(&media_bin());
    assert!(
        front.iter().any(|l| l.starts_with("libc.so")),
        "readelf found no NEEDED entries at all: {front:?}"
    );
    let linked: Vec<_> = front.iter().filter(|l| is_ffmpeg(l)).collect();
    assert!(
        linked.is_empty(),
        "the front end links FFmpeg ({linked:?}): something reachable from \
         cmd::dispatch_without_ffmpeg calls into media code"
    );
    for lib in ["libavformat", "libavcodec"] {
        assert!(
            media.iter().any(|l| l.starts_with(lib)),
            "shieldpack-media does not link {lib}: {media:?}"
        );
    }
}

#[test]
fn front_end_alone_rotates_and_rekeys_and_explains_the_missing_media_build() {
    let t = TestDir::new();
    let kr = new_keyring(&t);
    let out = t.join("out");
    run_ok(&mut package_clip(&out, &kr));
    let before = std::fs::read(out.join("manifest.json")).unwrap();

    // A key-management host: the front end alone, no shieldpack-media, so no FFmpeg.
    let alone_dir = t.join("keyhost");
    std::fs::create_dir(&alone_dir).unwrap();
    let alone = alone_dir.join("shieldpack");
    // Copied by `cp`, not `fs::copy`: a write descriptor open in this process
    // leaks into any child another test thread forks meanwhile, and while
    // that child holds it, exec of the copy fails with ETXTBSY ("Text file
    // busy"). `cp` holds the only write descriptor and has exited before we exec.
    run_ok(
        Command::new("cp")
            .arg(env!("CARGO_BIN_EXE_shieldpack"))
            .arg(&alone),
    );
    let lone = || shieldpack_at(&alone);
    run_ok(lone().args(["keys", "rotate"]).arg(&kr).args([
        "--content-id",
        "clip",
        "--from-period",
        "0",
    ]));
    let o = run_ok(
        lone()
            .arg("--json")
            .arg("rekey")
            .arg(&out)
            .arg("--keyring")
            .arg(&kr),
    );
    let j = stdout_json(&o);
    assert_eq!(j["rekeyed"], 2, "{j}");
    assert_ne!(std::fs::read(out.join("manifest.json")).unwrap(), before);
    // The full build checks the result: every segment decrypts under its new key.
    run_ok(
        shieldpack()
            .arg("verify")
            .arg(&out)
            .arg("--keyring")
            .arg(&kr),
    );

    let o = run_code(
        lone()
            .arg("package")
            .arg(fixture("clip.mp4"))
            .arg("-o")
            .arg(t.join("p2"))
            .arg("--keyring")
            .arg(&kr),
        2,
    );
    let e = stderr(&o);
    assert!(
        e.contains("shieldpack-media") && e.contains("missing"),
        "{e}"
    );
    assert!(e.contains("hint: install both binaries"), "{e}");
    assert!(
        !t.join("p2").exists(),
        "nothing is written when the media build is missing"
    );
}

#[test]
fn media_build_refuses_a_front_end_of_another_build() {
    let mut c = Command::new(media_bin());
    c.env("SHIELDPACK_HANDED_OVER", "0.0.1")
        .arg("inspect")
        .arg(fixture("clip.mp4"));
    let e = stderr(&run_code(&mut c, 2));
    assert!(
        e.contains("another build") && e.contains("cargo build"),
        "{e}"
    );
}

/// Issue 25 item 7: clap's usage errors (unknown flag, missing argument, bad
/// value, unknown command) went out without the `hint:` line every other
/// error ends with. They still exit 2, and `--help` still exits 0 unhinted.
#[test]
fn usage_errors_end_with_a_hint() {
    let cases: &[(&[&str], &str, &str)] = &[
        (
            &["keys", "new", "-o", "k.json", "--bogus"],
            "unexpected argument '--bogus'",
            "keys new ",
        ),
        (
            &["keys", "new"],
            "required arguments were not provided",
            "keys new ",
        ),
        (
            &["--color", "sometimes", "keys", "show", "k.json"],
            "invalid value 'sometimes'",
            "keys show ",
        ),
        (
            &["rekey", "pkg", "--keyring", "k.json", "--jobs", "many"],
            "invalid value 'many'",
            "rekey ",
        ),
        (
            &["package", "in.mp4", "-o", "out", "--iv", "random"],
            "invalid value 'random'",
            "package ",
        ),
        (&["frobnicate"], "unrecognized subcommand 'frobnicate'", ""),
        (&["keys"], "keys [OPTIONS] <COMMAND>", "keys "),
    ];
    let t = TestDir::new();
    let media = media_bin();
    for bin in [Path::new(env!("CARGO_BIN_EXE_shieldpack")), media.as_path()] {
        for (args, says, path) in cases {
            let o = run_code(shieldpack_at(bin).current_dir(t.path()).args(*args), 2);
            let err = stderr(&o);
            assert!(err.contains(says), "{args:?}: {err}");
            assert_eq!(
                err.trim_end().lines().last().unwrap_or(""),
                format!("hint: `shieldpack {path}--help` lists the arguments and flags it takes"),
                "{args:?}: {err}"
            );
            assert!(
                err.contains("\n\nhint: "),
                "a blank line before the hint: {err}"
            );
            assert!(o.stdout.is_empty(), "{args:?}");
        }
    }
    let o = run_ok(shieldpack().args(["keys", "new", "--help"]));
    assert!(stdout(&o).contains("Usage: shieldpack keys new"));
    assert!(!stderr(&o).contains("hint:") && !stdout(&o).contains("hint: `"));
    let o = run_ok(shieldpack().arg("--version"));
    assert!(stdout(&o).starts_with("shieldpack "));
}
