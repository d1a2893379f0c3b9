//! verify of a `--drm` cmaf package's `pssh` boxes: a player asks a
//! system's license server for the KIDs its `pssh` names, so a box that
//! misses a key period's KID (say, one left from before a `rekey`) stalls
//! playback at that period. `drmwire` puts one box per system (FairPlay has
//! none) in each rendition's `init.mp4`, naming every KID the rendition's
//! segments are encrypted under; this checks that against the manifest.

use shieldpack_core::drm::{self, DrmSystem};
use shieldpack_core::manifest::DrmRecord;
use shieldpack_mp4::InitSegment;

use super::Checker;

/// Checks `init` (at `uri`) against the systems `drm` records and the KIDs
/// its playlist's segments use, in the order they first appear.
pub(super) fn check(
    c: &mut Checker,
    uri: &str,
    init: &InitSegment,
    drm: &DrmRecord,
    kids: &[[u8; 16]],
) {
    if kids.is_empty() {
        // A clear rendition (every scene clear): nothing to license.
        return;
    }
    let boxes: Vec<Vec<u8>> = init
        .moov
        .pssh
        .iter()
        .map(|b| {
            let mut whole = Vec::with_capacity(b.body.len() + 8);
            b.write(&mut whole);
            whole
        })
        .collect();
    for name in &drm.systems {
        let Ok(system) = DrmSystem::parse(name) else {
            c.defect(
                "manifest.json",
                format!("drm.systems names '{name}', which is not a DRM system shieldpack signals"),
            );
            continue;
        };
        if system == DrmSystem::FairPlay {
            // FairPlay is signalled in EXT-X-KEY alone.
            continue;
        }
        let id = system.system_id();
        let mut theirs = boxes.iter().filter(|b| b.len() >= 28 && b[12..28] == id);
        let Some(b) = theirs.next() else {
            c.defect(
                uri,
                format!(
                    "has no pssh box for {name} (system {}), which manifest.json records in drm.systems: players will not find its license; repackage, or `rekey` to write the signalling again",
                    drm::uuid(&id)
                ),
            );
            continue;
        };
        if theirs.next().is_some() {
            c.defect(uri, format!("has more than one pssh box for {name}"));
        }
        let Some((_, named)) = drm::pssh_kids(b) else {
            c.defect(
                uri,
                format!("its pssh box for {name} does not parse (box or system data damaged)"),
            );
            continue;
        };
        if drm.cpix_pssh {
            // A DRM provider's own pssh data, from its CPIX document: it
            // need not list KIDs in a form shieldpack reads.
            continue;
        }
        let missing: Vec<String> = kids
            .iter()
            .filter(|k| !named.contains(k))
            .map(hex::encode)
            .collect();
        if !missing.is_empty() {
            c.defect(
                uri,
                format!(
                    "its pssh box for {name} does not name KID {} that segments of this rendition are encrypted under: a license for those segments would not be requested; `rekey` writes the signalling again",
                    missing.join(", ")
                ),
            );
        }
    }
}
