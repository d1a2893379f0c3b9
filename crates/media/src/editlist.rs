//! MP4 edit lists: package what players show.
//!
//! A file cut with `ffmpeg -ss 2.3 -i in.mp4 -c copy cut.mp4` keeps the
//! whole GOP the cut falls in, and an edit list (ISO/IEC 14496-12 8.6.6,
//! `elst`) that tells players to start presenting 2.3 s into it. FFmpeg's
//! mov demuxer keeps those samples (the frames after the cut need them as
//! references) and marks the ones before the edit's start with
//! `AV_PKT_FLAG_DISCARD`; its decoders drop what those packets decode to.
//! MPEG-TS has no edit list, so a remux shows them: 69 extra frames at the
//! start, and audio that begins later than the picture.
//!
//! `Trim` sits between the demuxer and the segmenter and hands on only what
//! is shown:
//! - audio packets marked discard are dropped; the one that straddles the
//!   edit's start is kept whole (an AAC frame, about 21 ms, cannot be split
//!   without re-encoding, and MPEG-TS cannot say "skip these samples");
//! - for H.264, the video from the start of the file to the first keyframe
//!   at or after the edit's start is decoded, and the frames that are shown
//!   (the packets not marked discard) are re-encoded with libx264 as a new
//!   IDR picture and P pictures, with the source's size, profile and level
//!   and their own SPS and PPS in band; the rest is copied, its first
//!   keyframe with the stream's SPS and PPS in front again (H.264 7.4.1.2.1:
//!   a new SPS takes effect at an IDR picture, so FFmpeg and hls.js in
//!   chromium decode across the change). This is a "smart cut": only the
//!   frames from the edit start to the next keyframe are re-encoded (at
//!   most one GOP; memory holds the decoder's pictures and the encoded
//!   packets, never raw frames), the frame count and the first shown
//!   picture are the ones players show, and A/V sync stays as the edit
//!   list has it (both streams keep their time stamps).
//! - other video codecs are handed on unchanged (as before), audio too,
//!   so sync is kept, and `package` warns that the hidden frames are shown.
//!
//! Inputs whose first video packet is not marked discard (every file
//! without an edit list, or with one that starts at its first frame) cost
//! one flag test per packet. An edit list that starts on a keyframe still
//! has the hidden GOP before it decoded, and nothing re-encoded.

use std::collections::{HashSet, VecDeque};
use std::path::Path;

use ff::codec;
use ff::packet::Ref as _;
use ffmpeg_next as ff;

use super::annexb::annexb_units;
use super::next_packet;
use shieldpack_core::error::{Error, Result};

/// A failure while reading through `Trim`: of the input itself (which the
/// caller reports as a truncated file), or of the re-encode.
pub(crate) enum Failure {
    Read(ff::Error),
    Fail(Error),
}

impl From<Error> for Failure {
    fn from(e: Error) -> Self {
        Failure::Fail(e)
    }
}

fn discarded(p: &ff::Packet) -> bool {
    // SAFETY: a live packet; the flags are only read.
    unsafe { (*p.as_ptr()).flags & ff::ffi::AV_PKT_FLAG_DISCARD != 0 }
}

enum State {
    /// No video packet read yet.
    Undecided,
    /// Decoding the video before the first shown keyframe.
    Region(Box<Region>),
    /// Handing packets on.
    Done,
}

struct Region {
    decoder: ff::decoder::Video,
    /// PTS of the video packets not marked discard: the frames to keep.
    /// A frame leaves the decoder after its packet went in, so it is known
    /// by then whether it is shown.
    shown: HashSet<i64>,
    /// Opened at the first shown frame, whose size and format it takes.
    encoder: Option<ff::encoder::Video>,
    /// What it encoded, Annex B, in its own order.
    encoded: Vec<ff::Packet>,
}

/// Packets as players present them (see the module's notes).
pub(crate) struct Trim {
    video: usize,
    audio: Option<usize>,
    h264: bool,
    state: State,
    queue: VecDeque<ff::Packet>,
    /// Video packets read that are not handed on, and re-encoded ones that
    /// are handed on in their place.
    hidden: u64,
    reencoded: u64,
    /// The PTS of the first copied keyframe after re-encoded frames.
    resume: Option<i64>,
    /// Video packets an edit list hides that are packaged all the same
    /// (codecs other than H.264).
    unhonoured: u64,
    /// Audio tracks packaged apart take their packets here, as read.
    tap: Option<super::audio::Tap>,
}

impl Trim {
    pub(crate) fn new(
        ictx: &ff::format::context::Input,
        video: usize,
        audio: Option<usize>,
    ) -> Self {
        let h264 = ictx
            .stream(video)
            .is_some_and(|s| s.parameters().id() == codec::Id::H264);
        Trim {
            video,
            audio,
            h264,
            state: State::Undecided,
            queue: VecDeque::new(),
            hidden: 0,
            reencoded: 0,
            resume: None,
            unhonoured: 0,
            tap: None,
        }
    }

    /// Hands packets to `tap` as read, before anything else sees them.
    pub(crate) fn tapped(mut self, tap: Option<super::audio::Tap>) -> Self {
        self.tap = tap;
        self
    }

    /// Video packets of the input that were not handed on (hidden by the
    /// edit list, or decoded and re-encoded).
    pub(crate) fn hidden(&self) -> u64 {
        self.hidden
    }

    /// Whether the video `packet` is the first copied one after re-encoded
    /// frames, which needs the stream's parameter sets in front (once).
    pub(crate) fn resumes(&mut self, packet: &ff::Packet) -> bool {
        let hit = self.resume.is_some() && packet.pts() == self.resume;
        if hit {
            self.resume = None;
        }
        hit
    }

    /// Video packets an edit list hides that are handed on all the same.
    pub(crate) fn unhonoured(&self) -> u64 {
        self.unhonoured
    }

    /// Video frames re-encoded at the edit's start.
    pub(crate) fn reencoded(&self) -> u64 {
        self.reencoded
    }

    /// The next packet to package.
    pub(crate) fn next(
        &mut self,
        ictx: &mut ff::format::context::Input,
        path: &Path,
    ) -> std::result::Result<Option<ff::Packet>, Failure> {
        loop {
            if let Some(p) = self.queue.pop_front() {
                return Ok(Some(p));
            }
            let Some(packet) = next_packet(ictx).map_err(Failure::Read)? else {
                if let State::Region(region) = std::mem::replace(&mut self.state, State::Done) {
                    self.end_region(ictx, *region, None, path)?;
                    continue;
                }
                // The tracks' passes end with the input.
                self.tap = None;
                return Ok(None);
            };
            let packet = match self.tap.as_mut() {
                Some(tap) => match tap.take(packet) {
                    Some(p) => p,
                    None => continue,
                },
                None => packet,
            };
            let si = packet.stream();
            if packet.is_corrupt() || (si != self.video && Some(si) != self.audio) {
                return Ok(Some(packet));
            }
            if si != self.video {
                if discarded(&packet) && self.h264 {
                    continue;
                }
                return Ok(Some(packet));
            }
            match &mut self.state {
                _ if !self.h264 => {
                    self.unhonoured += u64::from(discarded(&packet));
                    return Ok(Some(packet));
                }
                State::Done => {
                    // Past the start, a discard mark (an edit that ends early
                    // or a gap) hides a frame others may need: keep it.
                    return Ok(Some(packet));
                }
                State::Undecided if !discarded(&packet) => {
                    self.state = State::Done;
                    return Ok(Some(packet));
                }
                State::Undecided => {
                    let st = ictx.stream(self.video).expect("selected stream exists");
                    let decoder = codec::context::Context::from_parameters(st.parameters())
                        .and_then(|c| c.decoder().video())
                        .map_err(decode_err(path))?;
                    let mut region = Box::new(Region {
                        decoder,
                        shown: HashSet::new(),
                        encoder: None,
                        encoded: Vec::new(),
                    });
                    self.hidden += 1;
                    decode(ictx, self.video, &mut region, Some(&packet), path)?;
                    self.state = State::Region(region);
                }
                State::Region(_) if packet.is_key() && !discarded(&packet) => {
                    let State::Region(region) = std::mem::replace(&mut self.state, State::Done)
                    else {
                        unreachable!("matched above")
                    };
                    self.end_region(ictx, *region, Some(packet), path)?;
                }
                State::Region(region) => {
                    self.hidden += 1;
                    decode(ictx, self.video, region, Some(&packet), path)?;
                }
            }
        }
    }

    /// Encodes the region's last shown frames and queues what was
    /// encoded, then `next` (the first shown keyframe, None at the end of
    /// the input).
    fn end_region(
        &mut self,
        ictx: &ff::format::context::Input,
        mut region: Region,
        next: Option<ff::Packet>,
        path: &Path,
    ) -> Result<()> {
        decode(ictx, self.video, &mut region, None, path)?;
        if let Some(enc) = &mut region.encoder {
            enc.send_eof().map_err(encode_err(path))?;
            drain(enc, &mut region.encoded);
        }
        // The copied keyframe decodes `shift` ticks before it is shown (the
        // reorder delay of B-frames); the re-encoded frames, without
        // B-frames, decode that much before they are shown too, so decode
        // times keep increasing into the copied part.
        let shift = next
            .as_ref()
            .and_then(|k| Some(k.pts()? - k.dts()?))
            .unwrap_or(0)
            .max(0);
        let st = ictx.stream(self.video).expect("selected stream exists");
        // SAFETY: the stream's parameters live as long as the stream; only read.
        let length_size = unsafe {
            let extradata = super::codecs::extradata(&*st.parameters().as_ptr());
            extradata.get(4).map_or(4, |b| usize::from(b & 3) + 1)
        };
        for p in &region.encoded {
            self.reencoded += 1;
            let mut p = to_length_prefixed(p, length_size, shift);
            p.set_stream(self.video);
            self.queue.push_back(p);
        }
        // The copied keyframe needs the stream's parameter sets in front
        // again: the segmenter asks the muxer for them (`resumes`).
        if !region.encoded.is_empty() {
            self.resume = next.as_ref().and_then(|k| k.pts());
        }
        self.queue.extend(next);
        Ok(())
    }
}

fn decode_err(path: &Path) -> impl Fn(ff::Error) -> Error + '_ {
    move |e| Error::Ffmpeg {
        path: path.into(),
        op: "decode the video before the edit list's start",
        err: e.to_string(),
    }
}

fn encode_err(path: &Path) -> impl Fn(ff::Error) -> Error + '_ {
    move |e| Error::Ffmpeg {
        path: path.into(),
        op: "re-encode the video at the edit list's start",
        err: e.to_string(),
    }
}

/// Sends `packet` (None: the end) to the region's decoder, and the shown
/// frames that come out to its encoder.
fn decode(
    ictx: &ff::format::context::Input,
    video: usize,
    region: &mut Region,
    packet: Option<&ff::Packet>,
    path: &Path,
) -> Result<()> {
    match packet {
        Some(p) => {
            if !discarded(p) {
                if let Some(pts) = p.pts() {
                    region.shown.insert(pts);
                }
            }
            region.decoder.send_packet(p).map_err(decode_err(path))?;
        }
        None => region.decoder.send_eof().map_err(decode_err(path))?,
    }
    let mut f = ff::frame::Video::empty();
    while region.decoder.receive_frame(&mut f).is_ok() {
        let Some(ts) = f.timestamp().or(f.pts()) else {
            continue;
        };
        if !region.shown.contains(&ts) {
            continue;
        }
        f.set_pts(Some(ts));
        f.set_kind(ff::picture::Type::None);
        if region.encoder.is_none() {
            let st = ictx.stream(video).expect("selected stream exists");
            region.encoder = Some(open_encoder(&st, &f, path)?);
        }
        let enc = region.encoder.as_mut().expect("opened above");
        enc.send_frame(&f).map_err(encode_err(path))?;
        drain(enc, &mut region.encoded);
    }
    Ok(())
}

fn drain(enc: &mut ff::encoder::Video, out: &mut Vec<ff::Packet>) {
    let mut pkt = ff::Packet::empty();
    while enc.receive_packet(&mut pkt).is_ok() {
        out.push(std::mem::replace(&mut pkt, ff::Packet::empty()));
    }
}

/// x264's name for FFmpeg's H.264 profile number.
fn x264_profile(profile: i32) -> &'static str {
    match profile & 0xff {
        66 => "baseline",
        77 | 88 => "main",
        110 => "high10",
        122 => "high422",
        244 => "high444",
        _ => "high",
    }
}

/// libx264 for frames like `first` in `st`'s time base: one IDR picture,
/// then P pictures (no B-frames, no scene-cut keyframes), Annex B with the
/// parameter sets in band, the source's profile and level.
fn open_encoder(
    st: &ff::format::stream::Stream,
    first: &ff::frame::Video,
    path: &Path,
) -> Result<ff::encoder::Video> {
    let x264 = ff::encoder::find_by_name("libx264").ok_or_else(|| {
        Error::arg(
            "this FFmpeg has no libx264 encoder, which packaging an MP4 edit list that starts between keyframes needs",
            "install an FFmpeg built with --enable-libx264 (Debian's libavcodec59 is), or cut the input at a keyframe",
        )
    })?;
    // SAFETY: the stream's parameters live as long as the stream; only read.
    let (profile, level) = unsafe {
        let raw = &*st.parameters().as_ptr();
        (raw.profile, raw.level)
    };
    let mut e = codec::context::Context::new_with_codec(x264)
        .encoder()
        .video()
        .map_err(encode_err(path))?;
    e.set_width(first.width());
    e.set_height(first.height());
    e.set_format(first.format());
    e.set_aspect_ratio(first.aspect_ratio());
    e.set_colorspace(first.color_space());
    e.set_color_range(first.color_range());
    e.set_time_base(st.time_base());
    let rate = st.avg_frame_rate();
    if rate.numerator() > 0 && rate.denominator() > 0 {
        e.set_frame_rate(Some(rate));
    }
    e.set_gop(u32::MAX / 2);
    e.set_max_b_frames(0);
    let mut opts = ff::Dictionary::new();
    opts.set("profile", x264_profile(profile));
    if level > 0 {
        opts.set("level", &format!("{}.{}", level / 10, level % 10));
    }
    // Close to the source: these frames play next to copied ones.
    opts.set("crf", "16");
    opts.set("preset", "veryfast");
    opts.set("sc_threshold", "0");
    // x264 is deterministic for a given thread count; a fixed one keeps the
    // package byte-identical from machine to machine.
    opts.set("threads", "2");
    e.open_with(opts).map_err(encode_err(path))
}

/// `pkt` (Annex B) with each NAL unit behind a big-endian length of
/// `length_size` bytes, as the avcC stream's own packets are, and its DTS
/// `shift` ticks before its PTS.
fn to_length_prefixed(pkt: &ff::Packet, length_size: usize, shift: i64) -> ff::Packet {
    let data = pkt.data().unwrap_or_default();
    let mut bytes = Vec::with_capacity(data.len() + 16);
    for unit in annexb_units(data).filter(|u| !u.is_empty()) {
        let len = (unit.len() as u64).to_be_bytes();
        bytes.extend_from_slice(&len[8 - length_size..]);
        bytes.extend_from_slice(unit);
    }
    let mut out = ff::Packet::copy(&bytes);
    out.set_pts(pkt.pts());
    out.set_dts(pkt.pts().map(|p| p - shift));
    out.set_duration(pkt.duration());
    out.set_flags(pkt.flags());
    out
}
