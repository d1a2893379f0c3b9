//! `manifest.json`: what a package holds, for `verify`, `keys export`, `rekey`
//! and license servers. It names KIDs, periods and hashes, never a key.

use crate::keys::{KeyScope, TrackType};
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
pub use crate::policy::rotation::{Rotation, RotationConfig};
use crate::policy::{Hdcp, Level};

pub mod resolved;

pub const FORMAT: &str = "shieldpack-package";
pub const FORMAT_VERSION: u32 = 1;
/// Manifests are small; refuse to read an absurd one into memory.
pub const MAX_MANIFEST_BYTES: u64 = 64 << 20;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Manifest {
    pub format: String,
    pub format_version: u32,
    pub tool: String,
    pub tool_version: String,
    pub content_id: String,
    /// Absent for a clear package.
    pub keyring_fingerprint: Option<String>,
    /// "aes-128" or "none".
    pub encryption: String,
    /// "sequence" or "derived".
    pub iv_mode: String,
    pub key_uri_template: String,
    pub segment_duration: f64,
    pub rotation: Rotation,
    /// The `--rotation` config the rotation came from, as given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rotation_config: Option<RotationConfig>,
    /// `--key-scope`: absent for `period` (every package before it), so
    /// their manifests read and write as they did.
    #[serde(default, skip_serializing_if = "KeyScope::is_period")]
    pub key_scope: KeyScope,
    /// `--drm`: the DRM systems signalled and their license URLs, so that
    /// `rekey` can rebuild their signalling for new KIDs. Absent without
    /// `--drm` (and in packages made before it was recorded).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drm: Option<DrmRecord>,
    pub source: Source,
    pub renditions: Vec<Rendition>,
}

/// The `--drm` signalling a package was made with: everything public that
/// the systems' `pssh` boxes, `ContentProtection` elements and `EXT-X-KEY`
/// lines were built from besides the KIDs, the content id and the scheme.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct DrmRecord {
    /// The systems in `--drm` order (`clearkey`, `widevine`, `playready`,
    /// `fairplay`): the init segments' `pssh` boxes come in this order.
    pub systems: Vec<String>,
    /// `--license-url SYSTEM=URL` by system name (FairPlay's is its `skd://`
    /// template).
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub license_urls: std::collections::BTreeMap<String, String>,
    /// Some `pssh` data is a DRM provider's, from its CPIX document
    /// (`package --cpix`), which only the provider can make for other KIDs.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub cpix_pssh: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Source {
    /// The input's file name (not its path, so output does not depend on where it lives).
    pub file: String,
    pub duration: f64,
    pub video_frames: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Rendition {
    pub name: String,
    /// The input file it was packaged from, when a package has several
    /// (`package IN1 IN2 ...`); `source.file` names the first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// `audio` for an alternate audio rendition (EXT-X-MEDIA TYPE=AUDIO,
    /// GROUP-ID "audio"), with its RFC 5646 language and channel count;
    /// absent for video.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub language: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channels: Option<u32>,
    pub playlist: String,
    pub bandwidth: u64,
    pub average_bandwidth: u64,
    pub resolution: String,
    pub frame_rate: Option<f64>,
    pub codecs: String,
    /// Under `--key-scope track-type`: the track type whose keys encrypt
    /// this rendition's segments (each segment's `kid` is that key's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub track_type: Option<TrackType>,
    pub segments: Vec<SegmentRecord>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SegmentRecord {
    /// Relative to the package folder.
    pub uri: String,
    pub sequence: u64,
    pub start: f64,
    pub duration: f64,
    pub size: u64,
    pub sha256: String,
    pub video_frames: u64,
    pub period: u64,
    pub generation: u32,
    /// Absent for a clear segment.
    pub kid: Option<String>,
    pub iv_mode: String,
    /// The explicit IV, with iv_mode "derived" (it is in the playlist too; not secret).
    pub iv: Option<String>,
    /// The policy scene the segment belongs to (`package --policy`); absent
    /// without a policy and for stretches no scene covers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scene: Option<SceneTag>,
    /// `package --ab-watermark`: the segment's two variants, a then b (the
    /// playlist lists a); empty otherwise.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub variants: Vec<VariantRecord>,
}

/// One A/B variant of a segment: same cut, key and duration, another mark and
/// another (explicit) IV.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VariantRecord {
    /// "a" or "b".
    pub variant: String,
    /// Relative to the package folder.
    pub uri: String,
    pub size: u64,
    pub sha256: String,
    /// The IV (32 hex digits) it is encrypted with; absent when clear.
    pub iv: Option<String>,
}

/// The scene tag of a segment in manifest.json.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SceneTag {
    pub label: String,
    pub drm_level: Level,
    pub hdcp: Hdcp,
}

impl Manifest {
    pub fn load(dir: &Path) -> Result<Self> {
        let path = dir.join("manifest.json");
        let bytes = read(&path)?;
        Self::parse(&path, &bytes)
    }

    /// A manifest from the bytes of the file at `path` (named in errors).
    /// JSON nested deeper than serde_json's limit (128) is an error, not a
    /// stack overflow.
    pub fn parse(path: &Path, bytes: &[u8]) -> Result<Self> {
        let hint = "run verify on a folder made by `shieldpack package`, or package again";
        // serde skips unknown fields without its recursion limit: a
        // 10,000-deep array there would pass unseen.
        let depth = json_depth(bytes);
        if depth > MAX_JSON_DEPTH {
            return Err(Error::invalid_file(
                path,
                format!("invalid manifest: JSON nested {depth} deep, more than {MAX_JSON_DEPTH}"),
                hint,
            ));
        }
        let m: Manifest = serde_json::from_slice(bytes).map_err(|e| {
            Error::invalid_file(
                path,
                format!(
                    "invalid manifest at line {}, column {}: {e}",
                    e.line(),
                    e.column()
                ),
                hint,
            )
        })?;
        if m.format != FORMAT || m.format_version != FORMAT_VERSION {
            return Err(Error::invalid_file(
                path,
                format!(
                    "manifest format {} v{} is not {FORMAT} v{FORMAT_VERSION}",
                    m.format, m.format_version
                ),
                "use the shieldpack version that made the package",
            ));
        }
        Ok(m)
    }

    pub fn to_json(&self) -> String {
        let mut s = serde_json::to_string_pretty(self).expect("serialisable");
        s.push('\n');
        s
    }

    pub fn segments(&self) -> impl Iterator<Item = &SegmentRecord> {
        self.renditions.iter().flat_map(|r| r.segments.iter())
    }

    /// The distinct (period, generation, kid) triples the package uses, in order.
    /// Under `--key-scope track-type`: the track type whose key `kid` is
    /// (that of the renditions whose segments name it).
    pub fn track_type_of(&self, kid: &str) -> Option<TrackType> {
        if self.key_scope.is_period() {
            return None;
        }
        self.renditions
            .iter()
            .find(|r| r.segments.iter().any(|s| s.kid.as_deref() == Some(kid)))
            .and_then(|r| r.track_type)
    }

    pub fn key_periods(&self) -> Vec<(u64, u32, String)> {
        let mut out: Vec<(u64, u32, String)> = self
            .segments()
            .filter_map(|s| s.kid.as_ref().map(|k| (s.period, s.generation, k.clone())))
            .collect();
        out.sort();
        out.dedup();
        out
    }
}

/// How deep a manifest's JSON may nest (a real one nests 5 deep).
pub const MAX_JSON_DEPTH: usize = 32;

/// The deepest nesting of arrays and objects in JSON text (strings skipped).
fn json_depth(bytes: &[u8]) -> usize {
    let (mut depth, mut max, mut in_str, mut escaped) = (0usize, 0usize, false, false);
    for &b in bytes {
        if in_str {
            match b {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_str = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_str = true,
            b'[' | b'{' => {
                depth += 1;
                max = max.max(depth);
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    max
}

/// The bytes of the manifest at `path`: a regular file (not a symlink, FIFO
/// or device) of at most [`MAX_MANIFEST_BYTES`].
pub fn read(path: &Path) -> Result<Vec<u8>> {
    let hint = "run verify on a folder made by `shieldpack package`, or package again";
    crate::fsutil::read_capped(path, MAX_MANIFEST_BYTES).map_err(|e| match e {
        crate::fsutil::CappedReadError::Io(e) if e.kind() == std::io::ErrorKind::NotFound => {
            Error::invalid_file(path, "no manifest.json: not a shieldpack package", hint)
        }
        e => Error::invalid_file(path, format!("manifest {e}"), hint),
    })
}

/// Checks a `--key-uri` template: it must fit in a playlist's quoted URI and
/// name only known placeholders.
pub fn check_key_uri(t: &str) -> Result<()> {
    let hint = "use a relative or absolute URI with the placeholders {kid}, {period}, {content_id}; e.g. keys/{kid}.key";
    if t.is_empty() || t.chars().any(|c| c == '"' || c.is_control()) {
        return Err(Error::arg(
            format!(
                "--key-uri '{t}' cannot go in a playlist (empty, quotes or control characters)"
            ),
            hint,
        ));
    }
    let mut rest = t;
    while let Some(open) = rest.find('{') {
        let close = rest[open..]
            .find('}')
            .ok_or_else(|| Error::arg(format!("--key-uri '{t}' has an unclosed '{{'"), hint))?;
        let name = &rest[open + 1..open + close];
        if !matches!(name, "kid" | "period" | "content_id") {
            return Err(Error::arg(
                format!("--key-uri '{t}' has an unknown placeholder {{{name}}}"),
                hint,
            ));
        }
        rest = &rest[open + close + 1..];
    }
    Ok(())
}

/// Fills in a key URI template.
pub fn key_uri(template: &str, kid: &str, period: u64, content_id: &str) -> String {
    template
        .replace("{kid}", kid)
        .replace("{period}", &period.to_string())
        .replace("{content_id}", content_id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_uri_templates() {
        assert!(check_key_uri("https://k.example/{content_id}/{period}/{kid}").is_ok());
        assert!(check_key_uri("keys/{nope}.key").is_err());
        assert!(check_key_uri("keys/{kid.key").is_err());
        assert!(check_key_uri("a\"b").is_err());
        assert_eq!(key_uri("k/{kid}-{period}", "ab", 3, "c"), "k/ab-3");
    }

    #[test]
    fn json_depth_skips_strings() {
        assert_eq!(json_depth(br#"{"a": [[1], "[[[\"["], {}]}"#), 3);
        let deep = format!("{{\"x\": {}{}}}", "[".repeat(10_000), "]".repeat(10_000));
        assert_eq!(json_depth(deep.as_bytes()), 10_001);
    }
}
