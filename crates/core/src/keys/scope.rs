//! Key scope (`--key-scope period|track-type`): whether one key covers every
//! rendition of a period, or each track type of the period has its own, as
//! DRM key servers issue them (a player cleared for SD only must not hold
//! the HD key).
//!
//! Track types follow the pixel bands of the DASH-IF CPIX usage-rule
//! examples (DASH-IF "Content Protection Information Exchange Format",
//! ContentKeyUsageRule / VideoFilter): SD up to 442,368 pixels (768x576),
//! HD up to 2,073,600 (1920x1080), UHD above; audio has an AudioFilter of its
//! own. So a 1280x720 rendition is HD and a 640x360 one SD, and a CPIX
//! document written with these bands hands each rendition back its key.

use serde::{Deserialize, Serialize};

/// Most pixels of an SD rendition (768x576).
pub const SD_MAX_PIXELS: u64 = 768 * 576;
/// Most pixels of an HD rendition (1920x1080).
pub const HD_MAX_PIXELS: u64 = 1920 * 1080;

/// How many keys a period has.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum KeyScope {
    /// One key per period for the whole title (what every package before
    /// `--key-scope` has).
    #[default]
    Period,
    /// One key per period and track type.
    TrackType,
}

impl KeyScope {
    pub fn is_period(&self) -> bool {
        *self == KeyScope::Period
    }

    pub fn as_str(&self) -> &'static str {
        match self {
            KeyScope::Period => "period",
            KeyScope::TrackType => "track-type",
        }
    }
}

/// The track types keys are issued for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum TrackType {
    Audio,
    Sd,
    Hd,
    Uhd,
}

impl TrackType {
    pub const ALL: [TrackType; 4] = [
        TrackType::Audio,
        TrackType::Sd,
        TrackType::Hd,
        TrackType::Uhd,
    ];

    /// The track type of a video rendition of `width` x `height`.
    pub fn of_video(width: u32, height: u32) -> TrackType {
        TrackType::of_video_pixels(u64::from(width) * u64::from(height))
    }

    /// The track type of a video rendition of `pixels` pixels a picture.
    pub fn of_video_pixels(pixels: u64) -> TrackType {
        if pixels <= SD_MAX_PIXELS {
            TrackType::Sd
        } else if pixels <= HD_MAX_PIXELS {
            TrackType::Hd
        } else {
            TrackType::Uhd
        }
    }

    /// As written in manifest.json, CPIX intended track types and key file names.
    pub fn as_str(&self) -> &'static str {
        match self {
            TrackType::Audio => "AUDIO",
            TrackType::Sd => "SD",
            TrackType::Hd => "HD",
            TrackType::Uhd => "UHD",
        }
    }

    pub fn parse(s: &str) -> Option<TrackType> {
        TrackType::ALL
            .into_iter()
            .find(|t| t.as_str().eq_ignore_ascii_case(s))
    }

    /// The CPIX VideoFilter pixel band (minPixels, maxPixels) of a video
    /// track type; None for audio.
    pub fn pixel_band(&self) -> Option<(u64, Option<u64>)> {
        match self {
            TrackType::Audio => None,
            TrackType::Sd => Some((0, Some(SD_MAX_PIXELS))),
            TrackType::Hd => Some((SD_MAX_PIXELS + 1, Some(HD_MAX_PIXELS))),
            TrackType::Uhd => Some((HD_MAX_PIXELS + 1, None)),
        }
    }
}

impl std::fmt::Display for TrackType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renditions_fall_in_the_cpix_pixel_bands() {
        assert_eq!(TrackType::of_video(640, 360), TrackType::Sd);
        assert_eq!(TrackType::of_video(768, 576), TrackType::Sd);
        assert_eq!(TrackType::of_video(1024, 576), TrackType::Hd);
        assert_eq!(TrackType::of_video(1280, 720), TrackType::Hd);
        assert_eq!(TrackType::of_video(1920, 1080), TrackType::Hd);
        assert_eq!(TrackType::of_video(3840, 2160), TrackType::Uhd);
        for t in TrackType::ALL {
            assert_eq!(TrackType::parse(t.as_str()), Some(t));
        }
        assert_eq!(TrackType::parse("4k"), None);
    }
}
