//! Resume state: what a finished title was made from, so a re-run can skip it.
//!
//! The record is written into the package's staged folder as `.batch-state.json`
//! just before the folder is renamed into place (`package::Options::extra_files`),
//! so it exists exactly when the package is whole: a title killed mid-way has no
//! record in OUTROOT and is redone. A title is up to date when its record matches
//! the input now (size, modification time, and SHA-256 of the first and last MiB
//! — the whole file when it is 2 MiB or less), the keyring fingerprint, and the
//! package flags. Hashing only the ends keeps a re-run of a catalogue of
//! multi-gigabyte mezzanines cheap (4 MiB read per title at most) while size and
//! mtime catch edits in the middle.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;
use std::time::UNIX_EPOCH;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::Title;
use shieldpack_core::error::{IoContext, Result};
use shieldpack_core::keys::{GenerationStart, KeyringFile};
use shieldpack_core::ladder::LadderSpec;
use shieldpack_media::format::Container;
use shieldpack_package::{cmaf::Scheme, Options};

pub const STATE_FILE: &str = ".batch-state.json";
pub const FORMAT: &str = "shieldpack-batch-state";
pub const VERSION: u32 = 1;

/// Bytes hashed at each end of the input.
const SAMPLE: u64 = 1 << 20;
/// State records are small; a larger file is not one (checked before reading).
const MAX_STATE_BYTES: u64 = 1 << 16;

/// What identifies an input's content without reading all of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InputFingerprint {
    pub size: u64,
    pub mtime_secs: i64,
    pub mtime_nanos: u32,
    /// SHA-256 over the size (8 bytes big-endian), the first MiB and the last MiB
    /// (the whole file when it is at most 2 MiB).
    pub ends_sha256: String,
}

impl InputFingerprint {
    pub fn of(path: &Path) -> Result<Self> {
        let mut f = File::open(path).at(path)?;
        let meta = f.metadata().at(path)?;
        let size = meta.len();
        let (mtime_secs, mtime_nanos) = match meta.modified().at(path)?.duration_since(UNIX_EPOCH) {
            Ok(d) => (d.as_secs() as i64, d.subsec_nanos()),
            Err(e) => (
                -(e.duration().as_secs() as i64),
                e.duration().subsec_nanos(),
            ),
        };
        let mut h = Sha256::new();
        h.update(size.to_be_bytes());
        let mut buf = vec![0u8; 64 * 1024];
        let mut hash_span = |f: &mut File, mut left: u64| -> std::io::Result<()> {
            while left > 0 {
                let want = left.min(buf.len() as u64) as usize;
                let n = f.read(&mut buf[..want])?;
                if n == 0 {
                    break;
                }
                h.update(&buf[..n]);
                left -= n as u64;
            }
            Ok(())
        };
        if size <= 2 * SAMPLE {
            hash_span(&mut f, size).at(path)?;
        } else {
            hash_span(&mut f, SAMPLE).at(path)?;
            f.seek(SeekFrom::End(-(SAMPLE as i64))).at(path)?;
            hash_span(&mut f, SAMPLE).at(path)?;
        }
        Ok(InputFingerprint {
            size,
            mtime_secs,
            mtime_nanos,
            ends_sha256: hex::encode(h.finalize()),
        })
    }
}

/// The record kept in a finished title's folder.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct State {
    pub format: String,
    pub version: u32,
    pub content_id: String,
    /// The path relative to the catalogue.
    pub source: String,
    pub input: InputFingerprint,
    /// None for a clear package.
    pub keyring_fingerprint: Option<String>,
    /// The key generations the keyring holds for this content id: `keys rotate`
    /// changes a title's keys without changing the keyring fingerprint.
    #[serde(default)]
    pub key_generations: Vec<GenerationStart>,
    /// The package flags that shape the output.
    pub flags: serde_json::Value,
    /// Informational: a new shieldpack does not by itself redo a catalogue.
    pub tool_version: String,
}

/// The package flags of `o` that decide the bytes of a package (not the input,
/// output or content id, which are per title).
pub fn flags_of(o: &Options, ladder: Option<&LadderSpec>) -> serde_json::Value {
    // A policy is compared by content, so editing the file redoes the titles.
    let policy = o.policy.as_ref().map(|p| match std::fs::read(p) {
        Ok(bytes) => hex::encode(Sha256::digest(&bytes)),
        Err(_) => format!("unreadable {}", p.display()),
    });
    let mut flags = serde_json::json!({
        "segment_duration": o.segment_duration,
        "rotation": o.rotation,
        "rotation_config": o.rotation_config,
        "policy_sha256": policy,
        "key_uri": o.key_uri,
        "iv": o.iv.as_str(),
    });
    // Only when not the default, so catalogues made before --key-scope
    // are not all redone.
    if !o.key_scope.is_period() {
        flags["key_scope"] = o.key_scope.as_str().into();
    }
    // Likewise for what wave 2 added: a title packaged as TS with AES-128
    // and no ladder records none of these.
    if o.format != Container::Ts || o.scheme != Scheme::default_for(Container::Ts) {
        flags["format"] = o.format.extension().into();
        flags["scheme"] = o.scheme.as_str().into();
    }
    if o.dash {
        flags["dash"] = true.into();
    }
    if !o.drm.is_empty() {
        flags["drm"] = o.drm.iter().map(|d| d.name()).collect::<Vec<_>>().into();
    }
    if let Some(l) = ladder {
        flags["ladder"] = match l {
            LadderSpec::Apple => "apple".to_string(),
            LadderSpec::Auto => "auto".to_string(),
            LadderSpec::Rungs(r) => r
                .iter()
                .map(|r| format!("{}p:{}k", r.height, r.kbps))
                .collect::<Vec<_>>()
                .join(","),
        }
        .into();
    }
    flags
}

impl State {
    /// What a title made now from `input` would record; `keyring` is None for
    /// clear packages (only its public part is read, so dry runs need no identity).
    pub fn new(
        title: &Title,
        input: InputFingerprint,
        keyring: Option<&KeyringFile>,
        flags: serde_json::Value,
    ) -> Self {
        State {
            format: FORMAT.into(),
            version: VERSION,
            content_id: title.id.clone(),
            source: title.source.clone(),
            input,
            keyring_fingerprint: keyring.map(|k| k.fingerprint.clone()),
            key_generations: keyring
                .map(|k| k.content(&title.id).generations)
                .unwrap_or_default(),
            flags,
            tool_version: env!("CARGO_PKG_VERSION").into(),
        }
    }

    pub fn to_json(&self) -> Vec<u8> {
        let mut v = serde_json::to_vec_pretty(self).expect("a state serialises");
        v.push(b'\n');
        v
    }

    /// Reads the record in package folder `dir`, if there is a readable one.
    pub fn load(dir: &Path) -> Option<State> {
        let path = dir.join(STATE_FILE);
        let meta = std::fs::metadata(&path).ok()?;
        if !meta.is_file() || meta.len() > MAX_STATE_BYTES {
            return None;
        }
        let s: State = serde_json::from_slice(&std::fs::read(&path).ok()?).ok()?;
        (s.format == FORMAT && s.version == VERSION).then_some(s)
    }
}

/// What to do with a title.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Finished and unchanged.
    Skip,
    /// (Re)package it, for this reason.
    Package(&'static str),
}

/// Compares the wanted state with what package folder `dir` holds.
pub fn decide(dir: &Path, want: &State, force: bool) -> Decision {
    if force {
        return Decision::Package("forced");
    }
    let Some(have) = State::load(dir) else {
        return Decision::Package(if dir.exists() {
            "no batch state"
        } else {
            "new"
        });
    };
    if !dir.join("manifest.json").is_file() {
        Decision::Package("package incomplete")
    } else if have.input != want.input {
        Decision::Package("input changed")
    } else if have.keyring_fingerprint != want.keyring_fingerprint {
        Decision::Package("keyring changed")
    } else if have.key_generations != want.key_generations {
        Decision::Package("key generations changed")
    } else if have.flags != want.flags {
        Decision::Package("package flags changed")
    } else if have.source != want.source || have.content_id != want.content_id {
        Decision::Package("source path changed")
    } else {
        Decision::Skip
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn title() -> Title {
        Title {
            id: "a".into(),
            source: "a.mp4".into(),
            path: "a.mp4".into(),
            refused: None,
        }
    }

    #[test]
    fn fingerprint_hashes_both_ends_of_large_files() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("big.mp4");
        let mut bytes = vec![7u8; 3 * SAMPLE as usize];
        std::fs::write(&p, &bytes).unwrap();
        let a = InputFingerprint::of(&p).unwrap();
        bytes[SAMPLE as usize + 5] = 8; // the middle is not hashed
        std::fs::write(&p, &bytes).unwrap();
        let b = InputFingerprint::of(&p).unwrap();
        assert_eq!(a.ends_sha256, b.ends_sha256);
        *bytes.last_mut().unwrap() = 9;
        std::fs::write(&p, &bytes).unwrap();
        assert_ne!(InputFingerprint::of(&p).unwrap().ends_sha256, a.ends_sha256);
    }

    #[test]
    fn decisions() {
        let d = tempfile::tempdir().unwrap();
        let dir = d.path().join("a");
        let input = InputFingerprint {
            size: 1,
            mtime_secs: 2,
            mtime_nanos: 3,
            ends_sha256: "x".into(),
        };
        let mut want = State::new(&title(), input.clone(), None, serde_json::json!({}));
        want.keyring_fingerprint = Some("k".into());
        assert_eq!(decide(&dir, &want, false), Decision::Package("new"));
        std::fs::create_dir(&dir).unwrap();
        assert_eq!(
            decide(&dir, &want, false),
            Decision::Package("no batch state")
        );
        std::fs::write(dir.join(STATE_FILE), want.to_json()).unwrap();
        std::fs::write(dir.join("manifest.json"), "{}").unwrap();
        assert_eq!(decide(&dir, &want, false), Decision::Skip);
        assert_eq!(decide(&dir, &want, true), Decision::Package("forced"));
        let mut other = want.clone();
        other.input.size = 9;
        assert_eq!(
            decide(&dir, &other, false),
            Decision::Package("input changed")
        );
        let mut other = want.clone();
        other.keyring_fingerprint = None;
        assert_eq!(
            decide(&dir, &other, false),
            Decision::Package("keyring changed")
        );
        let mut other = want.clone();
        other.key_generations.push(GenerationStart {
            generation: 1,
            from_period: 3,
        });
        assert_eq!(
            decide(&dir, &other, false),
            Decision::Package("key generations changed")
        );
        let mut other = want.clone();
        other.flags = serde_json::json!({"iv": "derived"});
        assert_eq!(
            decide(&dir, &other, false),
            Decision::Package("package flags changed")
        );
    }
}
