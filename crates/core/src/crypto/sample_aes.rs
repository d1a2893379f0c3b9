//! HLS `METHOD=SAMPLE-AES` for MPEG-TS segments (Apple, "MPEG-2 Stream
//! Encryption Format for HTTP Live Streaming"): the samples are encrypted,
//! the container stays readable.
//!
//! - H.264 (stream type 0x1b becomes 0xdb): only NAL units of type 1 and 5
//!   longer than 48 bytes. The first 32 bytes stay clear, then one 16-byte
//!   block is encrypted and up to nine (144 bytes) left clear, repeating
//!   while more than 16 bytes remain; the rest stays clear. AES-128-CBC runs
//!   over the encrypted blocks of one NAL unit, restarting from the IV at
//!   each. The plaintext is the NAL unit as the encoder wrote it (its own
//!   emulation prevention bytes in place); emulation prevention is applied
//!   over the result, so a NAL unit may grow, and a reader that removes it
//!   and decrypts has the encoder's NAL unit again.
//! - AAC in ADTS (0x0f becomes 0xcf): each frame's header and the first 16
//!   bytes after it stay clear, then every whole 16-byte block is encrypted
//!   (CBC from the IV per frame), and the trailing partial block stays clear.
//! - The PMT gets the spec's descriptors: `private_data_indicator` 'zavc' /
//!   'aacd', and for AAC the `registration_descriptor` 'apad' with the audio
//!   setup information ('zaac', the AudioSpecificConfig).
//!
//! The IV is the segment's (the media sequence number or an explicit one, RFC
//! 8216 5.2), reused for every NAL unit and frame of the segment: that is the
//! format's own design (as cbcs's constant IV), which the pattern and the
//! clear leaders make safe; across segments the IV changes. Playlists should
//! write it out (`IV=0x...` per segment) even when it is the sequence
//! number: hls.js decrypts SAMPLE-AES only with an explicit IV.
//!
//! `package --format ts --scheme sample-aes` encrypts each segment with
//! [`encrypt_segment`] once it is whole; `verify` reads it back with
//! [`decrypt_segment`], and `rekey` moves it to a new key with both.
//!
//! A segment is transformed whole in memory (segments are a few MB); PES
//! packets are re-packetized on their PIDs with continuous continuity
//! counters, keeping the adaptation field (PCR, random access) of each PES's
//! first packet.

use std::collections::BTreeMap;

use aes::cipher::{BlockDecryptMut, BlockEncryptMut, KeyIvInit};

type Enc = cbc::Encryptor<aes::Aes128>;
type Dec = cbc::Decryptor<aes::Aes128>;

const TS: usize = 188;
const STREAM_H264: u8 = 0x1b;
const STREAM_AAC: u8 = 0x0f;
const STREAM_H264_SAES: u8 = 0xdb;
const STREAM_AAC_SAES: u8 = 0xcf;

/// What is wrong with a segment that cannot be SAMPLE-AES encrypted.
pub type Problem = String;

/// CBC over whole blocks, in place, from `iv` (no padding: callers pass
/// whole blocks only).
fn cbc_blocks(buf: &mut [u8], key: &[u8; 16], iv: &[u8; 16]) {
    debug_assert!(buf.len().is_multiple_of(16));
    let mut enc = Enc::new(key.into(), iv.into());
    for b in buf.chunks_exact_mut(16) {
        enc.encrypt_block_mut(b.into());
    }
}

/// Which way a segment is transformed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Way {
    Encrypt,
    Decrypt,
}

/// CBC over whole blocks, in place, from `iv`, either way.
fn cbc_way(buf: &mut [u8], key: &[u8; 16], iv: &[u8; 16], way: Way) {
    match way {
        Way::Encrypt => cbc_blocks(buf, key, iv),
        Way::Decrypt => {
            debug_assert!(buf.len().is_multiple_of(16));
            let mut dec = Dec::new(key.into(), iv.into());
            for b in buf.chunks_exact_mut(16) {
                dec.decrypt_block_mut(b.into());
            }
        }
    }
}

/// Removes H.264 emulation prevention bytes (00 00 03 -> 00 00).
pub fn unescape(nal: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(nal.len());
    let mut zeros = 0;
    for &b in nal {
        if zeros >= 2 && b == 3 {
            zeros = 0;
            continue;
        }
        zeros = if b == 0 { zeros + 1 } else { 0 };
        out.push(b);
    }
    out
}

/// Adds emulation prevention bytes: 00 00 followed by 00..03 gets a 03.
pub fn escape(rbsp: &[u8], out: &mut Vec<u8>) {
    let mut zeros = 0;
    for &b in rbsp {
        if zeros >= 2 && b <= 3 {
            out.push(3);
            zeros = 0;
        }
        zeros = if b == 0 { zeros + 1 } else { 0 };
        out.push(b);
    }
}

/// Encrypts one NAL unit (escaped, without start code) per the pattern,
/// appending the escaped result to `out`.
#[cfg(test)]
fn encrypt_nal(nal: &[u8], key: &[u8; 16], iv: &[u8; 16], out: &mut Vec<u8>) {
    crypt_nal(nal, key, iv, Way::Encrypt, out)
}

/// Encrypts or decrypts one NAL unit (escaped, without start code) per the
/// pattern, appending the escaped result to `out`. The pattern's blocks are
/// the same either way: the NAL type and length (with emulation prevention
/// removed) are the same in clear and encrypted units.
fn crypt_nal(nal: &[u8], key: &[u8; 16], iv: &[u8; 16], way: Way, out: &mut Vec<u8>) {
    let ty = nal.first().map(|b| b & 0x1f);
    if nal.len() <= 48 || !matches!(ty, Some(1) | Some(5)) {
        out.extend_from_slice(nal);
        return;
    }
    // The plaintext is the NAL unit as it stands in the stream, its own
    // emulation prevention bytes included; only the bytes escaping the
    // ciphertext are added on top. So a reader that removes emulation
    // prevention, decrypts and hands the result to its decoder (FFmpeg's
    // hls_sample_encryption.c, hls.js's sample-aes.ts both do) gets the
    // original NAL unit back, byte for byte.
    let mut u = match way {
        Way::Encrypt => nal.to_vec(),
        Way::Decrypt => unescape(nal),
    };
    let positions: Vec<usize> = (32..)
        .step_by(160)
        .take_while(|&p| p + 16 < u.len())
        .collect();
    let mut blocks: Vec<u8> = positions
        .iter()
        .flat_map(|&p| u[p..p + 16].iter().copied())
        .collect();
    cbc_way(&mut blocks, key, iv, way);
    for (i, &p) in positions.iter().enumerate() {
        u[p..p + 16].copy_from_slice(&blocks[i * 16..i * 16 + 16]);
    }
    match way {
        Way::Encrypt => escape(&u, out),
        Way::Decrypt => out.extend_from_slice(&u),
    }
}

/// Encrypts (or decrypts) the NAL units of an H.264 Annex B elementary
/// stream buffer.
fn crypt_h264(es: &[u8], key: &[u8; 16], iv: &[u8; 16], way: Way) -> Result<Vec<u8>, Problem> {
    // Start codes: every 00 00 01. A NAL unit runs to the next one; zero
    // bytes before a start code (a 4-byte start code's first, or
    // trailing_zero_8bits) stay where they are, outside the NAL unit.
    let mut starts = Vec::new();
    let mut i = 0;
    while i + 2 < es.len() {
        if es[i] == 0 && es[i + 1] == 0 && es[i + 2] == 1 {
            starts.push(i);
            i += 3;
        } else {
            i += 1;
        }
    }
    let Some(&first) = starts.first() else {
        return Err("a video PES holds no H.264 start code (not Annex B)".into());
    };
    let mut out = Vec::with_capacity(es.len() + es.len() / 64);
    out.extend_from_slice(&es[..first]);
    for (n, &s) in starts.iter().enumerate() {
        let body_start = s + 3;
        let next = starts.get(n + 1).copied().unwrap_or(es.len());
        let mut body_end = next;
        while body_end > body_start && es[body_end - 1] == 0 {
            body_end -= 1;
        }
        out.extend_from_slice(&es[s..body_start]);
        crypt_nal(&es[body_start..body_end], key, iv, way, &mut out);
        out.extend_from_slice(&es[body_end..next]);
    }
    Ok(out)
}

/// Encrypts the frames of an AAC ADTS elementary stream buffer in place.
#[cfg(test)]
fn encrypt_adts(es: &mut [u8], key: &[u8; 16], iv: &[u8; 16]) -> Result<(), Problem> {
    crypt_adts(es, key, iv, Way::Encrypt)
}

/// Encrypts (or decrypts) the frames of an AAC ADTS elementary stream
/// buffer in place.
fn crypt_adts(es: &mut [u8], key: &[u8; 16], iv: &[u8; 16], way: Way) -> Result<(), Problem> {
    let mut i = 0;
    while i < es.len() {
        let h = &es[i..];
        if h.len() < 7 || h[0] != 0xff || h[1] & 0xf6 != 0xf0 {
            return Err(format!("an audio PES is not ADTS AAC at byte {i}"));
        }
        let header = if h[1] & 1 == 1 { 7 } else { 9 };
        let len =
            ((usize::from(h[3]) & 3) << 11) | (usize::from(h[4]) << 3) | (usize::from(h[5]) >> 5);
        if len < header || i + len > es.len() {
            return Err(format!("an ADTS frame at byte {i} runs past its PES"));
        }
        let payload = &mut es[i + header..i + len];
        if payload.len() > 16 {
            let n = (payload.len() - 16) / 16 * 16;
            cbc_way(&mut payload[16..16 + n], key, iv, way);
        }
        i += len;
    }
    Ok(())
}

/// The AudioSpecificConfig (ISO/IEC 14496-3) an ADTS header describes.
fn audio_specific_config(es: &[u8]) -> Option<[u8; 2]> {
    if es.len() < 7 || es[0] != 0xff || es[1] & 0xf6 != 0xf0 {
        return None;
    }
    let object = ((es[2] >> 6) & 3) + 1;
    let sr = (es[2] >> 2) & 0x0f;
    let ch = ((es[2] & 1) << 2) | (es[3] >> 6);
    Some([(object << 3) | (sr >> 1), ((sr & 1) << 7) | (ch << 3)])
}

struct Packet<'a> {
    pid: u16,
    pusi: bool,
    /// The adaptation field with its length byte, when there is one.
    af: Option<&'a [u8]>,
    payload: &'a [u8],
}

fn parse_packet(p: &[u8]) -> Result<Packet<'_>, Problem> {
    if p[0] != 0x47 {
        return Err("lost MPEG-TS sync (a packet does not start with 0x47)".into());
    }
    let pid = (u16::from(p[1] & 0x1f) << 8) | u16::from(p[2]);
    let afc = (p[3] >> 4) & 3;
    let mut at = 4;
    let af = if afc & 2 != 0 {
        let l = usize::from(p[4]);
        if 5 + l > TS {
            return Err("an adaptation field runs past its packet".into());
        }
        at = 5 + l;
        Some(&p[4..5 + l])
    } else {
        None
    };
    let payload = if afc & 1 != 0 { &p[at..] } else { &[][..] };
    Ok(Packet {
        pid,
        pusi: p[1] & 0x40 != 0,
        af,
        payload,
    })
}

/// The part of an adaptation field worth keeping (flags, PCR, OPCR, splice
/// countdown), without stuffing; with its length byte.
fn af_without_stuffing(af: &[u8]) -> Vec<u8> {
    if af.len() < 2 {
        return vec![0];
    }
    let flags = af[1];
    let mut n = 1;
    if flags & 0x10 != 0 {
        n += 6;
    }
    if flags & 0x08 != 0 {
        n += 6;
    }
    if flags & 0x04 != 0 {
        n += 1;
    }
    let n = n.min(af.len() - 1);
    let mut v = vec![n as u8];
    v.extend_from_slice(&af[1..1 + n]);
    v
}

/// Writes `pes` as TS packets on `pid`, the first with `first_af`.
fn packetize(pid: u16, pes: &[u8], first_af: Option<Vec<u8>>, cc: &mut u8, out: &mut Vec<u8>) {
    let mut rest = pes;
    let mut af = first_af;
    let mut first = true;
    while first || !rest.is_empty() {
        let mut field = af.take().unwrap_or_default();
        let avail = TS - 4 - field.len();
        let take = rest.len().min(avail);
        let stuffing = avail - take;
        if stuffing > 0 {
            if field.is_empty() {
                // An adaptation field of `stuffing` bytes: its length byte,
                // then (when there is room) flags and 0xff stuffing.
                field.push((stuffing - 1) as u8);
                if stuffing > 1 {
                    field.push(0);
                    field.resize(stuffing, 0xff);
                }
            } else {
                field.resize(field.len() + stuffing, 0xff);
                field[0] = (field.len() - 1) as u8;
            }
        }
        let mut p = Vec::with_capacity(TS);
        p.push(0x47);
        p.push((if first { 0x40 } else { 0 }) | ((pid >> 8) as u8 & 0x1f));
        p.push(pid as u8);
        p.push(if field.is_empty() { 0x10 } else { 0x30 } | (*cc & 0x0f));
        *cc = (*cc + 1) & 0x0f;
        p.extend_from_slice(&field);
        p.extend_from_slice(&rest[..take]);
        debug_assert_eq!(p.len(), TS);
        out.extend_from_slice(&p);
        rest = &rest[take..];
        first = false;
    }
}

/// The elementary streams of a PMT section: pid -> stream type.
fn pmt_streams(section: &[u8]) -> Result<Vec<(u8, u16)>, Problem> {
    let bad = || "the PMT is damaged".to_string();
    if section.len() < 12 || section[0] != 0x02 {
        return Err(bad());
    }
    let len = ((usize::from(section[1]) & 0x0f) << 8) | usize::from(section[2]);
    let end = 3 + len - 4;
    if end > section.len() {
        return Err(bad());
    }
    let info = ((usize::from(section[10]) & 0x0f) << 8) | usize::from(section[11]);
    let mut i = 12 + info;
    let mut out = Vec::new();
    while i + 5 <= end {
        let ty = section[i];
        let pid = (u16::from(section[i + 1] & 0x1f) << 8) | u16::from(section[i + 2]);
        let es_info = ((usize::from(section[i + 3]) & 0x0f) << 8) | usize::from(section[i + 4]);
        out.push((ty, pid));
        i += 5 + es_info;
    }
    Ok(out)
}

/// Whether a descriptor is one SAMPLE-AES adds: `private_data_indicator`
/// 'zavc'/'aacd'/'ac3d'/'ec3d', or the 'apad' `registration_descriptor`.
fn is_saes_descriptor(d: &[u8]) -> bool {
    match d {
        [0x0f, 4, rest @ ..] => matches!(
            &rest[..4.min(rest.len())],
            b"zavc" | b"aacd" | b"ac3d" | b"ec3d"
        ),
        [0x05, _, rest @ ..] => rest.starts_with(b"apad"),
        _ => false,
    }
}

/// The PMT section with SAMPLE-AES stream types and descriptors
/// (`Way::Encrypt`), or with them taken out again (`Way::Decrypt`).
fn rewrite_pmt(section: &[u8], asc: Option<[u8; 2]>, way: Way) -> Vec<u8> {
    let len = ((usize::from(section[1]) & 0x0f) << 8) | usize::from(section[2]);
    let end = 3 + len - 4;
    let info = ((usize::from(section[10]) & 0x0f) << 8) | usize::from(section[11]);
    let mut s = section[..12 + info].to_vec();
    let mut i = 12 + info;
    while i + 5 <= end {
        let ty = section[i];
        let es_info = ((usize::from(section[i + 3]) & 0x0f) << 8) | usize::from(section[i + 4]);
        let mut desc = section[i + 5..i + 5 + es_info].to_vec();
        let new_ty = match (way, ty) {
            (Way::Encrypt, STREAM_H264) => {
                desc.extend_from_slice(&[0x0f, 4]);
                desc.extend_from_slice(b"zavc");
                STREAM_H264_SAES
            }
            (Way::Encrypt, STREAM_AAC) => {
                desc.extend_from_slice(&[0x0f, 4]);
                desc.extend_from_slice(b"aacd");
                // registration_descriptor 'apad' with audio_setup_information:
                // audio_type, priming, version, setup data (the ASC).
                let setup = asc.unwrap_or([0x12, 0x10]);
                desc.extend_from_slice(&[0x05, 4 + 4 + 2 + 1 + 1 + 2]);
                desc.extend_from_slice(b"apad");
                desc.extend_from_slice(b"zaac");
                desc.extend_from_slice(&[0, 0, 1, 2]);
                desc.extend_from_slice(&setup);
                STREAM_AAC_SAES
            }
            (Way::Decrypt, STREAM_H264_SAES | STREAM_AAC_SAES) => {
                let mut kept = Vec::with_capacity(desc.len());
                let mut j = 0;
                while j + 2 <= desc.len() {
                    let n = (2 + usize::from(desc[j + 1])).min(desc.len() - j);
                    let d = &desc[j..j + n];
                    if !is_saes_descriptor(d) {
                        kept.extend_from_slice(d);
                    }
                    j += n;
                }
                desc = kept;
                if ty == STREAM_H264_SAES {
                    STREAM_H264
                } else {
                    STREAM_AAC
                }
            }
            (_, t) => t,
        };
        s.push(new_ty);
        s.extend_from_slice(&section[i + 1..i + 3]);
        s.push(0xf0 | ((desc.len() >> 8) as u8 & 0x0f));
        s.push(desc.len() as u8);
        s.extend_from_slice(&desc);
        i += 5 + es_info;
    }
    let new_len = s.len() - 3 + 4;
    s[1] = (s[1] & 0xf0) | ((new_len >> 8) as u8 & 0x0f);
    s[2] = new_len as u8;
    let crc = crc::Crc::<u32>::new(&crc::CRC_32_MPEG_2).checksum(&s);
    s.extend_from_slice(&crc.to_be_bytes());
    s
}

/// A transformed PES: its pid, bytes, and first packet's adaptation field.
type NewPes = (u16, Vec<u8>, Option<Vec<u8>>);

/// One PES being collected: where its first packet was, that packet's
/// adaptation field, and its bytes.
struct Pes {
    at: usize,
    af: Option<Vec<u8>>,
    data: Vec<u8>,
}

/// Encrypts a whole MPEG-TS segment (H.264 and AAC) for `METHOD=SAMPLE-AES`
/// under `key` with the segment's `iv`.
pub fn encrypt_segment(ts: &[u8], key: &[u8; 16], iv: &[u8; 16]) -> Result<Vec<u8>, Problem> {
    transform(ts, key, iv, Way::Encrypt)
}

/// Decrypts a `METHOD=SAMPLE-AES` MPEG-TS segment under `key` with the
/// segment's `iv` into clear MPEG-TS: the samples decrypted, the PMT's stream
/// types and descriptors as they were before [`encrypt_segment`]. A wrong key
/// is not detected here (SAMPLE-AES has no padding): the samples come out as
/// noise, which a decoder finds.
pub fn decrypt_segment(ts: &[u8], key: &[u8; 16], iv: &[u8; 16]) -> Result<Vec<u8>, Problem> {
    transform(ts, key, iv, Way::Decrypt)
}

/// Moves a SAMPLE-AES segment from one key and IV to another (`rekey`).
pub fn reencrypt_segment(
    ts: &[u8],
    old_key: &[u8; 16],
    old_iv: &[u8; 16],
    new_key: &[u8; 16],
    new_iv: &[u8; 16],
) -> Result<Vec<u8>, Problem> {
    let clear = zeroize::Zeroizing::new(decrypt_segment(ts, old_key, old_iv)?);
    encrypt_segment(&clear, new_key, new_iv)
}

fn transform(ts: &[u8], key: &[u8; 16], iv: &[u8; 16], way: Way) -> Result<Vec<u8>, Problem> {
    let (video_ty, audio_ty) = match way {
        Way::Encrypt => (STREAM_H264, STREAM_AAC),
        Way::Decrypt => (STREAM_H264_SAES, STREAM_AAC_SAES),
    };
    if ts.is_empty() || !ts.len().is_multiple_of(TS) {
        return Err(format!(
            "{} bytes is not a whole number of 188-byte TS packets",
            ts.len()
        ));
    }
    let packets: Vec<Packet> = ts.chunks(TS).map(parse_packet).collect::<Result<_, _>>()?;
    // PAT -> PMT pid -> elementary streams.
    let pmt_pid = packets
        .iter()
        .find(|p| p.pid == 0 && p.pusi)
        .and_then(|p| {
            let s = p.payload.get(1 + usize::from(*p.payload.first()?)..)?;
            // The first program after the 8-byte header.
            (s.len() >= 12).then(|| (u16::from(s[10] & 0x1f) << 8) | u16::from(s[11]))
        })
        .ok_or("the segment has no PAT")?;
    let pmt_section = |p: &Packet<'_>| -> Option<Vec<u8>> {
        let ptr = usize::from(*p.payload.first()?);
        p.payload.get(1 + ptr..).map(<[u8]>::to_vec)
    };
    let pmt = packets
        .iter()
        .find(|p| p.pid == pmt_pid && p.pusi)
        .and_then(pmt_section)
        .ok_or("the segment has no PMT")?;
    let streams = pmt_streams(&pmt)?;
    let mut kinds: BTreeMap<u16, u8> = BTreeMap::new();
    for (ty, pid) in streams {
        match ty {
            t if t == video_ty || t == audio_ty => {
                kinds.insert(pid, ty);
            }
            other if way == Way::Decrypt => {
                return Err(format!(
                    "stream type {other:#04x} on PID {pid}: a SAMPLE-AES segment carries H.264 (0xdb) and AAC (0xcf) only"
                ))
            }
            other => {
                return Err(format!(
                    "stream type {other:#04x} on PID {pid}: SAMPLE-AES for TS takes H.264 video and AAC audio only"
                ))
            }
        }
    }
    // Collect PES packets per elementary PID.
    let mut pes: BTreeMap<u16, Vec<Pes>> = BTreeMap::new();
    for (n, p) in packets.iter().enumerate() {
        if !kinds.contains_key(&p.pid) {
            continue;
        }
        let list = pes.entry(p.pid).or_default();
        if p.pusi {
            list.push(Pes {
                at: n,
                af: p.af.map(af_without_stuffing).filter(|a| a.len() > 1),
                data: Vec::new(),
            });
        } else if p.payload.is_empty() {
            continue;
        } else if list.is_empty() {
            return Err(format!(
                "PID {} starts in the middle of a PES packet",
                p.pid
            ));
        }
        if let Some(last) = list.last_mut() {
            last.data.extend_from_slice(p.payload);
        }
    }
    let asc = kinds
        .iter()
        .find(|(_, t)| **t == STREAM_AAC && way == Way::Encrypt)
        .and_then(|(pid, _)| pes.get(pid)?.first())
        .and_then(|p| audio_specific_config(p.data.get(pes_header_len(&p.data)?..)?));
    // Transform them.
    // By the index of its first packet: (pid, the new PES, its first adaptation field).
    let mut by_start: BTreeMap<usize, NewPes> = BTreeMap::new();
    for (pid, list) in pes {
        let ty = kinds[&pid];
        for p in list {
            let h = pes_header_len(&p.data)
                .ok_or_else(|| format!("a PES packet on PID {pid} has a damaged header"))?;
            let (head, es) = p.data.split_at(h);
            let mut new_es = if ty == video_ty {
                crypt_h264(es, key, iv, way)?
            } else {
                es.to_vec()
            };
            if ty == audio_ty {
                crypt_adts(&mut new_es, key, iv, way)?;
            }
            let mut out = head.to_vec();
            // PES_packet_length: exact whenever it fits, video included
            // (where FFmpeg's muxer writes 0, "unbounded"). A demuxer must
            // otherwise wait for the next PES to end this one, and for a
            // segment's last PES that is in the next segment: FFmpeg's HLS
            // demuxer then decrypts it with the next segment's IV.
            let l = out.len() - 6 + new_es.len();
            let l = if l > 0xffff { 0 } else { l };
            out[4..6].copy_from_slice(&(l as u16).to_be_bytes());
            out.extend_from_slice(&new_es);
            by_start.insert(p.at, (pid, out, p.af));
        }
    }
    // Write: other packets as they were (the PMT rewritten), each PES whole
    // where its first packet was, continuity counters renumbered.
    let new_pmt = rewrite_pmt(&pmt, asc, way);
    let mut cc: BTreeMap<u16, u8> = BTreeMap::new();
    let mut out = Vec::with_capacity(ts.len() + ts.len() / 32);
    for (n, (p, raw)) in packets.iter().zip(ts.chunks(TS)).enumerate() {
        if let Some((pid, data, af)) = by_start.remove(&n) {
            let c = cc.entry(pid).or_insert(raw[3] & 0x0f);
            packetize(pid, &data, af, c, &mut out);
        } else if kinds.contains_key(&p.pid) {
            if p.payload.is_empty() {
                // Adaptation only (a PCR): kept, with the counter unchanged.
                let mut q = raw.to_vec();
                if let Some(c) = cc.get(&p.pid) {
                    q[3] = (q[3] & 0xf0) | (c.wrapping_sub(1) & 0x0f);
                }
                out.extend_from_slice(&q);
            }
        } else if p.pid == pmt_pid && p.pusi {
            let mut q = raw[..4].to_vec();
            q[3] &= 0xcf;
            q[3] |= 0x10;
            q.push(0);
            q.extend_from_slice(&new_pmt);
            if q.len() > TS {
                return Err("the PMT with SAMPLE-AES descriptors does not fit one packet".into());
            }
            q.resize(TS, 0xff);
            out.extend_from_slice(&q);
        } else {
            out.extend_from_slice(raw);
        }
    }
    Ok(out)
}

/// The length of a PES header (through PES_header_data), or None.
fn pes_header_len(d: &[u8]) -> Option<usize> {
    if d.len() < 9 || d[0..3] != [0, 0, 1] {
        return None;
    }
    let n = 9 + usize::from(d[8]);
    (n <= d.len()).then_some(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_round_trips_and_breaks_start_codes() {
        let raw = [0u8, 0, 1, 0, 0, 0, 0, 0, 3, 7, 0, 0, 2];
        let mut e = Vec::new();
        escape(&raw, &mut e);
        assert!(!e.windows(3).any(|w| w[0] == 0 && w[1] == 0 && w[2] <= 2));
        assert_eq!(unescape(&e), raw);
    }

    #[test]
    fn nal_pattern_leaves_the_leader_and_nine_blocks_clear() {
        let key = [1u8; 16];
        let iv = [2u8; 16];
        // A type-5 NAL of 400 bytes with no zero bytes (no escaping).
        let mut nal = vec![0x65u8];
        nal.extend((1..400).map(|i| (i % 250 + 1) as u8));
        let mut out = Vec::new();
        encrypt_nal(&nal, &key, &iv, &mut out);
        let u = unescape(&out);
        assert_eq!(u.len(), nal.len());
        let diff: Vec<usize> = (0..nal.len()).filter(|&i| u[i] != nal[i]).collect();
        // Blocks at 32, 192 and 352 (352 + 16 < 400); all else clear.
        for &i in &diff {
            assert!(
                (32..48).contains(&i) || (192..208).contains(&i) || (352..368).contains(&i),
                "byte {i} changed"
            );
        }
        assert!(diff.len() > 40, "three blocks encrypted: {}", diff.len());
        // Short and non-slice NAL units stay clear.
        let mut o = Vec::new();
        encrypt_nal(&nal[..48], &key, &iv, &mut o);
        assert_eq!(o, &nal[..48]);
        let mut sps = nal.clone();
        sps[0] = 0x67;
        let mut o = Vec::new();
        encrypt_nal(&sps, &key, &iv, &mut o);
        assert_eq!(o, sps);
    }

    #[test]
    fn adts_leaves_header_leader_and_tail_clear() {
        let key = [3u8; 16];
        let iv = [4u8; 16];
        // One ADTS frame: 7-byte header, 60-byte payload (16 clear, 32
        // encrypted, 12 clear).
        let len = 67usize;
        let mut f = vec![0xff, 0xf1, 0x50, 0x80, 0, 0, 0xfc];
        f[3] |= ((len >> 11) & 3) as u8;
        f[4] = (len >> 3) as u8;
        f[5] = ((len & 7) << 5) as u8 | 0x1f;
        f.extend((0..60).map(|i| i as u8));
        let orig = f.clone();
        encrypt_adts(&mut f, &key, &iv).unwrap();
        let diff: Vec<usize> = (0..len).filter(|&i| f[i] != orig[i]).collect();
        assert!(diff.iter().all(|&i| (23..55).contains(&i)), "{diff:?}");
        assert!(diff.len() > 20);
        assert_eq!(audio_specific_config(&orig), Some([0x12, 0x10]));
    }

    #[test]
    fn decrypting_undoes_the_nal_pattern_the_adts_blocks_and_the_pmt() {
        let key = [5u8; 16];
        let iv = [6u8; 16];
        // A slice with bytes that need emulation prevention once encrypted or not.
        let mut rbsp = vec![0x65u8];
        rbsp.extend((1..700).map(|i| match i % 37 {
            0 | 1 => 0,
            2 => 1,
            _ => (i * 7 % 256) as u8,
        }));
        let mut nal = Vec::new();
        escape(&rbsp, &mut nal);
        assert!(
            nal.windows(4).any(|w| w == [0, 0, 3, 1]),
            "the NAL has its own escapes"
        );
        let mut enc = Vec::new();
        crypt_nal(&nal, &key, &iv, Way::Encrypt, &mut enc);
        assert_ne!(enc, nal);
        let mut dec = Vec::new();
        crypt_nal(&enc, &key, &iv, Way::Decrypt, &mut dec);
        assert_eq!(dec, nal);
        assert!(
            !enc.windows(3).any(|w| w[0] == 0 && w[1] == 0 && w[2] <= 2),
            "a start code inside the encrypted NAL"
        );

        let len = 100usize;
        let mut f = vec![0xff, 0xf1, 0x50, 0x80, 0, 0, 0xfc];
        f[4] = (len >> 3) as u8;
        f[5] = ((len & 7) << 5) as u8 | 0x1f;
        f.extend((0..93).map(|i| (i * 3) as u8));
        let orig = f.clone();
        crypt_adts(&mut f, &key, &iv, Way::Encrypt).unwrap();
        assert_ne!(f, orig);
        crypt_adts(&mut f, &key, &iv, Way::Decrypt).unwrap();
        assert_eq!(f, orig);

        // PMT: program 1, PCR PID 0x100, H.264 on 0x100 and AAC on 0x101
        // (an ISO 639 language descriptor on the audio).
        let mut pmt = vec![
            0x02, 0xb0, 0, 0, 1, 0xc1, 0, 0, 0xe1, 0x00, 0xf0, 0, 0x1b, 0xe1, 0x00, 0xf0, 0, 0x0f,
            0xe1, 0x01, 0xf0, 6, 0x0a, 4, b'e', b'n', b'g', 0,
        ];
        let l = pmt.len() - 3 + 4;
        pmt[2] = l as u8;
        let crc = crc::Crc::<u32>::new(&crc::CRC_32_MPEG_2).checksum(&pmt);
        pmt.extend_from_slice(&crc.to_be_bytes());
        let enc = rewrite_pmt(&pmt, Some([0x12, 0x10]), Way::Encrypt);
        assert_eq!(
            pmt_streams(&enc).unwrap(),
            vec![(STREAM_H264_SAES, 0x100), (STREAM_AAC_SAES, 0x101)]
        );
        assert!(enc.windows(4).any(|w| w == b"apad"));
        assert_eq!(rewrite_pmt(&enc, None, Way::Decrypt), pmt);
    }
}
