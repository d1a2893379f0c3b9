//! Scene-cut detection: one policy scene per shot.
//!
//! Every frame is decoded with FFmpeg and shrunk by swscale to a small luma
//! thumbnail. Consecutive thumbnails are compared with two measures that fail
//! differently: the mean absolute difference of the pixels (catches a new
//! picture with the same brightness distribution) and the distance between
//! their luma histograms (insensitive to motion and camera pans). Their mean
//! is the frame's score in 0..1. A frame starts a new shot when its score is
//! above the threshold and also stands well above the recent scores of the
//! current shot, so that fast motion, which raises every score, does not read
//! as a cut. Shots shorter than `min_scene` are merged; a flash (a short shot
//! after which the picture returns to what it was) is dropped altogether.

use std::path::Path;

use ffmpeg_next as ff;

use crate::{ff_err, next_packet, open_input};
use shieldpack_core::error::{Error, Result};
use shieldpack_core::policy::{Hdcp, Level, Policy, Scene};
pub use shieldpack_core::policy::{DEFAULT_MIN_SCENE, DEFAULT_THRESHOLD};
use shieldpack_core::progress::Progress;

const THUMB_W: u32 = 64;
const THUMB_H: u32 = 36;
const BINS: usize = 32;
/// How many recent scores of the current shot the adaptive rule averages.
const WINDOW: usize = 24;
/// A cut's score must be this many times the recent average.
const RATIO: f64 = 3.0;

#[derive(Debug, Clone)]
pub struct Options {
    /// Score (0..1) above which a frame may start a new shot.
    pub threshold: f64,
    /// Shots shorter than this (seconds) are merged with a neighbour.
    pub min_scene: f64,
    /// The drm_level every scene gets.
    pub level: Level,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            threshold: DEFAULT_THRESHOLD,
            min_scene: DEFAULT_MIN_SCENE,
            level: Level::L3,
        }
    }
}

/// A shot boundary kept in the policy.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Cut {
    /// The first frame of the new shot, counted from 0.
    pub frame: u64,
    /// Its presentation time, seconds from the first frame.
    pub time: f64,
    pub score: f64,
}

/// What `detect` found.
#[derive(Debug, Clone)]
pub struct Detection {
    pub policy: Policy,
    pub cuts: Vec<Cut>,
    pub frames: u64,
    /// From the first frame's start to the last frame's end, seconds.
    pub duration: f64,
    pub width: u32,
    pub height: u32,
}

struct Candidate {
    cut: Cut,
    /// Thumbnails of the frames either side of the cut, for flash detection.
    before: Vec<u8>,
    after: Vec<u8>,
}

fn histogram(t: &[u8]) -> [f64; BINS] {
    let mut h = [0f64; BINS];
    for &p in t {
        h[p as usize * BINS / 256] += 1.0;
    }
    let n = t.len().max(1) as f64;
    h.iter_mut().for_each(|v| *v /= n);
    h
}

/// How different two thumbnails are, 0 (same) to 1.
pub fn score(a: &[u8], b: &[u8]) -> f64 {
    let n = a.len().min(b.len()).max(1) as f64;
    let sad: u64 = a
        .iter()
        .zip(b)
        .map(|(&x, &y)| u64::from(x.abs_diff(y)))
        .sum();
    // A mean difference of a quarter of full scale is as different as pictures get.
    let mad = (sad as f64 / n / 255.0 * 4.0).min(1.0);
    let (ha, hb) = (histogram(a), histogram(b));
    let hist = 0.5 * ha.iter().zip(&hb).map(|(x, y)| (x - y).abs()).sum::<f64>();
    (mad + hist) / 2.0
}

/// Finds the shots of `path`'s first video stream.
pub fn detect(path: &Path, o: &Options, progress: &dyn Progress) -> Result<Detection> {
    if !(o.threshold > 0.0 && o.threshold < 1.0) {
        return Err(Error::arg(
            format!("--threshold {} is out of range", o.threshold),
            format!("give a score between 0 and 1; the default {DEFAULT_THRESHOLD} suits most content, lower finds more cuts"),
        ));
    }
    if !(o.min_scene.is_finite() && o.min_scene >= 0.0) {
        return Err(Error::arg(
            format!("--min-scene {} is not a duration", o.min_scene),
            "give seconds, e.g. --min-scene 1",
        ));
    }
    let mut ictx = open_input(path)?;
    let stream = ictx
        .streams()
        .best(ff::media::Type::Video)
        .ok_or_else(|| Error::NoVideo { path: path.into() })?;
    let vi = stream.index();
    let tb = f64::from(stream.time_base());
    let rate = stream.avg_frame_rate();
    let fps = if rate.numerator() > 0 && rate.denominator() > 0 {
        f64::from(rate)
    } else {
        25.0
    };
    let total_ms = {
        let d = ictx.duration();
        if d > 0 {
            (d as f64 / f64::from(ff::ffi::AV_TIME_BASE) * 1000.0) as u64
        } else {
            0
        }
    };
    progress.set_length(total_ms.max(1));
    let mut ctx = ff::codec::context::Context::from_parameters(stream.parameters())
        .map_err(ff_err(path, "read the video codec parameters"))?;
    ctx.set_threading(ff::codec::threading::Config {
        kind: ff::codec::threading::Type::Frame,
        count: 0,
        ..Default::default()
    });
    let mut dec = ctx.decoder();
    // The deblocking filter smooths block edges that a 64x36 thumbnail averages
    // away anyway; skipping it makes H.264/HEVC decoding markedly cheaper.
    dec.skip_loop_filter(ff::codec::discard::Discard::All);
    let mut dec = dec
        .video()
        .map_err(ff_err(path, "open the video decoder"))?;

    let mut st = State {
        opts: o,
        fps,
        tb,
        scaler: None,
        scaled: ff::frame::Video::empty(),
        prev: Vec::new(),
        window: Vec::new(),
        candidates: Vec::new(),
        frames: 0,
        t0: None,
        last_time: 0.0,
        last_dur: 1.0 / fps,
        width: 0,
        height: 0,
    };
    let mut frame = ff::frame::Video::empty();
    loop {
        let packet = match next_packet(&mut ictx) {
            Ok(Some(p)) => p,
            Ok(None) => break,
            Err(e) => {
                return Err(Error::Truncated {
                    path: path.into(),
                    reason: format!("reading stopped after {} frames: {e}", st.frames),
                })
            }
        };
        if packet.stream() != vi {
            continue;
        }
        if let Err(e) = dec.send_packet(&packet) {
            // A damaged packet: FFmpeg conceals what it can; keep going.
            if !matches!(e, ff::Error::InvalidData) {
                return Err(ff_err(path, "decode video")(e));
            }
        }
        while dec.receive_frame(&mut frame).is_ok() {
            st.frame(path, &frame)?;
            if st.frames.is_multiple_of(32) {
                shieldpack_core::interrupt::check()?;
                progress.set_position((st.last_time * 1000.0) as u64);
            }
        }
    }
    let _ = dec.send_eof();
    while dec.receive_frame(&mut frame).is_ok() {
        st.frame(path, &frame)?;
    }
    if st.frames == 0 {
        return Err(Error::NotMedia {
            path: path.into(),
            reason: "no video frame could be decoded".into(),
        });
    }
    progress.set_position(total_ms);
    let duration = st.last_time + st.last_dur;
    let cuts = merge(st.candidates, o, duration);
    let mut scenes = Vec::with_capacity(cuts.len() + 1);
    let mut starts: Vec<f64> = vec![0.0];
    starts.extend(cuts.iter().map(|c| c.time));
    for (i, &start) in starts.iter().enumerate() {
        let end = starts.get(i + 1).copied().unwrap_or(duration);
        scenes.push(Scene {
            label: format!("scene-{:03}", i + 1),
            start: ms(start),
            end: ms(end),
            level: o.level,
            hdcp: Hdcp::None,
        });
    }
    Ok(Detection {
        policy: Policy { scenes },
        cuts,
        frames: st.frames,
        duration,
        width: st.width,
        height: st.height,
    })
}

/// Times go to the policy file with millisecond precision; frames are at least a
/// millisecond apart, so rounding never moves a start onto another frame.
fn ms(t: f64) -> f64 {
    (t * 1000.0).round() / 1000.0
}

struct State<'a> {
    opts: &'a Options,
    fps: f64,
    tb: f64,
    scaler: Option<(
        ff::software::scaling::Context,
        (ff::format::Pixel, u32, u32),
    )>,
    scaled: ff::frame::Video,
    prev: Vec<u8>,
    window: Vec<f64>,
    candidates: Vec<Candidate>,
    frames: u64,
    t0: Option<i64>,
    last_time: f64,
    last_dur: f64,
    width: u32,
    height: u32,
}

impl State<'_> {
    fn frame(&mut self, path: &Path, frame: &ff::frame::Video) -> Result<()> {
        let index = self.frames;
        self.frames += 1;
        let time = match frame.timestamp().or(frame.pts()) {
            Some(ts) => {
                let origin = *self.t0.get_or_insert(ts);
                (ts - origin) as f64 * self.tb
            }
            None => index as f64 / self.fps,
        };
        self.last_time = self.last_time.max(time);
        let pd = frame.packet().duration;
        self.last_dur = if pd > 0 {
            pd as f64 * self.tb
        } else {
            1.0 / self.fps
        };
        let key = (frame.format(), frame.width(), frame.height());
        if self.scaler.as_ref().map(|s| s.1) != Some(key) {
            self.width = frame.width();
            self.height = frame.height();
            let ctx = ff::software::scaling::Context::get(
                key.0,
                key.1,
                key.2,
                ff::format::Pixel::GRAY8,
                THUMB_W,
                THUMB_H,
                ff::software::scaling::Flags::AREA,
            )
            .map_err(ff_err(path, "set up scaling"))?;
            self.scaler = Some((ctx, key));
        }
        let (scaler, _) = self.scaler.as_mut().expect("set above");
        scaler
            .run(frame, &mut self.scaled)
            .map_err(ff_err(path, "scale a frame"))?;
        let stride = self.scaled.stride(0);
        let data = self.scaled.data(0);
        let mut thumb = Vec::with_capacity((THUMB_W * THUMB_H) as usize);
        for row in 0..THUMB_H as usize {
            thumb.extend_from_slice(&data[row * stride..row * stride + THUMB_W as usize]);
        }
        if !self.prev.is_empty() {
            let s = score(&self.prev, &thumb);
            let recent = if self.window.is_empty() {
                0.0
            } else {
                self.window.iter().sum::<f64>() / self.window.len() as f64
            };
            if s >= self.opts.threshold && s >= RATIO * recent {
                self.candidates.push(Candidate {
                    cut: Cut {
                        frame: index,
                        time,
                        score: s,
                    },
                    before: std::mem::take(&mut self.prev),
                    after: thumb.clone(),
                });
            } else {
                if self.window.len() == WINDOW {
                    self.window.remove(0);
                }
                self.window.push(s);
            }
        }
        self.prev = thumb;
        Ok(())
    }
}

/// Applies `min_scene`: a flash (a short shot whose far side looks like its
/// near side) loses both cuts; any other short shot is merged into the shot
/// after it (its end cut is dropped); a short last shot joins the one before.
fn merge(candidates: Vec<Candidate>, o: &Options, duration: f64) -> Vec<Cut> {
    let mut kept: Vec<Candidate> = Vec::new();
    for c in candidates {
        let since = kept.last().map(|k| k.cut.time).unwrap_or(0.0);
        if c.cut.time - since >= o.min_scene {
            kept.push(c);
            continue;
        }
        if let Some(p) = kept.last() {
            if score(&p.before, &c.after) < o.threshold {
                kept.pop();
            }
        }
    }
    if kept
        .last()
        .is_some_and(|k| duration - k.cut.time < o.min_scene)
    {
        kept.pop();
    }
    kept.into_iter().map(|k| k.cut).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cand(time: f64, before: u8, after: u8) -> Candidate {
        Candidate {
            cut: Cut {
                frame: 0,
                time,
                score: 1.0,
            },
            before: vec![before; 64],
            after: vec![after; 64],
        }
    }

    #[test]
    fn scores() {
        let a = vec![10u8; 2304];
        assert_eq!(score(&a, &a), 0.0);
        let b = vec![250u8; 2304];
        assert!(score(&a, &b) > 0.9);
    }

    #[test]
    fn flashes_vanish_and_short_shots_merge() {
        let o = Options::default();
        // A flash at 3.0-3.1 s returning to the same picture: both cuts go.
        let cuts = merge(vec![cand(3.0, 20, 250), cand(3.1, 250, 20)], &o, 10.0);
        assert!(cuts.is_empty());
        // A short shot between two different pictures: its end cut goes.
        let cuts = merge(vec![cand(3.0, 20, 120), cand(3.5, 120, 250)], &o, 10.0);
        assert_eq!(cuts.iter().map(|c| c.time).collect::<Vec<_>>(), vec![3.0]);
        // A short last shot joins the one before.
        let cuts = merge(vec![cand(3.0, 20, 120), cand(9.5, 120, 250)], &o, 10.0);
        assert_eq!(cuts.len(), 1);
    }
}
