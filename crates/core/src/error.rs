//! The library's error type.
//!
//! Every variant says what went wrong with which input; `hint()` says how to fix
//! it. The binary prints `shieldpack: {err:#}`, a blank line and `hint: ...`.
//! Variants carry paths, never secrets.

use std::path::{Path, PathBuf};

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    #[error("{path}: {err}")]
    Io { path: PathBuf, err: std::io::Error },

    /// Written, but the storage would not confirm it is on disk (fsync).
    #[error("{path}: could not be saved to disk: {err}")]
    Flush { path: PathBuf, err: std::io::Error },

    #[error("{path}: no such file")]
    InputMissing { path: PathBuf },

    #[error("{path}: not a media file FFmpeg can read ({reason})")]
    NotMedia { path: PathBuf, reason: String },

    #[error("{path}: the file is truncated or damaged ({reason})")]
    Truncated { path: PathBuf, reason: String },

    #[error("{path}: has no video stream")]
    NoVideo { path: PathBuf },

    #[error("{path}: {kind} codec '{codec}' cannot be carried in MPEG-TS for HLS")]
    UnsupportedCodec {
        path: PathBuf,
        kind: &'static str,
        codec: String,
    },

    /// The video carries a display matrix: it is meant to be shown rotated,
    /// which MPEG-TS cannot say, so players would show it as coded.
    #[error("{path}: the video is meant to be shown turned {degrees} degrees clockwise (a display matrix), which MPEG-TS cannot carry: players would show it unrotated")]
    Rotated { path: PathBuf, degrees: u32 },

    #[error("{path}: FFmpeg failed to {op}: {err}")]
    Ffmpeg {
        path: PathBuf,
        op: &'static str,
        /// FFmpeg's own message (`shieldpack-core` links no FFmpeg).
        err: String,
    },

    /// FFmpeg's muxer refused one packet of the input (or no decode time
    /// stamp fits it): which one, where, and why.
    #[error("{path}: {kind} packet {index} of stream {stream} (at {time:.3}s) cannot be packaged: {why}")]
    PacketRefused {
        path: PathBuf,
        kind: &'static str,
        stream: usize,
        /// Counted from 0 among the stream's packets, in file order.
        index: u64,
        /// Its time stamp in seconds, as ffprobe shows it.
        time: f64,
        why: String,
    },

    #[error("{path}: output folder exists and is not empty")]
    OutputNotEmpty { path: PathBuf },

    #[error("{path}: already exists")]
    AlreadyExists { path: PathBuf },

    #[error("{path}: not a shieldpack keyring ({reason})")]
    KeyringCorrupt { path: PathBuf, reason: String },

    #[error("{path}: keyring format version {found} is not supported (this shieldpack reads version {supported})")]
    KeyringVersion {
        path: PathBuf,
        found: u64,
        supported: u64,
    },

    #[error("{path}: none of the identities given can open this keyring")]
    WrongIdentity { path: PathBuf, tried: Vec<PathBuf> },

    #[error("{path}: no identity to open this keyring")]
    NoIdentity { path: PathBuf },

    #[error("{path}: not an age identity file or SSH private key ({reason})")]
    IdentityFile { path: PathBuf, reason: String },

    #[error("invalid recipient '{value}': {reason}")]
    Recipient { value: String, reason: String },

    #[error("{path}: {reason}")]
    InvalidFile {
        path: PathBuf,
        reason: String,
        hint: String,
    },

    /// A problem at a place in a text file, printed the way compilers do.
    #[error("{}:{line}:{column}: {message}", path.display())]
    At {
        path: PathBuf,
        line: usize,
        column: usize,
        message: String,
        hint: String,
    },

    #[error("{what}")]
    InvalidArgument { what: String, hint: String },

    #[error("interrupted")]
    Interrupted,
}

impl Error {
    /// How to fix it, printed after the message as `hint: ...`.
    pub fn hint(&self) -> Option<String> {
        use Error::*;
        Some(match self {
            Io { err, .. } => io_hint(err).into(),
            Flush { .. } => "the file system is full or failing: check free space (`df -h`) and the kernel log (`dmesg`), then run the command again; nothing it would have replaced was touched".into(),
            InputMissing { .. } => "check the path; it must name an existing media file".into(),
            NotMedia { .. } => "pass a media file (MP4, MOV, MKV, TS); `ffprobe FILE` shows what FFmpeg sees".into(),
            Truncated { path, .. } => format!(
                "the file ends early; copy or download it again, or remux what is left: ffmpeg -i {} -c copy fixed.mp4",
                path.display()
            ),
            NoVideo { .. } => "shieldpack packages video; pass a file with a video stream".into(),
            UnsupportedCodec { path, kind, .. } => {
                let (flag, codec) = if *kind == "video" { ("-c:v", "libx264") } else { ("-c:a", "aac") };
                format!(
                    "transcode first, e.g. ffmpeg -i {} {flag} {codec} -c:{} copy input.mp4 (H.264 or HEVC video, AAC, MP3, AC-3 or E-AC-3 audio)",
                    path.display(),
                    if *kind == "video" { "a" } else { "v" }
                )
            }
            Rotated { path, .. } => format!(
                "package never re-encodes; apply the rotation first by re-encoding the video, which FFmpeg does by itself: ffmpeg -i {} -c:v libx264 -c:a copy upright.mp4",
                path.display()
            ),
            Ffmpeg { .. } => "run `shieldpack inspect` on the input to see its streams; re-run with -v for details".into(),
            PacketRefused { path, stream, .. } => format!(
                "the time stamps are broken there (`ffprobe -show_packets -select_streams {stream} {}` lists them); re-encode with new ones and package the result, e.g. ffmpeg -i {} -c:v libx264 -fps_mode cfr -c:a copy fixed.mkv",
                path.display(),
                path.display()
            ),
            OutputNotEmpty { .. } => "choose a new folder, or pass --force to replace it".into(),
            AlreadyExists { .. } => "choose another path, or move the existing file away first".into(),
            KeyringCorrupt { .. } => "restore the keyring from a backup; `shieldpack keys new` makes a new one".into(),
            KeyringVersion { .. } => "use the shieldpack version that wrote the keyring, or a newer one".into(),
            WrongIdentity { path, .. } => format!(
                "pass the identity the keyring was wrapped to with -i FILE; `shieldpack keys show {}` lists its recipients",
                path.display()
            ),
            NoIdentity { path } => format!(
                "pass -i FILE, set SHIELDPACK_IDENTITY, or keep the identity beside the keyring as {}.identity",
                path.display()
            ),
            IdentityFile { .. } => "pass an age identity file (AGE-SECRET-KEY-1...) or an unencrypted OpenSSH private key".into(),
            Recipient { .. } => "give an age recipient (age1...) or an SSH public key (ssh-ed25519 AAAA..., ssh-rsa AAAA...)".into(),
            InvalidFile { hint, .. } | InvalidArgument { hint, .. } | At { hint, .. } => hint.clone(),
            Interrupted => return None,
        })
    }

    /// `sync_data`/`sync_all` of `path` failed.
    pub fn flush(path: impl AsRef<Path>, err: std::io::Error) -> Self {
        Error::Flush {
            path: clean(path.as_ref()),
            err,
        }
    }

    pub fn io(path: impl AsRef<Path>, source: std::io::Error) -> Self {
        Error::Io {
            path: clean(path.as_ref()),
            err: source,
        }
    }

    /// An I/O error on an input `path`: `InputMissing` when it does not
    /// exist, else the error with the path.
    pub fn input(path: impl AsRef<Path>, err: std::io::Error) -> Self {
        if err.kind() == std::io::ErrorKind::NotFound {
            Error::InputMissing {
                path: path.as_ref().to_path_buf(),
            }
        } else {
            Error::io(path, err)
        }
    }

    /// An I/O error on `path`; when it is that `path` does not exist, the
    /// `missing` message (what was looked for) with `hint` instead.
    pub fn missing_or_io(
        path: impl AsRef<Path>,
        err: std::io::Error,
        missing: &str,
        hint: &str,
    ) -> Self {
        if err.kind() == std::io::ErrorKind::NotFound {
            Error::invalid_file(path, missing, hint)
        } else {
            Error::io(path, err)
        }
    }

    pub fn arg(what: impl Into<String>, hint: impl Into<String>) -> Self {
        Error::InvalidArgument {
            what: what.into(),
            hint: hint.into(),
        }
    }

    /// An error at `line`:`column` (1-based) of the text file `path`.
    pub fn at(
        path: impl AsRef<Path>,
        line: usize,
        column: usize,
        message: impl Into<String>,
        hint: impl Into<String>,
    ) -> Self {
        Error::At {
            path: path.as_ref().to_path_buf(),
            line,
            column,
            message: message.into(),
            hint: hint.into(),
        }
    }

    pub fn invalid_file(
        path: impl AsRef<Path>,
        reason: impl Into<String>,
        hint: impl Into<String>,
    ) -> Self {
        Error::InvalidFile {
            path: path.as_ref().to_path_buf(),
            reason: reason.into(),
            hint: hint.into(),
        }
    }
}

/// What to do about an I/O error, by its kind: "check the path exists" is no
/// help for a full disk.
fn io_hint(err: &std::io::Error) -> &'static str {
    use std::io::ErrorKind::*;
    match err.kind() {
        NotFound => "check the path; a folder on the way to it may be missing",
        PermissionDenied => "check the file's and its folder's permissions (`ls -ld`), or choose a path you may write",
        StorageFull | QuotaExceeded => "the file system is full: free some space (`df -h` shows how much is left) and run the command again",
        ReadOnlyFilesystem => "the file system is mounted read-only: choose a path on a writable one",
        _ => "check that the path exists and that you may read and write it",
    }
}

/// `path` without `.` components, which tempfile leaves in the paths of
/// folders staged beside a relative destination (`/work/./.out.partial-X`).
fn clean(path: &Path) -> PathBuf {
    path.components().collect()
}

/// Extension to attach a path to `std::io::Result`s.
pub trait IoContext<T> {
    fn at(self, path: impl AsRef<Path>) -> Result<T>;
}

impl<T> IoContext<T> for std::io::Result<T> {
    fn at(self, path: impl AsRef<Path>) -> Result<T> {
        self.map_err(|e| Error::io(path, e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::ErrorKind;

    #[test]
    fn io_errors_get_a_hint_for_their_kind_and_a_clean_path() {
        let e = |kind: ErrorKind| Error::io("/work/./.out.partial-x/seg.ts", kind.into());
        let full = e(ErrorKind::StorageFull);
        assert_eq!(
            full.to_string(),
            "/work/.out.partial-x/seg.ts: no storage space"
        );
        assert!(full.hint().unwrap().contains("df -h"));
        assert!(e(ErrorKind::PermissionDenied)
            .hint()
            .unwrap()
            .contains("permissions"));
        assert!(e(ErrorKind::ReadOnlyFilesystem)
            .hint()
            .unwrap()
            .contains("read-only"));
        let flush = Error::flush("keys/./kr.json", ErrorKind::Other.into());
        assert!(flush
            .to_string()
            .starts_with("keys/kr.json: could not be saved to disk"));
        assert!(flush
            .hint()
            .unwrap()
            .contains("nothing it would have replaced"));
    }
}
