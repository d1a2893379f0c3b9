//! `--drm` in cmaf packages: each DRM system's signalling (built by
//! `shieldpack_core::drm`) written where its players look for it.
//!
//! - `init.mp4`: one `pssh` box per system (FairPlay has none) naming the
//!   KIDs of every key period of the rendition. ISO/IEC 23001-7 8.1 allows
//!   `pssh` in `moov` (for the whole presentation) or in `moof` (for one
//!   fragment); a VOD package knows all its KIDs when it is finished, so the
//!   init segment carries them all and one license request (Widevine and
//!   PlayReady license several KIDs at once) covers every period, with no
//!   mid-stream license exchange. The segments' `seig` groups already say
//!   which KID each one is under. The init segment is therefore written again,
//!   with the boxes, once the rendition's segments are cut.
//! - HLS: beside the `identity` EXT-X-KEY (Clear Key), one EXT-X-KEY per further
//!   system with its KEYFORMAT, KEYFORMATVERSIONS and the segment's KEYID, at
//!   every key change.
//! - DASH: one `ContentProtection` per system with `cenc:default_KID` and the
//!   `pssh` (`Mpd.extra_protection`).
//!
//! Nothing here handles a content key: KIDs and URIs are public.

use std::path::Path;

use shieldpack_core::drm::{self, DrmSystem};
use shieldpack_core::error::{Error, Result};
use shieldpack_core::fsutil;
use shieldpack_core::hls::{Key, KeyMethod, MediaSegment};
use shieldpack_core::keys::{cpix::DrmSystemData, Keyring};
use shieldpack_core::manifest::SegmentRecord;
use shieldpack_mp4 as mp4;

use crate::Options;

/// Whether the package signals DRM systems: `--drm` given and samples
/// encrypted with common encryption.
pub(crate) fn active(o: &Options, keyring: Option<&Keyring>) -> bool {
    !o.drm.is_empty()
        && keyring.is_some()
        && (o.scheme.common().is_some() || o.scheme == crate::cmaf::Scheme::SampleAes)
}

fn provided(keyring: Option<&Keyring>) -> &[DrmSystemData] {
    keyring
        .and_then(Keyring::provided)
        .map_or(&[], |c| c.drm.as_slice())
}

fn kid_of(rec: &SegmentRecord) -> Option<[u8; 16]> {
    let mut k = [0u8; 16];
    hex::decode_to_slice(rec.kid.as_deref()?, &mut k).ok()?;
    Some(k)
}

/// The KIDs the segments are encrypted under, each once, in order.
pub(crate) fn kids(records: &[SegmentRecord]) -> Vec<[u8; 16]> {
    let mut out: Vec<[u8; 16]> = Vec::new();
    for k in records.iter().filter_map(kid_of) {
        if !out.contains(&k) {
            out.push(k);
        }
    }
    out
}

/// Each system's `pssh` box for `kids` (a provider's from its CPIX when it
/// sent one).
pub(crate) fn pssh_boxes(
    o: &Options,
    keyring: Option<&Keyring>,
    kids: &[[u8; 16]],
) -> Vec<Vec<u8>> {
    o.drm
        .iter()
        .filter_map(|s| drm::pssh_for(*s, kids, &o.drm_options, provided(keyring)))
        .collect()
}

/// Writes the rendition's signalling: `init.mp4` again with the `pssh`
/// boxes, and the further EXT-X-KEY lines into `playlist`.
pub(crate) fn finish_rendition(
    o: &Options,
    keyring: Option<&Keyring>,
    rdir: &Path,
    init: Option<&mp4::InitSegment>,
    records: &[SegmentRecord],
    playlist: &mut [MediaSegment],
) -> Result<()> {
    let path = rdir.join("init.mp4");
    let Some(init) = init else {
        // TS SAMPLE-AES: no init segment, the playlist's key lines only.
        add_hls_keys(o, keyring, records, playlist);
        return Ok(());
    };
    let mut init = init.clone();
    for b in pssh_boxes(o, keyring, &kids(records)) {
        let boxes = mp4::RawBox::parse_all(&b).map_err(|e| {
            Error::invalid_file(
                &path,
                format!("a DRM system's pssh box does not parse: {e}"),
                "if it came from --cpix, check the provider's PSSH; else please report this bug",
            )
        })?;
        init.moov.pssh.extend(boxes);
    }
    fsutil::write_file(&path, &init.to_bytes())?;
    add_hls_keys(o, keyring, records, playlist);
    Ok(())
}

/// Adds KEYID to each identity EXT-X-KEY and, after it, one line per
/// further system for the same key.
fn add_hls_keys(
    o: &Options,
    keyring: Option<&Keyring>,
    records: &[SegmentRecord],
    playlist: &mut [MediaSegment],
) {
    for (seg, rec) in playlist.iter_mut().zip(records) {
        let (Some(key), Some(kid)) = (seg.key.as_mut(), kid_of(rec)) else {
            continue;
        };
        let method = match key.method {
            KeyMethod::SampleAes => "SAMPLE-AES",
            KeyMethod::SampleAesCtr => "SAMPLE-AES-CTR",
            _ => continue,
        };
        key.keyid = Some(kid);
        key.keyformatversions = Some("1".into());
        let uri = key.uri.clone().unwrap_or_default();
        for &sys in &o.drm {
            let attrs = match sys {
                // The identity line is Clear Key's.
                DrmSystem::ClearKey => None,
                DrmSystem::FairPlay => drm::fairplay_uri(&kid, &o.drm_options, provided(keyring))
                    .map(|u| {
                        format!("METHOD=SAMPLE-AES,URI=\"{u}\",KEYFORMAT=\"com.apple.streamingkeydelivery\",KEYFORMATVERSIONS=\"1\"")
                    }),
                _ => drm::hls_key_attrs(sys, method, &kid, &uri, &o.drm_options),
            };
            // The attribute lists are built from checked parts; one that
            // does not parse would be a bug, and is left out rather than
            // written broken.
            if let Some(k) = attrs.and_then(|a| Key::parse_attrs(&a).ok()) {
                seg.extra_keys.push(k);
            }
        }
    }
}

/// The MPD's `ContentProtection` elements, one per system with DASH
/// signalling, for a rendition's segments.
pub(crate) fn mpd_protection(
    o: &Options,
    keyring: Option<&Keyring>,
    records: &[SegmentRecord],
) -> Vec<String> {
    if !active(o, keyring) {
        return Vec::new();
    }
    let kids = kids(records);
    let Some(default_kid) = kids.first() else {
        return Vec::new();
    };
    o.drm
        .iter()
        .map(|&s| {
            let pssh = drm::pssh_for(s, &kids, &o.drm_options, provided(keyring));
            drm::dash_content_protection(s, default_kid, pssh.as_deref(), &o.drm_options)
        })
        .filter(|e| !e.is_empty())
        .collect()
}
