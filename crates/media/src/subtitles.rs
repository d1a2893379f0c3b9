//! Text subtitles (mov_text, SubRip, ASS/SSA, WebVTT) read as timed cues,
//! for WebVTT subtitle renditions (EXT-X-MEDIA TYPE=SUBTITLES).
//!
//! Cue times are `segment`'s: seconds from the input's first video keyframe.
//! `mpegts` is the 90 kHz MPEG-TS time stamp that keyframe carries in the
//! video segments, worked out as `segment` and `TsMuxer::start_at_zero`
//! shift them, so a WebVTT segment's `X-TIMESTAMP-MAP=MPEGTS:<mpegts>,
//! LOCAL:00:00:00.000` puts its cues where the video shows them (RFC 8216
//! 3.5). Cues are kept in memory: text is small next to media.

use std::ffi::CStr;
use std::path::Path;

use ff::Rescale as _;
use ffmpeg_next as ff;

use super::{describe, next_packet, open_input_with, Probe};
use shieldpack_core::error::{Error, Result};

/// The codecs read as text.
pub const TEXT_CODECS: &[&str] = &["mov_text", "subrip", "srt", "ass", "ssa", "webvtt", "text"];

/// Cues past this many are refused: a hostile file could hold millions.
const MAX_CUES: usize = 200_000;

#[derive(Debug, Clone, PartialEq)]
pub struct Cue {
    pub start: f64,
    pub end: f64,
    pub text: String,
}

#[derive(Debug, Clone)]
pub struct Subtitles {
    pub cues: Vec<Cue>,
    /// The 90 kHz time stamp of time zero in the video segments.
    pub mpegts: i64,
}

/// Reads the text subtitle stream `stream` of `path`. `muxed_audio`: the
/// video segments carry the input's first audio stream too (one input with
/// one audio track), whose first packets move the time stamps as well.
pub fn read(path: &Path, stream: usize, muxed_audio: bool) -> Result<Subtitles> {
    let mut ictx = open_input_with(path, Probe::Headers)?;
    let info = describe(path, &ictx);
    let sel = info.select()?;
    let video = sel.video.index;
    let audio = sel.audio.as_ref().map(|a| a.index).filter(|_| muxed_audio);
    let (v_tb, s_tb, a_tb, params) = {
        let v = ictx.stream(video).expect("selected stream exists");
        let s = ictx.stream(stream).ok_or_else(|| Error::NotMedia {
            path: path.into(),
            reason: format!("no stream #{stream}"),
        })?;
        let a_tb = audio.and_then(|a| ictx.stream(a)).map(|a| a.time_base());
        (v.time_base(), s.time_base(), a_tb, s.parameters())
    };
    let ff_err = |op: &'static str| {
        move |e: ff::Error| Error::Ffmpeg {
            path: path.into(),
            op,
            err: e.to_string(),
        }
    };
    let ctx = ff::codec::context::Context::from_parameters(params)
        .map_err(ff_err("open the subtitle decoder"))?;
    let mut dec = ctx
        .decoder()
        .subtitle()
        .map_err(ff_err("open the subtitle decoder"))?;
    let ninety = ff::Rational::new(1, 90_000);
    // Time zero: the first video keyframe's pts; the muxer's shift: the
    // lowest of its dts and the muxed audio's time stamps before it.
    let mut origin: Option<(f64, i64)> = None;
    let mut lowest_audio: Option<i64> = None;
    let mut raw: Vec<(f64, f64, String)> = Vec::new();
    loop {
        let packet = match next_packet(&mut ictx) {
            Ok(Some(p)) => p,
            Ok(None) => break,
            Err(e) => {
                return Err(Error::Truncated {
                    path: path.into(),
                    reason: format!("reading subtitles stopped: {e}"),
                })
            }
        };
        let si = packet.stream();
        if si == video {
            if origin.is_none() && packet.is_key() {
                if let Some(pts) = packet.pts().or(packet.dts()) {
                    let dts = packet.dts().unwrap_or(pts);
                    let mut firsts = vec![dts.rescale(v_tb, ninety)];
                    firsts.extend(lowest_audio);
                    let offset = (-firsts.iter().copied().min().unwrap_or(0)).max(0);
                    origin = Some((
                        pts as f64 * f64::from(v_tb),
                        pts.rescale(v_tb, ninety) + offset,
                    ));
                }
            }
        } else if Some(si) == audio {
            if origin.is_none() {
                if let (Some(t), Some(tb)) = (packet.dts().or(packet.pts()), a_tb) {
                    let t = t.rescale(tb, ninety);
                    lowest_audio = Some(lowest_audio.map_or(t, |l| l.min(t)));
                }
            }
        } else if si == stream {
            let Some(pts) = packet.pts().or(packet.dts()) else {
                continue;
            };
            let mut sub = ff::Subtitle::new();
            // A cue the decoder refuses is left out, as players would.
            if !dec.decode(&packet, &mut sub).unwrap_or(false) {
                continue;
            }
            let at = pts as f64 * f64::from(s_tb);
            let start = at + f64::from(sub.start()) / 1000.0;
            let end = match sub.end() {
                e if e > sub.start() => at + f64::from(e) / 1000.0,
                _ => at + packet.duration().max(0) as f64 * f64::from(s_tb),
            };
            let text: Vec<String> = sub.rects().filter_map(|r| rect_text(&r)).collect();
            let text = text.join("\n");
            if !text.trim().is_empty() && end > start {
                raw.push((start, end, text));
                if raw.len() > MAX_CUES {
                    return Err(Error::invalid_file(
                        path,
                        format!("subtitle stream #{stream} holds more than {MAX_CUES} cues"),
                        "split the title, or drop the stream: ffmpeg -i IN -map 0 -map -0:s -c copy OUT",
                    ));
                }
            }
        }
    }
    let Some((zero, mpegts)) = origin else {
        return Err(Error::NotMedia {
            path: path.into(),
            reason: "no video keyframe found".into(),
        });
    };
    let mut cues: Vec<Cue> = raw
        .into_iter()
        .map(|(s, e, text)| Cue {
            start: s - zero,
            end: e - zero,
            text,
        })
        .filter(|c| c.end > 0.0)
        .collect();
    cues.sort_by(|a, b| a.start.total_cmp(&b.start));
    Ok(Subtitles { cues, mpegts })
}

/// A rectangle's text: plain, or an ASS event's Text field without its
/// override tags (`{\i1}`), its `\N` breaks made new lines.
fn rect_text(r: &ff::subtitle::Rect) -> Option<String> {
    // SAFETY: the rect belongs to a decoded subtitle alive for this call;
    // its text and ass fields are NUL-terminated strings or NULL.
    let (text, ass) = unsafe {
        let p = match r {
            ff::subtitle::Rect::Text(t) => t.as_ptr(),
            ff::subtitle::Rect::Ass(a) => a.as_ptr(),
            _ => return None,
        };
        let get = |s: *mut std::ffi::c_char| {
            (!s.is_null()).then(|| CStr::from_ptr(s).to_string_lossy().into_owned())
        };
        (get((*p).text), get((*p).ass))
    };
    if let Some(a) = ass {
        return Some(ass_text(&a));
    }
    text
}

/// The Text field of an ASS event line as FFmpeg's decoders give it
/// (`ReadOrder,Layer,Style,Name,MarginL,MarginR,MarginV,Effect,Text`, or
/// with `Dialogue: ` and a Start/End in front), made plain.
fn ass_text(line: &str) -> String {
    let (line, fields) = match line.strip_prefix("Dialogue:") {
        Some(rest) => (rest, 10),
        None => (line, 9),
    };
    let text = line.splitn(fields, ',').nth(fields - 1).unwrap_or("");
    let mut out = String::new();
    let mut depth = 0;
    for c in text.chars() {
        match c {
            '{' => depth += 1,
            '}' if depth > 0 => depth -= 1,
            _ if depth == 0 => out.push(c),
            _ => {}
        }
    }
    out.replace("\\N", "\n")
        .replace("\\n", "\n")
        .replace("\\h", " ")
}

#[cfg(test)]
mod tests {
    use super::ass_text;

    #[test]
    fn ass_events_become_plain_text() {
        assert_eq!(
            ass_text("0,0,Default,,0,0,0,,{\\i1}Hello{\\i0}\\Nworld"),
            "Hello\nworld"
        );
        assert_eq!(ass_text("3,0,Default,,0,0,0,,a, b, c"), "a, b, c");
    }
}
