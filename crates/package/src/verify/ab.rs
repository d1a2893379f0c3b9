//! verify of an A/B package (`package --ab-watermark`): the playlist lists
//! variant a of every segment, so variant b would go unread. Each segment
//! the walk meets is followed by its other variants, checked as the same
//! segment would be: present at the manifest's size and hash, decrypted under
//! the same key with the variant's own IV (or the IVs in its `senc`),
//! parsed, and its video measured against the same EXTINF, so both variants
//! have the same cut and duration.

use shieldpack_core::error::Result;
use shieldpack_core::hls;
use shieldpack_core::manifest::{Manifest, SegmentRecord};

use super::{Checker, Walk};

/// A manifest record for every variant that no playlist lists (all but the
/// one the segment's own record names): the segment's record with the
/// variant's URI, size, hash and IV.
pub(super) fn twin_records(m: &Manifest) -> Vec<SegmentRecord> {
    m.segments()
        .flat_map(|r| {
            r.variants
                .iter()
                .filter(|v| v.uri != r.uri)
                .map(|v| SegmentRecord {
                    uri: v.uri.clone(),
                    size: v.size,
                    sha256: v.sha256.clone(),
                    iv: v.iv.clone(),
                    variants: Vec::new(),
                    ..r.clone()
                })
        })
        .collect()
}

/// The size each segment of `r` may take: the largest of its variants, since
/// a session may get either (BANDWIDTH must cover the larger).
pub(super) fn largest_size(r: &SegmentRecord) -> u64 {
    r.variants.iter().map(|v| v.size).fold(r.size, u64::max)
}

impl Walk<'_> {
    /// After the segment at `uri` (listed at `rel` with `seg`, under `key`,
    /// number `sequence`): its other A/B variants, if it has any.
    pub(super) fn twins(
        &mut self,
        c: &mut Checker,
        rel: &str,
        uri: &str,
        seg: &hls::MediaSegment,
        key: Option<&hls::Key>,
        sequence: u64,
    ) -> Result<()> {
        let Some(r) = self.records.get(uri).copied() else {
            return Ok(());
        };
        let others: Vec<(String, Option<String>)> = r
            .variants
            .iter()
            .filter(|v| v.uri != r.uri)
            .map(|v| (v.uri.clone(), v.iv.clone()))
            .collect();
        for (vuri, viv) in others {
            let twin = hls::MediaSegment {
                uri: vuri.clone(),
                key: None,
                extra_keys: Vec::new(),
                ..seg.clone()
            };
            // The same key line with the variant's IV; common encryption
            // keeps its IVs in the segment, and the tag has none.
            let mut k = key.cloned();
            if let Some(k) = k.as_mut().filter(|k| k.iv.is_some() || viv.is_some()) {
                k.iv = match viv.as_deref().map(hex::decode) {
                    Some(Ok(b)) if b.len() == 16 => b.try_into().ok(),
                    Some(_) => {
                        c.defect(&vuri, "its IV in manifest.json is not 32 hex digits");
                        continue;
                    }
                    None => None,
                };
            }
            self.segment(c, rel, &vuri, &twin, k.as_ref(), sequence)?;
            // The title lasts as long with either variant.
            c.report.duration -= seg.duration;
        }
        Ok(())
    }
}
