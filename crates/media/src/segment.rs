//! Cutting an input into MPEG-TS segments without re-encoding.
//!
//! Segments are cut only at video keyframes. A cut happens at the first keyframe
//! on or after the next point of the target-duration grid (like FFmpeg's hls
//! muxer, so segment lengths average the target instead of drifting), and at the
//! first keyframe at or after each forced cut time (key-period and scene starts).
//! Times are seconds from the first video keyframe. A keyframe that does not
//! close its GOP (`gop::Start`) gets the parameter sets in front, and the
//! segments that need the segment before are counted (`Summary::dependent`):
//! those whose open GOP's leading pictures refer back, and those that start in
//! a gradual intra refresh.
//!
//! Output is a stream of events: `Start` once the input is understood, then per
//! segment `Begin`, `Data` chunks of at most about `CHUNK` bytes, and `End`
//! with the segment's duration. Nothing holds a whole segment, so memory stays
//! flat whatever the bit rate, segment length or title length.

use std::path::Path;
use std::sync::mpsc;

use ffmpeg_next as ff;

use super::gop::{Pictures, Start};
use super::mux::TsMuxer;
use super::{describe, next_packet, open_input_with, MediaInfo, Probe, Selection};
use shieldpack_core::error::{Error, Result};
use shieldpack_core::progress::Progress;

pub use super::mux::CHUNK;

/// Where to cut.
#[derive(Debug, Clone)]
pub struct Plan {
    /// Target segment duration, seconds.
    pub target: f64,
    /// Times (seconds from the start) that must begin a new segment, ascending.
    pub forced_cuts: Vec<f64>,
    /// Also begin a new segment at every multiple of this many seconds (key rotation).
    pub cut_every: Option<f64>,
}

/// What the segmenter produces, in order.
// `Start` is much larger than the rest but is sent once per title; boxing it
// would buy nothing on the per-chunk path.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum Event {
    /// The input was opened and can be packaged.
    Start {
        info: MediaInfo,
        selection: Selection,
    },
    /// A segment begins; `start` is seconds from the first video keyframe.
    Begin { index: usize, start: f64 },
    /// The next bytes of the current segment.
    Data(Vec<u8>),
    /// The current segment is complete.
    End {
        index: usize,
        start: f64,
        duration: f64,
        video_frames: u64,
    },
}

/// What was cut, once the input is done.
#[derive(Debug, Clone)]
pub struct Summary {
    pub segments: usize,
    pub video_frames: u64,
    pub duration: f64,
    /// Video packets before the first keyframe, which cannot be decoded and are dropped.
    pub dropped_leading: u64,
    /// Segments that do not decode on their own (`gop`): they start at an
    /// open-GOP keyframe and carry leading pictures predicted from the GOP
    /// before it, or they start in a gradual intra refresh.
    pub dependent: usize,
    /// Of those, the ones that start in a gradual intra refresh.
    pub refresh: usize,
}

/// Slack for comparing times computed from different time bases.
const EPS: f64 = 1e-6;

/// The next grid point a segment starting at `start` may end at; a grid point
/// less than half a target away is skipped so a forced cut leaves no sliver.
fn next_grid(start: f64, target: f64) -> f64 {
    (((start + target / 2.0) / target).floor() + 1.0) * target
}

/// Opens `path`, checks what it carries, and sends its segments to `sink`.
/// `Data` buffers that come back on `spares`, emptied, are filled again.
pub fn run(
    path: &Path,
    plan: &Plan,
    progress: &dyn Progress,
    spares: mpsc::Receiver<Vec<u8>>,
    mut sink: impl FnMut(Event) -> Result<()>,
) -> Result<Summary> {
    let mut ictx = open_input_with(path, Probe::Headers)?;
    let info = describe(path, &ictx);
    let selection = info.select()?;
    let mux_err = |(op, e): (&'static str, ff::Error)| Error::Ffmpeg {
        path: path.into(),
        op,
        err: e.to_string(),
    };

    let vi = selection.video.index;
    let ai = selection.audio.as_ref().map(|a| a.index);
    let frame_rate = selection.video.frame_rate;
    let total_ms = info.duration.map(|d| (d * 1000.0) as u64).unwrap_or(0);
    let (v_tb, v_declared, params, pictures) = {
        let v = ictx.stream(vi).expect("selected stream exists");
        // SAFETY: the stream's parameters live as long as `ictx`, and are
        // only read here.
        let pictures = Pictures::new(unsafe { &*v.parameters().as_ptr() });
        let mut params = vec![(v.parameters(), v.time_base())];
        if let Some(ai) = ai {
            let a = ictx.stream(ai).expect("selected stream exists");
            params.push((a.parameters(), a.time_base()));
        }
        (v.time_base(), v.frames().max(0) as u64, params, pictures)
    };
    let refs: Vec<(&ff::codec::Parameters, ff::Rational)> =
        params.iter().map(|(p, t)| (p, *t)).collect();
    let mut mux = TsMuxer::new(&refs).map_err(mux_err)?;
    mux.recycle(spares);
    // The muxer copied the parameters; they borrow the input's context, which
    // reading below needs to itself.
    drop(refs);
    drop(params);
    sink(Event::Start { info, selection })?;
    progress.set_length(total_ms.max(1));

    let v_sec = f64::from(v_tb);
    let mut t0: Option<i64> = None;
    let mut seg_start = 0.0;
    let mut seg_index = 0usize;
    let mut seg_frames = 0u64;
    let mut total_frames = 0u64;
    let mut read_frames = 0u64;
    let mut dropped = 0u64;
    let mut end = 0.0f64;
    let mut forced = plan.forced_cuts.iter().copied().peekable();
    let mut next_cut = next_grid(0.0, plan.target);
    let mut next_periodic = plan.cut_every;
    let mut pending_audio: Vec<ff::Packet> = Vec::new();
    // The current segment's first keyframe's time stamp, when that keyframe
    // opens an open GOP; and whether the segment needs the one before.
    let mut open_start: Option<i64> = None;
    let mut seg_dependent = false;
    let mut dependent = 0usize;
    let mut refresh = 0usize;
    // A segment starts at `packet`. Unless it is a closed start, the segment
    // needs the parameter sets in front. Returns the time stamp when it opens
    // an open GOP, and whether the segment needs the one before from its very
    // first picture (a gradual intra refresh, counted in `refresh`).
    let mut start_at = |packet: &ff::Packet, ts: i64, mux: &mut TsMuxer| {
        let start = pictures.as_ref().map_or(Start::Closed, |p| {
            p.start(packet.data().unwrap_or_default())
        });
        if start != Start::Closed {
            mux.repeat_parameter_sets();
        }
        refresh += usize::from(start == Start::Refresh);
        (
            (start == Start::Open).then_some(ts),
            start == Start::Refresh,
        )
    };

    // Demuxing and muxing share this thread. On a thread of its own the
    // reader left each packet in the other core's cache for the muxer to copy
    // from, and woke it batch by batch: together about 3% of `package`'s CPU,
    // and the encrypting thread, not this one, sets the pace. (`batch` with
    // a title per core runs `sink`'s encryption on this thread too:
    // `package::Options::overlap`.)
    loop {
        let mut packet = match next_packet(&mut ictx) {
            Ok(Some(p)) => p,
            Ok(None) => break,
            Err(e) => {
                return Err(Error::Truncated {
                    path: path.into(),
                    reason: format!("reading stopped after {read_frames} video frames: {e}"),
                })
            }
        };
        if packet.is_corrupt() {
            return Err(Error::Truncated {
                path: path.into(),
                reason: format!("a damaged or partial packet after {read_frames} video frames"),
            });
        }
        let si = packet.stream();
        if si == vi {
            read_frames += 1;
            let Some(ts) = packet.pts().or(packet.dts()) else {
                continue;
            };
            let Some(origin) = t0 else {
                if !packet.is_key() {
                    dropped += 1;
                    continue;
                }
                t0 = Some(ts);
                (open_start, seg_dependent) = start_at(&packet, ts, &mut mux);
                sink(Event::Begin {
                    index: 0,
                    start: 0.0,
                })?;
                // Audio that came before the first keyframe opens segment 0.
                mux.write(&mut packet, 0).map_err(mux_err)?;
                for mut a in pending_audio.drain(..) {
                    mux.write(&mut a, 1).map_err(mux_err)?;
                }
                seg_frames = 1;
                total_frames = 1;
                end = end.max(packet.duration().max(0) as f64 * v_sec);
                continue;
            };
            let t = (ts - origin) as f64 * v_sec;
            if packet.is_key() && t > seg_start + EPS {
                let mut cut = t + EPS >= next_cut;
                while forced.peek().is_some_and(|f| *f <= t + EPS) {
                    if forced.next().is_some_and(|f| f > seg_start + EPS) {
                        cut = true;
                    }
                }
                if let (Some(every), Some(at)) = (plan.cut_every, next_periodic) {
                    if t + EPS >= at {
                        cut = true;
                        next_periodic = Some(((t + EPS) / every).floor() * every + every);
                    }
                }
                if cut {
                    shieldpack_core::interrupt::check()?;
                    dependent += usize::from(seg_dependent);
                    (open_start, seg_dependent) = start_at(&packet, ts, &mut mux);
                    sink(Event::Data(mux.cut().map_err(mux_err)?))?;
                    sink(Event::End {
                        index: seg_index,
                        start: seg_start,
                        duration: t - seg_start,
                        video_frames: seg_frames,
                    })?;
                    seg_index += 1;
                    seg_start = t;
                    seg_frames = 0;
                    next_cut = next_grid(t, plan.target);
                    sink(Event::Begin {
                        index: seg_index,
                        start: t,
                    })?;
                    progress.set_position((t * 1000.0) as u64);
                }
            }
            if let (Some(start), Some(p)) = (open_start, &pictures) {
                if ts < start && !seg_dependent {
                    seg_dependent = p.needs_previous_gop(packet.data().unwrap_or_default());
                }
            }
            end = end.max(t + packet.duration().max(0) as f64 * v_sec);
            seg_frames += 1;
            total_frames += 1;
            mux.write(&mut packet, 0).map_err(mux_err)?;
        } else if Some(si) == ai {
            if t0.is_none() {
                pending_audio.push(packet);
                continue;
            }
            mux.write(&mut packet, 1).map_err(mux_err)?;
        } else {
            continue;
        }
        if mux.pending() >= CHUNK {
            sink(Event::Data(mux.take()))?;
        }
    }
    if t0.is_none() {
        return Err(Error::NotMedia {
            path: path.into(),
            reason: "no video keyframe found".into(),
        });
    }
    if v_declared > 0 && read_frames < v_declared {
        return Err(Error::Truncated {
            path: path.into(),
            reason: format!("read {read_frames} of the {v_declared} video frames it declares"),
        });
    }
    // A last frame without a duration still lasts one frame interval.
    if let Some(fr) = frame_rate {
        end = end.max(seg_start + seg_frames as f64 / fr - EPS);
    }
    sink(Event::Data(mux.finish().map_err(mux_err)?))?;
    let duration = (end - seg_start).max(0.0);
    sink(Event::End {
        index: seg_index,
        start: seg_start,
        duration,
        video_frames: seg_frames,
    })?;
    progress.set_position(total_ms);
    Ok(Summary {
        segments: seg_index + 1,
        video_frames: total_frames,
        duration: seg_start + duration,
        dropped_leading: dropped,
        dependent: dependent + usize::from(seg_dependent),
        refresh,
    })
}

#[cfg(test)]
mod tests {
    use super::next_grid;

    #[test]
    fn grid_skips_slivers() {
        assert_eq!(next_grid(0.0, 6.0), 6.0);
        assert_eq!(next_grid(6.0, 6.0), 12.0);
        assert_eq!(next_grid(5.5, 6.0), 12.0);
        assert_eq!(next_grid(7.5, 6.0), 12.0);
        assert_eq!(next_grid(9.5, 6.0), 18.0);
    }
}
