//! Keyrings and key derivation.
//!
//! A keyring is a JSON file holding a public salt and a 256-bit master secret
//! age-wrapped to its recipients; it never holds a plaintext secret. Content keys,
//! KIDs and derived IVs are never stored: each is
//! `HKDF-SHA256(salt, master, info)` where `info` is the length-prefixed tuple
//! ("shieldpack/v1", purpose, content_id, generation, period[, sequence]), so the
//! same keyring, content id and period always give the same key.

pub mod agewrap;
pub mod cpix;
pub mod export;
pub mod scope;

pub use scope::{KeyScope, TrackType};

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use hkdf::Hkdf;
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use zeroize::Zeroizing;

use crate::error::{Error, IoContext, Result};
use agewrap::{Recipient, UnwrapError};

pub const FORMAT: &str = "shieldpack-keyring";
pub const VERSION: u64 = 1;
const DOMAIN: &[u8] = b"shieldpack/v1";
/// Keyrings are small; anything larger is not one (checked before parsing).
const MAX_KEYRING_BYTES: u64 = 4 << 20;

/// A 16-byte key identifier, shown as 32 lowercase hex digits.
pub type Kid = [u8; 16];

/// The keyring file as stored.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyringFile {
    pub format: String,
    pub version: u64,
    /// A public fingerprint of the master (an HKDF output, not the master).
    pub fingerprint: String,
    /// Hex of the 32-byte public HKDF salt.
    pub salt: String,
    /// The recipients the master is wrapped to, as text.
    pub recipients: Vec<String>,
    /// The master, age-encrypted (armored) to `recipients`.
    pub master: String,
    /// Per content id: key generations and revocations.
    #[serde(default)]
    pub contents: BTreeMap<String, ContentState>,
    /// Per content id: the titles packaged under it with this keyring
    /// (`record_packaged`), so that a different title is refused the same
    /// keys and IVs. Absent (empty) in keyrings that never packaged.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub packaged: BTreeMap<String, Vec<PackagedTitle>>,
}

/// A title packaged under a content id: where it was read from and what it
/// held. Two inputs are the same title when either matches: the same file
/// (a new encode packaged again in place) or the same bytes (a copy moved or
/// renamed). Anything else would encrypt different content under the same
/// keys, KIDs and IVs.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct PackagedTitle {
    /// The input's absolute path (canonical where it can be resolved).
    pub source: String,
    /// Its size in bytes.
    pub size: u64,
    /// `sha256:` and the SHA-256 of the size (8 bytes big-endian), the first
    /// MiB and the last MiB of the input: cheap (at most 2 MiB read however
    /// long the title), stable (no timestamps, no paths), and different for
    /// any two different encodes in practice, since container headers, sizes
    /// and tails differ.
    pub fingerprint: String,
}

/// How much of each end of an input `PackagedTitle::fingerprint` reads.
const FINGERPRINT_SPAN: u64 = 1 << 20;

impl PackagedTitle {
    /// Describes the input at `path`.
    pub fn of(path: &Path) -> Result<PackagedTitle> {
        use sha2::Digest;
        use std::io::{Read, Seek, SeekFrom};
        let mut f = std::fs::File::open(path).at(path)?;
        let size = f.metadata().at(path)?.len();
        let mut sha = Sha256::new();
        sha.update(size.to_be_bytes());
        let mut buf = vec![0u8; FINGERPRINT_SPAN.min(size) as usize];
        f.read_exact(&mut buf).at(path)?;
        sha.update(&buf);
        if size > FINGERPRINT_SPAN {
            let tail = FINGERPRINT_SPAN.min(size - FINGERPRINT_SPAN);
            f.seek(SeekFrom::End(-(tail as i64))).at(path)?;
            buf.truncate(tail as usize);
            f.read_exact(&mut buf).at(path)?;
            sha.update(&buf);
        }
        let source = std::fs::canonicalize(path)
            .or_else(|_| std::path::absolute(path))
            .unwrap_or_else(|_| path.to_path_buf());
        Ok(PackagedTitle {
            source: source.to_string_lossy().into_owned(),
            size,
            fingerprint: format!("sha256:{}", hex::encode(sha.finalize())),
        })
    }

    /// Whether `other` is the same title (same file, or same bytes).
    pub fn same_title(&self, other: &PackagedTitle) -> bool {
        self.source == other.source
            || (self.size == other.size && self.fingerprint == other.fingerprint)
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ContentState {
    /// Key generations in force, each from a period on; generation 0 from period 0
    /// is implied when empty.
    #[serde(default)]
    pub generations: Vec<GenerationStart>,
    #[serde(default)]
    pub revoked_periods: Vec<u64>,
    #[serde(default)]
    pub revoked_generations: Vec<u32>,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct GenerationStart {
    pub generation: u32,
    pub from_period: u64,
}

/// Revoking more periods than this in one go is surely a typo (and would bloat
/// the keyring).
const MAX_REVOKE_PERIODS: u64 = 100_000;

impl ContentState {
    /// Whether the key of `period` in `generation` is revoked, by period or by generation.
    pub fn is_revoked(&self, period: u64, generation: u32) -> bool {
        self.revoked_periods.contains(&period) || self.revoked_generations.contains(&generation)
    }

    /// Whether a generation exists (0 always does).
    pub fn has_generation(&self, generation: u32) -> bool {
        generation == 0 || self.generations.iter().any(|g| g.generation == generation)
    }

    /// Whether `generation` is the one in force for at least one period.
    pub fn generation_in_force(&self, generation: u32) -> bool {
        if generation == 0 {
            return self.generation_for(0) == 0;
        }
        self.generations
            .iter()
            .filter(|g| g.generation == generation)
            .any(|g| self.generation_for(g.from_period) == generation)
    }

    /// The generation in force for `period`: the newest one that starts at or before it.
    pub fn generation_for(&self, period: u64) -> u32 {
        self.generations
            .iter()
            .filter(|g| g.from_period <= period)
            .map(|g| g.generation)
            .max()
            .unwrap_or(0)
    }
}

/// A keyring whose master has been unwrapped, in memory only.
pub struct Keyring {
    pub file: KeyringFile,
    pub path: PathBuf,
    salt: [u8; 32],
    master: Zeroizing<[u8; 32]>,
    /// Keys a DRM provider gave in a CPIX document (`package --cpix`): they
    /// replace derived content keys and KIDs period by period.
    provided: Option<std::sync::Arc<cpix::CpixKeys>>,
}

fn info(
    purpose: &str,
    content_id: &str,
    generation: u32,
    period: u64,
    extra: Option<u64>,
) -> Vec<u8> {
    let mut out = Vec::with_capacity(96);
    let mut field = |b: &[u8]| {
        out.extend_from_slice(&(b.len() as u32).to_be_bytes());
        out.extend_from_slice(b);
    };
    field(DOMAIN);
    field(purpose.as_bytes());
    field(content_id.as_bytes());
    field(&generation.to_be_bytes());
    field(&period.to_be_bytes());
    if let Some(x) = extra {
        field(&x.to_be_bytes());
    }
    out
}

/// `info` with the track type as one more length-prefixed field: a
/// different length from every period-scope info, so no track-type key can
/// equal a period key.
fn scoped_info(
    purpose: &str,
    content_id: &str,
    generation: u32,
    period: u64,
    track: TrackType,
) -> Vec<u8> {
    let mut i = info(purpose, content_id, generation, period, None);
    let t = track.as_str().as_bytes();
    i.extend_from_slice(&(t.len() as u32).to_be_bytes());
    i.extend_from_slice(t);
    i
}

fn derive<const N: usize>(salt: &[u8; 32], master: &[u8; 32], info: &[u8]) -> Zeroizing<[u8; N]> {
    let hk = Hkdf::<Sha256>::new(Some(salt), master);
    let mut okm = Zeroizing::new([0u8; N]);
    hk.expand(info, okm.as_mut())
        .expect("N is far below HKDF's limit");
    okm
}

fn fingerprint_of(salt: &[u8; 32], master: &[u8; 32]) -> String {
    let fp: Zeroizing<[u8; 8]> = derive(salt, master, &info("fingerprint", "", 0, 0, None));
    format!("sp1:{}", hex::encode(*fp))
}

/// Checks that a content id is safe in paths, URIs and key URIs.
pub fn check_content_id(id: &str) -> Result<()> {
    let ok = !id.is_empty()
        && id.len() <= 128
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        && !id.starts_with('.');
    if ok {
        Ok(())
    } else {
        Err(Error::arg(
            format!("'{id}' is not a valid content id"),
            "use 1 to 128 characters from A-Z a-z 0-9 . _ - (not starting with a dot)",
        ))
    }
}

/// Makes a content id from free text (a file name): unsafe characters become '-'.
pub fn content_id_from(text: &str) -> String {
    let mut s: String = text
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '-'
            }
        })
        .collect();
    while s.starts_with('.') {
        s.remove(0);
    }
    s.truncate(128);
    if s.is_empty() {
        s.push_str("content");
    }
    s
}

/// Checks a content id given for a new package (`package --content-id`): a
/// valid id (`check_content_id`) with at least one letter or digit, so that
/// ids like `--` that a lossy name mapping produces are not chosen on
/// purpose. (Keyrings may already hold such ids: they stay readable.)
pub fn check_new_content_id(id: &str) -> Result<()> {
    check_content_id(id)?;
    if !id.chars().any(|c| c.is_ascii_alphanumeric()) {
        return Err(Error::arg(
            format!("content id '{id}' has no letter or digit"),
            "name the title, e.g. --content-id movie-2024; ids of punctuation only are what different titles collide on",
        ));
    }
    Ok(())
}

/// A content id for a title named `name` (a file stem) that no other name
/// gets: `name` itself when it is a valid content id with a letter or digit
/// (so ASCII names keep the ids, and the keys, they always had), else its
/// readable part (`content_id_from`) plus `-` and 12 hex digits of the
/// SHA-256 of the name's bytes. Without the hash, `視頻` and `電影` would both
/// be `--` and share every key, KID and sequence IV.
pub fn unique_content_id(name: &[u8]) -> String {
    let text = String::from_utf8_lossy(name);
    if check_new_content_id(&text).is_ok() {
        return text.into_owned();
    }
    use sha2::Digest;
    let hash = hex::encode(&Sha256::digest(name)[..6]);
    let readable = content_id_from(&text);
    let readable = readable.trim_matches(|c| c == '-' || c == '.');
    if !readable.chars().any(|c| c.is_ascii_alphanumeric()) {
        return format!("title-{hash}");
    }
    let mut base: String = readable.chars().take(128 - 13).collect();
    while base.ends_with(['-', '.']) {
        base.pop();
    }
    format!("{base}-{hash}")
}

/// A keyring that cannot be opened: a missing one says how to make one.
fn open_error(path: &Path, e: std::io::Error) -> Error {
    Error::missing_or_io(
        path,
        e,
        "no such keyring",
        "create one with `shieldpack keys new -o KEYRING`",
    )
}

impl KeyringFile {
    /// Reads and validates a keyring file without unwrapping it.
    pub fn load(path: &Path) -> Result<Self> {
        let meta = std::fs::metadata(path).map_err(|e| open_error(path, e))?;
        if meta.len() > MAX_KEYRING_BYTES {
            return Err(Error::KeyringCorrupt {
                path: path.into(),
                reason: format!("{} bytes is too large", meta.len()),
            });
        }
        let text = std::fs::read(path).at(path)?;
        let corrupt = |reason: String| Error::KeyringCorrupt {
            path: path.into(),
            reason,
        };
        let value: serde_json::Value = serde_json::from_slice(&text).map_err(|e| {
            corrupt(format!(
                "invalid JSON at line {}, column {}",
                e.line(),
                e.column()
            ))
        })?;
        if value.get("format").and_then(|f| f.as_str()) != Some(FORMAT) {
            return Err(corrupt("missing \"format\": \"shieldpack-keyring\"".into()));
        }
        match value.get("version").and_then(|v| v.as_u64()) {
            Some(VERSION) => {}
            Some(found) => {
                return Err(Error::KeyringVersion {
                    path: path.into(),
                    found,
                    supported: VERSION,
                })
            }
            None => return Err(corrupt("missing \"version\"".into())),
        }
        let file: KeyringFile =
            serde_json::from_value(value).map_err(|e| corrupt(e.to_string()))?;
        let salt = hex::decode(&file.salt).map_err(|_| corrupt("salt is not hex".into()))?;
        if salt.len() != 32 {
            return Err(corrupt("salt is not 32 bytes".into()));
        }
        if !file
            .master
            .starts_with("-----BEGIN AGE ENCRYPTED FILE-----")
        {
            return Err(corrupt("master is not an armored age file".into()));
        }
        for id in file.contents.keys().chain(file.packaged.keys()) {
            check_content_id(id).map_err(|_| corrupt(format!("invalid content id '{id}'")))?;
        }
        Ok(file)
    }

    /// Unwraps the master with the given identity files.
    pub fn unlock(self, path: &Path, identity_files: &[PathBuf]) -> Result<Keyring> {
        if identity_files.is_empty() {
            return Err(Error::NoIdentity { path: path.into() });
        }
        let mut ids = Vec::new();
        for f in identity_files {
            ids.extend(agewrap::load_identities(f)?);
        }
        let plain =
            Zeroizing::new(
                agewrap::unwrap(self.master.as_bytes(), &ids).map_err(|e| match e {
                    UnwrapError::NoMatchingKeys => Error::WrongIdentity {
                        path: path.into(),
                        tried: identity_files.to_vec(),
                    },
                    UnwrapError::Malformed(reason) => Error::KeyringCorrupt {
                        path: path.into(),
                        reason: format!("wrapped master: {reason}"),
                    },
                })?,
            );
        let corrupt = |reason: &str| Error::KeyringCorrupt {
            path: path.into(),
            reason: reason.into(),
        };
        if plain.len() != 32 {
            return Err(corrupt("wrapped master is not 32 bytes"));
        }
        let mut master = Zeroizing::new([0u8; 32]);
        master.copy_from_slice(&plain);
        let mut salt = [0u8; 32];
        salt.copy_from_slice(&hex::decode(&self.salt).expect("checked by load"));
        if fingerprint_of(&salt, &master) != self.fingerprint {
            return Err(corrupt(
                "fingerprint does not match the master (the file was altered)",
            ));
        }
        Ok(Keyring {
            file: self,
            path: path.into(),
            salt,
            master,
            provided: None,
        })
    }

    pub fn content(&self, content_id: &str) -> ContentState {
        self.contents.get(content_id).cloned().unwrap_or_default()
    }

    /// Writes the keyring atomically, 0600 (it names recipients; keep it private).
    pub fn save(&self, path: &Path, overwrite: bool) -> Result<()> {
        let mut text = serde_json::to_string_pretty(self).expect("serialisable");
        text.push('\n');
        crate::fsutil::write_private(path, text.as_bytes(), overwrite)
    }
}

/// How long a change to a keyring waits for another one to finish. Each
/// holds the lock for milliseconds, so this only runs out behind a process
/// that hangs.
const LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(60);

/// An exclusive lock on a keyring for one read-modify-write (`rotate`,
/// `revoke`, `rewrap`), released on drop or when the process dies. Without
/// it, two rotations at once (two CI jobs, say) each read the file, each add
/// their generation and each rename their copy into place: one is lost,
/// silently, and its `rekey` then finds nothing to do.
///
/// The lock is `flock` on the keyring file itself, so no lock file is left
/// beside it. Saving renames a new file over the keyring, so a waiter that
/// gets the lock checks that the path still names the file it locked, and
/// locks the new one if not. Readers need no lock: they see the old file or
/// the new, never a mix.
struct WriteLock {
    _file: std::fs::File,
}

impl WriteLock {
    fn take(path: &Path) -> Result<WriteLock> {
        use std::os::unix::fs::MetadataExt;
        let started = std::time::Instant::now();
        loop {
            // Open for writing where we may: over NFS, Linux emulates flock
            // with POSIX locks, and an exclusive one needs a writable file.
            let file = std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .open(path)
                .or_else(|e| match e.kind() {
                    std::io::ErrorKind::PermissionDenied
                    | std::io::ErrorKind::ReadOnlyFilesystem => std::fs::File::open(path),
                    _ => Err(e),
                })
                .map_err(|e| open_error(path, e))?;
            while !crate::fsutil::try_lock(&file).at(path)? {
                crate::interrupt::check()?;
                if started.elapsed() > LOCK_WAIT {
                    return Err(Error::invalid_file(
                        path,
                        format!(
                            "another shieldpack process has held this keyring for over {} s (a keys rotate, revoke or rewrap)",
                            LOCK_WAIT.as_secs()
                        ),
                        "let it finish, or stop it: its lock goes when it exits (`fuser KEYRING` names it)",
                    ));
                }
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
            let held = file.metadata().at(path)?;
            match std::fs::metadata(path) {
                Ok(now) if now.dev() == held.dev() && now.ino() == held.ino() => {
                    return Ok(WriteLock { _file: file })
                }
                // Replaced (or removed) while we waited: lock what is there now.
                _ => continue,
            }
        }
    }
}

/// Resolves the identity files for a keyring: `-i` flags, else SHIELDPACK_IDENTITY,
/// else `KEYRING.identity` when it exists.
pub fn identity_files(keyring: &Path, given: &[PathBuf]) -> Vec<PathBuf> {
    if !given.is_empty() {
        return given.to_vec();
    }
    if let Some(env) = std::env::var_os("SHIELDPACK_IDENTITY").filter(|v| !v.is_empty()) {
        return vec![PathBuf::from(env)];
    }
    let beside = identity_path_for(keyring);
    if beside.is_file() {
        vec![beside]
    } else {
        Vec::new()
    }
}

/// An identity file that users other than its owner may read or change,
/// which ssh refuses as an "UNPROTECTED PRIVATE KEY FILE". shieldpack still
/// uses it (a shared CI volume may have no better mode) but says so.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnprotectedIdentity {
    pub path: PathBuf,
    /// The permission bits, e.g. 0o644.
    pub mode: u32,
}

impl UnprotectedIdentity {
    pub fn message(&self) -> String {
        let who = if self.mode & 0o044 != 0 {
            "other users can read the private key in it"
        } else {
            "other users can replace the private key in it"
        };
        format!(
            "identity file {} has permissions {:04o}, too open: {who}",
            self.path.display(),
            self.mode
        )
    }

    pub fn hint(&self) -> String {
        format!(
            "make it private with `chmod 600 {}`, and treat its key as exposed if others could read it",
            self.path.display()
        )
    }
}

/// The regular files among `files` that grant group or others any access
/// (`mode & 0o077`, as ssh checks). Files that cannot be read are left to
/// the code that reads them to report.
pub fn unprotected_identities(files: &[PathBuf]) -> Vec<UnprotectedIdentity> {
    use std::os::unix::fs::PermissionsExt;
    files
        .iter()
        .filter_map(|f| {
            let meta = std::fs::metadata(f).ok().filter(|m| m.is_file())?;
            let mode = meta.permissions().mode() & 0o7777;
            (mode & 0o077 != 0).then(|| UnprotectedIdentity {
                path: f.clone(),
                mode,
            })
        })
        .collect()
}

pub fn identity_path_for(keyring: &Path) -> PathBuf {
    let mut s = keyring.as_os_str().to_owned();
    s.push(".identity");
    PathBuf::from(s)
}

/// Loads and unlocks a keyring in one step.
pub fn open(path: &Path, identities: &[PathBuf]) -> Result<Keyring> {
    let file = KeyringFile::load(path)?;
    file.unlock(path, &identity_files(path, identities))
}

/// What `create` made: the keyring, and the identity written beside it if any.
pub struct Created {
    pub file: KeyringFile,
    pub identity_path: Option<PathBuf>,
}

/// Creates a new keyring at `path`, wrapped to `recipients`, or to a new X25519
/// identity written to `KEYRING.identity` when there are none. Refuses to
/// overwrite either file.
pub fn create(path: &Path, recipients: Vec<Recipient>, content_ids: &[String]) -> Result<Created> {
    for id in content_ids {
        check_content_id(id)?;
    }
    if path.exists() {
        return Err(Error::AlreadyExists { path: path.into() });
    }
    let mut master = Zeroizing::new([0u8; 32]);
    let mut salt = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(master.as_mut());
    rand::rngs::OsRng.fill_bytes(&mut salt);

    let (recipients, identity_path) = if recipients.is_empty() {
        use age::secrecy::ExposeSecret;
        let id = age::x25519::Identity::generate();
        let public = id.to_public().to_string();
        let id_path = identity_path_for(path);
        let text = format!(
            "# shieldpack keyring identity for {}\n# public key: {public}\n{}\n",
            path.display(),
            id.to_string().expose_secret()
        );
        crate::fsutil::write_private(&id_path, text.as_bytes(), false)?;
        (vec![Recipient::parse(&public)?], Some(id_path))
    } else {
        (recipients, None)
    };

    let wrapped = agewrap::wrap(master.as_ref(), &recipients, true)?;
    let file = KeyringFile {
        format: FORMAT.into(),
        version: VERSION,
        fingerprint: fingerprint_of(&salt, &master),
        salt: hex::encode(salt),
        recipients: recipients.iter().map(|r| r.text.clone()).collect(),
        master: String::from_utf8(wrapped).expect("armor is ASCII"),
        contents: content_ids
            .iter()
            .map(|id| (id.clone(), ContentState::default()))
            .collect(),
        packaged: BTreeMap::new(),
    };
    if let Err(e) = file.save(path, false) {
        if let Some(p) = &identity_path {
            let _ = std::fs::remove_file(p);
        }
        return Err(e);
    }
    Ok(Created {
        file,
        identity_path,
    })
}

/// Re-wraps a keyring's master to `recipients`: salt, fingerprint and contents
/// stay, so every key and package stays valid. Replaces the file atomically.
pub fn rewrap(
    path: &Path,
    identities: &[PathBuf],
    recipients: &[Recipient],
) -> Result<KeyringFile> {
    if recipients.is_empty() {
        return Err(Error::arg(
            "no recipient to re-wrap the keyring to",
            "pass the new recipient set with -r RECIPIENT and/or -R FILE (it replaces the old one)",
        ));
    }
    let _lock = WriteLock::take(path)?;
    let kr = open(path, identities)?;
    let wrapped = agewrap::wrap(kr.master.as_ref(), recipients, true)?;
    let mut file = kr.file.clone();
    file.recipients = recipients.iter().map(|r| r.text.clone()).collect();
    file.master = String::from_utf8(wrapped).expect("armor is ASCII");
    file.save(path, true)?;
    Ok(file)
}

/// Starts generation max+1 for `content_id` from `from_period` on. Needs no
/// identity: rotation is bookkeeping; the keys themselves are derived later.
pub fn rotate(path: &Path, content_id: &str, from_period: u64) -> Result<(KeyringFile, u32)> {
    check_content_id(content_id)?;
    let _lock = WriteLock::take(path)?;
    let mut file = KeyringFile::load(path)?;
    let st = file.contents.entry(content_id.to_string()).or_default();
    let newest = st
        .generations
        .iter()
        .map(|g| g.generation)
        .chain(st.revoked_generations.iter().copied())
        .max()
        .unwrap_or(0);
    let generation = newest.checked_add(1).ok_or_else(|| {
        Error::invalid_file(
            path,
            format!("content id {content_id} has no generation numbers left"),
            "make a new content id",
        )
    })?;
    st.generations.push(GenerationStart {
        generation,
        from_period,
    });
    file.save(path, true)?;
    Ok((file, generation))
}

impl KeyringFile {
    /// The title already packaged under `content_id` that `title` is not,
    /// if any (`None` when the id is new or `title` is one of its titles).
    pub fn packaged_conflict(
        &self,
        content_id: &str,
        title: &PackagedTitle,
    ) -> Option<&PackagedTitle> {
        let titles = self.packaged.get(content_id)?;
        if titles.iter().any(|t| t.same_title(title)) {
            None
        } else {
            titles.first()
        }
    }
}

/// The error for a second title under one content id.
pub fn content_id_taken(
    keyring: &Path,
    content_id: &str,
    had: &PackagedTitle,
    title: &PackagedTitle,
) -> Error {
    Error::arg(
        format!(
            "content id '{content_id}' was already packaged with {} from another title ({}, {} bytes); packaging {} under it would encrypt different content with the same keys, KIDs and IVs",
            keyring.display(),
            had.source,
            had.size,
            title.source,
        ),
        "give this title its own id with --content-id ID, or pass --reuse-content-id if it really is the same title (`shieldpack keys show KEYRING` lists the ids in use)",
    )
}

/// Records that `title` was packaged under `content_id` with the keyring at
/// `path`: under the keyring's write lock, re-read (another process may have
/// recorded since), checked, then saved atomically. The master stays the
/// armored text it was. Refuses a different title unless `reuse`, which
/// records it beside the first. Recording a title again changes nothing.
pub fn record_packaged(
    path: &Path,
    content_id: &str,
    title: &PackagedTitle,
    reuse: bool,
) -> Result<()> {
    check_content_id(content_id)?;
    let _lock = WriteLock::take(path)?;
    let mut file = KeyringFile::load(path)?;
    if let Some(had) = file.packaged_conflict(content_id, title) {
        if !reuse {
            return Err(content_id_taken(path, content_id, had, title));
        }
    }
    let titles = file.packaged.entry(content_id.to_string()).or_default();
    match titles.iter_mut().find(|t| t.same_title(title)) {
        // A copy of a recorded title: nothing new.
        Some(t) if t.fingerprint == title.fingerprint && t.size == title.size => return Ok(()),
        // The same file with new bytes (a new encode): its record follows it.
        Some(t) => *t = title.clone(),
        None => titles.push(title.clone()),
    }
    file.save(path, true)
}

/// What to revoke.
#[derive(Debug, Clone, Copy)]
pub enum Revoke {
    Periods(u64, u64),
    Generation(u32),
}

/// Records a revocation for `content_id`; returns the file and whether anything
/// changed (revoking twice is not an error).
pub fn revoke(path: &Path, content_id: &str, what: Revoke) -> Result<(KeyringFile, bool)> {
    check_content_id(content_id)?;
    let _lock = WriteLock::take(path)?;
    let mut file = KeyringFile::load(path)?;
    let st = file.contents.entry(content_id.to_string()).or_default();
    let changed = match what {
        Revoke::Periods(a, b) => {
            if b - a >= MAX_REVOKE_PERIODS {
                return Err(Error::arg(
                    format!("--periods {a}..{b} is {} periods", b - a + 1),
                    format!("revoke at most {MAX_REVOKE_PERIODS} periods at a time; to drop a whole generation use --generation"),
                ));
            }
            let before = st.revoked_periods.len();
            st.revoked_periods.extend(a..=b);
            st.revoked_periods.sort_unstable();
            st.revoked_periods.dedup();
            st.revoked_periods.len() != before
        }
        Revoke::Generation(g) => {
            if !st.has_generation(g) {
                let known: Vec<String> = std::iter::once(0)
                    .chain(st.generations.iter().map(|g| g.generation))
                    .map(|g| g.to_string())
                    .collect();
                return Err(Error::arg(
                    format!("content id {content_id} has no generation {g}"),
                    format!(
                        "its generations are {}; `shieldpack keys show {}` lists them",
                        known.join(", "),
                        path.display()
                    ),
                ));
            }
            if st.revoked_generations.contains(&g) {
                false
            } else {
                st.revoked_generations.push(g);
                st.revoked_generations.sort_unstable();
                true
            }
        }
    };
    if changed {
        file.save(path, true)?;
    }
    Ok((file, changed))
}

impl Keyring {
    pub fn fingerprint(&self) -> &str {
        &self.file.fingerprint
    }

    /// A keyring that holds no master of its own but a provider's keys from
    /// a CPIX document (`package --cpix`): `content_key` and `kid` give the
    /// document's key for a period. What is still derived (explicit IVs)
    /// comes from a hash of every key in the document, so it stays
    /// deterministic and secret to whoever holds the keys. It is never
    /// saved; its `path` is the document's. Callers check that every period
    /// they use has a key (`CpixKeys::period`) before asking for it.
    pub fn from_cpix(keys: cpix::CpixKeys) -> Keyring {
        let master = keys.secret();
        let fingerprint = keys.fingerprint();
        let mut salt = [0u8; 32];
        salt[..22].copy_from_slice(b"shieldpack/cpix-derive");
        Keyring {
            file: KeyringFile {
                format: "shieldpack-cpix".into(),
                version: 0,
                fingerprint,
                salt: hex::encode(salt),
                recipients: Vec::new(),
                master: String::new(),
                contents: BTreeMap::new(),
                packaged: BTreeMap::new(),
            },
            path: keys.path.clone(),
            salt,
            master,
            provided: Some(std::sync::Arc::new(keys)),
        }
    }

    /// The provider's keys, when this keyring came from a CPIX document.
    pub fn provided(&self) -> Option<&cpix::CpixKeys> {
        self.provided.as_deref()
    }

    /// The generation in force for a content id's period.
    pub fn generation_for(&self, content_id: &str, period: u64) -> u32 {
        self.file
            .contents
            .get(content_id)
            .map(|c| c.generation_for(period))
            .unwrap_or(0)
    }

    pub fn content_key(
        &self,
        content_id: &str,
        generation: u32,
        period: u64,
    ) -> Zeroizing<[u8; 16]> {
        if let Some(k) = self.provided().and_then(|c| c.period(period)) {
            return k.key.clone();
        }
        derive(
            &self.salt,
            &self.master,
            &info("content-key", content_id, generation, period, None),
        )
    }

    pub fn kid(&self, content_id: &str, generation: u32, period: u64) -> Kid {
        if let Some(k) = self.provided().and_then(|c| c.period(period)) {
            return k.kid;
        }
        *derive::<16>(
            &self.salt,
            &self.master,
            &info("kid", content_id, generation, period, None),
        )
    }

    /// The content key of `period` for `track` under `--key-scope
    /// track-type`; `None` is the period scope (`content_key`). The track
    /// type joins the HKDF info only when given, so every package made
    /// without it derives the keys it always did.
    pub fn scoped_content_key(
        &self,
        content_id: &str,
        generation: u32,
        period: u64,
        track: Option<TrackType>,
    ) -> Zeroizing<[u8; 16]> {
        let Some(t) = track else {
            return self.content_key(content_id, generation, period);
        };
        if let Some(c) = self.provided() {
            // Callers check first that the document has it (`CpixKeys::scoped`).
            return c
                .scoped(period, Some(t))
                .map_or_else(|| Zeroizing::new([0; 16]), |k| k.key.clone());
        }
        derive(
            &self.salt,
            &self.master,
            &scoped_info("content-key", content_id, generation, period, t),
        )
    }

    /// The KID that goes with `scoped_content_key`.
    pub fn scoped_kid(
        &self,
        content_id: &str,
        generation: u32,
        period: u64,
        track: Option<TrackType>,
    ) -> Kid {
        let Some(t) = track else {
            return self.kid(content_id, generation, period);
        };
        if let Some(c) = self.provided() {
            return c.scoped(period, Some(t)).map_or([0; 16], |k| k.kid);
        }
        *derive::<16>(
            &self.salt,
            &self.master,
            &scoped_info("kid", content_id, generation, period, t),
        )
    }

    /// An explicit per-segment IV (`--iv derived`): unique per (key, sequence).
    pub fn iv(&self, content_id: &str, generation: u32, period: u64, sequence: u64) -> [u8; 16] {
        *derive::<16>(
            &self.salt,
            &self.master,
            &info("iv", content_id, generation, period, Some(sequence)),
        )
    }

    /// The explicit IV of segment `sequence` in the `rendition`-th rendition
    /// of a package (its place in manifest.json). Several renditions encrypt
    /// their own bytes of the same segment under the same period key, so the
    /// rendition joins the info: an IV never repeats under one key. The first
    /// rendition keeps `iv`'s derivation, so a one-rendition package derives
    /// the IVs it always did; the others use their own purpose, so no
    /// rendition's IV can equal another's.
    pub fn rendition_iv(
        &self,
        content_id: &str,
        generation: u32,
        period: u64,
        sequence: u64,
        rendition: usize,
    ) -> [u8; 16] {
        if rendition == 0 {
            return self.iv(content_id, generation, period, sequence);
        }
        let mut i = info(
            "rendition-iv",
            content_id,
            generation,
            period,
            Some(sequence),
        );
        i.extend_from_slice(&8u32.to_be_bytes());
        i.extend_from_slice(&(rendition as u64).to_be_bytes());
        *derive::<16>(&self.salt, &self.master, &i)
    }

    /// The master, for `keys show --reveal` only.
    pub fn reveal_master(&self) -> String {
        hex::encode(*self.master)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn info_is_length_prefixed_so_fields_cannot_run_together() {
        assert_ne!(info("kid", "ab", 0, 0, None), info("kid", "a", 0, 0, None));
        let i = info("kid", "x", 1, 2, None);
        assert_eq!(&i[..4], &13u32.to_be_bytes());
        assert_eq!(&i[4..17], b"shieldpack/v1");
    }

    #[test]
    fn renditions_get_ivs_of_their_own_and_the_first_keeps_the_historic_ones() {
        let dir = std::env::temp_dir().join(format!("sp-rendition-iv-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("kr");
        create(&path, vec![], &[]).unwrap();
        let kr = open(&path, &[]).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(kr.rendition_iv("t", 0, 3, 5, 0), kr.iv("t", 0, 3, 5));
        let ivs: std::collections::BTreeSet<[u8; 16]> = (0..4)
            .flat_map(|r| (0..3).map(move |seq| (r, seq)))
            .map(|(r, seq)| kr.rendition_iv("t", 0, 3, seq, r))
            .collect();
        assert_eq!(ivs.len(), 12, "an IV repeats under one key");
    }

    /// The expected bytes come from `openssl kdf ... HKDF` on the same salt,
    /// master and info, not from this code: the period key every existing
    /// package uses is pinned, and the track-type keys are HKDF over the
    /// info with the track type as one more field.
    #[test]
    fn track_type_joins_the_info_only_in_that_scope_and_period_keys_stay_pinned() {
        let salt = [7u8; 32];
        let master = [9u8; 32];
        let period: Zeroizing<[u8; 16]> =
            derive(&salt, &master, &info("content-key", "t", 0, 3, None));
        assert_eq!(hex::encode(*period), "fdaa7e00f1c766d6b9a159aa55ee56b4");
        let hd: Zeroizing<[u8; 16]> = derive(
            &salt,
            &master,
            &scoped_info("content-key", "t", 0, 3, TrackType::Hd),
        );
        assert_eq!(hex::encode(*hd), "8da802b06415592cdb03eb5ea0342345");
        let audio_kid: Zeroizing<[u8; 16]> = derive(
            &salt,
            &master,
            &scoped_info("kid", "t", 0, 3, TrackType::Audio),
        );
        assert_eq!(hex::encode(*audio_kid), "cbd8af9a7a567baae28f310961b9fff5");

        let dir = std::env::temp_dir().join(format!("sp-scoped-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("kr");
        create(&path, vec![], &[]).unwrap();
        let kr = open(&path, &[]).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(
            *kr.scoped_content_key("t", 0, 2, None),
            *kr.content_key("t", 0, 2)
        );
        assert_eq!(kr.scoped_kid("t", 0, 2, None), kr.kid("t", 0, 2));
        let mut kids: Vec<Kid> = TrackType::ALL
            .into_iter()
            .map(|t| kr.scoped_kid("t", 0, 2, Some(t)))
            .collect();
        kids.push(kr.kid("t", 0, 2));
        kids.sort();
        kids.dedup();
        assert_eq!(kids.len(), 5, "a track type shares a KID");
    }

    #[test]
    fn derivation_is_deterministic_and_separated_by_purpose() {
        let salt = [7u8; 32];
        let master = [9u8; 32];
        let k1: Zeroizing<[u8; 16]> = derive(&salt, &master, &info("content-key", "t", 0, 3, None));
        let k2: Zeroizing<[u8; 16]> = derive(&salt, &master, &info("content-key", "t", 0, 3, None));
        let kid: Zeroizing<[u8; 16]> = derive(&salt, &master, &info("kid", "t", 0, 3, None));
        let k4: Zeroizing<[u8; 16]> = derive(&salt, &master, &info("content-key", "t", 0, 4, None));
        assert_eq!(*k1, *k2);
        assert_ne!(*k1, *kid);
        assert_ne!(*k1, *k4);
    }

    #[test]
    fn generation_in_force_is_the_newest_started() {
        let c = ContentState {
            generations: vec![
                GenerationStart {
                    generation: 1,
                    from_period: 5,
                },
                GenerationStart {
                    generation: 2,
                    from_period: 9,
                },
            ],
            ..Default::default()
        };
        assert_eq!(c.generation_for(0), 0);
        assert_eq!(c.generation_for(5), 1);
        assert_eq!(c.generation_for(12), 2);
    }

    #[test]
    fn content_ids() {
        assert!(check_content_id("movie-01.v2_x").is_ok());
        for bad in ["", ".hidden", "a/b", "a b", &"x".repeat(129)] {
            assert!(check_content_id(bad).is_err());
        }
        assert_eq!(content_id_from("My Film (2020)"), "My-Film--2020-");
        for bad in ["--", "_", "-.-"] {
            assert!(check_content_id(bad).is_ok(), "old keyrings may hold {bad}");
            assert!(check_new_content_id(bad).is_err(), "{bad}");
        }
        assert!(check_new_content_id("a-").is_ok());
    }

    #[test]
    fn packaged_titles_are_recorded_checked_and_absent_in_old_keyrings() {
        let tmp = tempfile::tempdir().unwrap();
        let kr = tmp.path().join("kr");
        create(&kr, vec![], &[]).unwrap();
        let text = std::fs::read_to_string(&kr).unwrap();
        assert!(
            !text.contains("packaged"),
            "an old reader must still read it"
        );
        let (a, b) = (tmp.path().join("a.mp4"), tmp.path().join("b.mp4"));
        std::fs::write(&a, vec![1u8; 3 << 20]).unwrap();
        let mut other = vec![1u8; 3 << 20];
        other[(3 << 20) - 1] = 2; // differs only in the last MiB
        std::fs::write(&b, &other).unwrap();
        let (ta, tb) = (
            PackagedTitle::of(&a).unwrap(),
            PackagedTitle::of(&b).unwrap(),
        );
        assert_ne!(ta.fingerprint, tb.fingerprint);
        record_packaged(&kr, "film", &ta, false).unwrap();
        record_packaged(&kr, "film", &ta, false).unwrap();
        let e = record_packaged(&kr, "film", &tb, false)
            .unwrap_err()
            .to_string();
        assert!(e.contains("already packaged"), "{e}");
        let file = KeyringFile::load(&kr).unwrap();
        assert_eq!(file.packaged["film"], vec![ta.clone()]);
        assert!(file.packaged_conflict("film", &tb).is_some());
        assert!(file.packaged_conflict("other", &tb).is_none());
        record_packaged(&kr, "film", &tb, true).unwrap();
        assert_eq!(KeyringFile::load(&kr).unwrap().packaged["film"].len(), 2);
        // The master is untouched: the keyring still opens to the same keys.
        let opened = open(&kr, &[]).unwrap();
        assert_eq!(opened.file.master, file.master);
    }

    #[test]
    fn unique_content_ids_keep_valid_names_and_never_collide_on_lossy_ones() {
        assert_eq!(unique_content_id(b"clip"), "clip");
        assert_eq!(unique_content_id(b"movie-01.v2_x"), "movie-01.v2_x");
        let a = unique_content_id("視頻".as_bytes());
        let b = unique_content_id("電影".as_bytes());
        assert_ne!(a, b);
        assert!(a.starts_with("title-") && a.len() == 18, "{a}");
        let (c, d) = (
            unique_content_id(b"My Film (2020)"),
            unique_content_id(b"My Film [2020]"),
        );
        assert_ne!(c, d);
        assert!(c.starts_with("My-Film--2020-"), "{c}");
        let e = unique_content_id(".hidden".as_bytes());
        assert_ne!(e, "hidden");
        let long = unique_content_id("é".repeat(300).as_bytes());
        for id in [a, b, c, d, e, long] {
            check_new_content_id(&id).unwrap();
        }
    }
}
