//! `--drm` wired into `--format cmaf`: each system's `pssh` in the init
//! segment, `ContentProtection` in the MPD, one EXT-X-KEY per system in the
//! HLS playlist, checked with independent parsers (pywidevine, pymp4, the
//! m3u8 library, roxmltree) and played with Shaka Player's Clear Key.

use std::path::Path;

use crate::cmaf::{assert_played, play_eme};
use crate::util::*;

const WIDEVINE: &str = "edef8ba9-79d6-4ace-a3c8-27dcd51d21ed";
const PLAYREADY: &str = "9a04f079-9840-4286-ab92-e65be0885f95";
const COMMON: &str = "1077efec-c0b2-4d02-ace3-3c1e52e2fb4b";

/// The KIDs of the package's segments (manifest.json), each once, in order.
fn kids(out: &Path) -> Vec<String> {
    let m: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("manifest.json")).unwrap()).unwrap();
    let mut v: Vec<String> = Vec::new();
    for s in m["renditions"][0]["segments"].as_array().unwrap() {
        let k = s["kid"].as_str().unwrap().to_string();
        if !v.contains(&k) {
            v.push(k);
        }
    }
    v
}

/// pymp4 parses the init segment and lists its pssh boxes (system id, KIDs
/// of version 1 boxes); pywidevine reads the Widevine box's KIDs; the m3u8
/// library lists the playlist's EXT-X-KEY tags in order.
const READ: &str = r#"
import json, sys, uuid
from pymp4.parser import Box
import m3u8
from pywidevine.pssh import PSSH
data = open(sys.argv[1], "rb").read()
out = {"pssh": [], "widevine_kids": None}
def boxes(d):
    pos = 0
    while pos < len(d):
        size = int.from_bytes(d[pos:pos + 4], "big")
        assert size >= 8, (size, pos)
        yield d[pos + 4:pos + 8], d[pos:pos + size]
        pos += size
for t, raw in boxes(data):
    if t != b"moov":
        continue
    for ct, craw in boxes(raw[8:]):
        if ct != b"pssh":
            continue
        c = Box.parse(craw)
        sid = str(c.system_ID)
        out["pssh"].append({"system": sid, "kids": [k.hex for k in (c.key_IDs or [])]})
        if sid == "edef8ba9-79d6-4ace-a3c8-27dcd51d21ed":
            out["widevine_kids"] = [k.hex for k in PSSH(craw).key_ids]
pl = m3u8.load(sys.argv[2])
out["hls_keys"] = [{"method": k.method, "keyformat": k.keyformat, "versions": k.keyformatversions, "uri": k.uri} for k in pl.keys if k]
print(json.dumps(out))
"#;

#[test]
fn drm_cmaf_signals_every_system_in_init_mpd_and_playlist() {
    let t = TestDir::new();
    let kr = new_keyring(&t);
    let out = t.join("out");
    run_ok(package_clip(&out, &kr).args([
        "--format",
        "cmaf",
        "--dash",
        "--rotate-segments",
        "1",
        "--drm",
        "clearkey,widevine,playready,fairplay",
        "--license-url",
        "widevine=https://wv.example.com/lic",
        "--license-url",
        "fairplay=skd://fps.example.com/{kid}",
    ]));
    let kids = kids(&out);
    assert!(kids.len() >= 2, "rotation gives several KIDs: {kids:?}");
    let v = stdout_json(&run_ok(
        python()
            .arg("-c")
            .arg(READ)
            .arg(out.join("360p/init.mp4"))
            .arg(out.join("360p/index.m3u8")),
    ));
    // Init: one box each for Clear Key (W3C common id, KIDs in the box),
    // Widevine and PlayReady, none for FairPlay; every period's KIDs.
    let systems: Vec<&str> = v["pssh"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["system"].as_str().unwrap())
        .collect();
    assert_eq!(systems, [COMMON, WIDEVINE, PLAYREADY], "{v}");
    let common_kids: Vec<String> = serde_json::from_value(v["pssh"][0]["kids"].clone()).unwrap();
    assert_eq!(common_kids, kids);
    let wv_kids: Vec<String> = serde_json::from_value(v["widevine_kids"].clone()).unwrap();
    assert_eq!(wv_kids, kids, "pywidevine's KIDs");
    // HLS: the identity line and one per further system, KEYID the first period's.
    let keys = &v["hls_keys"].as_array().unwrap()[..4];
    let formats: Vec<&str> = keys
        .iter()
        .map(|k| k["keyformat"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(
        formats,
        [
            "identity",
            &format!("urn:uuid:{WIDEVINE}"),
            "com.microsoft.playready",
            "com.apple.streamingkeydelivery"
        ],
        "{v}"
    );
    assert!(keys.iter().all(|k| k["method"] == "SAMPLE-AES"), "{v}");
    assert!(keys.iter().all(|k| k["versions"] == "1"), "{v}");
    assert_eq!(keys[3]["uri"], format!("skd://fps.example.com/{}", kids[0]));
    let playlist = std::fs::read_to_string(out.join("360p/index.m3u8")).unwrap();
    assert_eq!(
        playlist.matches("#EXT-X-KEY:").count(),
        4 * kids.len(),
        "four lines at every key change:\n{playlist}"
    );
    // The m3u8 library does not read KEYID; each period's is in its lines.
    for k in &kids {
        assert_eq!(
            playlist.matches(&format!("KEYID=0x{k}")).count(),
            3,
            "identity, Widevine, PlayReady name {k}:\n{playlist}"
        );
    }
    // DASH: on each AdaptationSet (video, and the clip's audio as a track
    // of its own), mp4protection plus one element per system with a DASH id.
    let mpd = std::fs::read_to_string(out.join("manifest.mpd")).unwrap();
    let doc = roxmltree::Document::parse(&mpd).expect("manifest.mpd is XML");
    let sets: Vec<_> = doc
        .descendants()
        .filter(|n| n.has_tag_name("AdaptationSet"))
        .collect();
    assert_eq!(sets.len(), 2, "{mpd}");
    for set in &sets {
        let cps: Vec<_> = set
            .children()
            .filter(|n| n.has_tag_name("ContentProtection"))
            .collect();
        let schemes: Vec<&str> = cps
            .iter()
            .map(|n| n.attribute("schemeIdUri").unwrap())
            .collect();
        assert_eq!(
            schemes,
            [
                "urn:mpeg:dash:mp4protection:2011",
                "urn:uuid:e2719d58-a985-b3c9-781a-b030af78d30e",
                &format!("urn:uuid:{WIDEVINE}"),
                &format!("urn:uuid:{PLAYREADY}"),
            ],
            "{mpd}"
        );
        for cp in &cps {
            let d = cp
                .attribute(("urn:mpeg:cenc:2013", "default_KID"))
                .expect("cenc:default_KID");
            assert_eq!(d.replace('-', ""), kids[0]);
        }
        let laurl = cps[2]
            .descendants()
            .find(|n| n.has_tag_name("laurl"))
            .and_then(|n| n.text());
        assert_eq!(laurl, Some("https://wv.example.com/lic"));
    }
    // verify still decrypts every sample and accepts the init with its
    // pssh boxes and the playlist with its further EXT-X-KEY lines.
    let keys = t.join("keys");
    export_key_files(&kr, &out, &keys);
    let r = stdout_json(&run_ok(
        shieldpack()
            .arg("verify")
            .arg(&out)
            .arg("--keys")
            .arg(&keys)
            .arg("--json"),
    ));
    assert_eq!(r["defects"], serde_json::json!([]), "{r}");
    assert_eq!(r["video_frames"], CLIP_FRAMES, "{r}");
}

#[test]
fn drm_fairplay_is_refused_with_cenc() {
    let t = TestDir::new();
    let kr = new_keyring(&t);
    let e = run_status(
        package_clip(t.join("out"), &kr).args([
            "--format",
            "cmaf",
            "--scheme",
            "cenc",
            "--drm",
            "fairplay",
            "--license-url",
            "fairplay=skd://fps.example.com/{kid}",
        ]),
        2,
    );
    let msg = stderr(&e);
    assert!(msg.contains("FairPlay licenses only cbcs"), "{msg}");
    assert!(
        msg.contains("hint:") && msg.contains("--scheme cbcs"),
        "{msg}"
    );
    assert!(!t.join("out").exists());
}

/// Shaka Player with Clear Key keys plays the DASH cenc package whose MPD
/// also names Widevine and PlayReady: the other systems do not get in the way.
#[test]
fn drm_clearkey_widevine_package_plays_in_shaka() {
    let t = TestDir::new();
    let kr = new_keyring(&t);
    let out = t.join("out");
    run_ok(package_clip(&out, &kr).args([
        "--format",
        "cmaf",
        "--scheme",
        "cenc",
        "--dash",
        "--drm",
        "clearkey,widevine",
    ]));
    let keys_dir = t.join("keys");
    export_key_files(&kr, &out, &keys_dir);
    let keys: Vec<(String, String)> = files_under(&keys_dir)
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "key"))
        .map(|p| {
            (
                p.file_stem().unwrap().to_string_lossy().into_owned(),
                hex::encode(std::fs::read(&p).unwrap()),
            )
        })
        .collect();
    let n = files_under(&out.join("360p"))
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "m4s"))
        .count();
    let server = HttpServer::serve(&out);
    assert_played(&play_eme(&server.url("manifest.mpd"), "shaka", &keys), n);
}
