//! `shieldpack inspect`: a package folder or a media file, summarised.

use serde_json::json;

use shieldpack::cli::InspectArgs;
use shieldpack::output::Printer;
use shieldpack::Status;
use shieldpack_core::manifest::Manifest;

pub fn run(a: InspectArgs, p: &Printer) -> anyhow::Result<Status> {
    if a.path.is_dir() {
        let m = Manifest::load(&a.path)?;
        let policy = shieldpack_core::manifest::resolved::Resolved::load(&a.path)?;
        if p.json {
            let mut v = json!(m);
            v["key_periods"] = json!(m
                .key_periods()
                .iter()
                .map(|(period, generation, kid)| {
                    let mut k = json!({"period": period, "generation": generation, "kid": kid});
                    if let Some(t) = m.track_type_of(kid) {
                        k["track_type"] = json!(t);
                    }
                    k
                })
                .collect::<Vec<_>>());
            if let Some(r) = &policy {
                v["policy"] = json!(r);
            }
            p.json_value(&v)?;
            return Ok(Status::Success);
        }
        let mut o = String::new();
        o += &format!("package:      {}\n", a.path.display());
        o += &format!("content id:   {}\n", m.content_id);
        o += &format!("made by:      {} {}\n", m.tool, m.tool_version);
        o += &format!("encryption:   {} (IV {})\n", m.encryption, m.iv_mode);
        if let Some(f) = &m.keyring_fingerprint {
            o += &format!("keyring:      {f}\n");
        }
        if !m.key_scope.is_period() {
            o += &format!("key scope:    {}\n", m.key_scope.as_str());
        }
        o += &format!(
            "source:       {} ({:.3}s, {} video frames)\n",
            m.source.file, m.source.duration, m.source.video_frames
        );
        for r in &m.renditions {
            if r.kind.as_deref() == Some("audio") {
                o += &format!(
                    "rendition:    {} audio ({}, {} channels) {}, {} segments, peak {} b/s, average {} b/s\n",
                    r.name,
                    r.language.as_deref().unwrap_or("und"),
                    r.channels.map_or("?".into(), |c| c.to_string()),
                    r.codecs,
                    r.segments.len(),
                    r.bandwidth,
                    r.average_bandwidth
                );
                continue;
            }
            if r.kind.as_deref() == Some("subtitles") {
                o += &format!(
                    "rendition:    {} subtitles ({}) {}, {} segments, clear\n",
                    r.name,
                    r.language.as_deref().unwrap_or("und"),
                    r.codecs,
                    r.segments.len(),
                );
                continue;
            }
            o += &format!(
                "rendition:    {} {} {} {} fps, {} segments, peak {} b/s, average {} b/s\n",
                r.name,
                r.resolution,
                r.codecs,
                r.frame_rate
                    .map(|f| format!("{f:.3}"))
                    .unwrap_or_else(|| "?".into()),
                r.segments.len(),
                r.bandwidth,
                r.average_bandwidth
            );
        }
        let periods = m.key_periods();
        if !periods.is_empty() {
            o += "key periods:\n";
            for (period, generation, kid) in &periods {
                let segs: Vec<u64> = m
                    .segments()
                    .filter(|s| s.period == *period && s.generation == *generation)
                    .map(|s| s.sequence)
                    .collect();
                let track = m
                    .track_type_of(kid)
                    .map(|t| format!(" {t}"))
                    .unwrap_or_default();
                o += &format!(
                    "  period {period} gen {generation}{track}: kid {kid}, segments {}..{}\n",
                    segs.first().unwrap_or(&0),
                    segs.last().unwrap_or(&0)
                );
            }
        }
        if let Some(r) = &policy {
            o += &format!("scenes ({}):\n", r.policy_file);
            for sc in &r.scenes {
                let hdcp = match sc.hdcp.to_value() {
                    serde_json::Value::String(v) => format!(", HDCP {v}"),
                    _ => String::new(),
                };
                let place = match &sc.span {
                    Some(sp) => format!(
                        "{}..{}, segments {}..{}, {} key(s)",
                        shieldpack_core::timefmt::format_hms(sp.start),
                        shieldpack_core::timefmt::format_hms(sp.end),
                        sp.first_sequence,
                        sp.last_sequence,
                        sp.kids.len()
                    ),
                    None => "no segment of its own".into(),
                };
                o += &format!(
                    "  {} [{}{hdcp}]: {place}\n",
                    sc.label,
                    sc.drm_level.as_str()
                );
            }
        }
        p.data(o)?;
    } else {
        let info = shieldpack_media::probe(&a.path)?;
        // The same checks `package` makes before it writes: the streams, then
        // every packet's time stamps as the segmenter repairs them.
        let packagable = info
            .select()
            .and_then(|sel| shieldpack_media::check_timestamps(&a.path, &sel))
            .map_err(|e| e.to_string());
        if p.json {
            let mut v = json!(info);
            v["packagable"] = json!(packagable.is_ok());
            if let Err(e) = &packagable {
                v["reason"] = json!(e);
            }
            p.json_value(&v)?;
            return Ok(Status::Success);
        }
        let mut o = String::new();
        o += &format!("file:       {}\n", a.path.display());
        o += &format!("container:  {}\n", info.format);
        if let Some(d) = info.duration {
            o += &format!("duration:   {}\n", shieldpack_core::timefmt::format_hms(d));
        }
        for s in &info.streams {
            let mut line = format!("stream {}:   {} {}", s.index, s.kind, s.codec);
            if let (Some(w), Some(h)) = (s.width, s.height) {
                line += &format!(" {w}x{h}");
            }
            if let Some(f) = s.frame_rate {
                line += &format!(" {f:.3} fps");
            }
            if let Some(r) = s.rotation {
                line += &format!(" rotated {r} degrees clockwise for display");
            }
            if let Some(r) = s.sample_rate {
                line += &format!(" {r} Hz");
            }
            if let Some(c) = &s.codecs {
                line += &format!(" ({c})");
            }
            o += &line;
            o.push('\n');
        }
        match packagable {
            Ok(()) => o += "packagable: yes\n",
            Err(e) => o += &format!("packagable: no: {e}\n"),
        }
        p.data(o)?;
    }
    Ok(Status::Success)
}
