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
    /// The METHOD attribute's value.
    pub fn as_str(self) -> &'static str {
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
    /// KEYID (fMP4 common encryption: the KID a DRM system licenses).
    pub keyid: Option<[u8; 16]>,
    pub keyformatversions: Option<String>,
}

impl Key {
    pub fn none() -> Self {
        Key {
            method: KeyMethod::None,
            uri: None,
            iv: None,
            keyformat: None,
            keyid: None,
            keyformatversions: None,
        }
    }

    /// Parses an EXT-X-KEY attribute list (what follows `#EXT-X-KEY:`).
    pub fn parse_attrs(value: &str) -> Result<Key, String> {
        parse_key(value)
    }

    pub fn aes128(uri: String, iv: Option<[u8; 16]>) -> Self {
        Key {
            method: KeyMethod::Aes128,
            uri: Some(uri),
            iv,
            keyformat: None,
            keyid: None,
            keyformatversions: None,
        }
    }

    fn write(&self, o: &mut String) {
        let _ = write!(o, "#EXT-X-KEY:METHOD={}", self.method.as_str());
        if let Some(u) = &self.uri {
            let _ = write!(o, ",URI={}", attr::quote(u));
        }
        if let Some(iv) = &self.iv {
            let _ = write!(o, ",IV=0x{}", hex::encode(iv));
        }
        if let Some(k) = &self.keyid {
            let _ = write!(o, ",KEYID=0x{}", hex::encode(k));
        }
        if let Some(f) = &self.keyformat {
            let _ = write!(o, ",KEYFORMAT={}", attr::quote(f));
        }
        if let Some(v) = &self.keyformatversions {
            let _ = write!(o, ",KEYFORMATVERSIONS={}", attr::quote(v));
        }
        o.push('\n');
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct MediaSegment {
    pub duration: f64,
    pub uri: String,
    /// An EXT-X-KEY written just before this segment, if any.
    pub key: Option<Key>,
    /// More EXT-X-KEY tags for the same segments, one per further KEYFORMAT
    /// (RFC 8216 4.3.2.4: each DRM system's own line beside `key`); written
    /// after `key`, which alone `effective_keys` reports.
    pub extra_keys: Vec<Key>,
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
                k.write(&mut o);
                for e in &s.extra_keys {
                    e.write(&mut o);
                }
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
        let mut pending_extra: Vec<Key> = Vec::new();
        for (n, line) in it {
            if !line.starts_with('#') {
                let duration = pending_dur
                    .take()
                    .ok_or_else(|| err(n, format!("segment URI '{line}' without #EXTINF")))?;
                p.segments.push(MediaSegment {
                    duration,
                    uri: line.to_string(),
                    key: pending_key.take(),
                    extra_keys: std::mem::take(&mut pending_extra),
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
                "#EXT-X-KEY" => {
                    let k = parse_key(value).map_err(|m| err(n, m))?;
                    // Tags with different KEYFORMATs before one segment
                    // apply together (one per DRM system); one with the
                    // same KEYFORMAT replaces the earlier.
                    match &mut pending_key {
                        Some(first) if first.keyformat != k.keyformat => {
                            match pending_extra
                                .iter_mut()
                                .find(|e| e.keyformat == k.keyformat)
                            {
                                Some(e) => *e = k,
                                None => pending_extra.push(k),
                            }
                        }
                        _ => {
                            pending_key = Some(k);
                            pending_extra.clear();
                        }
                    }
                }
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
    let keyformatversions = attr::get(&a, "KEYFORMATVERSIONS")
        .map(|u| attr::quoted(u).map(str::to_string))
        .transpose()?;
    let keyid = attr::get(&a, "KEYID").map(attr::hex128).transpose()?;
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
            keyid,
            keyformatversions,
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
                    extra_keys: Vec::new(),
                    line: 0,
                },
                MediaSegment {
                    duration: 5.5,
                    uri: "seg_00001.ts".into(),
                    key: None,
                    extra_keys: Vec::new(),
                    line: 0,
                },
                MediaSegment {
                    duration: 2.25,
                    uri: "seg_00002.ts".into(),
                    key: Some(Key::aes128("keys/b.key".into(), Some([1; 16]))),
                    extra_keys: Vec::new(),
                    line: 0,
                },
                MediaSegment {
                    duration: 1.0,
                    uri: "seg_00003.ts".into(),
                    key: Some(Key::none()),
                    extra_keys: Vec::new(),
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

    /// One segment under several DRM systems: the identity line and one
    /// per further KEYFORMAT, all before the segment, back as written.
    #[test]
    fn several_keys_per_segment_round_trip() {
        let mut p = sample();
        p.version = 5;
        let identity = Key {
            method: KeyMethod::SampleAes,
            uri: Some("keys/a.key".into()),
            iv: None,
            keyformat: Some("identity".into()),
            keyid: Some([7; 16]),
            keyformatversions: Some("1".into()),
        };
        let widevine = Key::parse_attrs(
            "METHOD=SAMPLE-AES,URI=\"data:text/plain;base64,AAAA\",KEYID=0x07070707070707070707070707070707,KEYFORMAT=\"urn:uuid:edef8ba9-79d6-4ace-a3c8-27dcd51d21ed\",KEYFORMATVERSIONS=\"1\"",
        )
        .unwrap();
        assert_eq!(widevine.keyid, Some([7; 16]));
        let fairplay = Key::parse_attrs(
            "METHOD=SAMPLE-AES,URI=\"skd://k/07\",KEYFORMAT=\"com.apple.streamingkeydelivery\",KEYFORMATVERSIONS=\"1\"",
        )
        .unwrap();
        p.segments[0].key = Some(identity.clone());
        p.segments[0].extra_keys = vec![widevine.clone(), fairplay.clone()];
        let text = p.write();
        assert_eq!(text.matches("#EXT-X-KEY:").count(), 3 + 2);
        let mut back = MediaPlaylist::parse(&text).unwrap();
        for s in &mut back.segments {
            s.line = 0;
        }
        assert_eq!(back, p);
        assert_eq!(back.effective_keys()[1], Some(&identity));
        // A later line with a KEYFORMAT already given replaces it.
        let twice = text.replacen("skd://k/07", "skd://k/08", 1).replacen(
            "#EXTINF:6.000,",
            "#EXT-X-KEY:METHOD=SAMPLE-AES,URI=\"skd://k/09\",KEYFORMAT=\"com.apple.streamingkeydelivery\"\n#EXTINF:6.000,",
            1,
        );
        let back = MediaPlaylist::parse(&twice).unwrap();
        assert_eq!(back.segments[0].extra_keys.len(), 2);
        assert_eq!(
            back.segments[0].extra_keys[1].uri.as_deref(),
            Some("skd://k/09")
        );
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
