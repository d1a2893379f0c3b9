//! H.264 from MP4 (length-prefixed NAL units, parameter sets in the avcC
//! record) to the Annex B byte stream MPEG-TS carries, with the access unit
//! delimiter in front: in one copy, into a buffer that is reused.
//!
//! FFmpeg's MPEG-TS muxer does this itself, in two passes: its automatic
//! `h264_mp4toannexb` filter copies each packet into a new one, then the muxer
//! copies it again into a third to put the delimiter in front. Both are
//! allocations and copies of the whole video stream. Packets that arrive in
//! Annex B with a delimiter already in front skip both, so this module does the
//! same work once and hands the muxer such packets.
//!
//! The output is byte for byte what FFmpeg 5.1's filter and muxer make: the
//! same rules for when the avcC's SPS and PPS go in front of an IDR picture,
//! the same 4-byte start code for parameter sets and for the first unit of a
//! packet (3 bytes for the rest), empty units dropped, and the same delimiter
//! (`00 00 00 01 09 f0`), left out when one comes before the first slice.
//! A test in `mux` muxes the fixtures both ways and compares the bytes.

/// H.264 NAL unit types that matter here and in `gop` and `codecs` (ITU-T
/// H.264 table 7-1).
pub(super) const SLICE: u8 = 1;
pub(super) const IDR: u8 = 5;
pub(super) const SEI: u8 = 6;
pub(super) const SPS: u8 = 7;
pub(super) const PPS: u8 = 8;
pub(super) const AUD: u8 = 9;

/// What FFmpeg's muxer puts in front of an access unit without a delimiter:
/// a start code, then a delimiter allowing any slice type.
const DELIMITER: [u8; 6] = [0, 0, 0, 1, AUD, 0xf0];

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
pub(super) fn unit_end(data: &[u8], start: usize) -> usize {
    find_start_code(data, start).map_or(data.len(), |next| {
        let mut e = next - 3;
        while e > start && data[e - 1] == 0 {
            e -= 1;
        }
        e
    })
}

/// Where the unit after the next `00 00 01` at or after `from` begins.
pub(super) fn find_start_code(data: &[u8], from: usize) -> Option<usize> {
    data.get(from..)?
        .windows(3)
        .position(|w| w == [0, 0, 1])
        .map(|i| from + i + 3)
}

/// A video packet whose NAL unit lengths do not add up to its size.
#[derive(Debug, PartialEq, Eq)]
pub struct Malformed;

/// The converter's state, carried from packet to packet for the whole title.
#[derive(Debug)]
pub struct AnnexB {
    /// Bytes in each NAL unit's length prefix (1 to 4).
    length_size: usize,
    /// The avcC's SPS then PPS units, each behind a 4-byte start code.
    params: Vec<u8>,
    /// Where the PPS units start in `params`.
    pps_at: usize,
    /// An IDR picture may begin and still needs the parameter sets in front.
    new_idr: bool,
    idr_sps_seen: bool,
    idr_pps_seen: bool,
    /// The next packet begins a segment at a keyframe that is not an IDR
    /// picture (an open GOP's I picture, or an intra refresh's recovery
    /// point), where FFmpeg's rules put no parameter sets: without them
    /// nothing in that segment decodes for a player that starts there
    /// (`repeat_parameter_sets`).
    random_access: bool,
}

impl AnnexB {
    /// A converter for a stream with this avcC record, or `None` when the
    /// extradata is Annex B already, absent, or does not parse: FFmpeg's own
    /// filter then handles (or rejects) the stream as before.
    pub fn from_avcc(extradata: &[u8]) -> Option<Self> {
        let looks_annexb =
            extradata.starts_with(&[0, 0, 1]) || extradata.starts_with(&[0, 0, 0, 1]);
        if extradata.len() < 6 || looks_annexb {
            return None;
        }
        let length_size = usize::from(extradata[4] & 3) + 1;
        let mut at = 5;
        let mut params = Vec::new();
        let units = |at: &mut usize, count: usize, params: &mut Vec<u8>| -> Option<()> {
            for _ in 0..count {
                let size = usize::from(u16::from_be_bytes([
                    *extradata.get(*at)?,
                    *extradata.get(*at + 1)?,
                ]));
                let unit = extradata.get(*at + 2..*at + 2 + size)?;
                params.extend_from_slice(&[0, 0, 0, 1]);
                params.extend_from_slice(unit);
                *at += 2 + size;
            }
            Some(())
        };
        let sps_count = usize::from(extradata[at] & 0x1f);
        at += 1;
        units(&mut at, sps_count, &mut params)?;
        let sps_end = params.len();
        let pps_count = usize::from(*extradata.get(at)?);
        at += 1;
        units(&mut at, pps_count, &mut params)?;
        Some(AnnexB {
            length_size,
            pps_at: sps_end,
            params,
            new_idr: true,
            idr_sps_seen: false,
            idr_pps_seen: false,
            random_access: false,
        })
    }

    /// Puts the avcC's SPS and PPS in front of the next packet's first
    /// non-IDR slice, unless the packet carries its own: for a segment that
    /// begins at a recovery point (an open GOP's I picture, an intra
    /// refresh's P picture) rather than an IDR. (At an IDR picture the rules
    /// above already do.)
    pub fn repeat_parameter_sets(&mut self) {
        self.random_access = true;
    }

    /// Forgets the parameter sets seen in band, as at the start: the next
    /// IDR picture gets the avcC's in front. For the first copied keyframe
    /// after `editlist`'s re-encoded frames, which carried sets of their own
    /// (after in-band sets, FFmpeg's rules followed here never put the
    /// avcC's in front of an IDR again).
    pub fn forget_in_band_sets(&mut self) {
        self.new_idr = true;
        self.idr_sps_seen = false;
        self.idr_pps_seen = false;
    }

    /// Converts one packet into `out` (emptied first) and returns where the
    /// bytes for the muxer start in it: 0 with the delimiter in front, past it
    /// when the packet carries its own.
    pub fn convert(&mut self, packet: &[u8], out: &mut Vec<u8>) -> Result<usize, Malformed> {
        out.clear();
        out.extend_from_slice(&DELIMITER);
        let body = DELIMITER.len();
        // The first delimiter or slice decides whether the muxer adds one.
        let mut first: Option<u8> = None;
        let (mut new_idr, mut sps_seen, mut pps_seen) =
            (self.new_idr, self.idr_sps_seen, self.idr_pps_seen);
        let (sps, pps) = self.parameter_sets();
        let ls = self.length_size;
        let mut pos = 0usize;
        let (mut own_sps, mut own_pps) = (false, false);
        let mut random_access = self.random_access;
        loop {
            let prefix = packet.get(pos..pos + ls).ok_or(Malformed)?;
            let size = prefix
                .iter()
                .fold(0usize, |n, b| (n << 8) | usize::from(*b));
            pos += ls;
            if size > packet.len() - pos {
                return Err(Malformed);
            }
            let unit = &packet[pos..pos + size];
            pos += size;
            if let [header, rest @ ..] = unit {
                let kind = header & 0x1f;
                own_sps |= kind == SPS;
                own_pps |= kind == PPS;
                if random_access && kind == SLICE {
                    if !own_sps {
                        out.extend_from_slice(sps);
                    }
                    if !own_pps {
                        out.extend_from_slice(pps);
                    }
                    random_access = false;
                }
                if kind == SPS {
                    sps_seen = true;
                    new_idr = true;
                } else if kind == PPS {
                    pps_seen = true;
                    new_idr = true;
                    // A PPS without an SPS before it gets the avcC's SPS in front.
                    if !sps_seen && !sps.is_empty() {
                        out.extend_from_slice(sps);
                        sps_seen = true;
                    }
                }
                // A new IDR picture right after another (first_mb_in_slice == 0).
                if !new_idr && kind == IDR && rest.first().is_some_and(|b| b & 0x80 != 0) {
                    new_idr = true;
                }
                if new_idr && kind == IDR && !pps_seen {
                    if !sps_seen {
                        out.extend_from_slice(sps);
                        new_idr = false;
                    }
                    out.extend_from_slice(pps);
                }
                // 4-byte start codes for parameter sets and a packet's first unit.
                let long = out.len() == body || kind == SPS || kind == PPS;
                out.extend_from_slice(if long { &[0, 0, 0, 1] } else { &[0, 0, 1] });
                out.extend_from_slice(unit);
                if !new_idr && kind == SLICE {
                    new_idr = true;
                    sps_seen = false;
                    pps_seen = false;
                }
                if first.is_none() && matches!(kind, SLICE | IDR | AUD) {
                    first = Some(kind);
                }
            }
            if pos == packet.len() {
                break;
            }
        }
        (self.new_idr, self.idr_sps_seen, self.idr_pps_seen) = (new_idr, sps_seen, pps_seen);
        // Only the packet asked for: an IDR picture got its sets by the rules.
        self.random_access = false;
        Ok(if first == Some(AUD) { body } else { 0 })
    }

    /// The avcC's SPS units and PPS units, each behind a 4-byte start code.
    fn parameter_sets(&self) -> (&[u8], &[u8]) {
        self.params.split_at(self.pps_at)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An avcC record with 4-byte lengths, one SPS and one PPS.
    fn avcc(sps: &[u8], pps: &[u8]) -> Vec<u8> {
        let mut v = vec![1, 0x64, 0, 0x1f, 0xff, 0xe1];
        v.extend_from_slice(&(sps.len() as u16).to_be_bytes());
        v.extend_from_slice(sps);
        v.push(1);
        v.extend_from_slice(&(pps.len() as u16).to_be_bytes());
        v.extend_from_slice(pps);
        v
    }

    fn units(list: &[&[u8]]) -> Vec<u8> {
        let mut v = Vec::new();
        for u in list {
            v.extend_from_slice(&(u.len() as u32).to_be_bytes());
            v.extend_from_slice(u);
        }
        v
    }

    fn run(c: &mut AnnexB, packet: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        let at = c.convert(packet, &mut out).expect("well formed");
        out[at..].to_vec()
    }

    /// The expected stream: each unit behind a 4-byte (`L`) or 3-byte (`S`)
    /// start code.
    fn stream(parts: &[(usize, &[u8])]) -> Vec<u8> {
        let mut v = Vec::new();
        for (code, unit) in parts {
            v.extend_from_slice(&[0, 0, 0, 1][4 - code..]);
            v.extend_from_slice(unit);
        }
        v
    }

    const L: usize = 4;
    const S: usize = 3;
    const SPS_U: &[u8] = &[0x67, 0x64, 0, 0x1f];
    const PPS_U: &[u8] = &[0x68, 0xee, 0x3c];
    const IDR_U: &[u8] = &[0x65, 0x88, 0x84];
    const SEI_U: &[u8] = &[0x06, 0x05, 0x01];
    const P_U: &[u8] = &[0x41, 0x9a, 0x02];
    /// The delimiter FFmpeg's muxer would add, as a unit.
    const AUD_U: &[u8] = &[AUD, 0xf0];

    #[test]
    fn an_idr_picture_gets_the_parameter_sets_and_a_delimiter_in_front() {
        let mut c = AnnexB::from_avcc(&avcc(SPS_U, PPS_U)).expect("avcC parses");
        let got = run(&mut c, &units(&[SEI_U, IDR_U]));
        let idr = [(L, AUD_U), (L, SEI_U), (L, SPS_U), (L, PPS_U), (S, IDR_U)];
        assert_eq!(got, stream(&idr));
        // The next picture is not an IDR: a 4-byte start code for its first
        // unit, no parameter sets.
        let got = run(&mut c, &units(&[P_U, P_U]));
        assert_eq!(got, stream(&[(L, AUD_U), (L, P_U), (S, P_U)]));
        // After a non-IDR slice, the next IDR gets them again.
        let got = run(&mut c, &units(&[IDR_U]));
        assert_eq!(
            got,
            stream(&[(L, AUD_U), (L, SPS_U), (L, PPS_U), (S, IDR_U)])
        );
    }

    #[test]
    fn a_segment_that_starts_at_a_recovery_point_gets_the_parameter_sets() {
        let mut c = AnnexB::from_avcc(&avcc(SPS_U, PPS_U)).expect("avcC parses");
        run(&mut c, &units(&[IDR_U]));
        let i_pic: &[u8] = &[0x61, 0x88]; // a non-IDR slice (type 1) of an I picture
        c.repeat_parameter_sets();
        let got = run(&mut c, &units(&[SEI_U, i_pic]));
        let want = [(L, AUD_U), (L, SEI_U), (L, SPS_U), (L, PPS_U), (S, i_pic)];
        assert_eq!(got, stream(&want));
        // Only the packet asked for.
        let got = run(&mut c, &units(&[P_U]));
        assert_eq!(got, stream(&[(L, AUD_U), (L, P_U)]));
        // A packet with its own parameter sets does not get them twice.
        c.repeat_parameter_sets();
        let got = run(&mut c, &units(&[SPS_U, PPS_U, i_pic]));
        assert_eq!(
            got,
            stream(&[(L, AUD_U), (L, SPS_U), (L, PPS_U), (S, i_pic)])
        );
    }

    #[test]
    fn in_band_parameter_sets_and_delimiters_are_not_doubled() {
        let mut c = AnnexB::from_avcc(&avcc(SPS_U, PPS_U)).expect("avcC parses");
        let aud: &[u8] = &[0x09, 0x10];
        // An empty unit is dropped, as FFmpeg's filter drops it.
        let got = run(&mut c, &units(&[aud, &[], SPS_U, PPS_U, IDR_U]));
        assert_eq!(got, stream(&[(L, aud), (L, SPS_U), (L, PPS_U), (S, IDR_U)]));
    }

    #[test]
    fn lengths_that_overrun_the_packet_are_refused() {
        let mut c = AnnexB::from_avcc(&avcc(SPS_U, PPS_U)).expect("avcC parses");
        let mut bad = units(&[IDR_U]);
        bad[3] += 1;
        assert_eq!(c.convert(&bad, &mut Vec::new()), Err(Malformed));
        assert_eq!(c.convert(&[0, 0, 0], &mut Vec::new()), Err(Malformed));
    }

    #[test]
    fn annexb_or_truncated_extradata_is_left_to_ffmpeg() {
        assert!(AnnexB::from_avcc(&[0, 0, 0, 1, 0x67, 0x64, 0]).is_none());
        assert!(AnnexB::from_avcc(&[]).is_none());
        let mut short = avcc(SPS_U, PPS_U);
        short.truncate(short.len() - 1);
        assert!(AnnexB::from_avcc(&short).is_none());
    }
}
