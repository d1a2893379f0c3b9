//! `manifest.json`: what a package holds, for `verify`, `keys export`, `rekey`
//! and license servers. It names KIDs, periods and hashes, never a key.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{Error, IoContext, Result};

pub const FORMAT: &str = "shieldpack-package";
pub const FORMAT_VERSION: u32 = 1;
/// Manifests are small; refuse to read an absurd one into memory.
const MAX_MANIFEST_BYTES: u64 = 64 << 20;

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
    pub source: Source,
    pub renditions: Vec<Rendition>,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq)]
#[serde(tag = "mode", rename_all = "kebab-case")]
pub enum Rotation {
    None,
    Time { seconds: f64 },
    Segments { count: u32 },
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
    pub playlist: String,
    pub bandwidth: u64,
    pub average_bandwidth: u64,
    pub resolution: String,
    pub frame_rate: Option<f64>,
    pub codecs: String,
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
    /// The scene of a scene policy this segment belongs to, for license servers
    /// (and CPIX usage rules); absent without a policy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scene: Option<SceneTag>,
}

/// A segment's scene: its label, DRM level and HDCP requirement.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SceneTag {
    pub label: String,
    pub drm_level: String,
    /// false, or an HDCP version such as "2.2".
    #[serde(default)]
    pub hdcp: serde_json::Value,
}

impl Manifest {
    pub fn load(dir: &Path) -> Result<Self> {
        let path = dir.join("manifest.json");
        let hint = "run verify on a folder made by `shieldpack package`, or package again";
        let meta = std::fs::metadata(&path).map_err(|_| {
            Error::invalid_file(&path, "no manifest.json: not a shieldpack package", hint)
        })?;
        if meta.len() > MAX_MANIFEST_BYTES {
            return Err(Error::invalid_file(&path, "manifest is too large", hint));
        }
        let text = std::fs::read(&path).at(&path)?;
        let m: Manifest = serde_json::from_slice(&text).map_err(|e| {
            Error::invalid_file(
                &path,
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
                &path,
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
