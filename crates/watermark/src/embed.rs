//! Embedding: the tile, upsampled to the frame, weighted by a texture mask and
//! added to the luma of every frame, then the video is re-encoded.

use std::path::{Path, PathBuf};

use super::codec::{self, EncodeSettings, VideoInfo};
use super::pattern::{Patterns, Payload};
use super::{work_rows, WmKey, TILE};
use shieldpack_core::error::{Error, IoContext, Result};
use shieldpack_core::progress::Progress;

/// Luma PSNR the mark aims at (before encoding), in dB, unless
/// `EmbedOptions::mark_psnr_db` says otherwise.
pub const TARGET_PSNR: f64 = 46.0;
/// The range `EmbedOptions::mark_psnr_db` may take: under 40 dB the mark
/// shows plainly on textured content; at 56 dB it no longer survives a CRF 23
/// re-encode of the tests' 960x540 clip (sync z 16.6 at 46 dB, 9.3 at 52 dB,
/// 5.4 at 56 dB, where 46 and 52 read).
pub const MARK_PSNR_RANGE: std::ops::RangeInclusive<f64> = 40.0..=56.0;
/// Texture-mask block size in pixels.
const BLOCK: usize = 8;
/// No pixel moves by more than this many levels.
const MAX_DELTA: f32 = 10.0;
/// Blocks whose luma varies less than this (standard deviation, grey levels)
/// are flat: they get no mark, since there it would show as a fixed dirty
/// window over a pan; the mark rises with texture above it.
const FLAT_SD: f32 = 0.8;
/// The share of a block's whole standard deviation added to its quarters'
/// lowest: an edge between flat areas masks a little (it carries some mark on
/// flat content), far less than texture does.
const EDGE_SHARE: f32 = 0.1;
/// Texture (block standard deviation above `FLAT_SD`) for a mask of 1.
const TEXTURE_SD: f32 = 6.0;
/// The per-frame strength normalisation never boosts a frame beyond what a
/// frame whose mask has this RMS gets: a mostly flat frame gets a weaker mark
/// in its few textured blocks, not a stronger one (it once got up to
/// `MAX_DELTA` there, and the mark showed on flat content).
const MIN_MASK_RMS: f64 = 0.25;

#[derive(Debug, Clone)]
pub struct EmbedOptions {
    /// Luma PSNR of the mark alone, before the encode (`TARGET_PSNR` by
    /// default): higher is fainter and reads less well after heavy attacks.
    pub mark_psnr_db: f64,
    pub crf: f32,
    pub preset: String,
    pub overwrite: bool,
}

#[derive(Debug, Clone)]
pub struct EmbedReport {
    pub video: VideoInfo,
    /// Luma PSNR of the marked frames against the decoded input (before the
    /// H.264 encode, so it measures the mark alone), in dB.
    pub psnr_luma_db: f64,
    /// Luma PSNR and SSIM of what was written (decoded again) against the
    /// decoded input: the mark and the encode together, as a viewer sees it.
    pub written: super::quality::Quality,
    pub cell_px: f64,
}

/// Adds the mark to frames of one size.
pub struct Marker {
    w: usize,
    h: usize,
    /// The tile at every pixel, unit RMS.
    base: Vec<f32>,
    target_rms: f64,
    gains: Vec<f32>,
    /// Sum of squared errors and samples, for the PSNR.
    pub sse: f64,
    pub samples: u64,
}

impl Marker {
    pub fn new(tile: &[f32], w: usize, h: usize) -> Self {
        Self::with_psnr(tile, w, h, TARGET_PSNR)
    }

    /// A marker aiming at a luma PSNR of `psnr_db` for the mark alone.
    pub fn with_psnr(tile: &[f32], w: usize, h: usize, psnr_db: f64) -> Self {
        let cell = h as f64 / work_rows(h);
        let mut base = vec![0f32; w * h];
        let at = |x: usize, y: usize| tile[(y % TILE) * TILE + x % TILE];
        for y in 0..h {
            let v = y as f64 / cell;
            let (y0, fy) = (v.floor() as usize, (v - v.floor()) as f32);
            for x in 0..w {
                let u = x as f64 / cell;
                let (x0, fx) = (u.floor() as usize, (u - u.floor()) as f32);
                base[y * w + x] = (at(x0, y0) * (1.0 - fx) + at(x0 + 1, y0) * fx) * (1.0 - fy)
                    + (at(x0, y0 + 1) * (1.0 - fx) + at(x0 + 1, y0 + 1) * fx) * fy;
            }
        }
        let target_rms = 255.0 / 10f64.powf(psnr_db / 20.0);
        Marker {
            w,
            h,
            base,
            target_rms,
            gains: vec![0.0; w.div_ceil(BLOCK) * h.div_ceil(BLOCK)],
            sse: 0.0,
            samples: 0,
        }
    }

    pub fn cell_px(&self) -> f64 {
        self.h as f64 / work_rows(self.h)
    }

    /// Marks one frame's luma in place.
    pub fn mark(&mut self, luma: &mut [u8], stride: usize) {
        let (w, h) = (self.w, self.h);
        let bw = w.div_ceil(BLOCK);
        // texture mask: the standard deviation of each 8x8 block
        for (bi, g) in self.gains.iter_mut().enumerate() {
            let (bx, by) = (bi % bw * BLOCK, bi / bw * BLOCK);
            // activity: the lowest standard deviation of the block's four
            // quarters, so that a lone edge between two flat areas (quarters
            // either side of it flat) masks nothing, while texture does
            let (mut s, mut s2, mut n) = (0f32, 0f32, 0f32);
            let mut q = [(0f32, 0f32, 0f32); 4];
            for y in by..(by + BLOCK).min(h) {
                for (i, &p) in luma[y * stride + bx..y * stride + (bx + BLOCK).min(w)]
                    .iter()
                    .enumerate()
                {
                    let p = p as f32;
                    let k = (y - by) / (BLOCK / 2) * 2 + i / (BLOCK / 2);
                    q[k].0 += p;
                    q[k].1 += p * p;
                    q[k].2 += 1.0;
                    s += p;
                    s2 += p * p;
                    n += 1.0;
                }
            }
            let sd = q
                .iter()
                .filter(|q| q.2 > 0.0)
                .map(|&(s, s2, n)| ((s2 - s * s / n) / n).max(0.0).sqrt())
                .fold(f32::INFINITY, f32::min)
                + EDGE_SHARE * ((s2 - s * s / n) / n).max(0.0).sqrt();
            // 0 on flat blocks, rising with texture; a Weber-like factor
            // lets the mark follow the local brightness a little (a level
            // shows less on bright areas than on dark ones)
            let mean = s / n;
            let lum = (0.75 + mean / 255.0 * 0.5).clamp(0.75, 1.25);
            *g = ((sd - FLAT_SD) / TEXTURE_SD * lum).clamp(0.0, 2.5);
        }
        // scale so that the frame's mark has the target RMS
        let mut energy = 0f64;
        for y in 0..h {
            let grow = &self.gains[y / BLOCK * bw..];
            let brow = &self.base[y * w..(y + 1) * w];
            for (x, b) in brow.iter().enumerate() {
                let v = grow[x / BLOCK] * b;
                energy += (v * v) as f64;
            }
        }
        let amp = (self.target_rms / (energy / (w * h) as f64).sqrt().max(MIN_MASK_RMS)) as f32;
        let mut sse = 0f64;
        for y in 0..h {
            let grow = &self.gains[y / BLOCK * bw..];
            let brow = &self.base[y * w..(y + 1) * w];
            let lrow = &mut luma[y * stride..y * stride + w];
            let mut row_sse = 0u64;
            for (x, (l, b)) in lrow.iter_mut().zip(brow).enumerate() {
                let d = (amp * grow[x / BLOCK] * b).clamp(-MAX_DELTA, MAX_DELTA);
                let new = (*l as f32 + d).round().clamp(0.0, 255.0) as u8;
                let e = new as i32 - *l as i32;
                row_sse += (e * e) as u64;
                *l = new;
            }
            sse += row_sse as f64;
        }
        self.sse += sse;
        self.samples += (w * h) as u64;
    }

    pub fn psnr(&self) -> f64 {
        if self.sse == 0.0 {
            return f64::INFINITY;
        }
        10.0 * (255.0f64 * 255.0 * self.samples as f64 / self.sse).log10()
    }
}

/// Marks `input` with `payload` under `key` into `output`.
pub fn embed_file(
    input: &Path,
    output: &Path,
    key: &WmKey,
    payload: Payload,
    opts: &EmbedOptions,
    progress: &dyn Progress,
) -> Result<EmbedReport> {
    if !MARK_PSNR_RANGE.contains(&opts.mark_psnr_db) {
        return Err(Error::arg(
            format!("--mark-psnr {} is out of range", opts.mark_psnr_db),
            format!(
                "give {} to {} (dB, the mark alone); {TARGET_PSNR} is the default, higher is fainter and less robust",
                MARK_PSNR_RANGE.start(),
                MARK_PSNR_RANGE.end()
            ),
        ));
    }
    if output.exists() && !opts.overwrite {
        return Err(Error::AlreadyExists {
            path: output.to_path_buf(),
        });
    }
    if input.canonicalize().ok() == output.canonicalize().ok() && output.exists() {
        return Err(Error::arg(
            "the output is the input",
            "write the marked video to a new file",
        ));
    }
    let tile = Patterns::new(key).tile(payload);
    // write beside the destination, rename when whole
    let dir = match output.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let ext = output
        .extension()
        .map(|e| format!(".{}", e.to_string_lossy()))
        .unwrap_or_default();
    let tmp = tempfile::Builder::new()
        .prefix(".shieldpack-wm-")
        .suffix(&ext)
        .tempfile_in(&dir)
        .at(&dir)?;
    let mut marker: Option<Marker> = None;
    let settings = EncodeSettings {
        crf: opts.crf,
        preset: opts.preset.clone(),
    };
    let video = codec::transcode_luma(
        input,
        tmp.path(),
        &settings,
        progress,
        |luma, w, h, stride| {
            let m = marker.get_or_insert_with(|| Marker::with_psnr(&tile, w, h, opts.mark_psnr_db));
            m.mark(luma, stride);
            Ok(())
        },
    )?;
    let marker = marker.ok_or_else(|| {
        Error::invalid_file(
            input,
            "no video frame could be decoded",
            "check the file with ffprobe",
        )
    })?;
    let written = super::quality::measure(input, tmp.path())?;
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o644))
            .at(tmp.path())?;
    }
    if opts.overwrite {
        tmp.persist(output)
            .map_err(|e| Error::io(output, e.error))?;
    } else {
        tmp.persist_noclobber(output)
            .map_err(|e| Error::io(output, e.error))?;
    }
    Ok(EmbedReport {
        video,
        psnr_luma_db: marker.psnr(),
        written,
        cell_px: marker.cell_px(),
    })
}
