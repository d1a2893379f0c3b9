//! Property tests for what the watermark extract reads (issue 24): the key
//! file (`WmKey::load`), payload hex (`Payload::parse`), and frames of any
//! size, tiny and odd ones included, through `Accumulator` and `search`, the
//! whole of extract after FFmpeg's decoder (which is FFmpeg's to fuzz).
//! Bounded, fixed-seed cases so CI is deterministic and short.

use std::sync::OnceLock;

use proptest::prelude::*;
use proptest::test_runner::{Config, RngSeed};
use shieldpack_watermark::extract::{search, Accumulator};
use shieldpack_watermark::pattern::Patterns;
use shieldpack_watermark::{Payload, WmKey};

fn config(cases: u32) -> Config {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(cases);
    Config {
        cases,
        failure_persistence: None,
        rng_seed: RngSeed::Fixed(0x5eed_0024),
        max_shrink_iters: 1024,
        ..Config::default()
    }
}

fn patterns() -> &'static Patterns {
    static P: OnceLock<Patterns> = OnceLock::new();
    P.get_or_init(|| Patterns::new(&WmKey::from_bytes([7; 32])))
}

/// Feeds `frames` frames of `w`x`h` luma, rows `stride` bytes apart, then
/// searches when asked; errors must say something.
fn run(
    w: usize,
    h: usize,
    pad: usize,
    frames: usize,
    fill: u8,
    do_search: bool,
) -> Result<(), TestCaseError> {
    let stride = w + pad;
    let mut a = Accumulator::new(w, h);
    for f in 0..frames {
        let luma: Vec<u8> = (0..stride * h)
            .map(|i| {
                (i as u8)
                    .wrapping_mul(31)
                    .wrapping_add(fill)
                    .wrapping_add(f as u8)
            })
            .collect();
        a.add(&luma, stride);
    }
    if do_search {
        if let Err(e) = search(&a, patterns()) {
            prop_assert!(!e.to_string().trim().is_empty());
        }
    }
    Ok(())
}

#[test]
fn regression_extract_frames_narrower_than_the_reduction() {
    // A 2-pixel-wide, 1000-row clip: the box reduction (k = 3 at this height)
    // is wider than the frame.
    run(2, 1000, 0, 1, 0, true).unwrap();
    run(1, 720, 0, 1, 0, true).unwrap();
}

#[test]
fn regression_extract_empty_frames() {
    run(0, 0, 0, 1, 0, true).unwrap();
    run(0, 480, 0, 1, 0, true).unwrap();
    run(640, 0, 0, 1, 0, true).unwrap();
}

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn tiny_and_odd_frames_never_panic(w in 0usize..48, h in 0usize..1200, pad in 0usize..5, frames in 1usize..3, fill in any::<u8>()) {
        // the search refuses clips this small; it must say so, not panic
        run(w, h, pad, frames, fill, true)?;
    }

    #[test]
    fn key_file_never_panics(text in prop_oneof![
        "shieldpack-wmkey-v1:[0-9a-fA-F]{0,70}\n?",
        "[ -~\n]{0,80}",
        proptest::collection::vec(any::<u8>(), 0..200).prop_map(|b| String::from_utf8_lossy(&b).into_owned()),
    ], raw in proptest::collection::vec(any::<u8>(), 0..100)) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("wm.key");
        for bytes in [text.as_bytes(), &raw[..]] {
            std::fs::write(&path, bytes).unwrap();
            match WmKey::load(&path) {
                Ok(k) => prop_assert_eq!(k.fingerprint().len(), 16),
                Err(e) => prop_assert!(e.to_string().contains("wm.key")),
            }
        }
    }

    #[test]
    fn payload_parses_or_says_why(s in prop_oneof!["(0x)?[0-9a-fA-F]{0,20}", "[ -~]{0,24}", "\\PC{0,20}"]) {
        match Payload::parse(&s) {
            Ok(p) => {
                prop_assert_eq!(Payload::parse(&p.to_hex()).unwrap(), p);
            }
            Err(e) => prop_assert!(!e.to_string().trim().is_empty()),
        }
    }

    #[test]
    fn payload_round_trips(v in any::<u64>()) {
        let p = Payload(v);
        prop_assert_eq!(Payload::parse(&p.to_hex()).unwrap(), p);
        prop_assert_eq!(Payload::parse(&format!("0x{:x}", v)).unwrap(), p);
    }
}

proptest! {
    // Frames big enough to be searched: slower (FFT searches), fewer cases.
    #![proptest_config(config(16))]

    #[test]
    fn searchable_odd_frames_never_panic(w in 60usize..260, h in 144usize..300, pad in 0usize..3) {
        run(w, h, pad, 1, 3, true)?;
    }
}
