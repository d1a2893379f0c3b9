//! Exporting the keys a package uses, for key servers and players.
//!
//! Keys are re-derived from the keyring for exactly the (period, generation,
//! KID) triples the package's manifest lists; a KID that does not re-derive is
//! an error (the package was made with another keyring).

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use zeroize::Zeroizing;

use super::Keyring;
use crate::error::{Error, IoContext, Result};
use crate::package::manifest::Manifest;

/// One key of a package.
pub struct ExportedKey {
    pub period: u64,
    pub generation: u32,
    pub kid: String,
    pub key: Zeroizing<[u8; 16]>,
}

/// The keys `manifest` uses, optionally only periods `range` (inclusive).
pub fn collect(
    kr: &Keyring,
    manifest: &Manifest,
    range: Option<(u64, u64)>,
) -> Result<Vec<ExportedKey>> {
    if manifest
        .keyring_fingerprint
        .as_deref()
        .is_some_and(|f| f != kr.fingerprint())
    {
        return Err(Error::arg(
            format!(
                "the package was made with keyring {} but {} is {}",
                manifest.keyring_fingerprint.as_deref().unwrap_or("?"),
                kr.path.display(),
                kr.fingerprint()
            ),
            "pass the keyring the package was made with",
        ));
    }
    let mut out = Vec::new();
    for (period, generation, kid) in manifest.key_periods() {
        if range.is_some_and(|(a, b)| period < a || period > b) {
            continue;
        }
        let derived = hex::encode(kr.kid(&manifest.content_id, generation, period));
        if derived != kid {
            return Err(Error::arg(
                format!(
                    "KID {kid} of period {period} does not derive from {}",
                    kr.path.display()
                ),
                "pass the keyring the package was made with",
            ));
        }
        out.push(ExportedKey {
            period,
            generation,
            kid,
            key: kr.content_key(&manifest.content_id, generation, period),
        });
    }
    if out.is_empty() {
        let what = match range {
            Some((a, b)) => format!("the package uses no key in periods {a}..{b}"),
            None => "the package is not encrypted: it has no keys".into(),
        };
        return Err(Error::arg(
            what,
            "check --periods against `shieldpack inspect OUTDIR`",
        ));
    }
    Ok(out)
}

/// Writes one 16-byte `<kid>.key` file per key into `dir` (created 0700), each
/// 0600 and atomic. An existing file with the same bytes is left as is; one
/// with other bytes is an error.
pub fn write_key_files(keys: &[ExportedKey], dir: &Path) -> Result<()> {
    if !dir.exists() {
        std::fs::create_dir_all(dir).at(dir)?;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).at(dir)?;
    } else if !dir.is_dir() {
        return Err(Error::invalid_file(
            dir,
            "exists and is not a folder",
            "give -o a folder path for key-files",
        ));
    }
    for k in keys {
        let path = dir.join(format!("{}.key", k.kid));
        if let Ok(existing) = std::fs::read(&path) {
            let same = Zeroizing::new(existing);
            if same.as_slice() == k.key.as_slice() {
                continue;
            }
            return Err(Error::AlreadyExists { path });
        }
        crate::fsutil::write_private(&path, k.key.as_slice(), false)?;
    }
    Ok(())
}
