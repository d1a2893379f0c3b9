//! Per-session playlists over an A/B package: the package's own playlist
//! (which lists variant a) with every segment URI switched to the variant the
//! session's codeword picks, every key line carrying that variant's explicit
//! IV, and, when asked, every segment and key URI signed.

use std::path::Path;

use shieldpack_core::error::{Error, Result};
use shieldpack_core::hls::{Key, MediaPlaylist};
use shieldpack_core::manifest::{Manifest, Rendition};

use crate::code::{CodeKey, Variant};
use crate::token::{self, Grant, SignKey, TokenKind};

/// How URIs are signed.
pub struct Signing<'a> {
    pub key: &'a SignKey,
    pub kind: TokenKind,
    pub start: u64,
    pub exp: u64,
}

/// An A/B package: its manifest, its one rendition and the base playlist.
pub struct AbPackage {
    pub manifest: Manifest,
    pub rendition: usize,
    pub playlist: MediaPlaylist,
}

impl AbPackage {
    pub fn load(dir: &Path) -> Result<Self> {
        let manifest = Manifest::load(dir)?;
        let not_ab = || {
            Error::invalid_file(
                dir.join("manifest.json"),
                "not an A/B package: its segments have no variants",
                "package the title with `shieldpack package --ab-watermark WMKEY`",
            )
        };
        let rendition = manifest
            .renditions
            .iter()
            .position(|r| {
                !r.segments.is_empty() && r.segments.iter().all(|s| s.variants.len() == 2)
            })
            .ok_or_else(not_ab)?;
        let r = &manifest.renditions[rendition];
        let path = dir.join(&r.playlist);
        let text = shieldpack_core::manifest::read(&path)?;
        let text = String::from_utf8(text).map_err(|_| {
            Error::invalid_file(
                &path,
                "the playlist is not UTF-8",
                "package the title again",
            )
        })?;
        let playlist = MediaPlaylist::parse(&text).map_err(|e| {
            Error::invalid_file(
                &path,
                format!("invalid playlist: {e}"),
                "package the title again",
            )
        })?;
        if playlist.segments.len() != r.segments.len() {
            return Err(Error::invalid_file(
                &path,
                format!(
                    "the playlist lists {} segments, the manifest {}",
                    playlist.segments.len(),
                    r.segments.len()
                ),
                "package the title again",
            ));
        }
        Ok(AbPackage {
            manifest,
            rendition,
            playlist,
        })
    }

    pub fn rendition(&self) -> &Rendition {
        &self.manifest.renditions[self.rendition]
    }

    pub fn segments(&self) -> usize {
        self.playlist.segments.len()
    }

    /// The folder of the rendition's playlist, relative to the package ("" or "video/").
    fn playlist_dir(&self) -> String {
        match self.rendition().playlist.rsplit_once('/') {
            Some((d, _)) => format!("{d}/"),
            None => String::new(),
        }
    }

    /// The playlist of session `id`; URIs are `base` + the path in the package.
    pub fn session_playlist(
        &self,
        code: &CodeKey,
        id: &str,
        base: &str,
        sign: Option<&Signing>,
        session: &str,
    ) -> Result<String> {
        let dir = self.playlist_dir();
        let signed = |uri: String| -> String {
            match sign {
                Some(s) => {
                    let path = token::url_path(&uri).0.to_string();
                    token::sign_uri(
                        &uri,
                        s.kind,
                        s.key,
                        &Grant {
                            path: &path,
                            start: s.start,
                            exp: s.exp,
                            session,
                        },
                    )
                }
                None => uri,
            }
        };
        let keys: Vec<Option<Key>> = self
            .playlist
            .effective_keys()
            .into_iter()
            .map(|k| k.cloned())
            .collect();
        let mut out = self.playlist.clone();
        // CMAF: the one init segment both variants share.
        if let Some(map) = out.map.take() {
            let abs = map.contains("://") || map.starts_with('/');
            out.map = Some(signed(if abs {
                map
            } else {
                format!("{base}{dir}{map}")
            }));
        }
        let mut cs = code.session(id);
        for (i, (seg, key)) in out.segments.iter_mut().zip(keys).enumerate() {
            let rec = &self.rendition().segments[i];
            let v = cs.variant_with(i as u64, code.threshold(i as u64));
            let var = rec
                .variants
                .iter()
                .find(|r| r.variant == v.as_str())
                .ok_or_else(|| {
                    Error::arg(
                        format!("segment {i} of the package has no variant {v}"),
                        "package the title again with --ab-watermark",
                    )
                })?;
            seg.uri = signed(format!("{base}{}", var.uri));
            // Common encryption (CMAF cenc/cbcs) keeps IVs in the segments:
            // the key lines stay where the package has them.
            let had_line = seg.key.is_some();
            seg.key = match key {
                Some(_) if var.iv.is_none() && !had_line => None,
                Some(mut k) if k.uri.is_some() => {
                    let u = k.uri.take().unwrap_or_default();
                    let abs = u.contains("://") || u.starts_with('/');
                    k.uri = Some(signed(if abs { u } else { format!("{base}{dir}{u}") }));
                    k.iv = match &var.iv {
                        Some(h) => {
                            let mut iv = [0u8; 16];
                            hex::decode_to_slice(h, &mut iv).map_err(|_| {
                                Error::arg(
                                    format!("segment {i}'s variant {v} has an invalid IV in manifest.json"),
                                    "package the title again",
                                )
                            })?;
                            Some(iv)
                        }
                        None => None,
                    };
                    Some(k)
                }
                // clear segments (METHOD=NONE) or none at all: as they were, on every segment
                other => other,
            };
        }
        out.version = out.version.max(out.required_version());
        Ok(out.write())
    }
}

/// The variant of a session for one segment of a package with `segments` segments.
pub fn variant_of(code: &CodeKey, id: &str, segment: u64, segments: usize) -> Result<Variant> {
    if segment >= segments as u64 {
        return Err(Error::arg(
            format!(
                "segment {segment} is past the package's last ({})",
                segments.saturating_sub(1)
            ),
            "segments are numbered from 0 in playlist order",
        ));
    }
    Ok(code.variant(id, segment))
}
