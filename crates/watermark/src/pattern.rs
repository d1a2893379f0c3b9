//! The keyed patterns, the payload and its coding into tile shifts.
//!
//! Every pattern is a `TILE`x`TILE` grid of +-1 drawn from ChaCha20 seeded by
//! HKDF of the key, so two keys give independent patterns. The payload's 64 bits
//! and 20 check bits make 7 symbols of 12 bits; symbol k is embedded as a 2-D
//! cyclic shift of pattern k by (symbol / TILE, symbol % TILE) cells.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha20Rng;
use sha2::{Digest, Sha256};

use super::{WmKey, SYMBOLS, SYMBOL_BITS, TILE};
use shieldpack_core::error::{Error, Result};

/// Amplitude of the sync pattern relative to one symbol pattern: the sync
/// carries the detection statistic and the reference offset, so it gets a
/// little more of the budget.
pub(super) const SYNC_GAIN: f32 = 1.4;
/// High-frequency emphasis of every pattern (`dsp::emphasise`): the host
/// picture, the detector's noise, is weakest at the cells' highest
/// frequencies, and there the mark survives compression and half scaling
/// better than the host's low frequencies let it be read. Measured on a
/// natural 540p clip at equal PSNR (46 dB before the encode) and bitrate
/// (+0.5% over a plain transcode either way), sync z on 6 s excerpts, no
/// emphasis / 1 / 3 / 10: CRF 30 at half scale 6.93 / 7.91 / 8.38 / 8.00,
/// CRF 30 7.12 / 8.17 / 8.80 / 9.32, two seconds at CRF 23 5.16 / 6.85 /
/// 7.45 / -; a low-pass instead (cos^1 and cos^2) lost the mark after CRF 30.
/// A mark made without emphasis still correlates 0.94 with these patterns.
pub const EMPHASIS: f64 = 3.0;
const CHECK_BITS: u32 = SYMBOLS as u32 * SYMBOL_BITS - 64;

/// The 64-bit payload a mark carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Payload(pub u64);

impl Payload {
    /// Parses up to 16 hex digits (an optional `0x` prefix is allowed).
    pub fn parse(s: &str) -> Result<Self> {
        let hint = "give the payload as 1 to 16 hex digits (up to 64 bits), e.g. --payload 5a17c0de12345678";
        let digits = s.strip_prefix("0x").unwrap_or(s);
        if digits.is_empty() {
            return Err(Error::arg("the payload is empty", hint));
        }
        if digits.len() > 16 {
            return Err(Error::arg(
                format!(
                    "the payload '{s}' is too long: {} hex digits ({} bits), at most 16 (64 bits) fit",
                    digits.len(),
                    digits.len() * 4
                ),
                hint,
            ));
        }
        if let Some(bad) = digits.chars().find(|c| !c.is_ascii_hexdigit()) {
            return Err(Error::arg(
                format!("the payload '{s}' is not hex: '{bad}' is not a hex digit"),
                hint,
            ));
        }
        Ok(Payload(
            u64::from_str_radix(digits, 16).expect("checked hex digits"),
        ))
    }

    /// 16 lowercase hex digits.
    pub fn to_hex(self) -> String {
        format!("{:016x}", self.0)
    }

    fn check(self) -> u128 {
        let d = Sha256::new()
            .chain_update(b"shieldpack/watermark/check")
            .chain_update(self.0.to_be_bytes())
            .finalize();
        let v = u32::from_be_bytes([d[0], d[1], d[2], d[3]]);
        (v >> (32 - CHECK_BITS)) as u128
    }

    /// The symbols that carry the payload and its check bits.
    pub fn symbols(self) -> [u16; SYMBOLS] {
        let word = ((self.0 as u128) << CHECK_BITS) | self.check();
        let mut out = [0u16; SYMBOLS];
        for (k, s) in out.iter_mut().enumerate() {
            let shift = (SYMBOLS - 1 - k) as u32 * SYMBOL_BITS;
            *s = ((word >> shift) & ((1 << SYMBOL_BITS) - 1)) as u16;
        }
        out
    }

    /// The payload bits the symbols carry, unchecked (for diagnostics).
    pub fn raw_from_symbols(symbols: &[u16; SYMBOLS]) -> Self {
        let mut word: u128 = 0;
        for s in symbols {
            word = (word << SYMBOL_BITS) | (*s as u128 & ((1 << SYMBOL_BITS) - 1));
        }
        Payload((word >> CHECK_BITS) as u64)
    }

    /// The payload the symbols carry, if their check bits agree.
    pub fn from_symbols(symbols: &[u16; SYMBOLS]) -> Option<Self> {
        let mut word: u128 = 0;
        for s in symbols {
            word = (word << SYMBOL_BITS) | (*s as u128 & ((1 << SYMBOL_BITS) - 1));
        }
        let p = Payload((word >> CHECK_BITS) as u64);
        (p.check() == word & ((1 << CHECK_BITS) - 1)).then_some(p)
    }
}

/// Words tried at most by `decode_list`. A wrong word passes the check with
/// probability 2^-20, so a payload read on the n-th try is another one misread
/// with probability at most n x 2^-20 (1.5e-5 for 16), which `extract` reports.
pub const LIST: usize = 16;

/// Up to two swaps of a symbol to a lower candidate: (symbol, rank).
type Swaps = [Option<(usize, usize)>; 2];

/// Reads the payload from each symbol's candidate values, most likely first,
/// with their z-scores (`candidates[k][0]` is symbol k's highest peak).
///
/// Tries words in order of the z-score they give up against the highest peak
/// of every symbol (the log-likelihood of equal-strength symbols in Gaussian
/// noise), changing at most two symbols, up to `LIST` words, and returns the
/// first whose check bits agree with the number of words tried. Most misreads
/// are one symbol whose true peak came second to a noise peak: the highest
/// peak alone loses the payload, the list keeps it at a small, stated cost.
pub fn decode_list(candidates: &[Vec<(u16, f64)>; SYMBOLS]) -> (Option<Payload>, usize) {
    // one symbol's swap to a lower candidate: (z given up, (symbol, rank))
    let swaps: Vec<(f64, (usize, usize))> = candidates
        .iter()
        .enumerate()
        .flat_map(|(k, c)| (1..c.len()).map(move |r| (c[0].1 - c[r].1, (k, r))))
        .collect();
    let mut words: Vec<(f64, Swaps)> = vec![(0.0, [None, None])];
    for (a, &(za, sa)) in swaps.iter().enumerate() {
        words.push((za, [Some(sa), None]));
        for &(zb, sb) in &swaps[a + 1..] {
            if sb.0 != sa.0 {
                words.push((za + zb, [Some(sa), Some(sb)]));
            }
        }
    }
    words.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut tried = 0;
    for (_, subs) in words.iter().take(LIST) {
        let mut symbols: [u16; SYMBOLS] =
            std::array::from_fn(|k| candidates[k].first().map_or(0, |c| c.0));
        for &(k, r) in subs.iter().flatten() {
            symbols[k] = candidates[k][r].0;
        }
        tried += 1;
        if let Some(p) = Payload::from_symbols(&symbols) {
            return (Some(p), tried);
        }
    }
    (None, tried)
}

/// The key's patterns, each `TILE*TILE` values, zero mean, row-major.
pub struct Patterns {
    pub sync: Vec<f32>,
    pub symbols: Vec<Vec<f32>>,
}

fn pattern(key: &WmKey, index: u32) -> Vec<f32> {
    let mut rng = ChaCha20Rng::from_seed(key.derive(b"pattern", index));
    let mut p: Vec<f32> = (0..TILE * TILE)
        .map(|_| if rng.gen::<bool>() { 1.0 } else { -1.0 })
        .collect();
    let mean = p.iter().sum::<f32>() / p.len() as f32;
    p.iter_mut().for_each(|v| *v -= mean);
    super::dsp::emphasise(&p, EMPHASIS)
}

impl Patterns {
    pub fn new(key: &WmKey) -> Self {
        Patterns {
            sync: pattern(key, 0),
            symbols: (1..=SYMBOLS as u32).map(|i| pattern(key, i)).collect(),
        }
    }

    /// The tile that carries `payload`, scaled to unit RMS.
    pub fn tile(&self, payload: Payload) -> Vec<f32> {
        let mut t: Vec<f32> = self.sync.iter().map(|v| v * SYNC_GAIN).collect();
        for (p, s) in self.symbols.iter().zip(payload.symbols()) {
            let (dy, dx) = (s as usize / TILE, s as usize % TILE);
            for y in 0..TILE {
                let sy = (y + TILE - dy) % TILE;
                for x in 0..TILE {
                    let sx = (x + TILE - dx) % TILE;
                    t[y * TILE + x] += p[sy * TILE + sx];
                }
            }
        }
        let rms = (t.iter().map(|v| v * v).sum::<f32>() / t.len() as f32).sqrt();
        t.iter_mut().for_each(|v| *v /= rms);
        t
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payload_parsing() {
        assert_eq!(
            Payload::parse("5a17c0de12345678").unwrap().0,
            0x5a17c0de12345678
        );
        assert_eq!(Payload::parse("0xff").unwrap().to_hex(), "00000000000000ff");
        assert!(Payload::parse("5a17c0de123456789").is_err());
        assert!(Payload::parse("xyz").is_err());
        assert!(Payload::parse("").is_err());
    }

    #[test]
    fn symbols_round_trip_and_check_catches_errors() {
        for v in [0u64, 1, 0x5a17c0de12345678, u64::MAX] {
            let mut s = Payload(v).symbols();
            assert_eq!(Payload::from_symbols(&s), Some(Payload(v)));
            s[3] ^= 1;
            assert_eq!(Payload::from_symbols(&s), None);
        }
    }

    /// Candidates for `payload`'s symbols: the true value at z 6, with noise
    /// peaks at z 3.5, 3.4, 3.3 below it.
    fn candidates(payload: Payload) -> [Vec<(u16, f64)>; SYMBOLS] {
        let s = payload.symbols();
        std::array::from_fn(|k| {
            let mut c = vec![(s[k], 6.0)];
            for (j, z) in [3.5, 3.4, 3.3].into_iter().enumerate() {
                c.push(((s[k] + 97 * (j as u16 + 1)) % 4096, z));
            }
            c
        })
    }

    #[test]
    fn the_list_reads_through_one_or_two_symbols_lost_to_noise_peaks() {
        let p = Payload(0x5a17c0de12345678);
        assert_eq!(decode_list(&candidates(p)), (Some(p), 1));
        // symbol 3's true peak came second, 0.3 below a noise peak: the
        // highest peaks fail the check, the list reads it on a later try
        let mut c = candidates(p);
        c[3].insert(0, (c[3][0].0 ^ 0x155, 6.3));
        let top: [u16; SYMBOLS] = std::array::from_fn(|k| c[k][0].0);
        assert_eq!(Payload::from_symbols(&top), None);
        let (read, tried) = decode_list(&c);
        assert_eq!(read, Some(p));
        assert!((2..=LIST).contains(&tried), "{tried}");
        // two symbols lost, each by a little: still within the list
        c[5].insert(0, (c[5][0].0 ^ 0x0f0, 6.1));
        let (read, tried) = decode_list(&c);
        assert_eq!(read, Some(p));
        assert!(tried <= LIST, "{tried}");
    }

    #[test]
    fn the_list_gives_up_rather_than_guess() {
        let p = Payload(0x5a17c0de12345678);
        // three symbols lost: beyond two substitutions, nothing is read
        let mut c = candidates(p);
        for k in [1, 3, 5] {
            c[k].insert(0, (c[k][0].0 ^ 0x3c3, 6.2));
        }
        assert_eq!(decode_list(&c), (None, LIST));
        // a true value three noise peaks down, 3 below the highest: more
        // than LIST likelier words come first, so it is not reached
        let mut c = candidates(p);
        let t = c[2][0].0;
        c[2] = vec![(t ^ 1, 9.0), (t ^ 2, 8.5), (t ^ 4, 8.0), (t, 6.0)];
        assert_eq!(decode_list(&c), (None, LIST));
    }

    #[test]
    fn patterns_depend_on_the_key() {
        let a = Patterns::new(&WmKey::from_bytes([1; 32]));
        let b = Patterns::new(&WmKey::from_bytes([2; 32]));
        let dot: f32 = a.sync.iter().zip(&b.sync).map(|(x, y)| x * y).sum();
        // independent +-1 patterns: |dot| ~ TILE, far below TILE^2
        assert!(dot.abs() < 6.0 * TILE as f32, "{dot}");
        let t = a.tile(Payload(42));
        let rms = (t.iter().map(|v| v * v).sum::<f32>() / t.len() as f32).sqrt();
        assert!((rms - 1.0).abs() < 1e-4);
    }
}
