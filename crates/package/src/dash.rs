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
//! One AdaptationSet per content type, as DASH-IF IOP wants and dash.js
//! needs (it does not play multiplexed representations): the video
//! renditions are Representations of one set, each audio language a set of
//! its own with `lang`, every Representation one CMAF track with its own
//! SegmentTemplate and SegmentTimeline (audio segments are cut at the
//! video's times but their records keep their own starts and durations).
//! ContentProtection goes on each AdaptationSet, with the default KID of
//! its first Representation's first encrypted segment. WebVTT subtitle
//! renditions are HLS-only for now (their segments are not fMP4).

use std::fmt::Write as _;

use shieldpack_core::manifest::{Rendition, SegmentRecord};

use crate::dashtime::TrackTimes;

/// What the MPD lists: the package's renditions (video, and audio with
/// `kind` "audio"; others are left out), in the manifest's order.
pub struct Mpd<'a> {
    pub renditions: &'a [Rendition],
    /// Each rendition's track times (`dashtime`), in the same order; `None`
    /// (or a shorter slice) falls back to milliseconds from the records.
    pub times: &'a [Option<TrackTimes>],
    /// `cenc` or `cbcs` with common encryption, else `None`.
    pub scheme: Option<&'a str>,
    /// The DRM systems' elements for an AdaptationSet, given the segment
    /// records of its Representations (their KIDs).
    pub extra_protection: &'a dyn Fn(&[SegmentRecord]) -> Vec<String>,
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
fn timeline(segments: &[(u64, u64)]) -> String {
    let mut out = String::new();
    let mut runs: Vec<(Option<u64>, u64, u32)> = Vec::new();
    let mut next: Option<u64> = None;
    for &(t, d) in segments {
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
    /// The AdaptationSets: all video renditions in one, then one per audio
    /// language (in order of first appearance).
    fn sets(&self) -> Vec<(&'static str, Option<&str>, Vec<&Rendition>)> {
        let mut sets: Vec<(&'static str, Option<&str>, Vec<&Rendition>)> = Vec::new();
        let video: Vec<&Rendition> = self
            .renditions
            .iter()
            .filter(|r| r.kind.is_none())
            .collect();
        if !video.is_empty() {
            sets.push(("video", None, video));
        }
        for r in self
            .renditions
            .iter()
            .filter(|r| r.kind.as_deref() == Some("audio"))
        {
            let lang = r.language.as_deref();
            match sets
                .iter_mut()
                .find(|(t, l, _)| *t == "audio" && *l == lang)
            {
                Some((_, _, rs)) => rs.push(r),
                None => sets.push(("audio", lang, vec![r])),
            }
        }
        sets
    }

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
        let mut first_audio = true;
        for (id, (kind, lang, reps)) in self.sets().into_iter().enumerate() {
            let _ = write!(
                o,
                "    <AdaptationSet id=\"{id}\" contentType=\"{kind}\" mimeType=\"{kind}/mp4\" \
                 segmentAlignment=\"true\" startWithSAP=\"1\""
            );
            if let Some(l) = lang {
                let _ = write!(o, " lang=\"{}\"", escape(l));
            }
            o.push_str(">\n");
            if kind == "audio" {
                // The first language is the default (HLS DEFAULT=YES): main;
                // the others are alternates.
                let role = if first_audio { "main" } else { "alternate" };
                first_audio = false;
                let _ = writeln!(
                    o,
                    "      <Role schemeIdUri=\"urn:mpeg:dash:role:2011\" value=\"{role}\"/>"
                );
            }
            // One default KID for the set (DASH-IF IOP: ContentProtection
            // on the AdaptationSet), else (`--key-scope track-type`: HD and
            // SD renditions under keys of their own) on each Representation.
            let kids: Vec<Option<&str>> = reps.iter().map(|r| default_kid(r)).collect();
            let per_rep = kids.windows(2).any(|w| w[0] != w[1]);
            if !per_rep {
                self.protection(&mut o, &reps, "      ");
            }
            for r in reps {
                let times = self
                    .renditions
                    .iter()
                    .position(|x| std::ptr::eq(x, r))
                    .and_then(|i| self.times.get(i).cloned().flatten())
                    .unwrap_or_else(|| millis(&r.segments));
                let mut inner = String::new();
                if per_rep {
                    self.protection(&mut inner, &[r], "        ");
                }
                representation(&mut o, r, kind, &times, &inner);
            }
            o.push_str("    </AdaptationSet>\n");
        }
        o.push_str("  </Period>\n");
        o.push_str("</MPD>\n");
        o
    }
}

/// A rendition's default KID: its first encrypted segment's.
fn default_kid(r: &Rendition) -> Option<&str> {
    r.segments.iter().find_map(|s| s.kid.as_deref())
}

impl Mpd<'_> {
    /// The ContentProtection elements for `reps`, at `indent`: the common
    /// encryption scheme with the default KID, then the DRM systems' own
    /// (for the KIDs of every segment of `reps`).
    fn protection(&self, o: &mut String, reps: &[&Rendition], indent: &str) {
        let Some(scheme) = self.scheme else {
            return;
        };
        let _ = write!(
            o,
            "{indent}<ContentProtection schemeIdUri=\"urn:mpeg:dash:mp4protection:2011\" value=\"{scheme}\""
        );
        if let Some(kid) = reps.iter().find_map(|r| default_kid(r)) {
            let _ = write!(o, " cenc:default_KID=\"{}\"", uuid(kid));
        }
        o.push_str("/>\n");
        let records: Vec<SegmentRecord> = reps
            .iter()
            .flat_map(|r| r.segments.iter().cloned())
            .collect();
        for e in (self.extra_protection)(&records) {
            let _ = writeln!(o, "{indent}{}", e.trim());
        }
    }
}

/// The codecs of a `kind` ("video" or "audio") track out of a rendition's
/// CODECS: a video rendition's HLS CODECS also names its audio group's
/// codec (RFC 8216 4.3.4.2), but its CMAF track holds video only, and a
/// player asks the CDM for `video/mp4; codecs="..."` with exactly these
/// (Chromium refuses an audio codec there: Shaka's 6001).
fn track_codecs(codecs: &str, kind: &str) -> String {
    const AUDIO: [&str; 7] = ["mp4a", "ac-3", "ec-3", "ac-4", "opus", "flac", "alac"];
    let all: Vec<&str> = codecs.split(',').map(str::trim).collect();
    let own: Vec<&str> = all
        .iter()
        .copied()
        .filter(|c| {
            let audio = AUDIO
                .iter()
                .any(|a| c.eq_ignore_ascii_case(a) || c.starts_with(&format!("{a}.")));
            audio == (kind == "audio")
        })
        .collect();
    if own.is_empty() {
        codecs.to_string()
    } else {
        own.join(",")
    }
}

/// The records' times in milliseconds, for a track whose boxes were not
/// read.
fn millis(records: &[SegmentRecord]) -> TrackTimes {
    TrackTimes {
        timescale: 1000,
        segments: records
            .iter()
            .map(|r| {
                (
                    (r.start * 1000.0).round().max(0.0) as u64,
                    (r.duration * 1000.0).round().max(0.0) as u64,
                )
            })
            .collect(),
    }
}

/// One Representation: one rendition's track, its own timeline.
fn representation(o: &mut String, r: &Rendition, kind: &str, times: &TrackTimes, inner: &str) {
    let _ = write!(
        o,
        "      <Representation id=\"{}\" bandwidth=\"{}\" codecs=\"{}\"",
        escape(&r.name),
        r.bandwidth,
        escape(&track_codecs(&r.codecs, kind)),
    );
    if let Some((w, h)) = r
        .resolution
        .split_once('x')
        .and_then(|(w, h)| Some((w.parse::<u32>().ok()?, h.parse::<u32>().ok()?)))
    {
        let _ = write!(o, " width=\"{w}\" height=\"{h}\"");
    }
    if let Some(f) = r.frame_rate {
        let _ = write!(o, " frameRate=\"{}\"", (f * 1000.0).round() / 1000.0);
    }
    o.push_str(">\n");
    if let Some(c) = r.channels {
        let _ = writeln!(
            o,
            "        <AudioChannelConfiguration schemeIdUri=\"urn:mpeg:dash:23003:3:audio_channel_configuration:2011\" value=\"{c}\"/>"
        );
    }
    o.push_str(inner);
    let _ = writeln!(
        o,
        "        <SegmentTemplate timescale=\"{ts}\" initialization=\"{r}/init.mp4\" \
         media=\"{r}/seg_$Number%05d$.m4s\" startNumber=\"0\">",
        ts = times.timescale,
        r = escape(&r.name)
    );
    o.push_str("          <SegmentTimeline>\n");
    o.push_str(&timeline(&times.segments).replace("          <S", "            <S"));
    o.push_str("          </SegmentTimeline>\n");
    o.push_str("        </SegmentTemplate>\n");
    o.push_str("      </Representation>\n");
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
            timeline(&millis(&r).segments),
            "          <S t=\"0\" d=\"6000\" r=\"1\"/>\n          <S d=\"4500\"/>\n          <S t=\"16600\" d=\"1000\"/>\n"
        );
        assert_eq!(
            uuid("00112233445566778899AABBCCDDEEFF"),
            "00112233-4455-6677-8899-aabbccddeeff"
        );
    }

    fn rendition(name: &str, kind: Option<&str>, language: Option<&str>) -> Rendition {
        Rendition {
            name: name.into(),
            source: None,
            track_type: None,
            kind: kind.map(str::to_string),
            language: language.map(str::to_string),
            channels: kind.map(|_| 2),
            playlist: format!("{name}/index.m3u8"),
            bandwidth: 100_000,
            average_bandwidth: 90_000,
            resolution: if kind.is_none() {
                "640x360".into()
            } else {
                String::new()
            },
            frame_rate: kind.is_none().then_some(25.0),
            codecs: if kind.is_none() {
                "avc1.64001e".into()
            } else {
                "mp4a.40.2".into()
            },
            segments: vec![rec(0.0, 6.0), rec(6.0, 4.0)],
        }
    }

    #[test]
    fn one_adaptation_set_per_content_type_and_audio_language() {
        let rs = [
            rendition("360p", None, None),
            rendition("720p", None, None),
            rendition("audio-en", Some("audio"), Some("en")),
            rendition("audio-fr", Some("audio"), Some("fr")),
            rendition("audio-en-2", Some("audio"), Some("en")),
            rendition("subs-en", Some("subtitles"), Some("en")),
        ];
        let mpd = Mpd {
            renditions: &rs,
            times: &[],
            scheme: Some("cenc"),
            extra_protection: &|_| Vec::new(),
            duration: 10.0,
        }
        .write();
        let sets: Vec<&str> = mpd
            .lines()
            .filter(|l| l.contains("<AdaptationSet"))
            .collect();
        assert_eq!(sets.len(), 3, "{mpd}");
        assert!(sets[0].contains("contentType=\"video\""), "{mpd}");
        assert!(sets[1].contains("lang=\"en\""), "{mpd}");
        assert!(sets[2].contains("lang=\"fr\""), "{mpd}");
        assert_eq!(mpd.matches("<ContentProtection").count(), 3, "{mpd}");
        assert_eq!(mpd.matches("<Representation").count(), 5, "{mpd}");
        assert_eq!(mpd.matches("<SegmentTimeline>").count(), 5, "{mpd}");
        assert!(!mpd.contains("subs-en"), "{mpd}");
        assert!(
            mpd.contains("initialization=\"audio-en-2/init.mp4\""),
            "{mpd}"
        );
    }

    #[test]
    fn track_codecs_keep_their_own_kind() {
        assert_eq!(
            track_codecs("avc1.64001e,mp4a.40.2", "video"),
            "avc1.64001e"
        );
        assert_eq!(track_codecs("avc1.64001e, mp4a.40.2", "audio"), "mp4a.40.2");
        assert_eq!(
            track_codecs("hvc1.1.6.L93.B0,ec-3", "video"),
            "hvc1.1.6.L93.B0"
        );
        assert_eq!(track_codecs("mp4a.40.2", "audio"), "mp4a.40.2");
    }

    #[test]
    fn renditions_under_keys_of_their_own_carry_their_own_protection() {
        let mut hd = rendition("720p", None, None);
        let mut sd = rendition("360p", None, None);
        for s in &mut hd.segments {
            s.kid = Some("11".repeat(16));
        }
        for s in &mut sd.segments {
            s.kid = Some("22".repeat(16));
        }
        let rs = [hd, sd];
        let mpd = Mpd {
            renditions: &rs,
            times: &[],
            scheme: Some("cenc"),
            extra_protection: &|_| Vec::new(),
            duration: 10.0,
        }
        .write();
        // Two Representations, each with its own default KID, none on the set.
        assert_eq!(mpd.matches("<ContentProtection").count(), 2, "{mpd}");
        let set_end = mpd.find("<Representation").unwrap();
        assert!(!mpd[..set_end].contains("<ContentProtection"), "{mpd}");
        assert!(
            mpd.contains("11111111-1111-1111-1111-111111111111"),
            "{mpd}"
        );
        assert!(
            mpd.contains("22222222-2222-2222-2222-222222222222"),
            "{mpd}"
        );
    }
}
