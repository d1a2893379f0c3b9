//! Signal processing for the watermark: tile FFTs, spectral whitening,
//! correlation z-scores, resampling and folding, and Gaussian tail probabilities.

use std::sync::Arc;

use rustfft::num_complex::Complex64;
use rustfft::{Fft, FftPlanner};

use super::TILE;

/// 2-D FFTs of `TILE`x`TILE` tiles.
pub struct Fft2 {
    fwd: Arc<dyn Fft<f64>>,
    inv: Arc<dyn Fft<f64>>,
}

impl Default for Fft2 {
    fn default() -> Self {
        Self::new()
    }
}

impl Fft2 {
    pub fn new() -> Self {
        let mut planner = FftPlanner::new();
        Fft2 {
            fwd: planner.plan_fft_forward(TILE),
            inv: planner.plan_fft_inverse(TILE),
        }
    }

    fn run(&self, fft: &Arc<dyn Fft<f64>>, data: &mut [Complex64]) {
        // rows, then columns through a transpose
        fft.process(data);
        let mut t = vec![Complex64::default(); TILE * TILE];
        transpose(data, &mut t);
        fft.process(&mut t);
        transpose(&t, data);
    }

    pub fn forward_real(&self, data: &[f64]) -> Vec<Complex64> {
        let mut c: Vec<Complex64> = data.iter().map(|&v| Complex64::new(v, 0.0)).collect();
        self.run(&self.fwd, &mut c);
        c
    }

    /// The real part of the inverse transform (unnormalised).
    pub fn inverse_real(&self, mut data: Vec<Complex64>) -> Vec<f64> {
        self.run(&self.inv, &mut data);
        data.iter().map(|c| c.re).collect()
    }
}

fn transpose(src: &[Complex64], dst: &mut [Complex64]) {
    for y in 0..TILE {
        for x in 0..TILE {
            dst[x * TILE + y] = src[y * TILE + x];
        }
    }
}

/// Frequency index `i` of a `TILE`-point FFT as a signed frequency.
fn freq(i: usize) -> f64 {
    if i <= TILE / 2 {
        i as f64
    } else {
        i as f64 - TILE as f64
    }
}

/// Whitens a folded tile: its spectrum divided by a locally smoothed power
/// spectrum (an estimate of the host's, which dominates), times a gentle
/// low-pass because interpolation and compression weaken the mark's highest
/// frequencies. This is the matched filter in coloured noise, up to scale.
pub fn whiten(fft: &Fft2, fold: &[f64]) -> Vec<Complex64> {
    let mean = fold.iter().sum::<f64>() / fold.len() as f64;
    let centred: Vec<f64> = fold.iter().map(|v| v - mean).collect();
    let f = fft.forward_real(&centred);
    let power: Vec<f64> = f.iter().map(|c| c.norm_sqr()).collect();
    let total = power.iter().sum::<f64>() / power.len() as f64 + 1e-30;
    // the 3x3 cyclic mean of the power, separably
    let mut rows = vec![0f64; TILE * TILE];
    for y in 0..TILE {
        let r = &power[y * TILE..(y + 1) * TILE];
        for x in 0..TILE {
            rows[y * TILE + x] = r[(x + TILE - 1) % TILE] + r[x] + r[(x + 1) % TILE];
        }
    }
    let lp = low_pass();
    let mut out = vec![Complex64::default(); TILE * TILE];
    for y in 0..TILE {
        let (a, b, c) = (
            ((y + TILE - 1) % TILE) * TILE,
            y * TILE,
            ((y + 1) % TILE) * TILE,
        );
        for x in 0..TILE {
            let s = (rows[a + x] + rows[b + x] + rows[c + x]) / 9.0 + 1e-6 * total;
            out[b + x] = f[b + x] * (lp[b + x] / s);
        }
    }
    out[0] = Complex64::default();
    out
}

/// The power of the raised-cosine low-pass `whiten` weighs frequencies by.
/// Measured on a natural 540p clip marked with `pattern::EMPHASIS` (z of the
/// sync peak, 6 s excerpts): CRF 30 at half scale 8.38 at 0.5 (the square
/// root, as before), 8.95 at 0.25, 8.06 at 0; two seconds at CRF 23 7.45,
/// 8.58 and 8.77. The host's low frequencies are whitened away anyway, and
/// the mark's high ones survive better than the square root assumed.
const LOW_PASS_POWER: f64 = 0.25;

/// `whiten`'s low-pass at every frequency of a tile.
fn low_pass() -> &'static [f64] {
    static LP: std::sync::OnceLock<Vec<f64>> = std::sync::OnceLock::new();
    LP.get_or_init(|| {
        (0..TILE * TILE)
            .map(|i| {
                let (fy, fx) = (freq(i / TILE) / TILE as f64, freq(i % TILE) / TILE as f64);
                let lp = (0.5 + 0.5 * (2.0 * std::f64::consts::PI * fy).cos())
                    * (0.5 + 0.5 * (2.0 * std::f64::consts::PI * fx).cos());
                lp.powf(LOW_PASS_POWER)
            })
            .collect()
    })
}

/// `p` with its higher frequencies emphasised: its spectrum times
/// 1 + `gain` (sin^2(pi fx) + sin^2(pi fy)), f in cycles per cell (1 at DC,
/// 1 + 2 `gain` at the cells' Nyquist corner), rescaled to unit RMS.
pub fn emphasise(p: &[f32], gain: f64) -> Vec<f32> {
    let fft = Fft2::new();
    let v: Vec<f64> = p.iter().map(|&x| x as f64).collect();
    let mut f = fft.forward_real(&v);
    for (i, c) in f.iter_mut().enumerate() {
        let (fy, fx) = (freq(i / TILE) / TILE as f64, freq(i % TILE) / TILE as f64);
        let (sy, sx) = (
            (std::f64::consts::PI * fy).sin(),
            (std::f64::consts::PI * fx).sin(),
        );
        *c *= 1.0 + gain * (sy * sy + sx * sx);
    }
    let out = fft.inverse_real(f);
    let rms = (out.iter().map(|v| v * v).sum::<f64>() / out.len() as f64).sqrt();
    out.iter().map(|v| (v / rms) as f32).collect()
}

/// The spectrum of a pattern, conjugated, ready for `correlate`.
pub fn pattern_spectrum(fft: &Fft2, p: &[f32]) -> Vec<Complex64> {
    let v: Vec<f64> = p.iter().map(|&x| x as f64).collect();
    fft.forward_real(&v).iter().map(|c| c.conj()).collect()
}

/// A pattern reversed left-right (cell x to -x mod TILE): correlating a
/// whitened fold with its spectrum gives the same z-scores, up to where they
/// lie, as correlating the fold of the mirrored grid with the pattern's (the
/// whitening is symmetric in x), so one fold tests both.
pub fn mirrored(p: &[f32]) -> Vec<f32> {
    (0..TILE * TILE)
        .map(|i| p[(i / TILE) * TILE + (TILE - i % TILE) % TILE])
        .collect()
}

/// Cyclic cross-correlation of a whitened tile with a pattern, at every shift,
/// as z-scores (standardised over all shifts). `out[dy*TILE+dx]` is the
/// correlation with the pattern shifted by (dy, dx).
pub fn correlate(fft: &Fft2, whitened: &[Complex64], pattern_conj: &[Complex64]) -> Vec<f64> {
    let prod: Vec<Complex64> = whitened
        .iter()
        .zip(pattern_conj)
        .map(|(a, b)| a * b)
        .collect();
    standardised(fft.inverse_real(prod))
}

/// `correlate` with two patterns at once: both products are spectra of
/// real maps, so one complex inverse transform of `a + i b` gives the first
/// map as its real part and the second as its imaginary part.
pub fn correlate_pair(
    fft: &Fft2,
    whitened: &[Complex64],
    a: &[Complex64],
    b: &[Complex64],
) -> (Vec<f64>, Vec<f64>) {
    let mut prod: Vec<Complex64> = whitened
        .iter()
        .zip(a.iter().zip(b))
        .map(|(w, (a, b))| w * a + Complex64::i() * (w * b))
        .collect();
    fft.run(&fft.inv, &mut prod);
    (
        standardised(prod.iter().map(|c| c.re).collect()),
        standardised(prod.iter().map(|c| c.im).collect()),
    )
}

/// `c` as z-scores: its mean removed, over its standard deviation.
fn standardised(c: Vec<f64>) -> Vec<f64> {
    let n = c.len() as f64;
    let mean = c.iter().sum::<f64>() / n;
    let var = c.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / (n - 1.0);
    let sd = var.sqrt().max(1e-300);
    c.iter().map(|v| (v - mean) / sd).collect()
}

/// The largest value and its index; `second` is the largest at least 3
/// cells (cyclically) away from it, outside the peak's own main lobe.
pub fn peak(z: &[f64]) -> (usize, f64, f64) {
    let mut best = (0, f64::NEG_INFINITY);
    for (i, &v) in z.iter().enumerate() {
        if v > best.1 {
            best = (i, v);
        }
    }
    let (by, bx) = (best.0 / TILE, best.0 % TILE);
    let near = |a: usize, b: usize| {
        let d = (a + TILE - b) % TILE;
        d.min(TILE - d) < 3
    };
    let second = z
        .iter()
        .enumerate()
        .filter(|(i, _)| !(near(i / TILE, by) && near(i % TILE, bx)))
        .map(|(_, &v)| v)
        .fold(f64::NEG_INFINITY, f64::max);
    (best.0, best.1, second)
}

/// The `n` highest local maxima (no higher value among the 8 cyclic
/// neighbours), highest first, as (index, value): the candidate positions of a
/// pattern whose main lobe spans neighbouring cells.
pub fn peaks(z: &[f64], n: usize) -> Vec<(usize, f64)> {
    let mut found: Vec<(usize, f64)> = (0..TILE * TILE)
        .filter(|&i| {
            let (y, x) = (i / TILE, i % TILE);
            (0..9).filter(|&k| k != 4).all(|k| {
                let ny = (y + TILE + k / 3 - 1) % TILE;
                let nx = (x + TILE + k % 3 - 1) % TILE;
                z[ny * TILE + nx] <= z[i]
            })
        })
        .map(|i| (i, z[i]))
        .collect();
    found.sort_by(|a, b| b.1.total_cmp(&a.1));
    found.truncate(n);
    found
}

/// A grey image, row-major f32.
#[derive(Clone)]
pub struct Image {
    pub w: usize,
    pub h: usize,
    pub px: Vec<f32>,
}

impl Image {
    /// Averages `k`x`k` blocks (the anti-alias step before resampling).
    pub fn box_down(&self, k: usize) -> Image {
        if k <= 1 {
            return self.clone();
        }
        let (w, h) = (self.w / k, self.h / k);
        let mut px = vec![0f32; w * h];
        let norm = 1.0 / (k * k) as f32;
        for y in 0..h {
            for yy in 0..k {
                let row = &self.px[(y * k + yy) * self.w..];
                for x in 0..w {
                    let s: f32 = row[x * k..x * k + k].iter().sum();
                    px[y * w + x] += s * norm;
                }
            }
        }
        Image { w, h, px }
    }

    /// Bilinear interpolation at (`x`, `y`), which the callers keep within
    /// [0, w - 1) x [0, h - 1), so that the four taps are inside the image
    /// with no clamping and `as usize` is the floor (the fold's inner loop:
    /// a clamped, `floor`-calling version took over half of `extract`).
    #[inline(always)]
    fn bilinear(&self, x: f64, y: f64) -> f64 {
        let (x0, y0) = (x as usize, y as usize);
        let (fx, fy) = ((x - x0 as f64) as f32, (y - y0 as f64) as f32);
        let i = y0 * self.w + x0;
        let (a, b) = (&self.px[i..i + 2], &self.px[i + self.w..i + self.w + 2]);
        let top = a[0] + (a[1] - a[0]) * fx;
        let bottom = b[0] + (b[1] - b[0]) * fx;
        (top + (bottom - top) * fy) as f64
    }

    /// Samples the image on a grid of `cell`-pixel cells starting at
    /// (`phase_x`, `phase_y`) cells, and sums the samples onto one tile
    /// (cell (i, j) lands on (i mod TILE, j mod TILE)).
    pub fn fold(&self, cell: f64, phase_x: f64, phase_y: f64) -> Vec<f64> {
        let mut t = vec![0f64; TILE * TILE];
        let nx = ((self.w as f64 - 1.0) / cell - phase_x).floor().max(0.0) as usize;
        let ny = ((self.h as f64 - 1.0) / cell - phase_y).floor().max(0.0) as usize;
        for j in 0..ny {
            let y = (j as f64 + phase_y) * cell;
            let row = &mut t[(j % TILE) * TILE..(j % TILE + 1) * TILE];
            for i in 0..nx {
                let x = (i as f64 + phase_x) * cell;
                row[i % TILE] += self.bilinear(x, y);
            }
        }
        t
    }

    /// Samples the image at every node of `grid` inside it (bilinear) and sums
    /// the samples onto one tile: node (i, j) lands on (i mod TILE, j mod
    /// TILE). Only the nodes within `radius` cells of the origin when given
    /// (a cheaper, coarser look whose grid may be less exact).
    pub fn fold_grid(&self, grid: &Grid, radius: Option<f64>) -> Vec<f64> {
        let mut t = vec![0f64; TILE * TILE];
        let Grid { ex, ey, origin } = *grid;
        let det = ex.0 * ey.1 - ex.1 * ey.0;
        if det.abs() < 1e-9 || self.w < 2 || self.h < 2 {
            return t;
        }
        // the image corners in cell coordinates bound the nodes to visit
        let (mut imin, mut imax, mut jmin, mut jmax) = (f64::MAX, f64::MIN, f64::MAX, f64::MIN);
        for (x, y) in [
            (0.0, 0.0),
            (self.w as f64 - 1.0, 0.0),
            (0.0, self.h as f64 - 1.0),
            (self.w as f64 - 1.0, self.h as f64 - 1.0),
        ] {
            let (dx, dy) = (x - origin.0, y - origin.1);
            let i = (dx * ey.1 - dy * ey.0) / det;
            let j = (ex.0 * dy - ex.1 * dx) / det;
            imin = imin.min(i);
            imax = imax.max(i);
            jmin = jmin.min(j);
            jmax = jmax.max(j);
        }
        if let Some(r) = radius {
            imin = imin.max(-r);
            imax = imax.min(r);
            jmin = jmin.max(-r);
            jmax = jmax.min(r);
        }
        let (xmax, ymax) = (self.w as f64 - 1.001, self.h as f64 - 1.001);
        // the nodes i of a row with 0 <= base + i * step <= max, widened by
        // one (rounding), the exact test being kept in the loop
        let span = |base: f64, step: f64, max: f64| -> (f64, f64) {
            if step.abs() < 1e-12 {
                return if (0.0..=max).contains(&base) {
                    (f64::MIN, f64::MAX)
                } else {
                    (1.0, 0.0)
                };
            }
            let (a, b) = ((0.0 - base) / step, (max - base) / step);
            (a.min(b) - 1.0, a.max(b) + 1.0)
        };
        for j in jmin.ceil() as i64..=jmax.floor() as i64 {
            let row = &mut t[j.rem_euclid(TILE as i64) as usize * TILE..][..TILE];
            let (bx, by) = (origin.0 + j as f64 * ey.0, origin.1 + j as f64 * ey.1);
            let (xa, xb) = span(bx, ex.0, xmax);
            let (ya, yb) = span(by, ex.1, ymax);
            let lo = imin.max(xa).max(ya).ceil();
            let hi = imax.min(xb).min(yb).floor();
            if lo > hi {
                continue;
            }
            for i in lo as i64..=hi as i64 {
                let (x, y) = (bx + i as f64 * ex.0, by + i as f64 * ex.1);
                if x < 0.0 || y < 0.0 || x > xmax || y > ymax {
                    continue;
                }
                row[(i & (TILE as i64 - 1)) as usize] += self.bilinear(x, y);
            }
        }
        t
    }
}

/// Where the mark's cell grid lies in a clip: the cell basis vectors in
/// reduced pixels and the grid's origin. Covers what reframing does to the
/// grid: scale, aspect change, rotation, shear and a horizontal mirror (a
/// perspective warp of a few percent is, over the clip, close to one of
/// these).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Grid {
    /// Step of one cell along the tile's x axis, in image pixels.
    pub ex: (f64, f64),
    /// Step of one cell along the tile's y axis.
    pub ey: (f64, f64),
    /// Image position of cell (0, 0).
    pub origin: (f64, f64),
}

impl Grid {
    /// The grid of `cell`-pixel cells (vertically; `aspect` times that
    /// horizontally), sheared by `shear` (a step down a cell column moves
    /// `shear` cells along the rows, as a keystone does near the centre),
    /// rotated by `angle` radians about the image centre, mirrored left-right
    /// when `mirror` (the shear stays in the image's x), at sub-cell `phase`.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        w: usize,
        h: usize,
        cell: f64,
        aspect: f64,
        angle: f64,
        shear: f64,
        mirror: bool,
        phase: (f64, f64),
    ) -> Grid {
        let (s, c) = angle.sin_cos();
        let fx = if mirror { -aspect } else { aspect } * cell;
        let ex = (fx * c, fx * s);
        let ey = (-cell * s + shear * cell * c, cell * c + shear * cell * s);
        let centre = ((w as f64 - 1.0) / 2.0, (h as f64 - 1.0) / 2.0);
        Grid {
            ex,
            ey,
            origin: (
                centre.0 + phase.0 * ex.0 + phase.1 * ey.0,
                centre.1 + phase.0 * ex.1 + phase.1 * ey.1,
            ),
        }
    }
}

/// log10 of the upper tail P(Z > z) of a standard normal, accurate far out.
pub fn log10_normal_tail(z: f64) -> f64 {
    if z < 5.0 {
        return (0.5 * libm::erfc(z / std::f64::consts::SQRT_2)).log10();
    }
    // Mills ratio asymptotic series; relative error < 1e-6 for z >= 5
    let z2 = z * z;
    let series = 1.0 - 1.0 / z2 + 3.0 / (z2 * z2) - 15.0 / (z2 * z2 * z2);
    let ln = -z2 / 2.0 - (z * (2.0 * std::f64::consts::PI).sqrt()).ln() + series.ln();
    ln / std::f64::consts::LN_10
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normal_tail_matches_known_values() {
        assert!((log10_normal_tail(0.0) - 0.5f64.log10()).abs() < 1e-9);
        // Q(6) = 9.8659e-10, Q(10) = 7.6199e-24
        assert!((log10_normal_tail(6.0) - 9.8659e-10f64.log10()).abs() < 1e-4);
        assert!((log10_normal_tail(10.0) - 7.6199e-24f64.log10()).abs() < 1e-4);
        // continuous across the switch
        assert!((log10_normal_tail(4.9999) - log10_normal_tail(5.0)).abs() < 1e-3);
    }

    #[test]
    fn peaks_are_local_maxima_highest_first_across_the_wrap() {
        // a background of low, uneven values (it has local maxima of its own)
        let mut z: Vec<f64> = (0..TILE * TILE)
            .map(|i| ((i * 7919) % 1000) as f64 / 2000.0)
            .collect();
        let mut bump = |y: usize, x: usize, v: f64| {
            // a main lobe: the peak and half its height on its 8 neighbours
            for k in 0..9 {
                let (ny, nx) = ((y + TILE + k / 3 - 1) % TILE, (x + TILE + k % 3 - 1) % TILE);
                z[ny * TILE + nx] = if k == 4 { v } else { v / 2.0 };
            }
        };
        bump(10, 20, 5.0);
        bump(0, 63, 4.0); // its lobe wraps to row 63 and column 0
        bump(40, 40, 3.0);
        let p = peaks(&z, 4);
        assert_eq!(
            p[..3],
            [(10 * TILE + 20, 5.0), (63, 4.0), (40 * TILE + 40, 3.0)]
        );
        // the lobes (2.5, 2.0, 1.5) stand above the background but are not
        // peaks: the fourth is the background's highest
        assert!(p[3].1 < 0.5, "{p:?}");
    }

    #[test]
    fn correlation_finds_a_shifted_pattern_in_noise() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(7);
        let p: Vec<f32> = (0..TILE * TILE)
            .map(|_| if rng.gen::<bool>() { 1.0 } else { -1.0 })
            .collect();
        let (dy, dx) = (17, 40);
        let fold: Vec<f64> = (0..TILE * TILE)
            .map(|i| {
                let (y, x) = (i / TILE, i % TILE);
                let s = p[((y + TILE - dy) % TILE) * TILE + (x + TILE - dx) % TILE] as f64;
                0.5 * s + rng.gen_range(-2.0..2.0) + 10.0 * (x as f64 / 9.0).sin()
            })
            .collect();
        let fft = Fft2::new();
        let z = correlate(&fft, &whiten(&fft, &fold), &pattern_spectrum(&fft, &p));
        let (i, top, second) = peak(&z);
        assert_eq!((i / TILE, i % TILE), (dy, dx));
        assert!(top > 10.0 && second < 5.0, "{top} {second}");
    }

    #[test]
    fn correlate_pair_is_two_correlations() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(11);
        let mut draw =
            || -> Vec<f64> { (0..TILE * TILE).map(|_| rng.gen_range(-1.0..1.0)).collect() };
        let (fold, p, q) = (draw(), draw(), draw());
        let fft = Fft2::new();
        let spec = |v: &[f64]| -> Vec<Complex64> {
            fft.forward_real(v).iter().map(|c| c.conj()).collect()
        };
        let white = whiten(&fft, &fold);
        let (a, b) = correlate_pair(&fft, &white, &spec(&p), &spec(&q));
        for (pair, one) in [
            (a, correlate(&fft, &white, &spec(&p))),
            (b, correlate(&fft, &white, &spec(&q))),
        ] {
            let worst = pair
                .iter()
                .zip(&one)
                .map(|(x, y)| (x - y).abs())
                .fold(0.0, f64::max);
            assert!(worst < 1e-9, "{worst}");
        }
    }

    #[test]
    fn fold_sums_periodic_content_onto_one_tile() {
        let cell = 2.0;
        let (w, h) = (TILE * 2 * 3, TILE * 2 * 2);
        let px = (0..w * h)
            .map(|i| {
                let (x, y) = ((i % w) / 2 % TILE, (i / w) / 2 % TILE);
                (x * 3 + y) as f32
            })
            .collect();
        let img = Image { w, h, px };
        let t = img.fold(cell, 0.0, 0.0);
        // rows 0..TILE and columns 0..TILE: 2 x 3 copies minus the last column/row
        assert_eq!(t[TILE + 1], 6.0 * 4.0);
        assert_eq!(img.box_down(2).px[1], 3.0);
    }
}
