//! `verify`'s multivariant rules for packages of several renditions (issue
//! 21): players switch renditions at segment boundaries, so every rendition
//! must be cut at the same times and use the same key period, generation and
//! KID (or none: a clear scene) for the same segment. A rendition that does
//! not would change key, or protection, mid-switch. Every audio group a
//! variant names must exist, and every group must be named by a variant.

use std::collections::HashMap;

use shieldpack_core::hls::{self, MasterPlaylist};
use shieldpack_core::manifest::Manifest;

/// Cuts further apart than this are different cuts (the manifest keeps
/// milliseconds).
const SAME_CUT: f64 = 0.0015;

/// (file, message) for every rendition that is not aligned with the first,
/// at the first segment where it is not.
pub(crate) fn alignment_defects(m: &Manifest) -> Vec<(String, String)> {
    let Some((first, rest)) = m.renditions.split_first() else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for r in rest {
        if r.segments.len() != first.segments.len() {
            out.push((
                r.playlist.clone(),
                format!(
                    "{} segments, and rendition {} has {}: renditions must be cut at the same times",
                    r.segments.len(),
                    first.name,
                    first.segments.len()
                ),
            ));
            continue;
        }
        // Subtitles are clear whatever the video's key: times only.
        let subtitles = r.kind.as_deref() == Some("subtitles");
        // Under `--key-scope track-type` another track type has keys of
        // its own: its periods still line up, its KIDs differ.
        let same_keys = r.track_type == first.track_type;
        let differs = first.segments.iter().zip(&r.segments).find_map(|(a, b)| {
            if (a.start - b.start).abs() > SAME_CUT {
                Some(format!(
                    "{} starts at {:.3}s, and {} at {:.3}s: renditions must be cut at the same times",
                    b.uri, b.start, a.uri, a.start
                ))
            } else if !subtitles
                && ((a.period, a.generation) != (b.period, b.generation)
                    || (same_keys && a.kid != b.kid)
                    || a.kid.is_some() != b.kid.is_some())
            {
                Some(format!(
                    "{} is in key period {} generation {} (KID {}), and {} in period {} generation {} (KID {}): \
                     a player switching renditions there would change key mid-stream",
                    b.uri,
                    b.period,
                    b.generation,
                    b.kid.as_deref().unwrap_or("none, clear"),
                    a.uri,
                    a.period,
                    a.generation,
                    a.kid.as_deref().unwrap_or("none, clear"),
                ))
            } else {
                None
            }
        });
        if let Some(msg) = differs {
            out.push((r.playlist.clone(), msg));
        }
    }
    out
}

/// Messages for audio groups named by a variant but not defined, and
/// defined but named by no variant (RFC 8216 4.3.4.2.1).
pub(crate) fn group_defects(master: &MasterPlaylist) -> Vec<String> {
    let mut out = Vec::new();
    for v in &master.variants {
        for (kind, group) in [("AUDIO", &v.audio), ("SUBTITLES", &v.subtitles)] {
            if let Some(g) = group {
                if !master
                    .media
                    .iter()
                    .any(|m| m.kind == kind && &m.group_id == g)
                {
                    out.push(format!(
                        "{}: {kind}=\"{g}\" names a group no EXT-X-MEDIA TYPE={kind} defines",
                        v.uri
                    ));
                }
            }
        }
    }
    let mut groups: Vec<&str> = master.media.iter().map(|m| m.group_id.as_str()).collect();
    groups.sort_unstable();
    groups.dedup();
    for g in groups {
        if !master
            .variants
            .iter()
            .any(|v| v.audio.as_deref() == Some(g) || v.subtitles.as_deref() == Some(g))
        {
            out.push(format!(
                "EXT-X-MEDIA group \"{g}\" is named by no EXT-X-STREAM-INF"
            ));
        }
        let defaults = master
            .media
            .iter()
            .filter(|m| m.group_id == g && m.default)
            .count();
        if defaults > 1 {
            out.push(format!(
                "EXT-X-MEDIA group \"{g}\" has {defaults} renditions with DEFAULT=YES; at most one may (RFC 8216 4.3.4.1)"
            ));
        }
    }
    out
}

/// The largest peak and average bit rate among the manifest's audio
/// renditions in group `group`, as `package` measures them.
pub(crate) fn group_rates(m: &Manifest, group: &str, targets: &HashMap<String, u64>) -> (u64, u64) {
    if group != "audio" {
        return (0, 0);
    }
    let mut best = (0, 0);
    for r in m
        .renditions
        .iter()
        .filter(|r| r.kind.as_deref() == Some("audio"))
    {
        let segs: Vec<(f64, u64)> = r.segments.iter().map(|s| (s.duration, s.size)).collect();
        if segs.is_empty()
            || segs
                .iter()
                .any(|&(d, b)| !(d.is_finite() && d > 0.0 && d <= 3600.0 && b <= 1 << 40))
        {
            continue;
        }
        let target = targets
            .get(&r.playlist)
            .copied()
            .unwrap_or(1)
            .clamp(1, 3600);
        best.0 = best.0.max(hls::bandwidth::peak_bandwidth(&segs, target));
        best.1 = best.1.max(hls::bandwidth::average_bandwidth(&segs));
    }
    best
}
