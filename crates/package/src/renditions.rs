//! Several pre-encoded renditions of one title in one package
//! (`package IN1 IN2 ... -o OUT`), as Shaka Packager takes them.
//!
//! The pipeline stays one pipeline: `package` runs it once per input, one
//! after another, so memory stays that of one rendition. The first input
//! decides the cuts (target grid, rotation and scene cuts, as for a single
//! input); every other input is cut exactly there and nowhere else
//! (`follow`), and a rendition whose keyframes do not allow it is refused,
//! naming the first cut that differs (`check_aligned`). Same cuts give the
//! same segment numbers and start times in every rendition, so key periods
//! (by count, by time or by scene) and clear scenes line up too: a player
//! switching renditions at a segment boundary never changes key or
//! protection mid-segment.
//!
//! Every rendition of a period is encrypted under that period's one key, so
//! the IV must differ between renditions (RFC 8216 5.2 makes the media
//! sequence number the IV, which every rendition shares): with several
//! inputs IVs are always explicit and derived with the rendition's index
//! (`Keyring::rendition_iv`), whatever `--iv` says.

use std::path::Path;

use shieldpack_core::error::{Error, Result};
use shieldpack_core::manifest::SegmentRecord;
use shieldpack_media::{self as media, segment};

use super::{IvMode, Options};

/// How far apart two renditions' cuts may be and still be one cut: the
/// manifest keeps times in milliseconds.
const SAME_CUT: f64 = 0.0015;

/// `o` as several inputs need it (explicit, per-rendition IVs), or `None`
/// when it needs no change.
pub(crate) fn options(o: &Options) -> Option<Options> {
    (!o.more_inputs.is_empty() && o.iv == IvMode::Sequence).then(|| Options {
        iv: IvMode::Derived,
        ..o.clone()
    })
}

/// The rendition folders (DESIGN.md: `<height>p`, `<height>p-<kbps>k` when
/// two share a height), or `None` each for one input, which names its own
/// as it always did.
pub(crate) fn names(inputs: &[&Path]) -> Result<Vec<Option<String>>> {
    if inputs.len() < 2 {
        return Ok(vec![None; inputs.len()]);
    }
    let mut probed = Vec::with_capacity(inputs.len());
    for input in inputs {
        let info = media::probe(input)?;
        let height = info.select()?.video.height.unwrap_or(0);
        // The container's overall rate, else size over duration.
        let bits = info.bit_rate.or_else(|| {
            let size = std::fs::metadata(input).ok()?.len();
            let d = info.duration.filter(|d| *d > 0.0)?;
            Some((size as f64 * 8.0 / d) as u64)
        });
        probed.push((height, bits.map(|b| (b + 500) / 1000).unwrap_or(0)));
    }
    let mut out: Vec<String> = Vec::with_capacity(inputs.len());
    for (height, kbps) in &probed {
        let shared = probed.iter().filter(|(h, _)| h == height).count() > 1;
        let base = match shared {
            true => format!("{height}p-{kbps}k"),
            false => format!("{height}p"),
        };
        // Two inputs of one height and rate (the same file twice, say).
        let mut name = base.clone();
        let mut n = 2;
        while out.contains(&name) {
            name = format!("{base}-{n}");
            n += 1;
        }
        out.push(name);
    }
    Ok(out.into_iter().map(Some).collect())
}

/// The plan for a rendition after the first: cut where the first was cut
/// (`first`'s segment starts) and nowhere else. A cut is taken at the first
/// keyframe at or after each start, less the manifest's rounding.
pub(crate) fn follow(first: &[SegmentRecord]) -> segment::Plan {
    segment::Plan {
        // No grid: a keyframe between the first rendition's cuts is no cut.
        target: 1e12,
        forced_cuts: first
            .iter()
            .skip(1)
            .map(|r| r.start - SAME_CUT / 2.0)
            .collect(),
        cut_every: None,
    }
}

/// Refuses `input`'s segments unless they start where `first_input`'s did.
pub(crate) fn check_aligned(
    first_input: &Path,
    first: &[SegmentRecord],
    input: &Path,
    got: &[SegmentRecord],
    target: f64,
) -> Result<()> {
    let hint = format!(
        "renditions of one title need keyframes at the same times: encode each with them forced at the cuts, \
         e.g. ffmpeg -i SOURCE -c:v libx264 -force_key_frames 'expr:gte(t,n_forced*{target})' -s 640x360 OUT.mp4, \
         or give the one source and let --ladder encode aligned renditions"
    );
    let n = first.len().max(got.len());
    for i in 0..n {
        let (a, b) = (first.get(i), got.get(i));
        if let (Some(a), Some(b)) = (a, b) {
            if (a.start - b.start).abs() <= SAME_CUT {
                continue;
            }
        }
        let what = match (a, b) {
            (Some(a), Some(b)) => format!(
                "not aligned with {}: cut {i} (seg_{i:05}) is at {:.3}s there but at {:.3}s here, \
                 the first keyframe at or after {:.3}s",
                first_input.display(),
                a.start,
                b.start,
                a.start
            ),
            (Some(a), None) => format!(
                "not aligned with {}: cut {i} (seg_{i:05}) is at {:.3}s there, and this input has no keyframe \
                 from {:.3}s on",
                first_input.display(),
                a.start,
                got.last().map_or(0.0, |l| l.start)
            ),
            (None, Some(b)) => format!(
                "not aligned with {}: cut {i} (seg_{i:05}) is at {:.3}s here, and {} ends before it",
                first_input.display(),
                b.start,
                first_input.display()
            ),
            (None, None) => unreachable!("i < the longer length"),
        };
        return Err(Error::invalid_file(input, what, hint));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn records(starts: &[f64]) -> Vec<SegmentRecord> {
        starts
            .iter()
            .enumerate()
            .map(|(i, s)| SegmentRecord {
                uri: format!("360p/seg_{i:05}.ts"),
                sequence: i as u64,
                start: *s,
                duration: 2.0,
                size: 188,
                sha256: String::new(),
                video_frames: 1,
                period: 0,
                generation: 0,
                kid: None,
                iv_mode: "derived".into(),
                iv: None,
                scene: None,
            })
            .collect()
    }

    #[test]
    fn the_first_differing_cut_is_named_with_both_times() {
        let (a, b) = (Path::new("a.mp4"), Path::new("b.mp4"));
        assert!(check_aligned(
            a,
            &records(&[0.0, 2.0, 4.0]),
            b,
            &records(&[0.0, 2.0005, 4.0]),
            2.0
        )
        .is_ok());
        let e = check_aligned(
            a,
            &records(&[0.0, 2.0, 4.0]),
            b,
            &records(&[0.0, 2.5, 4.0]),
            2.0,
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("b.mp4") && e.contains("a.mp4"), "{e}");
        assert!(
            e.contains("cut 1 (seg_00001) is at 2.000s there but at 2.500s here"),
            "{e}"
        );
        let e = check_aligned(a, &records(&[0.0, 2.0, 4.0]), b, &records(&[0.0, 2.0]), 2.0)
            .unwrap_err()
            .to_string();
        assert!(e.contains("cut 2 (seg_00002) is at 4.000s there"), "{e}");
    }

    #[test]
    fn followers_cut_only_where_the_first_did() {
        let p = follow(&records(&[0.0, 2.0, 3.0, 4.0]));
        assert_eq!(p.cut_every, None);
        assert_eq!(p.forced_cuts.len(), 3);
        assert!((p.forced_cuts[0] - 1.99925).abs() < 1e-9);
        assert!(p.target > 1e9);
    }
}
