//! manifest.json (`Manifest::parse`, `Manifest::load`) and the resolved
//! policy.json (`Resolved::load`): never panic on mutated or arbitrary bytes;
//! errors name the file and say what is wrong.

use proptest::prelude::*;
use shieldpack_core::manifest::resolved::Resolved;
use shieldpack_core::manifest::Manifest;

use crate::{config, mutate, mutation};

pub const MANIFEST: &str = r#"{
  "format": "shieldpack-package",
  "format_version": 1,
  "tool": "shieldpack",
  "tool_version": "0.1.0",
  "content_id": "title-1",
  "keyring_fingerprint": "00112233445566778899aabbccddeeff",
  "encryption": "aes-128",
  "iv_mode": "derived",
  "key_uri_template": "keys/{kid}.key",
  "segment_duration": 4.0,
  "rotation": {"mode": "time", "seconds": 60.0},
  "rotation_config": {"file": "rot.json", "stream_id": "ch1", "enabled": true, "interval_minutes": 1.0, "algorithm": "AES-128-CBC", "key_derivation": "HKDF-SHA256"},
  "source": {"file": "clip.mp4", "duration": 12.0, "video_frames": 300},
  "renditions": [
    {
      "name": "720p",
      "playlist": "720p/index.m3u8",
      "bandwidth": 2100000,
      "average_bandwidth": 1800000,
      "resolution": "1280x720",
      "frame_rate": 25.0,
      "codecs": "avc1.64001f,mp4a.40.2",
      "segments": [
        {"uri": "720p/seg_00000.ts", "sequence": 0, "start": 0.0, "duration": 4.0, "size": 188000, "sha256": "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", "video_frames": 100, "period": 0, "generation": 0, "kid": "00112233445566778899aabbccddeeff", "iv_mode": "derived", "iv": "000102030405060708090a0b0c0d0e0f", "scene": {"label": "intro", "drm_level": "L3", "hdcp": false}},
        {"uri": "720p/seg_00001.ts", "sequence": 1, "start": 4.0, "duration": 4.0, "size": 188000, "sha256": "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", "video_frames": 100, "period": 0, "generation": 0, "kid": null, "iv_mode": "derived", "iv": null, "scene": {"label": "main", "drm_level": "clear", "hdcp": "2.2"}}
      ]
    }
  ]
}
"#;

pub const RESOLVED: &str = r#"{
  "format": "shieldpack-resolved-policy",
  "format_version": 1,
  "content_id": "title-1",
  "policy_file": "policy.json",
  "rendition": "720p",
  "scenes": [
    {"label": "intro", "drm_level": "L3", "hdcp": false, "encrypted": true, "requested_start": 0.0, "requested_end": 4.0,
     "start": 0.0, "end": 4.0, "first_sequence": 0, "last_sequence": 0, "segments": 1, "periods": [0], "kids": ["00112233445566778899aabbccddeeff"]},
    {"label": "short", "drm_level": "clear", "hdcp": "1.4", "encrypted": false, "requested_start": 4.0, "requested_end": 4.1}
  ],
  "gaps": [{"start": 8.0, "end": 12.0, "first_sequence": 2, "last_sequence": 2, "segments": 1, "periods": [0], "kids": []}]
}
"#;

#[test]
fn the_seeds_are_valid() {
    let m = Manifest::parse("manifest.json".as_ref(), MANIFEST.as_bytes()).unwrap();
    assert_eq!(
        Manifest::parse("manifest.json".as_ref(), m.to_json().as_bytes()).unwrap(),
        m
    );
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("policy.json"), RESOLVED).unwrap();
    let r = Resolved::load(dir.path()).unwrap().unwrap();
    assert_eq!(r.scenes.len(), 2);
}

fn check_manifest(bytes: &[u8]) -> Result<(), TestCaseError> {
    if let Err(e) = Manifest::parse("pkg/manifest.json".as_ref(), bytes) {
        let shown = e.to_string();
        prop_assert!(
            shown.contains("manifest.json"),
            "error names no file: {shown}"
        );
        prop_assert!(
            shown.len() > "pkg/manifest.json".len() + 2,
            "error says nothing: {shown}"
        );
    }
    Ok(())
}

/// `Resolved::load` reads from a folder; one temp folder serves every case.
fn check_resolved(dir: &std::path::Path, bytes: &[u8]) -> Result<(), TestCaseError> {
    std::fs::write(dir.join("policy.json"), bytes).unwrap();
    if let Err(e) = Resolved::load(dir) {
        let shown = e.to_string();
        prop_assert!(
            shown.contains("policy.json"),
            "error names no file: {shown}"
        );
        prop_assert!(!shown.trim().is_empty());
    }
    Ok(())
}

/// Nested arrays and objects, deep enough to overflow a recursive parser.
fn deep(depth: usize, open: &str, close: &str, inner: &str) -> Vec<u8> {
    format!("{}{inner}{}", open.repeat(depth), close.repeat(depth)).into_bytes()
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn manifest_mutated_never_panics(ms in proptest::collection::vec(mutation(), 1..8)) {
        check_manifest(&mutate(MANIFEST.as_bytes(), &ms))?;
    }

    #[test]
    fn manifest_arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        check_manifest(&bytes)?;
    }

    #[test]
    fn resolved_mutated_never_panics(ms in proptest::collection::vec(mutation(), 1..8)) {
        let dir = tempfile::tempdir().unwrap();
        check_resolved(dir.path(), &mutate(RESOLVED.as_bytes(), &ms))?;
    }

    #[test]
    fn resolved_arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let dir = tempfile::tempdir().unwrap();
        check_resolved(dir.path(), &bytes)?;
    }
}

#[test]
fn deep_nesting_is_an_error_not_a_stack_overflow() {
    let dir = tempfile::tempdir().unwrap();
    for bytes in [
        deep(100_000, "[", "]", ""),
        deep(100_000, "{\"a\":", "}", "1"),
        // Deep inside a field serde would skip as unknown.
        [b"{\"x\":".as_slice(), &deep(100_000, "[", "]", ""), b"}"].concat(),
    ] {
        assert!(Manifest::parse("manifest.json".as_ref(), &bytes).is_err());
        std::fs::write(dir.path().join("policy.json"), &bytes).unwrap();
        assert!(Resolved::load(dir.path()).is_err());
    }
}
