//! I-frame playlists (RFC 8216 4.3.3.6, 4.3.4.3) for clear MPEG-TS
//! renditions: `iframes.m3u8` beside a rendition's `index.m3u8`, one
//! EXT-X-BYTERANGE per keyframe into the segments already written, and an
//! EXT-X-I-FRAME-STREAM-INF line for it in the master playlist.
//!
//! The segments are read back after they are written, so what the playlist
//! names is what the files hold. A range starts at the TS packet that starts
//! the keyframe's PES and ends where the next video PES starts (or the
//! segment ends): the audio packets between come along, which players skip.
//! Every segment starts with its PAT and PMT, the media initialization
//! section of a TS (RFC 8216 3); the first segment's is named by EXT-X-MAP,
//! so every range decodes on its own and in any order.
//!
//! Whole-segment AES-128 allows no range into a segment (the CBC chain runs
//! through it), so AES-128 renditions get none. SAMPLE-AES leaves the TS
//! structure clear and restarts CBC at every NAL unit from the segment's IV,
//! so a range holding a keyframe's PES decrypts on its own: SAMPLE-AES
//! renditions get I-frame playlists too, each range under the EXT-X-KEY
//! lines (method, URI, IV, KEYFORMATs) its segment has in `index.m3u8`.
//!
//! CMAF renditions get theirs from [`cmaf`]: a range per fragment, from its
//! `moof` to the end of its keyframe.

use std::fmt::Write as _;
use std::path::Path;

use shieldpack_core::error::{Error, Result};
use shieldpack_core::hls::{KeyMethod, MediaPlaylist};

mod cmaf;

pub use cmaf::write as write_cmaf;

/// The I-frame playlist's name in a rendition folder.
pub const PLAYLIST: &str = "iframes.m3u8";

const PACKET: usize = 188;

/// One keyframe: where its bytes are in its segment, and its PTS (90 kHz).
#[derive(Debug, Clone, PartialEq)]
struct KeyFrame {
    offset: u64,
    length: u64,
    pts: Option<u64>,
}

/// What one segment holds: the length of its leading tables (PAT, PMT, and
/// any SDT) and its keyframes.
#[derive(Debug, Default)]
struct Scan {
    psi_len: u64,
    keyframes: Vec<KeyFrame>,
}

/// A PES being gathered: its first packet's offset and its bytes so far.
struct Pes {
    offset: u64,
    bytes: Vec<u8>,
}

/// The header and payload of the TS packet `p` (188 bytes): (pid, payload
/// unit start, payload).
pub(crate) fn packet(p: &[u8]) -> Option<(u16, bool, &[u8])> {
    if p.len() != PACKET || p[0] != 0x47 {
        return None;
    }
    let pid = (u16::from(p[1] & 0x1f) << 8) | u16::from(p[2]);
    let pusi = p[1] & 0x40 != 0;
    let afc = (p[3] >> 4) & 3;
    let mut start = 4;
    if afc & 2 != 0 {
        start += 1 + usize::from(p[4]);
    }
    let payload = if afc & 1 != 0 && start <= PACKET {
        &p[start..]
    } else {
        &[][..]
    };
    Some((pid, pusi, payload))
}

/// The section after a PSI payload's pointer field.
pub(crate) fn section(payload: &[u8]) -> Option<&[u8]> {
    let skip = usize::from(*payload.first()?);
    payload.get(1 + skip..)
}

/// The PMT PID of the first program of a PAT section.
pub(crate) fn pat_pmt_pid(s: &[u8]) -> Option<u16> {
    if *s.first()? != 0 {
        return None;
    }
    let len = usize::from(u16::from(s[1] & 0x0f) << 8 | u16::from(*s.get(2)?));
    let end = (3 + len).checked_sub(4)?.min(s.len());
    let mut i = 8;
    while i + 4 <= end {
        let program = u16::from(s[i]) << 8 | u16::from(s[i + 1]);
        let pid = u16::from(s[i + 2] & 0x1f) << 8 | u16::from(s[i + 3]);
        if program != 0 {
            return Some(pid);
        }
        i += 4;
    }
    None
}

/// The video PID and its codec (H.264 or HEVC) of a PMT section.
pub(crate) fn pmt_video(s: &[u8]) -> Option<(u16, Codec)> {
    if *s.first()? != 2 {
        return None;
    }
    let len = usize::from(u16::from(s[1] & 0x0f) << 8 | u16::from(*s.get(2)?));
    let end = (3 + len).checked_sub(4)?.min(s.len());
    let info = usize::from(u16::from(*s.get(10)? & 0x0f) << 8 | u16::from(*s.get(11)?));
    let mut i = 12 + info;
    while i + 5 <= end {
        let kind = s[i];
        let pid = u16::from(s[i + 1] & 0x1f) << 8 | u16::from(s[i + 2]);
        let es = usize::from(u16::from(s[i + 3] & 0x0f) << 8 | u16::from(s[i + 4]));
        match kind {
            // 0xdb: H.264 under SAMPLE-AES, NAL headers clear.
            0x1b | 0xdb => return Some((pid, Codec::H264)),
            0x24 => return Some((pid, Codec::Hevc)),
            _ => {}
        }
        i += 5 + es;
    }
    None
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Codec {
    H264,
    Hevc,
}

/// Whether a PES holds an IDR (H.264) or IRAP (HEVC) picture, and its PTS.
fn pes_keyframe(pes: &[u8], codec: Codec) -> (bool, Option<u64>) {
    if pes.len() < 9 || pes[..3] != [0, 0, 1] {
        return (false, None);
    }
    let flags = pes[7];
    let header = 9 + usize::from(pes[8]);
    let pts = (flags & 0x80 != 0 && pes.len() >= 14).then(|| {
        (u64::from(pes[9] >> 1) & 7) << 30
            | u64::from(pes[10]) << 22
            | u64::from(pes[11] >> 1) << 15
            | u64::from(pes[12]) << 7
            | u64::from(pes[13] >> 1)
    });
    let es = pes.get(header..).unwrap_or(&[]);
    let mut i = 0;
    while i + 3 < es.len() {
        if es[i] == 0 && es[i + 1] == 0 && es[i + 2] == 1 {
            let nal = es[i + 3];
            let key = match codec {
                Codec::H264 => nal & 0x1f == 5,
                Codec::Hevc => (16..=21).contains(&((nal >> 1) & 0x3f)),
            };
            if key {
                return (true, pts);
            }
            i += 3;
        } else {
            i += 1;
        }
    }
    (false, pts)
}

/// Reads a TS segment's leading tables and keyframes; `None` when it is not
/// a clear TS segment starting with its PAT and PMT (and SDT).
fn scan(bytes: &[u8]) -> Option<Scan> {
    if !bytes.len().is_multiple_of(PACKET) || bytes.len() < 2 * PACKET {
        return None;
    }
    let mut out = Scan::default();
    let mut pmt_pid = None;
    let mut video = None;
    let mut psi_done = false;
    let mut pes: Option<Pes> = None;
    fn finish(pes: Option<Pes>, end: u64, codec: Codec, out: &mut Scan) {
        if let Some(p) = pes {
            if let (true, pts) = pes_keyframe(&p.bytes, codec) {
                out.keyframes.push(KeyFrame {
                    offset: p.offset,
                    length: end - p.offset,
                    pts,
                });
            }
        }
    }
    for (n, p) in bytes.chunks(PACKET).enumerate() {
        let offset = (n * PACKET) as u64;
        let (pid, pusi, payload) = packet(p)?;
        if !psi_done {
            if pid == 0 && pusi {
                pmt_pid = Some(pat_pmt_pid(section(payload)?)?);
                continue;
            }
            if Some(pid) == pmt_pid && pusi {
                video = Some(pmt_video(section(payload)?)?);
                continue;
            }
            // Other tables (FFmpeg writes its SDT first) belong to the
            // initialization section too.
            if pid < 0x20 && video.is_none() {
                continue;
            }
            // The PAT and PMT must lead the segment.
            video?;
            psi_done = true;
            out.psi_len = offset;
        }
        let (vpid, codec) = video?;
        if pid != vpid {
            continue;
        }
        if pusi {
            finish(pes.take(), offset, codec, &mut out);
            pes = Some(Pes {
                offset,
                bytes: Vec::new(),
            });
        }
        if let Some(p) = pes.as_mut() {
            // Enough of a PES to find its picture's NAL type.
            if p.bytes.len() < 64 * 1024 {
                p.bytes.extend_from_slice(payload);
            }
        }
    }
    let (_, codec) = video?;
    finish(pes.take(), bytes.len() as u64, codec, &mut out);
    Some(out)
}

/// The media playlist `rdir/index.m3u8` that package has just written, for
/// the TS and CMAF I-frame writers: its text and the playlist parsed.
fn own_playlist(rdir: &Path) -> Result<(String, MediaPlaylist)> {
    let index = rdir.join("index.m3u8");
    let text = std::fs::read_to_string(&index).map_err(|e| Error::io(&index, e))?;
    let playlist = MediaPlaylist::parse(&text).map_err(|e| {
        Error::invalid_file(
            &index,
            e.to_string(),
            "this is a bug: package wrote a media playlist it cannot read",
        )
    })?;
    Ok((text, playlist))
}

/// Writes `rdir/iframes.m3u8` for the TS rendition whose `index.m3u8` is in
/// `rdir`, and returns its EXT-X-I-FRAME-STREAM-INF line for the master
/// (URI `uri_prefix` + iframes.m3u8), or `None` when a segment is not a clear
/// TS segment with keyframes at its start.
pub fn write(
    rdir: &Path,
    uri_prefix: &str,
    resolution: Option<(u32, u32)>,
    codecs: Option<&str>,
) -> Result<Option<String>> {
    let (text, playlist) = own_playlist(rdir)?;
    if playlist
        .effective_keys()
        .iter()
        .any(|k| k.is_some_and(|k| !matches!(k.method, KeyMethod::None | KeyMethod::SampleAes)))
        || playlist.map.is_some()
    {
        return Ok(None);
    }
    let keys = key_lines(&text);
    // (segment, keyframe, its time from the rendition's first keyframe).
    let mut frames: Vec<(String, KeyFrame)> = Vec::new();
    let mut psi: Option<(String, u64)> = None;
    for s in &playlist.segments {
        let path = rdir.join(&s.uri);
        let bytes = std::fs::read(&path).map_err(|e| Error::io(&path, e))?;
        let Some(scan) = scan(&bytes) else {
            return Ok(None);
        };
        // Every segment starts at a keyframe, after its PAT and PMT.
        match scan.keyframes.first() {
            Some(k) if k.offset == scan.psi_len && k.pts.is_some() => {}
            _ => return Ok(None),
        }
        psi.get_or_insert((s.uri.clone(), scan.psi_len));
        frames.extend(scan.keyframes.into_iter().map(|k| (s.uri.clone(), k)));
    }
    let Some((map_uri, map_len)) = psi else {
        return Ok(None);
    };
    let total: f64 = playlist.segments.iter().map(|s| s.duration).sum();
    let first = frames[0].1.pts.unwrap_or(0);
    let time = |k: &KeyFrame| k.pts.map(|p| p.wrapping_sub(first) as f64 / 90_000.0);
    let mut body = String::new();
    let mut peak = 0f64;
    let mut longest = 0f64;
    let mut in_force: &[String] = &[];
    for (i, (uri, k)) in frames.iter().enumerate() {
        let lines = keys.get(uri.as_str()).map_or(&[][..], Vec::as_slice);
        if lines != in_force {
            for l in lines {
                body.push_str(l);
                body.push('\n');
            }
            in_force = lines;
        }
        let Some(t) = time(k) else {
            return Ok(None);
        };
        let next = frames.get(i + 1).map_or(Some(total), |(_, n)| time(n));
        let Some(next) = next else {
            return Ok(None);
        };
        let d = next - t;
        if d <= 0.0 {
            return Ok(None);
        }
        longest = longest.max(d);
        peak = peak.max(k.length as f64 * 8.0 / d);
        let _ = writeln!(
            body,
            "#EXTINF:{d:.3},\n#EXT-X-BYTERANGE:{}@{}\n{uri}",
            k.length, k.offset
        );
    }
    let mut out = String::from("#EXTM3U\n");
    // EXT-X-MAP in an I-frame playlist needs version 5 (RFC 8216 7).
    let _ = writeln!(out, "#EXT-X-VERSION:5");
    let _ = writeln!(out, "#EXT-X-TARGETDURATION:{}", longest.round().max(1.0));
    out.push_str("#EXT-X-MEDIA-SEQUENCE:0\n#EXT-X-PLAYLIST-TYPE:VOD\n#EXT-X-I-FRAMES-ONLY\n");
    let _ = writeln!(
        out,
        "#EXT-X-MAP:URI=\"{map_uri}\",BYTERANGE=\"{map_len}@0\""
    );
    out.push_str(&body);
    out.push_str("#EXT-X-ENDLIST\n");
    shieldpack_core::fsutil::write_file(&rdir.join(PLAYLIST), out.as_bytes())?;
    Ok(Some(stream_inf(peak, resolution, codecs, uri_prefix)))
}

/// The master's EXT-X-I-FRAME-STREAM-INF line for a rendition's I-frame
/// playlist: BANDWIDTH the peak of range bits over EXTINF, the video codecs
/// only, RESOLUTION, URI `uri_prefix` + iframes.m3u8.
fn stream_inf(
    peak: f64,
    resolution: Option<(u32, u32)>,
    codecs: Option<&str>,
    uri_prefix: &str,
) -> String {
    let mut line = format!("#EXT-X-I-FRAME-STREAM-INF:BANDWIDTH={}", peak.ceil() as u64);
    if let Some((w, h)) = resolution {
        let _ = write!(line, ",RESOLUTION={w}x{h}");
    }
    let video: Vec<&str> = codecs
        .unwrap_or("")
        .split(',')
        .filter(|c| c.starts_with("avc") || c.starts_with("hvc") || c.starts_with("hev"))
        .collect();
    if !video.is_empty() {
        let _ = write!(line, ",CODECS=\"{}\"", video.join(","));
    }
    let _ = write!(line, ",URI=\"{uri_prefix}{PLAYLIST}\"");
    line
}

/// The EXT-X-KEY lines in force for each segment URI of a media playlist's
/// text: a run of key lines replaces the ones before (one per KEYFORMAT).
fn key_lines(text: &str) -> std::collections::HashMap<&str, Vec<String>> {
    let mut out = std::collections::HashMap::new();
    let mut current: Vec<String> = Vec::new();
    let mut in_run = false;
    for line in text.lines() {
        if line.starts_with("#EXT-X-KEY:") {
            if !in_run {
                current.clear();
                in_run = true;
            }
            current.push(line.to_string());
            continue;
        }
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        in_run = false;
        out.insert(line, current.clone());
    }
    out
}

/// `verify`'s checks of the I-frame playlists `master` names: each range
/// lies inside its segment and starts at the TS packet that starts a
/// keyframe's PES, and the map names the segment's PAT and PMT.
/// Returns (file, message) per defect.
pub fn defects(root: &Path, master: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for line in master.lines() {
        let Some(attrs) = line.strip_prefix("#EXT-X-I-FRAME-STREAM-INF:") else {
            continue;
        };
        let Some(uri) = attrs
            .split(",URI=\"")
            .nth(1)
            .and_then(|r| r.split('"').next())
        else {
            out.push((
                "master.m3u8".into(),
                "EXT-X-I-FRAME-STREAM-INF without URI".into(),
            ));
            continue;
        };
        check_playlist(root, uri, &mut out);
    }
    out
}

fn check_playlist(root: &Path, uri: &str, out: &mut Vec<(String, String)>) {
    let mut defect = |m: String| out.push((uri.to_string(), m));
    if uri.contains("..") || uri.starts_with('/') || uri.contains("://") {
        defect("names a file outside the package".into());
        return;
    }
    let path = root.join(uri);
    let dir = path.parent().unwrap_or(root);
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) => return defect(format!("cannot be read: {e}")),
    };
    if !text.lines().any(|l| l == "#EXT-X-I-FRAMES-ONLY") {
        defect("has no #EXT-X-I-FRAMES-ONLY".into());
    }
    if let Some(map) = cmaf::map_uri(&text) {
        return cmaf::check(dir, &text, map, &mut defect);
    }
    check_ranges(
        dir,
        &text,
        &mut defect,
        |p| {
            std::fs::read(p).map(|b| {
                let len = b.len() as u64;
                (b, len)
            })
        },
        scan,
        |line, len, off, _, s, defect| {
            let at_key = s
                .as_ref()
                .is_some_and(|s| s.keyframes.iter().any(|k| k.offset == off));
            if !at_key {
                defect(format!(
                "{line}: range {len}@{off} does not start at the TS packet starting a keyframe's PES"
            ));
            }
        },
    );
}

/// Walks the entries of the I-frame playlist `text` (in `dir`), TS or CMAF:
/// each EXT-X-BYTERANGE with its URI, a file inside the rendition, read
/// once by `read` (the whole file, or its first bytes, with its length) and
/// `prepare`d once however many ranges it holds, the range inside it; what
/// is wrong goes to `defect`, and `each` checks what the range holds: (URI,
/// length, offset, what was read of the file and its length, what
/// `prepare` made of it).
pub(super) fn check_ranges<T>(
    dir: &Path,
    text: &str,
    defect: &mut dyn FnMut(String),
    read: impl Fn(&Path) -> std::io::Result<(Vec<u8>, u64)>,
    prepare: impl Fn(&[u8]) -> T,
    mut each: impl FnMut(&str, u64, u64, (&[u8], u64), &T, &mut dyn FnMut(String)),
) {
    let mut range: Option<(u64, u64)> = None;
    let mut entries = 0;
    let mut cache: Option<(String, (Vec<u8>, u64), T)> = None;
    for line in text.lines() {
        if let Some(r) = line.strip_prefix("#EXT-X-BYTERANGE:") {
            range = r
                .split_once('@')
                .and_then(|(l, o)| Some((l.parse().ok()?, o.parse().ok()?)));
            if range.is_none() {
                defect(format!("'{line}' is not LENGTH@OFFSET"));
            }
            continue;
        }
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        entries += 1;
        let Some((len, off)) = range.take() else {
            defect(format!("{line} has no EXT-X-BYTERANGE"));
            continue;
        };
        if line.contains("..") || line.contains('/') {
            defect(format!("{line}: names a file outside the rendition"));
            continue;
        }
        if cache.as_ref().map(|c| c.0.as_str()) != Some(line) {
            match read(&dir.join(line)) {
                Ok(b) => {
                    let p = prepare(&b.0);
                    cache = Some((line.to_string(), b, p));
                }
                Err(e) => {
                    defect(format!("{line} cannot be read: {e}"));
                    cache = None;
                    continue;
                }
            }
        }
        let (_, (bytes, flen), prepared) = cache.as_ref().expect("read above");
        if off.checked_add(len).is_none_or(|e| e > *flen) || len == 0 {
            defect(format!(
                "{line}: range {len}@{off} runs past the end of the file ({flen} bytes)"
            ));
            continue;
        }
        each(line, len, off, (bytes, *flen), prepared, defect);
    }
    if entries == 0 {
        defect("lists no I-frames".into());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(pid: u16, pusi: bool, payload: &[u8]) -> Vec<u8> {
        let mut p = vec![
            0x47,
            (pid >> 8) as u8 | if pusi { 0x40 } else { 0 },
            pid as u8,
            0x10,
        ];
        p.extend_from_slice(payload);
        p.resize(PACKET, 0xff);
        p
    }

    fn pes(nal: u8, pts: u64) -> Vec<u8> {
        let mut v = vec![0, 0, 1, 0xe0, 0, 0, 0x80, 0x80, 5];
        v.push(0x21 | ((pts >> 29) as u8 & 0x0e));
        v.push((pts >> 22) as u8);
        v.push(((pts >> 14) as u8 & 0xfe) | 1);
        v.push((pts >> 7) as u8);
        v.push(((pts << 1) as u8) | 1);
        v.extend_from_slice(&[0, 0, 0, 1, 0x09, 0xf0, 0, 0, 1, nal, 0x88]);
        v
    }

    fn segment() -> Vec<u8> {
        let pat = [
            0u8, 0, 0xb0, 13, 0, 1, 0xc1, 0, 0, 0, 1, 0xf0, 0x00, 0, 0, 0, 0,
        ];
        let pmt = [
            0u8, 2, 0xb0, 18, 0, 1, 0xc1, 0, 0, 0xe1, 0x00, 0xf0, 0, 0x1b, 0xe1, 0x00, 0xf0, 0, 0,
            0, 0, 0,
        ];
        let mut s = ts(0, true, &pat);
        s.extend(ts(0x1000, true, &pmt));
        s.extend(ts(0x100, true, &pes(0x65, 900_000)));
        s.extend(ts(0x101, true, &[0xaa]));
        s.extend(ts(0x100, true, &pes(0x41, 903_600)));
        s.extend(ts(0x100, true, &pes(0x65, 990_000)));
        s
    }

    #[test]
    fn finds_the_idr_pes_packets_after_the_pat_and_pmt() {
        let s = scan(&segment()).expect("a TS segment");
        assert_eq!(s.psi_len, 376);
        assert_eq!(
            s.keyframes,
            vec![
                KeyFrame {
                    offset: 376,
                    length: 2 * 188,
                    pts: Some(900_000)
                },
                KeyFrame {
                    offset: 5 * 188,
                    length: 188,
                    pts: Some(990_000)
                },
            ]
        );
    }

    #[test]
    fn a_segment_without_its_pat_and_pmt_first_is_not_scanned() {
        let mut s = segment();
        s.drain(..188);
        assert!(scan(&s).is_none());
        assert!(scan(&[0x47; 100]).is_none());
    }
}
