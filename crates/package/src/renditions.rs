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

use std::path::{Path, PathBuf};

use shieldpack_core::error::{Error, Result};
use shieldpack_core::manifest::SegmentRecord;
use shieldpack_media::{self as media, segment};

use shieldpack_core::hls::{Media, Variant};

use super::{IvMode, Made, Options};

/// How far apart two renditions' cuts may be and still be one cut: the
/// manifest keeps times in milliseconds.
const SAME_CUT: f64 = 0.0015;

/// `o` with derived IVs where it would have sequence IVs and `needed`, or
/// `None` when it needs no change. Renditions sharing a key period's key
/// (several inputs, or one input's audio tracks packaged apart) would
/// repeat sequence IVs across them (segment N of each), so theirs are
/// derived with the rendition's index in the derivation; SAMPLE-AES puts
/// an explicit IV on every segment's key line.
pub(crate) fn derived_ivs(o: &Options, needed: bool) -> Option<Options> {
    (needed && o.iv == IvMode::Sequence).then(|| Options {
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
pub(crate) fn follow(plan: &segment::Plan, first: &[SegmentRecord]) -> segment::Plan {
    segment::Plan {
        // No grid: a keyframe between the first rendition's cuts is no cut.
        target: 1e12,
        forced_cuts: first
            .iter()
            .skip(1)
            .map(|r| r.start - SAME_CUT / 2.0)
            .collect(),
        cut_every: None,
        video_only: plan.video_only,
        format: plan.format,
    }
}

/// Whether `got` starts its segments where `first` did.
pub(crate) fn same_cuts(first: &[SegmentRecord], got: &[SegmentRecord]) -> bool {
    first.len() == got.len()
        && first
            .iter()
            .zip(got)
            .all(|(a, b)| (a.start - b.start).abs() <= SAME_CUT)
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

/// An audio track of the inputs that becomes an alternate audio rendition.
#[derive(Debug, Clone)]
pub(crate) struct AudioTrack {
    pub input: PathBuf,
    pub stream: usize,
    /// Its folder: `audio-<lang>`, `-2`, `-3`... for more in one language.
    pub name: String,
    /// RFC 5646 (`en`), for EXT-X-MEDIA's LANGUAGE.
    pub language: Option<String>,
    /// EXT-X-MEDIA's NAME: the stream's title, else its language's name.
    pub label: String,
    pub channels: Option<u32>,
    pub codecs: String,
}

/// The audio tracks of `inputs` as alternate audio renditions (DESIGN.md:
/// every audio track of the inputs), or none when the package keeps the
/// muxed layout: one input with at most one audio track. A track that
/// another input already has (same codec, channels, sample rate, frame
/// count, language and title: what a ladder encoder copies into every rung)
/// is packaged once. Tracks in codecs HLS cannot carry are left to the
/// warning about dropped streams.
pub(crate) fn audio_tracks(inputs: &[&Path], split: bool) -> Result<Vec<AudioTrack>> {
    type Identity = (
        String,
        String,
        Option<u32>,
        Option<u32>,
        Option<u64>,
        Option<String>,
        Option<String>,
    );
    // A pipe can be read once: it keeps the muxed layout, unprobed.
    if inputs.len() == 1 && !inputs[0].is_file() {
        return Ok(Vec::new());
    }
    let mut seen: Vec<Identity> = Vec::new();
    let mut found = Vec::new();
    let mut audio_streams = 0;
    for input in inputs {
        let info = media::probe_headers(input)?;
        for s in info.streams.iter().filter(|s| s.kind == "audio") {
            audio_streams += 1;
            let Some(codecs) = s.codecs.clone() else {
                continue;
            };
            let id = (
                s.codec.clone(),
                codecs.clone(),
                s.channels,
                s.sample_rate,
                s.frames,
                s.language.clone(),
                s.title.clone(),
            );
            if seen.contains(&id) {
                continue;
            }
            seen.push(id);
            found.push((input.to_path_buf(), s.clone(), codecs));
        }
    }
    // `split` (CMAF: one track per file) keeps even a single track apart.
    if !split && inputs.len() < 2 && audio_streams < 2 {
        return Ok(Vec::new());
    }
    let mut names: Vec<String> = Vec::new();
    let mut out = Vec::new();
    for (input, s, codecs) in found {
        let tag = s.language.clone().unwrap_or_else(|| "und".into());
        let base = format!("audio-{tag}");
        let mut name = base.clone();
        let mut n = 2;
        while names.contains(&name) {
            name = format!("{base}-{n}");
            n += 1;
        }
        names.push(name.clone());
        let language = s.language.as_deref().map(rfc5646);
        let label = s
            .title
            .clone()
            .or_else(|| {
                language
                    .as_deref()
                    .and_then(language_name)
                    .map(str::to_string)
            })
            .unwrap_or_else(|| name.clone());
        out.push(AudioTrack {
            input,
            stream: s.index,
            name,
            language,
            label,
            channels: s.channels,
            codecs,
        });
    }
    Ok(out)
}

/// The GROUP-ID of the alternate audio renditions.
pub(crate) const AUDIO_GROUP: &str = "audio";

/// Points a video variant at the audio group: its BANDWIDTH and
/// AVERAGE-BANDWIDTH then count the group's largest (RFC 8216 4.3.4.2: the
/// rates of every rendition the variant plays with), and its CODECS name
/// the group's codecs too.
pub(crate) fn with_audio_group(v: &mut Variant, audio: &[Made]) {
    if audio.is_empty() {
        return;
    }
    let peak = audio.iter().map(|a| a.variant.bandwidth).max().unwrap_or(0);
    let average = audio
        .iter()
        .filter_map(|a| a.variant.average_bandwidth)
        .max()
        .unwrap_or(0);
    v.bandwidth += peak;
    v.average_bandwidth = v.average_bandwidth.map(|a| a + average);
    let mut codecs: Vec<String> = v.codecs.iter().cloned().collect();
    for a in audio {
        if let Some(c) = &a.variant.codecs {
            if !codecs.contains(c) {
                codecs.push(c.clone());
            }
        }
    }
    v.codecs = Some(codecs.join(","));
    v.audio = Some(AUDIO_GROUP.into());
}

/// The EXT-X-MEDIA lines of the audio renditions; the first is the default.
pub(crate) fn audio_media(tracks: &[AudioTrack], audio: &[Made]) -> Vec<Media> {
    tracks
        .iter()
        .zip(audio)
        .enumerate()
        .map(|(i, (t, m))| Media {
            kind: "AUDIO".into(),
            group_id: AUDIO_GROUP.into(),
            language: t.language.clone(),
            name: t.label.clone(),
            default: i == 0,
            autoselect: true,
            channels: t.channels.map(|c| c.to_string()),
            uri: Some(m.variant.uri.clone()),
        })
        .collect()
}

/// The GROUP-ID of the WebVTT subtitle renditions.
pub(crate) const SUBS_GROUP: &str = "subs";

/// A text subtitle track of the inputs that becomes a WebVTT rendition.
#[derive(Debug, Clone)]
pub(crate) struct SubtitleTrack {
    pub input: PathBuf,
    pub stream: usize,
    /// Its folder: `subs-<lang>`, `-2`... for more in one language.
    pub name: String,
    pub language: Option<String>,
    pub label: String,
}

/// Every text subtitle track (mov_text, SubRip, ASS/SSA, WebVTT) of the
/// inputs, one of each (same codec, language, title and count in several
/// inputs is one track). Bitmap subtitles are left to the dropped-streams
/// warning.
pub(crate) fn subtitle_tracks(inputs: &[&Path]) -> Result<Vec<SubtitleTrack>> {
    // Codec, language, title and cue count.
    type Identity = (String, Option<String>, Option<String>, Option<u64>);
    // A pipe was read once already, by the video rendition.
    if inputs.len() == 1 && !inputs[0].is_file() {
        return Ok(Vec::new());
    }
    let mut seen: Vec<Identity> = Vec::new();
    let mut names: Vec<String> = Vec::new();
    let mut out = Vec::new();
    for input in inputs {
        let info = media::probe_headers(input)?;
        for s in info.streams.iter().filter(|s| {
            s.kind == "subtitle" && media::subtitles::TEXT_CODECS.contains(&s.codec.as_str())
        }) {
            let id = (
                s.codec.clone(),
                s.language.clone(),
                s.title.clone(),
                s.frames,
            );
            if seen.contains(&id) {
                continue;
            }
            seen.push(id);
            let base = format!("subs-{}", s.language.as_deref().unwrap_or("und"));
            let mut name = base.clone();
            let mut n = 2;
            while names.contains(&name) {
                name = format!("{base}-{n}");
                n += 1;
            }
            names.push(name.clone());
            let language = s.language.as_deref().map(rfc5646);
            let label = s
                .title
                .clone()
                .or_else(|| {
                    language
                        .as_deref()
                        .and_then(language_name)
                        .map(str::to_string)
                })
                .unwrap_or_else(|| name.clone());
            out.push(SubtitleTrack {
                input: input.to_path_buf(),
                stream: s.index,
                name,
                language,
                label,
            });
        }
    }
    Ok(out)
}

/// A subtitle rendition's EXT-X-MEDIA: never DEFAULT (subtitles stay off
/// until asked for), AUTOSELECT so a player may match the user's language.
pub(crate) fn subtitle_media(t: &SubtitleTrack) -> Media {
    Media {
        kind: "SUBTITLES".into(),
        group_id: SUBS_GROUP.into(),
        language: t.language.clone(),
        name: t.label.clone(),
        default: false,
        autoselect: true,
        channels: None,
        uri: Some(format!("{}/index.m3u8", t.name)),
    }
}

/// The RFC 5646 tag for an ISO 639-2 code as containers store it: the
/// two-letter ISO 639-1 code where there is one (BCP 47 prefers it, and
/// Apple's authoring rules ask for RFC 5646), else the code as it is.
fn rfc5646(iso639_2: &str) -> String {
    let two = match iso639_2 {
        "eng" => "en",
        "fra" | "fre" => "fr",
        "deu" | "ger" => "de",
        "spa" => "es",
        "ita" => "it",
        "por" => "pt",
        "nld" | "dut" => "nl",
        "swe" => "sv",
        "nor" => "no",
        "dan" => "da",
        "fin" => "fi",
        "pol" => "pl",
        "ces" | "cze" => "cs",
        "rus" => "ru",
        "ukr" => "uk",
        "tur" => "tr",
        "ell" | "gre" => "el",
        "ara" => "ar",
        "heb" => "he",
        "hin" => "hi",
        "jpn" => "ja",
        "kor" => "ko",
        "zho" | "chi" => "zh",
        other => other,
    };
    two.to_string()
}

/// A NAME for a track with no title: its language, in English.
fn language_name(tag: &str) -> Option<&'static str> {
    Some(match tag {
        "en" => "English",
        "fr" => "French",
        "de" => "German",
        "es" => "Spanish",
        "it" => "Italian",
        "pt" => "Portuguese",
        "nl" => "Dutch",
        "sv" => "Swedish",
        "no" => "Norwegian",
        "da" => "Danish",
        "fi" => "Finnish",
        "pl" => "Polish",
        "cs" => "Czech",
        "ru" => "Russian",
        "uk" => "Ukrainian",
        "tr" => "Turkish",
        "el" => "Greek",
        "ar" => "Arabic",
        "he" => "Hebrew",
        "hi" => "Hindi",
        "ja" => "Japanese",
        "ko" => "Korean",
        "zh" => "Chinese",
        _ => return None,
    })
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
                variants: Vec::new(),
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
        let plan = segment::Plan {
            target: 2.0,
            forced_cuts: vec![3.0],
            cut_every: Some(4.0),
            video_only: true,
            format: Default::default(),
        };
        let p = follow(&plan, &records(&[0.0, 2.0, 3.0, 4.0]));
        assert_eq!(p.cut_every, None);
        assert_eq!(p.forced_cuts.len(), 3);
        assert!((p.forced_cuts[0] - 1.99925).abs() < 1e-9);
        assert!(p.target > 1e9);
        assert!(p.video_only);
    }
}
