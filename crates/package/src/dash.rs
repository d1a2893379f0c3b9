//! `--dash`: a static DASH MPD (`manifest.mpd`) over the CMAF package's own
//! init and media segments, so HLS and DASH share every byte of media.
//!
//! DASH-IF IOP shapes: `type="static"`, the live profile's SegmentTemplate
//! with a SegmentTimeline (`$Number%05d$` names `seg_NNNNN.m4s`), times in
//! milliseconds as the manifest records them, and with common encryption
//! a `urn:mpeg:dash:mp4protection:2011` ContentProtection carrying
//! `cenc:default_KID`, then whatever DRM systems' elements the caller adds
//! (`extra_protection`, written as given: `--drm`'s signalling plugs in here).
//!
//! Not yet IOP's one AdaptationSet per content type: the segments carry video
//! and audio muxed (one `moof`, two track fragments), so the one
//! Representation lists both codecs. Shaka Player plays that; dash.js refuses
//! multiplexed representations by design.

use std::fmt::Write as _;

use shieldpack_core::manifest::SegmentRecord;

/// What the MPD says about the one rendition.
pub struct Mpd<'a> {
    pub rendition: &'a str,
    pub codecs: &'a str,
    pub width: u32,
    pub height: u32,
    pub frame_rate: Option<f64>,
    pub bandwidth: u64,
    /// `cenc` or `cbcs` with common encryption, else `None`.
    pub scheme: Option<&'a str>,
    /// The default KID, 32 hex digits.
    pub default_kid: Option<&'a str>,
    pub extra_protection: &'a [String],
    pub records: &'a [SegmentRecord],
    pub duration: f64,
}

/// ISO 8601 duration of `s` seconds, to the millisecond.
fn iso_duration(s: f64) -> String {
    format!("PT{:.3}S", s.max(0.0))
}

/// A KID as a UUID: 8-4-4-4-12 hex digits.
fn uuid(kid: &str) -> String {
    let k = kid.to_ascii_lowercase();
    if k.len() != 32 {
        return k;
    }
    format!(
        "{}-{}-{}-{}-{}",
        &k[..8],
        &k[8..12],
        &k[12..16],
        &k[16..20],
        &k[20..]
    )
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The SegmentTimeline's `S` elements: explicit `t` where a segment does not
/// start where the one before ended, `r` for runs of equal durations.
fn timeline(records: &[SegmentRecord]) -> String {
    let mut out = String::new();
    let mut runs: Vec<(Option<i64>, i64, u32)> = Vec::new();
    let mut next: Option<i64> = None;
    for r in records {
        let t = (r.start * 1000.0).round() as i64;
        let d = (r.duration * 1000.0).round() as i64;
        let explicit = (next != Some(t)).then_some(t);
        match runs.last_mut() {
            Some((_, ld, n)) if explicit.is_none() && *ld == d => *n += 1,
            _ => runs.push((explicit, d, 0)),
        }
        next = Some(t + d);
    }
    for (t, d, r) in runs {
        out.push_str("          <S");
        if let Some(t) = t {
            let _ = write!(out, " t=\"{t}\"");
        }
        let _ = write!(out, " d=\"{d}\"");
        if r > 0 {
            let _ = write!(out, " r=\"{r}\"");
        }
        out.push_str("/>\n");
    }
    out
}

impl Mpd<'_> {
    pub fn write(&self) -> String {
        let mut o = String::new();
        o.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
        let _ = writeln!(
            o,
            "<MPD xmlns=\"urn:mpeg:dash:schema:mpd:2011\" xmlns:cenc=\"urn:mpeg:cenc:2013\" \
             profiles=\"urn:mpeg:dash:profile:isoff-live:2011\" type=\"static\" \
             mediaPresentationDuration=\"{}\" minBufferTime=\"PT2S\">",
            iso_duration(self.duration)
        );
        o.push_str("  <Period id=\"0\" start=\"PT0S\">\n");
        o.push_str(
            "    <AdaptationSet id=\"0\" contentType=\"video\" mimeType=\"video/mp4\" \
             segmentAlignment=\"true\" startWithSAP=\"1\">\n",
        );
        if let Some(scheme) = self.scheme {
            let _ = write!(
                o,
                "      <ContentProtection schemeIdUri=\"urn:mpeg:dash:mp4protection:2011\" value=\"{scheme}\""
            );
            if let Some(kid) = self.default_kid {
                let _ = write!(o, " cenc:default_KID=\"{}\"", uuid(kid));
            }
            o.push_str("/>\n");
            for e in self.extra_protection {
                let _ = writeln!(o, "      {}", e.trim());
            }
        }
        let _ = write!(
            o,
            "      <Representation id=\"{}\" bandwidth=\"{}\" codecs=\"{}\" width=\"{}\" height=\"{}\"",
            escape(self.rendition),
            self.bandwidth,
            escape(self.codecs),
            self.width,
            self.height
        );
        if let Some(f) = self.frame_rate {
            let _ = write!(o, " frameRate=\"{}\"", (f * 1000.0).round() / 1000.0);
        }
        o.push_str(">\n");
        let _ = writeln!(
            o,
            "        <SegmentTemplate timescale=\"1000\" initialization=\"{r}/init.mp4\" \
             media=\"{r}/seg_$Number%05d$.m4s\" startNumber=\"0\">",
            r = escape(self.rendition)
        );
        o.push_str("          <SegmentTimeline>\n");
        o.push_str(&timeline(self.records).replace("          <S", "            <S"));
        o.push_str("          </SegmentTimeline>\n");
        o.push_str("        </SegmentTemplate>\n");
        o.push_str("      </Representation>\n");
        o.push_str("    </AdaptationSet>\n");
        o.push_str("  </Period>\n");
        o.push_str("</MPD>\n");
        o
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(start: f64, duration: f64) -> SegmentRecord {
        SegmentRecord {
            uri: String::new(),
            sequence: 0,
            start,
            duration,
            size: 0,
            sha256: String::new(),
            video_frames: 0,
            period: 0,
            generation: 0,
            kid: None,
            iv_mode: "sequence".into(),
            iv: None,
            scene: None,
            variants: Vec::new(),
        }
    }

    #[test]
    fn timelines_run_equal_durations_and_say_t_at_gaps() {
        let r = [rec(0.0, 6.0), rec(6.0, 6.0), rec(12.0, 4.5), rec(16.6, 1.0)];
        assert_eq!(
            timeline(&r),
            "          <S t=\"0\" d=\"6000\" r=\"1\"/>\n          <S d=\"4500\"/>\n          <S t=\"16600\" d=\"1000\"/>\n"
        );
        assert_eq!(
            uuid("00112233445566778899AABBCCDDEEFF"),
            "00112233-4455-6677-8899-aabbccddeeff"
        );
    }
}
