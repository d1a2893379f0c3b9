//! Files written so that nothing is lost or half-written on failure.
//!
//! Secrets go through `write_private`: a temp file in the same folder created
//! 0600, fsync, then rename, so a reader never sees a partial key and a key file
//! is never world-readable even for a moment. Output folders are built beside
//! their destination and renamed into place only when whole (`StagedDir`).

use std::fs;
use std::io::{Read, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use crate::error::{Error, IoContext, Result};

fn parent_of(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// Writes `bytes` to `path` atomically with mode 0600. With `overwrite` false an
/// existing file is an error, and the check is race-free (link, not rename).
pub fn write_private(path: &Path, bytes: &[u8], overwrite: bool) -> Result<()> {
    write_atomic(path, bytes, 0o600, overwrite)
}

/// Writes `bytes` to `path` atomically (temp + fsync + rename) with `mode`.
pub fn write_atomic(path: &Path, bytes: &[u8], mode: u32, overwrite: bool) -> Result<()> {
    let mut tmp = create_atomic(path, mode)?;
    // Through the File: the temp file's own Write adds "at path .shieldpack-X"
    // to errors, a name the user never chose and that is gone by then.
    tmp.as_file_mut().write_all(bytes).at(path)?;
    commit_atomic(tmp, path, overwrite)
}

/// Starts a file that will become `path`: a temp file beside it with `mode`,
/// removed if dropped. Write into it, then `commit_atomic`.
pub fn create_atomic(path: &Path, mode: u32) -> Result<tempfile::NamedTempFile> {
    let dir = parent_of(path);
    tempfile::Builder::new()
        .prefix(".shieldpack-")
        .permissions(fs::Permissions::from_mode(mode))
        .tempfile_in(dir)
        .at(dir)
}

/// Makes a file from `create_atomic` durable and renames it to `path`. With
/// `overwrite` false an existing file is an error (race-free: link, not rename).
pub fn commit_atomic(tmp: tempfile::NamedTempFile, path: &Path, overwrite: bool) -> Result<()> {
    tmp.as_file()
        .sync_all()
        .map_err(|e| Error::flush(path, e))?;
    if overwrite {
        tmp.persist(path).map_err(|e| Error::io(path, e.error))?;
    } else {
        tmp.persist_noclobber(path).map_err(|e| {
            if e.error.kind() == std::io::ErrorKind::AlreadyExists {
                Error::AlreadyExists {
                    path: path.to_path_buf(),
                }
            } else {
                Error::io(path, e.error)
            }
        })?;
    }
    sync_dir(parent_of(path));
    Ok(())
}

/// Swaps two paths in one step (Linux `renameat2(RENAME_EXCHANGE)`), so that
/// either name always names a whole folder. Falls back to two renames where the
/// file system cannot exchange; `a` keeps what was at `b` either way.
pub fn exchange(a: &Path, b: &Path) -> Result<()> {
    #[cfg(target_os = "linux")]
    {
        use std::ffi::CString;
        use std::os::unix::ffi::OsStrExt;
        let ca = CString::new(a.as_os_str().as_bytes())
            .map_err(|_| Error::io(a, std::io::Error::from(std::io::ErrorKind::InvalidInput)))?;
        let cb = CString::new(b.as_os_str().as_bytes())
            .map_err(|_| Error::io(b, std::io::Error::from(std::io::ErrorKind::InvalidInput)))?;
        // SAFETY: both are valid NUL-terminated paths that outlive the call.
        let rc = unsafe {
            libc::renameat2(
                libc::AT_FDCWD,
                ca.as_ptr(),
                libc::AT_FDCWD,
                cb.as_ptr(),
                libc::RENAME_EXCHANGE,
            )
        };
        if rc == 0 {
            sync_dir(parent_of(b));
            return Ok(());
        }
        let err = std::io::Error::last_os_error();
        if !matches!(
            err.raw_os_error(),
            Some(libc::EINVAL) | Some(libc::ENOSYS) | Some(libc::EOPNOTSUPP)
        ) {
            return Err(Error::io(b, err));
        }
    }
    let aside = parent_of(b).join(format!(
        ".{}.swap-{}",
        b.file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
        std::process::id()
    ));
    fs::rename(b, &aside).at(b)?;
    if let Err(e) = fs::rename(a, b) {
        let _ = fs::rename(&aside, b);
        return Err(Error::io(b, e));
    }
    fs::rename(&aside, a).at(a)?;
    sync_dir(parent_of(b));
    Ok(())
}

/// Best effort: make a rename durable by syncing the folder that holds it.
pub fn sync_dir(dir: &Path) {
    if let Ok(f) = fs::File::open(dir) {
        let _ = f.sync_all();
    }
}

/// Whether `path` is a folder with something in it.
pub fn is_nonempty_dir(path: &Path) -> bool {
    fs::read_dir(path)
        .map(|mut d| d.next().is_some())
        .unwrap_or(false)
}

/// An output folder under construction: a hidden sibling of the destination
/// (`.NAME.partial-XXXXXX`), removed if dropped before `publish`.
///
/// The process building it holds an exclusive `flock` on it, so a folder of
/// that name nobody holds was left by a run that was killed (SIGKILL, the OOM
/// killer, a power cut) and can go: the next run for the same destination
/// removes such folders of its destination first (`remove_abandoned`), and
/// `batch` those of its titles. A folder is locked before it gets the
/// `.partial-` name, so no sweeper can see one of them unlocked while alive.
pub struct StagedDir {
    dest: PathBuf,
    path: Option<PathBuf>,
    /// The flock on `path`; None where the file system cannot lock folders
    /// (nothing is then swept there either: see `remove_abandoned`).
    _lock: Option<fs::File>,
}

impl StagedDir {
    /// Prepares to build `dest`. Refuses an existing non-empty `dest` unless
    /// `force`; checks that the parent is writable before any work is done.
    /// With `clean`, first removes what killed runs staged for `dest`.
    pub fn new(dest: &Path, force: bool, clean: bool) -> Result<Self> {
        if dest.exists() && !dest.is_dir() {
            return Err(Error::invalid_file(
                dest,
                "exists and is not a folder",
                "choose a folder path for the output",
            ));
        }
        if is_nonempty_dir(dest) && !force {
            return Err(Error::OutputNotEmpty {
                path: dest.to_path_buf(),
            });
        }
        let parent = parent_of(dest);
        if !parent.is_dir() {
            fs::create_dir_all(parent).at(parent)?;
        }
        let name = dest
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "out".into());
        if clean {
            // best effort: a sweep that fails leaves litter, not a failed run
            let _ = remove_abandoned_staging(parent, |owner| owner == name);
        }
        // Made under a name no sweeper looks at, locked, then renamed.
        let making = tempfile::Builder::new()
            .prefix(&format!(".{name}.making-"))
            .tempdir_in(parent)
            .at(parent)?;
        fs::set_permissions(making.path(), fs::Permissions::from_mode(0o755)).at(making.path())?;
        let lock = lock(making.path());
        let suffix = making
            .path()
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .and_then(|n| n.rsplit('-').next().map(str::to_owned))
            .unwrap_or_default();
        let path = making
            .path()
            .with_file_name(format!(".{name}.partial-{suffix}"));
        fs::rename(making.path(), &path).at(&path)?;
        let _ = making.keep();
        Ok(StagedDir {
            dest: dest.to_path_buf(),
            path: Some(path),
            _lock: lock,
        })
    }

    pub fn path(&self) -> &Path {
        self.path.as_deref().expect("not yet published")
    }

    pub fn dest(&self) -> &Path {
        &self.dest
    }

    /// Moves the finished folder into place. An existing `dest` (allowed by
    /// `force`) is locked and renamed aside first, and removed only after the
    /// swap.
    pub fn publish(mut self) -> Result<()> {
        let staged = self.path.take().expect("published once");
        let parent = parent_of(&self.dest).to_path_buf();
        let mut old = None;
        let _old_lock = self.dest.is_dir().then(|| lock(&self.dest)).flatten();
        if self.dest.exists() {
            let aside = parent.join(format!(
                ".{}.old-{}",
                self.dest
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default(),
                std::process::id()
            ));
            fs::rename(&self.dest, &aside).at(&self.dest)?;
            old = Some(aside);
        }
        if let Err(e) = fs::rename(&staged, &self.dest) {
            if let Some(aside) = &old {
                let _ = fs::rename(aside, &self.dest);
            }
            let _ = fs::remove_dir_all(&staged);
            return Err(Error::io(&self.dest, e));
        }
        sync_dir(&parent);
        if let Some(aside) = old {
            let _ = fs::remove_dir_all(aside);
        }
        Ok(())
    }
}

impl Drop for StagedDir {
    fn drop(&mut self) {
        if let Some(p) = self.path.take() {
            let _ = fs::remove_dir_all(p);
        }
    }
}

/// Takes an exclusive `flock` on `file` without waiting: true when taken
/// (held until `file` is closed, however the process ends), false when
/// another open file holds it.
pub fn try_lock(file: &fs::File) -> std::io::Result<bool> {
    use std::os::fd::AsRawFd;
    // SAFETY: flock on a descriptor `file` keeps open; no memory is involved.
    if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } == 0 {
        return Ok(true);
    }
    let err = std::io::Error::last_os_error();
    if err.raw_os_error() == Some(libc::EWOULDBLOCK) {
        Ok(false)
    } else {
        Err(err)
    }
}

/// An exclusive lock that keeps a second run of one job (a `rekey` of one
/// package, a `batch` shard into one OUTROOT) from starting while the first
/// runs: two at once would each stage a copy and the later swap would drop
/// the earlier's work, or both would package the same titles.
///
/// It is a `flock` (`try_lock`) on a lock file that records its holder (pid,
/// host, start time, job), so the refused run can say who holds it. The lock
/// goes when the holder exits, however it ends; a killed holder's stale record
/// is simply overwritten by the next run. The file is removed on drop, while
/// still locked; a run that opened it just before checks, once it has the
/// lock, that the path still names the file it locked, and starts over if not.
#[derive(Debug)]
pub struct JobLock {
    _file: fs::File,
    path: PathBuf,
}

/// Who holds a `JobLock`, as written into its file (one JSON line).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct LockHolder {
    pub pid: u32,
    pub host: String,
    /// UTC, RFC 3339.
    pub started: String,
    /// What it is doing: "rekey", "batch".
    pub job: String,
}

impl LockHolder {
    fn me(job: &str) -> LockHolder {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        LockHolder {
            pid: std::process::id(),
            host: hostname(),
            started: utc_rfc3339(now),
            job: job.into(),
        }
    }
}

/// This machine's name, for lock records.
pub fn hostname() -> String {
    fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "unknown-host".into())
}

/// Seconds since 1970 as `YYYY-MM-DDTHH:MM:SSZ` (proleptic Gregorian, UTC).
pub fn utc_rfc3339(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Howard Hinnant's days-to-civil.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

/// Lock records are one short line; a bigger file is not ours to read whole.
const MAX_LOCK_RECORD: u64 = 4096;

impl JobLock {
    /// Takes the lock at `path` (created 0644 if missing) for `job`, without
    /// waiting: when another process holds it, fails at once naming it.
    pub fn take(path: &Path, job: &str) -> Result<JobLock> {
        use std::io::{Read, Seek, Write};
        use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
        // A few rounds at most: each retry means a holder just finished.
        for _ in 0..16 {
            let mut file = fs::OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .mode(0o644)
                .open(path)
                .at(path)?;
            if !try_lock(&file).at(path)? {
                let mut text = String::new();
                let _ = (&mut file).take(MAX_LOCK_RECORD).read_to_string(&mut text);
                return Err(held_error(path, job, &text));
            }
            let held = file.metadata().at(path)?;
            match fs::symlink_metadata(path) {
                Ok(now) if now.dev() == held.dev() && now.ino() == held.ino() => {}
                _ => continue,
            }
            let mut record = serde_json::to_string(&LockHolder::me(job)).expect("serialisable");
            record.push('\n');
            file.set_len(0).at(path)?;
            file.rewind().at(path)?;
            file.write_all(record.as_bytes()).at(path)?;
            return Ok(JobLock {
                _file: file,
                path: path.to_path_buf(),
            });
        }
        Err(Error::invalid_file(
            path,
            format!("the {job} lock keeps changing hands"),
            "other runs keep starting and ending here; run this one when they are done",
        ))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for JobLock {
    fn drop(&mut self) {
        // Still locked here, so nobody can be working under this file.
        let _ = fs::remove_file(&self.path);
    }
}

/// The refusal of a second run: who holds the lock and what to do.
fn held_error(path: &Path, job: &str, record: &str) -> Error {
    match serde_json::from_str::<LockHolder>(record.trim()) {
        Ok(h) => {
            let hint = if h.host == hostname() {
                format!(
                    "wait for it to finish, or stop it (`kill {}`); the lock goes when it exits",
                    h.pid
                )
            } else {
                format!(
                    "it runs on {}: wait for it to finish there, or stop it there; the lock goes when it exits",
                    h.host
                )
            };
            Error::invalid_file(
                path,
                format!(
                    "another {} is running here: pid {} on {}, started {}",
                    h.job, h.pid, h.host, h.started
                ),
                hint,
            )
        }
        Err(_) => Error::invalid_file(
            path,
            format!("another process holds the {job} lock (it recorded no pid)"),
            format!(
                "wait for it to finish; `fuser -v {}` names the process that holds the lock",
                path.display()
            ),
        ),
    }
}

/// An exclusive `flock` on the folder `dir`, held until the returned file is
/// dropped; None if `dir` cannot be opened or locked now.
fn lock(dir: &Path) -> Option<fs::File> {
    let f = fs::File::open(dir).ok()?;
    try_lock(&f).ok()?.then_some(f)
}

/// Removes `dir`, a staged or set-aside folder, if no live process holds it:
/// its lock can be taken. Where folders cannot be locked at all (the lock
/// fails the same for everyone) nothing is removed. Best effort; says whether
/// `dir` is gone.
fn remove_abandoned(dir: &Path) -> bool {
    match lock(dir) {
        Some(_held) => fs::remove_dir_all(dir).is_ok(),
        None => false,
    }
}

/// The destination NAME whose staging `file_name` is, if it is one of the
/// folders `StagedDir` leaves beside it when killed: `.NAME.partial-*` or
/// `.NAME.old-*`.
fn staging_owner(file_name: &str) -> Option<&str> {
    let rest = file_name.strip_prefix('.')?;
    rest.rfind(".partial-")
        .or_else(|| rest.rfind(".old-"))
        .map(|i| &rest[..i])
}

/// Removes from `parent` the staging folders that killed runs left
/// (`.NAME.partial-*`, `.NAME.old-*`) for the destinations whose NAME `owns`
/// accepts, and that no live process holds (`remove_abandoned`); says which
/// went. A missing `parent` has none. Folders only: a symlink of such a name
/// is not ours and is not followed.
pub fn remove_abandoned_staging(
    parent: &Path,
    owns: impl Fn(&str) -> bool,
) -> Result<Vec<PathBuf>> {
    let mut removed = Vec::new();
    let entries = match fs::read_dir(parent) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(removed),
        Err(e) => return Err(Error::io(parent, e)),
    };
    for entry in entries {
        let entry = entry.at(parent)?;
        if staging_owner(&entry.file_name().to_string_lossy()).is_some_and(&owns)
            && entry.file_type().is_ok_and(|t| t.is_dir())
            && remove_abandoned(&entry.path())
        {
            removed.push(entry.path());
        }
    }
    Ok(removed)
}

/// Writes a file inside a staged folder (no rename needed: the folder is the
/// unit), durably: the folder is renamed into place, and may replace another,
/// right after.
pub fn write_file(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut f = fs::File::create(path).at(path)?;
    f.write_all(bytes).at(path)?;
    f.sync_data().map_err(|e| Error::flush(path, e))?;
    Ok(())
}

/// Why [`read_capped`] gave up on a file.
#[derive(Debug)]
pub enum CappedReadError {
    /// It could not be opened or read (missing, a symlink as its last
    /// component, permissions).
    Io(std::io::Error),
    /// It is a FIFO, device, socket or folder: never read, so it cannot block
    /// or stream forever.
    NotRegular(&'static str),
    /// It holds more than the cap allows.
    TooLarge { cap: u64 },
}

impl std::fmt::Display for CappedReadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CappedReadError::Io(e) => write!(f, "cannot read: {e}"),
            CappedReadError::NotRegular(kind) => write!(f, "is a {kind}, not a regular file"),
            CappedReadError::TooLarge { cap } => {
                write!(
                    f,
                    "is larger than {cap} bytes, more than such a file can be"
                )
            }
        }
    }
}

/// What kind of non-regular file `t` is, for messages.
pub fn file_kind(t: fs::FileType) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    if t.is_dir() {
        "folder"
    } else if t.is_symlink() {
        "symbolic link"
    } else if t.is_fifo() {
        "FIFO"
    } else if t.is_socket() {
        "socket"
    } else if t.is_block_device() || t.is_char_device() {
        "device"
    } else if t.is_file() {
        "regular file"
    } else {
        "special file"
    }
}

/// Opens `path` for reading only if it is a regular file: its last component
/// is not followed if it is a symlink (`O_NOFOLLOW`), a FIFO cannot block the
/// open (`O_NONBLOCK`), and the opened file's type is checked (`fstat`) before
/// anything is read.
pub fn open_regular(path: &Path) -> std::result::Result<(fs::File, u64), CappedReadError> {
    let f = fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(path)
        .map_err(|e| match e.raw_os_error() {
            Some(libc::ELOOP) => CappedReadError::NotRegular("symbolic link"),
            _ => CappedReadError::Io(e),
        })?;
    let meta = f.metadata().map_err(CappedReadError::Io)?;
    if !meta.file_type().is_file() {
        return Err(CappedReadError::NotRegular(file_kind(meta.file_type())));
    }
    Ok((f, meta.len()))
}

/// Reads a whole regular file of at most `cap` bytes (see [`open_regular`]);
/// a bigger one (or one that grows past the cap while read) is refused
/// without reading more than `cap + 1` bytes.
pub fn read_capped(path: &Path, cap: u64) -> std::result::Result<Vec<u8>, CappedReadError> {
    let (f, len) = open_regular(path)?;
    if len > cap {
        return Err(CappedReadError::TooLarge { cap });
    }
    let mut buf = Vec::with_capacity(len as usize);
    f.take(cap + 1)
        .read_to_end(&mut buf)
        .map_err(CappedReadError::Io)?;
    if buf.len() as u64 > cap {
        return Err(CappedReadError::TooLarge { cap });
    }
    Ok(buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_job_lock_is_refused_naming_the_holder() {
        let d = tempfile::tempdir().unwrap();
        let path = d.path().join(".job.lock");
        let first = JobLock::take(&path, "rekey").unwrap();
        let record: LockHolder =
            serde_json::from_str(fs::read_to_string(&path).unwrap().trim()).unwrap();
        assert_eq!(record.pid, std::process::id());
        assert_eq!(record.job, "rekey");
        // flock locks belong to open files, so this process's second open is refused too.
        let e = JobLock::take(&path, "rekey").unwrap_err();
        let msg = e.to_string();
        assert!(
            msg.contains(&format!(
                "another rekey is running here: pid {} on {}, started {}",
                record.pid, record.host, record.started
            )),
            "{msg}"
        );
        assert!(
            e.hint()
                .unwrap()
                .contains(&format!("kill {}", std::process::id())),
            "{e:?}"
        );
        drop(first);
        assert!(!path.exists(), "the lock file outlived its holder");
        let again = JobLock::take(&path, "rekey").unwrap();
        drop(again);
    }

    #[test]
    fn a_lock_held_with_no_record_still_refuses() {
        let d = tempfile::tempdir().unwrap();
        let path = d.path().join(".job.lock");
        let f = fs::File::create(&path).unwrap();
        assert!(try_lock(&f).unwrap());
        let e = JobLock::take(&path, "batch").unwrap_err();
        assert!(e.to_string().contains("recorded no pid"), "{e}");
    }

    #[test]
    fn utc_times() {
        assert_eq!(utc_rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(utc_rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(utc_rfc3339(1_700_000_000), "2023-11-14T22:13:20Z");
    }

    /// What a run killed mid-package leaves (a staged folder nobody holds, an
    /// old package set aside) goes when the next run for the same destination
    /// starts; a live run's staging, other destinations' and look-alikes stay.
    #[test]
    fn a_new_staged_dir_sweeps_abandoned_staging_of_its_destination_only() {
        let d = tempfile::tempdir().unwrap();
        let dest = d.path().join("out");
        let live = StagedDir::new(&dest, false, true).unwrap();
        let live_path = live.path().to_path_buf();
        let name = |p: &Path| p.file_name().unwrap().to_string_lossy().into_owned();
        assert!(name(&live_path).starts_with(".out.partial-"));
        for n in [
            ".out.partial-dead01",
            ".out.old-4242",
            ".outer.partial-x",
            ".other.partial-y",
        ] {
            fs::create_dir(d.path().join(n)).unwrap();
            fs::write(d.path().join(n).join("seg_00000.ts"), "x").unwrap();
        }
        fs::write(d.path().join(".out.partial-file"), "not a folder").unwrap();
        let next = StagedDir::new(&dest, false, true).unwrap();
        let mut left: Vec<String> = fs::read_dir(d.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        left.sort();
        let mut want = vec![
            ".other.partial-y".to_string(),
            ".out.partial-file".to_string(),
            ".outer.partial-x".to_string(),
            name(&live_path),
            name(next.path()),
        ];
        want.sort();
        assert_eq!(left, want);
        assert!(
            lock(&live_path).is_none(),
            "a live run's staging could be locked"
        );
        drop(live);
        assert!(!live_path.exists());
        next.publish().unwrap();
        assert!(dest.is_dir());
    }
}
