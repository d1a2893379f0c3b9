//! Interim portable versions of the fast-path API (replaced on merge).

use aes::cipher::{inout::InOutBuf, BlockDecryptMut, BlockEncryptMut, KeyIvInit};
use sha2::{Digest, Sha256};

pub struct CbcEnc(cbc::Encryptor<aes::Aes128>);
impl CbcEnc {
    pub fn new(key: &[u8; 16], iv: &[u8; 16]) -> Self {
        CbcEnc(cbc::Encryptor::new(key.into(), iv.into()))
    }
    pub fn encrypt(&mut self, data: &mut [u8]) {
        let (blocks, _) = InOutBuf::from(data).into_chunks();
        self.0.encrypt_blocks_inout_mut(blocks);
    }
}
pub fn encrypt_lanes(lanes: &mut [(&mut CbcEnc, &mut [u8])]) {
    for (e, d) in lanes.iter_mut() {
        e.encrypt(d);
    }
}
pub struct Sha256x2(Sha256, Sha256);
impl Default for Sha256x2 {
    fn default() -> Self {
        Self::new()
    }
}
impl Sha256x2 {
    pub fn new() -> Self {
        Sha256x2(Sha256::new(), Sha256::new())
    }
    pub fn update(&mut self, a: &[u8], b: &[u8]) {
        self.0.update(a);
        self.1.update(b);
    }
    pub fn finalize(self) -> ([u8; 32], [u8; 32]) {
        (self.0.finalize().into(), self.1.finalize().into())
    }
}

/// CBC decryption that carries its chaining value across calls.
pub struct CbcDec(cbc::Decryptor<aes::Aes128>);
impl CbcDec {
    pub fn new(key: &[u8; 16], iv: &[u8; 16]) -> Self {
        CbcDec(cbc::Decryptor::new(key.into(), iv.into()))
    }
    /// Decrypts `src` into `dst` (same length, whole blocks); false otherwise.
    pub fn decrypt_to(&mut self, src: &[u8], dst: &mut [u8]) -> bool {
        if src.len() != dst.len() || src.len() % 16 != 0 {
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

/// Whether decrypted data ends in valid PKCS#7 padding.
pub fn padding_ok(plain: &[u8]) -> bool {
    let Some(&n) = plain.last() else { return false };
    let n = n as usize;
    n >= 1
        && n <= 16
        && plain.len() >= n
        && plain[plain.len() - n..].iter().all(|&b| b as usize == n)
}
