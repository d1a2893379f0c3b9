//! FFmpeg glue for the watermark: decode a file's luma (extract), and decode,
//! mark the luma, re-encode with libx264 and copy the audio through (embed).
//!
//! Frames handed to the marker are always our own copies in yuv420p (other
//! formats go through swscale), never the decoder's reference buffers.

use std::path::Path;

use ff::format::Pixel;
use ff::{codec, encoder, format, frame, media, Dictionary, Packet, Rational};
use ffmpeg_next as ff;

use shieldpack_core::error::{Error, Result};
use shieldpack_core::progress::Progress;
use shieldpack_media::decode::open_video;
use shieldpack_media::ff_err;

/// Clips longer than this (in seconds read) are decoded in the fast mode.
const FAST_DECODE_SECONDS: f64 = 12.0;

/// What the decoder saw.
#[derive(Debug, Clone, Default)]
pub struct VideoInfo {
    pub width: usize,
    pub height: usize,
    pub fps: f64,
    /// Frames decoded and handed on.
    pub frames: u64,
}

/// Turns decoded frames into owned yuv420p frames.
struct ToYuv420 {
    scaler: Option<ff::software::scaling::Context>,
}

impl ToYuv420 {
    fn new() -> Self {
        ToYuv420 { scaler: None }
    }

    fn convert(&mut self, src: &frame::Video, path: &Path) -> Result<frame::Video> {
        let (w, h) = (src.width(), src.height());
        let mut out = frame::Video::new(Pixel::YUV420P, w, h);
        if matches!(src.format(), Pixel::YUV420P | Pixel::YUVJ420P) {
            for plane in 0..3 {
                let rows = if plane == 0 {
                    h as usize
                } else {
                    h.div_ceil(2) as usize
                };
                let bytes = if plane == 0 {
                    w as usize
                } else {
                    w.div_ceil(2) as usize
                };
                let (ss, ds) = (src.stride(plane), out.stride(plane));
                let sd = src.data(plane);
                let dd = out.data_mut(plane);
                for r in 0..rows {
                    dd[r * ds..r * ds + bytes].copy_from_slice(&sd[r * ss..r * ss + bytes]);
                }
            }
        } else {
            let stale = self.scaler.as_ref().is_none_or(|s| {
                s.input().format != src.format() || s.input().width != w || s.input().height != h
            });
            if stale {
                self.scaler = Some(
                    ff::software::scaling::Context::get(
                        src.format(),
                        w,
                        h,
                        Pixel::YUV420P,
                        w,
                        h,
                        ff::software::scaling::Flags::BILINEAR,
                    )
                    .map_err(ff_err(path, "convert the pixel format"))?,
                );
            }
            self.scaler
                .as_mut()
                .expect("set above")
                .run(src, &mut out)
                .map_err(ff_err(path, "convert the pixel format"))?;
        }
        out.set_pts(src.timestamp());
        Ok(out)
    }
}

/// Decodes up to `max_seconds` of `path`'s video and calls `f` with each
/// frame's luma (data, width, height, stride, frame rate); `f` returns false
/// to stop early.
pub fn decode_luma(
    path: &Path,
    max_seconds: f64,
    progress: &dyn Progress,
    f: impl FnMut(&[u8], usize, usize, usize, f64) -> Result<bool>,
) -> Result<VideoInfo> {
    decode_luma_with(path, max_seconds, true, progress, f)
}

/// `decode_luma` of every frame, exactly decoded (never the fast mode), for
/// measuring what was written against its source frame by frame.
pub fn decode_luma_exact(
    path: &Path,
    progress: &dyn Progress,
    f: impl FnMut(&[u8], usize, usize, usize, f64) -> Result<bool>,
) -> Result<VideoInfo> {
    decode_luma_with(path, f64::INFINITY, false, progress, f)
}

/// The packets of `path`'s video stream, read without decoding them (the
/// frames a decode will deliver, unless some are damaged: a frame a packet),
/// and the frame rate `decode_luma` will report.
pub fn count_video_packets(path: &Path) -> Result<(u64, f64)> {
    let mut ictx = shieldpack_media::open_input(path)?;
    let vin = open_video(&ictx, path)?;
    let mut n = 0u64;
    for (stream, _) in ictx.packets() {
        if stream.index() == vin.index {
            n += 1;
        }
    }
    Ok((n, f64::from(vin.fps)))
}

fn decode_luma_with(
    path: &Path,
    max_seconds: f64,
    fast: bool,
    progress: &dyn Progress,
    mut f: impl FnMut(&[u8], usize, usize, usize, f64) -> Result<bool>,
) -> Result<VideoInfo> {
    let mut ictx = shieldpack_media::open_input(path)?;
    let mut vin = open_video(&ictx, path)?;
    let max_frames = (max_seconds * f64::from(vin.fps)).ceil().max(1.0) as u64;
    // A long clip has frames to spare: skip the non-reference ones and the
    // deblocking filter, which roughly halves decoding time. A short clip
    // needs every frame's worth of signal.
    if fast && vin.frames_estimate.min(max_frames) as f64 > FAST_DECODE_SECONDS * f64::from(vin.fps)
    {
        vin.decoder
            .skip_frame(ff::codec::discard::Discard::NonReference);
        vin.decoder
            .skip_loop_filter(ff::codec::discard::Discard::All);
    }
    // `max_seconds` is of the clip, not of frames handed on: skipping frames
    // hands on about half of them, and counting those read twice the seconds
    // asked for. So a frame at or past `max_seconds` after the first (half a
    // frame's slack for rounding) stops decoding; the count stays a bound
    // too, the only one for frames without a timestamp. Progress goes in
    // frame slots of the clip's time for the same reason.
    let tb = f64::from(vin.time_base);
    let fps = f64::from(vin.fps);
    let mut first_ts: Option<i64> = None;
    let mut slot = |decoded: &frame::Video, handed: u64| -> (u64, bool) {
        match decoded.timestamp() {
            Some(ts) if tb > 0.0 => {
                let t = (ts - *first_ts.get_or_insert(ts)) as f64 * tb;
                (
                    (t * fps).round().max(0.0) as u64 + 1,
                    // the first frame always, however few the seconds
                    handed == 0 || t < max_seconds - 0.5 / fps,
                )
            }
            _ => (handed + 1, true),
        }
    };
    progress.set_length(vin.frames_estimate.min(max_frames).max(1));
    let mut info = VideoInfo {
        width: vin.decoder.width() as usize,
        height: vin.decoder.height() as usize,
        fps: f64::from(vin.fps),
        frames: 0,
    };
    let mut conv = ToYuv420::new();
    let mut decoded = frame::Video::empty();
    let mut handle = |decoded: &frame::Video, info: &mut VideoInfo| -> Result<bool> {
        shieldpack_core::interrupt::check()?;
        let (at, within) = slot(decoded, info.frames);
        if !within {
            return Ok(false);
        }
        let (w, h) = (decoded.width() as usize, decoded.height() as usize);
        let gray8 = matches!(
            decoded.format(),
            Pixel::YUV420P
                | Pixel::YUVJ420P
                | Pixel::YUV422P
                | Pixel::YUVJ422P
                | Pixel::YUV444P
                | Pixel::YUVJ444P
                | Pixel::NV12
                | Pixel::GRAY8
        );
        let more = if gray8 {
            f(decoded.data(0), w, h, decoded.stride(0), info.fps)?
        } else {
            let c = conv.convert(decoded, path)?;
            f(c.data(0), w, h, c.stride(0), info.fps)?
        };
        info.width = w;
        info.height = h;
        info.frames += 1;
        progress.set_position(at);
        Ok(more && info.frames < max_frames)
    };
    let mut done = false;
    for (stream, packet) in ictx.packets() {
        if stream.index() != vin.index {
            continue;
        }
        if vin.decoder.send_packet(&packet).is_err() {
            continue; // a damaged packet: skip it, as players do
        }
        while vin.decoder.receive_frame(&mut decoded).is_ok() {
            if !handle(&decoded, &mut info)? {
                done = true;
                break;
            }
        }
        if done {
            break;
        }
    }
    if !done {
        let _ = vin.decoder.send_eof();
        while vin.decoder.receive_frame(&mut decoded).is_ok() {
            if !handle(&decoded, &mut info)? {
                break;
            }
        }
    }
    Ok(info)
}

/// Encoder settings for embed.
#[derive(Debug, Clone)]
pub struct EncodeSettings {
    pub crf: f32,
    pub preset: String,
}

/// Decodes `input`, lets `mark` change each frame's luma (data, width, height,
/// stride), encodes the video with libx264 into `output` and copies the audio
/// streams. Returns what was decoded.
pub fn transcode_luma(
    input: &Path,
    output: &Path,
    settings: &EncodeSettings,
    progress: &dyn Progress,
    mut mark: impl FnMut(&mut [u8], usize, usize, usize) -> Result<()>,
) -> Result<VideoInfo> {
    let mut ictx = shieldpack_media::open_input(input)?;
    let mut vin = open_video(&ictx, input)?;
    progress.set_length(vin.frames_estimate.max(1));
    let out_err = ff_err(output, "write the output");
    let mut octx = format::output(&output).map_err(|e| {
        Error::invalid_file(
            output,
            format!("FFmpeg cannot write this kind of file ({e})"),
            "name the output with a container extension FFmpeg knows: .mp4, .mkv, .mov or .ts",
        )
    })?;
    let global_header = octx.format().flags().contains(format::Flags::GLOBAL_HEADER);

    let x264 = encoder::find_by_name("libx264").ok_or_else(|| {
        Error::arg(
            "this FFmpeg has no libx264 encoder",
            "install an FFmpeg built with --enable-libx264 (Debian's libavcodec59 is)",
        )
    })?;
    // stream map: input index -> output index; the video first
    let mut map: Vec<Option<usize>> = vec![None; ictx.nb_streams() as usize];
    let mut next = 0usize;
    let (w, h) = (vin.decoder.width(), vin.decoder.height());
    let mut enc = {
        let mut ost = octx.add_stream(x264).map_err(&out_err)?;
        let mut e = codec::context::Context::new_with_codec(x264)
            .encoder()
            .video()
            .map_err(ff_err(output, "set up the H.264 encoder"))?;
        e.set_width(w);
        e.set_height(h);
        e.set_aspect_ratio(vin.decoder.aspect_ratio());
        e.set_format(Pixel::YUV420P);
        e.set_frame_rate(Some(vin.fps));
        e.set_time_base(vin.time_base);
        if global_header {
            e.set_flags(codec::Flags::GLOBAL_HEADER);
        }
        let mut opts = Dictionary::new();
        opts.set("crf", &format!("{}", settings.crf));
        opts.set("preset", &settings.preset);
        opts.set("threads", "auto");
        let opened = e.open_with(opts).map_err(|source| match source {
            ff::Error::Other { .. } | ff::Error::InvalidData | ff::Error::OptionNotFound => {
                Error::arg(
                    format!("libx264 refused the settings crf={} preset={}", settings.crf, settings.preset),
                    "use a preset such as ultrafast, veryfast, fast, medium or slow, and a CRF from 0 to 51",
                )
            }
            err => Error::Ffmpeg {
                path: output.to_path_buf(),
                op: "open the H.264 encoder",
                err: err.to_string(),
            },
        })?;
        ost.set_parameters(&opened);
        ost.set_time_base(vin.time_base);
        map[vin.index] = Some(next);
        next += 1;
        opened
    };
    for ist in ictx.streams() {
        if ist.parameters().medium() != media::Type::Audio {
            continue;
        }
        let mut ost = octx
            .add_stream(encoder::find(codec::Id::None))
            .map_err(&out_err)?;
        ost.set_parameters(ist.parameters());
        // the input's codec tag may mean nothing in the output container
        // SAFETY: the stream's codec parameters are allocated by FFmpeg with
        // the stream, which `ost` borrows mutably here.
        unsafe {
            (*ost.parameters().as_mut_ptr()).codec_tag = 0;
        }
        map[ist.index()] = Some(next);
        next += 1;
    }
    octx.set_metadata(ictx.metadata().to_owned());
    octx.write_header().map_err(|e| {
        Error::invalid_file(
            output,
            format!("FFmpeg cannot write the streams into this container ({e})"),
            "use .mkv, which carries any audio codec, or transcode the audio first",
        )
    })?;
    let ost_tb: Vec<Rational> = octx.streams().map(|s| s.time_base()).collect();
    let in_tb: Vec<Rational> = ictx.streams().map(|s| s.time_base()).collect();
    let vout = map[vin.index].expect("video mapped");

    let mut info = VideoInfo {
        width: w as usize,
        height: h as usize,
        fps: f64::from(vin.fps),
        frames: 0,
    };
    let mut conv = ToYuv420::new();
    let mut decoded = frame::Video::empty();
    let mut encoded = Packet::empty();

    let mut drain = |enc: &mut encoder::Video, octx: &mut format::context::Output| -> Result<()> {
        while enc.receive_packet(&mut encoded).is_ok() {
            encoded.set_stream(vout);
            encoded.rescale_ts(vin.time_base, ost_tb[vout]);
            encoded
                .write_interleaved(octx)
                .map_err(ff_err(output, "write a video packet"))?;
        }
        Ok(())
    };
    let mut process = |decoded: &frame::Video,
                       enc: &mut encoder::Video,
                       octx: &mut format::context::Output,
                       info: &mut VideoInfo|
     -> Result<()> {
        shieldpack_core::interrupt::check()?;
        if decoded.width() != w || decoded.height() != h {
            return Err(Error::invalid_file(
                input,
                "the video changes size midway",
                "split the input where its size changes and mark each part",
            ));
        }
        let mut own = conv.convert(decoded, input)?;
        let stride = own.stride(0);
        mark(own.data_mut(0), w as usize, h as usize, stride)?;
        own.set_kind(ff::picture::Type::None);
        enc.send_frame(&own)
            .map_err(ff_err(output, "encode a frame"))?;
        info.frames += 1;
        progress.set_position(info.frames);
        drain(enc, octx)
    };

    for (stream, mut packet) in ictx.packets() {
        let i = stream.index();
        let Some(o) = map[i] else { continue };
        if i == vin.index {
            if vin.decoder.send_packet(&packet).is_err() {
                continue;
            }
            while vin.decoder.receive_frame(&mut decoded).is_ok() {
                process(&decoded, &mut enc, &mut octx, &mut info)?;
            }
        } else {
            packet.rescale_ts(in_tb[i], ost_tb[o]);
            packet.set_position(-1);
            packet.set_stream(o);
            packet
                .write_interleaved(&mut octx)
                .map_err(ff_err(output, "write an audio packet"))?;
        }
    }
    let _ = vin.decoder.send_eof();
    while vin.decoder.receive_frame(&mut decoded).is_ok() {
        process(&decoded, &mut enc, &mut octx, &mut info)?;
    }
    enc.send_eof().map_err(ff_err(output, "finish encoding"))?;
    drain(&mut enc, &mut octx)?;
    octx.write_trailer()
        .map_err(ff_err(output, "finish the output file"))?;
    Ok(info)
}
