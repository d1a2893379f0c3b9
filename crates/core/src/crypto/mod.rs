//! Segment encryption for HLS `METHOD=AES-128`: the whole segment is encrypted
//! with AES-128-CBC and PKCS#7 padding (RFC 8216 section 4.3.2.4), with the IV
//! either the media sequence number or an explicit one from the playlist.
//!
//! All of it is safe code over the `aes`, `cbc` and `sha2` crates, which pick
//! AES-NI and SHA-NI at run time themselves (and their portable code on CPUs
//! without them), so no intrinsics and no `unsafe` live here.
//!
//! CBC encryption is serial: each block waits for the previous ciphertext, so
//! one stream runs at the latency of ten AES rounds per block. Independent
//! streams are not: `encrypt_lanes` (rekey re-encrypts several segments side by
//! side) hands one block of each stream to the `aes` crate's backend at once,
//! eight through its parallel-blocks call, so the AES unit works on several
//! blocks in flight. Decryption is already parallel in the `cbc` crate.

pub mod sample_aes;

use aes::cipher::{
    block_padding::Pkcs7, consts::U16, inout::InOutBuf, typenum::Unsigned, BlockBackend,
    BlockClosure, BlockDecryptMut, BlockEncrypt, BlockSizeUser, KeyInit, KeyIvInit, ParBlocks,
};
use aes::{Aes128Enc, Block};
use zeroize::Zeroize;

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
    if data.is_empty() || !data.len().is_multiple_of(16) {
        return None;
    }
    Dec::new(key.into(), iv.into())
        .decrypt_padded_vec_mut::<Pkcs7>(data)
        .ok()
}

/// Decrypts in place, returning the plaintext length; `None` on bad padding.
pub fn decrypt_in_place(buf: &mut [u8], key: &[u8; 16], iv: &[u8; 16]) -> Option<usize> {
    if buf.is_empty() || !buf.len().is_multiple_of(16) {
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
/// for decrypting ciphertext from one buffer into another (rekey keeps the
/// old ciphertext to hash it).
pub struct CbcDec(Dec);

impl CbcDec {
    pub fn new(key: &[u8; 16], iv: &[u8; 16]) -> Self {
        CbcDec(Dec::new(key.into(), iv.into()))
    }

    /// Decrypts `src` into `dst`; false (and nothing done) unless both are the
    /// same whole number of blocks.
    pub fn decrypt_to(&mut self, src: &[u8], dst: &mut [u8]) -> bool {
        if !src.len().is_multiple_of(16) {
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

/// CBC encryption state for one stream: the key schedule and the chaining
/// value, carried across calls. The round keys are zeroized on drop by the
/// `aes` crate (its `zeroize` feature), the key and chain here.
pub struct CbcEnc {
    // Boxed: the crate's state carries both its AES-NI and its bitsliced key
    // schedules, which would make every `CbcEnc` several times larger.
    cipher: Box<Aes128Enc>,
    /// Kept so that `encrypt_lanes` can find streams under one key.
    key: [u8; 16],
    chain: Block,
}

impl CbcEnc {
    pub fn new(key: &[u8; 16], iv: &[u8; 16]) -> Self {
        CbcEnc {
            cipher: Box::new(Aes128Enc::new(key.into())),
            key: *key,
            chain: *Block::from_slice(iv),
        }
    }

    /// Encrypts whole blocks in place, chaining across calls. `data.len()`
    /// should be a multiple of 16; any trailing partial block is left as is.
    pub fn encrypt(&mut self, data: &mut [u8]) {
        debug_assert_eq!(data.len() % 16, 0, "CBC input must be whole blocks");
        let n = data.len() / 16 * 16;
        let CbcEnc { cipher, chain, .. } = self;
        cipher.encrypt_with_backend(Interleave {
            streams: &mut [Stream {
                chain,
                data: &mut data[..n],
            }],
        });
    }

    /// Out-of-place: reads `src`, writes ciphertext to `dst` (same length, a
    /// multiple of 16). Only the whole blocks both have in common are
    /// processed if the lengths disagree.
    pub fn encrypt_to(&mut self, src: &[u8], dst: &mut [u8]) {
        debug_assert_eq!(src.len(), dst.len(), "CBC source and destination differ");
        debug_assert_eq!(src.len() % 16, 0, "CBC input must be whole blocks");
        let n = src.len().min(dst.len()) / 16 * 16;
        dst[..n].copy_from_slice(&src[..n]);
        self.encrypt(&mut dst[..n]);
    }

    /// Encrypts whole blocks in place (as `encrypt`) and feeds the resulting
    /// ciphertext to `sha`. Any trailing partial block is left as is and not
    /// hashed.
    ///
    /// Serial CBC and SHA-256 are each latency-bound, on different dependency
    /// chains, so the two run in one loop: each step encrypts four blocks and,
    /// between the first and the second, compresses the 64 bytes of ciphertext
    /// the step before finished, which the CPU overlaps with the AES rounds.
    pub fn encrypt_and_hash(&mut self, data: &mut [u8], sha: &mut Sha256One) {
        let n = data.len() / 16 * 16;
        let data = &mut data[..n];
        // Top up the hasher's partial block first, so the loop hashes whole
        // blocks straight into the state. That takes `t` bytes of ciphertext,
        // i.e. `e` bytes of whole CBC blocks.
        let t = (64 - sha.buf_len) % 64;
        let e = t.next_multiple_of(16).min(n);
        self.encrypt(&mut data[..e]);
        sha.update(&data[..t.min(n)]);
        if t >= n {
            return;
        }
        // Hashing is now at `t`, encryption at `e`, `e - t < 16` apart.
        let steps = (n - e) / 64;
        let CbcEnc { cipher, chain, .. } = self;
        cipher.encrypt_with_backend(Stitched {
            chain,
            data: &mut *data,
            enc_at: e,
            hash_at: t,
            steps,
            state: &mut sha.state,
        });
        sha.total = sha.total.wrapping_add(64 * steps as u64);
        let done = e + 64 * steps;
        self.encrypt(&mut data[done..]);
        sha.update(&data[t + 64 * steps..]);
    }
}

impl Drop for CbcEnc {
    fn drop(&mut self) {
        self.key.zeroize();
        self.chain.as_mut_slice().zeroize();
    }
}

/// How many streams under one key share a backend call at most: the `aes`
/// crate's AES-NI backend takes eight blocks at once.
const LANE_WIDTH: usize = 8;

/// Encrypts several independent CBC streams at once, each with its own key and
/// chaining value. Streams under the same key go through the `aes` crate's
/// backend together, one block of each per step (eight at a time through its
/// parallel-blocks call), so their blocks are in flight side by side instead
/// of each waiting for its own previous one. Lanes may have different lengths
/// (each a multiple of 16); all of each lane is encrypted.
pub fn encrypt_lanes(lanes: &mut [(&mut CbcEnc, &mut [u8])]) {
    encrypt_lanes_width(lanes, LANE_WIDTH);
}

/// `encrypt_lanes`, with at most `width` streams per backend call.
fn encrypt_lanes_width(lanes: &mut [(&mut CbcEnc, &mut [u8])], width: usize) {
    let width = width.max(1);
    // Lanes numbered by key, in order of first appearance.
    let mut group = vec![usize::MAX; lanes.len()];
    let mut groups = 0;
    for i in 0..lanes.len() {
        if group[i] != usize::MAX {
            continue;
        }
        let mut members = 0;
        for j in i..lanes.len() {
            if group[j] == usize::MAX && lanes[j].0.key == lanes[i].0.key {
                if members == width {
                    break;
                }
                group[j] = groups;
                members += 1;
            }
        }
        groups += 1;
    }
    for g in 0..groups {
        let mut cipher = None;
        let mut streams: Vec<Stream<'_>> = Vec::with_capacity(width);
        for ((enc, data), _) in lanes.iter_mut().zip(&group).filter(|(_, &k)| k == g) {
            debug_assert_eq!(data.len() % 16, 0, "CBC input must be whole blocks");
            let CbcEnc {
                cipher: c, chain, ..
            } = &mut **enc;
            cipher.get_or_insert(&**c);
            let n = data.len() / 16 * 16;
            streams.push(Stream {
                chain,
                data: &mut data[..n],
            });
        }
        if let Some(c) = cipher {
            c.encrypt_with_backend(Interleave {
                streams: &mut streams,
            });
        }
    }
}

/// One CBC stream's chaining value and the whole blocks it encrypts next.
struct Stream<'a> {
    chain: &'a mut Block,
    data: &'a mut [u8],
}

/// Encrypts streams under one key in lockstep: per step, the next block of
/// each stream that has one. The `aes` crate runs this closure inside its
/// AES-NI code, so the backend calls inline into one loop.
struct Interleave<'s, 'a> {
    streams: &'s mut [Stream<'a>],
}

impl BlockSizeUser for Interleave<'_, '_> {
    type BlockSize = U16;
}

impl BlockClosure for Interleave<'_, '_> {
    fn call<B: BlockBackend<BlockSize = U16>>(self, backend: &mut B) {
        let par = B::ParBlocksSize::USIZE;
        // Streams that still have blocks, shortest last, so that each run of
        // steps below has a fixed set of streams.
        let mut live: Vec<&mut Stream<'_>> = self
            .streams
            .iter_mut()
            .filter(|s| !s.data.is_empty())
            .collect();
        live.sort_by_key(|s| std::cmp::Reverse(s.data.len()));
        let mut at = 0;
        while let Some(shortest) = live.last() {
            let end = shortest.data.len();
            for group in live.chunks_mut(par) {
                if group.len() == par {
                    let mut blocks = ParBlocks::<B>::default();
                    for off in (at..end).step_by(16) {
                        for (b, s) in blocks.iter_mut().zip(group.iter()) {
                            xor_into(b, &s.data[off..off + 16], s.chain);
                        }
                        backend.proc_par_blocks((&mut blocks).into());
                        for (b, s) in blocks.iter().zip(group.iter_mut()) {
                            s.data[off..off + 16].copy_from_slice(b);
                            *s.chain = *b;
                        }
                    }
                } else {
                    for off in (at..end).step_by(16) {
                        for s in group.iter_mut() {
                            let mut b = Block::default();
                            xor_into(&mut b, &s.data[off..off + 16], s.chain);
                            backend.proc_block((&mut b).into());
                            s.data[off..off + 16].copy_from_slice(&b);
                            *s.chain = b;
                        }
                    }
                }
            }
            at = end;
            while live.last().is_some_and(|s| s.data.len() == at) {
                live.pop();
            }
        }
    }
}

/// `CbcEnc::encrypt_and_hash`'s loop: `steps` times, four CBC blocks from
/// `enc_at` on, and one SHA-256 compression of the ciphertext one step behind,
/// from `hash_at` on (`hash_at <= enc_at`, so it is ciphertext by then).
struct Stitched<'a> {
    chain: &'a mut Block,
    data: &'a mut [u8],
    enc_at: usize,
    hash_at: usize,
    steps: usize,
    state: &'a mut [u32; 8],
}

impl BlockSizeUser for Stitched<'_> {
    type BlockSize = U16;
}

impl BlockClosure for Stitched<'_> {
    fn call<B: BlockBackend<BlockSize = U16>>(self, backend: &mut B) {
        let Stitched {
            chain,
            data,
            enc_at,
            hash_at,
            steps,
            state,
        } = self;
        let mut cbc = |data: &mut [u8], off: usize| {
            let mut b = Block::default();
            xor_into(&mut b, &data[off..off + 16], chain);
            backend.proc_block((&mut b).into());
            data[off..off + 16].copy_from_slice(&b);
            *chain = b;
        };
        for k in 0..steps {
            let off = enc_at + 64 * k;
            cbc(data, off);
            if k > 0 {
                let h = hash_at + 64 * (k - 1);
                compress(state, &data[h..h + 64]);
            }
            cbc(data, off + 16);
            cbc(data, off + 32);
            cbc(data, off + 48);
        }
        if steps > 0 {
            let h = hash_at + 64 * (steps - 1);
            compress(state, &data[h..h + 64]);
        }
    }
}

/// `out = a ^ b`, for one block.
#[inline(always)]
fn xor_into(out: &mut Block, a: &[u8], b: &Block) {
    for ((o, x), y) in out.iter_mut().zip(a).zip(b.iter()) {
        *o = x ^ y;
    }
}

/// One SHA-256 stream: state, partial block and length, compressed through
/// the `sha2` crate's raw `compress256` (which uses SHA-NI where the CPU has it). Kept here
/// rather than as a `sha2::Sha256` so that `Sha256x2` and
/// `CbcEnc::encrypt_and_hash` can interleave compressions with other work.
#[derive(Clone)]
pub struct Sha256One {
    state: [u32; 8],
    buf: [u8; 64],
    buf_len: usize,
    total: u64,
}

/// SHA-256's initial hash value (FIPS 180-4 section 5.3.3).
const SHA256_H0: [u32; 8] = [
    0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
];

/// Compresses one 64-byte block into `state`.
#[inline(always)]
fn compress(state: &mut [u32; 8], block: &[u8]) {
    let block: &[u8; 64] = block.try_into().expect("a 64-byte block");
    sha2_blocks::block_api::compress256(state, std::slice::from_ref(block));
}

impl Default for Sha256One {
    fn default() -> Self {
        Self::new()
    }
}

impl Sha256One {
    pub fn new() -> Self {
        Sha256One {
            state: SHA256_H0,
            buf: [0; 64],
            buf_len: 0,
            total: 0,
        }
    }

    /// Feeds any number of bytes; partial blocks are buffered.
    pub fn update(&mut self, data: &[u8]) {
        let rest = self.absorb_head(data);
        self.absorb_blocks(rest);
    }

    /// Counts `data` and tops up a partial block from it (compressing the
    /// block once full); returns what is left, which starts on a block
    /// boundary of the stream (empty if it all went into the buffer).
    fn absorb_head<'d>(&mut self, data: &'d [u8]) -> &'d [u8] {
        self.total = self.total.wrapping_add(data.len() as u64);
        if self.buf_len == 0 {
            return data;
        }
        let have = self.buf_len;
        let take = (64 - have).min(data.len());
        self.buf[have..have + take].copy_from_slice(&data[..take]);
        self.buf_len = have + take;
        if self.buf_len == 64 {
            compress(&mut self.state, &self.buf);
            self.buf_len = 0;
        }
        &data[take..]
    }

    /// Compresses the whole blocks of `data` (already counted, and starting
    /// on a block boundary, so the buffer is empty unless `data` is) and
    /// buffers the partial block after them.
    fn absorb_blocks(&mut self, data: &[u8]) {
        // In one call: about 10% faster than a call per block (the state
        // is loaded and stored once, not per block).
        let (blocks, rest) = data.as_chunks::<64>();
        sha2_blocks::block_api::compress256(&mut self.state, blocks);
        if !rest.is_empty() {
            self.buf[..rest.len()].copy_from_slice(rest);
            self.buf_len = rest.len();
        }
    }

    pub fn finalize(mut self) -> [u8; 32] {
        // FIPS 180-4 section 5.1.1: 0x80, zeros, the bit length as a
        // big-endian u64, in one block or two.
        let len = self.buf_len;
        let mut pad = [0u8; 128];
        pad[..len].copy_from_slice(&self.buf[..len]);
        pad[len] = 0x80;
        let end = if len < 56 { 64 } else { 128 };
        pad[end - 8..end].copy_from_slice(&self.total.wrapping_mul(8).to_be_bytes());
        for block in pad[..end].chunks_exact(64) {
            compress(&mut self.state, block);
        }
        let mut d = [0u8; 32];
        for (chunk, w) in d.chunks_exact_mut(4).zip(&self.state) {
            chunk.copy_from_slice(&w.to_be_bytes());
        }
        d
    }
}

/// Two SHA-256 hashes fed side by side (rekey hashes the old and the new
/// ciphertext of a chunk together). Each stream is serial, but the two are
/// independent: compressing a block of each in turn lets the CPU overlap them.
pub struct Sha256x2(Box<[Sha256One; 2]>);

impl Default for Sha256x2 {
    fn default() -> Self {
        Self::new()
    }
}

impl Sha256x2 {
    pub fn new() -> Self {
        Sha256x2(Box::new([Sha256One::new(), Sha256One::new()]))
    }

    /// Feeds `a` to the first hash and `b` to the second; `a.len() ==
    /// b.len()` is what makes it fast (unequal lengths still hash correctly,
    /// the excess one stream at a time). Any length; partial blocks are
    /// buffered.
    pub fn update(&mut self, a: &[u8], b: &[u8]) {
        debug_assert_eq!(a.len(), b.len(), "Sha256x2 streams must stay in lockstep");
        let [x, y] = &mut *self.0;
        let (a, b) = (x.absorb_head(a), y.absorb_head(b));
        let both = (a.len() / 64).min(b.len() / 64) * 64;
        for (ba, bb) in a[..both].chunks_exact(64).zip(b[..both].chunks_exact(64)) {
            compress(&mut x.state, ba);
            compress(&mut y.state, bb);
        }
        x.absorb_blocks(&a[both..]);
        y.absorb_blocks(&b[both..]);
    }

    pub fn finalize(self) -> ([u8; 32], [u8; 32]) {
        let [x, y] = *self.0;
        (x.finalize(), y.finalize())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aes::cipher::BlockEncryptMut;
    use rand::{Rng, RngCore, SeedableRng};
    use rand_chacha::ChaCha8Rng;
    use sha2::Digest;

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

    fn crate_cbc(key: &[u8; 16], iv: &[u8; 16], data: &[u8]) -> Vec<u8> {
        let mut out = data.to_vec();
        let (blocks, _) = InOutBuf::from(&mut out[..]).into_chunks();
        cbc::Encryptor::<aes::Aes128>::new(key.into(), iv.into()).encrypt_blocks_inout_mut(blocks);
        out
    }

    fn random_bytes(rng: &mut ChaCha8Rng, n: usize) -> Vec<u8> {
        let mut v = vec![0u8; n];
        rng.fill_bytes(&mut v);
        v
    }

    /// Block-aligned cut points in `0..=blocks`, sorted, with repeats allowed
    /// (an empty call in the middle must be harmless).
    fn cuts(rng: &mut ChaCha8Rng, blocks: usize) -> Vec<usize> {
        let mut c: Vec<usize> = (0..rng.gen_range(0..5))
            .map(|_| rng.gen_range(0..=blocks) * 16)
            .collect();
        c.sort_unstable();
        c.push(blocks * 16);
        c
    }

    fn check_cbc_against_crate(seed: u64) {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        for blocks in 0..=300 {
            let key: [u8; 16] = rng.gen();
            let iv: [u8; 16] = rng.gen();
            let plain = random_bytes(&mut rng, blocks * 16);
            let want = crate_cbc(&key, &iv, &plain);

            let mut in_place = plain.clone();
            let mut enc = CbcEnc::new(&key, &iv);
            let mut from = 0;
            for to in cuts(&mut rng, blocks) {
                enc.encrypt(&mut in_place[from..to]);
                from = to;
            }
            assert_eq!(in_place, want, "in place, {blocks} blocks");

            let mut out = vec![0u8; plain.len()];
            let mut enc = CbcEnc::new(&key, &iv);
            let mut from = 0;
            for to in cuts(&mut rng, blocks) {
                enc.encrypt_to(&plain[from..to], &mut out[from..to]);
                from = to;
            }
            assert_eq!(out, want, "out of place, {blocks} blocks");
        }
    }

    #[test]
    fn cbc_matches_crate() {
        check_cbc_against_crate(1);
    }

    /// NIST SP 800-38A F.2.1, CBC-AES128.Encrypt.
    #[test]
    fn cbc_known_answer_sp800_38a() {
        let key: [u8; 16] = hex::decode("2b7e151628aed2a6abf7158809cf4f3c")
            .unwrap()
            .try_into()
            .unwrap();
        let iv: [u8; 16] = hex::decode("000102030405060708090a0b0c0d0e0f")
            .unwrap()
            .try_into()
            .unwrap();
        let plain = hex::decode(concat!(
            "6bc1bee22e409f96e93d7e117393172a",
            "ae2d8a571e03ac9c9eb76fac45af8e51",
            "30c81c46a35ce411e5fbc1191a0a52ef",
            "f69f2445df4f9b17ad2b417be66c3710",
        ))
        .unwrap();
        let cipher = hex::decode(concat!(
            "7649abac8119b246cee98e9b12e9197d",
            "5086cb9b507219ee95db113a917678b2",
            "73bed6b8e3c1743b7116e69e22229516",
            "3ff1caa1681fac09120eca307586e1a7",
        ))
        .unwrap();
        {
            let make = CbcEnc::new;
            let mut buf = plain.clone();
            make(&key, &iv).encrypt(&mut buf);
            assert_eq!(buf, cipher);
            // Block by block, so the chaining across calls is checked too.
            let mut enc = CbcEnc::new(&key, &iv);
            let mut out = vec![0u8; 64];
            for (p, c) in plain.chunks(16).zip(out.chunks_mut(16)) {
                enc.encrypt_to(p, c);
            }
            assert_eq!(out, cipher);
        }
    }

    #[test]
    fn lanes_match_serial() {
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        for round in 0..40 {
            for n in 1..=17 {
                // Every lane its own key, or keys from a pool of one to three
                // (each IV its own), so that lanes share the backend's
                // parallel-blocks call, fill it past eight, or mix the two.
                let pool: Vec<[u8; 16]> = (0..round % 4).map(|_| rng.gen()).collect();
                let keys: Vec<([u8; 16], [u8; 16])> = (0..n)
                    .map(|_| {
                        let key = if pool.is_empty() {
                            rng.gen()
                        } else {
                            pool[rng.gen_range(0..pool.len())]
                        };
                        (key, rng.gen())
                    })
                    .collect();
                let plains: Vec<Vec<u8>> = (0..n)
                    .map(|_| {
                        // Mostly different lengths, sometimes empty lanes.
                        let blocks = if rng.gen_ratio(1, 8) {
                            0
                        } else {
                            rng.gen_range(1..80)
                        };
                        random_bytes(&mut rng, blocks * 16)
                    })
                    .collect();
                let want: Vec<Vec<u8>> = keys
                    .iter()
                    .zip(&plains)
                    .map(|((k, iv), p)| crate_cbc(k, iv, p))
                    .collect();
                let mut encs: Vec<CbcEnc> = keys.iter().map(|(k, iv)| CbcEnc::new(k, iv)).collect();
                let width = [1, 2, 3, 4, 8][round % 5];
                let mut bufs = plains.clone();
                // Two calls per lane (split at a random block), to check that
                // the chaining value carries over.
                let splits: Vec<usize> = bufs
                    .iter()
                    .map(|b| rng.gen_range(0..=b.len() / 16) * 16)
                    .collect();
                for half in 0..2 {
                    let mut lanes: Vec<(&mut CbcEnc, &mut [u8])> = encs
                        .iter_mut()
                        .zip(bufs.iter_mut())
                        .zip(&splits)
                        .map(|((e, b), &s)| {
                            let (first, second) = b.split_at_mut(s);
                            (e, if half == 0 { first } else { second })
                        })
                        .collect();
                    if width == LANE_WIDTH {
                        encrypt_lanes(&mut lanes);
                    } else {
                        encrypt_lanes_width(&mut lanes, width);
                    }
                }
                assert_eq!(bufs, want, "{n} lanes, width {width}, round {round}");
            }
        }
    }

    fn check_sha_against_crate(make: fn() -> Sha256x2, seed: u64) {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut lens: Vec<usize> = (0..=300).collect();
        lens.extend([3 << 20, (5 << 20) + 17]);
        for len in lens {
            let a = random_bytes(&mut rng, len);
            let b = random_bytes(&mut rng, len);
            let mut h = make();
            let mut from = 0;
            let mut points: Vec<usize> = (0..rng.gen_range(0..6))
                .map(|_| rng.gen_range(0..=len))
                .collect();
            points.sort_unstable();
            points.push(len);
            for to in points {
                h.update(&a[from..to], &b[from..to]);
                from = to;
            }
            let (da, db) = h.finalize();
            assert_eq!(da[..], sha2::Sha256::digest(&a)[..], "first, {len} bytes");
            assert_eq!(db[..], sha2::Sha256::digest(&b)[..], "second, {len} bytes");
        }
    }

    #[test]
    fn sha256x2_matches_sha2() {
        check_sha_against_crate(Sha256x2::new, 4);
    }

    /// FIPS 180-4 example (B.1): SHA-256("abc"); and the empty message.
    #[test]
    fn sha256x2_known_answers() {
        let abc = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
        let mut h = Sha256x2::new();
        h.update(b"ab", b"ab");
        h.update(b"c", b"c");
        let (x, y) = h.finalize();
        assert_eq!(
            (hex::encode(x).as_str(), hex::encode(y).as_str()),
            (abc, abc)
        );
        let empty = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
        let (x, y) = Sha256x2::new().finalize();
        assert_eq!(
            (hex::encode(x).as_str(), hex::encode(y).as_str()),
            (empty, empty)
        );
    }

    /// Unequal lengths break the contract (a debug assertion) but in release
    /// builds must still give the right hashes.
    #[cfg(not(debug_assertions))]
    #[test]
    fn sha256x2_unequal_lengths_still_correct() {
        let mut rng = ChaCha8Rng::seed_from_u64(6);
        let a = random_bytes(&mut rng, 1000);
        let b = random_bytes(&mut rng, 333);
        let mut h = Sha256x2::new();
        h.update(&a[..700], &b[..10]);
        h.update(&a[700..], &b[10..]);
        let (da, db) = h.finalize();
        assert_eq!(da[..], sha2::Sha256::digest(&a)[..]);
        assert_eq!(db[..], sha2::Sha256::digest(&b)[..]);
    }

    /// Random cut points in `0..=len`, sorted, repeats allowed, ending at `len`.
    fn byte_cuts(rng: &mut ChaCha8Rng, len: usize) -> Vec<usize> {
        let mut c: Vec<usize> = (0..rng.gen_range(0..6))
            .map(|_| rng.gen_range(0..=len))
            .collect();
        c.sort_unstable();
        c.push(len);
        c
    }

    fn check_sha_one(make: fn() -> Sha256One, seed: u64) {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut lens: Vec<usize> = (0..=300).collect();
        lens.extend([1 << 20, (1 << 20) + 17]);
        for len in lens {
            let a = random_bytes(&mut rng, len);
            let mut h = make();
            let mut from = 0;
            for to in byte_cuts(&mut rng, len) {
                h.update(&a[from..to]);
                from = to;
            }
            assert_eq!(
                h.finalize()[..],
                sha2::Sha256::digest(&a)[..],
                "{len} bytes"
            );
        }
    }

    #[test]
    fn sha256_one_matches_sha2() {
        check_sha_one(Sha256One::new, 8);
    }

    /// FIPS 180-4 example (B.1): SHA-256("abc"); and the empty message.
    #[test]
    fn sha256_one_known_answers() {
        let mut h = Sha256One::new();
        h.update(b"ab");
        h.update(b"c");
        assert_eq!(
            hex::encode(h.finalize()),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(
            hex::encode(Sha256One::new().finalize()),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }

    /// `encrypt_and_hash` against the `cbc` crate and `sha2`, for one way of
    /// making each half (fast or portable) and one loop body.
    /// `encrypt_and_hash` against the `cbc` crate and `sha2`.
    fn check_encrypt_and_hash(seed: u64) {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        for blocks in 0..=300 {
            let key: [u8; 16] = rng.gen();
            let iv: [u8; 16] = rng.gen();
            // A prefix hashed on its own first puts the hasher's buffer at
            // any offset, block-aligned or not, when the first call starts.
            let prefix_len = rng.gen_range(0..130);
            let prefix = random_bytes(&mut rng, prefix_len);
            let plain = random_bytes(&mut rng, blocks * 16);
            let want = crate_cbc(&key, &iv, &plain);
            let mut hashed = prefix.clone();
            hashed.extend_from_slice(&want);
            let want_hash = sha2::Sha256::digest(&hashed);

            let mut buf = plain.clone();
            let mut enc = CbcEnc::new(&key, &iv);
            let mut sha = Sha256One::new();
            sha.update(&prefix);
            let mut from = 0;
            for to in cuts(&mut rng, blocks) {
                enc.encrypt_and_hash(&mut buf[from..to], &mut sha);
                from = to;
            }
            assert_eq!(buf, want, "{blocks} blocks, prefix {}", prefix.len());
            assert_eq!(
                sha.finalize()[..],
                want_hash[..],
                "{blocks} blocks, prefix {}",
                prefix.len()
            );
        }
    }

    #[test]
    fn encrypt_and_hash_matches_crates() {
        check_encrypt_and_hash(10);
        check_encrypt_and_hash(11);
    }

    /// A trailing partial block is neither encrypted nor hashed, as `encrypt`
    /// leaves it.
    #[test]
    fn encrypt_and_hash_ignores_partial_tail() {
        let mut buf = vec![5u8; 200];
        let mut sha = Sha256One::new();
        CbcEnc::new(&[1; 16], &[2; 16]).encrypt_and_hash(&mut buf, &mut sha);
        assert_eq!(buf[..192], crate_cbc(&[1; 16], &[2; 16], &[5u8; 192])[..]);
        assert_eq!(buf[192..], [5u8; 8]);
        assert_eq!(sha.finalize()[..], sha2::Sha256::digest(&buf[..192])[..]);
    }

    /// Median GB/s (by wall time) of `runs` runs of `f` over `bytes` bytes.
    fn rate(bytes: usize, runs: usize, mut f: impl FnMut()) -> f64 {
        let mut r: Vec<f64> = (0..runs)
            .map(|_| {
                let t = std::time::Instant::now();
                f();
                bytes as f64 / t.elapsed().as_secs_f64() / 1e9
            })
            .collect();
        r.sort_by(f64::total_cmp);
        r[runs / 2]
    }

    /// Throughput figures, not a test: run with
    /// `cargo test --release --lib -- --ignored --nocapture bench_crypto`.
    #[test]
    #[ignore]
    fn bench_crypto() {
        const CHUNK: usize = 256 << 10;
        const TOTAL: usize = 504 * CHUNK; // 126 MiB
        let runs: usize = std::env::var("BENCH_RUNS")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(5);
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        let mut data = random_bytes(&mut rng, TOTAL);
        let (key, iv) = ([7u8; 16], [9u8; 16]);
        let show = |name: &str, gbs: f64| eprintln!("{name:<36} {gbs:6.2} GB/s");

        show(
            "cbc crate, serial",
            rate(TOTAL, runs, || {
                let mut enc = cbc::Encryptor::<aes::Aes128>::new(&key.into(), &iv.into());
                for chunk in data.chunks_mut(CHUNK) {
                    let (blocks, _) = InOutBuf::from(chunk).into_chunks();
                    enc.encrypt_blocks_inout_mut(blocks);
                }
            }),
        );
        show(
            "CbcEnc, serial",
            rate(TOTAL, runs, || {
                let mut enc = CbcEnc::new(&key, &iv);
                for chunk in data.chunks_mut(CHUNK) {
                    enc.encrypt(chunk);
                }
            }),
        );
        for lanes in [2, 4, 8] {
            for shared in [true, false] {
                let name = format!(
                    "encrypt_lanes, {lanes} lanes, {} keys",
                    if shared { "one" } else { "own" }
                );
                show(
                    &name,
                    rate(TOTAL, runs, || {
                        let mut encs: Vec<CbcEnc> = (0..lanes as u8)
                            .map(|i| CbcEnc::new(&[if shared { 0 } else { i }; 16], &[i; 16]))
                            .collect();
                        for group in data.chunks_mut(CHUNK * lanes) {
                            let mut l: Vec<(&mut CbcEnc, &mut [u8])> =
                                encs.iter_mut().zip(group.chunks_mut(CHUNK)).collect();
                            encrypt_lanes(&mut l);
                        }
                    }),
                );
            }
        }
        show(
            "Sha256One",
            rate(TOTAL, runs, || {
                let mut h = Sha256One::new();
                for chunk in data.chunks(CHUNK) {
                    h.update(chunk);
                }
                std::hint::black_box(h.finalize());
            }),
        );
        show(
            "encrypt_and_hash",
            rate(TOTAL, runs, || {
                let mut enc = CbcEnc::new(&key, &iv);
                let mut h = Sha256One::new();
                for chunk in data.chunks_mut(CHUNK) {
                    enc.encrypt_and_hash(chunk, &mut h);
                }
                std::hint::black_box(h.finalize());
            }),
        );
        let (a, b) = data.split_at(TOTAL / 2);
        show(
            "Sha256x2 (total bytes)",
            rate(TOTAL, runs, || {
                let mut h = Sha256x2::new();
                for (ca, cb) in a.chunks(CHUNK).zip(b.chunks(CHUNK)) {
                    h.update(ca, cb);
                }
                std::hint::black_box(h.finalize());
            }),
        );
    }
}
