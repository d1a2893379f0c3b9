//! The RFC 8216 rules `verify` checks beyond syntax, each returned as a message.

use super::{KeyMethod, MasterPlaylist, MediaPlaylist, PlaylistType};

/// Problems with a media playlist that parsed.
pub fn check_media(p: &MediaPlaylist) -> Vec<String> {
    let mut out = Vec::new();
    for s in &p.segments {
        // RFC 8216 4.3.3.1: each EXTINF rounded to the nearest integer is <= target.
        if s.duration.round() as u64 > p.target_duration {
            out.push(format!(
                "line {}: EXTINF {:.3} rounds above EXT-X-TARGETDURATION {} (RFC 8216 4.3.3.1)",
                s.line, s.duration, p.target_duration
            ));
        }
        if s.duration <= 0.0 {
            out.push(format!("line {}: segment has no duration", s.line));
        }
        if let Some(k) = &s.key {
            // SAMPLE-AES is TS's (`--scheme sample-aes`) or fMP4 cbcs's;
            // SAMPLE-AES-CTR is fMP4's only.
            if k.method == KeyMethod::SampleAesCtr && p.map.is_none() {
                out.push(format!(
                    "line {}: SAMPLE-AES-CTR needs fMP4 segments, with EXT-X-MAP",
                    s.line
                ));
            }
        }
    }
    if p.segments.is_empty() {
        out.push("the playlist has no segments".into());
    }
    if p.version < p.required_version() {
        out.push(format!(
            "EXT-X-VERSION {} is too low for the features used, which need {} (RFC 8216 section 7)",
            p.version,
            p.required_version()
        ));
    }
    if !p.end_list {
        out.push("missing #EXT-X-ENDLIST: a VOD package must end its playlist".into());
    }
    if p.playlist_type != Some(PlaylistType::Vod) {
        out.push("missing #EXT-X-PLAYLIST-TYPE:VOD".into());
    }
    out
}

/// Problems with a multivariant playlist that parsed.
pub fn check_master(p: &MasterPlaylist) -> Vec<String> {
    let mut out = Vec::new();
    if p.variants.is_empty() {
        out.push("no #EXT-X-STREAM-INF variant".into());
    }
    for v in &p.variants {
        if v.codecs.is_none() {
            out.push(format!(
                "{}: variant without CODECS (RFC 8216 4.3.4.2 says SHOULD)",
                v.uri
            ));
        }
        if let Some(a) = v.average_bandwidth {
            if a > v.bandwidth {
                out.push(format!(
                    "{}: AVERAGE-BANDWIDTH {a} exceeds BANDWIDTH {}",
                    v.uri, v.bandwidth
                ));
            }
        }
    }
    out
}
