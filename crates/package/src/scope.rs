//! `--key-scope track-type` for the readers of a package (verify): which
//! track type's key a segment of the manifest is under.

use shieldpack_core::keys::TrackType;
use shieldpack_core::manifest::{Manifest, SegmentRecord};

/// The track type of the rendition that holds `record` (the same record, not
/// an equal one); `None` under the period scope.
pub fn track_of(m: &Manifest, record: &SegmentRecord) -> Option<TrackType> {
    if m.key_scope.is_period() {
        return None;
    }
    m.renditions
        .iter()
        .find(|r| r.segments.iter().any(|s| std::ptr::eq(s, record)))
        .and_then(|r| r.track_type)
}
