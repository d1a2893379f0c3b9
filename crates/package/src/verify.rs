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

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use shieldpack_core::crypto;
use shieldpack_core::error::{Error, Result};
use shieldpack_core::hls::{self, KeyMethod, MasterPlaylist, MediaPlaylist};
use shieldpack_core::keys::{Keyring, KeyringFile};
use shieldpack_core::manifest::resolved;
use shieldpack_core::manifest::{Manifest, SegmentRecord};
use shieldpack_core::progress::{NoProgress, Progress};
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
    check(dir, keys, keyring, progress, true)
}

/// The checks that need neither keys nor the segments' contents: playlist
/// grammar and RFC 8216 rules, every listed file present with the manifest's
/// size, EXTINF against the manifest's durations, and `policy.json`.
/// `package` runs them on what it staged before publishing it; it hashed the
/// segments as it wrote them, so reading them again would buy nothing.
pub fn structure(dir: &Path) -> Result<Vec<Defect>> {
    Ok(check(dir, &Keys::None, None, &NoProgress, false)?.defects)
}

/// `verify_with`, reading, hashing and measuring every segment only when
/// `contents`.
fn check(
    dir: &Path,
    keys: &Keys,
    keyring: Option<&KeyringFile>,
    progress: &dyn Progress,
    contents: bool,
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
        check_generations(&mut c, kf, m);
    }
    let Some(master) = read_master(&mut c, dir) else {
        c.report.ok = false;
        return Ok(c.report);
    };
    let total: usize = manifest.as_ref().map(|m| m.segments().count()).unwrap_or(0);
    progress.set_length(total.max(1) as u64);
    let mut walk = Walk::new(dir, keys, manifest.as_ref(), progress);
    walk.contents = contents;
    for variant in &master.variants {
        walk.playlist(&mut c, &variant.uri)?;
    }
    for uri in walk.records.keys() {
        if !walk.listed.contains(*uri) {
            c.defect(*uri, "listed in manifest.json but in no playlist");
        }
    }
    match resolved::Resolved::load(dir) {
        Err(e) => c.defect(resolved::FILE, e.to_string()),
        Ok(None) => {}
        Ok(Some(r)) => match &manifest {
            None => c.defect(resolved::FILE, "cannot be checked without manifest.json"),
            Some(m) => check_policy(&mut c, &r, m, &walk.encrypted_by_uri),
        },
    }
    c.report.defects.sort_by(|a, b| a.file.cmp(&b.file));
    c.report.ok = c.report.defects.is_empty();
    Ok(c.report)
}

/// Every keyed segment against the keyring's state: not revoked, and of the
/// generation in force. Only when the package was made with this keyring;
/// otherwise that mismatch is the one defect.
fn check_generations(c: &mut Checker, kf: &KeyringFile, m: &Manifest) {
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
        return;
    }
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

/// master.m3u8, parsed and checked against the rules; `None` when it cannot
/// be read or parsed, which leaves nothing else to find.
fn read_master(c: &mut Checker, dir: &Path) -> Option<MasterPlaylist> {
    let master = match read_text(&dir.join("master.m3u8"))
        .and_then(|t| MasterPlaylist::parse(&t).map_err(|e| e.to_string()))
    {
        Ok(m) => m,
        Err(e) => {
            c.defect("master.m3u8", e);
            return None;
        }
    };
    c.report.playlists += 1;
    for problem in hls::rules::check_master(&master) {
        c.defect("master.m3u8", problem);
    }
    Some(master)
}

/// The walk over every media playlist's segments: what each is checked
/// against, and what it leaves for the checks after it.
struct Walk<'a> {
    dir: &'a Path,
    keys: &'a Keys<'a>,
    /// `None` when manifest.json could not be loaded (already a defect).
    manifest: Option<&'a Manifest>,
    /// The manifest's segments by URI.
    records: HashMap<&'a str, &'a SegmentRecord>,
    progress: &'a dyn Progress,
    /// Every segment URI some playlist lists.
    listed: HashSet<String>,
    /// Whether the playlist encrypts each segment, by URI, for the policy check.
    encrypted_by_uri: HashMap<String, bool>,
    /// Segments that got as far as being measured, for `progress`.
    seen: usize,
    /// Whether segments are read (hashed, and measured when clear or keys
    /// are given), or only their sizes looked at.
    contents: bool,
}

impl<'a> Walk<'a> {
    fn new(
        dir: &'a Path,
        keys: &'a Keys<'a>,
        manifest: Option<&'a Manifest>,
        progress: &'a dyn Progress,
    ) -> Self {
        let records = manifest
            .into_iter()
            .flat_map(|m| m.segments())
            .map(|s| (s.uri.as_str(), s))
            .collect();
        Walk {
            dir,
            keys,
            manifest,
            records,
            progress,
            listed: HashSet::new(),
            encrypted_by_uri: HashMap::new(),
            seen: 0,
            contents: true,
        }
    }

    /// The media playlist at `rel` (relative to the package): its grammar
    /// and rules, then each of its segments.
    fn playlist(&mut self, c: &mut Checker, rel: &str) -> Result<()> {
        let media = match read_text(&self.dir.join(rel))
            .and_then(|t| MediaPlaylist::parse(&t).map_err(|e| e.to_string()))
        {
            Ok(p) => p,
            Err(e) => {
                c.defect(rel, e);
                return Ok(());
            }
        };
        c.report.playlists += 1;
        for problem in hls::rules::check_media(&media) {
            c.defect(rel, problem);
        }
        // Segment URIs are relative to the playlist.
        let base = Path::new(rel)
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_default();
        let keys_in_force = media.effective_keys();
        for (i, seg) in media.segments.iter().enumerate() {
            shieldpack_core::interrupt::check()?;
            let uri = base.join(&seg.uri).to_string_lossy().into_owned();
            let key = keys_in_force[i];
            self.segment(c, rel, &uri, seg, key, media.sequence_of(i));
        }
        if let Some(m) = self.manifest {
            // Each EXTINF and the title's duration are rounded to the
            // millisecond on their own.
            let sum: f64 = media.segments.iter().map(|s| s.duration).sum();
            let slack = 0.001 * (media.segments.len() + 1) as f64;
            if (sum - m.source.duration).abs() > slack {
                c.defect(
                    rel,
                    format!(
                        "its EXTINFs add up to {sum:.3}s but the manifest says the title lasts {:.3}s",
                        m.source.duration
                    ),
                );
            }
        }
        Ok(())
    }

    /// One segment, listed at `rel` under `key` with media sequence number
    /// `sequence`: the file against the manifest, and with keys, its content.
    fn segment(
        &mut self,
        c: &mut Checker,
        rel: &str,
        uri: &str,
        seg: &hls::MediaSegment,
        key: Option<&hls::Key>,
        sequence: u64,
    ) {
        self.listed.insert(uri.to_owned());
        c.report.segments += 1;
        c.report.duration += seg.duration;
        let path = self.dir.join(uri);
        let read = if self.contents {
            std::fs::read(&path).map(|d| (d.len() as u64, Some(d)))
        } else {
            std::fs::metadata(&path).map(|m| (m.len(), None))
        };
        let (size, data) = match read {
            Ok(r) => r,
            Err(_) => {
                c.defect(uri, format!("missing (listed at {rel} line {})", seg.line));
                return;
            }
        };
        let record = self.records.get(uri).copied();
        match record {
            None if self.manifest.is_some() => c.defect(uri, "not listed in manifest.json"),
            None => {}
            Some(r) => check_file(c, uri, size, data.as_deref(), seg.duration, r),
        }
        let encrypted = key.is_some_and(|k| k.method == KeyMethod::Aes128);
        self.encrypted_by_uri.insert(uri.to_owned(), encrypted);
        if let (Some(r), Some(k)) = (record, key) {
            if encrypted != r.kid.is_some() {
                c.defect(
                    uri,
                    "the playlist and the manifest disagree on whether it is encrypted",
                );
            }
            if encrypted && k.iv.map(hex::encode) != r.iv {
                c.defect(uri, "the playlist's IV differs from the manifest's");
            }
        }
        let Some(data) = data else {
            return;
        };
        if matches!(self.keys, Keys::None) && encrypted {
            return;
        }
        let plain = if encrypted {
            // Without an IV attribute the IV is the media sequence number.
            let iv = key
                .and_then(|k| k.iv)
                .unwrap_or_else(|| crypto::sequence_iv(sequence));
            let Some(p) = self.decrypt(c, uri, &data, record, &iv) else {
                return;
            };
            p
        } else {
            data
        };
        measure(c, uri, &plain, seg.duration);
        self.seen += 1;
        self.progress.set_position(self.seen as u64);
    }

    /// An encrypted segment's plaintext, with the key its manifest entry's
    /// KID names; `None` once a defect says why not.
    fn decrypt(
        &self,
        c: &mut Checker,
        uri: &str,
        data: &[u8],
        record: Option<&SegmentRecord>,
        iv: &[u8; 16],
    ) -> Option<Vec<u8>> {
        let Some(r) = record else {
            c.defect(uri, "cannot find its KID without a manifest entry");
            return None;
        };
        let kid = r.kid.clone().unwrap_or_default();
        let key_bytes = match self.keys {
            Keys::Keyring(kr) => {
                // A record comes from the manifest, so it is there.
                let m = self.manifest?;
                let derived = hex::encode(kr.kid(&m.content_id, r.generation, r.period));
                if derived != kid {
                    c.defect(
                        uri,
                        format!(
                            "KID {kid} is not the keyring's for period {} generation {}",
                            r.period, r.generation
                        ),
                    );
                    return None;
                }
                kr.content_key(&m.content_id, r.generation, r.period)
            }
            Keys::Dir(d) => match key_from_dir(d, &kid) {
                Ok(k) => k,
                Err(e) => {
                    c.defect(uri, e);
                    return None;
                }
            },
            Keys::None => unreachable!("`segment` skips encrypted segments without keys"),
        };
        match crypto::decrypt(data, &key_bytes, iv) {
            Some(p) => Some(p),
            None => {
                c.defect(uri, format!("does not decrypt with key {kid} (bad padding: wrong key, IV or damaged data)"));
                None
            }
        }
    }
}

/// A segment file of `size` bytes against its manifest entry: size, then
/// (when the size matches and the contents were read) SHA-256, and the
/// playlist's EXTINF against the recorded duration.
fn check_file(
    c: &mut Checker,
    uri: &str,
    size: u64,
    data: Option<&[u8]>,
    extinf: f64,
    r: &SegmentRecord,
) {
    if r.size != size {
        c.defect(
            uri,
            format!("size {size} differs from the manifest's {}", r.size),
        );
    } else if data.is_some_and(|d| r.sha256 != hex::encode(Sha256::digest(d))) {
        c.defect(
            uri,
            "SHA-256 differs from the manifest's: the file was changed or damaged",
        );
    }
    if (r.duration - extinf).abs() > 0.0015 {
        c.defect(
            uri,
            format!(
                "EXTINF {:.3} differs from the manifest's {:.3}",
                extinf, r.duration
            ),
        );
    }
}

/// A segment's plaintext as MPEG-TS: its video frames counted, and its video's
/// length against its EXTINF, within half a frame and 20 ms.
fn measure(c: &mut Checker, uri: &str, plain: &[u8], extinf: f64) {
    match tsread::analyze(plain) {
        Err(e) => c.defect(uri, format!("decrypted data is not valid MPEG-TS: {e}")),
        Ok(ts) => {
            c.report.segments_decrypted += 1;
            c.report.video_frames += ts.video_frames;
            // With one frame or none there is no interval to measure: take
            // 25 fps's.
            let frame = if ts.video_frames > 1 {
                ts.video_duration / ts.video_frames as f64
            } else {
                0.04
            };
            if (ts.video_duration - extinf).abs() > 0.02 + frame / 2.0 {
                c.defect(
                    uri,
                    format!(
                        "its video lasts {:.3}s but EXTINF says {:.3}s",
                        ts.video_duration, extinf
                    ),
                );
            }
        }
    }
}
