//! RFC 6381 codec strings for the HLS CODECS attribute, read from the streams'
//! own configuration (avcC / hvcC / AudioSpecificConfig), not guessed.
//! `None` means MPEG-TS for HLS cannot carry the codec (or we do not package it).

use ffmpeg_next::ffi::{AVCodecID, AVCodecParameters};

pub(super) fn extradata(par: &AVCodecParameters) -> &[u8] {
    if par.extradata.is_null() || par.extradata_size <= 0 {
        return &[];
    }
    // SAFETY: FFmpeg guarantees extradata_size bytes at extradata.
    unsafe { std::slice::from_raw_parts(par.extradata, par.extradata_size as usize) }
}

/// The codec string for one stream, if shieldpack packages its codec.
pub fn rfc6381(par: &AVCodecParameters) -> Option<String> {
    use AVCodecID::*;
    let ed = extradata(par);
    match par.codec_id {
        AV_CODEC_ID_H264 => Some(avc(ed, par.profile, par.level)),
        AV_CODEC_ID_HEVC => Some(hevc(ed, par.profile, par.level)),
        AV_CODEC_ID_AAC => {
            // The audio object type is the first 5 bits of the AudioSpecificConfig;
            // without one, FFmpeg's profile is the object type minus one.
            let aot = match ed.first() {
                Some(b) if b >> 3 != 0 && b >> 3 != 31 => b >> 3,
                _ if par.profile >= 0 => (par.profile + 1) as u8,
                _ => 2,
            };
            Some(format!("mp4a.40.{aot}"))
        }
        AV_CODEC_ID_MP3 => Some("mp4a.40.34".into()),
        AV_CODEC_ID_AC3 => Some("ac-3".into()),
        AV_CODEC_ID_EAC3 => Some("ec-3".into()),
        _ => None,
    }
}

/// `avc1.PPCCLL` from the avcC record or, for Annex B extradata, the first SPS.
fn avc(ed: &[u8], profile: i32, level: i32) -> String {
    let pcl = if ed.len() >= 4 && ed[0] == 1 {
        Some([ed[1], ed[2], ed[3]])
    } else {
        super::annexb::annexb_units(ed)
            .find(|n| n.len() >= 4 && n[0] & 0x1f == super::annexb::SPS)
            .map(|n| [n[1], n[2], n[3]])
    };
    let [p, c, l] = pcl.unwrap_or([profile.clamp(0, 255) as u8, 0, level.clamp(0, 255) as u8]);
    format!("avc1.{p:02x}{c:02x}{l:02x}")
}

/// `hev1.<space><profile>.<compat>.<tier><level>.<constraints>` (ISO/IEC 14496-15
/// annex E). In MPEG-TS the parameter sets travel in band, hence `hev1`.
fn hevc(ed: &[u8], profile: i32, level: i32) -> String {
    if ed.len() >= 13 && ed[0] == 1 {
        let space = ["", "A", "B", "C"][(ed[1] >> 6) as usize];
        let tier = if ed[1] & 0x20 != 0 { 'H' } else { 'L' };
        let idc = ed[1] & 0x1f;
        let compat = u32::from_be_bytes([ed[2], ed[3], ed[4], ed[5]]).reverse_bits();
        let mut cons: Vec<u8> = ed[6..12].to_vec();
        while cons.last() == Some(&0) {
            cons.pop();
        }
        let mut s = format!("hev1.{space}{idc}.{compat:X}.{tier}{}", ed[12]);
        for b in cons {
            s.push_str(&format!(".{b:X}"));
        }
        s
    } else {
        format!(
            "hev1.{}.{:X}.L{}",
            profile.max(1),
            1u32 << profile.clamp(0, 31),
            level.max(0)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn avc_from_avcc_and_annexb() {
        assert_eq!(avc(&[1, 0x64, 0x00, 0x1f, 0xff], 0, 0), "avc1.64001f");
        assert_eq!(
            avc(&[0, 0, 0, 1, 0x67, 0x4d, 0x40, 0x1e, 0, 0, 1, 0x68], 0, 0),
            "avc1.4d401e"
        );
    }

    #[test]
    fn hevc_main_profile() {
        // hvcC of a Main profile, level 3.1 stream: profile 1, compat 0x60000000, L93.
        let ed = [1, 0x01, 0x60, 0, 0, 0, 0x90, 0, 0, 0, 0, 0, 93];
        assert_eq!(hevc(&ed, 0, 0), "hev1.1.6.L93.90");
    }
}
