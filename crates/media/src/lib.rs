//! FFmpeg demux and mux, through ffmpeg-next (and its raw `ffi` where the safe
//! wrapper has no in-memory I/O): probing inputs, HLS CODECS strings, cutting
//! MPEG-TS segments in memory, reading TS segments back for `verify`, and
//! finding shots for `policy detect`. The one crate that links FFmpeg for
//! packaging; `shieldpack-watermark` decodes and encodes through it too.

mod annexb;
pub mod audio;
pub mod codecs;
pub mod decode;
pub mod detect;
mod editlist;
mod fmp4;
pub mod format;
mod gop;
pub mod ladder;
mod mux;
pub mod segment;
mod timestamps;

pub use timestamps::check as check_timestamps;
pub mod picture;
pub mod subtitles;
pub mod tsread;

use std::path::{Path, PathBuf};

use ff::media::Type;
use ffmpeg_next as ff;

use shieldpack_core::error::{Error, Result};

/// Maps an FFmpeg error met while doing `op` on `path` to the library's error.
pub fn ff_err<'a>(path: &'a Path, op: &'static str) -> impl Fn(ff::Error) -> Error + 'a {
    move |err| Error::Ffmpeg {
        path: path.to_path_buf(),
        op,
        err: err.to_string(),
    }
}

/// Initialises FFmpeg once and keeps its logging quiet (errors are ours to report).
pub fn init() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let _ = ff::init();
        ff::util::log::set_level(ff::util::log::Level::Fatal);
    });
}

/// One stream of an input, as `inspect` shows it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct StreamInfo {
    pub index: usize,
    pub kind: &'static str,
    pub codec: String,
    /// The RFC 6381 string for HLS CODECS, when shieldpack can package the codec.
    pub codecs: Option<String>,
    pub width: Option<u32>,
    pub height: Option<u32>,
    pub frame_rate: Option<f64>,
    pub sample_rate: Option<u32>,
    pub channels: Option<u32>,
    pub frames: Option<u64>,
    /// The stream's `language` tag (ISO 639-2, e.g. `eng`), if it has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub language: Option<String>,
    /// The stream's `title` tag (what players show as a track's name).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// FFmpeg's profile and level numbers (H.264: 100 High, 110 High 10;
    /// level 42 is 4.2), for Apple's authoring rules.
    #[serde(skip)]
    pub profile: Option<i32>,
    #[serde(skip)]
    pub level: Option<i32>,
    /// Video coded as fields (FFmpeg's field order is not progressive).
    #[serde(skip)]
    pub interlaced: bool,
    /// Degrees clockwise the video is meant to be turned for display (its
    /// display matrix, as phones write it), when not 0.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rotation: Option<u32>,
}

/// What FFmpeg sees in an input file.
#[derive(Debug, Clone, serde::Serialize)]
pub struct MediaInfo {
    pub path: PathBuf,
    pub format: String,
    pub duration: Option<f64>,
    pub bit_rate: Option<u64>,
    pub streams: Vec<StreamInfo>,
}

/// The streams `package` will carry: one video, at most one audio.
#[derive(Debug, Clone)]
pub struct Selection {
    pub video: StreamInfo,
    pub audio: Option<StreamInfo>,
}

impl MediaInfo {
    /// The HLS CODECS attribute of the selection, e.g. `avc1.64001f,mp4a.40.2`.
    pub fn codecs_attr(sel: &Selection) -> String {
        let mut c = vec![sel.video.codecs.clone().unwrap_or_default()];
        if let Some(a) = &sel.audio {
            c.push(a.codecs.clone().unwrap_or_default());
        }
        c.join(",")
    }

    /// Picks the video and audio streams to package, or says why it cannot.
    pub fn select(&self) -> Result<Selection> {
        let video = self
            .streams
            .iter()
            .find(|s| s.kind == "video")
            .ok_or_else(|| Error::NoVideo {
                path: self.path.clone(),
            })?;
        if let Some(degrees) = video.rotation {
            return Err(Error::Rotated {
                path: self.path.clone(),
                degrees,
            });
        }
        if video.codecs.is_none() {
            return Err(Error::UnsupportedCodec {
                path: self.path.clone(),
                kind: "video",
                codec: video.codec.clone(),
            });
        }
        let audio = self.streams.iter().find(|s| s.kind == "audio");
        if let Some(a) = audio {
            if a.codecs.is_none() {
                return Err(Error::UnsupportedCodec {
                    path: self.path.clone(),
                    kind: "audio",
                    codec: a.codec.clone(),
                });
            }
        }
        Ok(Selection {
            video: video.clone(),
            audio: audio.cloned(),
        })
    }
}

/// The next packet of `ictx`, or `None` at its end.
pub(crate) fn next_packet(
    ictx: &mut ff::format::context::Input,
) -> std::result::Result<Option<ff::Packet>, ff::Error> {
    // A fresh packet each time: ffmpeg-next's `read` does not unref the
    // previous payload, so reusing one packet leaks every buffer read.
    let mut packet = ff::Packet::empty();
    match packet.read(ictx) {
        Ok(()) => Ok(Some(packet)),
        Err(ff::Error::Eof) => Ok(None),
        Err(e) => Err(e),
    }
}

/// How much work opening an input does to learn its streams.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Probe {
    /// `avformat_find_stream_info`: reads ahead and decodes the first frames of
    /// every stream. Needed before decoding; for H.264 it decodes 7 to 20
    /// frames just to guess the reorder delay.
    Full,
    /// Trust the container's header when it already says everything a remux
    /// needs (an MP4/MOV index: codec, size, frame rate, decoder config), and
    /// fall back to `Full` otherwise. On a 1080p title this skips about 0.08 s of
    /// H.264 decoding whose results `package` never uses.
    Headers,
}

/// Opens an input, mapping FFmpeg's failures to errors that name the file.
pub fn open_input(path: &Path) -> Result<ff::format::context::Input> {
    open_input_with(path, Probe::Full)
}

/// [`open_input`] with a choice of how deeply to probe.
pub(crate) fn open_input_with(path: &Path, probe: Probe) -> Result<ff::format::context::Input> {
    init();
    match std::fs::metadata(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(Error::InputMissing { path: path.into() })
        }
        Err(e) => return Err(Error::io(path, e)),
        Ok(m) if m.is_dir() => {
            return Err(Error::NotMedia {
                path: path.into(),
                reason: "it is a folder".into(),
            });
        }
        Ok(m) if m.len() == 0 => {
            return Err(Error::NotMedia {
                path: path.into(),
                reason: "the file is empty".into(),
            })
        }
        Ok(_) => {}
    }
    // Reading a few bytes first turns permission problems into I/O errors.
    let mut head = [0u8; 12];
    {
        use std::io::Read;
        let mut f = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
        let _ = f.read(&mut head).map_err(|e| Error::io(path, e))?;
    }
    open_ffmpeg(path, probe).map_err(|e| {
        // An ISO-BMFF file FFmpeg cannot open is almost always cut short: its
        // moov box (the index) is written last.
        if &head[4..8] == b"ftyp" {
            Error::Truncated {
                path: path.into(),
                reason: format!("FFmpeg: {e}"),
            }
        } else {
            Error::NotMedia {
                path: path.into(),
                reason: e.to_string(),
            }
        }
    })
}

/// `ff::format::input`, with `avformat_find_stream_info` only where needed.
fn open_ffmpeg(
    path: &Path,
    probe: Probe,
) -> std::result::Result<ff::format::context::Input, ff::Error> {
    use std::os::unix::ffi::OsStrExt;
    let cpath =
        std::ffi::CString::new(path.as_os_str().as_bytes()).map_err(|_| ff::Error::InvalidData)?;
    let mut ps = std::ptr::null_mut();
    // SAFETY: `ps` starts null, so FFmpeg allocates the context; on failure it
    // frees it and leaves `ps` null. On success the context is ours until it is
    // either closed here or handed to `Input::wrap`, which closes it on drop.
    unsafe {
        let r = ff::ffi::avformat_open_input(
            &mut ps,
            cpath.as_ptr(),
            std::ptr::null_mut(),
            std::ptr::null_mut(),
        );
        if r < 0 {
            return Err(ff::Error::from(r));
        }
        if probe == Probe::Full || !header_suffices(&*ps) {
            let r = ff::ffi::avformat_find_stream_info(ps, std::ptr::null_mut());
            if r < 0 {
                ff::ffi::avformat_close_input(&mut ps);
                return Err(ff::Error::from(r));
            }
        } else if (*ps).duration <= 0 {
            // find_stream_info would have taken it from the longest stream.
            (*ps).duration = longest_stream(&*ps);
        }
        Ok(ff::format::context::Input::wrap(ps))
    }
}

/// Whether an MP4/MOV header already gives every stream what a remux and the
/// HLS attributes need, so nothing has to be decoded to learn it.
fn header_suffices(ctx: &ff::ffi::AVFormatContext) -> bool {
    use ff::ffi::{AVCodecID, AVMediaType};
    // SAFETY: an open context's iformat and streams are valid for its lifetime.
    let name = unsafe { std::ffi::CStr::from_ptr((*ctx.iformat).name) };
    if !name.to_bytes().starts_with(b"mov,") || ctx.nb_streams == 0 {
        return false;
    }
    streams(ctx).iter().all(|&st| {
        // SAFETY: as above; every stream has codec parameters.
        let (st, par) = unsafe { (&*st, &*(*st).codecpar) };
        let config = !par.extradata.is_null() && par.extradata_size > 0;
        match par.codec_type {
            AVMediaType::AVMEDIA_TYPE_VIDEO => {
                par.width > 0
                    && par.height > 0
                    && st.avg_frame_rate.num > 0
                    && st.avg_frame_rate.den > 0
                    && match par.codec_id {
                        AVCodecID::AV_CODEC_ID_H264 | AVCodecID::AV_CODEC_ID_HEVC => config,
                        _ => false,
                    }
            }
            AVMediaType::AVMEDIA_TYPE_AUDIO => {
                par.sample_rate > 0
                    && par.ch_layout.nb_channels > 0
                    && match par.codec_id {
                        AVCodecID::AV_CODEC_ID_AAC => config,
                        AVCodecID::AV_CODEC_ID_MP3 | AVCodecID::AV_CODEC_ID_AC3 => true,
                        _ => false,
                    }
            }
            _ => false,
        }
    })
}

/// An open context's stream pointers, each valid for the context's lifetime.
fn streams(ctx: &ff::ffi::AVFormatContext) -> &[*mut ff::ffi::AVStream] {
    if ctx.nb_streams == 0 {
        return &[];
    }
    // SAFETY: `streams` holds `nb_streams` valid stream pointers.
    unsafe { std::slice::from_raw_parts(ctx.streams, ctx.nb_streams as usize) }
}

/// The longest stream's duration in AV_TIME_BASE units, or AV_NOPTS_VALUE.
fn longest_stream(ctx: &ff::ffi::AVFormatContext) -> i64 {
    streams(ctx)
        .iter()
        .filter_map(|&st| {
            // SAFETY: each pointer in `streams` is a valid stream.
            let st = unsafe { &*st };
            (st.duration > 0 && st.time_base.den > 0).then(|| {
                (st.duration as i128 * st.time_base.num as i128 * ff::ffi::AV_TIME_BASE as i128
                    / st.time_base.den as i128) as i64
            })
        })
        .max()
        .unwrap_or(ff::ffi::AV_NOPTS_VALUE)
}

fn rational(r: ff::Rational) -> Option<f64> {
    (r.numerator() > 0 && r.denominator() > 0)
        .then(|| r.numerator() as f64 / r.denominator() as f64)
}

/// Describes an input's container and streams.
/// What the container's header says, without decoding (`Probe::Headers`):
/// enough to count and name streams.
pub fn probe_headers(path: &Path) -> Result<MediaInfo> {
    let ictx = open_input_with(path, Probe::Headers)?;
    Ok(describe(path, &ictx))
}

pub fn probe(path: &Path) -> Result<MediaInfo> {
    let ictx = open_input(path)?;
    Ok(describe(path, &ictx))
}

pub(crate) fn describe(path: &Path, ictx: &ff::format::context::Input) -> MediaInfo {
    let streams = ictx
        .streams()
        .map(|st| {
            let par = st.parameters();
            // SAFETY: the parameters belong to a stream of the open context.
            let raw = unsafe { &*par.as_ptr() };
            let kind = match par.medium() {
                Type::Video => "video",
                Type::Audio => "audio",
                Type::Subtitle => "subtitle",
                Type::Data => "data",
                _ => "other",
            };
            let video = kind == "video";
            let audio = kind == "audio";
            StreamInfo {
                index: st.index(),
                kind,
                codec: par.id().name().to_string(),
                codecs: codecs::rfc6381(raw),
                width: video.then_some(raw.width as u32),
                height: video.then_some(raw.height as u32),
                frame_rate: if video {
                    rational(st.avg_frame_rate()).or_else(|| rational(st.rate()))
                } else {
                    None
                },
                sample_rate: audio.then_some(raw.sample_rate as u32),
                channels: audio.then_some(raw.ch_layout.nb_channels as u32),
                frames: (st.frames() > 0).then_some(st.frames() as u64),
                language: st
                    .metadata()
                    .get("language")
                    .filter(|l| !l.is_empty() && *l != "und")
                    .map(str::to_owned),
                title: st
                    .metadata()
                    .get("title")
                    .filter(|t| !t.trim().is_empty())
                    .map(str::to_owned),
                profile: (raw.profile >= 0).then_some(raw.profile),
                level: (raw.level > 0).then_some(raw.level),
                // AV_FIELD_TT and the three after it: coded as fields.
                // FFmpeg's field order is known after decoding; from an MP4's
                // header alone, the SPS says whether pictures may be fields.
                interlaced: video
                    && (raw.field_order as i32 >= 2
                        || (raw.codec_id == ff::ffi::AVCodecID::AV_CODEC_ID_H264
                            && gop::h264_frame_mbs_only(codecs::extradata(raw)) == Some(false))),
                rotation: if video { rotation(&st) } else { None },
            }
        })
        .collect();
    let d = ictx.duration();
    MediaInfo {
        path: path.to_path_buf(),
        format: ictx.format().name().to_string(),
        duration: (d > 0).then(|| d as f64 / f64::from(ff::ffi::AV_TIME_BASE)),
        bit_rate: (ictx.bit_rate() > 0).then_some(ictx.bit_rate() as u64),
        streams,
    }
}

/// The clockwise turn, in whole degrees from 1 to 359, that a stream's
/// display matrix asks for, as the ffmpeg CLI's autorotate reads it.
fn rotation(st: &ff::format::stream::Stream) -> Option<u32> {
    use ff::codec::packet::side_data::Type as Side;
    let sd = st.side_data().find(|sd| sd.kind() == Side::DisplayMatrix)?;
    display_rotation(sd.data())
}

/// `av_display_rotation_get` on the 3x3 matrix of 16.16 fixed-point values,
/// turned clockwise and rounded as ffmpeg's `get_rotation` does; `None` for
/// no turn or a matrix that is not one.
fn display_rotation(bytes: &[u8]) -> Option<u32> {
    let m: Vec<f64> = bytes
        .chunks_exact(4)
        .take(9)
        .map(|c| f64::from(i32::from_ne_bytes([c[0], c[1], c[2], c[3]])) / 65536.0)
        .collect();
    if m.len() < 9 {
        return None;
    }
    let (s0, s1) = (m[0].hypot(m[3]), m[1].hypot(m[4]));
    if s0 == 0.0 || s1 == 0.0 {
        return None;
    }
    let ccw = -(m[1] / s1).atan2(m[0] / s0).to_degrees();
    let cw = (-ccw).round();
    let cw = cw - 360.0 * (cw / 360.0 + 0.9 / 360.0).floor();
    let cw = cw as u32 % 360;
    (cw != 0).then_some(cw)
}

#[cfg(test)]
mod rotation_tests {
    use super::display_rotation;

    /// `av_display_rotation_set`'s matrix for `ccw` degrees counterclockwise.
    fn matrix(ccw: f64) -> Vec<u8> {
        let r = ccw.to_radians();
        let (c, s) = (r.cos(), r.sin());
        let fp = |x: f64| ((x * 65536.0).round() as i32).to_ne_bytes();
        [c, -s, 0.0, s, c, 0.0]
            .into_iter()
            .flat_map(fp)
            .chain([0, 0, 1 << 30].into_iter().flat_map(i32::to_ne_bytes))
            .collect()
    }

    #[test]
    fn display_matrices_read_as_clockwise_degrees() {
        assert_eq!(display_rotation(&matrix(0.0)), None);
        // `-metadata:s:v rotate=90` (clockwise) stores -90 counterclockwise.
        assert_eq!(display_rotation(&matrix(-90.0)), Some(90));
        assert_eq!(display_rotation(&matrix(90.0)), Some(270));
        assert_eq!(display_rotation(&matrix(180.0)), Some(180));
        assert_eq!(display_rotation(&[0; 8]), None);
        assert_eq!(display_rotation(&[0; 36]), None);
    }
}
