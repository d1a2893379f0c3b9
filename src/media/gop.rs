//! Whether a segment decodes on its own, as `EXT-X-INDEPENDENT-SEGMENTS`
//! promises (RFC 8216 section 4.3.5.1).
//!
//! Segments are cut at keyframes, and not every keyframe starts a closed
//! group of pictures. In an open GOP the keyframe is an H.264 I picture with a
//! recovery point but no IDR, or an HEVC CRA or BLA_W_LP picture, and the
//! pictures after it in decoding order may include leading pictures: shown
//! before the keyframe and predicted from the GOP before it, which is in the
//! previous segment. A player that starts or seeks there cannot decode them.
//! A segment needs the one before it when it starts at such a keyframe and
//! carries such a picture: in H.264 any picture shown before the keyframe (a
//! picture after an IDR is never shown before it); in HEVC a RASL picture (a
//! RADL picture refers only to the keyframe and other RADL pictures).

use ffmpeg_next::ffi::{AVCodecID, AVCodecParameters};

use super::annexb::{AUD, IDR, SLICE, SPS};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Codec {
    H264,
    Hevc,
}

/// Reads the picture types of one video stream's packets.
#[derive(Debug, Clone)]
pub struct Pictures {
    codec: Codec,
    /// Bytes in each NAL unit's length prefix; `None` for Annex B packets.
    length_size: Option<usize>,
}

impl Pictures {
    /// For an H.264 or HEVC stream; `None` for other codecs, whose segments
    /// are taken to decode on their own, as before.
    pub fn new(par: &AVCodecParameters) -> Option<Self> {
        let codec = match par.codec_id {
            AVCodecID::AV_CODEC_ID_H264 => Codec::H264,
            AVCodecID::AV_CODEC_ID_HEVC => Codec::Hevc,
            _ => return None,
        };
        Some(Self::with(codec, super::codecs::extradata(par)))
    }

    fn with(codec: Codec, extradata: &[u8]) -> Self {
        // avcC and hvcC both start with configuration version 1 and keep
        // lengthSizeMinusOne in the low two bits of a fixed byte; Annex B
        // extradata (from MPEG-TS input) starts with a start code.
        let at = match codec {
            Codec::H264 => 4,
            Codec::Hevc => 21,
        };
        let length_size = match extradata {
            [1, ..] if extradata.len() > at => Some(usize::from(extradata[at] & 3) + 1),
            _ => None,
        };
        Pictures { codec, length_size }
    }

    /// The NAL unit types of the video coding layer units in `packet`.
    fn slice_types<'a>(&self, packet: &'a [u8]) -> impl Iterator<Item = u8> + 'a {
        let codec = self.codec;
        units(packet, self.length_size).filter_map(move |u| {
            let first = *u.first()?;
            let (t, vcl) = match codec {
                Codec::H264 => (first & 0x1f, (SLICE..=IDR).contains(&(first & 0x1f))),
                Codec::Hevc => ((first >> 1) & 0x3f, (first >> 1) & 0x3f < 32),
            };
            vcl.then_some(t)
        })
    }

    /// Whether nothing after this keyframe in decoding order refers to a
    /// picture before it: an H.264 IDR, an HEVC IDR or a BLA without RASL
    /// pictures.
    pub fn is_closed_start(&self, packet: &[u8]) -> bool {
        let closed = |t: u8| match self.codec {
            Codec::H264 => t == IDR,
            Codec::Hevc => (17..=20).contains(&t),
        };
        self.slice_types(packet).any(closed)
    }

    /// Whether this picture, which comes after an open-GOP keyframe in
    /// decoding order but is shown before it, is predicted from the GOP
    /// before the keyframe.
    pub fn needs_previous_gop(&self, packet: &[u8]) -> bool {
        match self.codec {
            Codec::H264 => true,
            Codec::Hevc => self.slice_types(packet).any(|t| t == 8 || t == 9),
        }
    }
}

/// Whether Annex B `data` holds an H.264 SPS (as a stream's extradata from
/// MPEG-TS input does).
pub fn annexb_has_sps(data: &[u8]) -> bool {
    let starts_annexb = data.starts_with(&[0, 0, 1]) || data.starts_with(&[0, 0, 0, 1]);
    starts_annexb && annexb_units(data).any(|u| h264_type(u) == Some(SPS))
}

/// The H.264 NAL unit type of a unit, `None` for an empty one.
fn h264_type(unit: &[u8]) -> Option<u8> {
    unit.first().map(|b| b & 0x1f)
}

/// An H.264 Annex B packet with `params` (SPS and PPS, Annex B) put in front
/// of its first unit, or after its access unit delimiter when it starts with
/// one, into `out`. False, and `out` untouched, when the packet carries an
/// SPS of its own.
pub fn with_parameter_sets(packet: &[u8], params: &[u8], out: &mut Vec<u8>) -> bool {
    let mut units = annexb_units(packet).peekable();
    let first_is_aud = units.peek().is_some_and(|u| h264_type(u) == Some(AUD));
    if units.any(|u| h264_type(u) == Some(SPS)) {
        return false;
    }
    // After the delimiter: where the second start code begins.
    let at = match find_start_code(packet, 0) {
        Some(aud) if first_is_aud => unit_end(packet, aud),
        _ => 0,
    };
    out.clear();
    out.extend_from_slice(&packet[..at]);
    out.extend_from_slice(params);
    out.extend_from_slice(&packet[at..]);
    true
}

/// The NAL units of Annex B `data`, split at its start codes.
pub(super) fn annexb_units(data: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut at = 0;
    std::iter::from_fn(move || {
        let start = find_start_code(data, at)?;
        at = start;
        Some(&data[start..unit_end(data, start)])
    })
}

/// Where the Annex B unit that begins at `start` ends: at the next start
/// code, whose leading zero (a 4-byte start code's) belongs to it, or at the
/// end of `data`.
fn unit_end(data: &[u8], start: usize) -> usize {
    find_start_code(data, start).map_or(data.len(), |next| {
        let mut e = next - 3;
        while e > start && data[e - 1] == 0 {
            e -= 1;
        }
        e
    })
}

/// The NAL units of a packet: length-prefixed, or split at Annex B start codes.
/// A length that overruns the packet ends the walk (the muxer reports it).
fn units(data: &[u8], length_size: Option<usize>) -> Box<dyn Iterator<Item = &[u8]> + '_> {
    match length_size {
        Some(n) => {
            let mut rest = data;
            Box::new(std::iter::from_fn(move || {
                if rest.len() < n {
                    return None;
                }
                let len = rest[..n]
                    .iter()
                    .fold(0usize, |a, b| a << 8 | usize::from(*b));
                let unit = rest.get(n..n + len)?;
                rest = &rest[n + len..];
                Some(unit)
            }))
        }
        None => Box::new(annexb_units(data)),
    }
}

/// Where the unit after the next `00 00 01` at or after `from` begins.
fn find_start_code(data: &[u8], from: usize) -> Option<usize> {
    data.get(from..)?
        .windows(3)
        .position(|w| w == [0, 0, 1])
        .map(|i| from + i + 3)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Length-prefixed units (4-byte lengths).
    fn avcc(units: &[&[u8]]) -> Vec<u8> {
        units
            .iter()
            .flat_map(|u| {
                (u.len() as u32)
                    .to_be_bytes()
                    .into_iter()
                    .chain(u.iter().copied())
            })
            .collect()
    }

    fn annexb(units: &[&[u8]]) -> Vec<u8> {
        units
            .iter()
            .flat_map(|u| [0, 0, 0, 1].into_iter().chain(u.iter().copied()))
            .collect()
    }

    const AVCC_HEADER: [u8; 7] = [1, 0x64, 0, 0x1f, 0xff, 0xe1, 0];

    #[test]
    fn h264_idr_is_closed_and_a_recovery_point_i_picture_is_not() {
        let p = Pictures::with(Codec::H264, &AVCC_HEADER);
        assert_eq!(p.length_size, Some(4));
        // SEI, then an IDR slice; SEI then a non-IDR slice.
        assert!(p.is_closed_start(&avcc(&[&[0x06, 5, 1, 0], &[0x65, 0x88]])));
        assert!(!p.is_closed_start(&avcc(&[&[0x06, 6, 1, 0], &[0x41, 0x9a]])));
        assert!(p.needs_previous_gop(&avcc(&[&[0x01, 0x9e]])));
        // A length that overruns the packet: no units, so not closed.
        assert!(!p.is_closed_start(&[0, 0, 0, 9, 0x65]));
    }

    #[test]
    fn annexb_units_are_split_at_three_and_four_byte_start_codes() {
        let p = Pictures::with(Codec::H264, &[0, 0, 0, 1, 0x67]);
        assert_eq!(p.length_size, None);
        let mut packet = annexb(&[&[0x09, 0xf0], &[0x06, 5]]);
        packet.extend_from_slice(&[0, 0, 1, 0x65, 0x88, 0x00]);
        let got: Vec<&[u8]> = units(&packet, None).collect();
        assert_eq!(got, [&[0x09, 0xf0][..], &[0x06, 5], &[0x65, 0x88, 0x00]]);
        assert!(p.is_closed_start(&packet));
        assert!(!p.is_closed_start(&annexb(&[&[0x09, 0xf0], &[0x41, 0x9a]])));
    }

    #[test]
    fn annexb_packets_get_the_parameter_sets_after_their_delimiter() {
        let params = annexb(&[&[0x67, 0x64], &[0x68, 0xee]]);
        assert!(annexb_has_sps(&params));
        assert!(!annexb_has_sps(&annexb(&[&[0x68, 0xee]])));
        let mut out = Vec::new();
        let with_aud = annexb(&[&[0x09, 0xf0], &[0x41, 0x9a]]);
        assert!(with_parameter_sets(&with_aud, &params, &mut out));
        assert_eq!(
            out,
            annexb(&[&[0x09, 0xf0], &[0x67, 0x64], &[0x68, 0xee], &[0x41, 0x9a]])
        );
        let bare = annexb(&[&[0x06, 5], &[0x41, 0x9a]]);
        assert!(with_parameter_sets(&bare, &params, &mut out));
        assert_eq!(
            out,
            annexb(&[&[0x67, 0x64], &[0x68, 0xee], &[0x06, 5], &[0x41, 0x9a]])
        );
        let own = annexb(&[&[0x09, 0xf0], &[0x67, 0x64], &[0x68, 0xee], &[0x41, 0x9a]]);
        out.clear();
        assert!(!with_parameter_sets(&own, &params, &mut out));
        assert!(out.is_empty());
    }

    #[test]
    fn hevc_cra_is_open_and_only_rasl_pictures_need_the_previous_gop() {
        let mut hvcc = vec![1u8; 23];
        hvcc[21] = 0xf3; // lengthSizeMinusOne = 3
        let p = Pictures::with(Codec::Hevc, &hvcc);
        assert_eq!(p.length_size, Some(4));
        let nal = |t: u8| [t << 1, 1];
        // VPS, SPS, PPS in front of an IDR_W_RADL; a CRA; a BLA_W_LP.
        assert!(p.is_closed_start(&avcc(&[&nal(32), &nal(33), &nal(34), &nal(19)])));
        assert!(!p.is_closed_start(&avcc(&[&nal(21)])));
        assert!(!p.is_closed_start(&avcc(&[&nal(16)])));
        assert!(p.needs_previous_gop(&avcc(&[&nal(8)])));
        assert!(p.needs_previous_gop(&avcc(&[&nal(9)])));
        assert!(!p.needs_previous_gop(&avcc(&[&nal(7)]))); // RADL_R
        assert!(!p.needs_previous_gop(&avcc(&[&nal(1)]))); // a trailing picture
    }
}
