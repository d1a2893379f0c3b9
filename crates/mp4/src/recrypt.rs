//! Operations on whole common-encryption segments beyond the first
//! encryption (`cenc::encrypt_segment`): a clear fragment under a protected
//! init segment (a scene policy's clear scenes), and moving a segment from
//! one key to another (`rekey`, a segment given a stronger scene's key).
//!
//! A clear fragment (ISO/IEC 23001-7 6, 9.1): its samples are mapped to a
//! `seig` entry with `isProtected = 0`, `Per_Sample_IV_Size = 0` and a zero
//! KID, and it has no `senc`, `saiz` or `saio`. The init segment stays
//! protected (`encv`/`enca`), so one init serves clear and protected
//! stretches, as DASH and HLS players expect.

use crate::cenc::{self, Scheme};
use crate::{err, InitSegment, MediaSegment, Result, Sbgp, Seig, Sgpd};

/// The `seig` entry of clear samples.
fn clear_seig() -> Seig {
    Seig {
        crypt_byte_block: 0,
        skip_byte_block: 0,
        is_protected: false,
        per_sample_iv_size: 0,
        kid: [0; 16],
        constant_iv: None,
    }
}

/// Whether track `id` is marked as encrypted in `init`.
fn protected(init: &InitSegment, id: u32) -> bool {
    init.moov
        .traks
        .iter()
        .find(|t| t.tkhd.track_id == id)
        .and_then(|t| t.entry())
        .and_then(|e| e.sinf())
        .is_some()
}

/// Marks every track fragment of the clear segment `seg` whose track is
/// protected in `init` as holding clear samples (a `seig` group with
/// `isProtected = 0`, no sample auxiliary information).
pub fn mark_clear(seg: &mut MediaSegment, init: &InitSegment) -> Result<()> {
    for traf in &mut seg.moof.trafs {
        let id = traf.tfhd.track_id;
        if init.moov.traks.iter().all(|t| t.tkhd.track_id != id) {
            return err(*b"tfhd", format!("track {id} is not in the init segment"));
        }
        traf.senc = None;
        traf.saiz = None;
        traf.saio = None;
        if protected(init, id) {
            traf.sgpd = Some(Sgpd {
                entries: vec![clear_seig()],
            });
            traf.sbgp = Some(Sbgp {
                entries: vec![(traf.trun.samples.len() as u32, 0x10001)],
            });
        } else {
            traf.sgpd = None;
            traf.sbgp = None;
        }
    }
    seg.moof.fix_offsets();
    Ok(())
}

/// Whether a track fragment's samples are clear by its `seig` group.
pub fn is_clear_fragment(traf: &crate::Traf) -> bool {
    traf.seig().is_some_and(|g| !g.is_protected)
}

/// Checks that `seg`, presented as clear (no key), really is under the
/// protected `init`: every fragment of a protected track says
/// `isProtected = 0` and carries no `senc`, `saiz` or `saio`. A segment
/// under a clear init needs nothing.
pub fn check_clear(seg: &MediaSegment, init: &InitSegment) -> Result<()> {
    for traf in &seg.moof.trafs {
        let id = traf.tfhd.track_id;
        if !protected(init, id) {
            continue;
        }
        if !is_clear_fragment(traf) {
            return err(
                *b"seig",
                format!("track {id}: the init segment protects it, and this fragment has no seig entry with isProtected 0, so players treat its samples as encrypted"),
            );
        }
        if traf.senc.is_some() || traf.saiz.is_some() || traf.saio.is_some() {
            return err(
                *b"senc",
                format!("track {id}: a clear fragment with sample encryption information"),
            );
        }
    }
    Ok(())
}

/// Removes the encryption boxes of every track fragment (after the samples
/// were decrypted in place), leaving `seg` as the muxer wrote it.
pub fn strip(seg: &mut MediaSegment) {
    for traf in &mut seg.moof.trafs {
        traf.senc = None;
        traf.saiz = None;
        traf.saio = None;
        traf.sgpd = None;
        traf.sbgp = None;
    }
    seg.moof.fix_offsets();
}

/// The key a segment moves to: key, KID, cbcs's constant IV.
pub struct Target<'a> {
    pub key: &'a [u8; 16],
    pub kid: [u8; 16],
    pub constant_iv: [u8; 16],
}

/// Moves `seg` (segment number `sequence`) to another key: its samples
/// decrypted with `old_key` (`None`: a clear fragment) as `old_init`
/// describes, then encrypted under `to` as `new_init` describes (the same
/// init, or one whose `tenc` names another default KID). The IVs are the
/// position-derived ones of `cenc::encrypt_segment`, so under the new key,
/// which no other segment position uses, none repeats. A track fragment
/// that had a `seig` group keeps one (naming the new KID even where it is
/// the default), so the segment's size does not change and the sizes and
/// bit rates recorded for it stay true.
pub fn reencrypt(
    seg: &mut MediaSegment,
    old_init: &InitSegment,
    old_key: Option<&[u8; 16]>,
    new_init: &InitSegment,
    scheme: Scheme,
    to: &Target,
    sequence: u64,
) -> Result<()> {
    let grouped: Vec<bool> = seg.moof.trafs.iter().map(|t| t.sgpd.is_some()).collect();
    match old_key {
        Some(k) => cenc::decrypt_segment(seg, old_init, k)?,
        None => check_clear(seg, old_init)?,
    }
    strip(seg);
    cenc::encrypt_segment(
        seg,
        new_init,
        scheme,
        to.key,
        to.kid,
        to.constant_iv,
        sequence,
    )?;
    for (traf, grouped) in seg.moof.trafs.iter_mut().zip(grouped) {
        if !grouped || traf.sgpd.is_some() {
            continue;
        }
        let id = traf.tfhd.track_id;
        let Some(tenc) = new_init
            .moov
            .traks
            .iter()
            .find(|t| t.tkhd.track_id == id)
            .and_then(|t| t.entry())
            .and_then(|e| e.sinf())
            .map(|s| &s.tenc)
        else {
            continue;
        };
        traf.sgpd = Some(Sgpd {
            entries: vec![Seig {
                crypt_byte_block: tenc.crypt_byte_block,
                skip_byte_block: tenc.skip_byte_block,
                is_protected: true,
                per_sample_iv_size: tenc.per_sample_iv_size,
                kid: to.kid,
                constant_iv: (scheme == Scheme::Cbcs).then_some(to.constant_iv),
            }],
        });
        traf.sbgp = Some(Sbgp {
            entries: vec![(traf.trun.samples.len() as u32, 0x10001)],
        });
    }
    seg.moof.fix_offsets();
    Ok(())
}

/// The default KID of every protected track of `init` (`tenc`), or `None`
/// for a clear init.
pub fn default_kid(init: &InitSegment) -> Option<[u8; 16]> {
    init.moov
        .traks
        .iter()
        .find_map(|t| t.entry().and_then(|e| e.sinf()).map(|s| s.tenc.kid))
}

/// Makes `kid` the default KID of every protected track of `init`.
pub fn set_default_kid(init: &mut InitSegment, kid: [u8; 16]) {
    for t in &mut init.moov.traks {
        if let Some(
            crate::SampleEntry::Visual {
                sinf: Some(sinf), ..
            }
            | crate::SampleEntry::Audio {
                sinf: Some(sinf), ..
            },
        ) = t.entry_mut()
        {
            sinf.tenc.kid = kid;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clear_seig_round_trips_without_a_constant_iv() {
        let sgpd = Sgpd {
            entries: vec![clear_seig()],
        };
        let bytes = crate::Mp4Box::to_bytes(&sgpd);
        let raw = crate::RawBox::parse_all(&bytes).unwrap();
        let back: Sgpd = raw[0].typed().unwrap();
        assert_eq!(back, sgpd);
        assert!(!back.entries[0].is_protected);
        assert_eq!(back.entries[0].constant_iv, None);
    }
}
