//! Transcoding one mezzanine into an aligned H.264 ladder (`package --ladder`),
//! and the fast complexity probe behind `--ladder auto`.
//!
//! The source is demuxed and decoded once, on the calling thread. Every decoded
//! frame goes, shared (reference-counted, never copied), to one thread per rung
//! through a short bounded queue; each rung thread scales it (swscale) to its
//! size, encodes it with libx264 and muxes it into its own file. A rung of the
//! source's size encodes the decoded frame itself, and a rung at most half
//! another's size gets that rung's scaled frames instead, the same way
//! (`scale_sources`). So memory is
//! bounded by the queues and x264's lookahead whatever the title's length, and
//! the rungs keep every core busy. The decision which frames become keyframes
//! is made once, on the decoding thread, and carried with the frame: every rung
//! gets an IDR at exactly the same frames (the first frame at or after each
//! cut time) and nowhere else (x264's scene-cut detection is off and its GOP
//! has no length limit), so the package pipeline cuts every rendition at the
//! same frames.
//!
//! Audio is passed through untouched, and every rung file carries the same
//! copied audio streams: each rung is a complete rendition that the
//! several-inputs packaging path can take like any pre-encoded input.
//! Rung files are MP4 when MP4 can carry the audio, MKV otherwise.

use std::path::{Path, PathBuf};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::Arc;

use ff::format::Pixel;
use ff::{codec, encoder, format, frame, media, picture, Dictionary, Packet, Rational};
use ffmpeg_next as ff;

use shieldpack_core::error::{Error, Result};
use shieldpack_core::ladder::{Probe, RungPlan};

use crate::decode::{open_video, VideoIn};
use shieldpack_core::progress::Progress;

use crate::ff_err;

/// Frames queued per rung: enough to ride out the rungs' uneven speed, few
/// enough that a 4K source with many rungs stays within tens of MiB.
const QUEUE: usize = 4;

/// libx264 settings shared by every rung.
#[derive(Debug, Clone)]
pub struct EncodeSettings {
    /// x264 preset (`veryfast`, `fast`, `medium`, ...).
    pub preset: String,
    /// Peak rate as a multiple of each rung's average (VBV `maxrate`). Apple's
    /// authoring specification allows VOD peaks up to 2x the average.
    pub peak: f64,
    /// VBV buffer as seconds of the rung's average rate.
    pub buffer_seconds: f64,
}

impl Default for EncodeSettings {
    fn default() -> Self {
        EncodeSettings {
            preset: "veryfast".into(),
            peak: 1.5,
            buffer_seconds: 2.0,
        }
    }
}

/// What the transcoder needs to know of the source before it starts.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Source {
    pub width: u32,
    pub height: u32,
    /// Sample (pixel) aspect ratio; 1.0 for square pixels.
    pub sar: f64,
    pub fps: f64,
    /// Seconds, from the container (0 when it does not say).
    pub duration: f64,
}

/// One rung written.
#[derive(Debug, Clone)]
pub struct RungFile {
    pub plan: RungPlan,
    pub path: PathBuf,
    /// Video frames encoded into it.
    pub frames: u64,
}

/// What [`transcode`] made.
#[derive(Debug, Clone)]
pub struct Transcoded {
    /// In the order of the plans given.
    pub rungs: Vec<RungFile>,
    /// Where the keyframes were forced: seconds from the first frame, one per
    /// cut that had a frame at or after it. Every rung has its IDRs at exactly
    /// these frames, and only there.
    pub cuts: Vec<f64>,
    /// Frames decoded from the source (each rung has as many).
    pub frames: u64,
}

/// x264 threads per rung: the cores in proportion to the rung's share of
/// the largest rung's pixels, at least one. On 2 cores a 1080p/720p/540p/
/// 360p ladder gets 2, 1, 1, 1: the 1080p rung (over half the pixels of the
/// ladder) can use both cores while the small rungs are done.
fn encoder_threads(rungs: &[RungPlan], cores: usize) -> Vec<usize> {
    let pixels = |r: &RungPlan| u64::from(r.width) * u64::from(r.height);
    let top = rungs.iter().map(pixels).max().unwrap_or(1).max(1);
    rungs
        .iter()
        .map(|r| ((cores as u64 * pixels(r) + top / 2) / top).max(1) as usize)
        .collect()
}

/// Where each rung's pictures are scaled from: `None` for the decoded
/// source, `Some(j)` for rung `j`'s pictures. A rung takes the smallest rung
/// at least twice its width and height (and smaller than the source), or a
/// rung of its very size listed before it (whose pictures it then encodes as
/// they are). swscale's work is about proportional to the pixels it reads,
/// so a 360p rung scaled from 720p pictures costs about half of one scaled
/// from 1080p. Only steps of 2x or more: against FFmpeg's direct bicubic
/// scaling of the source, a 360p rung at 800k scaled 1080p-720p-360p lost
/// 0.16 dB PSNR (luma) after x264, where a 1080p-720p-540p step lost 0.4 dB
/// at 540p (0.7 dB in a chroma plane): each bicubic step blurs a little more.
/// Dependencies only go to more pixels or an earlier rung of the same size,
/// so they never make a cycle.
fn scale_sources(rungs: &[RungPlan], src_width: u32, src_height: u32) -> Vec<Option<usize>> {
    let pixels = |w: u32, h: u32| u64::from(w) * u64::from(h);
    let source = pixels(src_width, src_height);
    rungs
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let same = |o: &RungPlan| o.width == r.width && o.height == r.height;
            let twice = |o: &RungPlan| o.width >= 2 * r.width && o.height >= 2 * r.height;
            rungs
                .iter()
                .enumerate()
                .filter(|&(j, o)| {
                    pixels(o.width, o.height) < source && ((same(o) && j < i) || twice(o))
                })
                .min_by_key(|&(j, o)| (pixels(o.width, o.height), j))
                .map(|(j, _)| j)
        })
        .collect()
}

/// A stream's metadata carried into the rung files (language, title).
type Tags = Vec<(String, String)>;

fn sar_of(r: Rational) -> f64 {
    if r.numerator() > 0 && r.denominator() > 0 {
        f64::from(r)
    } else {
        1.0
    }
}

/// The source's size, shape, frame rate and duration.
pub fn source(input: &Path) -> Result<Source> {
    let ictx = crate::open_input(input)?;
    let vin = open_video(&ictx, input)?;
    let duration = if ictx.duration() > 0 {
        ictx.duration() as f64 / f64::from(ff::ffi::AV_TIME_BASE)
    } else {
        0.0
    };
    Ok(Source {
        width: vin.decoder.width(),
        height: vin.decoder.height(),
        sar: sar_of(vin.decoder.aspect_ratio()),
        fps: f64::from(vin.fps),
        duration,
    })
}

fn x264() -> Result<ff::Codec> {
    encoder::find_by_name("libx264").ok_or_else(|| {
        Error::arg(
            "this FFmpeg has no libx264 encoder",
            "install an FFmpeg built with --enable-libx264 (Debian's libavcodec59 is)",
        )
    })
}

/// Scales shared frames to one size and feeds them to libx264.
struct Encoder {
    enc: encoder::Video,
    width: u32,
    height: u32,
    scaler: Option<ff::software::scaling::Context>,
    /// Frames this encoder scaled into, kept to scale into again once no
    /// rung and no encoder holds them: a fresh frame each time cost a page
    /// fault per 4 KiB of it.
    spare: Vec<Arc<frame::Video>>,
}

/// Scaled frames kept for reuse per rung: those still queued at the rungs
/// scaling from this one, and one being encoded.
const SPARE: usize = 2 * QUEUE + 2;

struct EncoderSetup<'a> {
    width: u32,
    height: u32,
    sar: Rational,
    time_base: Rational,
    fps: Rational,
    global_header: bool,
    threads: usize,
    opts: Dictionary<'a>,
}

/// Makes a decoded frame what every rung encodes or scales from: time stamp
/// `pts`, an I picture when `key` (libx264 makes it an IDR with forced-idr=1)
/// and otherwise no type, so that x264 chooses (with scenecut=0 and an endless
/// GOP it chooses P or B; a type the decoder left would force the source's
/// I pictures), and no side data, which libx264 would otherwise act on
/// (captions, regions of interest, stereo packing) in the rung encoded from
/// this very frame but not in the scaled ones.
fn prepare(f: &mut frame::Video, pts: i64, key: bool) {
    f.set_pts(Some(pts));
    f.set_kind(if key {
        picture::Type::I
    } else {
        picture::Type::None
    });
    // SAFETY: `p` is the frame's own AVFrame, which `f` borrows mutably;
    // its `side_data` array holds `nb_side_data` valid entries, read before
    // any is removed.
    unsafe {
        let p = f.as_mut_ptr();
        let kinds: Vec<_> = (0..(*p).nb_side_data.max(0) as usize)
            .map(|i| (**(*p).side_data.add(i)).type_)
            .collect();
        for kind in kinds {
            ff::ffi::av_frame_remove_side_data(p, kind);
        }
    }
}

impl Encoder {
    fn open(s: EncoderSetup, out: &Path) -> Result<Self> {
        let mut e = codec::context::Context::new_with_codec(x264()?)
            .encoder()
            .video()
            .map_err(ff_err(out, "set up the H.264 encoder"))?;
        e.set_width(s.width);
        e.set_height(s.height);
        e.set_aspect_ratio(s.sar);
        e.set_format(Pixel::YUV420P);
        e.set_frame_rate(Some(s.fps));
        e.set_time_base(s.time_base);
        if s.global_header {
            e.set_flags(codec::Flags::GLOBAL_HEADER);
        }
        let mut opts = s.opts;
        opts.set("threads", &s.threads.to_string());
        let enc = e.open_with(opts).map_err(|err| Error::Ffmpeg {
            path: out.to_path_buf(),
            op: "open the H.264 encoder",
            err: err.to_string(),
        })?;
        Ok(Encoder {
            enc,
            width: s.width,
            height: s.height,
            scaler: None,
            spare: Vec::new(),
        })
    }

    /// The picture to encode for `src` (a frame made by [`prepare`], or one
    /// this function returned to another rung): `src` itself when it has this
    /// encoder's size and pixel format, as FFmpeg's scale filter passes such a
    /// frame through, else `src` scaled (swscale, bicubic), with its time stamp
    /// and picture type.
    fn picture(&mut self, src: &Arc<frame::Video>, out: &Path) -> Result<Arc<frame::Video>> {
        if src.format() == Pixel::YUV420P
            && src.width() == self.width
            && src.height() == self.height
        {
            return Ok(Arc::clone(src));
        }
        let stale = self.scaler.as_ref().is_none_or(|s| {
            s.input().format != src.format()
                || s.input().width != src.width()
                || s.input().height != src.height()
        });
        if stale {
            self.scaler = Some(
                ff::software::scaling::Context::get(
                    src.format(),
                    src.width(),
                    src.height(),
                    Pixel::YUV420P,
                    self.width,
                    self.height,
                    ff::software::scaling::Flags::BICUBIC,
                )
                .map_err(ff_err(out, "scale the video"))?,
            );
        }
        let mut scaled = self
            .reusable()
            .unwrap_or_else(|| frame::Video::new(Pixel::YUV420P, self.width, self.height));
        self.scaler
            .as_mut()
            .expect("set above")
            .run(src, &mut scaled)
            .map_err(ff_err(out, "scale the video"))?;
        scaled.set_pts(src.pts());
        scaled.set_kind(src.kind());
        let scaled = Arc::new(scaled);
        if self.spare.len() >= SPARE {
            self.spare.remove(0);
        }
        self.spare.push(Arc::clone(&scaled));
        Ok(scaled)
    }

    /// A kept frame that nothing else holds: no other rung (the `Arc`) and
    /// no encoder (libavcodec's reference to its buffers).
    fn reusable(&mut self) -> Option<frame::Video> {
        let free = self.spare.iter_mut().position(|a| {
            Arc::get_mut(a).is_some_and(|f| {
                // SAFETY: the frame is alive and ours alone (`get_mut`).
                unsafe { ff::ffi::av_frame_is_writable(f.as_mut_ptr()) != 0 }
            })
        })?;
        Arc::try_unwrap(self.spare.swap_remove(free)).ok()
    }

    /// Encodes a decoded frame at `pts`, scaled, with no forced keyframe.
    fn send_decoded(&mut self, mut f: frame::Video, pts: i64, out: &Path) -> Result<()> {
        prepare(&mut f, pts, false);
        let picture = self.picture(&Arc::new(f), out)?;
        self.encode(&picture, out)
    }

    /// Encodes a picture from [`Encoder::picture`].
    fn encode(&mut self, picture: &frame::Video, out: &Path) -> Result<()> {
        self.enc
            .send_frame(picture)
            .map_err(ff_err(out, "encode a frame"))
    }
}

/// libx264 options for a rung of `kbps`: average rate, VBV peak and buffer,
/// keyframes only where forced.
fn rung_options(kbps: u32, s: &EncodeSettings) -> Dictionary<'static> {
    let mut d = Dictionary::new();
    d.set("preset", &s.preset);
    d.set("b", &format!("{}", u64::from(kbps) * 1000));
    d.set(
        "maxrate",
        &format!("{}", (f64::from(kbps) * 1000.0 * s.peak).round() as u64),
    );
    d.set(
        "bufsize",
        &format!(
            "{}",
            (f64::from(kbps) * 1000.0 * s.buffer_seconds).round() as u64
        ),
    );
    d.set("forced-idr", "1");
    d.set("x264-params", "scenecut=0:keyint=infinite");
    d
}

enum Msg {
    /// A frame made by [`prepare`] (or a larger rung's picture of it).
    Video(Arc<frame::Video>),
    /// An audio packet of input stream `input` (its index among the copied streams).
    Audio { packet: Packet, input: usize },
}

/// One rung's thread: encoder, muxer and file.
struct RungWriter {
    plan: RungPlan,
    path: PathBuf,
    octx: format::context::Output,
    enc: Encoder,
    enc_tb: Rational,
    /// One frame at the nominal rate, in `enc_tb`.
    frame_ticks: i64,
    video_out: usize,
    /// Per copied audio stream: (input time base, output index).
    audio: Vec<(Rational, usize)>,
    out_tb: Vec<Rational>,
    frames: u64,
    /// The rungs that scale from this one's pictures ([`scale_sources`]):
    /// every message goes on to them, in order.
    feeds: Vec<SyncSender<Msg>>,
}

/// How a rung's thread ended without an error of its own.
enum RungEnd {
    Done(RungFile),
    /// A rung it feeds hung up: that rung's error is the one to report.
    FedRungStopped,
}

impl RungWriter {
    fn open(
        plan: RungPlan,
        path: PathBuf,
        vin_tb: Rational,
        fps: Rational,
        audio: &[(ff::codec::Parameters, Rational, Tags)],
        settings: &EncodeSettings,
        threads: usize,
    ) -> Result<Self> {
        let out_err = ff_err(&path, "write the rung");
        let mut octx = format::output(&path).map_err(&out_err)?;
        let global_header = octx.format().flags().contains(format::Flags::GLOBAL_HEADER);
        let enc = Encoder::open(
            EncoderSetup {
                width: plan.width,
                height: plan.height,
                sar: Rational(1, 1),
                time_base: vin_tb,
                fps,
                global_header,
                threads,
                opts: rung_options(plan.kbps, settings),
            },
            &path,
        )?;
        {
            let mut ost = octx.add_stream(x264()?).map_err(&out_err)?;
            ost.set_parameters(&enc.enc);
            ost.set_time_base(vin_tb);
        }
        let mut audio_map = Vec::new();
        for (params, tb, tags) in audio {
            let mut ost = octx
                .add_stream(encoder::find(codec::Id::None))
                .map_err(&out_err)?;
            ost.set_parameters(params.clone());
            // Language and title name the alternate audio renditions.
            let mut meta = Dictionary::new();
            for (k, v) in tags {
                meta.set(k, v);
            }
            ost.set_metadata(meta);
            // The input's codec tag may mean nothing in the output container.
            // SAFETY: the stream's codec parameters are allocated by FFmpeg
            // with the stream, which `ost` borrows mutably here.
            unsafe {
                (*ost.parameters().as_mut_ptr()).codec_tag = 0;
            }
            audio_map.push((*tb, ost.index()));
        }
        octx.write_header().map_err(|e| {
            Error::invalid_file(
                &path,
                format!("FFmpeg cannot write the rung's streams into this container ({e})"),
                "transcode the audio to AAC first, or report the input's audio codec",
            )
        })?;
        let out_tb = octx.streams().map(|s| s.time_base()).collect();
        drop(out_err);
        Ok(RungWriter {
            plan,
            path,
            octx,
            enc,
            enc_tb: vin_tb,
            frame_ticks: (1.0 / (f64::from(fps) * f64::from(vin_tb)))
                .round()
                .max(1.0) as i64,
            video_out: 0,
            audio: audio_map,
            out_tb,
            frames: 0,
            feeds: Vec::new(),
        })
    }

    fn drain(&mut self) -> Result<()> {
        let mut pkt = Packet::empty();
        while self.enc.enc.receive_packet(&mut pkt).is_ok() {
            // The frames we hand libx264 carry no duration, so neither do its
            // packets; MP4 then gives the last frame none, and its edit list
            // drops it. One nominal frame each.
            if pkt.duration() <= 0 {
                pkt.set_duration(self.frame_ticks);
            }
            pkt.set_stream(self.video_out);
            pkt.rescale_ts(self.enc_tb, self.out_tb[self.video_out]);
            pkt.write_interleaved(&mut self.octx)
                .map_err(ff_err(&self.path, "write a video packet"))?;
        }
        Ok(())
    }

    fn run(mut self, rx: Receiver<Msg>) -> Result<RungEnd> {
        for msg in rx {
            match msg {
                Msg::Video(frame) => {
                    let picture = self.enc.picture(&frame, &self.path)?;
                    drop(frame);
                    // The rungs scaling from this picture start on it while
                    // this one encodes it.
                    for tx in &self.feeds {
                        if tx.send(Msg::Video(Arc::clone(&picture))).is_err() {
                            return Ok(RungEnd::FedRungStopped);
                        }
                    }
                    self.enc.encode(&picture, &self.path)?;
                    drop(picture);
                    self.frames += 1;
                    self.drain()?;
                }
                Msg::Audio { mut packet, input } => {
                    for tx in &self.feeds {
                        let msg = Msg::Audio {
                            packet: packet.clone(),
                            input,
                        };
                        if tx.send(msg).is_err() {
                            return Ok(RungEnd::FedRungStopped);
                        }
                    }
                    let (tb, o) = self.audio[input];
                    packet.rescale_ts(tb, self.out_tb[o]);
                    packet.set_position(-1);
                    packet.set_stream(o);
                    packet
                        .write_interleaved(&mut self.octx)
                        .map_err(ff_err(&self.path, "write an audio packet"))?;
                }
            }
        }
        // The rungs this one feeds see their input end with this one's.
        self.feeds.clear();
        self.enc
            .enc
            .send_eof()
            .map_err(ff_err(&self.path, "finish encoding"))?;
        self.drain()?;
        self.octx
            .write_trailer()
            .map_err(ff_err(&self.path, "finish the rung file"))?;
        Ok(RungEnd::Done(RungFile {
            plan: self.plan,
            path: self.path,
            frames: self.frames,
        }))
    }
}

/// Audio codecs an MP4 rung file carries; anything else goes into MKV.
fn mp4_carries(id: codec::Id) -> bool {
    use codec::Id::*;
    matches!(id, AAC | MP3 | AC3 | EAC3 | OPUS | FLAC | ALAC)
}

/// Decides, once for all rungs, which frames are keyframes: the first frame
/// at or after each cut (a frame within a quarter of a frame before a cut
/// counts as at it, so time stamps rounded to the container's clock do not
/// push the cut a frame late).
struct KeyPlan {
    cuts: Vec<f64>,
    next: usize,
    slack: f64,
    forced: Vec<f64>,
}

impl KeyPlan {
    fn new(cuts: &[f64], fps: f64) -> Self {
        let mut cuts: Vec<f64> = cuts.iter().copied().filter(|t| t.is_finite()).collect();
        cuts.sort_by(f64::total_cmp);
        KeyPlan {
            cuts,
            next: 0,
            slack: 0.25 / fps.max(1.0),
            forced: Vec::new(),
        }
    }

    fn is_key(&mut self, t: f64, first: bool) -> bool {
        let mut key = first;
        while self.next < self.cuts.len() && self.cuts[self.next] <= t + self.slack {
            key = true;
            self.next += 1;
        }
        if key {
            self.forced.push(t);
        }
        key
    }
}

/// Transcodes `input` into one file per rung in `dir` (named after the rung,
/// see [`RungPlan::name`]), with IDRs at the first frame at or after each of
/// `cuts` (seconds from the first frame) and nowhere else.
pub fn transcode(
    input: &Path,
    dir: &Path,
    rungs: &[RungPlan],
    cuts: &[f64],
    settings: &EncodeSettings,
    progress: &dyn Progress,
) -> Result<Transcoded> {
    if rungs.is_empty() {
        return Err(Error::arg(
            "the ladder has no rungs",
            "give at least one rung, e.g. --ladder 720p:3000k",
        ));
    }
    x264()?;
    let mut ictx = crate::open_input(input)?;
    let mut vin = open_video(&ictx, input)?;
    let audio: Vec<(usize, ff::codec::Parameters, Rational, Tags)> = ictx
        .streams()
        .filter(|s| s.parameters().medium() == media::Type::Audio)
        .map(|s| {
            let tags = s
                .metadata()
                .iter()
                .filter(|(k, _)| matches!(*k, "language" | "title"))
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            (s.index(), s.parameters(), s.time_base(), tags)
        })
        .collect();
    let ext = if audio.iter().all(|(_, p, _, _)| mp4_carries(p.id())) {
        "mp4"
    } else {
        "mkv"
    };
    let mut audio_slot = vec![None; ictx.nb_streams() as usize];
    for (slot, (i, _, _, _)) in audio.iter().enumerate() {
        audio_slot[*i] = Some(slot);
    }
    let audio_params: Vec<(ff::codec::Parameters, Rational, Tags)> = audio
        .into_iter()
        .map(|(_, p, tb, tags)| (p, tb, tags))
        .collect();
    let frames_estimate = vin.frames_estimate;
    progress.set_length(frames_estimate.max(1));

    // Each rung has its own thread, so one slow rung does not hold the
    // others back, and x264 threads of its own in proportion to its pixels
    // (`encoder_threads`): the top rung is most of the work, and with one
    // thread it alone set the wall time while the other core idled.
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let threads = encoder_threads(rungs, cores);
    // A rung can take its frames from a rung twice its size or one of its
    // own size (`scale_sources`): the decoder feeds only the rungs that
    // scale from the source, and each rung the rungs that scale from it.
    let sources = scale_sources(rungs, vin.decoder.width(), vin.decoder.height());
    let (txs, rxs): (Vec<_>, Vec<_>) = rungs.iter().map(|_| sync_channel::<Msg>(QUEUE)).unzip();
    let mut feeds: Vec<Vec<SyncSender<Msg>>> = vec![Vec::new(); rungs.len()];
    let mut senders: Vec<SyncSender<Msg>> = Vec::new();
    for (tx, source) in txs.into_iter().zip(&sources) {
        match source {
            Some(j) => feeds[*j].push(tx),
            None => senders.push(tx),
        }
    }
    let mut handles = Vec::new();
    for (((plan, threads), rx), feeds) in rungs.iter().zip(threads).zip(rxs).zip(feeds) {
        let path = dir.join(format!("{}.{ext}", plan.name(rungs)));
        let (plan, tb, fps, ap, st) = (
            *plan,
            vin.time_base,
            vin.fps,
            audio_params.clone(),
            settings.clone(),
        );
        handles.push(std::thread::spawn(move || {
            let mut w = RungWriter::open(plan, path, tb, fps, &ap, &st, threads)?;
            w.feeds = feeds;
            w.run(rx)
        }));
    }

    let fed = feed(
        &mut ictx,
        &mut vin,
        input,
        cuts,
        &audio_slot,
        &senders,
        progress,
    );
    drop(senders);
    let mut written = Vec::new();
    let mut first_err = None;
    for h in handles {
        match h.join() {
            Ok(Ok(RungEnd::Done(r))) => written.push(r),
            // The rung it fed failed, and joins with its own error.
            Ok(Ok(RungEnd::FedRungStopped)) => {}
            Ok(Err(e)) => {
                first_err.get_or_insert(e);
            }
            Err(_) => {
                first_err.get_or_insert(Error::arg(
                    "a ladder encoder thread panicked",
                    "this is a bug; please report it with the input's `inspect` output",
                ));
            }
        }
    }
    // An encoder's own error explains a feed that stopped because it hung up.
    let (frames, forced) = match (fed, first_err) {
        (_, Some(e)) => return Err(e),
        (Err(e), None) => return Err(e),
        (Ok(v), None) => v,
    };
    if written.len() != rungs.len() {
        return Err(Error::arg(
            "a ladder encoder stopped without saying why",
            "this is a bug; please report it with the input's `inspect` output",
        ));
    }
    if frames == 0 {
        return Err(Error::NotMedia {
            path: input.to_path_buf(),
            reason: "no video frame could be decoded".into(),
        });
    }
    Ok(Transcoded {
        rungs: written,
        cuts: forced,
        frames,
    })
}

/// Demuxes and decodes the source, handing every frame and audio packet to
/// every rung. Returns the frames decoded and the forced keyframe times.
fn feed(
    ictx: &mut format::context::Input,
    vin: &mut VideoIn,
    input: &Path,
    cuts: &[f64],
    audio_slot: &[Option<usize>],
    senders: &[SyncSender<Msg>],
    progress: &dyn Progress,
) -> Result<(u64, Vec<f64>)> {
    let tb = f64::from(vin.time_base);
    let ticks_per_frame = (1.0 / (f64::from(vin.fps) * tb)).round().max(1.0) as i64;
    let mut keys = KeyPlan::new(cuts, f64::from(vin.fps));
    let mut frames = 0u64;
    let mut first_pts: Option<i64> = None;
    let mut last_pts: Option<i64> = None;
    // A rung that hung up has failed; its own error is the one to report.
    let hung_up = || Error::arg("a ladder encoder stopped", "see the error reported with it");
    let mut send_frame = |f: frame::Video, frames: &mut u64| -> Result<()> {
        shieldpack_core::interrupt::check()?;
        // Time stamps as the decoder best knows them, made strictly
        // increasing (an encoder refuses anything else).
        let mut pts = f
            .timestamp()
            .unwrap_or_else(|| last_pts.map_or(0, |p| p + ticks_per_frame));
        if let Some(last) = last_pts {
            if pts <= last {
                pts = last + 1;
            }
        }
        last_pts = Some(pts);
        let t0 = *first_pts.get_or_insert(pts);
        let t = (pts - t0) as f64 * tb;
        let key = keys.is_key(t, *frames == 0);
        let mut f = f;
        prepare(&mut f, pts, key);
        let shared = Arc::new(f);
        for tx in senders {
            tx.send(Msg::Video(Arc::clone(&shared)))
                .map_err(|_| hung_up())?;
        }
        *frames += 1;
        progress.set_position(*frames);
        Ok(())
    };
    while let Some(packet) = crate::next_packet(ictx).map_err(ff_err(input, "read the input"))? {
        let i = packet.stream();
        if i == vin.index {
            if vin.decoder.send_packet(&packet).is_err() {
                continue; // a damaged packet: skip it, as players do
            }
            loop {
                let mut f = frame::Video::empty();
                if vin.decoder.receive_frame(&mut f).is_err() {
                    break;
                }
                send_frame(f, &mut frames)?;
            }
        } else if let Some(Some(slot)) = audio_slot.get(i) {
            for tx in senders {
                tx.send(Msg::Audio {
                    packet: packet.clone(),
                    input: *slot,
                })
                .map_err(|_| hung_up())?;
            }
        }
    }
    let _ = vin.decoder.send_eof();
    loop {
        let mut f = frame::Video::empty();
        if vin.decoder.receive_frame(&mut f).is_err() {
            break;
        }
        send_frame(f, &mut frames)?;
    }
    Ok((frames, keys.forced))
}

/// Seconds of each probe sample, and how many samples spread over the title.
const PROBE_SECONDS: f64 = 2.0;
const PROBE_SAMPLES: usize = 3;
/// The CRF the probe encodes at: a quality a viewer calls good.
const PROBE_CRF: &str = "23";
/// The probe's frame height (its width keeps the source's shape).
const PROBE_HEIGHT: u32 = 360;

/// The `--ladder auto` probe: encodes [`PROBE_SAMPLES`] samples of
/// [`PROBE_SECONDS`] spread over the title (at 10%, 50% and 85% of it; the
/// whole title when it is shorter than the samples together), scaled to
/// 360 lines, with libx264 `ultrafast` at CRF 23, and reports the bit rate it
/// spent. A flat, still title costs few bits at a fixed quality, a noisy or
/// busy one many: that is the complexity `auto_ladder` sizes the ladder by.
pub fn probe(input: &Path, progress: &dyn Progress) -> Result<Probe> {
    let src = source(input)?;
    let mut ictx = crate::open_input(input)?;
    let mut vin = open_video(&ictx, input)?;
    let height = PROBE_HEIGHT.min(src.height & !1).max(2);
    let width = shieldpack_core::ladder::width_for(height, src.width, src.height, src.sar);
    let fps = vin.fps;
    let mut opts = Dictionary::new();
    opts.set("preset", "ultrafast");
    opts.set("crf", PROBE_CRF);
    let mut enc = Encoder::open(
        EncoderSetup {
            width,
            height,
            sar: Rational(1, 1),
            time_base: fps.invert(),
            fps,
            global_header: false,
            threads: 0,
            opts,
        },
        input,
    )?;
    let per_sample = (PROBE_SECONDS * f64::from(fps)).ceil().max(1.0) as u64;
    let whole = src.duration <= PROBE_SECONDS * PROBE_SAMPLES as f64 * 2.0;
    let starts: Vec<f64> = if whole {
        vec![0.0]
    } else {
        [0.10, 0.50, 0.85]
            .iter()
            .map(|f| f * src.duration)
            .collect()
    };
    let limit = if whole { u64::MAX } else { per_sample };
    progress.set_length(if whole {
        (src.duration * f64::from(fps)) as u64
    } else {
        per_sample * starts.len() as u64
    });
    let mut bytes = 0u64;
    let mut frames = 0u64;
    let mut count = |enc: &mut Encoder| {
        let mut pkt = Packet::empty();
        while enc.enc.receive_packet(&mut pkt).is_ok() {
            bytes += pkt.size() as u64;
        }
    };
    for start in starts {
        if start > 0.0 {
            let ts = (start * f64::from(ff::ffi::AV_TIME_BASE)) as i64;
            ictx.seek(ts, ..ts)
                .map_err(ff_err(input, "seek for the complexity probe"))?;
            vin.decoder.flush();
        }
        let mut taken = 0u64;
        'sample: while let Some(packet) =
            crate::next_packet(&mut ictx).map_err(ff_err(input, "read the input"))?
        {
            if packet.stream() != vin.index || vin.decoder.send_packet(&packet).is_err() {
                continue;
            }
            let mut f = frame::Video::empty();
            while vin.decoder.receive_frame(&mut f).is_ok() {
                shieldpack_core::interrupt::check()?;
                enc.send_decoded(
                    std::mem::replace(&mut f, frame::Video::empty()),
                    frames as i64,
                    input,
                )?;
                count(&mut enc);
                frames += 1;
                taken += 1;
                progress.set_position(frames);
                if taken >= limit {
                    break 'sample;
                }
            }
        }
        if whole {
            let _ = vin.decoder.send_eof();
            let mut f = frame::Video::empty();
            while vin.decoder.receive_frame(&mut f).is_ok() {
                enc.send_decoded(
                    std::mem::replace(&mut f, frame::Video::empty()),
                    frames as i64,
                    input,
                )?;
                count(&mut enc);
                frames += 1;
            }
        }
    }
    enc.enc
        .send_eof()
        .map_err(ff_err(input, "finish the complexity probe"))?;
    count(&mut enc);
    if frames == 0 {
        return Err(Error::NotMedia {
            path: input.to_path_buf(),
            reason: "no video frame could be decoded".into(),
        });
    }
    let seconds = frames as f64 / f64::from(fps);
    Ok(Probe {
        width,
        height,
        fps: f64::from(fps),
        kbps: bytes as f64 * 8.0 / 1000.0 / seconds,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keyframes_at_the_first_frame_at_or_after_each_cut() {
        let mut k = KeyPlan::new(&[0.0, 2.0, 4.0], 25.0);
        let got: Vec<usize> = (0..150)
            .filter(|i| k.is_key(*i as f64 * 0.04, *i == 0))
            .collect();
        assert_eq!(got, vec![0, 50, 100]);
        // time stamps rounded to milliseconds, 29.97 fps: still one frame each
        let mut k = KeyPlan::new(&[0.0, 2.0, 4.0], 30000.0 / 1001.0);
        let times: Vec<f64> = (0..150)
            .map(|i| (i as f64 * 1001.0 / 30000.0 * 1000.0).round() / 1000.0)
            .collect();
        let got: Vec<usize> = (0..150).filter(|i| k.is_key(times[*i], *i == 0)).collect();
        assert_eq!(got, vec![0, 60, 120]);
    }

    /// A rung of the given size (its bit rate matters to none of these tests).
    fn r(width: u32, height: u32) -> RungPlan {
        RungPlan {
            width,
            height,
            kbps: 1000,
        }
    }

    #[test]
    fn encoder_threads_follow_each_rungs_pixels() {
        let ladder = [r(1920, 1080), r(1280, 720), r(960, 540), r(640, 360)];
        assert_eq!(encoder_threads(&ladder, 2), vec![2, 1, 1, 1]);
        assert_eq!(encoder_threads(&ladder, 4), vec![4, 2, 1, 1]);
        assert_eq!(encoder_threads(&ladder, 1), vec![1, 1, 1, 1]);
        assert_eq!(encoder_threads(&[r(640, 360)], 8), vec![8]);
    }

    #[test]
    fn each_rung_scales_from_the_smallest_rung_twice_its_size() {
        // the top rung is the source's size; 720p is twice 360p, but
        // nothing is twice 720p or 540p
        let ladder = [r(1920, 1080), r(1280, 720), r(960, 540), r(640, 360)];
        assert_eq!(
            scale_sources(&ladder, 1920, 1080),
            vec![None, None, None, Some(1)]
        );
        // from a 4K source the 1080p rung is twice 540p
        assert_eq!(
            scale_sources(&ladder, 3840, 2160),
            vec![None, None, Some(0), Some(1)]
        );
        // rungs of one size share pictures (the later takes the earlier's),
        // in any order of listing
        let apple = [
            r(1920, 1080),
            r(1920, 1080),
            r(1280, 720),
            r(1280, 720),
            r(640, 360),
        ];
        assert_eq!(
            scale_sources(&apple, 1920, 1080),
            vec![None, None, None, Some(2), Some(2)]
        );
        let low_first = [r(640, 360), r(1280, 720), r(1280, 720)];
        assert_eq!(
            scale_sources(&low_first, 1920, 1080),
            vec![Some(1), None, Some(1)]
        );
        // a wide, short rung is no source for a narrow, tall one
        let odd = [r(1920, 540), r(640, 360)];
        assert_eq!(scale_sources(&odd, 1920, 1080), vec![None, None]);
    }
}
