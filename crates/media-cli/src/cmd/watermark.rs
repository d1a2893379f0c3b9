//! `shieldpack watermark ...`: make a key, mark a video, read a mark from a clip.

use std::time::Instant;

use serde_json::json;

use shieldpack::cli::{WatermarkCommand, WmEmbedArgs, WmExtractArgs, WmKeygenArgs};
use shieldpack::output::Printer;
use shieldpack::Status;
use shieldpack_core::error::Error;
use shieldpack_watermark::{self as watermark, EmbedOptions, ExtractOptions, Payload, WmKey};

pub fn run(c: WatermarkCommand, p: &Printer) -> anyhow::Result<Status> {
    match c {
        WatermarkCommand::Keygen(a) => keygen(a, p),
        WatermarkCommand::Embed(a) => embed(a, p),
        WatermarkCommand::Extract(a) => extract(a, p),
        WatermarkCommand::Trace(a) => super::trace::run(a, p),
    }
}

fn keygen(a: WmKeygenArgs, p: &Printer) -> anyhow::Result<Status> {
    let key = WmKey::generate();
    key.write_new(&a.output)?;
    if p.json {
        p.json_value(&json!({ "wm_key": a.output, "fingerprint": key.fingerprint() }))?;
    } else {
        p.info(format!(
            "wrote watermark key {} (fingerprint {}, mode 0600): keep it secret, it is needed to read marks",
            a.output.display(),
            key.fingerprint()
        ));
    }
    Ok(Status::Success)
}

fn embed(a: WmEmbedArgs, p: &Printer) -> anyhow::Result<Status> {
    let payload = Payload::parse(&a.payload)?;
    if !(0.0..=51.0).contains(&a.crf) {
        return Err(Error::arg(
            format!("--crf {} is out of range", a.crf),
            "libx264 takes a CRF from 0 (lossless) to 51; 18 is visually transparent",
        )
        .into());
    }
    let key = WmKey::load(&a.wm_key)?;
    let opts = EmbedOptions {
        mark_psnr_db: a.mark_psnr,
        crf: a.crf,
        preset: a.preset.clone(),
        overwrite: a.force,
    };
    let bar = p.progress(0, "marking");
    let started = Instant::now();
    let r = watermark::embed_file(&a.input, &a.output, &key, payload, &opts, &bar)?;
    bar.finish_and_clear();
    let elapsed = started.elapsed().as_secs_f64();
    if p.json {
        p.json_value(&json!({
            "input": a.input,
            "output": a.output,
            "payload": payload.to_hex(),
            "key_fingerprint": key.fingerprint(),
            "frames": r.video.frames,
            "width": r.video.width,
            "height": r.video.height,
            "fps": r.video.fps,
            "psnr_luma_db": round2(r.psnr_luma_db),
            // what was written, decoded again, against the decoded input
            "written_psnr_luma_db": round2(r.written.psnr_luma_db),
            "written_ssim_luma": (r.written.ssim_luma * 10000.0).round() / 10000.0,
            "cell_px": round2(r.cell_px),
            "mark_psnr_db": a.mark_psnr,
            "crf": a.crf,
            "preset": a.preset,
            "elapsed_s": round2(elapsed),
        }))?;
    } else {
        p.info(format!(
            "marked {} frames of {} with payload {} into {} (as written: luma PSNR {:.1} dB, SSIM {:.4}; {:.1} s)",
            r.video.frames,
            a.input.display(),
            payload.to_hex(),
            a.output.display(),
            r.written.psnr_luma_db,
            r.written.ssim_luma,
            elapsed
        ));
    }
    Ok(Status::Success)
}

fn extract(a: WmExtractArgs, p: &Printer) -> anyhow::Result<Status> {
    if a.max_seconds.is_nan() || a.max_seconds <= 0.0 {
        return Err(Error::arg(
            format!("--max-seconds {} must be positive", a.max_seconds),
            "give the number of seconds of the clip to read, e.g. --max-seconds 10",
        )
        .into());
    }
    if a.threshold_log10.is_nan() || a.threshold_log10 >= 0.0 {
        return Err(Error::arg(
            format!("--threshold-log10 {} must be negative", a.threshold_log10),
            "give log10 of the false-alarm probability to accept, e.g. -9 for one in a billion",
        )
        .into());
    }
    let key = WmKey::load(&a.wm_key)?;
    let opts = ExtractOptions {
        max_seconds: a.max_seconds,
        threshold_log10: a.threshold_log10,
        perspective: a.perspective,
    };
    let bar = p.progress(0, "reading");
    let started = Instant::now();
    let r = watermark::extract_file(&a.clip, &key, &opts, &bar)?;
    bar.finish_and_clear();
    let elapsed = started.elapsed().as_secs_f64();
    let d = &r.detection;
    let payload = if r.detected { d.payload } else { None };
    if p.json {
        p.json_value(&json!({
            "detected": r.detected,
            "payload": payload.map(|x| x.to_hex()),
            "log10_p": round2(d.log10_p),
            "log10_p_sync": round2(d.log10_p_sync),
            "frames_used": r.video.frames,
            "mark_present": r.mark_present,
            "payload_ok": d.payload.is_some(),
            // words checked before one passed (1: each symbol's highest peak)
            // and the bound they put on reading another payload by mistake
            "payload_tries": d.payload_tries,
            "log10_p_misread": d.log10_p_misread().map(round2),
            // the 64 payload bits as read, before the check: for diagnostics
            // only, meaningless when nothing was found
            "raw_payload": Payload::raw_from_symbols(&d.symbols).to_hex(),
            "z": round2(d.z),
            "hypotheses": d.hypotheses,
            "threshold_log10": a.threshold_log10,
            "symbol_z": d.symbol_z.iter().map(|z| round2(*z)).collect::<Vec<_>>(),
            "cell_px": round2(d.cell_px),
            "zoom": (d.zoom * 1000.0).round() / 1000.0,
            // the reframing found: horizontal over vertical scale, rotation
            // in degrees, shear (cells along a row per cell down),
            // left-right mirror
            "aspect": (d.aspect * 1000.0).round() / 1000.0,
            "angle_deg": round2(d.angle_deg),
            "shear": (d.shear * 1000.0).round() / 1000.0,
            "mirror": d.mirror,
            "width": r.video.width,
            "height": r.video.height,
            "fps": r.video.fps,
            "key_fingerprint": key.fingerprint(),
            "elapsed_s": round2(elapsed),
        }))?;
    } else if let Some(pl) = payload {
        p.data(pl.to_hex())?;
        p.info(format!(
            "found payload {} (log10 p = {:.1} over {} hypotheses, {} frames; read on try {} of its check bits: log10 p of a misread payload = {:.1})",
            pl.to_hex(),
            d.log10_p,
            d.hypotheses,
            r.video.frames,
            d.payload_tries,
            d.log10_p_misread().unwrap_or(0.0),
        ));
    } else if r.mark_present {
        p.info(format!(
            "a mark of this key is present (log10 p = {:.1}) but its payload could not be read from {} frames; try a longer or less damaged clip",
            d.log10_p, r.video.frames
        ));
    } else {
        p.info(format!(
            "no mark of this key found (best log10 p = {:.1} over {} hypotheses, {} frames; threshold {})",
            d.log10_p, d.hypotheses, r.video.frames, a.threshold_log10
        ));
    }
    Ok(if r.detected {
        Status::Success
    } else {
        Status::Negative
    })
}

fn round2(v: f64) -> f64 {
    if v.is_finite() {
        (v * 100.0).round() / 100.0
    } else {
        v
    }
}
