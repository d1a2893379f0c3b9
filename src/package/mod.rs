//! The packaging pipeline: media segments in, an encrypted HLS package out.
//!
//! One thread demuxes and muxes TS segments in memory (`media::segment`); this
//! thread assigns each its key period, encrypts it whole with AES-128-CBC, hashes
//! and writes it. Everything is written into a staged folder that is renamed to
//! OUTDIR only when whole. Output depends only on the input, keyring and flags.

pub mod manifest;
pub mod rekey;
pub mod verify;

use std::path::{Path, PathBuf};
use std::sync::mpsc;

use sha2::{Digest, Sha256};

use crate::crypto;
use crate::error::{Error, Result};
use crate::fsutil::{self, StagedDir};
use crate::hls::{Key, MasterPlaylist, MediaPlaylist, MediaSegment, PlaylistType, Variant};
use crate::keys::Keyring;
use crate::media::{self, segment};
use crate::output::Progress;
use manifest::{Manifest, Rendition, Rotation, SegmentRecord, Source};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IvMode {
    Sequence,
    Derived,
}

impl IvMode {
    pub fn as_str(self) -> &'static str {
        match self {
            IvMode::Sequence => "sequence",
            IvMode::Derived => "derived",
        }
    }
}

/// Everything `package` needs besides the keyring.
#[derive(Debug, Clone)]
pub struct Options {
    pub input: PathBuf,
    pub output: PathBuf,
    pub content_id: String,
    pub segment_duration: f64,
    pub rotation: Rotation,
    pub key_uri: String,
    pub iv: IvMode,
    pub force: bool,
}

/// What was made.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub manifest: Manifest,
    pub video_frames: u64,
    pub dropped_leading: u64,
}

/// Checks flags that do not need the input.
pub fn check_options(o: &Options) -> Result<()> {
    crate::keys::check_content_id(&o.content_id)?;
    if !(o.segment_duration.is_finite() && o.segment_duration >= 0.5 && o.segment_duration <= 60.0)
    {
        return Err(Error::arg(
            format!("--segment-duration {} is out of range", o.segment_duration),
            "give a target between 0.5 and 60 seconds; 6 is the HLS authoring guideline",
        ));
    }
    match o.rotation {
        Rotation::Time { seconds } if seconds + 1e-9 < o.segment_duration => {
            return Err(Error::arg(
                format!("--rotate-every {seconds}s is shorter than the {}s segment duration", o.segment_duration),
                "a key period holds whole segments; rotate at least every segment duration, or use --rotate-segments 1",
            ))
        }
        Rotation::Segments { count: 0 } => {
            return Err(Error::arg("--rotate-segments 0 is not a count", "give a count of 1 or more segments per key"))
        }
        _ => {}
    }
    check_key_uri(&o.key_uri)
}

fn check_key_uri(t: &str) -> Result<()> {
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

fn period_of(rotation: Rotation, index: usize, start: f64) -> u64 {
    match rotation {
        Rotation::None => 0,
        Rotation::Segments { count } => index as u64 / u64::from(count),
        Rotation::Time { seconds } => ((start + 1e-6) / seconds).floor() as u64,
    }
}

/// Rounds to what the playlist prints (milliseconds), so the target duration
/// rule is checked against the value players read.
fn ms(d: f64) -> f64 {
    (d * 1000.0).round() / 1000.0
}

/// RFC 8216 4.3.4.2: the peak segment bit rate is the largest bit rate of any
/// contiguous run of segments lasting 0.5 to 1.5 target durations.
fn peak_bandwidth(segs: &[(f64, u64)], target: f64) -> u64 {
    let mut peak = 0.0f64;
    for i in 0..segs.len() {
        let (mut dur, mut bytes) = (0.0, 0u64);
        for &(d, b) in &segs[i..] {
            dur += d;
            bytes += b;
            if dur > 1.5 * target {
                break;
            }
            if dur >= 0.5 * target {
                peak = peak.max(bytes as f64 * 8.0 / dur);
            }
        }
    }
    if peak == 0.0 {
        let (d, b) = segs
            .iter()
            .fold((0.0, 0u64), |(d, b), s| (d + s.0, b + s.1));
        peak = if d > 0.0 { b as f64 * 8.0 / d } else { 0.0 };
    }
    peak.ceil() as u64
}

/// Packages `o.input` into `o.output`, encrypting with keys from `keyring`
/// (a clear package when `None`).
pub fn package(o: &Options, keyring: Option<&Keyring>, progress: &dyn Progress) -> Result<Outcome> {
    check_options(o)?;
    let info = media::probe(&o.input)?;
    let sel = info.select()?;
    let staged = StagedDir::new(&o.output, o.force)?;
    let rendition = format!("{}p", sel.video.height.unwrap_or(0));
    let rdir = staged.path().join(&rendition);
    std::fs::create_dir(&rdir).map_err(|e| Error::io(&rdir, e))?;

    let mut forced = Vec::new();
    if let Rotation::Time { seconds } = o.rotation {
        let end = info.duration.unwrap_or(0.0);
        let mut k = 1u64;
        while (k as f64) * seconds < end + seconds {
            forced.push(k as f64 * seconds);
            k += 1;
        }
    }
    let plan = segment::Plan {
        target: o.segment_duration,
        forced_cuts: forced,
    };

    let (tx, rx) = mpsc::sync_channel::<segment::Segment>(2);
    let mut records: Vec<SegmentRecord> = Vec::new();
    let mut playlist_segments: Vec<MediaSegment> = Vec::new();
    let summary = std::thread::scope(|scope| -> Result<segment::Summary> {
        let input = &o.input;
        let plan = &plan;
        let demux = scope.spawn(move || {
            segment::run(input, plan, progress, |seg| {
                tx.send(seg).map_err(|_| Error::Interrupted)
            })
        });
        let mut last_key: Option<(u64, u32)> = None;
        let mut write_err = None;
        for mut seg in rx.iter() {
            if write_err.is_some() {
                continue; // drain so the demuxer can finish and report
            }
            let sequence = seg.index as u64;
            let period = period_of(o.rotation, seg.index, seg.start);
            let mut key_tag = None;
            let (generation, kid, iv) = match keyring {
                None => {
                    if seg.index == 0 {
                        key_tag = Some(Key::none());
                    }
                    (0, None, None)
                }
                Some(kr) => {
                    let generation = kr.generation_for(&o.content_id, period);
                    let kid_bytes = kr.kid(&o.content_id, generation, period);
                    let kid = hex::encode(kid_bytes);
                    let key = kr.content_key(&o.content_id, generation, period);
                    let (iv, explicit) = match o.iv {
                        IvMode::Sequence => (crypto::sequence_iv(sequence), None),
                        IvMode::Derived => {
                            let iv = kr.iv(&o.content_id, generation, period, sequence);
                            (iv, Some(iv))
                        }
                    };
                    crypto::encrypt_in_place(&mut seg.data, &key, &iv);
                    if explicit.is_some() || last_key != Some((period, generation)) {
                        key_tag = Some(Key::aes128(
                            key_uri(&o.key_uri, &kid, period, &o.content_id),
                            explicit,
                        ));
                    }
                    last_key = Some((period, generation));
                    (generation, Some(kid), explicit.map(hex::encode))
                }
            };
            let name = format!("seg_{:05}.ts", seg.index);
            let path = rdir.join(&name);
            if let Err(e) = fsutil::write_file(&path, &seg.data) {
                write_err = Some(e);
                continue;
            }
            let duration = ms(seg.duration);
            records.push(SegmentRecord {
                uri: format!("{rendition}/{name}"),
                sequence,
                start: ms(seg.start),
                duration,
                size: seg.data.len() as u64,
                sha256: hex::encode(Sha256::digest(&seg.data)),
                video_frames: seg.video_frames,
                period,
                generation,
                kid,
                iv_mode: o.iv.as_str().into(),
                iv,
                scene: None,
            });
            playlist_segments.push(MediaSegment {
                duration,
                uri: name,
                key: key_tag,
                line: 0,
            });
        }
        let summary = demux.join().expect("the demux thread does not panic")?;
        match write_err {
            Some(e) => Err(e),
            None => Ok(summary),
        }
    })?;

    let target = o.segment_duration;
    let target_duration = playlist_segments
        .iter()
        .map(|s| s.duration.round() as u64)
        .max()
        .unwrap_or(1)
        .max(1);
    let media = MediaPlaylist {
        version: 3,
        target_duration,
        media_sequence: 0,
        playlist_type: Some(PlaylistType::Vod),
        independent_segments: true,
        segments: playlist_segments,
        end_list: true,
    };
    fsutil::write_file(&rdir.join("index.m3u8"), media.write().as_bytes())?;

    let sizes: Vec<(f64, u64)> = records.iter().map(|r| (r.duration, r.size)).collect();
    let total_bytes: u64 = records.iter().map(|r| r.size).sum();
    let total_dur: f64 = records.iter().map(|r| r.duration).sum();
    let average = if total_dur > 0.0 {
        (total_bytes as f64 * 8.0 / total_dur).ceil() as u64
    } else {
        0
    };
    let peak = peak_bandwidth(&sizes, target).max(average);
    let codecs = media::MediaInfo::codecs_attr(&sel);
    let (w, h) = (sel.video.width.unwrap_or(0), sel.video.height.unwrap_or(0));
    let frame_rate = sel.video.frame_rate.map(|f| (f * 1000.0).round() / 1000.0);
    let playlist_uri = format!("{rendition}/index.m3u8");
    let master = MasterPlaylist {
        version: 3,
        independent_segments: true,
        variants: vec![Variant {
            bandwidth: peak,
            average_bandwidth: Some(average),
            resolution: Some((w, h)),
            codecs: Some(codecs.clone()),
            frame_rate,
            uri: playlist_uri.clone(),
        }],
    };
    fsutil::write_file(
        &staged.path().join("master.m3u8"),
        master.write().as_bytes(),
    )?;

    let manifest = Manifest {
        format: manifest::FORMAT.into(),
        format_version: manifest::FORMAT_VERSION,
        tool: "shieldpack".into(),
        tool_version: env!("CARGO_PKG_VERSION").into(),
        content_id: o.content_id.clone(),
        keyring_fingerprint: keyring.map(|k| k.fingerprint().to_string()),
        encryption: if keyring.is_some() { "aes-128" } else { "none" }.into(),
        iv_mode: o.iv.as_str().into(),
        key_uri_template: o.key_uri.clone(),
        segment_duration: o.segment_duration,
        rotation: o.rotation,
        source: Source {
            file: o
                .input
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
            duration: ms(summary.duration),
            video_frames: summary.video_frames,
        },
        renditions: vec![Rendition {
            name: rendition,
            playlist: playlist_uri,
            bandwidth: peak,
            average_bandwidth: average,
            resolution: format!("{w}x{h}"),
            frame_rate,
            codecs,
            segments: records,
        }],
    };
    fsutil::write_file(
        &staged.path().join("manifest.json"),
        manifest.to_json().as_bytes(),
    )?;
    crate::interrupt::check()?;
    staged.publish()?;
    Ok(Outcome {
        manifest,
        video_frames: summary.video_frames,
        dropped_leading: summary.dropped_leading,
    })
}

/// The default content id for an input: its file stem, made safe.
pub fn default_content_id(input: &Path) -> String {
    crate::keys::content_id_from(
        &input
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn periods() {
        assert_eq!(period_of(Rotation::Segments { count: 2 }, 5, 0.0), 2);
        assert_eq!(
            period_of(Rotation::Time { seconds: 10.0 }, 0, 19.999_999_5),
            2
        );
        assert_eq!(period_of(Rotation::Time { seconds: 10.0 }, 0, 9.5), 0);
        assert_eq!(period_of(Rotation::None, 9, 99.0), 0);
    }

    #[test]
    fn key_uri_templates() {
        assert!(check_key_uri("https://k.example/{content_id}/{period}/{kid}").is_ok());
        assert!(check_key_uri("keys/{nope}.key").is_err());
        assert!(check_key_uri("keys/{kid.key").is_err());
        assert!(check_key_uri("a\"b").is_err());
        assert_eq!(key_uri("k/{kid}-{period}", "ab", 3, "c"), "k/ab-3");
    }

    #[test]
    fn peak_is_over_runs_of_half_to_one_and_a_half_targets() {
        let segs = [
            (6.0, 6_000_000 / 8),
            (6.0, 12_000_000 / 8),
            (1.0, 8_000_000 / 8),
        ];
        // The 1 s segment alone is too short to count; with its neighbour it is 7 s.
        assert_eq!(peak_bandwidth(&segs, 6.0), 2_857_143);
    }
}
