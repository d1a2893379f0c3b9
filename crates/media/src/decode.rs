//! Opening a file's video for decoding: the best video stream, a decoder
//! with frame threads, its frame rate and a frame count estimate. The ladder
//! transcode and the watermark (embed, extract, A/B) all start here.

use std::path::Path;

use ff::{codec, decoder, format, media, Rational};
use ffmpeg_next as ff;

use shieldpack_core::error::{Error, Result};

use crate::ff_err;

/// A video stream opened for decoding.
pub struct VideoIn {
    /// The stream's index in the input.
    pub index: usize,
    pub decoder: decoder::Video,
    pub time_base: Rational,
    /// The average frame rate, else the stream's rate, else 25.
    pub fps: Rational,
    /// Frames the stream says it has, else its duration times `fps`
    /// (0 when neither is known): for progress, never for decisions.
    pub frames_estimate: u64,
}

/// Opens the best video stream of `ictx` (read from `path`, named in errors).
/// Refuses a file without video, or with video under 16x16 pixels.
pub fn open_video(ictx: &format::context::Input, path: &Path) -> Result<VideoIn> {
    let ist = ictx
        .streams()
        .best(media::Type::Video)
        .ok_or_else(|| Error::NoVideo {
            path: path.to_path_buf(),
        })?;
    let mut ctx = codec::context::Context::from_parameters(ist.parameters())
        .map_err(ff_err(path, "read the video stream's parameters"))?;
    ctx.set_threading(codec::threading::Config {
        kind: codec::threading::Type::Frame,
        count: 0,
        ..Default::default()
    });
    let decoder = ctx
        .decoder()
        .video()
        .map_err(ff_err(path, "open the video decoder"))?;
    if decoder.width() < 16 || decoder.height() < 16 {
        return Err(Error::NotMedia {
            path: path.to_path_buf(),
            reason: format!("video of {}x{} pixels", decoder.width(), decoder.height()),
        });
    }
    let mut fps = ist.avg_frame_rate();
    if fps.numerator() <= 0 || fps.denominator() <= 0 {
        fps = ist.rate();
    }
    if fps.numerator() <= 0 || fps.denominator() <= 0 {
        fps = Rational(25, 1);
    }
    let mut frames_estimate = ist.frames().max(0) as u64;
    if frames_estimate == 0 {
        let secs = if ist.duration() > 0 {
            ist.duration() as f64 * f64::from(ist.time_base())
        } else if ictx.duration() > 0 {
            ictx.duration() as f64 / f64::from(ff::ffi::AV_TIME_BASE)
        } else {
            0.0
        };
        frames_estimate = (secs * f64::from(fps)).round().max(0.0) as u64;
    }
    Ok(VideoIn {
        index: ist.index(),
        decoder,
        time_base: ist.time_base(),
        fps,
        frames_estimate,
    })
}
