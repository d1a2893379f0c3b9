//! Just enough HEVC (ITU-T H.265 / ISO/IEC 23008-2, 7.3) to find where a
//! slice segment's data begins: common encryption leaves each VCL NAL
//! unit's header and slice segment header clear (ISO/IEC 23001-7 10.2 for
//! `cbcs`; shieldpack does the same for `cenc`), so the subsample map needs
//! the header's length in bytes, which depends on fields of the SPS and PPS
//! the slice refers to. Like `avc`, it reads the RBSP with emulation
//! prevention bytes skipped and counts NAL bytes.
//!
//! Single-layer streams (nuh_layer_id 0) with the version 1 syntax plus the
//! range extension's PPS fields; a PPS with the multilayer, 3D or screen
//! content extensions is refused in words rather than misread.

use std::collections::HashMap;

use crate::avc::Bits;

/// A failure to read a parameter set or slice header, in words.
pub type Result<T> = std::result::Result<T, String>;

/// NAL unit types (Table 7-1).
const VPS: u8 = 32;
const SPS: u8 = 33;
const PPS: u8 = 34;

/// The NAL unit type of an HEVC NAL unit (two-byte header).
pub fn nal_type(nal: &[u8]) -> Option<u8> {
    nal.first().map(|b| (b >> 1) & 0x3f)
}

/// Whether a NAL unit type is a slice segment (VCL types 0-9 and 16-21;
/// the reserved VCL types are not slices).
pub fn is_slice(t: u8) -> bool {
    t <= 9 || (16..=21).contains(&t)
}

/// A short-term reference picture set: how many pictures, and how many of
/// them the current picture uses (for NumPicTotalCurr).
#[derive(Debug, Clone, Copy, Default)]
struct StRps {
    num_delta_pocs: u32,
    used: u32,
}

#[derive(Debug, Clone, Default)]
struct Sps {
    separate_colour_plane: bool,
    chroma_array_type: u32,
    log2_max_poc_lsb: u32,
    /// Ceil(Log2(PicSizeInCtbsY)): the bits of slice_segment_address.
    address_bits: u32,
    st_rps: Vec<StRps>,
    long_term_present: bool,
    /// used_by_curr_pic_lt_sps_flag of each long-term picture of the SPS.
    lt_used: Vec<bool>,
    temporal_mvp: bool,
    sao: bool,
}

#[derive(Debug, Clone, Copy, Default)]
struct Pps {
    sps_id: u32,
    dependent_slice_segments: bool,
    output_flag_present: bool,
    num_extra_slice_header_bits: u32,
    cabac_init_present: bool,
    num_ref_idx_l0_default: u32,
    num_ref_idx_l1_default: u32,
    slice_chroma_qp_offsets_present: bool,
    weighted_pred: bool,
    weighted_bipred: bool,
    tiles_or_wpp: bool,
    loop_filter_across_slices: bool,
    deblocking_override_enabled: bool,
    deblocking_disabled: bool,
    lists_modification_present: bool,
    slice_header_extension_present: bool,
    chroma_qp_offset_list_enabled: bool,
}

/// The parameter sets seen so far, by id.
#[derive(Debug, Clone, Default)]
pub struct ParameterSets {
    sps: HashMap<u32, Sps>,
    pps: HashMap<u32, Pps>,
}

/// Ceil(Log2(n)) for n >= 1.
fn ceil_log2(n: u32) -> u32 {
    if n <= 1 {
        0
    } else {
        32 - (n - 1).leading_zeros()
    }
}

/// Reads `n` bits (any count) and drops them.
fn skip(b: &mut Bits, mut n: u32) -> Result<()> {
    while n > 0 {
        let k = n.min(32);
        b.u(k)?;
        n -= k;
    }
    Ok(())
}

/// Exp-Golomb with a bound, so a hostile value cannot drive a long loop.
fn ue_max(b: &mut Bits, max: u32, what: &str) -> Result<u32> {
    let v = b.ue()?;
    if v > max {
        return Err(format!("{what} {v} is out of range (at most {max})"));
    }
    Ok(v)
}

fn profile_tier_level(b: &mut Bits, max_sub_layers_minus1: u32) -> Result<()> {
    // general_profile_space .. general_level_idc: 2+1+5+32+4+43+1+8 bits.
    skip(b, 96)?;
    let mut present = Vec::new();
    for _ in 0..max_sub_layers_minus1 {
        present.push((b.u1()? == 1, b.u1()? == 1));
    }
    if max_sub_layers_minus1 > 0 {
        for _ in max_sub_layers_minus1..8 {
            b.u(2)?;
        }
    }
    for (profile, level) in present {
        if profile {
            skip(b, 88)?;
        }
        if level {
            b.u(8)?;
        }
    }
    Ok(())
}

fn scaling_list_data(b: &mut Bits) -> Result<()> {
    for size_id in 0..4u32 {
        let step = if size_id == 3 { 3 } else { 1 };
        let mut matrix_id = 0;
        while matrix_id < 6 {
            if b.u1()? == 0 {
                b.ue()?; // scaling_list_pred_matrix_id_delta
            } else {
                let coefs = 64.min(1u32 << (4 + (size_id << 1)));
                if size_id > 1 {
                    b.se()?; // scaling_list_dc_coef_minus8
                }
                for _ in 0..coefs {
                    b.se()?;
                }
            }
            matrix_id += step;
        }
    }
    Ok(())
}

/// st_ref_pic_set(idx) (7.3.7) given the sets before it; `in_slice` when
/// read in a slice header (idx == num_short_term_ref_pic_sets).
fn st_ref_pic_set(b: &mut Bits, idx: usize, sets: &[StRps], in_slice: bool) -> Result<StRps> {
    let inter = idx != 0 && b.u1()? == 1;
    if inter {
        let delta_idx = if in_slice {
            ue_max(b, idx as u32 - 1, "delta_idx_minus1")? + 1
        } else {
            1
        };
        b.u1()?; // delta_rps_sign
        ue_max(b, (1 << 15) - 1, "abs_delta_rps_minus1")?;
        let r = sets
            .get(idx - delta_idx as usize)
            .ok_or("a reference picture set predicted from one that does not exist")?;
        let mut out = StRps::default();
        for _ in 0..=r.num_delta_pocs {
            let used = b.u1()? == 1;
            let use_delta = used || b.u1()? == 1;
            if used {
                out.used += 1;
            }
            if use_delta {
                out.num_delta_pocs += 1;
            }
        }
        Ok(out)
    } else {
        let neg = ue_max(b, 16, "num_negative_pics")?;
        let pos = ue_max(b, 16, "num_positive_pics")?;
        let mut out = StRps {
            num_delta_pocs: neg + pos,
            used: 0,
        };
        for _ in 0..neg + pos {
            b.ue()?; // delta_poc_s0/s1_minus1
            out.used += b.u1()?;
        }
        Ok(out)
    }
}

impl ParameterSets {
    /// The parameter sets of an `hvcC` record (ISO/IEC 14496-15 8.3.3).
    pub fn from_hvcc(hvcc: &[u8]) -> Result<Self> {
        let mut ps = ParameterSets::default();
        let mut pos = 22usize;
        let arrays = *hvcc.get(pos).ok_or("hvcC ends early")?;
        pos += 1;
        for _ in 0..arrays {
            let n = hvcc
                .get(pos + 1..pos + 3)
                .map(|b| usize::from(u16::from_be_bytes([b[0], b[1]])))
                .ok_or("hvcC ends early")?;
            pos += 3;
            for _ in 0..n {
                let len = hvcc
                    .get(pos..pos + 2)
                    .map(|b| usize::from(u16::from_be_bytes([b[0], b[1]])))
                    .ok_or("hvcC ends early")?;
                let nal = hvcc.get(pos + 2..pos + 2 + len).ok_or("hvcC ends early")?;
                ps.add(nal)?;
                pos += 2 + len;
            }
        }
        Ok(ps)
    }

    /// Takes in a NAL unit if it is an SPS or PPS (in-band ones replace).
    pub fn add(&mut self, nal: &[u8]) -> Result<()> {
        match nal_type(nal) {
            Some(SPS) => self.add_sps(nal),
            Some(PPS) => self.add_pps(nal),
            Some(VPS) | Some(_) | None => Ok(()),
        }
    }

    fn add_sps(&mut self, nal: &[u8]) -> Result<()> {
        let mut b = Bits::new(nal, 2);
        b.u(4)?; // sps_video_parameter_set_id
        let max_sub_layers_minus1 = b.u(3)?;
        if max_sub_layers_minus1 > 6 {
            return Err("an SPS with more than 7 sub-layers".into());
        }
        b.u1()?; // temporal_id_nesting
        profile_tier_level(&mut b, max_sub_layers_minus1)?;
        let id = ue_max(&mut b, 15, "sps_seq_parameter_set_id")?;
        let mut s = Sps::default();
        let chroma_format_idc = ue_max(&mut b, 3, "chroma_format_idc")?;
        if chroma_format_idc == 3 {
            s.separate_colour_plane = b.u1()? == 1;
        }
        s.chroma_array_type = if s.separate_colour_plane {
            0
        } else {
            chroma_format_idc
        };
        let width = b.ue()?;
        let height = b.ue()?;
        if b.u1()? == 1 {
            for _ in 0..4 {
                b.ue()?; // conformance window offsets
            }
        }
        b.ue()?; // bit_depth_luma_minus8
        b.ue()?; // bit_depth_chroma_minus8
        s.log2_max_poc_lsb = ue_max(&mut b, 12, "log2_max_pic_order_cnt_lsb_minus4")? + 4;
        let all = b.u1()? == 1;
        let first = if all { 0 } else { max_sub_layers_minus1 };
        for _ in first..=max_sub_layers_minus1 {
            b.ue()?;
            b.ue()?;
            b.ue()?;
        }
        let log2_min_cb = ue_max(&mut b, 3, "log2_min_luma_coding_block_size_minus3")? + 3;
        let log2_ctb = log2_min_cb + ue_max(&mut b, 3, "log2_diff_max_min_luma_coding_block_size")?;
        if log2_ctb > 6 {
            return Err(format!(
                "an SPS with {}-sample coding tree blocks",
                1 << log2_ctb
            ));
        }
        b.ue()?; // log2_min_luma_transform_block_size_minus2
        b.ue()?; // log2_diff_max_min_luma_transform_block_size
        b.ue()?; // max_transform_hierarchy_depth_inter
        b.ue()?; // max_transform_hierarchy_depth_intra
        if b.u1()? == 1 && b.u1()? == 1 {
            scaling_list_data(&mut b)?;
        }
        b.u1()?; // amp_enabled
        s.sao = b.u1()? == 1;
        if b.u1()? == 1 {
            b.u(4)?; // pcm bit depths
            b.u(4)?;
            b.ue()?;
            b.ue()?;
            b.u1()?;
        }
        let n = ue_max(&mut b, 64, "num_short_term_ref_pic_sets")? as usize;
        for i in 0..n {
            let set = st_ref_pic_set(&mut b, i, &s.st_rps, false)?;
            s.st_rps.push(set);
        }
        s.long_term_present = b.u1()? == 1;
        if s.long_term_present {
            let n = ue_max(&mut b, 32, "num_long_term_ref_pics_sps")?;
            for _ in 0..n {
                b.u(s.log2_max_poc_lsb)?;
                s.lt_used.push(b.u1()? == 1);
            }
        }
        s.temporal_mvp = b.u1()? == 1;
        let ctb = 1u64 << log2_ctb;
        let ctbs = u64::from(width).div_ceil(ctb) * u64::from(height).div_ceil(ctb);
        if ctbs == 0 || ctbs > u64::from(u32::MAX) {
            return Err(format!("an SPS of {width}x{height} luma samples"));
        }
        s.address_bits = ceil_log2(ctbs as u32);
        self.sps.insert(id, s);
        Ok(())
    }

    fn add_pps(&mut self, nal: &[u8]) -> Result<()> {
        let mut b = Bits::new(nal, 2);
        let id = ue_max(&mut b, 63, "pps_pic_parameter_set_id")?;
        let mut p = Pps {
            sps_id: ue_max(&mut b, 15, "pps_seq_parameter_set_id")?,
            dependent_slice_segments: b.u1()? == 1,
            output_flag_present: b.u1()? == 1,
            num_extra_slice_header_bits: b.u(3)?,
            ..Pps::default()
        };
        b.u1()?; // sign_data_hiding_enabled
        p.cabac_init_present = b.u1()? == 1;
        p.num_ref_idx_l0_default = ue_max(&mut b, 14, "num_ref_idx_l0_default_active_minus1")? + 1;
        p.num_ref_idx_l1_default = ue_max(&mut b, 14, "num_ref_idx_l1_default_active_minus1")? + 1;
        b.se()?; // init_qp_minus26
        b.u1()?; // constrained_intra_pred
        let transform_skip = b.u1()? == 1;
        if b.u1()? == 1 {
            b.ue()?; // diff_cu_qp_delta_depth
        }
        b.se()?; // pps_cb_qp_offset
        b.se()?; // pps_cr_qp_offset
        p.slice_chroma_qp_offsets_present = b.u1()? == 1;
        p.weighted_pred = b.u1()? == 1;
        p.weighted_bipred = b.u1()? == 1;
        b.u1()?; // transquant_bypass_enabled
        let tiles = b.u1()? == 1;
        let wpp = b.u1()? == 1;
        p.tiles_or_wpp = tiles || wpp;
        if tiles {
            let cols = ue_max(&mut b, 1000, "num_tile_columns_minus1")?;
            let rows = ue_max(&mut b, 1000, "num_tile_rows_minus1")?;
            if b.u1()? == 0 {
                for _ in 0..cols + rows {
                    b.ue()?;
                }
            }
            b.u1()?; // loop_filter_across_tiles
        }
        p.loop_filter_across_slices = b.u1()? == 1;
        if b.u1()? == 1 {
            p.deblocking_override_enabled = b.u1()? == 1;
            p.deblocking_disabled = b.u1()? == 1;
            if !p.deblocking_disabled {
                b.se()?;
                b.se()?;
            }
        }
        if b.u1()? == 1 {
            scaling_list_data(&mut b)?;
        }
        p.lists_modification_present = b.u1()? == 1;
        b.ue()?; // log2_parallel_merge_level_minus2
        p.slice_header_extension_present = b.u1()? == 1;
        if b.u1()? == 1 {
            let range = b.u1()? == 1;
            let others = b.u(3)?;
            b.u(4)?; // pps_extension_4bits
            if others != 0 {
                return Err("a PPS with multilayer, 3D or screen content extensions, which shieldpack does not read".into());
            }
            if range {
                if transform_skip {
                    b.ue()?;
                }
                b.u1()?; // cross_component_prediction_enabled
                p.chroma_qp_offset_list_enabled = b.u1()? == 1;
            }
        }
        self.pps.insert(id, p);
        Ok(())
    }

    /// The bytes of the slice segment NAL unit `nal` (its two header bytes
    /// included) up to and including the last byte the slice segment header
    /// touches (through `byte_alignment()`), where the slice data begins.
    pub fn slice_header_len(&self, nal: &[u8]) -> Result<usize> {
        let t = nal_type(nal).ok_or("an empty NAL unit")?;
        if nal.len() < 2 {
            return Err("a NAL unit shorter than its header".into());
        }
        if nal[0] & 1 != 0 || nal[1] >> 3 != 0 {
            return Err("a NAL unit of another layer (nuh_layer_id > 0)".into());
        }
        let mut b = Bits::new(nal, 2);
        let first_in_pic = b.u1()? == 1;
        if (16..=23).contains(&t) {
            b.u1()?; // no_output_of_prior_pics
        }
        let pps_id = b.ue()?;
        let pps = *self
            .pps
            .get(&pps_id)
            .ok_or_else(|| format!("a slice refers to PPS {pps_id}, which was not seen"))?;
        let sps = self.sps.get(&pps.sps_id).ok_or_else(|| {
            format!(
                "PPS {pps_id} refers to SPS {}, which was not seen",
                pps.sps_id
            )
        })?;
        let mut dependent = false;
        if !first_in_pic {
            if pps.dependent_slice_segments {
                dependent = b.u1()? == 1;
            }
            b.u(sps.address_bits)?;
        }
        if !dependent {
            self.independent_fields(&mut b, t, &pps, sps)?;
        }
        if pps.tiles_or_wpp {
            let n = ue_max(&mut b, 1 << 16, "num_entry_point_offsets")?;
            if n > 0 {
                let bits = ue_max(&mut b, 31, "offset_len_minus1")? + 1;
                for _ in 0..n {
                    b.u(bits)?;
                }
            }
        }
        if pps.slice_header_extension_present {
            let n = ue_max(&mut b, 256, "slice_segment_header_extension_length")?;
            skip(&mut b, 8 * n)?;
        }
        // byte_alignment(): a one bit, then zero bits to the byte boundary.
        if b.u1()? != 1 {
            return Err("a slice segment header without its alignment bit".into());
        }
        Ok(b.bytes_spanned())
    }

    /// The slice segment header fields of an independent slice segment.
    fn independent_fields(&self, b: &mut Bits, t: u8, pps: &Pps, sps: &Sps) -> Result<()> {
        b.u(pps.num_extra_slice_header_bits)?;
        let slice_type = ue_max(b, 2, "slice_type")?;
        let (b_slice, i_slice) = (slice_type == 0, slice_type == 2);
        if pps.output_flag_present {
            b.u1()?;
        }
        if sps.separate_colour_plane {
            b.u(2)?;
        }
        let mut temporal_mvp = false;
        let mut total_curr = 0u32;
        if t != 19 && t != 20 {
            b.u(sps.log2_max_poc_lsb)?;
            let n = sps.st_rps.len();
            let rps = if b.u1()? == 0 {
                st_ref_pic_set(b, n, &sps.st_rps, true)?
            } else {
                let idx = b.u(ceil_log2(n as u32))? as usize;
                *sps.st_rps
                    .get(idx)
                    .ok_or("a slice names a reference picture set the SPS does not have")?
            };
            total_curr += rps.used;
            if sps.long_term_present {
                let n_sps = sps.lt_used.len() as u32;
                let num_lt_sps = if n_sps > 0 {
                    ue_max(b, n_sps, "num_long_term_sps")?
                } else {
                    0
                };
                let num_lt_pics = ue_max(b, 32, "num_long_term_pics")?;
                for i in 0..num_lt_sps + num_lt_pics {
                    if i < num_lt_sps {
                        let idx = if n_sps > 1 {
                            b.u(ceil_log2(n_sps))? as usize
                        } else {
                            0
                        };
                        if sps.lt_used.get(idx).copied().unwrap_or(false) {
                            total_curr += 1;
                        }
                    } else {
                        b.u(sps.log2_max_poc_lsb)?;
                        total_curr += b.u1()?;
                    }
                    if b.u1()? == 1 {
                        b.ue()?; // delta_poc_msb_cycle_lt
                    }
                }
            }
            if sps.temporal_mvp {
                temporal_mvp = b.u1()? == 1;
            }
        }
        let (mut sao_luma, mut sao_chroma) = (false, false);
        if sps.sao {
            sao_luma = b.u1()? == 1;
            if sps.chroma_array_type != 0 {
                sao_chroma = b.u1()? == 1;
            }
        }
        if !i_slice {
            let (mut l0, mut l1) = (pps.num_ref_idx_l0_default, pps.num_ref_idx_l1_default);
            if b.u1()? == 1 {
                l0 = ue_max(b, 14, "num_ref_idx_l0_active_minus1")? + 1;
                if b_slice {
                    l1 = ue_max(b, 14, "num_ref_idx_l1_active_minus1")? + 1;
                }
            }
            if pps.lists_modification_present && total_curr > 1 {
                let bits = ceil_log2(total_curr);
                if b.u1()? == 1 {
                    skip(b, bits * l0)?;
                }
                if b_slice && b.u1()? == 1 {
                    skip(b, bits * l1)?;
                }
            }
            if b_slice {
                b.u1()?; // mvd_l1_zero
            }
            if pps.cabac_init_present {
                b.u1()?;
            }
            if temporal_mvp {
                let from_l0 = !b_slice || b.u1()? == 1;
                if (from_l0 && l0 > 1) || (!from_l0 && l1 > 1) {
                    b.ue()?; // collocated_ref_idx
                }
            }
            if (pps.weighted_pred && !b_slice) || (pps.weighted_bipred && b_slice) {
                pred_weight_table(b, sps.chroma_array_type != 0, l0, b_slice.then_some(l1))?;
            }
            b.ue()?; // five_minus_max_num_merge_cand
        }
        b.se()?; // slice_qp_delta
        if pps.slice_chroma_qp_offsets_present {
            b.se()?;
            b.se()?;
        }
        if pps.chroma_qp_offset_list_enabled {
            b.u1()?; // cu_chroma_qp_offset_enabled
        }
        let mut override_ = false;
        if pps.deblocking_override_enabled {
            override_ = b.u1()? == 1;
        }
        let mut deblocking_disabled = pps.deblocking_disabled;
        if override_ {
            deblocking_disabled = b.u1()? == 1;
            if !deblocking_disabled {
                b.se()?;
                b.se()?;
            }
        }
        if pps.loop_filter_across_slices && (sao_luma || sao_chroma || !deblocking_disabled) {
            b.u1()?;
        }
        Ok(())
    }
}

fn pred_weight_table(b: &mut Bits, chroma: bool, l0: u32, l1: Option<u32>) -> Result<()> {
    b.ue()?; // luma_log2_weight_denom
    if chroma {
        b.se()?;
    }
    for n in std::iter::once(l0).chain(l1) {
        let mut luma = Vec::new();
        for _ in 0..n {
            luma.push(b.u1()? == 1);
        }
        let mut chroma_flags = vec![false; n as usize];
        if chroma {
            for f in chroma_flags.iter_mut() {
                *f = b.u1()? == 1;
            }
        }
        for (l, c) in luma.into_iter().zip(chroma_flags) {
            if l {
                b.se()?;
                b.se()?;
            }
            if c {
                for _ in 0..4 {
                    b.se()?;
                }
            }
        }
    }
    Ok(())
}

/// The clear and protected ranges of one HEVC video sample: each NAL unit's
/// length field, header and slice segment header clear, the rest of a slice
/// segment protected in whole 16-byte blocks, other NAL units clear. SPS and
/// PPS met in the sample update `ps`. For `cbcs` and `cenc` alike.
pub fn subsamples(
    sample: &[u8],
    len_size: usize,
    ps: &mut ParameterSets,
) -> crate::Result<Vec<(u16, u32)>> {
    let mut out: Vec<(u32, u32)> = Vec::new();
    let mut clear = 0u32;
    for (at, n) in crate::cenc::nal_units(sample, len_size)? {
        let nal = &sample[at..at + n];
        let total = (len_size + n) as u32;
        match nal_type(nal) {
            Some(t) if is_slice(t) => {
                let header = ps.slice_header_len(nal).or_else(|m| {
                    crate::err(*b"hvc1", format!("reading a slice segment header: {m}"))
                })?;
                let protected = (n.saturating_sub(header) / 16 * 16) as u32;
                clear += total - protected;
                if protected > 0 {
                    out.push((clear, protected));
                    clear = 0;
                }
            }
            _ => {
                ps.add(nal)
                    .or_else(|m| crate::err(*b"hvc1", format!("reading a parameter set: {m}")))?;
                clear += total;
            }
        }
    }
    if clear > 0 {
        out.push((clear, 0));
    }
    Ok(crate::cenc::fit_clear(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ceil_log2_matches_the_spec() {
        assert_eq!(ceil_log2(1), 0);
        assert_eq!(ceil_log2(2), 1);
        assert_eq!(ceil_log2(3), 2);
        assert_eq!(ceil_log2(4), 2);
        assert_eq!(ceil_log2(5), 3);
        // 640x360 in 64x64 CTBs: 10 x 6 = 60 -> 6 bits.
        assert_eq!(ceil_log2(60), 6);
    }

    #[test]
    fn hostile_bytes_give_errors_not_panics() {
        let mut ps = ParameterSets::default();
        assert!(ps.add(&[0x42, 0x01, 0xff]).is_err());
        assert!(ps.add(&[0x44, 0x01]).is_err());
        assert!(ps.slice_header_len(&[0x26, 0x01, 0xaf]).is_err());
        assert!(ParameterSets::from_hvcc(&[0; 10]).is_err());
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        for _ in 0..2000 {
            let mut v = vec![0u8; (seed % 40) as usize + 2];
            for b in v.iter_mut() {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                *b = seed as u8;
            }
            let _ = ps.add(&v);
            let _ = ps.slice_header_len(&v);
        }
    }
}
