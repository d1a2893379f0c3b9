//! DRM inputs and signalling end to end: a provider's CPIX document drives
//! `package --cpix` (export, edit as a provider would, import, and openssl
//! decrypts with the provider's keys), its periods must be the package's,
//! and `--drm`/`--license-url` are refused where they cannot apply.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use base64::Engine;
use rand_chacha::rand_core::{RngCore, SeedableRng};
use rand_chacha::ChaCha20Rng;

use crate::util::*;

const CPIX_NS: &str = "urn:dashif:org:cpix";
const PSKC_NS: &str = "urn:ietf:params:xml:ns:keyprov:pskc";

fn manifest(out: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(out.join("manifest.json")).unwrap()).unwrap()
}

/// (kid hex, key hex) of every ContentKey of a CPIX document.
fn cpix_keys(text: &str) -> BTreeMap<String, String> {
    let doc = roxmltree::Document::parse(text).unwrap();
    doc.descendants()
        .filter(|n| n.has_tag_name((CPIX_NS, "ContentKey")))
        .map(|ck| {
            let kid = ck.attribute("kid").unwrap().replace('-', "");
            let v = ck
                .descendants()
                .find(|n| n.has_tag_name((PSKC_NS, "PlainValue")))
                .unwrap()
                .text()
                .unwrap();
            let key = base64::engine::general_purpose::STANDARD
                .decode(v.trim())
                .unwrap();
            (kid, hex::encode(key))
        })
        .collect()
}

fn uuid(hex32: &str) -> String {
    format!(
        "{}-{}-{}-{}-{}",
        &hex32[0..8],
        &hex32[8..12],
        &hex32[12..16],
        &hex32[16..20],
        &hex32[20..32]
    )
}

/// Every segment of a package decrypted with `keys` (by KID) and the IV the
/// playlist implies (`--iv sequence`: the media sequence number), by uri.
fn decrypt_all(out: &Path, keys: &BTreeMap<String, String>) -> Vec<(String, u64, Vec<u8>)> {
    let m = manifest(out);
    m["renditions"][0]["segments"]
        .as_array()
        .unwrap()
        .iter()
        .enumerate()
        .map(|(seq, s)| {
            let uri = s["uri"].as_str().unwrap();
            let kid = s["kid"].as_str().unwrap();
            let key = keys
                .get(kid)
                .unwrap_or_else(|| panic!("{uri}: KID {kid} is not one of {keys:?}"));
            let plain = try_openssl_decrypt(out.join(uri), key, &format!("{seq:032x}"))
                .unwrap_or_else(|e| panic!("{e}"));
            assert!(is_mpeg_ts(&plain), "{uri} does not decrypt to TS");
            (uri.to_string(), s["period"].as_u64().unwrap(), plain)
        })
        .collect()
}

/// An age identity from age-keygen: (identity file, recipient).
fn age_identity(t: &TestDir) -> (PathBuf, String) {
    let id = t.join("provider-id.txt");
    run_ok(Command::new("age-keygen").arg("-o").arg(&id));
    let r = String::from_utf8(run_ok(Command::new("age-keygen").arg("-y").arg(&id)).stdout)
        .unwrap()
        .trim()
        .to_string();
    (id, r)
}

const FLAGS: [&str; 4] = ["--segment-duration", "2", "--rotate-segments", "2"];

/// The clip packaged with a keyring (periods 0, 1, 2) and its keys exported
/// as CPIX: (test dir, package, CPIX text).
fn exported() -> (TestDir, PathBuf, String) {
    let t = TestDir::new();
    let keyring = new_keyring(&t);
    let out = t.join("out");
    run_ok(package_clip(&out, &keyring).args(FLAGS));
    let cpix = t.join("export.cpix.xml");
    run_ok(
        shieldpack()
            .args(["keys", "export"])
            .arg(&keyring)
            .arg("--package")
            .arg(&out)
            .args(["--format", "cpix", "-o"])
            .arg(&cpix),
    );
    let text = std::fs::read_to_string(&cpix).unwrap();
    (t, out, text)
}

#[test]
fn cpix_export_edited_by_a_provider_drives_package_and_openssl_decrypts_with_its_keys() {
    let (t, out, text) = exported();
    let old = cpix_keys(&text);
    assert_eq!(old.len(), 3, "three key periods: {text}");

    // The provider replaces every KID and key with its own.
    let seed = 0x22_c0ffee_u64;
    eprintln!("provider keys from ChaCha20 seed {seed:#x}");
    let mut rng = ChaCha20Rng::seed_from_u64(seed);
    let b64 = base64::engine::general_purpose::STANDARD;
    let mut edited = text.clone();
    let mut new = BTreeMap::new();
    let mut renamed = BTreeMap::new();
    for (kid, key) in &old {
        let (mut k, mut v) = ([0u8; 16], [0u8; 16]);
        rng.fill_bytes(&mut k);
        rng.fill_bytes(&mut v);
        let (nk, nv) = (hex::encode(k), hex::encode(v));
        edited = edited
            .replace(&uuid(kid), &uuid(&nk))
            .replace(&b64.encode(hex::decode(key).unwrap()), &b64.encode(v));
        renamed.insert(kid.clone(), nk.clone());
        new.insert(nk, nv);
    }
    assert_eq!(cpix_keys(&edited), new, "the edit took");

    // ... and sends it age-wrapped.
    let (id, r) = age_identity(&t);
    let plain = t.join("provider.cpix.xml");
    std::fs::write(&plain, &edited).unwrap();
    let wrapped = t.join("provider.cpix.age");
    run_ok(
        Command::new("age")
            .args(["-r", &r, "-a", "-o"])
            .arg(&wrapped)
            .arg(&plain),
    );
    std::fs::remove_file(&plain).unwrap();

    let out2 = t.join("from-cpix");
    let o = run_ok(
        shieldpack()
            .arg("package")
            .arg(fixture("clip.mp4"))
            .arg("-o")
            .arg(&out2)
            .arg("--cpix")
            .arg(&wrapped)
            .arg("-i")
            .arg(&id)
            .args(FLAGS),
    );
    let said = format!("{}{}", stdout(&o), stderr(&o));

    // The package names the provider's KIDs, period for period.
    let (m1, m2) = (manifest(&out), manifest(&out2));
    let segs = |m: &serde_json::Value| -> Vec<(u64, String)> {
        m["renditions"][0]["segments"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| {
                (
                    s["period"].as_u64().unwrap(),
                    s["kid"].as_str().unwrap().to_string(),
                )
            })
            .collect()
    };
    let want: Vec<(u64, String)> = segs(&m1)
        .into_iter()
        .map(|(p, k)| (p, renamed[&k].clone()))
        .collect();
    assert_eq!(segs(&m2), want);
    assert!(m2["keyring_fingerprint"]
        .as_str()
        .unwrap()
        .starts_with("cpix:"));
    let playlist =
        std::fs::read_to_string(out2.join(m2["renditions"][0]["playlist"].as_str().unwrap()))
            .unwrap();
    for k in new.keys() {
        assert!(playlist.contains(&format!("keys/{k}.key")), "{playlist}");
    }

    // openssl opens every segment with the provider's keys, to the same TS
    // the keyring's package holds.
    let a = decrypt_all(&out, &old);
    let b = decrypt_all(&out2, &new);
    assert_eq!(a.len(), 6);
    assert_eq!(a, b, "the same TS under other keys");
    // Not with the old keys.
    let first = &m2["renditions"][0]["segments"][0];
    let old_key = &old[&m1["renditions"][0]["segments"][0]["kid"]
        .as_str()
        .unwrap()
        .to_string()];
    assert!(openssl_decrypt(
        out2.join(first["uri"].as_str().unwrap()),
        old_key,
        &format!("{:032x}", 0)
    )
    .is_none_or(|p| !is_mpeg_ts(&p)));

    // No key, and nothing of the CPIX, in OUTDIR or on the terminal.
    for f in files_under(&out2) {
        let bytes = std::fs::read(&f).unwrap();
        let text = String::from_utf8_lossy(&bytes);
        for (k, v) in &new {
            let vb = hex::decode(v).unwrap();
            assert!(
                !text.contains(v.as_str()) && !text.contains(&b64.encode(&vb)),
                "{} holds the key of {k}",
                f.display()
            );
            assert!(
                !bytes.windows(16).any(|w| w == vb.as_slice()),
                "{} holds a raw key",
                f.display()
            );
        }
        assert!(
            !text.contains("urn:dashif:org:cpix"),
            "{} is a CPIX",
            f.display()
        );
    }
    for v in new.values() {
        assert!(!said.contains(v.as_str()), "a key on the terminal: {said}");
    }
}

#[test]
fn cpix_periods_that_are_not_the_packages_are_refused_with_which_and_how() {
    let (t, _, text) = exported();
    let cpix = t.join("p.cpix.xml");
    std::fs::write(&cpix, &text).unwrap();
    let pkg = |name: &str, flags: &[&str]| {
        let mut c = shieldpack();
        c.arg("package")
            .arg(fixture("clip.mp4"))
            .arg("-o")
            .arg(t.join(name))
            .arg("--cpix")
            .arg(&cpix)
            .args(flags);
        c
    };
    // Fewer periods than keys: one period for the whole title.
    let o = run_status(&mut pkg("one", &["--segment-duration", "2"]), 2);
    let e = stderr(&o);
    assert!(
        e.contains(
            "has keys for key periods 1..2 that the package does not have (it has 1 period(s): 0)"
        ),
        "{e}"
    );
    assert!(
        e.contains("hint:") && e.contains("--rotate-segments"),
        "{e}"
    );
    assert!(!t.join("one").exists(), "nothing published");
    // More periods than keys.
    let o = run_status(
        &mut pkg(
            "six",
            &["--segment-duration", "2", "--rotate-segments", "1"],
        ),
        2,
    );
    let e = stderr(&o);
    assert!(
        e.contains("has no key for key period 3 of the package (it has periods 0..2)"),
        "{e}"
    );
    assert!(!t.join("six").exists(), "nothing published");
    // --cpix replaces the keyring.
    let o = run_status(&mut pkg("both", &["--keyring", "k.json"]), 2);
    assert!(stderr(&o).contains("cannot be used with"), "{}", stderr(&o));
}

#[test]
fn drm_flags_are_refused_where_they_cannot_apply() {
    let t = TestDir::new();
    let keyring = new_keyring(&t);
    let cases: [(&[&str], &str, &str); 6] = [
        (
            &["--drm", "widevine"],
            "--drm does not apply to --format ts with AES-128",
            "--format cmaf",
        ),
        (
            &["--drm", "widevine,primetime"],
            "unknown DRM system 'primetime'",
            "clearkey, widevine, playready, fairplay",
        ),
        (
            &[
                "--drm",
                "widevine",
                "--license-url",
                "playready=https://pr.example.com",
            ],
            "--license-url playready=https://pr.example.com names a system that --drm does not",
            "add playready to --drm",
        ),
        (
            &["--drm", "fairplay"],
            "--drm fairplay needs the skd:// key URI",
            "--license-url fairplay=skd://",
        ),
        (
            &["--license-url", "widevine=https://wv"],
            "--license-url widevine=... is given without --drm",
            "add --drm widevine",
        ),
        (
            &["--clear", "--drm", "clearkey"],
            "--drm does not apply to an unencrypted package",
            "--format cmaf",
        ),
    ];
    for (flags, what, hint) in cases {
        let mut c = package_clip(t.join("out"), &keyring);
        if flags.contains(&"--clear") {
            c = shieldpack();
            c.arg("package")
                .arg(fixture("clip.mp4"))
                .arg("-o")
                .arg(t.join("out"));
        }
        let o = run_status(c.args(flags), 2);
        let e = stderr(&o);
        assert!(e.contains(what), "{flags:?}: {e}");
        let h = e
            .split("hint:")
            .nth(1)
            .unwrap_or_else(|| panic!("{flags:?}: no hint: {e}"));
        assert!(h.contains(hint), "{flags:?}: {e}");
        assert!(!t.join("out").exists());
    }
}
