//! I-frame playlists for CMAF (fragmented MP4) renditions: the fMP4 side of
//! `iframes` (RFC 8216 4.3.3.6 EXT-X-I-FRAMES-ONLY, 4.3.4.3
//! EXT-X-I-FRAME-STREAM-INF; Apple's HLS authoring specification wants them
//! for trick play).
//!
//! shieldpack writes one `moof` + `mdat` per CMAF segment, cut at a keyframe,
//! so a segment's keyframe is its fragment's first sample. An entry is an
//! EXT-X-BYTERANGE into `seg_NNNNN.m4s` from the `moof` through the `mdat`
//! header to the end of that sample (the `trun` gives its data offset and
//! size), under an EXT-X-MAP of the rendition's `init.mp4`: the player
//! appends init + range and has one decodable picture. The `mdat` header
//! in the range still counts the whole fragment's samples; players (and
//! FFmpeg) read the samples the range holds.
//!
//! One entry per segment: a keyframe inside a segment (a scene cut between
//! the grid's cuts) is left out, since a range from the `moof` to it would
//! carry every sample before it. Its EXTINF is the segment's, the time
//! until the next entry's keyframe.
//!
//! Common encryption (`cbcs`, `cenc`) encrypts each sample on its own (the
//! IVs and subsample maps are in the `moof`'s `senc`, a cbcs constant IV in
//! `init.mp4`'s `tenc`), so a range decrypts on its own under the segment's
//! EXT-X-KEY lines (SAMPLE-AES / SAMPLE-AES-CTR with their KEYFORMATs),
//! repeated before the entries they apply to. Whole-segment AES-128 chains
//! CBC through the segment, so an AES-128 rendition gets none, as in TS.

use std::fmt::Write as _;
use std::path::Path;

use shieldpack_core::error::{Error, Result};
use shieldpack_core::hls::KeyMethod;
use shieldpack_mp4 as mp4;
use shieldpack_mp4::Mp4Box as _;

/// `sample_is_non_sync_sample` of ISO/IEC 14496-12 8.8.3.1's sample flags.
const NON_SYNC: u32 = 0x0001_0000;

/// How much of a segment `write` and `check` read: its `styp`, `moof` and
/// `mdat` header take a few KiB. A fragment that does not fit is read whole
/// (`first_sample_of`); reading every segment whole read the video twice
/// more after packaging (about 10% of `package --format cmaf`'s CPU).
const HEAD: u64 = 64 * 1024;

/// The first `HEAD` bytes of the file at `path` (all of it when shorter)
/// and its length.
pub(super) fn read_head(path: &Path) -> std::io::Result<(Vec<u8>, u64)> {
    use std::io::Read as _;
    let file = std::fs::File::open(path)?;
    let len = file.metadata()?.len();
    let mut head = Vec::with_capacity(HEAD.min(len) as usize);
    file.take(HEAD).read_to_end(&mut head)?;
    // A file that changed under us: what was read is all there is.
    let len = if (head.len() as u64) < HEAD.min(len) {
        head.len() as u64
    } else {
        len
    };
    Ok((head, len))
}

/// `first_sample` of the file at `path`, `len` bytes long, of which `head`
/// are the first: from `head` when it holds what is needed, else from the
/// whole file, so the answer (and any error) is the whole file's.
fn first_sample_of(
    path: &Path,
    head: &[u8],
    len: u64,
    at: usize,
    trex_flags: u32,
) -> std::result::Result<(u64, bool), String> {
    match first_sample(head, len, at, trex_flags) {
        Err(_) if (head.len() as u64) < len => {
            let whole = std::fs::read(path).map_err(|e| format!("cannot be read: {e}"))?;
            first_sample(&whole, whole.len() as u64, at, trex_flags)
        }
        r => r,
    }
}

/// The fragment whose `moof` starts at `at` in a segment `len` bytes long
/// whose first bytes are `bytes`: where its first sample's bytes end (from
/// the start of the file) and whether that sample is a sync sample.
/// `trex_flags` is the init segment's default sample flags, for a `trun`
/// and `tfhd` that give none. Err says why the bytes at `at` are not such a
/// fragment, or that `bytes` stop before its `moof` and `mdat` header do.
pub(super) fn first_sample(
    bytes: &[u8],
    len: u64,
    at: usize,
    trex_flags: u32,
) -> std::result::Result<(u64, bool), String> {
    let (moof_body, moof_end) = box_at(bytes, len, at, b"moof")?;
    if moof_end > bytes.len() {
        return Err(format!(
            "its moof ends at {moof_end}, past the {} bytes read",
            bytes.len()
        ));
    }
    let moof = mp4::Moof::parse_body(&mut mp4::Reader::new(&bytes[moof_body.clone()], *b"moof"))
        .map_err(|e| e.to_string())?;
    let traf = moof.trafs.first().ok_or("its moof has no traf")?;
    let sample = traf
        .trun
        .samples
        .first()
        .ok_or("its trun lists no sample")?;
    // The parser leaves flags at 0 when the trun gives none: then the
    // tfhd's defaults apply, else the trex's.
    let flags = if trun_has_flags(&bytes[moof_body]) {
        sample.flags
    } else {
        traf.tfhd.default_sample_flags.unwrap_or(trex_flags)
    };
    let size = if sample.size == 0 && traf.trun.samples.len() == 1 {
        traf.tfhd.default_sample_size.unwrap_or(0)
    } else {
        sample.size
    };
    // Offsets count from the moof (default-base-is-moof, or the first traf
    // without a base offset) unless the tfhd names a base.
    // (i128: a hostile base offset cannot overflow.)
    let base = i128::from(traf.tfhd.base_data_offset.unwrap_or(at as u64));
    let start = base + i128::from(traf.trun.data_offset);
    let end = start + i128::from(size);
    let (mdat_body, _) =
        box_at(bytes, len, moof_end, b"mdat").map_err(|e| format!("after its moof: {e}"))?;
    if size == 0 || start < mdat_body.start as i128 || end > mdat_body.end as i128 {
        return Err(format!(
            "its first sample ({size} bytes at {start}) lies outside the mdat after the moof"
        ));
    }
    Ok((end as u64, flags & NON_SYNC == 0))
}

/// The box of type `want` starting at `at` in a file `len` bytes long whose
/// first bytes are `bytes` (its header among them): its body and where it
/// ends.
fn box_at(
    bytes: &[u8],
    len: u64,
    at: usize,
    want: &[u8; 4],
) -> std::result::Result<(std::ops::Range<usize>, usize), String> {
    let head = bytes
        .get(at..at + 8)
        .ok_or_else(|| format!("no box at offset {at}: the file has {len} bytes"))?;
    let size = u64::from(u32::from_be_bytes(head[..4].try_into().expect("4 bytes")));
    let kind: [u8; 4] = head[4..8].try_into().expect("4 bytes");
    if &kind != want {
        return Err(format!(
            "offset {at} holds '{}', not a {} box",
            mp4::fourcc_str(kind),
            mp4::fourcc_str(*want)
        ));
    }
    let (size, header) = match size {
        1 => {
            let large = bytes
                .get(at + 8..at + 16)
                .ok_or("its largesize is cut off")?;
            (u64::from_be_bytes(large.try_into().expect("8 bytes")), 16)
        }
        0 => (len.saturating_sub(at as u64), 8),
        s => (s, 8),
    };
    let end = (at as u64).saturating_add(size);
    if size < header as u64 || end > len {
        return Err(format!(
            "the {} box at {at} says {size} bytes, the file has {} from there",
            mp4::fourcc_str(*want),
            len.saturating_sub(at as u64)
        ));
    }
    Ok((at + header..end as usize, end as usize))
}

/// Whether the first traf's trun of a moof body gives its first sample's
/// flags (first-sample-flags-present 0x004 or sample-flags-present 0x400).
fn trun_has_flags(moof_body: &[u8]) -> bool {
    let find = |data: &[u8], t: &[u8; 4]| {
        mp4::RawBox::spans(data)
            .ok()?
            .into_iter()
            .find(|(k, _, _)| k == t)
            .map(|(_, body, _)| body)
    };
    let Some(traf) = find(moof_body, b"traf") else {
        return false;
    };
    let Some(trun) = find(&moof_body[traf.clone()], b"trun") else {
        return false;
    };
    moof_body[traf]
        .get(trun.start + 1..trun.start + 4)
        .is_some_and(|f| f[1] & 0x04 != 0 || f[2] & 0x04 != 0)
}

/// The default sample flags of the first `trex` of an init segment (0 when
/// it cannot be read: every sample a sync sample unless the fragment says).
fn trex_flags(init: &[u8]) -> u32 {
    mp4::InitSegment::parse(init)
        .ok()
        .and_then(|i| i.moov.mvex.trex.first().map(|t| t.default_sample_flags))
        .unwrap_or(0)
}

/// Where the first `moof` of a segment starts, from the box headers in its
/// first bytes (after its `styp`).
fn first_moof(bytes: &[u8]) -> Option<usize> {
    let mut at = 0usize;
    while let Some(h) = bytes.get(at..at + 8) {
        if &h[4..8] == b"moof" {
            return Some(at);
        }
        let size = match u32::from_be_bytes(h[..4].try_into().expect("4 bytes")) {
            1 => u64::from_be_bytes(bytes.get(at + 8..at + 16)?.try_into().expect("8 bytes")),
            s if s >= 8 => u64::from(s),
            _ => return None,
        };
        at = at.checked_add(usize::try_from(size).ok()?)?;
    }
    None
}

/// Writes `rdir/iframes.m3u8` for the CMAF rendition whose `index.m3u8` is
/// in `rdir` and returns its EXT-X-I-FRAME-STREAM-INF line for the master,
/// or `None` for an AES-128 rendition or when a segment's fragment does not
/// start with a sync sample.
pub fn write(
    rdir: &Path,
    uri_prefix: &str,
    resolution: Option<(u32, u32)>,
    codecs: Option<&str>,
) -> Result<Option<String>> {
    let (text, playlist) = super::own_playlist(rdir)?;
    let Some(map) = playlist.map.clone() else {
        return Ok(None);
    };
    if playlist
        .effective_keys()
        .iter()
        .any(|k| k.is_some_and(|k| k.method == KeyMethod::Aes128))
    {
        return Ok(None);
    }
    let init_path = rdir.join(&map);
    let init = std::fs::read(&init_path).map_err(|e| Error::io(&init_path, e))?;
    let defaults = trex_flags(&init);
    let keys = super::key_lines(&text);
    let mut body = String::new();
    let mut peak = 0f64;
    let mut longest = 0f64;
    let mut in_force: &[String] = &[];
    for s in &playlist.segments {
        let path = rdir.join(&s.uri);
        let (head, len) = read_head(&path).map_err(|e| Error::io(&path, e))?;
        let Some(at) = first_moof(&head) else {
            return Ok(None);
        };
        let Ok((end, true)) = first_sample_of(&path, &head, len, at, defaults) else {
            return Ok(None);
        };
        let length = end - at as u64;
        let d = s.duration;
        if d <= 0.0 {
            return Ok(None);
        }
        let lines = keys.get(s.uri.as_str()).map_or(&[][..], Vec::as_slice);
        if lines != in_force {
            for l in lines {
                body.push_str(l);
                body.push('\n');
            }
            in_force = lines;
        }
        longest = longest.max(d);
        peak = peak.max(length as f64 * 8.0 / d);
        let _ = writeln!(
            body,
            "#EXTINF:{d:.3},\n#EXT-X-BYTERANGE:{length}@{at}\n{}",
            s.uri
        );
    }
    if body.is_empty() {
        return Ok(None);
    }
    let mut out = String::from("#EXTM3U\n");
    // EXT-X-MAP in an I-frame playlist needs version 5, KEYFORMAT too
    // (RFC 8216 7); keep the media playlist's when higher.
    let _ = writeln!(out, "#EXT-X-VERSION:{}", playlist.version.max(5));
    let _ = writeln!(out, "#EXT-X-TARGETDURATION:{}", longest.round().max(1.0));
    out.push_str("#EXT-X-MEDIA-SEQUENCE:0\n#EXT-X-PLAYLIST-TYPE:VOD\n#EXT-X-I-FRAMES-ONLY\n");
    let _ = writeln!(out, "#EXT-X-MAP:URI=\"{map}\"");
    out.push_str(&body);
    out.push_str("#EXT-X-ENDLIST\n");
    shieldpack_core::fsutil::write_file(&rdir.join(super::PLAYLIST), out.as_bytes())?;
    Ok(Some(super::stream_inf(
        peak, resolution, codecs, uri_prefix,
    )))
}

/// The fMP4 EXT-X-MAP URI of an I-frame playlist's text: a map with no
/// BYTERANGE (a TS playlist's map is a range of its first segment).
pub(super) fn map_uri(text: &str) -> Option<&str> {
    let attrs = text.lines().find_map(|l| l.strip_prefix("#EXT-X-MAP:"))?;
    if attrs.contains("BYTERANGE=") {
        return None;
    }
    attrs.split("URI=\"").nth(1)?.split('"').next()
}

/// `verify`'s checks of a CMAF I-frame playlist (`text`, in `dir`): its map
/// is readable, and each range lies in its file, starts at a `moof` and
/// holds the whole first sample of that fragment, a sync sample.
pub(super) fn check(dir: &Path, text: &str, map: &str, defect: &mut dyn FnMut(String)) {
    if map.contains("..") || map.contains('/') {
        return defect(format!(
            "EXT-X-MAP {map} names a file outside the rendition"
        ));
    }
    let defaults = match std::fs::read(dir.join(map)) {
        Ok(b) => trex_flags(&b),
        Err(e) => return defect(format!("EXT-X-MAP {map} cannot be read: {e}")),
    };
    super::check_ranges(
        dir,
        text,
        defect,
        read_head,
        |_| (),
        |line, len, off, (bytes, flen), _, defect| {
            match first_sample_of(&dir.join(line), bytes, flen, off as usize, defaults) {
            Err(why) => defect(format!(
                "{line}: range {len}@{off} does not start at a fragment's moof: {why}"
            )),
            Ok((_, false)) => defect(format!(
                "{line}: range {len}@{off}: the fragment's first sample is not a sync sample"
            )),
            Ok((end, true)) if off + len < end => defect(format!(
                "{line}: range {len}@{off} ends at {}, before the end of the fragment's first sample ({end})",
                off + len
            )),
            Ok(_) => {}
        }
        },
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    /// styp, then a moof whose one traf lists a sync sample of 5 bytes and
    /// a non-sync one of 3, then their mdat.
    fn segment(first_flags: u32) -> (Vec<u8>, usize) {
        segment_with(first_flags, None)
    }

    fn segment_with(first_flags: u32, base_data_offset: Option<u64>) -> (Vec<u8>, usize) {
        let mut moof = mp4::Moof {
            mfhd: mp4::Mfhd { sequence: 1 },
            trafs: vec![mp4::Traf {
                tfhd: mp4::Tfhd {
                    base_data_offset,
                    ..mp4::Tfhd::new(1)
                },
                tfdt: mp4::Tfdt {
                    base_media_decode_time: 0,
                },
                trun: mp4::Trun {
                    data_offset: 0,
                    samples: vec![
                        mp4::TrunSample {
                            duration: 512,
                            size: 5,
                            flags: first_flags,
                            composition_offset: 0,
                        },
                        mp4::TrunSample {
                            duration: 512,
                            size: 3,
                            flags: mp4::NON_SYNC_SAMPLE,
                            composition_offset: 0,
                        },
                    ],
                },
                sbgp: None,
                sgpd: None,
                saiz: None,
                saio: None,
                senc: None,
            }],
        };
        moof.fix_offsets();
        let styp = mp4::Styp(mp4::Brands {
            major: *b"msdh",
            minor: 0,
            compatible: vec![*b"msdh"],
        });
        let seg = mp4::MediaSegment {
            styp: Some(styp),
            moof,
            mdat: mp4::Mdat {
                data: vec![1, 2, 3, 4, 5, 6, 7, 8],
            },
        };
        let bytes = seg.to_bytes();
        let at = first_moof(&bytes).expect("a moof");
        (bytes, at)
    }

    #[test]
    fn the_first_sample_ends_after_the_mdat_header_and_its_bytes() {
        let (bytes, at) = segment(mp4::SYNC_SAMPLE);
        let (end, sync) = first_sample(&bytes, bytes.len() as u64, at, 0).expect("a fragment");
        assert!(sync);
        // The last 8 bytes are the samples: the first sample is 5 of them.
        assert_eq!(end as usize, bytes.len() - 3);
        assert_eq!(&bytes[end as usize - 5..end as usize], &[1, 2, 3, 4, 5]);
    }

    #[test]
    fn a_non_sync_first_sample_or_a_range_off_the_moof_is_told() {
        let (bytes, at) = segment(mp4::NON_SYNC_SAMPLE);
        assert_eq!(
            first_sample(&bytes, bytes.len() as u64, at, 0).map(|r| r.1),
            Ok(false)
        );
        let e = first_sample(&bytes, bytes.len() as u64, at + 1, 0).unwrap_err();
        assert!(e.contains("not a moof"), "{e}");
        let e = first_sample(&bytes, bytes.len() as u64, 0, 0).unwrap_err();
        assert!(e.contains("'styp'"), "{e}");
    }

    #[test]
    fn what_a_head_cannot_tell_is_read_from_the_whole_file() {
        let (bytes, at) = segment(mp4::SYNC_SAMPLE);
        let whole = first_sample(&bytes, bytes.len() as u64, at, 0).expect("a fragment");
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("seg_00000.m4s");
        std::fs::write(&path, &bytes).unwrap();
        // All of it read (a short file), and only as far as the mdat header.
        let (head, len) = read_head(&path).unwrap();
        assert_eq!(
            (head.len() as u64, len),
            (bytes.len() as u64, bytes.len() as u64)
        );
        let mdat_header_end = bytes.len() - 8;
        assert_eq!(
            first_sample(&bytes[..mdat_header_end], len, at, 0),
            Ok(whole)
        );
        assert_eq!(first_moof(&bytes[..at + 8]), Some(at));
        // A head that stops inside the moof, or inside the mdat header:
        // no answer from it, the whole file's from `first_sample_of`.
        for cut in [at + 8, at + 20, mdat_header_end - 4] {
            let part = &bytes[..cut];
            assert!(first_sample(part, len, at, 0).is_err(), "cut at {cut}");
            assert_eq!(first_sample_of(&path, part, len, at, 0), Ok(whole));
        }
        // The whole file's errors, not the head's.
        let e = first_sample_of(&path, &bytes[..at + 20], len, at + 1, 0).unwrap_err();
        assert!(e.contains("not a moof"), "{e}");
    }

    #[test]
    fn a_base_offset_far_outside_the_file_is_told_not_a_panic() {
        for base in [u64::MAX, i64::MAX as u64, 1 << 40] {
            let (bytes, at) = segment_with(mp4::SYNC_SAMPLE, Some(base));
            let e = first_sample(&bytes, bytes.len() as u64, at, 0).unwrap_err();
            assert!(e.contains("outside the mdat"), "{e}");
        }
    }
}
