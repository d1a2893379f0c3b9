//! What the mark costs, measured on what `embed` actually wrote: the encoded
//! output decoded again and compared with the decoded input, frame by frame
//! (luma PSNR and SSIM), so the report includes the encoder's own loss, as a
//! viewer sees it.

use std::path::Path;
use std::sync::mpsc;

use super::codec;
use shieldpack_core::error::{Error, Result};
use shieldpack_core::progress::NoProgress;

/// Luma quality of a written video against its source.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Quality {
    /// Over all frames compared: 10 log10(255^2 / mean squared error).
    pub psnr_luma_db: f64,
    /// Mean SSIM of 8x8 windows every 4 pixels, over all frames compared.
    pub ssim_luma: f64,
    pub frames: u64,
}

/// Decodes `source` and `written` side by side (the source on a second
/// thread) and compares each pair of frames' luma.
pub fn measure(source: &Path, written: &Path) -> Result<Quality> {
    let (tx, rx) = mpsc::sync_channel::<(usize, usize, Vec<u8>)>(4);
    std::thread::scope(|s| {
        let reader = s.spawn(move || {
            codec::decode_luma_exact(source, &NoProgress, |luma, w, h, stride, _| {
                let mut frame = Vec::with_capacity(w * h);
                for y in 0..h {
                    frame.extend_from_slice(&luma[y * stride..y * stride + w]);
                }
                // the other side stopped: so do we
                Ok(tx.send((w, h, frame)).is_ok())
            })
        });
        let (mut sse, mut samples, mut ssim, mut windows, mut frames) =
            (0f64, 0u64, 0f64, 0u64, 0u64);
        let mut mismatch = None;
        let decoded = codec::decode_luma_exact(written, &NoProgress, |luma, w, h, stride, _| {
            let Ok((sw, sh, src)) = rx.recv() else {
                return Ok(false);
            };
            if (sw, sh) != (w, h) {
                mismatch = Some(format!("{sw}x{sh} source frame against a {w}x{h} one"));
                return Ok(false);
            }
            for y in 0..h {
                let a = &src[y * w..(y + 1) * w];
                let b = &luma[y * stride..y * stride + w];
                sse += a
                    .iter()
                    .zip(b)
                    .map(|(&p, &q)| ((p as i32 - q as i32).pow(2)) as u64)
                    .sum::<u64>() as f64;
            }
            samples += (w * h) as u64;
            let (s, n) = ssim_sum(&src, w, luma, stride, w, h);
            ssim += s;
            windows += n;
            frames += 1;
            Ok(true)
        });
        drop(rx);
        let read = reader.join().expect("source decoding thread");
        decoded?;
        read?;
        if let Some(m) = mismatch {
            return Err(Error::invalid_file(
                written,
                format!("cannot compare the written video with its source: {m}"),
                "this is a bug: report it with the input file's ffprobe output",
            ));
        }
        if frames == 0 {
            return Err(Error::invalid_file(
                written,
                "no frame of the written video could be compared with the source",
                "check both files with ffprobe",
            ));
        }
        Ok(Quality {
            psnr_luma_db: if sse == 0.0 {
                f64::INFINITY
            } else {
                10.0 * (255.0f64 * 255.0 * samples as f64 / sse).log10()
            },
            ssim_luma: ssim / windows.max(1) as f64,
            frames,
        })
    })
}

/// SSIM summed over the 8x8 windows every 4 pixels of two luma planes, and
/// the number of windows (Wang et al. 2004, C1 = (0.01 x 255)^2,
/// C2 = (0.03 x 255)^2, uniform window as FFmpeg's `ssim` filter uses).
fn ssim_sum(a: &[u8], sa: usize, b: &[u8], sb: usize, w: usize, h: usize) -> (f64, u64) {
    const C1: f64 = 0.01 * 255.0 * 0.01 * 255.0;
    const C2: f64 = 0.03 * 255.0 * 0.03 * 255.0;
    let (mut total, mut n) = (0f64, 0u64);
    let mut y = 0;
    while y + 8 <= h {
        let mut x = 0;
        while x + 8 <= w {
            let (mut s1, mut s2, mut s11, mut s22, mut s12) = (0u64, 0u64, 0u64, 0u64, 0u64);
            for yy in y..y + 8 {
                for xx in x..x + 8 {
                    let (p, q) = (a[yy * sa + xx] as u64, b[yy * sb + xx] as u64);
                    s1 += p;
                    s2 += q;
                    s11 += p * p;
                    s22 += q * q;
                    s12 += p * q;
                }
            }
            let m = 64.0;
            let (mu1, mu2) = (s1 as f64 / m, s2 as f64 / m);
            let v1 = s11 as f64 / m - mu1 * mu1;
            let v2 = s22 as f64 / m - mu2 * mu2;
            let cov = s12 as f64 / m - mu1 * mu2;
            total += ((2.0 * mu1 * mu2 + C1) * (2.0 * cov + C2))
                / ((mu1 * mu1 + mu2 * mu2 + C1) * (v1 + v2 + C2));
            n += 1;
            x += 4;
        }
        y += 4;
    }
    (total, n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ssim_is_one_for_equal_planes_and_falls_with_noise() {
        let (w, h) = (32, 24);
        let a: Vec<u8> = (0..w * h).map(|i| ((i * 37) % 200) as u8).collect();
        let (s, n) = ssim_sum(&a, w, &a, w, w, h);
        assert_eq!(n, 7 * 5);
        assert!((s / n as f64 - 1.0).abs() < 1e-12);
        let b: Vec<u8> = a
            .iter()
            .enumerate()
            .map(|(i, &v)| v.saturating_add(((i * 7919) % 21) as u8))
            .collect();
        let (s, n) = ssim_sum(&a, w, &b, w, w, h);
        let m = s / n as f64;
        assert!(m < 0.999 && m > 0.5, "{m}");
    }
}
