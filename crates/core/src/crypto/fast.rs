//! Fast AES-128-CBC encryption and two-way SHA-256 for x86_64, because they are
//! the CPU hot spots of `package` and `rekey`.
//!
//! CBC encryption is serial: each block waits for the previous ciphertext, so
//! one stream runs at the latency of ten AES rounds per block. Through the `aes`
//! crate's runtime dispatch every block is also a call into a non-inlined
//! `target_feature` function; here the whole loop is one such function with the
//! round keys in registers. Independent streams (`encrypt_lanes`) are
//! interleaved so the AES units work on several blocks at once, which is where
//! most of the speed-up is.
//!
//! SHA-256 with SHA-NI is latency-bound in the same way; `Sha256x2` runs two
//! equal-length streams with their rounds interleaved (rekey hashes the old and
//! the new ciphertext in lockstep). `CbcEnc::encrypt_and_hash` stitches one
//! CBC stream and one SHA-256 stream (`Sha256One`) into one loop the same way
//! (package hashes the ciphertext it writes).
//!
//! Both detect the CPU once at run time and otherwise fall back to the `cbc` +
//! `aes` and `sha2` crates, so output is identical everywhere.

use aes::cipher::{inout::InOutBuf, BlockEncryptMut, KeyIvInit};
use sha2::Digest;
use zeroize::Zeroize;

type CrateEnc = cbc::Encryptor<aes::Aes128>;

/// Whether this CPU has AES-NI, checked once.
#[cfg(target_arch = "x86_64")]
fn have_aes_ni() -> bool {
    static HAVE: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *HAVE.get_or_init(|| {
        std::arch::is_x86_feature_detected!("aes") && std::arch::is_x86_feature_detected!("sse2")
    })
}

/// Whether this CPU has the SHA extensions and the SSE levels their code needs,
/// checked once.
#[cfg(target_arch = "x86_64")]
fn have_sha_ni() -> bool {
    static HAVE: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *HAVE.get_or_init(|| {
        std::arch::is_x86_feature_detected!("sha")
            && std::arch::is_x86_feature_detected!("sse2")
            && std::arch::is_x86_feature_detected!("ssse3")
            && std::arch::is_x86_feature_detected!("sse4.1")
    })
}

/// CBC encryption state for one stream (key schedule + chaining value).
/// Round keys are zeroized on drop (on the fallback path only as far as the
/// `aes` crate does so).
pub struct CbcEnc {
    imp: CbcImp,
}

enum CbcImp {
    #[cfg(target_arch = "x86_64")]
    Ni(NiState),
    // Boxed: the crate's AES state carries its bitsliced fallback keys too,
    // which would make every `CbcEnc` several times larger.
    Portable(Box<CrateEnc>),
}

#[cfg(target_arch = "x86_64")]
struct NiState {
    rk: ni::RoundKeys,
    chain: [u8; 16],
}

impl CbcEnc {
    pub fn new(key: &[u8; 16], iv: &[u8; 16]) -> Self {
        #[cfg(target_arch = "x86_64")]
        if have_aes_ni() {
            // SAFETY: AES-NI and SSE2 are present (checked just above).
            let rk = unsafe { ni::expand(key) };
            return CbcEnc {
                imp: CbcImp::Ni(NiState { rk, chain: *iv }),
            };
        }
        Self::new_portable(key, iv)
    }

    /// The `cbc` + `aes` crate path whatever the CPU; tests use it to check
    /// the fallback on machines that would otherwise never take it.
    fn new_portable(key: &[u8; 16], iv: &[u8; 16]) -> Self {
        CbcEnc {
            imp: CbcImp::Portable(Box::new(CrateEnc::new(key.into(), iv.into()))),
        }
    }

    /// Encrypts whole blocks in place, chaining across calls. `data.len()`
    /// should be a multiple of 16; any trailing partial block is left as is.
    pub fn encrypt(&mut self, data: &mut [u8]) {
        debug_assert_eq!(data.len() % 16, 0, "CBC input must be whole blocks");
        let blocks = data.len() / 16;
        match &mut self.imp {
            #[cfg(target_arch = "x86_64")]
            CbcImp::Ni(st) => {
                let p = data.as_mut_ptr();
                // SAFETY: an `Ni` state exists only when AES-NI was detected;
                // `p` is valid for reads and writes of `blocks * 16` bytes, and
                // source and destination are the same buffer, which
                // `cbc_encrypt` allows.
                unsafe { ni::cbc_encrypt(&st.rk, &mut st.chain, p, p, blocks) }
            }
            CbcImp::Portable(enc) => {
                let (chunks, _) = InOutBuf::from(&mut data[..blocks * 16]).into_chunks();
                enc.encrypt_blocks_inout_mut(chunks);
            }
        }
    }

    /// Out-of-place: reads `src`, writes ciphertext to `dst` (same length, a
    /// multiple of 16). Only the whole blocks both have in common are
    /// processed if the lengths disagree.
    pub fn encrypt_to(&mut self, src: &[u8], dst: &mut [u8]) {
        debug_assert_eq!(src.len(), dst.len(), "CBC source and destination differ");
        debug_assert_eq!(src.len() % 16, 0, "CBC input must be whole blocks");
        let blocks = src.len().min(dst.len()) / 16;
        match &mut self.imp {
            #[cfg(target_arch = "x86_64")]
            CbcImp::Ni(st) => {
                // SAFETY: AES-NI was detected when the `Ni` state was made;
                // `src` is readable and `dst` writable for `blocks * 16` bytes,
                // and a shared and a mutable slice cannot overlap.
                unsafe {
                    ni::cbc_encrypt(
                        &st.rk,
                        &mut st.chain,
                        src.as_ptr(),
                        dst.as_mut_ptr(),
                        blocks,
                    )
                }
            }
            CbcImp::Portable(enc) => {
                let n = blocks * 16;
                // Equal lengths by construction, so `new` cannot fail.
                if let Ok(buf) = InOutBuf::new(&src[..n], &mut dst[..n]) {
                    let (chunks, _) = buf.into_chunks();
                    enc.encrypt_blocks_inout_mut(chunks);
                }
            }
        }
    }
}

impl Drop for CbcEnc {
    fn drop(&mut self) {
        #[cfg(target_arch = "x86_64")]
        if let CbcImp::Ni(st) = &mut self.imp {
            st.rk.zeroize();
            st.chain.zeroize();
        }
    }
}

/// How many lanes `encrypt_lanes` interleaves at most. Eight blocks in flight
/// cover the AES unit's latency times its issue rate on current x86 cores
/// (4 cycles x 2 per cycle). Wider groups no longer fit their state in the 16
/// xmm registers: on the EPYC hosts 8 lanes ran at 7.4 GB/s, 12 at 4.0 and
/// 16 at 2.8 (`bench_fast_crypto`).
const LANE_WIDTH: usize = 8;

/// Encrypts several independent CBC streams at once, each with its own key and
/// chaining value, interleaving their blocks so the AES units are kept busy
/// (serial CBC is latency-bound; 4-8 lanes run at close to the parallel
/// throughput). Lanes may have different lengths (each a multiple of 16); all
/// of each lane is encrypted.
pub fn encrypt_lanes(lanes: &mut [(&mut CbcEnc, &mut [u8])]) {
    encrypt_lanes_width(lanes, LANE_WIDTH);
}

fn encrypt_lanes_width(lanes: &mut [(&mut CbcEnc, &mut [u8])], width: usize) {
    #[cfg(target_arch = "x86_64")]
    {
        let mut fast = Vec::with_capacity(lanes.len());
        for (enc, data) in lanes.iter_mut() {
            debug_assert_eq!(data.len() % 16, 0, "CBC input must be whole blocks");
            if matches!(enc.imp, CbcImp::Portable(_)) {
                enc.encrypt(data);
            } else if let CbcImp::Ni(st) = &mut enc.imp {
                fast.push(ni::Lane {
                    rk: &st.rk,
                    chain: &mut st.chain,
                    ptr: data.as_mut_ptr(),
                    blocks: data.len() / 16,
                });
            }
        }
        // SAFETY: `Ni` lanes exist only when AES-NI was detected; each lane's
        // pointer covers `blocks * 16` bytes of its own `&mut` slice, so lanes
        // are valid and disjoint, and the slices stay borrowed until we return.
        unsafe { ni::schedule_lanes(fast, width) }
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = width;
        for (enc, data) in lanes.iter_mut() {
            enc.encrypt(data);
        }
    }
}

/// Two SHA-256 hashes computed side by side.
pub struct Sha256x2 {
    imp: ShaImp,
}

enum ShaImp {
    #[cfg(target_arch = "x86_64")]
    Ni(Box<ShaNiState>),
    Portable(Box<(sha2::Sha256, sha2::Sha256)>),
}

/// Two one-stream states; only the compression of whole blocks that both
/// have at once is shared.
#[cfg(target_arch = "x86_64")]
struct ShaNiState([OneNi; 2]);

/// SHA-256's initial hash value (FIPS 180-4 section 5.3.3).
#[cfg(target_arch = "x86_64")]
const SHA256_H0: [u32; 8] = [
    0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
];

impl Default for Sha256x2 {
    fn default() -> Self {
        Self::new()
    }
}

impl Sha256x2 {
    pub fn new() -> Self {
        #[cfg(target_arch = "x86_64")]
        if have_sha_ni() {
            return Sha256x2 {
                imp: ShaImp::Ni(Box::new(ShaNiState([OneNi::new(), OneNi::new()]))),
            };
        }
        Self::new_portable()
    }

    /// Two `sha2` hashers whatever the CPU, so tests can check the fallback.
    fn new_portable() -> Self {
        Sha256x2 {
            imp: ShaImp::Portable(Box::new((sha2::Sha256::new(), sha2::Sha256::new()))),
        }
    }

    /// Feeds `a` to the first hash and `b` to the second; `a.len() ==
    /// b.len()` is what makes it fast (unequal lengths still hash correctly,
    /// the excess one stream at a time). Any length; partial blocks are
    /// buffered.
    pub fn update(&mut self, a: &[u8], b: &[u8]) {
        debug_assert_eq!(a.len(), b.len(), "Sha256x2 streams must stay in lockstep");
        match &mut self.imp {
            #[cfg(target_arch = "x86_64")]
            ShaImp::Ni(st) => st.update(a, b),
            ShaImp::Portable(h) => {
                h.0.update(a);
                h.1.update(b);
            }
        }
    }

    pub fn finalize(self) -> ([u8; 32], [u8; 32]) {
        match self.imp {
            #[cfg(target_arch = "x86_64")]
            ShaImp::Ni(mut st) => st.finalize(),
            ShaImp::Portable(h) => {
                let (a, b) = *h;
                (a.finalize().into(), b.finalize().into())
            }
        }
    }
}

#[cfg(target_arch = "x86_64")]
impl ShaNiState {
    fn update(&mut self, a: &[u8], b: &[u8]) {
        let [x, y] = &mut self.0;
        let (a, b) = (x.absorb_head(a), y.absorb_head(b));
        // Whole blocks of both streams go through the interleaved kernel.
        let both = (a.len() / 64).min(b.len() / 64);
        if both > 0 {
            // SAFETY: SHA-NI detected (an `Ni` state exists); both inputs hold at
            // least `both` whole blocks.
            unsafe { sha_ni::compress2(&mut x.state, &mut y.state, a.as_ptr(), b.as_ptr(), both) }
        }
        x.absorb_blocks(&a[both * 64..]);
        y.absorb_blocks(&b[both * 64..]);
    }

    fn finalize(&mut self) -> ([u8; 32], [u8; 32]) {
        let [x, y] = &mut self.0;
        let ((pa, na), (pb, nb)) = (x.padding(), y.padding());
        if na == nb {
            // SAFETY: SHA-NI detected (an `Ni` state exists); each padding
            // buffer holds `na / 64` (one or two) blocks.
            unsafe {
                sha_ni::compress2(
                    &mut x.state,
                    &mut y.state,
                    pa.as_ptr(),
                    pb.as_ptr(),
                    na / 64,
                )
            }
        } else {
            OneNi::compress(&mut x.state, &pa[..na]);
            OneNi::compress(&mut y.state, &pb[..nb]);
        }
        (x.digest(), y.digest())
    }
}

/// One SHA-256 stream: state, partial block and length. With SHA-NI it
/// compresses through `sha_ni` and can take part in
/// `CbcEnc::encrypt_and_hash`'s stitched loop; otherwise it is `sha2`.
pub struct Sha256One {
    imp: OneImp,
}

enum OneImp {
    #[cfg(target_arch = "x86_64")]
    Ni(OneNi),
    Portable(sha2::Sha256),
}

#[cfg(target_arch = "x86_64")]
struct OneNi {
    state: [u32; 8],
    buf: [u8; 64],
    buf_len: usize,
    total: u64,
}

impl Default for Sha256One {
    fn default() -> Self {
        Self::new()
    }
}

impl Sha256One {
    pub fn new() -> Self {
        #[cfg(target_arch = "x86_64")]
        if have_sha_ni() {
            return Sha256One {
                imp: OneImp::Ni(OneNi::new()),
            };
        }
        Self::new_portable()
    }

    /// `sha2` whatever the CPU, so tests can check the fallback.
    fn new_portable() -> Self {
        Sha256One {
            imp: OneImp::Portable(sha2::Sha256::new()),
        }
    }

    /// Feeds any number of bytes; partial blocks are buffered.
    pub fn update(&mut self, data: &[u8]) {
        match &mut self.imp {
            #[cfg(target_arch = "x86_64")]
            OneImp::Ni(h) => h.update(data),
            OneImp::Portable(h) => h.update(data),
        }
    }

    pub fn finalize(self) -> [u8; 32] {
        match self.imp {
            #[cfg(target_arch = "x86_64")]
            OneImp::Ni(mut h) => h.finalize(),
            OneImp::Portable(h) => h.finalize().into(),
        }
    }
}

#[cfg(target_arch = "x86_64")]
impl OneNi {
    /// Compresses the whole blocks of `data`. Only reached through an `Ni`
    /// state, which exists only when SHA-NI was detected.
    fn compress(state: &mut [u32; 8], data: &[u8]) {
        debug_assert!(have_sha_ni());
        // SAFETY: SHA-NI and SSE2-4.1 were detected (see above); `data` holds
        // at least `len / 64` whole blocks.
        unsafe { sha_ni::compress1(state, data.as_ptr(), data.len() / 64) }
    }

    fn new() -> OneNi {
        OneNi {
            state: SHA256_H0,
            buf: [0; 64],
            buf_len: 0,
            total: 0,
        }
    }

    fn update(&mut self, data: &[u8]) {
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
            Self::compress(&mut self.state, &self.buf);
            self.buf_len = 0;
        }
        &data[take..]
    }

    /// Compresses the whole blocks of `data` (already counted, and starting on
    /// a block boundary, so the buffer is empty unless `data` is) and buffers
    /// the partial block after them.
    fn absorb_blocks(&mut self, data: &[u8]) {
        let whole = data.len() / 64 * 64;
        Self::compress(&mut self.state, &data[..whole]);
        let rest = &data[whole..];
        if !rest.is_empty() {
            self.buf[..rest.len()].copy_from_slice(rest);
            self.buf_len = rest.len();
        }
    }

    /// The final block or two (FIPS 180-4 section 5.1.1: 0x80, zeros, the
    /// bit length as a big-endian u64) and how many bytes of it to compress.
    fn padding(&self) -> ([u8; 128], usize) {
        let mut pad = [0u8; 128];
        let len = self.buf_len;
        pad[..len].copy_from_slice(&self.buf[..len]);
        pad[len] = 0x80;
        let end = if len < 56 { 64 } else { 128 };
        pad[end - 8..end].copy_from_slice(&self.total.wrapping_mul(8).to_be_bytes());
        (pad, end)
    }

    fn digest(&self) -> [u8; 32] {
        let mut d = [0u8; 32];
        for (chunk, w) in d.chunks_exact_mut(4).zip(&self.state) {
            chunk.copy_from_slice(&w.to_be_bytes());
        }
        d
    }

    fn finalize(&mut self) -> [u8; 32] {
        let (pad, end) = self.padding();
        Self::compress(&mut self.state, &pad[..end]);
        self.digest()
    }
}

impl CbcEnc {
    /// Encrypts whole blocks in place (as `encrypt`) and feeds the resulting
    /// ciphertext to `sha`. With AES-NI and SHA-NI both, the two run in one
    /// loop: serial CBC and SHA-256 are each latency-bound, on different
    /// dependency chains, so the core overlaps them (OpenSSL's "stitched"
    /// `aesni_cbc_sha256_enc` does the same for TLS). Any trailing partial
    /// block is left as is and not hashed.
    pub fn encrypt_and_hash(&mut self, data: &mut [u8], sha: &mut Sha256One) {
        self.encrypt_and_hash_with::<true>(data, sha);
    }

    /// `INTERLEAVE` picks the stitched loop body: the two chains' instructions
    /// alternating in program order, or one after the other (for the benchmark).
    fn encrypt_and_hash_with<const INTERLEAVE: bool>(
        &mut self,
        data: &mut [u8],
        sha: &mut Sha256One,
    ) {
        let n = data.len() / 16 * 16;
        let data = &mut data[..n];
        #[cfg(target_arch = "x86_64")]
        if let (CbcImp::Ni(st), OneImp::Ni(h)) = (&mut self.imp, &mut sha.imp) {
            // Top up the hasher's partial block first, so the stitched loop
            // hashes whole blocks straight into the state. That takes `t`
            // bytes of ciphertext, i.e. `e` bytes of whole CBC blocks.
            let t = (64 - h.buf_len) % 64;
            let e = t.next_multiple_of(16).min(n);
            let p = data.as_mut_ptr();
            // SAFETY: an `Ni` CBC state exists only when AES-NI was detected;
            // `p` is valid for reads and writes of `e <= n` bytes, in place.
            unsafe { ni::cbc_encrypt(&st.rk, &mut st.chain, p, p, e / 16) }
            h.update(&data[..t.min(n)]);
            if t >= n {
                return;
            }
            // Now the hasher's buffer is empty; hashing is at `t`, encryption
            // at `e`, and `e - t < 16` bytes of ciphertext lie between.
            let steps = (n - e) / 64;
            let base = data.as_mut_ptr();
            // SAFETY: AES-NI (the `Ni` CBC state) and SHA-NI with SSE2-4.1
            // (the `Ni` hash state) were detected. `base + e` is valid for
            // reads and writes of `64 * steps <= n - e` bytes; `base + t` for
            // reads of as many (`t <= e`), all within `data`, and `t <= e`
            // is what makes every hashed byte ciphertext by then.
            unsafe {
                sha_ni::cbc_sha256::<INTERLEAVE>(
                    &st.rk,
                    &mut st.chain,
                    &mut h.state,
                    base.add(e),
                    base.add(t),
                    steps,
                )
            }
            h.total = h.total.wrapping_add(64 * steps as u64);
            let done = e + 64 * steps;
            // SAFETY: AES-NI detected (as above); `base + done` is valid for
            // reads and writes of the `n - done` (whole blocks) bytes left.
            unsafe {
                ni::cbc_encrypt(
                    &st.rk,
                    &mut st.chain,
                    base.add(done),
                    base.add(done),
                    (n - done) / 16,
                )
            }
            h.update(&data[t + 64 * steps..]);
            return;
        }
        self.encrypt(data);
        sha.update(data);
    }
}

/// AES-NI kernels. Every function needs a CPU with AES-NI and SSE2.
#[cfg(target_arch = "x86_64")]
mod ni {
    use core::arch::x86_64::*;

    /// The eleven AES-128 round keys, as bytes so they can be zeroized.
    pub(super) type RoundKeys = [[u8; 16]; 11];

    /// One AES-128 key-expansion step (FIPS-197 section 5.2): the previous
    /// round key's words prefix-XORed, plus SubWord(RotWord(w3)) ^ rcon.
    macro_rules! expand_step {
        ($k:expr, $rcon:literal) => {{
            let t = _mm_shuffle_epi32::<0xff>(_mm_aeskeygenassist_si128::<$rcon>($k));
            let mut k = $k;
            k = _mm_xor_si128(k, _mm_slli_si128::<4>(k));
            k = _mm_xor_si128(k, _mm_slli_si128::<4>(k));
            k = _mm_xor_si128(k, _mm_slli_si128::<4>(k));
            _mm_xor_si128(k, t)
        }};
    }

    /// # Safety
    /// The CPU must have AES-NI and SSE2.
    #[target_feature(enable = "aes,sse2")]
    pub(super) unsafe fn expand(key: &[u8; 16]) -> RoundKeys {
        let mut k = [_mm_setzero_si128(); 11];
        k[0] = _mm_loadu_si128(key.as_ptr().cast());
        k[1] = expand_step!(k[0], 0x01);
        k[2] = expand_step!(k[1], 0x02);
        k[3] = expand_step!(k[2], 0x04);
        k[4] = expand_step!(k[3], 0x08);
        k[5] = expand_step!(k[4], 0x10);
        k[6] = expand_step!(k[5], 0x20);
        k[7] = expand_step!(k[6], 0x40);
        k[8] = expand_step!(k[7], 0x80);
        k[9] = expand_step!(k[8], 0x1b);
        k[10] = expand_step!(k[9], 0x36);
        let mut rk = [[0u8; 16]; 11];
        for (out, key) in rk.iter_mut().zip(&k) {
            _mm_storeu_si128(out.as_mut_ptr().cast(), *key);
        }
        // Don't leave the schedule behind in this frame.
        core::ptr::write_volatile(&mut k, [_mm_setzero_si128(); 11]);
        rk
    }

    /// Serial CBC over `blocks` blocks from `src` to `dst`, updating `chain`.
    ///
    /// # Safety
    /// The CPU must have AES-NI and SSE2; `src` must be readable and `dst`
    /// writable for `blocks * 16` bytes, and they are either the same pointer
    /// or do not overlap.
    #[target_feature(enable = "aes,sse2")]
    pub(super) unsafe fn cbc_encrypt(
        rk: &RoundKeys,
        chain: &mut [u8; 16],
        src: *const u8,
        dst: *mut u8,
        blocks: usize,
    ) {
        if blocks == 0 {
            return;
        }
        let k = |i: usize| _mm_loadu_si128(rk[i].as_ptr().cast());
        let (k0, k1, k2, k3, k4, k5) = (k(0), k(1), k(2), k(3), k(4), k(5));
        let (k6, k7, k8, k9, k10) = (k(6), k(7), k(8), k(9), k(10));
        let k0k10 = _mm_xor_si128(k0, k10);
        let mut s = _mm_xor_si128(
            _mm_xor_si128(_mm_loadu_si128(src.cast()), k0),
            _mm_loadu_si128(chain.as_ptr().cast()),
        );
        let mut i = 0;
        loop {
            s = _mm_aesenc_si128(s, k1);
            s = _mm_aesenc_si128(s, k2);
            s = _mm_aesenc_si128(s, k3);
            s = _mm_aesenc_si128(s, k4);
            s = _mm_aesenc_si128(s, k5);
            s = _mm_aesenc_si128(s, k6);
            s = _mm_aesenc_si128(s, k7);
            s = _mm_aesenc_si128(s, k8);
            s = _mm_aesenc_si128(s, k9);
            let out = _mm_aesenclast_si128(s, k10);
            _mm_storeu_si128(dst.add(16 * i).cast(), out);
            i += 1;
            if i == blocks {
                _mm_storeu_si128(chain.as_mut_ptr().cast(), out);
                return;
            }
            // The last round ends with a XOR by k10 and the next block starts
            // with XORs by its plaintext and k0; folding all three into the
            // last round's key takes one XOR off the serial dependency chain
            // (about 2.5% per block). The ciphertext itself is computed beside
            // it, off the chain.
            let next = _mm_xor_si128(_mm_loadu_si128(src.add(16 * i).cast()), k0k10);
            s = _mm_aesenclast_si128(s, next);
        }
    }

    /// One stream taking part in `schedule_lanes`.
    pub(super) struct Lane<'a> {
        pub rk: &'a RoundKeys,
        pub chain: &'a mut [u8; 16],
        /// Next block to encrypt in place.
        pub ptr: *mut u8,
        /// Blocks left from `ptr`.
        pub blocks: usize,
    }

    /// Encrypts all of every lane, at most `width` (1..=8) interleaved at a
    /// time: run the active lanes together for as many blocks as the shortest
    /// has left, then replace the finished ones with waiting lanes.
    ///
    /// # Safety
    /// The CPU must have AES-NI and SSE2; each lane's `ptr` must be valid for
    /// reads and writes of `blocks * 16` bytes, and lanes must not overlap.
    pub(super) unsafe fn schedule_lanes(lanes: Vec<Lane<'_>>, width: usize) {
        let width = width.clamp(1, 8);
        let mut waiting = lanes.into_iter().filter(|l| l.blocks > 0);
        let mut active: Vec<Lane<'_>> = Vec::with_capacity(width);
        loop {
            while active.len() < width {
                match waiting.next() {
                    Some(l) => active.push(l),
                    None => break,
                }
            }
            let Some(steps) = active.iter().map(|l| l.blocks).min() else {
                return;
            };
            macro_rules! run {
                ($($n:literal)*) => {
                    match active.len() {
                        1 => {
                            let l = &mut active[0];
                            cbc_encrypt(l.rk, l.chain, l.ptr, l.ptr, steps);
                            l.ptr = l.ptr.add(16 * steps);
                            l.blocks -= steps;
                        }
                        $($n => {
                            if let Ok(group) = <&mut [Lane<'_>; $n]>::try_from(&mut active[..]) {
                                interleaved(group, steps);
                            }
                        })*
                        _ => {}
                    }
                };
            }
            run!(2 3 4 5 6 7 8);
            active.retain(|l| l.blocks > 0);
        }
    }

    /// `steps` blocks of each of `N` lanes, round by round across the lanes,
    /// so N independent AES operations are in flight at every step.
    ///
    /// # Safety
    /// As `schedule_lanes`, and every lane has at least `steps` blocks left.
    // Indexing by lane and round mirrors the algorithm, and LLVM unrolls
    // these constant-bound loops completely.
    #[allow(clippy::needless_range_loop)]
    #[target_feature(enable = "aes,sse2")]
    unsafe fn interleaved<const N: usize>(lanes: &mut [Lane<'_>; N], steps: usize) {
        // Local copies: the compiler can see that stores through the lanes'
        // data pointers cannot change them, so it never reloads them.
        let mut k = [[_mm_setzero_si128(); 11]; N];
        let mut c = [_mm_setzero_si128(); N];
        let mut p = [core::ptr::null_mut::<u8>(); N];
        for j in 0..N {
            for r in 0..11 {
                k[j][r] = _mm_loadu_si128(lanes[j].rk[r].as_ptr().cast());
            }
            c[j] = _mm_loadu_si128(lanes[j].chain.as_ptr().cast());
            p[j] = lanes[j].ptr;
        }
        for i in 0..steps {
            let mut x = [_mm_setzero_si128(); N];
            for j in 0..N {
                let plain = _mm_loadu_si128(p[j].add(16 * i).cast());
                x[j] = _mm_xor_si128(_mm_xor_si128(plain, k[j][0]), c[j]);
            }
            for r in 1..10 {
                for j in 0..N {
                    x[j] = _mm_aesenc_si128(x[j], k[j][r]);
                }
            }
            for j in 0..N {
                c[j] = _mm_aesenclast_si128(x[j], k[j][10]);
                _mm_storeu_si128(p[j].add(16 * i).cast(), c[j]);
            }
        }
        for j in 0..N {
            _mm_storeu_si128(lanes[j].chain.as_mut_ptr().cast(), c[j]);
            lanes[j].ptr = p[j].add(16 * steps);
            lanes[j].blocks -= steps;
        }
        // Don't leave the key schedules behind in this frame.
        core::ptr::write_volatile(&mut k, [[_mm_setzero_si128(); 11]; N]);
    }
}

/// SHA-NI kernels, after the `sha2` crate's x86 backend (the same message
/// schedule and register layout): two streams per call, one, or one stitched
/// with CBC encryption.
#[cfg(target_arch = "x86_64")]
mod sha_ni {
    use core::arch::x86_64::*;

    /// SHA-256 round constants (FIPS 180-4 section 4.2.2).
    static K: [u32; 64] = [
        0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4,
        0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe,
        0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f,
        0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7,
        0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc,
        0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b,
        0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116,
        0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
        0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7,
        0xc67178f2,
    ];

    /// Loads a state into the (ABEF, CDGH) register pair `sha256rnds2` uses.
    macro_rules! load_state {
        ($s:expr) => {{
            let dcba = _mm_loadu_si128($s.as_ptr().cast());
            let efgh = _mm_loadu_si128($s.as_ptr().add(4).cast());
            let cdab = _mm_shuffle_epi32::<0xB1>(dcba);
            let efgh = _mm_shuffle_epi32::<0x1B>(efgh);
            (
                _mm_alignr_epi8::<8>(cdab, efgh),
                _mm_blend_epi16::<0xF0>(efgh, cdab),
            )
        }};
    }

    macro_rules! store_state {
        ($s:expr, $abef:expr, $cdgh:expr) => {{
            let feba = _mm_shuffle_epi32::<0x1B>($abef);
            let dchg = _mm_shuffle_epi32::<0xB1>($cdgh);
            _mm_storeu_si128($s.as_mut_ptr().cast(), _mm_blend_epi16::<0xF0>(feba, dchg));
            _mm_storeu_si128(
                $s.as_mut_ptr().add(4).cast(),
                _mm_alignr_epi8::<8>(dchg, feba),
            );
        }};
    }

    /// Message schedule: W[t..t+4] from the previous sixteen words.
    macro_rules! schedule {
        ($v0:expr, $v1:expr, $v2:expr, $v3:expr) => {{
            let t1 = _mm_sha256msg1_epu32($v0, $v1);
            let t2 = _mm_alignr_epi8::<4>($v3, $v2);
            _mm_sha256msg2_epu32(_mm_add_epi32(t1, t2), $v3)
        }};
    }

    /// Four rounds of each stream, the two interleaved instruction by
    /// instruction so each `sha256rnds2` has an independent neighbour.
    macro_rules! rounds4_x2 {
        ($abef_a:ident, $cdgh_a:ident, $abef_b:ident, $cdgh_b:ident, $wa:expr, $wb:expr, $i:expr) => {{
            let k = _mm_loadu_si128(K.as_ptr().add(4 * $i).cast());
            let ta = _mm_add_epi32($wa, k);
            let tb = _mm_add_epi32($wb, k);
            $cdgh_a = _mm_sha256rnds2_epu32($cdgh_a, $abef_a, ta);
            $cdgh_b = _mm_sha256rnds2_epu32($cdgh_b, $abef_b, tb);
            let ta = _mm_shuffle_epi32::<0x0E>(ta);
            let tb = _mm_shuffle_epi32::<0x0E>(tb);
            $abef_a = _mm_sha256rnds2_epu32($abef_a, $cdgh_a, ta);
            $abef_b = _mm_sha256rnds2_epu32($abef_b, $cdgh_b, tb);
        }};
    }

    /// Compresses `blocks` 64-byte blocks from `a` into `sa` and as many from
    /// `b` into `sb`.
    ///
    /// # Safety
    /// The CPU must have SHA, SSE2, SSSE3 and SSE4.1; `a` and `b` must be
    /// readable for `blocks * 64` bytes.
    #[target_feature(enable = "sha,sse2,ssse3,sse4.1")]
    pub(super) unsafe fn compress2(
        sa: &mut [u32; 8],
        sb: &mut [u32; 8],
        a: *const u8,
        b: *const u8,
        blocks: usize,
    ) {
        // Big-endian words within each 32-bit lane.
        let mask = _mm_set_epi64x(
            0x0C0D_0E0F_0809_0A0Bu64 as i64,
            0x0405_0607_0001_0203u64 as i64,
        );
        let (mut abef_a, mut cdgh_a) = load_state!(sa);
        let (mut abef_b, mut cdgh_b) = load_state!(sb);
        for blk in 0..blocks {
            let (save_abef_a, save_cdgh_a) = (abef_a, cdgh_a);
            let (save_abef_b, save_cdgh_b) = (abef_b, cdgh_b);
            let pa = a.add(64 * blk);
            let pb = b.add(64 * blk);
            let load = |p: *const u8, i: usize| _mm_loadu_si128(p.add(16 * i).cast());
            let mut wa = [_mm_setzero_si128(); 5];
            let mut wb = [_mm_setzero_si128(); 5];
            for i in 0..4 {
                wa[i] = _mm_shuffle_epi8(load(pa, i), mask);
                wb[i] = _mm_shuffle_epi8(load(pb, i), mask);
            }
            rounds4_x2!(abef_a, cdgh_a, abef_b, cdgh_b, wa[0], wb[0], 0);
            rounds4_x2!(abef_a, cdgh_a, abef_b, cdgh_b, wa[1], wb[1], 1);
            rounds4_x2!(abef_a, cdgh_a, abef_b, cdgh_b, wa[2], wb[2], 2);
            rounds4_x2!(abef_a, cdgh_a, abef_b, cdgh_b, wa[3], wb[3], 3);
            // Rounds 16..64: the five-register rotation of the sha2 crate.
            macro_rules! sched_rounds {
                ($i:expr, $n0:expr, $n1:expr, $n2:expr, $n3:expr, $n4:expr) => {{
                    wa[$n4] = schedule!(wa[$n0], wa[$n1], wa[$n2], wa[$n3]);
                    wb[$n4] = schedule!(wb[$n0], wb[$n1], wb[$n2], wb[$n3]);
                    rounds4_x2!(abef_a, cdgh_a, abef_b, cdgh_b, wa[$n4], wb[$n4], $i);
                }};
            }
            sched_rounds!(4, 0, 1, 2, 3, 4);
            sched_rounds!(5, 1, 2, 3, 4, 0);
            sched_rounds!(6, 2, 3, 4, 0, 1);
            sched_rounds!(7, 3, 4, 0, 1, 2);
            sched_rounds!(8, 4, 0, 1, 2, 3);
            sched_rounds!(9, 0, 1, 2, 3, 4);
            sched_rounds!(10, 1, 2, 3, 4, 0);
            sched_rounds!(11, 2, 3, 4, 0, 1);
            sched_rounds!(12, 3, 4, 0, 1, 2);
            sched_rounds!(13, 4, 0, 1, 2, 3);
            sched_rounds!(14, 0, 1, 2, 3, 4);
            sched_rounds!(15, 1, 2, 3, 4, 0);
            abef_a = _mm_add_epi32(abef_a, save_abef_a);
            cdgh_a = _mm_add_epi32(cdgh_a, save_cdgh_a);
            abef_b = _mm_add_epi32(abef_b, save_abef_b);
            cdgh_b = _mm_add_epi32(cdgh_b, save_cdgh_b);
        }
        store_state!(sa, abef_a, cdgh_a);
        store_state!(sb, abef_b, cdgh_b);
    }

    /// Four rounds of one stream on the message words `$w[$i % 5]`, first
    /// computing them: loaded from `$src` for rounds 0..16, else the schedule
    /// over the previous four (the five-register rotation of `compress2`).
    /// `$i` is a constant, so the branch and the indices fold away.
    macro_rules! rounds4_one {
        ($abef:ident, $cdgh:ident, $w:ident, $src:expr, $mask:expr, $i:expr) => {{
            if $i < 4 {
                $w[$i % 5] =
                    _mm_shuffle_epi8(_mm_loadu_si128($src.add(16 * ($i % 4)).cast()), $mask);
            } else {
                $w[$i % 5] = schedule!(
                    $w[($i + 1) % 5],
                    $w[($i + 2) % 5],
                    $w[($i + 3) % 5],
                    $w[($i + 4) % 5]
                );
            }
            let t = _mm_add_epi32($w[$i % 5], _mm_loadu_si128(K.as_ptr().add(4 * $i).cast()));
            $cdgh = _mm_sha256rnds2_epu32($cdgh, $abef, t);
            $abef = _mm_sha256rnds2_epu32($abef, $cdgh, _mm_shuffle_epi32::<0x0E>(t));
        }};
    }

    /// Big-endian words within each 32-bit lane.
    macro_rules! bswap_mask {
        () => {
            _mm_set_epi64x(
                0x0C0D_0E0F_0809_0A0Bu64 as i64,
                0x0405_0607_0001_0203u64 as i64,
            )
        };
    }

    /// Compresses `blocks` 64-byte blocks from `data` into `state`.
    ///
    /// # Safety
    /// The CPU must have SHA, SSE2, SSSE3 and SSE4.1; `data` must be readable
    /// for `blocks * 64` bytes.
    #[target_feature(enable = "sha,sse2,ssse3,sse4.1")]
    pub(super) unsafe fn compress1(state: &mut [u32; 8], data: *const u8, blocks: usize) {
        let mask = bswap_mask!();
        let (mut abef, mut cdgh) = load_state!(state);
        let mut w = [_mm_setzero_si128(); 5];
        for blk in 0..blocks {
            let (save_abef, save_cdgh) = (abef, cdgh);
            let src = data.add(64 * blk);
            macro_rules! quad {
                ($($i:literal)*) => { $(rounds4_one!(abef, cdgh, w, src, mask, $i);)* };
            }
            quad!(0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15);
            abef = _mm_add_epi32(abef, save_abef);
            cdgh = _mm_add_epi32(cdgh, save_cdgh);
        }
        store_state!(state, abef, cdgh);
    }

    /// The stitched loop: CBC-encrypts `steps` 64-byte steps in place at `p`
    /// and compresses `steps` blocks from `q` into `state`. Iteration i
    /// encrypts step i and hashes block i - 1, whose ciphertext is already
    /// written (`q <= p`), so the AES chain and the SHA chain inside one
    /// iteration do not depend on each other; the last block is hashed
    /// after the loop. With `INTERLEAVE` the two chains' instructions
    /// alternate in program order (a few AES rounds, then four SHA rounds),
    /// so both are inside the out-of-order window at once; without, each
    /// iteration runs its four AES blocks and then its compression.
    ///
    /// # Safety
    /// The CPU must have AES-NI, SHA, SSE2, SSSE3 and SSE4.1; `p` must be
    /// valid for reads and writes of `steps * 64` bytes and `q` for reads of
    /// as many. For the hash to be of the ciphertext, `q` must point into the
    /// same buffer at or before `p`, with the bytes between already encrypted.
    #[target_feature(enable = "aes,sse2,sha,ssse3,sse4.1")]
    pub(super) unsafe fn cbc_sha256<const INTERLEAVE: bool>(
        rk: &super::ni::RoundKeys,
        chain: &mut [u8; 16],
        state: &mut [u32; 8],
        p: *mut u8,
        q: *const u8,
        steps: usize,
    ) {
        if steps == 0 {
            return;
        }
        let k = |i: usize| _mm_loadu_si128(rk[i].as_ptr().cast());
        let (k0, k1, k2, k3, k4, k5) = (k(0), k(1), k(2), k(3), k(4), k(5));
        let (k6, k7, k8, k9, k10) = (k(6), k(7), k(8), k(9), k(10));
        let mask = bswap_mask!();
        let mut c = _mm_loadu_si128(chain.as_ptr().cast());
        let (mut abef, mut cdgh) = load_state!(state);
        let mut w = [_mm_setzero_si128(); 5];
        let mut x;
        let mut pa = p;
        let mut src: *const u8;

        // One AES round of block `$j` of the current step: 0 is the CBC
        // XOR and the whitening key, 10 the last round and the store.
        macro_rules! aes {
            ($j:literal, 0) => {
                x = _mm_xor_si128(
                    _mm_xor_si128(_mm_loadu_si128(pa.add(16 * $j).cast()), k0),
                    c,
                );
            };
            ($j:literal, 10) => {
                c = _mm_aesenclast_si128(x, k10);
                _mm_storeu_si128(pa.add(16 * $j).cast(), c);
            };
            ($j:literal, $k:ident) => {
                x = _mm_aesenc_si128(x, $k);
            };
        }
        macro_rules! aes_block {
            ($($j:literal)*) => {$(
                aes!($j, 0); aes!($j, k1); aes!($j, k2); aes!($j, k3); aes!($j, k4);
                aes!($j, k5); aes!($j, k6); aes!($j, k7); aes!($j, k8); aes!($j, k9);
                aes!($j, 10);
            )*};
        }
        macro_rules! quad {
            ($($i:literal)*) => { $(rounds4_one!(abef, cdgh, w, src, mask, $i);)* };
        }
        // AES block `$j` with the SHA quads (four rounds each) `$a $b $c $d`
        // spread between its rounds: 2.5 AES rounds per four SHA rounds
        // roughly matches the two chains' latencies.
        macro_rules! stitched_block {
            ($j:literal, $a:literal $b:literal $c:literal $d:literal) => {
                aes!($j, 0);
                aes!($j, k1);
                aes!($j, k2);
                quad!($a);
                aes!($j, k3);
                aes!($j, k4);
                quad!($b);
                aes!($j, k5);
                aes!($j, k6);
                aes!($j, k7);
                quad!($c);
                aes!($j, k8);
                aes!($j, k9);
                quad!($d);
                aes!($j, 10);
            };
        }

        // Step 0: nothing encrypted yet to hash.
        aes_block!(0 1 2 3);
        for i in 1..steps {
            pa = p.add(64 * i);
            src = q.add(64 * (i - 1));
            let (save_abef, save_cdgh) = (abef, cdgh);
            if INTERLEAVE {
                stitched_block!(0, 0 1 2 3);
                stitched_block!(1, 4 5 6 7);
                stitched_block!(2, 8 9 10 11);
                stitched_block!(3, 12 13 14 15);
            } else {
                aes_block!(0 1 2 3);
                quad!(0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15);
            }
            abef = _mm_add_epi32(abef, save_abef);
            cdgh = _mm_add_epi32(cdgh, save_cdgh);
        }
        src = q.add(64 * (steps - 1));
        let (save_abef, save_cdgh) = (abef, cdgh);
        quad!(0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15);
        abef = _mm_add_epi32(abef, save_abef);
        cdgh = _mm_add_epi32(cdgh, save_cdgh);
        _mm_storeu_si128(chain.as_mut_ptr().cast(), c);
        store_state!(state, abef, cdgh);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, RngCore, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    fn crate_cbc(key: &[u8; 16], iv: &[u8; 16], data: &[u8]) -> Vec<u8> {
        let mut out = data.to_vec();
        let (blocks, _) = InOutBuf::from(&mut out[..]).into_chunks();
        CrateEnc::new(key.into(), iv.into()).encrypt_blocks_inout_mut(blocks);
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

    fn check_cbc_against_crate(make: fn(&[u8; 16], &[u8; 16]) -> CbcEnc, seed: u64) {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        for blocks in 0..=300 {
            let key: [u8; 16] = rng.gen();
            let iv: [u8; 16] = rng.gen();
            let plain = random_bytes(&mut rng, blocks * 16);
            let want = crate_cbc(&key, &iv, &plain);

            let mut in_place = plain.clone();
            let mut enc = make(&key, &iv);
            let mut from = 0;
            for to in cuts(&mut rng, blocks) {
                enc.encrypt(&mut in_place[from..to]);
                from = to;
            }
            assert_eq!(in_place, want, "in place, {blocks} blocks");

            let mut out = vec![0u8; plain.len()];
            let mut enc = make(&key, &iv);
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
        check_cbc_against_crate(CbcEnc::new, 1);
    }

    #[test]
    fn cbc_portable_matches_crate() {
        check_cbc_against_crate(CbcEnc::new_portable, 2);
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
        for make in [CbcEnc::new, CbcEnc::new_portable] {
            let mut buf = plain.clone();
            make(&key, &iv).encrypt(&mut buf);
            assert_eq!(buf, cipher);
            // Block by block, so the chaining across calls is checked too.
            let mut enc = make(&key, &iv);
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
            for n in 1..=9 {
                let keys: Vec<([u8; 16], [u8; 16])> =
                    (0..n).map(|_| (rng.gen(), rng.gen())).collect();
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
                // Some lanes on the fallback path: a mixed call must work too.
                let mut encs: Vec<CbcEnc> = keys
                    .iter()
                    .map(|(k, iv)| {
                        if round % 4 == 3 && rng.gen_ratio(1, 3) {
                            CbcEnc::new_portable(k, iv)
                        } else {
                            CbcEnc::new(k, iv)
                        }
                    })
                    .collect();
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

    #[test]
    fn sha256x2_portable_matches_sha2() {
        check_sha_against_crate(Sha256x2::new_portable, 5);
    }

    /// FIPS 180-4 example (B.1): SHA-256("abc"); and the empty message.
    #[test]
    fn sha256x2_known_answers() {
        for make in [Sha256x2::new, Sha256x2::new_portable] {
            let abc = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
            let mut h = make();
            h.update(b"ab", b"ab");
            h.update(b"c", b"c");
            let (x, y) = h.finalize();
            assert_eq!(
                (hex::encode(x).as_str(), hex::encode(y).as_str()),
                (abc, abc)
            );
            let empty = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
            let (x, y) = make().finalize();
            assert_eq!(
                (hex::encode(x).as_str(), hex::encode(y).as_str()),
                (empty, empty)
            );
        }
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
        check_sha_one(Sha256One::new_portable, 9);
    }

    /// FIPS 180-4 example (B.1): SHA-256("abc"); and the empty message.
    #[test]
    fn sha256_one_known_answers() {
        for make in [Sha256One::new, Sha256One::new_portable] {
            let mut h = make();
            h.update(b"ab");
            h.update(b"c");
            assert_eq!(
                hex::encode(h.finalize()),
                "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
            );
            assert_eq!(
                hex::encode(make().finalize()),
                "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
            );
        }
    }

    /// `encrypt_and_hash` against the `cbc` crate and `sha2`, for one way of
    /// making each half (fast or portable) and one loop body.
    fn check_encrypt_and_hash(
        make_enc: fn(&[u8; 16], &[u8; 16]) -> CbcEnc,
        make_sha: fn() -> Sha256One,
        interleave: bool,
        seed: u64,
    ) {
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
            let mut enc = make_enc(&key, &iv);
            let mut sha = make_sha();
            sha.update(&prefix);
            let mut from = 0;
            for to in cuts(&mut rng, blocks) {
                if interleave {
                    enc.encrypt_and_hash(&mut buf[from..to], &mut sha);
                } else {
                    enc.encrypt_and_hash_with::<false>(&mut buf[from..to], &mut sha);
                }
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
        check_encrypt_and_hash(CbcEnc::new, Sha256One::new, true, 10);
        check_encrypt_and_hash(CbcEnc::new, Sha256One::new, false, 11);
    }

    #[test]
    fn encrypt_and_hash_fallbacks_match_crates() {
        check_encrypt_and_hash(CbcEnc::new_portable, Sha256One::new, true, 12);
        check_encrypt_and_hash(CbcEnc::new, Sha256One::new_portable, true, 13);
        check_encrypt_and_hash(CbcEnc::new_portable, Sha256One::new_portable, true, 14);
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

    /// CPU time of this thread: the machine is shared, so wall time is noisy.
    fn cpu_seconds() -> f64 {
        let mut ts = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: `ts` is a valid, writable timespec for the call.
        unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
        ts.tv_sec as f64 + ts.tv_nsec as f64 * 1e-9
    }

    /// Median GB/s (by CPU time) of `runs` runs of `f` over `bytes` bytes.
    fn rate(bytes: usize, runs: usize, mut f: impl FnMut()) -> (f64, f64) {
        let mut cpu = Vec::new();
        let mut wall = Vec::new();
        for _ in 0..runs {
            let (c0, w0) = (cpu_seconds(), std::time::Instant::now());
            f();
            cpu.push(bytes as f64 / (cpu_seconds() - c0) / 1e9);
            wall.push(bytes as f64 / w0.elapsed().as_secs_f64() / 1e9);
        }
        cpu.sort_by(f64::total_cmp);
        wall.sort_by(f64::total_cmp);
        (cpu[runs / 2], wall[runs / 2])
    }

    /// Throughput figures, not a test: run with
    /// `cargo test --release --lib -- --ignored --nocapture bench_fast_crypto`.
    #[test]
    #[ignore]
    fn bench_fast_crypto() {
        const CHUNK: usize = 512 << 10;
        const TOTAL: usize = 252 * CHUNK; // 126 MiB
        let runs: usize = std::env::var("BENCH_RUNS")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(5);
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        let mut data = random_bytes(&mut rng, TOTAL);
        let key = [7u8; 16];
        let iv = [9u8; 16];
        let show = |name: &str, (cpu, wall): (f64, f64)| {
            eprintln!("{name:<34} {cpu:6.2} GB/s cpu  {wall:6.2} GB/s wall");
        };

        show(
            "cbc crate, serial",
            rate(TOTAL, runs, || {
                let mut enc = CrateEnc::new(&key.into(), &iv.into());
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
            for width in [4, 8] {
                if width > lanes && width != 8 {
                    continue;
                }
                let name = format!("encrypt_lanes, {lanes} lanes, width {width}");
                show(
                    &name,
                    rate(TOTAL, runs, || {
                        let mut encs: Vec<CbcEnc> = (0..lanes as u8)
                            .map(|i| CbcEnc::new(&[i; 16], &iv))
                            .collect();
                        for group in data.chunks_mut(CHUNK * lanes) {
                            let mut l: Vec<(&mut CbcEnc, &mut [u8])> =
                                encs.iter_mut().zip(group.chunks_mut(CHUNK)).collect();
                            encrypt_lanes_width(&mut l, width);
                        }
                    }),
                );
            }
        }

        // The package writer's loop: encrypt a 256 KiB chunk, hash its
        // ciphertext. GB/s of data encrypted (and hashed).
        const PKG_CHUNK: usize = 256 << 10;
        show(
            "sha2 alone",
            rate(TOTAL, runs, || {
                let mut h = sha2::Sha256::new();
                for chunk in data.chunks(PKG_CHUNK) {
                    h.update(chunk);
                }
                std::hint::black_box(h.finalize());
            }),
        );
        show(
            "Sha256One alone",
            rate(TOTAL, runs, || {
                let mut h = Sha256One::new();
                for chunk in data.chunks(PKG_CHUNK) {
                    h.update(chunk);
                }
                std::hint::black_box(h.finalize());
            }),
        );
        show(
            "CbcEnc alone, 256 KiB",
            rate(TOTAL, runs, || {
                let mut enc = CbcEnc::new(&key, &iv);
                for chunk in data.chunks_mut(PKG_CHUNK) {
                    enc.encrypt(chunk);
                }
            }),
        );
        show(
            "CbcEnc, then sha2",
            rate(TOTAL, runs, || {
                let mut enc = CbcEnc::new(&key, &iv);
                let mut h = sha2::Sha256::new();
                for chunk in data.chunks_mut(PKG_CHUNK) {
                    enc.encrypt(chunk);
                    h.update(&*chunk);
                }
                std::hint::black_box(h.finalize());
            }),
        );
        show(
            "encrypt_and_hash, sequential body",
            rate(TOTAL, runs, || {
                let mut enc = CbcEnc::new(&key, &iv);
                let mut h = Sha256One::new();
                for chunk in data.chunks_mut(PKG_CHUNK) {
                    enc.encrypt_and_hash_with::<false>(chunk, &mut h);
                }
                std::hint::black_box(h.finalize());
            }),
        );
        show(
            "encrypt_and_hash (interleaved)",
            rate(TOTAL, runs, || {
                let mut enc = CbcEnc::new(&key, &iv);
                let mut h = Sha256One::new();
                for chunk in data.chunks_mut(PKG_CHUNK) {
                    enc.encrypt_and_hash(chunk, &mut h);
                }
                std::hint::black_box(h.finalize());
            }),
        );

        let (a, b) = data.split_at(TOTAL / 2);
        show(
            "sha2 x2, separately (total bytes)",
            rate(TOTAL, runs, || {
                let (mut ha, mut hb) = (sha2::Sha256::new(), sha2::Sha256::new());
                for (ca, cb) in a.chunks(CHUNK).zip(b.chunks(CHUNK)) {
                    ha.update(ca);
                    hb.update(cb);
                }
                std::hint::black_box((ha.finalize(), hb.finalize()));
            }),
        );
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
