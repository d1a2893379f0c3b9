//! `verify`'s multivariant rules for packages of several renditions (issue
//! 21): players switch renditions at segment boundaries, so every rendition
//! must be cut at the same times and use the same key period, generation and
//! KID (or none: a clear scene) for the same segment. A rendition that does
//! not would change key, or protection, mid-switch.

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
        let differs = first.segments.iter().zip(&r.segments).find_map(|(a, b)| {
            if (a.start - b.start).abs() > SAME_CUT {
                Some(format!(
                    "{} starts at {:.3}s, and {} at {:.3}s: renditions must be cut at the same times",
                    b.uri, b.start, a.uri, a.start
                ))
            } else if (a.period, a.generation, &a.kid) != (b.period, b.generation, &b.kid) {
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
