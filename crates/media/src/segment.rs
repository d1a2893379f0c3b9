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

use super::editlist::{Failure, Trim};
use super::format::{Container, SegmentMuxer};
use super::gop::{Pictures, Start};
use super::mux::TsMuxer;
use super::timestamps::{At, Repair};
use super::{describe, open_input_with, MediaInfo, Probe, Selection};
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
    /// The container the segments are written in.
    pub format: Container,
    /// Leave the audio out: it goes into renditions of its own (`audio`).
    pub video_only: bool,
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
    /// The initialisation segment every media segment needs (CMAF's
    /// `init.mp4`, clear), sent once after `Start` by formats that have one.
    Init(Vec<u8>),
    /// A segment begins; `start` is seconds from the first video keyframe.
    Begin { index: usize, start: f64 },
    /// The next bytes of the current segment.
    Data(Vec<u8>),
    /// The current segment's last bytes, `buf[start..]` (a CMAF fragment,
    /// whose header the muxer wrote in front of the samples it had
    /// gathered: moving them behind it was a copy of every byte).
    DataFrom { buf: Vec<u8>, start: usize },
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
    /// Video frames an MP4 edit list hides at the start, left out, and the
    /// shown frames up to the next keyframe, re-encoded (`editlist`).
    pub edit_hidden: u64,
    pub edit_reencoded: u64,
    /// Video frames an edit list hides that were packaged all the same
    /// (HEVC: no re-encode).
    pub edit_unhonoured: u64,
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
    sink: impl FnMut(Event) -> Result<()>,
) -> Result<Summary> {
    run_tapped(path, plan, None, progress, spares, sink)
}

/// `run`, handing the packets of audio tracks packaged apart to `tap`
/// (`audio::Tap`) as they are read.
pub fn run_tapped(
    path: &Path,
    plan: &Plan,
    tap: Option<super::audio::Tap>,
    progress: &dyn Progress,
    spares: mpsc::Receiver<Vec<u8>>,
    mut sink: impl FnMut(Event) -> Result<()>,
) -> Result<Summary> {
    let mut ictx = open_input_with(path, Probe::Headers)?;
    let info = describe(path, &ictx);
    let mut selection = info.select()?;
    if plan.video_only {
        selection.audio = None;
    }
    let streams = Streams::of(&ictx, &selection);
    let repair = Repair::new(&ictx, &selection);
    let mut mux = muxer(&ictx, &streams, plan.format).map_err(mux_err(path))?;
    mux.recycle(spares);
    let total_ms = info.duration.map(|d| (d * 1000.0) as u64).unwrap_or(0);
    let init = mux.init_segment();
    sink(Event::Start { info, selection })?;
    if let Some(init) = init {
        sink(Event::Init(init))?;
    }
    progress.set_length(total_ms.max(1));

    let mut out = Output::new(path, progress, mux, sink, &streams);
    let tap = tap.map(|t| t.for_video(streams.video));
    let trim = Trim::new(&ictx, streams.video, streams.audio).tapped(tap);
    let dropped_leading = demux(&mut ictx, &streams, repair, trim, plan, &mut out)?;
    out.finish(streams.frame_rate, total_ms, dropped_leading)
}

/// Turns a muxer failure into the error `run` returns for `path`.
fn mux_err(path: &Path) -> impl Fn((&'static str, ff::Error)) -> Error + '_ {
    move |(op, e)| Error::Ffmpeg {
        path: path.into(),
        op,
        err: e.to_string(),
    }
}

/// The selected streams, as the packet loop needs them.
struct Streams {
    video: usize,
    audio: Option<usize>,
    /// Seconds per tick of the video's time base.
    v_sec: f64,
    /// The video frames the container declares, 0 if it does not say.
    v_declared: u64,
    frame_rate: Option<f64>,
    /// Reads the video's picture types, for H.264 and HEVC.
    pictures: Option<Pictures>,
}

impl Streams {
    fn of(ictx: &ff::format::context::Input, selection: &Selection) -> Self {
        let v = ictx
            .stream(selection.video.index)
            .expect("selected stream exists");
        // SAFETY: the stream's parameters live as long as `ictx`, and are
        // only read here.
        let pictures = Pictures::new(unsafe { &*v.parameters().as_ptr() });
        Streams {
            video: selection.video.index,
            audio: selection.audio.as_ref().map(|a| a.index),
            v_sec: f64::from(v.time_base()),
            v_declared: v.frames().max(0) as u64,
            frame_rate: selection.video.frame_rate,
            pictures,
        }
    }
}

/// A muxer for the selected streams: video is its stream 0, audio stream 1.
fn muxer(
    ictx: &ff::format::context::Input,
    streams: &Streams,
    format: Container,
) -> std::result::Result<Box<dyn SegmentMuxer>, (&'static str, ff::Error)> {
    // The muxer copies the parameters, so their borrow of `ictx`, which the
    // packet loop needs to itself, ends here.
    let params: Vec<_> = std::iter::once(streams.video)
        .chain(streams.audio)
        .map(|i| {
            let s = ictx.stream(i).expect("selected stream exists");
            (s.parameters(), s.time_base())
        })
        .collect();
    let refs: Vec<(&ff::codec::Parameters, ff::Rational)> =
        params.iter().map(|(p, t)| (p, *t)).collect();
    Ok(match format {
        Container::Ts => Box::new(TsMuxer::new(&refs)?),
        Container::Cmaf => Box::new(super::fmp4::Fmp4Muxer::new(&refs)?),
    })
}

/// Reads every packet of `ictx` into `out`, cutting where `plan` says, and
/// fails if the input is damaged, has no video keyframe or ends early.
/// Returns how many video packets came before the first keyframe (dropped).
fn demux<S: FnMut(Event) -> Result<()>>(
    ictx: &mut ff::format::context::Input,
    streams: &Streams,
    mut repair: Repair,
    mut trim: Trim,
    plan: &Plan,
    out: &mut Output<S>,
) -> Result<u64> {
    let path = out.path;
    // The video's end by its declared frame count and rate (the container's
    // duration may include audio running on).
    let end = match (streams.v_declared, streams.frame_rate) {
        (n, Some(fps)) if n > 0 && fps > 0.0 => Some(n as f64 / fps),
        _ => None,
    };
    let mut cuts = Cuts::new(plan, end);
    // The first video keyframe's time stamp: time zero, once it is read.
    let mut t0: Option<i64> = None;
    let mut read_frames = 0u64;
    let mut dropped = 0u64;
    let mut pending_audio: Vec<(ff::Packet, At)> = Vec::new();
    // Demuxing and muxing share this thread. On a thread of its own the
    // reader left each packet in the other core's cache for the muxer to copy
    // from, and woke it batch by batch: together about 3% of `package`'s CPU,
    // and the encrypting thread, not this one, sets the pace. (`batch` with
    // a title per core runs `sink`'s encryption on this thread too:
    // `package::Options::overlap`.)
    loop {
        // What players show of it: an MP4 edit list's hidden start is
        // dropped or re-encoded (`editlist`).
        let mut packet = match trim.next(ictx, path) {
            Ok(Some(p)) => p,
            Ok(None) => break,
            Err(Failure::Fail(e)) => return Err(e),
            Err(Failure::Read(e)) => {
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
        // Decode time stamps as the ffmpeg command repairs them (`timestamps`).
        let Some(at) = repair.apply(path, &mut packet)? else {
            continue;
        };
        let si = packet.stream();
        if si == streams.video {
            read_frames += 1;
            if trim.resumes(&packet) {
                // The re-encoded start has parameter sets of its own, which an
                // fMP4 init segment's single avcC cannot describe.
                if plan.format == Container::Cmaf && trim.reencoded() > 0 {
                    return Err(Error::invalid_file(
                        path,
                        "an MP4 edit list hides the start of a GOP, which --format cmaf cannot re-encode yet".to_string(),
                        "package it with --format ts, or cut the source on a keyframe (ffmpeg -ss before -i with re-encoding)".to_string(),
                    ));
                }
                out.mux.restore_parameter_sets();
            }
            // Times come from the packet as read, in the input's time base:
            // writing it rescales its time stamps to the muxer's in place.
            let Some(ts) = packet.pts().or(packet.dts()) else {
                continue;
            };
            let ticks = packet.duration();
            let Some(origin) = t0 else {
                if !packet.is_key() {
                    dropped += 1;
                    continue;
                }
                t0 = Some(ts);
                out.begin_first(packet, &at, ts, ticks, &mut pending_audio)?;
                continue;
            };
            let t = (ts - origin) as f64 * streams.v_sec;
            if packet.is_key() && t > out.seg_start + EPS && cuts.due(t, out.seg_start) {
                out.cut(&packet, ts, t)?;
            }
            out.video(packet, ts, t, ticks)
                .map_err(|e| at.wrap(path, e))?;
        } else {
            if t0.is_none() {
                pending_audio.push((packet, at));
                continue;
            }
            out.audio(packet).map_err(|e| at.wrap(path, e))?;
        }
        out.hand_over_chunk()?;
    }
    if t0.is_none() {
        return Err(Error::NotMedia {
            path: path.into(),
            reason: "no video keyframe found".into(),
        });
    }
    let v_declared = streams.v_declared;
    // Packets of the input: those handed on, less the re-encoded ones, plus
    // those the edit list hid or that were re-encoded.
    let read_frames = read_frames - trim.reencoded() + trim.hidden();
    out.edit = (
        trim.hidden() - trim.reencoded(),
        trim.reencoded(),
        trim.unhonoured(),
    );
    if v_declared > 0 && read_frames < v_declared {
        return Err(Error::Truncated {
            path: path.into(),
            reason: format!("read {read_frames} of the {v_declared} video frames it declares"),
        });
    }
    Ok(dropped)
}

/// Where segments end: which keyframes begin a new one.
struct Cuts<'a> {
    target: f64,
    /// The forced cut times not yet passed.
    forced: std::iter::Peekable<std::iter::Copied<std::slice::Iter<'a, f64>>>,
    /// The grid point the current segment may end at.
    next_grid: f64,
    every: Option<f64>,
    /// The next multiple of `every`.
    next_periodic: Option<f64>,
    /// Where the video ends (seconds from its first frame), when the input
    /// says: no grid cut within `MIN_TAIL` of it.
    end: Option<f64>,
}

impl<'a> Cuts<'a> {
    fn new(plan: &'a Plan, end: Option<f64>) -> Self {
        Cuts {
            target: plan.target,
            forced: plan.forced_cuts.iter().copied().peekable(),
            next_grid: next_grid(0.0, plan.target),
            every: plan.cut_every,
            next_periodic: plan.cut_every,
            end,
        }
    }

    /// Whether a keyframe at `t`, after the start of the segment that began
    /// at `seg_start`, begins the next one: it is on or past the grid point,
    /// a forced cut or a multiple of `cut_every`. Forced cuts at or before
    /// `seg_start` were met by that segment's start and do not count.
    fn due(&mut self, t: f64, seg_start: f64) -> bool {
        // A keyframe past the declared end means the declaration is off:
        // cut as if there were none.
        let near_end = self
            .end
            .is_some_and(|end| (0.0..shieldpack_core::ladder::MIN_TAIL).contains(&(end - t)));
        let mut cut = t + EPS >= self.next_grid && !near_end;
        while self.forced.peek().is_some_and(|f| *f <= t + EPS) {
            if self.forced.next().is_some_and(|f| f > seg_start + EPS) {
                cut = true;
            }
        }
        if let (Some(every), Some(at)) = (self.every, self.next_periodic) {
            if t + EPS >= at {
                cut = true;
                self.next_periodic = Some(((t + EPS) / every).floor() * every + every);
            }
        }
        if cut {
            self.next_grid = next_grid(t, self.target);
        }
        cut
    }
}

/// Where the packets go: the muxer, the segment being written, and the
/// counts `Summary` reports.
struct Output<'a, S> {
    path: &'a Path,
    progress: &'a dyn Progress,
    mux: Box<dyn SegmentMuxer>,
    sink: S,
    v_sec: f64,
    pictures: Option<&'a Pictures>,
    seg_index: usize,
    /// Seconds from the first video keyframe.
    seg_start: f64,
    seg_frames: u64,
    total_frames: u64,
    /// Where the last video frame ends, for the last segment's duration.
    last: LastFrame,
    /// The current segment's first keyframe's time stamp, when that keyframe
    /// opens an open GOP; and whether the segment needs the one before.
    open_start: Option<i64>,
    seg_dependent: bool,
    /// The segment before the current one, when the current one starts at
    /// an open-GOP keyframe and its leading pictures are still being read.
    ended: Option<Ended>,
    /// The segments before the current one that need the one before them.
    dependent: usize,
    refresh: usize,
    /// `Summary::edit_hidden`, `edit_reencoded` and `edit_unhonoured`.
    edit: (u64, u64, u64),
}

impl<'a, S: FnMut(Event) -> Result<()>> Output<'a, S> {
    fn new(
        path: &'a Path,
        progress: &'a dyn Progress,
        mux: Box<dyn SegmentMuxer>,
        sink: S,
        streams: &'a Streams,
    ) -> Self {
        Output {
            path,
            progress,
            mux,
            sink,
            v_sec: streams.v_sec,
            pictures: streams.pictures.as_ref(),
            seg_index: 0,
            seg_start: 0.0,
            seg_frames: 0,
            total_frames: 0,
            last: LastFrame::default(),
            open_start: None,
            seg_dependent: false,
            ended: None,
            dependent: 0,
            refresh: 0,
            edit: (0, 0, 0),
        }
    }

    /// Segment 0 begins at the first video keyframe, `packet`, lasting
    /// `ticks` as read, followed by the audio read before it.
    fn begin_first(
        &mut self,
        packet: ff::Packet,
        at: &At,
        ts: i64,
        ticks: i64,
        pending_audio: &mut Vec<(ff::Packet, At)>,
    ) -> Result<()> {
        self.start_at(&packet, ts);
        // The earliest time stamps known before the first write: the
        // keyframe's decode time (B-frames put it before its presentation)
        // and the audio read before it (AAC priming starts below zero).
        let firsts: Vec<(i64, usize)> = std::iter::once((packet.dts().unwrap_or(ts), 0))
            .chain(
                pending_audio
                    .iter()
                    .filter_map(|(a, _)| a.dts().or(a.pts()).map(|t| (t, 1))),
            )
            .collect();
        self.mux.start_at_zero(&firsts);
        (self.sink)(Event::Begin {
            index: 0,
            start: 0.0,
        })?;
        self.last.saw(0.0, ticks, self.v_sec);
        let path = self.path;
        self.mux
            .write(packet, 0)
            .map_err(|e| at.wrap(path, mux_err(path)(e)))?;
        for (a, at) in pending_audio.drain(..) {
            self.mux
                .write(a, 1)
                .map_err(|e| at.wrap(path, mux_err(path)(e)))?;
        }
        self.seg_frames = 1;
        self.total_frames = 1;
        Ok(())
    }

    /// Ends the current segment and begins the next at the keyframe
    /// `packet`, time stamp `ts`, `t` seconds in.
    ///
    /// EXTINF is "the duration of the Media Segment" (RFC 8216 4.3.2.1): a
    /// segment lasts from its earliest presentation time to the next
    /// segment's, which is what `verify` measures and players show. An open
    /// GOP's leading pictures follow its keyframe in decode order, so they
    /// land in the new segment though they are shown before the keyframe:
    /// the new segment starts at the earliest of them, and the segment before
    /// ends there. So that segment's `End` (and the new one's `Begin`) wait,
    /// holding the new segment's bytes, until a picture shown after the
    /// keyframe is read (`video`).
    fn cut(&mut self, packet: &ff::Packet, ts: i64, t: f64) -> Result<()> {
        shieldpack_core::interrupt::check()?;
        self.dependent += usize::from(self.seg_dependent);
        self.start_at(packet, ts);
        let ended = Ended {
            data: self.mux.cut_from().map_err(mux_err(self.path))?,
            index: self.seg_index,
            start: self.seg_start,
            video_frames: self.seg_frames,
        };
        self.seg_index += 1;
        self.seg_start = t;
        self.seg_frames = 0;
        self.progress.set_position((t * 1000.0) as u64);
        if self.open_start.is_some() {
            self.ended = Some(ended);
            Ok(())
        } else {
            self.close(ended)
        }
    }

    /// Ends the segment `ended` where the current one starts, and begins it.
    fn close(&mut self, ended: Ended) -> Result<()> {
        let (buf, start) = ended.data;
        (self.sink)(match start {
            0 => Event::Data(buf),
            _ => Event::DataFrom { buf, start },
        })?;
        (self.sink)(Event::End {
            index: ended.index,
            start: ended.start,
            duration: self.seg_start - ended.start,
            video_frames: ended.video_frames,
        })?;
        (self.sink)(Event::Begin {
            index: self.seg_index,
            start: self.seg_start,
        })
    }

    /// A segment starts at `packet`. Unless it is a closed start, the segment
    /// needs the parameter sets in front. Notes the time stamp when it opens
    /// an open GOP, and whether the segment needs the one before from its
    /// very first picture (a gradual intra refresh, counted in `refresh`).
    fn start_at(&mut self, packet: &ff::Packet, ts: i64) {
        let start = self.pictures.map_or(Start::Closed, |p| {
            p.start(packet.data().unwrap_or_default())
        });
        if start != Start::Closed {
            self.mux.repeat_parameter_sets();
        }
        self.refresh += usize::from(start == Start::Refresh);
        self.open_start = (start == Start::Open).then_some(ts);
        self.seg_dependent = start == Start::Refresh;
    }

    /// Writes a video packet after the first, `t` seconds in, lasting
    /// `ticks` as read. Until the segment is known to need the one before,
    /// its leading pictures (shown before an open-GOP start) are checked for
    /// references back.
    fn video(&mut self, packet: ff::Packet, ts: i64, t: f64, ticks: i64) -> Result<()> {
        if let (Some(start), Some(p)) = (self.open_start, self.pictures) {
            if ts < start && !self.seg_dependent {
                self.seg_dependent = p.needs_previous_gop(packet.data().unwrap_or_default());
            }
        }
        if let Some(start) = self.open_start.filter(|_| self.ended.is_some()) {
            if ts < start {
                // A leading picture: the segment starts where it is shown.
                self.seg_start = self.seg_start.min(t);
            } else if ts > start {
                let ended = self.ended.take().expect("checked above");
                self.close(ended)?;
            }
        }
        self.last.saw(t, ticks, self.v_sec);
        self.seg_frames += 1;
        self.total_frames += 1;
        self.mux.write(packet, 0).map_err(mux_err(self.path))
    }

    fn audio(&mut self, packet: ff::Packet) -> Result<()> {
        self.mux.write(packet, 1).map_err(mux_err(self.path))
    }

    /// Hands over what is muxed once it makes a chunk.
    fn hand_over_chunk(&mut self) -> Result<()> {
        // The segment has not begun for the sink while the one before waits.
        if self.ended.is_none() && self.mux.pending() >= CHUNK {
            (self.sink)(Event::Data(self.mux.take()))?;
        }
        Ok(())
    }

    /// The end of the input ends the last segment.
    fn finish(
        mut self,
        frame_rate: Option<f64>,
        total_ms: u64,
        dropped_leading: u64,
    ) -> Result<Summary> {
        if let Some(ended) = self.ended.take() {
            self.close(ended)?;
        }
        (self.sink)(Event::Data(self.mux.finish().map_err(mux_err(self.path))?))?;
        let end = self.last.end(frame_rate, self.total_frames);
        let duration = (end - self.seg_start).max(0.0);
        (self.sink)(Event::End {
            index: self.seg_index,
            start: self.seg_start,
            duration,
            video_frames: self.seg_frames,
        })?;
        self.progress.set_position(total_ms);
        Ok(Summary {
            segments: self.seg_index + 1,
            video_frames: self.total_frames,
            duration: self.seg_start + duration,
            dropped_leading,
            dependent: self.dependent + usize::from(self.seg_dependent),
            refresh: self.refresh,
            edit_hidden: self.edit.0,
            edit_reencoded: self.edit.1,
            edit_unhonoured: self.edit.2,
        })
    }
}

/// A segment whose `End` waits for where the next one starts (`Output::cut`).
struct Ended {
    /// Its last bytes, from the offset with them.
    data: (Vec<u8>, usize),
    index: usize,
    start: f64,
    video_frames: u64,
}

/// The video frame shown last so far, for where the last segment ends: its
/// time, plus its duration as the packet gives it, else a frame at the frame
/// rate, else the mean gap between the frames before it. A packet duration
/// within a tick of the frame rate's frame is that frame rounded to the time
/// base (24 fps in Matroska's milliseconds: 41 or 42 for 41.667), so the
/// frame rate's exact value is taken instead.
#[derive(Debug, Default)]
struct LastFrame {
    /// Seconds from the first keyframe of the latest frame and of the
    /// earliest (leading pictures of an open GOP come before time zero).
    latest: f64,
    earliest: f64,
    /// The latest frame's duration in seconds, when its packet has one.
    duration: Option<f64>,
    /// Seconds per tick of the time base the duration was given in.
    tick: f64,
}

impl LastFrame {
    /// A video frame `t` seconds in lasting `ticks` of `sec_per_tick`,
    /// both as read from the input.
    fn saw(&mut self, t: f64, ticks: i64, sec_per_tick: f64) {
        self.earliest = self.earliest.min(t);
        if t + EPS >= self.latest {
            self.latest = t;
            self.duration = (ticks > 0).then_some(ticks as f64 * sec_per_tick);
            self.tick = sec_per_tick;
        }
    }

    /// The time the latest frame ends at, `frames` having been read.
    fn end(&self, frame_rate: Option<f64>, frames: u64) -> f64 {
        let frame = frame_rate
            .filter(|r| r.is_finite() && *r > 0.0)
            .map(|r| 1.0 / r);
        let gap = match (self.duration, frame) {
            (Some(d), Some(f)) if (d - f).abs() < self.tick => f,
            (Some(d), _) => d,
            (None, Some(f)) => f,
            (None, None) if frames > 1 => (self.latest - self.earliest) / (frames - 1) as f64,
            (None, None) => 0.0,
        };
        self.latest + gap
    }
}

#[cfg(test)]
mod tests {
    use super::{next_grid, Container, Cuts, LastFrame, Plan};

    #[test]
    fn no_grid_cut_in_the_last_half_second_unless_the_declared_end_is_wrong() {
        let plan = Plan {
            target: 6.0,
            forced_cuts: vec![12.0],
            cut_every: None,
            format: Container::Ts,
            video_only: false,
        };
        let grid_only = Plan {
            forced_cuts: Vec::new(),
            ..plan.clone()
        };
        // Two frames run on past the keyframe at 12 s: no sliver segment.
        let mut c = Cuts::new(&grid_only, Some(12.083));
        assert!(c.due(6.0, 0.0));
        assert!(!c.due(12.0, 6.0));
        // A forced cut (a scene or key period) is made all the same.
        let mut c = Cuts::new(&plan, Some(12.083));
        assert!(c.due(6.0, 0.0));
        assert!(c.due(12.0, 6.0));
        // A keyframe past the declared end: the declaration is off, cut.
        let mut c = Cuts::new(&grid_only, Some(10.0));
        assert!(c.due(6.0, 0.0));
        assert!(c.due(12.0, 6.0));
        // Half a second and more before the end: cut.
        let mut c = Cuts::new(&grid_only, Some(12.5));
        assert!(c.due(6.0, 0.0));
        assert!(c.due(12.0, 6.0));
    }

    #[test]
    fn the_last_frame_lasts_its_packet_else_the_frame_rate_else_the_mean_gap() {
        // 1 fps in a 1/16384 time base: the packet says 16384 ticks.
        let mut l = LastFrame::default();
        for (t, ticks) in [(0.0, 16384), (1.0, 16384), (2.0, 16384)] {
            l.saw(t, ticks, 1.0 / 16384.0);
        }
        assert_eq!(l.end(Some(25.0), 3), 3.0);
        assert_eq!(l.end(Some(1.0), 3), 3.0);
        // 24 fps in milliseconds: 41 ticks is 41.667 ms rounded down.
        let mut l = LastFrame::default();
        l.saw(11.958, 41, 1e-3);
        assert!((l.end(Some(24.0), 288) - (11.958 + 1.0 / 24.0)).abs() < 1e-9);
        assert!((l.end(None, 288) - 11.999).abs() < 1e-9);
        // A frame of its own length (variable frame rate) keeps it.
        assert!((l.end(Some(30.0), 288) - 11.999).abs() < 1e-9);
        // No packet duration: the frame rate's frame.
        let mut l = LastFrame::default();
        l.saw(0.0, 0, 1e-3);
        assert_eq!(l.end(Some(25.0), 1), 0.04);
        // Neither: the mean gap, B-frames read out of order.
        let mut l = LastFrame::default();
        for t in [0.0, 0.5, 0.25] {
            l.saw(t, 0, 1e-3);
        }
        assert_eq!(l.end(None, 3), 0.75);
        // A lone frame with nothing to go by has no length.
        let mut l = LastFrame::default();
        l.saw(0.0, 0, 1e-3);
        assert_eq!(l.end(None, 1), 0.0);
    }

    #[test]
    fn grid_skips_slivers() {
        assert_eq!(next_grid(0.0, 6.0), 6.0);
        assert_eq!(next_grid(6.0, 6.0), 12.0);
        assert_eq!(next_grid(5.5, 6.0), 12.0);
        assert_eq!(next_grid(7.5, 6.0), 12.0);
        assert_eq!(next_grid(9.5, 6.0), 18.0);
    }
}
