//! `OUTDIR/policy.json`: the policy as packaged, for a license server.
//!
//! Per scene: its level and HDCP requirement, the times asked for and the
//! keyframe-aligned times it actually got, the media sequence range of its
//! segments, and the key periods and KIDs that encrypt them, so a license
//! server can enforce output protection per KID. Stretches no scene covers
//! are listed as gaps with their KIDs too. `verify` reads it back.

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::SegmentRecord;
use crate::error::{Error, Result};
use crate::policy::Policy;
use crate::policy::{Hdcp, Level};

pub const FILE: &str = "policy.json";
pub const FORMAT: &str = "shieldpack-resolved-policy";
pub const FORMAT_VERSION: u32 = 1;
const MAX_BYTES: u64 = 64 << 20;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Resolved {
    pub format: String,
    pub format_version: u32,
    pub content_id: String,
    /// The policy file's name.
    pub policy_file: String,
    /// The rendition whose segments the sequence ranges count.
    pub rendition: String,
    pub scenes: Vec<ResolvedScene>,
    /// Stretches of the title that no scene covers (packaged encrypted, untagged).
    pub gaps: Vec<Span>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResolvedScene {
    pub label: String,
    pub drm_level: Level,
    pub hdcp: Hdcp,
    pub encrypted: bool,
    pub requested_start: f64,
    pub requested_end: f64,
    /// Where its segments are: `None` when the scene got no segment (it is
    /// shorter than the input's keyframe interval).
    #[serde(flatten)]
    pub span: Option<Span>,
}

/// A run of segments: keyframe-aligned times, sequence range and keys.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Span {
    pub start: f64,
    pub end: f64,
    pub first_sequence: u64,
    pub last_sequence: u64,
    pub segments: u64,
    pub periods: Vec<u64>,
    /// Empty for a clear scene.
    pub kids: Vec<String>,
}

impl Span {
    fn of(segs: &[&SegmentRecord]) -> Option<Span> {
        let (first, last) = (segs.first()?, segs.last()?);
        let mut periods: Vec<u64> = segs.iter().map(|s| s.period).collect();
        periods.dedup();
        let mut kids: Vec<String> = Vec::new();
        for s in segs {
            if let Some(k) = &s.kid {
                if !kids.contains(k) {
                    kids.push(k.clone());
                }
            }
        }
        Some(Span {
            start: first.start,
            end: ms(last.start + last.duration),
            first_sequence: first.sequence,
            last_sequence: last.sequence,
            segments: segs.len() as u64,
            periods,
            kids,
        })
    }
}

fn ms(t: f64) -> f64 {
    (t * 1000.0).round() / 1000.0
}

impl Resolved {
    /// Adds the KIDs another rendition uses in each scene's and gap's
    /// sequence range, after those already listed. Under `--key-scope
    /// track-type` each track type has keys of its own, and a license server
    /// needs them all to give each scene its level; under the period scope
    /// every rendition uses the first's KIDs and nothing is added.
    pub fn add_kids_of(&mut self, segments: &[SegmentRecord]) {
        let spans = self
            .scenes
            .iter_mut()
            .filter_map(|s| s.span.as_mut())
            .chain(self.gaps.iter_mut());
        for span in spans {
            let range = span.first_sequence..=span.last_sequence;
            for s in segments.iter().filter(|s| range.contains(&s.sequence)) {
                if let Some(k) = &s.kid {
                    if !span.kids.contains(k) {
                        span.kids.push(k.clone());
                    }
                }
            }
        }
    }
}

/// Whether a rendition's segments are keyed (video and audio), as against
/// clear WebVTT subtitles: the renditions whose KIDs policy.json lists.
pub fn keyed(r: &super::Rendition) -> bool {
    r.kind.as_deref().is_none_or(|k| k == "audio")
}

/// Builds the resolved policy from the segments as packaged (tagged with
/// their scene, in order).
pub fn resolve(
    policy: &Policy,
    policy_file: &str,
    content_id: &str,
    rendition: &str,
    segments: &[SegmentRecord],
) -> Resolved {
    let scenes = policy
        .scenes
        .iter()
        .map(|sc| {
            let segs: Vec<&SegmentRecord> = segments
                .iter()
                .filter(|s| s.scene.as_ref().is_some_and(|t| t.label == sc.label))
                .collect();
            ResolvedScene {
                label: sc.label.clone(),
                drm_level: sc.level,
                hdcp: sc.hdcp,
                encrypted: segs.iter().any(|s| s.kid.is_some()),
                requested_start: ms(sc.start),
                requested_end: ms(sc.end),
                span: Span::of(&segs),
            }
        })
        .collect();
    let mut gaps = Vec::new();
    let mut run: Vec<&SegmentRecord> = Vec::new();
    for s in segments {
        if s.scene.is_none() {
            run.push(s);
        } else if let Some(g) = Span::of(&run) {
            gaps.push(g);
            run.clear();
        }
    }
    gaps.extend(Span::of(&run));
    Resolved {
        format: FORMAT.into(),
        format_version: FORMAT_VERSION,
        content_id: content_id.into(),
        policy_file: policy_file.into(),
        rendition: rendition.into(),
        scenes,
        gaps,
    }
}

impl Resolved {
    pub fn to_json(&self) -> String {
        let mut s = serde_json::to_string_pretty(self).expect("serialisable");
        s.push('\n');
        s
    }

    /// Reads `dir/policy.json`; `Ok(None)` when the package has none.
    pub fn load(dir: &Path) -> Result<Option<Resolved>> {
        let path = dir.join(FILE);
        if std::fs::symlink_metadata(&path).is_err() {
            return Ok(None);
        }
        let hint = "package again with --policy to rewrite it";
        // Not followed if a symlink, never a FIFO or device, and capped.
        let text = crate::fsutil::read_capped(&path, MAX_BYTES)
            .map_err(|e| Error::invalid_file(&path, e.to_string(), hint))?;
        let r: Resolved = serde_json::from_slice(&text).map_err(|e| {
            Error::at(
                &path,
                e.line(),
                e.column(),
                format!("not a resolved policy: {e}"),
                hint,
            )
        })?;
        if r.format != FORMAT || r.format_version != FORMAT_VERSION {
            return Err(Error::invalid_file(
                &path,
                format!(
                    "format {} v{} is not {FORMAT} v{FORMAT_VERSION}",
                    r.format, r.format_version
                ),
                hint,
            ));
        }
        Ok(Some(r))
    }
}
