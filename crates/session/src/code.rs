//! The keyed A/B code: which variant every session gets for every segment, and
//! the 64-bit payload marked into each variant.
//!
//! The code is a Tardos code (G. Tardos, "Optimal probabilistic fingerprint
//! codes", 2003) with the symmetric score of Skoric, Katzenbeisser and Celik
//! (2008), see `score`. Everything is derived from one 32-byte code key, itself
//! derived from the watermark key, so `package`, `session` and `trace` agree
//! without any shared state, and a CDN edge can compute a variant with HMAC-SHA256
//! and ChaCha20 alone (docs/sessions.md):
//!
//! - bias of segment i: `u = HMAC(K, "bias" || be64(i))[0..8]` as a big-endian
//!   u64 over 2^64; `r = t' + u (pi/2 - 2 t')` with `t' = asin(sqrt(CUTOFF))`;
//!   `p = sin(r)^2`; threshold `T_i = round(p 2^32)` clamped to [1, 2^32 - 1].
//!   This is Tardos' arcsine bias density cut off at `CUTOFF` and `1 - CUTOFF`.
//! - session seed: `s = HMAC(K, "session" || id)` (32 bytes);
//! - variant of segment i: `v = ChaCha20(key = s, nonce = 0)` keystream bytes
//!   `8i..8i+8` as a little-endian u64; the session gets `b` when
//!   `v >> 32 < T_i`, else `a`.
//!
//! One HMAC per session and one ChaCha20 block per 8 segments make scoring a
//! million sessions a matter of seconds.

use std::path::Path;

use hkdf::Hkdf;
use hmac::{Hmac, Mac};
use rand_chacha::rand_core::{RngCore, SeedableRng};
use rand_chacha::ChaCha20Rng;
use sha2::Sha256;
use zeroize::Zeroizing;

use shieldpack_core::error::{Error, Result};

type HmacSha256 = Hmac<Sha256>;

/// Tardos' bias cut-off t: biases lie in [t, 1 - t]. Tardos' own choice is
/// 1/(300 c) for c colluders; a larger cut-off gives up some resistance to
/// large coalitions for shorter codes against one or two leakers, which is
/// what a title's few hundred segments can carry (bench/sessions measures it).
pub const CUTOFF: f64 = 0.1;

/// Session ids: what a playlist file name, a URL query and a token field can
/// carry without escaping.
pub const MAX_ID_LEN: usize = 128;

const SALT: &[u8] = b"shieldpack/session/v1";

/// A segment variant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Variant {
    A,
    B,
}

impl Variant {
    pub fn as_str(self) -> &'static str {
        match self {
            Variant::A => "a",
            Variant::B => "b",
        }
    }
    pub fn bit(self) -> u64 {
        match self {
            Variant::A => 0,
            Variant::B => 1,
        }
    }
    pub fn both() -> [Variant; 2] {
        [Variant::A, Variant::B]
    }
}

impl std::fmt::Display for Variant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The keys of the A/B code, derived from the watermark key. Debug never shows
/// a secret.
pub struct CodeKey {
    code: Zeroizing<[u8; 32]>,
    /// Absent in a code key opened from a package (`sealed`): it makes
    /// playlists, not marks.
    mark: Option<Zeroizing<[u8; 32]>>,
}

impl std::fmt::Debug for CodeKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CodeKey(..)")
    }
}

impl CodeKey {
    /// The code keys of a watermark key's 32 secret bytes:
    /// `HKDF-SHA256(salt "shieldpack/session/v1", wm secret, info "tardos-code")`
    /// for the code and info `"ab-payload"` for the payload check.
    pub fn from_wm_secret(secret: &[u8; 32]) -> Self {
        let hk = Hkdf::<Sha256>::new(Some(SALT), secret);
        let mut code = Zeroizing::new([0u8; 32]);
        let mut mark = Zeroizing::new([0u8; 32]);
        hk.expand(b"tardos-code", &mut code[..])
            .expect("32 bytes is a valid HKDF length");
        hk.expand(b"ab-payload", &mut mark[..])
            .expect("32 bytes is a valid HKDF length");
        CodeKey {
            code,
            mark: Some(mark),
        }
    }

    /// A code key that only picks variants (playlists, `session variant`,
    /// scoring): the Tardos code secret alone, as `sealed` stores it in a
    /// package. It cannot make or check a payload.
    pub fn from_code_secret(code: &[u8; 32]) -> Self {
        CodeKey {
            code: Zeroizing::new(*code),
            mark: None,
        }
    }

    /// The Tardos code secret (for `sealed`, which wraps it to a keyring's
    /// recipients).
    pub fn code_secret(&self) -> &[u8; 32] {
        &self.code
    }

    /// Reads a watermark key file (`shieldpack watermark keygen`): one line,
    /// `shieldpack-wmkey-v1:` and 64 hex digits.
    pub fn load_wm_key(path: &Path) -> Result<Self> {
        let secret = shieldpack_core::wmkey::read(path)?;
        Ok(Self::from_wm_secret(&secret))
    }

    fn hmac(&self, key: &[u8; 32], parts: &[&[u8]]) -> [u8; 32] {
        let mut m = HmacSha256::new_from_slice(key).expect("HMAC takes any key length");
        for p in parts {
            m.update(p);
        }
        m.finalize().into_bytes().into()
    }

    /// The probability threshold of segment `i` (out of 2^32): a session gets
    /// `b` with probability `threshold(i) / 2^32`.
    pub fn threshold(&self, i: u64) -> u32 {
        let h = self.hmac(&self.code, &[b"bias", &i.to_be_bytes()]);
        let u = u64::from_be_bytes(h[..8].try_into().expect("8 bytes")) as f64 / 2f64.powi(64);
        let t0 = CUTOFF.sqrt().asin();
        let r = t0 + u * (std::f64::consts::FRAC_PI_2 - 2.0 * t0);
        let p = r.sin().powi(2);
        (p * 2f64.powi(32))
            .round()
            .clamp(1.0, (u32::MAX - 1) as f64) as u32
    }

    /// The bias p_i of segment `i` as used in scoring (exactly threshold / 2^32).
    pub fn bias(&self, i: u64) -> f64 {
        self.threshold(i) as f64 / 2f64.powi(32)
    }

    /// A session's codeword reader.
    pub fn session(&self, id: &str) -> SessionCode {
        let seed = self.hmac(&self.code, &[b"session", id.as_bytes()]);
        SessionCode {
            rng: ChaCha20Rng::from_seed(seed),
        }
    }

    /// The variant session `id` gets for segment `i`.
    pub fn variant(&self, id: &str, i: u64) -> Variant {
        self.session(id).variant_with(i, self.threshold(i))
    }

    /// The 64-bit payload marked into variant `v` of segment `i`: bit 63 the
    /// variant, bits 32..63 the segment index (31 bits), bits 0..32 a keyed
    /// check, the first 4 bytes of `HMAC(K_mark, "ab" || variant || be64(i))`,
    /// so that a misread payload is refused with chance 1 - 2^-32.
    ///
    /// A code-only key (`from_code_secret`) has no payload key: its check
    /// is 0, which `parse_payload` of such a key refuses.
    pub fn payload(&self, v: Variant, i: u64) -> u64 {
        let Some(mark) = &self.mark else {
            return (v.bit() << 63) | ((i & 0x7fff_ffff) << 32);
        };
        let check = self.hmac(mark, &[b"ab", &[v.bit() as u8], &i.to_be_bytes()]);
        let check = u32::from_be_bytes(check[..4].try_into().expect("4 bytes")) as u64;
        (v.bit() << 63) | ((i & 0x7fff_ffff) << 32) | check
    }

    /// The variant and segment index a read payload names, if its check holds.
    pub fn parse_payload(&self, payload: u64) -> Option<(Variant, u64)> {
        let v = if payload >> 63 == 1 {
            Variant::B
        } else {
            Variant::A
        };
        let i = (payload >> 32) & 0x7fff_ffff;
        (self.mark.is_some() && self.payload(v, i) == payload).then_some((v, i))
    }
}

/// One session's codeword, read segment by segment.
pub struct SessionCode {
    rng: ChaCha20Rng,
}

impl SessionCode {
    /// The keystream word for segment `i` (bytes 8i..8i+8, little-endian).
    pub fn word(&mut self, i: u64) -> u64 {
        self.rng.set_word_pos(2 * i as u128);
        self.rng.next_u64()
    }

    /// The variant for segment `i` given its threshold.
    pub fn variant_with(&mut self, i: u64, threshold: u32) -> Variant {
        if ((self.word(i) >> 32) as u32) < threshold {
            Variant::B
        } else {
            Variant::A
        }
    }
}

/// Checks a session id: 1 to 128 of `A-Z a-z 0-9 . _ -`, not starting with a
/// dot, so that it names a file and sits in a URL or token unescaped.
pub fn check_id(id: &str) -> Result<()> {
    let ok = !id.is_empty()
        && id.len() <= MAX_ID_LEN
        && !id.starts_with('.')
        && id
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'_' | b'-'));
    if ok {
        Ok(())
    } else {
        Err(Error::arg(
            format!("session id {id:?} is not 1 to {MAX_ID_LEN} of A-Z a-z 0-9 . _ - (not starting with a dot)"),
            "use ids such as user-1234 or a UUID",
        ))
    }
}

/// Reads a sessions file: one id a line; blank lines and `#` comments skipped.
pub fn read_ids(path: &Path) -> Result<Vec<String>> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::input(path, e))?;
    let mut ids = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        check_id(line).map_err(|e| {
            Error::at(
                path,
                n + 1,
                1,
                e.to_string(),
                "one session id a line: A-Z a-z 0-9 . _ -",
            )
        })?;
        ids.push(line.to_string());
    }
    Ok(ids)
}

/// The id of the `n`th generated session (`--session-count`): `session-NNNNNNN`.
pub fn generated_id(n: u64) -> String {
    format!("session-{n:07}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> CodeKey {
        CodeKey::from_wm_secret(&[7u8; 32])
    }

    #[test]
    fn biases_follow_the_cut_off_arcsine() {
        let k = key();
        let ps: Vec<f64> = (0..4000).map(|i| k.bias(i)).collect();
        assert!(ps
            .iter()
            .all(|&p| (CUTOFF - 1e-9..=1.0 - CUTOFF + 1e-9).contains(&p)));
        let mean = ps.iter().sum::<f64>() / ps.len() as f64;
        assert!((mean - 0.5).abs() < 0.03, "mean bias {mean}");
        // the share below 0.3 follows the cut-off arcsine distribution's CDF
        let t0 = CUTOFF.sqrt().asin();
        let want = (0.3f64.sqrt().asin() - t0) / (std::f64::consts::FRAC_PI_2 - 2.0 * t0);
        let got = ps.iter().filter(|&&p| p < 0.3).count() as f64 / ps.len() as f64;
        assert!(
            (got - want).abs() < 0.025,
            "share below 0.3: {got}, arcsine says {want}"
        );
    }

    #[test]
    fn variants_follow_the_bias_and_differ_between_sessions() {
        let k = key();
        let th = k.threshold(3);
        let p = th as f64 / 2f64.powi(32);
        let n = 20000;
        let bs = (0..n)
            .filter(|&j| k.variant(&generated_id(j), 3) == Variant::B)
            .count() as f64;
        let sd = (p * (1.0 - p) / n as f64).sqrt();
        assert!(
            (bs / n as f64 - p).abs() < 5.0 * sd,
            "b share {} for p {p}",
            bs / n as f64
        );
        let a: Vec<_> = (0..64).map(|i| k.variant("alice", i)).collect();
        let b: Vec<_> = (0..64).map(|i| k.variant("bob", i)).collect();
        assert_ne!(a, b);
        // the same session gets the same variant whatever order segments are asked in
        let mut s = k.session("alice");
        let rev: Vec<_> = (0..64)
            .rev()
            .map(|i| s.variant_with(i, k.threshold(i)))
            .collect();
        assert_eq!(a, rev.into_iter().rev().collect::<Vec<_>>());
    }

    #[test]
    fn payload_round_trips_and_refuses_a_flipped_bit() {
        let k = key();
        for i in [0u64, 1, 77, 65535] {
            for v in Variant::both() {
                let pl = k.payload(v, i);
                assert_eq!(k.parse_payload(pl), Some((v, i)));
                for bit in [0, 17, 40, 63] {
                    assert_eq!(k.parse_payload(pl ^ (1 << bit)), None);
                }
            }
        }
        assert_ne!(k.payload(Variant::A, 5), k.payload(Variant::B, 5));
        let other = CodeKey::from_wm_secret(&[8u8; 32]);
        assert_eq!(other.parse_payload(k.payload(Variant::A, 5)), None);
    }

    #[test]
    fn ids_are_checked() {
        for ok in ["alice", "user-1234", "a.b_c", &"x".repeat(128)] {
            check_id(ok).unwrap();
        }
        for bad in ["", ".hidden", "a/b", "a~b", "a b", "a?b", &"x".repeat(129)] {
            assert!(check_id(bad).is_err(), "{bad:?}");
        }
    }
}
