//! Media playlists: segments, their durations and the keys that encrypt them.

use std::fmt::Write as _;

use super::{attr, body, err, ParseError};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlaylistType {
    Vod,
    Event,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyMethod {
    None,
    Aes128,
    SampleAes,
    /// Common encryption `cenc` (AES-CTR) in fMP4 segments (RFC 8216bis).
    SampleAesCtr,
}

impl KeyMethod {
    fn as_str(self) -> &'static str {
        match self {
            KeyMethod::None => "NONE",
            KeyMethod::Aes128 => "AES-128",
            KeyMethod::SampleAes => "SAMPLE-AES",
            KeyMethod::SampleAesCtr => "SAMPLE-AES-CTR",
        }
    }
}

/// An EXT-X-KEY tag: it applies to every following segment until the next one.
#[derive(Debug, Clone, PartialEq)]
pub struct Key {
    pub method: KeyMethod,
    pub uri: Option<String>,
    pub iv: Option<[u8; 16]>,
    pub keyformat: Option<String>,
}

impl Key {
    pub fn none() -> Self {
        Key {
            method: KeyMethod::None,
            uri: None,
            iv: None,
            keyformat: None,
        }
    }

    pub fn aes128(uri: String, iv: Option<[u8; 16]>) -> Self {
        Key {
            method: KeyMethod::Aes128,
            uri: Some(uri),
            iv,
            keyformat: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct MediaSegment {
    pub duration: f64,
    pub uri: String,
    /// An EXT-X-KEY written just before this segment, if any.
    pub key: Option<Key>,
    /// Line number of the URI, when parsed.
    pub line: usize,
}

#[derive(Debug, Clone, PartialEq)]
pub struct MediaPlaylist {
    pub version: u32,
    pub target_duration: u64,
    pub media_sequence: u64,
    pub playlist_type: Option<PlaylistType>,
    pub independent_segments: bool,
    /// The URI of EXT-X-MAP, the initialisation segment every fMP4 (CMAF)
    /// media segment needs; written once before the first segment.
    pub map: Option<String>,
    pub segments: Vec<MediaSegment>,
    pub end_list: bool,
}

impl MediaPlaylist {
    /// The key in force for each segment (None before any EXT-X-KEY).
    pub fn effective_keys(&self) -> Vec<Option<&Key>> {
        let mut cur: Option<&Key> = None;
        self.segments
            .iter()
            .map(|s| {
                if let Some(k) = &s.key {
                    cur = Some(k);
                }
                cur
            })
            .collect()
    }

    /// The media sequence number of segment `i`.
    pub fn sequence_of(&self, i: usize) -> u64 {
        self.media_sequence + i as u64
    }

    /// The lowest EXT-X-VERSION the features used require (RFC 8216 section 7).
    pub fn required_version(&self) -> u32 {
        let mut v = 1;
        if self
            .segments
            .iter()
            .any(|s| s.key.as_ref().is_some_and(|k| k.iv.is_some()))
        {
            v = 2;
        }
        if self.segments.iter().any(|s| s.duration.fract() != 0.0) {
            v = 3;
        }
        if self
            .segments
            .iter()
            .any(|s| s.key.as_ref().is_some_and(|k| k.keyformat.is_some()))
        {
            v = 5;
        }
        // EXT-X-MAP outside an I-frame playlist (RFC 8216 section 7).
        if self.map.is_some() {
            v = 6;
        }
        v
    }

    pub fn write(&self) -> String {
        let mut o = String::with_capacity(64 + self.segments.len() * 48);
        o.push_str("#EXTM3U\n");
        let _ = writeln!(o, "#EXT-X-VERSION:{}", self.version);
        let _ = writeln!(o, "#EXT-X-TARGETDURATION:{}", self.target_duration);
        let _ = writeln!(o, "#EXT-X-MEDIA-SEQUENCE:{}", self.media_sequence);
        match self.playlist_type {
            Some(PlaylistType::Vod) => o.push_str("#EXT-X-PLAYLIST-TYPE:VOD\n"),
            Some(PlaylistType::Event) => o.push_str("#EXT-X-PLAYLIST-TYPE:EVENT\n"),
            None => {}
        }
        if self.independent_segments {
            o.push_str("#EXT-X-INDEPENDENT-SEGMENTS\n");
        }
        if let Some(m) = &self.map {
            let _ = writeln!(o, "#EXT-X-MAP:URI={}", attr::quote(m));
        }
        for s in &self.segments {
            if let Some(k) = &s.key {
                let _ = write!(o, "#EXT-X-KEY:METHOD={}", k.method.as_str());
                if let Some(u) = &k.uri {
                    let _ = write!(o, ",URI={}", attr::quote(u));
                }
                if let Some(iv) = &k.iv {
                    let _ = write!(o, ",IV=0x{}", hex::encode(iv));
                }
                if let Some(f) = &k.keyformat {
                    let _ = write!(o, ",KEYFORMAT={}", attr::quote(f));
                }
                o.push('\n');
            }
            let _ = writeln!(o, "#EXTINF:{:.3},", s.duration);
            o.push_str(&s.uri);
            o.push('\n');
        }
        if self.end_list {
            o.push_str("#EXT-X-ENDLIST\n");
        }
        o
    }

    pub fn parse(text: &str) -> Result<Self, ParseError> {
        let it = body(text)?;
        let mut p = MediaPlaylist {
            version: 1,
            target_duration: 0,
            media_sequence: 0,
            playlist_type: None,
            independent_segments: false,
            map: None,
            segments: Vec::new(),
            end_list: false,
        };
        let (mut saw_version, mut saw_target) = (false, false);
        let mut pending_dur: Option<f64> = None;
        let mut pending_key: Option<Key> = None;
        for (n, line) in it {
            if !line.starts_with('#') {
                let duration = pending_dur
                    .take()
                    .ok_or_else(|| err(n, format!("segment URI '{line}' without #EXTINF")))?;
                p.segments.push(MediaSegment {
                    duration,
                    uri: line.to_string(),
                    key: pending_key.take(),
                    line: n,
                });
                continue;
            }
            if !line.starts_with("#EXT") {
                continue; // a comment
            }
            let (tag, value) = line.split_once(':').unwrap_or((line, ""));
            if p.end_list && tag != "#EXT-X-ENDLIST" {
                return Err(err(n, format!("{tag} after #EXT-X-ENDLIST")));
            }
            match tag {
                "#EXT-X-VERSION" => {
                    p.version = value
                        .parse()
                        .map_err(|_| err(n, "EXT-X-VERSION must be an integer"))?;
                    if saw_version {
                        return Err(err(n, "EXT-X-VERSION appears twice"));
                    }
                    saw_version = true;
                }
                "#EXT-X-TARGETDURATION" => {
                    p.target_duration = value.parse().map_err(|_| {
                        err(n, "EXT-X-TARGETDURATION must be a whole number of seconds")
                    })?;
                    saw_target = true;
                }
                "#EXT-X-MEDIA-SEQUENCE" => {
                    if !p.segments.is_empty() {
                        return Err(err(
                            n,
                            "EXT-X-MEDIA-SEQUENCE must come before the first segment",
                        ));
                    }
                    p.media_sequence = value
                        .parse()
                        .map_err(|_| err(n, "EXT-X-MEDIA-SEQUENCE must be an integer"))?;
                }
                "#EXT-X-PLAYLIST-TYPE" => {
                    p.playlist_type = Some(match value {
                        "VOD" => PlaylistType::Vod,
                        "EVENT" => PlaylistType::Event,
                        _ => return Err(err(n, format!("unknown playlist type '{value}'"))),
                    })
                }
                "#EXT-X-INDEPENDENT-SEGMENTS" => p.independent_segments = true,
                "#EXT-X-ENDLIST" => p.end_list = true,
                "#EXTINF" => {
                    if pending_dur.is_some() {
                        return Err(err(n, "two #EXTINF tags without a URI between them"));
                    }
                    let d = value.split(',').next().unwrap_or("");
                    let d: f64 = d
                        .parse()
                        .map_err(|_| err(n, format!("EXTINF duration '{d}' is not a number")))?;
                    if !d.is_finite() || d < 0.0 {
                        return Err(err(n, "EXTINF duration must be a non-negative number"));
                    }
                    pending_dur = Some(d);
                }
                "#EXT-X-MAP" => {
                    let a = attr::parse(value).map_err(|m| err(n, m))?;
                    let uri = attr::get(&a, "URI")
                        .ok_or_else(|| err(n, "EXT-X-MAP without URI"))
                        .and_then(|u| attr::quoted(u).map_err(|m| err(n, m)))?;
                    p.map = Some(uri.to_string());
                }
                "#EXT-X-KEY" => pending_key = Some(parse_key(value).map_err(|m| err(n, m))?),
                "#EXT-X-STREAM-INF" | "#EXT-X-MEDIA" | "#EXT-X-I-FRAME-STREAM-INF" => {
                    return Err(err(
                        n,
                        format!("{tag} belongs in a multivariant playlist, not a media playlist"),
                    ))
                }
                _ => {} // RFC 8216 6.3.1: clients ignore tags they do not know
            }
        }
        if pending_dur.is_some() {
            return Err(err(
                text.lines().count(),
                "#EXTINF at the end without a segment URI",
            ));
        }
        if !saw_target {
            return Err(err(1, "missing #EXT-X-TARGETDURATION"));
        }
        Ok(p)
    }
}

fn parse_key(value: &str) -> Result<Key, String> {
    let a = attr::parse(value)?;
    let method = match attr::get(&a, "METHOD") {
        Some("NONE") => KeyMethod::None,
        Some("AES-128") => KeyMethod::Aes128,
        Some("SAMPLE-AES") => KeyMethod::SampleAes,
        Some("SAMPLE-AES-CTR") => KeyMethod::SampleAesCtr,
        Some(m) => return Err(format!("unknown key METHOD '{m}'")),
        None => return Err("EXT-X-KEY without METHOD".into()),
    };
    let uri = attr::get(&a, "URI")
        .map(|u| attr::quoted(u).map(str::to_string))
        .transpose()?;
    let iv = attr::get(&a, "IV").map(attr::hex128).transpose()?;
    let keyformat = attr::get(&a, "KEYFORMAT")
        .map(|u| attr::quoted(u).map(str::to_string))
        .transpose()?;
    match method {
        KeyMethod::None if uri.is_some() || iv.is_some() => {
            Err("METHOD=NONE must not have URI or IV".into())
        }
        KeyMethod::Aes128 | KeyMethod::SampleAes | KeyMethod::SampleAesCtr if uri.is_none() => {
            Err("an encrypting EXT-X-KEY needs a URI".into())
        }
        _ => Ok(Key {
            method,
            uri,
            iv,
            keyformat,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> MediaPlaylist {
        MediaPlaylist {
            version: 3,
            target_duration: 6,
            media_sequence: 0,
            playlist_type: Some(PlaylistType::Vod),
            independent_segments: true,
            map: None,
            segments: vec![
                MediaSegment {
                    duration: 6.0,
                    uri: "seg_00000.ts".into(),
                    key: Some(Key::aes128("keys/a.key".into(), None)),
                    line: 0,
                },
                MediaSegment {
                    duration: 5.5,
                    uri: "seg_00001.ts".into(),
                    key: None,
                    line: 0,
                },
                MediaSegment {
                    duration: 2.25,
                    uri: "seg_00002.ts".into(),
                    key: Some(Key::aes128("keys/b.key".into(), Some([1; 16]))),
                    line: 0,
                },
                MediaSegment {
                    duration: 1.0,
                    uri: "seg_00003.ts".into(),
                    key: Some(Key::none()),
                    line: 0,
                },
            ],
            end_list: true,
        }
    }

    #[test]
    fn round_trip() {
        let p = sample();
        let text = p.write();
        let mut back = MediaPlaylist::parse(&text).unwrap();
        for s in &mut back.segments {
            s.line = 0;
        }
        assert_eq!(back, p);
        let keys = back.effective_keys();
        assert_eq!(keys[1].unwrap().uri.as_deref(), Some("keys/a.key"));
        assert_eq!(keys[3].unwrap().method, KeyMethod::None);
    }

    #[test]
    fn errors_name_their_line() {
        let e = MediaPlaylist::parse("#EXTM3U\n#EXT-X-TARGETDURATION:6\nseg.ts\n").unwrap_err();
        assert_eq!(e.line, 3);
        let e =
            MediaPlaylist::parse("#EXTM3U\n#EXT-X-TARGETDURATION:6\n#EXT-X-KEY:METHOD=AES-128\n")
                .unwrap_err();
        assert_eq!(e.line, 3);
        assert!(MediaPlaylist::parse("nope").is_err());
    }
}
