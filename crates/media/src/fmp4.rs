//! Fragmented MP4 (CMAF) segments from demuxed packets, written with
//! `shieldpack-mp4`'s typed boxes: an init segment (`ftyp` + `moov`, empty
//! sample tables, `mvex`) and per segment `styp` + one `moof` + `mdat`, with
//! one track fragment per track that has samples in the segment.
//!
//! Video and audio are muxed into one file (two `traf`s in one `moof`),
//! which HLS (RFC 8216 3.3, fMP4 media segments) and FFmpeg read as is.
//! H.264/HEVC samples stay as read from MP4/MKV: length-prefixed NAL units
//! with the parameter sets in `avcC`/`hvcC`. Annex B input (MPEG-TS) and
//! audio other than AAC are refused with a hint to remux.
//!
//! A segment's `moof` needs every sample's size before its `mdat`, so a
//! segment is held in memory until it is cut (a few MiB at usual rates).

use std::sync::mpsc;

use ff::ffi::AVCodecID;
use ffmpeg_next as ff;
use shieldpack_mp4 as mp4;

use super::format::{MuxError, SegmentMuxer};

struct Sample {
    dts: i64,
    pts: i64,
    duration: i64,
    key: bool,
    size: u32,
}

struct Track {
    id: u32,
    in_tb: ff::Rational,
    timescale: u32,
    /// Ticks of `timescale` added to every time stamp (`start_at_zero`).
    offset: i64,
    /// A sample's duration when its packet gives none and no later sample
    /// tells (the last one of the title).
    fallback: i64,
    audio: bool,
    samples: Vec<Sample>,
    /// The samples' bytes, for every track but the first, whose samples go
    /// straight into the segment's buffer (`Fmp4Muxer::buf`).
    data: Vec<u8>,
}

impl Track {
    fn ticks(&self, ts: i64) -> i64 {
        let (num, den) = (
            i128::from(self.in_tb.numerator()),
            i128::from(self.in_tb.denominator()),
        );
        (i128::from(ts) * num * i128::from(self.timescale) / den.max(1)) as i64
    }
}

pub struct Fmp4Muxer {
    tracks: Vec<Track>,
    init: Vec<u8>,
    sequence: u32,
    /// Segment buffers the writer is done with, to be filled again
    /// (`SegmentMuxer::recycle`): no new allocation, and no page faults on
    /// fresh memory, per segment.
    spares: Option<mpsc::Receiver<Vec<u8>>>,
    /// The segment being muxed: `HEAD_ROOM` bytes kept for its `styp`,
    /// `moof` and `mdat` header, then the first track's samples. The
    /// header's size is known only at the cut; it is written right in front
    /// of the samples, which stay where they are (`segment`).
    buf: Vec<u8>,
}

/// Room kept in front of a segment's first samples for its header: a
/// `moof` of about 16 bytes per sample, so some 4000 samples (a larger one
/// moves the samples further on).
const HEAD_ROOM: usize = 64 * 1024;

fn unsupported(what: &'static str) -> MuxError {
    (what, ff::Error::PatchWelcome)
}

impl Fmp4Muxer {
    /// A muxer for the given streams: video first, then at most one audio.
    pub fn new(streams: &[(&ff::codec::Parameters, ff::Rational)]) -> Result<Self, MuxError> {
        let mut tracks = Vec::new();
        let mut traks = Vec::new();
        let mut trex = Vec::new();
        for (i, (par, tb)) in streams.iter().enumerate() {
            // SAFETY: the parameters are alive for this call and only read.
            let raw = unsafe { &*par.as_ptr() };
            let id = i as u32 + 1;
            let ed = super::codecs::extradata(raw).to_vec();
            let (trak, track) = match raw.codec_id {
                AVCodecID::AV_CODEC_ID_H264 | AVCodecID::AV_CODEC_ID_HEVC => {
                    let hevc = raw.codec_id == AVCodecID::AV_CODEC_ID_HEVC;
                    if ed.first() != Some(&1) {
                        return Err(unsupported(
                            "write CMAF from Annex B video (MPEG-TS input): remux to MP4 first, e.g. ffmpeg -i in.ts -c copy in.mp4",
                        ));
                    }
                    let timescale = if tb.numerator() == 1 && tb.denominator() >= 1000 {
                        tb.denominator() as u32
                    } else {
                        90_000
                    };
                    let (w, h) = (raw.width.max(0) as u32, raw.height.max(0) as u32);
                    let entry = mp4::SampleEntry::Visual {
                        format: if hevc { *b"hvc1" } else { *b"avc1" },
                        width: w as u16,
                        height: h as u16,
                        config: vec![mp4::RawBox {
                            box_type: if hevc { *b"hvcC" } else { *b"avcC" },
                            body: ed,
                        }],
                        sinf: None,
                    };
                    // Only the title's last sample, and only when its packet
                    // has no duration, lasts this: a frame at 25 fps.
                    let fallback = i64::from(timescale) / 25;
                    (
                        trak(id, timescale, false, w, h, entry),
                        track(id, *tb, timescale, fallback, false),
                    )
                }
                AVCodecID::AV_CODEC_ID_AAC => {
                    if ed.is_empty() {
                        return Err(unsupported(
                            "write CMAF from AAC without an AudioSpecificConfig (ADTS, from MPEG-TS input): remux to MP4 first",
                        ));
                    }
                    let rate = raw.sample_rate.max(1) as u32;
                    let entry = mp4::SampleEntry::Audio {
                        format: *b"mp4a",
                        channels: raw.ch_layout.nb_channels.max(1) as u16,
                        sample_size: 16,
                        sample_rate: rate,
                        esds: Some(mp4::Esds {
                            object_type: 0x40,
                            max_bitrate: raw.bit_rate.max(0) as u32,
                            avg_bitrate: raw.bit_rate.max(0) as u32,
                            decoder_specific: ed,
                        }),
                        config: vec![],
                        sinf: None,
                    };
                    let frame = if raw.frame_size > 0 { raw.frame_size } else { 1024 };
                    (
                        trak(id, rate, true, 0, 0, entry),
                        track(id, *tb, rate, i64::from(frame), true),
                    )
                }
                _ => {
                    return Err(unsupported(
                        "write CMAF with this codec (H.264/HEVC video and AAC audio only): re-encode the audio to AAC, e.g. ffmpeg -i in -c:v copy -c:a aac out.mp4",
                    ))
                }
            };
            trex.push(mp4::Trex {
                track_id: id,
                default_sample_duration: 0,
                default_sample_size: 0,
                default_sample_flags: 0,
            });
            traks.push(trak);
            tracks.push(track);
        }
        let init = mp4::InitSegment {
            ftyp: mp4::Ftyp(mp4::Brands {
                major: *b"iso6",
                minor: 0,
                compatible: vec![*b"iso6", *b"dash", *b"mp41"],
            }),
            moov: mp4::Moov {
                mvhd: mp4::Mvhd {
                    timescale: 1000,
                    duration: 0,
                    next_track_id: tracks.len() as u32 + 1,
                },
                traks,
                mvex: mp4::Mvex { trex },
                pssh: Vec::new(),
            },
        };
        Ok(Fmp4Muxer {
            tracks,
            init: init.to_bytes(),
            sequence: 1,
            spares: None,
            buf: Vec::new(),
        })
    }

    /// `segment`, moved to the start of its buffer, for a caller that
    /// takes the bytes as they are (`cut`, `finish`: audio passes and a
    /// title's last segment).
    fn segment_bytes(&mut self) -> Vec<u8> {
        let (mut out, start) = self.segment();
        out.drain(..start);
        out
    }

    /// Builds the segment from what the tracks hold, and empties them
    /// (keeping their buffers for the next): its `styp`, `moof` and `mdat`
    /// header, right in front of the first track's samples, then the other
    /// tracks' samples. The segment is the buffer from the offset returned.
    fn segment(&mut self) -> (Vec<u8>, usize) {
        let mut trafs = Vec::new();
        for t in &mut self.tracks {
            if t.samples.is_empty() {
                continue;
            }
            let base = t.samples[0].dts.max(0);
            let samples = t
                .samples
                .iter()
                .map(|s| mp4::TrunSample {
                    duration: s.duration.clamp(0, i64::from(u32::MAX)) as u32,
                    size: s.size,
                    flags: if t.audio || s.key {
                        mp4::SYNC_SAMPLE
                    } else {
                        mp4::NON_SYNC_SAMPLE
                    },
                    composition_offset: (s.pts - s.dts)
                        .clamp(i64::from(i32::MIN), i64::from(i32::MAX))
                        as i32,
                })
                .collect();
            trafs.push(mp4::Traf {
                tfhd: mp4::Tfhd::new(t.id),
                tfdt: mp4::Tfdt {
                    base_media_decode_time: base as u64,
                },
                trun: mp4::Trun {
                    data_offset: 0,
                    samples,
                },
                sbgp: None,
                sgpd: None,
                saiz: None,
                saio: None,
                senc: None,
            });
            t.samples.clear();
        }
        let mut moof = mp4::Moof {
            mfhd: mp4::Mfhd {
                sequence: self.sequence,
            },
            trafs,
        };
        self.sequence += 1;
        moof.fix_offsets();
        let styp = mp4::Styp(mp4::Brands {
            major: *b"msdh",
            minor: 0,
            compatible: vec![*b"msdh", *b"msix"],
        });
        // As `mp4::MediaSegment::to_bytes` writes it, without first
        // gathering the samples into an `Mdat` of their own.
        let mut head = Vec::with_capacity(4096);
        mp4::Mp4Box::write(&styp, &mut head);
        mp4::Mp4Box::write(&moof, &mut head);
        let mut out = std::mem::take(&mut self.buf);
        if out.len() < HEAD_ROOM {
            out.resize(HEAD_ROOM, 0);
        }
        let first = out.len() - HEAD_ROOM;
        let rest: usize = self.tracks.iter().skip(1).map(|t| t.data.len()).sum();
        let data_len = first + rest;
        // The header ends where the samples begin: it goes in front of
        // them, and the fragment starts there. Only a header larger than
        // the room kept moves the samples behind it.
        let at = head.len() + 8;
        let start = match HEAD_ROOM.checked_sub(at) {
            Some(start) => start,
            None => {
                out.resize(at + first, 0);
                out.copy_within(HEAD_ROOM..HEAD_ROOM + first, at);
                out.truncate(at + first);
                0
            }
        };
        out[start..start + head.len()].copy_from_slice(&head);
        let mdat_size = u32::try_from(8 + data_len).expect("a segment under 4 GiB");
        out[start + head.len()..start + at]
            .copy_from_slice(&[&mdat_size.to_be_bytes()[..], b"mdat"].concat());
        out.reserve_exact(rest);
        for t in self.tracks.iter_mut().skip(1) {
            out.extend_from_slice(&t.data);
            t.data.clear();
        }
        (out, start)
    }
}

/// The buffer the next segment is muxed into: one the writer is done with
/// (from `spares`), else a new one; `HEAD_ROOM` bytes long.
fn next_buf(spares: Option<&mpsc::Receiver<Vec<u8>>>) -> Vec<u8> {
    let mut buf = spares.and_then(|r| r.try_recv().ok()).unwrap_or_default();
    buf.clear();
    buf.resize(HEAD_ROOM, 0);
    buf
}

fn trak(
    id: u32,
    timescale: u32,
    audio: bool,
    width: u32,
    height: u32,
    entry: mp4::SampleEntry,
) -> mp4::Trak {
    mp4::Trak {
        tkhd: mp4::Tkhd {
            track_id: id,
            duration: 0,
            audio,
            width,
            height,
        },
        mdia: mp4::Mdia {
            mdhd: mp4::Mdhd {
                timescale,
                duration: 0,
                language: *b"und",
            },
            hdlr: mp4::Hdlr {
                handler: if audio { *b"soun" } else { *b"vide" },
                name: if audio {
                    "SoundHandler"
                } else {
                    "VideoHandler"
                }
                .into(),
            },
            minf: mp4::Minf {
                audio,
                stbl: mp4::Stbl {
                    stsd: mp4::Stsd {
                        entries: vec![entry],
                    },
                },
            },
        },
    }
}

fn track(id: u32, in_tb: ff::Rational, timescale: u32, fallback: i64, audio: bool) -> Track {
    Track {
        id,
        in_tb,
        timescale,
        offset: 0,
        fallback,
        audio,
        samples: Vec::new(),
        data: Vec::new(),
    }
}

impl SegmentMuxer for Fmp4Muxer {
    fn start_at_zero(&mut self, firsts: &[(i64, usize)]) {
        let lowest = firsts
            .iter()
            .filter_map(|&(ts, i)| {
                let t = self.tracks.get(i)?;
                Some(ts as f64 * f64::from(t.in_tb))
            })
            .fold(0.0f64, f64::min);
        for t in &mut self.tracks {
            t.offset = (-lowest * f64::from(t.timescale)).round() as i64;
        }
    }

    fn write(&mut self, pkt: ff::Packet, out_index: usize) -> Result<(), MuxError> {
        let Some(t) = self.tracks.get_mut(out_index) else {
            return Err(("write a packet", ff::Error::StreamNotFound));
        };
        let Some(dts) = pkt.dts().or(pkt.pts()) else {
            return Err(("write a packet without time stamps", ff::Error::InvalidData));
        };
        let pts = pkt.pts().unwrap_or(dts);
        let (dts, pts) = (t.ticks(dts) + t.offset, t.ticks(pts) + t.offset);
        let duration = match pkt.duration() {
            d if d > 0 => t.ticks(d),
            _ => t.fallback,
        };
        // The sample before ends where this one starts (packet durations are
        // rounded in some containers; decode times are not).
        if let Some(prev) = t.samples.last_mut() {
            if dts > prev.dts {
                prev.duration = dts - prev.dts;
            }
        }
        let data = pkt.data().unwrap_or_default();
        if out_index == 0 {
            if self.buf.is_empty() {
                self.buf = next_buf(self.spares.as_ref());
            }
            self.buf.extend_from_slice(data);
        } else {
            t.data.extend_from_slice(data);
        }
        t.samples.push(Sample {
            dts,
            pts,
            duration,
            key: pkt.is_key(),
            size: data.len() as u32,
        });
        Ok(())
    }

    fn repeat_parameter_sets(&mut self) {
        // The parameter sets are in the init segment's avcC/hvcC.
    }

    fn pending(&self) -> usize {
        0
    }

    fn recycle(&mut self, spares: mpsc::Receiver<Vec<u8>>) {
        self.spares = Some(spares);
    }

    fn take(&mut self) -> Vec<u8> {
        Vec::new()
    }

    fn cut(&mut self) -> Result<Vec<u8>, MuxError> {
        Ok(self.segment_bytes())
    }

    fn cut_from(&mut self) -> Result<(Vec<u8>, usize), MuxError> {
        Ok(self.segment())
    }

    fn finish(mut self: Box<Self>) -> Result<Vec<u8>, MuxError> {
        Ok(self.segment_bytes())
    }

    fn init_segment(&self) -> Option<Vec<u8>> {
        Some(self.init.clone())
    }
}
