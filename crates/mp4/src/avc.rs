//! Just enough H.264 (ISO/IEC 14496-10, 7.3) to find where a slice's data
//! begins: `cbcs` leaves every slice header clear (ISO/IEC 23001-7 10.2,
//! Apple's sample encryption), so the subsample map needs the header's
//! length in bytes, which depends on the SPS and PPS the slice refers to.

use std::collections::HashMap;

/// A failure to read a parameter set or slice header, in words.
pub type Result<T> = std::result::Result<T, String>;

/// Reads bits of an RBSP, from a NAL unit's bytes with the emulation
/// prevention bytes (0x000003) skipped, and says how many NAL bytes the
/// bits read so far span.
pub(crate) struct Bits<'a> {
    nal: &'a [u8],
    /// Byte position in `nal` and bit in it (0 = most significant).
    byte: usize,
    bit: u8,
    zeros: u8,
}

impl<'a> Bits<'a> {
    pub(crate) fn new(nal: &'a [u8], start: usize) -> Self {
        Bits {
            nal,
            byte: start,
            bit: 0,
            zeros: 0,
        }
    }

    pub(crate) fn u1(&mut self) -> Result<u32> {
        if self.bit == 0 {
            // An emulation prevention byte: 0x03 after two zero bytes.
            if self.zeros >= 2 && self.nal.get(self.byte) == Some(&3) {
                self.byte += 1;
                self.zeros = 0;
            }
        }
        let b = *self
            .nal
            .get(self.byte)
            .ok_or("the slice header runs past its NAL unit")?;
        let v = (b >> (7 - self.bit)) & 1;
        self.bit += 1;
        if self.bit == 8 {
            self.bit = 0;
            self.byte += 1;
            self.zeros = if b == 0 { self.zeros + 1 } else { 0 };
        }
        Ok(u32::from(v))
    }

    pub(crate) fn u(&mut self, n: u32) -> Result<u32> {
        let mut v = 0;
        for _ in 0..n {
            v = v << 1 | self.u1()?;
        }
        Ok(v)
    }

    pub(crate) fn ue(&mut self) -> Result<u32> {
        let mut zeros = 0;
        while self.u1()? == 0 {
            zeros += 1;
            if zeros > 31 {
                return Err("an Exp-Golomb code longer than 32 bits".into());
            }
        }
        Ok(((1u64 << zeros) - 1 + u64::from(self.u(zeros)?)) as u32)
    }

    pub(crate) fn se(&mut self) -> Result<i32> {
        let k = self.ue()?;
        Ok(if k % 2 == 1 {
            k.div_ceil(2) as i32
        } else {
            -((k / 2) as i32)
        })
    }

    /// NAL bytes spanned so far (a partly read byte counts whole).
    pub(crate) fn bytes_spanned(&self) -> usize {
        self.byte + usize::from(self.bit > 0)
    }
}

#[derive(Debug, Clone, Copy, Default)]
struct Sps {
    separate_colour_plane: bool,
    chroma_array_type: u32,
    log2_max_frame_num: u32,
    poc_type: u32,
    log2_max_poc_lsb: u32,
    delta_pic_order_always_zero: bool,
    frame_mbs_only: bool,
}

#[derive(Debug, Clone, Copy, Default)]
struct Pps {
    sps_id: u32,
    cabac: bool,
    bottom_field_pic_order_in_frame_present: bool,
    num_ref_idx_l0_default: u32,
    num_ref_idx_l1_default: u32,
    weighted_pred: bool,
    weighted_bipred_idc: u32,
    deblocking_filter_control_present: bool,
    redundant_pic_cnt_present: bool,
}

/// The parameter sets seen so far, by id.
#[derive(Debug, Clone, Default)]
pub struct ParameterSets {
    sps: HashMap<u32, Sps>,
    pps: HashMap<u32, Pps>,
}

fn skip_scaling_list(b: &mut Bits, size: usize) -> Result<()> {
    let (mut last, mut next) = (8i32, 8i32);
    for _ in 0..size {
        if next != 0 {
            next = (last + b.se()? + 256) % 256;
        }
        last = if next == 0 { last } else { next };
    }
    Ok(())
}

impl ParameterSets {
    /// The SPS and PPS of an `avcC` record.
    pub fn from_avcc(avcc: &[u8]) -> Result<Self> {
        let mut ps = ParameterSets::default();
        let mut pos = 5usize;
        let take = |pos: &mut usize| -> Result<&[u8]> {
            let n = avcc
                .get(*pos..*pos + 2)
                .map(|b| usize::from(u16::from_be_bytes([b[0], b[1]])))
                .ok_or("avcC ends early")?;
            let s = avcc.get(*pos + 2..*pos + 2 + n).ok_or("avcC ends early")?;
            *pos += 2 + n;
            Ok(s)
        };
        let n_sps = avcc.get(pos).ok_or("avcC ends early")? & 0x1f;
        pos += 1;
        for _ in 0..n_sps {
            let s = take(&mut pos)?;
            ps.add(s)?;
        }
        let n_pps = *avcc.get(pos).ok_or("avcC ends early")?;
        pos += 1;
        for _ in 0..n_pps {
            let s = take(&mut pos)?;
            ps.add(s)?;
        }
        Ok(ps)
    }

    /// Takes in a NAL unit if it is an SPS or PPS (in-band ones replace).
    pub fn add(&mut self, nal: &[u8]) -> Result<()> {
        match nal.first().map(|b| b & 0x1f) {
            Some(7) => self.add_sps(nal),
            Some(8) => self.add_pps(nal),
            _ => Ok(()),
        }
    }

    fn add_sps(&mut self, nal: &[u8]) -> Result<()> {
        let mut b = Bits::new(nal, 1);
        let profile = b.u(8)?;
        b.u(16)?; // constraint flags, level
        let id = b.ue()?;
        let mut s = Sps {
            chroma_array_type: 1,
            ..Sps::default()
        };
        if matches!(
            profile,
            100 | 110 | 122 | 244 | 44 | 83 | 86 | 118 | 128 | 138 | 139 | 134 | 135
        ) {
            let chroma_format_idc = b.ue()?;
            if chroma_format_idc == 3 {
                s.separate_colour_plane = b.u1()? == 1;
            }
            s.chroma_array_type = if s.separate_colour_plane {
                0
            } else {
                chroma_format_idc
            };
            b.ue()?; // bit depths
            b.ue()?;
            b.u1()?; // qpprime_y_zero_transform_bypass
            if b.u1()? == 1 {
                let lists = if chroma_format_idc == 3 { 12 } else { 8 };
                for i in 0..lists {
                    if b.u1()? == 1 {
                        skip_scaling_list(&mut b, if i < 6 { 16 } else { 64 })?;
                    }
                }
            }
        }
        s.log2_max_frame_num = b.ue()? + 4;
        s.poc_type = b.ue()?;
        match s.poc_type {
            0 => s.log2_max_poc_lsb = b.ue()? + 4,
            1 => {
                s.delta_pic_order_always_zero = b.u1()? == 1;
                b.se()?;
                b.se()?;
                let n = b.ue()?;
                if n > 255 {
                    return Err(format!("an SPS with {n} reference frames in its POC cycle"));
                }
                for _ in 0..n {
                    b.se()?;
                }
            }
            _ => {}
        }
        b.ue()?; // max_num_ref_frames
        b.u1()?; // gaps_in_frame_num_value_allowed
        b.ue()?; // width in MBs
        b.ue()?; // height in map units
        s.frame_mbs_only = b.u1()? == 1;
        if s.log2_max_frame_num > 16 || s.log2_max_poc_lsb > 16 {
            return Err("an SPS with out-of-range field sizes".into());
        }
        self.sps.insert(id, s);
        Ok(())
    }

    fn add_pps(&mut self, nal: &[u8]) -> Result<()> {
        let mut b = Bits::new(nal, 1);
        let id = b.ue()?;
        let mut p = Pps {
            sps_id: b.ue()?,
            cabac: b.u1()? == 1,
            bottom_field_pic_order_in_frame_present: b.u1()? == 1,
            ..Pps::default()
        };
        if b.ue()? > 0 {
            return Err("slice groups (FMO), which shieldpack does not encrypt with cbcs".into());
        }
        p.num_ref_idx_l0_default = b.ue()? + 1;
        p.num_ref_idx_l1_default = b.ue()? + 1;
        p.weighted_pred = b.u1()? == 1;
        p.weighted_bipred_idc = b.u(2)?;
        b.se()?; // pic_init_qp
        b.se()?; // pic_init_qs
        b.se()?; // chroma_qp_index_offset
        p.deblocking_filter_control_present = b.u1()? == 1;
        b.u1()?; // constrained_intra_pred
        p.redundant_pic_cnt_present = b.u1()? == 1;
        self.pps.insert(id, p);
        Ok(())
    }

    /// The bytes of the slice NAL unit `nal` (header byte included) up to
    /// and including the last byte the slice header touches.
    pub fn slice_header_len(&self, nal: &[u8]) -> Result<usize> {
        let nal_type = nal.first().ok_or("an empty NAL unit")? & 0x1f;
        let nal_ref_idc = (nal[0] >> 5) & 3;
        let idr = nal_type == 5;
        let mut b = Bits::new(nal, 1);
        b.ue()?; // first_mb_in_slice
        let slice_type = b.ue()? % 5;
        let (p_slice, b_slice, i_slice, sp, si) = (
            slice_type == 0,
            slice_type == 1,
            slice_type == 2,
            slice_type == 3,
            slice_type == 4,
        );
        let pps_id = b.ue()?;
        let pps = *self
            .pps
            .get(&pps_id)
            .ok_or_else(|| format!("a slice refers to PPS {pps_id}, which was not seen"))?;
        let sps = *self.sps.get(&pps.sps_id).ok_or_else(|| {
            format!(
                "PPS {pps_id} refers to SPS {}, which was not seen",
                pps.sps_id
            )
        })?;
        if sps.separate_colour_plane {
            b.u(2)?;
        }
        b.u(sps.log2_max_frame_num)?;
        let mut field_pic = false;
        if !sps.frame_mbs_only {
            field_pic = b.u1()? == 1;
            if field_pic {
                b.u1()?;
            }
        }
        if idr {
            b.ue()?;
        }
        if sps.poc_type == 0 {
            b.u(sps.log2_max_poc_lsb)?;
            if pps.bottom_field_pic_order_in_frame_present && !field_pic {
                b.se()?;
            }
        }
        if sps.poc_type == 1 && !sps.delta_pic_order_always_zero {
            b.se()?;
            if pps.bottom_field_pic_order_in_frame_present && !field_pic {
                b.se()?;
            }
        }
        if pps.redundant_pic_cnt_present {
            b.ue()?;
        }
        if b_slice {
            b.u1()?; // direct_spatial_mv_pred
        }
        let (mut l0, mut l1) = (pps.num_ref_idx_l0_default, pps.num_ref_idx_l1_default);
        if (p_slice || sp || b_slice) && b.u1()? == 1 {
            l0 = b.ue()? + 1;
            if b_slice {
                l1 = b.ue()? + 1;
            }
        }
        if l0 > 32 || l1 > 32 {
            return Err("a slice with more than 32 active references".into());
        }
        // ref_pic_list_modification (not MVC: NAL types 20/21 are not slices here).
        let lists = if b_slice {
            2
        } else if !(i_slice || si) {
            1
        } else {
            0
        };
        for _ in 0..lists {
            if b.u1()? == 1 {
                loop {
                    let idc = b.ue()?;
                    match idc {
                        0..=2 => {
                            b.ue()?;
                        }
                        3 => break,
                        _ => return Err(format!("modification_of_pic_nums_idc {idc}")),
                    }
                }
            }
        }
        if (pps.weighted_pred && (p_slice || sp)) || (pps.weighted_bipred_idc == 1 && b_slice) {
            b.ue()?; // luma_log2_weight_denom
            if sps.chroma_array_type != 0 {
                b.ue()?;
            }
            let counts = if b_slice { vec![l0, l1] } else { vec![l0] };
            for n in counts {
                for _ in 0..n {
                    if b.u1()? == 1 {
                        b.se()?;
                        b.se()?;
                    }
                    if sps.chroma_array_type != 0 && b.u1()? == 1 {
                        for _ in 0..4 {
                            b.se()?;
                        }
                    }
                }
            }
        }
        if nal_ref_idc != 0 {
            if idr {
                b.u(2)?;
            } else if b.u1()? == 1 {
                loop {
                    let op = b.ue()?;
                    match op {
                        0 => break,
                        1 | 3 => {
                            b.ue()?;
                            if op == 3 {
                                b.ue()?;
                            }
                        }
                        2 | 6 => {
                            b.ue()?;
                        }
                        4 => {
                            b.ue()?;
                        }
                        5 => {}
                        _ => return Err(format!("memory_management_control_operation {op}")),
                    }
                }
            }
        }
        if pps.cabac && !i_slice && !si {
            b.ue()?; // cabac_init_idc
        }
        b.se()?; // slice_qp_delta
        if sp || si {
            if sp {
                b.u1()?;
            }
            b.se()?;
        }
        if pps.deblocking_filter_control_present && b.ue()? != 1 {
            b.se()?;
            b.se()?;
        }
        Ok(b.bytes_spanned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exp_golomb_and_emulation_prevention() {
        // 1 -> 0; 010 -> 1; 011 -> 2; 00100 -> 3: bits 1 010 011 00100 ...
        let mut b = Bits::new(&[0b1010_0110, 0b0100_0000], 0);
        assert_eq!(b.ue().unwrap(), 0);
        assert_eq!(b.ue().unwrap(), 1);
        assert_eq!(b.ue().unwrap(), 2);
        assert_eq!(b.ue().unwrap(), 3);
        // se: 2 -> -1, 3 -> 2.
        let mut b = Bits::new(&[0b0110_0100], 0);
        assert_eq!(b.se().unwrap(), -1);
        assert_eq!(b.se().unwrap(), 2);
        // 00 00 03 01: the 03 is skipped, so the next byte read is 01.
        let mut b = Bits::new(&[0, 0, 3, 1], 0);
        assert_eq!(b.u(16).unwrap(), 0);
        assert_eq!(b.u(8).unwrap(), 1);
        assert_eq!(b.bytes_spanned(), 4);
        assert!(Bits::new(&[0], 0).ue().is_err());
    }
}
