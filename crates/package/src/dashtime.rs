//! Each CMAF track's own times for the MPD's SegmentTimeline: the track's
//! timescale (`mdhd` of its `init.mp4`) and, per segment, its earliest
//! presentation time and duration in that timescale, read from the segment's
//! `moof` (`tfdt` + `trun`). DASH addresses media by these numbers (ISO/IEC
//! 23009-1 5.3.9.6: `S@t` is the segment's earliest presentation time in
//! `@timescale` units), so they must be the ones in the boxes, not
//! milliseconds rounded from seconds: 25 fps video at 12800 units and AAC at
//! 48000 have no whole-millisecond frame boundaries.
//!
//! Only each segment's header is read (up to the end of its `moof`), so the
//! cost is a few kilobytes per segment whatever the bitrate.

use std::io::Read as _;
use std::path::{Path, PathBuf};

use shieldpack_core::error::{Error, Result};
use shieldpack_mp4 as mp4;

/// A track's timescale and its segments' (earliest presentation time,
/// duration), in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrackTimes {
    pub timescale: u32,
    pub segments: Vec<(u64, u64)>,
}

fn bad(path: &Path, what: impl std::fmt::Display) -> Error {
    Error::invalid_file(
        path,
        format!("cannot read its times for the MPD: {what}"),
        "this is a file shieldpack just wrote; please report this bug",
    )
}

/// The `moof` of the fMP4 segment at `path`, read box by box from its start.
fn moof_of(path: &Path) -> Result<mp4::Moof> {
    let mut f = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    loop {
        let mut head = [0u8; 8];
        f.read_exact(&mut head).map_err(|e| bad(path, e))?;
        let size = u32::from_be_bytes([head[0], head[1], head[2], head[3]]) as usize;
        if size < 8 {
            return Err(bad(path, "a box size below 8 before the moof"));
        }
        let mut body = vec![0u8; size - 8];
        if &head[4..] == b"moof" {
            f.read_exact(&mut body).map_err(|e| bad(path, e))?;
            let mut whole = head.to_vec();
            whole.extend(body);
            let boxes = mp4::RawBox::parse_all(&whole).map_err(|e| bad(path, e))?;
            return boxes[0].typed::<mp4::Moof>().map_err(|e| bad(path, e));
        }
        if &head[4..] == b"mdat" {
            return Err(bad(path, "an mdat before any moof"));
        }
        f.read_exact(&mut body).map_err(|e| bad(path, e))?;
    }
}

/// The times of the track whose init segment is `init_path` and whose
/// media segments are `segments`, in order.
pub fn read(init_path: &Path, segments: &[PathBuf]) -> Result<TrackTimes> {
    let init = std::fs::read(init_path).map_err(|e| Error::io(init_path, e))?;
    let init = mp4::InitSegment::parse(&init).map_err(|e| bad(init_path, e))?;
    let timescale = init
        .moov
        .traks
        .first()
        .map(|t| t.mdia.mdhd.timescale)
        .filter(|&t| t > 0)
        .ok_or_else(|| bad(init_path, "no track with a timescale"))?;
    let paths = segments;
    let mut segments = Vec::with_capacity(paths.len());
    for path in paths {
        let moof = moof_of(path)?;
        let traf = moof
            .trafs
            .first()
            .ok_or_else(|| bad(path, "a moof without a traf"))?;
        let decode = traf.tfdt.base_media_decode_time;
        let mut dts = decode as i128;
        let mut earliest: Option<i128> = None;
        for s in &traf.trun.samples {
            let pts = dts + i128::from(s.composition_offset);
            earliest = Some(earliest.map_or(pts, |e| e.min(pts)));
            dts += i128::from(s.duration);
        }
        let duration = (dts - decode as i128) as u64;
        let ept = earliest.unwrap_or(decode as i128).max(0) as u64;
        segments.push((ept, duration));
    }
    // Each segment lasts until the next one's earliest presentation time,
    // so the timeline has no gaps from composition offsets; the last keeps
    // its decode duration.
    for i in 0..segments.len().saturating_sub(1) {
        let next = segments[i + 1].0;
        if next > segments[i].0 {
            segments[i].1 = next - segments[i].0;
        }
    }
    Ok(TrackTimes {
        timescale,
        segments,
    })
}
