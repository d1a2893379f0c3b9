//! Forensic watermarking: a keyed, imperceptible mark in the luma of every frame
//! that names a 64-bit payload and survives re-encoding, scaling, cropping,
//! brightness and frame-rate changes, read back blind from a few seconds of video.
//!
//! Design (see `pattern`, `embed`, `extract`):
//! - A periodic tile of `TILE`x`TILE` cells is repeated over every frame, a cell
//!   being `frame height / WORK_ROWS` pixels, so the mark scales with the picture.
//!   The tile is the sum of keyed pseudo-random +-1 patterns: one sync pattern at
//!   a fixed place and `SYMBOLS` symbol patterns, each cyclically shifted by one
//!   12-bit symbol of the payload and its check bits (position keying: a symbol
//!   is read as where its pattern's correlation peaks, relative to the sync peak,
//!   so a crop's unknown offset cancels out). Every pattern has its higher
//!   frequencies emphasised (`pattern::EMPHASIS`): there the host picture,
//!   the detector's noise, is weakest, and they survive compression and half
//!   scaling well enough that the same PSNR reads with a higher z-score.
//! - The same tile is in every frame, so the detector averages all frames,
//!   folds the average onto one tile for each scale and sub-cell phase it tries,
//!   and finds the offset by FFT correlation with spectral whitening.
//! - Each frame is prefiltered (a wide local mean removed, divided by local
//!   activity) before averaging, which weighs quiet areas over busy ones.
//! - Reframing (rotation, aspect change, a picture shrunk inside its frame, a
//!   left-right mirror, a slight perspective) moves the grid the tile lies on:
//!   a second search folds the frames along a grid of affine hypotheses
//!   (rotations to 3.5 degrees, aspects within 11%, scales down to 0.66, each
//!   mirrored or not) over a window round the clip's centre, small enough that
//!   a coarse grid of hypotheses stays within half a cell of the mark, then
//!   refines its best four that are not neighbours of one another on the
//!   whole clip (the window holds part of the mark only, so its single best
//!   can be noise). With `ExtractOptions::perspective`
//!   it also tries shears to 0.065 (a perspective warp of a few percent is,
//!   over the window, an affine map whose axes are not square). It runs
//!   unless the scale-only search has read the payload beyond doubt; its
//!   hypotheses always count.
//! - The detection statistic is the sync peak's z-score; its Gaussian tail times
//!   the number of hypotheses tried (every scale, reframing and phase of
//!   both searches x offsets x looks, Bonferroni) is the sync false-alarm
//!   probability, and a payload whose 20
//!   check bits agree adds a factor 2^-20 per word tried (`log10_p`). Reading
//!   stops early (at 6, 12 or 24 s) once the payload is read.
//! - The symbols are read near the sync's alignment where sync and symbols
//!   together peak highest, and decoded from each symbol's four highest local
//!   peaks: words in order of likelihood, up to 16, the first whose check bits
//!   agree. A payload read on try n is another misread with probability at
//!   most n x 2^-20 (`log10_p_misread`).
//! - The mark's strength follows local texture (8x8 block activity): none on
//!   flat blocks (where it would show as a fixed pattern over a pan), rising
//!   with texture and a little with brightness, set per frame for a target
//!   luma PSNR but never boosted on a mostly flat frame. `embed` reports the
//!   PSNR and SSIM of what it wrote, decoded again (`quality`).

pub mod ab;
pub mod codec;
pub mod dsp;
pub mod embed;
pub mod extract;
pub mod key;
pub mod pattern;
pub mod quality;

pub use embed::{embed_file, EmbedOptions, EmbedReport};
pub use extract::{extract_file, ExtractOptions, ExtractReport};
pub use key::WmKey;
pub use pattern::Payload;

/// Cells per side of the periodic tile.
pub const TILE: usize = 64;
/// Cell rows over the frame height for HD and larger: a cell is
/// `height / WORK_ROWS` pixels.
pub const WORK_ROWS: f64 = 144.0;
/// Cell rows for videos under 720 lines: bigger cells, so that the mark is not
/// finer than what an encoder keeps at such sizes. The detector's scale search
/// covers both: cells from `height / WORK_ROWS` to 1.5 x `height / WORK_ROWS_SMALL`.
pub const WORK_ROWS_SMALL: f64 = 96.0;

/// The cell rows used to mark a video `height` lines high.
pub fn work_rows(height: usize) -> f64 {
    if height >= 720 {
        WORK_ROWS
    } else {
        WORK_ROWS_SMALL
    }
}
/// Symbols of `SYMBOL_BITS` bits each: 64 payload bits plus 20 check bits.
pub const SYMBOLS: usize = 7;
/// Bits per symbol: a 2-D cyclic shift in a `TILE`x`TILE` tile.
pub const SYMBOL_BITS: u32 = 12;
