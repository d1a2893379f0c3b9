//! `verify`: is a package what the contract says? Playlist grammar and RFC 8216
//! rules, every referenced file present, manifest sizes and hashes, and with
//! keys, every segment decrypting to MPEG-TS whose duration matches its EXTINF.
//! With a keyring (even one that cannot be opened) it also checks that every
//! segment uses the key generation in force and no revoked key.
//! Problems are collected as defects (exit 1), not raised as errors.
//! A package made with `--policy` has a `policy.json`, checked against the
//! manifest and the playlists: clear scenes unencrypted, protected scenes
//! encrypted, each scene's KIDs exactly those of its segments, and no KID
//! shared between scenes.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use shieldpack_core::crypto;
use shieldpack_core::error::{Error, Result};
use shieldpack_core::hls::{self, KeyMethod, MasterPlaylist, MediaPlaylist};
use shieldpack_core::keys::{Keyring, KeyringFile};
use shieldpack_core::manifest::resolved;
use shieldpack_core::manifest::{Manifest, SegmentRecord};
use shieldpack_core::progress::Progress;
use shieldpack_media::tsread;

/// Where verify gets content keys from, if anywhere.
pub enum Keys<'a> {
    None,
    Keyring(&'a Keyring),
    Dir(PathBuf),
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct Defect {
    pub file: String,
    pub message: String,
}

#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Report {
    pub ok: bool,
    pub defects: Vec<Defect>,
    pub playlists: usize,
    pub segments: usize,
    pub segments_decrypted: usize,
    pub video_frames: u64,
    pub duration: f64,
}

struct Checker {
    report: Report,
}

impl Checker {
    fn defect(&mut self, file: impl Into<String>, message: impl Into<String>) {
        self.report.defects.push(Defect {
            file: file.into(),
            message: message.into(),
        });
    }
}

fn read_text(path: &Path) -> std::result::Result<String, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read: {e}"))?;
    String::from_utf8(bytes).map_err(|_| "not UTF-8 text".to_string())
}

fn key_from_dir(dir: &Path, kid: &str) -> std::result::Result<Zeroizing<[u8; 16]>, String> {
    let path = dir.join(format!("{kid}.key"));
    let bytes = Zeroizing::new(
        std::fs::read(&path).map_err(|_| format!("no key file {}", path.display()))?,
    );
    if bytes.len() != 16 {
        return Err(format!(
            "{} holds {} bytes, not 16",
            path.display(),
            bytes.len()
        ));
    }
    let mut k = Zeroizing::new([0u8; 16]);
    k.copy_from_slice(&bytes);
    Ok(k)
}

/// policy.json against the manifest's segments and the playlists' keys.
fn check_policy(
    c: &mut Checker,
    r: &resolved::Resolved,
    m: &Manifest,
    encrypted_by_uri: &HashMap<String, bool>,
) {
    let f = resolved::FILE;
    let Some(rendition) = m.renditions.iter().find(|x| x.name == r.rendition) else {
        c.defect(
            f,
            format!(
                "names rendition '{}', which the manifest does not have",
                r.rendition
            ),
        );
        return;
    };
    if r.content_id != m.content_id {
        c.defect(
            f,
            format!(
                "is for content id '{}' but the package is '{}'",
                r.content_id, m.content_id
            ),
        );
    }
    let by_seq: HashMap<u64, &SegmentRecord> =
        rendition.segments.iter().map(|s| (s.sequence, s)).collect();
    // Which scene (or gap) each KID belongs to, to find keys spanning two.
    let mut kid_owner: HashMap<String, String> = HashMap::new();
    let spans = r
        .scenes
        .iter()
        .map(|s| (format!("scene '{}'", s.label), Some(s), s.span.as_ref()))
        .chain(
            r.gaps
                .iter()
                .enumerate()
                .map(|(i, g)| (format!("gap {}", i + 1), None, Some(g))),
        );
    let mut covered = 0u64;
    for (name, scene, span) in spans {
        let Some(span) = span else { continue };
        if span.first_sequence > span.last_sequence
            || span.last_sequence - span.first_sequence + 1 != span.segments
        {
            c.defect(
                f,
                format!(
                    "{name}: its sequence range {}..{} does not hold {} segments",
                    span.first_sequence, span.last_sequence, span.segments
                ),
            );
            continue;
        }
        covered += span.segments;
        let mut kids: Vec<String> = Vec::new();
        for seq in span.first_sequence..=span.last_sequence {
            let Some(seg) = by_seq.get(&seq) else {
                c.defect(f, format!("{name}: segment {seq} is not in the manifest"));
                continue;
            };
            let tag = seg.scene.as_ref().map(|t| t.label.as_str());
            let want = scene.map(|s| s.label.as_str());
            if tag != want {
                c.defect(
                    &seg.uri,
                    format!(
                        "belongs to {name} in policy.json but the manifest tags it {}",
                        tag.map(|t| format!("'{t}'"))
                            .unwrap_or("with no scene".into())
                    ),
                );
            }
            if let (Some(t), Some(s)) = (&seg.scene, scene) {
                if t.drm_level != s.drm_level || t.hdcp != s.hdcp {
                    c.defect(
                        &seg.uri,
                        format!(
                            "its scene tag's level or HDCP differs from {name}'s in policy.json"
                        ),
                    );
                }
            }
            let should_encrypt = scene.is_none_or(|s| s.drm_level.encrypted());
            match encrypted_by_uri.get(&seg.uri) {
                Some(&enc) if enc != should_encrypt => c.defect(
                    &seg.uri,
                    if should_encrypt {
                        format!(
                            "{name} is protected but the playlist leaves this segment unencrypted"
                        )
                    } else {
                        format!("{name} is clear but the playlist encrypts this segment")
                    },
                ),
                _ => {}
            }
            if let Some(k) = &seg.kid {
                if !kids.contains(k) {
                    kids.push(k.clone());
                }
                if let Some(other) = kid_owner.insert(k.clone(), name.clone()) {
                    if other != name {
                        c.defect(f, format!("KID {k} is used by both {other} and {name}: a key spans two scenes"));
                    }
                }
            }
        }
        if kids != span.kids {
            c.defect(
                f,
                format!(
                    "{name} lists KIDs {:?} but its segments use {:?}",
                    span.kids, kids
                ),
            );
        }
    }
    if covered != rendition.segments.len() as u64 {
        c.defect(
            f,
            format!(
                "its scenes and gaps cover {covered} of the {} segments",
                rendition.segments.len()
            ),
        );
    }
}

/// Checks the package in `dir`; with `Keys::Keyring`, also its key generations
/// and revocations against that keyring.
pub fn verify(dir: &Path, keys: &Keys, progress: &dyn Progress) -> Result<Report> {
    let state = match keys {
        Keys::Keyring(kr) => Some(&kr.file),
        _ => None,
    };
    verify_with(dir, keys, state, progress)
}

/// Checks the package in `dir`, decrypting with `keys`, and when `keyring` is
/// given (no identity needed) flags segments whose key is revoked or no longer
/// the generation in force.
pub fn verify_with(
    dir: &Path,
    keys: &Keys,
    keyring: Option<&KeyringFile>,
    progress: &dyn Progress,
) -> Result<Report> {
    if !dir.is_dir() {
        return Err(Error::invalid_file(
            dir,
            "not a folder",
            "pass the OUTDIR that `shieldpack package` wrote",
        ));
    }
    let mut c = Checker {
        report: Report::default(),
    };
    let manifest = match Manifest::load(dir) {
        Ok(m) => Some(m),
        Err(e) => {
            c.defect("manifest.json", e.to_string());
            None
        }
    };
    if let (Some(kf), Some(m)) = (keyring, &manifest) {
        if m.keyring_fingerprint
            .as_deref()
            .is_some_and(|f| f != kf.fingerprint)
        {
            c.defect(
                "manifest.json",
                format!(
                    "made with keyring {} but verified with {}",
                    m.keyring_fingerprint.as_deref().unwrap_or("?"),
                    kf.fingerprint
                ),
            );
        } else {
            let st = kf.content(&m.content_id);
            for r in m.segments().filter(|r| r.kid.is_some()) {
                let current = st.generation_for(r.period);
                if st.is_revoked(r.period, r.generation) {
                    c.defect(
                        &r.uri,
                        format!(
                            "uses the revoked key of period {} generation {} (KID {})",
                            r.period,
                            r.generation,
                            r.kid.as_deref().unwrap_or("")
                        ),
                    );
                } else if r.generation != current {
                    c.defect(
                        &r.uri,
                        format!(
                            "uses key generation {} of period {}, but generation {current} is current: run `shieldpack rekey`",
                            r.generation, r.period
                        ),
                    );
                }
            }
        }
    }
    let records: HashMap<&str, &SegmentRecord> = manifest
        .iter()
        .flat_map(|m| m.segments())
        .map(|s| (s.uri.as_str(), s))
        .collect();

    let master_path = dir.join("master.m3u8");
    let master = match read_text(&master_path)
        .map_err(|e| e.to_string())
        .and_then(|t| MasterPlaylist::parse(&t).map_err(|e| e.to_string()))
    {
        Ok(m) => m,
        Err(e) => {
            c.defect("master.m3u8", e);
            c.report.ok = false;
            return Ok(c.report);
        }
    };
    c.report.playlists += 1;
    for problem in hls::rules::check_master(&master) {
        c.defect("master.m3u8", problem);
    }
    let total: usize = manifest.as_ref().map(|m| m.segments().count()).unwrap_or(0);
    progress.set_length(total.max(1) as u64);
    let mut seen = 0usize;
    let mut listed = std::collections::HashSet::new();
    // Whether the playlist encrypts each segment, by URI, for the policy check.
    let mut encrypted_by_uri: HashMap<String, bool> = HashMap::new();

    for variant in &master.variants {
        let rel = variant.uri.clone();
        let ppath = dir.join(&rel);
        let base = Path::new(&rel)
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_default();
        let media = match read_text(&ppath)
            .and_then(|t| MediaPlaylist::parse(&t).map_err(|e| e.to_string()))
        {
            Ok(p) => p,
            Err(e) => {
                c.defect(&rel, e);
                continue;
            }
        };
        c.report.playlists += 1;
        for problem in hls::rules::check_media(&media) {
            c.defect(&rel, problem);
        }
        let keys_in_force = media.effective_keys();
        for (i, seg) in media.segments.iter().enumerate() {
            shieldpack_core::interrupt::check()?;
            let uri = base.join(&seg.uri).to_string_lossy().into_owned();
            listed.insert(uri.clone());
            c.report.segments += 1;
            c.report.duration += seg.duration;
            let data = match std::fs::read(dir.join(&uri)) {
                Ok(d) => d,
                Err(_) => {
                    c.defect(&uri, format!("missing (listed at {rel} line {})", seg.line));
                    continue;
                }
            };
            let record = records.get(uri.as_str()).copied();
            match record {
                None if manifest.is_some() => c.defect(&uri, "not listed in manifest.json"),
                None => {}
                Some(r) => {
                    if r.size != data.len() as u64 {
                        c.defect(
                            &uri,
                            format!("size {} differs from the manifest's {}", data.len(), r.size),
                        );
                    } else if r.sha256 != hex::encode(Sha256::digest(&data)) {
                        c.defect(
                            &uri,
                            "SHA-256 differs from the manifest's: the file was changed or damaged",
                        );
                    }
                    if (r.duration - seg.duration).abs() > 0.0015 {
                        c.defect(
                            &uri,
                            format!(
                                "EXTINF {:.3} differs from the manifest's {:.3}",
                                seg.duration, r.duration
                            ),
                        );
                    }
                }
            }
            let key = keys_in_force[i];
            let encrypted = key.is_some_and(|k| k.method == KeyMethod::Aes128);
            encrypted_by_uri.insert(uri.clone(), encrypted);
            if let (Some(r), Some(k)) = (record, key) {
                if encrypted != r.kid.is_some() {
                    c.defect(
                        &uri,
                        "the playlist and the manifest disagree on whether it is encrypted",
                    );
                }
                if encrypted && k.iv.map(hex::encode) != r.iv {
                    c.defect(&uri, "the playlist's IV differs from the manifest's");
                }
            }
            if matches!(keys, Keys::None) && encrypted {
                continue;
            }
            let plain = if encrypted {
                let Some(r) = record else {
                    c.defect(&uri, "cannot find its KID without a manifest entry");
                    continue;
                };
                let kid = r.kid.clone().unwrap_or_default();
                let key_bytes = match keys {
                    Keys::Keyring(kr) => {
                        let Some(m) = &manifest else { continue };
                        let derived = hex::encode(kr.kid(&m.content_id, r.generation, r.period));
                        if derived != kid {
                            c.defect(
                                &uri,
                                format!(
                                    "KID {kid} is not the keyring's for period {} generation {}",
                                    r.period, r.generation
                                ),
                            );
                            continue;
                        }
                        kr.content_key(&m.content_id, r.generation, r.period)
                    }
                    Keys::Dir(d) => match key_from_dir(d, &kid) {
                        Ok(k) => k,
                        Err(e) => {
                            c.defect(&uri, e);
                            continue;
                        }
                    },
                    Keys::None => unreachable!("skipped above"),
                };
                let iv = key
                    .and_then(|k| k.iv)
                    .unwrap_or_else(|| crypto::sequence_iv(media.sequence_of(i)));
                match crypto::decrypt(&data, &key_bytes, &iv) {
                    Some(p) => p,
                    None => {
                        c.defect(&uri, format!("does not decrypt with key {kid} (bad padding: wrong key, IV or damaged data)"));
                        continue;
                    }
                }
            } else {
                data
            };
            match tsread::analyze(&plain) {
                Err(e) => c.defect(&uri, format!("decrypted data is not valid MPEG-TS: {e}")),
                Ok(ts) => {
                    c.report.segments_decrypted += 1;
                    c.report.video_frames += ts.video_frames;
                    let frame = if ts.video_frames > 1 {
                        ts.video_duration / ts.video_frames as f64
                    } else {
                        0.04
                    };
                    if (ts.video_duration - seg.duration).abs() > 0.02 + frame / 2.0 {
                        c.defect(
                            &uri,
                            format!(
                                "its video lasts {:.3}s but EXTINF says {:.3}s",
                                ts.video_duration, seg.duration
                            ),
                        );
                    }
                }
            }
            seen += 1;
            progress.set_position(seen as u64);
        }
    }
    for uri in records.keys() {
        if !listed.contains(*uri) {
            c.defect(*uri, "listed in manifest.json but in no playlist");
        }
    }
    match resolved::Resolved::load(dir) {
        Err(e) => c.defect(resolved::FILE, e.to_string()),
        Ok(None) => {}
        Ok(Some(r)) => match &manifest {
            None => c.defect(resolved::FILE, "cannot be checked without manifest.json"),
            Some(m) => check_policy(&mut c, &r, m, &encrypted_by_uri),
        },
    }
    c.report.defects.sort_by(|a, b| a.file.cmp(&b.file));
    c.report.ok = c.report.defects.is_empty();
    Ok(c.report)
}
