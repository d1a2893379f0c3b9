//! `--drm` wired into `--format cmaf`: each system's `pssh` in the init
//! segment, `ContentProtection` in the MPD, one EXT-X-KEY per system in the
//! HLS playlist, checked with independent parsers (pywidevine, pymp4, the
//! m3u8 library, roxmltree) and played with Shaka Player's Clear Key.

use std::path::{Path, PathBuf};

use crate::cmaf::{assert_played, play_eme};
use crate::util::*;

const WIDEVINE: &str = "edef8ba9-79d6-4ace-a3c8-27dcd51d21ed";
const PLAYREADY: &str = "9a04f079-9840-4286-ab92-e65be0885f95";
const COMMON: &str = "1077efec-c0b2-4d02-ace3-3c1e52e2fb4b";

/// A walker over a run of ISO BMFF boxes, shared by the Python scripts
/// below: yields each box's type and whole bytes.
macro_rules! py_boxes {
    () => {
        r#"def boxes(d):
    pos = 0
    while pos < len(d):
        size = int.from_bytes(d[pos:pos + 4], "big")
        assert size >= 8, (size, pos)
        yield d[pos + 4:pos + 8], d[pos:pos + size]
        pos += size
"#
    };
}

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

/// The fixture clip packaged as cmaf with a key change at every segment and
/// `extra` flags: (keyring, package folder, the segments' KIDs, two or more).
fn rotated_drm_package(t: &TestDir, extra: &[&str]) -> (PathBuf, PathBuf, Vec<String>) {
    let kr = new_keyring(t);
    let out = t.join("out");
    run_ok(
        package_clip(&out, &kr)
            .args(["--format", "cmaf", "--rotate-segments", "1"])
            .args(extra),
    );
    let kids = kids(&out);
    assert!(kids.len() >= 2, "rotation gives several KIDs: {kids:?}");
    (kr, out, kids)
}

/// pymp4 parses the init segment and lists its pssh boxes (system id, KIDs
/// of version 1 boxes); pywidevine reads the Widevine box's KIDs; the m3u8
/// library lists the playlist's EXT-X-KEY tags in order.
const READ: &str = concat!(
    r#"
import json, sys, uuid
from pymp4.parser import Box
import m3u8
from pywidevine.pssh import PSSH
data = open(sys.argv[1], "rb").read()
out = {"pssh": [], "widevine_kids": None}
"#,
    py_boxes!(),
    r#"for t, raw in boxes(data):
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
"#
);

#[test]
fn drm_cmaf_signals_every_system_in_init_mpd_and_playlist() {
    let t = TestDir::new();
    let (kr, out, kids) = rotated_drm_package(
        &t,
        &[
            "--dash",
            "--drm",
            "clearkey,widevine,playready,fairplay",
            "--license-url",
            "widevine=https://wv.example.com/lic",
            "--license-url",
            "fairplay=skd://fps.example.com/{kid}",
        ],
    );
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
    let r = verify_with_keys(&out, &keys, 0);
    assert_eq!(r["defects"], serde_json::json!([]), "{r}");
    assert_eq!(r["video_frames"], CLIP_FRAMES, "{r}");
}

/// Rewrites an init segment's `pssh` boxes as a stale or careless tool
/// would: the W3C common (Clear Key) box dropped, and the Widevine box
/// replaced by a version 1 box naming only the KID given.
const STALE_PSSH: &str = concat!(
    r#"
import sys
path, kid = sys.argv[1], bytes.fromhex(sys.argv[2])
WV = bytes.fromhex("edef8ba979d64acea3c827dcd51d21ed")
COMMON = bytes.fromhex("1077efecc0b24d02ace33c1e52e2fb4b")
"#,
    py_boxes!(),
    r#"def whole(t, body):
    return (8 + len(body)).to_bytes(4, "big") + t + body
out = b""
for t, raw in boxes(open(path, "rb").read()):
    if t == b"moov":
        body = b""
        for ct, craw in boxes(raw[8:]):
            if ct == b"pssh" and craw[12:28] == COMMON:
                continue
            if ct == b"pssh" and craw[12:28] == WV:
                craw = whole(b"pssh", b"\x01\x00\x00\x00" + WV + (1).to_bytes(4, "big") + kid + (0).to_bytes(4, "big"))
            body += craw
        raw = whole(b"moov", body)
    out += raw
open(path, "wb").write(out)
"#
);

/// verify holds each rendition's `pssh` boxes to the manifest: one per
/// system `--drm` recorded, naming every KID the segments are under. A box
/// that misses a key period's KID would leave that period unlicensed.
#[test]
fn verify_reports_pssh_boxes_that_miss_a_system_or_a_periods_kid() {
    let t = TestDir::new();
    let (kr, out, kids) = rotated_drm_package(&t, &["--drm", "clearkey,widevine"]);
    let keys = t.join("keys");
    export_key_files(&kr, &out, &keys);
    let verify = |code| verify_with_keys(&out, &keys, code);
    assert_eq!(verify(0)["defects"], serde_json::json!([]));

    run_ok(
        python()
            .arg("-c")
            .arg(STALE_PSSH)
            .arg(out.join("360p/init.mp4"))
            .arg(&kids[0]),
    );
    let r = verify(1);
    let defects: Vec<String> = r["defects"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["file"].as_str().unwrap().ends_with("360p/init.mp4"))
        .map(|d| d["message"].as_str().unwrap().to_string())
        .collect();
    assert!(
        defects
            .iter()
            .any(|m| m.contains("has no pssh box for clearkey")),
        "{r}"
    );
    let missing = defects
        .iter()
        .find(|m| m.contains("pssh box for widevine does not name KID"))
        .unwrap_or_else(|| panic!("{r}"));
    for k in &kids[1..] {
        assert!(missing.contains(k.as_str()), "{k} in {missing}");
    }
    assert!(!missing.contains(kids[0].as_str()), "{missing}");
    // The samples still decrypt: only the signalling is wrong.
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

/// Every DRM system's view of a package's KIDs, by independent parsers:
/// pywidevine reads the Widevine and PlayReady `pssh` boxes of the init
/// segment and of the MPD (it parses PlayReady's WRMHEADER, but reads its
/// KIDs' bytes big-endian: turned back into GUIDs here), pymp4 the W3C
/// common box; Python's own XML and UTF-16 reading gives PlayReady's KIDs
/// (GUID byte order, `uuid.UUID(bytes_le=...)`) and LA_URL; the m3u8 library
/// the playlist's EXT-X-KEY lines, whose data URIs go through pywidevine.
const SIGNALLED_KIDS: &str = concat!(
    r#"
import base64, json, sys, uuid
import xml.etree.ElementTree as ET
from pymp4.parser import Box
import m3u8
from pywidevine.pssh import PSSH
init, playlist, mpd = sys.argv[1:4]
WV = "edef8ba9-79d6-4ace-a3c8-27dcd51d21ed"
PR = "9a04f079-9840-4286-ab92-e65be0885f95"
"#,
    py_boxes!(),
    r#"def pywidevine_kids(p):
    ks = PSSH(p).key_ids
    if str(PSSH(p).system_id) == PR:
        ks = [uuid.UUID(bytes_le=k.bytes) for k in ks]
    return [k.hex for k in ks]
def playready(pro):
    # PlayReady Object: length, record count, then (type, length, UTF-16LE XML).
    n = int.from_bytes(pro[4:6], "little")
    pos = 6
    for _ in range(n):
        kind = int.from_bytes(pro[pos:pos + 2], "little")
        size = int.from_bytes(pro[pos + 2:pos + 4], "little")
        rec = pro[pos + 4:pos + 4 + size]
        pos += 4 + size
        if kind != 1:
            continue
        root = ET.fromstring(rec.decode("utf-16-le"))
        ns = "{http://schemas.microsoft.com/DRM/2007/03/PlayReadyHeader}"
        kids = [uuid.UUID(bytes_le=base64.b64decode(k.get("VALUE"))).hex for k in root.iter(ns + "KID")]
        la = root.find(f"{ns}DATA/{ns}LA_URL")
        return {"kids": kids, "la_url": la.text if la is not None else None}
out = {"init": {}, "hls": [], "mpd": []}
data = open(init, "rb").read()
for t, raw in boxes(data):
    if t != b"moov":
        continue
    for ct, craw in boxes(raw[8:]):
        if ct != b"pssh":
            continue
        c = Box.parse(craw)
        sid = str(c.system_ID)
        e = {"box_kids": [k.hex for k in (c.key_IDs or [])]}
        if sid in (WV, PR):
            e["pywidevine_kids"] = pywidevine_kids(craw)
        if sid == PR:
            e["playready"] = playready(c.init_data)
        out["init"][sid] = e
for k in m3u8.load(playlist).keys:
    if not k or not (k.uri or "").startswith("data:"):
        continue
    b = base64.b64decode(k.uri.split(",", 1)[1])
    if k.keyformat == "com.microsoft.playready":
        out["hls"].append({"system": PR, "kids": playready(b)["kids"]})
    else:
        out["hls"].append({"system": WV, "kids": [x.hex for x in PSSH(b).key_ids]})
CENC = "{urn:mpeg:cenc:2013}"
for cp in ET.parse(mpd).getroot().iter("{urn:mpeg:dash:schema:mpd:2011}ContentProtection"):
    e = {"scheme": cp.get("schemeIdUri"), "default_kid": cp.get(CENC + "default_KID")}
    p = cp.find(CENC + "pssh")
    if p is not None:
        e["pywidevine_kids"] = pywidevine_kids(p.text)
    pro = cp.find("{urn:microsoft:playready}pro")
    if pro is not None:
        e["pro"] = playready(base64.b64decode(pro.text))
    out["mpd"].append(e)
print(json.dumps(out))
"#
);

/// Decodes every video frame of `input` decrypted with `key`, failing on a
/// decode error: the number of frames, or None when FFmpeg complained.
fn frames_with_key(input: &Path, key: &str) -> Option<u64> {
    let out = run(ffmpeg()
        .args(["-xerror", "-decryption_key", key, "-i"])
        .arg(input)
        .args(["-map", "0:v", "-f", "framecrc", "-"]));
    (out.status.success() && stderr(&out).trim().is_empty())
        .then(|| stdout(&out).lines().filter(|l| l.starts_with("0,")).count() as u64)
}

/// Issue 22: `rekey` of a cmaf package made with `--drm` was refused. Now
/// the init segments' `pssh` boxes (Clear Key's common box, Widevine's
/// protobuf, PlayReady's WRMHEADER with its LA_URL kept), the MPD's
/// ContentProtection elements and the HLS lines are built again for the
/// new KIDs, and the samples decrypt with the new keys.
#[test]
fn rekey_of_a_drm_package_rebuilds_every_systems_signalling_for_the_new_kids() {
    let t = TestDir::new();
    let kr = new_keyring(&t);
    let out = t.join("out");
    let la_url = "https://pr.example.com/rightsmanager.asmx?cid=drm22&x=1";
    run_ok(package_clip(&out, &kr).args([
        "--format",
        "cmaf",
        "--scheme",
        "cenc",
        "--dash",
        "--rotate-segments",
        "1",
        "--content-id",
        "drm22",
        "--drm",
        "clearkey,widevine,playready",
        "--license-url",
        &format!("playready={la_url}"),
        "--license-url",
        "widevine=https://wv.example.com/lic",
    ]));
    let m: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(
        m["drm"]["systems"],
        serde_json::json!(["clearkey", "widevine", "playready"]),
        "{}",
        m["drm"]
    );
    assert_eq!(m["drm"]["license_urls"]["playready"], la_url);
    let old_kids = kids(&out);
    assert!(old_kids.len() >= 2, "{old_kids:?}");
    let old_keys = t.join("old-keys");
    export_key_files(&kr, &out, &old_keys);
    let read = || {
        stdout_json(&run_ok(
            python()
                .arg("-c")
                .arg(SIGNALLED_KIDS)
                .arg(out.join("360p/init.mp4"))
                .arg(out.join("360p/index.m3u8"))
                .arg(out.join("manifest.mpd")),
        ))
    };
    let before = read();
    assert_eq!(
        before["init"][WIDEVINE]["pywidevine_kids"],
        serde_json::json!(old_kids),
        "{before}"
    );

    run_ok(shieldpack().args(["keys", "rotate"]).arg(&kr).args([
        "--content-id",
        "drm22",
        "--from-period",
        "0",
    ]));
    run_ok(
        shieldpack()
            .arg("rekey")
            .arg(&out)
            .arg("--keyring")
            .arg(&kr),
    );
    let new_kids = kids(&out);
    assert_eq!(new_kids.len(), old_kids.len());
    assert!(
        new_kids.iter().all(|k| !old_kids.contains(k)),
        "{old_kids:?} -> {new_kids:?}"
    );
    let v = read();
    let list =
        |x: &serde_json::Value| -> Vec<String> { serde_json::from_value(x.clone()).unwrap() };
    // Init: every system's box names the new KIDs, and no old one.
    assert_eq!(list(&v["init"][COMMON]["box_kids"]), new_kids, "{v}");
    assert_eq!(
        list(&v["init"][WIDEVINE]["pywidevine_kids"]),
        new_kids,
        "{v}"
    );
    assert_eq!(
        list(&v["init"][PLAYREADY]["pywidevine_kids"]),
        new_kids,
        "{v}"
    );
    let pr = &v["init"][PLAYREADY]["playready"];
    assert_eq!(list(&pr["kids"]), new_kids, "{v}");
    assert_eq!(pr["la_url"], la_url, "LA_URL kept: {v}");
    let init = std::fs::read(out.join("360p/init.mp4")).unwrap();
    for k in &old_kids {
        let b = hex::decode(k).unwrap();
        assert!(
            !init.windows(16).any(|w| w == b.as_slice()),
            "init.mp4 still names {k}"
        );
    }
    // HLS: each key change's Widevine and PlayReady line names its new KID.
    let hls = v["hls"].as_array().unwrap();
    assert_eq!(hls.len(), 2 * new_kids.len(), "{v}");
    for (i, k) in new_kids.iter().enumerate() {
        assert_eq!(hls[2 * i]["system"], WIDEVINE, "{v}");
        assert_eq!(list(&hls[2 * i]["kids"]), std::slice::from_ref(k), "{v}");
        assert_eq!(
            list(&hls[2 * i + 1]["kids"]),
            std::slice::from_ref(k),
            "{v}"
        );
    }
    // MPD: on each AdaptationSet, default_KID is the new first KID in every
    // element, the pssh data name the new KIDs, PlayReady's pro the first.
    let mpd = v["mpd"].as_array().unwrap();
    assert_eq!(mpd.len(), 2 * 4, "two sets of four elements: {v}");
    for e in mpd {
        assert_eq!(
            e["default_kid"].as_str().unwrap().replace('-', ""),
            new_kids[0],
            "{e}"
        );
        if let Some(k) = e.get("pywidevine_kids") {
            assert_eq!(list(k), new_kids, "{e}");
        }
        if let Some(p) = e.get("pro") {
            assert_eq!(list(&p["kids"]), [new_kids[0].clone()], "{e}");
            assert_eq!(p["la_url"], la_url, "{e}");
        }
    }
    let text = std::fs::read_to_string(out.join("manifest.mpd")).unwrap();
    assert!(text.contains("<dashif:laurl>https://wv.example.com/lic</dashif:laurl>"));
    // FFmpeg decodes every frame with the new keys, and not with the old.
    let new_keys = t.join("new-keys");
    export_key_files(&kr, &out, &new_keys);
    let key =
        |dir: &Path, kid: &str| hex::encode(std::fs::read(dir.join(format!("{kid}.key"))).unwrap());
    let mut frames = 0;
    for (i, seg) in crate::cmaf::segments(&out).iter().enumerate() {
        let j = crate::cmaf::joined(&t, &out, seg);
        frames += frames_with_key(&j, &key(&new_keys, &new_kids[i]))
            .unwrap_or_else(|| panic!("{} does not decode with its new key", seg.display()));
        assert_ne!(
            crate::cmaf::packet_md5s(&j, "0:v", Some(&key(&old_keys, &old_kids[i]))),
            crate::cmaf::packet_md5s(&j, "0:v", Some(&key(&new_keys, &new_kids[i]))),
            "{} still decrypts with its old key",
            seg.display()
        );
    }
    assert_eq!(frames, CLIP_FRAMES);
    let r = verify_with_keys(&out, &new_keys, 0);
    assert_eq!(r["defects"], serde_json::json!([]), "{r}");
    assert_eq!(r["video_frames"], CLIP_FRAMES, "{r}");
}

/// A package whose Widevine `pssh` is a provider's (`package --cpix` with
/// the box in its DRMSystemList) is refused by `rekey`, which cannot make
/// the provider's data for new KIDs, and left byte for byte as it was.
#[test]
fn rekey_refuses_a_package_whose_pssh_came_from_a_providers_cpix() {
    let t = TestDir::new();
    let kr = new_keyring(&t);
    let flags = [
        "--format",
        "cmaf",
        "--scheme",
        "cenc",
        "--content-id",
        "cpix22",
    ];
    let first = t.join("first");
    run_ok(package_clip(&first, &kr).args(flags));
    let cpix = t.join("provider.cpix.xml");
    run_ok(
        shieldpack()
            .args(["keys", "export"])
            .arg(&kr)
            .arg("--package")
            .arg(&first)
            .args(["--format", "cpix", "-o"])
            .arg(&cpix),
    );
    // The provider's Widevine box: its own data (a provider field the
    // packager does not write) for the package's KID.
    let kid = kids(&first)[0].clone();
    let mut data = vec![0x12, 16];
    data.extend(hex::decode(&kid).unwrap());
    data.extend([0x1a, 8]);
    data.extend(b"provider");
    let mut body = vec![0, 0, 0, 0];
    body.extend(hex::decode(WIDEVINE.replace('-', "")).unwrap());
    body.extend((data.len() as u32).to_be_bytes());
    body.extend(&data);
    let mut pssh = ((body.len() + 8) as u32).to_be_bytes().to_vec();
    pssh.extend(b"pssh");
    pssh.extend(&body);
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD.encode(&pssh);
    let kid_uuid = format!(
        "{}-{}-{}-{}-{}",
        &kid[0..8],
        &kid[8..12],
        &kid[12..16],
        &kid[16..20],
        &kid[20..]
    );
    let text = std::fs::read_to_string(&cpix).unwrap().replacen(
        "</cpix:ContentKeyList>",
        &format!("</cpix:ContentKeyList>\n  <cpix:DRMSystemList><cpix:DRMSystem kid=\"{kid_uuid}\" systemId=\"{WIDEVINE}\"><cpix:PSSH>{b64}</cpix:PSSH></cpix:DRMSystem></cpix:DRMSystemList>"),
        1,
    );
    assert!(text.contains("<cpix:PSSH>"), "{text}");
    std::fs::write(&cpix, text).unwrap();
    let out = t.join("out");
    run_ok(
        shieldpack()
            .arg("package")
            .arg(fixture("clip.mp4"))
            .arg("-o")
            .arg(&out)
            .arg("--cpix")
            .arg(&cpix)
            .args(flags)
            .args(["--dash", "--drm", "widevine,playready"]),
    );
    // The provider's box is the one in the init segment.
    let init = std::fs::read(out.join("360p/init.mp4")).unwrap();
    assert!(init.windows(pssh.len()).any(|w| w == pssh.as_slice()));
    let m: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(m["drm"]["cpix_pssh"], true, "{}", m["drm"]);

    run_ok(shieldpack().args(["keys", "rotate"]).arg(&kr).args([
        "--content-id",
        "cpix22",
        "--from-period",
        "0",
    ]));
    let before = snapshot(&out);
    let o = run(shieldpack()
        .arg("rekey")
        .arg(&out)
        .arg("--keyring")
        .arg(&kr));
    assert!(!o.status.success());
    let e = stderr(&o);
    assert!(
        e.contains("pssh data came from a DRM provider's CPIX document"),
        "{e}"
    );
    assert!(
        e.contains("hint:") && e.contains("rekey with a new CPIX is not supported"),
        "{e}"
    );
    assert_eq!(snapshot(&out), before, "the package changed");
}
