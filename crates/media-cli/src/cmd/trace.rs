//! `shieldpack watermark trace LEAK --package PKG --wm-key WMKEY --sessions FILE`:
//! which sessions of an A/B package a leaked recording came from.
//!
//! The leak is read in windows of about one segment, two interleaved series
//! half a window apart, so that every segment the leak covers has a window
//! mostly inside it. Each window's mark is searched for (`extract::search`);
//! a payload whose keyed check holds names the segment and the variant (a
//! misread passes the check with chance 2^-32 on top of the mark's own 20
//! check bits), so no timing from the leak is needed. The decisions are scored
//! against every session's codeword (`shieldpack_session::score`).

use std::collections::BTreeMap;

use serde_json::json;

use shieldpack::cli::WmTraceArgs;
use shieldpack::output::Printer;
use shieldpack::Status;
use shieldpack_core::error::Error;
use shieldpack_session::code::{generated_id, read_ids};
use shieldpack_session::playlist::AbPackage;
use shieldpack_session::score::{rank, Observation};
use shieldpack_session::{CodeKey, Variant};
use shieldpack_watermark::codec::decode_luma;
use shieldpack_watermark::extract::{search, Accumulator};
use shieldpack_watermark::pattern::Patterns;
use shieldpack_watermark::WmKey;

/// A window's read counts when the mark's false-alarm chance is at most this.
const WINDOW_LOG10_P: f64 = -3.0;

/// One segment's decision.
struct Read {
    variant: Variant,
    log10_p: f64,
    /// Windows that read the other variant of the same segment.
    conflicts: u32,
    windows: u32,
}

pub fn run(a: WmTraceArgs, p: &Printer) -> anyhow::Result<Status> {
    let wm = WmKey::load(&a.wm_key)?;
    let code = CodeKey::load_wm_key(&a.wm_key)?;
    let package = AbPackage::load(&a.package)?;
    let ids: Vec<String> = match &a.sessions {
        Some(f) => read_ids(f)?,
        None => Vec::new(),
    };
    let generated = a.session_count.unwrap_or(0);
    if ids.is_empty() && generated == 0 {
        return Err(Error::arg(
            "no sessions to score",
            "pass --sessions FILE (one id a line) or --session-count N",
        )
        .into());
    }
    let window = a.window.unwrap_or(package.manifest.segment_duration);
    if !(window.is_finite() && window >= 0.5) {
        return Err(Error::arg("--window must be at least 0.5 seconds", "e.g. --window 4").into());
    }
    let patterns = Patterns::new(&wm);

    // The decoder may skip non-reference frames of a long clip: count what it
    // delivers first, so that windows are measured in the leak's own time.
    let duration = shieldpack_media::probe(&a.leak)?.duration.unwrap_or(0.0);
    let bar = p.progress(0, "reading leak");
    let mut delivered = 0u64;
    let mut nominal_fps = 25.0;
    decode_luma(&a.leak, f64::MAX / 4.0, &bar, |_, _, _, _, fps| {
        delivered += 1;
        nominal_fps = fps;
        Ok(true)
    })?;
    let rate = if duration > 0.0 {
        delivered as f64 / duration
    } else {
        nominal_fps
    };
    let per_window = ((window * rate).round() as u64).max(4);
    let half = per_window / 2;

    let mut reads: BTreeMap<u64, Read> = BTreeMap::new();
    let mut windows = 0u32;
    let mut accs: [Option<Accumulator>; 2] = [None, None];
    let mut n = 0u64;
    let take =
        |acc: &Accumulator, reads: &mut BTreeMap<u64, Read>| -> shieldpack_core::Result<()> {
            let d = search(acc, &patterns)?;
            let (Some(pl), true) = (d.payload, d.log10_p <= WINDOW_LOG10_P) else {
                return Ok(());
            };
            let Some((v, seg)) = code.parse_payload(pl.0) else {
                return Ok(());
            };
            let e = reads.entry(seg).or_insert(Read {
                variant: v,
                log10_p: d.log10_p,
                conflicts: 0,
                windows: 0,
            });
            e.windows += 1;
            if e.variant != v {
                e.conflicts += 1;
                if d.log10_p < e.log10_p {
                    e.variant = v;
                    e.log10_p = d.log10_p;
                }
            } else {
                e.log10_p = e.log10_p.min(d.log10_p);
            }
            Ok(())
        };
    decode_luma(&a.leak, f64::MAX / 4.0, &bar, |luma, w, h, stride, _| {
        for (k, slot) in accs.iter_mut().enumerate() {
            // series k starts k half-windows in
            let offset = k as u64 * half;
            if n < offset {
                continue;
            }
            let acc = slot.get_or_insert_with(|| Accumulator::new(w, h));
            if (acc.w, acc.h) != (w, h) {
                continue;
            }
            acc.add(luma, stride);
            if acc.frames >= per_window {
                take(acc, &mut reads)?;
                windows += 1;
                *slot = None;
            }
        }
        n += 1;
        Ok(true)
    })?;
    bar.finish_and_clear();
    for acc in accs.iter().flatten() {
        if acc.frames >= per_window / 2 {
            take(acc, &mut reads)?;
            windows += 1;
        }
    }

    let segments = package.segments() as u64;
    let obs: Vec<Observation> = reads
        .iter()
        .filter(|(&seg, _)| seg < segments)
        .map(|(&segment, r)| Observation {
            segment,
            variant: r.variant,
            // windows that disagree on a segment lower its weight
            weight: if r.conflicts == 0 {
                1.0
            } else {
                (1.0 - 2.0 * r.conflicts as f64 / r.windows as f64).abs()
            },
        })
        .collect();
    let count = ids.len() + generated as usize;
    let named = ids.len();
    let idf = move |j: usize| -> String {
        if j < named {
            ids[j].clone()
        } else {
            generated_id((j - named) as u64)
        }
    };
    let ranked = if obs.is_empty() {
        Vec::new()
    } else {
        rank(&code, &obs, count, &idf, 10)
    };
    let accused: Vec<_> = ranked
        .iter()
        .filter(|s| s.log10_p <= a.threshold_log10)
        .collect();
    if p.json {
        p.json_value(&json!({
            "accused": accused.iter().map(|s| json!({"session": s.session, "score": s.score, "log10_p": s.log10_p})).collect::<Vec<_>>(),
            "segments_read": obs.len(),
            "sessions_scored": count,
            "windows": windows,
            "window_seconds": window,
            "threshold_log10": a.threshold_log10,
            "segments": reads.iter().map(|(s, r)| json!({
                "segment": s, "variant": r.variant.as_str(), "log10_p": r.log10_p,
                "windows": r.windows, "conflicts": r.conflicts,
            })).collect::<Vec<_>>(),
            "best": ranked.iter().take(3).map(|s| json!({"session": s.session, "score": s.score, "log10_p": s.log10_p})).collect::<Vec<_>>(),
        }))?;
    } else {
        p.info(format!(
            "read {} segment(s) of the package from {windows} window(s); scored {count} session(s)",
            obs.len()
        ));
        for s in &accused {
            p.data(format!(
                "{}\tscore {:.2}\tlog10 p {:.1}",
                s.session, s.score, s.log10_p
            ))?;
        }
        if accused.is_empty() {
            p.warn(format!(
                "nobody accused: the best session reaches log10 p {:.1}, the threshold is {}",
                ranked.first().map(|s| s.log10_p).unwrap_or(0.0),
                a.threshold_log10
            ));
        }
    }
    Ok(if accused.is_empty() {
        Status::Negative
    } else {
        Status::Success
    })
}
