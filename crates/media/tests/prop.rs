//! Property test for the TS reader (issue 24): `tsread::analyze` runs
//! FFmpeg's demuxer in memory over segment bytes `verify` was handed; on
//! generated TS (a real PAT and PMT, then PES packets with arbitrary
//! timestamps and payloads), on mutations of it, and on arbitrary bytes it
//! returns a TsInfo or an error that says why, never a panic. Fewer cases than
//! the pure parsers (each opens a demuxer), from a fixed seed. Beside them,
//! two fixed cases of the table check at a segment's start, which is how
//! `verify` tells a segment decrypted under the wrong IV.

use proptest::prelude::*;
use proptest::test_runner::{Config, RngSeed};
use shieldpack_media::tsread;

fn config(cases: u32) -> Config {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(cases);
    Config {
        cases,
        failure_persistence: None,
        rng_seed: RngSeed::Fixed(0x5eed_0024),
        max_shrink_iters: 512,
        ..Config::default()
    }
}

/// CRC-32/MPEG-2 of a PSI section.
fn crc32_mpeg2(data: &[u8]) -> u32 {
    let mut crc = 0xffff_ffffu32;
    for &b in data {
        crc ^= (b as u32) << 24;
        for _ in 0..8 {
            crc = if crc & 0x8000_0000 != 0 {
                (crc << 1) ^ 0x04c1_1db7
            } else {
                crc << 1
            };
        }
    }
    crc
}

fn psi_packet(pid: u16, section: &[u8]) -> Vec<u8> {
    let mut p = vec![0x47, 0x40 | (pid >> 8) as u8, pid as u8, 0x10, 0x00];
    p.extend_from_slice(section);
    p.extend_from_slice(&crc32_mpeg2(section).to_be_bytes());
    p.resize(188, 0xff);
    p
}

/// PAT (program 1 at PID 0x1000) and PMT (H.264 at 0x100, AAC at 0x101).
fn header() -> Vec<u8> {
    let pat = [
        0x00, 0xb0, 0x0d, 0x00, 0x01, 0xc1, 0x00, 0x00, 0x00, 0x01, 0xf0, 0x00,
    ];
    let pmt = [
        0x02, 0xb0, 0x17, 0x00, 0x01, 0xc1, 0x00, 0x00, 0xe1, 0x00, 0xf0, 0x00, 0x1b, 0xe1, 0x00,
        0xf0, 0x00, 0x0f, 0xe1, 0x01, 0xf0, 0x00,
    ];
    [psi_packet(0, &pat), psi_packet(0x1000, &pmt)].concat()
}

fn pts_bytes(marker: u8, t: u64) -> [u8; 5] {
    [
        (marker << 4) | (((t >> 30) & 7) as u8) << 1 | 1,
        (t >> 22) as u8,
        (((t >> 15) & 0x7f) as u8) << 1 | 1,
        (t >> 7) as u8,
        ((t & 0x7f) as u8) << 1 | 1,
    ]
}

#[derive(Debug, Clone)]
struct Pes {
    audio: bool,
    start: bool,
    pts: u64,
    dts: Option<u64>,
    body: Vec<u8>,
}

fn pes() -> impl Strategy<Value = Pes> {
    (
        any::<bool>(),
        any::<bool>(),
        prop_oneof![
            0u64..900_000,
            Just((1u64 << 33) - 1),
            any::<u64>().prop_map(|v| v & ((1 << 33) - 1))
        ],
        proptest::option::of(any::<u64>().prop_map(|v| v & ((1 << 33) - 1))),
        prop_oneof![
            proptest::collection::vec(any::<u8>(), 0..160),
            // something like an H.264 access unit: AUD, SPS-ish, IDR-ish
            proptest::collection::vec(any::<u8>(), 0..120).prop_map(|mut b| {
                let mut v = vec![
                    0, 0, 0, 1, 0x09, 0xf0, 0, 0, 0, 1, 0x67, 0x42, 0xc0, 0x1e, 0, 0, 0, 1, 0x65,
                ];
                v.append(&mut b);
                v
            }),
        ],
    )
        .prop_map(|(audio, start, pts, dts, body)| Pes {
            audio,
            start,
            pts,
            dts,
            body,
        })
}

fn packets(ps: &[Pes]) -> Vec<u8> {
    let mut out = header();
    let mut cc = [0u8; 2];
    for p in ps {
        let pid: u16 = if p.audio { 0x101 } else { 0x100 };
        let c = &mut cc[p.audio as usize];
        let mut pkt = vec![
            0x47,
            ((p.start as u8) << 6) | (pid >> 8) as u8,
            pid as u8,
            0x10 | *c,
        ];
        *c = (*c + 1) & 0xf;
        let mut payload = Vec::new();
        if p.start {
            let sid = if p.audio { 0xc0 } else { 0xe0 };
            payload.extend_from_slice(&[0, 0, 1, sid, 0, 0, 0x80]);
            match p.dts {
                Some(d) => {
                    payload.extend_from_slice(&[0xc0, 10]);
                    payload.extend_from_slice(&pts_bytes(3, p.pts));
                    payload.extend_from_slice(&pts_bytes(1, d));
                }
                None => {
                    payload.extend_from_slice(&[0x80, 5]);
                    payload.extend_from_slice(&pts_bytes(2, p.pts));
                }
            }
        }
        payload.extend_from_slice(&p.body);
        payload.truncate(184);
        if payload.len() < 184 {
            // pad with an adaptation field of stuffing
            let n = 184 - payload.len();
            pkt[3] = (pkt[3] & 0x0f) | 0x30;
            pkt.push((n - 1) as u8);
            if n >= 2 {
                pkt.push(0x00);
                pkt.extend(std::iter::repeat_n(0xff, n - 2));
            }
        }
        pkt.extend_from_slice(&payload);
        debug_assert_eq!(pkt.len(), 188);
        out.extend_from_slice(&pkt);
    }
    out
}

fn check(bytes: &[u8]) -> Result<(), TestCaseError> {
    match tsread::analyze(bytes) {
        Ok(info) => {
            prop_assert!(info.video_duration.is_finite(), "{info:?}");
            prop_assert!(info.video_duration >= 0.0, "{info:?}");
        }
        Err(e) => prop_assert!(!e.trim().is_empty()),
    }
    Ok(())
}

/// Twenty PES packets 40 ms apart, video and audio in turn, after a PAT and
/// PMT.
fn twenty_pes() -> Vec<u8> {
    let ps: Vec<Pes> = (0..20)
        .map(|i| Pes {
            audio: i % 2 == 1,
            start: true,
            pts: 90_000 + i * 3600,
            dts: None,
            body: vec![0; 50],
        })
        .collect();
    packets(&ps)
}

#[test]
fn the_generator_makes_ts_ffmpeg_reads() {
    let bytes = twenty_pes();
    assert_eq!(bytes.len() % 188, 0);
    check(&bytes).unwrap();
}

/// CBC under the wrong IV garbles only the first 16 bytes: with the sync byte
/// left whole, FFmpeg still reads the segment, so the table check must refuse
/// it.
#[test]
fn a_first_block_garbled_past_the_sync_byte_is_refused() {
    let good = twenty_pes();
    assert!(tsread::analyze(&good).is_ok());
    // One garbled byte at a time, each place in the block after the sync byte.
    for at in 1..16 {
        let mut bad = good.clone();
        bad[at] ^= 0xa5;
        let e = tsread::analyze(&bad).expect_err(&format!("byte {at} garbled"));
        assert!(e.contains("first TS packet"), "byte {at}: {e}");
    }
}

/// FFmpeg's muxer puts the SDT first, and a long service name (the input's
/// title, when it has one) runs it over several packets: the table check
/// reads it whole. The same bytes with their first block garbled past the
/// sync byte, as under the wrong IV, are refused.
#[test]
fn ffmpeg_ts_with_an_sdt_over_three_packets_reads_and_a_garbled_one_does_not() {
    let dir = tempfile::tempdir().unwrap();
    let ts = dir.path().join("long-sdt.ts");
    let out = std::process::Command::new("ffmpeg")
        .args(["-nostdin", "-hide_banner", "-loglevel", "error", "-y"])
        .args([
            "-f",
            "lavfi",
            "-i",
            "testsrc=size=160x90:rate=24",
            "-t",
            "1",
        ])
        .args(["-c:v", "libx264", "-metadata"])
        .arg(format!("service_name={}", "N".repeat(250)))
        .arg("-metadata")
        .arg(format!("service_provider={}", "P".repeat(200)))
        .args(["-f", "mpegts"])
        .arg(&ts)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let good = std::fs::read(&ts).unwrap();
    let pids: Vec<(u16, bool)> = good
        .chunks_exact(188)
        .take(4)
        .map(|p| (u16::from_be_bytes([p[1], p[2]]) & 0x1fff, p[1] & 0x40 != 0))
        .collect();
    assert_eq!(
        pids,
        [(0x11, true), (0x11, false), (0x11, false), (0, true)],
        "the SDT over three packets, then the PAT"
    );
    let info = tsread::analyze(&good).unwrap();
    assert_eq!(info.video_frames, 24, "{info:?}");
    for at in [1, 2, 3, 4, 5, 7, 15] {
        let mut bad = good.clone();
        bad[at] ^= 0x5a;
        let e = tsread::analyze(&bad).expect_err(&format!("byte {at} garbled"));
        assert!(e.contains("first TS packet"), "byte {at}: {e}");
    }
}

proptest! {
    #![proptest_config(config(64))]

    #[test]
    fn generated_ts_never_panics(ps in proptest::collection::vec(pes(), 0..40)) {
        check(&packets(&ps))?;
    }

    #[test]
    fn mutated_ts_never_panics(ps in proptest::collection::vec(pes(), 1..30), flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..20), cut in proptest::option::of(any::<usize>())) {
        let mut b = packets(&ps);
        for (i, x) in flips {
            let i = i % b.len();
            // keep the sync bytes (or not, one time in 8), so FFmpeg gets to read it
            if !i.is_multiple_of(188) || x.is_multiple_of(8) {
                b[i] ^= x | 1;
            }
        }
        if let Some(c) = cut {
            let n = c % (b.len() + 1);
            b.truncate(if c % 2 == 0 { n - n % 188 } else { n });
        }
        check(&b)?;
    }

    #[test]
    fn arbitrary_bytes_never_panic(mut b in proptest::collection::vec(any::<u8>(), 0..2048), sync in any::<bool>()) {
        if sync {
            b.truncate(b.len() - b.len() % 188);
            for i in (0..b.len()).step_by(188) {
                b[i] = 0x47;
            }
        }
        check(&b)?;
    }
}
