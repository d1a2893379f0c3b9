//! `rekey` of cmaf packages under common encryption (`cenc`, `cbcs`): each
//! segment to move is parsed (`moof`, `senc`), its samples decrypted with
//! the old key and encrypted with the new one in place
//! (`mp4::recrypt::reencrypt`), with the new KID in its `seig` group, and
//! the init segment's default KID (`tenc`) follows when its key moved. The
//! IVs are the position-derived ones the packager gave (`cenc`: segment
//! sequence and sample; `cbcs`: the title's constant IV), now under a key
//! generation no segment was ever encrypted with, so none repeats under it.
//!
//! Same staging as MPEG-TS rekey (`super`): a hidden sibling copy with the
//! untouched files hard-linked, the changed segments, init segments, MPD,
//! playlists, manifest.json and policy.json written fresh, one exchange.
//! Until then the package is untouched; an interruption leaves it whole, and
//! running `rekey` again starts over.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use shieldpack_mp4::{self as mp4, cenc, recrypt};

use super::{damaged, plan_jobs, publish, rewrite_records, stage, Job, Options, Outcome};
use crate::error::{Error, IoContext, Result};
use crate::fsutil;
use crate::keys::Keyring;
use crate::manifest::Manifest;
use crate::progress::Progress;

/// Each re-encrypted job's index, new SHA-256 and new size.
type Moved = Vec<(usize, (String, u64))>;

fn kid_bytes(hex_kid: &str) -> Option<[u8; 16]> {
    hex::decode(hex_kid).ok()?.try_into().ok()
}

/// The init segment of a rendition, before and after.
struct Init {
    rel: PathBuf,
    old: mp4::InitSegment,
    new: mp4::InitSegment,
    constant_iv: [u8; 16],
}

fn load_init(dir: &Path, playlist: &str) -> Result<Init> {
    let rel = Path::new(playlist)
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default()
        .join("init.mp4");
    let path = dir.join(&rel);
    let bytes = std::fs::read(&path).at(&path)?;
    let old = mp4::InitSegment::parse(&bytes).map_err(|e| {
        Error::invalid_file(
            &path,
            format!("not a valid init segment: {e}"),
            "`shieldpack verify` checks the package; package the title again",
        )
    })?;
    if !old.moov.pssh.is_empty() {
        return Err(Error::invalid_file(
            &path,
            "holds DRM systems' pssh boxes (--drm), whose KIDs rekey does not rewrite yet",
            "package the title again with the rotated keyring instead",
        ));
    }
    let constant_iv = old
        .moov
        .traks
        .iter()
        .find_map(|t| t.entry()?.sinf()?.tenc.constant_iv)
        .unwrap_or_default();
    Ok(Init {
        rel,
        new: old.clone(),
        old,
        constant_iv,
    })
}

/// Writes `bytes` at `rel` in the staged copy `root`, where the file may be
/// a hard link to the package's own: unlinked first, so the package stays as
/// it was.
fn write_fresh(root: &Path, rel: &Path, bytes: &[u8]) -> Result<()> {
    let p = root.join(rel);
    match std::fs::remove_file(&p) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(Error::io(&p, e)),
    }
    fsutil::write_file(&p, bytes)
}

/// Re-encrypts one segment into the staged copy: its new SHA-256 and size
/// (which changes when its `seig` group comes or goes with the default KID).
fn move_segment(
    dir: &Path,
    root: &Path,
    j: &Job,
    sequence: u64,
    init: &Init,
    scheme: cenc::Scheme,
    check_hashes: bool,
) -> Result<(String, u64)> {
    crate::interrupt::check()?;
    let bytes = std::fs::read(&j.path).at(&j.path)?;
    if check_hashes && hex::encode(Sha256::digest(&bytes)) != j.sha256 {
        return Err(damaged(
            j,
            "its SHA-256 is not the one manifest.json records".into(),
        ));
    }
    let mut seg = mp4::MediaSegment::parse(&bytes)
        .map_err(|e| damaged(j, format!("not a valid fMP4 segment: {e}")))?;
    let kid = kid_bytes(&j.new_kid).expect("KIDs are 32 hex digits");
    let target = recrypt::Target {
        key: &j.new_key,
        kid,
        constant_iv: init.constant_iv,
    };
    recrypt::reencrypt(
        &mut seg,
        &init.old,
        Some(&j.old_key),
        &init.new,
        scheme,
        &target,
        sequence,
    )
    .map_err(|e| damaged(j, format!("does not re-encrypt: {e}")))?;
    let out = seg.to_bytes();
    fsutil::write_file(&j.staged(dir, root), &out)?;
    Ok((hex::encode(Sha256::digest(&out)), out.len() as u64))
}

/// `rekey` for a package whose manifest says `cenc` or `cbcs`.
pub(super) fn rekey(
    dir: &Path,
    kr: &Keyring,
    o: Options,
    progress: &dyn Progress,
    mut manifest: Manifest,
) -> Result<Outcome> {
    let scheme = match manifest.encryption.as_str() {
        "cenc" => cenc::Scheme::Cenc,
        _ => cenc::Scheme::Cbcs,
    };
    let mut out = Outcome::default();
    let work = plan_jobs(dir, &manifest, kr, &mut out)?;
    if work.is_empty() {
        return Ok(out);
    }
    let changed: BTreeSet<usize> = work.iter().map(|j| j.rendition).collect();
    // Old KID -> new KID, from the jobs (a key period moves as a whole).
    let mut moved: BTreeMap<String, String> = BTreeMap::new();
    for j in &work {
        let s = &manifest.renditions[j.rendition].segments[j.segment];
        if let Some(k) = &s.kid {
            moved.insert(k.clone(), j.new_kid.clone());
        }
    }
    let mut inits: BTreeMap<usize, Init> = BTreeMap::new();
    for ri in &changed {
        let mut init = load_init(dir, &manifest.renditions[*ri].playlist)?;
        if let Some(default) = recrypt::default_kid(&init.old) {
            if let Some(new) = moved.get(&hex::encode(default)).and_then(|k| kid_bytes(k)) {
                recrypt::set_default_kid(&mut init.new, new);
            }
        }
        inits.insert(*ri, init);
    }

    let staged = stage(dir, &manifest, &work, &changed)?;
    let root = staged.path().to_path_buf();
    let threads = o.jobs.clamp(1, 16).min(work.len());
    progress.set_length(work.iter().map(|j| j.size).sum::<u64>().max(1));
    let done = std::sync::atomic::AtomicU64::new(0);
    let results: Vec<Result<Moved>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let (work, manifest, inits, root, done) = (&work, &manifest, &inits, &root, &done);
                scope.spawn(move || -> Result<Moved> {
                    let mut hashes = Vec::new();
                    for (i, j) in work.iter().enumerate().skip(t).step_by(threads) {
                        // The IVs packaging gave the segment: its
                        // rendition's own range (`cenc::rendition_sequence`).
                        let index = manifest.renditions[j.rendition].segments[j.segment].sequence;
                        let sequence = cenc::rendition_sequence(j.rendition as u64, index)
                            .ok_or_else(|| {
                                damaged(j, "too many renditions or segments for unique IVs".into())
                            })?;
                        let init = &inits[&j.rendition];
                        hashes.push((
                            i,
                            move_segment(dir, root, j, sequence, init, scheme, o.check_hashes)?,
                        ));
                        let d = done.fetch_add(j.size, std::sync::atomic::Ordering::Relaxed);
                        progress.set_position(d + j.size);
                    }
                    Ok(hashes)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("rekey workers do not panic"))
            .collect()
    });
    let mut hashes: BTreeMap<usize, (String, u64)> = BTreeMap::new();
    for r in results {
        hashes.extend(r?);
    }
    for init in inits.values() {
        if init.new != init.old {
            write_fresh(&root, &init.rel, &init.new.to_bytes())?;
        }
    }
    // DASH: cenc:default_KID (a UUID) follows the init segments.
    let mpd = dir.join("manifest.mpd");
    if mpd.is_file() {
        let mut text = std::fs::read_to_string(&mpd).at(&mpd)?;
        for (old, new) in &moved {
            let (o, n) = (
                crate::keys::export::kid_uuid(old),
                crate::keys::export::kid_uuid(new),
            );
            text = text.replace(&o, &n).replace(&o.to_uppercase(), &n);
        }
        write_fresh(&root, Path::new("manifest.mpd"), text.as_bytes())?;
    }
    for (i, j) in work.iter().enumerate() {
        let s = &mut manifest.renditions[j.rendition].segments[j.segment];
        let old_kid = s.kid.clone().unwrap_or_default();
        out.kids.insert(old_kid, j.new_kid.clone());
        s.generation = j.new_generation;
        s.kid = Some(j.new_kid.clone());
        (s.sha256, s.size) = hashes.remove(&i).expect("every job hashed");
        out.rekeyed += 1;
        out.bytes += j.size;
    }
    rewrite_records(dir, &root, &manifest, &changed, &mut out)?;
    publish(dir, &root, &manifest, &work, threads)?;
    drop(staged);
    Ok(out)
}
