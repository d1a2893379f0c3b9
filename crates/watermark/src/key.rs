//! The watermark key: 32 random bytes in a small text file written 0600.
//!
//! The file is one line, `shieldpack-wmkey-v1:` and 64 hex digits, so that it is
//! easy to recognise, to back up, and to tell apart from a keyring. The key is
//! never printed; a public fingerprint (an HKDF output) names it instead.

use std::path::Path;

use hkdf::Hkdf;
use rand::RngCore;
use sha2::Sha256;
use zeroize::Zeroizing;

use shieldpack_core::error::Result;

const SALT: &[u8] = b"shieldpack/watermark/v1";

/// A watermark key. Debug output never shows the secret.
pub struct WmKey {
    secret: Zeroizing<[u8; 32]>,
}

impl std::fmt::Debug for WmKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "WmKey({})", self.fingerprint())
    }
}

impl WmKey {
    /// A new random key from the OS's generator.
    pub fn generate() -> Self {
        let mut secret = Zeroizing::new([0u8; 32]);
        rand::rngs::OsRng.fill_bytes(&mut secret[..]);
        WmKey { secret }
    }

    /// A key from known bytes (tests).
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        WmKey {
            secret: Zeroizing::new(bytes),
        }
    }

    /// Writes the key file atomically with mode 0600; refuses to overwrite.
    pub fn write_new(&self, path: &Path) -> Result<()> {
        shieldpack_core::wmkey::write_new(path, &self.secret)
    }

    /// Reads a key file written by `write_new`.
    pub fn load(path: &Path) -> Result<Self> {
        Ok(WmKey {
            secret: shieldpack_core::wmkey::read(path)?,
        })
    }

    /// 32 bytes derived for `purpose`, to seed a pattern generator.
    pub fn derive(&self, purpose: &[u8], index: u32) -> [u8; 32] {
        let hk = Hkdf::<Sha256>::new(Some(SALT), &self.secret[..]);
        let mut info = Vec::with_capacity(purpose.len() + 8);
        info.extend_from_slice(&(purpose.len() as u32).to_be_bytes());
        info.extend_from_slice(purpose);
        info.extend_from_slice(&index.to_be_bytes());
        let mut out = [0u8; 32];
        hk.expand(&info, &mut out)
            .expect("32 bytes is a valid HKDF length");
        out
    }

    /// A public name for the key (16 hex digits), safe to print.
    pub fn fingerprint(&self) -> String {
        hex::encode(&self.derive(b"fingerprint", 0)[..8])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use shieldpack_core::error::Error;

    #[test]
    fn key_file_round_trips_and_is_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("wm.key");
        let k = WmKey::generate();
        k.write_new(&path).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let back = WmKey::load(&path).unwrap();
        assert_eq!(k.fingerprint(), back.fingerprint());
        assert!(matches!(
            k.write_new(&path),
            Err(Error::AlreadyExists { .. })
        ));
        assert!(!format!("{k:?}").contains(&hex::encode(&k.secret[..])));
    }

    #[test]
    fn rejects_other_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x");
        std::fs::write(&path, "{\"format\":\"shieldpack-keyring\"}").unwrap();
        assert!(matches!(WmKey::load(&path), Err(Error::InvalidFile { .. })));
        std::fs::write(&path, "shieldpack-wmkey-v1:abcd\n").unwrap();
        assert!(matches!(WmKey::load(&path), Err(Error::InvalidFile { .. })));
    }
}
