//! Per-session playlists over an A/B package: the package's own playlist
//! (which lists variant a) with every segment URI switched to the variant the
//! session's codeword picks, every key line carrying that variant's explicit
//! IV, and, when asked, every segment and key URI signed.

use std::path::Path;

use shieldpack_core::error::{Error, Result};
use shieldpack_core::hls::{Key, MasterPlaylist, MediaPlaylist};
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
    /// Every rendition's media playlist, in manifest order, when the package
    /// has several (`--ladder`): sessions then get a master playlist too.
    pub all: Vec<MediaPlaylist>,
    /// The package's master playlist, with several renditions.
    pub master: Option<MasterPlaylist>,
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
        let playlist = load_playlist(dir, r)?;
        let (all, master) = if manifest.renditions.len() > 1 {
            let all = manifest
                .renditions
                .iter()
                .map(|r| load_playlist(dir, r))
                .collect::<Result<Vec<_>>>()?;
            let path = dir.join("master.m3u8");
            let text = read_text(&path)?;
            let master = MasterPlaylist::parse(&text).map_err(|e| {
                Error::invalid_file(
                    &path,
                    format!("invalid master playlist: {e}"),
                    "package the title again",
                )
            })?;
            (all, Some(master))
        } else {
            (Vec::new(), None)
        };
        Ok(AbPackage {
            manifest,
            rendition,
            playlist,
            all,
            master,
        })
    }

    pub fn rendition(&self) -> &Rendition {
        &self.manifest.renditions[self.rendition]
    }

    pub fn segments(&self) -> usize {
        self.playlist.segments.len()
    }

    /// The playlist of session `id` for the package's (first) A/B rendition;
    /// URIs are `base` + the path in the package.
    pub fn session_playlist(
        &self,
        code: &CodeKey,
        id: &str,
        base: &str,
        sign: Option<&Signing>,
        session: &str,
    ) -> Result<String> {
        self.media(
            self.rendition,
            &self.playlist,
            code,
            id,
            base,
            sign,
            session,
        )
    }

    /// The files of session `id`, as (path relative to the output folder,
    /// text): `ID.m3u8`, the media playlist, when the package has one
    /// rendition; else `ID.m3u8` a master playlist (the package's, without
    /// I-frame playlists, which list variant a) over `ID/NAME.m3u8`, one media
    /// playlist per rendition. Every video rendition follows the one
    /// codeword, so a player switching renditions keeps the session's
    /// variant of every segment; audio renditions have no variants.
    pub fn session_files(
        &self,
        code: &CodeKey,
        id: &str,
        base: &str,
        sign: Option<&Signing>,
        session: &str,
    ) -> Result<Vec<(String, String)>> {
        let Some(master) = &self.master else {
            return Ok(vec![(
                format!("{id}.m3u8"),
                self.session_playlist(code, id, base, sign, session)?,
            )]);
        };
        // Below ID/, media playlists sit one folder down from ID.m3u8 and
        // their URIs are absolute or relative to the output folder's parent:
        // `base` is relative to the output folder, so one more "../".
        let inner_base = if base.starts_with('/') || base.contains("://") {
            base.to_string()
        } else {
            format!("../{base}")
        };
        let mut files = Vec::new();
        let mut master = master.clone();
        for (k, r) in self.manifest.renditions.iter().enumerate() {
            let name = format!("{id}/{}.m3u8", r.name);
            let text = self.media(k, &self.all[k], code, id, &inner_base, sign, session)?;
            for v in master.variants.iter_mut().filter(|v| v.uri == r.playlist) {
                v.uri = name.clone();
            }
            for m in master.media.iter_mut() {
                if m.uri.as_deref() == Some(r.playlist.as_str()) {
                    m.uri = Some(name.clone());
                }
            }
            files.push((name, text));
        }
        files.insert(0, (format!("{id}.m3u8"), master.write()));
        Ok(files)
    }

    /// Session `id`'s media playlist of rendition `k`, whose package
    /// playlist is `playlist`.
    #[allow(clippy::too_many_arguments)]
    fn media(
        &self,
        k: usize,
        playlist: &MediaPlaylist,
        code: &CodeKey,
        id: &str,
        base: &str,
        sign: Option<&Signing>,
        session: &str,
    ) -> Result<String> {
        let rendition = &self.manifest.renditions[k];
        // The folder of the rendition's playlist, relative to the package ("" or "video/").
        let dir = match rendition.playlist.rsplit_once('/') {
            Some((d, _)) => format!("{d}/"),
            None => String::new(),
        };
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
        let keys: Vec<Option<Key>> = playlist
            .effective_keys()
            .into_iter()
            .map(|k| k.cloned())
            .collect();
        let mut out = playlist.clone();
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
            let rec = &rendition.segments[i];
            if rec.variants.is_empty() {
                // audio: one copy for every session
                seg.uri = signed(format!("{base}{}", rec.uri));
                seg.key = match key {
                    Some(mut k) if k.uri.is_some() && seg.key.is_some() => {
                        let u = k.uri.take().unwrap_or_default();
                        let abs = u.contains("://") || u.starts_with('/');
                        k.uri = Some(signed(if abs { u } else { format!("{base}{dir}{u}") }));
                        Some(k)
                    }
                    _ => seg.key.take(),
                };
                continue;
            }
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

fn read_text(path: &Path) -> Result<String> {
    let text = shieldpack_core::manifest::read(path)?;
    String::from_utf8(text).map_err(|_| {
        Error::invalid_file(path, "the playlist is not UTF-8", "package the title again")
    })
}

/// A rendition's media playlist, checked against the manifest's segments.
fn load_playlist(dir: &Path, r: &Rendition) -> Result<MediaPlaylist> {
    let path = dir.join(&r.playlist);
    let text = read_text(&path)?;
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
    Ok(playlist)
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
