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
use crate::error::{Error, Result};

/// Amplitude of the sync pattern relative to one symbol pattern: the sync
/// carries the detection statistic and the reference offset, so it gets a
/// little more of the budget.
pub(super) const SYNC_GAIN: f32 = 1.4;
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
    p
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
