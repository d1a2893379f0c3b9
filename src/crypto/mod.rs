//! Segment encryption for HLS `METHOD=AES-128`: the whole segment is encrypted
//! with AES-128-CBC and PKCS#7 padding (RFC 8216 section 4.3.2.4), with the IV
//! either the media sequence number or an explicit one from the playlist.

use aes::cipher::{
    block_padding::Pkcs7, generic_array::GenericArray, BlockDecryptMut, BlockEncryptMut, KeyIvInit,
};

type Enc = cbc::Encryptor<aes::Aes128>;
type Dec = cbc::Decryptor<aes::Aes128>;

/// The IV HLS implies when EXT-X-KEY has no IV attribute: the segment's media
/// sequence number as a 128-bit big-endian integer (RFC 8216 section 5.2).
pub fn sequence_iv(sequence: u64) -> [u8; 16] {
    (sequence as u128).to_be_bytes()
}

/// Encrypts `buf` in place, growing it by 1 to 16 bytes of padding.
pub fn encrypt_in_place(buf: &mut Vec<u8>, key: &[u8; 16], iv: &[u8; 16]) {
    let len = buf.len();
    buf.resize(len + 16 - len % 16, 0);
    let n = Enc::new(key.into(), iv.into())
        .encrypt_padded_mut::<Pkcs7>(buf, len)
        .expect("room for padding")
        .len();
    buf.truncate(n);
}

/// Encrypts a segment that arrives in pieces, so no whole segment is held in
/// memory: CBC state and any partial block carry over between calls, and
/// `finish` adds the PKCS#7 padding block.
pub struct StreamEncryptor {
    enc: Enc,
    carry: [u8; 16],
    carry_len: usize,
}

impl StreamEncryptor {
    pub fn new(key: &[u8; 16], iv: &[u8; 16]) -> Self {
        StreamEncryptor {
            enc: Enc::new(key.into(), iv.into()),
            carry: [0; 16],
            carry_len: 0,
        }
    }

    /// Encrypts what it can of `data` in place and returns those bytes; up to 15
    /// trailing bytes wait for the next call or `finish`.
    pub fn update<'a>(&mut self, data: &'a mut Vec<u8>) -> &'a [u8] {
        if self.carry_len > 0 {
            // Rare: the muxer hands over whole avio buffers, which are block-aligned.
            data.splice(0..0, self.carry[..self.carry_len].iter().copied());
        }
        let whole = data.len() / 16 * 16;
        self.carry_len = data.len() - whole;
        self.carry[..self.carry_len].copy_from_slice(&data[whole..]);
        data.truncate(whole);
        // SAFETY: GenericArray<u8, U16> is a #[repr(transparent)] [u8; 16] with
        // alignment 1, and `whole` is a multiple of 16.
        let blocks = unsafe {
            std::slice::from_raw_parts_mut(
                data.as_mut_ptr() as *mut GenericArray<u8, _>,
                whole / 16,
            )
        };
        self.enc.encrypt_blocks_mut(blocks);
        &data[..]
    }

    /// The last block: the carried bytes plus PKCS#7 padding, encrypted.
    pub fn finish(mut self) -> [u8; 16] {
        let n = self.carry_len;
        let pad = (16 - n) as u8;
        self.carry[n..].fill(pad);
        self.enc
            .encrypt_block_mut(GenericArray::from_mut_slice(&mut self.carry));
        self.carry
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
    fn sequence_iv_is_big_endian() {
        let iv = sequence_iv(0x0102);
        assert_eq!(&iv[14..], &[1, 2]);
        assert!(iv[..14].iter().all(|b| *b == 0));
    }
}
