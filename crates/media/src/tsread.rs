//! Reading an MPEG-TS segment back from memory with FFmpeg's demuxer, for
//! `verify`: how many video frames it carries and how long it lasts.

use std::ffi::{c_int, c_void, CString};
use std::ptr;

use ff::ffi;
use ffmpeg_next as ff;

/// What a decrypted segment holds.
#[derive(Debug, Clone, PartialEq)]
pub struct TsInfo {
    pub video_frames: u64,
    pub audio_packets: u64,
    /// Video presentation span: from the first pts to the end of the last frame
    /// (its pts plus duration, or plus the typical frame gap), seconds.
    pub video_duration: f64,
}

struct Cursor<'a> {
    data: &'a [u8],
    pos: usize,
}

unsafe extern "C" fn read_cb(opaque: *mut c_void, buf: *mut u8, size: c_int) -> c_int {
    // SAFETY: opaque is the Cursor on analyze's stack, alive for the whole demux.
    let c = unsafe { &mut *(opaque as *mut Cursor) };
    let n = (c.data.len() - c.pos).min(size.max(0) as usize);
    if n == 0 {
        return ffi::AVERROR_EOF;
    }
    // SAFETY: avio's buffer has room for `size` >= n bytes, and the cursor
    // holds n bytes from `pos`.
    unsafe { ptr::copy_nonoverlapping(c.data.as_ptr().add(c.pos), buf, n) };
    c.pos += n;
    n as c_int
}

/// A segment starts with its tables: RFC 8216 3.2 has a TS segment without
/// EXT-X-MAP start with a PAT and a PMT, and FFmpeg's muxer, which writes
/// every TS segment shieldpack makes, puts its SDT just before them. So the
/// first packet must start a PAT or SDT section whose CRC holds (an SDT with
/// a long service name runs on into the PID's next packets). That is also
/// what tells a segment decrypted under the wrong IV: CBC garbles only the
/// first 16 bytes then, and FFmpeg's demuxer reads on past a garbled first
/// packet. `data` is whole 188-byte packets.
fn starts_with_a_table(data: &[u8]) -> Result<(), String> {
    const TABLES: [(u16, u8, &str); 2] = [(0x00, 0x00, "PAT"), (0x11, 0x42, "SDT")];
    let pid_of = |p: &[u8]| u16::from_be_bytes([p[1], p[2]]) & 0x1fff;
    // a packet's payload: after the header and the adaptation field, if any
    fn payload(p: &[u8]) -> &[u8] {
        match p[3] & 0x30 {
            0x10 => &p[4..],
            0x30 => p.get(5 + p[4] as usize..).unwrap_or(&[]),
            _ => &[],
        }
    }
    let mut packets = data.chunks_exact(188);
    let first = packets.next().ok_or("no TS packet")?;
    let pid = pid_of(first);
    let Some(&(_, table_id, name)) = TABLES.iter().find(|t| t.0 == pid) else {
        return Err(format!(
            "the first TS packet is PID {pid:#x}, not a PAT or SDT (RFC 8216 3.2: a segment starts with its PAT and PMT)"
        ));
    };
    let start = payload(first);
    if first[1] & 0x40 == 0 || start.is_empty() {
        return Err(format!("the first TS packet's {name} has no section start"));
    }
    let mut section = start.get(1 + start[0] as usize..).unwrap_or(&[]).to_vec();
    // 12 bits of length, of which PSI uses 10 (ISO/IEC 13818-1 2.4.4.11)
    let len = match section.as_slice() {
        [id, hi, lo, ..] if *id == table_id => {
            3 + (u16::from_be_bytes([*hi, *lo]) & 0x0fff) as usize
        }
        _ => 0,
    };
    if !(12..=1024).contains(&len) {
        return Err(format!("the first TS packet's {name} section is malformed"));
    }
    for p in packets {
        if section.len() >= len {
            break;
        }
        if pid_of(p) == pid && p[1] & 0x40 == 0 {
            section.extend_from_slice(payload(p));
        }
    }
    if section.len() < len {
        return Err(format!("the segment's first {name} section is cut short"));
    }
    if crc::Crc::<u32>::new(&crc::CRC_32_MPEG_2).checksum(&section[..len]) != 0 {
        return Err(format!("the first TS packet's {name} fails its CRC"));
    }
    Ok(())
}

/// Demuxes `data` as MPEG-TS; `Err` says why it is not valid TS.
pub fn analyze(data: &[u8]) -> Result<TsInfo, String> {
    super::init();
    if data.len() < 188 || data[0] != 0x47 {
        return Err("does not start with an MPEG-TS sync byte".into());
    }
    if !data.len().is_multiple_of(188) {
        return Err(format!(
            "{} bytes is not a whole number of 188-byte TS packets",
            data.len()
        ));
    }
    if let Some(i) = (0..data.len()).step_by(188).find(|&i| data[i] != 0x47) {
        return Err(format!("lost TS sync at byte {i}"));
    }
    starts_with_a_table(data)?;
    let mut cursor = Cursor { data, pos: 0 };
    let mut pts: Vec<i64> = Vec::new();
    // The latest pts + duration, when the demuxer knows packet durations.
    let mut end: Option<i64> = None;
    let mut audio = 0u64;
    let mut tb = 1.0 / 90000.0;
    // SAFETY: every FFmpeg object made here is freed before returning; the
    // cursor outlives the AVIOContext that points at it.
    unsafe {
        const BUF: usize = 64 * 1024;
        let buf = ffi::av_malloc(BUF) as *mut u8;
        let mut pb = ffi::avio_alloc_context(
            buf,
            BUF as c_int,
            0,
            &mut cursor as *mut Cursor as *mut c_void,
            Some(read_cb),
            None,
            None,
        );
        let mut ctx = ffi::avformat_alloc_context();
        (*ctx).pb = pb;
        (*ctx).flags |= ffi::AVFMT_FLAG_CUSTOM_IO as c_int;
        let name = CString::new("mpegts").expect("no NUL");
        let fmt = ffi::av_find_input_format(name.as_ptr());
        let mut result = Ok(());
        if ffi::avformat_open_input(&mut ctx, ptr::null(), fmt, ptr::null_mut()) < 0 {
            result = Err("FFmpeg cannot open it as MPEG-TS".to_string());
        } else {
            let _ = ffi::avformat_find_stream_info(ctx, ptr::null_mut());
            let mut vidx = -1;
            for i in 0..(*ctx).nb_streams as usize {
                let st = *(*ctx).streams.add(i);
                if (*(*st).codecpar).codec_type == ffi::AVMediaType::AVMEDIA_TYPE_VIDEO && vidx < 0
                {
                    vidx = i as i32;
                    tb = f64::from(ff::Rational::from((*st).time_base));
                }
            }
            let pkt = ffi::av_packet_alloc();
            loop {
                let r = ffi::av_read_frame(ctx, pkt);
                if r == ffi::AVERROR_EOF {
                    break;
                }
                if r < 0 {
                    result = Err(format!("demuxing failed: {}", ff::Error::from(r)));
                    break;
                }
                if (*pkt).stream_index == vidx {
                    if (*pkt).pts != ffi::AV_NOPTS_VALUE {
                        pts.push((*pkt).pts);
                        if (*pkt).duration > 0 {
                            end = Some(end.unwrap_or(i64::MIN).max((*pkt).pts + (*pkt).duration));
                        }
                    }
                } else if (*(*(*(*ctx).streams.add((*pkt).stream_index as usize))).codecpar)
                    .codec_type
                    == ffi::AVMediaType::AVMEDIA_TYPE_AUDIO
                {
                    audio += 1;
                }
                ffi::av_packet_unref(pkt);
            }
            let mut pkt = pkt;
            ffi::av_packet_free(&mut pkt);
            ffi::avformat_close_input(&mut ctx);
        }
        if !ctx.is_null() {
            ffi::avformat_free_context(ctx);
        }
        ffi::av_freep(&mut (*pb).buffer as *mut *mut u8 as *mut c_void);
        ffi::avio_context_free(&mut pb);
        result?;
    }
    if pts.is_empty() {
        // An alternate audio rendition's segment: audio alone.
        if audio > 0 {
            return Ok(TsInfo {
                video_frames: 0,
                audio_packets: audio,
                video_duration: 0.0,
            });
        }
        return Err("carries no video frames".into());
    }
    pts.sort_unstable();
    if let Some(end) = end {
        let span = (end - pts[0]) as f64 * tb;
        return Ok(TsInfo {
            video_frames: pts.len() as u64,
            audio_packets: audio,
            video_duration: span,
        });
    }
    // Without durations, one frame lasts the typical gap between frames.
    let mut deltas: Vec<i64> = pts
        .windows(2)
        .map(|w| w[1] - w[0])
        .filter(|d| *d > 0)
        .collect();
    deltas.sort_unstable();
    let frame = deltas.get(deltas.len() / 2).copied().unwrap_or(0);
    let span = (pts[pts.len() - 1] - pts[0] + frame) as f64 * tb;
    Ok(TsInfo {
        video_frames: pts.len() as u64,
        audio_packets: audio,
        video_duration: span,
    })
}
