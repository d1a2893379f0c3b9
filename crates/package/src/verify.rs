//! `verify`: is a package what the contract says? Playlist grammar and RFC 8216
//! rules, every referenced file present, manifest sizes and hashes, and with
//! keys, every segment decrypting to MPEG-TS that opens with its tables (an SDT
//! or PAT whose CRC holds: `tsread`) and whose duration matches its EXTINF.
//! With a keyring (even one that cannot be opened) it also checks that every
//! segment uses the key generation in force and no revoked key.
//! Problems are collected as defects (exit 1), not raised as errors.
//! A package made with `--policy` has a `policy.json`, checked against the
//! manifest and the playlists: clear scenes unencrypted, protected scenes
//! encrypted, each scene's KIDs exactly those of its segments, and no KID
//! shared between scenes.
//!
//! The package is hostile until proven otherwise: every path it names (in
//! playlists, the manifest, and policy.json) must be a relative path that
//! stays inside the package folder, through no symbolic link pointing out,
//! and name a regular file; anything else is a defect, reported without
//! opening it. What it reads is capped (`MAX_*` below), every manifest field
//! is checked against its type and range, key URIs are compared with the
//! manifest's template (and never opened or fetched), and every loop polls
//! `interrupt::check()`, so SIGINT and SIGTERM stop it.

use std::collections::{HashMap, HashSet};
use std::io::Read;
use std::path::{Component, Path, PathBuf};

use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use shieldpack_core::crypto;
use shieldpack_core::error::{Error, Result};
use shieldpack_core::fsutil::{self, CappedReadError};
use shieldpack_core::hls::{self, KeyMethod, MasterPlaylist, MediaPlaylist};
use shieldpack_core::interrupt;
use shieldpack_core::keys::{Keyring, KeyringFile};
use shieldpack_core::manifest::resolved;
use shieldpack_core::manifest::{self, Manifest, SegmentRecord};
use shieldpack_core::progress::{NoProgress, Progress};
use shieldpack_media::tsread;

mod ab;
mod pssh;

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

/// The largest playlist read (a 100,000-segment playlist with a key tag on
/// every segment is about 20 MiB).
pub const MAX_PLAYLIST_BYTES: u64 = 32 << 20;
/// The most segments one media playlist may list (about 55 hours of 2 s
/// segments); a longer one is a defect and its segments are not walked.
pub const MAX_PLAYLIST_SEGMENTS: usize = 100_000;
/// The most variants a master playlist may list.
pub const MAX_VARIANTS: usize = 1_000;
/// The largest segment read (10 s of 400 Mb/s video); the manifest's
/// recorded size caps each segment's read too.
pub const MAX_SEGMENT_BYTES: u64 = 512 << 20;
/// Media sequence numbers and key periods are below 2^32 (136 years of 1 s
/// segments), so no sum of them can overflow.
pub const MAX_SEQUENCE: u64 = 1 << 32;
/// The longest segment, in seconds.
pub const MAX_SEGMENT_SECONDS: f64 = 3600.0;
/// The longest title, in seconds (about 11.5 days).
pub const MAX_TITLE_SECONDS: f64 = 1e6;

/// Why a path the package names cannot be read as one of its files: the
/// message of a defect.
fn path_syntax(rel: &str) -> std::result::Result<(), String> {
    if rel.is_empty() {
        return Err("an empty path".into());
    }
    if rel.contains("://") {
        return Err(format!(
            "'{rel}' is a URL, not a file in the package: a package names its files by relative paths"
        ));
    }
    if rel.chars().any(char::is_control) {
        return Err(format!("{rel:?} has control characters"));
    }
    for comp in Path::new(rel).components() {
        match comp {
            Component::Normal(_) | Component::CurDir => {}
            Component::ParentDir => {
                return Err(format!(
                    "'{rel}' has a '..' segment: a package names only files inside it"
                ))
            }
            Component::RootDir | Component::Prefix(_) => {
                return Err(format!(
                    "'{rel}' is an absolute path: a package names only files inside it"
                ))
            }
        }
    }
    Ok(())
}

/// The real path of the regular file `rel` names inside the package whose
/// canonical folder is `root`, found without opening anything (lstat and
/// realpath only); or why it is not one, as a defect's message. `Ok(None)`:
/// it does not exist.
fn locate(root: &Path, rel: &str) -> std::result::Result<Option<PathBuf>, String> {
    path_syntax(rel)?;
    let joined = root.join(rel);
    let meta = match std::fs::symlink_metadata(&joined) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            // A folder on the way may still be a symlink out.
            return match joined.parent().and_then(|p| p.canonicalize().ok()) {
                Some(p) if !p.starts_with(root) => Err(format!(
                    "'{rel}' is in a folder that is a symbolic link out of the package"
                )),
                _ => Ok(None),
            };
        }
        Err(e) => return Err(format!("cannot be examined: {e}")),
    };
    let real = joined
        .canonicalize()
        .map_err(|_| format!("'{rel}' is a symbolic link to nothing"))?;
    if !real.starts_with(root) {
        let how = if meta.file_type().is_symlink() {
            "is a symbolic link pointing out of the package"
        } else {
            "is in a folder that is a symbolic link out of the package"
        };
        return Err(format!("'{rel}' {how}: not opened"));
    }
    let t = std::fs::symlink_metadata(&real)
        .map_err(|e| format!("cannot be examined: {e}"))?
        .file_type();
    if !t.is_file() {
        return Err(format!(
            "'{rel}' is a {}, not a regular file: not opened",
            fsutil::file_kind(t)
        ));
    }
    Ok(Some(real))
}

/// A text file of the package, at most `cap` bytes, as a defect's message on failure.
fn read_text(root: &Path, rel: &str, cap: u64) -> std::result::Result<String, String> {
    let path = locate(root, rel)?.ok_or_else(|| "missing".to_string())?;
    let bytes = fsutil::read_capped(&path, cap).map_err(|e| e.to_string())?;
    String::from_utf8(bytes).map_err(|_| "not UTF-8 text".to_string())
}

/// Whether `s` is `n` hex digits.
fn is_hex(s: &str, n: usize) -> bool {
    s.len() == n && s.bytes().all(|b| b.is_ascii_hexdigit())
}

fn key_from_dir(dir: &Path, kid: &str) -> std::result::Result<Zeroizing<[u8; 16]>, String> {
    if !is_hex(kid, 32) {
        return Err(format!(
            "KID '{kid}' is not 32 hex digits: no key file looked up"
        ));
    }
    let path = dir.join(format!("{kid}.key"));
    let bytes = Zeroizing::new(fsutil::read_capped(&path, 64).map_err(|e| match e {
        CappedReadError::Io(_) => format!("no key file {}", path.display()),
        e => format!("key file {} {e}", path.display()),
    })?);
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
) -> Result<()> {
    let f = resolved::FILE;
    let Some(rendition) = m.renditions.iter().find(|x| x.name == r.rendition) else {
        c.defect(
            f,
            format!(
                "names rendition '{}', which the manifest does not have",
                r.rendition
            ),
        );
        return Ok(());
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
        // A hostile file's range can be as long as u64 allows: it must hold
        // exactly its segment count, which must fit in the rendition.
        if span.first_sequence > span.last_sequence
            || (span.last_sequence - span.first_sequence).checked_add(1) != Some(span.segments)
            || span.segments > rendition.segments.len() as u64
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
        covered = covered.saturating_add(span.segments);
        let mut kids: Vec<String> = Vec::new();
        let mut kid_set: HashSet<&str> = HashSet::new();
        for seq in span.first_sequence..=span.last_sequence {
            interrupt::check()?;
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
                if kid_set.insert(k) {
                    kids.push(k.clone());
                }
                if let Some(other) = kid_owner.insert(k.clone(), name.clone()) {
                    if other != name {
                        c.defect(f, format!("KID {k} is used by both {other} and {name}: a key spans two scenes"));
                    }
                }
            }
        }
        // The other renditions' segments of the range (cut alike: the
        // multivariant check says when not): clear or encrypted as the
        // scene is, and their KIDs (a track type's own, under
        // `--key-scope track-type`) listed after the first's.
        let should_encrypt = scene.is_none_or(|s| s.drm_level.encrypted());
        let range = span.first_sequence..=span.last_sequence;
        let others = m
            .renditions
            .iter()
            .filter(|x| x.name != rendition.name && resolved::keyed(x));
        for seg in others.flat_map(|x| x.segments.iter().filter(|s| range.contains(&s.sequence))) {
            if encrypted_by_uri
                .get(&seg.uri)
                .is_some_and(|&enc| enc != should_encrypt)
            {
                c.defect(
                    &seg.uri,
                    format!(
                        "is {} but {name} is {}",
                        if should_encrypt { "clear" } else { "encrypted" },
                        if should_encrypt { "protected" } else { "clear" }
                    ),
                );
            }
            if let Some(k) = &seg.kid {
                if kid_set.insert(k) {
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
    Ok(())
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
    // Every path the package names must resolve under this.
    let root = dir.canonicalize().map_err(|e| Error::io(dir, e))?;
    let mut c = Checker {
        report: Report::default(),
    };
    let manifest = read_manifest(&mut c, &root);
    if let Some(m) = &manifest {
        check_manifest(&mut c, &root, m)?;
        for (file, msg) in crate::multivariant::alignment_defects(m) {
            c.defect(&file, msg);
        }
    }
    if let (Some(kf), Some(m)) = (keyring, &manifest) {
        check_generations(&mut c, kf, m)?;
    }
    let Some(master) = read_master(&mut c, &root) else {
        c.report.ok = false;
        return Ok(c.report);
    };
    if let Ok(text) = read_text(&root, "master.m3u8", MAX_PLAYLIST_BYTES) {
        for (file, msg) in crate::iframes::defects(&root, &text) {
            c.defect(&file, msg);
        }
    }
    // A/B packages: the variants no playlist lists (verify/ab.rs).
    let twins = manifest.as_ref().map(ab::twin_records).unwrap_or_default();
    let total: usize = manifest.as_ref().map(|m| m.segments().count()).unwrap_or(0) + twins.len();
    progress.set_length(total.max(1) as u64);
    let mut walk = Walk::new(&root, keys, manifest.as_ref(), progress);
    walk.records
        .extend(twins.iter().map(|s| (s.uri.as_str(), s)));
    walk.contents = contents;
    let mut walked: HashSet<&str> = HashSet::new();
    for variant in master.variants.iter().take(MAX_VARIANTS) {
        // Each playlist once, however often the master lists it.
        if walked.insert(variant.uri.as_str()) {
            walk.playlist(&mut c, &variant.uri)?;
        }
    }
    for uri in master
        .media
        .iter()
        .take(MAX_VARIANTS)
        .filter_map(|m| m.uri.as_deref())
    {
        if walked.insert(uri) {
            walk.playlist(&mut c, uri)?;
        }
    }
    for msg in crate::multivariant::group_defects(&master) {
        c.defect("master.m3u8", msg);
    }
    if let Some(m) = &manifest {
        for variant in master.variants.iter().take(MAX_VARIANTS) {
            check_bandwidth(&mut c, m, variant, &walk.targets);
        }
    }
    for uri in walk.records.keys() {
        if !walk.listed.contains(*uri) {
            c.defect(*uri, "listed in manifest.json but in no playlist");
        }
    }
    match locate(&root, resolved::FILE) {
        Err(e) => c.defect(resolved::FILE, e),
        Ok(None) => {}
        Ok(Some(_)) => match resolved::Resolved::load(&root) {
            Err(e) => c.defect(resolved::FILE, e.to_string()),
            Ok(None) => {}
            Ok(Some(r)) => match &manifest {
                None => c.defect(resolved::FILE, "cannot be checked without manifest.json"),
                Some(m) => check_policy(&mut c, &r, m, &walk.encrypted_by_uri)?,
            },
        },
    }
    c.report.defects.sort_by(|a, b| a.file.cmp(&b.file));
    c.report.ok = c.report.defects.is_empty();
    Ok(c.report)
}

/// A variant's BANDWIDTH and AVERAGE-BANDWIDTH against what its segments'
/// sizes and durations in the manifest give (RFC 8216 4.3.4.2), computed as
/// `package` computes them, over the media playlist's target duration. A
/// BANDWIDTH below the peak makes players pick a variant the network cannot
/// carry. Above it is only wasteful with one rendition, and allowed; with
/// several, more than 10% above makes players pick the wrong one, so that is
/// a defect (issue 21).
fn check_bandwidth(
    c: &mut Checker,
    m: &Manifest,
    variant: &hls::Variant,
    targets: &HashMap<String, u64>,
) {
    let (Some(r), Some(&target)) = (
        m.renditions.iter().find(|r| r.playlist == variant.uri),
        targets.get(&variant.uri),
    ) else {
        return;
    };
    // Tampered sizes or durations are defects of their own (check_manifest);
    // skip what cannot be computed with, so nothing here overflows.
    let segs: Vec<(f64, u64)> = r
        .segments
        .iter()
        .map(|s| (s.duration, ab::largest_size(s)))
        .collect();
    if segs.is_empty()
        || segs.len() > MAX_PLAYLIST_SEGMENTS
        || segs.iter().any(|&(d, b)| {
            !(d.is_finite() && d > 0.0 && d <= MAX_SEGMENT_SECONDS && b <= MAX_SEGMENT_BYTES)
        })
    {
        return;
    }
    let target = target.clamp(1, MAX_SEGMENT_SECONDS as u64);
    // A variant with an audio group counts the group's largest too.
    let (group_peak, group_average) = match &variant.audio {
        None => (0, 0),
        Some(g) => crate::multivariant::group_rates(m, g, targets),
    };
    let average = hls::bandwidth::average_bandwidth(&segs) + group_average;
    let peak = hls::bandwidth::peak_bandwidth(&segs, target) + group_peak;
    // Durations are written to the millisecond: allow what that moves the rate.
    let total: f64 = segs.iter().map(|s| s.0).sum();
    let slack = |rate: u64| 1 + (rate as f64 * 0.0005 * segs.len() as f64 / total).ceil() as u64;
    if variant.bandwidth.saturating_add(slack(peak)) < peak {
        c.defect(
            "master.m3u8",
            format!(
                "{}: BANDWIDTH {} is below the peak segment bit rate {peak} its segments in manifest.json give \
                 over runs of 0.5 to 1.5 times EXT-X-TARGETDURATION {target} (RFC 8216 4.3.4.2): players would \
                 pick it on networks that cannot carry it",
                variant.uri, variant.bandwidth
            ),
        );
    }
    if m.renditions.len() > 1
        && variant.bandwidth > peak.saturating_add(peak / 10).saturating_add(slack(peak))
    {
        c.defect(
            "master.m3u8",
            format!(
                "{}: BANDWIDTH {} is more than 10% above the peak segment bit rate {peak} its segments in \
                 manifest.json give (RFC 8216 4.3.4.2): players would pass it over on networks that can carry it",
                variant.uri, variant.bandwidth
            ),
        );
    }
    if let Some(a) = variant.average_bandwidth {
        if a.abs_diff(average) > slack(average) {
            c.defect(
                "master.m3u8",
                format!(
                    "{}: AVERAGE-BANDWIDTH {a} is not the average segment bit rate {average} its segments in \
                     manifest.json give (RFC 8216 4.3.4.2)",
                    variant.uri
                ),
            );
        }
    }
}

/// manifest.json, read within its cap and parsed; `None` once a defect says why not.
fn read_manifest(c: &mut Checker, root: &Path) -> Option<Manifest> {
    const FILE: &str = "manifest.json";
    let path = match locate(root, FILE) {
        Ok(Some(p)) => p,
        Ok(None) => {
            c.defect(FILE, "missing: not a shieldpack package");
            return None;
        }
        Err(e) => {
            c.defect(FILE, e);
            return None;
        }
    };
    match manifest::read(&path).and_then(|b| Manifest::parse(&path, &b)) {
        Ok(m) => Some(m),
        Err(e) => {
            // The error names the real path; the defect names the file.
            let msg = e.to_string();
            let msg = msg
                .strip_prefix(&format!("{}: ", path.display()))
                .unwrap_or(&msg)
                .to_string();
            c.defect(FILE, msg);
            None
        }
    }
}

/// Every manifest field against its type and range: each defect names the
/// field (`renditions[0].segments[3].kid`), so a tampered manifest cannot
/// pass or reach arithmetic that overflows.
fn check_manifest(c: &mut Checker, root: &Path, m: &Manifest) -> Result<()> {
    const F: &str = "manifest.json";
    let mut bad = |field: &str, msg: String| c.defect(F, format!("{field}: {msg}"));
    let text_ok =
        |s: &str, max: usize| !s.is_empty() && s.len() <= max && !s.chars().any(char::is_control);
    if !text_ok(&m.content_id, 256) {
        bad(
            "content_id",
            "must be 1 to 256 characters without control characters".into(),
        );
    }
    if let Some(fp) = &m.keyring_fingerprint {
        if !text_ok(fp, 256) {
            bad(
                "keyring_fingerprint",
                "must be 1 to 256 characters without control characters".into(),
            );
        }
    }
    if !matches!(
        m.encryption.as_str(),
        "aes-128" | "sample-aes" | "cenc" | "cbcs" | "none"
    ) {
        bad(
            "encryption",
            format!(
                "'{}' is none of \"aes-128\", \"sample-aes\", \"cenc\", \"cbcs\" and \"none\"",
                m.encryption
            ),
        );
    }
    if !matches!(m.iv_mode.as_str(), "sequence" | "derived") {
        bad(
            "iv_mode",
            format!("'{}' is neither \"sequence\" nor \"derived\"", m.iv_mode),
        );
    }
    if let Err(e) = manifest::check_key_uri(&m.key_uri_template) {
        bad("key_uri_template", e.to_string());
    }
    let seconds = |v: f64, max: f64| v.is_finite() && v > 0.0 && v <= max;
    if !seconds(m.segment_duration, MAX_SEGMENT_SECONDS) {
        bad(
            "segment_duration",
            format!(
                "{} is not a duration of more than 0 and at most {MAX_SEGMENT_SECONDS} s",
                m.segment_duration
            ),
        );
    }
    if !(m.source.duration.is_finite()
        && m.source.duration >= 0.0
        && m.source.duration <= MAX_TITLE_SECONDS)
    {
        bad(
            "source.duration",
            format!(
                "{} is not a duration of 0 to {MAX_TITLE_SECONDS} s",
                m.source.duration
            ),
        );
    }
    for (ri, r) in m.renditions.iter().enumerate() {
        let at = format!("renditions[{ri}]");
        if !text_ok(&r.name, 256) {
            bad(
                &format!("{at}.name"),
                "must be 1 to 256 characters without control characters".into(),
            );
        }
        if let Err(e) = locate(root, &r.playlist).and_then(|p| p.ok_or_else(|| "missing".into())) {
            bad(&format!("{at}.playlist"), e);
        }
        if r.segments.len() > MAX_PLAYLIST_SEGMENTS {
            bad(
                &format!("{at}.segments"),
                format!(
                    "{} segments, more than the {MAX_PLAYLIST_SEGMENTS} a rendition may have",
                    r.segments.len()
                ),
            );
        }
        for (si, s) in r.segments.iter().enumerate().take(MAX_PLAYLIST_SEGMENTS) {
            interrupt::check()?;
            let at = format!("{at}.segments[{si}]");
            if let Err(e) = path_syntax(&s.uri) {
                bad(&format!("{at}.uri"), e);
            }
            if s.sequence >= MAX_SEQUENCE {
                bad(
                    &format!("{at}.sequence"),
                    format!("{} is not below 2^32", s.sequence),
                );
            }
            if s.period >= MAX_SEQUENCE {
                bad(
                    &format!("{at}.period"),
                    format!("{} is not below 2^32", s.period),
                );
            }
            if !(s.start.is_finite() && s.start >= 0.0 && s.start <= MAX_TITLE_SECONDS) {
                bad(
                    &format!("{at}.start"),
                    format!("{} is not a time of 0 to {MAX_TITLE_SECONDS} s", s.start),
                );
            }
            if !seconds(s.duration, MAX_SEGMENT_SECONDS) {
                bad(
                    &format!("{at}.duration"),
                    format!(
                        "{} is not a duration of more than 0 and at most {MAX_SEGMENT_SECONDS} s",
                        s.duration
                    ),
                );
            }
            if s.size == 0 || s.size > MAX_SEGMENT_BYTES {
                bad(
                    &format!("{at}.size"),
                    format!("{} is not a size of 1 to {MAX_SEGMENT_BYTES} bytes", s.size),
                );
            }
            if !is_hex(&s.sha256, 64) {
                bad(&format!("{at}.sha256"), "is not 64 hex digits".into());
            }
            if let Some(k) = &s.kid {
                if !is_hex(k, 32) {
                    bad(&format!("{at}.kid"), format!("'{k}' is not 32 hex digits"));
                }
            }
            if !matches!(s.iv_mode.as_str(), "sequence" | "derived") {
                bad(
                    &format!("{at}.iv_mode"),
                    format!("'{}' is neither \"sequence\" nor \"derived\"", s.iv_mode),
                );
            }
            if let Some(iv) = &s.iv {
                if !is_hex(iv, 32) {
                    bad(&format!("{at}.iv"), format!("'{iv}' is not 32 hex digits"));
                }
            }
        }
    }
    Ok(())
}

/// Every keyed segment against the keyring's state: not revoked, and of the
/// generation in force. Only when the package was made with this keyring;
/// otherwise that mismatch is the one defect.
fn check_generations(c: &mut Checker, kf: &KeyringFile, m: &Manifest) -> Result<()> {
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
        return Ok(());
    }
    let st = kf.content(&m.content_id);
    for r in m.segments().filter(|r| r.kid.is_some()) {
        interrupt::check()?;
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
    Ok(())
}

/// master.m3u8, parsed and checked against the rules; `None` when it cannot
/// be read or parsed, which leaves nothing else to find.
fn read_master(c: &mut Checker, root: &Path) -> Option<MasterPlaylist> {
    let master = match read_text(root, "master.m3u8", MAX_PLAYLIST_BYTES)
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
    if master.variants.len() > MAX_VARIANTS {
        c.defect(
            "master.m3u8",
            format!(
                "lists {} variants, more than {MAX_VARIANTS}: only the first {MAX_VARIANTS} are checked",
                master.variants.len()
            ),
        );
    }
    Some(master)
}

/// The walk over every media playlist's segments: what each is checked
/// against, and what it leaves for the checks after it.
struct Walk<'a> {
    /// The package folder, canonical.
    root: &'a Path,
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
    /// Each media playlist's EXT-X-TARGETDURATION, by its path in the package.
    targets: HashMap<String, u64>,
    /// Whether segments are read (hashed, and measured when clear or keys
    /// are given), or only their sizes looked at.
    contents: bool,
    /// The current media playlist's EXT-X-MAP init segment (CMAF), parsed.
    init: Option<shieldpack_mp4::InitSegment>,
}

impl<'a> Walk<'a> {
    fn new(
        root: &'a Path,
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
            root,
            keys,
            manifest,
            records,
            progress,
            listed: HashSet::new(),
            encrypted_by_uri: HashMap::new(),
            seen: 0,
            targets: HashMap::new(),
            contents: true,
            init: None,
        }
    }

    /// The media playlist at `rel` (relative to the package): its grammar
    /// and rules, then each of its segments.
    fn playlist(&mut self, c: &mut Checker, rel: &str) -> Result<()> {
        let media = match read_text(self.root, rel, MAX_PLAYLIST_BYTES)
            .and_then(|t| {
                // Counted before parsing, so a huge list is refused at once.
                let n = t.lines().filter(|l| l.starts_with("#EXTINF")).count();
                if n > MAX_PLAYLIST_SEGMENTS {
                    return Err(format!(
                        "lists {n} segments, more than the {MAX_PLAYLIST_SEGMENTS} a playlist may have: not checked further"
                    ));
                }
                MediaPlaylist::parse(&t).map_err(|e| e.to_string())
            })
        {
            Ok(p) => p,
            Err(e) => {
                c.defect(rel, e);
                return Ok(());
            }
        };
        c.report.playlists += 1;
        self.targets.insert(rel.to_string(), media.target_duration);
        for problem in hls::rules::check_media(&media) {
            c.defect(rel, problem);
        }
        // Segment URIs are relative to the playlist.
        let base = Path::new(rel)
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_default();
        if media
            .media_sequence
            .checked_add(media.segments.len() as u64)
            .is_none_or(|end| end > MAX_SEQUENCE)
        {
            c.defect(
                rel,
                format!(
                    "EXT-X-MEDIA-SEQUENCE {} is not sane: its segments' numbers must stay below 2^32",
                    media.media_sequence
                ),
            );
        }
        self.init = None;
        if let Some(map) = &media.map {
            let uri = base.join(map).to_string_lossy().into_owned();
            self.listed.insert(uri.clone());
            match path_syntax(map)
                .and_then(|()| locate(self.root, &uri))
                .and_then(|p| p.ok_or_else(|| "missing".to_string()))
                .and_then(|p| std::fs::read(p).map_err(|e| format!("cannot read: {e}")))
                .and_then(|b| shieldpack_mp4::InitSegment::parse(&b).map_err(|e| e.to_string()))
            {
                Ok(init) => self.init = Some(init),
                Err(e) => c.defect(&uri, format!("EXT-X-MAP init segment: {e}")),
            }
        }
        let keys_in_force = media.effective_keys();
        // The KIDs this playlist's segments are under, for the pssh check.
        let mut kids: Vec<[u8; 16]> = Vec::new();
        for (i, seg) in media.segments.iter().enumerate() {
            interrupt::check()?;
            // An absolute URI would replace `base` in a join: checked first.
            let uri = match path_syntax(&seg.uri) {
                Ok(()) => base.join(&seg.uri).to_string_lossy().into_owned(),
                Err(_) => seg.uri.clone(),
            };
            let kid = self.records.get(uri.as_str()).and_then(|r| {
                let mut k = [0u8; 16];
                hex::decode_to_slice(r.kid.as_deref()?, &mut k).ok()?;
                Some(k)
            });
            if let Some(k) = kid.filter(|k| !kids.contains(k)) {
                kids.push(k);
            }
            let key = keys_in_force[i];
            // Wraps only where the defect above was reported.
            let sequence = media.media_sequence.wrapping_add(i as u64);
            self.segment(c, rel, &uri, seg, key, sequence)?;
            self.twins(c, rel, &uri, seg, key, sequence)?;
        }
        if let (Some(init), Some(drm), Some(map)) = (
            &self.init,
            self.manifest.and_then(|m| m.drm.as_ref()),
            &media.map,
        ) {
            let uri = base.join(map).to_string_lossy().into_owned();
            pssh::check(c, &uri, init, drm, &kids);
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
    ) -> Result<()> {
        self.listed.insert(uri.to_owned());
        c.report.segments += 1;
        c.report.duration += seg.duration;
        let record = self.records.get(uri).copied();
        if record.is_none() && self.manifest.is_some() {
            c.defect(uri, "not listed in manifest.json");
        }
        let encrypted = key.is_some_and(|k| k.method != KeyMethod::None);
        // Common encryption: samples in fMP4, per-sample IVs in `senc`.
        let common = key
            .is_some_and(|k| matches!(k.method, KeyMethod::SampleAesCtr | KeyMethod::SampleAes))
            && self.init.is_some();
        if let (Some(k), Some(r), Some(m)) = (key, record, self.manifest) {
            self.check_key_uri(c, uri, k, r, m);
        }
        let path = match locate(self.root, uri) {
            Ok(Some(p)) => p,
            Ok(None) => {
                c.defect(uri, format!("missing (listed at {rel} line {})", seg.line));
                return Ok(());
            }
            Err(e) => {
                c.defect(uri, format!("{e} (listed at {rel} line {})", seg.line));
                return Ok(());
            }
        };
        // Never more than the manifest says (and one byte to see it is more).
        let cap = record.map_or(MAX_SEGMENT_BYTES, |r| r.size.min(MAX_SEGMENT_BYTES));
        let keep = !(matches!(self.keys, Keys::None) && encrypted);
        // `structure` (package's own check) looks at sizes only: the writer
        // hashed what it wrote, and `locate` found a regular file.
        let read = if self.contents {
            read_segment(&path, cap, keep)?
        } else {
            std::fs::symlink_metadata(&path)
                .map(|m| SegmentFile {
                    len: m.len(),
                    sha256: None,
                    data: Vec::new(),
                })
                .map_err(|e| format!("cannot read: {e}"))
        };
        let file = match read {
            Ok(f) => f,
            Err(e) => {
                c.defect(uri, e);
                return Ok(());
            }
        };
        match record {
            None => {}
            Some(r) => check_file(c, uri, &file, seg.duration, r),
        }
        let data = file.data;
        self.encrypted_by_uri.insert(uri.to_owned(), encrypted);
        if let (Some(r), Some(k)) = (record, key) {
            if encrypted != r.kid.is_some() {
                c.defect(
                    uri,
                    "the playlist and the manifest disagree on whether it is encrypted",
                );
            }
            if encrypted && !common && k.iv.map(hex::encode) != r.iv {
                c.defect(uri, "the playlist's IV differs from the manifest's");
            }
            if k.method == KeyMethod::SampleAes && !common && k.iv.is_none() {
                c.defect(
                    uri,
                    "its SAMPLE-AES EXT-X-KEY has no IV attribute: hls.js decrypts SAMPLE-AES only with an explicit IV",
                );
            }
        }
        if !keep || !self.contents {
            return Ok(());
        }
        if let Some(init) = self.init.take() {
            self.fmp4_segment(c, uri, data, record, key, sequence, &init, seg.duration);
            self.init = Some(init);
            self.seen += 1;
            self.progress.set_position(self.seen as u64);
            return Ok(());
        }
        let plain = if encrypted {
            // Without an IV attribute the IV is the media sequence number.
            let iv = key
                .and_then(|k| k.iv)
                .unwrap_or_else(|| crypto::sequence_iv(sequence));
            let sample_aes = key.is_some_and(|k| k.method == KeyMethod::SampleAes);
            let p = match sample_aes {
                true => self.decrypt_samples(c, uri, &data, record, &iv),
                false => self.decrypt(c, uri, &data, record, &iv),
            };
            let Some(p) = p else {
                return Ok(());
            };
            p
        } else {
            data
        };
        if uri.ends_with(".vtt") {
            // A WebVTT subtitle segment: text, clear.
            if !(plain.starts_with(b"WEBVTT") && std::str::from_utf8(&plain).is_ok()) {
                c.defect(uri, "not a WebVTT file (UTF-8 text starting with WEBVTT)");
            }
            self.seen += 1;
            self.progress.set_position(self.seen as u64);
            return Ok(());
        }
        // An alternate audio rendition's segments hold no video.
        let audio_only = record.is_some_and(|r| r.video_frames == 0);
        measure(c, uri, &plain, seg.duration, audio_only);
        self.seen += 1;
        self.progress.set_position(self.seen as u64);
        Ok(())
    }

    /// The EXT-X-KEY URI of a segment must be the manifest's
    /// `key_uri_template` filled in for the segment's KID and period: a
    /// tampered playlist must not send players to another key server, or to
    /// a path of the player's host. verify never opens or fetches key URIs.
    fn check_key_uri(
        &self,
        c: &mut Checker,
        uri: &str,
        k: &hls::Key,
        r: &SegmentRecord,
        m: &Manifest,
    ) {
        let (Some(kid), Some(got)) = (&r.kid, &k.uri) else {
            return;
        };
        let want = manifest::key_uri(&m.key_uri_template, kid, r.period, &m.content_id);
        if *got != want {
            c.defect(
                uri,
                format!(
                    "its EXT-X-KEY URI '{got}' is not the manifest's key_uri_template filled in ('{want}')"
                ),
            );
        }
    }

    /// A CMAF media segment (the playlist has an EXT-X-MAP): whole-segment
    /// AES-128 undone first, then every box parsed, common encryption's
    /// samples decrypted, and the video measured against EXTINF.
    #[allow(clippy::too_many_arguments)]
    fn fmp4_segment(
        &self,
        c: &mut Checker,
        uri: &str,
        data: Vec<u8>,
        record: Option<&SegmentRecord>,
        key: Option<&hls::Key>,
        sequence: u64,
        init: &shieldpack_mp4::InitSegment,
        extinf: f64,
    ) {
        let method = key.map_or(KeyMethod::None, |k| k.method);
        let plain = match method {
            KeyMethod::Aes128 => {
                let iv = key
                    .and_then(|k| k.iv)
                    .unwrap_or_else(|| crypto::sequence_iv(sequence));
                match self.decrypt(c, uri, &data, record, &iv) {
                    Some(p) => p,
                    None => return,
                }
            }
            _ => data,
        };
        let sample_key = match method {
            KeyMethod::SampleAesCtr | KeyMethod::SampleAes => match self.key_for(c, uri, record) {
                Some(k) => Some(k),
                None => return,
            },
            _ => None,
        };
        // An audio rendition (a CMAF audio track): every sample parsed and
        // decrypted, no video; its length is not measured, as for TS.
        let audio_only = record.is_some_and(|r| r.video_frames == 0);
        match crate::cmaf::check_segment(&plain, init, sample_key.as_deref()) {
            Ok(m) if audio_only => {
                if m.video_frames > 0 {
                    c.defect(
                        uri,
                        format!(
                            "an audio rendition's segment holds {} video frames",
                            m.video_frames
                        ),
                    );
                } else {
                    c.report.segments_decrypted += 1;
                }
            }
            Ok(m) => {
                c.report.segments_decrypted += 1;
                c.report.video_frames += m.video_frames;
                check_length(c, uri, m.video_frames, m.video_duration, extinf);
            }
            Err(e) => c.defect(uri, e),
        }
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
        let key_bytes = self.key_for(c, uri, record)?;
        let kid = record.and_then(|r| r.kid.clone()).unwrap_or_default();
        match crypto::decrypt(data, &key_bytes, iv) {
            Some(p) => Some(p),
            None => {
                c.defect(uri, format!("does not decrypt with key {kid} (bad padding: wrong key, IV or damaged data)"));
                None
            }
        }
    }

    /// A SAMPLE-AES TS segment's plaintext (every H.264 slice and AAC frame
    /// decrypted, the PMT as before encryption); `None` once a defect says
    /// why not.
    fn decrypt_samples(
        &self,
        c: &mut Checker,
        uri: &str,
        data: &[u8],
        record: Option<&SegmentRecord>,
        iv: &[u8; 16],
    ) -> Option<Vec<u8>> {
        let key_bytes = self.key_for(c, uri, record)?;
        match crypto::sample_aes::decrypt_segment(data, &key_bytes, iv) {
            Ok(p) => match crate::saes::first_picture_decodes(&p) {
                Ok(()) => Some(p),
                Err(e) => {
                    c.defect(uri, e);
                    None
                }
            },
            Err(e) => {
                c.defect(uri, format!("does not decrypt as SAMPLE-AES: {e}"));
                None
            }
        }
    }

    /// The key a segment's manifest entry's KID names; `None` once a
    /// defect says why not.
    fn key_for(
        &self,
        c: &mut Checker,
        uri: &str,
        record: Option<&SegmentRecord>,
    ) -> Option<Zeroizing<[u8; 16]>> {
        let Some(r) = record else {
            c.defect(uri, "cannot find its KID without a manifest entry");
            return None;
        };
        let kid = r.kid.clone().unwrap_or_default();
        let key_bytes = match self.keys {
            Keys::Keyring(kr) => {
                // A record comes from the manifest, so it is there.
                let m = self.manifest?;
                let track = crate::scope::track_of(m, r);
                let derived =
                    hex::encode(kr.scoped_kid(&m.content_id, r.generation, r.period, track));
                if derived != kid {
                    let of_track = track
                        .map(|t| format!(" track type {t}"))
                        .unwrap_or_default();
                    c.defect(
                        uri,
                        format!(
                            "KID {kid} is not the keyring's for period {} generation {}{of_track}",
                            r.period, r.generation
                        ),
                    );
                    return None;
                }
                kr.scoped_content_key(&m.content_id, r.generation, r.period, track)
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
        Some(key_bytes)
    }
}

/// A segment file as read: its length, SHA-256 (`None` when only its size
/// was looked at, in `structure`), and its bytes when kept.
struct SegmentFile {
    len: u64,
    sha256: Option<String>,
    data: Vec<u8>,
}

/// Reads the regular file at `path` in chunks, hashing as it goes, stopping
/// one byte past `cap` (so memory stays bounded) and between chunks on an
/// interrupt; keeps the bytes only when `keep`. The inner error is a defect.
fn read_segment(
    path: &Path,
    cap: u64,
    keep: bool,
) -> Result<std::result::Result<SegmentFile, String>> {
    let (f, len) = match fsutil::open_regular(path) {
        Ok(x) => x,
        Err(e) => return Ok(Err(e.to_string())),
    };
    if len > cap {
        return Ok(Err(format!(
            "size {len} is more than the {cap} bytes the manifest allows: not read"
        )));
    }
    let mut f = f.take(cap + 1);
    let mut hasher = Sha256::new();
    let mut data = Vec::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut total = 0u64;
    loop {
        interrupt::check()?;
        let n = match f.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Ok(Err(format!("cannot read: {e}"))),
        };
        total += n as u64;
        if total > cap {
            return Ok(Err(format!(
                "grew past the {cap} bytes the manifest allows while read"
            )));
        }
        hasher.update(&buf[..n]);
        if keep {
            data.extend_from_slice(&buf[..n]);
        }
    }
    Ok(Ok(SegmentFile {
        len: total,
        sha256: Some(hex::encode(hasher.finalize())),
        data,
    }))
}

/// A segment file against its manifest entry: size, then (when the size
/// matches and the contents were read) SHA-256, and the playlist's EXTINF
/// against the recorded duration.
fn check_file(c: &mut Checker, uri: &str, file: &SegmentFile, extinf: f64, r: &SegmentRecord) {
    if r.size != file.len {
        c.defect(
            uri,
            format!("size {} differs from the manifest's {}", file.len, r.size),
        );
    } else if file.sha256.as_ref().is_some_and(|h| *h != r.sha256) {
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
///
/// The length is the segment's presentation span, from its earliest picture
/// to the end of its latest: RFC 8216 4.3.2.1's "duration of the Media
/// Segment", and the rule `segment` writes EXTINF by (a segment runs to the
/// next one's earliest picture, counting the open-GOP leading pictures that
/// land in it), so a segment cut at an open-GOP keyframe measures right too.
fn measure(c: &mut Checker, uri: &str, plain: &[u8], extinf: f64, audio_only: bool) {
    match tsread::analyze(plain) {
        Err(e) => c.defect(uri, format!("decrypted data is not valid MPEG-TS: {e}")),
        // Audio-only: TS with audio and no video; its length is not measured.
        Ok(ts) if audio_only => {
            if ts.video_frames > 0 || ts.audio_packets == 0 {
                c.defect(
                    uri,
                    format!(
                        "an audio rendition's segment holds {} video frames and {} audio packets",
                        ts.video_frames, ts.audio_packets
                    ),
                );
            } else {
                c.report.segments_decrypted += 1;
            }
        }
        Ok(ts) => {
            c.report.segments_decrypted += 1;
            c.report.video_frames += ts.video_frames;
            check_length(c, uri, ts.video_frames, ts.video_duration, extinf);
        }
    }
}

/// A segment's video length against its EXTINF, within half a frame and 20 ms.
fn check_length(c: &mut Checker, uri: &str, frames: u64, duration: f64, extinf: f64) {
    // With one frame or none there is no interval to measure: take 25 fps's.
    let frame = if frames > 1 {
        duration / frames as f64
    } else {
        0.04
    };
    if (duration - extinf).abs() > 0.02 + frame / 2.0 {
        c.defect(
            uri,
            format!("its video lasts {duration:.3}s but EXTINF says {extinf:.3}s"),
        );
    }
}
