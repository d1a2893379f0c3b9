//! A/B variants for session forensics (`package --ab-watermark`): the input is
//! decoded once, every frame is marked twice (variant a and variant b, each
//! segment with its own payload) and encoded twice by libx264 with identical
//! GOP structure: an IDR forced at every multiple of the segment duration, no
//! scene-cut keyframes and a fixed B-frame pattern, so the packager cuts both
//! encodes at the same frames and any segment of one can stand in for the
//! other. Audio is copied into both.
//!
//! Only the entry points of the mark are used here (`Patterns`, `Marker`), so
//! its internals can change without touching this file.

use std::path::Path;

use ff::format::Pixel;
use ff::{codec, encoder, format, frame, media, Dictionary, Packet, Rational};
use ffmpeg_next as ff;

use crate::embed::Marker;
use crate::pattern::{Patterns, Payload};
use crate::WmKey;
use shieldpack_core::error::{Error, Result};
use shieldpack_core::progress::Progress;
use shieldpack_media::ff_err;

/// Encoder settings of the two variants.
#[derive(Debug, Clone)]
pub struct AbSettings {
    pub crf: f32,
    pub preset: String,
    /// The segment grid: an IDR at every multiple of this many seconds from
    /// the first frame.
    pub segment_duration: f64,
}

/// What the transcode saw.
#[derive(Debug, Clone, Default)]
pub struct AbReport {
    pub width: usize,
    pub height: usize,
    pub frames: u64,
    /// Segments of the grid that hold frames.
    pub segments: u64,
    pub psnr_luma_db: f64,
}

struct Out {
    octx: format::context::Output,
    enc: encoder::Video,
    vout: usize,
    map: Vec<Option<usize>>,
    tb: Vec<Rational>,
}

/// Decodes `input` once and writes variant a to `out_a` and b to `out_b`;
/// `payload(is_b, segment)` names the payload each variant's segment carries.
pub fn transcode_ab(
    input: &Path,
    outs: [&Path; 2],
    key: &WmKey,
    settings: &AbSettings,
    payload: &dyn Fn(bool, u64) -> u64,
    progress: &dyn Progress,
) -> Result<AbReport> {
    let mut ictx = shieldpack_media::open_input(input)?;
    let ist = ictx
        .streams()
        .best(media::Type::Video)
        .ok_or_else(|| Error::NoVideo {
            path: input.to_path_buf(),
        })?;
    let vindex = ist.index();
    let in_tb = ist.time_base();
    let mut fps = ist.avg_frame_rate();
    if fps.numerator() <= 0 || fps.denominator() <= 0 {
        fps = ist.rate();
    }
    if fps.numerator() <= 0 || fps.denominator() <= 0 {
        fps = Rational(25, 1);
    }
    let est = (ist.frames().max(0) as u64).max(1);
    let mut dctx = codec::context::Context::from_parameters(ist.parameters())
        .map_err(ff_err(input, "read the video stream's parameters"))?;
    dctx.set_threading(codec::threading::Config {
        kind: codec::threading::Type::Frame,
        count: 0,
        ..Default::default()
    });
    let mut dec = dctx
        .decoder()
        .video()
        .map_err(ff_err(input, "open the video decoder"))?;
    let (w, h) = (dec.width(), dec.height());
    if w < 16 || h < 16 {
        return Err(Error::NotMedia {
            path: input.to_path_buf(),
            reason: format!("video of {w}x{h} pixels"),
        });
    }
    progress.set_length(est);
    let x264 = encoder::find_by_name("libx264").ok_or_else(|| {
        Error::arg(
            "this FFmpeg has no libx264 encoder",
            "install an FFmpeg built with --enable-libx264 (Debian's libavcodec59 is)",
        )
    })?;
    let open_out = |path: &Path| -> Result<Out> {
        let out_err = ff_err(path, "write a variant");
        let mut octx = format::output(&path).map_err(&out_err)?;
        let global_header = octx.format().flags().contains(format::Flags::GLOBAL_HEADER);
        let mut map: Vec<Option<usize>> = vec![None; ictx.nb_streams() as usize];
        let mut ost = octx.add_stream(x264).map_err(&out_err)?;
        let mut e = codec::context::Context::new_with_codec(x264)
            .encoder()
            .video()
            .map_err(ff_err(path, "set up the H.264 encoder"))?;
        e.set_width(w);
        e.set_height(h);
        e.set_aspect_ratio(dec.aspect_ratio());
        e.set_format(Pixel::YUV420P);
        e.set_frame_rate(Some(fps));
        e.set_time_base(in_tb);
        if global_header {
            e.set_flags(codec::Flags::GLOBAL_HEADER);
        }
        let mut opts = Dictionary::new();
        opts.set("crf", &format!("{}", settings.crf));
        opts.set("preset", &settings.preset);
        // the same GOP structure in both variants: keyframes only where forced,
        // a fixed B-frame pattern, closed GOPs
        opts.set(
            "x264-params",
            "scenecut=0:keyint=infinite:b-adapt=0:bframes=2:open-gop=0",
        );
        opts.set("forced-idr", "1");
        opts.set("threads", "auto");
        let enc = e
            .open_with(opts)
            .map_err(ff_err(path, "open the H.264 encoder"))?;
        ost.set_parameters(&enc);
        ost.set_time_base(in_tb);
        map[vindex] = Some(0);
        let mut next = 1;
        for s in ictx.streams() {
            if s.parameters().medium() != media::Type::Audio {
                continue;
            }
            let mut o = octx
                .add_stream(encoder::find(codec::Id::None))
                .map_err(&out_err)?;
            o.set_parameters(s.parameters());
            // SAFETY: the stream's codec parameters are allocated by FFmpeg
            // with the stream, which `o` borrows mutably here.
            unsafe {
                (*o.parameters().as_mut_ptr()).codec_tag = 0;
            }
            map[s.index()] = Some(next);
            next += 1;
        }
        octx.write_header().map_err(&out_err)?;
        let tb = octx.streams().map(|s| s.time_base()).collect();
        Ok(Out {
            octx,
            enc,
            vout: 0,
            map,
            tb,
        })
    };
    let mut out = [open_out(outs[0])?, open_out(outs[1])?];
    let in_tbs: Vec<Rational> = ictx.streams().map(|s| s.time_base()).collect();
    let patterns = Patterns::new(key);
    let mut markers: [Option<(u64, Marker)>; 2] = [None, None];
    let mut sse = 0f64;
    let mut samples = 0u64;
    let mut first_pts: Option<i64> = None;
    let mut last_seg: Option<u64> = None;
    let mut report = AbReport {
        width: w as usize,
        height: h as usize,
        ..Default::default()
    };
    let mut scaler: Option<ff::software::scaling::Context> = None;
    let mut decoded = frame::Video::empty();
    let mut packet_out = Packet::empty();

    // One frame in the input's time base: the frames handed to the encoder
    // carry no duration, and an MP4 variant (cmaf) whose last sample lasts 0
    // would be a frame short, and its frame rate off.
    let frame_ticks = ((in_tb.denominator() as f64 * fps.denominator() as f64)
        / (in_tb.numerator().max(1) as f64 * fps.numerator() as f64))
        .round()
        .max(1.0) as i64;
    let drain = |o: &mut Out, pkt: &mut Packet, path: &Path| -> Result<()> {
        while o.enc.receive_packet(pkt).is_ok() {
            if pkt.duration() <= 0 {
                pkt.set_duration(frame_ticks);
            }
            pkt.set_stream(o.vout);
            pkt.rescale_ts(in_tb, o.tb[o.vout]);
            pkt.write_interleaved(&mut o.octx)
                .map_err(ff_err(path, "write a video packet"))?;
        }
        Ok(())
    };

    let mut process = |decoded: &frame::Video,
                       out: &mut [Out; 2],
                       markers: &mut [Option<(u64, Marker)>; 2],
                       report: &mut AbReport|
     -> Result<()> {
        shieldpack_core::interrupt::check()?;
        if decoded.width() != w || decoded.height() != h {
            return Err(Error::invalid_file(
                input,
                "the video changes size midway",
                "split the input where its size changes and package each part",
            ));
        }
        let pts = decoded.timestamp().or(decoded.pts()).unwrap_or(0);
        let first = *first_pts.get_or_insert(pts);
        let t = (pts - first) as f64 * f64::from(in_tb);
        let seg = (t / settings.segment_duration + 1e-6).floor().max(0.0) as u64;
        let new_seg = last_seg != Some(seg);
        last_seg = Some(seg);
        if new_seg {
            report.segments += 1;
        }
        for (v, o) in out.iter_mut().enumerate() {
            let mut own = frame::Video::new(Pixel::YUV420P, w, h);
            if matches!(decoded.format(), Pixel::YUV420P | Pixel::YUVJ420P) {
                for plane in 0..3 {
                    let (rows, bytes) = if plane == 0 {
                        (h as usize, w as usize)
                    } else {
                        (h.div_ceil(2) as usize, w.div_ceil(2) as usize)
                    };
                    let (ss, ds) = (decoded.stride(plane), own.stride(plane));
                    let sd = decoded.data(plane);
                    let dd = own.data_mut(plane);
                    for r in 0..rows {
                        dd[r * ds..r * ds + bytes].copy_from_slice(&sd[r * ss..r * ss + bytes]);
                    }
                }
            } else {
                if scaler.is_none() {
                    scaler = Some(
                        ff::software::scaling::Context::get(
                            decoded.format(),
                            w,
                            h,
                            Pixel::YUV420P,
                            w,
                            h,
                            ff::software::scaling::Flags::BILINEAR,
                        )
                        .map_err(ff_err(input, "convert the pixel format"))?,
                    );
                }
                scaler
                    .as_mut()
                    .expect("set above")
                    .run(decoded, &mut own)
                    .map_err(ff_err(input, "convert the pixel format"))?;
            }
            let stale = markers[v].as_ref().is_none_or(|(s, _)| *s != seg);
            if stale {
                if let Some((_, m)) = markers[v].take() {
                    sse += m.sse;
                    samples += m.samples;
                }
                let tile = patterns.tile(Payload(payload(v == 1, seg)));
                markers[v] = Some((seg, Marker::new(&tile, w as usize, h as usize)));
            }
            let stride = own.stride(0);
            markers[v]
                .as_mut()
                .expect("set above")
                .1
                .mark(own.data_mut(0), stride);
            own.set_pts(Some(pts));
            own.set_kind(if new_seg {
                ff::picture::Type::I
            } else {
                ff::picture::Type::None
            });
            o.enc
                .send_frame(&own)
                .map_err(ff_err(outs[v], "encode a frame"))?;
            drain(o, &mut packet_out, outs[v])?;
        }
        report.frames += 1;
        progress.set_position(report.frames);
        Ok(())
    };

    for (stream, packet) in ictx.packets() {
        let i = stream.index();
        if i == vindex {
            if dec.send_packet(&packet).is_err() {
                continue;
            }
            while dec.receive_frame(&mut decoded).is_ok() {
                process(&decoded, &mut out, &mut markers, &mut report)?;
            }
        } else {
            for (v, o) in out.iter_mut().enumerate() {
                let Some(oi) = o.map[i] else { continue };
                let mut p = packet.clone();
                p.rescale_ts(in_tbs[i], o.tb[oi]);
                p.set_position(-1);
                p.set_stream(oi);
                p.write_interleaved(&mut o.octx)
                    .map_err(ff_err(outs[v], "write an audio packet"))?;
            }
        }
    }
    let _ = dec.send_eof();
    while dec.receive_frame(&mut decoded).is_ok() {
        process(&decoded, &mut out, &mut markers, &mut report)?;
    }
    for (v, o) in out.iter_mut().enumerate() {
        o.enc
            .send_eof()
            .map_err(ff_err(outs[v], "finish encoding"))?;
        drain(o, &mut packet_out, outs[v])?;
        o.octx
            .write_trailer()
            .map_err(ff_err(outs[v], "finish the variant"))?;
    }
    for (_, m) in markers.into_iter().flatten() {
        sse += m.sse;
        samples += m.samples;
    }
    if report.frames == 0 {
        return Err(Error::invalid_file(
            input,
            "no video frame could be decoded",
            "check the file with ffprobe",
        ));
    }
    report.psnr_luma_db = if sse == 0.0 {
        f64::INFINITY
    } else {
        10.0 * (255.0f64 * 255.0 * samples as f64 / sse).log10()
    };
    Ok(report)
}
