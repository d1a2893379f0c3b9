//! `shieldpack watermark trace LEAK --package PKG --wm-key WMKEY --sessions FILE`:
//! which sessions of an A/B package a leaked recording came from.
//!
//! Every frame of the leak is decoded (no fast mode: a window of one segment
//! needs all its frames' signal), once: each frame is prefiltered once and
//! added both to the whole leak and to its windows, which wait in a temporary
//! file until the whole has been searched (decoding is most of trace's time:
//! profiled on a 50 Mb/s 1080p leak, libavcodec took 79% of the CPU of the
//! two decodes it used to make). The whole leak first locates the mark
//! (`extract::search_aligned`: the sync pattern is the same in every
//! segment's payload, so all its frames add up to a strong peak that fixes
//! scale, phase and offset). It is then read in windows of about one segment,
//! two interleaved series half a window apart, so that every segment the leak
//! covers has a window mostly inside it. A located mark is read in each window
//! at that alignment against the package's 2 x segments candidate payloads
//! (`extract::read_known`: the best candidate's z, with a false-alarm chance of
//! the candidates' count times its Gaussian tail), which reads segments far
//! weaker than a blind search of the window can (measured: a loopback
//! recording of 64 one-second segments of 540p, re-encoded at CRF 30 and half
//! scale, read 54 segments, all right; the blind search read no one-second
//! window of such a leak of 360p). When the whole leak shows no mark (unmarked,
//! another key), each window's mark is searched for blind (`extract::search`),
//! and a payload whose keyed check holds names the segment and the variant.
//! Either way no timing from the leak is needed. The decisions are scored
//! against every session's codeword (`shieldpack_session::score`), whose
//! false-alarm bound holds whatever the reads are: an innocent's codeword is
//! independent of the leak.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufReader, BufWriter, Read as _, Seek, SeekFrom, Write};

use serde_json::json;

use shieldpack::cli::WmTraceArgs;
use shieldpack::output::Printer;
use shieldpack::Status;
use shieldpack_core::error::Error;
use shieldpack_session::code::{generated_id, read_ids};
use shieldpack_session::playlist::AbPackage;
use shieldpack_session::score::{rank, Observation};
use shieldpack_session::{CodeKey, Variant};
use shieldpack_watermark::codec::{count_video_packets, decode_luma_exact};
use shieldpack_watermark::dsp::log10_normal_tail;
use shieldpack_watermark::extract::{read_known, search, search_aligned, Accumulator, Prefiltered};
use shieldpack_watermark::pattern::{Patterns, Payload};
use shieldpack_watermark::WmKey;

/// A window's read counts when the mark's false-alarm chance is at most this.
const WINDOW_LOG10_P: f64 = -3.0;
/// The whole leak's sync must be at least this unlikely by chance for its
/// alignment to be used to read the windows (`read_known`).
const ALIGN_LOG10_P: f64 = -6.0;

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

    // The leak is decoded once: each frame is prefiltered once and added to
    // the whole leak (to locate the mark: the sync is the same in every
    // segment's payload, so all the frames add up) and to the windows, which
    // are set aside until the whole has located the mark. Windows are
    // measured in the leak's own time (its frames over its duration); the
    // frames are counted first from the video packets, without decoding.
    let duration = shieldpack_media::probe(&a.leak)?.duration.unwrap_or(0.0);
    let per_window_for = |frames: u64, fps: f64| -> u64 {
        let rate = if duration > 0.0 {
            frames as f64 / duration
        } else {
            fps
        };
        ((window * rate).round() as u64).max(4)
    };
    let (packets, fps) = count_video_packets(&a.leak)?;
    let cut_at = per_window_for(packets, fps);
    let bar = p.progress(0, "reading leak");
    let mut delivered = 0u64;
    let mut nominal_fps = 25.0;
    let mut pre: Option<Prefiltered> = None;
    let mut whole: Option<Accumulator> = None;
    let mut series = Series::new(cut_at);
    let mut aside = SetAside::new();
    decode_luma_exact(&a.leak, &bar, |luma, w, h, stride, fps| {
        delivered += 1;
        nominal_fps = fps;
        let f = prefiltered(&mut pre, luma, w, h, stride);
        let acc = whole.get_or_insert_with(|| Accumulator::new(w, h));
        if (acc.w, acc.h) == (w, h) {
            acc.add_prefiltered(f);
        }
        series.add(f, |acc| {
            aside.put(&acc);
            Ok(())
        })
    })?;
    let segments = package.segments() as u64;
    // Where the whole leak's mark lies; each window is then read there
    // against the package's 2 x segments payloads (informed, no search),
    // else (no alignment: unmarked, another key) searched blind.
    let aligned = match &whole {
        Some(acc) if acc.frames > 0 => {
            let (d, at) = search_aligned(acc, &patterns)?;
            (d.log10_p_sync <= ALIGN_LOG10_P).then_some(at)
        }
        _ => None,
    };
    drop(whole);
    let candidates: Vec<(Variant, u64)> = (0..segments)
        .flat_map(|i| [(Variant::A, i), (Variant::B, i)])
        .collect();
    let payloads: Vec<Payload> = candidates
        .iter()
        .map(|&(v, i)| Payload(code.payload(v, i)))
        .collect();
    let per_window = per_window_for(delivered, nominal_fps);

    let take = |acc: &Accumulator,
                reads: &mut BTreeMap<u64, Read>|
     -> shieldpack_core::Result<()> {
        let known = aligned
            .as_ref()
            .and_then(|at| read_known(acc, &patterns, at, &payloads));
        let (v, seg, log10_p) = if let Some(z) = known {
            let Some((k, &best)) = z.iter().enumerate().max_by(|x, y| x.1.total_cmp(y.1)) else {
                return Ok(());
            };
            let log10_p = ((z.len() as f64).log10() + log10_normal_tail(best)).min(0.0);
            if log10_p > WINDOW_LOG10_P {
                return Ok(());
            }
            (candidates[k].0, candidates[k].1, log10_p)
        } else {
            let d = search(acc, &patterns)?;
            let (Some(pl), true) = (d.payload, d.log10_p <= WINDOW_LOG10_P) else {
                return Ok(());
            };
            let Some((v, seg)) = code.parse_payload(pl.0) else {
                return Ok(());
            };
            (v, seg, d.log10_p)
        };
        let e = reads.entry(seg).or_insert(Read {
            variant: v,
            log10_p,
            conflicts: 0,
            windows: 0,
        });
        e.windows += 1;
        if e.variant != v {
            e.conflicts += 1;
            if log10_p < e.log10_p {
                e.variant = v;
                e.log10_p = log10_p;
            }
        } else {
            e.log10_p = e.log10_p.min(log10_p);
        }
        Ok(())
    };
    let mut reads: BTreeMap<u64, Read> = BTreeMap::new();
    let mut windows = 0u32;
    // The windows set aside, read in the order they were cut; they are cut
    // again in a second decode when they cannot be used: the decode
    // delivered a count of frames that makes the window another length
    // (damaged packets), or setting them aside failed (no room in the
    // temporary folder).
    let replayed = per_window == cut_at
        && aside.replay(|acc| {
            windows += 1;
            take(&acc, &mut reads)
        })?;
    if !replayed {
        reads.clear();
        windows = 0;
        let mut series = Series::new(per_window);
        decode_luma_exact(&a.leak, &bar, |luma, w, h, stride, _| {
            let f = prefiltered(&mut pre, luma, w, h, stride);
            series.add(f, |acc| {
                windows += 1;
                take(&acc, &mut reads)
            })
        })?;
        series.finish(|acc| {
            windows += 1;
            take(&acc, &mut reads)
        })?;
    } else {
        series.finish(|acc| {
            windows += 1;
            take(&acc, &mut reads)
        })?;
    }
    bar.finish_and_clear();

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

/// `slot`'s prefiltering of a frame, made again when the frame size changes.
fn prefiltered<'a>(
    slot: &'a mut Option<Prefiltered>,
    luma: &[u8],
    w: usize,
    h: usize,
    stride: usize,
) -> &'a Prefiltered {
    if slot.as_ref().is_none_or(|f| f.size() != (w, h)) {
        *slot = Some(Prefiltered::new(w, h));
    }
    let f = slot.as_mut().expect("set above");
    f.load(luma, stride);
    f
}

/// The leak's windows of `per_window` frames: two interleaved series half a
/// window apart, so that every segment the leak covers has a window mostly
/// inside it. A window holds frames of the size its first frame had.
struct Series {
    per_window: u64,
    accs: [Option<Accumulator>; 2],
    /// Frames seen.
    n: u64,
}

impl Series {
    fn new(per_window: u64) -> Self {
        Series {
            per_window,
            accs: [None, None],
            n: 0,
        }
    }

    /// Adds a frame; `done` gets each window it completes.
    fn add(
        &mut self,
        f: &Prefiltered,
        mut done: impl FnMut(Accumulator) -> shieldpack_core::Result<()>,
    ) -> shieldpack_core::Result<bool> {
        let (w, h) = f.size();
        let half = self.per_window / 2;
        for (k, slot) in self.accs.iter_mut().enumerate() {
            // series k starts k half-windows in
            if self.n < k as u64 * half {
                continue;
            }
            let acc = slot.get_or_insert_with(|| Accumulator::new(w, h));
            if (acc.w, acc.h) != (w, h) {
                continue;
            }
            acc.add_prefiltered(f);
            if acc.frames >= self.per_window {
                done(slot.take().expect("filled above"))?;
            }
        }
        self.n += 1;
        Ok(true)
    }

    /// The windows left at the end that hold at least half a window's
    /// frames, in series order.
    fn finish(
        self,
        mut done: impl FnMut(Accumulator) -> shieldpack_core::Result<()>,
    ) -> shieldpack_core::Result<()> {
        let min = self.per_window / 2;
        for acc in self.accs.into_iter().flatten() {
            if acc.frames >= min {
                done(acc)?;
            }
        }
        Ok(())
    }
}

/// Finished windows set aside in an unnamed temporary file (gone when it is
/// closed, whatever happens) until the whole leak has located the mark: a
/// window of 1080p is 0.9 MB, too much to keep the windows of a long leak in
/// memory.
struct SetAside {
    /// None once writing failed.
    file: Option<BufWriter<File>>,
    /// Each window's clip size, frames and sums, in the order they were put.
    index: Vec<(usize, usize, u64, usize)>,
}

impl SetAside {
    fn new() -> Self {
        SetAside {
            file: tempfile::tempfile().ok().map(BufWriter::new),
            index: Vec::new(),
        }
    }

    fn put(&mut self, acc: &Accumulator) {
        let Some(f) = self.file.as_mut() else { return };
        let ok = acc
            .sums()
            .iter()
            .try_for_each(|v| f.write_all(&v.to_ne_bytes()));
        if ok.is_err() {
            self.file = None;
        }
        self.index
            .push((acc.w, acc.h, acc.frames, acc.sums().len()));
    }

    /// Hands back every window in the order it was put. Ok(false) when
    /// they cannot all be (writing or reading failed): the caller drops what
    /// `each` made of those it got and cuts the windows again.
    fn replay(
        self,
        mut each: impl FnMut(Accumulator) -> shieldpack_core::Result<()>,
    ) -> shieldpack_core::Result<bool> {
        let Some(file) = self.file.and_then(|w| w.into_inner().ok()) else {
            return Ok(false);
        };
        let mut r = BufReader::new(file);
        if r.seek(SeekFrom::Start(0)).is_err() {
            return Ok(false);
        }
        let mut bytes = Vec::new();
        for &(w, h, frames, len) in &self.index {
            bytes.resize(len * 4, 0);
            if r.read_exact(&mut bytes).is_err() {
                return Ok(false);
            }
            let sums = bytes
                .chunks_exact(4)
                .map(|b| f32::from_ne_bytes([b[0], b[1], b[2], b[3]]))
                .collect();
            each(Accumulator::from_sums(w, h, frames, sums).expect("as many sums as read"))?;
        }
        Ok(true)
    }
}
