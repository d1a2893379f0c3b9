//! WebVTT subtitle renditions (EXT-X-MEDIA TYPE=SUBTITLES): the cues of a
//! text subtitle track, segmented at the video's cuts, always clear.
//!
//! Each segment holds every cue that shows during it (a cue that spans a
//! cut is in both, as FFmpeg's HLS muxer does and players expect), with
//! times from the title's start, and maps them onto the video's MPEG-TS
//! clock with `X-TIMESTAMP-MAP=MPEGTS:<90 kHz>,LOCAL:00:00:00.000` (RFC 8216
//! 3.5): LOCAL zero is the first video keyframe, MPEGTS the time stamp that
//! keyframe carries in the video segments (`media::subtitles`).

use std::path::Path;

use shieldpack_core::crypto;
use shieldpack_core::error::Result;
use shieldpack_core::fsutil;
use shieldpack_core::hls::MediaSegment;
use shieldpack_core::manifest::SegmentRecord;
use shieldpack_media::subtitles::{Cue, Subtitles};

/// `HH:MM:SS.mmm`, as WebVTT writes times.
fn timestamp(t: f64) -> String {
    let ms = (t.max(0.0) * 1000.0).round() as u64;
    format!(
        "{:02}:{:02}:{:02}.{:03}",
        ms / 3_600_000,
        ms / 60_000 % 60,
        ms / 1000 % 60,
        ms % 1000
    )
}

/// Cue text as WebVTT needs it: `&`, `<` and `>` escaped (so no text can
/// open a tag or read as `-->`), no blank line inside a cue.
fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .lines()
        .filter(|l| !l.trim().is_empty())
        .collect::<Vec<_>>()
        .join("\n")
}

/// One segment's file: the header, the map, and the cues in `[start, end)`.
pub(crate) fn segment_text(cues: &[Cue], mpegts: i64, start: f64, end: f64) -> String {
    let mut o = format!("WEBVTT\nX-TIMESTAMP-MAP=MPEGTS:{mpegts},LOCAL:00:00:00.000\n");
    for c in cues.iter().filter(|c| c.start < end && c.end > start) {
        o.push_str(&format!(
            "\n{} --> {}\n{}\n",
            timestamp(c.start),
            timestamp(c.end),
            escape(&c.text)
        ));
    }
    o
}

/// The whole track as one WebVTT file for DASH (a sidecar named by the
/// MPD's `BaseURL`, DASH-IF IOP 6.4.5): every cue once, its times moved by
/// `shift` seconds onto the MPD's presentation timeline, no
/// X-TIMESTAMP-MAP (an HLS header; DASH times a sidecar from the Period's
/// start).
pub(crate) fn sidecar_text(cues: &[Cue], shift: f64) -> String {
    let mut o = String::from("WEBVTT\n");
    for c in cues {
        o.push_str(&format!(
            "\n{} --> {}\n{}\n",
            timestamp(c.start + shift),
            timestamp(c.end + shift),
            escape(&c.text)
        ));
    }
    o
}

/// Writes rendition `name`'s segments into `root/name`, one per segment of
/// `video` (the first video rendition's), and returns their records and
/// playlist entries. Key periods and scenes are the video's, with no key.
pub(crate) fn write(
    root: &Path,
    name: &str,
    subs: &Subtitles,
    video: &[SegmentRecord],
) -> Result<(Vec<SegmentRecord>, Vec<MediaSegment>)> {
    let dir = root.join(name);
    std::fs::create_dir(&dir).map_err(|e| shieldpack_core::Error::io(&dir, e))?;
    let mut records = Vec::with_capacity(video.len());
    let mut playlist = Vec::with_capacity(video.len());
    for v in video {
        let file = format!("seg_{:05}.vtt", v.sequence);
        let text = segment_text(&subs.cues, subs.mpegts, v.start, v.start + v.duration);
        fsutil::write_file(&dir.join(&file), text.as_bytes())?;
        let mut h = crypto::Sha256One::new();
        h.update(text.as_bytes());
        records.push(SegmentRecord {
            uri: format!("{name}/{file}"),
            sequence: v.sequence,
            start: v.start,
            duration: v.duration,
            size: text.len() as u64,
            sha256: hex::encode(h.finalize()),
            video_frames: 0,
            period: v.period,
            generation: v.generation,
            kid: None,
            iv_mode: v.iv_mode.clone(),
            iv: None,
            scene: v.scene.clone(),
            variants: Vec::new(),
        });
        playlist.push(MediaSegment {
            duration: v.duration,
            uri: file,
            key: None,
            extra_keys: Vec::new(),
            line: 0,
        });
    }
    Ok((records, playlist))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_hold_the_cues_shown_in_them_escaped_and_mapped() {
        let cues = vec![
            Cue {
                start: 0.5,
                end: 2.5,
                text: "a <b> & c".into(),
            },
            Cue {
                start: 3.0,
                end: 3.5,
                text: "second\n\nline".into(),
            },
        ];
        let s = segment_text(&cues, 126_000, 2.0, 4.0);
        assert_eq!(
            s,
            "WEBVTT\nX-TIMESTAMP-MAP=MPEGTS:126000,LOCAL:00:00:00.000\n\n\
             00:00:00.500 --> 00:00:02.500\na &lt;b&gt; &amp; c\n\n\
             00:00:03.000 --> 00:00:03.500\nsecond\nline\n"
        );
        assert_eq!(timestamp(3723.0456), "01:02:03.046");
        assert_eq!(segment_text(&cues, 0, 4.0, 6.0).matches("-->").count(), 0);
        assert_eq!(
            sidecar_text(&cues, 0.08),
            "WEBVTT\n\n00:00:00.580 --> 00:00:02.580\na &lt;b&gt; &amp; c\n\n\
             00:00:03.080 --> 00:00:03.580\nsecond\nline\n"
        );
    }
}
