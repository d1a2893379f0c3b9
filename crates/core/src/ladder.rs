//! What `package --ladder SPEC` asks for, decided without FFmpeg: parsing SPEC
//! (`1080p:6000k,720p:3000k,...`, `apple`, `auto`), Apple's H.264 ladder, the
//! rule `auto` applies to a title's measured complexity, and the cut times the
//! transcoder forces keyframes at. The transcoding itself is in
//! `shieldpack_media::ladder`; keeping this part FFmpeg-free lets the front end
//! refuse a bad SPEC before anything heavy starts.

use crate::error::{Error, Result};

/// One rung as asked for: a height (the width follows the source's shape) and
/// an average bit rate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rung {
    pub height: u32,
    pub kbps: u32,
}

/// `--ladder SPEC`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LadderSpec {
    /// Rungs given on the command line, highest first.
    Rungs(Vec<Rung>),
    /// [`APPLE_H264`], capped at the source's height.
    Apple,
    /// Rungs and bit rates from a probe of this title ([`auto_ladder`]).
    Auto,
}

/// The H.264 SDR ladder of Apple's "HLS Authoring Specification for Apple
/// Devices" (the 16:9 bit-rate table of its Video section), as (width,
/// height, average kb/s), lowest first. Two rungs share 432 lines and two
/// each share 720 and 1080, at different bit rates.
pub const APPLE_H264: [(u32, u32, u32); 9] = [
    (416, 234, 145),
    (640, 360, 365),
    (768, 432, 730),
    (768, 432, 1100),
    (960, 540, 2000),
    (1280, 720, 3000),
    (1280, 720, 4500),
    (1920, 1080, 6000),
    (1920, 1080, 7800),
];

/// Heights a rung may have: small enough to be worth a rung, no larger than
/// H.264 level 6.2 carries.
const MIN_HEIGHT: u32 = 64;
const MAX_HEIGHT: u32 = 4320;
const MIN_KBPS: u32 = 50;
const MAX_KBPS: u32 = 200_000;

const SPEC_HINT: &str =
    "give rungs as HEIGHTp:BITRATEk separated by commas, e.g. --ladder 1080p:6000k,720p:3000k,360p:800k, or --ladder apple, or --ladder auto";

impl std::str::FromStr for LadderSpec {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        let s = s.trim();
        match s.to_ascii_lowercase().as_str() {
            "apple" => return Ok(LadderSpec::Apple),
            "auto" => return Ok(LadderSpec::Auto),
            "" => return Err(Error::arg("--ladder is empty", SPEC_HINT)),
            _ => {}
        }
        let mut rungs = Vec::new();
        for (i, part) in s.split(',').enumerate() {
            let n = i + 1;
            let part = part.trim();
            let Some((h, b)) = part.split_once(':') else {
                return Err(Error::arg(
                    format!("--ladder rung {n} '{part}' has no bit rate"),
                    SPEC_HINT,
                ));
            };
            let height = parse_height(h.trim()).ok_or_else(|| {
                Error::arg(
                    format!("--ladder rung {n} '{part}': '{h}' is not a height such as 720p"),
                    SPEC_HINT,
                )
            })?;
            if height % 2 != 0 || !(MIN_HEIGHT..=MAX_HEIGHT).contains(&height) {
                return Err(Error::arg(
                    format!("--ladder rung {n} '{part}': a height of {height} lines cannot be encoded"),
                    format!("give an even height from {MIN_HEIGHT}p to {MAX_HEIGHT}p (4:2:0 video needs even sizes)"),
                ));
            }
            let kbps = parse_kbps(b.trim()).ok_or_else(|| {
                Error::arg(
                    format!(
                        "--ladder rung {n} '{part}': '{b}' is not a bit rate such as 3000k or 6M"
                    ),
                    SPEC_HINT,
                )
            })?;
            if !(MIN_KBPS..=MAX_KBPS).contains(&kbps) {
                return Err(Error::arg(
                    format!("--ladder rung {n} '{part}': {kbps}k is out of range"),
                    format!("give a bit rate from {MIN_KBPS}k to {}M", MAX_KBPS / 1000),
                ));
            }
            let rung = Rung { height, kbps };
            if rungs.contains(&rung) {
                return Err(Error::arg(
                    format!("--ladder names {height}p:{kbps}k twice"),
                    "every rung must differ in height or bit rate; remove the repeated one",
                ));
            }
            rungs.push(rung);
        }
        rungs.sort_by_key(|r| std::cmp::Reverse((r.height, r.kbps)));
        Ok(LadderSpec::Rungs(rungs))
    }
}

fn parse_height(s: &str) -> Option<u32> {
    let digits = s.strip_suffix('p').or_else(|| s.strip_suffix('P'))?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

fn parse_kbps(s: &str) -> Option<u32> {
    let (num, scale) = if let Some(d) = s.strip_suffix(['k', 'K']) {
        (d, 1.0)
    } else if let Some(d) = s.strip_suffix(['m', 'M']) {
        (d, 1000.0)
    } else {
        return None;
    };
    if num.is_empty() || !num.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        return None;
    }
    let v: f64 = num.parse().ok()?;
    let k = (v * scale).round();
    (k.is_finite() && k >= 1.0 && k <= f64::from(u32::MAX)).then_some(k as u32)
}

/// A rung made concrete for one source: its frame size and bit rate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RungPlan {
    pub width: u32,
    pub height: u32,
    pub kbps: u32,
}

impl RungPlan {
    /// The folder name DESIGN.md gives the rendition: `<height>p`, or
    /// `<height>p-<kbps>k` when another rung has the same height.
    pub fn name(&self, all: &[RungPlan]) -> String {
        if all.iter().filter(|r| r.height == self.height).count() > 1 {
            format!("{}p-{}k", self.height, self.kbps)
        } else {
            format!("{}p", self.height)
        }
    }
}

/// The width that keeps the source's display shape at `height` lines, even.
pub fn width_for(height: u32, src_width: u32, src_height: u32, sar: f64) -> u32 {
    let sar = if sar.is_finite() && sar > 0.0 {
        sar
    } else {
        1.0
    };
    let dar = f64::from(src_width) * sar / f64::from(src_height.max(1));
    let w = (f64::from(height) * dar / 2.0).round() as u32 * 2;
    w.max(2)
}

/// Rungs for a source of `src_height` lines: SPEC rungs (refusing any taller
/// than the source, which would only cost bits) or Apple's ladder capped at
/// the source's height. `Auto` is decided by [`auto_ladder`] from a probe.
pub fn resolve(
    spec: &LadderSpec,
    src_width: u32,
    src_height: u32,
    sar: f64,
) -> Result<Vec<RungPlan>> {
    let plan = |height: u32, kbps: u32| RungPlan {
        width: width_for(height, src_width, src_height, sar),
        height,
        kbps,
    };
    match spec {
        LadderSpec::Rungs(rungs) => {
            if let Some(r) = rungs.iter().find(|r| r.height > src_height) {
                return Err(Error::arg(
                    format!(
                        "--ladder asks for {}p but the source is only {src_height} lines high",
                        r.height
                    ),
                    format!(
                        "scaling up adds bits, not detail; give rungs of {src_height}p or less"
                    ),
                ));
            }
            Ok(rungs.iter().map(|r| plan(r.height, r.kbps)).collect())
        }
        LadderSpec::Apple => {
            let mut out: Vec<RungPlan> = APPLE_H264
                .iter()
                .rev()
                .filter(|(_, h, _)| *h <= src_height)
                .map(|(_, h, k)| plan(*h, *k))
                .collect();
            if out.is_empty() {
                // smaller than Apple's lowest rung: one rung at the source's size
                let h = src_height & !1;
                out.push(plan(h.max(2), APPLE_H264[0].2));
            }
            Ok(out)
        }
        LadderSpec::Auto => Err(Error::arg(
            "--ladder auto needs a probe of the title",
            "this is a bug: the caller should probe and call auto_ladder",
        )),
    }
}

/// What the `auto` probe measured: the average bit rate libx264 spent at a
/// fixed CRF on samples of the title scaled to `width`x`height`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Probe {
    pub width: u32,
    pub height: u32,
    pub fps: f64,
    pub kbps: f64,
}

/// Adjacent rungs of an `auto` ladder differ in bit rate by at least this
/// factor (Apple's table steps by 1.4x to 2.5x): closer rungs cost storage
/// and a switch between them buys the viewer nothing.
pub const AUTO_MIN_STEP: f64 = 1.5;
/// Bits grow more slowly than pixels (larger frames predict better): the
/// exponent of the pixel ratio used to carry the probe's bit rate to other
/// sizes.
const PIXEL_EXPONENT: f64 = 0.75;

/// The `auto` ladder for a source, from its probe. Candidates are the heights
/// of Apple's table up to the source's own; each gets the bit rate the probe
/// says this title needs at that size (the probe's kb/s carried over by
/// pixels^0.75 and frame rate), kept between a floor and 1.5x Apple's figure
/// for that height. Walking down from the top, a rung is kept only when it
/// costs at most 1/1.5 of the last rung kept: a flat, easy title ends with few
/// rungs at low rates, a noisy one with every height at high rates.
pub fn auto_ladder(probe: &Probe, src_width: u32, src_height: u32, sar: f64) -> Vec<RungPlan> {
    let mut heights: Vec<u32> = APPLE_H264
        .iter()
        .map(|(_, h, _)| *h)
        .filter(|h| *h <= src_height)
        .collect();
    heights.dedup();
    if heights.is_empty() {
        heights.push((src_height & !1).max(2));
    }
    let probe_px = f64::from(probe.width) * f64::from(probe.height);
    let mut out: Vec<RungPlan> = Vec::new();
    for &h in heights.iter().rev() {
        let w = width_for(h, src_width, src_height, sar);
        let px = f64::from(w) * f64::from(h);
        let apple_top = APPLE_H264
            .iter()
            .filter(|(_, ah, _)| *ah == h)
            .map(|(_, _, k)| *k)
            .max()
            .unwrap_or(APPLE_H264[0].2);
        let ceiling = f64::from(apple_top) * 1.5;
        let floor = f64::from(MIN_KBPS) * 2.0;
        let want = probe.kbps * (px / probe_px.max(1.0)).powf(PIXEL_EXPONENT);
        let kbps = (want.clamp(floor, ceiling) / 10.0).round() as u32 * 10;
        let keep = match out.last() {
            None => true,
            Some(prev) => f64::from(kbps) * AUTO_MIN_STEP <= f64::from(prev.kbps),
        };
        if keep {
            out.push(RungPlan {
                width: w,
                height: h,
                kbps,
            });
        }
    }
    out
}

/// A grid cut (one that only keeps segments near the target duration) is not
/// made when less than this many seconds of video follow it: the sliver
/// would be a segment of a frame or two, and a title cut with `ffmpeg -t N
/// -c copy` often has its audio end at N while its video runs a few frames
/// on, so the audio would have no segment there at all. Forced cuts (scene
/// and key-period boundaries) are made wherever they fall.
pub const MIN_TAIL: f64 = 0.5;

/// The times (seconds from the first frame) every rung gets a keyframe at:
/// one every `segment_duration` from 0, plus any `extra` (scene starts of a
/// policy), sorted and without near-duplicates. The package pipeline then
/// cuts every rendition at the same frames.
pub fn cut_times(duration: f64, segment_duration: f64, extra: &[f64]) -> Vec<f64> {
    let mut cuts = vec![0.0];
    if segment_duration > 0.0 && duration.is_finite() {
        let mut k = 1u64;
        loop {
            let t = k as f64 * segment_duration;
            if t >= duration - MIN_TAIL {
                break;
            }
            cuts.push(t);
            k += 1;
        }
    }
    cuts.extend(
        extra
            .iter()
            .copied()
            .filter(|t| t.is_finite() && *t > 0.0 && *t < duration),
    );
    cuts.sort_by(f64::total_cmp);
    cuts.dedup_by(|b, a| (*b - *a).abs() < 1e-3);
    cuts
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(s: &str) -> String {
        s.parse::<LadderSpec>().unwrap_err().to_string()
    }

    #[test]
    fn parses_rungs_highest_first() {
        let s: LadderSpec = "720p:3000k, 1080p:6M,360p:0.8M".parse().unwrap();
        assert_eq!(
            s,
            LadderSpec::Rungs(vec![
                Rung {
                    height: 1080,
                    kbps: 6000
                },
                Rung {
                    height: 720,
                    kbps: 3000
                },
                Rung {
                    height: 360,
                    kbps: 800
                },
            ])
        );
        assert_eq!("Apple".parse::<LadderSpec>().unwrap(), LadderSpec::Apple);
        assert_eq!("auto".parse::<LadderSpec>().unwrap(), LadderSpec::Auto);
    }

    #[test]
    fn spec_errors_say_which_rung_and_how() {
        for (bad, says) in [
            ("", "--ladder is empty"),
            ("1080p", "rung 1 '1080p' has no bit rate"),
            (
                "1080p:6000k,720:3000k",
                "rung 2 '720:3000k': '720' is not a height",
            ),
            ("720p:3000", "'3000' is not a bit rate"),
            ("721p:3000k", "a height of 721 lines"),
            ("32p:100k", "a height of 32 lines"),
            ("720p:10k", "10k is out of range"),
            ("720p:3000k,720p:3M", "names 720p:3000k twice"),
            ("720p:-3k", "is not a bit rate"),
        ] {
            let e = err(bad);
            assert!(e.contains(says), "{bad:?}: {e}");
        }
    }

    #[test]
    fn apple_is_capped_at_the_source() {
        let r = resolve(&LadderSpec::Apple, 1280, 720, 1.0).unwrap();
        let got: Vec<(u32, u32, u32)> = r.iter().map(|r| (r.width, r.height, r.kbps)).collect();
        assert_eq!(
            got,
            vec![
                (1280, 720, 4500),
                (1280, 720, 3000),
                (960, 540, 2000),
                (768, 432, 1100),
                (768, 432, 730),
                (640, 360, 365),
                (416, 234, 145),
            ]
        );
        assert_eq!(r[0].name(&r), "720p-4500k");
        assert_eq!(r[2].name(&r), "540p");
        // a 4:3 source keeps its shape
        let r = resolve(&LadderSpec::Apple, 640, 480, 1.0).unwrap();
        assert_eq!((r[0].width, r[0].height), (576, 432));
        // smaller than the lowest rung: one rung at its own size
        let r = resolve(&LadderSpec::Apple, 320, 180, 1.0).unwrap();
        assert_eq!((r.len(), r[0].width, r[0].height), (1, 320, 180));
    }

    #[test]
    fn rungs_taller_than_the_source_are_refused() {
        let s: LadderSpec = "1080p:6000k,720p:3000k".parse().unwrap();
        let e = resolve(&s, 1280, 720, 1.0).unwrap_err().to_string();
        assert!(
            e.contains("asks for 1080p but the source is only 720 lines"),
            "{e}"
        );
    }

    #[test]
    fn auto_gives_easy_titles_fewer_cheaper_rungs() {
        let easy = Probe {
            width: 640,
            height: 360,
            fps: 25.0,
            kbps: 60.0,
        };
        let hard = Probe {
            width: 640,
            height: 360,
            fps: 25.0,
            kbps: 2500.0,
        };
        let e = auto_ladder(&easy, 1920, 1080, 1.0);
        let h = auto_ladder(&hard, 1920, 1080, 1.0);
        assert!(e.len() < h.len(), "{e:?} vs {h:?}");
        assert!(e[0].kbps < h[0].kbps);
        for l in [&e, &h] {
            assert_eq!(l[0].height, 1080);
            for w in l.windows(2) {
                assert!(
                    f64::from(w[1].kbps) * AUTO_MIN_STEP <= f64::from(w[0].kbps),
                    "{l:?}"
                );
            }
        }
    }

    #[test]
    fn cuts_every_segment_plus_scene_starts() {
        assert_eq!(cut_times(13.0, 6.0, &[]), vec![0.0, 6.0, 12.0]);
        assert_eq!(cut_times(12.0, 6.0, &[]), vec![0.0, 6.0]);
        assert_eq!(
            cut_times(13.0, 6.0, &[4.5, 6.0004, 20.0]),
            vec![0.0, 4.5, 6.0, 12.0]
        );
    }
}
