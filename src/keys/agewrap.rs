//! age glue: parse recipients and identity files the way the `age` CLI does, and
//! wrap or unwrap bytes. Everything here goes through the `age` crate.

use std::io::{BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::str::FromStr;

use age::armor::{ArmoredReader, ArmoredWriter, Format};

use crate::error::{Error, IoContext, Result};

/// A recipient as typed: its text form and the parsed value.
pub struct Recipient {
    pub text: String,
    inner: Box<dyn age::Recipient + Send>,
}

impl Recipient {
    pub fn parse(s: &str) -> Result<Self> {
        let text = s.trim().to_string();
        let err = |reason: String| Error::Recipient {
            value: text.clone(),
            reason,
        };
        let inner: Box<dyn age::Recipient + Send> = if text.starts_with("age1") {
            Box::new(age::x25519::Recipient::from_str(&text).map_err(|e| err(e.to_string()))?)
        } else if text.starts_with("ssh-") {
            Box::new(age::ssh::Recipient::from_str(&text).map_err(|e| err(format!("{e:?}")))?)
        } else {
            return Err(err("not an age or SSH public key".into()));
        };
        Ok(Recipient { text, inner })
    }

    /// The recipients listed in a file: one per line, `#` comments and blank lines skipped.
    pub fn from_file(path: &Path) -> Result<Vec<Self>> {
        let text = std::fs::read_to_string(path).at(path)?;
        let mut out = Vec::new();
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            out.push(Recipient::parse(line).map_err(|e| match e {
                Error::Recipient { value, reason } => Error::invalid_file(
                    path,
                    format!("line {}: invalid recipient '{value}': {reason}", n + 1),
                    "each line must be an age recipient (age1...) or an SSH public key",
                ),
                other => other,
            })?);
        }
        if out.is_empty() {
            return Err(Error::invalid_file(
                path,
                "contains no recipients",
                "list one recipient per line (age1... or ssh-ed25519 ...); `age-keygen -y IDENTITY` prints one",
            ));
        }
        Ok(out)
    }
}

/// Collects `-r` and `-R` arguments into one list, in the order given.
pub fn collect_recipients(recipients: &[String], files: &[PathBuf]) -> Result<Vec<Recipient>> {
    let mut out = Vec::new();
    for r in recipients {
        out.push(Recipient::parse(r)?);
    }
    for f in files {
        out.extend(Recipient::from_file(f)?);
    }
    Ok(out)
}

/// The identities in one file: an age identity file or an OpenSSH private key.
pub fn load_identities(path: &Path) -> Result<Vec<Box<dyn age::Identity>>> {
    let bytes = std::fs::read(path).at(path)?;
    let err = |reason: &str| Error::IdentityFile {
        path: path.to_path_buf(),
        reason: reason.to_string(),
    };
    let text = String::from_utf8_lossy(&bytes);
    if text.contains("-----BEGIN OPENSSH PRIVATE KEY-----")
        || text.contains("-----BEGIN RSA PRIVATE KEY-----")
    {
        let id = age::ssh::Identity::from_buffer(&bytes[..], Some(path.display().to_string()))
            .map_err(|e| err(&e.to_string()))?;
        return match id {
            age::ssh::Identity::Unencrypted(_) => Ok(vec![Box::new(id)]),
            age::ssh::Identity::Encrypted(_) => Err(err(
                "the SSH key is passphrase-protected, which is not supported",
            )),
            age::ssh::Identity::Unsupported(k) => {
                Err(err(&format!("unsupported SSH key type: {k:?}")))
            }
        };
    }
    let file = age::IdentityFile::from_buffer(BufReader::new(&bytes[..]))
        .map_err(|e| err(&e.to_string()))?;
    let ids = file.into_identities().map_err(|e| err(&e.to_string()))?;
    if ids.is_empty() {
        return Err(err("no identity found in it"));
    }
    Ok(ids)
}

/// Encrypts `plain` to `recipients`, armored or binary.
pub fn wrap(plain: &[u8], recipients: &[Recipient], armor: bool) -> Result<Vec<u8>> {
    let enc = age::Encryptor::with_recipients(
        recipients
            .iter()
            .map(|r| r.inner.as_ref() as &dyn age::Recipient),
    )
    .map_err(|e| {
        Error::arg(
            format!("cannot encrypt to these recipients: {e}"),
            "check the recipient list",
        )
    })?;
    let mut out = Vec::new();
    let fmt = if armor {
        Format::AsciiArmor
    } else {
        Format::Binary
    };
    let armored =
        ArmoredWriter::wrap_output(&mut out, fmt).map_err(|e| Error::io("<memory>", e))?;
    let mut w = enc
        .wrap_output(armored)
        .map_err(|e| Error::io("<memory>", e))?;
    w.write_all(plain).map_err(|e| Error::io("<memory>", e))?;
    w.finish()
        .and_then(|a| a.finish())
        .map_err(|e| Error::io("<memory>", e))?;
    Ok(out)
}

/// Why an unwrap failed, for the caller to turn into a message about its file.
pub enum UnwrapError {
    NoMatchingKeys,
    Malformed(String),
}

/// Decrypts an age file (armored or binary) with any of `identities`.
pub fn unwrap(
    data: &[u8],
    identities: &[Box<dyn age::Identity>],
) -> std::result::Result<Vec<u8>, UnwrapError> {
    let dec = age::Decryptor::new(ArmoredReader::new(data))
        .map_err(|e| UnwrapError::Malformed(e.to_string()))?;
    if dec.is_scrypt() {
        return Err(UnwrapError::Malformed("it is passphrase-encrypted".into()));
    }
    let mut r = dec
        .decrypt(identities.iter().map(|i| i.as_ref()))
        .map_err(|e| match e {
            age::DecryptError::NoMatchingKeys => UnwrapError::NoMatchingKeys,
            other => UnwrapError::Malformed(other.to_string()),
        })?;
    let mut out = Vec::new();
    r.read_to_end(&mut out)
        .map_err(|e| UnwrapError::Malformed(e.to_string()))?;
    Ok(out)
}
