//! The watermark key file: 32 secret bytes as one line,
//! `shieldpack-wmkey-v1:` and 64 hex digits, written 0600. The watermark
//! (which marks and reads) and the session code (which derives codewords from
//! the same key) both read it through here, so the format lives in one place.

use std::path::Path;

use zeroize::Zeroizing;

use crate::error::{Error, IoContext, Result};

const PREFIX: &str = "shieldpack-wmkey-v1:";
/// Key files are one short line; anything larger is not one.
const MAX_BYTES: u64 = 4096;

/// Reads the secret of a watermark key file (`shieldpack watermark keygen`).
pub fn read(path: &Path) -> Result<Zeroizing<[u8; 32]>> {
    let bad = |reason: &str| {
        Error::invalid_file(
            path,
            format!("not a shieldpack watermark key ({reason})"),
            "pass the file written by `shieldpack watermark keygen -o WMKEY`",
        )
    };
    let meta = std::fs::metadata(path).map_err(|e| Error::input(path, e))?;
    if !meta.is_file() || meta.len() > MAX_BYTES {
        return Err(bad("not a small regular file"));
    }
    let bytes = Zeroizing::new(std::fs::read(path).at(path)?);
    let text = std::str::from_utf8(&bytes).map_err(|_| bad("not text"))?;
    let hexpart = text
        .trim()
        .strip_prefix(PREFIX)
        .ok_or_else(|| bad("missing the shieldpack-wmkey-v1 header"))?;
    let mut secret = Zeroizing::new([0u8; 32]);
    hex::decode_to_slice(hexpart, &mut secret[..])
        .map_err(|_| bad("the key is not 64 hex digits"))?;
    Ok(secret)
}

/// Writes `secret` as a new key file, atomically with mode 0600; refuses to
/// overwrite.
pub fn write_new(path: &Path, secret: &[u8; 32]) -> Result<()> {
    let text = Zeroizing::new(format!("{PREFIX}{}\n", hex::encode(secret)));
    crate::fsutil::write_private(path, text.as_bytes(), false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_written_reads_back_and_a_wrong_file_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("wm.key");
        let secret = [7u8; 32];
        write_new(&p, &secret).unwrap();
        assert_eq!(*read(&p).unwrap(), secret);
        assert!(write_new(&p, &secret).is_err(), "overwrote a key");
        let bad = dir.path().join("bad.key");
        std::fs::write(&bad, "shieldpack-wmkey-v1:abc\n").unwrap();
        let e = read(&bad).unwrap_err().to_string();
        assert!(e.contains("64 hex digits"), "{e}");
        std::fs::write(&bad, "hello\n").unwrap();
        let e = read(&bad).unwrap_err().to_string();
        assert!(e.contains("header"), "{e}");
    }
}
