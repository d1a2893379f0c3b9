//! Cutting one audio stream of an input into audio-only segments at given
//! times, for alternate audio renditions (EXT-X-MEDIA TYPE=AUDIO) and CMAF
//! audio tracks: MPEG-TS or fragmented MP4, through the same format stage
//! as video (`format::SegmentMuxer`); fMP4 sends its init segment
//! (`Event::Init`) right after `Start`, as `segment` does.
//!
//! The cut times are the video's (`segment`): seconds from the input's first
//! video keyframe. A segment begins with the first audio frame at or after
//! its cut (every AAC, AC-3 or MP3 frame starts on its own). Time stamps are
//! shifted exactly as `segment` shifts a video-only rendition's (by the
//! keyframe's decode time, `TsMuxer::start_at_zero`), so the audio and video
//! segments of a title share one MPEG-TS clock and a player lines them up by
//! PTS, as it must for alternate renditions (RFC 8216 6.2.4's "same
//! timestamps"). Audio that would fall below zero (AAC priming ahead of a
//! keyframe decoded at zero) is left out: one frame, about 21 ms, which a
//! decoder drops as priming anyway.
//!
//! Events are `segment`'s: `Start` (its `selection.video` is the audio
//! stream here, the one the segments are cut from), then `Begin`, `Data`
//! chunks and `End` per segment, so the package's writer encrypts, hashes
//! and writes them as it does video.

use std::path::Path;
use std::sync::mpsc;

use ff::Rescale as _;
use ffmpeg_next as ff;

use super::format::{Container, SegmentMuxer};
use super::mux::{TsMuxer, CHUNK};
use super::segment::{Event, Summary};
use super::{describe, next_packet, open_input_with, Probe, Selection};
use shieldpack_core::error::{Error, Result};
use shieldpack_core::progress::Progress;

/// Slack for comparing times from different time bases.
const EPS: f64 = 1e-6;

/// A track's end of a `Tap`: its packets, in batches.
pub struct Feed {
    rx: mpsc::Receiver<Vec<Fed>>,
    batch: std::vec::IntoIter<Fed>,
}

impl Feed {
    /// The next packet, waiting for the video pass to read it; `None` at
    /// the end of the input (or once the video pass stopped).
    fn next(&mut self) -> Option<Fed> {
        loop {
            if let Some(f) = self.batch.next() {
                return Some(f);
            }
            self.batch = self.rx.recv().ok()?.into_iter();
        }
    }
}

/// What an audio track's pass needs of its input's packets: its own
/// stream's packets, and the video's time stamps up to the first keyframe
/// (time zero).
pub enum Fed {
    Video {
        key: bool,
        pts: Option<i64>,
        dts: Option<i64>,
    },
    Audio(ff::Packet),
}

/// Taps a video pass's packets for audio tracks of the same input
/// (`segment::run_tapped`), so that their passes need not read the file
/// again: interleaved at every frame, as most MP4s are, an audio pass reads
/// most of the video's bytes on the way (a seek shorter than FFmpeg's short
/// seek threshold reads through). Each track's packets are moved to its
/// channel as read; the video's time stamps are copied until the first
/// keyframe. The channels are unbounded: a pass waits for the video's cuts,
/// so it may trail by a segment or two, and the video must never wait.
pub struct Tap {
    /// The video stream, once the video pass has chosen it.
    video: Option<usize>,
    /// Each track's stream, channel, and packets not sent yet: they go in
    /// batches, as a wake-up per packet cost the video pass a fifth of its
    /// CPU on the bench's cmaf title.
    tracks: Vec<(usize, mpsc::Sender<Vec<Fed>>, Vec<Fed>)>,
    keyframe_sent: bool,
}

/// Packets a track's batch holds before it is sent.
const BATCH: usize = 256;

impl Drop for Tap {
    fn drop(&mut self) {
        for (_, tx, batch) in &mut self.tracks {
            if !batch.is_empty() {
                let _ = tx.send(std::mem::take(batch));
            }
        }
    }
}

impl Tap {
    /// A tap for the tracks `streams` of an input; the receivers go to
    /// `run`, in the same order.
    pub fn new(streams: &[usize]) -> (Tap, Vec<Feed>) {
        let (tracks, receivers) = streams
            .iter()
            .map(|&s| {
                let (tx, rx) = mpsc::channel();
                let feed = Feed {
                    rx,
                    batch: Vec::new().into_iter(),
                };
                ((s, tx, Vec::new()), feed)
            })
            .unzip();
        let tap = Tap {
            video: None,
            tracks,
            keyframe_sent: false,
        };
        (tap, receivers)
    }

    /// The tap for an input whose video the video pass chose as `video`.
    pub(crate) fn for_video(mut self, video: usize) -> Tap {
        self.video = Some(video);
        self
    }

    fn send(batch: &mut Vec<Fed>, tx: &mpsc::Sender<Vec<Fed>>, fed: Fed) {
        batch.push(fed);
        if batch.len() >= BATCH {
            // A pass that stopped (its error is reported) takes no more.
            let _ = tx.send(std::mem::take(batch));
        }
    }

    /// Takes `packet` if it is a tapped track's, or hands it back. A damaged
    /// packet is handed back for the video pass to refuse, as it would have.
    pub(crate) fn take(&mut self, packet: ff::Packet) -> Option<ff::Packet> {
        let si = packet.stream();
        if Some(si) == self.video {
            if !self.keyframe_sent {
                let (pts, dts) = (packet.pts(), packet.dts());
                let key = packet.is_key();
                self.keyframe_sent = key && pts.or(dts).is_some();
                for (_, tx, batch) in &mut self.tracks {
                    Tap::send(batch, tx, Fed::Video { key, pts, dts });
                }
            }
            return Some(packet);
        }
        if packet.is_corrupt() {
            return Some(packet);
        }
        match self.tracks.iter_mut().find(|(s, _, _)| *s == si) {
            Some((_, tx, batch)) => {
                Tap::send(batch, tx, Fed::Audio(packet));
                None
            }
            None => Some(packet),
        }
    }
}

/// Sends the audio stream `stream` of `path`, cut at `cuts` (seconds from
/// the first video keyframe, ascending, the first cut after zero), to `sink`.
/// `cuts` may block until the next cut is known (the video is cut
/// meanwhile, on another thread): it is asked only once an audio frame at or
/// past every earlier cut is at hand. With `fed`, the packets come from a
/// video pass over the same input (`Tap`), which reads it, instead.
#[allow(clippy::too_many_arguments)]
pub fn run(
    path: &Path,
    stream: usize,
    format: Container,
    cuts: impl IntoIterator<Item = f64>,
    mut fed: Option<Feed>,
    progress: &dyn Progress,
    spares: mpsc::Receiver<Vec<u8>>,
    mut sink: impl FnMut(Event) -> Result<()>,
) -> Result<Summary> {
    let mut ictx = open_input_with(path, Probe::Headers)?;
    let info = describe(path, &ictx);
    let video = info.select()?.video.index;
    let audio = info
        .streams
        .iter()
        .find(|s| s.index == stream && s.kind == "audio")
        .cloned()
        .ok_or_else(|| Error::NotMedia {
            path: path.into(),
            reason: format!("stream #{stream} is not an audio stream"),
        })?;
    if audio.codecs.is_none() {
        return Err(Error::UnsupportedCodec {
            path: path.into(),
            kind: "audio",
            codec: audio.codec.clone(),
        });
    }
    let (v_tb, a_tb, params) = {
        let v = ictx.stream(video).expect("selected stream exists");
        let a = ictx.stream(stream).expect("checked above");
        (v.time_base(), a.time_base(), a.parameters())
    };
    let mux_err = |(op, e): (&'static str, ff::Error)| Error::Ffmpeg {
        path: path.into(),
        op,
        err: e.to_string(),
    };
    let streams = [(&params, a_tb)];
    let mut mux: Box<dyn SegmentMuxer> = match format {
        Container::Ts => Box::new(TsMuxer::new(&streams).map_err(mux_err)?),
        Container::Cmaf => Box::new(super::fmp4::Fmp4Muxer::new(&streams).map_err(mux_err)?),
    };
    mux.recycle(spares);
    let total_ms = info.duration.map(|d| (d * 1000.0) as u64).unwrap_or(0);
    sink(Event::Start {
        info,
        selection: Selection {
            video: audio,
            audio: None,
        },
    })?;
    if let Some(init) = mux.init_segment() {
        sink(Event::Init(init))?;
    }
    progress.set_length(total_ms.max(1));

    let a_sec = f64::from(a_tb);
    // The first video keyframe: its presentation time is time zero, and its
    // decode time, in the audio's time base, what the muxer shifts by.
    let mut origin: Option<f64> = None;
    let mut pending: Vec<ff::Packet> = Vec::new();
    let mut next_cut = cuts.into_iter().peekable();
    let mut index = 0usize;
    let mut seg_start = 0.0;
    let mut begun = false;
    let mut last_end = 0.0f64;
    let mut written = 0u64;
    let mut floor = 0i64;
    loop {
        let next = match fed.as_mut() {
            Some(feed) => feed.next(),
            None => match next_packet(&mut ictx) {
                Ok(Some(p)) if p.stream() == video => Some(Fed::Video {
                    key: p.is_key(),
                    pts: p.pts(),
                    dts: p.dts(),
                }),
                Ok(Some(p)) if p.stream() == stream => Some(Fed::Audio(p)),
                Ok(Some(_)) => continue,
                Ok(None) => None,
                Err(e) => {
                    return Err(Error::Truncated {
                        path: path.into(),
                        reason: format!("reading stopped after {written} audio frames: {e}"),
                    })
                }
            },
        };
        // The packets to write now: this one, or those held back until the
        // first video keyframe set time zero.
        let ready = match next {
            None => break,
            Some(Fed::Audio(packet)) if origin.is_none() => {
                pending.push(packet);
                continue;
            }
            Some(Fed::Audio(packet)) => vec![packet],
            Some(Fed::Video { key, pts, dts }) => {
                let (true, None, Some(pts)) = (key, origin, pts.or(dts)) else {
                    continue;
                };
                let dts = dts.unwrap_or(pts);
                origin = Some(pts as f64 * f64::from(v_tb));
                let dts_a = dts.rescale(v_tb, a_tb);
                mux.start_at_zero(&[(dts_a, 0)]);
                // What the muxer would write below zero.
                floor = dts_a.min(0);
                // Only this stream's packets count from here: a demuxer
                // that honours it (MP4, Matroska) skips the others'
                // bytes instead of reading the whole title again for a
                // few MiB of audio (about a tenth of `package --format
                // cmaf`'s CPU on an 8 Mb/s title). Others still hand
                // them over, and they are skipped below.
                if fed.is_none() {
                    discard_all_but(&mut ictx, stream);
                }
                std::mem::take(&mut pending)
            }
        };
        for packet in ready {
            write(
                mux.as_mut(),
                packet,
                origin,
                floor,
                a_sec,
                &mut State {
                    next_cut: &mut next_cut,
                    index: &mut index,
                    seg_start: &mut seg_start,
                    begun: &mut begun,
                    last_end: &mut last_end,
                    written: &mut written,
                    sink: &mut sink,
                    progress,
                },
            )
            .map_err(|e| e.into_error(path))?;
        }
        if mux.pending() >= CHUNK {
            sink(Event::Data(mux.take()))?;
        }
    }
    if origin.is_none() {
        return Err(Error::NotMedia {
            path: path.into(),
            reason: "no video keyframe found".into(),
        });
    }
    if !begun {
        return Err(Error::NotMedia {
            path: path.into(),
            reason: format!("audio stream #{stream} has no frame after the first video keyframe"),
        });
    }
    sink(Event::Data(mux.finish().map_err(mux_err)?))?;
    let duration = (last_end - seg_start).max(0.0);
    sink(Event::End {
        index,
        start: seg_start,
        duration,
        video_frames: 0,
    })?;
    progress.set_position(total_ms);
    Ok(Summary {
        segments: index + 1,
        video_frames: 0,
        duration: seg_start + duration,
        dropped_leading: 0,
        dependent: 0,
        refresh: 0,
        edit_hidden: 0,
        edit_reencoded: 0,
        edit_unhonoured: 0,
    })
}

/// Makes the demuxer of `ictx` leave out every stream but `keep`.
fn discard_all_but(ictx: &mut ff::format::context::Input, keep: usize) {
    // SAFETY: `ictx` is a live input context, borrowed mutably, whose
    // `nb_streams` stream pointers are valid; only their `discard` field is
    // written, which FFmpeg reads before each packet it demuxes.
    unsafe {
        let ctx = ictx.as_mut_ptr();
        for i in 0..(*ctx).nb_streams as usize {
            if i != keep {
                (**(*ctx).streams.add(i)).discard = ff::ffi::AVDiscard::AVDISCARD_ALL;
            }
        }
    }
}

/// Where the segments stand, for `write`.
struct State<'a, I: Iterator<Item = f64>, S> {
    next_cut: &'a mut std::iter::Peekable<I>,
    index: &'a mut usize,
    seg_start: &'a mut f64,
    begun: &'a mut bool,
    last_end: &'a mut f64,
    written: &'a mut u64,
    sink: &'a mut S,
    progress: &'a dyn Progress,
}

/// Why `write` stopped: the sink's error, or the muxer's.
enum Stop {
    Sink(Error),
    Mux((&'static str, ff::Error)),
}

impl Stop {
    fn into_error(self, path: &Path) -> Error {
        match self {
            Stop::Sink(e) => e,
            Stop::Mux((op, e)) => Error::Ffmpeg {
                path: path.into(),
                op,
                err: e.to_string(),
            },
        }
    }
}

/// Writes one audio packet, first ending the segment when it is at or past
/// the next cut. Packets the muxer would write below zero are left out.
fn write<I: Iterator<Item = f64>, S: FnMut(Event) -> Result<()>>(
    mux: &mut dyn SegmentMuxer,
    packet: ff::Packet,
    origin: Option<f64>,
    floor: i64,
    a_sec: f64,
    st: &mut State<'_, I, S>,
) -> std::result::Result<(), Stop> {
    let Some(ts) = packet.pts().or(packet.dts()) else {
        return Ok(());
    };
    if packet.dts().unwrap_or(ts) < floor {
        return Ok(());
    }
    let t = ts as f64 * a_sec - origin.unwrap_or(0.0);
    if !*st.begun {
        *st.begun = true;
        (st.sink)(Event::Begin {
            index: 0,
            start: 0.0,
        })
        .map_err(Stop::Sink)?;
    } else {
        let mut cut_at = None;
        while st.next_cut.peek().is_some_and(|c| *c <= t + EPS) {
            cut_at = st.next_cut.next();
        }
        if let Some(at) = cut_at {
            shieldpack_core::interrupt::check().map_err(Stop::Sink)?;
            let data = mux.cut().map_err(Stop::Mux)?;
            (st.sink)(Event::Data(data)).map_err(Stop::Sink)?;
            (st.sink)(Event::End {
                index: *st.index,
                start: *st.seg_start,
                duration: at - *st.seg_start,
                video_frames: 0,
            })
            .map_err(Stop::Sink)?;
            *st.index += 1;
            *st.seg_start = at;
            st.progress.set_position((at * 1000.0) as u64);
            (st.sink)(Event::Begin {
                index: *st.index,
                start: at,
            })
            .map_err(Stop::Sink)?;
        }
    }
    let d = packet.duration().max(0) as f64 * a_sec;
    *st.last_end = st.last_end.max(t + d);
    *st.written += 1;
    mux.write(packet, 0).map_err(Stop::Mux)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::segment::{self, Plan};
    use shieldpack_core::progress::NoProgress;

    /// Every byte and segment end an audio pass sends, in order.
    fn collect(out: &mut Vec<(String, Vec<u8>)>) -> impl FnMut(Event) -> Result<()> + '_ {
        move |ev| {
            match ev {
                Event::Data(d) | Event::Init(d) => out.push(("data".into(), d)),
                Event::End {
                    index,
                    start,
                    duration,
                    ..
                } => out.push((format!("end {index} {start:.6} {duration:.6}"), Vec::new())),
                _ => {}
            }
            Ok(())
        }
    }

    /// An audio track fed by the video pass (`Tap`) is packaged exactly as
    /// one that reads the file itself: same bytes, same cuts, both formats.
    #[test]
    fn a_tapped_audio_pass_sends_what_reading_the_file_sends() {
        let clip = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/clip.mp4");
        let cuts = [4.0, 8.0];
        for format in [Container::Cmaf, Container::Ts] {
            let (_, spares) = mpsc::channel();
            let mut own = Vec::new();
            run(
                &clip,
                1,
                format,
                cuts,
                None,
                &NoProgress,
                spares,
                collect(&mut own),
            )
            .expect("the clip's audio packages");

            let plan = Plan {
                target: 4.0,
                forced_cuts: Vec::new(),
                cut_every: None,
                format,
                video_only: true,
            };
            let (tap, mut feeds) = Tap::new(&[1]);
            let mut fed = Vec::new();
            std::thread::scope(|s| {
                let feed = feeds.remove(0);
                let audio = s.spawn(|| {
                    let (_, spares) = mpsc::channel();
                    run(
                        &clip,
                        1,
                        format,
                        cuts,
                        Some(feed),
                        &NoProgress,
                        spares,
                        collect(&mut fed),
                    )
                });
                let (_, spares) = mpsc::channel();
                segment::run_tapped(&clip, &plan, Some(tap), &NoProgress, spares, |_| Ok(()))
                    .expect("the clip's video packages");
                audio
                    .join()
                    .expect("no panic")
                    .expect("the fed audio packages");
            });
            let ends = own
                .iter()
                .filter(|(what, _)| what.starts_with("end"))
                .count();
            assert_eq!(ends, 3, "{format:?}: three segments at cuts 4 and 8");
            assert!(own.iter().map(|(_, d)| d.len()).sum::<usize>() > 10_000);
            assert!(
                own == fed,
                "{format:?}: the fed pass differs from the reading one"
            );
        }
    }
}
