//! Segment encryption for HLS `METHOD=AES-128`: the whole segment is encrypted
//! with AES-128-CBC and PKCS#7 padding (RFC 8216 section 4.3.2.4), with the IV
//! either the media sequence number or an explicit one from the playlist.
//! Encryption goes through `fast::CbcEnc` (AES-NI when the CPU has it);
//! decryption is already parallel in the `cbc` crate.

#[allow(unsafe_op_in_unsafe_fn, clippy::undocumented_unsafe_blocks)]
pub mod fast;

pub use fast::{encrypt_lanes, CbcEnc, Sha256One, Sha256x2};

use aes::cipher::{block_padding::Pkcs7, inout::InOutBuf, BlockDecryptMut, KeyIvInit};

type Dec = cbc::Decryptor<aes::Aes128>;

/// The IV HLS implies when EXT-X-KEY has no IV attribute: the segment's media
/// sequence number as a 128-bit big-endian integer (RFC 8216 section 5.2).
pub fn sequence_iv(sequence: u64) -> [u8; 16] {
    (sequence as u128).to_be_bytes()
}

/// Encrypts `buf` in place, growing it by 1 to 16 bytes of padding.
pub fn encrypt_in_place(buf: &mut Vec<u8>, key: &[u8; 16], iv: &[u8; 16]) {
    // PKCS#7: always 1 to 16 bytes, each holding the padding length.
    let pad = 16 - buf.len() % 16;
    buf.resize(buf.len() + pad, pad as u8);
    CbcEnc::new(key, iv).encrypt(buf);
}

/// Encrypts a segment that arrives in pieces, so no whole segment is held in
/// memory: CBC state and any partial block carry over between calls, and
/// `finish` adds the PKCS#7 padding block.
pub struct StreamEncryptor {
    enc: CbcEnc,
    carry: [u8; 16],
    carry_len: usize,
}

impl StreamEncryptor {
    pub fn new(key: &[u8; 16], iv: &[u8; 16]) -> Self {
        StreamEncryptor {
            enc: CbcEnc::new(key, iv),
            carry: [0; 16],
            carry_len: 0,
        }
    }

    /// Encrypts what it can of `data` in place and returns those bytes; up to 15
    /// trailing bytes wait for the next call or `finish`.
    pub fn update<'a>(&mut self, data: &'a mut Vec<u8>) -> &'a [u8] {
        self.whole_blocks(data);
        self.enc.encrypt(data);
        &data[..]
    }

    /// As `update`, and feeds the returned ciphertext to `sha` in the same
    /// pass (`CbcEnc::encrypt_and_hash`), for callers that hash the output.
    pub fn update_hashed<'a>(&mut self, data: &'a mut Vec<u8>, sha: &mut Sha256One) -> &'a [u8] {
        self.whole_blocks(data);
        self.enc.encrypt_and_hash(data, sha);
        &data[..]
    }

    /// Prepends the carried bytes to `data` and moves its trailing partial
    /// block into the carry, leaving whole blocks.
    fn whole_blocks(&mut self, data: &mut Vec<u8>) {
        if self.carry_len > 0 {
            // Rare: the muxer hands over whole avio buffers, which are block-aligned.
            data.splice(0..0, self.carry[..self.carry_len].iter().copied());
        }
        let whole = data.len() / 16 * 16;
        self.carry_len = data.len() - whole;
        self.carry[..self.carry_len].copy_from_slice(&data[whole..]);
        data.truncate(whole);
    }

    /// The last block: the carried bytes plus PKCS#7 padding, encrypted.
    pub fn finish(mut self) -> [u8; 16] {
        self.pad();
        self.enc.encrypt(&mut self.carry);
        self.carry
    }

    /// As `finish`, and feeds the block to `sha` too, so `sha` ends up
    /// with the whole segment as written.
    pub fn finish_hashed(mut self, sha: &mut Sha256One) -> [u8; 16] {
        self.pad();
        self.enc.encrypt_and_hash(&mut self.carry, sha);
        self.carry
    }

    fn pad(&mut self) {
        let n = self.carry_len;
        self.carry[n..].fill((16 - n) as u8);
    }
}

/// Decrypts a segment; `None` when the padding is wrong (wrong key, IV or data).
pub fn decrypt(data: &[u8], key: &[u8; 16], iv: &[u8; 16]) -> Option<Vec<u8>> {
    if data.is_empty() || data.len() % 16 != 0 {
        return None;
    }
    Dec::new(key.into(), iv.into())
        .decrypt_padded_vec_mut::<Pkcs7>(data)
        .ok()
}

/// Decrypts in place, returning the plaintext length; `None` on bad padding.
pub fn decrypt_in_place(buf: &mut [u8], key: &[u8; 16], iv: &[u8; 16]) -> Option<usize> {
    if buf.is_empty() || buf.len() % 16 != 0 {
        return None;
    }
    Dec::new(key.into(), iv.into())
        .decrypt_padded_mut::<Pkcs7>(buf)
        .ok()
        .map(|p| p.len())
}

/// Re-encrypts a segment in place: decrypts with the old key and IV, encrypts
/// the plaintext with the new ones. The padding length is the same, so the
/// ciphertext keeps its length. `None` (and `buf` unspecified) on bad padding.
pub fn reencrypt_in_place(
    buf: &mut [u8],
    old_key: &[u8; 16],
    old_iv: &[u8; 16],
    new_key: &[u8; 16],
    new_iv: &[u8; 16],
) -> Option<()> {
    decrypt_in_place(buf, old_key, old_iv)?;
    // Decryption leaves the (checked) padding in place after the plaintext,
    // and it is the same under the new key, so the whole buffer is encrypted.
    CbcEnc::new(new_key, new_iv).encrypt(buf);
    Some(())
}

/// CBC decryption that carries its chaining value across calls, out of place:
/// for reading ciphertext from where it lies (a mapped file) into a buffer.
pub struct CbcDec(Dec);

impl CbcDec {
    pub fn new(key: &[u8; 16], iv: &[u8; 16]) -> Self {
        CbcDec(Dec::new(key.into(), iv.into()))
    }

    /// Decrypts `src` into `dst`; false (and nothing done) unless both are the
    /// same whole number of blocks.
    pub fn decrypt_to(&mut self, src: &[u8], dst: &mut [u8]) -> bool {
        if src.len() % 16 != 0 {
            return false;
        }
        let Ok(buf) = InOutBuf::new(src, dst) else {
            return false;
        };
        let (blocks, _) = buf.into_chunks();
        self.0.decrypt_blocks_inout_mut(blocks);
        true
    }
}

/// Whether decrypted data ends in valid PKCS#7 padding (1 to 16 bytes of n).
pub fn padding_ok(plain: &[u8]) -> bool {
    let Some(&n) = plain.last() else { return false };
    let n = n as usize;
    (1..=16).contains(&n)
        && plain.len() >= n
        && plain[plain.len() - n..].iter().all(|&b| b as usize == n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_all_padding_lengths() {
        let key = [3u8; 16];
        let iv = sequence_iv(41);
        for n in 0..40 {
            let plain: Vec<u8> = (0..n as u8).collect();
            let mut buf = plain.clone();
            encrypt_in_place(&mut buf, &key, &iv);
            assert_eq!(buf.len(), (n / 16 + 1) * 16);
            assert_eq!(decrypt(&buf, &key, &iv).unwrap(), plain);
        }
    }

    #[test]
    fn streaming_matches_one_shot_for_any_chunking() {
        let key = [9u8; 16];
        let iv = sequence_iv(7);
        let plain: Vec<u8> = (0..1000u32).map(|i| (i * 31 % 251) as u8).collect();
        let mut whole = plain.clone();
        encrypt_in_place(&mut whole, &key, &iv);
        for cuts in [
            vec![],
            vec![16, 512],
            vec![1, 17, 33, 999],
            vec![500],
            vec![15, 16, 31],
        ] {
            let mut s = StreamEncryptor::new(&key, &iv);
            let mut out = Vec::new();
            let mut from = 0;
            for &c in cuts.iter().chain(std::iter::once(&plain.len())) {
                let mut piece = plain[from..c].to_vec();
                out.extend_from_slice(s.update(&mut piece));
                from = c;
            }
            out.extend_from_slice(&s.finish());
            assert_eq!(out, whole, "cuts {cuts:?}");
        }
    }

    #[test]
    fn hashed_streaming_matches_one_shot_and_sha2() {
        use sha2::Digest;
        let key = [4u8; 16];
        let iv = sequence_iv(3);
        for len in [0usize, 1, 15, 16, 17, 63, 64, 65, 1000, 300_000] {
            let plain: Vec<u8> = (0..len).map(|i| (i * 13 % 251) as u8).collect();
            let mut whole = plain.clone();
            encrypt_in_place(&mut whole, &key, &iv);
            let want_hash = sha2::Sha256::digest(&whole);
            // Cut points off block and hash-block boundaries, as well as on.
            for cuts in [
                vec![],
                vec![len / 3, len / 2],
                vec![len.min(48), len.min(100)],
            ] {
                let mut s = StreamEncryptor::new(&key, &iv);
                let mut sha = Sha256One::new();
                let mut out = Vec::new();
                let mut from = 0;
                for &c in cuts.iter().chain(std::iter::once(&len)) {
                    let mut piece = plain[from..c].to_vec();
                    out.extend_from_slice(s.update_hashed(&mut piece, &mut sha));
                    from = c;
                }
                out.extend_from_slice(&s.finish_hashed(&mut sha));
                assert_eq!(out, whole, "{len} bytes, cuts {cuts:?}");
                assert_eq!(
                    sha.finalize()[..],
                    want_hash[..],
                    "{len} bytes, cuts {cuts:?}"
                );
            }
        }
    }

    #[test]
    fn reencryption_equals_encrypting_afresh() {
        for n in [0usize, 15, 16, 17, 1000] {
            let plain: Vec<u8> = (0..n).map(|i| i as u8).collect();
            let mut a = plain.clone();
            encrypt_in_place(&mut a, &[1; 16], &[2; 16]);
            reencrypt_in_place(&mut a, &[1; 16], &[2; 16], &[3; 16], &[4; 16]).unwrap();
            let mut b = plain.clone();
            encrypt_in_place(&mut b, &[3; 16], &[4; 16]);
            assert_eq!(a, b);
        }
        let mut c = vec![0u8; 32];
        assert!(reencrypt_in_place(&mut c, &[1; 16], &[2; 16], &[3; 16], &[4; 16]).is_none());
    }

    #[test]
    fn streamed_out_of_place_reencryption_equals_whole() {
        // What rekey does: chunks decrypted out of place, checked, encrypted in lanes.
        for n in [0usize, 15, 16, 17, 100_000] {
            let plain: Vec<u8> = (0..n).map(|i| (i * 7) as u8).collect();
            let mut whole = plain.clone();
            encrypt_in_place(&mut whole, &[1; 16], &[2; 16]);
            let old = whole.clone();
            reencrypt_in_place(&mut whole, &[1; 16], &[2; 16], &[3; 16], &[4; 16]).unwrap();
            let (mut dec, mut enc) = (
                CbcDec::new(&[1; 16], &[2; 16]),
                CbcEnc::new(&[3; 16], &[4; 16]),
            );
            let mut streamed = Vec::new();
            for chunk in old.chunks(4096) {
                let mut buf = vec![0u8; chunk.len()];
                assert!(dec.decrypt_to(chunk, &mut buf));
                if streamed.len() + chunk.len() == old.len() {
                    assert!(padding_ok(&buf));
                }
                encrypt_lanes(&mut [(&mut enc, &mut buf[..])]);
                streamed.extend_from_slice(&buf);
            }
            assert_eq!(streamed, whole);
        }
        let mut out = vec![0u8; 48];
        assert!(CbcDec::new(&[1; 16], &[2; 16]).decrypt_to(&[0u8; 48], &mut out));
        assert!(!padding_ok(&out) || out[47] as usize <= 16);
        assert!(!CbcDec::new(&[1; 16], &[2; 16]).decrypt_to(&[0u8; 40], &mut [0u8; 40]));
        assert!(!CbcDec::new(&[1; 16], &[2; 16]).decrypt_to(&[0u8; 32], &mut [0u8; 48]));
    }

    #[test]
    fn padding_check_accepts_only_pkcs7() {
        assert!(padding_ok(&[7, 1]));
        assert!(padding_ok(&[16; 16]));
        assert!(padding_ok(&[9, 3, 3, 3]));
        assert!(!padding_ok(&[]));
        assert!(!padding_ok(&[5, 0]));
        assert!(!padding_ok(&[17; 17]));
        assert!(!padding_ok(&[9, 2, 3, 3]));
        assert!(!padding_ok(&[2]));
    }

    #[test]
    fn sequence_iv_is_big_endian() {
        let iv = sequence_iv(0x0102);
        assert_eq!(&iv[14..], &[1, 2]);
        assert!(iv[..14].iter().all(|b| *b == 0));
    }
}
