//! `--key-scope track-type` (issue 21 item 5): a 720p + 360p package with
//! alternate audio gets three keys a period (HD, SD, AUDIO), as DRM key
//! servers issue them; openssl decrypts every segment with the exported key
//! files, verify and rekey follow the track types, and the CPIX export (usage
//! rules with VideoFilter / AudioFilter) drives `package --cpix` to the same
//! KIDs.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use crate::util::*;

const SECONDS: u32 = 2;
const FLAGS: [&str; 6] = [
    "--segment-duration",
    "1",
    "--rotate-segments",
    "1",
    "--key-scope",
    "track-type",
];

/// An H.264 input of `w`x`h`, a keyframe a second, with English and French AAC.
fn input(t: &TestDir, w: u32, h: u32) -> PathBuf {
    let out = t.join(format!("in{h}.mp4"));
    run_ok(
        ffmpeg()
            .args(["-f", "lavfi", "-i"])
            .arg(format!("testsrc2=size={w}x{h}:rate=25:duration={SECONDS}"))
            .args(["-f", "lavfi", "-i"])
            .arg(format!("sine=frequency=440:duration={SECONDS}"))
            .args(["-f", "lavfi", "-i"])
            .arg(format!("sine=frequency=880:duration={SECONDS}"))
            .args(["-map", "0:v", "-map", "1:a", "-map", "2:a"])
            .args(["-c:v", "libx264", "-preset", "ultrafast", "-g", "25"])
            .args(["-sc_threshold", "0", "-c:a", "aac", "-b:a", "64k"])
            .args(["-metadata:s:a:0", "language=eng"])
            .args(["-metadata:s:a:1", "language=fra"])
            .arg(&out),
    );
    out
}

fn manifest(out: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(out.join("manifest.json")).unwrap()).unwrap()
}

/// Per segment: (rendition, track type, period, generation, kid).
fn keyed(m: &serde_json::Value) -> Vec<(String, String, u64, u64, String)> {
    let mut v = Vec::new();
    for r in m["renditions"].as_array().unwrap() {
        for s in r["segments"].as_array().unwrap() {
            let Some(kid) = s["kid"].as_str() else {
                continue;
            };
            v.push((
                r["name"].as_str().unwrap().to_string(),
                r["track_type"].as_str().unwrap_or("none").to_string(),
                s["period"].as_u64().unwrap(),
                s["generation"].as_u64().unwrap(),
                kid.to_string(),
            ));
        }
    }
    v
}

/// Checks three KIDs a period, one per track type, none shared across
/// periods or types; returns (period, track type) -> kid.
fn three_kids_a_period(m: &serde_json::Value) -> BTreeMap<(u64, String), String> {
    assert_eq!(m["key_scope"], "track-type", "{m}");
    let mut by: BTreeMap<(u64, String), String> = BTreeMap::new();
    for (name, track, period, _, kid) in keyed(m) {
        let want = match name.as_str() {
            "720p" => "HD",
            "360p" => "SD",
            n if n.starts_with("audio-") => "AUDIO",
            n => panic!("unexpected rendition {n}"),
        };
        assert_eq!(track, want, "{name}");
        let had = by.entry((period, track.clone())).or_insert(kid.clone());
        assert_eq!(*had, kid, "{name} period {period}: two {track} keys");
    }
    let periods: BTreeSet<u64> = by.keys().map(|k| k.0).collect();
    assert_eq!(periods.len(), SECONDS as usize, "{by:?}");
    for p in &periods {
        let types: Vec<&str> = by
            .keys()
            .filter(|k| k.0 == *p)
            .map(|k| k.1.as_str())
            .collect();
        assert_eq!(types, ["AUDIO", "HD", "SD"], "period {p}");
    }
    let distinct: BTreeSet<&String> = by.values().collect();
    assert_eq!(distinct.len(), by.len(), "a KID serves two keys: {by:?}");
    by
}

/// openssl decrypts every encrypted segment of `out` with the key file named
/// by its KID in `keys` and its IV from the manifest, to MPEG-TS.
fn openssl_opens_every_segment(out: &Path, keys: &Path) -> usize {
    let m = manifest(out);
    let mut n = 0;
    for r in m["renditions"].as_array().unwrap() {
        for s in r["segments"].as_array().unwrap() {
            let Some(kid) = s["kid"].as_str() else {
                continue;
            };
            let key = hex::encode(std::fs::read(keys.join(format!("{kid}.key"))).unwrap());
            let iv = s["iv"].as_str().expect("several inputs derive IVs");
            let seg = out.join(s["uri"].as_str().unwrap());
            let plain = openssl_decrypt(&seg, &key, iv)
                .unwrap_or_else(|| panic!("openssl cannot decrypt {}", seg.display()));
            assert!(
                is_mpeg_ts(&plain),
                "{} is not TS once decrypted",
                seg.display()
            );
            n += 1;
        }
    }
    n
}

#[test]
fn track_type_keys_hd_sd_audio_decrypt_verify_rekey_and_round_trip_through_cpix() {
    let t = TestDir::new();
    let keyring = new_keyring(&t);
    let inputs = [input(&t, 1280, 720), input(&t, 640, 360)];
    let out = t.join("out");
    run_ok(
        package_input(&inputs[0], &out, &keyring)
            .arg(&inputs[1])
            .args(FLAGS)
            .args(["--content-id", "scoped"]),
    );
    let m = manifest(&out);
    let by = three_kids_a_period(&m);

    // The period scope of the same title and keyring keeps its own keys:
    // none of them is a track type's.
    let plain = t.join("period");
    run_ok(
        package_input(&inputs[0], &plain, &keyring)
            .arg(&inputs[1])
            .args(&FLAGS[..4])
            .args(["--content-id", "scoped"]),
    );
    let pm = manifest(&plain);
    assert!(pm.get("key_scope").is_none(), "period scope is not written");
    let period_kids: BTreeSet<String> = keyed(&pm).into_iter().map(|k| k.4).collect();
    assert_eq!(period_kids.len(), SECONDS as usize);
    assert!(by.values().all(|k| !period_kids.contains(k)));

    // Key files: openssl opens every segment; verify passes with them and
    // with the keyring.
    let keys = t.join("keys");
    export_key_files(&keyring, &out, &keys);
    let exported = std::fs::read_dir(&keys)
        .unwrap()
        .filter(|e| e.as_ref().unwrap().path().extension() == Some("key".as_ref()))
        .count();
    assert_eq!(exported, by.len(), "one key file per period and track type");
    let segments = openssl_opens_every_segment(&out, &keys);
    assert!(segments >= 4 * SECONDS as usize, "{segments} segments");
    run_ok(
        shieldpack()
            .arg("verify")
            .arg(&out)
            .arg("--keys")
            .arg(&keys),
    );
    run_ok(
        shieldpack()
            .arg("verify")
            .arg(&out)
            .arg("--keyring")
            .arg(&keyring),
    );
    let o = run_ok(shieldpack().arg("inspect").arg(&out));
    let text = stdout(&o);
    assert!(text.contains("key scope:    track-type"), "{text}");
    assert!(text.contains("period 1 gen 0 HD: kid"), "{text}");

    // CPIX: a usage rule per key with its track type and filter, which
    // `package --cpix` reads back to the same KIDs, segment for segment.
    let cpix = t.join("keys.cpix.xml");
    run_ok(
        shieldpack()
            .args(["keys", "export"])
            .arg(&keyring)
            .arg("--package")
            .arg(&out)
            .args(["--format", "cpix", "-o"])
            .arg(&cpix),
    );
    let doc = std::fs::read_to_string(&cpix).unwrap();
    assert!(doc.contains("intendedTrackType=\"HD\""), "{doc}");
    assert!(
        doc.contains("<cpix:VideoFilter minPixels=\"442369\" maxPixels=\"2073600\"/>"),
        "{doc}"
    );
    assert!(doc.contains("<cpix:VideoFilter minPixels=\"0\" maxPixels=\"442368\"/>"));
    assert!(doc.contains("<cpix:AudioFilter/>"));
    let from_cpix = t.join("from-cpix");
    run_ok(
        shieldpack()
            .arg("package")
            .arg(&inputs[0])
            .arg(&inputs[1])
            .arg("-o")
            .arg(&from_cpix)
            .arg("--cpix")
            .arg(&cpix)
            .args(FLAGS),
    );
    let kids = |m: &serde_json::Value| -> Vec<(String, u64, String)> {
        keyed(m).into_iter().map(|k| (k.0, k.2, k.4)).collect()
    };
    assert_eq!(kids(&manifest(&from_cpix)), kids(&m));
    let o = run_code(
        shieldpack()
            .arg("package")
            .arg(&inputs[0])
            .arg(&inputs[1])
            .arg("-o")
            .arg(t.join("period-from-cpix"))
            .arg("--cpix")
            .arg(&cpix)
            .args(&FLAGS[..4]),
        2,
    );
    let e = stderr(&o);
    assert!(
        e.contains("by track type") && e.contains("hint: add --key-scope track-type"),
        "{e}"
    );

    // Rekey from period 1 on: new keys there, still three, and everything
    // verifies and decrypts with the new key files.
    run_ok(shieldpack().args(["keys", "rotate"]).arg(&keyring).args([
        "--content-id",
        "scoped",
        "--from-period",
        "1",
    ]));
    run_ok(
        shieldpack()
            .arg("rekey")
            .arg(&out)
            .arg("--keyring")
            .arg(&keyring),
    );
    let m2 = manifest(&out);
    let by2 = three_kids_a_period(&m2);
    for ((p, track), kid) in &by2 {
        assert_eq!(
            *p == 0,
            by[&(*p, track.clone())] == *kid,
            "period {p} {track}"
        );
    }
    assert!(keyed(&m2).iter().all(|k| k.3 == u64::from(k.2 >= 1)));
    run_ok(
        shieldpack()
            .arg("verify")
            .arg(&out)
            .arg("--keyring")
            .arg(&keyring),
    );
    let keys2 = t.join("keys2");
    export_key_files(&keyring, &out, &keys2);
    assert_eq!(openssl_opens_every_segment(&out, &keys2), segments);
}

/// With a scene policy, the track types' keys follow the scenes: a clear
/// scene is clear in every rendition, audio included; a protected scene's
/// keys are its own in every track type; policy.json lists every KID of a
/// scene (the license server gives each track type's key the scene's
/// level), and verify catches a list that leaves one out.
#[test]
fn track_type_keys_follow_a_scene_policy_in_every_rendition() {
    let t = TestDir::new();
    let keyring = new_keyring(&t);
    let inputs = [input(&t, 1280, 720), input(&t, 640, 360)];
    let policy = t.join("policy.json");
    std::fs::write(
        &policy,
        r#"{"scenes":[
            {"label":"intro","start":"0","end":"1","drm_level":"clear","hdcp":false},
            {"label":"match","start":"1","end":"2","drm_level":"L1","hdcp":"2.2"}]}"#,
    )
    .unwrap();
    let out = t.join("out");
    run_ok(
        package_input(&inputs[0], &out, &keyring)
            .arg(&inputs[1])
            .args(FLAGS)
            .arg("--policy")
            .arg(&policy),
    );
    let m = manifest(&out);
    assert_eq!(m["key_scope"], "track-type", "{m}");
    // Every keyed rendition: the intro segment clear, the match segment under
    // its track type's key; three distinct KIDs in all.
    let mut match_kids = BTreeSet::new();
    for r in m["renditions"].as_array().unwrap() {
        let segs = r["segments"].as_array().unwrap();
        assert_eq!(segs.len(), 2, "{}", r["name"]);
        assert!(
            segs[0]["kid"].is_null(),
            "{}: the clear intro is encrypted",
            r["name"]
        );
        let kid = segs[1]["kid"]
            .as_str()
            .unwrap_or_else(|| panic!("{}: the match is clear", r["name"]));
        match_kids.insert((
            r["track_type"].as_str().unwrap().to_string(),
            kid.to_string(),
        ));
    }
    let types: BTreeSet<&str> = match_kids.iter().map(|k| k.0.as_str()).collect();
    assert_eq!(types, BTreeSet::from(["AUDIO", "HD", "SD"]));
    let kids: BTreeSet<String> = match_kids.iter().map(|k| k.1.clone()).collect();
    assert_eq!(kids.len(), 3, "{match_kids:?}");
    // policy.json lists all three for the match, none for the intro.
    let resolved: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("policy.json")).unwrap()).unwrap();
    let scene_kids = |i: usize| -> BTreeSet<String> {
        resolved["scenes"][i]["kids"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k.as_str().unwrap().to_string())
            .collect()
    };
    assert!(scene_kids(0).is_empty(), "{resolved}");
    assert_eq!(scene_kids(1), kids, "{resolved}");
    // Decrypts with the exported key files; verify passes, and flags a
    // policy.json that leaves the audio key out.
    let keys = t.join("keys");
    export_key_files(&keyring, &out, &keys);
    assert_eq!(
        openssl_opens_every_segment(&out, &keys),
        m["renditions"].as_array().unwrap().len()
    );
    run_ok(
        shieldpack()
            .arg("verify")
            .arg(&out)
            .arg("--keyring")
            .arg(&keyring),
    );
    let audio_kid = &match_kids.iter().find(|k| k.0 == "AUDIO").unwrap().1;
    let mut cut = resolved.clone();
    cut["scenes"][1]["kids"]
        .as_array_mut()
        .unwrap()
        .retain(|k| k.as_str() != Some(audio_kid.as_str()));
    let cut = serde_json::to_string_pretty(&cut).unwrap();
    std::fs::write(out.join("policy.json"), &cut).unwrap();
    let o = run_code(
        shieldpack()
            .arg("verify")
            .arg(&out)
            .arg("--keyring")
            .arg(&keyring),
        1,
    );
    let e = stdout(&o) + &stderr(&o);
    assert!(e.contains("scene 'match' lists KIDs"), "{e}\n{cut}");
}
