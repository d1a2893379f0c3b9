//! The A/B code secret carried by the package it belongs to, so that
//! `shieldpack session PKG` needs no watermark key.
//!
//! `package --ab-watermark` wraps the Tardos code secret (never the watermark
//! key, and not the payload key: whoever holds it can make playlists, not
//! marks) with age to the recipients of the keyring that encrypts the
//! package, and writes it as `session-code.age` in the package. It is
//! encrypted like the keyring's own master, so it may travel with the
//! segments; it opens with the identity that opens the keyring (`-i`, or
//! `SHIELDPACK_IDENTITY`). A clear A/B package has no keyring to wrap to: its
//! sessions need `--wm-key`.

use std::path::{Path, PathBuf};

use zeroize::Zeroizing;

use shieldpack_core::error::{Error, IoContext, Result};
use shieldpack_core::keys::agewrap::{self, Recipient, UnwrapError};

use crate::CodeKey;

/// The file name in the package.
pub const FILE: &str = "session-code.age";
const PREFIX: &str = "shieldpack-session-code-v1:";
/// What a wrapped 32-byte secret can take, armored, with many recipients.
const MAX_BYTES: u64 = 64 << 10;

/// The code secret of `code`, age-wrapped (armored) to `recipients`.
pub fn seal(code: &CodeKey, recipients: &[Recipient]) -> Result<Vec<u8>> {
    let text = Zeroizing::new(format!("{PREFIX}{}\n", hex::encode(code.code_secret())));
    agewrap::wrap(text.as_bytes(), recipients, true)
}

/// Whether the package in `pkg` carries a sealed code secret.
pub fn present(pkg: &Path) -> bool {
    pkg.join(FILE).is_file()
}

/// The code key sealed in the package in `pkg`, opened with the first of
/// `identities` (else the file `SHIELDPACK_IDENTITY` names) that can.
pub fn open(pkg: &Path, identities: &[PathBuf]) -> Result<CodeKey> {
    let path = pkg.join(FILE);
    let meta = std::fs::metadata(&path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            Error::arg(
                format!(
                    "{} holds no session code ({FILE}): it is clear, or was packaged before packages carried it",
                    pkg.display()
                ),
                "pass --wm-key WMKEY, the watermark key given to `package --ab-watermark`",
            )
        } else {
            Error::io(&path, e)
        }
    })?;
    if !meta.is_file() || meta.len() > MAX_BYTES {
        return Err(Error::invalid_file(
            &path,
            "not a sealed session code (not a small regular file)",
            "package the title again, or pass --wm-key WMKEY",
        ));
    }
    let mut files = identities.to_vec();
    if files.is_empty() {
        if let Some(env) = std::env::var_os("SHIELDPACK_IDENTITY").filter(|v| !v.is_empty()) {
            files.push(PathBuf::from(env));
        }
    }
    if files.is_empty() {
        return Err(Error::arg(
            format!("{} is sealed to the package's keyring, and no identity was given to open it", path.display()),
            "pass -i FILE (the identity that opens the package's keyring), set SHIELDPACK_IDENTITY, or pass --wm-key WMKEY",
        ));
    }
    let data = std::fs::read(&path).at(&path)?;
    let mut ids = Vec::new();
    for f in &files {
        ids.extend(agewrap::load_identities(f)?);
    }
    let plain = Zeroizing::new(agewrap::unwrap(&data, &ids).map_err(|e| match e {
        UnwrapError::NoMatchingKeys => Error::arg(
            format!(
                "none of the identities given ({}) opens {}",
                files
                    .iter()
                    .map(|f| f.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", "),
                path.display()
            ),
            "pass the identity of the keyring the package was encrypted with, or --wm-key WMKEY",
        ),
        UnwrapError::Malformed(m) => Error::invalid_file(
            &path,
            format!("not a sealed session code: {m}"),
            "package the title again, or pass --wm-key WMKEY",
        ),
    })?);
    let bad = || {
        Error::invalid_file(
            &path,
            "it opens, but holds no shieldpack session code",
            "package the title again, or pass --wm-key WMKEY",
        )
    };
    let text = std::str::from_utf8(&plain).map_err(|_| bad())?;
    let hexpart = text.trim().strip_prefix(PREFIX).ok_or_else(bad)?;
    let mut secret = Zeroizing::new([0u8; 32]);
    hex::decode_to_slice(hexpart, &mut secret[..]).map_err(|_| bad())?;
    Ok(CodeKey::from_code_secret(&secret))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_code_opens_to_the_same_variants_and_without_a_payload_key() {
        use age::secrecy::ExposeSecret;
        let dir = tempfile::tempdir().unwrap();
        let id = dir.path().join("id");
        // The wrap's identity; what is checked does not depend on it.
        let x = age::x25519::Identity::generate();
        std::fs::write(&id, format!("{}\n", x.to_string().expose_secret())).unwrap();
        let public = Recipient::parse(&x.to_public().to_string()).unwrap();
        let code = CodeKey::from_wm_secret(&[7u8; 32]);
        let sealed = seal(&code, &[public]).unwrap();
        assert!(!String::from_utf8_lossy(&sealed).contains(&hex::encode(code.code_secret())));
        std::fs::write(dir.path().join(FILE), &sealed).unwrap();
        let opened = open(dir.path(), &[id]).unwrap();
        for i in 0..64 {
            assert_eq!(opened.variant("s1", i), code.variant("s1", i));
        }
        let p = code.payload(crate::Variant::B, 3);
        assert_eq!(code.parse_payload(p), Some((crate::Variant::B, 3)));
        assert_eq!(opened.parse_payload(p), None);
    }
}
