//! Cross-checks of the DRM signalling against independent parsers: pymp4
//! reads every `pssh` box, pywidevine's protobuf schema reads the Widevine
//! data, Python's `uuid` (its `bytes_le` is the Microsoft GUID layout)
//! checks PlayReady's KID byte order, and the XML parts go through roxmltree.

use std::path::PathBuf;
use std::process::Command;

use super::*;

/// KIDs with asymmetric bytes, so any byte-order mistake shows.
const KIDS: [[u8; 16]; 2] = [
    hex16("00112233445566778899aabbccddeeff"),
    hex16("0123456789abcdeffedcba9876543210"),
];

fn python() -> Command {
    let py = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../.venv/bin/python");
    assert!(
        py.is_file(),
        "{} is missing: run scripts/setup.sh, which makes the test venv",
        py.display()
    );
    Command::new(py)
}

/// Runs `script` with `args`; its stdout parsed as JSON.
fn py_json(script: &str, args: &[String]) -> serde_json::Value {
    let out = python().arg("-c").arg(script).args(args).output().unwrap();
    assert!(
        out.status.success(),
        "python failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn opts() -> DrmOptions {
    let mut o = DrmOptions {
        content_id: "title-1".into(),
        provider: Some("shieldpack".into()),
        scheme: Some(*b"cbcs"),
        ..Default::default()
    };
    add_license_url(
        &mut o,
        "playready=https://pr.example.com/rightsmanager.asmx?a=1&b=2",
    )
    .unwrap();
    add_license_url(&mut o, "clearkey=https://ck.example.com/license").unwrap();
    add_license_url(&mut o, "fairplay=skd://fps.example.com/{content_id}/{kid}").unwrap();
    o
}

const PYMP4: &str = r#"
import sys, json, base64
from pymp4.parser import Box
out = []
for a in sys.argv[1:]:
    raw = base64.b64decode(a)
    b = Box.parse(raw)
    assert Box.build(b) == raw, "pymp4 rebuilds other bytes"
    out.append({"type": b.type.decode(), "version": b.version,
                "system": str(b.system_ID),
                "kids": [str(k) for k in (b.key_IDs or [])],
                "data": base64.b64encode(b.init_data).decode()})
print(json.dumps(out))
"#;

#[test]
fn pymp4_parses_every_pssh_box() {
    let o = opts();
    let systems = [
        DrmSystem::ClearKey,
        DrmSystem::Widevine,
        DrmSystem::PlayReady,
    ];
    let boxes: Vec<String> = systems
        .iter()
        .map(|s| b64(&pssh_box(*s, &KIDS, &o).unwrap()))
        .collect();
    let v = py_json(PYMP4, &boxes);
    for (i, s) in systems.iter().enumerate() {
        assert_eq!(v[i]["type"], "pssh");
        assert_eq!(v[i]["system"], uuid(&s.system_id()), "{s:?}");
    }
    // W3C common PSSH: version 1, the KIDs in the box, no data.
    assert_eq!(v[0]["system"], "1077efec-c0b2-4d02-ace3-3c1e52e2fb4b");
    assert_eq!(v[0]["version"], 1);
    assert_eq!(
        v[0]["kids"],
        serde_json::json!([uuid(&KIDS[0]), uuid(&KIDS[1])])
    );
    assert_eq!(v[0]["data"], "");
    assert_eq!(v[1]["version"], 0);
    assert_eq!(v[2]["version"], 0);
    assert!(pssh_box(DrmSystem::FairPlay, &KIDS, &o).is_none());
}

const PYWIDEVINE: &str = r#"
import sys, json, base64, uuid
from pywidevine.pssh import PSSH
from pywidevine.license_protocol_pb2 import WidevinePsshData
p = PSSH(sys.argv[1], strict=True)
d = WidevinePsshData()
d.ParseFromString(p.init_data)
assert d.SerializeToString() == p.init_data, "not exactly a WidevinePsshData"
q = PSSH(sys.argv[2], strict=True)
print(json.dumps({
  "system": str(p.system_id),
  "kids": [str(k) for k in p.key_ids],
  "provider": d.provider,
  "content_id": d.content_id.decode(),
  "scheme": d.protection_scheme.to_bytes(4, "big").decode(),
  "pr_system": str(q.system_id),
  "pr_kids_le": [str(uuid.UUID(bytes_le=k.bytes)) for k in q.key_ids],
}))
"#;

#[test]
fn pywidevine_reads_our_widevine_and_playready_kids() {
    let o = opts();
    let wv = b64(&pssh_box(DrmSystem::Widevine, &KIDS, &o).unwrap());
    let pr = b64(&pssh_box(DrmSystem::PlayReady, &KIDS, &o).unwrap());
    let v = py_json(PYWIDEVINE, &[wv, pr]);
    assert_eq!(v["system"], "edef8ba9-79d6-4ace-a3c8-27dcd51d21ed");
    assert_eq!(
        v["kids"],
        serde_json::json!([uuid(&KIDS[0]), uuid(&KIDS[1])])
    );
    assert_eq!(v["provider"], "shieldpack");
    assert_eq!(v["content_id"], "title-1");
    assert_eq!(v["scheme"], "cbcs");
    assert_eq!(v["pr_system"], "9a04f079-9840-4286-ab92-e65be0885f95");
    // pywidevine reads a PlayReady KID's base64 as big-endian bytes; read as
    // a GUID (Python's bytes_le) it must give our KID back.
    assert_eq!(
        v["pr_kids_le"],
        serde_json::json!([uuid(&KIDS[0]), uuid(&KIDS[1])])
    );
}

#[test]
fn playready_header_is_xml_with_our_kids_and_la_url() {
    let o = opts();
    let pro = playready_object(&KIDS, &o);
    let total = u32::from_le_bytes(pro[0..4].try_into().unwrap()) as usize;
    assert_eq!(total, pro.len());
    assert_eq!(u16::from_le_bytes([pro[4], pro[5]]), 1, "one record");
    assert_eq!(
        u16::from_le_bytes([pro[6], pro[7]]),
        1,
        "a rights management header"
    );
    let len = u16::from_le_bytes([pro[8], pro[9]]) as usize;
    assert_eq!(10 + len, pro.len());
    let units: Vec<u16> = pro[10..]
        .chunks(2)
        .map(|c| u16::from_le_bytes([c[0], c[1]]))
        .collect();
    let xml = String::from_utf16(&units).unwrap();
    let doc = roxmltree::Document::parse(&xml).unwrap();
    let root = doc.root_element();
    assert_eq!(root.tag_name().name(), "WRMHEADER");
    assert_eq!(
        root.tag_name().namespace(),
        Some("http://schemas.microsoft.com/DRM/2007/03/PlayReadyHeader")
    );
    assert_eq!(root.attribute("version"), Some("4.3.0.0"));
    let kids: Vec<[u8; 16]> = doc
        .descendants()
        .filter(|n| n.has_tag_name("KID"))
        .map(|n| {
            assert_eq!(n.attribute("ALGID"), Some("AESCBC"));
            let g = base64::engine::general_purpose::STANDARD
                .decode(n.attribute("VALUE").unwrap())
                .unwrap();
            guid_bytes(&g.try_into().unwrap())
        })
        .collect();
    assert_eq!(kids, KIDS);
    let la = doc
        .descendants()
        .find(|n| n.has_tag_name("LA_URL"))
        .unwrap();
    assert_eq!(
        la.text(),
        Some("https://pr.example.com/rightsmanager.asmx?a=1&b=2")
    );
    // The GUID layout, by hand: the first three fields byte-swapped.
    assert_eq!(
        hex::encode(guid_bytes(&KIDS[0])),
        "33221100554477668899aabbccddeeff"
    );
    // cenc gets AESCTR.
    let ctr = wrm_header(&KIDS, &DrmOptions::default());
    assert!(
        ctr.contains("ALGID=\"AESCTR\"") && !ctr.contains("AESCBC"),
        "{ctr}"
    );
}

#[test]
fn dash_content_protection_elements_parse_and_name_the_system() {
    let o = opts();
    for s in [
        DrmSystem::ClearKey,
        DrmSystem::Widevine,
        DrmSystem::PlayReady,
    ] {
        let pssh = pssh_box(s, &KIDS[..1], &o).unwrap();
        let el = dash_content_protection(s, &KIDS[0], Some(&pssh), &o);
        let doc = roxmltree::Document::parse(&el).unwrap_or_else(|e| panic!("{s:?}: {e}: {el}"));
        let cp = doc.root_element();
        assert_eq!(cp.tag_name().name(), "ContentProtection");
        let scheme = cp.attribute("schemeIdUri").unwrap();
        let kid = cp.attribute(("urn:mpeg:cenc:2013", "default_KID")).unwrap();
        assert_eq!(kid, uuid(&KIDS[0]));
        let child = |ns: &str, name: &str| {
            cp.children()
                .find(|n| n.tag_name().namespace() == Some(ns) && n.tag_name().name() == name)
                .and_then(|n| n.text())
                .map(str::to_string)
        };
        match s {
            DrmSystem::ClearKey => {
                assert_eq!(scheme, "urn:uuid:e2719d58-a985-b3c9-781a-b030af78d30e");
                assert_eq!(cp.attribute("value"), Some("ClearKey1.0"));
                assert_eq!(
                    child("https://dashif.org/CPS", "laurl").as_deref(),
                    Some("https://ck.example.com/license")
                );
                assert_eq!(
                    child("http://dashif.org/guidelines/clearKey", "Laurl").as_deref(),
                    Some("https://ck.example.com/license")
                );
            }
            DrmSystem::Widevine => {
                assert_eq!(scheme, "urn:uuid:edef8ba9-79d6-4ace-a3c8-27dcd51d21ed");
                assert_eq!(child("urn:mpeg:cenc:2013", "pssh"), Some(b64(&pssh)));
                assert_eq!(
                    child("https://dashif.org/CPS", "laurl"),
                    None,
                    "no Widevine URL given"
                );
            }
            DrmSystem::PlayReady => {
                assert_eq!(scheme, "urn:uuid:9a04f079-9840-4286-ab92-e65be0885f95");
                assert_eq!(cp.attribute("value"), Some("MSPR 2.0"));
                assert_eq!(child("urn:mpeg:cenc:2013", "pssh"), Some(b64(&pssh)));
                assert_eq!(
                    child("urn:microsoft:playready", "pro"),
                    Some(b64(&playready_object(&KIDS[..1], &o)))
                );
            }
            DrmSystem::FairPlay => unreachable!(),
        }
    }
    assert_eq!(
        dash_content_protection(DrmSystem::FairPlay, &KIDS[0], None, &o),
        ""
    );
}

#[test]
fn hls_key_lines_carry_keyformat() {
    let o = opts();
    let kid = &KIDS[0];
    let wv = hls_key_attrs(DrmSystem::Widevine, "SAMPLE-AES", kid, "k.key", &o).unwrap();
    assert!(
        wv.starts_with("METHOD=SAMPLE-AES,URI=\"data:text/plain;base64,"),
        "{wv}"
    );
    assert!(wv.ends_with(",KEYID=0x00112233445566778899aabbccddeeff,KEYFORMAT=\"urn:uuid:edef8ba9-79d6-4ace-a3c8-27dcd51d21ed\",KEYFORMATVERSIONS=\"1\""), "{wv}");
    // The data URI holds the same box the init segment gets.
    let uri = wv.split('"').nth(1).unwrap();
    let boxed = base64::engine::general_purpose::STANDARD
        .decode(uri.trim_start_matches("data:text/plain;base64,"))
        .unwrap();
    assert_eq!(boxed, pssh_box(DrmSystem::Widevine, &[*kid], &o).unwrap());

    let pr = hls_key_attrs(DrmSystem::PlayReady, "SAMPLE-AES-CTR", kid, "k.key", &o).unwrap();
    assert!(
        pr.starts_with("METHOD=SAMPLE-AES-CTR,URI=\"data:text/plain;charset=UTF-16;base64,"),
        "{pr}"
    );
    assert!(
        pr.ends_with("KEYFORMAT=\"com.microsoft.playready\",KEYFORMATVERSIONS=\"1\""),
        "{pr}"
    );

    let ck = hls_key_attrs(DrmSystem::ClearKey, "SAMPLE-AES", kid, "keys/x.key", &o).unwrap();
    assert_eq!(ck, "METHOD=SAMPLE-AES,URI=\"keys/x.key\",KEYID=0x00112233445566778899aabbccddeeff,KEYFORMAT=\"identity\",KEYFORMATVERSIONS=\"1\"");

    let fp = hls_key_attrs(DrmSystem::FairPlay, "SAMPLE-AES", kid, "k.key", &o).unwrap();
    assert_eq!(fp, "METHOD=SAMPLE-AES,URI=\"skd://fps.example.com/title-1/00112233445566778899aabbccddeeff\",KEYFORMAT=\"com.apple.streamingkeydelivery\",KEYFORMATVERSIONS=\"1\"");
    // FairPlay licenses cbcs only; no system opens whole-segment AES-128.
    assert!(hls_key_attrs(DrmSystem::FairPlay, "SAMPLE-AES-CTR", kid, "k", &o).is_none());
    for s in DrmSystem::ALL {
        assert!(hls_key_attrs(s, "AES-128", kid, "k", &o).is_none(), "{s:?}");
    }
}

#[test]
fn parsing_and_validation_say_what_is_wrong() {
    assert_eq!(
        DrmSystem::parse_list("Widevine, playready,widevine").unwrap(),
        vec![DrmSystem::Widevine, DrmSystem::PlayReady]
    );
    let e = DrmSystem::parse_list("widevine,primetime").unwrap_err();
    assert!(
        e.to_string().contains("unknown DRM system 'primetime'"),
        "{e}"
    );
    assert!(e
        .hint()
        .unwrap()
        .contains("clearkey, widevine, playready, fairplay"));
    assert!(DrmSystem::parse_list(" , ").is_err());

    let mut o = DrmOptions::default();
    assert!(add_license_url(&mut o, "widevine").is_err());
    add_license_url(&mut o, "widevine=https://wv.example.com").unwrap();
    let e = add_license_url(&mut o, "widevine=https://other").unwrap_err();
    assert!(e.to_string().contains("twice"), "{e}");
    assert!(add_license_url(&mut o, "playready=\"x\"").is_err());

    // A URL for a system not named.
    let e = validate(&[DrmSystem::PlayReady], &o, "cmaf", "SAMPLE-AES").unwrap_err();
    assert!(e.to_string().contains("--license-url widevine="), "{e}");
    assert!(e.hint().unwrap().contains("add widevine to --drm"));
    validate(&[DrmSystem::Widevine], &o, "cmaf", "SAMPLE-AES-CTR").unwrap();

    // FairPlay without its skd:// template, or with another scheme.
    let none = DrmOptions::default();
    let e = validate(&[DrmSystem::FairPlay], &none, "ts", "SAMPLE-AES").unwrap_err();
    assert!(
        e.hint().unwrap().contains("--license-url fairplay=skd://"),
        "{e}"
    );
    let mut fp = DrmOptions::default();
    add_license_url(&mut fp, "fairplay=https://not-skd").unwrap();
    assert!(validate(&[DrmSystem::FairPlay], &fp, "ts", "SAMPLE-AES").is_err());
    let mut fp = DrmOptions::default();
    add_license_url(&mut fp, "fairplay=skd://k/{kid}").unwrap();
    validate(&[DrmSystem::FairPlay], &fp, "ts", "SAMPLE-AES").unwrap();
    assert!(validate(&[DrmSystem::FairPlay], &fp, "cmaf", "SAMPLE-AES-CTR").is_err());

    // Whole-segment AES-128 and clear packages: no DRM system applies.
    for sys in DrmSystem::ALL {
        let o = if sys == DrmSystem::FairPlay {
            &fp
        } else {
            &none
        };
        let e = validate(&[sys], o, "ts", "AES-128").unwrap_err();
        assert!(e.to_string().contains("does not apply"), "{e}");
        assert!(e.hint().unwrap().contains("--format cmaf"));
    }
    assert!(validate(&[DrmSystem::Widevine], &none, "ts", "NONE").is_err());
    // TS SAMPLE-AES is FairPlay's only.
    let e = validate(&[DrmSystem::Widevine], &none, "ts", "SAMPLE-AES").unwrap_err();
    assert!(e.to_string().contains("only FairPlay"), "{e}");
}

#[test]
fn a_providers_pssh_and_skd_uri_win_over_generated_ones() {
    use crate::keys::cpix::DrmSystemData;
    let o = opts();
    let theirs = raw_pssh(WIDEVINE_ID, 0, &[], b"provider data");
    let provided = vec![
        DrmSystemData {
            system_id: WIDEVINE_ID,
            kid: KIDS[0],
            pssh: Some(theirs.clone()),
            uri_ext_x_key: None,
        },
        // Not a pssh box of PlayReady: passed over.
        DrmSystemData {
            system_id: PLAYREADY_ID,
            kid: KIDS[0],
            pssh: Some(raw_pssh(WIDEVINE_ID, 0, &[], b"x")),
            uri_ext_x_key: None,
        },
        DrmSystemData {
            system_id: FAIRPLAY_ID,
            kid: KIDS[1],
            pssh: None,
            uri_ext_x_key: Some("skd://provider/abc".into()),
        },
    ];
    assert_eq!(
        pssh_for(DrmSystem::Widevine, &KIDS[..1], &o, &provided),
        Some(theirs)
    );
    assert_eq!(
        pssh_for(DrmSystem::Widevine, &KIDS[1..], &o, &provided),
        pssh_box(DrmSystem::Widevine, &KIDS[1..], &o),
        "another KID: generated"
    );
    assert_eq!(
        pssh_for(DrmSystem::PlayReady, &KIDS[..1], &o, &provided),
        pssh_box(DrmSystem::PlayReady, &KIDS[..1], &o)
    );
    assert_eq!(
        fairplay_uri(&KIDS[1], &o, &provided).as_deref(),
        Some("skd://provider/abc")
    );
    assert_eq!(
        fairplay_uri(&KIDS[0], &o, &provided).as_deref(),
        Some("skd://fps.example.com/title-1/00112233445566778899aabbccddeeff")
    );
}

#[test]
fn pssh_kids_reads_back_every_systems_box() {
    let o = opts();
    for sys in [
        DrmSystem::ClearKey,
        DrmSystem::Widevine,
        DrmSystem::PlayReady,
    ] {
        let b = pssh_box(sys, &KIDS, &o).unwrap();
        assert_eq!(
            pssh_kids(&b),
            Some((sys.system_id(), KIDS.to_vec())),
            "{sys:?}"
        );
        // Cut short, or with a size that is not the box's, it is no box.
        assert_eq!(pssh_kids(&b[..b.len() - 1]), None, "{sys:?}");
        let mut long = b.clone();
        long.push(0);
        assert_eq!(pssh_kids(&long), None, "{sys:?}");
    }
    // A version 1 box that claims more KIDs than it holds.
    let mut b = raw_pssh(COMMON_ID, 1, &KIDS, &[]);
    b[28..32].copy_from_slice(&u32::MAX.to_be_bytes());
    assert_eq!(pssh_kids(&b), None);
}

#[test]
fn a_recorded_drm_selection_gives_back_its_systems_and_options() {
    let o = opts();
    let systems = [
        DrmSystem::PlayReady,
        DrmSystem::ClearKey,
        DrmSystem::FairPlay,
    ];
    let rec = record(&systems, &o, false);
    let json = serde_json::to_string(&rec).unwrap();
    assert!(!json.contains("cpix_pssh"), "{json}");
    let rec: crate::manifest::DrmRecord = serde_json::from_str(&json).unwrap();
    let p = std::path::Path::new("manifest.json");
    let (s, back) = from_record(&rec, "title-1", "cbcs", p).unwrap();
    assert_eq!(s, systems);
    assert_eq!(back.license_urls, o.license_urls);
    assert_eq!(back.skd_template, o.skd_template);
    assert_eq!(back.scheme, Some(*b"cbcs"));
    for sys in systems {
        assert_eq!(
            pssh_box(sys, &KIDS, &back),
            pssh_box(
                sys,
                &KIDS,
                &DrmOptions {
                    provider: None,
                    ..o.clone()
                }
            )
        );
    }
    let (_, cenc) = from_record(&rec, "title-1", "cenc", p).unwrap();
    assert_eq!(cenc.scheme, None);
    let bad = crate::manifest::DrmRecord {
        systems: vec!["nosuch".into()],
        ..Default::default()
    };
    let e = from_record(&bad, "t", "cenc", p).unwrap_err();
    assert!(e.to_string().contains("unknown DRM system 'nosuch'"), "{e}");
}
