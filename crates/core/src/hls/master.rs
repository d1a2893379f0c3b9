//! Multivariant ("master") playlists: one EXT-X-STREAM-INF per video
//! rendition, and an EXT-X-MEDIA per alternate audio rendition (RFC 8216
//! 4.3.4.1), which variants name by GROUP-ID in their AUDIO attribute.

use std::fmt::Write as _;

use super::{attr, body, err, ParseError};

#[derive(Debug, Clone, PartialEq)]
pub struct Variant {
    /// Peak segment bit rate, bits per second (RFC 8216 4.3.4.2).
    pub bandwidth: u64,
    pub average_bandwidth: Option<u64>,
    pub resolution: Option<(u32, u32)>,
    pub codecs: Option<String>,
    pub frame_rate: Option<f64>,
    /// The GROUP-ID of the alternate audio renditions it plays with.
    pub audio: Option<String>,
    /// The GROUP-ID of its subtitle renditions.
    pub subtitles: Option<String>,
    pub uri: String,
}

/// One EXT-X-MEDIA rendition (alternate audio, TYPE=AUDIO, or WebVTT
/// subtitles, TYPE=SUBTITLES).
#[derive(Debug, Clone, PartialEq)]
pub struct Media {
    /// `AUDIO` (or another TYPE when parsed).
    pub kind: String,
    pub group_id: String,
    /// An RFC 5646 tag (`en`, `fr`...).
    pub language: Option<String>,
    pub name: String,
    pub default: bool,
    pub autoselect: bool,
    /// Audio channels, e.g. `2` or `6`.
    pub channels: Option<String>,
    pub uri: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct MasterPlaylist {
    pub version: u32,
    pub independent_segments: bool,
    pub media: Vec<Media>,
    pub variants: Vec<Variant>,
}

impl MasterPlaylist {
    pub fn write(&self) -> String {
        let mut o = String::new();
        o.push_str("#EXTM3U\n");
        let _ = writeln!(o, "#EXT-X-VERSION:{}", self.version);
        if self.independent_segments {
            o.push_str("#EXT-X-INDEPENDENT-SEGMENTS\n");
        }
        for m in &self.media {
            let _ = write!(
                o,
                "#EXT-X-MEDIA:TYPE={},GROUP-ID={}",
                m.kind,
                attr::quote(&m.group_id)
            );
            if let Some(l) = &m.language {
                let _ = write!(o, ",LANGUAGE={}", attr::quote(l));
            }
            let _ = write!(o, ",NAME={}", attr::quote(&m.name));
            let yes = |b: bool| if b { "YES" } else { "NO" };
            let _ = write!(
                o,
                ",DEFAULT={},AUTOSELECT={}",
                yes(m.default),
                yes(m.autoselect)
            );
            if let Some(c) = &m.channels {
                let _ = write!(o, ",CHANNELS={}", attr::quote(c));
            }
            if let Some(u) = &m.uri {
                let _ = write!(o, ",URI={}", attr::quote(u));
            }
            o.push('\n');
        }
        for v in &self.variants {
            let _ = write!(o, "#EXT-X-STREAM-INF:BANDWIDTH={}", v.bandwidth);
            if let Some(a) = v.average_bandwidth {
                let _ = write!(o, ",AVERAGE-BANDWIDTH={a}");
            }
            if let Some((w, h)) = v.resolution {
                let _ = write!(o, ",RESOLUTION={w}x{h}");
            }
            if let Some(f) = v.frame_rate {
                let _ = write!(o, ",FRAME-RATE={f:.3}");
            }
            if let Some(c) = &v.codecs {
                let _ = write!(o, ",CODECS={}", attr::quote(c));
            }
            if let Some(a) = &v.audio {
                let _ = write!(o, ",AUDIO={}", attr::quote(a));
            }
            if let Some(s) = &v.subtitles {
                let _ = write!(o, ",SUBTITLES={}", attr::quote(s));
            }
            o.push('\n');
            o.push_str(&v.uri);
            o.push('\n');
        }
        o
    }

    pub fn parse(text: &str) -> Result<Self, ParseError> {
        let it = body(text)?;
        let mut p = MasterPlaylist {
            version: 1,
            independent_segments: false,
            media: Vec::new(),
            variants: Vec::new(),
        };
        let mut pending: Option<Variant> = None;
        for (n, line) in it {
            if !line.starts_with('#') {
                let mut v = pending
                    .take()
                    .ok_or_else(|| err(n, format!("URI '{line}' without #EXT-X-STREAM-INF")))?;
                v.uri = line.to_string();
                p.variants.push(v);
                continue;
            }
            let (tag, value) = line.split_once(':').unwrap_or((line, ""));
            match tag {
                "#EXT-X-VERSION" => {
                    p.version = value
                        .parse()
                        .map_err(|_| err(n, "EXT-X-VERSION must be an integer"))?
                }
                "#EXT-X-INDEPENDENT-SEGMENTS" => p.independent_segments = true,
                "#EXT-X-MEDIA" => p.media.push(parse_media(value).map_err(|m| err(n, m))?),
                "#EXT-X-STREAM-INF" => {
                    if pending.is_some() {
                        return Err(err(
                            n,
                            "two #EXT-X-STREAM-INF tags without a URI between them",
                        ));
                    }
                    pending = Some(parse_stream_inf(value).map_err(|m| err(n, m))?);
                }
                "#EXTINF" | "#EXT-X-TARGETDURATION" | "#EXT-X-KEY" | "#EXT-X-ENDLIST" => {
                    return Err(err(
                        n,
                        format!("{tag} belongs in a media playlist, not a multivariant playlist"),
                    ))
                }
                _ => {}
            }
        }
        if pending.is_some() {
            return Err(err(
                text.lines().count(),
                "#EXT-X-STREAM-INF at the end without a URI",
            ));
        }
        Ok(p)
    }
}

fn parse_media(value: &str) -> Result<Media, String> {
    let a = attr::parse(value)?;
    let text = |name: &str| {
        attr::get(&a, name)
            .map(|v| attr::quoted(v).map(str::to_string))
            .transpose()
    };
    let yes = |name: &str| attr::get(&a, name) == Some("YES");
    Ok(Media {
        kind: attr::get(&a, "TYPE")
            .ok_or("EXT-X-MEDIA without TYPE")?
            .to_string(),
        group_id: text("GROUP-ID")?.ok_or("EXT-X-MEDIA without GROUP-ID")?,
        language: text("LANGUAGE")?,
        name: text("NAME")?.ok_or("EXT-X-MEDIA without NAME")?,
        default: yes("DEFAULT"),
        autoselect: yes("AUTOSELECT"),
        channels: text("CHANNELS")?,
        uri: text("URI")?,
    })
}

fn parse_stream_inf(value: &str) -> Result<Variant, String> {
    let a = attr::parse(value)?;
    let int = |name: &str| -> Result<Option<u64>, String> {
        attr::get(&a, name)
            .map(|v| {
                v.parse::<u64>()
                    .map_err(|_| format!("{name} must be an integer"))
            })
            .transpose()
    };
    let bandwidth = int("BANDWIDTH")?.ok_or("EXT-X-STREAM-INF without BANDWIDTH")?;
    let resolution = attr::get(&a, "RESOLUTION")
        .map(|r| {
            let (w, h) = r
                .split_once('x')
                .ok_or(format!("RESOLUTION {r} must be WIDTHxHEIGHT"))?;
            Ok::<_, String>((
                w.parse().map_err(|_| "bad RESOLUTION width")?,
                h.parse().map_err(|_| "bad RESOLUTION height")?,
            ))
        })
        .transpose()?;
    let frame_rate = attr::get(&a, "FRAME-RATE")
        .map(|f| {
            f.parse::<f64>()
                .map_err(|_| format!("FRAME-RATE {f} is not a number"))
        })
        .transpose()?;
    let codecs = attr::get(&a, "CODECS")
        .map(|c| attr::quoted(c).map(str::to_string))
        .transpose()?;
    Ok(Variant {
        bandwidth,
        average_bandwidth: int("AVERAGE-BANDWIDTH")?,
        resolution,
        codecs,
        frame_rate,
        audio: attr::get(&a, "AUDIO")
            .map(|c| attr::quoted(c).map(str::to_string))
            .transpose()?,
        subtitles: attr::get(&a, "SUBTITLES")
            .map(|c| attr::quoted(c).map(str::to_string))
            .transpose()?,
        uri: String::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let p = MasterPlaylist {
            version: 3,
            independent_segments: true,
            media: vec![Media {
                kind: "AUDIO".into(),
                group_id: "audio".into(),
                language: Some("fr".into()),
                name: "Français".into(),
                default: true,
                autoselect: true,
                channels: Some("2".into()),
                uri: Some("audio-fra/index.m3u8".into()),
            }],
            variants: vec![Variant {
                bandwidth: 2_100_000,
                average_bandwidth: Some(1_800_000),
                resolution: Some((1280, 720)),
                codecs: Some("avc1.64001f,mp4a.40.2".into()),
                frame_rate: Some(24.0),
                audio: Some("audio".into()),
                subtitles: Some("subs".into()),
                uri: "720p/index.m3u8".into(),
            }],
        };
        assert_eq!(MasterPlaylist::parse(&p.write()).unwrap(), p);
        assert!(
            MasterPlaylist::parse("#EXTM3U\n#EXT-X-STREAM-INF:RESOLUTION=1x1\na.m3u8\n").is_err()
        );
    }
}
