//! `rekey`: move a package to the keys now in force, in place and atomically.
//!
//! After `keys rotate` (or a revoked generation), segments still encrypted
//! with an old generation's key are decrypted with it and encrypted with the
//! current key, no FFmpeg: the old file is read a chunk at a time, decrypted
//! into a small buffer, encrypted there and written once, with the old and new
//! ciphertext hashed on the way (the old against the manifest, the new for it).
//! Each worker moves up to four segments along side by side, because CBC
//! encryption and SHA-256 are each serial within one stream, and the workers
//! share out the segments in progress between steps so that they end together.
//!
//! The new package is built as a hidden sibling folder: untouched files are
//! hard-linked into it (same file system, so no copy and byte-identical by
//! construction), changed segments, the playlists, manifest.json and
//! policy.json are written fresh, and the two folders are swapped with one
//! `renameat2(RENAME_EXCHANGE)`. Until that swap the old package is untouched;
//! an interruption leaves it as it was.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Condvar, Mutex};

use zeroize::Zeroizing;

use crate::crypto;
use crate::error::{Error, IoContext, Result};
use crate::fsutil::{self, StagedDir};
use crate::hls::{Key, KeyMethod, MediaPlaylist};
use crate::keys::Keyring;
use crate::manifest::{self, Manifest};
use crate::progress::Progress;

mod cenc;
mod samples;

/// What a rekey did.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Outcome {
    /// Segments re-encrypted.
    pub rekeyed: usize,
    /// Encrypted segments left as they were (their key is current).
    pub untouched: usize,
    /// Segments whose current key is revoked: nothing to move them to.
    pub revoked: usize,
    /// Bytes re-encrypted.
    pub bytes: u64,
    /// Old KID -> new KID.
    pub kids: BTreeMap<String, String>,
    /// Playlists rewritten.
    pub playlists: Vec<String>,
}

/// One segment to re-encrypt.
struct Job {
    rendition: usize,
    segment: usize,
    path: PathBuf,
    size: u64,
    sha256: String,
    old_key: Zeroizing<[u8; 16]>,
    old_iv: [u8; 16],
    new_key: Zeroizing<[u8; 16]>,
    new_iv: [u8; 16],
    new_generation: u32,
    new_kid: String,
    explicit_iv: bool,
}

impl Job {
    /// Where this segment stands in the staged copy `root` of the package `dir`.
    fn staged(&self, dir: &Path, root: &Path) -> PathBuf {
        root.join(self.path.strip_prefix(dir).expect("under the package"))
    }
}

fn parse_iv(hex_iv: &str) -> Option<[u8; 16]> {
    let v = hex::decode(hex_iv).ok()?;
    v.try_into().ok()
}

/// How to rekey.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    /// Worker threads.
    pub jobs: usize,
    /// Check each segment's manifest SHA-256 before re-encrypting it.
    pub check_hashes: bool,
}

/// Re-encrypts the segments of the package in `dir` whose key is no longer
/// current. Does nothing (and writes nothing) when every key is current.
pub fn rekey(dir: &Path, kr: &Keyring, o: Options, progress: &dyn Progress) -> Result<Outcome> {
    // Two rekeys of one package would each stage a copy and swap it in, the
    // later swap undoing the earlier: the second is refused, naming the first.
    let _lock = match lock_path(dir) {
        Some(path) => Some(fsutil::JobLock::take(&path, "rekey")?),
        None => None,
    };
    let mut manifest = Manifest::load(dir)?;
    check_package(dir, &manifest, kr)?;
    if matches!(manifest.encryption.as_str(), "cenc" | "cbcs") {
        return cenc::rekey(dir, kr, o, progress, manifest);
    }
    let mut out = Outcome::default();
    let work = plan_jobs(dir, &manifest, kr, &mut out)?;
    if work.is_empty() {
        return Ok(out);
    }
    let changed: BTreeSet<usize> = work.iter().map(|j| j.rendition).collect();
    let staged = stage(dir, &manifest, &work, &changed)?;
    let root = staged.path().to_path_buf();
    let threads = o.jobs.clamp(1, 16).min(work.len());
    let mut hashes = match manifest.encryption.as_str() {
        "sample-aes" => samples::reencrypt(dir, &root, &work, threads, o.check_hashes, progress)?,
        _ => reencrypt(dir, &root, &work, threads, o.check_hashes, progress)?,
    };
    for (i, j) in work.iter().enumerate() {
        let s = &mut manifest.renditions[j.rendition].segments[j.segment];
        let old_kid = s.kid.clone().unwrap_or_default();
        out.kids.insert(old_kid, j.new_kid.clone());
        s.generation = j.new_generation;
        s.kid = Some(j.new_kid.clone());
        s.sha256 = hashes.remove(&i).expect("every job hashed");
        if j.explicit_iv {
            s.iv = Some(hex::encode(j.new_iv));
        }
        out.rekeyed += 1;
        out.bytes += j.size;
    }
    rewrite_records(dir, &root, &manifest, &changed, &mut out)?;
    publish(dir, &root, &manifest, &work, threads)?;
    drop(staged);
    Ok(out)
}

/// Refuses a clear package, and one made with another keyring.
fn check_package(dir: &Path, manifest: &Manifest, kr: &Keyring) -> Result<()> {
    let mpath = dir.join("manifest.json");
    if manifest.encryption == "none" {
        return Err(Error::invalid_file(
            &mpath,
            "the package is not encrypted: there is nothing to rekey",
            "package it again with --keyring to encrypt it",
        ));
    }
    if !matches!(
        manifest.encryption.as_str(),
        "aes-128" | "sample-aes" | "cenc" | "cbcs"
    ) {
        return Err(Error::invalid_file(
            &mpath,
            format!(
                "rekey of '{}' packages is not implemented yet",
                manifest.encryption
            ),
            "package the title again with the rotated keyring instead",
        ));
    }
    if let Some(f) = manifest.keyring_fingerprint.as_deref() {
        if f != kr.fingerprint() {
            return Err(Error::arg(
                format!(
                    "{} was made with keyring {f} but {} is {}",
                    dir.display(),
                    kr.path.display(),
                    kr.fingerprint()
                ),
                "pass the keyring the package was made with",
            ));
        }
    }
    Ok(())
}

/// One job per segment whose key is no longer current; counts the segments
/// left alone (current, or revoked with nothing to move to) in `out`.
fn plan_jobs(dir: &Path, manifest: &Manifest, kr: &Keyring, out: &mut Outcome) -> Result<Vec<Job>> {
    let mpath = dir.join("manifest.json");
    let cid = manifest.content_id.clone();
    let st = kr.file.content(&cid);
    let mut work = Vec::new();
    for (ri, r) in manifest.renditions.iter().enumerate() {
        // Under `--key-scope track-type` the rendition's track type joins
        // the derivation (`Keyring::scoped_kid`).
        let track = r.track_type.filter(|_| !manifest.key_scope.is_period());
        for (si, s) in r.segments.iter().enumerate() {
            let Some(kid) = &s.kid else { continue };
            let rel = Path::new(&s.uri);
            if rel.is_absolute()
                || rel
                    .components()
                    .any(|c| !matches!(c, std::path::Component::Normal(_)))
            {
                return Err(Error::invalid_file(
                    &mpath,
                    format!("segment URI '{}' leaves the package folder", s.uri),
                    "package the title again; manifest URIs are relative paths inside OUTDIR",
                ));
            }
            let target = st.generation_for(s.period);
            if target == s.generation {
                out.untouched += 1;
                continue;
            }
            if st.is_revoked(s.period, target) {
                out.revoked += 1;
                continue;
            }
            if hex::encode(kr.scoped_kid(&cid, s.generation, s.period, track)) != *kid {
                return Err(Error::invalid_file(
                    &mpath,
                    format!(
                        "{}: KID {kid} is not the keyring's for period {} generation {}",
                        s.uri, s.period, s.generation
                    ),
                    "pass the keyring the package was made with; `shieldpack verify` checks the package",
                ));
            }
            let explicit_iv = s.iv.is_some();
            let old_iv = match &s.iv {
                Some(iv) => parse_iv(iv).ok_or_else(|| {
                    Error::invalid_file(
                        &mpath,
                        format!("{}: IV '{iv}' is not 32 hex digits", s.uri),
                        "package the title again",
                    )
                })?,
                None => crypto::sequence_iv(s.sequence),
            };
            let new_iv = if explicit_iv {
                kr.rendition_iv(&cid, target, s.period, s.sequence, ri)
            } else {
                // Same sequence number, new key: an IV is still never reused under one key.
                crypto::sequence_iv(s.sequence)
            };
            work.push(Job {
                rendition: ri,
                segment: si,
                path: dir.join(&s.uri),
                size: s.size,
                sha256: s.sha256.clone(),
                old_key: kr.scoped_content_key(&cid, s.generation, s.period, track),
                old_iv,
                new_key: kr.scoped_content_key(&cid, target, s.period, track),
                new_iv,
                new_generation: target,
                new_kid: hex::encode(kr.scoped_kid(&cid, target, s.period, track)),
                explicit_iv,
            });
        }
    }
    Ok(work)
}

/// A staged copy of the package beside it: every file the rekey leaves as it
/// is hard-linked, the ones it rewrites are left for it to write.
fn stage(
    dir: &Path,
    manifest: &Manifest,
    work: &[Job],
    changed: &BTreeSet<usize>,
) -> Result<StagedDir> {
    let staged = StagedDir::new(dir, true, true)?;
    let root = staged.path().to_path_buf();
    let perms = std::fs::metadata(dir).at(dir)?.permissions();
    std::fs::set_permissions(&root, perms).at(&root)?;
    // Files written fresh; everything else is hard-linked.
    let mut fresh: HashSet<PathBuf> = work.iter().map(|j| j.path.clone()).collect();
    for ri in changed {
        fresh.insert(dir.join(&manifest.renditions[*ri].playlist));
    }
    fresh.insert(dir.join("manifest.json"));
    let policy_path = dir.join("policy.json");
    if policy_path.is_file() {
        fresh.insert(policy_path);
    }
    mirror(dir, &root, &fresh)?;

    Ok(staged)
}

/// Re-encrypts every job's segment into `root` on `threads` workers; returns
/// each job's new SHA-256 by its index.
fn reencrypt(
    dir: &Path,
    root: &Path,
    work: &[Job],
    threads: usize,
    check_hashes: bool,
    progress: &dyn Progress,
) -> Result<HashMap<usize, String>> {
    progress.set_length(work.iter().map(|j| j.size).sum::<u64>().max(1));
    let done = AtomicU64::new(0);
    let failed = AtomicBool::new(false);
    let pool = Pool::new(work, threads);
    let results: Vec<Result<Vec<(usize, String)>>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                let (pool, done, root, failed) = (&pool, &done, &root, &failed);
                scope.spawn(move || -> Result<Vec<(usize, String)>> {
                    let finished = |size: u64| {
                        let d = done.fetch_add(size, Ordering::Relaxed) + size;
                        progress.set_position(d);
                    };
                    worker(dir, root, check_hashes, pool, finished, failed).inspect_err(|_| {
                        failed.store(true, Ordering::Relaxed);
                        pool.wake.notify_all();
                    })
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("rekey workers do not panic"))
            .collect()
    });
    let mut hashes: HashMap<usize, String> = HashMap::new();
    for r in results {
        hashes.extend(r?);
    }

    Ok(hashes)
}

/// Writes the rewritten media playlists, policy.json and manifest.json into
/// the staged copy.
fn rewrite_records(
    dir: &Path,
    root: &Path,
    manifest: &Manifest,
    changed: &BTreeSet<usize>,
    out: &mut Outcome,
) -> Result<()> {
    for ri in changed {
        let r = &manifest.renditions[*ri];
        let rel = r.playlist.clone();
        let text = std::fs::read_to_string(dir.join(&rel)).at(dir.join(&rel))?;
        let old = MediaPlaylist::parse(&text).map_err(|e| {
            Error::invalid_file(
                dir.join(&rel),
                e.to_string(),
                "`shieldpack verify` checks the package; package the title again",
            )
        })?;
        let new = rewrite_keys(&old, manifest, *ri, &rel)?;
        fsutil::write_file(&root.join(&rel), new.write().as_bytes())?;
        out.playlists.push(rel);
    }
    let policy_path = dir.join("policy.json");
    if policy_path.is_file() {
        let bytes = std::fs::read(&policy_path).at(&policy_path)?;
        let rewritten = serde_json::from_slice::<serde_json::Value>(&bytes)
            .ok()
            .map(|mut v| {
                replace_kids(&mut v, &out.kids);
                let mut s = serde_json::to_string_pretty(&v).expect("serialisable");
                s.push('\n');
                s.into_bytes()
            });
        // A policy.json that is not JSON is not ours to fix: carry it over as is.
        fsutil::write_file(&root.join("policy.json"), &rewritten.unwrap_or(bytes))?;
    }
    fsutil::write_file(&root.join("manifest.json"), manifest.to_json().as_bytes())
}

/// Makes the staged copy durable, swaps it with the package, and frees the
/// old copies of the re-encrypted segments.
fn publish(
    dir: &Path,
    root: &Path,
    manifest: &Manifest,
    work: &[Job],
    threads: usize,
) -> Result<()> {
    crate::interrupt::check()?;
    for p in std::iter::once(root.to_path_buf()).chain(
        manifest
            .renditions
            .iter()
            .filter_map(|r| Path::new(&r.playlist).parent().map(|d| root.join(d))),
    ) {
        fsutil::sync_dir(&p);
    }
    fsutil::exchange(root, dir)?;
    // The staged folder now holds the old package; dropping it removes it.
    // Freeing the old copies of the re-encrypted segments is nearly all of
    // that (a sixth of a whole rekey when done on one thread), so the
    // workers' cores share it first. Like the drop, this is best effort.
    std::thread::scope(|scope| {
        for t in 0..threads {
            scope.spawn(move || {
                for j in work.iter().skip(t).step_by(threads) {
                    let _ = std::fs::remove_file(j.staged(dir, root));
                }
            });
        }
    });
    Ok(())
}

/// Bytes of each segment re-encrypted per step: the lanes' chunks, read and
/// written, stay in the CPU cache between decrypting, encrypting and hashing,
/// and system calls stay few.
const CHUNK: usize = 256 << 10;

/// Segments one worker re-encrypts side by side. CBC encryption is serial
/// within a segment (each block waits for the one before, ~40 cycles), but
/// blocks of different segments are independent, so interleaving four keeps
/// the AES unit busy; two-way hashing likewise pairs the old and new SHA-256.
const LANES: usize = 4;

/// One segment being re-encrypted: each chunk of the old file read into `old`,
/// decrypted into `buf`, encrypted there, hashed on both sides, written once.
struct Lane<'a> {
    index: usize,
    job: &'a Job,
    src: std::fs::File,
    len: usize,
    /// This step's chunk of the old ciphertext.
    old: Vec<u8>,
    dest: PathBuf,
    out: std::fs::File,
    pos: usize,
    dec: crypto::CbcDec,
    enc: crypto::CbcEnc,
    sha: Hashes,
    buf: Vec<u8>,
}

/// What a lane hashes: the old ciphertext (to check it against the manifest)
/// and the new (for the manifest), side by side; or, under `--no-hash-check`,
/// only the new.
enum Hashes {
    Both(crypto::Sha256x2),
    New(crypto::Sha256One),
}

impl<'a> Lane<'a> {
    fn open(dir: &Path, root: &Path, index: usize, j: &'a Job, check: bool) -> Result<Lane<'a>> {
        let f = std::fs::File::open(&j.path).at(&j.path)?;
        let len = f.metadata().at(&j.path)?.len();
        if len != j.size {
            return Err(damaged(
                j,
                format!("{len} bytes, but the manifest says {}", j.size),
            ));
        }
        if len == 0 || len % 16 != 0 {
            return Err(damaged(
                j,
                format!("{len} bytes is not a whole number of AES blocks"),
            ));
        }
        let len = usize::try_from(len).map_err(|_| damaged(j, "too large to read".into()))?;
        let dest = j.staged(dir, root);
        let out = std::fs::File::create(&dest).at(&dest)?;
        Ok(Lane {
            index,
            job: j,
            src: f,
            len,
            old: Vec::with_capacity(CHUNK),
            dest,
            out,
            pos: 0,
            dec: crypto::CbcDec::new(&j.old_key, &j.old_iv),
            enc: crypto::CbcEnc::new(&j.new_key, &j.new_iv),
            sha: if check {
                Hashes::Both(crypto::Sha256x2::new())
            } else {
                Hashes::New(crypto::Sha256One::new())
            },
            buf: Vec::with_capacity(CHUNK),
        })
    }

    /// This step's part of the old segment.
    fn chunk(&self) -> std::ops::Range<usize> {
        self.pos..(self.pos + CHUNK).min(self.len)
    }

    /// Reads this step's chunk and decrypts it into `buf`, checking the
    /// padding at the end.
    fn decrypt(&mut self) -> Result<()> {
        let r = self.chunk();
        let last = r.end == self.len;
        self.old.resize(r.len(), 0);
        if let Err(e) = self.src.read_exact(&mut self.old) {
            return Err(if e.kind() == std::io::ErrorKind::UnexpectedEof {
                Error::invalid_file(
                    &self.job.path,
                    "the file shrank while it was being read (another program cut it short)",
                    "nothing was published and the package is as the other program left it; \
                     run `shieldpack verify` on it, and run this command again once nothing else writes to it",
                )
            } else {
                Error::io(&self.job.path, e)
            });
        }
        self.buf.resize(r.len(), 0);
        let ok = self.dec.decrypt_to(&self.old, &mut self.buf);
        if !ok || (last && !crypto::padding_ok(&self.buf)) {
            return Err(Error::invalid_file(
                &self.job.path,
                "does not decrypt with its key (bad padding)",
                "pass the keyring the package was made with; `shieldpack verify --keyring` checks it",
            ));
        }
        Ok(())
    }

    /// Hashes both sides of the (now re-encrypted) chunk and writes it.
    fn write(&mut self) -> Result<()> {
        let r = self.chunk();
        match &mut self.sha {
            Hashes::Both(h) => h.update(&self.old, &self.buf),
            Hashes::New(h) => h.update(&self.buf),
        }
        self.out.write_all(&self.buf).at(&self.dest)?;
        self.pos = r.end;
        Ok(())
    }

    fn is_done(&self) -> bool {
        self.pos == self.len
    }

    /// Checks the old hash and makes the new file durable; returns the new hash.
    fn finish(self) -> Result<(usize, String)> {
        let (old, new) = match self.sha {
            Hashes::Both(h) => {
                let (old, new) = h.finalize();
                (Some(old), new)
            }
            Hashes::New(h) => (None, h.finalize()),
        };
        if old.is_some_and(|old| hex::encode(old) != self.job.sha256) {
            return Err(damaged(
                self.job,
                "its SHA-256 differs from the manifest's, so rekeying would hide the damage".into(),
            ));
        }
        // The old copy is deleted once the packages are swapped: the new one
        // must be on disk by then.
        self.out
            .sync_data()
            .map_err(|e| Error::flush(&self.dest, e))?;
        Ok((self.index, hex::encode(new)))
    }
}

fn damaged(j: &Job, reason: String) -> Error {
    Error::invalid_file(
        &j.path,
        reason,
        "the package is damaged: `shieldpack verify` lists what; package the title again",
    )
}

/// The segments, and the lanes part-way through them, shared by the workers
/// so that they finish together. A lane carries all of a segment's state
/// (chaining values, hash states, file positions), so any worker can take its
/// next step. Between steps a worker puts its lanes back and takes a fair
/// share of all open lanes, then opens new segments up to [`LANES`] while any
/// are left. So when the segments run out, a worker whose lanes ended early
/// takes over lanes of the others instead of waiting for them: handing out
/// whole segments by bytes left, the workers still ended 1 to 15 ms apart in
/// a 140 ms rekey (traced), as one worker's last segments went at the pace
/// of a lone lane while the other sat idle.
struct Pool<'a> {
    work: &'a [Job],
    workers: usize,
    shared: Mutex<Shared<'a>>,
    /// Signalled when lanes are put back for others, when the last lane
    /// ends, and when a worker fails.
    wake: Condvar,
}

struct Shared<'a> {
    /// The first segment of `work` not yet opened.
    next: usize,
    /// Lanes between steps that their last worker did not take back.
    parked: Vec<Lane<'a>>,
    /// Lanes open in all, parked or held by a worker.
    open: usize,
}

impl<'a> Pool<'a> {
    fn new(work: &'a [Job], workers: usize) -> Self {
        Pool {
            work,
            workers,
            shared: Mutex::new(Shared {
                next: 0,
                parked: Vec::new(),
                open: 0,
            }),
            wake: Condvar::new(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Shared<'a>> {
        // A worker that panicked cannot leave `Shared` half-changed: every
        // change under the lock is a push, a drain or a count.
        self.shared.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Puts `lanes` back and refills them with this worker's share: an equal
    /// split of all open lanes (at most [`LANES`]), then new segments up to
    /// [`LANES`] while any are left. Waits while other workers hold every
    /// open lane. Leaves `lanes` empty when all is done, or when `stop` says so.
    fn exchange(
        &self,
        lanes: &mut Vec<Lane<'a>>,
        stop: impl Fn() -> bool,
        open: impl Fn(usize, &'a Job) -> Result<Lane<'a>>,
    ) -> Result<()> {
        let mut sh = self.lock();
        sh.parked.append(lanes);
        loop {
            let share = fair_share(sh.open, self.workers).min(sh.parked.len());
            let from = sh.parked.len() - share;
            lanes.extend(sh.parked.drain(from..));
            if !sh.parked.is_empty() {
                self.wake.notify_all();
            }
            if lanes.len() == LANES || sh.next < self.work.len() {
                break;
            }
            if !lanes.is_empty() || sh.open == 0 || stop() {
                return Ok(());
            }
            // Others hold every open lane: wait for one to be put back. The
            // timeout only bounds how late an interrupt is noticed.
            sh = self
                .wake
                .wait_timeout(sh, std::time::Duration::from_millis(10))
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
        while lanes.len() < LANES {
            let i = sh.next;
            let Some(j) = self.work.get(i) else { break };
            sh.next += 1;
            lanes.push(open(i, j)?);
            sh.open += 1;
        }
        Ok(())
    }

    /// Counts a lane as ended; the last one wakes the workers waiting to exit.
    fn ended(&self) {
        let mut sh = self.lock();
        sh.open -= 1;
        if sh.open == 0 {
            self.wake.notify_all();
        }
    }
}

/// A worker's share of `open` lanes among `workers`: an equal split, rounded
/// up, and at most [`LANES`].
fn fair_share(open: usize, workers: usize) -> usize {
    open.div_ceil(workers.max(1)).min(LANES)
}

/// Re-encrypts segments from `pool`, up to [`LANES`] side by side, into the
/// staged folder. Returns (job index, new SHA-256) for the lanes it finished.
fn worker<'a>(
    dir: &Path,
    root: &Path,
    check: bool,
    pool: &Pool<'a>,
    finished: impl Fn(u64),
    failed: &AtomicBool,
) -> Result<Vec<(usize, String)>> {
    let mut mine = Vec::new();
    let mut lanes: Vec<Lane<'a>> = Vec::with_capacity(LANES);
    loop {
        crate::interrupt::check()?;
        if failed.load(Ordering::Relaxed) {
            break; // another worker failed: the rekey is off
        }
        pool.exchange(
            &mut lanes,
            || failed.load(Ordering::Relaxed) || crate::interrupt::check().is_err(),
            |i, j| Lane::open(dir, root, i, j, check),
        )?;
        if lanes.is_empty() {
            break;
        }
        for l in &mut lanes {
            l.decrypt()?;
        }
        {
            let mut streams: Vec<(&mut crypto::CbcEnc, &mut [u8])> = lanes
                .iter_mut()
                .map(|l| (&mut l.enc, l.buf.as_mut_slice()))
                .collect();
            crypto::encrypt_lanes(&mut streams);
        }
        for l in &mut lanes {
            l.write()?;
        }
        let mut k = 0;
        while k < lanes.len() {
            if lanes[k].is_done() {
                let l = lanes.swap_remove(k);
                let size = l.job.size;
                mine.push(l.finish()?);
                pool.ended();
                finished(size);
            } else {
                k += 1;
            }
        }
    }
    // A worker that stopped waiting because of an interrupt says so, so that
    // no caller takes its missing lanes for finished ones.
    crate::interrupt::check()?;
    Ok(mine)
}

/// Recreates `src`'s tree under `dest`: folders made, files hard-linked (copied
/// where the file system cannot link), except those in `skip`.
fn mirror(src: &Path, dest: &Path, skip: &HashSet<PathBuf>) -> Result<()> {
    for e in walkdir::WalkDir::new(src).min_depth(1) {
        let e = e.map_err(|e| {
            let p = e.path().map(Path::to_path_buf).unwrap_or_default();
            Error::io(&p, e.into())
        })?;
        let rel = e.path().strip_prefix(src).expect("under src");
        let to = dest.join(rel);
        let ft = e.file_type();
        if ft.is_dir() {
            std::fs::create_dir(&to).at(&to)?;
            let mode = e.metadata().map_err(|x| Error::io(e.path(), x.into()))?;
            std::fs::set_permissions(&to, mode.permissions()).at(&to)?;
        } else if ft.is_symlink() {
            let target = std::fs::read_link(e.path()).at(e.path())?;
            std::os::unix::fs::symlink(target, &to).at(&to)?;
        } else if !skip.contains(e.path()) && std::fs::hard_link(e.path(), &to).is_err() {
            std::fs::copy(e.path(), &to).at(&to)?;
        }
    }
    Ok(())
}

/// The media playlist with each encrypted segment's EXT-X-KEY pointing at its
/// (possibly new) key. A tag stays wherever there was one, and one is added
/// wherever the key in force changes, so an unchanged playlist is rewritten
/// byte for byte.
fn rewrite_keys(
    old: &MediaPlaylist,
    manifest: &Manifest,
    rendition: usize,
    playlist_rel: &str,
) -> Result<MediaPlaylist> {
    let r = &manifest.renditions[rendition];
    let base = Path::new(playlist_rel)
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default();
    let records: HashMap<String, usize> = r
        .segments
        .iter()
        .enumerate()
        .map(|(i, s)| (s.uri.clone(), i))
        .collect();
    let effective = old.effective_keys();
    let mut desired: Vec<Option<Key>> = Vec::with_capacity(old.segments.len());
    for (i, seg) in old.segments.iter().enumerate() {
        let uri = base.join(&seg.uri).to_string_lossy().into_owned();
        let rec = records.get(&uri).map(|&k| &r.segments[k]).ok_or_else(|| {
            Error::invalid_file(
                Path::new(playlist_rel),
                format!("segment {uri} is not in manifest.json"),
                "`shieldpack verify` checks the package; package the title again",
            )
        })?;
        let cur = effective[i];
        desired.push(match (&rec.kid, cur) {
            (Some(kid), _) => Some(Key {
                // The segment's own method (SAMPLE-AES, -CTR for cmaf).
                method: cur
                    .map(|k| k.method)
                    .filter(|m| *m != KeyMethod::None)
                    .unwrap_or(KeyMethod::Aes128),
                uri: Some(manifest::key_uri(
                    &manifest.key_uri_template,
                    kid,
                    rec.period,
                    &manifest.content_id,
                )),
                iv: rec.iv.as_deref().and_then(parse_iv),
                keyformat: cur.and_then(|k| k.keyformat.clone()),
                // A KEYID (`--drm`) names the new key.
                keyid: cur.and_then(|k| k.keyid).and_then(|_| parse_iv(kid)),
                keyformatversions: cur.and_then(|k| k.keyformatversions.clone()),
            }),
            (None, k) => k.cloned(),
        });
    }
    let mut new = old.clone();
    for (i, seg) in new.segments.iter_mut().enumerate() {
        // The further DRM systems' lines (`--drm fairplay`'s skd:// URI)
        // name the KID too: moved to the new one with the identity line.
        if let (Some(old_kid), Some(new_kid)) = (
            effective[i].and_then(|k| k.keyid),
            desired[i].as_ref().and_then(|k| k.keyid),
        ) {
            let (from, to) = (hex::encode(old_kid), hex::encode(new_kid));
            for k in &mut seg.extra_keys {
                k.uri = k.uri.as_ref().map(|u| u.replace(&from, &to));
                if k.keyid.is_some() {
                    k.keyid = Some(new_kid);
                }
            }
        }
        let changed = i == 0 || desired[i] != desired[i - 1];
        seg.key = if old.segments[i].key.is_some() || (changed && desired[i].is_some()) {
            desired[i].clone()
        } else {
            None
        };
    }
    Ok(new)
}

/// Replaces every JSON string that is an old KID (hex or UUID form) with the new one.
fn replace_kids(v: &mut serde_json::Value, kids: &BTreeMap<String, String>) {
    match v {
        serde_json::Value::String(s) => {
            if let Some(n) = kids.get(s.as_str()) {
                *s = n.clone();
            } else if let Some((o, n)) = kids
                .iter()
                .find(|(o, _)| crate::keys::export::kid_uuid(o) == *s)
            {
                let _ = o;
                *s = crate::keys::export::kid_uuid(n);
            }
        }
        serde_json::Value::Array(a) => a.iter_mut().for_each(|x| replace_kids(x, kids)),
        serde_json::Value::Object(m) => m.values_mut().for_each(|x| replace_kids(x, kids)),
        _ => {}
    }
}

/// Where `rekey` locks the package `dir`: `.NAME.rekey.lock` beside it, not
/// inside, since the package folder itself is swapped for its staged copy.
/// None when `dir` is no folder (loading its manifest then says so).
pub fn lock_path(dir: &Path) -> Option<PathBuf> {
    let dir = dir.canonicalize().ok().filter(|d| d.is_dir())?;
    let name = dir.file_name()?.to_string_lossy().into_owned();
    Some(dir.parent()?.join(format!(".{name}.rekey.lock")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fair_share_splits_open_lanes_evenly_up_to_four() {
        // Two workers, three lanes left: one keeps two, the other takes one.
        assert_eq!(fair_share(3, 2), 2);
        assert_eq!(fair_share(1, 2), 1);
        assert_eq!(fair_share(8, 2), LANES);
        assert_eq!(fair_share(20, 2), LANES, "never more than LANES at once");
        assert_eq!(fair_share(0, 2), 0);
        assert_eq!(fair_share(5, 1), LANES);
    }
}
